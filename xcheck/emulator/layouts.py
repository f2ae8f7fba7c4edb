"""x64 layouts of the Windows structures the emulator model reads and writes.

Transcribed from the header text, field by field, and laid out by ctypes with C's rules (the same
as MSVC's for these structures on x64), never from the driver's own declarations
(driver/src/windows/ndis.rs): a wrong offset in the driver then shows up as a wrong value here.

Sources: ndis.h and ntddndis.h (WDK 10.0.16299) for NDIS (NDIS_OID_REQUEST, NET_DEVICE_PNP_EVENT
from ndis.h; NDIS_STATISTICS_INFO, NDIS_INTERRUPT_MODERATION_PARAMETERS, NDIS_OFFLOAD from
ntddndis.h; the USO items of NDIS 6.83 from ntddndis.h and nbluso.h of WDK 10.0.26100); wdm.h / ntddk.h (WDK 10.0.16299, and
MinGW-w64's DDK headers) for IRP, IO_STACK_LOCATION, MDL, DRIVER_OBJECT, KEVENT,
SECURITY_SUBJECT_CONTEXT; wdfdriver.h for WDF_DRIVER_CONFIG; ringtun.h for the ring ABI.
`DECLSPEC_ALIGN(MEMORY_ALLOCATION_ALIGNMENT)` (16 on x64) is written out as explicit padding.
"""
import ctypes as C

PTR = C.c_uint64
ULONG = C.c_uint32
LONG = C.c_int32
USHORT = C.c_uint16
UCHAR = C.c_uint8
ULONG64 = C.c_uint64
ENUM = C.c_int32


class Struct(C.Structure):
    @classmethod
    def off(cls, name):
        return getattr(cls, name).offset

    @classmethod
    def through(cls, name):
        """RTL_SIZEOF_THROUGH_FIELD."""
        f = getattr(cls, name)
        return f.offset + f.size


# ---- ntddndis.h / ndis.h ----
class NDIS_OBJECT_HEADER(Struct):
    _fields_ = [("Type", UCHAR), ("Revision", UCHAR), ("Size", USHORT)]


class NDIS_MINIPORT_DRIVER_CHARACTERISTICS(Struct):
    _fields_ = [("Header", NDIS_OBJECT_HEADER), ("MajorNdisVersion", UCHAR), ("MinorNdisVersion", UCHAR),
                ("MajorDriverVersion", UCHAR), ("MinorDriverVersion", UCHAR), ("Flags", ULONG)] + [
        (n, PTR) for n in (
            "SetOptionsHandler", "InitializeHandlerEx", "HaltHandlerEx", "UnloadHandler", "PauseHandler",
            "RestartHandler", "OidRequestHandler", "SendNetBufferListsHandler", "ReturnNetBufferListsHandler",
            "CancelSendHandler", "CheckForHangHandlerEx", "ResetHandlerEx", "DevicePnPEventNotifyHandler",
            "ShutdownHandlerEx", "CancelOidRequestHandler", "DirectOidRequestHandler",
            "CancelDirectOidRequestHandler", "SynchronousOidRequestHandler")]


class NDIS_MINIPORT_ADAPTER_REGISTRATION_ATTRIBUTES(Struct):
    _fields_ = [("Header", NDIS_OBJECT_HEADER), ("MiniportAdapterContext", PTR), ("AttributeFlags", ULONG),
                ("CheckForHangTimeInSeconds", ULONG), ("InterfaceType", ENUM)]


