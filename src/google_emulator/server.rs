//! The HTTP side: routing (token endpoint, Directory API, batch, stats), bearer checks,
//! seeded quota-fault injection, eventual consistency after creates, HTTP/HTTPS serving
//! and debounced atomic persistence of the directory (the Graph emulator's writer).

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::Response;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::{Value, json};

use super::auth::{self, Grant};
use super::batch;
use super::directory::{ApiRequest, CallCtx, Directory};
use super::error::{ApiError, OAuthError};
use super::{GoogleEmulatorConfig, GoogleEmulatorHandle, RecordedCall, Stats};

const MAX_BODY: usize = 16 * 1024 * 1024;
const JSON_CT: &str = "application/json; charset=UTF-8";
const API_PREFIX: &str = "/admin/directory/v1/";

struct TokenInfo {
    grant: Grant,
    expires: Instant,
}

struct Inner {
    dir: Directory,
    /// Created objects still within the replication-lag window.
    recent: HashMap<String, Instant>,
    tokens: HashMap<String, TokenInfo>,
    rng: ChaCha8Rng,
    calls: Vec<RecordedCall>,
}

pub(crate) struct Shared {
    config: GoogleEmulatorConfig,
    inner: Mutex<Inner>,
    requests: AtomicU64,
    http_requests: AtomicU64,
    batches: AtomicU64,
    writes: AtomicU64,
    faults: AtomicU64,
    token_requests: AtomicU64,
    scheme: &'static str,
    fallback_host: String,
    dirty: AtomicBool,
    notify: tokio::sync::Notify,
    save_lock: tokio::sync::Mutex<()>,
    tmp_counter: AtomicU64,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn stats(&self) -> Stats {
        Stats {
            requests: self.requests.load(Ordering::Relaxed),
            http_requests: self.http_requests.load(Ordering::Relaxed),
            batches: self.batches.load(Ordering::Relaxed),
            writes: self.writes.load(Ordering::Relaxed),
            faults: self.faults.load(Ordering::Relaxed),
            token_requests: self.token_requests.load(Ordering::Relaxed),
        }
    }

    pub fn directory(&self) -> Directory {
        self.lock().dir.clone()
    }

    pub fn calls(&self) -> Vec<RecordedCall> {
        self.lock().calls.clone()
    }

    fn mark_dirty(&self) {
        self.dirty.store(true, Ordering::SeqCst);
        self.notify.notify_one();
    }
}

fn load_directory(config: &GoogleEmulatorConfig) -> anyhow::Result<(Directory, bool)> {
    if let Some(path) = &config.state_file
        && path.exists()
    {
        let bytes = std::fs::read(path)
            .with_context(|| format!("reading emulator state file {}", path.display()))?;
        let mut d: Directory = serde_json::from_slice(&bytes).with_context(|| {
            format!(
                "emulator state file {} is not a Google emulator directory",
                path.display()
            )
        })?;
        d.merge_domains(&config.domains);
        return Ok((d, false));
    }
    Ok((Directory::new(&config.customer_id, &config.domains), true))
}

