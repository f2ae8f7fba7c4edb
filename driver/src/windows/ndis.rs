//! The NDIS 6 items the shell uses, declared by hand (wdk-sys has no NDIS bindings).
//!
//! Every declaration is taken from the header text of the WDK 10.0.16299 headers, not from the
//! DDI reference pages (which omit alignment attributes and conditional fields); each item names
//! its header. `ndis.h` declares the kernel structures and most constants; `ntddndis.h` the
//! object header, the enums and structures shared with user mode; `ntstatus.h` the `STATUS_NDIS_*`
//! codes some `NDIS_STATUS_*` codes alias; `ifdef.h` and `ipifcons.h` the interface enums.
//!
//! The shell is built for 64-bit Windows only (x64 and arm64, see `windows/mod.rs`), so one set
//! of layout numbers applies. Layouts are asserted at compile time; the expected numbers are
//! recomputed by a C compiler from the header declarations (`xcheck/layout/check-ndis-layout`,
//! which also checks every constant here against MinGW-w64's headers and, where the WDK headers
//! are at hand, against the WDK's own). Structures NDIS allocates and hands to the driver
//! (`NET_BUFFER_LIST`, `NET_BUFFER`, `NDIS_OID_REQUEST`, `NET_DEVICE_PNP_EVENT`) are declared
//! only up to the last field the shell touches, never created by value, and only reached through
//! NDIS's pointers.
//!
//! NDIS callbacks and exports use the platform calling convention: `extern "system"`.

#![allow(non_camel_case_types, non_snake_case, non_upper_case_globals, clippy::upper_case_acronyms, missing_docs)]

use core::ffi::c_void;
use core::mem::{offset_of, size_of};

use wdk_sys::{NTSTATUS, PDRIVER_OBJECT, PMDL, PUNICODE_STRING, UNICODE_STRING};

pub type NDIS_HANDLE = *mut c_void;
pub type NDIS_STATUS = NTSTATUS;
pub type NDIS_OID = u32;
pub type NDIS_PORT_NUMBER = u32;
pub type NET_IFTYPE = u16;

// ---- status codes (ndis.h) ----
// Some alias an NTSTATUS (`STATUS_SUCCESS`, `STATUS_UNSUCCESSFUL`, `STATUS_INSUFFICIENT_RESOURCES`,
// `STATUS_NOT_SUPPORTED`, `STATUS_NDIS_MEDIA_DISCONNECTED`, `STATUS_NDIS_PAUSED` of ntstatus.h);
// the others keep their legacy `0xC001xxxx`/`0x4001xxxx` values, which differ from the
// `STATUS_NDIS_*` codes of the same name (`0xC023xxxx`): NDIS returns and compares the legacy ones.
pub const NDIS_STATUS_SUCCESS: NDIS_STATUS = 0;
pub const NDIS_STATUS_FAILURE: NDIS_STATUS = 0xC000_0001_u32 as i32;
pub const NDIS_STATUS_RESOURCES: NDIS_STATUS = 0xC000_009A_u32 as i32;
pub const NDIS_STATUS_NOT_SUPPORTED: NDIS_STATUS = 0xC000_00BB_u32 as i32;
pub const NDIS_STATUS_BAD_VERSION: NDIS_STATUS = 0xC001_0004_u32 as i32;
pub const NDIS_STATUS_ADAPTER_NOT_READY: NDIS_STATUS = 0xC001_0011_u32 as i32;
pub const NDIS_STATUS_INVALID_LENGTH: NDIS_STATUS = 0xC001_0014_u32 as i32;
pub const NDIS_STATUS_INVALID_DATA: NDIS_STATUS = 0xC001_0015_u32 as i32;
/// `NDIS_STATUS_INVALID_PARAMETER` (ndis.h): `STATUS_INVALID_PARAMETER`.
pub const NDIS_STATUS_INVALID_PARAMETER: NDIS_STATUS = 0xC000_000D_u32 as i32;
pub const NDIS_STATUS_BUFFER_TOO_SHORT: NDIS_STATUS = 0xC001_0016_u32 as i32;
pub const NDIS_STATUS_INVALID_OID: NDIS_STATUS = 0xC001_0017_u32 as i32;
pub const NDIS_STATUS_MEDIA_DISCONNECTED: NDIS_STATUS = 0xC023_001F_u32 as i32;
pub const NDIS_STATUS_PAUSED: NDIS_STATUS = 0xC023_002A_u32 as i32;
/// `NDIS_STATUS_LINK_STATE`: the status code of a link-state indication.
pub const NDIS_STATUS_LINK_STATE: NDIS_STATUS = 0x4001_0017;

// ---- NDIS_OBJECT_HEADER and object types (ntddndis.h) ----
#[repr(C)]
#[derive(Clone, Copy, Default)]
pub struct NDIS_OBJECT_HEADER {
    pub Type: u8,
    pub Revision: u8,
    pub Size: u16,
}

impl NDIS_OBJECT_HEADER {
    /// The header of a `T` the driver hands to NDIS: its type, revision and full size.
    pub const fn of<T>(object_type: u8, revision: u8) -> Self {
        const { assert!(size_of::<T>() <= u16::MAX as usize) };
        Self { Type: object_type, Revision: revision, Size: size_of::<T>() as u16 }
    }
}

pub const NDIS_OBJECT_TYPE_DEFAULT: u8 = 0x80;
pub const NDIS_OBJECT_TYPE_MINIPORT_DRIVER_CHARACTERISTICS: u8 = 0x8A;
pub const NDIS_OBJECT_TYPE_STATUS_INDICATION: u8 = 0x98;
pub const NDIS_OBJECT_TYPE_MINIPORT_ADAPTER_REGISTRATION_ATTRIBUTES: u8 = 0x9E;
pub const NDIS_OBJECT_TYPE_MINIPORT_ADAPTER_GENERAL_ATTRIBUTES: u8 = 0x9F;

// ---- enums (ntddndis.h, ifdef.h, ndis.h) ----
pub const NdisMediumIP: u32 = 19;
pub const NdisPhysicalMediumUnspecified: u32 = 0;
pub const MediaConnectStateConnected: u32 = 1;
pub const MediaConnectStateDisconnected: u32 = 2;
pub const MediaDuplexStateFull: u32 = 2;
pub const NET_IF_ACCESS_BROADCAST: u32 = 2;
pub const NET_IF_DIRECTION_SENDRECEIVE: u32 = 0;
pub const NET_IF_CONNECTION_DEDICATED: u32 = 1;
pub const NdisPauseFunctionsUnsupported: u32 = 0;
pub const NdisInterruptModerationNotSupported: u32 = 1;
pub const NdisInterfaceInternal: u32 = 0;
pub const NdisRequestQueryInformation: u32 = 0;
pub const NdisRequestSetInformation: u32 = 1;
pub const NdisRequestQueryStatistics: u32 = 2;
pub const NdisDevicePnPEventSurpriseRemoved: u32 = 2;
/// `IF_TYPE_PROP_VIRTUAL` (ipifcons.h).
pub const IF_TYPE_PROP_VIRTUAL: NET_IFTYPE = 53;

// ---- flags (ndis.h; the NDIS_LINK_STATE_* and NDIS_STATISTICS_FLAGS_* bits also in ntddndis.h) ----
pub const NDIS_MINIPORT_ATTRIBUTES_SURPRISE_REMOVE_OK: u32 = 0x0000_0004;
pub const NDIS_MINIPORT_ATTRIBUTES_NO_HALT_ON_SUSPEND: u32 = 0x0000_0020;
pub const NDIS_MAC_OPTION_COPY_LOOKAHEAD_DATA: u32 = 0x0000_0001;
pub const NDIS_MAC_OPTION_TRANSFERS_NOT_PEND: u32 = 0x0000_0004;
pub const NDIS_MAC_OPTION_NO_LOOPBACK: u32 = 0x0000_0008;
pub const NDIS_LINK_STATE_XMIT_LINK_SPEED_AUTO_NEGOTIATED: u32 = 0x0000_0001;
pub const NDIS_LINK_STATE_RCV_LINK_SPEED_AUTO_NEGOTIATED: u32 = 0x0000_0002;
pub const NDIS_LINK_STATE_DUPLEX_AUTO_NEGOTIATED: u32 = 0x0000_0004;
pub const NDIS_LINK_STATE_PAUSE_FUNCTIONS_AUTO_NEGOTIATED: u32 = 0x0000_0008;
/// What the adapter reports as auto-negotiated, in its general attributes and in every link-state
/// indication alike (speed, duplex and pause functions: a virtual link negotiates nothing, and
/// says so consistently).
pub const AUTO_NEGOTIATION_FLAGS: u32 = NDIS_LINK_STATE_XMIT_LINK_SPEED_AUTO_NEGOTIATED
    | NDIS_LINK_STATE_RCV_LINK_SPEED_AUTO_NEGOTIATED
    | NDIS_LINK_STATE_DUPLEX_AUTO_NEGOTIATED
    | NDIS_LINK_STATE_PAUSE_FUNCTIONS_AUTO_NEGOTIATED;
