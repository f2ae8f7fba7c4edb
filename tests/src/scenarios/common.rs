//! Helpers shared by scenarios.

use std::thread;
use std::time::{Duration, Instant};

use ring_abi::CallerBitness;
use ringtun::{Error, Session, SessionConfig, VersionPreference};

use crate::backend::{Backend, Failure};

/// How long a scenario waits for something that should happen at once.
pub const PATIENCE: Duration = Duration::from_secs(10);

/// A session for process 1 (64-bit).
pub fn session<B: Backend>(b: &B, config: SessionConfig) -> Result<Session<B::Client>, Failure> {
    Ok(Session::open(b.open_client(1, CallerBitness::Bits64), config)?)
}

/// Configuration: v1 only, default capacities.
pub fn v1() -> SessionConfig {
    SessionConfig { version: VersionPreference::V1Only, ..SessionConfig::default() }
}

/// Configuration: v2 with default capacities and no room.
pub fn v2() -> SessionConfig {
    SessionConfig::default()
}

/// Sends `packet` through an outgoing slot, waiting while the ring is full.
pub fn send<C: ringtun::backend::Backend>(session: &Session<C>, packet: &[u8]) -> Result<(), Failure> {
    let deadline = Instant::now() + PATIENCE;
    loop {
        match session.allocate(packet.len(), 0, 0) {
            Ok(mut slot) => {
                slot.data_mut().copy_from_slice(packet);
                session.send(slot)?;
                return Ok(());
            }
            Err(Error::RingFull) if Instant::now() < deadline => thread::sleep(Duration::from_micros(200)),
            Err(e) => return Err(e.into()),
        }
    }
}

/// Receives exactly `n` incoming packets (copies), releasing each.
pub fn receive_n<C: ringtun::backend::Backend>(session: &Session<C>, n: usize) -> Result<Vec<Vec<u8>>, Failure> {
    let mut out = Vec::with_capacity(n);
    let deadline = Instant::now() + PATIENCE;
    while out.len() < n {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(Failure::new(format!("received {} of {n} packets", out.len())));
        }
        if let Some(p) = session.receive_wait(left)? {
            out.push(p.data().to_vec());
        }
    }
    Ok(out)
}

/// Whether nothing more arrives within `wait`.
pub fn nothing_more<C: ringtun::backend::Backend>(session: &Session<C>, wait: Duration) -> Result<bool, Failure> {
    Ok(session.receive_wait(wait)?.is_none())
}

/// Runs `f` on another thread after `delay`.
pub fn later(delay: Duration, f: impl FnOnce() + Send + 'static) -> thread::JoinHandle<()> {
    thread::spawn(move || {
        thread::sleep(delay);
        f();
    })
}