pub(crate) async fn start(
    config: GoogleEmulatorConfig,
    listen: SocketAddr,
) -> anyhow::Result<GoogleEmulatorHandle> {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    anyhow::ensure!(
        !config.domains.is_empty(),
        "the Google emulator needs at least one domain"
    );
    let (dir, fresh) = load_directory(&config)?;
    let std_listener =
        std::net::TcpListener::bind(listen).with_context(|| format!("binding {listen}"))?;
    std_listener.set_nonblocking(true)?;
    let local_addr = std_listener.local_addr()?;
    let scheme = if config.tls.is_some() {
        "https"
    } else {
        "http"
    };
    let shared = Arc::new(Shared {
        inner: Mutex::new(Inner {
            dir,
            recent: HashMap::new(),
            tokens: HashMap::new(),
            rng: ChaCha8Rng::seed_from_u64(config.seed),
            calls: Vec::new(),
        }),
        requests: AtomicU64::new(0),
        http_requests: AtomicU64::new(0),
        batches: AtomicU64::new(0),
        writes: AtomicU64::new(0),
        faults: AtomicU64::new(0),
        token_requests: AtomicU64::new(0),
        scheme,
        fallback_host: local_addr.to_string(),
        dirty: AtomicBool::new(false),
        notify: tokio::sync::Notify::new(),
        save_lock: tokio::sync::Mutex::new(()),
        tmp_counter: AtomicU64::new(0),
        config,
    });
    if fresh && shared.config.state_file.is_some() {
        save_now(&shared).await?;
    }
    let app = axum::Router::new()
        .fallback(handle)
        .with_state(shared.clone());
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let server = match &shared.config.tls {
        Some((cert, key)) => {
            let tls = axum_server::tls_rustls::RustlsConfig::from_pem_file(cert, key)
                .await
                .with_context(|| {
                    format!(
                        "loading TLS certificate {} and key {}",
                        cert.display(),
                        key.display()
                    )
                })?;
            let handle = axum_server::Handle::new();
            let h2 = handle.clone();
            let acceptor = axum_server::tls_rustls::RustlsAcceptor::new(tls)
                .acceptor(axum_server::accept::NoDelayAcceptor::new());
            let srv = axum_server::from_tcp(std_listener)?
                .acceptor(acceptor)
                .handle(handle);
            tokio::spawn(async move {
                tokio::spawn(async move {
                    let _ = rx.await;
                    h2.graceful_shutdown(Some(Duration::from_secs(2)));
                });
                let _ = srv.serve(app.into_make_service()).await;
            })
        }
        None => {
            use axum::serve::ListenerExt as _;
            let listener = tokio::net::TcpListener::from_std(std_listener)?.tap_io(|tcp| {
                let _ = tcp.set_nodelay(true);
            });
            tokio::spawn(async move {
                let _ = axum::serve(listener, app)
                    .with_graceful_shutdown(async move {
                        let _ = rx.await;
                    })
                    .await;
            })
        }
    };
    let persister = shared.config.state_file.as_ref().map(|_| {
        let sh = shared.clone();
        tokio::spawn(async move {
            loop {
                sh.notify.notified().await;
                tokio::time::sleep(Duration::from_millis(sh.config.persist_debounce_ms)).await;
                if sh.dirty.load(Ordering::SeqCst)
                    && let Err(e) = save_now(&sh).await
                {
                    tracing::warn!("google emulator: could not persist state: {e:#}");
                }
            }
        })
    });
    Ok(GoogleEmulatorHandle {
        base_url: format!("{scheme}://{local_addr}"),
        local_addr,
        shared,
        shutdown: Some(tx),
        server,
        persister,
    })
}

pub(crate) async fn save_if_needed(sh: &Arc<Shared>) -> anyhow::Result<()> {
    let missing = sh.config.state_file.as_ref().is_some_and(|p| !p.exists());
    if sh.dirty.load(Ordering::SeqCst) || missing {
        save_now(sh).await
    } else {
        Ok(())
    }
}

async fn save_now(sh: &Arc<Shared>) -> anyhow::Result<()> {
    let Some(path) = sh.config.state_file.clone() else {
        return Ok(());
    };
    let _guard = sh.save_lock.lock().await;
    sh.dirty.store(false, Ordering::SeqCst);
    let sh2 = sh.clone();
    let n = sh.tmp_counter.fetch_add(1, Ordering::Relaxed);
    tokio::task::spawn_blocking(move || -> anyhow::Result<()> {
        let bytes = serde_json::to_vec_pretty(&sh2.lock().dir)?;
        crate::emulator::server::write_atomic(&path, &bytes, n)
    })
    .await
    .context("persisting emulator state")??;
    Ok(())
}

