//! The adapter's answers to NDIS object-identifier (OID) requests.
//!
//! What a virtual L3 adapter reports (sizes, vendor identity, counters, which settings it accepts)
//! is decided here, portably, so that it is tested on the host. The kernel shell only moves bytes
//! between an `NDIS_OID_REQUEST` and these functions, and serializes the two structured answers
//! ([`OidValue::Statistics`], [`OidValue::InterruptModerationNotSupported`]) into their NDIS
//! structures.
//!
//! OID numbers are those of `ntddndis.h`; the Windows-target check compiles each against
//! MinGW-w64's `ntddndis.h` (and the WDK's, where available).

use core::sync::atomic::{AtomicU32, Ordering};

use ring_abi::{DRIVER_VERSION, MAX_IP_PACKET_SIZE, MAX_RING_CAPACITY};

use crate::engine::offload::{OffloadParameters, TaskOffloads};
use crate::engine::session::Adapter;
use crate::engine::stats::StatsSnapshot;
use crate::platform::Platform;

/// `OID_GEN_MAXIMUM_LOOKAHEAD`.
pub const OID_GEN_MAXIMUM_LOOKAHEAD: u32 = 0x0001_0105;
/// `OID_GEN_MAXIMUM_FRAME_SIZE`.
pub const OID_GEN_MAXIMUM_FRAME_SIZE: u32 = 0x0001_0106;
/// `OID_GEN_TRANSMIT_BUFFER_SPACE`.
pub const OID_GEN_TRANSMIT_BUFFER_SPACE: u32 = 0x0001_0108;
/// `OID_GEN_RECEIVE_BUFFER_SPACE`.
pub const OID_GEN_RECEIVE_BUFFER_SPACE: u32 = 0x0001_0109;
/// `OID_GEN_TRANSMIT_BLOCK_SIZE`.
pub const OID_GEN_TRANSMIT_BLOCK_SIZE: u32 = 0x0001_010A;
/// `OID_GEN_RECEIVE_BLOCK_SIZE`.
pub const OID_GEN_RECEIVE_BLOCK_SIZE: u32 = 0x0001_010B;
/// `OID_GEN_VENDOR_ID`.
pub const OID_GEN_VENDOR_ID: u32 = 0x0001_010C;
/// `OID_GEN_VENDOR_DESCRIPTION`.
pub const OID_GEN_VENDOR_DESCRIPTION: u32 = 0x0001_010D;
/// `OID_GEN_CURRENT_PACKET_FILTER`.
pub const OID_GEN_CURRENT_PACKET_FILTER: u32 = 0x0001_010E;
/// `OID_GEN_CURRENT_LOOKAHEAD`.
pub const OID_GEN_CURRENT_LOOKAHEAD: u32 = 0x0001_010F;
/// `OID_GEN_MAXIMUM_TOTAL_SIZE`.
pub const OID_GEN_MAXIMUM_TOTAL_SIZE: u32 = 0x0001_0111;
/// `OID_GEN_VENDOR_DRIVER_VERSION`.
pub const OID_GEN_VENDOR_DRIVER_VERSION: u32 = 0x0001_0116;
/// `OID_GEN_LINK_PARAMETERS`.
pub const OID_GEN_LINK_PARAMETERS: u32 = 0x0001_0208;
/// `OID_GEN_INTERRUPT_MODERATION`.
pub const OID_GEN_INTERRUPT_MODERATION: u32 = 0x0001_0209;
/// `OID_GEN_XMIT_OK`.
pub const OID_GEN_XMIT_OK: u32 = 0x0002_0101;
/// `OID_GEN_RCV_OK`.
pub const OID_GEN_RCV_OK: u32 = 0x0002_0102;
/// `OID_GEN_STATISTICS`.
pub const OID_GEN_STATISTICS: u32 = 0x0002_0106;
/// `OID_PNP_SET_POWER`.
pub const OID_PNP_SET_POWER: u32 = 0xFD01_0101;
/// `OID_PNP_QUERY_POWER`.
pub const OID_PNP_QUERY_POWER: u32 = 0xFD01_0102;
/// `OID_TCP_OFFLOAD_PARAMETERS` (set only): the stack turns task offloads on and off with an
/// `NDIS_OFFLOAD_PARAMETERS` ([`OffloadParameters::parse`], then
/// [`Adapter::set_offload_parameters`]); the shell then reports the offloads on to the stack
/// (`NDIS_STATUS_TASK_OFFLOAD_CURRENT_CONFIG`).
pub const OID_TCP_OFFLOAD_PARAMETERS: u32 = 0xFC01_020C;
/// `OID_OFFLOAD_ENCAPSULATION` (set): the encapsulation the stack uses for offloaded packets.
pub const OID_OFFLOAD_ENCAPSULATION: u32 = 0x0101_010A;
/// Size of `NDIS_OFFLOAD_ENCAPSULATION` (ntddndis.h: the object header and two groups of three
/// ULONGs).
pub const OFFLOAD_ENCAPSULATION_SIZE: u32 = 28;

