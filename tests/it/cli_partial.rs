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
        &[
            ("CLOUD_SECRET", "not-used"),
            ("ROSTER_RETRY_MAX_SECONDS", "0"),
        ],
    )
}

#[test]
fn plan_shows_the_readable_app_and_names_the_unreachable_one() {
    let org = two_apps(3);
    let r = run(org.path(), &["plan"]);
    assert_eq!(r.code, 1, "{}", r.all());
    assert!(r.stdout.contains("app box:"), "{}", r.stdout);
    assert!(r.stdout.contains("+ user u002"), "{}", r.stdout);
    assert!(
        !r.stdout.contains("app cloud:\n"),
        "cloud is not planned: {}",
        r.stdout
    );
    let section = r
        .stdout
        .split("Could not be read")
        .nth(1)
        .unwrap_or_else(|| panic!("no could-not-be-read section: {}", r.stdout));
    assert!(
        section.contains("app cloud: cannot connect") || section.contains("app cloud: cannot read"),
        "{section}"
    );
    assert!(
        section.contains("caused by:"),
        "the cause chain is shown: {section}"
    );
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
    assert!(
        errors[0]["error"].as_str().unwrap().contains("cloud"),
        "{errors:?}"
    );
    assert!(
        !errors[0]["causes"].as_array().unwrap().is_empty(),
        "{errors:?}"
    );

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

    let r = run(
        org.path(),
        &["apply", "--auto-approve", "--skip-unreadable"],
    );
    assert_eq!(r.code, 1, "some apps were left out: {}", r.all());
    assert!(
        r.stdout.contains(&format!("{planned} applied, 0 failed")),
        "{}",
        r.stdout
    );
    assert!(r.stdout.contains("Not applied: 1 app(s)"), "{}", r.stdout);
    let records = std::fs::read_to_string(&log).unwrap();
    assert_eq!(
        records.lines().count(),
        planned,
        "one record per change: {records}"
    );
    let again = run(org.path(), &["plan", "--app", "box"]);
    assert_eq!(again.code, 0, "{}", again.all());
    assert!(again.stdout.contains("No changes"), "{}", again.stdout);
}

#[test]
fn a_saved_plan_file_marked_partial_is_refused() {
    let org = two_apps(1);
    let saved = org.path().join("plan.json");
    let r = run(
        org.path(),
        &["plan", "--app", "box", "--out", saved.to_str().unwrap()],
    );
    assert_eq!(r.code, 0, "{}", r.all());
    // Someone adds an errors array to the saved plan: it is refused, not applied.
    let mut v: Value = serde_json::from_str(&std::fs::read_to_string(&saved).unwrap()).unwrap();
    v["plan"]["errors"] =
        serde_json::json!([{"app": "cloud", "error": "app cloud: cannot connect", "causes": []}]);
    std::fs::write(&saved, serde_json::to_string(&v).unwrap()).unwrap();
    let r = run(org.path(), &["apply", saved.to_str().unwrap()]);
    assert_eq!(r.code, 1, "{}", r.all());
    assert!(r.stderr.contains("partial"), "{}", r.stderr);
    assert!(!org.path().join(".roster/reports.jsonl").exists());
}

// ----- Ctrl-C during apply ---------------------------------------------------------

/// `n` users in one group bound to the emulator app `o365`.
fn o365_org(url: &str, n: usize) -> tempfile::TempDir {
    let mut people = String::from("users:\n");
    let mut members = Vec::new();
    for i in 0..n {
        let _ = write!(
            people,
            "  - username: u{i:04}\n    email: u{i:04}@contoso.com\n    first_name: User\n    last_name: N{i:04}\n"
        );
        members.push(format!("u{i:04}"));
    }
    let _ = write!(
        people,
        "groups:\n  - name: all\n    members: [{}]\npolicies:\n  - name: p\n    app: o365\n    groups: [all]\n",
        members.join(", ")
    );
    repo(&[
        (
            "apps.yaml",
            &crate::support::o365_app(url, "    authorized_domains: [contoso.com]\n"),
        ),
        ("people.yaml", &people),
    ])
}

fn records(dir: &std::path::Path) -> Vec<Value> {
    std::fs::read_to_string(dir.join(".roster/reports.jsonl"))
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("torn record {l:?}: {e}")))
        .collect()
}