// ---------------------------------------------------------------------------------------

fn header_str<'a>(h: &'a HeaderMap, name: &str) -> Option<&'a str> {
    h.get(name).and_then(|v| v.to_str().ok())
}

fn json_response(status: u16, body: &Value) -> Response {
    let mut r = Response::new(Body::from(body.to_string()));
    *r.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    r.headers_mut()
        .insert("content-type", HeaderValue::from_static(JSON_CT));
    r
}

fn error_response(e: &ApiError) -> Response {
    let mut r = json_response(e.code, &e.body());
    for (k, v) in &e.headers {
        if let Ok(v) = HeaderValue::from_str(v) {
            r.headers_mut().insert(*k, v);
        }
    }
    if e.code == 401 {
        r.headers_mut().insert(
            "www-authenticate",
            HeaderValue::from_static("Bearer realm=\"https://accounts.google.com/\""),
        );
    }
    r
}

fn base_for(sh: &Shared, uri: &axum::http::Uri, headers: &HeaderMap) -> String {
    let host = uri
        .authority()
        .map(|a| a.as_str())
        .or_else(|| header_str(headers, "host"))
        .filter(|h| {
            !h.is_empty()
                && h.len() < 256
                && h.chars()
                    .all(|c| c.is_ascii_alphanumeric() || ".-:[]".contains(c))
        })
        .unwrap_or(&sh.fallback_host);
    format!("{}://{}", sh.scheme, host)
}

/// RFC 3339 UTC with milliseconds, as Google writes times.
fn now_string() -> String {
    let t = time::OffsetDateTime::now_utc();
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second(),
        t.millisecond()
    )
}

async fn handle(State(sh): State<Arc<Shared>>, req: Request) -> Response {
    sh.http_requests.fetch_add(1, Ordering::Relaxed);
    let (parts, body) = req.into_parts();
    let body = match axum::body::to_bytes(body, MAX_BODY).await {
        Ok(b) => b,
        Err(_) => {
            return error_response(&ApiError::new(
                413,
                "uploadTooLarge",
                "The request is too large.",
            ));
        }
    };
    let path = parts.uri.path().to_string();
    let method = parts.method.as_str().to_string();
    let base = base_for(&sh, &parts.uri, &parts.headers);
    match (method.as_str(), path.as_str()) {
        ("GET", "/_emulator/stats") => json_response(200, &json!(sh.stats())),
        (_, "/token") => token(&sh, &method, &base, &body),
        (_, "/batch" | "/batch/admin/directory_v1") if sh.config.batch => {
            if method != "POST" {
                return error_response(&ApiError::method_not_allowed());
            }
            run_batch(&sh, &parts.headers, &body)
        }
        (_, p) if p.starts_with(API_PREFIX) => {
            let grant = match authorize(&sh, header_str(&parts.headers, "authorization")) {
                Ok(g) => g,
                Err(e) => return error_response(&e),
            };
            let call = ApiRequest {
                method,
                path: p[API_PREFIX.len()..].to_string(),
                query: url::form_urlencoded::parse(parts.uri.query().unwrap_or("").as_bytes())
                    .into_owned()
                    .collect(),
                body: body.to_vec(),
                if_match: header_str(&parts.headers, "if-match").map(str::to_string),
            };
            match run_call(&sh, &grant, &call) {
                Ok((204, _)) => {
                    let mut r = Response::new(Body::empty());
                    *r.status_mut() = StatusCode::NO_CONTENT;
                    r
                }
                Ok((status, body)) => json_response(status, &body.unwrap_or(Value::Null)),
                Err(e) => error_response(&e),
            }
        }
        _ => error_response(&ApiError::not_found("the requested URL").with_url(&path)),
    }
}

impl ApiError {
    fn with_url(mut self, path: &str) -> ApiError {
        self.message = format!("The requested URL {path} was not found on this server.");
        self
    }
}

