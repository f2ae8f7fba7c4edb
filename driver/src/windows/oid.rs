//! `NDIS_OID_REQUEST` to and from the engine's OID answers.

#![allow(non_upper_case_globals)]

use core::mem::size_of;
use core::ptr;

use super::ndis::*;
use super::platform::KernelPlatform;
use crate::engine::oid::{
    encode_oid_value, reports_task_offloads, InterfaceStatistics, OidError, OidValue, RscStatistics,
};
use crate::engine::Adapter;

/// The counters advertised in the general attributes' `SupportedStatistics`: the
/// `NDIS_STATISTICS_*_SUPPORTED` family (ndis.h), one bit per counter the engine keeps (see
/// [`InterfaceStatistics`]) and `GEN_STATISTICS_SUPPORTED` for `OID_GEN_STATISTICS`.
pub const ADVERTISED_STATISTICS: u32 = NDIS_STATISTICS_XMIT_OK_SUPPORTED
    | NDIS_STATISTICS_RCV_OK_SUPPORTED
    | NDIS_STATISTICS_XMIT_ERROR_SUPPORTED
    | NDIS_STATISTICS_RCV_ERROR_SUPPORTED
    | NDIS_STATISTICS_DIRECTED_BYTES_XMIT_SUPPORTED
    | NDIS_STATISTICS_DIRECTED_FRAMES_XMIT_SUPPORTED
    | NDIS_STATISTICS_DIRECTED_BYTES_RCV_SUPPORTED
    | NDIS_STATISTICS_DIRECTED_FRAMES_RCV_SUPPORTED
    | NDIS_STATISTICS_BYTES_RCV_SUPPORTED
    | NDIS_STATISTICS_BYTES_XMIT_SUPPORTED
    | NDIS_STATISTICS_RCV_DISCARDS_SUPPORTED
    | NDIS_STATISTICS_XMIT_DISCARDS_SUPPORTED
    | NDIS_STATISTICS_GEN_STATISTICS_SUPPORTED;
// The two families share no meaning: GEN_STATISTICS_SUPPORTED (0x0040_0000) is beyond every
// NDIS_STATISTICS_FLAGS_VALID_* bit, so a VALID_* set in the general attributes fails here.
const _: () = assert!(ADVERTISED_STATISTICS & NDIS_STATISTICS_GEN_STATISTICS_SUPPORTED != 0);
const _: () = assert!(SUPPORTED_STATISTICS & NDIS_STATISTICS_GEN_STATISTICS_SUPPORTED == 0);

/// The counters an `NDIS_STATISTICS_INFO` answer carries: the `NDIS_STATISTICS_FLAGS_VALID_*`
/// family (ntddndis.h), a different set of bits from [`ADVERTISED_STATISTICS`].
pub const SUPPORTED_STATISTICS: u32 = NDIS_STATISTICS_FLAGS_VALID_DIRECTED_FRAMES_RCV
    | NDIS_STATISTICS_FLAGS_VALID_BYTES_RCV
    | NDIS_STATISTICS_FLAGS_VALID_DIRECTED_BYTES_RCV
    | NDIS_STATISTICS_FLAGS_VALID_RCV_DISCARDS
    | NDIS_STATISTICS_FLAGS_VALID_RCV_ERROR
    | NDIS_STATISTICS_FLAGS_VALID_DIRECTED_FRAMES_XMIT
    | NDIS_STATISTICS_FLAGS_VALID_BYTES_XMIT
    | NDIS_STATISTICS_FLAGS_VALID_DIRECTED_BYTES_XMIT
    | NDIS_STATISTICS_FLAGS_VALID_XMIT_DISCARDS
    | NDIS_STATISTICS_FLAGS_VALID_XMIT_ERROR;

fn statistics_info(s: &InterfaceStatistics) -> NDIS_STATISTICS_INFO {
    NDIS_STATISTICS_INFO {
        Header: NDIS_OBJECT_HEADER::of::<NDIS_STATISTICS_INFO>(
            NDIS_OBJECT_TYPE_DEFAULT,
            NDIS_STATISTICS_INFO_REVISION_1,
        ),
        SupportedStatistics: SUPPORTED_STATISTICS,
        ifInDiscards: s.in_discards,
        ifInErrors: s.in_errors,
        ifHCInOctets: s.in_octets,
        ifHCInUcastPkts: s.in_packets,
        ifHCInUcastOctets: s.in_octets,
        ifHCOutOctets: s.out_octets,
        ifHCOutUcastPkts: s.out_packets,
        ifHCOutUcastOctets: s.out_octets,
        ifOutErrors: s.out_errors,
        ifOutDiscards: s.out_discards,
        ..NDIS_STATISTICS_INFO::default()
    }
}

fn rsc_statistics_info(s: &RscStatistics) -> NDIS_RSC_STATISTICS_INFO {
    NDIS_RSC_STATISTICS_INFO {
        Header: NDIS_OBJECT_HEADER::of::<NDIS_RSC_STATISTICS_INFO>(
            NDIS_OBJECT_TYPE_DEFAULT,
            NDIS_RSC_STATISTICS_REVISION_1,
        ),
        CoalescedPkts: s.coalesced_packets,
        CoalescedOctets: s.coalesced_octets,
        CoalesceEvents: s.coalesce_events,
        Aborts: s.aborts,
    }
}

