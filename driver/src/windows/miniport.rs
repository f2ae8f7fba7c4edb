//! `DriverEntry`, unload, and the NDIS miniport callbacks.
//!
//! KMDF inside an NDIS miniport: `WdfDriverCreate` with `WdfDriverInitNoDispatchOverride` and no
//! device-add callback (NDIS owns the dispatch table and the device objects), then
//! `NdisMRegisterMiniportDriver`; the IRP handlers are chained in front of NDIS's afterwards
//! ([`super::dispatch`]). Unload deregisters the miniport and calls `WdfDriverMiniportUnload` the
//! way the KMDF headers do, through `WdfDriverMiniportUnloadOverride` (see `unload_wdf_driver`).

use alloc::vec::Vec;
use core::ffi::c_void;
use core::ptr;
use core::sync::atomic::{AtomicPtr, AtomicU8, Ordering};

use lock_api::Mutex;
use wdk_sys::{
    call_unsafe_wdf_function_binding, WdfDriverGlobals, WdfDriverMiniportUnloadOverride, _WDF_DRIVER_INIT_FLAGS,
    NTSTATUS, PCUNICODE_STRING, PDEVICE_OBJECT, PDRIVER_OBJECT, PWDF_DRIVER_GLOBALS, STATUS_SUCCESS, WDFDRIVER,
    WDF_DRIVER_CONFIG, WDF_NO_OBJECT_ATTRIBUTES,
};

use super::dispatch;
use super::keywords::configured_task_offloads;
use super::ndis::*;
use super::offload::{ndis_offload, offered as offered_task_offloads};
use super::oid::{handle_oid_request, refuse_oid_request};
use super::platform::{free_indication, read_token, KernelPlatform, KernelSpinLock};
use super::transmit::transmit_chain;
use super::POOL_TAG;
use crate::engine::offload::TaskOffloads;
use crate::engine::oid::{LINK_SPEED_BPS, MTU, SUPPORTED_OIDS, SUPPORTED_PACKET_FILTERS};
use crate::engine::Adapter;
use crate::fallible::{try_push, TryArc};

/// One adapter: the engine's adapter and the NDIS objects around it.
pub struct AdapterContext {
    /// The engine.
    pub adapter: Adapter<KernelPlatform>,
    /// The functional device object NDIS created for the adapter (IRPs arrive on it).
    pub device: PDEVICE_OBJECT,
}

// SAFETY: the device object pointer is only compared, never dereferenced, outside NDIS callbacks;
// the engine adapter is Send + Sync.
unsafe impl Send for AdapterContext {}
// SAFETY: as above.
unsafe impl Sync for AdapterContext {}

/// Every live adapter, looked up by device object for IRPs and walked on process exit.
static ADAPTERS: Mutex<KernelSpinLock, Vec<TryArc<AdapterContext>>> =
    Mutex::const_new(<KernelSpinLock as lock_api::RawMutex>::INIT, Vec::new());

/// The NDIS miniport driver handle (for deregistration on unload).
static MINIPORT_DRIVER: AtomicPtr<c_void> = AtomicPtr::new(ptr::null_mut());
/// The KMDF driver object handle (for `WdfDriverMiniportUnload`).
static WDF_DRIVER: AtomicPtr<c_void> = AtomicPtr::new(ptr::null_mut());
/// The minor NDIS version the driver registered (6.30, 6.80 or 6.83): what its adapters may
/// offer (USO from 6.83). Written once in `DriverEntry`, before any adapter exists.
static REGISTERED_MINOR: AtomicU8 = AtomicU8::new(30);

/// The adapter whose functional device object is `device`, if it is one of ours.
pub fn adapter_for_device(device: PDEVICE_OBJECT) -> Option<TryArc<AdapterContext>> {
    ADAPTERS.lock().iter().find(|a| a.device == device).cloned()
}

/// An adapter with a running session of `process`, if any (found under the lock, used outside
/// it; no allocation, so a process exit is never skipped for want of memory).
pub fn adapter_with_session_of(process: u64) -> Option<TryArc<AdapterContext>> {
    ADAPTERS.lock().iter().find(|a| a.adapter.has_session_of_process(process)).cloned()
}

