//! The office365 connector: reads a Microsoft 365 tenant through Microsoft Graph
//! v1.0 into the observed state and carries out plan changes there. A `sandbox:` app
//! runs the bundled Graph emulator in-process and goes through the very same client.
//!
//! Layout: [`auth`] (tokens), [`http`] (requests, paging, `$batch`, retries),
//! [`read`] (observed state), [`apply`] (changes), [`sandbox`] (the local tenant).
//!
//! Choices worth knowing:
//! - A create of a user whose UPN belongs to a soft-deleted user creates a new user;
//!   it does not restore the deleted one. Restoring would bring back group memberships
//!   and licenses that the repository does not list, and a deleted user's UPN is
//!   rewritten by the service, so a match would need an advanced query per user.
//! - With password sync (the user has a `password` reference and the app's
//!   `password_sync` switch is on) the password is sent on create with
//!   `forceChangePasswordNextSignIn: false`; otherwise a random 24-character password
//!   is generated and the user must change it at first sign-in. Passwords are never
//!   logged or reported.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail};

use crate::apps::kit::tls::HttpTls;
use crate::apps::{ApplyInput, ConnectContext, OutcomeSink, ReadScope};
use crate::desired::Office365App;
use crate::observed::ObservedApp;

pub mod apply;
pub mod auth;
pub mod doctor;
pub mod http;
pub mod incremental;
pub mod read;
pub mod rows;
pub mod sandbox;

pub use http::RetryPolicy;

/// The default Graph service root.
pub const DEFAULT_GRAPH_URL: &str = "https://graph.microsoft.com";
/// The default Microsoft identity platform root.
pub const DEFAULT_LOGIN_URL: &str = "https://login.microsoftonline.com";

/// The client-credentials scope for a Graph root: the national clouds' own resource
/// ids, else the global service's (also what emulators and proxies in front of it
/// expect).
pub fn token_scope(graph_url: &str) -> String {
    const CLOUDS: &[&str] = &[
        "graph.microsoft.com",
        "graph.microsoft.us",
        "dod-graph.microsoft.us",
        "microsoftgraph.chinacloudapi.cn",
    ];
    let host = url::Url::parse(graph_url)
        .ok()
        .and_then(|u| u.host_str().map(str::to_ascii_lowercase));
    match host {
        Some(h) if CLOUDS.contains(&h.as_str()) => format!("https://{h}/.default"),
        _ => "https://graph.microsoft.com/.default".to_string(),
    }
}

/// A connected office365 app.
pub struct Office365Connector {
    app: Office365App,
    repo_root: PathBuf,
    graph: Arc<http::Graph>,
    directory_id: Option<String>,
    sandbox: Option<sandbox::Sandbox>,
    /// The snapshot of incremental reads, when the context allows one.
    snapshot: Option<PathBuf>,
}

/// Everything needed to build the client, after settings and sandbox are resolved.
pub(crate) struct Endpoint {
    pub graph_url: String,
    pub login_url: String,
    pub tenant: String,
    pub client_id: String,
    pub credential: auth::Credential,
    /// Extra CAs and the name certificates are verified for, for both endpoints.
    pub tls: HttpTls,
    /// Connect directly, never through a proxy (the in-process sandbox).
    pub no_proxy: bool,
}

impl Office365Connector {
    /// Builds the client and authenticates. With `app.sandbox = Some(path)` the
    /// emulator is started in-process on a loopback port with its tenant persisted at
    /// `repo_root/path`, and the connector talks to it like to any tenant. Retries
    /// follow [`RetryPolicy::graph`] with the bound of `ROSTER_RETRY_MAX_SECONDS`.
    pub async fn connect(app: &Office365App, ctx: &ConnectContext) -> Result<Self> {
        Self::connect_with(app, ctx, RetryPolicy::graph().with_env()).await
    }

