"""Runs the linked x64 ringtun.sys in speakeasy against the model, step by step (scripts/emulate-sys).

    python run.py IMAGE [--trace]

Each step calls the driver's entry points the way Windows would, then asserts what the model
recorded. The emulator runs one thread at a time; the model schedules the threads (the harness's
calls, the driver's consumer threads, callbacks it runs at chosen points) and switches only at
imports: when one waits, yields, ends, or is interrupted by an interleaving the step armed
(Model.interrupt_after). Races are therefore not found by chance here: each interleaving is
forced at a named point and its outcome checked.
"""
import ctypes
import json
import os
import socket
import struct
import sys

import pefile
import speakeasy
import speakeasy.common

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import model as M  # noqa: E402
import oids as O  # noqa: E402
from layouts import (  # noqa: E402
    DRIVER_OBJECT_SIZE, IO_STACK_LOCATION, IRP, NDIS_OID_REQUEST, NDIS_OID_REQUEST_METHOD,
    NDIS_OID_REQUEST_QUERY, NDIS_STATISTICS_INFO, NET_BUFFER, NET_BUFFER_LIST as NBL, NET_DEVICE_PNP_EVENT,
    OID_REQUEST_DATA, OID_REQUEST_SIZE_REVISION_2)
import layouts as L  # noqa: E402
from seh import SehTable  # noqa: E402

IOCTL_REGISTER_RINGS = 0xCA6CE5C0        # ringtun.h
IOCTL_QUERY_CAPABILITIES = 0xCA6C65C4
# The access each IOCTL declares in the ring contract (its CTL_CODE access bits), and the access
# the driver must ask SeAccessCheck for: reading the capabilities needs FILE_READ_DATA,
# registering rings FILE_READ_DATA | FILE_WRITE_DATA.
DESIRED_ACCESS = {IOCTL_QUERY_CAPABILITIES: M.FILE_READ_DATA, IOCTL_REGISTER_RINGS: M.FILE_READ_DATA | M.FILE_WRITE_DATA}
STATUS_ACCESS_DENIED = 0xC0000022
STATUS_INVALID_HANDLE = 0xC0000008
STATUS_INVALID_USER_BUFFER = 0xC00000E8
STATUS_INVALID_PARAMETER = 0xC000000D
STATUS_DEVICE_NOT_READY = 0xC00000A3
RING_STOPPED = 0xFFFFFFFF
CAPACITY = 0x20000
V1_RING_SIZE = 12 + CAPACITY + 0x10000
V2_RING_SIZE = 128 + CAPACITY + ((8 + 0xFFFF + 7) & ~7) - 8
V2_HEAD, V2_ALERTABLE, V2_TAIL, V2_DATA = 0, 4, 64, 128
DRIVER_VERSION = 1 << 8                  # ring-abi's DRIVER_VERSION: 0.1
MINIPORT_A, MINIPORT_B, MINIPORT_C, MINIPORT_D, MINIPORT_E = 0x6D696E69, 0x6D696E6A, 0x6D696E6B, 0x6D696E6C, 0x6D696E6D
MINIPORT_F, MINIPORT_G = 0x6D696E6E, 0x6D696E6F
MINIPORT_H, MINIPORT_I, MINIPORT_J = 0x6D696E70, 0x6D696E71, 0x6D696E72
# The standardized INF keywords of the task offloads ringtun offers (NDIS: "Standardized INF
# Keywords for TCP/IP Offload"): what a miniport reads from its registry key at initialization.
# The granular ones ("the miniport driver must read all of the granular settings from the
# registry at initialization"), then the grouped checksum keywords ("Using Registry Values to
# Enable and Disable Task Offloading").
STANDARDIZED_OFFLOAD_KEYWORDS = [
    "*IPChecksumOffloadIPv4", "*TCPChecksumOffloadIPv4", "*TCPChecksumOffloadIPv6", "*UDPChecksumOffloadIPv4",
    "*UDPChecksumOffloadIPv6", "*LsoV2IPv4", "*LsoV2IPv6", "*RscIPv4", "*RscIPv6", "*UsoIPv4", "*UsoIPv6",
    "*TCPUDPChecksumOffloadIPv4", "*TCPUDPChecksumOffloadIPv6"]
# The offload extension (ringtun.h): registration flag OFFLOAD, its 16-byte metadata block at slot
# offset 8 (flags, gso_type, hdr_len, gso_size, csum_start, csum_offset, reserved), head room 16.
REGISTRATION_FLAG_OFFLOAD = 2
REGISTRATION_FLAG_WRITE_SPACE = 4
SPACE_WAITING = 68                     # space_waiting in a v2 ring header (ring-abi SPACE_WAITING_OFFSET)
OFFLOAD_HEADROOM = 16
OFFLOAD_F_NEEDS_CSUM, OFFLOAD_F_DATA_VALID = 1, 2
OFFLOAD_GSO_TCPV4, OFFLOAD_GSO_TCPV6, OFFLOAD_GSO_UDP_L4 = 1, 4, 5
V2_OFFLOAD_RING_SIZE = 128 + CAPACITY + ((8 + OFFLOAD_HEADROOM + 0xFFFF + 7) & ~7) - 8
LARGE_SEND_MAX_PAYLOAD = 0xFFFF - 120      # the largest packet less the largest headers the engine cuts
# The encapsulations every Encapsulation field names (ntddndis.h): NULL 1, IEEE_802_3 2,
# IEEE_802_3_P_AND_Q 4, IEEE_802_3_P_AND_Q_IN_OOB 8, IEEE_LLC_SNAP_ROUTED 0x10.
ENCAPSULATIONS = 0x1F


def no_network(*_args, **_kwargs):
    raise RuntimeError("the emulator run must not use the network")


socket.socket = no_network            # speakeasy simulates networking; make sure nothing is real
socket.create_connection = no_network


class Failure(Exception):
    pass


def expect(cond, message):
    if not cond:
        raise Failure(message)


class Harness:
    def __init__(self, image, trace=False):
        cfg_path = os.path.join(os.path.dirname(speakeasy.__file__), "configs", "default.json")
        with open(cfg_path) as f:
            config = json.load(f)
        config["timeout"] = 120
        config["max_api_count"] = 100000
        config["analysis"] = {"memory_tracing": False, "strings": False}
        config["exceptions"] = {"dispatch_handlers": False}
        self.se = speakeasy.Speakeasy(config=config)
        self.module = self.se.load_module(image)
        self.pe = pefile.PE(image)
        base = self.module.base
        self.m = m = M.Model(self.se, base, self.pe.OPTIONAL_HEADER.SizeOfImage, trace)
        m.seh = SehTable(self.pe)
        m.image_module = self.module
        m.ndis_version = 0x00060053
        m.scratch_stack = m.alloc(0x100, "scratch") + 0x80
        m.unload_stub = self.se.mem_alloc(0x1000, tag="model.ndis-unload")
        # Threads start and end through code in mapped memory (jmp r11; jmp [rip]): speakeasy
        # resolves a jump to a stub address from mapped code, not a return from one stub to another.
        m.trampoline = m.unload_stub + 0x800
        m.mem.write(m.trampoline, b"\x41\xFF\xE3")     # jmp r11
        exit_trampoline = m.unload_stub + 0x810
        m.mem.write(exit_trampoline, b"\xFF\x25\x00\x00\x00\x00"
                    + struct.pack("<Q", self.se.emu.get_proc("ntoskrnl", "model_thread_exit")))
        m.exit_stub = exit_trampoline
        self.dispatch_stub = self.se.emu.get_proc("ntoskrnl", "model_dispatch")
        m.ndis_dispatch = [self.se.emu.get_proc("ndis", f"ndisDispatch{i}") for i in range(M.IRP_MJ_MAXIMUM_FUNCTION + 1)]
        for i in range(M.IRP_MJ_MAXIMUM_FUNCTION + 1):
            setattr(m, f"h_ndisDispatch{i}", m.ndis_dispatch_handler(i))
        # ExEventObjectType and PsThreadType are data: each import slot holds the address of a
        # POBJECT_TYPE variable, whose value is the object type.
        m.event_type_object = m.alloc(0x100, "event-type")
        m.thread_type_object = m.alloc(0x100, "thread-type")
        data = {}
        for name, value in (("ExEventObjectType", m.event_type_object), ("PsThreadType", m.thread_type_object)):
            data[name] = m.alloc(8, name)
            m.mem.w64(data[name], value)
        self.imports = []
        for entry in self.pe.DIRECTORY_ENTRY_IMPORT:
            dll = entry.dll.decode().lower().rsplit(".", 1)[0]
            for imp in entry.imports:
                name = imp.name.decode()
                if name in data:
                    m.mem.w64(base + imp.address - self.pe.OPTIONAL_HEADER.ImageBase, data[name])
                    continue
                self.imports.append(name)
                self.hook(name, dll)
        for name, dll in [("WdfDriverCreate", "wdf01000"), ("WdfDriverMiniportUnload", "wdf01000"),
                          ("model_thread_exit", "ntoskrnl"), ("model_dispatch", "ntoskrnl")] + [
                (f"ndisDispatch{i}", "ndis") for i in range(M.IRP_MJ_MAXIMUM_FUNCTION + 1)]:
            self.hook(name, dll)
        self.error = None
        self.step_name = ""
        # `int 3` goes to the model: its kernel has no debugger attached, so a debug break is a
        # bug check of its own (KMODE_EXCEPTION_NOT_HANDLED), reported and stopping the run; every
        # other interrupt keeps speakeasy's handling.
        emu = self.se.emu
        builtin = emu._hook_interrupt

        def interrupt(emu_, intnum, ctx=[]):
            if intnum == 3:
                try:
                    m.debug_break(emu.get_pc())
                except M.ModelError as e:
                    if self.error is None:
                        who = m.current.what if m.current else "no thread"
                        self.error = f"int 3 ({who}): {e}"
                    self.se.stop()
                return True
            return builtin(emu_, intnum, ctx)
        emu._hook_interrupt = interrupt
        for hook in emu.hooks.get(speakeasy.common.HOOK_INTERRUPT, []):
            if hook.cb == builtin:
                hook.cb = interrupt

    def hook(self, name, dll):
        # speakeasy continues an import it implements itself only where the handler left the
        # registers (it then pops the return address); for one it does not implement, it pops the
        # return address the handler leaves on the stack. A handler that switched threads leaves
        # the next thread's return slot at rsp: for the first kind the pop is made here.
        _, implemented = self.se.emu.api.get_export_func_handler(dll, name)
        checked = name in M.IRQL_RULES

        def cb(emu, api_name, func, params):
            m = self.m
            try:
                handler = getattr(m, "h_" + name, None)
                if handler is None:
                    raise M.ModelError(f"{api_name}: the model has no handler (a new import needs one)")
                if checked:
                    m.before_import(name)
                args = m.args(8)
                result = handler()
                if result is not M.SWITCHED:
                    result = m.after_import(name, args, result)
                if result is M.SWITCHED:
                    if implemented:
                        rsp = m.reg("rsp")
                        m.set_reg("rip", m.mem.u64(rsp))
                        m.set_reg("rsp", rsp + 8)
                    return None
                return result
            except M.ModelError as e:
                if self.error is None:
                    who = m.current.what if m.current else "no thread"
                    self.error = f"{name} ({who}): {e}"
                self.se.stop()
                return 0
        self.se.add_api_hook(cb, "*", name, argc=8, call_conv=speakeasy.winenv.arch.CALL_CONV_CDECL)

    def run(self):
        """Runs ready threads until none is."""
        self.error = None
        self.se.call(self.dispatch_stub, [])
        run = self.se.emu.curr_run
        if self.error:
            raise Failure(self.error)
        if run.error and str(run.error.get("type", "")).startswith("invalid_protect"):
            raise Failure(f"{run.error.get('type')} at {run.error.get('pc')} (address {run.error.get('address')}): "
                          f"the driver touched a ring after its pages were unlocked and unmapped")
        if run.error:
            raise Failure(f"emulation error {run.error.get('type')} at {run.error.get('pc')}: "
                          f"{run.error.get('api_name', '')} {run.error.get('traceback', '')[-600:]}")
        expect(self.m.current is None, "the emulator run ended inside a thread")

    def start(self, what, addr, *args, irql=M.PASSIVE_LEVEL, process="system", token=None, irp=None, callback=None):
        """Starts `addr(*args)` as a new thread (first in line) and runs until no thread is ready."""
        if callback is not None:
            low, high = M.callback_irql(callback, args)
            expect(low <= irql <= high, f"the harness calls {callback} at IRQL {irql} (ndis.h: {low}..{high})")
        thread = self.m.new_thread(what, addr, args, irql, process, kind="root", front=True, token=token, irp=irp)
        self.run()
        return thread

    def call(self, what, addr, *args, **kw):
        """`start`, and the thread must have returned; its return value."""
        thread = self.start(what, addr, *args, **kw)
        expect(thread.state == "exited", f"{what} did not return: {thread.state}, waiting on {thread.waiting}")
        return thread.result & 0xFFFFFFFFFFFFFFFF


