//! Joiners and leavers: where a user with `start_date` / `end_date` stands in one app
//! on one day, under that app's `joiner` and `leaver` settings. Pure: the day is an
//! argument, never the clock.
//!
//! The stages, in order (docs/lifecycle.md):
//! - [`Stage::NotYet`]: before `start_date` (less the app's `provision_days_before_start`):
//!   not provisioned.
//! - [`Stage::EarlyDisabled`]: within `provision_days_before_start` of the start: the
//!   account exists, disabled until the start date.
//! - [`Stage::Active`]: from `start_date` until the day before `end_date` (or with no dates).
//! - [`Stage::Leaver`]: from `end_date` on: disabled at once; group memberships and licences
//!   removed `remove_access_after_days` after the end date.
//! - [`Stage::Deleted`]: `delete_after_days` after the end date, when `delete_users` is on.

use std::fmt;

use time::{Date, Duration};

use super::model::{JoinerSettings, LeaverSettings, Switches, User};

/// One app's lifecycle settings, with the switches the stages depend on.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Settings {
    pub provision_days_before_start: u32,
    pub remove_access_after_days: u32,
    /// `leaver.delete_after_days`; deletion happens only with `delete_users`.
    pub delete_after_days: Option<u32>,
    pub delete_users: bool,
}

impl Settings {
    pub fn new(
        joiner: Option<JoinerSettings>,
        leaver: Option<LeaverSettings>,
        switches: &Switches,
    ) -> Settings {
        let joiner = joiner.unwrap_or_default();
        let leaver = leaver.unwrap_or_default();
        Settings {
            provision_days_before_start: joiner.provision_days_before_start,
            remove_access_after_days: leaver.remove_access_after_days,
            delete_after_days: leaver.delete_after_days,
            delete_users: switches.delete_users,
        }
    }
}

/// Where a user stands in one app on one day.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Stage {
    /// Not provisioned yet: provisioned from `provision_on` (disabled until `start` when
    /// that is earlier than the start).
    NotYet { provision_on: Date, start: Date },
    /// Provisioned early and disabled until `start`.
    EarlyDisabled { start: Date },
    /// An ordinary user: provisioned as the repository says.
    Active,
    /// From the end date on: disabled; memberships and licences go on `access_removed_on`
    /// (`access_removed` once that day has come); deleted on `delete_on`, if ever.
    Leaver {
        since: Date,
        access_removed: bool,
        access_removed_on: Date,
        delete_on: Option<Date>,
    },
    /// Deleted on `deleted_on`, a leaver since `since`.
    Deleted { since: Date, deleted_on: Date },
}

impl Stage {
    /// True when the account should exist in the app.
    pub fn provisioned(&self) -> bool {
        matches!(
            self,
            Stage::EarlyDisabled { .. } | Stage::Active | Stage::Leaver { .. }
        )
    }

    /// True when the account should be disabled whatever the repository's `enabled` says.
    pub fn forced_disabled(&self) -> bool {
        matches!(self, Stage::EarlyDisabled { .. } | Stage::Leaver { .. })
    }

    /// True when group memberships and licences should be gone.
    pub fn access_removed(&self) -> bool {
        matches!(
            self,
            Stage::Leaver {
                access_removed: true,
                ..
            } | Stage::Deleted { .. }
        )
    }

    /// True for an ordinary user (no lifecycle step applies).
    pub fn is_active(&self) -> bool {
        matches!(self, Stage::Active)
    }

    /// Why this stage: "leaver since 2027-03-31; access removed; delete on 2027-04-30".
    pub fn reason(&self) -> String {
        self.to_string()
    }

    /// The short name of the stage (`not_yet`, `early_disabled`, `active`, `leaver`, `deleted`).
    pub fn name(&self) -> &'static str {
        match self {
            Stage::NotYet { .. } => "not_yet",
            Stage::EarlyDisabled { .. } => "early_disabled",
            Stage::Active => "active",
            Stage::Leaver { .. } => "leaver",
            Stage::Deleted { .. } => "deleted",
        }
    }
}

