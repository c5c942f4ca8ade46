//! Desired state: the identity repository's YAML, read from a working tree or a Git
//! revision, validated with exact source positions, and merged into one model.
//!
//! Pipeline: [`source`] yields the files' bytes → [`yaml`] builds a marked tree per
//! file (bounded against hostile input) → `convert` turns it into the model while
//! checking keys, types and values → `check` runs the cross-object rules on the
//! merged state — only when every file parsed, so that a syntax error does not
//! cascade into "not defined" errors elsewhere. Every problem becomes a
//! [`Diagnostic`]; only I/O and Git failures are `Err`. [`preflight`] is the early
//! check of the selected apps' secret references and files before any connection.

pub mod access;
mod check;
mod convert;
pub mod diff;
pub mod lifecycle;
mod limits;
mod mapping_check;
mod model;
pub mod preflight;
pub mod source;
pub mod yaml;

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use anyhow::Context;
use serde::Serialize;

pub use convert::{valid_date, valid_domain, valid_email, valid_sku};
pub use model::*;

/// At most this many problems are listed per file (the rest are counted).
pub const MAX_DIAGNOSTICS_PER_FILE: usize = 500;

/// How bad a diagnostic is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Error,
    Warning,
}

/// One problem found in the repository, at a 1-based position in a file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Diagnostic {
    /// The file, relative to the repository root, with `/` separators.
    pub file: String,
    pub line: usize,
    pub col: usize,
    pub severity: Severity,
    pub message: String,
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sev = match self.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        write!(
            f,
            "{}:{}:{}: {sev}: {}",
            self.file, self.line, self.col, self.message
        )
    }
}

/// A position in a repository file.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Loc {
    /// Relative to the repository root; shared by all positions in one file.
    pub file: std::sync::Arc<str>,
    pub line: usize,
    pub col: usize,
}

impl fmt::Display for Loc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.file, self.line, self.col)
    }
}

/// Where one object (an app, user, group, membership entry or policy) was written:
/// the start of its mapping, each key's value, and each element of its lists. An
/// object lives in one file, so positions are kept compact, without the file name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjLoc {
    pub file: std::sync::Arc<str>,
    pub at: yaml::Pos,
    pub fields: Vec<(&'static str, yaml::Pos)>,
    pub items: Vec<(&'static str, Vec<yaml::Pos>)>,
}

impl ObjLoc {
    fn loc(&self, pos: yaml::Pos) -> Loc {
        Loc {
            file: self.file.clone(),
            line: pos.line(),
            col: pos.col(),
        }
    }
    /// The start of the object.
    pub fn at(&self) -> Loc {
        self.loc(self.at)
    }
    /// The value of `key`, or the object's start when the key is absent.
    pub fn field(&self, key: &str) -> Loc {
        match self.fields.iter().find(|(k, _)| *k == key) {
            Some((_, p)) => self.loc(*p),
            None => self.at(),
        }
    }
    /// Element `i` of the list under `key`, or the key's value when there is none.
    pub fn item(&self, key: &str, i: usize) -> Loc {
        match self.item_positions(key).get(i) {
            Some(p) => self.loc(*p),
            None => self.field(key),
        }
    }
    /// The positions of the elements of the list under `key`.
    pub fn item_positions(&self, key: &str) -> &[yaml::Pos] {
        self.items
            .iter()
            .find(|(k, _)| *k == key)
            .map_or(&[], |(_, v)| v.as_slice())
    }
}

/// Source positions parallel to the lists of a [`DesiredState`]: `users[i]` was
/// written at `SourceMap::users[i]`, and so on.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SourceMap {
    pub apps: Vec<ObjLoc>,
    pub users: Vec<ObjLoc>,
    pub groups: Vec<ObjLoc>,
    pub memberships: Vec<ObjLoc>,
    pub policies: Vec<ObjLoc>,
}

/// The result of loading a repository.
#[derive(Debug, Clone)]
pub struct Loaded {
    /// The merged state (partial when there are errors), with its source recorded.
    pub state: DesiredState,
    /// Errors and warnings, sorted by file, line and column.
    pub diagnostics: Vec<Diagnostic>,
    /// The repository root the files were read from.
    pub root: PathBuf,
    /// Where each object of `state` was written.
    pub sources: SourceMap,
    /// The files that were read, relative to `root`, in merge order.
    pub files: Vec<String>,
    /// What a reviewer must know about where the app settings came from (`--apps-from`):
    /// (app, message), in app order.
    pub app_notes: Vec<(String, String)>,
    /// The contents of the files a diagnostic points into and of those defining apps,
    /// as read (moved here, not copied), so that a diagnostic can show its source
    /// line; empty when the files were handed to [`load_files`].
    pub contents: Vec<source::SourceFile>,
}