class NDIS_MINIPORT_ADAPTER_GENERAL_ATTRIBUTES(Struct):
    _fields_ = [
        ("Header", NDIS_OBJECT_HEADER), ("Flags", ULONG), ("MediaType", ENUM), ("PhysicalMediumType", ENUM),
        ("MtuSize", ULONG), ("MaxXmitLinkSpeed", ULONG64), ("XmitLinkSpeed", ULONG64),
        ("MaxRcvLinkSpeed", ULONG64), ("RcvLinkSpeed", ULONG64), ("MediaConnectState", ENUM),
        ("MediaDuplexState", ENUM), ("LookaheadSize", ULONG), ("PowerManagementCapabilities", PTR),
        ("MacOptions", ULONG), ("SupportedPacketFilters", ULONG), ("MaxMulticastListSize", ULONG),
        ("MacAddressLength", USHORT), ("PermanentMacAddress", UCHAR * 32), ("CurrentMacAddress", UCHAR * 32),
        ("RecvScaleCapabilities", PTR), ("AccessType", ENUM), ("DirectionType", ENUM), ("ConnectionType", ENUM),
        ("IfType", USHORT), ("IfConnectorPresent", UCHAR), ("SupportedStatistics", ULONG),
        ("SupportedPauseFunctions", ENUM), ("DataBackFillSize", ULONG), ("ContextBackFillSize", ULONG),
        ("SupportedOidList", PTR), ("SupportedOidListLength", ULONG), ("AutoNegotiationFlags", ULONG),
        ("PowerManagementCapabilitiesEx", PTR)]


class NDIS_PM_CAPABILITIES(Struct):
    _fields_ = [("Header", NDIS_OBJECT_HEADER), ("Flags", ULONG), ("SupportedWoLPacketPatterns", ULONG),
                ("NumTotalWoLPatterns", ULONG), ("MaxWoLPatternSize", ULONG), ("MaxWoLPatternOffset", ULONG),
                ("MaxWoLPacketSaveBuffer", ULONG), ("SupportedProtocolOffloads", ULONG),
                ("NumArpOffloadIPv4Addresses", ULONG), ("NumNSOffloadIPv6Addresses", ULONG),
                ("MinMagicPacketWakeUp", ENUM), ("MinPatternWakeUp", ENUM), ("MinLinkChangeWakeUp", ENUM),
                ("SupportedWakeUpEvents", ULONG), ("MediaSpecificWakeUpEvents", ULONG)]


class NET_BUFFER_LIST_POOL_PARAMETERS(Struct):
    _fields_ = [("Header", NDIS_OBJECT_HEADER), ("ProtocolId", UCHAR), ("fAllocateNetBuffer", UCHAR),
                ("ContextSize", USHORT), ("PoolTag", ULONG), ("DataSize", ULONG)]


class NDIS_LINK_STATE(Struct):
    _fields_ = [("Header", NDIS_OBJECT_HEADER), ("MediaConnectState", ENUM), ("MediaDuplexState", ENUM),
                ("XmitLinkSpeed", ULONG64), ("RcvLinkSpeed", ULONG64), ("PauseFunctions", ENUM),
                ("AutoNegotiationFlags", ULONG)]


class NDIS_STATUS_INDICATION(Struct):
    _fields_ = [("Header", NDIS_OBJECT_HEADER), ("SourceHandle", PTR), ("PortNumber", ULONG),
                ("StatusCode", LONG), ("Flags", ULONG), ("DestinationHandle", PTR), ("RequestId", PTR),
                ("StatusBuffer", PTR), ("StatusBufferSize", ULONG), ("Guid", UCHAR * 16),
                ("NdisReserved", PTR * 4)]


class NDIS_OID_REQUEST_QUERY(Struct):
    """The QUERY_INFORMATION arm of NDIS_OID_REQUEST::DATA; the SET_INFORMATION arm has the same
    shape with BytesRead in place of BytesWritten."""
    _fields_ = [("Oid", ULONG), ("InformationBuffer", PTR), ("InformationBufferLength", ULONG),
                ("BytesWritten", ULONG), ("BytesNeeded", ULONG)]


class NDIS_OID_REQUEST_METHOD(Struct):
    """The METHOD_INFORMATION arm of NDIS_OID_REQUEST::DATA (ndis.h): where the query/set arm has
    BytesWritten and BytesNeeded (0x14, 0x18), this one has the caller's OutputBufferLength and
    MethodId."""
    _fields_ = [("Oid", ULONG), ("InformationBuffer", PTR), ("InputBufferLength", ULONG),
                ("OutputBufferLength", ULONG), ("MethodId", ULONG), ("BytesWritten", ULONG), ("BytesRead", ULONG),
                ("BytesNeeded", ULONG)]


class NDIS_OID_REQUEST_DATA(C.Union):
    _fields_ = [("QUERY_INFORMATION", NDIS_OID_REQUEST_QUERY), ("SET_INFORMATION", NDIS_OID_REQUEST_QUERY),
                ("METHOD_INFORMATION", NDIS_OID_REQUEST_METHOD)]