def main():
    image = sys.argv[1]
    trace = "--trace" in sys.argv
    h = Harness(image, trace)
    m = h.m
    steps = []

    def step(name):
        steps.append(name)
        h.step_name = name
        print(f"emulate-sys: {name}")

    # ---- DriverEntry (through the KMDF entry stub) ----
    step("DriverEntry (every import has its header's IRQL rule)")
    missing = sorted(n for n in h.imports if n not in M.IRQL_RULES)
    expect(not missing, f"imports without an IRQL rule in the model: {missing}")
    m.driver_object = m.alloc(DRIVER_OBJECT_SIZE, "driver-object")
    m.registry_path = m.alloc(0x10, "registry-path")
    path = "\\Registry\\Machine\\System\\CurrentControlSet\\Services\\ringtun".encode("utf-16-le")
    buf = m.alloc(len(path) + 2, "registry-path-buffer")
    m.se.mem_write(buf, path)
    m.se.mem_write(m.registry_path, struct.pack("<HHIQ", len(path), len(path) + 2, 0, buf))
    entry = m.image[0] + h.pe.OPTIONAL_HEADER.AddressOfEntryPoint
    status = h.call("DriverEntry", entry, m.driver_object, m.registry_path)
    expect(status == 0, f"DriverEntry returned {status:#x}")
    expect(m.kmdf_bound and m.wdf_driver and m.chars and m.process_notify, "DriverEntry did not bind, create, register")
    expect(m.chars_revision == 3, "NDIS 6.83 system: characteristics revision 3 expected")
    mj = [m.mem.u64(m.driver_object + 0x70 + 8 * i) for i in range(M.IRP_MJ_MAXIMUM_FUNCTION + 1)]
    for major in (M.IRP_MJ_DEVICE_CONTROL, M.IRP_MJ_CLOSE, M.IRP_MJ_PNP):
        expect(m.in_image(mj[major]), f"IRP_MJ {major:#x} not chained to the driver")
    expect(mj[M.IRP_MJ_CREATE] == m.ndis_dispatch[M.IRP_MJ_CREATE], "IRP_MJ_CREATE must stay NDIS's")
    m.driver_entry_done = True
    # A NoDispatchOverride driver without EvtDriverUnload: the KMDF stub leaves NDIS's unload
    # routine in place and unbinds through WdfDriverMiniportUnloadOverride instead.
    expect(m.mem.u64(m.driver_object + 0x68) == m.unload_stub, "the KMDF stub replaced NDIS's unload routine")
    ch = m.chars

    # ---- adapters ----
    def initialize(handle, registry=None):
        adapter = m.new_adapter(handle, m.alloc(0x150, "fdo"), registry)
        status = h.call("MiniportInitializeEx", ch["InitializeHandlerEx"], handle, 0, m.alloc(0x100, "init"),
                        callback="InitializeHandlerEx")
        expect(status == 0, f"MiniportInitializeEx returned {status:#x}")
        expect(adapter["context"] and adapter["general"] and adapter["pool"], "attributes and pool")
        expect(not m.configurations, "the adapter's configuration was left open")
        status = h.call("MiniportRestart", ch["RestartHandler"], adapter["context"], m.alloc(0x40, "restart"),
                        callback="RestartHandler")
        expect(status == 0, f"MiniportRestart returned {status:#x}")
        return adapter

    step("MiniportInitializeEx and MiniportRestart (the thirteen standardized offload keywords read, eleven granular "
         "and two grouped, none set)")
    A = initialize(MINIPORT_A)
    expect(sorted(A["keywords_read"]) == sorted(STANDARDIZED_OFFLOAD_KEYWORDS),
           f"keywords read at initialization: {A['keywords_read']}")
    expect(sorted(A["oids"]) == sorted(O.WINTUN_SUPPORTED + O.RINGTUN_EXTRA_SUPPORTED),
           f"supported OID list {sorted(map(hex, A['oids']))}: Wintun's 17 and ringtun's 7 documented additions "
           f"(docs/oids.md) expected")
    expect(A["general"]["SupportedPacketFilters"] == O.SUPPORTED_PACKET_FILTERS["ringtun"],
           f"SupportedPacketFilters {A['general']['SupportedPacketFilters']:#x}")

    # ---- IRP plumbing ----
    files = {"client": m.alloc(0x100, "file-object")}

    def irp(major, code=0, input_=b"", output_len=0, requestor_mode=M.UserMode, minor=0, adapter=None,
            file="client", bits32=False, process="client"):
        adapter = adapter or A
        size = max(len(input_), output_len)
        buffer = m.alloc(max(size, 16), "system-buffer")
        m.se.mem_write(buffer, input_)
        i = m.alloc(0xD0 + 0x48 * 2, "irp")
        stack = i + 0xD0 + 0x48
        m.mem.put(i, IRP, "SystemBuffer", buffer)
        m.mem.put(i, IRP, "RequestorMode", requestor_mode)
        m.mem.put(i, IRP, "CurrentStackLocation", stack)
        m.mem.put(i, IRP, "StackCount", 2)
        m.mem.put(i, IRP, "CurrentLocation", 2)
        m.mem.put(i, IRP, "Status", 0x103)
        m.mem.put(stack, IO_STACK_LOCATION, "MajorFunction", major)
        m.mem.put(stack, IO_STACK_LOCATION, "MinorFunction", minor)
        m.mem.put(stack, IO_STACK_LOCATION, "OutputBufferLength", output_len)
        m.mem.put(stack, IO_STACK_LOCATION, "InputBufferLength", len(input_))
        m.mem.put(stack, IO_STACK_LOCATION, "IoControlCode", code)
        m.mem.put(stack, IO_STACK_LOCATION, "FileObject", files[file])
        m.mem.put(stack, IO_STACK_LOCATION, "DeviceObject", adapter["fdo"])
        m.irps[i] = {"mode": requestor_mode, "bits32": bits32, "process": process}
        return i, buffer

    def dispatch_entry(major):
        return m.mem.u64(m.driver_object + 0x70 + 8 * major)

    def dispatch(what, major, *a, token=None, **k):
        i, buffer = irp(major, *a, **k)
        checks = len(m.access_checks)
        adapter = k.get("adapter") or A
        ret = h.call(what, dispatch_entry(major), adapter["fdo"], i, process=k.get("process", "client"), token=token,
                     irp=i) & 0xFFFFFFFF
        code = a[0] if a else k.get("code", 0)
        if major == M.IRP_MJ_DEVICE_CONTROL and code in DESIRED_ACCESS and k.get("requestor_mode", M.UserMode) == M.UserMode:
            # Every ringtun request from user mode is access-checked once, for the access it declares.
            expect(len(m.access_checks) == checks + 1, f"{what}: SeAccessCheck not called once")
            desired = m.access_checks[-1][0]
            expect(desired == DESIRED_ACCESS[code],
                   f"{what}: asked SeAccessCheck for {desired:#x}, the IOCTL declares {DESIRED_ACCESS[code]:#x}")
        else:
            expect(len(m.access_checks) == checks, f"{what}: SeAccessCheck called for a request that is not ringtun's")
        expect(i in m.completed_irps, f"{what}: IRP not completed")
        status, info = m.completed_irps[i]
        expect(ret == status, f"{what}: returned {ret:#x} but completed with {status:#x}")
        return status, info, buffer

    step("IRP_MJ_CREATE (NDIS's handler, untouched)")
    status, _, _ = dispatch("IRP_MJ_CREATE", M.IRP_MJ_CREATE)
    expect(status == 0 and m.ndis_forwarded[-1][0] == M.IRP_MJ_CREATE, "create goes to NDIS")

    step("capability IOCTL (SeAccessCheck for FILE_READ_DATA)")
    status, info, buffer = dispatch("capabilities", M.IRP_MJ_DEVICE_CONTROL, IOCTL_QUERY_CAPABILITIES, b"", 28)
    expect(status == 0 and info == 28, f"capabilities: {status:#x}, {info} bytes")
    expect(m.access_checks[-1][2:] == (M.FILE_READ_DATA, 0), f"capabilities: SeAccessCheck {m.access_checks[-1]}")
    caps = struct.unpack("<IIIHHIII", bytes(m.se.mem_read(buffer, 28)))
    # Supported registration flags: RECEIVE_SPLIT 1, OFFLOAD 2, WRITE_SPACE 4 (ringtun.h).
    expect(caps[:3] == (28, 2, 7) and caps[3:5] == (4096, 4096) and caps[5:7] == (0x20000, 0x4000000),
           f"capabilities {caps}")

    step("capability IOCTL refused to a standard user (no ACE grants FILE_READ_DATA)")
    status, _, _ = dispatch("capabilities, standard user", M.IRP_MJ_DEVICE_CONTROL, IOCTL_QUERY_CAPABILITIES, b"", 28,
                            token=M.Token.standard_user())
    expect(status == STATUS_ACCESS_DENIED, f"capabilities, standard user: {status:#x}")
    expect(m.access_checks[-1][2:] == (0, STATUS_ACCESS_DENIED),
           f"capabilities, standard user: SeAccessCheck {m.access_checks[-1]}")

    step("unknown IOCTL (passed to NDIS)")
    forwarded = len(m.ndis_forwarded)
    status, _, _ = dispatch("unknown IOCTL", M.IRP_MJ_DEVICE_CONTROL, 0x00220004, b"\0" * 8, 8)
    expect(len(m.ndis_forwarded) == forwarded + 1 and status == M.STATUS_INVALID_DEVICE_REQUEST,
           "an unknown IOCTL must reach NDIS's handler untouched")

    # ---- rings ----
    user_base = [0x10000000]

    def ring(size):
        start = user_base[0]
        alias = m.alloc(size + 0x1000, "ring-system-view")
        # The client's view and the kernel's system view are the same bytes: model them as one
        # buffer whose user address range translates to the system mapping.
        m.user_ranges.append((start, start + size, alias))
        user_base[0] += (size + 0xFFFF) & ~0xFFFF
        return start, alias

    def free_ring(start):
        """The client frees the ring's memory: its addresses no longer translate."""
        m.user_ranges[:] = [r for r in m.user_ranges if r[0] != start]

    next_handle = [0x104]

    def event_handle():
        """A client event (CreateEvent(NULL, FALSE, FALSE, NULL): auto-reset, as Wintun's client
        creates them) and its handle in the client's handle table."""
        handle = next_handle[0]
        next_handle[0] += 4
        obj = m.alloc(0x18, "client-event")
        m.mem.write(obj, bytes([1, 0, 6, 0]) + b"\0" * 20)
        m.handles[handle] = obj
        m.events[obj] = "client"
        return handle

    def register(what, payload, bits32=False, adapter=None, file="client", token=None):
        return dispatch(what, M.IRP_MJ_DEVICE_CONTROL, IOCTL_REGISTER_RINGS, payload, 0, bits32=bits32, adapter=adapter,
                        file=file, token=token)

    def nothing_held():
        expect(not any(v["locked"] for v in m.mdls.values()), "ring pages still locked")
        expect(not m.mdls, "MDLs not freed")
        expect(all(v == 0 for v in m.refs.values()), "client events still referenced")
        expect(all(t.state == "closed" for t in m.threads.values()), "a system thread not ended and closed")

    def close(what, adapter=None, file="client"):
        status, _, _ = dispatch(what, M.IRP_MJ_CLOSE, adapter=adapter, file=file)
        expect(status == 0, f"{what}: {status:#x}")
        nothing_held()

    def refused(what, token, reason):
        """A registration by `token` must be refused by SeAccessCheck itself (not before it)."""
        checks = len(m.access_checks)
        status, _, _ = register(what, v1, token=token)
        expect(status == STATUS_ACCESS_DENIED, f"{what}: {status:#x}")
        expect(len(m.access_checks) == checks + 1, f"{what}: SeAccessCheck not called once")
        desired, mode, granted, check_status = m.access_checks[-1]
        expect(desired == DESIRED_ACCESS[IOCTL_REGISTER_RINGS] and mode == M.UserMode, f"{what}: asked {desired:#x} in mode {mode}")
        expect(check_status == STATUS_ACCESS_DENIED and granted == 0, f"{what}: SeAccessCheck did not deny ({reason})")
        expect(not m.mdls and not m.threads, f"{what}: a refused caller left state behind")

    def consumer_of(session_threads_before):
        new = [t for t in m.threads.values() if t not in session_threads_before]
        expect(len(new) == 1, f"{len(new)} new system threads, one consumer expected")
        return new[0]

    (s_ptr, _), (r_ptr, _) = ring(V1_RING_SIZE), ring(V1_RING_SIZE)
    send_h, recv_h = event_handle(), event_handle()
    v1 = struct.pack("<IIQQIIQQ", V1_RING_SIZE, 0, s_ptr, send_h, V1_RING_SIZE, 0, r_ptr, recv_h)
    step("non-admin caller refused (SeAccessCheck: no allow ACE for a standard user)")
    refused("non-admin registration", M.Token.standard_user(), "no ACE grants a standard user")
    step("UAC-filtered administrator refused (Administrators deny-only, medium integrity)")
    refused("filtered-admin registration", M.Token.filtered_admin(), "a deny-only group grants nothing")
    step("administrator at medium integrity refused (the label's NO_WRITE_UP)")
    refused("medium-integrity admin registration", M.Token.medium_admin(), "no write up to a high label")

    step("v1 registration, 64-bit layout, and close")
    before = set(m.threads.values())
    status, _, _ = register("v1 64-bit", v1)
    expect(status == 0, f"v1 64-bit registration: {status:#x}")
    expect(m.access_checks[-1][2:] == (DESIRED_ACCESS[IOCTL_REGISTER_RINGS], 0), f"admin: SeAccessCheck {m.access_checks[-1]}")
    consumer = consumer_of(before)
    expect(sum(v["locked"] for v in m.mdls.values()) == 2, "two rings locked")
    expect(consumer.state == "blocked" and consumer.waiting[0] == "events" and consumer.waiting[2],
           f"the consumer should sleep (a timed wait) on the idle ring: {consumer.state} {consumer.waiting}")
    expect(m.mem.u32(m.translate(r_ptr, 12) + 8) == 1, "the sleeping consumer did not set the Receive ring alertable")
    expect(A["links"][-1] == M.MediaConnectStateConnected, "link up after registration")
    close("IRP_MJ_CLOSE after v1 64-bit")
    expect(A["links"][-1] == M.MediaConnectStateDisconnected, "link down after close")

    step("close under load: the consumer (priority 1) is raised above every variable priority before teardown "
         "waits for it")
    expect(consumer.priorities == [1, M.LOW_REALTIME_PRIORITY],
           f"consumer priorities {consumer.priorities}: 1 from its creation, then LOW_REALTIME_PRIORITY (16) "
           f"before the join")
    joins = [(w, p) for w, t, p in m.joins if t is consumer]
    expect(joins and joins[0][1] == M.LOW_REALTIME_PRIORITY and joins[0][0].kind == "root",
           f"teardown waited for the consumer at priority {joins[0][1] if joins else None}")
    raised_at = next(i for i, (tid, name) in enumerate(m.calls) if name == "KeSetPriorityThread"
                     and tid == joins[0][0].tid)
    waited_at = next(i for i, (tid, name) in enumerate(m.calls) if name == "ZwWaitForSingleObject"
                     and tid == joins[0][0].tid)
    expect(raised_at < waited_at, "the priority was raised after the wait began")

    step("v1 registration, 32-bit layout (WOW64 caller)")
    (s32, _), (r32, _) = ring(V1_RING_SIZE), ring(V1_RING_SIZE)
    v1_32 = struct.pack("<IIIIII", V1_RING_SIZE, s32, send_h, V1_RING_SIZE, r32, recv_h)
    status, _, _ = register("v1 32-bit", v1_32, bits32=True)
    expect(status == 0, f"v1 32-bit registration: {status:#x}")

    def process_exit(what, process="client"):
        return h.call(what, m.process_notify, 0, m.pids[process], 0, process=process)

    step("the client process exits: the notification ends its session")
    process_exit("process exit")
    nothing_held()
    expect(A["links"][-1] == M.MediaConnectStateDisconnected, "link down after the session ended")
    close("IRP_MJ_CLOSE after the process exit")

    step("registration with a bad ring pointer (probe raises, SEH catches)")
    threads = len(m.threads)
    (s2, _) = ring(V2_RING_SIZE)
    bad = 0x7FF00000                      # page-aligned, never mapped for the client

    def v2_payload(send, send_event, receive, receive_event, flags=0):
        return struct.pack("<IIIHHQQIHHQQ", 2, flags, V2_RING_SIZE, 0, 0, send, send_event, V2_RING_SIZE, 0, 0,
                           receive, receive_event)

    status, _, _ = register("bad pointer", v2_payload(s2, send_h, bad, recv_h))
    expect(status == STATUS_INVALID_USER_BUFFER, f"bad pointer: {status:#x}")
    expect(m.raised == [M.STATUS_ACCESS_VIOLATION], "the probe's exception was not raised/caught")
    expect(not m.mdls and all(v == 0 for v in m.refs.values()) and len(m.threads) == threads,
           "a refused registration left state")

    step("registration with an event handle the client does not have")
    (r2, _) = ring(V2_RING_SIZE)
    status, _, _ = register("bad handle", v2_payload(s2, send_h, r2, 0x1FC))
    expect(status == STATUS_INVALID_HANDLE, f"bad handle: {status:#x}")
    expect(not m.mdls and all(v == 0 for v in m.refs.values()) and len(m.threads) == threads,
           "a refused registration left state")

    step("stale registration (events closed, memory freed): STATUS_INVALID_HANDLE, as Wintun, before any probe")
    (s3, _), (r3, _) = ring(V2_RING_SIZE), ring(V2_RING_SIZE)
    stale_send, stale_recv = event_handle(), event_handle()
    stale = v2_payload(s3, stale_send, r3, stale_recv)
    for handle in (stale_send, stale_recv):
        del m.handles[handle]
    free_ring(s3)
    free_ring(r3)
    probes = len(m.probes)
    status, _, _ = register("stale registration", stale)
    expect(status == STATUS_INVALID_HANDLE, f"stale registration: {status:#x} (STATUS_INVALID_HANDLE expected: the "
                                            f"events are referenced before the rings are probed)")
    expect(len(m.probes) == probes, "a ring was probed before its event was referenced")
    expect(not m.mdls and all(v == 0 for v in m.refs.values()) and len(m.threads) == threads,
           "a refused registration left state")

    step("the Receive ring's event named again (for the Send ring, one handle or two; as the write-space event): "
         "STATUS_INVALID_PARAMETER, compared after every event is referenced and before any ring is probed")
    (s4, _), (r4, _) = ring(V2_RING_SIZE), ring(V2_RING_SIZE)
    shared_event, other_event = event_handle(), event_handle()
    duplicate = next_handle[0]                          # DuplicateHandle: another handle, the same object
    next_handle[0] += 4
    m.handles[duplicate] = m.handles[shared_event]
    for what, payload, events in (
            ("one handle for both rings", v2_payload(s4, shared_event, r4, shared_event), 2),
            ("two handles to one event", v2_payload(s4, shared_event, r4, duplicate), 2),
            ("the Receive ring's event as the write-space event",
             v2_payload(s4, other_event, r4, shared_event, REGISTRATION_FLAG_WRITE_SPACE)
             + struct.pack("<Q", duplicate), 3)):
        probes = len(m.probes)
        references = sum(1 for _, name in m.calls if name == "ObReferenceObjectByHandle")
        status, _, _ = register(what, payload)
        expect(status == STATUS_INVALID_PARAMETER, f"{what}: {status:#x} (STATUS_INVALID_PARAMETER expected)")
        expect(len(m.probes) == probes, f"{what}: a ring was probed before the events were compared")
        referenced = sum(1 for _, name in m.calls if name == "ObReferenceObjectByHandle") - references
        expect(referenced == events, f"{what}: {referenced} event references taken, {events} expected before the "
                                     f"comparison")
        expect(not m.mdls and all(v == 0 for v in m.refs.values()) and len(m.threads) == threads,
               f"{what}: a refused registration left state")
    del m.handles[duplicate]

    def v2_session(what, adapter=None, file="client", flags=0):
        """A v2 registration of fresh rings and events; returns the session's facts."""
        (sp, ss), (rp, rs) = ring(V2_RING_SIZE), ring(V2_RING_SIZE)
        se_, re_ = event_handle(), event_handle()
        before = set(m.threads.values())
        status, _, _ = register(what, v2_payload(sp, se_, rp, re_, flags), adapter=adapter, file=file)
        expect(status == 0, f"{what}: {status:#x}")
        consumer = consumer_of(before)
        return {"send": ss, "receive": rs, "send_event": m.handles[se_], "receive_event": m.handles[re_],
                "consumer": consumer, "tail": 0, "adapter": adapter or A, "send_ptr": sp, "receive_ptr": rp}

    step("v2 registration")
    S = v2_session("v2")
    expect(S["consumer"].priorities == [1], f"consumer priorities {S['consumer'].priorities}: 1 expected")
    expect(S["consumer"].state == "blocked" and m.delays > 0,
           "the consumer spun for a new tail without yielding (KeDelayExecutionThread), or did not sleep")

    # ---- MiniportSendNetBufferLists ----
    step("MiniportSendNetBufferLists (NBL chain -> Send ring)")

    def ipv4(n, fill):
        total = 20 + n
        return bytes([0x45, 0, total >> 8, total & 0xFF]) + b"\0" * 16 + bytes([fill]) * n

    def build_chain(packets_per_nbl):
        nbls, expected_packets, prev = [], [], 0
        for packets in packets_per_nbl:
            nbl = m.alloc(M.C_SIZEOF_NBL, "send-nbl")
            m.mem.put(nbl, NBL, "Status", 0xDEADBEEF)       # must be overwritten
            prev_nb = 0
            for p in packets:
                nb = m.alloc(0xB0, "send-nb")
                # Two MDLs per packet, the first 12 bytes in one, the rest in the next, with a
                # 4-byte offset into the first: the driver must walk CurrentMdl/CurrentMdlOffset.
                data = b"\xEE" * 4 + p
                mem1 = m.alloc(16, "send-data")
                mem2 = m.alloc(len(data), "send-data")
                m.se.mem_write(mem1, data[:16])
                m.se.mem_write(mem2, data[16:])
                mdl1, mdl2 = m.alloc(0x30, "send-mdl"), m.alloc(0x30, "send-mdl")
                for mdl, va, n, nxt in ((mdl1, mem1, 16, mdl2), (mdl2, mem2, len(data) - 16, 0)):
                    m.mem.put(mdl, M.MDL, "Next", nxt)
                    m.mem.put(mdl, M.MDL, "MappedSystemVa", va)
                    m.mem.put(mdl, M.MDL, "StartVa", va & ~0xFFF)
                    m.mem.put(mdl, M.MDL, "ByteOffset", va & 0xFFF)
                    m.mem.put(mdl, M.MDL, "ByteCount", n)
                    m.mem.put(mdl, M.MDL, "MdlFlags", 0x4)       # MDL_SOURCE_IS_NONPAGED_POOL
                m.mem.put(nb, NET_BUFFER, "MdlChain", mdl1)
                m.mem.put(nb, NET_BUFFER, "CurrentMdl", mdl1)
                m.mem.put(nb, NET_BUFFER, "CurrentMdlOffset", 4)
                m.mem.put(nb, NET_BUFFER, "DataOffset", 4)
                m.mem.put(nb, NET_BUFFER, "DataLength", len(p))
                if prev_nb:
                    m.mem.put(prev_nb, NET_BUFFER, "Next", nb)
                else:
                    m.mem.put(nbl, NBL, "FirstNetBuffer", nb)
                prev_nb = nb
                expected_packets.append(p)
            if prev:
                m.mem.put(prev, NBL, "Next", nbl)
            prev = nbl
            nbls.append(nbl)
        return nbls, expected_packets

    def hand_to_miniport(nbls, status, adapter):
        m.sent_by_stack(nbls, adapter["handle"], status)

    def send(nbls, status, irql=M.PASSIVE_LEVEL, adapter=None, what="MiniportSendNetBufferLists"):
        adapter = adapter or A
        hand_to_miniport(nbls, status, adapter)
        before = len(m.completions)
        flags = 1 if irql == M.DISPATCH_LEVEL else 0     # NDIS_SEND_FLAGS_DISPATCH_LEVEL
        h.call(what, ch["SendNetBufferListsHandler"], adapter["context"], nbls[0], 0, flags, irql=irql,
               callback="SendNetBufferListsHandler")
        expect(len(m.completions) == before + 1 and m.completions[-1] == nbls, "each NBL completed exactly once")
        expect(not m.send_in_flight, "NBLs left uncompleted")
        m.check_completed_untouched(nbls)

    def send_ring_packets(session, offset):
        s_sys = session["send"]
        tail, got = m.mem.u32(s_sys + V2_TAIL), []
        while offset < tail:
            size, data_offset, length = struct.unpack("<IHH", bytes(m.se.mem_read(s_sys + V2_DATA + offset, 8)))
            expect(data_offset == 8 and size == (8 + length + 7) & ~7, "v2 slot header (no room registered)")
            got.append(bytes(m.se.mem_read(s_sys + V2_DATA + offset + data_offset, length)))
            offset += size
        return got, tail

    m.se.mem_write(S["send"] + V2_ALERTABLE, struct.pack("<I", 1))      # Send ring alertable: the client sleeps
    nbls, packets = build_chain([[ipv4(40, 1), ipv4(100, 2)], [ipv4(1300, 3)]])
    sets = len(m.set_events)
    send(nbls, M.NDIS_STATUS_SUCCESS)
    got, tail = send_ring_packets(S, 0)
    expect(got == packets, f"Send ring holds {len(got)} packets, not the {len(packets)} sent, or other bytes")
    expect(S["send_event"] in m.set_events[sets:], "the client's Send event was not signalled although alertable")

    step("MiniportSendNetBufferLists at DISPATCH_LEVEL (completion flags follow the IRQL)")
    nbls, packets = build_chain([[ipv4(20, 4)], [ipv4(21, 5)], [ipv4(22, 6)]])
    send(nbls, M.NDIS_STATUS_SUCCESS, irql=M.DISPATCH_LEVEL)
    got, _ = send_ring_packets(S, tail)
    expect(got == packets, "packets sent at DISPATCH_LEVEL missing from the Send ring")

    # ---- Receive ring -> consumer thread -> NdisMIndicateReceiveNetBufferLists ----
    def publish(session, packet, signal=True):
        """The client writes one packet at its tail and publishes it; it signals the Receive
        event when it sees the consumer alertable (and `signal`), as a fenced client does."""
        r_sys = session["receive"]
        slot = (8 + len(packet) + 7) & ~7
        at = session["tail"]
        m.se.mem_write(r_sys + V2_DATA + at, struct.pack("<IHH", slot, 8, len(packet)) + packet)
        session["tail"] = at + slot
        m.se.mem_write(r_sys + V2_TAIL, struct.pack("<I", session["tail"]))
        if signal and m.mem.u32(r_sys + V2_ALERTABLE):
            m.signal(session["receive_event"])

    def head(session):
        return m.mem.u32(session["receive"] + V2_HEAD)

    def return_nbls(what, nbls, adapter=None, irql=M.DISPATCH_LEVEL):
        adapter = adapter or A
        m.returned_by_stack(nbls)
        h.call(what, ch["ReturnNetBufferListsHandler"], adapter["context"], nbls[0], 1 if irql else 0, irql=irql,
               callback="ReturnNetBufferListsHandler")
        for nbl in nbls:
            expect(m.nbls[nbl]["freed"], f"returned NBL {nbl:#x} not freed")

    step("Receive ring -> NdisMIndicateReceiveNetBufferLists (the client signals the sleeping consumer)")
    packet = ipv4(60, 7)
    expect(m.mem.u32(S["receive"] + V2_ALERTABLE) == 1, "the consumer is not alertable while it sleeps")
    publish(S, packet)
    h.run()
    expect(len(m.indications) == 1 and m.indications[0][2] == packet, "the Receive ring packet was not indicated")
    expect(head(S) == 0, "head moved before the stack returned the NBL")
    expect(S["consumer"].state == "blocked", "the consumer did not go back to sleep")

    step("MiniportReturnNetBufferLists (head advances)")
    return_nbls("MiniportReturnNetBufferLists", [m.indications[0][1]])
    expect(head(S) == S["tail"], f"Receive head {head(S):#x}, expected {S['tail']:#x} after the return")

    # ---- OIDs ----
    def build_oid_request(request_type, oid, data=b"", length=None, method_id=0):
        """An NDIS_OID_REQUEST (revision 2) laid out in the arm of DATA its type selects (ndis.h,
        WDK 10.0.16299: NDIS_OID_REQUEST::DATA): for a query or set, `data` in a buffer of `length`
        bytes; for a method (NdisRequestMethod), `data` as the input (InputBufferLength) and
        `length` as OutputBufferLength, with `method_id`. The counts the miniport fills in
        (BytesWritten, BytesRead, BytesNeeded) hold stale values. Returns (request, DATA, buffer)."""
        length = len(data) if length is None else length
        method = request_type == M.NdisRequestMethod
        size = max(length, len(data)) if method else length
        request = m.alloc(OID_REQUEST_SIZE_REVISION_2, "oid-request")
        buffer = m.alloc(max(size, 16), "oid-buffer") if size or data else 0
        if data:
            m.se.mem_write(buffer, data)
        m.mem.write(request, bytes([M.NDIS_OBJECT_TYPE_OID_REQUEST, M.NDIS_OID_REQUEST_REVISION_2])
                    + struct.pack("<H", OID_REQUEST_SIZE_REVISION_2))
        m.mem.put(request, NDIS_OID_REQUEST, "RequestType", request_type)
        base = request + OID_REQUEST_DATA
        if method:
            for field, value in (("Oid", oid), ("InformationBuffer", buffer), ("InputBufferLength", len(data)),
                                 ("OutputBufferLength", length), ("MethodId", method_id),
                                 ("BytesWritten", 0xDEADBEEF), ("BytesRead", 0xDEADBEEF),
                                 ("BytesNeeded", 0xDEADBEEF)):
                m.mem.put(base, NDIS_OID_REQUEST_METHOD, field, value)
        else:
            for field, value in (("Oid", oid), ("InformationBuffer", buffer), ("InformationBufferLength", length),
                                 ("BytesWritten", 0xDEADBEEF), ("BytesNeeded", 0xDEADBEEF)):
                m.mem.put(base, NDIS_OID_REQUEST_QUERY, field, value)
        return request, base, buffer

    def oid_request(what, handler, request_type, oid, data=b"", length=None, irql=M.PASSIVE_LEVEL,
                    adapter=None):
        """A query or set request (build_oid_request) through `handler`: (status, BytesWritten or
        BytesRead, BytesNeeded, the buffer's bytes)."""
        adapter = adapter or A
        length = len(data) if length is None else length
        request, base, buffer = build_oid_request(request_type, oid, data, length)
        status = h.call(what, ch[handler], adapter["context"], request, irql=irql, callback=handler) & 0xFFFFFFFF
        written = m.mem.field(base, NDIS_OID_REQUEST_QUERY, "BytesWritten")
        needed = m.mem.field(base, NDIS_OID_REQUEST_QUERY, "BytesNeeded")
        out = bytes(m.se.mem_read(buffer, length)) if buffer and length else b""
        return status, written, needed, out

    def untouched_request(what, handler, request_type, oid, data=b"", length=16, irql=M.PASSIVE_LEVEL):
        """A request `handler` must refuse without writing: its status; every byte of the request
        and of its buffer must be as the caller left them (for a method request, in particular,
        the caller's InputBufferLength, OutputBufferLength and MethodId)."""
        request, base, buffer = build_oid_request(request_type, oid, data, length, method_id=0x5A5A)
        size = max(length, len(data))

        def image():
            return (bytes(m.se.mem_read(request, OID_REQUEST_SIZE_REVISION_2)),
                    bytes(m.se.mem_read(buffer, size)) if buffer and size else b"")
        before = image()
        status = h.call(what, ch[handler], A["context"], request, irql=irql, callback=handler) & 0xFFFFFFFF
        if request_type == M.NdisRequestMethod:
            inputs = tuple(m.mem.field(base, NDIS_OID_REQUEST_METHOD, f)
                           for f in ("InputBufferLength", "OutputBufferLength", "MethodId"))
            expect(inputs == (len(data), length, 0x5A5A),
                   f"{what}: the caller's InputBufferLength, OutputBufferLength, MethodId became {inputs}, "
                   f"expected {(len(data), length, 0x5A5A)} (the method arm of DATA written through the query arm?)")
        after = image()
        changed = [i for i, (x, y) in enumerate(zip(before[0], after[0])) if x != y]
        expect(not changed, f"{what}: request bytes changed at offsets {[hex(i) for i in changed]}")
        expect(before[1] == after[1], f"{what}: the information buffer was written")
        return status

    def query(oid, length=256, handler="OidRequestHandler", irql=M.PASSIVE_LEVEL, adapter=None):
        return oid_request(f"query {O.NAMES.get(oid, hex(oid))}", handler, M.NdisRequestQueryInformation, oid,
                           length=length, irql=irql, adapter=adapter)

    def set_oid(oid, data, handler="OidRequestHandler", irql=M.PASSIVE_LEVEL, adapter=None):
        return oid_request(f"set {O.NAMES.get(oid, hex(oid))}", handler, M.NdisRequestSetInformation, oid, data,
                           irql=irql, adapter=adapter)

    counted = {"out_packets": 6, "out_octets": 60 + 120 + 1320 + 40 + 41 + 42, "in_packets": 1, "in_octets": 80}

    def check_statistics(raw, what):
        s = {f: int.from_bytes(raw[getattr(NDIS_STATISTICS_INFO, f).offset:][:getattr(NDIS_STATISTICS_INFO, f).size],
                               "little") for f, _ in NDIS_STATISTICS_INFO._fields_}
        header = raw[0], raw[1], struct.unpack("<H", raw[2:4])[0]
        expect(header == (M.NDIS_OBJECT_TYPE_DEFAULT, 1, 0x98), f"{what}: NDIS_STATISTICS_INFO header {header}")
        # NDIS_STATISTICS_FLAGS_VALID_* (ntddndis.h) of the counters ringtun keeps.
        valid = 0x1 | 0x8 | 0x10 | 0x20 | 0x40 | 0x200 | 0x400 | 0x8000 | 0x10000 | 0x80000
        expect(s["SupportedStatistics"] == valid, f"{what}: SupportedStatistics {s['SupportedStatistics']:#x}")
        want = {"ifHCOutUcastPkts": counted["out_packets"], "ifHCOutOctets": counted["out_octets"],
                "ifHCOutUcastOctets": counted["out_octets"], "ifHCInUcastPkts": counted["in_packets"],
                "ifHCInOctets": counted["in_octets"], "ifHCInUcastOctets": counted["in_octets"],
                "ifInDiscards": 0, "ifInErrors": 0, "ifOutErrors": 0, "ifOutDiscards": 0,
                "ifHCInMulticastPkts": 0, "ifHCOutBroadcastPkts": 0}
        for field, value in want.items():
            expect(s[field] == value, f"{what}: {field} {s[field]}, expected {value}")

    def check_rsc_statistics(raw, want, what):
        """NDIS_RSC_STATISTICS_INFO (ntddndis.h): header, then CoalescedPkts, CoalescedOctets,
        CoalesceEvents, Aborts."""
        header = raw[0], raw[1], struct.unpack("<H", raw[2:4])[0]
        expect(header == (M.NDIS_OBJECT_TYPE_DEFAULT, 1, 40), f"{what}: NDIS_RSC_STATISTICS_INFO header {header}")
        got = struct.unpack("<4Q", raw[8:40])
        expect(got == want, f"{what}: (CoalescedPkts, CoalescedOctets, CoalesceEvents, Aborts) {got}, expected {want}")

    step("OID queries: every OID the miniport answers, against Wintun's answers (docs/oids.md)")
    for oid in A["oids"]:
        wintun, ringtun, reason = O.QUERIES[oid]
        status, written, needed, out = query(oid)
        what = f"query {O.NAMES[oid]}"
        if ringtun is None:
            expect((status, written, needed) == (M.NDIS_STATUS_NOT_SUPPORTED, 0, 0),
                   f"{what}: {status:#x}, {written}/{needed} bytes (NOT_SUPPORTED, nothing written)")
            continue
        expect(status == 0, f"{what}: status {status:#x}")
        if ringtun == "counter":
            value = struct.unpack("<Q", out[:8])[0]
            key = "out_packets" if oid == O.OID_GEN_XMIT_OK else "in_packets"
            expect((written, needed, value) == (8, 8, counted[key]), f"{what}: {value} in {written}/{needed} bytes")
        elif ringtun == "version":
            value = struct.unpack("<I", out[:4])[0]
            expect((written, needed, value) == (4, 4, DRIVER_VERSION >> 8 & 0xFF | (DRIVER_VERSION >> 16) << 16),
                   f"{what}: {value:#x}")
        elif ringtun == "statistics":
            expect((written, needed) == (0x98, 0x98), f"{what}: {written}/{needed} bytes")
            check_statistics(out[:0x98], what)
        elif ringtun == "rsc statistics":
            expect((written, needed) == (40, 40), f"{what}: {written}/{needed} bytes")
            check_rsc_statistics(out[:40], (0, 0, 0, 0), what)
        elif ringtun == "interrupt moderation":
            expect((written, needed) == (12, 12), f"{what}: {written}/{needed} bytes")
            t, rev, size, flags, moderation = struct.unpack("<BBHIi", out[:12])
            expect((t, rev, size, flags, moderation) == (M.NDIS_OBJECT_TYPE_DEFAULT, 1, 12, 0, 1),
                   f"{what}: {(t, rev, size, flags, moderation)} (NdisInterruptModerationNotSupported expected)")
        else:
            expect((written, needed) == (len(ringtun), len(ringtun)) and out[:len(ringtun)] == ringtun,
                   f"{what}: {out[:written]!r} ({written}/{needed} bytes), expected {ringtun!r}")

    step("OID queries with a buffer too short: BUFFER_TOO_SHORT with the size needed; a 64-bit counter in 4 bytes")
    for oid, length, wintun, ringtun, reason in O.SHORT_QUERIES:
        status, written, needed, out = query(oid, length=length)
        expect((status, written, needed) == ringtun,
               f"query {O.NAMES[oid]} into {length} bytes: {(hex(status), written, needed)}, expected "
               f"{(hex(ringtun[0]),) + ringtun[1:]}")
        if oid == O.OID_GEN_XMIT_OK and length == 4:
            expect(struct.unpack("<I", out)[0] == counted["out_packets"], "the low 32 bits of the counter")

    step("OID sets: accepted values, lengths and refusals (Wintun's answers beside ringtun's)")
    for oid, data, wintun, ringtun, reason in O.SETS:
        status, read, needed, _ = set_oid(oid, data)
        expect((status, read, needed) == ringtun,
               f"set {O.NAMES.get(oid, hex(oid))} {data.hex()}: {(hex(status), read, needed)}, expected "
               f"{(hex(ringtun[0]),) + ringtun[1:]}")
    # What was accepted last is what a query answers (the refused values changed nothing).
    for oid, want in ((O.OID_GEN_CURRENT_PACKET_FILTER, O.DIRECTED), (O.OID_GEN_CURRENT_LOOKAHEAD, 1500)):
        status, written, _, out = query(oid)
        expect(status == 0 and struct.unpack("<I", out[:4])[0] == want, f"{O.NAMES[oid]} after the sets")

    step("OID requests of another kind: an unknown OID (NOT_SUPPORTED, nothing written), a method request (INVALID_OID)")
    status, written, needed, _ = query(0x0101FFFF)
    expect((status, written, needed) == (M.NDIS_STATUS_NOT_SUPPORTED, 0, 0), f"unknown OID: {status:#x} {written} {needed}")
    status = untouched_request("method request", "OidRequestHandler", M.NdisRequestMethod, O.OID_GEN_STATISTICS,
                               data=b"\x01" * 8, length=64)
    expect(status == M.NDIS_STATUS_INVALID_OID, f"method request: {status:#x}")
    status, *_ = oid_request("query statistics request", "OidRequestHandler", M.NdisRequestQueryStatistics,
                             O.OID_GEN_RCV_OK, length=8)
    expect(status == 0, f"NdisRequestQueryStatistics: {status:#x}")

    def refused_everywhere(handler):
        for irql in (M.DISPATCH_LEVEL, M.PASSIVE_LEVEL):
            for request_type, want in ((M.NdisRequestQueryInformation, M.NDIS_STATUS_NOT_SUPPORTED),
                                       (M.NdisRequestQueryStatistics, M.NDIS_STATUS_NOT_SUPPORTED),
                                       (M.NdisRequestSetInformation, M.NDIS_STATUS_NOT_SUPPORTED),
                                       (M.NdisRequestMethod, M.NDIS_STATUS_INVALID_OID)):
                for oid in (O.OID_GEN_VENDOR_ID, O.OID_GEN_CURRENT_PACKET_FILTER, 0x0101FFFF):
                    data = (O.u32(O.PROMISCUOUS) if request_type == M.NdisRequestSetInformation
                            else b"\x01" * 8 if request_type == M.NdisRequestMethod else b"")
                    what = f"{handler}, request type {request_type}, OID {oid:#x} at IRQL {irql}"
                    status = untouched_request(what, handler, request_type, oid, data, length=16, irql=irql)
                    expect(status == want, f"{what}: {status:#x}, expected {want:#x}")
        # A refused set changed nothing.
        status, _, _, out = query(O.OID_GEN_CURRENT_PACKET_FILTER)
        expect(struct.unpack("<I", out[:4])[0] == O.DIRECTED, f"{handler}: a refused set changed the filter")

    step("direct OID requests (up to DISPATCH_LEVEL): refused, as Wintun's (NOT_SUPPORTED; INVALID_OID for a "
         "method), the request left as it came")
    expect(m.in_image(ch["DirectOidRequestHandler"]) and m.in_image(ch["CancelDirectOidRequestHandler"]),
           "direct OID handlers")
    refused_everywhere("DirectOidRequestHandler")

    step("synchronous OID requests (NDIS 6.80+, up to DISPATCH_LEVEL): refused alike")
    expect(m.in_image(ch["SynchronousOidRequestHandler"]), "synchronous OID handler")
    refused_everywhere("SynchronousOidRequestHandler")

    step("MiniportShutdownEx: power off at PASSIVE_LEVEL, bug check at HIGH_LEVEL (each action's IRQL in ndis.h); "
         "no kernel call, the session untouched")
    for action, irql in ((M.NdisShutdownPowerOff, M.PASSIVE_LEVEL), (M.NdisShutdownBugCheck, M.HIGH_LEVEL)):
        thread = h.start(f"MiniportShutdownEx({action})", ch["ShutdownHandlerEx"], A["context"], action, irql=irql,
                         callback="ShutdownHandlerEx")
        expect(thread.state == "exited", f"MiniportShutdownEx({action}) did not return")
        made = [name for tid, name in m.calls if tid == thread.tid]
        expect(not made, f"MiniportShutdownEx({action}) at IRQL {irql} called {made}")
    expect(S["consumer"].state == "blocked" and m.mem.u32(S["send"] + V2_TAIL) != RING_STOPPED,
           "the shutdown handler ended the session")

    # ---- task offloads (docs/ring-protocol.md section 15) ----
    def ones(data):
        """Ones'-complement sum of big-endian 16-bit words, folded (odd tail padded)."""
        if len(data) % 2:
            data += b"\0"
        total = sum(struct.unpack(f">{len(data) // 2}H", data))
        while total > 0xFFFF:
            total = (total & 0xFFFF) + (total >> 16)
        return total

    def pseudo(packet, l4_len):
        """The pseudo-header sum (addresses, protocol, L4 length) of an IPv4 or IPv6 packet, folded."""
        if packet[0] >> 4 == 4:
            return ones(packet[12:20] + bytes([0, packet[9]]) + struct.pack(">H", l4_len))
        return ones(packet[8:40] + struct.pack(">IxxxB", l4_len, packet[6]))

    def tcp4(payload, ident=0x1234, seq=1000, flags=0x18):
        """An IPv4/TCP packet with correct lengths and checksums (DF set)."""
        total = 40 + len(payload)
        ip = bytearray(struct.pack(">BBHHHBBH4s4s", 0x45, 0, total, ident, 0x4000, 64, 6, 0,
                                   bytes([10, 0, 0, 1]), bytes([10, 0, 0, 2])))
        ip[10:12] = struct.pack(">H", 0xFFFF - ones(bytes(ip)))
        tcp = bytearray(struct.pack(">HHIIBBHHH", 40000, 443, seq, 77, 5 << 4, flags, 512, 0, 0))
        packet = bytes(ip) + bytes(tcp) + payload
        check_sum = 0xFFFF - ones(bytes([packet[12 + i] for i in range(8)]) + bytes([0, 6]) +
                                  struct.pack(">H", total - 20) + bytes(tcp) + payload)
        return packet[:36] + struct.pack(">H", check_sum) + packet[38:]

    def udp6(payload):
        """An IPv6/UDP packet with correct lengths and checksum."""
        length = 8 + len(payload)
        ip = struct.pack(">IHBB16s16s", 6 << 28, length, 17, 64, bytes(15) + b"\1", bytes(15) + b"\2")
        udp = struct.pack(">HHHH", 5000, 6000, length, 0) + payload
        check_sum = 0xFFFF - ones(ip[8:40] + struct.pack(">IxxxB", length, 17) + udp)
        return ip + udp[:6] + struct.pack(">H", check_sum) + udp[8:]

    def as_ndis_sends(packet, l4_at, checksum_at):
        """A large send as NDIS hands it over (LSOv2, USO): lengths 0, the L4 checksum field the
        pseudo-header sum without the length, the IPv4 header checksum 0."""
        p = bytearray(packet)
        v4 = p[0] >> 4 == 4
        p[checksum_at:checksum_at + 2] = struct.pack(">H", pseudo(bytes(p), 0))
        if v4:
            p[2:4] = p[10:12] = b"\0\0"
        else:
            p[4:6] = b"\0\0"
        if (p[9] if v4 else p[6]) == 17:
            p[l4_at + 4:l4_at + 6] = b"\0\0"
        return bytes(p)

    def with_pseudo_sum(packet, l4_at, checksum_at):
        """The super-packet as the ring carries it for NEEDS_CSUM: the L4 checksum field holds the
        pseudo-header sum with the L4 length."""
        p = bytearray(packet)
        p[checksum_at:checksum_at + 2] = struct.pack(">H", pseudo(packet, len(packet) - l4_at))
        return bytes(p)

    def checksums(tcp=0, udp=0, ip=0, tcp_value_invalid=0, ip_value_invalid=0):
        """An indication's NDIS_TCP_IP_CHECKSUM_NET_BUFFER_LIST_INFO.Receive bits, as decoded."""
        return {"TcpChecksumSucceeded": tcp, "UdpChecksumSucceeded": udp, "IpChecksumSucceeded": ip,
                "TcpChecksumValueInvalid": tcp_value_invalid, "IpChecksumValueInvalid": ip_value_invalid}

    def tcp6(payload, seq=1000, flags=0x18):
        """An IPv6/TCP packet with correct lengths and checksum."""
        length = 20 + len(payload)
        ip = struct.pack(">IHBB16s16s", 6 << 28, length, 6, 64, bytes(15) + b"\1", bytes(15) + b"\2")
        tcp = struct.pack(">HHIIBBHHH", 40000, 443, seq, 77, 5 << 4, flags, 512, 0, 0) + payload
        check_sum = 0xFFFF - ones(ip[8:40] + struct.pack(">IxxxB", length, 6) + tcp)
        return ip + tcp[:16] + struct.pack(">H", check_sum) + tcp[18:]

    def set_info(nbl, index, value):
        m.mem.w64(nbl + NBL.off("NetBufferListInfo") + 8 * index, value)

    def completed_info(nbl, index):
        """A sent NBL's information entry as it was when the driver completed the NBL."""
        return m.completed_info[nbl][index]

    def offload_ring_slots(session, offset):
        """Slots of an offload session's Send ring from `offset`: (metadata tuple, packet bytes)."""
        s_sys, out = session["send"], []
        tail = m.mem.u32(s_sys + V2_TAIL)
        while offset < tail:
            size, data_offset, length = struct.unpack("<IHH", bytes(m.se.mem_read(s_sys + V2_DATA + offset, 8)))
            expect(data_offset == 8 + OFFLOAD_HEADROOM, f"offload slot data offset {data_offset}")
            meta = struct.unpack("<BBHHHH6s", bytes(m.se.mem_read(s_sys + V2_DATA + offset + 8, 16)))
            expect(meta[6] == bytes(6), "reserved bytes of the metadata block not zero")
            out.append((meta[:6], bytes(m.se.mem_read(s_sys + V2_DATA + offset + data_offset, length))))
            offset += size
        return out, tail

    def publish_offload(session, packet, meta):
        """The client writes one slot with a metadata block (flags, gso_type, hdr_len, gso_size,
        csum_start, csum_offset) and publishes it, signalling the consumer if it sleeps."""
        r_sys = session["receive"]
        slot = (8 + OFFLOAD_HEADROOM + len(packet) + 7) & ~7
        at = session["tail"]
        m.se.mem_write(r_sys + V2_DATA + at, struct.pack("<IHH", slot, 8 + OFFLOAD_HEADROOM, len(packet))
                       + struct.pack("<BBHHHH6x", *meta) + packet)
        session["tail"] = at + slot
        m.se.mem_write(r_sys + V2_TAIL, struct.pack("<I", session["tail"]))
        if m.mem.u32(r_sys + V2_ALERTABLE):
            m.signal(session["receive_event"])

    step("task offloads: LSOv2 (IPv4, IPv6), USO, TCP/UDP/IP checksums and RSC offered and on (NDIS_OFFLOAD "
         "revision 6); a completed OID_TCP_OFFLOAD_PARAMETERS answered with the current configuration, a refused "
         "one with nothing")
    off = A["offload"]
    expect(off is not None and bytes(off) == bytes(A["offload_hardware"]), "the current offloads are not all offered")
    c = off.Checksum
    for what, d in (("IPv4Transmit", c.IPv4Transmit), ("IPv4Receive", c.IPv4Receive)):
        got = (d.Encapsulation, d.IpOptionsSupported, d.TcpOptionsSupported, d.TcpChecksum, d.UdpChecksum,
               d.IpChecksum)
        expect(got == (ENCAPSULATIONS, 1, 1, 1, 1, 1), f"Checksum.{what} {got}: NULL and the IEEE 802.3 kinds, all supported")
    for what, d in (("IPv6Transmit", c.IPv6Transmit), ("IPv6Receive", c.IPv6Receive)):
        got = (d.Encapsulation, d.IpExtensionHeadersSupported, d.TcpOptionsSupported, d.TcpChecksum, d.UdpChecksum)
        expect(got == (ENCAPSULATIONS, 0, 1, 1, 1), f"Checksum.{what} {got}: extension headers not supported")
    lso = off.LsoV2
    expect((lso.IPv4.Encapsulation, lso.IPv4.MaxOffLoadSize, lso.IPv4.MinSegmentCount) == (ENCAPSULATIONS, LARGE_SEND_MAX_PAYLOAD, 2),
           "LsoV2.IPv4")
    expect((lso.IPv6.Encapsulation, lso.IPv6.MaxOffLoadSize, lso.IPv6.MinSegmentCount,
            lso.IPv6.IpExtensionHeadersSupported, lso.IPv6.TcpOptionsSupported) == (ENCAPSULATIONS, LARGE_SEND_MAX_PAYLOAD, 2, 0, 1),
           "LsoV2.IPv6")
    uso = off.UdpSegmentation
    expect((uso.IPv4.Encapsulation, uso.IPv4.MaxOffLoadSize, uso.IPv4.MinSegmentCount,
            uso.IPv4.SubMssFinalSegmentSupported) == (ENCAPSULATIONS, LARGE_SEND_MAX_PAYLOAD, 2, 0), "UdpSegmentation.IPv4")
    expect((uso.IPv6.Encapsulation, uso.IPv6.MaxOffLoadSize, uso.IPv6.MinSegmentCount,
            uso.IPv6.IpExtensionHeadersSupported) == (ENCAPSULATIONS, LARGE_SEND_MAX_PAYLOAD, 2, 0), "UdpSegmentation.IPv6")
    expect((off.RscIPv4Enabled, off.RscIPv6Enabled) == (1, 1), "RSC")
    expect(bytes(off.LsoV1) == bytes(16) and bytes(off.IPsecV1) == bytes(28) and bytes(off.IPsecV2) == bytes(32)
           and off.Flags == 0 and bytes(off.EncapsulatedPacketTaskOffloadGre) == bytes(8)
           and bytes(off.EncapsulatedPacketTaskOffloadVxlan) == bytes(20) and off.EncapsulationTypes == 0
           and bytes(off.Rfc6877Xlat) == bytes(8), "offloads ringtun does not offer must be all zero")
    # The OID sets step completed three requests that changed nothing (an OID_TCP_OFFLOAD_PARAMETERS,
    # an OID_OFFLOAD_ENCAPSULATION setting NULL on, one setting IEEE 802.3 / LLC-SNAP on) and refused
    # the others.
    differ = [[i for i, (a, b) in enumerate(zip(bytes(c), bytes(off))) if a != b] for c in A["offload_configs"]]
    expect(len(A["offload_configs"]) == 3 and not any(differ),
           f"{len(A['offload_configs'])} NDIS_STATUS_TASK_OFFLOAD_CURRENT_CONFIG indications: three (the completed "
           f"requests) expected, with the offloads unchanged (bytes differing at {differ})")

    step("an offload session (v2, flag OFFLOAD, head room 16) on a fresh adapter")
    F = initialize(MINIPORT_F)
    files["offload"] = m.alloc(0x100, "file-object")
    (fsp, fss), (frp, frs) = ring(V2_OFFLOAD_RING_SIZE), ring(V2_OFFLOAD_RING_SIZE)
    fse, fre = event_handle(), event_handle()
    before = set(m.threads.values())
    status, _, _ = register("v2 with offloads", struct.pack(
        "<IIIHHQQIHHQQ", 2, REGISTRATION_FLAG_OFFLOAD, V2_OFFLOAD_RING_SIZE, OFFLOAD_HEADROOM, 0, fsp, fse,
        V2_OFFLOAD_RING_SIZE, OFFLOAD_HEADROOM, 0, frp, fre), adapter=F, file="offload")
    expect(status == 0, f"v2 registration with offloads: {status:#x}")
    SF = {"send": fss, "receive": frs, "receive_event": m.handles[fre], "consumer": consumer_of(before), "tail": 0}

    step("LSOv2 and USO NBLs into the Send ring: one slot each with its metadata, the length fields filled in, the "
         "pseudo-header sums written; a checksum request alone; LSOv2 NBLs completed with LsoV2TransmitComplete")
    big4 = tcp4(bytes(range(256)) * 11 + bytes(184), ident=0x7FFE)          # 3000 bytes of payload
    big6 = udp6(bytes([0x5A]) * 3000)
    small = tcp4(b"syn-ack", flags=0x12)
    nbls, _ = build_chain([[as_ndis_sends(big4, 20, 36)], [as_ndis_sends(big6, 40, 46)], [small[:36] + b"\0\0" + small[38:]]])
    set_info(nbls[0], L.NBL_INFO_LSO, 1000 | 20 << 20 | 1 << 30)              # MSS, TcpHeaderOffset, Type V2, IPv4
    set_info(nbls[1], L.NBL_INFO_RSC_OR_USO, 1000 | 40 << 20 | 1 << 31)       # USO: MSS, UdpHeaderOffset, IPv6
    set_info(nbls[2], L.NBL_INFO_CHECKSUM, 0x1 | 0x4 | 0x10 | 20 << 22)        # IsIPv4, TcpChecksum, IpHeaderChecksum
    send(nbls, M.NDIS_STATUS_SUCCESS, adapter=F)
    slots, tail = offload_ring_slots(SF, 0)
    expect(len(slots) == 3, f"{len(slots)} slots for three NBLs")
    expect(slots[0] == ((OFFLOAD_F_NEEDS_CSUM, OFFLOAD_GSO_TCPV4, 40, 1000, 20, 16), with_pseudo_sum(big4, 20, 36)),
           f"LSOv2 slot: metadata {slots[0][0]}, bytes {'as expected' if slots[0][1] == with_pseudo_sum(big4, 20, 36) else 'differ'}")
    expect(slots[1] == ((OFFLOAD_F_NEEDS_CSUM, OFFLOAD_GSO_UDP_L4, 48, 1000, 40, 6), with_pseudo_sum(big6, 40, 46)),
           f"USO slot: metadata {slots[1][0]}, bytes {'as expected' if slots[1][1] == with_pseudo_sum(big6, 40, 46) else 'differ'}")
    expect(slots[2] == ((OFFLOAD_F_NEEDS_CSUM, 0, 0, 0, 20, 16), with_pseudo_sum(small, 20, 36)),
           f"checksum request slot {slots[2][0]}")
    expect(completed_info(nbls[0], L.NBL_INFO_LSO) == 1 << 30, f"LSOv2 completion information {completed_info(nbls[0], 2):#x}: "
           f"LsoV2TransmitComplete.Type V2, Reserved 0 expected")
    expect(completed_info(nbls[1], L.NBL_INFO_RSC_OR_USO) == 1000 | 40 << 20 | 1 << 31, "the USO information was changed")

    step("no receive offload before OID_OFFLOAD_ENCAPSULATION: a DATA_VALID super-packet is cut, nothing marked; "
         "the encapsulation set on as ndis.h tells a protocol to (IEEE 802.3, HeaderSize 14; LLC/SNAP routed for IPv6) "
         "is answered with the current configuration")
    super4 = tcp4(bytes(range(200)) * 15, seq=5000)                           # 3000 bytes: 3 segments of 1000
    indications = len(m.indications)
    publish_offload(SF, super4, (OFFLOAD_F_DATA_VALID, OFFLOAD_GSO_TCPV4, 40, 1000, 0, 0))
    h.run()
    fresh = m.indications[indications:]
    expect(len(fresh) == 3, f"{len(fresh)} indications before the encapsulation: the 3 segments expected")
    for k, (_, nbl, _) in enumerate(fresh):
        expect(m.indication_info[nbl] == (checksums(), (0, 0)),
               f"segment {k} before the encapsulation: {m.indication_info[nbl]}")
    return_nbls("return the unmarked segments", [n for _, n, _ in fresh], adapter=F)
    configs = len(F["offload_configs"])
    status, read, needed, _ = set_oid(O.OID_OFFLOAD_ENCAPSULATION, O.offload_encapsulation(
        (O.SET_ON, O.ENCAPSULATION_IEEE_802_3, 14), (O.SET_ON, O.ENCAPSULATION_LLC_SNAP_ROUTED, 22)), adapter=F)
    expect((status, read, needed) == (0, 28, 0), f"OID_OFFLOAD_ENCAPSULATION on: {(hex(status), read, needed)}")
    expect(len(F["offload_configs"]) == configs + 1 and bytes(F["offload_configs"][-1]) == bytes(F["offload"]),
           "the current configuration after OID_OFFLOAD_ENCAPSULATION")

    step("a coalesced Receive slot (DATA_VALID): one indication, RSC segment count, checksums succeeded and their "
         "values not computed")
    indications = len(m.indications)
    publish_offload(SF, super4, (OFFLOAD_F_DATA_VALID, OFFLOAD_GSO_TCPV4, 40, 1000, 0, 0))
    h.run()
    fresh = m.indications[indications:]
    expect(len(fresh) == 1 and fresh[0][2] == super4, "the super-packet was not indicated whole")
    info = m.indication_info[fresh[0][1]]
    # The client's checksum values were validated, not computed: TcpChecksumValueInvalid and
    # IpChecksumValueInvalid say so (NDIS, "Indicating Coalesced Segments").
    expect(info == (checksums(tcp=1, ip=1, tcp_value_invalid=1, ip_value_invalid=1), (3, 0)),
           f"coalesced indication information {info}")
    return_nbls("return the coalesced indication", [fresh[0][1]], adapter=F)
    expect(m.mem.u32(SF["receive"] + V2_HEAD) == SF["tail"], "head not past the coalesced slot")

    step("a super-packet with a partial checksum: cut by the engine, its segments indicated as one chain, each "
         "behind its own header in pool (checksums succeeded)")
    indications, calls, pool_before = len(m.indications), len(m.indicate_calls), dict(m.pool)
    publish_offload(SF, with_pseudo_sum(super4, 20, 36), (OFFLOAD_F_NEEDS_CSUM, OFFLOAD_GSO_TCPV4, 40, 1000, 20, 16))
    h.run()
    fresh = m.indications[indications:]
    expect(m.indicate_calls[calls:] == [3], f"NBLs per indication call {m.indicate_calls[calls:]}: one chain of 3")
    payload = super4[40:]
    for k, (_, nbl, data) in enumerate(fresh):
        want = tcp4(payload[1000 * k:1000 * (k + 1)], ident=0x1234 + k, seq=5000 + 1000 * k,
                    flags=0x18 if k == 2 else 0x10)
        expect(data == want, f"segment {k}: {data[:40].hex()} ... is not the valid packet expected")
        expect(len(m.nbls[nbl]["mdls"]) == 2 and m.mdls[m.nbls[nbl]["mdls"][0]].get("nonpaged"),
               f"segment {k}: not a header MDL in pool chained before the ring's bytes")
        expect(m.indication_info[nbl] == (checksums(tcp=1, ip=1), (0, 0)),
               f"segment {k}: {m.indication_info[nbl]} (computed checksums: values valid)")
    return_nbls("return the segments", [n for _, n, _ in fresh], adapter=F)
    expect(m.pool == pool_before, "header buffers not freed with their NBLs")
    expect(not any(i.get("nonpaged") for i in m.mdls.values()), "header MDLs not freed")
    # OID_TCP_RSC_STATISTICS: the coalesced unit (3 segments, 3000 payload bytes) and this cut one
    # (an abort); the unit cut before the encapsulation was set was not a coalescing.
    status, written, needed, out = query(O.OID_TCP_RSC_STATISTICS, adapter=F)
    expect((status, written, needed) == (0, 40, 40), f"OID_TCP_RSC_STATISTICS: {(hex(status), written, needed)}")
    check_rsc_statistics(out[:40], (3, 3000, 1, 1), "OID_TCP_RSC_STATISTICS after the coalesced and the cut unit")

    step("a DATA_VALID super-packet whose TCP and IPv4 checksum fields are stale: indicated whole as the ring holds "
         "it, TcpChecksumValueInvalid and IpChecksumValueInvalid set beside the succeeded bits")
    indications = len(m.indications)
    stale = bytearray(tcp4(bytes(range(250)) * 8, seq=9000))                  # 2000 bytes: 2 segments
    stale[10:12] = b"\xBE\xEF"                                                 # IPv4 header checksum
    stale[36:38] = b"\xDE\xAD"                                                 # TCP checksum
    stale = bytes(stale)
    publish_offload(SF, stale, (OFFLOAD_F_DATA_VALID, OFFLOAD_GSO_TCPV4, 40, 1000, 0, 0))
    h.run()
    fresh = m.indications[indications:]
    expect(len(fresh) == 1 and fresh[0][2] == stale, "the stale-checksum unit was not indicated whole as it is")
    info = m.indication_info[fresh[0][1]] if fresh else None
    expect(info == (checksums(tcp=1, ip=1, tcp_value_invalid=1, ip_value_invalid=1), (2, 0)),
           f"stale-checksum unit information {info}: both value-invalid bits expected")
    return_nbls("return the stale-checksum unit", [n for _, n, _ in fresh], adapter=F)

    step("one round mixing a plain packet, an RSC unit, a DATA_VALID single packet and a unit coalescing could not "
         "have built (FIN): one chain; the unit with its segment count, the FIN unit cut with computed checksums")
    indications, calls = len(m.indications), len(m.indicate_calls)
    plain = tcp4(b"plain packet", seq=20000)
    unit = tcp4(bytes(range(100)) * 20, seq=30000)                           # 2000 bytes: 2 segments
    single = tcp4(b"single, valid", seq=40000)
    fin = tcp4(bytes(range(100)) * 20, seq=50000, flags=0x19)                # ACK|PSH|FIN: cut
    publish_offload(SF, plain, (0, 0, 0, 0, 0, 0))
    publish_offload(SF, unit, (OFFLOAD_F_DATA_VALID, OFFLOAD_GSO_TCPV4, 40, 1000, 0, 0))
    publish_offload(SF, single, (OFFLOAD_F_DATA_VALID, 0, 0, 0, 0, 0))
    publish_offload(SF, fin, (OFFLOAD_F_DATA_VALID, OFFLOAD_GSO_TCPV4, 40, 1000, 0, 0))
    h.run()
    fresh = m.indications[indications:]
    got = [(data, m.indication_info[nbl]) for _, nbl, data in fresh]
    payload = fin[40:]
    want = [(plain, (checksums(), (0, 0))),
            (unit, (checksums(tcp=1, ip=1, tcp_value_invalid=1, ip_value_invalid=1), (2, 0))),
            (single, (checksums(tcp=1, ip=1, tcp_value_invalid=1, ip_value_invalid=1), (0, 0)))] + \
        [(tcp4(payload[1000 * k:1000 * (k + 1)], seq=50000 + 1000 * k, ident=0x1234 + k,
               flags=0x19 if k == 1 else 0x10), (checksums(tcp=1, ip=1), (0, 0))) for k in range(2)]
    expect(m.indicate_calls[calls:] == [5], f"NBLs per indication call {m.indicate_calls[calls:]}: one chain of 5")
    expect(got == want, "mixed round: " + "; ".join(
        f"{k}: {'bytes ok' if k < len(want) and g[0] == want[k][0] else 'bytes differ'} {g[1]}" for k, g in enumerate(got)))
    return_nbls("return the mixed round", [n for _, n, _ in fresh], adapter=F)
    expect(m.mem.u32(SF["receive"] + V2_HEAD) == SF["tail"], "head not past the mixed round")

    step("an LSOv2 NBL over IPv6 into the Send ring: one slot with TCPV6 metadata, the payload length filled in, "
         "the pseudo-header sum written; completed with LsoV2TransmitComplete, bit 31 and the upper half of the "
         "entry as the stack left them")
    big6t = tcp6(bytes(range(256)) * 10, seq=7000)                           # 2560 bytes of payload
    _, tail = offload_ring_slots(SF, 0)
    nbls, _ = build_chain([[as_ndis_sends(big6t, 40, 56)]])
    # MSS, offset, Type V2, IPv6; the upper half of the PVOID set, to be kept (the IPv4 LSOv2 NBL
    # above has it 0).
    keep = 0xA5A5A5A5 << 32 | 1 << 31
    set_info(nbls[0], L.NBL_INFO_LSO, keep | 1200 | 40 << 20 | 1 << 30)
    send(nbls, M.NDIS_STATUS_SUCCESS, adapter=F)
    slots, tail = offload_ring_slots(SF, tail)
    expect(slots == [((OFFLOAD_F_NEEDS_CSUM, OFFLOAD_GSO_TCPV6, 60, 1200, 40, 16), with_pseudo_sum(big6t, 40, 56))],
           f"LSOv2 IPv6 slot: {[meta for meta, _ in slots]}, bytes "
           f"{'as expected' if slots and slots[0][1] == with_pseudo_sum(big6t, 40, 56) else 'differ'}")
    expect(completed_info(nbls[0], L.NBL_INFO_LSO) == keep | 1 << 30, f"LSOv2 IPv6 completion information "
           f"{completed_info(nbls[0], L.NBL_INFO_LSO):#x}: LsoV2TransmitComplete.Type V2, Reserved 0, Reserved2 as "
           f"the request's IPVersion (1) and the upper half as set ({keep | 1 << 30:#x}) expected")

    step("an LSOv1 NBL (never offered): completed with NDIS_STATUS_FAILURE, nothing in the ring, its information "
         "LsoV1TransmitComplete with TcpPayload 0 (no MSS or offset bits left), Type, Reserved2 and the upper half "
         "of the entry as the stack left them")
    nbls, _ = build_chain([[as_ndis_sends(big4, 20, 36)]])
    # MSS, TcpHeaderOffset, Type V1; Reserved2 and the upper half of the PVOID set, to be kept.
    keep = 0x5A5A5A5A << 32 | 1 << 31
    set_info(nbls[0], L.NBL_INFO_LSO, keep | 1000 | 20 << 20)
    send(nbls, M.NDIS_STATUS_FAILURE, adapter=F)
    expect(offload_ring_slots(SF, tail)[0] == [], "an LSOv1 NBL reached the ring")
    expect(completed_info(nbls[0], L.NBL_INFO_LSO) == keep,
           f"LSOv1 completion information {completed_info(nbls[0], L.NBL_INFO_LSO):#x}, {keep:#x} expected")

    step("OID_TCP_OFFLOAD_PARAMETERS turns LSOv2 IPv4 off: the configuration indicated without it; an LSO NBL is "
         "then completed with NDIS_STATUS_FAILURE and nothing reaches the ring; turned on again, it passes")
    status, read, needed, _ = set_oid(O.OID_TCP_OFFLOAD_PARAMETERS, O.offload_parameters(fields=[(O.PARAMS_LSO_V2_IPV4, 1)]),
                                      adapter=F)
    expect((status, read, needed) == (0, 32, 0), f"LSOv2 IPv4 off: {(hex(status), read, needed)}")
    now = F["offload_configs"][-1]
    expect(bytes(now.LsoV2.IPv4) == bytes(12) and bytes(now.LsoV2.IPv6) == bytes(F["offload"].LsoV2.IPv6)
           and bytes(now.Checksum) == bytes(F["offload"].Checksum), "the indicated configuration")
    nbls, _ = build_chain([[as_ndis_sends(big4, 20, 36)]])
    set_info(nbls[0], L.NBL_INFO_LSO, 1000 | 20 << 20 | 1 << 30)
    send(nbls, M.NDIS_STATUS_FAILURE, adapter=F)
    expect(offload_ring_slots(SF, tail)[0] == [], "an LSO NBL reached the ring with LSO off")
    status, *_ = set_oid(O.OID_TCP_OFFLOAD_PARAMETERS, O.offload_parameters(fields=[(O.PARAMS_LSO_V2_IPV4, 2)]),
                         adapter=F)
    expect(status == 0 and bytes(F["offload_configs"][-1]) == bytes(F["offload"]), "LSOv2 IPv4 back on")
    nbls, _ = build_chain([[as_ndis_sends(big4, 20, 36)]])
    set_info(nbls[0], L.NBL_INFO_LSO, 1000 | 20 << 20 | 1 << 30)
    send(nbls, M.NDIS_STATUS_SUCCESS, adapter=F)
    expect([meta for meta, _ in offload_ring_slots(SF, tail)[0]] == [(OFFLOAD_F_NEEDS_CSUM, OFFLOAD_GSO_TCPV4, 40, 1000,
                                                                       20, 16)], "the LSO NBL after LSO is back on")
    step("OID_OFFLOAD_ENCAPSULATION sets IPv4 off: every IPv4 offload indicated off (IPv6's kept; both IPv4 "
         "checksum directions all zero, Encapsulation NDIS_ENCAPSULATION_NOT_SUPPORTED), an LSO NBL completed with "
         "NDIS_STATUS_FAILURE, a DATA_VALID IPv4 super-packet cut unmarked; set on again, all back")
    status, read, _, _ = set_oid(O.OID_OFFLOAD_ENCAPSULATION, O.offload_encapsulation((O.SET_OFF, 0)), adapter=F)
    expect((status, read) == (0, 28), f"OID_OFFLOAD_ENCAPSULATION IPv4 off: {status:#x}")
    now, full = F["offload_configs"][-1], F["offload"]
    c = now.Checksum
    expect((c.IPv4Transmit.TcpChecksum, c.IPv4Transmit.UdpChecksum, c.IPv4Transmit.IpChecksum, c.IPv4Receive.TcpChecksum,
            c.IPv4Receive.UdpChecksum, c.IPv4Receive.IpChecksum) == (0,) * 6, "IPv4 checksums indicated on")
    expect(bytes(c.IPv4Transmit) == bytes(8) and bytes(c.IPv4Receive) == bytes(8),
           f"IPv4 checksum directions with every checksum off: Encapsulation {c.IPv4Transmit.Encapsulation:#x}/"
           f"{c.IPv4Receive.Encapsulation:#x}, 0 (NDIS_ENCAPSULATION_NOT_SUPPORTED) and all fields 0 expected")
    expect(bytes(now.LsoV2.IPv4) == bytes(12) and bytes(now.UdpSegmentation.IPv4) == bytes(12)
           and now.RscIPv4Enabled == 0, "IPv4 LSO, USO or RSC indicated on")
    expect(bytes(c.IPv6Transmit) == bytes(full.Checksum.IPv6Transmit) and bytes(now.LsoV2.IPv6) == bytes(full.LsoV2.IPv6)
           and now.RscIPv6Enabled == 1, "IPv6 offloads changed")
    nbls, _ = build_chain([[as_ndis_sends(big4, 20, 36)]])
    set_info(nbls[0], L.NBL_INFO_LSO, 1000 | 20 << 20 | 1 << 30)
    _, send_tail = offload_ring_slots(SF, tail)
    send(nbls, M.NDIS_STATUS_FAILURE, adapter=F)
    expect(offload_ring_slots(SF, send_tail)[0] == [], "an IPv4 LSO NBL reached the ring with IPv4 off")
    indications = len(m.indications)
    publish_offload(SF, super4, (OFFLOAD_F_DATA_VALID, OFFLOAD_GSO_TCPV4, 40, 1000, 0, 0))
    h.run()
    fresh = m.indications[indications:]
    expect(len(fresh) == 3 and all(m.indication_info[n][0]["TcpChecksumSucceeded"] == 0 for _, n, _ in fresh),
           f"IPv4 off: {len(fresh)} indications, {[m.indication_info[n] for _, n, _ in fresh]}")
    return_nbls("return the segments", [n for _, n, _ in fresh], adapter=F)
    status, *_ = set_oid(O.OID_OFFLOAD_ENCAPSULATION, O.offload_encapsulation((O.SET_ON, O.ENCAPSULATION_NULL)),
                         adapter=F)
    expect(status == 0 and bytes(F["offload_configs"][-1]) == bytes(full), "IPv4 on again: all offloads back")
    status, _, _ = dispatch("IRP_MJ_CLOSE of the offload session", M.IRP_MJ_CLOSE, adapter=F, file="offload")
    expect(status == 0, f"IRP_MJ_CLOSE of the offload session: {status:#x}")
    expect(not any(fsp <= i["va"] < fsp + V2_OFFLOAD_RING_SIZE or frp <= i["va"] < frp + V2_OFFLOAD_RING_SIZE
                   for i in m.mdls.values()), "the offload session's ring MDLs not freed")
    h.call("MiniportHaltEx", ch["HaltHandlerEx"], F["context"], M.NdisHaltDeviceDisabled, callback="HaltHandlerEx")
    F["halted"] = True

    step("a WRITE_SPACE registration (64 bytes): its event referenced once; a return that frees Receive-ring space "
         "while the client's space_waiting is set sets it (KeSetEvent, Wait FALSE), once; the close dereferences it "
         "exactly once")
    G = initialize(MINIPORT_G)
    files["space"] = m.alloc(0x100, "file-object")
    (gsp, gss), (grp, grs) = ring(V2_RING_SIZE), ring(V2_RING_SIZE)
    gse, gre, gws = event_handle(), event_handle(), event_handle()
    space_event = m.handles[gws]
    references = []
    count_refs = m.h_ObReferenceObjectByHandle

    def counting_reference():
        out = m.args(6)[4]
        status = count_refs()
        references.append(m.mem.u64(out) if status == 0 else None)
        return status
    m.h_ObReferenceObjectByHandle = counting_reference
    before = set(m.threads.values())
    payload = v2_payload(gsp, gse, grp, gre, REGISTRATION_FLAG_WRITE_SPACE) + struct.pack("<Q", gws)
    expect(len(payload) == 64, f"the WRITE_SPACE registration is {len(payload)} bytes")
    status, _, _ = register("v2 with WRITE_SPACE", payload, adapter=G, file="space")
    m.h_ObReferenceObjectByHandle = count_refs
    expect(status == 0, f"WRITE_SPACE registration: {status:#x}")
    expect(references.count(space_event) == 1 and m.refs.get(space_event) == 1,
           f"the write-space event referenced {references.count(space_event)} times (refs {m.refs.get(space_event)})")
    SG = {"send": gss, "receive": grs, "receive_event": m.handles[gre], "consumer": consumer_of(before), "tail": 0}
    m.se.mem_write(grs + SPACE_WAITING, struct.pack("<I", 1))              # the client waits for space
    indications = len(m.indications)
    publish(SG, ipv4(95, 23))
    h.run()
    fresh = m.indications[indications:]
    expect(len(fresh) == 1, f"{len(fresh)} indications of the one packet")
    sets = len(m.set_events)
    expect(space_event not in m.set_events, "the write-space event set before any space was freed")
    return_nbls("return frees Receive-ring space", [fresh[0][1]], adapter=G)
    expect(m.set_events[sets:].count(space_event) == 1,
           f"KeSetEvent of the write-space event {m.set_events[sets:].count(space_event)} times after the return")
    status, _, _ = dispatch("IRP_MJ_CLOSE of the WRITE_SPACE session", M.IRP_MJ_CLOSE, adapter=G, file="space")
    expect(status == 0 and m.refs.get(space_event) == 0,
           f"close: {status:#x}, write-space event references {m.refs.get(space_event)} (one dereference expected)")
    h.call("MiniportHaltEx", ch["HaltHandlerEx"], G["context"], M.NdisHaltDeviceDisabled, callback="HaltHandlerEx")
    G["halted"] = True

    # ---- interleavings on the Receive path ----
    step("the stack returns NBLs from inside NdisMIndicateReceiveNetBufferLists")

    def indicated_chain(model, args):
        chain, nbls = args[1], []
        while chain:
            nbls.append(chain)
            chain = model.mem.field(chain, NBL, "Next")
        model.returned_by_stack(nbls)
        return [A["context"], args[1], 0]

    trigger = m.interrupt_after("NdisMIndicateReceiveNetBufferLists", "the stack returns inside the indication",
                                ch["ReturnNetBufferListsHandler"], indicated_chain, irql=M.PASSIVE_LEVEL)
    indications = len(m.indications)
    publish(S, ipv4(30, 8))
    publish(S, ipv4(31, 9), signal=False)
    h.run()
    expect(trigger["fired"] is not None and trigger["fired"].state == "exited", "the return inside the indication")
    fresh = m.indications[indications:]
    expect([d for _, _, d in fresh] == [ipv4(30, 8), ipv4(31, 9)], "both packets indicated in one chain")
    expect(all(m.nbls[n]["freed"] for _, n, _ in fresh), "NBLs returned inside the indication were not freed")
    expect(head(S) == S["tail"], f"head {head(S):#x} after the early return, expected {S['tail']:#x}")

    step("a pause with indications outstanding: MiniportPause raises the preempted consumer, waits for its round, "
         "returns it to priority 1, then waits for the returns")
    trigger = m.interrupt_after("NdisMIndicateReceiveNetBufferLists", "MiniportPause during an indication",
                                ch["PauseHandler"], [A["context"], m.alloc(0x40, "pause")], irql=M.PASSIVE_LEVEL)
    indications = len(m.indications)
    publish(S, ipv4(32, 10))
    h.run()
    pause = trigger["fired"]
    expect(pause is not None and pause.state == "blocked", "MiniportPause returned with an indication outstanding")
    # The consumer (priority 1) was interrupted inside its round: the pause waits for it, and raises
    # it above its own priority first (the model refuses a wait woken by a lower-priority thread).
    # Once the round is over, the pause returns the consumer to its own priority before it waits for
    # the stack: that wait does not depend on the consumer, which only sleeps until the restart.
    consumer = S["consumer"]
    sets = [(tid, p) for tid, t, p in m.priority_sets if t is consumer]
    expect(sets[-2:] == [(pause.tid, M.LOW_REALTIME_PRIORITY), (pause.tid, 1)],
           f"the pause did not raise the consumer to LOW_REALTIME_PRIORITY for its round and return it to 1 "
           f"after it: {sets}")
    pause_calls = [name for tid, name in m.calls if tid == pause.tid]
    raised, lowered = [i for i, name in enumerate(pause_calls) if name == "KeSetPriorityThread"][-2:]
    waits = [i for i, name in enumerate(pause_calls) if name == "KeWaitForMultipleObjects"]
    expect(waits and raised < waits[0], f"the pause raised the consumer only after it began to wait: {pause_calls}")
    expect(any(raised < w < lowered for w in waits) and waits[-1] > lowered,
           f"the pause did not lower the consumer between the wait for its round and the wait for the returns: "
           f"{pause_calls}")
    held = m.held_by_stack()
    expect(len(held) == 1 and head(S) != S["tail"], "the indicated packet is with the stack")
    nbls, _ = build_chain([[ipv4(33, 11)]])
    send(nbls, M.NDIS_STATUS_PAUSED)                  # sends already refused while the pause is pending
    return_nbls("MiniportReturnNetBufferLists, releasing the pause", held)
    expect(pause.state == "exited" and pause.result & 0xFFFFFFFF == 0, f"MiniportPause did not complete: {pause}")
    expect(head(S) == S["tail"], "head not released by the return")

    step("paused: a published packet stays in the ring until MiniportRestart")
    indications = len(m.indications)
    publish(S, ipv4(34, 12))
    h.run()
    expect(len(m.indications) == indications, "a packet was indicated while paused")
    restart = h.start("MiniportRestart", ch["RestartHandler"], A["context"], m.alloc(0x40, "restart"),
                      callback="RestartHandler")
    expect(restart.state == "exited" and restart.result & 0xFFFFFFFF == 0, f"MiniportRestart: {restart}")
    expect(len(m.indications) == indications + 1 and m.indications[-1][2] == ipv4(34, 12),
           "the held packet was not indicated after the restart")
    sets = [(tid, p) for tid, t, p in m.priority_sets if t is S["consumer"]]
    expect(sets[-1:] == [(pause.tid, 1)], f"the consumer's priority changed after the pause lowered it: {sets}")
    return_nbls("return", [m.indications[-1][1]])

    step("the consumer's timed re-check finds a packet published without a signal (a lost wake-up)")
    consumer = S["consumer"]
    expect(consumer.state == "blocked" and consumer.waiting[2], "the consumer is not in its timed sleep")
    publish(S, ipv4(35, 13), signal=False)
    m.expire_timers(consumer)
    indications = len(m.indications)
    h.run()
    expect(len(m.indications) == indications + 1, "the re-check did not find the packet")
    return_nbls("return", [m.indications[-1][1]])

    step("a signal that races the timed re-check is consumed with its packet (not left to wake the next sleep)")
    publish(S, ipv4(36, 14), signal=False)
    m.expire_timers(consumer)                          # the timeout passed...
    m.signal(S["receive_event"])                       # ...and the client's signal lands before the re-check
    waits = len(m.waits)
    h.run()
    expect(m.indications[-1][2] == ipv4(36, 14), "the packet was not indicated")
    mine = [(outcome, index) for tid, outcome, index in m.waits[waits:] if tid == consumer.tid]
    expect(("poll", 0) in mine, f"the re-check did not consume the signal: consumer waits {mine}")
    expect(mine[-1][0] == "blocked" and ("satisfied", 0) not in mine,
           f"the consumer woke for the stale signal: its waits {mine}")
    return_nbls("return", [m.indications[-1][1]])

    # ---- interleavings around teardown ----
    step("a send racing a close: the sender is inside the Send ring when the close starts; the close waits for it")
    s_sys = S["send"]
    close_irp, _ = irp(M.IRP_MJ_CLOSE)
    trigger = m.interrupt_after("memcpy", "IRP_MJ_CLOSE while a send copies", dispatch_entry(M.IRP_MJ_CLOSE),
                                [A["fdo"], close_irp], process="client", irp=close_irp,
                                when=lambda model, a: s_sys <= a[0] < s_sys + V2_RING_SIZE)
    nbls, packets = build_chain([[ipv4(200, 15)]])
    tail_before = m.mem.u32(s_sys + V2_TAIL)
    send(nbls, M.NDIS_STATUS_SUCCESS, what="send racing a close")
    closer = trigger["fired"]
    expect(closer is not None and closer.state == "exited", f"the close did not finish: {closer}")
    expect(m.completed_irps.get(close_irp, (None,))[0] == 0, "IRP_MJ_CLOSE not completed")
    size, data_offset, length = struct.unpack("<IHH", bytes(m.se.mem_read(s_sys + V2_DATA + tail_before, 8)))
    expect(bytes(m.se.mem_read(s_sys + V2_DATA + tail_before + data_offset, length)) == packets[0],
           "the racing packet is not in the Send ring")
    expect(m.mem.u32(s_sys + V2_TAIL) == RING_STOPPED, "Send tail is not RING_STOPPED after the close")
    sender = trigger["interrupted"]
    last_sender_call = max(i for i, (tid, _) in enumerate(m.calls) if tid == sender.tid)
    unlock = [calls for tid, va, calls in m.unlocked if va == S["send_ptr"]]
    expect(unlock and unlock[0] > last_sender_call, "the Send ring was unlocked before the sender left it")
    nothing_held()

    step("a send arriving while a close tears the session down: refused (MEDIA_DISCONNECTED), completed once")
    S = v2_session("v2 registration")
    late, late_packets = build_chain([[ipv4(50, 16)]])

    def link_down(model, a):
        buffer = model.mem.field(a[1], M.NDIS_STATUS_INDICATION, "StatusBuffer")
        return model.mem.field(buffer, M.NDIS_LINK_STATE, "MediaConnectState") == M.MediaConnectStateDisconnected

    hand_to_miniport(late, M.NDIS_STATUS_MEDIA_DISCONNECTED, A)
    trigger = m.interrupt_after("NdisMIndicateStatusEx", "a send during the close's link-down",
                                ch["SendNetBufferListsHandler"], [A["context"], late[0], 0, 1],
                                irql=M.DISPATCH_LEVEL, when=link_down)
    tail_before = m.mem.u32(S["send"] + V2_TAIL)
    close("IRP_MJ_CLOSE with a send arriving")
    expect(trigger["fired"] is not None and trigger["fired"].state == "exited", "the late send did not run")
    expect(m.completions[-1] == late and not m.send_in_flight, "the late NBL was not completed exactly once")
    m.check_completed_untouched(late)
    expect(m.mem.u32(S["send"] + V2_TAIL) == RING_STOPPED, "Send tail")

    step("a process exit during a registration, between its decision to raise the link and the indication: "
         "the link goes down only after it went up")

    def link_decided(model, a):
        # The registration's first lock release after it started the consumer (KeSetEvent): the
        # link-up decision's lock; the indication follows.
        names = [name for tid, name in model.calls if tid == model.current.tid]
        spawned = len(names) - 1 - names[::-1].index("PsCreateSystemThread") if "PsCreateSystemThread" in names else None
        decided = spawned is not None and "KeSetEvent" in names[spawned:]
        if decided:
            links_at_fire.append(len(A["links"]))
        return decided

    links_at_fire = []

    trigger = m.interrupt_after("KeReleaseSpinLock", "process exit during a registration", m.process_notify,
                                [0, m.pids["client"], 0], process="client", when=link_decided)
    links = len(A["links"])
    (sp, _), (rp, _) = ring(V2_RING_SIZE), ring(V2_RING_SIZE)
    status, _, _ = register("registration racing a process exit", v2_payload(sp, event_handle(), rp, event_handle()))
    expect(status == 0, f"the registration: {status:#x}")
    exiter = trigger["fired"]
    expect(exiter is not None and exiter.state == "exited", f"the process exit did not finish: {exiter}")
    expect(links_at_fire == [links], "the exit did not come before the link-up indication")
    expect(A["links"][links:] == [M.MediaConnectStateConnected, M.MediaConnectStateDisconnected],
           f"link states {A['links'][links:]}: up, then down")
    nothing_held()
    close("IRP_MJ_CLOSE after the exit")

    # ---- PnP ----
    step("IRP_MN_QUERY_REMOVE_DEVICE: the session continues, registrations are refused")
    S = v2_session("v2 registration")
    files["second"] = m.alloc(0x100, "file-object")
    status, _, _ = dispatch("query-remove", M.IRP_MJ_PNP, minor=M.IRP_MN_QUERY_REMOVE_DEVICE)
    expect(status == 0 and m.ndis_forwarded[-1][0] == M.IRP_MJ_PNP, "query-remove goes on to NDIS")
    nbls, packets = build_chain([[ipv4(70, 17)]])
    send(nbls, M.NDIS_STATUS_SUCCESS)
    expect(send_ring_packets(S, 0)[0] == packets, "the session no longer carries traffic after query-remove")
    (sp, _), (rp, _) = ring(V2_RING_SIZE), ring(V2_RING_SIZE)
    second = v2_payload(sp, event_handle(), rp, event_handle())
    status, _, _ = register("registration after query-remove", second, file="second")
    expect(status == STATUS_DEVICE_NOT_READY, f"registration after query-remove: {status:#x}")
    close("the client closes its handle on the query-remove notification")
    status, _, _ = register("registration after query-remove, no session", second, file="second")
    expect(status == STATUS_DEVICE_NOT_READY, f"registration while the removal is pending: {status:#x}")

    step("IRP_MN_CANCEL_REMOVE_DEVICE: registrations are accepted again")
    status, _, _ = dispatch("cancel-remove", M.IRP_MJ_PNP, minor=M.IRP_MN_CANCEL_REMOVE_DEVICE)
    expect(status == 0, f"cancel-remove: {status:#x}")
    status, _, _ = register("registration after cancel-remove", second, file="second")
    expect(status == 0, f"registration after cancel-remove: {status:#x}")
    close("IRP_MJ_CLOSE", file="second")

    step("a second adapter instance: IRPs reach the adapter of their device; the process exit ends both sessions")
    B = initialize(MINIPORT_B)
    SA = v2_session("v2 on adapter A")
    SB = v2_session("v2 on adapter B", adapter=B, file="second")
    nbls, packets = build_chain([[ipv4(90, 18)]])
    send(nbls, M.NDIS_STATUS_SUCCESS, adapter=B)
    expect(send_ring_packets(SB, 0)[0] == packets and send_ring_packets(SA, 0)[0] == [],
           "a send on adapter B must reach B's session only")
    publish(SB, ipv4(91, 19))
    h.run()
    expect(m.indications[-1][0] == MINIPORT_B and m.indications[-1][2] == ipv4(91, 19), "B's indication")
    return_nbls("return on B", [m.indications[-1][1]], adapter=B)
    process_exit("the client process exits with sessions on both adapters")
    nothing_held()
    expect(A["links"][-1] == B["links"][-1] == M.MediaConnectStateDisconnected, "links down on both adapters")
    close("IRP_MJ_CLOSE on A")
    close("IRP_MJ_CLOSE on B", adapter=B, file="second")

    step("MiniportDevicePnPEventNotify(SurpriseRemoved) with a session open: the session ends")
    SB = v2_session("v2 on adapter B", adapter=B, file="second")
    event = m.alloc(0x30, "pnp-event")
    m.mem.write(event, bytes([M.NDIS_OBJECT_TYPE_DEFAULT, 1]) + struct.pack("<H", 0x2C))
    m.mem.put(event, NET_DEVICE_PNP_EVENT, "DevicePnPEvent", M.NdisDevicePnPEventSurpriseRemoved)
    h.call("MiniportDevicePnPEventNotify", ch["DevicePnPEventNotifyHandler"], B["context"], event,
           callback="DevicePnPEventNotifyHandler")
    nothing_held()
    status, _, _ = register("registration after the surprise removal", second, adapter=B, file="second")
    expect(status == STATUS_DEVICE_NOT_READY, f"registration on a surprise-removed adapter: {status:#x}")
    close("IRP_MJ_CLOSE on B", adapter=B, file="second")

    step("a return racing a halt: MiniportHaltEx starts while a return is under way; the NBL is freed once, "
         "the pool after it")
    C = initialize(MINIPORT_C)
    SC = v2_session("v2 on adapter C", adapter=C, file="second")
    publish(SC, ipv4(92, 20))
    h.run()
    held = [n for n in m.held_by_stack() if m.pool_owner[m.nbls[n]["pool"]] == MINIPORT_C]
    expect(len(held) == 1, "one NBL with the stack")
    trigger = m.interrupt_after("KeReleaseSpinLock", "MiniportHaltEx during a return", ch["HaltHandlerEx"],
                                [C["context"], M.NdisHaltDeviceDisabled],
                                when=lambda model, a: model.current.what == "return racing a halt")
    pool = C["pool"]
    return_nbls("return racing a halt", held, adapter=C)
    halt = trigger["fired"]
    expect(halt is not None and halt.state == "exited", f"MiniportHaltEx did not finish: {halt}")
    C["halted"] = True
    expect(pool not in m.pools and m.nbls[held[0]]["freed"], "the pool or the NBL")
    nothing_held()
    close("IRP_MJ_CLOSE after the halt (NDIS's)", adapter=C, file="second")
    expect(m.ndis_forwarded[-1][0] == M.IRP_MJ_CLOSE, "a close for a halted adapter goes to NDIS")

    step("IRP_MN_SURPRISE_REMOVAL: the session ends, registrations are refused")
    S = v2_session("v2 registration")
    status, _, _ = dispatch("surprise removal", M.IRP_MJ_PNP, minor=M.IRP_MN_SURPRISE_REMOVAL)
    expect(status == 0 and (MINIPORT_A, M.IRP_MN_SURPRISE_REMOVAL) in m.pnp_events,
           "NDIS did not see the surprise removal")
    nothing_held()
    expect(A["links"][-1] == M.MediaConnectStateDisconnected, "link down")
    status, _, _ = register("registration after surprise removal", second, file="second")
    expect(status == STATUS_DEVICE_NOT_READY, f"registration after surprise removal: {status:#x}")

    step("IRP_MN_REMOVE_DEVICE: NDIS halts the adapter from its PnP handler; the client's late close goes to NDIS")
    pool = A["pool"]
    status, _, _ = dispatch("remove", M.IRP_MJ_PNP, minor=M.IRP_MN_REMOVE_DEVICE)
    expect(status == 0 and A["halted"] and pool not in m.pools, "the removed adapter was not halted")
    forwarded = len(m.ndis_forwarded)
    status, _, _ = dispatch("IRP_MJ_CLOSE after the removal", M.IRP_MJ_CLOSE)
    expect(status == 0 and len(m.ndis_forwarded) == forwarded + 1, "the late close must reach NDIS")

    step("MiniportHaltEx with a session open (NDIS halts before the driver can unload)")
    D = initialize(MINIPORT_D)
    S = v2_session("v2 on adapter D", adapter=D)
    publish(S, ipv4(93, 21))
    h.run()
    held = [n for n in m.held_by_stack() if m.pool_owner[m.nbls[n]["pool"]] == D["handle"]]
    halt = h.start("MiniportHaltEx", ch["HaltHandlerEx"], D["context"], M.NdisHaltDeviceDisabled,
                   callback="HaltHandlerEx")
    expect(halt.state == "blocked", "MiniportHaltEx returned with an indication outstanding")
    return_nbls("the stack returns the last NBL", held, adapter=D)
    expect(halt.state == "exited", f"MiniportHaltEx did not finish after the return: {halt}")
    D["halted"] = True
    nothing_held()
    close("IRP_MJ_CLOSE after the halt", adapter=D)

    def halt(adapter):
        h.call("MiniportHaltEx", ch["HaltHandlerEx"], adapter["context"], M.NdisHaltDeviceDisabled,
               callback="HaltHandlerEx")
        adapter["halted"] = True

    step("the standardized offload keywords: an adapter whose registry says *LsoV2IPv4 = 0 (a REG_SZ, as the "
         "Advanced page or NDIS writes a value; the INF declares only the defaults under Ndi\\params), "
         "*TCPChecksumOffloadIPv4 = 1 and *IPChecksumOffloadIPv4 = 1 (transmit only), *TCPChecksumOffloadIPv6 = 2 "
         "(receive only) and *RscIPv4 = \"Enabled\" (a REG_SZ NDIS reads as the integer 0) starts with LSOv2 IPv4, "
         "the TCP/IPv4 and IPv4 header receive checksums and the TCP/IPv6 transmit checksum (each with its options "
         "field) and RSC IPv4 off and still offered; the stack may turn LSOv2 IPv4 on, and turn the TCP/IPv6 "
         "checksum around (transmit on, receive off) with OID_TCP_OFFLOAD_PARAMETERS")
    H = initialize(MINIPORT_H, registry={"*LsoV2IPv4": "0", "*TCPChecksumOffloadIPv4": 1, "*RscIPv6": "7",
                                         "*IPChecksumOffloadIPv4": "1", "*TCPChecksumOffloadIPv6": "2",
                                         "*RscIPv4": "Enabled"})
    hardware, current = H["offload_hardware"], H["offload"]
    expect(bytes(hardware) == bytes(A["offload_hardware"]), "the keywords changed the hardware capabilities")
    want = L.NDIS_OFFLOAD.from_buffer_copy(bytes(hardware))
    ctypes.memset(ctypes.addressof(want.LsoV2.IPv4), 0, ctypes.sizeof(want.LsoV2.IPv4))
    # An options field goes with its checksum: in IPv4Receive only the UDP checksum stays on, so
    # both options fields are off there; in IPv6Transmit TcpOptionsSupported is off with the TCP
    # checksum. IPv4Transmit and IPv6Receive keep everything.
    r4 = want.Checksum.IPv4Receive
    r4.TcpChecksum = r4.TcpOptionsSupported = r4.IpChecksum = r4.IpOptionsSupported = 0
    want.Checksum.IPv6Transmit.TcpChecksum = want.Checksum.IPv6Transmit.TcpOptionsSupported = 0
    want.RscIPv4Enabled = 0
    c = current.Checksum
    expect(bytes(current) == bytes(want), "DefaultOffloadConfiguration: LSOv2 IPv4, the TCP/IPv4 and IPv4 header "
           "receive checksums and the TCP/IPv6 transmit checksum with their options fields, and RSC IPv4 (a "
           "non-numeric value, 0 as NDIS reads it) off, everything else (RSC IPv6 with its out-of-range value "
           f"included) on; IPv4Receive {bytes(c.IPv4Receive).hex()}, IPv6Transmit {bytes(c.IPv6Transmit).hex()}, "
           f"RSC {current.RscIPv4Enabled}/{current.RscIPv6Enabled}")
    expect(current.Checksum.IPv4Transmit.TcpChecksum == 1 and current.Checksum.IPv4Receive.UdpChecksum == 1,
           "the TCP/IPv4 transmit and UDP/IPv4 receive checksums stay on")
    status, *_ = set_oid(O.OID_TCP_OFFLOAD_PARAMETERS, O.offload_parameters(fields=[(O.PARAMS_LSO_V2_IPV4, 2)]),
                         adapter=H)
    now = H["offload_configs"][-1] if H["offload_configs"] else None
    expect(status == 0 and now is not None and bytes(now.LsoV2.IPv4) == bytes(hardware.LsoV2.IPv4)
           and bytes(now.Checksum) == bytes(current.Checksum),
           "LSOv2 IPv4 turned on by the stack; the TCP/IPv4 receive checksum still off as the keyword said")
    # The checksum path of the OID: TCPIPv6Checksum transmit on, receive off. IPv6Transmit gets
    # everything back; IPv6Receive keeps only the UDP checksum, so TcpOptionsSupported goes with
    # its TCP checksum there. Nothing else changes.
    configs = len(H["offload_configs"])
    status, *_ = set_oid(O.OID_TCP_OFFLOAD_PARAMETERS, O.offload_parameters(
        fields=[(O.PARAMS_TCP_IPV6_CHECKSUM, O.PARAMS_TX_ENABLED_RX_DISABLED)]), adapter=H)
    want = L.NDIS_OFFLOAD.from_buffer_copy(bytes(now))
    want.Checksum.IPv6Transmit = L.NDIS_OFFLOAD.from_buffer_copy(bytes(hardware)).Checksum.IPv6Transmit
    want.Checksum.IPv6Receive.TcpChecksum = want.Checksum.IPv6Receive.TcpOptionsSupported = 0
    after = H["offload_configs"][-1]
    c = after.Checksum
    expect(status == 0 and len(H["offload_configs"]) == configs + 1 and bytes(after) == bytes(want)
           and c.IPv6Transmit.TcpChecksum == c.IPv6Transmit.TcpOptionsSupported == 1
           and c.IPv6Receive.UdpChecksum == 1 and c.IPv6Receive.TcpChecksum == c.IPv6Receive.TcpOptionsSupported == 0,
           f"OID_TCP_OFFLOAD_PARAMETERS TCPIPv6Checksum = 2 ({status:#x}): IPv6Transmit {bytes(c.IPv6Transmit).hex()}, "
           f"IPv6Receive {bytes(c.IPv6Receive).hex()}; the TCP/IPv6 transmit checksum with its TcpOptionsSupported "
           "on, the receive one with it off, the UDP/IPv6 receive checksum on, nothing else changed")
    halt(H)

    step("the grouped checksum keywords: an adapter whose registry says *TCPUDPChecksumOffloadIPv4 = 1 (transmit "
         "only), *TCPUDPChecksumOffloadIPv6 = 0 and the granular *IPChecksumOffloadIPv4 = 2 and "
         "*TCPChecksumOffloadIPv4 = 2 (receive only) starts with every IPv4 receive checksum and every IPv6 checksum "
         "off (those directions all zero), the UDP IPv4 transmit checksum on, the IPv4 header and TCP ones off with "
         "their IpOptionsSupported and TcpOptionsSupported, and all still offered")
    J = initialize(MINIPORT_J, registry={"*TCPUDPChecksumOffloadIPv4": "1", "*TCPUDPChecksumOffloadIPv6": "0",
                                         "*IPChecksumOffloadIPv4": "2", "*TCPChecksumOffloadIPv4": "2"})
    hardware, current = J["offload_hardware"], J["offload"]
    expect(bytes(hardware) == bytes(A["offload_hardware"]), "the grouped keywords changed the hardware capabilities")
    want = L.NDIS_OFFLOAD.from_buffer_copy(bytes(hardware))
    for direction in (want.Checksum.IPv4Receive, want.Checksum.IPv6Transmit, want.Checksum.IPv6Receive):
        ctypes.memset(ctypes.addressof(direction), 0, ctypes.sizeof(direction))
    # IPv4Transmit keeps only the UDP checksum: IpOptionsSupported goes with the IPv4 header
    # checksum, TcpOptionsSupported with the TCP checksum.
    t4 = want.Checksum.IPv4Transmit
    t4.IpChecksum = t4.IpOptionsSupported = t4.TcpChecksum = t4.TcpOptionsSupported = 0
    c = current.Checksum
    expect(bytes(current) == bytes(want), "DefaultOffloadConfiguration with the grouped keywords: "
           f"IPv4Transmit {bytes(c.IPv4Transmit).hex()}, IPv4Receive {bytes(c.IPv4Receive).hex()}, "
           f"IPv6Transmit {bytes(c.IPv6Transmit).hex()}, IPv6Receive {bytes(c.IPv6Receive).hex()}")
    halt(J)

    step("the standardized offload keywords: an adapter whose configuration cannot be opened starts with every "
         "offload on")
    I = initialize(MINIPORT_I, registry=M.UNOPENABLE)
    expect(I["keywords_read"] == [], f"keywords read without a configuration: {I['keywords_read']}")
    expect(bytes(I["offload"]) == bytes(I["offload_hardware"]) == bytes(A["offload_hardware"]),
           "without a configuration, every offered offload on")
    halt(I)

    step("unload with a session open: NDIS halts the adapters (the session ends), then the driver unloads; "
         "nothing left (pool, NBLs, threads, MDLs, references)")
    E = initialize(MINIPORT_E)
    SE = v2_session("v2 on adapter E", adapter=E, file="second")
    nbls, _ = build_chain([[ipv4(94, 22)]])
    send(nbls, M.NDIS_STATUS_SUCCESS, adapter=E)
    for adapter in (B, E):
        halt(adapter)
    expect(not m.pools, "NBL pools not freed at halt")
    expect(m.mem.u32(SE["send"] + V2_TAIL) == RING_STOPPED, "the open session was not ended by the halt")
    h.call("unload", m.mem.u64(m.driver_object + 0x68), m.driver_object, callback="UnloadHandler")
    expect(m.deregistered and m.wdf_driver == 0 and m.wdf_unbound and m.process_notify is None,
           "unload: deregistration, WdfDriverMiniportUnload through the override (unbinding KMDF), notify removal")
    expect(not m.pool, f"pool allocations leaked at unload (size, tag): {sorted(m.pool.values())}")
    expect(all(i["freed"] for i in m.nbls.values()) and not m.held_by_stack(), "an NBL not returned or not freed")
    expect(not m.send_in_flight, "a sent NBL not completed")
    expect(all(t.state in ("exited", "closed") for t in m.all_threads), "a thread still running")
    nothing_held()

    # ---- older NDIS versions: a fresh driver image on a system whose NDIS is 6.30, then 6.80 ----
    for version, revision in ((0x0006001E, 3), (0x00060050, 5)):
        minor = version & 0xFFFF
        step(f"on NDIS 6.{minor}: registered as 6.{minor}, NDIS_OFFLOAD revision {revision} in the offload "
             f"attributes and after OID_TCP_OFFLOAD_PARAMETERS (the NDIS_OFFLOAD documentation's table), no USO "
             f"offered; halt and unload leave nothing")
        older_ndis(image, version, revision)
    print(f"emulate-sys: all {len(steps)} steps passed")


