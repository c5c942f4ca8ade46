//! Rendering of a desired-state diff ([`crate::desired::diff::StateDiff`]) as human
//! text (coloured only when asked), JSON, or Markdown for a pull-request comment.
//! From the data alone: no I/O besides the returned string.

use std::fmt::Write as _;

use serde_json::Value;

use crate::desired::diff::{AccessKind, ChangeKind, ObjectChange, ObjectType, RevInfo, StateDiff};

const GREEN: &str = "\x1b[32m";
const RED: &str = "\x1b[31m";
const YELLOW: &str = "\x1b[33m";
const BOLD: &str = "\x1b[1m";
const RESET: &str = "\x1b[0m";

fn short(r: &RevInfo) -> String {
    match &r.commit {
        Some(c) => format!("{} ({})", r.rev, &c[..c.len().min(12)]),
        None => r.rev.clone(),
    }
}

/// A field value, compact: strings quoted, lists and maps as JSON.
fn value(v: &Option<Value>) -> String {
    match v {
        None => "(none)".into(),
        Some(v) => serde_json::to_string(v).unwrap_or_default(),
    }
}

fn sign(c: ChangeKind) -> char {
    match c {
        ChangeKind::Added => '+',
        ChangeKind::Removed => '-',
        ChangeKind::Changed => '~',
    }
}

fn plural(n: usize, one: &str, many: &str) -> String {
    if n == 1 {
        format!("{n} {one}")
    } else {
        format!("{n} {many}")
    }
}

fn summary_line(d: &StateDiff) -> String {
    let s = &d.summary;
    format!(
        "{} added, {} changed, {} removed; {}, {}; {} access, {} access",
        plural(s.added, "object", "objects"),
        s.changed,
        s.removed,
        plural(s.members_added, "member added", "members added"),
        plural(s.members_removed, "member removed", "members removed"),
        plural(s.access_gained, "user gains", "users gain"),
        plural(s.access_lost, "user loses", "users lose"),
    )
}

/// Human-readable text; `color` adds ANSI colours (for a terminal).
pub fn human(d: &StateDiff, color: bool) -> String {
    let paint = |code: &str, text: &str| {
        if color {
            format!("{code}{text}{RESET}")
        } else {
            text.to_string()
        }
    };
    let code_of = |c: ChangeKind| match c {
        ChangeKind::Added => GREEN,
        ChangeKind::Removed => RED,
        ChangeKind::Changed => YELLOW,
    };
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{}",
        paint(
            BOLD,
            &format!("Desired-state diff {} -> {}", short(&d.from), short(&d.to))
        )
    );
    if d.is_empty() {
        let _ = writeln!(out, "\nNo changes.");
        return out;
    }
    let (apps, others) = split_apps(d);
    for (title, objects) in [
        (
            "App settings (endpoints, credentials, switches, scope; `plan --apps-from` uses them only once merged):",
            &apps,
        ),
        ("Objects:", &others),
    ] {
        if objects.is_empty() {
            continue;
        }
        let _ = writeln!(out, "\n{title}");
        for o in objects.iter().copied() {
            let head = format!("{} {} {}", sign(o.change), o.object.as_str(), o.key);
            let _ = writeln!(out, "  {}", paint(code_of(o.change), &head));
            if o.change == ChangeKind::Removed {
                continue;
            }
            let width = o.fields.iter().map(|f| f.field.len()).max().unwrap_or(0);
            for f in &o.fields {
                let text = match o.change {
                    ChangeKind::Added => value(&f.new),
                    _ => format!("{} -> {}", value(&f.old), value(&f.new)),
                };
                let _ = writeln!(
                    out,
                    "      {:width$}  {text}",
                    format!("{}:", f.field),
                    width = width + 1
                );
            }
        }
    }
    if !d.memberships.is_empty() {
        let _ = writeln!(out, "\nMemberships:");
        for m in &d.memberships {
            let mut line = format!("{} {} / {}", sign(m.change), m.group, m.member);
            match (m.change, &m.old_expires, &m.new_expires) {
                (ChangeKind::Changed, a, b) => {
                    let show = |x: &Option<String>| x.clone().unwrap_or_else(|| "never".into());
                    let _ = write!(line, "  (expires {} -> {})", show(a), show(b));
                }
                (ChangeKind::Added, _, Some(e)) => {
                    let _ = write!(line, "  (expires {e})");
                }
                _ => {}
            }
            let _ = writeln!(out, "  {}", paint(code_of(m.change), &line));
        }
    }
    if !d.access.is_empty() {
        let _ = writeln!(out, "\nAccess:");
        for a in &d.access {
            let (s, verb, prep, code) = match a.change {
                AccessKind::Gained => ('+', "gains", "through", GREEN),
                AccessKind::Lost => ('-', "loses", "had it through", RED),
            };
            let line = format!(
                "{s} {} {verb} access to {} ({prep} {})",
                a.user,
                a.app,
                a.groups.join(", ")
            );
            let _ = writeln!(out, "  {}", paint(code, &line));
        }
    }
    let _ = writeln!(out, "\nSummary: {}.", summary_line(d));
    out
}

