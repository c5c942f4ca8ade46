//! Safe unattended operation, end to end against the standalone Graph emulator: the
//! deletion guard, partial failure with a report per change, the apply lock, and the
//! refusal to act on a scope that came back empty after roster had populated it.

use crate::support;

use std::fmt::Write as _;

use support::*;

fn env() -> Vec<(&'static str, &'static str)> {
    vec![SECRET_ENV]
}

/// `n` users u00.. in group `all`, bound to the app.
fn org(n: usize, extra_users: &str, extra_members: &str) -> String {
    let mut s = String::from("users:\n");
    let mut members = Vec::new();
    for i in 0..n {
        let _ = write!(
            s,
            "  - username: u{i:02}\n    email: u{i:02}@contoso.com\n    first_name: User\n    last_name: N{i:02}\n"
        );
        members.push(format!("u{i:02}"));
    }
    s.push_str(extra_users);
    if !extra_members.is_empty() {
        members.push(extra_members.to_string());
    }
    let _ = write!(
        s,
        "groups:\n  - name: all\n    members: [{}]\npolicies:\n  - name: p\n    app: o365\n    groups: [all]\n",
        members.join(", ")
    );
    s
}

#[test]
fn the_deletion_guard_refuses_until_allow_deletes_covers_it() {
    let emu = Emulator::start(&[]);
    let app = o365_app(
        &emu.url,
        "    authorized_domains: [contoso.com]\n    switches: { delete_users: true }\n    max_deletes: 5\n",
    );
    let repo = repo(&[("apps.yaml", &app), ("people.yaml", &org(40, "", ""))]);
    assert_eq!(
        roster(repo.path(), &["apply", "--auto-approve"], &env()).code,
        0
    );

    // 30 of the 40 leave the repository.
    std::fs::write(repo.path().join("people.yaml"), org(10, "", "")).unwrap();
    let plan = roster(repo.path(), &["plan"], &env());
    assert_eq!(plan.code, 0, "{}", plan.all());
    assert!(
        plan.all().contains("DELETION GUARD"),
        "plan shows the guard prominently: {}",
        plan.all()
    );

    let writes = emu.stats()["writes"].as_u64().unwrap();
    let refused = roster(repo.path(), &["apply", "--auto-approve"], &env());
    assert_eq!(refused.code, 1, "{}", refused.all());
    assert!(
        refused.stderr.contains("--allow-deletes 30"),
        "{}",
        refused.all()
    );
    assert_eq!(
        emu.stats()["writes"].as_u64().unwrap(),
        writes,
        "nothing deleted"
    );
    let g = emu.graph();
    assert!(g.user("u39@contoso.com").is_some());

    let too_few = roster(
        repo.path(),
        &["apply", "--auto-approve", "--allow-deletes", "29"],
        &env(),
    );
    assert_eq!(too_few.code, 1, "{}", too_few.all());
    assert!(g.user("u39@contoso.com").is_some());

    let allowed = roster(
        repo.path(),
        &["apply", "--auto-approve", "--allow-deletes", "30"],
        &env(),
    );
    assert_eq!(allowed.code, 0, "{}", allowed.all());
    assert!(g.user("u39@contoso.com").is_none());
    assert!(g.user("u09@contoso.com").is_some());
}

