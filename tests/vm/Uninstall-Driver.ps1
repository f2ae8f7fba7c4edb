<#
.SYNOPSIS
    Removes every ringtun adapter and the ringtun driver package, and resets Driver Verifier.
.DESCRIPTION
    Run as Administrator. A reboot completes the Driver Verifier reset.
#>
[CmdletBinding()]
param()
Set-StrictMode -Version Latest
$ErrorActionPreference = 'Stop'

Get-PnpDevice -Class Net -ErrorAction SilentlyContinue |
    Where-Object { $_.HardwareID -contains 'ringtun' } |
    ForEach-Object {
        & pnputil.exe /remove-device $_.InstanceId
        if ($LASTEXITCODE -ne 0) { Write-Warning "could not remove $($_.InstanceId): $LASTEXITCODE" }
    }

# Find the published name (oemNN.inf) of our package from pnputil's driver list.
$published = $null
$lines = & pnputil.exe /enum-drivers
for ($i = 0; $i -lt $lines.Count; $i++) {
    if ($lines[$i] -match 'Published Name\s*:\s*(oem\d+\.inf)') { $candidate = $Matches[1] }
    if ($lines[$i] -match 'Original Name\s*:\s*ringtun\.inf') { $published = $candidate }
    if ($published) {
        & pnputil.exe /delete-driver $published /uninstall /force
        $published = $null
    }
}

& verifier.exe /reset
Write-Host 'Removed. Reboot to finish resetting Driver Verifier.'
