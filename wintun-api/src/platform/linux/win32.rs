//! What a Windows client of the API expects of the system, in the Linux build only: the Win32
//! calls a Wintun client makes around the 14 exports, with Win32's signatures and results.
//!
//! - `GetLastError` / `SetLastError`: the calling thread's last error (the exports set it);
//! - `CreateEventW`, `SetEvent`, `ResetEvent`, `CloseHandle`: events in the library's handle
//!   table (auto-reset or manual-reset, optionally named within the process; security
//!   attributes are ignored). `CloseHandle` refuses a session's read-wait event;
//! - `WaitForSingleObject`, `WaitForMultipleObjects`: waits on those events with a timeout in
//!   milliseconds or `INFINITE`; `WAIT_OBJECT_0 + i`, `WAIT_TIMEOUT` or `WAIT_FAILED`. Waiting
//!   for all of several objects (`bWaitAll`) is not provided (`ERROR_NOT_SUPPORTED`);
//! - `LoadLibraryExW`, `LoadLibraryW`, `GetProcAddress`, `FreeLibrary`: `dlopen`/`dlsym`/
//!   `dlclose`. A module named `wintun.dll` (any case, any directory) is this library; any other
//!   name is passed to `dlopen` as UTF-8. The search flags of `LoadLibraryExW` are accepted and
//!   have no effect.
//!
//! Strings are UTF-16 (`WCHAR` is 16 bits in the Linux build's header, unlike `wchar_t`).

#![allow(non_snake_case)]

use core::ffi::{c_char, c_void};
use std::cell::Cell;
use std::time::Duration;

use ringtun_driver::host::HostEvent;
use ringtun_driver::platform::Event as _;

use super::handles;
use crate::win32::{
    Handle, Win32Error, ERROR_ALREADY_EXISTS, ERROR_INVALID_HANDLE, ERROR_INVALID_PARAMETER, ERROR_MOD_NOT_FOUND,
    ERROR_NOT_SUPPORTED, ERROR_PROC_NOT_FOUND, ERROR_SUCCESS, INFINITE, MAXIMUM_WAIT_OBJECTS, WAIT_FAILED,
    WAIT_OBJECT_0, WAIT_TIMEOUT,
};

thread_local! {
    static LAST_ERROR: Cell<u32> = const { Cell::new(ERROR_SUCCESS) };
}

/// Sets the calling thread's last error.
pub fn set_last_error(code: u32) {
    LAST_ERROR.with(|e| e.set(code));
}

/// The calling thread's last error.
pub fn last_error() -> u32 {
    LAST_ERROR.with(Cell::get)
}

/// `BOOL` result: `TRUE`, or `FALSE` with the last error set.
fn bool_result(r: Result<(), Win32Error>) -> i32 {
    match r {
        Ok(()) => 1,
        Err(e) => {
            set_last_error(e.0);
            0
        }
    }
}

/// Reads a NUL-terminated UTF-16 string (without its NUL), at most `max` units.
///
/// # Safety
/// `s` is null or points to a NUL-terminated UTF-16 string.
pub unsafe fn wide_string(s: *const u16, max: usize) -> Option<Vec<u16>> {
    if s.is_null() {
        return None;
    }
    let mut out = Vec::new();
    for i in 0..max {
        // SAFETY: the caller guarantees a NUL-terminated string; reading stops at the NUL (or at
        // `max`, before it, for an over-long string).
        let unit = unsafe { s.add(i).read() };
        if unit == 0 {
            return Some(out);
        }
        out.push(unit);
    }
    None
}

/// `DWORD GetLastError(VOID)`.
#[no_mangle]
pub extern "system" fn GetLastError() -> u32 {
    last_error()
}

/// `VOID SetLastError(DWORD dwErrCode)`.
#[no_mangle]
pub extern "system" fn SetLastError(code: u32) {
    set_last_error(code);
}

/// Longest event name accepted (Windows' `MAX_PATH`).
const MAX_EVENT_NAME: usize = 260;

