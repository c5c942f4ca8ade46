//! Incremental reads: a compact snapshot of the tenant as last read, with Graph delta
//! links for users and groups, kept per app under `.roster/cache`, so that a drift check
//! after a few out-of-band changes costs a few requests instead of a full re-read.
//!
//! How a read goes:
//! - With a usable snapshot: the stored users and groups delta links are followed
//!   (with domains and SKUs, which are always read whole, all at once), the changes
//!   are merged into the snapshot, member lists that the scope now wants but the
//!   snapshot lacks are listed, and a new snapshot is written.
//! - Otherwise (no snapshot; unreadable, corrupt or from another roster format; for
//!   another app, service or tenant; older than [`MAX_AGE_SECS`]; its delta token
//!   refused, e.g. `410 syncStateNotFound`): delta links for "now" are fetched first
//!   (`$deltatoken=latest`, so no change made during the read is lost), then the tenant
//!   is read in full and the snapshot written.
//!
//! A full and an incremental read of the same tenant give equal [`ObservedApp`]s (tests
//! check it), so plans and saved-plan fingerprints do not depend on the path taken.
//! The snapshot file is safe to delete; `--no-cache` skips it.
//!
//! File format: one JSON header line (format, identity, delta links, times, the
//! SHA-256 and length of the body), then the body: users as arrays with attributes in
//! a fixed order, groups with members as indexes into the id table (users, then
//! groups, then other directory objects), so a million memberships take a few MB.
//! Written to a temporary file and renamed, so a crash never leaves half a snapshot.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};

use anyhow::{Result, anyhow, bail};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::http::{DeltaError as RoundError, Graph};
use super::read::{
    self, GROUP_SELECT, RawTenant, USER_ATTRIBUTES, USER_SELECT, license_ids_of, map_group_row,
    map_user_row, wants_members,
};
use super::rows::{GroupRow, GroupRows, NoRows, Prop, UserRow, UserRows};
use crate::apps::ReadScope;
use crate::apps::kit::snapshot::{self, FullRead, Header, Objects, ObjectsRef, Unusable, unusable};
use crate::observed::{GroupRestriction, ObservedApp, ObservedGroup, ObservedUser, Protection};

/// The snapshot file format; a file of another format is ignored (full read).
pub const FORMAT: u32 = 4;

/// A snapshot whose last full read is older than this is not used: Graph's delta
/// tokens for directory objects last about a week, and a periodic full read bounds
/// how long any divergence could live.
pub const MAX_AGE_SECS: i64 = 7 * 24 * 3600;

/// An incremental read rewrites the snapshot only when it merged at least this many
/// changes, listed members the snapshot lacked, or the file is older than
/// [`REWRITE_AFTER_SECS`]: otherwise the next read replays the same few changes from
/// the same delta links (merging is idempotent), which costs less than rewriting a
/// snapshot of a large tenant on every drift check.
pub const REWRITE_AFTER_CHANGES: usize = 1_000;
/// See [`REWRITE_AFTER_CHANGES`].
pub const REWRITE_AFTER_SECS: i64 = 3_600;

/// Whether an incremental read should write its snapshot back.
pub fn should_rewrite(kind: &ReadKind, written_at: i64, now: i64) -> bool {
    match kind {
        ReadKind::Full(_) => true,
        ReadKind::Incremental {
            users,
            groups,
            listed,
        } => {
            users + groups >= REWRITE_AFTER_CHANGES
                || *listed > 0
                || now - written_at >= REWRITE_AFTER_SECS
        }
    }
}

/// What a snapshot is valid for; any difference means a full read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Identity {
    pub app: String,
    /// The service: the Graph root, or `sandbox:PATH` for an embedded tenant (whose
    /// port changes every run).
    pub service: String,
    /// The tenant id (from the token), so a snapshot of another tenant is never used.
    pub directory_id: Option<String>,
    /// What was selected; a roster that reads more properties reads in full once.
    pub user_select: String,
    pub group_select: String,
}

impl Identity {
    pub fn new(app: &str, service: &str, directory_id: Option<String>) -> Self {
        Identity {
            app: app.to_string(),
            service: service.to_string(),
            directory_id,
            user_select: USER_SELECT.to_string(),
            group_select: GROUP_SELECT.to_string(),
        }
    }
}

impl snapshot::Identity for Identity {
    fn app(&self) -> &str {
        &self.app
    }

    fn check(&self, theirs: &Self) -> Result<(), Unusable> {
        if theirs.service != self.service {
            return Err(unusable(format!(
                "written for another service ({})",
                theirs.service
            )));
        }
        snapshot::same_directory("tenant", &self.directory_id, &theirs.directory_id)?;
        if theirs.user_select != self.user_select || theirs.group_select != self.group_select {
            return Err(unusable("written by a roster that reads other properties"));
        }
        Ok(())
    }
}

