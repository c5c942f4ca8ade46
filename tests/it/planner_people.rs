//! Planner rules of "people keep their accounts": links by anchor (renames), restores
//! from the deleted items, the manager, and the attribute-mapping rules — as pure plans
//! of observed states, one rule per test.

use crate::planner_support as support;

use roster::observed::{ObservedApp, ObservedGroup, ObservedUser};
use roster::plan::{Action, Plan};
use serde_json::json;
use support::*;

const JANE: &str = "
users:
  - username: jane
    email: jane.doe@contoso.com
    first_name: Jane
    last_name: Doe
groups:
  - name: staff
    members: [jane]
policies:
  - name: p
    app: o365
    groups: [staff]
";

/// An office365 user as roster creates it: the anchor (`mailNickname`) is the username.
fn anchored(id: &str, login: &str, anchor: &str, first: &str, last: &str) -> ObservedUser {
    let mut u = user(
        id,
        login,
        &[
            ("email", login),
            ("first_name", first),
            ("last_name", last),
            ("display_name", &format!("{first} {last}")),
        ],
    );
    u.username = Some(anchor.into());
    u
}

fn warnings(p: &Plan) -> Vec<&str> {
    p.warnings.iter().map(|w| w.message.as_str()).collect()
}

fn one_app(app: ObservedApp) -> std::collections::BTreeMap<String, ObservedApp> {
    observed(vec![app])
}

#[test]
fn a_changed_email_is_an_update_of_the_same_account_with_its_memberships() {
    let d = o365("switches: { delete_users: true }", JANE);
    let live = anchored("u-1", "jane.smith@contoso.com", "jane", "Jane", "Smith");
    let obs = one_app(app(
        "o365",
        vec![live],
        vec![group("g-1", "staff", &["u-1"])],
    ));
    let p = run(&d, &obs);
    assert_eq!(
        lines(&p),
        ["user update jane"],
        "no create, no delete, no member moves"
    );
    let c = &p.changes[0];
    assert_eq!(c.id.as_deref(), Some("u-1"));
    let (before, after) = (c.before.as_ref().unwrap(), c.after.as_ref().unwrap());
    assert_eq!(before["login"], json!("jane.smith@contoso.com"));
    assert_eq!(after["login"], json!("jane.doe@contoso.com"));
    assert_eq!(after["last_name"], json!("Doe"));
    assert!(
        !after.contains_key("username"),
        "the anchor already is the username"
    );
}

#[test]
fn a_previous_username_renames_the_account_and_rewrites_its_anchor() {
    let d = o365(
        "switches: { delete_users: true }",
        &JANE.replace(
            "  - username: jane\n",
            "  - username: jane\n    previous_usernames: [jsmith]\n",
        ),
    );
    let live = anchored("u-1", "jane.smith@contoso.com", "jsmith", "Jane", "Smith");
    let obs = one_app(app(
        "o365",
        vec![live],
        vec![group("g-1", "staff", &["u-1"])],
    ));
    let p = run(&d, &obs);
    assert_eq!(lines(&p), ["user update jane"]);
    let c = &p.changes[0];
    assert_eq!(c.before.as_ref().unwrap()["username"], json!("jsmith"));
    assert_eq!(c.after.as_ref().unwrap()["username"], json!("jane"));
    assert!(
        c.reason.contains("previous username jsmith"),
        "{}",
        c.reason
    );
}

#[test]
fn without_a_declared_previous_username_a_changed_username_is_no_rename() {
    // The live anchor is jsmith and the repository does not say jane was jsmith: a
    // create and a deprovision, as before — links are never guessed.
    let d = o365("switches: { delete_users: true }", JANE);
    let live = anchored("u-1", "jane.smith@contoso.com", "jsmith", "Jane", "Smith");
    let obs = one_app(app(
        "o365",
        vec![live],
        vec![group("g-1", "staff", &["u-1"])],
    ));
    let p = run(&d, &obs);
    let l = lines(&p);
    assert!(l.contains(&"user create jane".to_string()), "{l:?}");
    assert!(
        l.contains(&"user delete jane.smith@contoso.com".to_string()),
        "{l:?}"
    );
}

