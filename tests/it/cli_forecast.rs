//! `roster forecast`: the dated changes from the repository alone (no credentials,
//! no live state), date by date, in text, JSON and Markdown.

use serde_json::Value;

use crate::support::*;

const REPO: &str = "apps:
  - name: o365
    type: office365
    tenant: contoso.onmicrosoft.com
    client_id: 00000000-0000-0000-0000-000000000001
    credentials: { client_secret: { env: NOT_SET_ANYWHERE } }
    switches: { delete_users: true }
    joiner: { provision_days_before_start: 3 }
    leaver: { remove_access_after_days: 7, delete_after_days: 30 }
users:
  - { username: alice, email: alice@contoso.com, first_name: A, last_name: S }
  - { username: lee, email: lee@contoso.com, first_name: L, last_name: L, end_date: 2027-03-31 }
  - { username: jo, email: jo@contoso.com, first_name: J, last_name: J, start_date: 2027-05-03 }
  - { username: out, email: out@contoso.com, first_name: O, last_name: O, end_date: 2027-04-01 }
groups:
  - name: staff
    members: [alice, lee, jo]
  - name: project
memberships:
  - { group: project, users: [alice], expires: 2027-04-15 }
policies:
  - { name: p, app: o365, groups: [staff, project] }
";

#[test]
fn forecast_lists_exactly_the_leaver_steps_joiners_and_expiries_by_date() {
    let repo = repo(&[("repo.yaml", REPO)]);
    let run = roster(
        repo.path(),
        &[
            "forecast",
            "--from",
            "2027-03-01",
            "--until",
            "2027-05-01",
            "--format",
            "json",
        ],
        &[],
    );
    assert_eq!(run.code, 0, "{}", run.all());
    let v: Value = serde_json::from_str(&run.stdout).unwrap();
    let got: Vec<String> = v["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            format!(
                "{} {} {} {}",
                e["date"].as_str().unwrap(),
                e["app"].as_str().unwrap_or("-"),
                e["action"].as_str().unwrap(),
                e["key"].as_str().unwrap()
            )
        })
        .collect();
    // `out` is bound by no policy: nothing for it.
    assert_eq!(
        got,
        [
            "2027-03-31 o365 disable lee",
            "2027-04-07 o365 remove_access lee",
            "2027-04-15 - remove project/alice",
            "2027-04-30 o365 create_disabled jo",
            "2027-04-30 o365 delete lee",
        ]
    );
    let text = roster(
        repo.path(),
        &["forecast", "--from", "2027-03-01", "--until", "2027-05-01"],
        &[],
    );
    assert_eq!(text.code, 0, "{}", text.all());
    assert!(
        text.stdout.contains("2027-04-07\n  o365: remove_access user lee (leaver since 2027-03-31; access removed; delete on 2027-04-30)"),
        "{}",
        text.stdout
    );
    let md = roster(
        repo.path(),
        &[
            "forecast",
            "--from",
            "2027-03-01",
            "--until",
            "2027-05-01",
            "--format",
            "markdown",
        ],
        &[],
    );
    assert!(
        md.stdout
            .contains("| 2027-03-31 | o365 | disable | user `lee` |"),
        "{}",
        md.stdout
    );
    let none = roster(
        repo.path(),
        &["forecast", "--from", "2027-05-04", "--until", "2027-06-01"],
        &[],
    );
    assert!(none.stdout.contains("No dated changes"), "{}", none.stdout);
    let bad = roster(repo.path(), &["forecast", "--until", "2027-13-01"], &[]);
    assert_eq!(bad.code, 1, "{}", bad.all());
    assert!(bad.stderr.contains("not a calendar date"), "{}", bad.all());
}
