//! Stand-in for `wdk-sys` 0.5.2 during the Windows-target check (see `../../README.md`): the part
//! of the real crate's surface that ringtun's kernel shell uses, with the same names and shapes.
//! Types, constants and extern statics live at the crate root, functions in [`ntddk`].
#![no_std]
#![allow(non_camel_case_types, non_snake_case, non_upper_case_globals, missing_docs, clippy::all)]

use core::ffi::c_void;

pub mod ntddk;
pub mod wdf;

// ---- scalar types (ntdef.h / wdm.h) ----
pub type NTSTATUS = i32;
pub type BOOLEAN = u8;
pub type CCHAR = i8;
pub type CSHORT = i16;
pub type UCHAR = u8;
pub type USHORT = u16;
pub type ULONG = u32;
pub type LONG = i32;
pub type ULONG64 = u64;
pub type ULONG_PTR = usize;
pub type LONG_PTR = isize;
pub type PVOID = *mut c_void;
pub type HANDLE = *mut c_void;
pub type PHANDLE = *mut HANDLE;
pub type KIRQL = UCHAR;
pub type KPROCESSOR_MODE = CCHAR;
pub type KPRIORITY = LONG;
pub type ACCESS_MASK = ULONG;
pub type KSPIN_LOCK = ULONG_PTR;
pub type PKSPIN_LOCK = *mut KSPIN_LOCK;
pub type PACCESS_TOKEN = PVOID;
pub type PULONG64 = *mut ULONG64;
pub type PCHAR = *mut i8;

// ---- enums, as bindgen's ModuleConsts style renders them ----
macro_rules! module_enum {
    ($name:ident { $($variant:ident = $value:expr),* $(,)? }) => {
        pub mod $name {
            pub type Type = core::ffi::c_int;
            $( pub const $variant: Type = $value; )*
        }
    };
}
module_enum!(_MODE { KernelMode = 0, UserMode = 1, MaximumMode = 2 });
module_enum!(_EVENT_TYPE { NotificationEvent = 0, SynchronizationEvent = 1 });
module_enum!(_WAIT_TYPE { WaitAll = 0, WaitAny = 1, WaitNotification = 2, WaitDequeue = 3, WaitDpc = 4 });
module_enum!(_KWAIT_REASON { Executive = 0 });
module_enum!(_MEMORY_CACHING_TYPE { MmNonCached = 0, MmCached = 1, MmWriteCombined = 2 });
module_enum!(_MM_PAGE_PRIORITY { LowPagePriority = 0, NormalPagePriority = 16, HighPagePriority = 32 });
module_enum!(_LOCK_OPERATION { IoReadAccess = 0, IoWriteAccess = 1, IoModifyAccess = 2 });
module_enum!(_SECURITY_IMPERSONATION_LEVEL {
    SecurityAnonymous = 0, SecurityIdentification = 1, SecurityImpersonation = 2, SecurityDelegation = 3,
});
module_enum!(_WDF_DRIVER_INIT_FLAGS {
    WdfDriverInitNonPnpDriver = 1, WdfDriverInitNoDispatchOverride = 2, WdfVerifyOn = 4, WdfVerifierOn = 8,
    WdfDriverInitCompanion = 16,
});
pub type MODE = _MODE::Type;
pub type EVENT_TYPE = _EVENT_TYPE::Type;
pub type WAIT_TYPE = _WAIT_TYPE::Type;
pub type KWAIT_REASON = _KWAIT_REASON::Type;
pub type MEMORY_CACHING_TYPE = _MEMORY_CACHING_TYPE::Type;
pub type LOCK_OPERATION = _LOCK_OPERATION::Type;
pub type SECURITY_IMPERSONATION_LEVEL = _SECURITY_IMPERSONATION_LEVEL::Type;

