//! A session on a polled host driver (no consumer thread: the target drives every step), with
//! guard bytes around both rings so that a write outside a ring is seen even without a
//! sanitizer, and the checks every engine target ends with: a clean teardown and a working next
//! session.

use std::sync::Arc;

use ring_abi::v1::{RegistrationV1x64, RingDescV1x64};
use ring_abi::v2::{RegistrationV2, RingDescV2};
use ring_abi::{
    CallerBitness, PacketHeader, RegistrationFlags, Ring, RingGeometry, RingVersion, Room, SharedRing,
    IOCTL_REGISTER_RINGS, MIN_RING_CAPACITY, RING_STOPPED,
};
use ringtun_driver::engine::{ReceivePoll, TransmitStatus};
use ringtun_driver::host::{HostDriver, HostFile, ReturnMode, RingAllocation};
use zerocopy::IntoBytes;

/// Guard bytes before and after each ring.
pub const GUARD: usize = 4096;
const GUARD_BYTE: u8 = 0xE7;

/// One registered session and the client's view of its rings.
pub struct Rig {
    /// The driver (polled).
    pub driver: Arc<HostDriver>,
    file: Option<HostFile>,
    /// The Send ring (driver writes, client reads).
    pub send: Ring,
    /// The Receive ring (client writes, driver reads).
    pub receive: Ring,
    memory: [Arc<RingAllocation>; 2],
    events: [u64; 2],
}

impl Rig {
    /// Registers a session of `version` (minimum capacity) on `driver` with the registration
    /// `flags` (v2 only); v1 uses the 64-bit layout.
    pub fn open(
        driver: &Arc<HostDriver>,
        version: RingVersion,
        send_room: Room,
        receive_room: Room,
        flags: RegistrationFlags,
    ) -> Self {
        let send_geometry = RingGeometry::new(version, MIN_RING_CAPACITY, send_room).expect("room within limits");
        let receive_geometry = RingGeometry::new(version, MIN_RING_CAPACITY, receive_room).expect("room within limits");
        let guarded = |geometry: &RingGeometry| {
            let memory = driver.kernel().alloc_ring(geometry.ring_size() as usize + 2 * GUARD).expect("ring memory");
            // SAFETY: `memory` is a live allocation of this length, only used through raw writes.
            unsafe { core::ptr::write_bytes(memory.as_ptr(), GUARD_BYTE, memory.len()) };
            // The ring itself starts zeroed (head = tail = 0), as a client registers it.
            // SAFETY: the ring lies inside the allocation, past the first guard.
            unsafe { core::ptr::write_bytes(memory.as_ptr().add(GUARD), 0, geometry.ring_size() as usize) };
            memory
        };
        let send_memory = guarded(&send_geometry);
        let receive_memory = guarded(&receive_geometry);
        let (send_event, _) = driver.kernel().create_event(true, false);
        let (receive_event, _) = driver.kernel().create_event(true, false);
        let ptr = |m: &RingAllocation| m.as_ptr() as u64 + GUARD as u64;
        let input = match version {
            RingVersion::V2 => {
                let desc = |g: &RingGeometry, m: &RingAllocation, event| RingDescV2 {
                    ring_size: g.ring_size(),
                    headroom: g.room().headroom,
                    tailroom: g.room().tailroom,
                    ring_ptr: ptr(m),
                    tail_moved_event: event,
                };
                RegistrationV2 {
                    version: 2,
                    flags: flags.bits(),
                    send: desc(&send_geometry, &send_memory, send_event),
                    receive: desc(&receive_geometry, &receive_memory, receive_event),
                }
                .as_bytes()
                .to_vec()
            }
            RingVersion::V1 => {
                let desc = |g: &RingGeometry, m: &RingAllocation, event| RingDescV1x64 {
                    ring_size: g.ring_size(),
                    pad: 0,
                    ring_ptr: ptr(m),
                    tail_moved_event: event,
                };
                RegistrationV1x64 {
                    send: desc(&send_geometry, &send_memory, send_event),
                    receive: desc(&receive_geometry, &receive_memory, receive_event),
                }
                .as_bytes()
                .to_vec()
            }
        };
        let file = driver.open(1, CallerBitness::Bits64);
        driver.ioctl(&file, IOCTL_REGISTER_RINGS, &input, &mut []).expect("a valid registration is accepted");
        let ring = |m: &RingAllocation, g: RingGeometry| {
            // SAFETY: the allocation is kept alive by `Rig::memory` for as long as the ring (a
            // field of the same value, dropped first in `close`).
            let shared = unsafe { SharedRing::new(m.as_ptr().add(GUARD), g.ring_size() as usize, g.version()) }
                .expect("aligned");
            Ring::new(shared, g).expect("geometry")
        };
        Self {
            driver: Arc::clone(driver),
            file: Some(file),
            send: ring(&send_memory, send_geometry),
            receive: ring(&receive_memory, receive_geometry),
            memory: [send_memory, receive_memory],
            events: [send_event, receive_event],
        }
    }

