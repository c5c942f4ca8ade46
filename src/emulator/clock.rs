//! The emulator's one clock. Throttling windows, replication lag, token lifetimes,
//! delta-token expiry and the dates in error bodies all read it.
//!
//! By default it is the wall clock. An emulator started with `test_clock`
//! (`--test-clock`) lets a test move it forward (or set it) through
//! `POST /_emulator/clock` or [`super::EmulatorHandle::advance_clock`], so tests of
//! time-dependent behaviour advance time instead of sleeping. The clock is the wall
//! clock plus an offset; frozen, it stops at the moment it was frozen (plus the offset),
//! so a test can check behaviour exactly at a boundary.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use time::OffsetDateTime;

/// Wall clock plus a test-controlled offset, optionally frozen.
#[derive(Debug, Default)]
pub struct Clock {
    state: Mutex<State>,
}

#[derive(Debug, Default, Clone, Copy)]
struct State {
    /// Nanoseconds added to the wall clock (may be negative).
    offset_ns: i128,
    /// The wall-clock reading the clock stopped at, when frozen.
    frozen: Option<(Instant, OffsetDateTime)>,
}

impl Clock {
    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn base(&self) -> (Instant, OffsetDateTime, i128) {
        let st = *self.state();
        let (i, d) = st
            .frozen
            .unwrap_or_else(|| (Instant::now(), OffsetDateTime::now_utc()));
        (i, d, st.offset_ns)
    }

    /// A monotonic instant on the emulator's clock (for windows and budgets).
    pub fn instant(&self) -> Instant {
        let (i, _, off) = self.base();
        shift_instant(i, off)
    }

    /// The emulator's current date and time (for tokens, delta expiry and error dates).
    pub fn now_utc(&self) -> OffsetDateTime {
        let (_, d, off) = self.base();
        d.checked_add(time::Duration::nanoseconds_i128(off))
            .unwrap_or(d)
    }

    /// Move the clock forward by `by`.
    pub fn advance(&self, by: Duration) {
        let mut st = self.state();
        st.offset_ns = st
            .offset_ns
            .saturating_add(i128::try_from(by.as_nanos()).unwrap_or(i128::MAX));
    }

    /// Make the clock read `at` now (from there it flows, or stays when frozen).
    pub fn set(&self, at: OffsetDateTime) {
        let mut st = self.state();
        let real = st.frozen.map_or_else(OffsetDateTime::now_utc, |(_, d)| d);
        st.offset_ns = (at - real).whole_nanoseconds();
    }

    /// Stop the clock at its current reading (`true`) or let it flow again (`false`).
    pub fn freeze(&self, frozen: bool) {
        let mut st = self.state();
        match (frozen, st.frozen) {
            (true, None) => st.frozen = Some((Instant::now(), OffsetDateTime::now_utc())),
            (false, Some((i, _))) => {
                // Keep the reading continuous: the time spent frozen comes off the offset.
                let stopped = i128::try_from(i.elapsed().as_nanos()).unwrap_or(i128::MAX);
                st.offset_ns = st.offset_ns.saturating_sub(stopped);
                st.frozen = None;
            }
            _ => {}
        }
    }

    pub fn is_frozen(&self) -> bool {
        self.state().frozen.is_some()
    }

    /// The current offset from the wall clock in milliseconds.
    pub fn offset_ms(&self) -> i128 {
        self.state().offset_ns / 1_000_000
    }
}

fn shift_instant(now: Instant, offset_ns: i128) -> Instant {
    let magnitude =
        Duration::from_nanos(u64::try_from(offset_ns.unsigned_abs()).unwrap_or(u64::MAX));
    if offset_ns >= 0 {
        now.checked_add(magnitude).unwrap_or(now)
    } else {
        now.checked_sub(magnitude).unwrap_or(now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn advancing_moves_both_views_forward() {
        let c = Clock::default();
        let (i0, d0) = (c.instant(), c.now_utc());
        c.advance(Duration::from_secs(3600));
        assert!(c.instant().duration_since(i0) >= Duration::from_secs(3600));
        assert!(c.now_utc() - d0 >= time::Duration::hours(1));
        assert!(c.offset_ms() >= 3_600_000);
    }

    #[test]
    fn set_reads_back_the_given_date() {
        let c = Clock::default();
        let at = time::macros::datetime!(2030-01-02 03:04:05 UTC);
        c.set(at);
        let d = c.now_utc() - at;
        assert!(
            d >= time::Duration::ZERO && d < time::Duration::seconds(5),
            "{d}"
        );
        c.set(time::macros::datetime!(2001-01-01 00:00:00 UTC));
        assert!(c.offset_ms() < 0);
        let _ = c.instant();
    }

    #[test]
    fn a_frozen_clock_moves_only_when_advanced() {
        let c = Clock::default();
        c.freeze(true);
        let (i0, d0) = (c.instant(), c.now_utc());
        std::thread::sleep(Duration::from_millis(5));
        assert_eq!(c.instant(), i0);
        assert_eq!(c.now_utc(), d0);
        c.advance(Duration::from_millis(1));
        assert_eq!(c.instant() - i0, Duration::from_millis(1));
        assert_eq!(c.now_utc() - d0, time::Duration::milliseconds(1));
        c.freeze(false);
        assert!(!c.is_frozen());
        let later = c.instant();
        assert!(later >= i0 + Duration::from_millis(1));
        assert!(
            later < i0 + Duration::from_secs(5),
            "no jump by the frozen time"
        );
    }
}
