//! Google's own Python client checks roster's work: after `roster apply` against the
//! project's Google emulator, `tests/google/verify.py` (google-api-python-client's
//! `build_from_document` with google-auth's service-account credentials, from the venv
//! `scripts/google-python.sh install` makes) pages through users, groups and members,
//! and what it saw must be what the repository says: a suspended user, a group with
//! members (nested groups flattened), names, departments, titles, the username anchor.

use serde_json::{Value, json};

use crate::support::google::{ADMIN, Options, Workspace};
use crate::support::{repo, roster};

const PEOPLE: &str = r#"users:
  - { username: alice, email: alice@example.com, first_name: Alice, last_name: Smith, department: Sales, job_title: Lead }
  - { username: bob, email: bob@example.com, first_name: Bob, last_name: Jones }
  - { username: carol, email: carol@example.com, first_name: Carol, last_name: White, enabled: false }
groups:
  - { name: Sales Team, description: Sellers, members: [alice, bob] }
  - { name: everyone, members: [group:Sales Team, carol] }
policies:
  - { name: gws-access, app: gws, groups: [everyone, Sales Team] }
"#;

fn verify(ws: &Workspace) -> Value {
    let python = crate::google_emulator_py::ensure_venv();
    let key_dir = tempfile::tempdir().unwrap();
    let key = key_dir.path().join("key.json");
    std::fs::write(&key, &ws.key_json).unwrap();
    crate::google_emulator_py::run_script(&python, "verify.py", &ws.url, &key)
}

#[test]
fn googles_python_client_sees_what_the_repository_says() {
    let ws = Workspace::start(Options {
        // Quota errors mid-apply, which roster must ride out, and Google's client too.
        fault_rate: 0.1,
        seed: 3,
        ..Options::default()
    });
    let dir = repo(&[("apps.yaml", &ws.app_yaml("")), ("people.yaml", PEOPLE)]);
    let env = ws.env();
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let mut env = env;
    env.push(("ROSTER_RETRY_MAX_SECONDS", "20"));
    let apply = roster(dir.path(), &["apply", "--auto-approve"], &env);
    assert_eq!(apply.code, 0, "{}", apply.all());

    let seen = verify(&ws);
    let users = seen["users"].as_array().unwrap();
    let emails: Vec<&str> = users
        .iter()
        .map(|u| u["primaryEmail"].as_str().unwrap())
        .collect();
    assert_eq!(
        emails,
        [
            ADMIN,
            "alice@example.com",
            "bob@example.com",
            "carol@example.com"
        ],
        "{seen}"
    );
    let by = |e: &str| users.iter().find(|u| u["primaryEmail"] == e).unwrap();
    assert_eq!(
        by("alice@example.com"),
        &json!({"primaryEmail": "alice@example.com", "givenName": "Alice", "familyName": "Smith",
                "suspended": false, "isAdmin": false, "orgUnitPath": "/", "department": "Sales",
                "title": "Lead", "anchor": "alice"})
    );
    assert_eq!(by("bob@example.com")["suspended"], false);
    assert_eq!(by("bob@example.com")["anchor"], "bob");
    assert_eq!(
        by("carol@example.com")["suspended"],
        true,
        "disabled in the repository"
    );
    assert_eq!(by("carol@example.com")["familyName"], "White");
    assert_eq!(by(ADMIN)["isAdmin"], true);
    assert_eq!(by(ADMIN)["suspended"], false, "admins are never suspended");
    assert_eq!(
        seen["groups"],
        json!([
            {"email": "everyone@example.com", "name": "everyone", "description": "",
             "members": ["alice@example.com", "bob@example.com", "carol@example.com"]},
            {"email": "sales-team@example.com", "name": "Sales Team", "description": "Sellers",
             "members": ["alice@example.com", "bob@example.com"]},
        ]),
        "{seen}"
    );
    assert!(seen["pages"].as_u64().unwrap() >= 5, "paged: {seen}");

    // After hand-made drift is reverted, Google's client sees the repository again.
    let (s, v) = ws.call(
        "DELETE",
        "/groups/sales-team@example.com/members/bob@example.com",
        None,
    );
    assert_eq!(s, 204, "{v}");
    let (s, v) = ws.call(
        "PATCH",
        "/users/carol@example.com",
        Some(json!({"suspended": false})),
    );
    assert_eq!(s, 200, "{v}");
    let drift = roster(dir.path(), &["drift"], &env);
    assert_eq!(drift.code, 2, "{}", drift.all());
    let apply = roster(dir.path(), &["apply", "--auto-approve"], &env);
    assert_eq!(apply.code, 0, "{}", apply.all());
    let again = verify(&ws);
    assert_eq!(again["groups"], seen["groups"], "{again}");
    assert_eq!(again["users"], seen["users"], "{again}");
}
