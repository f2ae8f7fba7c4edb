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

typedef struct _NDIS_OFFLOAD_ENCAPSULATION {
    NDIS_OBJECT_HEADER Header;
    struct {
        ULONG Enabled;
        ULONG EncapsulationType;
        ULONG HeaderSize;
    } IPv4;
    struct {
        ULONG Enabled;
        ULONG EncapsulationType;
        ULONG HeaderSize;
    } IPv6;
} NDIS_OFFLOAD_ENCAPSULATION;

/* ndis.h: the input of NdisOpenConfigurationEx and what NdisReadConfiguration returns. */
typedef struct _NDIS_CONFIGURATION_OBJECT {
    NDIS_OBJECT_HEADER Header;
    NDIS_HANDLE NdisHandle;
    ULONG Flags;
} NDIS_CONFIGURATION_OBJECT;

typedef struct _UNICODE_STRING {
    USHORT Length;
    USHORT MaximumLength;
    USHORT *Buffer;
} UNICODE_STRING, NDIS_STRING;

typedef enum { NdisParameterIntegerDummy } NDIS_PARAMETER_TYPE;

typedef struct _NDIS_CONFIGURATION_PARAMETER {
    NDIS_PARAMETER_TYPE ParameterType;
    union {
        ULONG IntegerData;
        NDIS_STRING StringData;
        struct {
            USHORT Length;
            PVOID Buffer;
        } BinaryData;
    } ParameterData;
} NDIS_CONFIGURATION_PARAMETER;

typedef struct _NDIS_RSC_STATISTICS_INFO {
    NDIS_OBJECT_HEADER Header;
    ULONG64 CoalescedPkts;
    ULONG64 CoalescedOctets;
    ULONG64 CoalesceEvents;
    ULONG64 Aborts;
} NDIS_RSC_STATISTICS_INFO;

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
    UdpSegmentationOffloadInfo = TcpRecvSegCoalesceInfo, /* NDIS 6.83 (nblinfo.h of WDK 10.0.26100) */
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

/* ---- task offloads (ntddndis.h of WDK 10.0.16299; the UDP segmentation offload structures and
 * fields, NDIS 6.83, from ntddndis.h of WDK 10.0.26100) ---- */
typedef struct _NDIS_TCP_IP_CHECKSUM_OFFLOAD {
    struct { ULONG Encapsulation; ULONG IpOptionsSupported:2; ULONG TcpOptionsSupported:2; ULONG TcpChecksum:2;
             ULONG UdpChecksum:2; ULONG IpChecksum:2; } IPv4Transmit;
    struct { ULONG Encapsulation; ULONG IpOptionsSupported:2; ULONG TcpOptionsSupported:2; ULONG TcpChecksum:2;
             ULONG UdpChecksum:2; ULONG IpChecksum:2; } IPv4Receive;
    struct { ULONG Encapsulation; ULONG IpExtensionHeadersSupported:2; ULONG TcpOptionsSupported:2;
             ULONG TcpChecksum:2; ULONG UdpChecksum:2; } IPv6Transmit;
    struct { ULONG Encapsulation; ULONG IpExtensionHeadersSupported:2; ULONG TcpOptionsSupported:2;
             ULONG TcpChecksum:2; ULONG UdpChecksum:2; } IPv6Receive;
} NDIS_TCP_IP_CHECKSUM_OFFLOAD;

typedef struct _NDIS_TCP_LARGE_SEND_OFFLOAD_V1 {
    struct { ULONG Encapsulation; ULONG MaxOffLoadSize; ULONG MinSegmentCount; ULONG TcpOptions:2; ULONG IpOptions:2; } IPv4;
} NDIS_TCP_LARGE_SEND_OFFLOAD_V1;

typedef struct _NDIS_IPSEC_OFFLOAD_V1 {
    struct { ULONG Encapsulation; ULONG AhEspCombined; ULONG TransportTunnelCombined; ULONG IPv4Options; ULONG Flags; } Supported;
    struct { ULONG Md5:2; ULONG Sha_1:2; ULONG Transport:2; ULONG Tunnel:2; ULONG Send:2; ULONG Receive:2; } IPv4AH;
    struct { ULONG Des:2; ULONG Reserved:2; ULONG TripleDes:2; ULONG NullEsp:2; ULONG Transport:2; ULONG Tunnel:2;
             ULONG Send:2; ULONG Receive:2; } IPv4ESP;
} NDIS_IPSEC_OFFLOAD_V1;

typedef struct _NDIS_TCP_LARGE_SEND_OFFLOAD_V2 {
    struct { ULONG Encapsulation; ULONG MaxOffLoadSize; ULONG MinSegmentCount; } IPv4;
    struct { ULONG Encapsulation; ULONG MaxOffLoadSize; ULONG MinSegmentCount; ULONG IpExtensionHeadersSupported:2;
             ULONG TcpOptionsSupported:2; } IPv6;
} NDIS_TCP_LARGE_SEND_OFFLOAD_V2;

