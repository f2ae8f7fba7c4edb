/*
 * The C runtime pieces wintun.dll needs, for the Linux-only link of the DLL (scripts/link-dll).
 *
 * A stand-in, written for this check: the real build links with MSVC's static runtime
 * (+crt-static: libcmt, libvcruntime, libucrt), which provides all of this. Rust's std built with
 * -Zbuild-std=std,panic_abort and compiler-builtins-mem (memcpy and friends) needs only:
 *
 *   - the DLL entry point, _DllMainCRTStartup: runs the C initializers (.CRT$XI*, .CRT$XC*) when
 *     the DLL is loaded, as the runtime's does; the crate defines no DllMain;
 *   - thread-local storage: _tls_index and the TLS directory _tls_used (IMAGE_TLS_DIRECTORY,
 *     winnt.h), whose callback array (.CRT$XLA .. .CRT$XLZ) holds std's callback in .CRT$XLB that
 *     runs thread-local destructors; on x86 also __tls_array, the offset of the TEB's
 *     ThreadLocalStoragePointer (0x2C) that compiled code reads through fs;
 *   - _fltused (x86 and x64: the compiler references it from code that uses floating point);
 *   - __chkstk, the stack probe called by functions with frames over a page: x64 probes from RSP
 *     down by RAX bytes, preserving every register but R10, R11 and flags; ARM64 probes by X15*16
 *     bytes, clobbering only X16, X17; x86 probes by EAX bytes and also moves ESP down by EAX;
 *   - x86: __aulldiv and __aullrem (64-bit unsigned division, both operands on the stack, callee
 *     pops them), over compiler-builtins' __udivdi3 and __umoddi3;
 *   - the load configuration (_load_config_used, IMAGE_LOAD_CONFIG_DIRECTORY32/64, winnt.h) that
 *     carries the control-flow guard tables lld-link builds with /GUARD:CF, the x86 safe exception
 *     handler table, and DependentLoadFlags (from the build: LOAD_LIBRARY_SEARCH_SYSTEM32, so
 *     that the loader resolves this DLL's imports from System32 only; the DLL is dropped beside an
 *     application, whose directory must not supply iphlpapi.dll or cfgmgr32.dll); with the guard
 *     check and dispatch pointers the loader replaces when control-flow guard is on.
 *
 * Layout facts from winnt.h (Windows SDK; MinGW-w64's winnt.h declares the same structures).
 */

typedef unsigned short WORD;
typedef unsigned long DWORD;
typedef unsigned long long ULONGLONG;
typedef __SIZE_TYPE__ SIZE_T;
typedef int BOOL;
typedef void *HINSTANCE;

#if defined(__i386__)
#define WINAPI __attribute__((stdcall))
#else
#define WINAPI
#endif

#define DLL_PROCESS_ATTACH 1

/* DependentLoadFlags: scripts/link-dll passes the value of wintun-api/hardening.toml's
   /DEPENDENTLOADFLAG (the native build's linker flag, which lld-link 14 lacks). */
#ifndef DEPENDENT_LOAD_FLAGS
#error "DEPENDENT_LOAD_FLAGS: compile through scripts/link-dll, which takes it from wintun-api/hardening.toml"
#endif

/* ---- C initializers --------------------------------------------------------------------- */

typedef void (*initializer)(void);
typedef int (*checked_initializer)(void);

__attribute__((section(".CRT$XIA"), used)) static const checked_initializer xi_a = 0;
__attribute__((section(".CRT$XIZ"), used)) static const checked_initializer xi_z = 0;
__attribute__((section(".CRT$XCA"), used)) static const initializer xc_a = 0;
__attribute__((section(".CRT$XCZ"), used)) static const initializer xc_z = 0;

static int run_initializers(void) {
    for (const checked_initializer *f = &xi_a + 1; f < &xi_z; ++f) {
        if (*f && (*f)() != 0)
            return 0;
    }
    for (const initializer *f = &xc_a + 1; f < &xc_z; ++f) {
        if (*f)
            (*f)();
    }
    return 1;
}

