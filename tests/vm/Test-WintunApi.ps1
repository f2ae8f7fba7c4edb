<#
.SYNOPSIS
    Runs a Wintun API client against the installed ringtun driver through the project's wintun.dll.
.DESCRIPTION
    Run as Administrator, with the driver installed (Install-Driver.ps1). The client is written
    against Wintun's documented API and loads the given wintun.dll by its path (P/Invoke, compiled
    by Add-Type), so it checks what a Wintun-based VPN would see, on the real driver:

      - WintunGetRunningDriverVersion reports a version;
      - WintunCreateAdapter with a requested GUID creates an adapter whose interface alias is the
        name, whose network GUID is the requested one, whose description is "<type> Tunnel", and
        whose LUID is what WintunGetAdapterLUID reports;
      - WintunOpenAdapter finds it by name in any case, closing that handle keeps the adapter, and
        an unknown name fails with ERROR_NOT_FOUND;
      - a second adapter of the same name takes the name and the first becomes "<name> 1", and
        WintunOpenAdapter follows both names;
      - a session moves packets both ways: a UDP datagram the stack routes to the adapter is
        received from the ring with its payload, and an ICMP echo request sent into the ring is
        answered by the stack;
      - WintunDeleteDriver keeps the driver package by default and succeeds; with the opt-in
        (HKLM\SOFTWARE\ringtun, WintunDeleteDriver = 1) it refuses while adapters use the driver;
        the package stays either way;
      - WintunCloseAdapter removes the adapters it created, device installation included;

    and ringtun's extensions (ringtun_wintun.h) as a C VPN uses them, the stack's side being a
    UDP socket on the adapter's address:

      - RINGTUN_CAPABILITIES, _SESSION_CONFIG, _SESSION_INFO, _SESSION_STATISTICS, _OFFLOAD_META
        and _PACKET have the header's sizes for the process's pointer width;
      - RingtunGetCapabilities: v2, Wintun's capacities, the running driver's version, a Size too
        small refused;
      - a v2 session (RingtunStartSession) with 16 bytes of head and 32 of tail room both ways and
        OFFLOAD and WRITE_SPACE where the driver offers them: granted as asked
        (RingtunGetSessionInfo), a second session refused with ERROR_ALREADY_INITIALIZED;
      - a record written into a slot allocated with room (RingtunAllocateSendPacketEx), its inner
        packet moved and shrunk before RingtunSendPacketEx, delivered by the stack to the socket;
        a range past the frame refused and the slot kept, RingtunCancelSendPacket;
        RingtunShrinkSendPacket of Wintun-allocated packets, the last allocated one or not;
      - with offloads: NEEDS_CSUM completed by the driver, a UDP super-packet cut into its
        segments, DATA_VALID delivered, a block with a reserved byte set dropped alone;
        RingtunSetSendPacketOffload read back by RingtunGetSendPacketOffload;
      - a datagram from the stack received with exactly the head room and at least the tail room,
        its metadata (RingtunGetReceivePacketOffload) describing it, header and trailer written
        around it without touching it;
      - RingtunReceivePackets/RingtunReleaseReceivePackets in batches, a release batch with a
        foreign entry; RingtunAllocateSendPackets/RingtunSendPackets in order, a send batch
        stopped by a foreign entry and finished by the next call;
      - RingtunWaitForSendSpace: bad arguments refused, TRUE at once with room, the send ring
        filled with held slots until ERROR_BUFFER_OVERFLOW, ERROR_TIMEOUT after 200 ms and at
        0 ms, a waiting thread woken with TRUE once the held slots are sent (by the driver's
        write-space signal where granted);
      - RingtunGetSessionStatistics equal to what the client counted (packets and bytes each
        way, CopiedBytes 0, SendRingFull, the wait counters), a 48-byte caller served 48 bytes;
      - a RINGTUN_SESSION_V1_ONLY session: the moved packet copied and counted, shrinking a packet
        that is not the last refused (ERROR_NOT_SUPPORTED), offload metadata refused;
      - OFFLOAD with RECEIVE_SPLIT and a bad capacity refused, and more head room than the driver
        offers running on v1 rings with RINGTUN_FALLBACK_UNSUPPORTED.

    tests/tests/windows_flow holds every P/Invoke declaration below against wintun.dll's header
    and exports, and compiles the C# as this Add-Type does, on Linux.

    The process's architecture chooses the DLL's: run it from 32-bit PowerShell
    (%windir%\SysWOW64\WindowsPowerShell\v1.0\powershell.exe) with the i686 wintun.dll to check a
    32-bit client on the 64-bit driver. Run-DeviceTests.ps1 calls it with -WintunDll/-WintunDll32.
    Exits with the number of failed checks.
.PARAMETER WintunDll
    The wintun.dll to test (copied to a temporary folder and loaded from there).
.PARAMETER Name
    The adapter name to create (must not be in use).
.PARAMETER LocalAddress
    The stack's address on the new adapter.
.PARAMETER PeerAddress
    The client's address, routed through the adapter; must lie in the local /24.
#>
[CmdletBinding()]
param(
    [Parameter(Mandatory)] [string] $WintunDll,
    [string] $Name = 'ringtun wintun api',
    [string] $LocalAddress = '10.78.0.1',
    [string] $PeerAddress = '10.78.0.2'
)
Set-StrictMode -Version Latest
$ErrorActionPreference = 'Stop'

$principal = [Security.Principal.WindowsPrincipal]::new([Security.Principal.WindowsIdentity]::GetCurrent())
if (-not $principal.IsInRole([Security.Principal.WindowsBuiltInRole]::Administrator)) {
    throw 'Run this script as Administrator.'
}
if (-not (Test-Path $WintunDll -PathType Leaf)) { throw "wintun.dll not found: $WintunDll" }
$bits = 8 * [IntPtr]::Size
$folder = Join-Path $env:TEMP ("ringtun-wintun-api-" + [guid]::NewGuid().ToString('N'))
New-Item -ItemType Directory -Path $folder | Out-Null
$dll = Join-Path $folder 'wintun.dll'
Copy-Item $WintunDll $dll

$source = @'
using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Runtime.InteropServices;
using System.Threading;

// The structures of ringtun_wintun.h, field for field (tests/tests/windows_flow checks them
// against the header): sequential layout with the C compiler's natural alignment on both pointer
// widths, checked again at run time by WintunClient.Sizes.

[StructLayout(LayoutKind.Sequential)]
public struct RingtunCapabilities
{
    public uint Size;
    public uint MaxVersion;
    public uint SupportedFlags;
    public ushort MaxHeadRoom;
    public ushort MaxTailRoom;
    public uint MinCapacity;
    public uint MaxCapacity;
    public uint DriverVersion;
}

[StructLayout(LayoutKind.Sequential)]
public struct RingtunSessionConfig
{
    public uint Size;
    public uint Flags;
    public uint ReceiveCapacity;
    public uint SendCapacity;
    public ushort ReceiveHeadRoom;
    public ushort ReceiveTailRoom;
    public ushort SendHeadRoom;
    public ushort SendTailRoom;
}

[StructLayout(LayoutKind.Sequential)]
public struct RingtunSessionInfo
{
    public uint Size;
    public uint Version;
    public uint Fallback;
    public uint FallbackDetail;
    public uint Flags;
    public uint ReceiveCapacity;
    public uint SendCapacity;
    public ushort ReceiveHeadRoom;
    public ushort ReceiveTailRoom;
    public ushort SendHeadRoom;
    public ushort SendTailRoom;
}

[StructLayout(LayoutKind.Sequential)]
public struct RingtunSessionStatistics
{
    public uint Size;
    public uint Reserved;
    public ulong SentPackets;
    public ulong SentBytes;
    public ulong ReceivedPackets;
    public ulong ReceivedBytes;
    public ulong CopiedBytes;
    public ulong SendRingFull;
    public ulong SpaceWaits;
    public ulong SpaceFound;
    public ulong SpaceTimeouts;
    public ulong SpaceSignals;
}

[StructLayout(LayoutKind.Sequential)]
public struct RingtunOffloadMeta
{
    public byte Flags;
    public byte GsoType;
    public ushort HdrLen;
    public ushort GsoSize;
    public ushort CsumStart;
    public ushort CsumOffset;
    [MarshalAs(UnmanagedType.ByValArray, SizeConst = 6)]
    public byte[] Reserved;
}

[StructLayout(LayoutKind.Sequential)]
public struct RingtunPacket
{
    public IntPtr Frame;
    public uint FrameSize;
    public uint Offset;
    public uint Size;
}

public static class WintunClient
{
    const string Dll = @"__WINTUN_DLL__";
    public const int ErrorInvalidParameter = 87;
    public const int ErrorNotSupported = 50;
    public const int ErrorBufferOverflow = 111;
    public const int ErrorNoMoreItems = 259;
    public const int ErrorAlreadyInitialized = 1247;
    public const int ErrorTimeout = 1460;

    [DllImport(Dll, SetLastError = true, CharSet = CharSet.Unicode)]
    static extern IntPtr WintunCreateAdapter(string name, string tunnelType, ref Guid requestedGuid);
    [DllImport(Dll, SetLastError = true, CharSet = CharSet.Unicode)]
    static extern IntPtr WintunOpenAdapter(string name);
    [DllImport(Dll)]
    static extern void WintunCloseAdapter(IntPtr adapter);
    [DllImport(Dll)]
    static extern void WintunGetAdapterLUID(IntPtr adapter, out ulong luid);
    [DllImport(Dll, SetLastError = true)]
    static extern uint WintunGetRunningDriverVersion();
    [DllImport(Dll, SetLastError = true)]
    static extern int WintunDeleteDriver();
    [DllImport(Dll, SetLastError = true)]
    static extern IntPtr WintunStartSession(IntPtr adapter, uint capacity);
    [DllImport(Dll)]
    static extern void WintunEndSession(IntPtr session);
    [DllImport(Dll)]
    static extern IntPtr WintunGetReadWaitEvent(IntPtr session);
    [DllImport(Dll, SetLastError = true)]
    static extern IntPtr WintunReceivePacket(IntPtr session, out uint size);
    [DllImport(Dll)]
    static extern void WintunReleaseReceivePacket(IntPtr session, IntPtr packet);
    [DllImport(Dll, SetLastError = true)]
    static extern IntPtr WintunAllocateSendPacket(IntPtr session, uint size);
    [DllImport(Dll)]
    static extern void WintunSendPacket(IntPtr session, IntPtr packet);

    // ringtun's extensions (ringtun_wintun.h): WINAPI, failure through the last error.
    [DllImport(Dll, SetLastError = true)]
    [return: MarshalAs(UnmanagedType.Bool)]
    static extern bool RingtunGetCapabilities(IntPtr adapter, ref RingtunCapabilities capabilities);
    [DllImport(Dll, SetLastError = true)]
    static extern IntPtr RingtunStartSession(IntPtr adapter, ref RingtunSessionConfig config);
    [DllImport(Dll, SetLastError = true)]
    [return: MarshalAs(UnmanagedType.Bool)]
    static extern bool RingtunGetSessionInfo(IntPtr session, ref RingtunSessionInfo info);
    [DllImport(Dll, SetLastError = true)]
    [return: MarshalAs(UnmanagedType.Bool)]
    static extern bool RingtunGetSessionStatistics(IntPtr session, ref RingtunSessionStatistics statistics);
    // The same export with a caller's buffer: a program built with the first, 48-byte struct.
    [DllImport(Dll, SetLastError = true, EntryPoint = "RingtunGetSessionStatistics")]
    [return: MarshalAs(UnmanagedType.Bool)]
    static extern bool RingtunGetSessionStatisticsBuffer(IntPtr session, IntPtr statistics);
    [DllImport(Dll, SetLastError = true)]
    [return: MarshalAs(UnmanagedType.Bool)]
    static extern bool RingtunReceivePacketEx(IntPtr session, out RingtunPacket packet);
    [DllImport(Dll, SetLastError = true)]
    static extern uint RingtunReceivePackets(IntPtr session, [In, Out] RingtunPacket[] packets, uint count);
    [DllImport(Dll, SetLastError = true)]
    static extern uint RingtunReleaseReceivePackets(IntPtr session, [In] RingtunPacket[] packets, uint count);
    [DllImport(Dll, SetLastError = true)]
    [return: MarshalAs(UnmanagedType.Bool)]
    static extern bool RingtunAllocateSendPacketEx(IntPtr session, uint maxSize, ushort headRoom, ushort tailRoom, out RingtunPacket packet);
    [DllImport(Dll, SetLastError = true)]
    static extern uint RingtunAllocateSendPackets(IntPtr session, uint maxSize, ushort headRoom, ushort tailRoom, [In, Out] RingtunPacket[] packets, uint count);
    [DllImport(Dll, SetLastError = true)]
    [return: MarshalAs(UnmanagedType.Bool)]
    static extern bool RingtunSendPacketEx(IntPtr session, [In] ref RingtunPacket packet);
    [DllImport(Dll, SetLastError = true)]
    static extern uint RingtunSendPackets(IntPtr session, [In] RingtunPacket[] packets, uint count);
    [DllImport(Dll, SetLastError = true)]
    [return: MarshalAs(UnmanagedType.Bool)]
    static extern bool RingtunCancelSendPacket(IntPtr session, [In] ref RingtunPacket packet);
    [DllImport(Dll, SetLastError = true)]
    [return: MarshalAs(UnmanagedType.Bool)]
    static extern bool RingtunShrinkSendPacket(IntPtr session, IntPtr packet, uint packetSize);
    [DllImport(Dll, SetLastError = true)]
    [return: MarshalAs(UnmanagedType.Bool)]
    static extern bool RingtunWaitForSendSpace(IntPtr session, uint maxSize, ushort headRoom, ushort tailRoom, uint milliseconds);
    [DllImport(Dll, SetLastError = true)]
    [return: MarshalAs(UnmanagedType.Bool)]
    static extern bool RingtunGetReceivePacketOffload(IntPtr session, [In] ref RingtunPacket packet, out RingtunOffloadMeta meta);
    [DllImport(Dll, SetLastError = true)]
    [return: MarshalAs(UnmanagedType.Bool)]
    static extern bool RingtunGetSendPacketOffload(IntPtr session, [In] ref RingtunPacket packet, out RingtunOffloadMeta meta);
    [DllImport(Dll, SetLastError = true)]
    [return: MarshalAs(UnmanagedType.Bool)]
    static extern bool RingtunSetSendPacketOffload(IntPtr session, [In] ref RingtunPacket packet, [In] ref RingtunOffloadMeta meta);

