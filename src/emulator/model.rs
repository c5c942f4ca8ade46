//! The emulated tenant's data: users, groups, memberships, owners, domains, subscribed SKUs,
//! soft-deleted items and the change log behind delta queries, indexed so that a
//! 100k-user / 1M-membership tenant answers each request in time proportional to the page.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use uuid::Uuid;

use super::error::GraphError;

/// A license assigned to a user (`microsoft.graph.assignedLicense`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct AssignedLicense {
    #[serde(default)]
    pub disabled_plans: Vec<Uuid>,
    pub sku_id: Uuid,
}

/// `microsoft.graph.user`, restricted to the properties the emulator keeps.
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
pub struct User {
    pub id: Uuid,
    pub account_enabled: bool,
    pub display_name: String,
    pub given_name: Option<String>,
    pub surname: Option<String>,
    pub mail_nickname: String,
    pub user_principal_name: String,
    pub mail: Option<String>,
    pub department: Option<String>,
    pub job_title: Option<String>,
    pub employee_id: Option<String>,
    pub usage_location: Option<String>,
    pub mobile_phone: Option<String>,
    pub business_phones: Vec<String>,
    pub office_location: Option<String>,
    pub preferred_language: Option<String>,
    pub company_name: Option<String>,
    pub city: Option<String>,
    pub country: Option<String>,
    pub employee_type: Option<String>,
    pub other_mails: Vec<String>,
    pub user_type: Option<String>,
    pub created_date_time: String,
    pub deleted_date_time: Option<String>,
    pub assigned_licenses: Vec<AssignedLicense>,
    /// Change sequence number of the last modification (delta queries).
    pub seq: u64,
}

/// `microsoft.graph.group` (security and Microsoft 365 groups) with its links.
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
pub struct Group {
    pub id: Uuid,
    pub display_name: String,
    pub description: Option<String>,
    pub mail_nickname: String,
    pub mail_enabled: bool,
    pub security_enabled: bool,
    pub group_types: Vec<String>,
    pub mail: Option<String>,
    pub visibility: Option<String>,
    /// The client-assigned alternate key (`/groups(uniqueName='…')`): unique in the
    /// tenant, immutable once set.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unique_name: Option<String>,
    pub created_date_time: String,
    pub deleted_date_time: Option<String>,
    pub members: BTreeSet<Uuid>,
    pub owners: BTreeSet<Uuid>,
    pub seq: u64,
}

impl Group {
    pub fn is_unified(&self) -> bool {
        self.group_types
            .iter()
            .any(|t| t.eq_ignore_ascii_case("Unified"))
    }
}

/// A verified domain of the tenant.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Domain {
    pub id: String,
    pub is_default: bool,
    pub is_initial: bool,
}

/// A subscription (`microsoft.graph.subscribedSku`) with seat accounting.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Sku {
    pub sku_id: Uuid,
    pub sku_part_number: String,
    pub enabled: u32,
    pub consumed: u32,
}

/// A soft-deleted user, with the group memberships it had (restored with it).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DeletedUser {
    pub user: User,
    #[serde(default)]
    pub groups: Vec<Uuid>,
}

/// A soft-deleted Microsoft 365 group (its member and owner links are kept inside).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DeletedGroup {
    pub group: Group,
    #[serde(default)]
    pub member_of: Vec<Uuid>,
}

/// An entry in the per-kind change index: an object changed, or was removed.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq)]
pub enum Change {
    Changed(Uuid),
    /// Removed; `true` = permanently deleted (`reason: deleted`), else soft-deleted (`changed`).
    Removed(Uuid, bool),
}

/// A member added to or removed from a group (delta `members@delta`).
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub struct MemberEvent {
    pub group: Uuid,
    pub member: Uuid,
    pub added: bool,
}