class NDIS_OID_REQUEST(Struct):
    """ndis.h: revision 2 (NDIS 6.50+: SwitchId, VPortId, Flags after Reserved2)."""
    _fields_ = [("Header", NDIS_OBJECT_HEADER), ("RequestType", ENUM), ("PortNumber", ULONG), ("Timeout", ULONG),
                ("RequestId", PTR), ("RequestHandle", PTR), ("DATA", NDIS_OID_REQUEST_DATA),
                ("NdisReserved", UCHAR * (16 * 8)), ("MiniportReserved", UCHAR * 16), ("SourceReserved", UCHAR * 16),
                ("SupportedRevision", UCHAR), ("Reserved1", UCHAR), ("Reserved2", USHORT), ("SwitchId", ULONG),
                ("VPortId", ULONG), ("Flags", ULONG)]


# Offsets of the query/set arm's fields inside NDIS_OID_REQUEST.
OID_REQUEST_DATA = NDIS_OID_REQUEST.off("DATA")


class NDIS_STATISTICS_INFO(Struct):
    _fields_ = [("Header", NDIS_OBJECT_HEADER), ("SupportedStatistics", ULONG)] + [
        (n, ULONG64) for n in (
            "ifInDiscards", "ifInErrors", "ifHCInOctets", "ifHCInUcastPkts", "ifHCInMulticastPkts",
            "ifHCInBroadcastPkts", "ifHCOutOctets", "ifHCOutUcastPkts", "ifHCOutMulticastPkts",
            "ifHCOutBroadcastPkts", "ifOutErrors", "ifOutDiscards", "ifHCInUcastOctets", "ifHCInMulticastOctets",
            "ifHCInBroadcastOctets", "ifHCOutUcastOctets", "ifHCOutMulticastOctets", "ifHCOutBroadcastOctets")]


class NDIS_INTERRUPT_MODERATION_PARAMETERS(Struct):
    _fields_ = [("Header", NDIS_OBJECT_HEADER), ("Flags", ULONG), ("InterruptModeration", ENUM)]


class NET_DEVICE_PNP_EVENT(Struct):
    _fields_ = [("Header", NDIS_OBJECT_HEADER), ("PortNumber", ULONG), ("DevicePnPEvent", ENUM),
                ("InformationBuffer", PTR), ("InformationBufferLength", ULONG), ("NdisReserved", UCHAR * 16)]


# NDIS_NET_BUFFER_LIST_INFO (ndis.h): TcpIpChecksum 0, IPsecOffloadV1 1, TcpLargeSend 2,
# ClassificationHandle 3, Ieee8021Q 4, NetBufferListCancelId 5, MediaSpecificInformation 6,
# NetBufferListFrameType 7, ... The model allocates room for 32 slots (more than any NDIS 6.x).
NET_BUFFER_LIST_FRAME_TYPE = 7
NBL_INFO_SLOTS = 32


class NET_BUFFER_LIST(Struct):
    _fields_ = [
        ("Next", PTR), ("FirstNetBuffer", PTR),            # union with SLIST_HEADER (16 bytes)
        ("Context", PTR), ("ParentNetBufferList", PTR), ("NdisPoolHandle", PTR),
        ("_align0", UCHAR * 8),                              # DECLSPEC_ALIGN(16)
        ("NdisReserved", PTR * 2), ("ProtocolReserved", PTR * 4), ("MiniportReserved", PTR * 2),
        ("Scratch", PTR), ("SourceHandle", PTR), ("NblFlags", ULONG), ("ChildRefCount", LONG),
        ("Flags", ULONG), ("Status", LONG), ("NetBufferListInfo", PTR * NBL_INFO_SLOTS)]


class NET_BUFFER(Struct):
    _fields_ = [
        ("Next", PTR), ("CurrentMdl", PTR), ("CurrentMdlOffset", ULONG), ("_pad0", ULONG),
        ("DataLength", ULONG64),                             # union { ULONG; SIZE_T }
        ("MdlChain", PTR), ("DataOffset", ULONG), ("_pad1", ULONG),
        ("ChecksumBias", USHORT), ("Reserved", USHORT), ("_pad2", ULONG), ("NdisPoolHandle", PTR),
        ("NdisReserved", PTR * 2), ("ProtocolReserved", PTR * 6), ("MiniportReserved", PTR * 4),
        ("DataPhysicalAddress", ULONG64), ("SharedMemoryInfo", PTR)]


