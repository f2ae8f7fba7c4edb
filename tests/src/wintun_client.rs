//! A v1 client that behaves as Wintun's own userspace session code does (the facts below were
//! learned from Wintun's published source; this code is written independently), for checking
//! that ringtun serves Wintun clients as they are.
//!
//! What it reproduces:
//! - **layout**: one allocation of `2 * ring_size` bytes; the Send ring at its start, the
//!   Receive ring directly after it at `region + ring_size`. A v1 ring size is
//!   `capacity + 0x1000C`, so the Receive ring is always 4 mod 8;
//! - **registration**: auto-reset events, not signalled; the 48-byte layout from a 64-bit
//!   process, the 24-byte layout from a 32-bit (WOW64) one;
//! - **receiving** (Send ring, under its lock): stop at a `head` or `tail` of
//!   `RING_STOPPED`/out of range ("end of file"), "no more items" when empty, "invalid data" for
//!   a bad size; the private head moves on, the ring's `head` only on release;
//! - **release** in any order: the client-owned bit marks a released slot; `head` is stored
//!   (release) past the leading run of released slots, after every release;
//! - **allocation** (Receive ring, under its lock): the slot's `size` is written with the
//!   client-owned bit set, "buffer overflow" when the ring lacks room, "end of file" once the
//!   driver stopped the ring;
//! - **sending** in any order: the bit is cleared; `tail` is stored (release) past the leading run
//!   of sent slots if it moved, then `alertable` is loaded and the event set if it was non-zero.
//!   Clients built before February 2026 have no full fence between that store and that load
//!   ([`Publish::NoFence`]); later ones do ([`Publish::Fenced`]);
//! - **end**: the device handle is closed first (which ends the session in the driver), then
//!   the events, then the memory is freed.

use std::sync::atomic::{fence, AtomicU32, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use ring_abi::v1::{RegistrationV1x64, RegistrationV1x86, RingDescV1x64, RingDescV1x86};
use ring_abi::{
    v1_ring_size, CallerBitness, CLIENT_OWNED_BIT, MAX_IP_PACKET_SIZE, RING_STOPPED, V1_ALIGNMENT,
    V1_PACKET_HEADER_SIZE, V1_RING_HEADER_SIZE,
};
use ringtun::backend::{Backend as ClientBackend, ClientEvent, DeviceError, RingMemory};
use zerocopy::IntoBytes;

use crate::packets::Rng;

/// Every ring capacity a Wintun client may ask for: powers of two 0x20000 ..= 0x4000000.
pub const CAPACITIES: [u32; 10] =
    [0x20000, 0x40000, 0x80000, 0x10_0000, 0x20_0000, 0x40_0000, 0x80_0000, 0x100_0000, 0x200_0000, 0x400_0000];

/// How the client publishes the Receive ring's `tail`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Publish {
    /// Release store, full fence, load `alertable`, signal if set (the protocol).
    Fenced,
    /// Release store, then an acquire load of `alertable` with no full fence between (Wintun's
    /// client before its February 2026 fix): the load may pass the store.
    NoFence,
    /// Randomly (seeded) one of: fenced, no fence, or no signal at all (a client that skips the
    /// signal); for the lost-wake-up scenario.
    Chaos(u64),
}

/// Why an operation failed, as Wintun's client reports it (`GetLastError`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WintunError {
    /// `ERROR_HANDLE_EOF`: the driver stopped the ring (session over or ring corrupt).
    HandleEof,
    /// `ERROR_NO_MORE_ITEMS`: nothing to receive now.
    NoMoreItems,
    /// `ERROR_INVALID_DATA`: the driver published a malformed slot.
    InvalidData,
    /// `ERROR_BUFFER_OVERFLOW`: the Receive ring lacks room for the packet.
    BufferOverflow,
}

/// A packet received from the Send ring: owned by the client until released.
#[derive(Debug)]
pub struct Received {
    offset: u32,
    size: u32,
}

/// A Receive-ring slot allocated and not yet sent.
#[derive(Debug)]
pub struct Allocated {
    offset: u32,
    size: u32,
}

struct SendSide {
    head: u32,
    head_release: u32,
    to_release: u32,
}

struct ReceiveSide {
    tail: u32,
    tail_release: u32,
    to_release: u32,
    rng: Rng,
    /// How the last `tail` store was published; `None` for a skipped signal.
    last: Option<Publish>,
}

/// A Wintun-layout v1 session. Field order is drop order: the device handle is closed first.
pub struct WintunSession<C: ClientBackend> {
    handle: Option<C>,
    send_event: C::Event,
    receive_event: C::Event,
    region: C::Memory,
    ring_size: u32,
    capacity: u32,
    publish: Publish,
    send: Mutex<SendSide>,
    receive: Mutex<ReceiveSide>,
}

