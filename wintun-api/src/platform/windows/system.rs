//! What the system reports about adapters and the driver, decoded: the interface LUID from the
//! adapter's driver key, the loaded kernel modules, the driver version in Wintun's encoding, which
//! leftover devices are orphans, and the administrator's `WintunDeleteDriver` setting.

use super::codes::{ERROR_BUFFER_OVERFLOW, ERROR_FILE_NOT_FOUND, ERROR_VERSION_PARSE_ERROR};
use super::ids::dword_value;
use crate::platform::driver_deletion::Setting;
use crate::platform::names::names_equal;

/// The file name of the driver image whose presence among the loaded kernel modules means "the
/// driver is running" (Wintun looks for `wintun.sys`).
pub const DRIVER_FILE_NAME: &str = "ringtun.sys";

/// The interface LUID (`NET_LUID_LH`, ifdef.h) of an adapter from its driver key's `*IfType` and
/// `NetLuidIndex` values, each cut to its field's width as the bit-field assignment does.
pub fn adapter_luid(if_type: u32, luid_index: u32) -> u64 {
    crate::win32::net_luid(u64::from(if_type), luid_index)
}

/// Wintun's version number, `major << 16 | minor` (what `WintunGetRunningDriverVersion` returns:
/// the high DWORD of the image's file version), from the version the ringtun driver reports in its
/// capabilities, `major << 16 | minor << 8 | patch` (`ring_abi::DRIVER_VERSION`).
///
/// A version of 0.0 is `ERROR_VERSION_PARSE_ERROR`, as Wintun reports a file version of 0.0.
pub fn wintun_version(driver_version: u32) -> Result<u32, u32> {
    match crate::wintun_driver_version(driver_version) {
        0 => Err(ERROR_VERSION_PARSE_ERROR),
        version => Ok(version),
    }
}

/// Layout of `RTL_PROCESS_MODULES`, what `NtQuerySystemInformation(SystemModuleInformation)`
/// returns (declared in phnt's ntldr.h and Wintun's api/ntdll.h; not in the SDK):
///
/// ```text
/// ULONG NumberOfModules; RTL_PROCESS_MODULE_INFORMATION Modules[];
/// RTL_PROCESS_MODULE_INFORMATION { HANDLE Section; PVOID MappedBase; PVOID ImageBase;
///   ULONG ImageSize; ULONG Flags; USHORT LoadOrderIndex; USHORT InitOrderIndex;
///   USHORT LoadCount; USHORT OffsetToFileName; UCHAR FullPathName[256]; }
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ModuleListLayout {
    /// Offset of `Modules[0]` (`NumberOfModules` padded to the entry's alignment).
    pub first_entry: usize,
    /// Size of one `RTL_PROCESS_MODULE_INFORMATION`.
    pub entry_size: usize,
    /// Offset of `OffsetToFileName` in an entry.
    pub offset_to_file_name: usize,
    /// Offset of `FullPathName` in an entry.
    pub full_path_name: usize,
}

/// Length of `FullPathName`.
pub const FULL_PATH_NAME_LEN: usize = 256;

impl ModuleListLayout {
    /// The layout in a 64-bit process (x64, ARM64): pointers of 8 bytes.
    pub const BITS_64: Self = Self { first_entry: 8, entry_size: 296, offset_to_file_name: 38, full_path_name: 40 };
    /// The layout in a 32-bit process (x86, also under WOW64): pointers of 4 bytes.
    pub const BITS_32: Self = Self { first_entry: 4, entry_size: 284, offset_to_file_name: 26, full_path_name: 28 };

    /// The layout of the process this code runs in.
    pub const NATIVE: Self = if cfg!(target_pointer_width = "64") { Self::BITS_64 } else { Self::BITS_32 };
}