/// The driver's entry point.
///
/// # Safety
/// Called once by the I/O manager (through KMDF's `FxDriverEntry`) with a valid driver object and
/// registry path.
#[export_name = "DriverEntry"]
pub unsafe extern "system" fn driver_entry(driver: PDRIVER_OBJECT, registry_path: PCUNICODE_STRING) -> NTSTATUS {
    let mut config = WDF_DRIVER_CONFIG {
        Size: core::mem::size_of::<WDF_DRIVER_CONFIG>() as u32,
        EvtDriverDeviceAdd: None,
        EvtDriverUnload: None,
        DriverInitFlags: _WDF_DRIVER_INIT_FLAGS::WdfDriverInitNoDispatchOverride as u32,
        DriverPoolTag: POOL_TAG,
    };
    let mut wdf_driver: WDFDRIVER = ptr::null_mut();
    // SAFETY: driver object and registry path come from the I/O manager; `config` is initialized
    // with its size; KMDF does not take over dispatch (NoDispatchOverride) and creates no device.
    let status = unsafe {
        call_unsafe_wdf_function_binding!(
            WdfDriverCreate,
            driver,
            registry_path,
            WDF_NO_OBJECT_ATTRIBUTES,
            &mut config,
            &mut wdf_driver,
        )
    };
    if status < 0 {
        wdk::println!("ringtun: WdfDriverCreate failed: {status:#x}");
        return status;
    }
    WDF_DRIVER.store(wdf_driver.cast(), Ordering::Release);

    // SAFETY: called once at PASSIVE_LEVEL from DriverEntry; removed again on unload or failure.
    let status = unsafe { dispatch::register_process_notify() };
    if status < 0 {
        wdk::println!("ringtun: process notification not registered: {status:#x}");
        // SAFETY: created above; a failing DriverEntry frees what it set up.
        unsafe { unload_wdf_driver() };
        return status;
    }

    // The newest NDIS version both sides know: 6.83 or 6.80 (revision 3, synchronous OID
    // requests) where the system's NDIS has it, 6.30 (revision 2) otherwise.
    // SAFETY: no preconditions.
    let system_version = unsafe { NdisGetVersion() };
    let (minor, revision, size) = if system_version >= 0x0006_0053 {
        (83, NDIS_MINIPORT_DRIVER_CHARACTERISTICS_REVISION_3, CHARACTERISTICS_SIZE_REVISION_3)
    } else if system_version >= 0x0006_0050 {
        (80, NDIS_MINIPORT_DRIVER_CHARACTERISTICS_REVISION_3, CHARACTERISTICS_SIZE_REVISION_3)
    } else {
        (30, NDIS_MINIPORT_DRIVER_CHARACTERISTICS_REVISION_2, CHARACTERISTICS_SIZE_REVISION_2)
    };
    let mut characteristics = NDIS_MINIPORT_DRIVER_CHARACTERISTICS {
        Header: NDIS_OBJECT_HEADER {
            Type: NDIS_OBJECT_TYPE_MINIPORT_DRIVER_CHARACTERISTICS,
            Revision: revision,
            Size: size as u16,
        },
        MajorNdisVersion: 6,
        MinorNdisVersion: minor,
        MajorDriverVersion: (ring_abi::DRIVER_VERSION >> 16) as u8,
        MinorDriverVersion: (ring_abi::DRIVER_VERSION >> 8) as u8,
        Flags: 0,
        SetOptionsHandler: None,
        InitializeHandlerEx: Some(miniport_initialize),
        HaltHandlerEx: Some(miniport_halt),
        UnloadHandler: Some(driver_unload),
        PauseHandler: Some(miniport_pause),
        RestartHandler: Some(miniport_restart),
        OidRequestHandler: Some(miniport_oid_request),
        SendNetBufferListsHandler: Some(miniport_send_net_buffer_lists),
        ReturnNetBufferListsHandler: Some(miniport_return_net_buffer_lists),
        CancelSendHandler: Some(miniport_cancel_send),
        CheckForHangHandlerEx: None,
        ResetHandlerEx: None,
        DevicePnPEventNotifyHandler: Some(miniport_device_pnp_event_notify),
        ShutdownHandlerEx: Some(miniport_shutdown),
        CancelOidRequestHandler: Some(miniport_cancel_oid_request),
        // The direct and synchronous paths are served by a handler that refuses every request
        // (see `refuse_oid_request`), as Wintun's are.
        DirectOidRequestHandler: Some(miniport_refuse_oid_request),
        CancelDirectOidRequestHandler: Some(miniport_cancel_oid_request),
        SynchronousOidRequestHandler: if minor >= 80 { Some(miniport_refuse_oid_request) } else { None },
    };
    let mut handle: NDIS_HANDLE = ptr::null_mut();
    // SAFETY: `characteristics` is initialized for revision 3; NDIS copies it.
    let mut status = unsafe {
        NdisMRegisterMiniportDriver(driver, registry_path.cast_mut(), ptr::null_mut(), &characteristics, &mut handle)
    };
    if status == NDIS_STATUS_BAD_VERSION && minor != 30 {
        characteristics.Header.Revision = NDIS_MINIPORT_DRIVER_CHARACTERISTICS_REVISION_2;
        characteristics.Header.Size = CHARACTERISTICS_SIZE_REVISION_2 as u16;
        characteristics.MinorNdisVersion = 30;
        characteristics.SynchronousOidRequestHandler = None;
        // SAFETY: as above, for revision 2 (the revision-3 field is not read).
        status = unsafe {
            NdisMRegisterMiniportDriver(
                driver,
                registry_path.cast_mut(),
                ptr::null_mut(),
                &characteristics,
                &mut handle,
            )
        };
    }
    if status != NDIS_STATUS_SUCCESS {
        wdk::println!("ringtun: NdisMRegisterMiniportDriver failed: {status:#x}");
        // SAFETY: registered and created above, in this same call.
        unsafe {
            dispatch::unregister_process_notify();
            unload_wdf_driver();
        }
        return status;
    }
    REGISTERED_MINOR.store(characteristics.MinorNdisVersion, Ordering::Release);
    MINIPORT_DRIVER.store(handle, Ordering::Release);
    // SAFETY: NDIS has filled in its dispatch table; we chain in front of it now, before any
    // adapter exists (adapters are created after DriverEntry returns).
    unsafe { dispatch::chain_dispatch_table(driver) };
    STATUS_SUCCESS
}

