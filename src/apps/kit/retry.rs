//! One retry policy for every connector: transient vs permanent failures, Retry-After,
//! exponential backoff with full jitter, a bound on total time.
//!
//! The rules are free of I/O and of the clock: callers pass `now`, the time spent so
//! far and the random source, so each rule is a plain function to test. The waits
//! themselves go through a [`Timer`]: tokio's timer by default, or one a test supplies
//! that moves a test clock instead of sleeping.

use std::error::Error as StdError;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use rand::Rng;

/// The environment variable that bounds how long one request waits for its retries
/// in all (seconds, fractions allowed); without it, only the attempts are bounded.
pub const MAX_WAIT_ENV: &str = "ROSTER_RETRY_MAX_SECONDS";

/// The bound set by [`MAX_WAIT_ENV`], if it is set to a number of seconds.
pub fn max_wait_from_env() -> Option<Duration> {
    parse_max_wait(&std::env::var(MAX_WAIT_ENV).ok()?)
}

/// A bound on waits in seconds (fractions allowed), capped at [`MAX_RETRY_AFTER`].
pub fn parse_max_wait(v: &str) -> Option<Duration> {
    let s: f64 = v.trim().parse().ok()?;
    (s.is_finite() && s >= 0.0)
        .then(|| Duration::from_secs_f64(s.min(MAX_RETRY_AFTER.as_secs_f64())))
}

/// How retries tell the time and wait: the clock that schedules retries and throttle
/// windows, and the wait until such a moment.
pub trait Timer: Send + Sync + fmt::Debug {
    /// Now, on this timer's clock.
    fn now(&self) -> Instant;
    /// Waits until `deadline` on this timer's clock (at once when it has passed).
    fn sleep_until(&self, deadline: Instant) -> Pin<Box<dyn Future<Output = ()> + Send + '_>>;
}

/// The real clock and tokio's timer.
#[derive(Debug, Clone, Copy, Default)]
pub struct TokioTimer;

impl Timer for TokioTimer {
    fn now(&self) -> Instant {
        Instant::now()
    }
    fn sleep_until(&self, deadline: Instant) -> Pin<Box<dyn Future<Output = ()> + Send + '_>> {
        Box::pin(tokio::time::sleep_until(deadline.into()))
    }
}

/// A shared [`Timer`]; the default is [`TokioTimer`].
#[derive(Clone)]
pub struct SharedTimer(pub Arc<dyn Timer>);

impl SharedTimer {
    pub fn new(timer: impl Timer + 'static) -> Self {
        SharedTimer(Arc::new(timer))
    }
    pub fn now(&self) -> Instant {
        self.0.now()
    }
    pub async fn sleep_until(&self, deadline: Instant) {
        self.0.sleep_until(deadline).await
    }
    pub async fn sleep(&self, d: Duration) {
        let deadline = self.0.now().checked_add(d);
        match deadline {
            Some(t) => self.0.sleep_until(t).await,
            None => std::future::pending().await,
        }
    }
}

impl Default for SharedTimer {
    fn default() -> Self {
        SharedTimer::new(TokioTimer)
    }
}

impl fmt::Debug for SharedTimer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// Says what a request waits for before its next attempt: an info log line (shown at
/// `-v`) "retrying GET /users in 2.0 s (HTTP 429 TooManyRequests, attempt 2 of 6)", and
/// the same on the progress line while it waits. `attempt` is the next attempt's
/// number, `of` the most there will be.
pub fn announce(app: &str, what: &str, delay: Duration, cause: &str, attempt: u32, of: u32) {
    let text = retry_text(what, delay, cause, attempt, of);
    tracing::info!(app = %app, "{text}");
    crate::progress::waiting(&text);
}

/// The words of [`announce`].
pub fn retry_text(what: &str, delay: Duration, cause: &str, attempt: u32, of: u32) -> String {
    format!(
        "retrying {what} in {:.1} s ({cause}, attempt {attempt} of {of})",
        delay.as_secs_f64()
    )
}

/// The wait [`announce`]d is over.
pub fn waited() {
    crate::progress::waiting_over();
}

/// How often and how long a request may be retried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts in all (the first one included).
    pub max_attempts: u32,
    /// The first backoff ceiling; doubled per attempt.
    pub base: Duration,
    /// The largest backoff ceiling.
    pub cap: Duration,
    /// No retry is scheduled that would end later than this after the first attempt.
    pub max_total: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 5,
            base: Duration::from_millis(200),
            cap: Duration::from_secs(10),
            max_total: Duration::from_secs(300),
        }
    }
}

