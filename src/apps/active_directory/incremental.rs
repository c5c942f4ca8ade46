//! Incremental reads: a snapshot of the app's users and groups as last read, kept per
//! app under `.roster/cache` with the domain controller's `highestCommittedUSN` of that
//! read, so that a drift check after a few changes searches only what changed
//! (`uSNChanged` above the snapshot's USN) instead of every user, group and member list.
//!
//! How a read goes, with L the snapshot's USN and H the DC's `highestCommittedUSN`
//! (always read first, so that a change made during the read is seen again next time):
//! 1. The change scan: a paged search of the OUs' naming context with the Show Deleted
//!    control for users, groups, contacts, foreign principals and containers with
//!    `uSNChanged > L` (objectGUID, objectClass, uSNCreated only).
//! 2. Then users under `users_ou` and groups under `groups_ou` with `uSNChanged > L`,
//!    with the attributes of a full read; they replace their snapshot entries (by
//!    objectGUID: the DN may have changed).
//! 3. Users and groups of the snapshot that the scan saw but step 2 did not are no
//!    longer in scope (deleted or moved out) and are removed.
//! 4. Managers are resolved as a full read resolves them: a changed user's from its
//!    entry; another user's `manager` is read again when its manager left the scope,
//!    or is a `dn:` id and something outside the scope changed, and every user's when
//!    an object moved into the scope (see [`ManagerRereads`]): like `member`, a
//!    user's `manager` follows or drops its object without changing the user's
//!    `uSNChanged`.
//! 5. Member lists are read again, as a full read reads them, for every wanted group
//!    that changed, whose members the snapshot lacks, or, when something outside the
//!    scope changed or an object moved into it, that has a `dn:` member or a member
//!    just removed: a deleted or moved member leaves or changes a group's `member`
//!    without changing the group's `uSNChanged`.
//! 6. The observed state is built as a full read builds it, and the snapshot is
//!    written with USN H.
//!
//! The scan runs before the searches of step 2: an object the scan sees changed is then
//! also seen by step 2 if it is still in scope, so a change landing between the two is
//! never mistaken for a departure.
//!
//! Samba (4.17) showed two things a USN watermark alone misses, and both hold for
//! Windows AD too: deleting a member does not change the group's `uSNChanged` (hence
//! step 5's rule), and renaming or moving an OU does not change the `uSNChanged` of the
//! objects beneath it, although their DNs change. The snapshot therefore also keeps the
//! OUs and containers in scope; when one of them changed its DN and the snapshot holds
//! objects beneath it, or an OU moved into scope, the read is a full one.
//!
//! Any doubt means a full read, logged as a warning: no snapshot; a corrupt, foreign
//! (another app, URL, OUs, domain, domain controller or database incarnation — USNs
//! are per DC and per `invocationId`) or old (last full read more than
//! [`MAX_AGE_SECS`] ago) snapshot; any failure of the incremental path other than a
//! transport failure (which is an error, as for a full read). A full read writes the
//! snapshot too. Failing to write it is a warning. An incremental read returns an
//! [`ObservedApp`] equal to what a full read returns at the same moment (tests check
//! it against Samba), so plans do not depend on the path taken.
//!
//! File format: one JSON header line (format, identity, times, USN, the SHA-256 and
//! length of the body), then the JSON body: users and groups as arrays, group members
//! as indexes into the id table (users, then groups, then `dn:` ids). Written to a
//! temporary file and renamed. It holds no secret.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, anyhow};
use ldap3::Ldap;
use ldap3::SearchEntry;
use ldap3::controls::RawControl;
use serde::{Deserialize, Serialize};

use super::codec;
use super::conn::is_transport;
use super::read::{
    self, DN_ID_PREFIX, GROUP_FILTER, MANAGER, MANAGER_ATTR, USER_FILTER, UserSchema,
};
use crate::apps::ReadScope;
use crate::apps::kit::ldap::{IncrementalFailure as Failure, now_unix};
use crate::apps::kit::snapshot::{self, FullRead, Header, Objects, ObjectsRef, Unusable, unusable};
use crate::desired::ActiveDirectoryApp;
use crate::observed::{Attributes, ObservedApp, ObservedGroup, ObservedUser, Protection};

/// The snapshot file format; a file of another format is ignored (full read).
/// Format 3 added the AdminSDHolder protection (`adminCount`) to every user: a
/// format-2 file, which never read it, means a full read. Format 4 keeps a user's
/// attributes by key (the app's mapped targets and the manager's id), so the mapping
/// decides what a snapshot holds.
pub const FORMAT: u32 = 4;

/// A snapshot whose last full read is older than this is not used: a periodic full
/// read bounds how long any divergence could live (and stays far inside the
/// tombstone lifetime, after which deletions can no longer be seen).
pub const MAX_AGE_SECS: i64 = 7 * 24 * 3600;

/// The LDAP_SERVER_SHOW_DELETED_OID control: deleted objects (tombstones) are returned.
pub const SHOW_DELETED_OID: &str = "1.2.840.113556.1.4.417";

/// Classes whose objects can hold users or groups; their DN changes are tracked.
const CONTAINER_CLASSES: &[&str] = &["organizationalUnit", "container", "organization"];

/// Classes the change scan looks at: what can be in scope or a member (users include
/// computers and inetOrgPersons), and containers.
const SCAN_CLASSES: &[&str] = &[
    "user",
    "group",
    "contact",
    "foreignSecurityPrincipal",
    "organizationalUnit",
    "container",
    "organization",
];

fn class_filter(classes: &[&str]) -> String {
    let parts: String = classes
        .iter()
        .map(|c| format!("(objectClass={c})"))
        .collect();
    format!("(|{parts})")
}

/// How a cached read went, for logs, tests and benchmarks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReadKind {
    /// A full read (the reason the snapshot was not used, if there was one).
    Full(Option<String>),
    /// From the snapshot: users and groups that changed in scope, snapshot objects
    /// that left it, member lists read, entries of the change scan (which covers the
    /// whole domain), and entries the server sent in all (the scan, the changed objects
    /// and the ranged member reads).
    Incremental {
        changed: usize,
        removed: usize,
        member_lists: usize,
        scanned: usize,
        entries: usize,
    },
}

// ---------------------------------------------------------------------------------------
// The domain controller and the snapshot's identity
// ---------------------------------------------------------------------------------------

/// What the rootDSE says about the domain controller, read at the start of every read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dsa {
    /// `highestCommittedUSN`.
    pub usn: u64,
    /// `dsServiceName`: the DC's NTDS Settings object.
    pub service_name: String,
    /// That object's `invocationId` (changes when the database is restored).
    pub invocation_id: String,
    /// `namingContexts`.
    pub naming_contexts: Vec<String>,
}