pub const NDIS_NBL_FLAGS_IS_IPV4: u32 = 0x0000_0200;
pub const NDIS_NBL_FLAGS_IS_IPV6: u32 = 0x0000_0400;
pub const NDIS_SEND_FLAGS_DISPATCH_LEVEL: u32 = 0x0000_0001;
pub const NDIS_SEND_COMPLETE_FLAGS_DISPATCH_LEVEL: u32 = 0x0000_0001;
pub const NDIS_DEFAULT_PORT_NUMBER: NDIS_PORT_NUMBER = 0;
/// `NetBufferListFrameType` in `NDIS_NET_BUFFER_LIST_INFO` (ndis.h): the eighth entry (the
/// conditional entries of that enum all come after it, so the index is the same everywhere).
pub const NetBufferListFrameType: usize = 7;
/// `TcpIpChecksumNetBufferListInfo` in `NDIS_NET_BUFFER_LIST_INFO` (ndis.h): the first entry.
pub const TcpIpChecksumNetBufferListInfo: usize = 0;
/// `TcpLargeSendNetBufferListInfo` in `NDIS_NET_BUFFER_LIST_INFO` (ndis.h): the third entry.
pub const TcpLargeSendNetBufferListInfo: usize = 2;
/// `TcpRecvSegCoalesceInfo` in `NDIS_NET_BUFFER_LIST_INFO` (ndis.h, NDIS 6.30+) as x64 and
/// arm64 number it (the three switch entries before it exist on those targets only).
pub const TcpRecvSegCoalesceInfo: usize = 22;
/// `UdpSegmentationOffloadInfo` (nblinfo.h of WDK 10.0.26100, NDIS 6.83): the same entry as
/// `TcpRecvSegCoalesceInfo`, which a sent NBL does not use.
pub const UdpSegmentationOffloadInfo: usize = TcpRecvSegCoalesceInfo;
/// `NDIS_PROTOCOL_ID_DEFAULT`.
pub const NDIS_PROTOCOL_ID_DEFAULT: u8 = 0;
pub const NDIS_STATISTICS_FLAGS_VALID_DIRECTED_FRAMES_RCV: u32 = 0x0000_0001;
pub const NDIS_STATISTICS_FLAGS_VALID_BYTES_RCV: u32 = 0x0000_0008;
pub const NDIS_STATISTICS_FLAGS_VALID_RCV_DISCARDS: u32 = 0x0000_0010;
pub const NDIS_STATISTICS_FLAGS_VALID_RCV_ERROR: u32 = 0x0000_0020;
pub const NDIS_STATISTICS_FLAGS_VALID_DIRECTED_FRAMES_XMIT: u32 = 0x0000_0040;
pub const NDIS_STATISTICS_FLAGS_VALID_BYTES_XMIT: u32 = 0x0000_0200;
pub const NDIS_STATISTICS_FLAGS_VALID_XMIT_ERROR: u32 = 0x0000_0400;
pub const NDIS_STATISTICS_FLAGS_VALID_XMIT_DISCARDS: u32 = 0x0000_8000;
pub const NDIS_STATISTICS_FLAGS_VALID_DIRECTED_BYTES_RCV: u32 = 0x0001_0000;
pub const NDIS_STATISTICS_FLAGS_VALID_DIRECTED_BYTES_XMIT: u32 = 0x0008_0000;
// `NDIS_STATISTICS_*_SUPPORTED` (ndis.h): the family the general attributes' `SupportedStatistics`
// takes (a different set of bits from the `NDIS_STATISTICS_FLAGS_VALID_*` of NDIS_STATISTICS_INFO).
pub const NDIS_STATISTICS_XMIT_OK_SUPPORTED: u32 = 0x0000_0001;
pub const NDIS_STATISTICS_RCV_OK_SUPPORTED: u32 = 0x0000_0002;
pub const NDIS_STATISTICS_XMIT_ERROR_SUPPORTED: u32 = 0x0000_0004;
pub const NDIS_STATISTICS_RCV_ERROR_SUPPORTED: u32 = 0x0000_0008;
pub const NDIS_STATISTICS_DIRECTED_BYTES_XMIT_SUPPORTED: u32 = 0x0000_0020;
pub const NDIS_STATISTICS_DIRECTED_FRAMES_XMIT_SUPPORTED: u32 = 0x0000_0040;
pub const NDIS_STATISTICS_DIRECTED_BYTES_RCV_SUPPORTED: u32 = 0x0000_0800;
pub const NDIS_STATISTICS_DIRECTED_FRAMES_RCV_SUPPORTED: u32 = 0x0000_1000;
pub const NDIS_STATISTICS_BYTES_RCV_SUPPORTED: u32 = 0x0008_0000;
pub const NDIS_STATISTICS_BYTES_XMIT_SUPPORTED: u32 = 0x0010_0000;
pub const NDIS_STATISTICS_RCV_DISCARDS_SUPPORTED: u32 = 0x0020_0000;
pub const NDIS_STATISTICS_GEN_STATISTICS_SUPPORTED: u32 = 0x0040_0000;
pub const NDIS_STATISTICS_XMIT_DISCARDS_SUPPORTED: u32 = 0x0800_0000;

// ---- revisions (ndis.h; NDIS_LINK_STATE, NDIS_STATISTICS_INFO, interrupt moderation and PM
// capabilities also in ntddndis.h) ----
pub const NDIS_MINIPORT_DRIVER_CHARACTERISTICS_REVISION_2: u8 = 2;
pub const NDIS_MINIPORT_DRIVER_CHARACTERISTICS_REVISION_3: u8 = 3;
pub const NDIS_MINIPORT_ADAPTER_REGISTRATION_ATTRIBUTES_REVISION_2: u8 = 2;
pub const NDIS_MINIPORT_ADAPTER_GENERAL_ATTRIBUTES_REVISION_2: u8 = 2;
pub const NET_BUFFER_LIST_POOL_PARAMETERS_REVISION_1: u8 = 1;
pub const NDIS_STATUS_INDICATION_REVISION_1: u8 = 1;
pub const NDIS_LINK_STATE_REVISION_1: u8 = 1;
pub const NDIS_STATISTICS_INFO_REVISION_1: u8 = 1;
pub const NDIS_INTERRUPT_MODERATION_PARAMETERS_REVISION_1: u8 = 1;
/// `NDIS_RSC_STATISTICS_REVISION_1` (ntddndis.h, NDIS 6.30).
pub const NDIS_RSC_STATISTICS_REVISION_1: u8 = 1;
pub const NDIS_PM_CAPABILITIES_REVISION_2: u8 = 2;
/// `NdisDeviceStateUnspecified` (`NDIS_DEVICE_POWER_STATE`): no wake-up from any state.
pub const NdisDeviceStateUnspecified: u32 = 0;

// ---- miniport handler types (ndis.h: MINIPORT_*, SET_OPTIONS) ----
pub type SET_OPTIONS_HANDLER = Option<unsafe extern "system" fn(NDIS_HANDLE, NDIS_HANDLE) -> NDIS_STATUS>;
pub type MINIPORT_INITIALIZE_HANDLER =
    Option<unsafe extern "system" fn(NDIS_HANDLE, NDIS_HANDLE, *mut c_void) -> NDIS_STATUS>;
pub type MINIPORT_HALT_HANDLER = Option<unsafe extern "system" fn(NDIS_HANDLE, u32)>;
pub type MINIPORT_DRIVER_UNLOAD = Option<unsafe extern "system" fn(PDRIVER_OBJECT)>;
pub type MINIPORT_PAUSE_HANDLER = Option<unsafe extern "system" fn(NDIS_HANDLE, *mut c_void) -> NDIS_STATUS>;
pub type MINIPORT_RESTART_HANDLER = Option<unsafe extern "system" fn(NDIS_HANDLE, *mut c_void) -> NDIS_STATUS>;
pub type MINIPORT_OID_REQUEST_HANDLER =
    Option<unsafe extern "system" fn(NDIS_HANDLE, *mut NDIS_OID_REQUEST) -> NDIS_STATUS>;
pub type MINIPORT_SEND_NET_BUFFER_LISTS_HANDLER =
    Option<unsafe extern "system" fn(NDIS_HANDLE, *mut NET_BUFFER_LIST, NDIS_PORT_NUMBER, u32)>;
pub type MINIPORT_RETURN_NET_BUFFER_LISTS_HANDLER =
    Option<unsafe extern "system" fn(NDIS_HANDLE, *mut NET_BUFFER_LIST, u32)>;
pub type MINIPORT_CANCEL_SEND_HANDLER = Option<unsafe extern "system" fn(NDIS_HANDLE, *mut c_void)>;
pub type MINIPORT_CHECK_FOR_HANG_HANDLER = Option<unsafe extern "system" fn(NDIS_HANDLE) -> u8>;
pub type MINIPORT_RESET_HANDLER = Option<unsafe extern "system" fn(NDIS_HANDLE, *mut u8) -> NDIS_STATUS>;
pub type MINIPORT_DEVICE_PNP_EVENT_NOTIFY_HANDLER =
    Option<unsafe extern "system" fn(NDIS_HANDLE, *mut NET_DEVICE_PNP_EVENT)>;
pub type MINIPORT_SHUTDOWN_HANDLER = Option<unsafe extern "system" fn(NDIS_HANDLE, u32)>;
pub type MINIPORT_CANCEL_OID_REQUEST_HANDLER = Option<unsafe extern "system" fn(NDIS_HANDLE, *mut c_void)>;
pub type MINIPORT_DIRECT_OID_REQUEST_HANDLER =
    Option<unsafe extern "system" fn(NDIS_HANDLE, *mut NDIS_OID_REQUEST) -> NDIS_STATUS>;
pub type MINIPORT_CANCEL_DIRECT_OID_REQUEST_HANDLER = Option<unsafe extern "system" fn(NDIS_HANDLE, *mut c_void)>;
pub type MINIPORT_SYNCHRONOUS_OID_REQUEST_HANDLER =
    Option<unsafe extern "system" fn(NDIS_HANDLE, *mut NDIS_OID_REQUEST) -> NDIS_STATUS>;

/// `NDIS_MINIPORT_DRIVER_CHARACTERISTICS` (ndis.h) through revision 3 (NDIS 6.80:
/// `SynchronousOidRequestHandler`). Revision 2 (NDIS 6.30) ends before the last field.
#[repr(C)]
#[derive(Default)]
pub struct NDIS_MINIPORT_DRIVER_CHARACTERISTICS {
    pub Header: NDIS_OBJECT_HEADER,
    pub MajorNdisVersion: u8,
    pub MinorNdisVersion: u8,
    pub MajorDriverVersion: u8,
    pub MinorDriverVersion: u8,
    pub Flags: u32,
    pub SetOptionsHandler: SET_OPTIONS_HANDLER,
    pub InitializeHandlerEx: MINIPORT_INITIALIZE_HANDLER,
    pub HaltHandlerEx: MINIPORT_HALT_HANDLER,
    pub UnloadHandler: MINIPORT_DRIVER_UNLOAD,
    pub PauseHandler: MINIPORT_PAUSE_HANDLER,
    pub RestartHandler: MINIPORT_RESTART_HANDLER,
    pub OidRequestHandler: MINIPORT_OID_REQUEST_HANDLER,
    pub SendNetBufferListsHandler: MINIPORT_SEND_NET_BUFFER_LISTS_HANDLER,
    pub ReturnNetBufferListsHandler: MINIPORT_RETURN_NET_BUFFER_LISTS_HANDLER,
    pub CancelSendHandler: MINIPORT_CANCEL_SEND_HANDLER,
    pub CheckForHangHandlerEx: MINIPORT_CHECK_FOR_HANG_HANDLER,
    pub ResetHandlerEx: MINIPORT_RESET_HANDLER,
    pub DevicePnPEventNotifyHandler: MINIPORT_DEVICE_PNP_EVENT_NOTIFY_HANDLER,
    pub ShutdownHandlerEx: MINIPORT_SHUTDOWN_HANDLER,
    pub CancelOidRequestHandler: MINIPORT_CANCEL_OID_REQUEST_HANDLER,
    pub DirectOidRequestHandler: MINIPORT_DIRECT_OID_REQUEST_HANDLER,
    pub CancelDirectOidRequestHandler: MINIPORT_CANCEL_DIRECT_OID_REQUEST_HANDLER,
    pub SynchronousOidRequestHandler: MINIPORT_SYNCHRONOUS_OID_REQUEST_HANDLER,
}