/// Well-known SKU ids for common part numbers, so ids look like a real tenant's.
pub fn sku_id_for(part: &str) -> Uuid {
    let known = [
        ("ENTERPRISEPACK", "6fd2c87f-b296-42f0-b197-1e91e994b900"),
        ("ENTERPRISEPREMIUM", "c7df2760-2c81-4ef7-b578-5b5392b571df"),
        ("STANDARDPACK", "18181a46-0d4e-45cd-891e-60aabd171b4e"),
        ("SPE_E3", "05e9a617-0261-4cee-bb44-138d3ef5d965"),
        ("SPE_E5", "06ebc4ee-1bb5-47dd-8120-11324bc54e06"),
        (
            "O365_BUSINESS_PREMIUM",
            "f245ecc8-75af-4f8e-b61f-27d8114de5b3",
        ),
        (
            "O365_BUSINESS_ESSENTIALS",
            "3b555118-da6a-4418-894f-7df1e2096870",
        ),
        ("EMS", "efccb6f7-5641-4e0e-bd10-b4976e1bf68e"),
        ("POWER_BI_PRO", "f8a1db68-be16-40ed-86d5-cb42ce701560"),
    ];
    for (p, id) in known {
        if p.eq_ignore_ascii_case(part)
            && let Ok(u) = Uuid::parse_str(id)
        {
            return u;
        }
    }
    name_uuid(&format!("sku:{}", part.to_ascii_uppercase()))
}

/// A deterministic (name-based, SHA-1) UUID.
pub fn name_uuid(name: &str) -> Uuid {
    use sha1::Digest;
    let digest = sha1::Sha1::digest(name.as_bytes());
    let mut b = [0u8; 16];
    b.copy_from_slice(&digest[..16]);
    b[6] = (b[6] & 0x0f) | 0x50;
    b[8] = (b[8] & 0x3f) | 0x80;
    Uuid::from_bytes(b)
}

/// Maximum number of entries kept in the delta change logs; older tokens expire.
pub const MAX_LOG: usize = 2_000_000;

/// The whole tenant. Persisted as JSON (see [`Tenant::to_json_bytes`]).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Tenant {
    pub format_version: u32,
    pub tenant_id: Uuid,
    pub tenant_name: String,
    pub domains: Vec<Domain>,
    pub skus: Vec<Sku>,
    pub users: BTreeMap<Uuid, User>,
    pub groups: BTreeMap<Uuid, Group>,
    #[serde(default)]
    pub deleted_users: BTreeMap<Uuid, DeletedUser>,
    #[serde(default)]
    pub deleted_groups: BTreeMap<Uuid, DeletedGroup>,
    /// Last change sequence number handed out.
    #[serde(default)]
    pub seq: u64,
    /// Delta tokens older than this sequence number are expired.
    #[serde(default)]
    pub log_floor: u64,
    /// The generation of the change log: delta tokens carry it, so that tokens of
    /// another tenant state (a replaced or reset state file) are refused.
    #[serde(default = "Uuid::new_v4")]
    pub sync_generation: Uuid,
    /// Removals (tombstones) by sequence number, per kind.
    #[serde(default)]
    pub user_removals: BTreeMap<u64, Change>,
    #[serde(default)]
    pub group_removals: BTreeMap<u64, Change>,
    #[serde(default)]
    pub member_events: BTreeMap<u64, MemberEvent>,
    /// Lower-cased UPN → id.
    #[serde(skip)]
    pub upn_index: HashMap<String, Uuid>,
    /// seq → object, for changed (present) objects; rebuilt from the objects' `seq`.
    #[serde(skip)]
    pub user_changes: BTreeMap<u64, Uuid>,
    #[serde(skip)]
    pub group_changes: BTreeMap<u64, Uuid>,
}

impl Tenant {
    pub fn new(name: &str, domains: &[String], skus: &[(String, u32)]) -> Self {
        let mut t = Tenant {
            format_version: 1,
            tenant_id: name_uuid(&format!("tenant:{name}")),
            tenant_name: name.to_string(),
            domains: Vec::new(),
            skus: Vec::new(),
            users: BTreeMap::new(),
            groups: BTreeMap::new(),
            deleted_users: BTreeMap::new(),
            deleted_groups: BTreeMap::new(),
            seq: 0,
            log_floor: 0,
            sync_generation: Uuid::new_v4(),
            user_removals: BTreeMap::new(),
            group_removals: BTreeMap::new(),
            member_events: BTreeMap::new(),
            upn_index: HashMap::new(),
            user_changes: BTreeMap::new(),
            group_changes: BTreeMap::new(),
        };
        t.merge_config(domains, skus);
        t
    }

