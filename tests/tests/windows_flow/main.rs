//! The Windows build, packaging and VM install flow, checked on Linux: `Makefile.toml` read the
//! way cargo-make reads it, `.cargo/config.toml` resolved the way cargo resolves it, the driver
//! build's flags held against every precondition `wdk-build` 0.6.0 tests, and every PowerShell
//! script (the Makefile's tasks and `tests/vm/*.ps1`) linted without PowerShell: exit codes
//! checked and explained, no tool output parsed; and the Wintun API client the VM runs
//! (`tests/vm/Test-WintunApi.ps1`) held against `wintun.dll`'s header and exports: every
//! P/Invoke declaration of its C#, parameter by parameter (`pinvoke.rs`), and the C# compiled as
//! Windows PowerShell 5.1's `Add-Type` compiles it (C# 5, mscorlib and System) where Mono's `mcs`
//! is installed.
//!
//! What this cannot show: that the kit's tools, pnputil, devgen and Driver Verifier behave as
//! their documentation says; that runs on Windows only (docs/install.md lists what awaits it).

mod cargo_config;
mod cargo_make;
mod pinvoke;
mod powershell;
#[path = "../../../wintun-api/hardening.rs"]
mod wintun_hardening;

use cargo_make::{Env, Makefile};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use toml::{Table, Value};

/// The targets the driver builds for: (triple, stampinf architecture, inf2cat suffix).
const DRIVER_TARGETS: [(&str, &str, &str); 2] =
    [("x86_64-pc-windows-msvc", "amd64", "X64"), ("aarch64-pc-windows-msvc", "arm64", "ARM64")];

/// Inf2Cat's documented /os: version identifiers (the Inf2Cat page of the WDK documentation,
/// Windows 10 and later; the tool ignores their case), with the build of the release each names.
const INF2CAT_IDENTIFIERS: &[(&str, u32)] = &[
    ("10_25H2_X64", 26200),
    ("10_25H2_ARM64", 26200),
    ("10_GE_X64", 26100),
    ("10_GE_ARM64", 26100),
    ("Server2025_X64", 26100),
    ("Server2025_ARM64", 26100),
    ("10_NI_X64", 22621),
    ("10_NI_ARM64", 22621),
    ("10_CO_X64", 22000),
    ("10_CO_ARM64", 22000),
    ("ServerFE_X64", 20348),
    ("ServerFE_ARM64", 20348),
    ("10_VB_X86", 19041),
    ("10_VB_X64", 19041),
    ("10_VB_ARM64", 19041),
    ("10_19H1_X86", 18362),
    ("10_19H1_X64", 18362),
    ("10_19H1_ARM64", 18362),
    ("10_RS5_X86", 17763),
    ("10_RS5_X64", 17763),
    ("10_RS5_ARM64", 17763),
    ("ServerRS5_X64", 17763),
    ("ServerRS5_ARM64", 17763),
    ("10_RS4_X86", 17134),
    ("10_RS4_X64", 17134),
    ("10_RS4_ARM64", 17134),
    ("10_RS3_X86", 16299),
    ("10_RS3_X64", 16299),
    ("10_RS3_ARM64", 16299),
    ("10_RS2_X86", 15063),
    ("10_RS2_X64", 15063),
    ("10_AU_X86", 14393),
    ("10_AU_X64", 14393),
    ("SERVER2016_X64", 14393),
    ("10_X86", 10240),
    ("10_X64", 10240),
    ("Server10_X64", 14393),
    ("Server10_ARM64", 14393),
];

/// The documented identifier, and the build it names.
fn inf2cat_identifier(id: &str) -> Option<u32> {
    INF2CAT_IDENTIFIERS.iter().find(|(known, _)| known.eq_ignore_ascii_case(id)).map(|(_, build)| *build)
}

/// The oldest build inf/ringtun.inx's models section applies to (`NT$ARCH$.10.0...<build>`).
fn inf_minimum_build() -> u32 {
    let inx = read("inf/ringtun.inx");
    let decoration = inx
        .lines()
        .find_map(|l| l.split_once("NT$ARCH$.10.0...").map(|(_, rest)| rest))
        .expect("a NT$ARCH$.10.0...<build> decoration in ringtun.inx");
    let digits: String = decoration.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().expect("a build number")
}

/// The kit's tools, which live in the kit's folders rather than on PATH.
const KIT_TOOLS: [&str; 4] = ["stampinf", "infverif", "inf2cat", "signtool"];

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().map(Path::to_path_buf).unwrap_or_default()
}

fn read(relative: &str) -> String {
    let path = root().join(relative);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn makefile() -> Makefile {
    Makefile::parse(&read("Makefile.toml"))
}

/// The workspace's `.cargo/config.toml`; none is an empty configuration, as for cargo.
fn cargo_config() -> Table {
    let path = root().join(".cargo/config.toml");
    match std::fs::read_to_string(&path) {
        Ok(text) => text.parse().expect(".cargo/config.toml parses"),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Table::new(),
        Err(e) => panic!("{}: {e}", path.display()),
    }
}

/// The environment of a `cargo make` run on a Windows host with these settings.
fn windows_env(makefile: &Makefile, host: &str, settings: &[(&str, &str)]) -> Env {
    let mut initial = Env::new();
    initial.insert("CARGO_MAKE_RUST_TARGET_TRIPLE".into(), host.into());
    initial.insert("CARGO_MAKE_WORKING_DIRECTORY".into(), "C:/src/ringtun".into());
    for (key, value) in settings {
        initial.insert((*key).into(), (*value).into());
    }
    makefile.env(&initial)
}

/// A way to ask for a build of `target`: chosen on a host of the other architecture, or the
/// host's own default; in both profiles.
struct Scenario {
    target: &'static str,
    arch: &'static str,
    suffix: &'static str,
    profile: &'static str,
    env: Env,
    label: String,
}

fn scenarios(makefile: &Makefile) -> Vec<Scenario> {
    let mut all = Vec::new();
    for (i, (target, arch, suffix)) in DRIVER_TARGETS.iter().enumerate() {
        let other_host = DRIVER_TARGETS[1 - i].0;
        for profile in ["debug", "release"] {
            let chosen = windows_env(makefile, other_host, &[("RINGTUN_TARGET", target), ("RINGTUN_PROFILE", profile)]);
            all.push(Scenario {
                target,
                arch,
                suffix,
                profile,
                env: chosen,
                label: format!("RINGTUN_TARGET={target} on a {other_host} host, {profile}"),
            });
            let default = windows_env(makefile, target, &[("RINGTUN_PROFILE", profile)]);
            all.push(Scenario {
                target,
                arch,
                suffix,
                profile,
                env: default,
                label: format!("a {target} host's default, {profile}"),
            });
        }
    }
    all
}

/// The driver build as cargo runs it: the command line, the target it compiles for (the
/// `--target` value, else the host) and the directory the artifacts land in.
struct DriverBuild {
    args: Vec<String>,
    target: String,
    out_dir: String,
}

fn driver_build(makefile: &Makefile, env: &Env) -> DriverBuild {
    let task = makefile.task("build-driver");
    assert_eq!(task.get("command").and_then(Value::as_str), Some("cargo"), "build-driver runs cargo");
    let args = makefile.args("build-driver", env);
    assert_eq!(args.first().map(String::as_str), Some("build"), "{args:?}");
    let value_of = |flag: &str| args.windows(2).find(|p| p[0] == flag).map(|p| p[1].clone());
    let explicit = value_of("--target");
    let target = explicit.clone().unwrap_or_else(|| env["CARGO_MAKE_RUST_TARGET_TRIPLE"].clone());
    let profile_dir = match (args.iter().any(|a| a == "--release"), value_of("--profile")) {
        (true, _) => "release".to_string(),
        (false, Some(p)) if p == "dev" => "debug".to_string(),
        (false, Some(p)) => p,
        (false, None) => "debug".to_string(),
    };
    let base = format!("{}/target", env["CARGO_MAKE_WORKING_DIRECTORY"]);
    let out_dir = match explicit {
        Some(t) => format!("{base}/{t}/{profile_dir}"),
        None => format!("{base}/{profile_dir}"),
    };
    DriverBuild { args, target, out_dir }
}

fn powershell_tasks(makefile: &Makefile) -> Vec<(String, String)> {
    makefile
        .task_names()
        .into_iter()
        .filter(|t| makefile.script_runner(t).is_some_and(|r| r.eq_ignore_ascii_case("powershell")))
        .map(|t| {
            let script = makefile.script(&t).unwrap_or_else(|| panic!("{t}: a PowerShell task without a script"));
            (t, script)
        })
        .collect()
}

/// The PowerShell tasks' native commands, with their task.
fn task_natives(makefile: &Makefile) -> Vec<(String, Vec<powershell::Line>, powershell::Native)> {
    let mut all = Vec::new();
    for (task, script) in powershell_tasks(makefile) {
        let lines = powershell::logical_lines(&script).unwrap_or_else(|e| panic!("{task}: {e}"));
        for native in powershell::natives(&lines) {
            all.push((task.clone(), lines.clone(), native));
        }
    }
    all
}

/// `$env:NAME` references replaced by their values.
fn resolve_env_refs(text: &str, env: &Env) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(start) = rest.find("$env:") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 5..];
        let end = after.find(|c: char| !(c.is_alphanumeric() || c == '_')).unwrap_or(after.len());
        match env.get(&after[..end]) {
            Some(value) => out.push_str(value),
            None => out.push_str(&rest[start..start + 5 + end]),
        }
        rest = &after[end..];
    }
    out.push_str(rest);
    out
}

