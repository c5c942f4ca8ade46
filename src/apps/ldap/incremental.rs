//! Incremental reads: a snapshot of the entries a full read fetched (users under
//! `users_ou`, groups under `groups_ou`, with the attributes a full read asks for),
//! kept per app under `.roster/cache` with each entry's change stamp, so that a drift
//! check after a few changes fetches only what changed instead of every user and every
//! member list.
//!
//! The change stamp is `entryCSN` (OpenLDAP: microseconds and a change counter, new on
//! every write) where the server returns it, else `modifyTimestamp` (RFC 4512, one
//! second). How a read goes:
//! 1. The scan: one search of each OU with the full read's filter that asks only for
//!    `entryUUID` and the stamps (a few dozen bytes per entry).
//! 2. Entries the snapshot lacks or whose stamp differs are fetched, by entryUUID in
//!    OR-filters of [`FETCH_CHUNK`] (a whole OU is searched again when that takes
//!    fewer requests: more than a chunk and a quarter of the OU changed); snapshot entries the scan did not return are gone
//!    (deleted, moved out, no longer matching the filter). The scan's DN replaces the
//!    snapshot's: renaming an OU beneath `users_ou` changes the DNs under it but not
//!    their stamps.
//! 3. Groups holding a member value naming the old DN of an entry that left or was
//!    renamed are fetched too: a server-side referential integrity update (slapo-
//!    memberof's `olcMemberOfRefInt`, slapo-refint) need not change the group's stamp.
//! 4. The observed state is built from the entries by [`read::build`], the very mapping
//!    of a full read, so member values resolve against the users and groups of this
//!    moment; then the snapshot is written.
//!
//! No watermark and no clock are involved: each entry's stamp is compared with the
//! stamp it had when fetched. With `modifyTimestamp` only, an entry written twice in one
//! second keeps its stamp; entries stamped less than [`SETTLE_SECS`] before the read
//! (by the local clock) are therefore stored without a stamp and fetched again next
//! time.
//!
//! Any doubt means a full read, logged as a warning: no snapshot; a corrupt, foreign
//! (another app, URL, base_dn, OUs, directory — the base entry's entryUUID — schema
//! settings or attribute_map) or old (last full read more than [`MAX_AGE_SECS`] ago)
//! snapshot; a server that stops returning the snapshot's stamp; any failure of the
//! incremental path other than a transport failure (which is an error, as for a full
//! read). Caches change cost, never results: an incremental read returns what a full
//! read at the moment of its scan returns (tests check it against slapd).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, anyhow};
use ldap3::{Ldap, SearchEntry};
use serde::{Deserialize, Serialize};

use super::Schema;
use super::read::{self, UserAttrs, all};
use crate::apps::ReadScope;
use crate::apps::kit::ldap::{IncrementalFailure as Failure, first, now_unix};
use crate::apps::kit::ldap_codec::{dn_key, filter_value};
use crate::apps::kit::snapshot::{self, FullRead, Header, Unusable, unusable};
use crate::desired::{LdapApp, LdapGroupClass};
use crate::observed::ObservedApp;

/// The snapshot file format; a file of another format is ignored (full read).
pub const FORMAT: u32 = 1;

/// A snapshot whose last full read is older than this is not used.
pub const MAX_AGE_SECS: i64 = 7 * 24 * 3600;

/// With `modifyTimestamp` stamps, entries stamped this recently are fetched again.
pub const SETTLE_SECS: i64 = 300;

/// entryUUIDs per fetch filter.
pub const FETCH_CHUNK: usize = 100;

const CSN: &str = "entryCSN";
const MODIFIED: &str = "modifyTimestamp";
const SCAN_ATTRS: &[&str] = &["entryUUID", CSN, MODIFIED];

/// How a cached read went, for logs and tests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReadKind {
    /// A full read (the reason the snapshot was not used, if there was one).
    Full(Option<String>),
    /// From the snapshot: entries fetched because they are new or changed (or their
    /// group may have been changed by the server), snapshot entries gone, entries the
    /// scan returned (stamps only), and entries the server sent in all.
    Incremental {
        fetched: usize,
        removed: usize,
        scanned: usize,
        entries: usize,
    },
}

