//! Joiners and leavers through the binary against the Graph emulator: dated plans
//! (`plan --at`), saved for the day and applied, checked through the emulator's API.
//! Dates are always fixed with `--at`, never the wall clock.

use serde_json::Value;

use crate::support::*;

const PEOPLE: &str = "users:
  - username: alice
    email: alice@contoso.com
    first_name: Alice
    last_name: Smith
  - username: lee
    email: lee@contoso.com
    first_name: Lee
    last_name: Leaver
    usage_location: US
    licenses: [ENTERPRISEPACK]
    end_date: 2027-03-31
  - username: jo
    email: jo@contoso.com
    first_name: Jo
    last_name: Joiner
    start_date: 2027-05-03
groups:
  - name: staff
    members: [alice, lee, jo]
policies:
  - name: p
    app: o365
    groups: [staff]
";

const APP: &str = "    authorized_domains: [contoso.com]
    max_deletes: 10
    switches: { delete_users: true }
    joiner: { provision_days_before_start: 3 }
    leaver: { remove_access_after_days: 7, delete_after_days: 30 }
";

fn plan_json(repo: &std::path::Path, day: &str) -> Value {
    let run = roster(
        repo,
        &["plan", "--at", day, "--format", "json"],
        &[SECRET_ENV],
    );
    assert_eq!(run.code, 0, "{}", run.all());
    serde_json::from_str(&run.stdout).unwrap()
}

