//! Adapters on Windows: software devices of the INF's hardware ID, created, found, named and
//! removed as Wintun's are (see the module documentation of `platform::windows`).

use core::ffi::c_void;
use core::ptr;
use std::ffi::OsString;
use std::os::windows::ffi::OsStringExt;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use ringtun::backend::windows::{WindowsBackend, HARDWARE_ID};
use windows_sys::core::{GUID, HRESULT};
use windows_sys::Win32::Devices::DeviceAndDriverInstallation::{
    CM_Query_And_Remove_SubTreeW, CM_Register_Notification, CM_Uninstall_DevNode, CM_Unregister_Notification,
    RegDisposition_OpenAlways, RegDisposition_OpenExisting, SetupDiCallClassInstaller, SetupDiCreateDeviceInfoList,
    SetupDiDestroyDeviceInfoList, SetupDiOpenDeviceInfoW, SetupDiSetClassInstallParamsW,
    CM_GETIDLIST_FILTER_ENUMERATOR, CM_GETIDLIST_FILTER_PRESENT, CM_NOTIFY_ACTION,
    CM_NOTIFY_ACTION_DEVICEINTERFACEARRIVAL, CM_NOTIFY_EVENT_DATA, CM_NOTIFY_FILTER,
    CM_NOTIFY_FILTER_TYPE_DEVICEINTERFACE, CM_REMOVE_NO_RESTART, DIF_REMOVE, DI_REMOVEDEVICE_GLOBAL, GUID_DEVCLASS_NET,
    HCMNOTIFICATION, HDEVINFO, SP_CLASSINSTALL_HEADER, SP_DEVINFO_DATA, SP_REMOVEDEVICE_PARAMS,
};
use windows_sys::Win32::Devices::Enumeration::Pnp::{
    SWDeviceCapabilitiesDriverRequired, SWDeviceCapabilitiesSilentInstall, SwDeviceClose, SwDeviceCreate, HSWDEVICE,
    SW_DEVICE_CREATE_INFO,
};
use windows_sys::Win32::Devices::Properties::{
    DEVPKEY_Device_ClassGuid, DEVPKEY_Device_DeviceDesc, DEVPKEY_Device_FriendlyName, DEVPKEY_Device_ProblemStatus,
    DEVPROPCOMPKEY, DEVPROPERTY, DEVPROPID_FIRST_USABLE, DEVPROPKEY, DEVPROP_STORE_SYSTEM, DEVPROP_TYPE_GUID,
    DEVPROP_TYPE_NTSTATUS, DEVPROP_TYPE_STRING,
};
use windows_sys::Win32::Foundation::{
    CloseHandle, GetLastError, RtlNtStatusToDosError, BOOL, ERROR_GEN_FAILURE, ERROR_IN_WOW64, ERROR_PROC_NOT_FOUND,
    ERROR_TIMEOUT, HANDLE, INVALID_HANDLE_VALUE, NTSTATUS, WAIT_FAILED,
};
use windows_sys::Win32::NetworkManagement::IpHelper::{ConvertInterfaceAliasToLuid, ConvertInterfaceLuidToGuid};
use windows_sys::Win32::NetworkManagement::Ndis::{GUID_DEVINTERFACE_NET, NET_LUID_LH};
use windows_sys::Win32::Security::Cryptography::ProcessPrng;
use windows_sys::Win32::System::LibraryLoader::{GetProcAddress, LoadLibraryExW, LOAD_LIBRARY_SEARCH_SYSTEM32};
use windows_sys::Win32::System::Registry::{KEY_QUERY_VALUE, KEY_SET_VALUE};
use windows_sys::Win32::System::Threading::{CreateEventW, SetEvent, WaitForSingleObject, INFINITE};

use super::codes::{hresult_error, ERROR_DEVICE_NOT_AVAILABLE, ERROR_INVALID_DATA, ERROR_NOT_FOUND};
use super::ids::{
    dword_value, guid_bytes, guid_string, instance_id, is_adapter_instance, multi_sz, parse_guid, random_guid,
    string_bytes, string_property, string_value, wide, ADAPTERS_FILTER, ENUMERATOR, REG_BINARY,
};
use super::namespace::{self, DEVICE_INSTALLATION};
use super::pnp::{self, RegKey, MAX_DEVICE_ID_LEN};
use super::system::{adapter_luid, is_orphan};
use crate::platform::names::{assign_alias, device_description, names_equal, validate_name, ConnectionNames};
use crate::win32::{Guid, Win32Error};

