//! End to end against the standalone Graph emulator on loopback, driving the `roster`
//! binary as a user would: plan → apply → empty plan; drift after out-of-band changes;
//! stale saved plans; license shortfall; authorized domains; ignore patterns; faults.

use crate::support;

use support::*;

fn people(extra_users: &str) -> String {
    r#"users:
  - username: alice
    email: alice@contoso.com
    first_name: Alice
    last_name: Smith
    department: Sales
  - username: bob
    email: bob@contoso.com
    first_name: Bob
    last_name: Jones
  - username: carol
    email: carol@contoso.com
    first_name: Carol
    last_name: White
    job_title: Engineer
EXTRA_USERS
groups:
  - name: sales
    members: [alice, bob]
  - name: everyone
    description: All staff
    members: [group:sales, carol]
policies:
  - name: o365-access
    app: o365
    groups: [everyone, sales]
"#
    .replace("EXTRA_USERS\n", extra_users)
}

/// YAML for extra users: (username, extra attribute lines already indented by 4).
fn user_yaml(name: &str, domain: &str, extra: &str) -> String {
    format!(
        "  - username: {name}\n    email: {name}@{domain}\n    first_name: {name}\n    last_name: Test\n{extra}"
    )
}

fn env() -> Vec<(&'static str, &'static str)> {
    vec![SECRET_ENV]
}

#[test]
fn plan_apply_then_plan_is_empty() {
    let emu = Emulator::start(&[]);
    let repo = repo(&[
        (
            "apps.yaml",
            &o365_app(&emu.url, "    authorized_domains: [contoso.com]\n"),
        ),
        ("people.yaml", &people("")),
    ]);
    let plan = roster(repo.path(), &["plan", "--detailed-exitcode"], &env());
    assert_eq!(plan.code, 2, "{}", plan.all());
    assert!(plan.stdout.contains("alice"), "{}", plan.stdout);
    assert_eq!(emu.stats()["writes"], 0, "plan must not write");

    let apply = roster(repo.path(), &["apply", "--auto-approve"], &env());
    assert_eq!(apply.code, 0, "{}", apply.all());

    let g = emu.graph();
    let alice = g.user("alice@contoso.com").expect("alice exists");
    assert_eq!(alice["department"], "Sales");
    let everyone = g.group_id("everyone").expect("group everyone");
    // Flattened: the nested sales group's members are direct members in the app.
    assert_eq!(
        g.member_upns(&everyone),
        vec!["alice@contoso.com", "bob@contoso.com", "carol@contoso.com"]
    );

    let again = roster(repo.path(), &["plan", "--detailed-exitcode"], &env());
    assert_eq!(again.code, 0, "second plan must be empty:\n{}", again.all());
    let drift = roster(repo.path(), &["drift"], &env());
    assert_eq!(drift.code, 0, "{}", drift.all());

    // The report log holds one line per applied change.
    let report = roster(
        repo.path(),
        &["report", "--format", "json", "--user", "alice"],
        &env(),
    );
    assert_eq!(report.code, 0, "{}", report.all());
    let rows: serde_json::Value = serde_json::from_str(&report.stdout).unwrap();
    assert!(
        rows.as_array()
            .unwrap()
            .iter()
            .any(|r| r["action"] == "create" && r["result"] == "applied"),
        "{rows}"
    );
    assert!(!report.stdout.contains(CLIENT_SECRET));
    assert!(!apply.all().contains(CLIENT_SECRET));
}

