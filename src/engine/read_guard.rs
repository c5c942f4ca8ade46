//! The empty-read guard: a read that comes back empty where the previous read of the
//! same app saw users is treated as a failed read, not as the truth, so that it never
//! turns into re-creating (or, through adoption, rewriting) a whole directory.
//!
//! The counts of the last accepted read of each app live in
//! `.roster/cache/read-counts.json`; the file is safe to delete (the next read is then
//! accepted as is).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::bail;
use serde::{Deserialize, Serialize};

use crate::observed::ObservedApp;
use crate::plan::{Action, ObjectKind, Plan};

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counts {
    pub users: usize,
    pub groups: usize,
}

fn path(root: &Path) -> PathBuf {
    crate::layout::read_counts(root)
}

fn load(root: &Path) -> BTreeMap<String, Counts> {
    std::fs::read_to_string(path(root))
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok())
        .unwrap_or_default()
}

/// The pure decision: which apps read empty while they were populated before, and
/// whose plan would create users from that empty read.
pub fn suspicious(
    previous: &BTreeMap<String, Counts>,
    observed: &BTreeMap<String, ObservedApp>,
    plan: &Plan,
) -> Vec<String> {
    let mut out = Vec::new();
    for (app, o) in observed {
        let Some(prev) = previous.get(app) else {
            continue;
        };
        let creates = plan
            .changes
            .iter()
            .filter(|c| {
                &c.app == app && c.object() == ObjectKind::User && c.action == Action::Create
            })
            .count();
        if o.users.is_empty() && prev.users > 0 && creates > 0 {
            out.push(format!(
                "app {app}: the live read returned no users, but the previous read saw {} users; \
                 refusing to plan {creates} creates from what looks like a failed or partial read. \
                 If the directory really was emptied, delete {} and run again",
                prev.users, ".roster/cache/read-counts.json"
            ));
        }
    }
    out
}

/// Records what an apply left behind: the counts read before it, plus the user and
/// group creates, minus the deletes, that it applied.
pub fn record_after_apply(
    root: &Path,
    observed: &BTreeMap<String, ObservedApp>,
    applied: &[crate::plan::Change],
) {
    let mut counts = load(root);
    for (app, o) in observed {
        let net = |object: ObjectKind| {
            let n = |action: Action| {
                applied
                    .iter()
                    .filter(|c| &c.app == app && c.object() == object && c.action == action)
                    .count()
            };
            (n(Action::Create), n(Action::Delete))
        };
        let (uc, ud) = net(ObjectKind::User);
        let (gc, gd) = net(ObjectKind::Group);
        counts.insert(
            app.clone(),
            Counts {
                users: (o.users.len() + uc).saturating_sub(ud),
                groups: (o.groups.len() + gc).saturating_sub(gd),
            },
        );
    }
    save(root, &counts);
}

fn save(root: &Path, counts: &BTreeMap<String, Counts>) {
    let p = path(root);
    if let Some(dir) = p.parent() {
        let _ = std::fs::create_dir_all(dir);
    }
    if let Ok(text) = serde_json::to_vec_pretty(counts)
        && let Err(e) = crate::layout::write_atomic(&p, &text, crate::layout::Access::Shared)
    {
        tracing::warn!("cannot record read counts in {}: {e}", p.display());
    }
}

/// Refuses a suspicious read; otherwise records the counts of this read.
pub fn check_and_record(
    root: &Path,
    observed: &BTreeMap<String, ObservedApp>,
    plan: &Plan,
) -> anyhow::Result<()> {
    let mut previous = load(root);
    let problems = suspicious(&previous, observed, plan);
    if !problems.is_empty() {
        bail!("{}", problems.join("\n"));
    }
    for (app, o) in observed {
        previous.insert(
            app.clone(),
            Counts {
                users: o.users.len(),
                groups: o.groups.len(),
            },
        );
    }
    let p = path(root);
    if let Some(dir) = p.parent() {
        let _ = std::fs::create_dir_all(dir);
    }
    if let Ok(text) = serde_json::to_vec_pretty(&previous)
        && let Err(e) = crate::layout::write_atomic(&p, &text, crate::layout::Access::Shared)
    {
        tracing::warn!("cannot record read counts in {}: {e}", p.display());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::observed::ObservedUser;
    use crate::plan::{Change, FORMAT_VERSION, SourceInfo, Summary, Target};

    fn plan_with_creates(n: usize) -> Plan {
        let changes = (0..n)
            .map(|i| Change {
                app: "a".into(),
                target: Target::of(ObjectKind::User, &format!("u{i}")).expect("a valid target"),
                action: Action::Create,
                id: None,
                before: None,
                after: None,
                reason: String::new(),
            })
            .collect();
        Plan {
            format_version: FORMAT_VERSION.into(),
            source: SourceInfo::default(),
            changes,
            skipped: vec![],
            warnings: vec![],
            summary: Summary::default(),
            deletion_guards: vec![],
        }
    }

    fn observed(users: usize) -> BTreeMap<String, ObservedApp> {
        let mut o = ObservedApp {
            app: "a".into(),
            ..Default::default()
        };
        o.users = (0..users)
            .map(|i| ObservedUser {
                id: i.to_string(),
                login: format!("u{i}"),
                ..Default::default()
            })
            .collect();
        [("a".to_string(), o)].into()
    }

    #[test]
    fn an_empty_read_after_a_populated_one_is_refused_only_when_it_would_create() {
        let prev: BTreeMap<String, Counts> = [(
            "a".to_string(),
            Counts {
                users: 40,
                groups: 2,
            },
        )]
        .into();
        assert_eq!(
            suspicious(&prev, &observed(0), &plan_with_creates(40)).len(),
            1
        );
        assert!(
            suspicious(&prev, &observed(0), &plan_with_creates(0)).is_empty(),
            "nothing to create: nothing to fear"
        );
        assert!(suspicious(&prev, &observed(3), &plan_with_creates(37)).is_empty());
        assert!(
            suspicious(&BTreeMap::new(), &observed(0), &plan_with_creates(40)).is_empty(),
            "first read"
        );
    }

    #[test]
    fn counts_are_recorded_and_checked_across_runs() {
        let dir = tempfile::tempdir().unwrap();
        check_and_record(dir.path(), &observed(5), &plan_with_creates(0)).unwrap();
        let err = check_and_record(dir.path(), &observed(0), &plan_with_creates(5)).unwrap_err();
        assert!(
            err.to_string().contains("previous read saw 5 users"),
            "{err}"
        );
        std::fs::remove_file(path(dir.path())).unwrap();
        check_and_record(dir.path(), &observed(0), &plan_with_creates(5)).unwrap();
    }
}