    /// Add configured domains and SKUs that the tenant does not have yet.
    pub fn merge_config(&mut self, domains: &[String], skus: &[(String, u32)]) {
        for d in domains {
            let d = d.trim().to_ascii_lowercase();
            if d.is_empty() || self.domains.iter().any(|x| x.id == d) {
                continue;
            }
            let first = self.domains.is_empty();
            self.domains.push(Domain {
                id: d,
                is_default: first,
                is_initial: first,
            });
        }
        for (part, seats) in skus {
            if self
                .skus
                .iter()
                .any(|s| s.sku_part_number.eq_ignore_ascii_case(part))
            {
                continue;
            }
            self.skus.push(Sku {
                sku_id: sku_id_for(part),
                sku_part_number: part.clone(),
                enabled: *seats,
                consumed: 0,
            });
        }
    }

    /// Parse a state file and rebuild the in-memory indexes.
    pub fn from_json_bytes(bytes: &[u8]) -> anyhow::Result<Self> {
        let mut t: Tenant = serde_json::from_slice(bytes)?;
        t.rebuild_indexes();
        Ok(t)
    }

    pub fn to_json_bytes(&self) -> anyhow::Result<Vec<u8>> {
        Ok(serde_json::to_vec(self)?)
    }

    pub fn rebuild_indexes(&mut self) {
        self.upn_index.clear();
        self.user_changes.clear();
        self.group_changes.clear();
        let mut max_seq = self.seq;
        for (id, u) in &self.users {
            self.upn_index
                .insert(u.user_principal_name.to_lowercase(), *id);
            self.user_changes.insert(u.seq, *id);
            max_seq = max_seq.max(u.seq);
        }
        for (id, g) in &self.groups {
            self.group_changes.insert(g.seq, *id);
            max_seq = max_seq.max(g.seq);
        }
        // Objects written with equal seq (e.g. generated files) collapse in the index;
        // give them distinct sequence numbers so delta sees every one.
        if self.user_changes.len() != self.users.len()
            || self.group_changes.len() != self.groups.len()
        {
            let mut s = max_seq;
            self.user_changes.clear();
            self.group_changes.clear();
            for (id, u) in self.users.iter_mut() {
                s += 1;
                u.seq = s;
                self.user_changes.insert(s, *id);
            }
            for (id, g) in self.groups.iter_mut() {
                s += 1;
                g.seq = s;
                self.group_changes.insert(s, *id);
            }
            max_seq = s;
        }
        for k in self
            .user_removals
            .keys()
            .chain(self.group_removals.keys())
            .chain(self.member_events.keys())
        {
            max_seq = max_seq.max(*k);
        }
        self.seq = max_seq;
        // Recount consumed seats from the assignments (the file might have been edited).
        for sku in self.skus.iter_mut() {
            sku.consumed = self
                .users
                .values()
                .filter(|u| u.assigned_licenses.iter().any(|l| l.sku_id == sku.sku_id))
                .count() as u32;
        }
    }

    pub fn next_seq(&mut self) -> u64 {
        self.seq += 1;
        self.seq
    }

    pub fn touch_user(&mut self, id: Uuid) {
        let s = self.next_seq();
        if let Some(u) = self.users.get_mut(&id) {
            self.user_changes.remove(&u.seq);
            u.seq = s;
            self.user_changes.insert(s, id);
        }
    }

    pub fn touch_group(&mut self, id: Uuid) {
        let s = self.next_seq();
        if let Some(g) = self.groups.get_mut(&id) {
            self.group_changes.remove(&g.seq);
            g.seq = s;
            self.group_changes.insert(s, id);
        }
    }

    pub fn record_member_event(&mut self, group: Uuid, member: Uuid, added: bool) {
        let s = self.next_seq();
        self.member_events.insert(
            s,
            MemberEvent {
                group,
                member,
                added,
            },
        );
        self.touch_group(group);
        self.prune_logs();
    }

