"""Unit test of the model: it must catch an NBL status written at the wrong offset, and its
access check must depend on the security descriptor and the caller's token.

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
    bugcheck()
    access()


def bugcheck():
    """KeBugCheckEx's report: a Rust panic ("RPNC", as wdk-panic raises it) names its location."""
    buf = bytearray(0x100)
    mem = memory(buf)
    mem.write(BASE + 0x40, b"driver/src/engine/receive.rs")
    report = M.bugcheck_report(0x52504E43, [BASE + 0x40, 28, 412, 9], lambda a, n: buf[a - BASE:a - BASE + n])
    assert report.startswith("Rust panic at driver/src/engine/receive.rs:412:9 (bug check 0x52504e43"), report
    report = M.bugcheck_report(0x1E, [0x80000003, 0x1234, 0, 0], lambda a, n: b"")
    assert report == "bug check 0x0000001e (0x80000003, 0x1234, 0x0, 0x0)", report
    print("test_model: KeBugCheckEx reports a Rust panic's location and any other code with its parameters")


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


if __name__ == "__main__":
    main()
