/*
 * wintun.h: the Wintun 0.14 API as ringtun's wintun.dll (Windows) and libwintun.so (Linux)
 * export it.
 *
 * The names, types and calling convention are Wintun's, so a program written for Wintun's header
 * builds against this one unchanged. As with Wintun's header, the functions are declared as
 * function types (WINTUN_*_FUNC), for a program that loads the library and resolves each
 * function with GetProcAddress:
 *
 *     static WINTUN_RECEIVE_PACKET_FUNC *WintunReceivePacket;
 *     *(FARPROC *)&WintunReceivePacket = GetProcAddress(Wintun, "WintunReceivePacket");
 *
 * A program that links the library instead defines RINGTUN_WINTUN_PROTOTYPES before including
 * this header (or includes ringtun_wintun.h), which declares the functions themselves.
 *
 * Every function is thread-safe and reports failure through the calling thread's last error
 * (GetLastError). On Linux the Win32 types and calls come from ringtun_win32.h (see there what it
 * provides); on Windows from the SDK.
 *
 * This header is ringtun's own, written from Wintun's documented behaviour.
 */
#ifndef RINGTUN_WINTUN_H
#define RINGTUN_WINTUN_H

#ifdef _WIN32
#include <winsock2.h>
#include <windows.h>
#include <ipexport.h>
#include <ifdef.h>
#include <ws2ipdef.h>
#else
#include "ringtun_win32.h"
#endif

