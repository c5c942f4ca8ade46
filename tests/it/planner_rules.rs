//! Planner rules, one test (or a few) per rule of SPEC §2/§4/§5 and issue 4 item 1.

use crate::planner_support as support;

use roster::plan::planner::{login_for, read_scope};
use roster::plan::{Action, ObjectKind};
use serde_json::json;
use support::*;

#[test]
fn empty_tenant_gets_groups_users_and_memberships_in_apply_order() {
    let d = o365("", ALICE_BOB);
    let p = run(&d, &observed(vec![app("o365", vec![], vec![])]));
    assert_eq!(
        lines(&p),
        [
            "group create staff",
            "user create alice",
            "user create bob",
            "membership add staff/alice",
            "membership add staff/bob",
        ]
    );
    let alice = &p.changes[1];
    let after = alice.after.as_ref().unwrap();
    assert_eq!(after["login"], json!("alice@contoso.com"));
    assert_eq!(after["display_name"], json!("Alice Smith"));
    assert_eq!(after["department"], json!("Sales"));
    assert_eq!(after["enabled"], json!(true));
    assert!(
        !after.contains_key("job_title"),
        "absent attributes are left out"
    );
    assert!(alice.before.is_none());
    let m = &p.changes[3];
    let k = m.membership().expect("a membership change");
    assert_eq!(k.group, "staff");
    assert_eq!(k.member, roster::plan::Member::User("alice".into()));
    assert_eq!(p.summary.create, 3);
    assert_eq!(p.summary.add, 2);
    assert_eq!(p.source.commit, d.source.commit);
}

#[test]
fn password_is_a_reference_only_and_only_with_password_sync() {
    let users = "
users:
  - username: alice
    email: alice@contoso.com
    first_name: Alice
    last_name: Smith
    password: { env: ALICE_PW }
groups:
  - name: staff
    members: [alice]
policies:
  - { name: p, app: o365, groups: [staff] }
";
    let p = run(
        &o365("", users),
        &observed(vec![app("o365", vec![], vec![])]),
    );
    let c = p.changes.iter().find(|c| c.key() == "alice").unwrap();
    assert_eq!(
        c.after.as_ref().unwrap()["password"],
        json!("(from env ALICE_PW)")
    );
    let p = run(
        &o365("switches: { password_sync: false }", users),
        &observed(vec![app("o365", vec![], vec![])]),
    );
    let c = p.changes.iter().find(|c| c.key() == "alice").unwrap();
    assert!(!c.after.as_ref().unwrap().contains_key("password"));
}

#[test]
fn nested_groups_are_flattened_and_not_recreated() {
    let rest = "
users:
  - { username: alice, email: alice@contoso.com, first_name: A, last_name: S }
  - { username: bob, email: bob@contoso.com, first_name: B, last_name: J }
groups:
  - name: all
    members: [alice, group:team]
  - name: team
    members: [group:core]
  - name: core
    members: [bob]
policies:
  - { name: p, app: o365, groups: [all] }
";
    let p = run(
        &o365("", rest),
        &observed(vec![app("o365", vec![], vec![])]),
    );
    let l = lines(&p);
    assert!(l.contains(&"membership add all/bob".to_string()), "{l:?}");
    assert!(l.contains(&"membership add all/alice".to_string()));
    assert!(
        !l.iter().any(|x| x.contains("team") || x.contains("core")),
        "{l:?}"
    );
}

#[test]
fn nesting_cycles_do_not_hang() {
    let rest = "
users:
  - { username: alice, email: alice@contoso.com, first_name: A, last_name: S }
groups:
  - { name: a, members: [alice, group:b] }
  - { name: b, members: [group:a] }
policies:
  - { name: p, app: o365, groups: [b] }
";
    let p = run(
        &o365("", rest),
        &observed(vec![app("o365", vec![], vec![])]),
    );
    assert!(lines(&p).contains(&"membership add b/alice".to_string()));
}

