//! The adapter's answers to NDIS object-identifier (OID) requests.
//!
//! What a virtual L3 adapter reports (sizes, vendor identity, counters, which settings it accepts)
//! is decided here, portably, so that it is tested on the host. The kernel shell only moves bytes
//! between an `NDIS_OID_REQUEST` and these functions, and serializes the structured answers
//! ([`OidValue::Statistics`], [`OidValue::InterruptModerationNotSupported`],
//! [`OidValue::RscStatistics`]) into their NDIS structures.
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
/// `OID_TCP_RSC_STATISTICS` (query; ntddndis.h, NDIS 6.30): the receive segment coalescing
/// counters, which an RSC-capable miniport must answer ([`RscStatistics`]).
pub const OID_TCP_RSC_STATISTICS: u32 = 0x0002_021D;
/// `OID_OFFLOAD_ENCAPSULATION` (set): the encapsulation the stack uses for offloaded packets,
/// per IP version, and whether it uses task offloads of that version at all
/// ([`OffloadEncapsulation::parse`], then [`Adapter::set_offload_encapsulation`]).
pub const OID_OFFLOAD_ENCAPSULATION: u32 = 0x0101_010A;
/// `NDIS_SIZEOF_OFFLOAD_ENCAPSULATION_REVISION_1` (ndis.h: the object header and two groups of
/// three ULONGs, through `IPv6.HeaderSize`).
pub const OFFLOAD_ENCAPSULATION_SIZE: u32 = 28;

/// Where `NDIS_OFFLOAD_ENCAPSULATION` (ndis.h) keeps the fields [`OffloadEncapsulation::parse`]
/// reads: byte offsets, which the Windows shell asserts equal to those of its declaration.
pub mod encapsulation_layout {
    /// The object header's type (`NDIS_OBJECT_TYPE_OFFLOAD_ENCAPSULATION`).
    pub const HEADER_TYPE: usize = 0;
    /// The object header's revision.
    pub const HEADER_REVISION: usize = 1;
    /// The object header's size (u16, little-endian).
    pub const HEADER_SIZE: usize = 2;
    /// `IPv4.Enabled`, then `IPv4.EncapsulationType` (+4), `IPv4.HeaderSize` (+8).
    pub const IPV4: usize = 4;
    /// `IPv6.Enabled`, then `IPv6.EncapsulationType` (+4), `IPv6.HeaderSize` (+8).
    pub const IPV6: usize = 16;
}

