//! Builders shared by the planner, saved-plan and render tests: desired state from YAML
//! text, observed objects from a few fields, and a fixed "today".
#![allow(dead_code)]

use std::collections::BTreeMap;

use roster::desired::{DesiredState, RepoFile, SourceInfo};
use roster::observed::{MemberId, ObservedApp, ObservedGroup, ObservedSku, ObservedUser};
use roster::plan::Plan;
use roster::plan::planner::{PlanFailure, PlanInput, plan};

/// Desired state from one YAML document in the repository format.
pub fn desired(yaml: &str) -> DesiredState {
    // Through JSON values, so that secret references read as plain maps ({ env: NAME }).
    let v: serde_json::Value = serde_yaml::from_str(yaml).expect("test YAML parses");
    let f: RepoFile = serde_json::from_value(v).expect("test YAML is a repository file");
    DesiredState {
        apps: f.apps,
        users: f.users,
        groups: f.groups,
        memberships: f.memberships,
        policies: f.policies,
        source: SourceInfo {
            commit: Some("0123456789abcdef0123456789abcdef01234567".into()),
            dirty: false,
        },
    }
}

pub fn today() -> time::Date {
    time::macros::date!(2026 - 06 - 01)
}

pub fn user(id: &str, login: &str, attrs: &[(&str, &str)]) -> ObservedUser {
    ObservedUser {
        id: id.into(),
        login: login.into(),
        username: None,
        enabled: true,
        attributes: attrs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        licenses: Default::default(),
        location: None,
        ..Default::default()
    }
}

pub fn group(id: &str, name: &str, members: &[&str]) -> ObservedGroup {
    ObservedGroup {
        id: id.into(),
        name: name.into(),
        description: None,
        kind: "security".into(),
        member_ids: members.iter().map(|m| MemberId::new(m)).collect(),
        location: None,
        ..Default::default()
    }
}

pub fn sku(part: &str, enabled: u32, consumed: u32) -> ObservedSku {
    ObservedSku {
        sku_id: format!("sku-{part}"),
        part_number: part.into(),
        enabled,
        consumed,
    }
}

pub fn app(name: &str, users: Vec<ObservedUser>, groups: Vec<ObservedGroup>) -> ObservedApp {
    ObservedApp {
        app: name.into(),
        users,
        groups,
        verified_domains: vec!["contoso.com".into()],
        skus: vec![sku("ENTERPRISEPACK", 10, 2)],
        directory_id: Some("tenant-1".into()),
        ..Default::default()
    }
}

pub fn observed(apps: Vec<ObservedApp>) -> BTreeMap<String, ObservedApp> {
    apps.into_iter().map(|a| (a.app.clone(), a)).collect()
}

pub fn try_plan(
    d: &DesiredState,
    obs: &BTreeMap<String, ObservedApp>,
) -> Result<Plan, PlanFailure> {
    plan(&PlanInput {
        desired: d,
        observed: obs,
        today: today(),
    })
}

pub fn run(d: &DesiredState, obs: &BTreeMap<String, ObservedApp>) -> Plan {
    match try_plan(d, obs) {
        Ok(p) => p,
        Err(e) => panic!("plan failed: {e}"),
    }
}

/// `OBJECT ACTION KEY` (+ ` SKU` for licenses) of every change, in plan order.
pub fn lines(p: &Plan) -> Vec<String> {
    p.changes
        .iter()
        .map(|c| {
            let mut s = format!(
                "{} {} {}",
                serde_json::to_value(c.object()).unwrap().as_str().unwrap(),
                serde_json::to_value(c.action).unwrap().as_str().unwrap(),
                c.key()
            );
            if let Some(sku) = &c.sku() {
                s.push(' ');
                s.push_str(sku);
            }
            s
        })
        .collect()
}

/// An office365 app named `o365` with contoso.com authorized, plus `extra` YAML lines
/// indented under it, followed by `rest` (users, groups, policies...).
pub fn o365(extra: &str, rest: &str) -> DesiredState {
    let extra: String = extra.lines().map(|l| format!("    {l}\n")).collect();
    desired(&format!(
        "apps:\n  - name: o365\n    type: office365\n    authorized_domains: [contoso.com]\n{extra}{rest}"
    ))
}