/// Reads the rootDSE and the DC's invocationId.
pub async fn read_dsa(ldap: &Ldap) -> Result<Dsa> {
    let root = read::read_base(
        ldap,
        "",
        &["highestCommittedUSN", "dsServiceName", "namingContexts"],
    )
    .await?
    .ok_or_else(|| anyhow!("the server has no rootDSE"))?;
    let usn = read::first(&root, "highestCommittedUSN")
        .and_then(|v| v.parse::<u64>().ok())
        .ok_or_else(|| anyhow!("the rootDSE has no highestCommittedUSN"))?;
    let service_name = read::first(&root, "dsServiceName")
        .filter(|v| !v.is_empty())
        .ok_or_else(|| anyhow!("the rootDSE has no dsServiceName"))?
        .to_string();
    let naming_contexts = root
        .attrs
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("namingContexts"))
        .map(|(_, v)| v.clone())
        .unwrap_or_default();
    let ntds = read::read_base(ldap, &service_name, &["invocationId"])
        .await?
        .ok_or_else(|| anyhow!("{service_name} does not exist"))?;
    let invocation_id = read::first_bin(&ntds, "invocationId")
        .and_then(|raw| codec::guid_to_string(&raw))
        .ok_or_else(|| anyhow!("{service_name} has no valid invocationId"))?;
    Ok(Dsa {
        usn,
        service_name,
        invocation_id,
        naming_contexts,
    })
}

/// What a snapshot is valid for; any difference means a full read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Identity {
    pub app: String,
    pub url: String,
    pub base_dn: String,
    pub users_ou: String,
    pub groups_ou: String,
    /// The domain SID.
    pub directory_id: Option<String>,
    /// The DC's `dsServiceName` and `invocationId`: USNs mean nothing elsewhere.
    pub dsa: String,
    pub invocation_id: String,
    /// The attributes read, by key ([`UserSchema::describe`], so the app's mapping is
    /// part of it); a roster or mapping that reads others reads in full once.
    pub attributes: String,
}

impl Identity {
    pub fn new(app: &ActiveDirectoryApp, directory_id: Option<String>, dsa: &Dsa) -> Self {
        Identity {
            app: app.name.clone(),
            url: app.url.clone(),
            base_dn: app.base_dn.clone(),
            users_ou: app.users_ou.clone(),
            groups_ou: app.groups_ou.clone(),
            directory_id,
            dsa: dsa.service_name.clone(),
            invocation_id: dsa.invocation_id.clone(),
            attributes: format!(
                "{};{}",
                UserSchema::of(app).describe(),
                read::group_attr_names(None).join(",")
            ),
        }
    }
}

impl snapshot::Identity for Identity {
    fn app(&self) -> &str {
        &self.app
    }

    fn check(&self, theirs: &Self) -> Result<(), Unusable> {
        if theirs.url != self.url || theirs.base_dn != self.base_dn {
            return Err(unusable(format!(
                "written for another directory ({} {})",
                theirs.url, theirs.base_dn
            )));
        }
        if theirs.users_ou != self.users_ou || theirs.groups_ou != self.groups_ou {
            return Err(unusable("written for other users_ou or groups_ou"));
        }
        snapshot::same_directory("domain", &self.directory_id, &theirs.directory_id)?;
        if theirs.dsa != self.dsa {
            return Err(unusable(format!(
                "written against another domain controller ({})",
                theirs.dsa
            )));
        }
        if theirs.invocation_id != self.invocation_id {
            return Err(unusable(
                "the domain controller's database changed incarnation (invocationId), e.g. a restore",
            ));
        }
        if theirs.attributes != self.attributes {
            return Err(unusable(
                "written by a roster that reads other attributes (or for another attribute_map)",
            ));
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------
// The snapshot file
// ---------------------------------------------------------------------------------------

/// Where the next read starts: the `highestCommittedUSN` read before the reads that
/// produced the body.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Watermark {
    usn: u64,
}

/// The body of the file.
#[derive(Debug, Serialize, Deserialize)]
struct Body {
    users: Vec<DiskUser>,
    groups: Vec<DiskGroup>,
    /// Member ids that are neither a user nor a group of the snapshot (`dn:` ids).
    extra_ids: Vec<String>,
    /// OUs and containers in scope: objectGUID, DN.
    containers: Vec<(String, String)>,
}

/// One user on disk: objectGUID, DN, sAMAccountName, enabled, attributes by key (the
/// identity names the keys a read fills), protected by AdminSDHolder (`adminCount`).
#[derive(Debug, Serialize, Deserialize)]
struct DiskUser(String, String, String, bool, Attributes, bool);

impl snapshot::DiskUser for DiskUser {
    fn id(&self) -> &str {
        &self.0
    }

    fn from_observed(u: &ObservedUser) -> Self {
        let dn = u.location.clone().unwrap_or_default();
        let attributes = u.attributes.clone();
        let admin = u.protections.contains(&Protection::AdminSdHolder);
        DiskUser(
            u.id.clone(),
            dn,
            u.login.clone(),
            u.enabled,
            attributes,
            admin,
        )
    }

    fn to_observed(&self) -> Result<ObservedUser, Unusable> {
        let DiskUser(id, dn, login, enabled, attrs, admin) = self;
        let attributes = attrs.clone();
        if dn.is_empty() || login.is_empty() {
            return Err(unusable(format!("user {id}: no DN or login")));
        }
        Ok(ObservedUser {
            id: id.clone(),
            login: login.clone(),
            username: Some(login.clone()),
            enabled: *enabled,
            attributes,
            licenses: BTreeSet::new(),
            location: Some(dn.clone()),
            protections: if *admin {
                vec![Protection::AdminSdHolder]
            } else {
                Vec::new()
            },
            ..Default::default()
        })
    }
}

/// One group on disk: objectGUID, DN, cn, description, member indexes (`None`: not
/// known).
#[derive(Debug, Serialize, Deserialize)]
struct DiskGroup(String, String, String, Option<String>, Option<Vec<u32>>);

impl snapshot::DiskGroup for DiskGroup {
    fn id(&self) -> &str {
        &self.0
    }

    fn from_observed(g: &ObservedGroup, members: Option<Vec<u32>>) -> Self {
        let dn = g.location.clone().unwrap_or_default();
        DiskGroup(
            g.id.clone(),
            dn,
            g.name.clone(),
            g.description.clone(),
            members,
        )
    }

    fn to_observed(&self) -> Result<(ObservedGroup, Option<&[u32]>), Unusable> {
        let DiskGroup(id, dn, name, description, members) = self;
        if dn.is_empty() {
            return Err(unusable(format!("group {id}: no DN")));
        }
        let group = ObservedGroup {
            id: id.clone(),
            name: name.clone(),
            description: description.clone(),
            kind: "security".into(),
            member_ids: crate::observed::IdSet::new(),
            location: Some(dn.clone()),
            ..Default::default()
        };
        Ok((group, members.as_deref()))
    }
}

/// A snapshot in memory.
#[derive(Debug, Clone, PartialEq)]
pub struct Snapshot {
    pub full_read_at: i64,
    pub written_at: i64,
    pub usn: u64,
    /// Users and groups by objectGUID, as a full read maps them (`location` is the DN).
    pub objects: Objects,
    /// OUs and containers under `users_ou` and `groups_ou` (themselves included):
    /// objectGUID → DN.
    pub containers: BTreeMap<String, String>,
}

/// What a snapshot file holds, borrowed for writing (from a [`Snapshot`] or straight
/// from a full read).
pub struct SnapshotRef<'a> {
    pub full_read_at: i64,
    pub usn: u64,
    pub objects: ObjectsRef<'a>,
    pub containers: &'a BTreeMap<String, String>,
}

impl Snapshot {
    pub fn as_ref(&self) -> SnapshotRef<'_> {
        SnapshotRef {
            full_read_at: self.full_read_at,
            usn: self.usn,
            objects: self.objects.as_ref(),
            containers: &self.containers,
        }
    }
}