/// (object, key, action, reason) of the plan's changes.
fn changes(plan: &Value) -> Vec<(String, String, String, String)> {
    plan["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["object"].as_str().unwrap_or_default().to_string(),
                c["key"].as_str().unwrap_or_default().to_string(),
                c["action"].as_str().unwrap_or_default().to_string(),
                c["reason"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect()
}

/// `plan --at DAY --out` then `apply FILE --allow-other-date`; returns the plan.
fn plan_and_apply(repo: &std::path::Path, day: &str) -> Value {
    let file = repo.join(format!("{day}.plan"));
    let f = file.to_str().unwrap();
    let run = roster(repo, &["plan", "--at", day, "--out", f], &[SECRET_ENV]);
    assert_eq!(run.code, 0, "{}", run.all());
    let saved: Value = serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
    assert_eq!(saved["planned_for"], day, "{saved:#}");
    let apply = roster(repo, &["apply", f, "--allow-other-date"], &[SECRET_ENV]);
    assert_eq!(apply.code, 0, "{}", apply.all());
    saved
}

#[test]
fn a_leaver_is_disabled_then_loses_access_then_is_deleted_and_a_joiner_comes_early() {
    let emu = Emulator::start(&["--sku", "ENTERPRISEPACK:5"]);
    let g = emu.graph();
    let repo = repo(&[
        ("apps.yaml", &o365_app(&emu.url, APP)),
        ("people.yaml", PEOPLE),
    ]);
    let dir = repo.path();
    let first = roster(
        dir,
        &[
            "apply",
            "--at",
            "2027-03-01",
            "--auto-approve",
            "--allow-other-date",
        ],
        &[SECRET_ENV],
    );
    assert_eq!(first.code, 0, "{}", first.all());
    let lee = g.user("lee@contoso.com").expect("lee created");
    assert_eq!(lee["accountEnabled"], true);
    assert_eq!(lee["assignedLicenses"].as_array().unwrap().len(), 1);
    assert!(g.user("jo@contoso.com").is_none(), "jo starts in May");
    let staff = g.group_id("staff").unwrap();
    assert_eq!(
        g.member_upns(&staff),
        ["alice@contoso.com", "lee@contoso.com"]
    );

    // The day before the end date: nothing for anyone.
    assert_eq!(changes(&plan_json(dir, "2027-03-30")), vec![]);

    // The end date: disabled at once, access kept for 7 days. The PR comment
    // (Markdown) and the terminal plan say why, with the dates to come.
    let why = "leaver since 2027-03-31; access removed on 2027-04-07; delete on 2027-04-30";
    for format in ["markdown", "human"] {
        let run = roster(
            dir,
            &["plan", "--at", "2027-03-31", "--format", format],
            &[SECRET_ENV],
        );
        assert_eq!(run.code, 0, "{}", run.all());
        assert!(
            run.stdout.contains(&format!("# {why}")),
            "{format}:\n{}",
            run.stdout
        );
        if format == "markdown" {
            // The access changes, the top of the comment, say it too.
            assert!(
                run.stdout.contains(&format!(
                    "- 🔴 **`lee` loses access to `o365` (account disabled)** — {why}\n"
                )),
                "{}",
                run.stdout
            );
        }
    }
    let p = plan_and_apply(dir, "2027-03-31");
    let c = changes(&p["plan"]);
    assert_eq!(c.len(), 1, "{c:?}");
    assert_eq!(
        (c[0].0.as_str(), c[0].1.as_str(), c[0].2.as_str()),
        ("user", "lee", "disable")
    );
    assert_eq!(
        c[0].3,
        "leaver since 2027-03-31; access removed on 2027-04-07; delete on 2027-04-30"
    );
    assert_eq!(g.user("lee@contoso.com").unwrap()["accountEnabled"], false);
    assert_eq!(
        g.member_upns(&staff),
        ["alice@contoso.com", "lee@contoso.com"]
    );

    // 7 days later: memberships and licences go, the account stays.
    let p = plan_and_apply(dir, "2027-04-07");
    let mut kinds: Vec<(String, String)> = changes(&p["plan"])
        .into_iter()
        .map(|(o, _, a, r)| {
            assert_eq!(
                r,
                "leaver since 2027-03-31; access removed; delete on 2027-04-30"
            );
            (o, a)
        })
        .collect();
    kinds.sort();
    assert_eq!(
        kinds,
        [
            ("license".to_string(), "remove".to_string()),
            ("membership".to_string(), "remove".to_string())
        ]
    );
    let lee = g.user("lee@contoso.com").unwrap();
    assert_eq!(lee["accountEnabled"], false);
    assert_eq!(lee["assignedLicenses"].as_array().unwrap().len(), 0);
    assert_eq!(g.member_upns(&staff), ["alice@contoso.com"]);
    assert_eq!(changes(&plan_json(dir, "2027-04-29")), vec![]);

    // Jo: not provisioned before 3 days ahead of the start, then created disabled.
    assert!(changes(&plan_json(dir, "2027-04-29")).is_empty());
    let p = plan_and_apply(dir, "2027-04-30");
    let c = changes(&p["plan"]);
    assert!(
        c.iter().any(|(o, k, a, r)| o == "user"
            && k == "jo"
            && a == "create"
            && r == "joiner starting on 2027-05-03; provisioned early, disabled until then"),
        "{c:?}"
    );
    // ... and, the same day, lee is deleted.
    assert!(
        c.iter().any(|(o, k, a, r)| o == "user"
            && k.starts_with("lee")
            && a == "delete"
            && r == "leaver since 2027-03-31; deleted on 2027-04-30"),
        "{c:?}"
    );
    assert!(g.user("lee@contoso.com").is_none(), "lee deleted");
    assert_eq!(g.user("jo@contoso.com").unwrap()["accountEnabled"], false);
    // On the start date jo is enabled.
    let c = changes(&plan_json(dir, "2027-05-03"));
    assert_eq!(c.len(), 1, "{c:?}");
    assert_eq!((c[0].1.as_str(), c[0].2.as_str()), ("jo", "enable"));
}

#[test]
fn apply_refuses_another_day_unless_allowed_and_validation_names_bad_dates() {
    let emu = Emulator::start(&[]);
    let repo = repo(&[
        ("apps.yaml", &o365_app(&emu.url, APP)),
        ("people.yaml", PEOPLE),
    ]);
    let run = roster(
        repo.path(),
        &["apply", "--at", "2027-03-01", "--auto-approve"],
        &[SECRET_ENV],
    );
    assert_eq!(run.code, 1, "{}", run.all());
    assert!(run.stderr.contains("--allow-other-date"), "{}", run.all());
    assert_eq!(emu.stats()["writes"], 0);

    let bad = PEOPLE
        .replace("end_date: 2027-03-31", "end_date: 2027-02-30")
        .replace(
            "start_date: 2027-05-03",
            "start_date: 2027-05-03\n    end_date: 2027-05-01",
        );
    std::fs::write(repo.path().join("people.yaml"), bad).unwrap();
    let v = roster(repo.path(), &["validate"], &[]);
    assert_eq!(v.code, 1, "{}", v.all());
    assert!(
        v.all().contains("people.yaml:12:15")
            && v.all()
                .contains("invalid date `2027-02-30` in `end_date` of user `lee`"),
        "{}",
        v.all()
    );
    assert!(
        v.all().contains("people.yaml:18:15")
            && v.all().contains(
                "`end_date` 2027-05-01 of user `jo` is before its `start_date` 2027-05-03"
            ),
        "{}",
        v.all()
    );
}