impl Loaded {
    pub fn has_errors(&self) -> bool {
        self.diagnostics
            .iter()
            .any(|d| d.severity == Severity::Error)
    }
    pub fn errors(&self) -> impl Iterator<Item = &Diagnostic> {
        self.diagnostics
            .iter()
            .filter(|d| d.severity == Severity::Error)
    }
    pub fn warnings(&self) -> impl Iterator<Item = &Diagnostic> {
        self.diagnostics
            .iter()
            .filter(|d| d.severity == Severity::Warning)
    }
    /// The source line of each diagnostic (without its line break), when its file's
    /// text is at hand. One forward scan per file for diagnostics in file order.
    pub fn source_lines<'a>(&'a self, diags: &[Diagnostic]) -> Vec<Option<&'a str>> {
        // (file index, line number of `offset`, byte offset of that line's start)
        let mut cursor: Option<(usize, usize, usize)> = None;
        diags
            .iter()
            .map(|d| {
                let fi = self
                    .contents
                    .binary_search_by(|f| f.path.as_str().cmp(&d.file))
                    .ok()?;
                let source::Content::Bytes(bytes) = &self.contents[fi].content else {
                    return None;
                };
                let (mut line, mut off) = match cursor {
                    Some((f, l, o)) if f == fi && l <= d.line => (l, o),
                    _ => (1, 0),
                };
                while line < d.line {
                    let nl = bytes[off..].iter().position(|&b| b == b'\n')?;
                    off += nl + 1;
                    line += 1;
                }
                cursor = Some((fi, line, off));
                let end = bytes[off..]
                    .iter()
                    .position(|&b| b == b'\n')
                    .map_or(bytes.len(), |n| off + n);
                let text = std::str::from_utf8(&bytes[off..end]).ok()?;
                Some(text.strip_suffix('\r').unwrap_or(text))
            })
            .collect()
    }
}

/// Load the desired state from the working tree of `dir` (`rev: None`) or from the
/// revision `rev` of the Git repository containing `dir`.
///
/// `Err` only for I/O and Git failures (an unknown revision names it); problems in
/// the YAML are diagnostics.
pub fn load(dir: &Path, rev: Option<&str>) -> anyhow::Result<Loaded> {
    let root = dir
        .canonicalize()
        .with_context(|| format!("cannot open repository folder {}", dir.display()))?;
    if !root.is_dir() {
        anyhow::bail!("{} is not a folder", dir.display());
    }
    let (files, source) = match rev {
        Some(rev) => {
            let (repo, prefix) = source::discover(&root).with_context(|| {
                format!(
                    "cannot read revision `{rev}`: {} is not inside a Git repository",
                    dir.display()
                )
            })?;
            let commit = source::resolve_commit(&repo, rev)?;
            let tree = commit
                .tree()
                .with_context(|| format!("cannot read the tree of revision `{rev}`"))?;
            let files = source::read_tree(&repo, &tree, &prefix, rev)?;
            (
                files,
                SourceInfo {
                    commit: Some(commit.id().to_string()),
                    dirty: false,
                },
            )
        }
        None => {
            let files = source::read_worktree(&root)?;
            let info = match source::discover(&root) {
                Some((repo, prefix)) => {
                    let (commit, dirty) = source::worktree_status(&repo, &prefix, &files);
                    SourceInfo { commit, dirty }
                }
                None => SourceInfo::default(),
            };
            (files, info)
        }
    };
    let mut loaded = load_files(&files);
    loaded.state.source = source;
    loaded.root = root;
    // Only the files a diagnostic can point into are kept for their source lines:
    // those with a diagnostic now, and those defining apps (the preflight check
    // reports there). At a million users the rest is hundreds of MiB.
    let mut wanted: std::collections::HashSet<&str> =
        loaded.diagnostics.iter().map(|d| d.file.as_str()).collect();
    wanted.extend(loaded.sources.apps.iter().map(|a| &*a.file));
    let keep: Vec<bool> = files
        .iter()
        .map(|f| wanted.contains(f.path.as_str()))
        .collect();
    let mut keep = keep.into_iter();
    let mut files = files;
    files.retain(|_| keep.next().unwrap_or(false));
    loaded.contents = files;
    Ok(loaded)
}

