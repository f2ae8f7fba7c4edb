//! Running scenarios: outcomes, panics caught as failures, a JUnit XML report.

use std::fmt::Write as _;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::time::{Duration, Instant};

use crate::backend::{Backend, Failure, Needs};

/// A scenario: a name, its area, what it needs, and its body.
pub struct Scenario<B: Backend> {
    /// Unique name, `area::what`.
    pub name: &'static str,
    /// What it covers.
    pub summary: &'static str,
    /// Backend capabilities it uses.
    pub needs: Needs,
    /// The body.
    pub run: fn(&B) -> Result<(), Failure>,
}

/// How a scenario ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Every assertion held.
    Passed,
    /// An assertion failed (or the scenario panicked).
    Failed(String),
    /// The backend lacks a capability the scenario needs.
    Skipped(String),
}

/// One result.
#[derive(Clone, Debug)]
pub struct Report {
    /// Scenario name.
    pub name: &'static str,
    /// The verdict.
    pub verdict: Verdict,
    /// Wall time.
    pub duration: Duration,
}

/// Runs `scenario` on a fresh backend from `make`.
pub fn run_one<B: Backend>(scenario: &Scenario<B>, make: &dyn Fn() -> B) -> Report {
    let start = Instant::now();
    let backend = make();
    let verdict = if !backend.supports().covers(scenario.needs) {
        Verdict::Skipped(format!("backend `{}` lacks {:?}", backend.name(), scenario.needs))
    } else {
        match catch_unwind(AssertUnwindSafe(|| (scenario.run)(&backend))) {
            Ok(Ok(())) => match backend.check_clean() {
                Ok(()) => Verdict::Passed,
                Err(failure) => Verdict::Failed(failure.message().to_string()),
            },
            Ok(Err(failure)) => Verdict::Failed(failure.message().to_string()),
            Err(panic) => Verdict::Failed(format!(
                "panicked: {}",
                panic
                    .downcast_ref::<String>()
                    .map(String::as_str)
                    .or_else(|| panic.downcast_ref::<&str>().copied())
                    .unwrap_or("(no message)")
            )),
        }
    };
    Report { name: scenario.name, verdict, duration: start.elapsed() }
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

/// A JUnit XML report of `reports` for backend `backend`.
pub fn junit(backend: &str, reports: &[Report]) -> String {
    let failures = reports.iter().filter(|r| matches!(r.verdict, Verdict::Failed(_))).count();
    let skipped = reports.iter().filter(|r| matches!(r.verdict, Verdict::Skipped(_))).count();
    let total: f64 = reports.iter().map(|r| r.duration.as_secs_f64()).sum();
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = writeln!(
        out,
        "<testsuite name=\"ringtun-{}\" tests=\"{}\" failures=\"{failures}\" skipped=\"{skipped}\" time=\"{total:.3}\">",
        escape(backend),
        reports.len()
    );
    for r in reports {
        let (class, name) = r.name.split_once("::").unwrap_or(("ringtun", r.name));
        let _ = write!(
            out,
            "  <testcase classname=\"{}\" name=\"{}\" time=\"{:.3}\"",
            escape(class),
            escape(name),
            r.duration.as_secs_f64()
        );
        match &r.verdict {
            Verdict::Passed => out.push_str("/>\n"),
            Verdict::Failed(m) => {
                let _ = writeln!(out, "><failure message=\"{}\"/></testcase>", escape(m));
            }
            Verdict::Skipped(m) => {
                let _ = writeln!(out, "><skipped message=\"{}\"/></testcase>", escape(m));
            }
        }
    }
    out.push_str("</testsuite>\n");
    out
}

/// The closing line: `N passed, N failed, N skipped`.
pub fn summary(reports: &[Report]) -> String {
    let passed = reports.iter().filter(|r| r.verdict == Verdict::Passed).count();
    let failed = reports.iter().filter(|r| matches!(r.verdict, Verdict::Failed(_))).count();
    let skipped = reports.len() - passed - failed;
    format!("{passed} passed, {failed} failed, {skipped} skipped")
}
