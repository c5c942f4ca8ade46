//! The google_workspace connector: provisions users, groups and memberships to a
//! Google Workspace account through the Admin SDK Directory API, as a service account
//! with domain-wide delegation acting as an admin (`subject`).
//!
//! Layout: [`auth`] (the RFC 7523 JWT bearer grant, the token cache), [`http`]
//! (requests, Google's errors, paging, quota retries), [`fields`] (where mapped
//! targets live in a User resource), [`read`] (observed state), [`apply`] (changes),
//! [`doctor`], [`sandbox`] (a local account on the project's emulator).
//!
//! Choices worth knowing:
//! - Users are matched by `primaryEmail` (the repository email, like office365's
//!   userPrincipalName); roster's `externalIds` entry `{type: custom, customType:
//!   roster}` carries the username, the anchor of renames.
//! - Enabled is `suspended: false`; admins are protected and never suspended or
//!   deleted.
//! - `org_unit` is the management scope: users are read there (and below it) only,
//!   and created there.
//! - Groups are matched by `name`; roster creates a group with the email made of its
//!   name in `domain` ([`apply::group_email`]).

use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail};

use crate::apps::kit::tls::HttpTls;
use crate::apps::{ApplyInput, ConnectContext, OutcomeSink, ReadScope};
use crate::desired::{App, GoogleWorkspaceApp};
use crate::mapping::Mapping;
use crate::observed::ObservedApp;

pub mod apply;
pub mod auth;
pub mod doctor;
pub mod fields;
pub mod http;
pub mod read;
pub mod sandbox;

pub use http::GoogleError;

/// The Directory API's base URL.
pub const DEFAULT_API_URL: &str = "https://admin.googleapis.com";
/// Google's OAuth 2.0 token endpoint.
pub const DEFAULT_TOKEN_URL: &str = "https://oauth2.googleapis.com/token";

/// A connected google_workspace app.
pub struct GoogleWorkspaceConnector {
    app: GoogleWorkspaceApp,
    repo_root: std::path::PathBuf,
    pub client: http::Client,
    mapping: Mapping,
    sandbox: Option<sandbox::Sandbox>,
}

/// Starts the sandbox account of a `sandbox:` app (None for other apps).
pub(crate) async fn start_sandbox(
    app: &GoogleWorkspaceApp,
    ctx: &ConnectContext,
) -> Result<Option<(sandbox::Sandbox, sandbox::SandboxEndpoint)>> {
    match &app.sandbox {
        Some(path) => {
            let state = crate::repo_paths::resolve(&ctx.repo_root, path, "sandbox", false)?;
            Ok(Some(sandbox::Sandbox::start(app, &state).await?))
        }
        None => Ok(None),
    }
}

/// The HTTP client, token provider and API base of an app, or of a running sandbox
/// account (shared with `doctor`).
pub(crate) fn client_with(
    app: &GoogleWorkspaceApp,
    ctx: &ConnectContext,
    policy: crate::apps::kit::retry::ClientPolicy,
    sandbox: Option<&sandbox::SandboxEndpoint>,
) -> Result<http::Client> {
    let (api, token_url, subject, account) = match sandbox {
        Some(sb) => (
            sb.api_url.as_str(),
            sb.token_url.as_str(),
            sb.subject.as_str(),
            auth::ServiceAccount::from_json(&sb.key)?,
        ),
        None => {
            let api = app.api_url.as_deref().unwrap_or(DEFAULT_API_URL).trim();
            let token_url = app.token_url.as_deref().unwrap_or(DEFAULT_TOKEN_URL).trim();
            let creds = app.credentials.as_ref().ok_or_else(|| {
                anyhow!(
                    "no `credentials` (a service account key, or `sandbox:` for a local account)"
                )
            })?;
            let subject = app
                .subject
                .as_deref()
                .ok_or_else(|| anyhow!("no `subject` (the admin the service account acts as)"))?;
            let key = crate::secret::resolve(&creds.service_account_key, &ctx.repo_root)
                .map_err(|e| anyhow!("cannot read `credentials.service_account_key`: {e}"))?;
            let account = auth::ServiceAccount::from_json(&key)?;
            drop(key);
            (api, token_url, subject, account)
        }
    };
    for (key, u) in [("api_url", api), ("token_url", token_url)] {
        let parsed = url::Url::parse(u).with_context(|| format!("`{key}` is not a URL: {u}"))?;
        if !matches!(parsed.scheme(), "https" | "http") {
            bail!("`{key}` must be an http(s) URL: {u}");
        }
    }
    let mut builder = reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(15))
        .timeout(Duration::from_secs(120))
        .tls_info(true)
        .user_agent(concat!("roster/", env!("CARGO_PKG_VERSION")));
    if sandbox.is_some() {
        // The in-process sandbox is on loopback: never through a proxy.
        builder = builder.no_proxy();
    }
    let http = HttpTls::from_settings(app.tls.as_ref(), &ctx.repo_root)
        .configure(builder, &[api, token_url])?
        .build()
        .map_err(|e| anyhow!("cannot build the HTTP client: {e}"))?;
    let tokens = auth::TokenProvider::new(http.clone(), &app.name, token_url, subject, account);
    Ok(http::Client::new(http, api, tokens, &app.name, policy))
}

