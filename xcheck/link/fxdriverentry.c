/*
 * KMDF's driver entry point for the Linux-only link of ringtun.sys (scripts/link-sys).
 *
 * The real build takes FxDriverEntry and the WDF globals from the WDK's static WdfDriverEntry.lib,
 * which does not exist outside the WDK. This file stands in for it, for this check only, with the
 * same contract as far as the driver can see:
 *
 *   - FxDriverEntry binds to KMDF 1.33 through WDFLDR.SYS's WdfVersionBind, which fills
 *     WdfFunctions_01033 (the function table every WDF call goes through) and WdfDriverGlobals,
 *     and points WdfDriverMiniportUnloadOverride at the table's WdfDriverMiniportUnload entry;
 *   - then calls the driver's DriverEntry; if that fails, unbinds (WdfVersionUnbind);
 *   - after a successful DriverEntry: if the framework asked for it (WDF_DRIVER_GLOBALS.
 *     DisplaceDriverUnload), the unload routine in the driver object is wrapped so that unloading
 *     unbinds after it; otherwise, for a driver created with WdfDriverInitNoDispatchOverride (a
 *     miniport, whose unload routine belongs to its port driver, here NDIS),
 *     WdfDriverMiniportUnloadOverride is pointed at a routine that unbinds, so that the driver's
 *     WdfDriverMiniportUnload call (wdfminiport.h calls through the override) does.
 *
 * Facts used: wdfldr.h (WDK 10.0.16299): WDF_BIND_INFO {Size, Component, WDF_VERSION {Major,
 * Minor, Build}, FuncCount, FuncTable, Module}; WdfVersionBind(DriverObject, RegistryPath,
 * BindInfo, ComponentGlobals*); WdfVersionUnbind(RegistryPath, BindInfo, ComponentGlobals).
 * wdffuncenum.h (KMDF 1.33): 444 functions (WdfFunctionTableNumEntries), WdfDriverMiniportUnload
 * is entry 201. wdf.h (KMDF 1.15 to 1.33): `extern WDFFUNC WdfDriverMiniportUnloadOverride;`,
 * which wdfminiport.h's inline WdfDriverMiniportUnload casts to PFN_WDFDRIVERMINIPORTUNLOAD and
 * calls with WdfDriverGlobals. wdfglobals.h: WDF_DRIVER_GLOBALS {Driver, DriverFlags, DriverTag,
 * DriverName[32], DisplaceDriverUnload}; the framework sets DisplaceDriverUnload FALSE for a
 * driver created with WdfDriverInitNoDispatchOverride and no EvtDriverUnload (the public WDF
 * sources, fxdriverapi.cpp), and records the init flags in DriverFlags. wdfdriver.h:
 * WdfDriverInitNoDispatchOverride = 2. DRIVER_OBJECT.DriverUnload (wdm.h) is the pointer after
 * DriverStartIo.
 *
 * Also here, because the kernel C runtime library (libcntpr) of the WDK is absent: fma/fmaf for the
 * references in compiler_builtins (_fltused comes from wdk-sys, as with the real crate). The link checks that fma and fmaf do not reach
 * the image (scripts/link-sys); they fail fast if they ever do.
 */

typedef long NTSTATUS;
typedef unsigned long ULONG;
typedef unsigned short WCHAR;
typedef void (*WDFFUNC)(void);

/* DRIVER_OBJECT up to DriverUnload (wdm.h); the driver and the I/O manager own the rest. */
struct DRIVER_OBJECT_PREFIX {
    short Type;
    short Size;
    void *DeviceObject;
    ULONG Flags;
    void *DriverStart;
    ULONG DriverSize;
    void *DriverSection;
    void *DriverExtension;
    struct { unsigned short Length, MaximumLength; WCHAR *Buffer; } DriverName;
    void *HardwareDatabase;
    void *FastIoDispatch;
    void *DriverInit;
    void *DriverStartIo;
    void (*DriverUnload)(struct DRIVER_OBJECT_PREFIX *);
};
_Static_assert(__builtin_offsetof(struct DRIVER_OBJECT_PREFIX, DriverUnload) == (sizeof(void *) == 8 ? 0x68 : 0x34),
               "DRIVER_OBJECT.DriverUnload (wdm.h)");

struct UNICODE_STRING;