    [DllImport("kernel32.dll", SetLastError = true)]
    static extern uint WaitForSingleObject(IntPtr handle, uint milliseconds);

    public static IntPtr Create(string name, string tunnelType, Guid guid, out int error)
    {
        IntPtr adapter = WintunCreateAdapter(name, tunnelType, ref guid);
        error = Marshal.GetLastWin32Error();
        return adapter;
    }

    public static IntPtr Open(string name, out int error)
    {
        IntPtr adapter = WintunOpenAdapter(name);
        error = Marshal.GetLastWin32Error();
        return adapter;
    }

    public static void Close(IntPtr adapter) { WintunCloseAdapter(adapter); }

    public static ulong Luid(IntPtr adapter)
    {
        ulong luid;
        WintunGetAdapterLUID(adapter, out luid);
        return luid;
    }

    public static uint Version(out int error)
    {
        uint version = WintunGetRunningDriverVersion();
        error = Marshal.GetLastWin32Error();
        return version;
    }

    public static bool DeleteDriver(out int error)
    {
        bool deleted = WintunDeleteDriver() != 0;
        error = Marshal.GetLastWin32Error();
        return deleted;
    }

    public static IntPtr Start(IntPtr adapter, uint capacity, out int error)
    {
        IntPtr session = WintunStartSession(adapter, capacity);
        error = Marshal.GetLastWin32Error();
        return session;
    }

    public static void End(IntPtr session) { WintunEndSession(session); }

    public static IntPtr ReadWaitEvent(IntPtr session) { return WintunGetReadWaitEvent(session); }

    /// Sends one packet through the ring; false if no slot could be allocated.
    public static bool Send(IntPtr session, byte[] packet, out int error)
    {
        IntPtr slot = WintunAllocateSendPacket(session, (uint)packet.Length);
        error = Marshal.GetLastWin32Error();
        if (slot == IntPtr.Zero)
            return false;
        Marshal.Copy(packet, 0, slot, packet.Length);
        WintunSendPacket(session, slot);
        return true;
    }

    /// Receives packets until one matches or the time is up (waiting on the read-wait event
    /// whenever the ring is empty); returns the matching packet, or null.
    public static byte[] ReceiveMatching(IntPtr session, int timeoutMs, Func<byte[], bool> match, out int error)
    {
        IntPtr readWait = WintunGetReadWaitEvent(session);
        DateTime deadline = DateTime.UtcNow.AddMilliseconds(timeoutMs);
        error = 0;
        while (true)
        {
            uint size;
            IntPtr packet = WintunReceivePacket(session, out size);
            if (packet == IntPtr.Zero)
            {
                error = Marshal.GetLastWin32Error();
                if (error != ErrorNoMoreItems)
                    return null;
                double left = (deadline - DateTime.UtcNow).TotalMilliseconds;
                if (left <= 0)
                    return null;
                WaitForSingleObject(readWait, (uint)left);
                continue;
            }
            byte[] bytes = new byte[size];
            Marshal.Copy(packet, bytes, 0, (int)size);
            WintunReleaseReceivePacket(session, packet);
            if (match(bytes))
                return bytes;
        }
    }

    // ----- the extensions -----------------------------------------------------------------

    /// The managed sizes of the structures, for the run-time layout check.
    public static string Sizes()
    {
        return string.Join(",", new string[] {
            Marshal.SizeOf(typeof(RingtunCapabilities)).ToString(),
            Marshal.SizeOf(typeof(RingtunSessionConfig)).ToString(),
            Marshal.SizeOf(typeof(RingtunSessionInfo)).ToString(),
            Marshal.SizeOf(typeof(RingtunSessionStatistics)).ToString(),
            Marshal.SizeOf(typeof(RingtunOffloadMeta)).ToString(),
            Marshal.SizeOf(typeof(RingtunPacket)).ToString() });
    }

    public static bool Capabilities(IntPtr adapter, uint size, out RingtunCapabilities capabilities, out int error)
    {
        capabilities = new RingtunCapabilities();
        capabilities.Size = size;
        bool ok = RingtunGetCapabilities(adapter, ref capabilities);
        error = ok ? 0 : Marshal.GetLastWin32Error();
        return ok;
    }

    public static RingtunSessionConfig Config(uint flags, uint receiveCapacity, uint sendCapacity, ushort receiveHeadRoom,
        ushort receiveTailRoom, ushort sendHeadRoom, ushort sendTailRoom)
    {
        RingtunSessionConfig c = new RingtunSessionConfig();
        c.Size = (uint)Marshal.SizeOf(typeof(RingtunSessionConfig));
        c.Flags = flags;
        c.ReceiveCapacity = receiveCapacity;
        c.SendCapacity = sendCapacity;
        c.ReceiveHeadRoom = receiveHeadRoom;
        c.ReceiveTailRoom = receiveTailRoom;
        c.SendHeadRoom = sendHeadRoom;
        c.SendTailRoom = sendTailRoom;
        return c;
    }

    public static IntPtr StartEx(IntPtr adapter, RingtunSessionConfig config, out int error)
    {
        IntPtr session = RingtunStartSession(adapter, ref config);
        error = session == IntPtr.Zero ? Marshal.GetLastWin32Error() : 0;
        return session;
    }

    public static bool Info(IntPtr session, out RingtunSessionInfo info, out int error)
    {
        info = new RingtunSessionInfo();
        info.Size = (uint)Marshal.SizeOf(typeof(RingtunSessionInfo));
        bool ok = RingtunGetSessionInfo(session, ref info);
        error = ok ? 0 : Marshal.GetLastWin32Error();
        return ok;
    }

    public static bool Statistics(IntPtr session, out RingtunSessionStatistics statistics, out int error)
    {
        statistics = new RingtunSessionStatistics();
        statistics.Size = (uint)Marshal.SizeOf(typeof(RingtunSessionStatistics));
        bool ok = RingtunGetSessionStatistics(session, ref statistics);
        error = ok ? 0 : Marshal.GetLastWin32Error();
        return ok;
    }

    /// RingtunGetSessionStatistics into a buffer of bufferSize bytes filled with 0xAB, whose
    /// first DWORD (Size) says size; returns the buffer as the call left it.
    public static byte[] StatisticsBuffer(IntPtr session, uint size, int bufferSize, out bool ok, out int error)
    {
        byte[] bytes = new byte[bufferSize];
        for (int i = 0; i < bufferSize; i++)
            bytes[i] = 0xAB;
        Array.Copy(BitConverter.GetBytes(size), bytes, 4);
        IntPtr buffer = Marshal.AllocHGlobal(bufferSize);
        try
        {
            Marshal.Copy(bytes, 0, buffer, bufferSize);
            ok = RingtunGetSessionStatisticsBuffer(session, buffer);
            error = ok ? 0 : Marshal.GetLastWin32Error();
            Marshal.Copy(buffer, bytes, 0, bufferSize);
            return bytes;
        }
        finally
        {
            Marshal.FreeHGlobal(buffer);
        }
    }

    // What this client moved through the extensions in the current session, counted on its side
    // (the adapter's own traffic included): RingtunGetSessionStatistics must say the same.
    public static long SentPackets, SentBytes, ReceivedPackets, ReceivedBytes;
    // Received packets whose room was not what the session asked for, and releases refused.
    public static int RoomViolations, ReleaseFailures;
    static uint expectedHeadRoom, expectedTailRoom;

    /// Starts counting for a new session whose received packets must have exactly headRoom bytes
    /// in front and at least tailRoom after.
    public static void NewSession(uint headRoom, uint tailRoom)
    {
        SentPackets = SentBytes = ReceivedPackets = ReceivedBytes = 0;
        RoomViolations = ReleaseFailures = 0;
        expectedHeadRoom = headRoom;
        expectedTailRoom = tailRoom;
    }

    static void Received(RingtunPacket p)
    {
        ReceivedPackets++;
        ReceivedBytes += p.Size;
        if (p.Offset != expectedHeadRoom || (long)p.FrameSize < (long)p.Offset + p.Size + expectedTailRoom)
            RoomViolations++;
    }

    /// The IP packet of a slot (RINGTUN_PACKET_DATA, Size bytes).
    public static byte[] Data(RingtunPacket p)
    {
        return ReadFrame(p, (int)p.Offset, (int)p.Size);
    }

    public static byte[] ReadFrame(RingtunPacket p, int at, int length)
    {
        if (at < 0 || length < 0 || (long)at + length > p.FrameSize)
            throw new ArgumentOutOfRangeException("at", "outside the frame");
        byte[] bytes = new byte[length];
        Marshal.Copy(IntPtr.Add(p.Frame, at), bytes, 0, length);
        return bytes;
    }

    public static void WriteFrame(RingtunPacket p, int at, byte[] data)
    {
        if (at < 0 || (long)at + data.Length > p.FrameSize)
            throw new ArgumentOutOfRangeException("at", "outside the frame");
        Marshal.Copy(data, 0, IntPtr.Add(p.Frame, at), data.Length);
    }

    /// The slot with its packet at offset, size bytes long (moved and shrunk inside its frame).
    public static RingtunPacket At(RingtunPacket p, uint offset, uint size)
    {
        p.Offset = offset;
        p.Size = size;
        return p;
    }

    /// The slot with packet written at its head room (Offset) and its Size cut to it.
    public static RingtunPacket Place(RingtunPacket p, byte[] packet)
    {
        WriteFrame(p, (int)p.Offset, packet);
        return At(p, p.Offset, (uint)packet.Length);
    }

    /// A slot that is not one the client holds: its frame pointer moved into the frame.
    public static RingtunPacket Foreign(RingtunPacket p)
    {
        p.Frame = IntPtr.Add(p.Frame, 8);
        return p;
    }

    public static bool Same(byte[] a, byte[] b)
    {
        if (a == null || b == null || a.Length != b.Length)
            return false;
        for (int i = 0; i < a.Length; i++)
            if (a[i] != b[i])
                return false;
        return true;
    }

    public static bool ReceiveEx(IntPtr session, out RingtunPacket packet, out int error)
    {
        bool ok = RingtunReceivePacketEx(session, out packet);
        error = ok ? 0 : Marshal.GetLastWin32Error();
        if (ok)
            Received(packet);
        return ok;
    }

    public static uint Release(IntPtr session, RingtunPacket[] packets, out int error)
    {
        uint released = RingtunReleaseReceivePackets(session, packets, (uint)packets.Length);
        error = released == packets.Length ? 0 : Marshal.GetLastWin32Error();
        return released;
    }

    static void ReleaseOne(IntPtr session, RingtunPacket p)
    {
        int error;
        if (Release(session, new RingtunPacket[] { p }, out error) != 1)
            ReleaseFailures++;
    }

