<#
.SYNOPSIS
    Prepares a Windows 11 or Windows Server 2022 (x64 or arm64) test VM for the test-signed ringtun driver.
.DESCRIPTION
    Turns test signing on (and optionally kernel debugging over the network), and reports
    whether Secure Boot blocks test signing. A reboot is needed afterwards.
    Run as Administrator inside the VM.
.PARAMETER DebugHost
    Optional: the IP address of a host running WinDbg, to enable network kernel debugging.
.PARAMETER DebugPort
    The port for network kernel debugging (default 50000).
#>
[CmdletBinding()]
param(
    [string] $DebugHost,
    [int] $DebugPort = 50000
)
Set-StrictMode -Version Latest
$ErrorActionPreference = 'Stop'

$principal = [Security.Principal.WindowsPrincipal]::new([Security.Principal.WindowsIdentity]::GetCurrent())
if (-not $principal.IsInRole([Security.Principal.WindowsBuiltInRole]::Administrator)) {
    throw 'Run this script as Administrator.'
}

try {
    if (Confirm-SecureBootUEFI) {
        Write-Warning 'Secure Boot is on: test-signed drivers will not load. Turn it off in the VM firmware settings.'
    }
} catch {
    Write-Verbose 'Secure Boot state not available (legacy BIOS VM).'
}

# bcdedit: 0 on success, anything else is an error.
& bcdedit.exe /set testsigning on
if ($LASTEXITCODE -ne 0) { throw "bcdedit testsigning failed: $LASTEXITCODE" }

if ($DebugHost) {
    & bcdedit.exe /debug on
    if ($LASTEXITCODE -ne 0) { throw "bcdedit /debug on failed: $LASTEXITCODE" }
    & bcdedit.exe /dbgsettings net hostip:$DebugHost port:$DebugPort
    if ($LASTEXITCODE -ne 0) { throw "bcdedit dbgsettings failed: $LASTEXITCODE" }
    Write-Host 'Kernel debugging enabled; the key printed above connects WinDbg (windbg -k net:port=...,key=...).'
}

# Keep a full memory dump if the driver bugchecks, for analysis.
Set-ItemProperty -Path 'HKLM:\SYSTEM\CurrentControlSet\Control\CrashControl' -Name CrashDumpEnabled -Value 1

Write-Host 'Done. Reboot the VM (Restart-Computer), then run Install-Driver.ps1.'