/// `NDIS_SIZEOF_MINIPORT_DRIVER_CHARACTERISTICS_REVISION_2` (ndis.h): through `CancelDirectOidRequestHandler`.
pub const CHARACTERISTICS_SIZE_REVISION_2: usize =
    offset_of!(NDIS_MINIPORT_DRIVER_CHARACTERISTICS, CancelDirectOidRequestHandler) + size_of::<usize>();
/// `NDIS_SIZEOF_MINIPORT_DRIVER_CHARACTERISTICS_REVISION_3` (ndis.h): through `SynchronousOidRequestHandler`.
pub const CHARACTERISTICS_SIZE_REVISION_3: usize = size_of::<NDIS_MINIPORT_DRIVER_CHARACTERISTICS>();

/// `NDIS_MINIPORT_ADAPTER_REGISTRATION_ATTRIBUTES` (ndis.h).
#[repr(C)]
pub struct NDIS_MINIPORT_ADAPTER_REGISTRATION_ATTRIBUTES {
    pub Header: NDIS_OBJECT_HEADER,
    pub MiniportAdapterContext: NDIS_HANDLE,
    pub AttributeFlags: u32,
    pub CheckForHangTimeInSeconds: u32,
    pub InterfaceType: u32,
}

/// `NDIS_SIZEOF_MINIPORT_ADAPTER_REGISTRATION_ATTRIBUTES_REVISION_2` (ndis.h): through
/// `InterfaceType`, not the padded structure size.
pub const REGISTRATION_ATTRIBUTES_SIZE_REVISION_2: usize =
    offset_of!(NDIS_MINIPORT_ADAPTER_REGISTRATION_ATTRIBUTES, InterfaceType) + size_of::<u32>();

/// `NDIS_MAX_PHYS_ADDRESS_LENGTH` (ntddndis.h; = `IF_MAX_PHYS_ADDRESS_LENGTH` of ifdef.h).
pub const NDIS_MAX_PHYS_ADDRESS_LENGTH: usize = 32;

/// `NDIS_MINIPORT_ADAPTER_GENERAL_ATTRIBUTES` (ndis.h; revision 2, NDIS 6.20+).
#[repr(C)]
pub struct NDIS_MINIPORT_ADAPTER_GENERAL_ATTRIBUTES {
    pub Header: NDIS_OBJECT_HEADER,
    pub Flags: u32,
    pub MediaType: u32,
    pub PhysicalMediumType: u32,
    pub MtuSize: u32,
    pub MaxXmitLinkSpeed: u64,
    pub XmitLinkSpeed: u64,
    pub MaxRcvLinkSpeed: u64,
    pub RcvLinkSpeed: u64,
    pub MediaConnectState: u32,
    pub MediaDuplexState: u32,
    pub LookaheadSize: u32,
    pub PowerManagementCapabilities: *mut c_void,
    pub MacOptions: u32,
    pub SupportedPacketFilters: u32,
    pub MaxMulticastListSize: u32,
    pub MacAddressLength: u16,
    pub PermanentMacAddress: [u8; NDIS_MAX_PHYS_ADDRESS_LENGTH],
    pub CurrentMacAddress: [u8; NDIS_MAX_PHYS_ADDRESS_LENGTH],
    pub RecvScaleCapabilities: *mut c_void,
    pub AccessType: u32,
    pub DirectionType: u32,
    pub ConnectionType: u32,
    pub IfType: NET_IFTYPE,
    pub IfConnectorPresent: u8,
    pub SupportedStatistics: u32,
    pub SupportedPauseFunctions: u32,
    pub DataBackFillSize: u32,
    pub ContextBackFillSize: u32,
    pub SupportedOidList: *mut NDIS_OID,
    pub SupportedOidListLength: u32,
    pub AutoNegotiationFlags: u32,
    pub PowerManagementCapabilitiesEx: *mut c_void,
}

/// `NET_BUFFER_LIST_POOL_PARAMETERS` (ndis.h).
#[repr(C)]
pub struct NET_BUFFER_LIST_POOL_PARAMETERS {
    pub Header: NDIS_OBJECT_HEADER,
    pub ProtocolId: u8,
    pub fAllocateNetBuffer: u8,
    pub ContextSize: u16,
    pub PoolTag: u32,
    pub DataSize: u32,
}

/// `NDIS_LINK_STATE` (ntddndis.h).
#[repr(C)]
pub struct NDIS_LINK_STATE {
    pub Header: NDIS_OBJECT_HEADER,
    pub MediaConnectState: u32,
    pub MediaDuplexState: u32,
    pub XmitLinkSpeed: u64,
    pub RcvLinkSpeed: u64,
    pub PauseFunctions: u32,
    pub AutoNegotiationFlags: u32,
}

/// `NDIS_STATUS_INDICATION` (ndis.h).
#[repr(C)]
pub struct NDIS_STATUS_INDICATION {
    pub Header: NDIS_OBJECT_HEADER,
    pub SourceHandle: NDIS_HANDLE,
    pub PortNumber: NDIS_PORT_NUMBER,
    pub StatusCode: NDIS_STATUS,
    pub Flags: u32,
    pub DestinationHandle: NDIS_HANDLE,
    pub RequestId: *mut c_void,
    pub StatusBuffer: *mut c_void,
    pub StatusBufferSize: u32,
    pub Guid: [u8; 16],
    pub NdisReserved: [*mut c_void; 4],
}

/// `NDIS_STATISTICS_INFO` (ntddndis.h).
#[repr(C)]
#[derive(Default)]
pub struct NDIS_STATISTICS_INFO {
    pub Header: NDIS_OBJECT_HEADER,
    pub SupportedStatistics: u32,
    pub ifInDiscards: u64,
    pub ifInErrors: u64,
    pub ifHCInOctets: u64,
    pub ifHCInUcastPkts: u64,
    pub ifHCInMulticastPkts: u64,
    pub ifHCInBroadcastPkts: u64,
    pub ifHCOutOctets: u64,
    pub ifHCOutUcastPkts: u64,
    pub ifHCOutMulticastPkts: u64,
    pub ifHCOutBroadcastPkts: u64,
    pub ifOutErrors: u64,
    pub ifOutDiscards: u64,
    pub ifHCInUcastOctets: u64,
    pub ifHCInMulticastOctets: u64,
    pub ifHCInBroadcastOctets: u64,
    pub ifHCOutUcastOctets: u64,
    pub ifHCOutMulticastOctets: u64,
    pub ifHCOutBroadcastOctets: u64,
}

/// `NDIS_PM_CAPABILITIES` (ntddndis.h; revision 2, NDIS 6.30+).
#[repr(C)]
#[derive(Default)]
pub struct NDIS_PM_CAPABILITIES {
    pub Header: NDIS_OBJECT_HEADER,
    pub Flags: u32,
    pub SupportedWoLPacketPatterns: u32,
    pub NumTotalWoLPatterns: u32,
    pub MaxWoLPatternSize: u32,
    pub MaxWoLPatternOffset: u32,
    pub MaxWoLPacketSaveBuffer: u32,
    pub SupportedProtocolOffloads: u32,
    pub NumArpOffloadIPv4Addresses: u32,
    pub NumNSOffloadIPv6Addresses: u32,
    pub MinMagicPacketWakeUp: u32,
    pub MinPatternWakeUp: u32,
    pub MinLinkChangeWakeUp: u32,
    pub SupportedWakeUpEvents: u32,
    pub MediaSpecificWakeUpEvents: u32,
}

/// `NDIS_INTERRUPT_MODERATION_PARAMETERS` (ntddndis.h).
#[repr(C)]
pub struct NDIS_INTERRUPT_MODERATION_PARAMETERS {
    pub Header: NDIS_OBJECT_HEADER,
    pub Flags: u32,
    pub InterruptModeration: u32,
}

/// `NDIS_OFFLOAD_ENCAPSULATION` (ndis.h): the input of `OID_OFFLOAD_ENCAPSULATION`, read by the
/// engine from its bytes (`crate::engine::oid::OffloadEncapsulation`); declared for the layout
/// check of those offsets.
#[repr(C)]
pub struct NDIS_OFFLOAD_ENCAPSULATION {
    pub Header: NDIS_OBJECT_HEADER,
    pub IPv4: NDIS_OFFLOAD_ENCAPSULATION_VERSION,
    pub IPv6: NDIS_OFFLOAD_ENCAPSULATION_VERSION,
}

/// The anonymous `IPv4` and `IPv6` members of `NDIS_OFFLOAD_ENCAPSULATION` (ndis.h).
#[repr(C)]
pub struct NDIS_OFFLOAD_ENCAPSULATION_VERSION {
    pub Enabled: u32,
    pub EncapsulationType: u32,
    pub HeaderSize: u32,
}

/// `NDIS_OFFLOAD_ENCAPSULATION_REVISION_1` (ndis.h).
pub const NDIS_OFFLOAD_ENCAPSULATION_REVISION_1: u8 = 1;
/// `NDIS_OBJECT_TYPE_OFFLOAD_ENCAPSULATION` (ntddndis.h).
pub const NDIS_OBJECT_TYPE_OFFLOAD_ENCAPSULATION: u8 = 0xA8;
/// `NDIS_OFFLOAD_SET_NO_CHANGE` (ntddndis.h).
pub const NDIS_OFFLOAD_SET_NO_CHANGE: u32 = 0;
/// `NDIS_OFFLOAD_SET_ON` (ntddndis.h).
pub const NDIS_OFFLOAD_SET_ON: u32 = 1;
/// `NDIS_OFFLOAD_SET_OFF` (ntddndis.h).
pub const NDIS_OFFLOAD_SET_OFF: u32 = 2;

// ---- the adapter's configuration (ndis.h; the object type in ntddndis.h) ----