/// Every OID the adapter answers, for the general attributes' supported-OID list.
pub const SUPPORTED_OIDS: [u32; 23] = [
    OID_GEN_MAXIMUM_LOOKAHEAD,
    OID_GEN_MAXIMUM_FRAME_SIZE,
    OID_GEN_TRANSMIT_BUFFER_SPACE,
    OID_GEN_RECEIVE_BUFFER_SPACE,
    OID_GEN_TRANSMIT_BLOCK_SIZE,
    OID_GEN_RECEIVE_BLOCK_SIZE,
    OID_GEN_VENDOR_ID,
    OID_GEN_VENDOR_DESCRIPTION,
    OID_GEN_CURRENT_PACKET_FILTER,
    OID_GEN_CURRENT_LOOKAHEAD,
    OID_GEN_MAXIMUM_TOTAL_SIZE,
    OID_GEN_VENDOR_DRIVER_VERSION,
    OID_GEN_LINK_PARAMETERS,
    OID_GEN_INTERRUPT_MODERATION,
    OID_GEN_XMIT_OK,
    OID_GEN_RCV_OK,
    OID_GEN_STATISTICS,
    OID_PNP_SET_POWER,
    OID_PNP_QUERY_POWER,
    OID_TCP_OFFLOAD_PARAMETERS,
    OID_OFFLOAD_ENCAPSULATION,
    // Answered by NDIS for the miniport from its general attributes; listed so that the list
    // describes the adapter completely.
    0x0001_0101, // OID_GEN_SUPPORTED_LIST
    0x0001_0114, // OID_GEN_MEDIA_CONNECT_STATUS
];

/// `NDIS_PACKET_TYPE_DIRECTED | MULTICAST | ALL_MULTICAST | BROADCAST | PROMISCUOUS | ALL_LOCAL`:
/// an L3 adapter has no frames to filter, so it accepts every filter the stack may set.
pub const SUPPORTED_PACKET_FILTERS: u32 = 0x01 | 0x02 | 0x04 | 0x08 | 0x20 | 0x80;

/// `OID_GEN_VENDOR_ID`: no IEEE OUI is registered for ringtun (`0xFFFFFF`), NIC id 0.
pub const VENDOR_ID: u32 = 0x00FF_FFFF;
/// `OID_GEN_VENDOR_DESCRIPTION`: a NUL-terminated ASCII string.
pub const VENDOR_DESCRIPTION: &[u8] = b"ringtun virtual adapter\0";
/// Link speed the adapter reports in both directions (bits per second): 100 Gbit/s.
pub const LINK_SPEED_BPS: u64 = 100_000_000_000;
/// MTU the adapter reports: the largest IP packet the rings carry.
pub const MTU: u32 = MAX_IP_PACKET_SIZE;

