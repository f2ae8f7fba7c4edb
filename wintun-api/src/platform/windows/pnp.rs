//! Thin wrappers over the configuration manager (cfgmgr32) and the registry: every decision is
//! made by the caller or by the portable modules; these only call and translate.

use core::ptr;

use windows_sys::core::GUID;
use windows_sys::Win32::Devices::DeviceAndDriverInstallation::{
    CM_Get_DevNode_PropertyW, CM_Get_DevNode_Status, CM_Get_Device_IDW, CM_Get_Device_ID_ListW,
    CM_Get_Device_ID_List_SizeW, CM_Get_Device_Interface_ListW, CM_Get_Device_Interface_List_SizeW, CM_Locate_DevNodeW,
    CM_MapCrToWin32Err, CM_Open_DevNode_Key, CM_Set_DevNode_PropertyW, CM_DEVNODE_STATUS_FLAGS,
    CM_GET_DEVICE_INTERFACE_LIST_PRESENT, CM_LOCATE_DEVNODE_NORMAL, CM_LOCATE_DEVNODE_PHANTOM, CM_PROB,
    CM_REGISTRY_SOFTWARE, CONFIGRET, CR_BUFFER_SMALL, CR_SUCCESS,
};
use windows_sys::Win32::Devices::Properties::{DEVPROPKEY, DEVPROPTYPE};
use windows_sys::Win32::Foundation::{ERROR_GEN_FAILURE, ERROR_SUCCESS};
use windows_sys::Win32::NetworkManagement::Ndis::GUID_DEVINTERFACE_NET;
use windows_sys::Win32::System::Registry::{
    RegCloseKey, RegOpenKeyExW, RegQueryValueExW, RegSetValueExW, HKEY, HKEY_LOCAL_MACHINE, KEY_QUERY_VALUE,
    KEY_WOW64_64KEY,
};

use super::ids::{split_multi_sz, wide};

/// Longest device instance ID, terminator included (`MAX_DEVICE_ID_LEN`, cfgmgr32.h).
pub const MAX_DEVICE_ID_LEN: usize = 200;

/// A configuration-manager result as a Win32 error (`CM_MapCrToWin32Err`, with `default` for
/// results it has no mapping for).
pub fn check(cr: CONFIGRET, default: u32) -> Result<(), u32> {
    if cr == CR_SUCCESS {
        return Ok(());
    }
    // SAFETY: maps a code to a code; no pointers.
    Err(unsafe { CM_MapCrToWin32Err(cr, default) })
}

/// The device instance IDs that match `filter` with `flags` (`CM_GETIDLIST_FILTER_*`).
pub fn device_ids(filter: &str, flags: u32) -> Result<Vec<Vec<u16>>, u32> {
    let filter = wide(filter);
    loop {
        let mut len = 0u32;
        // SAFETY: `len` is a valid out pointer; `filter` is NUL-terminated.
        check(unsafe { CM_Get_Device_ID_List_SizeW(&mut len, filter.as_ptr(), flags) }, ERROR_GEN_FAILURE)?;
        let mut list = vec![0u16; len as usize];
        // SAFETY: `list` holds `len` units, as the size query asked for.
        let cr = unsafe { CM_Get_Device_ID_ListW(filter.as_ptr(), list.as_mut_ptr(), len, flags) };
        // The list grew between the two calls: ask again.
        if cr == CR_BUFFER_SMALL {
            continue;
        }
        check(cr, ERROR_GEN_FAILURE)?;
        return Ok(split_multi_sz(&list).into_iter().map(<[u16]>::to_vec).collect());
    }
}

/// The device node of instance `id` (UTF-16 without terminator); with `phantom`, also one that is
/// not present.
pub fn locate(id: &[u16], phantom: bool) -> Result<u32, u32> {
    let id: Vec<u16> = id.iter().copied().chain(Some(0)).collect();
    let mut node = 0u32;
    let flags = if phantom { CM_LOCATE_DEVNODE_PHANTOM } else { CM_LOCATE_DEVNODE_NORMAL };
    // SAFETY: `id` is NUL-terminated; `node` is a valid out pointer.
    check(unsafe { CM_Locate_DevNodeW(&mut node, id.as_ptr(), flags) }, ERROR_GEN_FAILURE)?;
    Ok(node)
}

