//! Build script: configures the Windows kernel build (the WDK's link settings through
//! `wdk-build`, and the one C helper, `src/windows/probe.c`).
//!
//! It does something only when all three hold: the `kernel` feature is on, the target is Windows,
//! and the build runs on Windows (only a Windows host has a WDK). Everywhere else, including the
//! Windows-target check on Linux, the shell is compiled but nothing is linked.

fn main() {
    println!("cargo::rerun-if-changed=build.rs");
    println!("cargo::rerun-if-changed=src/windows/probe.c");
    let kernel = std::env::var_os("CARGO_FEATURE_KERNEL").is_some();
    let target_windows = std::env::var("CARGO_CFG_TARGET_OS").is_ok_and(|os| os == "windows");
    if kernel && target_windows {
        #[cfg(all(windows, feature = "kernel"))]
        if let Err(error) = kernel_build() {
            panic!("ringtun: configuring the WDK build failed: {error}");
        }
    }
}

/// Compiles `probe.c` with the WDK's kernel headers and emits the driver's link settings.
#[cfg(all(windows, feature = "kernel"))]
fn kernel_build() -> Result<(), wdk_build::ConfigError> {
    let config = wdk_build::Config::from_env_auto()?;
    let mut c = cc::Build::new();
    // /kernel: kernel-mode code generation; /Zl: no default C runtime library in the object.
    c.file("src/windows/probe.c").flag("/kernel").flag("/Zl");
    for path in config.include_paths()? {
        c.include(path);
    }
    for (name, value) in config.preprocessor_definitions() {
        c.define(&name, value.as_deref());
    }
    c.compile("ringtun_probe");
    config.configure_binary_build()
}
