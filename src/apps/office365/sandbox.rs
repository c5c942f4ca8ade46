//! The sandbox: a local tenant served by the bundled Graph emulator, in-process on a
//! loopback port and persisted to a JSON file in the repository, reached through the
//! same client code as a real tenant (client-secret auth with credentials generated
//! for this run only).

use std::net::SocketAddr;
use std::path::Path;

use anyhow::{Context, Result};

use super::Endpoint;
use super::auth::Credential;
use crate::desired::Office365App;
use crate::emulator::{EmulatorConfig, EmulatorHandle};
use crate::secret::Secret;

/// The license SKU a new sandbox tenant gets.
pub const SANDBOX_SKU: (&str, u32) = ("ENTERPRISEPACK", 25);
/// The verified domain of a new sandbox tenant when the app names none.
pub const SANDBOX_DOMAIN: &str = "example.com";
/// The tenant name of a sandbox without `tenant:`.
pub const SANDBOX_TENANT: &str = "sandbox";

/// A running sandbox tenant.
pub(crate) struct Sandbox {
    handle: EmulatorHandle,
}

impl Sandbox {
    /// Starts the emulator with its tenant at `state` (created on first use).
    pub(crate) async fn start(app: &Office365App, state: &Path) -> Result<(Sandbox, Endpoint)> {
        if let Some(dir) = state.parent()
            && !dir.as_os_str().is_empty()
        {
            std::fs::create_dir_all(dir).with_context(|| {
                format!("cannot create the sandbox directory {}", dir.display())
            })?;
        }
        let domains = match app.authorized_domains.as_deref() {
            Some(d) if !d.is_empty() => d.iter().map(|d| d.to_ascii_lowercase()).collect(),
            _ => vec![SANDBOX_DOMAIN.to_string()],
        };
        let tenant = app
            .tenant
            .clone()
            .unwrap_or_else(|| SANDBOX_TENANT.to_string());
        let client_id = uuid::Uuid::new_v4().to_string();
        let secret = crate::apps::kit::password::random();
        let config = EmulatorConfig {
            tenant: tenant.clone(),
            domains,
            skus: vec![(SANDBOX_SKU.0.to_string(), SANDBOX_SKU.1)],
            clients: vec![(client_id.clone(), secret.clone())],
            state_file: Some(state.to_path_buf()),
            realistic_tenant: app.sandbox_seed == Some(crate::desired::SandboxSeed::Realistic),
            ..EmulatorConfig::default()
        };
        let listen = SocketAddr::from(([127, 0, 0, 1], 0));
        let handle = crate::emulator::start(config, listen)
            .await
            .with_context(|| format!("cannot start the sandbox tenant at {}", state.display()))?;
        let base = handle.base_url();
        let endpoint = Endpoint {
            graph_url: base.clone(),
            login_url: base,
            tenant,
            client_id,
            credential: Credential::Secret(Secret::new(secret)),
            tls: Default::default(),
            no_proxy: true,
        };
        Ok((Sandbox { handle }, endpoint))
    }

    pub(crate) fn base_url(&self) -> String {
        self.handle.base_url()
    }

    /// Stops the emulator and persists the tenant.
    pub(crate) async fn stop(self) -> Result<()> {
        self.handle.shutdown().await
    }
}
