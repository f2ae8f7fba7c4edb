//! The platform trait on the Windows kernel: `KSPIN_LOCK`, `KEVENT`, user pages locked with an MDL
//! and mapped into system space, a system thread, NBLs over partial MDLs, NDIS status indications.

use alloc::boxed::Box;
use alloc::vec::Vec;
use core::cell::UnsafeCell;
use core::ffi::c_void;
use core::mem::ManuallyDrop;
use core::ptr::{self, NonNull};

use ring_abi::{CallerBitness, RingRole, MAX_OFFLOAD_HEADER};
use wdk_sys::ntddk::{
    IoAllocateMdl, IoBuildPartialMdl, IoFreeMdl, KeClearEvent, KeDelayExecutionThread, KeInitializeEvent,
    KeQueryInterruptTimePrecise, KeSetEvent, KeSetPriorityThread, KeTestSpinLock, KeWaitForMultipleObjects,
    MmBuildMdlForNonPagedPool, MmUnlockPages, ObReferenceObjectByHandle, ObfDereferenceObject, PsCreateSystemThread,
    ZwClose, ZwWaitForSingleObject,
};
use wdk_sys::{
    _EVENT_TYPE, _KWAIT_REASON, _LOCK_OPERATION, _MODE, _WAIT_TYPE, EVENT_MODIFY_STATE, HANDLE, IO_NO_INCREMENT,
    KEVENT, KIRQL, KPRIORITY, KPROCESSOR_MODE, KSPIN_LOCK, LARGE_INTEGER, OBJECT_ATTRIBUTES, OBJ_KERNEL_HANDLE,
    PKEVENT, PKTHREAD, PLARGE_INTEGER, PMDL, PVOID, STATUS_SUCCESS, SYNCHRONIZE, THREAD_ALL_ACCESS,
    THREAD_SET_INFORMATION,
};

use super::kernel::{
    ringtun_probe_and_lock_pages, spin_lock_acquire, spin_lock_release, system_address, ExEventObjectType,
    PsThreadType, LOW_REALTIME_PRIORITY,
};
use super::ndis::{
    MediaConnectStateConnected, MediaConnectStateDisconnected, MediaDuplexStateFull,
    NdisAllocateNetBufferAndNetBufferList, NdisFreeNetBufferList, NdisMIndicateReceiveNetBufferLists,
    NdisMIndicateStatusEx, NdisPauseFunctionsUnsupported, NetBufferListFrameType, TcpIpChecksumNetBufferListInfo,
    TcpRecvSegCoalesceInfo, AUTO_NEGOTIATION_FLAGS, NDIS_DEFAULT_PORT_NUMBER, NDIS_HANDLE, NDIS_LINK_STATE,
    NDIS_LINK_STATE_REVISION_1, NDIS_NBL_FLAGS_IS_IPV4, NDIS_NBL_FLAGS_IS_IPV6, NDIS_OBJECT_HEADER,
    NDIS_OBJECT_TYPE_DEFAULT, NDIS_OBJECT_TYPE_STATUS_INDICATION, NDIS_STATUS, NDIS_STATUS_INDICATION,
    NDIS_STATUS_INDICATION_REVISION_1, NDIS_STATUS_LINK_STATE, NDIS_STATUS_SUCCESS,
    NDIS_STATUS_TASK_OFFLOAD_CURRENT_CONFIG, NET_BUFFER_LIST,
};
use crate::engine::offload::TaskOffloads;
use crate::engine::oid::LINK_SPEED_BPS;
use crate::engine::Session;
use crate::fallible::{try_box, TryArc};
use crate::platform::{
    Event, IndicationInfo, IpKind, Platform, PlatformError, RingMapping, StackOffloads, Worker, MAX_WAIT_EVENTS,
};

/// The consumer thread's priority: 1, just above `LOW_PRIORITY` (wdm.h), as Wintun's consumer
/// (which sets it with `KeSetPriorityThread`, as here).
const CONSUMER_PRIORITY: KPRIORITY = 1;

/// Most objects one `KeWaitForMultipleObjects` may wait on without a wait-block array
/// (`THREAD_WAIT_OBJECTS`).
const THREAD_WAIT_OBJECTS: usize = 3;

/// A spin lock that remembers the IRQL it raised from, so that it fits `lock_api::RawMutex`
/// (the `NDIS_SPIN_LOCK` pattern: `{KSPIN_LOCK, KIRQL}`).
///
/// Because the saved IRQL lives in the lock, two of these held at once must be released in the
/// reverse order of acquisition (each guard dropped before the enclosing one), or the first
/// release would lower the IRQL while the other lock is still held. The engine never holds two
/// at once; the shell nests exactly one pair (the adapter registry around an engine lookup, in
/// `miniport::adapter_with_session_of`), released in order by scope.
pub struct KernelSpinLock {
    lock: UnsafeCell<KSPIN_LOCK>,
    /// Written by the holder after acquiring, read by the holder before releasing.
    old_irql: UnsafeCell<KIRQL>,
}

