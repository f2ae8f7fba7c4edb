//! The KMDF functions the shell calls. The real crate dispatches them through the WDF function
//! table (`call_unsafe_wdf_function_binding!`); these typed declarations stand in for it.

use crate::*;

extern "C" {
    pub fn WdfDriverCreate(
        DriverObject: PDRIVER_OBJECT,
        RegistryPath: PCUNICODE_STRING,
        DriverAttributes: PWDF_OBJECT_ATTRIBUTES,
        DriverConfig: PWDF_DRIVER_CONFIG,
        Driver: *mut WDFDRIVER,
    ) -> NTSTATUS;
    pub fn WdfDriverMiniportUnload(Driver: WDFDRIVER);
}
