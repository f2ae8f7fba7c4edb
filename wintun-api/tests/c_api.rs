//! The C programs of the Wintun API's Linux build, compiled against the project's headers and
//! linked with the libwintun.so this build produced, then run:
//!
//! - `tests/c/api_test.c`: every Wintun call and Ringtun extension, their error paths, threads,
//!   the end of a session under waiting threads, an adapter closed mid-traffic;
//! - `tests/c/offload_space_test.c`: the offload metadata and write-space extensions: metadata
//!   set from C reaching the driver, the grown statistics struct, and a thread waiting for send
//!   space woken by the driver's signal while another thread drains (the `backpressure` stack);
//! - `tests/c/wintun_style.c`: a program written as Wintun's documentation shows (its own
//!   `<windows.h>`, L"" literals, the 14 functions resolved with `LoadLibraryExW` and
//!   `GetProcAddress`), built with only the include path and the library changed;
//! - `examples/c/esp_tunnel.c` and `examples/c/dtls_tunnel.c`: the in-place AEAD datapaths with
//!   OpenSSL's libcrypto, asserting from the session counters that no packet byte was copied;
//! - the headers as C++.
#![cfg(target_os = "linux")]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn crate_dir() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// Where cargo put libwintun.so for this test binary (next to it, in `deps/`).
fn library_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    let dir = exe.parent().expect("deps directory").to_path_buf();
    assert!(dir.join("libwintun.so").exists(), "libwintun.so not built next to {}", exe.display());
    dir
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("ringtun-wintun-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Compiles `sources` into an executable linked with libwintun.so (and `libs`).
fn compile(name: &str, sources: &[PathBuf], flags: &[&str], libs: &[&str]) -> PathBuf {
    let lib = library_dir();
    let exe = scratch(name).join(name);
    let cc = std::env::var("CC").unwrap_or_else(|_| "cc".into());
    let out = Command::new(&cc)
        .args(["-std=c11", "-Wall", "-Wextra", "-Werror", "-O1", "-g", "-pthread"])
        .args(flags)
        .arg("-I")
        .arg(crate_dir().join("include"))
        .arg("-I")
        .arg(crate_dir().join("tests/c"))
        .args(sources)
        .arg("-L")
        .arg(&lib)
        .arg(format!("-Wl,-rpath,{}", lib.display()))
        .arg("-lwintun")
        .args(libs)
        .arg("-o")
        .arg(&exe)
        .output()
        .unwrap_or_else(|e| panic!("cannot run the C compiler `{cc}`: {e}"));
    assert!(out.status.success(), "{name}: C compile failed:\n{}", String::from_utf8_lossy(&out.stderr));
    exe
}

fn run(exe: &Path, stack: &str) -> Output {
    // cargo's LD_LIBRARY_PATH names target/<profile> too, where `cargo build` leaves its own copy
    // of libwintun.so (possibly from another build): only this build's copy may be loaded.
    let out = Command::new(exe)
        .env("RINGTUN_WINTUN_STACK", stack)
        .env_remove("RINGTUN_WINTUN_DELETE_DRIVER")
        .env("LD_LIBRARY_PATH", library_dir())
        .output()
        .expect("run the C program");
    println!("{}", String::from_utf8_lossy(&out.stdout));
    eprintln!("{}", String::from_utf8_lossy(&out.stderr));
    out
}

#[test]
fn c_api_test_program() {
    let exe = compile("api_test", &[crate_dir().join("tests/c/api_test.c")], &[], &[]);
    let out = run(&exe, "loopback");
    assert!(out.status.success(), "api_test failed: {:?}", out.status);
    let stdout = String::from_utf8_lossy(&out.stdout);
    for test in [
        "ok driver_and_adapters",
        "ok logger",
        "ok session_errors_and_order",
        "ok threads",
        "ok end_wakes_every_waiter",
        "ok close_mid_traffic",
        "ok v2_extensions",
        "all ok",
    ] {
        assert!(stdout.contains(test), "missing `{test}` in:\n{stdout}");
    }
}

#[test]
fn c_offload_and_write_space_program() {
    let exe = compile("offload_space_test", &[crate_dir().join("tests/c/offload_space_test.c")], &[], &[]);
    let out = run(&exe, "backpressure");
    assert!(out.status.success(), "offload_space_test failed: {:?}", out.status);
    let stdout = String::from_utf8_lossy(&out.stdout);
    for test in ["ok statistics_sizes", "ok offload_metadata", "ok write_space", "all ok"] {
        assert!(stdout.contains(test), "missing `{test}` in:\n{stdout}");
    }
}

#[test]
fn wintun_style_program_with_its_own_windows_h() {
    // Only the include path (the project's headers and its <windows.h>) and the library change;
    // -fshort-wchar makes L"" literals UTF-16, as on Windows.
    let linux = crate_dir().join("include/linux");
    let exe = compile(
        "wintun_style",
        &[crate_dir().join("tests/c/wintun_style.c")],
        &["-fshort-wchar", "-I", linux.to_str().unwrap()],
        &[],
    );
    let out = run(&exe, "loopback");
    assert!(out.status.success(), "wintun_style failed: {:?}", out.status);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("received 16 echo requests back"), "{stdout}");
}

#[test]
fn esp_tunnel_example() {
    let exe = compile("esp_tunnel", &[crate_dir().join("examples/c/esp_tunnel.c")], &[], &["-lcrypto"]);
    let out = run(&exe, "loopback");
    assert!(out.status.success(), "esp_tunnel failed: {:?}", out.status);
    assert!(String::from_utf8_lossy(&out.stdout).contains("copied 0 bytes"));
}

#[test]
fn dtls_tunnel_example() {
    let exe = compile("dtls_tunnel", &[crate_dir().join("examples/c/dtls_tunnel.c")], &[], &["-lcrypto"]);
    let out = run(&exe, "loopback");
    assert!(out.status.success(), "dtls_tunnel failed: {:?}", out.status);
    assert!(String::from_utf8_lossy(&out.stdout).contains("copied 0 bytes"));
}

#[test]
fn headers_compile_as_cpp() {
    let cxx = std::env::var("CXX").unwrap_or_else(|_| "c++".into());
    let out = Command::new(&cxx)
        .args(["-std=c++11", "-fsyntax-only", "-Wall", "-Wextra", "-Werror", "-x", "c++", "-I"])
        .arg(crate_dir().join("include"))
        .arg(crate_dir().join("include/ringtun_wintun.h"))
        .output()
        .unwrap_or_else(|e| panic!("cannot run the C++ compiler `{cxx}`: {e}"));
    assert!(out.status.success(), "C++ check failed:\n{}", String::from_utf8_lossy(&out.stderr));
}

#[test]
fn headers_with_the_abi_header() {
    // ringtun_wintun.h repeats ringtun.h's offload constants (identical definitions): a program
    // may include both.
    let unit = scratch("both").join("both.c");
    std::fs::write(&unit, "#include \"ringtun.h\"\n#include \"ringtun_wintun.h\"\n").unwrap();
    let cc = std::env::var("CC").unwrap_or_else(|_| "cc".into());
    let out = Command::new(&cc)
        .args(["-std=c11", "-fsyntax-only", "-Wall", "-Wextra", "-Werror", "-I"])
        .arg(crate_dir().join("include"))
        .arg("-I")
        .arg(crate_dir().join("../ring-abi/include"))
        .arg(&unit)
        .output()
        .unwrap_or_else(|e| panic!("cannot run the C compiler `{cc}`: {e}"));
    assert!(out.status.success(), "both headers:\n{}", String::from_utf8_lossy(&out.stderr));
}
