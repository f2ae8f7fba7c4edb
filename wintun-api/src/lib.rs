//! # wintun (ringtun)
//!
//! Wintun 0.14's API over the ringtun client library: `wintun.dll` on Windows, `libwintun.so` on
//! Linux. A program written for Wintun's `wintun.dll` runs on ringtun by loading this library
//! instead; `Ringtun*` extensions give C programs ringtun's v2 rings (head and tail room, shrink
//! and move inside a slot, batches).
//!
//! The exports are portable: they check arguments, translate to the client library (the only ring
//! implementation) and report errors through the platform's last error. What depends on the
//! operating system (adapters, the driver, the last error, event handles) is in [`platform`].

pub mod logger;
pub mod platform;
pub mod win32;

/// A driver version as the ABI packs it (`major << 16 | minor << 8 | patch`), in Wintun's format
/// (`major << 16 | minor`).
pub const fn wintun_driver_version(abi_version: u32) -> u32 {
    (abi_version & 0xFFFF_0000) | ((abi_version >> 8) & 0xFF)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn driver_version_in_wintun_format() {
        assert_eq!(wintun_driver_version(0x0001_0203), 0x0001_0002);
        assert_eq!(wintun_driver_version(ring_abi::DRIVER_VERSION), 0x0000_0001);
    }
}