/// `NDIS_OBJECT_TYPE_OFFLOAD_ENCAPSULATION` (ntddndis.h).
pub const NDIS_OBJECT_TYPE_OFFLOAD_ENCAPSULATION: u8 = 0xA8;
/// `NDIS_OFFLOAD_SET_NO_CHANGE` (ntddndis.h).
pub const NDIS_OFFLOAD_SET_NO_CHANGE: u32 = 0;
/// `NDIS_OFFLOAD_SET_ON` (ntddndis.h).
pub const NDIS_OFFLOAD_SET_ON: u32 = 1;
/// `NDIS_OFFLOAD_SET_OFF` (ntddndis.h).
pub const NDIS_OFFLOAD_SET_OFF: u32 = 2;
/// `NDIS_ENCAPSULATION_NULL` (ntddndis.h): packets without a link-layer header, as the
/// adapter's are.
pub const NDIS_ENCAPSULATION_NULL: u32 = 0x01;
/// `NDIS_ENCAPSULATION_IEEE_802_3` (ntddndis.h).
pub const NDIS_ENCAPSULATION_IEEE_802_3: u32 = 0x02;
/// `NDIS_ENCAPSULATION_IEEE_802_3_P_AND_Q` (ntddndis.h).
pub const NDIS_ENCAPSULATION_IEEE_802_3_P_AND_Q: u32 = 0x04;
/// `NDIS_ENCAPSULATION_IEEE_802_3_P_AND_Q_IN_OOB` (ntddndis.h).
pub const NDIS_ENCAPSULATION_IEEE_802_3_P_AND_Q_IN_OOB: u32 = 0x08;
/// `NDIS_ENCAPSULATION_IEEE_LLC_SNAP_ROUTED` (ntddndis.h).
pub const NDIS_ENCAPSULATION_IEEE_LLC_SNAP_ROUTED: u32 = 0x10;
/// The encapsulations every `Encapsulation` field of the adapter's `NDIS_OFFLOAD` names, and those
/// an `OID_OFFLOAD_ENCAPSULATION` may turn on. ndis.h's comment on `NDIS_OFFLOAD_ENCAPSULATION`
/// says a protocol turning offloads on sets `NDIS_ENCAPSULATION_IEEE_802_3` or
/// `_IEEE_LLC_SNAP_ROUTED`, whatever the medium; Microsoft's NetAdapterCx translation layer
/// advertises this same set for every medium. The adapter's packets carry no link-layer header
/// under any of them (an IP-medium miniport's NBLs begin at the IP header), so each means the
/// same here.
pub const OFFLOAD_ENCAPSULATIONS: u32 = NDIS_ENCAPSULATION_NULL
    | NDIS_ENCAPSULATION_IEEE_802_3
    | NDIS_ENCAPSULATION_IEEE_802_3_P_AND_Q
    | NDIS_ENCAPSULATION_IEEE_802_3_P_AND_Q_IN_OOB
    | NDIS_ENCAPSULATION_IEEE_LLC_SNAP_ROUTED;

/// Whether the stack uses the task offloads of one IP version (`OID_OFFLOAD_ENCAPSULATION`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EncapsulationState {
    /// No request yet named this version: the adapter does not start receive offloads of it
    /// (sends the stack asks for are served).
    Pending,
    /// Turned on (`NDIS_OFFLOAD_SET_ON` with an encapsulation of [`OFFLOAD_ENCAPSULATIONS`]): the
    /// offloads configured for this version are in use.
    On,
    /// Turned off (`NDIS_OFFLOAD_SET_OFF`): no offload of this version, in either direction.
    Off,
}

impl EncapsulationState {
    const fn bits(self) -> u32 {
        match self {
            Self::Pending => 0,
            Self::On => 1,
            Self::Off => 2,
        }
    }

    const fn from_bits(bits: u32) -> Self {
        match bits & 3 {
            1 => Self::On,
            2 => Self::Off,
            _ => Self::Pending,
        }
    }
}

/// An `OID_OFFLOAD_ENCAPSULATION` request: for each IP version, the state it asks for, or `None`
/// for `NDIS_OFFLOAD_SET_NO_CHANGE`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OffloadEncapsulation {
    /// IPv4.
    pub ipv4: Option<EncapsulationState>,
    /// IPv6.
    pub ipv6: Option<EncapsulationState>,
}