/// `HANDLE CreateEventW(LPSECURITY_ATTRIBUTES, BOOL bManualReset, BOOL bInitialState, LPCWSTR lpName)`.
///
/// # Safety
/// `name` is null or a NUL-terminated UTF-16 string.
#[no_mangle]
pub unsafe extern "system" fn CreateEventW(
    _attributes: *const c_void,
    manual_reset: i32,
    initial_state: i32,
    name: *const u16,
) -> Handle {
    let name = if name.is_null() {
        None
    } else {
        // SAFETY: forwarded from the caller's contract.
        match unsafe { wide_string(name, MAX_EVENT_NAME) } {
            Some(n) => Some(n),
            None => {
                set_last_error(ERROR_INVALID_PARAMETER);
                return core::ptr::null_mut();
            }
        }
    };
    let (handle, existed) = handles::create_event(manual_reset != 0, initial_state != 0, name);
    // Windows sets the last error on success too: ERROR_ALREADY_EXISTS for an existing name.
    set_last_error(if existed { ERROR_ALREADY_EXISTS } else { ERROR_SUCCESS });
    handle as Handle
}

/// `BOOL SetEvent(HANDLE)`.
#[no_mangle]
pub extern "system" fn SetEvent(handle: Handle) -> i32 {
    bool_result(handles::event(handle as usize).map(|e| e.set()))
}

/// `BOOL ResetEvent(HANDLE)`.
#[no_mangle]
pub extern "system" fn ResetEvent(handle: Handle) -> i32 {
    bool_result(handles::event(handle as usize).map(|e| e.clear()))
}

/// `BOOL CloseHandle(HANDLE)`.
#[no_mangle]
pub extern "system" fn CloseHandle(handle: Handle) -> i32 {
    bool_result(handles::close(handle as usize))
}

fn wait(handles_in: &[usize], wait_all: bool, milliseconds: u32) -> u32 {
    if handles_in.is_empty() || handles_in.len() > MAXIMUM_WAIT_OBJECTS as usize {
        set_last_error(ERROR_INVALID_PARAMETER);
        return WAIT_FAILED;
    }
    if wait_all && handles_in.len() > 1 {
        set_last_error(ERROR_NOT_SUPPORTED);
        return WAIT_FAILED;
    }
    let events = match handles::events(handles_in) {
        Ok(events) => events,
        Err(e) => {
            set_last_error(e.0);
            return WAIT_FAILED;
        }
    };
    let refs: Vec<&HostEvent> = events.iter().collect();
    let timeout = (milliseconds != INFINITE).then(|| Duration::from_millis(u64::from(milliseconds)));
    match HostEvent::wait_any(&refs, timeout) {
        // At most 64 events: the index fits.
        Some(i) => WAIT_OBJECT_0 + i as u32,
        None => WAIT_TIMEOUT,
    }
}

/// `DWORD WaitForSingleObject(HANDLE, DWORD dwMilliseconds)`.
#[no_mangle]
pub extern "system" fn WaitForSingleObject(handle: Handle, milliseconds: u32) -> u32 {
    wait(&[handle as usize], false, milliseconds)
}

/// `DWORD WaitForMultipleObjects(DWORD nCount, const HANDLE *lpHandles, BOOL bWaitAll, DWORD dwMilliseconds)`.
///
/// # Safety
/// `handles` points to `count` handles.
#[no_mangle]
pub unsafe extern "system" fn WaitForMultipleObjects(
    count: u32,
    handles_in: *const Handle,
    wait_all: i32,
    milliseconds: u32,
) -> u32 {
    if handles_in.is_null() || count == 0 || count > MAXIMUM_WAIT_OBJECTS {
        set_last_error(ERROR_INVALID_PARAMETER);
        return WAIT_FAILED;
    }
    // SAFETY: the caller passes `count` (1..=64, checked) handles at `handles_in` (non-null).
    let slice = unsafe { core::slice::from_raw_parts(handles_in, count as usize) };
    let values: Vec<usize> = slice.iter().map(|&h| h as usize).collect();
    wait(&values, wait_all != 0, milliseconds)
}

/// The file name part of a module path (after the last `/` or `\`).
fn file_name(path: &[u16]) -> &[u16] {
    match path.iter().rposition(|&c| c == u16::from(b'/') || c == u16::from(b'\\')) {
        Some(i) => path.get(i + 1..).unwrap_or(&[]),
        None => path,
    }
}

