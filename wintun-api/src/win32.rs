//! The Win32 vocabulary of the API: error codes, `GUID`, `HANDLE`, wait results.
//!
//! Values from the Windows SDK's `winerror.h` and `winbase.h`, cross-checked against MinGW-w64's
//! `winerror.h`, `winbase.h` and `guiddef.h`; the same values are in `include/wintun.h` (Linux
//! compatibility part), where a C test compares them.

use core::ffi::c_void;

/// A Win32 error code, as `GetLastError` reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Win32Error(pub u32);

impl Win32Error {
    /// The code.
    pub fn code(self) -> u32 {
        self.0
    }
}

/// `ERROR_SUCCESS` (winerror.h).
pub const ERROR_SUCCESS: u32 = 0;
/// `ERROR_INVALID_FUNCTION` (winerror.h).
pub const ERROR_INVALID_FUNCTION: u32 = 1;
/// `ERROR_FILE_NOT_FOUND` (winerror.h): the version query when no driver is loaded.
pub const ERROR_FILE_NOT_FOUND: u32 = 2;
/// `ERROR_ACCESS_DENIED` (winerror.h).
pub const ERROR_ACCESS_DENIED: u32 = 5;
/// `ERROR_INVALID_HANDLE` (winerror.h).
pub const ERROR_INVALID_HANDLE: u32 = 6;
/// `ERROR_NOT_ENOUGH_MEMORY` (winerror.h).
pub const ERROR_NOT_ENOUGH_MEMORY: u32 = 8;
/// `ERROR_INVALID_DATA` (winerror.h): a corrupt ring.
pub const ERROR_INVALID_DATA: u32 = 13;
/// `ERROR_OUTOFMEMORY` (winerror.h).
pub const ERROR_OUTOFMEMORY: u32 = 14;
/// `ERROR_NOT_READY` (winerror.h).
pub const ERROR_NOT_READY: u32 = 21;
/// `ERROR_GEN_FAILURE` (winerror.h).
pub const ERROR_GEN_FAILURE: u32 = 31;
/// `ERROR_HANDLE_EOF` (winerror.h): the session ended (the adapter is terminating).
pub const ERROR_HANDLE_EOF: u32 = 38;
/// `ERROR_NOT_SUPPORTED` (winerror.h).
pub const ERROR_NOT_SUPPORTED: u32 = 50;
/// `ERROR_DUP_NAME`: an adapter's name (an interface alias) is taken.
pub const ERROR_DUP_NAME: u32 = 52;
/// `ERROR_INVALID_PARAMETER` (winerror.h).
pub const ERROR_INVALID_PARAMETER: u32 = 87;
/// `ERROR_BUFFER_OVERFLOW` (winerror.h): the ring is full.
pub const ERROR_BUFFER_OVERFLOW: u32 = 111;
/// `ERROR_INSUFFICIENT_BUFFER` (winerror.h).
pub const ERROR_INSUFFICIENT_BUFFER: u32 = 122;
/// `ERROR_INVALID_NAME` (winerror.h).
pub const ERROR_INVALID_NAME: u32 = 123;
/// `ERROR_MOD_NOT_FOUND` (winerror.h).
pub const ERROR_MOD_NOT_FOUND: u32 = 126;
/// `ERROR_PROC_NOT_FOUND` (winerror.h).
pub const ERROR_PROC_NOT_FOUND: u32 = 127;
/// `ERROR_BUSY` (winerror.h).
pub const ERROR_BUSY: u32 = 170;
/// `ERROR_ALREADY_EXISTS` (winerror.h).
pub const ERROR_ALREADY_EXISTS: u32 = 183;
/// `ERROR_NO_MORE_ITEMS` (winerror.h): no packet is waiting.
pub const ERROR_NO_MORE_ITEMS: u32 = 259;
/// `ERROR_NOT_FOUND` (winerror.h): `WintunOpenAdapter` of a name no adapter has.
pub const ERROR_NOT_FOUND: u32 = 1168;
/// `ERROR_ALREADY_INITIALIZED` (winerror.h): a session is already running on the adapter.
pub const ERROR_ALREADY_INITIALIZED: u32 = 1247;
/// `ERROR_NO_SYSTEM_RESOURCES` (winerror.h).
pub const ERROR_NO_SYSTEM_RESOURCES: u32 = 1450;
/// `ERROR_TIMEOUT` (winerror.h): `RingtunWaitForSendSpace` found no room in time.
pub const ERROR_TIMEOUT: u32 = 1460;
/// `ERROR_INVALID_USER_BUFFER` (winerror.h).
pub const ERROR_INVALID_USER_BUFFER: u32 = 1784;
/// `ERROR_DEVICE_NOT_AVAILABLE` (winerror.h).
pub const ERROR_DEVICE_NOT_AVAILABLE: u32 = 4319;
/// `ERROR_INF_IN_USE_BY_DEVICES` (setupapi.h: `APPLICATION_ERROR_MASK | ERROR_SEVERITY_ERROR |
/// 0x23D`): a driver package still used by adapters cannot be deleted.
pub const ERROR_INF_IN_USE_BY_DEVICES: u32 = 0xE000_023D;

