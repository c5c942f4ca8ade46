//! `roster import` against live apps, driving the binary as an admin would: a tenant
//! whose logins and values are odd but valid (the Graph emulator, seeded through
//! Graph's own `POST /users`), imported, validated and planned empty; re-imports that
//! converge; edited files kept unless `--force`; and a SCIM directory (scim2-server)
//! whose usernames roster cannot hold, refused before anything is written.

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::json;

use crate::scim_support::{self, ScimServer};
use crate::support::*;

const IDN: &str = "xn--bcher-kva.example";

fn env() -> Vec<(&'static str, &'static str)> {
    vec![SECRET_ENV]
}

/// Creates a user through Graph with the given extra properties; returns its id.
fn create(g: &Graph, upn: &str, given: &str, surname: &str, extra: serde_json::Value) -> String {
    let mut body = json!({
        "accountEnabled": true,
        "displayName": format!("{given} {surname}"),
        "mailNickname": upn.split('@').next().unwrap().replace(|c: char| !c.is_ascii_alphanumeric(), ""),
        "userPrincipalName": upn,
        "mail": upn,
        "givenName": given,
        "surname": surname,
        "passwordProfile": {"password": "xWwvJ]6NMw+bWH-d"}
    });
    for (k, v) in extra.as_object().unwrap() {
        body[k] = v.clone();
    }
    let (s, v) = g.call("POST", "/users", Some(body));
    assert_eq!(s, 201, "create {upn}: {v}");
    v["id"].as_str().unwrap().to_string()
}

fn create_group(g: &Graph, name: &str, members: &[&String]) -> String {
    let (s, grp) = g.call(
        "POST",
        "/groups",
        Some(json!({"displayName": name, "mailEnabled": false, "mailNickname": name, "securityEnabled": true})),
    );
    assert_eq!(s, 201, "{grp}");
    let gid = grp["id"].as_str().unwrap().to_string();
    for id in members {
        add_member(g, &gid, id);
    }
    gid
}

fn add_member(g: &Graph, gid: &str, id: &str) {
    let (s, v) = g.call(
        "POST",
        &format!("/groups/{gid}/members/$ref"),
        Some(
            json!({"@odata.id": format!("https://graph.microsoft.com/v1.0/directoryObjects/{id}")}),
        ),
    );
    assert_eq!(s, 204, "{v}");
}

const FILES: [&str; 3] = ["o365-users.yaml", "o365-groups.yaml", "o365-policy.yaml"];

fn read_files(dir: &Path) -> Vec<String> {
    FILES
        .iter()
        .map(|f| std::fs::read_to_string(dir.join(f)).unwrap())
        .collect()
}

