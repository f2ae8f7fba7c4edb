//! Identifiers and the shapes of what Windows hands back: GUID strings, the adapter's device
//! instance ID, `REG_MULTI_SZ` lists, registry and device-property values.
//!
//! An adapter is a software device (`SwDeviceCreate`) of the enumerator [`ENUMERATOR`] whose
//! instance is its GUID in registry form, so its device instance ID is
//! `SWD\ringtun\{XXXXXXXX-XXXX-XXXX-XXXX-XXXXXXXXXXXX}` (Wintun's are `SWD\Wintun\{...}`). The
//! same GUID becomes the network interface's `NetCfgInstanceId` (suggested through the device's
//! `SuggestedInstanceId` value before the network class installer runs). With no GUID requested,
//! a random one is used, as Wintun does (`CoCreateGuid`: version 4): no name-derived GUID.

use super::codes::ERROR_INVALID_DATA;
use crate::win32::Guid;

/// The software-device enumerator of ringtun adapters (instance IDs `SWD\ringtun\...`).
pub const ENUMERATOR: &str = "ringtun";

/// The enumerator and device ID of every adapter this platform creates, as the configuration
/// manager's device-list filter takes them (`CM_GETIDLIST_FILTER_ENUMERATOR`): `SWD\ringtun`.
pub const ADAPTERS_FILTER: &str = "SWD\\ringtun";

/// The device instance ID prefix of every adapter this platform creates: `SWD\ringtun\`.
pub const INSTANCE_ID_PREFIX: &str = "SWD\\ringtun\\";

const _: () = assert!(ADAPTERS_FILTER.len() == "SWD\\".len() + ENUMERATOR.len());
const _: () = assert!(INSTANCE_ID_PREFIX.len() == ADAPTERS_FILTER.len() + 1);

/// Length of a GUID in registry form, braces included (`MAX_GUID_STRING_LEN - 1`).
pub const GUID_STRING_UNITS: usize = 38;

/// `REG_SZ` (winnt.h).
pub const REG_SZ: u32 = 1;
/// `REG_BINARY` (winnt.h).
pub const REG_BINARY: u32 = 3;
/// `REG_DWORD` (winnt.h).
pub const REG_DWORD: u32 = 4;

const HEX: &[u8; 16] = b"0123456789ABCDEF";

/// The GUID in registry form, as `StringFromGUID2` writes it: braces, upper-case hex,
/// `{XXXXXXXX-XXXX-XXXX-XXXX-XXXXXXXXXXXX}`.
pub fn guid_string(guid: &Guid) -> String {
    let mut bytes = Vec::with_capacity(16);
    bytes.extend(guid.data1.to_be_bytes());
    bytes.extend(guid.data2.to_be_bytes());
    bytes.extend(guid.data3.to_be_bytes());
    bytes.extend(guid.data4);
    let mut out = String::with_capacity(GUID_STRING_UNITS);
    out.push('{');
    for (i, byte) in bytes.iter().enumerate() {
        if matches!(i, 4 | 6 | 8 | 10) {
            out.push('-');
        }
        out.push(char::from(HEX[usize::from(byte >> 4)]));
        out.push(char::from(HEX[usize::from(byte & 0xF)]));
    }
    out.push('}');
    out
}

/// Parses a GUID in registry form (braces required, hex digits of either case), as
/// `CLSIDFromString` reads a `NetCfgInstanceId`.
pub fn parse_guid(text: &[u16]) -> Option<Guid> {
    if text.len() != GUID_STRING_UNITS
        || text.first() != Some(&u16::from(b'{'))
        || text.last() != Some(&u16::from(b'}'))
    {
        return None;
    }
    let inner = text.get(1..GUID_STRING_UNITS - 1)?;
    let mut bytes = [0u8; 16];
    let mut nibbles = 0usize;
    for (i, &unit) in inner.iter().enumerate() {
        if matches!(i, 8 | 13 | 18 | 23) {
            if unit != u16::from(b'-') {
                return None;
            }
            continue;
        }
        let digit = char::from_u32(u32::from(unit))?.to_digit(16)?;
        let byte = bytes.get_mut(nibbles / 2)?;
        *byte = (*byte << 4) | digit as u8;
        nibbles += 1;
    }
    if nibbles != 32 {
        return None;
    }
    let [a0, a1, a2, a3, b0, b1, c0, c1, d @ ..] = bytes;
    Some(Guid {
        data1: u32::from_be_bytes([a0, a1, a2, a3]),
        data2: u16::from_be_bytes([b0, b1]),
        data3: u16::from_be_bytes([c0, c1]),
        data4: d,
    })
}

