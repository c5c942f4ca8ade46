//! Secret references resolved to values that never print themselves.
//!
//! A [`Secret`] has no `Display`, and its `Debug` is redacted, so a secret cannot end
//! up in a log line, a plan or an error message by accident.

use std::fmt;
use std::path::Path;

use crate::desired::SecretRef;

/// A resolved secret value.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }
    /// The value, for the one place that must send it (a request body, a bind).
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

/// Why a secret reference could not be resolved. Names the reference, never a value.
#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    #[error("environment variable {0} is not set")]
    EnvMissing(String),
    #[error("environment variable {0} is empty")]
    EnvEmpty(String),
    #[error(transparent)]
    Path(#[from] crate::repo_paths::PathError),
    #[error("cannot read secret file {path}: {source}")]
    File {
        path: String,
        #[source]
        source: std::io::Error,
    },
}

/// Resolve a reference; relative file paths are relative to `base` (the repository
/// root) and must stay inside it, symlinks included.
pub fn resolve(reference: &SecretRef, base: &Path) -> Result<Secret, SecretError> {
    match reference {
        SecretRef::Env(name) => match std::env::var(name) {
            Ok(v) if v.is_empty() => Err(SecretError::EnvEmpty(name.clone())),
            Ok(v) => Ok(Secret(v)),
            Err(_) => Err(SecretError::EnvMissing(name.clone())),
        },
        SecretRef::File(path) => {
            let full = crate::repo_paths::resolve(base, path, "secret file", true)?;
            std::fs::read_to_string(&full)
                .map(|s| Secret(s.trim_end_matches(['\n', '\r']).to_string()))
                .map_err(|source| SecretError::File {
                    path: full.display().to_string(),
                    source,
                })
        }
    }
}

impl fmt::Display for SecretRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SecretRef::Env(n) => write!(f, "env {n}"),
            SecretRef::File(p) => write!(f, "file {p}"),
        }
    }
}