#[test]
fn powershell_tasks_bypass_the_execution_policy_and_run_as_files() {
    let makefile = makefile();
    let tasks = powershell_tasks(&makefile);
    assert!(tasks.len() >= 5, "the Windows flow's PowerShell tasks: {tasks:?}");
    for (task, script) in &tasks {
        // cargo-make runs `<runner> <script_runner_args...> <script file> <cli args>` when both a
        // runner and an extension are given (its generic script engine).
        assert_eq!(
            makefile.task(task).get("script_extension").and_then(Value::as_str),
            Some("ps1"),
            "{task}: without script_extension cargo-make does not hand PowerShell a .ps1 file"
        );
        let args: Vec<String> =
            makefile.list(task, "script_runner_args").iter().map(|a| a.to_ascii_lowercase()).collect();
        let policy = args.iter().position(|a| a == "-executionpolicy");
        assert!(
            policy.is_some_and(|p| args.get(p + 1).is_some_and(|v| v == "bypass")),
            "{task}: no `-ExecutionPolicy Bypass` in script_runner_args {args:?}: a Restricted machine refuses the script"
        );
        assert_eq!(
            args.last().map(String::as_str),
            Some("-file"),
            "{task}: script_runner_args must end with -File, which the script's path follows"
        );
        let lines = powershell::logical_lines(script).unwrap_or_else(|e| panic!("{task}: {e}"));
        let first = lines.iter().find(|l| !l.code.trim().is_empty()).map(|l| l.raw.trim().to_string());
        assert_eq!(
            first.as_deref(),
            Some("$ErrorActionPreference = 'Stop'"),
            "{task}: a failing cmdlet must stop the script (and fail the task)"
        );
    }
}

#[test]
fn the_driver_is_built_for_the_chosen_target() {
    let makefile = makefile();
    for s in scenarios(&makefile) {
        let build = driver_build(&makefile, &s.env);
        assert_eq!(
            build.target, s.target,
            "{}: the driver build compiles for {} ({:?})",
            s.label, build.target, build.args
        );
        let profile_dir = if build.args.iter().any(|a| a == "--release") { "release" } else { "debug" };
        assert_eq!(profile_dir, s.profile, "{}: {:?}", s.label, build.args);
    }
}

#[test]
fn packaging_reads_what_the_build_writes() {
    let makefile = makefile();
    for s in scenarios(&makefile) {
        let build = driver_build(&makefile, &s.env);
        assert_eq!(build.target, s.target, "{}: built for {}", s.label, build.target);
        let out = s.env.get("RINGTUN_OUT").cloned().unwrap_or_default();
        assert_eq!(out, build.out_dir, "{}: packaging reads RINGTUN_OUT, cargo writes {}", s.label, build.out_dir);
        let package = s.env.get("RINGTUN_PACKAGE").cloned().unwrap_or_default();
        assert!(package.starts_with(&out), "{}: the package {package} is outside {out}", s.label);
    }
    let stage = makefile.script("stage").expect("a stage script");
    assert!(
        stage.contains("Join-Path $env:RINGTUN_OUT 'ringtun_driver.dll'"),
        "stage copies the image from RINGTUN_OUT"
    );
}

#[test]
fn crt_static_reaches_the_driver_build() {
    let makefile = makefile();
    let config = cargo_config();
    for s in scenarios(&makefile) {
        let build = driver_build(&makefile, &s.env);
        let mut configs = vec![config.clone()];
        configs.extend(cargo_config::command_line_configs(&build.args));
        let flags = cargo_config::rustflags(&configs, &build.target);
        let cfg = cargo_config::rustc_cfg(&build.target, &flags);
        // wdk-build 0.6.0, Config::is_crt_static_linked: CARGO_CFG_TARGET_FEATURE contains
        // "crt-static", else configure_binary_build fails with StaticCrtNotEnabled.
        let features = cargo_config::cfg_values(&cfg, "target_feature");
        assert!(
            features.iter().any(|f| f.contains("crt-static")),
            "{}: the driver build's rustflags {flags:?} leave crt-static out of the target features",
            s.label
        );
    }
    // The workspace's user-mode Windows binaries (client users, the scenario runner, a DLL) get it
    // too: no Visual C++ runtime needed where they run.
    let i686 = cargo_config::rustflags(std::slice::from_ref(&config), "i686-pc-windows-msvc");
    let cfg = cargo_config::rustc_cfg("i686-pc-windows-msvc", &i686);
    assert!(cargo_config::cfg_values(&cfg, "target_feature").iter().any(|f| f == "crt-static"));
}

#[test]
fn linux_and_gnu_builds_are_unaffected() {
    let config = cargo_config();
    for target in [cargo_config::host_triple(), "x86_64-unknown-linux-gnu".into(), "x86_64-pc-windows-gnu".into()] {
        let flags = cargo_config::rustflags(std::slice::from_ref(&config), &target);
        assert!(flags.is_empty(), "{target} gets rustflags {flags:?} from .cargo/config.toml");
    }
}

