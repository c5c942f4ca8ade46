//! Renderers: a plan (or a desired-state diff) as human text, JSON or Markdown,
//! from the data alone.
//!
//! The human view reads like Terraform's (`+` create/add, `~` update/enable/disable,
//! `-` delete/remove, `old -> new` per attribute), coloured only when asked. Markdown
//! is for pull-request comments: a summary table first, details collapsed per app.
//! JSON is the versioned plan format of `docs/plan-format.md`. With `drift` set the
//! same plan is worded as drift: what differs live from the repository.
//! Text that came from the repository or a live directory is escaped so that control
//! characters cannot reach a terminal and Markdown cannot break out of its structure.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde_json::Value;

use crate::plan::{Action, Change, ObjectKind, Plan, Summary};

pub mod diff;
pub mod unread;

/// How to render.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RenderOptions {
    /// ANSI colours (only on a terminal).
    pub color: bool,
    /// Word the plan as drift (for `roster drift`).
    pub drift: bool,
}

const GREEN: &str = "\x1b[32m";
const YELLOW: &str = "\x1b[33m";
const RED: &str = "\x1b[31m";
const BOLD: &str = "\x1b[1m";
const DIM: &str = "\x1b[2m";
const RESET: &str = "\x1b[0m";

/// Paint `s` when colour is on.
fn paint(on: bool, code: &str, s: &str) -> String {
    if on {
        format!("{code}{s}{RESET}")
    } else {
        s.to_string()
    }
}

/// Escape control characters (terminal escapes, newlines) in text from outside.
pub fn clean(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for ch in s.chars() {
        if ch.is_control() {
            let _ = write!(out, "\\u{{{:x}}}", ch as u32);
        } else {
            out.push(ch);
        }
    }
    out
}

fn symbol(a: Action) -> &'static str {
    match a {
        Action::Create | Action::Add | Action::Restore => "+",
        Action::Update | Action::Enable | Action::Disable => "~",
        Action::Delete | Action::Remove => "-",
    }
}

fn action_color(a: Action) -> &'static str {
    match a {
        Action::Create | Action::Add | Action::Restore => GREEN,
        Action::Update | Action::Enable | Action::Disable => YELLOW,
        Action::Delete | Action::Remove => RED,
    }
}

fn object_word(o: ObjectKind) -> &'static str {
    match o {
        ObjectKind::User => "user",
        ObjectKind::Group => "group",
        ObjectKind::Membership => "membership",
        ObjectKind::License => "license",
        ObjectKind::Manager => "manager",
    }
}

fn action_word(a: Action) -> &'static str {
    match a {
        Action::Create => "create",
        Action::Update => "update",
        Action::Enable => "enable",
        Action::Disable => "disable",
        Action::Delete => "delete",
        Action::Add => "add",
        Action::Remove => "remove",
        Action::Restore => "restore",
    }
}

/// A value as shown in the human view: JSON literal syntax (strings quoted and
/// escaped), `(none)` for absent.
fn show_value(v: &Value) -> String {
    match v {
        Value::Null => "(none)".to_string(),
        other => serde_json::to_string(other).unwrap_or_else(|_| "?".to_string()),
    }
}

fn multiline(v: Option<&Value>) -> Option<&str> {
    match v {
        Some(Value::String(s)) if s.contains('\n') => Some(s.as_str()),
        _ => None,
    }
}

/// The head line of one change, e.g. `+ user alice` or `~ user bob (disable)`.
fn head(c: &Change) -> String {
    let mut s = format!(
        "{} {} {}",
        symbol(c.action),
        object_word(c.object()),
        clean(&c.key())
    );
    if let Some(sku) = &c.sku() {
        let _ = write!(s, " {}", clean(sku));
    }
    if matches!(c.action, Action::Enable | Action::Disable | Action::Restore) {
        let _ = write!(s, " ({})", action_word(c.action));
    }
    if let Some((old, new)) = rename(c) {
        let _ = write!(s, "  login {} -> {}", clean(old), clean(new));
    }
    s
}

