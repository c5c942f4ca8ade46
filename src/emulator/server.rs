//! The HTTP side of the emulator: routing (token endpoint, Graph, `$batch`, stats),
//! request ids, bearer checks, throttling, seeded fault injection, replication lag,
//! HTTP/HTTPS serving and debounced atomic persistence of the tenant.

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::Response;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::{Map, Value, json};
use uuid::Uuid;

use super::auth::{self, AuthConfig};
use super::clock::Clock;
use super::error::{GraphError, graph_date};
use super::graph::{self, Ctx};
use super::model::Tenant;
use super::throttle::{self, Throttle};
use super::{EmulatorConfig, EmulatorHandle, Stats};

const MAX_BODY: usize = 4 * 1024 * 1024;
const JSON_CT: &str = "application/json;odata.metadata=minimal;odata.streaming=true;IEEE754Compatible=false;charset=utf-8";

struct Inner {
    tenant: Tenant,
    /// Created objects still within the replication-lag window.
    recent: HashMap<Uuid, Instant>,
    throttles: HashMap<String, Throttle>,
    rng: ChaCha8Rng,
}

/// State shared by all connections.
pub(crate) struct Shared {
    pub config: EmulatorConfig,
    inner: Mutex<Inner>,
    requests: AtomicU64,
    http_requests: AtomicU64,
    throttled: AtomicU64,
    /// The longest Retry-After of a 429 so far, in milliseconds (rounded up, as sent).
    max_retry_after_ms: AtomicU64,
    writes: AtomicU64,
    faults: AtomicU64,
    token_requests: AtomicU64,
    signing_key: &'static super::keys::SigningKey,
    scheme: &'static str,
    fallback_host: String,
    dirty: AtomicBool,
    notify: tokio::sync::Notify,
    save_lock: tokio::sync::Mutex<()>,
    tmp_counter: AtomicU64,
    /// The emulator's clock: the wall clock unless a test moved it.
    pub clock: Arc<Clock>,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn stats(&self) -> Stats {
        Stats {
            requests: self.requests.load(Ordering::Relaxed),
            http_requests: self.http_requests.load(Ordering::Relaxed),
            throttled: self.throttled.load(Ordering::Relaxed),
            max_retry_after_ms: self.max_retry_after_ms.load(Ordering::Relaxed),
            writes: self.writes.load(Ordering::Relaxed),
            faults: self.faults.load(Ordering::Relaxed),
            token_requests: self.token_requests.load(Ordering::Relaxed),
        }
    }

    /// Counts a 429 answer that asks to wait `wait` seconds.
    fn note_throttled(&self, wait: f64) {
        self.throttled.fetch_add(1, Ordering::Relaxed);
        let ms = (wait.max(0.0) * 1000.0 - 1e-6)
            .ceil()
            .clamp(1.0, u64::MAX as f64) as u64;
        self.max_retry_after_ms.fetch_max(ms, Ordering::Relaxed);
    }

    pub fn tenant_id(&self) -> String {
        self.lock().tenant.tenant_id.to_string()
    }

    fn mark_dirty(&self) {
        self.dirty.store(true, Ordering::SeqCst);
        self.notify.notify_one();
    }
}

/// Load the tenant from the state file, or make a new one.
fn load_tenant(config: &EmulatorConfig) -> anyhow::Result<(Tenant, bool)> {
    if let Some(path) = &config.state_file
        && path.exists()
    {
        let bytes = std::fs::read(path)
            .with_context(|| format!("reading emulator state file {}", path.display()))?;
        let mut t = Tenant::from_json_bytes(&bytes).with_context(|| {
            format!(
                "emulator state file {} is not a valid tenant",
                path.display()
            )
        })?;
        t.merge_config(&config.domains, &config.skus);
        return Ok((t, false));
    }
    let mut t = Tenant::new(&config.tenant, &config.domains, &config.skus);
    if config.realistic_tenant {
        super::realistic::seed(&mut t);
    }
    Ok((t, true))
}

pub(crate) async fn start(
    config: EmulatorConfig,
    listen: SocketAddr,
) -> anyhow::Result<EmulatorHandle> {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let (tenant, fresh) = load_tenant(&config)?;
    let std_listener =
        std::net::TcpListener::bind(listen).with_context(|| format!("binding {listen}"))?;
    std_listener.set_nonblocking(true)?;
    let local_addr = std_listener.local_addr()?;
    let scheme = if config.tls.is_some() {
        "https"
    } else {
        "http"
    };
    let key = super::keys::SigningKey::shared().map_err(|e| anyhow::anyhow!(e))?;
    let shared = Arc::new(Shared {
        inner: Mutex::new(Inner {
            tenant,
            recent: HashMap::new(),
            throttles: HashMap::new(),
            rng: ChaCha8Rng::seed_from_u64(config.seed),
        }),
        requests: AtomicU64::new(0),
        http_requests: AtomicU64::new(0),
        throttled: AtomicU64::new(0),
        max_retry_after_ms: AtomicU64::new(0),
        writes: AtomicU64::new(0),
        faults: AtomicU64::new(0),
        token_requests: AtomicU64::new(0),
        signing_key: key,
        scheme,
        fallback_host: local_addr.to_string(),
        dirty: AtomicBool::new(false),
        notify: tokio::sync::Notify::new(),
        save_lock: tokio::sync::Mutex::new(()),
        tmp_counter: AtomicU64::new(0),
        clock: Arc::new(Clock::default()),
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
            // TCP_NODELAY on every accepted socket: a response written in several pieces
            // (headers, body, HTTP/2 frames) must not wait on Nagle/delayed-ACK.
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
            // TCP_NODELAY on every accepted socket, as on the HTTPS path.
            let listener = tokio::net::TcpListener::from_std(std_listener)?.tap_io(|tcp| {
                if let Err(e) = tcp.set_nodelay(true) {
                    tracing::debug!("emulator: could not set TCP_NODELAY: {e}");
                }
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
            // Saving a large tenant holds the tenant lock while it is serialized; keep
            // that to a small share of the time by spacing saves at least 4x their cost.
            let mut last_cost = Duration::ZERO;
            loop {
                sh.notify.notified().await;
                let wait = Duration::from_millis(sh.config.persist_debounce_ms).max(last_cost * 4);
                tokio::time::sleep(wait).await;
                if sh.dirty.load(Ordering::SeqCst) {
                    let t0 = Instant::now();
                    if let Err(e) = save_now(&sh).await {
                        tracing::warn!("emulator: could not persist state: {e:#}");
                    }
                    last_cost = t0.elapsed();
                }
            }
        })
    });
    Ok(EmulatorHandle {
        base_url: format!("{scheme}://{local_addr}"),
        local_addr,
        shared,
        shutdown: Some(tx),
        server,
        persister,
    })
}