/// What kind of failure a failed attempt was.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// Worth another attempt, after `retry_after` when the service said so.
    Transient { retry_after: Option<Duration> },
    /// Another attempt cannot succeed (bad certificate, unknown host, bad request…).
    Permanent,
}

impl Failure {
    pub fn is_transient(&self) -> bool {
        matches!(self, Failure::Transient { .. })
    }
}

impl RetryPolicy {
    /// The delay before attempt `attempt + 1`, after `attempt` failed attempts
    /// (`attempt >= 1`) that took `elapsed` so far; `None` when no retry is due: the
    /// failure is permanent, the attempts are spent, or the wait would overrun
    /// `max_total`.
    pub fn next_delay(
        &self,
        attempt: u32,
        failure: Failure,
        elapsed: Duration,
        rng: &mut impl Rng,
    ) -> Option<Duration> {
        let Failure::Transient { retry_after } = failure else {
            return None;
        };
        if attempt >= self.max_attempts {
            return None;
        }
        let delay = retry_after.unwrap_or_else(|| self.backoff(attempt, rng));
        (elapsed.saturating_add(delay) <= self.max_total).then_some(delay)
    }

    /// Exponential backoff with full jitter: a uniform delay in
    /// `[0, min(cap, base · 2^(attempt-1))]`.
    pub fn backoff(&self, attempt: u32, rng: &mut impl Rng) -> Duration {
        let exp = self
            .base
            .saturating_mul(2u32.saturating_pow(attempt.saturating_sub(1).min(30)));
        let ceiling = exp.min(self.cap);
        let nanos = u64::try_from(ceiling.as_nanos()).unwrap_or(u64::MAX);
        Duration::from_nanos(rng.random_range(0..=nanos))
    }
}

/// The longest Retry-After taken from a service (a day); longer values are capped.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(86_400);

/// Retry and concurrency settings of an HTTP connector's client (Graph, SCIM): how
/// often each kind of failure is retried, the backoff ceilings, the cap on a
/// Retry-After, an optional bound on one request's waits in all, requests in flight,
/// and the timer every wait goes through.
#[derive(Debug, Clone)]
pub struct ClientPolicy {
    /// Attempts for 5xx and transport failures (per request).
    pub max_attempts: u32,
    /// Attempts for throttled responses (per request); throttling is expected under load.
    pub max_throttled: u32,
    /// Attempts for 404s on objects created in this run (replication lag); Graph only.
    pub max_lag_attempts: u32,
    pub base_delay: Duration,
    pub max_delay: Duration,
    /// Requests (Graph: `$batch` requests) in flight at once.
    pub concurrency: usize,
    /// The longest Retry-After honoured; longer values are capped.
    pub max_retry_after: Duration,
    /// The longest one request waits for its retries in all (Retry-After and backoff);
    /// `None`: only the attempts are bounded. Set by `ROSTER_RETRY_MAX_SECONDS`.
    pub max_wait: Option<Duration>,
    /// The clock and timer of every wait (the real ones by default).
    pub timer: SharedTimer,
}

impl ClientPolicy {
    /// Graph's: throttling is routine under load (100 throttled attempts), replication
    /// lag is retried.
    pub fn graph() -> Self {
        ClientPolicy {
            max_attempts: 6,
            max_throttled: 100,
            max_lag_attempts: 8,
            base_delay: Duration::from_millis(200),
            max_delay: Duration::from_secs(10),
            concurrency: 4,
            max_retry_after: Duration::from_secs(300),
            max_wait: None,
            timer: SharedTimer::default(),
        }
    }

    /// A SCIM service provider's: fewer retries (providers throttle less and fail
    /// harder), no replication lag.
    pub fn scim() -> Self {
        ClientPolicy {
            max_attempts: 5,
            max_throttled: 20,
            max_lag_attempts: 0,
            ..ClientPolicy::graph()
        }
    }

    /// With the bound on waits from `ROSTER_RETRY_MAX_SECONDS` when set.
    pub fn with_env(self) -> Self {
        ClientPolicy {
            max_wait: max_wait_from_env(),
            ..self
        }
    }

    /// Whether a request that waited `waited` for its retries so far may wait `d` more.
    pub fn may_wait(&self, waited: Duration, d: Duration) -> bool {
        self.max_wait
            .is_none_or(|max| waited.saturating_add(d) <= max)
    }

