//! Planner benchmark on the reference tenant of SPEC §7: 100,000 users, 20,000 groups,
//! 1,000,000 memberships. Prints the time of the pure planner for a converged tenant
//! (an empty plan: every object compared) and for an empty tenant (every object
//! created), and the converged tenant again with four templated `attribute_map`
//! targets (the cost of templates against the default mapping, as a ratio). Run with
//! `cargo bench --bench planner`.

use std::collections::BTreeMap;
use std::time::Instant;

#[path = "support/reference_tenant.rs"]
mod reference_tenant;

use reference_tenant::{PER_GROUP, converged};
use roster::desired::{App, DesiredState};
use roster::observed::ObservedApp;
use roster::plan::planner::{PlanInput, plan};

const USERS: usize = 100_000;
const GROUPS: usize = 20_000;

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
    let d = reference_tenant::desired(USERS, GROUPS);
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
