//! Who may register rings: the security descriptor the kernel shell checks every ringtun request
//! against with `SeAccessCheck`.
//!
//! The descriptor is Wintun's, `O:SY D:P(A;;FA;;;SY)(A;;FA;;;BA) S:(ML;;NWNRNX;;;HI)`: owner
//! LocalSystem; a protected DACL granting full file access to LocalSystem and to
//! BUILTIN\Administrators; a SACL with a high mandatory label that refuses write, read and execute
//! access to callers below high integrity. The shell asks for the access each IOCTL declares
//! (`FILE_READ_DATA` to query the capabilities, `FILE_READ_DATA | FILE_WRITE_DATA` to register rings) with the
//! file object generic mapping, so that `SeAccessCheck` applies every rule of the Windows access
//! check to the caller's effective token: a deny-only Administrators group (a filtered UAC token)
//! does not grant, a restricted token must pass its restricting SIDs too, a medium-integrity
//! caller fails the no-read-up and no-write-up label, an identification-level impersonation token
//! is refused. Since the descriptor grants read and write to the same principals, both requests
//! are refused to every caller that is not LocalSystem or an elevated administrator.
//!
//! It is built here as a self-relative descriptor (the binary form `SeAccessCheck` accepts,
//! documented as `SECURITY_DESCRIPTOR_RELATIVE`, `ACL`, `ACE_HEADER`, `ACCESS_ALLOWED_ACE`,
//! `SYSTEM_MANDATORY_LABEL_ACE` and `SID` in winnt.h / ntifs.h): a constant, so the check needs no
//! allocation and no setup that could fail, and portable, so a host test decodes it back to SDDL.

/// `FILE_ALL_ACCESS` (wdm.h): `STANDARD_RIGHTS_REQUIRED | SYNCHRONIZE | 0x1FF`.
pub const FILE_ALL_ACCESS: u32 = 0x000F_0000 | 0x0010_0000 | 0x1FF;
/// `SYSTEM_MANDATORY_LABEL_NO_WRITE_UP | NO_READ_UP | NO_EXECUTE_UP` (winnt.h).
pub const MANDATORY_LABEL_NO_UP: u32 = 0x1 | 0x2 | 0x4;
/// `SE_SELF_RELATIVE | SE_DACL_PROTECTED | SE_SACL_PRESENT | SE_DACL_PRESENT` (wdm.h).
pub const CONTROL: u16 = 0x8000 | 0x1000 | 0x0010 | 0x0004;

const SD_HEADER: usize = 20;
const ACL_HEADER: usize = 8;
const SID_SY: [u8; 12] = [1, 1, 0, 0, 0, 0, 0, 5, 18, 0, 0, 0]; // S-1-5-18
const SID_BA: [u8; 16] = [1, 2, 0, 0, 0, 0, 0, 5, 32, 0, 0, 0, 0x20, 0x02, 0, 0]; // S-1-5-32-544
const SID_HI: [u8; 12] = [1, 1, 0, 0, 0, 0, 0, 16, 0x00, 0x30, 0, 0]; // S-1-16-12288
const ACE_LABEL: usize = 8 + SID_HI.len();
const ACE_SY: usize = 8 + SID_SY.len();
const ACE_BA: usize = 8 + SID_BA.len();
const OWNER_AT: usize = SD_HEADER;
const SACL_AT: usize = OWNER_AT + SID_SY.len();
const SACL_LEN: usize = ACL_HEADER + ACE_LABEL;
const DACL_AT: usize = SACL_AT + SACL_LEN;
const DACL_LEN: usize = ACL_HEADER + ACE_SY + ACE_BA;
/// Length of the self-relative descriptor.
pub const LEN: usize = DACL_AT + DACL_LEN;

/// `ACL_REVISION` (winnt.h).
const ACL_REVISION: u8 = 2;
/// `ACCESS_ALLOWED_ACE_TYPE`, `SYSTEM_MANDATORY_LABEL_ACE_TYPE` (winnt.h).
const ACCESS_ALLOWED_ACE_TYPE: u8 = 0x00;
const SYSTEM_MANDATORY_LABEL_ACE_TYPE: u8 = 0x11;

/// A self-relative security descriptor, 4-byte aligned as its `ULONG` fields require.
#[repr(C, align(4))]
pub struct SelfRelativeDescriptor(pub [u8; LEN]);

struct Writer {
    bytes: [u8; LEN],
    at: usize,
}

// Evaluated only at compile time (the descriptor is a `static` initializer): an index out of
// range is a compile error, never a run-time panic.
#[allow(clippy::indexing_slicing)]
impl Writer {
    const fn put(mut self, data: &[u8]) -> Self {
        let mut i = 0;
        while i < data.len() {
            self.bytes[self.at] = data[i];
            self.at += 1;
            i += 1;
        }
        self
    }
    const fn u16(self, v: u16) -> Self {
        self.put(&v.to_le_bytes())
    }
    const fn u32(self, v: u32) -> Self {
        self.put(&v.to_le_bytes())
    }
    const fn acl(self, size: usize, aces: u16) -> Self {
        self.put(&[ACL_REVISION, 0]).u16(size as u16).u16(aces).u16(0)
    }
    const fn ace(self, kind: u8, size: usize, mask: u32, sid: &[u8]) -> Self {
        self.put(&[kind, 0]).u16(size as u16).u32(mask).put(sid)
    }
}

