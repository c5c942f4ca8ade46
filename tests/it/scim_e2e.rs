//! End to end for scim apps, driving the `roster` binary against scim2-server (a
//! third-party SCIM 2.0 service provider from PyPI, installed and started by the test
//! through `scripts/scim-server.sh`): plan → apply → empty plan; drift for a user
//! changed directly through SCIM; deprovisioning as `active=false`; import round trip;
//! mapped attributes and managers; a username rename; a deleted user created again.
//!
//! scim2-server 0.8.3 and the RFCs, as met by these tests and `scim_connector.rs`:
//! - scim2-server: it accepts `"userName": ""` on POST although userName is REQUIRED
//!   (RFC 7643 §4.1.1) and an empty string counts as unassigned (§2.5).
//! - scim2-server: a PATCH adding a member whose `value` is the id of no resource is
//!   accepted (204); RFC 7643 §4.2 defines `value` as the id of a User or Group.
//! - scim2-server: group members are returned with `value` only, without `$ref` or
//!   `type` (both optional in RFC 7643 §8.7.1, so roster reads `value` only).
//! - scim2-server: error responses carry a `Location` header, which RFC 7644 §3.1
//!   defines for created resources only (harmless).
//! - Within the RFCs' latitude: discovery endpoints answer without authentication
//!   (RFC 7644 §4 allows it, so roster proves the token with one small read); PATCH
//!   answers 204 without a body (§3.5.2 allows it); list order is not insertion order
//!   (no `sortBy` was asked for); with PATCH or filtering not announced it answers 501
//!   (§3.12), and it caps `count` at the announced `maxResults` (§3.4.2.4).

use crate::scim_support;
use crate::support;

use scim_support::*;
use support::{Run, repo, roster};

fn env() -> Vec<(&'static str, &'static str)> {
    vec![TOKEN_ENV]
}

fn people(extra_members: &str) -> String {
    format!(
        r#"users:
  - username: alice
    email: alice@example.com
    first_name: Alice
    last_name: Smith
  - username: bob
    email: bob@example.com
    first_name: Bob
    last_name: Jones
  - username: carol
    email: carol@other.example
    first_name: Carol
    last_name: White
groups:
  - name: staff
    members: [alice{extra_members}, carol]
policies:
  - name: hr-access
    app: hr
    groups: [staff]
"#
    )
}

fn ok(run: &Run) {
    assert_eq!(run.code, 0, "{}", run.all());
    assert!(!run.all().contains(TOKEN), "the token never appears");
}

#[test]
fn plan_apply_then_plan_is_empty_and_reported() {
    let server = ScimServer::start();
    let repo = repo(&[
        (
            "apps.yaml",
            &scim_app(&server.url, "    authorized_domains: [example.com]\n"),
        ),
        ("people.yaml", &people(", bob")),
    ]);
    let plan = roster(repo.path(), &["plan", "--detailed-exitcode"], &env());
    assert_eq!(plan.code, 2, "{}", plan.all());
    assert!(plan.stdout.contains("alice"), "{}", plan.stdout);
    // carol's domain is not authorized: a warning, not a change.
    assert!(plan.all().contains("carol"), "{}", plan.all());
    assert!(server.list("/Users").is_empty(), "plan must not write");

    let apply = roster(repo.path(), &["apply", "--auto-approve"], &env());
    ok(&apply);
    assert_eq!(server.member_names("staff"), ["alice", "bob"]);
    assert!(server.user("carol").is_none());

    let again = roster(repo.path(), &["plan", "--detailed-exitcode"], &env());
    assert_eq!(again.code, 0, "second plan must be empty:\n{}", again.all());
    let drift = roster(repo.path(), &["drift"], &env());
    assert_eq!(drift.code, 0, "{}", drift.all());

    let report = roster(
        repo.path(),
        &["report", "--format", "json", "--app", "hr"],
        &env(),
    );
    ok(&report);
    let rows: serde_json::Value = serde_json::from_str(&report.stdout).unwrap();
    let rows = rows.as_array().unwrap();
    assert!(
        rows.iter()
            .any(|r| r["action"] == "create" && r["key"] == "alice" && r["result"] == "applied"),
        "{rows:?}"
    );
    assert!(
        rows.iter()
            .any(|r| r["action"] == "add" && r["result"] == "applied")
    );
}