    fn prune_logs(&mut self) {
        while self.member_events.len() + self.user_removals.len() + self.group_removals.len()
            > MAX_LOG
        {
            let candidates = [
                self.member_events.keys().next().copied(),
                self.user_removals.keys().next().copied(),
                self.group_removals.keys().next().copied(),
            ];
            let Some(min) = candidates.iter().flatten().min().copied() else {
                break;
            };
            self.member_events.remove(&min);
            self.user_removals.remove(&min);
            self.group_removals.remove(&min);
            self.log_floor = self.log_floor.max(min);
        }
    }

    pub fn insert_user(&mut self, mut u: User) {
        let s = self.next_seq();
        u.seq = s;
        self.upn_index
            .insert(u.user_principal_name.to_lowercase(), u.id);
        self.user_changes.insert(s, u.id);
        self.users.insert(u.id, u);
    }

    /// The live group with this `uniqueName` (compared ignoring case, as Entra
    /// compares alternate keys), if any.
    pub fn group_by_unique_name(&self, name: &str) -> Option<Uuid> {
        self.groups
            .values()
            .find(|g| {
                g.unique_name
                    .as_deref()
                    .is_some_and(|u| u.eq_ignore_ascii_case(name))
            })
            .map(|g| g.id)
    }

    pub fn insert_group(&mut self, mut g: Group) {
        let s = self.next_seq();
        g.seq = s;
        self.group_changes.insert(s, g.id);
        self.groups.insert(g.id, g);
    }

    /// Remove a user from the live set (soft or permanent), dropping its memberships,
    /// ownerships and seats. Returns the groups it was a member of.
    pub fn remove_user(&mut self, id: Uuid, permanent: bool) -> Option<(User, Vec<Uuid>)> {
        let u = self.users.remove(&id)?;
        self.upn_index.remove(&u.user_principal_name.to_lowercase());
        self.user_changes.remove(&u.seq);
        for l in &u.assigned_licenses {
            if let Some(s) = self.skus.iter_mut().find(|s| s.sku_id == l.sku_id) {
                s.consumed = s.consumed.saturating_sub(1);
            }
        }
        let groups = self.unlink_member(id);
        let s = self.next_seq();
        self.user_removals.insert(s, Change::Removed(id, permanent));
        self.prune_logs();
        Some((u, groups))
    }

    /// Remove `id` from every group's members and owners; returns the groups it was in.
    pub fn unlink_member(&mut self, id: Uuid) -> Vec<Uuid> {
        let mut in_groups = Vec::new();
        let mut owned = Vec::new();
        for (gid, g) in self.groups.iter_mut() {
            if g.members.remove(&id) {
                in_groups.push(*gid);
            }
            if g.owners.remove(&id) {
                owned.push(*gid);
            }
        }
        for gid in &in_groups {
            self.record_member_event(*gid, id, false);
        }
        in_groups
    }

    pub fn remove_group(&mut self, id: Uuid, permanent: bool) -> Option<(Group, Vec<Uuid>)> {
        let g = self.groups.remove(&id)?;
        self.group_changes.remove(&g.seq);
        let parents = self.unlink_member(id);
        let s = self.next_seq();
        self.group_removals
            .insert(s, Change::Removed(id, permanent));
        self.prune_logs();
        Some((g, parents))
    }

    pub fn user_by_upn(&self, upn: &str) -> Option<Uuid> {
        self.upn_index.get(&upn.to_lowercase()).copied()
    }

    pub fn is_verified_domain(&self, domain: &str) -> bool {
        self.domains
            .iter()
            .any(|d| d.id.eq_ignore_ascii_case(domain))
    }

    pub fn default_domain(&self) -> String {
        self.domains
            .iter()
            .find(|d| d.is_default)
            .or_else(|| self.domains.first())
            .map(|d| d.id.clone())
            .unwrap_or_else(|| format!("{}.onmicrosoft.com", self.tenant_name))
    }