/// Where the next read starts: the delta links, relative to the version root
/// (`/users/delta?$deltatoken=…`).
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Watermark {
    users_delta: String,
    groups_delta: String,
}

/// The body of the file.
#[derive(Debug, Serialize, Deserialize)]
struct Body {
    users: Vec<DiskUser>,
    groups: Vec<DiskGroup>,
    /// Member ids that are neither a known user nor a known group.
    extra_ids: Vec<String>,
}

/// One user on disk: id, login, enabled, attributes in [`USER_ATTRIBUTES`] order,
/// lower-cased skuIds of direct licences, of licences held only through groups, guest,
/// directory-synced, the mailNickname (the anchor). (Role protections are read afresh on
/// every read.)
#[derive(Debug, Serialize, Deserialize)]
struct DiskUser(
    String,
    String,
    bool,
    Vec<Option<String>>,
    Vec<String>,
    Vec<String>,
    bool,
    bool,
    Option<String>,
);

impl snapshot::DiskUser for DiskUser {
    fn id(&self) -> &str {
        &self.0
    }

    fn from_observed(u: &ObservedUser) -> Self {
        let attributes = snapshot::encode_attributes(USER_ATTRIBUTES, &u.attributes);
        let licenses = u.licenses.iter().cloned().collect();
        let inherited = u.inherited_licenses.iter().cloned().collect();
        let synced = u.protections.contains(&Protection::SyncedFromOnPremises);
        DiskUser(
            u.id.clone(),
            u.login.clone(),
            u.enabled,
            attributes,
            licenses,
            inherited,
            u.guest,
            synced,
            u.username.clone(),
        )
    }

    fn to_observed(&self) -> Result<ObservedUser, Unusable> {
        let DiskUser(id, login, enabled, attrs, licenses, inherited, guest, synced, nickname) =
            self;
        Ok(ObservedUser {
            id: id.clone(),
            login: login.clone(),
            username: nickname.clone(),
            enabled: *enabled,
            attributes: snapshot::decode_attributes(USER_ATTRIBUTES, id, attrs)?,
            licenses: licenses.iter().cloned().collect(),
            inherited_licenses: inherited.iter().cloned().collect(),
            guest: *guest,
            protections: if *synced {
                vec![Protection::SyncedFromOnPremises]
            } else {
                Vec::new()
            },
            ..ObservedUser::default()
        })
    }
}

/// One group on disk: id, name, description, unified, member indexes (`None`: not
/// known), uniqueName, restriction.
#[derive(Debug, Serialize, Deserialize)]
struct DiskGroup(
    String,
    String,
    Option<String>,
    bool,
    Option<Vec<u32>>,
    Option<String>,
    Option<GroupRestriction>,
);

impl snapshot::DiskGroup for DiskGroup {
    fn id(&self) -> &str {
        &self.0
    }

    fn from_observed(g: &ObservedGroup, members: Option<Vec<u32>>) -> Self {
        let unified = g.kind == "microsoft365";
        DiskGroup(
            g.id.clone(),
            g.name.clone(),
            g.description.clone(),
            unified,
            members,
            g.unique_name.clone(),
            g.restriction.clone(),
        )
    }

    fn to_observed(&self) -> Result<(ObservedGroup, Option<&[u32]>), Unusable> {
        let DiskGroup(id, name, description, unified, members, unique_name, restriction) = self;
        let kind = if *unified { "microsoft365" } else { "security" };
        let group = ObservedGroup {
            id: id.clone(),
            name: name.clone(),
            description: description.clone(),
            kind: kind.to_string(),
            unique_name: unique_name.clone(),
            restriction: restriction.clone(),
            ..ObservedGroup::default()
        };
        Ok((group, members.as_deref()))
    }
}

/// A snapshot in memory.
#[derive(Debug, Clone, PartialEq)]
pub struct Snapshot {
    pub full_read_at: i64,
    /// When the file was written (its delta links were issued then).
    pub written_at: i64,
    pub users_delta: String,
    pub groups_delta: String,
    /// Users and groups by id; users' `licenses` hold lower-cased skuIds.
    pub objects: Objects,
}

/// Where the snapshot of an app lives.
pub fn snapshot_path(cache_dir: &Path, app: &str) -> PathBuf {
    snapshot::path(cache_dir, "office365", app)
}

/// What a snapshot file holds, borrowed for writing (from a [`Snapshot`] or straight
/// from a full read, without copying it).
pub struct SnapshotRef<'a> {
    pub full_read_at: i64,
    pub users_delta: &'a str,
    pub groups_delta: &'a str,
    pub objects: ObjectsRef<'a>,
}

impl Snapshot {
    pub fn as_ref(&self) -> SnapshotRef<'_> {
        SnapshotRef {
            full_read_at: self.full_read_at,
            users_delta: &self.users_delta,
            groups_delta: &self.groups_delta,
            objects: self.objects.as_ref(),
        }
    }
}