// ---- constants (#define values, typed as bindgen types them) ----
pub const IO_NO_INCREMENT: u32 = 0;
pub const MDL_MAPPED_TO_SYSTEM_VA: u32 = 0x0001;
pub const MDL_SOURCE_IS_NONPAGED_POOL: u32 = 0x0004;
pub const EVENT_MODIFY_STATE: u32 = 0x0002;
pub const SYNCHRONIZE: u32 = 0x0010_0000;
pub const THREAD_ALL_ACCESS: u32 = 0x001F_FFFF;
pub const OBJ_KERNEL_HANDLE: u32 = 0x0000_0200;
pub const IRP_MJ_CREATE: u32 = 0x00;
pub const IRP_MJ_CLOSE: u32 = 0x02;
pub const IRP_MJ_DEVICE_CONTROL: u32 = 0x0E;
pub const IRP_MJ_PNP: u32 = 0x1B;
pub const IRP_MJ_MAXIMUM_FUNCTION: u32 = 0x1B;
pub const IRP_MN_QUERY_REMOVE_DEVICE: u32 = 0x01;
pub const IRP_MN_SURPRISE_REMOVAL: u32 = 0x17;
pub const STATUS_SUCCESS: NTSTATUS = 0;
pub const STATUS_INVALID_HANDLE: NTSTATUS = 0xC000_0008_u32 as i32;
pub const STATUS_INVALID_PARAMETER: NTSTATUS = 0xC000_000D_u32 as i32;
pub const STATUS_INVALID_DEVICE_REQUEST: NTSTATUS = 0xC000_0010_u32 as i32;
pub const STATUS_ACCESS_DENIED: NTSTATUS = 0xC000_0022_u32 as i32;
pub const STATUS_BUFFER_TOO_SMALL: NTSTATUS = 0xC000_0023_u32 as i32;
pub const STATUS_INSUFFICIENT_RESOURCES: NTSTATUS = 0xC000_009A_u32 as i32;
pub const STATUS_DEVICE_NOT_READY: NTSTATUS = 0xC000_00A3_u32 as i32;
pub const STATUS_INVALID_USER_BUFFER: NTSTATUS = 0xC000_00E8_u32 as i32;
pub const STATUS_ALREADY_INITIALIZED: NTSTATUS = 0xC000_0510_u32 as i32;
pub const STATUS_NOT_SUPPORTED: NTSTATUS = 0xC000_00BB_u32 as i32;
pub const POOL_FLAG_NON_PAGED: u64 = 0x0000_0000_0000_0040;

// ---- structures ----
#[repr(C)]
#[derive(Debug, Copy, Clone)]
pub struct _UNICODE_STRING {
    pub Length: USHORT,
    pub MaximumLength: USHORT,
    pub Buffer: *mut u16,
}
pub type UNICODE_STRING = _UNICODE_STRING;
pub type PUNICODE_STRING = *mut UNICODE_STRING;
pub type PCUNICODE_STRING = *const UNICODE_STRING;

#[repr(C)]
#[derive(Debug, Copy, Clone)]
pub struct _LIST_ENTRY {
    pub Flink: *mut _LIST_ENTRY,
    pub Blink: *mut _LIST_ENTRY,
}
pub type LIST_ENTRY = _LIST_ENTRY;

/// Opaque here: the shell never looks inside a device object.
#[repr(C)]
pub struct _DEVICE_OBJECT {
    _opaque: [u8; 0],
}
pub type DEVICE_OBJECT = _DEVICE_OBJECT;
pub type PDEVICE_OBJECT = *mut DEVICE_OBJECT;

#[repr(C)]
pub struct _FILE_OBJECT {
    _opaque: [u8; 0],
}
pub type FILE_OBJECT = _FILE_OBJECT;
pub type PFILE_OBJECT = *mut FILE_OBJECT;

#[repr(C)]
pub struct _KPROCESS {
    _opaque: [u8; 0],
}
pub type PEPROCESS = *mut _KPROCESS;

#[repr(C)]
pub struct _OBJECT_TYPE {
    _opaque: [u8; 0],
}
pub type POBJECT_TYPE = *mut _OBJECT_TYPE;

#[repr(C)]
pub struct _KWAIT_BLOCK {
    _opaque: [u8; 0],
}
pub type PKWAIT_BLOCK = *mut _KWAIT_BLOCK;

#[repr(C)]
pub struct _CLIENT_ID {
    pub UniqueProcess: HANDLE,
    pub UniqueThread: HANDLE,
}
pub type PCLIENT_ID = *mut _CLIENT_ID;