/// Where the snapshot of an app lives.
pub fn snapshot_path(cache_dir: &Path, app: &str) -> PathBuf {
    snapshot::path(cache_dir, "active_directory", app)
}

/// Encodes a snapshot as header line + body.
pub fn encode(snap: &SnapshotRef<'_>, identity: &Identity, now: i64) -> Result<Vec<u8>> {
    let (users, groups, extra_ids) = snapshot::encode_objects(&snap.objects);
    let containers = snap
        .containers
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let body = Body {
        users,
        groups,
        extra_ids,
        containers,
    };
    let watermark = Watermark { usn: snap.usn };
    snapshot::seal(FORMAT, identity, snap.full_read_at, now, &watermark, &body)
}

/// Decodes and checks a snapshot for `identity` at time `now`.
pub fn decode(bytes: &[u8], identity: &Identity, now: i64) -> Result<Snapshot, Unusable> {
    let (header, body): (Header<Identity, Watermark>, _) =
        snapshot::open(bytes, FORMAT, MAX_AGE_SECS, identity, now)?;
    let body: Body = snapshot::body(body)?;
    let objects = snapshot::decode_objects(&body.users, &body.groups, &body.extra_ids)?;
    // objectGUIDs are unique across users and groups.
    if let Some(id) = (objects.groups.keys()).find(|id| objects.users.contains_key(*id)) {
        return Err(unusable(format!("group {id} appears twice")));
    }
    Ok(Snapshot {
        full_read_at: header.full_read_at,
        written_at: header.written_at,
        usn: header.watermark.usn,
        objects,
        containers: body.containers.into_iter().collect(),
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
// Merging the changes (pure)
// ---------------------------------------------------------------------------------------

/// One entry of the change scan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Changed {
    pub id: String,
    /// The current DN (under `CN=Deleted Objects` for a deleted object).
    pub dn: String,
    /// An OU or container (else a user, group, contact or foreign principal).
    pub container: bool,
    pub usn_created: u64,
}

/// What [`merge`] leaves to the reader.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Merged {
    /// Groups whose member lists must be read again (if the scope wants them; the
    /// others are left with unknown members). Their `member_ids` are cleared.
    pub reread: BTreeSet<String>,
    /// Users and groups in scope that changed.
    pub changed: usize,
    /// Snapshot objects that left the scope.
    pub removed: usize,
    /// Users (not among the changed ones) whose `manager` must be read again.
    pub managers: ManagerRereads,
}

/// Whose `manager` an incremental read reads again. AD keeps a manager link pointing
/// at its object through renames and moves, and drops it when the object is deleted,
/// without changing the subordinate's `uSNChanged` (as for `member`): a user whose
/// manager left the scope, or whose manager is a `dn:` id when something outside the
/// scope changed, is read again; when an object moved into the scope or came back
/// from the Recycle Bin (whose links come back with it), every user is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ManagerRereads {
    All,
    Users(BTreeSet<String>),
}

impl Default for ManagerRereads {
    fn default() -> Self {
        ManagerRereads::Users(BTreeSet::new())
    }
}

/// Merges the change scan and the changed users and groups (each with its uSNCreated)
/// into the snapshot. `Err` gives the reason a full read is needed instead.
pub fn merge(
    snap: &mut Snapshot,
    users: Vec<(ObservedUser, u64)>,
    groups: Vec<(ObservedGroup, u64)>,
    changes: &[Changed],
    users_ou: &str,
    groups_ou: &str,
) -> Result<Merged, String> {
    let since = snap.usn;
    let in_scope = |dn: &str| codec::is_within(dn, users_ou) || codec::is_within(dn, groups_ou);
    let fresh: HashSet<String> = users
        .iter()
        .map(|(u, _)| u.id.clone())
        .chain(groups.iter().map(|(g, _)| g.id.clone()))
        .collect();

    // Objects that changed but are not in scope any more, or were never in it (first:
    // what left the scope cannot hold a container in place below).
    let mut removed: BTreeSet<String> = BTreeSet::new();
    let mut outside = false;
    for c in changes.iter().filter(|c| !c.container) {
        if fresh.contains(&c.id) {
            continue;
        }
        outside = true;
        if snap.objects.users.remove(&c.id).is_some() || snap.objects.groups.remove(&c.id).is_some()
        {
            snap.objects.members_known.remove(&c.id);
            removed.insert(c.id.clone());
        }
    }

    // Containers: a DN change moves everything beneath without touching its uSNChanged.
    for c in changes.iter().filter(|c| c.container) {
        // A renamed or moved container may rename `dn:` members (objects outside the
        // scope) without any change to them or their groups.
        outside = true;
        match snap.containers.get(&c.id).cloned() {
            Some(old) if codec::dn_key(&old) == codec::dn_key(&c.dn) => {}
            Some(old) => {
                let beneath = |dn: &Option<String>| {
                    dn.as_deref().is_some_and(|dn| codec::is_within(dn, &old))
                };
                let holds = snap
                    .objects
                    .users
                    .values()
                    .filter(|u| !fresh.contains(&u.id))
                    .any(|u| beneath(&u.location))
                    || snap
                        .objects
                        .groups
                        .values()
                        .filter(|g| !fresh.contains(&g.id))
                        .any(|g| beneath(&g.location))
                    || snap
                        .containers
                        .iter()
                        .any(|(id, dn)| *id != c.id && codec::is_within(dn, &old));
                if holds {
                    return Err(format!(
                        "{old} was renamed, moved or deleted, which changes the DNs beneath it without changing their uSNChanged"
                    ));
                }
                if in_scope(&c.dn) {
                    snap.containers.insert(c.id.clone(), c.dn.clone());
                } else {
                    snap.containers.remove(&c.id);
                }
            }
            None if in_scope(&c.dn) => {
                if c.usn_created <= since {
                    return Err(format!("{} moved into scope with whatever it holds", c.dn));
                }
                snap.containers.insert(c.id.clone(), c.dn.clone());
            }
            None => {}
        }
    }

    // Changed objects in scope replace their entries.
    let mut moved_in = false;
    let changed = users.len() + groups.len();
    let mut reread = BTreeSet::new();
    for (u, created) in users {
        if !snap.objects.users.contains_key(&u.id) && created <= since {
            moved_in = true;
        }
        snap.objects.users.insert(u.id.clone(), u);
    }
    for (g, created) in groups {
        if !snap.objects.groups.contains_key(&g.id) && created <= since {
            moved_in = true;
        }
        reread.insert(g.id.clone());
        snap.objects.groups.insert(g.id.clone(), g);
    }

    let managers = if moved_in {
        ManagerRereads::All
    } else {
        ManagerRereads::Users(
            snap.objects
                .users
                .values()
                .filter(|u| !fresh.contains(&u.id))
                .filter(|u| {
                    u.attribute(MANAGER).is_some_and(|m| {
                        removed.contains(m) || (outside && m.starts_with(DN_ID_PREFIX))
                    })
                })
                .map(|u| u.id.clone())
                .collect(),
        )
    };

    let dn_rule = outside || moved_in;
    for g in snap.objects.groups.values() {
        // An object moved into the scope or restored from the Recycle Bin brings its
        // group links back without changing those groups' uSNChanged, and its old
        // `dn:` id may not be the DN it had: every member list is read again.
        let stale = moved_in
            || !snap.objects.members_known.contains(&g.id)
            || (dn_rule
                && g.member_ids
                    .iter()
                    .any(|m| m.starts_with(DN_ID_PREFIX) || removed.contains(m.as_str())));
        if stale {
            reread.insert(g.id.clone());
        }
    }
    for id in &reread {
        snap.objects.members_known.remove(id);
        if let Some(g) = snap.objects.groups.get_mut(id) {
            g.member_ids.clear();
        }
    }
    Ok(Merged {
        reread,
        changed,
        removed: removed.len(),
        managers,
    })
}