/// A random GUID (RFC 4122 version 4, variant 1, as `CoCreateGuid` makes) from 16 random bytes.
pub fn random_guid(random: [u8; 16]) -> Guid {
    let [a0, a1, a2, a3, b0, b1, c0, c1, mut d @ ..] = random;
    d[0] = (d[0] & 0x3F) | 0x80;
    Guid {
        data1: u32::from_be_bytes([a0, a1, a2, a3]),
        data2: u16::from_be_bytes([b0, b1]),
        data3: (u16::from_be_bytes([c0, c1]) & 0x0FFF) | 0x4000,
        data4: d,
    }
}

/// The 16 bytes of a GUID as it lies in memory (`REG_BINARY` of `SuggestedInstanceId`): the
/// three integer fields little-endian, then `data4`.
pub fn guid_bytes(guid: &Guid) -> [u8; 16] {
    let mut out = [0u8; 16];
    let (a, rest) = out.split_at_mut(4);
    a.copy_from_slice(&guid.data1.to_le_bytes());
    let (b, rest) = rest.split_at_mut(2);
    b.copy_from_slice(&guid.data2.to_le_bytes());
    let (c, d) = rest.split_at_mut(2);
    c.copy_from_slice(&guid.data3.to_le_bytes());
    d.copy_from_slice(&guid.data4);
    out
}

/// The device instance ID an adapter with this GUID has: `SWD\ringtun\{GUID}`.
pub fn instance_id(guid: &Guid) -> String {
    format!("{INSTANCE_ID_PREFIX}{}", guid_string(guid))
}

/// Whether a device instance ID is one of this platform's adapters (`SWD\ringtun\{GUID}`; device
/// instance IDs compare without regard to case).
pub fn is_adapter_instance(id: &[u16]) -> bool {
    let prefix: Vec<u16> = INSTANCE_ID_PREFIX.encode_utf16().collect();
    id.len() == prefix.len() + GUID_STRING_UNITS
        && id.get(..prefix.len()).is_some_and(|head| crate::platform::names::names_equal(head, &prefix))
        && id.get(prefix.len()..).and_then(parse_guid).is_some()
}

/// Splits a `REG_MULTI_SZ`-style list (strings separated by NUL, ended by an empty string) into
/// its strings; a missing final terminator is tolerated, nothing after the empty string is read.
pub fn split_multi_sz(list: &[u16]) -> Vec<&[u16]> {
    list.split(|&unit| unit == 0).take_while(|item| !item.is_empty()).collect()
}

/// A `REG_MULTI_SZ`-style list of `items`, with the final empty string.
pub fn multi_sz(items: &[&str]) -> Vec<u16> {
    let mut out = Vec::new();
    for item in items {
        out.extend(item.encode_utf16());
        out.push(0);
    }
    out.push(0);
    out
}

/// UTF-16 units of `text` with a terminator.
pub fn wide(text: &str) -> Vec<u16> {
    text.encode_utf16().chain(Some(0)).collect()
}

/// `DEVPROP_TYPE_STRING` (devpropdef.h).
pub const DEVPROP_TYPE_STRING: u32 = 0x12;

/// The string of a `REG_SZ` registry value read into `bytes`: units up to the first NUL (registry
/// strings need not be terminated). `ERROR_INVALID_DATA` for another type or an odd length.
pub fn string_value(value_type: u32, bytes: &[u8]) -> Result<Vec<u16>, u32> {
    if value_type != REG_SZ {
        return Err(ERROR_INVALID_DATA);
    }
    utf16_up_to_nul(bytes)
}

/// The string of a `DEVPROP_TYPE_STRING` device property read into `bytes`, as
/// [`string_value`] reads a registry value.
pub fn string_property(property_type: u32, bytes: &[u8]) -> Result<Vec<u16>, u32> {
    if property_type != DEVPROP_TYPE_STRING {
        return Err(ERROR_INVALID_DATA);
    }
    utf16_up_to_nul(bytes)
}

fn utf16_up_to_nul(bytes: &[u8]) -> Result<Vec<u16>, u32> {
    if !bytes.len().is_multiple_of(2) {
        return Err(ERROR_INVALID_DATA);
    }
    Ok(bytes.chunks_exact(2).map(|pair| u16::from_le_bytes([pair[0], pair[1]])).take_while(|&unit| unit != 0).collect())
}

/// The number of a `REG_DWORD` value read into `bytes`; `ERROR_INVALID_DATA` for another type or
/// size.
pub fn dword_value(value_type: u32, bytes: &[u8]) -> Result<u32, u32> {
    match (value_type, bytes) {
        (REG_DWORD, &[a, b, c, d]) => Ok(u32::from_le_bytes([a, b, c, d])),
        _ => Err(ERROR_INVALID_DATA),
    }
}

