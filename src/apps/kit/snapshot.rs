//! Snapshots for incremental reads, shared by the connectors that keep one.
//!
//! The file: a JSON header line, a seal line (the length of the body and the SHA-256 of
//! header line and body together), then the body; written to a private temporary file,
//! synced and renamed, so a crash never leaves half a snapshot; read back with every
//! check failing as an [`Unusable`] reason (which means a full read, never an error).
//!
//! What every snapshot holds is shared here too: the header's format, identity and
//! times (checked on every load: format, age, the app it was written for), and the
//! users and groups, member lists stored as indexes into one id table. A connector
//! supplies only what is its own: the rest of its identity and how it is checked
//! ([`Identity`]), the watermark its next read starts from (delta links, a USN), how one
//! user and one group are laid out on disk ([`DiskUser`], [`DiskGroup`]), and its merge
//! logic.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};

use anyhow::{Result, anyhow};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::observed::{Attributes, IdSet, MemberId, ObservedGroup, ObservedUser};

/// Why a snapshot cannot be used (logged; the read is then a full one).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Unusable(pub String);

/// How the reason of a snapshot that aged out begins: the periodic full read, routine
/// rather than a problem.
const AGED_OUT: &str = "its last full read is";

impl Unusable {
    /// Whether this is the routine periodic full read (logged at info, not as a warning).
    pub fn is_routine(&self) -> bool {
        self.0.starts_with(AGED_OUT)
    }
}

/// Why a read is a full one.
#[derive(Debug, Default)]
pub struct FullRead {
    /// `None`: there was no snapshot.
    pub why: Option<String>,
    routine: bool,
}

impl FullRead {
    /// The incremental path failed for this reason (which is not an error).
    pub fn failed(why: String) -> Self {
        FullRead {
            why: Some(why),
            routine: false,
        }
    }

    /// Logs why, if there is a reason: a warning, unless it is the routine periodic
    /// full read.
    pub fn log(&self, app: &str) {
        match &self.why {
            Some(why) if self.routine => tracing::info!(app = %app, "full read: {why}"),
            Some(why) => tracing::warn!(app = %app, "full read: {why}"),
            None => {}
        }
    }
}

impl From<Unusable> for FullRead {
    fn from(u: Unusable) -> Self {
        FullRead {
            routine: u.is_routine(),
            why: Some(format!("snapshot not used: {u}")),
        }
    }
}

/// An [`Unusable`] with this reason.
pub fn unusable(msg: impl Into<String>) -> Unusable {
    Unusable(msg.into())
}

/// The seal line: the body's length and the checksum of header line and body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Seal {
    body_len: u64,
    sha256: String,
}

