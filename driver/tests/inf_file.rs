//! Checks the INF (InfVerif is not available off Windows): both the stampinf input and its
//! rendered amd64 form parse, carry every directive a virtual NDIS adapter needs, reference
//! only sections and strings that exist, and agree with each other.

// Test code on the host: the process heap, not the kernel pool, so the crate's allocation
// rules (clippy.toml) do not apply.
#![allow(clippy::disallowed_methods)]

use std::collections::BTreeMap;
use std::path::PathBuf;

use ringtun_driver::engine::keywords::{KeywordGroup, KeywordKind, OFFLOAD_KEYWORDS};

/// An INF: sections (lower-cased names) of entries `(key, value)` in order; keyless lines have
/// an empty key. Comments (`;` outside quotes) and blank lines are dropped.
#[derive(Debug, Default, PartialEq)]
struct Inf {
    sections: BTreeMap<String, Vec<(String, String)>>,
    order: Vec<String>,
}

fn strip_comment(line: &str) -> &str {
    let mut quoted = false;
    for (i, c) in line.char_indices() {
        match c {
            '"' => quoted = !quoted,
            ';' if !quoted => return &line[..i],
            _ => {}
        }
    }
    line
}

fn parse(text: &str) -> Result<Inf, String> {
    let mut inf = Inf::default();
    let mut current: Option<String> = None;
    for (n, raw) in text.lines().enumerate() {
        let line = strip_comment(raw).trim();
        if line.is_empty() {
            continue;
        }
        if let Some(rest) = line.strip_prefix('[') {
            let name = rest.strip_suffix(']').ok_or(format!("line {}: unclosed section", n + 1))?.trim().to_lowercase();
            if inf.sections.insert(name.clone(), Vec::new()).is_some() {
                return Err(format!("line {}: section [{name}] twice", n + 1));
            }
            inf.order.push(name.clone());
            current = Some(name);
            continue;
        }
        let section = current.as_ref().ok_or(format!("line {}: entry outside a section", n + 1))?;
        let (key, value) = match line.split_once('=') {
            Some((k, v)) => (k.trim().to_lowercase(), v.trim().to_string()),
            None => (String::new(), line.to_string()),
        };
        inf.sections.get_mut(section).ok_or("section vanished")?.push((key, value));
    }
    Ok(inf)
}

impl Inf {
    fn section(&self, name: &str) -> &[(String, String)] {
        self.sections.get(&name.to_lowercase()).map(Vec::as_slice).unwrap_or_else(|| panic!("no section [{name}]"))
    }

    fn value(&self, section: &str, key: &str) -> &str {
        let key = key.to_lowercase();
        let values: Vec<_> = self.section(section).iter().filter(|(k, _)| *k == key).collect();
        assert_eq!(values.len(), 1, "[{section}] {key}: {values:?}");
        &values[0].1
    }

    /// The value with its `%token%` strings substituted and quotes removed.
    fn resolved(&self, section: &str, key: &str) -> String {
        self.resolve(self.value(section, key))
    }

    fn resolve(&self, value: &str) -> String {
        let strings = self.section("Strings");
        let mut out = String::new();
        let mut rest = value;
        while let Some(start) = rest.find('%') {
            out.push_str(&rest[..start]);
            let after = &rest[start + 1..];
            let end = after.find('%').expect("unclosed %token%");
            let token = &after[..end];
            if token.is_empty() {
                out.push('%');
            } else if token.chars().all(|c| c.is_ascii_digit()) {
                out.push_str(&format!("%{token}%")); // a DIRID such as %13%
            } else {
                let v = strings
                    .iter()
                    .find(|(k, _)| *k == token.to_lowercase())
                    .unwrap_or_else(|| panic!("no string {token}"));
                out.push_str(v.1.trim_matches('"'));
            }
            rest = &after[end + 1..];
        }
        out.push_str(rest);
        out.trim_matches('"').to_string()
    }

    fn number(&self, section: &str, key: &str) -> u64 {
        let v = self.value(section, key);
        match v.strip_prefix("0x") {
            Some(hex) => u64::from_str_radix(hex, 16),
            None => v.parse(),
        }
        .unwrap_or_else(|e| panic!("[{section}] {key} = {v}: {e}"))
    }
}

fn read(name: &str) -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..").join("inf").join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// What stampinf does for amd64 with the versions the build uses.
fn render(inx: &str) -> String {
    inx.replace("$ARCH$", "amd64")
        .replace("$KMDFVERSION$", "1.33")
        .replace("DriverVer   =\n", "DriverVer   = 11/24/2026,0.1.0.0\n")
}

