//! Partial plans: when one of several apps cannot be read, the others are planned and
//! shown, the failed app is named with its cause in every format, the exit code is 1,
//! and nothing partial is saved or applied unless asked.

use std::fmt::Write as _;

use serde_json::Value;

use crate::support::{Run, repo, roster};

/// A sandbox app `box` with `n` users to create, and an office365 app `cloud` whose
/// Graph and login endpoints are a closed loopback port.
fn two_apps(n: usize) -> tempfile::TempDir {
    let apps = "apps:\n  - name: box\n    type: office365\n    sandbox: .roster/tenant.json\n    authorized_domains: [example.com]\n  \
                - name: cloud\n    type: office365\n    tenant: contoso\n    client_id: 11111111-2222-3333-4444-555555555555\n    \
                credentials:\n      client_secret: { env: CLOUD_SECRET }\n    graph_url: http://127.0.0.1:1\n    login_url: http://127.0.0.1:1\n    \
                authorized_domains: [example.com]\n";
    let mut people = String::from("users:\n");
    let mut members = Vec::new();
    for i in 0..n {
        let _ = write!(
            people,
            "  - username: u{i:03}\n    email: u{i:03}@example.com\n    first_name: User\n    last_name: N{i:03}\n"
        );
        members.push(format!("u{i:03}"));
    }
    let _ = write!(
        people,
        "groups:\n  - name: all\n    members: [{}]\npolicies:\n  - name: p\n    app: box\n    groups: [all]\n  - name: q\n    app: cloud\n    groups: [all]\n",
        members.join(", ")
    );
    repo(&[("apps.yaml", apps), ("people.yaml", &people)])
}

fn run(dir: &std::path::Path, args: &[&str]) -> Run {
    roster(
        dir,
        args,
        &[("CLOUD_SECRET", "not-used"), ("ROSTER_RETRY_MAX_SECONDS", "0")],
    )
}

#[test]
fn plan_shows_the_readable_app_and_names_the_unreachable_one() {
    let org = two_apps(3);
    let r = run(org.path(), &["plan"]);
    assert_eq!(r.code, 1, "{}", r.all());
    assert!(r.stdout.contains("app box:"), "{}", r.stdout);
    assert!(r.stdout.contains("+ user u002"), "{}", r.stdout);
    assert!(!r.stdout.contains("app cloud:\n"), "cloud is not planned: {}", r.stdout);
    let section = r
        .stdout
        .split("Could not be read")
        .nth(1)
        .unwrap_or_else(|| panic!("no could-not-be-read section: {}", r.stdout));
    assert!(section.contains("app cloud: cannot connect") || section.contains("app cloud: cannot read"), "{section}");
    assert!(section.contains("caused by:"), "the cause chain is shown: {section}");
    assert!(r.stderr.contains("could not be read"), "{}", r.stderr);
    assert!(r.stderr.contains("app cloud"), "{}", r.stderr);
    assert!(!r.stderr.contains("panicked"), "{}", r.stderr);
}

#[test]
fn json_carries_an_errors_array_only_for_a_partial_plan() {
    let org = two_apps(2);
    let r = run(org.path(), &["plan", "--format", "json"]);
    assert_eq!(r.code, 1, "{}", r.all());
    let v: Value = serde_json::from_str(&r.stdout).expect("one JSON document on stdout");
    assert_eq!(v["format_version"], "1");
    let changes = v["changes"].as_array().unwrap();
    assert!(!changes.is_empty());
    assert!(changes.iter().all(|c| c["app"] == "box"), "{changes:?}");
    let errors = v["errors"].as_array().expect("an errors array");
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert_eq!(errors[0]["app"], "cloud");
    assert!(errors[0]["error"].as_str().unwrap().contains("cloud"), "{errors:?}");
    assert!(!errors[0]["causes"].as_array().unwrap().is_empty(), "{errors:?}");

    // With only the readable app selected, the plan is complete: no errors key at all.
    let r = run(org.path(), &["plan", "--format", "json", "--app", "box"]);
    assert_eq!(r.code, 0, "{}", r.all());
    let v: Value = serde_json::from_str(&r.stdout).unwrap();
    assert!(v.get("errors").is_none(), "{}", r.stdout);
}