fn token(sh: &Shared, method: &str, base: &str, form: &[u8]) -> Response {
    sh.token_requests.fetch_add(1, Ordering::Relaxed);
    if method != "POST" {
        let e = OAuthError::invalid_request("The token endpoint takes POST.");
        return json_response(405, &e.body());
    }
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let token_url = format!("{base}/token");
    // The lock is released before the match: a guard borrowed in the scrutinee would
    // live through the arms, and the success arm locks again.
    let verified = {
        let inner = sh.lock();
        auth::verify(
            &sh.config.service_accounts,
            &inner.dir.domains,
            &token_url,
            now,
            form,
        )
    };
    match verified {
        Ok(grant) => {
            let access = format!(
                "ya29.emu.{}{}",
                uuid::Uuid::new_v4().simple(),
                uuid::Uuid::new_v4().simple()
            );
            let life = sh.config.token_lifetime_secs.max(1);
            let mut inner = sh.lock();
            let now_i = Instant::now();
            inner.tokens.retain(|_, t| t.expires > now_i);
            inner.tokens.insert(
                access.clone(),
                TokenInfo {
                    grant,
                    expires: now_i + Duration::from_secs(life as u64),
                },
            );
            json_response(
                200,
                &json!({"access_token": access, "expires_in": life, "token_type": "Bearer"}),
            )
        }
        Err(e) => json_response(e.status, &e.body()),
    }
}

/// What the bearer token grants, or the error Google answers.
fn authorize(sh: &Shared, header: Option<&str>) -> Result<Grant, ApiError> {
    let Some(h) = header else {
        return Err(ApiError::login_required());
    };
    let Some(tok) = h
        .strip_prefix("Bearer ")
        .or_else(|| h.strip_prefix("bearer "))
    else {
        return Err(ApiError::invalid_credentials());
    };
    let inner = sh.lock();
    match inner.tokens.get(tok.trim()) {
        Some(t) if t.expires > Instant::now() => {
            if t.grant.subject.is_none() {
                // A service account without domain-wide delegation is no administrator.
                return Err(ApiError::forbidden());
            }
            Ok(t.grant.clone())
        }
        _ => Err(ApiError::invalid_credentials()),
    }
}

/// One Directory API call (a request or a batch part), with fault injection and
/// replication lag.
fn run_call(
    sh: &Shared,
    grant: &Grant,
    call: &ApiRequest,
) -> Result<(u16, Option<Value>), ApiError> {
    sh.requests.fetch_add(1, Ordering::Relaxed);
    let scopes = &grant.scopes;
    let mut inner = sh.lock();
    if sh.config.record_calls {
        inner.calls.push(RecordedCall {
            client_email: grant.client_email.clone(),
            method: call.method.clone(),
            path: call.path.clone(),
            query: call.query.clone(),
            body: serde_json::from_slice(&call.body).unwrap_or(Value::Null),
        });
    }
    if sh.config.fault_rate > 0.0 && inner.rng.random::<f64>() < sh.config.fault_rate {
        let kind = inner.rng.random_range(0..3u8);
        drop(inner);
        sh.faults.fetch_add(1, Ordering::Relaxed);
        return Err(quota_fault(kind));
    }
    let lag = Duration::from_millis(sh.config.replication_lag_ms);
    let now = Instant::now();
    inner.recent.retain(|_, t| now.duration_since(*t) < lag);
    let hidden: HashSet<String> = inner.recent.keys().cloned().collect();
    let ctx = CallCtx {
        now: now_string(),
        hidden: &hidden,
        scopes,
        page_cap: sh.config.max_page_size,
    };
    let r = inner.dir.call(&ctx, call)?;
    if let Some(id) = &r.created
        && !lag.is_zero()
    {
        inner.recent.insert(id.clone(), now);
    }
    drop(inner);
    if r.wrote {
        sh.writes.fetch_add(1, Ordering::Relaxed);
        sh.mark_dirty();
    }
    Ok((r.status, r.body))
}

