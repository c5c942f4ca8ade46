//! The sandbox (placeholder until the emulator lands).
use super::Endpoint;
use crate::desired::Office365App;
use anyhow::{Result, bail};
use std::path::Path;
pub(crate) struct Sandbox;
impl Sandbox {
    pub(crate) async fn start(app: &Office365App, _state: &Path) -> Result<(Sandbox, Endpoint)> {
        bail!("app {}: the sandbox is not available yet", app.name)
    }
    pub(crate) fn base_url(&self) -> String {
        String::new()
    }
    pub(crate) async fn stop(self) -> Result<()> {
        Ok(())
    }
}