/// Loads the desired state as [`load`] does, but with every app definition (type,
/// endpoints, credentials, tls, switches, scope keys) taken from the trusted revision
/// `apps_rev` (`--apps-from`): a change to an app's settings in the working tree or
/// `rev` cannot point credentials elsewhere before it is merged.
pub fn load_with_apps_from(
    dir: &Path,
    rev: Option<&str>,
    apps_rev: &str,
) -> anyhow::Result<Loaded> {
    let loaded = load(dir, rev)?;
    let trusted = load(dir, Some(apps_rev))
        .with_context(|| format!("cannot read the app settings of `--apps-from {apps_rev}`"))?;
    Ok(trust_apps(loaded, trusted, apps_rev))
}

/// Replaces the apps of `loaded` by those of `trusted` (read from revision `rev`):
/// apps new in `loaded` are left out with their policies, changed settings are
/// replaced, and each difference becomes an app note for the plan.
pub fn trust_apps(mut loaded: Loaded, trusted: Loaded, rev: &str) -> Loaded {
    let mut notes = Vec::new();
    let trusted_errors = trusted
        .diagnostics
        .iter()
        .filter(|d| d.severity == Severity::Error)
        .count();
    if trusted_errors > 0 {
        loaded.diagnostics.push(Diagnostic {
            file: trusted.files.first().cloned().unwrap_or_default(),
            line: 1,
            col: 1,
            severity: Severity::Error,
            message: format!(
                "revision {rev} of `--apps-from` has {trusted_errors} error(s), so its app settings cannot be trusted; run `roster validate --ref {rev}`"
            ),
        });
    }
    let settings = |a: &App| serde_json::to_value(a).unwrap_or_default();
    for app in &loaded.state.apps {
        match trusted.state.app(app.name()) {
            None => notes.push((
                app.name().to_string(),
                format!(
                    "app {} is new in this change and is not planned: app settings come from {rev} (`--apps-from`); it is planned once the change is merged",
                    app.name()
                ),
            )),
            Some(t) if settings(t) != settings(app) => notes.push((
                app.name().to_string(),
                format!(
                    "this change edits the settings of app {}; this plan uses its settings at {rev} (`--apps-from`); the new settings take effect once the change is merged",
                    app.name()
                ),
            )),
            Some(_) => {}
        }
    }
    for app in &trusted.state.apps {
        if loaded.state.app(app.name()).is_none() {
            notes.push((
                app.name().to_string(),
                format!(
                    "this change removes app {}; this plan still reads it with its settings at {rev} (`--apps-from`)",
                    app.name()
                ),
            ));
        }
    }
    // Policies of apps that are not trusted cannot be planned.
    let keep: Vec<bool> = loaded
        .state
        .policies
        .iter()
        .map(|p| trusted.state.app(&p.app).is_some())
        .collect();
    let mut k = keep.iter();
    loaded.state.policies.retain(|_| *k.next().unwrap_or(&true));
    if loaded.sources.policies.len() == keep.len() {
        let mut k = keep.iter();
        loaded
            .sources
            .policies
            .retain(|_| *k.next().unwrap_or(&true));
    }
    loaded.state.apps = trusted.state.apps;
    loaded.sources.apps = trusted.sources.apps;
    notes.sort();
    loaded.app_notes = notes;
    loaded
}

/// Whether the folder `dir` exists at revision `rev` of the Git repository that
/// contains it, and that revision's commit id. `Err` when `rev` cannot be resolved
/// or `dir` is not inside a Git repository.
pub fn folder_at(dir: &Path, rev: &str) -> anyhow::Result<(bool, String)> {
    let root = dir
        .canonicalize()
        .with_context(|| format!("cannot open repository folder {}", dir.display()))?;
    let (repo, prefix) = source::discover(&root).with_context(|| {
        format!(
            "cannot read revision `{rev}`: {} is not inside a Git repository",
            dir.display()
        )
    })?;
    let commit = source::resolve_commit(&repo, rev)?;
    let tree = commit
        .tree()
        .with_context(|| format!("cannot read the tree of revision `{rev}`"))?;
    let exists = prefix.as_os_str().is_empty()
        || tree
            .get_path(&prefix)
            .is_ok_and(|e| e.kind() == Some(git2::ObjectType::Tree));
    Ok((exists, commit.id().to_string()))
}

