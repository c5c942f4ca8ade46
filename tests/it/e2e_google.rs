//! google_workspace end to end, driving the `roster` binary against the project's
//! Google Workspace emulator (`roster::google_emulator`, in-process on loopback, see
//! `support::google`) and checking the results through the Directory API directly,
//! never through roster's reader: plan → apply → empty plan, a suspended user, a group
//! with members, drift after out-of-band changes reverted by apply, import then an
//! empty plan, the deletion guard, `ignore`, `org_unit`, quota errors mid-apply
//! (the emulator's seeded faults), eventual consistency after creates, a refused
//! delegation, a server without the batch endpoint.

use serde_json::{Value, json};

use crate::support::google::{ADMIN, Options, Workspace};
use crate::support::{repo, roster};

fn people() -> String {
    r#"users:
  - username: alice
    email: alice@example.com
    first_name: Alice
    last_name: Smith
    department: Sales
    job_title: Lead
    password: { env: ROSTER_TEST_ALICE_PW }
  - username: bob
    email: bob@example.com
    first_name: Bob
    last_name: Jones
  - username: carol
    email: carol@example.com
    first_name: Carol
    last_name: White
    enabled: false
groups:
  - name: Sales Team
    description: Sellers
    members: [alice, bob]
  - name: everyone
    members: [group:Sales Team, carol]
policies:
  - name: gws-access
    app: gws
    groups: [everyone, Sales Team]
"#
    .to_string()
}

fn run(dir: &std::path::Path, fake: &Workspace, args: &[&str]) -> crate::support::Run {
    let env = fake.env();
    let mut all: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    all.push(("ROSTER_TEST_ALICE_PW", "alice-Secret-1"));
    all.push(("ROSTER_RETRY_MAX_SECONDS", "20"));
    roster(dir, args, &all)
}

fn changes(plan_json: &str) -> Vec<Value> {
    let v: Value = serde_json::from_str(plan_json).unwrap_or_else(|e| panic!("{e}: {plan_json}"));
    v["changes"].as_array().cloned().unwrap_or_default()
}

fn has(changes: &[Value], object: &str, action: &str, key: &str) -> bool {
    changes.iter().any(|c| {
        c["object"] == object
            && c["action"] == action
            && c["key"].as_str().unwrap_or("").eq_ignore_ascii_case(key)
    })
}

#[test]
fn plan_apply_then_plan_is_empty_with_suspended_users_groups_and_members() {
    let fake = Workspace::start(Options::default());
    let repo = repo(&[
        ("apps.yaml", &fake.app_yaml("")),
        ("people.yaml", &people()),
    ]);
    let plan = run(repo.path(), &fake, &["plan", "--detailed-exitcode"]);
    assert_eq!(plan.code, 2, "{}", plan.all());
    assert!(plan.stdout.contains("alice"), "{}", plan.stdout);
    assert!(!plan.all().contains("PRIVATE KEY"), "{}", plan.all());

    let apply = run(repo.path(), &fake, &["apply", "--auto-approve"]);
    assert_eq!(apply.code, 0, "{}", apply.all());

    let alice = fake.user("alice@example.com").expect("alice exists");
    assert_eq!(alice["name"]["givenName"], "Alice");
    assert_eq!(alice["organizations"][0]["department"], "Sales");
    assert_eq!(alice["organizations"][0]["title"], "Lead");
    assert_eq!(alice["suspended"], false);
    assert!(
        alice["externalIds"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["customType"] == "roster" && e["value"] == "alice"),
        "{alice}"
    );
    // The repository's password went as its SHA-1 (the emulator keeps only the SHA-256
    // of what it was sent), not in clear; others got a random one to change at the
    // next login.
    {
        use sha1::Digest as _;
        let want: String = sha1::Sha1::digest(b"alice-Secret-1")
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        let want: String = sha2::Sha256::digest(want.as_bytes())
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        let d = fake.directory();
        let id = alice["id"].as_str().unwrap();
        assert_eq!(d.passwords[id].hash_function.as_deref(), Some("SHA-1"));
        assert_eq!(d.passwords[id].sha256, want);
        assert_eq!(alice["changePasswordAtNextLogin"], false);
        let bob = fake.user("bob@example.com").unwrap();
        assert_eq!(bob["changePasswordAtNextLogin"], true);
        assert!(
            d.passwords[bob["id"].as_str().unwrap()]
                .hash_function
                .is_some()
        );
        assert!(
            fake.stats().token_requests >= 2,
            "roster's and the console's"
        );
    }
    assert_eq!(fake.user("carol@example.com").unwrap()["suspended"], true);
    let sales = fake.group("sales-team@example.com").expect("the group");
    assert_eq!(sales["name"], "Sales Team");
    assert_eq!(sales["description"], "Sellers");
    assert_eq!(
        fake.member_emails("sales-team@example.com"),
        ["alice@example.com", "bob@example.com"]
    );
    assert_eq!(
        fake.member_emails("everyone@example.com"),
        ["alice@example.com", "bob@example.com", "carol@example.com"],
        "nested groups are flattened as for the other targets"
    );
    // The admin is untouched.
    assert_eq!(fake.user(ADMIN).unwrap()["suspended"], false);
    assert!(
        fake.stats().batches >= 1,
        "member adds go through the batch endpoint"
    );

    let again = run(repo.path(), &fake, &["plan", "--detailed-exitcode"]);
    assert_eq!(again.code, 0, "second plan must be empty:\n{}", again.all());
    // The emulator's pages hold two items: roster followed nextPageToken.
    let paged = |p: &str| {
        fake.roster_calls().iter().any(|c| {
            c.method == "GET"
                && c.path.ends_with(p)
                && c.query.iter().any(|(k, _)| k == "pageToken")
        })
    };
    assert!(paged("users"), "four users, two a page");
    assert!(paged("members"), "three members of everyone, two a page");
}

