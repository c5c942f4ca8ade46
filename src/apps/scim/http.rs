//! The SCIM HTTP client: bearer authentication, JSON bodies (`application/scim+json`),
//! retries (429/503 with `Retry-After`, other 5xx and transport failures with backoff
//! and jitter), RFC 7644 §3.12 error responses turned into [`ScimError`], and
//! list paging with `startIndex` / `count`.

use std::time::Duration;

use crate::apps::kit::retry;
use anyhow::{Result, anyhow};
use reqwest::{Method, StatusCode};
use serde_json::Value;

use crate::secret::Secret;

/// The media type of SCIM requests and responses (RFC 7644 §3.1).
pub const SCIM_JSON: &str = "application/scim+json";
/// The schema URN of list responses.
pub const LIST_RESPONSE: &str = "urn:ietf:params:scim:api:messages:2.0:ListResponse";
/// The schema URN of PATCH requests.
pub const PATCH_OP: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";

/// The largest response body read into memory (a defence against a broken server).
const MAX_BODY: usize = 64 * 1024 * 1024;
/// The most pages one list may take (a defence against a server that never ends).
const MAX_PAGES: usize = 100_000;

/// The SCIM client's retry and concurrency settings ([`retry::ClientPolicy::scim`]).
pub type RetryPolicy = retry::ClientPolicy;

/// An error response of a SCIM service provider (RFC 7644 §3.12), or a non-SCIM
/// error body summarised.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScimError {
    pub method: String,
    /// The path relative to the base URL (never carries a secret).
    pub path: String,
    pub status: u16,
    pub scim_type: Option<String>,
    pub detail: Option<String>,
}

