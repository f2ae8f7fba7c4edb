//! Adapter names: what a name may be, how two names compare, and what happens when the name an
//! adapter asks for is already another interface's alias. The same on every platform: the Windows
//! platform applies it to the system's interface aliases, the Linux platform to its adapters (and
//! their TUN interfaces).
//!
//! Wintun's observable rules (its `wintun.h` documentation and its behaviour), which both
//! platforms keep:
//!
//! - a name is a zero-terminated string of at most `MAX_ADAPTER_NAME - 1` = 127 UTF-16 units;
//!   a longer one fails with `ERROR_BUFFER_OVERFLOW`;
//! - the tunnel type becomes the device description "`<type>` Tunnel", which must fit in
//!   `MAX_ADAPTER_NAME + 8` units with its terminator (a type of up to 128 units), else
//!   `ERROR_BUFFER_OVERFLOW`;
//! - names compare without regard to ASCII case (`_wcsicmp` in the C locale);
//! - the name becomes the interface alias (the "connection name"). When another interface already
//!   has that alias, the *other* interface is renamed to "`<name>` N" with the smallest N from 1
//!   to 1000 that is free, and the new adapter takes the name; if the other one cannot be renamed,
//!   the new adapter takes "`<name>` N" itself. A suffixed name that does not fit fails with
//!   `ERROR_BUFFER_OVERFLOW`; 1000 taken suffixes fail with `ERROR_DUP_NAME`.
//!
//! Everything here is pure: the system calls (set an alias, find an alias's owner, record a
//! rename) are behind [`ConnectionNames`], so that the policy is tested on any OS.

pub use crate::win32::MAX_ADAPTER_NAME;
use crate::win32::{ERROR_BUFFER_OVERFLOW, ERROR_DUP_NAME, ERROR_INVALID_PARAMETER, ERROR_SUCCESS};

/// Longest adapter name, in UTF-16 units (without the terminator).
pub const MAX_NAME_UNITS: usize = MAX_ADAPTER_NAME - 1;

/// Size of the device-description buffer, terminator included: Wintun formats "`<type>` Tunnel"
/// into `MAX_ADAPTER_NAME + 8` units.
const DESCRIPTION_BUFFER_UNITS: usize = MAX_ADAPTER_NAME + 8;

/// Highest suffix tried when a name is taken ("`<name>` 1" up to "`<name>` 1000").
pub const MAX_SUFFIX: u32 = 1000;

const TUNNEL_SUFFIX: &str = " Tunnel";

/// Checks a requested adapter name: not empty, no embedded NUL, at most [`MAX_NAME_UNITS`] units.
///
/// Errors: `ERROR_INVALID_PARAMETER` for an empty name or an embedded NUL, `ERROR_BUFFER_OVERFLOW`
/// for a name that does not fit `MAX_ADAPTER_NAME`.
pub fn validate_name(name: &[u16]) -> Result<(), u32> {
    if name.is_empty() || name.contains(&0) {
        return Err(ERROR_INVALID_PARAMETER);
    }
    if name.len() > MAX_NAME_UNITS {
        return Err(ERROR_BUFFER_OVERFLOW);
    }
    Ok(())
}

/// The device description (also the device's friendly name) for a tunnel type: "`<type>` Tunnel",
/// zero-terminated.
///
/// Errors: `ERROR_INVALID_PARAMETER` for an embedded NUL, `ERROR_BUFFER_OVERFLOW` when the
/// description does not fit Wintun's buffer (a type longer than 128 units).
pub fn device_description(tunnel_type: &[u16]) -> Result<Vec<u16>, u32> {
    if tunnel_type.contains(&0) {
        return Err(ERROR_INVALID_PARAMETER);
    }
    let mut description: Vec<u16> = tunnel_type.to_vec();
    description.extend(TUNNEL_SUFFIX.encode_utf16());
    if description.len() + 1 > DESCRIPTION_BUFFER_UNITS {
        return Err(ERROR_BUFFER_OVERFLOW);
    }
    description.push(0);
    Ok(description)
}

