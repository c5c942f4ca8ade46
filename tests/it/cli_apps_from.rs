//! `--apps-from REV`: app settings (endpoints, credentials) come from a trusted
//! revision, so a pull request that edits them cannot send credentials to a host of
//! its choosing when its plan runs.

use crate::support::*;

const PEOPLE: &str = "users:\n  - username: alice\n    email: alice@contoso.com\n    first_name: Alice\n    last_name: Smith\ngroups:\n  - name: all\n    members: [alice]\npolicies:\n  - name: p\n    app: o365\n    groups: [all]\n";

/// A repository whose committed apps point at `trusted`; the working tree's at `other`.
fn pr_repo(trusted: &str, other: &str) -> tempfile::TempDir {
    let repo = repo(&[
        ("apps.yaml", &o365_app(trusted, "")),
        ("people.yaml", PEOPLE),
    ]);
    git(repo.path(), &["init", "-q", "-b", "main"]);
    git(repo.path(), &["add", "."]);
    git(repo.path(), &["commit", "-q", "-m", "base"]);
    std::fs::write(repo.path().join("apps.yaml"), o365_app(other, "")).unwrap();
    repo
}

fn contacted(emu: &Emulator) -> u64 {
    let s = emu.stats();
    s["requests"].as_u64().unwrap() + s["token_requests"].as_u64().unwrap()
}

#[test]
fn a_pull_request_that_redirects_the_endpoints_reaches_only_the_trusted_tenant() {
    let trusted = Emulator::start(&[]);
    let attacker = Emulator::start(&[]);
    let repo = pr_repo(&trusted.url, &attacker.url);

    let run = roster(
        repo.path(),
        &["plan", "--apps-from", "HEAD", "--format", "json"],
        &[SECRET_ENV],
    );
    assert_eq!(run.code, 0, "{}", run.all());
    assert_eq!(contacted(&attacker), 0, "the attacker's host got nothing");
    assert!(contacted(&trusted) > 0, "the trusted tenant was read");
    let plan: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(plan["warnings"][0]["app"], "o365");
    assert!(
        plan["warnings"][0]["message"].as_str().unwrap().contains(
            "this change edits the settings of app o365; this plan uses its settings at HEAD"
        ),
        "{}",
        run.stdout
    );
    // The plan itself is what the people change asks for, on the trusted tenant.
    assert_eq!(plan["summary"]["create"], 2, "{}", run.stdout);

    // Without the flag the working tree's endpoints are used: the check above can fail.
    let run = roster(repo.path(), &["plan"], &[SECRET_ENV]);
    assert_eq!(run.code, 0, "{}", run.all());
    assert!(contacted(&attacker) > 0);
}

#[test]
fn an_app_added_by_the_change_is_not_planned_until_merged() {
    let trusted = Emulator::start(&[]);
    let attacker = Emulator::start(&[]);
    let repo = pr_repo(&trusted.url, &trusted.url);
    let added = format!(
        "{}  - name: extra\n    type: office365\n    tenant: {TENANT}\n    client_id: {CLIENT_ID}\n    credentials:\n      client_secret: {{ env: ROSTER_TEST_SECRET }}\n    graph_url: {u}\n    login_url: {u}\n",
        o365_app(&trusted.url, ""),
        u = attacker.url
    );
    std::fs::write(repo.path().join("apps.yaml"), added).unwrap();
    std::fs::write(
        repo.path().join("extra.yaml"),
        "policies:\n  - name: q\n    app: extra\n    groups: [all]\n",
    )
    .unwrap();

    let run = roster(repo.path(), &["plan", "--apps-from", "main"], &[SECRET_ENV]);
    assert_eq!(run.code, 0, "{}", run.all());
    assert_eq!(contacted(&attacker), 0);
    assert!(
        run.stdout
            .contains("app extra is new in this change and is not planned"),
        "{}",
        run.stdout
    );
}

#[test]
fn an_unknown_trusted_revision_is_an_error() {
    let emu = Emulator::start(&[]);
    let repo = pr_repo(&emu.url, &emu.url);
    let run = roster(
        repo.path(),
        &["drift", "--apps-from", "nope"],
        &[SECRET_ENV],
    );
    assert_eq!(run.code, 1, "{}", run.all());
    assert!(run.stderr.contains("nope"), "{}", run.stderr);
    assert_eq!(contacted(&emu), 0);
}
