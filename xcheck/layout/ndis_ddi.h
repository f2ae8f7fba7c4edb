/*
 * The NDIS 6 structures driver/src/windows/ndis.rs declares, restated in C from the header text
 * of the WDK 10.0.16299 headers (ndis.h, ntddndis.h) with their alignment attributes
 * (DECLSPEC_ALIGN(MEMORY_ALLOCATION_ALIGNMENT)) and the conditional fields as a 64-bit NDIS 6.80
 * miniport sees them, for a C compiler with MSVC's layout rules to check the offsets the Rust
 * side asserts. Self-contained: the WDK is not available on Linux (where it is at hand,
 * check-ndis-layout also compiles the same assertions against the WDK's own ndis.h).
 * 64-bit targets only: the kernel shell is built for x64 and arm64.
 */
#include <stddef.h>

typedef unsigned char UCHAR;
typedef unsigned short USHORT;
typedef unsigned long ULONG; /* 32 bits on every Windows target */
typedef long LONG;
typedef unsigned long long ULONG64;
typedef unsigned long long ULONGLONG;
typedef void *PVOID;
typedef void *NDIS_HANDLE;
typedef LONG NDIS_STATUS;
typedef ULONG NDIS_OID, *PNDIS_OID;
typedef ULONG NDIS_PORT_NUMBER;
typedef USHORT NET_IFTYPE;
typedef unsigned char BOOLEAN;
typedef size_t SIZE_T;
typedef struct _MDL *PMDL;
typedef struct { ULONG Data1; USHORT Data2; USHORT Data3; UCHAR Data4[8]; } GUID;
typedef enum { NdisMediumIPDummy } NDIS_MEDIUM;
typedef enum { NdisPhysicalMediumDummy } NDIS_PHYSICAL_MEDIUM;
typedef enum { MediaConnectStateDummy } NDIS_MEDIA_CONNECT_STATE;
typedef enum { MediaDuplexStateDummy } NDIS_MEDIA_DUPLEX_STATE;
typedef enum { NET_IF_ACCESS_DUMMY = 1 } NET_IF_ACCESS_TYPE;
typedef enum { NET_IF_DIRECTION_DUMMY } NET_IF_DIRECTION_TYPE;
typedef enum { NET_IF_CONNECTION_DUMMY = 1 } NET_IF_CONNECTION_TYPE;
typedef enum { NdisPauseFunctionsDummy } NDIS_SUPPORTED_PAUSE_FUNCTIONS;
typedef enum { NdisInterruptModerationDummy } NDIS_INTERRUPT_MODERATION;
typedef enum { NdisInterfaceDummy } NDIS_INTERFACE_TYPE;
typedef enum { NdisRequestDummy } NDIS_REQUEST_TYPE;
typedef enum { NdisDevicePnPEventDummy } NDIS_DEVICE_PNP_EVENT;
typedef void (*HANDLER)(void); /* every MINIPORT_*_HANDLER is a function pointer */

#if !defined(_WIN64)
#error "64-bit targets only"
#endif
/* ntdef.h */
#define MEMORY_ALLOCATION_ALIGNMENT 16
#define DECLSPEC_ALIGN(x) __declspec(align(x))
typedef ULONGLONG NDIS_PHYSICAL_ADDRESS; /* LARGE_INTEGER: 8 bytes, 8-aligned */
/* wdm.h: SLIST_HEADER on 64-bit targets */
typedef union DECLSPEC_ALIGN(16) { ULONGLONG Alignment[2]; } SLIST_HEADER;

typedef struct _NDIS_OBJECT_HEADER { UCHAR Type; UCHAR Revision; USHORT Size; } NDIS_OBJECT_HEADER;

typedef struct _NDIS_MINIPORT_DRIVER_CHARACTERISTICS {
    NDIS_OBJECT_HEADER Header;
    UCHAR MajorNdisVersion;
    UCHAR MinorNdisVersion;
    UCHAR MajorDriverVersion;
    UCHAR MinorDriverVersion;
    ULONG Flags;
    HANDLER SetOptionsHandler;
    HANDLER InitializeHandlerEx;
    HANDLER HaltHandlerEx;
    HANDLER UnloadHandler;
    HANDLER PauseHandler;
    HANDLER RestartHandler;
    HANDLER OidRequestHandler;
    HANDLER SendNetBufferListsHandler;
    HANDLER ReturnNetBufferListsHandler;
    HANDLER CancelSendHandler;
    HANDLER CheckForHangHandlerEx;
    HANDLER ResetHandlerEx;
    HANDLER DevicePnPEventNotifyHandler;
    HANDLER ShutdownHandlerEx;
    HANDLER CancelOidRequestHandler;
    HANDLER DirectOidRequestHandler;
    HANDLER CancelDirectOidRequestHandler;
    HANDLER SynchronousOidRequestHandler;
} NDIS_MINIPORT_DRIVER_CHARACTERISTICS;

