//! The Graph HTTP layer: authenticated requests, paging, `$batch` execution with
//! bounded concurrency, and the retry rules (Retry-After on 429 — also inside batch
//! responses — with a shared throttle window that no request is sent into, backoff
//! with jitter on 5xx and transport failures, and retries of 404s caused by
//! replication lag on objects created moments ago).

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use anyhow::{Result, anyhow, bail};
use futures::StreamExt;
use futures::stream::FuturesUnordered;
use serde_json::{Value, json};

use super::auth::{TokenProvider, without_url};
use super::rows::{self, PageError, PageLinks, Rows};
use crate::apps::kit::retry;

/// Graph's limit of requests per `$batch`.
pub const BATCH_SIZE: usize = 20;

/// The Graph client's retry and concurrency settings ([`retry::ClientPolicy::graph`]).
pub type RetryPolicy = retry::ClientPolicy;

/// A response of Graph (top-level or inside a batch).
#[derive(Debug, Clone)]
pub struct GraphResponse {
    pub status: u16,
    pub body: Value,
    pub request_id: Option<String>,
}

impl GraphResponse {
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }
    /// The Graph error code (`error.code`), if any.
    pub fn error_code(&self) -> &str {
        self.body
            .pointer("/error/code")
            .and_then(Value::as_str)
            .unwrap_or("")
    }
    /// The Graph error message (`error.message`), if any.
    pub fn error_message(&self) -> &str {
        self.body
            .pointer("/error/message")
            .and_then(Value::as_str)
            .unwrap_or("")
    }
    /// A one-line description of a failed response.
    pub fn describe(&self) -> String {
        let code = self.error_code();
        let msg = self.error_message();
        match (code.is_empty(), msg.is_empty()) {
            (true, true) => format!("HTTP {}", self.status),
            (false, true) => format!("HTTP {} {code}", self.status),
            (true, false) => format!("HTTP {}: {msg}", self.status),
            (false, false) => format!("HTTP {} {code}: {msg}", self.status),
        }
    }
}

/// One Graph request to run inside a `$batch`.
#[derive(Debug, Clone)]
pub struct BatchOp {
    pub method: &'static str,
    /// Relative to the version root, starting with `/` (e.g. `/users/ID`).
    pub url: String,
    pub body: Option<Value>,
    /// Whether resending is harmless (false for creates of objects without a unique
    /// key: an ambiguous failure is then returned instead of retried).
    pub idempotent: bool,
    /// Whether a 404 (or a "does not exist" 400) may be replication lag.
    pub lag_retry: bool,
    /// A `Prefer` header (e.g. `create-if-missing` for an upsert).
    pub prefer: Option<&'static str>,
}

impl BatchOp {
    pub fn new(method: &'static str, url: impl Into<String>, body: Option<Value>) -> Self {
        BatchOp {
            method,
            url: url.into(),
            body,
            idempotent: true,
            lag_retry: false,
            prefer: None,
        }
    }
}

/// The final outcome of one batched request.
#[derive(Debug, Clone)]
pub enum OpOutcome {
    /// Graph answered (success or a final error).
    Done(GraphResponse),
    /// No final answer: retries exhausted, or a non-idempotent request whose fate is
    /// unknown (`ambiguous`: it may have been carried out).
    Failed {
        error: String,
        request_id: Option<String>,
        ambiguous: bool,
    },
}

/// How a whole-batch failure is retried.
#[derive(Clone, Copy)]
enum Retry {
    /// 429: after this delay, not counted against the attempts for failures.
    Throttled(Duration),
    /// 5xx or transport failure: with backoff (or the given Retry-After), for
    /// idempotent requests only.
    Transient(Option<Duration>),
}

/// A top-level HTTP exchange's outcome.
enum Exchange {
    /// Graph's answer, its Retry-After, and (when asked for and the answer is a
    /// success) the body unparsed, `body` then being null.
    Response(GraphResponse, Option<f64>, Option<Vec<u8>>),
    Transport(String),
}

/// Why a delta round ended without a new delta link.
#[derive(Debug)]
pub enum DeltaError {
    /// The token or the merged state cannot be continued: read in full instead.
    Restart(String),
    /// The service could not be read at all.
    Fatal(anyhow::Error),
}

impl DeltaError {
    /// As an error of a read that has no fallback.
    pub fn into_error(self) -> anyhow::Error {
        match self {
            DeltaError::Fatal(e) => e,
            DeltaError::Restart(why) => anyhow!("{why}"),
        }
    }
}

/// A request the service still throttled (HTTP 429) when its retries were spent.
#[derive(Debug)]
pub struct KeptThrottling {
    /// Times the request was sent again after a 429.
    pub retries: u32,
    /// The waits before those retries, in all.
    pub waited: Duration,
    /// The last answer, described (with its request id).
    pub answer: String,
}

impl std::fmt::Display for KeptThrottling {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let plural = if self.retries == 1 {
            "retry"
        } else {
            "retries"
        };
        write!(
            f,
            "the service kept throttling after {} {plural} over {:.1}s: {}",
            self.retries,
            self.waited.as_secs_f64(),
            self.answer
        )
    }
}

impl std::error::Error for KeptThrottling {}

/// The Graph client of one app.
pub struct Graph {
    pub(crate) http: reqwest::Client,
    /// The service root, e.g. `https://graph.microsoft.com` (no trailing slash).
    pub(crate) base: String,
    /// `{base}/v1.0`.
    pub(crate) root: String,
    pub(crate) auth: TokenProvider,
    pub(crate) app: String,
    pub(crate) policy: RetryPolicy,
    /// No request is sent before this instant (a known throttled window).
    throttled_until: Mutex<Option<Instant>>,
    pacer: Mutex<Pacer>,
}

/// Client-side pacing of `$batch` requests once the service throttles: batches are
/// sent `interval` apart, and the interval follows how many requests of each batch
/// the service accepted, so that throughput stays at the service's budget without
/// sending requests that are bound to be refused.
#[derive(Debug)]
struct Pacer {
    /// Time per request; zero: no pacing (the service has not throttled lately).
    per_request: Duration,
    next: Instant,
    /// Accepted requests per batch answer over the last [`PACE_WINDOW`].
    history: VecDeque<(Instant, usize)>,
}

/// How far back accepted requests count when measuring the service's rate.
const PACE_WINDOW: Duration = Duration::from_secs(5);

/// The rate is measured once the window spans this long or holds this many accepted
/// requests; before that, Retry-After is the guide.
const MIN_MEASURE: Duration = Duration::from_millis(250);
const MIN_MEASURED_REQUESTS: usize = 5;