/// Whether two names are equal ignoring ASCII case, as `_wcsicmp` compares in the C locale (only
/// `A`-`Z` fold; every other unit compares as it is).
pub fn names_equal(a: &[u16], b: &[u16]) -> bool {
    fn fold(unit: u16) -> u16 {
        if (u16::from(b'A')..=u16::from(b'Z')).contains(&unit) {
            unit + 32
        } else {
            unit
        }
    }
    a.len() == b.len() && a.iter().zip(b).all(|(&x, &y)| fold(x) == fold(y))
}

/// "`<name>` `<suffix>`", or `ERROR_BUFFER_OVERFLOW` when it does not fit `MAX_ADAPTER_NAME`.
pub fn suffixed_name(name: &[u16], suffix: u32) -> Result<Vec<u16>, u32> {
    let mut out = name.to_vec();
    out.push(u16::from(b' '));
    out.extend(suffix.to_string().encode_utf16());
    if out.len() > MAX_NAME_UNITS {
        return Err(ERROR_BUFFER_OVERFLOW);
    }
    Ok(out)
}

/// The system's interface aliases, as the naming policy needs them.
pub trait ConnectionNames {
    /// Identifies an interface (its `NetCfgInstanceId` on Windows; an adapter of the list on
    /// Linux).
    type Id: Copy + PartialEq;

    /// Sets interface `who`'s alias to `name` (`NciSetConnectionName`): `ERROR_SUCCESS`, or a
    /// Win32 error (`ERROR_DUP_NAME` when another interface has the alias).
    fn set_alias(&mut self, who: Self::Id, name: &[u16]) -> u32;

    /// The interface whose alias is `name`, if one can be found
    /// (`ConvertInterfaceAliasToLuid`, then `ConvertInterfaceLuidToGuid`).
    fn alias_owner(&mut self, name: &[u16]) -> Option<Self::Id>;

    /// Interface `who` was renamed to `name` to free a name: an adapter of ours keeps its name in
    /// a device property, which follows the alias.
    fn renamed(&mut self, who: Self::Id, name: &[u16]);
}

