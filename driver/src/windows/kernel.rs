//! Small WDM helpers: the inline functions and macros of `wdm.h` that bindings cannot carry,
//! written out from their documented behaviour.

use core::ptr::{self, NonNull};

use wdk_sys::ntddk::{IofCompleteRequest, MmMapLockedPagesSpecifyCache};
use wdk_sys::{
    _MEMORY_CACHING_TYPE, _MM_PAGE_PRIORITY, _MODE, IO_NO_INCREMENT, KIRQL, KPRIORITY, KPROCESSOR_MODE, LOCK_OPERATION,
    MDL_MAPPED_TO_SYSTEM_VA, MDL_SOURCE_IS_NONPAGED_POOL, NTSTATUS, PIO_STACK_LOCATION, PIRP, PKSPIN_LOCK, PMDL,
    POBJECT_TYPE,
};

/// `MdlMappingNoExecute` (wdm.h): map without execute permission.
pub const MDL_MAPPING_NO_EXECUTE: u32 = 0x4000_0000;

/// `LOW_REALTIME_PRIORITY` (wdm.h): the lowest real-time thread priority, above every variable
/// priority.
pub const LOW_REALTIME_PRIORITY: KPRIORITY = 16;

// `ExEventObjectType` and `PsThreadType` are imported data, not functions: pointers to
// ntoskrnl.exe's POBJECT_TYPE variables. Their declarations in the WDK (10.0.16299):
// - wdm.h: `extern POBJECT_TYPE *ExEventObjectType;` and `extern POBJECT_TYPE *PsThreadType;`,
//   in its list of exported object types;
// - ntddk.h (which includes wdm.h) repeats `extern POBJECT_TYPE *PsThreadType;`.
// Both are plain `extern`, without NTKERNELAPI's `__declspec(dllimport)`: the C object they name
// is the import-table slot itself, which the loader fills with the address of ntoskrnl's
// variable, so a C driver passes `*ExEventObjectType` (the variable's value, the object type).
// Second source, MinGW-w64's ddk/wdm.h: `extern POBJECT_TYPE NTSYSAPI *ExEventObjectType;` and
// `extern POBJECT_TYPE NTSYSAPI *PsThreadType;` (NTSYSAPI = DECLSPEC_IMPORT): the same names and
// C type, marked dllimport; its libntoskrnl.a defines for them only the slots
// `__imp_ExEventObjectType` and `__imp_PsThreadType`, no bare symbol. The sources differ in one
// point: with MinGW-w64's dllimport the `*` a C driver writes reads one level further (into the
// object type) than with the WDK's declaration. This declaration follows the WDK's meaning (the
// slot holds the address of a variable whose value is the object type), which is what the
// emulator's loader model fills in.
//
// Rust reads imported data through a `dllimport` static: declared in a block linked to ntoskrnl,
// rustc loads the slot `__imp_ExEventObjectType` and reads the variable it points to. The static
// therefore has the variable's type, POBJECT_TYPE, and is used without the C code's `*`.
// wdk-sys declares `ExEventObjectType: *mut POBJECT_TYPE` (the C declaration) in an `extern` block
// without a `#[link]` attribute, so rustc references the bare symbol `ExEventObjectType`, which
// MinGW-w64's library does not define (the same failure as `PsInitialSystemProcess` in
// windows-drivers-rs); whether the kit's ntoskrnl.lib defines it (the WDK's plain `extern` needs
// a symbol of that name) is not verified here. The `__imp_` slots are in both libraries, so this
// declaration links against either; the Windows-target check verifies that the compiled shell
// references exactly those two slots, and the emulator run checks the value
// ObReferenceObjectByHandle receives.
#[link(name = "ntoskrnl")]
extern "C" {
    /// The object type of event objects, for `ObReferenceObjectByHandle`.
    pub static ExEventObjectType: POBJECT_TYPE;
    /// The object type of thread objects, for `ObReferenceObjectByHandle`.
    pub static PsThreadType: POBJECT_TYPE;
}

