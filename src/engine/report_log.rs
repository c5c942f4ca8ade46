//! The provisioning report log: one JSON line per applied or failed change.
//!
//! # Writing and durability
//!
//! Records are written as outcomes arrive and made durable per batch, not per change.
//! [`OutcomeSink::record`] only serializes the record and hands the line to a dedicated
//! writer thread over a channel: no lock is held across an `.await`, and no async worker
//! ever waits for the disk. The writer appends lines through a buffer to a file opened
//! in append mode (every `write` holds whole lines, so concurrent writers, tasks of one
//! apply or two processes, never interleave inside a line), hands them to the OS as
//! soon as it has caught up with the queue (a process that dies keeps them), and calls
//! `fdatasync`:
//!
//! - at the end of each batch response ([`OutcomeSink::batch_done`], which the Office
//!   365 connector calls once the outcomes of one `$batch` answer are recorded),
//! - when the oldest record not yet synced is [`MAX_UNSYNCED`] old (connectors that
//!   write one change at a time),
//! - at the end of the run and on Ctrl-C: [`ReportLog::flush_durable`] (or
//!   [`DurableHandle::flush_durable`] from another task) returns once every record
//!   handed over so far is on disk; dropping the log does the same.
//!
//! A crash of the machine therefore loses at most the outcomes whose sync had not
//! completed: those of the batch being answered (with 4 batches in flight, of those
//! answered while its sync ran), or of the last [`MAX_UNSYNCED`]; a crash of the process
//! alone loses only records still queued for the writer. Nothing is lost that matters for
//! correctness: the next apply reads the live state again and plans only what is still
//! missing; only those report lines are absent.
//!
//! # Provenance
//!
//! Each record carries the commit, the actor (`ROSTER_ACTOR`, else `GITHUB_ACTOR`, else
//! the OS user name) and, in GitHub Actions, the run URL and attempt; an update carries
//! the old and new value of each changed field (secret-looking fields redacted). Logs
//! written before these fields existed still read: every one of them is optional.

use std::collections::{BTreeMap, HashSet};
use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::Context;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::apps::{ChangeResult, OutcomeSink};
use crate::plan::{Action, Change, ObjectKind};

/// The longest a written record waits for its `fdatasync` when no batch ends.
pub const MAX_UNSYNCED: Duration = Duration::from_millis(100);

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

/// The old and new value of one field an update changed (`null`: no value).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FieldChange {
    pub old: Value,
    pub new: Value,
}

/// What a redacted value reads as.
pub const REDACTED: &str = "(redacted)";

/// Whether a field's value must never be written to the report: passwords and anything
/// secret-typed (tokens, keys, credentials). The plan never holds a secret value, only
/// where it comes from; the report leaves out even that.
pub fn is_secret_field(name: &str) -> bool {
    let n = name.to_ascii_lowercase();
    [
        "password",
        "secret",
        "token",
        "credential",
        "private_key",
        "key_file",
        "passphrase",
    ]
    .iter()
    .any(|s| n.contains(s))
}

/// The changed fields of an update, from the change's before and after.
pub fn field_changes(change: &Change) -> Option<BTreeMap<String, FieldChange>> {
    if change.action != Action::Update {
        return None;
    }
    let empty = BTreeMap::new();
    let before = change.before.as_ref().unwrap_or(&empty);
    let after = change.after.as_ref().unwrap_or(&empty);
    let mut out = BTreeMap::new();
    for name in before.keys().chain(after.keys()) {
        if out.contains_key(name) {
            continue;
        }
        let (old, new) = if is_secret_field(name) {
            (Value::from(REDACTED), Value::from(REDACTED))
        } else {
            (
                before.get(name).cloned().unwrap_or(Value::Null),
                after.get(name).cloned().unwrap_or(Value::Null),
            )
        };
        out.insert(name.clone(), FieldChange { old, new });
    }
    (!out.is_empty()).then_some(out)
}

/// Who ran an apply, from where: the same for every record of one run.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Provenance {
    /// The commit of the repository the plan was made from.
    pub commit: Option<String>,
    /// `ROSTER_ACTOR`, else `GITHUB_ACTOR`, else the OS user name.
    pub actor: Option<String>,
    /// In GitHub Actions: `$GITHUB_SERVER_URL/$GITHUB_REPOSITORY/actions/runs/$GITHUB_RUN_ID`.
    pub run_url: Option<String>,
    /// `$GITHUB_RUN_ATTEMPT`.
    pub run_attempt: Option<u32>,
}