BOOL WINAPI _DllMainCRTStartup(HINSTANCE instance, DWORD reason, void *reserved) {
    (void)instance;
    (void)reserved;
    if (reason == DLL_PROCESS_ATTACH)
        return run_initializers();
    return 1;
}

/* ---- thread-local storage --------------------------------------------------------------- */

typedef void(WINAPI *tls_callback)(void *, DWORD, void *);

typedef struct {
    SIZE_T StartAddressOfRawData;
    SIZE_T EndAddressOfRawData;
    SIZE_T AddressOfIndex;
    SIZE_T AddressOfCallBacks;
    DWORD SizeOfZeroFill;
    DWORD Characteristics;
} IMAGE_TLS_DIRECTORY;
_Static_assert(sizeof(IMAGE_TLS_DIRECTORY) == (sizeof(void *) == 8 ? 40 : 24), "IMAGE_TLS_DIRECTORY (winnt.h)");

DWORD _tls_index = 0;
/* The linker sorts .tls$ sections by name: the compiled thread-locals (.tls$) lie between these. */
__attribute__((section(".tls"), used)) char _tls_start = 0;
__attribute__((section(".tls$ZZZ"), used)) char _tls_end = 0;
__attribute__((section(".CRT$XLA"), used)) const tls_callback __xl_a = 0;
__attribute__((section(".CRT$XLZ"), used)) const tls_callback __xl_z = 0;

__attribute__((section(".rdata$T"), used)) const IMAGE_TLS_DIRECTORY _tls_used = {
    (SIZE_T)&_tls_start, (SIZE_T)&_tls_end, (SIZE_T)&_tls_index, (SIZE_T)(&__xl_a + 1), 0, 0,
};

#if defined(__i386__)
__asm__(".globl __tls_array\n"
        ".set __tls_array, 0x2C\n");
#endif

/* ---- floating point marker --------------------------------------------------------------- */

#if defined(__i386__) || defined(__x86_64__)
int _fltused = 0x9875;
#endif

/* ---- stack probes -------------------------------------------------------------------------- */

#if defined(__x86_64__)
__asm__(".text\n"
        ".globl __chkstk\n"
        "__chkstk:\n"
        "  push %rcx\n"
        "  push %rax\n"
        "  lea 24(%rsp), %rcx\n"       /* the caller's RSP */
        "  cmp $0x1000, %rax\n"
        "  jb 2f\n"
        "1:\n"
        "  sub $0x1000, %rcx\n"
        "  orq $0, (%rcx)\n"
        "  sub $0x1000, %rax\n"
        "  cmp $0x1000, %rax\n"
        "  jae 1b\n"
        "2:\n"
        "  sub %rax, %rcx\n"
        "  orq $0, (%rcx)\n"
        "  pop %rax\n"
        "  pop %rcx\n"
        "  ret\n");
#elif defined(__aarch64__)
__asm__(".text\n"
        ".globl __chkstk\n"
        "__chkstk:\n"
        "  lsl x16, x15, #4\n"         /* bytes */
        "  mov x17, sp\n"
        "1:\n"
        "  sub x17, x17, #4096\n"
        "  subs x16, x16, #4096\n"
        "  ldr xzr, [x17]\n"
        "  b.gt 1b\n"
        "  ret\n");
#elif defined(__i386__)
__asm__(".text\n"
        ".globl __chkstk\n"
        "__chkstk:\n"
        "  push %ecx\n"
        "  lea 8(%esp), %ecx\n"        /* the caller's ESP */
        "  cmp $0x1000, %eax\n"
        "  jb 2f\n"
        "1:\n"
        "  sub $0x1000, %ecx\n"
        "  orl $0, (%ecx)\n"
        "  sub $0x1000, %eax\n"
        "  cmp $0x1000, %eax\n"
        "  jae 1b\n"
        "2:\n"
        "  sub %eax, %ecx\n"
        "  orl $0, (%ecx)\n"
        "  mov %esp, %eax\n"           /* [eax]: saved ECX, [eax+4]: return address */
        "  mov %ecx, %esp\n"           /* the frame is allocated */
        "  mov (%eax), %ecx\n"
        "  push 4(%eax)\n"
        "  ret\n");