#[test]
fn expired_memberships_count_as_absent_from_their_date_on() {
    let rest = "
users:
  - { username: alice, email: alice@contoso.com, first_name: A, last_name: S }
  - { username: bob, email: bob@contoso.com, first_name: B, last_name: J }
  - { username: carol, email: carol@contoso.com, first_name: C, last_name: K }
groups:
  - { name: staff }
memberships:
  - { group: staff, users: [alice], expires: '2026-06-01' }
  - { group: staff, users: [bob], expires: '2026-06-02' }
  - { group: staff, users: [carol], expires: '2026-05-01' }
policies:
  - { name: p, app: o365, groups: [staff] }
";
    // today = 2026-06-01: alice expires today (absent), bob tomorrow (present).
    let p = run(
        &o365("", rest),
        &observed(vec![app("o365", vec![], vec![])]),
    );
    let users: Vec<String> = p
        .changes
        .iter()
        .filter(|c| c.object() == ObjectKind::User)
        .map(|c| c.key().into_owned())
        .collect();
    assert_eq!(users, ["bob"]);
}

#[test]
fn bad_expiry_date_is_a_problem_not_a_panic() {
    let rest = "
groups:
  - { name: staff }
memberships:
  - { group: staff, users: [], expires: 'soon' }
";
    let err = try_plan(
        &o365("", rest),
        &observed(vec![app("o365", vec![], vec![])]),
    )
    .unwrap_err();
    assert!(err.to_string().contains("soon"), "{err}");
}

#[test]
fn users_outside_authorized_domains_are_not_provisioned_and_warned_about() {
    let rest = "
users:
  - { username: alice, email: alice@CONTOSO.com, first_name: A, last_name: S }
  - { username: eve, email: eve@fabrikam.com, first_name: E, last_name: V }
groups:
  - { name: staff, members: [alice, eve] }
policies:
  - { name: p, app: o365, groups: [staff] }
";
    let p = run(
        &o365("", rest),
        &observed(vec![app("o365", vec![], vec![])]),
    );
    let l = lines(&p);
    assert!(
        l.contains(&"user create alice".to_string()),
        "domain compare ignores case: {l:?}"
    );
    assert!(!l.iter().any(|x| x.contains("eve")), "{l:?}");
    let w = &p.warnings[0];
    assert_eq!(w.app.as_deref(), Some("o365"));
    assert!(
        w.message.contains("eve")
            && w.message.contains("fabrikam.com")
            && w.message.contains("o365")
    );
}

#[test]
fn verified_domains_are_the_default_authorized_domains() {
    let d = desired(
        "
apps:
  - { name: o365, type: office365 }
users:
  - { username: alice, email: alice@contoso.com, first_name: A, last_name: S }
  - { username: eve, email: eve@fabrikam.com, first_name: E, last_name: V }
groups:
  - { name: staff, members: [alice, eve] }
policies:
  - { name: p, app: o365, groups: [staff] }
",
    );
    let p = run(&d, &observed(vec![app("o365", vec![], vec![])]));
    let l = lines(&p);
    assert!(l.contains(&"user create alice".to_string()));
    assert!(!l.iter().any(|x| x.contains("eve")));
}

#[test]
fn existing_users_are_adopted_case_insensitively_without_false_drift() {
    let d = o365("", ALICE_BOB);
    let live = vec![
        user(
            "u1",
            "ALICE@contoso.com",
            &[
                ("email", "Alice@Contoso.com"),
                ("first_name", "Alice"),
                ("last_name", " Smith "),
                ("display_name", "Alice Smith"),
                ("department", "Sales"),
                ("usage_location", "US"),
            ],
        ),
        user(
            "u2",
            "bob@contoso.com",
            &[
                ("email", "bob@contoso.com"),
                ("first_name", "Bob"),
                ("last_name", "Jones"),
                ("display_name", "Bob Jones"),
                ("department", ""),
            ],
        ),
    ];
    let mut g = group("g1", "staff", &["u1", "u2"]);
    g.description = Some("Everyone".into());
    let p = run(&d, &observed(vec![app("o365", live, vec![g])]));
    assert!(p.is_empty(), "{:?}", lines(&p));
}

