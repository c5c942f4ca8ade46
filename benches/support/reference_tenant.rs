//! The reference tenant of SPEC §7 for the in-process benchmarks (planner,
//! saved_plan): the repository and the live tenant that matches it, generated the same
//! way for every bench so that their figures compare.

use std::collections::BTreeSet;

use roster::desired::{App, DesiredState, Group, Office365App, Policy, SourceInfo, Switches, User};
use roster::observed::{ObservedApp, ObservedGroup, ObservedSku, ObservedUser};

/// Members per group: 20,000 × 50 = 1,000,000 memberships at full size.
pub const PER_GROUP: usize = 50;

/// Reference user `i`: `u{i}@contoso.com`, one of 50 departments.
pub fn user(i: usize) -> User {
    User {
        start_date: None,
        end_date: None,
        attributes: Default::default(),
        manager: Default::default(),
        previous_usernames: Default::default(),
        username: format!("u{i}"),
        email: format!("u{i}@contoso.com"),
        first_name: format!("First{i}"),
        last_name: format!("Last{i}"),
        display_name: None,
        enabled: true,
        department: Some(format!("Dept{}", i % 50)),
        job_title: None,
        employee_id: Some(format!("{i:06}")),
        usage_location: Some("US".into()),
        mobile_phone: None,
        licenses: vec![],
        password: None,
        immutable_id: None,
    }
}

/// The repository: `users` users, `groups` groups of [`PER_GROUP`] members each (every
/// 100th group also holds the next one), one policy binding every group to `o365`.
pub fn desired(users: usize, groups: usize) -> DesiredState {
    let n_users = users;
    let n_groups = groups;
    let users = (0..n_users).map(user).collect();
    let groups = (0..n_groups)
        .map(|j| {
            let mut members: Vec<roster::desired::MemberName> = (0..PER_GROUP)
                .map(|k| format!("u{}", (j * PER_GROUP + k * 7) % n_users).into())
                .collect();
            if j % 100 == 0 && j + 1 < n_groups {
                members.push(format!("group:g{}", j + 1).into());
            }
            Group {
                name: format!("g{j}"),
                description: Some(format!("Group {j}")),
                members,
                kind: None,
                membership: None,
            }
        })
        .collect();
    let app = App::Office365(Office365App {
        joiner: None,
        leaver: None,
        attribute_map: Default::default(),
        on_create: Default::default(),
        name: "o365".into(),
        tenant: None,
        client_id: None,
        credentials: None,
        graph_url: None,
        login_url: None,
        tls: None,
        sandbox: None,
        authorized_domains: Some(vec!["contoso.com".into()]),
        switches: Switches::default(),
        ignore: vec!["admin@*".into()],
        max_deletes: None,
        manage_guests: false,
        manage_role_assignable_groups: false,
        sandbox_seed: None,
    });
    DesiredState {
        apps: vec![app],
        users,
        groups,
        memberships: vec![],
        policies: vec![Policy {
            name: "all".into(),
            app: "o365".into(),
            groups: (0..n_groups).map(|j| format!("g{j}")).collect(),
        }],
        source: SourceInfo::default(),
    }
}

/// The live tenant exactly as `d` wants it.
pub fn converged(d: &DesiredState) -> ObservedApp {
    let users = d
        .users
        .iter()
        .map(|u| {
            let mut attributes = roster::observed::Attributes::new();
            attributes.insert("email".to_string(), u.email.clone());
            attributes.insert("first_name".to_string(), u.first_name.clone());
            attributes.insert("last_name".to_string(), u.last_name.clone());
            attributes.insert("display_name".to_string(), u.display_name());
            if let Some(v) = &u.department {
                attributes.insert("department".to_string(), v.clone());
            }
            if let Some(v) = &u.employee_id {
                attributes.insert("employee_id".to_string(), v.clone());
            }
            attributes.insert("usage_location".to_string(), "US".into());
            ObservedUser {
                id: format!("id-{}", u.username),
                login: u.email.clone(),
                enabled: true,
                attributes,
                ..Default::default()
            }
        })
        .collect();
    let direct: Vec<BTreeSet<String>> = d
        .groups
        .iter()
        .map(|g| {
            g.members
                .iter()
                .filter(|m| !m.starts_with("group:"))
                .map(|m| format!("id-{m}"))
                .collect()
        })
        .collect();
    let groups = d
        .groups
        .iter()
        .enumerate()
        .map(|(j, g)| {
            let mut member_ids = direct[j].clone();
            if j % 100 == 0 && j + 1 < d.groups.len() {
                member_ids.extend(direct[j + 1].iter().cloned());
            }
            ObservedGroup {
                id: format!("gid-{j}"),
                name: g.name.clone(),
                description: g.description.clone(),
                kind: "security".into(),
                member_ids: member_ids
                    .iter()
                    .map(|m| roster::observed::MemberId::new(m))
                    .collect(),
                ..Default::default()
            }
        })
        .collect();
    ObservedApp {
        app: "o365".into(),
        users,
        groups,
        verified_domains: vec!["contoso.com".into()],
        skus: vec![ObservedSku {
            sku_id: "s".into(),
            part_number: "ENTERPRISEPACK".into(),
            enabled: 1000,
            consumed: 0,
        }],
        ..Default::default()
    }
}
