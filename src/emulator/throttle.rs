//! Graph's identity-and-access throttling model: a resource-unit token bucket per app
//! (refilled continuously over 10 s) and a write budget (per 150 s); a request that does
//! not fit gets 429 with a fractional Retry-After.

use std::time::Instant;

use super::graph::Cost;

/// A continuously refilled token bucket.
#[derive(Debug, Clone)]
pub struct Bucket {
    capacity: f64,
    tokens: f64,
    per_sec: f64,
    last: Instant,
}

impl Bucket {
    pub fn new(capacity: u32, window_secs: f64, now: Instant) -> Self {
        let capacity = f64::from(capacity.max(1));
        Bucket {
            capacity,
            tokens: capacity,
            per_sec: capacity / window_secs,
            last: now,
        }
    }

    fn refill(&mut self, now: Instant) {
        let dt = now.saturating_duration_since(self.last).as_secs_f64();
        self.tokens = (self.tokens + dt * self.per_sec).min(self.capacity);
        self.last = now;
    }

    /// Seconds until `cost` tokens are available (0 = available now); does not take them.
    pub fn wait_for(&mut self, cost: f64, now: Instant) -> f64 {
        self.refill(now);
        let cost = cost.min(self.capacity);
        if self.tokens >= cost {
            0.0
        } else {
            (cost - self.tokens) / self.per_sec
        }
    }

    pub fn take(&mut self, cost: f64) {
        self.tokens -= cost.min(self.capacity);
    }
}

/// Resource units a request costs: list users/groups 2, list members 3, other reads 1,
/// `$select` −1 (never below 1), writes 1.
pub fn resource_units(cost: Cost, has_select: bool) -> u32 {
    let base: u32 = match cost {
        Cost::ListUsers => 2,
        Cost::ListMembers => 3,
        Cost::OtherGet => 1,
        Cost::Write => 1,
    };
    if has_select && cost != Cost::Write {
        base.saturating_sub(1).max(1)
    } else {
        base
    }
}

/// The per-app budgets.
#[derive(Debug, Clone)]
pub struct Throttle {
    pub ru: Option<Bucket>,
    pub writes: Option<Bucket>,
}

impl Throttle {
    pub fn new(ru_per_10s: Option<u32>, writes_per_150s: Option<u32>, now: Instant) -> Self {
        Throttle {
            ru: ru_per_10s.map(|n| Bucket::new(n, 10.0, now)),
            writes: writes_per_150s.map(|n| Bucket::new(n, 150.0, now)),
        }
    }

    /// Admit a request costing `ru` (and one write when `write`), or say how long to wait.
    pub fn admit(&mut self, ru: u32, write: bool, now: Instant) -> Result<(), f64> {
        let mut wait = 0.0f64;
        if let Some(b) = &mut self.ru {
            wait = wait.max(b.wait_for(f64::from(ru), now));
        }
        if write && let Some(b) = &mut self.writes {
            wait = wait.max(b.wait_for(1.0, now));
        }
        if wait > 0.0 {
            return Err(wait);
        }
        if let Some(b) = &mut self.ru {
            b.take(f64::from(ru));
        }
        if write && let Some(b) = &mut self.writes {
            b.take(1.0);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn costs() {
        assert_eq!(resource_units(Cost::ListUsers, false), 2);
        assert_eq!(resource_units(Cost::ListUsers, true), 1);
        assert_eq!(resource_units(Cost::ListMembers, false), 3);
        assert_eq!(resource_units(Cost::OtherGet, true), 1);
        assert_eq!(resource_units(Cost::Write, true), 1);
    }

    #[test]
    fn bucket_throttles_and_refills() {
        let t0 = Instant::now();
        let mut th = Throttle::new(Some(10), None, t0);
        for _ in 0..5 {
            th.admit(2, false, t0).expect("fits");
        }
        let wait = th.admit(2, false, t0).expect_err("empty");
        assert!((wait - 2.0).abs() < 1e-6, "{wait}");
        th.admit(2, false, t0 + Duration::from_secs(2))
            .expect("refilled");
    }

    #[test]
    fn write_budget() {
        let t0 = Instant::now();
        let mut th = Throttle::new(None, Some(2), t0);
        th.admit(1, true, t0).expect("1");
        th.admit(1, true, t0).expect("2");
        let wait = th.admit(1, true, t0).expect_err("budget spent");
        assert!(wait > 70.0 && wait < 80.0, "{wait}");
        th.admit(1, false, t0).expect("reads unaffected");
    }
}
