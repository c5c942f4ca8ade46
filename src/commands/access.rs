//! `roster access`: who is provisioned to which app, through which policy and group,
//! from the desired state alone (no live access, no credentials) — in the working
//! tree, at a revision (`--ref`), or on a past date (`--at`: the commit that was in
//! effect that day, with membership expiry evaluated on that day).

use anyhow::{Context, anyhow, bail};
use serde::Serialize;

use crate::cli::{AccessArgs, GlobalArgs, ReportFormat};
use crate::desired::{self, Loaded, access::Route, source};

/// Where the state of a dated or revision question was read from.
#[derive(Debug, Clone, Serialize)]
pub struct StateSource {
    /// `--ref REV` as given; `None` for the working tree and for `--at`.
    pub rev: Option<String>,
    pub commit: Option<String>,
    /// The commit's committer time (RFC 3339, UTC).
    pub committed_at: Option<String>,
    /// The commit's subject line.
    pub subject: Option<String>,
    /// True when read from a working tree that differs from its commit.
    pub dirty: bool,
}

/// The desired state to answer from, and the day to evaluate it on.
pub struct Resolved {
    pub loaded: Loaded,
    /// YYYY-MM-DD.
    pub date: String,
    pub source: StateSource,
}

/// Parse `YYYY-MM-DD`, naming the flag on error.
pub fn parse_date(flag: &str, s: &str) -> anyhow::Result<time::Date> {
    let fmt = time::macros::format_description!("[year]-[month]-[day]");
    time::Date::parse(s, &fmt)
        .map_err(|_| anyhow!("{flag} {s:?} is not a date (expected YYYY-MM-DD)"))
}

/// The first line of a commit message.
fn subject(c: &git2::Commit) -> String {
    let m = String::from_utf8_lossy(c.message_bytes());
    m.lines().next().unwrap_or_default().trim().to_string()
}

fn rfc3339(secs: i64) -> Option<String> {
    time::OffsetDateTime::from_unix_timestamp(secs)
        .ok()?
        .format(&time::format_description::well_known::Rfc3339)
        .ok()
}

/// The last commit on HEAD's first-parent history whose committer date is on or
/// before the end of `date` (UTC).
fn commit_in_effect(
    dir: &std::path::Path,
    date: time::Date,
) -> anyhow::Result<(String, i64, String)> {
    let root = dir
        .canonicalize()
        .with_context(|| format!("cannot open repository folder {}", dir.display()))?;
    let (repo, _) = source::discover(&root).ok_or_else(|| {
        anyhow!(
            "--at needs the repository's Git history: {} is not inside a Git repository",
            dir.display()
        )
    })?;
    let end = date
        .next_day()
        .map(|d| d.midnight().assume_utc().unix_timestamp())
        .unwrap_or(i64::MAX);
    let mut c = source::resolve_commit(&repo, "HEAD")?;
    let mut first;
    loop {
        let when = c.committer().when().seconds();
        if when < end {
            let subject = subject(&c);
            return Ok((c.id().to_string(), when, subject));
        }
        first = Some(when);
        match c.parent(0) {
            Ok(p) => c = p,
            Err(_) => break,
        }
    }
    let first = first.and_then(rfc3339).unwrap_or_default();
    bail!(
        "no commit on the current branch was in effect on {date}: its first commit is from {first}"
    )
}

/// Load the desired state; errors are printed with their positions and refuse the
/// question, warnings (about provisioning, not about who has access) are not printed.
pub(crate) fn load_quiet(dir: &std::path::Path, rev: Option<&str>) -> anyhow::Result<Loaded> {
    let loaded = desired::load(dir, rev)?;
    if loaded.files.is_empty() {
        return Err(super::session::no_yaml(&loaded.root, rev));
    }
    if loaded.has_errors() {
        let errors: Vec<desired::Diagnostic> = loaded.errors().cloned().collect();
        crate::error_report::print_diagnostics(&loaded, &errors);
        return Err(super::session::InvalidRepository(errors.len()).into());
    }
    Ok(loaded)
}

