"""The OID answers of a ringtun adapter, beside a Wintun adapter's, for the emulator run.

Wintun's answers are facts read from its published driver source (the OID handlers of
driver/wintun.c, the supported-OID list of its MiniportInitializeEx); nothing of its code is
reproduced. Every difference has its reason here and in docs/oids.md (which the unit test
test_model.py compares with this table).

OID numbers are ntddndis.h's. Values are ULONGs unless noted; `None` as an answer means the
request is refused with NDIS_STATUS_NOT_SUPPORTED (nothing written).
"""
import struct

OID_GEN_SUPPORTED_LIST = 0x00010101
OID_GEN_MAXIMUM_LOOKAHEAD = 0x00010105
OID_GEN_MAXIMUM_FRAME_SIZE = 0x00010106
OID_GEN_TRANSMIT_BUFFER_SPACE = 0x00010108
OID_GEN_RECEIVE_BUFFER_SPACE = 0x00010109
OID_GEN_TRANSMIT_BLOCK_SIZE = 0x0001010A
OID_GEN_RECEIVE_BLOCK_SIZE = 0x0001010B
OID_GEN_VENDOR_ID = 0x0001010C
OID_GEN_VENDOR_DESCRIPTION = 0x0001010D
OID_GEN_CURRENT_PACKET_FILTER = 0x0001010E
OID_GEN_CURRENT_LOOKAHEAD = 0x0001010F
OID_GEN_MAXIMUM_TOTAL_SIZE = 0x00010111
OID_GEN_MEDIA_CONNECT_STATUS = 0x00010114
OID_GEN_VENDOR_DRIVER_VERSION = 0x00010116
OID_GEN_LINK_PARAMETERS = 0x00010208
OID_GEN_INTERRUPT_MODERATION = 0x00010209
OID_GEN_XMIT_OK = 0x00020101
OID_GEN_RCV_OK = 0x00020102
OID_GEN_STATISTICS = 0x00020106
OID_PNP_SET_POWER = 0xFD010101
OID_PNP_QUERY_POWER = 0xFD010102
OID_TCP_OFFLOAD_PARAMETERS = 0xFC01020C
OID_OFFLOAD_ENCAPSULATION = 0x0101010A
OID_TCP_RSC_STATISTICS = 0x0002021D

NAMES = {v: k for k, v in dict(globals()).items() if k.startswith("OID_")}

# NDIS_PACKET_TYPE_* (ntddndis.h).
DIRECTED, MULTICAST, ALL_MULTICAST, BROADCAST = 0x01, 0x02, 0x04, 0x08
SOURCE_ROUTING, PROMISCUOUS, ALL_LOCAL, ALL_FUNCTIONAL = 0x10, 0x20, 0x80, 0x2000

# Wintun's supported-OID list (its general attributes), in its order.
WINTUN_SUPPORTED = [
    OID_GEN_MAXIMUM_TOTAL_SIZE, OID_GEN_CURRENT_LOOKAHEAD, OID_GEN_TRANSMIT_BUFFER_SPACE,
    OID_GEN_RECEIVE_BUFFER_SPACE, OID_GEN_TRANSMIT_BLOCK_SIZE, OID_GEN_RECEIVE_BLOCK_SIZE,
    OID_GEN_VENDOR_DESCRIPTION, OID_GEN_VENDOR_ID, OID_GEN_VENDOR_DRIVER_VERSION, OID_GEN_XMIT_OK, OID_GEN_RCV_OK,
    OID_GEN_CURRENT_PACKET_FILTER, OID_GEN_STATISTICS, OID_GEN_INTERRUPT_MODERATION, OID_GEN_LINK_PARAMETERS,
    OID_PNP_SET_POWER, OID_PNP_QUERY_POWER,
]
# ringtun lists these too: the two size queries it answers, two NDIS answers for every NDIS 6
# miniport from its attributes (the list then describes the adapter completely), and the two sets
# of its task offloads.
RINGTUN_EXTRA_SUPPORTED = [OID_GEN_MAXIMUM_LOOKAHEAD, OID_GEN_MAXIMUM_FRAME_SIZE, OID_GEN_SUPPORTED_LIST,
                           OID_GEN_MEDIA_CONNECT_STATUS, OID_TCP_OFFLOAD_PARAMETERS, OID_OFFLOAD_ENCAPSULATION,
                           OID_TCP_RSC_STATISTICS]
SUPPORTED_PACKET_FILTERS = {
    "wintun": DIRECTED | ALL_MULTICAST | BROADCAST | ALL_LOCAL | ALL_FUNCTIONAL,
    "ringtun": DIRECTED | MULTICAST | ALL_MULTICAST | BROADCAST | PROMISCUOUS | ALL_LOCAL,
}


