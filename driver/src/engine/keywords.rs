//! The standardized INF keywords of task offloads (NDIS: "Standardized INF Keywords for TCP/IP
//! Offload"): what the values a user set (`Set-NetAdapterAdvancedProperty`,
//! `Disable-NetAdapterLso`, the adapter's Advanced tab) mean for the offloads an adapter starts
//! with. The Windows shell reads each keyword as an integer from the adapter's registry key at
//! initialization; the decision is made here.

use crate::engine::offload::TaskOffloads;

/// How a keyword's value reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeywordKind {
    /// A checksum keyword: 0 disabled, 1 transmit on, 2 receive on, 3 both on.
    Checksum {
        /// The transmit offloads it controls.
        tx: TaskOffloads,
        /// The receive offloads it controls.
        rx: TaskOffloads,
    },
    /// An on/off keyword (LSOv2, RSC, USO): 0 disabled, 1 enabled.
    Switch(TaskOffloads),
}

/// Which of NDIS's two kinds of task-offload keywords a keyword is ("Using Registry Values to
/// Enable and Disable Task Offloading").
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeywordGroup {
    /// A granular keyword: one offload capability of one transport and IP version. The INF
    /// declares these (under `Ndi\params`, shown on the adapter's Advanced page).
    Granular,
    /// A grouped keyword: the checksums of every transport of one IP version at once
    /// (`*TCPUDPChecksumOffloadIPv4`: IPv4 header, TCP and UDP; `*TCPUDPChecksumOffloadIPv6`: TCP
    /// and UDP). The INF does not declare them, but a value someone writes to the adapter's key
    /// is honoured, as NDIS honours it for its own view of the offloads. Reading them does not
    /// make the adapter a grouped-keyword miniport: `NDIS_OFFLOAD_FLAGS_GROUP_CHECKSUM_CAPABILITIES`
    /// stays off (docs/oids.md, "The standardized offload keywords").
    Grouped,
}

/// One standardized keyword: its registry value name and what it controls.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Keyword {
    /// The registry value name.
    pub name: &'static str,
    /// What its value controls.
    pub kind: KeywordKind,
    /// Granular (declared by the INF) or grouped.
    pub group: KeywordGroup,
}

const fn granular(name: &'static str, kind: KeywordKind) -> Keyword {
    Keyword { name, kind, group: KeywordGroup::Granular }
}

const fn checksum(tx: TaskOffloads, rx: TaskOffloads) -> KeywordKind {
    KeywordKind::Checksum { tx, rx }
}

/// Every standardized keyword of the offloads the engine implements: the granular ones, each
/// offload named by exactly one, then the two grouped checksum keywords.
pub const OFFLOAD_KEYWORDS: [Keyword; 13] = [
    granular("*IPChecksumOffloadIPv4", checksum(TaskOffloads::IPV4_CHECKSUM_TX, TaskOffloads::IPV4_CHECKSUM_RX)),
    granular("*TCPChecksumOffloadIPv4", checksum(TaskOffloads::TCP4_CHECKSUM_TX, TaskOffloads::TCP4_CHECKSUM_RX)),
    granular("*TCPChecksumOffloadIPv6", checksum(TaskOffloads::TCP6_CHECKSUM_TX, TaskOffloads::TCP6_CHECKSUM_RX)),
    granular("*UDPChecksumOffloadIPv4", checksum(TaskOffloads::UDP4_CHECKSUM_TX, TaskOffloads::UDP4_CHECKSUM_RX)),
    granular("*UDPChecksumOffloadIPv6", checksum(TaskOffloads::UDP6_CHECKSUM_TX, TaskOffloads::UDP6_CHECKSUM_RX)),
    granular("*LsoV2IPv4", KeywordKind::Switch(TaskOffloads::LSO_V4)),
    granular("*LsoV2IPv6", KeywordKind::Switch(TaskOffloads::LSO_V6)),
    granular("*RscIPv4", KeywordKind::Switch(TaskOffloads::RSC_V4)),
    granular("*RscIPv6", KeywordKind::Switch(TaskOffloads::RSC_V6)),
    granular("*UsoIPv4", KeywordKind::Switch(TaskOffloads::USO_V4)),
    granular("*UsoIPv6", KeywordKind::Switch(TaskOffloads::USO_V6)),
    // Documented as "the calculation of IP, TCP, and UDP checksum over IPv4" and "of TCP and UDP
    // checksum over IPv6", with the granular checksum keywords' values (0 disabled, 1 Tx, 2 Rx,
    // 3 Tx and Rx).
    Keyword {
        name: "*TCPUDPChecksumOffloadIPv4",
        kind: checksum(TaskOffloads::CHECKSUMS_V4_TX, TaskOffloads::CHECKSUMS_V4_RX),
        group: KeywordGroup::Grouped,
    },
    Keyword {
        name: "*TCPUDPChecksumOffloadIPv6",
        kind: checksum(TaskOffloads::CHECKSUMS_V6_TX, TaskOffloads::CHECKSUMS_V6_RX),
        group: KeywordGroup::Grouped,
    },
];