/// Driver unload (registered as the miniport's `UnloadHandler`; NDIS calls it).
unsafe extern "system" fn driver_unload(_driver: PDRIVER_OBJECT) {
    let handle = MINIPORT_DRIVER.swap(ptr::null_mut(), Ordering::AcqRel);
    if !handle.is_null() {
        // SAFETY: the handle came from NdisMRegisterMiniportDriver; every adapter is halted by now.
        unsafe { NdisMDeregisterMiniportDriver(handle) };
    }
    // Every adapter is halted: the registry's buffer goes too (a pool allocation left at unload is
    // a leak Driver Verifier reports).
    let registry = core::mem::take(&mut *ADAPTERS.lock());
    drop(registry);
    // SAFETY: registered and created in DriverEntry.
    unsafe {
        dispatch::unregister_process_notify();
        unload_wdf_driver();
    }
}

/// wdfminiport.h (KMDF 1.15 to 1.33): `PFN_WDFDRIVERMINIPORTUNLOAD`, the type of
/// `WdfDriverMiniportUnload` with the driver globals first. wdk-sys has no binding for it: its
/// bindings cover wdf.h, which does not include wdfminiport.h.
type PfnWdfDriverMiniportUnload = unsafe extern "system" fn(driver_globals: PWDF_DRIVER_GLOBALS, driver: WDFDRIVER);

/// `WdfDriverMiniportUnload`, called as wdfminiport.h's inline function calls it, once.
///
/// In every KMDF header from 1.15 to 1.33, `WdfDriverMiniportUnload(Driver)` is
/// `((PFN_WDFDRIVERMINIPORTUNLOAD) WdfDriverMiniportUnloadOverride)(WdfDriverGlobals, Driver)`
/// (wdfminiport.h), not a call through the function table: `WdfDriverMiniportUnloadOverride` is a
/// pointer of the KMDF stub library (wdf.h: `extern WDFFUNC WdfDriverMiniportUnloadOverride;`).
/// The stub sets it to the table's `WdfDriverMiniportUnload` entry when it binds to the
/// framework, and, once DriverEntry has succeeded for a driver created with
/// `WdfDriverInitNoDispatchOverride` and no `EvtDriverUnload` (the stub then leaves
/// `DriverUnload` to NDIS: wdfglobals.h's `DisplaceDriverUnload` is FALSE), to its own routine
/// that unbinds the driver from the framework. Calling table entry 201 directly would skip that
/// unbind.
///
/// # Safety
/// PASSIVE_LEVEL, from DriverEntry's failure path or the unload handler.
unsafe fn unload_wdf_driver() {
    let wdf_driver = WDF_DRIVER.swap(ptr::null_mut(), Ordering::AcqRel);
    if wdf_driver.is_null() {
        return;
    }
    // SAFETY: written by the KMDF stub when it bound the driver, before DriverEntry ran, and then
    // only by the stub after DriverEntry returned: no write races this read.
    let Some(unload) = (unsafe { WdfDriverMiniportUnloadOverride }) else {
        // Only an unbound driver has no override, and an unbound driver never ran DriverEntry.
        return;
    };
    // SAFETY: the header casts the pointer to this type and calls it the same way; the WDFDRIVER
    // is the one created in DriverEntry and `WdfDriverGlobals` the stub's globals.
    unsafe {
        let unload = core::mem::transmute::<unsafe extern "C" fn(), PfnWdfDriverMiniportUnload>(unload);
        unload(WdfDriverGlobals, wdf_driver.cast());
    }
}