/// Load the state for `--at DATE`, `--ref REV` or the working tree (evaluated today).
pub fn resolve(
    global: &GlobalArgs,
    at: Option<&str>,
    rev: Option<&str>,
) -> anyhow::Result<Resolved> {
    if let Some(at) = at {
        let date = parse_date("--at", at)?;
        let (commit, when, subject) = commit_in_effect(&global.dir, date)?;
        let loaded = load_quiet(&global.dir, Some(&commit))?;
        return Ok(Resolved {
            loaded,
            date: date.to_string(),
            source: StateSource {
                rev: None,
                commit: Some(commit),
                committed_at: rfc3339(when),
                subject: Some(subject),
                dirty: false,
            },
        });
    }
    let loaded = load_quiet(&global.dir, rev)?;
    let (committed_at, subject) =
        match (&loaded.state.source.commit, source::discover(&loaded.root)) {
            (Some(id), Some((repo, _))) => {
                match git2::Oid::from_str(id).and_then(|o| repo.find_commit(o)) {
                    Ok(c) => (rfc3339(c.committer().when().seconds()), Some(subject(&c))),
                    Err(_) => (None, None),
                }
            }
            _ => (None, None),
        };
    let source = StateSource {
        rev: rev.map(str::to_string),
        commit: loaded.state.source.commit.clone(),
        committed_at,
        subject,
        dirty: loaded.state.source.dirty,
    };
    Ok(Resolved {
        loaded,
        date: time::OffsetDateTime::now_utc().date().to_string(),
        source,
    })
}

/// One line of the header: which state answered and on which day.
pub fn header(r: &Resolved) -> String {
    let s = &r.source;
    let mut from = match (&s.rev, &s.commit) {
        (Some(rev), Some(c)) => format!("revision {rev} (commit {})", short(c)),
        (None, Some(c)) if s.dirty => {
            format!("the working tree (uncommitted changes on {})", short(c))
        }
        (None, Some(c)) => format!("commit {}", short(c)),
        (_, None) => "the working tree (no Git history)".to_string(),
    };
    if let (Some(at), Some(sub)) = (&s.committed_at, &s.subject)
        && s.rev.is_none()
        && !s.dirty
    {
        from.push_str(&format!(", committed {at}: {sub}"));
    }
    format!("as of {}, from {from}", r.date)
}

fn short(c: &str) -> &str {
    &c[..c.len().min(12)]
}

/// Check `--app` against the repository's apps, with a suggestion.
pub fn check_app(loaded: &Loaded, app: Option<&str>) -> anyhow::Result<()> {
    let Some(app) = app else { return Ok(()) };
    if loaded.state.app(app).is_some() {
        return Ok(());
    }
    let names: Vec<&str> = loaded.state.apps.iter().map(|a| a.name()).collect();
    bail!(
        "unknown app `{app}`{}; the repository's apps: {}",
        did_you_mean(app, &names),
        names.join(", ")
    )
}

/// ` (did you mean `x`?)` when one candidate is close to `word`.
pub fn did_you_mean(word: &str, candidates: &[&str]) -> String {
    let w = word.to_lowercase();
    let best = candidates
        .iter()
        .filter_map(|c| {
            let l = c.to_lowercase();
            let d = strsim::damerau_levenshtein(&w, &l);
            let score = strsim::jaro_winkler(&w, &l);
            (score >= 0.85 || d <= 2.min(l.chars().count().saturating_sub(1))).then_some((
                d,
                std::cmp::Reverse((score * 1e6) as u64),
                *c,
            ))
        })
        .min();
    match best {
        Some((_, _, c)) => format!(" (did you mean `{c}`?)"),
        None => String::new(),
    }
}

/// Where `user` stands in `app` on the resolved day (start and end dates under the
/// app's joiner and leaver settings).
pub fn stage(r: &Resolved, app: &str, user: &str) -> Option<desired::lifecycle::Stage> {
    let s = &r.loaded.state;
    let (a, u) = (s.app(app)?, s.user(user)?);
    let day = parse_date("date", &r.date).ok()?;
    Some(desired::lifecycle::stage(u, &a.lifecycle(), day))
}