/// The slowest pace: one request per this long.
const MAX_PACE: Duration = Duration::from_secs(5);

/// Parses a Retry-After value (seconds, fractions or an HTTP date) as seconds.
pub fn parse_retry_after(v: &str) -> Option<f64> {
    retry::parse_retry_after(v, std::time::SystemTime::now()).map(|d| d.as_secs_f64())
}

fn header_ci<'a>(headers: &'a Value, name: &str) -> Option<&'a Value> {
    headers
        .as_object()?
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v)
}

fn value_as_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// The request id of a response: the `request-id` header, else the error's innerError.
fn request_id_of(headers: Option<&Value>, body: &Value) -> Option<String> {
    headers
        .and_then(|h| header_ci(h, "request-id"))
        .and_then(value_as_text)
        .or_else(|| {
            body.pointer("/error/innerError/request-id")
                .or_else(|| body.pointer("/error/innererror/request-id"))
                .and_then(value_as_text)
        })
}

/// Whether a failed response of a lag-sensitive request looks like replication lag.
fn looks_like_lag(r: &GraphResponse) -> bool {
    r.status == 404
        || (r.status == 400
            && (r.error_message().contains("does not exist")
                || r.error_code() == "Request_ResourceNotFound"))
}

impl Graph {
    pub(crate) fn new(
        http: reqwest::Client,
        base: &str,
        auth: TokenProvider,
        app: &str,
        policy: RetryPolicy,
    ) -> Self {
        let base = base.trim_end_matches('/').to_string();
        let now = policy.timer.now();
        Graph {
            http,
            root: format!("{base}/v1.0"),
            base,
            auth,
            app: app.to_string(),
            policy,
            throttled_until: Mutex::new(None),
            pacer: Mutex::new(Pacer {
                per_request: Duration::ZERO,
                next: now,
                history: VecDeque::new(),
            }),
        }
    }

    /// Now, on the policy's timer (the clock of throttle windows, pacing and retries).
    fn now(&self) -> Instant {
        self.policy.timer.now()
    }

    /// Waits `d` on the policy's timer.
    pub(crate) async fn sleep(&self, d: Duration) {
        self.policy.timer.sleep(d).await
    }

    /// The absolute URL of a path relative to the version root.
    pub fn url(&self, rel: &str) -> String {
        format!("{}{rel}", self.root)
    }

    /// The `@odata.id` of a directory object, for `members@odata.bind` and `$ref`.
    pub fn directory_object_ref(&self, id: &str) -> String {
        format!("{}/directoryObjects/{id}", self.root)
    }

    /// The path relative to the version root of an absolute link Graph returned, or
    /// an error when the link leaves the service (the token is never sent elsewhere).
    pub fn relative(&self, link: &str) -> Result<String> {
        match link.strip_prefix(&self.root) {
            Some(rest) if rest.starts_with('/') => Ok(rest.to_string()),
            _ => bail!("Graph returned a link outside {}: {}", self.root, link),
        }
    }

    fn backoff(&self, attempt: u32) -> Duration {
        self.policy.backoff(attempt)
    }

    fn retry_delay(&self, secs: f64) -> Duration {
        self.policy.retry_after(secs)
    }

    fn note_throttle(&self, secs: f64) -> Duration {
        let d = self.retry_delay(secs);
        let until = self.now() + d;
        if let Ok(mut t) = self.throttled_until.lock()
            && t.is_none_or(|cur| cur < until)
        {
            *t = Some(until);
        }
        d
    }

    /// The instant the next batch of `n` requests may be sent.
    fn reserve_slot(&self, n: usize) -> Instant {
        let now = self.now();
        let Ok(mut p) = self.pacer.lock() else {
            return now;
        };
        if p.per_request.is_zero() {
            return now;
        }
        let slot = p.next.max(now);
        p.next = slot + p.per_request * u32::try_from(n).unwrap_or(u32::MAX);
        slot
    }

    /// Adapts the pace to a batch's answer: `throttled` of `n` requests were refused.
    /// While the service refuses requests its budget is exhausted, so the requests it
    /// accepted over the last few seconds measure its rate (until enough were accepted,
    /// one request per Retry-After); without refusals the pace speeds up again by 5% a
    /// batch.
    fn adapt_pace(&self, n: usize, throttled: usize, retry_after: Option<f64>) {
        let Ok(mut p) = self.pacer.lock() else {
            return;
        };
        let now = self.now();
        p.history.push_back((now, n.saturating_sub(throttled)));
        while p
            .history
            .front()
            .is_some_and(|(t, _)| now.duration_since(*t) > PACE_WINDOW)
        {
            p.history.pop_front();
        }
        if throttled == 0 {
            if !p.per_request.is_zero() {
                p.per_request = p.per_request.mul_f64(0.95);
                if p.per_request < Duration::from_micros(100) {
                    p.per_request = Duration::ZERO;
                }
            }
            return;
        }
        if p.per_request.is_zero() {
            // Throttling starts now: what was accepted before spent the service's
            // burst capacity and says nothing about its rate.
            p.history.clear();
            p.history.push_back((now, n.saturating_sub(throttled)));
        }
        // Requests accepted after the window's first answer, over the time since it.
        let accepted: usize = p.history.iter().skip(1).map(|(_, a)| *a).sum();
        let span = p
            .history
            .front()
            .map(|(t, _)| now.duration_since(*t))
            .unwrap_or_default();
        // Until the rate can be measured, the service's hint guides: a fractional
        // Retry-After is the time until one more request fits; whole seconds are a
        // window for the batch as a whole. Bounded, as a long window says little about
        // the rate.
        let after = retry_after.unwrap_or(0.01).clamp(0.0001, 60.0);
        let per = if after >= 1.0 {
            after / n.max(1) as f64
        } else {
            after
        };
        let hint = Duration::from_secs_f64(per.min(1.0));
        p.per_request = if span < MIN_MEASURE && accepted < MIN_MEASURED_REQUESTS {
            p.per_request.max(hint)
        } else if accepted == 0 {
            (p.per_request * 2).max(hint)
        } else {
            // A little slower than measured, so that few requests are refused.
            (span / u32::try_from(accepted).unwrap_or(u32::MAX)).mul_f64(1.08)
        }
        .min(MAX_PACE);
        tracing::debug!(app = %self.app, per_request_us = p.per_request.as_micros() as u64, throttled, "pace adapted");
    }

    async fn wait_gate(&self) {
        loop {
            let until = self.throttled_until.lock().ok().and_then(|t| *t);
            match until {
                Some(u) if u > self.now() => self.policy.timer.sleep_until(u).await,
                _ => return,
            }
        }
    }