#[test]
fn an_anchor_two_accounts_carry_links_neither_with_a_warning() {
    let d = o365("", JANE);
    let a = anchored("u-1", "jane.smith@contoso.com", "jane", "Jane", "Smith");
    let b = anchored("u-2", "jane.s@contoso.com", "jane", "Jane", "S");
    let p = run(&d, &one_app(app("o365", vec![a, b], vec![])));
    assert!(
        lines(&p).contains(&"user create jane".to_string()),
        "{:?}",
        lines(&p)
    );
    assert!(
        warnings(&p)
            .iter()
            .any(|w| w.contains("all carry its anchor `jane`")),
        "{:?}",
        warnings(&p)
    );
}

#[test]
fn an_account_a_repository_login_names_is_never_taken_by_anchor() {
    // jane's anchor is on bob's account: bob is in the repository under that login, so
    // the account stays bob's and jane is created.
    let d = o365(
        "",
        &JANE.replacen(
            "\ngroups:",
            "\n  - username: bob\n    email: bob@contoso.com\n    first_name: Bob\n    last_name: B\ngroups:",
            1,
        )
        .replace("members: [jane]", "members: [jane, bob]"),
    );
    let bob = anchored("u-2", "bob@contoso.com", "jane", "Bob", "B");
    let p = run(&d, &one_app(app("o365", vec![bob], vec![])));
    let l = lines(&p);
    assert!(l.contains(&"user create jane".to_string()), "{l:?}");
    assert!(!l.iter().any(|x| x.starts_with("user update bob")), "{l:?}");
}

#[test]
fn a_deleted_account_is_restored_with_its_id_under_create_users() {
    let d = o365("", JANE);
    let mut gone = anchored(
        "u-9",
        "0123456789abcdef0123456789abcdefjane.doe@contoso.com",
        "jane",
        "Jane",
        "Doe",
    );
    gone.enabled = true;
    let mut live = app("o365", vec![], vec![group("g-1", "staff", &[])]);
    live.deleted_users = vec![gone];
    let p = run(&d, &one_app(live.clone()));
    assert_eq!(
        lines(&p),
        ["user restore jane", "membership add staff/jane"]
    );
    assert_eq!(p.changes[0].id.as_deref(), Some("u-9"));
    assert_eq!(p.summary.restore, 1);
    assert_eq!(p.summary.create, 0);

    let off = o365("switches: { create_users: false }", JANE);
    let p = run(&off, &one_app(live));
    assert!(p.changes.is_empty(), "{:?}", lines(&p));
    assert_eq!(p.skipped[0].switch.as_deref(), Some("create_users"));
}

fn m365(id: &str, name: &str, unique: Option<&str>) -> ObservedGroup {
    ObservedGroup {
        kind: "microsoft365".into(),
        unique_name: unique.map(str::to_string),
        ..group(id, name, &[])
    }
}

#[test]
fn a_bound_microsoft_365_group_in_the_deleted_items_is_restored() {
    let team = JANE.replace(
        "  - name: staff\n    members: [jane]",
        "  - name: staff\n    kind: microsoft365\n    members: [jane]",
    );
    let d = o365("", &team);
    let jane = anchored("u-1", "jane.doe@contoso.com", "jane", "Jane", "Doe");
    let mut live = app("o365", vec![jane], vec![]);
    live.deleted_groups = vec![m365("g-9", "staff", None)];
    let p = run(&d, &one_app(live.clone()));
    assert_eq!(
        lines(&p),
        ["group restore staff", "membership add staff/jane"]
    );
    assert_eq!(p.changes[0].id.as_deref(), Some("g-9"));

    // Two of the name: roster's own (by its key) is the one.
    let key = roster::observed::roster_group_key("staff");
    live.deleted_groups = vec![m365("g-8", "staff", None), m365("g-9", "staff", Some(&key))];
    let p = run(&d, &one_app(live.clone()));
    assert_eq!(p.changes[0].id.as_deref(), Some("g-9"));

    // Two of the name and neither roster's: created, with a warning.
    live.deleted_groups = vec![m365("g-8", "staff", None), m365("g-9", "staff", None)];
    let p = run(&d, &one_app(live));
    assert_eq!(lines(&p)[0], "group create staff");
    assert!(
        warnings(&p)
            .iter()
            .any(|w| w.contains("2 deleted Microsoft 365 groups")),
        "{:?}",
        warnings(&p)
    );
}