#[test]
fn out_of_band_changes_are_drift_and_apply_reverts_them() {
    let fake = Workspace::start(Options::default());
    let repo = repo(&[
        (
            "apps.yaml",
            &fake.app_yaml("    switches: { delete_users: true }\n"),
        ),
        ("people.yaml", &people()),
    ]);
    let apply = run(repo.path(), &fake, &["apply", "--auto-approve"]);
    assert_eq!(apply.code, 0, "{}", apply.all());

    // A user added by hand, a member removed, an account re-enabled, one suspended, a
    // title changed.
    let (s, v) = fake.call(
        "POST",
        "/users",
        Some(json!({"primaryEmail": "mallory@example.com", "name": {"givenName": "M", "familyName": "X"}, "password": "p".repeat(10)})),
    );
    assert_eq!(s, 200, "{v}");
    let bob = fake.user("bob@example.com").unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let (s, v) = fake.call(
        "DELETE",
        &format!("/groups/sales-team@example.com/members/{bob}"),
        None,
    );
    assert_eq!(s, 204, "{v}");
    let (s, v) = fake.call(
        "PATCH",
        "/users/carol@example.com",
        Some(json!({"suspended": false})),
    );
    assert_eq!(s, 200, "{v}");
    let (s, v) = fake.call(
        "PATCH",
        "/users/bob@example.com",
        Some(json!({"suspended": true})),
    );
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["suspensionReason"], "ADMIN", "{v}");
    let (s, v) = fake.call(
        "PATCH",
        "/users/alice@example.com",
        Some(
            json!({"organizations": [{"primary": true, "title": "Intern", "department": "Sales"}]}),
        ),
    );
    assert_eq!(s, 200, "{v}");

    let drift = run(repo.path(), &fake, &["drift", "--format", "json"]);
    assert_eq!(drift.code, 2, "{}", drift.all());
    let c = changes(&drift.stdout);
    assert!(has(&c, "user", "delete", "mallory@example.com"), "{c:#?}");
    assert!(has(&c, "membership", "add", "Sales Team/bob"), "{c:#?}");
    assert!(has(&c, "user", "disable", "carol"), "{c:#?}");
    assert!(has(&c, "user", "enable", "bob"), "{c:#?}");
    assert!(has(&c, "user", "update", "alice"), "{c:#?}");
    assert!(
        !c.iter()
            .any(|x| x["key"].as_str().unwrap_or("").contains("admin")),
        "{c:#?}"
    );

    let apply = run(repo.path(), &fake, &["apply", "--auto-approve"]);
    assert_eq!(apply.code, 0, "{}", apply.all());
    assert!(fake.user("mallory@example.com").is_none());
    assert_eq!(
        fake.member_emails("sales-team@example.com"),
        ["alice@example.com", "bob@example.com"]
    );
    assert_eq!(fake.user("carol@example.com").unwrap()["suspended"], true);
    assert_eq!(fake.user("bob@example.com").unwrap()["suspended"], false);
    let alice = fake.user("alice@example.com").unwrap();
    assert_eq!(alice["organizations"][0]["title"], "Lead");
    assert_eq!(alice["externalIds"].as_array().unwrap().len(), 1, "{alice}");
    let clean = run(repo.path(), &fake, &["drift"]);
    assert_eq!(clean.code, 0, "{}", clean.all());
}