/// `OID_GEN_VENDOR_DRIVER_VERSION`: major version in the high 16 bits, minor in the low 16.
pub const fn vendor_driver_version() -> u32 {
    ((DRIVER_VERSION >> 16) << 16) | ((DRIVER_VERSION >> 8) & 0xFF)
}

/// The answer to a query.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OidValue {
    /// A `ULONG`.
    U32(u32),
    /// A `ULONG64` counter (NDIS lets a caller with a 4-byte buffer read the low 32 bits).
    U64(u64),
    /// Raw bytes (a string).
    Bytes(&'static [u8]),
    /// The interface counters, for `NDIS_STATISTICS_INFO`.
    Statistics(InterfaceStatistics),
    /// `NDIS_INTERRUPT_MODERATION_PARAMETERS` with `NdisInterruptModerationNotSupported`.
    InterruptModerationNotSupported,
    /// Success with no data (`OID_PNP_QUERY_POWER`).
    Empty,
}

/// Why a request failed; each maps to one NDIS status in the shell.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OidError {
    /// Not an OID this adapter handles (`NDIS_STATUS_NOT_SUPPORTED`).
    NotSupported,
    /// The buffer is too short; `needed` bytes are required (`NDIS_STATUS_BUFFER_TOO_SHORT` for
    /// queries, `NDIS_STATUS_INVALID_LENGTH` for sets).
    BufferTooShort {
        /// Bytes needed.
        needed: u32,
    },
    /// The value set is not acceptable (`NDIS_STATUS_INVALID_DATA`).
    InvalidData,
}

/// The interface counters as the stack's `NDIS_STATISTICS_INFO` wants them. "In" is what the
/// adapter received (the client's Receive ring, towards the stack); "out" is what the stack sent
/// (towards the client's Send ring).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct InterfaceStatistics {
    /// Packets indicated to the stack.
    pub in_packets: u64,
    /// Their bytes.
    pub in_octets: u64,
    /// Well-formed packets from the client that were dropped (not IP, no resources, bad split).
    pub in_discards: u64,
    /// Receive rings stopped for corruption.
    pub in_errors: u64,
    /// Packets published on the Send ring.
    pub out_packets: u64,
    /// Their bytes.
    pub out_octets: u64,
    /// Packets from the stack that were dropped (ring full, no session, paused).
    pub out_discards: u64,
    /// Packets from the stack that were malformed or hit a corrupt Send ring.
    pub out_errors: u64,
}

impl InterfaceStatistics {
    /// Maps the engine's counters to interface statistics.
    pub fn from_counters(s: &StatsSnapshot) -> Self {
        Self {
            in_packets: s.receive_packets,
            in_octets: s.receive_bytes,
            in_discards: s
                .receive_dropped_not_ip
                .saturating_add(s.receive_dropped_no_resources)
                .saturating_add(s.receive_dropped_split),
            in_errors: s.receive_ring_faults,
            out_packets: s.send_packets,
            out_octets: s.send_bytes,
            out_discards: s.send_dropped_ring_full.saturating_add(s.send_dropped_not_running),
            out_errors: s.send_dropped_invalid.saturating_add(s.send_dropped_ring_fault),
        }
    }
}

/// Settings the stack may change through set requests.
#[derive(Debug)]
pub(crate) struct OidSettings {
    packet_filter: AtomicU32,
    lookahead: AtomicU32,
    /// The task offloads on now ([`TaskOffloads`] bits).
    pub(crate) task_offloads: AtomicU32,
    /// The task offloads the shell offers its stack ([`TaskOffloads`] bits): the most that can be on.
    offered: AtomicU32,
}

impl Default for OidSettings {
    fn default() -> Self {
        Self {
            packet_filter: AtomicU32::new(0),
            lookahead: AtomicU32::new(MAX_IP_PACKET_SIZE),
            task_offloads: AtomicU32::new(TaskOffloads::ALL.bits()),
            offered: AtomicU32::new(TaskOffloads::ALL.bits()),
        }
    }
}