    /// One HTTP exchange (after the throttle window), with one re-authentication on 401.
    async fn exchange(
        &self,
        method: reqwest::Method,
        url: &str,
        body: Option<&Value>,
        raw: bool,
    ) -> Result<Exchange> {
        let mut reauthed = false;
        loop {
            self.wait_gate().await;
            let token = self.auth.token().await?;
            let mut req = self
                .http
                .request(method.clone(), url)
                .bearer_auth(token.expose())
                .header("Accept", "application/json");
            if let Some(b) = body {
                req = req.json(b);
            }
            let resp = match req.send().await {
                Ok(r) => r,
                // A certificate or DNS failure will not pass by waiting: report it now.
                Err(e) if !retry::classify_transport(&e).is_transient() => {
                    bail!("{method} {} failed: {}", strip_query(url), without_url(&e))
                }
                Err(e) => return Ok(Exchange::Transport(without_url(&e))),
            };
            let status = resp.status().as_u16();
            let request_id = resp
                .headers()
                .get("request-id")
                .and_then(|v| v.to_str().ok())
                .map(str::to_string);
            let retry_after = resp
                .headers()
                .get("retry-after")
                .and_then(|v| v.to_str().ok())
                .and_then(parse_retry_after);
            let bytes = match resp.bytes().await {
                Ok(b) => b,
                Err(e) => return Ok(Exchange::Transport(without_url(&e))),
            };
            if raw && (200..300).contains(&status) {
                return Ok(Exchange::Response(
                    GraphResponse {
                        status,
                        body: Value::Null,
                        request_id,
                    },
                    retry_after,
                    Some(bytes.into()),
                ));
            }
            let body: Value = if bytes.is_empty() {
                Value::Null
            } else {
                serde_json::from_slice(&bytes).unwrap_or(Value::Null)
            };
            if status == 401 && !reauthed {
                reauthed = true;
                self.auth.invalidate().await;
                continue;
            }
            let request_id = request_id.or_else(|| request_id_of(None, &body));
            return Ok(Exchange::Response(
                GraphResponse {
                    status,
                    body,
                    request_id,
                },
                retry_after,
                None,
            ));
        }
    }

    /// A single request with the retry rules; returns Graph's final answer (which may
    /// be an error status), or an error when no answer came after all attempts, or
    /// when the service still throttled it once its retries were spent
    /// ([`KeptThrottling`]).
    pub async fn request(
        &self,
        method: reqwest::Method,
        url: &str,
        body: Option<&Value>,
    ) -> Result<GraphResponse> {
        Ok(self.request_as(method, url, body, false).await?.0)
    }

    /// [`Graph::request`]; with `raw`, a successful answer's body comes unparsed
    /// (for pages parsed straight into typed rows) and `body` is null.
    async fn request_as(
        &self,
        method: reqwest::Method,
        url: &str,
        body: Option<&Value>,
        raw: bool,
    ) -> Result<(GraphResponse, Option<Vec<u8>>)> {
        let mut attempts = 0u32;
        let mut throttled = 0u32;
        let mut waited = Duration::ZERO;
        loop {
            match self.exchange(method.clone(), url, body, raw).await? {
                Exchange::Response(r, retry_after, _) if r.status == 429 => {
                    throttled += 1;
                    let secs = retry_after.unwrap_or_else(|| self.backoff(throttled).as_secs_f64());
                    let d = self.retry_delay(secs);
                    if throttled >= self.policy.max_throttled || !self.policy.may_wait(waited, d) {
                        let kept = KeptThrottling {
                            retries: throttled - 1,
                            waited,
                            answer: format!("{}{}", r.describe(), rid(&r.request_id)),
                        };
                        return Err(anyhow::Error::new(kept)
                            .context(format!("{method} {} failed", strip_query(url))));
                    }
                    let d = self.note_throttle(secs);
                    retry::announce(
                        &self.app,
                        &format!("{method} {}", self.shown(url)),
                        d,
                        &r.describe(),
                        throttled + 1,
                        self.policy.max_throttled,
                    );
                    waited += d;
                }
                Exchange::Response(r, retry_after, _) if r.status >= 500 => {
                    attempts += 1;
                    let d = retry_after
                        .map(|s| self.retry_delay(s))
                        .unwrap_or_else(|| self.backoff(attempts));
                    if attempts >= self.policy.max_attempts || !self.policy.may_wait(waited, d) {
                        return Ok((r, None));
                    }
                    waited += d;
                    retry::announce(
                        &self.app,
                        &format!("{method} {}", self.shown(url)),
                        d,
                        &r.describe(),
                        attempts + 1,
                        self.policy.max_attempts,
                    );
                    self.sleep(d).await;
                    retry::waited();
                }
                Exchange::Response(r, _, raw) => {
                    if attempts + throttled > 0 {
                        retry::waited();
                    }
                    return Ok((r, raw));
                }
                Exchange::Transport(e) => {
                    attempts += 1;
                    let d = self.backoff(attempts);
                    if attempts >= self.policy.max_attempts || !self.policy.may_wait(waited, d) {
                        bail!("{method} {} failed: {e}", strip_query(url));
                    }
                    waited += d;
                    retry::announce(
                        &self.app,
                        &format!("{method} {}", self.shown(url)),
                        d,
                        &e.to_string(),
                        attempts + 1,
                        self.policy.max_attempts,
                    );
                    self.sleep(d).await;
                    retry::waited();
                }
            }
        }
    }

    /// A request's URL as logs show it: relative to the version root, without query.
    fn shown(&self, url: &str) -> String {
        let path = strip_query(url);
        path.strip_prefix(self.root.as_str())
            .unwrap_or(path)
            .to_string()
    }

    /// GET a JSON document; non-2xx answers are errors naming the request.
    pub async fn get_json(&self, url: &str) -> Result<Value> {
        let r = self.request(reqwest::Method::GET, url, None).await?;
        if !r.is_success() {
            bail!(
                "GET {} failed: {}{}",
                strip_query(url),
                r.describe(),
                rid(&r.request_id)
            );
        }
        Ok(r.body)
    }

    /// GET every page of a collection, following `@odata.nextLink` exactly as given,
    /// and hand each item to `each`.
    pub async fn get_all(
        &self,
        first_url: &str,
        mut each: impl FnMut(Value) -> Result<()>,
    ) -> Result<()> {
        let mut url = first_url.to_string();
        let mut pages = 0usize;
        loop {
            let mut body = self.get_json(&url).await?;
            pages += 1;
            if let Some(Value::Array(items)) = body.get_mut("value").map(Value::take) {
                for item in items {
                    each(item)?;
                }
            } else {
                bail!("GET {} answered without a `value` list", strip_query(&url));
            }
            match body.get("@odata.nextLink").and_then(Value::as_str) {
                Some(next) => {
                    // Only links into the same service; never send the token elsewhere.
                    self.relative(next)?;
                    if pages > 1_000_000 {
                        bail!("paging of {} does not end", strip_query(first_url));
                    }
                    url = next.to_string();
                }
                None => return Ok(()),
            }
        }
    }