/// The root device node's instance ID (`HTREE\ROOT\0`), the parent of software devices.
pub fn root_instance_id() -> Result<Vec<u16>, u32> {
    let mut root = 0u32;
    // SAFETY: a null device ID locates the root; `root` is a valid out pointer.
    check(unsafe { CM_Locate_DevNodeW(&mut root, ptr::null(), CM_LOCATE_DEVNODE_NORMAL) }, ERROR_GEN_FAILURE)?;
    let mut id = [0u16; MAX_DEVICE_ID_LEN];
    // SAFETY: `id` holds `MAX_DEVICE_ID_LEN` units.
    check(unsafe { CM_Get_Device_IDW(root, id.as_mut_ptr(), id.len() as u32, 0) }, ERROR_GEN_FAILURE)?;
    let end = id.iter().position(|&unit| unit == 0).unwrap_or(id.len());
    Ok(id.get(..end).unwrap_or(&[]).to_vec())
}

/// The node's status flags (`DN_*`), or `None` when the node is not present (its status cannot be
/// read).
pub fn status(node: u32) -> Option<u32> {
    let mut status: CM_DEVNODE_STATUS_FLAGS = 0;
    let mut problem: CM_PROB = 0;
    // SAFETY: both out pointers are valid.
    let cr = unsafe { CM_Get_DevNode_Status(&mut status, &mut problem, node, 0) };
    (cr == CR_SUCCESS).then_some(status)
}

/// A device property's type and bytes.
pub fn property(node: u32, key: &DEVPROPKEY) -> Result<(DEVPROPTYPE, Vec<u8>), u32> {
    let mut buffer = vec![0u8; 256];
    loop {
        let mut kind: DEVPROPTYPE = 0;
        let mut size = buffer.len() as u32;
        // SAFETY: `buffer` holds `size` bytes; the other pointers are valid.
        let cr = unsafe { CM_Get_DevNode_PropertyW(node, key, &mut kind, buffer.as_mut_ptr(), &mut size, 0) };
        if cr == CR_BUFFER_SMALL && size as usize > buffer.len() {
            buffer.resize(size as usize, 0);
            continue;
        }
        check(cr, ERROR_GEN_FAILURE)?;
        buffer.truncate(size as usize);
        return Ok((kind, buffer));
    }
}

/// Sets a device property.
pub fn set_property(node: u32, key: &DEVPROPKEY, kind: DEVPROPTYPE, bytes: &[u8]) -> Result<(), u32> {
    // SAFETY: `bytes` is valid for its length during the call.
    let cr = unsafe { CM_Set_DevNode_PropertyW(node, key, kind, bytes.as_ptr(), bytes.len() as u32, 0) };
    check(cr, ERROR_GEN_FAILURE)
}

/// The present `GUID_DEVINTERFACE_NET` interfaces of device instance `id`: the paths `CreateFileW`
/// opens (the adapter's device, through which sessions register their rings).
pub fn net_interfaces(id: &[u16]) -> Result<Vec<Vec<u16>>, u32> {
    interfaces(&GUID_DEVINTERFACE_NET, id)
}

