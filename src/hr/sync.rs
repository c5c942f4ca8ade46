//! Joiners, movers and leavers: the HR rows against the repository's users, matched
//! by employee id. Pure: the day of the sync is an argument, no files, no clock.

use std::collections::{BTreeMap, BTreeSet};

use super::feed::{BadRow, Feed, Row};
use super::mapping::Mapping;
use crate::desired::{DesiredState, User};

/// A new user, from a row whose employee id no repository user has.
#[derive(Debug, Clone, PartialEq)]
pub struct Joiner {
    pub line: u64,
    pub username: String,
    pub email: String,
    pub first_name: String,
    pub last_name: String,
    pub employee_id: String,
    pub department: Option<String>,
    pub job_title: Option<String>,
    /// The manager's username.
    pub manager: Option<String>,
    pub start_date: Option<String>,
    pub end_date: Option<String>,
}

/// One field set on an existing user.
#[derive(Debug, Clone, PartialEq)]
pub struct FieldSet {
    pub field: &'static str,
    pub old: Option<String>,
    pub new: String,
}

/// An existing user whose department, title, manager or start date changed.
#[derive(Debug, Clone, PartialEq)]
pub struct Mover {
    pub line: u64,
    pub username: String,
    pub fields: Vec<FieldSet>,
}

/// An existing user who gets an `end_date` (never a deletion).
#[derive(Debug, Clone, PartialEq)]
pub struct Leaver {
    /// `None`: the row disappeared from the export.
    pub line: Option<u64>,
    pub username: String,
    pub old: Option<String>,
    pub end_date: String,
    pub why: String,
}

/// Everything a sync would change, and the rows that change nothing.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SyncPlan {
    pub joiners: Vec<Joiner>,
    pub movers: Vec<Mover>,
    pub leavers: Vec<Leaver>,
    pub bad: Vec<BadRow>,
    /// Rows of people who left before the repository knew them: nothing to do.
    pub skipped: Vec<(u64, String)>,
    /// Data rows read.
    pub records: usize,
    /// The day of the sync.
    pub today: String,
}

impl SyncPlan {
    pub fn is_empty(&self) -> bool {
        self.joiners.is_empty() && self.movers.is_empty() && self.leavers.is_empty()
    }

    /// Leavers only because their row is gone from the export.
    pub fn disappeared(&self) -> usize {
        self.leavers.iter().filter(|l| l.line.is_none()).count()
    }

    /// The guard against a partial export: more than `max` people gone at once, or
    /// an export with no data rows at all, is refused whole (a truncated file would
    /// otherwise end everyone's access). `None` when the sync may go ahead.
    pub fn partial_export(&self, max: usize) -> Option<String> {
        let gone = self.disappeared();
        if gone == 0 {
            return None;
        }
        if self.records == 0 {
            return Some(format!(
                "the export has no data rows, so all {gone} users with an employee id would become leavers"
            ));
        }
        (gone > max).then(|| {
            let (who, are) = if gone == 1 {
                ("user", "is")
            } else {
                ("users", "are")
            };
            format!(
                "{gone} {who} with an employee id {are} not in the export, more than max_disappeared ({max}); a partial export would make them leavers"
            )
        })
    }
}

fn set(fields: &mut Vec<FieldSet>, field: &'static str, old: Option<&str>, new: Option<&str>) {
    // An empty or unmapped cell leaves the field alone.
    if let Some(new) = new
        && old != Some(new)
    {
        fields.push(FieldSet {
            field,
            old: old.map(str::to_string),
            new: new.to_string(),
        });
    }
}

