//! The apply lock: an advisory, exclusive file lock at `.roster/apply.lock` under the
//! repository root, so that two applies from the same repository never interleave.
//!
//! The operating system releases the lock when the process ends, so a crashed apply
//! never leaves a lock behind. Applies from different checkouts are kept apart by the
//! stale-plan check instead.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};

/// Held for the duration of an apply; dropping it releases the lock.
#[derive(Debug)]
pub struct ApplyLock {
    _file: File,
    path: PathBuf,
}

impl ApplyLock {
    /// Takes the lock or refuses at once, naming the lock file and its holder.
    pub fn acquire(root: &Path) -> anyhow::Result<ApplyLock> {
        crate::layout::check(root)?;
        let dir = crate::layout::roster_dir(root);
        std::fs::create_dir_all(&dir)
            .with_context(|| format!("cannot create {}", dir.display()))?;
        let path = crate::layout::apply_lock(root);
        let mut file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .read(true)
            .write(true)
            .open(&path)
            .with_context(|| format!("cannot open the apply lock {}", path.display()))?;
        match file.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                let holder = std::fs::read_to_string(&path).unwrap_or_default();
                let holder = holder.trim();
                bail!(
                    "another apply from this repository is running ({}; lock {}); wait for it to finish",
                    if holder.is_empty() {
                        "unknown process"
                    } else {
                        holder
                    },
                    path.display()
                );
            }
            Err(std::fs::TryLockError::Error(e)) => {
                return Err(e).with_context(|| format!("cannot lock {}", path.display()));
            }
        }
        file.set_len(0).ok();
        let _ = writeln!(file, "pid {}", std::process::id());
        Ok(ApplyLock { _file: file, path })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_lock_is_refused_until_the_first_is_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let first = ApplyLock::acquire(dir.path()).unwrap();
        let err = ApplyLock::acquire(dir.path()).unwrap_err();
        assert!(err.to_string().contains("another apply"), "{err}");
        assert!(
            err.to_string()
                .contains(&format!("pid {}", std::process::id())),
            "{err}"
        );
        drop(first);
        ApplyLock::acquire(dir.path()).unwrap();
    }
}