/// The old and new login of a user update that renames the account: shown in the
/// change's head line, as one change.
fn rename(c: &Change) -> Option<(&str, &str)> {
    if c.object() != ObjectKind::User || !matches!(c.action, Action::Update | Action::Restore) {
        return None;
    }
    fn login(m: &Option<BTreeMap<String, Value>>) -> Option<&str> {
        m.as_ref()?.get("login").and_then(Value::as_str)
    }
    Some((login(&c.before)?, login(&c.after)?))
}

/// The lines of one change (head, attributes, reason), without indentation.
fn change_lines(c: &Change, color: bool, drift: bool) -> Vec<String> {
    let mut lines = vec![paint(color, action_color(c.action), &head(c))];
    let empty = BTreeMap::new();
    let before = c.before.as_ref().unwrap_or(&empty);
    let after = c.after.as_ref().unwrap_or(&empty);
    let mut keys: Vec<&String> = before.keys().chain(after.keys()).collect();
    keys.sort();
    keys.dedup();
    if rename(c).is_some() {
        keys.retain(|k| k.as_str() != "login");
    }
    let width = keys
        .iter()
        .map(|k| clean(k).chars().count())
        .max()
        .unwrap_or(0);
    for k in keys {
        let name = clean(k);
        let pad = " ".repeat(width.saturating_sub(name.chars().count()));
        let (b, a) = (before.get(k), after.get(k));
        match c.action {
            Action::Create => {
                if let Some(a) = a {
                    lines.push(format!("    {name}{pad} = {}", clean(&show_value(a))));
                }
            }
            Action::Delete => {
                if let Some(b) = b {
                    lines.push(format!("    {name}{pad} = {}", clean(&show_value(b))));
                }
            }
            _ => {
                if multiline(b).is_some() || multiline(a).is_some() {
                    lines.push(format!("    {name}:"));
                    // Both sides end with a newline, so that a missing final newline is
                    // not reported as a difference of its own.
                    let with_newline = |v: Option<&Value>| {
                        let mut s = v.and_then(Value::as_str).unwrap_or("").to_string();
                        if !s.is_empty() && !s.ends_with('\n') {
                            s.push('\n');
                        }
                        s
                    };
                    let (old, new) = (with_newline(b), with_newline(a));
                    let diff = similar::TextDiff::from_lines(&old, &new);
                    let text = diff.unified_diff().context_radius(3).to_string();
                    for l in text.lines() {
                        let painted = match l.chars().next() {
                            Some('+') => paint(color, GREEN, &clean(l)),
                            Some('-') => paint(color, RED, &clean(l)),
                            _ => clean(l),
                        };
                        lines.push(format!("        {painted}"));
                    }
                } else if drift {
                    if matches!(c.action, Action::Enable | Action::Disable) && k == "enabled" {
                        // Said by the reason line.
                        continue;
                    }
                    lines.push(format!("    {}", clean(&drift_attribute(&name, b, a))));
                } else {
                    let old = b.map(show_value).unwrap_or_else(|| "(none)".into());
                    let new = a.map(show_value).unwrap_or_else(|| "(none)".into());
                    lines.push(format!(
                        "    {name}{pad} = {} -> {}",
                        clean(&old),
                        clean(&new)
                    ));
                }
            }
        }
    }
    let reason = if drift {
        drift_reason(c)
    } else {
        c.reason.clone()
    };
    if !reason.is_empty() {
        lines.push(paint(color, DIM, &format!("    # {}", clean(&reason))));
    }
    lines
}

/// One attribute of a drifted object, in words: `before` is the live value, `after`
/// the repository's.
fn drift_attribute(name: &str, live: Option<&Value>, repo: Option<&Value>) -> String {
    let show = |v: Option<&Value>| v.map(show_value).unwrap_or_else(|| "(none)".into());
    match (live.filter(|v| !v.is_null()), repo.filter(|v| !v.is_null())) {
        (None, Some(r)) => format!(
            "{name} cleared live (the repository says {}); apply sets it back",
            show_value(r)
        ),
        (Some(l), None) => format!(
            "{name} set live to {}, not in the repository; apply clears it",
            show_value(l)
        ),
        _ => format!(
            "{name} changed live from {} to {}; apply sets it back to {}",
            show(repo),
            show(live),
            show(repo)
        ),
    }
}

