"""An independent model of the kernel, NDIS and KMDF around ringtun.sys, for the emulator run.

Every import of the image has a handler here (scripts/emulate-sys installs them on speakeasy); a
call the model does not know stops the run. Handlers check what the real component would check
or what the DDI reference requires of the caller (structure types, revisions and sizes, IRQL,
pairing of lock/unlock, map/unmap, reference/dereference, each NBL completed once), keep state,
and record what the driver did so that the scenario (run.py) can assert it.

Structure layouts come from layouts.py (header facts), never from the driver's declarations.
"""
import struct

import unicorn.x86_const as X86

from layouts import (
    DRIVER_OBJECT_DRIVER_UNLOAD, DRIVER_OBJECT_MAJOR_FUNCTION, IRP, KEVENT,
    MDL, NDIS_LINK_STATE, NDIS_MINIPORT_ADAPTER_GENERAL_ATTRIBUTES as GENERAL,
    NDIS_MINIPORT_ADAPTER_REGISTRATION_ATTRIBUTES as REGISTRATION, NDIS_MINIPORT_DRIVER_CHARACTERISTICS as CHARS,
    NDIS_PM_CAPABILITIES, NDIS_STATUS_INDICATION, NET_BUFFER, NET_BUFFER_LIST as NBL, NET_BUFFER_LIST_FRAME_TYPE,
    NET_BUFFER_LIST_POOL_PARAMETERS, SECURITY_SUBJECT_CONTEXT, WDF_DRIVER_CONFIG)

PASSIVE_LEVEL, APC_LEVEL, DISPATCH_LEVEL = 0, 1, 2
STATUS_SUCCESS = 0
STATUS_ACCESS_VIOLATION = 0xC0000005
STATUS_INVALID_DEVICE_REQUEST = 0xC0000010
NDIS_STATUS_SUCCESS = 0
NDIS_STATUS_PAUSED = 0xC023002A            # STATUS_NDIS_PAUSED (ntstatus.h)
NDIS_STATUS_LINK_STATE = 0x40010017       # ndis.h
NDIS_NBL_FLAGS_IS_IPV4, NDIS_NBL_FLAGS_IS_IPV6 = 0x200, 0x400
NDIS_OBJECT_TYPE_DEFAULT = 0x80           # ntddndis.h
NDIS_OBJECT_TYPE_MINIPORT_DRIVER_CHARACTERISTICS = 0x8A
NDIS_OBJECT_TYPE_STATUS_INDICATION = 0x98
NDIS_OBJECT_TYPE_MINIPORT_ADAPTER_REGISTRATION_ATTRIBUTES = 0x9E
NDIS_OBJECT_TYPE_MINIPORT_ADAPTER_GENERAL_ATTRIBUTES = 0x9F
NDIS_SEND_COMPLETE_FLAGS_DISPATCH_LEVEL = 1
NDIS_RECEIVE_FLAGS_DISPATCH_LEVEL = 1
NdisMediumIP = 19                         # NDIS_MEDIUM (ntddndis.h)
MediaConnectStateConnected, MediaConnectStateDisconnected = 1, 2
POOL_FLAG_NON_PAGED = 0x40                # wdm.h
MDL_MAPPED_TO_SYSTEM_VA, MDL_PAGES_LOCKED, MDL_PARTIAL = 0x1, 0x2, 0x10
OBJ_KERNEL_HANDLE = 0x200
KernelMode, UserMode = 0, 1
IRP_MJ_CREATE, IRP_MJ_CLOSE, IRP_MJ_DEVICE_CONTROL, IRP_MJ_PNP = 0x00, 0x02, 0x0E, 0x1B
IRP_MJ_MAXIMUM_FUNCTION = 0x1B
WdfDriverInitNonPnpDriver, WdfDriverInitNoDispatchOverride = 1, 2   # wdfdriver.h
WDF_DRIVER_CREATE, WDF_DRIVER_MINIPORT_UNLOAD = 116, 201   # wdffuncenum.h (KMDF 1.33)
# WDF_DRIVER_GLOBALS (wdfglobals.h), x64: Driver, DriverFlags, DriverTag, DriverName[32],
# DisplaceDriverUnload.
WDF_GLOBALS_DRIVER, WDF_GLOBALS_DRIVER_FLAGS, WDF_GLOBALS_DISPLACE_DRIVER_UNLOAD = 0x0, 0x8, 0x30
WDF_DRIVER_GLOBALS_SIZE = 0x38
# Bug checks (bugcodes.h; the Rust panic code is wdk-panic's "RPNC").
RUST_PANIC_BUGCHECK = 0x52504E43
KMDF_FUNCTION_COUNT = 444
PAGE = 0x1000
STATUS_ACCESS_DENIED = 0xC0000022         # ntstatus.h
# Access rights (wdm.h): the file-object generic mapping the I/O manager hands out
# (IoGetFileObjectGenericMapping) maps GENERIC_READ/WRITE/EXECUTE/ALL to these.
READ_CONTROL, WRITE_DAC, SYNCHRONIZE = 0x00020000, 0x00040000, 0x00100000
STANDARD_RIGHTS_REQUIRED = 0x000F0000
FILE_READ_DATA, FILE_WRITE_DATA, FILE_APPEND_DATA, FILE_READ_EA = 0x1, 0x2, 0x4, 0x8
FILE_WRITE_EA, FILE_EXECUTE, FILE_READ_ATTRIBUTES, FILE_WRITE_ATTRIBUTES = 0x10, 0x20, 0x80, 0x100
FILE_GENERIC_READ = READ_CONTROL | FILE_READ_DATA | FILE_READ_ATTRIBUTES | FILE_READ_EA | SYNCHRONIZE
FILE_GENERIC_WRITE = (READ_CONTROL | FILE_WRITE_DATA | FILE_WRITE_ATTRIBUTES | FILE_WRITE_EA | FILE_APPEND_DATA
                      | SYNCHRONIZE)
FILE_GENERIC_EXECUTE = READ_CONTROL | FILE_READ_ATTRIBUTES | FILE_EXECUTE | SYNCHRONIZE
FILE_ALL_ACCESS = STANDARD_RIGHTS_REQUIRED | SYNCHRONIZE | 0x1FF
GENERIC_READ, GENERIC_WRITE, GENERIC_EXECUTE, GENERIC_ALL = 0x80000000, 0x40000000, 0x20000000, 0x10000000
MAXIMUM_ALLOWED, ACCESS_SYSTEM_SECURITY = 0x02000000, 0x01000000
# Security descriptors (wdm.h / ntifs.h): SECURITY_DESCRIPTOR_RELATIVE is Revision (1), Sbz1,
# Control (USHORT), then Owner, Group, Sacl, Dacl as ULONG offsets from the descriptor's start.
SECURITY_DESCRIPTOR_REVISION = 1
SE_DACL_PRESENT, SE_SACL_PRESENT, SE_DACL_PROTECTED, SE_SELF_RELATIVE = 0x0004, 0x0010, 0x1000, 0x8000
ACL_REVISION, ACL_REVISION_DS = 2, 4
ACCESS_ALLOWED_ACE_TYPE, ACCESS_DENIED_ACE_TYPE, SYSTEM_MANDATORY_LABEL_ACE_TYPE = 0x00, 0x01, 0x11
INHERIT_ONLY_ACE = 0x08
SYSTEM_MANDATORY_LABEL_NO_WRITE_UP, NO_READ_UP, NO_EXECUTE_UP = 0x1, 0x2, 0x4
SECURITY_MANDATORY_MEDIUM_RID, SECURITY_MANDATORY_HIGH_RID = 0x2000, 0x3000
SecurityImpersonation = 2                 # SECURITY_IMPERSONATION_LEVEL
ThreadPriority = 2                        # _THREADINFOCLASS (ntddk.h)
NT_CURRENT_THREAD = 0xFFFFFFFFFFFFFFFE    # NtCurrentThread(), (HANDLE)-2 (wdm.h)
LOW_PRIORITY, LOW_REALTIME_PRIORITY = 0, 16


class ModelError(Exception):
    """The driver did something the real kernel, NDIS or KMDF would refuse or that breaks a DDI rule."""


def check(condition, message):
    if not condition:
        raise ModelError(message)


def sid_text(sid):
    """A SID tuple (revision, authority, sub-authorities...) as S-R-A-S..."""
    return "S-" + "-".join(str(x) for x in sid)