#ifdef __cplusplus
extern "C" {
#endif

/* An adapter: a virtual layer-3 network interface. */
typedef struct _WINTUN_ADAPTER *WINTUN_ADAPTER_HANDLE;

/* A session: the two rings through which packets move between the client and the adapter. */
typedef struct _TUN_SESSION *WINTUN_SESSION_HANDLE;

/* Smallest and largest ring capacity, in bytes; a capacity is also a power of two. */
#define WINTUN_MIN_RING_CAPACITY 0x20000   /* 128 KiB */
#define WINTUN_MAX_RING_CAPACITY 0x4000000 /* 64 MiB */

/* The longest IP packet a ring carries, in bytes. */
#define WINTUN_MAX_IP_PACKET_SIZE 0xFFFF

/*
 * Creates an adapter and returns its handle, or NULL (GetLastError says why).
 *   Name          the adapter's name: 1 to 127 UTF-16 units, NUL-terminated. If an adapter
 *                 already has it, the new adapter takes it and the other one is renamed
 *                 "<Name> 2" (or the first free "<Name> N").
 *   TunnelType    the adapter's tunnel type, same rules.
 *   RequestedGUID the adapter's network GUID (keeps Windows' network profile across runs), or
 *                 NULL for a new one.
 * WintunCloseAdapter on the returned handle removes the adapter.
 * Errors include ERROR_INVALID_PARAMETER (NULL or empty string) and ERROR_BUFFER_OVERFLOW (a
 * string too long).
 */
typedef WINTUN_ADAPTER_HANDLE(WINAPI WINTUN_CREATE_ADAPTER_FUNC)(LPCWSTR Name, LPCWSTR TunnelType,
                                                                  const GUID *RequestedGUID);

/*
 * Opens the existing adapter named Name (compared without regard to case); NULL with
 * ERROR_NOT_FOUND if there is none. Closing the handle does not remove the adapter.
 */
typedef WINTUN_ADAPTER_HANDLE(WINAPI WINTUN_OPEN_ADAPTER_FUNC)(LPCWSTR Name);

/*
 * Closes an adapter handle (NULL: nothing happens). If the handle came from
 * WintunCreateAdapter, the adapter is removed: a session running on it ends (its calls report
 * ERROR_HANDLE_EOF until WintunEndSession).
 */
typedef VOID(WINAPI WINTUN_CLOSE_ADAPTER_FUNC)(WINTUN_ADAPTER_HANDLE Adapter);

/*
 * Wintun removes its driver if no adapter uses it (its DLL installs it again on the next create).
 * ringtun keeps the driver package an administrator installed from ringtun.inf and returns TRUE,
 * telling the logger; where the administrator opted in (HKLM\SOFTWARE\ringtun,
 * WintunDeleteDriver = 1; Linux: RINGTUN_WINTUN_DELETE_DRIVER=1) it removes it as Wintun does:
 * TRUE on success, FALSE with the error otherwise (ERROR_INF_IN_USE_BY_DEVICES while adapters
 * exist).
 */
typedef BOOL(WINAPI WINTUN_DELETE_DRIVER_FUNC)(VOID);

/* Writes the adapter's locally unique identifier to *Luid. */
typedef VOID(WINAPI WINTUN_GET_ADAPTER_LUID_FUNC)(WINTUN_ADAPTER_HANDLE Adapter, NET_LUID *Luid);

/*
 * The version of the driver running now, (major << 16) | minor; 0 with ERROR_FILE_NOT_FOUND
 * when no driver is loaded.
 */
typedef DWORD(WINAPI WINTUN_GET_RUNNING_DRIVER_VERSION_FUNC)(VOID);

/* Levels of logged messages. */
typedef enum {
    WINTUN_LOG_INFO, /* information */
    WINTUN_LOG_WARN, /* warning */
    WINTUN_LOG_ERR   /* error */
} WINTUN_LOGGER_LEVEL;

/*
 * A logger: called with a message's level, its time (a FILETIME value: 100-ns intervals since
 * 1601-01-01 UTC) and its text (NUL-terminated UTF-16, valid during the call). It may be called
 * from any thread, several at once.
 */
typedef VOID(CALLBACK *WINTUN_LOGGER_CALLBACK)(WINTUN_LOGGER_LEVEL Level, DWORD64 Timestamp, LPCWSTR Message);

/* Sets the process's logger; NULL: no logging. */
typedef VOID(WINAPI WINTUN_SET_LOGGER_FUNC)(WINTUN_LOGGER_CALLBACK NewLogger);

/*
 * Starts a session on the adapter with two rings of Capacity bytes each (a power of two from
 * WINTUN_MIN_RING_CAPACITY to WINTUN_MAX_RING_CAPACITY); NULL with the error otherwise
 * (ERROR_INVALID_PARAMETER for a bad capacity, ERROR_ALREADY_INITIALIZED if a session already
 * runs on the adapter). End it with WintunEndSession.
 */
typedef WINTUN_SESSION_HANDLE(WINAPI WINTUN_START_SESSION_FUNC)(WINTUN_ADAPTER_HANDLE Adapter, DWORD Capacity);

/*
 * Ends the session and frees it, its rings and its read-wait event. Call it last, once no other
 * thread uses the session or waits on its event.
 */
typedef VOID(WINAPI WINTUN_END_SESSION_FUNC)(WINTUN_SESSION_HANDLE Session);

/*
 * The session's read-wait event: when WintunReceivePacket reports ERROR_NO_MORE_ITEMS, wait on
 * it before trying again (a busy client may first retry for a while). Auto-reset; owned by the
 * session: never close it. When the session ends, every thread waiting on it wakes and its next
 * WintunReceivePacket reports ERROR_HANDLE_EOF.
 */
typedef HANDLE(WINAPI WINTUN_GET_READ_WAIT_EVENT_FUNC)(WINTUN_SESSION_HANDLE Session);

/*
 * The next received packet (an IPv4 or IPv6 packet), in place in the ring: writes its length to
 * *PacketSize and returns a pointer to it, which the client may read and modify until it calls
 * WintunReleaseReceivePacket. NULL with ERROR_NO_MORE_ITEMS (nothing there now),
 * ERROR_HANDLE_EOF (the session ended) or ERROR_INVALID_DATA (the ring is corrupt).
 */
typedef BYTE *(WINAPI WINTUN_RECEIVE_PACKET_FUNC)(WINTUN_SESSION_HANDLE Session, DWORD *PacketSize);

/* Gives a received packet's slot back; packets may be released in any order. */
typedef VOID(WINAPI WINTUN_RELEASE_RECEIVE_PACKET_FUNC)(WINTUN_SESSION_HANDLE Session, const BYTE *Packet);

/*
 * Allocates room for a packet of exactly PacketSize bytes (1 to WINTUN_MAX_IP_PACKET_SIZE) and
 * returns where to write it; packets go out in the order of these calls, whatever the order of
 * WintunSendPacket. NULL with ERROR_BUFFER_OVERFLOW (the ring is full now), ERROR_HANDLE_EOF (the
 * session ended) or ERROR_INVALID_PARAMETER.
 */
typedef BYTE *(WINAPI WINTUN_ALLOCATE_SEND_PACKET_FUNC)(WINTUN_SESSION_HANDLE Session, DWORD PacketSize);

/*
 * Hands an allocated packet to the adapter. It leaves once every packet allocated before it has
 * been sent too.
 */
typedef VOID(WINAPI WINTUN_SEND_PACKET_FUNC)(WINTUN_SESSION_HANDLE Session, const BYTE *Packet);

#ifdef RINGTUN_WINTUN_PROTOTYPES
WINTUN_CREATE_ADAPTER_FUNC WintunCreateAdapter;
WINTUN_OPEN_ADAPTER_FUNC WintunOpenAdapter;
WINTUN_CLOSE_ADAPTER_FUNC WintunCloseAdapter;
WINTUN_DELETE_DRIVER_FUNC WintunDeleteDriver;
WINTUN_GET_ADAPTER_LUID_FUNC WintunGetAdapterLUID;
WINTUN_GET_RUNNING_DRIVER_VERSION_FUNC WintunGetRunningDriverVersion;
WINTUN_SET_LOGGER_FUNC WintunSetLogger;
WINTUN_START_SESSION_FUNC WintunStartSession;
WINTUN_END_SESSION_FUNC WintunEndSession;
WINTUN_GET_READ_WAIT_EVENT_FUNC WintunGetReadWaitEvent;
WINTUN_RECEIVE_PACKET_FUNC WintunReceivePacket;
WINTUN_RELEASE_RECEIVE_PACKET_FUNC WintunReleaseReceivePacket;
WINTUN_ALLOCATE_SEND_PACKET_FUNC WintunAllocateSendPacket;
WINTUN_SEND_PACKET_FUNC WintunSendPacket;
#endif

#ifdef __cplusplus
}
#endif

#endif /* RINGTUN_WINTUN_H */