#[test]
fn driver_build_meets_wdk_build_preconditions() {
    let makefile = makefile();
    let config = cargo_config();
    for s in scenarios(&makefile) {
        let build = driver_build(&makefile, &s.env);
        let mut configs = vec![config.clone()];
        configs.extend(cargo_config::command_line_configs(&build.args));
        // utils::detect_cpu_architecture_in_build_script panics on any arch but these two.
        let cfg = cargo_config::rustc_cfg(&build.target, &[]);
        let arch = cargo_config::cfg_values(&cfg, "target_arch");
        assert!(arch == ["x86_64"] || arch == ["aarch64"], "{}: target_arch {arch:?}", s.label);
        // find_top_level_cargo_manifest walks up from OUT_DIR to the directory with Cargo.lock:
        // no target directory elsewhere.
        assert!(!build.args.iter().any(|a| a.starts_with("--target-dir")), "{}: {:?}", s.label, build.args);
        assert!(cargo_config::config_value(&configs, &["build", "target-dir"]).is_none(), "build.target-dir is set");
        // The kernel image: the kernel shell's feature, the driver package, its library only, and
        // no unwinding (wdk-panic).
        for pair in [["-p", "ringtun-driver"], ["--features", "kernel"]] {
            assert!(build.args.windows(2).any(|w| w == pair), "{}: {:?} lacks {pair:?}", s.label, build.args);
        }
        assert!(build.args.iter().any(|a| a == "--lib"), "{:?}", build.args);
        let cargo_profile = if s.profile == "release" { "release" } else { "dev" };
        assert_eq!(
            cargo_config::config_value(&configs, &["profile", cargo_profile, "panic"]).and_then(Value::as_str),
            Some("abort"),
            "{}: the {cargo_profile} profile unwinds in the driver build",
            s.label
        );
    }
    // configure_binary_build's link settings are cdylib link arguments.
    let driver: Table = read("driver/Cargo.toml").parse().expect("driver/Cargo.toml parses");
    let crate_types =
        driver.get("lib").and_then(|l| l.get("crate-type")).and_then(Value::as_array).expect("[lib] crate-type");
    assert!(crate_types.iter().any(|t| t.as_str() == Some("cdylib")), "{crate_types:?}");
    // Config::from_env_auto: exactly one WDK configuration among the workspace's packages.
    let workspace: Table = read("Cargo.toml").parse().expect("Cargo.toml parses");
    let members = workspace["workspace"]["members"].as_array().expect("members");
    let with_wdk: Vec<&str> = members
        .iter()
        .filter_map(Value::as_str)
        .filter(|m| {
            let manifest: Table = read(&format!("{m}/Cargo.toml")).parse().expect("a member manifest parses");
            manifest
                .get("package")
                .and_then(|p| p.get("metadata"))
                .and_then(|m| m.get("wdk"))
                .and_then(Value::as_table)
                .is_some_and(|t| !t.is_empty())
        })
        .collect();
    assert_eq!(with_wdk, ["driver"], "packages with [package.metadata.wdk]");
    assert_eq!(
        driver["package"]["metadata"]["wdk"]["driver-model"]["driver-type"].as_str(),
        Some("KMDF"),
        "the driver model wdk-build reads"
    );
    // RUSTFLAGS or CARGO_ENCODED_RUSTFLAGS replace the configured flags; a CARGO_TARGET_DIR moves
    // OUT_DIR: the flow refuses them before building.
    assert!(makefile.depends_on("build-driver", "check-build-env"), "build-driver must depend on check-build-env");
    let guard = makefile.script("check-build-env").expect("a check-build-env script");
    for name in ["RUSTFLAGS", "CARGO_ENCODED_RUSTFLAGS", "crt-static", "CARGO_TARGET_DIR", "CARGO_BUILD_TARGET_DIR"] {
        assert!(guard.contains(name), "check-build-env does not look at {name}");
    }
}

#[test]
fn inf2cat_and_stampinf_get_the_target_architecture() {
    let makefile = makefile();
    let natives = task_natives(&makefile);
    let find = |program: &str| {
        natives
            .iter()
            .find(|(_, _, n)| n.program() == program)
            .unwrap_or_else(|| panic!("no task runs {program}"))
            .2
            .statement
            .clone()
    };
    let stampinf = find("stampinf");
    let inf2cat = find("inf2cat");
    let minimum = inf_minimum_build();
    for s in scenarios(&makefile) {
        let stamp = resolve_env_refs(&stampinf, &s.env);
        let words: Vec<&str> = stamp.split_whitespace().collect();
        let arch = words.windows(2).find(|w| w[0] == "-a").map(|w| w[1]);
        assert_eq!(arch, Some(s.arch), "{}: `{stamp}`", s.label);

        let catalog = resolve_env_refs(&inf2cat, &s.env);
        let os = catalog
            .split_whitespace()
            .find_map(|w| w.trim_matches('"').strip_prefix("/os:").map(str::to_string))
            .unwrap_or_else(|| panic!("inf2cat without /os: `{inf2cat}`"));
        assert!(!os.contains('$'), "{}: inf2cat's /os: `{os}` is not set by the flow's settings", s.label);
        for id in os.split(',') {
            let build =
                inf2cat_identifier(id).unwrap_or_else(|| panic!("{}: `{id}` is not an inf2cat OS identifier", s.label));
            let suffix = id.rsplit('_').next().unwrap_or("");
            assert!(suffix.eq_ignore_ascii_case(s.suffix), "{}: `{id}` is not for {}", s.label, s.target);
            // The INF installs nothing on an older system; inf2cat's signability check can refuse
            // a package for a system it does not apply to.
            assert!(
                build >= minimum,
                "{}: `{id}` names build {build}, older than the {minimum} ringtun.inx's models section needs",
                s.label
            );
        }
    }
}

#[test]
fn every_inf2cat_identifier_in_the_makefile_is_documented() {
    let text = read("Makefile.toml");
    let mut seen = BTreeSet::new();
    for word in text.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_')) {
        let lower = word.to_ascii_lowercase();
        let arch = lower.rsplit('_').next().unwrap_or("");
        let looks_like = lower.contains('_')
            && ["x86", "x64", "arm64", "arm", "ia64"].contains(&arch)
            && (lower.starts_with(|c: char| c.is_ascii_digit()) || lower.starts_with("server"));
        if looks_like {
            assert!(
                inf2cat_identifier(word).is_some(),
                "Makefile.toml names `{word}`, which is not an inf2cat OS identifier"
            );
            seen.insert(lower);
        }
    }
    assert!(!seen.is_empty(), "no inf2cat identifier found in Makefile.toml");
}

#[test]
fn kit_tools_are_found_as_wdk_build_finds_the_kit() {
    let makefile = makefile();
    assert!(makefile.has_task("kit-tools"), "no kit-tools task");
    let discovery = makefile.script("kit-tools").expect("a kit-tools script");
    // wdk-build's utils::detect_wdk_content_root, detect_windows_sdk_version and
    // cargo_make::setup_path, in PowerShell.
    for source in [
        "$env:WDKContentRoot",
        "$env:MicrosoftKitRoot",
        "$env:WDKKitVersion",
        "SOFTWARE\\Microsoft\\Windows Kits\\Installed Roots",
        "SOFTWARE\\WOW6432Node\\Microsoft\\Windows Kits\\Installed Roots",
        "KitsRoot10",
        "$env:Version_Number",
        "$env:WDKBinRoot",
        "$env:WDKToolRoot",
        "$env:WindowsSdkBinPath",
        "'x86'",
        "Get-Command",
    ] {
        assert!(discovery.contains(source), "kit-tools does not consult {source}");
    }
    let mut run = BTreeSet::new();
    for (task, _, native) in task_natives(&makefile) {
        let program = native.program();
        if KIT_TOOLS.contains(&program.as_str()) {
            assert!(
                native.command.starts_with("$tools."),
                "{task}: runs {} from PATH (`{}`), not the kit's",
                program,
                native.statement.trim()
            );
            assert!(makefile.depends_on(&task, "kit-tools"), "{task} runs {program} without depending on kit-tools");
            run.insert(program);
        }
    }
    assert_eq!(run.len(), KIT_TOOLS.len(), "the flow runs {run:?}");
}

#[test]
fn infverif_checks_the_stamped_inf() {
    let makefile = makefile();
    let flow = makefile.flow("default");
    let natives = task_natives(&makefile);
    let (task, _, native) = natives
        .iter()
        .find(|(task, _, n)| n.program() == "infverif" && flow.contains(task))
        .expect("the default flow runs no infverif");
    let words: Vec<String> = native.statement.split_whitespace().map(|w| w.to_ascii_lowercase()).collect();
    for flag in ["/v", "/w"] {
        assert!(words.iter().any(|w| w == flag), "`{}` lacks {flag}", native.statement.trim());
    }
    assert!(native.statement.contains("$env:RINGTUN_PACKAGE") && native.statement.contains("ringtun.inf"));
    assert!(makefile.depends_on(task, "stage"), "{task} runs before the INF is stamped");
    let catalog =
        natives.iter().find(|(_, _, n)| n.program() == "inf2cat").map(|(t, _, _)| t.clone()).expect("inf2cat");
    assert!(makefile.depends_on(&catalog, task), "the catalog is made before infverif checked the INF");
}

#[test]
fn the_package_carries_the_pdb() {
    let makefile = makefile();
    let flow = makefile.flow("default");
    let copies = flow.iter().filter(|t| {
        makefile.script(t).is_some_and(|s| {
            s.lines().any(|l| {
                l.contains("Copy-Item")
                    && l.contains("$env:RINGTUN_OUT")
                    && l.contains("'ringtun_driver.pdb'")
                    && l.contains("$env:RINGTUN_PACKAGE")
            })
        })
    });
    assert_eq!(
        copies.count(),
        1,
        "no task of the default flow copies ringtun_driver.pdb from RINGTUN_OUT into the package"
    );
    let package = makefile.script("package").expect("a package script");
    assert!(package.contains("'ringtun_driver.pdb'"), "the package task does not require the pdb");
}

