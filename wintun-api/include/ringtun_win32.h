/*
 * ringtun_win32.h: the Win32 vocabulary of the Wintun API for the Linux build of libwintun.so.
 *
 * On Linux there is no <windows.h>. This header provides what a program written for Wintun's
 * API needs from it for the Wintun calls, and nothing more:
 *
 *   - the types: VOID, BOOL, BOOLEAN, BYTE, CHAR, UCHAR, WORD, USHORT, SHORT, INT, UINT, LONG,
 *     ULONG, DWORD, DWORD64, ULONG64, LONG64, ULONGLONG, LONGLONG, INT_PTR, UINT_PTR, LONG_PTR,
 *     ULONG_PTR, DWORD_PTR, SIZE_T, HANDLE, HMODULE, HINSTANCE, FARPROC, WCHAR (and the L/P
 *     pointer forms: LPCWSTR, LPWSTR, PCWSTR, PWSTR, LPCSTR, LPSTR, LPVOID, PVOID, LPCVOID,
 *     PBYTE, LPBYTE, PDWORD, LPDWORD, PHANDLE), SECURITY_ATTRIBUTES, GUID, NET_LUID (IF_LUID);
 *   - the calling conventions WINAPI, CALLBACK, APIENTRY, __stdcall and __cdecl (empty: Linux
 *     has one C calling convention per architecture) and the SAL annotations Wintun-style code
 *     uses (empty);
 *   - TRUE, FALSE, INFINITE, INVALID_HANDLE_VALUE, WAIT_OBJECT_0, WAIT_ABANDONED(_0),
 *     WAIT_TIMEOUT, WAIT_FAILED, MAXIMUM_WAIT_OBJECTS, the LOAD_LIBRARY_SEARCH_* flags, the
 *     ERROR_* codes the API reports, and _countof;
 *   - the functions, exported by libwintun.so itself: GetLastError, SetLastError, CreateEventW,
 *     SetEvent, ResetEvent, CloseHandle, WaitForSingleObject, WaitForMultipleObjects,
 *     LoadLibraryExW, LoadLibraryW, GetProcAddress, FreeLibrary.
 *
 * Not provided: threads (use the platform's), the "A" (ANSI) and UNICODE-dependent macro forms
 * (CreateEvent, LoadLibrary, ...), waiting for all of several objects (bWaitAll = TRUE fails with
 * ERROR_NOT_SUPPORTED), handles other than events, console, IP Helper (configure the interface
 * with the system's tools), FormatMessage and the wide-character C library functions.
 *
 * WCHAR is 16 bits, as on Windows: Wintun's strings are UTF-16. Linux's wchar_t is 32 bits, so an
 * L"..." literal is not a WCHAR string unless the program is built with -fshort-wchar (as Wine's
 * winegcc builds Windows programs); u"..." literals (C11 <uchar.h>) are WCHAR strings as they are.
 * With -fshort-wchar the C library's wide-character functions (wprintf, wcslen...) must not be
 * used: they expect 32-bit characters.
 *
 * Values and shapes follow the Windows SDK headers (winnt.h, minwindef.h, winerror.h, winbase.h,
 * guiddef.h, ifdef.h, libloaderapi.h); the values are checked against the library's in the tests.
 */
#ifndef RINGTUN_WIN32_H
#define RINGTUN_WIN32_H

#ifdef _WIN32
#error "ringtun_win32.h is for the Linux build; on Windows, include <windows.h>"
#endif

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ----- calling conventions and annotations ----- */
#ifndef WINAPI
#define WINAPI
#endif
#ifndef CALLBACK
#define CALLBACK
#endif
#ifndef APIENTRY
#define APIENTRY
#endif
#ifndef __stdcall
#define __stdcall
#endif
#ifndef __cdecl
#define __cdecl
#endif

