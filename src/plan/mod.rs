//! The plan as data: what roster will change in each app, and why.
//!
//! A [`Plan`] is produced by the pure planner ([`planner::plan`]) and consumed by the
//! renderers and the apply engine. These are the in-memory types: each change has a
//! typed [`Target`]. The versioned JSON plan format (`format_version` "1", documented in
//! `docs/plan-format.md`) lives apart in [`wire`], converted by hand, so the code can
//! change without changing a byte of the format.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::Value;

pub use crate::desired::SourceInfo;

pub mod lifecycle;
pub mod planner;
pub mod saved;
pub mod signing;
pub mod simulate;
pub mod verify;
pub mod wire;

/// The version of the JSON plan format this build writes and reads.
pub use wire::FORMAT_VERSION;

/// A computed plan for one or more apps.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    pub format_version: String,
    pub source: SourceInfo,
    /// Changes in apply order: by app, then phase (see [`Phase`]), then key.
    pub changes: Vec<Change>,
    /// Changes that a provisioning switch forbids.
    pub skipped: Vec<Skipped>,
    pub warnings: Vec<Warning>,
    pub summary: Summary,
    /// The deletion guard per app: how many deletes + disables the plan carries, and the limit.
    pub deletion_guards: Vec<DeletionGuard>,
}

/// What kind of object a change is about. One spelling each: [`ObjectKind::as_str`],
/// serde and the command line all use the snake_case name.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    clap::ValueEnum,
)]
#[serde(rename_all = "snake_case")]
#[value(rename_all = "snake_case")]
pub enum ObjectKind {
    User,
    Group,
    Membership,
    License,
    /// A user's manager (office365 `manager`, AD `manager`, SCIM enterprise `manager`).
    Manager,
}

/// What a change does. One spelling each: [`Action::as_str`], serde and the command
/// line (`report --action`) all use the snake_case name.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    clap::ValueEnum,
)]
#[serde(rename_all = "snake_case")]
#[value(rename_all = "snake_case")]
pub enum Action {
    Create,
    Update,
    Enable,
    Disable,
    Delete,
    Add,
    Remove,
    /// Bring a deleted object back from the directory's deleted items, keeping its id.
    Restore,
}

impl ObjectKind {
    pub const ALL: [ObjectKind; 5] = [
        ObjectKind::User,
        ObjectKind::Group,
        ObjectKind::Membership,
        ObjectKind::License,
        ObjectKind::Manager,
    ];

    /// The one spelling of this kind (JSON, report log, command line, messages).
    pub fn as_str(self) -> &'static str {
        match self {
            ObjectKind::User => "user",
            ObjectKind::Group => "group",
            ObjectKind::Membership => "membership",
            ObjectKind::License => "license",
            ObjectKind::Manager => "manager",
        }
    }
}

impl Action {
    pub const ALL: [Action; 8] = [
        Action::Create,
        Action::Update,
        Action::Enable,
        Action::Disable,
        Action::Delete,
        Action::Add,
        Action::Remove,
        Action::Restore,
    ];

    /// The one spelling of this action (JSON, report log, command line, messages).
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Create => "create",
            Action::Update => "update",
            Action::Enable => "enable",
            Action::Disable => "disable",
            Action::Delete => "delete",
            Action::Add => "add",
            Action::Remove => "remove",
            Action::Restore => "restore",
        }
    }
}

impl fmt::Display for ObjectKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One change to one live object.
#[derive(Debug, Clone, PartialEq)]
pub struct Change {
    pub app: String,
    /// The object changed.
    pub target: Target,
    pub action: Action,
    /// The live id of the object changed, when it exists already.
    pub id: Option<String>,
    /// Attribute values before (updates: only the changed ones). Never secrets.
    pub before: Option<BTreeMap<String, Value>>,
    /// Attribute values after (updates: only the changed ones). Never secrets.
    pub after: Option<BTreeMap<String, Value>>,
    /// Why roster plans this change, in words.
    pub reason: String,
}

/// The object a change is about. Users are named by username (or, for live users the
/// repository does not know, their live login), groups by name.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Target {
    User(String),
    Group(String),
    Membership(MembershipKey),
    License {
        user: String,
        sku: String,
    },
    /// The manager of a user (the manager's username is in the change's `after`).
    Manager {
        user: String,
    },
}

impl Target {
    /// The target of a user, group or membership change named by its key (a membership
    /// key is `GROUP/MEMBER`). A license needs its SKU as well: use [`Target::License`].
    pub fn of(kind: ObjectKind, key: &str) -> Result<Target, String> {
        match kind {
            ObjectKind::User => Ok(Target::User(key.to_string())),
            ObjectKind::Group => Ok(Target::Group(key.to_string())),
            ObjectKind::Membership => MembershipKey::parse(key).map(Target::Membership),
            ObjectKind::License => Err(format!("license {key} names no sku")),
            ObjectKind::Manager => Ok(Target::Manager {
                user: key.to_string(),
            }),
        }
    }