pub const ALICE_BOB: &str = "
users:
  - username: alice
    email: alice@contoso.com
    first_name: Alice
    last_name: Smith
    department: Sales
    usage_location: US
  - username: bob
    email: bob@contoso.com
    first_name: Bob
    last_name: Jones
groups:
  - name: staff
    description: Everyone
    members: [alice, bob]
policies:
  - name: p
    app: o365
    groups: [staff]
";

/// A fixed scenario whose plan has every kind of change, skipped item and warning,
/// and trips the deletion guard: the input of the snapshot and saved-plan tests.
pub fn fixture() -> (DesiredState, BTreeMap<String, ObservedApp>) {
    let d = o365(
        "max_deletes: 2\nswitches: { delete_users: true, delete_groups: false }\nignore: ['admin@*']",
        "
users:
  - username: alice
    email: alice@contoso.com
    first_name: Alice
    last_name: Smith
    department: Sales
    usage_location: US
    licenses: [E3]
    password: { env: ALICE_INITIAL_PASSWORD }
  - { username: bob, email: bob@contoso.com, first_name: Bob, last_name: Jones, department: Marketing, enabled: false }
  - { username: carol, email: carol@contoso.com, first_name: Carol, last_name: King, usage_location: DE, licenses: [E3] }
  - { username: eve, email: eve@fabrikam.com, first_name: Eve, last_name: Vo }
groups:
  - name: staff
    description: |
      Everyone who gets an account.
      Managed by roster.
    members: [alice, bob, carol, eve]
  - { name: retired }
policies:
  - { name: staff-policy, app: o365, groups: [staff] }
",
    );
    let attrs = |e: &str, f: &str, l: &str| -> Vec<(String, String)> {
        vec![
            ("email".into(), e.into()),
            ("first_name".into(), f.into()),
            ("last_name".into(), l.into()),
            ("display_name".into(), format!("{f} {l}")),
        ]
    };
    let mk = |id: &str, login: &str, a: Vec<(String, String)>, enabled: bool| ObservedUser {
        id: id.into(),
        login: login.into(),
        username: None,
        enabled,
        attributes: a.into_iter().collect(),
        licenses: Default::default(),
        location: None,
        ..Default::default()
    };
    let bob = mk(
        "u-bob",
        "bob@contoso.com",
        {
            let mut a = attrs("bob@contoso.com", "Bob", "Jones");
            a.push(("department".into(), "Sales".into()));
            a
        },
        true,
    );
    let mut carol = mk(
        "u-carol",
        "carol@contoso.com",
        {
            let mut a = attrs("carol@contoso.com", "Carol", "King");
            a.push(("usage_location".into(), "DE".into()));
            a
        },
        false,
    );
    carol.licenses.insert("E5".into());
    let mallory = mk(
        "u-mallory",
        "mallory@contoso.com",
        attrs("mallory@contoso.com", "Mal", "Lory"),
        true,
    );
    let dan = mk(
        "u-dan",
        "dan@contoso.com",
        attrs("dan@contoso.com", "Dan", "Old"),
        false,
    );
    let admin = mk(
        "u-admin",
        "admin@contoso.com",
        attrs("admin@contoso.com", "Break", "Glass"),
        true,
    );
    let guest = mk(
        "u-guest",
        "guest@fabrikam.com",
        attrs("guest@fabrikam.com", "Gu", "Est"),
        true,
    );
    let mut staff = group(
        "g-staff",
        "staff",
        &["u-carol", "u-mallory", "u-guest", "u-admin", "g-retired"],
    );
    staff.description = Some("Everyone who gets an account.\nManaged by hand.\n".into());
    let retired = group("g-retired", "retired", &[]);
    let mut o = app(
        "o365",
        vec![admin, bob, carol, dan, guest, mallory],
        vec![retired, staff],
    );
    o.skus = vec![sku("E3", 25, 20), sku("E5", 5, 5)];
    (d, observed(vec![o]))
}