fn digest(header: &[u8], body: &[u8]) -> String {
    let mut h = Sha256::new();
    h.update(header);
    h.update(b"\n");
    h.update(body);
    hex(&h.finalize())
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Header line, seal line, body.
pub fn frame<H: Serialize>(header: &H, body: &[u8]) -> Result<Vec<u8>> {
    let head = serde_json::to_vec(header)?;
    let seal = serde_json::to_vec(&Seal {
        body_len: body.len() as u64,
        sha256: digest(&head, body),
    })?;
    let mut out = Vec::with_capacity(head.len() + seal.len() + body.len() + 2);
    out.extend_from_slice(&head);
    out.push(b'\n');
    out.extend_from_slice(&seal);
    out.push(b'\n');
    out.extend_from_slice(body);
    Ok(out)
}

/// The header and the body of a framed file, once the seal holds: a truncated,
/// extended or altered file (header or body) is unusable.
pub fn split<H: DeserializeOwned>(bytes: &[u8]) -> Result<(H, &[u8]), Unusable> {
    let (head, rest) = line(bytes).ok_or_else(|| unusable("no header line"))?;
    let (seal, body) = line(rest).ok_or_else(|| unusable("no seal line"))?;
    let seal: Seal =
        serde_json::from_slice(seal).map_err(|e| unusable(format!("unreadable seal: {e}")))?;
    if body.len() as u64 != seal.body_len {
        return Err(unusable(format!(
            "truncated or extended: body of {} bytes, the seal says {}",
            body.len(),
            seal.body_len
        )));
    }
    if digest(head, body) != seal.sha256 {
        return Err(unusable("corrupt: checksum mismatch"));
    }
    let header: H =
        serde_json::from_slice(head).map_err(|e| unusable(format!("unreadable header: {e}")))?;
    Ok((header, body))
}

/// The first line and the rest.
fn line(bytes: &[u8]) -> Option<(&[u8], &[u8])> {
    let nl = bytes.iter().position(|b| *b == b'\n')?;
    Some((&bytes[..nl], &bytes[nl + 1..]))
}

/// The format and age checks every snapshot makes: its format, a last full read no
/// older than `max_age_secs`, and no time in the future (clock skew, a copied file).
pub fn check_format_and_age(
    format: u32,
    expected_format: u32,
    full_read_at: i64,
    written_at: i64,
    now: i64,
    max_age_secs: i64,
) -> Result<(), Unusable> {
    if format != expected_format {
        return Err(unusable(format!(
            "written in format {format} (this roster reads format {expected_format})"
        )));
    }
    let age = now.saturating_sub(full_read_at);
    if age > max_age_secs {
        return Err(unusable(format!("{AGED_OUT} {} days old", age / 86_400)));
    }
    if full_read_at > now.saturating_add(300) || written_at > now.saturating_add(300) {
        return Err(unusable(
            "written in the future (clock skew or a copied file)",
        ));
    }
    Ok(())
}

/// The snapshot file of an app: `<cache_dir>/<kind>-<app>.snapshot`, the app name
/// reduced to characters safe in a file name.
pub fn path(cache_dir: &Path, kind: &str, app: &str) -> PathBuf {
    let safe: String = app
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                c
            } else {
                '_'
            }
        })
        .collect();
    cache_dir.join(format!("{kind}-{safe}.snapshot"))
}

/// The bytes at `path`: `Ok(None)` when there is no file.
pub fn read(path: &Path) -> Result<Option<Vec<u8>>, Unusable> {
    match std::fs::read(path) {
        Ok(bytes) => Ok(Some(bytes)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(unusable(format!("cannot read it: {e}"))),
    }
}

/// Writes a freshly encoded snapshot; failing to encode or write it is a warning, never
/// an error (the read it records succeeded, and the next read is then a full one).
pub fn write_or_warn(app: &str, path: &Path, encoded: Result<Vec<u8>>) {
    if let Err(e) = encoded.and_then(|bytes| write(path, &bytes)) {
        tracing::warn!(app = %app, "cannot write the snapshot {}: {e:#}", path.display());
    }
}

/// Writes atomically, readable by its owner only (snapshots hold directory data such
/// as names and email addresses).
pub fn write(path: &Path, bytes: &[u8]) -> Result<()> {
    crate::layout::write_atomic(path, bytes, crate::layout::Access::Private)
        .map_err(|e| anyhow!("cannot write {}: {e}", path.display()))
}

/// Member lists on disk as indexes into one id table — the snapshot's users, then its
/// groups, then any other member ids — so that a million memberships take a few bytes
/// each instead of a 36-character id.
pub struct IdTable<'a> {
    index: HashMap<&'a str, u32>,
    known: u32,
    extra: Vec<String>,
    extra_index: HashMap<String, u32>,
}

impl<'a> IdTable<'a> {
    /// The table of these object ids (users first, then groups), in order.
    pub fn new(ids: impl Iterator<Item = &'a str>) -> Self {
        let index: HashMap<&str, u32> = ids.zip(0u32..).collect();
        IdTable {
            known: index.len() as u32,
            index,
            extra: Vec::new(),
            extra_index: HashMap::new(),
        }
    }

    /// The indexes of a member list; ids not in the table are appended as extras.
    pub fn encode(&mut self, members: &IdSet) -> Vec<u32> {
        members
            .iter()
            .map(|m| match self.index.get(m.as_str()) {
                Some(i) => *i,
                None => match self.extra_index.get(m.as_str()) {
                    Some(i) => *i,
                    None => {
                        let i = self.known + self.extra.len() as u32;
                        self.extra.push(m.to_string());
                        self.extra_index.insert(m.to_string(), i);
                        i
                    }
                },
            })
            .collect()
    }

