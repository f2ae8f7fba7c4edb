<#
.SYNOPSIS
    Installs the test-signed ringtun package in a prepared VM, under Driver Verifier.
.DESCRIPTION
    Imports the test certificate into LocalMachine\Root and LocalMachine\TrustedPublisher,
    enables Driver Verifier (standard checks) for ringtun.sys, adds the driver package with
    pnputil, creates one adapter with devgen (from the WDK tools), and checks that the adapter
    appears. Run as Administrator. After the first install, Driver Verifier needs a reboot to
    take effect: run the script, reboot, run it again with -SkipVerifier.
.PARAMETER PackageDir
    The folder with ringtun.sys, ringtun.inf, ringtun.cat and ringtun.cer.
.PARAMETER DevGen
    Path to devgen.exe (WDK Tools, matching the VM's architecture).
.PARAMETER SkipVerifier
    Do not (re)configure Driver Verifier.
#>
[CmdletBinding()]
param(
    [Parameter(Mandatory)] [string] $PackageDir,
    [string] $DevGen = 'devgen.exe',
    [switch] $SkipVerifier
)
Set-StrictMode -Version Latest
$ErrorActionPreference = 'Stop'

$inf = Join-Path $PackageDir 'ringtun.inf'
$cer = Join-Path $PackageDir 'ringtun.cer'
foreach ($f in 'ringtun.sys', 'ringtun.inf', 'ringtun.cat', 'ringtun.cer') {
    if (-not (Test-Path (Join-Path $PackageDir $f))) { throw "missing $f in $PackageDir" }
}

foreach ($store in 'Root', 'TrustedPublisher') {
    Import-Certificate -FilePath $cer -CertStoreLocation "Cert:\LocalMachine\$store" | Out-Null
}
Write-Host 'Test certificate trusted.'

if (-not $SkipVerifier) {
    # Standard settings: special pool, IRQL checking, pool tracking, I/O verification,
    # deadlock detection, DMA checks, security checks, miscellaneous checks, DDI compliance.
    & verifier.exe /standard /driver ringtun.sys
    Write-Warning 'Driver Verifier configured; reboot before the driver is loaded for real testing.'
}

& pnputil.exe /add-driver $inf /install
if ($LASTEXITCODE -ne 0 -and $LASTEXITCODE -ne 3010) { throw "pnputil /add-driver failed: $LASTEXITCODE" }

$existing = Get-PnpDevice -Class Net -ErrorAction SilentlyContinue |
    Where-Object { $_.HardwareID -contains 'ringtun' }
if (-not $existing) {
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