/// Encodes a snapshot as header line + body.
pub fn encode(snap: &SnapshotRef<'_>, identity: &Identity, now: i64) -> Result<Vec<u8>> {
    let (users, groups, extra_ids) = snapshot::encode_objects(&snap.objects);
    let body = Body {
        users,
        groups,
        extra_ids,
    };
    let watermark = Watermark {
        users_delta: snap.users_delta.to_string(),
        groups_delta: snap.groups_delta.to_string(),
    };
    snapshot::seal(FORMAT, identity, snap.full_read_at, now, &watermark, &body)
}

/// Decodes and checks a snapshot for `identity` at time `now`.
pub fn decode(bytes: &[u8], identity: &Identity, now: i64) -> Result<Snapshot, Unusable> {
    let (header, body): (Header<Identity, Watermark>, _) =
        snapshot::open(bytes, FORMAT, MAX_AGE_SECS, identity, now)?;
    let Watermark {
        users_delta,
        groups_delta,
    } = header.watermark;
    for (what, link) in [("users", &users_delta), ("groups", &groups_delta)] {
        if !link.starts_with(&format!("/{what}/delta?")) {
            return Err(unusable(format!("bad {what} delta link")));
        }
    }
    let body: Body = snapshot::body(body)?;
    let objects = snapshot::decode_objects(&body.users, &body.groups, &body.extra_ids)?;
    Ok(Snapshot {
        full_read_at: header.full_read_at,
        written_at: header.written_at,
        users_delta,
        groups_delta,
        objects,
    })
}

/// Loads the snapshot at `path`: `Ok(None)` when there is none.
pub fn load(path: &Path, identity: &Identity, now: i64) -> Result<Option<Snapshot>, Unusable> {
    snapshot::load(path, |bytes| decode(bytes, identity, now))
}

/// Writes the snapshot atomically (temporary file, then rename); a failure is a
/// warning.
pub fn save(app: &str, path: &Path, snap: &SnapshotRef<'_>, identity: &Identity, now: i64) {
    snapshot::write_or_warn(app, path, encode(snap, identity, now));
}

// ---------------------------------------------------------------------------------------
// Merging delta items (pure)
// ---------------------------------------------------------------------------------------

/// Merges one users-delta item into `users`; returns the id of a removed user.
/// Properties in the item overwrite (null clears); absent ones keep their value, as
/// Graph's delta (default or `return=minimal`) leaves out unchanged or never-set
/// properties.
pub fn merge_user(users: &mut BTreeMap<String, ObservedUser>, v: &Value) -> Result<Option<String>> {
    merge_user_row(users, UserRow::from_value(v, &[]))
}

/// [`merge_user`] of a parsed item.
pub fn merge_user_row(
    users: &mut BTreeMap<String, ObservedUser>,
    v: UserRow,
) -> Result<Option<String>> {
    let id =
        v.id.text()
            .ok_or_else(|| anyhow!("a users delta item without an id"))?
            .to_string();
    if v.removed {
        users.remove(&id);
        return Ok(Some(id));
    }
    match users.get_mut(&id) {
        Some(u) => {
            if let Some(Some(upn)) = v.user_principal_name.change() {
                u.login = upn.to_string();
            }
            if let Some(nick) = v.mail_nickname.change() {
                u.username = nick.map(str::to_string);
            }
            for ((name, _), p) in USER_ATTRIBUTES.iter().zip(&v.attributes) {
                match p.change() {
                    Some(Some(val)) => {
                        u.attributes.insert((*name).to_string(), val.to_string());
                    }
                    Some(None) => {
                        u.attributes.remove(name);
                    }
                    None => {}
                }
            }
            if let Some(b) = v.account_enabled.flag() {
                u.enabled = b;
            }
            if v.license_assignment_states.present() {
                let (direct, inherited) = read::license_split(&v);
                u.licenses = direct;
                u.inherited_licenses = inherited;
            } else if v.assigned_licenses.present() {
                // Without the states, a SKU known to come from a group stays inherited
                // only, unless it was direct too.
                let old = std::mem::take(&mut u.licenses);
                u.licenses = license_ids_of(&v.assigned_licenses)
                    .unwrap_or_default()
                    .into_iter()
                    .filter(|s| !u.inherited_licenses.contains(s) || old.contains(s))
                    .collect();
            }
            if let Some(t) = v.user_type.change() {
                u.guest = t == Some("Guest");
            }
            if v.on_premises_sync_enabled.present() {
                u.protections
                    .retain(|p| *p != Protection::SyncedFromOnPremises);
                if v.on_premises_sync_enabled.flag() == Some(true) {
                    u.protections.push(Protection::SyncedFromOnPremises);
                }
            }
        }
        None => {
            let u = map_user_row(v, &HashMap::new(), &[], &[]).ok_or_else(|| {
                anyhow!("users delta: new user {id} comes without a userPrincipalName")
            })?;
            users.insert(id, u);
        }
    }
    Ok(None)
}

