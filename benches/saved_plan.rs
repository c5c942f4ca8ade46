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

use std::collections::BTreeMap;
use std::time::Instant;

#[path = "support/reference_tenant.rs"]
mod reference_tenant;

use reference_tenant::{PER_GROUP, converged, user};
use roster::desired::DesiredState;
use roster::observed::ObservedApp;
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
// Pending changes: department updates, new users and their memberships, members to remove.
static UPDATES: std::sync::LazyLock<usize> = std::sync::LazyLock::new(|| 5_000 / *DIVIDE);
static CREATES: std::sync::LazyLock<usize> = std::sync::LazyLock::new(|| 2_000 / *DIVIDE);
static REMOVES: std::sync::LazyLock<usize> = std::sync::LazyLock::new(|| 1_000 / *DIVIDE);

/// The reference tenant with about 10,000 changes pending: the live state is the
/// converged one, the repository moved on.
fn pending() -> (DesiredState, BTreeMap<String, ObservedApp>) {
    let base = reference_tenant::desired(*USERS, *GROUPS);
    let mut live = converged(&base);
    let mut d = base;
    for i in 0..*UPDATES {
        d.users[i * (*USERS / *UPDATES)].department = Some("Moved".into());
    }
    for i in 0..*CREATES {
        let n = *USERS + i;
        d.users.push(user(n));
        d.groups[(i * 7) % *GROUPS]
            .members
            .push(format!("u{n}").into());
    }
    for (j, g) in live.groups.iter_mut().enumerate().take(*REMOVES) {
        // A member the repository does not list (an existing user, not in g{j}).
        g.member_ids
            .insert(format!("id-u{}", (j * PER_GROUP + 3) % *USERS).into());
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
