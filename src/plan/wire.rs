//! The JSON plan format, `format_version` "1" (`docs/plan-format.md`): the structs as
//! they appear on the wire, converted by hand from and to the in-memory [`super::Plan`].
//!
//! The format is a published contract (CI jobs, reviewers' tools and saved plan files
//! read it), the in-memory plan is free to change: keeping them apart means a new field
//! or a refactoring of [`super::Change`] cannot change a byte of the output unnoticed.
//! Field order here is output order. Reading is strict where the plan's meaning is at
//! stake (an unknown action, a membership without group and member, a license without
//! SKU) and names the change.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{Action, MembershipKey, ObjectKind, Target};

/// The version this build writes and reads.
pub const FORMAT_VERSION: &str = "1";

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Plan {
    pub format_version: String,
    pub source: Source,
    pub changes: Vec<Change>,
    pub skipped: Vec<Skipped>,
    pub warnings: Vec<Warning>,
    pub summary: Summary,
    #[serde(default)]
    pub deletion_guards: Vec<DeletionGuard>,
    /// The apps that could not be read, so the plan leaves them out. Present only in a
    /// partial plan (printed by `plan`/`drift --format json`, never saved): a plan
    /// without it is complete, as every format "1" plan before it was.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<ReadError>,
}

/// An app left out of a partial plan, and why.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ReadError {
    pub app: String,
    /// The outermost error, naming the app.
    pub error: String,
    /// Its causes, outermost first.
    #[serde(default)]
    pub causes: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Source {
    pub commit: Option<String>,
    pub dirty: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Change {
    pub app: String,
    pub object: ObjectKind,
    pub key: String,
    pub action: Action,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub member: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sku: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    pub before: Option<BTreeMap<String, Value>>,
    pub after: Option<BTreeMap<String, Value>>,
    pub reason: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Skipped {
    pub app: String,
    pub object: ObjectKind,
    pub key: String,
    pub action: Action,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub switch: Option<String>,
    pub reason: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Warning {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub app: Option<String>,
    pub message: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Summary {
    pub create: usize,
    pub update: usize,
    pub enable: usize,
    pub disable: usize,
    pub delete: usize,
    pub add: usize,
    pub remove: usize,
    /// Present when the plan restores anything (format "1" readers that predate it see
    /// the same plan they always did).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub restore: usize,
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DeletionGuard {
    pub app: String,
    pub deletes: usize,
    pub limit: usize,
}

impl From<&super::Plan> for Plan {
    fn from(p: &super::Plan) -> Plan {
        Plan {
            errors: Vec::new(),
            format_version: p.format_version.clone(),
            source: Source {
                commit: p.source.commit.clone(),
                dirty: p.source.dirty,
            },
            changes: p.changes.iter().map(Change::from).collect(),
            skipped: p
                .skipped
                .iter()
                .map(|s| Skipped {
                    app: s.app.clone(),
                    object: s.object,
                    key: s.key.clone(),
                    action: s.action,
                    switch: s.switch.clone(),
                    reason: s.reason.clone(),
                })
                .collect(),
            warnings: p
                .warnings
                .iter()
                .map(|w| Warning {
                    app: w.app.clone(),
                    message: w.message.clone(),
                })
                .collect(),
            summary: {
                let s = &p.summary;
                Summary {
                    create: s.create,
                    update: s.update,
                    enable: s.enable,
                    disable: s.disable,
                    delete: s.delete,
                    add: s.add,
                    remove: s.remove,
                    restore: s.restore,
                }
            },
            deletion_guards: p
                .deletion_guards
                .iter()
                .map(|g| DeletionGuard {
                    app: g.app.clone(),
                    deletes: g.deletes,
                    limit: g.limit,
                })
                .collect(),
        }
    }
}

impl From<&super::Change> for Change {
    fn from(c: &super::Change) -> Change {
        let (group, member, sku) = match &c.target {
            Target::Membership(k) => (Some(k.group.clone()), Some(k.member.to_string()), None),
            Target::License { sku, .. } => (None, None, Some(sku.clone())),
            Target::User(_) | Target::Group(_) | Target::Manager { .. } => (None, None, None),
        };
        Change {
            app: c.app.clone(),
            object: c.object(),
            key: c.key().into_owned(),
            action: c.action,
            group,
            member,
            sku,
            id: c.id.clone(),
            before: c.before.clone(),
            after: c.after.clone(),
            reason: c.reason.clone(),
        }
    }
}

impl TryFrom<Change> for super::Change {
    type Error = String;

    /// A membership takes its group and member from the `group` and `member` fields, or
    /// else from its key `GROUP/MEMBER`; a license needs its `sku`.
    fn try_from(c: Change) -> Result<super::Change, String> {
        let target = match (c.object, c.group, c.member, c.sku) {
            (ObjectKind::Membership, Some(g), Some(m), _)
                if !g.is_empty() && !m.is_empty() && m != "group:" =>
            {
                Target::Membership(MembershipKey {
                    group: g,
                    member: super::Member::parse(&m),
                })
            }
            (ObjectKind::License, _, _, Some(sku)) if !sku.is_empty() => {
                Target::License { user: c.key, sku }
            }
            (ObjectKind::License, ..) => {
                return Err(format!(
                    "license {} {} has no sku",
                    c.action.as_str(),
                    c.key
                ));
            }
            (kind, ..) => Target::of(kind, &c.key)?,
        };
        Ok(super::Change {
            app: c.app,
            target,
            action: c.action,
            id: c.id,
            before: c.before,
            after: c.after,
            reason: c.reason,
        })
    }
}

impl TryFrom<Plan> for super::Plan {
    type Error = String;

    fn try_from(p: Plan) -> Result<super::Plan, String> {
        if !p.errors.is_empty() {
            let apps: Vec<&str> = p.errors.iter().map(|e| e.app.as_str()).collect();
            return Err(format!(
                "the plan is partial: app(s) {} could not be read when it was made, and a partial plan is never applied",
                apps.join(", ")
            ));
        }
        let changes = p
            .changes
            .into_iter()
            .map(|c| {
                let app = c.app.clone();
                super::Change::try_from(c).map_err(|e| format!("app {app}: {e}"))
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(super::Plan {
            format_version: p.format_version,
            source: super::SourceInfo {
                commit: p.source.commit,
                dirty: p.source.dirty,
            },
            changes,
            skipped: p
                .skipped
                .into_iter()
                .map(|s| super::Skipped {
                    app: s.app,
                    object: s.object,
                    key: s.key,
                    action: s.action,
                    switch: s.switch,
                    reason: s.reason,
                })
                .collect(),
            warnings: p
                .warnings
                .into_iter()
                .map(|w| super::Warning {
                    app: w.app,
                    message: w.message,
                })
                .collect(),
            summary: {
                let s = p.summary;
                super::Summary {
                    create: s.create,
                    update: s.update,
                    enable: s.enable,
                    disable: s.disable,
                    delete: s.delete,
                    add: s.add,
                    remove: s.remove,
                    restore: s.restore,
                }
            },
            deletion_guards: p
                .deletion_guards
                .into_iter()
                .map(|g| super::DeletionGuard {
                    app: g.app,
                    deletes: g.deletes,
                    limit: g.limit,
                })
                .collect(),
        })
    }
}

/// The plan as pretty JSON with a trailing newline.
pub fn to_json(plan: &super::Plan) -> String {
    to_json_partial(plan, &[])
}

/// The plan as pretty JSON, with an `errors` array naming the apps that could not be
/// read when `failed` is not empty.
pub fn to_json_partial(plan: &super::Plan, failed: &[crate::observed::ReadFailure]) -> String {
    let mut wire = Plan::from(plan);
    wire.errors = failed
        .iter()
        .map(|f| ReadError {
            app: f.app.clone(),
            error: f.headline(),
            causes: f.chain.iter().skip(1).cloned().collect(),
        })
        .collect();
    match serde_json::to_string_pretty(&wire) {
        Ok(mut s) => {
            s.push('\n');
            s
        }
        Err(e) => format!("{{\"error\": {:?}}}\n", e.to_string()),
    }
}

/// `#[serde(with = "wire::as_wire")]` for a [`super::Plan`] inside another wire struct
/// (the saved-plan file): written and read through the wire types.
pub mod as_wire {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    pub fn serialize<S: Serializer>(plan: &super::super::Plan, s: S) -> Result<S::Ok, S::Error> {
        super::Plan::from(plan).serialize(s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<super::super::Plan, D::Error> {
        let wire = super::Plan::deserialize(d)?;
        super::super::Plan::try_from(wire).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wire_change(object: ObjectKind, key: &str) -> Change {
        Change {
            app: "a".into(),
            object,
            key: key.into(),
            action: Action::Add,
            group: None,
            member: None,
            sku: None,
            id: None,
            before: None,
            after: None,
            reason: String::new(),
        }
    }

    #[test]
    fn memberships_and_licenses_read_strictly_and_round_trip() {
        let c = super::super::Change::try_from(wire_change(
            ObjectKind::Membership,
            "Sales/EMEA/group:North",
        ))
        .unwrap();
        let k = c.membership().unwrap();
        assert_eq!(k.group, "Sales/EMEA");
        let back = Change::from(&c);
        assert_eq!(back.group.as_deref(), Some("Sales/EMEA"));
        assert_eq!(back.member.as_deref(), Some("group:North"));
        assert_eq!(back.key, "Sales/EMEA/group:North");

        let e = super::super::Change::try_from(wire_change(ObjectKind::Membership, "staff"))
            .unwrap_err();
        assert!(e.contains("`staff`"), "{e}");
        let e =
            super::super::Change::try_from(wire_change(ObjectKind::License, "alice")).unwrap_err();
        assert_eq!(e, "license add alice has no sku");
        let mut l = wire_change(ObjectKind::License, "alice");
        l.sku = Some("E3".into());
        let c = super::super::Change::try_from(l).unwrap();
        assert_eq!(c.sku(), Some("E3"));
        assert_eq!(c.key(), "alice");
    }
}
