/*
 * ringtun_wintun.h: ringtun's extensions to the Wintun API, exported by the same library
 * (wintun.dll, libwintun.so) with a "Ringtun" prefix.
 *
 * They give a C program what ringtun's v2 rings offer beyond Wintun's:
 *   - head and tail room around every packet, in both directions, so that a VPN writes its
 *     tunnel header and trailer around a packet where it lies and encrypts it there, and decrypts
 *     a received record straight into the slot that will carry the inner packet;
 *   - moving and shrinking a packet inside its slot before sending it;
 *   - batches: one lock and one publication for many packets;
 *   - the session's counters, including the packet bytes the library itself copied;
 *   - shrinking the last allocated packet before sending it, on Wintun's own (v1) rings too;
 *   - per-packet offload metadata (RINGTUN_SESSION_OFFLOAD): received super-packets and checksum
 *     states, sent super-packets and checksums left to the driver;
 *   - the write-space wait (RINGTUN_SESSION_WRITE_SPACE): a thread that finds the send ring
 *     full sleeps until the driver frees space, instead of dropping or polling.
 *
 * A session started with RingtunStartSession uses v2 rings where the driver has them and
 * Wintun's v1 rings otherwise, and says so (RingtunGetSessionInfo). Every call below works on
 * both; what differs is stated with each call. Wintun's 14 calls work on both kinds of session.
 *
 * The conventions are Wintun's: WINAPI, thread-safe, failure through the calling thread's last
 * error (GetLastError).
 *
 * This header declares the functions themselves (for a program that links the library), and
 * their function types (RINGTUN_*_FUNC, for one that resolves them with GetProcAddress). Define
 * RINGTUN_WINTUN_NO_PROTOTYPES to leave the declarations out.
 *
 * A worked example (error handling shortened), decrypting records received from a socket
 * straight into the slots that will carry their inner packets:
 *
 *     RINGTUN_SESSION_CONFIG Config = { sizeof(Config) };
 *     Config.ReceiveCapacity = Config.SendCapacity = 0x400000;
 *     Config.ReceiveHeadRoom = 16;  // ESP header + IV, written in front of each received packet
 *     Config.ReceiveTailRoom = 32;  // padding, pad length, next header, ICV
 *     Config.SendHeadRoom = 16;
 *     Config.SendTailRoom = 32;
 *     WINTUN_SESSION_HANDLE Session = RingtunStartSession(Adapter, &Config);
 *
 *     RINGTUN_PACKET Slot;
 *     RingtunAllocateSendPacketEx(Session, 1500, 16, 32, &Slot);  // room for a whole record
 *     ssize_t Len = recv(Socket, Slot.Frame, Slot.FrameSize, 0); // the record, into the slot
 *     DecryptInPlace(Slot.Frame, Len, &InnerOffset, &InnerSize);
 *     Slot.Offset = InnerOffset;                                 // the packet starts here
 *     Slot.Size = InnerSize;                                     // and is this long
 *     RingtunSendPacketEx(Session, &Slot);                       // no byte copied
 */
#ifndef RINGTUN_WINTUN_EXTENSIONS_H
#define RINGTUN_WINTUN_EXTENSIONS_H

#include "wintun.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ----- sessions ----- */

/* A packet the client sends may hold several IP packets back to back; the driver splits them by
 * their IP length fields (the ABI's RECEIVE_SPLIT: the driver's Receive ring carries what the
 * client sends). v2 only. */
#define RINGTUN_SESSION_RECEIVE_SPLIT 0x00000001u
/* Per-packet offload metadata on both rings (RINGTUN_OFFLOAD_META, the ABI's OFFLOAD): received
 * packets may be super-packets of up to 64 KiB or carry a checksum state, sent ones may ask the
 * driver for either (RingtunSetSendPacketOffload). v2 only, not with RECEIVE_SPLIT
 * (ERROR_INVALID_PARAMETER). The metadata block takes 16 bytes of each slot; it is not part of
 * the room asked for, and a RINGTUN_PACKET's Frame starts after it. A driver without it runs the
 * session without it (RingtunGetSessionInfo's Flags say what was granted). */