fn inf() -> Inf {
    parse(&read("ringtun.inf")).expect("ringtun.inf parses")
}

#[test]
fn rendered_inf_matches_the_inx() {
    let inx = read("ringtun.inx");
    assert!(inx.contains("$ARCH$") && inx.contains("$KMDFVERSION$"), "the .inx keeps stampinf's placeholders");
    let rendered = parse(&render(&inx)).expect("rendered .inx parses");
    assert_eq!(rendered, inf(), "ringtun.inf is not ringtun.inx rendered for amd64");
}

#[test]
fn version_section() {
    let inf = inf();
    assert_eq!(inf.value("Version", "Signature"), "\"$WINDOWS NT$\"");
    assert_eq!(inf.value("Version", "Class"), "Net");
    assert_eq!(inf.value("Version", "ClassGuid"), "{4D36E972-E325-11CE-BFC1-08002BE10318}");
    assert_eq!(inf.resolved("Version", "Provider"), "ringtun");
    assert_eq!(inf.value("Version", "CatalogFile"), "ringtun.cat");
    assert_eq!(inf.number("Version", "PnpLockdown"), 1);
    let driver_ver = inf.value("Version", "DriverVer");
    let (date, version) = driver_ver.split_once(',').expect("DriverVer = date,version");
    assert_eq!(date.split('/').count(), 3, "{date}");
    assert_eq!(version.split('.').count(), 4, "{version}");
}

#[test]
fn models_and_network_directives() {
    let inf = inf();
    let manufacturer = inf.section("Manufacturer");
    assert_eq!(manufacturer.len(), 1);
    let models: Vec<&str> = manufacturer[0].1.split(',').map(str::trim).collect();
    assert_eq!(models, ["ringtun", "NTamd64.10.0...20348"]);
    let model = inf.section("ringtun.NTamd64.10.0...20348");
    assert_eq!(model.len(), 1);
    let (install, hardware_id) = model[0].1.split_once(',').expect("install, hardware id");
    assert_eq!((install.trim(), hardware_id.trim()), ("ringtun.ndi", "ringtun"));
    assert_eq!(inf.resolve(&model[0].0), "ringtun virtual adapter".to_lowercase(), "device description");

    let ddinstall = "ringtun.ndi.NT";
    assert_eq!(inf.number(ddinstall, "Characteristics"), 0x1, "NCF_VIRTUAL");
    assert_eq!(inf.number(ddinstall, "*IfType"), 53, "IF_TYPE_PROP_VIRTUAL");
    assert_eq!(inf.number(ddinstall, "*MediaType"), 19, "NdisMediumIP");
    assert_eq!(inf.number(ddinstall, "*PhysicalMediaType"), 0);
    assert_eq!(inf.number(ddinstall, "*IfConnectorPresent"), 0);
    assert_eq!(inf.number(ddinstall, "*ConnectionType"), 1);
    assert_eq!(inf.number(ddinstall, "*DirectionType"), 0);
    assert_eq!(inf.number(ddinstall, "*AccessType"), 2);

    // AddReg names one or more sections; their rows together.
    let addreg: Vec<Vec<String>> = inf
        .value(ddinstall, "AddReg")
        .split(',')
        .flat_map(|section| inf.section(section.trim()))
        .map(|(_, v)| v.split(',').map(|p| p.trim().trim_matches('"').to_string()).collect())
        .collect();
    let has = |row: &[&str]| addreg.iter().any(|r| r.iter().map(String::as_str).eq(row.iter().copied()));
    assert!(has(&["HKR", "Ndi", "Service", "0", "ringtun"]), "{addreg:?}");
    assert!(has(&["HKR", "Ndi\\Interfaces", "UpperRange", "0", "ndis5"]));
    assert!(has(&["HKR", "Ndi\\Interfaces", "LowerRange", "0", "nolower"]));
    assert!(has(&["HKR", "", "EnableDhcp", "0x00010001", "0"]));
    // Every granular offload keyword the engine reads is declared as an enum with every value
    // its kind allows, each with Microsoft's display text, and enabled by default (checksums Rx
    // and Tx); the grouped ones are read but not declared; nothing else is declared.
    for keyword in &OFFLOAD_KEYWORDS {
        let key = format!("Ndi\\params\\{}", keyword.name);
        let enum_key = format!("{key}\\enum");
        let rows: Vec<&Vec<String>> =
            addreg.iter().filter(|r| r.get(1) == Some(&key) || r.get(1) == Some(&enum_key)).collect();
        if keyword.group == KeywordGroup::Grouped {
            assert!(rows.is_empty(), "grouped keyword {} declared: {rows:?}", keyword.name);
            continue;
        }
        let (default, values): (&str, &[&str]) = match keyword.kind {
            KeywordKind::Checksum { .. } => ("3", &["%Disabled%", "%TxEnabled%", "%RxEnabled%", "%RxTxEnabled%"]),
            KeywordKind::Switch(_) => ("1", &["%Disabled%", "%Enabled%"]),
        };
        assert!(has(&["HKR", &key, "Type", "0", "enum"]), "{}", keyword.name);
        assert!(has(&["HKR", &key, "Default", "0", default]), "{}: default {default}", keyword.name);
        let desc = rows.iter().find(|r| r.get(2).map(String::as_str) == Some("ParamDesc"));
        assert!(desc.is_some_and(|r| r.len() == 5 && r[4].starts_with('%')), "{}: ParamDesc", keyword.name);
        for (value, text) in values.iter().enumerate() {
            let value = value.to_string();
            assert!(has(&["HKR", &enum_key, &value, "0", text]), "{}: enum value {value} ({text})", keyword.name);
        }
        let enum_rows = rows.iter().filter(|r| r.get(1) == Some(&enum_key)).count();
        assert_eq!(enum_rows, values.len(), "{}: enum values beyond its range", keyword.name);
        assert_eq!(rows.len(), 3 + values.len(), "{}: rows {rows:?}", keyword.name);
    }
    // No keyword is declared that the engine does not read.
    for row in &addreg {
        if let Some(name) = row.get(1).and_then(|k| k.strip_prefix("Ndi\\params\\")) {
            let name = name.trim_end_matches("\\enum");
            assert!(
                OFFLOAD_KEYWORDS.iter().any(|k| k.group == KeywordGroup::Granular && k.name == name),
                "{name} declared but not a granular keyword the engine reads"
            );
        }
    }
}