// SAFETY: the KSPIN_LOCK is made for concurrent use; `old_irql` is only touched by the thread that
// holds the lock (after acquire, before release), so it is never accessed concurrently.
unsafe impl Sync for KernelSpinLock {}
// SAFETY: as above; the lock has no thread affinity.
unsafe impl Send for KernelSpinLock {}

// SAFETY: `lock` acquires the KSPIN_LOCK (mutual exclusion) and `unlock` releases it; `try_lock`
// acquires only when it returns `true`.
unsafe impl lock_api::RawMutex for KernelSpinLock {
    // A zeroed KSPIN_LOCK is an initialized, free lock (`KeInitializeSpinLock` stores 0).
    #[allow(clippy::declare_interior_mutable_const)]
    const INIT: Self = Self { lock: UnsafeCell::new(0), old_irql: UnsafeCell::new(0) };
    type GuardMarker = lock_api::GuardNoSend;

    fn lock(&self) {
        // SAFETY: the lock lives in non-paged memory (every ringtun allocation is non-paged) and
        // engine critical sections never nest the same lock; callers run at <= DISPATCH_LEVEL.
        let old = unsafe { spin_lock_acquire(self.lock.get()) };
        // SAFETY: this thread holds the lock, so it alone may touch `old_irql`.
        unsafe { *self.old_irql.get() = old };
    }

    /// Acquires only if the lock is free when looked at (`KeTestSpinLock`); if another processor
    /// takes it in between, this waits for that holder's (short, non-sleeping) section. The engine
    /// never calls `try_lock`; it exists because `lock_api` requires it.
    fn try_lock(&self) -> bool {
        // SAFETY: `self.lock` is a valid KSPIN_LOCK; testing has no side effect.
        if unsafe { KeTestSpinLock(self.lock.get()) } == 0 {
            return false;
        }
        self.lock();
        true
    }

    unsafe fn unlock(&self) {
        // SAFETY: the caller holds the lock (`RawMutex::unlock` contract), so `old_irql` is ours.
        let old = unsafe { *self.old_irql.get() };
        // SAFETY: acquired by `lock`, which stored `old`.
        unsafe { spin_lock_release(self.lock.get(), old) };
    }
}

/// An event: one the engine created (a notification `KEVENT` in pool), or a client's event
/// object referenced from a handle.
pub enum KernelEvent {
    /// Created by the engine; freed with the box.
    Owned(Box<UnsafeCell<KEVENT>>),
    /// A client's event object; dereferenced on drop.
    Referenced(NonNull<KEVENT>),
}

// SAFETY: KEVENT operations (set, clear, wait) are safe from any thread at <= DISPATCH_LEVEL, and a
// referenced event object stays valid until this value dereferences it.
unsafe impl Send for KernelEvent {}
// SAFETY: as above.
unsafe impl Sync for KernelEvent {}

impl KernelEvent {
    fn as_ptr(&self) -> PKEVENT {
        match self {
            Self::Owned(event) => event.get(),
            Self::Referenced(event) => event.as_ptr(),
        }
    }
}

impl Event for KernelEvent {
    fn set(&self) {
        // SAFETY: the event is valid for this value's life.
        unsafe { KeSetEvent(self.as_ptr(), IO_NO_INCREMENT as _, 0) };
    }

    fn clear(&self) {
        // SAFETY: the event is valid for this value's life.
        unsafe { KeClearEvent(self.as_ptr()) };
    }

    /// The object's address identifies it: `ObReferenceObjectByHandle` returns the same body
    /// pointer for every handle to one event, and both values hold a reference, so neither
    /// address can be reused while they are compared.
    fn is_same_object(&self, other: &Self) -> bool {
        self.as_ptr() == other.as_ptr()
    }
}

impl Drop for KernelEvent {
    fn drop(&mut self) {
        if let Self::Referenced(event) = self {
            // SAFETY: the reference was taken by `ObReferenceObjectByHandle` in `reference_event`
            // and is released exactly once, here.
            unsafe { ObfDereferenceObject(event.as_ptr().cast()) };
        }
    }
}

/// A client ring: its user pages locked by an MDL and mapped into system space (no-execute).
pub struct KernelRingMapping {
    mdl: NonNull<wdk_sys::MDL>,
    system: NonNull<u8>,
    user_address: usize,
    len: usize,
}

// SAFETY: the MDL and the system mapping are process-independent once locked and mapped; they are
// only released by `drop`.
unsafe impl Send for KernelRingMapping {}
// SAFETY: as above; the mapping is read-only metadata.
unsafe impl Sync for KernelRingMapping {}

impl RingMapping for KernelRingMapping {
    fn base(&self) -> *mut u8 {
        self.system.as_ptr()
    }

    fn mapped_len(&self) -> usize {
        self.len
    }
}

impl Drop for KernelRingMapping {
    fn drop(&mut self) {
        // SAFETY: the MDL was locked by `map_ring` and is unlocked once, here; unlocking also
        // releases its system mapping (MDL_MAPPED_TO_SYSTEM_VA). Then the MDL itself is freed.
        unsafe {
            MmUnlockPages(self.mdl.as_ptr());
            IoFreeMdl(self.mdl.as_ptr());
        }
    }
}