/// A member in a sentence: `bob`, or `group retired`.
fn member_words(m: &crate::plan::Member) -> String {
    match m {
        crate::plan::Member::User(n) => n.clone(),
        crate::plan::Member::Group(n) => format!("group {n}"),
    }
}

/// A skipped change's reason; in a drift report a live-only object says what happened
/// live and that apply leaves it.
fn skipped_reason(s: &crate::plan::Skipped, drift: bool) -> String {
    match (drift, s.action, &s.switch) {
        (true, Action::Delete, Some(sw)) => {
            format!("created live, not in the repository; apply leaves it (switch {sw} is off)")
        }
        _ => s.reason.clone(),
    }
}

/// What changed live and what apply will do about it, for `roster drift`.
fn drift_reason(c: &Change) -> String {
    let key = c.key();
    let quoted = |s: &str| format!("\"{s}\"");
    match (&c.target, c.action) {
        (crate::plan::Target::Membership(m), Action::Add) => format!(
            "member removed live: {} from {}; apply adds it back",
            member_words(&m.member),
            quoted(&m.group)
        ),
        (crate::plan::Target::Membership(_), Action::Remove)
            if c.reason.starts_with("membership expired") =>
        {
            format!("{}; apply removes it", c.reason)
        }
        (crate::plan::Target::Membership(m), Action::Remove) => format!(
            "member added live: {} in {}; apply removes it",
            member_words(&m.member),
            quoted(&m.group)
        ),
        (crate::plan::Target::License { user, sku }, Action::Add) => {
            format!("license {sku} missing live for {user}; apply assigns it")
        }
        (crate::plan::Target::License { user, sku }, Action::Remove) => format!(
            "license {sku} assigned live to {user}, not in the repository; apply removes it"
        ),
        (_, Action::Create) => format!(
            "{} {key} is in the repository but missing live; apply creates it",
            object_word(c.object())
        ),
        (_, Action::Restore) => format!(
            "{} {key} was deleted live (it is in the deleted items); apply restores it",
            object_word(c.object())
        ),
        (_, Action::Enable) => "disabled live; apply enables it again".to_string(),
        (_, Action::Disable) => {
            "enabled live, disabled in the repository; apply disables it again".to_string()
        }
        (_, Action::Delete) => format!(
            "created live, not in the repository; apply deletes it (switch delete_{}s is on)",
            object_word(c.object())
        ),
        (_, Action::Update) => {
            // Single values are said per attribute; multi-line texts get one line here.
            let texts: Vec<&str> = c
                .after
                .iter()
                .chain(c.before.iter())
                .flat_map(|m| m.iter())
                .filter(|(_, v)| multiline(Some(v)).is_some())
                .map(|(k, _)| k.as_str())
                .collect::<std::collections::BTreeSet<_>>()
                .into_iter()
                .collect();
            if texts.is_empty() {
                String::new()
            } else {
                format!(
                    "{} changed live; apply sets the repository's text back",
                    texts.join(", ")
                )
            }
        }
        (_, Action::Add) => "missing live; apply adds it".to_string(),
        (_, Action::Remove) => "added live; apply removes it".to_string(),
    }
}

