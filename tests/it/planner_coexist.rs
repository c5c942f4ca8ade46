//! Planner rules for live state roster did not make alone: duplicate groups, and (issue
//! "Real tenants") guests, synced users, role holders, inherited licences and groups
//! whose members the service manages.

use crate::planner_support as support;

use roster::observed::{ObservedGroup, roster_group_key};
use roster::plan::Action;
use support::*;

fn keyed(id: &str, name: &str, key_of: &str, members: &[&str]) -> ObservedGroup {
    ObservedGroup {
        unique_name: Some(roster_group_key(key_of)),
        ..group(id, name, members)
    }
}

const STAFF: &str = "
users:
  - { username: alice, email: alice@contoso.com, first_name: Alice, last_name: Smith }
groups:
  - { name: staff, members: [alice] }
policies:
  - { name: p, app: o365, groups: [staff] }
";

fn alice() -> roster::observed::ObservedUser {
    user(
        "u-a",
        "alice@contoso.com",
        &[
            ("email", "alice@contoso.com"),
            ("first_name", "Alice"),
            ("last_name", "Smith"),
            ("display_name", "Alice Smith"),
        ],
    )
}

#[test]
fn the_group_with_roster_key_is_managed_and_an_empty_keyed_duplicate_is_removed() {
    let d = o365("switches: { delete_groups: true }", STAFF);
    // g-1 sorts first by id but is a duplicate roster made under another key; g-2
    // carries the key of `staff` and holds alice.
    let obs = observed(vec![app(
        "o365",
        vec![alice()],
        vec![
            keyed("g-1", "staff", "staff (old)", &[]),
            keyed("g-2", "staff", "staff", &["u-a"]),
        ],
    )]);
    let p = run(&d, &obs);
    assert_eq!(lines(&p), ["group delete staff"]);
    let c = &p.changes[0];
    assert_eq!(
        c.id.as_deref(),
        Some("g-1"),
        "the duplicate is deleted by its own id"
    );
    assert!(
        c.reason.contains("duplicate of group staff (id g-2)"),
        "{}",
        c.reason
    );
}

#[test]
fn duplicates_that_are_not_rosters_or_hold_members_are_only_reported() {
    let d = o365("switches: { delete_groups: true }", STAFF);
    let obs = observed(vec![app(
        "o365",
        vec![alice()],
        vec![
            keyed("g-0", "staff", "staff", &["u-a"]),
            group("g-1", "staff", &[]),
            keyed("g-2", "staff", "other", &["u-a"]),
        ],
    )]);
    let p = run(&d, &obs);
    assert!(p.changes.is_empty(), "{:?}", lines(&p));
    let w: Vec<&str> = p.warnings.iter().map(|w| w.message.as_str()).collect();
    assert!(
        w.iter()
            .any(|m| m.contains("id g-1 is left alone (roster did not create it)")),
        "{w:?}"
    );
    assert!(
        w.iter()
            .any(|m| m.contains("id g-2 is left alone (it has members)")),
        "{w:?}"
    );
}

#[test]
fn duplicate_removal_obeys_delete_groups() {
    let d = o365("switches: { delete_groups: false }", STAFF);
    let obs = observed(vec![app(
        "o365",
        vec![alice()],
        vec![
            keyed("g-1", "staff", "staff", &["u-a"]),
            keyed("g-2", "staff", "x", &[]),
        ],
    )]);
    let p = run(&d, &obs);
    assert!(p.changes.is_empty());
    assert_eq!(p.skipped.len(), 1);
    assert_eq!(p.skipped[0].action, Action::Delete);
    assert!(p.skipped[0].reason.contains("delete group id g-2"));
}

#[test]
fn without_a_keyed_group_the_first_by_id_is_managed() {
    let d = o365("switches: { delete_groups: true }", STAFF);
    let obs = observed(vec![app(
        "o365",
        vec![alice()],
        vec![group("g-2", "staff", &[]), group("g-1", "staff", &["u-a"])],
    )]);
    let p = run(&d, &obs);
    assert!(p.changes.is_empty(), "{:?}", lines(&p));
}