    /// Receives with RingtunReceivePacketEx until count packets match or the time is up, waiting
    /// on the read-wait event whenever the ring is empty. The matching packets are returned held
    /// (the caller releases them); the others are released at once.
    public static RingtunPacket[] ReceiveHeld(IntPtr session, int timeoutMs, Func<byte[], bool> match, int count, out int error)
    {
        IntPtr readWait = WintunGetReadWaitEvent(session);
        Stopwatch clock = Stopwatch.StartNew();
        List<RingtunPacket> held = new List<RingtunPacket>();
        error = 0;
        while (held.Count < count)
        {
            RingtunPacket p;
            if (!ReceiveEx(session, out p, out error))
            {
                if (error != ErrorNoMoreItems)
                    break;
                long left = timeoutMs - clock.ElapsedMilliseconds;
                if (left <= 0)
                    break;
                WaitForSingleObject(readWait, (uint)left);
                continue;
            }
            if (match(Data(p)))
                held.Add(p);
            else
                ReleaseOne(session, p);
        }
        return held.ToArray();
    }

    /// Receives with RingtunReceivePackets, up to batch packets a call, until count packets match
    /// or the time is up; each batch is released at once by one RingtunReleaseReceivePackets
    /// call (in reverse order: any order is allowed). Returns the matching packets' bytes;
    /// largest is the most packets one call returned.
    public static byte[][] ReceiveBatches(IntPtr session, int timeoutMs, Func<byte[], bool> match, int count, int batch,
        out int largest, out int error)
    {
        IntPtr readWait = WintunGetReadWaitEvent(session);
        Stopwatch clock = Stopwatch.StartNew();
        List<byte[]> matched = new List<byte[]>();
        RingtunPacket[] packets = new RingtunPacket[batch];
        largest = 0;
        error = 0;
        while (matched.Count < count)
        {
            uint n = RingtunReceivePackets(session, packets, (uint)batch);
            if (n == 0)
            {
                error = Marshal.GetLastWin32Error();
                if (error != ErrorNoMoreItems)
                    break;
                long left = timeoutMs - clock.ElapsedMilliseconds;
                if (left <= 0)
                    break;
                WaitForSingleObject(readWait, (uint)left);
                continue;
            }
            largest = Math.Max(largest, (int)n);
            RingtunPacket[] got = new RingtunPacket[n];
            for (int i = 0; i < n; i++)
            {
                Received(packets[i]);
                got[n - 1 - i] = packets[i];
                byte[] data = Data(packets[i]);
                if (match(data))
                    matched.Add(data);
            }
            int releaseError;
            if (Release(session, got, out releaseError) != n)
                ReleaseFailures++;
        }
        return matched.ToArray();
    }

    public static bool ReceiveOffload(IntPtr session, RingtunPacket packet, out RingtunOffloadMeta meta, out int error)
    {
        bool ok = RingtunGetReceivePacketOffload(session, ref packet, out meta);
        error = ok ? 0 : Marshal.GetLastWin32Error();
        return ok;
    }

    public static bool SendOffload(IntPtr session, RingtunPacket packet, out RingtunOffloadMeta meta, out int error)
    {
        bool ok = RingtunGetSendPacketOffload(session, ref packet, out meta);
        error = ok ? 0 : Marshal.GetLastWin32Error();
        return ok;
    }

    public static bool SetOffload(IntPtr session, RingtunPacket packet, RingtunOffloadMeta meta, out int error)
    {
        bool ok = RingtunSetSendPacketOffload(session, ref packet, ref meta);
        error = ok ? 0 : Marshal.GetLastWin32Error();
        return ok;
    }

    public static bool AllocateEx(IntPtr session, uint maxSize, ushort headRoom, ushort tailRoom, out RingtunPacket packet,
        out int error)
    {
        bool ok = RingtunAllocateSendPacketEx(session, maxSize, headRoom, tailRoom, out packet);
        error = ok ? 0 : Marshal.GetLastWin32Error();
        return ok;
    }

    /// count slots from one RingtunAllocateSendPackets call, or fewer (error says why).
    public static RingtunPacket[] AllocateMany(IntPtr session, uint maxSize, ushort headRoom, ushort tailRoom, int count,
        out int error)
    {
        RingtunPacket[] packets = new RingtunPacket[count];
        uint n = RingtunAllocateSendPackets(session, maxSize, headRoom, tailRoom, packets, (uint)count);
        error = n == count ? 0 : Marshal.GetLastWin32Error();
        Array.Resize(ref packets, (int)n);
        return packets;
    }

    /// Allocates slots one at a time until an allocation is refused, then again after a pause of
    /// settleMs, until an allocation after a pause is refused at once (space the driver released
    /// late is taken too); at most limit slots. Returns the slots, held; refusals is how many
    /// allocations were refused, error the last refusal's error.
    public static RingtunPacket[] Fill(IntPtr session, uint maxSize, ushort headRoom, ushort tailRoom, int limit,
        int settleMs, out int refusals, out int error)
    {
        List<RingtunPacket> held = new List<RingtunPacket>();
        refusals = 0;
        error = 0;
        while (held.Count < limit)
        {
            int before = held.Count;
            while (held.Count < limit)
            {
                RingtunPacket p;
                if (!AllocateEx(session, maxSize, headRoom, tailRoom, out p, out error))
                {
                    refusals++;
                    break;
                }
                held.Add(p);
            }
            if (held.Count == before && refusals > 1)
                break;
            Thread.Sleep(settleMs);
        }
        return held.ToArray();
    }

    public static bool SendEx(IntPtr session, RingtunPacket packet, out int error)
    {
        bool ok = RingtunSendPacketEx(session, ref packet);
        error = ok ? 0 : Marshal.GetLastWin32Error();
        if (ok)
        {
            SentPackets++;
            SentBytes += packet.Size;
        }
        return ok;
    }

    public static uint SendMany(IntPtr session, RingtunPacket[] packets, out int error)
    {
        uint sent = RingtunSendPackets(session, packets, (uint)packets.Length);
        error = sent == packets.Length ? 0 : Marshal.GetLastWin32Error();
        for (int i = 0; i < sent; i++)
        {
            SentPackets++;
            SentBytes += packets[i].Size;
        }
        return sent;
    }

    public static bool Cancel(IntPtr session, RingtunPacket packet, out int error)
    {
        bool ok = RingtunCancelSendPacket(session, ref packet);
        error = ok ? 0 : Marshal.GetLastWin32Error();
        return ok;
    }

    /// WintunAllocateSendPacket, its packet left for RingtunShrinkSendPacket.
    public static IntPtr Allocate(IntPtr session, uint size, out int error)
    {
        IntPtr packet = WintunAllocateSendPacket(session, size);
        error = packet == IntPtr.Zero ? Marshal.GetLastWin32Error() : 0;
        return packet;
    }

    public static void Write(IntPtr packet, byte[] data) { Marshal.Copy(data, 0, packet, data.Length); }

    public static bool Shrink(IntPtr session, IntPtr packet, uint size, out int error)
    {
        bool ok = RingtunShrinkSendPacket(session, packet, size);
        error = ok ? 0 : Marshal.GetLastWin32Error();
        if (ok)
        {
            SentPackets++;
            SentBytes += size;
        }
        return ok;
    }

    /// WintunSendPacket of a whole packet of size bytes, counted.
    public static void SendWhole(IntPtr session, IntPtr packet, uint size)
    {
        WintunSendPacket(session, packet);
        SentPackets++;
        SentBytes += size;
    }

    public static bool WaitForSpace(IntPtr session, uint maxSize, ushort headRoom, ushort tailRoom, uint milliseconds,
        out int error)
    {
        bool ok = RingtunWaitForSendSpace(session, maxSize, headRoom, tailRoom, milliseconds);
        error = ok ? 0 : Marshal.GetLastWin32Error();
        return ok;
    }

    /// Places an IPv4 UDP datagram from source to destination in each slot, carrying the text
    /// prefix + its index; returns the slots, each cut to its datagram.
    public static RingtunPacket[] FillDatagrams(RingtunPacket[] slots, IPEndPoint source, IPEndPoint destination, string prefix)
    {
        for (int i = 0; i < slots.Length; i++)
            slots[i] = Place(slots[i], Udp(source, destination, Text(prefix + i), "full"));
        return slots;
    }

    public static byte[] Text(string text) { return System.Text.Encoding.ASCII.GetBytes(text); }

    // ----- offload metadata ------------------------------------------------------------------

    public static RingtunOffloadMeta Meta(byte flags, byte gsoType, ushort hdrLen, ushort gsoSize, ushort csumStart,
        ushort csumOffset)
    {
        RingtunOffloadMeta m = new RingtunOffloadMeta();
        m.Flags = flags;
        m.GsoType = gsoType;
        m.HdrLen = hdrLen;
        m.GsoSize = gsoSize;
        m.CsumStart = csumStart;
        m.CsumOffset = csumOffset;
        m.Reserved = new byte[6];
        return m;
    }

    /// The block with one reserved byte set.
    public static RingtunOffloadMeta WithReserved(RingtunOffloadMeta m, int index, byte value)
    {
        byte[] reserved = new byte[6];
        reserved[index] = value;
        m.Reserved = reserved;
        return m;
    }

    public static bool SameMeta(RingtunOffloadMeta a, RingtunOffloadMeta b)
    {
        return a.Flags == b.Flags && a.GsoType == b.GsoType && a.HdrLen == b.HdrLen && a.GsoSize == b.GsoSize
            && a.CsumStart == b.CsumStart && a.CsumOffset == b.CsumOffset && Same(a.Reserved, b.Reserved);
    }

    public static bool IsPlain(RingtunOffloadMeta m) { return SameMeta(m, Meta(0, 0, 0, 0, 0, 0)); }

    public static string Describe(RingtunOffloadMeta m)
    {
        return string.Format("flags {0} gso {1} hdr_len {2} gso_size {3} csum {4}+{5} reserved {6}", m.Flags, m.GsoType,
            m.HdrLen, m.GsoSize, m.CsumStart, m.CsumOffset, m.Reserved == null ? "null" : BitConverter.ToString(m.Reserved));
    }

    /// Whether a received UDP datagram's metadata describes it as ring-protocol.md section 15
    /// says the driver writes a stack's packet: a plain block and a computed checksum, or
    /// NEEDS_CSUM with the checksum range of UDP and the pseudo-header sum in the field. Returns
    /// the kind ("plain", "NEEDS_CSUM"), or null.
    public static string ReceivedUdpMetaKind(byte[] p, RingtunOffloadMeta m)
    {
        int h = (p[0] & 0xF) * 4;
        bool reservedZero = m.Reserved != null && Same(m.Reserved, new byte[6]);
        if (!reservedZero || m.GsoType != 0 || m.HdrLen != 0 || m.GsoSize != 0)
            return null;
        if (m.Flags == 0 && m.CsumStart == 0 && m.CsumOffset == 0 && UdpChecksumValid(p))
            return "plain";
        if (m.Flags == 1 && m.CsumStart == h && m.CsumOffset == 6 && (p[h + 6] << 8 | p[h + 7]) == PseudoHeaderSum(p))
            return "NEEDS_CSUM";
        return null;
    }

    // ----- packets -------------------------------------------------------------------------

    static ushort ipIdentification = 0x5200;

    static uint Sum(byte[] data, int offset, int length, uint sum)
    {
        for (int i = 0; i + 1 < length; i += 2)
            sum += (uint)(data[offset + i] << 8 | data[offset + i + 1]);
        if (length % 2 == 1)
            sum += (uint)(data[offset + length - 1] << 8);
        return sum;
    }

    static ushort Fold(uint sum)
    {
        while (sum >> 16 != 0)
            sum = (sum & 0xFFFF) + (sum >> 16);
        return (ushort)sum;
    }

    static ushort Checksum(byte[] data, int offset, int length)
    {
        return (ushort)~Fold(Sum(data, offset, length, 0));
    }

    /// The pseudo-header sum of an IPv4 packet's L4 header (addresses, protocol, L4 length),
    /// folded and not complemented: what a NEEDS_CSUM packet's checksum field holds.
    public static ushort PseudoHeaderSum(byte[] p)
    {
        int h = (p[0] & 0xF) * 4;
        int total = p[2] << 8 | p[3];
        uint sum = Sum(p, 12, 8, 0) + p[9] + (uint)(total - h);
        return Fold(sum);
    }

