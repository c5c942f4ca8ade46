//! The emulated tenant's data: users, groups, memberships, owners, domains, subscribed SKUs,
//! soft-deleted items and the change log behind delta queries, indexed so that a
//! 100k-user / 1M-membership tenant answers each request in time proportional to the page.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use uuid::Uuid;

use super::error::GraphError;
use super::licensing;
use super::proxy;
pub use super::roles::RoleAssignment;

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
    pub street_address: Option<String>,
    pub state: Option<String>,
    pub postal_code: Option<String>,
    pub fax_number: Option<String>,
    /// Edm.DateTimeOffset, kept in Graph's `2024-01-15T00:00:00Z` form.
    pub employee_hire_date: Option<String>,
    pub employee_leave_date_time: Option<String>,
    /// `microsoft.graph.employeeOrgData`; `None` until a member is first written.
    pub employee_org_data: Option<EmployeeOrgData>,
    /// `extensionAttribute1`..`15` (index 0 is attribute 1); Graph returns all fifteen,
    /// `null` where unset (resources/onpremisesextensionattributes.md).
    pub extension_attributes: BTreeMap<u8, String>,
    /// The user's manager (`manager` navigation property, user-post-manager.md).
    pub manager: Option<Uuid>,
    /// The manager the last manager change took away, while none is set: users delta
    /// reports it as a `manager@delta` entry with `@removed`.
    pub manager_removed: Option<Uuid>,
    pub other_mails: Vec<String>,
    pub user_type: Option<String>,
    /// `Invitation` for a guest invited through `POST /invitations`, else `null`
    /// (resources/user.md, creationType).
    pub creation_type: Option<String>,
    /// `PendingAcceptance` or `Accepted` for an invited guest, else `null`
    /// (resources/user.md, externalUserState).
    pub external_user_state: Option<String>,
    pub external_user_state_change_date_time: Option<String>,
    /// `true` for a user synchronised from an on-premises directory (set only through
    /// the test door: Graph itself never creates synced objects).
    pub on_premises_sync_enabled: Option<bool>,
    pub on_premises_immutable_id: Option<String>,
    pub on_premises_sam_account_name: Option<String>,
    pub on_premises_last_sync_date_time: Option<String>,
    /// Proxy addresses the object holds besides those derived from `mail` and
    /// `userPrincipalName` (set through the test door; read-only in Graph).
    pub extra_proxy_addresses: Vec<String>,
    pub created_date_time: String,
    pub deleted_date_time: Option<String>,
    /// Licences assigned to the user directly (`assignLicense` on the user).
    pub assigned_licenses: Vec<AssignedLicense>,
    /// Licences the user inherits from groups' assignments (group-based licensing).
    pub inherited_licenses: Vec<InheritedLicense>,
    /// Change sequence number of the last modification (delta queries).
    pub seq: u64,
}

/// `microsoft.graph.employeeOrgData` (resources/employeeorgdata.md).
#[derive(Debug, Clone, Serialize, Deserialize, Default, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub struct EmployeeOrgData {
    pub cost_center: Option<String>,
    pub division: Option<String>,
}

/// One licence a user inherits from a group's `assignLicense`
/// (resources/licenseassignmentstate.md: `assignedByGroup` is the group's id).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct InheritedLicense {
    pub group: Uuid,
    pub sku_id: Uuid,
    #[serde(default)]
    pub disabled_plans: Vec<Uuid>,
    /// `Active`, or `Error` when the assignment could not be processed.
    pub active: bool,
    /// `CountViolation` (no seat left) or `Other`, when not active.
    #[serde(default)]
    pub error: Option<String>,
    #[serde(default)]
    pub last_updated: String,
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
    /// The rule of a dynamic group (groupTypes contains `DynamicMembership`).
    pub membership_rule: Option<String>,
    /// `On` or `Paused` for a dynamic group.
    pub membership_rule_processing_state: Option<String>,
    /// Set at creation only; `null` when not given (resources/group.md).
    pub is_assignable_to_role: Option<bool>,
    pub on_premises_sync_enabled: Option<bool>,
    pub on_premises_sam_account_name: Option<String>,
    pub on_premises_last_sync_date_time: Option<String>,
    /// Proxy addresses besides `SMTP:mail` (set through the test door).
    pub extra_proxy_addresses: Vec<String>,
    /// Licences assigned to the group (group-based licensing, group-assignlicense.md).
    pub assigned_licenses: Vec<AssignedLicense>,
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

    /// groupTypes contains `DynamicMembership` (resources/group.md, groupTypes).
    pub fn is_dynamic(&self) -> bool {
        self.group_types
            .iter()
            .any(|t| t.eq_ignore_ascii_case("DynamicMembership"))
    }

    /// A mail-enabled security group or a distribution list: mail-enabled and not a
    /// Microsoft 365 group (groups-overview.md), its members managed in Exchange.
    pub fn is_exchange_managed(&self) -> bool {
        self.mail_enabled && !self.is_unified()
    }

    pub fn is_role_assignable(&self) -> bool {
        self.is_assignable_to_role == Some(true)
    }

    pub fn is_synced(&self) -> bool {
        self.on_premises_sync_enabled == Some(true)
    }
}