/// The consumer system thread: its kernel handle (to wait for it and close) and its thread object,
/// referenced at creation (to set its priority). Dropping it (or [`Worker::join`], which consumes
/// it) waits until the thread has ended, then closes the handle and releases the reference, once.
///
/// Priorities are set on the referenced object with `KeSetPriorityThread` (wdm.h:
/// `_IRQL_requires_max_(DISPATCH_LEVEL)`), which the engine may call under its spin lock, and
/// never through the handle, which only this value's drop closes: the object stays valid for as
/// long as this value holds its reference, whatever the thread does.
pub struct KernelWorker {
    thread: HANDLE,
    /// `None` only if the reference could not be taken (a kernel handle `PsCreateSystemThread` has
    /// just returned names a thread, so this is a shell bug, reported when it happens): the
    /// thread then keeps its initial priority throughout, so no wait depends on a thread below
    /// the waiter's priority.
    object: Option<NonNull<c_void>>,
}

// SAFETY: a kernel handle (OBJ_KERNEL_HANDLE) and a referenced thread object may be used from any
// thread in any process context.
unsafe impl Send for KernelWorker {}

impl KernelWorker {
    /// `KeSetPriorityThread(thread, priority)`; nothing without the thread object.
    fn set_priority(&self, priority: KPRIORITY) {
        if let Some(object) = self.object {
            // The thread's object is an ETHREAD, whose first member is its KTHREAD.
            let thread: PKTHREAD = object.as_ptr().cast();
            // SAFETY: `thread` is referenced by this value until its drop releases it, after the
            // last call here; KeSetPriorityThread may be called at any IRQL up to DISPATCH_LEVEL.
            let _previous = unsafe { KeSetPriorityThread(thread, priority) };
        }
    }
}

impl Worker for KernelWorker {
    fn expedite(&self) {
        self.set_priority(LOW_REALTIME_PRIORITY);
    }

    fn relax(&self) {
        self.set_priority(CONSUMER_PRIORITY);
    }

    fn join(self) {
        // The wait and the close are the drop's: consuming the value runs them exactly once.
        drop(self);
    }
}

impl Drop for KernelWorker {
    /// The engine joins every worker in teardown (or when a registration is discarded), at
    /// PASSIVE_LEVEL, after signalling the thread to stop; that join is this drop. Reached any
    /// other way, it still leaves no thread running driver code, no handle open and no reference
    /// held. The engine takes the worker out of its session before the consumer's own session
    /// reference can be the last one, so this never runs on the consumer thread (which would wait
    /// for itself).
    ///
    /// The consumer runs at priority 1: on a loaded processor, every ready thread of normal
    /// priority runs before it, and the teardown waiting here (a close, a process exit, a halt)
    /// would stall until the load ends. So it is first raised to `LOW_REALTIME_PRIORITY`, above
    /// every variable priority; what is left for it to do once stopped is bounded (the end of a
    /// round: at most one batch).
    fn drop(&mut self) {
        self.set_priority(LOW_REALTIME_PRIORITY);
        // SAFETY: `thread` is the kernel handle PsCreateSystemThread returned, with SYNCHRONIZE
        // access (THREAD_ALL_ACCESS), not closed before (it is closed below, in the one drop of
        // this value); waiting at PASSIVE_LEVEL is allowed.
        let waited = unsafe { ZwWaitForSingleObject(self.thread, 0, ptr::null_mut()) };
        // A non-alertable wait without timeout on a valid handle returns only when the thread has
        // ended (STATUS_SUCCESS); anything else means the handle is not the one PsCreateSystemThread
        // returned, a bug in the shell that is reported (there is no thread to wait for through it).
        if waited != STATUS_SUCCESS {
            wdk::println!("ringtun: waiting for the consumer thread failed: {waited:#x}");
        }
        // SAFETY: the handle is closed once, here: a value is dropped once, and nothing else
        // closes it.
        let closed = unsafe { ZwClose(self.thread) };
        // Closing a valid kernel handle does not fail; a failure is the same bug as above.
        if closed < 0 {
            wdk::println!("ringtun: closing the consumer thread handle failed: {closed:#x}");
        }
        if let Some(object) = self.object.take() {
            // SAFETY: the reference `reference_thread` took, released once, here, after the last
            // use of the object.
            unsafe { ObfDereferenceObject(object.as_ptr()) };
        }
    }
}

/// The thread object behind the kernel handle `thread` (`PsCreateSystemThread`'s), referenced:
/// `ObReferenceObjectByHandle` with `*PsThreadType` and kernel-mode access (a kernel handle is
/// found from any process context and not access-checked). `None`, reported, if it fails.
fn reference_thread(thread: HANDLE) -> Option<NonNull<c_void>> {
    let mut object: PVOID = ptr::null_mut();
    // SAFETY: `thread` is an open kernel handle; the lookup is restricted to thread objects; the
    // out-parameter is a valid PVOID; PASSIVE_LEVEL (registration).
    let status = unsafe {
        ObReferenceObjectByHandle(
            thread,
            THREAD_SET_INFORMATION,
            PsThreadType,
            _MODE::KernelMode as KPROCESSOR_MODE,
            &mut object,
            ptr::null_mut(),
        )
    };
    if status < 0 {
        wdk::println!("ringtun: referencing the consumer thread failed: {status:#x}");
        return None;
    }
    NonNull::new(object)
}