fn interrupt_moderation_not_supported() -> NDIS_INTERRUPT_MODERATION_PARAMETERS {
    NDIS_INTERRUPT_MODERATION_PARAMETERS {
        Header: NDIS_OBJECT_HEADER::of::<NDIS_INTERRUPT_MODERATION_PARAMETERS>(
            NDIS_OBJECT_TYPE_DEFAULT,
            NDIS_INTERRUPT_MODERATION_PARAMETERS_REVISION_1,
        ),
        Flags: 0,
        InterruptModeration: NdisInterruptModerationNotSupported,
    }
}

/// Copies a structured answer into the caller's buffer.
fn write_struct<T>(info: &mut NDIS_OID_REQUEST_INFORMATION, buffer: &mut [u8], value: T) -> NDIS_STATUS {
    let size = size_of::<T>() as u32;
    info.BytesNeeded = size;
    if buffer.len() < size_of::<T>() {
        info.BytesWrittenOrRead = 0;
        return NDIS_STATUS_BUFFER_TOO_SHORT;
    }
    // SAFETY: the buffer holds at least `size_of::<T>()` bytes; unaligned write of plain data.
    unsafe { ptr::write_unaligned(buffer.as_mut_ptr().cast::<T>(), value) };
    info.BytesWrittenOrRead = size;
    NDIS_STATUS_SUCCESS
}

/// The status of a failed request; nothing was written or read, and only a buffer that is too
/// short says how many bytes are needed.
fn error_status(error: OidError, info: &mut NDIS_OID_REQUEST_INFORMATION, set: bool) -> NDIS_STATUS {
    info.BytesWrittenOrRead = 0;
    info.BytesNeeded = 0;
    match error {
        OidError::NotSupported => NDIS_STATUS_NOT_SUPPORTED,
        OidError::InvalidData => NDIS_STATUS_INVALID_DATA,
        OidError::InvalidParameter => NDIS_STATUS_INVALID_PARAMETER,
        OidError::BufferTooShort { needed } => {
            info.BytesNeeded = needed;
            if set {
                NDIS_STATUS_INVALID_LENGTH
            } else {
                NDIS_STATUS_BUFFER_TOO_SHORT
            }
        }
    }
}

/// Serves one OID request synchronously.
///
/// # Safety
/// `request` is a valid request NDIS owns for the duration of the call, whose information buffer
/// (if not null) holds `InformationBufferLength` bytes.
pub unsafe fn handle_oid_request(adapter: &Adapter<KernelPlatform>, request: *mut NDIS_OID_REQUEST) -> NDIS_STATUS {
    // SAFETY: valid for the call (contract).
    let request = unsafe { &mut *request };
    let request_type = request.RequestType;
    let info = &mut request.DATA;
    let len = info.InformationBufferLength as usize;
    let buffer: &mut [u8] = if info.InformationBuffer.is_null() || len == 0 {
        &mut []
    } else {
        // SAFETY: the buffer holds `len` bytes (contract) and is ours for the call.
        unsafe { core::slice::from_raw_parts_mut(info.InformationBuffer.cast::<u8>(), len) }
    };
    match request_type {
        NdisRequestQueryInformation | NdisRequestQueryStatistics => match adapter.query_oid(info.Oid) {
            Ok(OidValue::Statistics(s)) => write_struct(info, buffer, statistics_info(&s)),
            Ok(OidValue::InterruptModerationNotSupported) => {
                write_struct(info, buffer, interrupt_moderation_not_supported())
            }
            Ok(OidValue::RscStatistics(s)) => write_struct(info, buffer, rsc_statistics_info(&s)),
            Ok(value) => match encode_oid_value(&value, buffer) {
                Ok((written, needed)) => {
                    info.BytesWrittenOrRead = written;
                    info.BytesNeeded = needed;
                    NDIS_STATUS_SUCCESS
                }
                Err(e) => error_status(e, info, false),
            },
            Err(e) => error_status(e, info, false),
        },
        NdisRequestSetInformation => match adapter.set_oid(info.Oid, buffer) {
            Ok(read) => {
                info.BytesWrittenOrRead = read;
                info.BytesNeeded = 0;
                // NDIS: after every OID_TCP_OFFLOAD_PARAMETERS and OID_OFFLOAD_ENCAPSULATION it
                // completed, the miniport reports the offloads on
                // (NDIS_STATUS_TASK_OFFLOAD_CURRENT_CONFIG).
                if reports_task_offloads(info.Oid) {
                    adapter.platform().indicate_task_offloads(adapter.task_offloads());
                }
                NDIS_STATUS_SUCCESS
            }
            Err(e) => error_status(e, info, true),
        },
        // A request type this miniport does not serve (method requests), as Wintun answers it.
        _ => NDIS_STATUS_INVALID_OID,
    }
}

