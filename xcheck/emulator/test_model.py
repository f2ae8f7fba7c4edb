"""Unit test of the model: it must catch an NBL status written at the wrong offset, treat a debug
break as the bug check a kernel without a debugger makes, its access
check must depend on the security descriptor and the caller's token, its IRQL and spin-lock rules
must reject what they forbid, its scheduler must wake the waits a signal satisfies (and only
those), and docs/oids.md must carry the OID tables the emulator run checks.

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
import oids as O  # noqa: E402
from layouts import KEVENT, NDIS_OFFLOAD, NET_BUFFER_LIST as NBL  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

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
    bugcheck()
    access()
    rules()
    scheduler()
    priorities()
    oid_tables()
    registry_strings()
    lso_completions()
    receive_checksums()
    offload_flags()


def bugcheck():
    """KeBugCheckEx's report: a Rust panic ("RPNC", as wdk-panic raises it) names its location."""
    buf = bytearray(0x100)
    mem = memory(buf)
    mem.write(BASE + 0x40, b"driver/src/engine/receive.rs")
    report = M.bugcheck_report(0x52504E43, [BASE + 0x40, 28, 412, 9], lambda a, n: buf[a - BASE:a - BASE + n])
    assert report.startswith("Rust panic at driver/src/engine/receive.rs:412:9 (bug check 0x52504e43"), report
    report = M.bugcheck_report(0x1E, [0x80000003, 0x1234, 0, 0], lambda a, n: b"")
    assert report == "bug check 0x0000001e (0x80000003, 0x1234, 0x0, 0x0)", report
    # A debug break: the model's kernel has no debugger, so the break is the bug check (0x1E with
    # STATUS_BREAKPOINT at its address), not a pause before the driver's own.
    rejects("a debug break", lambda: fake_model().debug_break(0x140001234),
            "bug check 0x0000001e (0x80000003, 0x140001234, 0x0, 0x0) (a debug break without a kernel debugger)")
    print("test_model: KeBugCheckEx reports a Rust panic's location and any other code with its parameters; a "
          "debug break is bug check 0x1E")


def sid_bytes(sid):
    revision, authority, *subs = sid
    return bytes([revision, len(subs)]) + authority.to_bytes(6, "big") + struct.pack(f"<{len(subs)}I", *subs)


def acl(aces):
    body = b"".join(struct.pack("<BBHI", kind, 0, 8 + len(sid_bytes(sid)), mask) + sid_bytes(sid)
                    for kind, mask, sid in aces)
    return struct.pack("<BBHHH", M.ACL_REVISION, 0, 8 + len(body), len(aces), 0) + body


def descriptor(dacl, label=None, revision=1, control=None):
    """A self-relative descriptor built here from winnt.h's layout, independently of the driver."""
    owner = sid_bytes(M.SID_SYSTEM)
    sacl = acl([(M.SYSTEM_MANDATORY_LABEL_ACE_TYPE, label[1], (1, 16, label[0]))]) if label else b""
    dacl_bytes = acl(dacl)
    owner_at, sacl_at = 20, 20 + len(owner)
    dacl_at = sacl_at + len(sacl)
    if control is None:
        control = M.SE_SELF_RELATIVE | M.SE_DACL_PRESENT | M.SE_DACL_PROTECTED | (M.SE_SACL_PRESENT if label else 0)
    head = struct.pack("<BBHIIII", revision, 0, control, owner_at, 0, sacl_at if label else 0, dacl_at)
    return head + owner + sacl + dacl_bytes


def evaluate(sd, token):
    parsed = M.parse_self_relative(lambda off, n: sd[off:off + n], len(sd))
    mapping = (M.FILE_GENERIC_READ, M.FILE_GENERIC_WRITE, M.FILE_GENERIC_EXECUTE, M.FILE_ALL_ACCESS)
    return M.access_check(parsed, token, M.FILE_WRITE_DATA, mapping)