/// `NDIS_OBJECT_TYPE_CONFIGURATION_OBJECT` (ntddndis.h).
pub const NDIS_OBJECT_TYPE_CONFIGURATION_OBJECT: u8 = 0xA9;
/// `NDIS_CONFIGURATION_OBJECT_REVISION_1` (ndis.h).
pub const NDIS_CONFIGURATION_OBJECT_REVISION_1: u8 = 1;
/// `NdisParameterInteger` (`NDIS_PARAMETER_TYPE`, ndis.h): the first enumerator.
pub const NdisParameterInteger: u32 = 0;

/// `NDIS_CONFIGURATION_OBJECT` (ndis.h): the input of `NdisOpenConfigurationEx`.
#[repr(C)]
pub struct NDIS_CONFIGURATION_OBJECT {
    pub Header: NDIS_OBJECT_HEADER,
    pub NdisHandle: NDIS_HANDLE,
    pub Flags: u32,
}

/// `NDIS_SIZEOF_CONFIGURATION_OBJECT_REVISION_1` (ndis.h): through `Flags`, not the padded
/// structure size.
pub const CONFIGURATION_OBJECT_SIZE_REVISION_1: usize = offset_of!(NDIS_CONFIGURATION_OBJECT, Flags) + size_of::<u32>();

/// The `ParameterData` union of `NDIS_CONFIGURATION_PARAMETER` (ndis.h) without its third arm,
/// `BinaryData` (a USHORT and a PVOID: the size and alignment of `StringData`).
#[repr(C)]
pub union NDIS_CONFIGURATION_PARAMETER_DATA {
    pub IntegerData: u32,
    pub StringData: UNICODE_STRING,
}

/// `NDIS_CONFIGURATION_PARAMETER` (ndis.h): what `NdisReadConfiguration` returns a pointer to
/// (allocated by NDIS, freed with the configuration handle; never created here).
#[repr(C)]
pub struct NDIS_CONFIGURATION_PARAMETER {
    pub ParameterType: u32,
    pub ParameterData: NDIS_CONFIGURATION_PARAMETER_DATA,
}

/// `NDIS_RSC_STATISTICS_INFO` (ntddndis.h, NDIS 6.30): the answer to `OID_TCP_RSC_STATISTICS`.
/// Its revision-1 size (`NDIS_SIZEOF_RSC_STATISTICS_REVISION_1`, through `Aborts`) is the whole
/// structure: the counters are 8-aligned after the 4-byte header.
#[repr(C)]
#[derive(Clone, Copy, Default)]
pub struct NDIS_RSC_STATISTICS_INFO {
    pub Header: NDIS_OBJECT_HEADER,
    pub CoalescedPkts: u64,
    pub CoalescedOctets: u64,
    pub CoalesceEvents: u64,
    pub Aborts: u64,
}

/// The query/set arm of `NDIS_OID_REQUEST::DATA` (ndis.h) (`QUERY_INFORMATION` and `SET_INFORMATION`
/// share this shape: `BytesWritten` is `BytesRead` for a set). The union's third arm,
/// `METHOD_INFORMATION`, has other fields at `BytesWrittenOrRead` and `BytesNeeded` (the caller's
/// `OutputBufferLength` and `MethodId`): this arm is written only for a query or set.
#[repr(C)]
pub struct NDIS_OID_REQUEST_INFORMATION {
    pub Oid: NDIS_OID,
    pub InformationBuffer: *mut c_void,
    pub InformationBufferLength: u32,
    pub BytesWrittenOrRead: u32,
    pub BytesNeeded: u32,
}

/// `NDIS_OID_REQUEST` (ndis.h), through the query/set arm of `DATA` (allocated by NDIS; never created here).
#[repr(C)]
pub struct NDIS_OID_REQUEST {
    pub Header: NDIS_OBJECT_HEADER,
    pub RequestType: u32,
    pub PortNumber: NDIS_PORT_NUMBER,
    pub Timeout: u32,
    pub RequestId: *mut c_void,
    pub RequestHandle: NDIS_HANDLE,
    pub DATA: NDIS_OID_REQUEST_INFORMATION,
}

/// `NET_DEVICE_PNP_EVENT` (ndis.h), through `InformationBufferLength` (allocated by NDIS).
#[repr(C)]
pub struct NET_DEVICE_PNP_EVENT {
    pub Header: NDIS_OBJECT_HEADER,
    pub PortNumber: NDIS_PORT_NUMBER,
    pub DevicePnPEvent: u32,
    pub InformationBuffer: *mut c_void,
    pub InformationBufferLength: u32,
}

/// `NET_BUFFER` (ndis.h), through `DataOffset` (the `NET_BUFFER_DATA` arm of its header union; the
/// `SLIST_HEADER` arm is the same size on every target).
#[repr(C)]
pub struct NET_BUFFER {
    pub Next: *mut NET_BUFFER,
    pub CurrentMdl: PMDL,
    pub CurrentMdlOffset: u32,
    /// `NET_BUFFER_DATA_LENGTH`: a union of `ULONG DataLength` and `SIZE_T stDataLength`; the
    /// low 32 bits (first on these little-endian targets) are `DataLength`.
    pub DataLength: usize,
    pub MdlChain: PMDL,
    pub DataOffset: u32,
}

/// How many `NetBufferListInfo` entries the shell may touch (through `TcpRecvSegCoalesceInfo`,
/// which is also `UdpSegmentationOffloadInfo`).
pub const NBL_INFO_ENTRIES_USED: usize = TcpRecvSegCoalesceInfo + 1;

/// `MEMORY_ALLOCATION_ALIGNMENT` (ntdef.h): 16 on 64-bit Windows.
pub const MEMORY_ALLOCATION_ALIGNMENT: usize = 16;

/// A field declared `DECLSPEC_ALIGN(MEMORY_ALLOCATION_ALIGNMENT)` in a header: aligned to 16 (the
/// attribute also pads the structure to a multiple of 16).
#[repr(C, align(16))]
pub struct AllocationAligned<T>(pub T);
const _: () = assert!(core::mem::align_of::<AllocationAligned<u8>>() == MEMORY_ALLOCATION_ALIGNMENT);

/// `NET_BUFFER_LIST` (ndis.h), through `NetBufferListInfo[NetBufferListFrameType]`: the
/// `Next`/`FirstNetBuffer` arm of its header union (the `SLIST_HEADER` arm is the same 16 bytes),
/// and the three reserved arrays `DECLSPEC_ALIGN(MEMORY_ALLOCATION_ALIGNMENT)` as the header
/// declares them (which the DDI page omits).
///
/// Ownership: `ProtocolReserved` belongs to the protocol that allocated or sent the NBL,
/// `MiniportReserved` to the miniport that allocated it, `Scratch` and `NdisReserved` to NDIS.
/// The shell writes per-NBL state only into `MiniportReserved` of NBLs it allocated itself
/// (indications), and, as the DDI requires, `Status` of an NBL it completes and `SourceHandle`,
/// `NblFlags` and `NetBufferListInfo` of an NBL it indicates.
#[repr(C)]
pub struct NET_BUFFER_LIST {
    pub Next: *mut NET_BUFFER_LIST,
    pub FirstNetBuffer: *mut NET_BUFFER,
    pub Context: *mut c_void,
    pub ParentNetBufferList: *mut NET_BUFFER_LIST,
    pub NdisPoolHandle: NDIS_HANDLE,
    pub NdisReserved: AllocationAligned<[*mut c_void; 2]>,
    pub ProtocolReserved: AllocationAligned<[*mut c_void; 4]>,
    pub MiniportReserved: AllocationAligned<[*mut c_void; 2]>,
    pub Scratch: *mut c_void,
    pub SourceHandle: NDIS_HANDLE,
    pub NblFlags: u32,
    pub ChildRefCount: i32,
    pub Flags: u32,
    /// `Status` (a union with `NdisReserved2`).
    pub Status: NDIS_STATUS,
    pub NetBufferListInfo: [*mut c_void; NBL_INFO_ENTRIES_USED],
}

// ---- task offloads ----
// The structures of `ntddndis.h` (WDK 10.0.16299; the UDP segmentation offload items, NDIS 6.83,
// from `ntddndis.h` and `nbluso.h` of WDK 10.0.26100). Their anonymous inner structures get
// names here; a ULONG of bit fields is one `u32` (`Fields`), its fields given by the [`Bits`]
// constants below, whose positions the layout check compares with the C compiler's. Members
// the shell leaves zero (IPsec, encapsulated-packet and 464XLAT offloads) are word arrays of
// their structures' sizes.