/// The registration a Wintun client of `bitness` passes for its two rings.
pub fn registration_bytes(
    bitness: CallerBitness,
    ring_size: u32,
    send: (u64, u64),
    receive: (u64, u64),
) -> Option<Vec<u8>> {
    Some(match bitness {
        CallerBitness::Bits64 => {
            let desc =
                |(ptr, event): (u64, u64)| RingDescV1x64 { ring_size, pad: 0, ring_ptr: ptr, tail_moved_event: event };
            RegistrationV1x64 { send: desc(send), receive: desc(receive) }.as_bytes().to_vec()
        }
        CallerBitness::Bits32 => {
            let desc = |(ptr, event): (u64, u64)| -> Option<RingDescV1x86> {
                Some(RingDescV1x86 {
                    ring_size,
                    ring_ptr: u32::try_from(ptr).ok()?,
                    tail_moved_event: u32::try_from(event).ok()?,
                })
            };
            RegistrationV1x86 { send: desc(send)?, receive: desc(receive)? }.as_bytes().to_vec()
        }
    })
}

/// One allocation for both rings, as Wintun's client makes it.
pub struct Layout<C: ClientBackend> {
    /// The region: Send ring at 0, Receive ring at `ring_size`.
    pub region: C::Memory,
    /// Send ring event (the read-wait event).
    pub send_event: C::Event,
    /// Receive ring event.
    pub receive_event: C::Event,
    /// Size of each ring.
    pub ring_size: u32,
}

impl<C: ClientBackend> Layout<C> {
    /// Allocates the region and the events for rings of `capacity`.
    pub fn new(client: &C, capacity: u32) -> Result<Self, DeviceError> {
        let ring_size = v1_ring_size(capacity);
        Ok(Self {
            region: client.alloc_ring(ring_size as usize * 2)?,
            send_event: client.create_event()?,
            receive_event: client.create_event()?,
            ring_size,
        })
    }

    /// Address of the Send ring.
    pub fn send_ring(&self) -> u64 {
        self.region.as_ptr() as u64
    }

    /// Address of the Receive ring: `region + ring_size`.
    pub fn receive_ring(&self) -> u64 {
        self.send_ring() + u64::from(self.ring_size)
    }

    /// The registration bytes for a caller of `bitness`.
    pub fn registration(&self, bitness: CallerBitness) -> Option<Vec<u8>> {
        registration_bytes(
            bitness,
            self.ring_size,
            (self.send_ring(), self.send_event.handle()),
            (self.receive_ring(), self.receive_event.handle()),
        )
    }
}

fn aligned_slot(size: u32) -> u32 {
    // size <= 0xFFFF | bit 31 masked by callers: no overflow.
    (V1_PACKET_HEADER_SIZE + size + (V1_ALIGNMENT - 1)) & !(V1_ALIGNMENT - 1)
}

impl<C: ClientBackend> WintunSession<C> {
    /// `WintunStartSession`: allocates the region and events and registers them on `handle`.
    pub fn start(handle: C, capacity: u32, publish: Publish) -> Result<Self, DeviceError> {
        let layout = Layout::new(&handle, capacity)?;
        let input = layout.registration(handle.bitness()).ok_or(DeviceError::InvalidParameter)?;
        handle.register(&input)?;
        let seed = match publish {
            Publish::Chaos(seed) => seed,
            _ => 1,
        };
        Ok(Self {
            handle: Some(handle),
            send_event: layout.send_event,
            receive_event: layout.receive_event,
            region: layout.region,
            ring_size: layout.ring_size,
            capacity,
            publish,
            send: Mutex::new(SendSide { head: 0, head_release: 0, to_release: 0 }),
            receive: Mutex::new(ReceiveSide {
                tail: 0,
                tail_release: 0,
                to_release: 0,
                rng: Rng::new(seed),
                last: None,
            }),
        })
    }

    /// Ring capacity.
    pub fn capacity(&self) -> u32 {
        self.capacity
    }

    /// Address of the Send ring (the region's start).
    pub fn send_ring_address(&self) -> u64 {
        self.region.as_ptr() as u64
    }

    /// Address of the Receive ring (`region + ring_size`).
    pub fn receive_ring_address(&self) -> u64 {
        self.send_ring_address() + u64::from(self.ring_size)
    }

    fn word(&self, ring: u32, offset: u32) -> &AtomicU32 {
        let at = ring as usize * self.ring_size as usize + offset as usize;
        assert!(at + 4 <= self.region.len() && at.is_multiple_of(4), "word {at:#x} outside the region");
        // SAFETY: in bounds and 4-aligned (asserted; the region is page-aligned); the region lives
        // as long as `self`; every shared word is accessed atomically by both sides.
        unsafe { &*self.region.as_ptr().add(at).cast::<AtomicU32>() }
    }