def access():
    allowed = M.ACCESS_ALLOWED_ACE_TYPE
    no_up = M.SYSTEM_MANDATORY_LABEL_NO_WRITE_UP | M.NO_READ_UP | M.NO_EXECUTE_UP
    wintun = descriptor([(allowed, M.FILE_ALL_ACCESS, M.SID_SYSTEM), (allowed, M.FILE_ALL_ACCESS, M.SID_ADMINISTRATORS)],
                        (M.SECURITY_MANDATORY_HIGH_RID, no_up))
    granted = (M.FILE_WRITE_DATA, M.STATUS_SUCCESS)
    denied = (0, M.STATUS_ACCESS_DENIED)
    assert evaluate(wintun, M.Token.elevated_admin()) == granted
    for token in (M.Token.standard_user(), M.Token.filtered_admin(), M.Token.medium_admin()):
        assert evaluate(wintun, token) == denied, token.sids
    # A wrong descriptor (the DACL grants Everyone, no label): the model grants a standard user,
    # so a driver carrying it fails the emulator's refusal steps.
    everyone = descriptor([(allowed, M.FILE_ALL_ACCESS, M.SID_EVERYONE)])
    assert evaluate(everyone, M.Token.standard_user()) == granted
    # A default (medium) label does not stop a medium caller; only the high label does.
    no_label = descriptor([(allowed, M.FILE_ALL_ACCESS, M.SID_ADMINISTRATORS)])
    assert evaluate(no_label, M.Token.medium_admin()) == granted
    # Malformed descriptors stop the model.
    for bad, why in ((descriptor([], revision=2), "revision"),
                     (descriptor([], control=M.SE_DACL_PRESENT), "SE_SELF_RELATIVE"),
                     (wintun[:-4], "ACL size")):
        try:
            evaluate(bad, M.Token.elevated_admin())
        except M.ModelError as e:
            assert why in str(e), (why, e)
        else:
            raise AssertionError(f"the model accepted a descriptor with a bad {why}")
    print("test_model: the access check grants only an elevated administrator under Wintun's descriptor, "
          "grants a standard user under an Everyone DACL, and rejects malformed descriptors")


class FakeEmulator:
    """Just enough of speakeasy for the model's bookkeeping: flat memory and a register file."""

    def __init__(self, size=0x100000):
        self.buf = bytearray(size)
        self.next = BASE + 0x8000
        self.regs = {}
        self.emu = self
        self.emu_eng = self
        self.return_hook = 0xFEEDF000

    def mem_read(self, addr, n):
        return bytes(self.buf[addr - BASE:addr - BASE + n])

    def mem_write(self, addr, data):
        self.buf[addr - BASE:addr - BASE + len(data)] = data

    def mem_alloc(self, size, tag=""):
        addr, self.next = self.next, self.next + ((size + 0xFFF) & ~0xFFF)
        assert self.next <= BASE + len(self.buf), "fake memory exhausted"
        return addr

    def reg_read(self, reg):
        return self.regs.get(reg, 0)

    def reg_write(self, reg, value):
        self.regs[reg] = value


def fake_model():
    se = FakeEmulator()
    m = M.Model(se, 0x400000, 0x1000)
    m.scratch_stack = BASE + 0x80
    return m


def rejects(what, f, fragment):
    try:
        f()
    except M.ModelError as e:
        assert fragment in str(e), (what, e)
    else:
        raise AssertionError(f"the model accepted {what}")


