//! Registration: every layout accepted, every invalid field refused with its status.

use ring_abi::v1::{RegistrationV1x64, RingDescV1x64};
use ring_abi::v2::{RegistrationV2, RegistrationV2Ext, RingDescV2};
use ring_abi::{v1_ring_size, v2_ring_size, CallerBitness, Capabilities, RingVersion};
use ringtun::backend::{Backend as ClientBackend, ClientEvent, DeviceError, RingMemory};
use ringtun::{Error, Session};
use zerocopy::IntoBytes;

use super::common::{receive_n, send, session, v1, v2, PATIENCE};
use crate::backend::{Backend, Failure};
use crate::packets::{ipv6, raw};
use crate::{ensure, ensure_eq};

/// One packet each way through `session`, bytes checked.
fn one_each_way<B: Backend>(b: &B, s: &Session<B::Client>, seq: u32) -> Result<(), Failure> {
    let down = raw(300, seq);
    let outcomes = b.transmit(&[&down]);
    ensure_eq!(outcomes, vec![crate::backend::Outcome::Sent]);
    ensure_eq!(receive_n(s, 1)?, vec![down]);
    let up = ipv6(200, seq + 1);
    let baseline = b.counters().receive_packets;
    send(s, &up)?;
    ensure!(b.wait_delivered(baseline + 1, PATIENCE), "packet not delivered");
    ensure_eq!(b.take_delivered(), vec![up]);
    Ok(())
}

/// v1 from a 64-bit process.
pub fn register_v1_64<B: Backend>(b: &B) -> Result<(), Failure> {
    let s = session(b, v1())?;
    ensure_eq!(s.version(), RingVersion::V1);
    ensure_eq!(s.fallback_reason(), None);
    ensure_eq!(b.link_history(), vec![true]);
    one_each_way(b, &s, 10)?;
    ensure_eq!(b.counters().sessions_registered, 1);
    Ok(())
}

/// v1 from a 32-bit process: the 24-byte layout, pointers below 4 GiB.
pub fn register_v1_32<B: Backend>(b: &B) -> Result<(), Failure> {
    let s = Session::open(b.open_client(3, CallerBitness::Bits32), v1())?;
    ensure_eq!(s.version(), RingVersion::V1);
    ensure!(
        s.config().send.ring_ptr + u64::from(s.config().send.geometry.ring_size()) <= 1 << 32,
        "pointer above 4 GiB"
    );
    ensure!(s.config().receive.ring_ptr < 1 << 32, "pointer above 4 GiB");
    one_each_way(b, &s, 20)?;
    // The 48-byte layout from a 32-bit process is refused (Wintun's 64-bit driver accepts it:
    // docs/ring-protocol.md section 13.1 says why ringtun differs).
    drop(s);
    let client = b.open_client(4, CallerBitness::Bits32);
    let rings = RawRings::new(&client, RingVersion::V1)?;
    ensure_eq!(client.register(rings.v1_64().as_bytes()), Err(DeviceError::InvalidParameter));
    Ok(())
}

/// v2, any bitness, and the capability reply.
pub fn register_v2<B: Backend>(b: &B) -> Result<(), Failure> {
    let client = b.open_client(1, CallerBitness::Bits64);
    let caps = client.query_capabilities()?;
    ensure_eq!(caps, Capabilities::CURRENT);
    // RECEIVE_SPLIT | OFFLOAD | WRITE_SPACE.
    ensure_eq!((caps.size, caps.max_version, caps.supported_flags), (28, 2, 7));
    ensure_eq!((caps.max_headroom, caps.max_tailroom), (4096, 4096));
    ensure_eq!((caps.min_capacity, caps.max_capacity), (0x20000, 0x400_0000));
    let s = Session::open(client, v2())?;
    ensure_eq!(s.version(), RingVersion::V2);
    ensure_eq!(s.fallback_reason(), None);
    one_each_way(b, &s, 30)?;
    drop(s);
    // The same 56-byte layout from a 32-bit process.
    let s = Session::open(b.open_client(5, CallerBitness::Bits32), v2())?;
    ensure_eq!(s.version(), RingVersion::V2);
    one_each_way(b, &s, 40)?;
    ensure_eq!(b.counters().sessions_registered, 2);
    Ok(())
}