typedef struct _NDIS_IPSEC_OFFLOAD_V2 {
    ULONG Encapsulation;
    BOOLEAN IPv6Supported;
    BOOLEAN IPv4Options;
    BOOLEAN IPv6NonIPsecExtensionHeaders;
    BOOLEAN Ah;
    BOOLEAN Esp;
    BOOLEAN AhEspCombined;
    BOOLEAN Transport;
    BOOLEAN Tunnel;
    BOOLEAN TransportTunnelCombined;
    BOOLEAN LsoSupported;
    BOOLEAN ExtendedSequenceNumbers;
    ULONG UdpEsp;
    ULONG AuthenticationAlgorithms;
    ULONG EncryptionAlgorithms;
    ULONG SaOffloadCapacity;
} NDIS_IPSEC_OFFLOAD_V2;

typedef struct _NDIS_TCP_RECV_SEG_COALESCE_OFFLOAD {
    struct { BOOLEAN Enabled; } IPv4;
    struct { BOOLEAN Enabled; } IPv6;
} NDIS_TCP_RECV_SEG_COALESCE_OFFLOAD;

typedef struct _NDIS_ENCAPSULATED_PACKET_TASK_OFFLOAD {
    ULONG TransmitChecksumOffloadSupported:4;
    ULONG ReceiveChecksumOffloadSupported:4;
    ULONG LsoV2Supported:4;
    ULONG RssSupported:4;
    ULONG VmqSupported:4;
    ULONG MaxHeaderSizeSupported;
} NDIS_ENCAPSULATED_PACKET_TASK_OFFLOAD;

typedef struct _NDIS_ENCAPSULATED_PACKET_TASK_OFFLOAD_V2 {
    ULONG TransmitChecksumOffloadSupported:4;
    ULONG ReceiveChecksumOffloadSupported:4;
    ULONG LsoV2Supported:4;
    ULONG RssSupported:4;
    ULONG VmqSupported:4;
    ULONG Reserved:12;
    ULONG MaxHeaderSizeSupported;
    union { struct { USHORT VxlanUDPPortNumber; USHORT VxlanUDPPortNumberConfigurable:1; } VxlanInfo; ULONG Value; }
        EncapsulationProtocolInfo;
    ULONG Reserved1;
    ULONG Reserved2;
} NDIS_ENCAPSULATED_PACKET_TASK_OFFLOAD_V2;

typedef enum { NDIS_RFC6877_464XLAT_OFFLOAD_DUMMY } NDIS_RFC6877_464XLAT_OFFLOAD_OPTIONS;
typedef struct _NDIS_RFC6877_464XLAT_OFFLOAD {
    NDIS_RFC6877_464XLAT_OFFLOAD_OPTIONS XlatOffload;
    ULONG Flags;
} NDIS_RFC6877_464XLAT_OFFLOAD;

/* ntddndis.h of WDK 10.0.26100 (NDIS 6.83, with 6.84's SubMssFinalSegmentSupported bit). */
typedef struct _NDIS_UDP_SEGMENTATION_OFFLOAD {
    struct { ULONG Encapsulation; ULONG MaxOffLoadSize; ULONG MinSegmentCount:6; ULONG SubMssFinalSegmentSupported:1;
             ULONG Reserved:25; } IPv4;
    struct { ULONG Encapsulation; ULONG MaxOffLoadSize; ULONG MinSegmentCount:6; ULONG SubMssFinalSegmentSupported:1;
             ULONG Reserved1:25; ULONG IpExtensionHeadersSupported:2; ULONG Reserved2:30; } IPv6;
} NDIS_UDP_SEGMENTATION_OFFLOAD;

/* NDIS_OFFLOAD through UdpSegmentation (revision 6, NDIS 6.83; the members through Rfc6877Xlat,
 * revision 5, as in WDK 10.0.16299; later revisions append members the driver does not declare). */
typedef struct _NDIS_OFFLOAD {
    NDIS_OBJECT_HEADER Header;
    NDIS_TCP_IP_CHECKSUM_OFFLOAD Checksum;
    NDIS_TCP_LARGE_SEND_OFFLOAD_V1 LsoV1;
    NDIS_IPSEC_OFFLOAD_V1 IPsecV1;
    NDIS_TCP_LARGE_SEND_OFFLOAD_V2 LsoV2;
    ULONG Flags;
    NDIS_IPSEC_OFFLOAD_V2 IPsecV2;
    NDIS_TCP_RECV_SEG_COALESCE_OFFLOAD Rsc;
    NDIS_ENCAPSULATED_PACKET_TASK_OFFLOAD EncapsulatedPacketTaskOffloadGre;
    NDIS_ENCAPSULATED_PACKET_TASK_OFFLOAD_V2 EncapsulatedPacketTaskOffloadVxlan;
    UCHAR EncapsulationTypes;
    NDIS_RFC6877_464XLAT_OFFLOAD Rfc6877Xlat;
    NDIS_UDP_SEGMENTATION_OFFLOAD UdpSegmentation;
} NDIS_OFFLOAD;