#[test]
fn updates_carry_only_changed_managed_fields() {
    let d = o365("", ALICE_BOB);
    let live = vec![user(
        "u1",
        "alice@contoso.com",
        &[
            ("email", "alice@contoso.com"),
            ("first_name", "Alice"),
            ("last_name", "Smith"),
            ("display_name", "Alice Smith"),
            ("department", "Marketing"),
            ("job_title", "Boss"),
            ("usage_location", "US"),
            ("unmanaged", "whatever"),
        ],
    )];
    let p = run(&d, &observed(vec![app("o365", live, vec![])]));
    let c = p
        .changes
        .iter()
        .find(|c| c.key() == "alice" && c.action == Action::Update)
        .expect("an update");
    assert_eq!(c.id.as_deref(), Some("u1"));
    let before = c.before.as_ref().unwrap();
    let after = c.after.as_ref().unwrap();
    assert_eq!(
        before.keys().collect::<Vec<_>>(),
        ["department", "job_title"]
    );
    assert_eq!(after["department"], json!("Sales"));
    assert_eq!(
        after["job_title"],
        json!(null),
        "absent in the repo clears the live value"
    );
    assert_eq!(before["job_title"], json!("Boss"));
}

#[test]
fn enable_and_disable_follow_the_repository() {
    let rest = "
users:
  - { username: alice, email: alice@contoso.com, first_name: A, last_name: S, enabled: false }
  - { username: bob, email: bob@contoso.com, first_name: B, last_name: J }
  - { username: carol, email: carol@contoso.com, first_name: C, last_name: K, enabled: false }
groups:
  - { name: staff, members: [alice, bob, carol] }
policies:
  - { name: p, app: o365, groups: [staff] }
";
    let attrs = |f: &'static str, l: &'static str, e: &'static str| {
        vec![
            ("email", e),
            ("first_name", f),
            ("last_name", l),
            ("display_name", if f == "A" { "A S" } else { "B J" }),
        ]
    };
    let a = user(
        "u1",
        "alice@contoso.com",
        &attrs("A", "S", "alice@contoso.com"),
    );
    let mut b = user("u2", "bob@contoso.com", &attrs("B", "J", "bob@contoso.com"));
    b.enabled = false;
    let p = run(
        &o365("", rest),
        &observed(vec![app("o365", vec![a.clone(), b.clone()], vec![])]),
    );
    let l = lines(&p);
    assert!(l.contains(&"user disable alice".to_string()), "{l:?}");
    assert!(l.contains(&"user enable bob".to_string()), "{l:?}");
    let carol = p.changes.iter().find(|c| c.key() == "carol").unwrap();
    assert_eq!(carol.action, Action::Create);
    assert_eq!(carol.after.as_ref().unwrap()["enabled"], json!(false));

    let p = run(
        &o365("switches: { enable_disable_users: false }", rest),
        &observed(vec![app("o365", vec![a, b], vec![])]),
    );
    assert!(!lines(&p).iter().any(|x| x.contains("able")));
    assert!(p.skipped.iter().any(|s| s.key == "alice"
        && s.action == Action::Disable
        && s.switch.as_deref() == Some("enable_disable_users")));
}

fn stray(id: &str, login: &str, enabled: bool) -> roster::observed::ObservedUser {
    let mut u = user(id, login, &[("email", login)]);
    u.enabled = enabled;
    u
}

#[test]
fn deprovisioning_deletes_disables_or_reports() {
    let rest = "
users:
  - { username: dave, email: dave@contoso.com, first_name: D, last_name: V }
";
    let live = vec![
        stray("x1", "dave@contoso.com", true),
        stray("x2", "mallory@contoso.com", true),
        stray("x3", "old@contoso.com", false),
    ];
    // delete_users on.
    let p = run(
        &o365("switches: { delete_users: true }", rest),
        &observed(vec![app("o365", live.clone(), vec![])]),
    );
    assert_eq!(
        lines(&p),
        [
            "user delete dave",
            "user delete mallory@contoso.com",
            "user delete old@contoso.com"
        ]
    );
    assert_eq!(p.changes[0].id.as_deref(), Some("x1"));
    assert!(p.changes[0].reason.contains("not provisioned"));
    // default: delete_users off, enable_disable_users on → disable the enabled ones.
    let p = run(
        &o365("", rest),
        &observed(vec![app("o365", live.clone(), vec![])]),
    );
    assert_eq!(
        lines(&p),
        ["user disable dave", "user disable mallory@contoso.com"]
    );
    // both off → reported only.
    let p = run(
        &o365("switches: { enable_disable_users: false }", rest),
        &observed(vec![app("o365", live, vec![])]),
    );
    assert!(p.is_empty());
    assert_eq!(
        p.warnings
            .iter()
            .filter(|w| w.message.contains("reported only"))
            .count(),
        3
    );
}