/// Save at shutdown: when something changed since the last save, or the file is missing.
pub(crate) async fn save_if_needed(sh: &Arc<Shared>) -> anyhow::Result<()> {
    let missing = sh.config.state_file.as_ref().is_some_and(|p| !p.exists());
    if sh.dirty.load(Ordering::SeqCst) || missing {
        save_now(sh).await
    } else {
        Ok(())
    }
}

/// Write the tenant to the state file atomically (temp file in the same directory,
/// fsync, rename). A no-op without a state file.
pub(crate) async fn save_now(sh: &Arc<Shared>) -> anyhow::Result<()> {
    let Some(path) = sh.config.state_file.clone() else {
        return Ok(());
    };
    let _guard = sh.save_lock.lock().await;
    sh.dirty.store(false, Ordering::SeqCst);
    let sh2 = sh.clone();
    let n = sh.tmp_counter.fetch_add(1, Ordering::Relaxed);
    tokio::task::spawn_blocking(move || -> anyhow::Result<()> {
        let bytes = sh2.lock().tenant.to_json_bytes()?;
        write_atomic(&path, &bytes, n)
    })
    .await
    .context("persisting emulator state")??;
    Ok(())
}

pub(crate) fn write_atomic(path: &Path, bytes: &[u8], n: u64) -> anyhow::Result<()> {
    use std::io::Write;
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let name = path
        .file_name()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "state.json".into());
    let tmp = dir.join(format!(".{name}.tmp-{}-{n}", std::process::id()));
    let result = (|| -> anyhow::Result<()> {
        let mut f =
            std::fs::File::create(&tmp).with_context(|| format!("creating {}", tmp.display()))?;
        f.write_all(bytes)
            .with_context(|| format!("writing {}", tmp.display()))?;
        f.sync_all()
            .with_context(|| format!("syncing {}", tmp.display()))?;
        std::fs::rename(&tmp, path)
            .with_context(|| format!("renaming {} to {}", tmp.display(), path.display()))?;
        Ok(())
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

// ---------------------------------------------------------------------------------------
// Request handling
// ---------------------------------------------------------------------------------------

struct Ids {
    request_id: String,
    client_request_id: String,
    /// When the exchange started, on the emulator's clock.
    date: time::OffsetDateTime,
}

fn header_str<'a>(h: &'a HeaderMap, name: &str) -> Option<&'a str> {
    h.get(name).and_then(|v| v.to_str().ok())
}

fn finish(mut resp: Response, ids: &Ids) -> Response {
    let h = resp.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&ids.request_id) {
        h.insert("request-id", v);
    }
    if let Ok(v) = HeaderValue::from_str(&ids.client_request_id) {
        h.insert("client-request-id", v);
    }
    resp
}

fn json_response(status: u16, body: &Value, headers: &[(String, String)]) -> Response {
    let mut r = Response::new(Body::from(body.to_string()));
    *r.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    r.headers_mut()
        .insert("content-type", HeaderValue::from_static(JSON_CT));
    for (k, v) in headers {
        if let (Ok(k), Ok(v)) = (
            axum::http::HeaderName::try_from(k.as_str()),
            HeaderValue::from_str(v),
        ) {
            r.headers_mut().insert(k, v);
        }
    }
    r
}

fn error_response(e: &GraphError, ids: &Ids) -> Response {
    let body = e.body(
        &ids.request_id,
        &ids.client_request_id,
        &graph_date(ids.date),
    );
    json_response(e.status, &body, e.headers())
}

fn graph_response(r: graph::Resp) -> Response {
    match r.body {
        graph::Body::Json(v) => json_response(r.status, &v, &r.headers),
        graph::Body::Text(s) => {
            let mut resp = Response::new(Body::from(s));
            *resp.status_mut() = StatusCode::from_u16(r.status).unwrap_or(StatusCode::OK);
            resp.headers_mut()
                .insert("content-type", HeaderValue::from_static("text/plain"));
            resp
        }
        graph::Body::Empty => {
            let mut resp = Response::new(Body::empty());
            *resp.status_mut() = StatusCode::from_u16(r.status).unwrap_or(StatusCode::NO_CONTENT);
            for (k, v) in &r.headers {
                if let (Ok(k), Ok(v)) = (
                    axum::http::HeaderName::try_from(k.as_str()),
                    HeaderValue::from_str(v),
                ) {
                    resp.headers_mut().insert(k, v);
                }
            }
            resp
        }
    }
}

