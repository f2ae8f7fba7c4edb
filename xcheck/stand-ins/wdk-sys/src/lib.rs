//! Stand-in for `wdk-sys` 0.5.2 during the Windows-target check (see `../../README.md`): the part
//! of the real crate's surface that ringtun's kernel shell uses, with the same names and shapes.
//! Types, constants and extern statics live at the crate root, functions in [`ntddk`].
//! Declarations follow the WDK header text (ntdef.h, wdm.h, ntddk.h, ntifs.h, wdf*.h), named per
//! section; the layouts and constants are checked with clang against MinGW-w64's headers and,
//! where available, the WDK's (`xcheck/layout/check-ndis-layout`).
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
// basetsd.h: `unsigned __int64`/`__int64` on 64-bit targets, `unsigned long`/`long` on x86; bindgen
// renders them as u64/i64 (u32/i32), not usize/isize.
#[cfg(target_pointer_width = "64")]
pub type ULONG_PTR = u64;
#[cfg(target_pointer_width = "64")]
pub type LONG_PTR = i64;
#[cfg(target_pointer_width = "32")]
pub type ULONG_PTR = u32;
#[cfg(target_pointer_width = "32")]
pub type LONG_PTR = i32;
pub type SIZE_T = ULONG_PTR;
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

// ---- enums (wdm.h, ntdef.h, wdfdriver.h), as bindgen's ModuleConsts style renders them ----
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

// ---- constants (wdm.h, ntstatus.h; #define values, typed as bindgen types them) ----
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
/// wdm.h (WDK 10.0.19041 and later): `typedef ULONG64 POOL_FLAGS;`.
pub type POOL_FLAGS = ULONG64;
pub const POOL_FLAG_NON_PAGED: POOL_FLAGS = 0x0000_0000_0000_0040;

// ---- structures (ntdef.h, wdm.h) ----
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

/// Opaque here: the shell never looks inside a device object. wdm.h: `typedef struct
/// DECLSPEC_ALIGN(MEMORY_ALLOCATION_ALIGNMENT) _DEVICE_OBJECT` (16 on 64-bit targets).
#[repr(C)]
#[cfg_attr(target_pointer_width = "64", repr(align(16)))]
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

/// wdm.h: `struct _EPROCESS` (MDL.Process points to one).
#[repr(C)]
pub struct _EPROCESS {
    _opaque: [u8; 0],
}

/// wdm.h: `typedef struct _KTHREAD *PKTHREAD, *PRKTHREAD;` (opaque: the shell only passes it on).
#[repr(C)]
pub struct _KTHREAD {
    _opaque: [u8; 0],
}
pub type PKTHREAD = *mut _KTHREAD;
pub type PRKTHREAD = *mut _KTHREAD;
pub type PETHREAD = *mut _KTHREAD;

#[repr(C)]
pub struct _DRIVER_EXTENSION {
    _opaque: [u8; 0],
}
pub type PDRIVER_EXTENSION = *mut _DRIVER_EXTENSION;

#[repr(C)]
pub struct _FAST_IO_DISPATCH {
    _opaque: [u8; 0],
}
pub type PFAST_IO_DISPATCH = *mut _FAST_IO_DISPATCH;

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
pub type PDRIVER_INITIALIZE =
    Option<unsafe extern "C" fn(DriverObject: *mut _DRIVER_OBJECT, RegistryPath: PUNICODE_STRING) -> NTSTATUS>;
pub type PDRIVER_STARTIO = Option<unsafe extern "C" fn(DeviceObject: *mut _DEVICE_OBJECT, Irp: *mut _IRP)>;
pub type PDRIVER_CANCEL = Option<unsafe extern "C" fn(DeviceObject: *mut _DEVICE_OBJECT, Irp: *mut _IRP)>;
pub type PIO_COMPLETION_ROUTINE =
    Option<unsafe extern "C" fn(DeviceObject: PDEVICE_OBJECT, Irp: PIRP, Context: PVOID) -> NTSTATUS>;
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
    pub DriverExtension: PDRIVER_EXTENSION,
    pub DriverName: UNICODE_STRING,
    pub HardwareDatabase: PUNICODE_STRING,
    pub FastIoDispatch: PFAST_IO_DISPATCH,
    pub DriverInit: PDRIVER_INITIALIZE,
    pub DriverStartIo: PDRIVER_STARTIO,
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
    pub Process: *mut _EPROCESS,
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
/// wdm.h: `OBJECT_HANDLE_INFORMATION`.
#[repr(C)]
#[derive(Debug, Default, Copy, Clone)]
pub struct _OBJECT_HANDLE_INFORMATION {
    pub HandleAttributes: ULONG,
    pub GrantedAccess: ACCESS_MASK,
}
pub type POBJECT_HANDLE_INFORMATION = *mut _OBJECT_HANDLE_INFORMATION;

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
pub type PIO_STATUS_BLOCK = *mut _IO_STATUS_BLOCK;

