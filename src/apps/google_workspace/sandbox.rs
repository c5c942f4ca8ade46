//! The sandbox: a local Google Workspace account served by the project's emulator
//! ([`crate::google_emulator`]), in-process on a loopback port and persisted to a JSON
//! file in the repository, reached through the same client code as Google (the JWT
//! bearer grant, with a service-account key generated for this run only).

use std::net::SocketAddr;
use std::path::Path;

use anyhow::{Context, Result};

use crate::desired::GoogleWorkspaceApp;
use crate::google_emulator::{GoogleEmulatorConfig, GoogleEmulatorHandle};
use crate::secret::Secret;

/// The local part of the administrator a sandbox's service account acts as.
pub const SANDBOX_ADMIN: &str = "sandbox-admin";

/// A running sandbox account.
pub(crate) struct Sandbox {
    handle: GoogleEmulatorHandle,
}

/// Where and as whom the connector talks to a sandbox.
pub(crate) struct SandboxEndpoint {
    pub api_url: String,
    pub token_url: String,
    pub subject: String,
    /// The service-account key (Google's JSON) made for this run.
    pub key: Secret,
}

/// A fresh RSA key as a service-account key file's JSON.
fn key_json(client_email: &str) -> Result<String> {
    use aws_lc_rs::encoding::AsDer as _;
    use base64::Engine as _;
    let pair = aws_lc_rs::rsa::KeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048)
        .map_err(|e| anyhow::anyhow!("cannot make the sandbox's key: {e}"))?;
    let der = pair
        .as_der()
        .map_err(|e| anyhow::anyhow!("cannot encode the sandbox's key: {e}"))?;
    let b64 = base64::engine::general_purpose::STANDARD.encode(der.as_ref());
    let mut pem = String::from("-----BEGIN PRIVATE KEY-----\n");
    for line in b64.as_bytes().chunks(64) {
        pem.push_str(std::str::from_utf8(line).unwrap_or_default());
        pem.push('\n');
    }
    pem.push_str("-----END PRIVATE KEY-----\n");
    Ok(serde_json::json!({
        "type": "service_account", "project_id": "roster-sandbox",
        "private_key_id": uuid::Uuid::new_v4().simple().to_string(),
        "private_key": pem, "client_email": client_email,
        "client_id": "100000000000000000000",
        "token_uri": "https://oauth2.googleapis.com/token",
    })
    .to_string())
}

impl Sandbox {
    /// Starts the emulator with the account at `state` (created on first use): its
    /// domains are `domain` and `authorized_domains`.
    pub(crate) async fn start(
        app: &GoogleWorkspaceApp,
        state: &Path,
    ) -> Result<(Sandbox, SandboxEndpoint)> {
        if let Some(dir) = state.parent()
            && !dir.as_os_str().is_empty()
        {
            std::fs::create_dir_all(dir).with_context(|| {
                format!("cannot create the sandbox directory {}", dir.display())
            })?;
        }
        let mut domains = vec![app.domain.to_ascii_lowercase()];
        for d in app.authorized_domains.iter().flatten() {
            let d = d.to_ascii_lowercase();
            if !domains.contains(&d) {
                domains.push(d);
            }
        }
        let key = key_json("roster@roster-sandbox.iam.gserviceaccount.com")?;
        let account = crate::google_emulator::ServiceAccount::from_key_json(&key)?;
        let config = GoogleEmulatorConfig {
            domains,
            service_accounts: vec![account],
            state_file: Some(state.to_path_buf()),
            ..GoogleEmulatorConfig::default()
        };
        let listen = SocketAddr::from(([127, 0, 0, 1], 0));
        let handle = crate::google_emulator::start(config, listen)
            .await
            .with_context(|| format!("cannot start the sandbox account at {}", state.display()))?;
        let endpoint = SandboxEndpoint {
            api_url: handle.base_url(),
            token_url: handle.token_url(),
            subject: format!("{SANDBOX_ADMIN}@{}", app.domain.to_ascii_lowercase()),
            key: Secret::new(key),
        };
        Ok((Sandbox { handle }, endpoint))
    }

    pub(crate) fn base_url(&self) -> String {
        self.handle.base_url()
    }

    /// Stops the emulator and persists the account.
    pub(crate) async fn stop(self) -> Result<()> {
        self.handle.shutdown().await
    }
}
