//! The scenario runner: lists or runs scenarios on a backend and writes a JUnit report.
//!
//! ```text
//! ringtun-scenarios [--list] [--filter TEXT] [--backend host] [--junit FILE]
//! ```
//! The last line printed is `N passed, N failed, N skipped`; the exit code is non-zero if any
//! scenario failed.

use std::process::ExitCode;

use ringtun_tests::backend::Backend;
use ringtun_tests::runner::{junit, run_one, summary, Verdict};
use ringtun_tests::scenarios::all;

struct Args {
    list: bool,
    filter: Option<String>,
    backend: String,
    junit: Option<String>,
}

fn parse() -> Result<Args, String> {
    let mut args = Args { list: false, filter: None, backend: "host".into(), junit: None };
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        match a.as_str() {
            "--list" => args.list = true,
            "--filter" => args.filter = Some(it.next().ok_or("--filter needs a value")?),
            "--backend" => args.backend = it.next().ok_or("--backend needs a value")?,
            "--junit" => args.junit = Some(it.next().ok_or("--junit needs a file")?),
            "-h" | "--help" => return Err(String::new()),
            other => return Err(format!("unknown argument {other}")),
        }
    }
    Ok(args)
}

fn run<B: Backend>(args: &Args, make: &dyn Fn() -> B) -> ExitCode {
    let scenarios: Vec<_> =
        all::<B>().into_iter().filter(|s| args.filter.as_deref().is_none_or(|f| s.name.contains(f))).collect();
    if args.list {
        for s in &scenarios {
            println!("{:50} {}", s.name, s.summary);
        }
        return ExitCode::SUCCESS;
    }
    let backend_name = make().name();
    let mut reports = Vec::new();
    for s in &scenarios {
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

fn main() -> ExitCode {
    let args = match parse() {
        Ok(a) => a,
        Err(e) => {
            if !e.is_empty() {
                eprintln!("{e}");
            }
            eprintln!("usage: ringtun-scenarios [--list] [--filter TEXT] [--backend host] [--junit FILE]");
            return ExitCode::from(2);
        }
    };
    match args.backend.as_str() {
        #[cfg(feature = "host")]
        "host" => run(&args, &ringtun_tests::host::HostSuite::new),
        other => {
            eprintln!("backend `{other}` is not built into this runner");
            ExitCode::from(2)
        }
    }
}