/// Answers a direct (`MiniportDirectOidRequest`, NDIS 6.1) or synchronous
/// (`MiniportSynchronousOidRequest`, NDIS 6.80) OID request: the adapter supports neither path.
/// Both accept only OIDs defined for them (none that existed before NDIS 6.1, none the adapter
/// answers), NDIS does not serialize them with other requests, and they arrive at up to
/// DISPATCH_LEVEL (ndis.h: `_IRQL_requires_max_(DISPATCH_LEVEL)`). So a query or set is
/// recognized and refused, `NDIS_STATUS_NOT_SUPPORTED`, and any other request type is not a
/// request these paths carry, `NDIS_STATUS_INVALID_OID`. These are Wintun's answers on both paths.
///
/// Only `RequestType` is read, and nothing is written: not even the byte counts. `DATA` is a
/// union (ndis.h, WDK 10.0.16299: `NDIS_OID_REQUEST::DATA`) whose arm `RequestType` selects, and
/// in the `METHOD_INFORMATION` arm the offsets of the query/set arm's `BytesWritten` and
/// `BytesNeeded` (0x14, 0x18) hold the caller's `OutputBufferLength` and `MethodId`. None of the
/// statuses returned here gives the counts a meaning (they are defined for success and for a
/// buffer too short), so even for a query or set there is nothing worth writing, and the request
/// leaves as it came, as from Wintun's handlers.
///
/// # Safety
/// `request` is a valid request NDIS owns for the duration of the call.
pub unsafe fn refuse_oid_request(request: *const NDIS_OID_REQUEST) -> NDIS_STATUS {
    // SAFETY: valid for the call (contract); only read.
    let request_type = unsafe { (*request).RequestType };
    match request_type {
        NdisRequestQueryInformation | NdisRequestQueryStatistics | NdisRequestSetInformation => {
            NDIS_STATUS_NOT_SUPPORTED
        }
        _ => NDIS_STATUS_INVALID_OID,
    }
}

// The engine reads `NDIS_OFFLOAD_ENCAPSULATION` from bytes at these offsets; they are those of the
// declaration the layout check compares with the headers.
const _: () = {
    use core::mem::offset_of;

    use crate::engine::oid::{encapsulation_layout as at, OFFLOAD_ENCAPSULATION_SIZE};
    type E = NDIS_OFFLOAD_ENCAPSULATION;
    type V = NDIS_OFFLOAD_ENCAPSULATION_VERSION;
    assert!(offset_of!(E, Header) + offset_of!(NDIS_OBJECT_HEADER, Type) == at::HEADER_TYPE);
    assert!(offset_of!(E, Header) + offset_of!(NDIS_OBJECT_HEADER, Revision) == at::HEADER_REVISION);
    assert!(offset_of!(E, Header) + offset_of!(NDIS_OBJECT_HEADER, Size) == at::HEADER_SIZE);
    assert!(offset_of!(E, IPv4) + offset_of!(V, Enabled) == at::IPV4);
    assert!(offset_of!(E, IPv4) + offset_of!(V, EncapsulationType) == at::IPV4 + 4);
    assert!(offset_of!(E, IPv6) + offset_of!(V, Enabled) == at::IPV6);
    assert!(offset_of!(E, IPv6) + offset_of!(V, EncapsulationType) == at::IPV6 + 4);
    assert!(core::mem::size_of::<E>() == OFFLOAD_ENCAPSULATION_SIZE as usize);
    // The engine's values of the request's constants are the header's (ndis.rs, checked).
    use crate::engine::oid as engine;
    assert!(engine::NDIS_OBJECT_TYPE_OFFLOAD_ENCAPSULATION == NDIS_OBJECT_TYPE_OFFLOAD_ENCAPSULATION);
    assert!(engine::NDIS_OFFLOAD_SET_NO_CHANGE == NDIS_OFFLOAD_SET_NO_CHANGE);
    assert!(engine::NDIS_OFFLOAD_SET_ON == NDIS_OFFLOAD_SET_ON);
    assert!(engine::NDIS_OFFLOAD_SET_OFF == NDIS_OFFLOAD_SET_OFF);
    assert!(engine::NDIS_ENCAPSULATION_NULL == NDIS_ENCAPSULATION_NULL);
    assert!(engine::NDIS_ENCAPSULATION_IEEE_802_3 == NDIS_ENCAPSULATION_IEEE_802_3);
    assert!(engine::NDIS_ENCAPSULATION_IEEE_802_3_P_AND_Q == NDIS_ENCAPSULATION_IEEE_802_3_P_AND_Q);
    assert!(engine::NDIS_ENCAPSULATION_IEEE_802_3_P_AND_Q_IN_OOB == NDIS_ENCAPSULATION_IEEE_802_3_P_AND_Q_IN_OOB);
    assert!(engine::NDIS_ENCAPSULATION_IEEE_LLC_SNAP_ROUTED == NDIS_ENCAPSULATION_IEEE_LLC_SNAP_ROUTED);
    assert!(NDIS_OFFLOAD_ENCAPSULATION_REVISION_1 == 1);
};