#[test]
fn one_failure_does_not_block_the_others_and_every_outcome_is_reported() {
    // fabrikam.com is authorized in the repository but not a verified domain of the
    // tenant: Graph refuses to create such a user, and only that user.
    let emu = Emulator::start(&[]);
    let app = o365_app(
        &emu.url,
        "    authorized_domains: [contoso.com, fabrikam.com]\n",
    );
    let bad =
        "  - username: zed\n    email: zed@fabrikam.com\n    first_name: Zed\n    last_name: Bad\n";
    let repo = repo(&[("apps.yaml", &app), ("people.yaml", &org(5, bad, "zed"))]);

    let first = roster(repo.path(), &["apply", "--auto-approve"], &env());
    assert_eq!(first.code, 1, "a partial failure exits 1: {}", first.all());
    assert!(first.stdout.contains("FAILED"), "{}", first.all());
    assert!(first.stdout.contains("zed"), "{}", first.all());
    assert!(
        first.stdout.contains("request-id"),
        "failures carry the request id: {}",
        first.all()
    );
    let g = emu.graph();
    for i in 0..5 {
        assert!(
            g.user(&format!("u{i:02}@contoso.com")).is_some(),
            "u{i:02} was created"
        );
    }

    let report = roster(repo.path(), &["report", "--format", "json"], &env());
    let rows: serde_json::Value = serde_json::from_str(&report.stdout).unwrap();
    let rows = rows.as_array().unwrap();
    let zed_create = rows
        .iter()
        .find(|r| r["key"] == "zed" && r["action"] == "create")
        .expect("zed's create is in the report");
    assert_eq!(zed_create["result"], "failed");
    assert!(zed_create["request_id"].is_string());
    let zed_member = rows
        .iter()
        .find(|r| r["key"] == "all/zed")
        .expect("zed's membership is in the report");
    assert_eq!(
        zed_member["result"], "skipped",
        "not attempted: its user failed"
    );

    // Filtering the report by result works as the seed's report does.
    let failed = roster(
        repo.path(),
        &["report", "--result", "failed", "--format", "csv"],
        &env(),
    );
    assert_eq!(
        failed.stdout.lines().count(),
        2,
        "header + zed: {}",
        failed.stdout
    );

    // Apply again: only zed's changes remain, and nothing is duplicated.
    let second = roster(repo.path(), &["apply", "--auto-approve"], &env());
    assert_eq!(second.code, 1, "{}", second.all());
    let users = g.list("/users?$select=userPrincipalName&$top=999");
    assert_eq!(users.len(), 5, "no duplicates: {users:?}");
}

#[test]
fn a_second_apply_from_the_same_repository_is_refused_while_one_runs() {
    let emu = Emulator::start(&[]);
    let app = o365_app(&emu.url, "    authorized_domains: [contoso.com]\n");
    let repo = repo(&[("apps.yaml", &app), ("people.yaml", &org(3, "", ""))]);
    std::fs::create_dir_all(repo.path().join(".roster")).unwrap();
    let lock = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(repo.path().join(".roster/apply.lock"))
        .unwrap();
    lock.try_lock().expect("the test holds the lock");
    let refused = roster(repo.path(), &["apply", "--auto-approve"], &env());
    assert_eq!(refused.code, 1, "{}", refused.all());
    assert!(
        refused.stderr.contains("another apply"),
        "{}",
        refused.all()
    );
    assert_eq!(emu.stats()["writes"], 0);
    drop(lock);
    assert_eq!(
        roster(repo.path(), &["apply", "--auto-approve"], &env()).code,
        0
    );
}

#[test]
fn apply_without_a_terminal_needs_auto_approve() {
    let emu = Emulator::start(&[]);
    let app = o365_app(&emu.url, "    authorized_domains: [contoso.com]\n");
    let repo = repo(&[("apps.yaml", &app), ("people.yaml", &org(2, "", ""))]);
    let run = roster(repo.path(), &["apply"], &env());
    assert_eq!(run.code, 1, "{}", run.all());
    assert!(run.stderr.contains("--auto-approve"), "{}", run.all());
    assert_eq!(emu.stats()["writes"], 0);
}

#[test]
fn a_missing_secret_is_named_without_a_value_and_nothing_is_read() {
    let emu = Emulator::start(&[]);
    let app = o365_app(&emu.url, "    authorized_domains: [contoso.com]\n");
    let repo = repo(&[("apps.yaml", &app), ("people.yaml", &org(2, "", ""))]);
    let run = roster(repo.path(), &["plan"], &[]);
    assert_eq!(run.code, 1, "{}", run.all());
    assert!(
        run.stderr.contains("ROSTER_TEST_SECRET"),
        "names the variable: {}",
        run.all()
    );
    let wrong = roster(
        repo.path(),
        &["plan"],
        &[("ROSTER_TEST_SECRET", "not-the-secret-xyz")],
    );
    assert_eq!(wrong.code, 1, "{}", wrong.all());
    assert!(
        wrong.stderr.contains("AADSTS"),
        "shows the service's error: {}",
        wrong.all()
    );
    assert!(
        !wrong.all().contains("not-the-secret-xyz"),
        "never echoes a secret"
    );
}

