//! Observed state: what a connector read from one live app, in one shape for every
//! app type, so that the planner never needs to know which protocol produced it.
//!
//! Attribute names are roster's own (`first_name`, `job_title`, ...), not Graph's or
//! LDAP's; each connector maps its protocol's attributes to these.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use compact_str::CompactString;
use serde::{Deserialize, Serialize};

pub use crate::id_set::IdSet;

/// The live state of one app, limited to what the app's management scope may see.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ObservedApp {
    /// The app's name in the repository.
    pub app: String,
    /// Users in the app's management scope, sorted by `login`.
    pub users: Vec<ObservedUser>,
    /// Groups in the app's management scope, sorted by `name`.
    pub groups: Vec<ObservedGroup>,
    /// Domains verified in the tenant (office365); empty where the notion does not exist.
    pub verified_domains: Vec<String>,
    /// The tenant's initial `<name>.onmicrosoft.com` domain (office365 `isInitial`):
    /// where guests and break-glass admins live. In scope only when listed explicitly.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub initial_domain: Option<String>,
    /// Verified domains whose authentication is federated (office365 `type` /
    /// `authenticationType` `Federated`): users there are created only with an
    /// `onPremisesImmutableId`.
    #[serde(default, skip_serializing_if = "BTreeSet::is_empty")]
    pub federated_domains: BTreeSet<String>,
    /// Why the holders of privileged directory roles are not known (office365: the
    /// app may not read role assignments), if they are not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub roles_unknown: Option<String>,
    /// Users in the directory's deleted items (office365, restorable for 30 days):
    /// candidates for `restore`, never in scope otherwise.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub deleted_users: Vec<ObservedUser>,
    /// Microsoft 365 groups in the deleted items (office365).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub deleted_groups: Vec<ObservedGroup>,
    /// License SKUs of the tenant (office365); empty elsewhere.
    pub skus: Vec<ObservedSku>,
    /// An identifier of the live directory (tenant id, domain SID, SCIM base URL), so
    /// that caches and saved plans from another directory are detected.
    pub directory_id: Option<String>,
}

/// A live user.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObservedUser {
    /// The stable id in the app (Graph object id, AD objectGUID, SCIM id).
    pub id: String,
    /// The matching key: userPrincipalName (office365), sAMAccountName (AD),
    /// userName (SCIM). Compared case-insensitively.
    pub login: String,
    /// The anchor: the roster username the live object carries, by which roster finds
    /// it again after its login changes (office365 `mailNickname`, which roster sets
    /// from the username; AD `sAMAccountName`; SCIM `externalId`).
    pub username: Option<String>,
    pub enabled: bool,
    /// Managed attributes by roster name: email, first_name, last_name, display_name,
    /// department, job_title, employee_id, usage_location, mobile_phone; other mapped
    /// targets by their own name (see [`crate::mapping`]); `manager`, the live id of
    /// the user's manager. Absent and empty values are both left out.
    pub attributes: Attributes,
    /// License SKU part numbers assigned to the user directly (office365).
    pub licenses: BTreeSet<String>,
    /// License SKU part numbers the user holds through a group's assignment (office365
    /// `licenseAssignmentStates[].assignedByGroup`; a SKU may be direct too): never
    /// removed by roster, and removing the direct copy frees no seat.
    #[serde(default, skip_serializing_if = "BTreeSet::is_empty")]
    pub inherited_licenses: BTreeSet<String>,
    /// The app's location of the object (AD distinguished name), for messages.
    pub location: Option<String>,
    /// A guest (office365 `userType: Guest`): outside the scope unless the app opts in.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub guest: bool,
    /// What the live directory protects this user from (and roster then leaves alone).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub protections: Vec<Protection>,
}

/// Why some writes to a live user are refused by the directory, or must not be made.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Protection {
    /// Mastered in an on-premises directory and synchronised to the cloud (office365
    /// `onPremisesSyncEnabled`): the cloud refuses deletes, disables and writes of the
    /// synchronised attributes; licences and cloud group memberships stay managed.
    SyncedFromOnPremises,
    /// Holds privileged directory roles (office365 role assignments, by display
    /// name): never disabled, deleted or changed in sensitive properties.
    PrivilegedRole { roles: Vec<String> },
    /// Protected by AdminSDHolder (AD `adminCount=1`): never touched.
    AdminSdHolder,
}