    /// The kind of a directory object id: `user` or `group`.
    pub fn kind_of(&self, id: &Uuid) -> Option<&'static str> {
        if self.users.contains_key(id) {
            Some("user")
        } else if self.groups.contains_key(id) {
            Some("group")
        } else {
            None
        }
    }
}

// ---------------------------------------------------------------------------------------
// JSON projection of the entities
// ---------------------------------------------------------------------------------------

fn opt(v: &Option<String>) -> Value {
    match v {
        Some(s) => Value::String(s.clone()),
        None => Value::Null,
    }
}

/// Every property of a user the emulator returns, in Graph's order.
pub const USER_PROPS: &[&str] = &[
    "id",
    "accountEnabled",
    "assignedLicenses",
    "businessPhones",
    "city",
    "companyName",
    "country",
    "createdDateTime",
    "deletedDateTime",
    "department",
    "displayName",
    "employeeId",
    "employeeType",
    "givenName",
    "jobTitle",
    "mail",
    "mailNickname",
    "mobilePhone",
    "officeLocation",
    "otherMails",
    "preferredLanguage",
    "surname",
    "usageLocation",
    "userPrincipalName",
    "userType",
];

/// The properties returned for a user without `$select` (Graph's default set).
pub const USER_DEFAULT: &[&str] = &[
    "businessPhones",
    "displayName",
    "givenName",
    "jobTitle",
    "mail",
    "mobilePhone",
    "officeLocation",
    "preferredLanguage",
    "surname",
    "userPrincipalName",
    "id",
];

/// Properties that may be `$select`ed on a user but that Graph never returns
/// (write-only); they come back as `null`.
pub const USER_WRITE_ONLY: &[&str] = &["passwordProfile"];

pub const GROUP_PROPS: &[&str] = &[
    "id",
    "createdDateTime",
    "deletedDateTime",
    "description",
    "displayName",
    "groupTypes",
    "mail",
    "mailEnabled",
    "mailNickname",
    "securityEnabled",
    "uniqueName",
    "visibility",
];

/// A group's default property set is all of its (emulated) properties.
pub const GROUP_DEFAULT: &[&str] = GROUP_PROPS;

pub fn user_prop(u: &User, name: &str) -> Option<Value> {
    Some(match name {
        "id" => json!(u.id.to_string()),
        "accountEnabled" => json!(u.account_enabled),
        "assignedLicenses" => serde_json::to_value(&u.assigned_licenses).unwrap_or(Value::Null),
        "businessPhones" => json!(u.business_phones),
        "city" => opt(&u.city),
        "companyName" => opt(&u.company_name),
        "country" => opt(&u.country),
        "createdDateTime" => json!(u.created_date_time),
        "deletedDateTime" => opt(&u.deleted_date_time),
        "department" => opt(&u.department),
        "displayName" => json!(u.display_name),
        "employeeId" => opt(&u.employee_id),
        "employeeType" => opt(&u.employee_type),
        "givenName" => opt(&u.given_name),
        "jobTitle" => opt(&u.job_title),
        "mail" => opt(&u.mail),
        "mailNickname" => json!(u.mail_nickname),
        "mobilePhone" => opt(&u.mobile_phone),
        "officeLocation" => opt(&u.office_location),
        "otherMails" => json!(u.other_mails),
        "preferredLanguage" => opt(&u.preferred_language),
        "surname" => opt(&u.surname),
        "usageLocation" => opt(&u.usage_location),
        "userPrincipalName" => json!(u.user_principal_name),
        "userType" => opt(&u.user_type),
        "passwordProfile" => Value::Null,
        _ => return None,
    })
}

pub fn group_prop(g: &Group, name: &str) -> Option<Value> {
    Some(match name {
        "id" => json!(g.id.to_string()),
        "createdDateTime" => json!(g.created_date_time),
        "deletedDateTime" => opt(&g.deleted_date_time),
        "description" => opt(&g.description),
        "displayName" => json!(g.display_name),
        "groupTypes" => json!(g.group_types),
        "mail" => opt(&g.mail),
        "mailEnabled" => json!(g.mail_enabled),
        "mailNickname" => json!(g.mail_nickname),
        "securityEnabled" => json!(g.security_enabled),
        "visibility" => opt(&g.visibility),
        "uniqueName" => opt(&g.unique_name),
        _ => return None,
    })
}

