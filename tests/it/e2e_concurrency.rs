//! No duplicates: two applies from two checkouts at once, and a `kill -9` followed by an
//! immediate re-run under replication lag, each leave every declared group exactly once
//! (group names are not unique in Graph; roster creates groups by upsert on an
//! alternate key derived from the name).

use crate::support;

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use support::*;

const GROUPS: usize = 20;

fn org() -> String {
    let mut s = String::from("users:\n");
    for i in 0..4 {
        let _ = write!(
            s,
            "  - username: u{i}\n    email: u{i}@contoso.com\n    first_name: User\n    last_name: N{i}\n"
        );
    }
    s.push_str("groups:\n");
    let names: Vec<String> = (0..GROUPS).map(|g| format!("team-{g:02}")).collect();
    for (g, name) in names.iter().enumerate() {
        let _ = write!(
            s,
            "  - name: {name}\n    members: [u{}, u{}]\n",
            g % 4,
            (g + 1) % 4
        );
    }
    let _ = write!(
        s,
        "policies:\n  - name: p\n    app: o365\n    groups: [{}]\n",
        names.join(", ")
    );
    s
}

fn checkout(emu: &Emulator) -> tempfile::TempDir {
    repo(&[
        (
            "apps.yaml",
            &o365_app(&emu.url, "    authorized_domains: [contoso.com]\n"),
        ),
        ("people.yaml", &org()),
    ])
}