/* SAL annotations: documentation only. */
#ifndef _In_
#define _In_
#endif
#ifndef _In_opt_
#define _In_opt_
#endif
#ifndef _In_z_
#define _In_z_
#endif
#ifndef _In_opt_z_
#define _In_opt_z_
#endif
#ifndef _Inout_
#define _Inout_
#endif
#ifndef _Inout_opt_
#define _Inout_opt_
#endif
#ifndef _Out_
#define _Out_
#endif
#ifndef _Out_opt_
#define _Out_opt_
#endif
#ifndef _In_reads_
#define _In_reads_(n)
#endif
#ifndef _In_reads_bytes_
#define _In_reads_bytes_(n)
#endif
#ifndef _Out_writes_
#define _Out_writes_(n)
#endif
#ifndef _Out_writes_bytes_all_
#define _Out_writes_bytes_all_(n)
#endif
#ifndef _Must_inspect_result_
#define _Must_inspect_result_
#endif
#ifndef _Return_type_success_
#define _Return_type_success_(expr)
#endif
#ifndef _Post_maybenull_
#define _Post_maybenull_
#endif
#ifndef _Post_writable_byte_size_
#define _Post_writable_byte_size_(n)
#endif
#ifndef _Use_decl_annotations_
#define _Use_decl_annotations_
#endif

/* ----- types ----- */
#ifndef VOID
#define VOID void
#endif
typedef int BOOL;
typedef unsigned char BOOLEAN;
typedef uint8_t BYTE;
typedef char CHAR;
typedef unsigned char UCHAR;
typedef uint16_t WORD;
typedef uint16_t USHORT;
typedef int16_t SHORT;
typedef int INT;
typedef unsigned int UINT;
typedef int32_t LONG;   /* 32 bits, as on Windows (Linux's long is 64 bits on 64-bit targets) */
typedef uint32_t ULONG; /* likewise */
typedef uint32_t DWORD;
typedef uint64_t DWORD64;
typedef uint64_t ULONG64;
typedef int64_t LONG64;
typedef uint64_t ULONGLONG;
typedef int64_t LONGLONG;
typedef intptr_t INT_PTR;
typedef uintptr_t UINT_PTR;
typedef intptr_t LONG_PTR;
typedef uintptr_t ULONG_PTR;
typedef uintptr_t DWORD_PTR;
typedef size_t SIZE_T;
/* UTF-16 code unit: 16 bits, unlike Linux's wchar_t (see the top of this file). */
typedef uint16_t WCHAR;
typedef void *HANDLE;
typedef HANDLE *PHANDLE;
typedef void *HMODULE;
typedef void *HINSTANCE;
typedef INT_PTR(WINAPI *FARPROC)(void);
typedef void *PVOID;
typedef void *LPVOID;
typedef const void *LPCVOID;
typedef BYTE *PBYTE;
typedef BYTE *LPBYTE;
typedef DWORD *PDWORD;
typedef DWORD *LPDWORD;
typedef CHAR *LPSTR;
typedef const CHAR *LPCSTR;
typedef WCHAR *LPWSTR;
typedef WCHAR *PWSTR;
typedef const WCHAR *LPCWSTR;
typedef const WCHAR *PCWSTR;

typedef struct _SECURITY_ATTRIBUTES {
    DWORD nLength;
    LPVOID lpSecurityDescriptor;
    BOOL bInheritHandle;
} SECURITY_ATTRIBUTES, *PSECURITY_ATTRIBUTES, *LPSECURITY_ATTRIBUTES;

/* guiddef.h */
#ifndef GUID_DEFINED
#define GUID_DEFINED
typedef struct _GUID {
    uint32_t Data1;
    uint16_t Data2;
    uint16_t Data3;
    uint8_t Data4[8];
} GUID;
#endif

/* ifdef.h: the interface's locally unique identifier. */
typedef union _NET_LUID_LH {
    ULONG64 Value;
    struct {
        ULONG64 Reserved : 24;
        ULONG64 NetLuidIndex : 24;
        ULONG64 IfType : 16;
    } Info;
} NET_LUID_LH, *PNET_LUID_LH;
typedef NET_LUID_LH NET_LUID, *PNET_LUID;
typedef NET_LUID IF_LUID, *PIF_LUID;

/* ----- constants ----- */
#ifndef TRUE
#define TRUE 1
#endif
#ifndef FALSE
#define FALSE 0
#endif
#define INFINITE 0xFFFFFFFFu
#define INVALID_HANDLE_VALUE ((HANDLE)(LONG_PTR)-1)
#define MAXIMUM_WAIT_OBJECTS 64
#define WAIT_OBJECT_0 0x00000000u
#define WAIT_ABANDONED 0x00000080u
#define WAIT_ABANDONED_0 0x00000080u
#define WAIT_TIMEOUT 258u
#define WAIT_FAILED 0xFFFFFFFFu
#define LOAD_LIBRARY_SEARCH_DLL_LOAD_DIR 0x00000100u
#define LOAD_LIBRARY_SEARCH_APPLICATION_DIR 0x00000200u
#define LOAD_LIBRARY_SEARCH_USER_DIRS 0x00000400u
#define LOAD_LIBRARY_SEARCH_SYSTEM32 0x00000800u
#define LOAD_LIBRARY_SEARCH_DEFAULT_DIRS 0x00001000u