/// Merges one groups-delta item; returns the id of a removed group. A group new to the
/// snapshot has unknown members (they are listed if the scope wants them); member
/// changes apply to groups whose members are known.
pub fn merge_group(
    groups: &mut BTreeMap<String, ObservedGroup>,
    members_known: &mut BTreeSet<String>,
    v: &Value,
) -> Result<Option<String>> {
    merge_group_row(groups, members_known, GroupRow::from_value(v))
}

/// [`merge_group`] of a parsed item.
pub fn merge_group_row(
    groups: &mut BTreeMap<String, ObservedGroup>,
    members_known: &mut BTreeSet<String>,
    v: GroupRow,
) -> Result<Option<String>> {
    let id =
        v.id.text()
            .ok_or_else(|| anyhow!("a groups delta item without an id"))?
            .to_string();
    if v.removed {
        groups.remove(&id);
        members_known.remove(&id);
        return Ok(Some(id));
    }
    match groups.get_mut(&id) {
        Some(g) => {
            if let Some(Some(name)) = v.display_name.change() {
                g.name = name.to_string();
            }
            if let Some(d) = v.description.change() {
                g.description = d.map(str::to_string);
            }
            // Delta items carry the changed properties only. Of what decides a
            // restriction, only groupTypes and membershipRule can change on a live
            // group (mailEnabled, securityEnabled of Exchange groups and
            // isAssignableToRole are fixed at creation).
            if v.group_types.present()
                && let Some(fresh) = map_group_row(&GroupRow {
                    id: Prop::Is(id.clone()),
                    display_name: Prop::Is("x".to_string()),
                    group_types: v.group_types.clone(),
                    membership_rule: if v.membership_rule.present() {
                        v.membership_rule.clone()
                    } else {
                        match &g.restriction {
                            Some(GroupRestriction::Dynamic { rule }) => Prop::Is(rule.clone()),
                            _ => Prop::Absent,
                        }
                    },
                    ..GroupRow::default()
                })
            {
                g.kind = fresh.kind;
                match (fresh.restriction, &g.restriction) {
                    (Some(d @ GroupRestriction::Dynamic { .. }), _) => g.restriction = Some(d),
                    (None, Some(GroupRestriction::Dynamic { .. })) => g.restriction = None,
                    _ => {}
                }
            } else if let Some(Some(rule)) = v.membership_rule.change()
                && let Some(GroupRestriction::Dynamic { rule: r }) = &mut g.restriction
            {
                *r = rule.to_string();
            }
            if members_known.contains(&id)
                && let Prop::Is(md) = v.members_delta
            {
                for m in md.into_iter().filter(read::is_listed) {
                    let Some(mid) = m.id.text() else { continue };
                    if m.removed {
                        g.member_ids.remove(mid);
                    } else {
                        g.member_ids.insert(mid.into());
                    }
                }
            }
        }
        None => {
            let g = map_group_row(&v).ok_or_else(|| {
                anyhow!("groups delta: new group {id} comes without a displayName")
            })?;
            members_known.remove(&id);
            groups.insert(id, g);
        }
    }
    Ok(None)
}

/// Removes ids of deleted objects from every known member list, as a full read would
/// not list them.
pub fn drop_members(groups: &mut BTreeMap<String, ObservedGroup>, gone: &BTreeSet<String>) {
    if gone.is_empty() {
        return;
    }
    for g in groups.values_mut() {
        g.member_ids.retain(|m| !gone.contains(m.as_str()));
    }
}

// ---------------------------------------------------------------------------------------
// Reading (the shell)
// ---------------------------------------------------------------------------------------

/// The first delta links: "from now on", without reading any object.
pub fn latest_users() -> String {
    format!("/users/delta?$select={USER_SELECT}&$deltatoken=latest")
}
pub fn latest_groups() -> String {
    format!("/groups/delta?$select={GROUP_SELECT},members&$deltatoken=latest")
}

/// How a cached read went, for logs and benchmarks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReadKind {
    /// A full read (the reason the snapshot was not used, if there was one).
    Full(Option<String>),
    /// Delta rounds on the snapshot: changed users, changed groups, groups listed.
    Incremental {
        users: usize,
        groups: usize,
        listed: usize,
    },
}

