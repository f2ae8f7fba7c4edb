/*
 * MmProbeAndLockPages inside a structured-exception guard.
 *
 * MmProbeAndLockPages raises an exception when the range is not accessible to the requestor
 * (a bad pointer from a client). Rust cannot catch a structured exception, so this one call is
 * made from C: the exception becomes a status the Rust shell checks.
 *
 * Built by driver/build.rs with the WDK's compiler, only for Windows kernel builds.
 */
#include <ntddk.h>

NTSTATUS ringtun_probe_and_lock_pages(PMDL mdl, KPROCESSOR_MODE access_mode, LOCK_OPERATION operation)
{
    __try {
        MmProbeAndLockPages(mdl, access_mode, operation);
    } __except (EXCEPTION_EXECUTE_HANDLER) {
        return GetExceptionCode();
    }
    return STATUS_SUCCESS;
}