impl<P: Platform> Adapter<P> {
    /// Answers a query request for `oid`.
    pub fn query_oid(&self, oid: u32) -> Result<OidValue, OidError> {
        let settings = &self.inner.oid_settings;
        let value = match oid {
            OID_GEN_MAXIMUM_LOOKAHEAD
            | OID_GEN_MAXIMUM_FRAME_SIZE
            | OID_GEN_MAXIMUM_TOTAL_SIZE
            | OID_GEN_TRANSMIT_BLOCK_SIZE
            | OID_GEN_RECEIVE_BLOCK_SIZE => OidValue::U32(MAX_IP_PACKET_SIZE),
            OID_GEN_CURRENT_LOOKAHEAD => OidValue::U32(settings.lookahead.load(Ordering::Relaxed)),
            OID_GEN_TRANSMIT_BUFFER_SPACE | OID_GEN_RECEIVE_BUFFER_SPACE => OidValue::U32(MAX_RING_CAPACITY),
            OID_GEN_VENDOR_ID => OidValue::U32(VENDOR_ID),
            OID_GEN_VENDOR_DESCRIPTION => OidValue::Bytes(VENDOR_DESCRIPTION),
            OID_GEN_VENDOR_DRIVER_VERSION => OidValue::U32(vendor_driver_version()),
            OID_GEN_CURRENT_PACKET_FILTER => OidValue::U32(settings.packet_filter.load(Ordering::Relaxed)),
            OID_GEN_XMIT_OK => OidValue::U64(self.stats().send_packets),
            OID_GEN_RCV_OK => OidValue::U64(self.stats().receive_packets),
            OID_GEN_STATISTICS => OidValue::Statistics(InterfaceStatistics::from_counters(&self.stats())),
            OID_GEN_INTERRUPT_MODERATION => OidValue::InterruptModerationNotSupported,
            OID_PNP_QUERY_POWER => OidValue::Empty,
            _ => return Err(OidError::NotSupported),
        };
        Ok(value)
    }

    /// Applies a set request for `oid` with the caller's `input`; returns the bytes read.
    pub fn set_oid(&self, oid: u32, input: &[u8]) -> Result<u32, OidError> {
        let settings = &self.inner.oid_settings;
        match oid {
            OID_GEN_CURRENT_PACKET_FILTER => {
                let filter = read_u32(input)?;
                if filter & !SUPPORTED_PACKET_FILTERS != 0 {
                    return Err(OidError::NotSupported);
                }
                settings.packet_filter.store(filter, Ordering::Relaxed);
                Ok(4)
            }
            OID_GEN_CURRENT_LOOKAHEAD => {
                let lookahead = read_u32(input)?;
                if lookahead > MAX_IP_PACKET_SIZE {
                    return Err(OidError::InvalidData);
                }
                settings.lookahead.store(lookahead, Ordering::Relaxed);
                Ok(4)
            }
            // The link is virtual: speed, duplex and pause settings change nothing. Accepting them
            // keeps configuration tools from reporting an error.
            OID_GEN_LINK_PARAMETERS => Ok(u32::try_from(input.len()).unwrap_or(u32::MAX)),
            // Power: nothing to do for a virtual adapter; the session survives sleep
            // (registration attribute NO_HALT_ON_SUSPEND).
            OID_PNP_SET_POWER => read_u32(input).map(|_| 4),
            OID_GEN_INTERRUPT_MODERATION => Err(OidError::InvalidData),
            OID_TCP_OFFLOAD_PARAMETERS => {
                let (parameters, read) = OffloadParameters::parse(input)?;
                self.set_offload_parameters(&parameters)?;
                Ok(read)
            }
            // Offloaded packets carry IP headers only; whatever framing the stack announces
            // changes nothing for an IP adapter.
            OID_OFFLOAD_ENCAPSULATION => {
                if input.len() < OFFLOAD_ENCAPSULATION_SIZE as usize {
                    return Err(OidError::BufferTooShort { needed: OFFLOAD_ENCAPSULATION_SIZE });
                }
                Ok(OFFLOAD_ENCAPSULATION_SIZE)
            }
            _ => Err(OidError::NotSupported),
        }
    }