    pub fn kind(&self) -> ObjectKind {
        match self {
            Target::User(_) => ObjectKind::User,
            Target::Group(_) => ObjectKind::Group,
            Target::Membership(_) => ObjectKind::Membership,
            Target::License { .. } => ObjectKind::License,
            Target::Manager { .. } => ObjectKind::Manager,
        }
    }

    /// The one-line key: the username (users, licenses), the group name (groups), or
    /// `GROUP/MEMBER` (memberships).
    pub fn key(&self) -> Cow<'_, str> {
        match self {
            Target::User(n)
            | Target::Group(n)
            | Target::License { user: n, .. }
            | Target::Manager { user: n } => Cow::Borrowed(n),
            Target::Membership(k) => Cow::Owned(k.to_string()),
        }
    }
}

/// What a reader must fetch beyond users: the connector reads all users and groups it
/// can see (the planner applies the management scope), but member lists only of the
/// groups named here, so that reads cost what the repository needs.
#[derive(Debug, Clone, Default)]
pub struct ReadScope {
    /// Groups whose members are wanted; `None` means every group.
    pub member_groups: Option<std::collections::BTreeSet<String>>,
    /// User attributes mapped beyond the type's defaults: (key, target), see
    /// [`crate::mapping`]. Readers that take the mapping from the app may ignore it.
    pub user_fields: Vec<(String, String)>,
    /// Whether users' managers are wanted (some repository user declares one).
    pub managers: bool,
    /// Whether deleted groups are wanted: the app binds a Microsoft 365 group, which a
    /// plan restores from the deleted items instead of creating it again.
    pub deleted_groups: bool,
}

/// The member of a membership: a user (by username or live login) or a nested group.
/// Written `NAME` or `group:NAME`, the one spelling used in plans, keys and repositories.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Member {
    User(String),
    Group(String),
}

impl Member {
    /// `group:NAME` is a group, anything else a user.
    pub fn parse(s: &str) -> Member {
        match s.strip_prefix("group:") {
            Some(g) => Member::Group(g.to_string()),
            None => Member::User(s.to_string()),
        }
    }

    /// The username or group name, without the `group:` prefix.
    pub fn name(&self) -> &str {
        match self {
            Member::User(n) | Member::Group(n) => n,
        }
    }

    /// `user:NAME` or `group:NAME`: the label of the object this member is, as used for
    /// dependencies between changes and plan fingerprints.
    pub fn label(&self) -> String {
        match self {
            Member::User(n) => format!("user:{n}"),
            Member::Group(n) => format!("group:{n}"),
        }
    }
}

impl fmt::Display for Member {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Member::User(n) => f.write_str(n),
            Member::Group(n) => write!(f, "group:{n}"),
        }
    }
}

/// The group and member of a membership change, written `GROUP/MEMBER`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct MembershipKey {
    pub group: String,
    pub member: Member,
}

impl MembershipKey {
    /// Parses `GROUP/MEMBER`. A nested-group member (`GROUP/group:NAME`) splits at the
    /// first `/group:`, a user member at the last `/` (group names may hold a slash,
    /// usernames do not). An empty group or member is an error naming the key.
    pub fn parse(key: &str) -> Result<MembershipKey, String> {
        let split = match key.find("/group:") {
            Some(at) => Some((&key[..at], &key[at + 1..])),
            None => key.rsplit_once('/'),
        };
        match split {
            Some((g, m)) if !g.is_empty() && !m.is_empty() && m != "group:" => Ok(MembershipKey {
                group: g.to_string(),
                member: Member::parse(m),
            }),
            _ => Err(format!(
                "membership key `{key}` is not GROUP/MEMBER (MEMBER a username or group:NAME)"
            )),
        }
    }
}

impl fmt::Display for MembershipKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.group, self.member)
    }
}

/// A change a provisioning switch forbids.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skipped {
    pub app: String,
    pub object: ObjectKind,
    pub key: String,
    pub action: Action,
    /// The switch that forbids it, e.g. `delete_users`.
    pub switch: Option<String>,
    pub reason: String,
}

/// Something a reviewer should know that is not a change.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Warning {
    pub app: Option<String>,
    pub message: String,
}

/// Count of changes per action.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Summary {
    pub create: usize,
    pub update: usize,
    pub enable: usize,
    pub disable: usize,
    pub delete: usize,
    pub add: usize,
    pub remove: usize,
    pub restore: usize,
}

/// The deletion guard's evaluation for one app.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeletionGuard {
    pub app: String,
    /// User deletes + user disables + group deletes in this plan.
    pub deletes: usize,
    /// `max_deletes`, or the default (25 or 10% of the users in scope, whichever is larger).
    pub limit: usize,
}

impl DeletionGuard {
    pub fn exceeded(&self) -> bool {
        self.deletes > self.limit
    }
}

/// The apply phase of a change; changes run in this order within an app.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Phase {
    CreateGroups,
    CreateUpdateEnableUsers,
    Licenses,
    /// Managers are set once every user of the run exists.
    Managers,
    MembershipAdds,
    MembershipRemoves,
    DisableDeleteUsers,
    DeleteGroups,
    /// Group attribute updates run with group creation.
    Other,
}