def rules():
    m = fake_model()
    # Every IRQL rule is a range inside PASSIVE..HIGH, and the callbacks' ranges are ndis.h's.
    for name, (header, low, high) in M.IRQL_RULES.items():
        assert M.PASSIVE_LEVEL <= low <= high <= M.HIGH_LEVEL and header, name
    assert M.CALLBACK_IRQL["SendNetBufferListsHandler"] == (M.PASSIVE_LEVEL, M.DISPATCH_LEVEL)
    assert M.CALLBACK_IRQL["OidRequestHandler"] == (M.PASSIVE_LEVEL, M.PASSIVE_LEVEL)
    # MINIPORT_SHUTDOWN: exactly PASSIVE_LEVEL to power off, exactly HIGH_LEVEL in a bug check.
    context = BASE + 0x40
    assert M.callback_irql("ShutdownHandlerEx", (context, M.NdisShutdownPowerOff)) == (M.PASSIVE_LEVEL,) * 2
    assert M.callback_irql("ShutdownHandlerEx", (context, M.NdisShutdownBugCheck)) == (M.HIGH_LEVEL,) * 2
    rejects("ShutdownHandlerEx with an undefined action", lambda: M.callback_irql("ShutdownHandlerEx", (context, 2)),
            "NDIS_SHUTDOWN_ACTION 2")
    assert M.callback_irql("PauseHandler", (context, 0)) == (M.PASSIVE_LEVEL, M.PASSIVE_LEVEL)
    m.irql = M.DISPATCH_LEVEL
    rejects("ZwClose at DISPATCH_LEVEL", lambda: m.before_import("ZwClose"), "allows 0..0")
    rejects("KeDelayExecutionThread at DISPATCH_LEVEL", lambda: m.before_import("KeDelayExecutionThread"),
            "allows 0..1")
    m.before_import("NdisMIndicateReceiveNetBufferLists")          # DISPATCH_LEVEL, no lock: allowed
    m.irql = M.PASSIVE_LEVEL
    rejects("KeReleaseSpinLock at PASSIVE_LEVEL", lambda: m.before_import("KeReleaseSpinLock"), "allows 2..2")
    # The NDIS calls that may re-enter the miniport are refused under a driver spin lock.
    m.irql, m.locks_held = M.DISPATCH_LEVEL, {BASE + 0x100}
    for name in M.FORBIDDEN_UNDER_SPIN_LOCK:
        rejects(f"{name} under a spin lock", lambda: m.before_import(name), "while holding 1 driver spin lock")
    m.before_import("NdisFreeNetBufferList")                      # allowed under a lock
    # ZwWaitForSingleObject without a timeout (ntifs.h): APC_LEVEL at most, and never under a lock.
    m = fake_model()
    waiter = m.new_thread("waiter", 0x401000, [], kind="root")
    consumer = m.new_thread("consumer", 0x401000, [], kind="system", handle=0xFFFFFFFF80000100)
    m.threads[consumer.handle] = consumer
    m.ready.clear()
    m.current = waiter
    m.args = lambda n: (consumer.handle, 0, 0)[:n]
    for irql in (M.DISPATCH_LEVEL, M.APC_LEVEL + 1):
        m.irql = irql
        rejects(f"ZwWaitForSingleObject(NULL timeout) at IRQL {irql}", m.h_ZwWaitForSingleObject,
                f"at IRQL {irql} (allowed up to {M.APC_LEVEL})")
    m.irql, m.locks_held = M.PASSIVE_LEVEL, {BASE + 0x100}
    rejects("ZwWaitForSingleObject under a spin lock", m.h_ZwWaitForSingleObject, "holding a spin lock")
    m.locks_held = set()
    assert m.h_ZwWaitForSingleObject() is M.SWITCHED and waiter.waiting == ("thread", consumer)
    # Spin locks released out of order: the first release would lower the IRQL under the other.
    m = fake_model()
    first, second = BASE + 0x100, BASE + 0x108
    for lock in (first, second):
        m.args = lambda n, lock=lock: (lock,)[:n]
        m.h_KeAcquireSpinLockRaiseToDpc()
    m.args = lambda n: (first, M.PASSIVE_LEVEL)[:n]
    rejects("a release out of order", m.h_KeReleaseSpinLock, "while another spin lock is held")
    m.args = lambda n: (second, M.DISPATCH_LEVEL)[:n]
    m.h_KeReleaseSpinLock()
    m.args = lambda n: (first, M.PASSIVE_LEVEL)[:n]
    m.h_KeReleaseSpinLock()
    assert m.irql == M.PASSIVE_LEVEL and not m.locks_held
    m.args = lambda n: (first,)[:n]
    m.h_KeAcquireSpinLockRaiseToDpc()
    rejects("a spin lock acquired twice", m.h_KeAcquireSpinLockRaiseToDpc, "acquired twice")
    print("test_model: IRQL rules (the conditional ones of ZwWaitForSingleObject and MiniportShutdownEx included), "
          "the NDIS calls forbidden under a spin lock and the release order are enforced")


