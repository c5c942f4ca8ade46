//! A faithful local Microsoft Graph v1.0 tenant: the test double for Office 365 and
//! the engine of `sandbox:` apps.
//!
//! [`start`] serves Graph under `{base_url}/v1.0/` and the token endpoint at
//! `{base_url}/{tenant}/oauth2/v2.0/token`; [`EmulatorHandle::shutdown`] stops it and
//! persists the tenant. See `docs/emulator.md` for the behaviour it reproduces.

pub mod auth;
pub mod clock;
pub mod error;
pub mod graph;
pub mod keys;
pub mod licensing;
pub mod model;
pub mod odata;
pub mod proxy;
pub mod realistic;
pub mod roles;
pub(crate) mod server;
pub mod service_plans;
pub mod throttle;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

pub use auth::{FederatedCredential, FederatedKey};
pub use model::Tenant;

/// How the emulator behaves: tenant, credentials, throttling, faults, TLS.
#[derive(Debug, Clone)]
pub struct EmulatorConfig {
    /// Tenant id or name accepted in `/{tenant}/oauth2/v2.0/token`.
    pub tenant: String,
    /// Verified domains (the first is the default). The tenant's initial
    /// `<tenant>.onmicrosoft.com` domain is always there besides them.
    pub domains: Vec<String>,
    /// (skuPartNumber, enabled seats)
    pub skus: Vec<(String, u32)>,
    /// (client_id, client_secret)
    pub clients: Vec<(String, String)>,
    /// Load if present, persist after writes (debounced, atomic temp + rename).
    pub state_file: Option<PathBuf>,
    /// None = throttling off.
    pub ru_per_10s: Option<u32>,
    /// None = throttling off.
    pub writes_per_150s: Option<u32>,
    /// Probability of an injected fault (503, 504 or dropped connection) per request.
    pub fault_rate: f64,
    pub seed: u64,
    /// A just-created object stays invisible to reads and `$ref` for this long.
    pub replication_lag_ms: u64,
    /// (cert PEM, key PEM): serve HTTPS.
    pub tls: Option<(PathBuf, PathBuf)>,
    /// (client_id, certificate PEM) accepted for client-assertion (certificate) credentials.
    pub certificates: Vec<(String, PathBuf)>,
    /// Federated identity credentials (workload identity federation).
    pub federated: Vec<FederatedCredential>,
    /// Lifetime of issued access tokens.
    pub token_lifetime_secs: i64,
    /// Delta tokens older than this are expired (Graph: 7 days for directory objects).
    pub delta_token_ttl_secs: i64,
    /// Write the state file at most this often (and always at shutdown).
    pub persist_debounce_ms: u64,
    /// Fault mode: `GET /users` listings return no users although the tenant has some.
    pub fault_empty_user_lists: bool,
    /// Fault mode: every Graph request (each `$batch` part too) answers 429
    /// TooManyRequests with this Retry-After in seconds, as a tenant whose budget other
    /// workloads of the app keep spending.
    pub fault_throttle: Option<f64>,
    /// The app was granted read permissions only (User.Read.All, Group.Read.All): every
    /// write answers 403 Authorization_RequestDenied, as Graph does without the
    /// `*.ReadWrite.All` application permissions.
    pub read_only: bool,
    /// Test clock: `POST /_emulator/clock` (and [`EmulatorHandle::advance_clock`]) may move
    /// the emulator's clock. Off by default, and then the endpoint does not exist.
    pub test_clock: bool,
    /// Application permissions granted to apps, as (client id, permission); client `*`
    /// grants to every app. An app with no grant here holds
    /// [`roles::DEFAULT_GRANTS`]. The permissions are the `roles` of its tokens.
    pub grants: Vec<(String, String)>,
    /// Seed a new tenant with the documented realistic mix (docs/emulator.md,
    /// "The realistic tenant"); ignored when a state file already holds a tenant.
    pub realistic_tenant: bool,
}

impl EmulatorConfig {
    /// The application permissions of app `client`.
    pub fn grants_for(&self, client: &str) -> Vec<String> {
        roles::grants_for(&self.grants, client)
    }
}