    /// Whether an IPv4 UDP datagram's checksum is right (0: none, which IPv4 allows, is not).
    public static bool UdpChecksumValid(byte[] p)
    {
        int h = (p[0] & 0xF) * 4;
        if ((p[h + 6] << 8 | p[h + 7]) == 0)
            return false;
        uint sum = Sum(p, h, p.Length - h, PseudoHeaderSum(p));
        return Fold(sum) == 0xFFFF;
    }

    /// An IPv4 UDP datagram. checksum: "full" (computed), "partial" (the pseudo-header sum, for
    /// NEEDS_CSUM).
    public static byte[] Udp(IPEndPoint source, IPEndPoint destination, byte[] payload, string checksum)
    {
        int length = 20 + 8 + payload.Length;
        byte[] p = new byte[length];
        p[0] = 0x45;
        p[2] = (byte)(length >> 8);
        p[3] = (byte)length;
        p[4] = (byte)(ipIdentification >> 8);
        p[5] = (byte)ipIdentification;
        ipIdentification++;
        p[8] = 64;
        p[9] = 17;
        Array.Copy(source.Address.GetAddressBytes(), 0, p, 12, 4);
        Array.Copy(destination.Address.GetAddressBytes(), 0, p, 16, 4);
        ushort ip = Checksum(p, 0, 20);
        p[10] = (byte)(ip >> 8);
        p[11] = (byte)ip;
        p[20] = (byte)(source.Port >> 8);
        p[21] = (byte)source.Port;
        p[22] = (byte)(destination.Port >> 8);
        p[23] = (byte)destination.Port;
        p[24] = (byte)((8 + payload.Length) >> 8);
        p[25] = (byte)(8 + payload.Length);
        Array.Copy(payload, 0, p, 28, payload.Length);
        ushort udp;
        if (checksum == "full")
        {
            udp = (ushort)~Fold(Sum(p, 20, length - 20, PseudoHeaderSum(p)));
            if (udp == 0)
                udp = 0xFFFF;
        }
        else if (checksum == "partial")
            udp = PseudoHeaderSum(p);
        else
            throw new ArgumentException("checksum: full or partial");
        p[26] = (byte)(udp >> 8);
        p[27] = (byte)udp;
        return p;
    }

    /// An IPv4 ICMP echo request (type 8) from source to destination.
    public static byte[] EchoRequest(IPAddress source, IPAddress destination, ushort id, ushort sequence, byte[] payload)
    {
        byte[] p = new byte[20 + 8 + payload.Length];
        p[0] = 0x45;
        p[2] = (byte)(p.Length >> 8);
        p[3] = (byte)p.Length;
        p[8] = 64;
        p[9] = 1;
        Array.Copy(source.GetAddressBytes(), 0, p, 12, 4);
        Array.Copy(destination.GetAddressBytes(), 0, p, 16, 4);
        ushort ip = Checksum(p, 0, 20);
        p[10] = (byte)(ip >> 8);
        p[11] = (byte)ip;
        p[20] = 8;
        p[24] = (byte)(id >> 8);
        p[25] = (byte)id;
        p[26] = (byte)(sequence >> 8);
        p[27] = (byte)sequence;
        Array.Copy(payload, 0, p, 28, payload.Length);
        ushort icmp = Checksum(p, 20, p.Length - 20);
        p[22] = (byte)(icmp >> 8);
        p[23] = (byte)icmp;
        return p;
    }

    static bool Addresses(byte[] p, IPAddress source, IPAddress destination, byte protocol)
    {
        if (p.Length < 20 || p[0] >> 4 != 4 || p[9] != protocol)
            return false;
        byte[] s = source.GetAddressBytes(), d = destination.GetAddressBytes();
        for (int i = 0; i < 4; i++)
            if (p[12 + i] != s[i] || p[16 + i] != d[i])
                return false;
        return true;
    }

    static bool EndsWith(byte[] p, int from, byte[] tail)
    {
        if (p.Length - from != tail.Length)
            return false;
        for (int i = 0; i < tail.Length; i++)
            if (p[from + i] != tail[i])
                return false;
        return true;
    }

    /// Whether p is the ICMP echo reply (type 0) to EchoRequest(..., id, sequence, payload).
    public static bool IsEchoReply(byte[] p, IPAddress source, IPAddress destination, ushort id, ushort sequence, byte[] payload)
    {
        if (!Addresses(p, source, destination, 1))
            return false;
        int h = (p[0] & 0xF) * 4;
        return p.Length >= h + 8 && p[h] == 0 && (p[h + 4] << 8 | p[h + 5]) == id
            && (p[h + 6] << 8 | p[h + 7]) == sequence && EndsWith(p, h + 8, payload);
    }

    /// Whether p is a UDP datagram from source to destination:port carrying payload.
    public static bool IsUdp(byte[] p, IPAddress source, IPAddress destination, int port, byte[] payload)
    {
        if (!Addresses(p, source, destination, 17))
            return false;
        int h = (p[0] & 0xF) * 4;
        return p.Length >= h + 8 && (p[h + 2] << 8 | p[h + 3]) == port && EndsWith(p, h + 8, payload);
    }

    /// A match for the UDP datagrams from source to destination:port whose payload, as text,
    /// starts with prefix (the whole payload when exact).
    public static Func<byte[], bool> UdpMatch(IPAddress source, IPAddress destination, int port, string prefix, bool exact)
    {
        return delegate(byte[] p)
        {
            string text = UdpText(p, source, destination, port);
            return text != null && (exact ? text == prefix : text.StartsWith(prefix, StringComparison.Ordinal));
        };
    }

    /// A match for the ICMP echo reply to EchoRequest(..., id, sequence, payload).
    public static Func<byte[], bool> EchoReplyMatch(IPAddress source, IPAddress destination, ushort id, ushort sequence,
        byte[] payload)
    {
        return delegate(byte[] p) { return IsEchoReply(p, source, destination, id, sequence, payload); };
    }

    public static Func<byte[], bool> Either(Func<byte[], bool> a, Func<byte[], bool> b)
    {
        return delegate(byte[] p) { return a(p) || b(p); };
    }

    /// The payload of a UDP datagram from source to destination:port, as text; null for any
    /// other packet.
    public static string UdpText(byte[] p, IPAddress source, IPAddress destination, int port)
    {
        if (!Addresses(p, source, destination, 17))
            return null;
        int h = (p[0] & 0xF) * 4;
        if (p.Length < h + 8 || (p[h + 2] << 8 | p[h + 3]) != port)
            return null;
        return System.Text.Encoding.ASCII.GetString(p, h + 8, p.Length - h - 8);
    }
}

/// A UDP socket on the stack's side of the adapter: what the stack delivered of the client's
/// packets.
public sealed class UdpSink : IDisposable
{
    readonly Socket socket;
    readonly IPEndPoint sender;
    /// Datagrams from any other sender, skipped.
    public int Foreign;

    public UdpSink(IPAddress local, IPEndPoint sender)
    {
        this.sender = sender;
        socket = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        socket.ReceiveBufferSize = 1 << 20;
        socket.Bind(new IPEndPoint(local, 0));
    }

    public IPEndPoint EndPoint { get { return (IPEndPoint)socket.LocalEndPoint; } }

    /// The next datagram from the sender within the time, or null.
    public byte[] Receive(int timeoutMs)
    {
        Stopwatch clock = Stopwatch.StartNew();
        byte[] buffer = new byte[65536];
        while (true)
        {
            long left = timeoutMs - clock.ElapsedMilliseconds;
            if (left < 0 || !socket.Poll((int)left * 1000, SelectMode.SelectRead))
                return null;
            EndPoint from = new IPEndPoint(IPAddress.Any, 0);
            int n = socket.ReceiveFrom(buffer, ref from);
            if (!from.Equals(sender))
            {
                Foreign++;
                continue;
            }
            byte[] data = new byte[n];
            Array.Copy(buffer, data, n);
            return data;
        }
    }

    /// Up to count datagrams from the sender within the time, as text, in arrival order.
    public string[] ReceiveText(int count, int timeoutMs)
    {
        Stopwatch clock = Stopwatch.StartNew();
        List<string> got = new List<string>();
        while (got.Count < count)
        {
            long left = timeoutMs - clock.ElapsedMilliseconds;
            byte[] data = Receive((int)Math.Max(left, 0));
            if (data == null)
                break;
            got.Add(System.Text.Encoding.ASCII.GetString(data));
        }
        return got.ToArray();
    }

    public void Dispose() { socket.Close(); }
}

/// A thread blocked in RingtunWaitForSendSpace.
public sealed class SpaceWaiter
{
    readonly Thread thread;
    public bool Result;
    public int Error;
    public long Milliseconds;

    public SpaceWaiter(IntPtr session, uint maxSize, ushort headRoom, ushort tailRoom, uint timeoutMs)
    {
        thread = new Thread(delegate()
        {
            Stopwatch clock = Stopwatch.StartNew();
            int error;
            Result = WintunClient.WaitForSpace(session, maxSize, headRoom, tailRoom, timeoutMs, out error);
            Error = error;
            Milliseconds = clock.ElapsedMilliseconds;
        });
        thread.IsBackground = true;
        thread.Start();
    }

    public bool Join(int timeoutMs) { return thread.Join(timeoutMs); }
}
'@
Add-Type -TypeDefinition $source.Replace('__WINTUN_DLL__', $dll)

$failures = 0
function Check([bool] $ok, [string] $what) {
    if ($ok) { Write-Host "ok    $what" } else { Write-Host "FAIL  $what"; $script:failures++ }
}
function Get-AdapterByLuid([uint64] $Luid) {
    Get-NetAdapter -IncludeHidden -ErrorAction SilentlyContinue | Where-Object { $_.NetLuid -eq $Luid }
}
# Waits until the adapter with this LUID is gone; true if it went.
function Wait-AdapterGone([uint64] $Luid) {
    for ($i = 0; $i -lt 40; $i++) {
        if (-not (Get-AdapterByLuid $Luid)) { return $true }
        Start-Sleep -Milliseconds 250
    }
    $false
}

# ----- ringtun's extensions (ringtun_wintun.h) ------------------------------------------------
# RINGTUN_SESSION_* flags.
$RECEIVE_SPLIT = 0x1
$OFFLOAD = 0x2
$WRITE_SPACE = 0x4
$V1_ONLY = 0x10000
# Win32 errors: ERROR_NOT_SUPPORTED, ERROR_INVALID_PARAMETER, ERROR_BUFFER_OVERFLOW,
# ERROR_ALREADY_INITIALIZED, ERROR_TIMEOUT.
$NOT_SUPPORTED = 50
$INVALID_PARAMETER = 87
$BUFFER_OVERFLOW = 111
$ALREADY_INITIALIZED = 1247
$TIMEOUT = 1460

# The session's statistics (a failed call is a failed check).
function Get-SessionStatistics([IntPtr] $Session) {
    $statistics = New-Object RingtunSessionStatistics
    $e = 0
    if (-not [WintunClient]::Statistics($Session, [ref]$statistics, [ref]$e)) {
        Check $false "RingtunGetSessionStatistics (error $e)"
    }
    $statistics
}

# A slot of RingtunAllocateSendPacketEx(MaxSize, 16, 32), or $null (a failed check).
function New-Slot([IntPtr] $Session, [uint32] $MaxSize) {
    $slot = New-Object RingtunPacket
    $e = 0
    if (-not [WintunClient]::AllocateEx($Session, $MaxSize, 16, 32, [ref]$slot, [ref]$e)) {
        Check $false "RingtunAllocateSendPacketEx($MaxSize, 16, 32) (error $e)"
        return $null
    }
    $slot
}

# What the adapter's driver offers (RingtunGetCapabilities), checked against the driver's version
# and Wintun's limits; returns it.
function Test-Capabilities([IntPtr] $Adapter, [uint32] $Version) {
    $caps = New-Object RingtunCapabilities
    $e = 0
    $ok = [WintunClient]::Capabilities($Adapter, 27, [ref]$caps, [ref]$e)
    Check (-not $ok -and $e -eq $INVALID_PARAMETER) "RingtunGetCapabilities with a Size one byte short: ERROR_INVALID_PARAMETER (error $e)"
    $ok = [WintunClient]::Capabilities($Adapter, 28, [ref]$caps, [ref]$e)
    Check $ok "RingtunGetCapabilities (error $e)"
    Check ($caps.MaxVersion -eq 2) "the driver offers v2 rings (MaxVersion $($caps.MaxVersion))"
    Check (($caps.SupportedFlags -band $RECEIVE_SPLIT) -ne 0 -and $caps.SupportedFlags -le 7) ("its flags: RECEIVE_SPLIT and no unknown one (0x{0:X})" -f $caps.SupportedFlags)
    Check ($caps.MinCapacity -eq 0x20000 -and $caps.MaxCapacity -eq 0x4000000) ("its capacities are Wintun's (0x{0:X} to 0x{1:X})" -f $caps.MinCapacity, $caps.MaxCapacity)
    Check ($caps.MaxHeadRoom -ge 32 -and $caps.MaxTailRoom -ge 32) "room for the sessions below (head $($caps.MaxHeadRoom), tail $($caps.MaxTailRoom))"
    Check (($caps.DriverVersion -shr 16) -eq ($Version -shr 16) -and (($caps.DriverVersion -shr 8) -band 0xFF) -eq ($Version -band 0xFFFF)) ("its DriverVersion 0x{0:X6} is WintunGetRunningDriverVersion's {1}.{2}" -f $caps.DriverVersion, ($Version -shr 16), ($Version -band 0xFFFF))
    $caps
}