#[test]
fn signature_verification_is_opt_in() {
    let makefile = makefile();
    let mut verifying = Vec::new();
    for (task, _, native) in task_natives(&makefile) {
        if native.program() == "signtool" && native.statement.split_whitespace().nth(1) == Some("verify") {
            verifying.push(task);
        }
    }
    assert!(!verifying.is_empty(), "no task verifies signatures");
    let default_env = windows_env(&makefile, DRIVER_TARGETS[0].0, &[]);
    for task in &verifying {
        assert!(
            !makefile.runs(task, &default_env),
            "{task} runs `signtool verify` by default: an untrusted test root fails it"
        );
        let switches: Vec<String> = makefile
            .task(task)
            .get("condition")
            .and_then(|c| c.get("env_true"))
            .map(|v| v.as_array().into_iter().flatten().filter_map(Value::as_str).map(str::to_string).collect())
            .unwrap_or_default();
        assert!(!switches.is_empty(), "{task}: no env_true switch");
        let asked: Vec<(&str, &str)> = switches.iter().map(|s| (s.as_str(), "true")).collect();
        let opted_in = windows_env(&makefile, DRIVER_TARGETS[0].0, &asked);
        assert!(makefile.runs(task, &opted_in), "{task} does not run when {switches:?} are true");
        assert!(makefile.flow("default").contains(task), "{task} is not part of the default flow");
    }
}

#[test]
fn powershell_tasks_check_every_exit_code() {
    let makefile = makefile();
    let mut findings = Vec::new();
    for (task, script) in powershell_tasks(&makefile) {
        findings.extend(powershell::lint(&format!("Makefile.toml [tasks.{task}]"), &script));
    }
    assert!(findings.is_empty(), "{}", findings.join("\n"));
}

fn vm_scripts() -> Vec<(String, String)> {
    let dir = root().join("tests/vm");
    let mut scripts: Vec<(String, String)> = std::fs::read_dir(&dir)
        .expect("tests/vm")
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "ps1"))
        .map(|p| {
            let name = p.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
            let text = std::fs::read_to_string(&p).expect("a VM script");
            (name, text)
        })
        .collect();
    scripts.sort();
    scripts
}

fn vm_script(name: &str) -> (Vec<powershell::Line>, Vec<powershell::Native>) {
    let text = read(&format!("tests/vm/{name}"));
    let lines = powershell::logical_lines(&text).unwrap_or_else(|e| panic!("{name}: {e}"));
    let natives = powershell::natives(&lines);
    (lines, natives)
}

#[test]
fn vm_scripts_check_every_exit_code_and_parse_no_output() {
    let scripts = vm_scripts();
    let names: Vec<&str> = scripts.iter().map(|(n, _)| n.as_str()).collect();
    for expected in ["Install-Driver.ps1", "Prepare-TestVM.ps1", "Run-DeviceTests.ps1", "Uninstall-Driver.ps1"] {
        assert!(names.contains(&expected), "tests/vm has no {expected}: {names:?}");
    }
    let mut findings = Vec::new();
    for (name, text) in &scripts {
        findings.extend(powershell::lint(&format!("tests/vm/{name}"), text));
    }
    assert!(findings.is_empty(), "{}", findings.join("\n"));
}

#[test]
fn install_accepts_pnputil_with_no_matching_device() {
    let (lines, natives) = vm_script("Install-Driver.ps1");
    let add = natives
        .iter()
        .find(|n| n.program() == "pnputil" && n.statement.contains("/add-driver") && n.statement.contains("/install"))
        .expect("Install-Driver.ps1 runs pnputil /add-driver /install");
    let check = powershell::exit_check(&lines, add).expect("its exit code is checked");
    let accepted: BTreeSet<i64> = check.codes.iter().copied().collect();
    // 0 installed; 3010 installed, reboot pending; 259 (ERROR_NO_MORE_ITEMS) added to the store
    // with no device to install on yet, which is the first install's normal case.
    assert_eq!(accepted, BTreeSet::from([0, 259, 3010]), "pnputil /add-driver /install: accepted {accepted:?}");
}

fn pnp_device_queries(lines: &[powershell::Line]) -> Vec<String> {
    lines
        .iter()
        .filter(|l| l.code.to_ascii_lowercase().contains("get-pnpdevice"))
        .map(|l| l.raw.trim().to_string())
        .collect()
}

#[test]
fn install_counts_present_devices_and_uninstall_removes_every_node() {
    let (install, _) = vm_script("Install-Driver.ps1");
    let queries = pnp_device_queries(&install);
    assert!(!queries.is_empty(), "Install-Driver.ps1 looks for an existing device");
    for query in &queries {
        // A software device from before a reboot is listed, not present: it is no adapter.
        assert!(
            query.to_ascii_lowercase().contains("-presentonly"),
            "Install-Driver.ps1: `{query}` counts non-present devices"
        );
    }
    let (uninstall, _) = vm_script("Uninstall-Driver.ps1");
    let queries = pnp_device_queries(&uninstall);
    assert!(!queries.is_empty(), "Uninstall-Driver.ps1 enumerates the devices");
    for query in &queries {
        assert!(
            !query.to_ascii_lowercase().contains("-presentonly"),
            "Uninstall-Driver.ps1: `{query}` leaves non-present nodes"
        );
    }
}

#[test]
fn driver_verifier_changes_concern_ringtun_only() {
    for (name, _) in vm_scripts() {
        let (_, natives) = vm_script(&name);
        for native in natives.iter().filter(|n| n.program() == "verifier") {
            let words: Vec<String> = native.statement.split_whitespace().map(|w| w.to_ascii_lowercase()).collect();
            for global in ["/reset", "/all"] {
                assert!(
                    !words.iter().any(|w| w == global),
                    "{name}: `{}` affects every driver",
                    native.statement.trim()
                );
            }
            assert!(words.iter().any(|w| w == "/driver"), "{name}: `{}` names no driver", native.statement.trim());
        }
    }
    let (lines, natives) = vm_script("Uninstall-Driver.ps1");
    assert!(natives.iter().all(|n| n.program() != "verifier"), "Uninstall-Driver.ps1 runs verifier");
    let code: String = lines.iter().map(|l| l.raw.as_str()).collect::<Vec<_>>().join("\n");
    assert!(
        code.contains("VerifyDrivers") && code.contains("'ringtun.sys'"),
        "Uninstall-Driver.ps1 does not take ringtun.sys off the VerifyDrivers list"
    );
}

/// The DLL targets of `cargo make wintun-dll`: (triple, the package folder, Wintun's layout).
const DLL_TARGETS: [(&str, &str); 3] =
    [("x86_64-pc-windows-msvc", "amd64"), ("i686-pc-windows-msvc", "x86"), ("aarch64-pc-windows-msvc", "arm64")];

fn hardening() -> Table {
    read("wintun-api/hardening.toml").parse().expect("wintun-api/hardening.toml parses")
}