#[test]
fn the_first_ctrl_c_finishes_what_is_in_flight_records_it_and_exits_130() {
    use std::process::{Command, Stdio};
    use std::time::{Duration, Instant};

    // The write budget runs out after 60 writes: the rest waits for the window (150 s),
    // so the apply is certainly still running when the signal comes.
    let emu = crate::support::Emulator::start(&["--writes-per-150s", "60"]);
    let n = 300;
    let org = o365_org(&emu.url, n);
    let mut child = Command::new(env!("CARGO_BIN_EXE_roster"))
        .arg("-C")
        .arg(org.path())
        .args(["apply", "--auto-approve"])
        .env_remove("RUST_LOG")
        .env("NO_COLOR", "1")
        .env(crate::support::SECRET_ENV.0, crate::support::SECRET_ENV.1)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Read both pipes all along: the plan printed first is larger than a pipe holds.
    let drain = |mut r: Box<dyn std::io::Read + Send>| {
        std::thread::spawn(move || {
            let mut s = String::new();
            r.read_to_string(&mut s).unwrap();
            s
        })
    };
    let out = drain(Box::new(child.stdout.take().unwrap()));
    let err = drain(Box::new(child.stderr.take().unwrap()));
    let start = Instant::now();
    while records(org.path()).is_empty() {
        assert!(
            child.try_wait().unwrap().is_none(),
            "the apply ended before any outcome was recorded"
        );
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "no outcome recorded in 60 s"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    let pid = i32::try_from(child.id()).unwrap();
    // SAFETY: kill(2) on our own child's pid, which has not been reaped yet.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGINT) }, 0);
    let sent = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if sent.elapsed() > Duration::from_secs(30) {
            let _ = child.kill();
            panic!("the apply did not stop within 30 s of Ctrl-C");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let stdout = out.join().unwrap();
    let stderr = err.join().unwrap();
    assert_eq!(
        status.code(),
        Some(130),
        "stdout: {stdout}\nstderr: {stderr}"
    );
    assert!(stderr.contains("Interrupted"), "{stderr}");

    // The summary matches the report log, which matches the tenant.
    let recs = records(org.path());
    let applied: Vec<&Value> = recs.iter().filter(|r| r["result"] == "applied").collect();
    let total = 1 + n + n; // the group, the users, their memberships
    assert!(applied.len() < total, "interrupted before the end");
    let not_started = total - recs.len();
    assert!(not_started > 0, "{stdout}");
    let summary = format!(
        "Apply interrupted: {} applied, {} failed, {} not attempted, {not_started} not started (of {total}).",
        applied.len(),
        recs.iter().filter(|r| r["result"] == "failed").count(),
        recs.iter().filter(|r| r["result"] == "skipped").count(),
    );
    assert!(stdout.contains(&summary), "want {summary:?} in:\n{stdout}");
    let g = emu.graph();
    let mut live: Vec<String> = g
        .list("/users?$select=userPrincipalName&$top=999")
        .iter()
        .map(|u| u["userPrincipalName"].as_str().unwrap().to_lowercase())
        .collect();
    live.sort();
    let mut created: Vec<String> = applied
        .iter()
        .filter(|r| r["object"] == "user" && r["action"] == "create")
        .map(|r| format!("{}@contoso.com", r["key"].as_str().unwrap()))
        .collect();
    created.sort();
    assert_eq!(
        live, created,
        "the users created are exactly the ones recorded"
    );
    let group_created = applied
        .iter()
        .any(|r| r["object"] == "group" && r["action"] == "create");
    assert_eq!(g.group_id("all").is_some(), group_created);
    if let Some(id) = g.group_id("all") {
        let added = applied
            .iter()
            .filter(|r| r["object"] == "membership")
            .count();
        assert_eq!(g.member_upns(&id).len(), added, "memberships as recorded");
    }
}

// ----- visible retries ---------------------------------------------------------------

#[test]
fn at_v_each_retry_says_what_it_waits_for() {
    // Every Graph request is throttled with Retry-After: 1; the waits are bounded, so
    // the read gives up after a few retries.
    let emu = crate::support::Emulator::start(&["--fault-throttle", "1"]);
    let org = o365_org(&emu.url, 2);
    let r = roster(
        org.path(),
        &["-v", "--color", "never", "plan"],
        &[
            crate::support::SECRET_ENV,
            ("ROSTER_RETRY_MAX_SECONDS", "2.5"),
        ],
    );
    assert_eq!(r.code, 1, "{}", r.all());
    let line = r
        .stderr
        .lines()
        .find(|l| l.contains("retrying GET /"))
        .unwrap_or_else(|| panic!("no retry line at -v: {}", r.stderr));
    assert!(line.contains(" in 1.0 s (HTTP 429"), "{line}");
    assert!(line.contains("attempt 2 of 100)"), "{line}");
    assert!(!line.contains("?"), "no query string in the log: {line}");
    assert!(!line.contains(crate::support::CLIENT_SECRET), "{line}");
    // Without -v the retries stay out of the output.
    let quiet = roster(
        org.path(),
        &["plan"],
        &[
            crate::support::SECRET_ENV,
            ("ROSTER_RETRY_MAX_SECONDS", "1.5"),
        ],
    );
    assert!(!quiet.stderr.contains("retrying"), "{}", quiet.stderr);
}
