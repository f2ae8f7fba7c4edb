//! A tunnel between the two namespaces of a [`Topology`]: one [`Node`] in each, with mirrored
//! fresh keys.

use std::io;
use std::net::{Ipv4Addr, SocketAddrV4};

use crate::crypto::{DirectionKeys, OVERHEAD};
use crate::netns::Topology;
use crate::node::{Mode, Node, NodeConfig, NodeStats};

/// UDP port of both tunnel ends.
pub const UDP_PORT: u16 = 51820;
/// Tunnel address of the end in `a`.
pub const TUN_A: [u8; 4] = [10, 202, 0, 1];
/// Tunnel address of the end in `b`.
pub const TUN_B: [u8; 4] = [10, 202, 0, 2];
/// MTU of the TUN interfaces: the veth's MTU less the IPv4 and UDP headers and the record
/// overhead.
pub const TUN_MTU: u32 = Topology::VETH_MTU - 20 - 8 - OVERHEAD as u32;

/// Both ends of a running tunnel.
pub struct Tunnel {
    a: Node,
    b: Node,
}

impl Tunnel {
    /// Starts both ends in `mode`.
    pub fn start(topology: &Topology, mode: Mode, offload: bool) -> io::Result<Self> {
        let (keys_a, keys_b) = DirectionKeys::generate_pair()?;
        let udp = |addr: [u8; 4]| SocketAddrV4::new(Ipv4Addr::from(addr), UDP_PORT);
        let config = |tun: [u8; 4], local, peer, keys| NodeConfig {
            tun_name: "tun0".into(),
            tun_cidr: format!("{}/24", Ipv4Addr::from(tun)),
            tun_mtu: TUN_MTU,
            local: udp(local),
            peer: udp(peer),
            mode,
            keys,
            offload,
        };
        let a = Node::start(&topology.a, config(TUN_A, Topology::VETH_A, Topology::VETH_B, keys_a))?;
        let b = Node::start(&topology.b, config(TUN_B, Topology::VETH_B, Topology::VETH_A, keys_b))?;
        Ok(Self { a, b })
    }

    /// Counters of both ends now.
    pub fn stats(&self) -> (NodeStats, NodeStats) {
        (self.a.stats(), self.b.stats())
    }

    /// Stops both ends; the final counters.
    pub fn stop(self) -> io::Result<(NodeStats, NodeStats)> {
        self.a.request_stop();
        self.b.request_stop();
        let a = self.a.stop();
        let b = self.b.stop();
        Ok((a?, b?))
    }
}