fn plural(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// The final line of a non-empty plan.
/// Restores are named only when there are some, so plans without one keep their words.
pub fn summary_line(s: &Summary) -> String {
    let restore = if s.restore > 0 {
        format!(" {} to restore,", s.restore)
    } else {
        String::new()
    };
    format!(
        "Plan: {} to create,{restore} {} to update, {} to enable, {} to disable, {} to delete, {} to add, {} to remove.",
        s.create, s.update, s.enable, s.disable, s.delete, s.add, s.remove
    )
}

/// The final line of a drift report with differences.
pub fn drift_line(s: &Summary) -> String {
    let mut parts = Vec::new();
    if s.create > 0 {
        parts.push(format!(
            "{} missing live",
            plural(s.create, "object", "objects")
        ));
    }
    if s.restore > 0 {
        parts.push(format!(
            "{} in the deleted items",
            plural(s.restore, "object", "objects")
        ));
    }
    if s.update > 0 {
        parts.push(format!(
            "{} with attributes that differ",
            plural(s.update, "object", "objects")
        ));
    }
    if s.enable + s.disable > 0 {
        parts.push(format!(
            "{} to be enabled or disabled",
            plural(s.enable + s.disable, "user", "users")
        ));
    }
    if s.delete > 0 {
        parts.push(format!(
            "{} live only (not in the repository)",
            plural(s.delete, "object", "objects")
        ));
    }
    if s.add > 0 {
        parts.push(format!(
            "{} missing live",
            plural(s.add, "member or license", "members or licenses")
        ));
    }
    if s.remove > 0 {
        parts.push(format!(
            "{} live only",
            plural(s.remove, "member or license", "members or licenses")
        ));
    }
    format!(
        "Drift detected: {} — {}.",
        plural(s.total(), "difference", "differences"),
        parts.join(", ")
    )
}

/// Changes grouped by app, in plan order.
fn by_app(plan: &Plan) -> Vec<(&str, Vec<&Change>)> {
    let mut out: Vec<(&str, Vec<&Change>)> = Vec::new();
    for c in &plan.changes {
        match out.last_mut() {
            Some((app, list)) if *app == c.app => list.push(c),
            _ => out.push((c.app.as_str(), vec![c])),
        }
    }
    out
}

fn guard_lines(plan: &Plan) -> Vec<String> {
    plan.deletion_guards
        .iter()
        .filter(|g| g.exceeded())
        .map(|g| {
            format!(
                "DELETION GUARD: app {} would delete or disable {} objects, more than its limit of {}. \
                 apply refuses this unless run with --allow-deletes {}.",
                clean(&g.app),
                g.deletes,
                g.limit,
                g.deletes
            )
        })
        .collect()
}

/// The human (terminal) view.
pub fn human(plan: &Plan, opts: &RenderOptions) -> String {
    let color = opts.color;
    let mut out = String::new();
    let guards = guard_lines(plan);
    for g in &guards {
        let _ = writeln!(
            out,
            "{}",
            paint(color, &format!("{BOLD}{RED}"), &format!("!!! {g}"))
        );
    }
    if !guards.is_empty() {
        out.push('\n');
    }
    if plan.changes.is_empty() {
        let line = if opts.drift {
            "No drift. The live state matches the repository."
        } else {
            "No changes. The live state matches the repository."
        };
        let _ = writeln!(out, "{}", paint(color, &format!("{BOLD}{GREEN}"), line));
    } else {
        let intro = if opts.drift {
            "The live state differs from the repository (+ missing live, - live only, ~ differs):"
        } else {
            "roster will perform the following actions (+ create/add, ~ update, - delete/remove):"
        };
        let _ = writeln!(out, "{intro}");
        for (app, changes) in by_app(plan) {
            let _ = writeln!(out);
            let _ = writeln!(
                out,
                "{}",
                paint(color, BOLD, &format!("app {}:", clean(app)))
            );
            for c in changes {
                for l in change_lines(c, color, opts.drift) {
                    let _ = writeln!(out, "  {l}");
                }
            }
        }
    }
    for (heading, by_switch) in [
        ("Skipped (forbidden by a provisioning switch):", true),
        ("Left alone (the live directory protects them):", false),
    ] {
        let listed: Vec<_> = plan
            .skipped
            .iter()
            .filter(|s| s.switch.is_some() == by_switch)
            .collect();
        if listed.is_empty() {
            continue;
        }
        let _ = writeln!(out);
        let _ = writeln!(out, "{heading}");
        for s in listed {
            let _ = writeln!(
                out,
                "  {} {}: {} {} {} — {}",
                paint(color, YELLOW, "!"),
                clean(&s.app),
                action_word(s.action),
                object_word(s.object),
                clean(&s.key),
                clean(&skipped_reason(s, opts.drift))
            );
        }
    }
    if !plan.warnings.is_empty() {
        let _ = writeln!(out);
        let _ = writeln!(out, "Warnings:");
        for w in &plan.warnings {
            let prefix = match &w.app {
                Some(a) => format!("{}: ", clean(a)),
                None => String::new(),
            };
            let _ = writeln!(
                out,
                "  {} {prefix}{}",
                paint(color, YELLOW, "!"),
                clean(&w.message)
            );
        }
    }
    if !plan.changes.is_empty() {
        let _ = writeln!(out);
        let line = if opts.drift {
            drift_line(&plan.summary)
        } else {
            summary_line(&plan.summary)
        };
        let _ = writeln!(out, "{}", paint(color, BOLD, &line));
    }
    out
}

/// The JSON plan format (SPEC §4), pretty-printed, with a trailing newline.
pub fn json(plan: &Plan) -> String {
    crate::plan::wire::to_json(plan)
}

/// Escape text for Markdown outside code: HTML, table pipes, emphasis, mentions.
fn md(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for ch in s.chars() {
        match ch {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '|' => out.push_str("\\|"),
            '@' => out.push_str("&#64;"),
            '`' | '*' | '_' | '[' | ']' | '\\' | '#' | '~' => {
                out.push('\\');
                out.push(ch);
            }
            '\n' | '\r' => out.push(' '),
            c if c.is_control() => {
                let _ = write!(out, "\\u{{{:x}}}", c as u32);
            }
            c => out.push(c),
        }
    }
    out
}

/// A fence longer than any run of backticks inside `body`.
fn fence_for(body: &str) -> String {
    let mut longest = 0;
    let mut run = 0;
    for ch in body.chars() {
        if ch == '`' {
            run += 1;
            longest = longest.max(run);
        } else {
            run = 0;
        }
    }
    "`".repeat((longest + 1).max(3))
}

/// GitHub's limit on the length of a pull-request comment, in characters.
pub const COMMENT_LIMIT: usize = 65_536;

/// The share of the comment the access changes may take before "…and N more".
const ACCESS_SHARE: usize = 3;

/// Deletes and disables: the changes a reviewer must not miss.
fn destructive(c: &Change) -> bool {
    matches!(c.action, Action::Delete | Action::Disable)
}

const MARK: &str = "🔴";

/// Who gains and loses access to which app through which group, from the plan: a user
/// created, restored or enabled gains access to its app, one deleted or disabled loses
/// it; a membership added to (removed from) a group in an app's plan gains (loses)
/// access through that group. One line per (app, member, gain/loss), in plan order,
/// ending with the dated reason when a lifecycle step or an expiry is why.
fn access_lines(plan: &Plan) -> Vec<String> {
    use crate::desired::diff::AccessKind;
    struct Entry<'a> {
        app: &'a str,
        who: String,
        kind: AccessKind,
        groups: Vec<String>,
        note: Option<&'static str>,
        /// Why on this day (lifecycle or expiry), from the first change that says.
        dated: Option<&'a str>,
    }
    let mut entries: Vec<Entry> = Vec::new();
    let mut at: BTreeMap<(&str, String, bool), usize> = BTreeMap::new();
    for c in &plan.changes {
        let (who, kind, group, note) = match (&c.target, c.action) {
            (crate::plan::Target::User(u), a) => {
                let (kind, note) = match a {
                    Action::Create => (AccessKind::Gained, "new account"),
                    Action::Restore => (AccessKind::Gained, "account restored"),
                    Action::Enable => (AccessKind::Gained, "account enabled"),
                    Action::Disable => (AccessKind::Lost, "account disabled"),
                    Action::Delete => (AccessKind::Lost, "account deleted"),
                    _ => continue,
                };
                (u.clone(), kind, None, Some(note))
            }
            (crate::plan::Target::Membership(m), Action::Add) => (
                member_name(&m.member),
                AccessKind::Gained,
                Some(m.group.clone()),
                None,
            ),
            (crate::plan::Target::Membership(m), Action::Remove) => (
                member_name(&m.member),
                AccessKind::Lost,
                Some(m.group.clone()),
                None,
            ),
            _ => continue,
        };
        let key = (c.app.as_str(), who.clone(), kind == AccessKind::Gained);
        let i = *at.entry(key).or_insert_with(|| {
            entries.push(Entry {
                app: &c.app,
                who,
                kind,
                groups: Vec::new(),
                note: None,
                dated: None,
            });
            entries.len() - 1
        });
        let e = &mut entries[i];
        if note.is_some() {
            e.note = note;
        }
        if e.dated.is_none() {
            e.dated = crate::desired::lifecycle::dated_reason(&c.reason);
        }
        if let Some(g) = group {
            e.groups.push(g);
        }
    }
    entries
        .iter()
        .map(|e| {
            let mut line = diff::md_access_line(&e.who, e.kind, e.app, &e.groups, e.note);
            if e.note == Some("account disabled") || e.note == Some("account deleted") {
                // Bold the whole statement, not only the verb.
                line = line
                    .replacen("- 🔴 ", "- 🔴 **", 1)
                    .replacen("**loses**", "loses", 1);
                line.push_str("**");
            }
            if let Some(d) = e.dated {
                line.push_str(" — ");
                line.push_str(&md(d));
            }
            line
        })
        .collect()
}

