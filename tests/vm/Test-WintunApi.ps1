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
      - WintunCloseAdapter removes the adapters it created, device installation included.

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
using System.Net;
using System.Runtime.InteropServices;

public static class WintunClient
{
    const string Dll = @"__WINTUN_DLL__";
    public const int ErrorNoMoreItems = 259;

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

    static ushort Checksum(byte[] data, int offset, int length)
    {
        uint sum = 0;
        for (int i = 0; i + 1 < length; i += 2)
            sum += (uint)(data[offset + i] << 8 | data[offset + i + 1]);
        if (length % 2 == 1)
            sum += (uint)(data[offset + length - 1] << 8);
        while (sum >> 16 != 0)
            sum = (sum & 0xFFFF) + (sum >> 16);
        return (ushort)~sum;
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

$local = [System.Net.IPAddress]::Parse($LocalAddress)
$peer = [System.Net.IPAddress]::Parse($PeerAddress)
$ruleName = 'ringtun wintun api check (ICMP echo)'
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
}

Write-Host "Wintun API client ($bits-bit): $failures check(s) failed"
exit $failures