# ---- task offloads (ntddndis.h of WDK 10.0.16299; UdpSegmentation, NDIS 6.83, of WDK 10.0.26100) ----
# Bit fields as the headers declare them (ULONG bit fields, allocated from the least significant
# bit by MSVC as by ctypes here).
def _checksum_v4():
    return [("Encapsulation", ULONG), ("IpOptionsSupported", ULONG, 2), ("TcpOptionsSupported", ULONG, 2),
            ("TcpChecksum", ULONG, 2), ("UdpChecksum", ULONG, 2), ("IpChecksum", ULONG, 2)]


def _checksum_v6():
    return [("Encapsulation", ULONG), ("IpExtensionHeadersSupported", ULONG, 2), ("TcpOptionsSupported", ULONG, 2),
            ("TcpChecksum", ULONG, 2), ("UdpChecksum", ULONG, 2)]


class CHECKSUM_V4(Struct):
    _fields_ = _checksum_v4()


class CHECKSUM_V6(Struct):
    _fields_ = _checksum_v6()


class NDIS_TCP_IP_CHECKSUM_OFFLOAD(Struct):
    _fields_ = [("IPv4Transmit", CHECKSUM_V4), ("IPv4Receive", CHECKSUM_V4), ("IPv6Transmit", CHECKSUM_V6),
                ("IPv6Receive", CHECKSUM_V6)]


class LSO_V1_IPV4(Struct):
    _fields_ = [("Encapsulation", ULONG), ("MaxOffLoadSize", ULONG), ("MinSegmentCount", ULONG),
                ("TcpOptions", ULONG, 2), ("IpOptions", ULONG, 2)]


class LSO_V2_IPV4(Struct):
    _fields_ = [("Encapsulation", ULONG), ("MaxOffLoadSize", ULONG), ("MinSegmentCount", ULONG)]


class LSO_V2_IPV6(Struct):
    _fields_ = [("Encapsulation", ULONG), ("MaxOffLoadSize", ULONG), ("MinSegmentCount", ULONG),
                ("IpExtensionHeadersSupported", ULONG, 2), ("TcpOptionsSupported", ULONG, 2)]


class NDIS_TCP_LARGE_SEND_OFFLOAD_V2(Struct):
    _fields_ = [("IPv4", LSO_V2_IPV4), ("IPv6", LSO_V2_IPV6)]


class USO_IPV4(Struct):
    _fields_ = [("Encapsulation", ULONG), ("MaxOffLoadSize", ULONG), ("MinSegmentCount", ULONG, 6),
                ("SubMssFinalSegmentSupported", ULONG, 1), ("Reserved", ULONG, 25)]


class USO_IPV6(Struct):
    _fields_ = [("Encapsulation", ULONG), ("MaxOffLoadSize", ULONG), ("MinSegmentCount", ULONG, 6),
                ("SubMssFinalSegmentSupported", ULONG, 1), ("Reserved1", ULONG, 25),
                ("IpExtensionHeadersSupported", ULONG, 2), ("Reserved2", ULONG, 30)]


class NDIS_UDP_SEGMENTATION_OFFLOAD(Struct):
    _fields_ = [("IPv4", USO_IPV4), ("IPv6", USO_IPV6)]


class NDIS_OFFLOAD(Struct):
    """Through UdpSegmentation (revision 6). IPsec, encapsulated-packet and 464XLAT members as
    opaque words of their structures' sizes (NDIS_IPSEC_OFFLOAD_V1 28 bytes, _V2 32,
    NDIS_ENCAPSULATED_PACKET_TASK_OFFLOAD 8, _V2 20, NDIS_RFC6877_464XLAT_OFFLOAD 8)."""
    _fields_ = [("Header", NDIS_OBJECT_HEADER), ("Checksum", NDIS_TCP_IP_CHECKSUM_OFFLOAD), ("LsoV1", LSO_V1_IPV4),
                ("IPsecV1", ULONG * 7), ("LsoV2", NDIS_TCP_LARGE_SEND_OFFLOAD_V2), ("Flags", ULONG),
                ("IPsecV2", ULONG * 8), ("RscIPv4Enabled", UCHAR), ("RscIPv6Enabled", UCHAR),
                ("EncapsulatedPacketTaskOffloadGre", ULONG * 2), ("EncapsulatedPacketTaskOffloadVxlan", ULONG * 5),
                ("EncapsulationTypes", UCHAR), ("Rfc6877Xlat", ULONG * 2),
                ("UdpSegmentation", NDIS_UDP_SEGMENTATION_OFFLOAD)]


