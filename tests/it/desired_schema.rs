//! The committed JSON Schema is exactly what `roster schema` prints (and what the
//! model generates), and every example file points editors at it with a correct
//! relative `$schema` path.

use std::path::{Path, PathBuf};

const ROSTER: &str = env!("CARGO_BIN_EXE_roster");

fn manifest_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn committed_schema_equals_generated_output() {
    let committed = std::fs::read_to_string(manifest_dir().join("schema/roster.schema.json"))
        .expect("schema/roster.schema.json is committed");
    let out = std::process::Command::new(ROSTER)
        .arg("schema")
        .output()
        .expect("run roster schema");
    assert_eq!(out.status.code(), Some(0));
    let printed = String::from_utf8(out.stdout).expect("utf-8");
    assert!(
        printed == committed,
        "schema/roster.schema.json is stale: regenerate it with `cargo run -- schema > schema/roster.schema.json`"
    );
    assert_eq!(roster::commands::schema::schema_text(), committed);
    let v: serde_json::Value = serde_json::from_str(&committed).expect("valid JSON");
    assert_eq!(v["$schema"], "https://json-schema.org/draft/2020-12/schema");
    assert_eq!(v["additionalProperties"], false);
}

fn yaml_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("read_dir") {
        let path = entry.expect("entry").path();
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if name.starts_with('.') {
            continue;
        }
        if path.is_dir() {
            yaml_files(&path, out);
        } else if name.ends_with(".yaml") || name.ends_with(".yml") {
            out.push(path);
        }
    }
}

#[test]
fn examples_reference_the_schema_by_a_correct_relative_path() {
    let root = manifest_dir();
    let schema = root
        .join("schema/roster.schema.json")
        .canonicalize()
        .expect("schema");
    let mut files = Vec::new();
    // The identity repositories among the examples (not the GitHub workflows).
    yaml_files(&root.join("examples/quickstart"), &mut files);
    yaml_files(&root.join("examples/acme"), &mut files);
    assert!(
        files.len() >= 10,
        "expected the quickstart and acme examples"
    );
    for f in files {
        let text = std::fs::read_to_string(&f).expect("read");
        let first = text.lines().next().unwrap_or("");
        let rel = first
            .strip_prefix("# yaml-language-server: $schema=")
            .unwrap_or_else(|| panic!("{} lacks the $schema comment", f.display()));
        let target = f.parent().expect("parent").join(rel);
        assert_eq!(
            target.canonicalize().ok().as_ref(),
            Some(&schema),
            "{}: {rel} does not point at schema/roster.schema.json",
            f.display()
        );
    }
}

#[test]
fn quickstart_is_one_sandbox_app_without_passwords() {
    let loaded = roster::desired::load(&manifest_dir().join("examples/quickstart"), None)
        .expect("load quickstart");
    assert!(loaded.diagnostics.is_empty(), "{:?}", loaded.diagnostics);
    let s = &loaded.state;
    assert_eq!(s.apps.len(), 1);
    let roster::desired::App::Office365(app) = &s.apps[0] else {
        panic!("the quickstart app is an office365 app")
    };
    assert_eq!(app.sandbox.as_deref(), Some(".roster/sandbox-tenant.json"));
    assert_eq!(
        app.authorized_domains.as_deref(),
        Some(&["example.com".to_string()][..])
    );
    assert!(s.users.iter().all(|u| u.password.is_none()));
    assert!((3..=8).contains(&s.users.len()));
    assert!((2..=5).contains(&s.groups.len()));
    assert_eq!(s.policies.len(), 1);
}

#[test]
fn acme_is_a_realistic_organisation() {
    let loaded =
        roster::desired::load(&manifest_dir().join("examples/acme"), None).expect("load acme");
    assert!(!loaded.has_errors());
    assert_eq!(loaded.warnings().count(), 1);
    let s = &loaded.state;
    assert!((35..=45).contains(&s.users.len()));
    assert!(s.groups.len() >= 10);
    let types: Vec<&str> = s.apps.iter().map(|a| a.type_name()).collect();
    assert_eq!(types, ["office365", "active_directory"]);
    assert!(
        s.groups
            .iter()
            .any(|g| g.members.iter().any(|m| m.starts_with("group:")))
    );
    assert_eq!(
        s.memberships.iter().filter(|m| m.expires.is_some()).count(),
        1
    );
    assert!(
        loaded
            .files
            .iter()
            .filter(|f| f.starts_with("memberships/"))
            .count()
            >= 2
    );
}