def older_ndis(image, version, revision):
    """DriverEntry, one adapter, an OID_TCP_OFFLOAD_PARAMETERS, halt and unload, in a fresh
    emulator whose NDIS reports `version`; the model checks each NDIS_OFFLOAD's revision and size
    against the registered version, and this checks the one it decoded."""
    h = Harness(image)
    m = h.m
    m.ndis_version = version
    m.driver_object = m.alloc(DRIVER_OBJECT_SIZE, "driver-object")
    m.registry_path = m.alloc(0x10, "registry-path")
    path = "\\Registry\\Machine\\System\\CurrentControlSet\\Services\\ringtun".encode("utf-16-le")
    buf = m.alloc(len(path) + 2, "registry-path-buffer")
    m.se.mem_write(buf, path)
    m.se.mem_write(m.registry_path, struct.pack("<HHIQ", len(path), len(path) + 2, 0, buf))
    entry = m.image[0] + h.pe.OPTIONAL_HEADER.AddressOfEntryPoint
    status = h.call("DriverEntry", entry, m.driver_object, m.registry_path)
    expect(status == 0, f"DriverEntry on NDIS {version:#x}: {status:#x}")
    expect(m.chars_minor == version & 0xFFFF, f"registered NDIS 6.{m.chars_minor} on a system with {version:#x}")
    m.driver_entry_done = True
    ch = m.chars
    adapter = m.new_adapter(MINIPORT_A, m.alloc(0x150, "fdo"))
    status = h.call("MiniportInitializeEx", ch["InitializeHandlerEx"], MINIPORT_A, 0, m.alloc(0x100, "init"),
                    callback="InitializeHandlerEx")
    expect(status == 0, f"MiniportInitializeEx: {status:#x}")
    offload = adapter["offload"]
    expect(offload is not None and offload.Header.Revision == revision, f"NDIS_OFFLOAD revision {offload.Header.Revision}")
    expect(bytes(offload.UdpSegmentation) == bytes(len(bytes(offload.UdpSegmentation))), "USO offered below NDIS 6.83")
    expect(offload.LsoV2.IPv4.MaxOffLoadSize == LARGE_SEND_MAX_PAYLOAD and offload.RscIPv4Enabled == 1,
           "LSOv2 and RSC offered")
    # OID_TCP_OFFLOAD_PARAMETERS (revision 3, 26 bytes: what an NDIS 6.30 stack sends) turning
    # LSOv2 IPv6 off: the current configuration indicated with the same revision.
    request = m.alloc(OID_REQUEST_SIZE_REVISION_2, "oid-request")
    data = m.alloc(32, "oid-buffer")
    m.se.mem_write(data, O.offload_parameters(revision=3, size=26, fields=[(O.PARAMS_LSO_V2_IPV6, 1)]))
    m.mem.write(request, bytes([M.NDIS_OBJECT_TYPE_OID_REQUEST, M.NDIS_OID_REQUEST_REVISION_2])
                + struct.pack("<H", OID_REQUEST_SIZE_REVISION_2))
    m.mem.put(request, NDIS_OID_REQUEST, "RequestType", M.NdisRequestSetInformation)
    for field, value in (("Oid", O.OID_TCP_OFFLOAD_PARAMETERS), ("InformationBuffer", data),
                         ("InformationBufferLength", 26), ("BytesWritten", 0), ("BytesNeeded", 0)):
        m.mem.put(request + OID_REQUEST_DATA, NDIS_OID_REQUEST_QUERY, field, value)
    status = h.call("MiniportOidRequest", ch["OidRequestHandler"], adapter["context"], request,
                    callback="OidRequestHandler")
    expect(status == 0 and len(adapter["offload_configs"]) == 1, f"OID_TCP_OFFLOAD_PARAMETERS: {status:#x}")
    now = adapter["offload_configs"][0]
    expect(now.Header.Revision == revision and not any(bytes(now.LsoV2.IPv6))
           and bytes(now.LsoV2.IPv4) == bytes(offload.LsoV2.IPv4), "the configuration indicated")
    h.call("MiniportHaltEx", ch["HaltHandlerEx"], adapter["context"], M.NdisHaltDeviceDisabled,
           callback="HaltHandlerEx")
    adapter["halted"] = True
    h.call("unload", m.mem.u64(m.driver_object + 0x68), m.driver_object, callback="UnloadHandler")
    expect(m.deregistered and not m.pools and not m.pool, f"unload on NDIS {version:#x}: something left")


if __name__ == "__main__":
    try:
        main()
    except (Failure, M.ModelError) as e:
        print(f"emulate-sys: FAILED: {e}", file=sys.stderr)
        sys.exit(1)