/// One packet ready for indication: an NBL with one NET_BUFFER over a partial MDL of the ring,
/// with, for a segment the engine cut, an MDL of the segment's header in front of it. Owned by
/// this value until [`KernelIndication::into_raw`] hands it to NDIS; dropped before that, it
/// frees the NBL, its MDLs and its header buffer.
pub struct KernelIndication(NonNull<NET_BUFFER_LIST>);

// SAFETY: the NBL is owned by this value until it is indicated; NBLs have no thread affinity.
unsafe impl Send for KernelIndication {}

impl KernelIndication {
    /// Gives up ownership of the NBL (to indicate it): the caller frees it, through
    /// [`free_indication`] once NDIS has returned it.
    fn into_raw(self) -> *mut NET_BUFFER_LIST {
        // Not dropped: the NBL now belongs to the caller.
        ManuallyDrop::new(self).0.as_ptr()
    }
}

impl Drop for KernelIndication {
    fn drop(&mut self) {
        // SAFETY: the NBL came from `prepare_indication` (one NET_BUFFER over MDLs this platform
        // allocated) and was never indicated: `into_raw` is the only way to hand it to
        // NDIS, and it does not drop the value. So NDIS does not own it, and it is freed once.
        unsafe { free_indication(self.0.as_ptr()) };
    }
}

/// The platform of one adapter.
pub struct KernelPlatform {
    miniport: NDIS_HANDLE,
    nbl_pool: NDIS_HANDLE,
    /// The minor NDIS version the driver registered (6.30, 6.80 or 6.83): the `NDIS_OFFLOAD`
    /// revision the adapter reports, and whether USO is offered (see [`Self::uso`]).
    minor: u8,
}

// SAFETY: NDIS handles may be used from any thread; NDIS serializes what needs it.
unsafe impl Send for KernelPlatform {}
// SAFETY: as above.
unsafe impl Sync for KernelPlatform {}

impl KernelPlatform {
    /// A platform for the adapter `miniport` that allocates indications from `nbl_pool`, of a
    /// driver registered with NDIS 6.`minor`.
    pub fn new(miniport: NDIS_HANDLE, nbl_pool: NDIS_HANDLE, minor: u8) -> Self {
        Self { miniport, nbl_pool, minor }
    }

    /// Whether USO is offered (NDIS 6.83 or later registered): sent NBLs'
    /// `UdpSegmentationOffloadInfo` is read.
    pub fn uso(&self) -> bool {
        self.minor >= super::offload::USO_MINOR_VERSION
    }

    /// Reports the task offloads on now to the stack (`NDIS_STATUS_TASK_OFFLOAD_CURRENT_CONFIG`
    /// with an `NDIS_OFFLOAD`), as NDIS requires after every `OID_TCP_OFFLOAD_PARAMETERS` the
    /// miniport completed.
    pub fn indicate_task_offloads(&self, set: TaskOffloads) {
        let mut offload = super::offload::ndis_offload(set, self.minor);
        let size = u32::from(offload.Header.Size);
        self.indicate_status(NDIS_STATUS_TASK_OFFLOAD_CURRENT_CONFIG, ptr::addr_of_mut!(offload).cast(), size);
    }

    /// `NdisMIndicateStatusEx` of `code` with `size` bytes at `buffer`, which NDIS copies.
    fn indicate_status(&self, code: NDIS_STATUS, buffer: *mut c_void, size: u32) {
        let indication = NDIS_STATUS_INDICATION {
            Header: NDIS_OBJECT_HEADER::of::<NDIS_STATUS_INDICATION>(
                NDIS_OBJECT_TYPE_STATUS_INDICATION,
                NDIS_STATUS_INDICATION_REVISION_1,
            ),
            SourceHandle: self.miniport,
            PortNumber: NDIS_DEFAULT_PORT_NUMBER,
            StatusCode: code,
            Flags: 0,
            DestinationHandle: ptr::null_mut(),
            RequestId: ptr::null_mut(),
            StatusBuffer: buffer,
            StatusBufferSize: size,
            Guid: [0; 16],
            NdisReserved: [ptr::null_mut(); 4],
        };
        // SAFETY: the indication is fully initialized; `buffer` holds `size` bytes for the call
        // (callers pass a local that outlives it); NDIS copies what it keeps.
        unsafe { NdisMIndicateStatusEx(self.miniport, &indication) };
    }

    /// The NBL pool (freed by the miniport's halt handler after the adapter is gone).
    pub fn nbl_pool(&self) -> NDIS_HANDLE {
        self.nbl_pool
    }

    /// The NDIS handle of the adapter.
    pub fn miniport(&self) -> NDIS_HANDLE {
        self.miniport
    }
}