/// Rings and events for a hand-built registration.
pub struct RawRings<C: ClientBackend> {
    /// Send ring memory.
    pub send: C::Memory,
    /// Receive ring memory.
    pub receive: C::Memory,
    /// Send ring event.
    pub send_event: C::Event,
    /// Receive ring event.
    pub receive_event: C::Event,
    /// Write-space event (for the 64-byte layout).
    pub space_event: C::Event,
    /// Capacity of both rings.
    pub capacity: u32,
}

impl<C: ClientBackend> RawRings<C> {
    /// Rings of capacity 0x20000 sized for `version` with room 16/16 (v2).
    pub fn new(client: &C, version: RingVersion) -> Result<Self, Failure> {
        let capacity = 0x20000;
        let size = match version {
            RingVersion::V1 => v1_ring_size(capacity),
            RingVersion::V2 => v2_ring_size(capacity, 16, 16),
        } as usize;
        Ok(Self {
            send: client.alloc_ring(size)?,
            receive: client.alloc_ring(size)?,
            send_event: client.create_event()?,
            receive_event: client.create_event()?,
            space_event: client.create_event()?,
            capacity,
        })
    }

    /// A valid v2 registration of these rings.
    pub fn v2(&self) -> RegistrationV2 {
        let desc = |memory: &C::Memory, event: &C::Event| RingDescV2 {
            ring_size: v2_ring_size(self.capacity, 16, 16),
            headroom: 16,
            tailroom: 16,
            ring_ptr: memory.as_ptr() as u64,
            tail_moved_event: event.handle(),
        };
        RegistrationV2 {
            version: 2,
            flags: 0,
            send: desc(&self.send, &self.send_event),
            receive: desc(&self.receive, &self.receive_event),
        }
    }

    /// A valid 64-byte registration of these rings: v2 with `flags` (which should include
    /// `WRITE_SPACE`) and the write-space event.
    pub fn v2_ext(&self, flags: u32) -> RegistrationV2Ext {
        RegistrationV2Ext { base: RegistrationV2 { flags, ..self.v2() }, write_space_event: self.space_event.handle() }
    }

    /// A valid v1 64-bit registration of these rings.
    pub fn v1_64(&self) -> RegistrationV1x64 {
        let desc = |memory: &C::Memory, event: &C::Event| RingDescV1x64 {
            ring_size: v1_ring_size(self.capacity),
            pad: 0,
            ring_ptr: memory.as_ptr() as u64,
            tail_moved_event: event.handle(),
        };
        RegistrationV1x64 {
            send: desc(&self.send, &self.send_event),
            receive: desc(&self.receive, &self.receive_event),
        }
    }

    /// Writes `value` at byte `offset` of the Send ring memory (before registering).
    pub fn poke_send(&self, offset: usize, value: u32) {
        assert!(offset + 4 <= self.send.len());
        // SAFETY: in bounds (asserted), 4-aligned by the callers' offsets, and the ring is not
        // registered yet, so nothing else accesses it.
        unsafe { self.send.as_ptr().add(offset).cast::<u32>().write(value) };
    }
}

