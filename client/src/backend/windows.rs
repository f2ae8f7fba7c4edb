//! The Windows backend: the installed ringtun driver, through its adapter's device.
//!
//! The client opens the adapter's NDIS device interface (`GUID_DEVINTERFACE_NET`) and sends the
//! two IOCTLs with `DeviceIoControl`; ring memory comes from `VirtualAlloc` (page-aligned,
//! zeroed) and events from `CreateEventW` (auto-reset). Only SYSTEM and Administrators may open
//! the device.

use std::ffi::{OsStr, OsString};
use std::os::windows::ffi::{OsStrExt, OsStringExt};
use std::ptr;
use std::sync::RwLock;
use std::time::Duration;

use ring_abi::CallerBitness;
use windows_sys::Win32::Devices::DeviceAndDriverInstallation::{
    CM_Get_DevNode_Registry_PropertyW, CM_Get_Device_Interface_ListW, CM_Get_Device_Interface_List_SizeW,
    CM_Get_Device_Interface_PropertyW, CM_Locate_DevNodeW, CM_Register_Notification, CM_Unregister_Notification,
    CM_DRP_HARDWAREID, CM_GET_DEVICE_INTERFACE_LIST_PRESENT, CM_LOCATE_DEVNODE_NORMAL, CM_NOTIFY_ACTION,
    CM_NOTIFY_ACTION_DEVICEQUERYREMOVE, CM_NOTIFY_ACTION_DEVICEREMOVECOMPLETE, CM_NOTIFY_ACTION_DEVICEREMOVEPENDING,
    CM_NOTIFY_EVENT_DATA, CM_NOTIFY_FILTER, CM_NOTIFY_FILTER_TYPE_DEVICEHANDLE, CR_SUCCESS, HCMNOTIFICATION,
};
use windows_sys::Win32::Devices::Properties::{DEVPKEY_Device_InstanceId, DEVPROPTYPE};
use windows_sys::Win32::Foundation::{
    CloseHandle, GetLastError, BOOL, ERROR_ACCESS_DENIED, ERROR_ALREADY_INITIALIZED, ERROR_INSUFFICIENT_BUFFER,
    ERROR_INVALID_FUNCTION, ERROR_INVALID_HANDLE, ERROR_INVALID_PARAMETER, ERROR_INVALID_USER_BUFFER,
    ERROR_NOT_ENOUGH_MEMORY, ERROR_NOT_READY, ERROR_NO_SYSTEM_RESOURCES, HANDLE, INVALID_HANDLE_VALUE, WAIT_OBJECT_0,
};
use windows_sys::Win32::NetworkManagement::Ndis::GUID_DEVINTERFACE_NET;
use windows_sys::Win32::Storage::FileSystem::{
    CreateFileW, FILE_ATTRIBUTE_NORMAL, FILE_SHARE_READ, FILE_SHARE_WRITE, OPEN_EXISTING,
};
use windows_sys::Win32::System::Memory::{
    VirtualAlloc, VirtualFree, MEM_COMMIT, MEM_RELEASE, MEM_RESERVE, PAGE_READWRITE,
};
use windows_sys::Win32::System::Threading::{
    CreateEventW, GetCurrentProcess, IsWow64Process, SetEvent, WaitForSingleObject, INFINITE,
};
use windows_sys::Win32::System::IO::DeviceIoControl;

use super::{Backend, ClientEvent, DeviceError, RingMemory};

/// The hardware id the INF installs adapters under.
pub const HARDWARE_ID: &str = "ringtun";

const GENERIC_READ: u32 = 0x8000_0000;
const GENERIC_WRITE: u32 = 0x4000_0000;

fn wide(s: &OsStr) -> Vec<u16> {
    s.encode_wide().chain(Some(0)).collect()
}

fn last_error() -> DeviceError {
    // SAFETY: reads the calling thread's last-error value; no preconditions.
    let code = unsafe { GetLastError() };
    match code {
        ERROR_INVALID_PARAMETER => DeviceError::InvalidParameter,
        ERROR_INVALID_FUNCTION => DeviceError::InvalidDeviceRequest,
        ERROR_ALREADY_INITIALIZED => DeviceError::AlreadyInitialized,
        ERROR_NO_SYSTEM_RESOURCES | ERROR_NOT_ENOUGH_MEMORY => DeviceError::InsufficientResources,
        ERROR_NOT_READY => DeviceError::NotReady,
        ERROR_INSUFFICIENT_BUFFER => DeviceError::BufferTooSmall,
        ERROR_ACCESS_DENIED => DeviceError::AccessDenied,
        ERROR_INVALID_HANDLE => DeviceError::InvalidHandle,
        ERROR_INVALID_USER_BUFFER => DeviceError::InvalidUserBuffer,
        other => DeviceError::Os(other),
    }
}