#[test]
fn service_and_kmdf() {
    let inf = inf();
    let add_service: Vec<&str> = inf.value("ringtun.ndi.NT.Services", "AddService").split(',').map(str::trim).collect();
    assert_eq!(add_service[0], "ringtun");
    assert_eq!(add_service[1], "2", "SPSVCINST_ASSOCSERVICE");
    let service = add_service[2];
    assert_eq!(inf.number(service, "ServiceType"), 1, "kernel driver");
    assert_eq!(inf.number(service, "StartType"), 3, "demand start");
    assert_eq!(inf.number(service, "ErrorControl"), 1);
    assert_eq!(inf.value(service, "ServiceBinary"), "%13%\\ringtun.sys");
    let kmdf: Vec<&str> = inf.value("ringtun.ndi.NT.Wdf", "KmdfService").split(',').map(str::trim).collect();
    assert_eq!(kmdf[0], "ringtun");
    assert_eq!(inf.value(kmdf[1], "KmdfLibraryVersion"), "1.33");
    assert_eq!(inf.value("DestinationDirs", "DefaultDestDir"), "13");
    assert_eq!(inf.value("SourceDisksFiles", "ringtun.sys"), "1");
    assert_eq!(inf.section(inf.value("ringtun.ndi.NT", "CopyFiles")), [(String::new(), "ringtun.sys".to_string())]);
}

#[test]
fn every_reference_resolves() {
    let inf = inf();
    // Sections named by directives exist.
    for (section, entries) in &inf.sections {
        for (key, value) in entries {
            if matches!(key.as_str(), "addreg" | "copyfiles") {
                for target in value.split(',') {
                    assert!(inf.sections.contains_key(&target.trim().to_lowercase()), "[{section}] {key} -> {target}");
                }
            }
        }
    }
    // Every %token% has a string.
    for entries in inf.sections.values() {
        for (key, value) in entries {
            let _ = inf.resolve(key);
            let _ = inf.resolve(value);
        }
    }
    // The DDInstall section has its .Services and .Wdf companions.
    for suffix in ["", ".services", ".wdf"] {
        assert!(inf.sections.contains_key(&format!("ringtun.ndi.nt{suffix}")), "ringtun.ndi.NT{suffix}");
    }
}

#[test]
fn parser_rejects_what_it_should() {
    assert!(parse("key = value").is_err(), "entry outside a section");
    assert!(parse("[a]\n[a]").is_err(), "duplicate section");
    assert!(parse("[a").is_err(), "unclosed section");
    let inf = parse("[A]\nk = \"x;y\" ; comment\n").unwrap();
    assert_eq!(inf.value("a", "K"), "\"x;y\"");
}