impl Protection {
    /// The protection in words, for plans: `mastered on premises`.
    pub fn describe(&self) -> String {
        match self {
            Protection::SyncedFromOnPremises => "mastered on premises (directory-synced)".into(),
            Protection::PrivilegedRole { roles } => {
                format!("holds the privileged role(s) {}", roles.join(", "))
            }
            Protection::AdminSdHolder => "protected by AdminSDHolder (adminCount=1)".into(),
        }
    }
}

impl ObservedUser {
    /// The value of a managed attribute, by roster name.
    pub fn attribute(&self, name: &str) -> Option<&str> {
        self.attributes.get(name)
    }
}

/// A live user's managed attributes by roster name, in name order.
///
/// A million users hold millions of these, so they are one vector of pairs rather
/// than a tree (a `BTreeMap` leaf is 544 bytes whatever it holds), and names and
/// values are [`CompactString`]s: up to 24 bytes inline, which nearly every attribute
/// name and value is, with no allocation of their own. Reads like a map of `&str`;
/// written and read in every format as a JSON object, like the map it replaces.
#[derive(Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Attributes(Vec<(CompactString, CompactString)>);

impl Attributes {
    pub fn new() -> Attributes {
        Attributes(Vec::new())
    }

    fn position(&self, name: &str) -> Result<usize, usize> {
        self.0.binary_search_by(|(k, _)| k.as_str().cmp(name))
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.position(name).ok().map(|i| self.0[i].1.as_str())
    }

    pub fn contains_key(&self, name: &str) -> bool {
        self.position(name).is_ok()
    }

    /// Sets `name` to `value`; the value it replaces, if any.
    pub fn insert(&mut self, name: String, value: String) -> Option<String> {
        self.set(name.as_str(), CompactString::from(value))
    }

    fn set(&mut self, name: &str, value: CompactString) -> Option<String> {
        match self.position(name) {
            Ok(i) => Some(std::mem::replace(&mut self.0[i].1, value).into_string()),
            Err(i) => {
                self.0.insert(i, (CompactString::from(name), value));
                None
            }
        }
    }