/// The device property that holds an adapter's name (`WintunOpenAdapter` looks adapters up by
/// it), in a property set of the project's own: {67AA2C3B-8BE9-4C86-B323-631320B73C18}, the first
/// usable property ID.
const DEVPKEY_RINGTUN_NAME: DEVPROPKEY =
    DEVPROPKEY { fmtid: GUID::from_u128(0x67aa2c3b_8be9_4c86_b323_631320b73c18), pid: DEVPROPID_FIRST_USABLE };

/// How long a new or opened adapter may take to show its network interface (Wintun: 15 s).
const INTERFACE_TIMEOUT: Duration = Duration::from_secs(15);

/// How often the interface list is read again while waiting, besides the arrival notification.
const INTERFACE_POLL: Duration = Duration::from_millis(250);

fn last_error() -> u32 {
    // SAFETY: reads the calling thread's last error; no pointers.
    unsafe { GetLastError() }
}

fn to_sys(guid: &Guid) -> GUID {
    GUID { data1: guid.data1, data2: guid.data2, data3: guid.data3, data4: guid.data4 }
}

fn from_sys(guid: &GUID) -> Guid {
    Guid { data1: guid.data1, data2: guid.data2, data3: guid.data3, data4: guid.data4 }
}

/// An adapter handle.
pub struct Adapter {
    /// Device instance ID (`SWD\ringtun\{GUID}`), without terminator.
    instance_id: Vec<u16>,
    /// The path of its `GUID_DEVINTERFACE_NET` interface, without terminator.
    interface: Vec<u16>,
    luid: u64,
    /// The software device this handle created (its `HSWDEVICE` as an integer), removed on close.
    created: Option<usize>,
}

impl Adapter {
    /// `WintunCreateAdapter`.
    pub fn create(name: &[u16], tunnel_type: &[u16], requested_guid: Option<Guid>) -> Result<Self, Win32Error> {
        create(name, tunnel_type, requested_guid).map_err(Win32Error)
    }

    /// `WintunOpenAdapter`.
    pub fn open(name: &[u16]) -> Result<Self, Win32Error> {
        open(name).map_err(Win32Error)
    }

    /// `WintunCloseAdapter`: an adapter this handle created is removed.
    pub fn close(self) {
        if let Some(device) = self.created {
            // SAFETY: created by `SwDeviceCreate` in `create` and closed only here. With the
            // default lifetime, closing the handle removes the device from the running system.
            unsafe { SwDeviceClose(device as HSWDEVICE) };
            // Then its installation is removed (network configuration included), as Wintun does.
            let _ = remove_device(&self.instance_id);
        }
    }

    /// `WintunGetAdapterLUID`.
    pub fn luid(&self) -> u64 {
        self.luid
    }

    /// The device a session registers its rings through.
    pub fn open_backend(&self) -> Result<WindowsBackend, Win32Error> {
        WindowsBackend::open(&OsString::from_wide(&self.interface)).map_err(|e| Win32Error(crate::device_error_code(e)))
    }
}

fn create(name: &[u16], tunnel_type: &[u16], requested_guid: Option<Guid>) -> Result<Adapter, u32> {
    validate_name(name)?;
    let description = device_description(tunnel_type)?;
    let _installing = namespace::take(DEVICE_INSTALLATION)?;
    remove_orphans();

    let guid = match requested_guid {
        Some(guid) => guid,
        None => random_guid(random_bytes()?),
    };
    let guid_text = wide(&guid_string(&guid));
    let root = pnp::root_instance_id()?;
    suggest_network_guid(&root, &guid_text, &guid, &description)?;

    let name_z: Vec<u16> = name.iter().copied().chain(Some(0)).collect();
    let properties = [
        string_devproperty(&DEVPKEY_RINGTUN_NAME, &name_z),
        string_devproperty(&DEVPKEY_Device_FriendlyName, &description),
        string_devproperty(&DEVPKEY_Device_DeviceDesc, &description),
    ];
    let hardware_ids = multi_sz(&[HARDWARE_ID]);
    let (device, instance_id) = create_software_device(&root, &guid_text, &hardware_ids, &description, &properties)?;
    let mut adapter = Adapter { instance_id, interface: Vec::new(), luid: 0, created: Some(device) };
    match finish(&mut adapter, name) {
        Ok(()) => Ok(adapter),
        Err(error) => {
            adapter.close();
            Err(error)
        }
    }
}