#[test]
fn a_user_changed_through_scim_is_drift_and_apply_reverts_it() {
    let server = ScimServer::start();
    let repo = repo(&[
        ("apps.yaml", &scim_app(&server.url, "")),
        ("people.yaml", &people(", bob")),
    ]);
    ok(&roster(repo.path(), &["apply", "--auto-approve"], &env()));

    // An admin edits bob in the app and creates an account by hand.
    let bob = server.user("bob").unwrap();
    server.patch_user(
        bob["id"].as_str().unwrap(),
        "name.familyName",
        serde_json::json!("Changed"),
    );
    server.create_user("mallory", "Mal", "Lory", "mallory@example.com");
    let drift = roster(repo.path(), &["drift", "--format", "json"], &env());
    assert_eq!(drift.code, 2, "{}", drift.all());
    let plan: serde_json::Value = serde_json::from_str(&drift.stdout).unwrap();
    let changes = plan["changes"].as_array().unwrap();
    assert_eq!(changes.len(), 2, "{changes:?}");
    let bob_change = changes
        .iter()
        .find(|c| c["key"] == "bob")
        .expect("bob drifted");
    assert_eq!(bob_change["action"], "update");
    assert_eq!(bob_change["before"]["last_name"], "Changed");
    assert_eq!(bob_change["after"]["last_name"], "Jones");
    let mallory = changes
        .iter()
        .find(|c| c["key"] == "mallory")
        .expect("mallory");
    // delete_users is off by default: the hand-made account is deactivated.
    assert_eq!(mallory["action"], "disable");
    let human = roster(repo.path(), &["drift"], &env());
    assert_eq!(human.code, 2);
    assert!(human.stdout.contains("mallory"), "{}", human.stdout);

    ok(&roster(repo.path(), &["apply", "--auto-approve"], &env()));
    assert_eq!(server.user("bob").unwrap()["name"]["familyName"], "Jones");
    assert_eq!(server.user("mallory").unwrap()["active"], false);
    assert_eq!(roster(repo.path(), &["drift"], &env()).code, 0);
}