class NDIS_CONFIGURATION_OBJECT(Struct):
    """ndis.h: the input of NdisOpenConfigurationEx."""
    _fields_ = [("Header", NDIS_OBJECT_HEADER), ("NdisHandle", PTR), ("Flags", ULONG)]


class UNICODE_STRING(Struct):
    """ntdef.h (NDIS_STRING of ndis.h)."""
    _fields_ = [("Length", USHORT), ("MaximumLength", USHORT), ("Buffer", PTR)]


class NDIS_CONFIGURATION_PARAMETER(Struct):
    """ndis.h: ParameterType (NDIS_PARAMETER_TYPE), then the ParameterData union of IntegerData
    (ULONG), StringData (NDIS_STRING) and BinaryData (USHORT and PVOID), here as its IntegerData arm
    padded to the size of the other two."""
    class _Data(C.Union):
        _fields_ = [("IntegerData", ULONG), ("StringData", UNICODE_STRING)]
    _fields_ = [("ParameterType", ENUM), ("ParameterData", _Data)]


class NDIS_MINIPORT_ADAPTER_OFFLOAD_ATTRIBUTES(Struct):
    _fields_ = [("Header", NDIS_OBJECT_HEADER), ("DefaultOffloadConfiguration", PTR),
                ("HardwareOffloadCapabilities", PTR), ("DefaultTcpConnectionOffloadConfiguration", PTR),
                ("TcpConnectionOffloadHardwareCapabilities", PTR)]


class LSO_NBL_INFO(C.Union):
    """NDIS_TCP_LARGE_SEND_OFFLOAD_NET_BUFFER_LIST_INFO (ndis.h): its bit-field arms, over the low
    ULONG of the PVOID `Value` (x64)."""
    class _V1(Struct):
        _fields_ = [("MSS", ULONG, 20), ("TcpHeaderOffset", ULONG, 10), ("Type", ULONG, 1), ("Reserved2", ULONG, 1)]

    class _V1Complete(Struct):
        _fields_ = [("TcpPayload", ULONG, 30), ("Type", ULONG, 1), ("Reserved2", ULONG, 1)]

    class _V2(Struct):
        _fields_ = [("MSS", ULONG, 20), ("TcpHeaderOffset", ULONG, 10), ("Type", ULONG, 1), ("IPVersion", ULONG, 1)]

    class _V2Complete(Struct):
        _fields_ = [("Reserved", ULONG, 30), ("Type", ULONG, 1), ("Reserved2", ULONG, 1)]
    _fields_ = [("LsoV1Transmit", _V1), ("LsoV1TransmitComplete", _V1Complete), ("LsoV2Transmit", _V2),
                ("LsoV2TransmitComplete", _V2Complete), ("Value", ULONG)]


class USO_NBL_INFO(C.Union):
    """NDIS_UDP_SEGMENTATION_OFFLOAD_NET_BUFFER_LIST_INFO (nbluso.h of WDK 10.0.26100)."""
    class _T(Struct):
        _fields_ = [("MSS", ULONG, 20), ("UdpHeaderOffset", ULONG, 10), ("Reserved", ULONG, 1),
                    ("IPVersion", ULONG, 1)]
    _fields_ = [("Transmit", _T), ("Value", ULONG)]