#endif

/* ---- x86 64-bit division helpers ---------------------------------------------------------- */

#if defined(__i386__)
unsigned long long __udivdi3(unsigned long long, unsigned long long);
unsigned long long __umoddi3(unsigned long long, unsigned long long);

__attribute__((stdcall)) unsigned long long aulldiv(unsigned long long a, unsigned long long b) __asm__("__aulldiv");
__attribute__((stdcall)) unsigned long long aulldiv(unsigned long long a, unsigned long long b) {
    return __udivdi3(a, b);
}

__attribute__((stdcall)) unsigned long long aullrem(unsigned long long a, unsigned long long b) __asm__("__aullrem");
__attribute__((stdcall)) unsigned long long aullrem(unsigned long long a, unsigned long long b) {
    return __umoddi3(a, b);
}
#endif

/* ---- control-flow guard pointers ---------------------------------------------------------- */

/*
 * Compiled code calls indirect targets through these (x64: dispatch, jumping to RAX; x86 and
 * ARM64: check, with the target in ECX / X15, then the call). The loader points them at its own
 * checks when control-flow guard is on; until then they check nothing.
 */
void guard_check_nothing(void);
void guard_dispatch_unchecked(void);
#if defined(__x86_64__)
__asm__(".text\n"
        ".globl guard_check_nothing\n"
        "guard_check_nothing:\n"
        "  ret\n"
        ".globl guard_dispatch_unchecked\n"
        "guard_dispatch_unchecked:\n"
        "  jmp *%rax\n");
#elif defined(__aarch64__)
__asm__(".text\n"
        ".globl guard_check_nothing\n"
        "guard_check_nothing:\n"
        "  ret\n"
        ".globl guard_dispatch_unchecked\n"
        "guard_dispatch_unchecked:\n"
        "  br x9\n");
#elif defined(__i386__)
__asm__(".text\n"
        ".globl _guard_check_nothing\n"
        "_guard_check_nothing:\n"
        "  ret\n"
        ".globl _guard_dispatch_unchecked\n"
        "_guard_dispatch_unchecked:\n"
        "  jmp *%eax\n");
#endif

__attribute__((section(".00cfg"), used)) void (*const __guard_check_icall_fptr)(void) = guard_check_nothing;
__attribute__((section(".00cfg"), used)) void (*const __guard_dispatch_icall_fptr)(void) = guard_dispatch_unchecked;

/* ---- load configuration ------------------------------------------------------------------- */

/* Defined by lld-link (absolute symbols: their addresses are the values). */
extern char __guard_fids_table[], __guard_fids_count[], __guard_flags[];
extern char __guard_iat_table[], __guard_iat_count[], __guard_longjmp_table[], __guard_longjmp_count[];
#if defined(__i386__)
extern char __safe_se_handler_table[], __safe_se_handler_count[];
#endif

/* IMAGE_LOAD_CONFIG_DIRECTORY32/64 of winnt.h (Windows SDK 10.0.16299), through
 * EnclaveConfigurationPointer. On 64-bit targets GuardFlags is read together with the first two
 * WORDs of CodeIntegrity as one pointer-sized field: the flags are an absolute linker symbol, and
 * an address narrowed to 32 bits is no constant initializer in C; the WORDs are zero either way. */
