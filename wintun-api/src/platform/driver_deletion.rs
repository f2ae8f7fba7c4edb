//! `WintunDeleteDriver`'s policy: whether the call removes the driver, the same on every platform.
//!
//! Wintun's DLL carries its driver inside it and installs it again on the next
//! `WintunCreateAdapter`, so deleting the driver costs a Wintun client nothing, and clients do it
//! whenever they are done with it (tun-rs on every adapter it drops). ringtun's driver package is
//! installed by an administrator from `ringtun.inf` (`pnputil /add-driver ringtun.inf /install`),
//! and this library cannot install it again: a deletion would make every later
//! `WintunCreateAdapter`, of this client and of any other, fail until the administrator installs
//! the package again. So by default `WintunDeleteDriver` keeps the package and reports success
//! (the caller's intent, "this client needs no driver any more", is met), saying so to the logger
//! at the information level. It removes the package as Wintun's does only where the
//! administrator opted in: on Windows a machine-wide registry value an administrator writes
//! ([`REGISTRY_KEY`], [`REGISTRY_VALUE`], `REG_DWORD` 1), on Linux the environment variable
//! [`ENVIRONMENT_VARIABLE`] set to `1`. A setting present but not one of the values below is
//! ignored (the package is kept) with a warning.
//!
//! The platforms read the setting and carry out the decision ([`decide`]).

/// The registry key (under `HKEY_LOCAL_MACHINE`, the 64-bit view also from a 32-bit process)
/// of the Windows opt-in.
pub const REGISTRY_KEY: &str = "SOFTWARE\\ringtun";

/// The registry value of the Windows opt-in: `REG_DWORD` 1 lets `WintunDeleteDriver` remove the
/// driver package, 0 (or no value) keeps it.
pub const REGISTRY_VALUE: &str = "WintunDeleteDriver";

/// The environment variable of the Linux build's opt-in: `1` lets `WintunDeleteDriver` act as a
/// deletion (refused while an adapter exists), `0` (or unset) keeps the driver.
pub const ENVIRONMENT_VARIABLE: &str = "RINGTUN_WINTUN_DELETE_DRIVER";

/// The administrator's setting, as the platform found it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Setting {
    /// No setting.
    Absent,
    /// A number (a `REG_DWORD`, or the variable's decimal digits).
    Number(u32),
    /// A setting of another type or form, or one that could not be read.
    Unreadable,
}

/// What `WintunDeleteDriver` does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decision {
    /// Keep the driver package; report success.
    Keep,
    /// Keep the driver package and report success; the setting found is not one this library
    /// knows, which the logger is told as a warning.
    KeepIgnoringSetting(Setting),
    /// Remove the driver package as Wintun does.
    Remove,
}

/// The decision for `setting`: remove only on an explicit 1.
pub const fn decide(setting: Setting) -> Decision {
    match setting {
        Setting::Number(1) => Decision::Remove,
        Setting::Absent | Setting::Number(0) => Decision::Keep,
        other => Decision::KeepIgnoringSetting(other),
    }
}

/// The Windows opt-in, as the logger names it.
pub fn registry_opt_in() -> String {
    format!("HKLM\\{REGISTRY_KEY}\\{REGISTRY_VALUE} = 1 (REG_DWORD)")
}

/// The Linux build's opt-in, as the logger names it.
pub fn environment_opt_in() -> String {
    format!("{ENVIRONMENT_VARIABLE}=1")
}

/// What the logger is told when the package is kept (information level), naming the opt-in
/// `how` (the registry value or the variable).
pub fn kept_message(how: &str) -> String {
    format!(
        "WintunDeleteDriver: the driver package installed from ringtun.inf is kept (this library cannot install it \
         again); {how} lets the call remove it"
    )
}

/// What the logger is told when a setting is ignored (warning level).
pub fn ignored_message(how: &str, setting: Setting) -> String {
    format!("WintunDeleteDriver: {how} is not 0 or 1 ({setting:?}), ignored: the driver package is kept")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_package_is_removed_only_on_an_explicit_one() {
        assert_eq!(decide(Setting::Absent), Decision::Keep);
        assert_eq!(decide(Setting::Number(0)), Decision::Keep);
        assert_eq!(decide(Setting::Number(1)), Decision::Remove);
        assert_eq!(decide(Setting::Number(2)), Decision::KeepIgnoringSetting(Setting::Number(2)));
        assert_eq!(decide(Setting::Number(u32::MAX)), Decision::KeepIgnoringSetting(Setting::Number(u32::MAX)));
        assert_eq!(decide(Setting::Unreadable), Decision::KeepIgnoringSetting(Setting::Unreadable));
    }

    #[test]
    fn the_messages_say_what_was_kept_and_how_to_opt_in() {
        assert_eq!(registry_opt_in(), "HKLM\\SOFTWARE\\ringtun\\WintunDeleteDriver = 1 (REG_DWORD)");
        assert_eq!(environment_opt_in(), "RINGTUN_WINTUN_DELETE_DRIVER=1");
        let kept = kept_message(&registry_opt_in());
        assert!(kept.contains("kept") && kept.contains("ringtun.inf") && kept.contains("WintunDeleteDriver = 1"));
        let ignored = ignored_message("RINGTUN_WINTUN_DELETE_DRIVER", Setting::Number(7));
        assert!(ignored.contains("ignored") && ignored.contains("Number(7)"));
    }
}
