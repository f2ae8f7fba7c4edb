"""Runs the linked x64 ringtun.sys in speakeasy against the model, step by step (scripts/emulate-sys).

    python run.py IMAGE [--trace]

Each step calls one of the driver's entry points the way Windows would, then asserts what the
model recorded. The emulator runs one thread at a time: the driver's consumer (system) thread is
run by the model in its own scheduling runs, switched to when the driver waits for it (see
Model.run_thread), never concurrently with another entry point.
"""
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
from layouts import DRIVER_OBJECT_SIZE, IO_STACK_LOCATION, IRP, NET_BUFFER, NET_BUFFER_LIST as NBL  # noqa: E402
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
CAPACITY = 0x20000
V1_RING_SIZE = 12 + CAPACITY + 0x10000
V2_RING_SIZE = 128 + CAPACITY + ((8 + 0xFFFF + 7) & ~7) - 8


def no_network(*_args, **_kwargs):
    raise RuntimeError("the emulator run must not use the network")


socket.socket = no_network            # speakeasy simulates networking; make sure nothing is real
socket.create_connection = no_network


class Failure(Exception):
    pass


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
        m.raised = []
        m.debug_output = []
        m.ndis_version = 0x00060053
        m.scratch_stack = m.alloc(0x100, "scratch") + 0x80
        m.unload_stub = self.se.mem_alloc(0x1000, tag="model.ndis-unload")
        m.exit_stub = self.se.emu.get_proc("ntoskrnl", "model_thread_exit")
        m.ndis_dispatch = [self.se.emu.get_proc("ndis", f"ndisDispatch{i}") for i in range(M.IRP_MJ_MAXIMUM_FUNCTION + 1)]
        for i in range(M.IRP_MJ_MAXIMUM_FUNCTION + 1):
            setattr(m, f"h_ndisDispatch{i}", m.ndis_dispatch_handler(i))
        # A bigger stack than the image's commit size: unoptimized Rust frames are large.
        self.se.emu.stack_base, _ = self.se.emu.alloc_stack(0x80000)
        # ExEventObjectType is data: its import slot holds the address of a POBJECT_TYPE variable.
        m.event_type_object = m.alloc(0x100, "event-type")
        variable = m.alloc(8, "ExEventObjectType")
        m.mem.w64(variable, m.event_type_object)
        for entry in self.pe.DIRECTORY_ENTRY_IMPORT:
            for imp in entry.imports:
                name = imp.name.decode()
                if name == "ExEventObjectType":
                    m.mem.w64(base + imp.address - self.pe.OPTIONAL_HEADER.ImageBase, variable)
                    continue
                self.hook(name)
        for name in ["WdfDriverCreate", "WdfDriverMiniportUnload", "model_thread_exit"] + [
                f"ndisDispatch{i}" for i in range(M.IRP_MJ_MAXIMUM_FUNCTION + 1)]:
            self.hook(name)
        self.error = None
        # `int 3` (wdk-panic's debug break before its bug check) goes to the model, which notes it
        # and continues as an attached kernel debugger would, so that KeBugCheckEx is reached and
        # reported; every other interrupt keeps speakeasy's handling.
        emu = self.se.emu
        builtin = emu._hook_interrupt

        def interrupt(emu_, intnum, ctx=[]):
            if intnum == 3:
                m.debug_break(emu.get_pc())
                return True
            return builtin(emu_, intnum, ctx)
        emu._hook_interrupt = interrupt
        for hook in emu.hooks.get(speakeasy.common.HOOK_INTERRUPT, []):
            if hook.cb == builtin:
                hook.cb = interrupt

    def hook(self, name):
        def cb(emu, api_name, func, params):
            try:
                handler = getattr(self.m, "h_" + name, None)
                if handler is None:
                    raise M.ModelError(f"{api_name}: the model has no handler (a new import needs one)")
                return handler()
            except M.ModelError as e:
                if self.error is None:
                    self.error = f"{name}: {e}"
                self.se.stop()
                return 0
        self.se.add_api_hook(cb, "*", name, argc=8, call_conv=speakeasy.winenv.arch.CALL_CONV_CDECL)

    def call(self, what, addr, *args, expect_irql=M.PASSIVE_LEVEL):
        m = self.m
        self.error = None
        m.irql = expect_irql
        self.se.call(addr, list(args))
        run = self.se.emu.curr_run
        if self.error:
            raise Failure(f"{what}: {self.error}")
        if run.error:
            raise Failure(f"{what}: emulation error {run.error.get('type')} at {run.error.get('pc')}: "
                          f"{run.error.get('api_name', '')} {run.error.get('traceback', '')[-600:]}")
        if m.locks_held or m.irql != expect_irql:
            raise Failure(f"{what}: returned holding {len(m.locks_held)} spin lock(s) at IRQL {m.irql}")
        if m.subject_state is not None:
            raise Failure(f"{what}: subject context not released")
        return self.se.emu.get_return_val() & 0xFFFFFFFFFFFFFFFF

    def run_new_thread(self, thread):
        """A scheduling run of its own: the system thread starts at its start routine and runs
        until it waits (the model then parks it); the model resumes it when teardown waits for it."""
        m = self.m
        expect(thread.state == "new", f"system thread {thread.handle:#x} is {thread.state}, not new")
        stack_top = m.alloc(0x40000, "thread-stack") + 0x40000 - 0x100
        saved_base = self.se.emu.stack_base
        self.se.emu.stack_base = stack_top
        m.current_thread, thread.state, m.process = thread, "running", "system"
        try:
            self.call("system thread", thread.start, thread.context)
        finally:
            self.se.emu.stack_base = saved_base
            m.process = "client"
        expect(thread.state == "parked", "the system thread ended instead of waiting for more packets")
        # Its outermost return address is this run's end; from now on it is the thread's exit.
        slots = [a for a in range(stack_top - 0x100, stack_top + 8, 8) if m.mem.u64(a) == self.se.emu.return_hook]
        expect(len(slots) == 1, "the system thread's outermost return address not found")
        m.mem.w64(slots[0], m.exit_stub)


