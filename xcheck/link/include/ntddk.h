/*
 * The part of <ntddk.h> that driver/src/windows/probe.c uses, for the Linux-only link
 * (scripts/link-sys): clang compiles probe.c for the -windows-msvc targets against this file,
 * because MinGW-w64's DDK headers do not build for those targets. Declarations as in wdm.h
 * (WDK 10.0.16299): KPROCESSOR_MODE is a CCHAR, LOCK_OPERATION an enum, MmProbeAndLockPages an
 * NTKERNELAPI (imported) function; GetExceptionCode is the compiler's _exception_code (excpt.h).
 * The real build compiles probe.c with the WDK's own headers.
 */
#ifndef RINGTUN_LINK_NTDDK_H
#define RINGTUN_LINK_NTDDK_H

typedef long NTSTATUS;
typedef char KPROCESSOR_MODE;
typedef enum _LOCK_OPERATION { IoReadAccess, IoWriteAccess, IoModifyAccess } LOCK_OPERATION;
typedef struct _MDL *PMDL;

__declspec(dllimport) void MmProbeAndLockPages(PMDL MemoryDescriptorList, KPROCESSOR_MODE AccessMode,
                                               LOCK_OPERATION Operation);

#define STATUS_SUCCESS ((NTSTATUS)0x00000000L)
#define EXCEPTION_EXECUTE_HANDLER 1
unsigned long __cdecl _exception_code(void);
#define GetExceptionCode _exception_code

#endif
