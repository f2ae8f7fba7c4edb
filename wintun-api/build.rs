//! wintun.dll's linker hardening on the MSVC targets, from `hardening.toml` (see there): the
//! `[wintun-dll] link-args` go to the cdylib's link, so that any build of the DLL — `cargo make
//! wintun-dll`, or a plain `cargo build -p ringtun-wintun` — gets control-flow guard metadata
//! and System32-only dependent loads. The codegen flag cannot come from a build script: a build
//! without it is told so (`cargo make wintun-dll` passes it).

mod hardening;

fn main() {
    println!("cargo::rerun-if-changed=hardening.toml");
    println!("cargo::rerun-if-changed=hardening.rs");
    println!("cargo::rerun-if-env-changed=CARGO_ENCODED_RUSTFLAGS");
    let text = std::fs::read_to_string("hardening.toml").unwrap_or_else(|e| panic!("hardening.toml: {e}"));
    let table: toml::Table = text.parse().unwrap_or_else(|e| panic!("hardening.toml: {e}"));
    let os = std::env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    let env = std::env::var("CARGO_CFG_TARGET_ENV").unwrap_or_default();
    for arg in hardening::link_args(&table, &os, &env).unwrap_or_else(|e| panic!("{e}")) {
        println!("cargo::rustc-link-arg-cdylib={arg}");
    }
    let encoded = std::env::var("CARGO_ENCODED_RUSTFLAGS").unwrap_or_default();
    for flag in hardening::missing_rustflags(&table, &os, &env, &encoded).unwrap_or_else(|e| panic!("{e}")) {
        println!(
            "cargo::warning=wintun.dll is built without {flag} (wintun-api/hardening.toml): build it with \
             `cargo make wintun-dll`, or add `--config wintun-api/hardening.toml`"
        );
    }
}