impl OffloadEncapsulation {
    /// Reads an `NDIS_OFFLOAD_ENCAPSULATION` from the request's bytes; returns it with the bytes
    /// read. The buffer must hold revision 1's 28 bytes ([`OidError::BufferTooShort`]); the
    /// object header must say `NDIS_OBJECT_TYPE_OFFLOAD_ENCAPSULATION`, a revision of at least 1
    /// and a size of at least 28 ([`OidError::InvalidData`]). Each version's `Enabled` is
    /// `NDIS_OFFLOAD_SET_NO_CHANGE`, `_ON` or `_OFF`; `_ON` names one or more encapsulations, all
    /// of [`OFFLOAD_ENCAPSULATIONS`] (those the adapter's offloads name); anything else is
    /// [`OidError::InvalidParameter`]. `HeaderSize` is not read: the adapter's packets have no
    /// link-layer header for it to locate.
    pub fn parse(input: &[u8]) -> Result<(Self, u32), OidError> {
        use encapsulation_layout::*;
        let word = |at: usize| -> u32 {
            input.get(at..at.wrapping_add(4)).and_then(|b| b.try_into().ok()).map_or(0, u32::from_le_bytes)
        };
        if input.len() < OFFLOAD_ENCAPSULATION_SIZE as usize {
            return Err(OidError::BufferTooShort { needed: OFFLOAD_ENCAPSULATION_SIZE });
        }
        let header = word(HEADER_TYPE).to_le_bytes();
        let size = u16::from_le_bytes([header[HEADER_SIZE], header[HEADER_SIZE + 1]]);
        if header[HEADER_TYPE] != NDIS_OBJECT_TYPE_OFFLOAD_ENCAPSULATION
            || header[HEADER_REVISION] == 0
            || u32::from(size) < OFFLOAD_ENCAPSULATION_SIZE
        {
            return Err(OidError::InvalidData);
        }
        let version = |at: usize| match (word(at), word(at.wrapping_add(4))) {
            (NDIS_OFFLOAD_SET_NO_CHANGE, _) => Ok(None),
            (NDIS_OFFLOAD_SET_ON, kind) if kind != 0 && kind & !OFFLOAD_ENCAPSULATIONS == 0 => {
                Ok(Some(EncapsulationState::On))
            }
            (NDIS_OFFLOAD_SET_OFF, _) => Ok(Some(EncapsulationState::Off)),
            _ => Err(OidError::InvalidParameter),
        };
        Ok((Self { ipv4: version(IPV4)?, ipv6: version(IPV6)? }, OFFLOAD_ENCAPSULATION_SIZE))
    }
}

/// Whether a completed set of `oid` is followed by the report of the offloads on
/// (`NDIS_STATUS_TASK_OFFLOAD_CURRENT_CONFIG`): NDIS requires it after every
/// `OID_TCP_OFFLOAD_PARAMETERS` and `OID_OFFLOAD_ENCAPSULATION` the miniport completed.
pub const fn reports_task_offloads(oid: u32) -> bool {
    matches!(oid, OID_TCP_OFFLOAD_PARAMETERS | OID_OFFLOAD_ENCAPSULATION)
}

/// Every OID the adapter answers, for the general attributes' supported-OID list.
pub const SUPPORTED_OIDS: [u32; 24] = [
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
    OID_TCP_RSC_STATISTICS,
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
    /// The receive segment coalescing counters, for `NDIS_RSC_STATISTICS_INFO`.
    RscStatistics(RscStatistics),
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
    /// A parameter names something the adapter does not support (`NDIS_STATUS_INVALID_PARAMETER`):
    /// an offload encapsulation outside [`OFFLOAD_ENCAPSULATIONS`].
    InvalidParameter,
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

/// The receive segment coalescing counters as `NDIS_RSC_STATISTICS_INFO` wants them. A coalesced
/// unit is a client's super-packet indicated whole (the engine never merges packets itself).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RscStatistics {
    /// Segments indicated inside coalesced units (`CoalescedPkts`).
    pub coalesced_packets: u64,
    /// Their TCP payload bytes (`CoalescedOctets`).
    pub coalesced_octets: u64,
    /// Coalesced units indicated (`CoalesceEvents`).
    pub coalesce_events: u64,
    /// TCP super-packets cut although the stack took coalesced units of their IP version
    /// (`Aborts`).
    pub aborts: u64,
}

