/*
 * A program written the way Wintun's documentation tells a Windows program to use wintun.dll:
 * Win32 headers, UTF-16 L"" strings, the library loaded with LoadLibraryExW and each of the 14
 * functions resolved with GetProcAddress through the header's function types, a logger, an
 * adapter, a session, packets sent and received with the read-wait event.
 *
 * Nothing in it is specific to ringtun or to Linux: on Linux it builds with the project's
 * include directories (include/ for wintun.h, include/linux/ for <windows.h> and <winsock2.h>),
 * -fshort-wchar (so that L"" literals are UTF-16, as on Windows) and libwintun.so, which also
 * provides the Win32 calls it makes. Run with RINGTUN_WINTUN_STACK=loopback, every echo request
 * it sends comes back to it.
 */
#include <winsock2.h>
#include <windows.h>
#include <stdio.h>
#include <string.h>

#include "wintun.h"

static WINTUN_CREATE_ADAPTER_FUNC *WintunCreateAdapter;
static WINTUN_OPEN_ADAPTER_FUNC *WintunOpenAdapter;
static WINTUN_CLOSE_ADAPTER_FUNC *WintunCloseAdapter;
static WINTUN_DELETE_DRIVER_FUNC *WintunDeleteDriver;
static WINTUN_GET_ADAPTER_LUID_FUNC *WintunGetAdapterLUID;
static WINTUN_GET_RUNNING_DRIVER_VERSION_FUNC *WintunGetRunningDriverVersion;
static WINTUN_SET_LOGGER_FUNC *WintunSetLogger;
static WINTUN_START_SESSION_FUNC *WintunStartSession;
static WINTUN_END_SESSION_FUNC *WintunEndSession;
static WINTUN_GET_READ_WAIT_EVENT_FUNC *WintunGetReadWaitEvent;
static WINTUN_RECEIVE_PACKET_FUNC *WintunReceivePacket;
static WINTUN_RELEASE_RECEIVE_PACKET_FUNC *WintunReleaseReceivePacket;
static WINTUN_ALLOCATE_SEND_PACKET_FUNC *WintunAllocateSendPacket;
static WINTUN_SEND_PACKET_FUNC *WintunSendPacket;

static const struct {
    const char *Name;
    FARPROC *Slot;
} Imports[] = {
    { "WintunCreateAdapter", (FARPROC *)&WintunCreateAdapter },
    { "WintunOpenAdapter", (FARPROC *)&WintunOpenAdapter },
    { "WintunCloseAdapter", (FARPROC *)&WintunCloseAdapter },
    { "WintunDeleteDriver", (FARPROC *)&WintunDeleteDriver },
    { "WintunGetAdapterLUID", (FARPROC *)&WintunGetAdapterLUID },
    { "WintunGetRunningDriverVersion", (FARPROC *)&WintunGetRunningDriverVersion },
    { "WintunSetLogger", (FARPROC *)&WintunSetLogger },
    { "WintunStartSession", (FARPROC *)&WintunStartSession },
    { "WintunEndSession", (FARPROC *)&WintunEndSession },
    { "WintunGetReadWaitEvent", (FARPROC *)&WintunGetReadWaitEvent },
    { "WintunReceivePacket", (FARPROC *)&WintunReceivePacket },
    { "WintunReleaseReceivePacket", (FARPROC *)&WintunReleaseReceivePacket },
    { "WintunAllocateSendPacket", (FARPROC *)&WintunAllocateSendPacket },
    { "WintunSendPacket", (FARPROC *)&WintunSendPacket },
};

static HMODULE LoadWintun(void) {
    HMODULE Library =
        LoadLibraryExW(L"wintun.dll", NULL, LOAD_LIBRARY_SEARCH_APPLICATION_DIR | LOAD_LIBRARY_SEARCH_SYSTEM32);
    if (!Library)
        return NULL;
    for (size_t i = 0; i < _countof(Imports); ++i) {
        *Imports[i].Slot = GetProcAddress(Library, Imports[i].Name);
        if (!*Imports[i].Slot) {
            DWORD Error = GetLastError();
            fprintf(stderr, "missing export %s\n", Imports[i].Name);
            FreeLibrary(Library);
            SetLastError(Error);
            return NULL;
        }
    }
    return Library;
}

static void Narrow(LPCWSTR Text, char *Out, size_t Size) {
    size_t i = 0;
    for (; Text[i] && i + 1 < Size; ++i)
        Out[i] = Text[i] < 0x80 ? (char)Text[i] : '?';
    Out[i] = 0;
}

static volatile LONG LogLines;

static VOID CALLBACK PrintLog(_In_ WINTUN_LOGGER_LEVEL Level, _In_ DWORD64 Timestamp, _In_z_ LPCWSTR Message) {
    static const char Marks[] = { '+', '-', '!' };
    char Text[512];
    Narrow(Message, Text, sizeof(Text));
    printf("[%c] %llu %s\n", Level <= WINTUN_LOG_ERR ? Marks[Level] : '?', (unsigned long long)Timestamp, Text);
    ++LogLines;
}

static USHORT Checksum(const BYTE *Data, DWORD Length) {
    DWORD Sum = 0;
    for (DWORD i = 0; i + 1 < Length; i += 2)
        Sum += (DWORD)Data[i] << 8 | Data[i + 1];
    if (Length & 1)
        Sum += (DWORD)Data[Length - 1] << 8;
    while (Sum >> 16)
        Sum = (Sum & 0xFFFF) + (Sum >> 16);
    return (USHORT)~Sum;
}

#define ECHO_SIZE 64
static const BYTE Source[4] = { 10, 99, 0, 1 }, Destination[4] = { 10, 99, 0, 2 };

