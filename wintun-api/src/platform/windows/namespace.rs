//! System-wide locks that serialize adapter and driver installation between processes, as
//! Wintun's do: named mutexes in a private object namespace whose boundary is the Administrators
//! group, so that an unprivileged process can neither take nor squat them.

use core::ptr;
use std::sync::Mutex;

use windows_sys::Win32::Foundation::{
    CloseHandle, GetLastError, LocalFree, ERROR_ALREADY_EXISTS, ERROR_GEN_FAILURE, ERROR_PATH_NOT_FOUND, HANDLE,
    WAIT_ABANDONED, WAIT_OBJECT_0,
};
use windows_sys::Win32::Security::Authorization::{
    ConvertStringSecurityDescriptorToSecurityDescriptorW, SDDL_REVISION_1,
};
use windows_sys::Win32::Security::{
    CreateWellKnownSid, WinBuiltinAdministratorsSid, PSECURITY_DESCRIPTOR, PSID, SECURITY_ATTRIBUTES,
    SECURITY_MAX_SID_SIZE,
};
use windows_sys::Win32::System::Threading::{
    AddSIDToBoundaryDescriptor, CreateBoundaryDescriptorW, CreateMutexW, CreatePrivateNamespaceW,
    DeleteBoundaryDescriptor, OpenPrivateNamespaceW, ReleaseMutex, WaitForSingleObject, INFINITE,
};

use super::ids::wide;

/// The namespace's alias prefix: objects in it are named `ringtun\<name>`.
const NAMESPACE: &str = "ringtun";

/// Held while adapters are created, opened, removed or cleaned up.
pub const DEVICE_INSTALLATION: &str = "Device-Installation";
/// Held while driver packages are deleted.
pub const DRIVER_INSTALLATION: &str = "Driver-Installation";

/// Full access for SYSTEM and Administrators only, protected from inheritance, high integrity.
const SDDL: &str = "D:P(A;;GA;;;SY)(A;;GA;;;BA)S:(ML;;NWNRNX;;;HI)";

fn last_error() -> u32 {
    // SAFETY: reads the calling thread's last error; no pointers.
    unsafe { GetLastError() }
}

/// A security descriptor from [`SDDL`], freed on drop.
struct Descriptor(PSECURITY_DESCRIPTOR);

impl Descriptor {
    fn new() -> Result<Self, u32> {
        let sddl = wide(SDDL);
        let mut descriptor: PSECURITY_DESCRIPTOR = ptr::null_mut();
        // SAFETY: `sddl` is NUL-terminated; the out pointer is valid; the size is not asked for.
        let ok = unsafe {
            ConvertStringSecurityDescriptorToSecurityDescriptorW(
                sddl.as_ptr(),
                SDDL_REVISION_1,
                &mut descriptor,
                ptr::null_mut(),
            )
        };
        if ok == 0 {
            return Err(last_error());
        }
        Ok(Self(descriptor))
    }

    fn attributes(&self) -> SECURITY_ATTRIBUTES {
        SECURITY_ATTRIBUTES {
            nLength: core::mem::size_of::<SECURITY_ATTRIBUTES>() as u32,
            lpSecurityDescriptor: self.0,
            bInheritHandle: 0,
        }
    }
}

impl Drop for Descriptor {
    fn drop(&mut self) {
        // SAFETY: allocated by ConvertStringSecurityDescriptorToSecurityDescriptorW with LocalAlloc.
        unsafe { LocalFree(self.0) };
    }
}

/// A boundary descriptor (the namespace's required SID), deleted on drop: it is needed only to
/// create or open the namespace.
struct Boundary(HANDLE);

impl Boundary {
    fn new(name: &[u16]) -> Result<Self, u32> {
        // SAFETY: `name` is NUL-terminated.
        let boundary = unsafe { CreateBoundaryDescriptorW(name.as_ptr(), 0) };
        if boundary.is_null() {
            return Err(last_error());
        }
        Ok(Self(boundary))
    }

