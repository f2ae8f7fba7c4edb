<#
.SYNOPSIS
    Runs the scenario suite against the installed ringtun driver and keeps the JUnit report.
.DESCRIPTION
    Run as Administrator after Install-Driver.ps1 created an adapter (only SYSTEM and
    Administrators may open the adapter's device). Assigns the local test address to the
    ringtun adapter (the peer address lies in its prefix, so the stack routes it through the
    adapter), lets the runner receive UDP from the peer through Windows Firewall, sets
    RINGTUN_TEST_LOCAL and RINGTUN_TEST_PEER, runs
    ringtun-scenarios.exe --backend device --junit <report>, and copies the report and the
    runner's output to OutputDir. Afterwards the firewall rule is removed, and the address too
    unless -KeepAddress. Any other IPv4 address on the ringtun adapter is removed first.
    Exits with the runner's exit code: non-zero if a scenario failed or the runner could not
    start (no adapter, not elevated).
    The scenario teardown::removal_with_session_open disables the adapter with pnputil while a
    session is open (the client library closes its handle on Windows' query-remove notification,
    so the removal must not be vetoed, and the close must end the session), then enables it
    again; it is the one check of PnP removal, which only Windows can run.
.PARAMETER Runner
    Path to ringtun-scenarios.exe built with the device feature, for example
    cargo build -p ringtun-tests --no-default-features --features device --bins
    on the build machine (the i686 build covers the 32-bit caller layout).
.PARAMETER OutputDir
    Folder for the JUnit report and the runner's output (created if missing).
.PARAMETER LocalAddress
    The stack's side, assigned to the ringtun adapter.
.PARAMETER PeerAddress
    The client's side, routed through the ringtun adapter; must lie in the local prefix.
.PARAMETER PrefixLength
    Prefix length of the local address.
.PARAMETER InterfaceIndex
    The ringtun adapter to use when there is more than one.
.PARAMETER Filter
    Only run scenarios whose name contains this text.
.PARAMETER Device
    The device interface path the runner opens. By default the runner opens the first ringtun
    adapter when there is one, and the adapter chosen by InterfaceIndex when there are more.
.PARAMETER KeepAddress
    Leave the local address on the adapter after the run.
.PARAMETER WintunDll
    The project's wintun.dll for this machine's architecture (scripts/link-dll builds it on Linux;
    on Windows, cargo build -p ringtun-wintun --release). After the scenarios, Test-WintunApi.ps1
    runs a Wintun API client through it against the installed driver: adapter creation, naming,
    LUID, sessions both ways, driver deletion refused, removal on close.
.PARAMETER WintunDll32
    The i686 wintun.dll: the same client from 32-bit PowerShell (a 32-bit VPN process on the 64-bit
    driver, through WOW64).
#>
[CmdletBinding()]
param(
    [Parameter(Mandatory)] [string] $Runner,
    [Parameter(Mandatory)] [string] $OutputDir,
    [string] $LocalAddress = '10.77.0.1',
    [string] $PeerAddress = '10.77.0.2',
    [ValidateRange(8, 30)] [int] $PrefixLength = 24,
    [int] $InterfaceIndex = 0,
    [string] $Filter,
    [string] $Device,
    [switch] $KeepAddress,
    [string] $WintunDll,
    [string] $WintunDll32
)
Set-StrictMode -Version Latest
$ErrorActionPreference = 'Stop'

$principal = [Security.Principal.WindowsPrincipal]::new([Security.Principal.WindowsIdentity]::GetCurrent())
if (-not $principal.IsInRole([Security.Principal.WindowsBuiltInRole]::Administrator)) {
    throw 'Run this script as Administrator.'
}

if (-not (Test-Path $Runner -PathType Leaf)) { throw "runner not found: $Runner" }
$Runner = (Resolve-Path $Runner).Path

# The network number of an IPv4 address under the prefix.
function Get-Network([string] $Address) {
    $ip = [System.Net.IPAddress]::Parse($Address)
    if ($ip.AddressFamily -ne [System.Net.Sockets.AddressFamily]::InterNetwork) { throw "$Address is not an IPv4 address" }
    $bytes = $ip.GetAddressBytes()
    $value = [uint64]0
    foreach ($b in $bytes) { $value = $value * 256 + $b }
    [math]::Floor($value / [math]::Pow(2, 32 - $PrefixLength))
}
if ($LocalAddress -eq $PeerAddress) { throw 'LocalAddress and PeerAddress must differ' }
if ((Get-Network $LocalAddress) -ne (Get-Network $PeerAddress)) {
    throw "$PeerAddress is not in $LocalAddress/${PrefixLength}: the stack would not route it through the adapter"
}

$adapters = @(Get-NetAdapter -InterfaceDescription 'ringtun*' -ErrorAction SilentlyContinue)
if ($adapters.Count -eq 0) { throw 'no ringtun adapter: run Install-Driver.ps1 first' }
if ($InterfaceIndex -ne 0) {
    $adapter = $adapters | Where-Object { $_.ifIndex -eq $InterfaceIndex }
    if (-not $adapter) { throw "interface $InterfaceIndex is not a ringtun adapter" }
} elseif ($adapters.Count -eq 1) {
    $adapter = $adapters[0]
} else {
    $adapters | Format-Table Name, InterfaceDescription, ifIndex, Status
    throw 'more than one ringtun adapter: pass -InterfaceIndex'
}
$ifIndex = $adapter.ifIndex
if (-not $Device -and $adapters.Count -gt 1) {
    # The adapter's NDIS device interface (GUID_DEVINTERFACE_NET), as the client library finds it.
    $Device = '\\?\' + $adapter.PnPDeviceID.Replace('\', '#') + '#{cac88484-7515-4c03-82e6-71a87abac361}'
}

# Another interface in the same prefix would take the peer's route.
$clash = @(Get-NetIPAddress -AddressFamily IPv4 -ErrorAction SilentlyContinue |
    Where-Object { $_.InterfaceIndex -ne $ifIndex -and (Get-Network $_.IPAddress) -eq (Get-Network $LocalAddress) })
if ($clash.Count -gt 0) {
    throw "interface $($clash[0].InterfaceAlias) already has $($clash[0].IPAddress) in $LocalAddress/$PrefixLength"
}

$ruleName = 'ringtun scenario runner (device tests)'
$stores = 'ActiveStore', 'PersistentStore'
$code = 1
try {
    Set-NetIPInterface -InterfaceIndex $ifIndex -AddressFamily IPv4 -Dhcp Disabled
    try {
        # No duplicate address detection: the address is usable as soon as a session brings the
        # link up.
        Set-NetIPInterface -InterfaceIndex $ifIndex -AddressFamily IPv4 -DadTransmits 0
    } catch {
        Write-Warning "could not turn duplicate address detection off: $_"
    }
    foreach ($store in $stores) {
        Get-NetIPAddress -InterfaceIndex $ifIndex -AddressFamily IPv4 -PolicyStore $store -ErrorAction SilentlyContinue |
            Remove-NetIPAddress -Confirm:$false
    }
    New-NetIPAddress -InterfaceIndex $ifIndex -IPAddress $LocalAddress -PrefixLength $PrefixLength | Out-Null
    Write-Host "$($adapter.Name) (interface $ifIndex): $LocalAddress/$PrefixLength, peer $PeerAddress"

    Remove-NetFirewallRule -DisplayName $ruleName -ErrorAction SilentlyContinue
    New-NetFirewallRule -DisplayName $ruleName -Direction Inbound -Action Allow -Protocol UDP -Program $Runner `
        -LocalAddress $LocalAddress -RemoteAddress $PeerAddress | Out-Null

    $env:RINGTUN_TEST_LOCAL = $LocalAddress
    $env:RINGTUN_TEST_PEER = $PeerAddress

    New-Item -ItemType Directory -Force -Path $OutputDir | Out-Null
    $stamp = Get-Date -Format 'yyyyMMdd-HHmmss'
    $report = Join-Path $env:TEMP "ringtun-device-$stamp.xml"
    $log = Join-Path $OutputDir "ringtun-device-$stamp.log"
    $runnerArgs = @('--backend', 'device', '--junit', $report)
    if ($Filter) { $runnerArgs += @('--filter', $Filter) }
    if ($Device) { $runnerArgs += @('--device', $Device) }

    Write-Host "Running $Runner $($runnerArgs -join ' ')"
    & $Runner @runnerArgs | Tee-Object -FilePath $log
    $code = $LASTEXITCODE

    if (Test-Path $report) {
        Copy-Item $report -Destination $OutputDir
        Write-Host "JUnit report: $(Join-Path $OutputDir (Split-Path $report -Leaf))"
    } else {
        Write-Warning 'the runner wrote no JUnit report (see its output above)'
        if ($code -eq 0) { $code = 1 }
    }
    Write-Host "Runner output: $log"
} finally {
    Remove-NetFirewallRule -DisplayName $ruleName -ErrorAction SilentlyContinue
    if (-not $KeepAddress) {
        foreach ($store in $stores) {
            Remove-NetIPAddress -InterfaceIndex $ifIndex -IPAddress $LocalAddress -PolicyStore $store `
                -Confirm:$false -ErrorAction SilentlyContinue
        }
    }
    Remove-Item Env:\RINGTUN_TEST_LOCAL, Env:\RINGTUN_TEST_PEER -ErrorAction SilentlyContinue
}