    pub fn remove(&mut self, name: &str) -> Option<String> {
        self.position(name)
            .ok()
            .map(|i| self.0.remove(i).1.into_string())
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Name and value pairs in name order.
    pub fn iter(&self) -> impl DoubleEndedIterator<Item = (&str, &str)> + ExactSizeIterator {
        self.0.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    pub fn keys(&self) -> impl DoubleEndedIterator<Item = &str> + ExactSizeIterator {
        self.0.iter().map(|(k, _)| k.as_str())
    }

    pub fn values(&self) -> impl DoubleEndedIterator<Item = &str> + ExactSizeIterator {
        self.0.iter().map(|(_, v)| v.as_str())
    }

    /// Keeps the pairs for which `keep` says true.
    pub fn retain(&mut self, mut keep: impl FnMut(&str, &str) -> bool) {
        self.0.retain(|(k, v)| keep(k, v));
    }

    /// Gives back the spare capacity of the vector (a reader's last step per user).
    pub fn shrink_to_fit(&mut self) {
        self.0.shrink_to_fit();
    }
}

impl std::ops::Index<&str> for Attributes {
    type Output = CompactString;
    /// The value of `name`; panics when there is none, like a map's index.
    fn index(&self, name: &str) -> &CompactString {
        match self.position(name) {
            Ok(i) => &self.0[i].1,
            Err(_) => panic!("no attribute {name:?}"),
        }
    }
}

impl std::fmt::Debug for Attributes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

impl<K: AsRef<str>, V: AsRef<str>> FromIterator<(K, V)> for Attributes {
    /// Later pairs win over earlier ones with the same name, as in a map.
    fn from_iter<I: IntoIterator<Item = (K, V)>>(iter: I) -> Attributes {
        let mut pairs: Vec<(CompactString, CompactString)> = iter
            .into_iter()
            .map(|(k, v)| {
                (
                    CompactString::from(k.as_ref()),
                    CompactString::from(v.as_ref()),
                )
            })
            .collect();
        // Stable: equal names keep their order, and the last of them is kept.
        pairs.sort_by(|a, b| a.0.cmp(&b.0));
        let mut out: Vec<(CompactString, CompactString)> = Vec::with_capacity(pairs.len());
        for pair in pairs {
            match out.last_mut() {
                Some(last) if last.0 == pair.0 => *last = pair,
                _ => out.push(pair),
            }
        }
        Attributes(out)
    }
}

impl<K: AsRef<str>, V: AsRef<str>> Extend<(K, V)> for Attributes {
    fn extend<I: IntoIterator<Item = (K, V)>>(&mut self, iter: I) {
        for (k, v) in iter {
            self.set(k.as_ref(), CompactString::from(v.as_ref()));
        }
    }
}

impl<K: AsRef<str>, V: AsRef<str>, const N: usize> From<[(K, V); N]> for Attributes {
    fn from(pairs: [(K, V); N]) -> Attributes {
        pairs.into_iter().collect()
    }
}

impl<'a> IntoIterator for &'a Attributes {
    type Item = (&'a str, &'a str);
    type IntoIter = std::iter::Map<
        std::slice::Iter<'a, (CompactString, CompactString)>,
        fn(&'a (CompactString, CompactString)) -> (&'a str, &'a str),
    >;
    fn into_iter(self) -> Self::IntoIter {
        self.0.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }
}

impl IntoIterator for Attributes {
    type Item = (String, String);
    type IntoIter = std::iter::Map<
        std::vec::IntoIter<(CompactString, CompactString)>,
        fn((CompactString, CompactString)) -> (String, String),
    >;
    fn into_iter(self) -> Self::IntoIter {
        self.0
            .into_iter()
            .map(|(k, v)| (k.into_string(), v.into_string()))
    }
}

impl Serialize for Attributes {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_map(self.iter())
    }
}

impl<'de> Deserialize<'de> for Attributes {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Attributes, D::Error> {
        struct Visit;
        impl<'de> serde::de::Visitor<'de> for Visit {
            type Value = Attributes;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a map of attribute names to string values")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<Attributes, A::Error> {
                let mut pairs = Vec::with_capacity(map.size_hint().unwrap_or(0).min(64));
                while let Some(pair) = map.next_entry::<CompactString, CompactString>()? {
                    pairs.push(pair);
                }
                Ok(pairs.into_iter().collect())
            }
        }
        deserializer.deserialize_map(Visit)
    }
}

/// The id of a group member as the target names it: a Graph object id or SCIM id (a
/// GUID, 36 bytes, kept inline), an entryUUID, an AD `objectGUID` or a `dn:`/`uid:`
/// reference (longer ones are boxed). A million members at 40 bytes each, with no
/// allocation of their own, instead of a `String` and a 48-byte heap block each.
pub type MemberId = crate::inline_str::InlineStr<38>;

/// A live group.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObservedGroup {
    pub id: String,
    /// displayName (office365), cn/sAMAccountName (AD), displayName (SCIM).
    pub name: String,
    pub description: Option<String>,
    /// "security" or "microsoft365".
    pub kind: String,
    /// Direct members: ids of users and groups.
    pub member_ids: IdSet,
    pub location: Option<String>,
    /// The group's alternate key where the target has one (office365 `uniqueName`);
    /// roster gives every group it creates the key [`roster_group_key`] of its name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unique_name: Option<String>,
    /// Why roster cannot manage the group's members, if it cannot.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restriction: Option<GroupRestriction>,
}

/// A group whose membership the target manages itself or guards.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum GroupRestriction {
    /// Members come from a rule (office365 `DynamicMembership`, `membershipRule`).
    Dynamic { rule: String },
    /// A mail-enabled security group: its members are managed in Exchange.
    MailEnabledSecurity,
    /// A distribution list: its members are managed in Exchange.
    Distribution,
    /// Assignable to directory roles (`isAssignableToRole`): member writes need the
    /// app's RoleManagement.ReadWrite.Directory permission.
    RoleAssignable,
}