use roster::observed::{GroupRestriction, Protection};

fn tenant(
    users: Vec<roster::observed::ObservedUser>,
    groups: Vec<ObservedGroup>,
) -> roster::observed::ObservedApp {
    let mut a = app("o365", users, groups);
    a.verified_domains = vec!["contoso.com".into(), "contoso.onmicrosoft.com".into()];
    a.initial_domain = Some("contoso.onmicrosoft.com".into());
    a
}

/// An office365 app with no `authorized_domains`, so the defaults apply.
fn o365_default_domains(extra: &str, rest: &str) -> roster::desired::DesiredState {
    let extra: String = extra.lines().map(|l| format!("    {l}\n")).collect();
    desired(&format!(
        "apps:\n  - name: o365\n    type: office365\n{extra}{rest}"
    ))
}

#[test]
fn guests_and_the_initial_domain_are_outside_the_default_scope() {
    let d = o365_default_domains("switches: { delete_users: true }", STAFF);
    let guest = roster::observed::ObservedUser {
        guest: true,
        ..user("u-g", "pat_gmail.com#EXT#@contoso.onmicrosoft.com", &[])
    };
    let breakglass = user("u-b", "breakglass@contoso.onmicrosoft.com", &[]);
    let stranger = user("u-s", "stranger@contoso.com", &[]);
    let obs = observed(vec![tenant(
        vec![alice(), guest, breakglass, stranger],
        vec![keyed("g", "staff", "staff", &["u-a", "u-g"])],
    )]);
    let p = run(&d, &obs);
    // Only the stranger in the verified custom domain goes; the guest stays a member.
    assert_eq!(lines(&p), ["user delete stranger@contoso.com"]);

    // Listed explicitly, the initial domain is managed; with manage_guests, guests too.
    let d = o365_default_domains(
        "authorized_domains: [contoso.com, contoso.onmicrosoft.com]\nmanage_guests: true\nswitches: { delete_users: true }",
        STAFF,
    );
    let p = run(&d, &obs);
    assert_eq!(
        lines(&p),
        [
            "user delete breakglass@contoso.onmicrosoft.com",
            "user delete pat_gmail.com#EXT#@contoso.onmicrosoft.com",
            "user delete stranger@contoso.com",
        ]
    );
}