/// Whether `path` names Wintun's DLL.
fn is_wintun_dll(path: &[u16]) -> bool {
    String::from_utf16(file_name(path)).is_ok_and(|n| n.eq_ignore_ascii_case("wintun.dll"))
}

/// The path of the shared object this code is in.
fn this_library() -> Option<std::ffi::CString> {
    // SAFETY: `Dl_info` is plain data, zero is a valid starting state.
    let mut info: libc::Dl_info = unsafe { core::mem::zeroed() };
    let address = this_library as *const c_void;
    // SAFETY: `address` is a code address in this object; `info` is a valid out pointer.
    if unsafe { libc::dladdr(address, &mut info) } == 0 || info.dli_fname.is_null() {
        return None;
    }
    // SAFETY: `dladdr` filled `dli_fname` with a NUL-terminated path owned by the loader.
    Some(unsafe { std::ffi::CStr::from_ptr(info.dli_fname) }.to_owned())
}

/// Longest module path accepted.
const MAX_MODULE_PATH: usize = 4096;

/// `HMODULE LoadLibraryExW(LPCWSTR lpLibFileName, HANDLE hFile, DWORD dwFlags)`.
///
/// # Safety
/// `name` is null or a NUL-terminated UTF-16 string.
#[no_mangle]
pub unsafe extern "system" fn LoadLibraryExW(name: *const u16, file: Handle, _flags: u32) -> Handle {
    if !file.is_null() {
        set_last_error(ERROR_INVALID_PARAMETER);
        return core::ptr::null_mut();
    }
    // SAFETY: forwarded from the caller's contract.
    let Some(name) = (unsafe { wide_string(name, MAX_MODULE_PATH) }) else {
        set_last_error(ERROR_INVALID_PARAMETER);
        return core::ptr::null_mut();
    };
    let path = if is_wintun_dll(&name) {
        this_library()
    } else {
        String::from_utf16(&name).ok().and_then(|s| std::ffi::CString::new(s).ok())
    };
    let Some(path) = path else {
        set_last_error(ERROR_MOD_NOT_FOUND);
        return core::ptr::null_mut();
    };
    // SAFETY: a NUL-terminated path; RTLD_NOW resolves every symbol now, as Windows' loader does.
    let module = unsafe { libc::dlopen(path.as_ptr(), libc::RTLD_NOW) };
    if module.is_null() {
        set_last_error(ERROR_MOD_NOT_FOUND);
    }
    module
}

/// `HMODULE LoadLibraryW(LPCWSTR lpLibFileName)`.
///
/// # Safety
/// `name` is null or a NUL-terminated UTF-16 string.
#[no_mangle]
pub unsafe extern "system" fn LoadLibraryW(name: *const u16) -> Handle {
    // SAFETY: forwarded from the caller's contract.
    unsafe { LoadLibraryExW(name, core::ptr::null_mut(), 0) }
}

/// `FARPROC GetProcAddress(HMODULE hModule, LPCSTR lpProcName)`. Ordinals (a "name" below
/// 0x10000) are not provided (`ERROR_PROC_NOT_FOUND`).
///
/// # Safety
/// `module` is a module `LoadLibraryExW` returned and not freed; `name` is a NUL-terminated
/// string or an ordinal.
#[no_mangle]
pub unsafe extern "system" fn GetProcAddress(module: Handle, name: *const c_char) -> *mut c_void {
    if module.is_null() {
        set_last_error(ERROR_INVALID_HANDLE);
        return core::ptr::null_mut();
    }
    if (name as usize) < 0x1_0000 {
        set_last_error(ERROR_PROC_NOT_FOUND);
        return core::ptr::null_mut();
    }
    // SAFETY: a live module handle from `dlopen` and a NUL-terminated name (caller's contract).
    let symbol = unsafe { libc::dlsym(module, name) };
    if symbol.is_null() {
        set_last_error(ERROR_PROC_NOT_FOUND);
    }
    symbol
}