def scheduler():
    m = fake_model()
    sync_event, notification = BASE + 0x200, BASE + 0x220
    m.mem.write(sync_event, bytes([1, 0, 6, 0]) + bytes(20))
    m.mem.write(notification, bytes([0, 0, 6, 0]) + bytes(20))
    m.events = {sync_event: "client", notification: "driver"}
    threads = [m.new_thread(f"t{i}", 0x401000, [], kind="root") for i in range(3)]
    m.ready.clear()
    # t0 and t1 wait for the synchronization event, t2 for the notification event.
    for thread, objects in zip(threads, ([sync_event], [notification, sync_event], [notification])):
        m.current = thread
        assert m.block(("events", objects, False)) is M.SWITCHED
    assert [t.state for t in threads] == ["blocked"] * 3
    # A synchronization event satisfies one wait (the oldest) and is reset by it.
    m.signal(sync_event)
    assert [t.state for t in threads] == ["ready", "blocked", "blocked"]
    assert threads[0].wake_value == 0 and m.mem.field(sync_event, KEVENT, "SignalState") == 0
    # A notification event satisfies every wait on it and stays signalled.
    m.signal(notification)
    assert [t.state for t in threads] == ["ready", "ready", "ready"]
    assert (threads[1].wake_value, threads[2].wake_value) == (0, 0)
    assert m.mem.field(notification, KEVENT, "SignalState") == 1
    # Only timed waits time out, and only when the model says so.
    m.ready.clear()
    m.current = threads[0]
    m.block(("events", [sync_event], True))
    m.current = threads[1]
    m.block(("events", [sync_event], False))
    assert m.expire_timers() == [threads[0]] and threads[0].wake_value == M.STATUS_TIMEOUT
    assert threads[1].state == "blocked"
    # A thread interrupted at an armed interleaving resumes after every other ready thread.
    m.ready.clear()
    m.ready.append(threads[2])
    m.current = threads[0]
    threads[0].state = "running"
    m.interrupt_after("KeSetEvent", "interrupting", 0x402000, [7])
    assert m.after_import("KeSetEvent", (), 0) is M.SWITCHED
    interrupting = m.triggers[0]["fired"]
    assert m.current is interrupting and interrupting.args == [7]
    assert list(m.ready) == [threads[2]] and list(m.deferred) == [threads[0]]
    print("test_model: signals wake the waits they satisfy, timed waits expire on demand, "
          "an interrupted thread resumes last")


