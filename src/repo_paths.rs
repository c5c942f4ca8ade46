//! Paths named by the repository (sandbox tenants, CA and certificate files, secret
//! files) stay inside it.
//!
//! The loader refuses a relative path with a `..` component (lexically, with the
//! position); [`resolve`] is the check at the moment of use: the path, with every
//! symlink followed, must still lie under the repository root, so a symlink committed
//! to the repository cannot point a sandbox write or a file read elsewhere. Absolute
//! paths are the operator's (`/run/secrets/…`, `/etc/ssl/…`) and are used as they are
//! where the setting allows them.

use std::path::{Component, Path, PathBuf};

/// Why a path named by the repository cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum PathError {
    #[error("{what} `{path}` leaves the repository (a `..` component)")]
    DotDot { what: String, path: String },
    #[error("{what} `{path}` leads outside the repository through a symbolic link (to {target})")]
    Escapes {
        what: String,
        path: String,
        target: String,
    },
    #[error("{what} `{path}` must be a path relative to the repository root")]
    Absolute { what: String, path: String },
}

/// Whether a relative path climbs out with `..` (lexically).
pub fn has_parent_component(path: &str) -> bool {
    Path::new(path)
        .components()
        .any(|c| matches!(c, Component::ParentDir))
}

/// The full path of `path` (relative to `root`, or absolute when `allow_absolute`),
/// checked to stay inside `root` after following symlinks. A path that does not exist
/// yet (a sandbox tenant's first run) is checked through its nearest existing ancestor.
pub fn resolve(
    root: &Path,
    path: &str,
    what: &str,
    allow_absolute: bool,
) -> Result<PathBuf, PathError> {
    let p = Path::new(path);
    if p.is_absolute() {
        if allow_absolute {
            return Ok(p.to_path_buf());
        }
        return Err(PathError::Absolute {
            what: what.into(),
            path: path.into(),
        });
    }
    if has_parent_component(path) {
        return Err(PathError::DotDot {
            what: what.into(),
            path: path.into(),
        });
    }
    let full = root.join(p);
    let Ok(real_root) = root.canonicalize() else {
        return Ok(full); // the root itself is unreadable: the use reports it
    };
    // The nearest existing ancestor (or the path itself), with symlinks resolved.
    let mut existing = full.as_path();
    let real = loop {
        match existing.canonicalize() {
            Ok(r) => break Some(r),
            Err(_) => match existing.parent() {
                Some(parent) => existing = parent,
                None => break None,
            },
        }
    };
    match real {
        Some(r) if !r.starts_with(&real_root) => Err(PathError::Escapes {
            what: what.into(),
            path: path.into(),
            target: r.display().to_string(),
        }),
        _ => Ok(full),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_paths_stay_inside() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::create_dir(root.join("certs")).unwrap();
        std::fs::write(root.join("certs/ca.pem"), "x").unwrap();
        assert_eq!(
            resolve(root, "certs/ca.pem", "tls.ca_file", false).unwrap(),
            root.join("certs/ca.pem")
        );
        // Not there yet: checked through the existing ancestor.
        assert!(resolve(root, ".roster/new/tenant.json", "sandbox", false).is_ok());
        assert!(matches!(
            resolve(root, "../x.json", "sandbox", false),
            Err(PathError::DotDot { .. })
        ));
        assert!(matches!(
            resolve(root, "a/../../x.json", "sandbox", false),
            Err(PathError::DotDot { .. })
        ));
        assert!(matches!(
            resolve(root, "/tmp/x.json", "sandbox", false),
            Err(PathError::Absolute { .. })
        ));
        assert!(resolve(root, "/run/secrets/x", "secret file", true).is_ok());
    }

    #[test]
    fn a_symlink_out_of_the_repository_is_refused() {
        let outside = tempfile::tempdir().unwrap();
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::os::unix::fs::symlink(outside.path(), root.join("link")).unwrap();
        let err = resolve(root, "link/tenant.json", "sandbox", false).unwrap_err();
        assert!(matches!(err, PathError::Escapes { .. }), "{err}");
        assert!(err.to_string().contains("through a symbolic link"), "{err}");
        // A symlink that stays inside is fine.
        std::fs::create_dir(root.join("real")).unwrap();
        std::os::unix::fs::symlink(root.join("real"), root.join("inner")).unwrap();
        assert!(resolve(root, "inner/x", "sandbox", false).is_ok());
    }
}
