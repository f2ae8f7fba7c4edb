//! libwintun.so's dynamic symbol table is exactly the reviewed list: Wintun's 14 functions and
//! ringtun's extensions (`exports.txt`), and the Win32 calls of the Linux build
//! (`linux-exports.txt`). Nothing else of the library (Rust's runtime, the engine) is exported.
#![cfg(target_os = "linux")]

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;

fn reviewed(file: &str) -> BTreeSet<String> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(file);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    text.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#')).map(String::from).collect()
}

#[test]
fn dynamic_symbols_are_the_reviewed_list() {
    let exe = std::env::current_exe().unwrap();
    let library = exe.parent().unwrap().join("libwintun.so");
    assert!(library.exists(), "{} not built", library.display());
    let out = Command::new("nm")
        .args(["-D", "--defined-only", "--format=posix"])
        .arg(&library)
        .output()
        .expect("nm (binutils) is needed to read the dynamic symbol table");
    assert!(out.status.success(), "nm failed: {}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8_lossy(&out.stdout);
    let mut exported = BTreeSet::new();
    for line in text.lines() {
        // POSIX format: name, type, value, size.
        let mut fields = line.split_whitespace();
        let (Some(name), Some(kind)) = (fields.next(), fields.next()) else { continue };
        assert_eq!(kind, "T", "{name} is exported but is not code");
        exported.insert(name.to_owned());
    }
    let api = reviewed("exports.txt");
    assert_eq!(api.len(), 31, "the 14 Wintun functions and 17 extensions");
    assert_eq!(api.iter().filter(|n| n.starts_with("Wintun")).count(), 14);
    let mut expected = api;
    expected.extend(reviewed("linux-exports.txt"));
    let missing: Vec<_> = expected.difference(&exported).collect();
    let extra: Vec<_> = exported.difference(&expected).collect();
    assert!(missing.is_empty() && extra.is_empty(), "missing exports {missing:?}, unreviewed exports {extra:?}");
}
