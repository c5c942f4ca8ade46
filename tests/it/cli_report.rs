//! `roster report` over the logs of several applies: each record names who applied it
//! and from which CI run, updates carry the values they changed, and logs from several
//! places (files, folders of downloaded artifacts) read as one history.

use std::path::Path;

use serde_json::Value;

use crate::support::roster;

/// The quickstart example (a sandbox tenant, no credentials) in a fresh folder.
fn quickstart() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/quickstart");
    for entry in std::fs::read_dir(example).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), dir.path().join(entry.file_name())).unwrap();
    }
    dir
}

/// The environment of a GitHub Actions job.
fn actions_env<'a>(actor: &'a str, run: &'a str, attempt: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![
        ("GITHUB_ACTIONS", "true"),
        ("GITHUB_ACTOR", actor),
        ("GITHUB_SERVER_URL", "https://github.com"),
        ("GITHUB_REPOSITORY", "acme/people"),
        ("GITHUB_RUN_ID", run),
        ("GITHUB_RUN_ATTEMPT", attempt),
    ]
}

fn json_lines(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON record"))
        .collect()
}

#[test]
fn entries_from_two_runs_are_queried_together_with_actor_and_run_url() {
    let repo = quickstart();
    let artifacts = tempfile::tempdir().unwrap();
    let first_log = artifacts.path().join("roster-report-111-1/reports.jsonl");

    // Run 1: ROSTER_ACTOR names the person even in Actions.
    let mut env = actions_env("ci-bot", "111", "1");
    env.push(("ROSTER_ACTOR", "alice-admin"));
    let first = roster(
        repo.path(),
        &[
            "apply",
            "--auto-approve",
            "--report-log",
            first_log.to_str().unwrap(),
        ],
        &env,
    );
    assert_eq!(first.code, 0, "{}", first.all());
    let first_records = json_lines(&first_log);
    assert!(first_records.len() > 5, "{first_records:?}");
    assert!(
        first_records.iter().all(|r| r["actor"] == "alice-admin"
            && r["run_url"] == "https://github.com/acme/people/actions/runs/111"
            && r["run_attempt"] == 1),
        "{first_records:?}"
    );

    // Run 2, elsewhere: alice moves to Marketing; the actor is the Actions user.
    let users = repo.path().join("users.yaml");
    let text = std::fs::read_to_string(&users).unwrap();
    let moved = text.replacen("department: Sales", "department: Marketing", 1);
    assert_ne!(text, moved);
    std::fs::write(&users, moved).unwrap();
    let elsewhere = tempfile::tempdir().unwrap();
    let second_log = elsewhere.path().join("second.jsonl");
    let second = roster(
        repo.path(),
        &[
            "apply",
            "--auto-approve",
            "--report-log",
            second_log.to_str().unwrap(),
        ],
        &actions_env("bob-ci", "222", "2"),
    );
    assert_eq!(second.code, 0, "{}", second.all());
    assert_eq!(json_lines(&second_log).len(), 1, "one update");

    // The first artifact downloaded twice: its records must count once.
    let dup = artifacts.path().join("again/roster-report-111-1");
    std::fs::create_dir_all(&dup).unwrap();
    std::fs::copy(&first_log, dup.join("reports.jsonl")).unwrap();

    let query = |format: &str, extra: &[&str]| {
        let mut args = vec![
            "report",
            "--report-log",
            artifacts.path().to_str().unwrap(),
            "--report-log",
            second_log.to_str().unwrap(),
            "--format",
            format,
        ];
        args.extend_from_slice(extra);
        let out = roster(repo.path(), &args, &[]);
        assert_eq!(out.code, 0, "{}", out.all());
        out.stdout
    };

    let rows: Vec<Value> = serde_json::from_str(&query("json", &[])).unwrap();
    assert_eq!(
        rows.len(),
        first_records.len() + 1,
        "repeats dropped: {rows:#?}"
    );
    let times: Vec<&str> = rows.iter().map(|r| r["time"].as_str().unwrap()).collect();
    let mut sorted = times.clone();
    sorted.sort();
    assert_eq!(times, sorted, "ordered by time");
    let last = rows.last().unwrap();
    assert_eq!(last["key"], "alice");
    assert_eq!(last["action"], "update");
    assert_eq!(last["actor"], "bob-ci");
    assert_eq!(
        last["run_url"],
        "https://github.com/acme/people/actions/runs/222"
    );
    assert_eq!(last["run_attempt"], 2);
    assert_eq!(last["changes"]["department"]["old"], "Sales");
    assert_eq!(last["changes"]["department"]["new"], "Marketing");
    assert!(
        rows[..rows.len() - 1]
            .iter()
            .all(|r| r["actor"] == "alice-admin"),
        "{rows:#?}"
    );

    let csv = query("csv", &["--user", "alice"]);
    let mut lines = csv.lines();
    let header = lines.next().unwrap();
    assert_eq!(
        header,
        "time,app,object,key,action,result,actor,run,commit,request_id,changes,error"
    );
    let update = csv
        .lines()
        .find(|l| l.contains(",update,"))
        .unwrap_or_else(|| panic!("the update is in the CSV:\n{csv}"));
    assert!(
        update.contains(",bob-ci,https://github.com/acme/people/actions/runs/222/attempts/2,"),
        "{update}"
    );
    assert!(
        update.contains("department: Sales -> Marketing"),
        "{update}"
    );
    assert!(
        csv.lines()
            .any(|l| l.contains(",user,alice,create,applied,alice-admin,https://github.com/acme/people/actions/runs/111/attempts/1,")),
        "alice's create from the first run:\n{csv}"
    );

    let table = query("table", &["--user", "alice", "--action", "update"]);
    assert!(table.starts_with("time "), "{table}");
    assert!(table.contains("bob-ci"), "{table}");
    assert!(table.contains("department: Sales -> Marketing"), "{table}");
    assert!(!table.contains("alice-admin"), "{table}");
}

#[test]
fn a_local_apply_records_the_os_user_and_no_run() {
    let repo = quickstart();
    // Empty counts as unset: whatever the test host runs in, this apply is local.
    let env = [
        ("GITHUB_ACTIONS", ""),
        ("GITHUB_ACTOR", ""),
        ("USER", "carol-local"),
    ];
    let out = roster(repo.path(), &["apply", "--auto-approve"], &env);
    assert_eq!(out.code, 0, "{}", out.all());
    let rows: Vec<Value> =
        serde_json::from_str(&roster(repo.path(), &["report", "--format", "json"], &[]).stdout)
            .unwrap();
    assert!(!rows.is_empty());
    for r in &rows {
        assert_eq!(r["actor"], "carol-local", "{r}");
        assert!(r.get("run_url").is_none(), "{r}");
    }
}

#[test]
fn a_report_log_that_does_not_exist_is_named() {
    let repo = quickstart();
    let out = roster(
        repo.path(),
        &["report", "--report-log", "nowhere/artifacts"],
        &[],
    );
    assert_eq!(out.code, 1, "{}", out.all());
    assert!(out.stderr.contains("nowhere/artifacts"), "{}", out.all());
    assert!(!out.all().contains("panicked"), "{}", out.all());
}