    fn add_sid(&mut self, sid: PSID) -> Result<(), u32> {
        // SAFETY: a boundary descriptor of this value and a valid SID; the call may move the
        // descriptor and updates the handle in place.
        if unsafe { AddSIDToBoundaryDescriptor(&mut self.0, sid) } == 0 {
            return Err(last_error());
        }
        Ok(())
    }

    fn get(&self) -> HANDLE {
        self.0
    }
}

impl Drop for Boundary {
    fn drop(&mut self) {
        // SAFETY: created by `new`, deleted only here.
        unsafe { DeleteBoundaryDescriptor(self.0) };
    }
}

/// The private namespace, opened once per process and kept open (its handle as an integer).
static OPENED: Mutex<Option<usize>> = Mutex::new(None);

fn ensure_namespace(descriptor: &Descriptor) -> Result<(), u32> {
    let mut opened = OPENED.lock().unwrap_or_else(|e| e.into_inner());
    if opened.is_some() {
        return Ok(());
    }
    let mut sid = [0u8; SECURITY_MAX_SID_SIZE as usize];
    let mut sid_size = sid.len() as u32;
    // SAFETY: `sid` holds `sid_size` bytes; no domain SID for a builtin group.
    if unsafe {
        CreateWellKnownSid(WinBuiltinAdministratorsSid, ptr::null_mut(), sid.as_mut_ptr().cast(), &mut sid_size)
    } == 0
    {
        return Err(last_error());
    }
    let name = wide(NAMESPACE);
    let mut boundary = Boundary::new(&name)?;
    boundary.add_sid(sid.as_mut_ptr().cast())?;
    let attributes = descriptor.attributes();
    let namespace = loop {
        // SAFETY: the attributes, boundary and name are valid for the call.
        let created = unsafe { CreatePrivateNamespaceW(&attributes, boundary.get(), name.as_ptr()) };
        if !created.is_null() {
            break created;
        }
        let error = last_error();
        if error != ERROR_ALREADY_EXISTS {
            return Err(error);
        }
        // SAFETY: as above.
        let existing = unsafe { OpenPrivateNamespaceW(boundary.get(), name.as_ptr()) };
        if !existing.is_null() {
            break existing;
        }
        // The other process closed it between the two calls: create it again.
        let error = last_error();
        if error != ERROR_PATH_NOT_FOUND {
            return Err(error);
        }
    };
    *opened = Some(namespace as usize);
    Ok(())
}

/// A taken named mutex, released and closed on drop.
pub struct Taken(HANDLE);

/// Takes the mutex `ringtun\<name>`, waiting as long as another process holds it. A mutex whose
/// holder died (abandoned) is taken as well.
pub fn take(name: &str) -> Result<Taken, u32> {
    let descriptor = Descriptor::new()?;
    ensure_namespace(&descriptor)?;
    let attributes = descriptor.attributes();
    let full = wide(&format!("{NAMESPACE}\\{name}"));
    // SAFETY: the attributes and the NUL-terminated name are valid for the call.
    let mutex = unsafe { CreateMutexW(&attributes, 0, full.as_ptr()) };
    if mutex.is_null() {
        return Err(last_error());
    }
    // SAFETY: a mutex handle just opened.
    match unsafe { WaitForSingleObject(mutex, INFINITE) } {
        WAIT_OBJECT_0 | WAIT_ABANDONED => Ok(Taken(mutex)),
        _ => {
            // SAFETY: opened above, not returned.
            unsafe { CloseHandle(mutex) };
            Err(ERROR_GEN_FAILURE)
        }
    }
}

impl Drop for Taken {
    fn drop(&mut self) {
        // SAFETY: owned by this thread since `take`; closed only here.
        unsafe {
            ReleaseMutex(self.0);
            CloseHandle(self.0);
        }
    }
}