class CHECKSUM_NBL_INFO(C.Union):
    """NDIS_TCP_IP_CHECKSUM_NET_BUFFER_LIST_INFO (ndis.h), NDIS 6.30+ Receive arm."""
    class _T(Struct):
        _fields_ = [("IsIPv4", ULONG, 1), ("IsIPv6", ULONG, 1), ("TcpChecksum", ULONG, 1), ("UdpChecksum", ULONG, 1),
                    ("IpHeaderChecksum", ULONG, 1), ("Reserved", ULONG, 11), ("TcpHeaderOffset", ULONG, 10)]

    class _R(Struct):
        _fields_ = [("TcpChecksumFailed", ULONG, 1), ("UdpChecksumFailed", ULONG, 1), ("IpChecksumFailed", ULONG, 1),
                    ("TcpChecksumSucceeded", ULONG, 1), ("UdpChecksumSucceeded", ULONG, 1),
                    ("IpChecksumSucceeded", ULONG, 1), ("Loopback", ULONG, 1), ("TcpChecksumValueInvalid", ULONG, 1),
                    ("IpChecksumValueInvalid", ULONG, 1)]
    _fields_ = [("Transmit", _T), ("Receive", _R), ("Value", ULONG)]


class RSC_NBL_INFO(Struct):
    """NDIS_RSC_NBL_INFO (ndis.h): its Info arm."""
    _fields_ = [("CoalescedSegCount", USHORT), ("DupAckCount", USHORT)]


# NDIS_SIZEOF_NDIS_OFFLOAD_REVISION_3 (through EncapsulatedPacketTaskOffloadGre), _5 (through
# Rfc6877Xlat) and _6 (through UdpSegmentation).
NDIS_OFFLOAD_SIZE_REVISION_3 = NDIS_OFFLOAD.through("EncapsulatedPacketTaskOffloadGre")
NDIS_OFFLOAD_SIZE_REVISION_5 = NDIS_OFFLOAD.through("Rfc6877Xlat")
NDIS_OFFLOAD_SIZE_REVISION_6 = NDIS_OFFLOAD.through("UdpSegmentation")
assert (NDIS_OFFLOAD_SIZE_REVISION_3, NDIS_OFFLOAD_SIZE_REVISION_5, NDIS_OFFLOAD_SIZE_REVISION_6) == (156, 188, 216)
# NDIS_NET_BUFFER_LIST_INFO indices (x64): TcpIpChecksumNetBufferListInfo, TcpLargeSendNetBufferListInfo,
# TcpRecvSegCoalesceInfo (= UdpSegmentationOffloadInfo, NDIS 6.83).
NBL_INFO_CHECKSUM, NBL_INFO_LSO, NBL_INFO_RSC_OR_USO = 0, 2, 22


# ---- wdm.h ----
class MDL(Struct):
    _fields_ = [("Next", PTR), ("Size", C.c_int16), ("MdlFlags", C.c_int16), ("AllocationProcessorNumber", USHORT),
                ("Reserved", USHORT), ("Process", PTR), ("MappedSystemVa", PTR), ("StartVa", PTR),
                ("ByteCount", ULONG), ("ByteOffset", ULONG)]


class IO_STACK_LOCATION(Struct):
    _fields_ = [("MajorFunction", UCHAR), ("MinorFunction", UCHAR), ("Flags", UCHAR), ("Control", UCHAR),
                ("_pad", ULONG),
                # Parameters.DeviceIoControl (each ULONG POINTER_ALIGNMENT)
                ("OutputBufferLength", ULONG), ("_p1", ULONG), ("InputBufferLength", ULONG), ("_p2", ULONG),
                ("IoControlCode", ULONG), ("_p3", ULONG), ("Type3InputBuffer", PTR),
                ("DeviceObject", PTR), ("FileObject", PTR), ("CompletionRoutine", PTR), ("Context", PTR)]


class IRP(Struct):
    _fields_ = [("Type", C.c_int16), ("Size", USHORT), ("AllocationProcessorNumber", USHORT), ("Reserved", USHORT),
                ("MdlAddress", PTR), ("Flags", ULONG), ("_pad0", ULONG), ("SystemBuffer", PTR),
                ("ThreadListEntry", PTR * 2), ("Status", LONG), ("_pad1", ULONG), ("Information", PTR),
                ("RequestorMode", C.c_int8), ("PendingReturned", UCHAR), ("StackCount", C.c_int8),
                ("CurrentLocation", C.c_int8), ("Cancel", UCHAR), ("CancelIrql", UCHAR), ("ApcEnvironment", C.c_int8),
                ("AllocationFlags", UCHAR), ("UserIosb", PTR), ("UserEvent", PTR), ("Overlay", PTR * 2),
                ("CancelRoutine", PTR), ("UserBuffer", PTR),
                ("DriverContext", PTR * 4), ("Thread", PTR), ("AuxiliaryBuffer", PTR), ("ListEntry", PTR * 2),
                ("CurrentStackLocation", PTR), ("OriginalFileObject", PTR), ("_tail_pad", PTR)]