/// The steps after the device exists: its interface, its LUID, its name.
fn finish(adapter: &mut Adapter, name: &[u16]) -> Result<(), u32> {
    let node = pnp::locate(&adapter.instance_id, false)?;
    adapter.interface = wait_for_interface(&adapter.instance_id, node)?;
    let (network_guid, luid) = read_interface_data(node)?;
    adapter.luid = luid;
    assign_alias(&mut SystemAliases::new()?, network_guid, name)?;
    Ok(())
}

fn open(name: &[u16]) -> Result<Adapter, u32> {
    let _installing = namespace::take(DEVICE_INSTALLATION)?;
    for id in pnp::device_ids(ADAPTERS_FILTER, CM_GETIDLIST_FILTER_ENUMERATOR | CM_GETIDLIST_FILTER_PRESENT)? {
        if !is_adapter_instance(&id) {
            continue;
        }
        let Ok(node) = pnp::locate(&id, false) else { continue };
        let Ok((kind, bytes)) = pnp::property(node, &DEVPKEY_RINGTUN_NAME) else { continue };
        if !string_property(kind, &bytes).is_ok_and(|other| names_equal(&other, name)) {
            continue;
        }
        let interface = wait_for_interface(&id, node)?;
        let (_, luid) = read_interface_data(node)?;
        return Ok(Adapter { instance_id: id, interface, luid, created: None });
    }
    Err(ERROR_NOT_FOUND)
}

fn random_bytes() -> Result<[u8; 16], u32> {
    let mut bytes = [0u8; 16];
    // SAFETY: `bytes` is writable for its length.
    if unsafe { ProcessPrng(bytes.as_mut_ptr(), bytes.len()) } == 0 {
        return Err(ERROR_GEN_FAILURE);
    }
    Ok(bytes)
}

fn string_devproperty(key: &DEVPROPKEY, value: &[u16]) -> DEVPROPERTY {
    DEVPROPERTY {
        CompKey: DEVPROPCOMPKEY { Key: *key, Store: DEVPROP_STORE_SYSTEM, LocaleName: ptr::null() },
        Type: DEVPROP_TYPE_STRING,
        BufferSize: (value.len() * 2) as u32,
        Buffer: value.as_ptr() as *mut c_void,
    }
}

/// What the creation callback reports, filled on a system thread while `create_software_device`
/// waits for `done`.
struct Creation {
    done: HANDLE,
    result: HRESULT,
    instance_id: [u16; MAX_DEVICE_ID_LEN],
}

unsafe extern "system" fn device_created(
    _device: HSWDEVICE,
    result: HRESULT,
    context: *const c_void,
    instance_id: *const u16,
) {
    // SAFETY: `context` is the `Creation` of `create_software_device`, which waits for `done`
    // before it goes; only this callback writes it meanwhile.
    let creation = unsafe { &mut *(context as *mut Creation) };
    creation.result = result;
    if !instance_id.is_null() {
        for (i, slot) in creation.instance_id.iter_mut().enumerate().take(MAX_DEVICE_ID_LEN - 1) {
            // SAFETY: the system's instance ID is NUL-terminated; reading stops at the NUL.
            let unit = unsafe { *instance_id.add(i) };
            *slot = unit;
            if unit == 0 {
                break;
            }
        }
    }
    // SAFETY: the event handle is valid while `create_software_device` waits on it.
    unsafe { SetEvent(creation.done) };
}