# The Wintun API through the project's wintun.dll, in a PowerShell of each architecture given.
$apiFailures = 0
$clients = @()
if ($WintunDll) { $clients += , @('64-bit', (Join-Path $env:windir 'System32\WindowsPowerShell\v1.0\powershell.exe'), $WintunDll) }
if ($WintunDll32) { $clients += , @('32-bit', (Join-Path $env:windir 'SysWOW64\WindowsPowerShell\v1.0\powershell.exe'), $WintunDll32) }
foreach ($client in $clients) {
    $label, $shell, $dll = $client
    New-Item -ItemType Directory -Force -Path $OutputDir | Out-Null
    $apiLog = Join-Path $OutputDir ("wintun-api-$label-{0}.log" -f (Get-Date -Format 'yyyyMMdd-HHmmss'))
    & $shell -NoProfile -ExecutionPolicy Bypass -File (Join-Path $PSScriptRoot 'Test-WintunApi.ps1') `
        -WintunDll (Resolve-Path $dll).Path | Tee-Object -FilePath $apiLog
    if ($LASTEXITCODE -ne 0) { $apiFailures++ }
    Write-Host "Wintun API client ($label) output: $apiLog"
}

if ($code -ne 0) {
    Write-Warning "scenario run failed (exit code $code)"
    exit $code
}
if ($apiFailures -ne 0) {
    Write-Warning "the Wintun API client failed in $apiFailures architecture(s)"
    exit 1
}
Write-Host 'Done: no scenario failed.'
exit 0