#[test]
fn import_then_plan_is_empty() {
    let fake = Workspace::start(Options::default());
    for n in ["ann", "ben", "cat"] {
        let (s, v) = fake.call(
            "POST",
            "/users",
            Some(json!({"primaryEmail": format!("{n}@example.com"),
                "name": {"givenName": n, "familyName": "Doe"}, "password": "p".repeat(10),
                "organizations": [{"primary": true, "department": "Ops"}]})),
        );
        assert_eq!(s, 200, "{v}");
    }
    let (s, v) = fake.call(
        "POST",
        "/groups",
        Some(json!({"email": "ops@example.com", "name": "ops", "description": "Operations"})),
    );
    assert_eq!(s, 200, "{v}");
    for n in ["ann", "ben"] {
        let (s, v) = fake.call(
            "POST",
            "/groups/ops@example.com/members",
            Some(json!({"email": format!("{n}@example.com"), "role": "MEMBER"})),
        );
        assert_eq!(s, 200, "{v}");
    }
    let repo = repo(&[(
        "apps.yaml",
        &fake.app_yaml(&format!("    ignore: [\"{ADMIN}\"]\n")),
    )]);
    let import = run(repo.path(), &fake, &["import", "--app", "gws"]);
    assert_eq!(import.code, 0, "{}", import.all());
    let users = std::fs::read_to_string(repo.path().join("gws-users.yaml")).unwrap();
    assert!(users.contains("ann@example.com"), "{users}");
    assert!(!users.contains(ADMIN), "{users}");
    assert_eq!(run(repo.path(), &fake, &["validate"]).code, 0);
    let plan = run(repo.path(), &fake, &["plan", "--detailed-exitcode"]);
    assert_eq!(
        plan.code,
        0,
        "plan right after import must be empty:\n{}",
        plan.all()
    );
}

#[test]
fn the_deletion_guard_and_ignore_hold() {
    let fake = Workspace::start(Options::default());
    let repo = repo(&[
        (
            "apps.yaml",
            &fake.app_yaml(
                "    max_deletes: 1\n    ignore: [\"svc-*@example.com\"]\n    switches: { delete_users: true }\n",
            ),
        ),
        ("people.yaml", &people()),
    ]);
    let apply = run(repo.path(), &fake, &["apply", "--auto-approve"]);
    assert_eq!(apply.code, 0, "{}", apply.all());
    for n in ["svc-backup", "x1", "x2"] {
        let (s, v) = fake.call(
            "POST",
            "/users",
            Some(json!({"primaryEmail": format!("{n}@example.com"), "name": {"givenName": n, "familyName": "X"}, "password": "p".repeat(10)})),
        );
        assert_eq!(s, 200, "{v}");
    }
    let plan = run(repo.path(), &fake, &["plan", "--format", "json"]);
    let c = changes(&plan.stdout);
    assert!(has(&c, "user", "delete", "x1@example.com"), "{c:#?}");
    assert!(
        !c.iter()
            .any(|x| x["key"].as_str().unwrap_or("").starts_with("svc-")),
        "ignored accounts are never planned: {c:#?}"
    );
    let refused = run(repo.path(), &fake, &["apply", "--auto-approve"]);
    assert_ne!(refused.code, 0, "{}", refused.all());
    assert!(refused.all().contains("max_deletes"), "{}", refused.all());
    assert!(fake.user("x1@example.com").is_some(), "nothing deleted");
    assert!(fake.user("x2@example.com").is_some(), "nothing deleted");
    let allowed = run(
        repo.path(),
        &fake,
        &["apply", "--auto-approve", "--allow-deletes", "2"],
    );
    assert_eq!(allowed.code, 0, "{}", allowed.all());
    assert!(fake.user("x1@example.com").is_none());
    assert!(fake.user("svc-backup@example.com").is_some(), "ignored");
}

