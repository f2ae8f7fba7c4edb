//! The registration validator: raw IOCTL input bytes in, a typed [`RingConfig`] or a typed
//! [`RegistrationError`] out. The driver calls it on the buffered copy of the input, so the bytes
//! can no longer change under it; every field is still treated as hostile.

use zerocopy::FromBytes;

use crate::consts::{
    ABI_VERSION_2, CAPABILITIES_SIZE, DRIVER_VERSION, MAX_ABI_VERSION, MAX_HEADROOM, MAX_RING_CAPACITY, MAX_TAILROOM,
    MIN_RING_CAPACITY, OFFLOAD_META_SIZE, V1_REGISTRATION_SIZE_32, V1_REGISTRATION_SIZE_64, V2_REGISTRATION_EXT_SIZE,
    V2_REGISTRATION_SIZE,
};
use crate::geometry::{GeometryError, RingGeometry, RingVersion, Room};
use crate::v1::{RegistrationV1x64, RegistrationV1x86};
use crate::v2::{Capabilities, RegistrationFlags, RegistrationV2, RegistrationV2Ext};

/// Bitness of the calling process, as the kernel sees it (`IoIs32bitProcess`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CallerBitness {
    /// A 64-bit process (or the native bitness of a 64-bit driver).
    Bits64,
    /// A 32-bit process: WOW64 on 64-bit Windows, or any process on 32-bit Windows.
    Bits32,
}

/// Which of the two rings a value belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RingRole {
    /// The Send ring: driver produces, client consumes.
    Send,
    /// The Receive ring: client produces, driver consumes.
    Receive,
}

/// One validated ring of a registration.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RingDesc {
    /// Version, capacity and room.
    pub geometry: RingGeometry,
    /// The ring's address in the client's address space (non-zero, aligned, the ring ending at or
    /// below the top of that space).
    pub ring_ptr: u64,
    /// The client's event handle (non-zero).
    pub tail_moved_event: u64,
}

/// A validated registration.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RingConfig {
    /// Protocol version of both rings.
    pub version: RingVersion,
    /// Registration flags (always empty for v1).
    pub flags: RegistrationFlags,
    /// The Send ring.
    pub send: RingDesc,
    /// The Receive ring.
    pub receive: RingDesc,
    /// The client's write-space event handle (non-zero), present exactly when `flags` has
    /// `WRITE_SPACE` (the 64-byte layout).
    pub write_space_event: Option<u64>,
}

/// Why a registration was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RegistrationError {
    /// The input length is none of 24, 48 or 56.
    WrongLength(usize),
    /// A v1 layout that does not match the caller's bitness (48 bytes from a 32-bit process or 24
    /// from a 64-bit one).
    LayoutNotForCaller {
        /// Input length.
        len: usize,
        /// The caller's bitness.
        caller: CallerBitness,
    },
    /// A 56-byte input whose version is not 2.
    UnsupportedVersion(u32),
    /// Flag bits this driver does not know.
    UnknownFlags(u32),
    /// Flags that cannot be combined (`OFFLOAD` with `RECEIVE_SPLIT`).
    IncompatibleFlags(u32),
    /// `WRITE_SPACE` in a 56-byte registration, or a 64-byte registration without it.
    WriteSpaceLayout(u32),
    /// A zero write-space event handle.
    NullWriteSpaceEvent,
    /// `OFFLOAD` with less head room on a ring than the metadata block needs (16 bytes).
    OffloadNeedsHeadroom(RingRole),
    /// A zero ring pointer.
    NullRing(RingRole),
    /// A zero event handle.
    NullEvent(RingRole),
    /// A ring pointer not aligned to 4 (v1) or 8 (v2).
    MisalignedRing(RingRole, u64),
    /// The ring's end lies beyond the caller's address space (`ring_ptr + ring_size` above 2^32
    /// for a 32-bit caller, above 2^64 for a 64-bit one). A ring may end exactly at the top.
    RingWraps(RingRole),
    /// The Send and Receive rings share at least one byte (identical rings included): the driver
    /// would read its own writes back as client packets.
    RingsOverlap,
    /// The ring size matches no valid capacity, or the room is over the limits.
    Geometry(RingRole, GeometryError),
}