impl Default for EmulatorConfig {
    fn default() -> Self {
        EmulatorConfig {
            tenant: "contoso".into(),
            domains: vec!["contoso.com".into()],
            skus: Vec::new(),
            clients: Vec::new(),
            state_file: None,
            ru_per_10s: None,
            writes_per_150s: None,
            fault_rate: 0.0,
            seed: 0,
            replication_lag_ms: 0,
            tls: None,
            certificates: Vec::new(),
            federated: Vec::new(),
            token_lifetime_secs: 3599,
            fault_empty_user_lists: false,
            fault_throttle: None,
            read_only: false,
            delta_token_ttl_secs: 7 * 24 * 3600,
            persist_debounce_ms: 500,
            test_clock: false,
            grants: Vec::new(),
            realistic_tenant: false,
        }
    }
}

/// Counters since start (`GET /_emulator/stats`).
#[derive(Debug, Clone, Copy, Default, serde::Serialize, serde::Deserialize, PartialEq)]
pub struct Stats {
    /// Graph requests, `$batch` parts counted individually.
    pub requests: u64,
    /// HTTP exchanges.
    pub http_requests: u64,
    /// 429 responses (including inside batches).
    pub throttled: u64,
    /// The longest Retry-After sent with a 429, in milliseconds (0: none sent).
    #[serde(default)]
    pub max_retry_after_ms: u64,
    /// Successful writes.
    pub writes: u64,
    /// Injected faults (503/504/dropped).
    pub faults: u64,
    /// Token endpoint requests.
    pub token_requests: u64,
}

/// A running emulator.
pub struct EmulatorHandle {
    base_url: String,
    local_addr: SocketAddr,
    shared: Arc<server::Shared>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    server: tokio::task::JoinHandle<()>,
    persister: Option<tokio::task::JoinHandle<()>>,
}

impl EmulatorHandle {
    /// `http://127.0.0.1:PORT` (or `https://…` with TLS), no trailing slash.
    pub fn base_url(&self) -> String {
        self.base_url.clone()
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The token endpoint URL for the configured tenant.
    pub fn token_url(&self) -> String {
        format!(
            "{}/{}/oauth2/v2.0/token",
            self.base_url, self.shared.config.tenant
        )
    }

    /// Counters since start.
    pub fn stats(&self) -> Stats {
        self.shared.stats()
    }

    /// The tenant id (a GUID) of the emulated tenant.
    pub fn tenant_id(&self) -> String {
        self.shared.tenant_id()
    }

    /// Move the emulator's clock forward by `by` (throttling windows, replication lag,
    /// token and delta-token lifetimes). Only on an emulator started with `test_clock`.
    pub fn advance_clock(&self, by: std::time::Duration) -> anyhow::Result<()> {
        anyhow::ensure!(
            self.shared.config.test_clock,
            "the emulator was not started with a test clock"
        );
        self.shared.clock.advance(by);
        Ok(())
    }

    /// The emulator's clock, shared: a test can read it and move it from anywhere (for
    /// instance from a client's timer, so that the client waits on this clock instead of
    /// sleeping). `None` unless the emulator was started with `test_clock`.
    pub fn test_clock(&self) -> Option<Arc<clock::Clock>> {
        self.shared
            .config
            .test_clock
            .then(|| self.shared.clock.clone())
    }

    /// Stop (`true`) or restart (`false`) the emulator's clock. Only with `test_clock`.
    pub fn freeze_clock(&self, frozen: bool) -> anyhow::Result<()> {
        anyhow::ensure!(
            self.shared.config.test_clock,
            "the emulator was not started with a test clock"
        );
        self.shared.clock.freeze(frozen);
        Ok(())
    }

    /// Stop serving and persist the state file (when configured).
    pub async fn shutdown(mut self) -> anyhow::Result<()> {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        let _ = (&mut self.server).await;
        if let Some(p) = self.persister.take() {
            p.abort();
            let _ = p.await;
        }
        server::save_if_needed(&self.shared).await
    }
}

/// Start an emulator listening on `listen` (port 0 picks a free port).
pub async fn start(config: EmulatorConfig, listen: SocketAddr) -> anyhow::Result<EmulatorHandle> {
    server::start(config, listen).await
}
