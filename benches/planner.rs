//! Planner benchmark on the reference tenant of SPEC §7: 100,000 users, 20,000 groups,
//! 1,000,000 memberships. Prints the time of the pure planner for a converged tenant
//! (an empty plan: every object compared) and for an empty tenant (every object
//! created), and the converged tenant again with four templated `attribute_map`
//! targets (the cost of templates against the default mapping, as a ratio). Run with
//! `cargo bench --bench planner`.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Instant;

use roster::desired::{App, DesiredState, Group, Office365App, Policy, SourceInfo, Switches, User};
use roster::observed::{ObservedApp, ObservedGroup, ObservedSku, ObservedUser};
use roster::plan::planner::{PlanInput, plan};

const USERS: usize = 100_000;
const GROUPS: usize = 20_000;
const PER_GROUP: usize = 50; // 20,000 × 50 = 1,000,000 memberships

fn desired() -> DesiredState {
    let users = (0..USERS)
        .map(|i| User {
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
        })
        .collect();
    let groups = (0..GROUPS)
        .map(|j| {
            let mut members: Vec<String> = (0..PER_GROUP)
                .map(|k| format!("u{}", (j * PER_GROUP + k * 7) % USERS))
                .collect();
            // Some nesting: every 100th group contains the next one.
            if j % 100 == 0 && j + 1 < GROUPS {
                members.push(format!("group:g{}", j + 1));
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
            groups: (0..GROUPS).map(|j| format!("g{j}")).collect(),
        }],
        source: SourceInfo::default(),
    }
}

/// The live tenant exactly as the repository wants it.
fn converged(d: &DesiredState) -> ObservedApp {
    let users = d
        .users
        .iter()
        .map(|u| {
            let mut attributes = BTreeMap::new();
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
                username: None,
                enabled: true,
                attributes,
                licenses: BTreeSet::new(),
                location: None,
                ..Default::default()
            }
        })
        .collect();
    // Flattened members: a group's own users plus those of the groups nested in it.
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
            if j % 100 == 0 && j + 1 < GROUPS {
                member_ids.extend(direct[j + 1].iter().cloned());
            }
            ObservedGroup {
                id: format!("gid-{j}"),
                name: g.name.clone(),
                description: g.description.clone(),
                kind: "security".into(),
                member_ids,
                location: None,
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
        directory_id: None,
        ..Default::default()
    }
}

fn time_plan(label: &str, d: &DesiredState, o: ObservedApp) {
    let observed: BTreeMap<String, ObservedApp> = [("o365".to_string(), o)].into();
    let input = PlanInput {
        desired: d,
        observed: &observed,
        today: time::macros::date!(2026 - 01 - 01),
    };
    let mut best = f64::MAX;
    let mut best_cpu = f64::MAX;
    let mut changes = 0;
    for _ in 0..3 {
        let t = Instant::now();
        let c = cpu_seconds();
        let p = match plan(&input) {
            Ok(p) => p,
            Err(e) => {
                eprintln!("plan failed: {e}");
                std::process::exit(1);
            }
        };
        best = best.min(t.elapsed().as_secs_f64());
        if let (Some(before), Some(after)) = (c, cpu_seconds()) {
            best_cpu = best_cpu.min(after - before);
        }
        changes = p.changes.len();
        drop(p);
    }
    let cpu = if best_cpu < f64::MAX {
        format!(", {best_cpu:.2} s CPU")
    } else {
        String::new()
    };
    println!(
        "planner {label}: {USERS} users, {GROUPS} groups, {} memberships: {best:.3} s wall{cpu} \
         (best of 3), {changes} changes",
        GROUPS * PER_GROUP,
    );
}

/// CPU time of this process (user + system) from /proc, so that the figure means
/// something on a shared, loaded machine too. Linux only; assumes 100 clock ticks/s.
fn cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the parenthesised command name; utime and stime are fields 14 and 15.
    let rest = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) / 100.0)
}

/// Four templated targets beyond the defaults, as a tenant with conventions has them.
const MAPPED: &[(&str, &str)] = &[
    ("companyName", "Contoso Ltd"),
    ("officeLocation", "{department|upper}"),
    (
        "onPremisesExtensionAttributes.extensionAttribute1",
        "{attributes.cost_center|default:none}",
    ),
    ("employeeType", "{job_title|default:Employee|lower}"),
];

/// `d` with [`MAPPED`] on its app and a cost centre on every other user.
fn mapped(d: &DesiredState) -> DesiredState {
    let mut m = d.clone();
    if let App::Office365(a) = &mut m.apps[0] {
        for (t, v) in MAPPED {
            a.attribute_map.insert(t.to_string(), Some(v.to_string()));
        }
    }
    for (i, u) in m.users.iter_mut().enumerate() {
        if i % 2 == 0 {
            u.attributes
                .insert("cost_center".into(), format!("CC-{}", i % 97));
        }
    }
    m
}

/// `live` with the mapped targets as `d` renders them, so the plan is empty.
fn converged_mapped(d: &DesiredState, mut live: ObservedApp) -> ObservedApp {
    let mapping = roster::mapping::Mapping::of(&d.apps[0]).expect("the bench's mapping is valid");
    let extra: Vec<_> = mapping
        .fields
        .iter()
        .filter(|f| MAPPED.iter().any(|(t, _)| *t == f.target))
        .collect();
    for (u, lu) in d.users.iter().zip(live.users.iter_mut()) {
        for f in &extra {
            if let Some(v) = f.value(u) {
                lu.attributes.insert(f.key.clone(), v);
            }
        }
    }
    live
}

fn main() {
    let d = desired();
    let live = converged(&d);
    time_plan("converged tenant", &d, live.clone());
    let m = mapped(&d);
    let live_m = converged_mapped(&m, live);
    time_plan("converged tenant, 4 templated targets", &m, live_m);
    let empty = ObservedApp {
        app: "o365".into(),
        verified_domains: vec!["contoso.com".into()],
        ..Default::default()
    };
    time_plan("empty tenant", &d, empty);
}
