//! The rustflags cargo gives a target, from the workspace's `.cargo/config.toml` and `--config`
//! arguments, by cargo's rules: every matching `[target.<triple>]` and `[target.'cfg(..)']`
//! table's flags, joined; `[build] rustflags` only when none matches. (RUSTFLAGS and
//! CARGO_ENCODED_RUSTFLAGS would replace them all; the Makefile refuses those without
//! `+crt-static`.) The target's cfg comes from `rustc --print cfg`, the same query cargo makes to
//! fill CARGO_CFG_* for build scripts.

use std::process::Command;
use toml::{Table, Value};

/// `rustc --print cfg --target <target> <flags>`: lines such as `target_arch="x86_64"`.
pub fn rustc_cfg(target: &str, flags: &[String]) -> Vec<String> {
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let output = Command::new(&rustc)
        .args(["--print", "cfg", "--target", target])
        .args(flags)
        .output()
        .unwrap_or_else(|e| panic!("run {rustc}: {e}"));
    assert!(
        output.status.success(),
        "rustc --print cfg --target {target}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).lines().map(str::to_string).collect()
}

/// The host's triple (`rustc -vV`).
pub fn host_triple() -> String {
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let output = Command::new(&rustc).arg("-vV").output().expect("rustc -vV");
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .find_map(|l| l.strip_prefix("host: "))
        .expect("rustc -vV names the host")
        .to_string()
}

/// The value of `target_feature`, `target_arch`... in a cfg listing: every value of the key.
pub fn cfg_values(cfg: &[String], key: &str) -> Vec<String> {
    cfg.iter()
        .filter_map(|line| line.strip_prefix(key)?.strip_prefix("=\"")?.strip_suffix('"').map(str::to_string))
        .collect()
}

/// Evaluates `cfg(...)` against a cfg listing.
pub fn cfg_matches(expression: &str, cfg: &[String]) -> bool {
    let inner = expression.trim().strip_prefix("cfg(").and_then(|e| e.strip_suffix(')')).expect("cfg(...)");
    let (value, rest) = predicate(inner.trim(), cfg);
    assert!(rest.trim().is_empty(), "trailing text in {expression}: {rest}");
    value
}

fn predicate<'a>(text: &'a str, cfg: &[String]) -> (bool, &'a str) {
    let text = text.trim_start();
    let name_end = text.find(|c: char| !(c.is_alphanumeric() || c == '_')).unwrap_or(text.len());
    let (name, rest) = text.split_at(name_end);
    let rest = rest.trim_start();
    match name {
        "all" | "any" | "not" => {
            let mut rest = rest.strip_prefix('(').expect("( after all/any/not");
            let mut values = Vec::new();
            loop {
                rest = rest.trim_start();
                if let Some(after) = rest.strip_prefix(')') {
                    rest = after;
                    break;
                }
                let (value, after) = predicate(rest, cfg);
                values.push(value);
                rest = after.trim_start();
                rest = rest.strip_prefix(',').unwrap_or(rest);
            }
            let value = match name {
                "all" => values.iter().all(|v| *v),
                "any" => values.iter().any(|v| *v),
                _ => {
                    assert_eq!(values.len(), 1, "not() takes one predicate");
                    !values[0]
                }
            };
            (value, rest)
        }
        _ => {
            if let Some(after_eq) = rest.strip_prefix('=') {
                let after_eq = after_eq.trim_start().strip_prefix('"').expect("a quoted value");
                let end = after_eq.find('"').expect("a closing quote");
                let value = &after_eq[..end];
                (cfg.iter().any(|l| *l == format!("{name}=\"{value}\"")), &after_eq[end + 1..])
            } else {
                (cfg.iter().any(|l| l == name), rest)
            }
        }
    }
}

fn flags_of(value: &Value) -> Vec<String> {
    match value {
        Value::String(s) => s.split_whitespace().map(str::to_string).collect(),
        Value::Array(a) => a.iter().map(|v| v.as_str().expect("a flag").to_string()).collect(),
        other => panic!("rustflags = {other}"),
    }
}