    /// The task offloads on now.
    pub fn task_offloads(&self) -> TaskOffloads {
        TaskOffloads::from_bits(self.inner.oid_settings.task_offloads.load(Ordering::SeqCst))
    }

    /// The task offloads the shell offers its stack ([`TaskOffloads::ALL`] unless
    /// [`Self::offer_task_offloads`] said less).
    pub fn offered_task_offloads(&self) -> TaskOffloads {
        TaskOffloads::from_bits(self.inner.oid_settings.offered.load(Ordering::SeqCst))
    }

    /// Sets what the shell offers its stack (NDIS: the offload attributes of the adapter, which
    /// depend on the NDIS version it registered with: USO needs 6.83), all of it on. Called once,
    /// before the stack can send or switch offloads.
    pub fn offer_task_offloads(&self, offered: TaskOffloads) {
        let settings = &self.inner.oid_settings;
        settings.offered.store(offered.bits(), Ordering::SeqCst);
        settings.task_offloads.store(offered.bits(), Ordering::SeqCst);
    }

    /// Applies an `OID_TCP_OFFLOAD_PARAMETERS` request ([`TaskOffloads::apply`]); returns the
    /// offloads on afterwards, which the shell reports to the stack when they changed. Turning on
    /// an offload that is not offered refuses the request ([`OidError::InvalidData`]). From
    /// the moment this returns, the Send path drops any packet that asks for an offload now off
    /// (NDIS: a miniport that completed a request turning LSO off drops every NBL with LSO
    /// information), and the Receive path uses only the receive offloads still on.
    pub fn set_offload_parameters(&self, parameters: &OffloadParameters) -> Result<TaskOffloads, OidError> {
        let cell = &self.inner.oid_settings.task_offloads;
        let mut current = cell.load(Ordering::SeqCst);
        loop {
            let next = TaskOffloads::from_bits(current).apply(parameters)?;
            // Turning on an offload the adapter does not offer is refused like an unknown value.
            if !self.offered_task_offloads().contains(next) {
                return Err(OidError::InvalidData);
            }
            match cell.compare_exchange(current, next.bits(), Ordering::SeqCst, Ordering::SeqCst) {
                Ok(_) => return Ok(next),
                Err(seen) => current = seen,
            }
        }
    }
}

fn read_u32(input: &[u8]) -> Result<u32, OidError> {
    let bytes: [u8; 4] =
        input.get(..4).and_then(|b| b.try_into().ok()).ok_or(OidError::BufferTooShort { needed: 4 })?;
    Ok(u32::from_ne_bytes(bytes))
}

/// Writes a scalar or byte-string answer into `out`; returns `(bytes written, bytes needed)`.
///
/// NDIS rule for 64-bit counters: a caller with a 4-byte buffer gets the low 32 bits and is told
/// 8 bytes are needed; a shorter buffer gets nothing and is told 8 (as Wintun answers). Structured answers ([`OidValue::Statistics`],
/// [`OidValue::InterruptModerationNotSupported`]) are serialized by the shell and yield
/// [`OidError::NotSupported`] here.
pub fn encode_oid_value(value: &OidValue, out: &mut [u8]) -> Result<(u32, u32), OidError> {
    fn put(out: &mut [u8], bytes: &[u8]) -> Result<(u32, u32), OidError> {
        let len = u32::try_from(bytes.len()).map_err(|_| OidError::NotSupported)?;
        let dst = out.get_mut(..bytes.len()).ok_or(OidError::BufferTooShort { needed: len })?;
        dst.copy_from_slice(bytes);
        Ok((len, len))
    }
    match value {
        OidValue::U32(v) => put(out, &v.to_ne_bytes()),
        OidValue::U64(v) => {
            if out.len() >= 8 {
                put(out, &v.to_ne_bytes())
            } else {
                // Truncation is the documented behaviour for a 4-byte buffer; a shorter one is
                // told the full answer's size.
                #[allow(clippy::cast_possible_truncation)]
                let low = *v as u32;
                put(out, &low.to_ne_bytes())
                    .map(|(written, _)| (written, 8))
                    .map_err(|_| OidError::BufferTooShort { needed: 8 })
            }
        }
        OidValue::Bytes(bytes) => put(out, bytes),
        OidValue::Empty => Ok((0, 0)),
        OidValue::Statistics(_) | OidValue::InterruptModerationNotSupported => Err(OidError::NotSupported),
    }
}

