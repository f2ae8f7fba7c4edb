//! The driver as a whole: which version is running, and deleting its packages from the driver
//! store.

use core::ptr;

use ringtun::backend::windows::{adapter_paths, WindowsBackend, HARDWARE_ID};
use ringtun::backend::Backend;
use windows_sys::Wdk::System::SystemInformation::{NtQuerySystemInformation, SYSTEM_INFORMATION_CLASS};
use windows_sys::Win32::Devices::DeviceAndDriverInstallation::{
    SetupDiBuildDriverInfoList, SetupDiCreateDeviceInfoList, SetupDiCreateDeviceInfoW, SetupDiDestroyDeviceInfoList,
    SetupDiDestroyDriverInfoList, SetupDiEnumDriverInfoW, SetupDiGetDriverInfoDetailW,
    SetupDiSetDeviceRegistryPropertyW, SetupUninstallOEMInfW, DICD_GENERATE_ID, GUID_DEVCLASS_NET, HDEVINFO,
    SPDIT_COMPATDRIVER, SPDRP_HARDWAREID, SP_DEVINFO_DATA, SP_DRVINFO_DATA_V2_W, SP_DRVINFO_DETAIL_DATA_W,
};
use windows_sys::Win32::Foundation::{
    GetLastError, RtlNtStatusToDosError, ERROR_INSUFFICIENT_BUFFER, ERROR_NO_MORE_ITEMS, INVALID_HANDLE_VALUE,
};

use super::adapter::remove_orphans;
use super::codes::{ERROR_FILE_NOT_FOUND, STATUS_INFO_LENGTH_MISMATCH};
use super::ids::{file_name, multi_sz, wide};
use super::namespace::{self, DEVICE_INSTALLATION, DRIVER_INSTALLATION};
use super::pnp::RegKey;
use super::system::{
    deletion_setting, find_module, next_buffer_size, wintun_version, FirstError, ModuleListLayout, DRIVER_FILE_NAME,
};
use crate::logger;
use crate::platform::driver_deletion::{self, Decision};

/// `SystemModuleInformation` (phnt's ntexapi.h, Wintun's api/ntdll.h): the loaded kernel modules,
/// as `RTL_PROCESS_MODULES`.
const SYSTEM_MODULE_INFORMATION: SYSTEM_INFORMATION_CLASS = 11;

/// First size tried for the module list (Wintun: 128 KiB), and the largest accepted.
const MODULE_LIST_FIRST: usize = 128 * 1024;
const MODULE_LIST_LIMIT: usize = 16 * 1024 * 1024;

fn last_error() -> u32 {
    // SAFETY: reads the calling thread's last error; no pointers.
    unsafe { GetLastError() }
}

/// Whether `ringtun.sys` is among the loaded kernel modules (`NtQuerySystemInformation`, as
/// Wintun looks for `wintun.sys`).
fn driver_loaded() -> Result<bool, u32> {
    let mut size = MODULE_LIST_FIRST;
    loop {
        // 8-byte units: the list holds pointers.
        let mut buffer = vec![0u64; size.div_ceil(8)];
        let mut needed = 0u32;
        // SAFETY: `buffer` is writable for `size` bytes; `needed` is a valid out pointer.
        let status = unsafe {
            NtQuerySystemInformation(SYSTEM_MODULE_INFORMATION, buffer.as_mut_ptr().cast(), size as u32, &mut needed)
        };
        if status == STATUS_INFO_LENGTH_MISMATCH {
            size = next_buffer_size(size, needed as usize, MODULE_LIST_LIMIT)?;
            continue;
        }
        if status < 0 {
            // SAFETY: maps a status to a code; no pointers.
            return Err(unsafe { RtlNtStatusToDosError(status) });
        }
        let bytes: Vec<u8> = buffer.iter().flat_map(|unit| unit.to_ne_bytes()).collect();
        let written = bytes.get(..(needed as usize).min(size)).unwrap_or(&bytes);
        return Ok(find_module(written, ModuleListLayout::NATIVE, DRIVER_FILE_NAME).is_some());
    }
}

/// `WintunGetRunningDriverVersion`: `ERROR_FILE_NOT_FOUND` when `ringtun.sys` is not loaded;
/// otherwise the version the running driver reports through an adapter's capability query, in
/// Wintun's `major << 16 | minor` form. Wintun reads the loaded image's file version instead; the
/// driver's own answer is the version of the code that runs. Opening an adapter's device needs an
/// elevated administrator or SYSTEM, as every other adapter call does.
pub fn running_driver_version() -> Result<u32, u32> {
    if !driver_loaded()? {
        return Err(ERROR_FILE_NOT_FOUND);
    }
    let mut error = ERROR_FILE_NOT_FOUND;
    for path in adapter_paths().map_err(crate::device_error_code)? {
        let answer = WindowsBackend::open(&path).and_then(|device| device.query_capabilities());
        match answer {
            Ok(capabilities) => return wintun_version(capabilities.driver_version),
            Err(e) => error = crate::device_error_code(e),
        }
    }
    Err(error)
}