#[test]
fn office365_scope_is_authorized_upn_domains_and_repository_groups() {
    let live = vec![stray("x1", "guest@fabrikam.com", true)];
    let groups = vec![group("g1", "Handmade", &[]), group("g2", "staff-old", &[])];
    let rest = "
groups:
  - { name: staff-old }
";
    let p = run(
        &o365("switches: { delete_users: true }", rest),
        &observed(vec![app("o365", live, groups)]),
    );
    assert_eq!(
        lines(&p),
        ["group delete staff-old"],
        "out-of-scope objects are never touched"
    );
}

#[test]
fn active_directory_scope_is_everything_the_reader_returns() {
    let d = desired(
        "
apps:
  - name: ad
    type: active_directory
    url: ldaps://dc.example:636
    base_dn: DC=example
    users_ou: OU=Users,DC=example
    groups_ou: OU=Groups,DC=example
    bind_dn: CN=svc,DC=example
    bind_password: { env: PW }
    switches: { delete_users: true }
users:
  - { username: alice, email: alice@example.com, first_name: A, last_name: S }
groups:
  - { name: staff, members: [alice] }
policies:
  - { name: p, app: ad, groups: [staff] }
",
    );
    let mut o = app(
        "ad",
        vec![stray("x1", "Handmade", true)],
        vec![group("g9", "Other", &[])],
    );
    o.verified_domains.clear();
    o.skus.clear();
    let p = run(&d, &observed(vec![o]));
    assert_eq!(
        lines(&p),
        [
            "group create staff",
            "user create alice",
            "membership add staff/alice",
            "user delete Handmade",
            "group delete Other"
        ]
    );
    let create = &p.changes[1];
    assert_eq!(create.after.as_ref().unwrap()["login"], json!("alice"));
    assert!(
        !create
            .after
            .as_ref()
            .unwrap()
            .contains_key("usage_location")
    );
    assert_eq!(
        login_for(d.app("ad").unwrap(), d.user("alice").unwrap()),
        "alice"
    );
}

#[test]
fn ignore_patterns_protect_live_and_desired_objects() {
    let rest = "
users:
  - { username: svc-backup, email: svc-backup@contoso.com, first_name: S, last_name: B }
groups:
  - { name: staff, members: [svc-backup] }
  - { name: Admins-Break-Glass }
policies:
  - { name: p, app: o365, groups: [staff, Admins-Break-Glass] }
";
    let live = vec![
        stray("x1", "ADMIN@contoso.com", true),
        stray("x2", "svc-mail@contoso.com", true),
    ];
    let groups = vec![group("g1", "staff", &["x1", "x2"])];
    let p = run(
        &o365(
            "switches: { delete_users: true }\nignore: ['admin@contoso.com', 'SVC-*', 'admins-*']",
            rest,
        ),
        &observed(vec![app("o365", live, groups)]),
    );
    assert!(
        p.is_empty(),
        "ignored users are neither deleted nor removed from groups: {:?}",
        lines(&p)
    );
    assert!(
        p.warnings
            .iter()
            .any(|w| w.message.contains("svc-backup") && w.message.contains("ignore"))
    );
    assert!(
        p.warnings
            .iter()
            .any(|w| w.message.contains("Admins-Break-Glass"))
    );
}

#[test]
fn invalid_ignore_pattern_fails_the_plan_naming_it() {
    let err = try_plan(
        &o365("ignore: ['a[']", ""),
        &observed(vec![app("o365", vec![], vec![])]),
    )
    .unwrap_err();
    assert!(err.to_string().contains("a["), "{err}");
}