/// `SwDeviceCreate` under the root node, waiting for its callback. Returns the device handle (as
/// an integer) and the instance ID the system gave it.
fn create_software_device(
    root: &[u16],
    instance: &[u16],
    hardware_ids: &[u16],
    description: &[u16],
    properties: &[DEVPROPERTY],
) -> Result<(usize, Vec<u16>), u32> {
    let enumerator = wide(ENUMERATOR);
    let root: Vec<u16> = root.iter().copied().chain(Some(0)).collect();
    // SAFETY: an unnamed auto-reset event, not signalled.
    let done = unsafe { CreateEventW(ptr::null(), 0, 0, ptr::null()) };
    if done.is_null() {
        return Err(last_error());
    }
    let mut creation = Creation { done, result: 0, instance_id: [0; MAX_DEVICE_ID_LEN] };
    let info = SW_DEVICE_CREATE_INFO {
        cbSize: core::mem::size_of::<SW_DEVICE_CREATE_INFO>() as u32,
        pszInstanceId: instance.as_ptr(),
        pszzHardwareIds: hardware_ids.as_ptr(),
        pszzCompatibleIds: ptr::null(),
        pContainerId: ptr::null(),
        CapabilityFlags: (SWDeviceCapabilitiesSilentInstall | SWDeviceCapabilitiesDriverRequired) as u32,
        pszDeviceDescription: description.as_ptr(),
        pszDeviceLocation: ptr::null(),
        pSecurityDescriptor: ptr::null(),
    };
    let mut device: HSWDEVICE = ptr::null_mut();
    // SAFETY: every string is NUL-terminated (multi-strings doubly) and, with the properties and
    // `creation`, outlives the callback, which is waited for below before any of them goes.
    let hr = unsafe {
        SwDeviceCreate(
            enumerator.as_ptr(),
            root.as_ptr(),
            &info,
            properties.len() as u32,
            properties.as_ptr(),
            Some(device_created),
            ptr::addr_of_mut!(creation).cast(),
            &mut device,
        )
    };
    let outcome = if hr < 0 {
        Err(hresult_error(hr))
    // SAFETY: the event is valid; the callback sets it exactly once after a successful call.
    } else if unsafe { WaitForSingleObject(done, INFINITE) } == WAIT_FAILED {
        Err(last_error())
    } else if creation.result < 0 {
        Err(hresult_error(creation.result))
    } else {
        let end = creation.instance_id.iter().position(|&unit| unit == 0).unwrap_or(0);
        Ok(creation.instance_id.get(..end).unwrap_or(&[]).to_vec())
    };
    // SAFETY: created above; the callback has run (or was never to run).
    unsafe { CloseHandle(done) };
    match outcome {
        Ok(id) if !id.is_empty() => Ok((device as usize, id)),
        other => {
            if !device.is_null() {
                // SAFETY: the handle SwDeviceCreate returned, not kept.
                unsafe { SwDeviceClose(device) };
            }
            Err(other.err().unwrap_or(ERROR_GEN_FAILURE))
        }
    }
}

/// Makes the network class installer give the adapter `guid` as its `NetCfgInstanceId` (and so
/// its interface GUID): a driverless stub device of the same instance ID is created first, and its
/// software key is given `SuggestedInstanceId`, which survives the stub, as Wintun does.
fn suggest_network_guid(root: &[u16], instance: &[u16], guid: &Guid, description: &[u16]) -> Result<(), u32> {
    let class = GUID_DEVCLASS_NET;
    let properties = [DEVPROPERTY {
        CompKey: DEVPROPCOMPKEY { Key: DEVPKEY_Device_ClassGuid, Store: DEVPROP_STORE_SYSTEM, LocaleName: ptr::null() },
        Type: DEVPROP_TYPE_GUID,
        BufferSize: core::mem::size_of::<GUID>() as u32,
        Buffer: ptr::addr_of!(class) as *mut c_void,
    }];
    let (stub, id) = create_software_device(root, instance, &multi_sz(&[]), description, &properties)?;
    let suggested = (|| {
        let node = pnp::locate(&id, true)?;
        let key = RegKey::software(node, KEY_SET_VALUE, RegDisposition_OpenAlways)?;
        key.set("SuggestedInstanceId", REG_BINARY, &guid_bytes(guid))
    })();
    // SAFETY: the stub's handle, from create_software_device; closing it removes the stub.
    unsafe { SwDeviceClose(stub as HSWDEVICE) };
    suggested
}