#[repr(C)]
#[derive(Copy, Clone)]
pub union _IRP__bindgen_ty_1 {
    pub MasterIrp: *mut _IRP,
    pub IrpCount: LONG,
    pub SystemBuffer: PVOID,
}
// The anonymous unions and structs of IRP and IO_STACK_LOCATION carry the names bindgen gives
// them over the WDK 10.0.16299 headers (the reference header set of scripts/real-wdk); another kit
// may number them differently. The shell names fields (`Tail.Overlay.__bindgen_anon_2...`), never
// these types. Arms the shell does not use are private placeholders of the right size.

/// `IRP.Overlay` (wdm.h); `AsynchronousParameters` is not declared here.
#[repr(C)]
#[derive(Copy, Clone)]
pub union _IRP__bindgen_ty_2 {
    _AsynchronousParameters: [PVOID; 2],
    pub AllocationSize: LARGE_INTEGER,
}
/// `IRP.Tail.Overlay`'s first union: `DeviceQueueEntry` (KDEVICE_QUEUE_ENTRY) and
/// `DriverContext[4]`, not declared here.
#[repr(C)]
#[derive(Copy, Clone)]
pub union _IRP__bindgen_ty_3__bindgen_ty_1__bindgen_ty_1 {
    _DriverContext: [PVOID; 4],
}
#[repr(C)]
#[derive(Copy, Clone)]
pub union _IRP__bindgen_ty_3__bindgen_ty_1__bindgen_ty_2__bindgen_ty_1 {
    pub CurrentStackLocation: *mut _IO_STACK_LOCATION,
    pub PacketType: ULONG,
}
#[repr(C)]
#[derive(Copy, Clone)]
pub struct _IRP__bindgen_ty_3__bindgen_ty_1__bindgen_ty_2 {
    pub ListEntry: LIST_ENTRY,
    pub __bindgen_anon_1: _IRP__bindgen_ty_3__bindgen_ty_1__bindgen_ty_2__bindgen_ty_1,
}
/// `IRP.Tail.Overlay`.
#[repr(C)]
#[derive(Copy, Clone)]
pub struct _IRP__bindgen_ty_3__bindgen_ty_1 {
    pub __bindgen_anon_1: _IRP__bindgen_ty_3__bindgen_ty_1__bindgen_ty_1,
    pub Thread: PETHREAD,
    pub AuxiliaryBuffer: PCHAR,
    pub __bindgen_anon_2: _IRP__bindgen_ty_3__bindgen_ty_1__bindgen_ty_2,
    pub OriginalFileObject: PFILE_OBJECT,
}
/// `IRP.Tail`.
#[repr(C)]
#[derive(Copy, Clone)]
pub union _IRP__bindgen_ty_3 {
    pub Overlay: _IRP__bindgen_ty_3__bindgen_ty_1,
    /// `KAPC`: 0x58 bytes on 64-bit targets, 0x30 on x86; not declared here.
    _Apc: [u8; if cfg!(target_pointer_width = "64") { 0x58 } else { 0x30 }],
    pub CompletionKey: PVOID,
}

/// wdm.h: `typedef struct DECLSPEC_ALIGN(MEMORY_ALLOCATION_ALIGNMENT) _IRP` (16 on 64-bit
/// targets; MinGW-w64's wdm.h omits the alignment).
#[repr(C)]
#[cfg_attr(target_pointer_width = "64", repr(align(16)))]
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
    pub UserIosb: PIO_STATUS_BLOCK,
    pub UserEvent: PKEVENT,
    pub Overlay: _IRP__bindgen_ty_2,
    pub CancelRoutine: PDRIVER_CANCEL,
    pub UserBuffer: PVOID,
    pub Tail: _IRP__bindgen_ty_3,
}
pub type IRP = _IRP;
pub type PIRP = *mut IRP;