/// The quota errors Google documents for the Directory API ("Limits and quotas",
/// "Error codes"): 429 `rateLimitExceeded`, 403 `rateLimitExceeded` and 403
/// `userRateLimitExceeded` in the `usageLimits` domain.
pub fn quota_fault(kind: u8) -> ApiError {
    match kind {
        0 => ApiError::new(
            429,
            "rateLimitExceeded",
            "Quota exceeded for quota metric 'Queries' and limit 'Queries per minute per user' of service 'admin.googleapis.com' for consumer 'project_number:000000000000'.",
        ),
        1 => {
            ApiError::new(403, "rateLimitExceeded", "Rate Limit Exceeded").in_domain("usageLimits")
        }
        _ => ApiError::new(403, "userRateLimitExceeded", "User Rate Limit Exceeded")
            .in_domain("usageLimits"),
    }
}

fn run_batch(sh: &Shared, headers: &HeaderMap, body: &[u8]) -> Response {
    sh.batches.fetch_add(1, Ordering::Relaxed);
    let ct = header_str(headers, "content-type").unwrap_or_default();
    let Some(boundary) = batch::boundary(ct) else {
        return error_response(&ApiError::invalid(
            "The batch request must be multipart/mixed with a boundary.",
        ));
    };
    let parts = match batch::parse(body, &boundary) {
        Ok(p) => p,
        Err(e) => {
            return error_response(&ApiError::invalid(format!(
                "Invalid multipart batch request: {e}"
            )));
        }
    };
    if parts.is_empty() {
        return error_response(&ApiError::invalid(
            "Invalid multipart request with 0 mime parts.",
        ));
    }
    if parts.len() > batch::MAX_PARTS {
        return error_response(&ApiError::invalid(format!(
            "A batch request cannot contain more than {} requests.",
            batch::MAX_PARTS
        )));
    }
    let outer_auth = header_str(headers, "authorization");
    let mut answers = Vec::with_capacity(parts.len());
    for p in &parts {
        let result = part_call(sh, p, outer_auth);
        let (status, body) = match result {
            Ok((s, b)) => (s, b.map(|b| b.to_string())),
            Err(e) => (e.code, Some(e.body().to_string())),
        };
        answers.push(batch::Answer {
            content_id: p.content_id.clone(),
            status,
            headers: Vec::new(),
            body: if status == 204 { None } else { body },
        });
    }
    let n = sh.batches.load(Ordering::Relaxed);
    let boundary = format!("batch_{n}_{}", uuid::Uuid::new_v4().simple());
    let mut r = Response::new(Body::from(batch::write(&answers, &boundary)));
    if let Ok(v) = HeaderValue::from_str(&format!("multipart/mixed; boundary={boundary}")) {
        r.headers_mut().insert("content-type", v);
    }
    r
}

fn part_call(
    sh: &Shared,
    p: &batch::Part,
    outer_auth: Option<&str>,
) -> Result<(u16, Option<Value>), ApiError> {
    let grant = authorize(sh, p.header("authorization").or(outer_auth))?;
    // The target is a path or an absolute URL.
    let target = match p.target.find("://") {
        Some(i) => {
            let rest = &p.target[i + 3..];
            rest.find('/').map(|j| &rest[j..]).unwrap_or("/")
        }
        None => p.target.as_str(),
    };
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let Some(rel) = path.strip_prefix(API_PREFIX) else {
        return Err(ApiError::not_found("the requested URL").with_url(path));
    };
    let call = ApiRequest {
        method: p.method.clone(),
        path: rel.to_string(),
        query: url::form_urlencoded::parse(query.as_bytes())
            .into_owned()
            .collect(),
        body: p.body.clone(),
        if_match: p.header("if-match").map(str::to_string),
    };
    run_call(sh, &grant, &call)
}