# A v2 session used as a C VPN (OpenConnect's ESP path, say) uses the extensions: room around the
# packets both ways, a received record decrypted into its slot and the packet moved and shrunk
# there, offload metadata both ways, batches, the write-space wait, and statistics that agree
# with what the client counted itself. The stack's side is Windows' own: a UDP socket on the
# adapter's address receives what the client sends, and sends what the client receives.
function Test-V2Session([IntPtr] $Adapter, $Caps) {
    $e = 0
    $flags = [uint32]($Caps.SupportedFlags -band ($OFFLOAD -bor $WRITE_SPACE)) # asked for where offered
    $offload = ($flags -band $OFFLOAD) -ne 0
    $signal = ($flags -band $WRITE_SPACE) -ne 0
    $config = [WintunClient]::Config($flags, 0x400000, 0x20000, 16, 32, 16, 32)
    $session = [WintunClient]::StartEx($Adapter, $config, [ref]$e)
    Check ($session -ne [IntPtr]::Zero) ("RingtunStartSession: a 4 MiB receive and a 128 KiB send ring, 16 bytes of head and 32 of tail room both ways, flags 0x{0:X} (error {1})" -f $flags, $e)
    if ($session -eq [IntPtr]::Zero) { return }
    $sink = $null
    $udp = $null
    $waiter = $null
    try {
        $again = [WintunClient]::StartEx($Adapter, $config, [ref]$e)
        Check ($again -eq [IntPtr]::Zero -and $e -eq $ALREADY_INITIALIZED) "a second RingtunStartSession on the adapter: ERROR_ALREADY_INITIALIZED (error $e)"
        if ($again -ne [IntPtr]::Zero) { [WintunClient]::End($again) }
        $info = New-Object RingtunSessionInfo
        $ok = [WintunClient]::Info($session, [ref]$info, [ref]$e)
        Check ($ok -and $info.Version -eq 2 -and $info.Fallback -eq 0) "RingtunGetSessionInfo: v2 rings, no fallback (version $($info.Version), fallback $($info.Fallback), error $e)"
        Check ($info.Flags -eq $flags) ("the flags asked for are granted (0x{0:X})" -f $info.Flags)
        Check ($info.ReceiveCapacity -eq 0x400000 -and $info.SendCapacity -eq 0x20000) ("the capacities asked for (0x{0:X}, 0x{1:X})" -f $info.ReceiveCapacity, $info.SendCapacity)
        Check ($info.ReceiveHeadRoom -eq 16 -and $info.ReceiveTailRoom -eq 32 -and $info.SendHeadRoom -eq 16 -and $info.SendTailRoom -eq 32) `
            ("the room asked for, the offload block not counted (receive {0}/{1}, send {2}/{3})" -f $info.ReceiveHeadRoom, $info.ReceiveTailRoom, $info.SendHeadRoom, $info.SendTailRoom)
        [WintunClient]::NewSession(16, 32)
        $start = Get-SessionStatistics $session
        Check ($start.SentPackets -eq 0 -and $start.ReceivedPackets -eq 0 -and $start.CopiedBytes -eq 0 -and $start.SendRingFull -eq 0 -and $start.SpaceWaits -eq 0) 'RingtunGetSessionStatistics: a new session has counted nothing'
        Start-Sleep -Seconds 2 # the address becomes usable once the session brings the link up

        $from = [System.Net.IPEndPoint]::new($peer, $peerPort)
        $sink = [UdpSink]::new($local, $from)
        $to = $sink.EndPoint

        # A record received from the tunnel lands in a slot allocated for a whole record and is
        # decrypted there: the inner packet ends up 20 bytes in (after the ESP header and IV),
        # shorter than allocated, with the ESP trailer after it.
        $slot = New-Slot $session 1500
        if ($null -ne $slot) {
            Check ($slot.Offset -eq 16 -and $slot.Size -eq 1500 -and $slot.FrameSize -ge 1548) "RingtunAllocateSendPacketEx(1500, 16, 32): Offset $($slot.Offset), Size $($slot.Size), FrameSize $($slot.FrameSize)"
            $meta = New-Object RingtunOffloadMeta
            $ok = [WintunClient]::SendOffload($session, $slot, [ref]$meta, [ref]$e)
            Check ($ok -and [WintunClient]::IsPlain($meta)) "RingtunGetSendPacketOffload: a new slot is plain ($([WintunClient]::Describe($meta)), error $e)"
            $payload = [WintunClient]::Text("ringtun v2 record $bits-bit")
            $inner = [WintunClient]::Udp($from, $to, $payload, 'full')
            [WintunClient]::WriteFrame($slot, 0, [byte[]](0..19 | ForEach-Object { 0xE0 + $_ }))
            [WintunClient]::WriteFrame($slot, 20, $inner)
            [WintunClient]::WriteFrame($slot, 20 + $inner.Length, [byte[]](0..17 | ForEach-Object { 0xC0 + $_ }))
            $moved = [WintunClient]::At($slot, 20, $inner.Length)
            $ok = [WintunClient]::SendEx($session, $moved, [ref]$e)
            Check $ok "RingtunSendPacketEx of the packet moved 4 bytes in and shrunk to $($inner.Length) bytes (error $e)"
            Check ([WintunClient]::Same($sink.Receive(5000), $payload)) 'the stack delivers it to a UDP socket on the adapter, payload intact'
            $ok = [WintunClient]::SendEx($session, $moved, [ref]$e)
            Check (-not $ok -and $e -eq $INVALID_PARAMETER) "RingtunSendPacketEx of the same slot again: ERROR_INVALID_PARAMETER (error $e)"
        }
        $slot = New-Slot $session 1500
        if ($null -ne $slot) {
            $ok = [WintunClient]::SendEx($session, [WintunClient]::At($slot, 16, $slot.FrameSize), [ref]$e)
            Check (-not $ok -and $e -eq $INVALID_PARAMETER) "RingtunSendPacketEx of a range past the frame's end: ERROR_INVALID_PARAMETER (error $e)"
            $ok = [WintunClient]::Cancel($session, $slot, [ref]$e)
            Check $ok "the slot stayed the client's: RingtunCancelSendPacket gives it back (error $e)"
            $ok = [WintunClient]::Cancel($session, $slot, [ref]$e)
            Check (-not $ok -and $e -eq $INVALID_PARAMETER) "RingtunCancelSendPacket of it again: ERROR_INVALID_PARAMETER (error $e)"
        }

        # Wintun's allocation cut to the packet before sending (RingtunShrinkSendPacket): on v2,
        # the last allocated packet or any other.
        $packet1 = [WintunClient]::Allocate($session, 1500, [ref]$e)
        $packet2 = [WintunClient]::Allocate($session, 1500, [ref]$e)
        Check ($packet1 -ne [IntPtr]::Zero -and $packet2 -ne [IntPtr]::Zero) "two WintunAllocateSendPacket(1500) (error $e)"
        if ($packet1 -ne [IntPtr]::Zero -and $packet2 -ne [IntPtr]::Zero) {
            $datagram1 = [WintunClient]::Udp($from, $to, [WintunClient]::Text('shrunk 1'), 'full')
            $datagram2 = [WintunClient]::Udp($from, $to, [WintunClient]::Text('shrunk 2'), 'full')
            [WintunClient]::Write($packet1, $datagram1)
            [WintunClient]::Write($packet2, $datagram2)
            $ok = [WintunClient]::Shrink($session, $packet1, 0, [ref]$e)
            Check (-not $ok -and $e -eq $INVALID_PARAMETER) "RingtunShrinkSendPacket to 0 bytes: ERROR_INVALID_PARAMETER (error $e)"
            $ok = [WintunClient]::Shrink($session, $packet1, $datagram1.Length, [ref]$e)
            Check $ok "the packet stayed the client's: RingtunShrinkSendPacket of it, not the last allocated, to $($datagram1.Length) bytes (error $e)"
            $ok = [WintunClient]::Shrink($session, $packet2, $datagram2.Length, [ref]$e)
            Check $ok "RingtunShrinkSendPacket of the last allocated (error $e)"
            $texts = @($sink.ReceiveText(2, 5000))
            Check (($texts -join ',') -eq 'shrunk 1,shrunk 2') ("the stack delivers both, in allocation order ({0})" -f ($texts -join ', '))
        }

        if ($offload) {
            # NEEDS_CSUM: the checksum field holds the pseudo-header sum and the driver completes
            # it (NDIS takes no partial checksums); the stack would drop the datagram otherwise.
            $slot = New-Slot $session 1500
            if ($null -ne $slot) {
                $payload = [WintunClient]::Text('checksum left to the driver')
                $slot = [WintunClient]::Place($slot, [WintunClient]::Udp($from, $to, $payload, 'partial'))
                $meta = [WintunClient]::Meta(1, 0, 0, 0, 20, 6)
                $ok = [WintunClient]::SetOffload($session, $slot, $meta, [ref]$e)
                $back = New-Object RingtunOffloadMeta
                $read = [WintunClient]::SendOffload($session, $slot, [ref]$back, [ref]$e)
                Check ($ok -and $read -and [WintunClient]::SameMeta($meta, $back)) "RingtunSetSendPacketOffload(NEEDS_CSUM, 20+6), read back by RingtunGetSendPacketOffload (error $e)"
                $ok = [WintunClient]::SendEx($session, $slot, [ref]$e)
                Check ($ok -and [WintunClient]::Same($sink.Receive(5000), $payload)) "the driver completes the checksum: the stack delivers the datagram (error $e)"
            }
            # A UDP super-packet (UDP_L4, 500 bytes of payload in 200-byte segments): NDIS takes
            # none, so the driver cuts it into datagrams, each with its own checksum.
            $slot = New-Slot $session 1500
            if ($null -ne $slot) {
                $text = '0123456789' * 50
                $slot = [WintunClient]::Place($slot, [WintunClient]::Udp($from, $to, [WintunClient]::Text($text), 'partial'))
                $ok = [WintunClient]::SetOffload($session, $slot, [WintunClient]::Meta(1, 5, 28, 200, 20, 6), [ref]$e)
                Check $ok "RingtunSetSendPacketOffload(NEEDS_CSUM, UDP_L4, hdr_len 28, gso_size 200) (error $e)"
                $ok = [WintunClient]::SendEx($session, $slot, [ref]$e)
                $texts = @($sink.ReceiveText(3, 5000))
                $lengths = ($texts | ForEach-Object { $_.Length }) -join ', '
                Check ($ok -and $texts.Count -eq 3 -and $lengths -eq '200, 200, 100' -and ($texts -join '') -eq $text) "the super-packet arrives as 3 datagrams of 200, 200 and 100 bytes, in order ($lengths; error $e)"
            }
            # DATA_VALID (the client vouches for the checksums) goes through; a block the driver
            # must refuse (a reserved byte set) drops its packet and only that one.
            $valid = New-Slot $session 1500
            $refused = New-Slot $session 1500
            $next = New-Slot $session 1500
            if ($null -ne $valid -and $null -ne $refused -and $null -ne $next) {
                $valid = [WintunClient]::Place($valid, [WintunClient]::Udp($from, $to, [WintunClient]::Text('data valid'), 'full'))
                $refused = [WintunClient]::Place($refused, [WintunClient]::Udp($from, $to, [WintunClient]::Text('reserved byte set'), 'full'))
                $next = [WintunClient]::Place($next, [WintunClient]::Udp($from, $to, [WintunClient]::Text('after the dropped one'), 'full'))
                $ok = [WintunClient]::SetOffload($session, $valid, [WintunClient]::Meta(2, 0, 0, 0, 0, 0), [ref]$e)
                Check $ok "RingtunSetSendPacketOffload(DATA_VALID) (error $e)"
                $ok = [WintunClient]::SetOffload($session, $refused, [WintunClient]::WithReserved([WintunClient]::Meta(0, 0, 0, 0, 0, 0), 5, 1), [ref]$e)
                Check $ok "RingtunSetSendPacketOffload of a block with a reserved byte set: the library leaves the judgement to the driver (error $e)"
                $sent = [WintunClient]::SendMany($session, [RingtunPacket[]]@($valid, $refused, $next), [ref]$e)
                Check ($sent -eq 3) "RingtunSendPackets of the three (error $e)"
                $texts = @($sink.ReceiveText(3, 3000))
                Check (($texts -join ',') -eq 'data valid,after the dropped one') ("the stack gets the DATA_VALID datagram and the one after the refused block, not that one ({0})" -f ($texts -join ', '))
            }
        }

        # The stack's packets come out with room: a VPN writes its header in front and its trailer
        # after, and encrypts in place.
        $udp = [System.Net.Sockets.UdpClient]::new([System.Net.IPEndPoint]::new($local, 0))
        $discard = [System.Net.IPEndPoint]::new($peer, 9)
        $payload = [WintunClient]::Text("ringtun v2 to the client $bits-bit")
        [void]$udp.Send($payload, $payload.Length, $discard)
        $match = [WintunClient]::UdpMatch($local, $peer, 9, "ringtun v2 to the client $bits-bit", $true)
        $held = [WintunClient]::ReceiveHeld($session, 5000, $match, 1, [ref]$e)
        Check ($held.Length -eq 1) "RingtunReceivePacketEx: a UDP datagram the stack routes to the adapter (error $e)"
        if ($held.Length -eq 1) {
            $packet = $held[0]
            $after = [int64]$packet.FrameSize - $packet.Offset - $packet.Size
            Check ($packet.Offset -eq 16 -and $after -ge 32) "it has exactly 16 bytes of room in front ($($packet.Offset)) and at least 32 after ($after)"
            $data = [WintunClient]::Data($packet)
            $meta = New-Object RingtunOffloadMeta
            $ok = [WintunClient]::ReceiveOffload($session, $packet, [ref]$meta, [ref]$e)
            if ($offload) {
                $kind = [WintunClient]::ReceivedUdpMetaKind($data, $meta)
                Check ($ok -and $null -ne $kind) "RingtunGetReceivePacketOffload describes it: $kind ($([WintunClient]::Describe($meta)), error $e)"
            } else {
                Check ($ok -and [WintunClient]::IsPlain($meta)) "RingtunGetReceivePacketOffload without offloads: all zero (error $e)"
            }
            [WintunClient]::WriteFrame($packet, 0, [byte[]](0..15 | ForEach-Object { 0xA0 + $_ }))
            [WintunClient]::WriteFrame($packet, $packet.Offset + $packet.Size, [byte[]](0..31 | ForEach-Object { 0x80 + $_ }))
            Check ([WintunClient]::Same([WintunClient]::Data($packet), $data)) 'a header written into the head room and a trailer into the tail room leave the packet as it was'
            $released = [WintunClient]::Release($session, [RingtunPacket[]]@($packet), [ref]$e)
            Check ($released -eq 1) "RingtunReleaseReceivePackets of it (error $e)"
            $released = [WintunClient]::Release($session, [RingtunPacket[]]@($packet), [ref]$e)
            Check ($released -eq 0 -and $e -eq $INVALID_PARAMETER) "releasing it again: none released, ERROR_INVALID_PARAMETER (error $e)"
            $ok = [WintunClient]::ReceiveOffload($session, $packet, [ref]$meta, [ref]$e)
            Check (-not $ok -and $e -eq $INVALID_PARAMETER) "RingtunGetReceivePacketOffload of a released packet: ERROR_INVALID_PARAMETER (error $e)"
        }

        # Batches both ways. In: 8 datagrams, received 16 at a time, each batch released by one call.
        foreach ($i in 0..7) {
            $bytes = [WintunClient]::Text("batch $i")
            [void]$udp.Send($bytes, $bytes.Length, $discard)
        }
        Start-Sleep -Milliseconds 200
        $match = [WintunClient]::UdpMatch($local, $peer, 9, 'batch ', $false)
        $largest = 0
        $batches = [WintunClient]::ReceiveBatches($session, 5000, $match, 8, 16, [ref]$largest, [ref]$e)
        $texts = @($batches | ForEach-Object { [WintunClient]::UdpText($_, $local, $peer, 9) } | Sort-Object)
        Check (($texts -join ',') -eq ((0..7 | ForEach-Object { "batch $_" }) -join ',')) "RingtunReceivePackets and RingtunReleaseReceivePackets: the 8 datagrams, each once ($($texts.Count); error $e)"
        Check ($largest -ge 2) "one RingtunReceivePackets call returned several packets (at most $largest)"
        # A release batch with a pointer into a packet: the entries before it are released, it is
        # skipped with ERROR_INVALID_PARAMETER, the ones after it are released too.
        foreach ($name in 'hold a', 'hold b') {
            $bytes = [WintunClient]::Text($name)
            [void]$udp.Send($bytes, $bytes.Length, $discard)
        }
        $match = [WintunClient]::UdpMatch($local, $peer, 9, 'hold ', $false)
        $held = [WintunClient]::ReceiveHeld($session, 5000, $match, 2, [ref]$e)
        Check ($held.Length -eq 2) "two datagrams received and held (error $e)"
        if ($held.Length -eq 2) {
            $released = [WintunClient]::Release($session, [RingtunPacket[]]@($held[0], [WintunClient]::Foreign($held[0]), $held[1]), [ref]$e)
            Check ($released -eq 1 -and $e -eq $INVALID_PARAMETER) "RingtunReleaseReceivePackets with a pointer into a packet second of three: 1 released before it, ERROR_INVALID_PARAMETER ($released, error $e)"
            $released = [WintunClient]::Release($session, [RingtunPacket[]]@($held[1]), [ref]$e)
            Check ($released -eq 0 -and $e -eq $INVALID_PARAMETER) "the entry after it was released too (error $e)"
        }
        # Out: 8 slots from one call, sent by one call, delivered in order.
        $batch = [WintunClient]::AllocateMany($session, 1500, 16, 32, 8, [ref]$e)
        Check ($batch.Length -eq 8) "RingtunAllocateSendPackets of 8 slots ($($batch.Length); error $e)"
        $batch = [WintunClient]::FillDatagrams($batch, $from, $to, 'sent ')
        $sent = [WintunClient]::SendMany($session, $batch, [ref]$e)
        Check ($sent -eq $batch.Length) "RingtunSendPackets of them ($sent; error $e)"
        $texts = @($sink.ReceiveText($batch.Length, 5000))
        Check (($texts -join ',') -eq ((0..7 | ForEach-Object { "sent $_" }) -join ',')) ("the stack delivers them in order ({0})" -f ($texts -join ', '))
        # A send batch stops at an entry that is no slot of the client's; it and the rest stay the
        # client's and go out with the next call.
        $four = [WintunClient]::AllocateMany($session, 1500, 16, 32, 4, [ref]$e)
        Check ($four.Length -eq 4) "RingtunAllocateSendPackets of 4 slots (error $e)"
        if ($four.Length -eq 4) {
            $four = [WintunClient]::FillDatagrams($four, $from, $to, 'in two calls ')
            $sent = [WintunClient]::SendMany($session, [RingtunPacket[]]@($four[0], $four[1], [WintunClient]::Foreign($four[2]), $four[2], $four[3]), [ref]$e)
            Check ($sent -eq 2 -and $e -eq $INVALID_PARAMETER) "RingtunSendPackets stops at a pointer into a slot: 2 sent, ERROR_INVALID_PARAMETER ($sent, error $e)"
            $sent = [WintunClient]::SendMany($session, [RingtunPacket[]]@($four[2], $four[3]), [ref]$e)
            Check ($sent -eq 2) "the two after it stayed the client's and go out with the next call ($sent; error $e)"
            $texts = @($sink.ReceiveText(4, 5000))
            Check (($texts -join ',') -eq ((0..3 | ForEach-Object { "in two calls $_" }) -join ',')) ("the stack delivers the four in order ({0})" -f ($texts -join ', '))
        }

        # The write-space wait. Arguments no allocation could satisfy are refused; with room, a
        # wait returns at once and is not counted as one.
        $ok = [WintunClient]::WaitForSpace($session, 0, 0, 0, 0, [ref]$e)
        Check (-not $ok -and $e -eq $INVALID_PARAMETER) "RingtunWaitForSendSpace for 0 bytes: ERROR_INVALID_PARAMETER (error $e)"
        $ok = [WintunClient]::WaitForSpace($session, 1500, 17, 32, 0, [ref]$e)
        Check (-not $ok -and $e -eq $INVALID_PARAMETER) "RingtunWaitForSendSpace with more head room than the session's: ERROR_INVALID_PARAMETER (error $e)"
        $ok = [WintunClient]::WaitForSpace($session, 1500, 16, 32, 0, [ref]$e)
        Check $ok "RingtunWaitForSendSpace(0 ms) with room: TRUE at once (error $e)"
        $before = Get-SessionStatistics $session
        Check ($before.SpaceWaits -eq 0 -and $before.SendRingFull -eq 0) "a wait that found room is not counted (SpaceWaits $($before.SpaceWaits))"
        # The send ring filled with slots the client holds: nothing frees space until it sends
        # them. A slot: the 8-byte header, the 16-byte offload block, 16 + 1500 + 32 bytes, 8-aligned.
        $slotSize = if ($offload) { 1576 } else { 1560 }
        $fits = [math]::Floor((0x20000 - 8) / $slotSize) # the ring keeps 8 bytes free
        $refusals = 0
        $held = [WintunClient]::Fill($session, 1500, 16, 32, 10000, 100, [ref]$refusals, [ref]$e)
        Check ($e -eq $BUFFER_OVERFLOW -and $held.Length -le $fits -and $held.Length -ge $fits - 2) "slots held until allocations are refused with ERROR_BUFFER_OVERFLOW ($refusals times, the last after a pause): $($held.Length) of $slotSize bytes, $fits fit an empty ring (error $e)"
        $clock = [System.Diagnostics.Stopwatch]::StartNew()
        $ok = [WintunClient]::WaitForSpace($session, 1500, 16, 32, 200, [ref]$e)
        $waited = $clock.ElapsedMilliseconds
        Check (-not $ok -and $e -eq $TIMEOUT -and $waited -ge 195 -and $waited -lt 5000) "RingtunWaitForSendSpace(200 ms) while nothing frees space: ERROR_TIMEOUT after $waited ms (error $e)"
        $ok = [WintunClient]::WaitForSpace($session, 1500, 16, 32, 0, [ref]$e)
        Check (-not $ok -and $e -eq $TIMEOUT) "RingtunWaitForSendSpace(0 ms) only looks: ERROR_TIMEOUT (error $e)"
        $timedOut = Get-SessionStatistics $session
        Check ($timedOut.SendRingFull -eq $refusals -and $timedOut.SpaceWaits -eq 2 -and $timedOut.SpaceTimeouts -eq 2 -and $timedOut.SpaceFound -eq 0 -and $timedOut.SpaceSignals -eq 0) `
            ("counted: SendRingFull {0}, SpaceWaits {1}, SpaceTimeouts {2}, SpaceFound {3}, SpaceSignals {4}" -f $timedOut.SendRingFull, $timedOut.SpaceWaits, $timedOut.SpaceTimeouts, $timedOut.SpaceFound, $timedOut.SpaceSignals)
        if ($held.Length -gt 0) {
            # A thread waits; the client sends what it held (a datagram in each slot), the driver
            # consumes it, and the wait ends with room: woken by the driver's write-space signal
            # where the session has it, by looking at the ring otherwise.
            $waiter = [SpaceWaiter]::new($session, 1500, 16, 32, 10000)
            $waiting = $false
            for ($i = 0; $i -lt 500 -and -not $waiting; $i++) {
                Start-Sleep -Milliseconds 10
                $waiting = (Get-SessionStatistics $session).SpaceWaits -gt $timedOut.SpaceWaits
            }
            Check $waiting 'a thread in RingtunWaitForSendSpace(10 s) is counted as waiting'
            Start-Sleep -Milliseconds 200
            $held = [WintunClient]::FillDatagrams($held, $from, $to, 'space ')
            $sent = [WintunClient]::SendMany($session, $held, [ref]$e)
            Check ($sent -eq $held.Length) "RingtunSendPackets of the $($held.Length) held slots ($sent; error $e)"
            $joined = $waiter.Join(15000)
            Check ($joined -and $waiter.Result) ("the waiting thread returns TRUE once the driver consumed them (after {0} ms, error {1})" -f $waiter.Milliseconds, $waiter.Error)
            if ($joined) { $waiter = $null }
            $texts = @($sink.ReceiveText($held.Length, 10000) | Where-Object { $_ -match '^space \d+$' } | Sort-Object { [int]$_.Substring(6) })
            $expected = @(0..($held.Length - 1) | ForEach-Object { "space $_" })
            Check (($texts -join ',') -eq ($expected -join ',')) "the stack delivers all $($held.Length) ($($texts.Count) arrived)"
            $woken = Get-SessionStatistics $session
            Check ($woken.SpaceWaits -eq 3 -and $woken.SpaceFound -eq 1 -and $woken.SpaceTimeouts -eq 2) ("the wait counted: SpaceWaits {0}, SpaceFound {1}, SpaceTimeouts {2}" -f $woken.SpaceWaits, $woken.SpaceFound, $woken.SpaceTimeouts)
            if ($signal) {
                Check ($woken.SpaceSignals -ge 1) "the driver's write-space signal woke it (SpaceSignals $($woken.SpaceSignals))"
            } else {
                Check ($woken.SpaceSignals -eq 0) "without the signal the ring was looked at (SpaceSignals $($woken.SpaceSignals))"
            }
            $ok = [WintunClient]::WaitForSpace($session, 1500, 16, 32, 0, [ref]$e)
            Check $ok "room again: RingtunWaitForSendSpace(0 ms) is TRUE (error $e)"
        }

        # The statistics against what the client counted itself.
        $final = Get-SessionStatistics $session
        Check ($final.SentPackets -eq [WintunClient]::SentPackets -and $final.SentBytes -eq [WintunClient]::SentBytes) `
            ("SentPackets {0} and SentBytes {1}: what the client sent ({2}, {3})" -f $final.SentPackets, $final.SentBytes, [WintunClient]::SentPackets, [WintunClient]::SentBytes)
        Check ($final.ReceivedPackets -eq [WintunClient]::ReceivedPackets -and $final.ReceivedBytes -eq [WintunClient]::ReceivedBytes) `
            ("ReceivedPackets {0} and ReceivedBytes {1}: what the client received, the adapter's own traffic included ({2}, {3})" -f $final.ReceivedPackets, $final.ReceivedBytes, [WintunClient]::ReceivedPackets, [WintunClient]::ReceivedBytes)
        Check ($final.CopiedBytes -eq 0) "CopiedBytes 0: every packet byte stayed where it was written ($($final.CopiedBytes))"
        Check ([WintunClient]::RoomViolations -eq 0) "every received packet had exactly 16 bytes of head room and at least 32 of tail room ($([WintunClient]::RoomViolations) of $([WintunClient]::ReceivedPackets) did not)"
        Check ([WintunClient]::ReleaseFailures -eq 0) "every release of a held packet succeeded ($([WintunClient]::ReleaseFailures) failed)"
        $ok = $false
        $buffer = [WintunClient]::StatisticsBuffer($session, 48, 96, [ref]$ok, [ref]$e)
        $beyond = @($buffer[48..95] | Where-Object { $_ -ne 0xAB }).Count
        Check ($ok -and [BitConverter]::ToUInt64($buffer, 8) -eq $final.SentPackets -and [BitConverter]::ToUInt64($buffer, 40) -eq $final.CopiedBytes -and $beyond -eq 0) `
            "a caller of the first, 48-byte struct gets its 48 bytes and nothing after them ($beyond bytes changed; error $e)"
        $buffer = [WintunClient]::StatisticsBuffer($session, 47, 96, [ref]$ok, [ref]$e)
        Check (-not $ok -and $e -eq $INVALID_PARAMETER) "RingtunGetSessionStatistics with a Size below 48: ERROR_INVALID_PARAMETER (error $e)"
    } finally {
        # WintunEndSession must not run while a thread waits in the session.
        if ($null -ne $waiter) { [void]$waiter.Join(15000) }
        if ($null -ne $sink) { $sink.Dispose() }
        if ($null -ne $udp) { $udp.Dispose() }
        [WintunClient]::End($session)
    }
}

# Wintun's v1 rings through the extensions (RINGTUN_SESSION_V1_ONLY), as with Wintun's own driver:
# no room in the ring, so a packet not at its frame's start is moved there (a copy, counted), and
# only the last allocated packet can change length.
function Test-V1Session([IntPtr] $Adapter) {
    $e = 0
    $config = [WintunClient]::Config($V1_ONLY, 0x20000, 0x20000, 0, 0, 0, 0)
    $session = [WintunClient]::StartEx($Adapter, $config, [ref]$e)
    Check ($session -ne [IntPtr]::Zero) "RingtunStartSession with RINGTUN_SESSION_V1_ONLY (error $e)"
    if ($session -eq [IntPtr]::Zero) { return }
    try {
        $info = New-Object RingtunSessionInfo
        $ok = [WintunClient]::Info($session, [ref]$info, [ref]$e)
        Check ($ok -and $info.Version -eq 1 -and $info.Fallback -eq 0 -and $info.Flags -eq $V1_ONLY -and $info.SendHeadRoom -eq 0 -and $info.ReceiveHeadRoom -eq 0) `
            ("RingtunGetSessionInfo: v1 rings as asked, no room (version {0}, fallback {1}, flags 0x{2:X}; error {3})" -f $info.Version, $info.Fallback, $info.Flags, $e)
        [WintunClient]::NewSession(0, 0)
        Start-Sleep -Seconds 2 # the address becomes usable once the session brings the link up

        $slot = New-Object RingtunPacket
        $ok = [WintunClient]::AllocateEx($session, 1500, 16, 32, [ref]$slot, [ref]$e)
        Check ($ok -and $slot.Offset -eq 16 -and $slot.Size -eq 1500 -and $slot.FrameSize -eq 1548) "RingtunAllocateSendPacketEx(1500, 16, 32) on v1: one packet of 1548 bytes (Offset $($slot.Offset), Size $($slot.Size), FrameSize $($slot.FrameSize); error $e)"
        $echo = $null
        if ($ok) {
            $payload = [WintunClient]::Text("ringtun v1 moved $bits-bit")
            $echo = [WintunClient]::EchoRequest($peer, $local, 0x5255, 1, $payload)
            $slot = [WintunClient]::Place($slot, $echo)
            $ok = [WintunClient]::SendEx($session, $slot, [ref]$e)
            Check $ok "RingtunSendPacketEx of an ICMP echo request 16 bytes into the frame (error $e)"
            $match = [WintunClient]::EchoReplyMatch($local, $peer, 0x5255, 1, $payload)
            $held = [WintunClient]::ReceiveHeld($session, 5000, $match, 1, [ref]$e)
            Check ($held.Length -eq 1) "the stack answers it: RingtunReceivePacketEx gives the echo reply (error $e)"
            if ($held.Length -eq 1) { [void][WintunClient]::Release($session, $held, [ref]$e) }
            $statistics = Get-SessionStatistics $session
            Check ($statistics.CopiedBytes -eq $echo.Length) "v1 has no data offset: the library moved the packet, CopiedBytes $($statistics.CopiedBytes) = its $($echo.Length) bytes"
        }

        $wholePayload = [WintunClient]::Text('v1 whole ' + ('.' * 111))
        $cutPayload = [WintunClient]::Text('v1 cut')
        $whole = [WintunClient]::EchoRequest($peer, $local, 0x5255, 2, $wholePayload)
        $packet1 = [WintunClient]::Allocate($session, $whole.Length, [ref]$e)
        $packet2 = [WintunClient]::Allocate($session, 1500, [ref]$e)
        Check ($packet1 -ne [IntPtr]::Zero -and $packet2 -ne [IntPtr]::Zero) "two WintunAllocateSendPacket (error $e)"
        if ($packet1 -ne [IntPtr]::Zero -and $packet2 -ne [IntPtr]::Zero) {
            $cut = [WintunClient]::EchoRequest($peer, $local, 0x5255, 3, $cutPayload)
            [WintunClient]::Write($packet1, $whole)
            [WintunClient]::Write($packet2, $cut)
            $ok = [WintunClient]::Shrink($session, $packet1, $whole.Length - 100, [ref]$e)
            Check (-not $ok -and $e -eq $NOT_SUPPORTED) "RingtunShrinkSendPacket of a packet that is not the last allocated: ERROR_NOT_SUPPORTED on v1 (error $e)"
            [WintunClient]::SendWhole($session, $packet1, $whole.Length)
            $ok = [WintunClient]::Shrink($session, $packet2, $cut.Length, [ref]$e)
            Check $ok "RingtunShrinkSendPacket of the last allocated to $($cut.Length) bytes (error $e)"
            $match = [WintunClient]::Either([WintunClient]::EchoReplyMatch($local, $peer, 0x5255, 2, $wholePayload), [WintunClient]::EchoReplyMatch($local, $peer, 0x5255, 3, $cutPayload))
            $held = [WintunClient]::ReceiveHeld($session, 5000, $match, 2, [ref]$e)
            Check ($held.Length -eq 2) "the stack answers both: the first sent whole, the second cut (error $e)"
            if ($held.Length -gt 0) { [void][WintunClient]::Release($session, $held, [ref]$e) }
        }

        $slot = New-Object RingtunPacket
        $ok = [WintunClient]::AllocateEx($session, 100, 0, 0, [ref]$slot, [ref]$e)
        Check $ok "RingtunAllocateSendPacketEx(100, 0, 0) (error $e)"
        if ($ok) {
            $ok = [WintunClient]::SetOffload($session, $slot, [WintunClient]::Meta(1, 0, 0, 0, 20, 6), [ref]$e)
            Check (-not $ok -and $e -eq $NOT_SUPPORTED) "RingtunSetSendPacketOffload without offloads: ERROR_NOT_SUPPORTED (error $e)"
            $meta = New-Object RingtunOffloadMeta
            $ok = [WintunClient]::SendOffload($session, $slot, [ref]$meta, [ref]$e)
            Check ($ok -and [WintunClient]::IsPlain($meta)) "RingtunGetSendPacketOffload without offloads: all zero (error $e)"
            $ok = [WintunClient]::Cancel($session, $slot, [ref]$e)
            Check $ok "RingtunCancelSendPacket takes the last allocated slot back (error $e)"
        }
        $ok = [WintunClient]::WaitForSpace($session, 1500, 0, 0, 0, [ref]$e)
        Check $ok "RingtunWaitForSendSpace(0 ms) on v1 rings with room: TRUE (error $e)"

        $final = Get-SessionStatistics $session
        Check ($final.SentPackets -eq [WintunClient]::SentPackets -and $final.SentBytes -eq [WintunClient]::SentBytes -and $final.ReceivedPackets -eq [WintunClient]::ReceivedPackets -and $final.ReceivedBytes -eq [WintunClient]::ReceivedBytes) `
            ("v1 statistics: sent {0}/{1}, received {2}/{3}, what the client counted ({4}/{5}, {6}/{7})" -f $final.SentPackets, $final.SentBytes, $final.ReceivedPackets, $final.ReceivedBytes, [WintunClient]::SentPackets, [WintunClient]::SentBytes, [WintunClient]::ReceivedPackets, [WintunClient]::ReceivedBytes)
        Check ([WintunClient]::RoomViolations -eq 0 -and [WintunClient]::ReleaseFailures -eq 0) "every received packet had no room (Offset 0), every release succeeded"
    } finally {
        [WintunClient]::End($session)
    }
}

# What RingtunStartSession refuses, and the fallback it reports when the room asked for exceeds
# the driver's.
function Test-SessionNegotiation([IntPtr] $Adapter, $Caps) {
    $e = 0
    $both = $OFFLOAD -bor $RECEIVE_SPLIT
    $config = [WintunClient]::Config($both, 0x20000, 0x20000, 16, 16, 16, 16)
    $session = [WintunClient]::StartEx($Adapter, $config, [ref]$e)
    Check ($session -eq [IntPtr]::Zero -and $e -eq $INVALID_PARAMETER) "RingtunStartSession with OFFLOAD and RECEIVE_SPLIT: ERROR_INVALID_PARAMETER (error $e)"
    if ($session -ne [IntPtr]::Zero) { [WintunClient]::End($session) }
    $config = [WintunClient]::Config(0, 0x30000, 0x20000, 0, 0, 0, 0)
    $session = [WintunClient]::StartEx($Adapter, $config, [ref]$e)
    Check ($session -eq [IntPtr]::Zero -and $e -eq $INVALID_PARAMETER) "RingtunStartSession with a capacity that is no power of two: ERROR_INVALID_PARAMETER (error $e)"
    if ($session -ne [IntPtr]::Zero) { [WintunClient]::End($session) }
    if ($Caps.MaxHeadRoom -ge 0xFFFF) {
        Check $false "the driver offers all the head room a WORD holds: no request exceeds it"
        return
    }
    $config = [WintunClient]::Config(0, 0x20000, 0x20000, $Caps.MaxHeadRoom + 1, 0, 0, 0)
    $session = [WintunClient]::StartEx($Adapter, $config, [ref]$e)
    Check ($session -ne [IntPtr]::Zero) "RingtunStartSession with $($Caps.MaxHeadRoom + 1) bytes of receive head room, one more than the driver's (error $e)"
    if ($session -eq [IntPtr]::Zero) { return }
    try {
        $info = New-Object RingtunSessionInfo
        $ok = [WintunClient]::Info($session, [ref]$info, [ref]$e)
        Check ($ok -and $info.Version -eq 1 -and $info.Fallback -eq 3 -and $info.ReceiveHeadRoom -eq 0 -and $info.Flags -eq 0) `
            ("it runs on v1 rings and says why: RINGTUN_FALLBACK_UNSUPPORTED (version {0}, fallback {1}, detail {2}; error {3})" -f $info.Version, $info.Fallback, $info.FallbackDetail, $e)
    } finally {
        [WintunClient]::End($session)
    }
}

