<#
.SYNOPSIS
    Installs the test-signed ringtun package in a prepared VM, under Driver Verifier.
.DESCRIPTION
    Imports the test certificate into LocalMachine\Root and LocalMachine\TrustedPublisher,
    adds ringtun.sys to the drivers Driver Verifier checks (standard checks), adds the driver
    package to the driver store with pnputil, creates one adapter with devgen (from the WDK
    tools) unless a ringtun device is present, and waits for the adapter. Run as Administrator.
    Driver Verifier takes effect at the next boot: run the script, reboot, run it again with
    -SkipVerifier. devgen creates a software device, which does not survive a reboot (it stays
    behind as a non-present device node): the second run creates a new one.
    Every native command's exit code is checked; the accepted codes are listed where each runs.
.PARAMETER PackageDir
    The folder with ringtun.sys, ringtun.inf, ringtun.cat and ringtun.cer.
.PARAMETER DevGen
    Path to devgen.exe (WDK Tools, matching the VM's architecture).
.PARAMETER SkipVerifier
    Do not change the Driver Verifier settings.
#>
[CmdletBinding()]
param(
    [Parameter(Mandatory)] [string] $PackageDir,
    [string] $DevGen = 'devgen.exe',
    [switch] $SkipVerifier
)
Set-StrictMode -Version Latest
$ErrorActionPreference = 'Stop'

$principal = [Security.Principal.WindowsPrincipal]::new([Security.Principal.WindowsIdentity]::GetCurrent())
if (-not $principal.IsInRole([Security.Principal.WindowsBuiltInRole]::Administrator)) {
    throw 'Run this script as Administrator.'
}

$inf = Join-Path $PackageDir 'ringtun.inf'
$cer = Join-Path $PackageDir 'ringtun.cer'
foreach ($f in 'ringtun.sys', 'ringtun.inf', 'ringtun.cat', 'ringtun.cer') {
    if (-not (Test-Path (Join-Path $PackageDir $f))) { throw "missing $f in $PackageDir" }
}

foreach ($store in 'Root', 'TrustedPublisher') {
    Import-Certificate -FilePath $cer -CertStoreLocation "Cert:\LocalMachine\$store" | Out-Null
}
Write-Host 'Test certificate trusted.'

# The drivers Driver Verifier checks from the next boot on: the documented registry value
# VerifyDrivers (REG_SZ, names separated by spaces; `*` is every driver).
function Get-VerifiedDrivers {
    $key = 'HKLM:\SYSTEM\CurrentControlSet\Control\Session Manager\Memory Management'
    $item = Get-ItemProperty -LiteralPath $key -Name VerifyDrivers -ErrorAction SilentlyContinue
    if (-not $item) { return @() }
    return @("$($item.VerifyDrivers)" -split '\s+' | Where-Object { $_ })
}

if (-not $SkipVerifier) {
    $verified = @(Get-VerifiedDrivers)
    if ($verified -contains '*') {
        Write-Warning 'Driver Verifier already checks every driver; its settings are left as they are.'
    } else {
        # Drivers another test put under Driver Verifier stay under it (with the standard checks).
        $drivers = @($verified | Where-Object { $_ -ne 'ringtun.sys' }) + 'ringtun.sys'
        if ($drivers.Count -gt 1) { Write-Warning "Driver Verifier also checks: $($drivers[0..($drivers.Count - 2)] -join ' ')" }
        # Standard settings: special pool, IRQL checking, pool tracking, I/O verification,
        # deadlock detection, DMA checks, security checks, miscellaneous checks, DDI compliance.
        # verifier.exe (Driver Verifier command syntax, return codes): 0 EXIT_CODE_SUCCESS (nothing
        # changed), 2 EXIT_CODE_REBOOT_NEEDED (the new settings apply from the next boot), 1 error.
        & verifier.exe /standard /driver @drivers
        if ($LASTEXITCODE -notin 0, 2) { throw "verifier /standard failed: $LASTEXITCODE" }
        Write-Warning 'Driver Verifier configured; reboot before the driver is loaded for real testing.'
    }
}

# A ringtun device present now (not a node left from before a reboot).
function Get-PresentRingtunDevice {
    @(Get-PnpDevice -PresentOnly -ErrorAction SilentlyContinue | Where-Object { $_.HardwareID -contains 'ringtun' })
}
$present = @(Get-PresentRingtunDevice)

# pnputil /add-driver /install (PnPUtil return values):
#   0     added to the driver store and installed on a matching device;
#   3010  ERROR_SUCCESS_REBOOT_REQUIRED: the same, a reboot finishes it;
#   259   ERROR_NO_MORE_ITEMS: added to the driver store, but no present device matches (the
#         first install: no ringtun device exists until devgen creates it below, and PnP then
#         takes the driver from the store) or a present device keeps a driver ranked as good.
& pnputil.exe /add-driver $inf /install
$added = $LASTEXITCODE
if ($added -notin 0, 259, 3010) { throw "pnputil /add-driver failed: $added" }
if ($added -eq 259 -and $present.Count -gt 0) {
    Write-Warning 'the present ringtun adapter kept its driver; run Uninstall-Driver.ps1 first to replace it'
}
if ($added -eq 3010) { Write-Warning 'pnputil asks for a reboot to finish the installation' }

if ($present.Count -eq 0) {
    # devgen /add: 0 when the device was created.
    & $DevGen /add /hardwareid 'ringtun'
    if ($LASTEXITCODE -ne 0) { throw "devgen /add failed: $LASTEXITCODE" }
}

$deadline = (Get-Date).AddSeconds(30)
do {
    $adapter = Get-NetAdapter -InterfaceDescription 'ringtun*' -ErrorAction SilentlyContinue
    if ($adapter) { break }
    Start-Sleep -Seconds 1
} while ((Get-Date) -lt $deadline)
if (-not $adapter) { throw 'the ringtun adapter did not appear (see Device Manager, setupapi.dev.log)' }
$adapter | Format-List Name, InterfaceDescription, Status, MediaConnectionState, ifIndex
Write-Host 'Installed. The link stays disconnected until a client registers rings.'