def priorities():
    """Priority inversions: a thread woken from a wait without timeout on a driver event by a thread
    below its priority is refused; KeSetPriorityThread needs a referenced thread object."""
    m = fake_model()
    round_done = BASE + 0x200
    m.mem.write(round_done, bytes([0, 0, 6, 0]) + bytes(20))        # a notification event the driver owns
    m.events = {round_done: "driver"}
    pauser = m.new_thread("pauser", 0x401000, [], kind="root")
    consumer = m.new_thread("consumer", 0x401000, [], kind="system", handle=0xFFFFFFFF80000100)
    m.threads[consumer.handle] = consumer
    m.thread_type_object = BASE + 0x300
    m.ready.clear()

    def wait_then_signal(timed):
        m.mem.put(round_done, KEVENT, "SignalState", 0)
        m.current = pauser
        m.block(("events", [round_done], timed))
        m.ready.clear()
        m.current = consumer
        consumer.state = "running"
        m.signal(round_done)

    # The consumer at priority 1 ends the round the pauser (priority 8) waits for: refused.
    consumer.priority = 1
    rejects("a wait ended by a lower-priority thread", lambda: wait_then_signal(False),
            "pauser (priority 8) waited without a timeout for an event that consumer running at priority 1 set")
    # A timed wait is bounded by its timeout; a client's event is set by the client, not a driver thread.
    m = fake_model()
    m.mem.write(round_done, bytes([0, 0, 6, 0]) + bytes(20))
    m.events = {round_done: "driver"}
    pauser = m.new_thread("pauser", 0x401000, [], kind="root")
    consumer = m.new_thread("consumer", 0x401000, [], kind="system", handle=0xFFFFFFFF80000100)
    m.threads[consumer.handle] = consumer
    m.thread_type_object = BASE + 0x300
    m.ready.clear()
    consumer.priority = 1
    wait_then_signal(True)
    assert pauser.state == "ready"
    # Raised through its referenced thread object first, it may end the wait.
    m.current = pauser
    m.args = lambda n: (consumer.handle, 0x20, m.thread_type_object, M.UserMode, BASE + 0x400, 0)[:n]
    rejects("a kernel thread handle looked up in user mode", m.h_ObReferenceObjectByHandle, "UserMode")
    m.args = lambda n: (BASE + 0x500, M.LOW_REALTIME_PRIORITY)[:n]
    rejects("KeSetPriorityThread on an object not referenced", m.h_KeSetPriorityThread, "not a thread object")
    m.args = lambda n: (consumer.handle, 0x20, m.thread_type_object, M.KernelMode, BASE + 0x400, 0)[:n]
    assert m.h_ObReferenceObjectByHandle() == M.STATUS_SUCCESS
    thread_object = m.mem.u64(BASE + 0x400)
    assert m.thread_objects[thread_object] is consumer and m.refs[thread_object] == 1
    m.args = lambda n: (thread_object, M.LOW_REALTIME_PRIORITY)[:n]
    assert m.h_KeSetPriorityThread() == 1 and consumer.priorities == [M.LOW_REALTIME_PRIORITY]
    wait_then_signal(False)
    assert pauser.state == "ready"
    m.args = lambda n: (thread_object, 0)[:n]
    rejects("KeSetPriorityThread to LOW_PRIORITY", m.h_KeSetPriorityThread, "priority 0")
    print("test_model: a wait ended by a lower-priority thread is refused unless timed or the thread was raised "
          "through its referenced object")


def registry_strings():
    """A REG_SZ read as an integer: NDIS's conversion (RtlUnicodeStringToInteger, base 10), which
    succeeds whatever the text."""
    convert = M.registry_string_to_integer
    for text, want in (("3", 3), ("0", 0), (" 2", 2), ("\t\x001", 1), ("+1", 1), ("-1", 0xFFFFFFFF), ("12abc", 12),
                       ("abc", 0), ("", 0), ("Enabled", 0), ("0x10", 0), ("1 2", 1), ("4294967297", 1),
                       ("\u0663", 0)):
        got = convert(text, 10)
        assert got == want, f"{text!r} read as {got:#x}, expected {want:#x}"
    assert (convert("1F", 16), convert("1g", 16), convert("-a", 16)) == (0x1F, 1, 0xFFFFFFF6)
    print("test_model: a REG_SZ keyword reads as NDIS's base-10 conversion makes it (blanks, sign, digits up "
          "to the first other character; 0 without a digit)")