    /// Whether every guard byte around both rings is untouched.
    pub fn guards_intact(&self) -> bool {
        self.memory.iter().zip([&self.send, &self.receive]).all(|(m, ring)| {
            let size = ring.geometry().ring_size() as usize;
            // SAFETY: reads of the live allocation's guard ranges; the engine never maps them.
            let bytes = unsafe { core::slice::from_raw_parts(m.as_ptr().cast_const(), m.len()) };
            bytes[..GUARD].iter().chain(&bytes[GUARD + size..]).all(|&b| b == GUARD_BYTE)
        })
    }

    /// Ends the session (the client closes its handle) and checks the teardown: both rings
    /// marked stopped, link down, nothing mapped or referenced once the client frees its side.
    pub fn close(mut self) {
        let driver = Arc::clone(&self.driver);
        if let Some(file) = self.file.take() {
            driver.close(file);
        }
        assert!(driver.adapter().session().is_none(), "session left after close");
        assert_eq!(self.send.load_tail(), RING_STOPPED, "Send ring not marked stopped");
        assert_eq!(self.receive.load_head(), RING_STOPPED, "Receive ring not marked stopped");
        assert_eq!(driver.stack().link_history().last(), Some(&false), "link not lowered");
        assert!(self.guards_intact(), "bytes written outside a ring");
        let Self { send, receive, memory, events, .. } = self;
        drop((send, receive, memory));
        for handle in events {
            driver.kernel().close_handle(handle);
        }
        assert_eq!(driver.kernel().live_ring_allocations(), 0, "a ring mapping outlived its session");
        assert_eq!(driver.kernel().open_handles(), 0);
    }
}

/// The adapter accepts a new session after whatever the target did, and it moves a packet each
/// way.
pub fn next_session_works(driver: &Arc<HostDriver>) {
    driver.faults().fail_indications.store(0, std::sync::atomic::Ordering::SeqCst);
    driver.stack().set_mode(ReturnMode::Immediate);
    let rig = Rig::open(driver, RingVersion::V2, Room::new(16, 16), Room::NONE, RegistrationFlags::EMPTY);
    let packet = {
        let mut p = vec![0x11u8; 60];
        p[0] = 0x45;
        p[2..4].copy_from_slice(&60u16.to_be_bytes());
        p
    };
    let geometry = *rig.receive.geometry();
    let slot = geometry.slot_size(60, Room::NONE).expect("slot");
    rig.receive
        .write_packet_header(0, PacketHeader::V2 { slot_size: slot, data_offset: 8, data_length: 60 })
        .expect("header");
    rig.receive.write_data(8, &packet).expect("data");
    rig.receive.store_tail(slot);
    let _ = driver.stack().take_delivered();
    assert_eq!(driver.poll_receive(), ReceivePoll::Consumed);
    let delivered = driver.stack().take_delivered();
    assert_eq!(delivered.len(), 1, "next session: packet not indicated");
    assert_eq!(delivered[0].bytes, packet);
    assert_eq!(rig.receive.load_head(), slot, "next session: slot not released");

    assert_eq!(driver.transmit(&[&packet]), Ok(vec![TransmitStatus::Sent]));
    let view = rig.send.packet_at(0, rig.send.load_tail()).expect("valid").expect("a packet");
    let mut got = vec![0u8; view.data_length as usize];
    rig.send.read_data(view.data_start(), &mut got).expect("inside");
    assert_eq!(got, packet, "next session: Send ring packet");
    rig.close();
}