/// What a snapshot is valid for; any difference means a full read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Identity {
    pub app: String,
    pub url: String,
    pub base_dn: String,
    pub users_ou: String,
    pub groups_ou: String,
    /// The base entry's entryUUID: another server with the same suffix has another.
    pub directory_id: Option<String>,
    /// The filters and attributes read (schema settings and attribute_map).
    pub reads: String,
}

impl Identity {
    pub fn new(app: &LdapApp, directory_id: Option<String>) -> Self {
        let schema = Schema::of(app);
        let attrs = UserAttrs::of(app);
        let (u, g) = read::attr_names(&schema, &attrs);
        let keys: Vec<String> = attrs
            .attrs
            .iter()
            .map(|(k, a)| format!("{k}={a}"))
            .collect();
        Identity {
            app: app.name.clone(),
            url: app.url.clone(),
            base_dn: app.base_dn.clone(),
            users_ou: app.users_ou.clone(),
            groups_ou: app.groups_ou.clone(),
            directory_id,
            reads: format!(
                "{} {};{};{} {};{}={}",
                schema.user_filter,
                u.join(","),
                keys.join(","),
                schema.group_filter(),
                g.join(","),
                schema.disabled.attribute,
                schema.disabled.value
            ),
        }
    }
}

impl snapshot::Identity for Identity {
    fn app(&self) -> &str {
        &self.app
    }

    fn check(&self, theirs: &Self) -> Result<(), Unusable> {
        if theirs.url != self.url || dn_key(&theirs.base_dn) != dn_key(&self.base_dn) {
            return Err(unusable(format!(
                "written for another directory ({} {})",
                theirs.url, theirs.base_dn
            )));
        }
        if dn_key(&theirs.users_ou) != dn_key(&self.users_ou)
            || dn_key(&theirs.groups_ou) != dn_key(&self.groups_ou)
        {
            return Err(unusable("written for other users_ou or groups_ou"));
        }
        snapshot::same_directory(
            "directory (base entryUUID)",
            &self.directory_id,
            &theirs.directory_id,
        )?;
        if theirs.reads != self.reads {
            return Err(unusable(
                "written for other schema settings or another attribute_map",
            ));
        }
        Ok(())
    }
}

/// The stamp attribute the snapshot's stamps are values of.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Watermark {
    stamp: String,
}

/// One entry on disk: entryUUID, DN, stamp (`""`: fetch again), attributes (name,
/// values) in name order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct DiskEntry(String, String, String, Vec<(String, Vec<String>)>);

#[derive(Debug, Serialize, Deserialize)]
struct Body {
    users: Vec<DiskEntry>,
    groups: Vec<DiskEntry>,
}

/// One cached entry.
#[derive(Debug, Clone)]
pub struct Cached {
    pub stamp: String,
    pub entry: SearchEntry,
}

impl PartialEq for Cached {
    fn eq(&self, other: &Self) -> bool {
        self.stamp == other.stamp
            && self.entry.dn == other.entry.dn
            && self.entry.attrs == other.entry.attrs
    }
}

/// A snapshot in memory: entries by entryUUID.
#[derive(Debug, Clone, PartialEq)]
pub struct Snapshot {
    pub full_read_at: i64,
    /// `entryCSN` or `modifyTimestamp`.
    pub stamp_attr: String,
    pub users: BTreeMap<String, Cached>,
    pub groups: BTreeMap<String, Cached>,
}

/// Where the snapshot of an app lives.
pub fn snapshot_path(cache_dir: &Path, app: &str) -> PathBuf {
    snapshot::path(cache_dir, "ldap", app)
}

fn uuid(entry: &SearchEntry) -> Result<String> {
    first(entry, "entryUUID")
        .map(str::to_string)
        .ok_or_else(|| anyhow!("{} has no entryUUID (RFC 4530)", entry.dn))
}