#[test]
fn out_of_band_changes_are_drift_and_apply_reverts_them() {
    let emu = Emulator::start(&[]);
    let repo = repo(&[
        (
            "apps.yaml",
            &o365_app(
                &emu.url,
                "    authorized_domains: [contoso.com]\n    switches: { delete_users: true }\n",
            ),
        ),
        ("people.yaml", &people("")),
    ]);
    let apply = roster(repo.path(), &["apply", "--auto-approve"], &env());
    assert_eq!(apply.code, 0, "{}", apply.all());

    let g = emu.graph();
    // A user created by hand in scope, a member added by hand, an attribute edited.
    let mallory = g.create_user("mallory@contoso.com", None);
    let sales = g.group_id("sales").unwrap();
    let carol = g.user("carol@contoso.com").unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let (s, v) = g.call(
        "POST",
        &format!("/groups/{sales}/members/$ref"),
        Some(serde_json::json!({"@odata.id": format!("https://graph.microsoft.com/v1.0/directoryObjects/{carol}")})),
    );
    assert_eq!(s, 204, "{v}");
    let alice = g.user("alice@contoso.com").unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let (s, v) = g.call(
        "PATCH",
        &format!("/users/{alice}"),
        Some(serde_json::json!({"department": "Marketing"})),
    );
    assert_eq!(s, 204, "{v}");

    let drift = roster(repo.path(), &["drift", "--format", "json"], &env());
    assert_eq!(drift.code, 2, "{}", drift.all());
    let plan: serde_json::Value = serde_json::from_str(&drift.stdout).unwrap();
    let changes = plan["changes"].as_array().unwrap();
    let has = |object: &str, action: &str, key: &str| {
        changes.iter().any(|c| {
            c["object"] == object
                && c["action"] == action
                && c["key"].as_str().unwrap_or("").eq_ignore_ascii_case(key)
        })
    };
    assert!(has("user", "delete", "mallory@contoso.com"), "{plan:#}");
    assert!(has("membership", "remove", "sales/carol"), "{plan:#}");
    assert!(has("user", "update", "alice"), "{plan:#}");

    let apply = roster(repo.path(), &["apply", "--auto-approve"], &env());
    assert_eq!(apply.code, 0, "{}", apply.all());
    assert!(
        g.user("mallory@contoso.com").is_none(),
        "mallory should be deleted ({mallory})"
    );
    assert_eq!(g.user("alice@contoso.com").unwrap()["department"], "Sales");
    assert_eq!(
        g.member_upns(&sales),
        vec!["alice@contoso.com", "bob@contoso.com"]
    );
    let drift = roster(repo.path(), &["drift"], &env());
    assert_eq!(drift.code, 0, "{}", drift.all());
}

#[test]
fn a_stale_saved_plan_is_refused_and_nothing_is_applied() {
    let emu = Emulator::start(&[]);
    let repo = repo(&[
        (
            "apps.yaml",
            &o365_app(&emu.url, "    authorized_domains: [contoso.com]\n"),
        ),
        ("people.yaml", &people("")),
    ]);
    let g = emu.graph();
    // carol exists already; the plan adopts and updates her.
    let carol = g.create_user("carol@contoso.com", Some("Finance"));
    let plan_file = repo.path().join("saved.plan");
    let plan = roster(
        repo.path(),
        &["plan", "--out", plan_file.to_str().unwrap()],
        &env(),
    );
    assert_eq!(plan.code, 0, "{}", plan.all());

    // The world changes between plan and apply.
    let (s, _) = g.call(
        "PATCH",
        &format!("/users/{carol}"),
        Some(serde_json::json!({"department": "Legal"})),
    );
    assert_eq!(s, 204);
    let writes_before = emu.stats()["writes"].as_u64().unwrap();

    let apply = roster(repo.path(), &["apply", plan_file.to_str().unwrap()], &env());
    assert_eq!(apply.code, 1, "{}", apply.all());
    assert!(
        apply.stderr.to_lowercase().contains("stale"),
        "{}",
        apply.all()
    );
    assert!(
        apply.stderr.contains("carol"),
        "the message names what changed: {}",
        apply.all()
    );
    assert_eq!(
        emu.stats()["writes"].as_u64().unwrap(),
        writes_before,
        "nothing applied"
    );
    assert!(g.user("alice@contoso.com").is_none());

    // A fresh plan applies.
    let plan = roster(
        repo.path(),
        &["plan", "--out", plan_file.to_str().unwrap()],
        &env(),
    );
    assert_eq!(plan.code, 0, "{}", plan.all());
    let apply = roster(repo.path(), &["apply", plan_file.to_str().unwrap()], &env());
    assert_eq!(apply.code, 0, "{}", apply.all());
    assert!(g.user("alice@contoso.com").is_some());
}