unsafe extern "system" fn miniport_initialize(
    miniport: NDIS_HANDLE,
    _driver_context: NDIS_HANDLE,
    _parameters: *mut c_void,
) -> NDIS_STATUS {
    let pool_parameters = NET_BUFFER_LIST_POOL_PARAMETERS {
        Header: NDIS_OBJECT_HEADER::of::<NET_BUFFER_LIST_POOL_PARAMETERS>(
            NDIS_OBJECT_TYPE_DEFAULT,
            NET_BUFFER_LIST_POOL_PARAMETERS_REVISION_1,
        ),
        ProtocolId: NDIS_PROTOCOL_ID_DEFAULT,
        fAllocateNetBuffer: 1,
        ContextSize: 0,
        PoolTag: POOL_TAG,
        DataSize: 0,
    };
    // SAFETY: parameters initialized with their size.
    let pool = unsafe { NdisAllocateNetBufferListPool(miniport, &pool_parameters) };
    if pool.is_null() {
        return NDIS_STATUS_RESOURCES;
    }
    let mut device: PDEVICE_OBJECT = ptr::null_mut();
    // SAFETY: `miniport` is the handle NDIS passed us; only the FDO out-parameter is requested.
    unsafe {
        NdisMGetDeviceProperty(
            miniport,
            ptr::null_mut(),
            &mut device,
            ptr::null_mut(),
            ptr::null_mut(),
            ptr::null_mut(),
        )
    };
    // IRPs are routed to the adapter by this device object; without it no client could reach it.
    if device.is_null() {
        // SAFETY: allocated above, unused.
        unsafe { NdisFreeNetBufferListPool(pool) };
        return NDIS_STATUS_FAILURE;
    }
    let minor = REGISTERED_MINOR.load(Ordering::Acquire);
    let Ok(adapter) = Adapter::new(KernelPlatform::new(miniport, pool, minor)) else {
        // SAFETY: allocated above, unused.
        unsafe { NdisFreeNetBufferListPool(pool) };
        return NDIS_STATUS_RESOURCES;
    };
    // NDIS leaves an adapter Paused after MiniportInitializeEx until it calls MiniportRestart.
    adapter.pause();
    let Ok(context) = TryArc::try_new(AdapterContext { adapter, device }) else {
        // SAFETY: allocated above; the adapter that referenced it is gone.
        unsafe { NdisFreeNetBufferListPool(pool) };
        return NDIS_STATUS_RESOURCES;
    };
    let context_ptr = TryArc::as_ptr(&context).cast_mut().cast::<c_void>();

    let mut registration = NDIS_MINIPORT_ADAPTER_REGISTRATION_ATTRIBUTES {
        // The header's size is NDIS_SIZEOF_..._REVISION_2 (through InterfaceType), not the padded
        // structure size.
        Header: NDIS_OBJECT_HEADER {
            Type: NDIS_OBJECT_TYPE_MINIPORT_ADAPTER_REGISTRATION_ATTRIBUTES,
            Revision: NDIS_MINIPORT_ADAPTER_REGISTRATION_ATTRIBUTES_REVISION_2,
            Size: REGISTRATION_ATTRIBUTES_SIZE_REVISION_2 as u16,
        },
        MiniportAdapterContext: context_ptr,
        AttributeFlags: NDIS_MINIPORT_ATTRIBUTES_NO_HALT_ON_SUSPEND | NDIS_MINIPORT_ATTRIBUTES_SURPRISE_REMOVE_OK,
        CheckForHangTimeInSeconds: 0,
        InterfaceType: NdisInterfaceInternal,
    };
    let mut oids = SUPPORTED_OIDS;
    // No wake-up of any kind (a virtual adapter has no hardware to wake the system), declared
    // explicitly so that NDIS keeps the adapter (NO_HALT_ON_SUSPEND) without expecting any.
    let mut power = NDIS_PM_CAPABILITIES {
        Header: NDIS_OBJECT_HEADER::of::<NDIS_PM_CAPABILITIES>(
            NDIS_OBJECT_TYPE_DEFAULT,
            NDIS_PM_CAPABILITIES_REVISION_2,
        ),
        MinMagicPacketWakeUp: NdisDeviceStateUnspecified,
        MinPatternWakeUp: NdisDeviceStateUnspecified,
        MinLinkChangeWakeUp: NdisDeviceStateUnspecified,
        ..NDIS_PM_CAPABILITIES::default()
    };
    let mut general = NDIS_MINIPORT_ADAPTER_GENERAL_ATTRIBUTES {
        Header: NDIS_OBJECT_HEADER::of::<NDIS_MINIPORT_ADAPTER_GENERAL_ATTRIBUTES>(
            NDIS_OBJECT_TYPE_MINIPORT_ADAPTER_GENERAL_ATTRIBUTES,
            NDIS_MINIPORT_ADAPTER_GENERAL_ATTRIBUTES_REVISION_2,
        ),
        Flags: 0,
        MediaType: NdisMediumIP,
        PhysicalMediumType: NdisPhysicalMediumUnspecified,
        MtuSize: MTU,
        MaxXmitLinkSpeed: LINK_SPEED_BPS,
        XmitLinkSpeed: LINK_SPEED_BPS,
        MaxRcvLinkSpeed: LINK_SPEED_BPS,
        RcvLinkSpeed: LINK_SPEED_BPS,
        // Disconnected until a session registers (the engine raises the link then).
        MediaConnectState: MediaConnectStateDisconnected,
        MediaDuplexState: MediaDuplexStateFull,
        LookaheadSize: MTU,
        PowerManagementCapabilities: ptr::null_mut(),
        // As Wintun: sends complete before MiniportSendNetBufferLists returns, indicated data may
        // be read in place, and NDIS loops packets back itself.
        MacOptions: NDIS_MAC_OPTION_TRANSFERS_NOT_PEND
            | NDIS_MAC_OPTION_COPY_LOOKAHEAD_DATA
            | NDIS_MAC_OPTION_NO_LOOPBACK,
        SupportedPacketFilters: SUPPORTED_PACKET_FILTERS,
        MaxMulticastListSize: 0,
        MacAddressLength: 0,
        PermanentMacAddress: [0; NDIS_MAX_PHYS_ADDRESS_LENGTH],
        CurrentMacAddress: [0; NDIS_MAX_PHYS_ADDRESS_LENGTH],
        RecvScaleCapabilities: ptr::null_mut(),
        AccessType: NET_IF_ACCESS_BROADCAST,
        DirectionType: NET_IF_DIRECTION_SENDRECEIVE,
        ConnectionType: NET_IF_CONNECTION_DEDICATED,
        IfType: IF_TYPE_PROP_VIRTUAL,
        IfConnectorPresent: 0,
        SupportedStatistics: super::oid::ADVERTISED_STATISTICS,
        SupportedPauseFunctions: NdisPauseFunctionsUnsupported,
        DataBackFillSize: 0,
        ContextBackFillSize: 0,
        SupportedOidList: oids.as_mut_ptr(),
        SupportedOidListLength: core::mem::size_of_val(&oids) as u32,
        AutoNegotiationFlags: AUTO_NEGOTIATION_FLAGS,
        PowerManagementCapabilitiesEx: ptr::addr_of_mut!(power).cast(),
    };
    // The task offloads: everything the engine implements that this NDIS version can be told of
    // (the hardware capabilities), on where the adapter's standardized keywords leave it on (the
    // current configuration; the stack switches parts off and on by OID_TCP_OFFLOAD_PARAMETERS).
    let offered = offered_task_offloads(minor);
    // SAFETY: MiniportInitializeEx runs at PASSIVE_LEVEL with NDIS's miniport handle.
    let configured = unsafe { configured_task_offloads(miniport, offered) };
    let mut current = ndis_offload(configured, minor);
    let mut hardware = ndis_offload(offered, minor);
    let mut offloads = NDIS_MINIPORT_ADAPTER_OFFLOAD_ATTRIBUTES {
        Header: NDIS_OBJECT_HEADER::of::<NDIS_MINIPORT_ADAPTER_OFFLOAD_ATTRIBUTES>(
            NDIS_OBJECT_TYPE_MINIPORT_ADAPTER_OFFLOAD_ATTRIBUTES,
            NDIS_MINIPORT_ADAPTER_OFFLOAD_ATTRIBUTES_REVISION_1,
        ),
        DefaultOffloadConfiguration: &mut current,
        HardwareOffloadCapabilities: &mut hardware,
        DefaultTcpConnectionOffloadConfiguration: ptr::null_mut(),
        TcpConnectionOffloadHardwareCapabilities: ptr::null_mut(),
    };
    // SAFETY: the attribute structures are initialized with their headers; NDIS copies them
    // (including the OID list and both NDIS_OFFLOADs) during the call.
    let status = unsafe {
        let status = NdisMSetMiniportAttributes(miniport, ptr::addr_of_mut!(registration).cast());
        if status == NDIS_STATUS_SUCCESS {
            NdisMSetMiniportAttributes(miniport, ptr::addr_of_mut!(general).cast())
        } else {
            status
        }
    };
    let status = if status == NDIS_STATUS_SUCCESS {
        // SAFETY: as above.
        let offload_status = unsafe { NdisMSetMiniportAttributes(miniport, ptr::addr_of_mut!(offloads).cast()) };
        // An adapter whose offloads NDIS refused still carries packets: it offers none, so the
        // stack asks for none, and any request that still came would be dropped as off.
        if offload_status == NDIS_STATUS_SUCCESS {
            context.adapter.offer_task_offloads(offered, configured);
            // No receive offload before the stack's OID_OFFLOAD_ENCAPSULATION.
            context.adapter.await_offload_encapsulation();
        } else {
            wdk::println!("ringtun: offload attributes refused: {offload_status:#x}");
            context.adapter.offer_task_offloads(TaskOffloads::NONE, TaskOffloads::NONE);
        }
        NDIS_STATUS_SUCCESS
    } else {
        status
    };
    if status != NDIS_STATUS_SUCCESS {
        drop(context);
        // SAFETY: no indication was ever made from the pool.
        unsafe { NdisFreeNetBufferListPool(pool) };
        return status;
    }
    // The registry holds the context's one strong reference besides NDIS's raw pointer; halt
    // removes it.
    let mut adapters = ADAPTERS.lock();
    if let Err(context) = try_push(&mut adapters, context) {
        // Released after the lock: dropping the adapter is not work for a spin lock's IRQL.
        drop(adapters);
        drop(context);
        // SAFETY: no indication was ever made from the pool.
        unsafe { NdisFreeNetBufferListPool(pool) };
        return NDIS_STATUS_RESOURCES;
    }
    NDIS_STATUS_SUCCESS
}