#[test]
fn wintun_dll_is_built_hardened_for_its_target() {
    let makefile = makefile();
    let config = cargo_config();
    let hardening = hardening();
    // What the file asks for: control-flow guard instrumentation, and the linker's guard metadata
    // and System32-only dependent loads.
    assert_eq!(wintun_hardening::rustflags(&hardening).expect("rustflags"), ["-Ccontrol-flow-guard"]);
    let link = wintun_hardening::link_args(&hardening, "windows", "msvc").expect("link-args");
    for arg in ["/GUARD:CF", "/DEPENDENTLOADFLAG:0x800"] {
        assert!(link.iter().any(|a| a == arg), "hardening.toml's link-args {link:?} lack {arg}");
    }
    let task = makefile.task("build-wintun-dll");
    assert_eq!(task.get("command").and_then(Value::as_str), Some("cargo"), "build-wintun-dll runs cargo");
    assert!(makefile.depends_on("build-wintun-dll", "check-dll-env"));
    assert!(makefile.depends_on("wintun-dll", "build-wintun-dll"));
    for (host, _, _) in DRIVER_TARGETS {
        for (target, folder) in DLL_TARGETS {
            for profile in ["debug", "release"] {
                let label = format!("RINGTUN_DLL_TARGET={target} on a {host} host, {profile}");
                let env = windows_env(&makefile, host, &[("RINGTUN_DLL_TARGET", target), ("RINGTUN_PROFILE", profile)]);
                assert_eq!(env["RINGTUN_DLL_ARCH"], folder, "{label}");
                let args = makefile.args("build-wintun-dll", &env);
                assert_eq!(args.first().map(String::as_str), Some("build"), "{label}: {args:?}");
                for pair in [["-p", "ringtun-wintun"], ["--target", target]] {
                    assert!(args.windows(2).any(|w| w == pair), "{label}: {args:?} lacks {pair:?}");
                }
                assert!(args.iter().any(|a| a == "--lib"), "{label}: {args:?}");
                assert_eq!(args.iter().any(|a| a == "--release"), profile == "release", "{label}: {args:?}");
                // The rustflags cargo gives the DLL's crates: .cargo/config.toml's and the file's.
                let mut configs = vec![config.clone()];
                configs.extend(cargo_config::command_line_configs_in(&root(), &args));
                let flags = cargo_config::rustflags(&configs, target);
                let cfg = cargo_config::rustc_cfg(target, &flags);
                assert!(
                    cargo_config::cfg_values(&cfg, "target_feature").iter().any(|f| f == "crt-static"),
                    "{label}: rustflags {flags:?} leave crt-static out"
                );
                let encoded = flags.join("\x1f");
                let missing =
                    wintun_hardening::missing_rustflags(&hardening, "windows", "msvc", &encoded).expect("flags");
                assert!(missing.is_empty(), "{label}: rustflags {flags:?} lack {missing:?}");
                // The copy reads where cargo writes: <target dir>/<triple>/<profile>.
                let target_dir = args.windows(2).find(|w| w[0] == "--target-dir").map(|w| w[1].clone());
                let target_dir = target_dir.unwrap_or_else(|| panic!("{label}: no --target-dir in {args:?}"));
                assert!(
                    target_dir.starts_with(&format!("{}/target/", env["CARGO_MAKE_WORKING_DIRECTORY"])),
                    "{label}: {target_dir} is outside the workspace's target directory"
                );
                assert_ne!(
                    target_dir,
                    format!("{}/target", env["CARGO_MAKE_WORKING_DIRECTORY"]),
                    "{label}: the driver's"
                );
                let cargo_dir = if profile == "release" { "release" } else { "debug" };
                assert_eq!(env["RINGTUN_DLL_OUT"], format!("{target_dir}/{target}/{cargo_dir}"), "{label}");
            }
        }
    }
    let copy = makefile.script("wintun-dll").expect("a wintun-dll script");
    for needed in ["$env:RINGTUN_DLL_OUT 'wintun.dll'", "$env:RINGTUN_PACKAGE 'wintun'", "$env:RINGTUN_DLL_ARCH"] {
        assert!(copy.contains(needed), "wintun-dll's script lacks {needed}");
    }
    let guard = makefile.script("check-dll-env").expect("a check-dll-env script");
    for name in ["RUSTFLAGS", "CARGO_ENCODED_RUSTFLAGS", "RINGTUN_DLL_ARCH"] {
        assert!(guard.contains(name), "check-dll-env does not look at {name}");
    }
}

#[test]
fn the_dll_build_script_passes_the_linker_hardening_on_msvc_only() {
    let hardening = hardening();
    let link = wintun_hardening::link_args(&hardening, "windows", "msvc").expect("link-args");
    assert_eq!(link, ["/GUARD:CF", "/DEPENDENTLOADFLAG:0x800"]);
    for (os, env) in [("windows", "gnu"), ("linux", "gnu"), ("macos", "")] {
        assert_eq!(wintun_hardening::link_args(&hardening, os, env), Ok(Vec::new()), "{os} {env}");
    }
    // A build with the flag, in either form, is complete; one without is told.
    let with = |flags: &[&str]| wintun_hardening::missing_rustflags(&hardening, "windows", "msvc", &flags.join("\x1f"));
    assert_eq!(with(&["-C", "target-feature=+crt-static", "-Ccontrol-flow-guard"]), Ok(Vec::new()));
    assert_eq!(with(&["-C", "control-flow-guard"]), Ok(Vec::new()));
    assert_eq!(with(&["-C", "target-feature=+crt-static"]), Ok(vec!["-Ccontrol-flow-guard".to_string()]));
    assert_eq!(wintun_hardening::missing_rustflags(&hardening, "linux", "gnu", ""), Ok(Vec::new()));
    let broken: Table = "[wintun-dll]\nlink-args = [\"/GUARD:CF\", 7]".parse().expect("toml");
    assert!(wintun_hardening::link_args(&broken, "windows", "msvc").is_err());
    assert!(wintun_hardening::rustflags(&broken).is_err());
}

// ----- the Wintun API client's P/Invoke declarations --------------------------------------------

/// The C# of a script's `$source` here-string, as `Add-Type` compiles it (the DLL's path put in).
fn here_string_csharp(script: &str) -> String {
    let start = script.find("$source = @'\n").expect("a $source = @' here-string") + "$source = @'\n".len();
    let end = script[start..].find("\n'@").expect("the here-string's end") + start;
    script[start..end].replace("__WINTUN_DLL__", "wintun.dll")
}

fn wintun_exports() -> BTreeSet<String> {
    read("wintun-api/exports.txt")
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(str::to_string)
        .collect()
}

fn wintun_header() -> pinvoke::Header {
    let texts = [read("wintun-api/include/wintun.h"), read("wintun-api/include/ringtun_wintun.h")];
    pinvoke::parse_header(&[&texts[0], &texts[1]]).expect("the headers parse")
}

/// MinGW-w64's SDK headers (`mingw-w64-x86-64-dev`, which .ci/run installs).
const MINGW_INCLUDE: &str = "/usr/x86_64-w64-mingw32/include";

/// A system function's prototype from the SDK headers that declare it.
fn sdk_prototype(name: &str) -> Option<pinvoke::CFunction> {
    let dir = std::fs::read_dir(MINGW_INCLUDE).unwrap_or_else(|e| panic!("{MINGW_INCLUDE}: {e}"));
    let needle = format!("WINAPI {name} (");
    let mut paths: Vec<PathBuf> =
        dir.filter_map(Result::ok).map(|e| e.path()).filter(|p| p.extension().is_some_and(|x| x == "h")).collect();
    paths.sort();
    paths.into_iter().find_map(|p| {
        let text = std::fs::read_to_string(&p).ok()?;
        text.contains(&needle).then(|| pinvoke::sdk_prototype(&text, name)).flatten()
    })
}

/// The findings of the P/Invoke check on a script's C#, against these exports.
fn pinvoke_findings(script: &str, exports: &BTreeSet<String>, header: &pinvoke::Header) -> Vec<String> {
    let cs = match pinvoke::parse_csharp(&here_string_csharp(script)) {
        Ok(cs) => cs,
        Err(e) => return vec![format!("the C# does not read: {e}")],
    };
    let system = |name: &str| sdk_prototype(name);
    let library = |target: &str| match target {
        "wintun.dll" => Some(pinvoke::Library::Wintun { exports, header }),
        t if t.eq_ignore_ascii_case("kernel32.dll") => Some(pinvoke::Library::System { prototype: &system }),
        _ => None,
    };
    pinvoke::check(&cs, &library)
}