/// `NDIS_OBJECT_TYPE_OFFLOAD` (ntddndis.h): the object type of `NDIS_OFFLOAD`.
pub const NDIS_OBJECT_TYPE_OFFLOAD: u8 = 0xA7;
/// `NDIS_OBJECT_TYPE_MINIPORT_ADAPTER_OFFLOAD_ATTRIBUTES` (ntddndis.h).
pub const NDIS_OBJECT_TYPE_MINIPORT_ADAPTER_OFFLOAD_ATTRIBUTES: u8 = 0xA0;
/// `NDIS_MINIPORT_ADAPTER_OFFLOAD_ATTRIBUTES_REVISION_1` (ndis.h).
pub const NDIS_MINIPORT_ADAPTER_OFFLOAD_ATTRIBUTES_REVISION_1: u8 = 1;
/// `NDIS_OFFLOAD_REVISION_3` (ntddndis.h, NDIS 6.30): through `EncapsulatedPacketTaskOffloadGre`.
pub const NDIS_OFFLOAD_REVISION_3: u8 = 3;
/// `NDIS_OFFLOAD_REVISION_5` (ntddndis.h, NDIS 6.70): through `Rfc6877Xlat`.
pub const NDIS_OFFLOAD_REVISION_5: u8 = 5;
/// `NDIS_OFFLOAD_REVISION_6` (ntddndis.h of WDK 10.0.26100, NDIS 6.83): through `UdpSegmentation`.
pub const NDIS_OFFLOAD_REVISION_6: u8 = 6;
/// `NDIS_STATUS_TASK_OFFLOAD_CURRENT_CONFIG` (ndis.h): the status indication of the offloads on.
pub const NDIS_STATUS_TASK_OFFLOAD_CURRENT_CONFIG: NDIS_STATUS = 0x4002_0006;
/// `NDIS_OFFLOAD_NOT_SUPPORTED` / `NDIS_OFFLOAD_SUPPORTED` (ntddndis.h): the 2-bit capability values.
pub const NDIS_OFFLOAD_NOT_SUPPORTED: u32 = 0;
pub const NDIS_OFFLOAD_SUPPORTED: u32 = 1;
/// `NDIS_OFFLOAD_FLAGS_GROUP_CHECKSUM_CAPABILITIES` (ntddndis.h, a flag of `NDIS_OFFLOAD.Flags`;
/// the `NDIS_OFFLOAD` reference does not list it). Never set by the adapter: `ndis_offload`.
pub const NDIS_OFFLOAD_FLAGS_GROUP_CHECKSUM_CAPABILITIES: u32 = 0x0000_0001;
/// `NDIS_ENCAPSULATION_NOT_SUPPORTED` (ntddndis.h): the `Encapsulation` of an offload that is off.
pub const NDIS_ENCAPSULATION_NOT_SUPPORTED: u32 = 0x0000_0000;
/// `NDIS_ENCAPSULATION_NULL` (ntddndis.h): packets without a link-layer header, as an IP adapter's.
pub const NDIS_ENCAPSULATION_NULL: u32 = 0x0000_0001;
/// `NDIS_ENCAPSULATION_IEEE_802_3` (ntddndis.h).
pub const NDIS_ENCAPSULATION_IEEE_802_3: u32 = 0x0000_0002;
/// `NDIS_ENCAPSULATION_IEEE_802_3_P_AND_Q` (ntddndis.h).
pub const NDIS_ENCAPSULATION_IEEE_802_3_P_AND_Q: u32 = 0x0000_0004;
/// `NDIS_ENCAPSULATION_IEEE_802_3_P_AND_Q_IN_OOB` (ntddndis.h).
pub const NDIS_ENCAPSULATION_IEEE_802_3_P_AND_Q_IN_OOB: u32 = 0x0000_0008;
/// `NDIS_ENCAPSULATION_IEEE_LLC_SNAP_ROUTED` (ntddndis.h).
pub const NDIS_ENCAPSULATION_IEEE_LLC_SNAP_ROUTED: u32 = 0x0000_0010;
/// `NDIS_TCP_LARGE_SEND_OFFLOAD_V1_TYPE` / `_V2_TYPE` (ndis.h): `Transmit.Type` of the LSO NBL information.
pub const NDIS_TCP_LARGE_SEND_OFFLOAD_V1_TYPE: u32 = 0;
pub const NDIS_TCP_LARGE_SEND_OFFLOAD_V2_TYPE: u32 = 1;
/// `NDIS_TCP_LARGE_SEND_OFFLOAD_IPv4` / `_IPv6` (ndis.h): `LsoV2Transmit.IPVersion`.
pub const NDIS_TCP_LARGE_SEND_OFFLOAD_IPv4: u32 = 0;
pub const NDIS_TCP_LARGE_SEND_OFFLOAD_IPv6: u32 = 1;
/// `NDIS_UDP_SEGMENTATION_OFFLOAD_IPV4` / `_IPV6` (nbluso.h of WDK 10.0.26100): `Transmit.IPVersion`.
pub const NDIS_UDP_SEGMENTATION_OFFLOAD_IPV4: u32 = 0;
pub const NDIS_UDP_SEGMENTATION_OFFLOAD_IPV6: u32 = 1;

/// A bit field of a ULONG in a header structure: `width` bits from bit `shift` (MSVC allocates
/// a ULONG's bit fields from its least significant bit).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Bits {
    pub shift: u32,
    pub width: u32,
}

impl Bits {
    const fn mask(self) -> u32 {
        if self.width >= 32 {
            u32::MAX
        } else {
            (1u32 << self.width) - 1
        }
    }

    /// `word` with this field set to `value` (truncated to the field's width).
    pub const fn put(self, word: u32, value: u32) -> u32 {
        (word & !(self.mask() << self.shift)) | ((value & self.mask()) << self.shift)
    }

    /// This field of `word`.
    pub const fn get(self, word: u32) -> u32 {
        (word >> self.shift) & self.mask()
    }
}

/// A [`Bits`] constant, with the C type and member path it stands for and the byte offset of its
/// ULONG in that type, for the layout check (`xcheck/layout/check-ndis-layout` compares each with
/// the bit position a C compiler gives the member).
macro_rules! bits {
    ($ty:ident, $path:literal, $word:literal, $shift:literal, $width:literal) => {
        Bits { shift: $shift, width: $width }
    };
}

/// The encapsulation and 2-bit fields of one direction of `NDIS_TCP_IP_CHECKSUM_OFFLOAD`
/// (its `IPv4Transmit`, `IPv4Receive`, `IPv6Transmit` and `IPv6Receive` members).
#[repr(C)]
#[derive(Clone, Copy, Default)]
pub struct NDIS_CHECKSUM_OFFLOAD_DIRECTION {
    pub Encapsulation: u32,
    pub Fields: u32,
}
/// `NDIS_TCP_IP_CHECKSUM_OFFLOAD` (ntddndis.h).
#[repr(C)]
#[derive(Clone, Copy, Default)]
pub struct NDIS_TCP_IP_CHECKSUM_OFFLOAD {
    pub IPv4Transmit: NDIS_CHECKSUM_OFFLOAD_DIRECTION,
    pub IPv4Receive: NDIS_CHECKSUM_OFFLOAD_DIRECTION,
    pub IPv6Transmit: NDIS_CHECKSUM_OFFLOAD_DIRECTION,
    pub IPv6Receive: NDIS_CHECKSUM_OFFLOAD_DIRECTION,
}
pub const CHECKSUM_IPV4_TX_IP_OPTIONS: Bits =
    bits!(NDIS_TCP_IP_CHECKSUM_OFFLOAD, "IPv4Transmit.IpOptionsSupported", 4, 0, 2);
pub const CHECKSUM_IPV4_TX_TCP_OPTIONS: Bits =
    bits!(NDIS_TCP_IP_CHECKSUM_OFFLOAD, "IPv4Transmit.TcpOptionsSupported", 4, 2, 2);
pub const CHECKSUM_IPV4_TX_TCP: Bits = bits!(NDIS_TCP_IP_CHECKSUM_OFFLOAD, "IPv4Transmit.TcpChecksum", 4, 4, 2);
pub const CHECKSUM_IPV4_TX_UDP: Bits = bits!(NDIS_TCP_IP_CHECKSUM_OFFLOAD, "IPv4Transmit.UdpChecksum", 4, 6, 2);
pub const CHECKSUM_IPV4_TX_IP: Bits = bits!(NDIS_TCP_IP_CHECKSUM_OFFLOAD, "IPv4Transmit.IpChecksum", 4, 8, 2);
pub const CHECKSUM_IPV4_RX_IP_OPTIONS: Bits =
    bits!(NDIS_TCP_IP_CHECKSUM_OFFLOAD, "IPv4Receive.IpOptionsSupported", 12, 0, 2);
pub const CHECKSUM_IPV4_RX_TCP_OPTIONS: Bits =
    bits!(NDIS_TCP_IP_CHECKSUM_OFFLOAD, "IPv4Receive.TcpOptionsSupported", 12, 2, 2);
pub const CHECKSUM_IPV4_RX_TCP: Bits = bits!(NDIS_TCP_IP_CHECKSUM_OFFLOAD, "IPv4Receive.TcpChecksum", 12, 4, 2);
pub const CHECKSUM_IPV4_RX_UDP: Bits = bits!(NDIS_TCP_IP_CHECKSUM_OFFLOAD, "IPv4Receive.UdpChecksum", 12, 6, 2);
pub const CHECKSUM_IPV4_RX_IP: Bits = bits!(NDIS_TCP_IP_CHECKSUM_OFFLOAD, "IPv4Receive.IpChecksum", 12, 8, 2);
pub const CHECKSUM_IPV6_TX_EXTENSION_HEADERS: Bits =
    bits!(NDIS_TCP_IP_CHECKSUM_OFFLOAD, "IPv6Transmit.IpExtensionHeadersSupported", 20, 0, 2);
pub const CHECKSUM_IPV6_TX_TCP_OPTIONS: Bits =
    bits!(NDIS_TCP_IP_CHECKSUM_OFFLOAD, "IPv6Transmit.TcpOptionsSupported", 20, 2, 2);
pub const CHECKSUM_IPV6_TX_TCP: Bits = bits!(NDIS_TCP_IP_CHECKSUM_OFFLOAD, "IPv6Transmit.TcpChecksum", 20, 4, 2);
pub const CHECKSUM_IPV6_TX_UDP: Bits = bits!(NDIS_TCP_IP_CHECKSUM_OFFLOAD, "IPv6Transmit.UdpChecksum", 20, 6, 2);
pub const CHECKSUM_IPV6_RX_EXTENSION_HEADERS: Bits =
    bits!(NDIS_TCP_IP_CHECKSUM_OFFLOAD, "IPv6Receive.IpExtensionHeadersSupported", 28, 0, 2);
pub const CHECKSUM_IPV6_RX_TCP_OPTIONS: Bits =
    bits!(NDIS_TCP_IP_CHECKSUM_OFFLOAD, "IPv6Receive.TcpOptionsSupported", 28, 2, 2);
pub const CHECKSUM_IPV6_RX_TCP: Bits = bits!(NDIS_TCP_IP_CHECKSUM_OFFLOAD, "IPv6Receive.TcpChecksum", 28, 4, 2);
pub const CHECKSUM_IPV6_RX_UDP: Bits = bits!(NDIS_TCP_IP_CHECKSUM_OFFLOAD, "IPv6Receive.UdpChecksum", 28, 6, 2);

/// The `IPv4` member of `NDIS_TCP_LARGE_SEND_OFFLOAD_V1` (its options bits left zero).
#[repr(C)]
#[derive(Clone, Copy, Default)]
pub struct NDIS_LSO_V1_IPV4 {
    pub Encapsulation: u32,
    pub MaxOffLoadSize: u32,
    pub MinSegmentCount: u32,
    pub Fields: u32,
}
/// `NDIS_TCP_LARGE_SEND_OFFLOAD_V1` (ntddndis.h): not offered, all zero.
#[repr(C)]
#[derive(Clone, Copy, Default)]
pub struct NDIS_TCP_LARGE_SEND_OFFLOAD_V1 {
    pub IPv4: NDIS_LSO_V1_IPV4,
}
/// The `IPv4` member of `NDIS_TCP_LARGE_SEND_OFFLOAD_V2`.
#[repr(C)]
#[derive(Clone, Copy, Default)]
pub struct NDIS_LSO_V2_IPV4 {
    pub Encapsulation: u32,
    pub MaxOffLoadSize: u32,
    pub MinSegmentCount: u32,
}
/// The `IPv6` member of `NDIS_TCP_LARGE_SEND_OFFLOAD_V2`.
#[repr(C)]
#[derive(Clone, Copy, Default)]
pub struct NDIS_LSO_V2_IPV6 {
    pub Encapsulation: u32,
    pub MaxOffLoadSize: u32,
    pub MinSegmentCount: u32,
    pub Fields: u32,
}
/// `NDIS_TCP_LARGE_SEND_OFFLOAD_V2` (ntddndis.h).
#[repr(C)]
#[derive(Clone, Copy, Default)]
pub struct NDIS_TCP_LARGE_SEND_OFFLOAD_V2 {
    pub IPv4: NDIS_LSO_V2_IPV4,
    pub IPv6: NDIS_LSO_V2_IPV6,
}
pub const LSO_V2_IPV6_EXTENSION_HEADERS: Bits =
    bits!(NDIS_TCP_LARGE_SEND_OFFLOAD_V2, "IPv6.IpExtensionHeadersSupported", 24, 0, 2);
