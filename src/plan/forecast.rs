//! `forecast`: the dated changes the repository makes happen with no further commits,
//! from the desired state alone (no live state, no credentials). Pure: the first and
//! last days are arguments.
//!
//! Per app, for each user its policies bind, the lifecycle steps between the two days
//! (joiner created early or on the start date, enabled on the start date; leaver
//! disabled, access removed, deleted); and each membership entry whose `expires`
//! falls between them. It assumes the live state matches the repository on the first
//! day (what `plan` shows on that day is not included).

use std::collections::BTreeSet;

use serde::Serialize;
use time::Date;

use crate::desired::lifecycle::{Dates, Stage, stage_of, transitions_of};
use crate::desired::{DesiredState, MemberRef, direct_members, parse_member};

/// One dated change.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Event {
    pub date: String,
    /// The app; absent for a membership expiry (it applies in every app the group is in).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub app: Option<String>,
    /// `user` or `membership`.
    pub object: &'static str,
    /// The username, or `GROUP/MEMBER` for a membership.
    pub key: String,
    /// What happens: `create`, `create_disabled`, `enable`, `disable`, `remove_access`,
    /// `delete`, `remove` (a membership expiry).
    pub action: &'static str,
    pub reason: String,
}

/// The events in `(from, until]` (from's own changes are what `plan --at FROM` shows),
/// restricted to `app` when given, sorted by date, app, key.
pub fn forecast(desired: &DesiredState, app: Option<&str>, from: Date, until: Date) -> Vec<Event> {
    let mut out = Vec::new();
    let in_range = |d: Date| d > from && d <= until;
    for a in desired
        .apps
        .iter()
        .filter(|a| app.is_none_or(|n| a.name() == n))
    {
        let settings = a.lifecycle();
        let bound = bound_users(desired, a.name(), &until.to_string());
        for u in desired.users.iter().filter(|u| bound.contains(&u.username)) {
            let dates = Dates::of(u);
            if !dates.any() {
                continue;
            }
            for (day, st) in transitions_of(dates, &settings) {
                if !in_range(day) {
                    continue;
                }
                let before = day
                    .previous_day()
                    .map(|d| stage_of(dates, &settings, d))
                    .unwrap_or(Stage::Active);
                let action = match (before, st) {
                    (Stage::NotYet { .. }, Stage::EarlyDisabled { .. }) => "create_disabled",
                    (Stage::NotYet { .. }, Stage::Active) => "create",
                    (Stage::EarlyDisabled { .. }, Stage::Active) => "enable",
                    (_, Stage::Deleted { .. }) => "delete",
                    (_, s @ Stage::Leaver { .. }) if s.access_removed() => "remove_access",
                    (_, Stage::Leaver { .. }) => "disable",
                    _ => continue,
                };
                // A leaver whose access goes on the end date itself is disabled then too.
                if action == "remove_access" && !before.forced_disabled() {
                    out.push(event(day, a.name(), &u.username, "disable", &st));
                }
                out.push(event(day, a.name(), &u.username, action, &st));
            }
        }
    }
    if app.is_none() || desired.apps.iter().any(|a| Some(a.name()) == app) {
        let bound_groups = app.map(|n| bound_groups(desired, n));
        for m in &desired.memberships {
            let Some(day) = m
                .expires
                .as_deref()
                .and_then(crate::desired::lifecycle::parse_date)
            else {
                continue;
            };
            if !in_range(day) || bound_groups.as_ref().is_some_and(|g| !g.contains(&m.group)) {
                continue;
            }
            for u in &m.users {
                out.push(Event {
                    date: day.to_string(),
                    app: None,
                    object: "membership",
                    key: format!("{}/{u}", m.group),
                    action: "remove",
                    reason: format!("membership expires on {day}"),
                });
            }
        }
    }
    out.sort();
    out.dedup();
    out
}

fn event(day: Date, app: &str, user: &str, action: &'static str, st: &Stage) -> Event {
    Event {
        date: day.to_string(),
        app: Some(app.to_string()),
        object: "user",
        key: user.to_string(),
        action,
        reason: st.reason(),
    }
}

/// The groups bound to `app`, with the groups nested in them.
fn bound_groups(desired: &DesiredState, app: &str) -> BTreeSet<String> {
    let direct = direct_members(desired, "0000-00-00");
    let mut seen = BTreeSet::new();
    let mut stack: Vec<&str> = desired
        .policies
        .iter()
        .filter(|p| p.app == app)
        .flat_map(|p| p.groups.iter().map(String::as_str))
        .collect();
    while let Some(g) = stack.pop() {
        if !seen.insert(g.to_string()) {
            continue;
        }
        for m in direct.get(g).into_iter().flatten() {
            if let MemberRef::Group(c) = parse_member(m) {
                stack.push(c);
            }
        }
    }
    seen
}

/// The users bound to `app` by inline members and memberships that have not expired
/// before `day`.
fn bound_users(desired: &DesiredState, app: &str, day: &str) -> BTreeSet<String> {
    let direct = direct_members(desired, day);
    let mut users = BTreeSet::new();
    for g in bound_groups(desired, app) {
        for m in direct.get(&g).into_iter().flatten() {
            if let MemberRef::User(u) = parse_member(m) {
                users.insert(u.to_string());
            }
        }
    }
    users
}

/// The events as text: one block per date.
pub fn human(events: &[Event], from: Date, until: Date) -> String {
    let mut s = String::new();
    if events.is_empty() {
        s.push_str(&format!("No dated changes after {from} up to {until}.\n"));
        return s;
    }
    let mut last = "";
    for e in events {
        if e.date != last {
            s.push_str(&format!("{}\n", e.date));
            last = &e.date;
        }
        let app = e
            .app
            .as_deref()
            .map(|a| format!("{a}: "))
            .unwrap_or_default();
        s.push_str(&format!(
            "  {app}{} {} {} ({})\n",
            e.action, e.object, e.key, e.reason
        ));
    }
    s
}

/// The events as Markdown: a table.
pub fn markdown(events: &[Event], from: Date, until: Date) -> String {
    let mut s = format!("### roster forecast: after {from} up to {until}\n\n");
    if events.is_empty() {
        s.push_str("No dated changes.\n");
        return s;
    }
    s.push_str("| date | app | change | object | why |\n|---|---|---|---|---|\n");
    for e in events {
        s.push_str(&format!(
            "| {} | {} | {} | {} `{}` | {} |\n",
            e.date,
            e.app.as_deref().unwrap_or("all"),
            e.action,
            e.object,
            e.key.replace('|', "\\|"),
            e.reason
        ));
    }
    s
}