fn spawn_apply(dir: &std::path::Path) -> Child {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_roster"));
    cmd.arg("-C")
        .arg(dir)
        .args(["apply", "--auto-approve", "--quiet"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, _) in std::env::vars_os() {
        let k = k.to_string_lossy();
        if k.starts_with("ROSTER_") {
            cmd.env_remove(&*k);
        }
    }
    cmd.env(SECRET_ENV.0, SECRET_ENV.1)
        .spawn()
        .expect("spawn roster")
}

/// displayName → how many live groups carry it.
fn group_counts(emu: &Emulator) -> BTreeMap<String, usize> {
    let mut counts = BTreeMap::new();
    for g in emu.graph().list("/groups?$select=displayName&$top=999") {
        *counts
            .entry(g["displayName"].as_str().unwrap_or("").to_string())
            .or_insert(0) += 1;
    }
    counts
}

fn assert_each_group_once(emu: &Emulator, trial: usize) {
    let counts = group_counts(emu);
    assert_eq!(counts.len(), GROUPS, "trial {trial}: {counts:?}");
    assert!(
        counts.values().all(|&n| n == 1),
        "trial {trial}: duplicates {counts:?}"
    );
}

/// Runs `trial(i)` for every `i` in `0..n`, `at_once` of them side by side (each with
/// its own emulator: the waits are the service's, not the CPU's).
fn trials(n: usize, at_once: usize, trial: impl Fn(usize) + Sync) {
    for start in (0..n).step_by(at_once) {
        std::thread::scope(|s| {
            for i in start..(start + at_once).min(n) {
                let trial = &trial;
                s.spawn(move || trial(i));
            }
        });
    }
}

#[test]
fn two_simultaneous_applies_from_two_checkouts_create_each_group_once() {
    trials(20, 4, |trial| {
        let emu = Emulator::start(&[]);
        let (a, b) = (checkout(&emu), checkout(&emu));
        let (ca, cb) = (spawn_apply(a.path()), spawn_apply(b.path()));
        let (oa, ob) = (
            ca.wait_with_output().unwrap(),
            cb.wait_with_output().unwrap(),
        );
        for o in [&oa, &ob] {
            assert!(
                o.status.success(),
                "trial {trial}: both applies succeed:\n{}\n{}",
                String::from_utf8_lossy(&o.stdout),
                String::from_utf8_lossy(&o.stderr)
            );
        }
        assert_each_group_once(&emu, trial);
        let plan = roster(a.path(), &["plan", "--detailed-exitcode"], &[SECRET_ENV]);
        assert_eq!(plan.code, 0, "trial {trial}: converged\n{}", plan.all());
    });
}

#[test]
fn kill_9_then_an_immediate_rerun_under_replication_lag_creates_each_group_once() {
    trials(10, 5, |trial| {
        let emu = Emulator::start(&["--replication-lag-ms", "800"]);
        let dir = checkout(&emu);
        let mut child = spawn_apply(dir.path());
        // Kill at a different point each trial: from the first group create on.
        let start = Instant::now();
        let wait = Duration::from_millis(15 * trial as u64);
        loop {
            let created = emu.stats()["writes"].as_u64().unwrap_or(0);
            if (created > 0 && start.elapsed() >= wait)
                || start.elapsed() > Duration::from_secs(30)
                || child.try_wait().unwrap().is_some()
            {
                break;
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        let _ = child.kill();
        let _ = child.wait();
        let again = roster(
            dir.path(),
            &["apply", "--auto-approve", "--quiet"],
            &[SECRET_ENV],
        );
        assert_eq!(
            again.code,
            0,
            "trial {trial}: the re-run finishes\n{}",
            again.all()
        );
        // Let every object replicate, then count.
        std::thread::sleep(Duration::from_millis(900));
        assert_each_group_once(&emu, trial);
    });
}

/// A duplicate of a group's name that roster created (it carries a roster key) and
/// that holds no members is planned for removal and removed by its own id; one that
/// someone else created is reported and left alone.
#[test]
fn an_empty_duplicate_roster_created_is_removed_and_a_foreign_one_is_kept() {
    let emu = Emulator::start(&[]);
    let dir = repo(&[
        (
            "apps.yaml",
            &o365_app(
                &emu.url,
                "    authorized_domains: [contoso.com]\n    switches: { delete_groups: true }\n",
            ),
        ),
        ("people.yaml", &org()),
    ]);
    let first = roster(
        dir.path(),
        &["apply", "--auto-approve", "--quiet"],
        &[SECRET_ENV],
    );
    assert_eq!(first.code, 0, "{}", first.all());
    let graph = emu.graph();
    let managed = graph.group_id("team-03").expect("team-03 exists");
    // A roster-keyed duplicate (as one created under another key and renamed would be)
    // and a foreign one, both without members.
    let mut ids = Vec::new();
    for key in [
        Some(roster::observed::roster_group_key("team-03 (old)")),
        None,
    ] {
        let mut body = serde_json::json!({
            "displayName": "team-03", "mailEnabled": false, "mailNickname": "t3dup",
            "securityEnabled": true,
        });
        if let Some(k) = key {
            body["uniqueName"] = serde_json::Value::String(k);
        }
        let (status, g) = graph.call("POST", "/groups", Some(body));
        assert_eq!(status, 201, "{g}");
        ids.push(g["id"].as_str().unwrap().to_string());
    }
    let plan = roster(dir.path(), &["plan", "--format", "json"], &[SECRET_ENV]);
    let v: serde_json::Value = serde_json::from_str(&plan.stdout).expect("json plan");
    let changes = v["changes"].as_array().unwrap();
    assert_eq!(changes.len(), 1, "{}", plan.stdout);
    assert_eq!(changes[0]["action"], "delete");
    assert_eq!(changes[0]["id"], ids[0].as_str());
    assert!(
        plan.stdout
            .contains("left alone (roster did not create it)")
    );
    let apply = roster(
        dir.path(),
        &["apply", "--auto-approve", "--quiet"],
        &[SECRET_ENV],
    );
    assert_eq!(apply.code, 0, "{}", apply.all());
    let left: Vec<String> = graph
        .list("/groups?$filter=displayName eq 'team-03'&$select=id")
        .iter()
        .map(|g| g["id"].as_str().unwrap().to_string())
        .collect();
    let mut want = vec![managed, ids[1].clone()];
    want.sort();
    let mut left = left;
    left.sort();
    assert_eq!(
        left, want,
        "the managed group and the foreign duplicate remain"
    );
    let again = roster(dir.path(), &["plan", "--detailed-exitcode"], &[SECRET_ENV]);
    assert_eq!(again.code, 0, "{}", again.all());
}
