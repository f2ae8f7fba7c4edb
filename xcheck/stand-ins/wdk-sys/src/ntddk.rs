//! Functions of `ntddk.h`/`wdm.h`/`ntifs.h` the shell calls, as bindgen declares them: with
//! `#[must_use]` on every function returning `NTSTATUS` (wdk-build configures bindgen with
//! `must_use_type("NTSTATUS")`), so a discarded status is a warning here as in the real crate.

use crate::*;

extern "C" {
    pub fn DbgPrint(Format: *const i8, ...) -> ULONG;
    pub fn ExAllocatePool2(Flags: POOL_FLAGS, NumberOfBytes: SIZE_T, Tag: ULONG) -> PVOID;
    pub fn ExFreePool(P: PVOID);
    pub fn IofCompleteRequest(Irp: PIRP, PriorityBoost: CCHAR);
    pub fn IoAllocateMdl(
        VirtualAddress: PVOID,
        Length: ULONG,
        SecondaryBuffer: BOOLEAN,
        ChargeQuota: BOOLEAN,
        Irp: PIRP,
    ) -> PMDL;
    pub fn IoBuildPartialMdl(SourceMdl: PMDL, TargetMdl: PMDL, VirtualAddress: PVOID, Length: ULONG);
    pub fn IoFreeMdl(Mdl: PMDL);
    pub fn MmBuildMdlForNonPagedPool(MemoryDescriptorList: PMDL);
    pub fn MmMapLockedPagesSpecifyCache(
        MemoryDescriptorList: PMDL,
        AccessMode: KPROCESSOR_MODE,
        CacheType: MEMORY_CACHING_TYPE,
        RequestedAddress: PVOID,
        BugCheckOnFailure: ULONG,
        Priority: ULONG,
    ) -> PVOID;
    pub fn MmUnlockPages(MemoryDescriptorList: PMDL);
    pub fn KeInitializeEvent(Event: PRKEVENT, Type: EVENT_TYPE, State: BOOLEAN);
    pub fn KeSetEvent(Event: PRKEVENT, Increment: KPRIORITY, Wait: BOOLEAN) -> LONG;
    pub fn KeClearEvent(Event: PRKEVENT);
    #[must_use]
    pub fn KeWaitForMultipleObjects(
        Count: ULONG,
        Object: *mut PVOID,
        WaitType: WAIT_TYPE,
        WaitReason: KWAIT_REASON,
        WaitMode: KPROCESSOR_MODE,
        Alertable: BOOLEAN,
        Timeout: PLARGE_INTEGER,
        WaitBlockArray: PKWAIT_BLOCK,
    ) -> NTSTATUS;
    pub fn KeQueryInterruptTimePrecise(QpcTimeStamp: PULONG64) -> ULONG64;
    pub fn KeTestSpinLock(SpinLock: PKSPIN_LOCK) -> BOOLEAN;
    #[must_use]
    pub fn ObReferenceObjectByHandle(
        Handle: HANDLE,
        DesiredAccess: ACCESS_MASK,
        ObjectType: POBJECT_TYPE,
        AccessMode: KPROCESSOR_MODE,
        Object: *mut PVOID,
        HandleInformation: POBJECT_HANDLE_INFORMATION,
    ) -> NTSTATUS;
    pub fn ObfDereferenceObject(Object: PVOID) -> LONG_PTR;
    #[must_use]
    pub fn PsCreateSystemThread(
        ThreadHandle: PHANDLE,
        DesiredAccess: ULONG,
        ObjectAttributes: POBJECT_ATTRIBUTES,
        ProcessHandle: HANDLE,
        ClientId: PCLIENT_ID,
        StartRoutine: PKSTART_ROUTINE,
        StartContext: PVOID,
    ) -> NTSTATUS;
    pub fn PsGetCurrentProcessId() -> HANDLE;
    pub fn IoGetCurrentProcess() -> PEPROCESS;
    pub fn IoGetRequestorProcess(Irp: PIRP) -> PEPROCESS;
    #[must_use]
    pub fn PsSetCreateProcessNotifyRoutine(NotifyRoutine: PCREATE_PROCESS_NOTIFY_ROUTINE, Remove: BOOLEAN) -> NTSTATUS;
    pub fn SeCaptureSubjectContext(SubjectContext: PSECURITY_SUBJECT_CONTEXT);
    pub fn SeLockSubjectContext(SubjectContext: PSECURITY_SUBJECT_CONTEXT);
    pub fn SeUnlockSubjectContext(SubjectContext: PSECURITY_SUBJECT_CONTEXT);
    pub fn SeReleaseSubjectContext(SubjectContext: PSECURITY_SUBJECT_CONTEXT);
    pub fn SeTokenIsAdmin(Token: PACCESS_TOKEN) -> BOOLEAN;
    #[must_use]
    pub fn ZwClose(Handle: HANDLE) -> NTSTATUS;
    #[must_use]
    pub fn ZwWaitForSingleObject(Handle: HANDLE, Alertable: BOOLEAN, Timeout: PLARGE_INTEGER) -> NTSTATUS;
}

// wdm.h declares these only where they are exports: 64-bit targets.
extern "C" {
    pub fn IoIs32bitProcess(Irp: PIRP) -> BOOLEAN;
}

// wdm.h: KeAcquireSpinLock/KeReleaseSpinLock are these exports on x64 and arm64 (the only
// targets of the real crates).
#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
extern "C" {
    pub fn KeAcquireSpinLockRaiseToDpc(SpinLock: PKSPIN_LOCK) -> KIRQL;
    pub fn KeReleaseSpinLock(SpinLock: PKSPIN_LOCK, NewIrql: KIRQL);
}

// ---- Access check and consumer-thread scheduling (kept as one block). Signatures from the
// WDK 10.0.16299 headers named on each; NTSTATUS results are `#[must_use]` as in the real crate
// (wdk-build's bindgen marks the NTSTATUS type so). ----
extern "C" {
    /// wdm.h, `SeAccessCheck`.
    pub fn SeAccessCheck(
        SecurityDescriptor: PSECURITY_DESCRIPTOR,
        SubjectSecurityContext: PSECURITY_SUBJECT_CONTEXT,
        SubjectContextLocked: BOOLEAN,
        DesiredAccess: ACCESS_MASK,
        PreviouslyGrantedAccess: ACCESS_MASK,
        Privileges: *mut PPRIVILEGE_SET,
        GenericMapping: PGENERIC_MAPPING,
        AccessMode: KPROCESSOR_MODE,
        GrantedAccess: PACCESS_MASK,
        AccessStatus: PNTSTATUS,
    ) -> BOOLEAN;
    /// ntddk.h, `IoGetFileObjectGenericMapping`.
    pub fn IoGetFileObjectGenericMapping() -> PGENERIC_MAPPING;
    /// wdm.h, `KeSetPriorityThread` (returns the previous priority).
    pub fn KeSetPriorityThread(Thread: PKTHREAD, Priority: KPRIORITY) -> KPRIORITY;
    /// wdm.h, `KeDelayExecutionThread`.
    #[must_use]
    pub fn KeDelayExecutionThread(WaitMode: KPROCESSOR_MODE, Alertable: BOOLEAN, Interval: PLARGE_INTEGER) -> NTSTATUS;
}