def lso_completions():
    """The LSO information a miniport completes an NBL with: the completion arm of the request's
    type, Type and Reserved2 and the upper half kept, LsoV2TransmitComplete.Reserved zero,
    LsoV1TransmitComplete.TcpPayload 0 for a failed NBL and within the packet's payload for one
    sent."""
    v2, v2_ipv6, v1 = 1000 | 20 << 20 | 1 << 30, 1200 | 40 << 20 | 1 << 30 | 1 << 31, 1000 | 20 << 20
    upper = 0x5A5A5A5A << 32
    ok, failed = M.NDIS_STATUS_SUCCESS, M.NDIS_STATUS_FAILURE
    length = 20 + 20 + 3000                     # IPv4 and TCP headers (TcpHeaderOffset 20), 3000 payload bytes

    def check(request, completed, status=ok):
        M.check_lso_completion(request, completed, status, length)
    check(0, 0)
    check(0, 0, failed)
    check(v2, 1 << 30)
    check(v2, 1 << 30, failed)
    check(v2_ipv6, 1 << 30 | 1 << 31)
    check(upper | v2, upper | 1 << 30)
    check(v1, 0, failed)
    check(upper | 1 << 31 | v1, upper | 1 << 31, failed)
    check(upper | 1 << 31 | v1, upper | 1 << 31 | 1460)
    check(v1, 3000)
    rejects("LSO information on an NBL sent without", lambda: check(0, 1 << 30), "sent without any")
    rejects("Reserved2 of an IPv6 LSOv2 NBL cleared", lambda: check(v2_ipv6, 1 << 30), "Reserved2")
    rejects("LsoV2TransmitComplete.Reserved left as the MSS", lambda: check(v2, v2), "Reserved 0x")
    rejects("Type V2 turned V1", lambda: check(v2, 0), "Type 0")
    rejects("Type V1 turned V2", lambda: check(v1, 1 << 30), "Type 1")
    rejects("the upper half truncated", lambda: check(upper | v2, 1 << 30), "upper half")
    rejects("the upper half of an IPv6 LSOv2 NBL truncated", lambda: check(upper | v2_ipv6, 1 << 30 | 1 << 31),
            "upper half")
    rejects("Reserved2 of an LSOv1 NBL cleared", lambda: check(1 << 31 | v1, 0, failed), "Reserved2")
    rejects("an LSOv1 NBL failed with its request left as it was", lambda: check(v1, v1, failed), "nothing was sent")
    rejects("a failed LSOv1 NBL claiming a payload sent", lambda: check(v1, 1460, failed), "nothing was sent")
    rejects("an LSOv1 TcpPayload beyond the packet's payload", lambda: check(v1, 3001), "more than the 3000")
    rejects("an LSOv1 NBL sent with its request left as it was", lambda: check(v1, v1), "more than the 3000")
    print("test_model: an LSO completion keeps Type, Reserved2 and the upper half, zeroes "
          "LsoV2TransmitComplete.Reserved, and gives LsoV1TransmitComplete.TcpPayload 0 for a failed NBL and "
          "at most the packet's payload for a sent one; anything else is refused")


