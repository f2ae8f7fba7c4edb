/*
 * The headers against a Windows SDK (scripts/xcheck compiles this with clang and MinGW-w64's
 * headers for x86_64, i686 and aarch64): they build on Windows, and every function has the
 * signature and the calling convention (__stdcall on i686) of Wintun 0.14's API. Each function of
 * the header is assigned to a pointer whose type is spelled out here with __stdcall: a different
 * parameter, result or convention does not compile.
 */
#include <stddef.h>

#include "ringtun_wintun.h"

#define SAME(name, result, params)                      \
    typedef result(__stdcall *name##_type) params; \
    name##_type check_##name = name

SAME(WintunCreateAdapter, WINTUN_ADAPTER_HANDLE, (LPCWSTR, LPCWSTR, const GUID *));
SAME(WintunOpenAdapter, WINTUN_ADAPTER_HANDLE, (LPCWSTR));
SAME(WintunCloseAdapter, VOID, (WINTUN_ADAPTER_HANDLE));
SAME(WintunDeleteDriver, BOOL, (VOID));
SAME(WintunGetAdapterLUID, VOID, (WINTUN_ADAPTER_HANDLE, NET_LUID *));
SAME(WintunGetRunningDriverVersion, DWORD, (VOID));
SAME(WintunSetLogger, VOID, (WINTUN_LOGGER_CALLBACK));
SAME(WintunStartSession, WINTUN_SESSION_HANDLE, (WINTUN_ADAPTER_HANDLE, DWORD));
SAME(WintunEndSession, VOID, (WINTUN_SESSION_HANDLE));
SAME(WintunGetReadWaitEvent, HANDLE, (WINTUN_SESSION_HANDLE));
SAME(WintunReceivePacket, BYTE *, (WINTUN_SESSION_HANDLE, DWORD *));
SAME(WintunReleaseReceivePacket, VOID, (WINTUN_SESSION_HANDLE, const BYTE *));
SAME(WintunAllocateSendPacket, BYTE *, (WINTUN_SESSION_HANDLE, DWORD));
SAME(WintunSendPacket, VOID, (WINTUN_SESSION_HANDLE, const BYTE *));

SAME(RingtunGetCapabilities, BOOL, (WINTUN_ADAPTER_HANDLE, RINGTUN_CAPABILITIES *));
SAME(RingtunStartSession, WINTUN_SESSION_HANDLE, (WINTUN_ADAPTER_HANDLE, const RINGTUN_SESSION_CONFIG *));
SAME(RingtunGetSessionInfo, BOOL, (WINTUN_SESSION_HANDLE, RINGTUN_SESSION_INFO *));
SAME(RingtunGetSessionStatistics, BOOL, (WINTUN_SESSION_HANDLE, RINGTUN_SESSION_STATISTICS *));
SAME(RingtunReceivePacketEx, BOOL, (WINTUN_SESSION_HANDLE, RINGTUN_PACKET *));
SAME(RingtunReceivePackets, DWORD, (WINTUN_SESSION_HANDLE, RINGTUN_PACKET *, DWORD));
SAME(RingtunReleaseReceivePackets, DWORD, (WINTUN_SESSION_HANDLE, const RINGTUN_PACKET *, DWORD));
SAME(RingtunAllocateSendPacketEx, BOOL, (WINTUN_SESSION_HANDLE, DWORD, WORD, WORD, RINGTUN_PACKET *));
SAME(RingtunAllocateSendPackets, DWORD, (WINTUN_SESSION_HANDLE, DWORD, WORD, WORD, RINGTUN_PACKET *, DWORD));
SAME(RingtunSendPacketEx, BOOL, (WINTUN_SESSION_HANDLE, const RINGTUN_PACKET *));
SAME(RingtunSendPackets, DWORD, (WINTUN_SESSION_HANDLE, const RINGTUN_PACKET *, DWORD));
SAME(RingtunCancelSendPacket, BOOL, (WINTUN_SESSION_HANDLE, const RINGTUN_PACKET *));
SAME(RingtunShrinkSendPacket, BOOL, (WINTUN_SESSION_HANDLE, const BYTE *, DWORD));
SAME(RingtunWaitForSendSpace, BOOL, (WINTUN_SESSION_HANDLE, DWORD, WORD, WORD, DWORD));
SAME(RingtunGetReceivePacketOffload, BOOL, (WINTUN_SESSION_HANDLE, const RINGTUN_PACKET *, RINGTUN_OFFLOAD_META *));
SAME(RingtunGetSendPacketOffload, BOOL, (WINTUN_SESSION_HANDLE, const RINGTUN_PACKET *, RINGTUN_OFFLOAD_META *));
SAME(RingtunSetSendPacketOffload, BOOL, (WINTUN_SESSION_HANDLE, const RINGTUN_PACKET *, const RINGTUN_OFFLOAD_META *));

/* The logger is a CALLBACK (__stdcall) taking the level as an int-sized enum. */
static VOID CALLBACK logger(WINTUN_LOGGER_LEVEL level, DWORD64 timestamp, LPCWSTR message) {
    (void)level, (void)timestamp, (void)message;
}
WINTUN_LOGGER_CALLBACK check_logger = logger;
_Static_assert(sizeof(WINTUN_LOGGER_LEVEL) == 4, "the level is passed as an int");
_Static_assert(WINTUN_LOG_INFO == 0 && WINTUN_LOG_WARN == 1 && WINTUN_LOG_ERR == 2, "levels");
_Static_assert(WINTUN_MIN_RING_CAPACITY == 0x20000 && WINTUN_MAX_RING_CAPACITY == 0x4000000, "capacities");
_Static_assert(WINTUN_MAX_IP_PACKET_SIZE == 0xFFFF, "packet size");
_Static_assert(sizeof(WCHAR) == 2, "UTF-16");

/* The extensions' structures: the same layout as on Linux (wintun-api/src/ffi.rs asserts it). */
_Static_assert(sizeof(RINGTUN_CAPABILITIES) == 28, "RINGTUN_CAPABILITIES");
_Static_assert(sizeof(RINGTUN_SESSION_CONFIG) == 24, "RINGTUN_SESSION_CONFIG");
_Static_assert(sizeof(RINGTUN_SESSION_INFO) == 36, "RINGTUN_SESSION_INFO");
_Static_assert(sizeof(RINGTUN_SESSION_STATISTICS) == 88, "RINGTUN_SESSION_STATISTICS");
_Static_assert(offsetof(RINGTUN_SESSION_STATISTICS, CopiedBytes) == 40, "CopiedBytes");
_Static_assert(offsetof(RINGTUN_SESSION_STATISTICS, SendRingFull) == 48, "SendRingFull");
_Static_assert(offsetof(RINGTUN_SESSION_STATISTICS, SpaceSignals) == 80, "SpaceSignals");
_Static_assert(sizeof(RINGTUN_OFFLOAD_META) == 16, "RINGTUN_OFFLOAD_META");
_Static_assert(offsetof(RINGTUN_OFFLOAD_META, HdrLen) == 2, "HdrLen");
_Static_assert(offsetof(RINGTUN_OFFLOAD_META, GsoSize) == 4, "GsoSize");
_Static_assert(offsetof(RINGTUN_OFFLOAD_META, CsumStart) == 6, "CsumStart");
_Static_assert(offsetof(RINGTUN_OFFLOAD_META, CsumOffset) == 8, "CsumOffset");
_Static_assert(offsetof(RINGTUN_OFFLOAD_META, Reserved) == 10, "Reserved");
_Static_assert(sizeof(RINGTUN_PACKET) == (sizeof(void *) == 8 ? 24 : 16), "RINGTUN_PACKET");
_Static_assert(offsetof(RINGTUN_PACKET, Size) == sizeof(void *) + 8, "RINGTUN_PACKET.Size");