class SECURITY_SUBJECT_CONTEXT(Struct):
    _fields_ = [("ClientToken", PTR), ("ImpersonationLevel", ENUM), ("_pad", ULONG), ("PrimaryToken", PTR),
                ("ProcessAuditId", PTR)]


class KEVENT(Struct):
    _fields_ = [("Type", UCHAR), ("Signalling", UCHAR), ("Size", UCHAR), ("Reserved1", UCHAR),
                ("SignalState", LONG), ("WaitListHead", PTR * 2)]


DRIVER_OBJECT_SIZE = 0x150
DRIVER_OBJECT_DRIVER_UNLOAD = 0x68
DRIVER_OBJECT_MAJOR_FUNCTION = 0x70


class WDF_DRIVER_CONFIG(Struct):
    _fields_ = [("Size", ULONG), ("_pad", ULONG), ("EvtDriverDeviceAdd", PTR), ("EvtDriverUnload", PTR),
                ("DriverInitFlags", ULONG), ("DriverPoolTag", ULONG)]


# Offsets the model's header transcription must reproduce (x64 facts of the real headers).
EXPECTED = {
    (NET_BUFFER_LIST, "NdisReserved"): 0x30, (NET_BUFFER_LIST, "ProtocolReserved"): 0x40,
    (NET_BUFFER_LIST, "MiniportReserved"): 0x60, (NET_BUFFER_LIST, "Scratch"): 0x70,
    (NET_BUFFER_LIST, "SourceHandle"): 0x78, (NET_BUFFER_LIST, "NblFlags"): 0x80,
    (NET_BUFFER_LIST, "ChildRefCount"): 0x84, (NET_BUFFER_LIST, "Flags"): 0x88, (NET_BUFFER_LIST, "Status"): 0x8C,
    (NET_BUFFER_LIST, "NetBufferListInfo"): 0x90,
    (NET_BUFFER, "DataLength"): 0x18, (NET_BUFFER, "MdlChain"): 0x20, (NET_BUFFER, "NdisReserved"): 0x40,
    (NET_BUFFER, "MiniportReserved"): 0x80,
    (MDL, "MappedSystemVa"): 0x18, (MDL, "ByteCount"): 0x28,
    (IRP, "SystemBuffer"): 0x18, (IRP, "Status"): 0x30, (IRP, "RequestorMode"): 0x40,
    (IRP, "CurrentStackLocation"): 0xB8,
    (IO_STACK_LOCATION, "IoControlCode"): 0x18, (IO_STACK_LOCATION, "FileObject"): 0x30,
    (NDIS_MINIPORT_DRIVER_CHARACTERISTICS, "SynchronousOidRequestHandler"): 0x98,
    (NDIS_MINIPORT_ADAPTER_GENERAL_ATTRIBUTES, "PowerManagementCapabilitiesEx"): 0xD8,
    (NDIS_STATUS_INDICATION, "StatusBuffer"): 0x30,
    (NDIS_OID_REQUEST, "RequestType"): 0x4, (NDIS_OID_REQUEST, "DATA"): 0x20,
    (NDIS_OID_REQUEST, "NdisReserved"): 0x48, (NDIS_OID_REQUEST, "Reserved2"): 0xEA,
    (NDIS_OID_REQUEST_QUERY, "InformationBuffer"): 0x8, (NDIS_OID_REQUEST_QUERY, "BytesWritten"): 0x14,
    (NDIS_OID_REQUEST_QUERY, "BytesNeeded"): 0x18,
    (NDIS_OID_REQUEST_METHOD, "InputBufferLength"): 0x10, (NDIS_OID_REQUEST_METHOD, "OutputBufferLength"): 0x14,
    (NDIS_OID_REQUEST_METHOD, "MethodId"): 0x18, (NDIS_OID_REQUEST_METHOD, "BytesWritten"): 0x1C,
    (NDIS_OID_REQUEST_METHOD, "BytesRead"): 0x20, (NDIS_OID_REQUEST_METHOD, "BytesNeeded"): 0x24,
    (NDIS_STATISTICS_INFO, "ifInDiscards"): 0x8, (NDIS_STATISTICS_INFO, "ifHCOutBroadcastOctets"): 0x90,
    (NET_DEVICE_PNP_EVENT, "InformationBuffer"): 0x10, (NET_DEVICE_PNP_EVENT, "NdisReserved"): 0x1C,
    (NDIS_OFFLOAD, "Checksum"): 4, (NDIS_OFFLOAD, "LsoV2"): 80, (NDIS_OFFLOAD, "Flags"): 108,
    (NDIS_OFFLOAD, "RscIPv4Enabled"): 144, (NDIS_OFFLOAD, "EncapsulationTypes"): 176,
    (NDIS_OFFLOAD, "Rfc6877Xlat"): 180, (NDIS_OFFLOAD, "UdpSegmentation"): 188,
    (NDIS_CONFIGURATION_OBJECT, "NdisHandle"): 8, (NDIS_CONFIGURATION_OBJECT, "Flags"): 16,
    (NDIS_CONFIGURATION_PARAMETER, "ParameterData"): 8,
}
# NDIS_SIZEOF_CONFIGURATION_OBJECT_REVISION_1 (ndis.h): through Flags.
CONFIGURATION_OBJECT_SIZE_REVISION_1 = NDIS_CONFIGURATION_OBJECT.through("Flags")
assert CONFIGURATION_OBJECT_SIZE_REVISION_1 == 20
SIZES = {NET_BUFFER: 0xB0, MDL: 0x30, IRP: 0xD0, IO_STACK_LOCATION: 0x48, KEVENT: 0x18,
         SECURITY_SUBJECT_CONTEXT: 0x20, WDF_DRIVER_CONFIG: 0x20, NDIS_STATUS_INDICATION: 0x70,
         NDIS_LINK_STATE: 0x28, NET_BUFFER_LIST_POOL_PARAMETERS: 0x10, NDIS_PM_CAPABILITIES: 0x3C,
         NDIS_OID_REQUEST: 0xF8, NDIS_OID_REQUEST_QUERY: 0x20, NDIS_OID_REQUEST_METHOD: 0x28, NDIS_STATISTICS_INFO: 0x98,
         NDIS_INTERRUPT_MODERATION_PARAMETERS: 0xC, NET_DEVICE_PNP_EVENT: 0x30, NDIS_TCP_IP_CHECKSUM_OFFLOAD: 32,
         NDIS_TCP_LARGE_SEND_OFFLOAD_V2: 28, NDIS_UDP_SEGMENTATION_OFFLOAD: 28, NDIS_OFFLOAD: 216,
         NDIS_MINIPORT_ADAPTER_OFFLOAD_ATTRIBUTES: 40, LSO_NBL_INFO: 4, USO_NBL_INFO: 4, CHECKSUM_NBL_INFO: 4,
         RSC_NBL_INFO: 4, NDIS_CONFIGURATION_OBJECT: 24, UNICODE_STRING: 16, NDIS_CONFIGURATION_PARAMETER: 24}
# NDIS_SIZEOF_OID_REQUEST_REVISION_1 (through Reserved2) and _REVISION_2 (through Flags), ndis.h.
OID_REQUEST_SIZE_REVISION_1 = NDIS_OID_REQUEST.through("Reserved2")
OID_REQUEST_SIZE_REVISION_2 = NDIS_OID_REQUEST.through("Flags")
assert (OID_REQUEST_SIZE_REVISION_1, OID_REQUEST_SIZE_REVISION_2) == (0xEC, 0xF8)
for (cls, field), offset in EXPECTED.items():
    assert cls.off(field) == offset, (cls.__name__, field, hex(cls.off(field)), hex(offset))
for cls, size in SIZES.items():
    assert C.sizeof(cls) == size, (cls.__name__, hex(C.sizeof(cls)), hex(size))
