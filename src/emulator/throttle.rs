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

    /// The share of the budget in use (0 = untouched, 1 = spent).
    pub fn used(&self) -> f64 {
        ((self.capacity - self.tokens) / self.capacity).clamp(0.0, 1.0)
    }
}

/// The query options that change a request's cost (concepts/throttling-limits.md,
/// "Identity and access service limits": "Using `$select` decreases cost by 1; Using
/// `$expand` increases cost by 1; Using `$top` with a value of less than 20 decreases
/// cost by 1").
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Modifiers {
    pub select: bool,
    pub expand: bool,
    pub small_top: bool,
}

impl Modifiers {
    /// Read the modifiers from a raw query string (names may be percent-encoded, and
    /// Graph accepts them without the `$` prefix too).
    pub fn from_query(query: Option<&str>) -> Self {
        let mut m = Modifiers::default();
        for pair in query.unwrap_or("").split('&') {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            let k = percent_encoding::percent_decode_str(k)
                .decode_utf8_lossy()
                .to_ascii_lowercase();
            let k = k.trim_start_matches('$');
            match k {
                "select" => m.select = true,
                "expand" => m.expand = true,
                "top" => {
                    m.small_top = percent_encoding::percent_decode_str(v)
                        .decode_utf8_lossy()
                        .trim()
                        .parse::<u64>()
                        .is_ok_and(|n| n < 20)
                }
                _ => {}
            }
        }
        m
    }
}

/// Resource units a request costs: the documented base cost of its path, `$select` −1,
/// `$expand` +1, `$top` below 20 −1, and never below 1 ("A request cost can never be
/// lower than 1"). `$select` on `directoryObjects/getByIds` costs 2 (the page's note).
pub fn resource_units(cost: Cost, m: Modifiers) -> u32 {
    if m.select && cost.by_ids {
        return 2;
    }
    let mut n = i64::from(cost.base);
    if m.select {
        n -= 1;
    }
    if m.expand {
        n += 1;
    }
    if m.small_top {
        n -= 1;
    }
    n.max(1) as u32
}

/// Which budget refused a request: the resource units (all requests) or the writes.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Exceeded {
    ResourceUnits,
    Writes,
}

impl Exceeded {
    /// The `<Limit>` part of `x-ms-throttle-scope`: Read|Write|ReadWrite.
    pub fn limit(self) -> &'static str {
        match self {
            Exceeded::ResourceUnits => "ReadWrite",
            Exceeded::Writes => "Write",
        }
    }
    /// `x-ms-throttle-information`.
    pub fn information(self) -> &'static str {
        match self {
            Exceeded::ResourceUnits => "ResourceUnitLimitExceeded",
            Exceeded::Writes => "WriteLimitExceeded",
        }
    }
}

/// A refusal: how long to wait and which budget was spent.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Refusal {
    pub wait: f64,
    pub exceeded: Exceeded,
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

    /// Admit a request costing `ru` (and one write when `write`), or say how long to
    /// wait and which budget is spent. On admission, returns the share of the fuller
    /// budget now in use.
    pub fn admit(&mut self, ru: u32, write: bool, now: Instant) -> Result<f64, Refusal> {
        let mut refusal: Option<Refusal> = None;
        if let Some(b) = &mut self.ru {
            let wait = b.wait_for(f64::from(ru), now);
            if wait > 0.0 {
                refusal = Some(Refusal {
                    wait,
                    exceeded: Exceeded::ResourceUnits,
                });
            }
        }
        if write && let Some(b) = &mut self.writes {
            let wait = b.wait_for(1.0, now);
            if wait > refusal.map_or(0.0, |r| r.wait) {
                refusal = Some(Refusal {
                    wait,
                    exceeded: Exceeded::Writes,
                });
            }
        }
        if let Some(r) = refusal {
            return Err(r);
        }
        let mut used = 0.0f64;
        if let Some(b) = &mut self.ru {
            b.take(f64::from(ru));
            used = used.max(b.used());
        }
        if write && let Some(b) = &mut self.writes {
            b.take(1.0);
            used = used.max(b.used());
        }
        Ok(used)
    }
}

/// `x-ms-throttle-limit-percentage`: "Returned only when the application consumed more
/// than 0.8 of its limit" (concepts/throttling-limits.md); the value is the share in use.
pub fn limit_percentage(used: f64) -> Option<String> {
    (used > 0.8).then(|| format!("{:.2}", used.min(1.8)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn cost(base: u32) -> Cost {
        Cost {
            base,
            write: false,
            by_ids: false,
        }
    }

    #[test]
    fn costs() {
        let m = |q: &str| Modifiers::from_query(Some(q));
        assert_eq!(resource_units(cost(2), m("")), 2);
        assert_eq!(resource_units(cost(2), m("$select=id")), 1);
        assert_eq!(resource_units(cost(2), m("%24top=5")), 1);
        assert_eq!(resource_units(cost(2), m("$top=20")), 2);
        assert_eq!(resource_units(cost(2), m("$expand=manager")), 3);
        assert_eq!(resource_units(cost(2), m("$top=5&$select=id")), 1);
        assert_eq!(resource_units(cost(3), m("$select=id")), 2);
        assert_eq!(resource_units(cost(1), m("$select=id")), 1);
        let by_ids = Cost {
            base: 5,
            write: false,
            by_ids: true,
        };
        assert_eq!(resource_units(by_ids, m("$select=id")), 2);
        assert_eq!(limit_percentage(0.5), None);
        assert_eq!(limit_percentage(0.9).as_deref(), Some("0.90"));
    }

    #[test]
    fn bucket_throttles_and_refills() {
        let t0 = Instant::now();
        let mut th = Throttle::new(Some(10), None, t0);
        for _ in 0..5 {
            th.admit(2, false, t0).expect("fits");
        }
        let r = th.admit(2, false, t0).expect_err("empty");
        assert!((r.wait - 2.0).abs() < 1e-6, "{r:?}");
        assert_eq!(r.exceeded, Exceeded::ResourceUnits);
        let used = th
            .admit(2, false, t0 + Duration::from_secs(2))
            .expect("refilled");
        assert!((used - 1.0).abs() < 1e-6, "{used}");
    }

    #[test]
    fn write_budget() {
        let t0 = Instant::now();
        let mut th = Throttle::new(None, Some(2), t0);
        th.admit(1, true, t0).expect("1");
        th.admit(1, true, t0).expect("2");
        let r = th.admit(1, true, t0).expect_err("budget spent");
        assert!(r.wait > 70.0 && r.wait < 80.0, "{r:?}");
        assert_eq!(r.exceeded, Exceeded::Writes);
        th.admit(1, false, t0).expect("reads unaffected");
    }
}
