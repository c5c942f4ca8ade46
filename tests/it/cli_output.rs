//! Output nobody reads: with standard output closed early (a pipe to `head`, a log
//! collector that went away), commands end normally instead of panicking, and `apply`
//! still carries out and records every change.

use std::fmt::Write as _;
use std::io::{BufRead, BufReader, Read};
use std::process::{Command, Stdio};

use crate::support::{repo, roster};

/// A sandbox tenant (the in-process emulator) and `n` users in a bound group.
fn sandbox_org(n: usize) -> tempfile::TempDir {
    let apps = "apps:\n  - name: sandbox\n    type: office365\n    sandbox: .roster/tenant.json\n    authorized_domains: [example.com]\n";
    let mut people = String::from("users:\n");
    let mut members = Vec::new();
    for i in 0..n {
        let _ = write!(
            people,
            "  - username: u{i:04}\n    email: u{i:04}@example.com\n    first_name: User\n    last_name: N{i:04}\n"
        );
        members.push(format!("u{i:04}"));
    }
    let _ = write!(
        people,
        "groups:\n  - name: all\n    members: [{}]\npolicies:\n  - name: p\n    app: sandbox\n    groups: [all]\n",
        members.join(", ")
    );
    repo(&[("apps.yaml", apps), ("people.yaml", &people)])
}

fn roster_cmd(dir: &std::path::Path, args: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_roster"));
    cmd.arg("-C").arg(dir).args(args).stdin(Stdio::null());
    cmd.env_remove("RUST_LOG").env("NO_COLOR", "1");
    cmd
}

#[test]
fn apply_with_stdout_closed_after_two_outcomes_applies_and_records_every_change() {
    let n = 1500;
    let org = sandbox_org(n);
    // 1,500 user creates, one group create and 1,500 member adds.
    let expected = 2 * n + 1;

    let mut child = roster_cmd(org.path(), &["apply", "--auto-approve"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start roster");
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut outcomes = 0;
    let mut line = String::new();
    while outcomes < 2 {
        line.clear();
        let read = stdout.read_line(&mut line).expect("read roster's output");
        assert!(read > 0, "roster ended before printing two outcomes");
        if line.starts_with("  ok ") {
            outcomes += 1;
        }
    }
    drop(stdout); // the reader goes away: every later write to stdout fails
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    let status = child.wait().unwrap();

    assert_eq!(status.code(), Some(0), "stderr: {stderr}");
    assert!(!stderr.contains("panicked"), "stderr: {stderr}");
    assert!(
        stderr.contains("standard output was closed during the apply"),
        "says where the outcomes went: {stderr}"
    );

    let log = std::fs::read_to_string(org.path().join(".roster/reports.jsonl")).unwrap();
    let records: Vec<serde_json::Value> = log
        .lines()
        .map(|l| serde_json::from_str(l).expect("every report line is JSON"))
        .collect();
    assert_eq!(records.len(), expected, "one record per change");
    assert!(
        records.iter().all(|r| r["result"] == "applied"),
        "every change applied"
    );

    let again = roster(org.path(), &["plan"], &[]);
    assert_eq!(again.code, 0, "{}", again.all());
    assert!(again.stdout.contains("No changes"), "{}", again.all());
}

#[test]
fn read_only_commands_end_quietly_when_stdout_is_closed() {
    let org = sandbox_org(300);
    for args in [
        &["plan"][..],
        &["plan", "--format", "json"],
        &["schema"],
        &["validate", "--format", "json"],
    ] {
        let out = roster_cmd(org.path(), args)
            .stdout(Stdio::from(closed_pipe()))
            .stderr(Stdio::piped())
            .output()
            .expect("run roster");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(0), "{args:?}: {stderr}");
        assert!(stderr.is_empty(), "{args:?} is quiet about it: {stderr}");
    }
}

/// The write end of a pipe whose read end is already closed.
fn closed_pipe() -> std::fs::File {
    let mut fds = [0; 2];
    // SAFETY: pipe(2) fills two fresh descriptors; each is owned by exactly one File.
    unsafe {
        assert_eq!(libc::pipe(fds.as_mut_ptr()), 0);
        drop(<std::fs::File as std::os::fd::FromRawFd>::from_raw_fd(
            fds[0],
        ));
        <std::fs::File as std::os::fd::FromRawFd>::from_raw_fd(fds[1])
    }
}