#[test]
fn quota_errors_mid_apply_are_retried_and_the_apply_converges() {
    // One API call in four (batch parts too) is refused with one of the quota errors
    // Google documents: 429 and 403 `rateLimitExceeded`, 403 `userRateLimitExceeded`.
    let fake = Workspace::start(Options {
        fault_rate: 0.25,
        seed: 7,
        ..Options::default()
    });
    let repo = repo(&[
        ("apps.yaml", &fake.app_yaml("")),
        ("people.yaml", &people()),
    ]);
    let before = fake.stats().faults;
    let apply = run(repo.path(), &fake, &["-v", "apply", "--auto-approve"]);
    assert_eq!(apply.code, 0, "{}", apply.all());
    let faults = fake.stats().faults - before;
    assert!(faults >= 3, "faults injected: {faults}");
    assert!(
        apply.stderr.contains("RateLimitExceeded") || apply.stderr.contains("rateLimitExceeded"),
        "{}",
        apply.stderr
    );
    assert!(apply.stderr.contains("retrying"), "{}", apply.stderr);
    assert_eq!(
        fake.member_emails("everyone@example.com"),
        ["alice@example.com", "bob@example.com", "carol@example.com"]
    );
    assert_eq!(fake.user("carol@example.com").unwrap()["suspended"], true);
    let plan = run(repo.path(), &fake, &["plan", "--detailed-exitcode"]);
    assert_eq!(plan.code, 0, "{}", plan.all());
}

#[test]
fn objects_just_created_are_found_once_the_directory_catches_up() {
    // For 400 ms after an insert the emulator answers 404 for the new user or group, as
    // the Directory API does right after a create: roster's member adds wait for it.
    let fake = Workspace::start(Options {
        replication_lag_ms: 400,
        ..Options::default()
    });
    let repo = repo(&[
        ("apps.yaml", &fake.app_yaml("")),
        ("people.yaml", &people()),
    ]);
    let apply = run(repo.path(), &fake, &["-v", "apply", "--auto-approve"]);
    assert_eq!(apply.code, 0, "{}", apply.all());
    assert!(
        apply.stderr.contains("HTTP 404 notFound"),
        "the lag was met and waited out: {}",
        apply.stderr
    );
    std::thread::sleep(std::time::Duration::from_millis(450));
    assert_eq!(
        fake.member_emails("sales-team@example.com"),
        ["alice@example.com", "bob@example.com"]
    );
    assert_eq!(
        fake.member_emails("everyone@example.com"),
        ["alice@example.com", "bob@example.com", "carol@example.com"]
    );
    let plan = run(repo.path(), &fake, &["plan", "--detailed-exitcode"]);
    assert_eq!(plan.code, 0, "{}", plan.all());
}

#[test]
fn org_unit_scopes_reads_and_creates() {
    let fake = Workspace::start(Options::default());
    let (s, v) = fake.call(
        "POST",
        "/users",
        Some(
            json!({"primaryEmail": "outsider@example.com", "orgUnitPath": "/Contractors",
            "name": {"givenName": "O", "familyName": "X"}, "password": "p".repeat(10)}),
        ),
    );
    assert_eq!(s, 200, "{v}");
    let repo = repo(&[
        (
            "apps.yaml",
            &fake.app_yaml("    org_unit: /Staff\n    switches: { delete_users: true }\n"),
        ),
        ("people.yaml", &people()),
    ]);
    let apply = run(repo.path(), &fake, &["apply", "--auto-approve"]);
    assert_eq!(apply.code, 0, "{}", apply.all());
    assert_eq!(
        fake.user("alice@example.com").unwrap()["orgUnitPath"],
        "/Staff"
    );
    assert!(
        fake.user("outsider@example.com").is_some(),
        "outside the scope"
    );
    assert_eq!(fake.user(ADMIN).unwrap()["suspended"], false);
    let plan = run(repo.path(), &fake, &["plan", "--detailed-exitcode"]);
    assert_eq!(plan.code, 0, "{}", plan.all());
}

