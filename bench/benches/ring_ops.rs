//! Micro-benchmarks of the pure ring operations both sides call per packet or per batch:
//! planning a producer's reservation, and validating the packet at a consumer's head (v1 and
//! v2, from header values and from a byte image of the data area).
//!
//! ```text
//! cargo bench -p ringtun-bench --bench ring_ops
//! ```

use std::hint::black_box;

use criterion::{criterion_main, Criterion};
use ring_abi::{PacketHeader, RingGeometry, Room};

const CAPACITY: u32 = 0x80_0000;

fn plan_reservation(c: &mut Criterion) {
    let v1 = RingGeometry::v1(CAPACITY).unwrap_or_else(|e| panic!("{e:?}"));
    let v2 = RingGeometry::v2(CAPACITY, Room::new(16, 16)).unwrap_or_else(|e| panic!("{e:?}"));
    let mut group = c.benchmark_group("plan_reservation");
    group.bench_function("v1 room", |b| {
        b.iter(|| black_box(v1.plan_reservation(black_box(0x1000), black_box(0x40_0000), black_box(32 * 1504))))
    });
    group.bench_function("v2 room", |b| {
        b.iter(|| black_box(v2.plan_reservation(black_box(0x1000), black_box(0x40_0000), black_box(32 * 1544))))
    });
    group.bench_function("v2 full", |b| {
        b.iter(|| black_box(v2.plan_reservation(black_box(0x1000), black_box(0x800), black_box(32 * 1544))))
    });
    group.bench_function("v2 corrupt head", |b| {
        b.iter(|| black_box(v2.plan_reservation(black_box(0x1003), black_box(0x800), black_box(1544))))
    });
    group.finish();
}

fn packet_at(c: &mut Criterion) {
    let v1 = RingGeometry::v1(CAPACITY).unwrap_or_else(|e| panic!("{e:?}"));
    let v2 = RingGeometry::v2(CAPACITY, Room::new(16, 16)).unwrap_or_else(|e| panic!("{e:?}"));
    let v1_header = PacketHeader::V1 { size: 1500 };
    let v2_header = PacketHeader::V2 { slot_size: 1544, data_offset: 24, data_length: 1500 };
    let mut group = c.benchmark_group("packet_at");
    group.bench_function("v1", |b| {
        b.iter(|| black_box(v1.packet_at(black_box(0x1000), black_box(0x9000), |_| black_box(v1_header))))
    });
    group.bench_function("v2", |b| {
        b.iter(|| black_box(v2.packet_at(black_box(0x1000), black_box(0x9000), |_| black_box(v2_header))))
    });
    group.bench_function("v2 empty", |b| {
        b.iter(|| black_box(v2.packet_at(black_box(0x1000), black_box(0x1000), |_| black_box(v2_header))))
    });
    group.bench_function("v2 hostile header", |b| {
        let hostile = PacketHeader::V2 { slot_size: 1544, data_offset: 24, data_length: 1600 };
        b.iter(|| black_box(v2.packet_at(black_box(0x1000), black_box(0x9000), |_| black_box(hostile))))
    });
    // From a byte image of the data area: the header words read from memory, as a consumer does.
    let mut image = vec![0u8; v2.data_area_size() as usize];
    let words = RingGeometry::v2_header_words(1544, 24, 1500);
    image[0x1000..0x1004].copy_from_slice(&words[0].to_le_bytes());
    image[0x1004..0x1008].copy_from_slice(&words[1].to_le_bytes());
    group.bench_function("v2 parse from bytes", |b| {
        b.iter(|| black_box(v2.parse_packet(black_box(&image), black_box(0x1000), black_box(0x9000))))
    });
    group.finish();
}

mod group {
    use std::time::Duration;

    use super::{packet_at, plan_reservation};

    // Nanosecond-scale operations: short runs are plenty (the whole suite takes about 15 s).
    criterion::criterion_group! {
        name = benches;
        config = criterion::Criterion::default()
            .warm_up_time(Duration::from_millis(500))
            .measurement_time(Duration::from_secs(1));
        targets = plan_reservation, packet_at
    }
}

criterion_main!(group::benches);