typedef struct _NDIS_MINIPORT_ADAPTER_REGISTRATION_ATTRIBUTES {
    NDIS_OBJECT_HEADER Header;
    NDIS_HANDLE MiniportAdapterContext;
    ULONG AttributeFlags;
    unsigned int CheckForHangTimeInSeconds;
    NDIS_INTERFACE_TYPE InterfaceType;
} NDIS_MINIPORT_ADAPTER_REGISTRATION_ATTRIBUTES;

#define NDIS_MAX_PHYS_ADDRESS_LENGTH 32
typedef struct _NDIS_MINIPORT_ADAPTER_GENERAL_ATTRIBUTES {
    NDIS_OBJECT_HEADER Header;
    ULONG Flags;
    NDIS_MEDIUM MediaType;
    NDIS_PHYSICAL_MEDIUM PhysicalMediumType;
    ULONG MtuSize;
    ULONG64 MaxXmitLinkSpeed;
    ULONG64 XmitLinkSpeed;
    ULONG64 MaxRcvLinkSpeed;
    ULONG64 RcvLinkSpeed;
    NDIS_MEDIA_CONNECT_STATE MediaConnectState;
    NDIS_MEDIA_DUPLEX_STATE MediaDuplexState;
    ULONG LookaheadSize;
    PVOID PowerManagementCapabilities;
    ULONG MacOptions;
    ULONG SupportedPacketFilters;
    ULONG MaxMulticastListSize;
    USHORT MacAddressLength;
    UCHAR PermanentMacAddress[NDIS_MAX_PHYS_ADDRESS_LENGTH];
    UCHAR CurrentMacAddress[NDIS_MAX_PHYS_ADDRESS_LENGTH];
    PVOID RecvScaleCapabilities;
    NET_IF_ACCESS_TYPE AccessType;
    NET_IF_DIRECTION_TYPE DirectionType;
    NET_IF_CONNECTION_TYPE ConnectionType;
    NET_IFTYPE IfType;
    BOOLEAN IfConnectorPresent;
    ULONG SupportedStatistics;
    ULONG SupportedPauseFunctions;
    ULONG DataBackFillSize;
    ULONG ContextBackFillSize;
    PNDIS_OID SupportedOidList;
    ULONG SupportedOidListLength;
    ULONG AutoNegotiationFlags;
    PVOID PowerManagementCapabilitiesEx;
} NDIS_MINIPORT_ADAPTER_GENERAL_ATTRIBUTES;

typedef struct _NET_BUFFER_LIST_POOL_PARAMETERS {
    NDIS_OBJECT_HEADER Header;
    UCHAR ProtocolId;
    BOOLEAN fAllocateNetBuffer;
    USHORT ContextSize;
    ULONG PoolTag;
    ULONG DataSize;
} NET_BUFFER_LIST_POOL_PARAMETERS;

typedef struct _NDIS_LINK_STATE {
    NDIS_OBJECT_HEADER Header;
    NDIS_MEDIA_CONNECT_STATE MediaConnectState;
    NDIS_MEDIA_DUPLEX_STATE MediaDuplexState;
    ULONG64 XmitLinkSpeed;
    ULONG64 RcvLinkSpeed;
    NDIS_SUPPORTED_PAUSE_FUNCTIONS PauseFunctions;
    ULONG AutoNegotiationFlags;
} NDIS_LINK_STATE;

typedef struct _NDIS_STATUS_INDICATION {
    NDIS_OBJECT_HEADER Header;
    NDIS_HANDLE SourceHandle;
    NDIS_PORT_NUMBER PortNumber;
    NDIS_STATUS StatusCode;
    ULONG Flags;
    NDIS_HANDLE DestinationHandle;
    PVOID RequestId;
    PVOID StatusBuffer;
    ULONG StatusBufferSize;
    GUID Guid;
    PVOID NdisReserved[4];
} NDIS_STATUS_INDICATION;