#define RINGTUN_SESSION_OFFLOAD 0x00000002u
/* The write-space signal (the ABI's WRITE_SPACE): RingtunWaitForSendSpace sleeps until the driver
 * frees space in the send ring; without it, that call looks at the ring every millisecond. v2
 * only; a driver without it runs the session without it (see Flags). */
#define RINGTUN_SESSION_WRITE_SPACE 0x00000004u
/* Use Wintun's v1 rings even if the driver has v2 (never passed to the driver). */
#define RINGTUN_SESSION_V1_ONLY 0x00010000u

/* What the adapter's driver offers. */
typedef struct _RINGTUN_CAPABILITIES {
    DWORD Size;           /* in: sizeof(RINGTUN_CAPABILITIES) */
    DWORD MaxVersion;     /* highest ring version: 1 (Wintun's rings only) or 2 */
    DWORD SupportedFlags; /* RINGTUN_SESSION_* flags the driver accepts */
    WORD MaxHeadRoom;     /* largest head room per ring */
    WORD MaxTailRoom;     /* largest tail room per ring */
    DWORD MinCapacity;    /* smallest ring capacity */
    DWORD MaxCapacity;    /* largest ring capacity */
    DWORD DriverVersion;  /* (major << 16) | (minor << 8) | patch; 0 if the driver does not say */
} RINGTUN_CAPABILITIES;

/* What a session asks for. "Receive" is what the client receives, "send" what it sends. */
typedef struct _RINGTUN_SESSION_CONFIG {
    DWORD Size;            /* in: sizeof(RINGTUN_SESSION_CONFIG) */
    DWORD Flags;           /* RINGTUN_SESSION_* */
    DWORD ReceiveCapacity; /* power of two, WINTUN_MIN_RING_CAPACITY..WINTUN_MAX_RING_CAPACITY */
    DWORD SendCapacity;    /* likewise */
    WORD ReceiveHeadRoom;  /* exactly this many bytes in front of every received packet */
    WORD ReceiveTailRoom;  /* at least this many bytes after every received packet */
    WORD SendHeadRoom;     /* the most head room a sent packet's slot may have */
    WORD SendTailRoom;     /* the most tail room a sent packet's slot may have */
} RINGTUN_SESSION_CONFIG;

