//! The WDF part of the real crate the shell reaches: the function-count helper the
//! `call_unsafe_wdf_function_binding!` expansion calls. The real `wdf` module declares no KMDF
//! functions (they are `FORCEINLINE` wrappers in the headers, which bindgen does not emit): every
//! KMDF call goes through the function table, as in [`__dispatch`].

#[doc(hidden)]
pub mod __private {
    /// The number of entries in `WdfFunctions` (KMDF 1.25 and later: `WdfFunctionCount`, set by
    /// the KMDF stub library when it binds to the framework).
    #[must_use]
    pub fn get_wdf_function_count() -> usize {
        // SAFETY: `WdfFunctionCount` is written by the KMDF stub before DriverEntry runs and never
        // afterwards.
        (unsafe { crate::WdfFunctionCount }) as usize
    }
}

/// What `call_unsafe_wdf_function_binding!(Name, args...)` expands to in the real crate (the
/// `wdk-macros` proc macro): an inline function that takes entry `_WDFFUNCENUM::NameTableIndex`
/// of `WdfFunctions`, transmutes it to `PFN_NAME` and calls it with `WdfDriverGlobals` first;
/// `#[must_use]` when the function returns a value. One function per KMDF call the shell makes.
#[doc(hidden)]
pub mod __dispatch {
    use crate::*;

    /// The table entry `index` as the function-pointer type `F`.
    ///
    /// # Safety
    /// `F` is the `PFN_*` type of the function at `index` (wdffuncenum.h's mapping), and the KMDF
    /// stub has bound the table.
    #[inline(always)]
    unsafe fn entry<F>(index: _WDFFUNCENUM::Type) -> F {
        // SAFETY: per this function's contract; `WdfFunctions` points to `get_wdf_function_count()`
        // initialized entries.
        unsafe {
            let table = core::slice::from_raw_parts(WdfFunctions, super::__private::get_wdf_function_count());
            core::mem::transmute_copy::<WDFFUNC, F>(&table[index as usize])
        }
    }

    #[must_use]
    #[inline(always)]
    pub unsafe fn WdfDriverCreate(
        DriverObject: PDRIVER_OBJECT,
        RegistryPath: PCUNICODE_STRING,
        DriverAttributes: PWDF_OBJECT_ATTRIBUTES,
        DriverConfig: PWDF_DRIVER_CONFIG,
        Driver: *mut WDFDRIVER,
    ) -> NTSTATUS {
        // SAFETY: entry 116 is WdfDriverCreate; the caller upholds its contract.
        let function: PFN_WDFDRIVERCREATE = unsafe { entry(_WDFFUNCENUM::WdfDriverCreateTableIndex) };
        match function {
            // SAFETY: as above.
            Some(function) => unsafe {
                function(WdfDriverGlobals, DriverObject, RegistryPath, DriverAttributes, DriverConfig, Driver)
            },
            None => unreachable!("Option should never be None"),
        }
    }

    // No `WdfDriverMiniportUnload`: the real macro finds a KMDF function by its `PFN_*` type, and
    // `PFN_WDFDRIVERMINIPORTUNLOAD` (wdfminiport.h) is not in the bindings, so
    // `call_unsafe_wdf_function_binding!(WdfDriverMiniportUnload, ...)` fails to build there
    // ("Failed to find function info for WdfDriverMiniportUnload"), as it does here.
}
