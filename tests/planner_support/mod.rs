//! Builders shared by the planner, saved-plan and render tests: desired state from YAML
//! text, observed objects from a few fields, and a fixed "today".
#![allow(dead_code)]

use std::collections::BTreeMap;

use roster::desired::{DesiredState, RepoFile, SourceInfo};
use roster::observed::{ObservedApp, ObservedGroup, ObservedSku, ObservedUser};
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
    }
}

pub fn group(id: &str, name: &str, members: &[&str]) -> ObservedGroup {
    ObservedGroup {
        id: id.into(),
        name: name.into(),
        description: None,
        kind: "security".into(),
        member_ids: members.iter().map(|m| m.to_string()).collect(),
        location: None,
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
                serde_json::to_value(c.object).unwrap().as_str().unwrap(),
                serde_json::to_value(c.action).unwrap().as_str().unwrap(),
                c.key
            );
            if let Some(sku) = &c.sku {
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
    let extra: String = extra
        .lines()
        .map(|l| format!("    {l}\n"))
        .collect();
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