    /// The extra ids, to be stored after the users and groups.
    pub fn into_extra(self) -> Vec<String> {
        self.extra
    }
}

/// Resolves member indexes against the ids of a decoded body (users, groups, extras in
/// that order); an index out of range makes the snapshot unusable.
pub fn decode_members(table: &[&str], group: &str, indexes: &[u32]) -> Result<IdSet, Unusable> {
    indexes
        .iter()
        .map(|i| {
            table
                .get(*i as usize)
                .map(|m| MemberId::new(m))
                .ok_or_else(|| unusable(format!("group {group}: member index {i} out of range")))
        })
        .collect()
}

// ---------------------------------------------------------------------------------------
// The header
// ---------------------------------------------------------------------------------------

/// What a snapshot is valid for, as a connector knows it (service, tenant, domain
/// controller, what was read); any difference means a full read.
pub trait Identity {
    /// The app the snapshot was written for.
    fn app(&self) -> &str;
    /// Why a snapshot written for `theirs`, of the same app, cannot serve this identity.
    fn check(&self, theirs: &Self) -> Result<(), Unusable>;
}

/// The header line of every snapshot: its format, its identity, its times, then the
/// connector's watermark (where the next read starts: delta links, a USN), whose fields
/// stand on the same level.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Header<I, W> {
    pub format: u32,
    pub identity: I,
    /// Unix seconds of the last full read this snapshot descends from.
    pub full_read_at: i64,
    /// Unix seconds this snapshot was written.
    pub written_at: i64,
    #[serde(flatten)]
    pub watermark: W,
}

/// A snapshot file of this format: the header, then the body.
pub fn seal<I: Serialize, W: Serialize, B: Serialize>(
    format: u32,
    identity: &I,
    full_read_at: i64,
    now: i64,
    watermark: &W,
    body: &B,
) -> Result<Vec<u8>> {
    let body = serde_json::to_vec(body)?;
    let header = Header {
        format,
        identity,
        full_read_at,
        written_at: now,
        watermark,
    };
    frame(&header, &body)
}

/// The header and the body of a snapshot once the seal holds and the snapshot serves
/// `identity` at time `now`: its format, its age (see [`check_format_and_age`]), its app
/// and the rest of its identity.
pub fn open<'b, I, W>(
    bytes: &'b [u8],
    format: u32,
    max_age_secs: i64,
    identity: &I,
    now: i64,
) -> Result<(Header<I, W>, &'b [u8]), Unusable>
where
    I: Identity + DeserializeOwned,
    W: DeserializeOwned,
{
    let (header, body): (Header<I, W>, &[u8]) = split(bytes)?;
    check_format_and_age(
        header.format,
        format,
        header.full_read_at,
        header.written_at,
        now,
        max_age_secs,
    )?;
    if header.identity.app() != identity.app() {
        return Err(unusable(format!(
            "written for app {}",
            header.identity.app()
        )));
    }
    identity.check(&header.identity)?;
    Ok((header, body))
}

/// The body of an opened snapshot.
pub fn body<B: DeserializeOwned>(bytes: &[u8]) -> Result<B, Unusable> {
    serde_json::from_slice(bytes).map_err(|e| unusable(format!("unreadable body: {e}")))
}

/// The check of an identity's directory id (tenant id, domain SID): a snapshot of
/// another directory, named `what`, is never used.
pub fn same_directory(
    what: &str,
    ours: &Option<String>,
    theirs: &Option<String>,
) -> Result<(), Unusable> {
    if ours == theirs {
        return Ok(());
    }
    Err(unusable(format!(
        "written for another {what} ({})",
        theirs.as_deref().unwrap_or("unknown")
    )))
}

/// Loads the snapshot at `path` with `decode`: `Ok(None)` when there is none.
pub fn load<S>(
    path: &Path,
    decode: impl FnOnce(&[u8]) -> Result<S, Unusable>,
) -> Result<Option<S>, Unusable> {
    read(path)?.map(|bytes| decode(&bytes)).transpose()
}

// ---------------------------------------------------------------------------------------
// Users and groups
// ---------------------------------------------------------------------------------------

/// One user as a connector lays it out on disk.
pub trait DiskUser: Sized {
    /// The user's id, which member lists refer to.
    fn id(&self) -> &str;
    fn from_observed(user: &ObservedUser) -> Self;
    /// The user again; an entry the connector would not have written makes the
    /// snapshot unusable.
    fn to_observed(&self) -> Result<ObservedUser, Unusable>;
}

/// One group as a connector lays it out on disk.
pub trait DiskGroup: Sized {
    /// The group's id, which member lists refer to.
    fn id(&self) -> &str;
    /// `members`: its member indexes into the id table, `None` when not known.
    fn from_observed(group: &ObservedGroup, members: Option<Vec<u32>>) -> Self;
    /// The group again, without its members (which [`decode_objects`] fills in), and
    /// its member indexes; an entry the connector would not have written makes the
    /// snapshot unusable.
    fn to_observed(&self) -> Result<(ObservedGroup, Option<&[u32]>), Unusable>;
}

/// The users and groups of a snapshot, borrowed for writing (from a snapshot in memory
/// or straight from a full read, without copying them).
pub struct ObjectsRef<'a> {
    pub users: Vec<&'a ObservedUser>,
    pub groups: Vec<&'a ObservedGroup>,
    /// The groups whose member lists are known, and written.
    pub members_known: &'a BTreeSet<String>,
}

