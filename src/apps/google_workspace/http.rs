//! The Directory API HTTP client: bearer tokens from [`TokenProvider`] (renewed once
//! after a 401), JSON bodies, Google's error shape turned into [`GoogleError`],
//! `pageToken` paging, and retries as Google documents them for the Admin SDK
//! ("exponential backoff" with random jitter for 429, 403 `rateLimitExceeded` /
//! `userRateLimitExceeded` / `quotaExceeded`, and 5xx; transport failures likewise),
//! through the kit's policy and timer ([`crate::apps::kit::retry`]). A 404 on an
//! object created in this run is retried briefly when the caller asks for it: the
//! Directory API is eventually consistent right after an insert.

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::{Result, anyhow};
use reqwest::{Method, StatusCode};
use serde_json::Value;

use super::auth::TokenProvider;
use crate::apps::kit::retry;

/// The largest response body read into memory.
const MAX_BODY: usize = 64 * 1024 * 1024;
/// The most pages one list may take.
const MAX_PAGES: usize = 100_000;
/// The Directory API's path prefix.
pub const DIRECTORY: &str = "/admin/directory/v1";

/// The reasons of a 403 that Google documents as quota errors, to retry with backoff.
pub const QUOTA_REASONS: &[&str] = &[
    "rateLimitExceeded",
    "userRateLimitExceeded",
    "quotaExceeded",
];

/// An error response of the Directory API (`{"error": {"code", "message", "errors":
/// [{"domain", "reason", "message"}]}}`), or a non-JSON error body summarised.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GoogleError {
    pub method: String,
    /// The path below the API base (never carries a secret).
    pub path: String,
    pub status: u16,
    /// The first `errors[].reason` (`notFound`, `duplicate`, `rateLimitExceeded`…).
    pub reason: Option<String>,
    pub message: Option<String>,
}

impl std::fmt::Display for GoogleError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}: HTTP {}", self.method, self.path, self.status)?;
        if let Some(r) = &self.reason {
            write!(f, " ({r})")?;
        }
        if let Some(m) = &self.message {
            write!(f, ": {m}")?;
        }
        Ok(())
    }
}

impl std::error::Error for GoogleError {}

impl GoogleError {
    pub fn from_body(method: &str, path: &str, status: u16, body: &str) -> GoogleError {
        let parsed: Option<Value> = serde_json::from_str(body).ok();
        let err = parsed.as_ref().and_then(|v| v.get("error"));
        let message = err
            .and_then(|e| e.get("message"))
            .and_then(Value::as_str)
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
            .or_else(|| {
                let t = body.trim();
                (!t.is_empty() && parsed.is_none()).then(|| excerpt(t, 200))
            });
        let reason = err
            .and_then(|e| e.get("errors"))
            .and_then(Value::as_array)
            .and_then(|a| a.first())
            .and_then(|e| e.get("reason"))
            .and_then(Value::as_str)
            .map(str::to_string);
        GoogleError {
            method: method.to_string(),
            path: path.to_string(),
            status,
            reason,
            message,
        }
    }

    /// A quota error Google says to retry with backoff.
    pub fn is_quota(&self) -> bool {
        self.status == 429
            || (self.status == 403
                && self
                    .reason
                    .as_deref()
                    .is_some_and(|r| QUOTA_REASONS.contains(&r)))
    }

    pub fn is_not_found(&self) -> bool {
        self.status == 404
    }

    /// The object exists already (409 `duplicate`, or a member already in the group).
    pub fn is_duplicate(&self) -> bool {
        self.status == 409 || self.reason.as_deref() == Some("duplicate")
    }
}

use crate::apps::kit::body::excerpt;

/// The error of a request, as the Directory API answered it.
pub fn google_error(e: &anyhow::Error) -> Option<&GoogleError> {
    e.downcast_ref::<GoogleError>()
}

/// The client's retry settings: Google asks for exponential backoff starting near a
/// second with random jitter, up to 32 s or more between attempts.
pub fn policy() -> retry::ClientPolicy {
    retry::ClientPolicy {
        max_attempts: 5,
        max_throttled: 12,
        max_lag_attempts: 6,
        base_delay: Duration::from_millis(500),
        max_delay: Duration::from_secs(32),
        concurrency: 4,
        ..retry::ClientPolicy::graph()
    }
    .with_env()
}