impl User {
    pub fn is_guest(&self) -> bool {
        self.user_type
            .as_deref()
            .is_some_and(|t| t.eq_ignore_ascii_case("Guest"))
    }

    pub fn is_synced(&self) -> bool {
        self.on_premises_sync_enabled == Some(true)
    }
}

/// A verified domain of the tenant.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Domain {
    pub id: String,
    pub is_default: bool,
    pub is_initial: bool,
    /// `Managed` or `Federated` (resources/domain.md, authenticationType).
    #[serde(default = "managed")]
    pub authentication_type: String,
}

fn managed() -> String {
    "Managed".into()
}

impl Domain {
    pub fn is_federated(&self) -> bool {
        self.authentication_type.eq_ignore_ascii_case("Federated")
    }
}

/// The initial domain Microsoft gives every tenant: `<name>.onmicrosoft.com`
/// (resources/domain.md, isInitial; resources/verifieddomain.md). A tenant named
/// `contoso.onmicrosoft.com` keeps that name; `contoso.com` gives `contoso`.
pub fn initial_domain_for(tenant: &str) -> String {
    let t = tenant.trim().to_ascii_lowercase();
    if t.ends_with(".onmicrosoft.com") {
        return t;
    }
    let label: String = t
        .split('.')
        .next()
        .unwrap_or("")
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '-')
        .collect();
    let label = if label.is_empty() {
        "tenant".into()
    } else {
        label
    };
    format!("{label}.onmicrosoft.com")
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
    /// The users whose manager it was when it was deleted: they get it back on restore
    /// (when they have no other manager by then).
    #[serde(default)]
    pub reports: Vec<Uuid>,
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

/// What delta knows of one live object's changes, so that a round with `$select`
/// reports the object only when a selected property or relationship changed
/// (concepts/delta-query-overview.md: "If a change occurs to a property that is not
/// selected, the resource for which that property changed does not appear in the delta
/// response after a subsequent request").
///
/// Slots are the indexes of [`USER_PROPS`] / [`GROUP_PROPS`], followed by the
/// navigation slots ([`USER_SLOT_MANAGER`], [`GROUP_SLOT_MEMBERS`],
/// [`GROUP_SLOT_OWNERS`]).
#[derive(Debug, Clone, Default)]
pub struct DeltaMarks {
    /// Sequence number at which the object entered the live set (created, restored,
    /// or loaded from a state file): a round from an older token reports it whole.
    pub born: u64,
    /// A hash of every slot's value at the last change, to tell what the next one
    /// touched. Empty when unknown (then the next change counts for every slot).
    pub fingerprint: Vec<u32>,
    /// Slot → the sequence number of its last change, for slots changed since `born`.
    pub changed: Vec<(u16, u64)>,
    /// The object was loaded from a state file: what changed before is unknown.
    pub loaded: bool,
}

impl DeltaMarks {
    /// Whether any of `slots` changed after `base` (or the object is younger than it).
    pub fn changed_since(&self, slots: &[usize], base: u64) -> bool {
        self.born > base
            || self
                .changed
                .iter()
                .any(|(slot, s)| *s > base && slots.contains(&usize::from(*slot)))
    }

    /// Whether `slot` may ever have been set since the object entered the live set
    /// (always, for an object whose history before loading is unknown).
    pub fn ever_changed(&self, slot: usize) -> bool {
        self.loaded || self.changed.iter().any(|(s, _)| usize::from(*s) == slot)
    }

    fn mark(&mut self, slot: usize, seq: u64) {
        let Ok(slot) = u16::try_from(slot) else {
            return;
        };
        match self.changed.iter_mut().find(|(s, _)| *s == slot) {
            Some(e) => e.1 = seq,
            None => self.changed.push((slot, seq)),
        }
    }

    /// Record a change at `seq` against a new fingerprint of the object.
    fn record(&mut self, fingerprint: Vec<u32>, seq: u64) {
        for slot in 0..fingerprint.len() {
            if self.fingerprint.get(slot) != fingerprint.get(slot) {
                self.mark(slot, seq);
            }
        }
        self.fingerprint = fingerprint;
    }
}

/// The `manager` slot of a user's [`DeltaMarks`].
pub const USER_SLOT_MANAGER: usize = USER_PROPS.len();
/// The `members` slot of a group's [`DeltaMarks`].
pub const GROUP_SLOT_MEMBERS: usize = GROUP_PROPS.len();
/// The `owners` slot of a group's [`DeltaMarks`].
pub const GROUP_SLOT_OWNERS: usize = GROUP_PROPS.len() + 1;

/// The [`DeltaMarks`] slot of a user property or `manager`.
pub fn user_slot(name: &str) -> Option<usize> {
    if name == "manager" {
        return Some(USER_SLOT_MANAGER);
    }
    USER_PROPS.iter().position(|p| *p == name)
}

/// The [`DeltaMarks`] slot of a group property, `members` or `owners`.
pub fn group_slot(name: &str) -> Option<usize> {
    match name {
        "members" => Some(GROUP_SLOT_MEMBERS),
        "owners" => Some(GROUP_SLOT_OWNERS),
        _ => GROUP_PROPS.iter().position(|p| *p == name),
    }
}