    /// GET a page and parse it into `rows`, handing each item to `each` as it is
    /// parsed; non-2xx answers are errors naming the request, as in
    /// [`Graph::get_json`].
    async fn get_page<R: Rows>(
        &self,
        url: &str,
        rows: R,
        each: &mut dyn FnMut(R::Row) -> Result<()>,
    ) -> Result<std::result::Result<PageLinks, PageError>> {
        let (r, raw) = self
            .request_as(reqwest::Method::GET, url, None, true)
            .await?;
        if !r.is_success() {
            bail!(
                "GET {} failed: {}{}",
                strip_query(url),
                r.describe(),
                rid(&r.request_id)
            );
        }
        Ok(rows::parse_page(
            raw.as_deref().unwrap_or_default(),
            rows,
            each,
        ))
    }

    /// [`Graph::get_all`] with the items parsed straight into `rows` (no `Value` per
    /// item); a page that is not a JSON object with a `value` list is an error, as there.
    pub async fn get_all_rows<R: Rows>(
        &self,
        first_url: &str,
        rows: R,
        mut each: impl FnMut(R::Row) -> Result<()>,
    ) -> Result<()> {
        let mut url = first_url.to_string();
        let mut pages = 0usize;
        loop {
            let links = match self.get_page(&url, rows, &mut each).await? {
                Ok(links) if links.listed => links,
                Ok(_) | Err(PageError::Malformed(_)) => {
                    bail!("GET {} answered without a `value` list", strip_query(&url))
                }
                Err(PageError::Item(e)) => return Err(e),
            };
            pages += 1;
            match links.next {
                Some(next) => {
                    // Only links into the same service; never send the token elsewhere.
                    self.relative(&next)?;
                    if pages > 1_000_000 {
                        bail!("paging of {} does not end", strip_query(first_url));
                    }
                    url = next;
                }
                None => return Ok(()),
            }
        }
    }

    /// Follows a delta link (relative to the version root) to the end of its round,
    /// handing each item, parsed into `rows`, to `each`; returns the round's new delta
    /// link, relative.
    /// An answer about the token (an expired, unknown or malformed token: Graph answers
    /// 410 `syncStateNotFound` / `resyncRequired`, sometimes 400 or 404) and an item
    /// `each` rejects are [`DeltaError::Restart`]: the caller starts over without the
    /// token. Anything else (429 after its retries, 401/403, 5xx) is fatal.
    pub async fn delta_round<R: Rows>(
        &self,
        first: &str,
        rows: R,
        mut each: impl FnMut(R::Row) -> Result<()>,
    ) -> std::result::Result<String, DeltaError> {
        let mut url = self.url(first);
        let mut pages = 0usize;
        loop {
            pages += 1;
            if pages > 1_000_000 {
                return Err(DeltaError::Fatal(anyhow!(
                    "delta paging of {} does not end",
                    strip_query(first)
                )));
            }
            let (r, raw) = self
                .request_as(reqwest::Method::GET, &url, None, true)
                .await
                .map_err(DeltaError::Fatal)?;
            if !r.is_success() {
                let why = format!(
                    "GET {} answered {}{}",
                    strip_query(&url),
                    r.describe(),
                    rid(&r.request_id)
                );
                // Only answers about the token restart; throttling that outlasted its
                // retries, auth and server errors would fail a full read as well.
                return Err(if matches!(r.status, 400 | 404 | 410) {
                    DeltaError::Restart(why)
                } else {
                    DeltaError::Fatal(anyhow!("{why}"))
                });
            }
            let links = match rows::parse_page(raw.as_deref().unwrap_or_default(), rows, &mut each)
            {
                Ok(links) if links.listed => links,
                Ok(_) | Err(PageError::Malformed(_)) => {
                    return Err(DeltaError::Restart(format!(
                        "GET {} answered without a `value` list",
                        strip_query(&url)
                    )));
                }
                Err(PageError::Item(e)) => return Err(DeltaError::Restart(format!("{e:#}"))),
            };
            if let Some(next) = links.next {
                let rel = self.relative(&next).map_err(DeltaError::Fatal)?;
                url = self.url(&rel);
                continue;
            }
            return match links.delta {
                Some(link) => self.relative(&link).map_err(DeltaError::Fatal),
                None => Err(DeltaError::Restart(format!(
                    "GET {} ended without a deltaLink",
                    strip_query(&url)
                ))),
            };
        }
    }

    /// Runs `ops` through `$batch` requests of up to 20, with at most
    /// `policy.concurrency` batches in flight, retrying per the rules. `on_done` gets
    /// each op's index and final outcome as soon as it is known.
    pub async fn run_batched(&self, ops: &[BatchOp], on_done: impl FnMut(usize, OpOutcome)) {
        self.run_batched_marked(ops, on_done, || {}).await;
    }