impl<'a> ObjectsRef<'a> {
    pub fn new(
        users: impl IntoIterator<Item = &'a ObservedUser>,
        groups: impl IntoIterator<Item = &'a ObservedGroup>,
        members_known: &'a BTreeSet<String>,
    ) -> Self {
        ObjectsRef {
            users: users.into_iter().collect(),
            groups: groups.into_iter().collect(),
            members_known,
        }
    }
}

/// The users and groups of a snapshot in memory, by id.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Objects {
    pub users: BTreeMap<String, ObservedUser>,
    /// `member_ids` are meaningful only for ids in `members_known`.
    pub groups: BTreeMap<String, ObservedGroup>,
    pub members_known: BTreeSet<String>,
}

impl Objects {
    pub fn as_ref(&self) -> ObjectsRef<'_> {
        ObjectsRef::new(
            self.users.values(),
            self.groups.values(),
            &self.members_known,
        )
    }
}

/// What goes on disk: the users, the groups (member lists, where known, as indexes
/// into the id table of users, then groups, then the extra ids), and the extra ids.
pub fn encode_objects<U: DiskUser, G: DiskGroup>(
    objects: &ObjectsRef<'_>,
) -> (Vec<U>, Vec<G>, Vec<String>) {
    let mut table = IdTable::new(
        objects
            .users
            .iter()
            .map(|u| u.id.as_str())
            .chain(objects.groups.iter().map(|g| g.id.as_str())),
    );
    let users = objects.users.iter().map(|u| U::from_observed(u)).collect();
    let groups = objects
        .groups
        .iter()
        .map(|g| {
            let members = objects
                .members_known
                .contains(&g.id)
                .then(|| table.encode(&g.member_ids));
            G::from_observed(g, members)
        })
        .collect();
    (users, groups, table.into_extra())
}

/// The users and groups again, rebuilt side by side (the member lists are the larger
/// half); an id that appears twice or a member index out of range makes the snapshot
/// unusable.
pub fn decode_objects<U, G>(
    users: &[U],
    groups: &[G],
    extra_ids: &[String],
) -> Result<Objects, Unusable>
where
    U: DiskUser + Sync,
    G: DiskGroup + Sync,
{
    let mut table: Vec<&str> = Vec::with_capacity(users.len() + groups.len() + extra_ids.len());
    table.extend(users.iter().map(DiskUser::id));
    table.extend(groups.iter().map(DiskGroup::id));
    table.extend(extra_ids.iter().map(String::as_str));
    let (users, groups) = std::thread::scope(|scope| {
        let groups = scope.spawn(|| decode_groups(groups, &table));
        let users = decode_users(users);
        let groups = groups
            .join()
            .unwrap_or_else(|p| std::panic::resume_unwind(p));
        (users, groups)
    });
    let (users, (groups, members_known)) = (users?, groups?);
    Ok(Objects {
        users,
        groups,
        members_known,
    })
}