SID_EVERYONE = (1, 1, 0)                  # S-1-1-0
SID_SYSTEM = (1, 5, 18)                   # S-1-5-18
SID_ADMINISTRATORS = (1, 5, 32, 544)      # S-1-5-32-544
SID_USERS = (1, 5, 32, 545)               # S-1-5-32-545
SID_AUTHENTICATED = (1, 5, 11)            # S-1-5-11
SID_USER = (1, 5, 21, 1001, 2002, 3003, 1001)


class Token:
    """The caller's token as the access check sees it: enabled group SIDs, deny-only SIDs (a
    filtered UAC token's Administrators) and the integrity level (its mandatory label RID)."""

    def __init__(self, sids, deny_only=(), integrity=SECURITY_MANDATORY_HIGH_RID):
        self.sids, self.deny_only, self.integrity = set(sids), set(deny_only), integrity

    @staticmethod
    def elevated_admin():
        return Token({SID_USER, SID_EVERYONE, SID_AUTHENTICATED, SID_USERS, SID_ADMINISTRATORS})

    @staticmethod
    def standard_user():
        return Token({SID_USER, SID_EVERYONE, SID_AUTHENTICATED, SID_USERS},
                     integrity=SECURITY_MANDATORY_MEDIUM_RID)

    @staticmethod
    def filtered_admin():
        """An administrator's UAC-filtered token: Administrators deny-only, medium integrity."""
        return Token({SID_USER, SID_EVERYONE, SID_AUTHENTICATED, SID_USERS}, {SID_ADMINISTRATORS},
                     SECURITY_MANDATORY_MEDIUM_RID)

    @staticmethod
    def medium_admin():
        """Administrators enabled but at medium integrity: only the mandatory label refuses it."""
        return Token({SID_USER, SID_EVERYONE, SID_AUTHENTICATED, SID_USERS, SID_ADMINISTRATORS},
                     integrity=SECURITY_MANDATORY_MEDIUM_RID)


def read_sid(read, at, end):
    """A SID (ntifs.h: Revision, SubAuthorityCount, IdentifierAuthority[6] big-endian, then
    SubAuthorityCount ULONGs) at `at`, which must end by `end`; returns (sid tuple, length)."""
    check(at + 8 <= end, f"SID at {at:#x} runs past its container")
    revision, count = read(at, 2)
    check(revision == 1, f"SID revision {revision}")
    check(count <= 15, f"SID with {count} sub-authorities (SID_MAX_SUB_AUTHORITIES is 15)")
    length = 8 + 4 * count
    check(at + length <= end, f"SID at {at:#x} runs past its container")
    authority = int.from_bytes(read(at + 2, 6), "big")
    subs = struct.unpack(f"<{count}I", read(at + 8, 4 * count))
    return (revision, authority) + subs, length


def read_acl(read, at, end):
    """An ACL (ACL_REVISION header: AclRevision, Sbz1, AclSize, AceCount, Sbz2) and its ACEs, as
    [(type, flags, mask, sid)]."""
    check(at % 4 == 0, f"ACL at offset {at:#x} is not ULONG aligned")
    check(at + 8 <= end, f"ACL header at {at:#x} past the descriptor")
    revision, _, size, count, _ = struct.unpack("<BBHHH", read(at, 8))
    check(revision in (ACL_REVISION, ACL_REVISION_DS), f"ACL revision {revision}")
    check(size >= 8 and size % 4 == 0 and at + size <= end, f"ACL size {size} at {at:#x}")
    aces, ace = [], at + 8
    for _ in range(count):
        check(ace + 8 <= at + size, "ACE header past the end of its ACL")
        kind, flags, ace_size, mask = struct.unpack("<BBHI", read(ace, 8))
        check(ace_size >= 8 and ace_size % 4 == 0 and ace + ace_size <= at + size, f"ACE size {ace_size}")
        check(kind in (ACCESS_ALLOWED_ACE_TYPE, ACCESS_DENIED_ACE_TYPE, SYSTEM_MANDATORY_LABEL_ACE_TYPE),
              f"ACE type {kind:#x} (not one this model evaluates)")
        sid, sid_len = read_sid(read, ace + 8, ace + ace_size)
        check(8 + sid_len == ace_size, f"ACE size {ace_size} but its SID takes {sid_len} bytes")
        aces.append((kind, flags, mask, sid))
        ace += ace_size
    return aces


def parse_self_relative(read, limit=0x1000):
    """Parse a self-relative security descriptor readable as read(offset, n) for offsets < limit.
    Returns dict(control, owner, group, sacl, dacl); sacl/dacl are ACE lists or None."""
    revision, sbz1, control, owner, group, sacl, dacl = struct.unpack("<BBHIIII", read(0, 20))
    check(revision == SECURITY_DESCRIPTOR_REVISION, f"security descriptor revision {revision}")
    check(sbz1 == 0, f"security descriptor Sbz1 {sbz1:#x}")
    check(control & SE_SELF_RELATIVE, f"security descriptor control {control:#06x} without SE_SELF_RELATIVE")
    for name, off in (("Owner", owner), ("Group", group), ("Sacl", sacl), ("Dacl", dacl)):
        check(off == 0 or (20 <= off < limit and off % 4 == 0), f"{name} offset {off:#x}")
    check(owner != 0, "a descriptor without an owner")
    out = {"control": control, "owner": read_sid(read, owner, limit)[0],
           "group": read_sid(read, group, limit)[0] if group else None, "sacl": None, "dacl": None}
    if control & SE_SACL_PRESENT and sacl:
        out["sacl"] = read_acl(read, sacl, limit)
    else:
        check(sacl == 0, "a SACL offset without SE_SACL_PRESENT")
    if control & SE_DACL_PRESENT and dacl:
        out["dacl"] = read_acl(read, dacl, limit)
    else:
        check(dacl == 0, "a DACL offset without SE_DACL_PRESENT")
    return out


def access_check(sd, token, desired, mapping, previously=0):
    """The Windows access check for a user-mode caller, reduced to the ACE kinds parsed above:
    generic rights mapped; the mandatory label first (a caller below the label's integrity loses
    the mapped generic rights the label's NO_*_UP policy names; no label means medium +
    NO_WRITE_UP); then the DACL in order (allow ACEs match enabled SIDs, deny ACEs also
    deny-only SIDs; inherit-only ACEs skipped; no DACL grants everything, an empty one nothing);
    the owner is implicitly granted READ_CONTROL | WRITE_DAC. Returns (granted mask, status)."""
    read_map, write_map, execute_map, all_map = mapping

    def map_generic(mask):
        for bit, rights in ((GENERIC_READ, read_map), (GENERIC_WRITE, write_map), (GENERIC_EXECUTE, execute_map),
                            (GENERIC_ALL, all_map)):
            if mask & bit:
                mask = (mask & ~bit) | rights
        return mask

    desired = map_generic(desired)
    check(not desired & (MAXIMUM_ALLOWED | ACCESS_SYSTEM_SECURITY),
          "MAXIMUM_ALLOWED / ACCESS_SYSTEM_SECURITY: not modelled")
    remaining = desired & ~previously
    label = next(((mask, sid) for kind, flags, mask, sid in sd["sacl"] or []
                  if kind == SYSTEM_MANDATORY_LABEL_ACE_TYPE and not flags & INHERIT_ONLY_ACE), None)
    if label is None:
        label_rid, policy = SECURITY_MANDATORY_MEDIUM_RID, SYSTEM_MANDATORY_LABEL_NO_WRITE_UP
    else:
        policy, sid = label
        check(sid[:2] == (1, 16) and len(sid) == 3, f"mandatory label SID {sid_text(sid)}")
        label_rid = sid[2]
    if token.integrity < label_rid:
        refused = ((write_map if policy & SYSTEM_MANDATORY_LABEL_NO_WRITE_UP else 0)
                   | (read_map if policy & NO_READ_UP else 0) | (execute_map if policy & NO_EXECUTE_UP else 0))
        if remaining & refused:
            return 0, STATUS_ACCESS_DENIED
    if sd["owner"] in token.sids:
        remaining &= ~(READ_CONTROL | WRITE_DAC)
    if sd["dacl"] is None:
        return desired | previously, STATUS_SUCCESS
    for kind, flags, mask, sid in sd["dacl"]:
        if not remaining:
            break
        if flags & INHERIT_ONLY_ACE:
            continue
        mask = map_generic(mask)
        if kind == ACCESS_ALLOWED_ACE_TYPE and sid in token.sids:
            remaining &= ~mask
        elif kind == ACCESS_DENIED_ACE_TYPE and (sid in token.sids or sid in token.deny_only) and remaining & mask:
            return 0, STATUS_ACCESS_DENIED
    if remaining:
        return 0, STATUS_ACCESS_DENIED
    return desired | previously, STATUS_SUCCESS