    fn data_word(&self, ring: u32, slot: u32) -> &AtomicU32 {
        self.word(ring, V1_RING_HEADER_SIZE + slot)
    }

    fn data_ptr(&self, ring: u32, slot: u32, len: u32) -> *mut u8 {
        let at = ring as usize * self.ring_size as usize + (V1_RING_HEADER_SIZE + slot + 4) as usize;
        assert!(at + len as usize <= self.region.len(), "data outside the region");
        // SAFETY: in bounds (asserted).
        unsafe { self.region.as_ptr().add(at) }
    }

    /// Send ring header words: (head, tail, alertable).
    pub fn send_header(&self) -> (u32, u32, u32) {
        (
            self.word(0, 0).load(Ordering::Acquire),
            self.word(0, 4).load(Ordering::Acquire),
            self.word(0, 8).load(Ordering::Acquire),
        )
    }

    /// Receive ring header words: (head, tail, alertable).
    pub fn receive_header(&self) -> (u32, u32, u32) {
        (
            self.word(1, 0).load(Ordering::Acquire),
            self.word(1, 4).load(Ordering::Acquire),
            self.word(1, 8).load(Ordering::Acquire),
        )
    }

    /// `WintunGetReadWaitEvent`: the Send ring's event.
    pub fn wait_readable(&self, timeout: Duration) -> bool {
        self.send_event.wait(Some(timeout))
    }

    /// Sets the Receive ring's event by hand (a scenario checking who clears it).
    pub fn receive_event(&self) -> &C::Event {
        &self.receive_event
    }

    /// `WintunReceivePacket`.
    pub fn receive_packet(&self) -> Result<Received, WintunError> {
        let mut send = self.send.lock().unwrap_or_else(|e| e.into_inner());
        if send.head >= self.capacity {
            return Err(WintunError::HandleEof);
        }
        let tail = self.word(0, 4).load(Ordering::Acquire);
        if tail >= self.capacity {
            return Err(WintunError::HandleEof);
        }
        if send.head == tail {
            return Err(WintunError::NoMoreItems);
        }
        let content = tail.wrapping_sub(send.head) & (self.capacity - 1);
        if content < V1_PACKET_HEADER_SIZE {
            return Err(WintunError::InvalidData);
        }
        let size = self.data_word(0, send.head).load(Ordering::Relaxed);
        if size > MAX_IP_PACKET_SIZE {
            return Err(WintunError::InvalidData);
        }
        let slot = aligned_slot(size);
        if slot > content {
            return Err(WintunError::InvalidData);
        }
        let packet = Received { offset: send.head, size };
        send.head = (send.head + slot) & (self.capacity - 1);
        send.to_release += 1;
        Ok(packet)
    }

    /// The bytes of a received packet.
    pub fn received_bytes(&self, packet: &Received) -> Vec<u8> {
        let mut out = vec![0u8; packet.size as usize];
        let src = self.data_ptr(0, packet.offset, packet.size);
        // SAFETY: `src` covers `size` bytes of a slot the client owns until release (the driver
        // does not write between head and tail); `out` is a distinct buffer.
        unsafe { std::ptr::copy_nonoverlapping(src, out.as_mut_ptr(), out.len()) };
        out
    }

    /// `WintunReleaseReceivePacket`: in any order.
    pub fn release_receive_packet(&self, packet: Received) {
        let mut send = self.send.lock().unwrap_or_else(|e| e.into_inner());
        self.data_word(0, packet.offset).fetch_or(CLIENT_OWNED_BIT, Ordering::Relaxed);
        while send.to_release > 0 {
            let size = self.data_word(0, send.head_release).load(Ordering::Relaxed);
            if size & CLIENT_OWNED_BIT == 0 {
                break;
            }
            send.head_release = (send.head_release + aligned_slot(size & !CLIENT_OWNED_BIT)) & (self.capacity - 1);
            send.to_release -= 1;
        }
        self.word(0, 0).store(send.head_release, Ordering::Release);
    }