    /// [`Graph::run_batched`], calling `on_batch` once the outcomes of each batch
    /// response have been handed to `on_done` (the report log syncs then).
    pub async fn run_batched_marked(
        &self,
        ops: &[BatchOp],
        mut on_done: impl FnMut(usize, OpOutcome),
        mut on_batch: impl FnMut(),
    ) {
        struct Pending {
            idx: usize,
            attempts: u32,
            throttled: u32,
            lag: u32,
            /// The waits before its retries so far, in all.
            waited: Duration,
            not_before: Instant,
        }
        let mut queue: VecDeque<Pending> = (0..ops.len())
            .map(|idx| Pending {
                idx,
                attempts: 0,
                throttled: 0,
                lag: 0,
                waited: Duration::ZERO,
                not_before: self.now(),
            })
            .collect();
        let mut in_flight = FuturesUnordered::new();
        // Whether a batch response was settled since the last `on_batch`.
        let mut settled = false;
        loop {
            if std::mem::take(&mut settled) {
                on_batch();
            }
            let stopping = crate::apps::kit::interrupt::requested();
            if stopping && in_flight.is_empty() {
                // Interrupted: what was sent has its outcome; the rest is not sent.
                return;
            }
            // Fill the pipeline with ready requests (none once interrupted).
            let now = self.now();
            while !stopping && in_flight.len() < self.policy.concurrency.max(1) {
                // Take up to 20 ready requests from the front; set aside the ones
                // still waiting (retries), and put them back afterwards.
                let mut chunk = Vec::new();
                let mut waiting = Vec::new();
                while chunk.len() < BATCH_SIZE {
                    let Some(p) = queue.pop_front() else { break };
                    if p.not_before <= now {
                        chunk.push(p);
                    } else {
                        waiting.push(p);
                    }
                }
                for p in waiting.into_iter().rev() {
                    queue.push_front(p);
                }
                if chunk.is_empty() {
                    break;
                }
                let body = json!({
                    "requests": chunk.iter().map(|p| {
                        let op = &ops[p.idx];
                        let mut r = json!({"id": p.idx.to_string(), "method": op.method, "url": op.url});
                        if let Some(b) = &op.body {
                            r["body"] = b.clone();
                            r["headers"] = json!({"Content-Type": "application/json"});
                        }
                        if let Some(p) = op.prefer {
                            r["headers"]["Prefer"] = json!(p);
                        }
                        r
                    }).collect::<Vec<_>>()
                });
                let slot = self.reserve_slot(chunk.len());
                in_flight.push(async move {
                    // The waits before sending (pace, throttle window) end on an
                    // interrupt; a request once sent runs to its answer.
                    tokio::select! {
                        biased;
                        _ = crate::apps::kit::interrupt::wait() => return (chunk, None),
                        _ = async {
                            self.policy.timer.sleep_until(slot).await;
                            self.wait_gate().await;
                        } => {}
                    }
                    if crate::apps::kit::interrupt::requested() {
                        return (chunk, None);
                    }
                    let url = format!("{}/$batch", self.root);
                    let ex = self
                        .exchange(reqwest::Method::POST, &url, Some(&body), false)
                        .await;
                    (chunk, Some(ex))
                });
            }
            if in_flight.is_empty() && queue.is_empty() {
                return;
            }
            let earliest = queue.iter().map(|p| p.not_before).min();
            let completed = if in_flight.is_empty() {
                if let Some(t) = earliest {
                    tokio::select! {
                        _ = self.policy.timer.sleep_until(t) => {}
                        _ = crate::apps::kit::interrupt::wait() => {}
                    }
                }
                None
            } else {
                match earliest {
                    Some(t) if !stopping && in_flight.len() < self.policy.concurrency.max(1) => {
                        tokio::select! {
                            c = in_flight.next() => c,
                            _ = self.policy.timer.sleep_until(t) => None,
                            _ = crate::apps::kit::interrupt::wait() => None,
                        }
                    }
                    _ => in_flight.next().await,
                }
            };
            let Some((chunk, ex)) = completed else {
                continue;
            };
            // Not sent (interrupted while waiting to send): no outcome.
            let Some(ex) = ex else {
                continue;
            };
            settled = true;
            // A whole-batch failure: requeue (or give up on) every request of it.
            let fail_all = |queue: &mut VecDeque<Pending>,
                            chunk: Vec<Pending>,
                            error: String,
                            request_id: Option<String>,
                            retry: Retry,
                            on_done: &mut dyn FnMut(usize, OpOutcome)| {
                if let Some(first) = chunk.first() {
                    let (d, next, of) = match retry {
                        Retry::Throttled(d) => (d, first.throttled + 2, self.policy.max_throttled),
                        Retry::Transient(after) => (
                            after.unwrap_or_else(|| self.backoff(first.attempts + 1)),
                            first.attempts + 2,
                            self.policy.max_attempts,
                        ),
                    };
                    if next <= of {
                        retry::announce(
                            &self.app,
                            &format!("{} request(s) of POST /$batch", chunk.len()),
                            d,
                            &error,
                            next,
                            of,
                        );
                    }
                }
                for mut p in chunk {
                    match retry {
                        Retry::Throttled(d) => {
                            p.throttled += 1;
                            if p.throttled < self.policy.max_throttled
                                && self.policy.may_wait(p.waited, d)
                            {
                                p.waited += d;
                                p.not_before = self.now() + d;
                                queue.push_back(p);
                                continue;
                            }
                        }
                        Retry::Transient(after) if ops[p.idx].idempotent => {
                            p.attempts += 1;
                            let d = after.unwrap_or_else(|| self.backoff(p.attempts));
                            if p.attempts < self.policy.max_attempts
                                && self.policy.may_wait(p.waited, d)
                            {
                                p.waited += d;
                                p.not_before = self.now() + d;
                                queue.push_back(p);
                                continue;
                            }
                        }
                        Retry::Transient(_) => {}
                    }
                    on_done(
                        p.idx,
                        OpOutcome::Failed {
                            error: error.clone(),
                            request_id: request_id.clone(),
                            ambiguous: matches!(retry, Retry::Transient(_)),
                        },
                    );
                }
            };
            let (resp, retry_after) = match ex {
                Err(e) => {
                    // Authentication failed: nothing of the batch was sent.
                    let msg = format!("{e:#}");
                    for p in chunk {
                        on_done(
                            p.idx,
                            OpOutcome::Failed {
                                error: msg.clone(),
                                request_id: None,
                                ambiguous: false,
                            },
                        );
                    }
                    continue;
                }
                Ok(Exchange::Transport(e)) => {
                    fail_all(
                        &mut queue,
                        chunk,
                        format!("$batch: {e}"),
                        None,
                        Retry::Transient(None),
                        &mut on_done,
                    );
                    continue;
                }
                Ok(Exchange::Response(r, ra, _)) => (r, ra),
            };
            if resp.status == 429 {
                self.adapt_pace(chunk.len(), chunk.len(), retry_after);
                let secs = retry_after.unwrap_or_else(|| self.backoff(2).as_secs_f64());
                let d = self.note_throttle(secs);
                fail_all(
                    &mut queue,
                    chunk,
                    resp.describe(),
                    resp.request_id.clone(),
                    Retry::Throttled(d),
                    &mut on_done,
                );
                continue;
            }
            if !resp.is_success() {
                let err = format!("$batch {}", resp.describe());
                if resp.status >= 500 {
                    let after = retry_after.map(|s| self.retry_delay(s));
                    fail_all(
                        &mut queue,
                        chunk,
                        err,
                        resp.request_id.clone(),
                        Retry::Transient(after),
                        &mut on_done,
                    );
                } else {
                    for p in chunk {
                        on_done(
                            p.idx,
                            OpOutcome::Failed {
                                error: err.clone(),
                                request_id: resp.request_id.clone(),
                                ambiguous: false,
                            },
                        );
                    }
                }
                continue;
            }
            let mut by_id: HashMap<String, (GraphResponse, Option<f64>)> = HashMap::new();
            if let Some(Value::Array(items)) = resp.body.get("responses") {
                for item in items {
                    let Some(id) = item.get("id").and_then(value_as_text) else {
                        continue;
                    };
                    let status = item
                        .get("status")
                        .and_then(Value::as_u64)
                        .and_then(|s| u16::try_from(s).ok())
                        .unwrap_or(0);
                    let headers = item.get("headers");
                    let body = item.get("body").cloned().unwrap_or(Value::Null);
                    let retry_after = headers
                        .and_then(|h| header_ci(h, "retry-after"))
                        .and_then(value_as_text)
                        .and_then(|s| parse_retry_after(&s));
                    let request_id =
                        request_id_of(headers, &body).or_else(|| resp.request_id.clone());
                    by_id.insert(
                        id,
                        (
                            GraphResponse {
                                status,
                                body,
                                request_id,
                            },
                            retry_after,
                        ),
                    );
                }
            }
            let refused = by_id.values().filter(|(r, _)| r.status == 429).count();
            let max_after = by_id
                .values()
                .filter(|(r, _)| r.status == 429)
                .filter_map(|(_, ra)| *ra)
                .fold(None, |m: Option<f64>, x| Some(m.map_or(x, |m| m.max(x))));
            self.adapt_pace(chunk.len(), refused, max_after);
            if refused == 0 {
                retry::waited();
            }
            tracing::trace!(app = %self.app, requests = chunk.len(), refused, retry_after = ?max_after, "batch answered");
            for mut p in chunk {
                let op = &ops[p.idx];
                let Some((r, retry_after)) = by_id.remove(&p.idx.to_string()) else {
                    // Missing from the answer: unknown fate.
                    fail_all(
                        &mut queue,
                        vec![p],
                        "the $batch answer has no response for this request".into(),
                        resp.request_id.clone(),
                        Retry::Transient(None),
                        &mut on_done,
                    );
                    continue;
                };
                let mut st = AttemptState {
                    attempts: p.attempts,
                    throttled: p.throttled,
                    lag: p.lag,
                };
                let decision = decide(&r, retry_after, op, &mut st, &self.policy);
                (p.attempts, p.throttled, p.lag) = (st.attempts, st.throttled, st.lag);
                match decision {
                    Decision::Done => {}
                    Decision::RetryAfter(after) => {
                        let secs = after.unwrap_or_else(|| self.backoff(p.throttled).as_secs_f64());
                        let d = self.note_throttle(secs);
                        if self.policy.may_wait(p.waited, d) {
                            p.waited += d;
                            p.not_before = self.now() + d;
                            queue.push_back(p);
                            continue;
                        }
                    }
                    Decision::Retry(after) => {
                        let d = after
                            .map(|s| self.retry_delay(s))
                            .unwrap_or_else(|| self.backoff(p.attempts));
                        if self.policy.may_wait(p.waited, d) {
                            p.waited += d;
                            p.not_before = self.now() + d;
                            queue.push_back(p);
                            continue;
                        }
                    }
                    Decision::LagRetry => {
                        p.not_before = self.now() + self.backoff(p.lag);
                        queue.push_back(p);
                        continue;
                    }
                    Decision::FailAmbiguous => {
                        on_done(
                            p.idx,
                            OpOutcome::Failed {
                                error: r.describe(),
                                request_id: r.request_id,
                                ambiguous: true,
                            },
                        );
                        continue;
                    }
                }
                on_done(p.idx, OpOutcome::Done(r));
            }
        }
    }
}