const fn build() -> SelfRelativeDescriptor {
    let w = Writer { bytes: [0; LEN], at: 0 }
        // SECURITY_DESCRIPTOR_RELATIVE: Revision 1, Sbz1, Control, Owner, Group, Sacl, Dacl.
        .put(&[1, 0])
        .u16(CONTROL)
        .u32(OWNER_AT as u32)
        .u32(0)
        .u32(SACL_AT as u32)
        .u32(DACL_AT as u32)
        .put(&SID_SY)
        .acl(SACL_LEN, 1)
        .ace(SYSTEM_MANDATORY_LABEL_ACE_TYPE, ACE_LABEL, MANDATORY_LABEL_NO_UP, &SID_HI)
        .acl(DACL_LEN, 2)
        .ace(ACCESS_ALLOWED_ACE_TYPE, ACE_SY, FILE_ALL_ACCESS, &SID_SY)
        .ace(ACCESS_ALLOWED_ACE_TYPE, ACE_BA, FILE_ALL_ACCESS, &SID_BA);
    assert!(w.at == LEN);
    SelfRelativeDescriptor(w.bytes)
}

/// The device's security descriptor (see the module docs).
pub static DEVICE_SECURITY_DESCRIPTOR: SelfRelativeDescriptor = build();

#[cfg(test)]
mod tests {
    use super::*;
    use std::format;
    use std::string::String;
    use std::vec::Vec;

    fn u16_at(b: &[u8], at: usize) -> u16 {
        u16::from_le_bytes([b[at], b[at + 1]])
    }
    fn u32_at(b: &[u8], at: usize) -> u32 {
        u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
    }

    /// A SID as its SDDL alias (only the ones this descriptor may use), else S-R-A-S...
    fn sid(b: &[u8], at: usize) -> (String, usize) {
        let count = b[at + 1] as usize;
        let authority = b[at + 2..at + 8].iter().fold(0u64, |a, &x| (a << 8) | u64::from(x));
        let subs: Vec<u32> = (0..count).map(|i| u32_at(b, at + 8 + 4 * i)).collect();
        let text = match (authority, subs.as_slice()) {
            (5, [18]) => "SY".into(),
            (5, [32, 544]) => "BA".into(),
            (16, [0x3000]) => "HI".into(),
            _ => format!("S-{}-{}{}", b[at], authority, subs.iter().map(|s| format!("-{s}")).collect::<String>()),
        };
        (text, 8 + 4 * count)
    }

    fn acl(b: &[u8], at: usize) -> String {
        assert_eq!(b[at], 2, "ACL revision");
        let size = u16_at(b, at + 2) as usize;
        let count = u16_at(b, at + 4) as usize;
        let mut out = String::new();
        let mut ace = at + 8;
        for _ in 0..count {
            let (kind, flags, ace_size, mask) = (b[ace], b[ace + 1], u16_at(b, ace + 2) as usize, u32_at(b, ace + 4));
            assert_eq!(flags, 0);
            let (who, sid_len) = sid(b, ace + 8);
            assert_eq!(ace_size, 8 + sid_len, "ACE size");
            let kind = match kind {
                0x00 => "A",
                0x11 => "ML",
                other => panic!("ACE type {other:#x}"),
            };
            let rights = match mask {
                0x001F_01FF => "FA".into(),
                7 => "NWNRNX".into(),
                other => format!("{other:#x}"),
            };
            out += &format!("({kind};;{rights};;;{who})");
            ace += ace_size;
        }
        assert_eq!(ace - at, size, "ACL size");
        out
    }

    /// Decodes the descriptor back to SDDL with the documented binary layout.
    fn sddl(b: &[u8]) -> String {
        assert_eq!(b[0], 1, "revision");
        let control = u16_at(b, 2);
        assert_ne!(control & 0x8000, 0, "self-relative");
        let (owner, group, sacl, dacl) = (u32_at(b, 4), u32_at(b, 8), u32_at(b, 12), u32_at(b, 16));
        assert_eq!(group, 0);
        let mut out = format!("O:{}", sid(b, owner as usize).0);
        assert_ne!(control & 0x0004, 0, "DACL present");
        out += &format!("D:{}{}", if control & 0x1000 != 0 { "P" } else { "" }, acl(b, dacl as usize));
        assert_ne!(control & 0x0010, 0, "SACL present");
        out += &format!("S:{}", acl(b, sacl as usize));
        out
    }

    #[test]
    fn descriptor_is_wintuns() {
        let bytes = &DEVICE_SECURITY_DESCRIPTOR.0;
        assert_eq!(sddl(bytes), "O:SYD:P(A;;FA;;;SY)(A;;FA;;;BA)S:(ML;;NWNRNX;;;HI)");
        assert_eq!(bytes.len(), 112);
        assert_eq!(core::mem::align_of::<SelfRelativeDescriptor>(), 4);
    }
}