#[test]
fn wintun_api_client_declares_what_wintun_dll_exports() {
    let script = read("tests/vm/Test-WintunApi.ps1");
    assert!(
        script.contains("Add-Type -TypeDefinition $source.Replace('__WINTUN_DLL__', $dll)"),
        "the C# is compiled with the DLL's path put in"
    );
    let exports = wintun_exports();
    let header = wintun_header();
    assert_eq!(exports.len(), 31, "{exports:?}");
    for name in &exports {
        assert!(header.functions.contains_key(name), "{name}: exported, but no prototype in the header");
    }
    let findings = pinvoke_findings(&script, &exports, &header);
    assert!(findings.is_empty(), "{}", findings.join("\n"));
    // The VM run covers every extension, and every Wintun function but the logger.
    let cs = pinvoke::parse_csharp(&here_string_csharp(&script)).expect("the C# reads");
    let imported: BTreeSet<&str> = cs.imports.iter().map(pinvoke::Import::entry).collect();
    let missing: Vec<&String> =
        exports.iter().filter(|e| !imported.contains(e.as_str()) && *e != "WintunSetLogger").collect();
    assert!(missing.is_empty(), "Test-WintunApi.ps1 does not call {missing:?}");
    // Each structure the calls pass was compared, field by field.
    for name in [
        "RingtunCapabilities",
        "RingtunSessionConfig",
        "RingtunSessionInfo",
        "RingtunSessionStatistics",
        "RingtunOffloadMeta",
        "RingtunPacket",
    ] {
        assert!(cs.structs.contains_key(name), "no struct {name}");
    }
}

/// Declarations made wrong one at a time in the real script, and what the check must say.
const PINVOKE_DEFECTS: &[(&str, &str, &str, &str)] = &[
    (
        "a parameter missing",
        "ushort headRoom, ushort tailRoom, uint milliseconds);",
        "ushort headRoom, uint milliseconds);",
        "RingtunWaitForSendSpace (RingtunWaitForSendSpace): 4 parameters, the C prototype has 5",
    ),
    (
        "WORD declared uint",
        "static extern bool RingtunAllocateSendPacketEx(IntPtr session, uint maxSize, ushort headRoom,",
        "static extern bool RingtunAllocateSendPacketEx(IntPtr session, uint maxSize, uint headRoom,",
        "RingtunAllocateSendPacketEx (RingtunAllocateSendPacketEx): parameter 3 `headRoom`: C `WORD` needs ushort",
    ),
    (
        "a function wintun.dll does not export",
        "static extern bool RingtunCancelSendPacket(",
        "static extern bool RingtunCancelSendPacketEx(",
        "RingtunCancelSendPacketEx (RingtunCancelSendPacketEx): not exported by wintun.dll",
    ),
    (
        "a ring pointer declared as a managed array",
        "static extern bool RingtunShrinkSendPacket(IntPtr session, IntPtr packet,",
        "static extern bool RingtunShrinkSendPacket(IntPtr session, byte[] packet,",
        "RingtunShrinkSendPacket (RingtunShrinkSendPacket): parameter 2 `packet`: C `const BYTE *` needs IntPtr",
    ),
    (
        "an extension without SetLastError",
        "[DllImport(Dll, SetLastError = true)]\n    [return: MarshalAs(UnmanagedType.Bool)]\n    static extern bool RingtunWaitForSendSpace(",
        "[DllImport(Dll)]\n    [return: MarshalAs(UnmanagedType.Bool)]\n    static extern bool RingtunWaitForSendSpace(",
        "RingtunWaitForSendSpace (RingtunWaitForSendSpace): no SetLastError = true",
    ),
    (
        "the last error read after a call that does not keep it",
        "[DllImport(Dll, SetLastError = true, CharSet = CharSet.Unicode)]\n    static extern IntPtr WintunOpenAdapter(",
        "[DllImport(Dll, CharSet = CharSet.Unicode)]\n    static extern IntPtr WintunOpenAdapter(",
        "WintunOpenAdapter: Marshal.GetLastWin32Error() is read after it, without SetLastError = true",
    ),
    (
        "a UTF-16 string without CharSet.Unicode",
        "[DllImport(Dll, SetLastError = true, CharSet = CharSet.Unicode)]\n    static extern IntPtr WintunCreateAdapter(",
        "[DllImport(Dll, SetLastError = true)]\n    static extern IntPtr WintunCreateAdapter(",
        "WintunCreateAdapter (WintunCreateAdapter): parameter 1 `name`: C `LPCWSTR` needs string with CharSet.Unicode",
    ),
    (
        "cdecl",
        "[DllImport(Dll, SetLastError = true)]\n    static extern uint RingtunSendPackets(",
        "[DllImport(Dll, SetLastError = true, CallingConvention = CallingConvention.Cdecl)]\n    static extern uint RingtunSendPackets(",
        "RingtunSendPackets (RingtunSendPackets): CallingConvention CallingConvention.Cdecl",
    ),
    (
        "BOOL marshalled as one byte",
        "[return: MarshalAs(UnmanagedType.Bool)]\n    static extern bool RingtunGetSessionInfo(",
        "[return: MarshalAs(UnmanagedType.U1)]\n    static extern bool RingtunGetSessionInfo(",
        "RingtunGetSessionInfo (RingtunGetSessionInfo): returns C `BOOL`: needs int, or bool marshalled as UnmanagedType.Bool",
    ),
    (
        "DWORD declared int",
        "static extern uint RingtunReceivePackets(",
        "static extern int RingtunReceivePackets(",
        "RingtunReceivePackets (RingtunReceivePackets): returns C `DWORD`: needs uint",
    ),
    (
        "a const pointer declared out",
        "static extern bool RingtunSendPacketEx(IntPtr session, [In] ref RingtunPacket packet);",
        "static extern bool RingtunSendPacketEx(IntPtr session, out RingtunPacket packet);",
        "RingtunSendPacketEx (RingtunSendPacketEx): parameter 2 `packet`: C `const RINGTUN_PACKET *` needs ref (or out)",
    ),
    (
        "a structure's WORD declared uint",
        "    public uint SendCapacity;\n    public ushort ReceiveHeadRoom;\n    public ushort ReceiveTailRoom;\n    public ushort SendHeadRoom;\n    public ushort SendTailRoom;\n}\n\n[StructLayout(LayoutKind.Sequential)]\npublic struct RingtunSessionInfo",
        "    public uint SendCapacity;\n    public uint ReceiveHeadRoom;\n    public ushort ReceiveTailRoom;\n    public ushort SendHeadRoom;\n    public ushort SendTailRoom;\n}\n\n[StructLayout(LayoutKind.Sequential)]\npublic struct RingtunSessionInfo",
        "struct RingtunSessionConfig (C RINGTUN_SESSION_CONFIG): field `ReceiveHeadRoom` is `uint`",
    ),
    (
        "two fields swapped",
        "    public ushort SendHeadRoom;\n    public ushort SendTailRoom;\n}\n\n[StructLayout(LayoutKind.Sequential)]\npublic struct RingtunSessionStatistics",
        "    public ushort SendTailRoom;\n    public ushort SendHeadRoom;\n}\n\n[StructLayout(LayoutKind.Sequential)]\npublic struct RingtunSessionStatistics",
        "struct RingtunSessionInfo (C RINGTUN_SESSION_INFO): field `SendTailRoom` where the C struct has `SendHeadRoom`",
    ),
    (
        "a fixed array of the wrong length",
        "SizeConst = 6)]",
        "SizeConst = 8)]",
        "struct RingtunOffloadMeta (C RINGTUN_OFFLOAD_META): field `Reserved` is `byte[]`, the C field `BYTE[6]`",
    ),
    (
        "a packed structure",
        "[StructLayout(LayoutKind.Sequential)]\npublic struct RingtunPacket",
        "[StructLayout(LayoutKind.Sequential, Pack = 1)]\npublic struct RingtunPacket",
        "struct RingtunPacket (C RINGTUN_PACKET): StructLayout Pack",
    ),
    (
        "a system function's parameter of the wrong type",
        "static extern uint WaitForSingleObject(IntPtr handle, uint milliseconds);",
        "static extern uint WaitForSingleObject(IntPtr handle, ulong milliseconds);",
        "WaitForSingleObject (WaitForSingleObject): parameter 2 `milliseconds`: C `DWORD` needs uint",
    ),
    (
        "a library the check does not know",
        "[DllImport(\"kernel32.dll\", SetLastError = true)]",
        "[DllImport(\"user32.dll\", SetLastError = true)]",
        "WaitForSingleObject (WaitForSingleObject): imported from `user32.dll`, a library the check does not know",
    ),
];

