//! The Win32 error codes and status values the Windows platform decides on (winerror.h, cfg.h,
//! ntstatus.h): the crate's own (`crate::win32`) and the few only adapter management needs. On
//! Windows each is checked against `windows-sys`, which is generated from Microsoft's metadata.

pub use crate::win32::{
    ERROR_ACCESS_DENIED, ERROR_BUFFER_OVERFLOW, ERROR_DEVICE_NOT_AVAILABLE, ERROR_FILE_NOT_FOUND, ERROR_GEN_FAILURE,
    ERROR_INVALID_DATA, ERROR_INVALID_PARAMETER, ERROR_NOT_FOUND, ERROR_SUCCESS,
};

/// `ERROR_DUP_NAME` (winerror.h): an interface alias is taken.
pub const ERROR_DUP_NAME: u32 = 52;
/// `ERROR_VERSION_PARSE_ERROR` (winerror.h): a driver version of 0.0.
pub const ERROR_VERSION_PARSE_ERROR: u32 = 777;

/// `FACILITY_WIN32` (winerror.h; MinGW-w64's agrees): an HRESULT that wraps a Win32 error code.
const FACILITY_WIN32: u32 = 7;

/// `DN_HAS_PROBLEM` (cfg.h): a device node with a problem code.
pub const DN_HAS_PROBLEM: u32 = 0x0000_0400;

/// `STATUS_INFO_LENGTH_MISMATCH` (ntstatus.h): a system information buffer was too small.
pub const STATUS_INFO_LENGTH_MISMATCH: i32 = 0xC000_0004_u32 as i32;

/// The Win32 error an HRESULT stands for, as Wintun reports a failed `HRESULT` call: the code of
/// a `FACILITY_WIN32` HRESULT (`HRESULT_FROM_WIN32` reversed), any other failure as the HRESULT's
/// own bits, and success as `ERROR_SUCCESS`.
pub fn win32_from_hresult(hr: i32) -> u32 {
    let bits = hr as u32;
    if hr >= 0 {
        ERROR_SUCCESS
    } else if (bits >> 16) & 0x1FFF == FACILITY_WIN32 {
        bits & 0xFFFF
    } else {
        bits
    }
}

#[cfg(windows)]
mod checked {
    use windows_sys::Win32::Devices::DeviceAndDriverInstallation as pnp;
    use windows_sys::Win32::Foundation as f;

    const _: () = assert!(super::ERROR_SUCCESS == f::ERROR_SUCCESS);
    const _: () = assert!(super::ERROR_FILE_NOT_FOUND == f::ERROR_FILE_NOT_FOUND);
    const _: () = assert!(super::ERROR_ACCESS_DENIED == f::ERROR_ACCESS_DENIED);
    const _: () = assert!(super::ERROR_GEN_FAILURE == f::ERROR_GEN_FAILURE);
    const _: () = assert!(super::ERROR_DUP_NAME == f::ERROR_DUP_NAME);
    const _: () = assert!(super::ERROR_INVALID_PARAMETER == f::ERROR_INVALID_PARAMETER);
    const _: () = assert!(super::ERROR_BUFFER_OVERFLOW == f::ERROR_BUFFER_OVERFLOW);
    const _: () = assert!(super::ERROR_VERSION_PARSE_ERROR == f::ERROR_VERSION_PARSE_ERROR);
    const _: () = assert!(super::ERROR_NOT_FOUND == f::ERROR_NOT_FOUND);
    const _: () = assert!(super::ERROR_INVALID_DATA == f::ERROR_INVALID_DATA);
    const _: () = assert!(super::ERROR_DEVICE_NOT_AVAILABLE == f::ERROR_DEVICE_NOT_AVAILABLE);
    const _: () = assert!(super::DN_HAS_PROBLEM == pnp::DN_HAS_PROBLEM);
    const _: () = assert!(super::STATUS_INFO_LENGTH_MISMATCH == f::STATUS_INFO_LENGTH_MISMATCH);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn win32_hresults_unwrap_to_their_code() {
        // HRESULT_FROM_WIN32(ERROR_ALREADY_EXISTS) = 0x800700B7.
        assert_eq!(win32_from_hresult(0x8007_00B7_u32 as i32), 0xB7);
        assert_eq!(win32_from_hresult(0x8007_0005_u32 as i32), ERROR_ACCESS_DENIED);
        // E_INVALIDARG is HRESULT_FROM_WIN32(ERROR_INVALID_PARAMETER).
        assert_eq!(win32_from_hresult(0x8007_0057_u32 as i32), ERROR_INVALID_PARAMETER);
        // Another facility (E_FAIL: FACILITY_NULL; FACILITY_CONFIGURATION) stays as the HRESULT, as
        // Wintun reports it.
        assert_eq!(win32_from_hresult(0x8000_4005_u32 as i32), 0x8000_4005);
        assert_eq!(win32_from_hresult(0x8022_0001_u32 as i32), 0x8022_0001);
        assert_eq!(win32_from_hresult(0), ERROR_SUCCESS);
        assert_eq!(win32_from_hresult(1), ERROR_SUCCESS);
    }
}