impl GroupRestriction {
    /// The restriction in words, for plans and errors.
    pub fn describe(&self) -> String {
        match self {
            GroupRestriction::Dynamic { rule } => {
                format!("a dynamic group (members come from the rule `{rule}`)")
            }
            GroupRestriction::MailEnabledSecurity => {
                "a mail-enabled security group (its members are managed in Exchange)".into()
            }
            GroupRestriction::Distribution => {
                "a distribution list (its members are managed in Exchange)".into()
            }
            GroupRestriction::RoleAssignable => "a role-assignable group".into(),
        }
    }
}

/// The alternate key roster gives a group it creates for repository group `name`
/// (office365 `uniqueName`): `roster-` and 32 hex digits of the SHA-256 of the name,
/// the same in every checkout and run, so that creates of one group always meet at one
/// object and a live group is known to be roster's own.
pub fn roster_group_key(name: &str) -> String {
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(name.as_bytes());
    let hex: String = digest.iter().take(16).map(|b| format!("{b:02x}")).collect();
    format!("roster-{hex}")
}

/// The order in which live groups are matched to repository groups by name: by name,
/// then the one carrying roster's key for that name, then by id. The first of a name
/// is the managed one, for the planner and the apply driver alike.
pub fn canonical_group_order(a: &ObservedGroup, b: &ObservedGroup) -> std::cmp::Ordering {
    let foreign = |g: &ObservedGroup| g.unique_name.as_deref() != Some(&roster_group_key(&g.name));
    (&a.name, foreign(a), &a.id).cmp(&(&b.name, foreign(b), &b.id))
}

/// Whether a group's alternate key says roster created it (for any name).
pub fn is_roster_key(key: &str) -> bool {
    key.strip_prefix("roster-")
        .is_some_and(|h| h.len() == 32 && h.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// A license SKU with its seat accounting.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObservedSku {
    pub sku_id: String,
    pub part_number: String,
    /// prepaidUnits.enabled
    pub enabled: u32,
    /// consumedUnits
    pub consumed: u32,
}

impl ObservedSku {
    pub fn free(&self) -> u32 {
        self.enabled.saturating_sub(self.consumed)
    }
}

impl ObservedApp {
    /// The compact form of a complete read: member sets as sorted vectors, no spare
    /// capacity in the users and groups. The connector calls it after every read.
    pub fn compact(&mut self) {
        self.users.shrink_to_fit();
        self.groups.shrink_to_fit();
        for g in &mut self.groups {
            g.member_ids.compact();
        }
    }

    /// The domains an office365 app manages when the repository names none: the
    /// verified domains but the initial `*.onmicrosoft.com` one, where guests and
    /// break-glass admins live (lower case).
    pub fn default_authorized_domains(&self) -> std::collections::BTreeSet<String> {
        let initial = self.initial_domain.as_deref().map(str::to_lowercase);
        self.verified_domains
            .iter()
            .map(|d| d.trim().to_lowercase())
            .filter(|d| Some(d) != initial.as_ref())
            .collect()
    }

    /// Find a user by login, case-insensitively.
    pub fn user_by_login(&self, login: &str) -> Option<&ObservedUser> {
        self.users
            .iter()
            .find(|u| u.login.eq_ignore_ascii_case(login))
    }
    pub fn group_by_name(&self, name: &str) -> Option<&ObservedGroup> {
        self.groups.iter().find(|g| g.name == name)
    }
}

/// An app whose live state could not be read (cannot connect, authentication refused,
/// a read that failed): it is left out of the plan, and every view of the plan names
/// it with its cause so that a partial plan is never taken for a complete one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadFailure {
    /// The app's name in the repository.
    pub app: String,
    /// The error, outermost first, then its causes (repeats left out).
    pub chain: Vec<String>,
    /// What to check, for the causes roster recognises.
    pub hints: Vec<String>,
}

