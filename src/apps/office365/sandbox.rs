//! The sandbox: a local tenant served by the bundled Graph emulator, in-process on a
//! loopback port, persisted to a JSON file in the repository.

use std::path::Path;

use anyhow::{Result, bail};

use super::Endpoint;
use crate::desired::Office365App;

/// A running sandbox tenant.
pub(crate) struct Sandbox;

impl Sandbox {
    pub(crate) async fn start(app: &Office365App, _state: &Path) -> Result<(Sandbox, Endpoint)> {
        bail!("app {}: the sandbox is not available yet", app.name)
    }
    pub(crate) async fn stop(self) -> Result<()> {
        Ok(())
    }
}
