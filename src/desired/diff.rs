//! The change between two desired states (two revisions), as data: objects added,
//! removed and changed with field-level old → new values, effective membership adds
//! and removes, and who gains or loses access to which app through which group.
//!
//! Pure and deterministic: no clock (an expiring membership counts as present and its
//! `expires` date is shown), no live state, no secrets (secret references are data).

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;
use serde_json::Value;

use super::model::*;

/// The kind of repository object a change is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ObjectType {
    App,
    User,
    Group,
    Policy,
}

impl ObjectType {
    pub fn as_str(self) -> &'static str {
        match self {
            ObjectType::App => "app",
            ObjectType::User => "user",
            ObjectType::Group => "group",
            ObjectType::Policy => "policy",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ChangeKind {
    Added,
    Removed,
    Changed,
}

/// One field's old and new value (`None`: absent on that side).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FieldChange {
    pub field: String,
    pub old: Option<Value>,
    pub new: Option<Value>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ObjectChange {
    pub object: ObjectType,
    pub key: String,
    pub change: ChangeKind,
    /// For `added`/`removed`: every field of the object; for `changed`: the changed ones.
    pub fields: Vec<FieldChange>,
}

/// A change of a group's effective direct membership (inline members and
/// membership entries together).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MembershipChange {
    pub group: String,
    /// A username or `group:NAME`.
    pub member: String,
    pub change: ChangeKind,
    /// The expiry date on each side, when the membership is time-bound.
    pub old_expires: Option<String>,
    pub new_expires: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AccessKind {
    Gained,
    Lost,
}

/// A user who gains or loses access to an app, and the bound groups that grant it
/// (on the new side for gains, on the old side for losses).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AccessChange {
    pub app: String,
    pub user: String,
    pub change: AccessKind,
    pub groups: Vec<String>,
}

/// The revision a side of the diff was read from.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RevInfo {
    pub rev: String,
    pub commit: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct DiffSummary {
    pub added: usize,
    pub removed: usize,
    pub changed: usize,
    pub members_added: usize,
    pub members_removed: usize,
    pub access_gained: usize,
    pub access_lost: usize,
}

/// The whole desired-state diff.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StateDiff {
    pub format_version: String,
    pub from: RevInfo,
    pub to: RevInfo,
    pub objects: Vec<ObjectChange>,
    pub memberships: Vec<MembershipChange>,
    pub access: Vec<AccessChange>,
    pub summary: DiffSummary,
}

impl StateDiff {
    pub fn is_empty(&self) -> bool {
        self.objects.is_empty() && self.memberships.is_empty() && self.access.is_empty()
    }
}

/// Flatten a serialized object to dotted paths; lists stay whole values.
fn flatten(prefix: &str, v: &Value, out: &mut BTreeMap<String, Value>) {
    let is_secret_ref = |m: &serde_json::Map<String, Value>| {
        m.len() == 1 && (m.contains_key("env") || m.contains_key("file"))
    };
    match v {
        // A secret reference stays one value: `{"env": "X"} -> {"file": "y"}`.
        Value::Object(map) if !map.is_empty() && !is_secret_ref(map) => {
            for (k, v) in map {
                let p = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                flatten(&p, v, out);
            }
        }
        _ => {
            out.insert(prefix.to_string(), v.clone());
        }
    }
}

fn fields_of<T: Serialize>(obj: &T, skip: &[&str]) -> BTreeMap<String, Value> {
    let mut out = BTreeMap::new();
    if let Ok(v) = serde_json::to_value(obj) {
        flatten("", &v, &mut out);
    }
    out.retain(|k, _| !skip.contains(&k.as_str()));
    out
}

