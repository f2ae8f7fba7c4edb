"""An independent model of the kernel, NDIS and KMDF around ringtun.sys, for the emulator run.

Every import of the image has a handler here (scripts/emulate-sys installs them on speakeasy); a
call the model does not know stops the run. Handlers check what the real component would check
or what the DDI reference requires of the caller (structure types, revisions and sizes, pairing
of lock/unlock, map/unmap, reference/dereference, each NBL completed, returned and freed once),
keep state, and record what the driver did so that the scenario (run.py) can assert it. Around
every import the model checks the header's IRQL rule (IRQL_RULES, from the `_IRQL_requires_*`
annotations) and that no NDIS call that may re-enter the miniport is made under a driver spin lock
(FORBIDDEN_UNDER_SPIN_LOCK).

The model also schedules the system's threads (Thread, Model.dispatch): the harness's calls, the
driver's system threads, and callbacks the model runs at chosen points of another thread
(Model.interrupt_after) or on NDIS's behalf (Model.nested). One runs at a time; a switch happens
only at an import (a wait, a yield, a thread's end, an armed interleaving), so every interleaving
a run shows is one a step chose, and the same every run.

Structure layouts come from layouts.py (header facts), never from the driver's declarations.
"""
import ctypes
import struct
from collections import deque

import unicorn
import unicorn.x86_const as X86

from layouts import (
    DRIVER_OBJECT_DRIVER_UNLOAD, DRIVER_OBJECT_MAJOR_FUNCTION, IO_STACK_LOCATION, IRP, KEVENT, NET_DEVICE_PNP_EVENT,
    MDL, NDIS_LINK_STATE, NDIS_MINIPORT_ADAPTER_GENERAL_ATTRIBUTES as GENERAL,
    NDIS_MINIPORT_ADAPTER_REGISTRATION_ATTRIBUTES as REGISTRATION, NDIS_MINIPORT_DRIVER_CHARACTERISTICS as CHARS,
    NDIS_PM_CAPABILITIES, NDIS_STATUS_INDICATION, NET_BUFFER, NET_BUFFER_LIST as NBL, NET_BUFFER_LIST_FRAME_TYPE,
    NET_BUFFER_LIST_POOL_PARAMETERS, SECURITY_SUBJECT_CONTEXT, WDF_DRIVER_CONFIG, NDIS_OFFLOAD,
    NDIS_MINIPORT_ADAPTER_OFFLOAD_ATTRIBUTES as OFFLOAD_ATTRIBUTES, NDIS_OFFLOAD_SIZE_REVISION_3, NDIS_OFFLOAD_SIZE_REVISION_5,
    NDIS_OFFLOAD_SIZE_REVISION_6, NBL_INFO_CHECKSUM, NBL_INFO_LSO, NBL_INFO_RSC_OR_USO, CHECKSUM_NBL_INFO, RSC_NBL_INFO,
    NDIS_CONFIGURATION_OBJECT, NDIS_CONFIGURATION_PARAMETER, UNICODE_STRING, CONFIGURATION_OBJECT_SIZE_REVISION_1,
    LSO_NBL_INFO)

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
NDIS_OBJECT_TYPE_MINIPORT_ADAPTER_OFFLOAD_ATTRIBUTES = 0xA0
NDIS_OBJECT_TYPE_OFFLOAD = 0xA7
NDIS_OBJECT_TYPE_CONFIGURATION_OBJECT = 0xA9   # ntddndis.h
NDIS_CONFIGURATION_OBJECT_REVISION_1 = 1       # ndis.h
NdisParameterInteger, NdisParameterHexInteger, NdisParameterString = 0, 1, 2   # NDIS_PARAMETER_TYPE (ndis.h)
PARAMETER_SIZE = NDIS_CONFIGURATION_PARAMETER.through("ParameterData")   # 24 on x64
UNOPENABLE = "an adapter registry key NdisOpenConfigurationEx fails to open"
NDIS_STATUS_TASK_OFFLOAD_CURRENT_CONFIG = 0x40020006   # ndis.h
NDIS_STATUS_FAILURE = 0xC0000001
MDL_SOURCE_IS_NONPAGED_POOL = 0x4
NDIS_SEND_COMPLETE_FLAGS_DISPATCH_LEVEL = 1
# The NetBufferListInfo entries of a sent NBL the miniport may complete with information
# (TcpLargeSendNetBufferListInfo) or must leave alone (UdpSegmentationOffloadInfo, which is
# TcpRecvSegCoalesceInfo below NDIS 6.83): kept as they are at NdisMSendNetBufferListsComplete,
# then overwritten with SEND_INFO_POISON, which a write the driver makes into an NBL it no
# longer owns changes.
SEND_INFO_ENTRIES = (NBL_INFO_LSO, NBL_INFO_RSC_OR_USO)
SEND_INFO_POISON = 0xDDDDDDDDDDDDDDDD
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
KMODE_EXCEPTION_NOT_HANDLED = 0x1E
STATUS_BREAKPOINT = 0x80000003            # ntstatus.h
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
LOW_PRIORITY, LOW_REALTIME_PRIORITY = 0, 16
STATUS_TIMEOUT = 0x102                    # ntstatus.h
STATUS_INVALID_HANDLE = 0xC0000008
NDIS_STATUS_NOT_SUPPORTED = 0xC00000BB    # ndis.h (= STATUS_NOT_SUPPORTED)
NDIS_STATUS_INVALID_LENGTH = 0xC0010014
NDIS_STATUS_INVALID_DATA = 0xC0010015
NDIS_STATUS_INVALID_PARAMETER = 0xC000000D   # ndis.h (= STATUS_INVALID_PARAMETER)
NDIS_STATUS_BUFFER_TOO_SHORT = 0xC0010016
NDIS_STATUS_INVALID_OID = 0xC0010017
NDIS_STATUS_MEDIA_DISCONNECTED = 0xC023001F
NDIS_STATUS_RESOURCES = 0xC000009A
NDIS_OBJECT_TYPE_OID_REQUEST = 0x96       # ntddndis.h
NDIS_OID_REQUEST_REVISION_2 = 2
# NDIS_REQUEST_TYPE (ntddndis.h)
NdisRequestQueryInformation, NdisRequestSetInformation, NdisRequestQueryStatistics = 0, 1, 2
NdisRequestMethod = 12
# NDIS_HALT_ACTION and NDIS_DEVICE_PNP_EVENT (ndis.h)
NdisHaltDeviceDisabled, NdisHaltDeviceSurpriseRemoved = 0, 3
NdisDevicePnPEventSurpriseRemoved = 2
IRP_MN_QUERY_REMOVE_DEVICE, IRP_MN_REMOVE_DEVICE, IRP_MN_CANCEL_REMOVE_DEVICE = 0x01, 0x02, 0x03
IRP_MN_SURPRISE_REMOVAL = 0x17            # wdm.h
NORMAL_THREAD_PRIORITY = 8                # the base priority of a normal process's threads and of system threads
HIGH_LEVEL = 15
NdisShutdownPowerOff, NdisShutdownBugCheck = 0, 1     # NDIS_SHUTDOWN_ACTION (ndis.h)


class Switched:
    """A handler's result when it switched threads: the import returns into another thread."""


SWITCHED = Switched()

# The IRQL each import may be called at, from the header annotations: (header, minimum, maximum).
# `_IRQL_requires_(X)` is (X, X), `_IRQL_requires_max_(X)` is (PASSIVE, X), `_IRQL_requires_same_`
# and no annotation where the DDI reference gives none are (PASSIVE, HIGH). Conditional
# annotations (`_When_`) are refined by the handler, which knows the arguments. Headers of the
# WDK 10.0.16299 (ntifs.h for ZwWaitForSingleObject and IoGetRequestorProcess), except where the
# import is newer than that kit or the header has no annotation (named). Every import of the image
# needs an entry: a new import is a reviewed IRQL rule.
P, A, D = PASSIVE_LEVEL, APC_LEVEL, DISPATCH_LEVEL
IRQL_RULES = {
    "NdisAllocateNetBufferAndNetBufferList": ("ndis.h", P, D),
    "NdisAllocateNetBufferListPool": ("ndis.h", P, D),
    "NdisFreeNetBufferList": ("ndis.h", P, D),
    "NdisFreeNetBufferListPool": ("ndis.h", P, D),
    "NdisGetVersion": ("ndis.h", P, D),
    "NdisMDeregisterMiniportDriver": ("ndis.h", P, P),
    "NdisMGetDeviceProperty": ("ndis.h", P, P),
    "NdisMIndicateReceiveNetBufferLists": ("ndis.h", P, D),
    "NdisMIndicateStatusEx": ("ndis.h", P, D),
    "NdisMRegisterMiniportDriver": ("ndis.h", P, P),
    "NdisMSendNetBufferListsComplete": ("ndis.h", P, D),
    "NdisMSetMiniportAttributes": ("ndis.h", P, P),
    "NdisOpenConfigurationEx": ("ndis.h", P, P),
    "NdisReadConfiguration": ("ndis.h", P, P),
    "NdisCloseConfiguration": ("ndis.h", P, P),
    "ExAllocatePool2": ("wdm.h of WDK 10.0.19041 and later: DISPATCH_LEVEL with a non-paged flag", P, D),
    "ExFreePool": ("wdm.h", P, D),
    "IoAllocateMdl": ("wdm.h", P, D),
    "IoBuildPartialMdl": ("wdm.h", P, D),
    "IoFreeMdl": ("wdm.h", P, D),
    "MmBuildMdlForNonPagedPool": ("wdm.h", P, D),
    "IoGetCurrentProcess": ("wdm.h", P, D),
    "IoGetFileObjectGenericMapping": ("ntddk.h", P, P),
    "IoGetRequestorProcess": ("ntifs.h: no annotation; DDI reference: <= DISPATCH_LEVEL", P, D),
    "IoIs32bitProcess": ("wdm.h", P, D),
    "IofCompleteRequest": ("wdm.h", P, D),
    "KeAcquireSpinLockRaiseToDpc": ("wdm.h", P, D),
    "KeClearEvent": ("wdm.h", P, D),
    "KeDelayExecutionThread": ("wdm.h", P, A),
    "KeInitializeEvent": ("wdm.h: no annotation; DDI reference: any IRQL", P, HIGH_LEVEL),
    "KeQueryInterruptTimePrecise": ("wdm.h: _IRQL_requires_same_", P, HIGH_LEVEL),
    "KeReleaseSpinLock": ("wdm.h", D, D),
    "KeSetEvent": ("wdm.h: Wait == FALSE", P, D),
    "KeSetPriorityThread": ("wdm.h", P, D),
    "KeWaitForMultipleObjects": ("wdm.h: APC_LEVEL, DISPATCH_LEVEL with a zero timeout", P, D),
    "MmMapLockedPagesSpecifyCache": ("wdm.h: KernelMode", P, D),
    "MmProbeAndLockPages": ("wdm.h; DDI reference: <= APC_LEVEL for pageable memory", P, D),
    "MmUnlockPages": ("wdm.h", P, D),
    "ObReferenceObjectByHandle": ("wdm.h", P, P),
    "ObfDereferenceObject": ("wdm.h", P, D),
    "PsCreateSystemThread": ("wdm.h", P, P),
    "PsGetCurrentProcessId": ("ntddk.h: no annotation", P, HIGH_LEVEL),
    "PsSetCreateProcessNotifyRoutine": ("ntddk.h", P, P),
    "SeAccessCheck": ("wdm.h", P, P),
    "SeCaptureSubjectContext": ("wdm.h: no annotation; DDI reference: PASSIVE_LEVEL", P, P),
    "SeReleaseSubjectContext": ("wdm.h: no annotation; DDI reference: PASSIVE_LEVEL", P, P),
    "ZwClose": ("wdm.h", P, P),
    "ZwWaitForSingleObject": ("ntifs.h: APC_LEVEL, DISPATCH_LEVEL with a zero timeout", P, D),
    "DbgPrint": ("wdm.h: no annotation", P, HIGH_LEVEL),
    "KeBugCheckEx": ("wdm.h: no annotation (any IRQL)", P, HIGH_LEVEL),
    "WdfVersionBind": ("KMDF loader: DriverEntry's context", P, P),
    "WdfVersionUnbind": ("KMDF loader: unload's context", P, P),
    "WdfDriverCreate": ("wdfdriver.h (KMDF 1.33)", P, P),
    "WdfDriverMiniportUnload": ("wdfminiport.h (KMDF 1.33)", P, P),
    "__C_specific_handler": ("the exception dispatcher", P, HIGH_LEVEL),
    "memcpy": ("C runtime", P, HIGH_LEVEL),
    "memmove": ("C runtime", P, HIGH_LEVEL),
    "memset": ("C runtime", P, HIGH_LEVEL),
    "memcmp": ("C runtime", P, HIGH_LEVEL),
    "strlen": ("C runtime", P, HIGH_LEVEL),
}
# NDIS calls the driver must not make while it holds one of its spin locks: from inside each, NDIS
# and the protocols above may call back into the miniport on the same processor (a protocol
# returns indicated NBLs from its receive handler, or sends from its send-complete or status
# handler), and a callback that takes the same lock then deadlocks the processor. An indication
# made under a lock is also made at DISPATCH_LEVEL with flags that claim otherwise.
FORBIDDEN_UNDER_SPIN_LOCK = {"NdisMIndicateReceiveNetBufferLists", "NdisMIndicateStatusEx",
                             "NdisMSendNetBufferListsComplete"}