/// `WintunDeleteDriver`: removes leftover adapters, as Wintun does; then, if the administrator
/// opted in ([`driver_deletion`]: `HKLM\SOFTWARE\ringtun`, `WintunDeleteDriver` = 1), every driver
/// package in the driver store that installs the hardware ID `ringtun` (`SetupUninstallOEMInfW`
/// without `SUOI_FORCEDELETE`, so that Windows refuses a package still used by a device; every
/// package is tried and the first error is returned: `ERROR_INF_IN_USE_BY_DEVICES` while an
/// adapter exists). Otherwise the package stays, the logger is told, and the call succeeds.
pub fn delete_driver() -> Result<(), u32> {
    {
        let _installing = namespace::take(DEVICE_INSTALLATION)?;
        remove_orphans();
    }
    let how = driver_deletion::registry_opt_in();
    match driver_deletion::decide(deletion_setting(registry_setting())) {
        Decision::Remove => {}
        Decision::Keep => {
            logger::info(format_args!("{}", driver_deletion::kept_message(&how)));
            return Ok(());
        }
        Decision::KeepIgnoringSetting(setting) => {
            logger::warn(format_args!("{}", driver_deletion::ignored_message(&how, setting)));
            return Ok(());
        }
    }
    let _deleting = namespace::take(DRIVER_INSTALLATION)?;
    // SAFETY: an empty device information set of the network class.
    let set: HDEVINFO = unsafe { SetupDiCreateDeviceInfoList(&GUID_DEVCLASS_NET, ptr::null_mut()) };
    if set == INVALID_HANDLE_VALUE as HDEVINFO {
        return Err(last_error());
    }
    let result = delete_packages(set);
    // SAFETY: created above.
    unsafe { SetupDiDestroyDeviceInfoList(set) };
    result
}

/// The `WintunDeleteDriver` value as read from the registry.
fn registry_setting() -> Result<(u32, Vec<u8>), u32> {
    RegKey::local_machine(driver_deletion::REGISTRY_KEY)?.query(driver_deletion::REGISTRY_VALUE)
}

fn delete_packages(set: HDEVINFO) -> Result<(), u32> {
    // A device information element that exists only in this set, given the hardware ID, so that
    // the compatible-driver search finds every package that installs it.
    // SAFETY: SP_DEVINFO_DATA is plain data; cbSize is set as required.
    let mut device: SP_DEVINFO_DATA = unsafe { core::mem::zeroed() };
    device.cbSize = core::mem::size_of::<SP_DEVINFO_DATA>() as u32;
    let name = wide(HARDWARE_ID);
    // SAFETY: valid set, NUL-terminated name, class GUID and out structure.
    if unsafe {
        SetupDiCreateDeviceInfoW(
            set,
            name.as_ptr(),
            &GUID_DEVCLASS_NET,
            ptr::null(),
            ptr::null_mut(),
            DICD_GENERATE_ID,
            &mut device,
        )
    } == 0
    {
        return Err(last_error());
    }
    let ids: Vec<u8> = multi_sz(&[HARDWARE_ID]).iter().flat_map(|unit| unit.to_le_bytes()).collect();
    // SAFETY: `ids` is a REG_MULTI_SZ of its length.
    if unsafe { SetupDiSetDeviceRegistryPropertyW(set, &mut device, SPDRP_HARDWAREID, ids.as_ptr(), ids.len() as u32) }
        == 0
    {
        return Err(last_error());
    }
    // SAFETY: valid set and element.
    if unsafe { SetupDiBuildDriverInfoList(set, &mut device, SPDIT_COMPATDRIVER) } == 0 {
        return Err(last_error());
    }
    let mut outcome = FirstError::default();
    for index in 0.. {
        // SAFETY: plain data; cbSize is set as required.
        let mut driver: SP_DRVINFO_DATA_V2_W = unsafe { core::mem::zeroed() };
        driver.cbSize = core::mem::size_of::<SP_DRVINFO_DATA_V2_W>() as u32;
        // SAFETY: valid set, element and out structure.
        if unsafe { SetupDiEnumDriverInfoW(set, &device, SPDIT_COMPATDRIVER, index, &mut driver) } == 0 {
            if last_error() == ERROR_NO_MORE_ITEMS {
                break;
            }
            continue;
        }
        // The fixed part holds the INF's path; the hardware IDs that follow are not needed, so a
        // detail that does not fit (ERROR_INSUFFICIENT_BUFFER) is still read.
        // SAFETY: plain data; cbSize is the fixed part's size, as required.
        let mut detail: SP_DRVINFO_DETAIL_DATA_W = unsafe { core::mem::zeroed() };
        detail.cbSize = core::mem::size_of::<SP_DRVINFO_DETAIL_DATA_W>() as u32;
        let mut required = 0u32;
        // SAFETY: `detail` is writable for the size given.
        let ok =
            unsafe { SetupDiGetDriverInfoDetailW(set, &device, &driver, &mut detail, detail.cbSize, &mut required) };
        if ok == 0 && last_error() != ERROR_INSUFFICIENT_BUFFER {
            continue;
        }
        let path = detail.InfFileName;
        let end = path.iter().position(|&unit| unit == 0).unwrap_or(path.len());
        let inf: Vec<u16> = file_name(path.get(..end).unwrap_or(&[])).iter().copied().chain(Some(0)).collect();
        // SAFETY: a NUL-terminated file name; no reserved argument.
        let removed = unsafe { SetupUninstallOEMInfW(inf.as_ptr(), 0, ptr::null()) };
        outcome.record(if removed != 0 { Ok(()) } else { Err(last_error()) });
    }
    // SAFETY: built above.
    unsafe { SetupDiDestroyDriverInfoList(set, &device, SPDIT_COMPATDRIVER) };
    outcome.result()
}