fn diff_objects<T: Serialize>(
    kind: ObjectType,
    old: BTreeMap<&str, &T>,
    new: BTreeMap<&str, &T>,
    skip: &[&str],
    out: &mut Vec<ObjectChange>,
) {
    let keys: BTreeSet<&str> = old.keys().chain(new.keys()).copied().collect();
    for key in keys {
        let a = old.get(key).map(|o| fields_of(*o, skip));
        let b = new.get(key).map(|o| fields_of(*o, skip));
        let (change, fields) = match (a, b) {
            (None, Some(b)) => (
                ChangeKind::Added,
                b.into_iter()
                    .map(|(field, v)| FieldChange {
                        field,
                        old: None,
                        new: Some(v),
                    })
                    .collect(),
            ),
            (Some(a), None) => (
                ChangeKind::Removed,
                a.into_iter()
                    .map(|(field, v)| FieldChange {
                        field,
                        old: Some(v),
                        new: None,
                    })
                    .collect(),
            ),
            (Some(a), Some(b)) => {
                let names: BTreeSet<&String> = a.keys().chain(b.keys()).collect();
                let fields: Vec<FieldChange> = names
                    .into_iter()
                    .filter(|n| a.get(*n) != b.get(*n))
                    .map(|n| FieldChange {
                        field: n.clone(),
                        old: a.get(n).cloned(),
                        new: b.get(n).cloned(),
                    })
                    .collect();
                if fields.is_empty() {
                    continue;
                }
                (ChangeKind::Changed, fields)
            }
            (None, None) => continue,
        };
        out.push(ObjectChange {
            object: kind,
            key: key.to_string(),
            change,
            fields,
        });
    }
}

/// group → member → expiry (`None`: permanent), expiry not evaluated.
fn effective_members(s: &DesiredState) -> BTreeMap<String, BTreeMap<String, Option<String>>> {
    super::access::edges(s, None)
}

/// app → user → bound groups granting access (explicit authorized domains applied).
fn access(s: &DesiredState) -> BTreeMap<String, BTreeMap<String, BTreeSet<String>>> {
    super::access::by_app(s, None)
}