impl RingConfig {
    /// The registration as v2 input bytes (for v2 configs; a client's encoder).
    pub fn to_v2(&self) -> RegistrationV2 {
        let desc = |d: &RingDesc| crate::v2::RingDescV2 {
            ring_size: d.geometry.ring_size(),
            headroom: d.geometry.room().headroom,
            tailroom: d.geometry.room().tailroom,
            ring_ptr: d.ring_ptr,
            tail_moved_event: d.tail_moved_event,
        };
        RegistrationV2 {
            version: ABI_VERSION_2,
            flags: self.flags.bits(),
            send: desc(&self.send),
            receive: desc(&self.receive),
        }
    }

    /// The registration as the 64-bit write-space layout, when the config has a write-space
    /// event (a client's encoder).
    pub fn to_v2_ext(&self) -> Option<RegistrationV2Ext> {
        Some(RegistrationV2Ext { base: self.to_v2(), write_space_event: self.write_space_event? })
    }

    /// The registration as v1 64-bit input (a client's encoder).
    pub fn to_v1x64(&self) -> RegistrationV1x64 {
        let desc = |d: &RingDesc| crate::v1::RingDescV1x64 {
            ring_size: d.geometry.ring_size(),
            pad: 0,
            ring_ptr: d.ring_ptr,
            tail_moved_event: d.tail_moved_event,
        };
        RegistrationV1x64 { send: desc(&self.send), receive: desc(&self.receive) }
    }

    /// The registration as v1 32-bit input; `None` if a pointer or handle does not fit 32 bits.
    pub fn to_v1x86(&self) -> Option<RegistrationV1x86> {
        let desc = |d: &RingDesc| -> Option<crate::v1::RingDescV1x86> {
            Some(crate::v1::RingDescV1x86 {
                ring_size: d.geometry.ring_size(),
                ring_ptr: u32::try_from(d.ring_ptr).ok()?,
                tail_moved_event: u32::try_from(d.tail_moved_event).ok()?,
            })
        };
        Some(RegistrationV1x86 { send: desc(&self.send)?, receive: desc(&self.receive)? })
    }
}

fn check_ring(
    role: RingRole,
    version: RingVersion,
    caller: CallerBitness,
    ring_size: u32,
    room: Room,
    ring_ptr: u64,
    event: u64,
) -> Result<RingDesc, RegistrationError> {
    if ring_ptr == 0 {
        return Err(RegistrationError::NullRing(role));
    }
    if event == 0 {
        return Err(RegistrationError::NullEvent(role));
    }
    let alignment = u64::from(version.alignment());
    if ring_ptr & alignment.wrapping_sub(1) != 0 {
        return Err(RegistrationError::MisalignedRing(role, ring_ptr));
    }
    if room.headroom > MAX_HEADROOM || room.tailroom > MAX_TAILROOM {
        return Err(RegistrationError::Geometry(role, GeometryError::RoomTooLarge(room)));
    }
    let geometry =
        RingGeometry::from_ring_size(version, ring_size, room).map_err(|e| RegistrationError::Geometry(role, e))?;
    if ring_end(ring_ptr, ring_size) > address_space_end(caller) {
        return Err(RegistrationError::RingWraps(role));
    }
    Ok(RingDesc { geometry, ring_ptr, tail_moved_event: event })
}

/// One past the caller's highest address: 2^32 for a 32-bit caller, 2^64 for a 64-bit one.
const fn address_space_end(caller: CallerBitness) -> u128 {
    match caller {
        CallerBitness::Bits64 => 1 << 64,
        CallerBitness::Bits32 => 1 << 32,
    }
}

/// One past a ring's last byte, computed without overflow (a ring may end exactly at 2^64).
const fn ring_end(ring_ptr: u64, ring_size: u32) -> u128 {
    // Both below 2^64: the sum is below 2^65.
    (ring_ptr as u128).wrapping_add(ring_size as u128)
}

/// Whether the two rings share a byte: `[ptr, ptr + size)` ranges intersecting.
fn rings_overlap(send: &RingDesc, receive: &RingDesc) -> bool {
    let send_end = ring_end(send.ring_ptr, send.geometry.ring_size());
    let receive_end = ring_end(receive.ring_ptr, receive.geometry.ring_size());
    u128::from(send.ring_ptr) < receive_end && u128::from(receive.ring_ptr) < send_end
}