def u32(value):
    return struct.pack("<I", value)


# Queries with a buffer large enough: OID -> (Wintun's answer, ringtun's answer, reason if they
# differ). An answer is bytes, None (NDIS_STATUS_NOT_SUPPORTED), or the name of a structure the run
# checks field by field ("statistics", "interrupt moderation", "counter" for a 64-bit counter).
QUERIES = {
    OID_GEN_MAXIMUM_TOTAL_SIZE: (u32(0xFFFF), u32(0xFFFF), None),
    OID_GEN_TRANSMIT_BLOCK_SIZE: (u32(0xFFFF), u32(0xFFFF), None),
    OID_GEN_RECEIVE_BLOCK_SIZE: (u32(0xFFFF), u32(0xFFFF), None),
    OID_GEN_TRANSMIT_BUFFER_SPACE: (u32(0x4000000), u32(0x4000000), None),
    OID_GEN_RECEIVE_BUFFER_SPACE: (u32(0x4000000), u32(0x4000000), None),
    OID_GEN_VENDOR_ID: (u32(0x00FFFFFF), u32(0x00FFFFFF), None),
    OID_GEN_VENDOR_DESCRIPTION: (b"Wintun Tunnel\0", b"ringtun virtual adapter\0",
                                 "the adapter's own name"),
    OID_GEN_VENDOR_DRIVER_VERSION: ("version", "version", "each driver's own version (ringtun 0.1: 0x1)"),
    OID_GEN_XMIT_OK: ("counter", "counter", None),
    OID_GEN_RCV_OK: ("counter", "counter", None),
    OID_GEN_STATISTICS: ("statistics", "statistics",
                         "SupportedStatistics: ringtun claims only the counters it keeps (no multicast or "
                         "broadcast counts, which an L3 tunnel does not tell apart)"),
    OID_GEN_INTERRUPT_MODERATION: ("interrupt moderation", "interrupt moderation", None),
    OID_PNP_QUERY_POWER: (b"", b"", None),
    OID_GEN_MAXIMUM_LOOKAHEAD: (None, u32(0xFFFF),
                                "answered from the general attributes' LookaheadSize: a query that reaches "
                                "the miniport gets the value NDIS reports"),
    OID_GEN_MAXIMUM_FRAME_SIZE: (None, u32(0xFFFF),
                                 "answered from the general attributes' MtuSize, as above"),
    OID_GEN_CURRENT_LOOKAHEAD: (None, u32(0xFFFF),
                                "Wintun lists it as supported but does not answer the query; ringtun answers "
                                "the last value set (0xFFFF until one is)"),
    OID_GEN_CURRENT_PACKET_FILTER: (None, u32(0),
                                    "Wintun lists it as supported but does not answer the query; ringtun answers "
                                    "the last filter set (0 until one is)"),
    OID_GEN_LINK_PARAMETERS: (None, None, None),
    OID_PNP_SET_POWER: (None, None, None),
    OID_GEN_SUPPORTED_LIST: (None, None, "NDIS answers it for the miniport; a query reaching the miniport is refused"),
    OID_GEN_MEDIA_CONNECT_STATUS: (None, None, "as OID_GEN_SUPPORTED_LIST"),
    OID_TCP_OFFLOAD_PARAMETERS: (None, None, None),
    OID_OFFLOAD_ENCAPSULATION: (None, None, None),
    OID_TCP_RSC_STATISTICS: (None, "rsc statistics",
                             "ringtun offers receive segment coalescing, whose miniports must answer it: the "
                             "client's super-packets indicated whole (docs/ring-protocol.md section 15)"),
}


def offload_parameters(revision=4, size=32, fields=(), object_type=0x80):
    """NDIS_OFFLOAD_PARAMETERS (ntddndis.h) of `size` bytes with `fields` ((offset, value), ...)
    set: 0 in a field is NDIS_OFFLOAD_PARAMETERS_NO_CHANGE."""
    data = bytearray(size)
    data[0:4] = bytes([object_type, revision]) + struct.pack("<H", size)
    for offset, value in fields:
        data[offset] = value
    return bytes(data)