    /// Full-jitter backoff after `attempt` failed attempts, under the exponential
    /// ceiling of [`RetryPolicy::backoff`].
    pub fn backoff(&self, attempt: u32) -> Duration {
        RetryPolicy {
            max_attempts: self.max_attempts,
            base: self.base_delay,
            cap: self.max_delay,
            max_total: Duration::MAX,
        }
        .backoff(attempt.saturating_add(1), &mut rand::rng())
    }

    /// A Retry-After of `secs` seconds as a delay, capped at `max_retry_after`.
    pub fn retry_after(&self, secs: f64) -> Duration {
        let max = self.max_retry_after.as_secs_f64();
        let s = if secs.is_finite() {
            secs.clamp(0.0, max)
        } else {
            max
        };
        Duration::from_secs_f64(s)
    }
}

/// Parses a `Retry-After` value: delay-seconds (fractions tolerated, as Graph sends
/// them) or an HTTP date (IMF-fixdate, RFC 850 or asctime, RFC 9110 §5.6.7), as the
/// delay from `now` (zero for a date in the past). Capped at [`MAX_RETRY_AFTER`].
pub fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let v = value.trim();
    if v.is_empty() {
        return None;
    }
    if v.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
        let s: f64 = v.parse().ok()?;
        return (s.is_finite() && s >= 0.0)
            .then(|| Duration::from_secs_f64(s.min(MAX_RETRY_AFTER.as_secs_f64())));
    }
    let when = parse_http_date(v)?;
    let delay = when.duration_since(now).unwrap_or(Duration::ZERO);
    Some(delay.min(MAX_RETRY_AFTER))
}

/// An HTTP date in any of the three forms RFC 9110 asks recipients to accept.
pub fn parse_http_date(v: &str) -> Option<SystemTime> {
    use time::macros::format_description;
    let imf = format_description!(
        "[weekday repr:short], [day] [month repr:short] [year] [hour]:[minute]:[second] GMT"
    );
    let asctime = format_description!(
        "[weekday repr:short] [month repr:short] [day padding:space] [hour]:[minute]:[second] [year]"
    );
    let rfc850 = format_description!(
        "[weekday], [day]-[month repr:short]-[year] [hour]:[minute]:[second] GMT"
    );
    let parsed = time::PrimitiveDateTime::parse(v, &imf)
        .or_else(|_| time::PrimitiveDateTime::parse(v, &asctime))
        .ok()
        .or_else(|| {
            // RFC 850 has a two-digit year: 70–99 are 19xx, the rest 20xx.
            let (head, rest) = v.split_once(", ")?;
            let mut parts = rest.splitn(3, '-');
            let (day, month, tail) = (parts.next()?, parts.next()?, parts.next()?);
            let (yy, time_part) = tail.split_once(' ')?;
            if yy.len() != 2 || !yy.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            let century = if yy.as_bytes()[0] >= b'7' { "19" } else { "20" };
            let full = format!("{head}, {day}-{month}-{century}{yy} {time_part}");
            time::PrimitiveDateTime::parse(&full, &rfc850).ok()
        })?;
    let secs = parsed.assume_utc().unix_timestamp();
    let secs = u64::try_from(secs).ok()?;
    SystemTime::UNIX_EPOCH.checked_add(Duration::from_secs(secs))
}

/// The classification of an HTTP status: 408, 429, 500, 502, 503 and 504 are
/// transient (with the response's Retry-After), everything else permanent.
pub fn classify_status(status: u16, retry_after: Option<Duration>) -> Failure {
    match status {
        408 | 429 | 500 | 502 | 503 | 504 => Failure::Transient { retry_after },
        _ => Failure::Permanent,
    }
}

