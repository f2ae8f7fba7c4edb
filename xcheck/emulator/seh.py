"""x64 structured exception dispatch facts read from the image (.pdata/.xdata), for the model.

RUNTIME_FUNCTION {BeginAddress, EndAddress, UnwindData}; UNWIND_INFO {Version:3 Flags:5,
SizeOfProlog, CountOfCodes, FrameRegister:4 FrameOffset:4, UnwindCode[CountOfCodes rounded up to
even], ExceptionHandler RVA, handler data}; __C_specific_handler's data is SCOPE_TABLE {Count,
{BeginAddress, EndAddress, HandlerAddress, JumpTarget}[Count]} (HandlerAddress 1 is
EXCEPTION_EXECUTE_HANDLER). Facts from the x64 exception handling documentation and ntdef.h/winnt.h.
"""
import struct

UNW_FLAG_EHANDLER = 1


class SehTable:
    def __init__(self, pe):
        self.pe = pe
        self.functions = [(e.struct.BeginAddress, e.struct.EndAddress, e.struct.UnwindData)
                          for e in getattr(pe, "DIRECTORY_ENTRY_EXCEPTION", [])]
        self.iat = {}
        for entry in pe.DIRECTORY_ENTRY_IMPORT:
            for imp in entry.imports:
                self.iat[imp.address - pe.OPTIONAL_HEADER.ImageBase] = imp.name.decode()

    def read(self, rva, n):
        return self.pe.get_data(rva, n)

    def imported_name_of_thunk(self, rva):
        code = self.read(rva, 6)
        if code[:2] != b"\xFF\x25":
            return None
        slot = rva + 6 + struct.unpack("<i", code[2:6])[0]
        return self.iat.get(slot)

    def handler_for(self, rva):
        """The JumpTarget RVA of the __try scope (EXCEPTION_EXECUTE_HANDLER) covering `rva`."""
        for begin, end, unwind in self.functions:
            if not begin <= rva < end:
                continue
            header = self.read(unwind, 4)
            flags, codes = header[0] >> 3, header[2]
            if not flags & UNW_FLAG_EHANDLER:
                return None
            at = unwind + 4 + 2 * ((codes + 1) & ~1)
            handler = struct.unpack("<I", self.read(at, 4))[0]
            if self.imported_name_of_thunk(handler) != "__C_specific_handler":
                return None
            count = struct.unpack("<I", self.read(at + 4, 4))[0]
            for i in range(count):
                b, e, h, target = struct.unpack("<IIII", self.read(at + 8 + 16 * i, 16))
                if b <= rva < e and h == 1 and target:
                    return target
            return None
        return None