/// `BOOL FreeLibrary(HMODULE hLibModule)`.
///
/// # Safety
/// `module` is a module `LoadLibraryExW` returned and not freed yet.
#[no_mangle]
pub unsafe extern "system" fn FreeLibrary(module: Handle) -> i32 {
    if module.is_null() {
        set_last_error(ERROR_INVALID_HANDLE);
        return 0;
    }
    // SAFETY: a live module handle (caller's contract), released once.
    bool_result(if unsafe { libc::dlclose(module) } == 0 { Ok(()) } else { Err(Win32Error(ERROR_INVALID_HANDLE)) })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn w(s: &str) -> Vec<u16> {
        s.encode_utf16().chain(Some(0)).collect()
    }

    #[test]
    fn wintun_dll_is_recognised_by_file_name_in_any_case() {
        for name in ["wintun.dll", "WINTUN.DLL", "C:\\Program Files\\App\\wintun.dll", "./Wintun.dll"] {
            let v = w(name);
            assert!(is_wintun_dll(&v[..v.len() - 1]), "{name}");
        }
        for name in ["wintun.so", "xwintun.dll", "wintun.dll\\x"] {
            let v = w(name);
            assert!(!is_wintun_dll(&v[..v.len() - 1]), "{name}");
        }
    }

    #[test]
    fn waits_time_out_signal_and_fail_as_win32_does() {
        // SAFETY: no name.
        let auto = unsafe { CreateEventW(core::ptr::null(), 0, 0, core::ptr::null()) };
        // SAFETY: as above.
        let manual = unsafe { CreateEventW(core::ptr::null(), 1, 1, core::ptr::null()) };
        assert_eq!(WaitForSingleObject(auto, 0), WAIT_TIMEOUT);
        assert_eq!(SetEvent(auto), 1);
        assert_eq!(WaitForSingleObject(auto, 0), WAIT_OBJECT_0);
        assert_eq!(WaitForSingleObject(auto, 0), WAIT_TIMEOUT, "auto-reset: consumed by the wait");
        assert_eq!(WaitForSingleObject(manual, 0), WAIT_OBJECT_0);
        assert_eq!(WaitForSingleObject(manual, 0), WAIT_OBJECT_0, "manual reset: stays set");
        assert_eq!(ResetEvent(manual), 1);
        let both = [auto, manual];
        // SAFETY: two valid handles.
        assert_eq!(unsafe { WaitForMultipleObjects(2, both.as_ptr(), 0, 5) }, WAIT_TIMEOUT);
        SetEvent(manual);
        // SAFETY: as above.
        assert_eq!(unsafe { WaitForMultipleObjects(2, both.as_ptr(), 0, INFINITE) }, WAIT_OBJECT_0 + 1);
        // SAFETY: as above.
        assert_eq!(unsafe { WaitForMultipleObjects(2, both.as_ptr(), 1, 0) }, WAIT_FAILED);
        assert_eq!(GetLastError(), ERROR_NOT_SUPPORTED);
        // SAFETY: as above.
        assert_eq!(unsafe { WaitForMultipleObjects(0, both.as_ptr(), 0, 0) }, WAIT_FAILED);
        assert_eq!(GetLastError(), ERROR_INVALID_PARAMETER);
        assert_eq!(CloseHandle(auto), 1);
        assert_eq!(WaitForSingleObject(auto, 0), WAIT_FAILED);
        assert_eq!(GetLastError(), ERROR_INVALID_HANDLE);
        assert_eq!(SetEvent(auto), 0);
        assert_eq!(CloseHandle(manual), 1);
    }

    #[test]
    fn a_wait_wakes_when_another_thread_sets_the_event() {
        // SAFETY: no name.
        let event = unsafe { CreateEventW(core::ptr::null(), 0, 0, core::ptr::null()) } as usize;
        let waiter = std::thread::spawn(move || WaitForSingleObject(event as Handle, INFINITE));
        std::thread::sleep(Duration::from_millis(20));
        SetEvent(event as Handle);
        assert_eq!(waiter.join().unwrap(), WAIT_OBJECT_0);
        CloseHandle(event as Handle);
    }

    #[test]
    fn last_error_is_per_thread() {
        SetLastError(1234);
        let other = std::thread::spawn(|| {
            let before = GetLastError();
            SetLastError(5);
            (before, GetLastError())
        })
        .join()
        .unwrap();
        assert_eq!(other, (ERROR_SUCCESS, 5));
        assert_eq!(GetLastError(), 1234);
    }
}