/// Both rings valid on their own; refuses them if they share memory.
fn both_rings(
    version: RingVersion,
    flags: RegistrationFlags,
    send: RingDesc,
    receive: RingDesc,
    write_space_event: Option<u64>,
) -> Result<RingConfig, RegistrationError> {
    if rings_overlap(&send, &receive) {
        return Err(RegistrationError::RingsOverlap);
    }
    Ok(RingConfig { version, flags, send, receive, write_space_event })
}

/// The flag rules of a v2 registration of `len` bytes: known bits only, `OFFLOAD` without
/// `RECEIVE_SPLIT`, `WRITE_SPACE` exactly with the 64-byte layout.
fn check_flags(bits: u32, len: usize) -> Result<RegistrationFlags, RegistrationError> {
    let flags = RegistrationFlags::from_bits(bits).ok_or(RegistrationError::UnknownFlags(bits))?;
    if flags.contains(RegistrationFlags::OFFLOAD) && flags.contains(RegistrationFlags::RECEIVE_SPLIT) {
        return Err(RegistrationError::IncompatibleFlags(bits));
    }
    if flags.contains(RegistrationFlags::WRITE_SPACE) != (len == V2_REGISTRATION_EXT_SIZE) {
        return Err(RegistrationError::WriteSpaceLayout(bits));
    }
    Ok(flags)
}

/// Validates registration input bytes from a caller of the given bitness.
///
/// The length tells the layout apart: 56 bytes is v2 and 64 bytes v2 with the write-space
/// extension (any caller); 48 bytes is v1 from a 64-bit caller; 24 bytes is v1 from a 32-bit
/// caller. v2: the version, then the flags (known bits, combinations, the layout `WRITE_SPACE`
/// needs), then each ring on its own (Send first; with `OFFLOAD`, at least 16 bytes of head
/// room), then the write-space event (non-zero), then the two rings are refused if they share
/// any byte.
pub fn parse_registration(input: &[u8], caller: CallerBitness) -> Result<RingConfig, RegistrationError> {
    let len = input.len();
    if len == V2_REGISTRATION_SIZE || len == V2_REGISTRATION_EXT_SIZE {
        let (reg, write_space_event) = if len == V2_REGISTRATION_EXT_SIZE {
            let ext = RegistrationV2Ext::read_from_bytes(input).map_err(|_| RegistrationError::WrongLength(len))?;
            (ext.base, Some(ext.write_space_event))
        } else {
            (RegistrationV2::read_from_bytes(input).map_err(|_| RegistrationError::WrongLength(len))?, None)
        };
        if reg.version != ABI_VERSION_2 {
            return Err(RegistrationError::UnsupportedVersion(reg.version));
        }
        let flags = check_flags(reg.flags, len)?;
        let ring = |role, d: &crate::v2::RingDescV2| {
            let desc = check_ring(
                role,
                RingVersion::V2,
                caller,
                d.ring_size,
                Room::new(d.headroom, d.tailroom),
                d.ring_ptr,
                d.tail_moved_event,
            )?;
            if flags.contains(RegistrationFlags::OFFLOAD) && u32::from(d.headroom) < OFFLOAD_META_SIZE {
                return Err(RegistrationError::OffloadNeedsHeadroom(role));
            }
            Ok(desc)
        };
        let send = ring(RingRole::Send, &reg.send)?;
        let receive = ring(RingRole::Receive, &reg.receive)?;
        if write_space_event == Some(0) {
            return Err(RegistrationError::NullWriteSpaceEvent);
        }
        return both_rings(RingVersion::V2, flags, send, receive, write_space_event);
    }
    let (send, receive) = match (len, caller) {
        (V1_REGISTRATION_SIZE_64, CallerBitness::Bits64) => {
            let reg = RegistrationV1x64::read_from_bytes(input).map_err(|_| RegistrationError::WrongLength(len))?;
            (
                (reg.send.ring_size, reg.send.ring_ptr, reg.send.tail_moved_event),
                (reg.receive.ring_size, reg.receive.ring_ptr, reg.receive.tail_moved_event),
            )
        }
        (V1_REGISTRATION_SIZE_32, CallerBitness::Bits32) => {
            let reg = RegistrationV1x86::read_from_bytes(input).map_err(|_| RegistrationError::WrongLength(len))?;
            (
                (reg.send.ring_size, u64::from(reg.send.ring_ptr), u64::from(reg.send.tail_moved_event)),
                (reg.receive.ring_size, u64::from(reg.receive.ring_ptr), u64::from(reg.receive.tail_moved_event)),
            )
        }
        (V1_REGISTRATION_SIZE_64 | V1_REGISTRATION_SIZE_32, _) => {
            return Err(RegistrationError::LayoutNotForCaller { len, caller });
        }
        _ => return Err(RegistrationError::WrongLength(len)),
    };
    let ring = |role, (size, ptr, event): (u32, u64, u64)| {
        check_ring(role, RingVersion::V1, caller, size, Room::NONE, ptr, event)
    };
    let send = ring(RingRole::Send, send)?;
    let receive = ring(RingRole::Receive, receive)?;
    both_rings(RingVersion::V1, RegistrationFlags::EMPTY, send, receive, None)
}