/// Reads the tenant using (and refreshing) the snapshot at `path`.
pub async fn read_cached(
    graph: &Graph,
    scope: &ReadScope,
    identity: &Identity,
    path: &Path,
) -> Result<(ObservedApp, ReadKind)> {
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let directory_id = identity.directory_id.clone();
    let marker = bulk_marker(path);
    if marker.exists() && !path.exists() {
        // The last apply wrote more than a delta replay is worth: one read in full at
        // the cost of an uncached one; the next read starts change tracking again.
        let _ = std::fs::remove_file(&marker);
        let why = "the last apply wrote more than replaying its changes is worth".to_string();
        tracing::info!(app = %graph.app, why, "full read");
        let observed = read::read(graph, scope, directory_id).await?;
        return Ok((observed, ReadKind::Full(Some(why))));
    }
    let full = match load(path, identity, now) {
        Ok(Some(snap)) => match incremental(graph, scope, snap).await {
            Ok((snap, raw_extra, kind)) => {
                if should_rewrite(&kind, snap.written_at, now) {
                    save(&graph.app, path, &snap.as_ref(), identity, now);
                }
                let raw = into_raw(snap, raw_extra);
                tracing::info!(app = %graph.app, ?kind, "incremental read");
                return Ok((read::finish(&graph.app, raw, scope, directory_id), kind));
            }
            Err(RoundError::Fatal(e)) => return Err(e),
            Err(RoundError::Restart(why)) => FullRead::failed(why),
        },
        Ok(None) => FullRead::default(),
        Err(u) => FullRead::from(u),
    };
    full.log(&graph.app);
    // Tokens first: whatever changes during the full read shows up in the next round.
    let (first_users, first_groups) = (latest_users(), latest_groups());
    let (users_delta, groups_delta) =
        tokio::try_join!(latest(graph, &first_users), latest(graph, &first_groups))?;
    let raw = read::read_raw(graph, scope).await?;
    let snap = SnapshotRef {
        full_read_at: now,
        users_delta: &users_delta,
        // A groups delta round that read the members ends with a newer link.
        groups_delta: raw.groups_delta.as_deref().unwrap_or(&groups_delta),
        objects: ObjectsRef::new(&raw.users, &raw.groups, &raw.members_known),
    };
    save(&graph.app, path, &snap, identity, now);
    drop(snap);
    Ok((
        read::finish(&graph.app, raw, scope, directory_id),
        ReadKind::Full(full.why),
    ))
}

async fn latest(graph: &Graph, rel: &str) -> Result<String> {
    match graph.delta_round(rel, NoRows, |()| Ok(())).await {
        Ok(link) => Ok(link),
        Err(RoundError::Fatal(e)) => Err(e),
        Err(RoundError::Restart(why)) => {
            bail!("cannot start change tracking: {why}")
        }
    }
}

fn into_raw(snap: Snapshot, facts: read::TenantFacts) -> RawTenant {
    RawTenant {
        users: snap.objects.users.into_values().collect(),
        groups: snap.objects.groups.into_values().collect(),
        members_known: snap.objects.members_known,
        facts,
        groups_delta: None,
    }
}

async fn incremental(
    graph: &Graph,
    scope: &ReadScope,
    snap: Snapshot,
) -> Result<(Snapshot, read::TenantFacts, ReadKind), RoundError> {
    let Snapshot {
        full_read_at,
        written_at,
        users_delta,
        groups_delta,
        objects:
            Objects {
                mut users,
                mut groups,
                mut members_known,
            },
    } = snap;
    let mut gone: BTreeSet<String> = BTreeSet::new();
    let mut gone_groups: BTreeSet<String> = BTreeSet::new();
    let mut user_items = 0usize;
    let mut group_items = 0usize;
    let users_fut = graph.delta_round(&users_delta, UserRows::default(), |v| {
        user_items += 1;
        if let Some(id) = merge_user_row(&mut users, v)? {
            gone.insert(id);
        }
        Ok(())
    });
    let groups_fut = graph.delta_round(&groups_delta, GroupRows, |v| {
        group_items += 1;
        if let Some(id) = merge_group_row(&mut groups, &mut members_known, v)? {
            gone_groups.insert(id);
        }
        Ok(())
    });
    let extra_fut = async {
        read::read_tenant_facts(graph, scope)
            .await
            .map_err(RoundError::Fatal)
    };
    let (users_delta, groups_delta, facts) = tokio::try_join!(users_fut, groups_fut, extra_fut)?;
    gone.extend(gone_groups);
    // An object removed and back (restored) within the round is not gone.
    gone.retain(|id| !users.contains_key(id) && !groups.contains_key(id));
    drop_members(&mut groups, &gone);

    // Member lists the scope wants that the snapshot does not have (groups new to it,
    // renamed into the scope, or bound by a policy since the last read).
    let mut list: Vec<ObservedGroup> = groups
        .values()
        .filter(|g| wants_members(scope, g) && !members_known.contains(&g.id))
        .cloned()
        .collect();
    let listed = list.len();
    if !list.is_empty() {
        for g in list.iter_mut() {
            g.member_ids.clear();
        }
        let idx: Vec<usize> = (0..list.len()).collect();
        read::read_members(graph, &mut list, &idx)
            .await
            .map_err(RoundError::Fatal)?;
        for g in list {
            members_known.insert(g.id.clone());
            groups.insert(g.id.clone(), g);
        }
    }
    Ok((
        Snapshot {
            full_read_at,
            written_at,
            users_delta,
            groups_delta,
            objects: Objects {
                users,
                groups,
                members_known,
            },
        },
        facts,
        ReadKind::Incremental {
            users: user_items,
            groups: group_items,
            listed,
        },
    ))
}