impl Provenance {
    /// From the process environment.
    pub fn from_env(commit: Option<String>) -> Provenance {
        Provenance::from_vars(commit, |k| std::env::var(k).ok())
    }

    /// From variables looked up by `var` (empty counts as unset).
    pub fn from_vars(commit: Option<String>, var: impl Fn(&str) -> Option<String>) -> Provenance {
        let get = |k: &str| {
            var(k)
                .map(|v| v.trim().to_string())
                .filter(|v| !v.is_empty())
        };
        let actor = [
            "ROSTER_ACTOR",
            "GITHUB_ACTOR",
            "USER",
            "USERNAME",
            "LOGNAME",
        ]
        .iter()
        .find_map(|k| get(k));
        let in_actions = get("GITHUB_ACTIONS").is_some_and(|v| v == "true");
        let run_url = match (
            in_actions,
            get("GITHUB_SERVER_URL"),
            get("GITHUB_REPOSITORY"),
            get("GITHUB_RUN_ID"),
        ) {
            (true, Some(server), Some(repo), Some(run)) => Some(format!(
                "{}/{repo}/actions/runs/{run}",
                server.trim_end_matches('/')
            )),
            _ => None,
        };
        let run_attempt = run_url
            .as_ref()
            .and(get("GITHUB_RUN_ATTEMPT"))
            .and_then(|a| a.parse().ok());
        Provenance {
            commit,
            actor,
            run_url,
            run_attempt,
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
    /// Who ran the apply.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actor: Option<String>,
    /// The GitHub Actions run that applied it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_attempt: Option<u32>,
    /// Updates: the old and new value of each changed field (secrets redacted).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub changes: Option<BTreeMap<String, FieldChange>>,
}

impl ReportRecord {
    pub fn new(
        change: &Change,
        result: &ChangeResult,
        provenance: &Provenance,
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
            commit: provenance.commit.clone(),
            app: change.app.clone(),
            object: change.object(),
            key: change.key().into_owned(),
            action: change.action,
            result: Outcome::of(result),
            error,
            request_id,
            id,
            actor: provenance.actor.clone(),
            run_url: provenance.run_url.clone(),
            run_attempt: provenance.run_attempt,
            changes: field_changes(change),
        }
    }

    /// The run URL of the attempt: `RUN_URL/attempts/N` when the attempt is known.
    pub fn run_link(&self) -> Option<String> {
        let url = self.run_url.as_ref()?;
        Some(match self.run_attempt {
            Some(n) => format!("{url}/attempts/{n}"),
            None => url.clone(),
        })
    }
}

/// What the writer thread is asked to do.
enum Msg {
    Line(Vec<u8>),
    /// Make everything written so far durable; answer on the sender when given.
    Sync(Option<Sender<Result<(), String>>>),
    /// Sync and end.
    Close,
}

/// Appends report records through a writer thread; also counts outcomes for the apply
/// summary.
pub struct ReportLog {
    path: PathBuf,
    tx: Sender<Msg>,
    writer: Mutex<Option<JoinHandle<()>>>,
    provenance: Provenance,
    counts: Mutex<Counts>,
    /// `fdatasync` calls so far.
    syncs: Arc<AtomicUsize>,
}

/// How many changes ended which way.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    pub applied: usize,
    pub failed: usize,
    pub skipped: usize,
}

/// Makes the log durable from anywhere (a Ctrl-C handler, another task): cheap to
/// clone, `Send + 'static`.
#[derive(Clone)]
pub struct DurableHandle {
    tx: Sender<Msg>,
}

impl DurableHandle {
    /// Returns once every record handed to the log so far is written and synced
    /// (`fdatasync`). An error says what could not be written.
    pub fn flush_durable(&self) -> anyhow::Result<()> {
        flush_durable(&self.tx)
    }
}