impl Capabilities {
    /// What a driver built from this crate reports.
    pub const CURRENT: Self = Self {
        size: CAPABILITIES_SIZE as u32,
        max_version: MAX_ABI_VERSION,
        supported_flags: RegistrationFlags::ALL.bits(),
        max_headroom: MAX_HEADROOM,
        max_tailroom: MAX_TAILROOM,
        min_capacity: MIN_RING_CAPACITY,
        max_capacity: MAX_RING_CAPACITY,
        driver_version: DRIVER_VERSION,
    };

    /// The reply as the bytes the IOCTL returns.
    pub fn to_bytes(&self) -> [u8; CAPABILITIES_SIZE] {
        let mut out = [0u8; CAPABILITIES_SIZE];
        out.copy_from_slice(zerocopy::IntoBytes::as_bytes(self));
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::geometry::{v1_ring_size, v2_ring_size};
    use crate::v1::{RingDescV1x64, RingDescV1x86};
    use crate::v2::RingDescV2;
    use zerocopy::IntoBytes;

    fn v2_reg() -> RegistrationV2 {
        RegistrationV2 {
            version: 2,
            flags: 0,
            send: RingDescV2 {
                ring_size: v2_ring_size(0x20000, 32, 16),
                headroom: 32,
                tailroom: 16,
                ring_ptr: 0x1000,
                tail_moved_event: 4,
            },
            receive: RingDescV2 {
                ring_size: v2_ring_size(0x40000, 0, 0),
                headroom: 0,
                tailroom: 0,
                ring_ptr: 0x10_0000,
                tail_moved_event: 8,
            },
        }
    }

    #[test]
    fn v2_accepted() {
        let cfg = parse_registration(v2_reg().as_bytes(), CallerBitness::Bits64).unwrap();
        assert_eq!(cfg.version, RingVersion::V2);
        assert_eq!(cfg.send.geometry.capacity(), 0x20000);
        assert_eq!(cfg.send.geometry.room(), Room::new(32, 16));
        assert_eq!(cfg.receive.geometry.capacity(), 0x40000);
        assert_eq!(cfg.receive.tail_moved_event, 8);
        assert_eq!(cfg.to_v2(), v2_reg());
        assert_eq!(parse_registration(v2_reg().as_bytes(), CallerBitness::Bits32), Ok(cfg));
    }

    #[test]
    fn v2_refusals() {
        let check = |f: &dyn Fn(&mut RegistrationV2), want: RegistrationError| {
            let mut r = v2_reg();
            f(&mut r);
            assert_eq!(parse_registration(r.as_bytes(), CallerBitness::Bits64), Err(want));
        };
        check(&|r| r.version = 3, RegistrationError::UnsupportedVersion(3));
        check(&|r| r.version = 1, RegistrationError::UnsupportedVersion(1));
        check(&|r| r.flags = 8, RegistrationError::UnknownFlags(8));
        check(&|r| r.flags = 3, RegistrationError::IncompatibleFlags(3));
        check(&|r| r.flags = 4, RegistrationError::WriteSpaceLayout(4));
        check(&|r| r.flags = 2, RegistrationError::OffloadNeedsHeadroom(RingRole::Receive));
        check(&|r| r.send.ring_ptr = 0, RegistrationError::NullRing(RingRole::Send));
        check(&|r| r.receive.tail_moved_event = 0, RegistrationError::NullEvent(RingRole::Receive));
        check(&|r| r.send.ring_ptr = 0x1004, RegistrationError::MisalignedRing(RingRole::Send, 0x1004));
        check(&|r| r.receive.ring_ptr = u64::MAX - 7, RegistrationError::RingWraps(RingRole::Receive));
        check(
            &|r| r.send.headroom = 4097,
            RegistrationError::Geometry(RingRole::Send, GeometryError::RoomTooLarge(Room::new(4097, 16))),
        );
        check(
            &|r| r.send.tailroom = 0,
            RegistrationError::Geometry(RingRole::Send, GeometryError::RingSizeMismatch(v2_ring_size(0x20000, 32, 16))),
        );
        check(
            &|r| r.receive.ring_size += 8,
            RegistrationError::Geometry(
                RingRole::Receive,
                GeometryError::RingSizeMismatch(v2_ring_size(0x40000, 0, 0) + 8),
            ),
        );
    }

    /// The room limits are inclusive (4096 is accepted), and room above them is refused as such
    /// whatever the ring size says.
    #[test]
    fn room_limits() {
        let mut r = v2_reg();
        r.send.headroom = 4096;
        r.send.tailroom = 4096;
        r.send.ring_size = v2_ring_size(0x20000, 4096, 4096);
        let cfg = parse_registration(r.as_bytes(), CallerBitness::Bits64).unwrap();
        assert_eq!(cfg.send.geometry.room(), Room::new(4096, 4096));
        for (headroom, tailroom) in [(4097, 0), (0, 4097), (5000, 16), (32, 5000), (0xFFFF, 0xFFFF)] {
            let mut r = v2_reg();
            r.receive.headroom = headroom;
            r.receive.tailroom = tailroom;
            assert_eq!(
                parse_registration(r.as_bytes(), CallerBitness::Bits64),
                Err(RegistrationError::Geometry(
                    RingRole::Receive,
                    GeometryError::RoomTooLarge(Room::new(headroom, tailroom))
                )),
                "{headroom}/{tailroom}"
            );
        }
    }

    #[test]
    fn v2_split_flag_accepted() {
        let mut r = v2_reg();
        r.flags = 1;
        let cfg = parse_registration(r.as_bytes(), CallerBitness::Bits64).unwrap();
        assert!(cfg.flags.contains(RegistrationFlags::RECEIVE_SPLIT));
        assert_eq!(cfg.write_space_event, None);
    }

    /// OFFLOAD needs 16 bytes of head room on both rings; WRITE_SPACE needs the 64-byte layout
    /// and a non-zero event, and the 64-byte layout needs WRITE_SPACE.
    #[test]
    fn v2_offload_and_write_space() {
        let mut r = v2_reg();
        r.flags = RegistrationFlags::OFFLOAD.bits();
        r.receive.headroom = 15;
        r.receive.ring_size = v2_ring_size(0x40000, 15, 0);
        assert_eq!(
            parse_registration(r.as_bytes(), CallerBitness::Bits64),
            Err(RegistrationError::OffloadNeedsHeadroom(RingRole::Receive))
        );
        r.receive.headroom = 16;
        r.receive.ring_size = v2_ring_size(0x40000, 16, 0);
        let cfg = parse_registration(r.as_bytes(), CallerBitness::Bits64).unwrap();
        assert!(cfg.flags.contains(RegistrationFlags::OFFLOAD));
        let mut send_short = r;
        send_short.send.headroom = 8;
        send_short.send.ring_size = v2_ring_size(0x20000, 8, 16);
        assert_eq!(
            parse_registration(send_short.as_bytes(), CallerBitness::Bits64),
            Err(RegistrationError::OffloadNeedsHeadroom(RingRole::Send))
        );

        let ext = |flags: u32, event: u64| RegistrationV2Ext {
            base: RegistrationV2 { flags, ..r },
            write_space_event: event,
        };
        let all = RegistrationFlags::OFFLOAD.union(RegistrationFlags::WRITE_SPACE).bits();
        let cfg = parse_registration(ext(all, 0x77).as_bytes(), CallerBitness::Bits32).unwrap();
        assert_eq!(cfg.write_space_event, Some(0x77));
        assert_eq!(cfg.to_v2_ext(), Some(ext(all, 0x77)));
        assert_eq!(ext(all, 0x77).as_bytes()[56..64], 0x77u64.to_le_bytes());
        assert_eq!(
            parse_registration(ext(all, 0).as_bytes(), CallerBitness::Bits64),
            Err(RegistrationError::NullWriteSpaceEvent)
        );
        assert_eq!(
            parse_registration(ext(2, 0x77).as_bytes(), CallerBitness::Bits64),
            Err(RegistrationError::WriteSpaceLayout(2))
        );
        let mut v3 = ext(all, 0x77);
        v3.base.version = 3;
        assert_eq!(
            parse_registration(v3.as_bytes(), CallerBitness::Bits64),
            Err(RegistrationError::UnsupportedVersion(3))
        );
        // A plain v2 config has no extended encoding.
        assert_eq!(parse_registration(v2_reg().as_bytes(), CallerBitness::Bits64).unwrap().to_v2_ext(), None);
    }

    #[test]
    fn v1_layouts() {
        let size = v1_ring_size(0x40_0000);
        let r64 = RegistrationV1x64 {
            send: RingDescV1x64 { ring_size: size, pad: 0xDEAD, ring_ptr: 0x7FF0_0000_0000, tail_moved_event: 0x100 },
            receive: RingDescV1x64 { ring_size: size, pad: 0, ring_ptr: 0x7FF1_0000_0004, tail_moved_event: 0x104 },
        };
        let cfg = parse_registration(r64.as_bytes(), CallerBitness::Bits64).unwrap();
        assert_eq!(cfg.version, RingVersion::V1);
        assert_eq!(cfg.send.geometry.capacity(), 0x40_0000);
        assert_eq!(cfg.receive.ring_ptr, 0x7FF1_0000_0004);
        assert_eq!(
            parse_registration(r64.as_bytes(), CallerBitness::Bits32),
            Err(RegistrationError::LayoutNotForCaller { len: 48, caller: CallerBitness::Bits32 })
        );
        let r32 = RegistrationV1x86 {
            send: RingDescV1x86 { ring_size: size, ring_ptr: 0x1000_0000, tail_moved_event: 0x10 },
            receive: RingDescV1x86 { ring_size: size, ring_ptr: 0x2000_0000, tail_moved_event: 0x14 },
        };
        let cfg32 = parse_registration(r32.as_bytes(), CallerBitness::Bits32).unwrap();
        assert_eq!(cfg32.send.ring_ptr, 0x1000_0000);
        assert_eq!(cfg32.to_v1x86(), Some(r32));
        assert_eq!(
            parse_registration(r32.as_bytes(), CallerBitness::Bits64),
            Err(RegistrationError::LayoutNotForCaller { len: 24, caller: CallerBitness::Bits64 })
        );
        let mut bad = r32;
        bad.receive.ring_ptr = 0xFFFF_0000;
        assert_eq!(
            parse_registration(bad.as_bytes(), CallerBitness::Bits32),
            Err(RegistrationError::RingWraps(RingRole::Receive))
        );
        let mut bad = r64;
        bad.send.ring_size = 0x41_0000;
        assert_eq!(
            parse_registration(bad.as_bytes(), CallerBitness::Bits64),
            Err(RegistrationError::Geometry(RingRole::Send, GeometryError::RingSizeMismatch(0x41_0000)))
        );
        let mut bad = r64;
        bad.send.ring_ptr = 0x1002;
        assert_eq!(
            parse_registration(bad.as_bytes(), CallerBitness::Bits64),
            Err(RegistrationError::MisalignedRing(RingRole::Send, 0x1002))
        );
    }

    /// Send and Receive rings sharing memory (identical, or partly overlapping) are refused;
    /// adjacent rings (Wintun's single-allocation layout) are accepted.
    #[test]
    fn overlapping_rings_refused() {
        let size = v1_ring_size(0x20000);
        let base = 0x10_0000u64;
        let r64 = |send_ptr: u64, receive_ptr: u64| RegistrationV1x64 {
            send: RingDescV1x64 { ring_size: size, pad: 0, ring_ptr: send_ptr, tail_moved_event: 4 },
            receive: RingDescV1x64 { ring_size: size, pad: 0, ring_ptr: receive_ptr, tail_moved_event: 8 },
        };
        let parse = |r: RegistrationV1x64| parse_registration(r.as_bytes(), CallerBitness::Bits64);
        assert_eq!(parse(r64(base, base)), Err(RegistrationError::RingsOverlap));
        assert_eq!(parse(r64(base, base + u64::from(size) - 4)), Err(RegistrationError::RingsOverlap));
        assert_eq!(parse(r64(base + 4, base)), Err(RegistrationError::RingsOverlap));
        assert!(parse(r64(base, base + u64::from(size))).is_ok());
        assert!(parse(r64(base + u64::from(size), base)).is_ok());
        let mut r = v2_reg();
        r.receive.ring_ptr = r.send.ring_ptr;
        r.receive.ring_size = r.send.ring_size;
        r.receive.headroom = r.send.headroom;
        r.receive.tailroom = r.send.tailroom;
        assert_eq!(parse_registration(r.as_bytes(), CallerBitness::Bits64), Err(RegistrationError::RingsOverlap));
        r.receive.ring_ptr = r.send.ring_ptr + u64::from(r.send.ring_size) - 8;
        assert_eq!(parse_registration(r.as_bytes(), CallerBitness::Bits32), Err(RegistrationError::RingsOverlap));
        r.receive.ring_ptr += 8;
        assert!(parse_registration(r.as_bytes(), CallerBitness::Bits32).is_ok());
        let r32 = RegistrationV1x86 {
            send: RingDescV1x86 { ring_size: size, ring_ptr: 0x2000_0000, tail_moved_event: 4 },
            receive: RingDescV1x86 { ring_size: size, ring_ptr: 0x2000_0000, tail_moved_event: 8 },
        };
        assert_eq!(parse_registration(r32.as_bytes(), CallerBitness::Bits32), Err(RegistrationError::RingsOverlap));
    }

    /// A ring may end exactly at the top of the caller's address space (2^32 for a 32-bit
    /// caller, 2^64 for a 64-bit one), not one byte beyond.
    #[test]
    fn ring_may_end_at_the_top_of_the_address_space() {
        let size = v1_ring_size(0x20000);
        let top32 = 1u64 << 32;
        let r32 = |receive_ptr: u32| RegistrationV1x86 {
            send: RingDescV1x86 { ring_size: size, ring_ptr: 0x1000_0000, tail_moved_event: 4 },
            receive: RingDescV1x86 { ring_size: size, ring_ptr: receive_ptr, tail_moved_event: 8 },
        };
        let at_top = u32::try_from(top32 - u64::from(size)).unwrap();
        let cfg = parse_registration(r32(at_top).as_bytes(), CallerBitness::Bits32).unwrap();
        assert_eq!(cfg.receive.ring_ptr + u64::from(size), top32);
        assert_eq!(
            parse_registration(r32(at_top + 4).as_bytes(), CallerBitness::Bits32),
            Err(RegistrationError::RingWraps(RingRole::Receive))
        );
        // The same through the v2 layout from a 32-bit caller, and at 2^64 for a 64-bit one.
        let mut r = v2_reg();
        r.receive.ring_ptr = top32 - u64::from(r.receive.ring_size);
        assert!(parse_registration(r.as_bytes(), CallerBitness::Bits32).is_ok());
        r.receive.ring_ptr += 8;
        assert_eq!(
            parse_registration(r.as_bytes(), CallerBitness::Bits32),
            Err(RegistrationError::RingWraps(RingRole::Receive))
        );
        assert!(parse_registration(r.as_bytes(), CallerBitness::Bits64).is_ok());
        r.receive.ring_ptr = 0u64.wrapping_sub(u64::from(r.receive.ring_size));
        assert!(parse_registration(r.as_bytes(), CallerBitness::Bits64).is_ok());
        r.receive.ring_ptr += 8;
        assert_eq!(
            parse_registration(r.as_bytes(), CallerBitness::Bits64),
            Err(RegistrationError::RingWraps(RingRole::Receive))
        );
    }

    #[test]
    fn wrong_lengths() {
        for len in [0usize, 1, 12, 23, 25, 47, 49, 55, 57, 63, 65, 4096] {
            let buf = [0u8; 4096];
            assert_eq!(
                parse_registration(&buf[..len], CallerBitness::Bits64),
                Err(RegistrationError::WrongLength(len)),
                "{len}"
            );
        }
    }

    #[test]
    fn capabilities() {
        let c = Capabilities::CURRENT;
        assert_eq!(c.size, 28);
        assert_eq!(c.max_version, 2);
        assert_eq!(c.supported_flags, 7);
        assert_eq!((c.max_headroom, c.max_tailroom), (4096, 4096));
        assert_eq!((c.min_capacity, c.max_capacity), (0x20000, 0x400_0000));
        let bytes = c.to_bytes();
        assert_eq!(bytes[0..4], 28u32.to_le_bytes());
        assert_eq!(bytes[12..14], 4096u16.to_le_bytes());
        assert_eq!(Capabilities::read_from_bytes(&bytes[..]).ok(), Some(c));
    }
}