typedef struct _NDIS_TCP_CONNECTION_OFFLOAD *PNDIS_TCP_CONNECTION_OFFLOAD;
typedef struct _NDIS_MINIPORT_ADAPTER_OFFLOAD_ATTRIBUTES {
    NDIS_OBJECT_HEADER Header;
    NDIS_OFFLOAD *DefaultOffloadConfiguration;
    NDIS_OFFLOAD *HardwareOffloadCapabilities;
    PNDIS_TCP_CONNECTION_OFFLOAD DefaultTcpConnectionOffloadConfiguration;
    PNDIS_TCP_CONNECTION_OFFLOAD TcpConnectionOffloadHardwareCapabilities;
} NDIS_MINIPORT_ADAPTER_OFFLOAD_ATTRIBUTES;

/* NDIS_OFFLOAD_PARAMETERS through UdpSegmentation (revision 5, NDIS 6.83, of WDK 10.0.26100; through
 * EncapsulationProtocolParameters, revision 4, the WDK 10.0.16299 layout). */
typedef struct _NDIS_OFFLOAD_PARAMETERS {
    NDIS_OBJECT_HEADER Header;
    UCHAR IPv4Checksum;
    UCHAR TCPIPv4Checksum;
    UCHAR UDPIPv4Checksum;
    UCHAR TCPIPv6Checksum;
    UCHAR UDPIPv6Checksum;
    UCHAR LsoV1;
    UCHAR IPsecV1;
    UCHAR LsoV2IPv4;
    UCHAR LsoV2IPv6;
    UCHAR TcpConnectionIPv4;
    UCHAR TcpConnectionIPv6;
    ULONG Flags;
    UCHAR IPsecV2;
    UCHAR IPsecV2IPv4;
    struct { UCHAR RscIPv4; UCHAR RscIPv6; };
    struct { UCHAR EncapsulatedPacketTaskOffload; UCHAR EncapsulationTypes; };
    union { struct { USHORT VxlanUDPPortNumber; } VxlanParameters; ULONG Value; } EncapsulationProtocolParameters;
    struct { UCHAR IPv4; UCHAR IPv6; } UdpSegmentation;
} NDIS_OFFLOAD_PARAMETERS;

/* ---- per-NBL offload information (ndis.h of WDK 10.0.16299; USO: nbluso.h of WDK 10.0.26100) ---- */
typedef struct _NDIS_TCP_LARGE_SEND_OFFLOAD_NET_BUFFER_LIST_INFO {
    union {
        struct { ULONG Unused:30; ULONG Type:1; ULONG Reserved2:1; } Transmit;
        struct { ULONG MSS:20; ULONG TcpHeaderOffset:10; ULONG Type:1; ULONG Reserved2:1; } LsoV1Transmit;
        struct { ULONG TcpPayload:30; ULONG Type:1; ULONG Reserved2:1; } LsoV1TransmitComplete;
        struct { ULONG MSS:20; ULONG TcpHeaderOffset:10; ULONG Type:1; ULONG IPVersion:1; } LsoV2Transmit;
        struct { ULONG Reserved:30; ULONG Type:1; ULONG Reserved2:1; } LsoV2TransmitComplete;
        PVOID Value;
    };
} NDIS_TCP_LARGE_SEND_OFFLOAD_NET_BUFFER_LIST_INFO;

/* The Receive arm as an NDIS 6.30+ driver sees it. */
typedef struct _NDIS_TCP_IP_CHECKSUM_NET_BUFFER_LIST_INFO {
    union {
        struct { ULONG IsIPv4:1; ULONG IsIPv6:1; ULONG TcpChecksum:1; ULONG UdpChecksum:1; ULONG IpHeaderChecksum:1;
                 ULONG Reserved:11; ULONG TcpHeaderOffset:10; } Transmit;
        struct { ULONG TcpChecksumFailed:1; ULONG UdpChecksumFailed:1; ULONG IpChecksumFailed:1;
                 ULONG TcpChecksumSucceeded:1; ULONG UdpChecksumSucceeded:1; ULONG IpChecksumSucceeded:1;
                 ULONG Loopback:1; ULONG TcpChecksumValueInvalid:1; ULONG IpChecksumValueInvalid:1; } Receive;
        PVOID Value;
    };
} NDIS_TCP_IP_CHECKSUM_NET_BUFFER_LIST_INFO;

typedef struct _NDIS_UDP_SEGMENTATION_OFFLOAD_NET_BUFFER_LIST_INFO {
    union {
        struct { ULONG MSS:20; ULONG UdpHeaderOffset:10; ULONG Reserved:1; ULONG IPVersion:1; } Transmit;
        PVOID Value;
    };
} NDIS_UDP_SEGMENTATION_OFFLOAD_NET_BUFFER_LIST_INFO;

typedef union _NDIS_RSC_NBL_INFO {
    struct { USHORT CoalescedSegCount; USHORT DupAckCount; } Info;
    PVOID Value;
} NDIS_RSC_NBL_INFO;