/// The routes that grant access on the resolved day, for `--app` or every app: the
/// membership not expired, the domain authorized, the account provisioned and its
/// access not removed by the leaver steps. With the user's lifecycle stage.
pub fn granted(r: &Resolved, app: Option<&str>) -> Vec<(Route, String)> {
    desired::access::routes(&r.loaded.state, Some(&r.date))
        .into_iter()
        .filter(|x| x.domain_ok && app.is_none_or(|a| x.app == a))
        .filter_map(|x| {
            let st = stage(r, &x.app, &x.user)?;
            (st.provisioned() && !st.access_removed()).then(|| {
                let status = if st.is_active() {
                    "active".to_string()
                } else {
                    st.reason()
                };
                (x, status)
            })
        })
        .collect()
}

#[derive(Serialize)]
struct JsonRow<'a> {
    app: &'a str,
    user: &'a str,
    email: &'a str,
    policy: &'a str,
    group: &'a str,
    path: &'a [String],
    expires: Option<&'a str>,
    status: &'a str,
}

/// Run `access`; exit 0 with the listing, 1 when the repository has errors.
pub fn run(global: &GlobalArgs, args: &AccessArgs) -> anyhow::Result<u8> {
    let r = resolve(global, args.at.as_deref(), args.source.rev.as_deref())?;
    check_app(&r.loaded, args.app.as_deref())?;
    let rows = granted(&r, args.app.as_deref());
    let users = r.loaded.state.user_index();
    let email = |u: &str| users.get(u).map_or("", |x| x.email.as_str());
    let text = match args.format {
        ReportFormat::Json => {
            let rows: Vec<JsonRow> = rows
                .iter()
                .map(|(x, st)| JsonRow {
                    app: &x.app,
                    user: &x.user,
                    email: email(&x.user),
                    policy: &x.policy,
                    group: &x.group,
                    path: &x.path,
                    expires: x.expires.as_deref(),
                    status: st,
                })
                .collect();
            let v = serde_json::json!({
                "format_version": "1",
                "date": r.date,
                "source": r.source,
                "app": args.app,
                "access": rows,
            });
            serde_json::to_string_pretty(&v)? + "\n"
        }
        ReportFormat::Csv => {
            let mut w = csv::Writer::from_writer(Vec::new());
            w.write_record([
                "date", "commit", "app", "user", "email", "policy", "group", "path", "expires",
                "status",
            ])?;
            let commit = r.source.commit.as_deref().unwrap_or("");
            for (x, st) in &rows {
                w.write_record([
                    r.date.as_str(),
                    commit,
                    &x.app,
                    &x.user,
                    email(&x.user),
                    &x.policy,
                    &x.group,
                    &x.path.join(" > "),
                    x.expires.as_deref().unwrap_or(""),
                    st,
                ])?;
            }
            String::from_utf8(w.into_inner().map_err(|e| anyhow!("{e}"))?)?
        }
        ReportFormat::Table => table(&r, &rows),
    };
    crate::output::text(&text);
    Ok(0)
}

fn table(r: &Resolved, rows: &[(Route, String)]) -> String {
    let mut out = format!("Access {}\n\n", header(r));
    if rows.is_empty() {
        out.push_str("Nobody is provisioned.\n");
        return out;
    }
    let head = ["APP", "USER", "POLICY", "GROUP PATH", "EXPIRES", "STATUS"];
    let cells: Vec<[String; 6]> = rows
        .iter()
        .map(|(x, st)| {
            [
                x.app.clone(),
                x.user.clone(),
                x.policy.clone(),
                x.path.join(" > "),
                x.expires.clone().unwrap_or_else(|| "-".into()),
                st.clone(),
            ]
        })
        .collect();
    let mut width = head.map(str::len);
    for c in &cells {
        for (w, s) in width.iter_mut().zip(c) {
            *w = (*w).max(s.chars().count());
        }
    }
    let line = |c: &[&str]| {
        let mut l = String::new();
        for (i, (s, w)) in c.iter().zip(width).enumerate() {
            if i + 1 == c.len() {
                l.push_str(s);
            } else {
                l.push_str(&format!("{s:<w$}  "));
            }
        }
        l.trim_end().to_string() + "\n"
    };
    out.push_str(&line(&head));
    for c in &cells {
        out.push_str(&line(&c.iter().map(String::as_str).collect::<Vec<_>>()));
    }
    let users: std::collections::BTreeSet<(&str, &str)> = rows
        .iter()
        .map(|(x, _)| (x.app.as_str(), x.user.as_str()))
        .collect();
    out.push_str(&format!("\n{} user-app assignment(s)\n", users.len()));
    out
}