/// The adapter of an NDIS context pointer.
///
/// # Safety
/// `context` is the `MiniportAdapterContext` registered in `miniport_initialize`, and the adapter
/// has not been halted.
unsafe fn context<'a>(context: NDIS_HANDLE) -> &'a AdapterContext {
    // SAFETY: the pointer is `TryArc::as_ptr` of a context kept alive by `ADAPTERS` until halt.
    unsafe { &*context.cast::<AdapterContext>() }
}

unsafe extern "system" fn miniport_halt(adapter_context: NDIS_HANDLE, _action: u32) {
    // SAFETY: NDIS passes our context; halt is the last callback for it.
    let adapter = unsafe { context(adapter_context) };
    adapter.adapter.halt();
    let pool = adapter.adapter.platform().nbl_pool();
    let removed = {
        let mut adapters = ADAPTERS.lock();
        let position = adapters.iter().position(|a| ptr::eq(TryArc::as_ptr(a), adapter));
        position.map(|i| adapters.swap_remove(i))
    };
    // Dropped outside the lock; an IRP handler may still hold a clone briefly.
    drop(removed);
    // SAFETY: the engine waited for every indicated NBL to come back during halt.
    unsafe { NdisFreeNetBufferListPool(pool) };
}

unsafe extern "system" fn miniport_pause(adapter_context: NDIS_HANDLE, _parameters: *mut c_void) -> NDIS_STATUS {
    // SAFETY: NDIS passes our context.
    unsafe { context(adapter_context) }.adapter.pause();
    NDIS_STATUS_SUCCESS
}