#[test]
fn a_user_removed_from_the_bound_group_is_deactivated_not_deleted() {
    let server = ScimServer::start();
    let app = "    switches: { enable_disable_users: true, delete_users: false }\n";
    let repo = repo(&[
        ("apps.yaml", &scim_app(&server.url, app)),
        ("people.yaml", &people(", bob")),
    ]);
    ok(&roster(repo.path(), &["apply", "--auto-approve"], &env()));
    let bob_id = server.user("bob").unwrap()["id"].clone();

    std::fs::write(repo.path().join("people.yaml"), people("")).unwrap();
    let plan = roster(repo.path(), &["plan", "--format", "json"], &env());
    ok(&plan);
    let p: serde_json::Value = serde_json::from_str(&plan.stdout).unwrap();
    let actions: Vec<String> = p["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| format!("{} {} {}", c["object"], c["action"], c["key"]).replace('"', ""))
        .collect();
    assert_eq!(
        actions,
        ["membership remove staff/bob", "user disable bob"],
        "{p}"
    );

    ok(&roster(repo.path(), &["apply", "--auto-approve"], &env()));
    let bob = server.user("bob").expect("bob is kept");
    assert_eq!(bob["id"], bob_id);
    assert_eq!(bob["active"], false, "deprovisioned as active=false");
    assert_eq!(server.member_names("staff"), ["alice", "carol"]);
    let again = roster(repo.path(), &["plan", "--detailed-exitcode"], &env());
    assert_eq!(again.code, 0, "{}", again.all());
}

#[test]
fn import_round_trip_gives_an_empty_plan() {
    let server = ScimServer::start();
    // A directory built by hand, before roster.
    let a = server.create_user("ann", "Ann", "Lee", "ann@example.com");
    let b = server.create_user("ben", "Ben", "Ray", "ben@example.com");
    let c = server.create_user("cat", "Cat", "Fox", "cat@example.com");
    server.create_group("sales", &[&a, &b]);
    server.create_group("support", &[&b, &c]);
    let repo = repo(&[("apps.yaml", &scim_app(&server.url, ""))]);

    let import = roster(repo.path(), &["import", "--app", "hr"], &env());
    ok(&import);
    let users = std::fs::read_to_string(repo.path().join("hr-users.yaml")).unwrap();
    assert!(users.contains("username: ann"), "{users}");
    assert!(users.contains("email: ben@example.com"), "{users}");
    let groups = std::fs::read_to_string(repo.path().join("hr-groups.yaml")).unwrap();
    assert!(groups.contains("support"), "{groups}");

    let validate = roster(repo.path(), &["validate"], &env());
    ok(&validate);
    let plan = roster(repo.path(), &["plan", "--detailed-exitcode"], &env());
    assert_eq!(
        plan.code,
        0,
        "the plan after import is empty:\n{}",
        plan.all()
    );
    assert_eq!(server.list("/Users").len(), 3);
}

#[test]
fn a_bad_url_or_missing_token_fails_clearly() {
    let repo = repo(&[
        ("apps.yaml", &scim_app("http://127.0.0.1:9/v2", "")),
        ("people.yaml", &people("")),
    ]);
    let run = roster(repo.path(), &["plan"], &[]);
    assert_eq!(run.code, 1, "{}", run.all());
    assert!(run.stderr.contains("hr"), "{}", run.stderr);
    assert!(
        run.stderr.contains(TOKEN_ENV.0),
        "names the missing variable: {}",
        run.stderr
    );
}

/// A scim app with mapped core and enterprise attributes.
const MAPPED: &str = r#"    attribute_map:
      title: "{job_title}"
      'phoneNumbers[type eq "work"].value': "{attributes.phone}"
      "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber": "{employee_id}"
"#;

fn mapped_people(ann_extra: &str) -> String {
    format!(
        r#"users:
  - username: boss
    email: boss@example.com
    first_name: Big
    last_name: Boss
  - username: ann
    email: ann@example.com
    first_name: Ann
    last_name: Lee
    job_title: CTO
    employee_id: E1
    attributes: {{ phone: "+33 1" }}
    manager: boss
{ann_extra}groups:
  - name: staff
    members: [ann, boss]
policies:
  - name: hr-access
    app: hr
    groups: [staff]
"#
    )
}

/// Through the planner: mapped attributes in creates and updates, the `manager`
/// change, and an empty plan once they hold (the planner of issue 16 plans them).
#[test]
fn mapped_attributes_and_a_manager_plan_apply_and_converge() {
    let server = ScimServer::start();
    let repo = repo(&[
        ("apps.yaml", &scim_app(&server.url, MAPPED)),
        ("people.yaml", &mapped_people("")),
    ]);
    ok(&roster(repo.path(), &["apply", "--auto-approve"], &env()));
    let boss = server.user("boss").expect("boss");
    let ann = server.user("ann").expect("ann");
    assert_eq!(ann["title"], "CTO", "{ann}");
    assert_eq!(ann["phoneNumbers"][0]["value"], "+33 1", "{ann}");
    assert_eq!(ann[ENTERPRISE]["employeeNumber"], "E1", "{ann}");
    assert_eq!(ann[ENTERPRISE]["manager"]["value"], boss["id"], "{ann}");
    let again = roster(repo.path(), &["plan", "--detailed-exitcode"], &env());
    assert_eq!(again.code, 0, "second plan must be empty:\n{}", again.all());

    // Changed by hand in the app: drift, and apply puts it back.
    server.patch_user(
        ann["id"].as_str().unwrap(),
        &format!("{ENTERPRISE}:employeeNumber"),
        serde_json::json!("X"),
    );
    let drift = roster(repo.path(), &["drift"], &env());
    assert_eq!(drift.code, 2, "{}", drift.all());
    ok(&roster(repo.path(), &["apply", "--auto-approve"], &env()));
    assert_eq!(
        server.user("ann").unwrap()[ENTERPRISE]["employeeNumber"],
        "E1"
    );
}

/// Through the planner: `previous_usernames` makes the live account of the old
/// username a rename (issue 16's planner), which the connector carries out in place.
#[test]
fn a_username_rename_keeps_the_scim_account() {
    let server = ScimServer::start();
    let repo = repo(&[
        ("apps.yaml", &scim_app(&server.url, "")),
        ("people.yaml", &people(", bob")),
    ]);
    ok(&roster(repo.path(), &["apply", "--auto-approve"], &env()));
    let bob_id = server.user("bob").unwrap()["id"].clone();

    let renamed = people(", robert").replace(
        "  - username: bob\n",
        "  - username: robert\n    previous_usernames: [bob]\n",
    );
    std::fs::write(repo.path().join("people.yaml"), renamed).unwrap();
    let plan = roster(repo.path(), &["plan", "--format", "json"], &env());
    ok(&plan);
    let p: serde_json::Value = serde_json::from_str(&plan.stdout).unwrap();
    let changes = p["changes"].as_array().unwrap();
    assert!(
        changes
            .iter()
            .all(|c| c["action"] != "create" && c["action"] != "delete"),
        "a rename, not a re-create: {p}"
    );
    ok(&roster(repo.path(), &["apply", "--auto-approve"], &env()));
    let robert = server.user("robert").expect("renamed");
    assert_eq!(robert["id"], bob_id, "the same account");
    assert_eq!(robert["externalId"], "robert");
    assert!(server.user("bob").is_none());
    assert_eq!(server.member_names("staff"), ["alice", "carol", "robert"]);
    let again = roster(repo.path(), &["plan", "--detailed-exitcode"], &env());
    assert_eq!(again.code, 0, "{}", again.all());
}

#[test]
fn a_user_deleted_in_the_app_is_created_again_not_restored() {
    // SCIM keeps no deleted items: the account comes back as a new resource.
    let server = ScimServer::start();
    let repo = repo(&[
        ("apps.yaml", &scim_app(&server.url, "")),
        ("people.yaml", &people(", bob")),
    ]);
    ok(&roster(repo.path(), &["apply", "--auto-approve"], &env()));
    let old = server.user("bob").unwrap()["id"].clone();
    let (s, v) = server.call("DELETE", &format!("/Users/{}", old.as_str().unwrap()), None);
    assert_eq!(s, 204, "{v}");

    let plan = roster(repo.path(), &["plan", "--format", "json"], &env());
    ok(&plan);
    let p: serde_json::Value = serde_json::from_str(&plan.stdout).unwrap();
    let bob: Vec<String> = p["changes"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["key"] == "bob" || c["key"] == "staff/bob")
        .map(|c| format!("{} {}", c["object"], c["action"]).replace('"', ""))
        .collect();
    assert_eq!(bob, ["user create", "membership add"], "{p}");
    ok(&roster(repo.path(), &["apply", "--auto-approve"], &env()));
    let bob = server.user("bob").expect("created again");
    assert_ne!(bob["id"], old, "a new resource");
    assert_eq!(server.member_names("staff"), ["alice", "bob", "carol"]);
}