# NDIS_OFFLOAD_PARAMETERS offsets (ntddndis.h): TCPIPv6Checksum 7 (after IPv4Checksum,
# TCPIPv4Checksum and UDPIPv4Checksum at 4, 5, 6; before UDPIPv6Checksum at 8), LsoV1 9, LsoV2IPv4 11,
# LsoV2IPv6 12, RscIPv4 22, UdpSegmentation.IPv4 32 (revision 5).
PARAMS_TCP_IPV6_CHECKSUM = 7
PARAMS_LSO_V1, PARAMS_LSO_V2_IPV4, PARAMS_LSO_V2_IPV6, PARAMS_RSC_IPV4, PARAMS_USO_IPV4 = 9, 11, 12, 22, 32
# The values of a checksum byte of NDIS_OFFLOAD_PARAMETERS (ntddndis.h, NDIS_OFFLOAD_PARAMETERS_*):
# 0 no change, 1 transmit and receive disabled, 2 transmit enabled and receive disabled, 3 receive
# enabled and transmit disabled, 4 both enabled.
PARAMS_TX_ENABLED_RX_DISABLED = 2

def offload_encapsulation(ipv4=(0, 0), ipv6=(0, 0), header=(0xA8, 1, 28)):
    """NDIS_OFFLOAD_ENCAPSULATION (ndis.h): the object header, then (Enabled, EncapsulationType,
    HeaderSize) for IPv4 and IPv6 (HeaderSize 0 when left out). Enabled: NDIS_OFFLOAD_SET_NO_CHANGE
    0, _ON 1, _OFF 2; NDIS_ENCAPSULATION_NULL 1, _IEEE_802_3 2, _IEEE_LLC_SNAP_ROUTED 0x10."""
    t, revision, size = header
    v4, v6 = (tuple(ipv4) + (0,))[:3], (tuple(ipv6) + (0,))[:3]
    return struct.pack("<BBHIIIIII", t, revision, size, *v4, *v6)


SET_ON, SET_OFF, ENCAPSULATION_NULL, ENCAPSULATION_IEEE_802_3, ENCAPSULATION_LLC_SNAP_ROUTED = 1, 2, 1, 2, 0x10