/// `scheme://host` for links: the Host the client used when it looks sane, else the
/// listening address.
fn base_for(sh: &Shared, uri: &axum::http::Uri, headers: &HeaderMap) -> String {
    // HTTP/2 carries the host in `:authority` (the URI), HTTP/1.1 in `Host`.
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

async fn handle(State(sh): State<Arc<Shared>>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let request_id = Uuid::new_v4().to_string();
    let client_request_id = header_str(&parts.headers, "client-request-id")
        .filter(|s| s.len() <= 128 && s.chars().all(|c| c.is_ascii_graphic()))
        .map(str::to_string)
        .unwrap_or_else(|| request_id.clone());
    let ids = Ids {
        request_id,
        client_request_id,
        date: sh.clock.now_utc(),
    };
    let path = parts.uri.path().to_string();
    if path == "/_emulator/stats" {
        let v = serde_json::to_value(sh.stats()).unwrap_or(Value::Null);
        return finish(json_response(200, &v, &[]), &ids);
    }
    // The clock control exists only on an emulator started with a test clock; otherwise
    // the path is answered like any other unknown path.
    if path == "/_emulator/clock" && sh.config.test_clock {
        let bytes = axum::body::to_bytes(body, MAX_BODY)
            .await
            .unwrap_or_default();
        return finish(clock_control(&sh, parts.method.as_str(), &bytes), &ids);
    }
    sh.http_requests.fetch_add(1, Ordering::Relaxed);
    let bytes = match axum::body::to_bytes(body, MAX_BODY).await {
        Ok(b) => b,
        Err(_) => {
            let e = GraphError::new(
                413,
                "Request_EntityTooLarge",
                "The request body exceeds the 4 MB limit.",
            );
            return finish(error_response(&e, &ids), &ids);
        }
    };
    let segs: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    let method = parts.method.as_str().to_ascii_uppercase();
    if let [tenant, "oauth2", "v2.0", "token"] = segs.as_slice() {
        return finish(token(&sh, &method, tenant, &bytes), &ids);
    }
    if let Some(r) = discovery(&sh, &parts.uri, &parts.headers, &method, &segs) {
        return finish(r, &ids);
    }
    // The test door: not Graph (docs/emulator.md, "The test door").
    if let ["_emulator", kind @ ("users" | "groups" | "domains")] = segs.as_slice() {
        let base = base_for(&sh, &parts.uri, &parts.headers);
        return finish(door(&sh, &base, &method, kind, &bytes, &ids), &ids);
    }
    // Of beta, only the role definitions are served: they carry `isPrivileged`, which
    // v1.0 does not have (api-reference/beta/resources/unifiedroledefinition.md).
    let beta_roles = matches!(
        segs.as_slice(),
        ["beta", "roleManagement", "directory", "roleDefinitions", ..]
    );
    match segs.first() {
        Some(&"v1.0") => {}
        Some(&"beta") if beta_roles => {}
        Some(v) if *v == "beta" => {
            let e = GraphError::odata_bad_request("The beta endpoint is not emulated; use v1.0.");
            return finish(error_response(&e, &ids), &ids);
        }
        _ => {
            let e = GraphError::odata_bad_request(format!(
                "Invalid version: {}",
                segs.first().copied().unwrap_or("")
            ));
            return finish(error_response(&e, &ids), &ids);
        }
    }
    // Seeded fault injection.
    if sh.config.fault_rate > 0.0 {
        let roll = {
            let mut inner = sh.lock();
            let hit = inner.rng.random::<f64>() < sh.config.fault_rate;
            if hit {
                Some(inner.rng.random_range(0..3u8))
            } else {
                None
            }
        };
        if let Some(kind) = roll {
            sh.faults.fetch_add(1, Ordering::Relaxed);
            return finish(fault(kind, &ids), &ids);
        }
    }
    let caller = match auth::check_bearer(
        header_str(&parts.headers, "authorization"),
        sh.signing_key,
        ids.date.unix_timestamp(),
    ) {
        Ok(c) => c,
        Err(e) => return finish(error_response(&e, &ids), &ids),
    };
    let base = base_for(&sh, &parts.uri, &parts.headers);
    if beta_roles {
        if method != "GET" {
            let e = GraphError::method_not_allowed();
            return finish(error_response(&e, &ids), &ids);
        }
        sh.requests.fetch_add(1, Ordering::Relaxed);
        let rel = path.strip_prefix("/beta").unwrap_or("");
        let r = graph::beta_role_definitions(&base, rel, parts.uri.query());
        return match r {
            Ok(r) => finish(graph_response(r), &ids),
            Err(e) => finish(error_response(&e, &ids), &ids),
        };
    }
    let rel = path.strip_prefix("/v1.0").unwrap_or("");
    if rel.trim_end_matches('/') == "/$batch" {
        if method != "POST" {
            return finish(
                error_response(&GraphError::method_not_allowed(), &ids),
                &ids,
            );
        }
        let resp = batch(&sh, &caller, &base, &bytes, &ids);
        return finish(resp, &ids);
    }
    sh.requests.fetch_add(1, Ordering::Relaxed);
    let opts = RequestOptions::from_headers(&parts.headers);
    match execute(
        &sh,
        &caller,
        &base,
        &method,
        rel,
        parts.uri.query(),
        &opts,
        &bytes,
    ) {
        Ok(r) => finish(graph_response(r), &ids),
        Err(e) => finish(error_response(&e, &ids), &ids),
    }
}

/// `POST /_emulator/clock` with `{"advance_ms": N}` or `{"set": "RFC 3339 date"}` moves
/// the emulator's clock and `{"freeze": true|false}` stops or restarts it; `GET` reads
/// it. Answers `{"now": …, "offset_ms": …, "frozen": …}`.
fn clock_control(sh: &Shared, method: &str, body: &[u8]) -> Response {
    let bad = |msg: &str| {
        json_response(
            400,
            &json!({"error": {"code": "BadRequest", "message": msg}}),
            &[],
        )
    };
    match method {
        "GET" => {}
        "POST" => {
            let Ok(Value::Object(m)) = serde_json::from_slice::<Value>(body) else {
                return bad("Expected a JSON object with advance_ms, set or freeze.");
            };
            if let Some(f) = m.get("freeze") {
                let Some(f) = f.as_bool() else {
                    return bad("freeze must be true or false.");
                };
                sh.clock.freeze(f);
            }
            match (m.get("advance_ms"), m.get("set")) {
                (None, None) => {}
                (Some(ms), None) => {
                    let Some(ms) = ms.as_u64() else {
                        return bad("advance_ms must be a non-negative integer.");
                    };
                    sh.clock.advance(Duration::from_millis(ms));
                }
                (None, Some(at)) => {
                    let Some(at) = at.as_str().and_then(|s| {
                        time::OffsetDateTime::parse(
                            s,
                            &time::format_description::well_known::Rfc3339,
                        )
                        .ok()
                    }) else {
                        return bad("set must be an RFC 3339 date and time.");
                    };
                    sh.clock.set(at);
                }
                _ => return bad("Give exactly one of advance_ms or set."),
            }
        }
        _ => {
            return json_response(
                405,
                &json!({"error": {"code": "MethodNotAllowed", "message": "Use GET or POST."}}),
                &[],
            );
        }
    }
    let now = sh
        .clock
        .now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default();
    json_response(
        200,
        &json!({"now": now, "offset_ms": sh.clock.offset_ms() as i64, "frozen": sh.clock.is_frozen()}),
        &[],
    )
}

/// `POST /_emulator/users|groups|domains`: the test door (not Graph), creating objects
/// with the properties Graph itself sets (synced users, mail-enabled security groups,
/// distribution lists, members of dynamic groups, federated domains).
fn door(
    sh: &Arc<Shared>,
    base: &str,
    method: &str,
    kind: &str,
    body: &[u8],
    ids: &Ids,
) -> Response {
    if method != "POST" {
        return error_response(&GraphError::method_not_allowed(), ids);
    }
    let mut inner = sh.lock();
    let hidden = HashSet::new();
    let no_roles: Vec<String> = Vec::new();
    let mut ctx = Ctx {
        base,
        now: sh.clock.now_utc(),
        hidden: &hidden,
        eventual: false,
        max_page: None,
        create_if_missing: false,
        return_minimal: false,
        delta_ttl_secs: sh.config.delta_token_ttl_secs,
        empty_user_lists: false,
        roles: &no_roles,
        created: Vec::new(),
    };
    let result = graph::door(&mut inner.tenant, &mut ctx, kind, body);
    drop(inner);
    match result {
        Ok(r) => {
            if r.wrote {
                sh.writes.fetch_add(1, Ordering::Relaxed);
                sh.mark_dirty();
            }
            graph_response(r)
        }
        Err(e) => error_response(&e, ids),
    }
}

fn fault(kind: u8, ids: &Ids) -> Response {
    match kind {
        0 => {
            let e = GraphError::new(
                503,
                "serviceNotAvailable",
                "Service unavailable. Please retry later.",
            )
            .with_header("Retry-After", "1");
            error_response(&e, ids)
        }
        1 => {
            let e = GraphError::new(
                504,
                "UnknownError",
                "The gateway did not receive a timely response from the upstream server.",
            );
            error_response(&e, ids)
        }
        _ => {
            // A dropped connection: the body fails before anything useful is sent, and the
            // connection is closed.
            let stream = futures::stream::once(async {
                Err::<Bytes, std::io::Error>(std::io::Error::new(
                    std::io::ErrorKind::ConnectionReset,
                    "injected fault",
                ))
            });
            let mut r = Response::new(Body::from_stream(stream));
            r.headers_mut()
                .insert("content-type", HeaderValue::from_static(JSON_CT));
            r
        }
    }
}

/// The names the tenant answers to on the identity endpoints (the configured name,
/// `NAME.onmicrosoft.com`, its domains) and its id.
fn tenant_names(sh: &Shared) -> (Vec<String>, String) {
    let inner = sh.lock();
    let t = &inner.tenant;
    let mut names = vec![
        sh.config.tenant.clone(),
        t.tenant_name.clone(),
        format!("{}.onmicrosoft.com", t.tenant_name),
    ];
    names.extend(t.domains.iter().map(|d| d.id.clone()));
    (names, t.tenant_id.to_string())
}

/// The OpenID Connect discovery document and the JWKS ([`super::keys`]):
/// `GET /{tenant}/v2.0/.well-known/openid-configuration`,
/// `GET /{tenant}/discovery/v2.0/keys` and the tenant-independent
/// `GET /common/discovery/v2.0/keys` / `/discovery/v2.0/keys`. `None` for other paths.
fn discovery(
    sh: &Shared,
    uri: &axum::http::Uri,
    headers: &HeaderMap,
    method: &str,
    segs: &[&str],
) -> Option<Response> {
    let (tenant, keys) = match segs {
        [tenant, "v2.0", ".well-known", "openid-configuration"] => (Some(*tenant), false),
        [tenant, "discovery", "v2.0", "keys"] => (Some(*tenant), true),
        ["discovery", "v2.0", "keys"] => (None, true),
        _ => return None,
    };
    let now = sh.clock.now_utc();
    let trace = Uuid::new_v4().to_string();
    let corr = Uuid::new_v4().to_string();
    if method != "GET" {
        let e = auth_error_405();
        return Some(json_response(e.status, &e.body(&trace, &corr, now), &[]));
    }
    let (names, tenant_id) = tenant_names(sh);
    let base = base_for(sh, uri, headers);
    let common = ["common", "organizations"];
    let known = |t: &str| {
        names.iter().any(|n| n.eq_ignore_ascii_case(t)) || tenant_id.eq_ignore_ascii_case(t)
    };
    match tenant {
        Some(t) if keys && common.contains(&t) => {}
        Some(t) if !known(t) => {
            let e = auth::OAuthError::tenant_not_found(t);
            return Some(json_response(e.status, &e.body(&trace, &corr, now), &[]));
        }
        _ => {}
    }
    let issuer = super::keys::issuer(&base, &tenant_id);
    let body = if keys {
        sh.signing_key.jwks(&issuer)
    } else {
        super::keys::openid_configuration(&base, &tenant_id)
    };
    Some(json_response(200, &body, &[]))
}

fn token(sh: &Arc<Shared>, method: &str, tenant: &str, form: &[u8]) -> Response {
    sh.token_requests.fetch_add(1, Ordering::Relaxed);
    let trace = Uuid::new_v4().to_string();
    let corr = Uuid::new_v4().to_string();
    let now = sh.clock.now_utc();
    if method != "POST" {
        let e = auth_error_405();
        return json_response(e.status, &e.body(&trace, &corr, now), &[]);
    }
    let (names, tenant_id) = tenant_names(sh);
    let local = format!("{}://{}", sh.scheme, sh.fallback_host);
    let mut audiences = Vec::new();
    for n in names.iter().chain(std::iter::once(&tenant_id)) {
        audiences.push(format!(
            "https://login.microsoftonline.com/{n}/oauth2/v2.0/token"
        ));
        audiences.push(format!("{local}/{n}/oauth2/v2.0/token"));
        audiences.push(format!(
            "https://localhost:{}/{n}/oauth2/v2.0/token",
            sh.fallback_host.rsplit(':').next().unwrap_or("")
        ));
        audiences.push(format!(
            "http://localhost:{}/{n}/oauth2/v2.0/token",
            sh.fallback_host.rsplit(':').next().unwrap_or("")
        ));
    }
    audiences.push(format!(
        "https://login.microsoftonline.com/{tenant_id}/v2.0"
    ));
    // A read-only app holds the read permissions only (unless grants say otherwise).
    let grants: Vec<(String, String)> = if sh.config.read_only && sh.config.grants.is_empty() {
        ["User.Read.All", "Group.Read.All"]
            .iter()
            .map(|p| ("*".to_string(), p.to_string()))
            .collect()
    } else {
        sh.config.grants.clone()
    };
    let cfg = AuthConfig {
        tenant_names: names,
        tenant_id,
        clients: &sh.config.clients,
        certificates: &sh.config.certificates,
        federated: &sh.config.federated,
        assertion_audiences: audiences,
        token_lifetime_secs: sh.config.token_lifetime_secs,
        signing_key: sh.signing_key,
        grants: &grants,
    };
    match auth::token(&cfg, tenant, form, now.unix_timestamp()) {
        Ok(v) => {
            let mut r = json_response(200, &v, &[]);
            r.headers_mut().insert(
                "content-type",
                HeaderValue::from_static("application/json; charset=utf-8"),
            );
            r
        }
        Err(e) => {
            let mut r = json_response(e.status, &e.body(&trace, &corr, now), &[]);
            r.headers_mut().insert(
                "content-type",
                HeaderValue::from_static("application/json; charset=utf-8"),
            );
            r
        }
    }
}

fn auth_error_405() -> auth::OAuthError {
    auth::OAuthError {
        status: 405,
        error: "invalid_request",
        code: 900561,
        description: "The endpoint only accepts POST requests.".into(),
    }
}

/// Header-derived options of one (possibly batched) request.
#[derive(Default, Clone)]
struct RequestOptions {
    eventual: bool,
    max_page: Option<usize>,
    /// `Prefer: create-if-missing` (upsert by alternate key).
    create_if_missing: bool,
    /// `Prefer: return=minimal` (delta rounds with only the changed properties).
    return_minimal: bool,
    content_type: Option<String>,
}

impl RequestOptions {
    fn from_headers(h: &HeaderMap) -> Self {
        RequestOptions {
            eventual: header_str(h, "consistencylevel")
                .is_some_and(|v| v.trim().eq_ignore_ascii_case("eventual")),
            max_page: header_str(h, "prefer").and_then(parse_prefer),
            create_if_missing: header_str(h, "prefer").is_some_and(prefers_create_if_missing),
            return_minimal: header_str(h, "prefer").is_some_and(prefers_return_minimal),
            content_type: header_str(h, "content-type").map(str::to_string),
        }
    }

    fn from_json(h: Option<&Value>) -> Self {
        let mut o = RequestOptions::default();
        if let Some(Value::Object(m)) = h {
            for (k, v) in m {
                let Some(v) = v.as_str() else { continue };
                match k.to_ascii_lowercase().as_str() {
                    "consistencylevel" => o.eventual = v.trim().eq_ignore_ascii_case("eventual"),
                    "prefer" => {
                        o.max_page = parse_prefer(v);
                        o.create_if_missing = prefers_create_if_missing(v);
                        o.return_minimal = prefers_return_minimal(v);
                    }
                    "content-type" => o.content_type = Some(v.to_string()),
                    _ => {}
                }
            }
        }
        o
    }
}

fn prefers_create_if_missing(v: &str) -> bool {
    v.split(',')
        .any(|p| p.trim().eq_ignore_ascii_case("create-if-missing"))
}

fn prefers_return_minimal(v: &str) -> bool {
    v.split(',').any(|p| {
        p.split_once('=').is_some_and(|(k, v)| {
            k.trim().eq_ignore_ascii_case("return") && v.trim().eq_ignore_ascii_case("minimal")
        })
    })
}

fn parse_prefer(v: &str) -> Option<usize> {
    v.split(',').find_map(|p| {
        let p = p.trim();
        p.strip_prefix("odata.maxpagesize=")
            .and_then(|n| n.trim().parse::<usize>().ok())
            .map(|n| n.clamp(1, 999))
    })
}

/// Run one Graph request (plain or batched) under the tenant lock: throttling, replication
/// lag, the handler, persistence marking and counters.
#[allow(clippy::too_many_arguments)]
fn execute(
    sh: &Arc<Shared>,
    caller: &auth::Caller,
    base: &str,
    method: &str,
    rel: &str,
    query: Option<&str>,
    opts: &RequestOptions,
    body: &[u8],
) -> Result<graph::Resp, GraphError> {
    let app = caller.app.as_str();
    let class = graph::classify(method, rel);
    let ru = throttle::resource_units(class, throttle::Modifiers::from_query(query));
    let write = class.write;
    if write && (sh.config.read_only || !graph::write_permitted(rel, &caller.roles)) {
        return Err(GraphError::forbidden());
    }
    // A throttled answer names the budget (concepts/throttling-limits.md, "Throttled
    // responses requests"): `x-ms-throttle-scope` `<Scope>/<Limit>/<ApplicationId>/<TenantId>`
    // and `x-ms-throttle-information`.
    let throttled = |wait: f64, exceeded: throttle::Exceeded, tenant: &str| {
        GraphError::throttled(wait)
            .with_header("x-ms-resource-unit", ru.to_string())
            .with_header(
                "x-ms-throttle-scope",
                format!("Tenant_Application/{}/{app}/{tenant}", exceeded.limit()),
            )
            .with_header("x-ms-throttle-information", exceeded.information())
    };
    if let Some(wait) = sh.config.fault_throttle {
        sh.note_throttled(wait);
        let tenant = sh.tenant_id();
        return Err(throttled(wait, throttle::Exceeded::ResourceUnits, &tenant));
    }
    let now = sh.clock.instant();
    let mut inner = sh.lock();
    let mut used = 0.0;
    if sh.config.ru_per_10s.is_some() || sh.config.writes_per_150s.is_some() {
        let th = inner
            .throttles
            .entry(app.to_string())
            .or_insert_with(|| Throttle::new(sh.config.ru_per_10s, sh.config.writes_per_150s, now));
        match th.admit(ru, write, now) {
            Ok(u) => used = u,
            Err(refusal) => {
                let tenant = inner.tenant.tenant_id.to_string();
                drop(inner);
                sh.note_throttled(refusal.wait);
                return Err(throttled(refusal.wait, refusal.exceeded, &tenant));
            }
        }
    }
    let hidden: HashSet<Uuid> = if sh.config.replication_lag_ms > 0 {
        let lag = Duration::from_millis(sh.config.replication_lag_ms);
        inner
            .recent
            .retain(|_, t| now.saturating_duration_since(*t) < lag);
        inner.recent.keys().copied().collect()
    } else {
        HashSet::new()
    };
    let mut ctx = Ctx {
        base,
        now: sh.clock.now_utc(),
        hidden: &hidden,
        eventual: opts.eventual,
        max_page: opts.max_page,
        create_if_missing: opts.create_if_missing,
        return_minimal: opts.return_minimal,
        delta_ttl_secs: sh.config.delta_token_ttl_secs,
        empty_user_lists: sh.config.fault_empty_user_lists,
        roles: &caller.roles,
        created: Vec::new(),
    };
    let result = graph::handle(&mut inner.tenant, &mut ctx, method, rel, query, body);
    let created = std::mem::take(&mut ctx.created);
    if sh.config.replication_lag_ms > 0 {
        for id in created {
            inner.recent.insert(id, now);
        }
    }
    drop(inner);
    match result {
        Ok(mut r) => {
            if r.wrote {
                sh.writes.fetch_add(1, Ordering::Relaxed);
                sh.mark_dirty();
            }
            r.headers
                .push(("x-ms-resource-unit".into(), ru.to_string()));
            if let Some(p) = throttle::limit_percentage(used) {
                r.headers.push(("x-ms-throttle-limit-percentage".into(), p));
            }
            Ok(r)
        }
        Err(e) => {
            let e = e.with_header("x-ms-resource-unit", ru.to_string());
            Err(match throttle::limit_percentage(used) {
                Some(p) => e.with_header("x-ms-throttle-limit-percentage", p),
                None => e,
            })
        }
    }
}

/// Split a batch part's URL into a path relative to `/v1.0` and a query. The URL is
/// "the relative resource URL for the individual request" (json-batching.md; known
/// issue "URIs must be relative"); an absolute URL is taken only when it names this
/// emulator (`base`, `scheme://host[:port]`), never another host.
fn batch_url(url: &str, base: &str) -> Option<(String, Option<String>)> {
    let mut u = url.trim();
    if u.contains("://") {
        let b = base.trim_end_matches('/');
        let rest = u.get(..b.len()).filter(|p| p.eq_ignore_ascii_case(b))?;
        u = &u[rest.len()..];
        if !(u.is_empty() || u.starts_with('/')) {
            return None;
        }
    }
    let u = u.strip_prefix("/v1.0").unwrap_or(u);
    let u = if u.starts_with('/') {
        u.to_string()
    } else {
        format!("/{u}")
    };
    let (p, q) = match u.split_once('?') {
        Some((p, q)) => (p.to_string(), Some(q.to_string())),
        None => (u, None),
    };
    if p.len() > 4096 {
        return None;
    }
    Some((p, q))
}

fn batch(
    sh: &Arc<Shared>,
    caller: &auth::Caller,
    base: &str,
    body: &[u8],
    exchange: &Ids,
) -> Response {
    let bad = |msg: &str| {
        let e = GraphError::odata_bad_request(msg);
        error_response(&e, exchange)
    };
    let Ok(Value::Object(root)) = serde_json::from_slice::<Value>(body) else {
        return bad(
            "Unable to read JSON request payload. Please ensure Content-Type header is set and payload is of valid JSON format.",
        );
    };
    let Some(Value::Array(reqs)) = root.get("requests") else {
        return bad("Invalid batch payload format: the 'requests' property is missing.");
    };
    if reqs.is_empty() {
        return bad("Invalid batch payload format: the batch contains no requests.");
    }
    if reqs.len() > 20 {
        return bad("Limit of 20 requests per batch exceeded.");
    }
    let mut ids: Vec<String> = Vec::new();
    for r in reqs {
        let id = match r.get("id") {
            Some(Value::String(s)) if !s.is_empty() => s.clone(),
            Some(Value::Number(n)) => n.to_string(),
            _ => return bad("Invalid batch payload format: every request needs an 'id'."),
        };
        // "Not case-sensitive. Must be unique in the batch" (json-batching.md): `a` and
        // `A` are the same id.
        if ids.iter().any(|i| i.eq_ignore_ascii_case(&id)) {
            return bad(&format!(
                "Batch request ids must be unique; '{id}' is used more than once."
            ));
        }
        ids.push(id);
        if r.get("method").and_then(Value::as_str).is_none()
            || r.get("url").and_then(Value::as_str).is_none()
        {
            return bad(
                "Invalid batch payload format: every request needs a 'method' and a 'url'.",
            );
        }
    }
    // Each request's dependency, as the index of the request it names.
    let mut deps: Vec<Option<usize>> = Vec::with_capacity(reqs.len());
    for r in reqs {
        let Some(d) = r.get("dependsOn") else {
            deps.push(None);
            continue;
        };
        let Some(arr) = d.as_array() else {
            return bad("Invalid batch payload format: 'dependsOn' must be an array.");
        };
        let mut names = Vec::new();
        for x in arr {
            let Some(x) = x.as_str() else {
                return bad("Invalid batch payload format: 'dependsOn' entries must be ids.");
            };
            let Some(j) = ids.iter().position(|i| i.eq_ignore_ascii_case(x)) else {
                return bad(&format!(
                    "Request id '{x}' named in dependsOn was not found in the batch."
                ));
            };
            names.push(j);
        }
        // Known issue "Request dependencies are limited" (concepts/json-batching.md,
        // known issues): "requests can only depend on a single other request".
        if names.len() > 1 {
            return bad(
                "Invalid batch payload format: a request can depend on only one other request.",
            );
        }
        deps.push(names.first().copied());
    }
    if !dependency_pattern_supported(&deps) {
        // Graph's answer to a batch mixing the patterns, as reported in
        // microsoftgraph/microsoft-graph-docs issue #16280.
        return bad("Batch should be either fully sequential or fully parallel.");
    }
    let mut statuses: HashMap<String, u16> = HashMap::new();
    let mut responses = Vec::new();
    let mut pending: Vec<usize> = (0..reqs.len()).collect();
    // Run requests whose dependencies are done, in order; a cycle fails the remainder.
    while !pending.is_empty() {
        let ready = pending
            .iter()
            .position(|&i| deps[i].is_none_or(|j| statuses.contains_key(&ids[j])));
        let Some(pos) = ready else {
            for &i in &pending {
                let e =
                    GraphError::odata_bad_request("Circular dependency between batch requests.");
                responses.push(part(&ids[i], Err(e), exchange));
            }
            break;
        };
        let i = pending.remove(pos);
        sh.requests.fetch_add(1, Ordering::Relaxed);
        let r = &reqs[i];
        let id = &ids[i];
        let deps_failed = deps[i].is_some_and(|j| {
            statuses
                .get(&ids[j])
                .is_none_or(|s| !(200..300).contains(s))
        });
        let result = if deps_failed {
            Err(GraphError::new(
                424,
                "FailedDependency",
                "The request failed because a request it depends on failed.",
            ))
        } else {
            run_part(sh, caller, base, r)
        };
        let status = match &result {
            Ok(r) => r.status,
            Err(e) => e.status,
        };
        statuses.insert(id.clone(), status);
        responses.push(part(id, result, exchange));
    }
    json_response(200, &json!({ "responses": responses }), &[])
}

/// Whether the requests' dependencies (each the index of the one request it names)
/// follow one of the three patterns Graph runs: parallel (none), serial (each request
/// after the first depends on the previous one) or same (all that name one name the
/// same one).
fn dependency_pattern_supported(deps: &[Option<usize>]) -> bool {
    let parallel = deps.iter().all(Option::is_none);
    let serial = deps.iter().enumerate().all(|(i, d)| {
        if i == 0 {
            d.is_none()
        } else {
            *d == Some(i - 1)
        }
    });
    let mut named = deps.iter().flatten();
    let same = match named.next() {
        Some(first) => {
            named.all(|d| d == first)
                && deps[*first].is_none()
                && deps
                    .iter()
                    .enumerate()
                    .all(|(i, d)| d.is_none_or(|j| j < i))
        }
        None => true,
    };
    parallel || serial || same
}

fn run_part(
    sh: &Arc<Shared>,
    caller: &auth::Caller,
    base: &str,
    r: &Value,
) -> Result<graph::Resp, GraphError> {
    let method = r
        .get("method")
        .and_then(Value::as_str)
        .unwrap_or("GET")
        .to_ascii_uppercase();
    if !["GET", "POST", "PATCH", "PUT", "DELETE"].contains(&method.as_str()) {
        return Err(GraphError::odata_bad_request(format!(
            "Invalid method '{method}' in batch request."
        )));
    }
    let Some((path, query)) = r
        .get("url")
        .and_then(Value::as_str)
        .and_then(|u| batch_url(u, base))
    else {
        return Err(GraphError::odata_bad_request(
            "Invalid request URL in batch request: use a URL relative to the version endpoint, such as '/users'.",
        ));
    };
    if path.trim_end_matches('/') == "/$batch" {
        return Err(GraphError::odata_bad_request(
            "Nested batch requests are not supported.",
        ));
    }
    let opts = RequestOptions::from_json(r.get("headers"));
    let body: Vec<u8> = match r.get("body") {
        None | Some(Value::Null) => Vec::new(),
        Some(b) => {
            if opts.content_type.is_none() {
                return Err(GraphError::odata_bad_request(format!(
                    "Write request id : {} does not contain Content-Type header or body.",
                    r.get("id").map(|v| v.to_string()).unwrap_or_default()
                )));
            }
            match b {
                Value::String(s) => {
                    use base64::Engine;
                    base64::engine::general_purpose::STANDARD
                        .decode(s.as_bytes())
                        .unwrap_or_else(|_| s.as_bytes().to_vec())
                }
                other => other.to_string().into_bytes(),
            }
        }
    };
    execute(
        sh,
        caller,
        base,
        &method,
        &path,
        query.as_deref(),
        &opts,
        &body,
    )
}

/// One entry of `responses`. Headers as in json-batching.md's sample response:
/// `Cache-Control: no-cache` on every part, `OData-Version: 4.0` with an OData body; an
/// error body carries the batch's own `request-id` / `client-request-id` (the sample's
/// parts repeat one pair; the parts are served within the batch's exchange).
fn part(id: &str, result: Result<graph::Resp, GraphError>, exchange: &Ids) -> Value {
    let mut m = Map::new();
    m.insert("id".into(), json!(id));
    let mut h = Map::new();
    h.insert("Cache-Control".into(), json!("no-cache"));
    match result {
        Ok(r) => {
            m.insert("status".into(), json!(r.status));
            for (k, v) in &r.headers {
                h.insert(k.clone(), json!(v));
            }
            match r.body {
                graph::Body::Json(v) => {
                    h.insert("OData-Version".into(), json!("4.0"));
                    h.insert("Content-Type".into(), json!(JSON_CT));
                    m.insert("headers".into(), Value::Object(h));
                    m.insert("body".into(), v);
                }
                graph::Body::Text(s) => {
                    h.insert("Content-Type".into(), json!("text/plain"));
                    m.insert("headers".into(), Value::Object(h));
                    m.insert("body".into(), json!(s));
                }
                graph::Body::Empty => {
                    m.insert("headers".into(), Value::Object(h));
                }
            }
        }
        Err(e) => {
            m.insert("status".into(), json!(e.status));
            for (k, v) in e.headers() {
                h.insert(k.clone(), json!(v));
            }
            h.insert("Content-Type".into(), json!("application/json"));
            m.insert("headers".into(), Value::Object(h));
            m.insert(
                "body".into(),
                e.body(
                    &exchange.request_id,
                    &exchange.client_request_id,
                    &graph_date(exchange.date),
                ),
            );
        }
    }
    Value::Object(m)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batch_urls() {
        let base = "http://127.0.0.1:8080";
        assert_eq!(
            batch_url("/users?$top=1", base),
            Some(("/users".into(), Some("$top=1".into())))
        );
        assert_eq!(batch_url("users/x", base), Some(("/users/x".into(), None)));
        assert_eq!(
            batch_url("http://127.0.0.1:8080/v1.0/groups", base),
            Some(("/groups".into(), None))
        );
        assert_eq!(
            batch_url("https://graph.microsoft.com/v1.0/groups", base),
            None
        );
        assert_eq!(batch_url("http://127.0.0.1:80800/v1.0/groups", base), None);
        assert_eq!(batch_url("/v1.0/me", base), Some(("/me".into(), None)));
    }

    #[test]
    fn dependency_patterns() {
        assert!(dependency_pattern_supported(&[None, None, None]));
        assert!(dependency_pattern_supported(&[None, Some(0), Some(1)]));
        assert!(dependency_pattern_supported(&[None, Some(0), Some(0)]));
        assert!(dependency_pattern_supported(&[None, Some(0), None]));
        assert!(!dependency_pattern_supported(&[
            None,
            None,
            Some(1),
            Some(0)
        ]));
        assert!(!dependency_pattern_supported(&[Some(1), Some(0)]));
        assert!(!dependency_pattern_supported(&[Some(1), None]));
    }

    #[test]
    fn prefer_header() {
        assert_eq!(parse_prefer("odata.maxpagesize=5"), Some(5));
        assert_eq!(
            parse_prefer("return=minimal, odata.maxpagesize=5000"),
            Some(999)
        );
        assert_eq!(parse_prefer("nope"), None);
    }

    #[test]
    fn atomic_write_replaces_whole_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = dir.path().join("s.json");
        write_atomic(&p, b"one", 0).expect("write");
        write_atomic(&p, b"two", 1).expect("write");
        assert_eq!(std::fs::read(&p).expect("read"), b"two");
        let leftovers: Vec<_> = std::fs::read_dir(dir.path())
            .expect("ls")
            .flatten()
            .filter(|e| e.file_name() != "s.json")
            .collect();
        assert!(leftovers.is_empty());
    }
}