impl std::fmt::Display for ScimError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}: HTTP {}", self.method, self.path, self.status)?;
        if let Some(t) = &self.scim_type {
            write!(f, ", scimType {t}")?;
        }
        if let Some(d) = &self.detail {
            write!(f, ": {d}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ScimError {}

impl ScimError {
    /// Parses an error body: the RFC's `status` / `scimType` / `detail`, else a short
    /// excerpt of whatever the server sent.
    pub fn from_body(method: &str, path: &str, status: u16, body: &str) -> ScimError {
        let parsed: Option<Value> = serde_json::from_str(body).ok();
        let text = |k: &str| {
            parsed
                .as_ref()
                .and_then(|v| v.get(k))
                .and_then(|v| match v {
                    Value::String(s) if !s.trim().is_empty() => Some(s.trim().to_string()),
                    Value::Number(n) => Some(n.to_string()),
                    _ => None,
                })
        };
        let detail = text("detail").or_else(|| {
            let t = body.trim();
            (!t.is_empty() && parsed.is_none()).then(|| excerpt(t, 200))
        });
        ScimError {
            method: method.to_string(),
            path: path.to_string(),
            status,
            scim_type: text("scimType"),
            detail,
        }
    }

    /// Whether this is a uniqueness conflict (the object exists already).
    pub fn is_conflict(&self) -> bool {
        self.status == 409 || self.scim_type.as_deref() == Some("uniqueness")
    }
}

use crate::apps::kit::body::excerpt;

/// A response: status, ETag and body (parsed JSON; `Null` when empty).
#[derive(Debug, Clone)]
pub struct Response {
    pub status: u16,
    pub etag: Option<String>,
    pub body: Value,
}

/// Parses `Retry-After`: delay-seconds (fractions tolerated) or an HTTP date.
pub fn parse_retry_after(v: &str) -> Option<Duration> {
    retry::parse_retry_after(v, std::time::SystemTime::now())
}

/// A SCIM client for one base URL.
pub struct Client {
    http: reqwest::Client,
    /// The base URL without a trailing slash.
    pub base: String,
    token: Secret,
    app: String,
    pub policy: RetryPolicy,
}

impl Client {
    pub fn new(
        http: reqwest::Client,
        base: &str,
        token: Secret,
        app: &str,
        policy: RetryPolicy,
    ) -> Self {
        Client {
            http,
            base: base.trim_end_matches('/').to_string(),
            token,
            app: app.to_string(),
            policy,
        }
    }

    /// Sends one request (with retries); returns the response on success (2xx), a
    /// [`ScimError`] (wrapped in anyhow) on an HTTP error, or a transport error.
    pub async fn send(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, String)],
        body: Option<&Value>,
        if_match: Option<&str>,
    ) -> Result<Response> {
        let url = format!("{}{}", self.base, path);
        let mut failures = 0u32;
        let mut throttled = 0u32;
        let mut waited = Duration::ZERO;
        loop {
            let mut req = self
                .http
                .request(method.clone(), &url)
                .bearer_auth(self.token.expose())
                .header(reqwest::header::ACCEPT, SCIM_JSON);
            if !query.is_empty() {
                req = req.query(query);
            }
            if let Some(b) = body {
                let bytes = serde_json::to_vec(b)?;
                req = req
                    .header(reqwest::header::CONTENT_TYPE, SCIM_JSON)
                    .body(bytes);
            }
            if let Some(tag) = if_match {
                req = req.header(reqwest::header::IF_MATCH, tag);
            }
            let sent = req.send().await;
            let resp = match sent {
                Ok(r) => r,
                Err(e) => {
                    failures += 1;
                    if failures >= self.policy.max_attempts
                        || !retry::classify_transport(&e).is_transient()
                    {
                        return Err(anyhow!("{method} {path}: {}", describe_transport(&e)));
                    }
                    let d = self.policy.backoff(failures);
                    retry::announce(
                        &self.app,
                        &format!("{method} {path}"),
                        d,
                        &describe_transport(&e),
                        failures + 1,
                        self.policy.max_attempts,
                    );
                    self.policy.timer.sleep(d).await;
                    retry::waited();
                    continue;
                }
            };
            let status = resp.status();
            let retry_after = resp
                .headers()
                .get(reqwest::header::RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(parse_retry_after);
            let etag = resp
                .headers()
                .get(reqwest::header::ETAG)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string);
            let text = match read_body(resp).await {
                Ok(t) => t,
                Err(e) => {
                    failures += 1;
                    if failures >= self.policy.max_attempts {
                        return Err(anyhow!("{method} {path}: {e}"));
                    }
                    self.policy.timer.sleep(self.policy.backoff(failures)).await;
                    continue;
                }
            };
            if status.is_success() {
                let body = if text.trim().is_empty() {
                    Value::Null
                } else {
                    serde_json::from_str(&text).map_err(|e| {
                        anyhow!(
                            "{method} {path}: the response is not JSON ({e}): {}",
                            excerpt(text.trim(), 120)
                        )
                    })?
                };
                return Ok(Response {
                    status: status.as_u16(),
                    etag,
                    body,
                });
            }
            let throttle = matches!(
                status,
                StatusCode::TOO_MANY_REQUESTS | StatusCode::SERVICE_UNAVAILABLE
            );
            let retry = if throttle {
                throttled += 1;
                throttled < self.policy.max_throttled
            } else if status.is_server_error() {
                failures += 1;
                failures < self.policy.max_attempts
            } else {
                false
            };
            if !retry {
                return Err(
                    ScimError::from_body(method.as_str(), path, status.as_u16(), &text).into(),
                );
            }
            let wait = match retry_after {
                Some(d) if throttle || status.is_server_error() => {
                    d.min(self.policy.max_retry_after)
                }
                _ => self.policy.backoff(failures.max(throttled)),
            };
            if !self.policy.may_wait(waited, wait) {
                return Err(
                    ScimError::from_body(method.as_str(), path, status.as_u16(), &text).into(),
                );
            }
            waited += wait;
            let (next, of) = if throttle {
                (throttled + 1, self.policy.max_throttled)
            } else {
                (failures + 1, self.policy.max_attempts)
            };
            retry::announce(
                &self.app,
                &format!("{method} {path}"),
                wait,
                &format!("HTTP {status}"),
                next,
                of,
            );
            self.policy.timer.sleep(wait).await;
            retry::waited();
        }
    }

    pub async fn get(&self, path: &str, query: &[(&str, String)]) -> Result<Response> {
        self.send(Method::GET, path, query, None, None).await
    }

    /// Every resource of a list endpoint, page by page (`startIndex` / `count`), at
    /// most `page_size` per request. Pages shorter than asked for are fine (servers
    /// may cap `count`); the list ends at `totalResults` or at the first empty page.
    pub async fn list(
        &self,
        path: &str,
        query: &[(&str, String)],
        page_size: usize,
    ) -> Result<Vec<Value>> {
        let mut out: Vec<Value> = Vec::new();
        let mut start: usize = 1;
        for _ in 0..MAX_PAGES {
            let mut q: Vec<(&str, String)> = query.to_vec();
            q.push(("startIndex", start.to_string()));
            q.push(("count", page_size.max(1).to_string()));
            let resp = self.get(path, &q).await?;
            let total = resp.body.get("totalResults").and_then(Value::as_u64);
            let items = match resp.body.get("Resources") {
                Some(Value::Array(a)) => a.clone(),
                None | Some(Value::Null) => Vec::new(),
                Some(_) => {
                    return Err(anyhow!(
                        "GET {path}: `Resources` of the list response is not an array"
                    ));
                }
            };
            let n = items.len();
            out.extend(items);
            start += n;
            let total = match total {
                Some(t) => t as usize,
                // Without totalResults (a deviation), a short page ends the list.
                None if n < page_size => return Ok(out),
                None => usize::MAX,
            };
            if n == 0 || start > total {
                return Ok(out);
            }
        }
        Err(anyhow!(
            "GET {path}: more than {MAX_PAGES} pages; giving up"
        ))
    }
}