#[test]
fn a_refused_delegation_is_a_clear_error_without_the_key() {
    // The service account's client id is not allowed the scopes for domain-wide
    // delegation: Google's token endpoint answers `unauthorized_client`.
    let fake = Workspace::start(Options {
        delegated: false,
        ..Options::default()
    });
    let repo = repo(&[
        ("apps.yaml", &fake.app_yaml("")),
        ("people.yaml", &people()),
    ]);
    let plan = run(repo.path(), &fake, &["plan"]);
    assert_ne!(plan.code, 0, "{}", plan.all());
    let all = plan.all();
    assert!(all.contains("app gws: cannot connect"), "{all}");
    assert!(all.contains("unauthorized_client"), "{all}");
    assert!(all.contains("domain-wide delegation"), "{all}");
    assert!(
        !all.contains("PRIVATE KEY") && !all.contains("ya29."),
        "{all}"
    );
}

#[test]
fn settings_errors_are_positioned() {
    let repo = repo(&[(
        "apps.yaml",
        "apps:\n  - name: gws\n    type: google_workspace\n    domain: example.com\n    subject: not-an-email\n    credentials: { service_account_key: { env: K } }\n    api_url: http://admin.example.net\n    token_url: https://evil.example.net/token\n    org_unit: Staff/\n",
    )]);
    let v = roster(repo.path(), &["validate"], &[]);
    assert_ne!(v.code, 0, "{}", v.all());
    let all = v.all();
    assert!(all.contains("apps.yaml:5:14"), "subject: {all}");
    assert!(
        all.contains("apps.yaml:7:14") && all.contains("must use https://"),
        "api_url: {all}"
    );
    assert!(
        all.contains("apps.yaml:8:16") && all.contains("ROSTER_ALLOW_ENDPOINTS=evil.example.net"),
        "token_url: {all}"
    );
    assert!(
        all.contains("apps.yaml:9:15") && all.contains("org_unit"),
        "org_unit: {all}"
    );
    let ok = roster(
        repo.path(),
        &["validate"],
        &[("ROSTER_ALLOW_ENDPOINTS", "evil.example.net")],
    );
    assert!(
        !ok.all().contains("evil.example.net, which is not"),
        "{}",
        ok.all()
    );
}

#[test]
fn members_are_written_one_by_one_where_there_is_no_batch_endpoint() {
    // The emulator answers the batch endpoint with 404.
    let fake = Workspace::start(Options {
        batch: false,
        ..Options::default()
    });
    let repo = repo(&[
        ("apps.yaml", &fake.app_yaml("")),
        ("people.yaml", &people()),
    ]);
    let apply = run(repo.path(), &fake, &["apply", "--auto-approve"]);
    assert_eq!(apply.code, 0, "{}", apply.all());
    assert_eq!(fake.stats().batches, 0);
    assert!(
        fake.roster_calls()
            .iter()
            .any(|c| c.method == "POST" && c.path.ends_with("/members")),
        "members were added one by one"
    );
    assert_eq!(
        fake.member_emails("everyone@example.com"),
        ["alice@example.com", "bob@example.com", "carol@example.com"]
    );
    let plan = run(repo.path(), &fake, &["plan", "--detailed-exitcode"]);
    assert_eq!(plan.code, 0, "{}", plan.all());
}

