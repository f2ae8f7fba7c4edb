//! Known values of Wintun's v1 ABI (and the v2 values derived here), as a table.

use ring_abi::*;

#[test]
fn wintun_v1_table() {
    let table: &[(&str, u64, u64)] = &[
        ("TUN_IOCTL_REGISTER_RINGS", u64::from(IOCTL_REGISTER_RINGS), 0xCA6C_E5C0),
        ("CTL_CODE(51820, 0x970, 0, 3)", u64::from(ctl_code(51820, 0x970, 0, 3)), 0xCA6C_E5C0),
        ("TUN_ALIGNMENT", u64::from(V1_ALIGNMENT), 4),
        ("TUN_MAX_IP_PACKET_SIZE", u64::from(MAX_IP_PACKET_SIZE), 0xFFFF),
        ("TUN_MAX_PACKET_SIZE", u64::from(V1_MAX_SLOT_SIZE), 0x10004),
        ("TUN_MIN_RING_CAPACITY", u64::from(MIN_RING_CAPACITY), 0x20000),
        ("TUN_MAX_RING_CAPACITY", u64::from(MAX_RING_CAPACITY), 0x400_0000),
        ("TUN_RING_TRAILING_BYTES", u64::from(V1_TRAILING_SIZE), 0x10000),
        ("TUN_RING_SIZE(0x400000)", u64::from(v1_ring_size(0x40_0000)), 0x41_000C),
        ("TUN_RING_SIZE(0x20000)", u64::from(v1_ring_size(0x20000)), 0x3_000C),
        ("TUN_RING_SIZE(0x4000000)", u64::from(v1_ring_size(0x400_0000)), 0x401_000C),
        ("sizeof(TUN_RING header)", u64::from(V1_RING_HEADER_SIZE), 12),
        ("sizeof(TUN_PACKET)", u64::from(V1_PACKET_HEADER_SIZE), 4),
        ("sizeof(TUN_REGISTER_RINGS) x64", V1_REGISTRATION_SIZE_64 as u64, 48),
        ("sizeof(TUN_REGISTER_RINGS_32)", V1_REGISTRATION_SIZE_32 as u64, 24),
        ("head/tail stop marker", u64::from(RING_STOPPED), 0xFFFF_FFFF),
        ("slot of 0xFFFF bytes", u64::from(v1_slot_size(0xFFFF).unwrap()), 0x10004),
        ("slot of 1 byte", u64::from(v1_slot_size(1).unwrap()), 8),
        ("slot of 20 bytes", u64::from(v1_slot_size(20).unwrap()), 24),
    ];
    for (name, got, want) in table {
        assert_eq!(got, want, "{name}");
    }
}

#[test]
fn free_space_examples() {
    let g = RingGeometry::v1(0x20000).unwrap();
    // (head, tail, free, content)
    for (head, tail, free, content) in [
        (0u32, 0u32, 0x1FFFC, 0),
        (0, 0x1FFFC, 0, 0x1FFFC),
        (0x100, 0x100, 0x1FFFC, 0),
        (0x100, 0xFC, 0, 0x1FFFC),
        (0x1FFF0, 0x10, 0x1FFDC, 0x20),
    ] {
        assert_eq!(g.free_space(head, tail), free, "free({head:#x}, {tail:#x})");
        assert_eq!(g.content(head, tail), content, "content({head:#x}, {tail:#x})");
    }
}

#[test]
fn v2_table() {
    // max_slot(32, 16) = align8(8 + 32 + 65535 + 16) = align8(65591) = 65592 = 0x10038;
    // ring size = 128 + 0x400000 + 0x10038 - 8 = 0x4100B0.
    assert_eq!(v2_max_slot(32, 16), 0x10038);
    assert_eq!(v2_ring_size(0x40_0000, 32, 16), 0x41_00B0);
    assert_eq!(v2_ring_size(0x20000, 0, 0), 0x3_0080);
    assert_eq!(v2_ring_size(0x400_0000, 4096, 4096), 0x401_2080);
    assert_eq!(V2_RING_HEADER_SIZE, 128);
    assert_eq!(v2::TAIL_OFFSET, 64);
    assert_eq!(V2_REGISTRATION_SIZE, 56);
    assert_eq!(IOCTL_QUERY_CAPABILITIES, 0xCA6C_65C4);
    assert_eq!(v2_slot_size(1500, 16, 16), Some(1544));
}
