//! The scim connector: provisions users, groups and memberships to any SCIM 2.0
//! service provider (RFC 7643 / RFC 7644) with a bearer token.
//!
//! Layout: [`http`] (requests, retries, RFC 7644 §3.12 errors, paging),
//! [`discovery`] (what the provider announces), [`paths`] (attribute paths of mapped
//! targets), [`read`] (observed state), [`apply`] (changes).
//!
//! Choices worth knowing:
//! - Users are matched by `userName`, the mapped login (the username by default);
//!   `externalId` carries the username, the anchor of renames. Attributes are the
//!   app's mapping ([`crate::mapping`]) at their SCIM paths ([`paths`]): core ones,
//!   typed multi-valued ones (`emails[type eq "work"].value`, the email) and the
//!   enterprise extension's, whose `manager` holds the manager's id.
//! - A rename is a PATCH of `userName` (and `externalId`) on the same resource. SCIM
//!   keeps no deleted items: nothing is restored, a deleted user is created again.
//! - Optional protocol features are used only when `/ServiceProviderConfig` announces
//!   them: PATCH (else GET + PUT), filtering (else listing), ETags (`If-Match` on PUT),
//!   bulk (user creates, within `maxOperations` / `maxPayloadSize`; an operation the
//!   provider refuses is retried alone). List pages never ask for more than
//!   `maxResults`.
//! - The core Group schema has no `description`; it is read and written only when the
//!   provider's `/Schemas` lists one.

use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail};

use crate::apps::kit::tls::HttpTls;
use crate::apps::{ApplyInput, ConnectContext, OutcomeSink, ReadScope};
use crate::desired::{App, ScimApp};
use crate::mapping::Mapping;
use crate::observed::ObservedApp;

pub mod apply;
pub mod discovery;
pub mod doctor;
pub mod http;
pub mod paths;
pub mod read;

pub use discovery::Capabilities;
pub use http::{RetryPolicy, ScimError};

/// A connected scim app.
pub struct ScimConnector {
    app: ScimApp,
    repo_root: std::path::PathBuf,
    client: http::Client,
    caps: Capabilities,
    /// The app's attribute mapping: what is read, and where each key is written.
    mapping: Mapping,
}

impl ScimConnector {
    /// Builds the client with `policy`, resolves the token, discovers the provider's
    /// features and proves the token with one small read. [`Self::connect`] uses the
    /// SCIM defaults.
    pub async fn connect_with(
        app: &ScimApp,
        ctx: &ConnectContext,
        policy: RetryPolicy,
    ) -> Result<Self> {
        let name = &app.name;
        let parsed = url::Url::parse(app.url.trim())
            .with_context(|| format!("`url` is not a URL: {}", app.url))?;
        if !matches!(parsed.scheme(), "https" | "http") {
            bail!("`url` must be an http(s) URL: {}", app.url);
        }
        if parsed.query().is_some() || parsed.fragment().is_some() {
            bail!("`url` must be the SCIM base URL, without a query or fragment");
        }
        let token = crate::secret::resolve(&app.token, &ctx.repo_root)
            .map_err(|e| anyhow!("cannot read `token`: {e}"))?;
        let builder = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(15))
            .timeout(Duration::from_secs(120))
            .user_agent(concat!("roster/", env!("CARGO_PKG_VERSION")));
        let http = HttpTls::from_settings(app.tls.as_ref(), &ctx.repo_root)
            .configure(builder, &[app.url.trim()])?
            .build()
            .map_err(|e| anyhow!("cannot build the HTTP client: {e}"))?;
        let client = http::Client::new(http, app.url.trim(), token, name, policy);
        let caps = Capabilities::discover(&client)
            .await
            .with_context(|| format!("discovery at {} failed", client.base))?;
        tracing::debug!(app = %name, ?caps, "SCIM service provider capabilities");
        // Discovery endpoints may be served without authentication (RFC 7644 §4), so
        // one small authenticated read proves the token before any plan is made.
        client
            .get(
                &caps.users_endpoint,
                &[
                    ("startIndex", "1".to_string()),
                    ("count", "1".to_string()),
                    ("attributes", "userName".to_string()),
                ],
            )
            .await
            .with_context(|| format!("the token is not accepted at {}", client.base))?;
        Ok(ScimConnector {
            mapping: Mapping::lenient(&App::Scim(app.clone())),
            app: app.clone(),
            repo_root: ctx.repo_root.clone(),
            client,
            caps,
        })
    }

    /// [`Self::connect_with`] the SCIM retry defaults and `ROSTER_RETRY_MAX_SECONDS`.
    pub async fn connect(app: &ScimApp, ctx: &ConnectContext) -> Result<Self> {
        Self::connect_with(app, ctx, RetryPolicy::scim().with_env()).await
    }

    /// What discovery found.
    pub fn capabilities(&self) -> &Capabilities {
        &self.caps
    }

    /// Reads every user (the attributes of the app's mapping, and the manager) and
    /// group (with the members of the groups in `scope`).
    pub async fn read(&self, scope: &ReadScope) -> Result<ObservedApp> {
        read::read(
            &self.client,
            &self.caps,
            scope,
            &self.app.name,
            &self.mapping,
        )
        .await
    }

    /// Carries out the changes (in plan order, all for this app); reports every
    /// change's outcome through `sink` as soon as it is known; never stops at the
    /// first failure.
    pub async fn apply(&self, input: ApplyInput<'_>, sink: &dyn OutcomeSink) -> Result<()> {
        let mut writer = apply::Writer {
            conn: self,
            users: input.desired.user_index(),
        };
        crate::apps::kit::driver::apply(&self.app.name, &mut writer, &input, sink).await
    }

    /// Nothing to release: the HTTP client closes its connections on drop.
    pub async fn close(self) -> Result<()> {
        Ok(())
    }
}
