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
        /// The transmit offload it controls.
        tx: TaskOffloads,
        /// The receive offload it controls.
        rx: TaskOffloads,
    },
    /// An on/off keyword (LSOv2, RSC, USO): 0 disabled, 1 enabled.
    Switch(TaskOffloads),
}

/// One standardized keyword: its registry value name and what it controls.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Keyword {
    /// The registry value name, as the INF declares it.
    pub name: &'static str,
    /// What its value controls.
    pub kind: KeywordKind,
}

/// Every standardized keyword of the offloads the engine implements.
pub const OFFLOAD_KEYWORDS: [Keyword; 11] = [
    Keyword {
        name: "*IPChecksumOffloadIPv4",
        kind: KeywordKind::Checksum { tx: TaskOffloads::IPV4_CHECKSUM_TX, rx: TaskOffloads::IPV4_CHECKSUM_RX },
    },
    Keyword {
        name: "*TCPChecksumOffloadIPv4",
        kind: KeywordKind::Checksum { tx: TaskOffloads::TCP4_CHECKSUM_TX, rx: TaskOffloads::TCP4_CHECKSUM_RX },
    },
    Keyword {
        name: "*TCPChecksumOffloadIPv6",
        kind: KeywordKind::Checksum { tx: TaskOffloads::TCP6_CHECKSUM_TX, rx: TaskOffloads::TCP6_CHECKSUM_RX },
    },
    Keyword {
        name: "*UDPChecksumOffloadIPv4",
        kind: KeywordKind::Checksum { tx: TaskOffloads::UDP4_CHECKSUM_TX, rx: TaskOffloads::UDP4_CHECKSUM_RX },
    },
    Keyword {
        name: "*UDPChecksumOffloadIPv6",
        kind: KeywordKind::Checksum { tx: TaskOffloads::UDP6_CHECKSUM_TX, rx: TaskOffloads::UDP6_CHECKSUM_RX },
    },
    Keyword { name: "*LsoV2IPv4", kind: KeywordKind::Switch(TaskOffloads::LSO_V4) },
    Keyword { name: "*LsoV2IPv6", kind: KeywordKind::Switch(TaskOffloads::LSO_V6) },
    Keyword { name: "*RscIPv4", kind: KeywordKind::Switch(TaskOffloads::RSC_V4) },
    Keyword { name: "*RscIPv6", kind: KeywordKind::Switch(TaskOffloads::RSC_V6) },
    Keyword { name: "*UsoIPv4", kind: KeywordKind::Switch(TaskOffloads::USO_V4) },
    Keyword { name: "*UsoIPv6", kind: KeywordKind::Switch(TaskOffloads::USO_V6) },
];

/// The offloads an adapter starts with: of those it `offered`, each keyword's value (`value`
/// returns it, `None` where the keyword is absent or unreadable) turns its offloads off where it
/// says disabled. An absent keyword, or a value outside its range, leaves its offloads on (the
/// INF's default for every keyword is "enabled"). A keyword never turns on what is not offered.
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
        // The names are distinct and each offload bit is named by exactly one keyword.
        let mut seen = 0u32;
        for k in &OFFLOAD_KEYWORDS {
            let bits = match k.kind {
                KeywordKind::Checksum { tx, rx } => tx.bits() | rx.bits(),
                KeywordKind::Switch(w) => w.bits(),
            };
            assert_eq!(seen & bits, 0, "{}", k.name);
            seen |= bits;
        }
        assert_eq!(seen, all.bits());
    }
}
