//! The IRP handlers chained in front of NDIS's, the access check, and process-exit notification.
//!
//! After `NdisMRegisterMiniportDriver`, NDIS's handlers are in the driver object's dispatch
//! table. The shell keeps them and installs its own for `IRP_MJ_DEVICE_CONTROL`, `IRP_MJ_CLOSE` and
//! `IRP_MJ_PNP`: requests that are not ringtun's (another device, another IOCTL, every PnP minor
//! code) go to NDIS unchanged.

use core::ffi::c_void;
use core::ptr;
use core::sync::atomic::{AtomicPtr, Ordering};

use ring_abi::{CallerBitness, IOCTL_QUERY_CAPABILITIES, IOCTL_REGISTER_RINGS};
use wdk_sys::ntddk::{
    IoGetCurrentProcess, IoGetFileObjectGenericMapping, IoGetRequestorProcess, PsGetCurrentProcessId,
    PsSetCreateProcessNotifyRoutine, SeAccessCheck, SeCaptureSubjectContext, SeReleaseSubjectContext,
};
use wdk_sys::{
    _MODE, _SECURITY_IMPERSONATION_LEVEL, ACCESS_MASK, FILE_READ_DATA, FILE_WRITE_DATA, HANDLE, IRP_MJ_CLOSE,
    IRP_MJ_DEVICE_CONTROL, IRP_MJ_PNP, IRP_MN_CANCEL_REMOVE_DEVICE, IRP_MN_QUERY_REMOVE_DEVICE,
    IRP_MN_SURPRISE_REMOVAL, KPROCESSOR_MODE, NTSTATUS, PDEVICE_OBJECT, PDRIVER_DISPATCH, PDRIVER_OBJECT, PIRP,
    SECURITY_SUBJECT_CONTEXT, STATUS_ACCESS_DENIED, STATUS_ALREADY_INITIALIZED, STATUS_BUFFER_TOO_SMALL,
    STATUS_DEVICE_NOT_READY, STATUS_INSUFFICIENT_RESOURCES, STATUS_INVALID_DEVICE_REQUEST, STATUS_INVALID_HANDLE,
    STATUS_INVALID_PARAMETER, STATUS_INVALID_USER_BUFFER, STATUS_NOT_SUPPORTED, STATUS_SUCCESS,
};

use super::kernel::{complete_irp, current_stack_location};
use super::miniport::{adapter_for_device, adapter_with_session_of};
use crate::engine::registration::MAX_REQUEST_INPUT;
use crate::engine::{Owner, Status};
use crate::security::DEVICE_SECURITY_DESCRIPTOR;

/// NDIS's handlers, saved when the shell chains in front of them.
static NDIS_DEVICE_CONTROL: AtomicPtr<c_void> = AtomicPtr::new(ptr::null_mut());
static NDIS_CLOSE: AtomicPtr<c_void> = AtomicPtr::new(ptr::null_mut());
static NDIS_PNP: AtomicPtr<c_void> = AtomicPtr::new(ptr::null_mut());

type DispatchFn = unsafe extern "C" fn(PDEVICE_OBJECT, PIRP) -> NTSTATUS;

/// Saves NDIS's handlers and installs the shell's.
///
/// # Safety
/// `driver` is the driver object NDIS just registered; called once, before any adapter exists.
pub unsafe fn chain_dispatch_table(driver: PDRIVER_OBJECT) {
    let chain = |major: u32, saved: &AtomicPtr<c_void>, ours: DispatchFn| {
        // SAFETY: the driver object is valid (contract); the index is an IRP_MJ_ code below
        // IRP_MJ_MAXIMUM_FUNCTION + 1, the table's length.
        unsafe {
            if let Some(entry) = (*driver).MajorFunction.get_mut(major as usize) {
                let previous: PDRIVER_DISPATCH = entry.replace(ours);
                saved.store(previous.map_or(ptr::null_mut(), |f| f as *mut c_void), Ordering::Release);
            }
        }
    };
    chain(IRP_MJ_DEVICE_CONTROL, &NDIS_DEVICE_CONTROL, dispatch_device_control);
    chain(IRP_MJ_CLOSE, &NDIS_CLOSE, dispatch_close);
    chain(IRP_MJ_PNP, &NDIS_PNP, dispatch_pnp);
}