pub fn is_user_prop(name: &str) -> bool {
    USER_PROPS.contains(&name) || USER_WRITE_ONLY.contains(&name)
}

pub fn is_group_prop(name: &str) -> bool {
    GROUP_PROPS.contains(&name)
}

/// Project a user onto `select` (or the default set), optionally with `@odata.type`.
pub fn user_json(u: &User, select: Option<&[String]>, with_type: bool) -> Map<String, Value> {
    let mut m = Map::new();
    if with_type {
        m.insert("@odata.type".into(), json!("#microsoft.graph.user"));
    }
    match select {
        Some(sel) => {
            for p in sel {
                if let Some(v) = user_prop(u, p) {
                    m.insert(p.clone(), v);
                }
            }
        }
        None => {
            for p in USER_DEFAULT {
                if let Some(v) = user_prop(u, p) {
                    m.insert((*p).to_string(), v);
                }
            }
        }
    }
    m
}

pub fn group_json(g: &Group, select: Option<&[String]>, with_type: bool) -> Map<String, Value> {
    let mut m = Map::new();
    if with_type {
        m.insert("@odata.type".into(), json!("#microsoft.graph.group"));
    }
    match select {
        Some(sel) => {
            for p in sel {
                if let Some(v) = group_prop(g, p) {
                    m.insert(p.clone(), v);
                }
            }
        }
        None => {
            for p in GROUP_DEFAULT {
                if let Some(v) = group_prop(g, p) {
                    m.insert((*p).to_string(), v);
                }
            }
        }
    }
    m
}

pub fn domain_json(d: &Domain) -> Value {
    json!({
        "authenticationType": "Managed",
        "availabilityStatus": null,
        "id": d.id,
        "isAdminManaged": true,
        "isDefault": d.is_default,
        "isInitial": d.is_initial,
        "isRoot": true,
        "isVerified": true,
        "supportedServices": ["Email", "OfficeCommunicationsOnline"],
        "passwordValidityPeriodInDays": 2147483647,
        "passwordNotificationWindowInDays": 14,
        "state": null
    })
}

pub fn sku_json(s: &Sku, tenant_id: &Uuid) -> Value {
    json!({
        "accountName": "emulator",
        "accountId": tenant_id.to_string(),
        "appliesTo": "User",
        "capabilityStatus": "Enabled",
        "consumedUnits": s.consumed,
        "id": format!("{}_{}", tenant_id, s.sku_id),
        "skuId": s.sku_id.to_string(),
        "skuPartNumber": s.sku_part_number,
        "subscriptionIds": [name_uuid(&format!("sub:{}:{}", tenant_id, s.sku_id)).to_string()],
        "prepaidUnits": { "enabled": s.enabled, "suspended": 0, "warning": 0, "lockedOut": 0 },
        "servicePlans": []
    })
}

// ---------------------------------------------------------------------------------------
// Writes from JSON payloads
// ---------------------------------------------------------------------------------------

fn want_string(v: &Value, prop: &str, resource: &str) -> Result<String, GraphError> {
    match v {
        Value::String(s) => Ok(s.clone()),
        _ => Err(GraphError::invalid_value(prop, resource)),
    }
}

fn want_opt_string(v: &Value, prop: &str, resource: &str) -> Result<Option<String>, GraphError> {
    match v {
        Value::Null => Ok(None),
        Value::String(s) if s.is_empty() => Ok(None),
        Value::String(s) => Ok(Some(s.clone())),
        _ => Err(GraphError::invalid_value(prop, resource)),
    }
}

fn want_bool(v: &Value, prop: &str, resource: &str) -> Result<bool, GraphError> {
    v.as_bool()
        .ok_or_else(|| GraphError::invalid_value(prop, resource))
}