#[test]
fn markdown_says_first_that_the_plan_is_incomplete() {
    let org = two_apps(2);
    let r = run(org.path(), &["plan", "--format", "markdown"]);
    assert_eq!(r.code, 1, "{}", r.all());
    let title = r.stdout.find("### roster plan").expect("title");
    let section = r.stdout.find("Could not be read").expect("section");
    let summary = r.stdout.find("| App |").expect("summary table");
    assert!(title < section && section < summary, "{}", r.stdout);
    assert!(r.stdout.contains("incomplete"), "{}", r.stdout);
    assert!(r.stdout.contains("app cloud"), "{}", r.stdout);
}

#[test]
fn drift_is_exit_1_not_2_when_an_app_cannot_be_read() {
    let org = two_apps(2);
    let r = run(org.path(), &["drift"]);
    assert_eq!(r.code, 1, "{}", r.all());
    assert!(r.stdout.contains("app box:"), "{}", r.stdout);
    assert!(r.stdout.contains("Could not be read"), "{}", r.stdout);
}

#[test]
fn a_partial_plan_is_not_saved() {
    let org = two_apps(2);
    let out = org.path().join("plan.json");
    let r = run(org.path(), &["plan", "--out", out.to_str().unwrap()]);
    assert_eq!(r.code, 1, "{}", r.all());
    assert!(!out.exists(), "a partial plan was saved");
    assert!(r.stderr.contains("not saved"), "{}", r.stderr);
}

#[test]
fn apply_stops_before_writing_unless_asked_to_skip_the_unreadable_apps() {
    let org = two_apps(2);
    let log = org.path().join(".roster/reports.jsonl");
    let r = run(org.path(), &["apply", "--auto-approve"]);
    assert_eq!(r.code, 1, "{}", r.all());
    assert!(r.stderr.contains("nothing was applied"), "{}", r.stderr);
    assert!(r.stderr.contains("--skip-unreadable"), "{}", r.stderr);
    assert!(!log.exists(), "nothing may be recorded: {}", r.all());
    // Nothing was created in the sandbox either: the readable app still plans the
    // group and both users.
    let again = run(org.path(), &["plan", "--app", "box", "--format", "json"]);
    let v: Value = serde_json::from_str(&again.stdout).unwrap();
    assert_eq!(v["summary"]["create"], 3, "{}", again.stdout);
    let planned = v["changes"].as_array().unwrap().len();

    let r = run(org.path(), &["apply", "--auto-approve", "--skip-unreadable"]);
    assert_eq!(r.code, 1, "some apps were left out: {}", r.all());
    assert!(r.stdout.contains(&format!("{planned} applied, 0 failed")), "{}", r.stdout);
    assert!(r.stdout.contains("Not applied: 1 app(s)"), "{}", r.stdout);
    let records = std::fs::read_to_string(&log).unwrap();
    assert_eq!(records.lines().count(), planned, "one record per change: {records}");
    let again = run(org.path(), &["plan", "--app", "box"]);
    assert_eq!(again.code, 0, "{}", again.all());
    assert!(again.stdout.contains("No changes"), "{}", again.stdout);
}

#[test]
fn a_saved_plan_file_marked_partial_is_refused() {
    let org = two_apps(1);
    let saved = org.path().join("plan.json");
    let r = run(org.path(), &["plan", "--app", "box", "--out", saved.to_str().unwrap()]);
    assert_eq!(r.code, 0, "{}", r.all());
    // Someone adds an errors array to the saved plan: it is refused, not applied.
    let mut v: Value = serde_json::from_str(&std::fs::read_to_string(&saved).unwrap()).unwrap();
    v["plan"]["errors"] = serde_json::json!([{"app": "cloud", "error": "app cloud: cannot connect", "causes": []}]);
    std::fs::write(&saved, serde_json::to_string(&v).unwrap()).unwrap();
    let r = run(org.path(), &["apply", saved.to_str().unwrap()]);
    assert_eq!(r.code, 1, "{}", r.all());
    assert!(r.stderr.contains("partial"), "{}", r.stderr);
    assert!(!org.path().join(".roster/reports.jsonl").exists());
}