/// The stamp attribute of a server, from the entries of a search that asked for both.
fn stamp_attr_of<'a>(entries: impl IntoIterator<Item = &'a SearchEntry>) -> &'static str {
    let mut any = false;
    for e in entries {
        any = true;
        if first(e, CSN).is_none() {
            return MODIFIED;
        }
    }
    if any { CSN } else { MODIFIED }
}

/// An entry's stamp, `""` when it has none.
fn stamp_of(entry: &SearchEntry, attr: &str) -> String {
    first(entry, attr).unwrap_or("").to_string()
}

/// Unix seconds of a GeneralizedTime `YYYYMMDDHHMMSS[.f]Z` (modifyTimestamp).
fn generalized_time(v: &str) -> Option<i64> {
    let d = v.get(..14)?;
    if !d.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let n = |r: std::ops::Range<usize>| d[r].parse::<i32>().ok();
    let date = time::Date::from_calendar_date(
        n(0..4)?,
        time::Month::try_from(n(4..6)? as u8).ok()?,
        n(6..8)? as u8,
    )
    .ok()?;
    let t = time::Time::from_hms(n(8..10)? as u8, n(10..12)? as u8, n(12..14)? as u8).ok()?;
    Some(date.with_time(t).assume_utc().unix_timestamp())
}

fn to_disk(id: &str, c: &Cached, stamp_attr: &str, now: i64) -> DiskEntry {
    // A one-second stamp of an entry written just now may not change with the next
    // write in the same second: store none, so that it is fetched again.
    let settled = stamp_attr == CSN
        || generalized_time(&c.stamp).is_some_and(|t| t < now.saturating_sub(SETTLE_SECS));
    let mut attrs: Vec<(String, Vec<String>)> = c
        .entry
        .attrs
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    attrs.sort();
    DiskEntry(
        id.to_string(),
        c.entry.dn.clone(),
        if settled {
            c.stamp.clone()
        } else {
            String::new()
        },
        attrs,
    )
}

fn from_disk(d: DiskEntry) -> Result<(String, Cached), Unusable> {
    let DiskEntry(id, dn, stamp, attrs) = d;
    if id.is_empty() || dn.is_empty() {
        return Err(unusable("an entry without entryUUID or DN"));
    }
    let entry = SearchEntry {
        dn,
        attrs: attrs.into_iter().collect(),
        bin_attrs: HashMap::new(),
    };
    if first(&entry, "entryUUID") != Some(id.as_str()) {
        return Err(unusable(format!("entry {id}: its entryUUID differs")));
    }
    Ok((id, Cached { stamp, entry }))
}

fn entries_of(disk: Vec<DiskEntry>) -> Result<BTreeMap<String, Cached>, Unusable> {
    let mut out = BTreeMap::new();
    for d in disk {
        let (id, c) = from_disk(d)?;
        if out.insert(id.clone(), c).is_some() {
            return Err(unusable(format!("entry {id} appears twice")));
        }
    }
    Ok(out)
}

/// Encodes a snapshot as header line + body.
pub fn encode(snap: &Snapshot, identity: &Identity, now: i64) -> Result<Vec<u8>> {
    let disk = |m: &BTreeMap<String, Cached>| {
        m.iter()
            .map(|(id, c)| to_disk(id, c, &snap.stamp_attr, now))
            .collect()
    };
    let body = Body {
        users: disk(&snap.users),
        groups: disk(&snap.groups),
    };
    let watermark = Watermark {
        stamp: snap.stamp_attr.clone(),
    };
    snapshot::seal(FORMAT, identity, snap.full_read_at, now, &watermark, &body)
}

/// Decodes and checks a snapshot for `identity` at time `now`.
pub fn decode(bytes: &[u8], identity: &Identity, now: i64) -> Result<Snapshot, Unusable> {
    let (header, body): (Header<Identity, Watermark>, _) =
        snapshot::open(bytes, FORMAT, MAX_AGE_SECS, identity, now)?;
    let body: Body = snapshot::body(body)?;
    if header.watermark.stamp != CSN && header.watermark.stamp != MODIFIED {
        return Err(unusable(format!(
            "unknown stamp attribute {}",
            header.watermark.stamp
        )));
    }
    let users = entries_of(body.users)?;
    let groups = entries_of(body.groups)?;
    if let Some(id) = groups.keys().find(|id| users.contains_key(*id)) {
        return Err(unusable(format!("entry {id} appears twice")));
    }
    Ok(Snapshot {
        full_read_at: header.full_read_at,
        stamp_attr: header.watermark.stamp,
        users,
        groups,
    })
}