#ifndef _countof
#define _countof(array) (sizeof(array) / sizeof((array)[0]))
#endif

/* winerror.h */
#define ERROR_SUCCESS 0L
#define NO_ERROR 0L
#define ERROR_INVALID_FUNCTION 1L
#define ERROR_FILE_NOT_FOUND 2L
#define ERROR_ACCESS_DENIED 5L
#define ERROR_INVALID_HANDLE 6L
#define ERROR_NOT_ENOUGH_MEMORY 8L
#define ERROR_INVALID_DATA 13L
#define ERROR_OUTOFMEMORY 14L
#define ERROR_NOT_READY 21L
#define ERROR_GEN_FAILURE 31L
#define ERROR_HANDLE_EOF 38L
#define ERROR_NOT_SUPPORTED 50L
#define ERROR_INVALID_PARAMETER 87L
#define ERROR_BUFFER_OVERFLOW 111L
#define ERROR_INSUFFICIENT_BUFFER 122L
#define ERROR_INVALID_NAME 123L
#define ERROR_MOD_NOT_FOUND 126L
#define ERROR_PROC_NOT_FOUND 127L
#define ERROR_BUSY 170L
#define ERROR_ALREADY_EXISTS 183L
#define ERROR_NO_MORE_ITEMS 259L
#define ERROR_NOT_FOUND 1168L
#define ERROR_ALREADY_INITIALIZED 1247L
#define ERROR_NO_SYSTEM_RESOURCES 1450L
#define ERROR_TIMEOUT 1460L
#define ERROR_INVALID_USER_BUFFER 1784L
#define ERROR_DEVICE_NOT_AVAILABLE 4319L
/* setupapi.h: APPLICATION_ERROR_MASK | ERROR_SEVERITY_ERROR | 0x23D */
#define ERROR_INF_IN_USE_BY_DEVICES 0xE000023DL

/* ----- functions (exported by libwintun.so) ----- */

/* The calling thread's last error; every Wintun and Ringtun call sets it on failure. */
DWORD WINAPI GetLastError(VOID);
VOID WINAPI SetLastError(DWORD dwErrCode);

/* Events: auto-reset (bManualReset FALSE) or manual-reset; a name is shared within the process
 * (a second creation returns a new handle to the same event, with ERROR_ALREADY_EXISTS).
 * lpEventAttributes is ignored. CloseHandle refuses a session's read-wait event. */
HANDLE WINAPI CreateEventW(LPSECURITY_ATTRIBUTES lpEventAttributes, BOOL bManualReset, BOOL bInitialState,
                           LPCWSTR lpName);
BOOL WINAPI SetEvent(HANDLE hEvent);
BOOL WINAPI ResetEvent(HANDLE hEvent);
BOOL WINAPI CloseHandle(HANDLE hObject);

/* Waits on events: WAIT_OBJECT_0 + index, WAIT_TIMEOUT, or WAIT_FAILED with the last error. */
DWORD WINAPI WaitForSingleObject(HANDLE hHandle, DWORD dwMilliseconds);
DWORD WINAPI WaitForMultipleObjects(DWORD nCount, const HANDLE *lpHandles, BOOL bWaitAll, DWORD dwMilliseconds);

/* Modules over dlopen: "wintun.dll" (any case, any directory) is libwintun.so itself; any other
 * name is passed to dlopen as UTF-8. The search flags have no effect; hFile must be NULL.
 * GetProcAddress takes names, not ordinals. */
HMODULE WINAPI LoadLibraryExW(LPCWSTR lpLibFileName, HANDLE hFile, DWORD dwFlags);
HMODULE WINAPI LoadLibraryW(LPCWSTR lpLibFileName);
FARPROC WINAPI GetProcAddress(HMODULE hModule, LPCSTR lpProcName);
BOOL WINAPI FreeLibrary(HMODULE hLibModule);

#ifdef __cplusplus
}
#endif

#endif /* RINGTUN_WIN32_H */