impl GoogleWorkspaceConnector {
    /// Builds the client with `policy`, gets a token and proves it with one small read.
    pub async fn connect_with(
        app: &GoogleWorkspaceApp,
        ctx: &ConnectContext,
        policy: crate::apps::kit::retry::ClientPolicy,
    ) -> Result<Self> {
        let (sandbox, endpoint) = match start_sandbox(app, ctx).await? {
            Some((sb, ep)) => (Some(sb), Some(ep)),
            None => (None, None),
        };
        match Self::connect_client(app, ctx, policy, endpoint.as_ref()).await {
            Ok(client) => Ok(GoogleWorkspaceConnector {
                mapping: Mapping::lenient(&App::GoogleWorkspace(app.clone())),
                app: app.clone(),
                repo_root: ctx.repo_root.clone(),
                client,
                sandbox,
            }),
            Err(e) => {
                if let Some(sb) = sandbox {
                    let _ = sb.stop().await;
                }
                Err(e)
            }
        }
    }

    async fn connect_client(
        app: &GoogleWorkspaceApp,
        ctx: &ConnectContext,
        policy: crate::apps::kit::retry::ClientPolicy,
        sandbox: Option<&sandbox::SandboxEndpoint>,
    ) -> Result<http::Client> {
        let client = client_with(app, ctx, policy, sandbox)?;
        client.tokens.token().await?;
        let customer = app.customer.as_deref().unwrap_or("my_customer");
        client
            .get(
                &format!("{}/users", http::DIRECTORY),
                &[
                    ("customer", customer.to_string()),
                    ("maxResults", "1".to_string()),
                ],
            )
            .await
            .with_context(|| {
                format!(
                    "the Directory API at {} refused the first read",
                    client.base
                )
            })?;
        Ok(client)
    }

    /// [`Self::connect_with`] Google's retry defaults and `ROSTER_RETRY_MAX_SECONDS`.
    pub async fn connect(app: &GoogleWorkspaceApp, ctx: &ConnectContext) -> Result<Self> {
        Self::connect_with(app, ctx, http::policy()).await
    }

    /// Reads users (in `org_unit` when set), groups and the members of the groups in
    /// `scope`.
    pub async fn read(&self, scope: &ReadScope) -> Result<ObservedApp> {
        read::read(&self.client, &self.app, scope, &self.mapping).await
    }

    /// Carries out the changes through the kit's driver.
    pub async fn apply(&self, input: ApplyInput<'_>, sink: &dyn OutcomeSink) -> Result<()> {
        let group_emails = input
            .observed
            .groups
            .iter()
            .filter_map(|g| Some((g.id.clone(), g.location.clone()?)))
            .collect();
        let mut writer = apply::Writer {
            conn: self,
            users: input.desired.user_index(),
            group_emails,
        };
        crate::apps::kit::driver::apply(&self.app.name, &mut writer, &input, sink).await
    }

    /// The emulator's base URL when this is a sandbox app.
    pub fn sandbox_url(&self) -> Option<String> {
        self.sandbox.as_ref().map(|s| s.base_url())
    }

    /// Stops the sandbox emulator (persisting its account), if any.
    pub async fn close(self) -> Result<()> {
        match self.sandbox {
            Some(sb) => sb.stop().await,
            None => Ok(()),
        }
    }
}