/// The observed state of a snapshot whose wanted groups all have known members.
pub fn observed_from(
    snap: Snapshot,
    app: &str,
    scope: &ReadScope,
    directory_id: Option<String>,
) -> ObservedApp {
    let groups = snap
        .objects
        .groups
        .into_values()
        .map(|mut g| {
            if !read::wants_members(scope, &g.name) {
                g.member_ids.clear();
            }
            g
        })
        .collect();
    read::assemble(
        app,
        snap.objects.users.into_values().collect(),
        groups,
        directory_id,
    )
}

// ---------------------------------------------------------------------------------------
// Reading (the shell)
// ---------------------------------------------------------------------------------------

fn usn_created(entry: &SearchEntry) -> Result<u64> {
    read::first(entry, "uSNCreated")
        .and_then(|v| v.parse::<u64>().ok())
        .ok_or_else(|| anyhow!("{} has no uSNCreated", entry.dn))
}

fn changed_from_entry(entry: &SearchEntry) -> Result<Changed> {
    let container = entry
        .attrs
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("objectClass"))
        .is_some_and(|(_, v)| {
            v.iter()
                .any(|c| CONTAINER_CLASSES.iter().any(|k| c.eq_ignore_ascii_case(k)))
        });
    Ok(Changed {
        id: read::guid_of(entry)?,
        dn: entry.dn.clone(),
        container,
        usn_created: usn_created(entry)?,
    })
}

/// The naming contexts holding `users_ou` and `groups_ou`: deleted objects live in
/// their `CN=Deleted Objects`, and a moved-out object anywhere in them, so the change
/// scan searches them rather than `base_dn` (which may be narrower).
fn scan_bases(app: &ActiveDirectoryApp, dsa: &Dsa) -> Result<Vec<String>> {
    let mut bases = Vec::new();
    for ou in [&app.users_ou, &app.groups_ou] {
        let nc = dsa
            .naming_contexts
            .iter()
            .filter(|nc| codec::is_within(ou, nc))
            .max_by_key(|nc| nc.len())
            .ok_or_else(|| anyhow!("no naming context of the server holds {ou}"))?;
        if !bases
            .iter()
            .any(|b: &String| codec::dn_key(b) == codec::dn_key(nc))
        {
            bases.push(nc.clone());
        }
    }
    Ok(bases)
}

/// The OUs and containers under `users_ou` and `groups_ou`, themselves included.
async fn read_containers(
    ldap: &Ldap,
    app: &ActiveDirectoryApp,
) -> Result<BTreeMap<String, String>> {
    let filter = class_filter(CONTAINER_CLASSES);
    let mut out = BTreeMap::new();
    for ou in [&app.users_ou, &app.groups_ou] {
        for entry in read::paged_search(ldap, ou, &filter, &["objectGUID"]).await? {
            out.insert(read::guid_of(&entry)?, entry.dn);
        }
    }
    Ok(out)
}