/// Loads the snapshot at `path`: `Ok(None)` when there is none.
pub fn load(path: &Path, identity: &Identity, now: i64) -> Result<Option<Snapshot>, Unusable> {
    snapshot::load(path, |bytes| decode(bytes, identity, now))
}

/// Writes the snapshot atomically; a failure is a warning.
pub fn save(app: &str, path: &Path, snap: &Snapshot, identity: &Identity, now: i64) {
    snapshot::write_or_warn(app, path, encode(snap, identity, now));
}

// ---------------------------------------------------------------------------------------
// Merging (pure)
// ---------------------------------------------------------------------------------------

/// One entry of the scan: entryUUID, DN, stamp.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scanned {
    pub id: String,
    pub dn: String,
    pub stamp: String,
}

/// What the scan of one OU means for its snapshot entries: the ids to fetch (new or
/// changed), the ids gone, and the (old DN keys) of entries that left or were renamed.
/// Unchanged entries take the scan's DN.
pub fn compare(
    cached: &mut BTreeMap<String, Cached>,
    scan: &[Scanned],
) -> (Vec<String>, Vec<String>, BTreeSet<String>) {
    let mut fetch = Vec::new();
    let mut departed = BTreeSet::new();
    let seen: BTreeSet<&str> = scan.iter().map(|s| s.id.as_str()).collect();
    let gone: Vec<String> = cached
        .keys()
        .filter(|id| !seen.contains(id.as_str()))
        .cloned()
        .collect();
    for id in &gone {
        if let Some(c) = cached.remove(id) {
            departed.insert(dn_key(&c.entry.dn));
        }
    }
    for s in scan {
        match cached.get_mut(&s.id) {
            Some(c) if !c.stamp.is_empty() && c.stamp == s.stamp => {
                if dn_key(&c.entry.dn) != dn_key(&s.dn) {
                    departed.insert(dn_key(&c.entry.dn));
                }
                c.entry.dn = s.dn.clone();
            }
            Some(c) => {
                if dn_key(&c.entry.dn) != dn_key(&s.dn) {
                    departed.insert(dn_key(&c.entry.dn));
                }
                fetch.push(s.id.clone());
            }
            None => fetch.push(s.id.clone()),
        }
    }
    (fetch, gone, departed)
}

/// Groups (not already to be fetched) with a member value naming one of `departed`
/// (DN keys); posixGroups hold logins, resolved at build time, and need none.
pub fn groups_naming(
    groups: &BTreeMap<String, Cached>,
    schema: &Schema,
    departed: &BTreeSet<String>,
    fetching: &[String],
) -> Vec<String> {
    if departed.is_empty() || schema.group_class == LdapGroupClass::PosixGroup {
        return Vec::new();
    }
    groups
        .iter()
        .filter(|(id, _)| !fetching.contains(id))
        .filter(|(_, c)| {
            all(&c.entry, schema.member_attr())
                .iter()
                .any(|v| departed.contains(&dn_key(read::strip_uid_suffix(v))))
        })
        .map(|(id, _)| id.clone())
        .collect()
}

// ---------------------------------------------------------------------------------------
// Reading (the shell)
// ---------------------------------------------------------------------------------------

fn scanned(entries: &[SearchEntry], stamp_attr: &str) -> Result<Vec<Scanned>> {
    entries
        .iter()
        .map(|e| {
            Ok(Scanned {
                id: uuid(e)?,
                dn: e.dn.clone(),
                stamp: stamp_of(e, stamp_attr),
            })
        })
        .collect()
}