/// The token stored in an indicated NBL's `MiniportReserved` (two pointers: 8 bytes or more).
///
/// # Safety
/// `nbl` points to a valid NBL.
pub unsafe fn write_token(nbl: *mut NET_BUFFER_LIST, token: u64) {
    // SAFETY: `MiniportReserved` is two pointers (>= 8 bytes) owned by the miniport for NBLs it
    // allocated; the write is unaligned-safe on 32-bit targets.
    unsafe { ptr::addr_of_mut!((*nbl).MiniportReserved).cast::<u64>().write_unaligned(token) };
}

/// Reads the token written by [`write_token`].
///
/// # Safety
/// `nbl` points to a valid NBL this driver allocated and indicated.
pub unsafe fn read_token(nbl: *const NET_BUFFER_LIST) -> u64 {
    // SAFETY: as in `write_token`.
    unsafe { ptr::addr_of!((*nbl).MiniportReserved).cast::<u64>().read_unaligned() }
}

/// The header buffer of an indicated segment: the engine's header bytes, in non-paged pool, in
/// front of the ring's bytes.
type HeaderBuffer = [u8; MAX_OFFLOAD_HEADER];

/// Where an indication keeps its header buffer: the second pointer of `MiniportReserved` (the
/// first holds the token).
///
/// # Safety
/// `nbl` points to a valid NBL this driver allocated.
unsafe fn header_slot(nbl: *mut NET_BUFFER_LIST) -> *mut *mut c_void {
    // SAFETY: `MiniportReserved` is two pointers owned by the miniport for NBLs it allocated.
    unsafe { ptr::addr_of_mut!((*nbl).MiniportReserved.0[1]) }
}

/// Frees an NBL this platform allocated in `prepare_indication`, with its MDLs (a header MDL in
/// front of a partial MDL of the ring, or either alone) and its header buffer.
///
/// # Safety
/// `nbl` was returned by `prepare_indication` and is no longer owned by NDIS.
pub unsafe fn free_indication(nbl: *mut NET_BUFFER_LIST) {
    // SAFETY: the NBL has exactly one NET_BUFFER whose MDL chain holds only MDLs we allocated
    // (one or two), and `MiniportReserved[1]` is null or the header buffer we leaked into it.
    unsafe {
        let buffer = (*nbl).FirstNetBuffer;
        let mut mdl = if buffer.is_null() { ptr::null_mut() } else { (*buffer).MdlChain };
        let header = *header_slot(nbl);
        NdisFreeNetBufferList(nbl);
        while !mdl.is_null() {
            let next = (*mdl).Next;
            IoFreeMdl(mdl);
            mdl = next;
        }
        if !header.is_null() {
            drop(Box::from_raw(header.cast::<HeaderBuffer>()));
        }
    }
}

/// Frees an MDL that is not null.
///
/// # Safety
/// `mdl` is null or an MDL this driver allocated and no longer uses.
unsafe fn free_mdl(mdl: PMDL) {
    if !mdl.is_null() {
        // SAFETY: per the contract.
        unsafe { IoFreeMdl(mdl) };
    }
}

/// `KeWaitForMultipleObjects` (wdm.h, WDK 10.0.16299) on `events`, any one of them, kernel mode,
/// not alertable, with `timeout` in 100 ns units (negative: relative) or none. `Some(index)` of
/// the signalled event; `None` on `STATUS_TIMEOUT`. One to `THREAD_WAIT_OBJECTS` events, checked
/// when the call is compiled: no event is ever left out of the wait.
fn wait_events<const N: usize>(events: &[&KernelEvent; N], timeout: Option<i64>) -> Option<usize> {
    const { assert!(N >= 1 && N <= THREAD_WAIT_OBJECTS, "a wait takes one to THREAD_WAIT_OBJECTS events") };
    const { assert!(MAX_WAIT_EVENTS == THREAD_WAIT_OBJECTS) };
    let mut objects: [PVOID; N] = [ptr::null_mut(); N];
    for (slot, event) in objects.iter_mut().zip(events) {
        *slot = event.as_ptr().cast();
    }
    // At most THREAD_WAIT_OBJECTS (3): fits a u32.
    let count = N as u32;
    let mut due = LARGE_INTEGER { QuadPart: timeout.unwrap_or(0) };
    let due_ptr: PLARGE_INTEGER = if timeout.is_some() { &mut due } else { ptr::null_mut() };
    // SAFETY: every object is a valid KEVENT; one to THREAD_WAIT_OBJECTS objects (checked at
    // compile time above), so no wait block array is needed; kernel-mode, non-alertable wait at
    // PASSIVE_LEVEL; `due_ptr` is null (no timeout) or points to a LARGE_INTEGER that lives
    // across the call.
    let status = unsafe {
        KeWaitForMultipleObjects(
            count,
            objects.as_mut_ptr(),
            _WAIT_TYPE::WaitAny,
            _KWAIT_REASON::Executive,
            _MODE::KernelMode as KPROCESSOR_MODE,
            0,
            due_ptr,
            ptr::null_mut(),
        )
    };
    // STATUS_WAIT_0 + n names the signalled object; STATUS_TIMEOUT (0x102) and anything else
    // names none.
    usize::try_from(status).ok().filter(|&n| n < count as usize)
}

