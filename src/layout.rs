//! The `.roster/` folder of an identity repository — the one place that spells its
//! layout — and the one atomic-write helper for the files roster writes.
//!
//! ```text
//! .roster/
//!   apply.lock            advisory lock held by a running apply
//!   reports.jsonl         the provisioning report, one JSON line per change outcome
//!   cache/                safe to delete: snapshots for incremental reads, read counts
//!     read-counts.json    what the empty-read guard compares a read with
//!     <type>-<app>.snapshot
//! ```
//!
//! `.roster` must be a real folder inside the repository: a symbolic link (which a
//! commit can carry) would send the lock, the reports and cached directory data
//! wherever it points.

use std::io::Write;
use std::path::{Path, PathBuf};

/// The folder's name under the repository root.
pub const DIR: &str = ".roster";

pub fn roster_dir(root: &Path) -> PathBuf {
    root.join(DIR)
}

pub fn cache_dir(root: &Path) -> PathBuf {
    roster_dir(root).join("cache")
}

pub fn reports_log(root: &Path) -> PathBuf {
    roster_dir(root).join("reports.jsonl")
}

pub fn apply_lock(root: &Path) -> PathBuf {
    roster_dir(root).join("apply.lock")
}

pub fn read_counts(root: &Path) -> PathBuf {
    cache_dir(root).join("read-counts.json")
}

/// Refuses a `.roster` that is a symbolic link (or not a folder).
pub fn check(root: &Path) -> anyhow::Result<()> {
    let dir = roster_dir(root);
    match std::fs::symlink_metadata(&dir) {
        Ok(m) if m.file_type().is_symlink() => anyhow::bail!(
            "{} is a symbolic link; roster keeps its lock, reports and cache only in a real folder inside the repository (remove the link)",
            dir.display()
        ),
        Ok(m) if !m.is_dir() => anyhow::bail!("{} is not a folder", dir.display()),
        _ => Ok(()),
    }
}

/// Who may read a file roster writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// The default mode (plan files, imported YAML, read counts).
    Shared,
    /// The owner only (snapshots hold directory data: names, email addresses).
    Private,
}

/// Writes through a temporary file in the same folder, synced, then a rename, so a
/// reader never sees half a file; the temporary file is removed on errors.
pub fn write_atomic(path: &Path, bytes: &[u8], access: Access) -> std::io::Result<()> {
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{name}.{}.tmp", std::process::id()));
    let written = write_new(&tmp, bytes, access).and_then(|()| std::fs::rename(&tmp, path));
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    written
}

fn write_new(path: &Path, bytes: &[u8], access: Access) -> std::io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    if access == Access::Private {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut f = options.open(path)?;
    f.write_all(bytes)?;
    f.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn atomic_writes_replace_and_leave_no_temporary_file() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("sub/file.json");
        write_atomic(&p, b"one", Access::Shared).unwrap();
        write_atomic(&p, b"two", Access::Private).unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"two");
        let names: Vec<_> = std::fs::read_dir(p.parent().unwrap())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names.len(), 1, "{names:?}");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&p).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }

    #[test]
    fn a_symlinked_roster_folder_is_refused() {
        let outside = tempfile::tempdir().unwrap();
        let repo = tempfile::tempdir().unwrap();
        assert!(check(repo.path()).is_ok(), "absent is fine");
        std::os::unix::fs::symlink(outside.path(), roster_dir(repo.path())).unwrap();
        let err = check(repo.path()).unwrap_err().to_string();
        assert!(err.contains("symbolic link"), "{err}");
    }
}