/* Why a session that asked for v2 runs on v1 rings. */
#define RINGTUN_FALLBACK_NONE 0u                /* it runs what it asked for */
#define RINGTUN_FALLBACK_NO_CAPABILITY_QUERY 1u /* the driver does not answer the capability query
                                                   (Wintun's driver, an old one); detail: the
                                                   query's Win32 error */
#define RINGTUN_FALLBACK_DRIVER_VERSION 2u      /* the driver has no v2; detail: its version */
#define RINGTUN_FALLBACK_UNSUPPORTED 3u         /* the room or flags asked for exceed the driver's */
#define RINGTUN_FALLBACK_REFUSED 4u             /* the driver refused the v2 registration; detail:
                                                   its Win32 error */

/* What a session got. */
typedef struct _RINGTUN_SESSION_INFO {
    DWORD Size;            /* in: sizeof(RINGTUN_SESSION_INFO) */
    DWORD Version;         /* 1 or 2 */
    DWORD Fallback;        /* RINGTUN_FALLBACK_* */
    DWORD FallbackDetail;  /* see RINGTUN_FALLBACK_* */
    DWORD Flags;           /* RINGTUN_SESSION_* in force */
    DWORD ReceiveCapacity;
    DWORD SendCapacity;
    WORD ReceiveHeadRoom;  /* 0 on v1 */
    WORD ReceiveTailRoom;  /* 0 on v1 */
    WORD SendHeadRoom;     /* 0 on v1 (see RingtunAllocateSendPacketEx) */
    WORD SendTailRoom;     /* 0 on v1 */
} RINGTUN_SESSION_INFO;

/*
 * What a session moved. A program built with the first version of this struct (48 bytes, up to
 * CopiedBytes) passes that Size and gets that much; the write-space counters follow it.
 */
typedef struct _RINGTUN_SESSION_STATISTICS {
    DWORD Size;             /* in: sizeof(RINGTUN_SESSION_STATISTICS), or 48 */
    DWORD Reserved;
    DWORD64 SentPackets;
    DWORD64 SentBytes;      /* IP bytes */
    DWORD64 ReceivedPackets;
    DWORD64 ReceivedBytes;  /* IP bytes */
    DWORD64 CopiedBytes;    /* packet bytes the library copied: only a sent packet moved inside its
                               slot on v1 rings (v1 has no data offset). 0: every byte stayed
                               where it was written. */
    DWORD64 SendRingFull;   /* allocations refused because the send ring was full (each a drop
                               unless the caller waited and tried again) */
    DWORD64 SpaceWaits;     /* RingtunWaitForSendSpace calls that had to wait */
    DWORD64 SpaceFound;     /* waits that ended with room */
    DWORD64 SpaceTimeouts;  /* waits that ended with ERROR_TIMEOUT */
    DWORD64 SpaceSignals;   /* times the driver's write-space signal woke a waiter */
} RINGTUN_SESSION_STATISTICS;

/*
 * A packet's offload metadata: the ABI's 16-byte block in every slot of a session with
 * RINGTUN_SESSION_OFFLOAD, the layout of Linux's struct virtio_net_hdr (little-endian) and 6
 * reserved bytes. All zero: a plain packet. docs/ring-protocol.md section 15 gives the rules the
 * driver checks a sent block against (a packet whose block breaks one is dropped and counted).
 */
typedef struct _RINGTUN_OFFLOAD_META {
    BYTE Flags;       /* RINGTUN_OFFLOAD_F_* (at most one) */
    BYTE GsoType;     /* RINGTUN_OFFLOAD_GSO_*, with RINGTUN_OFFLOAD_GSO_ECN on TCP types */
    WORD HdrLen;      /* super-packets: length of the IP and TCP/UDP headers; else 0 */
    WORD GsoSize;     /* super-packets: payload bytes per segment; else 0 */
    WORD CsumStart;   /* NEEDS_CSUM: where the checksummed range (the L4 header) starts; else 0 */
    WORD CsumOffset;  /* NEEDS_CSUM: the checksum field's offset from CsumStart (TCP 16, UDP 6) */
    BYTE Reserved[6]; /* zero */
} RINGTUN_OFFLOAD_META;

/* Flags and GsoType: the values of linux/virtio_net.h, as ringtun.h names them. */
#define RINGTUN_OFFLOAD_F_NEEDS_CSUM 1u  /* the L4 checksum holds the pseudo-header sum: complete it */
#define RINGTUN_OFFLOAD_F_DATA_VALID 2u  /* the checksums need not be verified */
#define RINGTUN_OFFLOAD_GSO_NONE 0u
#define RINGTUN_OFFLOAD_GSO_TCPV4 1u
#define RINGTUN_OFFLOAD_GSO_TCPV6 4u
#define RINGTUN_OFFLOAD_GSO_UDP_L4 5u
#define RINGTUN_OFFLOAD_GSO_ECN 0x80u

/*
 * One slot the client holds: a received packet, or an allocated packet to send. Its bytes after
 * the slot's header are Frame[0 .. FrameSize): head room (Offset bytes), the IP packet (Size
 * bytes), tail room (the rest). Frame identifies the slot; the client may change Offset and Size
 * of a slot it sends (moving and shrinking the packet inside the frame) before sending it.
 */
typedef struct _RINGTUN_PACKET {
    BYTE *Frame;
    DWORD FrameSize;
    DWORD Offset;
    DWORD Size;
} RINGTUN_PACKET;

/* The IP packet of a RINGTUN_PACKET. */
#define RINGTUN_PACKET_DATA(Packet) ((Packet)->Frame + (Packet)->Offset)

/*
 * Fills *Capabilities with what the adapter's driver offers. A driver that does not answer the
 * query (Wintun's, an old ringtun driver) is reported with MaxVersion 1, no room and no flags.
 * FALSE with ERROR_INVALID_PARAMETER for a NULL argument or a Size too small.
 */
typedef BOOL(WINAPI RINGTUN_GET_CAPABILITIES_FUNC)(WINTUN_ADAPTER_HANDLE Adapter, RINGTUN_CAPABILITIES *Capabilities);

/*
 * Starts a session as *Config asks: v2 rings with the room and flags asked for if the driver
 * has them, Wintun's v1 rings otherwise (RingtunGetSessionInfo says which and why; the logger
 * is told too). End it with WintunEndSession. NULL with ERROR_INVALID_PARAMETER (a bad capacity,
 * an unknown flag, a Size too small) or the driver's error.
 */
typedef WINTUN_SESSION_HANDLE(WINAPI RINGTUN_START_SESSION_FUNC)(WINTUN_ADAPTER_HANDLE Adapter,
                                                                  const RINGTUN_SESSION_CONFIG *Config);

/* Fills *Info with what the session got. */
typedef BOOL(WINAPI RINGTUN_GET_SESSION_INFO_FUNC)(WINTUN_SESSION_HANDLE Session, RINGTUN_SESSION_INFO *Info);

/* Fills *Statistics with what the session moved so far. */
typedef BOOL(WINAPI RINGTUN_GET_SESSION_STATISTICS_FUNC)(WINTUN_SESSION_HANDLE Session,
                                                         RINGTUN_SESSION_STATISTICS *Statistics);

/* ----- receiving ----- */

/*
 * The next received packet with its room: Frame, FrameSize, Offset (the head room: exactly
 * ReceiveHeadRoom on v2, 0 on v1) and Size. FALSE with ERROR_NO_MORE_ITEMS, ERROR_HANDLE_EOF or
 * ERROR_INVALID_DATA, as WintunReceivePacket. Release it with WintunReleaseReceivePacket
 * (RINGTUN_PACKET_DATA) or RingtunReleaseReceivePackets.
 */
typedef BOOL(WINAPI RINGTUN_RECEIVE_PACKET_EX_FUNC)(WINTUN_SESSION_HANDLE Session, RINGTUN_PACKET *Packet);

/*
 * Up to Count received packets under one lock; returns how many, or 0 with
 * the error as RingtunReceivePacketEx.
 */
typedef DWORD(WINAPI RINGTUN_RECEIVE_PACKETS_FUNC)(WINTUN_SESSION_HANDLE Session, RINGTUN_PACKET *Packets,
                                                   DWORD Count);

/*
 * Releases Count received packets, in any order, under one lock with one update of the ring.
 * Returns how many were released before the first entry that is not a packet the client holds
 * (that entry is skipped with ERROR_INVALID_PARAMETER; later valid entries are released too).
 */
typedef DWORD(WINAPI RINGTUN_RELEASE_RECEIVE_PACKETS_FUNC)(WINTUN_SESSION_HANDLE Session,
                                                           const RINGTUN_PACKET *Packets, DWORD Count);

/* ----- sending ----- */

/*
 * Allocates a slot for a packet of at most MaxSize bytes with HeadRoom bytes in front and at
 * least TailRoom after, in send order: Offset = HeadRoom, Size = MaxSize. Write the packet (or a
 * whole record to decrypt) into the frame, set Offset and Size to where the packet ends up, and
 * send it with RingtunSendPacketEx. On v2, room beyond the session's SendHeadRoom/SendTailRoom
 * fails with ERROR_INVALID_PARAMETER. On v1 rings the frame is one packet of HeadRoom + MaxSize +
 * TailRoom bytes (at most WINTUN_MAX_IP_PACKET_SIZE): a packet that does not start at the frame's
 * start when sent is moved there (a copy, counted in CopiedBytes), and only the last allocated
 * packet may change length. FALSE with ERROR_BUFFER_OVERFLOW, ERROR_HANDLE_EOF,
 * ERROR_INVALID_PARAMETER, as WintunAllocateSendPacket.
 */
typedef BOOL(WINAPI RINGTUN_ALLOCATE_SEND_PACKET_EX_FUNC)(WINTUN_SESSION_HANDLE Session, DWORD MaxSize,
                                                          WORD HeadRoom, WORD TailRoom, RINGTUN_PACKET *Packet);

/*
 * Up to Count slots as RingtunAllocateSendPacketEx makes them, under one
 * lock; returns how many (fewer when the ring fills), or 0 with the error.
 */
typedef DWORD(WINAPI RINGTUN_ALLOCATE_SEND_PACKETS_FUNC)(WINTUN_SESSION_HANDLE Session, DWORD MaxSize,
                                                         WORD HeadRoom, WORD TailRoom, RINGTUN_PACKET *Packets,
                                                         DWORD Count);

/*
 * Sends an allocated slot's packet: Size bytes at Offset in its frame (1 to
 * WINTUN_MAX_IP_PACKET_SIZE, inside the frame). On v2 the packet is moved and shrunk in place,
 * in any slot. Packets leave in allocation order. On failure the slot stays the client's:
 * ERROR_INVALID_PARAMETER (not a slot the client holds, or a range outside its frame),
 * ERROR_NOT_SUPPORTED (v1: a packet that is not the last allocated cannot change length),
 * ERROR_HANDLE_EOF (the session ended).
 */
typedef BOOL(WINAPI RINGTUN_SEND_PACKET_EX_FUNC)(WINTUN_SESSION_HANDLE Session, const RINGTUN_PACKET *Packet);

/*
 * Sends Count slots in order under one lock with one publication. Stops at the first that
 * cannot be sent (it and the later ones stay the client's) and returns how many were sent; the
 * last error says why it stopped.
 */
typedef DWORD(WINAPI RINGTUN_SEND_PACKETS_FUNC)(WINTUN_SESSION_HANDLE Session, const RINGTUN_PACKET *Packets,
                                                DWORD Count);

/*
 * Gives an allocated slot back unsent (v2: an empty slot the driver skips; v1: the last allocated
 * slot is taken back, another one goes out as a packet the driver drops).
 */
typedef BOOL(WINAPI RINGTUN_CANCEL_SEND_PACKET_FUNC)(WINTUN_SESSION_HANDLE Session, const RINGTUN_PACKET *Packet);

/*
 * Sends a packet from WintunAllocateSendPacket cut to its first PacketSize bytes (1 to its
 * allocated size). On v1 rings (with any driver, Wintun's too) only the last allocated packet
 * can be cut: ERROR_NOT_SUPPORTED for another, which stays the client's. On v2, any packet.
 */
typedef BOOL(WINAPI RINGTUN_SHRINK_SEND_PACKET_FUNC)(WINTUN_SESSION_HANDLE Session, const BYTE *Packet,
                                                     DWORD PacketSize);

/* ----- waiting for send space ----- */

/*
 * Waits up to Milliseconds (INFINITE: no limit; 0: only looks) until a slot as
 * RingtunAllocateSendPacketEx(Session, MaxSize, HeadRoom, TailRoom) would make it fits in the send
 * ring. Returns TRUE when it does; nothing is reserved, so allocate next (another thread of the
 * program may take the room first: allocate, and wait again on ERROR_BUFFER_OVERFLOW). For
 * WintunAllocateSendPacket(PacketSize), pass PacketSize, 0, 0. FALSE with:
 *   ERROR_TIMEOUT            the time is up and the slot still does not fit;
 *   ERROR_HANDLE_EOF         the session ended. A thread waiting when it ends is woken: with
 *                            this error, or with TRUE if the end freed space first (the driver
 *                            takes back what the stack held before it stops the ring), and then
 *                            the allocation fails with ERROR_HANDLE_EOF;
 *   ERROR_INVALID_PARAMETER  no allocation could make such a slot (size 0 or above 0xFFFF, room
 *                            beyond the session's).
 * With RINGTUN_SESSION_WRITE_SPACE granted, the thread sleeps on the session's write-space
 * signal: it announces itself in the ring, and the driver signals when it frees space; so the
 * wake comes from the driver, not a timer (SpaceSignals counts such wakes). Without it (v1 rings,
 * Wintun's driver, a driver without the signal), the ring is looked at every millisecond: the
 * call still works, without the signal. Any number of threads may wait at once, while others
 * allocate, send and receive; each wait is counted in the statistics (SpaceWaits, SpaceFound,
 * SpaceTimeouts, SpaceSignals). A wait never busy-loops. WintunEndSession must not run while a
 * thread waits (as with every call).
 */
typedef BOOL(WINAPI RINGTUN_WAIT_FOR_SEND_SPACE_FUNC)(WINTUN_SESSION_HANDLE Session, DWORD MaxSize, WORD HeadRoom,
                                                      WORD TailRoom, DWORD Milliseconds);

/* ----- offload metadata ----- */

/*
 * Fills *Meta with the offload metadata of a received packet the client holds (from
 * RingtunReceivePacketEx or RingtunReceivePackets, not yet released): a super-packet to cut into
 * GsoSize-byte segments, a checksum to complete (NEEDS_CSUM) or known good (DATA_VALID), or all
 * zero for a plain packet (always, in a session without RINGTUN_SESSION_OFFLOAD). The block is
 * the driver's, copied once: validate it against the packet before acting on it (ringtun.h's
 * rules, docs/ring-protocol.md section 15). FALSE with ERROR_INVALID_PARAMETER for a packet the
 * client does not hold.
 */
typedef BOOL(WINAPI RINGTUN_GET_RECEIVE_PACKET_OFFLOAD_FUNC)(WINTUN_SESSION_HANDLE Session,
                                                             const RINGTUN_PACKET *Packet, RINGTUN_OFFLOAD_META *Meta);

/*
 * Fills *Meta with the offload metadata of an allocated slot the client holds: what
 * RingtunSetSendPacketOffload set last; all zero for a new slot or without offloads.
 */
typedef BOOL(WINAPI RINGTUN_GET_SEND_PACKET_OFFLOAD_FUNC)(WINTUN_SESSION_HANDLE Session,
                                                          const RINGTUN_PACKET *Packet, RINGTUN_OFFLOAD_META *Meta);

/*
 * Sets the offload metadata of an allocated slot the client holds, before it is sent: a
 * super-packet (up to 0xFFFF bytes; allocate it with that MaxSize) for the driver or the stack to
 * cut, or a checksum left to complete. The driver validates the block against the packet when it
 * reads the slot and drops (and counts) a packet it does not fit. FALSE with ERROR_NOT_SUPPORTED
 * in a session without RINGTUN_SESSION_OFFLOAD, ERROR_INVALID_PARAMETER for a slot the client does
 * not hold.
 */
typedef BOOL(WINAPI RINGTUN_SET_SEND_PACKET_OFFLOAD_FUNC)(WINTUN_SESSION_HANDLE Session, const RINGTUN_PACKET *Packet,
                                                          const RINGTUN_OFFLOAD_META *Meta);

#ifndef RINGTUN_WINTUN_NO_PROTOTYPES
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

RINGTUN_GET_CAPABILITIES_FUNC RingtunGetCapabilities;
RINGTUN_START_SESSION_FUNC RingtunStartSession;
RINGTUN_GET_SESSION_INFO_FUNC RingtunGetSessionInfo;
RINGTUN_GET_SESSION_STATISTICS_FUNC RingtunGetSessionStatistics;
RINGTUN_RECEIVE_PACKET_EX_FUNC RingtunReceivePacketEx;
RINGTUN_RECEIVE_PACKETS_FUNC RingtunReceivePackets;
RINGTUN_RELEASE_RECEIVE_PACKETS_FUNC RingtunReleaseReceivePackets;
RINGTUN_ALLOCATE_SEND_PACKET_EX_FUNC RingtunAllocateSendPacketEx;
RINGTUN_ALLOCATE_SEND_PACKETS_FUNC RingtunAllocateSendPackets;
RINGTUN_SEND_PACKET_EX_FUNC RingtunSendPacketEx;
RINGTUN_SEND_PACKETS_FUNC RingtunSendPackets;
RINGTUN_CANCEL_SEND_PACKET_FUNC RingtunCancelSendPacket;
RINGTUN_SHRINK_SEND_PACKET_FUNC RingtunShrinkSendPacket;
RINGTUN_WAIT_FOR_SEND_SPACE_FUNC RingtunWaitForSendSpace;
RINGTUN_GET_RECEIVE_PACKET_OFFLOAD_FUNC RingtunGetReceivePacketOffload;
RINGTUN_GET_SEND_PACKET_OFFLOAD_FUNC RingtunGetSendPacketOffload;
RINGTUN_SET_SEND_PACKET_OFFLOAD_FUNC RingtunSetSendPacketOffload;
#endif

#ifdef __cplusplus
}
#endif

#endif /* RINGTUN_WINTUN_EXTENSIONS_H */