/// Gives interface `own` the alias `name`, moving another interface out of the way as Wintun does
/// (see the module documentation). Returns the alias `own` ends up with: `name`, or
/// "`<name>` N" when the holder of `name` could not be renamed.
pub fn assign_alias<C: ConnectionNames>(names: &mut C, own: C::Id, name: &[u16]) -> Result<Vec<u16>, u32> {
    validate_name(name)?;
    let mut available = name.to_vec();
    let mut attempt = 0u32;
    loop {
        let mut result = names.set_alias(own, &available);
        if result == ERROR_DUP_NAME {
            if let Some(holder) = names.alias_owner(&available).filter(|&holder| holder != own) {
                // Move the holder to the first free "<name> N" that is not the name we want.
                for suffix in 1..=MAX_SUFFIX {
                    let proposal = suffixed_name(name, suffix)?;
                    if names_equal(&proposal, &available) {
                        continue;
                    }
                    let moved = names.set_alias(holder, &proposal);
                    if moved == ERROR_DUP_NAME {
                        continue;
                    }
                    if moved == ERROR_SUCCESS {
                        names.renamed(holder, &proposal);
                        result = names.set_alias(own, &available);
                    }
                    break;
                }
            }
        }
        if result == ERROR_SUCCESS {
            return Ok(available);
        }
        if result != ERROR_DUP_NAME || attempt >= MAX_SUFFIX {
            return Err(result);
        }
        attempt += 1;
        available = suffixed_name(name, attempt)?;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::win32::ERROR_ACCESS_DENIED;

    fn w(s: &str) -> Vec<u16> {
        s.encode_utf16().collect()
    }

    fn s(units: &[u16]) -> String {
        String::from_utf16(units).unwrap()
    }

    #[test]
    fn names_up_to_127_units_are_accepted() {
        assert_eq!(validate_name(&w("wg0")), Ok(()));
        assert_eq!(validate_name(&vec![u16::from(b'a'); 127]), Ok(()));
        assert_eq!(validate_name(&vec![u16::from(b'a'); 128]), Err(ERROR_BUFFER_OVERFLOW));
        assert_eq!(validate_name(&[]), Err(ERROR_INVALID_PARAMETER));
        assert_eq!(validate_name(&w("a\0b")), Err(ERROR_INVALID_PARAMETER));
    }

    #[test]
    fn the_description_is_the_tunnel_type_and_tunnel() {
        assert_eq!(device_description(&w("WireGuard")).unwrap(), w("WireGuard Tunnel\0"));
        // 128 + " Tunnel" (7) + NUL = 136 = MAX_ADAPTER_NAME + 8: fits; one more does not.
        let longest = vec![u16::from(b't'); 128];
        assert_eq!(device_description(&longest).unwrap().len(), 136);
        assert_eq!(device_description(&vec![u16::from(b't'); 129]), Err(ERROR_BUFFER_OVERFLOW));
        assert_eq!(device_description(&w("a\0")), Err(ERROR_INVALID_PARAMETER));
        assert_eq!(device_description(&[]).unwrap(), w(" Tunnel\0"));
    }

    #[test]
    fn comparison_folds_ascii_case_only() {
        assert!(names_equal(&w("WireGuard"), &w("wireguard")));
        assert!(names_equal(&w("wg0 1"), &w("WG0 1")));
        assert!(!names_equal(&w("wg0"), &w("wg0 ")));
        assert!(!names_equal(&w("wg0"), &w("wg1")));
        // Not folded by _wcsicmp in the C locale: non-ASCII letters, and '@' vs '`'.
        assert!(!names_equal(&w("Ä"), &w("ä")));
        assert!(!names_equal(&w("@"), &w("`")));
    }

    #[test]
    fn suffixes_are_space_and_decimal_and_must_fit() {
        assert_eq!(s(&suffixed_name(&w("wg0"), 1).unwrap()), "wg0 1");
        assert_eq!(s(&suffixed_name(&w("wg0"), 1000).unwrap()), "wg0 1000");
        let name = vec![u16::from(b'n'); 125];
        assert_eq!(suffixed_name(&name, 1).unwrap().len(), 127);
        assert_eq!(suffixed_name(&name, 10), Err(ERROR_BUFFER_OVERFLOW));
    }

    /// A system's aliases: case-insensitively unique; some interfaces refuse to be renamed.
    #[derive(Default)]
    struct Aliases {
        aliases: Vec<(u32, Vec<u16>)>,
        frozen: Vec<u32>,
        /// Interfaces whose owner lookup fails (an alias held by something iphlpapi cannot map).
        hidden: Vec<u32>,
        renames: Vec<(u32, String)>,
        calls: usize,
    }

    impl Aliases {
        fn with(list: &[(u32, &str)]) -> Self {
            Self { aliases: list.iter().map(|&(id, name)| (id, w(name))).collect(), ..Self::default() }
        }

        fn alias(&self, who: u32) -> Option<String> {
            self.aliases.iter().find(|(id, _)| *id == who).map(|(_, name)| s(name))
        }
    }

    impl ConnectionNames for Aliases {
        type Id = u32;

        fn set_alias(&mut self, who: u32, name: &[u16]) -> u32 {
            self.calls += 1;
            if self.frozen.contains(&who) {
                return ERROR_ACCESS_DENIED;
            }
            if self.aliases.iter().any(|(id, alias)| *id != who && names_equal(alias, name)) {
                return ERROR_DUP_NAME;
            }
            match self.aliases.iter_mut().find(|(id, _)| *id == who) {
                Some(entry) => entry.1 = name.to_vec(),
                None => self.aliases.push((who, name.to_vec())),
            }
            ERROR_SUCCESS
        }

        fn alias_owner(&mut self, name: &[u16]) -> Option<u32> {
            self.aliases
                .iter()
                .find(|(id, alias)| names_equal(alias, name) && !self.hidden.contains(id))
                .map(|(id, _)| *id)
        }

        fn renamed(&mut self, who: u32, name: &[u16]) {
            self.renames.push((who, s(name)));
        }
    }

    #[test]
    fn a_free_name_is_taken_as_it_is() {
        let mut names = Aliases::with(&[(1, "Ethernet")]);
        assert_eq!(s(&assign_alias(&mut names, 7, &w("wg0")).unwrap()), "wg0");
        assert_eq!(names.alias(7).as_deref(), Some("wg0"));
        assert_eq!(names.alias(1).as_deref(), Some("Ethernet"));
        assert!(names.renames.is_empty());
        assert_eq!(names.calls, 1);
    }

    #[test]
    fn the_holder_of_the_name_becomes_name_1() {
        let mut names = Aliases::with(&[(1, "wg0")]);
        assert_eq!(s(&assign_alias(&mut names, 7, &w("wg0")).unwrap()), "wg0");
        assert_eq!(names.alias(1).as_deref(), Some("wg0 1"));
        assert_eq!(names.renames, vec![(1, "wg0 1".to_string())]);
    }

    #[test]
    fn the_holder_of_the_name_moves_to_the_first_free_suffix() {
        // "WG0" differs only in case: still the same name.
        let mut names = Aliases::with(&[(1, "WG0"), (2, "wg0 1")]);
        assert_eq!(s(&assign_alias(&mut names, 7, &w("wg0")).unwrap()), "wg0");
        assert_eq!(names.alias(7).as_deref(), Some("wg0"));
        assert_eq!(names.alias(1).as_deref(), Some("wg0 2"));
        assert_eq!(names.alias(2).as_deref(), Some("wg0 1"));
        assert_eq!(names.renames, vec![(1, "wg0 2".to_string())]);
    }

    #[test]
    fn a_holder_that_cannot_move_leaves_the_new_adapter_a_suffixed_name() {
        let mut names = Aliases::with(&[(1, "wg0")]);
        names.frozen.push(1);
        assert_eq!(s(&assign_alias(&mut names, 7, &w("wg0")).unwrap()), "wg0 1");
        assert_eq!(names.alias(1).as_deref(), Some("wg0"));
        assert!(names.renames.is_empty());
    }

    #[test]
    fn an_unknown_holder_leaves_the_new_adapter_a_suffixed_name() {
        let mut names = Aliases::with(&[(1, "wg0"), (2, "wg0 1")]);
        names.hidden.extend([1, 2]);
        assert_eq!(s(&assign_alias(&mut names, 7, &w("wg0")).unwrap()), "wg0 2");
        assert_eq!(names.alias(1).as_deref(), Some("wg0"));
    }

    #[test]
    fn an_adapter_that_already_has_the_name_keeps_it() {
        let mut names = Aliases::with(&[(7, "wg0")]);
        assert_eq!(s(&assign_alias(&mut names, 7, &w("wg0")).unwrap()), "wg0");
        assert!(names.renames.is_empty());
    }

    #[test]
    fn other_errors_are_returned_as_they_are() {
        let mut names = Aliases::default();
        names.frozen.push(7);
        assert_eq!(assign_alias(&mut names, 7, &w("wg0")), Err(ERROR_ACCESS_DENIED));
        assert_eq!(assign_alias(&mut Aliases::default(), 7, &[]), Err(ERROR_INVALID_PARAMETER));
        assert_eq!(assign_alias(&mut Aliases::default(), 7, &vec![97; 128]), Err(ERROR_BUFFER_OVERFLOW));
    }

    #[test]
    fn a_long_taken_name_without_room_for_a_suffix_overflows() {
        let long = "n".repeat(126);
        let mut names = Aliases::with(&[(1, &long)]);
        names.frozen.push(1);
        // "<126 units> 1" is 128 units: no suffixed name fits.
        assert_eq!(assign_alias(&mut names, 7, &w(&long)), Err(ERROR_BUFFER_OVERFLOW));
    }

    #[test]
    fn a_thousand_taken_suffixes_end_with_dup_name() {
        let mut list = vec![(1u32, "wg0".to_string())];
        list.extend((1..=MAX_SUFFIX).map(|n| (100 + n, format!("wg0 {n}"))));
        let borrowed: Vec<(u32, &str)> = list.iter().map(|(id, name)| (*id, name.as_str())).collect();
        let mut names = Aliases::with(&borrowed);
        names.frozen.extend(list.iter().map(|(id, _)| *id));
        assert_eq!(assign_alias(&mut names, 7, &w("wg0")), Err(ERROR_DUP_NAME));
        assert_eq!(names.alias(7), None);
        // One free suffix at the end is found.
        names.aliases.retain(|(id, _)| *id != 100 + MAX_SUFFIX);
        assert_eq!(s(&assign_alias(&mut names, 7, &w("wg0")).unwrap()), "wg0 1000");
    }
}