    /// [`Self::connect`] with explicit retry and concurrency settings.
    pub async fn connect_with(
        app: &Office365App,
        ctx: &ConnectContext,
        policy: RetryPolicy,
    ) -> Result<Self> {
        let (endpoint, sandbox) = match &app.sandbox {
            Some(path) => {
                let state = crate::repo_paths::resolve(&ctx.repo_root, path, "sandbox", false)?;
                let (sb, ep) = sandbox::Sandbox::start(app, &state).await?;
                (ep, Some(sb))
            }
            None => (Self::endpoint(app, ctx)?, None),
        };
        let result = Self::build(app, ctx, endpoint, policy).await;
        match result {
            Ok((graph, directory_id)) => Ok(Office365Connector {
                app: app.clone(),
                repo_root: ctx.repo_root.clone(),
                graph: Arc::new(graph),
                directory_id,
                sandbox,
                snapshot: ctx
                    .cache_dir
                    .as_ref()
                    .map(|d| incremental::snapshot_path(d, &app.name)),
            }),
            Err(e) => {
                if let Some(sb) = sandbox {
                    let _ = sb.stop().await;
                }
                Err(e)
            }
        }
    }

    fn endpoint(app: &Office365App, ctx: &ConnectContext) -> Result<Endpoint> {
        let name = &app.name;
        let tenant = app
            .tenant
            .clone()
            .ok_or_else(|| anyhow!("`tenant` is required (or `sandbox:` for a local tenant)"))?;
        let client_id = app
            .client_id
            .clone()
            .ok_or_else(|| anyhow!("`client_id` is required"))?;
        let creds = app.credentials.as_ref().ok_or_else(|| {
            anyhow!("`credentials` are required (client_secret, certificate or federated_token)")
        })?;
        let credential = auth::Credential::from_settings(name, creds, &ctx.repo_root)?;
        Ok(Endpoint {
            graph_url: app
                .graph_url
                .clone()
                .unwrap_or_else(|| DEFAULT_GRAPH_URL.into()),
            login_url: app
                .login_url
                .clone()
                .unwrap_or_else(|| DEFAULT_LOGIN_URL.into()),
            tenant,
            client_id,
            credential,
            tls: HttpTls::from_settings(app.tls.as_ref(), &ctx.repo_root),
            no_proxy: false,
        })
    }

