//! Resilience end to end: a flaky service (10% faults) and a `kill -9` in the middle of
//! a large apply. Either way a rerun converges to exactly the declared objects, and
//! the report log stays valid JSON line by line.

use crate::support;

use std::fmt::Write as _;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use support::*;

fn env() -> Vec<(&'static str, &'static str)> {
    vec![SECRET_ENV]
}

fn org(n: usize) -> String {
    let mut s = String::from("users:\n");
    let mut members = Vec::new();
    for i in 0..n {
        let _ = write!(
            s,
            "  - username: u{i:04}\n    email: u{i:04}@contoso.com\n    first_name: User\n    last_name: N{i:04}\n"
        );
        members.push(format!("u{i:04}"));
    }
    let _ = write!(
        s,
        "groups:\n  - name: all\n    members: [{}]\npolicies:\n  - name: p\n    app: o365\n    groups: [all]\n",
        members.join(", ")
    );
    s
}

fn report_lines(repo: &std::path::Path) -> Vec<serde_json::Value> {
    let text = std::fs::read_to_string(repo.join(".roster/reports.jsonl")).unwrap_or_default();
    text.lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("torn report line {l:?}: {e}")))
        .collect()
}

fn assert_exactly_declared(emu: &Emulator, n: usize) {
    let g = emu.graph();
    let users = g.list("/users?$select=userPrincipalName&$top=999");
    let mut upns: Vec<String> = users
        .iter()
        .map(|u| u["userPrincipalName"].as_str().unwrap().to_lowercase())
        .collect();
    upns.sort();
    let total = upns.len();
    upns.dedup();
    assert_eq!(total, upns.len(), "no duplicate users");
    assert_eq!(total, n, "exactly the declared users");
    let groups = g.list("/groups?$select=displayName&$top=999");
    assert_eq!(groups.len(), 1, "exactly one group: {groups:?}");
    let all = g.group_id("all").unwrap();
    assert_eq!(g.member_upns(&all).len(), n);
}

#[test]
fn a_flaky_service_is_reported_precisely_and_two_more_applies_finish() {
    let emu = Emulator::start(&["--fault-rate", "0.1", "--seed", "11"]);
    let n = 60;
    let repo = repo(&[
        (
            "apps.yaml",
            &o365_app(&emu.url, "    authorized_domains: [contoso.com]\n"),
        ),
        ("people.yaml", &org(n)),
    ]);
    let mut runs = 0;
    loop {
        runs += 1;
        let before = report_lines(repo.path()).len();
        let run = roster(repo.path(), &["apply", "--auto-approve"], &env());
        let new = &report_lines(repo.path())[before..];
        // Precise: every FAILED line printed is a failed record in the report, and back.
        let printed_failures = run
            .stdout
            .lines()
            .filter(|l| l.trim_start().starts_with("FAILED"))
            .count();
        let logged_failures = new.iter().filter(|r| r["result"] == "failed").count();
        assert_eq!(printed_failures, logged_failures, "{}", run.all());
        if run.code == 0 {
            break;
        }
        assert!(
            run.stdout.contains("FAILED")
                || run.stdout.contains("SKIPPED")
                || run.stderr.contains("error"),
            "a failing apply says what failed: {}",
            run.all()
        );
        assert!(
            runs < 3,
            "at most two more applies finish the job:\n{}",
            run.all()
        );
    }
    assert_eq!(
        roster(repo.path(), &["plan", "--detailed-exitcode"], &env()).code,
        0
    );
    assert_exactly_declared(&emu, n);
}

#[test]
fn kill_9_in_the_middle_of_a_large_apply_then_apply_again_converges() {
    let emu = Emulator::start(&[]);
    let n = 2000;
    let repo = repo(&[
        (
            "apps.yaml",
            &o365_app(&emu.url, "    authorized_domains: [contoso.com]\n"),
        ),
        ("people.yaml", &org(n)),
    ]);
    let mut child = Command::new(env!("CARGO_BIN_EXE_roster"))
        .arg("-C")
        .arg(repo.path())
        .args(["apply", "--auto-approve", "--quiet"])
        .env(SECRET_ENV.0, SECRET_ENV.1)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Wait until part of the work is done (some outcomes recorded), then kill -9.
    let start = Instant::now();
    loop {
        let written = std::fs::read_to_string(repo.path().join(".roster/reports.jsonl"))
            .map(|t| t.lines().count())
            .unwrap_or(0);
        if written >= 100 || start.elapsed() > Duration::from_secs(120) {
            break;
        }
        if child.try_wait().unwrap().is_some() {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    let status = child.wait().unwrap();
    let done_before = report_lines(repo.path()).len();
    assert!(done_before > 0, "some changes were applied before the kill");
    assert!(!status.success(), "killed mid-way, not finished");

    let again = roster(repo.path(), &["apply", "--auto-approve", "--quiet"], &env());
    assert_eq!(again.code, 0, "{}", again.all());
    assert_eq!(
        roster(repo.path(), &["plan", "--detailed-exitcode"], &env()).code,
        0
    );
    assert_exactly_declared(&emu, n);
    // Every line of the report log is a whole JSON record (report_lines panics otherwise).
    let all = report_lines(repo.path());
    assert!(
        all.len() > done_before,
        "the second run's changes are reported too"
    );
}