/// Every invalid field refused with the right status, and nothing left behind.
pub fn refused_fields<B: Backend>(b: &B) -> Result<(), Failure> {
    use DeviceError::InvalidParameter;
    let client = b.open_client(1, CallerBitness::Bits64);
    let rings = RawRings::new(&client, RingVersion::V2)?;
    let good = rings.v2();
    let cases: Vec<(&str, Vec<u8>, DeviceError)> = {
        let mut cases = Vec::new();
        let mut case = |name, want, f: &dyn Fn(&mut RegistrationV2)| {
            let mut r = good;
            f(&mut r);
            cases.push((name, r.as_bytes().to_vec(), want));
        };
        case("version 3", InvalidParameter, &|r| r.version = 3);
        case("version 1 in 56 bytes", InvalidParameter, &|r| r.version = 1);
        case("unknown flag", InvalidParameter, &|r| r.flags = 8);
        case("offload with receive split", InvalidParameter, &|r| r.flags = 3);
        case("write-space flag in 56 bytes", InvalidParameter, &|r| r.flags = 4);
        case("offload without head room for the metadata", InvalidParameter, &|r| {
            r.flags = 2;
            r.receive.headroom = 8;
            r.receive.ring_size = v2_ring_size(0x20000, 8, 16);
        });
        case("zero send pointer", InvalidParameter, &|r| r.send.ring_ptr = 0);
        case("zero receive pointer", InvalidParameter, &|r| r.receive.ring_ptr = 0);
        case("zero send event", InvalidParameter, &|r| r.send.tail_moved_event = 0);
        case("zero receive event", InvalidParameter, &|r| r.receive.tail_moved_event = 0);
        case("misaligned pointer", InvalidParameter, &|r| r.send.ring_ptr += 4);
        case("ring size off by 8", InvalidParameter, &|r| r.receive.ring_size += 8);
        case("ring size of another room", InvalidParameter, &|r| r.send.headroom = 8);
        case("head room over 4096", InvalidParameter, &|r| {
            r.send.headroom = 4097;
            r.send.ring_size = v2_ring_size(0x20000, 4097, 16);
        });
        case("capacity not a power of two", InvalidParameter, &|r| r.send.ring_size = v2_ring_size(0x30000, 16, 16));
        case("pointer to memory that is not the caller's", DeviceError::InvalidUserBuffer, &|r| {
            r.receive.ring_ptr = 0x10_0000
        });
        case("unknown event handle", DeviceError::InvalidHandle, &|r| r.send.tail_moved_event = 0xDEAD_BEE0);
        case("pointer wrapping the address space", InvalidParameter, &|r| r.send.ring_ptr = u64::MAX - 0xFFF);
        // Both descriptors naming the Send ring's memory (each ring alone is valid and mappable).
        case("identical send and receive rings", InvalidParameter, &|r| {
            let event = r.receive.tail_moved_event;
            r.receive = r.send;
            r.receive.tail_moved_event = event;
        });
        // One event for both rings (the driver would consume its own Send-ring signals), also with
        // a Receive ring that cannot be probed: the events are compared before any ring is probed.
        case("the same event for both rings", InvalidParameter, &|r| {
            r.receive.tail_moved_event = r.send.tail_moved_event
        });
        case("the same event for both rings, the receive ring unprobeable", InvalidParameter, &|r| {
            r.receive.tail_moved_event = r.send.tail_moved_event;
            r.receive.ring_ptr = 0x10_0000;
        });
        let ext = |flags: u32, event: Option<u64>| {
            let mut r = rings.v2_ext(flags);
            if let Some(event) = event {
                r.write_space_event = event;
            }
            r.as_bytes().to_vec()
        };
        cases.push(("64 bytes without the write-space flag", ext(2, None), InvalidParameter));
        cases.push(("zero write-space event", ext(4, Some(0)), InvalidParameter));
        cases.push(("unknown write-space event", ext(6, Some(0xDEAD_BEE0)), DeviceError::InvalidHandle));
        // The Receive ring's event, which the driver waits on, again as the write-space event, which
        // it sets (the Send ring's event may be: both are the client's to wait on).
        cases.push((
            "the receive ring's event as the write-space event",
            ext(4, Some(good.receive.tail_moved_event)),
            InvalidParameter,
        ));
        cases.push(("short input", good.as_bytes()[..40].to_vec(), InvalidParameter));
        cases.push(("long input", [good.as_bytes(), &[0u8; 8]].concat(), InvalidParameter));
        cases
    };
    for (i, (name, bytes, want)) in cases.iter().enumerate() {
        ensure_eq!(client.register(bytes), Err(*want), "{name}");
        ensure_eq!(b.counters().registrations_refused, i as u64 + 1, "{name}: refusal counted");
        ensure_eq!(b.counters().sessions_registered, 0, "{name}: no session");
    }
    ensure!(b.link_history().is_empty(), "link went up on a refused registration");
    // A Send ring whose tail is not a valid offset is refused before anything runs.
    rings.poke_send(64, 3);
    ensure_eq!(client.register(good.as_bytes()), Err(InvalidParameter), "misaligned initial Send tail");
    rings.poke_send(64, 0);
    // The same rings, valid now, register fine.
    ensure_eq!(client.register(good.as_bytes()), Ok(()));
    ensure_eq!(b.counters().sessions_registered, 1);
    Ok(())
}

