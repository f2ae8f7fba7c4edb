//! The C header agrees with the Rust ABI: every size, offset, constant and formula, and ring
//! images written by one side are read back by the other.

use std::collections::BTreeMap;
use std::mem::{offset_of, size_of};
use std::path::{Path, PathBuf};
use std::process::Command;

use ring_abi::offload::OffloadMeta;
use ring_abi::v1::{PacketHeaderV1, RegistrationV1x64, RegistrationV1x86, RingDescV1x64, RingDescV1x86, RingHeaderV1};
use ring_abi::v2::{Capabilities, PacketHeaderV2, RegistrationV2, RegistrationV2Ext, RingDescV2, RingHeaderV2};
use ring_abi::*;

/// A scratch directory of this test process and test (tests run in parallel).
fn scratch_dir(test: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("ringtun-c-header-{}-{test}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn compile(dir: &Path) -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let exe = dir.join("layout_check");
    let cc = std::env::var("CC").unwrap_or_else(|_| "cc".into());
    let out = Command::new(&cc)
        .args(["-std=c99", "-Wall", "-Wextra", "-Werror", "-pedantic", "-O1", "-I"])
        .arg(root.join("include"))
        .arg(root.join("tests/c/layout_check.c"))
        .arg("-o")
        .arg(&exe)
        .output()
        .unwrap_or_else(|e| panic!("cannot run the C compiler `{cc}`: {e}"));
    assert!(out.status.success(), "C compile failed:\n{}", String::from_utf8_lossy(&out.stderr));
    exe
}

fn expected() -> BTreeMap<String, u64> {
    let mut m = BTreeMap::new();
    let mut put = |k: &str, v: u64| {
        m.insert(k.to_string(), v);
    };
    macro_rules! size {
        ($c:literal, $t:ty) => {
            put(concat!("size.", $c), size_of::<$t>() as u64)
        };
    }
    macro_rules! off {
        ($c:literal, $t:ty, $f:ident) => {
            put(concat!("offset.", $c, ".", stringify!($f)), offset_of!($t, $f) as u64)
        };
    }
    size!("ringtun_ring_header_v1", RingHeaderV1);
    off!("ringtun_ring_header_v1", RingHeaderV1, head);
    off!("ringtun_ring_header_v1", RingHeaderV1, tail);
    off!("ringtun_ring_header_v1", RingHeaderV1, alertable);
    size!("ringtun_packet_header_v1", PacketHeaderV1);
    off!("ringtun_packet_header_v1", PacketHeaderV1, size);
    size!("ringtun_ring_desc_v1_64", RingDescV1x64);
    off!("ringtun_ring_desc_v1_64", RingDescV1x64, ring_size);
    off!("ringtun_ring_desc_v1_64", RingDescV1x64, pad);
    off!("ringtun_ring_desc_v1_64", RingDescV1x64, ring_ptr);
    off!("ringtun_ring_desc_v1_64", RingDescV1x64, tail_moved_event);
    size!("ringtun_registration_v1_64", RegistrationV1x64);
    off!("ringtun_registration_v1_64", RegistrationV1x64, send);
    off!("ringtun_registration_v1_64", RegistrationV1x64, receive);
    size!("ringtun_ring_desc_v1_32", RingDescV1x86);
    off!("ringtun_ring_desc_v1_32", RingDescV1x86, ring_size);
    off!("ringtun_ring_desc_v1_32", RingDescV1x86, ring_ptr);
    off!("ringtun_ring_desc_v1_32", RingDescV1x86, tail_moved_event);
    size!("ringtun_registration_v1_32", RegistrationV1x86);
    off!("ringtun_registration_v1_32", RegistrationV1x86, send);
    off!("ringtun_registration_v1_32", RegistrationV1x86, receive);
    size!("ringtun_ring_header_v2", RingHeaderV2);
    off!("ringtun_ring_header_v2", RingHeaderV2, head);
    off!("ringtun_ring_header_v2", RingHeaderV2, alertable);
    off!("ringtun_ring_header_v2", RingHeaderV2, reserved0);
    off!("ringtun_ring_header_v2", RingHeaderV2, tail);
    off!("ringtun_ring_header_v2", RingHeaderV2, space_waiting);
    off!("ringtun_ring_header_v2", RingHeaderV2, reserved1);
    size!("ringtun_packet_header_v2", PacketHeaderV2);
    off!("ringtun_packet_header_v2", PacketHeaderV2, slot_size);
    off!("ringtun_packet_header_v2", PacketHeaderV2, data_offset);
    off!("ringtun_packet_header_v2", PacketHeaderV2, data_length);
    size!("ringtun_ring_desc_v2", RingDescV2);
    off!("ringtun_ring_desc_v2", RingDescV2, ring_size);
    off!("ringtun_ring_desc_v2", RingDescV2, headroom);
    off!("ringtun_ring_desc_v2", RingDescV2, tailroom);
    off!("ringtun_ring_desc_v2", RingDescV2, ring_ptr);
    off!("ringtun_ring_desc_v2", RingDescV2, tail_moved_event);
    size!("ringtun_registration_v2", RegistrationV2);
    off!("ringtun_registration_v2", RegistrationV2, version);
    off!("ringtun_registration_v2", RegistrationV2, flags);
    off!("ringtun_registration_v2", RegistrationV2, send);
    off!("ringtun_registration_v2", RegistrationV2, receive);
    size!("ringtun_registration_v2_ext", RegistrationV2Ext);
    off!("ringtun_registration_v2_ext", RegistrationV2Ext, base);
    off!("ringtun_registration_v2_ext", RegistrationV2Ext, write_space_event);
    size!("ringtun_offload_meta", OffloadMeta);
    off!("ringtun_offload_meta", OffloadMeta, flags);
    off!("ringtun_offload_meta", OffloadMeta, gso_type);
    off!("ringtun_offload_meta", OffloadMeta, hdr_len);
    off!("ringtun_offload_meta", OffloadMeta, gso_size);
    off!("ringtun_offload_meta", OffloadMeta, csum_start);
    off!("ringtun_offload_meta", OffloadMeta, csum_offset);
    off!("ringtun_offload_meta", OffloadMeta, reserved);
    size!("ringtun_capabilities", Capabilities);
    off!("ringtun_capabilities", Capabilities, size);
    off!("ringtun_capabilities", Capabilities, max_version);
    off!("ringtun_capabilities", Capabilities, supported_flags);
    off!("ringtun_capabilities", Capabilities, max_headroom);
    off!("ringtun_capabilities", Capabilities, max_tailroom);
    off!("ringtun_capabilities", Capabilities, min_capacity);
    off!("ringtun_capabilities", Capabilities, max_capacity);
    off!("ringtun_capabilities", Capabilities, driver_version);

    put("const.V1_ALIGNMENT", V1_ALIGNMENT.into());
    put("const.V2_ALIGNMENT", V2_ALIGNMENT.into());
    put("const.MAX_IP_PACKET_SIZE", MAX_IP_PACKET_SIZE.into());
    put("const.V1_PACKET_HEADER_SIZE", V1_PACKET_HEADER_SIZE.into());
    put("const.V2_PACKET_HEADER_SIZE", V2_PACKET_HEADER_SIZE.into());
    put("const.V1_MAX_SLOT_SIZE", V1_MAX_SLOT_SIZE.into());
    put("const.MIN_RING_CAPACITY", MIN_RING_CAPACITY.into());
    put("const.MAX_RING_CAPACITY", MAX_RING_CAPACITY.into());
    put("const.V1_RING_HEADER_SIZE", V1_RING_HEADER_SIZE.into());
    put("const.V2_RING_HEADER_SIZE", V2_RING_HEADER_SIZE.into());
    put("const.CACHE_LINE_SIZE", CACHE_LINE_SIZE.into());
    put("const.V1_TRAILING_SIZE", V1_TRAILING_SIZE.into());
    put("const.MAX_HEADROOM", MAX_HEADROOM.into());
    put("const.MAX_TAILROOM", MAX_TAILROOM.into());
    put("const.RING_STOPPED", RING_STOPPED.into());
    put("const.CLIENT_OWNED_BIT", CLIENT_OWNED_BIT.into());
    put("const.RINGTUN_DEVICE_TYPE", RINGTUN_DEVICE_TYPE.into());
    put("const.REGISTER_RINGS_FUNCTION", REGISTER_RINGS_FUNCTION.into());
    put("const.QUERY_CAPABILITIES_FUNCTION", QUERY_CAPABILITIES_FUNCTION.into());
    put("const.ABI_VERSION_2", ABI_VERSION_2.into());
    put("const.V1_REGISTRATION_SIZE_64", V1_REGISTRATION_SIZE_64 as u64);
    put("const.V1_REGISTRATION_SIZE_32", V1_REGISTRATION_SIZE_32 as u64);
    put("const.V2_REGISTRATION_SIZE", V2_REGISTRATION_SIZE as u64);
    put("const.CAPABILITIES_SIZE", CAPABILITIES_SIZE as u64);
    put("const.V2_REGISTRATION_EXT_SIZE", V2_REGISTRATION_EXT_SIZE as u64);
    put("const.FLAG_RECEIVE_SPLIT", RegistrationFlags::RECEIVE_SPLIT.bits().into());
    put("const.FLAG_OFFLOAD", RegistrationFlags::OFFLOAD.bits().into());
    put("const.FLAG_WRITE_SPACE", RegistrationFlags::WRITE_SPACE.bits().into());
    put("const.OFFLOAD_META_SIZE", OFFLOAD_META_SIZE.into());
    put("const.OFFLOAD_META_OFFSET", OFFLOAD_META_OFFSET.into());
    put("const.OFFLOAD_MIN_DATA_OFFSET", OFFLOAD_MIN_DATA_OFFSET.into());
    put("const.MAX_GSO_SEGMENTS", MAX_GSO_SEGMENTS.into());
    put("const.MAX_OFFLOAD_HEADER", MAX_OFFLOAD_HEADER as u64);
    put("const.OFFLOAD_F_NEEDS_CSUM", OFFLOAD_F_NEEDS_CSUM.into());
    put("const.OFFLOAD_F_DATA_VALID", OFFLOAD_F_DATA_VALID.into());
    put("const.OFFLOAD_GSO_NONE", OFFLOAD_GSO_NONE.into());
    put("const.OFFLOAD_GSO_TCPV4", OFFLOAD_GSO_TCPV4.into());
    put("const.OFFLOAD_GSO_TCPV6", OFFLOAD_GSO_TCPV6.into());
    put("const.OFFLOAD_GSO_UDP_L4", OFFLOAD_GSO_UDP_L4.into());
    put("const.OFFLOAD_GSO_ECN", OFFLOAD_GSO_ECN.into());
    put("const.SPACE_WAITING_OFFSET", SPACE_WAITING_OFFSET.into());
    put("const.IOCTL_REGISTER_RINGS", IOCTL_REGISTER_RINGS.into());
    put("const.IOCTL_QUERY_CAPABILITIES", IOCTL_QUERY_CAPABILITIES.into());

    put("fn.v1_ring_size.0x400000", v1_ring_size(0x40_0000).into());
    put("fn.v2_max_slot.32.16", v2_max_slot(32, 16).into());
    put("fn.v2_ring_size.0x400000.32.16", v2_ring_size(0x40_0000, 32, 16).into());
    put("fn.v2_ring_size.0x4000000.4096.4096", v2_ring_size(0x400_0000, 4096, 4096).into());
    put("fn.v2_slot_size.1500.16.16", v2_slot_size(1500, 16, 16).unwrap().into());
    put("fn.v1_slot_size.1500", v1_slot_size(1500).unwrap().into());
    m
}

fn payload(packet: u32, byte: u32) -> u8 {
    (packet.wrapping_mul(31).wrapping_add(byte.wrapping_mul(7)).wrapping_add(1)) as u8
}

/// A ring image in an 8-aligned buffer.
struct Image {
    words: Vec<u64>,
    len: usize,
}

impl Image {
    fn zeroed(len: usize) -> Self {
        Self { words: vec![0; len.div_ceil(8)], len }
    }
    fn from_bytes(bytes: &[u8]) -> Self {
        let mut img = Self::zeroed(bytes.len());
        img.bytes_mut().copy_from_slice(bytes);
        img
    }
    fn bytes_mut(&mut self) -> &mut [u8] {
        // SAFETY: the Vec<u64> holds at least `len` bytes; u8 has no alignment requirement.
        unsafe { std::slice::from_raw_parts_mut(self.words.as_mut_ptr().cast(), self.len) }
    }
    fn ring(&mut self, geometry: RingGeometry) -> Ring {
        // SAFETY: `self` outlives the returned ring in every use below (both are locals).
        let mem = unsafe { SharedRing::new(self.words.as_mut_ptr().cast(), self.len, geometry.version()) }.unwrap();
        Ring::new(mem, geometry).unwrap()
    }
}

const CAPACITY: u32 = 0x20000;
const START: u32 = CAPACITY - 64;

#[test]
fn sizes_offsets_and_constants_match() {
    let dir = scratch_dir("layout");
    let exe = compile(&dir);
    let out = Command::new(&exe).arg("print").output().unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    let mut from_c = BTreeMap::new();
    for line in text.lines() {
        let (name, value) = line.split_once(' ').unwrap();
        assert!(from_c.insert(name.to_string(), value.parse::<u64>().unwrap()).is_none(), "duplicate {name}");
    }
    let rust = expected();
    for (name, value) in &rust {
        assert_eq!(from_c.get(name), Some(value), "{name}: C says {:?}, Rust says {value}", from_c.get(name));
    }
    assert_eq!(
        from_c.len(),
        rust.len(),
        "names only C prints: {:?}",
        from_c.keys().filter(|k| !rust.contains_key(*k)).collect::<Vec<_>>()
    );
    assert_eq!(rust["const.IOCTL_REGISTER_RINGS"], 0xCA6C_E5C0);
}

#[test]
fn ring_written_by_c_reads_in_rust() {
    let dir = scratch_dir("from_c");
    let exe = compile(&dir);
    let path = dir.join("from_c.ring");
    let status = Command::new(&exe).arg("write").arg(&path).status().unwrap();
    assert!(status.success());
    let geometry = RingGeometry::v2(CAPACITY, Room::new(16, 8)).unwrap();
    let bytes = std::fs::read(&path).unwrap();
    assert_eq!(bytes.len(), geometry.ring_size() as usize);
    let mut img = Image::from_bytes(&bytes);
    let ring = img.ring(geometry);
    let mut head = ring.load_head();
    assert_eq!(head, START);
    let tail = ring.load_tail();
    let mut count = 0u32;
    while let Some(view) = ring.packet_at(head, tail).unwrap() {
        let len = 20 + count * 37;
        assert_eq!(view.data_length, len);
        assert_eq!(view.headroom(), 16);
        assert!(view.tailroom() >= 8);
        let mut data = vec![0u8; len as usize];
        ring.read_data(view.data_start(), &mut data).unwrap();
        assert!(data.iter().enumerate().all(|(j, &b)| b == payload(count, j as u32)), "packet {count}");
        head = geometry.advance(head, view.slot_size);
        count += 1;
    }
    assert_eq!(count, 6);
    assert_eq!(head, tail);
}

#[test]
fn ring_written_by_rust_reads_in_c() {
    let dir = scratch_dir("from_rust");
    let exe = compile(&dir);
    let geometry = RingGeometry::v2(CAPACITY, Room::new(4, 12)).unwrap();
    let mut img = Image::zeroed(geometry.ring_size() as usize);
    let ring = img.ring(geometry);
    ring.store_head(START);
    let mut tail = START;
    for i in 0..7u32 {
        // Allocated with full room and 60 extra bytes, then the data start is moved forward by
        // i % 3 and the length shrunk: what a client does after decrypting in place.
        let allocated = 40 + i * 53 + 60;
        let slot = geometry.slot_size(allocated, Room::new(4, 12)).unwrap();
        let data_offset = 8 + 4 + (i % 3);
        let len = 40 + i * 53;
        let plan = geometry.plan_reservation(START, tail, slot).unwrap();
        ring.write_packet_header(
            plan.offset,
            PacketHeader::V2 { slot_size: slot, data_offset: data_offset as u16, data_length: len as u16 },
        )
        .unwrap();
        let bytes: Vec<u8> = (0..len).map(|j| payload(i + 100, j)).collect();
        ring.write_data(plan.offset + data_offset, &bytes).unwrap();
        tail = plan.next_tail;
    }
    ring.publish_tail(tail);
    let _ = ring;
    let path = dir.join("from_rust.ring");
    let len = img.len;
    std::fs::write(&path, &img.bytes_mut()[..len]).unwrap();
    let out = Command::new(&exe).arg("read").arg(&path).output().unwrap();
    assert!(
        out.status.success(),
        "C rejected the image: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "packets 7");
}

#[test]
fn header_compiles_as_cpp() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let cxx = std::env::var("CXX").unwrap_or_else(|_| "c++".into());
    let Ok(out) = Command::new(&cxx)
        .args(["-std=c++11", "-fsyntax-only", "-Wall", "-Wextra", "-Werror", "-x", "c++"])
        .arg(root.join("include/ringtun.h"))
        .output()
    else {
        eprintln!("no C++ compiler `{cxx}`; C++ check not run");
        return;
    };
    assert!(out.status.success(), "C++ check failed:\n{}", String::from_utf8_lossy(&out.stderr));
}