/// Compute the diff from `old` to `new`.
pub fn diff(old: &DesiredState, new: &DesiredState, from: RevInfo, to: RevInfo) -> StateDiff {
    let mut objects = Vec::new();
    diff_objects(
        ObjectType::App,
        old.apps.iter().map(|a| (a.name(), a)).collect(),
        new.apps.iter().map(|a| (a.name(), a)).collect(),
        &["name"],
        &mut objects,
    );
    diff_objects(
        ObjectType::User,
        old.users.iter().map(|u| (u.username.as_str(), u)).collect(),
        new.users.iter().map(|u| (u.username.as_str(), u)).collect(),
        &["username"],
        &mut objects,
    );
    diff_objects(
        ObjectType::Group,
        old.groups.iter().map(|g| (g.name.as_str(), g)).collect(),
        new.groups.iter().map(|g| (g.name.as_str(), g)).collect(),
        &["name", "members"],
        &mut objects,
    );
    diff_objects(
        ObjectType::Policy,
        old.policies.iter().map(|p| (p.name.as_str(), p)).collect(),
        new.policies.iter().map(|p| (p.name.as_str(), p)).collect(),
        &["name"],
        &mut objects,
    );

    let mut memberships = Vec::new();
    let (ma, mb) = (effective_members(old), effective_members(new));
    let groups: BTreeSet<&String> = ma.keys().chain(mb.keys()).collect();
    let empty = BTreeMap::new();
    for g in groups {
        let a = ma.get(g).unwrap_or(&empty);
        let b = mb.get(g).unwrap_or(&empty);
        let members: BTreeSet<&String> = a.keys().chain(b.keys()).collect();
        for m in members {
            let change = match (a.get(m), b.get(m)) {
                (None, Some(_)) => ChangeKind::Added,
                (Some(_), None) => ChangeKind::Removed,
                (Some(x), Some(y)) if x != y => ChangeKind::Changed,
                _ => continue,
            };
            memberships.push(MembershipChange {
                group: g.clone(),
                member: m.clone(),
                change,
                old_expires: a.get(m).cloned().flatten(),
                new_expires: b.get(m).cloned().flatten(),
            });
        }
    }

    let mut access_changes = Vec::new();
    let (aa, ab) = (access(old), access(new));
    let apps: BTreeSet<&String> = aa.keys().chain(ab.keys()).collect();
    let empty = BTreeMap::new();
    for app in apps {
        let a = aa.get(app).unwrap_or(&empty);
        let b = ab.get(app).unwrap_or(&empty);
        let users: BTreeSet<&String> = a.keys().chain(b.keys()).collect();
        for u in users {
            let (change, groups) = match (a.get(u), b.get(u)) {
                (None, Some(g)) => (AccessKind::Gained, g),
                (Some(g), None) => (AccessKind::Lost, g),
                _ => continue,
            };
            access_changes.push(AccessChange {
                app: app.clone(),
                user: u.clone(),
                change,
                groups: groups.iter().cloned().collect(),
            });
        }
    }

    let count = |k: ChangeKind| objects.iter().filter(|o| o.change == k).count();
    let summary = DiffSummary {
        added: count(ChangeKind::Added),
        removed: count(ChangeKind::Removed),
        changed: count(ChangeKind::Changed),
        members_added: memberships
            .iter()
            .filter(|m| m.change == ChangeKind::Added)
            .count(),
        members_removed: memberships
            .iter()
            .filter(|m| m.change == ChangeKind::Removed)
            .count(),
        access_gained: access_changes
            .iter()
            .filter(|a| a.change == AccessKind::Gained)
            .count(),
        access_lost: access_changes
            .iter()
            .filter(|a| a.change == AccessKind::Lost)
            .count(),
    };
    StateDiff {
        format_version: "1".into(),
        from,
        to,
        objects,
        memberships,
        access: access_changes,
        summary,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::desired::load;

    fn rev(name: &str) -> RevInfo {
        RevInfo {
            rev: name.into(),
            commit: None,
        }
    }

    fn example(name: &str) -> DesiredState {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("examples")
            .join(name);
        load(&dir, None).expect("example loads").state
    }

    #[test]
    fn identical_states_have_no_changes() {
        let a = example("acme");
        let d = diff(&a, &a.clone(), rev("a"), rev("b"));
        assert!(d.is_empty());
        assert_eq!(d.summary, DiffSummary::default());
    }

    #[test]
    fn from_nothing_everything_is_added_and_reversal_swaps() {
        let a = example("acme");
        let empty = DesiredState::default();
        let d = diff(&empty, &a, rev("a"), rev("b"));
        assert_eq!(
            d.summary.added,
            a.apps.len() + a.users.len() + a.groups.len() + a.policies.len()
        );
        assert_eq!(d.summary.removed + d.summary.changed, 0);
        // Everyone reachable through a policy gains access, except the user outside
        // the office365 app's authorized domains (who gains only the AD app).
        let gains: Vec<_> = d
            .access
            .iter()
            .filter(|x| x.user == "pcontractor")
            .map(|x| x.app.as_str())
            .collect();
        assert_eq!(gains, ["corp-ad"]);
        let back = diff(&a, &empty, rev("b"), rev("a"));
        assert_eq!(back.summary.removed, d.summary.added);
        assert_eq!(back.summary.access_lost, d.summary.access_gained);
        assert_eq!(back.summary.members_removed, d.summary.members_added);
    }

    #[test]
    fn expiry_changes_are_membership_changes() {
        let mut a = example("acme");
        let mut b = a.clone();
        for m in &mut b.memberships {
            if m.expires.is_some() {
                m.expires = Some("2028-01-01".into());
            }
        }
        let d = diff(&a, &b, rev("a"), rev("b"));
        assert_eq!(d.objects.len(), 0);
        assert_eq!(d.memberships.len(), 1);
        assert_eq!(d.memberships[0].change, ChangeKind::Changed);
        assert_eq!(d.memberships[0].new_expires.as_deref(), Some("2028-01-01"));
        // A permanent listing wins over a time-bound one.
        a.groups[0].members.push("pcontractor".into());
        let d = diff(&a, &b, rev("a"), rev("b"));
        assert_eq!(d.memberships[0].old_expires, None);
    }
}