/// Hands `irp` to the NDIS handler saved in `saved`.
///
/// # Safety
/// Called from a dispatch routine with the IRP it was given, untouched.
unsafe fn pass_to_ndis(saved: &AtomicPtr<c_void>, device: PDEVICE_OBJECT, irp: PIRP) -> NTSTATUS {
    let handler = saved.load(Ordering::Acquire);
    if handler.is_null() {
        // NDIS always installs these handlers; without one the request cannot be served.
        // SAFETY: we own the IRP.
        return unsafe { complete_irp(irp, STATUS_INVALID_DEVICE_REQUEST, 0) };
    }
    // SAFETY: the pointer was read from the dispatch table as a `DispatchFn` in
    // `chain_dispatch_table` and NDIS's handler stays valid while the driver is loaded.
    let handler: DispatchFn = unsafe { core::mem::transmute::<*mut c_void, DispatchFn>(handler) };
    // SAFETY: forwarding the IRP we were given, as NDIS would have received it.
    unsafe { handler(device, irp) }
}

/// The NTSTATUS for an engine status.
pub fn ntstatus(status: Status) -> NTSTATUS {
    match status {
        Status::Success => STATUS_SUCCESS,
        Status::InvalidParameter => STATUS_INVALID_PARAMETER,
        Status::InvalidDeviceRequest => STATUS_INVALID_DEVICE_REQUEST,
        Status::AlreadyInitialized => STATUS_ALREADY_INITIALIZED,
        Status::BufferTooSmall => STATUS_BUFFER_TOO_SMALL,
        Status::InsufficientResources => STATUS_INSUFFICIENT_RESOURCES,
        Status::DeviceNotReady => STATUS_DEVICE_NOT_READY,
        Status::InvalidHandle => STATUS_INVALID_HANDLE,
        Status::InvalidUserBuffer => STATUS_INVALID_USER_BUFFER,
    }
}

/// Whether the caller may make a request needing `desired`: `SeAccessCheck` of its effective
/// token (impersonation token, else primary) for `desired` against [`DEVICE_SECURITY_DESCRIPTOR`],
/// Wintun's `O:SY D:P(A;;FA;;;SY)(A;;FA;;;BA) S:(ML;;NWNRNX;;;HI)`. The descriptor grants read
/// and write alike, only to LocalSystem and Administrators at high integrity, so a caller without
/// them is refused either way. The access check applies deny-only groups (a filtered UAC token),
/// restricting SIDs (a restricted token) and the mandatory label (below high integrity: no read
/// up, no write up). An impersonation token below `SecurityImpersonation`
/// (identification only) is refused before the check, as the access check itself would.
fn caller_may_access(requestor_mode: KPROCESSOR_MODE, desired: ACCESS_MASK) -> bool {
    // SAFETY: SECURITY_SUBJECT_CONTEXT is plain data filled by SeCaptureSubjectContext.
    let mut subject: SECURITY_SUBJECT_CONTEXT = unsafe { core::mem::zeroed() };
    let mut granted: ACCESS_MASK = 0;
    let mut status: NTSTATUS = STATUS_ACCESS_DENIED;
    // SAFETY: capture and release the current thread's subject context around the check, at
    // PASSIVE_LEVEL (IRP_MJ_DEVICE_CONTROL dispatch); the descriptor is a valid, 4-byte aligned
    // self-relative descriptor in the driver image (non-paged) that SeAccessCheck only reads; the
    // generic mapping is the I/O manager's; no privilege set is requested.
    unsafe {
        SeCaptureSubjectContext(&mut subject);
        let allowed = (subject.ClientToken.is_null()
            || subject.ImpersonationLevel >= _SECURITY_IMPERSONATION_LEVEL::SecurityImpersonation)
            && SeAccessCheck(
                ptr::addr_of!(DEVICE_SECURITY_DESCRIPTOR).cast_mut().cast(),
                &mut subject,
                0,
                desired,
                0,
                ptr::null_mut(),
                IoGetFileObjectGenericMapping(),
                requestor_mode,
                &mut granted,
                &mut status,
            ) != 0;
        SeReleaseSubjectContext(&mut subject);
        allowed && status >= 0
    }
}