# The IRQL NDIS calls each miniport callback at (ndis.h: `_IRQL_requires_(PASSIVE_LEVEL)` or
# `_IRQL_requires_max_(DISPATCH_LEVEL)`): (minimum, maximum). The harness may call a callback only
# within its range (callback_irql).
CALLBACK_IRQL = {
    "InitializeHandlerEx": (P, P), "HaltHandlerEx": (P, P), "PauseHandler": (P, P), "RestartHandler": (P, P),
    "OidRequestHandler": (P, P), "SendNetBufferListsHandler": (P, D), "ReturnNetBufferListsHandler": (P, D),
    "CancelSendHandler": (P, D), "DevicePnPEventNotifyHandler": (P, P),
    "CancelOidRequestHandler": (P, D), "DirectOidRequestHandler": (P, D), "CancelDirectOidRequestHandler": (P, D),
    "SynchronousOidRequestHandler": (P, D), "UnloadHandler": (P, P),
}
# MINIPORT_SHUTDOWN (ndis.h): `_When_(ShutdownAction==NdisShutdownPowerOff, _IRQL_requires_(PASSIVE_LEVEL))`,
# `_When_(ShutdownAction==NdisShutdownBugCheck, _IRQL_requires_(HIGH_LEVEL))`: exactly one of the two.
SHUTDOWN_IRQL = {NdisShutdownPowerOff: (P, P), NdisShutdownBugCheck: (HIGH_LEVEL, HIGH_LEVEL)}


def callback_irql(name, args):
    """The IRQL range NDIS calls callback `name` with arguments `args` at: (minimum, maximum)."""
    if name == "ShutdownHandlerEx":
        action = args[1] & 0xFFFFFFFF
        check(action in SHUTDOWN_IRQL, f"ShutdownHandlerEx with NDIS_SHUTDOWN_ACTION {action} (ndis.h defines 0 "
                                       f"and 1)")
        return SHUTDOWN_IRQL[action]
    check(name in CALLBACK_IRQL, f"no IRQL rule for the callback {name}")
    return CALLBACK_IRQL[name]


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


NDIS_TCP_LARGE_SEND_OFFLOAD_V2_TYPE = 1   # ndis.h (V1 is 0)


def check_lso_completion(request, completed, status, data_length):
    """An NBL's TcpLargeSendNetBufferListInfo at NdisMSendNetBufferListsComplete (`completed`)
    against the value the stack set (`request`), both the whole pointer-sized entry, for an NBL
    completed with `status` whose NET_BUFFER (an LSO NBL has one) held `data_length` bytes when it
    was sent. Without LSO information (0) the entry stays 0. Otherwise the miniport fills in the
    completion arm of the request's type (ndis.h): LsoV2TransmitComplete with Reserved zero ("when
    a send operation is complete, the miniport driver must set this member to zero"), or
    LsoV1TransmitComplete with TcpPayload the TCP payload bytes sent ("the total number of TCP
    user data bytes that are sent successfully", "Offloading the Segmentation of Large TCP
    Packets"): 0 for an NBL completed with a failure, which sent none, and for one that succeeded
    at most the bytes behind the request's TcpHeaderOffset and the smallest TCP header (20); Type
    (bit 30) and Reserved2 (bit 31, "reserved for NDIS") are the request's, and so is the rest of
    the PVOID (its upper half on x64)."""
    if request == 0:
        check(completed == 0, f"LSO information {completed:#x} on an NBL sent without any")
        return
    sent = LSO_NBL_INFO.from_buffer_copy(struct.pack("<I", request & 0xFFFFFFFF))
    done = LSO_NBL_INFO.from_buffer_copy(struct.pack("<I", completed & 0xFFFFFFFF))
    check(completed >> 32 == request >> 32,
          f"LSO completion {completed:#x}: the upper half of the entry ({request:#x} as sent) changed")
    if sent.LsoV2Transmit.Type == NDIS_TCP_LARGE_SEND_OFFLOAD_V2_TYPE:
        arm, kept = done.LsoV2TransmitComplete, sent.LsoV2Transmit.IPVersion
        check(arm.Reserved == 0, f"LsoV2TransmitComplete.Reserved {arm.Reserved:#x} (must be zero) in {completed:#x}")
    else:
        arm, kept = done.LsoV1TransmitComplete, sent.LsoV1Transmit.Reserved2
        if status & 0xFFFFFFFF != NDIS_STATUS_SUCCESS:
            check(arm.TcpPayload == 0, f"LsoV1TransmitComplete.TcpPayload {arm.TcpPayload} in {completed:#x} for an "
                  f"NBL completed with {status & 0xFFFFFFFF:#x}: nothing was sent, 0 expected")
        else:
            most = max(data_length - sent.LsoV1Transmit.TcpHeaderOffset - 20, 0)
            check(arm.TcpPayload <= most, f"LsoV1TransmitComplete.TcpPayload {arm.TcpPayload} in {completed:#x}: "
                  f"more than the {most} payload bytes a {data_length}-byte packet with its TCP header at "
                  f"{sent.LsoV1Transmit.TcpHeaderOffset} can carry")
    check(arm.Type == sent.LsoV2Transmit.Type,
          f"LSO completion {completed:#x}: Type {arm.Type}, the request's ({request:#x}) was {sent.LsoV2Transmit.Type}")
    check(arm.Reserved2 == kept,
          f"LSO completion {completed:#x}: Reserved2 (bit 31, reserved for NDIS) changed from the request's {request:#x}")


NDIS_OFFLOAD_FLAGS_GROUP_CHECKSUM_CAPABILITIES = 0x1   # ntddndis.h (NDIS_OFFLOAD.Flags)
NDIS_OFFLOAD_SET_OFF = 2   # ntddndis.h (NDIS_OFFLOAD_SET_*)


def check_offload_flags(offload, what):
    """An NDIS_OFFLOAD's Flags: not NDIS_OFFLOAD_FLAGS_GROUP_CHECKSUM_CAPABILITIES. NDIS would
    accept the flag; refusing it is the adapter's contract. Undocumented in the NDIS_OFFLOAD
    reference, it ties a miniport to the grouped checksum keywords (from what is known of NDIS's
    implementation: NDIS then writes *TCPUDPChecksumOffloadIPv4/IPv6 on OID_TCP_OFFLOAD_PARAMETERS
    rather than the granular keywords the INF declares, and refuses per-transport checksum
    settings that differ within an IP version, which the engine supports)."""
    check(not offload.Flags & NDIS_OFFLOAD_FLAGS_GROUP_CHECKSUM_CAPABILITIES,
          f"{what}: NDIS_OFFLOAD.Flags {offload.Flags:#x} sets NDIS_OFFLOAD_FLAGS_GROUP_CHECKSUM_CAPABILITIES "
          f"(the INF declares the granular checksum keywords)")


def offload_two_bit_fields(structure, prefix=""):
    """(name, value) of every 2-bit field of a decoded NDIS_OFFLOAD (or of one of its members):
    the supported/not-supported fields of the checksum, LSO and USO structures (ntddndis.h). The
    IPsec, encapsulated-packet and 464XLAT members are opaque words here and not walked."""
    for field in structure._fields_:
        name, kind = field[0], field[1]
        if len(field) == 3:
            if field[2] == 2:
                yield prefix + name, getattr(structure, name)
        elif isinstance(kind, type) and issubclass(kind, ctypes.Structure):
            yield from offload_two_bit_fields(getattr(structure, name), f"{prefix}{name}.")