extern "C" {
    /// `MmProbeAndLockPages` inside a structured-exception guard (`probe.c`): returns the
    /// exception code instead of raising it when the range is not valid for `access_mode`.
    #[must_use]
    pub fn ringtun_probe_and_lock_pages(mdl: PMDL, access_mode: KPROCESSOR_MODE, operation: LOCK_OPERATION)
        -> NTSTATUS;
}

/// `KeAcquireSpinLock`: acquires `lock`, raising to DISPATCH_LEVEL; returns the previous IRQL.
///
/// # Safety
/// `lock` points to an initialized `KSPIN_LOCK` in non-paged memory; the caller runs at
/// IRQL <= DISPATCH_LEVEL and does not already hold `lock`.
pub unsafe fn spin_lock_acquire(lock: PKSPIN_LOCK) -> KIRQL {
    // SAFETY: forwarded from this function's contract (on x64 and arm64, wdm.h's
    // `KeAcquireSpinLock` is this export).
    unsafe { wdk_sys::ntddk::KeAcquireSpinLockRaiseToDpc(lock) }
}

/// `KeReleaseSpinLock`: releases `lock` and returns to `old_irql`.
///
/// # Safety
/// The caller holds `lock`, acquired by [`spin_lock_acquire`], which returned `old_irql`.
pub unsafe fn spin_lock_release(lock: PKSPIN_LOCK, old_irql: KIRQL) {
    // SAFETY: forwarded from this function's contract.
    unsafe { wdk_sys::ntddk::KeReleaseSpinLock(lock, old_irql) }
}

/// `MmGetSystemAddressForMdlSafe(mdl, NormalPagePriority | MdlMappingNoExecute)`: the system
/// address of the first byte the MDL describes, or `None` if it cannot be mapped.
///
/// # Safety
/// `mdl` points to a valid MDL describing locked or non-paged memory; IRQL <= DISPATCH_LEVEL.
pub unsafe fn system_address(mdl: PMDL) -> Option<NonNull<u8>> {
    // SAFETY: `mdl` is valid (contract).
    let flags = unsafe { (*mdl).MdlFlags } as u16 as u32;
    let va = if flags & (MDL_MAPPED_TO_SYSTEM_VA | MDL_SOURCE_IS_NONPAGED_POOL) != 0 {
        // SAFETY: as above; the flag says `MappedSystemVa` is the mapping.
        unsafe { (*mdl).MappedSystemVa }
    } else {
        // SAFETY: `mdl` describes locked pages (contract); KernelMode mappings do not raise.
        unsafe {
            MmMapLockedPagesSpecifyCache(
                mdl,
                _MODE::KernelMode as KPROCESSOR_MODE,
                _MEMORY_CACHING_TYPE::MmCached,
                ptr::null_mut(),
                0,
                _MM_PAGE_PRIORITY::NormalPagePriority as u32 | MDL_MAPPING_NO_EXECUTE,
            )
        }
    };
    NonNull::new(va.cast::<u8>())
}

/// `IoGetCurrentIrpStackLocation`.
///
/// # Safety
/// `irp` points to a valid IRP owned by the caller's dispatch routine.
pub unsafe fn current_stack_location(irp: PIRP) -> PIO_STACK_LOCATION {
    // SAFETY: the IRP is valid (contract); a dispatched IRP's Overlay arm holds the stack pointer.
    unsafe { (*irp).Tail.Overlay.__bindgen_anon_2.__bindgen_anon_1.CurrentStackLocation }
}

/// Completes `irp` with `status` and `information` (`IoCompleteRequest(irp, IO_NO_INCREMENT)`);
/// returns `status` for the dispatch routine to return.
///
/// # Safety
/// `irp` points to a valid IRP the caller owns and has not completed or passed on.
pub unsafe fn complete_irp(irp: PIRP, status: NTSTATUS, information: usize) -> NTSTATUS {
    // SAFETY: the caller owns the IRP (contract); after completion it is never touched again.
    unsafe {
        (*irp).IoStatus.__bindgen_anon_1.Status = status;
        (*irp).IoStatus.Information = information as _;
        IofCompleteRequest(irp, IO_NO_INCREMENT as _);
    }
    status
}