fn flush_durable(tx: &Sender<Msg>) -> anyhow::Result<()> {
    let (reply, answer) = mpsc::channel();
    if tx.send(Msg::Sync(Some(reply))).is_err() {
        // The writer ended: it synced everything before it did.
        return Ok(());
    }
    match answer.recv() {
        Ok(r) => r.map_err(anyhow::Error::msg),
        Err(_) => Ok(()),
    }
}

impl ReportLog {
    /// Opens (creating the folder and file if needed) the log for appending; the
    /// provenance of the records comes from the environment.
    pub fn open(path: &Path, commit: Option<String>) -> anyhow::Result<Self> {
        ReportLog::open_with(path, Provenance::from_env(commit))
    }

    /// Opens the log for appending records of the given provenance.
    pub fn open_with(path: &Path, provenance: Provenance) -> anyhow::Result<Self> {
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
        let (tx, rx) = mpsc::channel();
        let shown = path.display().to_string();
        let syncs = Arc::new(AtomicUsize::new(0));
        let counter = Arc::clone(&syncs);
        let writer = std::thread::Builder::new()
            .name("report-log".into())
            .spawn(move || write_loop(rx, file, &shown, &counter))
            .context("cannot start the report log writer")?;
        Ok(ReportLog {
            path: path.to_path_buf(),
            tx,
            writer: Mutex::new(Some(writer)),
            provenance,
            counts: Mutex::new(Counts::default()),
            syncs,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn counts(&self) -> Counts {
        *self.counts.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// How many times the log was synced to disk so far (benchmarks, tests).
    pub fn syncs(&self) -> usize {
        self.syncs.load(Ordering::Relaxed)
    }

    /// Returns once every record so far is written and synced: at the end of a run and
    /// on Ctrl-C. An error says what could not be written (the outcomes were counted).
    pub fn flush_durable(&self) -> anyhow::Result<()> {
        flush_durable(&self.tx)
    }

    /// A handle that makes the log durable from another task or a signal handler.
    pub fn durable_handle(&self) -> DurableHandle {
        DurableHandle {
            tx: self.tx.clone(),
        }
    }
}

impl Drop for ReportLog {
    fn drop(&mut self) {
        let _ = self.tx.send(Msg::Close);
        let writer = self
            .writer
            .get_mut()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        if let Some(w) = writer {
            let _ = w.join();
        }
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
        let record = ReportRecord::new(change, result, &self.provenance, OffsetDateTime::now_utc());
        match serde_json::to_vec(&record) {
            Ok(mut line) => {
                line.push(b'\n');
                if self.tx.send(Msg::Line(line)).is_err() {
                    tracing::error!(path = %self.path.display(), "the report log writer has ended; a record is lost");
                }
            }
            Err(err) => {
                tracing::error!(path = %self.path.display(), "cannot serialize a report record: {err}");
            }
        }
    }

    fn batch_done(&self) {
        let _ = self.tx.send(Msg::Sync(None));
    }
}

/// The writer thread: appends lines, syncs when asked, when a record has waited
/// [`MAX_UNSYNCED`], and at the end.
fn write_loop(rx: Receiver<Msg>, file: File, shown: &str, syncs: &AtomicUsize) {
    let sync_file = file.try_clone();
    let mut out = BufWriter::with_capacity(64 * 1024, file);
    // The first record written since the last sync, and when.
    let mut unsynced: Option<Instant> = None;
    let mut lost = 0usize;
    let mut last_error: Option<String> = None;
    loop {
        let first = match unsynced {
            Some(since) => {
                let wait = MAX_UNSYNCED.saturating_sub(since.elapsed());
                match rx.recv_timeout(wait) {
                    Ok(m) => Some(m),
                    Err(RecvTimeoutError::Timeout) => None,
                    Err(RecvTimeoutError::Disconnected) => Some(Msg::Close),
                }
            }
            None => Some(rx.recv().unwrap_or(Msg::Close)),
        };
        let mut sync = first.is_none();
        let mut close = false;
        let mut waiters = Vec::new();
        // Write what is queued up to the next mark (or until a record has waited
        // too long), then sync; with nothing queued, hand the lines to the OS at
        // least (a process that dies keeps them; a machine that dies may not).
        let mut next = first;
        loop {
            match next.take() {
                Some(Msg::Line(line)) => {
                    if let Err(e) = out.write_all(&line) {
                        lost += 1;
                        if last_error.is_none() {
                            tracing::error!(path = %shown, "cannot append to the report log: {e}");
                        }
                        last_error = Some(e.to_string());
                    }
                    unsynced.get_or_insert_with(Instant::now);
                }
                Some(Msg::Sync(reply)) => {
                    sync = true;
                    waiters.extend(reply);
                }
                Some(Msg::Close) => {
                    sync = true;
                    close = true;
                }
                None => {}
            }
            if sync {
                break;
            }
            if unsynced.is_some_and(|t| t.elapsed() >= MAX_UNSYNCED) {
                sync = true;
                break;
            }
            match rx.try_recv() {
                Ok(m) => next = Some(m),
                Err(_) => break,
            }
        }
        if !sync {
            if let Err(e) = out.flush() {
                if last_error.is_none() {
                    tracing::error!(path = %shown, "cannot append to the report log: {e}");
                }
                last_error = Some(e.to_string());
            }
        } else {
            syncs.fetch_add(1, Ordering::Relaxed);
            let synced = out.flush().and_then(|()| match &sync_file {
                Ok(f) => f.sync_data(),
                Err(_) => out.get_ref().sync_data(),
            });
            if let Err(e) = synced {
                if last_error.is_none() {
                    tracing::error!(path = %shown, "cannot sync the report log: {e}");
                }
                last_error = Some(e.to_string());
            }
            unsynced = None;
            let answer = match &last_error {
                None => Ok(()),
                Some(e) if lost > 0 => Err(format!(
                    "the report log {shown} misses {lost} record(s): {e}"
                )),
                Some(e) => Err(format!("the report log {shown} may not be on disk: {e}")),
            };
            for w in waiters {
                let _ = w.send(answer.clone());
            }
        }
        if close {
            return;
        }
    }
}

/// Reads every record of a report log. A line that is not a record (a foreign or
/// damaged line) is an error naming the line number. A missing file holds no records.
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

/// The log files a `--report-log` names: the file itself, or in a folder (searched
/// through its subfolders, as downloaded artifacts are laid out) every `*.jsonl` file,
/// in path order. A path that does not exist is an error.
pub fn log_files(path: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let meta = std::fs::metadata(path)
        .with_context(|| format!("cannot read the report log {}", path.display()))?;
    if !meta.is_dir() {
        return Ok(vec![path.to_path_buf()]);
    }
    let mut files = Vec::new();
    for entry in walkdir::WalkDir::new(path)
        .follow_links(true)
        .sort_by_file_name()
    {
        let entry = entry.with_context(|| format!("cannot search {}", path.display()))?;
        if entry.file_type().is_file() && entry.path().extension().is_some_and(|e| e == "jsonl") {
            files.push(entry.into_path());
        }
    }
    Ok(files)
}

/// Reads several logs (files or folders, see [`log_files`]) as one history: ordered by
/// time (records whose time does not parse last), the same record found in two logs
/// (an artifact downloaded twice, a log copied into another) kept once.
pub fn read_many(paths: &[PathBuf]) -> anyhow::Result<Vec<ReportRecord>> {
    let mut all = Vec::new();
    let mut files = Vec::new();
    for p in paths {
        files.extend(log_files(p)?);
    }
    let mut read = HashSet::new();
    for f in files {
        // One file named twice (a folder and a file in it) is read once.
        let id = std::fs::canonicalize(&f).unwrap_or_else(|_| f.clone());
        if read.insert(id) {
            all.extend(read_all(&f)?);
        }
    }
    Ok(merge(all))
}

/// Orders records by time (stable: a log's own order stays for equal times) and drops
/// repeats of the same record.
pub fn merge(records: Vec<ReportRecord>) -> Vec<ReportRecord> {
    let mut keyed: Vec<(Option<OffsetDateTime>, ReportRecord)> = records
        .into_iter()
        .map(|r| (OffsetDateTime::parse(&r.time, &Rfc3339).ok(), r))
        .collect();
    keyed.sort_by(|(a, _), (b, _)| match (a, b) {
        (Some(a), Some(b)) => a.cmp(b),
        (Some(_), None) => std::cmp::Ordering::Less,
        (None, Some(_)) => std::cmp::Ordering::Greater,
        (None, None) => std::cmp::Ordering::Equal,
    });
    let mut seen = HashSet::new();
    keyed
        .into_iter()
        .map(|(_, r)| r)
        .filter(|r| seen.insert(serde_json::to_string(r).unwrap_or_default()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::Target;
    use serde_json::json;

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

    fn applied() -> ChangeResult {
        ChangeResult::Applied {
            id: None,
            request_id: None,
        }
    }

    #[test]
    fn appends_one_line_per_outcome_and_reads_them_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/reports.jsonl");
        let log = ReportLog::open_with(
            &path,
            Provenance {
                commit: Some("abc".into()),
                ..Provenance::default()
            },
        )
        .unwrap();
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
        log.flush_durable().unwrap();
        // Readable after the flush, while the log is still open.
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
    fn records_reach_the_file_without_an_explicit_flush_and_on_drop() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.jsonl");
        let log = ReportLog::open_with(&path, Provenance::default()).unwrap();
        log.record(&change("alice"), &applied());
        log.batch_done();
        // The batch mark (or at the latest MAX_UNSYNCED) writes it out.
        let deadline = Instant::now() + Duration::from_secs(5);
        while read_all(&path).unwrap().is_empty() {
            assert!(
                Instant::now() < deadline,
                "the record never reached the file"
            );
            std::thread::sleep(Duration::from_millis(5));
        }
        let handle = log.durable_handle();
        for i in 0..500 {
            log.record(&change(&format!("u{i}")), &applied());
        }
        drop(log);
        assert_eq!(
            read_all(&path).unwrap().len(),
            501,
            "drop writes everything"
        );
        handle
            .flush_durable()
            .expect("a handle outliving the log is harmless");
    }

    #[test]
    fn concurrent_records_stay_whole_lines() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.jsonl");
        let log = ReportLog::open_with(&path, Provenance::default()).unwrap();
        std::thread::scope(|s| {
            for t in 0..4 {
                let log = &log;
                s.spawn(move || {
                    for i in 0..250 {
                        log.record(&change(&format!("t{t}-{i}")), &applied());
                        if i % 20 == 0 {
                            log.batch_done();
                        }
                    }
                });
            }
        });
        log.flush_durable().unwrap();
        let syncs = log.syncs();
        // One per batch mark at most (and the flush), never one per record.
        assert!((1..=4 * 13 + 1).contains(&syncs), "{syncs} syncs");
        let recs = read_all(&path).unwrap();
        assert_eq!(recs.len(), 1000);
        let keys: HashSet<_> = recs.iter().map(|r| r.key.clone()).collect();
        assert_eq!(keys.len(), 1000);
    }

    #[test]
    fn a_damaged_line_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.jsonl");
        std::fs::write(&path, "{\"time\":1}\n").unwrap();
        let err = read_all(&path).unwrap_err();
        assert!(format!("{err:#}").contains("r.jsonl:1"), "{err:#}");
    }

    #[test]
    fn an_old_record_without_provenance_still_reads() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("old.jsonl");
        std::fs::write(
            &path,
            "{\"time\":\"2026-01-02T03:04:05Z\",\"commit\":null,\"app\":\"o365\",\"object\":\"user\",\"key\":\"alice\",\"action\":\"create\",\"result\":\"applied\"}\n",
        )
        .unwrap();
        let recs = read_all(&path).unwrap();
        assert_eq!(recs.len(), 1);
        assert_eq!(recs[0].actor, None);
        assert_eq!(recs[0].run_link(), None);
        assert_eq!(recs[0].changes, None);
    }

    fn vars(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: BTreeMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |k| map.get(k).cloned()
    }

    #[test]
    fn provenance_prefers_roster_actor_and_builds_the_run_url_only_in_actions() {
        let ci = [
            ("GITHUB_ACTIONS", "true"),
            ("GITHUB_ACTOR", "octocat"),
            ("GITHUB_SERVER_URL", "https://github.example/"),
            ("GITHUB_REPOSITORY", "acme/people"),
            ("GITHUB_RUN_ID", "42"),
            ("GITHUB_RUN_ATTEMPT", "3"),
            ("USER", "runner"),
        ];
        let p = Provenance::from_vars(None, vars(&ci));
        assert_eq!(p.actor.as_deref(), Some("octocat"));
        assert_eq!(
            p.run_url.as_deref(),
            Some("https://github.example/acme/people/actions/runs/42")
        );
        assert_eq!(p.run_attempt, Some(3));
        let mut with_roster = ci.to_vec();
        with_roster.push(("ROSTER_ACTOR", "alice"));
        assert_eq!(
            Provenance::from_vars(None, vars(&with_roster))
                .actor
                .as_deref(),
            Some("alice")
        );
        // Outside Actions: the OS user, no run.
        let local = Provenance::from_vars(None, vars(&[("USER", "bob"), ("GITHUB_RUN_ID", "9")]));
        assert_eq!(local.actor.as_deref(), Some("bob"));
        assert_eq!(local.run_url, None);
        assert_eq!(local.run_attempt, None);
        assert_eq!(
            Provenance::from_vars(None, vars(&[("ROSTER_ACTOR", " ")])).actor,
            None
        );
    }

    #[test]
    fn an_update_records_old_and_new_values_never_secrets() {
        let mut c = change("alice");
        c.action = Action::Update;
        c.before = Some(
            [
                ("department".to_string(), json!("Sales")),
                ("job_title".to_string(), Value::Null),
                ("password".to_string(), json!("(from env OLD_PW)")),
            ]
            .into(),
        );
        c.after = Some(
            [
                ("department".to_string(), json!("Marketing")),
                ("job_title".to_string(), json!("Lead")),
                ("password".to_string(), json!("(from env ALICE_PW)")),
                ("client_secret".to_string(), json!("hunter2")),
            ]
            .into(),
        );
        let rec = ReportRecord::new(
            &c,
            &applied(),
            &Provenance::default(),
            OffsetDateTime::UNIX_EPOCH,
        );
        let changes = rec.changes.clone().expect("an update records its values");
        assert_eq!(
            changes["department"],
            FieldChange {
                old: json!("Sales"),
                new: json!("Marketing")
            }
        );
        assert_eq!(changes["job_title"].old, Value::Null);
        assert_eq!(changes["password"].new, json!(REDACTED));
        assert_eq!(changes["client_secret"].new, json!(REDACTED));
        let line = serde_json::to_string(&rec).unwrap();
        assert!(
            !line.contains("ALICE_PW") && !line.contains("hunter2"),
            "{line}"
        );
        // A create records no old/new values.
        c.action = Action::Create;
        assert_eq!(field_changes(&c), None);
    }

    #[test]
    fn merge_orders_by_time_and_drops_repeats() {
        let rec = |time: &str, key: &str| ReportRecord {
            time: time.into(),
            ..ReportRecord::new(
                &change(key),
                &applied(),
                &Provenance::default(),
                OffsetDateTime::UNIX_EPOCH,
            )
        };
        let a = rec("2026-01-01T10:00:00.5Z", "a");
        let b = rec("2026-01-01T10:00:00Z", "b");
        let c = rec("2026-01-01T09:00:00+00:00", "c");
        let bad = rec("not a time", "d");
        let merged = merge(vec![
            a.clone(),
            bad.clone(),
            b.clone(),
            a.clone(),
            c.clone(),
            b.clone(),
        ]);
        let keys: Vec<&str> = merged.iter().map(|r| r.key.as_str()).collect();
        assert_eq!(keys, ["c", "b", "a", "d"]);
    }

    #[test]
    fn folders_are_searched_for_jsonl_logs() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("roster-report-1-1")).unwrap();
        std::fs::create_dir_all(dir.path().join("roster-report-2-1")).unwrap();
        std::fs::write(dir.path().join("roster-report-1-1/reports.jsonl"), "").unwrap();
        std::fs::write(dir.path().join("roster-report-2-1/reports.jsonl"), "").unwrap();
        std::fs::write(dir.path().join("notes.txt"), "x").unwrap();
        let files = log_files(dir.path()).unwrap();
        assert_eq!(files.len(), 2, "{files:?}");
        assert!(files[0].ends_with("roster-report-1-1/reports.jsonl"));
        assert!(log_files(&dir.path().join("missing")).is_err());
    }
}