#[test]
fn a_deleted_security_group_is_not_restored() {
    let d = o365("", JANE);
    let jane = anchored("u-1", "jane.doe@contoso.com", "jane", "Jane", "Doe");
    let mut live = app("o365", vec![jane], vec![]);
    live.deleted_groups = vec![m365("g-9", "staff", None)];
    let p = run(&d, &one_app(live));
    assert_eq!(
        lines(&p)[0],
        "group create staff",
        "the repository's group is a security group"
    );
}

#[test]
fn the_manager_is_set_only_where_declared_and_provisioned() {
    let d = o365(
        "",
        "
users:
  - { username: ada, email: ada@contoso.com, first_name: Ada, last_name: L }
  - { username: jose, email: jose@contoso.com, first_name: Jose, last_name: N, manager: ada }
  - { username: eve, email: eve@contoso.com, first_name: Eve, last_name: E, manager: out }
  - { username: out, email: out@contoso.com, first_name: Out, last_name: O }
groups:
  - name: staff
    members: [ada, jose, eve]
policies:
  - name: p
    app: o365
    groups: [staff]
",
    );
    let ada = anchored("u-ada", "ada@contoso.com", "ada", "Ada", "L");
    let jose = anchored("u-jose", "jose@contoso.com", "jose", "Jose", "N");
    let eve = anchored("u-eve", "eve@contoso.com", "eve", "Eve", "E");
    let obs = one_app(app(
        "o365",
        vec![ada, jose, eve],
        vec![group("g", "staff", &["u-ada", "u-jose", "u-eve"])],
    ));
    let p = run(&d, &obs);
    assert_eq!(lines(&p), ["manager update jose"]);
    let c = &p.changes[0];
    assert_eq!(c.after.as_ref().unwrap()["manager"], json!("ada"));
    assert_eq!(c.before.as_ref().unwrap()["manager"], json!(null));
    assert!(
        warnings(&p)
            .iter()
            .any(|w| w.contains("eve") && w.contains("out")),
        "a manager not provisioned to the app is a warning: {:?}",
        warnings(&p)
    );

    // Set live: nothing to do; ada without a manager keeps whatever she has.
    let mut obs = obs;
    let a = obs.get_mut("o365").unwrap();
    a.users[1]
        .attributes
        .insert("manager".into(), "u-ada".into());
    a.users[0]
        .attributes
        .insert("manager".into(), "u-eve".into());
    assert!(run(&d, &obs).changes.is_empty());
}

#[test]
fn on_create_targets_are_written_at_creation_and_never_updated() {
    let d = o365(
        "attribute_map:\n  companyName: \"{attributes.company}\"\non_create: [companyName]",
        &JANE.replace(
            "    last_name: Doe\n",
            "    last_name: Doe\n    attributes: { company: Contoso }\n",
        ),
    );
    let p = run(&d, &one_app(app("o365", vec![], vec![])));
    let create = p
        .changes
        .iter()
        .find(|c| c.action == Action::Create && c.key() == "jane");
    assert_eq!(
        create.unwrap().after.as_ref().unwrap()["companyName"],
        json!("Contoso")
    );
    let mut live = anchored("u-1", "jane.doe@contoso.com", "jane", "Jane", "Doe");
    live.attributes
        .insert("companyName".into(), "Old Co".into());
    let p = run(
        &d,
        &one_app(app("o365", vec![live], vec![group("g", "staff", &["u-1"])])),
    );
    assert!(p.changes.is_empty(), "{:?}", lines(&p));
}

#[test]
fn an_empty_value_clears_a_mapped_attribute_but_never_a_required_one() {
    let d = o365(
        "attribute_map:\n  companyName: \"{attributes.company}\"\n  displayName: \"{attributes.shown}\"",
        JANE,
    );
    let mut live = anchored("u-1", "jane.doe@contoso.com", "jane", "Jane", "Doe");
    live.attributes
        .insert("companyName".into(), "Old Co".into());
    let p = run(
        &d,
        &one_app(app("o365", vec![live], vec![group("g", "staff", &["u-1"])])),
    );
    assert_eq!(lines(&p), ["user update jane"]);
    let after = p.changes[0].after.as_ref().unwrap();
    assert_eq!(after.get("companyName"), Some(&json!(null)), "cleared");
    assert!(!after.contains_key("display_name"), "{after:?}");
    assert!(
        warnings(&p).iter().any(|w| w.contains("displayName")),
        "{:?}",
        warnings(&p)
    );
}