def receive_checksums():
    """The Receive arm of an indication's checksum information: bits 0-8 only, a value-invalid bit
    only beside its succeeded bit, the IPv4 header checksum bits only on IPv4."""
    tcp, udp, ip, tcp_invalid, ip_invalid = 1 << 3, 1 << 4, 1 << 5, 1 << 7, 1 << 8
    for value, version in ((0, 4), (0, 6), (tcp | ip, 4), (tcp | ip | tcp_invalid | ip_invalid, 4), (udp | ip, 4),
                           (tcp | tcp_invalid, 6), (udp, 6)):
        M.check_receive_checksum(value, version)
    check = M.check_receive_checksum
    rejects("TcpChecksumValueInvalid alone", lambda: check(ip | tcp_invalid, 4), "without TcpChecksumSucceeded")
    rejects("IpChecksumValueInvalid alone", lambda: check(tcp | ip_invalid, 4), "without IpChecksumSucceeded")
    rejects("IpChecksumValueInvalid on IPv6", lambda: check(tcp | ip_invalid, 6), "IpChecksumValueInvalid on an IPv6")
    rejects("IpChecksumSucceeded on IPv6", lambda: check(tcp | ip, 6), "IpChecksumSucceeded on an IPv6")
    rejects("a failed checksum", lambda: check(1, 4), "failed checksum")
    rejects("a loopback", lambda: check(1 << 6, 4), "loopback")
    for bit in (9, 16, 31, 32):
        rejects(f"bit {bit}", lambda: check(tcp | 1 << bit, 4), "beyond the Receive arm")
    print("test_model: an indication's checksum information holds only Receive-arm bits, each value-invalid bit "
          "beside its succeeded bit, the IPv4 header bits on IPv4 only")


def offload_flags():
    """An NDIS_OFFLOAD with NDIS_OFFLOAD_FLAGS_GROUP_CHECKSUM_CAPABILITIES is refused, whatever
    else it holds; without it (Flags 0) it passes."""
    offload = NDIS_OFFLOAD()
    M.check_offload_flags(offload, "Flags 0")
    for flags in (M.NDIS_OFFLOAD_FLAGS_GROUP_CHECKSUM_CAPABILITIES, 0x7):
        offload.Flags = flags
        rejects(f"NDIS_OFFLOAD.Flags {flags:#x}", lambda: M.check_offload_flags(offload, "attributes"),
                "NDIS_OFFLOAD_FLAGS_GROUP_CHECKSUM_CAPABILITIES")
    print("test_model: an NDIS_OFFLOAD with NDIS_OFFLOAD_FLAGS_GROUP_CHECKSUM_CAPABILITIES is refused")
    # Off is 0: a 2-bit field of 2 (NDIS_OFFLOAD_SET_OFF) or 3 is refused wherever it lies (a
    # checksum direction, LSOv1, LSOv2 IPv6, USO IPv6), and 0/1 everywhere passes.
    offload = NDIS_OFFLOAD()
    names = [name for name, _ in M.offload_two_bit_fields(offload)]
    for name in ("Checksum.IPv4Transmit.IpOptionsSupported", "Checksum.IPv6Receive.UdpChecksum", "LsoV1.IpOptions",
                 "LsoV2.IPv6.TcpOptionsSupported", "UdpSegmentation.IPv6.IpExtensionHeadersSupported"):
        assert name in names, (name, names)
    assert len(names) == 23, names
    for name in names:
        *path, last = name.split(".")
        owner = offload
        for part in path:
            owner = getattr(owner, part)
        setattr(owner, last, 1)
    M.check_offload_values(offload, "every field 1")
    for value in (M.NDIS_OFFLOAD_SET_OFF, 3):
        for name in (names[0], names[-1]):
            broken = NDIS_OFFLOAD.from_buffer_copy(bytes(offload))
            *path, last = name.split(".")
            owner = broken
            for part in path:
                owner = getattr(owner, part)
            setattr(owner, last, value)
            rejects(f"{name} = {value}", lambda: M.check_offload_values(broken, "status indication"), name)
    print("test_model: an NDIS_OFFLOAD 2-bit field other than 0 or 1 (NDIS_OFFLOAD_SET_OFF, say) is refused")


def oid_tables():
    with open(os.path.join(ROOT, "docs", "oids.md")) as f:
        doc = f.read()
    for table in O.markdown_tables():
        assert table in doc, f"docs/oids.md does not carry this table as generated:\n{table}"
    assert sorted(O.QUERIES) == sorted(O.WINTUN_SUPPORTED + O.RINGTUN_EXTRA_SUPPORTED)
    print("test_model: docs/oids.md carries the OID tables the emulator run checks")


if __name__ == "__main__":
    main()