/* WDF_DRIVER_GLOBALS (wdfglobals.h). */
struct WDF_DRIVER_GLOBALS {
    void *Driver;
    ULONG DriverFlags;
    ULONG DriverTag;
    char DriverName[32];
    unsigned char DisplaceDriverUnload;
};
_Static_assert(__builtin_offsetof(struct WDF_DRIVER_GLOBALS, DriverFlags) == (sizeof(void *) == 8 ? 8 : 4),
               "WDF_DRIVER_GLOBALS.DriverFlags (wdfglobals.h)");
_Static_assert(__builtin_offsetof(struct WDF_DRIVER_GLOBALS, DisplaceDriverUnload) == (sizeof(void *) == 8 ? 0x30 : 0x2C),
               "WDF_DRIVER_GLOBALS.DisplaceDriverUnload (wdfglobals.h)");
#define WdfDriverInitNoDispatchOverride 2 /* wdfdriver.h */
#define WdfDriverMiniportUnloadTableIndex 201 /* wdffuncenum.h, KMDF 1.33 */

struct WDF_VERSION {
    ULONG Major;
    ULONG Minor;
    ULONG Build;
};

struct WDF_BIND_INFO {
    ULONG Size;
    WCHAR *Component;
    struct WDF_VERSION Version;
    ULONG FuncCount;
    WDFFUNC **FuncTable;
    void *Module;
};
_Static_assert(sizeof(struct WDF_BIND_INFO) == (sizeof(void *) == 8 ? 0x30 : 0x20), "WDF_BIND_INFO (wdfldr.h)");

__declspec(dllimport) NTSTATUS WdfVersionBind(struct DRIVER_OBJECT_PREFIX *, struct UNICODE_STRING *,
                                              struct WDF_BIND_INFO *, void **);
__declspec(dllimport) NTSTATUS WdfVersionUnbind(struct UNICODE_STRING *, struct WDF_BIND_INFO *, void *);

NTSTATUS DriverEntry(struct DRIVER_OBJECT_PREFIX *, struct UNICODE_STRING *);

/* What WdfDriverEntry.lib defines for the driver. */
const ULONG WdfFunctionCount = 444;
WDFFUNC *WdfFunctions_01033;
struct WDF_DRIVER_GLOBALS *WdfDriverGlobals;
WDFFUNC WdfDriverMiniportUnloadOverride;

static struct WDF_BIND_INFO bind_info = {
    sizeof(struct WDF_BIND_INFO),
    (WCHAR *)L"KmdfLibrary",
    {1, 33, 0},
    444,
    &WdfFunctions_01033,
    0,
};

static struct UNICODE_STRING *registry_path;
static void (*system_unload)(struct DRIVER_OBJECT_PREFIX *);

static void unbind(void)
{
    (void)WdfVersionUnbind(registry_path, &bind_info, WdfDriverGlobals);
}

/* A driver that displaces its unload routine: the framework unbinds after the driver's own. */
static void unload(struct DRIVER_OBJECT_PREFIX *driver)
{
    if (system_unload)
        system_unload(driver);
    unbind();
}

/* A miniport's WdfDriverMiniportUnload (through the override) after a successful DriverEntry. */
static void miniport_unload(struct WDF_DRIVER_GLOBALS *globals, void *wdf_driver)
{
    (void)globals;
    (void)wdf_driver;
    unbind();
}

NTSTATUS FxDriverEntry(struct DRIVER_OBJECT_PREFIX *driver, struct UNICODE_STRING *path)
{
    NTSTATUS status;

    registry_path = path;
    status = WdfVersionBind(driver, path, &bind_info, (void **)&WdfDriverGlobals);
    if (status < 0)
        return status;
    WdfDriverMiniportUnloadOverride = WdfFunctions_01033[WdfDriverMiniportUnloadTableIndex];
    status = DriverEntry(driver, path);
    if (status < 0) {
        unbind();
        return status;
    }
    if (WdfDriverGlobals->DisplaceDriverUnload) {
        system_unload = driver->DriverUnload;
        driver->DriverUnload = unload;
    } else if (WdfDriverGlobals->DriverFlags & WdfDriverInitNoDispatchOverride) {
        WdfDriverMiniportUnloadOverride = (WDFFUNC)miniport_unload;
    }
    return status;
}

double fma(double x, double y, double z)
{
    (void)x; (void)y; (void)z;
    __builtin_trap();
}

float fmaf(float x, float y, float z)
{
    (void)x; (void)y; (void)z;
    __builtin_trap();
}