/* An IPv4 ICMP echo request with sequence number Sequence. */
static void BuildEcho(BYTE *Packet, USHORT Sequence) {
    memset(Packet, 0, ECHO_SIZE);
    Packet[0] = 0x45;
    *(USHORT *)&Packet[2] = htons(ECHO_SIZE);
    Packet[8] = 64;
    Packet[9] = 1;
    memcpy(&Packet[12], Source, 4);
    memcpy(&Packet[16], Destination, 4);
    USHORT Sum = Checksum(Packet, 20);
    Packet[10] = (BYTE)(Sum >> 8);
    Packet[11] = (BYTE)Sum;
    BYTE *Icmp = Packet + 20;
    Icmp[0] = 8;
    *(USHORT *)&Icmp[4] = htons(0x1234);
    *(USHORT *)&Icmp[6] = htons(Sequence);
    for (int i = 8; i < ECHO_SIZE - 20; ++i)
        Icmp[i] = (BYTE)(Sequence + i);
    Sum = Checksum(Icmp, ECHO_SIZE - 20);
    Icmp[2] = (BYTE)(Sum >> 8);
    Icmp[3] = (BYTE)Sum;
}

/* The echo request's sequence number, if Packet is one of ours intact; -1 otherwise. */
static int ParseEcho(const BYTE *Packet, DWORD Size) {
    BYTE Expected[ECHO_SIZE];
    if (Size != ECHO_SIZE || Packet[0] != 0x45 || Packet[9] != 1)
        return -1;
    USHORT Sequence = ntohs(*(const USHORT *)&Packet[26]);
    BuildEcho(Expected, Sequence);
    return memcmp(Expected, Packet, ECHO_SIZE) == 0 ? Sequence : -1;
}

int main(void) {
    HMODULE Wintun = LoadWintun();
    if (!Wintun) {
        fprintf(stderr, "cannot load wintun.dll: %lu\n", (unsigned long)GetLastError());
        return 1;
    }
    WintunSetLogger(PrintLog);

    GUID Guid = { 0x0badcafe, 0x1234, 0x5678, { 0x9a, 0xbc, 0xde, 0xf0, 0x12, 0x34, 0x56, 0x78 } };
    WINTUN_ADAPTER_HANDLE Adapter = WintunCreateAdapter(L"Demo", L"Example", &Guid);
    if (!Adapter) {
        fprintf(stderr, "cannot create the adapter: %lu\n", (unsigned long)GetLastError());
        return 1;
    }
    DWORD Version = WintunGetRunningDriverVersion();
    printf("driver v%lu.%lu\n", (unsigned long)(Version >> 16) & 0xFF, (unsigned long)Version & 0xFF);
    NET_LUID Luid;
    WintunGetAdapterLUID(Adapter, &Luid);
    printf("adapter LUID %#llx (interface type %u)\n", (unsigned long long)Luid.Value, (unsigned)Luid.Info.IfType);
    WINTUN_ADAPTER_HANDLE Again = WintunOpenAdapter(L"Demo");
    if (!Again)
        return 1;
    WintunCloseAdapter(Again);

    WINTUN_SESSION_HANDLE Session = WintunStartSession(Adapter, 0x400000);
    if (!Session) {
        fprintf(stderr, "cannot start a session: %lu\n", (unsigned long)GetLastError());
        return 1;
    }
    HANDLE Quit = CreateEventW(NULL, TRUE, FALSE, NULL);
    HANDLE Waits[] = { WintunGetReadWaitEvent(Session), Quit };

    enum { COUNT = 16 };
    for (USHORT Sequence = 0; Sequence < COUNT; ++Sequence) {
        BYTE *Packet = WintunAllocateSendPacket(Session, ECHO_SIZE);
        if (!Packet) {
            fprintf(stderr, "allocate: %lu\n", (unsigned long)GetLastError());
            return 1;
        }
        BuildEcho(Packet, Sequence);
        WintunSendPacket(Session, Packet);
    }

    int Received = 0, Expected = 0;
    while (Received < COUNT) {
        DWORD Size;
        BYTE *Packet = WintunReceivePacket(Session, &Size);
        if (Packet) {
            int Sequence = ParseEcho(Packet, Size);
            WintunReleaseReceivePacket(Session, Packet);
            if (Sequence != Expected) {
                fprintf(stderr, "packet %d: got sequence %d\n", Received, Sequence);
                return 1;
            }
            ++Expected;
            if (++Received == COUNT)
                SetEvent(Quit);
            continue;
        }
        if (GetLastError() != ERROR_NO_MORE_ITEMS) {
            fprintf(stderr, "receive: %lu\n", (unsigned long)GetLastError());
            return 1;
        }
        DWORD Woken = WaitForMultipleObjects(_countof(Waits), Waits, FALSE, 5000);
        if (Woken == WAIT_TIMEOUT) {
            fprintf(stderr, "no packet for 5 s\n");
            return 1;
        }
        if (Woken == WAIT_OBJECT_0 + 1)
            break;
    }
    printf("received %d echo requests back\n", Received);
    if (WaitForSingleObject(Quit, 0) != WAIT_OBJECT_0)
        return 1;

    WintunEndSession(Session);
    CloseHandle(Quit);
    WintunCloseAdapter(Adapter);
    if (!WintunDeleteDriver()) {
        fprintf(stderr, "delete driver: %lu\n", (unsigned long)GetLastError());
        return 1;
    }
    WintunSetLogger(NULL);
    FreeLibrary(Wintun);
    if (LogLines == 0) {
        fprintf(stderr, "the logger was never called\n");
        return 1;
    }
    return 0;
}