/// Fetches entries of `ids` under `base` (matching `filter`) with `attrs`.
async fn fetch(
    ldap: &Ldap,
    base: &str,
    filter: &str,
    attrs: &[&str],
    ids: &[String],
    total: usize,
    paged: bool,
) -> Result<Vec<SearchEntry>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    if ids.len() > FETCH_CHUNK && ids.len() * 4 > total {
        return read::search(ldap, base, filter, attrs, paged).await;
    }
    let mut out = Vec::with_capacity(ids.len());
    for chunk in ids.chunks(FETCH_CHUNK) {
        let any: String = chunk
            .iter()
            .map(|id| format!("(entryUUID={})", filter_value(id)))
            .collect();
        let f = format!("(&{filter}(|{any}))");
        out.extend(read::search(ldap, base, &f, attrs, paged).await?);
    }
    Ok(out)
}

/// Puts fetched entries into `cached` (only those asked for: a whole-OU search returns
/// all of them); ids asked for and not returned are gone since the scan.
fn store(
    cached: &mut BTreeMap<String, Cached>,
    wanted: &[String],
    fetched: Vec<SearchEntry>,
    stamp_attr: &str,
) -> Result<usize> {
    let wanted: BTreeSet<&str> = wanted.iter().map(String::as_str).collect();
    let mut got = BTreeSet::new();
    for entry in fetched {
        let id = uuid(&entry)?;
        if !wanted.contains(id.as_str()) {
            continue;
        }
        got.insert(id.clone());
        let stamp = stamp_of(&entry, stamp_attr);
        cached.insert(id, Cached { stamp, entry });
    }
    for id in wanted {
        if !got.contains(id) {
            cached.remove(id);
        }
    }
    Ok(got.len())
}

async fn incremental(
    ldap: &Ldap,
    app: &LdapApp,
    paged: bool,
    mut snap: Snapshot,
) -> Result<(Snapshot, ReadKind), Failure> {
    let schema = Schema::of(app);
    let attrs = UserAttrs::of(app);
    let (mut user_attrs, mut group_attrs) = read::attr_names(&schema, &attrs);
    user_attrs.extend_from_slice(&[CSN, MODIFIED]);
    group_attrs.extend_from_slice(&[CSN, MODIFIED]);
    let group_filter = schema.group_filter();

    // 1. The scan.
    // One after the other: OpenLDAP runs one paged search per connection at a time
    // (a second one's cookie is refused as invalid).
    let (su, sg) = (
        read::search(ldap, &app.users_ou, &schema.user_filter, SCAN_ATTRS, paged).await,
        read::search(ldap, &app.groups_ou, &group_filter, SCAN_ATTRS, paged).await,
    );
    let su = su.context("scanning users_ou")?;
    let sg = sg.context("scanning groups_ou")?;
    let stamp_attr = stamp_attr_of(su.iter().chain(sg.iter()));
    if snap.users.is_empty() && snap.groups.is_empty() {
        // Nothing cached, nothing to compare: the server's stamps from now on.
        snap.stamp_attr = stamp_attr.to_string();
    } else if (!su.is_empty() || !sg.is_empty()) && stamp_attr != snap.stamp_attr {
        return Err(Failure::Restart(format!(
            "the server's entries are stamped by {stamp_attr}, the snapshot's by {}",
            snap.stamp_attr
        )));
    }
    let scanned_n = su.len() + sg.len();
    let users_scan = scanned(&su, &snap.stamp_attr)?;
    let groups_scan = scanned(&sg, &snap.stamp_attr)?;

    // 2. Compare; 3. groups naming departed DNs.
    let (fetch_users, gone_users, mut departed) = compare(&mut snap.users, &users_scan);
    let (mut fetch_groups, gone_groups, departed_groups) = compare(&mut snap.groups, &groups_scan);
    departed.extend(departed_groups);
    let extra = groups_naming(&snap.groups, &schema, &departed, &fetch_groups);
    fetch_groups.extend(extra);

    let stamp = snap.stamp_attr.clone();
    // One after the other: OpenLDAP runs one paged search per connection at a time
    // (a second one's cookie is refused as invalid).
    let (fu, fg) = (
        fetch(
            ldap,
            &app.users_ou,
            &schema.user_filter,
            &user_attrs,
            &fetch_users,
            users_scan.len(),
            paged,
        )
        .await,
        fetch(
            ldap,
            &app.groups_ou,
            &group_filter,
            &group_attrs,
            &fetch_groups,
            groups_scan.len(),
            paged,
        )
        .await,
    );
    let fu = fu.context("reading changed users")?;
    let fg = fg.context("reading changed groups")?;
    let sent = scanned_n + fu.len() + fg.len();
    let fetched = store(&mut snap.users, &fetch_users, fu, &stamp)?
        + store(&mut snap.groups, &fetch_groups, fg, &stamp)?;
    Ok((
        snap,
        ReadKind::Incremental {
            fetched,
            removed: gone_users.len() + gone_groups.len(),
            scanned: scanned_n,
            entries: sent,
        },
    ))
}