#[test]
fn doctor_checks_the_key_the_token_and_the_lists() {
    let fake = Workspace::start(Options::default());
    let dir = repo(&[("apps.yaml", &fake.app_yaml(""))]);
    let ok = run(dir.path(), &fake, &["doctor", "--app", "gws"]);
    assert_eq!(ok.code, 0, "{}", ok.all());
    assert!(
        ok.stdout.contains("app gws (google_workspace): ok"),
        "{}",
        ok.stdout
    );
    assert!(
        ok.stdout.contains(&format!("issued for {ADMIN}")),
        "{}",
        ok.stdout
    );
    let r = roster(
        dir.path(),
        &["doctor", "--app", "gws"],
        &[("ROSTER_TEST_GOOGLE_KEY", "{\"type\": \"service_account\"}")],
    );
    assert_eq!(r.code, 1, "{}", r.all());
    assert!(r.stdout.contains("no `client_email`"), "{}", r.stdout);
}

#[test]
fn groups_roster_never_made_and_users_of_other_domains_are_left_alone() {
    let fake = Workspace::start(Options::default());
    let (s, v) = fake.call(
        "POST",
        "/groups",
        Some(json!({"email": "announce@example.com", "name": "announce"})),
    );
    assert_eq!(s, 200, "{v}");
    let (s, v) = fake.call(
        "POST",
        "/users",
        Some(json!({"primaryEmail": "zed@subsidiary.example", "name": {"givenName": "Z", "familyName": "Z"}, "password": "p".repeat(10)})),
    );
    assert_eq!(s, 200, "{v}");
    let repo = repo(&[
        (
            "apps.yaml",
            &fake.app_yaml(
                "    switches: { delete_users: true, delete_groups: true }
",
            ),
        ),
        ("people.yaml", &people()),
    ]);
    let apply = run(repo.path(), &fake, &["apply", "--auto-approve"]);
    assert_eq!(apply.code, 0, "{}", apply.all());
    assert!(
        fake.group("announce@example.com").is_some(),
        "not roster's group"
    );
    assert_eq!(
        fake.user("zed@subsidiary.example").unwrap()["suspended"],
        false
    );
    // Nor does a later plan touch them.
    let fewer = people().replace(
        "    groups: [everyone, Sales Team]",
        "    groups: [everyone]",
    );
    std::fs::write(repo.path().join("people.yaml"), fewer).unwrap();
    let drift = run(repo.path(), &fake, &["drift", "--format", "json"]);
    let c = changes(&drift.stdout);
    assert!(!c.iter().any(|x| x["key"] == "announce"), "{c:#?}");
    assert!(
        !c.iter()
            .any(|x| x["key"].as_str().unwrap_or("").contains("zed")),
        "{c:#?}"
    );
}

#[test]
fn a_token_is_fetched_once_per_run() {
    let fake = Workspace::start(Options::default());
    let repo = repo(&[
        ("apps.yaml", &fake.app_yaml("")),
        ("people.yaml", &people()),
    ]);
    for _ in 0..2 {
        let before = fake.stats().token_requests;
        let plan = run(repo.path(), &fake, &["plan"]);
        assert_eq!(plan.code, 0, "{}", plan.all());
        assert_eq!(
            fake.stats().token_requests - before,
            1,
            "one token serves every request of a run"
        );
    }
}

#[test]
fn managers_are_relations_by_email() {
    let fake = Workspace::start(Options::default());
    let with_manager = people().replace(
        "  - username: bob\n    email: bob@example.com\n",
        "  - username: bob\n    email: bob@example.com\n    manager: alice\n",
    );
    assert_ne!(with_manager, people());
    let repo = repo(&[
        ("apps.yaml", &fake.app_yaml("")),
        ("people.yaml", &with_manager),
    ]);
    let apply = run(repo.path(), &fake, &["apply", "--auto-approve"]);
    assert_eq!(apply.code, 0, "{}", apply.all());
    let bob = fake.user("bob@example.com").unwrap();
    assert_eq!(
        bob["relations"],
        json!([{"type": "manager", "value": "alice@example.com"}]),
        "{bob}"
    );
    let plan = run(repo.path(), &fake, &["plan", "--detailed-exitcode"]);
    assert_eq!(plan.code, 0, "{}", plan.all());
    // Changed by hand: drift, reverted.
    let (s, v) = fake.call(
        "PATCH",
        "/users/bob@example.com",
        Some(json!({"relations": [{"type": "manager", "value": "carol@example.com"}, {"type": "friend", "value": "x"}]})),
    );
    assert_eq!(s, 200, "{v}");
    let drift = run(repo.path(), &fake, &["drift", "--format", "json"]);
    assert_eq!(drift.code, 2, "{}", drift.all());
    assert!(
        has(&changes(&drift.stdout), "manager", "update", "bob"),
        "{}",
        drift.stdout
    );
    let apply = run(repo.path(), &fake, &["apply", "--auto-approve"]);
    assert_eq!(apply.code, 0, "{}", apply.all());
    assert_eq!(
        fake.user("bob@example.com").unwrap()["relations"],
        json!([{"type": "friend", "value": "x"}, {"type": "manager", "value": "alice@example.com"}])
    );
}