class Memory:
    """Reads and writes of emulated memory (speakeasy), or of a bytearray in unit tests."""

    def __init__(self, read, write):
        self.read, self.write = read, write

    def u8(self, a):
        return self.read(a, 1)[0]

    def u16(self, a):
        return struct.unpack("<H", self.read(a, 2))[0]

    def u32(self, a):
        return struct.unpack("<I", self.read(a, 4))[0]

    def u64(self, a):
        return struct.unpack("<Q", self.read(a, 8))[0]

    def w64(self, a, v):
        self.write(a, struct.pack("<Q", v & 0xFFFFFFFFFFFFFFFF))

    def field(self, base, cls, name):
        f = getattr(cls, name)
        raw = self.read(base + f.offset, f.size)
        return int.from_bytes(raw, "little")

    def put(self, base, cls, name, value):
        f = getattr(cls, name)
        self.write(base + f.offset, (value & ((1 << (8 * f.size)) - 1)).to_bytes(f.size, "little"))

    def header(self, base):
        return self.u8(base), self.u8(base + 1), self.u16(base + 2)


def check_completed_chain(mem, chain, in_flight, expected_status):
    """NdisMSendNetBufferListsComplete's view of a chain: every NBL one NDIS handed the miniport
    and not yet completed, each with the NDIS status at NET_BUFFER_LIST.Status (offset 0x8C on
    x64). Returns the NBL addresses in order. `expected_status` maps an NBL to its status."""
    seen = []
    nbl = chain
    while nbl:
        check(nbl in in_flight, f"NBL {nbl:#x} completed but not in flight (completed twice, or not ours)")
        check(nbl not in seen, f"NBL {nbl:#x} twice in the completed chain")
        status = mem.field(nbl, NBL, "Status")
        want = expected_status(nbl)
        check(status == want, f"NBL {nbl:#x} completed with status {status:#x}, expected {want:#x}")
        seen.append(nbl)
        nbl = mem.field(nbl, NBL, "Next")
    return seen


def bugcheck_report(code, params, read):
    """What KeBugCheckEx(code, *params) means, as one line; `read(addr, n)` reads memory. A Rust
    panic (code "RPNC") carries its location: file name address and length, line, column."""
    text = f"bug check {code:#010x} ({', '.join(f'{p:#x}' for p in params)})"
    if code == RUST_PANIC_BUGCHECK:
        file_ptr, file_len, line, column = params
        file = bytes(read(file_ptr, min(file_len, 512))).decode("utf-8", "replace") if file_ptr else "?"
        text = f"Rust panic at {file}:{line}:{column} ({text})"
    return text


class Thread:
    def __init__(self, handle, start, context):
        self.handle, self.start, self.context = handle, start, context
        self.state = "new"          # new, parked, running, exited
        self.saved = None           # registers while parked
        self.waiting_on = []