/// Finds a loaded module by file name (ASCII case ignored, as Wintun's `_stricmp`) in a module
/// list `buffer` of the given layout, searching from the last entry as Wintun does. Returns the
/// module's full NT path (`\SystemRoot\System32\DriverStore\...\ringtun.sys`).
///
/// The buffer is read as untrusted bytes: only entries wholly inside it are read, whatever its
/// count says, and an entry whose `OffsetToFileName` is outside its path or whose path has no
/// terminator does not match.
pub fn find_module<'a>(buffer: &'a [u8], layout: ModuleListLayout, file_name: &str) -> Option<&'a [u8]> {
    let count = u32::from_le_bytes(buffer.get(..4)?.try_into().ok()?) as usize;
    // Only entries wholly inside the buffer are read, whatever the count says.
    let fits = buffer.len().checked_sub(layout.first_entry)? / layout.entry_size;
    let wanted: Vec<u16> = file_name.encode_utf16().collect();
    for index in (0..count.min(fits)).rev() {
        let start = index.checked_mul(layout.entry_size)?.checked_add(layout.first_entry)?;
        let Some(entry) = buffer.get(start..start.checked_add(layout.entry_size)?) else { continue };
        let Some(offset) = entry.get(layout.offset_to_file_name..layout.offset_to_file_name + 2) else { continue };
        let offset = usize::from(u16::from_le_bytes([offset[0], offset[1]]));
        let Some(path) = entry.get(layout.full_path_name..layout.full_path_name + FULL_PATH_NAME_LEN) else { continue };
        let Some(end) = path.iter().position(|&b| b == 0) else { continue };
        let (path, name) = match (path.get(..end), path.get(offset..end)) {
            (Some(path), Some(name)) => (path, name),
            _ => continue,
        };
        let name: Vec<u16> = name.iter().map(|&b| u16::from(b)).collect();
        if names_equal(&name, &wanted) {
            return Some(path);
        }
    }
    None
}

/// Whether a device of ours left in the system is an orphan to remove (Wintun's rule): one that is
/// not present (its status cannot be read: `None`) or that has a problem (`DN_HAS_PROBLEM`).
pub fn is_orphan(status: Option<u32>) -> bool {
    status.is_none_or(|status| status & super::codes::DN_HAS_PROBLEM != 0)
}

/// Combines the results of removing several driver packages as Wintun does: every package is
/// tried, the call fails with the first error met.
#[derive(Debug, Default)]
pub struct FirstError(Option<u32>);

impl FirstError {
    /// Records one step's result.
    pub fn record(&mut self, result: Result<(), u32>) {
        if let (None, Err(code)) = (self.0, result) {
            self.0 = Some(code);
        }
    }

    /// The combined result.
    pub fn result(self) -> Result<(), u32> {
        self.0.map_or(Ok(()), Err)
    }
}

/// Grows a buffer for a system query that reports the size it needs: the next size to try after
/// a call with `current` bytes said it needs `needed` (0 when it did not say). At least doubles,
/// and refuses to go beyond `limit` (`ERROR_BUFFER_OVERFLOW`).
pub fn next_buffer_size(current: usize, needed: usize, limit: usize) -> Result<usize, u32> {
    let next = needed.max(current.saturating_mul(2));
    if next > limit || next == 0 {
        return Err(ERROR_BUFFER_OVERFLOW);
    }
    Ok(next)
}

