//! A mini-VPN on Linux over the ringtun engine.
//!
//! Two network namespaces are joined by a veth pair ([`netns::Topology`]). In each, a TUN
//! interface is bridged to the engine (the `ringtun-tun` crate is the host platform's stack
//! side), and a client ([`node::Node`]) moves packets between the session's rings and a UDP
//! socket on the veth, sealed with ChaCha20-Poly1305 ([`crypto`]). In v1 mode the client copies
//! every packet; in v2 mode it encrypts in the Send ring's room and sends from the ring, and
//! decrypts in a Receive-ring slot and points the slot at the packet.
//!
//! [`measure`] has the ping and the TCP transfer with a verified payload checksum that the
//! `ringtun-vpn` binary and the namespace test run through the bare veth and through the tunnel.

#![cfg(target_os = "linux")]

pub mod coalesce;
pub mod crypto;
pub mod inet;
pub mod interrupt;
pub mod iperf;
pub mod measure;
pub mod netns;
pub mod node;
pub mod peer;
pub mod tunnel;
pub mod udp;
