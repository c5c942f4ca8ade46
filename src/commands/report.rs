//! `roster report`: the provisioning report, filtered by user, app, time span, action
//! and result, as a table, JSON or CSV. Several logs (files, or folders of downloaded
//! artifacts) are read as one history: see [`crate::engine::report_log::read_many`].

use std::path::Path;

use anyhow::{Context, bail};
use time::format_description::well_known::Rfc3339;
use time::{Date, Duration, OffsetDateTime, Time};

use crate::cli::{ReportArgs, ReportFormat};
use crate::engine::report_log::{ReportRecord, merge, read_all, read_many};
use crate::plan::{Member, MembershipKey, ObjectKind};

/// The default report log under a repository root.
pub fn default_log_path(root: &Path) -> std::path::PathBuf {
    crate::layout::reports_log(root)
}

pub fn run(dir: &Path, args: &ReportArgs) -> anyhow::Result<u8> {
    let now = OffsetDateTime::now_utc();
    let since = args
        .since
        .as_deref()
        .map(|s| parse_time(s, now))
        .transpose()
        .context("--since")?;
    let until = args
        .until
        .as_deref()
        .map(|s| parse_time(s, now))
        .transpose()
        .context("--until")?;
    let records = if args.report_logs.is_empty() {
        merge(read_all(&default_log_path(dir))?)
    } else {
        read_many(&args.report_logs)?
    };
    let selected: Vec<&ReportRecord> = records
        .iter()
        .filter(|r| matches(r, args, since, until))
        .collect();
    let out = match args.format {
        ReportFormat::Json => {
            let mut s = serde_json::to_string_pretty(&selected)?;
            s.push('\n');
            s
        }
        ReportFormat::Csv => csv(&selected),
        ReportFormat::Table => table(&selected),
    };
    crate::output::text(&out);
    Ok(0)
}

fn matches(
    r: &ReportRecord,
    args: &ReportArgs,
    since: Option<OffsetDateTime>,
    until: Option<OffsetDateTime>,
) -> bool {
    if let Some(app) = &args.app
        && &r.app != app
    {
        return false;
    }
    if let Some(user) = &args.user {
        // A user's own changes (key = username) and the membership changes naming them.
        let member = match r.object {
            ObjectKind::Membership => match MembershipKey::parse(&r.key) {
                Ok(MembershipKey {
                    member: Member::User(m),
                    ..
                }) => Some(m),
                _ => None,
            },
            _ => None,
        };
        if !r.key.eq_ignore_ascii_case(user) && member.is_none_or(|m| !m.eq_ignore_ascii_case(user))
        {
            return false;
        }
    }
    if let Some(action) = args.action
        && r.action != action
    {
        return false;
    }
    if let Some(result) = args.result
        && r.result != result
    {
        return false;
    }
    if since.is_some() || until.is_some() {
        let Ok(t) = OffsetDateTime::parse(&r.time, &Rfc3339) else {
            return false;
        };
        if since.is_some_and(|s| t < s) || until.is_some_and(|u| t > u) {
            return false;
        }
    }
    true
}

/// RFC 3339, a date (YYYY-MM-DD, midnight UTC), or a span back from now: 30m, 24h, 7d, 2w.
pub fn parse_time(s: &str, now: OffsetDateTime) -> anyhow::Result<OffsetDateTime> {
    let s = s.trim();
    if let Ok(t) = OffsetDateTime::parse(s, &Rfc3339) {
        return Ok(t);
    }
    if let Ok(d) = Date::parse(s, time::macros::format_description!("[year]-[month]-[day]")) {
        return Ok(d.with_time(Time::MIDNIGHT).assume_utc());
    }
    let (num, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len()));
    let n: i64 = num
        .parse()
        .ok()
        .filter(|_| !num.is_empty())
        .with_context(|| bad_time(s))?;
    let span = match unit {
        "s" => Duration::seconds(n),
        "m" => Duration::minutes(n),
        "h" => Duration::hours(n),
        "d" => Duration::days(n),
        "w" => Duration::weeks(n),
        _ => bail!(bad_time(s)),
    };
    Ok(now - span)
}

fn bad_time(s: &str) -> String {
    format!(
        "'{s}' is not a time: use RFC 3339 (2026-01-31T12:00:00Z), a date (2026-01-31) or a span such as 30m, 24h, 7d, 2w"
    )
}