/// Signals the waiting thread's event on every network interface arrival.
unsafe extern "system" fn interface_arrived(
    _notification: HCMNOTIFICATION,
    context: *const c_void,
    action: CM_NOTIFY_ACTION,
    _data: *const CM_NOTIFY_EVENT_DATA,
    _size: u32,
) -> u32 {
    if action == CM_NOTIFY_ACTION_DEVICEINTERFACEARRIVAL {
        // SAFETY: `context` is the event of `wait_for_interface`, which unregisters (waiting for
        // running callbacks) before closing it.
        unsafe { SetEvent(context as HANDLE) };
    }
    0
}

/// Waits until the device's network interface is present (Wintun waits for the same, up to 15 s)
/// and returns its path. If it does not come, the error is the device's problem status, or
/// `ERROR_DEVICE_NOT_AVAILABLE` when it has none.
fn wait_for_interface(instance_id: &[u16], node: u32) -> Result<Vec<u16>, u32> {
    // SAFETY: an unnamed auto-reset event, not signalled.
    let arrived = unsafe { CreateEventW(ptr::null(), 0, 0, ptr::null()) };
    if arrived.is_null() {
        return Err(last_error());
    }
    // SAFETY: CM_NOTIFY_FILTER is plain data; zeroed is its documented starting state.
    let mut filter: CM_NOTIFY_FILTER = unsafe { core::mem::zeroed() };
    filter.cbSize = core::mem::size_of::<CM_NOTIFY_FILTER>() as u32;
    filter.FilterType = CM_NOTIFY_FILTER_TYPE_DEVICEINTERFACE;
    filter.u.DeviceInterface.ClassGuid = GUID_DEVINTERFACE_NET;
    let mut notification: HCMNOTIFICATION = ptr::null_mut();
    // SAFETY: the filter is valid for the call; the context (the event) outlives the
    // registration, which is ended below before the event is closed. Without the notification
    // the wait still polls.
    let registered = unsafe {
        CM_Register_Notification(&filter, arrived as *const c_void, Some(interface_arrived), &mut notification)
    } == 0;
    let deadline = Instant::now() + INTERFACE_TIMEOUT;
    let outcome = loop {
        match pnp::net_interfaces(instance_id) {
            Ok(paths) => {
                if let Some(path) = paths.into_iter().next() {
                    break Ok(path);
                }
            }
            Err(error) => break Err(error),
        }
        let now = Instant::now();
        if now >= deadline {
            break Err(ERROR_TIMEOUT);
        }
        let wait = (deadline - now).min(INTERFACE_POLL);
        // SAFETY: the event is valid until closed below.
        unsafe { WaitForSingleObject(arrived, wait.as_millis() as u32) };
    };
    if registered {
        // SAFETY: registered above; unregistering waits for a running callback.
        unsafe { CM_Unregister_Notification(notification) };
    }
    // SAFETY: created above; no callback uses it any more.
    unsafe { CloseHandle(arrived) };
    outcome.map_err(|_| problem_error(node))
}

/// The Win32 error of a device's problem status, or `ERROR_DEVICE_NOT_AVAILABLE`.
fn problem_error(node: u32) -> u32 {
    let status = match pnp::property(node, &DEVPKEY_Device_ProblemStatus) {
        Ok((DEVPROP_TYPE_NTSTATUS, bytes)) => match bytes[..] {
            [a, b, c, d] => NTSTATUS::from_le_bytes([a, b, c, d]),
            _ => 0,
        },
        _ => 0,
    };
    // SAFETY: maps a status to a code; no pointers.
    match unsafe { RtlNtStatusToDosError(status) } {
        0 => ERROR_DEVICE_NOT_AVAILABLE,
        error => error,
    }
}

/// The adapter's network GUID (`NetCfgInstanceId`) and LUID (`NetLuidIndex`, `*IfType`), from its
/// software key, where the network class installer wrote them.
fn read_interface_data(node: u32) -> Result<(Guid, u64), u32> {
    let key = RegKey::software(node, KEY_QUERY_VALUE, RegDisposition_OpenExisting)?;
    let (kind, bytes) = key.query("NetCfgInstanceId")?;
    let guid = parse_guid(&string_value(kind, &bytes)?).ok_or(ERROR_INVALID_DATA)?;
    let (kind, bytes) = key.query("NetLuidIndex")?;
    let luid_index = dword_value(kind, &bytes)?;
    let (kind, bytes) = key.query("*IfType")?;
    let if_type = dword_value(kind, &bytes)?;
    Ok((guid, adapter_luid(if_type, luid_index)))
}