/// How many times one request inside `$batch` was sent back, by reason.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct AttemptState {
    /// 5xx answers (and transport failures) so far.
    pub attempts: u32,
    /// 429 answers so far.
    pub throttled: u32,
    /// Replication-lag answers so far.
    pub lag: u32,
}

/// What to do with one sub-response of a `$batch`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Decision {
    /// The answer is final (success, or an error to report as it is).
    Done,
    /// Throttled: send again after the Retry-After seconds (backoff when absent).
    RetryAfter(Option<f64>),
    /// A transient failure of an idempotent request: send again.
    Retry(Option<f64>),
    /// Replication lag on an object created moments ago: send again after a backoff.
    LagRetry,
    /// A transient failure of a request that is not safe to resend: its fate is unknown.
    FailAmbiguous,
}

/// The pure per-response rule of `$batch` execution: counts the attempt in `st` and
/// says whether the request is done, retried (and why) or failed. No clock, no I/O.
pub(crate) fn decide(
    r: &GraphResponse,
    retry_after: Option<f64>,
    op: &BatchOp,
    st: &mut AttemptState,
    policy: &RetryPolicy,
) -> Decision {
    if r.status == 429 {
        st.throttled += 1;
        if st.throttled < policy.max_throttled {
            return Decision::RetryAfter(retry_after);
        }
    } else if r.status >= 500 || r.status == 0 {
        if !op.idempotent {
            return Decision::FailAmbiguous;
        }
        st.attempts += 1;
        if st.attempts < policy.max_attempts {
            return Decision::Retry(retry_after);
        }
    } else if op.lag_retry && looks_like_lag(r) {
        st.lag += 1;
        if st.lag < policy.max_lag_attempts {
            return Decision::LagRetry;
        }
    }
    Decision::Done
}

/// A URL without its query, for messages.
pub fn strip_query(url: &str) -> &str {
    url.split('?').next().unwrap_or(url)
}

/// " (request-id X)" or nothing.
pub fn rid(id: &Option<String>) -> String {
    id.as_ref()
        .map(|r| format!(" (request-id {r})"))
        .unwrap_or_default()
}

/// Escapes a string for an OData string literal in `$filter` (quotes doubled) and
/// percent-encodes it for a URL query.
pub fn odata_literal(s: &str) -> String {
    let doubled = s.replace('\'', "''");
    percent_encoding::utf8_percent_encode(&doubled, QUERY).to_string()
}

/// Characters escaped in a query value.
const QUERY: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~')
    .remove(b'@');