/// A Directory API client for one base URL.
pub struct Client {
    http: reqwest::Client,
    /// The API base URL without a trailing slash (`https://admin.googleapis.com`).
    pub base: String,
    pub tokens: TokenProvider,
    app: String,
    pub policy: retry::ClientPolicy,
    /// Requests sent (every attempt), for logs and tests.
    sent: std::sync::atomic::AtomicU64,
}

impl Client {
    pub fn new(
        http: reqwest::Client,
        base: &str,
        tokens: TokenProvider,
        app: &str,
        policy: retry::ClientPolicy,
    ) -> Self {
        Client {
            http,
            base: base.trim_end_matches('/').to_string(),
            tokens,
            app: app.to_string(),
            policy,
            sent: Default::default(),
        }
    }

    /// Requests sent so far, every attempt counted.
    pub fn requests(&self) -> u64 {
        self.sent.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Sends one request with retries; the body of a 2xx answer (`Null` when empty),
    /// a [`GoogleError`] (in anyhow) for an error answer, or a transport error.
    /// `lagging`: the object was created in this run, so a 404 may be the API not
    /// having caught up yet and is retried a few times.
    pub async fn send(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, String)],
        body: Option<&Value>,
        lagging: bool,
    ) -> Result<Value> {
        let url = format!("{}{}", self.base, path);
        let what = format!("{method} {path}");
        let mut failures = 0u32;
        let mut throttled = 0u32;
        let mut lag = 0u32;
        let mut renewed = false;
        let mut waited = Duration::ZERO;
        loop {
            if crate::apps::kit::interrupt::requested() && method != Method::GET {
                return Err(anyhow!("{what}: not sent, the apply was interrupted"));
            }
            let token = self.tokens.token().await?;
            let mut req = self
                .http
                .request(method.clone(), &url)
                .bearer_auth(token.expose())
                .header(reqwest::header::ACCEPT, "application/json");
            if !query.is_empty() {
                req = req.query(query);
            }
            if let Some(b) = body {
                req = req.json(b);
            }
            self.sent.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let resp = match req.send().await {
                Ok(r) => r,
                Err(e) => {
                    failures += 1;
                    let why = crate::apps::office365::auth::without_url(&e);
                    if failures >= self.policy.max_attempts
                        || !retry::classify_transport(&e).is_transient()
                    {
                        return Err(anyhow!("{what}: {why}"));
                    }
                    let d = self.policy.backoff(failures);
                    if !self.policy.may_wait(waited, d) {
                        return Err(anyhow!("{what}: {why}"));
                    }
                    waited += d;
                    retry::announce(
                        &self.app,
                        &what,
                        d,
                        &why,
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
                .and_then(|v| retry::parse_retry_after(v, std::time::SystemTime::now()));
            let text = read_body(resp).await.map_err(|e| anyhow!("{what}: {e}"))?;
            if status.is_success() {
                if text.trim().is_empty() {
                    return Ok(Value::Null);
                }
                return serde_json::from_str(&text).map_err(|e| {
                    anyhow!(
                        "{what}: the response is not JSON ({e}): {}",
                        excerpt(text.trim(), 120)
                    )
                });
            }
            let err = GoogleError::from_body(method.as_str(), path, status.as_u16(), &text);
            if status == StatusCode::UNAUTHORIZED && !renewed {
                // An expired or revoked token: one fresh token, once.
                renewed = true;
                self.tokens.invalidate().await;
                continue;
            }
            let (retry, attempt, of) = if err.is_quota() {
                throttled += 1;
                (
                    throttled < self.policy.max_throttled,
                    throttled,
                    self.policy.max_throttled,
                )
            } else if status.is_server_error() {
                failures += 1;
                (
                    failures < self.policy.max_attempts,
                    failures,
                    self.policy.max_attempts,
                )
            } else if status == StatusCode::NOT_FOUND && lagging {
                lag += 1;
                (
                    lag < self.policy.max_lag_attempts,
                    lag,
                    self.policy.max_lag_attempts,
                )
            } else {
                (false, 0, 0)
            };
            if !retry {
                return Err(err.into());
            }
            let wait = match retry_after {
                Some(d) => d.min(self.policy.max_retry_after),
                None => self.policy.backoff(attempt),
            };
            if !self.policy.may_wait(waited, wait) {
                return Err(err.into());
            }
            waited += wait;
            let cause = match &err.reason {
                Some(r) => format!("HTTP {} {r}", status.as_u16()),
                None => format!("HTTP {status}"),
            };
            retry::announce(&self.app, &what, wait, &cause, attempt + 1, of);
            self.policy.timer.sleep(wait).await;
            retry::waited();
        }
    }

    pub async fn get(&self, path: &str, query: &[(&str, String)]) -> Result<Value> {
        self.send(Method::GET, path, query, None, false).await
    }

    /// Every item of a list endpoint (`items_key`: `users`, `groups`, `members`), page
    /// by page with `pageToken` until a page has no `nextPageToken`.
    pub async fn list(
        &self,
        path: &str,
        query: &[(&str, String)],
        items_key: &str,
    ) -> Result<Vec<Value>> {
        let mut out = Vec::new();
        let mut token: Option<String> = None;
        for _ in 0..MAX_PAGES {
            let mut q: Vec<(&str, String)> = query.to_vec();
            if let Some(t) = &token {
                q.push(("pageToken", t.clone()));
            }
            let page = self.get(path, &q).await?;
            match page.get(items_key) {
                Some(Value::Array(a)) => out.extend(a.iter().cloned()),
                None | Some(Value::Null) => {}
                Some(_) => return Err(anyhow!("GET {path}: `{items_key}` is not an array")),
            }
            token = page
                .get("nextPageToken")
                .and_then(Value::as_str)
                .filter(|t| !t.is_empty())
                .map(str::to_string);
            if token.is_none() {
                return Ok(out);
            }
        }
        Err(anyhow!(
            "GET {path}: more than {MAX_PAGES} pages; giving up"
        ))
    }
}

/// One request of a batch: method, path below the API base, JSON body.
pub type BatchItem = (Method, String, Option<Value>);

/// Requests per batch: Google accepts up to 1000 and advises far fewer.
pub const BATCH_SIZE: usize = 50;

/// The batch endpoint's path (multipart/mixed of `application/http` parts).
pub const BATCH_PATH: &str = "/batch/admin/directory_v1";

/// The multipart/mixed body of a batch request with `boundary`.
pub fn batch_body(items: &[BatchItem], boundary: &str) -> String {
    let mut out = String::new();
    for (i, (method, path, body)) in items.iter().enumerate() {
        out.push_str(&format!(
            "--{boundary}\r\nContent-Type: application/http\r\nContent-ID: <item{i}>\r\n\r\n{method} {path} HTTP/1.1\r\n"
        ));
        match body {
            Some(b) => {
                let text = b.to_string();
                out.push_str(&format!(
                    "Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{text}\r\n",
                    text.len()
                ));
            }
            None => out.push_str("\r\n"),
        }
    }
    out.push_str(&format!("--{boundary}--\r\n"));
    out
}

/// The parts of a batch response: for each `Content-ID: <response-itemN>`, the inner
/// status and body text. Parts without a readable status line are left out (their
/// requests count as unanswered).
pub fn parse_batch(body: &str, boundary: &str) -> BTreeMap<usize, (u16, String)> {
    let mut out = BTreeMap::new();
    let delim = format!("--{boundary}");
    for part in body.split(delim.as_str()).skip(1) {
        if part.starts_with("--") {
            break;
        }
        let part = part.replace("\r\n", "\n");
        let Some((head, inner)) = part.trim_start_matches('\n').split_once("\n\n") else {
            continue;
        };
        let index = head.lines().find_map(|l| {
            let (k, v) = l.split_once(':')?;
            if !k.trim().eq_ignore_ascii_case("content-id") {
                return None;
            }
            let v = v.trim().trim_start_matches('<').trim_end_matches('>');
            v.strip_prefix("response-")
                .unwrap_or(v)
                .strip_prefix("item")?
                .parse::<usize>()
                .ok()
        });
        let Some(index) = index else { continue };
        let (status_head, inner_body) = inner.split_once("\n\n").unwrap_or((inner, ""));
        let status = status_head
            .lines()
            .next()
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|c| c.parse::<u16>().ok());
        if let Some(status) = status {
            out.insert(index, (status, inner_body.trim().to_string()));
        }
    }
    out
}

/// The boundary of a `multipart/mixed; boundary=…` content type.
pub fn boundary_of(content_type: &str) -> Option<String> {
    content_type.split(';').find_map(|p| {
        let (k, v) = p.split_once('=')?;
        k.trim()
            .eq_ignore_ascii_case("boundary")
            .then(|| v.trim().trim_matches('"').to_string())
    })
}

impl Client {
    /// Sends `items` as one batch request (retried as a whole on transport failures,
    /// 5xx and 429). Each item's outcome: its body, or its [`GoogleError`]; an item the
    /// response does not answer is an error. `Err` when the batch itself failed (the
    /// caller then sends the items one by one).
    pub async fn batch(&self, items: &[BatchItem]) -> Result<Vec<Result<Value, GoogleError>>> {
        let boundary = format!("roster_batch_{}", uuid::Uuid::new_v4().simple());
        let text = batch_body(items, &boundary);
        let url = format!("{}{BATCH_PATH}", self.base);
        let mut attempt = 0u32;
        let (ct, body) = loop {
            attempt += 1;
            if crate::apps::kit::interrupt::requested() {
                return Err(anyhow!(
                    "POST {BATCH_PATH}: not sent, the apply was interrupted"
                ));
            }
            let token = self.tokens.token().await?;
            self.sent.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let sent = self
                .http
                .post(&url)
                .bearer_auth(token.expose())
                .header(
                    reqwest::header::CONTENT_TYPE,
                    format!("multipart/mixed; boundary={boundary}"),
                )
                .body(text.clone())
                .send()
                .await;
            let why = match sent {
                Ok(r) if r.status().is_success() => {
                    let ct = r
                        .headers()
                        .get(reqwest::header::CONTENT_TYPE)
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or("")
                        .to_string();
                    break (ct, read_body(r).await?);
                }
                Ok(r)
                    if r.status() == StatusCode::TOO_MANY_REQUESTS
                        || r.status().is_server_error() =>
                {
                    format!("HTTP {}", r.status())
                }
                Ok(r) => {
                    let status = r.status().as_u16();
                    let t = read_body(r).await.unwrap_or_default();
                    return Err(GoogleError::from_body("POST", BATCH_PATH, status, &t).into());
                }
                Err(e) => crate::apps::office365::auth::without_url(&e),
            };
            if attempt >= self.policy.max_attempts {
                return Err(anyhow!("POST {BATCH_PATH}: {why}"));
            }
            let d = self.policy.backoff(attempt);
            retry::announce(
                &self.app,
                &format!("POST {BATCH_PATH}"),
                d,
                &why,
                attempt + 1,
                self.policy.max_attempts,
            );
            self.policy.timer.sleep(d).await;
            retry::waited();
        };
        let boundary = boundary_of(&ct)
            .ok_or_else(|| anyhow!("POST {BATCH_PATH}: the answer is not multipart ({ct})"))?;
        let mut parts = parse_batch(&body, &boundary);
        Ok(items
            .iter()
            .enumerate()
            .map(|(i, (method, path, _))| match parts.remove(&i) {
                Some((status, text)) if (200..300).contains(&status) => {
                    Ok(serde_json::from_str(&text).unwrap_or(Value::Null))
                }
                Some((status, text)) => {
                    Err(GoogleError::from_body(method.as_str(), path, status, &text))
                }
                None => Err(GoogleError {
                    method: method.to_string(),
                    path: path.clone(),
                    status: 0,
                    reason: Some("unanswered".into()),
                    message: Some("the batch response has no part for this request".into()),
                }),
            })
            .collect())
    }
}

async fn read_body(resp: reqwest::Response) -> Result<String> {
    crate::apps::kit::body::read_text(resp, MAX_BODY, crate::apps::office365::auth::without_url)
        .await
}

/// Percent-encodes a key (an id or an email) for a URL path segment.
pub fn segment(s: &str) -> String {
    const SET: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
        .remove(b'-')
        .remove(b'_')
        .remove(b'.')
        .remove(b'~')
        .remove(b'@');
    percent_encoding::utf8_percent_encode(s, SET).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn google_errors_carry_reason_and_message() {
        let body = r#"{"error":{"code":403,"message":"Quota exceeded for quota metric 'Queries'","errors":[{"domain":"usageLimits","reason":"userRateLimitExceeded","message":"x"}],"status":"PERMISSION_DENIED"}}"#;
        let e = GoogleError::from_body("POST", "/admin/directory/v1/users", 403, body);
        assert_eq!(e.reason.as_deref(), Some("userRateLimitExceeded"));
        assert!(e.is_quota());
        assert_eq!(
            e.to_string(),
            "POST /admin/directory/v1/users: HTTP 403 (userRateLimitExceeded): Quota exceeded for quota metric 'Queries'"
        );
        let denied = GoogleError::from_body(
            "GET",
            "/x",
            403,
            r#"{"error":{"code":403,"message":"Not Authorized to access this resource/api","errors":[{"reason":"forbidden"}]}}"#,
        );
        assert!(!denied.is_quota(), "a plain 403 is permanent");
        assert!(GoogleError::from_body("GET", "/x", 429, "").is_quota());
        let dup = GoogleError::from_body(
            "POST",
            "/x",
            409,
            r#"{"error":{"code":409,"message":"Entity already exists.","errors":[{"reason":"duplicate"}]}}"#,
        );
        assert!(dup.is_duplicate());
        let html = GoogleError::from_body("GET", "/x", 502, "<html>bad gateway</html>");
        assert_eq!(html.message.as_deref(), Some("<html>bad gateway</html>"));
    }

    #[test]
    fn batches_are_multipart_http_and_answers_are_matched_by_content_id() {
        let items = vec![
            (
                Method::POST,
                "/admin/directory/v1/groups/g/members".to_string(),
                Some(serde_json::json!({"id": "u1"})),
            ),
            (
                Method::DELETE,
                "/admin/directory/v1/groups/g/members/u2".to_string(),
                None,
            ),
        ];
        let body = batch_body(&items, "B");
        assert!(body.starts_with("--B\r\nContent-Type: application/http\r\nContent-ID: <item0>\r\n\r\nPOST /admin/directory/v1/groups/g/members HTTP/1.1\r\n"), "{body}");
        assert!(
            body.contains("DELETE /admin/directory/v1/groups/g/members/u2 HTTP/1.1"),
            "{body}"
        );
        assert!(body.ends_with("--B--\r\n"));
        let answer = "--batch_x\r\nContent-Type: application/http\r\nContent-ID: <response-item1>\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n\r\n--batch_x\r\nContent-Type: application/http\r\nContent-ID: <response-item0>\r\n\r\nHTTP/1.1 409 Conflict\r\nContent-Type: application/json\r\n\r\n{\"error\":{\"code\":409,\"message\":\"Member already exists.\",\"errors\":[{\"reason\":\"duplicate\"}]}}\r\n--batch_x--\r\n";
        assert_eq!(
            boundary_of("multipart/mixed; boundary=batch_x").as_deref(),
            Some("batch_x")
        );
        let parts = parse_batch(answer, "batch_x");
        assert_eq!(parts[&1].0, 204);
        assert_eq!(parts[&0].0, 409);
        let e = GoogleError::from_body("POST", "/x", parts[&0].0, &parts[&0].1);
        assert!(e.is_duplicate(), "{e}");
    }

    #[test]
    fn segments_keep_emails_readable() {
        assert_eq!(segment("a.b@example.com"), "a.b@example.com");
        assert_eq!(segment("a/b c"), "a%2Fb%20c");
    }
}