    /// `WintunAllocateSendPacket`.
    pub fn allocate_send_packet(&self, size: u32) -> Result<Allocated, WintunError> {
        assert!(size <= MAX_IP_PACKET_SIZE, "Wintun's client refuses larger packets itself");
        let mut receive = self.receive.lock().unwrap_or_else(|e| e.into_inner());
        if receive.tail >= self.capacity {
            return Err(WintunError::HandleEof);
        }
        let slot = aligned_slot(size);
        let head = self.word(1, 0).load(Ordering::Acquire);
        if head >= self.capacity {
            return Err(WintunError::HandleEof);
        }
        let space = head.wrapping_sub(receive.tail).wrapping_sub(V1_ALIGNMENT) & (self.capacity - 1);
        if slot > space {
            return Err(WintunError::BufferOverflow);
        }
        let offset = receive.tail;
        self.data_word(1, offset).store(size | CLIENT_OWNED_BIT, Ordering::Relaxed);
        receive.tail = (receive.tail + slot) & (self.capacity - 1);
        receive.to_release += 1;
        Ok(Allocated { offset, size })
    }

    /// Writes `bytes` into an allocated slot.
    pub fn fill(&self, slot: &Allocated, bytes: &[u8]) {
        assert_eq!(bytes.len(), slot.size as usize);
        let dst = self.data_ptr(1, slot.offset, slot.size);
        // SAFETY: `dst` covers the slot's `size` bytes, owned by the client until sent.
        unsafe { std::ptr::copy_nonoverlapping(bytes.as_ptr(), dst, bytes.len()) };
    }

    /// `WintunSendPacket`: in any order.
    pub fn send_packet(&self, slot: Allocated) {
        let mut receive = self.receive.lock().unwrap_or_else(|e| e.into_inner());
        self.data_word(1, slot.offset).fetch_and(!CLIENT_OWNED_BIT, Ordering::Relaxed);
        while receive.to_release > 0 {
            let size = self.data_word(1, receive.tail_release).load(Ordering::Relaxed);
            if size & CLIENT_OWNED_BIT != 0 {
                break;
            }
            receive.tail_release = (receive.tail_release + aligned_slot(size)) & (self.capacity - 1);
            receive.to_release -= 1;
        }
        let tail = self.word(1, 4);
        if tail.load(Ordering::Relaxed) != receive.tail_release {
            let mode = match self.publish {
                Publish::Chaos(_) => match receive.rng.range(0, 3) {
                    0 => Publish::Fenced,
                    1 => Publish::NoFence,
                    _ => Publish::Chaos(0),
                },
                mode => mode,
            };
            tail.store(receive.tail_release, Ordering::Release);
            receive.last = match mode {
                Publish::Chaos(_) => None,
                mode => Some(mode),
            };
            match mode {
                Publish::Fenced => {
                    fence(Ordering::SeqCst);
                    if self.word(1, 8).load(Ordering::Relaxed) != 0 {
                        self.receive_event.set();
                    }
                }
                Publish::NoFence => {
                    if self.word(1, 8).load(Ordering::Acquire) != 0 {
                        self.receive_event.set();
                    }
                }
                // The signal is skipped altogether.
                Publish::Chaos(_) => {}
            }
        }
    }

    /// How the last publish of the Receive ring's `tail` was made: fenced, unfenced, or (`None`)
    /// without a signal.
    pub fn last_publish(&self) -> Option<Publish> {
        self.receive.lock().unwrap_or_else(|e| e.into_inner()).last
    }

    /// Allocates, fills and sends one packet; `Err` as allocation reports it.
    pub fn send_bytes(&self, bytes: &[u8]) -> Result<(), WintunError> {
        let slot = self.allocate_send_packet(bytes.len() as u32)?;
        self.fill(&slot, bytes);
        self.send_packet(slot);
        Ok(())
    }

    /// Receives one packet, waiting on the read event up to `timeout` in total; copies and
    /// releases it.
    pub fn receive_wait(&self, timeout: Duration) -> Result<Vec<u8>, WintunError> {
        let deadline = std::time::Instant::now() + timeout;
        loop {
            match self.receive_packet() {
                Ok(p) => {
                    let bytes = self.received_bytes(&p);
                    self.release_receive_packet(p);
                    return Ok(bytes);
                }
                Err(WintunError::NoMoreItems) => {
                    let left = deadline.saturating_duration_since(std::time::Instant::now());
                    if left.is_zero() {
                        return Err(WintunError::NoMoreItems);
                    }
                    self.wait_readable(left);
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// `WintunEndSession` up to freeing the memory: closes the device handle (the driver ends
    /// the session); the region stays readable so that a scenario can look at the rings.
    pub fn close_handle(&mut self) {
        drop(self.handle.take());
    }

    /// The device handle (for a second registration attempt on it), while open.
    pub fn handle(&self) -> Option<&C> {
        self.handle.as_ref()
    }

    /// Whether `RING_STOPPED` marks both rings (the driver ended the session).
    pub fn stopped(&self) -> bool {
        self.send_header().1 == RING_STOPPED && self.receive_header().0 == RING_STOPPED
    }
}