#[test]
fn a_license_shortfall_fails_the_plan_before_any_write() {
    let emu = Emulator::start(&["--sku", "ENTERPRISEPACK:1"]);
    let lic = "    usage_location: US\n    licenses: [ENTERPRISEPACK]\n";
    let licensed = user_yaml("dave", "contoso.com", lic) + &user_yaml("erin", "contoso.com", lic);
    let people = people(&licensed).replace(
        "members: [group:sales, carol]",
        "members: [group:sales, carol, dave, erin]",
    );
    let repo = repo(&[
        (
            "apps.yaml",
            &o365_app(&emu.url, "    authorized_domains: [contoso.com]\n"),
        ),
        ("people.yaml", &people),
    ]);
    let apply = roster(repo.path(), &["apply", "--auto-approve"], &env());
    assert_eq!(apply.code, 1, "{}", apply.all());
    assert!(apply.stderr.contains("ENTERPRISEPACK"), "{}", apply.all());
    assert!(
        apply.stderr.contains('1'),
        "names the shortfall: {}",
        apply.all()
    );
    assert_eq!(
        emu.stats()["writes"],
        0,
        "no write before the shortfall is reported"
    );
}

#[test]
fn users_outside_authorized_domains_are_skipped_with_a_warning_and_ignored_objects_are_untouched() {
    let emu = Emulator::start(&["--domain", "fabrikam.com"]);
    let g = emu.graph();
    let admin = g.create_user("admin@contoso.com", Some("IT"));
    let outsider = user_yaml("oscar", "fabrikam.com", "");
    let people = people(&outsider).replace(
        "members: [group:sales, carol]",
        "members: [group:sales, carol, oscar]",
    );
    let repo = repo(&[
        (
            "apps.yaml",
            &o365_app(
                &emu.url,
                "    authorized_domains: [contoso.com]\n    ignore: [\"admin@*\"]\n    switches: { delete_users: true }\n",
            ),
        ),
        ("people.yaml", &people),
    ]);
    let plan = roster(repo.path(), &["plan", "--format", "json"], &env());
    assert_eq!(plan.code, 0, "{}", plan.all());
    let p: serde_json::Value = serde_json::from_str(&plan.stdout).unwrap();
    let warnings = p["warnings"].to_string();
    assert!(
        warnings.contains("oscar") && warnings.contains("fabrikam.com"),
        "{p:#}"
    );
    assert!(
        !plan.stdout.contains("admin@contoso.com"),
        "ignored user must not appear: {}",
        plan.stdout
    );

    let apply = roster(repo.path(), &["apply", "--auto-approve"], &env());
    assert_eq!(apply.code, 0, "{}", apply.all());
    assert!(g.user("oscar@fabrikam.com").is_none());
    let admin_now = g
        .user("admin@contoso.com")
        .expect("ignored admin still exists");
    assert_eq!(admin_now["id"], admin.as_str());
    assert_eq!(admin_now["accountEnabled"], true);
    assert_eq!(roster(repo.path(), &["drift"], &env()).code, 0);
}