def check_offload_values(offload, what):
    """Every 2-bit field of an NDIS_OFFLOAD is NDIS_OFFLOAD_SUPPORTED (1) or
    NDIS_OFFLOAD_NOT_SUPPORTED (0), in the capabilities, the configuration and every status
    indication: never NDIS_OFFLOAD_SET_OFF (2), which the NDIS_TCP_IP_CHECKSUM_OFFLOAD remarks name
    for "disabled" in the status indication but which readers of the indication (XDP for Windows,
    testing each field for truth) would take as on; NetAdapterCx indicates 0."""
    bad = [(name, value) for name, value in offload_two_bit_fields(offload) if value not in (0, 1)]
    check(not bad, f"{what}: NDIS_OFFLOAD 2-bit fields neither NDIS_OFFLOAD_SUPPORTED nor NOT_SUPPORTED: {bad}")


def check_receive_checksum(value, version):
    """An indicated NBL's TcpIpChecksumNetBufferListInfo (the whole pointer-sized entry) for an
    IPv`version` packet, against the Receive arm of ndis.h (NDIS 6.30: TcpChecksumFailed,
    UdpChecksumFailed, IpChecksumFailed, TcpChecksumSucceeded, UdpChecksumSucceeded,
    IpChecksumSucceeded, Loopback, TcpChecksumValueInvalid, IpChecksumValueInvalid; bits 0-8)
    and the DDI reference: no bit beyond the arm; no failed checksum or loopback (the driver
    passes on only what it validated); no IPv4 header checksum on an IPv6 packet; a value marked
    not valid only beside its checksum marked validated ("validated by the NIC but the ...
    checksum value in the packet is not valid"), IpChecksumValueInvalid only on IPv4 ("for an
    IPv4 packet"). Returns the Receive arm decoded."""
    check(value >> 9 == 0, f"checksum information {value:#x}: bits beyond the Receive arm (bits 9 and up) set")
    r = CHECKSUM_NBL_INFO.from_buffer_copy(struct.pack("<I", value)).Receive
    check(not (r.TcpChecksumFailed or r.UdpChecksumFailed or r.IpChecksumFailed or r.Loopback),
          "an indication claims a failed checksum or a loopback")
    check(not (r.IpChecksumSucceeded and version != 4), "IpChecksumSucceeded on an IPv6 packet")
    check(not (r.IpChecksumValueInvalid and version != 4), "IpChecksumValueInvalid on an IPv6 packet")
    check(not r.TcpChecksumValueInvalid or r.TcpChecksumSucceeded,
          f"checksum information {value:#x}: TcpChecksumValueInvalid without TcpChecksumSucceeded")
    check(not r.IpChecksumValueInvalid or r.IpChecksumSucceeded,
          f"checksum information {value:#x}: IpChecksumValueInvalid without IpChecksumSucceeded")
    return r


def registry_string_to_integer(text, base):
    """The integer NdisReadConfiguration makes of a REG_SZ value read as NdisParameterInteger
    (base 10) or NdisParameterHexInteger (base 16): RtlUnicodeStringToInteger's reading, whose
    status NDIS does not look at. Leading characters up to the space (U+0020) are skipped, then
    an optional sign, then digits of the base up to the first character that is not one; no digit
    is 0, a longer number keeps its low 32 bits, and a minus sign negates it modulo 2^32. The
    read itself succeeds, whatever the text."""
    at = 0
    while at < len(text) and ord(text[at]) <= 0x20:
        at += 1
    negative = False
    if at < len(text) and text[at] in "+-":
        negative = text[at] == "-"
        at += 1
    total = 0
    for char in text[at:]:
        digit = int(char, 36) if char.isascii() and char.isalnum() else None
        if digit is None or digit >= base:
            break
        total = (total * base + digit) & 0xFFFFFFFF
    return (-total) & 0xFFFFFFFF if negative else total


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
    """One thread of the emulated system: a root call of the harness (an IRP dispatch, a miniport
    callback, a notification), a system thread the driver creates, or a callback the model runs
    at a chosen point of another thread (an interleaving) or on behalf of NDIS. The model runs one
    at a time and switches only at imports: when one waits (KeWaitForMultipleObjects,
    ZwWaitForSingleObject), yields (KeDelayExecutionThread), ends, or is interrupted at a chosen
    point."""

    def __init__(self, tid, what, start, args, irql, process, kind, handle=None):
        self.tid, self.what, self.start, self.args = tid, what, start, list(args)
        self.entry_irql = self.irql = irql
        self.locks = set()
        self.process = process
        self.kind = kind                # root, system, interrupt, nested
        self.handle = handle            # kernel handle (system threads)
        self.state = "new"              # new, ready, running, blocked, exited, closed
        self.saved = None               # registers while switched out
        self.wake_value = None          # what the import it is in returns when it resumes
        self.on_resume = None           # or a function computing it
        self.waiting = None             # ("events", [KEVENT], timed) or ("thread", Thread)
        self.block_seq = 0
        self.result = None
        self.priority = NORMAL_THREAD_PRIORITY
        self.priorities = []            # every priority set for it (KeSetPriorityThread), in order
        self.object = None              # its thread object, once the driver referenced it
        self.stack = None
        self.token = None
        self.irp = None

    def __repr__(self):
        return f"<{self.kind} thread {self.tid} {self.what!r} {self.state}>"