/// Users per page of a users delta round, and groups (with members) per page of a
/// groups delta round, as Graph pages them by default; users per page of a full listing.
const USER_DELTA_PAGE: usize = 100;
const GROUP_DELTA_PAGE: usize = 50;
const USER_LIST_PAGE: usize = 999;
/// The requests of a full read besides users and groups: domains, SKUs, role holders.
const FULL_READ_FACTS: usize = 3;

/// The requests the next incremental read would spend replaying what `changes` wrote:
/// every user written is one item of the users delta, every group written (or whose
/// members changed) one item of the groups delta.
pub fn replay_estimate(changes: &[crate::plan::Change]) -> usize {
    use crate::plan::ObjectKind;
    let mut users: BTreeSet<String> = BTreeSet::new();
    let mut groups: BTreeSet<String> = BTreeSet::new();
    for c in changes {
        match c.object() {
            ObjectKind::User | ObjectKind::License | ObjectKind::Manager => {
                users.insert(c.id.clone().unwrap_or_else(|| c.key().into_owned()));
            }
            ObjectKind::Group => {
                groups.insert(c.key().into_owned());
            }
            ObjectKind::Membership => {
                if let Some(k) = c.membership() {
                    groups.insert(k.group.clone());
                }
            }
        }
    }
    users.len().div_ceil(USER_DELTA_PAGE) + groups.len().div_ceil(GROUP_DELTA_PAGE)
}

/// The requests of a full read of a tenant of `users` users and `groups` groups (users
/// listed, groups with their members in one groups delta round, the tenant's facts).
pub fn full_read_estimate(users: usize, groups: usize) -> usize {
    users.div_ceil(USER_LIST_PAGE) + groups.div_ceil(GROUP_DELTA_PAGE) + FULL_READ_FACTS
}

/// Whether, after an apply of `changes` to the tenant `observed` was read as, the next
/// read costs less in full than by replaying the delta of what the apply wrote.
pub fn full_read_is_cheaper(changes: &[crate::plan::Change], observed: &ObservedApp) -> bool {
    use crate::plan::{Action, ObjectKind};
    let created = |kind: ObjectKind| {
        changes
            .iter()
            .filter(|c| c.object() == kind && c.action == Action::Create)
            .count()
    };
    let users = observed.users.len() + created(ObjectKind::User);
    let groups = observed.groups.len() + created(ObjectKind::Group);
    replay_estimate(changes) > full_read_estimate(users, groups)
}

/// The marker left next to a dropped snapshot: the next read is a plain full read
/// (no delta tokens, so it costs what a `--no-cache` read does), and the read after it
/// writes a fresh snapshot.
fn bulk_marker(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_os_string();
    name.push(".after-bulk-apply");
    PathBuf::from(name)
}