/// A stable 32-bit hash of a JSON value (std's `DefaultHasher::new` has fixed keys).
fn value_hash(v: &Value) -> u32 {
    use std::hash::{DefaultHasher, Hash, Hasher};
    fn feed(v: &Value, h: &mut DefaultHasher) {
        match v {
            Value::Null => 0u8.hash(h),
            Value::Bool(b) => (1u8, b).hash(h),
            Value::Number(n) => (2u8, n.to_string()).hash(h),
            Value::String(s) => (3u8, s).hash(h),
            Value::Array(a) => {
                (4u8, a.len()).hash(h);
                for x in a {
                    feed(x, h);
                }
            }
            Value::Object(m) => {
                (5u8, m.len()).hash(h);
                for (k, x) in m {
                    k.hash(h);
                    feed(x, h);
                }
            }
        }
    }
    let mut h = DefaultHasher::new();
    feed(v, &mut h);
    let x = h.finish();
    (x ^ (x >> 32)) as u32
}

/// Every slot of a user hashed: its properties, then its manager.
fn user_fingerprint(u: &User) -> Vec<u32> {
    let mut fp: Vec<u32> = USER_PROPS
        .iter()
        .map(|p| user_prop(u, p).map_or(0, |v| value_hash(&v)))
        .collect();
    fp.push(value_hash(&json!(u.manager.map(|m| m.to_string()))));
    fp
}