pub const LSO_V2_IPV6_TCP_OPTIONS: Bits = bits!(NDIS_TCP_LARGE_SEND_OFFLOAD_V2, "IPv6.TcpOptionsSupported", 24, 2, 2);
/// `NDIS_TCP_RECV_SEG_COALESCE_OFFLOAD` (ntddndis.h): each member is a structure of one
/// `BOOLEAN Enabled`.
#[repr(C)]
#[derive(Clone, Copy, Default)]
pub struct NDIS_TCP_RECV_SEG_COALESCE_OFFLOAD {
    pub IPv4: u8,
    pub IPv6: u8,
}
/// The `IPv4` member of `NDIS_UDP_SEGMENTATION_OFFLOAD`.
#[repr(C)]
#[derive(Clone, Copy, Default)]
pub struct NDIS_USO_IPV4 {
    pub Encapsulation: u32,
    pub MaxOffLoadSize: u32,
    pub Fields: u32,
}
/// The `IPv6` member of `NDIS_UDP_SEGMENTATION_OFFLOAD`.
#[repr(C)]
#[derive(Clone, Copy, Default)]
pub struct NDIS_USO_IPV6 {
    pub Encapsulation: u32,
    pub MaxOffLoadSize: u32,
    pub Fields: u32,
    pub Fields2: u32,
}
/// `NDIS_UDP_SEGMENTATION_OFFLOAD` (ntddndis.h of WDK 10.0.26100, NDIS 6.83).
#[repr(C)]
#[derive(Clone, Copy, Default)]
pub struct NDIS_UDP_SEGMENTATION_OFFLOAD {
    pub IPv4: NDIS_USO_IPV4,
    pub IPv6: NDIS_USO_IPV6,
}
pub const USO_IPV4_MIN_SEGMENT_COUNT: Bits = bits!(NDIS_UDP_SEGMENTATION_OFFLOAD, "IPv4.MinSegmentCount", 8, 0, 6);
pub const USO_IPV6_MIN_SEGMENT_COUNT: Bits = bits!(NDIS_UDP_SEGMENTATION_OFFLOAD, "IPv6.MinSegmentCount", 20, 0, 6);
pub const USO_IPV6_EXTENSION_HEADERS: Bits =
    bits!(NDIS_UDP_SEGMENTATION_OFFLOAD, "IPv6.IpExtensionHeadersSupported", 24, 0, 2);
/// `NDIS_OFFLOAD` (ntddndis.h) through `UdpSegmentation` (revision 6, NDIS 6.83, of WDK
/// 10.0.26100; the members through `Rfc6877Xlat`, revision 5, are those of WDK 10.0.16299).
#[repr(C)]
#[derive(Clone, Copy, Default)]
pub struct NDIS_OFFLOAD {
    pub Header: NDIS_OBJECT_HEADER,
    pub Checksum: NDIS_TCP_IP_CHECKSUM_OFFLOAD,
    pub LsoV1: NDIS_TCP_LARGE_SEND_OFFLOAD_V1,
    /// `NDIS_IPSEC_OFFLOAD_V1`: not offered.
    pub IPsecV1: [u32; 7],
    pub LsoV2: NDIS_TCP_LARGE_SEND_OFFLOAD_V2,
    pub Flags: u32,
    /// `NDIS_IPSEC_OFFLOAD_V2`: not offered.
    pub IPsecV2: [u32; 8],
    pub Rsc: NDIS_TCP_RECV_SEG_COALESCE_OFFLOAD,
    /// The compiler's padding before the next ULONG, spelled out so that it is zero in every copy.
    pub _Padding0: [u8; 2],
    /// `NDIS_ENCAPSULATED_PACKET_TASK_OFFLOAD`: not offered.
    pub EncapsulatedPacketTaskOffloadGre: [u32; 2],
    /// `NDIS_ENCAPSULATED_PACKET_TASK_OFFLOAD_V2`: not offered.
    pub EncapsulatedPacketTaskOffloadVxlan: [u32; 5],
    pub EncapsulationTypes: u8,
    /// As `_Padding0`.
    pub _Padding1: [u8; 3],
    /// `NDIS_RFC6877_464XLAT_OFFLOAD`: not offered.
    pub Rfc6877Xlat: [u32; 2],
    pub UdpSegmentation: NDIS_UDP_SEGMENTATION_OFFLOAD,
}
/// `NDIS_SIZEOF_NDIS_OFFLOAD_REVISION_3` (ntddndis.h): through `EncapsulatedPacketTaskOffloadGre`.
pub const NDIS_OFFLOAD_SIZE_REVISION_3: usize =
    offset_of!(NDIS_OFFLOAD, EncapsulatedPacketTaskOffloadGre) + size_of::<[u32; 2]>();
/// `NDIS_SIZEOF_NDIS_OFFLOAD_REVISION_5` (ntddndis.h): through `Rfc6877Xlat`.
pub const NDIS_OFFLOAD_SIZE_REVISION_5: usize = offset_of!(NDIS_OFFLOAD, Rfc6877Xlat) + size_of::<[u32; 2]>();
/// `NDIS_SIZEOF_NDIS_OFFLOAD_REVISION_6` (ntddndis.h of WDK 10.0.26100): through `UdpSegmentation`.
pub const NDIS_OFFLOAD_SIZE_REVISION_6: usize =
    offset_of!(NDIS_OFFLOAD, UdpSegmentation) + size_of::<NDIS_UDP_SEGMENTATION_OFFLOAD>();
/// `NDIS_MINIPORT_ADAPTER_OFFLOAD_ATTRIBUTES` (ndis.h; revision 1).
#[repr(C)]
pub struct NDIS_MINIPORT_ADAPTER_OFFLOAD_ATTRIBUTES {
    pub Header: NDIS_OBJECT_HEADER,
    pub DefaultOffloadConfiguration: *mut NDIS_OFFLOAD,
    pub HardwareOffloadCapabilities: *mut NDIS_OFFLOAD,
    pub DefaultTcpConnectionOffloadConfiguration: *mut c_void,
    pub TcpConnectionOffloadHardwareCapabilities: *mut c_void,
}
/// `NDIS_OFFLOAD_PARAMETERS` (ntddndis.h) through `UdpSegmentation` (revision 5, NDIS 6.83, of WDK
/// 10.0.26100; through `EncapsulationProtocolParameters`, revision 4, the 16299 layout). The
/// engine reads it from bytes (`crate::engine::offload::OffloadParameters::parse`) at the offsets
/// asserted equal to these below.
#[repr(C)]
pub struct NDIS_OFFLOAD_PARAMETERS {
    pub Header: NDIS_OBJECT_HEADER,
    pub IPv4Checksum: u8,
    pub TCPIPv4Checksum: u8,
    pub UDPIPv4Checksum: u8,
    pub TCPIPv6Checksum: u8,
    pub UDPIPv6Checksum: u8,
    pub LsoV1: u8,
    pub IPsecV1: u8,
    pub LsoV2IPv4: u8,
    pub LsoV2IPv6: u8,
    pub TcpConnectionIPv4: u8,
    pub TcpConnectionIPv6: u8,
    pub Flags: u32,
    pub IPsecV2: u8,
    pub IPsecV2IPv4: u8,
    pub RscIPv4: u8,
    pub RscIPv6: u8,
    pub EncapsulatedPacketTaskOffload: u8,
    pub EncapsulationTypes: u8,
    /// A union of `VxlanParameters` (one USHORT) and a ULONG `Value`.
    pub EncapsulationProtocolParameters: u32,
    /// A structure of two UCHARs, `IPv4` and `IPv6`.
    pub UdpSegmentation: [u8; 2],
}

/// `NDIS_TCP_LARGE_SEND_OFFLOAD_NET_BUFFER_LIST_INFO` (ndis.h): a union of bit-field structures
/// and a PVOID `Value`, kept in `NetBufferListInfo[TcpLargeSendNetBufferListInfo]`.
#[repr(C)]
pub struct NDIS_TCP_LARGE_SEND_OFFLOAD_NET_BUFFER_LIST_INFO {
    pub Value: *mut c_void,
}
pub const LSO_TRANSMIT_TYPE: Bits = bits!(NDIS_TCP_LARGE_SEND_OFFLOAD_NET_BUFFER_LIST_INFO, "Transmit.Type", 0, 30, 1);
pub const LSO_V2_TRANSMIT_MSS: Bits =
    bits!(NDIS_TCP_LARGE_SEND_OFFLOAD_NET_BUFFER_LIST_INFO, "LsoV2Transmit.MSS", 0, 0, 20);
pub const LSO_V2_TRANSMIT_TCP_HEADER_OFFSET: Bits =
    bits!(NDIS_TCP_LARGE_SEND_OFFLOAD_NET_BUFFER_LIST_INFO, "LsoV2Transmit.TcpHeaderOffset", 0, 20, 10);
pub const LSO_V2_TRANSMIT_IP_VERSION: Bits =
    bits!(NDIS_TCP_LARGE_SEND_OFFLOAD_NET_BUFFER_LIST_INFO, "LsoV2Transmit.IPVersion", 0, 31, 1);
pub const LSO_V1_TRANSMIT_COMPLETE_TCP_PAYLOAD: Bits =
    bits!(NDIS_TCP_LARGE_SEND_OFFLOAD_NET_BUFFER_LIST_INFO, "LsoV1TransmitComplete.TcpPayload", 0, 0, 30);
pub const LSO_V1_TRANSMIT_COMPLETE_TYPE: Bits =
    bits!(NDIS_TCP_LARGE_SEND_OFFLOAD_NET_BUFFER_LIST_INFO, "LsoV1TransmitComplete.Type", 0, 30, 1);