/// Drops the snapshot at `path` after an apply whose writes cost more to replay than a
/// full read. A cache changes cost, never results: dropping one is always safe.
pub fn forget(app: &str, path: &Path, why: &str) {
    match std::fs::remove_file(path) {
        Ok(()) => {
            tracing::info!(app, path = %path.display(), why, "snapshot dropped");
            if let Err(e) = std::fs::write(bulk_marker(path), why) {
                tracing::warn!(app, error = %e, "cannot mark the dropped snapshot");
            }
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => {
            tracing::warn!(app, path = %path.display(), error = %e, "cannot drop the snapshot")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::apps::office365::read::{map_group, map_user_raw};
    use serde_json::json;

    #[test]
    fn a_full_read_is_taken_when_replaying_the_writes_costs_more() {
        use crate::plan::{Action, Change, ObjectKind, Target};
        let create = |name: String| Change {
            app: "o365".into(),
            target: Target::of(ObjectKind::User, &name).expect("a target"),
            action: Action::Create,
            id: None,
            before: None,
            after: None,
            reason: String::new(),
        };
        let tenant = ObservedApp {
            users: (0..20_000)
                .map(|i| ObservedUser {
                    id: format!("id{i}"),
                    ..Default::default()
                })
                .collect(),
            ..Default::default()
        };
        // 20,000 users listed at 999 a page, no groups, the tenant's facts: 24 requests.
        assert_eq!(full_read_estimate(20_000, 0), 24);
        let few: Vec<_> = (0..150).map(|i| create(format!("n{i}"))).collect();
        assert_eq!(replay_estimate(&few), 2);
        assert!(!full_read_is_cheaper(&few, &tenant));
        let bulk: Vec<_> = (0..5_000).map(|i| create(format!("n{i}"))).collect();
        assert_eq!(replay_estimate(&bulk), 50);
        assert!(full_read_is_cheaper(&bulk, &tenant));
    }

    fn identity() -> Identity {
        Identity::new("o365", "http://graph.test", Some("tid".into()))
    }

    fn sample() -> Snapshot {
        let mut users = BTreeMap::new();
        for (id, upn) in [("u1", "a@x.com"), ("u2", "b@x.com")] {
            let mut u = map_user_raw(&json!({
                "id": id, "userPrincipalName": upn, "givenName": "G", "mail": upn,
                "accountEnabled": true, "assignedLicenses": [{"skuId": "SKU-1"}],
                "mailNickname": upn.split('@').next()
            }))
            .expect("user");
            u.attributes.insert("department".into(), "Sales".into());
            users.insert(id.to_string(), u);
        }
        let mut groups = BTreeMap::new();
        let mut g1 =
            map_group(&json!({"id": "g1", "displayName": "One", "groupTypes": []})).expect("g");
        g1.member_ids = ["u1", "g2", "device-9"]
            .iter()
            .map(|s| crate::observed::MemberId::new(s))
            .collect();
        let g2 = map_group(&json!({"id": "g2", "displayName": "Two", "groupTypes": ["Unified"], "description": "d"}))
            .expect("g");
        groups.insert("g1".to_string(), g1);
        groups.insert("g2".to_string(), g2);
        Snapshot {
            full_read_at: 1000,
            written_at: 1010,
            users_delta: "/users/delta?$deltatoken=a".into(),
            groups_delta: "/groups/delta?$deltatoken=b".into(),
            objects: Objects {
                users,
                groups,
                members_known: BTreeSet::from(["g1".to_string()]),
            },
        }
    }

    #[test]
    fn small_rounds_replay_instead_of_rewriting() {
        let inc = |users, groups, listed| ReadKind::Incremental {
            users,
            groups,
            listed,
        };
        assert!(should_rewrite(&ReadKind::Full(None), 0, 0));
        assert!(!should_rewrite(&inc(50, 50, 0), 1000, 1010));
        assert!(
            should_rewrite(&inc(600, 400, 0), 1000, 1010),
            "1,000 changes"
        );
        assert!(
            should_rewrite(&inc(0, 1, 1), 1000, 1010),
            "members were listed"
        );
        assert!(
            should_rewrite(&inc(0, 0, 0), 1000, 1000 + REWRITE_AFTER_SECS),
            "an hour old"
        );
    }

    /// [`sample`] as a file of this [`FORMAT`], byte for byte: what earlier rosters wrote
    /// and this one reads.
    const PINNED: &str = r#"{"format":4,"identity":{"app":"o365","service":"http://graph.test","directory_id":"tid","user_select":"id,userPrincipalName,mail,givenName,surname,displayName,department,jobTitle,employeeId,usageLocation,mobilePhone,accountEnabled,assignedLicenses,licenseAssignmentStates,userType,onPremisesSyncEnabled,mailNickname","group_select":"id,displayName,description,groupTypes,securityEnabled,mailEnabled,uniqueName,membershipRule,isAssignableToRole"},"full_read_at":1000,"written_at":1010,"users_delta":"/users/delta?$deltatoken=a","groups_delta":"/groups/delta?$deltatoken=b"}
{"body_len":336,"sha256":"22f0eee65766ba2bf184d7a5568fb4edc3b2093311455fb1cf6c6a86b0ea6f86"}
{"users":[["u1","a@x.com",true,["a@x.com","G",null,null,"Sales",null,null,null,null],["sku-1"],[],false,false,"a"],["u2","b@x.com",true,["b@x.com","G",null,null,"Sales",null,null,null,null],["sku-1"],[],false,false,"b"]],"groups":[["g1","One",null,false,[4,3,0],null,null],["g2","Two","d",true,null,null,null]],"extra_ids":["device-9"]}"#;

    #[test]
    fn snapshots_round_trip() {
        let s = sample();
        let bytes = encode(&s.as_ref(), &identity(), 1010).expect("encode");
        let back = decode(&bytes, &identity(), 1020).expect("decode");
        assert_eq!(back, s);
        assert_eq!(
            back.objects.users["u1"].licenses,
            BTreeSet::from(["sku-1".to_string()])
        );
        assert_eq!(String::from_utf8(bytes).expect("utf-8"), PINNED);
        assert_eq!(decode(PINNED.as_bytes(), &identity(), 1020), Ok(s));
    }

    #[test]
    fn unusable_snapshots_are_detected() {
        let s = sample();
        let bytes = encode(&s.as_ref(), &identity(), 1010).expect("encode");
        // Another tenant, another service, another app.
        let mut other = identity();
        other.directory_id = Some("other".into());
        assert!(
            decode(&bytes, &other, 1020)
                .unwrap_err()
                .0
                .contains("another tenant")
        );
        let mut other = identity();
        other.service = "sandbox:x".into();
        assert!(
            decode(&bytes, &other, 1020)
                .unwrap_err()
                .0
                .contains("another service")
        );
        let mut other = identity();
        other.app = "b".into();
        assert!(decode(&bytes, &other, 1020).is_err());
        // Too old.
        assert!(
            decode(&bytes, &identity(), 1000 + MAX_AGE_SECS + 1)
                .unwrap_err()
                .0
                .contains("days old")
        );
        // A flipped byte in the body, a truncated file, garbage.
        let mut flipped = bytes.clone();
        let n = flipped.len();
        flipped[n - 10] ^= 0x01;
        assert!(
            decode(&flipped, &identity(), 1020)
                .unwrap_err()
                .0
                .contains("checksum")
        );
        assert!(
            decode(&bytes[..n - 5], &identity(), 1020)
                .unwrap_err()
                .0
                .contains("truncated")
        );
        assert!(decode(b"not a snapshot", &identity(), 1020).is_err());
        assert!(decode(b"{}\n{}", &identity(), 1020).is_err());
    }

    #[test]
    fn user_items_merge_like_graph_delta() {
        let mut s = sample();
        // Changed: present properties overwrite, null clears, absent keeps.
        merge_user(
            &mut s.objects.users,
            &json!({"id": "u1", "givenName": "New", "department": null, "accountEnabled": false}),
        )
        .expect("merge");
        let u = &s.objects.users["u1"];
        assert_eq!(u.attribute("first_name"), Some("New"));
        assert!(!u.attributes.contains_key("department"));
        assert_eq!(u.attribute("email"), Some("a@x.com"));
        assert!(!u.enabled);
        assert_eq!(u.licenses.len(), 1);
        // Licenses replaced when present.
        merge_user(
            &mut s.objects.users,
            &json!({"id": "u1", "assignedLicenses": []}),
        )
        .expect("merge");
        assert!(s.objects.users["u1"].licenses.is_empty());
        // New user, removed user.
        merge_user(
            &mut s.objects.users,
            &json!({"id": "u3", "userPrincipalName": "c@x.com"}),
        )
        .expect("merge");
        assert_eq!(s.objects.users["u3"].login, "c@x.com");
        assert_eq!(
            merge_user(
                &mut s.objects.users,
                &json!({"id": "u2", "@removed": {"reason": "changed"}})
            )
            .expect("merge"),
            Some("u2".to_string())
        );
        assert!(!s.objects.users.contains_key("u2"));
        // A new user without its UPN cannot be merged.
        assert!(merge_user(&mut s.objects.users, &json!({"id": "u4", "givenName": "x"})).is_err());
        assert!(merge_user(&mut s.objects.users, &json!({"givenName": "x"})).is_err());
    }

    #[test]
    fn group_items_merge_members_only_where_known() {
        let mut s = sample();
        merge_group(
            &mut s.objects.groups,
            &mut s.objects.members_known,
            &json!({"id": "g1", "description": "now", "members@delta": [
                {"id": "u2"}, {"id": "u1", "@removed": {"reason": "deleted"}},
                {"@odata.type": "#microsoft.graph.servicePrincipal", "id": "sp1"}
            ]}),
        )
        .expect("merge");
        let g1 = &s.objects.groups["g1"];
        assert_eq!(g1.description.as_deref(), Some("now"));
        assert_eq!(g1.name, "One");
        assert!(g1.member_ids.contains("u2") && !g1.member_ids.contains("u1"));
        assert!(
            !g1.member_ids.contains("sp1"),
            "service principals are not listed members"
        );
        // g2's members are not known: member changes are not guessed.
        merge_group(
            &mut s.objects.groups,
            &mut s.objects.members_known,
            &json!({"id": "g2", "displayName": "Renamed", "members@delta": [{"id": "u1"}]}),
        )
        .expect("merge");
        assert!(s.objects.groups["g2"].member_ids.is_empty());
        assert_eq!(s.objects.groups["g2"].name, "Renamed");
        assert_eq!(s.objects.groups["g2"].kind, "microsoft365");
        // A new group starts with unknown members.
        merge_group(
            &mut s.objects.groups,
            &mut s.objects.members_known,
            &json!({"id": "g3", "displayName": "Three", "members@delta": [{"id": "u1"}]}),
        )
        .expect("merge");
        assert!(!s.objects.members_known.contains("g3"));
        // Removal, and deleted objects leave member lists.
        let gone = merge_group(
            &mut s.objects.groups,
            &mut s.objects.members_known,
            &json!({"id": "g2", "@removed": {}}),
        )
        .expect("merge");
        assert_eq!(gone.as_deref(), Some("g2"));
        drop_members(
            &mut s.objects.groups,
            &BTreeSet::from(["g2".to_string(), "u2".to_string()]),
        );
        assert_eq!(
            s.objects.groups["g1"].member_ids,
            BTreeSet::from([crate::observed::MemberId::new("device-9")])
        );
    }
}