/// Percent-encodes a path segment (a UPN used as a key, say).
pub fn path_segment(s: &str) -> String {
    percent_encoding::utf8_percent_encode(s, QUERY).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(status: u16, code: &str) -> GraphResponse {
        GraphResponse {
            status,
            body: json!({"error": {"code": code, "message": ""}}),
            request_id: None,
        }
    }

    fn op(idempotent: bool, lag_retry: bool) -> BatchOp {
        let mut o = BatchOp::new("GET", "/users/x", None);
        o.idempotent = idempotent;
        o.lag_retry = lag_retry;
        o
    }

    #[test]
    fn waits_are_bounded_in_all_only_when_asked() {
        let unbounded = RetryPolicy::graph();
        assert!(unbounded.may_wait(Duration::from_secs(86_400), Duration::from_secs(300)));
        let p = RetryPolicy {
            max_wait: Some(Duration::from_millis(500)),
            ..RetryPolicy::graph()
        };
        let ms = Duration::from_millis;
        assert!(p.may_wait(ms(0), ms(200)));
        assert!(p.may_wait(ms(200), ms(300)));
        assert!(!p.may_wait(ms(400), ms(200)));
    }

    #[test]
    fn kept_throttling_says_how_often_and_how_long() {
        let e = KeptThrottling {
            retries: 1,
            waited: Duration::from_millis(1250),
            answer: "HTTP 429 TooManyRequests".into(),
        };
        assert_eq!(
            e.to_string(),
            "the service kept throttling after 1 retry over 1.2s: HTTP 429 TooManyRequests"
        );
        let e = anyhow::Error::new(e).context("GET /users failed");
        assert!(
            crate::error_report::hints(&e)
                .iter()
                .any(|h| h.contains("ROSTER_RETRY_MAX_SECONDS"))
        );
    }

    #[test]
    fn a_success_or_a_plain_error_is_done() {
        let p = RetryPolicy::graph();
        let mut st = AttemptState::default();
        for (status, code) in [
            (200, ""),
            (400, "Request_BadRequest"),
            (403, "Authorization_RequestDenied"),
        ] {
            let d = decide(&answer(status, code), None, &op(true, true), &mut st, &p);
            assert_eq!(d, Decision::Done, "{status}");
        }
        assert_eq!(st, AttemptState::default());
    }

    #[test]
    fn throttling_is_retried_after_retry_after_until_the_budget_is_spent() {
        let p = RetryPolicy {
            max_throttled: 3,
            ..RetryPolicy::graph()
        };
        let mut st = AttemptState::default();
        let r = answer(429, "TooManyRequests");
        assert_eq!(
            decide(&r, Some(1.5), &op(false, false), &mut st, &p),
            Decision::RetryAfter(Some(1.5))
        );
        assert_eq!(
            decide(&r, None, &op(false, false), &mut st, &p),
            Decision::RetryAfter(None)
        );
        assert_eq!(
            decide(&r, None, &op(false, false), &mut st, &p),
            Decision::Done
        );
        assert_eq!(st.throttled, 3);
    }

    #[test]
    fn server_errors_retry_idempotent_requests_only() {
        let p = RetryPolicy {
            max_attempts: 2,
            ..RetryPolicy::graph()
        };
        let r = answer(503, "serviceNotAvailable");
        let mut st = AttemptState::default();
        assert_eq!(
            decide(&r, Some(2.0), &op(true, false), &mut st, &p),
            Decision::Retry(Some(2.0))
        );
        assert_eq!(
            decide(&r, None, &op(true, false), &mut st, &p),
            Decision::Done
        );
        let mut st = AttemptState::default();
        assert_eq!(
            decide(&r, None, &op(false, false), &mut st, &p),
            Decision::FailAmbiguous
        );
        assert_eq!(
            decide(&answer(0, ""), None, &op(false, false), &mut st, &p),
            Decision::FailAmbiguous
        );
    }

    #[test]
    fn replication_lag_is_retried_for_lag_sensitive_requests() {
        let p = RetryPolicy {
            max_lag_attempts: 2,
            ..RetryPolicy::graph()
        };
        let r = answer(404, "Request_ResourceNotFound");
        let mut st = AttemptState::default();
        assert_eq!(
            decide(&r, None, &op(true, false), &mut st, &p),
            Decision::Done
        );
        assert_eq!(
            decide(&r, None, &op(true, true), &mut st, &p),
            Decision::LagRetry
        );
        assert_eq!(
            decide(&r, None, &op(true, true), &mut st, &p),
            Decision::Done
        );
        assert_eq!(st.lag, 2);
    }

    #[test]
    fn retry_after_accepts_fractions_and_refuses_garbage() {
        assert_eq!(parse_retry_after("2.5"), Some(2.5));
        assert_eq!(parse_retry_after(" 3 "), Some(3.0));
        assert_eq!(parse_retry_after("-1"), None);
        assert_eq!(parse_retry_after("NaN"), None);
        assert_eq!(parse_retry_after("soon"), None);
    }

    #[test]
    fn request_id_comes_from_headers_or_inner_error() {
        let h = json!({"Request-Id": "abc"});
        assert_eq!(
            request_id_of(Some(&h), &Value::Null).as_deref(),
            Some("abc")
        );
        let b = json!({"error": {"code": "x", "innerError": {"request-id": "def"}}});
        assert_eq!(request_id_of(None, &b).as_deref(), Some("def"));
        assert_eq!(request_id_of(Some(&json!({})), &json!({})), None);
    }

    #[test]
    fn describe_uses_code_and_message() {
        let r = GraphResponse {
            status: 400,
            body: json!({"error": {"code": "Request_BadRequest", "message": "bad"}}),
            request_id: None,
        };
        assert_eq!(r.describe(), "HTTP 400 Request_BadRequest: bad");
        let r2 = GraphResponse {
            status: 502,
            body: Value::Null,
            request_id: None,
        };
        assert_eq!(r2.describe(), "HTTP 502");
    }

    #[test]
    fn lag_detection() {
        let mk = |status, code: &str, msg: &str| GraphResponse {
            status,
            body: json!({"error": {"code": code, "message": msg}}),
            request_id: None,
        };
        assert!(looks_like_lag(&mk(404, "Request_ResourceNotFound", "x")));
        assert!(looks_like_lag(&mk(
            400,
            "Request_BadRequest",
            "Resource 'x' does not exist or one of its queried reference-property objects are not present."
        )));
        assert!(!looks_like_lag(&mk(
            400,
            "Request_BadRequest",
            "One or more added object references already exist"
        )));
    }

    #[test]
    fn odata_literals_are_quoted_and_encoded() {
        assert_eq!(odata_literal("O'Brien & co"), "O%27%27Brien%20%26%20co");
        assert_eq!(path_segment("a.b@c.com"), "a.b@c.com");
        assert_eq!(path_segment("a#b/c"), "a%23b%2Fc");
    }

    /// A minimal Graph stand-in: a token endpoint and a `$batch` endpoint whose inner
    /// requests are throttled (429, Retry-After 0.3) or fail (503) on their first try.
    mod mock {
        use super::*;
        use crate::apps::office365::auth::{Credential, TokenProvider};
        use crate::secret::Secret;
        use axum::routing::post;
        use std::sync::Arc;

        #[derive(Default)]
        pub struct Seen {
            pub batches: Vec<(Instant, usize)>,
            pub tries: HashMap<String, u32>,
        }

        pub async fn serve(seen: Arc<Mutex<Seen>>) -> String {
            let s2 = seen.clone();
            let app = axum::Router::new()
                .route(
                    "/t/oauth2/v2.0/token",
                    post(|| async { axum::Json(json!({"access_token": "tok", "expires_in": 3600})) }),
                )
                .route(
                    "/v1.0/$batch",
                    post(move |axum::Json(body): axum::Json<Value>| {
                        let seen = s2.clone();
                        async move {
                            let reqs = body["requests"].as_array().cloned().unwrap_or_default();
                            let mut out = Vec::new();
                            let mut g = seen.lock().expect("lock");
                            g.batches.push((Instant::now(), reqs.len()));
                            for r in reqs {
                                let url = r["url"].as_str().unwrap_or("").to_string();
                                let n = {
                                    let t = g.tries.entry(url.clone()).or_insert(0);
                                    *t += 1;
                                    *t
                                };
                                let id = r["id"].clone();
                                if url.contains("throttle") && n == 1 {
                                    out.push(json!({"id": id, "status": 429, "headers": {"Retry-After": "0.3"},
                                        "body": {"error": {"code": "TooManyRequests", "message": "slow down"}}}));
                                } else if url.contains("flaky") && n == 1 {
                                    out.push(json!({"id": id, "status": 503, "body": {"error": {"code": "serviceNotAvailable", "message": "x"}}}));
                                } else if url.contains("missing") {
                                    out.push(json!({"id": id, "status": 404, "body": {"error": {"code": "Request_ResourceNotFound", "message": "gone", "innerError": {"request-id": "rid-1"}}}}));
                                } else {
                                    out.push(json!({"id": id, "status": 200, "body": {"ok": url}}));
                                }
                            }
                            axum::Json(json!({"responses": out}))
                        }
                    }),
                );
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
                .await
                .expect("bind");
            let addr = listener.local_addr().expect("addr");
            tokio::spawn(async move {
                let _ = axum::serve(listener, app).await;
            });
            format!("http://{addr}")
        }

        pub fn graph(base: &str) -> Graph {
            let http = reqwest::Client::builder()
                .no_proxy()
                .build()
                .expect("client");
            let auth = TokenProvider::new(
                http.clone(),
                "mock",
                format!("{base}/t/oauth2/v2.0/token"),
                "cid".into(),
                "https://graph.microsoft.com/.default".into(),
                Credential::Secret(Secret::new("s")),
            );
            let policy = RetryPolicy {
                base_delay: Duration::from_millis(10),
                ..RetryPolicy::graph()
            };
            Graph::new(http, base, auth, "mock", policy)
        }
    }

    #[tokio::test]
    async fn batches_honour_inner_retry_after_and_retry_transient_failures() {
        let seen = std::sync::Arc::new(Mutex::new(mock::Seen::default()));
        let base = mock::serve(seen.clone()).await;
        let graph = mock::graph(&base);
        let mut ops: Vec<BatchOp> = (0..45)
            .map(|i| BatchOp::new("GET", format!("/ok/{i}"), None))
            .collect();
        ops.push(BatchOp::new("GET", "/throttle/1", None));
        ops.push(BatchOp::new("GET", "/flaky/1", None));
        ops.push(BatchOp::new("GET", "/missing/1", None));
        let mut outcomes: HashMap<usize, OpOutcome> = HashMap::new();
        graph
            .run_batched(&ops, |i, o| {
                assert!(outcomes.insert(i, o).is_none(), "one outcome per op");
            })
            .await;
        assert_eq!(outcomes.len(), ops.len());
        for (i, o) in &outcomes {
            match o {
                OpOutcome::Done(r) if ops[*i].url.contains("missing") => {
                    assert_eq!(r.status, 404);
                    assert_eq!(r.request_id.as_deref(), Some("rid-1"));
                }
                OpOutcome::Done(r) => assert_eq!(r.status, 200, "{}", ops[*i].url),
                other => panic!("{other:?}"),
            }
        }
        let g = seen.lock().expect("lock");
        assert!(g.batches.iter().all(|(_, n)| *n <= BATCH_SIZE));
        let first_round = 48usize.div_ceil(BATCH_SIZE);
        assert!(
            g.batches.len() <= first_round + 2,
            "{} batches",
            g.batches.len()
        );
        assert_eq!(g.tries.get("/throttle/1"), Some(&2));
        assert_eq!(g.tries.get("/flaky/1"), Some(&2));
        // After the 429, nothing was sent for the Retry-After window.
        let throttled_at = g
            .batches
            .iter()
            .take(first_round)
            .map(|(t, _)| *t)
            .max()
            .expect("batches");
        for (t, _) in g.batches.iter().skip(first_round) {
            assert!(
                t.duration_since(throttled_at) >= Duration::from_millis(250),
                "a batch was sent into the throttled window"
            );
        }
    }

    #[test]
    fn absurd_retry_after_values_are_capped() {
        let g = mock::graph("http://127.0.0.1:9");
        assert_eq!(g.retry_delay(1e300), g.policy.max_retry_after);
        assert_eq!(g.retry_delay(f64::INFINITY), g.policy.max_retry_after);
        assert_eq!(g.retry_delay(0.25), Duration::from_millis(250));
        assert_eq!(g.note_throttle(1e300), g.policy.max_retry_after);
    }

    #[tokio::test]
    async fn lag_retries_only_for_objects_created_in_this_run() {
        let seen = std::sync::Arc::new(Mutex::new(mock::Seen::default()));
        let base = mock::serve(seen.clone()).await;
        let graph = mock::graph(&base);
        let mut lagging = BatchOp::new("GET", "/missing/lag", None);
        lagging.lag_retry = true;
        let ops = vec![lagging, BatchOp::new("GET", "/missing/plain", None)];
        let mut statuses = Vec::new();
        graph
            .run_batched(&ops, |i, o| {
                if let OpOutcome::Done(r) = o {
                    statuses.push((i, r.status));
                }
            })
            .await;
        statuses.sort();
        assert_eq!(statuses, vec![(0, 404), (1, 404)]);
        let g = seen.lock().expect("lock");
        assert_eq!(
            g.tries.get("/missing/lag"),
            Some(&graph.policy.max_lag_attempts)
        );
        assert_eq!(g.tries.get("/missing/plain"), Some(&1));
    }
}