$local = [System.Net.IPAddress]::Parse($LocalAddress)
$peer = [System.Net.IPAddress]::Parse($PeerAddress)
# The UDP port of the client's datagrams (the peer's side).
$peerPort = 47001
$ruleName = 'ringtun wintun api check (ICMP echo)'
$udpRuleName = 'ringtun wintun api check (UDP from the peer)'
$first = [IntPtr]::Zero
$second = [IntPtr]::Zero
$session = [IntPtr]::Zero
$err = 0
Write-Host "Wintun API client ($bits-bit) with $WintunDll"
try {
    $version = [WintunClient]::Version([ref]$err)
    Check ($version -ne 0) ("WintunGetRunningDriverVersion: {0}.{1} (error {2})" -f ($version -shr 16), ($version -band 0xFFFF), $err)

    if (Get-NetAdapter -Name $Name -ErrorAction SilentlyContinue) { throw "an adapter named '$Name' exists already" }
    $guid = [guid]::NewGuid()
    $first = [WintunClient]::Create($Name, 'ringtun', $guid, [ref]$err)
    Check ($first -ne [IntPtr]::Zero) "WintunCreateAdapter('$Name', 'ringtun', {$guid}) (error $err)"
    if ($first -eq [IntPtr]::Zero) { throw 'no adapter: the remaining checks need one' }
    $firstLuid = [WintunClient]::Luid($first)
    $net = Get-AdapterByLuid $firstLuid
    Check ($null -ne $net) ("WintunGetAdapterLUID {0:X16} is an interface's LUID" -f $firstLuid)
    if ($net) {
        Check ($net.Name -eq $Name) "the interface alias is the name ('$($net.Name)')"
        Check ([guid]$net.InterfaceGuid -eq $guid) "the network GUID is the requested one ($($net.InterfaceGuid))"
        Check ($net.InterfaceDescription -like 'ringtun Tunnel*') "the description is the tunnel type's ('$($net.InterfaceDescription)')"
    }

    $opened = [WintunClient]::Open($Name.ToUpperInvariant(), [ref]$err)
    Check ($opened -ne [IntPtr]::Zero -and [WintunClient]::Luid($opened) -eq $firstLuid) "WintunOpenAdapter finds it by name in another case (error $err)"
    if ($opened -ne [IntPtr]::Zero) { [WintunClient]::Close($opened) }
    Check ($null -ne (Get-AdapterByLuid $firstLuid)) 'closing an opened handle keeps the adapter'
    $none = [WintunClient]::Open('ringtun no such adapter', [ref]$err)
    Check ($none -eq [IntPtr]::Zero -and $err -eq 1168) "WintunOpenAdapter of an unknown name: ERROR_NOT_FOUND (error $err)"
    if ($none -ne [IntPtr]::Zero) { [WintunClient]::Close($none) }

    # The same name again: the new adapter takes it, the first one is renamed "<name> 1".
    $second = [WintunClient]::Create($Name, 'ringtun', [guid]::NewGuid(), [ref]$err)
    Check ($second -ne [IntPtr]::Zero) "WintunCreateAdapter of a name in use (error $err)"
    if ($second -ne [IntPtr]::Zero) {
        $secondLuid = [WintunClient]::Luid($second)
        $renamed = "$Name 1"
        Check ((Get-AdapterByLuid $secondLuid).Name -eq $Name) 'the new adapter takes the name'
        Check ((Get-AdapterByLuid $firstLuid).Name -eq $renamed) "the first adapter is now '$renamed' ('$((Get-AdapterByLuid $firstLuid).Name)')"
        $byName = [WintunClient]::Open($Name, [ref]$err)
        Check ($byName -ne [IntPtr]::Zero -and [WintunClient]::Luid($byName) -eq $secondLuid) 'WintunOpenAdapter of the name finds the new adapter'
        if ($byName -ne [IntPtr]::Zero) { [WintunClient]::Close($byName) }
        $byRenamed = [WintunClient]::Open($renamed, [ref]$err)
        Check ($byRenamed -ne [IntPtr]::Zero -and [WintunClient]::Luid($byRenamed) -eq $firstLuid) "WintunOpenAdapter of '$renamed' finds the first one"
        if ($byRenamed -ne [IntPtr]::Zero) { [WintunClient]::Close($byRenamed) }
        [WintunClient]::Close($second)
        $second = [IntPtr]::Zero
        Check (Wait-AdapterGone $secondLuid) 'WintunCloseAdapter removes the adapter it created'
    }

    # Packets both ways through a session.
    $ifIndex = (Get-AdapterByLuid $firstLuid).ifIndex
    Set-NetIPInterface -InterfaceIndex $ifIndex -AddressFamily IPv4 -Dhcp Disabled
    Set-NetIPInterface -InterfaceIndex $ifIndex -AddressFamily IPv4 -DadTransmits 0 -ErrorAction SilentlyContinue
    New-NetIPAddress -InterfaceIndex $ifIndex -IPAddress $LocalAddress -PrefixLength 24 | Out-Null
    Remove-NetFirewallRule -DisplayName $ruleName -ErrorAction SilentlyContinue
    New-NetFirewallRule -DisplayName $ruleName -Direction Inbound -Action Allow -Protocol ICMPv4 -IcmpType 8 `
        -LocalAddress $LocalAddress -RemoteAddress $PeerAddress | Out-Null
    Remove-NetFirewallRule -DisplayName $udpRuleName -ErrorAction SilentlyContinue
    New-NetFirewallRule -DisplayName $udpRuleName -Direction Inbound -Action Allow -Protocol UDP `
        -LocalAddress $LocalAddress -RemoteAddress $PeerAddress | Out-Null
    $session = [WintunClient]::Start($first, 0x400000, [ref]$err)
    Check ($session -ne [IntPtr]::Zero) "WintunStartSession, 4 MiB rings (error $err)"
    if ($session -ne [IntPtr]::Zero) {
        Check ([WintunClient]::ReadWaitEvent($session) -ne [IntPtr]::Zero) 'WintunGetReadWaitEvent gives an event'
        Start-Sleep -Seconds 2 # the address becomes usable once the session brings the link up

        $payload = [Text.Encoding]::ASCII.GetBytes("ringtun wintun api $bits-bit")
        $udp = [System.Net.Sockets.UdpClient]::new([System.Net.IPEndPoint]::new($local, 0))
        try { [void]$udp.Send($payload, $payload.Length, [System.Net.IPEndPoint]::new($peer, 9)) } finally { $udp.Dispose() }
        $match = [Func[byte[], bool]] { param($p) [WintunClient]::IsUdp($p, $local, $peer, 9, $payload) }
        $got = [WintunClient]::ReceiveMatching($session, 5000, $match, [ref]$err)
        Check ($null -ne $got) "a UDP datagram the stack routes to the adapter comes out of the ring (error $err)"

        $echo = [WintunClient]::EchoRequest($peer, $local, 0x5254, 1, $payload)
        Check ([WintunClient]::Send($session, $echo, [ref]$err)) "WintunAllocateSendPacket/WintunSendPacket of an ICMP echo request (error $err)"
        $match = [Func[byte[], bool]] { param($p) [WintunClient]::IsEchoReply($p, $local, $peer, 0x5254, 1, $payload) }
        $got = [WintunClient]::ReceiveMatching($session, 5000, $match, [ref]$err)
        Check ($null -ne $got) "the stack answers it: the echo reply comes out of the ring (error $err)"
        [WintunClient]::End($session)
        $session = [IntPtr]::Zero
    }

    # ringtun's extensions on the same adapter, the structures first (a 32-bit client has a
    # 16-byte RINGTUN_PACKET, a 64-bit one a 24-byte one).
    $sizes = if ($bits -eq 64) { '28,24,36,88,16,24' } else { '28,24,36,88,16,16' }
    Check ([WintunClient]::Sizes() -eq $sizes) "the structures' sizes are the C header's: $([WintunClient]::Sizes()) (RINGTUN_CAPABILITIES, _SESSION_CONFIG, _SESSION_INFO, _SESSION_STATISTICS, _OFFLOAD_META, _PACKET)"
    $caps = Test-Capabilities $first $version
    Test-V2Session $first $caps
    Test-V1Session $first
    Test-SessionNegotiation $first $caps

    # By default WintunDeleteDriver keeps the package installed from ringtun.inf (the DLL cannot
    # install it again, unlike Wintun's) and succeeds.
    $deleted = [WintunClient]::DeleteDriver([ref]$err)
    Check $deleted ("WintunDeleteDriver keeps the driver package and succeeds (error 0x{0:X8})" -f $err)
    Check ([WintunClient]::Version([ref]$err) -ne 0) "the driver still runs (error $err)"
    # With the administrator's opt-in it deletes as Wintun's does: refused while adapters use the
    # driver. The value is written in the registry's 64-bit view, which the DLL reads from 32-bit
    # processes too (32-bit PowerShell's HKLM:\SOFTWARE is the WOW6432Node view).
    $machine = [Microsoft.Win32.RegistryKey]::OpenBaseKey([Microsoft.Win32.RegistryHive]::LocalMachine, [Microsoft.Win32.RegistryView]::Registry64)
    $hadKey = $null -ne $machine.OpenSubKey('SOFTWARE\ringtun')
    $optIn = $machine.CreateSubKey('SOFTWARE\ringtun')
    try {
        $optIn.SetValue('WintunDeleteDriver', 1, [Microsoft.Win32.RegistryValueKind]::DWord)
        $deleted = [WintunClient]::DeleteDriver([ref]$err)
        Check (-not $deleted) ("with the opt-in, WintunDeleteDriver refuses while adapters use the driver (error 0x{0:X8})" -f $err)
    } finally {
        $optIn.DeleteValue('WintunDeleteDriver', $false)
        $optIn.Close()
        if (-not $hadKey) { $machine.DeleteSubKey('SOFTWARE\ringtun', $false) }
        $machine.Close()
    }
    # Get-WindowsDriver (DISM) returns objects whose OriginalFileName is the package's INF in the store.
    $packages = @(Get-WindowsDriver -Online | Where-Object { $_.OriginalFileName -and (Split-Path -Leaf $_.OriginalFileName) -eq 'ringtun.inf' })
    Check ($packages.Count -gt 0) 'the driver package is still in the driver store'

    [WintunClient]::Close($first)
    $first = [IntPtr]::Zero
    Check (Wait-AdapterGone $firstLuid) 'WintunCloseAdapter removes the adapter it created'
    Check ($null -eq (Get-PnpDevice -InstanceId "SWD\RINGTUN\{$guid}" -ErrorAction SilentlyContinue)) 'its device installation is removed too'
} finally {
    if ($session -ne [IntPtr]::Zero) { [WintunClient]::End($session) }
    if ($second -ne [IntPtr]::Zero) { [WintunClient]::Close($second) }
    if ($first -ne [IntPtr]::Zero) { [WintunClient]::Close($first) }
    Remove-NetFirewallRule -DisplayName $ruleName -ErrorAction SilentlyContinue
    Remove-NetFirewallRule -DisplayName $udpRuleName -ErrorAction SilentlyContinue
}

Write-Host "Wintun API client ($bits-bit): $failures check(s) failed"
exit $failures