/// Splits a `REG_MULTI_SZ`-style UTF-16 buffer into strings.
fn multi_sz(buffer: &[u16]) -> Vec<OsString> {
    buffer.split(|&c| c == 0).filter(|s| !s.is_empty()).map(OsString::from_wide).collect()
}

/// The device interface paths of every present ringtun adapter.
pub fn adapter_paths() -> Result<Vec<OsString>, DeviceError> {
    let mut len = 0u32;
    // SAFETY: `len` is a valid out pointer; a null device id asks for every interface of the class.
    let cr = unsafe {
        CM_Get_Device_Interface_List_SizeW(
            &mut len,
            &GUID_DEVINTERFACE_NET,
            ptr::null(),
            CM_GET_DEVICE_INTERFACE_LIST_PRESENT,
        )
    };
    if cr != CR_SUCCESS {
        return Err(DeviceError::Os(cr));
    }
    let mut list = vec![0u16; len as usize];
    // SAFETY: `list` holds `len` UTF-16 units, as the size query asked for.
    let cr = unsafe {
        CM_Get_Device_Interface_ListW(
            &GUID_DEVINTERFACE_NET,
            ptr::null(),
            list.as_mut_ptr(),
            len,
            CM_GET_DEVICE_INTERFACE_LIST_PRESENT,
        )
    };
    if cr != CR_SUCCESS {
        return Err(DeviceError::Os(cr));
    }
    Ok(multi_sz(&list).into_iter().filter(|path| is_ringtun_interface(path)).collect())
}

/// The device instance id of the device interface `path` (what `pnputil` takes).
pub fn instance_id(path: &OsStr) -> Option<OsString> {
    let instance = instance_id_wide(path)?;
    let end = instance.iter().position(|&c| c == 0).unwrap_or(instance.len());
    Some(OsString::from_wide(instance.get(..end)?))
}

fn instance_id_wide(path: &OsStr) -> Option<[u16; 512]> {
    let path = wide(path);
    let mut instance = [0u16; 512];
    let mut size = (instance.len() * 2) as u32;
    let mut kind: DEVPROPTYPE = 0;
    // SAFETY: `path` is NUL-terminated; `instance` is `size` bytes.
    let cr = unsafe {
        CM_Get_Device_Interface_PropertyW(
            path.as_ptr(),
            &DEVPKEY_Device_InstanceId,
            &mut kind,
            instance.as_mut_ptr().cast(),
            &mut size,
            0,
        )
    };
    (cr == CR_SUCCESS).then_some(instance)
}

fn is_ringtun_interface(path: &OsStr) -> bool {
    let Some(instance) = instance_id_wide(path) else { return false };
    let mut devinst = 0u32;
    // SAFETY: `instance` is a NUL-terminated device instance id written by the call above.
    if unsafe { CM_Locate_DevNodeW(&mut devinst, instance.as_ptr(), CM_LOCATE_DEVNODE_NORMAL) } != CR_SUCCESS {
        return false;
    }
    let mut ids = [0u16; 1024];
    let mut ids_size = (ids.len() * 2) as u32;
    let mut reg_type = 0u32;
    // SAFETY: `ids` is `ids_size` bytes.
    let cr = unsafe {
        CM_Get_DevNode_Registry_PropertyW(
            devinst,
            CM_DRP_HARDWAREID,
            &mut reg_type,
            ids.as_mut_ptr().cast(),
            &mut ids_size,
            0,
        )
    };
    cr == CR_SUCCESS && multi_sz(&ids).iter().any(|id| id.to_string_lossy().eq_ignore_ascii_case(HARDWARE_ID))
}

/// An open handle on a ringtun adapter's device. Closing it ends the session it registered.
///
/// The handle is registered for Windows' device-handle notifications: when the device is about
/// to be removed (a PnP query-remove: disable, uninstall, driver update), the handle is closed
/// so that the removal is not vetoed for an outstanding open handle; the driver ends the session
/// at the same time, and every later request fails.
pub struct WindowsBackend {
    device: Box<DeviceHandle>,
    notification: HCMNOTIFICATION,
    bitness: CallerBitness,
}