typedef struct {
    DWORD Size;
    DWORD TimeDateStamp;
    WORD MajorVersion;
    WORD MinorVersion;
    DWORD GlobalFlagsClear;
    DWORD GlobalFlagsSet;
    DWORD CriticalSectionDefaultTimeout;
    SIZE_T DeCommitFreeBlockThreshold;
    SIZE_T DeCommitTotalFreeThreshold;
    SIZE_T LockPrefixTable;
    SIZE_T MaximumAllocationSize;
    SIZE_T VirtualMemoryThreshold;
#if defined(__i386__)
    DWORD ProcessHeapFlags;
    DWORD ProcessAffinityMask;
#else
    SIZE_T ProcessAffinityMask;
    DWORD ProcessHeapFlags;
#endif
    WORD CSDVersion;
    WORD DependentLoadFlags;
    SIZE_T EditList;
    SIZE_T SecurityCookie;
    SIZE_T SEHandlerTable;
    SIZE_T SEHandlerCount;
    SIZE_T GuardCFCheckFunctionPointer;
    SIZE_T GuardCFDispatchFunctionPointer;
    SIZE_T GuardCFFunctionTable;
    SIZE_T GuardCFFunctionCount;
#if defined(__i386__)
    DWORD GuardFlags;
    WORD CodeIntegrityFlags;
    WORD CodeIntegrityCatalog;
#else
    SIZE_T GuardFlagsAndCodeIntegrityHead;
#endif
    DWORD CodeIntegrityCatalogOffset;
    DWORD CodeIntegrityReserved;
    SIZE_T GuardAddressTakenIatEntryTable;
    SIZE_T GuardAddressTakenIatEntryCount;
    SIZE_T GuardLongJumpTargetTable;
    SIZE_T GuardLongJumpTargetCount;
    SIZE_T DynamicValueRelocTable;
    SIZE_T CHPEMetadataPointer;
    SIZE_T GuardRFFailureRoutine;
    SIZE_T GuardRFFailureRoutineFunctionPointer;
    DWORD DynamicValueRelocTableOffset;
    WORD DynamicValueRelocTableSection;
    WORD Reserved2;
    SIZE_T GuardRFVerifyStackPointerFunctionPointer;
    DWORD HotPatchTableOffset;
    DWORD Reserved3;
    SIZE_T EnclaveConfigurationPointer;
} LOAD_CONFIG;

#define OFFSET(field) __builtin_offsetof(LOAD_CONFIG, field)
#if defined(__i386__)
_Static_assert(OFFSET(DependentLoadFlags) == 0x36 && OFFSET(SEHandlerTable) == 0x40 &&
                   OFFSET(GuardCFCheckFunctionPointer) == 0x48 && OFFSET(GuardFlags) == 0x58 &&
                   OFFSET(GuardAddressTakenIatEntryTable) == 0x68 && sizeof(LOAD_CONFIG) == 0xA0,
               "IMAGE_LOAD_CONFIG_DIRECTORY32 (winnt.h)");
#else
_Static_assert(OFFSET(DependentLoadFlags) == 0x4E && OFFSET(SEHandlerTable) == 0x60 &&
                   OFFSET(GuardCFCheckFunctionPointer) == 0x70 && OFFSET(GuardFlagsAndCodeIntegrityHead) == 0x90 &&
                   OFFSET(GuardAddressTakenIatEntryTable) == 0xA0 && sizeof(LOAD_CONFIG) == 0x100,
               "IMAGE_LOAD_CONFIG_DIRECTORY64 (winnt.h)");
#endif

__attribute__((section(".rdata$T"), used)) const LOAD_CONFIG _load_config_used = {
    .Size = sizeof(LOAD_CONFIG),
    .DependentLoadFlags = DEPENDENT_LOAD_FLAGS,
#if defined(__i386__)
    .SEHandlerTable = (SIZE_T)__safe_se_handler_table,
    .SEHandlerCount = (SIZE_T)__safe_se_handler_count,
    .GuardFlags = (DWORD)__guard_flags,
#else
    .GuardFlagsAndCodeIntegrityHead = (SIZE_T)__guard_flags,
#endif
    .GuardCFCheckFunctionPointer = (SIZE_T)&__guard_check_icall_fptr,
    .GuardCFDispatchFunctionPointer = (SIZE_T)&__guard_dispatch_icall_fptr,
    .GuardCFFunctionTable = (SIZE_T)__guard_fids_table,
    .GuardCFFunctionCount = (SIZE_T)__guard_fids_count,
    .GuardAddressTakenIatEntryTable = (SIZE_T)__guard_iat_table,
    .GuardAddressTakenIatEntryCount = (SIZE_T)__guard_iat_count,
    .GuardLongJumpTargetTable = (SIZE_T)__guard_longjmp_table,
    .GuardLongJumpTargetCount = (SIZE_T)__guard_longjmp_count,
};