impl Phase {
    /// Every phase, in the order an apply runs them.
    pub const APPLY_ORDER: [Phase; 9] = [
        Phase::CreateGroups,
        Phase::CreateUpdateEnableUsers,
        Phase::Licenses,
        Phase::Managers,
        Phase::MembershipAdds,
        Phase::MembershipRemoves,
        Phase::DisableDeleteUsers,
        Phase::DeleteGroups,
        Phase::Other,
    ];
}

impl Change {
    /// User deletes and disables and group deletes count against `max_deletes`.
    pub fn counts_against_deletion_guard(&self) -> bool {
        matches!(
            (self.object(), self.action),
            (ObjectKind::User, Action::Delete)
                | (ObjectKind::User, Action::Disable)
                | (ObjectKind::Group, Action::Delete)
        )
    }

    pub fn phase(&self) -> Phase {
        use Action::*;
        use ObjectKind::*;
        match (self.object(), self.action) {
            (Group, Create) | (Group, Update) | (Group, Restore) => Phase::CreateGroups,
            (User, Create) | (User, Update) | (User, Enable) | (User, Restore) => {
                Phase::CreateUpdateEnableUsers
            }
            (Manager, _) => Phase::Managers,
            (License, _) => Phase::Licenses,
            (Membership, Add) => Phase::MembershipAdds,
            (Membership, Remove) => Phase::MembershipRemoves,
            (User, Disable) | (User, Delete) => Phase::DisableDeleteUsers,
            (Group, Delete) => Phase::DeleteGroups,
            _ => Phase::Other,
        }
    }
}

impl Change {
    pub fn object(&self) -> ObjectKind {
        self.target.kind()
    }

    /// See [`Target::key`].
    pub fn key(&self) -> Cow<'_, str> {
        self.target.key()
    }

    /// The group and member of a membership change.
    pub fn membership(&self) -> Option<&MembershipKey> {
        match &self.target {
            Target::Membership(k) => Some(k),
            _ => None,
        }
    }

    /// The manager's username (or live login) a manager change sets; `None` clears.
    pub fn manager(&self) -> Option<&str> {
        match &self.target {
            Target::Manager { .. } => self
                .after
                .as_ref()
                .and_then(|a| a.get("manager"))
                .and_then(Value::as_str),
            _ => None,
        }
    }

    /// The SKU part number of a license change.
    pub fn sku(&self) -> Option<&str> {
        match &self.target {
            Target::License { sku, .. } => Some(sku),
            _ => None,
        }
    }
}

impl Summary {
    pub fn of(changes: &[Change]) -> Summary {
        let mut s = Summary::default();
        for c in changes {
            match c.action {
                Action::Create => s.create += 1,
                Action::Update => s.update += 1,
                Action::Enable => s.enable += 1,
                Action::Disable => s.disable += 1,
                Action::Delete => s.delete += 1,
                Action::Add => s.add += 1,
                Action::Remove => s.remove += 1,
                Action::Restore => s.restore += 1,
            }
        }
        s
    }
    pub fn total(&self) -> usize {
        self.create
            + self.update
            + self.enable
            + self.disable
            + self.delete
            + self.add
            + self.remove
            + self.restore
    }
}

impl Plan {
    pub fn is_empty(&self) -> bool {
        self.changes.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn membership_keys_parse_one_way() {
        let k = MembershipKey::parse("staff/alice").unwrap();
        assert_eq!(k.group, "staff");
        assert_eq!(k.member, Member::User("alice".into()));
        assert_eq!(k.to_string(), "staff/alice");
        let k = MembershipKey::parse("Sales/EMEA/group:Sales/EMEA/North").unwrap();
        assert_eq!(k.group, "Sales/EMEA");
        assert_eq!(k.member, Member::Group("Sales/EMEA/North".into()));
        assert_eq!(k.to_string(), "Sales/EMEA/group:Sales/EMEA/North");
        let k = MembershipKey::parse("Sales/EMEA/bob").unwrap();
        assert_eq!((k.group.as_str(), k.member.name()), ("Sales/EMEA", "bob"));
        for bad in ["", "staff", "/alice", "staff/", "staff/group:", "/group:x"] {
            let e = MembershipKey::parse(bad).unwrap_err();
            assert!(e.contains(&format!("`{bad}`")), "{e}");
        }
        assert_eq!(Member::parse("group:x").label(), "group:x");
        assert_eq!(Member::parse("x").label(), "user:x");
    }

    /// `as_str`, serde and clap spell every action and kind the same way.
    #[test]
    fn one_spelling_each() {
        use clap::ValueEnum;
        for a in Action::ALL {
            assert_eq!(serde_json::to_value(a).unwrap(), a.as_str());
            assert_eq!(a.to_possible_value().unwrap().get_name(), a.as_str());
            assert_eq!(Action::from_str(a.as_str(), false), Ok(a));
        }
        assert_eq!(Action::value_variants().len(), Action::ALL.len());
        for k in ObjectKind::ALL {
            assert_eq!(serde_json::to_value(k).unwrap(), k.as_str());
            assert_eq!(k.to_possible_value().unwrap().get_name(), k.as_str());
        }
        assert_eq!(ObjectKind::value_variants().len(), ObjectKind::ALL.len());
    }
}