#[test]
fn a_missing_key_is_reported_at_its_reference_before_any_connection() {
    let fake = Workspace::start(Options::default());
    let dir = repo(&[
        ("apps.yaml", &fake.app_yaml("")),
        ("people.yaml", &people()),
    ]);
    let before = fake.stats();
    let r = roster(dir.path(), &["plan"], &[]);
    assert_ne!(r.code, 0, "{}", r.all());
    assert!(r.stderr.contains("apps.yaml:7:"), "{}", r.stderr);
    assert!(r.stderr.contains("service account key"), "{}", r.stderr);
    assert!(r.stderr.contains("ROSTER_TEST_GOOGLE_KEY"), "{}", r.stderr);
    assert_eq!(
        fake.stats().token_requests,
        before.token_requests,
        "no token asked for"
    );
    assert_eq!(fake.stats().requests, before.requests, "nothing sent");
}

#[test]
fn a_sandbox_app_needs_no_account_and_no_credentials() {
    // A fresh clone: no key, no subject, no environment. roster starts the project's
    // emulator in-process and keeps the account in the repository.
    let dir = repo(&[
        (
            "apps.yaml",
            "apps:\n  - name: gws\n    type: google_workspace\n    domain: example.com\n    sandbox: .roster/gws.json\n",
        ),
        ("people.yaml", &people()),
    ]);
    let env = [("ROSTER_TEST_ALICE_PW", "alice-Secret-1")];
    let v = roster(dir.path(), &["validate"], &env);
    assert_eq!(v.code, 0, "{}", v.all());
    let plan = roster(dir.path(), &["plan", "--detailed-exitcode"], &env);
    assert_eq!(plan.code, 2, "{}", plan.all());
    assert!(plan.stdout.contains("alice"), "{}", plan.stdout);
    let apply = roster(dir.path(), &["apply", "--auto-approve"], &env);
    assert_eq!(apply.code, 0, "{}", apply.all());
    let state = std::fs::read_to_string(dir.path().join(".roster/gws.json")).expect("the account");
    let d: roster::google_emulator::Directory = serde_json::from_str(&state).unwrap();
    let emails: Vec<&str> = d
        .users
        .values()
        .filter_map(|u| u["primaryEmail"].as_str())
        .collect();
    assert!(emails.contains(&"carol@example.com"), "{emails:?}");
    assert!(
        d.users
            .values()
            .any(|u| u["primaryEmail"] == "carol@example.com" && u["suspended"] == true)
    );
    assert_eq!(d.groups.len(), 2, "{:?}", d.groups);
    assert!(!state.contains("PRIVATE KEY"), "no key is kept");
    let again = roster(dir.path(), &["plan", "--detailed-exitcode"], &env);
    assert_eq!(again.code, 0, "the account persisted:\n{}", again.all());
    let doctor = roster(dir.path(), &["doctor", "--app", "gws"], &env);
    assert_eq!(doctor.code, 0, "{}", doctor.all());
    assert!(
        doctor
            .stdout
            .contains("issued for sandbox-admin@example.com"),
        "{}",
        doctor.stdout
    );
    // Without `sandbox:`, credentials and subject are required again.
    std::fs::write(
        dir.path().join("apps.yaml"),
        "apps:\n  - name: gws\n    type: google_workspace\n    domain: example.com\n",
    )
    .unwrap();
    let v = roster(dir.path(), &["validate"], &env);
    assert_ne!(v.code, 0, "{}", v.all());
    assert!(v.all().contains("`credentials`"), "{}", v.all());
}