#[test]
fn protected_users_are_listed_with_their_reason_and_not_changed() {
    let d = o365(
        "switches: { delete_users: true }",
        "
users:
  - { username: alice, email: alice@contoso.com, first_name: Alice, last_name: Smith, department: Sales, usage_location: DE, mobile_phone: '+1 555', enabled: false }
  - { username: gadmin, email: gadmin@contoso.com, first_name: G, last_name: Admin, department: IT, mobile_phone: '+1 777' }
groups:
  - { name: staff, members: [alice, gadmin] }
policies:
  - { name: p, app: o365, groups: [staff] }
",
    );
    let synced = roster::observed::ObservedUser {
        protections: vec![Protection::SyncedFromOnPremises],
        ..user(
            "u-a",
            "alice@contoso.com",
            &[
                ("email", "alice@contoso.com"),
                ("first_name", "Alice"),
                ("last_name", "Smith"),
                ("display_name", "Alice Smith"),
                ("department", "Marketing"),
                ("usage_location", "US"),
            ],
        )
    };
    let admin = roster::observed::ObservedUser {
        protections: vec![Protection::PrivilegedRole {
            roles: vec!["Global Administrator".into()],
        }],
        ..user(
            "u-g",
            "gadmin@contoso.com",
            &[
                ("email", "gadmin@contoso.com"),
                ("first_name", "G"),
                ("last_name", "Admin"),
                ("display_name", "G Admin"),
            ],
        )
    };
    let other_admin = roster::observed::ObservedUser {
        protections: vec![Protection::PrivilegedRole {
            roles: vec!["User Administrator".into()],
        }],
        ..user("u-x", "useradmin@contoso.com", &[])
    };
    let obs = observed(vec![app(
        "o365",
        vec![synced, admin, other_admin],
        vec![keyed("g", "staff", "staff", &["u-a", "u-g"])],
    )]);
    let p = run(&d, &obs);
    // The synced user gets only its usage location; the admin only its department.
    let changes: Vec<String> = p
        .changes
        .iter()
        .map(|c| {
            format!(
                "{} {:?}",
                c.key(),
                c.after
                    .as_ref()
                    .map(|a| a.keys().cloned().collect::<Vec<_>>())
            )
        })
        .collect();
    assert_eq!(
        changes,
        [
            "alice Some([\"usage_location\"])",
            "gadmin Some([\"department\"])",
        ]
    );
    let listed: Vec<(String, Action, Option<String>)> = p
        .skipped
        .iter()
        .map(|s| (s.key.clone(), s.action, s.switch.clone()))
        .collect();
    assert_eq!(
        listed,
        [
            ("alice".to_string(), Action::Update, None),
            ("alice".to_string(), Action::Disable, None),
            ("gadmin".to_string(), Action::Update, None),
            ("useradmin@contoso.com".to_string(), Action::Delete, None),
        ]
    );
    assert!(
        p.skipped[0]
            .reason
            .contains("department, mobile_phone differ"),
        "{}",
        p.skipped[0].reason
    );
    assert!(p.skipped[0].reason.contains("mastered on premises"));
    assert!(p.skipped[2].reason.contains("mobile_phone"));
    assert!(
        p.skipped[3].reason.contains("User Administrator"),
        "{}",
        p.skipped[3].reason
    );
    assert_eq!(p.deletion_guards[0].deletes, 0);
}

#[test]
fn inherited_licences_satisfy_the_yaml_are_never_removed_and_free_no_seats() {
    let d = o365(
        "",
        "
users:
  - { username: alice, email: alice@contoso.com, first_name: Alice, last_name: Smith, usage_location: US, licenses: [ENTERPRISEPACK] }
  - { username: bob, email: bob@contoso.com, first_name: Bob, last_name: Jones, usage_location: US }
groups:
  - { name: staff, members: [alice, bob] }
policies:
  - { name: p, app: o365, groups: [staff] }
",
    );
    let attrs = |e: &str, f: &str, l: &str| {
        vec![
            ("email", e.to_string()),
            ("first_name", f.to_string()),
            ("last_name", l.to_string()),
            ("display_name", format!("{f} {l}")),
            ("usage_location", "US".to_string()),
        ]
    };
    let mk = |id: &str, login: &str, a: Vec<(&str, String)>| roster::observed::ObservedUser {
        attributes: a.into_iter().map(|(k, v)| (k.to_string(), v)).collect(),
        ..user(id, login, &[])
    };
    let mut alice = mk(
        "u-a",
        "alice@contoso.com",
        attrs("alice@contoso.com", "Alice", "Smith"),
    );
    alice.inherited_licenses.insert("ENTERPRISEPACK".into());
    let mut bob = mk(
        "u-b",
        "bob@contoso.com",
        attrs("bob@contoso.com", "Bob", "Jones"),
    );
    bob.inherited_licenses.insert("ENTERPRISEPACK".into());
    bob.licenses.insert("ENTERPRISEPACK".into());
    let obs = observed(vec![app(
        "o365",
        vec![alice, bob],
        vec![keyed("g", "staff", "staff", &["u-a", "u-b"])],
    )]);
    let p = run(&d, &obs);
    // alice holds it through a group: nothing to add. bob's direct one goes, the
    // inherited one stays (and no seat is freed).
    assert_eq!(lines(&p), ["license remove bob ENTERPRISEPACK"]);
}