# Sets: (OID, input bytes, Wintun's (status, BytesRead, BytesNeeded), ringtun's, reason if they differ).
SUCCESS, NOT_SUPPORTED, INVALID_LENGTH, INVALID_DATA = 0, 0xC00000BB, 0xC0010014, 0xC0010015
INVALID_PARAMETER = 0xC000000D
SETS = [
    (OID_GEN_CURRENT_PACKET_FILTER, u32(DIRECTED | MULTICAST | BROADCAST), (SUCCESS, 4, 0), (SUCCESS, 4, 0), None),
    (OID_GEN_CURRENT_PACKET_FILTER, u32(PROMISCUOUS), (SUCCESS, 4, 0), (SUCCESS, 4, 0), None),
    (OID_GEN_CURRENT_PACKET_FILTER, u32(SOURCE_ROUTING), (SUCCESS, 4, 0), (NOT_SUPPORTED, 0, 0),
     "a filter bit outside the adapter's SupportedPacketFilters is refused, not silently accepted"),
    (OID_GEN_CURRENT_PACKET_FILTER, u32(ALL_FUNCTIONAL), (SUCCESS, 4, 0), (NOT_SUPPORTED, 0, 0),
     "ALL_FUNCTIONAL (a token-ring filter) is not in ringtun's SupportedPacketFilters; PROMISCUOUS and "
     "MULTICAST are, so that capture tools can set them"),
    (OID_GEN_CURRENT_PACKET_FILTER, b"\x01\x00", (INVALID_LENGTH, 0, 4), (INVALID_LENGTH, 0, 4), None),
    (OID_GEN_CURRENT_PACKET_FILTER, u32(DIRECTED) + u32(0), (INVALID_LENGTH, 0, 4), (SUCCESS, 4, 0),
     "a longer buffer is accepted and its first ULONG read, as for any ULONG set"),
    (OID_GEN_CURRENT_LOOKAHEAD, u32(1500), (SUCCESS, 4, 0), (SUCCESS, 4, 0), None),
    (OID_GEN_CURRENT_LOOKAHEAD, u32(0x10000), (SUCCESS, 4, 0), (INVALID_DATA, 0, 0),
     "a lookahead larger than the largest packet (0xFFFF) is refused"),
    (OID_GEN_CURRENT_LOOKAHEAD, b"\x00", (INVALID_LENGTH, 0, 4), (INVALID_LENGTH, 0, 4), None),
    (OID_GEN_LINK_PARAMETERS, bytes(32), (SUCCESS, 32, 0), (SUCCESS, 32, 0), None),
    (OID_GEN_INTERRUPT_MODERATION, bytes(12), (INVALID_DATA, 0, 0), (INVALID_DATA, 0, 0), None),
    (OID_PNP_SET_POWER, u32(1), (SUCCESS, 4, 0), (SUCCESS, 4, 0), None),
    (OID_PNP_SET_POWER, b"\x01\x00", (INVALID_LENGTH, 0, 4), (INVALID_LENGTH, 0, 4), None),
    (OID_TCP_OFFLOAD_PARAMETERS, offload_parameters(), (NOT_SUPPORTED, 0, 0), (SUCCESS, 32, 0),
     "ringtun offers task offloads (docs/ring-protocol.md section 15): a request changing nothing is accepted, "
     "and answered with NDIS_STATUS_TASK_OFFLOAD_CURRENT_CONFIG"),
    (OID_TCP_OFFLOAD_PARAMETERS, offload_parameters(fields=[(PARAMS_LSO_V1, 2)]), (NOT_SUPPORTED, 0, 0),
     (INVALID_DATA, 0, 0), "turning on an offload ringtun does not offer (LSOv1) is refused, nothing changed"),
    (OID_TCP_OFFLOAD_PARAMETERS, offload_parameters(object_type=0x81), (NOT_SUPPORTED, 0, 0), (INVALID_DATA, 0, 0),
     "the object header must say NDIS_OBJECT_TYPE_DEFAULT"),
    (OID_TCP_OFFLOAD_PARAMETERS, offload_parameters()[:16], (NOT_SUPPORTED, 0, 0), (INVALID_LENGTH, 0, 32),
     "a buffer shorter than the size its header gives"),
    (OID_OFFLOAD_ENCAPSULATION, offload_encapsulation((SET_ON, ENCAPSULATION_NULL), (SET_ON, ENCAPSULATION_NULL)),
     (NOT_SUPPORTED, 0, 0), (SUCCESS, 28, 0),
     "ringtun offers task offloads (their Encapsulation fields name NULL and the IEEE 802.3 kinds; its packets have "
     "no link-layer header under any): setting them on starts the receive offloads, and is answered with "
     "NDIS_STATUS_TASK_OFFLOAD_CURRENT_CONFIG"),
    (OID_OFFLOAD_ENCAPSULATION, offload_encapsulation((SET_ON, ENCAPSULATION_IEEE_802_3, 14),
                                                      (SET_ON, ENCAPSULATION_LLC_SNAP_ROUTED, 22)),
     (NOT_SUPPORTED, 0, 0), (SUCCESS, 28, 0),
     "the encapsulations ndis.h tells a protocol to set (IEEE 802.3, LLC/SNAP routed) are among those named: "
     "accepted, HeaderSize not used"),
    (OID_OFFLOAD_ENCAPSULATION, offload_encapsulation((0, 0), (SET_ON, 0x20)),
     (NOT_SUPPORTED, 0, 0), (INVALID_PARAMETER, 0, 0),
     "an encapsulation the adapter names for no offload is refused, nothing changed"),
    (OID_OFFLOAD_ENCAPSULATION, bytes(28), (NOT_SUPPORTED, 0, 0), (INVALID_DATA, 0, 0),
     "the object header must say NDIS_OBJECT_TYPE_OFFLOAD_ENCAPSULATION, revision 1 or later, 28 bytes or more"),
    (OID_OFFLOAD_ENCAPSULATION, u32(1), (NOT_SUPPORTED, 0, 0), (INVALID_LENGTH, 0, 28),
     "NDIS_OFFLOAD_ENCAPSULATION is 28 bytes"),
    (OID_GEN_VENDOR_ID, u32(0), (NOT_SUPPORTED, 0, 0), (NOT_SUPPORTED, 0, 0), None),
    (0x0101FFFF, u32(0), (NOT_SUPPORTED, 0, 0), (NOT_SUPPORTED, 0, 0), None),
]

# Queries with a short buffer: (OID, buffer length, Wintun's (status, BytesWritten, BytesNeeded),
# ringtun's, reason if they differ). BUFFER_TOO_SHORT = 0xC0010016.
TOO_SHORT = 0xC0010016
SHORT_QUERIES = [
    (OID_GEN_MAXIMUM_TOTAL_SIZE, 3, (TOO_SHORT, 0, 4), (TOO_SHORT, 0, 4), None),
    (OID_GEN_VENDOR_ID, 0, (TOO_SHORT, 0, 4), (TOO_SHORT, 0, 4), None),
    (OID_GEN_VENDOR_DESCRIPTION, 5, (TOO_SHORT, 0, 14), (TOO_SHORT, 0, 24), "the length of each adapter's name"),
    (OID_GEN_XMIT_OK, 4, (SUCCESS, 4, 8), (SUCCESS, 4, 8), None),
    (OID_GEN_XMIT_OK, 2, (TOO_SHORT, 0, 8), (TOO_SHORT, 0, 8), None),
    (OID_GEN_RCV_OK, 4, (SUCCESS, 4, 8), (SUCCESS, 4, 8), None),
    (OID_GEN_STATISTICS, 8, (TOO_SHORT, 0, 0x98), (TOO_SHORT, 0, 0x98), None),
    (OID_GEN_INTERRUPT_MODERATION, 4, (TOO_SHORT, 0, 12), (TOO_SHORT, 0, 12), None),
    (OID_TCP_RSC_STATISTICS, 36, (NOT_SUPPORTED, 0, 0), (TOO_SHORT, 0, 40),
     "answered by ringtun (above); NDIS_RSC_STATISTICS_INFO is 40 bytes (its ULONG64 counters 8-aligned)"),
    (OID_PNP_QUERY_POWER, 0, (SUCCESS, 0, 0), (SUCCESS, 0, 0), None),
]

