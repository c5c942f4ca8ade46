//! The file framing shared by the connectors' snapshots for incremental reads: a JSON
//! header line, a seal line (the length of the body and the SHA-256 of header line and
//! body together), then the body; written to a private temporary file, synced and
//! renamed, so a crash never leaves half a snapshot; read back with every check failing
//! as an [`Unusable`] reason (which means a full read, never an error). What the header
//! and body hold is each connector's business.

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};

use anyhow::{Result, anyhow};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

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

/// Logs why a read is a full one: a warning, unless it is the routine periodic one.
pub fn log_full_read(app: &str, why: &str, routine: bool) {
    if routine {
        tracing::info!(app = %app, "full read: {why}");
    } else {
        tracing::warn!(app = %app, "full read: {why}");
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
    pub fn encode(&mut self, members: &BTreeSet<String>) -> Vec<u32> {
        members
            .iter()
            .map(|m| match self.index.get(m.as_str()) {
                Some(i) => *i,
                None => match self.extra_index.get(m) {
                    Some(i) => *i,
                    None => {
                        let i = self.known + self.extra.len() as u32;
                        self.extra.push(m.clone());
                        self.extra_index.insert(m.clone(), i);
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
pub fn decode_members(
    table: &[&str],
    group: &str,
    indexes: &[u32],
) -> Result<BTreeSet<String>, Unusable> {
    indexes
        .iter()
        .map(|i| {
            table
                .get(*i as usize)
                .map(|m| (*m).to_string())
                .ok_or_else(|| unusable(format!("group {group}: member index {i} out of range")))
        })
        .collect()
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
        let members: BTreeSet<String> = ["g1", "u2", "x9", "dn:CN=a"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let idx = t.encode(&members);
        let again = t.encode(&BTreeSet::from(["x9".to_string()]));
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
}