#[repr(C)]
#[derive(Copy, Clone)]
pub union _LARGE_INTEGER {
    pub QuadPart: i64,
}
pub type LARGE_INTEGER = _LARGE_INTEGER;
pub type PLARGE_INTEGER = *mut LARGE_INTEGER;

pub type PDRIVER_DISPATCH = Option<unsafe extern "C" fn(DeviceObject: *mut _DEVICE_OBJECT, Irp: *mut _IRP) -> NTSTATUS>;
pub type PDRIVER_UNLOAD = Option<unsafe extern "C" fn(DriverObject: *mut _DRIVER_OBJECT)>;
pub type PKSTART_ROUTINE = Option<unsafe extern "C" fn(StartContext: PVOID)>;
pub type PCREATE_PROCESS_NOTIFY_ROUTINE =
    Option<unsafe extern "C" fn(ParentId: HANDLE, ProcessId: HANDLE, Create: BOOLEAN)>;

#[repr(C)]
pub struct _DRIVER_OBJECT {
    pub Type: CSHORT,
    pub Size: CSHORT,
    pub DeviceObject: PDEVICE_OBJECT,
    pub Flags: ULONG,
    pub DriverStart: PVOID,
    pub DriverSize: ULONG,
    pub DriverSection: PVOID,
    pub DriverExtension: PVOID,
    pub DriverName: UNICODE_STRING,
    pub HardwareDatabase: PUNICODE_STRING,
    pub FastIoDispatch: PVOID,
    pub DriverInit: PVOID,
    pub DriverStartIo: PVOID,
    pub DriverUnload: PDRIVER_UNLOAD,
    pub MajorFunction: [PDRIVER_DISPATCH; 28],
}
pub type DRIVER_OBJECT = _DRIVER_OBJECT;
pub type PDRIVER_OBJECT = *mut DRIVER_OBJECT;

#[repr(C)]
pub struct _MDL {
    pub Next: *mut _MDL,
    pub Size: CSHORT,
    pub MdlFlags: CSHORT,
    pub Process: PVOID,
    pub MappedSystemVa: PVOID,
    pub StartVa: PVOID,
    pub ByteCount: ULONG,
    pub ByteOffset: ULONG,
}
pub type MDL = _MDL;
pub type PMDL = *mut MDL;

/// `DISPATCHER_HEADER`: only ever zero-initialized and handed to the kernel by the shell.
#[repr(C)]
pub struct _DISPATCHER_HEADER {
    _opaque: [usize; if cfg!(target_pointer_width = "64") { 3 } else { 4 }],
}
#[repr(C)]
pub struct _KEVENT {
    pub Header: _DISPATCHER_HEADER,
}
pub type KEVENT = _KEVENT;
pub type PKEVENT = *mut KEVENT;
pub type PRKEVENT = *mut KEVENT;

#[repr(C)]
pub struct _OBJECT_ATTRIBUTES {
    pub Length: ULONG,
    pub RootDirectory: HANDLE,
    pub ObjectName: PUNICODE_STRING,
    pub Attributes: ULONG,
    pub SecurityDescriptor: PVOID,
    pub SecurityQualityOfService: PVOID,
}
pub type OBJECT_ATTRIBUTES = _OBJECT_ATTRIBUTES;
pub type POBJECT_ATTRIBUTES = *mut OBJECT_ATTRIBUTES;
pub type POBJECT_HANDLE_INFORMATION = PVOID;

#[repr(C)]
pub struct _SECURITY_SUBJECT_CONTEXT {
    pub ClientToken: PACCESS_TOKEN,
    pub ImpersonationLevel: SECURITY_IMPERSONATION_LEVEL,
    pub PrimaryToken: PACCESS_TOKEN,
    pub ProcessAuditId: PVOID,
}
pub type SECURITY_SUBJECT_CONTEXT = _SECURITY_SUBJECT_CONTEXT;
pub type PSECURITY_SUBJECT_CONTEXT = *mut SECURITY_SUBJECT_CONTEXT;