#[test]
fn switches_turn_changes_into_skipped_entries() {
    let d = o365(
        "switches: { create_users: false, create_groups: false, delete_groups: false }",
        ALICE_BOB,
    );
    let p = run(
        &d,
        &observed(vec![app("o365", vec![], vec![group("g1", "old", &[])])]),
    );
    assert!(p.is_empty(), "{:?}", lines(&p));
    let s: Vec<(String, Option<String>)> = p
        .skipped
        .iter()
        .map(|s| (s.key.clone(), s.switch.clone()))
        .collect();
    assert!(s.contains(&("alice".into(), Some("create_users".into()))));
    assert!(s.contains(&("staff".into(), Some("create_groups".into()))));
    // "old" is not in the repository, hence out of the office365 scope: nothing at all.
    assert!(!s.iter().any(|(k, _)| k == "old"));

    let d = o365(
        "switches: { sync_memberships: false, delete_groups: false }",
        &format!("{ALICE_BOB}\n  - {{ name: p2, app: o365, groups: [] }}\n"),
    );
    let p = run(&d, &observed(vec![app("o365", vec![], vec![])]));
    assert!(lines(&p).iter().all(|l| !l.starts_with("membership")));
    assert!(
        p.skipped
            .iter()
            .any(|s| s.key == "staff/alice" && s.switch.as_deref() == Some("sync_memberships"))
    );
}

#[test]
fn unbound_repository_group_is_deleted_or_skipped() {
    let rest = "
groups:
  - { name: retired }
";
    let obs = observed(vec![app("o365", vec![], vec![group("g1", "retired", &[])])]);
    let p = run(&o365("", rest), &obs);
    assert_eq!(lines(&p), ["group delete retired"]);
    let p = run(&o365("switches: { delete_groups: false }", rest), &obs);
    assert!(p.is_empty());
    assert_eq!(p.skipped[0].switch.as_deref(), Some("delete_groups"));
    assert_eq!(p.skipped[0].action, Action::Delete);
}

#[test]
fn group_description_is_managed() {
    let d = o365("", ALICE_BOB);
    let mut g = group("g1", "staff", &[]);
    g.description = Some("Old text".into());
    let p = run(&d, &observed(vec![app("o365", vec![], vec![g])]));
    let c = p
        .changes
        .iter()
        .find(|c| c.object() == ObjectKind::Group)
        .unwrap();
    assert_eq!(c.action, Action::Update);
    assert_eq!(c.before.as_ref().unwrap()["description"], json!("Old text"));
    assert_eq!(c.after.as_ref().unwrap()["description"], json!("Everyone"));
}

const LICENSED: &str = "
users:
  - { username: alice, email: alice@contoso.com, first_name: A, last_name: S, usage_location: US, licenses: [enterprisepack] }
  - { username: bob, email: bob@contoso.com, first_name: B, last_name: J, usage_location: US, licenses: [ENTERPRISEPACK] }
  - { username: carol, email: carol@contoso.com, first_name: C, last_name: K, licenses: [ENTERPRISEPACK] }
groups:
  - { name: staff, members: [alice, bob, carol] }
policies:
  - { name: p, app: o365, groups: [staff] }
";