impl ReadFailure {
    /// The failure of `app` from the error its connect or read returned.
    pub fn new(app: &str, err: &anyhow::Error) -> ReadFailure {
        let mut chain: Vec<String> = Vec::new();
        for cause in err.chain() {
            let text = cause.to_string();
            let text = text.trim();
            if text.is_empty() || chain.last().is_some_and(|p| p.contains(text)) {
                continue;
            }
            chain.push(text.to_string());
        }
        ReadFailure {
            app: app.to_string(),
            chain,
            hints: crate::error_report::hints(err)
                .into_iter()
                .map(str::to_string)
                .collect(),
        }
    }

    /// The outermost error, naming the app (the connectors' errors name it already).
    pub fn headline(&self) -> String {
        let first = self
            .chain
            .first()
            .map(String::as_str)
            .unwrap_or("unknown error");
        if first.starts_with(&format!("app {}", self.app)) {
            first.to_string()
        } else {
            format!("app {}: {first}", self.app)
        }
    }

    /// The error and its causes on one line, `: `-separated, naming the app.
    pub fn message(&self) -> String {
        std::iter::once(self.headline())
            .chain(self.chain.iter().skip(1).cloned())
            .collect::<Vec<_>>()
            .join(": ")
    }
}

/// Lookups over one app's observed state, built once per command and shared by the
/// planner, the saved-plan fingerprints, the stale check and the verified apply, so
/// that none of them scans every live object for every change.
///
/// Users by login (case-insensitively; among duplicates the lowest id, as the planner
/// matches them) and by id; groups by exact name (the managed one first:
/// [`canonical_group_order`]) and by id. The maps are for lookups only and are never
/// iterated, so no output depends on their order.
#[derive(Debug, Default)]
pub struct ObservedIndex<'o> {
    users_by_login: HashMap<String, &'o ObservedUser>,
    users_by_id: HashMap<&'o str, &'o ObservedUser>,
    groups_by_name: HashMap<&'o str, &'o ObservedGroup>,
    groups_by_id: HashMap<&'o str, &'o ObservedGroup>,
}

/// The [`ObservedIndex`] of every app read, by app name.
pub type ObservedIndexes<'o> = BTreeMap<String, ObservedIndex<'o>>;

/// Indexes every app of `observed` once.
pub fn index_all(observed: &BTreeMap<String, ObservedApp>) -> ObservedIndexes<'_> {
    observed
        .iter()
        .map(|(name, obs)| (name.clone(), ObservedIndex::new(obs)))
        .collect()
}

impl<'o> ObservedIndex<'o> {
    pub fn new(obs: &'o ObservedApp) -> ObservedIndex<'o> {
        let mut users_by_login: HashMap<String, &'o ObservedUser> =
            HashMap::with_capacity(obs.users.len());
        let mut users_by_id = HashMap::with_capacity(obs.users.len());
        for u in &obs.users {
            let e = users_by_login.entry(u.login.to_lowercase()).or_insert(u);
            if u.id < e.id {
                *e = u;
            }
            users_by_id.entry(u.id.as_str()).or_insert(u);
        }
        let mut groups_by_name: HashMap<&'o str, &'o ObservedGroup> =
            HashMap::with_capacity(obs.groups.len());
        let mut groups_by_id = HashMap::with_capacity(obs.groups.len());
        for g in &obs.groups {
            let e = groups_by_name.entry(g.name.as_str()).or_insert(g);
            if canonical_group_order(g, e).is_lt() {
                *e = g;
            }
            groups_by_id.entry(g.id.as_str()).or_insert(g);
        }
        ObservedIndex {
            users_by_login,
            users_by_id,
            groups_by_name,
            groups_by_id,
        }
    }

    /// The user whose login is `login` in any case (the lowest id among duplicates).
    pub fn user_by_login(&self, login: &str) -> Option<&'o ObservedUser> {
        if let Some(u) = self.users_by_login.get(login) {
            return Some(u);
        }
        let lower = login.to_lowercase();
        if lower == login {
            return None;
        }
        self.users_by_login.get(&lower).copied()
    }

