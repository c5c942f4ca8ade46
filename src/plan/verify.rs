//! Verified apply: the changes of a saved plan are carried out only when a fresh plan,
//! computed now from the desired state and the live state, holds each of them
//! identically (same app, object, action, live id, before and after).
//!
//! A plan file is an artifact that passed through other hands: this is what makes a
//! hand-edited file harmless. A change the repository does not ask for (deleting every
//! user, touching an `ignore`d admin, an object out of scope, a raw id, another
//! attribute value) is not in the fresh plan, so the whole apply is refused before any
//! write. The deletion guard is computed again from the changes that will run, with the
//! fresh plan's limits, never taken from the file.

use std::collections::{BTreeMap, BTreeSet};

use super::{Action, Change, DeletionGuard, Plan, Target};

/// The saved changes that may run, with the guard recomputed for them, and what the
/// fresh plan has beyond them (not applied, listed for the operator).
#[derive(Debug)]
pub struct Verified {
    pub changes: Vec<Change>,
    pub deletion_guards: Vec<DeletionGuard>,
    pub extra: Vec<Change>,
}

/// The saved changes the fresh plan does not hold, in words.
#[derive(Debug, PartialEq, Eq)]
pub struct Refused {
    pub reasons: Vec<String>,
}

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "the saved plan holds {} change(s) that are not what the repository asks for now; nothing was applied:",
            self.reasons.len()
        )?;
        for r in &self.reasons {
            write!(f, "\n  - {r}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Refused {}

/// What identifies a change for verification: everything but the wording of its reason.
type Identity<'a> = (&'a str, &'a Target, Action, Option<&'a str>, String, String);

fn identity(c: &Change) -> Identity<'_> {
    let json = |m: &Option<BTreeMap<String, serde_json::Value>>| {
        serde_json::to_string(m).unwrap_or_default()
    };
    (
        c.app.as_str(),
        &c.target,
        c.action,
        c.id.as_deref(),
        json(&c.before),
        json(&c.after),
    )
}

/// A change in words, for a refusal: `app o365: user alice delete`.
pub fn describe(c: &Change) -> String {
    let sku = c.sku().map(|s| format!(" {s}")).unwrap_or_default();
    format!(
        "app {}: {} {}{sku} {}",
        c.app,
        c.object().as_str(),
        c.key(),
        c.action.as_str()
    )
}

/// Checks `saved` against `fresh`; pure.
pub fn verify(saved: &[Change], fresh: &Plan) -> Result<Verified, Refused> {
    let fresh_ids: BTreeSet<Identity<'_>> = fresh.changes.iter().map(identity).collect();
    let mut reasons = Vec::new();
    let mut seen = BTreeSet::new();
    for c in saved {
        let id = identity(c);
        if !fresh_ids.contains(&id) {
            let same_target = fresh.changes.iter().find(|f| {
                f.app == c.app
                    && f.object() == c.object()
                    && f.key() == c.key()
                    && f.action == c.action
            });
            reasons.push(match same_target {
                Some(_) => format!(
                    "{}: the repository asks for it with other values or another live object now",
                    describe(c)
                ),
                None => format!("{}: not what the repository asks for now", describe(c)),
            });
        } else if !seen.insert(id) {
            reasons.push(format!("{}: listed twice", describe(c)));
        }
    }
    if !reasons.is_empty() {
        return Err(Refused { reasons });
    }
    let extra: Vec<Change> = fresh
        .changes
        .iter()
        .filter(|f| !seen.contains(&identity(f)))
        .cloned()
        .collect();
    let deletion_guards = fresh
        .deletion_guards
        .iter()
        .map(|g| DeletionGuard {
            app: g.app.clone(),
            deletes: saved
                .iter()
                .filter(|c| c.app == g.app && c.counts_against_deletion_guard())
                .count(),
            limit: g.limit,
        })
        .collect();
    Ok(Verified {
        changes: saved.to_vec(),
        deletion_guards,
        extra,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::{FORMAT_VERSION, ObjectKind, SourceInfo, Summary};

    fn change(key: &str, action: Action, after: Option<&str>) -> Change {
        Change {
            app: "o365".into(),
            target: Target::of(ObjectKind::User, key).expect("a valid target"),
            action,
            id: Some(format!("id-{key}")),
            before: None,
            after: after.map(|v| BTreeMap::from([("department".to_string(), v.into())])),
            reason: "because".into(),
        }
    }

    fn plan(changes: Vec<Change>, limit: usize) -> Plan {
        Plan {
            format_version: FORMAT_VERSION.into(),
            source: SourceInfo::default(),
            summary: Summary::of(&changes),
            changes,
            skipped: vec![],
            warnings: vec![],
            deletion_guards: vec![DeletionGuard {
                app: "o365".into(),
                deletes: 99,
                limit,
            }],
        }
    }

    #[test]
    fn identical_changes_pass_and_extras_are_listed_not_applied() {
        let a = change("alice", Action::Update, Some("Sales"));
        let b = change("bob", Action::Disable, None);
        let fresh = plan(vec![a.clone(), b.clone()], 5);
        let v = verify(std::slice::from_ref(&b), &fresh).unwrap();
        assert_eq!(v.changes, vec![b]);
        assert_eq!(v.extra, vec![a]);
        // The guard counts what runs, not what the file or the fresh plan claims.
        assert_eq!(v.deletion_guards[0].deletes, 1);
        assert_eq!(v.deletion_guards[0].limit, 5);
    }

    #[test]
    fn edited_or_invented_changes_are_refused_with_words() {
        let fresh = plan(vec![change("alice", Action::Update, Some("Sales"))], 5);
        let tampered = change("alice", Action::Update, Some("Admins"));
        let invented = change("root", Action::Delete, None);
        let err = verify(&[tampered, invented], &fresh).unwrap_err();
        assert_eq!(
            err.reasons,
            vec![
                "app o365: user alice update: the repository asks for it with other values or another live object now".to_string(),
                "app o365: user root delete: not what the repository asks for now".to_string(),
            ]
        );
        // Another live id is another object.
        let mut other_id = change("alice", Action::Update, Some("Sales"));
        other_id.id = Some("id-of-someone-else".into());
        assert!(verify(&[other_id], &fresh).is_err());
        // A reason reworded is not a different change.
        let mut reworded = change("alice", Action::Update, Some("Sales"));
        reworded.reason = "other words".into();
        assert!(verify(&[reworded], &fresh).is_ok());
        // Another SKU, group or member is another change.
        let license = |sku: &str| Change {
            target: Target::License {
                user: "alice".into(),
                sku: sku.into(),
            },
            action: Action::Add,
            after: None,
            ..change("alice", Action::Add, None)
        };
        let fresh = plan(vec![license("E3")], 5);
        assert!(verify(&[license("E3")], &fresh).is_ok());
        let err = verify(&[license("E5_ADMIN")], &fresh).unwrap_err();
        assert!(err.reasons[0].contains("other values"), "{:?}", err.reasons);
        let member = |g: &str| Change {
            target: Target::of(ObjectKind::Membership, &format!("{g}/alice")).unwrap(),
            ..change("alice", Action::Add, None)
        };
        let fresh = plan(vec![member("staff")], 5);
        assert!(verify(&[member("Global Admins")], &fresh).is_err());
    }

    #[test]
    fn a_change_listed_twice_is_refused() {
        let a = change("alice", Action::Update, Some("Sales"));
        let fresh = plan(vec![a.clone()], 5);
        assert!(verify(&[a.clone(), a], &fresh).is_err());
    }
}