/// The device handle, closable from the notification callback while requests may be in flight:
/// requests hold the read lock for the duration of the call, closing takes the write lock.
struct DeviceHandle {
    /// The handle as an integer (`HANDLE` is a pointer and not `Send`); `None` once closed.
    handle: RwLock<Option<usize>>,
}

impl DeviceHandle {
    fn close(&self) {
        let mut handle = self.handle.write().unwrap_or_else(|e| e.into_inner());
        if let Some(h) = handle.take() {
            // SAFETY: the handle was opened by `WindowsBackend::open` and is closed once: it was
            // taken out of the lock, and no request is using it (they hold the read lock).
            unsafe { CloseHandle(h as HANDLE) };
        }
    }
}

/// Device-handle notification callback: closes the handle when the device is about to go.
unsafe extern "system" fn device_notification(
    _notification: HCMNOTIFICATION,
    context: *const core::ffi::c_void,
    action: CM_NOTIFY_ACTION,
    _data: *const CM_NOTIFY_EVENT_DATA,
    _size: u32,
) -> u32 {
    if matches!(
        action,
        CM_NOTIFY_ACTION_DEVICEQUERYREMOVE
            | CM_NOTIFY_ACTION_DEVICEREMOVEPENDING
            | CM_NOTIFY_ACTION_DEVICEREMOVECOMPLETE
    ) {
        // SAFETY: `context` is the boxed `DeviceHandle` registered in `open`, which outlives the
        // registration (`drop` unregisters, which waits for running callbacks, before freeing it).
        let device = unsafe { &*context.cast::<DeviceHandle>() };
        device.close();
    }
    // ERROR_SUCCESS: the removal may proceed.
    0
}

// SAFETY: a device handle and a notification registration may be used from any thread;
// DeviceIoControl is thread-safe and the handle is guarded by its lock.
unsafe impl Send for WindowsBackend {}
// SAFETY: as above.
unsafe impl Sync for WindowsBackend {}

impl WindowsBackend {
    /// Opens the device at `path` (one of [`adapter_paths`]).
    pub fn open(path: &OsStr) -> Result<Self, DeviceError> {
        let path = wide(path);
        // SAFETY: `path` is NUL-terminated; no security attributes or template.
        let device = unsafe {
            CreateFileW(
                path.as_ptr(),
                GENERIC_READ | GENERIC_WRITE,
                FILE_SHARE_READ | FILE_SHARE_WRITE,
                ptr::null(),
                OPEN_EXISTING,
                FILE_ATTRIBUTE_NORMAL,
                ptr::null_mut(),
            )
        };
        if device == INVALID_HANDLE_VALUE {
            return Err(last_error());
        }
        let target = device;
        let device = Box::new(DeviceHandle { handle: RwLock::new(Some(device as usize)) });
        // SAFETY: CM_NOTIFY_FILTER is plain data; zeroed is its documented starting state.
        let mut filter: CM_NOTIFY_FILTER = unsafe { core::mem::zeroed() };
        filter.cbSize = core::mem::size_of::<CM_NOTIFY_FILTER>() as u32;
        filter.FilterType = CM_NOTIFY_FILTER_TYPE_DEVICEHANDLE;
        filter.u.DeviceHandle.hTarget = target;
        let mut notification: HCMNOTIFICATION = ptr::null_mut();
        // SAFETY: the filter names our open handle; the context is the boxed handle, whose address
        // is stable and which lives until `drop` has unregistered.
        let cr = unsafe {
            CM_Register_Notification(
                &filter,
                ptr::addr_of!(*device).cast(),
                Some(device_notification),
                &mut notification,
            )
        };
        if cr != CR_SUCCESS {
            // Without the notification the handle still works; only a removal would be vetoed
            // while it is open (as with any device handle).
            notification = ptr::null_mut();
        }
        Ok(Self { device, notification, bitness: process_bitness() })
    }

    /// Opens the first present ringtun adapter.
    pub fn open_first() -> Result<Self, DeviceError> {
        let paths = adapter_paths()?;
        let path = paths.first().ok_or(DeviceError::NotReady)?;
        Self::open(path)
    }

