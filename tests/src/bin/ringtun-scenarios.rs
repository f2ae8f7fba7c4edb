//! The scenario runner: lists or runs scenarios on a backend and writes a JUnit report.
//!
//! ```text
//! ringtun-scenarios [--list] [--filter TEXT] [--backend host|device] [--device PATH] [--junit FILE]
//! ```
//! `--backend host` (the default where built, feature `host`) runs the engine on the host
//! platform. `--backend device` (Windows, feature `device`) runs against the installed driver:
//! the first ringtun adapter, or the device interface `--device PATH`, with the addresses from
//! `RINGTUN_TEST_LOCAL` and `RINGTUN_TEST_PEER` (see `tests/vm/Run-DeviceTests.ps1`).
//!
//! The last line printed is `N passed, N failed, N skipped`; the exit code is non-zero if any
//! scenario failed.

use std::ffi::OsString;
use std::process::ExitCode;

use ringtun_tests::backend::Backend;
use ringtun_tests::runner::{junit, run_one, summary, Scenario, Verdict};
#[cfg(feature = "host")]
use ringtun_tests::scenarios::all;

const USAGE: &str =
    "usage: ringtun-scenarios [--list] [--filter TEXT] [--backend host|device] [--device PATH] [--junit FILE]";

/// The backend used without `--backend`: the host platform where it is built.
const DEFAULT_BACKEND: &str = if cfg!(feature = "host") { "host" } else { "device" };

/// The backends built into this runner.
const BUILT: &[(&str, bool)] = &[("host", cfg!(feature = "host")), ("device", cfg!(all(windows, feature = "device")))];

struct Args {
    list: bool,
    filter: Option<String>,
    backend: String,
    device: Option<OsString>,
    junit: Option<String>,
}

fn parse() -> Result<Args, String> {
    let mut args = Args { list: false, filter: None, backend: DEFAULT_BACKEND.into(), device: None, junit: None };
    let mut it = std::env::args_os().skip(1);
    let value = |it: &mut dyn Iterator<Item = OsString>, missing: &str| -> Result<String, String> {
        let v = it.next().ok_or(missing)?;
        v.into_string().map_err(|v| format!("not Unicode: {}", v.to_string_lossy()))
    };
    while let Some(a) = it.next() {
        match a.to_str() {
            Some("--list") => args.list = true,
            Some("--filter") => args.filter = Some(value(&mut it, "--filter needs a value")?),
            Some("--backend") => args.backend = value(&mut it, "--backend needs a value")?,
            Some("--device") => args.device = Some(it.next().ok_or("--device needs a device interface path")?),
            Some("--junit") => args.junit = Some(value(&mut it, "--junit needs a file")?),
            Some("-h" | "--help") => return Err(String::new()),
            _ => return Err(format!("unknown argument {}", a.to_string_lossy())),
        }
    }
    if args.device.is_some() && args.backend != "device" {
        return Err("--device applies to the device backend only (--backend device)".into());
    }
    Ok(args)
}

/// The scenarios `--filter` selects.
#[cfg_attr(not(any(feature = "host", all(windows, feature = "device"))), allow(dead_code))]
fn select<B: Backend>(args: &Args, scenarios: Vec<Scenario<B>>) -> Vec<Scenario<B>> {
    scenarios.into_iter().filter(|s| args.filter.as_deref().is_none_or(|f| s.name.contains(f))).collect()
}

#[cfg_attr(not(any(feature = "host", all(windows, feature = "device"))), allow(dead_code))]
fn list<B: Backend>(scenarios: &[Scenario<B>]) -> ExitCode {
    for s in scenarios {
        println!("{:50} {}", s.name, s.summary);
    }
    ExitCode::SUCCESS
}

/// Runs `scenarios` on fresh backends from `make` (a scenario needing more than the backend
/// supports is reported as skipped, by `run_one`).
#[cfg_attr(not(any(feature = "host", all(windows, feature = "device"))), allow(dead_code))]
fn run<B: Backend>(args: &Args, scenarios: &[Scenario<B>], make: &dyn Fn() -> B) -> ExitCode {
    let backend_name = make().name();
    let mut reports = Vec::new();
    for s in scenarios {
        let report = run_one(s, make);
        let tag = match &report.verdict {
            Verdict::Passed => "ok     ".to_string(),
            Verdict::Failed(why) => format!("FAILED  ({why})"),
            Verdict::Skipped(why) => format!("skipped ({why})"),
        };
        println!("{:50} {:>8.1} ms  {tag}", s.name, report.duration.as_secs_f64() * 1000.0);
        reports.push(report);
    }
    if let Some(path) = &args.junit {
        if let Err(e) = std::fs::write(path, junit(backend_name, &reports)) {
            eprintln!("cannot write {path}: {e}");
            return ExitCode::FAILURE;
        }
    }
    println!("{}", summary(&reports));
    if reports.iter().any(|r| matches!(r.verdict, Verdict::Failed(_))) {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

#[cfg(feature = "host")]
fn host(args: &Args) -> ExitCode {
    use ringtun_tests::host::HostSuite;
    let scenarios = select(args, all::<HostSuite>());
    if args.list {
        return list(&scenarios);
    }
    run(args, &scenarios, &HostSuite::new)
}

#[cfg(all(windows, feature = "device"))]
fn device(args: &Args) -> ExitCode {
    use ringtun_tests::device::{self, DeviceConfig, DeviceSuite};
    let mut every = ringtun_tests::scenarios::all::<DeviceSuite>();
    every.extend(device::scenarios());
    let scenarios = select(args, every);
    if args.list {
        return list(&scenarios);
    }
    let config = match DeviceConfig::from_env(args.device.clone()) {
        Ok(config) => config,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    // Without an adapter every scenario would fail the same way: say so once.
    if let Err(e) = DeviceSuite::new(config.clone()).open() {
        eprintln!("{e}");
        return ExitCode::from(2);
    }
    println!(
        "device backend: {}, stack {} <-> client {}",
        config.device.as_ref().map_or("first ringtun adapter".into(), |p| p.to_string_lossy()),
        config.local,
        config.peer
    );
    run(args, &scenarios, &|| DeviceSuite::new(config.clone()))
}

fn main() -> ExitCode {
    let args = match parse() {
        Ok(a) => a,
        Err(e) => {
            if !e.is_empty() {
                eprintln!("{e}");
            }
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    match args.backend.as_str() {
        #[cfg(feature = "host")]
        "host" => host(&args),
        #[cfg(all(windows, feature = "device"))]
        "device" => device(&args),
        other => {
            let built: Vec<_> = BUILT.iter().filter(|(_, on)| *on).map(|(name, _)| *name).collect();
            eprintln!(
                "backend `{other}` is not built into this runner (built: {}); `host` needs the `host` feature, \
                 `device` needs a Windows target and the `device` feature",
                if built.is_empty() { "none".to_string() } else { built.join(", ") }
            );
            ExitCode::from(2)
        }
    }
}