/// `Parameters.DeviceIoControl`; each field is `POINTER_ALIGNMENT` in wdm.h (bindgen writes the
/// padding out as `__bindgen_padding_N`).
#[repr(C)]
#[derive(Copy, Clone)]
pub struct _IO_STACK_LOCATION__bindgen_ty_1__bindgen_ty_17 {
    pub OutputBufferLength: ULONG,
    #[cfg(target_pointer_width = "64")]
    pub __bindgen_padding_0: [u8; 4],
    pub InputBufferLength: ULONG,
    #[cfg(target_pointer_width = "64")]
    pub __bindgen_padding_1: [u8; 4],
    pub IoControlCode: ULONG,
    pub Type3InputBuffer: PVOID,
}
/// `Parameters.Others`.
#[repr(C)]
#[derive(Copy, Clone)]
pub struct _IO_STACK_LOCATION__bindgen_ty_1__bindgen_ty_39 {
    pub Argument1: PVOID,
    pub Argument2: PVOID,
    pub Argument3: PVOID,
    pub Argument4: PVOID,
}
/// `Parameters`: only the two arms the shell reads are declared.
#[repr(C)]
#[derive(Copy, Clone)]
pub union _IO_STACK_LOCATION__bindgen_ty_1 {
    pub DeviceIoControl: _IO_STACK_LOCATION__bindgen_ty_1__bindgen_ty_17,
    pub Others: _IO_STACK_LOCATION__bindgen_ty_1__bindgen_ty_39,
}
#[repr(C)]
pub struct _IO_STACK_LOCATION {
    pub MajorFunction: UCHAR,
    pub MinorFunction: UCHAR,
    pub Flags: UCHAR,
    pub Control: UCHAR,
    pub Parameters: _IO_STACK_LOCATION__bindgen_ty_1,
    pub DeviceObject: PDEVICE_OBJECT,
    pub FileObject: PFILE_OBJECT,
    pub CompletionRoutine: PIO_COMPLETION_ROUTINE,
    pub Context: PVOID,
}
pub type IO_STACK_LOCATION = _IO_STACK_LOCATION;
pub type PIO_STACK_LOCATION = *mut IO_STACK_LOCATION;

// ---- WDF types (wdftypes.h, wdfdriver.h, wdfobject.h) ----
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
pub type PFN_WDF_DRIVER_DEVICE_ADD =
    Option<unsafe extern "C" fn(Driver: WDFDRIVER, DeviceInit: PWDFDEVICE_INIT) -> NTSTATUS>;
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

// ---- WDF function table (wdffuncenum.h, wdf.h; KMDF 1.33) ----
/// An entry of the WDF function table.
pub type WDFFUNC = Option<unsafe extern "C" fn()>;
#[repr(C)]
pub struct _WDF_DRIVER_GLOBALS {
    _opaque: [u8; 0],
}
pub type PWDF_DRIVER_GLOBALS = *mut _WDF_DRIVER_GLOBALS;
pub type PFN_WDFDRIVERCREATE = Option<
    unsafe extern "C" fn(
        DriverGlobals: PWDF_DRIVER_GLOBALS,
        DriverObject: PDRIVER_OBJECT,
        RegistryPath: PCUNICODE_STRING,
        DriverAttributes: PWDF_OBJECT_ATTRIBUTES,
        DriverConfig: PWDF_DRIVER_CONFIG,
        Driver: *mut WDFDRIVER,
    ) -> NTSTATUS,
>;
// No `PFN_WDFDRIVERMINIPORTUNLOAD`: it is declared in wdfminiport.h, which wdf.h (the header the
// real crate's WDF bindings come from) does not include.
/// `WDFFUNCENUM` (wdffuncenum.h): the table indexes of the KMDF functions the shell calls.
pub mod _WDFFUNCENUM {
    pub type Type = core::ffi::c_int;
    pub const WdfDriverCreateTableIndex: Type = 116;
    pub const WdfDriverMiniportUnloadTableIndex: Type = 201;
}

// ---- extern statics, as bindgen declares them (no `#[link]` attribute) ----
extern "C" {
    /// wdm.h: `extern POBJECT_TYPE *ExEventObjectType;` (data exported by ntoskrnl.exe).
    pub static mut ExEventObjectType: *mut POBJECT_TYPE;
    /// wdf.h: `WdfFunctions` is `WdfFunctions_01033` for KMDF 1.33 (the real crate renames it).
    #[link_name = "WdfFunctions_01033"]
    pub static mut WdfFunctions: *const WDFFUNC;
    /// wdfglobals.h: the driver's framework globals, set by the KMDF stub.
    pub static mut WdfDriverGlobals: PWDF_DRIVER_GLOBALS;
    /// wdf.h (KMDF 1.25+): the number of entries in `WdfFunctions`.
    pub static mut WdfFunctionCount: ULONG;
    /// wdf.h (KMDF 1.15 to 1.33): `extern WDFFUNC WdfDriverMiniportUnloadOverride;`, the pointer
    /// wdfminiport.h's `WdfDriverMiniportUnload` calls through (set by the KMDF stub library).
    pub static mut WdfDriverMiniportUnloadOverride: WDFFUNC;
}