/// `NciSetConnectionName` (nci.dll, not in the SDK; declared in Wintun's api/nci.h): sets the
/// alias of the interface whose network GUID is given.
type NciSetConnectionName = unsafe extern "system" fn(guid: *const GUID, name: *const u16) -> u32;

/// nci.dll's function, loaded once from System32 (never from the application's directory).
fn nci_set_connection_name() -> Result<NciSetConnectionName, u32> {
    static FUNCTION: OnceLock<Result<usize, u32>> = OnceLock::new();
    let address = FUNCTION.get_or_init(|| {
        let dll = wide("nci.dll");
        // SAFETY: a NUL-terminated name; loaded for the life of the process.
        let module = unsafe { LoadLibraryExW(dll.as_ptr(), ptr::null_mut(), LOAD_LIBRARY_SEARCH_SYSTEM32) };
        if module.is_null() {
            return Err(last_error());
        }
        // SAFETY: a NUL-terminated ANSI name in a module that stays loaded.
        match unsafe { GetProcAddress(module, c"NciSetConnectionName".as_ptr().cast()) } {
            Some(function) => Ok(function as usize),
            None => Err(ERROR_PROC_NOT_FOUND),
        }
    });
    let address = (*address)?;
    // SAFETY: the address of nci.dll's NciSetConnectionName, whose signature is the type's.
    Ok(unsafe { core::mem::transmute::<usize, NciSetConnectionName>(address) })
}

/// The system's interface aliases, for the naming policy.
struct SystemAliases {
    set: NciSetConnectionName,
}

impl SystemAliases {
    fn new() -> Result<Self, u32> {
        Ok(Self { set: nci_set_connection_name()? })
    }
}

impl ConnectionNames for SystemAliases {
    type Id = Guid;

    fn set_alias(&mut self, who: Guid, name: &[u16]) -> u32 {
        let guid = to_sys(&who);
        let name: Vec<u16> = name.iter().copied().chain(Some(0)).collect();
        // SAFETY: both pointers are valid for the call.
        unsafe { (self.set)(&guid, name.as_ptr()) }
    }

    fn alias_owner(&mut self, name: &[u16]) -> Option<Guid> {
        let name: Vec<u16> = name.iter().copied().chain(Some(0)).collect();
        // SAFETY: NET_LUID_LH is a plain union of integers.
        let mut luid: NET_LUID_LH = unsafe { core::mem::zeroed() };
        // SAFETY: a NUL-terminated alias and a valid out pointer.
        if unsafe { ConvertInterfaceAliasToLuid(name.as_ptr(), &mut luid) } != 0 {
            return None;
        }
        let mut guid = GUID::from_u128(0);
        // SAFETY: valid in and out pointers.
        if unsafe { ConvertInterfaceLuidToGuid(&luid, &mut guid) } != 0 {
            return None;
        }
        Some(from_sys(&guid))
    }

    fn renamed(&mut self, who: Guid, name: &[u16]) {
        // An adapter of ours that was moved to another alias keeps its name property in step, so
        // that WintunOpenAdapter finds it under its new name. Ours are SWD\ringtun\{its network
        // GUID} when the suggested GUID took effect: that instance is tried first, then all.
        let is_holder = |node: u32| {
            RegKey::software(node, KEY_QUERY_VALUE, RegDisposition_OpenExisting)
                .and_then(|key| key.query("NetCfgInstanceId"))
                .ok()
                .and_then(|(kind, bytes)| string_value(kind, &bytes).ok())
                .and_then(|text| parse_guid(&text))
                == Some(who)
        };
        let expected: Vec<u16> = instance_id(&who).encode_utf16().collect();
        let others = pnp::device_ids(ADAPTERS_FILTER, CM_GETIDLIST_FILTER_ENUMERATOR).unwrap_or_default();
        for id in Some(expected).into_iter().chain(others) {
            let Ok(node) = pnp::locate(&id, true) else { continue };
            if is_holder(node) {
                let _ = pnp::set_property(node, &DEVPKEY_RINGTUN_NAME, DEVPROP_TYPE_STRING, &string_bytes(name));
                return;
            }
        }
    }
}