async fn incremental(
    ldap: &Ldap,
    app: &ActiveDirectoryApp,
    scope: &ReadScope,
    mut snap: Snapshot,
    dsa: &Dsa,
) -> Result<(Snapshot, ReadKind), Failure> {
    if dsa.usn < snap.usn {
        return Err(Failure::Restart(format!(
            "the domain controller's highestCommittedUSN {} is below the snapshot's {}",
            dsa.usn, snap.usn
        )));
    }
    let since = snap.usn + 1;

    // 1. The change scan, before the searches in scope (see the module doc).
    let scan_filter = format!("(&{}(uSNChanged>={since}))", class_filter(SCAN_CLASSES));
    let show_deleted = RawControl {
        ctype: SHOW_DELETED_OID.to_string(),
        crit: true,
        val: None,
    };
    let mut changes = Vec::new();
    let mut entries = 0usize;
    for base in scan_bases(app, dsa)? {
        let scan = read::paged_search_with(
            ldap,
            &base,
            &scan_filter,
            &["objectGUID", "objectClass", "uSNCreated"],
            vec![show_deleted.clone()],
        )
        .await
        .with_context(|| format!("scanning changes under {base}"))?;
        entries += scan.len();
        for entry in &scan {
            changes.push(changed_from_entry(entry)?);
        }
    }

    let scanned = entries;

    // 2. What changed in scope, with what a full read asks for.
    let schema = UserSchema::of(app);
    let mut user_attrs = schema.attr_names();
    user_attrs.push("uSNCreated");
    let all_members = scope.member_groups.is_none();
    let first_range = read::first_member_range();
    let mut group_attrs = read::group_attr_names(all_members.then_some(first_range.as_str()));
    group_attrs.push("uSNCreated");
    let user_filter = format!("(&{USER_FILTER}(uSNChanged>={since}))");
    let group_filter = format!("(&{GROUP_FILTER}(uSNChanged>={since}))");
    let (user_entries, group_entries) = tokio::join!(
        read::paged_search(ldap, &app.users_ou, &user_filter, &user_attrs),
        read::paged_search(ldap, &app.groups_ou, &group_filter, &group_attrs),
    );
    let user_entries = user_entries.context("reading changed users")?;
    let group_entries = group_entries.context("reading changed groups")?;
    entries += user_entries.len() + group_entries.len();
    let mut users = Vec::with_capacity(user_entries.len());
    let mut fresh_managers: Vec<(String, Option<String>)> = Vec::with_capacity(users.len());
    for entry in &user_entries {
        let user = read::user_from_entry(entry, &schema)?;
        fresh_managers.push((user.id.clone(), read::manager_dn(entry).map(str::to_string)));
        users.push((user, usn_created(entry)?));
    }
    let mut groups = Vec::with_capacity(group_entries.len());
    let mut group_entry: HashMap<String, SearchEntry> = HashMap::new();
    for entry in group_entries {
        let g = read::group_from_entry(&entry)?;
        groups.push((g.clone(), usn_created(&entry)?));
        group_entry.insert(g.id, entry);
    }

    // 3. Merge: replace, remove, decide which managers and member lists to read.
    let merged = merge(
        &mut snap,
        users,
        groups,
        &changes,
        &app.users_ou,
        &app.groups_ou,
    )
    .map_err(Failure::Restart)?;

    // 4. Managers, resolved as a full read resolves them: the changed users' from their
    // entries, the others' read again where the merge says they may have changed.
    let users_by_dn: HashMap<String, String> = snap
        .objects
        .users
        .values()
        .filter_map(|u| {
            u.location
                .as_ref()
                .map(|dn| (codec::dn_key(dn), u.id.clone()))
        })
        .collect();
    for (id, dn) in &fresh_managers {
        if let Some(u) = snap.objects.users.get_mut(id) {
            read::set_manager(u, dn.as_deref(), &users_by_dn);
        }
    }
    match &merged.managers {
        ManagerRereads::All => {
            let filter = format!("(&{USER_FILTER}({MANAGER_ATTR}=*))");
            let hits =
                read::paged_search(ldap, &app.users_ou, &filter, &["objectGUID", MANAGER_ATTR])
                    .await
                    .context("reading the managers of users")?;
            entries += hits.len();
            let mut found: HashMap<String, String> = HashMap::with_capacity(hits.len());
            for entry in &hits {
                if let Some(dn) = read::manager_dn(entry) {
                    found.insert(read::guid_of(entry)?, dn.to_string());
                }
            }
            for u in snap.objects.users.values_mut() {
                read::set_manager(u, found.get(&u.id).map(String::as_str), &users_by_dn);
            }
        }
        ManagerRereads::Users(ids) => {
            for id in ids {
                let Some(u) = snap.objects.users.get_mut(id) else {
                    continue;
                };
                let dn = u.location.clone().unwrap_or_default();
                entries += 1;
                let entry = read::read_base(ldap, &dn, &[MANAGER_ATTR])
                    .await
                    .with_context(|| format!("reading the manager of {dn}"))?
                    .ok_or_else(|| {
                        Failure::Restart(format!("{dn} vanished while its manager was read"))
                    })?;
                read::set_manager(u, read::manager_dn(&entry), &users_by_dn);
            }
        }
    }

    // 5. Member lists, resolved as a full read resolves them.
    let mut by_dn: HashMap<String, String> =
        HashMap::with_capacity(snap.objects.users.len() + snap.objects.groups.len());
    for (id, dn) in snap
        .objects
        .users
        .values()
        .map(|u| (&u.id, &u.location))
        .chain(snap.objects.groups.values().map(|g| (&g.id, &g.location)))
    {
        if let Some(dn) = dn {
            by_dn.insert(codec::dn_key(dn), id.clone());
        }
    }
    let mut member_lists = 0usize;
    for id in &merged.reread {
        let Some(g) = snap.objects.groups.get(id) else {
            continue;
        };
        if !read::wants_members(scope, &g.name) {
            continue;
        }
        let dn = g.location.clone().unwrap_or_default();
        let dns = match group_entry.get(id) {
            Some(entry) => read::group_member_dns(ldap, entry, all_members, &mut entries).await,
            None => read::member_dns_of(ldap, &dn, &mut entries).await,
        }
        .with_context(|| format!("reading the members of {dn}"))?;
        member_lists += 1;
        let members = read::resolve_members(&dns, &by_dn);
        if let Some(g) = snap.objects.groups.get_mut(id) {
            g.member_ids = members;
            snap.objects.members_known.insert(id.clone());
        }
    }
    if let Some(g) = snap.objects.groups.values().find(|g| {
        read::wants_members(scope, &g.name) && !snap.objects.members_known.contains(&g.id)
    }) {
        return Err(Failure::Restart(format!(
            "the members of {} are unknown",
            g.name
        )));
    }
    snap.usn = dsa.usn;
    Ok((
        snap,
        ReadKind::Incremental {
            changed: merged.changed,
            removed: merged.removed,
            member_lists,
            scanned,
            entries,
        },
    ))
}

/// Reads the app using (and refreshing) the snapshot at `path`.
pub async fn read_cached(
    ldap: &Ldap,
    app: &ActiveDirectoryApp,
    scope: &ReadScope,
    directory_id: Option<String>,
    path: &Path,
) -> Result<(ObservedApp, ReadKind)> {
    let now = now_unix();
    let dsa = match read_dsa(ldap).await {
        Ok(dsa) => dsa,
        Err(e) if is_transport(&e) => {
            return Err(e.context("reading the rootDSE"));
        }
        Err(e) => {
            let why = format!("cannot read the change watermark: {e:#}");
            tracing::warn!(app = %app.name, "full read, no snapshot: {why}");
            let observed = read::read(ldap, app, scope, directory_id).await?;
            return Ok((observed, ReadKind::Full(Some(why))));
        }
    };
    let identity = Identity::new(app, directory_id.clone(), &dsa);
    let full = match load(path, &identity, now) {
        Ok(Some(snap)) => match incremental(ldap, app, scope, snap, &dsa).await {
            Ok((snap, kind)) => {
                save(&app.name, path, &snap.as_ref(), &identity, now);
                tracing::info!(app = %app.name, ?kind, usn = dsa.usn, "incremental read");
                return Ok((observed_from(snap, &app.name, scope, directory_id), kind));
            }
            Err(Failure::Fatal(e)) => {
                return Err(e.context("incremental read"));
            }
            Err(Failure::Restart(why)) => {
                FullRead::failed(format!("the incremental read failed: {why}"))
            }
        },
        Ok(None) => FullRead::default(),
        Err(u) => FullRead::from(u),
    };
    full.log(&app.name);
    // The USN was read before these searches: what changes during them is seen again.
    let (observed, containers) = tokio::join!(
        read::read_counted(ldap, app, scope, directory_id),
        read_containers(ldap, app),
    );
    let (observed, entries) = observed?;
    match containers {
        Ok(containers) => {
            let members_known: BTreeSet<String> = observed
                .groups
                .iter()
                .filter(|g| read::wants_members(scope, &g.name))
                .map(|g| g.id.clone())
                .collect();
            let snap = SnapshotRef {
                full_read_at: now,
                usn: dsa.usn,
                objects: ObjectsRef::new(&observed.users, &observed.groups, &members_known),
                containers: &containers,
            };
            save(&app.name, path, &snap, &identity, now);
        }
        Err(e) if is_transport(&e) => {
            return Err(e.context("reading the OUs in scope"));
        }
        Err(e) => {
            tracing::warn!(app = %app.name, "no snapshot written: cannot read the OUs in scope: {e:#}");
        }
    }
    tracing::info!(app = %app.name, entries, usn = dsa.usn, "full read");
    Ok((observed, ReadKind::Full(full.why)))
}

#[cfg(test)]
mod tests {
    use super::*;

    const USERS: &str = "OU=Users,OU=T,DC=x";
    const GROUPS: &str = "OU=Groups,OU=T,DC=x";

    fn dsa() -> Dsa {
        Dsa {
            usn: 100,
            service_name: "CN=NTDS Settings,CN=DC1,DC=x".into(),
            invocation_id: "inv-1".into(),
            naming_contexts: vec!["DC=x".into(), "CN=Configuration,DC=x".into()],
        }
    }

    fn app() -> ActiveDirectoryApp {
        ActiveDirectoryApp {
            joiner: None,
            leaver: None,
            attribute_map: Default::default(),
            on_create: Default::default(),
            name: "ad".into(),
            url: "ldaps://dc.x".into(),
            base_dn: "DC=x".into(),
            users_ou: USERS.into(),
            groups_ou: GROUPS.into(),
            bind_dn: "CN=a,DC=x".into(),
            bind_password: crate::desired::SecretRef::Env("PW".into()),
            tls: None,
            starttls: None,
            authorized_domains: None,
            switches: crate::desired::Switches::default(),
            ignore: Vec::new(),
            max_deletes: None,
        }
    }