unsafe extern "C" fn dispatch_device_control(device: PDEVICE_OBJECT, irp: PIRP) -> NTSTATUS {
    let Some(adapter) = adapter_for_device(device) else {
        // SAFETY: not one of our devices: NDIS's request.
        return unsafe { pass_to_ndis(&NDIS_DEVICE_CONTROL, device, irp) };
    };
    // SAFETY: a dispatched IRP has a current stack location.
    let stack = unsafe { &*current_stack_location(irp) };
    // SAFETY: the DeviceIoControl arm is the active one for IRP_MJ_DEVICE_CONTROL.
    let parameters = unsafe { &stack.Parameters.DeviceIoControl };
    let code = parameters.IoControlCode;
    if code != IOCTL_REGISTER_RINGS && code != IOCTL_QUERY_CAPABILITIES {
        // SAFETY: not our request.
        return unsafe { pass_to_ndis(&NDIS_DEVICE_CONTROL, device, irp) };
    }
    // Rings are user memory of the requesting process, probed and referenced in its context:
    // only user-mode requests dispatched in the requester's own thread can be served.
    // SAFETY: the IRP is valid; both calls only read the current and the requesting process.
    let in_requester_context = unsafe {
        (*irp).RequestorMode == _MODE::UserMode as KPROCESSOR_MODE
            && IoGetRequestorProcess(irp) == IoGetCurrentProcess()
    };
    if !in_requester_context {
        // SAFETY: we own the IRP.
        return unsafe { complete_irp(irp, STATUS_NOT_SUPPORTED, 0) };
    }
    // The access each request needs, as its IOCTL code declares in the ring contract: reading
    // the capabilities needs FILE_READ_DATA, registering rings FILE_READ_DATA | FILE_WRITE_DATA.
    let desired = if code == IOCTL_QUERY_CAPABILITIES { FILE_READ_DATA } else { FILE_READ_DATA | FILE_WRITE_DATA };
    // SAFETY: the IRP is valid.
    if !caller_may_access(unsafe { (*irp).RequestorMode }, desired) {
        // SAFETY: we own the IRP.
        return unsafe { complete_irp(irp, STATUS_ACCESS_DENIED, 0) };
    }
    let input_len = parameters.InputBufferLength as usize;
    let output_len = parameters.OutputBufferLength as usize;
    // SAFETY: METHOD_BUFFERED: the I/O manager allocated SystemBuffer of max(input, output) bytes.
    let buffer = unsafe { (*irp).AssociatedIrp.SystemBuffer }.cast::<u8>();
    // Input and output share SystemBuffer: copy the input out first.
    let mut input = [0u8; MAX_REQUEST_INPUT];
    let Some(input) = input.get_mut(..input_len) else {
        // SAFETY: we own the IRP.
        return unsafe { complete_irp(irp, ntstatus(Status::InvalidParameter), 0) };
    };
    if input_len != 0 && !buffer.is_null() {
        // SAFETY: SystemBuffer holds at least `input_len` bytes; `input` has exactly that length.
        unsafe { ptr::copy_nonoverlapping(buffer, input.as_mut_ptr(), input_len) };
    }
    let output: &mut [u8] = if output_len == 0 || buffer.is_null() {
        &mut []
    } else {
        // SAFETY: SystemBuffer holds at least `output_len` bytes and nothing else refers to it now.
        unsafe { core::slice::from_raw_parts_mut(buffer, output_len) }
    };
    // SAFETY: IRP_MJ_DEVICE_CONTROL is dispatched in the requesting thread: the current process
    // is the caller.
    let process = unsafe { PsGetCurrentProcessId() } as usize as u64;
    let owner = Owner { file: stack.FileObject as usize, process };
    // SAFETY: the IRP is valid.
    let caller = unsafe { caller_bitness(irp) };
    let result = adapter.adapter.device_control(owner, caller, code, input, output);
    drop(adapter);
    match result {
        // SAFETY: we own the IRP.
        Ok(written) => unsafe { complete_irp(irp, STATUS_SUCCESS, written) },
        // SAFETY: we own the IRP.
        Err(status) => unsafe { complete_irp(irp, ntstatus(status), 0) },
    }
}