/// `INFINITE` (winbase.h): a wait without timeout.
pub const INFINITE: u32 = 0xFFFF_FFFF;
/// `WAIT_OBJECT_0` (winbase.h: `STATUS_WAIT_0`).
pub const WAIT_OBJECT_0: u32 = 0;
/// `WAIT_ABANDONED_0` (winbase.h: `STATUS_ABANDONED_WAIT_0`).
pub const WAIT_ABANDONED_0: u32 = 0x80;
/// `WAIT_TIMEOUT` (winerror.h).
pub const WAIT_TIMEOUT: u32 = 258;
/// `WAIT_FAILED` (winbase.h).
pub const WAIT_FAILED: u32 = 0xFFFF_FFFF;
/// `MAXIMUM_WAIT_OBJECTS` (winnt.h).
pub const MAXIMUM_WAIT_OBJECTS: u32 = 64;

/// `HANDLE`.
pub type Handle = *mut c_void;

/// `GUID` (guiddef.h): 16 bytes, 4-byte aligned.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Guid {
    /// `Data1`.
    pub data1: u32,
    /// `Data2`.
    pub data2: u16,
    /// `Data3`.
    pub data3: u16,
    /// `Data4`.
    pub data4: [u8; 8],
}

const _: () = assert!(core::mem::size_of::<Guid>() == 16);
const _: () = assert!(core::mem::align_of::<Guid>() == 4);
const _: () = assert!(core::mem::offset_of!(Guid, data2) == 4);
const _: () = assert!(core::mem::offset_of!(Guid, data3) == 6);
const _: () = assert!(core::mem::offset_of!(Guid, data4) == 8);

/// `IF_TYPE_PROP_VIRTUAL` (ipifcons.h): the interface type of Wintun's adapters and ours.
pub const IF_TYPE_PROP_VIRTUAL: u64 = 53;

/// A `NET_LUID` value (ifdef.h: bits 0..24 reserved, 24..48 `NetLuidIndex`, 48..64 `IfType`).
pub const fn net_luid(if_type: u64, net_luid_index: u32) -> u64 {
    ((if_type & 0xFFFF) << 48) | ((net_luid_index as u64 & 0xFF_FFFF) << 24)
}

/// `MAX_ADAPTER_NAME` (ipexport.h): an adapter name holds at most 127 characters.
pub const MAX_ADAPTER_NAME: usize = 128;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn luid_fields_sit_where_ifdef_h_puts_them() {
        let luid = net_luid(IF_TYPE_PROP_VIRTUAL, 0x12_3456);
        assert_eq!(luid & 0xFF_FFFF, 0);
        assert_eq!((luid >> 24) & 0xFF_FFFF, 0x12_3456);
        assert_eq!(luid >> 48, 53);
        // The index is 24 bits: a larger one is cut, not spilled into the type.
        assert_eq!(net_luid(IF_TYPE_PROP_VIRTUAL, 0x0100_0001) >> 48, 53);
    }
}