/// The offloads an adapter starts with: of those it `offered`, each keyword's value (`value`
/// returns it, `None` where the keyword is absent or not read back as an integer) turns its
/// offloads off where it says disabled. An absent keyword, or a value outside its range, leaves
/// its offloads on (the INF's default for every keyword is "enabled"). A keyword never turns on
/// what is not offered, nor what another keyword turned off: an offload is on only if every
/// keyword that names it (its granular keyword and, for a checksum, its IP version's grouped
/// one) leaves it on. NDIS does not say how a grouped and a granular keyword combine; this
/// reading is the more conservative one, so the driver never uses an offload NDIS's own reading
/// of the keywords reports off to the stack.
pub fn configured_offloads(offered: TaskOffloads, mut value: impl FnMut(&Keyword) -> Option<u32>) -> TaskOffloads {
    let mut off = 0u32;
    for keyword in &OFFLOAD_KEYWORDS {
        let Some(v) = value(keyword) else { continue };
        match keyword.kind {
            KeywordKind::Checksum { tx, rx } => match v {
                0 => off |= tx.bits() | rx.bits(),
                1 => off |= rx.bits(),
                2 => off |= tx.bits(),
                _ => {}
            },
            KeywordKind::Switch(which) => {
                if v == 0 {
                    off |= which.bits();
                }
            }
        }
    }
    TaskOffloads::from_bits(offered.bits() & !off)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with<'a>(values: &'a [(&'a str, u32)]) -> impl FnMut(&Keyword) -> Option<u32> + 'a {
        move |k: &Keyword| values.iter().find(|(name, _)| *name == k.name).map(|&(_, v)| v)
    }

    #[test]
    fn keywords_turn_offloads_off() {
        let all = TaskOffloads::ALL;
        assert_eq!(configured_offloads(all, |_| None), all, "absent keywords: everything offered on");
        assert_eq!(configured_offloads(all, with(&[("*LsoV2IPv4", 1), ("*TCPChecksumOffloadIPv4", 3)])), all);
        let no_lso = configured_offloads(all, with(&[("*LsoV2IPv4", 0)]));
        assert_eq!(no_lso, TaskOffloads::from_bits(all.bits() & !TaskOffloads::LSO_V4.bits()));
        // Checksums: 1 transmit only, 2 receive only, 0 neither.
        let tx_only = configured_offloads(all, with(&[("*TCPChecksumOffloadIPv6", 1)]));
        assert!(tx_only.contains(TaskOffloads::TCP6_CHECKSUM_TX) && !tx_only.contains(TaskOffloads::TCP6_CHECKSUM_RX));
        let rx_only = configured_offloads(all, with(&[("*UDPChecksumOffloadIPv4", 2)]));
        assert!(!rx_only.contains(TaskOffloads::UDP4_CHECKSUM_TX) && rx_only.contains(TaskOffloads::UDP4_CHECKSUM_RX));
        let none = configured_offloads(all, with(&[("*IPChecksumOffloadIPv4", 0)]));
        assert_eq!(
            none.bits(),
            all.bits() & !(TaskOffloads::IPV4_CHECKSUM_TX.bits() | TaskOffloads::IPV4_CHECKSUM_RX.bits())
        );
        // Every keyword off: nothing left.
        let everything_off: alloc::vec::Vec<(&str, u32)> = OFFLOAD_KEYWORDS.iter().map(|k| (k.name, 0)).collect();
        assert_eq!(configured_offloads(all, with(&everything_off)), TaskOffloads::NONE);
        // Out of range: ignored. Not offered: stays off whatever the keyword says.
        assert_eq!(configured_offloads(all, with(&[("*RscIPv6", 7), ("*UDPChecksumOffloadIPv6", 4)])), all);
        let without_uso =
            TaskOffloads::from_bits(all.bits() & !(TaskOffloads::USO_V4.bits() | TaskOffloads::USO_V6.bits()));
        assert_eq!(configured_offloads(without_uso, with(&[("*UsoIPv4", 1)])), without_uso);
        // Each offload bit is named by exactly one granular keyword; the names are distinct.
        let bits = |k: &Keyword| match k.kind {
            KeywordKind::Checksum { tx, rx } => tx.bits() | rx.bits(),
            KeywordKind::Switch(w) => w.bits(),
        };
        let mut seen = 0u32;
        for k in OFFLOAD_KEYWORDS.iter().filter(|k| k.group == KeywordGroup::Granular) {
            assert_eq!(seen & bits(k), 0, "{}", k.name);
            seen |= bits(k);
        }
        assert_eq!(seen, all.bits());
        for (i, a) in OFFLOAD_KEYWORDS.iter().enumerate() {
            assert!(OFFLOAD_KEYWORDS.iter().skip(i + 1).all(|b| !a.name.eq_ignore_ascii_case(b.name)), "{}", a.name);
        }
    }

    /// The grouped checksum keywords: each value switches every checksum of its IP version in the
    /// direction it names, as a granular checksum keyword does one; an offload stays on only if
    /// both its granular and its grouped keyword leave it on.
    #[test]
    fn grouped_checksum_keywords_switch_an_ip_version() {
        use TaskOffloads as T;
        let all = T::ALL;
        let without = |gone: T| T::from_bits(all.bits() & !gone.bits());
        let grouped: alloc::vec::Vec<&str> =
            OFFLOAD_KEYWORDS.iter().filter(|k| k.group == KeywordGroup::Grouped).map(|k| k.name).collect();
        assert_eq!(grouped, ["*TCPUDPChecksumOffloadIPv4", "*TCPUDPChecksumOffloadIPv6"]);
        // IPv4: the IPv4 header, TCP and UDP checksums; IPv6 untouched.
        let v4 = |v| configured_offloads(all, with(&[("*TCPUDPChecksumOffloadIPv4", v)]));
        assert_eq!(v4(0), without(T::CHECKSUMS_V4_TX.union(T::CHECKSUMS_V4_RX)));
        assert_eq!(v4(1), without(T::CHECKSUMS_V4_RX), "1: transmit only");
        assert_eq!(v4(2), without(T::CHECKSUMS_V4_TX), "2: receive only");
        assert_eq!(v4(3), all);
        assert_eq!(v4(4), all, "out of range: ignored");
        // IPv6: TCP and UDP.
        let v6 = |v| configured_offloads(all, with(&[("*TCPUDPChecksumOffloadIPv6", v)]));
        assert_eq!(v6(0), without(T::CHECKSUMS_V6_TX.union(T::CHECKSUMS_V6_RX)));
        assert_eq!(v6(1), without(T::CHECKSUMS_V6_RX));
        assert_eq!(v6(2), without(T::CHECKSUMS_V6_TX));
        // Combined with the granular keywords: either one turning an offload off turns it off.
        let both = |values: &[(&str, u32)]| configured_offloads(all, with(values));
        assert_eq!(
            both(&[("*TCPUDPChecksumOffloadIPv4", 3), ("*TCPChecksumOffloadIPv4", 0)]),
            without(T::TCP4_CHECKSUM_TX.union(T::TCP4_CHECKSUM_RX))
        );
        assert_eq!(
            both(&[("*TCPUDPChecksumOffloadIPv4", 0), ("*TCPChecksumOffloadIPv4", 3)]),
            without(T::CHECKSUMS_V4_TX.union(T::CHECKSUMS_V4_RX))
        );
        assert_eq!(
            both(&[("*TCPUDPChecksumOffloadIPv6", 1), ("*UDPChecksumOffloadIPv6", 2)]),
            without(T::CHECKSUMS_V6_RX.union(T::UDP6_CHECKSUM_TX)),
            "grouped transmit only, granular UDP receive only: UDP/IPv6 off both ways, TCP/IPv6 transmit on"
        );
    }
}
