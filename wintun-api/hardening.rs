//! What `wintun-api/hardening.toml` asks of a build of wintun.dll, decided in one place: for
//! `build.rs` (a module of the build script) and for the checks of the Windows flow
//! (`tests/tests/windows_flow`, which include this file).

/// The linker arguments `build.rs` passes to the cdylib's link for a target of `target_os` and
/// `target_env` (cargo's `CARGO_CFG_TARGET_OS` and `CARGO_CFG_TARGET_ENV`): the file's
/// `[wintun-dll] link-args` on `windows`/`msvc` (they are MSVC linker options), none elsewhere.
pub fn link_args(hardening: &toml::Table, target_os: &str, target_env: &str) -> Result<Vec<String>, String> {
    if target_os != "windows" || target_env != "msvc" {
        return Ok(Vec::new());
    }
    let args = hardening
        .get("wintun-dll")
        .and_then(|t| t.get("link-args"))
        .and_then(toml::Value::as_array)
        .ok_or("hardening.toml: no [wintun-dll] link-args list")?;
    args.iter()
        .map(|a| {
            a.as_str().map(str::to_string).ok_or_else(|| format!("hardening.toml: link-args: {a} is not a string"))
        })
        .collect()
}

/// The rustflags the file gives the MSVC Windows targets (its
/// `[target.'cfg(all(target_os = "windows", target_env = "msvc"))'] rustflags`).
pub fn rustflags(hardening: &toml::Table) -> Result<Vec<String>, String> {
    let flags = hardening
        .get("target")
        .and_then(|t| t.get(r#"cfg(all(target_os = "windows", target_env = "msvc"))"#))
        .and_then(|t| t.get("rustflags"))
        .and_then(toml::Value::as_array)
        .ok_or("hardening.toml: no rustflags for the MSVC Windows targets")?;
    flags
        .iter()
        .map(|f| {
            f.as_str().map(str::to_string).ok_or_else(|| format!("hardening.toml: rustflags: {f} is not a string"))
        })
        .collect()
}

/// The file's rustflags that a build is missing, given the flags it compiles with (cargo's
/// `CARGO_ENCODED_RUSTFLAGS`: flags separated by 0x1F), on `windows`/`msvc` targets.
pub fn missing_rustflags(
    hardening: &toml::Table,
    target_os: &str,
    target_env: &str,
    encoded: &str,
) -> Result<Vec<String>, String> {
    if target_os != "windows" || target_env != "msvc" {
        return Ok(Vec::new());
    }
    let used: Vec<&str> = encoded.split('\x1f').collect();
    // A flag given as two arguments (`-C control-flow-guard`) counts as the one-argument form.
    let joined: Vec<String> = used.windows(2).filter(|w| w[0] == "-C").map(|w| format!("-C{}", w[1])).collect();
    Ok(rustflags(hardening)?.into_iter().filter(|f| !used.contains(&f.as_str()) && !joined.contains(f)).collect())
}