fn decode_users<U: DiskUser>(disk: &[U]) -> Result<BTreeMap<String, ObservedUser>, Unusable> {
    let mut users = BTreeMap::new();
    for d in disk {
        let u = d.to_observed()?;
        if users.insert(u.id.clone(), u).is_some() {
            return Err(unusable(format!("user {} appears twice", d.id())));
        }
    }
    Ok(users)
}

type DecodedGroups = (BTreeMap<String, ObservedGroup>, BTreeSet<String>);

fn decode_groups<G: DiskGroup>(disk: &[G], table: &[&str]) -> Result<DecodedGroups, Unusable> {
    let mut groups = BTreeMap::new();
    let mut members_known = BTreeSet::new();
    for d in disk {
        let (mut g, members) = d.to_observed()?;
        if let Some(m) = members {
            g.member_ids = decode_members(table, d.id(), m)?;
            members_known.insert(g.id.clone());
        }
        if groups.insert(g.id.clone(), g).is_some() {
            return Err(unusable(format!("group {} appears twice", d.id())));
        }
    }
    Ok((groups, members_known))
}

/// A user's attributes on disk: the values in the order of the connector's attribute
/// list `names` (roster name, protocol name), `None` where absent.
pub fn encode_attributes(names: &[(&str, &str)], attributes: &Attributes) -> Vec<Option<String>> {
    names
        .iter()
        .map(|(name, _)| attributes.get(name).map(str::to_string))
        .collect()
}