    pub fn user_by_id(&self, id: &str) -> Option<&'o ObservedUser> {
        self.users_by_id.get(id).copied()
    }

    /// The group named exactly `name` (the managed one among duplicates).
    pub fn group_by_name(&self, name: &str) -> Option<&'o ObservedGroup> {
        self.groups_by_name.get(name).copied()
    }

    pub fn group_by_id(&self, id: &str) -> Option<&'o ObservedGroup> {
        self.groups_by_id.get(id).copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attributes_behave_and_serialize_like_the_map_they_replace() {
        let mut a = Attributes::new();
        let mut model: BTreeMap<String, String> = BTreeMap::new();
        // Inserts out of order, a replacement, a long value (boxed), a removal.
        for (k, v) in [
            ("last_name", "Bo"),
            ("email", "ann@x"),
            ("department", "Sales"),
            ("email", "ann@y"),
            (
                "display_name",
                "Ann Bo, Senior Director of Very Long Titles",
            ),
        ] {
            assert_eq!(
                a.insert(k.into(), v.into()),
                model.insert(k.into(), v.into())
            );
        }
        assert_eq!(a.remove("department"), model.remove("department"));
        assert_eq!(a.remove("department"), None);
        assert_eq!(a.len(), model.len());
        assert_eq!(a.get("email"), Some("ann@y"));
        assert!(!a.contains_key("department"));
        assert_eq!(
            a.iter().collect::<Vec<_>>(),
            model
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str()))
                .collect::<Vec<_>>()
        );
        let json = serde_json::to_string(&a).expect("json");
        assert_eq!(json, serde_json::to_string(&model).expect("json"));
        let back: Attributes = serde_json::from_str(&json).expect("parse");
        assert_eq!(back, a);
        assert_eq!(format!("{a:?}"), format!("{model:?}"));
        // Collected with repeated names, the last value wins, as in a map.
        let c: Attributes = [("b", "1"), ("a", "2"), ("b", "3")].into_iter().collect();
        assert_eq!(c.iter().collect::<Vec<_>>(), [("a", "2"), ("b", "3")]);
        // Deserialized with a repeated name: the last one, as serde's map does.
        let d: Attributes = serde_json::from_str(r#"{"x":"1","x":"2"}"#).expect("parse");
        assert_eq!(d.get("x"), Some("2"));
    }

    fn user(id: &str, login: &str) -> ObservedUser {
        ObservedUser {
            id: id.into(),
            login: login.into(),
            ..Default::default()
        }
    }

    fn group(id: &str, name: &str, key: Option<String>) -> ObservedGroup {
        ObservedGroup {
            id: id.into(),
            name: name.into(),
            unique_name: key,
            ..Default::default()
        }
    }

    #[test]
    fn the_index_finds_what_the_planner_matches() {
        let obs = ObservedApp {
            users: vec![
                user("b", "Alice@Contoso.com"),
                user("a", "alice@contoso.com"),
                user("c", "bob@contoso.com"),
            ],
            groups: vec![
                group("g2", "staff", None),
                group("g1", "staff", Some(roster_group_key("staff"))),
                group("g3", "sales", None),
            ],
            ..Default::default()
        };
        let ix = ObservedIndex::new(&obs);
        // Case-insensitive, lowest id among duplicates.
        assert_eq!(ix.user_by_login("ALICE@contoso.COM").unwrap().id, "a");
        assert_eq!(ix.user_by_login("alice@contoso.com").unwrap().id, "a");
        assert_eq!(ix.user_by_login("bob@contoso.com").unwrap().id, "c");
        assert!(ix.user_by_login("carol@contoso.com").is_none());
        assert_eq!(ix.user_by_id("b").unwrap().login, "Alice@Contoso.com");
        assert!(ix.user_by_id("z").is_none());
        // Exact names; roster's own group first among duplicates.
        assert_eq!(ix.group_by_name("staff").unwrap().id, "g1");
        assert!(ix.group_by_name("Staff").is_none());
        assert_eq!(ix.group_by_id("g3").unwrap().name, "sales");
        let map: BTreeMap<String, ObservedApp> = [("o365".to_string(), obs.clone())].into();
        let all = index_all(&map);
        assert_eq!(all["o365"].group_by_name("sales").unwrap().id, "g3");
    }
}