/// The real crate defines `_fltused` (the symbol MSVC's linker expects once floating point is
/// used anywhere; LLVM references it even under soft-float).
#[no_mangle]
pub static _fltused: () = ();

/// Calls a KMDF function through the WDF function table, as the real crate's
/// `call_unsafe_wdf_function_binding!` (a proc macro) does; see [`wdf::__dispatch`].
#[macro_export]
macro_rules! call_unsafe_wdf_function_binding {
    ($name:ident $(, $arg:expr)* $(,)?) => {
        $crate::wdf::__dispatch::$name($($arg),*)
    };
}

// ---- layouts of the structures the shell dereferences (wdm.h; x64 and arm64 share them) ----
// xcheck/layout/check-ndis-layout recomputes each number with clang from MinGW-w64's wdm.h and,
// where the WDK is at hand, from the WDK's (x64 and arm64).
macro_rules! assert_layout {
    ($ty:ty, size: $size:expr, { $($field:ident: $off:expr),* $(,)? }) => {
        const _: () = assert!(core::mem::size_of::<$ty>() == $size, concat!("size of ", stringify!($ty)));
        $( const _: () = assert!(core::mem::offset_of!($ty, $field) == $off, concat!(stringify!($ty), ".", stringify!($field))); )*
    };
}
/// An offset through anonymous unions and structs: the C path (as the header names it) and the
/// same offset computed through bindgen's `__bindgen_anon_N` members.
macro_rules! assert_path {
    ($ty:ident, $path:literal == $off:literal, $rust:expr) => {
        const _: () = assert!($rust == $off, concat!(stringify!($ty), ".", $path));
    };
}
#[cfg(target_pointer_width = "64")]
mod layout_64 {
    use super::*;
    use core::mem::offset_of;
    assert_layout!(UNICODE_STRING, size: 0x10, { Length: 0, MaximumLength: 2, Buffer: 8 });
    assert_layout!(DRIVER_OBJECT, size: 0x150, {
        Type: 0, Size: 2, DeviceObject: 8, Flags: 0x10, DriverStart: 0x18, DriverSize: 0x20, DriverSection: 0x28,
        DriverExtension: 0x30, DriverName: 0x38, HardwareDatabase: 0x48, FastIoDispatch: 0x50, DriverInit: 0x58,
        DriverStartIo: 0x60, DriverUnload: 0x68, MajorFunction: 0x70,
    });
    assert_layout!(MDL, size: 0x30, {
        Next: 0, Size: 8, MdlFlags: 0xA, Process: 0x10, MappedSystemVa: 0x18, StartVa: 0x20, ByteCount: 0x28,
        ByteOffset: 0x2C,
    });
    assert_layout!(KEVENT, size: 0x18, { Header: 0 });
    assert_layout!(OBJECT_ATTRIBUTES, size: 0x30, {
        Length: 0, RootDirectory: 8, ObjectName: 0x10, Attributes: 0x18, SecurityDescriptor: 0x20,
        SecurityQualityOfService: 0x28,
    });
    assert_layout!(SECURITY_SUBJECT_CONTEXT, size: 0x20, {
        ClientToken: 0, ImpersonationLevel: 8, PrimaryToken: 0x10, ProcessAuditId: 0x18,
    });
    assert_layout!(IO_STATUS_BLOCK, size: 0x10, { Information: 8 });
    assert_layout!(IRP, size: 0xD0, {
        Type: 0, Size: 2, MdlAddress: 8, Flags: 0x10, AssociatedIrp: 0x18, ThreadListEntry: 0x20, IoStatus: 0x30,
        RequestorMode: 0x40, PendingReturned: 0x41, StackCount: 0x42, CurrentLocation: 0x43, Cancel: 0x44,
        CancelIrql: 0x45, ApcEnvironment: 0x46, AllocationFlags: 0x47, UserIosb: 0x48, UserEvent: 0x50,
        Overlay: 0x58, CancelRoutine: 0x68, UserBuffer: 0x70, Tail: 0x78,
    });
    assert_path!(
        IRP,
        "IoStatus.Status" == 0x30,
        offset_of!(_IRP, IoStatus) + offset_of!(_IO_STATUS_BLOCK, __bindgen_anon_1)
    );
    assert_path!(IRP, "AssociatedIrp.SystemBuffer" == 0x18, offset_of!(_IRP, AssociatedIrp));
    assert_path!(
        IRP,
        "Tail.Overlay.CurrentStackLocation" == 0xB8,
        offset_of!(_IRP, Tail)
            + offset_of!(_IRP__bindgen_ty_3__bindgen_ty_1, __bindgen_anon_2)
            + offset_of!(_IRP__bindgen_ty_3__bindgen_ty_1__bindgen_ty_2, __bindgen_anon_1)
    );
    assert_layout!(IO_STACK_LOCATION, size: 0x48, {
        MajorFunction: 0, MinorFunction: 1, Flags: 2, Control: 3, Parameters: 8, DeviceObject: 0x28,
        FileObject: 0x30, CompletionRoutine: 0x38, Context: 0x40,
    });
    assert_path!(
        IO_STACK_LOCATION,
        "Parameters.DeviceIoControl.OutputBufferLength" == 0x8,
        offset_of!(_IO_STACK_LOCATION, Parameters)
            + offset_of!(_IO_STACK_LOCATION__bindgen_ty_1__bindgen_ty_17, OutputBufferLength)
    );
    assert_path!(
        IO_STACK_LOCATION,
        "Parameters.DeviceIoControl.InputBufferLength" == 0x10,
        offset_of!(_IO_STACK_LOCATION, Parameters)
            + offset_of!(_IO_STACK_LOCATION__bindgen_ty_1__bindgen_ty_17, InputBufferLength)
    );
    assert_path!(
        IO_STACK_LOCATION,
        "Parameters.DeviceIoControl.IoControlCode" == 0x18,
        offset_of!(_IO_STACK_LOCATION, Parameters)
            + offset_of!(_IO_STACK_LOCATION__bindgen_ty_1__bindgen_ty_17, IoControlCode)
    );
    assert_path!(
        IO_STACK_LOCATION,
        "Parameters.DeviceIoControl.Type3InputBuffer" == 0x20,
        offset_of!(_IO_STACK_LOCATION, Parameters)
            + offset_of!(_IO_STACK_LOCATION__bindgen_ty_1__bindgen_ty_17, Type3InputBuffer)
    );
}