#[test]
fn the_pinvoke_check_finds_each_wrong_declaration() {
    let script = read("tests/vm/Test-WintunApi.ps1");
    let exports = wintun_exports();
    let header = wintun_header();
    for (what, from, to, expected) in PINVOKE_DEFECTS {
        assert_eq!(script.matches(from).count(), 1, "{what}: `{from}` is not in the script once");
        let findings = pinvoke_findings(&script.replacen(from, to, 1), &exports, &header);
        assert!(
            findings.iter().any(|f| f.starts_with(expected)),
            "{what}: expected a finding `{expected}...`, got:\n{}",
            findings.join("\n")
        );
        // And nothing about another declaration: the subject is the import's name, or
        // `struct Name`.
        let subject = match expected.strip_prefix("struct ") {
            Some(rest) => &expected[..7 + rest.find(' ').unwrap_or(rest.len())],
            None => &expected[..expected.find([' ', ':']).unwrap_or(0)],
        };
        assert!(!subject.is_empty(), "{what}: no subject in `{expected}`");
        assert!(findings.iter().all(|f| f.starts_with(subject)), "{what}: findings beyond `{subject}`: {findings:#?}");
    }
    // An import the header has but the export list lacks.
    let mut fewer = exports.clone();
    fewer.remove("RingtunWaitForSendSpace");
    let findings = pinvoke_findings(&script, &fewer, &header);
    assert_eq!(
        findings,
        ["RingtunWaitForSendSpace (RingtunWaitForSendSpace): not exported by wintun.dll (exports.txt)"],
        "an export missing"
    );
}

#[test]
fn the_header_reading_sees_prototypes_and_structures() {
    let header = wintun_header();
    let wait = &header.functions["RingtunWaitForSendSpace"];
    assert!(wait.winapi);
    let params: Vec<(&str, &str)> = wait.params.iter().map(|p| (p.ty.base.as_str(), p.name.as_str())).collect();
    assert_eq!(
        params,
        [
            ("WINTUN_SESSION_HANDLE", "Session"),
            ("DWORD", "MaxSize"),
            ("WORD", "HeadRoom"),
            ("WORD", "TailRoom"),
            ("DWORD", "Milliseconds")
        ]
    );
    let receive = &header.functions["WintunReceivePacket"];
    assert_eq!((receive.ret.base.as_str(), receive.ret.pointers), ("BYTE", 1));
    assert!(header.functions["WintunDeleteDriver"].params.is_empty());
    let meta = &header.structs["RINGTUN_OFFLOAD_META"];
    assert_eq!(meta.len(), 7);
    assert_eq!((meta[6].name.as_str(), meta[6].ty.array), ("Reserved", Some(6)));
    let packet = &header.structs["RINGTUN_PACKET"];
    assert_eq!((packet[0].ty.base.as_str(), packet[0].ty.pointers), ("BYTE", 1));
    assert!(header.handles.contains("WINTUN_ADAPTER_HANDLE") && header.callbacks.contains("WINTUN_LOGGER_CALLBACK"));
    let sdk = sdk_prototype("WaitForSingleObject").expect("MinGW-w64's synchapi.h declares WaitForSingleObject");
    let params: Vec<&str> = sdk.params.iter().map(|p| p.ty.base.as_str()).collect();
    assert_eq!((sdk.ret.base.as_str(), params), ("DWORD", vec!["HANDLE", "DWORD"]));
}

/// Mono's C# compiler, if installed.
fn mcs() -> Option<PathBuf> {
    std::env::var_os("PATH")?.to_str()?.split(':').map(|d| Path::new(d).join("mcs")).find(|p| p.is_file())
}

/// A scratch directory, removed when dropped.
struct Scratch(PathBuf);

impl Scratch {
    fn new(name: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("ringtun-add-type-{}-{name}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("a temporary directory");
        Scratch(dir)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Compiles C# as Windows PowerShell 5.1's `Add-Type -TypeDefinition` does: the .NET Framework
/// compiler's language (C# 5), referencing mscorlib and System only, into `dir/client.dll`; Ok or
/// the compiler's output.
fn compile_as_add_type(mcs: &Path, code: &str, dir: &Path) -> Result<(), String> {
    let source = dir.join("client.cs");
    std::fs::write(&source, code).expect("the C# written");
    let out = std::process::Command::new(mcs)
        .args(["-noconfig", "-langversion:5", "-target:library", "-r:System.dll", "-warnaserror"])
        .arg(format!("-out:{}", dir.join("client.dll").display()))
        .arg(&source)
        .output()
        .expect("mcs runs");
    if out.status.success() {
        Ok(())
    } else {
        Err(format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)))
    }
}

/// Whether the C# checks must run: under CI (`CI=true`, which `.ci/run` sets and where it installs
/// mono-mcs) or with `RINGTUN_REQUIRE_MONO=1`; elsewhere a missing Mono skips them with a note.
fn mono_required() -> bool {
    let set = |name: &str| std::env::var(name).is_ok_and(|v| v == "1" || v.eq_ignore_ascii_case("true"));
    set("CI") || set("RINGTUN_REQUIRE_MONO")
}

#[test]
fn wintun_api_client_compiles_as_add_type_compiles_it() {
    let Some(mcs) = mcs() else {
        assert!(!mono_required(), "mcs is not installed but CI requires the C# checks (apt-get install mono-mcs)");
        eprintln!("mcs (Debian's mono-mcs) is not installed: the C# of Test-WintunApi.ps1 is not compiled here");
        return;
    };
    let code = here_string_csharp(&read("tests/vm/Test-WintunApi.ps1"));
    let scratch = Scratch::new("client");
    if let Err(output) = compile_as_add_type(&mcs, &code, &scratch.0) {
        panic!("the C# of Test-WintunApi.ps1 does not compile as Add-Type compiles it:\n{output}");
    }
    // The same compiler refuses what Add-Type would: C# 6 and an assembly not referenced.
    let interpolated = code.replacen(
        "Marshal.SizeOf(typeof(RingtunCapabilities)).ToString()",
        "$\"{Marshal.SizeOf(typeof(RingtunCapabilities))}\"",
        1,
    );
    assert_ne!(interpolated, code);
    assert!(compile_as_add_type(&mcs, &interpolated, &scratch.0).is_err(), "C# 6 string interpolation compiled");
    let core = code.replacen(
        "List<RingtunPacket> held = new List<RingtunPacket>();",
        "var held = new HashSet<RingtunPacket>();",
        1,
    );
    assert_ne!(core, code);
    assert!(
        compile_as_add_type(&mcs, &core, &scratch.0).is_err(),
        "System.Core's HashSet compiled without System.Core"
    );
}

/// A program that prints what the client's C# builds and how it judges packets, one `key value`
/// line each, for [`wintun_api_client_builds_and_judges_packets_right`].
const CLIENT_HARNESS: &str = r#"
using System;
using System.Net;
using System.Runtime.InteropServices;

public static class Harness
{
    static void Line(string key, object value) { Console.WriteLine(key + " " + (value == null ? "null" : value.ToString())); }
    static string Hex(byte[] bytes) { return BitConverter.ToString(bytes).Replace("-", ""); }