/// A stale registration: input naming event handles the client has closed and ring memory it has
/// freed. The driver references each ring's event before it probes the ring's memory, as
/// Wintun's does, so the answer is Wintun's `STATUS_INVALID_HANDLE` (not the
/// `STATUS_INVALID_USER_BUFFER` a probe would give), v1 and v2 alike; nothing is left behind.
pub fn stale_registration<B: Backend>(b: &B) -> Result<(), Failure> {
    let client = b.open_client(1, CallerBitness::Bits64);
    for version in [RingVersion::V2, RingVersion::V1] {
        let rings = RawRings::new(&client, version)?;
        let input = match version {
            RingVersion::V2 => rings.v2().as_bytes().to_vec(),
            RingVersion::V1 => rings.v1_64().as_bytes().to_vec(),
        };
        // Handles closed and memory freed (the client's objects are released on drop).
        drop(rings);
        ensure_eq!(client.register(&input), Err(DeviceError::InvalidHandle), "{version:?}");
    }
    // Only the events gone, the memory still there: the same answer, for the same reason.
    let rings = RawRings::new(&client, RingVersion::V2)?;
    let mut input = rings.v2();
    let (send_event, receive_event) = (client.create_event()?, client.create_event()?);
    input.send.tail_moved_event = send_event.handle();
    input.receive.tail_moved_event = receive_event.handle();
    drop((send_event, receive_event));
    ensure_eq!(client.register(input.as_bytes()), Err(DeviceError::InvalidHandle), "closed handles");
    if let Some(live) = b.live_rings() {
        // The rings still allocated by this test are the only ones alive.
        ensure_eq!(live, 2, "ring memory still referenced after the refusals");
    }
    ensure_eq!(b.counters().registrations_refused, 3);
    ensure_eq!(b.counters().sessions_registered, 0);
    ensure!(b.link_history().is_empty(), "link went up on a refused registration");
    // The same client registers valid rings afterwards.
    ensure_eq!(client.register(rings.v2().as_bytes()), Ok(()));
    ensure_eq!(b.counters().sessions_registered, 1);
    Ok(())
}

/// One session per adapter; another may register once the first has closed.
pub fn second_registration_refused<B: Backend>(b: &B) -> Result<(), Failure> {
    let first = session(b, v2())?;
    let second = Session::open(b.open_client(2, CallerBitness::Bits64), v2());
    ensure!(
        matches!(second, Err(Error::Device(DeviceError::AlreadyInitialized))),
        "second registration: {:?}",
        second.as_ref().err()
    );
    let second_v1 = Session::open(b.open_client(2, CallerBitness::Bits64), v1());
    ensure!(matches!(second_v1, Err(Error::Device(DeviceError::AlreadyInitialized))), "second v1 registration");
    one_each_way(b, &first, 50)?;
    drop(first);
    ensure_eq!(b.link_history(), vec![true, false]);
    let third = Session::open(b.open_client(2, CallerBitness::Bits64), v2())?;
    one_each_way(b, &third, 60)?;
    ensure_eq!(b.counters().sessions_registered, 2);
    ensure_eq!(b.counters().sessions_ended, 1);
    Ok(())
}