impl fmt::Display for Stage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Stage::NotYet {
                provision_on,
                start,
            } if provision_on < start => {
                write!(
                    f,
                    "joiner starting on {start}; provisioned disabled from {provision_on}"
                )
            }
            Stage::NotYet { start, .. } => {
                write!(f, "joiner starting on {start}; not provisioned before then")
            }
            Stage::EarlyDisabled { start } => {
                write!(
                    f,
                    "joiner starting on {start}; provisioned early, disabled until then"
                )
            }
            Stage::Active => f.write_str("active"),
            Stage::Leaver {
                since,
                access_removed,
                access_removed_on,
                delete_on,
            } => {
                write!(f, "leaver since {since}")?;
                if *access_removed {
                    f.write_str("; access removed")?;
                } else {
                    write!(f, "; access removed on {access_removed_on}")?;
                }
                if let Some(d) = delete_on {
                    write!(f, "; delete on {d}")?;
                }
                Ok(())
            }
            Stage::Deleted { since, deleted_on } => {
                write!(f, "leaver since {since}; deleted on {deleted_on}")
            }
        }
    }
}

/// The dated part of a change's reason — a lifecycle stage ("leaver since …",
/// "joiner starting on …") or a membership expiry ("membership expired on DATE") — so
/// that summaries can say why a change happens on this day. Works on reasons read
/// back from a saved plan too, where only the words survive. `None` for any other
/// reason.
pub fn dated_reason(reason: &str) -> Option<&str> {
    if reason.starts_with("leaver since ") || reason.starts_with("joiner starting on ") {
        return Some(reason);
    }
    reason
        .starts_with("membership expired on ")
        .then(|| reason.split(':').next().unwrap_or(reason))
}

/// A user's parsed dates (`None` for a missing or unparsable one: the loader reports
/// those with positions).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Dates {
    pub start: Option<Date>,
    pub end: Option<Date>,
}

impl Dates {
    pub fn of(user: &User) -> Dates {
        Dates {
            start: user.start_date.as_deref().and_then(parse_date),
            end: user.end_date.as_deref().and_then(parse_date),
        }
    }
    pub fn any(&self) -> bool {
        self.start.is_some() || self.end.is_some()
    }
}

/// Parse YYYY-MM-DD.
pub fn parse_date(s: &str) -> Option<Date> {
    let fmt = time::macros::format_description!("[year]-[month]-[day]");
    if s.len() != 10 {
        return None;
    }
    Date::parse(s, &fmt).ok()
}

fn plus(d: Date, days: u32) -> Option<Date> {
    d.checked_add(Duration::days(i64::from(days)))
}

fn minus(d: Date, days: u32) -> Date {
    d.checked_sub(Duration::days(i64::from(days)))
        .unwrap_or(Date::MIN)
}

/// The user's stage in an app with settings `s` on `date`.
pub fn stage(user: &User, s: &Settings, date: Date) -> Stage {
    stage_of(Dates::of(user), s, date)
}

/// [`stage`] from already parsed dates.
pub fn stage_of(dates: Dates, s: &Settings, date: Date) -> Stage {
    if let Some(end) = dates.end
        && date >= end
    {
        let access_removed_on = plus(end, s.remove_access_after_days).unwrap_or(Date::MAX);
        let delete_on = match (s.delete_users, s.delete_after_days) {
            (true, Some(n)) => plus(end, n),
            _ => None,
        };
        if let Some(d) = delete_on
            && date >= d
        {
            return Stage::Deleted {
                since: end,
                deleted_on: d,
            };
        }
        return Stage::Leaver {
            since: end,
            access_removed: date >= access_removed_on,
            access_removed_on,
            delete_on,
        };
    }
    if let Some(start) = dates.start
        && date < start
    {
        let provision_on = minus(start, s.provision_days_before_start);
        if date >= provision_on {
            return Stage::EarlyDisabled { start };
        }
        return Stage::NotYet {
            provision_on,
            start,
        };
    }
    Stage::Active
}

/// The days on which the user's stage changes, each with the stage from that day on,
/// in date order. A user without dates has none.
pub fn transitions(user: &User, s: &Settings) -> Vec<(Date, Stage)> {
    transitions_of(Dates::of(user), s)
}