/// The attributes of user `id` again; values for another attribute list make the
/// snapshot unusable.
pub fn decode_attributes(
    names: &[(&str, &str)],
    id: &str,
    values: &[Option<String>],
) -> Result<Attributes, Unusable> {
    if values.len() != names.len() {
        return Err(unusable(format!("user {id}: wrong attribute count")));
    }
    Ok(names
        .iter()
        .zip(values)
        .filter_map(|((name, _), v)| v.as_deref().map(|v| (*name, v)))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct H {
        n: u32,
    }

    #[test]
    fn framed_files_round_trip_and_detect_damage() {
        let body = b"{\"x\":1}";
        let bytes = frame(&H { n: 7 }, body).expect("frame");
        let (h, b): (H, &[u8]) = split(&bytes).expect("split");
        assert_eq!((h.n, b), (7, &body[..]));
        // Truncated, a byte changed in the body, a byte changed in the header.
        let n = bytes.len();
        assert!(
            split::<H>(&bytes[..n - 2])
                .unwrap_err()
                .0
                .contains("truncated")
        );
        let mut body_flip = bytes.clone();
        body_flip[n - 2] ^= 0x01;
        assert!(split::<H>(&body_flip).unwrap_err().0.contains("checksum"));
        let mut head_flip = bytes.clone();
        head_flip[5] = b'8';
        assert!(split::<H>(&head_flip).unwrap_err().0.contains("checksum"));
        assert!(split::<H>(b"no newline").is_err());
        assert!(split::<H>(b"{}\nbody").is_err());
    }

    #[test]
    fn member_lists_become_indexes_and_back() {
        let ids = ["u1", "u2", "g1"];
        let mut t = IdTable::new(ids.iter().copied());
        let members: IdSet = ["g1", "u2", "x9", "dn:CN=a"]
            .iter()
            .map(|s| MemberId::new(s))
            .collect();
        let idx = t.encode(&members);
        let again = t.encode(&IdSet::from([MemberId::new("x9")]));
        let extra = t.into_extra();
        assert_eq!(extra.len(), 2);
        assert_eq!(again.len(), 1);
        let mut table: Vec<&str> = ids.to_vec();
        table.extend(extra.iter().map(String::as_str));
        assert_eq!(decode_members(&table, "g", &idx).expect("decode"), members);
        assert!(
            decode_members(&table, "g", &[99])
                .unwrap_err()
                .0
                .contains("out of range")
        );
    }

    #[test]
    fn absurd_times_do_not_overflow() {
        assert!(check_format_and_age(1, 1, i64::MIN, 0, i64::MAX, 1000).is_err());
        assert!(check_format_and_age(1, 1, i64::MAX, i64::MAX, 0, 1000).is_err());
    }

    #[test]
    fn ages_and_formats() {
        assert!(check_format_and_age(1, 1, 100, 100, 200, 1000).is_ok());
        assert!(
            check_format_and_age(2, 1, 100, 100, 200, 1000)
                .unwrap_err()
                .0
                .contains("format 2")
        );
        assert!(
            check_format_and_age(1, 1, 100, 100, 2000, 1000)
                .unwrap_err()
                .0
                .contains("days old")
        );
        assert!(
            check_format_and_age(1, 1, 100, 900, 200, 1000)
                .unwrap_err()
                .0
                .contains("future")
        );
    }

    #[test]
    fn writes_are_atomic_and_names_safe() {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = path(&dir.path().join("cache"), "kind", "a/b c");
        assert!(p.ends_with("kind-a_b_c.snapshot"));
        assert_eq!(read(&p).expect("read"), None);
        write(&p, b"one").expect("write");
        write(&p, b"two").expect("write");
        assert_eq!(read(&p).expect("read").as_deref(), Some(&b"two"[..]));
        let names: Vec<_> = std::fs::read_dir(p.parent().expect("dir"))
            .expect("ls")
            .flatten()
            .map(|e| e.file_name())
            .collect();
        assert_eq!(names.len(), 1, "no temporary file left: {names:?}");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&p).expect("meta").permissions().mode();
            assert_eq!(mode & 0o077, 0, "owner-only: {mode:o}");
        }
    }

    /// A connector in miniature: users are (id, enabled, attributes), groups
    /// (id, name, member indexes).
    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
    struct Id {
        app: String,
        service: String,
    }

    impl Identity for Id {
        fn app(&self) -> &str {
            &self.app
        }

        fn check(&self, theirs: &Self) -> Result<(), Unusable> {
            match theirs.service == self.service {
                true => Ok(()),
                false => Err(unusable("another service")),
            }
        }
    }

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct Mark {
        usn: u64,
    }

    const NAMES: &[(&str, &str)] = &[("email", "mail"), ("title", "jobTitle")];

    #[derive(Debug, Serialize, Deserialize)]
    struct U(String, bool, Vec<Option<String>>);

    impl DiskUser for U {
        fn id(&self) -> &str {
            &self.0
        }

        fn from_observed(u: &ObservedUser) -> Self {
            U(
                u.id.clone(),
                u.enabled,
                encode_attributes(NAMES, &u.attributes),
            )
        }

        fn to_observed(&self) -> Result<ObservedUser, Unusable> {
            Ok(ObservedUser {
                id: self.0.clone(),
                enabled: self.1,
                attributes: decode_attributes(NAMES, &self.0, &self.2)?,
                ..ObservedUser::default()
            })
        }
    }

    #[derive(Debug, Serialize, Deserialize)]
    struct G(String, String, Option<Vec<u32>>);

    impl DiskGroup for G {
        fn id(&self) -> &str {
            &self.0
        }

        fn from_observed(g: &ObservedGroup, members: Option<Vec<u32>>) -> Self {
            G(g.id.clone(), g.name.clone(), members)
        }

        fn to_observed(&self) -> Result<(ObservedGroup, Option<&[u32]>), Unusable> {
            let g = ObservedGroup {
                id: self.0.clone(),
                name: self.1.clone(),
                ..ObservedGroup::default()
            };
            Ok((g, self.2.as_deref()))
        }
    }

    fn objects() -> Objects {
        let user = |id: &str, email: Option<&str>| ObservedUser {
            id: id.into(),
            enabled: true,
            attributes: email
                .map(|e| Attributes::from([("email", e)]))
                .unwrap_or_default(),
            ..ObservedUser::default()
        };
        let group = |id: &str, members: &[&str]| ObservedGroup {
            id: id.into(),
            name: id.to_uppercase(),
            member_ids: members.iter().map(|m| MemberId::new(m)).collect(),
            ..ObservedGroup::default()
        };
        let users = [user("u1", Some("a@x")), user("u2", None)];
        let groups = [group("g1", &["u2", "g2", "x9"]), group("g2", &[])];
        Objects {
            users: users.into_iter().map(|u| (u.id.clone(), u)).collect(),
            groups: groups.into_iter().map(|g| (g.id.clone(), g)).collect(),
            members_known: BTreeSet::from(["g1".to_string()]),
        }
    }

    #[test]
    fn users_and_groups_round_trip_with_members_where_known() {
        let o = objects();
        let (users, groups, extra): (Vec<U>, Vec<G>, _) = encode_objects(&o.as_ref());
        assert_eq!(extra, vec!["x9".to_string()]);
        assert_eq!(
            groups[0].2,
            Some(vec![3, 1, 4]),
            "g2, u2, then x9 as an extra"
        );
        assert_eq!(groups[1].2, None, "g2's members are not known");
        assert_eq!(users[1].2, vec![None, None]);
        let back = decode_objects(&users, &groups, &extra).expect("decode");
        assert_eq!(back, o);
    }

    #[test]
    fn damaged_users_and_groups_are_unusable() {
        let o = objects();
        let (mut users, mut groups, extra): (Vec<U>, Vec<G>, _) = encode_objects(&o.as_ref());
        let why = |u: &[U], g: &[G], e: &[String]| decode_objects(u, g, e).unwrap_err().0;
        assert!(why(&users, &groups, &[]).contains("g1: member index 4 out of range"));
        groups.push(G("g2".into(), "again".into(), None));
        assert!(why(&users, &groups, &extra).contains("group g2 appears twice"));
        groups.pop();
        users[0].2.push(None);
        assert!(why(&users, &groups, &extra).contains("u1: wrong attribute count"));
        users[0].2.pop();
        users.push(U("u1".into(), false, vec![None, None]));
        assert!(why(&users, &groups, &extra).contains("user u1 appears twice"));
    }

    #[test]
    fn headers_hold_the_watermark_on_their_level_and_are_checked() {
        let id = Id {
            app: "a".into(),
            service: "s".into(),
        };
        let bytes = seal(1, &id, 100, 110, &Mark { usn: 7 }, &[1, 2]).expect("seal");
        let head = std::str::from_utf8(&bytes).expect("utf-8").lines().next();
        assert_eq!(
            head,
            Some(
                r#"{"format":1,"identity":{"app":"a","service":"s"},"full_read_at":100,"written_at":110,"usn":7}"#
            )
        );
        let (header, body): (Header<Id, Mark>, _) = open(&bytes, 1, 1000, &id, 120).expect("open");
        assert_eq!(
            (header.watermark, header.written_at),
            (Mark { usn: 7 }, 110)
        );
        assert_eq!(self::body::<Vec<u8>>(body), Ok(vec![1, 2]));
        let why = |id: &Id, format: u32| {
            open::<Id, Mark>(&bytes, format, 1000, id, 120)
                .unwrap_err()
                .0
        };
        assert!(why(&id, 2).contains("format 1"));
        let other = Id {
            app: "b".into(),
            ..id.clone()
        };
        assert_eq!(why(&other, 1), "written for app a");
        let other = Id {
            service: "t".into(),
            ..id.clone()
        };
        assert_eq!(why(&other, 1), "another service");
    }

    #[test]
    fn full_reads_say_why_and_whether_it_is_routine() {
        assert_eq!(FullRead::default().why, None);
        let aged = FullRead::from(check_format_and_age(1, 1, 0, 0, 10_000, 10).unwrap_err());
        assert!(aged.routine);
        assert!(
            aged.why
                .as_deref()
                .is_some_and(|w| w.starts_with("snapshot not used: "))
        );
        assert!(!FullRead::from(unusable("corrupt")).routine);
        assert!(!FullRead::failed("410".into()).routine);
        assert_eq!(
            same_directory("tenant", &Some("t1".into()), &None),
            Err(unusable("written for another tenant (unknown)"))
        );
        assert_eq!(same_directory("tenant", &None, &None), Ok(()));
    }
}