fn observed_of(
    app: &LdapApp,
    scope: &ReadScope,
    snap: &Snapshot,
    directory_id: Option<String>,
) -> Result<ObservedApp> {
    read::build(
        app,
        scope,
        snap.users.values().map(|c| &c.entry),
        snap.groups.values().map(|c| &c.entry),
        directory_id,
    )
}

/// Reads the app using (and refreshing) the snapshot at `path`.
pub async fn read_cached(
    ldap: &Ldap,
    app: &LdapApp,
    scope: &ReadScope,
    paged: bool,
    directory_id: Option<String>,
    path: &Path,
) -> Result<(ObservedApp, ReadKind)> {
    let now = now_unix();
    let identity = Identity::new(app, directory_id.clone());
    let full = match load(path, &identity, now) {
        Ok(Some(snap)) => match incremental(ldap, app, paged, snap).await {
            Ok((snap, kind)) => match observed_of(app, scope, &snap, directory_id.clone()) {
                Ok(observed) => {
                    save(&app.name, path, &snap, &identity, now);
                    tracing::info!(app = %app.name, ?kind, "incremental read");
                    return Ok((observed, kind));
                }
                Err(e) => FullRead::failed(format!("the incremental read failed: {e:#}")),
            },
            Err(Failure::Fatal(e)) => return Err(e.context("incremental read")),
            Err(Failure::Restart(why)) => {
                FullRead::failed(format!("the incremental read failed: {why}"))
            }
        },
        Ok(None) => FullRead::default(),
        Err(u) => FullRead::from(u),
    };
    full.log(&app.name);
    let (users, groups) = read::read_entries(ldap, app, paged, &[CSN, MODIFIED]).await?;
    let observed = read::build(app, scope, &users, &groups, directory_id)?;
    let entries = users.len() + groups.len();
    let stamp_attr = stamp_attr_of(users.iter().chain(groups.iter()));
    let cache = |list: Vec<SearchEntry>| -> Result<BTreeMap<String, Cached>> {
        let mut out = BTreeMap::new();
        for entry in list {
            let stamp = stamp_of(&entry, stamp_attr);
            out.insert(uuid(&entry)?, Cached { stamp, entry });
        }
        Ok(out)
    };
    let snap = Snapshot {
        full_read_at: now,
        stamp_attr: stamp_attr.to_string(),
        users: cache(users)?,
        groups: cache(groups)?,
    };
    save(&app.name, path, &snap, &identity, now);
    tracing::info!(app = %app.name, entries, "full read");
    Ok((observed, ReadKind::Full(full.why)))
}

#[cfg(test)]
mod tests {
    use super::super::read::tests::entry;
    use super::*;

    fn cached(id: &str, dn: &str, stamp: &str, members: &[&str]) -> (String, Cached) {
        (
            id.to_string(),
            Cached {
                stamp: stamp.into(),
                entry: entry(
                    dn,
                    &[("entryUUID", &[id]), ("cn", &["x"]), ("member", members)],
                ),
            },
        )
    }

    fn scan(id: &str, dn: &str, stamp: &str) -> Scanned {
        Scanned {
            id: id.into(),
            dn: dn.into(),
            stamp: stamp.into(),
        }
    }

    fn identity() -> Identity {
        Identity::new(&super::super::read::tests::app(), Some("base-uuid".into()))
    }

