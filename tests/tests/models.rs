//! Model checking of the concurrency protocols (models/*.pml) with spin, through
//! `scripts/models`: every faithful model must pass and every deliberately broken variant must be
//! rejected, and every model must have both.
//!
//! Needs `spin` and a C compiler. Without spin the test is skipped with a message, except under
//! CI (`CI=true` or `RINGTUN_REQUIRE_MODELS=1`), where it fails: `.ci/run` installs spin.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().map(Path::to_path_buf).unwrap_or_default()
}

fn spin_available() -> bool {
    Command::new("spin").arg("-V").output().is_ok_and(|o| o.status.success())
}

fn required() -> bool {
    let set = |name: &str| std::env::var(name).is_ok_and(|v| !v.is_empty() && v != "0" && v != "false");
    set("CI") || set("RINGTUN_REQUIRE_MODELS")
}

#[test]
fn models_pass_and_broken_variants_are_rejected() {
    if !spin_available() {
        assert!(!required(), "spin is not installed but CI requires the model checks (apt-get install spin)");
        eprintln!("skipped: spin is not installed (apt-get install spin); CI installs it and runs this test");
        return;
    }
    let root = repo_root();
    let output =
        Command::new("bash").arg(root.join("scripts/models")).current_dir(&root).output().expect("run scripts/models");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    println!("{stdout}");
    assert!(output.status.success(), "scripts/models reported a mismatch:\n{stdout}\n{stderr}");

    // Per model: (faithful cases that passed, broken variants that were rejected).
    let mut seen: BTreeMap<String, (usize, usize)> = BTreeMap::new();
    for line in stdout.lines().skip(1) {
        let words: Vec<&str> = line.split_whitespace().collect();
        // model, variant words..., expect, got, states, seconds
        if words.len() < 6 || line.starts_with("cases:") {
            continue;
        }
        let n = words.len();
        let (model, expect, got) = (words[0], words[n - 4], words[n - 3]);
        assert_eq!(expect, got, "{line}");
        let entry = seen.entry(model.to_string()).or_default();
        match got {
            "pass" => entry.0 += 1,
            "assert" | "hang" => entry.1 += 1,
            other => panic!("unexpected outcome {other}: {line}"),
        }
    }
    let mut models: Vec<String> = std::fs::read_dir(root.join("models"))
        .expect("models/")
        .filter_map(|e| e.ok())
        .filter_map(|e| e.file_name().to_str().and_then(|n| n.strip_suffix(".pml")).map(str::to_string))
        .collect();
    models.sort();
    assert!(!models.is_empty());
    for model in &models {
        let (passed, rejected) = seen.get(model).copied().unwrap_or_default();
        assert!(passed >= 1, "{model}: no faithful case passed");
        assert!(rejected >= 1, "{model}: no broken variant was rejected");
    }
}