pub const LSO_V2_TRANSMIT_COMPLETE_RESERVED: Bits =
    bits!(NDIS_TCP_LARGE_SEND_OFFLOAD_NET_BUFFER_LIST_INFO, "LsoV2TransmitComplete.Reserved", 0, 0, 30);
pub const LSO_V2_TRANSMIT_COMPLETE_TYPE: Bits =
    bits!(NDIS_TCP_LARGE_SEND_OFFLOAD_NET_BUFFER_LIST_INFO, "LsoV2TransmitComplete.Type", 0, 30, 1);
/// `NDIS_TCP_IP_CHECKSUM_NET_BUFFER_LIST_INFO` (ndis.h), in
/// `NetBufferListInfo[TcpIpChecksumNetBufferListInfo]`.
#[repr(C)]
pub struct NDIS_TCP_IP_CHECKSUM_NET_BUFFER_LIST_INFO {
    pub Value: *mut c_void,
}
pub const CHECKSUM_TRANSMIT_IS_IPV4: Bits =
    bits!(NDIS_TCP_IP_CHECKSUM_NET_BUFFER_LIST_INFO, "Transmit.IsIPv4", 0, 0, 1);
pub const CHECKSUM_TRANSMIT_IS_IPV6: Bits =
    bits!(NDIS_TCP_IP_CHECKSUM_NET_BUFFER_LIST_INFO, "Transmit.IsIPv6", 0, 1, 1);
pub const CHECKSUM_TRANSMIT_TCP: Bits =
    bits!(NDIS_TCP_IP_CHECKSUM_NET_BUFFER_LIST_INFO, "Transmit.TcpChecksum", 0, 2, 1);
pub const CHECKSUM_TRANSMIT_UDP: Bits =
    bits!(NDIS_TCP_IP_CHECKSUM_NET_BUFFER_LIST_INFO, "Transmit.UdpChecksum", 0, 3, 1);
pub const CHECKSUM_TRANSMIT_IP_HEADER: Bits =
    bits!(NDIS_TCP_IP_CHECKSUM_NET_BUFFER_LIST_INFO, "Transmit.IpHeaderChecksum", 0, 4, 1);
pub const CHECKSUM_RECEIVE_TCP_SUCCEEDED: Bits =
    bits!(NDIS_TCP_IP_CHECKSUM_NET_BUFFER_LIST_INFO, "Receive.TcpChecksumSucceeded", 0, 3, 1);
pub const CHECKSUM_RECEIVE_UDP_SUCCEEDED: Bits =
    bits!(NDIS_TCP_IP_CHECKSUM_NET_BUFFER_LIST_INFO, "Receive.UdpChecksumSucceeded", 0, 4, 1);
pub const CHECKSUM_RECEIVE_IP_SUCCEEDED: Bits =
    bits!(NDIS_TCP_IP_CHECKSUM_NET_BUFFER_LIST_INFO, "Receive.IpChecksumSucceeded", 0, 5, 1);
// NDIS 6.30 (`NDIS_SUPPORT_NDIS630` in ndis.h): the checksums were validated, but the TCP or IPv4
// header checksum field does not hold the value (a coalesced unit whose checksums were not
// recomputed).
pub const CHECKSUM_RECEIVE_TCP_VALUE_INVALID: Bits =
    bits!(NDIS_TCP_IP_CHECKSUM_NET_BUFFER_LIST_INFO, "Receive.TcpChecksumValueInvalid", 0, 7, 1);
pub const CHECKSUM_RECEIVE_IP_VALUE_INVALID: Bits =
    bits!(NDIS_TCP_IP_CHECKSUM_NET_BUFFER_LIST_INFO, "Receive.IpChecksumValueInvalid", 0, 8, 1);
/// `NDIS_UDP_SEGMENTATION_OFFLOAD_NET_BUFFER_LIST_INFO` (nbluso.h of WDK 10.0.26100), in
/// `NetBufferListInfo[UdpSegmentationOffloadInfo]`.
#[repr(C)]
pub struct NDIS_UDP_SEGMENTATION_OFFLOAD_NET_BUFFER_LIST_INFO {
    pub Value: *mut c_void,
}
pub const USO_TRANSMIT_MSS: Bits = bits!(NDIS_UDP_SEGMENTATION_OFFLOAD_NET_BUFFER_LIST_INFO, "Transmit.MSS", 0, 0, 20);
pub const USO_TRANSMIT_IP_VERSION: Bits =
    bits!(NDIS_UDP_SEGMENTATION_OFFLOAD_NET_BUFFER_LIST_INFO, "Transmit.IPVersion", 0, 31, 1);
/// `NDIS_RSC_NBL_INFO` (ndis.h): a union of `Info` (two USHORTs, `CoalescedSegCount` and
/// `DupAckCount`) and a PVOID `Value`, in `NetBufferListInfo[TcpRecvSegCoalesceInfo]`.
#[repr(C)]
pub struct NDIS_RSC_NBL_INFO {
    pub Value: *mut c_void,
}
pub const RSC_COALESCED_SEG_COUNT: Bits = bits!(NDIS_RSC_NBL_INFO, "Info.CoalescedSegCount", 0, 0, 16);
pub const RSC_DUP_ACK_COUNT: Bits = bits!(NDIS_RSC_NBL_INFO, "Info.DupAckCount", 0, 16, 16);

// The exports of ndis.sys the shell calls (ndis.h); those returning a status are `#[must_use]`,
// as wdk-sys makes every NTSTATUS-returning binding.
#[link(name = "ndis")]
extern "system" {
    #[must_use]
    pub fn NdisMRegisterMiniportDriver(
        DriverObject: PDRIVER_OBJECT,
        RegistryPath: PUNICODE_STRING,
        MiniportDriverContext: NDIS_HANDLE,
        MiniportDriverCharacteristics: *const NDIS_MINIPORT_DRIVER_CHARACTERISTICS,
        NdisMiniportDriverHandle: *mut NDIS_HANDLE,
    ) -> NDIS_STATUS;
    pub fn NdisMDeregisterMiniportDriver(NdisMiniportDriverHandle: NDIS_HANDLE);
    /// The running NDIS version, `major << 16 | minor`.
    pub fn NdisGetVersion() -> u32;
    #[must_use]
    pub fn NdisMSetMiniportAttributes(
        NdisMiniportAdapterHandle: NDIS_HANDLE,
        MiniportAttributes: *mut c_void,
    ) -> NDIS_STATUS;
    pub fn NdisAllocateNetBufferListPool(
        NdisHandle: NDIS_HANDLE,
        Parameters: *const NET_BUFFER_LIST_POOL_PARAMETERS,
    ) -> NDIS_HANDLE;
    pub fn NdisFreeNetBufferListPool(PoolHandle: NDIS_HANDLE);
    pub fn NdisAllocateNetBufferAndNetBufferList(
        PoolHandle: NDIS_HANDLE,
        ContextSize: u16,
        ContextBackFill: u16,
        MdlChain: PMDL,
        DataOffset: u32,
        DataLength: usize,
    ) -> *mut NET_BUFFER_LIST;
    pub fn NdisFreeNetBufferList(NetBufferList: *mut NET_BUFFER_LIST);
    pub fn NdisMIndicateReceiveNetBufferLists(
        MiniportAdapterHandle: NDIS_HANDLE,
        NetBufferList: *mut NET_BUFFER_LIST,
        PortNumber: NDIS_PORT_NUMBER,
        NumberOfNetBufferLists: u32,
        ReceiveFlags: u32,
    );
    pub fn NdisMSendNetBufferListsComplete(
        MiniportAdapterHandle: NDIS_HANDLE,
        NetBufferList: *mut NET_BUFFER_LIST,
        SendCompleteFlags: u32,
    );
    pub fn NdisMIndicateStatusEx(MiniportAdapterHandle: NDIS_HANDLE, StatusIndication: *const NDIS_STATUS_INDICATION);
    /// Opens the adapter's registry key (its driver key in the device's class), at PASSIVE_LEVEL.
    #[must_use]
    pub fn NdisOpenConfigurationEx(
        ConfigObject: *const NDIS_CONFIGURATION_OBJECT,
        ConfigurationHandle: *mut NDIS_HANDLE,
    ) -> NDIS_STATUS;
    /// Reads one value of an open configuration; the parameter stays NDIS's until the handle is
    /// closed. `Keyword` is `_In_` (NDIS does not write it).
    pub fn NdisReadConfiguration(
        Status: *mut NDIS_STATUS,
        ParameterValue: *mut *mut NDIS_CONFIGURATION_PARAMETER,
        ConfigurationHandle: NDIS_HANDLE,
        Keyword: PUNICODE_STRING,
        ParameterType: u32,
    );
    pub fn NdisCloseConfiguration(ConfigurationHandle: NDIS_HANDLE);
    pub fn NdisMGetDeviceProperty(
        MiniportAdapterHandle: NDIS_HANDLE,
        PhysicalDeviceObject: *mut wdk_sys::PDEVICE_OBJECT,
        FunctionalDeviceObject: *mut wdk_sys::PDEVICE_OBJECT,
        NextDeviceObject: *mut wdk_sys::PDEVICE_OBJECT,
        AllocatedResources: *mut c_void,
        AllocatedResourcesTranslated: *mut c_void,
    );
}

// ---- layout assertions ----

macro_rules! assert_layout {
    ($ty:ty, size: $size:expr, { $($field:ident: $off:expr),* $(,)? }) => {
        const _: () = assert!(size_of::<$ty>() == $size, concat!("size of ", stringify!($ty)));
        $( const _: () = assert!(offset_of!($ty, $field) == $off, concat!(stringify!($ty), ".", stringify!($field))); )*
    };
}