/// email → username in the imported users file (read by an independent YAML reader).
fn usernames(users_yaml: &str) -> BTreeMap<String, String> {
    let v: serde_yaml::Value = serde_yaml::from_str(users_yaml).unwrap();
    v["users"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|u| {
            (
                u["email"].as_str().unwrap().to_string(),
                u["username"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

fn assert_empty_plan(dir: &Path) {
    let plan = roster(dir, &["plan", "--detailed-exitcode"], &env());
    assert_eq!(
        plan.code,
        0,
        "the plan after import is empty:\n{}",
        plan.all()
    );
    assert!(plan.stdout.contains("No changes"), "{}", plan.all());
}

#[test]
fn odd_tenant_imports_validates_plans_empty_and_reimports_the_same() {
    let emu = Emulator::start(&["--domain", IDN]);
    let g = emu.graph();
    let mut ids = vec![
        create(
            &g,
            "ann-work@contoso.com",
            "Ann",
            "Work",
            json!({"department": "yes"}),
        ),
        create(
            &g,
            "ann!work@contoso.com",
            "Ann",
            "Plus",
            json!({"jobTitle": "0123"}),
        ),
        create(
            &g,
            "ann~work@contoso.com",
            "Ann",
            "Equals",
            json!({"department": "on"}),
        ),
        create(
            &g,
            "O'Brien@contoso.com",
            "Pat",
            "O'Brien",
            json!({"displayName": "O'Brien: Pat #1", "jobTitle": "2024-01-31"}),
        ),
        create(
            &g,
            "dev#ops^~!@contoso.com",
            "Dev",
            "Ops",
            json!({"employeeId": "007"}),
        ),
        create(&g, &format!("CAPS.User@{IDN}"), "Caps", "User", json!({})),
    ];
    let staff = create_group(&g, "staff", &ids.iter().collect::<Vec<_>>());
    create_group(&g, "no", &[&ids[1]]);
    let repo = repo(&[(
        "apps.yaml",
        &o365_app(
            &emu.url,
            &format!("    authorized_domains: [contoso.com, {IDN}]\n"),
        ),
    )]);

    let import = roster(repo.path(), &["import", "--app", "o365"], &env());
    assert_eq!(import.code, 0, "{}", import.all());
    let first = read_files(repo.path());
    let users = &first[0];
    // Logins are kept exactly; usernames are valid, and the collision after
    // sanitising is numbered: the unchanged name first, then in login order.
    assert_eq!(
        usernames(users),
        BTreeMap::from([
            ("ann-work@contoso.com".to_string(), "ann-work".to_string()),
            ("ann!work@contoso.com".to_string(), "ann-work-2".to_string()),
            ("ann~work@contoso.com".to_string(), "ann-work-3".to_string()),
            ("O'Brien@contoso.com".to_string(), "o-brien".to_string()),
            ("dev#ops^~!@contoso.com".to_string(), "dev-ops".to_string()),
            (format!("CAPS.User@{IDN}"), "caps.user".to_string()),
        ]),
        "{users}"
    );
    // YAML 1.1 hazards are quoted.
    for quoted in [
        "department: \"yes\"",
        "department: \"on\"",
        "job_title: \"0123\"",
        "job_title: \"2024-01-31\"",
        "employee_id: \"007\"",
        "display_name: \"O'Brien: Pat #1\"",
    ] {
        assert!(users.contains(quoted), "{quoted} in:\n{users}");
    }
    assert!(first[1].contains("- name: \"no\""), "{}", first[1]);

    let validate = roster(repo.path(), &["validate"], &env());
    assert_eq!(validate.code, 0, "{}", validate.all());
    assert_empty_plan(repo.path());

    // A re-import over its own output yields the same files.
    let again = roster(repo.path(), &["import", "--app", "o365"], &env());
    assert_eq!(again.code, 0, "{}", again.all());
    assert!(again.stderr.contains("unchanged"), "{}", again.all());
    assert_eq!(read_files(repo.path()), first);

    // After a change in the tenant, a re-import converges on it: the new user once,
    // nobody twice, and still an empty plan.
    ids.push(create(&g, "ann.work@contoso.com", "Ann", "Dot", json!({})));
    add_member(&g, &staff, ids.last().unwrap());
    let third = roster(repo.path(), &["import", "--app", "o365"], &env());
    assert_eq!(third.code, 0, "{}", third.all());
    let now = read_files(repo.path());
    let names = usernames(&now[0]);
    assert_eq!(names.len(), 7, "{}", now[0]);
    assert_eq!(names["ann.work@contoso.com"], "ann.work");
    assert_eq!(
        names["ann!work@contoso.com"], "ann-work-2",
        "names are stable"
    );
    assert_eq!(roster(repo.path(), &["validate"], &env()).code, 0);
    assert_empty_plan(repo.path());
}

#[test]
fn edited_and_foreign_files_are_replaced_only_with_force() {
    let emu = Emulator::start(&[]);
    let g = emu.graph();
    let ann = create(&g, "ann@contoso.com", "Ann", "Lee", json!({}));
    create_group(&g, "ops", &[&ann]);
    let repo = repo(&[(
        "apps.yaml",
        &o365_app(&emu.url, "    authorized_domains: [contoso.com]\n"),
    )]);
    let import = roster(repo.path(), &["import", "--app", "o365"], &env());
    assert_eq!(import.code, 0, "{}", import.all());
    let users = repo.path().join("o365-users.yaml");
    let fresh = std::fs::read_to_string(&users).unwrap();

    // An admin edits the imported users: the next import does not lose the edit.
    let edited = fresh.replace("first_name: Ann", "first_name: Anne");
    assert_ne!(edited, fresh);
    std::fs::write(&users, &edited).unwrap();
    let refused = roster(repo.path(), &["import", "--app", "o365"], &env());
    assert_eq!(refused.code, 1, "{}", refused.all());
    assert!(
        refused.stderr.contains("o365-users.yaml was edited") && refused.stderr.contains("--force"),
        "{}",
        refused.all()
    );
    assert_eq!(std::fs::read_to_string(&users).unwrap(), edited);

    // A file import did not write is not replaced either.
    let policy = repo.path().join("o365-policy.yaml");
    std::fs::write(&policy, "policies: []\n").unwrap();
    let refused = roster(repo.path(), &["import", "--app", "o365"], &env());
    assert_eq!(refused.code, 1);
    assert!(
        refused
            .stderr
            .contains("o365-policy.yaml exists and was not written by roster import"),
        "{}",
        refused.all()
    );

    let forced = roster(repo.path(), &["import", "--app", "o365", "--force"], &env());
    assert_eq!(forced.code, 0, "{}", forced.all());
    assert_eq!(std::fs::read_to_string(&users).unwrap(), fresh);
    assert_empty_plan(repo.path());
}

#[test]
fn users_defined_by_hand_are_referenced_not_repeated() {
    let emu = Emulator::start(&[]);
    let g = emu.graph();
    let ann = create(&g, "ann@contoso.com", "Ann", "Lee", json!({}));
    let ben = create(&g, "ben@contoso.com", "Ben", "Ray", json!({}));
    create_group(&g, "ops", &[&ann, &ben]);
    // Ann is in the repository already, under another username; `ben` is taken by
    // someone else.
    let people = "users:\n  - username: annie\n    email: Ann@contoso.com\n    first_name: Ann\n    last_name: Lee\n  \
                  - username: ben\n    email: ben@fabrikam.com\n    first_name: Ben\n    last_name: Other\n";
    let repo = repo(&[
        (
            "apps.yaml",
            &o365_app(&emu.url, "    authorized_domains: [contoso.com]\n"),
        ),
        ("people.yaml", people),
    ]);
    let import = roster(repo.path(), &["import", "--app", "o365"], &env());
    assert_eq!(import.code, 0, "{}", import.all());
    let files = read_files(repo.path());
    assert_eq!(
        usernames(&files[0]),
        BTreeMap::from([("ben@contoso.com".to_string(), "ben-2".to_string())])
    );
    let groups: serde_yaml::Value = serde_yaml::from_str(&files[1]).unwrap();
    assert_eq!(
        groups["groups"][0]["members"],
        serde_yaml::from_str::<serde_yaml::Value>("[annie, ben-2]").unwrap()
    );
    assert_eq!(roster(repo.path(), &["validate"], &env()).code, 0);
    assert_empty_plan(repo.path());
}

#[test]
fn scim_usernames_roster_cannot_hold_stop_the_import_before_writing() {
    let server = ScimServer::start();
    let a = server.create_user("ann", "Ann", "Lee", "ann@example.com");
    let c = server.create_user("carol@example.com", "Carol", "Fox", "carol@example.com");
    server.create_group("sales", &[&a, &c]);
    let env = [scim_support::TOKEN_ENV];
    let repo = repo(&[("apps.yaml", &scim_support::scim_app(&server.url, ""))]);

    let import = roster(repo.path(), &["import", "--app", "hr"], &env);
    assert_eq!(import.code, 1, "{}", import.all());
    assert!(
        import.stderr.contains("hr-users.yaml:")
            && import
                .stderr
                .contains("username `carol@example.com` contains '@'"),
        "names the object: {}",
        import.all()
    );
    assert!(
        import.stderr.contains("nothing was written") && import.stderr.contains("ignore"),
        "{}",
        import.all()
    );
    for f in ["hr-users.yaml", "hr-groups.yaml", "hr-policy.yaml"] {
        assert!(!repo.path().join(f).exists(), "{f} was not written");
    }

    // With the account left alone, the rest imports and plans empty.
    std::fs::write(
        repo.path().join("apps.yaml"),
        scim_support::scim_app(&server.url, "    ignore: [\"carol@example.com\"]\n"),
    )
    .unwrap();
    let import = roster(repo.path(), &["import", "--app", "hr"], &env);
    assert_eq!(import.code, 0, "{}", import.all());
    assert_eq!(roster(repo.path(), &["validate"], &env).code, 0);
    let plan = roster(repo.path(), &["plan", "--detailed-exitcode"], &env);
    assert_eq!(plan.code, 0, "{}", plan.all());
}
