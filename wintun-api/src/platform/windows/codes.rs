//! The Win32 error codes and status values the Windows platform decides on (winerror.h, cfg.h,
//! ntstatus.h): the crate's own (`crate::win32`) and the few only adapter management needs. On
//! Windows each is checked against `windows-sys`, which is generated from Microsoft's metadata.

pub use crate::win32::{
    ERROR_ACCESS_DENIED, ERROR_BUFFER_OVERFLOW, ERROR_DEVICE_NOT_AVAILABLE, ERROR_DUP_NAME, ERROR_FILE_NOT_FOUND,
    ERROR_GEN_FAILURE, ERROR_INVALID_DATA, ERROR_INVALID_PARAMETER, ERROR_NOT_FOUND, ERROR_SUCCESS,
};
/// `ERROR_VERSION_PARSE_ERROR` (winerror.h): a driver version of 0.0.
pub const ERROR_VERSION_PARSE_ERROR: u32 = 777;

/// `DN_HAS_PROBLEM` (cfg.h): a device node with a problem code.
pub const DN_HAS_PROBLEM: u32 = 0x0000_0400;

/// `STATUS_INFO_LENGTH_MISMATCH` (ntstatus.h): a system information buffer was too small.
pub const STATUS_INFO_LENGTH_MISMATCH: i32 = 0xC000_0004_u32 as i32;

/// The last error of a failed call that returns an `HRESULT` (`SwDeviceCreate` and its
/// callback's result): the `HRESULT` itself, as Wintun reports it (`0x800700B7` when the instance
/// exists, not `ERROR_ALREADY_EXISTS`). A success is `ERROR_SUCCESS`.
pub fn hresult_error(hr: i32) -> u32 {
    if hr >= 0 {
        ERROR_SUCCESS
    } else {
        hr as u32
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
    fn failed_hresults_are_reported_as_they_are() {
        // HRESULT_FROM_WIN32(ERROR_ALREADY_EXISTS): Wintun's last error is the HRESULT.
        assert_eq!(hresult_error(0x8007_00B7_u32 as i32), 0x8007_00B7);
        assert_eq!(hresult_error(0x8000_4005_u32 as i32), 0x8000_4005); // E_FAIL
        assert_eq!(hresult_error(0), ERROR_SUCCESS);
        assert_eq!(hresult_error(1), ERROR_SUCCESS); // S_FALSE
    }
}