    fn identity() -> Identity {
        Identity::new(&app(), Some("S-1-5-21-1".into()), &dsa())
    }

    fn user(id: &str, cn: &str) -> ObservedUser {
        ObservedUser {
            id: id.into(),
            login: cn.to_lowercase(),
            username: Some(cn.to_lowercase()),
            enabled: true,
            attributes: Attributes::from([("email", format!("{cn}@x"))]),
            licenses: BTreeSet::new(),
            location: Some(format!("CN={cn},{USERS}")),
            ..Default::default()
        }
    }

    fn group(id: &str, cn: &str, members: &[&str]) -> ObservedGroup {
        ObservedGroup {
            id: id.into(),
            name: cn.into(),
            description: None,
            kind: "security".into(),
            member_ids: members
                .iter()
                .map(|s| crate::observed::MemberId::new(s))
                .collect(),
            location: Some(format!("CN={cn},{GROUPS}")),
            ..Default::default()
        }
    }

    fn sample() -> Snapshot {
        let mut admin = user("u2", "B");
        admin.protections = vec![Protection::AdminSdHolder];
        let mut a = user("u1", "A");
        a.attributes.insert(MANAGER.to_string(), "u2".to_string());
        let users = [a, admin, user("u3", "C")];
        let groups = [
            group("g1", "G1", &["u1", "g2", "dn:CN=Out,OU=T,DC=x"]),
            group("g2", "G2", &["u2"]),
            group("g3", "G3", &[]),
            group("g4", "G4", &["u3"]),
        ];
        Snapshot {
            full_read_at: 1000,
            written_at: 1010,
            usn: 50,
            objects: Objects {
                users: users.into_iter().map(|u| (u.id.clone(), u)).collect(),
                groups: groups.into_iter().map(|g| (g.id.clone(), g)).collect(),
                members_known: ["g1", "g2", "g4"].iter().map(|s| s.to_string()).collect(),
            },
            containers: BTreeMap::from([
                ("c-users".to_string(), USERS.to_string()),
                ("c-groups".to_string(), GROUPS.to_string()),
                ("c-sub".to_string(), format!("OU=Sub,{USERS}")),
            ]),
        }
    }

    fn changed(id: &str, dn: &str, container: bool, usn_created: u64) -> Changed {
        Changed {
            id: id.into(),
            dn: dn.into(),
            container,
            usn_created,
        }
    }

    /// [`sample`] as a file of this [`FORMAT`], byte for byte: what earlier rosters wrote
    /// and this one reads.
    const PINNED: &str = r#"{"format":4,"identity":{"app":"ad","url":"ldaps://dc.x","base_dn":"DC=x","users_ou":"OU=Users,OU=T,DC=x","groups_ou":"OU=Groups,OU=T,DC=x","directory_id":"S-1-5-21-1","dsa":"CN=NTDS Settings,CN=DC1,DC=x","invocation_id":"inv-1","attributes":"objectGUID,sAMAccountName,userAccountControl,email=mail,first_name=givenName,last_name=sn,display_name=displayName,department=department,job_title=title,employee_id=employeeID,pwd_last_set=pwdLastSet,manager=manager,adminCount;objectGUID,cn,description"},"full_read_at":1000,"written_at":1010,"usn":50}
{"body_len":586,"sha256":"397be72c340169cdb859892e9ecd1ede9ce631fdb8e1965abd5bbb625af7192f"}
{"users":[["u1","CN=A,OU=Users,OU=T,DC=x","a",true,{"email":"A@x","manager":"u2"},false],["u2","CN=B,OU=Users,OU=T,DC=x","b",true,{"email":"B@x"},true],["u3","CN=C,OU=Users,OU=T,DC=x","c",true,{"email":"C@x"},false]],"groups":[["g1","CN=G1,OU=Groups,OU=T,DC=x","G1",null,[7,4,0]],["g2","CN=G2,OU=Groups,OU=T,DC=x","G2",null,[1]],["g3","CN=G3,OU=Groups,OU=T,DC=x","G3",null,null],["g4","CN=G4,OU=Groups,OU=T,DC=x","G4",null,[2]]],"extra_ids":["dn:CN=Out,OU=T,DC=x"],"containers":[["c-groups","OU=Groups,OU=T,DC=x"],["c-sub","OU=Sub,OU=Users,OU=T,DC=x"],["c-users","OU=Users,OU=T,DC=x"]]}"#;

    /// A file of format 3, whose attributes were a fixed list: never used, so the first
    /// read after an upgrade is a full one that reads the mapped attributes.
    const PINNED_V3: &str = r#"{"format":3,"identity":{"app":"ad","url":"ldaps://dc.x","base_dn":"DC=x","users_ou":"OU=Users,OU=T,DC=x","groups_ou":"OU=Groups,OU=T,DC=x","directory_id":"S-1-5-21-1","dsa":"CN=NTDS Settings,CN=DC1,DC=x","invocation_id":"inv-1","attributes":"objectGUID,sAMAccountName,userAccountControl,mail,givenName,sn,displayName,department,title,employeeID,pwdLastSet,adminCount;objectGUID,cn,description"},"full_read_at":1000,"written_at":1010,"usn":50}
{"body_len":652,"sha256":"5bb9f4d60e09632d37fc8ea38d192694f72434920a5c78f6dd5d163ac72ae6ad"}
{"users":[["u1","CN=A,OU=Users,OU=T,DC=x","a",true,["A@x",null,null,null,null,null,null,null],false],["u2","CN=B,OU=Users,OU=T,DC=x","b",true,["B@x",null,null,null,null,null,null,null],true],["u3","CN=C,OU=Users,OU=T,DC=x","c",true,["C@x",null,null,null,null,null,null,null],false]],"groups":[["g1","CN=G1,OU=Groups,OU=T,DC=x","G1",null,[7,4,0]],["g2","CN=G2,OU=Groups,OU=T,DC=x","G2",null,[1]],["g3","CN=G3,OU=Groups,OU=T,DC=x","G3",null,null],["g4","CN=G4,OU=Groups,OU=T,DC=x","G4",null,[2]]],"extra_ids":["dn:CN=Out,OU=T,DC=x"],"containers":[["c-groups","OU=Groups,OU=T,DC=x"],["c-sub","OU=Sub,OU=Users,OU=T,DC=x"],["c-users","OU=Users,OU=T,DC=x"]]}"#;