unsafe extern "system" fn miniport_restart(adapter_context: NDIS_HANDLE, _parameters: *mut c_void) -> NDIS_STATUS {
    // SAFETY: NDIS passes our context.
    unsafe { context(adapter_context) }.adapter.restart();
    NDIS_STATUS_SUCCESS
}

unsafe extern "system" fn miniport_oid_request(
    adapter_context: NDIS_HANDLE,
    request: *mut NDIS_OID_REQUEST,
) -> NDIS_STATUS {
    // SAFETY: NDIS passes our context and a valid request it owns until we return (every request
    // completes synchronously).
    unsafe { handle_oid_request(&context(adapter_context).adapter, request) }
}

unsafe extern "system" fn miniport_refuse_oid_request(
    _adapter_context: NDIS_HANDLE,
    request: *mut NDIS_OID_REQUEST,
) -> NDIS_STATUS {
    // SAFETY: NDIS passes a valid request it owns until we return.
    unsafe { refuse_oid_request(request) }
}

unsafe extern "system" fn miniport_cancel_oid_request(_adapter_context: NDIS_HANDLE, _request_id: *mut c_void) {
    // Requests complete synchronously: there is never one to cancel.
}

unsafe extern "system" fn miniport_send_net_buffer_lists(
    adapter_context: NDIS_HANDLE,
    chain: *mut NET_BUFFER_LIST,
    _port: NDIS_PORT_NUMBER,
    flags: u32,
) {
    // SAFETY: NDIS passes our context and an NBL chain we own until completed.
    unsafe {
        let adapter = context(adapter_context);
        transmit_chain(&adapter.adapter, chain, flags);
    }
}