// ---- Access check and consumer-thread scheduling: types and constants (wdm.h, ntddk.h of
// WDK 10.0.16299; the same in MinGW-w64's ddk/wdm.h and ddk/ntddk.h). Kept as one block. ----

/// wdm.h: `typedef PVOID PSECURITY_DESCRIPTOR`.
pub type PSECURITY_DESCRIPTOR = PVOID;
/// wdm.h: `PACCESS_MASK`.
pub type PACCESS_MASK = *mut ACCESS_MASK;
/// ntdef.h: `PNTSTATUS`.
pub type PNTSTATUS = *mut NTSTATUS;
/// wdm.h: `struct _PRIVILEGE_SET` (only ever passed as an out-pointer the shell leaves null).
#[repr(C)]
pub struct _PRIVILEGE_SET {
    _private: [u8; 0],
}
pub type PPRIVILEGE_SET = *mut _PRIVILEGE_SET;
/// wdm.h: `GENERIC_MAPPING`.
#[repr(C)]
#[derive(Debug, Default, Copy, Clone)]
pub struct _GENERIC_MAPPING {
    pub GenericRead: ACCESS_MASK,
    pub GenericWrite: ACCESS_MASK,
    pub GenericExecute: ACCESS_MASK,
    pub GenericAll: ACCESS_MASK,
}
pub type GENERIC_MAPPING = _GENERIC_MAPPING;
pub type PGENERIC_MAPPING = *mut GENERIC_MAPPING;
/// wdm.h: `#define FILE_READ_DATA ( 0x0001 )`.
pub const FILE_READ_DATA: u32 = 0x0001;
/// wdm.h: `#define FILE_WRITE_DATA ( 0x0002 )`.
pub const FILE_WRITE_DATA: u32 = 0x0002;
/// wdm.h: `#define THREAD_SET_INFORMATION (0x0020)`.
pub const THREAD_SET_INFORMATION: u32 = 0x0020;
/// wdm.h: `#define IRP_MN_CANCEL_REMOVE_DEVICE 0x03`.
pub const IRP_MN_CANCEL_REMOVE_DEVICE: u32 = 0x03;