#[repr(C)]
#[derive(Copy, Clone)]
pub union _IO_STATUS_BLOCK__bindgen_ty_1 {
    pub Status: NTSTATUS,
    pub Pointer: PVOID,
}
#[repr(C)]
pub struct _IO_STATUS_BLOCK {
    pub __bindgen_anon_1: _IO_STATUS_BLOCK__bindgen_ty_1,
    pub Information: ULONG_PTR,
}
pub type IO_STATUS_BLOCK = _IO_STATUS_BLOCK;

#[repr(C)]
#[derive(Copy, Clone)]
pub union _IRP__bindgen_ty_1 {
    pub MasterIrp: *mut _IRP,
    pub IrpCount: LONG,
    pub SystemBuffer: PVOID,
}

#[repr(C)]
#[derive(Copy, Clone)]
pub union _IRP__bindgen_ty_Overlay_1 {
    pub DeviceQueueEntry: [ULONG_PTR; 3],
    pub DriverContext: [PVOID; 4],
}
#[repr(C)]
#[derive(Copy, Clone)]
pub union _IRP__bindgen_ty_Overlay_2_1 {
    pub CurrentStackLocation: *mut _IO_STACK_LOCATION,
    pub PacketType: ULONG,
}
#[repr(C)]
#[derive(Copy, Clone)]
pub struct _IRP__bindgen_ty_Overlay_2 {
    pub ListEntry: LIST_ENTRY,
    pub __bindgen_anon_1: _IRP__bindgen_ty_Overlay_2_1,
}
#[repr(C)]
#[derive(Copy, Clone)]
pub struct _IRP__bindgen_ty_Overlay {
    pub __bindgen_anon_1: _IRP__bindgen_ty_Overlay_1,
    pub Thread: PVOID,
    pub AuxiliaryBuffer: PCHAR,
    pub __bindgen_anon_2: _IRP__bindgen_ty_Overlay_2,
    pub OriginalFileObject: PFILE_OBJECT,
}
#[repr(C)]
#[derive(Copy, Clone)]
pub union _IRP__bindgen_ty_Tail {
    pub Overlay: _IRP__bindgen_ty_Overlay,
    /// `KAPC`: 0x58 bytes on 64-bit targets, 0x30 on x86.
    pub Apc: [u8; if cfg!(target_pointer_width = "64") { 0x58 } else { 0x30 }],
    pub CompletionKey: PVOID,
}

#[repr(C)]
pub struct _IRP {
    pub Type: CSHORT,
    pub Size: USHORT,
    pub MdlAddress: PMDL,
    pub Flags: ULONG,
    pub AssociatedIrp: _IRP__bindgen_ty_1,
    pub ThreadListEntry: LIST_ENTRY,
    pub IoStatus: IO_STATUS_BLOCK,
    pub RequestorMode: KPROCESSOR_MODE,
    pub PendingReturned: BOOLEAN,
    pub StackCount: i8,
    pub CurrentLocation: i8,
    pub Cancel: BOOLEAN,
    pub CancelIrql: KIRQL,
    pub ApcEnvironment: CCHAR,
    pub AllocationFlags: UCHAR,
    pub UserIosb: PVOID,
    pub UserEvent: PKEVENT,
    pub Overlay: [PVOID; 2],
    pub CancelRoutine: PVOID,
    pub UserBuffer: PVOID,
    pub Tail: _IRP__bindgen_ty_Tail,
}
pub type IRP = _IRP;
pub type PIRP = *mut IRP;