/// The `WintunDeleteDriver` setting from the registry ([`crate::platform::driver_deletion`]):
/// what reading the value gave, its type and bytes or the read's error. No key or no value
/// (`ERROR_FILE_NOT_FOUND`) is no setting; a `REG_DWORD` is its number; anything else (another
/// type, a read refused) is unreadable.
pub fn deletion_setting(read: Result<(u32, Vec<u8>), u32>) -> Setting {
    match read {
        Ok((kind, bytes)) => dword_value(kind, &bytes).map_or(Setting::Unreadable, Setting::Number),
        Err(ERROR_FILE_NOT_FOUND) => Setting::Absent,
        Err(_) => Setting::Unreadable,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::platform::driver_deletion::{decide, Decision};
    use crate::platform::windows::codes::DN_HAS_PROBLEM;
    use crate::platform::windows::ids::{REG_DWORD, REG_SZ};

    #[test]
    fn the_deletion_setting_is_a_dword_of_the_registry() {
        let dword = |n: u32| Ok((REG_DWORD, n.to_le_bytes().to_vec()));
        assert_eq!(deletion_setting(Err(ERROR_FILE_NOT_FOUND)), Setting::Absent);
        assert_eq!(deletion_setting(dword(1)), Setting::Number(1));
        assert_eq!(deletion_setting(dword(0)), Setting::Number(0));
        // "1" as text, a DWORD of the wrong size, a read refused: not a setting this library knows.
        assert_eq!(deletion_setting(Ok((REG_SZ, vec![b'1', 0, 0, 0]))), Setting::Unreadable);
        assert_eq!(deletion_setting(Ok((REG_DWORD, vec![1, 0]))), Setting::Unreadable);
        assert_eq!(deletion_setting(Err(5)), Setting::Unreadable);
        // What WintunDeleteDriver then does.
        assert_eq!(decide(deletion_setting(Err(ERROR_FILE_NOT_FOUND))), Decision::Keep);
        assert_eq!(decide(deletion_setting(dword(1))), Decision::Remove);
        assert_eq!(decide(deletion_setting(Err(5))), Decision::KeepIgnoringSetting(Setting::Unreadable));
    }

    #[test]
    fn luids_pack_type_and_index_as_net_luid_lh() {
        // IF_TYPE_PROP_VIRTUAL (53), NetLuidIndex 3.
        assert_eq!(adapter_luid(53, 3), 0x0035_0000_0300_0000);
        assert_eq!(adapter_luid(0xFFFF, 0xFF_FFFF), 0xFFFF_FFFF_FF00_0000);
        // Wider values are cut to the bit-field, as the C assignment does.
        assert_eq!(adapter_luid(0x1_0035, 0x100_0003), 0x0035_0000_0300_0000);
        assert_eq!(adapter_luid(0, 0), 0);
    }

    #[test]
    fn versions_are_major_and_minor_in_wintun_form() {
        assert_eq!(wintun_version(ring_abi::DRIVER_VERSION), Ok(1)); // 0.1.0 -> 0.1
        assert_eq!(wintun_version(0x000E_0100), Ok(0x000E_0001)); // 14.1.0 -> 14.1
        assert_eq!(wintun_version(0x0001_0203), Ok(0x0001_0002)); // patch dropped
        assert_eq!(wintun_version(0x0000_0007), Err(ERROR_VERSION_PARSE_ERROR)); // 0.0.7
        assert_eq!(wintun_version(0), Err(ERROR_VERSION_PARSE_ERROR));
    }

    /// A module list as the system writes it, for `layout`, with `(path, file name offset)` entries.
    fn module_list(layout: ModuleListLayout, modules: &[(&str, usize)]) -> Vec<u8> {
        let mut out = vec![0u8; layout.first_entry + modules.len() * layout.entry_size];
        out[..4].copy_from_slice(&(modules.len() as u32).to_le_bytes());
        for (i, (path, offset)) in modules.iter().enumerate() {
            let entry = layout.first_entry + i * layout.entry_size;
            // Fill the pointer fields with non-zero bytes, as a real list has.
            out[entry..entry + layout.offset_to_file_name].fill(0xA5);
            out[entry + layout.offset_to_file_name..entry + layout.offset_to_file_name + 2]
                .copy_from_slice(&(*offset as u16).to_le_bytes());
            let name = entry + layout.full_path_name;
            out[name..name + path.len()].copy_from_slice(path.as_bytes());
        }
        out
    }

    /// A module entry whose file name starts after the path's last backslash.
    fn module(path: &'static str) -> (&'static str, usize) {
        (path, path.rfind('\\').map_or(0, |slash| slash + 1))
    }

    const NTOS: &str = "\\SystemRoot\\system32\\ntoskrnl.exe";
    const OURS: &str = "\\SystemRoot\\System32\\DriverStore\\FileRepository\\ringtun.inf_amd64_1\\RINGTUN.SYS";
    const NDIS: &str = "\\SystemRoot\\system32\\drivers\\ndis.sys";

    #[test]
    fn the_loaded_driver_is_found_by_file_name_in_either_layout() {
        for layout in [ModuleListLayout::BITS_64, ModuleListLayout::BITS_32] {
            let list = module_list(layout, &[module(NTOS), module(OURS), module(NDIS)]);
            assert_eq!(find_module(&list, layout, DRIVER_FILE_NAME), Some(OURS.as_bytes()));
            assert_eq!(find_module(&list, layout, "ntoskrnl.exe"), Some(NTOS.as_bytes()));
            let without = module_list(layout, &[module(NTOS), module(NDIS)]);
            assert_eq!(find_module(&without, layout, DRIVER_FILE_NAME), None);
        }
    }

    #[test]
    fn a_path_that_merely_ends_in_the_name_is_not_the_driver() {
        let layout = ModuleListLayout::NATIVE;
        // "xringtun.sys" with the file name starting at the x.
        let list = module_list(layout, &[("\\drivers\\xringtun.sys", 9)]);
        assert_eq!(find_module(&list, layout, DRIVER_FILE_NAME), None);
    }

    #[test]
    fn hostile_module_lists_end_without_a_match() {
        let layout = ModuleListLayout::BITS_64;
        let good = module_list(layout, &[module(OURS)]);
        // The count claims more entries than the buffer holds: the real one is still found.
        let mut overrun = good.clone();
        overrun[..4].copy_from_slice(&u32::MAX.to_le_bytes());
        assert_eq!(find_module(&overrun, layout, DRIVER_FILE_NAME), Some(OURS.as_bytes()));
        // Cut short: the entry is not read.
        assert_eq!(find_module(&good[..good.len() - 1], layout, DRIVER_FILE_NAME), None);
        assert_eq!(find_module(&good[..3], layout, DRIVER_FILE_NAME), None);
        assert_eq!(find_module(&[], layout, DRIVER_FILE_NAME), None);
        // File name offset beyond the path, and a path with no terminator.
        let bad_offset = module_list(layout, &[(OURS, 300)]);
        assert_eq!(find_module(&bad_offset, layout, DRIVER_FILE_NAME), None);
        let mut unterminated = good.clone();
        let path = layout.first_entry + layout.full_path_name;
        unterminated[path..path + FULL_PATH_NAME_LEN].fill(b'a');
        assert_eq!(find_module(&unterminated, layout, DRIVER_FILE_NAME), None);
        // The other layout's reading of the same bytes does not find it.
        assert_eq!(find_module(&good, ModuleListLayout::BITS_32, DRIVER_FILE_NAME), None);
    }

    #[test]
    fn the_layouts_follow_the_declaration() {
        for (layout, pointer) in [(ModuleListLayout::BITS_64, 8), (ModuleListLayout::BITS_32, 4)] {
            let after_pointers = 3 * pointer;
            assert_eq!(layout.offset_to_file_name, after_pointers + 4 + 4 + 2 * 3);
            assert_eq!(layout.full_path_name, layout.offset_to_file_name + 2);
            let unpadded = layout.full_path_name + FULL_PATH_NAME_LEN;
            assert_eq!(layout.entry_size, unpadded.next_multiple_of(pointer));
            assert_eq!(layout.first_entry, 4usize.next_multiple_of(pointer));
        }
    }

    #[test]
    fn orphans_are_absent_or_have_a_problem() {
        assert!(is_orphan(None));
        assert!(is_orphan(Some(DN_HAS_PROBLEM | 0x0000_000A)));
        assert!(!is_orphan(Some(0x0180_200A))); // DN_STARTED | DN_DRIVER_LOADED | ...
        assert!(!is_orphan(Some(0)));
    }

    #[test]
    fn the_first_error_is_kept() {
        let mut all = FirstError::default();
        assert_eq!(FirstError::default().result(), Ok(()));
        all.record(Ok(()));
        all.record(Err(5));
        all.record(Ok(()));
        all.record(Err(87));
        assert_eq!(all.result(), Err(5));
    }

    #[test]
    fn buffers_grow_to_what_is_needed_and_at_least_double() {
        assert_eq!(next_buffer_size(0x20000, 0x30000, 1 << 24), Ok(0x40000));
        assert_eq!(next_buffer_size(0x20000, 0x90000, 1 << 24), Ok(0x90000));
        assert_eq!(next_buffer_size(0x20000, 0, 1 << 24), Ok(0x40000));
        assert_eq!(next_buffer_size(1 << 24, 0, 1 << 24), Err(ERROR_BUFFER_OVERFLOW));
        assert_eq!(next_buffer_size(0, 0, 1 << 24), Err(ERROR_BUFFER_OVERFLOW));
    }
}