/// The rustflags cargo uses for `target`, from the configuration tables in order (the config
/// file, then each `--config`).
pub fn rustflags(configs: &[Table], target: &str) -> Vec<String> {
    let cfg = rustc_cfg(target, &[]);
    let mut target_flags: Option<Vec<String>> = None;
    let mut build_flags: Option<Vec<String>> = None;
    for config in configs {
        if let Some(targets) = config.get("target").and_then(Value::as_table) {
            for (key, table) in targets {
                let matches = if key.starts_with("cfg(") { cfg_matches(key, &cfg) } else { key == target };
                if let (true, Some(flags)) = (matches, table.get("rustflags")) {
                    target_flags.get_or_insert_with(Vec::new).extend(flags_of(flags));
                }
            }
        }
        if let Some(flags) = config.get("build").and_then(|b| b.get("rustflags")) {
            build_flags.get_or_insert_with(Vec::new).extend(flags_of(flags));
        }
    }
    target_flags.or(build_flags).unwrap_or_default()
}

/// The `--config` arguments of a cargo command line run in `dir`, as TOML tables: a `KEY=VALUE`,
/// or the configuration file at a path ending in `.toml` (cargo takes such an argument as a file).
pub fn command_line_configs_in(dir: &std::path::Path, args: &[String]) -> Vec<Table> {
    args.windows(2)
        .filter(|pair| pair[0] == "--config")
        .map(|pair| {
            let text = if pair[1].ends_with(".toml") {
                let path = dir.join(&pair[1]);
                std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("--config {}: {e}", path.display()))
            } else {
                pair[1].clone()
            };
            text.parse::<Table>().unwrap_or_else(|e| panic!("--config {}: {e}", pair[1]))
        })
        .collect()
}

/// [`command_line_configs_in`] for arguments that name no file.
pub fn command_line_configs(args: &[String]) -> Vec<Table> {
    command_line_configs_in(std::path::Path::new("."), args)
}

/// Looks a dotted key up in configuration tables; the last one setting it wins.
pub fn config_value<'a>(configs: &'a [Table], path: &[&str]) -> Option<&'a Value> {
    configs.iter().rev().find_map(|config| {
        let mut value: Option<&Value> = None;
        let mut table = config;
        for (i, key) in path.iter().enumerate() {
            let v = table.get(*key)?;
            if i + 1 == path.len() {
                value = Some(v);
            } else {
                table = v.as_table()?;
            }
        }
        value
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cfg_expressions() {
        let cfg: Vec<String> = ["windows", "target_os=\"windows\"", "target_env=\"msvc\""].map(String::from).to_vec();
        assert!(cfg_matches("cfg(windows)", &cfg));
        assert!(cfg_matches("cfg(all(target_os = \"windows\", target_env = \"msvc\"))", &cfg));
        assert!(!cfg_matches("cfg(all(target_os = \"windows\", target_env = \"gnu\"))", &cfg));
        assert!(cfg_matches("cfg(any(unix, target_env = \"msvc\"))", &cfg));
        assert!(!cfg_matches("cfg(not(windows))", &cfg));
    }

    #[test]
    fn target_tables_replace_build_rustflags() {
        let config: Table =
            "[build]\nrustflags = [\"-Cbuild\"]\n[target.x86_64-pc-windows-msvc]\nrustflags = \"-C a\"\n\
                             [target.'cfg(windows)']\nrustflags = [\"-C\", \"b\"]"
                .parse()
                .unwrap();
        assert_eq!(rustflags(std::slice::from_ref(&config), "x86_64-pc-windows-msvc"), ["-C", "a", "-C", "b"]);
        assert_eq!(rustflags(&[config], "x86_64-unknown-linux-gnu"), ["-Cbuild"]);
    }
}