    async fn build(
        app: &Office365App,
        _ctx: &ConnectContext,
        ep: Endpoint,
        policy: RetryPolicy,
    ) -> Result<(http::Graph, Option<String>)> {
        let name = &app.name;
        for (key, u) in [("graph_url", &ep.graph_url), ("login_url", &ep.login_url)] {
            let parsed =
                url::Url::parse(u).with_context(|| format!("`{key}` is not a URL: {u}"))?;
            if !matches!(parsed.scheme(), "https" | "http") {
                bail!("`{key}` must be an http(s) URL: {u}");
            }
        }
        // reqwest honours HTTPS_PROXY / NO_PROXY from the environment by default.
        let mut builder = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(15))
            .timeout(Duration::from_secs(120))
            .pool_max_idle_per_host(16)
            .user_agent(concat!("roster/", env!("CARGO_PKG_VERSION")));
        if ep.no_proxy {
            builder = builder.no_proxy();
        }
        let client = ep
            .tls
            .configure(builder, &[&ep.graph_url, &ep.login_url])?
            .build()
            .map_err(|e| anyhow!("cannot build the HTTP client: {e}"))?;
        let graph_url = ep.graph_url.trim_end_matches('/').to_string();
        let token_url = format!(
            "{}/{}/oauth2/v2.0/token",
            ep.login_url.trim_end_matches('/'),
            http::path_segment(&ep.tenant)
        );
        let tokens = auth::TokenProvider::new(
            client.clone(),
            name,
            token_url,
            ep.client_id,
            token_scope(&graph_url),
            ep.credential,
        );
        // Authenticate now, so that bad credentials fail before any read.
        let token = tokens.token().await?;
        let directory_id = auth::tenant_id_of(&token).or(Some(ep.tenant));
        Ok((
            http::Graph::new(client, &graph_url, tokens, name, policy),
            directory_id,
        ))
    }

    /// Reads users, groups, the members of the groups in `scope`, verified domains
    /// and license SKUs: incrementally from the snapshot when there is one (see
    /// [`incremental`]), else in full.
    pub async fn read(&self, scope: &ReadScope) -> Result<ObservedApp> {
        Ok(self.read_reporting(scope).await?.0)
    }

    /// [`Self::read`], also saying whether the read was full or incremental.
    pub async fn read_reporting(
        &self,
        scope: &ReadScope,
    ) -> Result<(ObservedApp, incremental::ReadKind)> {
        // The snapshot holds the default attributes: a mapping beyond them, or managers
        // (which users delta does not expand), are read in full.
        let snapshot = self
            .snapshot
            .as_ref()
            .filter(|_| scope.user_fields.is_empty() && !scope.managers);
        let (mut observed, kind) = match snapshot {
            Some(path) => {
                let identity = incremental::Identity::new(
                    &self.app.name,
                    &self.service(),
                    self.directory_id.clone(),
                );
                incremental::read_cached(&self.graph, scope, &identity, path).await?
            }
            None => (
                read::read(&self.graph, scope, self.directory_id.clone()).await?,
                incremental::ReadKind::Full(None),
            ),
        };
        observed.app = self.app.name.clone();
        Ok((observed, kind))
    }

    /// What a snapshot of this app is bound to: the Graph root, or the sandbox's state
    /// file (its port changes every run).
    fn service(&self) -> String {
        match &self.app.sandbox {
            Some(p) => format!("sandbox:{p}"),
            None => self.graph.base.clone(),
        }
    }

    /// Carries out the changes (already in plan order, all for this app); reports every
    /// change's outcome through `sink` as soon as it is known; never stops at the first
    /// failure.
    pub async fn apply(&self, input: ApplyInput<'_>, sink: &dyn OutcomeSink) -> Result<()> {
        let mut writer = apply::Writer {
            graph: &self.graph,
            app: &self.app,
            repo_root: &self.repo_root,
            desired: input.desired,
            users: input.desired.user_index(),
            observed: input.observed,
        };
        let result =
            crate::apps::kit::driver::apply(&self.app.name, &mut writer, &input, sink).await;
        // A bulk apply would make the next incremental read replay every write: when a
        // full read is cheaper, the snapshot goes and the next read is a full one.
        if let Some(path) = &self.snapshot
            && incremental::full_read_is_cheaper(input.changes, input.observed)
        {
            incremental::forget(
                &self.app.name,
                path,
                "replaying this apply's writes would cost more than a full read",
            );
        }
        result
    }

    /// The Graph base URL this connector talks to (the emulator's for a sandbox).
    pub fn graph_url(&self) -> &str {
        &self.graph.base
    }

    /// The emulator's base URL when this is a sandbox app.
    pub fn sandbox_url(&self) -> Option<String> {
        self.sandbox.as_ref().map(|s| s.base_url())
    }

    /// Stops the sandbox emulator (persisting its state), if any.
    pub async fn close(self) -> Result<()> {
        match self.sandbox {
            Some(sb) => sb.stop().await,
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_follow_the_cloud() {
        assert_eq!(
            token_scope("https://graph.microsoft.com"),
            "https://graph.microsoft.com/.default"
        );
        assert_eq!(
            token_scope("https://graph.microsoft.us/"),
            "https://graph.microsoft.us/.default"
        );
        assert_eq!(
            token_scope("http://127.0.0.1:8080"),
            "https://graph.microsoft.com/.default"
        );
        assert_eq!(
            token_scope("not a url"),
            "https://graph.microsoft.com/.default"
        );
    }
}