assert_layout!(NDIS_OBJECT_HEADER, size: 4, { Type: 0, Revision: 1, Size: 2 });
assert_layout!(NDIS_LINK_STATE, size: 0x28, {
    Header: 0, MediaConnectState: 4, MediaDuplexState: 8, XmitLinkSpeed: 0x10, RcvLinkSpeed: 0x18,
    PauseFunctions: 0x20, AutoNegotiationFlags: 0x24,
});
assert_layout!(NDIS_STATISTICS_INFO, size: 0x98, {
    Header: 0, SupportedStatistics: 4, ifInDiscards: 8, ifInErrors: 0x10, ifHCInOctets: 0x18,
    ifHCInUcastPkts: 0x20, ifHCOutOctets: 0x38, ifHCOutUcastPkts: 0x40, ifOutErrors: 0x58, ifOutDiscards: 0x60,
    ifHCInUcastOctets: 0x68, ifHCOutUcastOctets: 0x80, ifHCOutBroadcastOctets: 0x90,
});
assert_layout!(NDIS_INTERRUPT_MODERATION_PARAMETERS, size: 12, { Header: 0, Flags: 4, InterruptModeration: 8 });
assert_layout!(NDIS_OFFLOAD_ENCAPSULATION, size: 28, { Header: 0, IPv4: 4, IPv6: 16 });
assert_layout!(NDIS_RSC_STATISTICS_INFO, size: 40, {
    Header: 0, CoalescedPkts: 8, CoalescedOctets: 0x10, CoalesceEvents: 0x18, Aborts: 0x20,
});
assert_layout!(NDIS_PM_CAPABILITIES, size: 0x3C, {
    Header: 0, Flags: 4, SupportedWoLPacketPatterns: 8, NumTotalWoLPatterns: 0xC, MaxWoLPatternSize: 0x10,
    MaxWoLPatternOffset: 0x14, MaxWoLPacketSaveBuffer: 0x18, SupportedProtocolOffloads: 0x1C,
    NumArpOffloadIPv4Addresses: 0x20, NumNSOffloadIPv6Addresses: 0x24, MinMagicPacketWakeUp: 0x28,
    MinPatternWakeUp: 0x2C, MinLinkChangeWakeUp: 0x30, SupportedWakeUpEvents: 0x34, MediaSpecificWakeUpEvents: 0x38,
});
assert_layout!(NET_BUFFER_LIST_POOL_PARAMETERS, size: 16, {
    Header: 0, ProtocolId: 4, fAllocateNetBuffer: 5, ContextSize: 6, PoolTag: 8, DataSize: 12,
});

// The 64-bit layouts (x64 and arm64; the shell is built for nothing else).
assert_layout!(NDIS_CONFIGURATION_OBJECT, size: 24, { Header: 0, NdisHandle: 8, Flags: 16 });
const _: () = assert!(CONFIGURATION_OBJECT_SIZE_REVISION_1 == 20);
assert_layout!(NDIS_CONFIGURATION_PARAMETER, size: 24, { ParameterType: 0, ParameterData: 8 });
assert_layout!(NDIS_MINIPORT_DRIVER_CHARACTERISTICS, size: 0xA0, {
    Header: 0, MajorNdisVersion: 4, MinorNdisVersion: 5, MajorDriverVersion: 6, MinorDriverVersion: 7,
    Flags: 8, SetOptionsHandler: 0x10, InitializeHandlerEx: 0x18, HaltHandlerEx: 0x20, UnloadHandler: 0x28,
    PauseHandler: 0x30, RestartHandler: 0x38, OidRequestHandler: 0x40, SendNetBufferListsHandler: 0x48,
    ReturnNetBufferListsHandler: 0x50, CancelSendHandler: 0x58, CheckForHangHandlerEx: 0x60,
    ResetHandlerEx: 0x68, DevicePnPEventNotifyHandler: 0x70, ShutdownHandlerEx: 0x78,
    CancelOidRequestHandler: 0x80, DirectOidRequestHandler: 0x88, CancelDirectOidRequestHandler: 0x90,
    SynchronousOidRequestHandler: 0x98,
});
const _: () = assert!(CHARACTERISTICS_SIZE_REVISION_2 == 0x98);
const _: () = assert!(REGISTRATION_ATTRIBUTES_SIZE_REVISION_2 == 0x1C);
assert_layout!(NDIS_MINIPORT_ADAPTER_REGISTRATION_ATTRIBUTES, size: 0x20, {
    Header: 0, MiniportAdapterContext: 8, AttributeFlags: 0x10, CheckForHangTimeInSeconds: 0x14,
    InterfaceType: 0x18,
});
assert_layout!(NDIS_MINIPORT_ADAPTER_GENERAL_ATTRIBUTES, size: 0xE0, {
    Header: 0, Flags: 4, MediaType: 8, PhysicalMediumType: 0xC, MtuSize: 0x10, MaxXmitLinkSpeed: 0x18,
    XmitLinkSpeed: 0x20, MaxRcvLinkSpeed: 0x28, RcvLinkSpeed: 0x30, MediaConnectState: 0x38,
    MediaDuplexState: 0x3C, LookaheadSize: 0x40, PowerManagementCapabilities: 0x48, MacOptions: 0x50,
    SupportedPacketFilters: 0x54, MaxMulticastListSize: 0x58, MacAddressLength: 0x5C,
    PermanentMacAddress: 0x5E, CurrentMacAddress: 0x7E, RecvScaleCapabilities: 0xA0, AccessType: 0xA8,
    DirectionType: 0xAC, ConnectionType: 0xB0, IfType: 0xB4, IfConnectorPresent: 0xB6,
    SupportedStatistics: 0xB8, SupportedPauseFunctions: 0xBC, DataBackFillSize: 0xC0,
    ContextBackFillSize: 0xC4, SupportedOidList: 0xC8, SupportedOidListLength: 0xD0,
    AutoNegotiationFlags: 0xD4, PowerManagementCapabilitiesEx: 0xD8,
});
assert_layout!(NDIS_STATUS_INDICATION, size: 0x70, {
    Header: 0, SourceHandle: 8, PortNumber: 0x10, StatusCode: 0x14, Flags: 0x18, DestinationHandle: 0x20,
    RequestId: 0x28, StatusBuffer: 0x30, StatusBufferSize: 0x38, Guid: 0x3C, NdisReserved: 0x50,
});
assert_layout!(NDIS_OID_REQUEST, size: 0x40, {
    Header: 0, RequestType: 4, PortNumber: 8, Timeout: 0xC, RequestId: 0x10, RequestHandle: 0x18, DATA: 0x20,
});
assert_layout!(NDIS_OID_REQUEST_INFORMATION, size: 0x20, {
    Oid: 0, InformationBuffer: 8, InformationBufferLength: 0x10, BytesWrittenOrRead: 0x14, BytesNeeded: 0x18,
});
assert_layout!(NET_DEVICE_PNP_EVENT, size: 0x20, {
    Header: 0, PortNumber: 4, DevicePnPEvent: 8, InformationBuffer: 0x10, InformationBufferLength: 0x18,
});
assert_layout!(NET_BUFFER, size: 0x30, {
    Next: 0, CurrentMdl: 8, CurrentMdlOffset: 0x10, DataLength: 0x18, MdlChain: 0x20, DataOffset: 0x28,
});
assert_layout!(NET_BUFFER_LIST, size: 0x150, {
    Next: 0, FirstNetBuffer: 8, Context: 0x10, ParentNetBufferList: 0x18, NdisPoolHandle: 0x20,
    NdisReserved: 0x30, ProtocolReserved: 0x40, MiniportReserved: 0x60, Scratch: 0x70, SourceHandle: 0x78,
    NblFlags: 0x80, ChildRefCount: 0x84, Flags: 0x88, Status: 0x8C, NetBufferListInfo: 0x90,
});
// Through NetBufferListInfo[TcpRecvSegCoalesceInfo] (0x90 + 23 * 8 = 0x148), padded to the 16-byte
// alignment of the reserved arrays: the part the shell may touch of a structure NDIS allocates.
assert_layout!(NDIS_TCP_IP_CHECKSUM_OFFLOAD, size: 32, {
    IPv4Transmit: 0, IPv4Receive: 8, IPv6Transmit: 16, IPv6Receive: 24,
});
assert_layout!(NDIS_TCP_LARGE_SEND_OFFLOAD_V1, size: 16, { IPv4: 0 });
assert_layout!(NDIS_TCP_LARGE_SEND_OFFLOAD_V2, size: 28, { IPv4: 0, IPv6: 12 });
assert_layout!(NDIS_TCP_RECV_SEG_COALESCE_OFFLOAD, size: 2, { IPv4: 0, IPv6: 1 });
assert_layout!(NDIS_UDP_SEGMENTATION_OFFLOAD, size: 28, { IPv4: 0, IPv6: 12 });
assert_layout!(NDIS_OFFLOAD, size: 216, {
    Header: 0, Checksum: 4, LsoV1: 36, IPsecV1: 52, LsoV2: 80, Flags: 108, IPsecV2: 112, Rsc: 144,
    EncapsulatedPacketTaskOffloadGre: 148, EncapsulatedPacketTaskOffloadVxlan: 156, EncapsulationTypes: 176,
    Rfc6877Xlat: 180, UdpSegmentation: 188,
});
const _: () = assert!(NDIS_OFFLOAD_SIZE_REVISION_3 == 156);
const _: () = assert!(NDIS_OFFLOAD_SIZE_REVISION_5 == 188);
const _: () = assert!(NDIS_OFFLOAD_SIZE_REVISION_6 == 216);
assert_layout!(NDIS_MINIPORT_ADAPTER_OFFLOAD_ATTRIBUTES, size: 40, {
    Header: 0, DefaultOffloadConfiguration: 8, HardwareOffloadCapabilities: 16,
    DefaultTcpConnectionOffloadConfiguration: 24, TcpConnectionOffloadHardwareCapabilities: 32,
});
assert_layout!(NDIS_OFFLOAD_PARAMETERS, size: 36, {
    Header: 0, IPv4Checksum: 4, TCPIPv4Checksum: 5, UDPIPv4Checksum: 6, TCPIPv6Checksum: 7, UDPIPv6Checksum: 8,
    LsoV1: 9, IPsecV1: 10, LsoV2IPv4: 11, LsoV2IPv6: 12, TcpConnectionIPv4: 13, TcpConnectionIPv6: 14,
    Flags: 16, IPsecV2: 20, IPsecV2IPv4: 21, RscIPv4: 22, RscIPv6: 23, EncapsulatedPacketTaskOffload: 24,
    EncapsulationTypes: 25, EncapsulationProtocolParameters: 28, UdpSegmentation: 32,
});
assert_layout!(NDIS_TCP_LARGE_SEND_OFFLOAD_NET_BUFFER_LIST_INFO, size: 8, { Value: 0 });
assert_layout!(NDIS_TCP_IP_CHECKSUM_NET_BUFFER_LIST_INFO, size: 8, { Value: 0 });
assert_layout!(NDIS_UDP_SEGMENTATION_OFFLOAD_NET_BUFFER_LIST_INFO, size: 8, { Value: 0 });
assert_layout!(NDIS_RSC_NBL_INFO, size: 8, { Value: 0 });