    public static void Main()
    {
        Line("sizes", WintunClient.Sizes());
        Line("offset-SentPackets", Marshal.OffsetOf(typeof(RingtunSessionStatistics), "SentPackets"));
        Line("offset-CopiedBytes", Marshal.OffsetOf(typeof(RingtunSessionStatistics), "CopiedBytes"));
        Line("offset-Reserved", Marshal.OffsetOf(typeof(RingtunOffloadMeta), "Reserved"));
        IPEndPoint from = new IPEndPoint(IPAddress.Parse("10.78.0.2"), 47001);
        IPEndPoint to = new IPEndPoint(IPAddress.Parse("10.78.0.1"), 50123);
        byte[] odd = WintunClient.Udp(from, to, WintunClient.Text("odd length"), "full");
        byte[] even = WintunClient.Udp(from, to, WintunClient.Text("an even length"), "full");
        byte[] partial = WintunClient.Udp(from, to, WintunClient.Text(new string('x', 500)), "partial");
        Line("full-odd", Hex(odd));
        Line("full-even", Hex(even));
        Line("partial", Hex(partial));
        Line("echo", Hex(WintunClient.EchoRequest(from.Address, to.Address, 0x5255, 7, WintunClient.Text("ping"))));
        RingtunOffloadMeta plain = WintunClient.Meta(0, 0, 0, 0, 0, 0);
        Line("kind-plain", WintunClient.ReceivedUdpMetaKind(odd, plain));
        Line("kind-needs", WintunClient.ReceivedUdpMetaKind(partial, WintunClient.Meta(1, 0, 0, 0, 20, 6)));
        Line("kind-plain-unfinished", WintunClient.ReceivedUdpMetaKind(partial, plain));
        Line("kind-needs-finished", WintunClient.ReceivedUdpMetaKind(odd, WintunClient.Meta(1, 0, 0, 0, 20, 6)));
        Line("kind-tcp-offset", WintunClient.ReceivedUdpMetaKind(partial, WintunClient.Meta(1, 0, 0, 0, 20, 16)));
        Line("kind-reserved", WintunClient.ReceivedUdpMetaKind(odd, WintunClient.WithReserved(plain, 5, 1)));
        Line("kind-gso", WintunClient.ReceivedUdpMetaKind(partial, WintunClient.Meta(1, 5, 28, 200, 20, 6)));
        Line("plain-is-plain", WintunClient.IsPlain(plain));
        Line("reserved-is-plain", WintunClient.IsPlain(WintunClient.WithReserved(plain, 0, 1)));
        Line("match-exact", WintunClient.UdpMatch(from.Address, to.Address, 50123, "odd length", true)(odd));
        Line("match-exact-prefix", WintunClient.UdpMatch(from.Address, to.Address, 50123, "odd", true)(odd));
        Line("match-prefix", WintunClient.UdpMatch(from.Address, to.Address, 50123, "odd", false)(odd));
        Line("match-port", WintunClient.UdpMatch(from.Address, to.Address, 9, "odd", false)(odd));
        Line("match-direction", WintunClient.UdpMatch(to.Address, from.Address, 50123, "odd", false)(odd));
    }
}
"#;

/// The Internet checksum's folded sum of `data` (ones' complement, not complemented).
fn ones_sum(data: &[u8], mut sum: u32) -> u16 {
    for pair in data.chunks(2) {
        sum += u32::from(pair[0]) << 8 | u32::from(*pair.get(1).unwrap_or(&0));
    }
    while sum >> 16 != 0 {
        sum = (sum & 0xFFFF) + (sum >> 16);
    }
    sum as u16
}

fn unhex(text: &str) -> Vec<u8> {
    (0..text.len()).step_by(2).map(|i| u8::from_str_radix(&text[i..i + 2], 16).expect("hex")).collect()
}

/// The IPv4 pseudo-header sum of a UDP datagram (RFC 768), computed here independently.
fn pseudo_header_sum(p: &[u8]) -> u32 {
    let mut sum = 17u32 + (p.len() as u32 - 20);
    for pair in p[12..20].chunks(2) {
        sum += u32::from(pair[0]) << 8 | u32::from(pair[1]);
    }
    sum
}

#[test]
fn wintun_api_client_builds_and_judges_packets_right() {
    let mono = std::env::var_os("PATH")
        .and_then(|path| std::env::split_paths(&path).map(|d| d.join("mono")).find(|p| p.is_file()));
    let (Some(mcs), Some(mono)) = (mcs(), mono) else {
        assert!(
            !mono_required(),
            "mcs or mono is not installed but CI requires the C# checks (apt-get install mono-mcs)"
        );
        eprintln!("mcs and mono (Debian's mono-mcs) are not installed: the client's C# is not run here");
        return;
    };
    let scratch = Scratch::new("harness");
    let code = here_string_csharp(&read("tests/vm/Test-WintunApi.ps1"));
    compile_as_add_type(&mcs, &code, &scratch.0).expect("the client compiles");
    let harness = scratch.0.join("harness.cs");
    std::fs::write(&harness, CLIENT_HARNESS).expect("the harness written");
    let exe = scratch.0.join("harness.exe");
    let built = std::process::Command::new(&mcs)
        .arg(format!("-r:{}", scratch.0.join("client.dll").display()))
        .arg(format!("-out:{}", exe.display()))
        .arg(&harness)
        .output()
        .expect("mcs runs");
    assert!(built.status.success(), "{}", String::from_utf8_lossy(&built.stdout));
    let run = std::process::Command::new(mono).arg(&exe).current_dir(&scratch.0).output().expect("mono runs");
    assert!(run.status.success(), "{}", String::from_utf8_lossy(&run.stderr));
    let stdout = String::from_utf8_lossy(&run.stdout).into_owned();
    let lines: BTreeMap<&str, &str> = stdout.lines().filter_map(|l| l.split_once(' ')).collect();
    let value = |key: &str| *lines.get(key).unwrap_or_else(|| panic!("no `{key}` in {stdout}"));

    // The layouts the VM's checks rely on, on a 64-bit runtime (the 32-bit ones run in the VM).
    assert_eq!(value("sizes"), "28,24,36,88,16,24");
    assert_eq!((value("offset-SentPackets"), value("offset-CopiedBytes")), ("8", "40"));
    assert_eq!(value("offset-Reserved"), "10");

    // Datagrams: lengths, addresses, ports, an IPv4 header checksum and a UDP checksum that
    // verify, computed here independently; "partial" holds the pseudo-header sum.
    for key in ["full-odd", "full-even", "partial"] {
        let p = unhex(value(key));
        assert_eq!(usize::from(p[2]) << 8 | usize::from(p[3]), p.len(), "{key}: IP length");
        assert_eq!((p[0], p[9]), (0x45, 17), "{key}");
        assert_eq!(ones_sum(&p[..20], 0), 0xFFFF, "{key}: IPv4 header checksum");
        assert_eq!(&p[12..20], &[10, 78, 0, 2, 10, 78, 0, 1], "{key}: addresses");
        assert_eq!(
            (u16::from(p[20]) << 8 | u16::from(p[21]), u16::from(p[22]) << 8 | u16::from(p[23])),
            (47001, 50123)
        );
        assert_eq!(usize::from(p[24]) << 8 | usize::from(p[25]), p.len() - 20, "{key}: UDP length");
        let field = u16::from(p[26]) << 8 | u16::from(p[27]);
        if key == "partial" {
            assert_eq!(field, ones_sum(&[], pseudo_header_sum(&p)), "the pseudo-header sum");
        } else {
            assert_ne!(field, 0, "{key}: a checksum computed");
            assert_eq!(ones_sum(&p[20..], pseudo_header_sum(&p)), 0xFFFF, "{key}: UDP checksum");
        }
    }
    let echo = unhex(value("echo"));
    assert_eq!((echo[9], echo[20]), (1, 8));
    assert_eq!(ones_sum(&echo[..20], 0), 0xFFFF, "echo: IPv4 header checksum");
    assert_eq!(ones_sum(&echo[20..], 0), 0xFFFF, "echo: ICMP checksum");

    // The verdicts the VM's offload checks depend on.
    let verdicts = [
        ("kind-plain", "plain"),
        ("kind-needs", "NEEDS_CSUM"),
        ("kind-plain-unfinished", "null"),
        ("kind-needs-finished", "null"),
        ("kind-tcp-offset", "null"),
        ("kind-reserved", "null"),
        ("kind-gso", "null"),
        ("plain-is-plain", "True"),
        ("reserved-is-plain", "False"),
        ("match-exact", "True"),
        ("match-exact-prefix", "False"),
        ("match-prefix", "True"),
        ("match-port", "False"),
        ("match-direction", "False"),
    ];
    for (key, expected) in verdicts {
        assert_eq!(value(key), expected, "{key}");
    }
}