#[test]
fn binding_a_group_roster_cannot_manage_fails_the_plan_naming_it() {
    let yaml = "
users:
  - { username: alice, email: alice@contoso.com, first_name: Alice, last_name: Smith }
groups:
  - { name: dyn, members: [alice] }
  - { name: dl, members: [alice] }
  - { name: admins, members: [alice] }
policies:
  - { name: p, app: o365, groups: [dyn, dl, admins] }
";
    let restricted = |id: &str, name: &str, r: GroupRestriction| ObservedGroup {
        restriction: Some(r),
        ..group(id, name, &[])
    };
    let obs = observed(vec![app(
        "o365",
        vec![alice()],
        vec![
            restricted(
                "g-d",
                "dyn",
                GroupRestriction::Dynamic {
                    rule: "user.department -eq \"Sales\"".into(),
                },
            ),
            restricted("g-l", "dl", GroupRestriction::Distribution),
            restricted("g-r", "admins", GroupRestriction::RoleAssignable),
        ],
    )]);
    let err = try_plan(&o365("", yaml), &obs).expect_err("the plan fails");
    let text = err.to_string();
    for want in [
        "group dyn is bound by policy p, but its live group (id g-d) is a dynamic group",
        "group dl is bound by policy p, but its live group (id g-l) is a distribution list",
        "group admins is bound by policy p, but its live group (id g-r) is a role-assignable group",
        "manage_role_assignable_groups: true",
    ] {
        assert!(text.contains(want), "{want}\n{text}");
    }
    // With the permission declared, the role-assignable group is managed.
    let yaml2 = yaml.replace("groups: [dyn, dl, admins]", "groups: [admins]");
    let p = run(&o365("manage_role_assignable_groups: true", &yaml2), &obs);
    // The unbound repository groups: the dynamic one may go, the distribution list
    // cannot be deleted through Graph and is listed.
    assert_eq!(
        lines(&p),
        ["membership add admins/alice", "group delete dyn"]
    );
    assert_eq!(p.skipped.len(), 1);
    assert_eq!(p.skipped[0].key, "dl");
    assert!(p.skipped[0].reason.contains("distribution list"));
}

#[test]
fn a_user_in_a_federated_domain_needs_an_immutable_id() {
    let yaml = |extra: &str| {
        format!(
            "
users:
  - {{ username: alice, email: alice@corp.contoso.com, first_name: Alice, last_name: Smith{extra} }}
groups:
  - {{ name: staff, members: [alice] }}
policies:
  - {{ name: p, app: o365, groups: [staff] }}
"
        )
    };
    let mut t = app("o365", vec![], vec![]);
    t.verified_domains.push("corp.contoso.com".into());
    t.federated_domains.insert("corp.contoso.com".into());
    let obs = observed(vec![t]);
    let d = o365_default_domains("", &yaml(""));
    let err = try_plan(&d, &obs).expect_err("no immutable id");
    assert!(
        err.to_string()
            .contains("federated domain corp.contoso.com"),
        "{err}"
    );
    let d = o365_default_domains("", &yaml(", immutable_id: 'AAECAwQFBgcICQoLDA0ODw=='"));
    let p = run(&d, &obs);
    assert_eq!(
        p.changes[1].after.as_ref().unwrap()["immutable_id"],
        "AAECAwQFBgcICQoLDA0ODw=="
    );
}

#[test]
fn additive_groups_gain_members_and_lose_none() {
    let d = o365(
        "",
        "
users:
  - { username: alice, email: alice@contoso.com, first_name: Alice, last_name: Smith }
groups:
  - { name: staff, members: [alice], membership: additive }
policies:
  - { name: p, app: o365, groups: [staff] }
",
    );
    let carol = user("u-c", "carol@contoso.com", &[]);
    let obs = observed(vec![app(
        "o365",
        vec![alice(), carol],
        vec![keyed("g", "staff", "staff", &["u-c"])],
    )]);
    let p = run(&d, &obs);
    // carol is not in the repository (so she is deprovisioned as usual: here the
    // default switches disable her), but she stays a member of the additive group.
    assert!(
        lines(&p).contains(&"membership add staff/alice".to_string()),
        "{:?}",
        lines(&p)
    );
    assert!(
        !lines(&p).iter().any(|l| l.starts_with("membership remove")),
        "{:?}",
        lines(&p)
    );
}