/// The diff as pretty JSON (the `StateDiff` wire format, `format_version` "1").
pub fn json(d: &StateDiff) -> String {
    let mut s = serde_json::to_string_pretty(d).unwrap_or_else(|_| "{}".into());
    s.push('\n');
    s
}

fn md_code(s: &str) -> String {
    let s = s.replace('`', "'").replace('|', "\\|");
    format!("`{s}`")
}

/// One Markdown list item saying who gains or loses access to which app, through which
/// groups (`roster diff` and the plan's PR comment share it). `note` is said first in
/// the parentheses (e.g. "new account"); losses are marked to stand out.
pub(crate) fn md_access_line(
    user: &str,
    change: AccessKind,
    app: &str,
    groups: &[String],
    note: Option<&str>,
) -> String {
    let (mark, verb, prep) = match change {
        AccessKind::Gained => ("", "**gains**", "through"),
        AccessKind::Lost => ("🔴 ", "**loses**", "had it through"),
    };
    let mut why: Vec<String> = note.map(str::to_string).into_iter().collect();
    if !groups.is_empty() {
        let groups: Vec<String> = groups.iter().map(|g| md_code(g)).collect();
        why.push(format!("{prep} {}", groups.join(", ")));
    }
    let why = if why.is_empty() {
        String::new()
    } else {
        format!(" ({})", why.join("; "))
    };
    format!(
        "- {mark}{} {verb} access to {}{why}",
        md_code(user),
        md_code(app)
    )
}

/// App settings changes apart from the other objects: they decide where credentials go.
fn split_apps(d: &StateDiff) -> (Vec<&ObjectChange>, Vec<&ObjectChange>) {
    d.objects.iter().partition(|o| o.object == ObjectType::App)
}

fn md_objects(out: &mut String, objects: &[&ObjectChange]) {
    for o in objects {
        let _ = writeln!(
            out,
            "- `{}` {} {}",
            sign(o.change),
            o.object.as_str(),
            md_code(&o.key)
        );
        if o.change == ChangeKind::Removed {
            continue;
        }
        for f in &o.fields {
            let text = match o.change {
                ChangeKind::Added => md_code(&value(&f.new)),
                _ => format!("{} → {}", md_code(&value(&f.old)), md_code(&value(&f.new))),
            };
            let _ = writeln!(out, "  - {}: {text}", md_code(&f.field));
        }
    }
}

/// Markdown for a pull-request comment: a summary table first, details collapsible.
pub fn markdown(d: &StateDiff) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "### roster diff {} → {}\n",
        md_code(&short(&d.from)),
        md_code(&short(&d.to))
    );
    if d.is_empty() {
        let _ = writeln!(out, "No desired-state changes.");
        return out;
    }
    let s = &d.summary;
    let _ = writeln!(out, "| | added | changed | removed |");
    let _ = writeln!(out, "|---|---:|---:|---:|");
    let _ = writeln!(
        out,
        "| objects | {} | {} | {} |",
        s.added, s.changed, s.removed
    );
    let mem_changed = d
        .memberships
        .iter()
        .filter(|m| m.change == ChangeKind::Changed)
        .count();
    let _ = writeln!(
        out,
        "| memberships | {} | {} | {} |",
        s.members_added, mem_changed, s.members_removed
    );
    let _ = writeln!(
        out,
        "| app access | {} | | {} |",
        s.access_gained, s.access_lost
    );
    if !d.access.is_empty() {
        let _ = writeln!(out, "\n#### Access\n");
        for a in &d.access {
            let _ = writeln!(
                out,
                "{}",
                md_access_line(&a.user, a.change, &a.app, &a.groups, None)
            );
        }
    }
    let (apps, others) = split_apps(d);
    if !apps.is_empty() {
        // Shown open: a change of where credentials go deserves every reviewer's eyes.
        let _ = writeln!(
            out,
            "\n#### App settings\n\nThis change edits app settings (endpoints, credentials, switches, scope); a plan made with `--apps-from` uses them only once merged.\n"
        );
        md_objects(&mut out, &apps);
    }
    if !others.is_empty() {
        let _ = writeln!(
            out,
            "\n<details><summary>Objects ({})</summary>\n",
            others.len()
        );
        md_objects(&mut out, &others);
        let _ = writeln!(out, "\n</details>");
    }
    if !d.memberships.is_empty() {
        let _ = writeln!(
            out,
            "\n<details><summary>Memberships ({})</summary>\n",
            d.memberships.len()
        );
        for m in &d.memberships {
            let extra = match (m.change, &m.old_expires, &m.new_expires) {
                (ChangeKind::Changed, a, b) => format!(
                    " (expires {} → {})",
                    a.as_deref().unwrap_or("never"),
                    b.as_deref().unwrap_or("never")
                ),
                (ChangeKind::Added, _, Some(e)) => format!(" (expires {e})"),
                _ => String::new(),
            };
            let _ = writeln!(
                out,
                "- `{}` {} ← {}{extra}",
                sign(m.change),
                md_code(&m.group),
                md_code(&m.member)
            );
        }
        let _ = writeln!(out, "\n</details>");
    }
    out
}