impl Platform for KernelPlatform {
    type RawMutex = KernelSpinLock;
    type Event = KernelEvent;
    type Mapping = KernelRingMapping;
    type Worker = KernelWorker;
    type Indication = KernelIndication;

    fn map_ring(
        &self,
        _role: RingRole,
        ring_ptr: u64,
        ring_size: u32,
        _caller: CallerBitness,
    ) -> Result<Self::Mapping, PlatformError> {
        let user_address = usize::try_from(ring_ptr).map_err(|_| PlatformError::InvalidRingAddress)?;
        // SAFETY: IoAllocateMdl only records the range; nothing is touched yet.
        let mdl = unsafe { IoAllocateMdl(user_address as PVOID, ring_size, 0, 0, ptr::null_mut()) };
        let mdl = NonNull::new(mdl).ok_or(PlatformError::InsufficientResources)?;
        // SAFETY: runs in the registering process's context (IRP_MJ_DEVICE_CONTROL is dispatched
        // in the caller's thread); the helper probes for user-mode write access inside an
        // exception guard, so an invalid range yields a status instead of an exception.
        let status = unsafe {
            ringtun_probe_and_lock_pages(
                mdl.as_ptr(),
                _MODE::UserMode as KPROCESSOR_MODE,
                _LOCK_OPERATION::IoWriteAccess,
            )
        };
        if status < 0 {
            // SAFETY: the MDL is ours and was not locked.
            unsafe { IoFreeMdl(mdl.as_ptr()) };
            return Err(PlatformError::InvalidRingAddress);
        }
        // SAFETY: the pages are locked.
        let Some(system) = (unsafe { system_address(mdl.as_ptr()) }) else {
            // SAFETY: locked above, not mapped; undo both.
            unsafe {
                MmUnlockPages(mdl.as_ptr());
                IoFreeMdl(mdl.as_ptr());
            }
            return Err(PlatformError::InsufficientResources);
        };
        Ok(KernelRingMapping { mdl, system, user_address, len: ring_size as usize })
    }

    fn reference_event(&self, role: RingRole, handle: u64) -> Result<Self::Event, PlatformError> {
        let handle = usize::try_from(handle).map_err(|_| PlatformError::InvalidHandle)? as HANDLE;
        // The driver signals the Send ring's event and waits on the Receive ring's.
        let access = match role {
            RingRole::Send => EVENT_MODIFY_STATE,
            RingRole::Receive => SYNCHRONIZE | EVENT_MODIFY_STATE,
        };
        let mut object: PVOID = ptr::null_mut();
        // SAFETY: the handle is looked up in the calling (registering) process's handle table with
        // user-mode access checks, restricted to event objects.
        let status = unsafe {
            ObReferenceObjectByHandle(
                handle,
                access,
                ExEventObjectType,
                _MODE::UserMode as KPROCESSOR_MODE,
                &mut object,
                ptr::null_mut(),
            )
        };
        if status < 0 {
            return Err(PlatformError::InvalidHandle);
        }
        NonNull::new(object.cast::<KEVENT>()).map(KernelEvent::Referenced).ok_or(PlatformError::InvalidHandle)
    }

    fn create_event(&self) -> Result<Self::Event, PlatformError> {
        // SAFETY: KEVENT is plain data; zeroed is a valid starting state for KeInitializeEvent.
        let event: UnsafeCell<KEVENT> = UnsafeCell::new(unsafe { core::mem::zeroed() });
        let event = try_box(event).map_err(|_| PlatformError::InsufficientResources)?;
        // SAFETY: the KEVENT is in non-paged pool (the global allocator) at a stable address.
        unsafe { KeInitializeEvent(event.get(), _EVENT_TYPE::NotificationEvent, 0) };
        Ok(KernelEvent::Owned(event))
    }

    fn wait_any<const N: usize>(&self, events: &[&Self::Event; N]) -> usize {
        wait_events(events, None).unwrap_or(0)
    }

    fn wait_any_timeout<const N: usize>(&self, events: &[&Self::Event; N], timeout_ns: u64) -> Option<usize> {
        // KeWaitForMultipleObjects takes the timeout in 100 ns units; a negative value is
        // relative to now, zero is a poll (wdm.h). A non-zero timeout is at least one unit, so
        // that it still waits.
        let units = if timeout_ns == 0 { 0 } else { i64::try_from(timeout_ns / 100).unwrap_or(i64::MAX).max(1) };
        wait_events(events, Some(units.wrapping_neg()))
    }

    fn yield_now(&self) {
        // A zero relative interval: give up the rest of the quantum to any ready thread.
        let mut interval = LARGE_INTEGER { QuadPart: 0 };
        // SAFETY: kernel-mode, non-alertable, at PASSIVE_LEVEL (the consumer thread); the interval
        // is a valid LARGE_INTEGER on the stack.
        let status = unsafe { KeDelayExecutionThread(_MODE::KernelMode as KPROCESSOR_MODE, 0, &mut interval) };
        // A non-alertable kernel-mode delay returns STATUS_SUCCESS; there is nothing to undo if it
        // ever returned anything else (the consumer only spins a little less politely).
        let _ = status;
    }