unsafe extern "system" fn miniport_cancel_send(_adapter_context: NDIS_HANDLE, _cancel_id: *mut c_void) {
    // Sends complete before MiniportSendNetBufferLists returns: nothing is ever queued to cancel.
}

unsafe extern "system" fn miniport_return_net_buffer_lists(
    adapter_context: NDIS_HANDLE,
    chain: *mut NET_BUFFER_LIST,
    _flags: u32,
) {
    // SAFETY: NDIS passes our context.
    let adapter = unsafe { context(adapter_context) };
    // Each NBL is read for its token and freed as the engine consumes the iterator.
    let tokens = ReturnedChain { next: chain };
    adapter.adapter.return_indications(tokens);
}

/// Walks a returned NBL chain, yielding each token and freeing each NBL with its partial MDL.
struct ReturnedChain {
    next: *mut NET_BUFFER_LIST,
}

impl Iterator for ReturnedChain {
    type Item = u64;

    fn next(&mut self) -> Option<u64> {
        let nbl = self.next;
        if nbl.is_null() {
            return None;
        }
        // SAFETY: NDIS returned this chain to us; every NBL in it was allocated and indicated by
        // `KernelPlatform::prepare_indication`/`indicate`, and is freed exactly once, here.
        unsafe {
            self.next = (*nbl).Next;
            let token = read_token(nbl);
            free_indication(nbl);
            Some(token)
        }
    }
}

impl Drop for ReturnedChain {
    fn drop(&mut self) {
        // Whatever the engine did not consume (it consumes everything; this is the guarantee that
        // no NBL leaks if it ever stops early) is still freed.
        for _ in self.by_ref() {}
    }
}

unsafe extern "system" fn miniport_device_pnp_event_notify(
    adapter_context: NDIS_HANDLE,
    event: *mut NET_DEVICE_PNP_EVENT,
) {
    // SAFETY: NDIS passes our context and a valid event for the duration of the call.
    let (adapter, kind) = unsafe { (context(adapter_context), (*event).DevicePnPEvent) };
    if kind == NdisDevicePnPEventSurpriseRemoved {
        adapter.adapter.end_session_and_refuse_registrations();
    }
}

unsafe extern "system" fn miniport_shutdown(_adapter_context: NDIS_HANDLE, _action: u32) {
    // Nothing to put into a safe state: there is no hardware. (Shutdown may run at high IRQL
    // during a bug check, so it must not end the session here.)
}