#[test]
fn apply_converges_under_faults_and_replication_lag() {
    let emu = Emulator::start(&[
        "--fault-rate",
        "0.05",
        "--replication-lag-ms",
        "500",
        "--seed",
        "7",
    ]);
    let mut extra = String::new();
    let mut members = String::from("[group:sales, carol");
    for i in 0..40 {
        extra.push_str(&user_yaml(&format!("u{i:02}"), "contoso.com", ""));
        members.push_str(&format!(", u{i:02}"));
    }
    members.push(']');
    let people = people(&extra).replace("[group:sales, carol]", &members);
    let repo = repo(&[
        (
            "apps.yaml",
            &o365_app(&emu.url, "    authorized_domains: [contoso.com]\n"),
        ),
        ("people.yaml", &people),
    ]);
    let first = roster(repo.path(), &["apply", "--auto-approve"], &env());
    // Faults may leave some changes failed; a second apply finishes the job.
    if first.code != 0 {
        let second = roster(repo.path(), &["apply", "--auto-approve"], &env());
        assert_eq!(
            second.code,
            0,
            "second apply:\n{}\nfirst:\n{}",
            second.all(),
            first.all()
        );
    }
    let last = roster(repo.path(), &["plan", "--detailed-exitcode"], &env());
    assert_eq!(last.code, 0, "converged: {}", last.all());

    let g = emu.graph();
    let users = g.list("/users?$select=userPrincipalName&$top=999");
    let mut upns: Vec<String> = users
        .iter()
        .map(|u| u["userPrincipalName"].as_str().unwrap().to_lowercase())
        .collect();
    let n = upns.len();
    upns.sort();
    upns.dedup();
    assert_eq!(n, upns.len(), "no duplicate users");
    assert_eq!(n, 43, "all users created: {upns:?}");
    let everyone = g.group_id("everyone").unwrap();
    assert_eq!(g.member_upns(&everyone).len(), 43);
}

#[test]
fn import_writes_yaml_that_plans_empty() {
    let emu = Emulator::start(&[]);
    let g = emu.graph();
    let ids: Vec<String> = ["ann", "ben", "cat"]
        .iter()
        .map(|n| {
            let (s, v) = g.call(
                "POST",
                "/users",
                Some(serde_json::json!({
                    "accountEnabled": true, "displayName": format!("{n} Doe"), "mailNickname": n,
                    "userPrincipalName": format!("{n}@contoso.com"), "mail": format!("{n}@contoso.com"),
                    "givenName": n, "surname": "Doe", "department": "Ops",
                    "passwordProfile": {"password": "xWwvJ]6NMw+bWH-d"}
                })),
            );
            assert_eq!(s, 201, "{v}");
            v["id"].as_str().unwrap().to_string()
        })
        .collect();
    let (s, grp) = g.call(
        "POST",
        "/groups",
        Some(serde_json::json!({"displayName": "ops", "mailEnabled": false, "mailNickname": "ops", "securityEnabled": true, "description": "Operations"})),
    );
    assert_eq!(s, 201, "{grp}");
    let gid = grp["id"].as_str().unwrap();
    for id in &ids {
        let (s, v) = g.call(
            "POST",
            &format!("/groups/{gid}/members/$ref"),
            Some(serde_json::json!({"@odata.id": format!("https://graph.microsoft.com/v1.0/directoryObjects/{id}")})),
        );
        assert_eq!(s, 204, "{v}");
    }
    let repo = repo(&[(
        "apps.yaml",
        &o365_app(&emu.url, "    authorized_domains: [contoso.com]\n"),
    )]);
    let import = roster(repo.path(), &["import", "--app", "o365"], &env());
    assert_eq!(import.code, 0, "{}", import.all());
    let users = std::fs::read_to_string(repo.path().join("o365-users.yaml")).unwrap();
    assert!(users.contains("ann@contoso.com"), "{users}");
    assert_eq!(roster(repo.path(), &["validate"], &env()).code, 0);
    let plan = roster(repo.path(), &["plan", "--detailed-exitcode"], &env());
    assert_eq!(
        plan.code,
        0,
        "plan right after import must be empty:\n{}",
        plan.all()
    );
    // A second import over its own output converges: the same file, no error.
    let again = roster(repo.path(), &["import", "--app", "o365"], &env());
    assert_eq!(again.code, 0, "{}", again.all());
    assert_eq!(
        std::fs::read_to_string(repo.path().join("o365-users.yaml")).unwrap(),
        users
    );
}

