//! Every scenario on the host platform, one test each.

use ringtun_tests::host::HostSuite;
use ringtun_tests::scenario_tests;

scenario_tests!(HostSuite, HostSuite::new);

#[test]
fn every_scenario_has_a_unique_name() {
    let all = ringtun_tests::scenarios::all::<HostSuite>();
    let mut names: Vec<_> = all.iter().map(|s| s.name).collect();
    names.sort_unstable();
    names.dedup();
    assert_eq!(names.len(), all.len());
    assert!(all.len() >= 30, "{} scenarios", all.len());
}

#[test]
fn junit_report_lists_every_verdict() {
    use ringtun_tests::runner::{junit, summary, Report, Verdict};
    use std::time::Duration;
    let reports = vec![
        Report { name: "a::passes", verdict: Verdict::Passed, duration: Duration::from_millis(5) },
        Report { name: "a::fails", verdict: Verdict::Failed("x < y & z".into()), duration: Duration::ZERO },
        Report { name: "b::skips", verdict: Verdict::Skipped("no stack".into()), duration: Duration::ZERO },
    ];
    let xml = junit("host", &reports);
    assert!(xml.contains("tests=\"3\" failures=\"1\" skipped=\"1\""));
    assert!(xml.contains("<failure message=\"x &lt; y &amp; z\"/>"));
    assert!(xml.contains("classname=\"b\" name=\"skips\""));
    assert_eq!(summary(&reports), "1 passed, 1 failed, 1 skipped");
}

#[test]
fn needs_cover_exactly_what_a_backend_supports() {
    use ringtun_tests::Needs;
    assert!(Needs::ALL.covers(Needs::LIFECYCLE));
    assert!(Needs::ALL.covers(Needs::TRAFFIC));
    assert!(Needs::STACK.covers(Needs::COUNTERS));
    assert!(!Needs::COUNTERS.covers(Needs::STACK), "counters alone cannot hold packets");
    assert!(!Needs::LIFECYCLE.covers(Needs::ALL), "no fault injection without it");
    assert!(!Needs::TRAFFIC.covers(Needs::COUNTERS));
    // Every scenario a traffic-only backend (a real stack) would run needs nothing more.
    let all = ringtun_tests::scenarios::all::<HostSuite>();
    let runnable = all.iter().filter(|s| Needs::TRAFFIC.covers(s.needs)).count();
    assert!(runnable >= 1 && runnable < all.len());
}
