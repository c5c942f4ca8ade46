//! Saved-plan benchmark (issue 19, part 1) on the reference tenant of SPEC §7:
//! 100,000 users, 20,000 groups, 1,000,000 memberships, with about 10,000 changes
//! pending. Prints, in process through the library:
//!
//! - `plan`: the pure planner;
//! - `plan --out`: the planner, the saved plan's fingerprints and its JSON text;
//! - `apply PLANFILE` verification: reading the file, the stale check, a fresh plan
//!   and the verification of every saved change against it;
//!
//! and the ratios of the last two to the first (targets: ≤ 1.3× and ≤ 1.5×). Figures
//! only, no timed assertions. Run with `cargo bench --bench saved_plan`.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Instant;

use roster::desired::{App, DesiredState, Group, Office365App, Policy, SourceInfo, Switches, User};
use roster::observed::{ObservedApp, ObservedGroup, ObservedSku, ObservedUser};
use roster::plan::Plan;
use roster::plan::planner::{PlanInput, plan};
use roster::plan::saved::SavedPlan;

/// `ROSTER_BENCH_DIVIDE=N` shrinks the tenant and the changes N times (quick runs).
static DIVIDE: std::sync::LazyLock<usize> = std::sync::LazyLock::new(|| {
    std::env::var("ROSTER_BENCH_DIVIDE")
        .ok()
        .and_then(|v| v.parse().ok())
        .filter(|n| *n > 0)
        .unwrap_or(1)
});
static USERS: std::sync::LazyLock<usize> = std::sync::LazyLock::new(|| 100_000 / *DIVIDE);
static GROUPS: std::sync::LazyLock<usize> = std::sync::LazyLock::new(|| 20_000 / *DIVIDE);
const PER_GROUP: usize = 50; // 20,000 × 50 = 1,000,000 memberships
// Pending changes: department updates, new users and their memberships, members to remove.
static UPDATES: std::sync::LazyLock<usize> = std::sync::LazyLock::new(|| 5_000 / *DIVIDE);
static CREATES: std::sync::LazyLock<usize> = std::sync::LazyLock::new(|| 2_000 / *DIVIDE);
static REMOVES: std::sync::LazyLock<usize> = std::sync::LazyLock::new(|| 1_000 / *DIVIDE);

fn user(i: usize) -> User {
    User {
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

fn desired() -> DesiredState {
    let users = (0..*USERS).map(user).collect();
    let groups = (0..*GROUPS)
        .map(|j| {
            let mut members: Vec<String> = (0..PER_GROUP)
                .map(|k| format!("u{}", (j * PER_GROUP + k * 7) % *USERS))
                .collect();
            if j % 100 == 0 && j + 1 < *GROUPS {
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
            groups: (0..*GROUPS).map(|j| format!("g{j}")).collect(),
        }],
        source: SourceInfo::default(),
    }
}

/// The live tenant exactly as `d` wants it.
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
            if j % 100 == 0 && j + 1 < *GROUPS {
                member_ids.extend(direct[j + 1].iter().cloned());
            }
            ObservedGroup {
                id: format!("gid-{j}"),
                name: g.name.clone(),
                description: g.description.clone(),
                kind: "security".into(),
                member_ids,
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

/// The reference tenant with about 10,000 changes pending: the live state is the
/// converged one, the repository moved on.
fn pending() -> (DesiredState, BTreeMap<String, ObservedApp>) {
    let base = desired();
    let mut live = converged(&base);
    let mut d = base;
    for i in 0..*UPDATES {
        d.users[i * (*USERS / *UPDATES)].department = Some("Moved".into());
    }
    for i in 0..*CREATES {
        let n = *USERS + i;
        d.users.push(user(n));
        d.groups[(i * 7) % *GROUPS].members.push(format!("u{n}"));
    }
    for (j, g) in live.groups.iter_mut().enumerate().take(*REMOVES) {
        // A member the repository does not list (an existing user, not in g{j}).
        g.member_ids
            .insert(format!("id-u{}", (j * PER_GROUP + 3) % *USERS));
    }
    (d, [("o365".to_string(), live)].into())
}

fn planned(d: &DesiredState, observed: &BTreeMap<String, ObservedApp>) -> Plan {
    let input = PlanInput {
        desired: d,
        observed,
        today: time::macros::date!(2026 - 01 - 01),
    };
    match plan(&input) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("plan failed: {e}");
            std::process::exit(1);
        }
    }
}

/// The best of `runs` wall-clock times of `f`, in seconds, and its last result.
fn best_of<T>(runs: usize, mut f: impl FnMut() -> T) -> (f64, T) {
    let mut best = f64::MAX;
    let mut last = None;
    for _ in 0..runs {
        let t = Instant::now();
        let r = f();
        best = best.min(t.elapsed().as_secs_f64());
        last = Some(r);
    }
    (best, last.expect("at least one run"))
}

fn main() {
    let (d, observed) = pending();
    let runs = 3;

    let (t_plan, p) = best_of(runs, || planned(&d, &observed));
    let changes = p.changes.len();

    // `plan --out`: the plan, then the saved plan and its text (as the command does).
    let (t_out, text) = best_of(runs, || {
        let p = planned(&d, &observed);
        SavedPlan::new(p, &d, &observed).to_json()
    });
    let saved = SavedPlan::from_json(&text).expect("the bench's plan file reads back");
    let fingerprints: usize = saved.apps.values().map(|a| a.fingerprints.len()).sum();

    // `apply PLANFILE` before any write: read the file, refuse it if stale, plan again
    // and verify every saved change against the fresh plan.
    let (t_apply, verified) = best_of(runs, || {
        let s = SavedPlan::from_json(&text).expect("the bench's plan file reads back");
        if let Err(stale) = s.check(&d, &observed) {
            eprintln!("unexpectedly stale: {stale}");
            std::process::exit(1);
        }
        let fresh = planned(&d, &observed);
        match roster::plan::verify::verify(&s.plan.changes, &fresh) {
            Ok(v) => v.changes.len(),
            Err(r) => {
                eprintln!("unexpectedly refused: {r}");
                std::process::exit(1);
            }
        }
    });
    assert_eq!(verified, changes, "every saved change verifies");

    println!(
        "saved plans: {} users, {} groups, {} memberships, {changes} changes, \
         {fingerprints} fingerprints, plan file {:.1} MiB (best of {runs})",
        *USERS,
        *GROUPS,
        *GROUPS * PER_GROUP,
        text.len() as f64 / (1024.0 * 1024.0)
    );
    println!("  plan                           {t_plan:8.3} s");
    println!(
        "  plan --out                     {t_out:8.3} s  = {:.2} x plan (target <= 1.3)",
        t_out / t_plan
    );
    println!(
        "  apply PLANFILE (verification)  {t_apply:8.3} s  = {:.2} x plan (target <= 1.5)",
        t_apply / t_plan
    );
}