#[test]
fn licenses_are_added_and_removed_with_usage_location_required() {
    let mut dave = stray("x1", "alice@contoso.com", true);
    dave.attributes = [
        ("email", "alice@contoso.com"),
        ("first_name", "A"),
        ("last_name", "S"),
        ("display_name", "A S"),
        ("usage_location", "US"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    dave.licenses.insert("POWER_BI".into());
    let mut o = app("o365", vec![dave], vec![]);
    o.skus.push(sku("POWER_BI", 5, 5));
    let p = run(&o365("", LICENSED), &observed(vec![o]));
    let l = lines(&p);
    assert!(
        l.contains(&"license add alice ENTERPRISEPACK".to_string()),
        "tenant spelling: {l:?}"
    );
    assert!(
        l.contains(&"license remove alice POWER_BI".to_string()),
        "{l:?}"
    );
    assert!(
        l.contains(&"license add bob ENTERPRISEPACK".to_string()),
        "{l:?}"
    );
    assert!(
        !l.iter()
            .any(|x| x.starts_with("license") && x.contains("carol")),
        "{l:?}"
    );
    assert!(
        p.warnings
            .iter()
            .any(|w| w.message.contains("carol") && w.message.contains("usage_location"))
    );
    // Licenses come after user creates and before memberships.
    let pos = |s: &str| l.iter().position(|x| x == s).unwrap();
    assert!(pos("user create bob") < pos("license add bob ENTERPRISEPACK"));
    assert!(pos("license add bob ENTERPRISEPACK") < pos("membership add staff/alice"));
}

#[test]
fn seat_shortfall_fails_the_plan_naming_sku_and_numbers() {
    let mut o = app("o365", vec![], vec![]);
    o.skus = vec![sku("ENTERPRISEPACK", 10, 9)];
    let err = try_plan(&o365("", LICENSED), &observed(vec![o])).unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains("ENTERPRISEPACK"), "{msg}");
    assert!(msg.contains("needs 2 more seats"), "{msg}");
    assert!(msg.contains("1 is free"), "{msg}");
    assert!(msg.contains("shortfall of 1"), "{msg}");
}

#[test]
fn unknown_sku_fails_the_plan() {
    let mut o = app("o365", vec![], vec![]);
    o.skus = vec![sku("POWER_BI", 10, 0)];
    let err = try_plan(&o365("", LICENSED), &observed(vec![o])).unwrap_err();
    assert!(err.to_string().contains("ENTERPRISEPACK"), "{err}");
    assert!(err.problems.len() >= 2, "every problem is listed: {err}");
}

#[test]
fn memberships_remove_strangers_and_nested_live_groups() {
    let d = o365("", ALICE_BOB);
    let attrs = |e: &'static str, f: &'static str, l: &'static str, dn: &'static str| {
        vec![
            ("email", e),
            ("first_name", f),
            ("last_name", l),
            ("display_name", dn),
        ]
    };
    let mut a = user(
        "u1",
        "alice@contoso.com",
        &attrs("alice@contoso.com", "Alice", "Smith", "Alice Smith"),
    );
    a.attributes.insert("department".into(), "Sales".into());
    a.attributes.insert("usage_location".into(), "US".into());
    let b = user(
        "u2",
        "bob@contoso.com",
        &attrs("bob@contoso.com", "Bob", "Jones", "Bob Jones"),
    );
    // u3 is a stranger inside the scope; u4 is outside it (another domain) and, as
    // everything outside the scope, is left alone, also as a member.
    let guest = stray("u3", "guest@contoso.com", false);
    let outsider = stray("u4", "guest@fabrikam.com", true);
    let mut staff = group("g1", "staff", &["u1", "u3", "u4", "g2", "unknown-device"]);
    staff.description = Some("Everyone".into());
    let nested = group("g2", "staff", &[]); // a second group of the same name, nested
    let p = run(
        &d,
        &observed(vec![app(
            "o365",
            vec![a, b, guest, outsider],
            vec![staff, nested],
        )]),
    );
    let l = lines(&p);
    assert_eq!(
        l,
        [
            "membership add staff/bob",
            "membership remove staff/group:staff",
            "membership remove staff/guest@contoso.com",
        ],
        "{:?}",
        p.warnings
    );
    let rm = &p.changes[2];
    assert_eq!(rm.id.as_deref(), Some("u3"));
    assert_eq!(
        rm.membership().map(|k| k.member.to_string()).as_deref(),
        Some("guest@contoso.com")
    );
    assert!(
        p.warnings
            .iter()
            .any(|w| w.message.contains("several live groups"))
    );
}

#[test]
fn deletion_guard_counts_deletes_disables_and_group_deletes() {
    let rest = "
groups:
  - { name: g-a }
  - { name: g-b }
";
    let live: Vec<_> = (0..40)
        .map(|i| stray(&format!("x{i:02}"), &format!("u{i:02}@contoso.com"), true))
        .collect();
    let groups = vec![group("g1", "g-a", &[]), group("g2", "g-b", &[])];
    let obs = observed(vec![app("o365", live, groups)]);
    let p = run(
        &o365("max_deletes: 5\nswitches: { delete_users: true }", rest),
        &obs,
    );
    let g = &p.deletion_guards[0];
    assert_eq!((g.deletes, g.limit), (42, 5));
    assert!(g.exceeded());
    assert!(
        p.warnings
            .iter()
            .any(|w| w.message.contains("DELETION GUARD")
                && w.message.contains("--allow-deletes 42"))
    );
    // Default limit: max(25, 10% of users in scope) = 25 for 40 users.
    let p = run(&o365("", rest), &obs);
    let g = &p.deletion_guards[0];
    assert_eq!((g.deletes, g.limit), (42, 25));
    // Within the limit: no warning.
    let p = run(&o365("max_deletes: 100", rest), &obs);
    assert!(!p.deletion_guards[0].exceeded());
    assert!(
        p.warnings
            .iter()
            .all(|w| !w.message.contains("DELETION GUARD"))
    );
}

#[test]
fn default_guard_limit_is_ten_percent_of_a_large_scope() {
    let live: Vec<_> = (0..400)
        .map(|i| stray(&format!("x{i:03}"), &format!("u{i:03}@contoso.com"), false))
        .collect();
    let p = run(&o365("", ""), &observed(vec![app("o365", live, vec![])]));
    assert_eq!(p.deletion_guards[0].limit, 40);
    assert_eq!(
        p.deletion_guards[0].deletes, 0,
        "already disabled users are not disabled again"
    );
}

#[test]
fn apps_are_planned_in_name_order_and_unknown_apps_fail() {
    let d = desired(
        "
apps:
  - { name: zeta, type: office365, authorized_domains: [contoso.com] }
  - { name: alpha, type: office365, authorized_domains: [contoso.com] }
users:
  - { username: alice, email: alice@contoso.com, first_name: A, last_name: S }
groups:
  - { name: staff, members: [alice] }
policies:
  - { name: p, app: zeta, groups: [staff] }
  - { name: q, app: alpha, groups: [staff] }
",
    );
    let obs = observed(vec![
        app("zeta", vec![], vec![]),
        app("alpha", vec![], vec![]),
    ]);
    let p = run(&d, &obs);
    let apps: Vec<&str> = p.changes.iter().map(|c| c.app.as_str()).collect();
    assert_eq!(apps[0], "alpha");
    assert_eq!(apps.last().copied(), Some("zeta"));
    assert_eq!(p.deletion_guards.len(), 2);

    let obs = observed(vec![app("nope", vec![], vec![])]);
    let err = try_plan(&d, &obs).unwrap_err();
    assert!(err.to_string().contains("nope"), "{err}");
}

#[test]
fn duplicate_logins_fail_instead_of_creating_twice() {
    let rest = "
users:
  - { username: alice, email: alice@contoso.com, first_name: A, last_name: S }
  - { username: alice2, email: ALICE@contoso.com, first_name: A, last_name: S }
groups:
  - { name: staff, members: [alice, alice2] }
policies:
  - { name: p, app: o365, groups: [staff] }
";
    let err = try_plan(
        &o365("", rest),
        &observed(vec![app("o365", vec![], vec![])]),
    )
    .unwrap_err();
    assert!(err.to_string().contains("alice2"), "{err}");
}

#[test]
fn read_scope_names_the_bound_groups() {
    let d = o365("", ALICE_BOB);
    let s = read_scope(&d, "o365");
    assert_eq!(
        s.member_groups.unwrap().into_iter().collect::<Vec<_>>(),
        ["staff"]
    );
    assert!(read_scope(&d, "other").member_groups.unwrap().is_empty());
}

#[test]
fn planning_is_deterministic_regardless_of_observed_order() {
    let d = o365("switches: { delete_users: true }", ALICE_BOB);
    let users: Vec<_> = (0..30)
        .map(|i| stray(&format!("x{i}"), &format!("z{i}@contoso.com"), true))
        .collect();
    let mut reversed = users.clone();
    reversed.reverse();
    let a = run(&d, &observed(vec![app("o365", users, vec![])]));
    let b = run(&d, &observed(vec![app("o365", reversed, vec![])]));
    assert_eq!(roster::render::json(&a), roster::render::json(&b));
    let keys: Vec<String> = a
        .changes
        .iter()
        .filter(|c| c.action == Action::Delete)
        .map(|c| c.key().into_owned())
        .collect();
    let mut sorted = keys.clone();
    sorted.sort();
    assert_eq!(keys, sorted);
}

#[test]
fn the_full_fixture_converges_after_applying_its_plan() {
    let (d, mut obs) = fixture();
    let first = run(&d, &obs);
    assert!(first.changes.len() > 10);
    roster::plan::simulate::apply_in_memory(&mut obs, &d, &first);
    let second = run(&d, &obs);
    assert!(second.is_empty(), "{:?}", lines(&second));
    // Seats were accounted for: E3 went from 5 free to 3 free.
    let e3 = obs["o365"]
        .skus
        .iter()
        .find(|s| s.part_number == "E3")
        .unwrap();
    assert_eq!(e3.free(), 3);
    // The skipped group delete and the ignored admin are still there, untouched.
    assert!(obs["o365"].groups.iter().any(|g| g.name == "retired"));
    assert!(
        obs["o365"]
            .users
            .iter()
            .any(|u| u.login == "admin@contoso.com")
    );
}

/// Enough bound groups for the membership comparison to run on several threads (it
/// splits groups into runs of at least 512): every group's adds and removes are
/// exactly its own, whichever thread compared it, and the plan converges.
#[test]
fn memberships_of_thousands_of_groups_are_planned_exactly() {
    const GROUPS: usize = 3_000;
    let mut yaml = String::from("users:\n");
    for u in 0..4 {
        yaml.push_str(&format!(
            "  - {{ username: u{u}, email: u{u}@contoso.com, first_name: U, last_name: N{u} }}\n"
        ));
    }
    yaml.push_str("groups:\n");
    for g in 0..GROUPS {
        // Group g wants u0 and u(1 + g % 3).
        yaml.push_str(&format!(
            "  - name: g{g:04}\n    members: [u0, u{}]\n",
            1 + g % 3
        ));
    }
    yaml.push_str("policies:\n  - name: p\n    app: o365\n    groups: [");
    let names: Vec<String> = (0..GROUPS).map(|g| format!("g{g:04}")).collect();
    yaml.push_str(&names.join(", "));
    yaml.push_str("]\n");
    let d = o365("", &yaml);
    let users = (0..4)
        .map(|u| {
            let (login, last, display) = (
                format!("u{u}@contoso.com"),
                format!("N{u}"),
                format!("U N{u}"),
            );
            user(
                &format!("id-u{u}"),
                &login,
                &[
                    ("email", &login),
                    ("first_name", "U"),
                    ("last_name", &last),
                    ("display_name", &display),
                ],
            )
        })
        .collect();
    // Live, group g has u0 and u(1 + (g + 1) % 3) when g is odd (one add, one
    // remove), and exactly what it wants when g is even.
    let groups = (0..GROUPS)
        .map(|g| {
            let other = if g % 2 == 1 {
                1 + (g + 1) % 3
            } else {
                1 + g % 3
            };
            group(
                &format!("id-g{g}"),
                &format!("g{g:04}"),
                &["id-u0", &format!("id-u{other}")],
            )
        })
        .collect();
    let mut obs = observed(vec![app("o365", users, groups)]);
    let p = run(&d, &obs);
    let mut want: Vec<String> = Vec::new();
    for g in (1..GROUPS).step_by(2) {
        want.push(format!("membership add g{g:04}/u{}", 1 + g % 3));
        want.push(format!("membership remove g{g:04}/u{}", 1 + (g + 1) % 3));
    }
    let mut got = lines(&p);
    got.sort();
    want.sort();
    assert_eq!(got.len(), GROUPS, "{:?}", &got[..got.len().min(5)]);
    assert_eq!(got, want);
    roster::plan::simulate::apply_in_memory(&mut obs, &d, &p);
    let again = run(&d, &obs);
    assert!(again.is_empty(), "{:?}", lines(&again));
}