/// Removes an adapter's device installation (`DIF_REMOVE` through the class installer, which also
/// removes its network configuration). A 32-bit process on 64-bit Windows cannot call class
/// installers (`ERROR_IN_WOW64`): there the device node is removed and uninstalled through the
/// configuration manager instead.
pub fn remove_device(instance_id: &[u16]) -> Result<(), u32> {
    let id: Vec<u16> = instance_id.iter().copied().chain(Some(0)).collect();
    // SAFETY: an empty device information set of the network class.
    let set: HDEVINFO = unsafe { SetupDiCreateDeviceInfoList(&GUID_DEVCLASS_NET, ptr::null_mut()) };
    if set == INVALID_HANDLE_VALUE as HDEVINFO {
        return Err(last_error());
    }
    let result = (|| {
        // SAFETY: SP_DEVINFO_DATA is plain data; cbSize is set as required.
        let mut data: SP_DEVINFO_DATA = unsafe { core::mem::zeroed() };
        data.cbSize = core::mem::size_of::<SP_DEVINFO_DATA>() as u32;
        // SAFETY: `set` is valid; `id` is NUL-terminated; `data` is a valid out structure.
        if unsafe { SetupDiOpenDeviceInfoW(set, id.as_ptr(), ptr::null_mut(), 0, &mut data) } == 0 {
            return Err(last_error());
        }
        let params = SP_REMOVEDEVICE_PARAMS {
            ClassInstallHeader: SP_CLASSINSTALL_HEADER {
                cbSize: core::mem::size_of::<SP_CLASSINSTALL_HEADER>() as u32,
                InstallFunction: DIF_REMOVE,
            },
            Scope: DI_REMOVEDEVICE_GLOBAL,
            HwProfile: 0,
        };
        // SAFETY: the parameters are valid for the call and their size is given.
        let ok: BOOL = unsafe {
            SetupDiSetClassInstallParamsW(
                set,
                &data,
                &params.ClassInstallHeader,
                core::mem::size_of::<SP_REMOVEDEVICE_PARAMS>() as u32,
            )
        };
        // SAFETY: `set` and `data` are valid.
        if ok != 0 && unsafe { SetupDiCallClassInstaller(DIF_REMOVE, set, &data) } != 0 {
            return Ok(());
        }
        match last_error() {
            ERROR_IN_WOW64 => uninstall_node(instance_id),
            error => Err(error),
        }
    })();
    // SAFETY: created above.
    unsafe { SetupDiDestroyDeviceInfoList(set) };
    result
}

/// The configuration manager's removal: query-remove the node if it is present, then uninstall it.
fn uninstall_node(instance_id: &[u16]) -> Result<(), u32> {
    let node = pnp::locate(instance_id, true)?;
    if pnp::status(node).is_some() {
        // SAFETY: no veto buffers are asked for.
        let cr =
            unsafe { CM_Query_And_Remove_SubTreeW(node, ptr::null_mut(), ptr::null_mut(), 0, CM_REMOVE_NO_RESTART) };
        pnp::check(cr, ERROR_GEN_FAILURE)?;
    }
    // SAFETY: a device node handle; flags must be 0.
    pnp::check(unsafe { CM_Uninstall_DevNode(node, 0) }, ERROR_GEN_FAILURE)
}

/// Removes the adapters of ours left behind (not present: their creator went away without
/// closing them; or with a problem), as Wintun does before it creates one. The caller holds the
/// device-installation lock. Failures are left for the next clean-up.
pub fn remove_orphans() {
    let Ok(ids) = pnp::device_ids(ADAPTERS_FILTER, CM_GETIDLIST_FILTER_ENUMERATOR) else { return };
    for id in ids {
        if !is_adapter_instance(&id) {
            continue;
        }
        let Ok(node) = pnp::locate(&id, true) else { continue };
        if is_orphan(pnp::status(node)) {
            let _ = remove_device(&id);
        }
    }
}