class Model:
    def __init__(self, se, image_base, image_size, trace=False):
        self.se = se
        self.mem = Memory(se.mem_read, se.mem_write)
        self.image = (image_base, image_base + image_size)
        self.trace = trace
        self.calls = []                 # (thread id, import) in call order
        self.irql = PASSIVE_LEVEL       # the running thread's (saved in it when it switches out)
        self.locks_held = set()         # spin locks the running thread holds
        self.lock_irql = {}             # spin lock -> IRQL its holder raised from
        self.pool = {}
        self.subject_ctx = 0
        self.events = {}                # KEVENT address -> kind ("driver" or "client")
        self.set_events = []            # KeSetEvent targets in order
        self.handles = {}               # client handle -> event object address (client process table)
        self.refs = {}                  # object -> references the driver holds
        self.mdls = {}                  # MDL -> dict
        self.user_ranges = []           # (start, end, system_alias) of the client's mapped ring pages
        # Threads and their scheduling.
        self.all_threads = []
        self.threads = {}               # kernel handle -> system thread
        self.ready = deque()
        self.deferred = deque()         # threads interrupted at an interleaving point: run last
        self.current = None
        self.block_counter = 0
        self.free_stacks = []
        self.triggers = []              # interleavings armed by the harness
        self.joins = []                 # (waiter, thread, its priority) at each ZwWaitForSingleObject
        self.thread_objects = {}        # thread object -> Thread (ObReferenceObjectByHandle on a thread handle)
        self.priority_sets = []         # (thread id of the caller, Thread, priority) at each KeSetPriorityThread
        self.processes = {"client": 0x1000A0, "system": 0x100040, "other": 0x1000C0}
        self.pids = {"client": 0x1F4, "system": 4, "other": 0x2F8}
        self.process = "system"
        self.irps = {}                  # IRP -> {"mode", "bits32", "process"}
        self.default_token = Token.elevated_admin()
        self.tokens = {}                        # PACCESS_TOKEN value -> Token
        self.subject_state = None
        self.access_checks = []                 # (desired, access mode, granted, status)
        self.file_generic_mapping = 0
        self.delays = 0
        self.event_type = None
        self.event_type_object = None   # the object types ntoskrnl exports as data (the harness sets them)
        self.thread_type_object = None
        self.kmdf_bound = False
        self.wdf_globals = 0
        self.wdf_driver = 0
        self.chars = None
        self.chars_revision = 0
        self.chars_minor = 0
        self.miniport_driver_handle = 0
        self.adapters = {}              # miniport handle -> adapter dict (see new_adapter)
        self.configurations = {}        # open NdisOpenConfigurationEx handle -> {"adapter", "parameters"}
        self.pools = {}                 # NBL pool -> NBLs outstanding
        self.pool_owner = {}            # NBL pool -> miniport handle
        self.nbls = {}                  # NBLs the model allocated for the driver (indications)
        self.send_in_flight = set()
        self.send_expected = {}         # sent NBL -> (miniport handle, status it must complete with)
        self.send_requests = {}         # sent NBL in flight -> {SEND_INFO_ENTRIES index: value the stack set}
        self.send_lengths = {}          # sent NBL in flight -> its first NET_BUFFER's DataLength as sent
        self.completed_info = {}        # completed NBL -> {SEND_INFO_ENTRIES index: value at completion}
        self.completions = []
        self.indications = []           # (miniport handle, NBL, bytes)
        self.indication_info = {}       # indicated NBL -> (checksum info, RSC info) as decoded dicts
        self.indicate_calls = []        # NBLs per NdisMIndicateReceiveNetBufferLists call
        self.link_states = []           # every link-state indication, all adapters
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
        self.scratch_stack = 0
        self.pnp_events = []            # (miniport handle, IRP_MN_*) NDIS's PnP handler acted on
        self.probes = []                # user addresses MmProbeAndLockPages was asked to lock
        self.unlocked = []              # (thread id, user address, calls so far) at each MmUnlockPages
        self.raised = []
        self.waits = []                 # (thread id, "satisfied"/"poll"/"blocked", index) per KeWaitForMultipleObjects
        self.debug_output = []
        self.seh = None
        self.image_module = None
        self.trampoline = 0
        self.ndis_version = 0

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

    # A context is every register the x64 calling convention makes callee-saved or that a switch
    # changes.
    REGS = ["rax", "rbx", "rcx", "rdx", "rsi", "rdi", "rbp", "rsp", "r8", "r9", "r10", "r11", "r12", "r13",
            "r14", "r15", "rip", "eflags"] + [f"xmm{i}" for i in range(16)]

    def save_context(self):
        return {r: self.reg(r) for r in self.REGS}

    def load_context(self, ctx):
        for r, v in ctx.items():
            self.set_reg(r, v)

    # ---- checks made around every import (the harness calls these) ----
    def before_import(self, name):
        """The IRQL rule of `name` and the spin-lock rule, before its handler runs."""
        rule = IRQL_RULES.get(name)
        if rule is not None:
            header, low, high = rule
            check(low <= self.irql <= high, f"{name} at IRQL {self.irql}: {header} allows {low}..{high}")
        check(not (name in FORBIDDEN_UNDER_SPIN_LOCK and self.locks_held),
              f"{name} while holding {len(self.locks_held)} driver spin lock(s): NDIS may call back into the "
              f"miniport from inside it")
        self.calls.append((self.current.tid if self.current else None, name))

    def after_import(self, name, args, value):
        """Fires an interleaving armed at this import: the running thread is interrupted right
        after the call (it resumes with `value` when the interrupting callback waits or ends)."""
        for trigger in self.triggers:
            if trigger["fired"] is not None or trigger["call"] != name:
                continue
            if trigger["when"] is not None and not trigger["when"](self, args):
                continue
            check(self.current is not None, f"interleaving at {name} outside a thread")
            check(not self.locks_held, f"interleaving point {name} reached inside a spin lock (another processor "
                                       f"would spin there; choose a point outside the driver's locks)")
            # The interrupted thread stands still for as long as anything else can run: the
            # interleaving is then the worst one for it (it resumes only when every other thread
            # waits or has ended, not as soon as the interrupting one waits).
            interrupted = self.switch_out(wake_value=value)
            interrupted.state = "ready"
            self.deferred.append(interrupted)
            call_args = trigger["args"](self, args) if callable(trigger["args"]) else trigger["args"]
            thread = self.new_thread(trigger["what"], trigger["start"], call_args, trigger["irql"],
                                     trigger["process"], kind="interrupt", front=True, token=trigger["token"],
                                     irp=trigger["irp"])
            trigger["fired"] = thread
            trigger["interrupted"] = interrupted
            return self.dispatch()
        return value

    def interrupt_after(self, call, what, start, args, irql=PASSIVE_LEVEL, process="system", when=None, token=None,
                        irp=None):
        """Arms an interleaving: right after the driver's next call of `call` (for which `when`,
        given the model and the call's arguments, holds), the calling thread is interrupted and
        `start(*args)` runs as another thread, as if on another processor, until it waits or ends
        (`args` may be a function of the model and the call's arguments, evaluated then).
        Returns the trigger; its "fired" entry is the interrupting thread once it ran."""
        trigger = {"call": call, "what": what, "start": start, "args": args if callable(args) else list(args),
                   "irql": irql, "process": process,
                   "when": when, "token": token, "irp": irp, "fired": None, "interrupted": None}
        self.triggers.append(trigger)
        return trigger

    # ---- the scheduler ----
    def new_thread(self, what, start, args, irql=PASSIVE_LEVEL, process="system", kind="root", handle=None,
                   front=False, token=None, irp=None):
        thread = Thread(len(self.all_threads) + 1, what, start, args, irql, process, kind, handle)
        thread.token, thread.irp = token, irp
        self.all_threads.append(thread)
        thread.state = "ready"
        if front:
            self.ready.appendleft(thread)
        else:
            self.ready.append(thread)
        return thread

    def stack_for(self, thread):
        if thread.stack is None:
            # Unoptimized Rust frames are large: 256 KiB, more than a kernel stack, so that the
            # stack budget (checked at build time) is what limits stack use, not the model.
            thread.stack = self.free_stacks.pop() if self.free_stacks else self.alloc(0x40000, "thread-stack")
        return thread.stack + 0x40000 - 0x100

    def switch_out(self, wake_value=None, on_resume=None):
        thread = self.current
        thread.saved = self.save_context()
        thread.wake_value, thread.on_resume = wake_value, on_resume
        thread.irql, thread.locks, thread.process = self.irql, self.locks_held, self.process
        self.current = None
        return thread

    def switch_in(self, thread):
        self.current = thread
        self.irql, self.locks_held, self.process = thread.irql, thread.locks, thread.process
        thread.state = "running"
        if thread.saved is None:
            # A new thread: its start routine is "returned to" with its arguments in registers and
            # the exit stub as its return address; at entry rsp is 8 mod 16, as after a call.
            rsp = self.stack_for(thread) - 0x40
            # Through a trampoline (jmp r11) in mapped memory: a start routine that is itself a
            # model stub (NDIS's IRP handler) is then reached by a jump, as a call would reach it.
            self.mem.w64(rsp, self.trampoline)
            self.set_reg("r11", thread.start)
            self.mem.w64(rsp + 8, self.exit_stub)
            for reg, value in zip(("rcx", "rdx", "r8", "r9"), thread.args):
                self.set_reg(reg, value & 0xFFFFFFFFFFFFFFFF)
            for i, value in enumerate(thread.args[4:]):
                self.mem.w64(rsp + 8 + 0x28 + 8 * i, value)
            self.set_reg("rsp", rsp)
            return
        self.load_context(thread.saved)
        thread.saved = None
        value = thread.on_resume() if thread.on_resume is not None else thread.wake_value
        thread.on_resume = thread.wake_value = None
        if value is not None:
            self.set_reg("rax", value & 0xFFFFFFFFFFFFFFFF)

    def dispatch(self):
        """Switches to the next ready thread (interrupted ones last); with none, ends the emulator
        run (the import returns to the run's end hook). Handlers return its result, SWITCHED."""
        for queue in (self.ready, self.deferred):
            while queue:
                thread = queue.popleft()
                if thread.state == "ready":
                    self.switch_in(thread)
                    return SWITCHED
        self.current = None
        self.mem.w64(self.scratch_stack, self.se.emu.return_hook)
        self.set_reg("rsp", self.scratch_stack)
        return SWITCHED

    def block(self, waiting, on_resume=None):
        """The running thread waits (`waiting`: ("events", [KEVENT], timed) or ("thread", T))."""
        thread = self.switch_out(on_resume=on_resume)
        thread.state, thread.waiting = "blocked", waiting
        self.block_counter += 1
        thread.block_seq = self.block_counter
        return self.dispatch()

    def wake(self, thread, value):
        thread.state, thread.waiting, thread.wake_value = "ready", None, value
        self.ready.append(thread)

    def blocked(self):
        return sorted((t for t in self.all_threads if t.state == "blocked"), key=lambda t: t.block_seq)

    def expire_timers(self, thread=None):
        """The timeout of every timed wait (or of `thread`'s) passes: the waiter resumes with
        STATUS_TIMEOUT. Timed waits otherwise never time out in the model (it has no clock of its
        own), so that an idle consumer does not re-check for ever."""
        woken = []
        for t in self.blocked():
            if (thread is None or t is thread) and t.waiting[0] == "events" and t.waiting[2]:
                self.wake(t, STATUS_TIMEOUT)
                woken.append(t)
        return woken

    def nested(self, what, start, args, irql, process, on_done):
        """NDIS calls back into the miniport from inside an import the driver made (a PnP IRP
        passed to NDIS's handler halts the adapter): the caller waits for the callback to end,
        then its import returns `on_done()`."""
        child = self.new_thread(what, start, args, irql, process, kind="nested", front=True)
        return self.block(("thread", child), on_resume=on_done)

    def h_model_dispatch(self):
        """The harness's entry into the scheduler: the first ready thread runs. (speakeasy resolves
        imports through the import table of the module it takes as current: the image's.)"""
        self.se.emu.curr_mod = self.image_module
        return self.dispatch()

    def h_model_thread_exit(self):
        thread = self.current
        check(thread is not None, "thread exit outside a thread")
        check(not self.locks_held, f"{thread.what} returned holding {len(self.locks_held)} spin lock(s)")
        check(self.irql == thread.entry_irql, f"{thread.what} returned at IRQL {self.irql}, entered at "
                                              f"{thread.entry_irql}")
        check(self.subject_state is None, f"{thread.what} returned with a captured subject context")
        thread.result = self.reg("rax")
        thread.state = "exited"
        self.free_stacks.append(thread.stack)
        thread.stack = None
        self.current = None
        for waiter in self.blocked():
            if waiter.waiting == ("thread", thread):
                self.wake(waiter, STATUS_SUCCESS)
        return self.dispatch()

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
        check(not any(i.get("nonpaged") == addr for i in self.mdls.values()),
              f"ExFreePool({addr:#x}) while an MDL still describes it")
        del self.pool[addr]

    def h_KeAcquireSpinLockRaiseToDpc(self):
        (lock,) = self.args(1)
        self.require_irql("KeAcquireSpinLockRaiseToDpc", DISPATCH_LEVEL)
        # Threads switch only where they hold no spin lock, so a lock held at all is held by the
        # caller: acquiring it again would spin for ever.
        check(lock not in self.locks_held and self.mem.u64(lock) == 0, f"spin lock {lock:#x} acquired twice")
        self.locks_held.add(lock)
        self.mem.w64(lock, 1)
        old, self.irql = self.irql, DISPATCH_LEVEL
        self.lock_irql[lock] = old
        return old

    def h_KeReleaseSpinLock(self):
        lock, old = self.args(2)
        old &= 0xFF                     # KIRQL: only the low byte is defined
        check(lock in self.locks_held, f"KeReleaseSpinLock({lock:#x}): not held")
        check(self.irql == DISPATCH_LEVEL and old <= DISPATCH_LEVEL, "KeReleaseSpinLock IRQL")
        check(old == self.lock_irql.get(lock), f"KeReleaseSpinLock({lock:#x}) to IRQL {old}, acquired at "
                                               f"{self.lock_irql.get(lock)} (locks released out of order?)")
        check(old == DISPATCH_LEVEL or len(self.locks_held) == 1,
              f"KeReleaseSpinLock({lock:#x}) lowers the IRQL to {old} while another spin lock is held")
        self.locks_held.discard(lock)
        self.mem.w64(lock, 0)
        self.irql = old

    def h_KeInitializeEvent(self):
        event, kind, state = self.args(3)
        self.mem.write(event, bytes([kind & 0xFF, 0, 6, 0]) + struct.pack("<i", state & 0xFF) + b"\0" * 16)
        self.events[event] = "driver"

    def signal(self, event):
        """KeSetEvent's effect: signalled, then the waits it satisfies (a synchronization event
        satisfies one and is reset by it; a notification event all, and stays signalled). Returns
        the previous state.

        A thread that waited without a timeout on a driver event and is woken by a thread running
        below its priority stood still until that thread ran: under load, for as long as the load
        lasts (a priority inversion, as for ZwWaitForSingleObject on a thread)."""
        previous = self.mem.field(event, KEVENT, "SignalState")
        self.mem.put(event, KEVENT, "SignalState", 1)
        self.set_events.append(event)
        setter = self.current
        for thread in self.blocked():
            kind, objects, timed = thread.waiting
            if kind != "events" or event not in objects or not self.mem.field(event, KEVENT, "SignalState"):
                continue
            check(timed or setter is None or self.events.get(event) != "driver" or setter.priority >= thread.priority,
                  f"{thread.what} (priority {thread.priority}) waited without a timeout for an event that "
                  f"{setter.what if setter else ''} running at priority {setter.priority if setter else ''} set: "
                  f"under load the wait lasts as long as the load")
            if self.mem.u8(event) == 1:                      # SynchronizationEvent: auto-reset
                self.mem.put(event, KEVENT, "SignalState", 0)
            self.wake(thread, objects.index(event))
        return previous

    def h_KeSetEvent(self):
        event, _increment, wait = self.args(3)
        check(event in self.events, f"KeSetEvent({event:#x}): not an initialized or referenced event")
        check((wait & 0xFF) == 0, "KeSetEvent with Wait TRUE")
        return self.signal(event)

    def h_KeClearEvent(self):
        (event,) = self.args(1)
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
        units = struct.unpack("<q", bytes(self.se.mem_read(timeout, 8)))[0] if timeout else None
        # wdm.h: APC_LEVEL at most, DISPATCH_LEVEL with a zero timeout (a poll).
        self.require_irql("KeWaitForMultipleObjects", DISPATCH_LEVEL if units == 0 else APC_LEVEL)
        check(1 <= count <= 3 or wait_blocks, f"KeWaitForMultipleObjects: {count} objects without wait blocks")
        check(wait_type == 1, "KeWaitForMultipleObjects: expected WaitAny")
        check(mode & 0xFF == KernelMode and alertable & 0xFF == 0, "a kernel-mode, non-alertable wait expected")
        check(not self.locks_held, "waiting while holding a spin lock")
        check(units is None or units <= 0, f"KeWaitForMultipleObjects with an absolute timeout {units}")
        ptrs = [self.mem.u64(objects + 8 * i) for i in range(count)]
        for p in ptrs:
            check(p in self.events, f"waiting on {p:#x}, not an event")
        tid = self.current.tid if self.current else None
        for i, p in enumerate(ptrs):
            if self.mem.field(p, KEVENT, "SignalState"):
                if self.mem.u8(p) == 1:      # SynchronizationEvent: auto-reset
                    self.mem.put(p, KEVENT, "SignalState", 0)
                self.waits.append((tid, "poll" if units == 0 else "satisfied", i))
                return i
        if units == 0:
            self.waits.append((tid, "poll", None))
            return STATUS_TIMEOUT
        check(self.current is not None, "a wait outside any thread")
        self.waits.append((tid, "blocked", None))
        return self.block(("events", ptrs, units is not None))

    def h_ObReferenceObjectByHandle(self):
        handle, access, obj_type, mode, out, info = self.args(6)
        self.require_irql("ObReferenceObjectByHandle", PASSIVE_LEVEL)
        if obj_type == self.thread_type_object:
            return self.reference_thread(handle, mode, out)
        check(obj_type == self.event_type_object, f"ObReferenceObjectByHandle type {obj_type:#x}, "
              f"expected *ExEventObjectType ({self.event_type_object:#x}) or *PsThreadType "
              f"({self.thread_type_object:#x})")
        check(mode & 0xFF == UserMode, "a client's handle must be looked up with UserMode access checks")
        check(self.process == "client", "handle looked up outside the client's process")
        obj = self.handles.get(handle)
        if obj is None:
            return STATUS_INVALID_HANDLE
        check(access & 0x0002, "event referenced without EVENT_MODIFY_STATE")
        self.refs[obj] = self.refs.get(obj, 0) + 1
        self.mem.w64(out, obj)
        return STATUS_SUCCESS

    def reference_thread(self, handle, mode, out):
        """ObReferenceObjectByHandle(*PsThreadType): a kernel handle of a thread the driver created,
        looked up with KernelMode (a UserMode lookup refuses kernel handles)."""
        check(mode & 0xFF == KernelMode, "a kernel thread handle looked up with UserMode access (refused: "
                                         "STATUS_INVALID_HANDLE)")
        thread = self.threads.get(handle)
        check(thread is not None and thread.state != "closed",
              f"ObReferenceObjectByHandle({handle:#x}, *PsThreadType): not a thread handle the driver holds")
        if thread.object is None:
            thread.object = self.alloc(0x40, "kthread")
            self.thread_objects[thread.object] = thread
        self.refs[thread.object] = self.refs.get(thread.object, 0) + 1
        self.mem.w64(out, thread.object)
        return STATUS_SUCCESS

    def h_KeSetPriorityThread(self):
        obj, priority = self.args(2)
        thread = self.thread_objects.get(obj)
        check(thread is not None and self.refs.get(obj, 0) > 0,
              f"KeSetPriorityThread({obj:#x}): not a thread object the driver holds a reference to")
        (priority,) = struct.unpack("<i", struct.pack("<I", priority & 0xFFFFFFFF))     # KPRIORITY: LONG
        # Any priority from LOW_PRIORITY + 1 to the top of the real-time range (HIGH_PRIORITY, 31).
        check(LOW_PRIORITY < priority < 32, f"KeSetPriorityThread priority {priority}")
        previous = thread.priority
        thread.priority = priority
        thread.priorities.append(priority)
        self.priority_sets.append((self.current.tid if self.current else None, thread, priority))
        return previous

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
        self.probes.append(info["va"])
        if self.process != "client" or self.translate(info["va"], info["len"]) is None:
            self.raise_in_caller(STATUS_ACCESS_VIOLATION)
            return SWITCHED
        info["locked"] = True
        self.protect_view(info, unicorn.UC_PROT_ALL)
        self.mem.put(mdl, MDL, "MdlFlags", self.mdl_flags(mdl) | MDL_PAGES_LOCKED)
        return None

    def protect_view(self, info, perms):
        """The kernel's view of a ring exists only while its pages are locked: once unlocked, any
        access the driver still makes to it faults (an access the kernel would bug-check on)."""
        system = self.translate(info["va"], info["len"])
        start = system & ~(PAGE - 1)
        end = (system + info["len"] + PAGE - 1) & ~(PAGE - 1)
        self.uc.mem_protect(start, end - start, perms)

    def h_MmMapLockedPagesSpecifyCache(self):
        mdl, mode, cache, address, bugcheck, priority = self.args(6)
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
        info = self.mdls.get(mdl)
        check(info is not None and info["locked"], "MmUnlockPages on an MDL that is not locked")
        children = [m for m, i in self.mdls.items() if i["parent"] == mdl]
        check(not children, "pages unlocked while partial MDLs over them are still allocated")
        info["locked"] = False
        info["mapped"] = None
        if info["parent"] is None and self.translate(info["va"], info["len"]) is not None:
            self.protect_view(info, unicorn.UC_PROT_NONE)
        self.unlocked.append((self.current.tid if self.current else None, info["va"], len(self.calls)))
        self.mem.put(mdl, MDL, "MdlFlags", self.mdl_flags(mdl) & ~(MDL_PAGES_LOCKED | MDL_MAPPED_TO_SYSTEM_VA))

    def h_IoBuildPartialMdl(self):
        source, target, va, length = self.args(4)
        src, tgt = self.mdls.get(source), self.mdls.get(target)
        check(src is not None and tgt is not None and src["locked"], "IoBuildPartialMdl: bad MDLs")
        check(src["va"] <= va and va + length <= src["va"] + src["len"], "partial MDL outside its source")
        tgt.update(parent=source, va=va, len=length)
        self.mem.put(target, MDL, "MdlFlags", self.mdl_flags(target) | MDL_PARTIAL)

    def h_MmBuildMdlForNonPagedPool(self):
        (mdl,) = self.args(1)
        info = self.mdls.get(mdl)
        check(info is not None and info["parent"] is None and not info["locked"],
              "MmBuildMdlForNonPagedPool on an unknown, partial or locked MDL")
        within = [a for a, (size, _) in self.pool.items() if a <= info["va"] and info["va"] + info["len"] <= a + size]
        check(within, f"MmBuildMdlForNonPagedPool over {info['va']:#x}+{info['len']}: not inside a non-paged pool "
                      f"allocation")
        info["nonpaged"] = within[0]
        info["mapped"] = info["va"]
        self.mem.put(mdl, MDL, "MappedSystemVa", info["va"])
        self.mem.put(mdl, MDL, "MdlFlags", self.mdl_flags(mdl) | MDL_SOURCE_IS_NONPAGED_POOL)

    def h_IoFreeMdl(self):
        (mdl,) = self.args(1)
        info = self.mdls.get(mdl)
        check(info is not None, f"IoFreeMdl({mdl:#x}): unknown MDL")
        check(not info["locked"], "IoFreeMdl on locked pages (MmUnlockPages first)")
        for n in self.nbls.values():
            check(mdl not in n["mdls"] or n["freed"], "IoFreeMdl of an MDL an NBL still uses")
        del self.mdls[mdl]

    # ---- IRPs, processes, security ----
    def h_IofCompleteRequest(self):
        irp, _boost = self.args(2)
        check(irp not in self.completed_irps, f"IRP {irp:#x} completed twice")
        self.completed_irps[irp] = (self.mem.field(irp, IRP, "Status") & 0xFFFFFFFF,
                                    self.mem.field(irp, IRP, "Information"))

    def h_IoGetCurrentProcess(self):
        return self.processes[self.process]

    def h_IoGetRequestorProcess(self):
        (irp,) = self.args(1)
        check(irp in self.irps, f"IoGetRequestorProcess({irp:#x}): not an IRP being dispatched")
        return self.processes[self.irps[irp]["process"]]

    def h_IoIs32bitProcess(self):
        (irp,) = self.args(1)
        check(irp in self.irps, f"IoIs32bitProcess({irp:#x}): not an IRP being dispatched")
        return 1 if self.irps[irp]["bits32"] else 0

    def h_PsGetCurrentProcessId(self):
        return self.pids[self.process]

    def h_PsSetCreateProcessNotifyRoutine(self):
        routine, remove = self.args(2)
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
        check(self.subject_state is None, "subject context captured twice")
        token = 0x70000000 + 0x10 * len(self.tokens)
        self.tokens[token] = (self.current.token if self.current and self.current.token else self.default_token)
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
        check(self.subject_state == ("locked" if locked & 0xFF else "captured") and ctx == self.subject_ctx,
              "SeAccessCheck without the captured subject context (or with a wrong lock flag)")
        check(sd % 4 == 0, f"security descriptor at {sd:#x} is not ULONG aligned")
        check(mapping == self.file_generic_mapping and mapping,
              "SeAccessCheck with a generic mapping that is not IoGetFileObjectGenericMapping's")
        mode &= 0xFF
        check(mode in (KernelMode, UserMode), f"AccessMode {mode}")
        irp = self.current.irp if self.current else None
        check(irp in self.irps, "SeAccessCheck outside an IRP's dispatch")
        requestor_mode = self.irps[irp]["mode"]
        check(mode == requestor_mode, f"AccessMode {mode} is not the IRP's RequestorMode {requestor_mode}")
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
        check(process == 0 and client_id == 0, "a system thread in the system process expected")
        check(attributes and self.mem.u32(attributes + 0x18) & OBJ_KERNEL_HANDLE,
              "system thread handle without OBJ_KERNEL_HANDLE")
        check(self.in_image(start), "thread start routine outside the image")
        handle = 0xFFFFFFFF80000100 + 4 * len(self.threads)
        thread = self.new_thread(f"system thread {handle:#x}", start, [context], PASSIVE_LEVEL, "system",
                                 kind="system", handle=handle)
        self.threads[handle] = thread
        self.mem.w64(out, handle)
        return STATUS_SUCCESS

    def h_ZwWaitForSingleObject(self):
        handle, alertable, timeout = self.args(3)
        units = struct.unpack("<q", bytes(self.se.mem_read(timeout, 8)))[0] if timeout else None
        # ntifs.h: APC_LEVEL at most, DISPATCH_LEVEL with a zero timeout (a poll).
        self.require_irql("ZwWaitForSingleObject", DISPATCH_LEVEL if units == 0 else APC_LEVEL)
        check(not self.locks_held, "waiting while holding a spin lock")
        thread = self.threads.get(handle)
        check(thread is not None and thread.state != "closed", f"ZwWaitForSingleObject({handle:#x}): not a thread handle")
        check(alertable & 0xFF == 0 and timeout == 0, "a non-alertable wait without timeout expected")
        waiter = self.current
        check(waiter is not None and waiter is not thread, "a thread waiting for itself")
        self.joins.append((waiter, thread, thread.priority))
        if thread.state == "exited":
            return STATUS_SUCCESS
        # The waiter stands still until the thread ends: if the thread runs below the waiter's
        # priority, every ready thread in between (any load on the processor) delays the waiter.
        check(thread.priority >= waiter.priority,
              f"{waiter.what} (priority {waiter.priority}) waits for {thread.what} running at priority "
              f"{thread.priority}: under load the wait lasts as long as the load")
        return self.block(("thread", thread))

    def h_ZwClose(self):
        (handle,) = self.args(1)
        thread = self.threads.get(handle)
        check(thread is not None and thread.state == "exited", "ZwClose of a handle that is not an ended thread")
        thread.state = "closed"
        return STATUS_SUCCESS

    def h_KeDelayExecutionThread(self):
        mode, alertable, interval = self.args(3)
        check(mode & 0xFF == KernelMode, "KeDelayExecutionThread not in KernelMode")
        check(alertable & 0xFF == 0, "an alertable delay (the consumer does not handle STATUS_ALERTED)")
        (units,) = struct.unpack("<q", bytes(self.se.mem_read(interval, 8)))
        check(units <= 0, f"KeDelayExecutionThread with an absolute time {units}")
        check(not self.locks_held, "KeDelayExecutionThread while holding a spin lock")
        # A relative delay advances the interrupt time; a yield lets every other ready thread run.
        self.time_100ns += -units
        self.delays += 1
        if self.ready and self.current is not None:
            thread = self.switch_out(wake_value=STATUS_SUCCESS)
            thread.state = "ready"
            self.ready.append(thread)
            return self.dispatch()
        return STATUS_SUCCESS

    def raise_in_caller(self, code):
        """Raise a structured exception in the driver code that called the current import and
        dispatch it the way x64 does: the caller's function table entry (.pdata) names
        __C_specific_handler, whose scope table must cover the call site with a handler that
        executes (EXCEPTION_EXECUTE_HANDLER); control continues at the scope's target in the same
        frame with the exception code in eax. The handler then returns SWITCHED: the import
        returns to the address in its return slot."""
        ret = self.mem.u64(self.reg("rsp"))
        rva = ret - self.image[0] - 1
        target = self.seh.handler_for(rva)
        check(target is not None, f"exception {code:#x} raised at RVA {rva:#x}, outside any __try")
        # The import "returns" to the scope's target instead of the call site (same frame).
        self.mem.w64(self.reg("rsp"), self.image[0] + target)
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
        raise ModelError(self.bugcheck)

    def debug_break(self, pc):
        """An `int 3`. The model's kernel, like a machine in the field, has no kernel debugger: the
        breakpoint exception goes unhandled and the system bug-checks with 0x1E
        KMODE_EXCEPTION_NOT_HANDLED (STATUS_BREAKPOINT at `pc`), before any KeBugCheckEx the driver
        was about to make (a Rust panic's "RPNC" and location never reach the dump)."""
        self.debug_breaks.append(pc)
        self.bugcheck = bugcheck_report(KMODE_EXCEPTION_NOT_HANDLED, [STATUS_BREAKPOINT, pc, 0, 0],
                                        self.se.mem_read) + " (a debug break without a kernel debugger)"
        raise ModelError(self.bugcheck)

    # ======== NDIS.SYS ========
    def new_adapter(self, handle, fdo, registry=None):
        """An adapter NDIS is about to initialize: its miniport handle, functional device object and
        registry key (keyword -> value: an int is a REG_DWORD, a str a REG_SZ, as the Advanced
        page or NDIS writes a keyword's value; None: an empty key; UNOPENABLE: a key
        NdisOpenConfigurationEx fails to open)."""
        registry = {} if registry is None else registry
        adapter = {"handle": handle, "fdo": fdo, "context": 0, "pool": 0, "general": None, "oids": [],
                   "links": [], "halted": False, "offload": None, "offload_hardware": None, "offload_configs": [],
                   "registry": registry, "keywords_read": []}
        self.adapters[handle] = adapter
        return adapter

    def adapter(self, handle):
        adapter = self.adapters.get(handle)
        check(adapter is not None and not adapter["halted"], f"miniport handle {handle:#x}: not a live adapter")
        return adapter

    def adapter_of_fdo(self, fdo):
        return next((a for a in self.adapters.values() if a["fdo"] == fdo and not a["halted"]), None)

    def h_NdisGetVersion(self):
        return self.ndis_version

    def h_NdisMRegisterMiniportDriver(self):
        driver, path, context, chars, out = self.args(5)
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
        # The direct OID path is optional; a driver that registers it registers its cancel routine
        # too. The synchronous path (revision 3) is optional.
        check(bool(handlers["DirectOidRequestHandler"]) == bool(handlers["CancelDirectOidRequestHandler"]),
              "DirectOidRequestHandler and CancelDirectOidRequestHandler go together")
        if rev < 3:
            handlers["SynchronousOidRequestHandler"] = 0
        self.chars = handlers
        self.chars_revision = rev
        self.chars_minor = minor
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
        check(handle == self.miniport_driver_handle, "NdisMDeregisterMiniportDriver handle")
        alive = [a["handle"] for a in self.adapters.values() if a["context"] and not a["halted"]]
        check(not alive, f"deregistered while adapters exist: {alive}")
        self.deregistered = True

    def h_NdisAllocateNetBufferListPool(self):
        miniport, params = self.args(2)
        adapter = self.adapter(miniport)
        t, rev, size = self.mem.header(params)
        check((t, rev) == (NDIS_OBJECT_TYPE_DEFAULT, 1) and size >= NET_BUFFER_LIST_POOL_PARAMETERS.through("DataSize"),
              f"NET_BUFFER_LIST_POOL_PARAMETERS header {t:#x}/{rev}/{size:#x}")
        check(self.mem.field(params, NET_BUFFER_LIST_POOL_PARAMETERS, "fAllocateNetBuffer") == 1,
              "the pool must allocate NET_BUFFERs with the NBLs")
        pool = self.alloc(16, "nbl-pool")
        self.pools[pool] = 0
        self.pool_owner[pool] = miniport
        adapter["pool"] = pool
        return pool

    def h_NdisFreeNetBufferListPool(self):
        (pool,) = self.args(1)
        check(pool in self.pools, "freeing an unknown NBL pool")
        check(self.pools[pool] == 0, f"NBL pool freed with {self.pools[pool]} NBLs outstanding")
        del self.pools[pool]

    def h_NdisMGetDeviceProperty(self):
        miniport, pdo, fdo, ndo, alloc_res, alloc_res_trans = self.args(6)
        adapter = self.adapter(miniport)
        if fdo:
            self.mem.w64(fdo, adapter["fdo"])

    def h_NdisMSetMiniportAttributes(self):
        miniport, attributes = self.args(2)
        adapter = self.adapter(miniport)
        t, rev, size = self.mem.header(attributes)
        if t == NDIS_OBJECT_TYPE_MINIPORT_ADAPTER_REGISTRATION_ATTRIBUTES:
            check(rev == 2 and size == REGISTRATION.through("InterfaceType"), f"registration attributes {rev}/{size:#x} (NDIS_SIZEOF_..._REVISION_2 is 0x1C)")
            adapter["context"] = self.mem.field(attributes, REGISTRATION, "MiniportAdapterContext")
            check(adapter["context"] != 0, "no adapter context")
            check(self.mem.field(attributes, REGISTRATION, "InterfaceType") == 0, "InterfaceType NdisInterfaceInternal")
        elif t == NDIS_OBJECT_TYPE_MINIPORT_ADAPTER_GENERAL_ATTRIBUTES:
            check(adapter["context"] != 0, "general attributes before the registration attributes")
            check(rev == 2 and size >= GENERAL.through("PowerManagementCapabilitiesEx"), f"general attributes {rev}/{size:#x}")
            g = {f: self.mem.field(attributes, GENERAL, f) for f, _ in GENERAL._fields_ if not f.endswith("Address")}
            check(g["MediaType"] == NdisMediumIP, f"MediaType {g['MediaType']}")
            check(g["MediaConnectState"] == MediaConnectStateDisconnected, "the link starts down")
            check(g["MtuSize"] > 0 and g["LookaheadSize"] > 0, "MTU and lookahead")
            check(g["PowerManagementCapabilities"] == 0, "NDIS 6.20+ uses PowerManagementCapabilitiesEx only")
            oids, length = g["SupportedOidList"], g["SupportedOidListLength"]
            check(oids and length and length % 4 == 0, "supported OID list")
            adapter["oids"] = [self.mem.u32(oids + i) for i in range(0, length, 4)]
            pm = g["PowerManagementCapabilitiesEx"]
            check(pm != 0, "no NDIS_PM_CAPABILITIES")
            pt, prev, psize = self.mem.header(pm)
            check((pt, prev) == (NDIS_OBJECT_TYPE_DEFAULT, 2) and psize >= NDIS_PM_CAPABILITIES.through(
                "MediaSpecificWakeUpEvents"), f"NDIS_PM_CAPABILITIES header {pt:#x}/{prev}/{psize:#x}")
            adapter["general"] = g
        elif t == NDIS_OBJECT_TYPE_MINIPORT_ADAPTER_OFFLOAD_ATTRIBUTES:
            check(adapter["general"] is not None, "offload attributes before the general attributes")
            check(rev == 1 and size >= OFFLOAD_ATTRIBUTES.through("TcpConnectionOffloadHardwareCapabilities"),
                  f"offload attributes {rev}/{size:#x}")
            current = self.mem.field(attributes, OFFLOAD_ATTRIBUTES, "DefaultOffloadConfiguration")
            hardware = self.mem.field(attributes, OFFLOAD_ATTRIBUTES, "HardwareOffloadCapabilities")
            check(current and hardware, "offload attributes without both NDIS_OFFLOAD structures")
            check(self.mem.field(attributes, OFFLOAD_ATTRIBUTES, "DefaultTcpConnectionOffloadConfiguration") == 0
                  and self.mem.field(attributes, OFFLOAD_ATTRIBUTES, "TcpConnectionOffloadHardwareCapabilities") == 0,
                  "TCP connection (chimney) offload is not offered")
            adapter["offload"] = self.read_offload(current, "DefaultOffloadConfiguration")
            adapter["offload_hardware"] = self.read_offload(hardware, "HardwareOffloadCapabilities")
        else:
            check(False, f"unexpected attributes type {t:#x}")
        return NDIS_STATUS_SUCCESS

    def h_NdisOpenConfigurationEx(self):
        config, out = self.args(2)
        t, rev, size = self.mem.header(config)
        check((t, rev) == (NDIS_OBJECT_TYPE_CONFIGURATION_OBJECT, NDIS_CONFIGURATION_OBJECT_REVISION_1)
              and size >= CONFIGURATION_OBJECT_SIZE_REVISION_1,
              f"NDIS_CONFIGURATION_OBJECT header {t:#x}/{rev}/{size} (expected 0xa9/1/20)")
        adapter = self.adapter(self.mem.field(config, NDIS_CONFIGURATION_OBJECT, "NdisHandle"))
        check(adapter["offload"] is None,
              "the configuration opened after the offload attributes were set")
        check(self.mem.field(config, NDIS_CONFIGURATION_OBJECT, "Flags") == 0,
              "a miniport opens its own configuration (no NDIS_CONFIG_FLAG_FILTER_INSTANCE_CONFIGURATION)")
        if adapter["registry"] is UNOPENABLE:
            return NDIS_STATUS_FAILURE
        handle = self.alloc(16, "ndis-configuration")
        self.configurations[handle] = {"adapter": adapter, "parameters": []}
        self.mem.w64(out, handle)
        return NDIS_STATUS_SUCCESS

    def h_NdisReadConfiguration(self):
        status_out, value_out, handle, keyword, kind = self.args(5)
        config = self.configurations.get(handle)
        check(config is not None, f"NdisReadConfiguration on {handle:#x}: not an open configuration")
        length = self.mem.field(keyword, UNICODE_STRING, "Length")
        maximum = self.mem.field(keyword, UNICODE_STRING, "MaximumLength")
        buffer = self.mem.field(keyword, UNICODE_STRING, "Buffer")
        check(length % 2 == 0 and 0 < length <= maximum and buffer, f"keyword NDIS_STRING {length}/{maximum}/{buffer:#x}")
        name = bytes(self.se.mem_read(buffer, length)).decode("utf-16-le")
        kind &= 0xFFFFFFFF
        config["adapter"]["keywords_read"].append(name)
        # The registry's value names are case-insensitive.
        found = [v for k, v in config["adapter"]["registry"].items() if k.lower() == name.lower()]
        value = None
        if found and kind in (NdisParameterInteger, NdisParameterHexInteger):
            # A REG_DWORD as it is; a REG_SZ converted as NDIS converts it (base 10 for
            # NdisParameterInteger), successfully whatever its text: a value that is not a
            # number reads as the integer the conversion makes of it (0 for "abc" or "").
            raw = found[0]
            if isinstance(raw, int):
                value = raw & 0xFFFFFFFF
            else:
                value = registry_string_to_integer(raw, 10 if kind == NdisParameterInteger else 16)
        if value is None:
            self.se.mem_write(status_out, struct.pack("<I", NDIS_STATUS_FAILURE))
            return
        parameter = self.alloc(PARAMETER_SIZE, "ndis-configuration-parameter")
        data = NDIS_CONFIGURATION_PARAMETER(ParameterType=NdisParameterInteger)
        data.ParameterData.IntegerData = value
        self.se.mem_write(parameter, bytes(data))
        config["parameters"].append(parameter)
        self.mem.w64(value_out, parameter)
        self.se.mem_write(status_out, struct.pack("<I", NDIS_STATUS_SUCCESS))

    def h_NdisCloseConfiguration(self):
        (handle,) = self.args(1)
        config = self.configurations.pop(handle, None)
        check(config is not None, f"NdisCloseConfiguration on {handle:#x}: not an open configuration")
        # Every parameter read from it goes with it; a later read through one is a use after free.
        for parameter in config["parameters"]:
            self.se.mem_write(parameter, b"\xDD" * PARAMETER_SIZE)

    def read_offload(self, address, what, size=None):
        """An NDIS_OFFLOAD the driver hands over, checked against the revision the NDIS_OFFLOAD
        documentation gives a miniport of the version it registered (revision 6 with
        UdpSegmentation from NDIS 6.83, revision 5 "for NDIS 6.70 and later", revision 3 for NDIS
        6.30), decoded; the members beyond the revision's size read as zero. Its Flags as
        check_offload_flags allows."""
        t, rev, header_size = self.mem.header(address)
        if self.chars_minor >= 83:
            want = (6, NDIS_OFFLOAD_SIZE_REVISION_6)
        elif self.chars_minor >= 70:
            want = (5, NDIS_OFFLOAD_SIZE_REVISION_5)
        else:
            want = (3, NDIS_OFFLOAD_SIZE_REVISION_3)
        check((t, rev, header_size) == (NDIS_OBJECT_TYPE_OFFLOAD,) + want,
              f"{what}: NDIS_OFFLOAD header {t:#x}/{rev}/{header_size} (expected {NDIS_OBJECT_TYPE_OFFLOAD:#x}/{want})")
        check(size is None or size >= header_size, f"{what}: buffer of {size} bytes for a {header_size}-byte NDIS_OFFLOAD")
        raw = bytes(self.se.mem_read(address, header_size)) + bytes(NDIS_OFFLOAD_SIZE_REVISION_6 - header_size)
        offload = NDIS_OFFLOAD.from_buffer_copy(raw)
        check_offload_flags(offload, what)
        check_offload_values(offload, what)
        return offload

    def h_NdisAllocateNetBufferAndNetBufferList(self):
        pool, context_size, backfill, mdl, offset, length = self.args(6)
        check(pool in self.pools, "NBL from an unknown pool")
        # The MDL chain: a partial MDL of a ring, behind at most one MDL of non-paged pool (a
        # header the driver wrote); the chain holds exactly the NET_BUFFER's bytes.
        chain, at = [], mdl
        while at:
            chain.append(at)
            at = self.mem.field(at, MDL, "Next")
        check(1 <= len(chain) <= 2, f"an indication's MDL chain of {len(chain)} MDLs")
        for i, link in enumerate(chain):
            info = self.mdls.get(link)
            check(info is not None, f"the NBL's MDL {link:#x} is not one the driver allocated")
            if i == 0 and info.get("nonpaged"):
                continue
            check(info["parent"] is not None, "an NBL's MDL that is neither a header in pool nor a partial MDL of a ring")
        total = sum(self.mdls[link]["len"] for link in chain)
        check(offset + length == total, f"NET_BUFFER of {offset}+{length} bytes over MDLs of {total}")
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
        self.nbls[nbl] = {"pool": pool, "mdls": chain, "indicated": False, "returned": False, "freed": False}
        return nbl

    def h_NdisFreeNetBufferList(self):
        (nbl,) = self.args(1)
        info = self.nbls.get(nbl)
        check(info is not None and not info["freed"], f"NdisFreeNetBufferList({nbl:#x}): unknown or freed")
        check(not info["indicated"] or info["returned"], "an NBL freed while the stack still owns it")
        info["freed"] = True
        self.pools[info["pool"]] -= 1

    def h_NdisMIndicateReceiveNetBufferLists(self):
        miniport, chain, port, count, flags = self.args(5)
        self.adapter(miniport)
        check(bool(flags & NDIS_RECEIVE_FLAGS_DISPATCH_LEVEL) == (self.irql == DISPATCH_LEVEL),
              f"receive flags {flags:#x} at IRQL {self.irql}")
        n, nbl = 0, chain
        while nbl:
            info = self.nbls.get(nbl)
            check(info is not None and not info["freed"] and not info["indicated"], f"indicated NBL {nbl:#x} not fresh")
            check(self.pool_owner.get(info["pool"]) == miniport, "an NBL indicated on another adapter than its pool's")
            check(self.mem.field(nbl, NBL, "SourceHandle") == miniport,
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
            self.indications.append((miniport, nbl, data))
            slots = nbl + NBL.off("NetBufferListInfo")
            rsc = RSC_NBL_INFO.from_buffer_copy(bytes(self.se.mem_read(slots + 8 * NBL_INFO_RSC_OR_USO, 4)))
            check(self.mem.u64(slots + 8 * NBL_INFO_RSC_OR_USO) >> 32 == 0, "NBL information entries beyond their 32 bits")
            r = check_receive_checksum(self.mem.u64(slots + 8 * NBL_INFO_CHECKSUM), version)
            self.indication_info[nbl] = (
                {f: getattr(r, f) for f in ("TcpChecksumSucceeded", "UdpChecksumSucceeded", "IpChecksumSucceeded",
                                            "TcpChecksumValueInvalid", "IpChecksumValueInvalid")},
                (rsc.CoalescedSegCount, rsc.DupAckCount))
            n += 1
            nbl = self.mem.field(nbl, NBL, "Next")
        check(n == count, f"NumberOfNetBufferLists {count}, chain has {n}")
        self.indicate_calls.append(n)

    def read_net_buffer(self, nb):
        """The stack reads a NET_BUFFER's bytes through its MDL chain, from CurrentMdl and
        CurrentMdlOffset."""
        mdl = self.mem.field(nb, NET_BUFFER, "CurrentMdl")
        offset = self.mem.field(nb, NET_BUFFER, "CurrentMdlOffset")
        length = self.mem.field(nb, NET_BUFFER, "DataLength") & 0xFFFFFFFF
        data = b""
        while len(data) < length:
            check(mdl in self.mdls, "NET_BUFFER data beyond its MDL chain")
            info = self.mdls[mdl]
            if info.get("nonpaged"):
                system = info["mapped"]
            else:
                parent = self.mdls[info["parent"]]
                check(parent["locked"] and parent["mapped"], "the stack reads an NBL over unlocked pages")
                system = parent["mapped"] + (info["va"] - parent["va"])
            take = min(length - len(data), info["len"] - offset)
            data += bytes(self.se.mem_read(system + offset, take))
            offset = 0
            mdl = self.mem.field(mdl, MDL, "Next")
        return data

    def returned_by_stack(self, nbls):
        """The stack gives indicated NBLs back (before MiniportReturnNetBufferLists): linked as one
        chain, each returned once."""
        for i, nbl in enumerate(nbls):
            info = self.nbls.get(nbl)
            check(info is not None and info["indicated"] and not info["returned"] and not info["freed"],
                  f"returning NBL {nbl:#x}, which the stack does not hold")
            info["returned"] = True
            self.mem.put(nbl, NBL, "Next", nbls[i + 1] if i + 1 < len(nbls) else 0)

    def held_by_stack(self):
        return [n for n, i in self.nbls.items() if i["indicated"] and not i["returned"]]

    def nbl_info(self, nbl, index):
        return self.mem.u64(nbl + NBL.off("NetBufferListInfo") + 8 * index)

    def sent_by_stack(self, nbls, owner, status):
        """The stack hands `nbls` to the miniport `owner` (before MiniportSendNetBufferLists): each
        in flight until completed once, with `status`; its SEND_INFO_ENTRIES as the stack set
        them, and the DataLength of its first NET_BUFFER, are kept for the checks at completion."""
        for nbl in nbls:
            self.send_in_flight.add(nbl)
            self.send_expected[nbl] = (owner, status)
            self.send_requests[nbl] = {i: self.nbl_info(nbl, i) for i in SEND_INFO_ENTRIES}
            first = self.mem.field(nbl, NBL, "FirstNetBuffer")
            self.send_lengths[nbl] = self.mem.field(first, NET_BUFFER, "DataLength") & 0xFFFFFFFF if first else 0

    def check_completed_untouched(self, nbls):
        """After the send call returned: nothing the driver did once it had completed `nbls`
        wrote into their information entries (each still SEND_INFO_POISON)."""
        for nbl in nbls:
            for i in SEND_INFO_ENTRIES:
                check(self.nbl_info(nbl, i) == SEND_INFO_POISON,
                      f"NBL {nbl:#x}: NetBufferListInfo[{i}] written after NdisMSendNetBufferListsComplete "
                      f"({self.nbl_info(nbl, i):#x}), in an NBL the miniport no longer owns")

    def h_NdisMSendNetBufferListsComplete(self):
        miniport, chain, flags = self.args(3)
        self.adapter(miniport)
        check(bool(flags & NDIS_SEND_COMPLETE_FLAGS_DISPATCH_LEVEL) == (self.irql == DISPATCH_LEVEL),
              f"send-complete flags {flags:#x} at IRQL {self.irql}")

        def expected(nbl):
            owner, status = self.send_expected[nbl]
            check(owner == miniport, f"NBL {nbl:#x} completed on another adapter than it was sent on")
            return status
        done = check_completed_chain(self.mem, chain, self.send_in_flight, expected)
        self.send_in_flight.difference_update(done)
        self.completions.append(done)
        # The completion information as NDIS reads it when the NBL comes back; once NDIS has the
        # NBL, the miniport may no longer write it.
        for nbl in done:
            request = self.send_requests.pop(nbl)
            info = self.completed_info[nbl] = {i: self.nbl_info(nbl, i) for i in SEND_INFO_ENTRIES}
            check_lso_completion(request[NBL_INFO_LSO], info[NBL_INFO_LSO], self.mem.field(nbl, NBL, "Status"),
                                 self.send_lengths.pop(nbl))
            check(info[NBL_INFO_RSC_OR_USO] == request[NBL_INFO_RSC_OR_USO],
                  f"NBL {nbl:#x}: NetBufferListInfo[{NBL_INFO_RSC_OR_USO}] {info[NBL_INFO_RSC_OR_USO]:#x} at "
                  f"completion, {request[NBL_INFO_RSC_OR_USO]:#x} as sent (USO has no completion information)")
            for i in SEND_INFO_ENTRIES:
                self.mem.w64(nbl + NBL.off("NetBufferListInfo") + 8 * i, SEND_INFO_POISON)

    def h_NdisMIndicateStatusEx(self):
        miniport, indication = self.args(2)
        adapter = self.adapter(miniport)
        t, rev, size = self.mem.header(indication)
        check((t, rev) == (NDIS_OBJECT_TYPE_STATUS_INDICATION, 1) and size >= NDIS_STATUS_INDICATION.through(
            "NdisReserved"), f"NDIS_STATUS_INDICATION header {t:#x}/{rev}/{size:#x}")
        check(self.mem.field(indication, NDIS_STATUS_INDICATION, "SourceHandle") == miniport,
              "status indication SourceHandle")
        code = self.mem.field(indication, NDIS_STATUS_INDICATION, "StatusCode") & 0xFFFFFFFF
        buf = self.mem.field(indication, NDIS_STATUS_INDICATION, "StatusBuffer")
        if code == NDIS_STATUS_TASK_OFFLOAD_CURRENT_CONFIG:
            size = self.mem.field(indication, NDIS_STATUS_INDICATION, "StatusBufferSize")
            adapter["offload_configs"].append(self.read_offload(buf, "NDIS_STATUS_TASK_OFFLOAD_CURRENT_CONFIG", size))
            return
        check(code == NDIS_STATUS_LINK_STATE, f"status code {code:#x}")
        check(self.mem.field(indication, NDIS_STATUS_INDICATION, "StatusBufferSize") >= NDIS_LINK_STATE.through(
            "AutoNegotiationFlags"), "link state buffer size")
        lt, lrev, lsize = self.mem.header(buf)
        check((lt, lrev) == (NDIS_OBJECT_TYPE_DEFAULT, 1) and lsize >= NDIS_LINK_STATE.through("AutoNegotiationFlags"),
              "NDIS_LINK_STATE header")
        state = self.mem.field(buf, NDIS_LINK_STATE, "MediaConnectState")
        check(not adapter["links"] or adapter["links"][-1] != state,
              f"link state {state} indicated twice in a row (an up after a down, or the reverse, lost its order)")
        adapter["links"].append(state)
        self.link_states.append(state)

    # ---- NDIS's own IRP handlers (the ones the driver chains in front of) ----
    def ndis_dispatch_handler(self, major):
        def handler():
            device, irp = self.args(2)
            self.ndis_forwarded.append((major, irp))
            stack = self.mem.field(irp, IRP, "CurrentStackLocation")
            minor = self.mem.field(stack, IO_STACK_LOCATION, "MinorFunction")
            adapter = self.adapter_of_fdo(device)

            def complete(status):
                self.mem.put(irp, IRP, "Status", status)
                self.completed_irps[irp] = (status, 0)
                return status
            if major == IRP_MJ_PNP and adapter is not None and minor in (IRP_MN_REMOVE_DEVICE, IRP_MN_SURPRISE_REMOVAL):
                self.pnp_events.append((adapter["handle"], minor))
                if minor == IRP_MN_REMOVE_DEVICE:
                    # NDIS halts the adapter of a removed device, then completes the IRP.
                    def removed():
                        adapter["halted"] = True
                        return complete(STATUS_SUCCESS)
                    action = NdisHaltDeviceSurpriseRemoved if adapter.get("surprise") else NdisHaltDeviceDisabled
                    return self.nested("NDIS: MiniportHaltEx (device removed)", self.chars["HaltHandlerEx"],
                                       [adapter["context"], action], PASSIVE_LEVEL, "system", removed)
                # Surprise removal: NDIS tells the miniport through MiniportDevicePnPEventNotify.
                adapter["surprise"] = True
                event = self.alloc(NET_DEVICE_PNP_EVENT.through("NdisReserved"), "pnp-event")
                self.mem.write(event, bytes([NDIS_OBJECT_TYPE_DEFAULT, 1]) + struct.pack(
                    "<H", NET_DEVICE_PNP_EVENT.through("NdisReserved")))
                self.mem.put(event, NET_DEVICE_PNP_EVENT, "DevicePnPEvent", NdisDevicePnPEventSurpriseRemoved)
                return self.nested("NDIS: MiniportDevicePnPEventNotify(SurpriseRemoved)",
                                   self.chars["DevicePnPEventNotifyHandler"], [adapter["context"], event],
                                   PASSIVE_LEVEL, "system", lambda: complete(STATUS_SUCCESS))
            ok = major in (IRP_MJ_CREATE, IRP_MJ_CLOSE, 0x12) or major == IRP_MJ_PNP
            return complete(STATUS_SUCCESS if ok else STATUS_INVALID_DEVICE_REQUEST)
        return handler

    def write_unload_stub(self, target):
        # NDIS's unload routine calls the miniport's UnloadHandler with the driver object:
        # mov rax, target; jmp rax
        self.mem.write(self.unload_stub, b"\x48\xB8" + struct.pack("<Q", target) + b"\xFF\xE0")


MDL_SIZE = 0x30
NB_SIZE = 0xB0
C_SIZEOF_NBL = 0x90 + 8 * 32