impl RscStatistics {
    /// Maps the engine's counters to RSC statistics.
    pub fn from_counters(s: &StatsSnapshot) -> Self {
        Self {
            coalesced_packets: s.receive_coalesced_segments,
            coalesced_octets: s.receive_coalesced_bytes,
            coalesce_events: s.receive_coalesced,
            aborts: s.receive_coalesce_aborts,
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
    /// [`EncapsulationState`] bits: IPv4 in bits 0-1, IPv6 in bits 2-3.
    encapsulation: AtomicU32,
}

/// Every offload of one IP version (`ipv6` false: IPv4), both directions.
const fn version_offloads(ipv6: bool) -> TaskOffloads {
    if ipv6 {
        TaskOffloads::from_bits(
            TaskOffloads::TCP6_CHECKSUM_TX.bits()
                | TaskOffloads::UDP6_CHECKSUM_TX.bits()
                | TaskOffloads::TCP6_CHECKSUM_RX.bits()
                | TaskOffloads::UDP6_CHECKSUM_RX.bits()
                | TaskOffloads::LSO_V6.bits()
                | TaskOffloads::USO_V6.bits()
                | TaskOffloads::RSC_V6.bits(),
        )
    } else {
        TaskOffloads::from_bits(
            TaskOffloads::IPV4_CHECKSUM_TX.bits()
                | TaskOffloads::TCP4_CHECKSUM_TX.bits()
                | TaskOffloads::UDP4_CHECKSUM_TX.bits()
                | TaskOffloads::IPV4_CHECKSUM_RX.bits()
                | TaskOffloads::TCP4_CHECKSUM_RX.bits()
                | TaskOffloads::UDP4_CHECKSUM_RX.bits()
                | TaskOffloads::LSO_V4.bits()
                | TaskOffloads::USO_V4.bits()
                | TaskOffloads::RSC_V4.bits(),
        )
    }
}

impl OidSettings {
    fn encapsulation(&self, ipv6: bool) -> EncapsulationState {
        EncapsulationState::from_bits(self.encapsulation.load(Ordering::SeqCst) >> if ipv6 { 2 } else { 0 })
    }

    /// `set` without the offloads of each IP version whose state `keep` refuses.
    fn masked(&self, set: TaskOffloads, keep: impl Fn(EncapsulationState) -> bool) -> TaskOffloads {
        let mut bits = set.bits();
        for ipv6 in [false, true] {
            if !keep(self.encapsulation(ipv6)) {
                bits &= !version_offloads(ipv6).bits();
            }
        }
        TaskOffloads::from_bits(bits)
    }

    /// The task offloads on now: those configured, less the IP versions the stack turned off by
    /// `OID_OFFLOAD_ENCAPSULATION`. The Send path serves requests of these.
    pub(crate) fn task_offloads(&self) -> TaskOffloads {
        let configured = TaskOffloads::from_bits(self.task_offloads.load(Ordering::SeqCst));
        self.masked(configured, |state| state != EncapsulationState::Off)
    }

    /// The task offloads the Receive path may use: those on, of the IP versions the stack turned
    /// on by `OID_OFFLOAD_ENCAPSULATION` (a receive offload is the adapter's initiative, which
    /// NDIS allows only once the stack set the encapsulation).
    pub(crate) fn receive_task_offloads(&self) -> TaskOffloads {
        self.masked(self.task_offloads(), |state| state == EncapsulationState::On)
    }
}

impl Default for OidSettings {
    fn default() -> Self {
        Self {
            packet_filter: AtomicU32::new(0),
            lookahead: AtomicU32::new(MAX_IP_PACKET_SIZE),
            task_offloads: AtomicU32::new(TaskOffloads::ALL.bits()),
            offered: AtomicU32::new(TaskOffloads::ALL.bits()),
            // A stack without OID_OFFLOAD_ENCAPSULATION (the host's): in use from the start.
            encapsulation: AtomicU32::new(EncapsulationState::On.bits() | EncapsulationState::On.bits() << 2),
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
            OID_TCP_RSC_STATISTICS => OidValue::RscStatistics(RscStatistics::from_counters(&self.stats())),
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
            OID_OFFLOAD_ENCAPSULATION => {
                // An adapter that offers no offload (its offload attributes were refused) answers
                // as a miniport without offloads must.
                if self.offered_task_offloads() == TaskOffloads::NONE {
                    return Err(OidError::NotSupported);
                }
                let (encapsulation, read) = OffloadEncapsulation::parse(input)?;
                self.set_offload_encapsulation(&encapsulation);
                Ok(read)
            }
            _ => Err(OidError::NotSupported),
        }
    }

    /// The task offloads on now: those configured ([`Self::set_offload_parameters`]) of the IP
    /// versions the stack has not turned off ([`Self::set_offload_encapsulation`]). The shell
    /// reports these to the stack.
    pub fn task_offloads(&self) -> TaskOffloads {
        self.inner.oid_settings.task_offloads()
    }

    /// The task offloads the Receive path uses (besides what the platform's stack takes): those
    /// on, of the IP versions whose encapsulation the stack turned on.
    pub fn receive_task_offloads(&self) -> TaskOffloads {
        self.inner.oid_settings.receive_task_offloads()
    }

    /// Makes the receive offloads wait for the stack's `OID_OFFLOAD_ENCAPSULATION` (NDIS: a
    /// miniport starts no task offload before the encapsulation is set). Called once by a shell
    /// whose stack sends that request, before the adapter carries packets; without it (the host
    /// platform) both IP versions are on from the start.
    pub fn await_offload_encapsulation(&self) {
        self.inner.oid_settings.encapsulation.store(EncapsulationState::Pending.bits(), Ordering::SeqCst);
    }

    /// Applies an `OID_OFFLOAD_ENCAPSULATION` request: each IP version it names is turned on or
    /// off ([`EncapsulationState`]); a version turned off loses every offload in both directions
    /// until turned on again ([`Self::task_offloads`]).
    pub fn set_offload_encapsulation(&self, request: &OffloadEncapsulation) {
        let cell = &self.inner.oid_settings.encapsulation;
        let mut current = cell.load(Ordering::SeqCst);
        loop {
            let mut next = current;
            for (state, shift) in [(request.ipv4, 0u32), (request.ipv6, 2)] {
                if let Some(state) = state {
                    next = (next & !(3 << shift)) | (state.bits() << shift);
                }
            }
            match cell.compare_exchange(current, next, Ordering::SeqCst, Ordering::SeqCst) {
                Ok(_) => return,
                Err(seen) => current = seen,
            }
        }
    }

    /// The task offloads the shell offers its stack ([`TaskOffloads::ALL`] unless
    /// [`Self::offer_task_offloads`] said less).
    pub fn offered_task_offloads(&self) -> TaskOffloads {
        TaskOffloads::from_bits(self.inner.oid_settings.offered.load(Ordering::SeqCst))
    }

    /// Sets what the shell offers its stack (NDIS: the offload attributes of the adapter, which
    /// depend on the NDIS version it registered with: USO needs 6.83) and which of it starts on
    /// (`on`, as the adapter's standardized keywords say: [`crate::engine::keywords`]; whatever
    /// `on` names beyond `offered` stays off). Called once, before the stack can send or switch
    /// offloads; the stack may later turn on what is offered but started off.
    pub fn offer_task_offloads(&self, offered: TaskOffloads, on: TaskOffloads) {
        let settings = &self.inner.oid_settings;
        settings.offered.store(offered.bits(), Ordering::SeqCst);
        settings.task_offloads.store(offered.bits() & on.bits(), Ordering::SeqCst);
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
                Ok(_) => return Ok(self.task_offloads()),
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
/// 8 bytes are needed; a shorter buffer gets nothing and is told 8 (as Wintun answers).
/// Structured answers ([`OidValue::Statistics`], [`OidValue::InterruptModerationNotSupported`],
/// [`OidValue::RscStatistics`]) are serialized by the shell and yield
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
        OidValue::Statistics(_) | OidValue::InterruptModerationNotSupported | OidValue::RscStatistics(_) => {
            Err(OidError::NotSupported)
        }
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