/// Parse, convert, merge and check already-read files (paths relative to the root).
pub fn load_files(files: &[source::SourceFile]) -> Loaded {
    let mut diags = Vec::new();
    let mut state = DesiredState::default();
    let mut sources = SourceMap::default();
    let mut app_decls = Vec::new();
    let mut omitted: BTreeMap<String, usize> = BTreeMap::new();
    // Files are parsed and converted independently, on every core; their results are
    // merged in file order, so the outcome does not depend on the threads.
    // A file that could not be parsed contributes nothing, so checks across files
    // (members, policies, duplicates) would report its objects as missing elsewhere:
    // they are skipped until every file parses. Each file's own checks still run.
    let mut unparsed = 0usize;
    let parsed = parse_all(files);
    // The merged lists are sized once: at a million users a doubling `extend` would
    // hold the old and the new copy at once.
    {
        let outs = || parsed.iter().filter_map(|(_, o)| o.as_ref());
        state
            .users
            .reserve_exact(outs().map(|o| o.repo.users.len()).sum());
        state
            .groups
            .reserve_exact(outs().map(|o| o.repo.groups.len()).sum());
        state
            .memberships
            .reserve_exact(outs().map(|o| o.repo.memberships.len()).sum());
        state
            .policies
            .reserve_exact(outs().map(|o| o.repo.policies.len()).sum());
        sources
            .users
            .reserve_exact(outs().map(|o| o.locs.users.len()).sum());
        sources
            .groups
            .reserve_exact(outs().map(|o| o.locs.groups.len()).sum());
        sources
            .memberships
            .reserve_exact(outs().map(|o| o.locs.memberships.len()).sum());
        sources
            .policies
            .reserve_exact(outs().map(|o| o.locs.policies.len()).sum());
    }
    for (f, (mut file_diags, out)) in files.iter().zip(parsed) {
        let Some(out) = out else {
            unparsed += 1;
            if let Some(d) = file_diags
                .iter_mut()
                .rfind(|d| d.severity == Severity::Error)
            {
                d.message
                    .push_str(" (checks across files are skipped until this file parses)");
            }
            diags.extend(file_diags);
            continue;
        };
        diags.extend(file_diags);
        if out.omitted > 0 {
            *omitted.entry(f.path.clone()).or_default() += out.omitted;
        }
        state.apps.extend(out.repo.apps);
        state.users.extend(out.repo.users);
        state.groups.extend(out.repo.groups);
        state.memberships.extend(out.repo.memberships);
        state.policies.extend(out.repo.policies);
        sources.apps.extend(out.locs.apps);
        sources.users.extend(out.locs.users);
        sources.groups.extend(out.locs.groups);
        sources.memberships.extend(out.locs.memberships);
        sources.policies.extend(out.locs.policies);
        app_decls.extend(out.app_decls);
    }
    if unparsed == 0 {
        check::check(&state, &sources, &app_decls, &mut diags);
    }
    sort_diagnostics(&mut diags);
    cap_per_file(&mut diags, omitted);
    Loaded {
        state,
        diagnostics: diags,
        root: PathBuf::new(),
        sources,
        files: files.iter().map(|f| f.path.clone()).collect(),
        app_notes: Vec::new(),
        contents: Vec::new(),
    }
}

/// Parses and converts every file, in parallel over the available cores; results in
/// file order.
fn parse_all(files: &[source::SourceFile]) -> Vec<(Vec<Diagnostic>, Option<convert::FileOut>)> {
    let threads = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
        .min(files.len())
        .min(8);
    if threads <= 1 {
        return files.iter().map(parse_one).collect();
    }
    // Files go to workers in turn from a shared counter, so one large file does not
    // hold up a whole share of others.
    let next = std::sync::atomic::AtomicUsize::new(0);
    let mut results: Vec<Option<(Vec<Diagnostic>, Option<convert::FileOut>)>> =
        (0..files.len()).map(|_| None).collect();
    std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads)
            .map(|_| {
                scope.spawn(|| {
                    let mut done = Vec::new();
                    loop {
                        let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        let Some(f) = files.get(i) else { break };
                        done.push((i, parse_one(f)));
                    }
                    done
                })
            })
            .collect();
        for w in workers {
            // A worker panicking is a bug; re-raise it on this thread.
            let done = w.join().unwrap_or_else(|p| std::panic::resume_unwind(p));
            for (i, r) in done {
                results[i] = Some(r);
            }
        }
    });
    results
        .into_iter()
        .zip(files)
        .map(|(r, f)| r.unwrap_or_else(|| parse_one(f)))
        .collect()
}

/// One file: decoded, parsed and converted, with its diagnostics.
fn parse_one(f: &source::SourceFile) -> (Vec<Diagnostic>, Option<convert::FileOut>) {
    let mut diags = Vec::new();
    let Some(text) = decode(f, &mut diags) else {
        return (diags, None);
    };
    let error = |e: yaml::YamlError| Diagnostic {
        file: f.path.clone(),
        line: e.pos.line(),
        col: e.pos.col(),
        severity: Severity::Error,
        message: clip_message(e.message),
    };
    let tree = match yaml::parse(text) {
        Ok((t, problems)) => {
            diags.extend(problems.into_iter().map(error));
            t
        }
        Err(e) => {
            diags.push(error(e));
            return (diags, None);
        }
    };
    let out = convert::convert_file(&f.path, tree.as_ref(), &mut diags);
    (diags, Some(out))
}