    fn ioctl(&self, code: u32, input: &[u8], output: &mut [u8]) -> Result<usize, DeviceError> {
        let handle = self.device.handle.read().unwrap_or_else(|e| e.into_inner());
        // Closed because the device is being removed.
        let Some(device) = *handle else { return Err(DeviceError::NotReady) };
        let mut returned = 0u32;
        let in_len = u32::try_from(input.len()).map_err(|_| DeviceError::InvalidParameter)?;
        let out_len = u32::try_from(output.len()).map_err(|_| DeviceError::InvalidParameter)?;
        // SAFETY: the buffers are valid for their lengths for the whole (synchronous) call.
        let ok = unsafe {
            DeviceIoControl(
                device as HANDLE,
                code,
                input.as_ptr().cast(),
                in_len,
                output.as_mut_ptr().cast(),
                out_len,
                &mut returned,
                ptr::null_mut(),
            )
        };
        if ok == 0 {
            return Err(last_error());
        }
        Ok(returned as usize)
    }
}

impl Drop for WindowsBackend {
    fn drop(&mut self) {
        if !self.notification.is_null() {
            // SAFETY: registered in `open`; unregistering waits for a running callback, so the
            // boxed handle is not in use by one afterwards.
            unsafe { CM_Unregister_Notification(self.notification) };
        }
        self.device.close();
    }
}

fn process_bitness() -> CallerBitness {
    if cfg!(target_pointer_width = "32") {
        return CallerBitness::Bits32;
    }
    let mut wow64: BOOL = 0;
    // SAFETY: the pseudo-handle of the current process and a valid out pointer.
    let ok = unsafe { IsWow64Process(GetCurrentProcess(), &mut wow64) };
    if ok != 0 && wow64 != 0 {
        CallerBitness::Bits32
    } else {
        CallerBitness::Bits64
    }
}

/// An auto-reset event.
pub struct WindowsEvent(HANDLE);

// SAFETY: event handles may be used from any thread.
unsafe impl Send for WindowsEvent {}
// SAFETY: as above.
unsafe impl Sync for WindowsEvent {}

impl ClientEvent for WindowsEvent {
    fn handle(&self) -> u64 {
        self.0 as usize as u64
    }

    fn set(&self) {
        // SAFETY: a valid event handle owned by this value.
        unsafe { SetEvent(self.0) };
    }

    fn wait(&self, timeout: Option<Duration>) -> bool {
        let ms = timeout.map_or(INFINITE, |t| u32::try_from(t.as_millis()).unwrap_or(INFINITE - 1));
        // SAFETY: a valid event handle owned by this value.
        unsafe { WaitForSingleObject(self.0, ms) == WAIT_OBJECT_0 }
    }
}

impl Drop for WindowsEvent {
    fn drop(&mut self) {
        // SAFETY: created by `create_event`, closed only here.
        unsafe { CloseHandle(self.0) };
    }
}

/// Ring memory from `VirtualAlloc`.
pub struct WindowsRingMemory {
    ptr: *mut u8,
    len: usize,
}

// SAFETY: plain committed memory owned by this value; accessed through raw pointers only.
unsafe impl Send for WindowsRingMemory {}
// SAFETY: as above.
unsafe impl Sync for WindowsRingMemory {}

impl RingMemory for WindowsRingMemory {
    fn as_ptr(&self) -> *mut u8 {
        self.ptr
    }

    fn len(&self) -> usize {
        self.len
    }
}

impl Drop for WindowsRingMemory {
    fn drop(&mut self) {
        // SAFETY: reserved and committed by `alloc_ring`; MEM_RELEASE takes size 0.
        unsafe { VirtualFree(self.ptr.cast(), 0, MEM_RELEASE) };
    }
}

impl Backend for WindowsBackend {
    type Event = WindowsEvent;
    type Memory = WindowsRingMemory;

    fn device_io_control(&self, code: u32, input: &[u8], output: &mut [u8]) -> Result<usize, DeviceError> {
        self.ioctl(code, input, output)
    }

    fn alloc_ring(&self, size: usize) -> Result<WindowsRingMemory, DeviceError> {
        // SAFETY: a fresh reservation anywhere; committed pages are zeroed by the OS.
        let ptr = unsafe { VirtualAlloc(ptr::null(), size, MEM_COMMIT | MEM_RESERVE, PAGE_READWRITE) };
        if ptr.is_null() {
            return Err(last_error());
        }
        Ok(WindowsRingMemory { ptr: ptr.cast(), len: size })
    }

    fn create_event(&self) -> Result<WindowsEvent, DeviceError> {
        // SAFETY: an unnamed auto-reset event, initially not signalled.
        let handle = unsafe { CreateEventW(ptr::null(), 0, 0, ptr::null()) };
        if handle.is_null() {
            return Err(last_error());
        }
        Ok(WindowsEvent(handle))
    }

    fn bitness(&self) -> CallerBitness {
        self.bitness
    }
}
