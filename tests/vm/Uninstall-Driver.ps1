<#
.SYNOPSIS
    Removes every ringtun device and driver package, and takes ringtun.sys off Driver Verifier.
.DESCRIPTION
    Run as Administrator. Removes every device node with the hardware id ringtun, present or
    not (software devices created before a reboot stay behind as non-present nodes), deletes
    every ringtun.inf package from the driver store (found through Get-WindowsDriver's objects,
    not pnputil's text output, which is translated on non-English systems), and removes
    ringtun.sys from the drivers Driver Verifier checks; other drivers' verification is kept.
    A reboot completes the Driver Verifier change. Exits non-zero if something could not be
    removed.
#>
[CmdletBinding()]
param()
Set-StrictMode -Version Latest
$ErrorActionPreference = 'Stop'

$principal = [Security.Principal.WindowsPrincipal]::new([Security.Principal.WindowsIdentity]::GetCurrent())
if (-not $principal.IsInRole([Security.Principal.WindowsBuiltInRole]::Administrator)) {
    throw 'Run this script as Administrator.'
}

$failures = 0

# Every ringtun device node, including non-present ones (no -PresentOnly here).
$devices = @(Get-PnpDevice -ErrorAction SilentlyContinue | Where-Object { $_.HardwareID -contains 'ringtun' })
foreach ($device in $devices) {
    # pnputil /remove-device: 0 removed; 3010 (ERROR_SUCCESS_REBOOT_REQUIRED) removed, a reboot finishes it.
    & pnputil.exe /remove-device $device.InstanceId
    if ($LASTEXITCODE -notin 0, 3010) {
        Write-Warning "could not remove $($device.InstanceId): $LASTEXITCODE"
        $failures++
    }
}

# The published names (oemNN.inf) of the ringtun packages in the driver store: Get-WindowsDriver
# (DISM) returns objects whose OriginalFileName is the package's INF in the store.
$packages = @(Get-WindowsDriver -Online | Where-Object { $_.OriginalFileName -and (Split-Path -Leaf $_.OriginalFileName) -eq 'ringtun.inf' })
foreach ($package in $packages) {
    # pnputil /delete-driver: 0 deleted; 3010 (ERROR_SUCCESS_REBOOT_REQUIRED) deleted, a reboot finishes it.
    & pnputil.exe /delete-driver $package.Driver /uninstall /force
    if ($LASTEXITCODE -notin 0, 3010) {
        Write-Warning "could not delete $($package.Driver): $LASTEXITCODE"
        $failures++
    }
}

# Driver Verifier: the documented registry value VerifyDrivers lists the checked drivers (names
# separated by spaces). Only ringtun.sys is taken off; when no driver remains, the value and the
# check level (VerifyDriverLevel) are removed, which is what `verifier /reset` would do to them,
# without resetting anything else.
$key = 'HKLM:\SYSTEM\CurrentControlSet\Control\Session Manager\Memory Management'
$item = Get-ItemProperty -LiteralPath $key -Name VerifyDrivers -ErrorAction SilentlyContinue
if ($item) {
    $verified = @("$($item.VerifyDrivers)" -split '\s+' | Where-Object { $_ })
    $remaining = @($verified | Where-Object { $_ -ne 'ringtun.sys' })
    if ($remaining.Count -ne $verified.Count) {
        if ($remaining.Count -gt 0) {
            Set-ItemProperty -LiteralPath $key -Name VerifyDrivers -Value ($remaining -join ' ')
            Write-Host "Driver Verifier still checks: $($remaining -join ' ')"
        } else {
            Remove-ItemProperty -LiteralPath $key -Name VerifyDrivers
            Remove-ItemProperty -LiteralPath $key -Name VerifyDriverLevel -ErrorAction SilentlyContinue
        }
        Write-Host 'ringtun.sys taken off Driver Verifier; reboot to finish.'
    }
}

if ($failures -gt 0) {
    Write-Warning "$failures removal(s) failed"
    exit 1
}
Write-Host 'Removed.'
exit 0