fn want_strings(v: &Value, prop: &str, resource: &str) -> Result<Vec<String>, GraphError> {
    match v {
        Value::Null => Ok(Vec::new()),
        Value::Array(a) => a
            .iter()
            .map(|x| {
                x.as_str()
                    .map(str::to_string)
                    .ok_or_else(|| GraphError::invalid_value(prop, resource))
            })
            .collect(),
        _ => Err(GraphError::invalid_value(prop, resource)),
    }
}

/// Apply one property of a create/update payload to a user. Read-only and unknown
/// properties are rejected like Graph does.
pub fn set_user_prop(u: &mut User, key: &str, v: &Value) -> Result<(), GraphError> {
    const R: &str = "User";
    match key {
        "accountEnabled" => u.account_enabled = want_bool(v, key, R)?,
        "displayName" => {
            let s = want_string(v, key, R)?;
            if s.trim().is_empty() || s.len() > 256 {
                return Err(GraphError::invalid_value(key, R));
            }
            u.display_name = s;
        }
        "givenName" => u.given_name = want_opt_string(v, key, R)?,
        "surname" => u.surname = want_opt_string(v, key, R)?,
        "mailNickname" => {
            let s = want_string(v, key, R)?;
            if s.is_empty()
                || s.len() > 64
                || s.chars()
                    .any(|c| c.is_whitespace() || "@()\\[]\";:<>,".contains(c))
            {
                return Err(GraphError::invalid_value(key, R));
            }
            u.mail_nickname = s;
        }
        "userPrincipalName" => u.user_principal_name = want_string(v, key, R)?,
        "mail" => u.mail = want_opt_string(v, key, R)?,
        "department" => u.department = want_opt_string(v, key, R)?,
        "jobTitle" => u.job_title = want_opt_string(v, key, R)?,
        "employeeId" => u.employee_id = want_opt_string(v, key, R)?,
        "employeeType" => u.employee_type = want_opt_string(v, key, R)?,
        "usageLocation" => {
            let s = want_opt_string(v, key, R)?;
            if let Some(s) = &s
                && (s.len() != 2 || !s.chars().all(|c| c.is_ascii_alphabetic()))
            {
                return Err(GraphError::invalid_value(key, R));
            }
            u.usage_location = s.map(|s| s.to_ascii_uppercase());
        }
        "mobilePhone" => u.mobile_phone = want_opt_string(v, key, R)?,
        "businessPhones" => u.business_phones = want_strings(v, key, R)?,
        "officeLocation" => u.office_location = want_opt_string(v, key, R)?,
        "preferredLanguage" => u.preferred_language = want_opt_string(v, key, R)?,
        "companyName" => u.company_name = want_opt_string(v, key, R)?,
        "city" => u.city = want_opt_string(v, key, R)?,
        "country" => u.country = want_opt_string(v, key, R)?,
        "otherMails" => u.other_mails = want_strings(v, key, R)?,
        "userType" => u.user_type = want_opt_string(v, key, R)?,
        "passwordProfile" => match v {
            Value::Object(o) => {
                for (k, pv) in o {
                    match k.as_str() {
                        "password" => {
                            let p = pv.as_str().unwrap_or_default();
                            if !password_is_complex(p) {
                                return Err(GraphError::bad_request(
                                    "The specified password does not comply with password complexity requirements. Please provide a different password.",
                                ));
                            }
                        }
                        "forceChangePasswordNextSignIn"
                        | "forceChangePasswordNextSignInWithMfa" => {
                            want_bool(pv, k, R)?;
                        }
                        "@odata.type" => {}
                        other => {
                            return Err(GraphError::unknown_property(other, "passwordProfile"));
                        }
                    }
                }
            }
            _ => return Err(GraphError::invalid_value(key, R)),
        },
        "passwordPolicies" => {
            want_opt_string(v, key, R)?;
        }
        "id" | "createdDateTime" | "deletedDateTime" | "assignedLicenses" => {
            return Err(GraphError::bad_request(format!(
                "Property '{key}' is read-only and cannot be set."
            )));
        }
        k if k.starts_with("@odata.") => {}
        other => return Err(GraphError::unknown_property(other, "user")),
    }
    Ok(())
}