    fn now_ns(&self) -> u64 {
        let mut qpc = 0u64;
        // SAFETY: reads the interrupt time; the out-parameter is a valid u64.
        let hundreds_of_ns = unsafe { KeQueryInterruptTimePrecise(&mut qpc) };
        hundreds_of_ns.wrapping_mul(100)
    }

    fn spawn_worker(&self, session: TryArc<Session<Self>>) -> Result<Self::Worker, PlatformError> {
        // The thread's reference travels as its context pointer (no allocation).
        let context = TryArc::into_raw(session);
        let mut attributes = OBJECT_ATTRIBUTES {
            Length: core::mem::size_of::<OBJECT_ATTRIBUTES>() as u32,
            RootDirectory: ptr::null_mut(),
            ObjectName: ptr::null_mut(),
            Attributes: OBJ_KERNEL_HANDLE,
            SecurityDescriptor: ptr::null_mut(),
            SecurityQualityOfService: ptr::null_mut(),
        };
        let mut thread: HANDLE = ptr::null_mut();
        // SAFETY: a system thread in the system process with a kernel handle; `context` is handed
        // to the thread, which takes ownership (see `consumer_thread`).
        let status = unsafe {
            PsCreateSystemThread(
                &mut thread,
                THREAD_ALL_ACCESS,
                &mut attributes,
                ptr::null_mut(),
                ptr::null_mut(),
                Some(consumer_thread),
                context,
            )
        };
        if status < 0 {
            // SAFETY: the thread was not created, so the reference was not handed over; it is
            // taken back once, here.
            drop(unsafe { TryArc::<Session<Self>>::from_raw(context) });
            return Err(PlatformError::ThreadStart);
        }
        let worker = KernelWorker { thread, object: reference_thread(thread) };
        // Below every normal thread, as Wintun's consumer: it spins on the client's tail before
        // sleeping and must not take time from the client that fills the ring. Set here, by the
        // creator, rather than by the thread itself: a raise before a wait for the thread (a pause,
        // a teardown) always comes after this, even when the thread has not run yet.
        worker.relax();
        Ok(worker)
    }

    fn prepare_indication(
        &self,
        mapping: &Self::Mapping,
        header: &[u8],
        offset: usize,
        len: u32,
        info: &IndicationInfo,
        token: u64,
    ) -> Option<Self::Indication> {
        // The engine hands out ranges inside the ring; a range outside the locked MDL would make
        // IoBuildPartialMdl bug-check, so the shell refuses it rather than trust it.
        let end = offset.checked_add(len as usize)?;
        if end > mapping.len || (len == 0 && header.is_empty()) || header.len() > MAX_OFFLOAD_HEADER {
            return None;
        }
        let total = (len as usize).checked_add(header.len())?;
        // The ring's bytes: a partial MDL of the locked ring (none for a header-only segment).
        let ring_mdl: PMDL = if len == 0 {
            ptr::null_mut()
        } else {
            let source = mapping.user_address.checked_add(offset)? as PVOID;
            // SAFETY: records the range only.
            let mdl = unsafe { IoAllocateMdl(source, len, 0, 0, ptr::null_mut()) };
            if mdl.is_null() {
                return None;
            }
            // SAFETY: `source..source+len` lies inside the locked, mapped source MDL (checked
            // above), so the partial MDL describes locked pages and inherits the system mapping.
            unsafe { IoBuildPartialMdl(mapping.mdl.as_ptr(), mdl, source, len) };
            mdl
        };
        // An engine-written header (a segment of a super-packet the engine cut): copied into a
        // buffer of the NBL's own in non-paged pool, described by an MDL chained in front.
        let mut header_buffer: *mut HeaderBuffer = ptr::null_mut();
        let first_mdl = if header.is_empty() {
            ring_mdl
        } else {
            let mut local: HeaderBuffer = [0; MAX_OFFLOAD_HEADER];
            if let Some(dst) = local.get_mut(..header.len()) {
                dst.copy_from_slice(header);
            }
            let Ok(buffer) = try_box(local) else {
                // SAFETY: allocated above, unused.
                unsafe { free_mdl(ring_mdl) };
                return None;
            };
            header_buffer = Box::into_raw(buffer);
            // SAFETY: records the range only; the buffer is non-paged (every allocation of the
            // driver is) and at most MAX_OFFLOAD_HEADER bytes.
            let mdl = unsafe { IoAllocateMdl(header_buffer.cast(), header.len() as u32, 0, 0, ptr::null_mut()) };
            if mdl.is_null() {
                // SAFETY: allocated above, unused; the buffer was leaked from a box just now.
                unsafe {
                    free_mdl(ring_mdl);
                    drop(Box::from_raw(header_buffer));
                }
                return None;
            }
            // SAFETY: the MDL describes non-paged pool: its pages are resident and the buffer is
            // its own system mapping. The ring's MDL (if any) follows it in the chain.
            unsafe {
                MmBuildMdlForNonPagedPool(mdl);
                (*mdl).Next = ring_mdl;
            }
            mdl
        };
        // SAFETY: allocates an NBL with one NET_BUFFER over the MDL chain from our pool.
        let nbl = unsafe { NdisAllocateNetBufferAndNetBufferList(self.nbl_pool, 0, 0, first_mdl, 0, total) };
        let Some(nbl) = NonNull::new(nbl) else {
            // SAFETY: the MDLs and the buffer are ours and unused.
            unsafe {
                let mut mdl = first_mdl;
                while !mdl.is_null() {
                    let next = (*mdl).Next;
                    IoFreeMdl(mdl);
                    mdl = next;
                }
                if !header_buffer.is_null() {
                    drop(Box::from_raw(header_buffer));
                }
            }
            return None;
        };
        let (flag, ether_type) = match info.kind {
            IpKind::V4 => (NDIS_NBL_FLAGS_IS_IPV4, 0x0800u16),
            IpKind::V6 => (NDIS_NBL_FLAGS_IS_IPV6, 0x86DDu16),
        };
        let (checksum, coalesced) = super::offload::indication_entries(info);
        // SAFETY: the NBL is freshly allocated and ours until indicated.
        unsafe {
            let nbl = nbl.as_ptr();
            (*nbl).SourceHandle = self.miniport;
            (*nbl).Status = NDIS_STATUS_SUCCESS;
            (*nbl).NblFlags |= flag;
            let entries = &mut (*nbl).NetBufferListInfo;
            // NET_BUFFER_LIST_INFO(nbl, NetBufferListFrameType) = htons(ether type).
            entries[NetBufferListFrameType] = usize::from(ether_type.to_be()) as PVOID;
            entries[TcpIpChecksumNetBufferListInfo] = checksum;
            entries[TcpRecvSegCoalesceInfo] = coalesced;
            write_token(nbl, token);
            *header_slot(nbl) = header_buffer.cast();
        }
        Some(KernelIndication(nbl))
    }