typedef struct _NDIS_STATISTICS_INFO {
    NDIS_OBJECT_HEADER Header;
    ULONG SupportedStatistics;
    ULONG64 ifInDiscards;
    ULONG64 ifInErrors;
    ULONG64 ifHCInOctets;
    ULONG64 ifHCInUcastPkts;
    ULONG64 ifHCInMulticastPkts;
    ULONG64 ifHCInBroadcastPkts;
    ULONG64 ifHCOutOctets;
    ULONG64 ifHCOutUcastPkts;
    ULONG64 ifHCOutMulticastPkts;
    ULONG64 ifHCOutBroadcastPkts;
    ULONG64 ifOutErrors;
    ULONG64 ifOutDiscards;
    ULONG64 ifHCInUcastOctets;
    ULONG64 ifHCInMulticastOctets;
    ULONG64 ifHCInBroadcastOctets;
    ULONG64 ifHCOutUcastOctets;
    ULONG64 ifHCOutMulticastOctets;
    ULONG64 ifHCOutBroadcastOctets;
} NDIS_STATISTICS_INFO;

typedef enum { NdisDeviceStateDummy } NDIS_DEVICE_POWER_STATE;
typedef struct _NDIS_PM_CAPABILITIES {
    NDIS_OBJECT_HEADER Header;
    ULONG Flags;
    ULONG SupportedWoLPacketPatterns;
    ULONG NumTotalWoLPatterns;
    ULONG MaxWoLPatternSize;
    ULONG MaxWoLPatternOffset;
    ULONG MaxWoLPacketSaveBuffer;
    ULONG SupportedProtocolOffloads;
    ULONG NumArpOffloadIPv4Addresses;
    ULONG NumNSOffloadIPv6Addresses;
    NDIS_DEVICE_POWER_STATE MinMagicPacketWakeUp;
    NDIS_DEVICE_POWER_STATE MinPatternWakeUp;
    NDIS_DEVICE_POWER_STATE MinLinkChangeWakeUp;
    ULONG SupportedWakeUpEvents;
    ULONG MediaSpecificWakeUpEvents;
} NDIS_PM_CAPABILITIES;

typedef struct _NDIS_INTERRUPT_MODERATION_PARAMETERS {
    NDIS_OBJECT_HEADER Header;
    ULONG Flags;
    NDIS_INTERRUPT_MODERATION InterruptModeration;
} NDIS_INTERRUPT_MODERATION_PARAMETERS;

/* The query arm of NDIS_OID_REQUEST::DATA (ndis.rs: NDIS_OID_REQUEST_INFORMATION). */
typedef struct _NDIS_OID_REQUEST_INFORMATION {
    NDIS_OID Oid;
    PVOID InformationBuffer;
    ULONG InformationBufferLength;
    ULONG BytesWrittenOrRead;
    ULONG BytesNeeded;
} NDIS_OID_REQUEST_INFORMATION;

typedef struct _NDIS_OID_REQUEST {
    NDIS_OBJECT_HEADER Header;
    NDIS_REQUEST_TYPE RequestType;
    NDIS_PORT_NUMBER PortNumber;
    ULONG Timeout;
    PVOID RequestId;
    NDIS_HANDLE RequestHandle;
    union _REQUEST_DATA {
        struct _QUERY { NDIS_OID Oid; PVOID InformationBuffer; unsigned int InformationBufferLength;
                        unsigned int BytesWritten; unsigned int BytesNeeded; } QUERY_INFORMATION;
        struct _SET { NDIS_OID Oid; PVOID InformationBuffer; unsigned int InformationBufferLength;
                      unsigned int BytesRead; unsigned int BytesNeeded; } SET_INFORMATION;
        struct _METHOD { NDIS_OID Oid; PVOID InformationBuffer; ULONG InputBufferLength;
                         ULONG OutputBufferLength; ULONG MethodId; unsigned int BytesWritten;
                         unsigned int BytesRead; unsigned int BytesNeeded; } METHOD_INFORMATION;
    } DATA;
    UCHAR NdisReserved[16 * sizeof(PVOID)];
    UCHAR MiniportReserved[2 * sizeof(PVOID)];
    UCHAR SourceReserved[2 * sizeof(PVOID)];
    UCHAR SupportedRevision;
    UCHAR Reserved1;
    USHORT Reserved2;
} NDIS_OID_REQUEST;

typedef struct _NET_DEVICE_PNP_EVENT {
    NDIS_OBJECT_HEADER Header;
    NDIS_PORT_NUMBER PortNumber;
    NDIS_DEVICE_PNP_EVENT DevicePnPEvent;
    PVOID InformationBuffer;
    ULONG InformationBufferLength;
    UCHAR NdisReserved[2 * sizeof(PVOID)];
} NET_DEVICE_PNP_EVENT;