#[cfg(all(test, feature = "host"))]
mod tests {
    use super::*;
    use crate::host::HostDriver;

    fn adapter() -> std::sync::Arc<HostDriver> {
        HostDriver::new()
    }

    #[test]
    fn sizes_and_identity() {
        let driver = adapter();
        let a = driver.adapter();
        assert_eq!(a.query_oid(OID_GEN_MAXIMUM_TOTAL_SIZE), Ok(OidValue::U32(0xFFFF)));
        assert_eq!(a.query_oid(OID_GEN_MAXIMUM_FRAME_SIZE), Ok(OidValue::U32(0xFFFF)));
        assert_eq!(a.query_oid(OID_GEN_TRANSMIT_BUFFER_SPACE), Ok(OidValue::U32(0x400_0000)));
        assert_eq!(a.query_oid(OID_GEN_VENDOR_ID), Ok(OidValue::U32(0xFF_FFFF)));
        assert_eq!(a.query_oid(OID_GEN_VENDOR_DESCRIPTION), Ok(OidValue::Bytes(b"ringtun virtual adapter\0")));
        assert_eq!(a.query_oid(OID_GEN_VENDOR_DRIVER_VERSION), Ok(OidValue::U32(0x0000_0001)));
        assert_eq!(a.query_oid(OID_PNP_QUERY_POWER), Ok(OidValue::Empty));
        assert_eq!(a.query_oid(OID_GEN_INTERRUPT_MODERATION), Ok(OidValue::InterruptModerationNotSupported));
        assert_eq!(a.query_oid(0x0101_0101), Err(OidError::NotSupported));
    }

    #[test]
    fn packet_filter_and_lookahead_round_trip() {
        let driver = adapter();
        let a = driver.adapter();
        assert_eq!(a.query_oid(OID_GEN_CURRENT_PACKET_FILTER), Ok(OidValue::U32(0)));
        assert_eq!(a.set_oid(OID_GEN_CURRENT_PACKET_FILTER, &0x0Bu32.to_ne_bytes()), Ok(4));
        assert_eq!(a.query_oid(OID_GEN_CURRENT_PACKET_FILTER), Ok(OidValue::U32(0x0B)));
        // A filter bit outside the supported set (source routing, 0x10) is refused and not stored.
        assert_eq!(a.set_oid(OID_GEN_CURRENT_PACKET_FILTER, &0x10u32.to_ne_bytes()), Err(OidError::NotSupported));
        assert_eq!(a.query_oid(OID_GEN_CURRENT_PACKET_FILTER), Ok(OidValue::U32(0x0B)));
        assert_eq!(a.set_oid(OID_GEN_CURRENT_PACKET_FILTER, &[1, 0]), Err(OidError::BufferTooShort { needed: 4 }));

        assert_eq!(a.set_oid(OID_GEN_CURRENT_LOOKAHEAD, &1500u32.to_ne_bytes()), Ok(4));
        assert_eq!(a.query_oid(OID_GEN_CURRENT_LOOKAHEAD), Ok(OidValue::U32(1500)));
        assert_eq!(a.set_oid(OID_GEN_CURRENT_LOOKAHEAD, &0x1_0000u32.to_ne_bytes()), Err(OidError::InvalidData));
        assert_eq!(a.query_oid(OID_GEN_CURRENT_LOOKAHEAD), Ok(OidValue::U32(1500)));

        assert_eq!(a.set_oid(OID_GEN_INTERRUPT_MODERATION, &[0; 12]), Err(OidError::InvalidData));
        assert_eq!(a.set_oid(OID_GEN_LINK_PARAMETERS, &[0; 32]), Ok(32));
        assert_eq!(a.set_oid(OID_PNP_SET_POWER, &1u32.to_ne_bytes()), Ok(4));
        assert_eq!(a.set_oid(0x0001_0110, &[0; 4]), Err(OidError::NotSupported));
    }

