//! The provisioning report log: one JSON line per applied or failed change, appended
//! and flushed as each outcome arrives, so a crash loses nothing that was applied.
//!
//! Each record is serialized in full first and written with a single `write_all` on a
//! file opened in append mode, then flushed to disk; concurrent writers (tasks of one
//! apply, or two processes) therefore never interleave inside a line.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use anyhow::Context;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::apps::{ChangeResult, OutcomeSink};
use crate::plan::{Action, Change, ObjectKind};

/// How a change ended, as the report log and `report --result` spell it.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, clap::ValueEnum,
)]
#[serde(rename_all = "snake_case")]
#[value(rename_all = "snake_case")]
pub enum Outcome {
    Applied,
    Failed,
    Skipped,
}

impl Outcome {
    pub const ALL: [Outcome; 3] = [Outcome::Applied, Outcome::Failed, Outcome::Skipped];

    /// The one spelling of this outcome.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Applied => "applied",
            Outcome::Failed => "failed",
            Outcome::Skipped => "skipped",
        }
    }

    pub fn of(result: &ChangeResult) -> Outcome {
        match result {
            ChangeResult::Applied { .. } => Outcome::Applied,
            ChangeResult::Failed { .. } => Outcome::Failed,
            ChangeResult::SkippedDependency { .. } => Outcome::Skipped,
        }
    }
}

/// One line of the report log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReportRecord {
    /// UTC time, RFC 3339.
    pub time: String,
    pub commit: Option<String>,
    pub app: String,
    pub object: ObjectKind,
    pub key: String,
    pub action: Action,
    pub result: Outcome,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    /// The live id of the object, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
}

impl ReportRecord {
    pub fn new(
        change: &Change,
        result: &ChangeResult,
        commit: Option<String>,
        now: OffsetDateTime,
    ) -> Self {
        let (error, request_id, id) = match result {
            ChangeResult::Applied { id, request_id } => (
                None,
                request_id.clone(),
                id.clone().or_else(|| change.id.clone()),
            ),
            ChangeResult::Failed { error, request_id } => {
                (Some(error.clone()), request_id.clone(), change.id.clone())
            }
            ChangeResult::SkippedDependency { on } => (
                Some(format!("not attempted: {on} failed")),
                None,
                change.id.clone(),
            ),
        };
        ReportRecord {
            time: now
                .to_offset(time::UtcOffset::UTC)
                .format(&Rfc3339)
                .unwrap_or_default(),
            commit,
            app: change.app.clone(),
            object: change.object(),
            key: change.key().into_owned(),
            action: change.action,
            result: Outcome::of(result),
            error,
            request_id,
            id,
        }
    }
}

/// Appends report records; also counts outcomes for the apply summary.
pub struct ReportLog {
    path: PathBuf,
    file: Mutex<File>,
    commit: Option<String>,
    counts: Mutex<Counts>,
}

/// How many changes ended which way.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    pub applied: usize,
    pub failed: usize,
    pub skipped: usize,
}

impl ReportLog {
    /// Opens (creating the folder and file if needed) the log for appending.
    pub fn open(path: &Path, commit: Option<String>) -> anyhow::Result<Self> {
        if let Some(dir) = path.parent()
            && !dir.as_os_str().is_empty()
        {
            std::fs::create_dir_all(dir).with_context(|| {
                format!("cannot create the report log folder {}", dir.display())
            })?;
        }
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .with_context(|| format!("cannot open the report log {}", path.display()))?;
        Ok(ReportLog {
            path: path.to_path_buf(),
            file: Mutex::new(file),
            commit,
            counts: Mutex::new(Counts::default()),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn counts(&self) -> Counts {
        *self.counts.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn append(&self, record: &ReportRecord) -> std::io::Result<()> {
        let mut line = serde_json::to_vec(record).map_err(std::io::Error::other)?;
        line.push(b'\n');
        let mut file = self.file.lock().unwrap_or_else(|e| e.into_inner());
        file.write_all(&line)?;
        file.flush()?;
        file.sync_data()
    }
}

impl OutcomeSink for ReportLog {
    fn record(&self, change: &Change, result: &ChangeResult) {
        {
            let mut c = self.counts.lock().unwrap_or_else(|e| e.into_inner());
            match result {
                ChangeResult::Applied { .. } => c.applied += 1,
                ChangeResult::Failed { .. } => c.failed += 1,
                ChangeResult::SkippedDependency { .. } => c.skipped += 1,
            }
        }
        let record = ReportRecord::new(
            change,
            result,
            self.commit.clone(),
            OffsetDateTime::now_utc(),
        );
        if let Err(err) = self.append(&record) {
            tracing::error!(path = %self.path.display(), "cannot append to the report log: {err}");
        }
    }
}

/// Reads every record of a report log. A line that is not a record (a foreign or
/// damaged line) is an error naming the line number.
pub fn read_all(path: &Path) -> anyhow::Result<Vec<ReportRecord>> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => {
            return Err(e)
                .with_context(|| format!("cannot read the report log {}", path.display()));
        }
    };
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let rec: ReportRecord = serde_json::from_str(line)
            .with_context(|| format!("{}:{}: not a report record", path.display(), i + 1))?;
        out.push(rec);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::Target;

    fn change(key: &str) -> Change {
        Change {
            app: "o365".into(),
            target: Target::of(ObjectKind::User, key).expect("a valid target"),
            action: Action::Create,
            id: None,
            before: None,
            after: None,
            reason: "test".into(),
        }
    }

    #[test]
    fn appends_one_line_per_outcome_and_reads_them_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/reports.jsonl");
        let log = ReportLog::open(&path, Some("abc".into())).unwrap();
        log.record(
            &change("alice"),
            &ChangeResult::Applied {
                id: Some("1".into()),
                request_id: None,
            },
        );
        log.record(
            &change("bob"),
            &ChangeResult::Failed {
                error: "boom".into(),
                request_id: Some("r1".into()),
            },
        );
        log.record(
            &change("carol"),
            &ChangeResult::SkippedDependency {
                on: "group x".into(),
            },
        );
        let recs = read_all(&path).unwrap();
        assert_eq!(recs.len(), 3);
        assert_eq!(recs[0].key, "alice");
        assert_eq!(recs[0].result, Outcome::Applied);
        assert_eq!(recs[0].id.as_deref(), Some("1"));
        assert_eq!(recs[1].result, Outcome::Failed);
        assert_eq!(recs[1].request_id.as_deref(), Some("r1"));
        assert_eq!(recs[2].result, Outcome::Skipped);
        assert_eq!(recs[0].commit.as_deref(), Some("abc"));
        assert!(recs[0].time.ends_with('Z'));
        assert_eq!(
            log.counts(),
            Counts {
                applied: 1,
                failed: 1,
                skipped: 1
            }
        );
    }

    #[test]
    fn a_damaged_line_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.jsonl");
        std::fs::write(&path, "{\"time\":1}\n").unwrap();
        let err = read_all(&path).unwrap_err();
        assert!(format!("{err:#}").contains("r.jsonl:1"), "{err:#}");
    }
}