/// An update's changed values in words, on one line: `department: Sales -> Marketing;
/// …` (a value with line breaks or other control characters is quoted, JSON-style).
fn changed_values(r: &ReportRecord) -> String {
    let Some(changes) = &r.changes else {
        return String::new();
    };
    let word = |v: &serde_json::Value| match v {
        serde_json::Value::Null => "(none)".to_string(),
        serde_json::Value::String(s) if !s.contains(char::is_control) => s.clone(),
        other => other.to_string(),
    };
    changes
        .iter()
        .map(|(field, c)| format!("{field}: {} -> {}", word(&c.old), word(&c.new)))
        .collect::<Vec<_>>()
        .join("; ")
}

const COLUMNS: usize = 12;

/// The index of the commit column (shortened in the table).
const COMMIT: usize = 8;

fn columns(r: &ReportRecord) -> [String; COLUMNS] {
    [
        r.time.clone(),
        r.app.clone(),
        r.object.as_str().to_string(),
        r.key.clone(),
        r.action.as_str().to_string(),
        r.result.as_str().to_string(),
        r.actor.clone().unwrap_or_default(),
        r.run_link().unwrap_or_default(),
        r.commit.clone().unwrap_or_default(),
        r.request_id.clone().unwrap_or_default(),
        changed_values(r),
        r.error.clone().unwrap_or_default(),
    ]
}

const HEADERS: [&str; COLUMNS] = [
    "time",
    "app",
    "object",
    "key",
    "action",
    "result",
    "actor",
    "run",
    "commit",
    "request_id",
    "changes",
    "error",
];

fn table(records: &[&ReportRecord]) -> String {
    if records.is_empty() {
        return "No report entries match.\n".to_string();
    }
    let rows: Vec<[String; COLUMNS]> = records
        .iter()
        .map(|r| {
            let mut c = columns(r);
            c[COMMIT] = c[COMMIT].chars().take(12).collect();
            c
        })
        .collect();
    let mut widths = HEADERS.map(str::len);
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    let line = |cells: Vec<&str>, out: &mut String| {
        let parts: Vec<String> = cells
            .iter()
            .zip(widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        out.push_str(parts.join("  ").trim_end());
        out.push('\n');
    };
    line(HEADERS.to_vec(), &mut out);
    for row in &rows {
        line(row.iter().map(String::as_str).collect(), &mut out);
    }
    out
}

fn csv_cell(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

fn csv(records: &[&ReportRecord]) -> String {
    let mut out = HEADERS.join(",");
    out.push('\n');
    for r in records {
        let cells: Vec<String> = columns(r).iter().map(|c| csv_cell(c)).collect();
        out.push_str(&cells.join(","));
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_and_absolute_times() {
        let now = OffsetDateTime::parse("2026-11-23T12:00:00Z", &Rfc3339).unwrap();
        assert_eq!(
            parse_time("24h", now).unwrap(),
            OffsetDateTime::parse("2026-11-22T12:00:00Z", &Rfc3339).unwrap()
        );
        assert_eq!(
            parse_time("7d", now).unwrap(),
            OffsetDateTime::parse("2026-11-16T12:00:00Z", &Rfc3339).unwrap()
        );
        assert_eq!(
            parse_time("2026-01-02", now).unwrap(),
            OffsetDateTime::parse("2026-01-02T00:00:00Z", &Rfc3339).unwrap()
        );
        assert!(parse_time("yesterday", now).is_err());
        assert!(parse_time("h", now).is_err());
        assert!(parse_time("10y", now).is_err());
    }

    #[test]
    fn changed_values_stay_on_one_line() {
        let line = r#"{"time":"2026-01-02T03:04:05Z","commit":null,"app":"o365","object":"group","key":"staff","action":"update","result":"applied","changes":{"description":{"old":"a\nb","new":null},"size":{"old":1,"new":2}}}"#;
        let r: ReportRecord = serde_json::from_str(line).unwrap();
        assert_eq!(
            changed_values(&r),
            r#"description: "a\nb" -> (none); size: 1 -> 2"#
        );
    }

    #[test]
    fn csv_quotes_what_needs_quoting() {
        assert_eq!(csv_cell("a,b"), "\"a,b\"");
        assert_eq!(csv_cell("say \"x\""), "\"say \"\"x\"\"\"");
        assert_eq!(csv_cell("plain"), "plain");
    }
}