    fn indicate(&self, batch: &mut Vec<Self::Indication>) {
        let mut first: *mut NET_BUFFER_LIST = ptr::null_mut();
        let mut count = 0u32;
        // Chain back to front so the stack sees ring order. Each value gives up its NBL (the
        // chain owns them now; none is freed by a drop).
        for indication in batch.drain(..).rev() {
            let nbl = indication.into_raw();
            // SAFETY: each NBL is ours until indicated.
            unsafe { (*nbl).Next = first };
            first = nbl;
            count = count.wrapping_add(1);
        }
        if first.is_null() {
            return;
        }
        // SAFETY: a chain of `count` NBLs we own; from here NDIS owns them until it returns them
        // through MiniportReturnNetBufferLists. The consumer thread runs at PASSIVE_LEVEL (flags 0).
        unsafe { NdisMIndicateReceiveNetBufferLists(self.miniport, first, NDIS_DEFAULT_PORT_NUMBER, count, 0) };
    }

    fn set_link_state(&self, up: bool) {
        let mut state = NDIS_LINK_STATE {
            Header: NDIS_OBJECT_HEADER::of::<NDIS_LINK_STATE>(NDIS_OBJECT_TYPE_DEFAULT, NDIS_LINK_STATE_REVISION_1),
            MediaConnectState: if up { MediaConnectStateConnected } else { MediaConnectStateDisconnected },
            MediaDuplexState: MediaDuplexStateFull,
            XmitLinkSpeed: LINK_SPEED_BPS,
            RcvLinkSpeed: LINK_SPEED_BPS,
            PauseFunctions: NdisPauseFunctionsUnsupported,
            AutoNegotiationFlags: AUTO_NEGOTIATION_FLAGS,
        };
        self.indicate_status(
            NDIS_STATUS_LINK_STATE,
            ptr::addr_of_mut!(state).cast::<c_void>(),
            core::mem::size_of::<NDIS_LINK_STATE>() as u32,
        );
    }

    fn stack_offloads(&self) -> StackOffloads {
        // NDIS takes TCP super-packets whole as receive segment coalescing (RSC) indications and
        // can be told that checksums succeeded; it does not take UDP super-packets (URO is
        // NDIS 6.89) or partial checksums. The engine keeps to the RSC and receive-checksum
        // offloads the stack has on. An RSC indication must look like what coalescing could have
        // built ("Exception Conditions that Terminate Coalescing"): the engine cuts the others.
        StackOffloads {
            coalesced_tcp4: true,
            coalesced_tcp6: true,
            coalesced_udp: false,
            partial_checksum: false,
            checksum_valid: true,
            coalescing_rules: true,
        }
    }
}

/// The consumer system thread: runs the engine's Receive loop once, then returns (which ends a
/// system thread). Its priority was set by its creator (`spawn_worker`).
unsafe extern "C" fn consumer_thread(context: PVOID) {
    // SAFETY: `context` is the reference `spawn_worker` gave up with `TryArc::into_raw` for this
    // thread only; it is taken back once, here.
    let session = unsafe { TryArc::<Session<KernelPlatform>>::from_raw(context) };
    session.run_receive();
}