typedef struct _NET_BUFFER {
    union {
        struct {
            struct _NET_BUFFER *Next;
            PMDL CurrentMdl;
            ULONG CurrentMdlOffset;
            union { ULONG DataLength; SIZE_T stDataLength; };
            PMDL MdlChain;
            ULONG DataOffset;
        };
        SLIST_HEADER Link;
    };
    USHORT ChecksumBias;
    USHORT Reserved;
    NDIS_HANDLE NdisPoolHandle;
    DECLSPEC_ALIGN(MEMORY_ALLOCATION_ALIGNMENT) PVOID NdisReserved[2];
    DECLSPEC_ALIGN(MEMORY_ALLOCATION_ALIGNMENT) PVOID ProtocolReserved[6];
    DECLSPEC_ALIGN(MEMORY_ALLOCATION_ALIGNMENT) PVOID MiniportReserved[4];
    NDIS_PHYSICAL_ADDRESS DataPhysicalAddress;
    PVOID SharedMemoryInfo; /* NDIS 6.20+: a union of two pointers */
} NET_BUFFER;

/* NDIS_NET_BUFFER_LIST_INFO for a 64-bit NDIS 6.80 miniport (the entries after
 * NetBufferListFrameType depend on the NDIS version and architecture). */
typedef enum _NDIS_NET_BUFFER_LIST_INFO {
    TcpIpChecksumNetBufferListInfo,
    TcpOffloadBytesTransferred = TcpIpChecksumNetBufferListInfo,
    IPsecOffloadV1NetBufferListInfo,
    IPsecOffloadV2NetBufferListInfo = IPsecOffloadV1NetBufferListInfo,
    TcpLargeSendNetBufferListInfo,
    TcpReceiveNoPush = TcpLargeSendNetBufferListInfo,
    ClassificationHandleNetBufferListInfo,
    Ieee8021QNetBufferListInfo,
    NetBufferListCancelId,
    MediaSpecificInformation,
    NetBufferListFrameType,
    NetBufferListProtocolId = NetBufferListFrameType,
    NetBufferListHashValue,
    NetBufferListHashInfo,
    WfpNetBufferListInfo,
    IPsecOffloadV2TunnelNetBufferListInfo,
    IPsecOffloadV2HeaderNetBufferListInfo,
    NetBufferListCorrelationId,
    NetBufferListFilteringInfo,
    MediaSpecificInformationEx,
    NblOriginalInterfaceIfIndex,
    NblReAuthWfpFlowContext = NblOriginalInterfaceIfIndex,
    TcpReceiveBytesTransferred,
    NrtNameResolutionId = TcpReceiveBytesTransferred,
    SwitchForwardingReserved,
    SwitchForwardingDetail,
    VirtualSubnetInfo,
    IMReserved,
    TcpRecvSegCoalesceInfo,
    RscTcpTimestampDelta,
    TcpSendOffloadsSupplementalNetBufferListInfo = RscTcpTimestampDelta,
    GftOffloadInformation,
    GftFlowEntryId,
    NetBufferListInfoReserved3,
    MaxNetBufferListInfo
} NDIS_NET_BUFFER_LIST_INFO;

typedef struct _NET_BUFFER_LIST {
    union {
        struct { struct _NET_BUFFER_LIST *Next; NET_BUFFER *FirstNetBuffer; };
        SLIST_HEADER Link;
    };
    PVOID Context;
    struct _NET_BUFFER_LIST *ParentNetBufferList;
    NDIS_HANDLE NdisPoolHandle;
    DECLSPEC_ALIGN(MEMORY_ALLOCATION_ALIGNMENT) PVOID NdisReserved[2];
    DECLSPEC_ALIGN(MEMORY_ALLOCATION_ALIGNMENT) PVOID ProtocolReserved[4];
    DECLSPEC_ALIGN(MEMORY_ALLOCATION_ALIGNMENT) PVOID MiniportReserved[2];
    PVOID Scratch;
    NDIS_HANDLE SourceHandle;
    ULONG NblFlags;
    LONG ChildRefCount;
    ULONG Flags;
    union { NDIS_STATUS Status; ULONG NdisReserved2; };
    PVOID NetBufferListInfo[MaxNetBufferListInfo];
} NET_BUFFER_LIST;
