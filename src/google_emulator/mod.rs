//! A local Google Workspace: the Admin SDK Directory API (users, groups, members, the
//! batch endpoint) and Google's OAuth token endpoint for service accounts, following
//! the API's discovery document (`tests/google/admin.directory_v1.json`). The test
//! double of the `google_workspace` connector and the engine of its `sandbox:` mode.
//!
//! [`start`] serves the API under `{base_url}/admin/directory/v1/`, batches at
//! `{base_url}/batch/admin/directory_v1` (and `{base_url}/batch`) and tokens at
//! `{base_url}/token`; [`GoogleEmulatorHandle::shutdown`] stops it and persists the
//! directory. See `docs/google-emulator.md`.

pub mod auth;
pub mod batch;
pub mod directory;
pub mod error;
mod server;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

pub use auth::ServiceAccount;
pub use directory::Directory;

/// How the emulator behaves.
#[derive(Debug, Clone)]
pub struct GoogleEmulatorConfig {
    /// The account's domains (the first is the primary domain).
    pub domains: Vec<String>,
    /// The customer id (`my_customer` stands for it).
    pub customer_id: String,
    /// Service accounts the token endpoint accepts.
    pub service_accounts: Vec<ServiceAccount>,
    /// Load if present, persist after writes (debounced, atomic temp + rename).
    pub state_file: Option<PathBuf>,
    /// Probability of an injected quota error per API call (each batch part too).
    pub fault_rate: f64,
    pub seed: u64,
    /// A just-created user or group answers 404 for this long (eventual consistency).
    pub replication_lag_ms: u64,
    /// (cert PEM, key PEM): serve HTTPS.
    pub tls: Option<(PathBuf, PathBuf)>,
    /// Lifetime of access tokens, in seconds.
    pub token_lifetime_secs: i64,
    /// Write the state file at most this often (and always at shutdown).
    pub persist_debounce_ms: u64,
    /// Serve the batch endpoint (`false`: its paths answer 404, as the global batch
    /// endpoint Google turned off does, and as proxies that pass no multipart batches).
    pub batch: bool,
    /// Pages hold at most this many items, whatever `maxResults` asks.
    pub max_page_size: Option<usize>,
    /// Keep every API call made (batch parts included) for [`GoogleEmulatorHandle::calls`].
    pub record_calls: bool,
}

impl Default for GoogleEmulatorConfig {
    fn default() -> Self {
        GoogleEmulatorConfig {
            domains: vec!["example.com".into()],
            customer_id: "C03az79cb".into(),
            service_accounts: Vec::new(),
            state_file: None,
            fault_rate: 0.0,
            seed: 0,
            replication_lag_ms: 0,
            tls: None,
            token_lifetime_secs: 3599,
            persist_debounce_ms: 500,
            batch: true,
            record_calls: false,
            max_page_size: None,
        }
    }
}

/// Counters since start (`GET /_emulator/stats`).
#[derive(Debug, Clone, Copy, Default, serde::Serialize, serde::Deserialize, PartialEq)]
pub struct Stats {
    /// API calls, batch parts counted individually.
    pub requests: u64,
    /// HTTP exchanges.
    pub http_requests: u64,
    /// Batch requests.
    pub batches: u64,
    /// Successful writes.
    pub writes: u64,
    /// Injected quota errors.
    pub faults: u64,
    /// Token endpoint requests.
    pub token_requests: u64,
}

/// One Directory API call as the emulator received it (with `record_calls`).
#[derive(Debug, Clone, PartialEq)]
pub struct RecordedCall {
    /// The service account whose token made the call.
    pub client_email: String,
    pub method: String,
    /// The path after `/admin/directory/v1/`, still percent-encoded.
    pub path: String,
    pub query: Vec<(String, String)>,
    /// The JSON body (`Null` when there was none).
    pub body: serde_json::Value,
}

/// A running emulator.
pub struct GoogleEmulatorHandle {
    base_url: String,
    local_addr: SocketAddr,
    shared: Arc<server::Shared>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    server: tokio::task::JoinHandle<()>,
    persister: Option<tokio::task::JoinHandle<()>>,
}

impl GoogleEmulatorHandle {
    /// `http://127.0.0.1:PORT` (or `https://…`), no trailing slash.
    pub fn base_url(&self) -> String {
        self.base_url.clone()
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The token endpoint (`{base}/token`), the `token_uri` of key files and the `aud`
    /// of assertions.
    pub fn token_url(&self) -> String {
        format!("{}/token", self.base_url)
    }

    /// Counters since start.
    pub fn stats(&self) -> Stats {
        self.shared.stats()
    }

    /// The API calls received so far (empty unless `record_calls`).
    pub fn calls(&self) -> Vec<RecordedCall> {
        self.shared.calls()
    }

    /// A copy of the directory as it is now.
    pub fn directory(&self) -> Directory {
        self.shared.directory()
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
pub async fn start(
    config: GoogleEmulatorConfig,
    listen: SocketAddr,
) -> anyhow::Result<GoogleEmulatorHandle> {
    server::start(config, listen).await
}