    fn sample() -> Snapshot {
        Snapshot {
            full_read_at: 1_000_000,
            stamp_attr: CSN.into(),
            users: [cached("u1", "uid=a,ou=p", "c1", &[])].into(),
            groups: [cached("g1", "cn=g,ou=g", "c2", &["uid=a,ou=p", ""])].into(),
        }
    }

    #[test]
    fn snapshots_round_trip_and_foreign_ones_are_unusable() {
        let snap = sample();
        let id = identity();
        let bytes = encode(&snap, &id, 1_000_100).unwrap();
        assert_eq!(decode(&bytes, &id, 1_000_200).unwrap(), snap);
        let other = |f: &dyn Fn(&mut Identity)| {
            let mut o = id.clone();
            f(&mut o);
            decode(&bytes, &o, 1_000_200).unwrap_err().0
        };
        assert!(other(&|o| o.url = "ldaps://other".into()).contains("another directory"));
        assert!(other(&|o| o.base_dn = "dc=other".into()).contains("another directory"));
        assert!(other(&|o| o.users_ou = "ou=x".into()).contains("users_ou"));
        assert!(other(&|o| o.directory_id = Some("x".into())).contains("another directory"));
        assert!(other(&|o| o.reads = "x".into()).contains("attribute_map"));
        assert!(other(&|o| o.app = "x".into()).contains("written for app"));
        // Old snapshots are not used.
        assert!(decode(&bytes, &id, 1_000_000 + MAX_AGE_SECS + 1).is_err());
        let mut bad = bytes.clone();
        let n = bad.len() - 3;
        bad[n] ^= 1;
        assert!(decode(&bad, &id, 1_000_200).is_err());
    }

    #[test]
    fn second_stamps_of_recent_writes_are_not_kept() {
        let mut snap = sample();
        snap.stamp_attr = MODIFIED.into();
        let now = generalized_time("20260101120000Z").unwrap();
        snap.full_read_at = now;
        snap.users.get_mut("u1").unwrap().stamp = "20260101115959Z".into();
        snap.groups.get_mut("g1").unwrap().stamp = "20250101000000Z".into();
        let id = identity();
        let back = decode(&encode(&snap, &id, now).unwrap(), &id, now).unwrap();
        assert_eq!(back.users["u1"].stamp, "", "recent: fetched again");
        assert_eq!(back.groups["g1"].stamp, "20250101000000Z");
        assert_eq!(generalized_time("19700101000001Z"), Some(1));
        assert_eq!(generalized_time("garbage"), None);
    }

    #[test]
    fn scans_find_changes_departures_and_renames() {
        let mut users: BTreeMap<String, Cached> = [
            cached("u1", "uid=a,ou=p", "c1", &[]),
            cached("u2", "uid=b,ou=p", "c1", &[]),
            cached("u3", "uid=c,ou=old,ou=p", "c1", &[]),
            cached("u4", "uid=d,ou=p", "", &[]),
        ]
        .into();
        let (fetch, gone, departed) = compare(
            &mut users,
            &[
                scan("u1", "uid=a,ou=p", "c1"),
                scan("u3", "uid=c,ou=new,ou=p", "c1"),
                scan("u4", "uid=d,ou=p", "c1"),
                scan("u5", "uid=e,ou=p", "c9"),
            ],
        );
        assert_eq!(fetch, ["u4", "u5"]);
        assert_eq!(gone, ["u2"]);
        assert_eq!(
            departed,
            [dn_key("uid=b,ou=p"), dn_key("uid=c,ou=old,ou=p")].into()
        );
        assert_eq!(users["u3"].entry.dn, "uid=c,ou=new,ou=p", "the scan's DN");
        let groups: BTreeMap<String, Cached> = [
            cached("g1", "cn=g1", "c", &["UID=B,ou=p"]),
            cached("g2", "cn=g2", "c", &["uid=a,ou=p"]),
            cached("g3", "cn=g3", "c", &["uid=c,ou=old,ou=p"]),
        ]
        .into();
        let schema = Schema::of(&super::super::read::tests::app());
        assert_eq!(
            groups_naming(&groups, &schema, &departed, &["g3".to_string()]),
            ["g1"]
        );
    }
}