    #[test]
    fn counters_follow_the_engine() {
        let s = StatsSnapshot {
            receive_packets: 7,
            receive_bytes: 700,
            receive_dropped_not_ip: 1,
            receive_dropped_no_resources: 2,
            receive_dropped_split: 3,
            receive_ring_faults: 1,
            send_packets: 9,
            send_bytes: 900,
            send_dropped_ring_full: 4,
            send_dropped_not_running: 5,
            send_dropped_invalid: 6,
            send_dropped_ring_fault: u64::MAX,
            ..StatsSnapshot::default()
        };
        let i = InterfaceStatistics::from_counters(&s);
        assert_eq!(
            i,
            InterfaceStatistics {
                in_packets: 7,
                in_octets: 700,
                in_discards: 6,
                in_errors: 1,
                out_packets: 9,
                out_octets: 900,
                out_discards: 9,
                out_errors: u64::MAX,
            }
        );
        let driver = adapter();
        assert_eq!(driver.adapter().query_oid(OID_GEN_XMIT_OK), Ok(OidValue::U64(0)));
    }

    #[test]
    fn encoding_respects_buffer_sizes() {
        let mut buf = [0xAAu8; 8];
        assert_eq!(encode_oid_value(&OidValue::U32(0x0102_0304), &mut buf[..4]), Ok((4, 4)));
        assert_eq!(buf[..4], 0x0102_0304u32.to_ne_bytes());
        assert_eq!(encode_oid_value(&OidValue::U32(1), &mut buf[..3]), Err(OidError::BufferTooShort { needed: 4 }));
        let big = 0x1122_3344_5566_7788u64;
        assert_eq!(encode_oid_value(&OidValue::U64(big), &mut buf), Ok((8, 8)));
        assert_eq!(buf, big.to_ne_bytes());
        let mut small = [0u8; 4];
        assert_eq!(encode_oid_value(&OidValue::U64(big), &mut small), Ok((4, 8)));
        assert_eq!(small, 0x5566_7788u32.to_ne_bytes());
        assert_eq!(encode_oid_value(&OidValue::U64(big), &mut small[..2]), Err(OidError::BufferTooShort { needed: 8 }));
        let mut text = [0u8; 32];
        let (n, _) = encode_oid_value(&OidValue::Bytes(VENDOR_DESCRIPTION), &mut text).unwrap();
        assert_eq!(&text[..n as usize], VENDOR_DESCRIPTION);
        assert_eq!(
            encode_oid_value(&OidValue::Bytes(VENDOR_DESCRIPTION), &mut text[..5]),
            Err(OidError::BufferTooShort { needed: 24 })
        );
        assert_eq!(encode_oid_value(&OidValue::Empty, &mut []), Ok((0, 0)));
        assert_eq!(
            encode_oid_value(&OidValue::InterruptModerationNotSupported, &mut text),
            Err(OidError::NotSupported)
        );
    }

    #[test]
    fn supported_list_has_no_duplicates() {
        for (i, a) in SUPPORTED_OIDS.iter().enumerate() {
            assert!(!SUPPORTED_OIDS[i + 1..].contains(a), "{a:#x} listed twice");
        }
    }
}