class Model:
    def __init__(self, se, image_base, image_size, trace=False):
        self.se = se
        self.mem = Memory(se.mem_read, se.mem_write)
        self.image = (image_base, image_base + image_size)
        self.trace = trace
        self.calls = []
        self.irql = PASSIVE_LEVEL
        self.locks_held = set()
        self.pool = {}
        self.requestor_mode = UserMode
        self.subject_ctx = 0
        self.events = {}            # KEVENT address -> kind ("driver" or "client")
        self.set_events = []        # KeSetEvent targets in order
        self.handles = {}           # client handle -> event object address (client process table)
        self.refs = {}              # object -> references the driver holds
        self.mdls = {}              # MDL -> dict
        self.user_ranges = []       # (start, end, system_alias) of the client's mapped ring pages
        self.threads = {}
        self.current_thread = None
        self.waiter = None
        self.processes = {"client": 0x1000A0, "system": 0x100040}
        self.pids = {"client": 0x1F4, "system": 4}
        self.process = "client"
        self.requestor_32bit = False
        self.token = Token.elevated_admin()     # the caller's effective token
        self.tokens = {}                        # PACCESS_TOKEN value -> Token
        self.subject_state = None
        self.access_checks = []                 # (desired, access mode, granted, status)
        self.file_generic_mapping = 0
        self.thread_priorities = {}             # Thread -> KPRIORITY it set for itself
        self.delays = 0
        self.event_type = None
        self.kmdf_bound = False
        self.wdf_globals = 0
        self.wdf_driver = 0
        self.chars = None
        self.miniport_handle = 0x6D696E69
        self.miniport_driver_handle = 0
        self.adapter_context = 0
        self.pools = {}
        self.nbls = {}              # NBLs the model allocated for the driver (indications)
        self.send_in_flight = set()
        self.send_expected = {}
        self.completions = []
        self.indications = []
        self.link_states = []
        self.completed_irps = {}
        self.ndis_forwarded = []
        self.process_notify = None
        self.time_100ns = 0
        self.wdf_unbound = False
        self.driver_entry_done = False   # set by the scenario once DriverEntry has succeeded
        self.bugcheck = None
        self.debug_breaks = []
        self.deregistered = False
        self.exit_stub = 0
        self.unload_stub = 0
        self.pnp_events = []

    # ---- plumbing ----
    def reg(self, name):
        return self.uc.reg_read(getattr(X86, "UC_X86_REG_" + name.upper()))

    def set_reg(self, name, value):
        self.uc.reg_write(getattr(X86, "UC_X86_REG_" + name.upper()), value)

    @property
    def uc(self):
        return self.se.emu.emu_eng.emu

    def args(self, n):
        regs = [self.reg(r) for r in ("rcx", "rdx", "r8", "r9")]
        sp = self.reg("rsp")
        stack = [self.mem.u64(sp + 0x28 + 8 * i) for i in range(max(0, n - 4))]
        return (regs + stack)[:n]

    def alloc(self, size, tag="model"):
        addr = self.se.mem_alloc(max(size, 16), tag="model." + tag)
        self.se.mem_write(addr, b"\0" * size)
        return addr

    def require_irql(self, name, maximum):
        check(self.irql <= maximum, f"{name} at IRQL {self.irql} (allowed up to {maximum})")

    def in_image(self, addr):
        return self.image[0] <= addr < self.image[1]

    # The model schedules the driver's one system thread cooperatively: a context is every
    # register the x64 calling convention makes callee-saved or that a switch changes.
    REGS = ["rax", "rbx", "rcx", "rdx", "rsi", "rdi", "rbp", "rsp", "r8", "r9", "r10", "r11", "r12", "r13",
            "r14", "r15", "rip", "eflags"] + [f"xmm{i}" for i in range(16)]

    def save_context(self):
        return {r: self.reg(r) for r in self.REGS}

    def load_context(self, ctx):
        for r, v in ctx.items():
            self.set_reg(r, v)

    # ======== ntoskrnl.exe ========
    def h_DbgPrint(self):
        fmt, arg = self.args(2)
        text = self.se.read_mem_string(arg, 1) if arg else ""
        self.debug_output.append(text)
        return 0

    def h_ExAllocatePool2(self):
        flags, size, tag = self.args(3)
        self.require_irql("ExAllocatePool2", DISPATCH_LEVEL)
        check(flags & POOL_FLAG_NON_PAGED, f"ExAllocatePool2 flags {flags:#x}: not non-paged")
        addr = self.alloc(size, "pool")
        self.pool[addr] = (size, tag)
        return addr

    def h_ExFreePool(self):
        (addr,) = self.args(1)
        self.require_irql("ExFreePool", DISPATCH_LEVEL)
        check(addr in self.pool, f"ExFreePool({addr:#x}): not a live pool allocation")
        del self.pool[addr]

    def h_KeAcquireSpinLockRaiseToDpc(self):
        (lock,) = self.args(1)
        self.require_irql("KeAcquireSpinLockRaiseToDpc", DISPATCH_LEVEL)
        check(lock not in self.locks_held and self.mem.u64(lock) == 0, f"spin lock {lock:#x} acquired twice")
        self.locks_held.add(lock)
        self.mem.w64(lock, 1)
        old, self.irql = self.irql, DISPATCH_LEVEL
        return old

    def h_KeReleaseSpinLock(self):
        lock, old = self.args(2)
        check(lock in self.locks_held, f"KeReleaseSpinLock({lock:#x}): not held")
        check(self.irql == DISPATCH_LEVEL and (old & 0xFF) <= DISPATCH_LEVEL, "KeReleaseSpinLock IRQL")
        self.locks_held.discard(lock)
        self.mem.w64(lock, 0)
        self.irql = old & 0xFF

    def h_KeInitializeEvent(self):
        event, kind, state = self.args(3)
        self.mem.write(event, bytes([kind & 0xFF, 0, 6, 0]) + struct.pack("<i", state & 0xFF) + b"\0" * 16)
        self.events[event] = "driver"

    def h_KeSetEvent(self):
        event, _increment, wait = self.args(3)
        self.require_irql("KeSetEvent", DISPATCH_LEVEL)
        check(event in self.events, f"KeSetEvent({event:#x}): not an initialized or referenced event")
        check((wait & 0xFF) == 0, "KeSetEvent with Wait TRUE")
        self.set_events.append(event)
        prev = self.mem.field(event, KEVENT, "SignalState")
        self.mem.put(event, KEVENT, "SignalState", 1)
        return prev

    def h_KeClearEvent(self):
        (event,) = self.args(1)
        self.require_irql("KeClearEvent", DISPATCH_LEVEL)
        check(event in self.events, f"KeClearEvent({event:#x}): unknown event")
        self.mem.put(event, KEVENT, "SignalState", 0)

    def h_KeQueryInterruptTimePrecise(self):
        (qpc,) = self.args(1)
        self.time_100ns += 100          # 10 us per look: spin budgets end quickly
        if qpc:
            self.mem.w64(qpc, self.time_100ns)
        return self.time_100ns

    def h_KeWaitForMultipleObjects(self):
        count, objects, wait_type, _reason, mode, alertable, timeout, wait_blocks = self.args(8)
        count, wait_type = count & 0xFFFFFFFF, wait_type & 0xFFFFFFFF     # ULONG, WAIT_TYPE
        self.require_irql("KeWaitForMultipleObjects", APC_LEVEL if timeout == 0 else DISPATCH_LEVEL)
        check(1 <= count <= 3 or wait_blocks, f"KeWaitForMultipleObjects: {count} objects without wait blocks")
        check(wait_type == 1, "KeWaitForMultipleObjects: expected WaitAny")
        check(not self.locks_held, "waiting while holding a spin lock")
        ptrs = [self.mem.u64(objects + 8 * i) for i in range(count)]
        for p in ptrs:
            check(p in self.events, f"waiting on {p:#x}, not an event")
        for i, p in enumerate(ptrs):
            if self.mem.field(p, KEVENT, "SignalState"):
                if self.mem.u8(p) == 1:      # SynchronizationEvent: auto-reset
                    self.mem.put(p, KEVENT, "SignalState", 0)
                return i
        thread = self.current_thread
        check(thread is not None, "a wait that can never be satisfied outside the system thread")
        thread.waiting_on = ptrs
        return self.park(thread)

    def h_ObReferenceObjectByHandle(self):
        handle, access, obj_type, mode, out, info = self.args(6)
        self.require_irql("ObReferenceObjectByHandle", PASSIVE_LEVEL)
        check(obj_type == self.event_type_object, f"ObReferenceObjectByHandle type {obj_type:#x}, "
              f"expected *ExEventObjectType ({self.event_type_object:#x})")
        check(mode & 0xFF == UserMode, "a client's handle must be looked up with UserMode access checks")
        check(self.process == "client", "handle looked up outside the client's process")
        obj = self.handles.get(handle)
        if obj is None:
            return 0xC0000008         # STATUS_INVALID_HANDLE
        check(access & 0x0002, "event referenced without EVENT_MODIFY_STATE")
        self.refs[obj] = self.refs.get(obj, 0) + 1
        self.mem.w64(out, obj)
        return STATUS_SUCCESS

    def h_ObfDereferenceObject(self):
        (obj,) = self.args(1)
        check(self.refs.get(obj, 0) > 0, f"ObfDereferenceObject({obj:#x}) without a reference")
        self.refs[obj] -= 1
        return self.refs[obj]

    # ---- MDLs and ring pages ----
    def translate(self, va, length):
        for start, end, alias in self.user_ranges:
            if start <= va and va + length <= end:
                return alias + (va - start)
        return None

    def h_IoAllocateMdl(self):
        va, length, secondary, quota, irp = self.args(5)
        self.require_irql("IoAllocateMdl", DISPATCH_LEVEL)
        check(secondary & 0xFF == 0 and irp == 0, "IoAllocateMdl: no IRP chaining expected")
        pages = ((va & 0xFFF) + length + 0xFFF) // PAGE
        mdl = self.alloc(MDL_SIZE + 8 * pages, "mdl")
        self.mem.put(mdl, MDL, "Size", MDL_SIZE + 8 * pages)
        self.mem.put(mdl, MDL, "StartVa", va & ~0xFFF)
        self.mem.put(mdl, MDL, "ByteOffset", va & 0xFFF)
        self.mem.put(mdl, MDL, "ByteCount", length)
        self.mdls[mdl] = {"va": va, "len": length, "locked": False, "mapped": None, "parent": None}
        return mdl

    def mdl_flags(self, mdl):
        return self.mem.field(mdl, MDL, "MdlFlags")

    def h_MmProbeAndLockPages(self):
        mdl, mode, operation = self.args(3)
        # KPROCESSOR_MODE is a CCHAR and LOCK_OPERATION an enum: only the low 8 / 32 bits of their
        # registers are defined by the x64 calling convention.
        mode, operation = mode & 0xFF, operation & 0xFFFFFFFF
        self.require_irql("MmProbeAndLockPages", APC_LEVEL)       # pageable (user) memory
        info = self.mdls.get(mdl)
        check(info is not None and not info["locked"], "MmProbeAndLockPages on an unknown or locked MDL")
        check(mode == UserMode and operation == 1, "ring pages must be probed for UserMode IoWriteAccess")
        if self.process != "client" or self.translate(info["va"], info["len"]) is None:
            self.raise_in_caller(STATUS_ACCESS_VIOLATION)
            return None
        info["locked"] = True
        self.mem.put(mdl, MDL, "MdlFlags", self.mdl_flags(mdl) | MDL_PAGES_LOCKED)
        return None

    def h_MmMapLockedPagesSpecifyCache(self):
        mdl, mode, cache, address, bugcheck, priority = self.args(6)
        self.require_irql("MmMapLockedPagesSpecifyCache", DISPATCH_LEVEL)
        info = self.mdls.get(mdl)
        check(info is not None and info["locked"], "mapping an MDL that is not locked")
        check(mode & 0xFF == KernelMode and cache & 0xFFFFFFFF == 1 and address == 0 and bugcheck & 0xFF == 0,
              "MmMapLockedPagesSpecifyCache(KernelMode, MmCached, NULL, FALSE) expected")
        check(priority & 0x40000000, "system mapping of client pages without MdlMappingNoExecute")
        system = self.translate(info["va"], info["len"])
        info["mapped"] = system
        self.mem.put(mdl, MDL, "MappedSystemVa", system)
        self.mem.put(mdl, MDL, "MdlFlags", self.mdl_flags(mdl) | MDL_MAPPED_TO_SYSTEM_VA)
        return system

    def h_MmUnlockPages(self):
        (mdl,) = self.args(1)
        self.require_irql("MmUnlockPages", DISPATCH_LEVEL)
        info = self.mdls.get(mdl)
        check(info is not None and info["locked"], "MmUnlockPages on an MDL that is not locked")
        children = [m for m, i in self.mdls.items() if i["parent"] == mdl]
        check(not children, "pages unlocked while partial MDLs over them are still allocated")
        info["locked"] = False
        info["mapped"] = None
        self.mem.put(mdl, MDL, "MdlFlags", self.mdl_flags(mdl) & ~(MDL_PAGES_LOCKED | MDL_MAPPED_TO_SYSTEM_VA))

    def h_IoBuildPartialMdl(self):
        source, target, va, length = self.args(4)
        src, tgt = self.mdls.get(source), self.mdls.get(target)
        check(src is not None and tgt is not None and src["locked"], "IoBuildPartialMdl: bad MDLs")
        check(src["va"] <= va and va + length <= src["va"] + src["len"], "partial MDL outside its source")
        tgt.update(parent=source, va=va, len=length)
        self.mem.put(target, MDL, "MdlFlags", self.mdl_flags(target) | MDL_PARTIAL)

    def h_IoFreeMdl(self):
        (mdl,) = self.args(1)
        self.require_irql("IoFreeMdl", DISPATCH_LEVEL)
        info = self.mdls.get(mdl)
        check(info is not None, f"IoFreeMdl({mdl:#x}): unknown MDL")
        check(not info["locked"], "IoFreeMdl on locked pages (MmUnlockPages first)")
        for n in self.nbls.values():
            check(n["mdl"] != mdl or n["freed"], "IoFreeMdl of an MDL an NBL still uses")
        del self.mdls[mdl]

    # ---- IRPs, processes, security ----
    def h_IofCompleteRequest(self):
        irp, _boost = self.args(2)
        self.require_irql("IoCompleteRequest", DISPATCH_LEVEL)
        check(irp not in self.completed_irps, f"IRP {irp:#x} completed twice")
        self.completed_irps[irp] = (self.mem.field(irp, IRP, "Status") & 0xFFFFFFFF,
                                    self.mem.field(irp, IRP, "Information"))

    def h_IoGetCurrentProcess(self):
        return self.processes[self.process]

    def h_IoGetRequestorProcess(self):
        (irp,) = self.args(1)
        return self.processes["client"]

    def h_IoIs32bitProcess(self):
        self.args(1)
        return 1 if self.requestor_32bit else 0

    def h_PsGetCurrentProcessId(self):
        return self.pids[self.process]

    def h_PsSetCreateProcessNotifyRoutine(self):
        routine, remove = self.args(2)
        self.require_irql("PsSetCreateProcessNotifyRoutine", PASSIVE_LEVEL)
        check(self.in_image(routine), "process notify routine outside the image")
        if remove & 0xFF:
            check(self.process_notify == routine, "removing a routine that is not registered")
            self.process_notify = None
        else:
            check(self.process_notify is None, "process notify routine registered twice")
            self.process_notify = routine
        return STATUS_SUCCESS

    def h_SeCaptureSubjectContext(self):
        (ctx,) = self.args(1)
        self.require_irql("SeCaptureSubjectContext", PASSIVE_LEVEL)
        check(self.subject_state is None, "subject context captured twice")
        token = 0x70000000 + 0x10 * len(self.tokens)
        self.tokens[token] = self.token
        self.mem.write(ctx, bytes(SECURITY_SUBJECT_CONTEXT.through("ProcessAuditId")))
        self.mem.put(ctx, SECURITY_SUBJECT_CONTEXT, "PrimaryToken", token)     # no impersonation
        self.subject_ctx = ctx
        self.subject_state = "captured"

    def h_IoGetFileObjectGenericMapping(self):
        # The I/O manager's GENERIC_MAPPING for file objects (GenericRead, GenericWrite,
        # GenericExecute, GenericAll: wdm.h's FILE_GENERIC_* and FILE_ALL_ACCESS), one copy.
        if not self.file_generic_mapping:
            self.file_generic_mapping = self.alloc(16, "file-generic-mapping")
            self.mem.write(self.file_generic_mapping, struct.pack(
                "<4I", FILE_GENERIC_READ, FILE_GENERIC_WRITE, FILE_GENERIC_EXECUTE, FILE_ALL_ACCESS))
        return self.file_generic_mapping

    def h_SeAccessCheck(self):
        sd, ctx, locked, desired, previously, privileges, mapping, mode, granted_out, status_out = self.args(10)
        self.require_irql("SeAccessCheck", PASSIVE_LEVEL)
        check(self.subject_state == ("locked" if locked & 0xFF else "captured") and ctx == self.subject_ctx,
              "SeAccessCheck without the captured subject context (or with a wrong lock flag)")
        check(sd % 4 == 0, f"security descriptor at {sd:#x} is not ULONG aligned")
        check(mapping == self.file_generic_mapping and mapping,
              "SeAccessCheck with a generic mapping that is not IoGetFileObjectGenericMapping's")
        mode &= 0xFF
        check(mode in (KernelMode, UserMode), f"AccessMode {mode}")
        check(mode == self.requestor_mode, f"AccessMode {mode} is not the IRP's RequestorMode {self.requestor_mode}")
        client = self.mem.field(ctx, SECURITY_SUBJECT_CONTEXT, "ClientToken")
        token_ptr = client or self.mem.field(ctx, SECURITY_SUBJECT_CONTEXT, "PrimaryToken")
        check(token_ptr in self.tokens, f"SeAccessCheck with token {token_ptr:#x}, not the captured one")
        # The descriptor is read in place (SeAccessCheck only reads it); a self-relative descriptor
        # is self-contained, so reads are bounded to one page from its start.
        descriptor = parse_self_relative(lambda off, n: bytes(self.se.mem_read(sd + off, n)))
        desired &= 0xFFFFFFFF
        previously &= 0xFFFFFFFF
        m = struct.unpack("<4I", bytes(self.se.mem_read(mapping, 16)))
        if mode == KernelMode:
            granted, status = desired | previously, STATUS_SUCCESS   # kernel-mode requests are not checked
        else:
            granted, status = access_check(descriptor, self.tokens[token_ptr], desired, m, previously)
        self.mem.write(granted_out, struct.pack("<I", granted))
        self.mem.write(status_out, struct.pack("<I", status))
        if privileges:
            self.mem.w64(privileges, 0)
        self.access_checks.append((desired, mode, granted, status))
        return 1 if status == STATUS_SUCCESS else 0

    def h_SeReleaseSubjectContext(self):
        self.args(1)
        check(self.subject_state == "captured", "SeReleaseSubjectContext while locked or not captured")
        self.subject_state = None

    # ---- the system thread ----
    def h_PsCreateSystemThread(self):
        out, access, attributes, process, client_id, start, context = self.args(7)
        self.require_irql("PsCreateSystemThread", PASSIVE_LEVEL)
        check(process == 0 and client_id == 0, "a system thread in the system process expected")
        check(attributes and self.mem.u32(attributes + 0x18) & OBJ_KERNEL_HANDLE,
              "system thread handle without OBJ_KERNEL_HANDLE")
        check(self.in_image(start), "thread start routine outside the image")
        handle = 0xFFFFFFFF80000100 + 4 * len(self.threads)
        self.threads[handle] = Thread(handle, start, context)
        self.mem.w64(out, handle)
        return STATUS_SUCCESS

    def h_ZwWaitForSingleObject(self):
        handle, alertable, timeout = self.args(3)
        self.require_irql("ZwWaitForSingleObject", PASSIVE_LEVEL)
        thread = self.threads.get(handle)
        check(thread is not None, f"ZwWaitForSingleObject({handle:#x}): not a thread handle")
        if thread.state == "exited":
            return STATUS_SUCCESS
        # Switch to the thread until it ends; the waiter resumes from its exit (model_thread_exit).
        check(self.waiter is None, "two waiters")
        self.waiter = (self.save_context(), self.process, self.irql)
        self.run_thread(thread)
        return None

    def h_ZwClose(self):
        (handle,) = self.args(1)
        self.require_irql("ZwClose", PASSIVE_LEVEL)
        thread = self.threads.get(handle)
        check(thread is not None and thread.state == "exited", "ZwClose of a handle that is not an ended thread")
        thread.state = "closed"
        return STATUS_SUCCESS

    def h_ZwSetInformationThread(self):
        handle, info_class, info, length = self.args(4)
        self.require_irql("ZwSetInformationThread", PASSIVE_LEVEL)
        thread = self.current_thread
        check(thread is not None and self.process == "system", "ZwSetInformationThread outside the system thread")
        check(handle in (NT_CURRENT_THREAD, thread.handle), f"ZwSetInformationThread({handle:#x}): not this thread")
        check(info_class & 0xFFFFFFFF == ThreadPriority, f"ZwSetInformationThread class {info_class & 0xFFFFFFFF}")
        check(length & 0xFFFFFFFF == 4, f"ThreadPriority takes a 4-byte KPRIORITY, got {length & 0xFFFFFFFF}")
        (priority,) = struct.unpack("<i", bytes(self.se.mem_read(info, 4)))
        # A system thread may take any priority from LOW_PRIORITY + 1 to the real-time range's top;
        # the shell means to run just above LOW_PRIORITY (below every normal thread).
        check(LOW_PRIORITY < priority < 32, f"ThreadPriority {priority}")
        self.thread_priorities[thread] = priority
        return STATUS_SUCCESS

    def h_KeDelayExecutionThread(self):
        mode, alertable, interval = self.args(3)
        self.require_irql("KeDelayExecutionThread", APC_LEVEL)
        check(mode & 0xFF == KernelMode, "KeDelayExecutionThread not in KernelMode")
        check(alertable & 0xFF == 0, "an alertable delay (the consumer does not handle STATUS_ALERTED)")
        (units,) = struct.unpack("<q", bytes(self.se.mem_read(interval, 8)))
        check(units <= 0, f"KeDelayExecutionThread with an absolute time {units}")
        # The model runs one thread at a time: a yield (zero interval) returns at once; a relative
        # delay advances the interrupt time.
        self.time_100ns += -units
        self.delays += 1
        return STATUS_SUCCESS

    def run_thread(self, thread):
        """Continue in `thread` (the import call then 'returns' into it)."""
        self.current_thread = thread
        self.process = "system"
        self.irql = PASSIVE_LEVEL
        if thread.state == "parked":
            # The thread waits in KeWaitForMultipleObjects: wake it with the index of a signalled object.
            ctx = thread.saved
            thread.saved = None
            index = None
            for i, p in enumerate(thread.waiting_on):
                if self.mem.field(p, KEVENT, "SignalState"):
                    index = i
                    break
            check(index is not None, "the system thread was resumed without a signalled event")
            self.load_context(ctx)
            self.set_reg("rax", index)
            thread.state = "running"
        else:
            stack_top = self.alloc(0x40000, "thread-stack") + 0x40000 - 0x100
            rsp = stack_top - 0x38        # [rsp] start, [rsp+8] exit: after the pop rsp = 8 mod 16
            self.mem.w64(rsp, thread.start)
            self.mem.w64(rsp + 8, self.exit_stub)
            self.set_reg("rsp", rsp)
            self.set_reg("rcx", thread.context)
            thread.state = "running"

    def park(self, thread):
        """The system thread waits: save it, go back to whoever let it run."""
        thread.saved = self.save_context()
        thread.state = "parked"
        self.current_thread = None
        if self.waiter is not None:
            check(False, "the system thread blocked while teardown waits for it to end")
        # A scheduling run (run_consumer): end the run at the emulator's return hook.
        rsp = self.scratch_stack
        self.mem.w64(rsp, self.se.emu.return_hook)
        self.set_reg("rsp", rsp)
        return 0

    def h_model_thread_exit(self):
        thread = self.current_thread
        check(thread is not None, "thread exit outside a thread")
        check(not self.locks_held and self.irql == PASSIVE_LEVEL, "system thread ended at raised IRQL or holding a lock")
        thread.state = "exited"
        self.current_thread = None
        check(self.waiter is not None, "the system thread ended with nobody waiting")
        ctx, process, irql = self.waiter
        self.waiter = None
        self.load_context(ctx)
        self.process, self.irql = process, irql
        return STATUS_SUCCESS

    def raise_in_caller(self, code):
        """Raise a structured exception in the driver code that called the current import and
        dispatch it the way x64 does: the caller's function table entry (.pdata) names
        __C_specific_handler, whose scope table must cover the call site with a handler that
        executes (EXCEPTION_EXECUTE_HANDLER); control continues at the scope's target in the same
        frame with the exception code in eax."""
        ret = self.mem.u64(self.reg("rsp"))
        rva = ret - self.image[0] - 1
        target = self.seh.handler_for(rva)
        check(target is not None, f"exception {code:#x} raised at RVA {rva:#x}, outside any __try")
        self.set_reg("rsp", self.reg("rsp") + 8)
        self.set_reg("rip", self.image[0] + target)
        self.set_reg("rax", code)
        self.raised.append(code)

    # ---- memory functions (ntoskrnl exports the C runtime's) ----
    def h_memcpy(self):
        dst, src, n = self.args(3)
        if n:
            self.se.mem_write(dst, bytes(self.se.mem_read(src, n)))
        return dst

    h_memmove = h_memcpy

    def h_memset(self):
        dst, value, n = self.args(3)
        if n:
            self.se.mem_write(dst, bytes([value & 0xFF]) * n)
        return dst

    def h_memcmp(self):
        a, b, n = self.args(3)
        x, y = bytes(self.se.mem_read(a, n)), bytes(self.se.mem_read(b, n))
        for p, q in zip(x, y):
            if p != q:
                return (p - q) & 0xFFFFFFFF
        return 0

    def h_strlen(self):
        (s,) = self.args(1)
        n = 0
        while self.mem.u8(s + n):
            n += 1
        return n

    # ======== WDFLDR.SYS and KMDF ========
    def h_WdfVersionBind(self):
        driver, path, info, globals_out = self.args(4)
        self.require_irql("WdfVersionBind", PASSIVE_LEVEL)
        size, component = self.mem.u32(info), self.mem.u64(info + 8)
        major, minor, build = self.mem.u32(info + 0x10), self.mem.u32(info + 0x14), self.mem.u32(info + 0x18)
        count, table_ptr = self.mem.u32(info + 0x1C), self.mem.u64(info + 0x20)
        check(size == 0x30, f"WDF_BIND_INFO.Size {size:#x}")
        check(self.se.read_mem_string(component, 2) == "KmdfLibrary", "WDF_BIND_INFO.Component")
        check((major, minor) == (1, 33) and count == KMDF_FUNCTION_COUNT, "KMDF 1.33 with 444 functions expected")
        check(driver == self.driver_object, "WdfVersionBind with another driver object")
        table = self.alloc(8 * count, "wdf-functions")
        for i in range(count):
            name = {WDF_DRIVER_CREATE: "WdfDriverCreate", WDF_DRIVER_MINIPORT_UNLOAD: "WdfDriverMiniportUnload"}.get(
                i, f"WdfFunction{i}")
            self.mem.w64(table + 8 * i, self.se.emu.get_proc("wdf01000", name))
        self.mem.w64(table_ptr, table)
        self.wdf_globals = self.alloc(WDF_DRIVER_GLOBALS_SIZE, "wdf-globals")
        self.mem.w64(globals_out, self.wdf_globals)
        self.kmdf_bound = True
        return STATUS_SUCCESS

    def h_WdfVersionUnbind(self):
        path, info, globals_ = self.args(3)
        check(self.kmdf_bound and globals_ == self.wdf_globals, "WdfVersionUnbind without a bind")
        self.kmdf_bound = False
        self.wdf_unbound = True
        # Unbinding releases what the framework holds for the driver, its WDFDRIVER included.
        self.wdf_driver = 0
        return STATUS_SUCCESS

    def h_WdfDriverCreate(self):
        globals_, driver, path, attributes, config, out = self.args(6)
        check(globals_ == self.wdf_globals, "WdfDriverCreate without the driver globals as first argument")
        check(driver == self.driver_object and path == self.registry_path, "WdfDriverCreate arguments")
        size = self.mem.field(config, WDF_DRIVER_CONFIG, "Size")
        check(size == 0x20, f"WDF_DRIVER_CONFIG.Size {size:#x}, expected 0x20")
        check(self.mem.field(config, WDF_DRIVER_CONFIG, "DriverInitFlags") & WdfDriverInitNoDispatchOverride,
              "an NDIS miniport must not let KMDF take the dispatch table")
        check(self.mem.field(config, WDF_DRIVER_CONFIG, "EvtDriverDeviceAdd") == 0, "no device-add callback expected")
        self.wdf_driver = 0x0DF0D0
        self.mem.w64(out, self.wdf_driver)
        # The framework's bookkeeping in the driver globals (fxdriverapi.cpp of the public WDF
        # sources): the init flags, and whether the stub is to displace DriverUnload — not for a
        # NoDispatchOverride or non-PnP driver without EvtDriverUnload.
        flags = self.mem.field(config, WDF_DRIVER_CONFIG, "DriverInitFlags")
        own_unload = self.mem.field(config, WDF_DRIVER_CONFIG, "EvtDriverUnload") != 0
        self.mem.w64(self.wdf_globals + WDF_GLOBALS_DRIVER, self.wdf_driver)
        self.mem.write(self.wdf_globals + WDF_GLOBALS_DRIVER_FLAGS,
                       struct.pack("<I", self.mem.u32(self.wdf_globals + WDF_GLOBALS_DRIVER_FLAGS) | flags))
        displace = own_unload or not flags & (WdfDriverInitNoDispatchOverride | WdfDriverInitNonPnpDriver)
        self.mem.write(self.wdf_globals + WDF_GLOBALS_DISPLACE_DRIVER_UNLOAD, bytes([int(displace)]))
        return STATUS_SUCCESS

    def h_WdfDriverMiniportUnload(self):
        globals_, driver = self.args(2)
        check(globals_ == self.wdf_globals and driver == self.wdf_driver, "WdfDriverMiniportUnload arguments")
        # wdfminiport.h calls it through WdfDriverMiniportUnloadOverride, which the KMDF stub
        # points at its own unbinding routine once DriverEntry has succeeded: the table entry is
        # reached only from DriverEntry's failure path.
        check(not self.driver_entry_done, "the function table's WdfDriverMiniportUnload called after DriverEntry: "
              "wdfminiport.h calls it through WdfDriverMiniportUnloadOverride (this would never unbind)")
        self.wdf_driver = 0

    def h_KeBugCheckEx(self):
        code, *params = self.args(5)
        self.bugcheck = bugcheck_report(code & 0xFFFFFFFF, params, self.se.mem_read)
        if self.debug_breaks:
            self.bugcheck += f", after a debug break (int 3) at {self.debug_breaks[-1]:#x}"
        raise ModelError(self.bugcheck)

    def debug_break(self, pc):
        """An `int 3` (wdk-panic traps before it bug-checks in debug builds): a kernel debugger
        would stop here; the model notes it and continues, so that the bug check is seen."""
        self.debug_breaks.append(pc)

    # ======== NDIS.SYS ========
    def h_NdisGetVersion(self):
        return self.ndis_version

    def h_NdisMRegisterMiniportDriver(self):
        driver, path, context, chars, out = self.args(5)
        self.require_irql("NdisMRegisterMiniportDriver", PASSIVE_LEVEL)
        t, rev, size = self.mem.header(chars)
        check(t == NDIS_OBJECT_TYPE_MINIPORT_DRIVER_CHARACTERISTICS, f"characteristics type {t:#x}")
        major = self.mem.field(chars, CHARS, "MajorNdisVersion")
        minor = self.mem.field(chars, CHARS, "MinorNdisVersion")
        check(major == 6 and minor in (30, 80, 83), f"NDIS version {major}.{minor}")
        needed = {3: CHARS.through("SynchronousOidRequestHandler"), 2: CHARS.through("CancelDirectOidRequestHandler")}
        check(rev in needed and size >= needed[rev], f"characteristics revision {rev} with size {size:#x}")
        check((rev == 3) == (minor >= 80), "revision 3 goes with NDIS 6.80 and later")
        check((major << 16 | minor) <= self.ndis_version, "a newer NDIS version than the system's")
        handlers = {f: self.mem.field(chars, CHARS, f) for f, _ in CHARS._fields_ if f.endswith("Handler")
                    or f.endswith("HandlerEx")}
        for f in ("InitializeHandlerEx", "HaltHandlerEx", "UnloadHandler", "PauseHandler", "RestartHandler",
                  "OidRequestHandler", "SendNetBufferListsHandler", "ReturnNetBufferListsHandler",
                  "CancelSendHandler", "DevicePnPEventNotifyHandler", "ShutdownHandlerEx", "CancelOidRequestHandler"):
            check(self.in_image(handlers[f]), f"required handler {f} missing")
        self.chars = handlers
        self.chars_revision = rev
        # NDIS fills the dispatch table and takes the unload routine.
        for major_fn in range(IRP_MJ_MAXIMUM_FUNCTION + 1):
            self.mem.w64(driver + DRIVER_OBJECT_MAJOR_FUNCTION + 8 * major_fn, self.ndis_dispatch[major_fn])
        self.mem.w64(driver + DRIVER_OBJECT_DRIVER_UNLOAD, self.unload_stub)
        self.write_unload_stub(handlers["UnloadHandler"])
        self.miniport_driver_handle = 0x4E444953
        self.mem.w64(out, self.miniport_driver_handle)
        return STATUS_SUCCESS

    def h_NdisMDeregisterMiniportDriver(self):
        (handle,) = self.args(1)
        self.require_irql("NdisMDeregisterMiniportDriver", PASSIVE_LEVEL)
        check(handle == self.miniport_driver_handle, "NdisMDeregisterMiniportDriver handle")
        check(self.adapter_context == 0, "deregistered while an adapter exists")
        self.deregistered = True

    def h_NdisAllocateNetBufferListPool(self):
        miniport, params = self.args(2)
        self.require_irql("NdisAllocateNetBufferListPool", PASSIVE_LEVEL)
        check(miniport == self.miniport_handle, "pool for another miniport")
        t, rev, size = self.mem.header(params)
        check((t, rev) == (NDIS_OBJECT_TYPE_DEFAULT, 1) and size >= NET_BUFFER_LIST_POOL_PARAMETERS.through("DataSize"),
              f"NET_BUFFER_LIST_POOL_PARAMETERS header {t:#x}/{rev}/{size:#x}")
        check(self.mem.field(params, NET_BUFFER_LIST_POOL_PARAMETERS, "fAllocateNetBuffer") == 1,
              "the pool must allocate NET_BUFFERs with the NBLs")
        pool = self.alloc(16, "nbl-pool")
        self.pools[pool] = 0
        return pool

    def h_NdisFreeNetBufferListPool(self):
        (pool,) = self.args(1)
        self.require_irql("NdisFreeNetBufferListPool", PASSIVE_LEVEL)
        check(pool in self.pools, "freeing an unknown NBL pool")
        check(self.pools[pool] == 0, f"NBL pool freed with {self.pools[pool]} NBLs outstanding")
        del self.pools[pool]

    def h_NdisMGetDeviceProperty(self):
        miniport, pdo, fdo, ndo, alloc_res, alloc_res_trans = self.args(6)
        self.require_irql("NdisMGetDeviceProperty", PASSIVE_LEVEL)
        check(miniport == self.miniport_handle, "NdisMGetDeviceProperty handle")
        if fdo:
            self.mem.w64(fdo, self.fdo)

    def h_NdisMSetMiniportAttributes(self):
        miniport, attributes = self.args(2)
        self.require_irql("NdisMSetMiniportAttributes", PASSIVE_LEVEL)
        check(miniport == self.miniport_handle, "attributes for another miniport")
        t, rev, size = self.mem.header(attributes)
        if t == NDIS_OBJECT_TYPE_MINIPORT_ADAPTER_REGISTRATION_ATTRIBUTES:
            check(rev == 2 and size == REGISTRATION.through("InterfaceType"), f"registration attributes {rev}/{size:#x} (NDIS_SIZEOF_..._REVISION_2 is 0x1C)")
            self.adapter_context = self.mem.field(attributes, REGISTRATION, "MiniportAdapterContext")
            check(self.adapter_context != 0, "no adapter context")
            check(self.mem.field(attributes, REGISTRATION, "InterfaceType") == 0, "InterfaceType NdisInterfaceInternal")
        elif t == NDIS_OBJECT_TYPE_MINIPORT_ADAPTER_GENERAL_ATTRIBUTES:
            check(self.adapter_context != 0, "general attributes before the registration attributes")
            check(rev == 2 and size >= GENERAL.through("PowerManagementCapabilitiesEx"), f"general attributes {rev}/{size:#x}")
            g = {f: self.mem.field(attributes, GENERAL, f) for f, _ in GENERAL._fields_ if not f.endswith("Address")}
            check(g["MediaType"] == NdisMediumIP, f"MediaType {g['MediaType']}")
            check(g["MediaConnectState"] == MediaConnectStateDisconnected, "the link starts down")
            check(g["MtuSize"] > 0 and g["LookaheadSize"] > 0, "MTU and lookahead")
            check(g["PowerManagementCapabilities"] == 0, "NDIS 6.20+ uses PowerManagementCapabilitiesEx only")
            oids, length = g["SupportedOidList"], g["SupportedOidListLength"]
            check(oids and length and length % 4 == 0, "supported OID list")
            self.supported_oids = [self.mem.u32(oids + i) for i in range(0, length, 4)]
            pm = g["PowerManagementCapabilitiesEx"]
            check(pm != 0, "no NDIS_PM_CAPABILITIES")
            pt, prev, psize = self.mem.header(pm)
            check((pt, prev) == (NDIS_OBJECT_TYPE_DEFAULT, 2) and psize >= NDIS_PM_CAPABILITIES.through(
                "MediaSpecificWakeUpEvents"), f"NDIS_PM_CAPABILITIES header {pt:#x}/{prev}/{psize:#x}")
            self.general = g
        else:
            check(False, f"unexpected attributes type {t:#x}")
        return NDIS_STATUS_SUCCESS

    def h_NdisAllocateNetBufferAndNetBufferList(self):
        pool, context_size, backfill, mdl, offset, length = self.args(6)
        self.require_irql("NdisAllocateNetBufferAndNetBufferList", DISPATCH_LEVEL)
        check(pool in self.pools, "NBL from an unknown pool")
        check(mdl in self.mdls and self.mdls[mdl]["parent"] is not None, "the NBL's MDL is not a partial MDL of a ring")
        nbl = self.alloc(C_SIZEOF_NBL + NB_SIZE, "nbl")
        nb = nbl + C_SIZEOF_NBL
        self.mem.put(nbl, NBL, "FirstNetBuffer", nb)
        self.mem.put(nbl, NBL, "NdisPoolHandle", pool)
        self.mem.put(nb, NET_BUFFER, "CurrentMdl", mdl)
        self.mem.put(nb, NET_BUFFER, "MdlChain", mdl)
        self.mem.put(nb, NET_BUFFER, "CurrentMdlOffset", offset)
        self.mem.put(nb, NET_BUFFER, "DataOffset", offset)
        self.mem.put(nb, NET_BUFFER, "DataLength", length)
        self.pools[pool] += 1
        self.nbls[nbl] = {"pool": pool, "mdl": mdl, "indicated": False, "freed": False}
        return nbl

    def h_NdisFreeNetBufferList(self):
        (nbl,) = self.args(1)
        self.require_irql("NdisFreeNetBufferList", DISPATCH_LEVEL)
        info = self.nbls.get(nbl)
        check(info is not None and not info["freed"], f"NdisFreeNetBufferList({nbl:#x}): unknown or freed")
        check(not info["indicated"], "an NBL freed while the stack still owns it")
        info["freed"] = True
        self.pools[info["pool"]] -= 1

    def h_NdisMIndicateReceiveNetBufferLists(self):
        miniport, chain, port, count, flags = self.args(5)
        self.require_irql("NdisMIndicateReceiveNetBufferLists", DISPATCH_LEVEL)
        check(miniport == self.miniport_handle, "indication for another miniport")
        check(bool(flags & NDIS_RECEIVE_FLAGS_DISPATCH_LEVEL) == (self.irql == DISPATCH_LEVEL),
              f"receive flags {flags:#x} at IRQL {self.irql}")
        n, nbl = 0, chain
        while nbl:
            info = self.nbls.get(nbl)
            check(info is not None and not info["freed"] and not info["indicated"], f"indicated NBL {nbl:#x} not fresh")
            check(self.mem.field(nbl, NBL, "SourceHandle") == self.miniport_handle,
                  f"NBL.SourceHandle {self.mem.field(nbl, NBL, 'SourceHandle'):#x}, expected the miniport handle")
            status = self.mem.field(nbl, NBL, "Status")
            check(status == NDIS_STATUS_SUCCESS, f"indicated NBL.Status {status:#x}")
            flags_nbl = self.mem.field(nbl, NBL, "NblFlags")
            frame = self.mem.u64(nbl + NBL.off("NetBufferListInfo") + 8 * NET_BUFFER_LIST_FRAME_TYPE)
            data = self.read_net_buffer(self.mem.field(nbl, NBL, "FirstNetBuffer"))
            version = data[0] >> 4 if data else 0
            want_flag, want_frame = {4: (NDIS_NBL_FLAGS_IS_IPV4, 0x0008), 6: (NDIS_NBL_FLAGS_IS_IPV6, 0xDD86)}[version]
            check(flags_nbl & want_flag and not flags_nbl & (want_flag ^ 0x600), f"NblFlags {flags_nbl:#x} for IPv{version}")
            check(frame == want_frame, f"NetBufferListFrameType {frame:#x}, expected htons of the EtherType {want_frame:#x}")
            info["indicated"] = True
            self.indications.append((nbl, data))
            n += 1
            nbl = self.mem.field(nbl, NBL, "Next")
        check(n == count, f"NumberOfNetBufferLists {count}, chain has {n}")

    def read_net_buffer(self, nb):
        mdl = self.mem.field(nb, NET_BUFFER, "CurrentMdl")
        offset = self.mem.field(nb, NET_BUFFER, "CurrentMdlOffset")
        length = self.mem.field(nb, NET_BUFFER, "DataLength") & 0xFFFFFFFF
        info = self.mdls[mdl]
        parent = self.mdls[info["parent"]]
        check(parent["locked"] and parent["mapped"], "the stack reads an NBL over unlocked pages")
        check(offset + length <= info["len"], "NET_BUFFER data beyond its MDL")
        system = parent["mapped"] + (info["va"] - parent["va"]) + offset
        return bytes(self.se.mem_read(system, length))

    def h_NdisMSendNetBufferListsComplete(self):
        miniport, chain, flags = self.args(3)
        self.require_irql("NdisMSendNetBufferListsComplete", DISPATCH_LEVEL)
        check(miniport == self.miniport_handle, "completion for another miniport")
        check(bool(flags & NDIS_SEND_COMPLETE_FLAGS_DISPATCH_LEVEL) == (self.irql == DISPATCH_LEVEL),
              f"send-complete flags {flags:#x} at IRQL {self.irql}")
        done = check_completed_chain(self.mem, chain, self.send_in_flight, lambda n: self.send_expected[n])
        self.send_in_flight.difference_update(done)
        self.completions.append(done)

    def h_NdisMIndicateStatusEx(self):
        miniport, indication = self.args(2)
        self.require_irql("NdisMIndicateStatusEx", DISPATCH_LEVEL)
        check(miniport == self.miniport_handle, "status for another miniport")
        t, rev, size = self.mem.header(indication)
        check((t, rev) == (NDIS_OBJECT_TYPE_STATUS_INDICATION, 1) and size >= NDIS_STATUS_INDICATION.through(
            "NdisReserved"), f"NDIS_STATUS_INDICATION header {t:#x}/{rev}/{size:#x}")
        check(self.mem.field(indication, NDIS_STATUS_INDICATION, "SourceHandle") == self.miniport_handle,
              "status indication SourceHandle")
        code = self.mem.field(indication, NDIS_STATUS_INDICATION, "StatusCode")
        check(code == NDIS_STATUS_LINK_STATE, f"status code {code:#x}")
        buf = self.mem.field(indication, NDIS_STATUS_INDICATION, "StatusBuffer")
        check(self.mem.field(indication, NDIS_STATUS_INDICATION, "StatusBufferSize") >= NDIS_LINK_STATE.through(
            "AutoNegotiationFlags"), "link state buffer size")
        lt, lrev, lsize = self.mem.header(buf)
        check((lt, lrev) == (NDIS_OBJECT_TYPE_DEFAULT, 1) and lsize >= NDIS_LINK_STATE.through("AutoNegotiationFlags"),
              "NDIS_LINK_STATE header")
        self.link_states.append(self.mem.field(buf, NDIS_LINK_STATE, "MediaConnectState"))

    # ---- NDIS's own IRP handlers (the ones the driver chains in front of) ----
    def ndis_dispatch_handler(self, major):
        def handler():
            device, irp = self.args(2)
            self.ndis_forwarded.append((major, irp))
            status = STATUS_SUCCESS if major in (IRP_MJ_CREATE, IRP_MJ_CLOSE, 0x12) else STATUS_INVALID_DEVICE_REQUEST
            self.mem.put(irp, IRP, "Status", status)
            self.completed_irps[irp] = (status, 0)
            return status
        return handler

    def write_unload_stub(self, target):
        # NDIS's unload routine calls the miniport's UnloadHandler with the driver object:
        # mov rax, target; jmp rax
        self.mem.write(self.unload_stub, b"\x48\xB8" + struct.pack("<Q", target) + b"\xFF\xE0")


MDL_SIZE = 0x30
NB_SIZE = 0xB0
C_SIZEOF_NBL = 0x90 + 8 * 32
