//! Connectors: one per app type. Each reads live state into [`ObservedApp`] and
//! carries out a plan's changes, reporting an outcome per change.
//!
//! The CLI picks the connector by the app's `type`; nothing outside this module
//! knows a protocol.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::desired::DesiredState;
use crate::observed::ObservedApp;
use crate::plan::Change;

pub mod active_directory;
pub mod connector;
pub mod google_workspace;
pub mod kit;
pub mod ldap;
pub mod office365;
pub mod scim;

/// What every connector needs from its surroundings.
#[derive(Debug, Clone)]
pub struct ConnectContext {
    /// The repository root: relative paths in app settings (CA files, secret files,
    /// sandbox state) are relative to it.
    pub repo_root: PathBuf,
    /// Where connectors keep snapshots for incremental reads (`.roster/cache`);
    /// `None` reads in full every time (`--no-cache`, tests that count requests).
    pub cache_dir: Option<PathBuf>,
}

/// The result of applying one change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "result", rename_all = "snake_case")]
pub enum ChangeResult {
    Applied {
        /// The live id of the object (new for creates).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        id: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        request_id: Option<String>,
    },
    Failed {
        /// The service's reason, in words (never a secret).
        error: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        request_id: Option<String>,
    },
    /// Not attempted because a change it depends on failed.
    SkippedDependency { on: String },
}

impl ChangeResult {
    pub fn is_failure(&self) -> bool {
        !matches!(self, ChangeResult::Applied { .. })
    }
}

/// Receives each change's outcome as soon as it is known (the report log writes one
/// line per call), from any task.
pub trait OutcomeSink: Send + Sync {
    fn record(&self, change: &Change, result: &ChangeResult);

    /// The outcomes of one batch response are all recorded: the report log makes them
    /// durable (without waiting for the disk). Wrapping sinks pass it on.
    fn batch_done(&self) {}
}

/// The input of a connector's apply: the changes of one app in plan order, plus the
/// desired state (for secrets and attributes) and the observed state they were planned
/// against (for live ids).
pub struct ApplyInput<'a> {
    pub changes: &'a [Change],
    pub desired: &'a DesiredState,
    pub observed: &'a ObservedApp,
}

/// What a reader must fetch; computed from the repository by
/// [`crate::plan::planner::read_scope`].
pub use crate::plan::ReadScope;
