//! IOCTL codes, computed the way `CTL_CODE` in the Windows DDK computes them.

use crate::consts::{QUERY_CAPABILITIES_FUNCTION, REGISTER_RINGS_FUNCTION, RINGTUN_DEVICE_TYPE};

/// `METHOD_BUFFERED` transfer type (ntddk.h).
pub const METHOD_BUFFERED: u32 = 0;
/// `FILE_READ_DATA` required access (ntddk.h: `FILE_READ_ACCESS`).
pub const FILE_READ_DATA: u32 = 0x0001;
/// `FILE_WRITE_DATA` required access (ntddk.h: `FILE_WRITE_ACCESS`).
pub const FILE_WRITE_DATA: u32 = 0x0002;

/// `CTL_CODE(DeviceType, Function, Method, Access)` from the DDK:
/// `(DeviceType << 16) | (Access << 14) | (Function << 2) | Method`.
///
/// Fields wider than their slot are masked to the slot, as the C macro's result would be when
/// truncated to a `ULONG` (device type 16 bits, access 2, function 12, method 2).
pub const fn ctl_code(device_type: u32, function: u32, method: u32, access: u32) -> u32 {
    ((device_type & 0xFFFF) << 16) | ((access & 0x3) << 14) | ((function & 0xFFF) << 2) | (method & 0x3)
}

/// Ring registration, v1 and v2 (told apart by input length). Wintun's `TUN_IOCTL_REGISTER_RINGS`.
pub const IOCTL_REGISTER_RINGS: u32 =
    ctl_code(RINGTUN_DEVICE_TYPE, REGISTER_RINGS_FUNCTION, METHOD_BUFFERED, FILE_READ_DATA | FILE_WRITE_DATA);

/// Capability query (v2): output is [`crate::v2::Capabilities`].
pub const IOCTL_QUERY_CAPABILITIES: u32 =
    ctl_code(RINGTUN_DEVICE_TYPE, QUERY_CAPABILITIES_FUNCTION, METHOD_BUFFERED, FILE_READ_DATA);

const _: () = assert!(IOCTL_REGISTER_RINGS == 0xCA6C_E5C0);
const _: () = assert!(IOCTL_QUERY_CAPABILITIES == 0xCA6C_65C4);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wintun_register_code() {
        assert_eq!(IOCTL_REGISTER_RINGS, 0xCA6C_E5C0);
    }

    #[test]
    fn capability_code_differs_in_function_and_access_only() {
        assert_eq!(IOCTL_QUERY_CAPABILITIES, 0xCA6C_65C4);
        assert_eq!(IOCTL_QUERY_CAPABILITIES >> 16, RINGTUN_DEVICE_TYPE);
        assert_eq!((IOCTL_QUERY_CAPABILITIES >> 2) & 0xFFF, 0x971);
    }

    #[test]
    fn ctl_code_masks_oversized_fields() {
        assert_eq!(ctl_code(0x1_0001, 0, 0, 0), 0x0001_0000);
        assert_eq!(ctl_code(0, 0x1001, 0, 0), 0x4);
        assert_eq!(ctl_code(0, 0, 7, 7), (3 << 14) | 3);
    }
}
