"""Unit test of the model: it must catch an NBL status written at the wrong offset.

    python test_model.py

An NBL chain in a plain byte buffer is completed the way NdisMSendNetBufferListsComplete sees it:
with the status at NET_BUFFER_LIST.Status (0x8C on x64) it passes; with the same status written
4 bytes early (at Flags, 0x88, where a layout that forgets the 16-byte alignment of the reserved
arrays would put it) the model reports the wrong status.
"""
import os
import struct
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import model as M  # noqa: E402
from layouts import NET_BUFFER_LIST as NBL  # noqa: E402

BASE = 0x1000


def memory(buf):
    def read(addr, n):
        return bytes(buf[addr - BASE:addr - BASE + n])

    def write(addr, data):
        buf[addr - BASE:addr - BASE + len(data)] = data
    return M.Memory(read, write)


def chain(status_offset, status):
    buf = bytearray(0x1000)
    mem = memory(buf)
    first, second = BASE + 0x100, BASE + 0x400
    mem.w64(first + NBL.off("Next"), second)
    for nbl in (first, second):
        mem.write(nbl + NBL.off("Status"), struct.pack("<I", 0xDEADBEEF))   # NDIS's stale value
        mem.write(nbl + status_offset, struct.pack("<I", status))
    return mem, first, {first, second}


def main():
    assert NBL.off("Status") == 0x8C
    mem, first, flight = chain(0x8C, M.NDIS_STATUS_PAUSED)
    done = M.check_completed_chain(mem, first, flight, lambda n: M.NDIS_STATUS_PAUSED)
    assert len(done) == 2
    mem, first, flight = chain(0x88, M.NDIS_STATUS_PAUSED)
    try:
        M.check_completed_chain(mem, first, flight, lambda n: M.NDIS_STATUS_PAUSED)
    except M.ModelError as e:
        assert "0xdeadbeef" in str(e), e
    else:
        raise AssertionError("the model accepted an NBL status written at offset 0x88")
    mem, first, flight = chain(0x8C, 0)
    try:
        M.check_completed_chain(mem, first, flight - {first}, lambda n: 0)
    except M.ModelError as e:
        assert "not in flight" in str(e), e
    else:
        raise AssertionError("the model accepted an NBL completed twice")
    print("test_model: a wrong NBL status offset and a double completion are caught")


if __name__ == "__main__":
    main()