/// [`transitions`] from already parsed dates.
pub fn transitions_of(dates: Dates, s: &Settings) -> Vec<(Date, Stage)> {
    let mut days = Vec::new();
    if let Some(start) = dates.start {
        days.push(minus(start, s.provision_days_before_start));
        days.push(start);
    }
    if let Some(end) = dates.end {
        days.push(end);
        if let Some(d) = plus(end, s.remove_access_after_days) {
            days.push(d);
        }
        if s.delete_users
            && let Some(n) = s.delete_after_days
            && let Some(d) = plus(end, n)
        {
            days.push(d);
        }
    }
    days.sort_unstable();
    days.dedup();
    let mut out: Vec<(Date, Stage)> = Vec::new();
    let mut prev: Option<Stage> = days
        .first()
        .and_then(|d| d.previous_day())
        .map(|d| stage_of(dates, s, d));
    for d in days {
        let st = stage_of(dates, s, d);
        if prev != Some(st) {
            out.push((d, st));
        }
        prev = Some(st);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::date;

    fn dates(start: Option<Date>, end: Option<Date>) -> Dates {
        Dates { start, end }
    }

    fn leaver_settings() -> Settings {
        Settings {
            provision_days_before_start: 0,
            remove_access_after_days: 7,
            delete_after_days: Some(30),
            delete_users: true,
        }
    }

    #[test]
    fn leaver_stages_by_date() {
        let d = dates(None, Some(date!(2027 - 03 - 31)));
        let s = leaver_settings();
        assert_eq!(stage_of(d, &s, date!(2027 - 03 - 30)), Stage::Active);
        let st = stage_of(d, &s, date!(2027 - 03 - 31));
        assert!(st.forced_disabled() && !st.access_removed());
        assert_eq!(
            st.reason(),
            "leaver since 2027-03-31; access removed on 2027-04-07; delete on 2027-04-30"
        );
        let st = stage_of(d, &s, date!(2027 - 04 - 07));
        assert!(st.access_removed() && st.provisioned());
        assert_eq!(
            st.reason(),
            "leaver since 2027-03-31; access removed; delete on 2027-04-30"
        );
        let st = stage_of(d, &s, date!(2027 - 04 - 30));
        assert!(!st.provisioned());
        assert_eq!(
            st.reason(),
            "leaver since 2027-03-31; deleted on 2027-04-30"
        );
    }

    #[test]
    fn no_delete_without_the_switch() {
        let d = dates(None, Some(date!(2027 - 03 - 31)));
        let s = Settings {
            delete_users: false,
            ..leaver_settings()
        };
        let st = stage_of(d, &s, date!(2030 - 01 - 01));
        assert!(st.provisioned() && st.access_removed());
        assert_eq!(st.reason(), "leaver since 2027-03-31; access removed");
        assert_eq!(transitions_of(d, &s).len(), 2);
    }

    #[test]
    fn joiner_early_and_late() {
        let d = dates(Some(date!(2027 - 05 - 03)), None);
        let s = Settings {
            provision_days_before_start: 3,
            ..Settings::default()
        };
        assert!(matches!(
            stage_of(d, &s, date!(2027 - 04 - 29)),
            Stage::NotYet { .. }
        ));
        assert_eq!(
            stage_of(d, &s, date!(2027 - 04 - 30)),
            Stage::EarlyDisabled {
                start: date!(2027 - 05 - 03)
            }
        );
        assert_eq!(stage_of(d, &s, date!(2027 - 05 - 03)), Stage::Active);
        let t = transitions_of(d, &s);
        assert_eq!(
            t.iter().map(|(d, _)| *d).collect::<Vec<_>>(),
            vec![date!(2027 - 04 - 30), date!(2027 - 05 - 03)]
        );
        // without early provisioning, the only change is the start itself
        let t = transitions_of(d, &Settings::default());
        assert_eq!(t, vec![(date!(2027 - 05 - 03), Stage::Active)]);
    }

    #[test]
    fn leaver_transitions_in_order() {
        let d = dates(Some(date!(2026 - 01 - 01)), Some(date!(2027 - 03 - 31)));
        let t = transitions_of(d, &leaver_settings());
        let days: Vec<String> = t.iter().map(|(d, s)| format!("{d} {}", s.name())).collect();
        assert_eq!(
            days,
            [
                "2026-01-01 active",
                "2027-03-31 leaver",
                "2027-04-07 leaver",
                "2027-04-30 deleted"
            ]
        );
        // zero days: access goes with the end date itself
        let s = Settings {
            remove_access_after_days: 0,
            ..leaver_settings()
        };
        assert!(stage_of(d, &s, date!(2027 - 03 - 31)).access_removed());
    }

    #[test]
    fn far_dates_do_not_overflow() {
        let d = dates(Some(date!(0001 - 01 - 02)), Some(date!(9999 - 12 - 30)));
        let s = Settings {
            provision_days_before_start: u32::MAX,
            remove_access_after_days: u32::MAX,
            delete_after_days: Some(u32::MAX),
            delete_users: true,
        };
        let _ = transitions_of(d, &s);
        assert!(matches!(
            stage_of(d, &s, date!(9999 - 12 - 31)),
            Stage::Leaver { .. }
        ));
    }
}