    /// A file of format 2, which knew nothing of `adminCount`: never used, so the
    /// first read after an upgrade is a full one that sees every protection.
    const PINNED_V2: &str = r#"{"format":2,"identity":{"app":"ad","url":"ldaps://dc.x","base_dn":"DC=x","users_ou":"OU=Users,OU=T,DC=x","groups_ou":"OU=Groups,OU=T,DC=x","directory_id":"S-1-5-21-1","dsa":"CN=NTDS Settings,CN=DC1,DC=x","invocation_id":"inv-1","attributes":"objectGUID,sAMAccountName,userAccountControl,mail,givenName,sn,displayName,department,title,employeeID,pwdLastSet;objectGUID,cn,description"},"full_read_at":1000,"written_at":1010,"usn":50}
{"body_len":635,"sha256":"f64cdd13edc914d161947f53d8d19ba599efbdbf213f66e12ebdd77f95be55b8"}
{"users":[["u1","CN=A,OU=Users,OU=T,DC=x","a",true,["A@x",null,null,null,null,null,null,null]],["u2","CN=B,OU=Users,OU=T,DC=x","b",true,["B@x",null,null,null,null,null,null,null]],["u3","CN=C,OU=Users,OU=T,DC=x","c",true,["C@x",null,null,null,null,null,null,null]]],"groups":[["g1","CN=G1,OU=Groups,OU=T,DC=x","G1",null,[7,4,0]],["g2","CN=G2,OU=Groups,OU=T,DC=x","G2",null,[1]],["g3","CN=G3,OU=Groups,OU=T,DC=x","G3",null,null],["g4","CN=G4,OU=Groups,OU=T,DC=x","G4",null,[2]]],"extra_ids":["dn:CN=Out,OU=T,DC=x"],"containers":[["c-groups","OU=Groups,OU=T,DC=x"],["c-sub","OU=Sub,OU=Users,OU=T,DC=x"],["c-users","OU=Users,OU=T,DC=x"]]}"#;

    #[test]
    fn snapshots_round_trip() {
        let mut s = sample();
        // Unknown members are not written: decoding gives them back empty.
        s.objects
            .groups
            .get_mut("g3")
            .expect("g3")
            .member_ids
            .clear();
        let bytes = encode(&s.as_ref(), &identity(), 1010).expect("encode");
        let back = decode(&bytes, &identity(), 1020).expect("decode");
        assert_eq!(back, s);
        let text = String::from_utf8_lossy(&bytes);
        assert!(!text.contains("PW"), "no secret reference in the file");
        assert_eq!(text, PINNED);
        assert_eq!(decode(PINNED.as_bytes(), &identity(), 1020), Ok(s));
        for (old, format) in [(PINNED_V2, 2), (PINNED_V3, 3)] {
            assert!(
                decode(old.as_bytes(), &identity(), 1020)
                    .unwrap_err()
                    .0
                    .contains(&format!("written in format {format}")),
            );
        }
    }

    #[test]
    fn unusable_snapshots_are_detected() {
        let bytes = encode(&sample().as_ref(), &identity(), 1010).expect("encode");
        let why = |id: &Identity, now: i64, bytes: &[u8]| decode(bytes, id, now).unwrap_err().0;
        let mut other = identity();
        other.app = "other".into();
        assert!(why(&other, 1020, &bytes).contains("written for app ad"));
        let mut other = identity();
        other.directory_id = Some("S-1-5-21-2".into());
        assert!(why(&other, 1020, &bytes).contains("another domain"));
        let mut other = identity();
        other.dsa = "CN=NTDS Settings,CN=DC2,DC=x".into();
        assert!(why(&other, 1020, &bytes).contains("another domain controller"));
        let mut other = identity();
        other.invocation_id = "inv-2".into();
        assert!(why(&other, 1020, &bytes).contains("invocationId"));
        let mut other = identity();
        other.users_ou = "OU=Else,DC=x".into();
        assert!(why(&other, 1020, &bytes).contains("users_ou"));
        let mut other = identity();
        other.attributes = "x".into();
        assert!(why(&other, 1020, &bytes).contains("other attributes"));
        // A changed mapping reads other attributes: a full read.
        let mut mapped = app();
        mapped
            .attribute_map
            .insert("company".into(), Some("Contoso".into()));
        let other = Identity::new(&mapped, Some("S-1-5-21-1".into()), &dsa());
        assert!(why(&other, 1020, &bytes).contains("attribute_map"));
        assert!(why(&identity(), 1000 + MAX_AGE_SECS + 1, &bytes).contains("days old"));
        assert!(why(&identity(), 10, &bytes).contains("future"));
        let mut flipped = bytes.clone();
        let n = flipped.len();
        flipped[n - 10] ^= 0x01;
        assert!(why(&identity(), 1020, &flipped).contains("checksum"));
        assert!(why(&identity(), 1020, &bytes[..n - 5]).contains("truncated"));
        assert!(why(&identity(), 1020, b"not a snapshot").contains("header"));
        assert!(why(&identity(), 1020, b"{}\n{}").contains("seal"));
    }

    #[test]
    fn changed_objects_replace_and_changed_groups_are_reread() {
        let mut s = sample();
        let mut a = user("u1", "A");
        a.enabled = false;
        let m = merge(
            &mut s,
            vec![(a, 10)],
            vec![(group("g2", "G2", &[]), 12)],
            &[changed("u1", "x", false, 10), changed("g2", "x", false, 12)],
            USERS,
            GROUPS,
        )
        .expect("merge");
        assert!(!s.objects.users["u1"].enabled);
        // g2 changed, g3's members are unknown; g1 and g4 keep theirs.
        assert_eq!(m.reread, BTreeSet::from(["g2".into(), "g3".into()]));
        assert_eq!((m.changed, m.removed), (2, 0));
        assert_eq!(s.objects.groups["g1"].member_ids.len(), 3);
    }

    #[test]
    fn departures_reread_groups_that_held_them_or_dn_members() {
        let mut s = sample();
        // u3 deleted (its tombstone), u2 moved out: no longer in the scoped searches.
        let m = merge(
            &mut s,
            vec![],
            vec![],
            &[
                changed("u3", "CN=C\\0ADEL:u3,CN=Deleted Objects,DC=x", false, 5),
                changed("u2", "CN=B,OU=Else,DC=x", false, 6),
            ],
            USERS,
            GROUPS,
        )
        .expect("merge");
        assert!(!s.objects.users.contains_key("u3") && !s.objects.users.contains_key("u2"));
        assert_eq!(m.removed, 2);
        // g1 has a dn: member, g2 held u2, g4 held u3; g3 is unknown.
        assert_eq!(
            m.reread,
            ["g1", "g2", "g3", "g4"]
                .iter()
                .map(|s| s.to_string())
                .collect()
        );
        assert!(s.objects.members_known.is_empty());
    }

    #[test]
    fn a_change_outside_rereads_dn_member_groups_and_a_move_in_rereads_all() {
        let mut s = sample();
        let m = merge(
            &mut s,
            vec![],
            vec![],
            &[changed("elsewhere", "CN=Out,OU=T,DC=x", false, 5)],
            USERS,
            GROUPS,
        )
        .expect("merge");
        assert_eq!(m.reread, BTreeSet::from(["g1".into(), "g3".into()]));

        let mut s = sample();
        let mut out = user("u9", "Out");
        out.location = Some(format!("CN=Out,{USERS}"));
        let m = merge(
            &mut s,
            vec![(out.clone(), 40)],
            vec![],
            &[changed("u9", &format!("CN=Out,{USERS}"), false, 40)],
            USERS,
            GROUPS,
        )
        .expect("merge");
        // Moved in (or restored): its links may be back in any group.
        assert_eq!(
            m.reread,
            ["g1", "g2", "g3", "g4"]
                .iter()
                .map(|g| g.to_string())
                .collect()
        );

        // Created after the snapshot: no group can hold it unless the group changed.
        let mut s = sample();
        let m = merge(&mut s, vec![(out, 60)], vec![], &[], USERS, GROUPS).expect("merge");
        assert_eq!(m.reread, BTreeSet::from(["g3".into()]));
    }

