//! iperf3 (Debian's) as the traffic generator of the measurements: a one-shot server in one
//! namespace, a client in the other, the client's JSON report parsed, and the CPU time both
//! processes used (from `wait4`, so it is theirs alone).

use std::io;
use std::net::Ipv4Addr;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::interrupt;
use crate::netns::Netns;

/// What one iperf3 run measured.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct IperfRun {
    /// Bytes the receiver got.
    pub bytes: u64,
    /// Seconds the receiver measured over.
    pub seconds: f64,
    /// TCP retransmissions the sender counted.
    pub retransmits: u64,
    /// CPU time (user + system) of the iperf3 client and server together.
    pub cpu: Duration,
}

impl IperfRun {
    /// Throughput in Mbit/s.
    pub fn mbit_per_s(&self) -> f64 {
        self.bytes as f64 * 8.0 / self.seconds.max(1e-9) / 1e6
    }
}

/// Whether `iperf3` can be run.
pub fn available() -> bool {
    Command::new("iperf3").arg("--version").stdout(Stdio::null()).stderr(Stdio::null()).status().is_ok()
}

/// The received bytes, the receiver's seconds and the sender's retransmissions from an iperf3
/// client's `--json` report (`end.sum_received`, `end.sum_sent`). `Err`: the report's error
/// message, or why it could not be read.
pub fn parse_report(json: &str) -> Result<(u64, f64, u64), String> {
    let v: serde_json::Value = serde_json::from_str(json).map_err(|e| format!("iperf3 report: {e}"))?;
    if let Some(e) = v.get("error").and_then(|e| e.as_str()) {
        return Err(format!("iperf3: {e}"));
    }
    let received = v.pointer("/end/sum_received").ok_or("iperf3 report without end.sum_received")?;
    let bytes = received.get("bytes").and_then(|b| b.as_u64()).ok_or("iperf3 report: no received bytes")?;
    let seconds = received.get("seconds").and_then(|s| s.as_f64()).ok_or("iperf3 report: no seconds")?;
    let retransmits = v.pointer("/end/sum_sent/retransmits").and_then(|r| r.as_u64()).unwrap_or(0);
    Ok((bytes, seconds, retransmits))
}

/// Waits for `child` and returns its exit status and the CPU time it used.
fn wait_with_cpu(child: &Child) -> io::Result<(i32, Duration)> {
    let pid = libc::pid_t::try_from(child.id()).map_err(io::Error::other)?;
    let mut status = 0;
    // SAFETY: a zeroed rusage is valid to fill.
    let mut usage: libc::rusage = unsafe { core::mem::zeroed() };
    loop {
        // SAFETY: `pid` is our child, not yet reaped (std's `Child` has not waited for it);
        // `status` and `usage` are valid to write.
        let rc = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
        if rc == pid {
            break;
        }
        let e = io::Error::last_os_error();
        if e.kind() != io::ErrorKind::Interrupted {
            return Err(e);
        }
    }
    let tv = |t: libc::timeval| {
        Duration::from_secs(t.tv_sec.unsigned_abs()) + Duration::from_micros(t.tv_usec.unsigned_abs())
    };
    let code = if libc::WIFEXITED(status) { libc::WEXITSTATUS(status) } else { -1 };
    Ok((code, tv(usage.ru_utime) + tv(usage.ru_stime)))
}

fn in_ns(ns: &Netns, args: &[&str]) -> Command {
    let mut c = Command::new("ip");
    c.args(["netns", "exec", ns.name(), "iperf3"]).args(args).stdin(Stdio::null());
    c
}

/// One TCP stream for `seconds` from `client_ns` to an iperf3 server on `to:port` in
/// `server_ns`. Retries while the server is not listening yet.
pub fn run(server_ns: &Netns, client_ns: &Netns, to: Ipv4Addr, port: u16, seconds: u64) -> io::Result<IperfRun> {
    let (to, port_s, secs) = (to.to_string(), port.to_string(), seconds.to_string());
    let server = in_ns(server_ns, &["-s", "-1", "-B", &to, "-p", &port_s])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()?;
    let started = Instant::now();
    let outcome = loop {
        let mut client = in_ns(client_ns, &["-c", &to, "-p", &port_s, "-t", &secs, "--json"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()?;
        let mut out = String::new();
        if let Some(mut stdout) = client.stdout.take() {
            io::Read::read_to_string(&mut stdout, &mut out)?;
        }
        let (_, client_cpu) = wait_with_cpu(&client)?;
        match parse_report(&out) {
            Ok(report) => break Ok((report, client_cpu)),
            Err(e) if e.contains("Connection refused") && started.elapsed() < Duration::from_secs(5) => {
                if interrupt::requested() {
                    break Err(io::Error::new(io::ErrorKind::Interrupted, "interrupted"));
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            Err(e) => break Err(io::Error::other(e)),
        }
    };
    if outcome.is_err() {
        // SAFETY: plain kill of our own child.
        unsafe { libc::kill(libc::pid_t::try_from(server.id()).unwrap_or(0), libc::SIGTERM) };
    }
    let (_, server_cpu) = wait_with_cpu(&server)?;
    let ((bytes, seconds, retransmits), client_cpu) = outcome?;
    Ok(IperfRun { bytes, seconds, retransmits, cpu: client_cpu + server_cpu })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reports_are_read_and_errors_passed_on() {
        let ok = r#"{"start":{},"intervals":[],"end":{"sum_sent":{"bytes":1000,"seconds":2.0,"retransmits":3},
            "sum_received":{"start":0,"end":2.001,"seconds":2.001,"bytes":998,"bits_per_second":3990.0}}}"#;
        assert_eq!(parse_report(ok), Ok((998, 2.001, 3)));
        let err = r#"{"start":{},"intervals":[],"end":{},"error":"unable to connect to server: Connection refused"}"#;
        assert!(parse_report(err).is_err_and(|e| e.contains("Connection refused")));
        assert!(parse_report("not json").is_err());
        assert!(parse_report(r#"{"end":{}}"#).is_err());
        let run = IperfRun { bytes: 125_000_000, seconds: 1.0, retransmits: 0, cpu: Duration::ZERO };
        assert!((run.mbit_per_s() - 1000.0).abs() < 1e-9);
    }
}