#[test]
fn an_absent_usage_location_is_left_as_it_is() {
    let obs = observed(vec![app(
        "o365",
        vec![roster::observed::ObservedUser {
            attributes: alice()
                .attributes
                .into_iter()
                .chain([("usage_location".to_string(), "US".to_string())])
                .collect(),
            ..alice()
        }],
        vec![keyed("g", "staff", "staff", &["u-a"])],
    )]);
    let p = run(&o365("", STAFF), &obs);
    assert!(p.changes.is_empty(), "{:?}", lines(&p));
}

#[test]
fn a_repository_user_whose_live_account_is_a_guest_is_left_alone() {
    let guest = roster::observed::ObservedUser {
        guest: true,
        ..alice()
    };
    let obs = observed(vec![app(
        "o365",
        vec![guest],
        vec![keyed("g", "staff", "staff", &[])],
    )]);
    let p = run(&o365("", STAFF), &obs);
    assert!(p.changes.is_empty(), "{:?}", lines(&p));
    assert!(
        p.warnings.iter().any(|w| w.message.contains("is a guest")),
        "{:?}",
        p.warnings
    );
}

#[test]
fn expired_entries_leave_additive_groups_and_unknown_role_holders_are_warned_about() {
    let d = o365(
        "",
        "
users:
  - { username: alice, email: alice@contoso.com, first_name: Alice, last_name: Smith }
  - { username: bob, email: bob@contoso.com, first_name: Bob, last_name: Jones }
groups:
  - { name: staff, members: [alice], membership: additive }
memberships:
  - { group: staff, users: [bob], expires: 2026-01-01 }
policies:
  - { name: p, app: o365, groups: [staff] }
",
    );
    let bob = user(
        "u-b",
        "bob@contoso.com",
        &[
            ("email", "bob@contoso.com"),
            ("first_name", "Bob"),
            ("last_name", "Jones"),
            ("display_name", "Bob Jones"),
        ],
    );
    let carol = user("u-c", "carol@contoso.com", &[]);
    let mut t = app(
        "o365",
        vec![alice(), bob, carol],
        vec![keyed("g", "staff", "staff", &["u-a", "u-b", "u-c"])],
    );
    t.roles_unknown = Some("reading directory role assignments was refused (HTTP 403)".into());
    let p = run(&d, &observed(vec![t]));
    let l = lines(&p);
    assert!(
        l.contains(&"membership remove staff/bob".to_string()),
        "{l:?}"
    );
    assert!(!l.iter().any(|x| x.contains("staff/carol")), "{l:?}");
    assert!(
        p.warnings.iter().any(|w| w.message.contains("HTTP 403")),
        "{:?}",
        p.warnings
    );
}

#[test]
fn an_unbound_role_assignable_group_is_not_deleted() {
    let d = o365(
        "switches: { delete_groups: true }",
        "
users:
  - { username: alice, email: alice@contoso.com, first_name: Alice, last_name: Smith }
groups:
  - { name: staff, members: [alice] }
  - { name: admins }
policies:
  - { name: p, app: o365, groups: [staff] }
",
    );
    let obs = observed(vec![app(
        "o365",
        vec![alice()],
        vec![
            keyed("g", "staff", "staff", &["u-a"]),
            ObservedGroup {
                restriction: Some(GroupRestriction::RoleAssignable),
                ..group("g-r", "admins", &[])
            },
        ],
    )]);
    let p = run(&d, &obs);
    assert!(p.changes.is_empty(), "{:?}", lines(&p));
    assert_eq!(p.skipped.len(), 1);
    assert!(p.skipped[0].reason.contains("role-assignable"));
}