/// Every slot of a group hashed: its properties, `members` (tracked from member
/// events instead, so always 0 here: hashing a large group on every change would cost
/// its size) and its owners.
fn group_fingerprint(g: &Group) -> Vec<u32> {
    let mut fp: Vec<u32> = GROUP_PROPS
        .iter()
        .map(|p| group_prop(g, p).map_or(0, |v| value_hash(&v)))
        .collect();
    fp.push(0);
    let owners: Vec<String> = g.owners.iter().map(Uuid::to_string).collect();
    fp.push(value_hash(&json!(owners)));
    fp
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
            "f245ecc8-75af-4f8e-b61f-27d8114de5f3",
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
    /// Directory role assignments by id (`/roleManagement/directory/roleAssignments`).
    #[serde(default)]
    pub role_assignments: BTreeMap<String, RoleAssignment>,
    /// Lower-cased UPN → id.
    #[serde(skip)]
    pub upn_index: HashMap<String, Uuid>,
    /// Lower-cased proxy address (`smtp:a@b`) → the live user or group holding it.
    #[serde(skip)]
    pub proxy_index: HashMap<String, Uuid>,
    /// Live groups with assigned licences (group-based licensing).
    #[serde(skip)]
    pub licensed_groups: BTreeSet<Uuid>,
    /// Live role-assignable groups.
    #[serde(skip)]
    pub role_groups: BTreeSet<Uuid>,
    /// Manager → its live direct reports (the reverse of `User::manager`).
    #[serde(skip)]
    pub reports_index: HashMap<Uuid, BTreeSet<Uuid>>,
    /// seq → object, for changed (present) objects; rebuilt from the objects' `seq`.
    #[serde(skip)]
    pub user_changes: BTreeMap<u64, Uuid>,
    #[serde(skip)]
    pub group_changes: BTreeMap<u64, Uuid>,
    /// What changed on each live user / group (delta with `$select`).
    #[serde(skip)]
    pub user_marks: HashMap<Uuid, DeltaMarks>,
    #[serde(skip)]
    pub group_marks: HashMap<Uuid, DeltaMarks>,
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
            role_assignments: BTreeMap::new(),
            upn_index: HashMap::new(),
            proxy_index: HashMap::new(),
            licensed_groups: BTreeSet::new(),
            role_groups: BTreeSet::new(),
            reports_index: HashMap::new(),
            user_changes: BTreeMap::new(),
            group_changes: BTreeMap::new(),
            user_marks: HashMap::new(),
            group_marks: HashMap::new(),
        };
        t.merge_config(domains, skus);
        t
    }

    /// Add configured domains and SKUs that the tenant does not have yet. The tenant
    /// always has its initial `<name>.onmicrosoft.com` domain (isInitial, verified,
    /// Managed: resources/domain.md); the first configured domain is the default one,
    /// the initial domain when none is configured.
    pub fn merge_config(&mut self, domains: &[String], skus: &[(String, u32)]) {
        let initial = initial_domain_for(&self.tenant_name);
        for d in domains {
            let d = d.trim().to_ascii_lowercase();
            if d.is_empty() || self.domains.iter().any(|x| x.id == d) {
                continue;
            }
            let first = !self.domains.iter().any(|x| x.is_default);
            self.domains.push(Domain {
                id: d,
                is_default: first,
                is_initial: false,
                authentication_type: managed(),
            });
        }
        if !self.domains.iter().any(|x| x.id == initial) {
            self.domains.push(Domain {
                id: initial.clone(),
                is_default: false,
                is_initial: true,
                authentication_type: managed(),
            });
        }
        // One initial domain (state files of older versions marked the first configured
        // domain initial) and one default.
        for d in self.domains.iter_mut() {
            d.is_initial = d.id == initial;
        }
        if !self.domains.iter().any(|x| x.is_default)
            && let Some(d) = self.domains.iter_mut().find(|d| d.id == initial)
        {
            d.is_default = true;
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
        self.rebuild_proxy_index();
        self.licensed_groups = self
            .groups
            .values()
            .filter(|g| !g.assigned_licenses.is_empty())
            .map(|g| g.id)
            .collect();
        self.role_groups = self
            .groups
            .values()
            .filter(|g| g.is_role_assignable())
            .map(|g| g.id)
            .collect();
        self.upn_index.clear();
        self.reports_index.clear();
        // A manager link to a user that is not live any more (an edited file) is dropped.
        let live: BTreeSet<Uuid> = self.users.keys().copied().collect();
        for u in self.users.values_mut() {
            if let Some(m) = u.manager {
                if live.contains(&m) && m != u.id {
                    self.reports_index.entry(m).or_default().insert(u.id);
                } else {
                    u.manager = None;
                }
            }
        }
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
        // What changed before the state was saved is not kept: a round from an older
        // token reports these objects whole, as it would have before.
        self.user_marks = self
            .users
            .values()
            .map(|u| {
                (
                    u.id,
                    DeltaMarks {
                        born: u.seq,
                        fingerprint: user_fingerprint(u),
                        changed: Vec::new(),
                        loaded: true,
                    },
                )
            })
            .collect();
        self.group_marks = self
            .groups
            .values()
            .map(|g| {
                (
                    g.id,
                    DeltaMarks {
                        born: g.seq,
                        fingerprint: group_fingerprint(g),
                        changed: Vec::new(),
                        loaded: true,
                    },
                )
            })
            .collect();
        // Recount consumed seats from the assignments (the file might have been edited).
        self.recount_seats();
    }

    pub fn next_seq(&mut self) -> u64 {
        self.seq += 1;
        self.seq
    }

    /// Record a change of live user `id` (after it was written): it moves to the head
    /// of the change index, and the slots whose value differs from the last change's
    /// are marked for `$select`ed delta rounds.
    pub fn touch_user(&mut self, id: Uuid) {
        let s = self.next_seq();
        if let Some(u) = self.users.get_mut(&id) {
            self.user_changes.remove(&u.seq);
            u.seq = s;
            self.user_changes.insert(s, id);
            let fp = user_fingerprint(u);
            self.user_marks.entry(id).or_default().record(fp, s);
        }
    }

    /// [`Tenant::touch_user`] for a group.
    pub fn touch_group(&mut self, id: Uuid) {
        let s = self.next_seq();
        if let Some(g) = self.groups.get_mut(&id) {
            self.group_changes.remove(&g.seq);
            g.seq = s;
            self.group_changes.insert(s, id);
            let fp = group_fingerprint(g);
            self.group_marks.entry(id).or_default().record(fp, s);
        }
    }

    /// A member was added to (or removed from) `group`: logged for `members@delta`
    /// and marked as a change of the group's `members` only (its properties are not
    /// re-hashed, so a large group's bulk load stays linear).
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
        let s = self.next_seq();
        if let Some(g) = self.groups.get_mut(&group) {
            self.group_changes.remove(&g.seq);
            g.seq = s;
            self.group_changes.insert(s, group);
            self.group_marks
                .entry(group)
                .or_default()
                .mark(GROUP_SLOT_MEMBERS, s);
        }
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
        self.index_proxies(u.id, &[], &super::proxy::user_proxies(&u));
        self.upn_index
            .insert(u.user_principal_name.to_lowercase(), u.id);
        self.user_changes.insert(s, u.id);
        if let Some(m) = u.manager {
            self.reports_index.entry(m).or_default().insert(u.id);
        }
        self.user_marks.insert(
            u.id,
            DeltaMarks {
                born: s,
                fingerprint: user_fingerprint(&u),
                changed: Vec::new(),
                loaded: false,
            },
        );
        self.users.insert(u.id, u);
    }

    /// Set or clear the manager of live user `id` (the caller checked that `manager`
    /// is another live user); a change shows in users delta.
    pub fn set_manager(&mut self, id: Uuid, manager: Option<Uuid>) {
        let Some(u) = self.users.get_mut(&id) else {
            return;
        };
        let old = u.manager;
        if old == manager {
            return;
        }
        u.manager = manager;
        u.manager_removed = if manager.is_none() { old } else { None };
        if let Some(o) = old
            && let Some(r) = self.reports_index.get_mut(&o)
        {
            r.remove(&id);
            if r.is_empty() {
                self.reports_index.remove(&o);
            }
        }
        if let Some(m) = manager {
            self.reports_index.entry(m).or_default().insert(id);
        }
        self.touch_user(id);
    }

    /// The live direct reports of `id`, in id order.
    pub fn reports_of(&self, id: &Uuid) -> Vec<Uuid> {
        self.reports_index
            .get(id)
            .map(|r| r.iter().copied().collect())
            .unwrap_or_default()
    }

    /// Clear the manager of every direct report of `id` (which is leaving the live
    /// set); returns those reports.
    pub fn detach_reports(&mut self, id: Uuid) -> Vec<Uuid> {
        let reports = self.reports_of(&id);
        for r in &reports {
            self.set_manager(*r, None);
        }
        reports
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
        self.index_proxies(g.id, &[], &super::proxy::group_proxies(&g));
        if g.is_role_assignable() {
            self.role_groups.insert(g.id);
        }
        if !g.assigned_licenses.is_empty() {
            self.licensed_groups.insert(g.id);
        }
        self.group_changes.insert(s, g.id);
        self.group_marks.insert(
            g.id,
            DeltaMarks {
                born: s,
                fingerprint: group_fingerprint(&g),
                changed: Vec::new(),
                loaded: false,
            },
        );
        self.groups.insert(g.id, g);
    }

    /// Remove a user from the live set (soft or permanent), dropping its memberships,
    /// ownerships and seats. Returns the groups it was a member of.
    pub fn remove_user(&mut self, id: Uuid, permanent: bool) -> Option<(User, Vec<Uuid>)> {
        let mut u = self.users.remove(&id)?;
        if let Some(m) = u.manager
            && let Some(r) = self.reports_index.get_mut(&m)
        {
            r.remove(&id);
            if r.is_empty() {
                self.reports_index.remove(&m);
            }
        }
        self.upn_index.remove(&u.user_principal_name.to_lowercase());
        self.index_proxies(id, &super::proxy::user_proxies(&u), &[]);
        self.user_changes.remove(&u.seq);
        self.user_marks.remove(&id);
        for sku in super::licensing::held_skus(&u) {
            if let Some(s) = self.skus.iter_mut().find(|s| s.sku_id == sku) {
                s.consumed = s.consumed.saturating_sub(1);
            }
        }
        // Inherited licences go with the memberships (and come back with them on restore).
        u.inherited_licenses.clear();
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
        self.group_marks.remove(&id);
        self.index_proxies(id, &super::proxy::group_proxies(&g), &[]);
        if permanent {
            self.role_assignments.retain(|_, a| a.principal_id != id);
        }
        self.role_groups.remove(&id);
        self.licensed_groups.remove(&id);
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

    /// Whether `domain` is a verified domain whose authentication is federated.
    pub fn is_federated_domain(&self, domain: &str) -> bool {
        self.domains
            .iter()
            .any(|d| d.id.eq_ignore_ascii_case(domain) && d.is_federated())
    }

    /// The tenant's initial `<name>.onmicrosoft.com` domain.
    pub fn initial_domain(&self) -> String {
        self.domains
            .iter()
            .find(|d| d.is_initial)
            .map(|d| d.id.clone())
            .unwrap_or_else(|| initial_domain_for(&self.tenant_name))
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
    "assignedPlans",
    "businessPhones",
    "city",
    "companyName",
    "country",
    "createdDateTime",
    "creationType",
    "deletedDateTime",
    "department",
    "displayName",
    "employeeHireDate",
    "employeeId",
    "employeeLeaveDateTime",
    "employeeOrgData",
    "employeeType",
    "externalUserState",
    "externalUserStateChangeDateTime",
    "faxNumber",
    "givenName",
    "jobTitle",
    "licenseAssignmentStates",
    "mail",
    "mailNickname",
    "mobilePhone",
    "officeLocation",
    "onPremisesExtensionAttributes",
    "onPremisesImmutableId",
    "onPremisesLastSyncDateTime",
    "onPremisesSamAccountName",
    "onPremisesSyncEnabled",
    "otherMails",
    "postalCode",
    "preferredLanguage",
    "proxyAddresses",
    "state",
    "streetAddress",
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
    "assignedLicenses",
    "createdDateTime",
    "deletedDateTime",
    "description",
    "displayName",
    "groupTypes",
    "isAssignableToRole",
    "mail",
    "mailEnabled",
    "mailNickname",
    "membershipRule",
    "membershipRuleProcessingState",
    "onPremisesLastSyncDateTime",
    "onPremisesSamAccountName",
    "onPremisesSyncEnabled",
    "proxyAddresses",
    "securityEnabled",
    "uniqueName",
    "visibility",
];

/// Group properties Graph returns only on `$select` (resources/group.md:
/// assignedLicenses); the default property set is every other emulated property.
pub const GROUP_SELECT_ONLY: &[&str] = &["assignedLicenses"];

pub fn user_prop(u: &User, name: &str) -> Option<Value> {
    Some(match name {
        "id" => json!(u.id.to_string()),
        "accountEnabled" => json!(u.account_enabled),
        "assignedLicenses" => licensing::assigned_licenses_json(u),
        "assignedPlans" => licensing::assigned_plans_json(u),
        "businessPhones" => json!(u.business_phones),
        "city" => opt(&u.city),
        "companyName" => opt(&u.company_name),
        "country" => opt(&u.country),
        "createdDateTime" => json!(u.created_date_time),
        "creationType" => opt(&u.creation_type),
        "deletedDateTime" => opt(&u.deleted_date_time),
        "department" => opt(&u.department),
        "displayName" => json!(u.display_name),
        "employeeHireDate" => opt(&u.employee_hire_date),
        "employeeId" => opt(&u.employee_id),
        "employeeLeaveDateTime" => opt(&u.employee_leave_date_time),
        "employeeOrgData" => match &u.employee_org_data {
            Some(o) => json!({ "division": o.division, "costCenter": o.cost_center }),
            None => Value::Null,
        },
        "employeeType" => opt(&u.employee_type),
        "externalUserState" => opt(&u.external_user_state),
        "externalUserStateChangeDateTime" => opt(&u.external_user_state_change_date_time),
        "faxNumber" => opt(&u.fax_number),
        "givenName" => opt(&u.given_name),
        "jobTitle" => opt(&u.job_title),
        "licenseAssignmentStates" => licensing::license_states_json(u),
        "mail" => opt(&u.mail),
        "mailNickname" => json!(u.mail_nickname),
        "mobilePhone" => opt(&u.mobile_phone),
        "officeLocation" => opt(&u.office_location),
        "onPremisesExtensionAttributes" => extension_attributes_json(u),
        "onPremisesImmutableId" => opt(&u.on_premises_immutable_id),
        "onPremisesLastSyncDateTime" => opt(&u.on_premises_last_sync_date_time),
        "onPremisesSamAccountName" => opt(&u.on_premises_sam_account_name),
        "onPremisesSyncEnabled" => json!(u.on_premises_sync_enabled),
        "otherMails" => json!(u.other_mails),
        "postalCode" => opt(&u.postal_code),
        "preferredLanguage" => opt(&u.preferred_language),
        "proxyAddresses" => json!(proxy::user_proxies(u)),
        "state" => opt(&u.state),
        "streetAddress" => opt(&u.street_address),
        "surname" => opt(&u.surname),
        "usageLocation" => opt(&u.usage_location),
        "userPrincipalName" => json!(u.user_principal_name),
        "userType" => opt(&u.user_type),
        "passwordProfile" => Value::Null,
        _ => return None,
    })
}

/// The fifteen extension attributes, `null` where unset, in Graph's order.
fn extension_attributes_json(u: &User) -> Value {
    let mut m = Map::new();
    for i in 1..=EXTENSION_ATTRIBUTES {
        m.insert(
            format!("extensionAttribute{i}"),
            u.extension_attributes
                .get(&i)
                .map_or(Value::Null, |s| Value::String(s.clone())),
        );
    }
    Value::Object(m)
}

/// The number of `extensionAttributeN` members of `onPremisesExtensionAttributes`.
pub const EXTENSION_ATTRIBUTES: u8 = 15;

pub fn group_prop(g: &Group, name: &str) -> Option<Value> {
    Some(match name {
        "id" => json!(g.id.to_string()),
        "assignedLicenses" => serde_json::to_value(&g.assigned_licenses).unwrap_or(Value::Null),
        "createdDateTime" => json!(g.created_date_time),
        "deletedDateTime" => opt(&g.deleted_date_time),
        "description" => opt(&g.description),
        "displayName" => json!(g.display_name),
        "groupTypes" => json!(g.group_types),
        "isAssignableToRole" => json!(g.is_assignable_to_role),
        "mail" => opt(&g.mail),
        "mailEnabled" => json!(g.mail_enabled),
        "mailNickname" => json!(g.mail_nickname),
        "membershipRule" => opt(&g.membership_rule),
        "membershipRuleProcessingState" => opt(&g.membership_rule_processing_state),
        "onPremisesLastSyncDateTime" => opt(&g.on_premises_last_sync_date_time),
        "onPremisesSamAccountName" => opt(&g.on_premises_sam_account_name),
        "onPremisesSyncEnabled" => json!(g.on_premises_sync_enabled),
        "proxyAddresses" => json!(proxy::group_proxies(g)),
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
            for p in GROUP_PROPS
                .iter()
                .filter(|p| !GROUP_SELECT_ONLY.contains(p))
            {
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
        "authenticationType": d.authentication_type,
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

/// An optional string no longer than `max` characters (resources/user.md and
/// resources/group.md give each property's maximum length; longer values answer Graph's
/// "Invalid value specified for property '…' of resource '…'.").
fn want_limited(
    v: &Value,
    prop: &str,
    resource: &str,
    max: usize,
) -> Result<Option<String>, GraphError> {
    let s = want_opt_string(v, prop, resource)?;
    if s.as_ref().is_some_and(|s| s.chars().count() > max) {
        return Err(GraphError::invalid_value(prop, resource));
    }
    Ok(s)
}

/// A mail nickname: 1–64 ASCII characters without ` @ () \ [] " ; : <> ,` or spaces
/// (resources/user.md, resources/group.md: mailNickname).
fn want_nickname(v: &Value, prop: &str, resource: &str) -> Result<String, GraphError> {
    let s = want_string(v, prop, resource)?;
    if s.is_empty()
        || s.chars().count() > 64
        || s.chars()
            .any(|c| !c.is_ascii() || c.is_whitespace() || "@()\\[]\";:<>,".contains(c))
    {
        return Err(GraphError::invalid_value(prop, resource));
    }
    Ok(s)
}

/// A display name: required, never cleared, at most 256 characters.
fn want_display_name(v: &Value, prop: &str, resource: &str) -> Result<String, GraphError> {
    let s = want_string(v, prop, resource)?;
    if s.trim().is_empty() || s.chars().count() > 256 {
        return Err(GraphError::invalid_value(prop, resource));
    }
    Ok(s)
}

/// An Edm.DateTimeOffset (RFC 3339 with an offset), kept in UTC in the form Graph
/// returns it: `2024-01-15T00:00:00Z`. `null` clears it.
fn want_date_time(v: &Value, prop: &str, resource: &str) -> Result<Option<String>, GraphError> {
    use time::format_description::well_known::Rfc3339;
    let Some(s) = want_opt_string(v, prop, resource)? else {
        return Ok(None);
    };
    let t = time::OffsetDateTime::parse(&s, &Rfc3339).map_err(|_| {
        GraphError::odata_bad_request(format!(
            "Cannot convert the literal '{s}' to the expected type 'Edm.DateTimeOffset'."
        ))
    })?;
    let t = t.to_offset(time::UtcOffset::UTC);
    Ok(Some(format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )))
}

/// PATCH of `employeeOrgData`: the members named are written, the others kept (OData
/// PATCH semantics for complex properties); `null` clears the whole object.
fn set_employee_org_data(u: &mut User, v: &Value) -> Result<(), GraphError> {
    const R: &str = "employeeOrgData";
    let o = match v {
        Value::Null => {
            u.employee_org_data = None;
            return Ok(());
        }
        Value::Object(o) => o,
        _ => return Err(GraphError::invalid_value("employeeOrgData", "User")),
    };
    let mut data = u.employee_org_data.clone().unwrap_or_default();
    for (k, mv) in o {
        match k.as_str() {
            "costCenter" => data.cost_center = want_opt_string(mv, k, R)?,
            "division" => data.division = want_opt_string(mv, k, R)?,
            k if k.starts_with("@odata.") => {}
            other => return Err(GraphError::unknown_property(other, R)),
        }
    }
    u.employee_org_data = Some(data);
    Ok(())
}

/// PATCH of `onPremisesExtensionAttributes`: the attributes named are written (`null`
/// clears one), the others kept, as the documented example does
/// (extensibility-overview.md: `extensionAttribute1` set and `extensionAttribute13`
/// cleared in one PATCH); `null` for the whole property clears all fifteen. At most
/// 1024 characters each (the on-premises attributes' `rangeUpper`).
fn set_extension_attributes(u: &mut User, v: &Value) -> Result<(), GraphError> {
    const R: &str = "onPremisesExtensionAttributes";
    let o = match v {
        Value::Null => {
            u.extension_attributes.clear();
            return Ok(());
        }
        Value::Object(o) => o,
        _ => return Err(GraphError::invalid_value(R, "User")),
    };
    let mut attrs = u.extension_attributes.clone();
    for (k, mv) in o {
        if k.starts_with("@odata.") {
            continue;
        }
        let n = k
            .strip_prefix("extensionAttribute")
            .filter(|n| !n.starts_with('0'))
            .and_then(|n| n.parse::<u8>().ok())
            .filter(|n| (1..=EXTENSION_ATTRIBUTES).contains(n))
            .ok_or_else(|| GraphError::unknown_property(k, R))?;
        match want_limited(mv, k, R, 1024)? {
            Some(s) => attrs.insert(n, s),
            None => attrs.remove(&n),
        };
    }
    u.extension_attributes = attrs;
    Ok(())
}

fn read_only(key: &str) -> GraphError {
    GraphError::bad_request(format!("Property '{key}' is read-only and cannot be set."))
}

/// Apply one property of a create/update payload to a user. Read-only and unknown
/// properties are rejected like Graph does; lengths are resources/user.md's maxima.
pub fn set_user_prop(u: &mut User, key: &str, v: &Value) -> Result<(), GraphError> {
    const R: &str = "User";
    match key {
        "accountEnabled" => u.account_enabled = want_bool(v, key, R)?,
        "displayName" => u.display_name = want_display_name(v, key, R)?,
        "givenName" => u.given_name = want_limited(v, key, R, 64)?,
        "surname" => u.surname = want_limited(v, key, R, 64)?,
        "mailNickname" => u.mail_nickname = want_nickname(v, key, R)?,
        "userPrincipalName" => u.user_principal_name = want_string(v, key, R)?,
        "mail" => u.mail = want_opt_string(v, key, R)?,
        "department" => u.department = want_limited(v, key, R, 64)?,
        "jobTitle" => u.job_title = want_limited(v, key, R, 128)?,
        "employeeId" => u.employee_id = want_limited(v, key, R, 16)?,
        "employeeType" => u.employee_type = want_opt_string(v, key, R)?,
        "usageLocation" => {
            // "A two-letter country code (ISO standard 3166) … Not nullable."
            let s = want_opt_string(v, key, R)?;
            match &s {
                Some(s) if s.len() != 2 || !s.chars().all(|c| c.is_ascii_alphabetic()) => {
                    return Err(GraphError::invalid_value(key, R));
                }
                None if u.usage_location.is_some() => {
                    return Err(GraphError::invalid_value(key, R));
                }
                _ => {}
            }
            u.usage_location = s.map(|s| s.to_ascii_uppercase());
        }
        "mobilePhone" => u.mobile_phone = want_limited(v, key, R, 64)?,
        "businessPhones" => {
            // "Although it's a string collection, only one number can be set."
            let phones = want_strings(v, key, R)?;
            if phones.len() > 1 || phones.iter().any(|p| p.chars().count() > 64) {
                return Err(GraphError::invalid_value(key, R));
            }
            u.business_phones = phones;
        }
        "officeLocation" => u.office_location = want_opt_string(v, key, R)?,
        "streetAddress" => u.street_address = want_limited(v, key, R, 1024)?,
        "state" => u.state = want_limited(v, key, R, 128)?,
        "postalCode" => u.postal_code = want_limited(v, key, R, 40)?,
        "faxNumber" => u.fax_number = want_opt_string(v, key, R)?,
        "employeeHireDate" => u.employee_hire_date = want_date_time(v, key, R)?,
        "employeeLeaveDateTime" => u.employee_leave_date_time = want_date_time(v, key, R)?,
        "employeeOrgData" => set_employee_org_data(u, v)?,
        "onPremisesExtensionAttributes" => set_extension_attributes(u, v)?,
        "preferredLanguage" => u.preferred_language = want_opt_string(v, key, R)?,
        "companyName" => u.company_name = want_limited(v, key, R, 64)?,
        "city" => u.city = want_limited(v, key, R, 128)?,
        "country" => u.country = want_limited(v, key, R, 128)?,
        "otherMails" => u.other_mails = want_strings(v, key, R)?,
        "userType" => u.user_type = want_opt_string(v, key, R)?,
        "onPremisesImmutableId" => {
            // "The $ and _ characters can't be used when specifying this property."
            let s = want_opt_string(v, key, R)?;
            if s.as_ref().is_some_and(|s| s.contains(['$', '_'])) {
                return Err(GraphError::invalid_value(key, R));
            }
            u.on_premises_immutable_id = s;
        }
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
        "id"
        | "createdDateTime"
        | "deletedDateTime"
        | "assignedLicenses"
        | "assignedPlans"
        | "licenseAssignmentStates"
        | "creationType"
        | "externalUserState"
        | "externalUserStateChangeDateTime"
        | "onPremisesSyncEnabled"
        | "onPremisesSamAccountName"
        | "onPremisesLastSyncDateTime"
        | "proxyAddresses" => return Err(read_only(key)),
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

/// Apply one property of a create/update payload to a group (resources/group.md).
pub fn set_group_prop(g: &mut Group, key: &str, v: &Value) -> Result<(), GraphError> {
    const R: &str = "Group";
    match key {
        "displayName" => g.display_name = want_display_name(v, key, R)?,
        "description" => g.description = want_opt_string(v, key, R)?,
        "mailNickname" => g.mail_nickname = want_nickname(v, key, R)?,
        "mailEnabled" => g.mail_enabled = want_bool(v, key, R)?,
        "securityEnabled" => g.security_enabled = want_bool(v, key, R)?,
        "groupTypes" => g.group_types = want_strings(v, key, R)?,
        "visibility" => g.visibility = want_opt_string(v, key, R)?,
        "membershipRule" => g.membership_rule = want_opt_string(v, key, R)?,
        "membershipRuleProcessingState" => {
            // "Possible values are On or Paused."
            let s = want_opt_string(v, key, R)?;
            if s.as_deref()
                .is_some_and(|s| !s.eq_ignore_ascii_case("On") && !s.eq_ignore_ascii_case("Paused"))
            {
                return Err(GraphError::invalid_value(key, R));
            }
            g.membership_rule_processing_state = s.map(|s| {
                if s.eq_ignore_ascii_case("On") {
                    "On".into()
                } else {
                    "Paused".into()
                }
            });
        }
        "isAssignableToRole" => {
            g.is_assignable_to_role = match v {
                Value::Null => None,
                other => Some(want_bool(other, key, R)?),
            }
        }
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
        "id"
        | "createdDateTime"
        | "deletedDateTime"
        | "mail"
        | "assignedLicenses"
        | "proxyAddresses"
        | "onPremisesSyncEnabled"
        | "onPremisesSamAccountName"
        | "onPremisesLastSyncDateTime" => return Err(read_only(key)),
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
    fn state_files_without_managers_or_the_newer_properties_still_load() {
        let mut t = Tenant::new("contoso", &["contoso.com".into()], &[]);
        let boss = User {
            id: Uuid::new_v4(),
            user_principal_name: "boss@contoso.com".into(),
            ..Default::default()
        };
        let ann = User {
            id: Uuid::new_v4(),
            user_principal_name: "ann@contoso.com".into(),
            manager: Some(boss.id),
            ..Default::default()
        };
        let (bid, aid) = (boss.id, ann.id);
        t.insert_user(boss);
        t.insert_user(ann);
        let mut v: Value =
            serde_json::from_slice(&t.to_json_bytes().expect("json")).expect("parse");
        // The file a version without managers wrote: same keys minus the new ones.
        let saved = v.clone();
        for u in v["users"].as_object_mut().expect("users").values_mut() {
            let u = u.as_object_mut().expect("user");
            for k in [
                "manager",
                "managerRemoved",
                "extensionAttributes",
                "employeeOrgData",
                "employeeHireDate",
                "streetAddress",
            ] {
                assert!(u.remove(k).is_some(), "{k} is written");
            }
        }
        let old = Tenant::from_json_bytes(&serde_json::to_vec(&v).expect("bytes")).expect("loads");
        assert_eq!(old.users[&aid].manager, None);
        assert!(old.reports_of(&bid).is_empty());
        // And the current file keeps the manager and rebuilds the reverse index.
        let cur =
            Tenant::from_json_bytes(&serde_json::to_vec(&saved).expect("bytes")).expect("loads");
        assert_eq!(cur.users[&aid].manager, Some(bid));
        assert_eq!(cur.reports_of(&bid), vec![aid]);
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