# Requests on the direct and synchronous paths (both adapters answer both alike): a query or set
# is NDIS_STATUS_NOT_SUPPORTED, another request type NDIS_STATUS_INVALID_OID; nothing written.
INVALID_OID = 0xC0010017


# ---- the tables of docs/oids.md, generated from the facts above ----
STATUS_NAMES = {SUCCESS: "SUCCESS", NOT_SUPPORTED: "NOT_SUPPORTED", INVALID_LENGTH: "INVALID_LENGTH",
                INVALID_PARAMETER: "INVALID_PARAMETER",
                INVALID_DATA: "INVALID_DATA", TOO_SHORT: "BUFFER_TOO_SHORT", INVALID_OID: "INVALID_OID"}


def render(answer):
    if answer is None:
        return "`NDIS_STATUS_NOT_SUPPORTED`"
    if isinstance(answer, str):
        return {"version": "driver version (major << 16 \\| minor)", "counter": "64-bit counter",
                "statistics": "`NDIS_STATISTICS_INFO` (0x98 bytes)",
                "interrupt moderation": "`NDIS_INTERRUPT_MODERATION_PARAMETERS`, `NdisInterruptModerationNotSupported`",
                "rsc statistics": "`NDIS_RSC_STATISTICS_INFO` (40 bytes)"}[answer]
    if answer == b"":
        return "success, 0 bytes"
    if len(answer) == 4:
        return f"0x{struct.unpack('<I', answer)[0]:X}"
    return f'"{answer[:-1].decode()}" + NUL'



def outcome(result):
    status, count, needed = result
    return f"{STATUS_NAMES[status]}, {count}, {needed}"


def name(oid):
    return f"`{NAMES[oid]}`" if oid in NAMES else f"unknown, `0x{oid:08X}`"


def cell(text):
    return (text or "").replace("|", "\\|")


def data_cell(data):
    return f"{len(data)} zero bytes" if len(data) > 4 and not any(data) else f"`{data.hex()}`"


def same(wintun, ringtun, reason, shown):
    """'same' only where nothing differs; otherwise ringtun's own answer beside the reason."""
    return "same" if wintun == ringtun and reason is None else shown


def markdown_tables():
    """The three tables docs/oids.md carries (test_model.py checks that it carries them as here)."""
    order = WINTUN_SUPPORTED + RINGTUN_EXTRA_SUPPORTED
    query = ["| OID | Wintun | ringtun | why they differ |", "|---|---|---|---|"]
    for oid in order:
        wintun, ringtun, reason = QUERIES[oid]
        query.append(f"| {name(oid)} | {render(wintun)} | {same(wintun, ringtun, reason, render(ringtun))} | "
                     f"{cell(reason)} |")
    sets = ["| OID | input | Wintun (status, BytesRead, BytesNeeded) | ringtun | why they differ |",
            "|---|---|---|---|---|"]
    for oid, data, wintun, ringtun, reason in SETS:
        sets.append(f"| {name(oid)} | {data_cell(data)} | {outcome(wintun)} | "
                    f"{same(wintun, ringtun, reason, outcome(ringtun))} | {cell(reason)} |")
    short = ["| OID | buffer | Wintun (status, BytesWritten, BytesNeeded) | ringtun | why they differ |",
             "|---|---|---|---|---|"]
    for oid, length, wintun, ringtun, reason in SHORT_QUERIES:
        short.append(f"| {name(oid)} | {length} | {outcome(wintun)} | "
                     f"{same(wintun, ringtun, reason, outcome(ringtun))} | {cell(reason)} |")
    return ["\n".join(query), "\n".join(sets), "\n".join(short)]


if __name__ == "__main__":
    print("\n\n".join(markdown_tables()))