/// The classification of a transport error by its cause chain: certificate and TLS
/// failures, DNS resolution failures and invalid URLs are permanent; refused or reset
/// connections, timeouts and anything else are transient.
pub fn classify_transport(err: &(dyn StdError + 'static)) -> Failure {
    if let Some(r) = err.downcast_ref::<reqwest::Error>()
        && (r.is_builder() || r.is_redirect())
    {
        return Failure::Permanent;
    }
    if chain(err).any(is_permanent_cause) {
        Failure::Permanent
    } else {
        Failure::Transient { retry_after: None }
    }
}

/// Whether a cause chain holds a TLS failure (certificate or handshake).
pub fn is_tls_failure(err: &(dyn StdError + 'static)) -> bool {
    chain(err).any(|e| rustls_error(e).is_some())
}

/// Whether a cause chain holds a DNS resolution failure.
pub fn is_dns_failure(err: &(dyn StdError + 'static)) -> bool {
    chain(err).any(|e| looks_like_dns(&e.to_string()))
}

fn is_permanent_cause(e: &(dyn StdError + 'static)) -> bool {
    if let Some(tls) = rustls_error(e) {
        // An alert or a bad certificate will not go away on its own; only I/O-level
        // hiccups inside rustls are worth retrying, and those show as io errors.
        return !matches!(tls, rustls::Error::FailedToGetCurrentTime);
    }
    if let Some(io) = e.downcast_ref::<std::io::Error>()
        && io.kind() == std::io::ErrorKind::InvalidInput
    {
        return true;
    }
    looks_like_dns(&e.to_string())
}

/// A rustls error in this link, also where an `io::Error` wraps one (whose `source()`
/// skips the wrapped error itself).
fn rustls_error<'a>(e: &'a (dyn StdError + 'static)) -> Option<&'a rustls::Error> {
    e.downcast_ref::<rustls::Error>().or_else(|| {
        e.downcast_ref::<std::io::Error>()?
            .get_ref()?
            .downcast_ref::<rustls::Error>()
    })
}

/// hyper-util's resolver reports "dns error: …"; the system resolver's own words
/// follow.
fn looks_like_dns(text: &str) -> bool {
    text.starts_with("dns error")
        || text.contains("failed to lookup address information")
        || text.contains("Name or service not known")
        || text.contains("No address associated with hostname")
}

/// An error and its causes, where an `io::Error`'s wrapped error counts as a link.
pub fn chain<'a>(
    err: &'a (dyn StdError + 'static),
) -> impl Iterator<Item = &'a (dyn StdError + 'static)> {
    let mut next = Some(err);
    std::iter::from_fn(move || {
        let cur = next?;
        next = match cur
            .downcast_ref::<std::io::Error>()
            .and_then(|io| io.get_ref())
        {
            Some(inner) => Some(inner as &(dyn StdError + 'static)),
            None => cur.source(),
        };
        Some(cur)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    #[test]
    fn a_retry_says_what_it_waits_for() {
        assert_eq!(
            retry_text(
                "GET /users",
                Duration::from_millis(2000),
                "HTTP 429 TooManyRequests",
                2,
                6
            ),
            "retrying GET /users in 2.0 s (HTTP 429 TooManyRequests, attempt 2 of 6)"
        );
    }

    fn rng() -> ChaCha8Rng {
        ChaCha8Rng::seed_from_u64(7)
    }

    fn at(secs: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(secs)
    }

    #[derive(Debug)]
    struct Wrap(&'static str, Box<dyn StdError + Send + Sync>);
    impl std::fmt::Display for Wrap {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str(self.0)
        }
    }
    impl StdError for Wrap {
        fn source(&self) -> Option<&(dyn StdError + 'static)> {
            Some(&*self.1)
        }
    }

    #[test]
    fn retry_after_as_seconds_and_fractions() {
        assert_eq!(parse_retry_after("3", at(0)), Some(Duration::from_secs(3)));
        assert_eq!(
            parse_retry_after(" 2.5 ", at(0)),
            Some(Duration::from_millis(2500))
        );
        assert_eq!(parse_retry_after("0", at(0)), Some(Duration::ZERO));
        assert_eq!(parse_retry_after("99999999", at(0)), Some(MAX_RETRY_AFTER));
    }

    #[test]
    fn the_bound_on_waits_is_seconds() {
        assert_eq!(parse_max_wait("0.5"), Some(Duration::from_millis(500)));
        assert_eq!(parse_max_wait(" 30 "), Some(Duration::from_secs(30)));
        assert_eq!(parse_max_wait("1e9"), Some(MAX_RETRY_AFTER));
        for v in ["", "-1", "NaN", "inf", "soon"] {
            assert_eq!(parse_max_wait(v), None, "{v:?}");
        }
    }

    #[test]
    fn retry_after_refuses_garbage() {
        for v in ["", "-1", "NaN", "inf", "soon", "1e3", "1..2", "Sun, 06 Nov"] {
            assert_eq!(parse_retry_after(v, at(0)), None, "{v:?}");
        }
    }

    #[test]
    fn retry_after_as_http_dates_in_all_three_forms() {
        // 784111777 is Sun, 06 Nov 1994 08:49:37 GMT.
        let now = at(784_111_777 - 10);
        let ten = Some(Duration::from_secs(10));
        assert_eq!(parse_retry_after("Sun, 06 Nov 1994 08:49:37 GMT", now), ten);
        assert_eq!(
            parse_retry_after("Sunday, 06-Nov-94 08:49:37 GMT", now),
            ten
        );
        assert_eq!(parse_retry_after("Sun Nov  6 08:49:37 1994", now), ten);
        assert_eq!(
            parse_http_date("Tuesday, 01-Dec-26 00:00:00 GMT"),
            Some(at(1_796_083_200))
        );
    }

    #[test]
    fn a_date_in_the_past_means_now() {
        assert_eq!(
            parse_retry_after("Sun, 06 Nov 1994 08:49:37 GMT", at(2_000_000_000)),
            Some(Duration::ZERO)
        );
    }

    #[test]
    fn backoff_is_full_jitter_under_an_exponential_ceiling() {
        let p = RetryPolicy {
            max_attempts: 10,
            base: Duration::from_millis(100),
            cap: Duration::from_millis(700),
            max_total: Duration::from_secs(60),
        };
        let mut r = rng();
        for attempt in 1..=8u32 {
            let ceiling = Duration::from_millis(100 * 2u64.pow(attempt - 1)).min(p.cap);
            let delays: Vec<_> = (0..200).map(|_| p.backoff(attempt, &mut r)).collect();
            assert!(delays.iter().all(|d| *d <= ceiling), "attempt {attempt}");
            // Full jitter: some delays fall in the lower half of the range.
            assert!(delays.iter().any(|d| *d < ceiling / 2), "attempt {attempt}");
        }
        assert!(p.backoff(u32::MAX, &mut r) <= p.cap);
    }

    #[test]
    fn permanent_failures_are_never_retried() {
        let p = RetryPolicy::default();
        assert_eq!(
            p.next_delay(1, Failure::Permanent, Duration::ZERO, &mut rng()),
            None
        );
    }

    #[test]
    fn attempts_are_bounded() {
        let p = RetryPolicy {
            max_attempts: 3,
            ..RetryPolicy::default()
        };
        let t = Failure::Transient { retry_after: None };
        assert!(p.next_delay(1, t, Duration::ZERO, &mut rng()).is_some());
        assert!(p.next_delay(2, t, Duration::ZERO, &mut rng()).is_some());
        assert_eq!(p.next_delay(3, t, Duration::ZERO, &mut rng()), None);
    }

    #[test]
    fn retry_after_is_honoured_within_the_total_bound() {
        let p = RetryPolicy {
            max_attempts: 10,
            max_total: Duration::from_secs(30),
            ..RetryPolicy::default()
        };
        let after = |s| Failure::Transient {
            retry_after: Some(Duration::from_secs(s)),
        };
        assert_eq!(
            p.next_delay(1, after(20), Duration::from_secs(5), &mut rng()),
            Some(Duration::from_secs(20))
        );
        assert_eq!(
            p.next_delay(1, after(20), Duration::from_secs(11), &mut rng()),
            None
        );
    }

    #[test]
    fn statuses_are_classified() {
        let ra = Some(Duration::from_secs(1));
        for s in [408, 429, 500, 502, 503, 504] {
            assert_eq!(
                classify_status(s, ra),
                Failure::Transient { retry_after: ra }
            );
        }
        for s in [400, 401, 403, 404, 409, 412, 501] {
            assert_eq!(classify_status(s, ra), Failure::Permanent);
        }
    }

    #[test]
    fn certificate_failures_are_permanent() {
        let tls = rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer);
        let io = std::io::Error::other(tls);
        let err = Wrap("client error (Connect)", Box::new(io));
        assert_eq!(classify_transport(&err), Failure::Permanent);
        assert!(is_tls_failure(&err));
        assert!(!is_dns_failure(&err));
    }

    #[test]
    fn dns_failures_are_permanent() {
        let io = std::io::Error::other(
            "failed to lookup address information: Name or service not known",
        );
        let err = Wrap(
            "client error (Connect)",
            Box::new(Wrap("dns error", Box::new(io))),
        );
        assert_eq!(classify_transport(&err), Failure::Permanent);
        assert!(is_dns_failure(&err));
        assert!(!is_tls_failure(&err));
    }

    #[test]
    fn refused_connections_and_timeouts_are_transient() {
        for kind in [
            std::io::ErrorKind::ConnectionRefused,
            std::io::ErrorKind::ConnectionReset,
            std::io::ErrorKind::TimedOut,
        ] {
            let err = Wrap(
                "client error (Connect)",
                Box::new(std::io::Error::from(kind)),
            );
            assert_eq!(
                classify_transport(&err),
                Failure::Transient { retry_after: None },
                "{kind:?}"
            );
        }
    }

    #[test]
    fn invalid_urls_are_permanent() {
        let err = reqwest::Client::new().get("not a url").build().unwrap_err();
        assert_eq!(classify_transport(&err), Failure::Permanent);
    }
}