/// The requesting process's bitness: WOW64 processes are 32-bit (the driver itself is 64-bit only).
///
/// # Safety
/// `irp` is the valid IRP being dispatched.
unsafe fn caller_bitness(irp: PIRP) -> CallerBitness {
    // SAFETY: the IRP is valid (contract).
    if unsafe { wdk_sys::ntddk::IoIs32bitProcess(irp) } != 0 {
        CallerBitness::Bits32
    } else {
        CallerBitness::Bits64
    }
}

unsafe extern "C" fn dispatch_close(device: PDEVICE_OBJECT, irp: PIRP) -> NTSTATUS {
    if let Some(adapter) = adapter_for_device(device) {
        // SAFETY: a dispatched IRP has a current stack location.
        let file = unsafe { (*current_stack_location(irp)).FileObject } as usize;
        adapter.adapter.close(file);
    }
    // SAFETY: NDIS completes the close.
    unsafe { pass_to_ndis(&NDIS_CLOSE, device, irp) }
}

unsafe extern "C" fn dispatch_pnp(device: PDEVICE_OBJECT, irp: PIRP) -> NTSTATUS {
    if let Some(adapter) = adapter_for_device(device) {
        // SAFETY: a dispatched IRP has a current stack location.
        let minor = u32::from(unsafe { (*current_stack_location(irp)).MinorFunction });
        // A query-remove may still be vetoed (a client that keeps its handle open, such as a
        // Wintun-style client registering no device notification, vetoes it): the running
        // session continues and only new registrations are refused until the outcome is known.
        // A client that lets the removal proceed closes its handle (the client library does so
        // on the query-remove notification Windows sends before this IRP), which ends the
        // session; IRP_MN_REMOVE_DEVICE then leads to MiniportHaltEx, which ends any session
        // left. A surprise removal cannot be vetoed: the session holds the client's locked
        // pages and events, so it ends here. See docs/architecture.md.
        match minor {
            IRP_MN_QUERY_REMOVE_DEVICE => adapter.adapter.refuse_registrations(),
            IRP_MN_SURPRISE_REMOVAL => {
                adapter.adapter.end_session_and_refuse_registrations();
            }
            // Strictly, a cancel is acted on once the lower drivers completed it; this hook has no
            // stack location of its own for a completion routine, and what it resumes is only
            // the engine's flag that admits registrations, so it resumes on the way down.
            IRP_MN_CANCEL_REMOVE_DEVICE => adapter.adapter.accept_registrations(),
            _ => {}
        }
    }
    // SAFETY: NDIS handles every PnP request.
    unsafe { pass_to_ndis(&NDIS_PNP, device, irp) }
}

/// Process creation/exit notification: an exiting process's session ends before its address
/// space (with the locked ring pages) is torn down, even if a handle to the adapter survives in
/// another process.
unsafe extern "C" fn process_notify(_parent: HANDLE, process: HANDLE, create: u8) {
    if create != 0 {
        return;
    }
    let process = process as usize as u64;
    // Each pass ends one session of the process (or waits for a teardown already under way), so
    // the loop ends; nothing is allocated.
    while let Some(adapter) = adapter_with_session_of(process) {
        adapter.adapter.process_exited(process);
    }
}

/// Registers [`process_notify`].
///
/// # Safety
/// PASSIVE_LEVEL; paired with [`unregister_process_notify`].
pub unsafe fn register_process_notify() -> NTSTATUS {
    // SAFETY: a static function that stays valid until unregistered on unload.
    unsafe { PsSetCreateProcessNotifyRoutine(Some(process_notify), 0) }
}

/// Removes [`process_notify`].
///
/// # Safety
/// PASSIVE_LEVEL; only after a successful [`register_process_notify`].
pub unsafe fn unregister_process_notify() {
    // SAFETY: removes the routine registered above.
    let status = unsafe { PsSetCreateProcessNotifyRoutine(Some(process_notify), 1) };
    // Removal fails only for a routine that is not registered: registration and removal are
    // paired, so a failure is a bug in the shell, reported here; either way the routine is not
    // registered afterwards, so unloading stays safe.
    if status < 0 {
        wdk::println!("ringtun: removing the process-exit notification failed: {status:#x}");
    }
}