#[test]
fn drift_checks_read_incrementally_and_agree_with_full_reads() {
    let emu = Emulator::start(&[]);
    let repo = repo(&[
        (
            "apps.yaml",
            &o365_app(&emu.url, "    authorized_domains: [contoso.com]\n"),
        ),
        ("people.yaml", &people("")),
    ]);
    let apply = roster(repo.path(), &["apply", "--auto-approve"], &env());
    assert_eq!(apply.code, 0, "{}", apply.all());
    let clean = roster(repo.path(), &["drift", "--format", "json"], &env());
    assert_eq!(clean.code, 0, "{}", clean.all());
    let snapshot = repo.path().join(".roster/cache/office365-o365.snapshot");
    assert!(snapshot.exists(), "the drift check left its snapshot");

    // Out-of-band changes in the portal: a hand-made user, an edited one, a member gone.
    let g = emu.graph();
    g.create_user("mallory@contoso.com", Some("Ops"));
    let alice = g.user("alice@contoso.com").expect("alice")["id"]
        .as_str()
        .expect("id")
        .to_string();
    assert_eq!(
        g.call(
            "PATCH",
            &format!("/users/{alice}"),
            Some(serde_json::json!({"department": "Legal"}))
        )
        .0,
        204
    );
    let sales = g.group_id("sales").expect("sales");
    let bob = g.user("bob@contoso.com").expect("bob")["id"]
        .as_str()
        .expect("id")
        .to_string();
    assert_eq!(
        g.call(
            "DELETE",
            &format!("/groups/{sales}/members/{bob}/$ref"),
            None
        )
        .0,
        204
    );

    let before = emu.stats();
    let drift = roster(repo.path(), &["drift", "--format", "json"], &env());
    let after = emu.stats();
    assert_eq!(drift.code, 2, "{}", drift.all());
    let requests = after["requests"].as_u64().unwrap() - before["requests"].as_u64().unwrap();
    assert!(
        requests <= 6,
        "an incremental drift check made {requests} Graph requests"
    );
    // The same report as a full read.
    let full = roster(
        repo.path(),
        &["--no-cache", "drift", "--format", "json"],
        &env(),
    );
    assert_eq!(full.code, 2, "{}", full.all());
    let changes = |out: &str| {
        serde_json::from_str::<serde_json::Value>(out).expect("json")["changes"].clone()
    };
    assert_eq!(changes(&drift.stdout), changes(&full.stdout));
    // ROSTER_NO_CACHE=1 reads in full as well: more requests, the same answer.
    let before = emu.stats();
    let mut no_cache_env = env();
    no_cache_env.push(("ROSTER_NO_CACHE", "1"));
    let by_env = roster(repo.path(), &["drift", "--format", "json"], &no_cache_env);
    let full_requests =
        emu.stats()["requests"].as_u64().unwrap() - before["requests"].as_u64().unwrap();
    assert_eq!(by_env.code, 2, "{}", by_env.all());
    assert_eq!(changes(&by_env.stdout), changes(&full.stdout));
    assert!(full_requests > requests, "{full_requests} vs {requests}");
    let text = drift.stdout.clone();
    assert!(
        text.contains("mallory") && text.contains("Legal") && text.contains("sales/bob"),
        "{text}"
    );

    // A snapshot that is not trusted is a full read with the same answer.
    std::fs::write(&snapshot, "garbage").expect("write");
    let again = roster(repo.path(), &["drift", "--format", "json"], &env());
    assert_eq!(again.code, 2, "{}", again.all());
    assert_eq!(changes(&again.stdout), changes(&full.stdout));
}