/// Compute the sync of `feed` into `state` on `today` (YYYY-MM-DD).
pub fn compute(feed: &Feed, state: &DesiredState, m: &Mapping, today: &str) -> SyncPlan {
    let mut plan = SyncPlan {
        bad: feed.bad.clone(),
        records: feed.records,
        today: today.to_string(),
        ..SyncPlan::default()
    };
    // Repository users by employee id (the first of a repeated id).
    let mut by_id: BTreeMap<&str, &User> = BTreeMap::new();
    for u in &state.users {
        if let Some(id) = u.employee_id.as_deref() {
            by_id.entry(id).or_insert(u);
        }
    }
    let mut taken: BTreeSet<String> = state
        .users
        .iter()
        .flat_map(|u| std::iter::once(&u.username).chain(&u.previous_usernames))
        .map(|n| n.to_lowercase())
        .collect();

    // First pass: unknown managers, and the usernames of the joiners (so that a
    // joiner may manage another).
    let mut good: Vec<&Row> = Vec::new();
    let row_ids: BTreeSet<&str> = feed.rows.iter().map(|r| r.employee_id.as_str()).collect();
    for r in &feed.rows {
        if let Some(mid) = &r.manager_id
            && !by_id.contains_key(mid.as_str())
            && !row_ids.contains(mid.as_str())
        {
            plan.bad.push(BadRow {
                line: r.line,
                employee_id: Some(r.employee_id.clone()),
                problem: if feed.mentions(mid) {
                    format!("unknown manager: employee id {mid} is only on a bad row")
                } else {
                    format!(
                        "unknown manager: employee id {mid} is neither in the export nor in the repository"
                    )
                },
            });
            continue;
        }
        good.push(r);
    }
    let mut joiner_names: BTreeMap<&str, String> = BTreeMap::new();
    for r in &good {
        if by_id.contains_key(r.employee_id.as_str()) || left_already(r, today) {
            continue;
        }
        let value = |f: &str| -> Option<String> {
            match f {
                "first_name" => Some(r.first_name.clone()),
                "last_name" => Some(r.last_name.clone()),
                "email" => Some(r.email.clone()),
                "employee_id" => Some(r.employee_id.clone()),
                "department" => r.department.clone(),
                "job_title" => r.job_title.clone(),
                _ => None,
            }
        };
        let base = m.username.render(&value);
        let mut name = base.clone();
        let mut n = 2;
        while name.is_empty() || taken.contains(&name.to_lowercase()) {
            name = format!("{base}{n}");
            n += 1;
        }
        taken.insert(name.to_lowercase());
        joiner_names.insert(r.employee_id.as_str(), name);
    }
    let manager_name = |mid: &str| -> Option<String> {
        by_id
            .get(mid)
            .map(|u| u.username.clone())
            .or_else(|| joiner_names.get(mid).cloned())
    };

    for r in good {
        match by_id.get(r.employee_id.as_str()) {
            Some(u) => {
                let mut fields = Vec::new();
                set(
                    &mut fields,
                    "department",
                    u.department.as_deref(),
                    r.department.as_deref(),
                );
                set(
                    &mut fields,
                    "job_title",
                    u.job_title.as_deref(),
                    r.job_title.as_deref(),
                );
                let mgr = r.manager_id.as_deref().and_then(manager_name);
                set(&mut fields, "manager", u.manager.as_deref(), mgr.as_deref());
                set(
                    &mut fields,
                    "start_date",
                    u.start_date.as_deref(),
                    r.start_date.as_deref(),
                );
                if !fields.is_empty() {
                    plan.movers.push(Mover {
                        line: r.line,
                        username: u.username.clone(),
                        fields,
                    });
                }
                let old = u.end_date.as_deref();
                let (end, why) = match (&r.end_date, r.terminated) {
                    (Some(e), _) => (Some(e.clone()), format!("end date {e} in the export")),
                    // Terminated without a date: ends today, unless it ended already.
                    (None, true) if old.is_none() => (
                        Some(today.to_string()),
                        "status terminated, no end date".to_string(),
                    ),
                    _ => (None, String::new()),
                };
                if let Some(end) = end
                    && old != Some(end.as_str())
                {
                    plan.leavers.push(Leaver {
                        line: Some(r.line),
                        username: u.username.clone(),
                        old: old.map(str::to_string),
                        end_date: end,
                        why,
                    });
                }
            }
            None if left_already(r, today) => {
                plan.skipped.push((
                    r.line,
                    format!(
                        "employee {} left before joining the repository: no user added",
                        r.employee_id
                    ),
                ));
            }
            None => {
                let missing: Vec<&str> = [
                    ("first_name", &r.first_name),
                    ("last_name", &r.last_name),
                    ("email", &r.email),
                ]
                .into_iter()
                .filter(|(_, v)| v.is_empty())
                .map(|(k, _)| k)
                .collect();
                if !missing.is_empty() {
                    plan.bad.push(BadRow {
                        line: r.line,
                        employee_id: Some(r.employee_id.clone()),
                        problem: format!("a joiner needs {}", missing.join(", ")),
                    });
                    continue;
                }
                plan.joiners.push(Joiner {
                    line: r.line,
                    username: joiner_names[r.employee_id.as_str()].clone(),
                    email: r.email.clone(),
                    first_name: r.first_name.clone(),
                    last_name: r.last_name.clone(),
                    employee_id: r.employee_id.clone(),
                    department: r.department.clone(),
                    job_title: r.job_title.clone(),
                    manager: r.manager_id.as_deref().and_then(manager_name),
                    start_date: r.start_date.clone(),
                    end_date: r.end_date.clone(),
                });
            }
        }
    }

    // Users with an employee id that is on no row of the export at all: leavers.
    let mentioned: BTreeSet<&str> = feed
        .rows
        .iter()
        .map(|r| r.employee_id.as_str())
        .chain(feed.bad.iter().filter_map(|b| b.employee_id.as_deref()))
        .collect();
    let mut gone: Vec<&User> = by_id
        .iter()
        .filter(|(id, u)| !mentioned.contains(*id) && u.end_date.is_none())
        .map(|(_, u)| *u)
        .collect();
    gone.sort_by(|a, b| a.username.cmp(&b.username));
    for u in gone {
        plan.leavers.push(Leaver {
            line: None,
            username: u.username.clone(),
            old: None,
            end_date: today.to_string(),
            why: format!(
                "employee id {} is no longer in the export",
                u.employee_id.as_deref().unwrap_or_default()
            ),
        });
    }
    plan.bad.sort();
    plan
}

/// A row of someone who is terminated with no end date, or whose end date has passed.
fn left_already(r: &Row, today: &str) -> bool {
    match &r.end_date {
        Some(e) => e.as_str() < today,
        None => r.terminated,
    }
}