def expect(cond, message):
    if not cond:
        raise Failure(message)


def main():
    image = sys.argv[1]
    trace = "--trace" in sys.argv
    h = Harness(image, trace)
    m = h.m
    steps = []

    def step(name):
        steps.append(name)
        print(f"emulate-sys: {name}")

    # ---- DriverEntry (through the KMDF entry stub) ----
    step("DriverEntry")
    m.driver_object = m.alloc(DRIVER_OBJECT_SIZE, "driver-object")
    m.registry_path = m.alloc(0x10, "registry-path")
    path = "\\Registry\\Machine\\System\\CurrentControlSet\\Services\\ringtun".encode("utf-16-le")
    buf = m.alloc(len(path) + 2, "registry-path-buffer")
    m.se.mem_write(buf, path)
    m.se.mem_write(m.registry_path, struct.pack("<HHIQ", len(path), len(path) + 2, 0, buf))
    m.fdo = m.alloc(0x150, "fdo")
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

    # ---- MiniportInitializeEx, MiniportRestart ----
    step("MiniportInitializeEx")
    status = h.call("MiniportInitializeEx", m.chars["InitializeHandlerEx"], m.miniport_handle, 0, m.alloc(0x100, "init"))
    expect(status == 0, f"MiniportInitializeEx returned {status:#x}")
    expect(m.adapter_context and m.general and len(m.pools) == 1, "attributes and pool")
    step("MiniportRestart")
    status = h.call("MiniportRestart", m.chars["RestartHandler"], m.adapter_context, m.alloc(0x40, "restart"))
    expect(status == 0, f"MiniportRestart returned {status:#x}")

    # ---- IRP plumbing ----
    file_object = m.alloc(0x100, "file-object")

    def irp(major, code=0, input_=b"", output_len=0, requestor_mode=M.UserMode):
        size = max(len(input_), output_len)
        buffer = m.alloc(max(size, 16), "system-buffer")
        m.se.mem_write(buffer, input_)
        i = m.alloc(0xD0 + 0x48 * 2, "irp")
        stack = i + 0xD0 + 0x48
        m.mem.put(i, IRP, "SystemBuffer", buffer)
        m.mem.put(i, IRP, "RequestorMode", requestor_mode)
        m.requestor_mode = requestor_mode
        m.mem.put(i, IRP, "CurrentStackLocation", stack)
        m.mem.put(i, IRP, "StackCount", 2)
        m.mem.put(i, IRP, "CurrentLocation", 2)
        m.mem.put(i, IRP, "Status", 0x103)
        m.mem.put(stack, IO_STACK_LOCATION, "MajorFunction", major)
        m.mem.put(stack, IO_STACK_LOCATION, "OutputBufferLength", output_len)
        m.mem.put(stack, IO_STACK_LOCATION, "InputBufferLength", len(input_))
        m.mem.put(stack, IO_STACK_LOCATION, "IoControlCode", code)
        m.mem.put(stack, IO_STACK_LOCATION, "FileObject", file_object)
        m.mem.put(stack, IO_STACK_LOCATION, "DeviceObject", m.fdo)
        return i, buffer

    def dispatch(what, major, *a, **k):
        i, buffer = irp(major, *a, **k)
        m.process = "client"
        checks = len(m.access_checks)
        ret = h.call(what, m.mem.u64(m.driver_object + 0x70 + 8 * major), m.fdo, i) & 0xFFFFFFFF
        code = a[0] if a else k.get("code", 0)
        if major == M.IRP_MJ_DEVICE_CONTROL and code in DESIRED_ACCESS and m.requestor_mode == M.UserMode:
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
    expect(caps[:3] == (28, 2, 1) and caps[3:5] == (4096, 4096) and caps[5:7] == (0x20000, 0x4000000),
           f"capabilities {caps}")

    step("capability IOCTL refused to a standard user (no ACE grants FILE_READ_DATA)")
    m.token = M.Token.standard_user()
    status, _, _ = dispatch("capabilities, standard user", M.IRP_MJ_DEVICE_CONTROL, IOCTL_QUERY_CAPABILITIES, b"", 28)
    expect(status == STATUS_ACCESS_DENIED, f"capabilities, standard user: {status:#x}")
    expect(m.access_checks[-1][2:] == (0, STATUS_ACCESS_DENIED),
           f"capabilities, standard user: SeAccessCheck {m.access_checks[-1]}")
    m.token = M.Token.elevated_admin()

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

    def event_handle(handle):
        obj = m.alloc(0x18, "client-event")
        m.mem.write(obj, bytes([0, 0, 6, 0]) + b"\0" * 20)
        m.handles[handle] = obj
        m.events[obj] = "client"
        return obj

    def register(what, payload, bits32=False):
        m.requestor_32bit = bits32
        return dispatch(what, M.IRP_MJ_DEVICE_CONTROL, IOCTL_REGISTER_RINGS, payload, 0)

    def close(what):
        locked_before = [k for k, v in m.mdls.items() if v["locked"]]
        status, _, _ = dispatch(what, M.IRP_MJ_CLOSE)
        expect(status == 0, f"{what}: {status:#x}")
        expect(not any(v["locked"] for v in m.mdls.values()), f"{what}: ring pages still locked")
        expect(not m.mdls, f"{what}: MDLs not freed")
        expect(all(v == 0 for v in m.refs.values()), f"{what}: client events still referenced")
        expect(all(t.state == "closed" for t in m.threads.values()), f"{what}: system thread not ended and closed")
        return locked_before

    def refused(what, token, reason):
        """A registration by `token` must be refused by SeAccessCheck itself (not before it)."""
        m.token = token
        checks = len(m.access_checks)
        status, _, _ = register(what, v1)
        expect(status == STATUS_ACCESS_DENIED, f"{what}: {status:#x}")
        expect(len(m.access_checks) == checks + 1, f"{what}: SeAccessCheck not called once")
        desired, mode, granted, check_status = m.access_checks[-1]
        expect(desired == DESIRED_ACCESS[IOCTL_REGISTER_RINGS] and mode == M.UserMode, f"{what}: asked {desired:#x} in mode {mode}")
        expect(check_status == STATUS_ACCESS_DENIED and granted == 0, f"{what}: SeAccessCheck did not deny ({reason})")
        expect(not m.mdls and not m.threads, f"{what}: a refused caller left state behind")
        m.token = M.Token.elevated_admin()

    (s_ptr, _), (r_ptr, _) = ring(V1_RING_SIZE), ring(V1_RING_SIZE)
    event_handle(0x104), event_handle(0x108)
    v1 = struct.pack("<IIQQIIQQ", V1_RING_SIZE, 0, s_ptr, 0x104, V1_RING_SIZE, 0, r_ptr, 0x108)
    step("non-admin caller refused (SeAccessCheck: no allow ACE for a standard user)")
    refused("non-admin registration", M.Token.standard_user(), "no ACE grants a standard user")
    step("UAC-filtered administrator refused (Administrators deny-only, medium integrity)")
    refused("filtered-admin registration", M.Token.filtered_admin(), "a deny-only group grants nothing")
    step("administrator at medium integrity refused (the label's NO_WRITE_UP)")
    refused("medium-integrity admin registration", M.Token.medium_admin(), "no write up to a high label")

    step("v1 registration, 64-bit layout")
    status, _, _ = register("v1 64-bit", v1)
    expect(status == 0, f"v1 64-bit registration: {status:#x}")
    expect(m.access_checks[-1][2:] == (DESIRED_ACCESS[IOCTL_REGISTER_RINGS], 0), f"admin: SeAccessCheck {m.access_checks[-1]}")
    expect(sum(v["locked"] for v in m.mdls.values()) == 2 and [t.state for t in m.threads.values()] == ["new"],
           "two rings locked, one system thread created")
    expect(m.link_states[-1] == M.MediaConnectStateConnected, "link up after registration")
    close("IRP_MJ_CLOSE after v1 64-bit")
    expect(m.link_states[-1] == M.MediaConnectStateDisconnected, "link down after close")

    step("v1 registration, 32-bit layout (WOW64 caller)")
    (s32, _), (r32, _) = ring(V1_RING_SIZE), ring(V1_RING_SIZE)
    v1_32 = struct.pack("<IIIIII", V1_RING_SIZE, s32, 0x104, V1_RING_SIZE, r32, 0x108)
    status, _, _ = register("v1 32-bit", v1_32, bits32=True)
    expect(status == 0, f"v1 32-bit registration: {status:#x}")

    step("the client process exits: the notification ends its session")
    m.process = "client"
    h.call("process exit", m.process_notify, 0, m.pids["client"], 0)
    expect(not any(v["locked"] for v in m.mdls.values()) and not m.mdls, "process exit: ring pages still locked")
    expect(all(v == 0 for v in m.refs.values()), "process exit: client events still referenced")
    expect(all(t.state == "closed" for t in m.threads.values()), "process exit: system thread not ended")
    expect(m.link_states[-1] == M.MediaConnectStateDisconnected, "link down after the session ended")
    close("IRP_MJ_CLOSE after the process exit")

    step("registration with a bad ring pointer (probe raises, SEH catches)")
    threads = len(m.threads)
    (s2, _) = ring(V2_RING_SIZE)
    bad = 0x7FF00000                      # page-aligned, never mapped for the client
    v2_bad = struct.pack("<IIIHHQQIHHQQ", 2, 0, V2_RING_SIZE, 0, 0, s2, 0x104, V2_RING_SIZE, 0, 0, bad, 0x108)
    status, _, _ = register("bad pointer", v2_bad)
    expect(status == STATUS_INVALID_USER_BUFFER, f"bad pointer: {status:#x}")
    expect(m.raised == [M.STATUS_ACCESS_VIOLATION], "the probe's exception was not raised/caught")
    expect(not m.mdls and all(v == 0 for v in m.refs.values()) and len(m.threads) == threads,
           "a refused registration left state")

    step("registration with an event handle the client does not have")
    (r2, _) = ring(V2_RING_SIZE)
    v2_bad_handle = struct.pack("<IIIHHQQIHHQQ", 2, 0, V2_RING_SIZE, 0, 0, s2, 0x104, V2_RING_SIZE, 0, 0, r2, 0x1FC)
    status, _, _ = register("bad handle", v2_bad_handle)
    expect(status == STATUS_INVALID_HANDLE, f"bad handle: {status:#x}")
    expect(not m.mdls and all(v == 0 for v in m.refs.values()) and len(m.threads) == threads,
           "a refused registration left state")

    step("v2 registration")
    (s_ptr, s_sys), (r_ptr, r_sys) = ring(V2_RING_SIZE), ring(V2_RING_SIZE)
    send_event = m.handles[0x104]
    v2 = struct.pack("<IIIHHQQIHHQQ", 2, 0, V2_RING_SIZE, 0, 0, s_ptr, 0x104, V2_RING_SIZE, 0, 0, r_ptr, 0x108)
    status, _, _ = register("v2", v2)
    expect(status == 0, f"v2 registration: {status:#x}")

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

    def send(nbls, status, irql=M.PASSIVE_LEVEL):
        m.send_in_flight.update(nbls)
        for n in nbls:
            m.send_expected[n] = status
        before = len(m.completions)
        flags = 1 if irql == M.DISPATCH_LEVEL else 0     # NDIS_SEND_FLAGS_DISPATCH_LEVEL
        h.call("MiniportSendNetBufferLists", m.chars["SendNetBufferListsHandler"], m.adapter_context, nbls[0], 0,
               flags, expect_irql=irql)
        expect(len(m.completions) == before + 1 and m.completions[-1] == nbls, "each NBL completed exactly once")
        expect(not m.send_in_flight, "NBLs left uncompleted")

    def send_ring_packets(offset):
        tail, got = m.mem.u32(s_sys + 64), []
        while offset < tail:
            size, data_offset, length = struct.unpack("<IHH", bytes(m.se.mem_read(s_sys + 128 + offset, 8)))
            expect(data_offset == 8 and size == (8 + length + 7) & ~7, "v2 slot header (no room registered)")
            got.append(bytes(m.se.mem_read(s_sys + 128 + offset + data_offset, length)))
            offset += size
        return got, tail

    m.se.mem_write(s_sys + 4, struct.pack("<I", 1))      # Send ring alertable: the client sleeps
    nbls, packets = build_chain([[ipv4(40, 1), ipv4(100, 2)], [ipv4(1300, 3)]])
    sets = len(m.set_events)
    send(nbls, M.NDIS_STATUS_SUCCESS)
    got, tail = send_ring_packets(0)
    expect(got == packets, f"Send ring holds {len(got)} packets, not the {len(packets)} sent, or other bytes")
    expect(send_event in m.set_events[sets:], "the client's Send event was not signalled although alertable")

    step("MiniportSendNetBufferLists at DISPATCH_LEVEL (completion flags follow the IRQL)")
    nbls, packets = build_chain([[ipv4(20, 4)], [ipv4(21, 5)], [ipv4(22, 6)]])
    send(nbls, M.NDIS_STATUS_SUCCESS, irql=M.DISPATCH_LEVEL)
    got, _ = send_ring_packets(tail)
    expect(got == packets, "packets sent at DISPATCH_LEVEL missing from the Send ring")

    # ---- Receive ring -> consumer thread -> NdisMIndicateReceiveNetBufferLists ----
    step("Receive ring -> NdisMIndicateReceiveNetBufferLists (consumer thread, separate run)")
    packet = ipv4(60, 7)
    slot = (8 + len(packet) + 7) & ~7
    m.se.mem_write(r_sys + 128, struct.pack("<IHH", slot, 8, len(packet)) + packet)
    m.se.mem_write(r_sys + 64, struct.pack("<I", slot))   # tail
    consumer = [t for t in m.threads.values() if t.state == "new"]
    expect(len(consumer) == 1, "one consumer thread for the v2 session")
    h.run_new_thread(consumer[0])
    expect(m.thread_priorities.get(consumer[0]) == 1,
           f"consumer priority {m.thread_priorities.get(consumer[0])}: LOW_PRIORITY + 1 expected")
    expect(m.delays > 0, "the consumer spun for a new tail without yielding (KeDelayExecutionThread)")
    expect(len(m.indications) == 1 and m.indications[0][1] == packet, "the Receive ring packet was not indicated")
    expect(m.mem.u32(r_sys) == 0, "head moved before the stack returned the NBL")

    step("MiniportReturnNetBufferLists")
    nbl = m.indications[0][0]
    m.nbls[nbl]["indicated"] = False
    h.call("MiniportReturnNetBufferLists", m.chars["ReturnNetBufferListsHandler"], m.adapter_context, nbl, 0)
    expect(m.nbls[nbl]["freed"], "the returned NBL was not freed")
    expect(m.mem.u32(r_sys) == slot, f"Receive head {m.mem.u32(r_sys):#x}, expected {slot:#x} after the return")

    # ---- Pause ----
    step("MiniportPause (a send while paused completes with NDIS_STATUS_PAUSED)")
    status = h.call("MiniportPause", m.chars["PauseHandler"], m.adapter_context, m.alloc(0x40, "pause"))
    expect(status == 0, f"MiniportPause returned {status:#x}")
    nbls, _ = build_chain([[ipv4(30, 9)]])
    send(nbls, M.NDIS_STATUS_PAUSED)

    step("IRP_MJ_CLOSE (rings unmapped, pages unlocked, thread ended)")
    close("IRP_MJ_CLOSE after v2")

    step("MiniportHaltEx")
    h.call("MiniportHaltEx", m.chars["HaltHandlerEx"], m.adapter_context, 0)
    expect(not m.pools, "NBL pool not freed at halt")
    m.adapter_context = 0

    step("unload")
    # The I/O manager calls DriverUnload, still NDIS's routine (checked after DriverEntry), which
    # calls the miniport's UnloadHandler; the model's routine only forwards, so the harness makes
    # that call (speakeasy resolves imports only in runs that start inside the image).
    expect(m.mem.u64(m.driver_object + 0x68) == m.unload_stub, "DriverUnload is no longer NDIS's at unload")
    h.call("unload", m.chars["UnloadHandler"], m.driver_object)
    expect(m.deregistered and m.wdf_driver == 0 and m.wdf_unbound and m.process_notify is None,
           "unload: deregistration, WdfDriverMiniportUnload through the override (unbinding KMDF), notify removal")
    expect(not m.pool, f"pool allocations leaked at unload (size, tag): {sorted(m.pool.values())}")
    print(f"emulate-sys: all {len(steps)} steps passed")


if __name__ == "__main__":
    try:
        main()
    except (Failure, M.ModelError) as e:
        print(f"emulate-sys: FAILED: {e}", file=sys.stderr)
        sys.exit(1)