fn interfaces(class: &GUID, id: &[u16]) -> Result<Vec<Vec<u16>>, u32> {
    let id: Vec<u16> = id.iter().copied().chain(Some(0)).collect();
    loop {
        let mut len = 0u32;
        // SAFETY: `len` is a valid out pointer; `id` is NUL-terminated.
        let cr = unsafe {
            CM_Get_Device_Interface_List_SizeW(&mut len, class, id.as_ptr(), CM_GET_DEVICE_INTERFACE_LIST_PRESENT)
        };
        check(cr, ERROR_GEN_FAILURE)?;
        let mut list = vec![0u16; len as usize];
        // SAFETY: `list` holds `len` units, as the size query asked for.
        let cr = unsafe {
            CM_Get_Device_Interface_ListW(
                class,
                id.as_ptr(),
                list.as_mut_ptr(),
                len,
                CM_GET_DEVICE_INTERFACE_LIST_PRESENT,
            )
        };
        if cr == CR_BUFFER_SMALL {
            continue;
        }
        check(cr, ERROR_GEN_FAILURE)?;
        return Ok(split_multi_sz(&list).into_iter().map(<[u16]>::to_vec).collect());
    }
}

/// An open registry key, closed on drop.
pub struct RegKey(HKEY);

impl RegKey {
    /// The node's software (driver) key: `HKLM\SYSTEM\CurrentControlSet\Control\Class\{class}\NNNN`,
    /// where the network class installer writes `NetCfgInstanceId`, `NetLuidIndex` and `*IfType`.
    pub fn software(node: u32, access: u32, disposition: u32) -> Result<Self, u32> {
        let mut key: HKEY = ptr::null_mut();
        // SAFETY: `key` is a valid out pointer.
        let cr = unsafe { CM_Open_DevNode_Key(node, access, 0, disposition, &mut key, CM_REGISTRY_SOFTWARE) };
        check(cr, ERROR_GEN_FAILURE)?;
        Ok(Self(key))
    }

    /// `HKEY_LOCAL_MACHINE\<path>` for reading values, in the registry's 64-bit view also from a
    /// 32-bit process (whose `SOFTWARE` is otherwise redirected to `WOW6432Node`), so that both
    /// builds of the DLL read the same machine-wide setting. `ERROR_FILE_NOT_FOUND` if absent.
    pub fn local_machine(path: &str) -> Result<Self, u32> {
        let path = wide(path);
        let mut key: HKEY = ptr::null_mut();
        // SAFETY: a predefined key, a NUL-terminated path and a valid out pointer.
        let result =
            unsafe { RegOpenKeyExW(HKEY_LOCAL_MACHINE, path.as_ptr(), 0, KEY_QUERY_VALUE | KEY_WOW64_64KEY, &mut key) };
        if result == ERROR_SUCCESS {
            Ok(Self(key))
        } else {
            Err(result)
        }
    }

    /// A value's type and bytes.
    pub fn query(&self, name: &str) -> Result<(u32, Vec<u8>), u32> {
        let name = wide(name);
        let mut buffer = vec![0u8; 128];
        loop {
            let mut kind = 0u32;
            let mut size = buffer.len() as u32;
            // SAFETY: `buffer` holds `size` bytes; the key is open.
            let result = unsafe {
                RegQueryValueExW(self.0, name.as_ptr(), ptr::null(), &mut kind, buffer.as_mut_ptr(), &mut size)
            };
            if result == windows_sys::Win32::Foundation::ERROR_MORE_DATA && size as usize > buffer.len() {
                buffer.resize(size as usize, 0);
                continue;
            }
            if result != ERROR_SUCCESS {
                return Err(result);
            }
            buffer.truncate(size as usize);
            return Ok((kind, buffer));
        }
    }

    /// Sets a value.
    pub fn set(&self, name: &str, kind: u32, bytes: &[u8]) -> Result<(), u32> {
        let name = wide(name);
        // SAFETY: `bytes` is valid for its length; the key is open.
        let result = unsafe { RegSetValueExW(self.0, name.as_ptr(), 0, kind, bytes.as_ptr(), bytes.len() as u32) };
        if result == ERROR_SUCCESS {
            Ok(())
        } else {
            Err(result)
        }
    }
}

impl Drop for RegKey {
    fn drop(&mut self) {
        // SAFETY: opened by `software` or `local_machine`, closed only here.
        unsafe { RegCloseKey(self.0) };
    }
}