    /// A user's `manager` follows or drops its object without a change to the user:
    /// those whose manager left, or is a `dn:` id when something outside changed, are
    /// read again, and everyone when an object moved in.
    #[test]
    fn managers_that_may_have_changed_are_read_again() {
        let with_managers = || {
            let mut s = sample();
            let set = |s: &mut Snapshot, id: &str, m: &str| {
                s.objects
                    .users
                    .get_mut(id)
                    .expect("user")
                    .attributes
                    .insert(MANAGER.to_string(), m.to_string());
            };
            set(&mut s, "u1", "u2");
            set(&mut s, "u3", "dn:CN=Boss,OU=T,DC=x");
            s
        };
        let rereads = |s: &mut Snapshot, users: Vec<(ObservedUser, u64)>, changes: &[Changed]| {
            merge(s, users, vec![], changes, USERS, GROUPS)
                .expect("merge")
                .managers
        };
        let ids = |v: &[&str]| ManagerRereads::Users(v.iter().map(|s| s.to_string()).collect());
        // Nothing that could move a manager: none.
        let mut s = with_managers();
        assert_eq!(rereads(&mut s, vec![], &[]), ids(&[]));
        // u2 (u1's manager) deleted; and a change outside reaches the dn: manager.
        let mut s = with_managers();
        let gone = changed("u2", "CN=B\\0ADEL:u2,CN=Deleted Objects,DC=x", false, 5);
        assert_eq!(rereads(&mut s, vec![], &[gone]), ids(&["u1", "u3"]));
        // A change outside only: the dn: manager.
        let mut s = with_managers();
        let out = changed("elsewhere", "CN=Boss,OU=T,DC=x", false, 5);
        assert_eq!(rereads(&mut s, vec![], &[out]), ids(&["u3"]));
        // A changed user brings its own manager: not read again.
        let mut s = with_managers();
        let gone = changed("u2", "CN=B\\0ADEL:u2,CN=Deleted Objects,DC=x", false, 5);
        let u1 = (user("u1", "A"), 10);
        let u1_changed = changed("u1", &format!("CN=A,{USERS}"), false, 10);
        assert_eq!(rereads(&mut s, vec![u1], &[gone, u1_changed]), ids(&["u3"]));
        // Moved in: every user.
        let mut s = with_managers();
        let mut back = user("u9", "Back");
        back.location = Some(format!("CN=Back,{USERS}"));
        let moved = changed("u9", &format!("CN=Back,{USERS}"), false, 40);
        assert_eq!(
            rereads(&mut s, vec![(back, 40)], &[moved]),
            ManagerRereads::All
        );
    }

    #[test]
    fn container_dn_changes_need_a_full_read_when_they_hold_objects() {
        let mut s = sample();
        s.objects.users.get_mut("u1").expect("u1").location = Some(format!("CN=A,OU=Sub,{USERS}"));
        let renamed = changed("c-sub", &format!("OU=Sub2,{USERS}"), true, 3);
        assert!(
            merge(
                &mut s.clone(),
                vec![],
                vec![],
                std::slice::from_ref(&renamed),
                USERS,
                GROUPS
            )
            .unwrap_err()
            .contains("renamed, moved or deleted")
        );
        // Unless every object beneath it was read again anyway.
        let mut a = user("u1", "A");
        a.location = Some(format!("CN=A,OU=Sub2,{USERS}"));
        let mut t = s.clone();
        merge(
            &mut t,
            vec![(a, 2)],
            vec![],
            std::slice::from_ref(&renamed),
            USERS,
            GROUPS,
        )
        .expect("merge");
        assert_eq!(t.containers["c-sub"], format!("OU=Sub2,{USERS}"));
        // An attribute change (same DN) is nothing.
        let same = changed("c-sub", &format!("ou=sub,{USERS}"), true, 3);
        merge(&mut s.clone(), vec![], vec![], &[same], USERS, GROUPS).expect("merge");
        // An OU moved into scope may hold anything; a new one is tracked.
        let moved_in = changed("c-new", &format!("OU=New,{GROUPS}"), true, 7);
        assert!(
            merge(&mut s.clone(), vec![], vec![], &[moved_in], USERS, GROUPS)
                .unwrap_err()
                .contains("moved into scope")
        );
        let created = changed("c-new", &format!("OU=New,{GROUPS}"), true, 70);
        let mut t = s.clone();
        merge(&mut t, vec![], vec![], &[created], USERS, GROUPS).expect("merge");
        assert!(t.containers.contains_key("c-new"));
        // An empty one deleted is forgotten.
        let mut t = s.clone();
        t.objects.users.get_mut("u1").expect("u1").location = Some(format!("CN=A,{USERS}"));
        let deleted = changed("c-sub", "OU=Sub\\0ADEL:c,CN=Deleted Objects,DC=x", true, 3);
        merge(
            &mut t,
            vec![],
            vec![],
            std::slice::from_ref(&deleted),
            USERS,
            GROUPS,
        )
        .expect("merge");
        assert!(!t.containers.contains_key("c-sub"));
        // So is one emptied in the same round.
        let mut t = s.clone();
        let gone = changed("u1", "CN=A\\0ADEL:u1,CN=Deleted Objects,DC=x", false, 2);
        merge(&mut t, vec![], vec![], &[deleted, gone], USERS, GROUPS).expect("merge");
        assert!(!t.containers.contains_key("c-sub") && !t.objects.users.contains_key("u1"));
    }

    #[test]
    fn unwanted_groups_come_out_without_members() {
        let s = sample();
        let scope = ReadScope {
            deleted_groups: Default::default(),
            managers: Default::default(),
            user_fields: Default::default(),
            member_groups: Some(BTreeSet::from(["G2".to_string()])),
        };
        let o = observed_from(s, "ad", &scope, None);
        assert_eq!(o.users.len(), 3);
        let by_name = |n: &str| o.groups.iter().find(|g| g.name == n).expect("group");
        assert!(by_name("G1").member_ids.is_empty());
        assert_eq!(by_name("G2").member_ids.len(), 1);
    }

    #[test]
    fn scan_bases_are_the_naming_contexts_of_the_ous() {
        assert_eq!(scan_bases(&app(), &dsa()).expect("bases"), vec!["DC=x"]);
        let mut d = dsa();
        d.naming_contexts = vec!["DC=y".into()];
        assert!(scan_bases(&app(), &d).is_err());
    }

    #[test]
    fn transport_errors_are_recognised_through_context() {
        let e: anyhow::Error = super::super::conn::Transport("reset".into()).into();
        let e = e.context("scanning").context("app x");
        assert!(is_transport(&e));
        assert!(matches!(Failure::from(e), Failure::Fatal(_)));
        let e = anyhow!("search failed: LDAP result 12").context("scanning");
        assert!(matches!(Failure::from(e), Failure::Restart(w) if w.contains("result 12")));
    }
}