/// A member as named in the access changes: a username, or `group:NAME` for a nested
/// group (whose members gain or lose access with it).
fn member_name(m: &crate::plan::Member) -> String {
    match m {
        crate::plan::Member::User(n) => n.clone(),
        crate::plan::Member::Group(n) => format!("group:{n}"),
    }
}

/// The lines that fit in `budget` characters (each plus a newline), and how many did not.
fn fit(lines: &[String], budget: usize) -> (usize, usize) {
    let mut used = 0;
    for (i, l) in lines.iter().enumerate() {
        used += l.chars().count() + 1;
        if used > budget {
            return (i, lines.len() - i);
        }
    }
    (lines.len(), 0)
}

fn chars(s: &str) -> usize {
    s.chars().count()
}

/// The Markdown view, for a pull-request comment (see [`markdown_with`]).
pub fn markdown(plan: &Plan, opts: &RenderOptions) -> String {
    markdown_with(plan, opts, None, COMMENT_LIMIT)
}

/// The Markdown view, for a pull-request comment: the access changes first, then the
/// summary table with the commit and the desired-state digest, then the changes
/// collapsed per app. Never longer than `limit` characters: above it, the details are
/// cut (a line says how many changes are not shown and where the full plan is), and
/// the access changes end with "…and N more" when they alone would take too much.
pub fn markdown_with(
    plan: &Plan,
    opts: &RenderOptions,
    desired_digest: Option<&str>,
    limit: usize,
) -> String {
    let mut out = String::new();
    let title = if opts.drift {
        "roster drift report"
    } else {
        "roster plan"
    };
    let _ = writeln!(out, "### {title}");
    let _ = writeln!(out);
    let groups = by_app(plan);
    let access = access_lines(plan);
    if !access.is_empty() {
        let _ = writeln!(out, "#### Access changes");
        let _ = writeln!(out);
        let (shown, more) = fit(&access, limit / ACCESS_SHARE);
        for l in &access[..shown] {
            let _ = writeln!(out, "{l}");
        }
        if more > 0 {
            let _ = writeln!(out, "- …and {more} more");
        }
        let _ = writeln!(out);
        let _ = writeln!(out, "#### Summary");
        let _ = writeln!(out);
    }
    let commit = match &plan.source.commit {
        Some(c) => format!("`{}`", &c[..c.len().min(12)]),
        None => "none (not read from Git)".to_string(),
    };
    let dirty = if plan.source.dirty {
        " (with uncommitted changes)"
    } else {
        ""
    };
    let _ = write!(out, "Commit {commit}{dirty}");
    if let Some(d) = desired_digest {
        let _ = write!(out, " · desired-state digest `{}`", md(d));
    }
    let _ = writeln!(out);
    let _ = writeln!(out);
    if plan.changes.is_empty() {
        let line = if opts.drift {
            "**No drift.** The live state matches the repository."
        } else {
            "**No changes.** The live state matches the repository."
        };
        let _ = writeln!(out, "{line}");
    } else {
        // A Restore column only when the plan restores something: other plans keep
        // their bytes.
        let restores = plan.summary.restore > 0;
        let (head, rule) = if restores {
            (
                "| App | Create | Restore | Update | Enable | Disable | Delete | Add | Remove |",
                "|:--|--:|--:|--:|--:|--:|--:|--:|--:|",
            )
        } else {
            (
                "| App | Create | Update | Enable | Disable | Delete | Add | Remove |",
                "|:--|--:|--:|--:|--:|--:|--:|--:|",
            )
        };
        let _ = writeln!(out, "{head}");
        let _ = writeln!(out, "{rule}");
        let row = |name: String, s: &Summary, bold: bool| {
            let cells = [
                Some(s.create),
                restores.then_some(s.restore),
                Some(s.update),
                Some(s.enable),
                Some(s.disable),
                Some(s.delete),
                Some(s.add),
                Some(s.remove),
            ];
            let mut line = format!("| {name} |");
            for n in cells.into_iter().flatten() {
                if bold {
                    let _ = write!(line, " **{n}** |");
                } else {
                    let _ = write!(line, " {n} |");
                }
            }
            line
        };
        for (app, changes) in &groups {
            let owned: Vec<Change> = changes.iter().map(|c| (*c).clone()).collect();
            let _ = writeln!(out, "{}", row(md(app), &Summary::of(&owned), false));
        }
        let s = &plan.summary;
        if groups.len() > 1 {
            let _ = writeln!(out, "{}", row("**Total**".to_string(), s, true));
        }
        let _ = writeln!(out);
        let line = if opts.drift {
            drift_line(s)
        } else {
            summary_line(s)
        };
        let _ = writeln!(out, "**{}**", md(&line));
    }
    for g in plan.deletion_guards.iter().filter(|g| g.exceeded()) {
        let _ = writeln!(out);
        let _ = writeln!(out, "> [!CAUTION]");
        let _ = writeln!(
            out,
            "> **Deletion guard:** app {} would delete or disable {} objects, more than its limit \
             of {}. `apply` refuses this unless run with `--allow-deletes {}`.",
            md(&g.app),
            g.deletes,
            g.limit,
            g.deletes
        );
    }
    if !plan.warnings.is_empty() {
        let _ = writeln!(out);
        let _ = writeln!(out, "#### Warnings");
        let _ = writeln!(out);
        for w in &plan.warnings {
            match &w.app {
                Some(a) => {
                    let _ = writeln!(out, "- **{}**: {}", md(a), md(&w.message));
                }
                None => {
                    let _ = writeln!(out, "- {}", md(&w.message));
                }
            }
        }
    }
    let protected = plan.skipped.iter().filter(|s| s.switch.is_none()).count();
    if protected > 0 {
        let _ = writeln!(out);
        let _ = writeln!(out, "#### Left alone (the live directory protects them)");
        let _ = writeln!(out);
        let _ = writeln!(out, "| App | Object | Key | Action | Reason |");
        let _ = writeln!(out, "|:--|:--|:--|:--|:--|");
        for s in plan.skipped.iter().filter(|s| s.switch.is_none()) {
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} | {} |",
                md(&s.app),
                object_word(s.object),
                md(&s.key),
                action_word(s.action),
                md(&s.reason)
            );
        }
    }
    if plan.skipped.len() > protected {
        let _ = writeln!(out);
        let _ = writeln!(out, "#### Skipped (forbidden by a provisioning switch)");
        let _ = writeln!(out);
        let _ = writeln!(out, "| App | Object | Key | Action | Switch | Reason |");
        let _ = writeln!(out, "|:--|:--|:--|:--|:--|:--|");
        for s in plan.skipped.iter().filter(|s| s.switch.is_some()) {
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} | {} | {} |",
                md(&s.app),
                object_word(s.object),
                md(&s.key),
                action_word(s.action),
                md(s.switch.as_deref().unwrap_or("")),
                md(&skipped_reason(s, opts.drift))
            );
        }
    }
    // The details, as far as they fit; the cut line is reserved room for itself.
    const CUT_ROOM: usize = 300;
    let mut details = String::new();
    let mut not_shown = 0;
    let room = limit.saturating_sub(chars(&out) + CUT_ROOM);
    let full: usize = groups
        .iter()
        .map(|(app, changes)| chars(&details_block(app, changes, changes.len(), opts.drift)))
        .sum();
    if full + chars(&out) <= limit {
        for (app, changes) in &groups {
            details.push_str(&details_block(app, changes, changes.len(), opts.drift));
        }
    } else {
        let mut used = 0;
        for (app, changes) in &groups {
            let mut n = changes.len();
            let mut block = details_block(app, changes, n, opts.drift);
            while n > 0 && used + chars(&block) > room {
                // Shrink by halves, then one by one: cheap even for thousands of changes.
                let over = used + chars(&block) - room;
                let per = chars(&block) / n.max(1) + 1;
                n = n.saturating_sub((over / per).max(1));
                block = details_block(app, changes, n, opts.drift);
            }
            not_shown += changes.len() - n;
            if n > 0 {
                used += chars(&block);
                details.push_str(&block);
            }
        }
    }
    out.push_str(&details);
    if not_shown > 0 {
        let _ = writeln!(out);
        let _ = writeln!(
            out,
            "**{} not shown** (this comment is limited to {limit} characters); the full plan is in \
             the job summary / the plan artifact (`roster plan --out` / `roster show`).",
            plural(not_shown, "change", "changes")
        );
    }
    out
}