/// Keep the first [`MAX_DIAGNOSTICS_PER_FILE`] problems of each file (sorted
/// input), and end each truncated file's list with a count of the rest.
fn cap_per_file(diags: &mut Vec<Diagnostic>, mut omitted: BTreeMap<String, usize>) {
    let mut kept: Vec<Diagnostic> = Vec::with_capacity(diags.len().min(1 << 16));
    let mut per_file = 0usize;
    for d in diags.drain(..) {
        if kept.last().is_none_or(|k| k.file != d.file) {
            per_file = 0;
        }
        if per_file < MAX_DIAGNOSTICS_PER_FILE {
            per_file += 1;
            kept.push(d);
        } else {
            *omitted.entry(d.file).or_default() += 1;
        }
    }
    for (file, n) in omitted {
        let last = kept
            .iter()
            .rev()
            .find(|d| d.file == file)
            .map_or((1, 1), |d| (d.line, d.col));
        kept.push(Diagnostic {
            file,
            line: last.0,
            col: last.1,
            severity: Severity::Error,
            message: format!("... and {n} more problems in this file, not shown"),
        });
    }
    sort_diagnostics(&mut kept);
    // Each count goes last in its file's list.
    let is_count = |d: &Diagnostic| d.message.starts_with("... and ");
    kept.sort_by(|a, b| (&a.file, is_count(a)).cmp(&(&b.file, is_count(b))));
    *diags = kept;
}

/// Messages quote values from the files; a hostile value must not make a line of
/// output megabytes long.
pub(crate) fn clip_message(mut message: String) -> String {
    const MAX: usize = 400;
    if message.len() > MAX {
        let mut end = MAX;
        while !message.is_char_boundary(end) {
            end -= 1;
        }
        message.truncate(end);
        message.push('…');
    }
    message
}

/// Sort by file, line, column (errors before warnings at one place), and drop repeats.
pub fn sort_diagnostics(diags: &mut Vec<Diagnostic>) {
    diags.sort_by(|a, b| {
        (&a.file, a.line, a.col, a.severity, &a.message)
            .cmp(&(&b.file, b.line, b.col, b.severity, &b.message))
    });
    diags.dedup();
}

/// The file's text, or a diagnostic saying why it cannot be read as YAML.
fn decode<'a>(f: &'a source::SourceFile, diags: &mut Vec<Diagnostic>) -> Option<&'a str> {
    let mut fail = |line: usize, col: usize, message: String| {
        diags.push(Diagnostic {
            file: f.path.clone(),
            line,
            col,
            severity: Severity::Error,
            message,
        });
    };
    let bytes = match &f.content {
        source::Content::TooLarge(n) => {
            fail(
                1,
                1,
                format!(
                    "file is {n} bytes, larger than the {} byte limit; not read",
                    source::MAX_FILE_BYTES
                ),
            );
            return None;
        }
        source::Content::Bytes(b) => b.as_slice(),
    };
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    if let Some(i) = bytes.iter().position(|&b| b == 0) {
        let (line, col) = line_col(bytes, i);
        fail(
            line,
            col,
            "binary file (contains a NUL byte); repository files must be UTF-8 YAML text".into(),
        );
        return None;
    }
    match std::str::from_utf8(bytes) {
        Ok(t) => Some(t),
        Err(e) => {
            let (line, col) = line_col(bytes, e.valid_up_to());
            fail(
                line,
                col,
                format!(
                    "file is not valid UTF-8 (invalid byte at offset {}); repository files must be UTF-8 YAML text",
                    e.valid_up_to()
                ),
            );
            None
        }
    }
}

fn line_col(bytes: &[u8], offset: usize) -> (usize, usize) {
    let before = &bytes[..offset.min(bytes.len())];
    let line = before.iter().filter(|&&b| b == b'\n').count() + 1;
    let line_start = before
        .iter()
        .rposition(|&b| b == b'\n')
        .map_or(0, |p| p + 1);
    (line, offset - line_start + 1)
}

/// The JSON Schema of one repository file ([`RepoFile`]), generated from the model.
pub fn json_schema() -> serde_json::Value {
    let schema = schemars::schema_for!(RepoFile);
    serde_json::to_value(&schema).unwrap_or(serde_json::Value::Null)
}

#[cfg(test)]
mod tests;