#[test]
fn a_populated_scope_that_reads_as_empty_is_refused_not_obeyed() {
    let state_dir = tempfile::tempdir().unwrap();
    let state = state_dir.path().join("tenant.json");
    let state_arg = state.to_str().unwrap();
    let emu = Emulator::start(&["--state", state_arg]);
    let app = o365_app(
        &emu.url,
        "    authorized_domains: [contoso.com]\n    switches: { delete_users: true }\n",
    );
    let repo = repo(&[("apps.yaml", &app), ("people.yaml", &org(10, "", ""))]);
    assert_eq!(
        roster(repo.path(), &["apply", "--auto-approve"], &env()).code,
        0
    );
    emu.terminate();
    // The fault empties listings, which only a full read makes. The snapshot is
    // keyed by the service URL, and the OS may hand the next emulator the same port:
    // without this, the read could be incremental (from the delta links) and never
    // list users at all. The read counts the guard compares with stay.
    let cache = repo.path().join(".roster/cache");
    for entry in std::fs::read_dir(&cache).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "snapshot") {
            std::fs::remove_file(path).unwrap();
        }
    }
    assert!(cache.join("read-counts.json").exists());

    // The same tenant, now answering user listings with nothing.
    let emu = Emulator::start(&["--state", state_arg, "--fault-empty-user-lists"]);
    let app = o365_app(
        &emu.url,
        "    authorized_domains: [contoso.com]\n    switches: { delete_users: true }\n",
    );
    std::fs::write(repo.path().join("apps.yaml"), app).unwrap();
    for cmd in [
        &["plan"][..],
        &["drift"][..],
        &["apply", "--auto-approve"][..],
    ] {
        let run = roster(repo.path(), cmd, &env());
        assert_eq!(run.code, 1, "{cmd:?}: {}", run.all());
        assert!(
            run.stderr.contains("returned no users"),
            "{cmd:?}: {}",
            run.all()
        );
    }
    assert_eq!(
        emu.stats()["writes"],
        0,
        "nothing was written from the empty read"
    );
}

#[test]
fn a_first_apply_whose_creates_all_failed_does_not_lock_the_repository_out() {
    // Every user is in fabrikam.com: authorized in the repository but not a verified
    // domain of the tenant, so Graph refuses each create.
    let emu = Emulator::start(&[]);
    let app = o365_app(&emu.url, "    authorized_domains: [fabrikam.com]\n");
    let mut people = String::from("users:\n");
    for i in 0..3 {
        let _ = write!(
            people,
            "  - username: f{i}\n    email: f{i}@fabrikam.com\n    first_name: F\n    last_name: N{i}\n"
        );
    }
    people.push_str("groups:\n  - name: all\n    members: [f0, f1, f2]\npolicies:\n  - name: p\n    app: o365\n    groups: [all]\n");
    let repo = repo(&[("apps.yaml", &app), ("people.yaml", &people)]);

    let first = roster(repo.path(), &["apply", "--auto-approve"], &env());
    assert_eq!(first.code, 1, "{}", first.all());
    assert_eq!(first.stdout.matches("FAILED").count(), 3, "{}", first.all());

    // The read guard remembers what the apply did, not what it planned: the tenant
    // still has no users, and planning the creates again is not a suspicious read.
    let again = roster(repo.path(), &["plan"], &env());
    assert_eq!(again.code, 0, "{}", again.all());
    assert!(
        again.stdout.contains("f0") && !again.all().contains("refusing"),
        "{}",
        again.all()
    );
}