/// Entra ID's default rule: 8–256 characters, three of four character classes.
pub fn password_is_complex(p: &str) -> bool {
    let n = p.chars().count();
    if !(8..=256).contains(&n) {
        return false;
    }
    let classes = [
        p.chars().any(|c| c.is_lowercase()),
        p.chars().any(|c| c.is_uppercase()),
        p.chars().any(|c| c.is_ascii_digit()),
        p.chars().any(|c| !c.is_alphanumeric()),
    ];
    classes.iter().filter(|b| **b).count() >= 3
}

pub fn set_group_prop(g: &mut Group, key: &str, v: &Value) -> Result<(), GraphError> {
    const R: &str = "Group";
    match key {
        "displayName" => {
            let s = want_string(v, key, R)?;
            if s.trim().is_empty() || s.len() > 256 {
                return Err(GraphError::invalid_value(key, R));
            }
            g.display_name = s;
        }
        "description" => g.description = want_opt_string(v, key, R)?,
        "mailNickname" => {
            let s = want_string(v, key, R)?;
            if s.is_empty()
                || s.len() > 64
                || s.chars()
                    .any(|c| c.is_whitespace() || "@()\\[]\";:<>,".contains(c))
            {
                return Err(GraphError::invalid_value(key, R));
            }
            g.mail_nickname = s;
        }
        "mailEnabled" => g.mail_enabled = want_bool(v, key, R)?,
        "securityEnabled" => g.security_enabled = want_bool(v, key, R)?,
        "groupTypes" => g.group_types = want_strings(v, key, R)?,
        "visibility" => g.visibility = want_opt_string(v, key, R)?,
        "uniqueName" => {
            let s = want_string(v, key, R)?;
            if s.trim().is_empty() || s.len() > 256 {
                return Err(GraphError::invalid_value(key, R));
            }
            if g.unique_name.as_ref().is_some_and(|cur| *cur != s) {
                return Err(GraphError::bad_request(
                    "Property 'uniqueName' is immutable and cannot be changed once set.",
                ));
            }
            g.unique_name = Some(s);
        }
        "id" | "createdDateTime" | "deletedDateTime" | "mail" => {
            return Err(GraphError::bad_request(format!(
                "Property '{key}' is read-only and cannot be set."
            )));
        }
        k if k.starts_with("@odata.") => {}
        other => return Err(GraphError::unknown_property(other, "group")),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_sku_ids_and_stable_unknown_ones() {
        assert_eq!(
            sku_id_for("enterprisepack").to_string(),
            "6fd2c87f-b296-42f0-b197-1e91e994b900"
        );
        assert_eq!(sku_id_for("FOO"), sku_id_for("foo"));
        assert_ne!(sku_id_for("FOO"), sku_id_for("BAR"));
    }

    #[test]
    fn password_complexity() {
        assert!(password_is_complex("Passw0rd!"));
        assert!(!password_is_complex("short1A"));
        assert!(!password_is_complex("alllowercase"));
    }

    #[test]
    fn removing_a_user_frees_seats_and_memberships() {
        let mut t = Tenant::new(
            "contoso",
            &["contoso.com".into()],
            &[("ENTERPRISEPACK".into(), 2)],
        );
        let sku = t.skus[0].sku_id;
        let u = User {
            id: Uuid::new_v4(),
            user_principal_name: "a@contoso.com".into(),
            assigned_licenses: vec![AssignedLicense {
                disabled_plans: vec![],
                sku_id: sku,
            }],
            ..Default::default()
        };
        let uid = u.id;
        t.insert_user(u);
        t.skus[0].consumed = 1;
        let g = Group {
            id: Uuid::new_v4(),
            members: [uid].into_iter().collect(),
            ..Default::default()
        };
        let gid = g.id;
        t.insert_group(g);
        let (_, groups) = t.remove_user(uid, false).expect("user exists");
        assert_eq!(groups, vec![gid]);
        assert_eq!(t.skus[0].consumed, 0);
        assert!(t.groups[&gid].members.is_empty());
        assert!(t.user_by_upn("A@contoso.com").is_none());
    }
}