async fn read_body(resp: reqwest::Response) -> Result<String> {
    crate::apps::kit::body::read_text(resp, MAX_BODY, describe_transport).await
}

/// A transport error in words, without the URL's query (which never holds secrets
/// here, but keeps messages short).
fn describe_transport(e: &reqwest::Error) -> String {
    let kind = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "cannot connect"
    } else {
        "request failed"
    };
    let mut msg = kind.to_string();
    let mut src = std::error::Error::source(e);
    while let Some(s) = src {
        msg = format!("{msg}: {s}");
        src = s.source();
    }
    msg
}

/// A SCIM filter string literal (RFC 7644 §3.4.2.2: a JSON string).
pub fn filter_literal(s: &str) -> String {
    Value::String(s.to_string()).to_string()
}

/// Percent-encodes a resource id for a URL path segment.
pub fn path_segment(s: &str) -> String {
    const SET: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
        .remove(b'-')
        .remove(b'_')
        .remove(b'.')
        .remove(b'~');
    percent_encoding::utf8_percent_encode(s, SET).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_carry_status_scim_type_and_detail() {
        let e = ScimError::from_body(
            "POST",
            "/Users",
            409,
            r#"{"schemas":["urn:ietf:params:scim:api:messages:2.0:Error"],"status":"409","scimType":"uniqueness","detail":"userName taken"}"#,
        );
        assert_eq!(e.scim_type.as_deref(), Some("uniqueness"));
        assert!(e.is_conflict());
        assert_eq!(
            e.to_string(),
            "POST /Users: HTTP 409, scimType uniqueness: userName taken"
        );
        let plain = ScimError::from_body("GET", "/Users", 502, "<html>bad gateway</html>");
        assert_eq!(plain.scim_type, None);
        assert_eq!(plain.detail.as_deref(), Some("<html>bad gateway</html>"));
        assert!(!plain.is_conflict());
        let empty = ScimError::from_body("GET", "/x", 500, "");
        assert_eq!(empty.to_string(), "GET /x: HTTP 500");
    }

    /// `ROSTER_RETRY_MAX_SECONDS` (`ClientPolicy::max_wait`) bounds SCIM's waits too: a
    /// provider that keeps answering 429 with `Retry-After: 1` is given up on at once
    /// under a 0.5 s bound, with its error, instead of after 20 throttled attempts.
    #[tokio::test]
    async fn throttled_requests_stop_at_the_wait_bound() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let served = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let count = served.clone();
        tokio::spawn(async move {
            while let Ok((mut sock, _)) = listener.accept().await {
                count.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                let mut buf = [0u8; 4096];
                let _ = sock.read(&mut buf).await;
                let body = r#"{"schemas":["urn:ietf:params:scim:api:messages:2.0:Error"],"status":"429","detail":"slow down"}"#;
                let resp = format!(
                    "HTTP/1.1 429 Too Many Requests\r\nRetry-After: 1\r\nContent-Type: application/scim+json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = sock.write_all(resp.as_bytes()).await;
            }
        });
        let policy = RetryPolicy {
            max_wait: Some(Duration::from_millis(500)),
            ..RetryPolicy::scim()
        };
        let client = Client::new(
            reqwest::Client::new(),
            &format!("http://{addr}/scim/v2"),
            Secret::new("t".to_string()),
            "hr",
            policy,
        );
        let t0 = std::time::Instant::now();
        let err = client.get("/Users", &[]).await.unwrap_err();
        let scim = err
            .downcast_ref::<ScimError>()
            .expect("the provider's error");
        assert_eq!(scim.status, 429);
        assert_eq!(
            served.load(std::sync::atomic::Ordering::SeqCst),
            1,
            "no retry"
        );
        assert!(
            t0.elapsed() < Duration::from_millis(900),
            "{:?}",
            t0.elapsed()
        );
    }

    #[test]
    fn retry_after_seconds_and_dates() {
        assert_eq!(parse_retry_after("2"), Some(Duration::from_secs(2)));
        assert_eq!(parse_retry_after("0.5"), Some(Duration::from_millis(500)));
        assert_eq!(parse_retry_after("-3"), None);
        assert_eq!(parse_retry_after("soon"), None);
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT"),
            Some(Duration::ZERO)
        );
    }

    #[test]
    fn literals_and_segments_are_escaped() {
        assert_eq!(filter_literal(r#"a"b\c"#), r#""a\"b\\c""#);
        assert_eq!(path_segment("a/b c"), "a%2Fb%20c");
    }
}