/// `Parameters.DeviceIoControl`; each field is `POINTER_ALIGNMENT` in wdm.h.
#[repr(C)]
#[derive(Copy, Clone)]
pub struct _IO_STACK_LOCATION__bindgen_ty_DeviceIoControl {
    pub OutputBufferLength: ULONG,
    #[cfg(target_pointer_width = "64")]
    _pad0: u32,
    pub InputBufferLength: ULONG,
    #[cfg(target_pointer_width = "64")]
    _pad1: u32,
    pub IoControlCode: ULONG,
    #[cfg(target_pointer_width = "64")]
    _pad2: u32,
    pub Type3InputBuffer: PVOID,
}
#[repr(C)]
#[derive(Copy, Clone)]
pub union _IO_STACK_LOCATION__bindgen_ty_Parameters {
    pub DeviceIoControl: _IO_STACK_LOCATION__bindgen_ty_DeviceIoControl,
    pub Others: [PVOID; 4],
}
#[repr(C)]
pub struct _IO_STACK_LOCATION {
    pub MajorFunction: UCHAR,
    pub MinorFunction: UCHAR,
    pub Flags: UCHAR,
    pub Control: UCHAR,
    pub Parameters: _IO_STACK_LOCATION__bindgen_ty_Parameters,
    pub DeviceObject: PDEVICE_OBJECT,
    pub FileObject: PFILE_OBJECT,
    pub CompletionRoutine: PVOID,
    pub Context: PVOID,
}
pub type IO_STACK_LOCATION = _IO_STACK_LOCATION;
pub type PIO_STACK_LOCATION = *mut IO_STACK_LOCATION;

// ---- WDF types ----
#[repr(C)]
pub struct WDFDRIVER__ {
    _opaque: [u8; 0],
}
pub type WDFDRIVER = *mut WDFDRIVER__;
#[repr(C)]
pub struct WDFDEVICE_INIT {
    _opaque: [u8; 0],
}
pub type PWDFDEVICE_INIT = *mut WDFDEVICE_INIT;
#[repr(C)]
pub struct _WDF_OBJECT_ATTRIBUTES {
    _opaque: [u8; 0],
}
pub type PWDF_OBJECT_ATTRIBUTES = *mut _WDF_OBJECT_ATTRIBUTES;
pub type PFN_WDF_DRIVER_DEVICE_ADD = Option<unsafe extern "C" fn(Driver: WDFDRIVER, DeviceInit: PWDFDEVICE_INIT) -> NTSTATUS>;
pub type PFN_WDF_DRIVER_UNLOAD = Option<unsafe extern "C" fn(Driver: WDFDRIVER)>;
#[repr(C)]
pub struct _WDF_DRIVER_CONFIG {
    pub Size: ULONG,
    pub EvtDriverDeviceAdd: PFN_WDF_DRIVER_DEVICE_ADD,
    pub EvtDriverUnload: PFN_WDF_DRIVER_UNLOAD,
    pub DriverInitFlags: ULONG,
    pub DriverPoolTag: ULONG,
}
pub type WDF_DRIVER_CONFIG = _WDF_DRIVER_CONFIG;
pub type PWDF_DRIVER_CONFIG = *mut WDF_DRIVER_CONFIG;
pub const WDF_NO_OBJECT_ATTRIBUTES: PWDF_OBJECT_ATTRIBUTES = core::ptr::null_mut();
pub const WDF_NO_HANDLE: PVOID = core::ptr::null_mut();

// ---- extern statics (wdm.h) ----
extern "C" {
    pub static mut ExEventObjectType: *mut POBJECT_TYPE;
}

/// Calls a KMDF function through the WDF function table (the real crate's proc macro); here, a
/// direct call to the typed declaration in [`wdf`].
#[macro_export]
macro_rules! call_unsafe_wdf_function_binding {
    ($name:ident $(, $arg:expr)* $(,)?) => {
        $crate::wdf::$name($($arg),*)
    };
}

// Sizes of the structures the shell dereferences, x64 (DDI reference / MinGW-w64 wdm.h).
#[cfg(target_arch = "x86_64")]
const _: () = {
    assert!(core::mem::size_of::<_DRIVER_OBJECT>() == 0x150);
    assert!(core::mem::size_of::<_IRP>() == 0xD0);
    assert!(core::mem::offset_of!(_IRP, Tail) == 0x78);
    assert!(core::mem::size_of::<_IO_STACK_LOCATION>() == 0x48);
    assert!(core::mem::offset_of!(_IO_STACK_LOCATION, FileObject) == 0x30);
    assert!(core::mem::size_of::<_MDL>() == 0x30);
    assert!(core::mem::size_of::<_KEVENT>() == 0x18);
    assert!(core::mem::size_of::<_OBJECT_ATTRIBUTES>() == 0x30);
    assert!(core::mem::size_of::<_SECURITY_SUBJECT_CONTEXT>() == 0x20);
};