/// UTF-16 units as the little-endian bytes a string property or value carries, terminator
/// included.
pub fn string_bytes(units: &[u16]) -> Vec<u8> {
    units.iter().chain(Some(&0)).flat_map(|unit| unit.to_le_bytes()).collect()
}

/// The file name of a path (`PathFindFileNameW`): what follows the last `\` or `/`, e.g. the
/// `oemNN.inf` of a driver-store INF that `SetupUninstallOEMInfW` takes.
pub fn file_name(path: &[u16]) -> &[u16] {
    match path.iter().rposition(|&unit| unit == u16::from(b'\\') || unit == u16::from(b'/')) {
        Some(slash) => path.get(slash + 1..).unwrap_or(&[]),
        None => path,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn w(s: &str) -> Vec<u16> {
        s.encode_utf16().collect()
    }

    /// GUID_DEVINTERFACE_NET (ndisguid.h), {CAC88484-7515-4C03-82E6-71A87ABAC361}.
    const NET: Guid = Guid {
        data1: 0xCAC8_8484,
        data2: 0x7515,
        data3: 0x4C03,
        data4: [0x82, 0xE6, 0x71, 0xA8, 0x7A, 0xBA, 0xC3, 0x61],
    };

    #[test]
    fn guids_print_as_string_from_guid2_does() {
        assert_eq!(guid_string(&NET), "{CAC88484-7515-4C03-82E6-71A87ABAC361}");
        let zero = Guid { data1: 0, data2: 0, data3: 0, data4: [0; 8] };
        assert_eq!(guid_string(&zero), "{00000000-0000-0000-0000-000000000000}");
        assert_eq!(guid_string(&NET).len(), GUID_STRING_UNITS);
    }

    #[test]
    fn guids_parse_in_either_case_and_round_trip() {
        assert_eq!(parse_guid(&w("{CAC88484-7515-4C03-82E6-71A87ABAC361}")), Some(NET));
        assert_eq!(parse_guid(&w("{cac88484-7515-4c03-82e6-71a87abac361}")), Some(NET));
        let random = random_guid(*b"0123456789abcdef");
        assert_eq!(parse_guid(&w(&guid_string(&random))), Some(random));
    }

    #[test]
    fn malformed_guids_are_refused() {
        for text in [
            "CAC88484-7515-4C03-82E6-71A87ABAC361",
            "{CAC88484-7515-4C03-82E6-71A87ABAC36}",
            "{CAC88484-7515-4C03-82E6-71A87ABAC3611}",
            "{CAC88484x7515-4C03-82E6-71A87ABAC361}",
            "{CAC88484-7515-4C03-82E6-71A87ABAC36G}",
            "{CAC88484-7515-4C03-82E6+71A87ABAC361}",
            "(CAC88484-7515-4C03-82E6-71A87ABAC361)",
            "{+AC88484-7515-4C03-82E6-71A87ABAC361}",
            "",
        ] {
            assert_eq!(parse_guid(&w(text)), None, "{text}");
        }
        // A non-ASCII unit where a digit belongs.
        let mut text = w("{CAC88484-7515-4C03-82E6-71A87ABAC361}");
        text[1] = 0xFF10; // FULLWIDTH DIGIT ZERO
        assert_eq!(parse_guid(&text), None);
    }

    #[test]
    fn random_guids_are_version_4_variant_1() {
        let guid = random_guid([0xFF; 16]);
        assert_eq!(guid_string(&guid), "{FFFFFFFF-FFFF-4FFF-BFFF-FFFFFFFFFFFF}");
        let guid = random_guid([0; 16]);
        assert_eq!(guid_string(&guid), "{00000000-0000-4000-8000-000000000000}");
        // Every other bit comes from the random bytes.
        let guid = random_guid([
            0x12, 0x34, 0x56, 0x78, 0x9A, 0xBC, 0xDE, 0xF0, 0x12, 0x34, 0x56, 0x78, 0x9A, 0xBC, 0xDE, 0xF0,
        ]);
        assert_eq!(guid_string(&guid), "{12345678-9ABC-4EF0-9234-56789ABCDEF0}");
    }

    #[test]
    fn guid_bytes_are_the_in_memory_layout() {
        assert_eq!(
            guid_bytes(&NET),
            [0x84, 0x84, 0xC8, 0xCA, 0x15, 0x75, 0x03, 0x4C, 0x82, 0xE6, 0x71, 0xA8, 0x7A, 0xBA, 0xC3, 0x61]
        );
    }

    #[test]
    fn adapter_instance_ids_are_swd_ringtun_and_the_guid() {
        assert_eq!(instance_id(&NET), "SWD\\ringtun\\{CAC88484-7515-4C03-82E6-71A87ABAC361}");
        assert_eq!(format!("{ADAPTERS_FILTER}\\"), INSTANCE_ID_PREFIX);
        assert_eq!(ADAPTERS_FILTER, format!("SWD\\{ENUMERATOR}"));
        assert!(is_adapter_instance(&w(&instance_id(&NET))));
        assert!(is_adapter_instance(&w("swd\\RINGTUN\\{cac88484-7515-4c03-82e6-71a87abac361}")));
        assert!(!is_adapter_instance(&w("SWD\\Wintun\\{CAC88484-7515-4C03-82E6-71A87ABAC361}")));
        assert!(!is_adapter_instance(&w("SWD\\DEVGEN\\{CAC88484-7515-4C03-82E6-71A87ABAC361}")));
        assert!(!is_adapter_instance(&w("SWD\\ringtun\\{CAC88484-7515-4C03-82E6-71A87ABAC361}\\x")));
        assert!(!is_adapter_instance(&w("SWD\\ringtun\\0000")));
        assert!(!is_adapter_instance(&w("")));
    }

    #[test]
    fn multi_sz_lists_split_and_build() {
        let list = multi_sz(&["ringtun", "SWD\\ringtun\\{X}"]);
        assert_eq!(list, w("ringtun\0SWD\\ringtun\\{X}\0\0"));
        assert_eq!(split_multi_sz(&list), vec![&w("ringtun")[..], &w("SWD\\ringtun\\{X}")[..]]);
        assert_eq!(multi_sz(&["ringtun"]), w("ringtun\0\0"));
        assert!(split_multi_sz(&multi_sz(&[])).is_empty());
        assert!(split_multi_sz(&[]).is_empty());
        // No final terminator; nothing read after the empty string.
        assert_eq!(split_multi_sz(&w("a\0b")), vec![&w("a")[..], &w("b")[..]]);
        assert_eq!(split_multi_sz(&w("a\0\0b\0")), vec![&w("a")[..]]);
    }

    #[test]
    fn registry_values_are_read_by_type() {
        let bytes: Vec<u8> =
            w("{CAC88484-7515-4C03-82E6-71A87ABAC361}\0").iter().flat_map(|u| u.to_le_bytes()).collect();
        assert_eq!(string_value(REG_SZ, &bytes).unwrap(), w("{CAC88484-7515-4C03-82E6-71A87ABAC361}"));
        // Unterminated, and with trailing garbage after a NUL.
        assert_eq!(string_value(REG_SZ, &[b'a', 0, b'b', 0]).unwrap(), w("ab"));
        assert_eq!(string_value(REG_SZ, &[b'a', 0, 0, 0, b'b', 0]).unwrap(), w("a"));
        assert_eq!(string_value(REG_SZ, &[b'a', 0, b'b']), Err(ERROR_INVALID_DATA));
        assert_eq!(string_value(REG_DWORD, &[1, 0, 0, 0]), Err(ERROR_INVALID_DATA));
        assert_eq!(dword_value(REG_DWORD, &[0x35, 0, 0, 0]), Ok(53));
        assert_eq!(dword_value(REG_DWORD, &[1, 2, 3, 4]), Ok(0x0403_0201));
        assert_eq!(dword_value(REG_DWORD, &[1, 2, 3]), Err(ERROR_INVALID_DATA));
        assert_eq!(dword_value(REG_BINARY, &[1, 2, 3, 4]), Err(ERROR_INVALID_DATA));
        assert_eq!(string_bytes(&w("ab")), vec![b'a', 0, b'b', 0, 0, 0]);
        assert_eq!(string_value(REG_SZ, &string_bytes(&w("wg0"))).unwrap(), w("wg0"));
        assert_eq!(string_property(DEVPROP_TYPE_STRING, &string_bytes(&w("wg0"))).unwrap(), w("wg0"));
        assert_eq!(string_property(REG_SZ, &string_bytes(&w("wg0"))), Err(ERROR_INVALID_DATA));
        assert_eq!(string_property(DEVPROP_TYPE_STRING, b"a"), Err(ERROR_INVALID_DATA));
    }

    #[test]
    fn file_names_are_the_last_component() {
        assert_eq!(file_name(&w("C:\\Windows\\INF\\oem12.inf")), &w("oem12.inf")[..]);
        assert_eq!(file_name(&w("oem3.inf")), &w("oem3.inf")[..]);
        assert_eq!(file_name(&w("C:/x/oem4.inf")), &w("oem4.inf")[..]);
        assert_eq!(file_name(&w("C:\\dir\\")), &[] as &[u16]);
    }
}