/// One app's collapsible details with its first `n` changes; deletes and disables are
/// listed in bold above the diff and marked in it.
fn details_block(app: &str, changes: &[&Change], n: usize, drift: bool) -> String {
    let mut out = String::new();
    let mut body = String::new();
    for c in &changes[..n] {
        for (i, l) in change_lines(c, false, drift).into_iter().enumerate() {
            if i == 0 && destructive(c) {
                let _ = writeln!(
                    body,
                    "{l}   {MARK} {}",
                    action_word(c.action).to_uppercase()
                );
            } else {
                let _ = writeln!(body, "{l}");
            }
        }
    }
    let fence = fence_for(&body);
    let count = if n < changes.len() {
        format!(
            "{} (first {n} shown)",
            plural(changes.len(), "change", "changes")
        )
    } else {
        plural(changes.len(), "change", "changes")
    };
    let _ = writeln!(out);
    let _ = writeln!(
        out,
        "<details><summary><b>{}</b>: {count}</summary>",
        md(app)
    );
    let _ = writeln!(out);
    let marked: Vec<String> = changes[..n]
        .iter()
        .filter(|c| destructive(c))
        .map(|c| format!("{} {}", action_word(c.action), md(&c.key())))
        .collect();
    if !marked.is_empty() {
        let _ = writeln!(
            out,
            "{MARK} **Deletes and disables: {}**",
            marked.join(", ")
        );
        let _ = writeln!(out);
    }
    let _ = writeln!(out, "{fence}diff");
    out.push_str(&body);
    let _ = writeln!(out, "{fence}");
    let _ = writeln!(out);
    let _ = writeln!(out, "</details>");
    out
}
