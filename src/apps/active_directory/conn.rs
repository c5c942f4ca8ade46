//! The LDAP connection to a domain controller: the kit's ([`crate::apps::kit::ldap`])
//! for this app's settings.

use std::path::Path;

pub use crate::apps::kit::ldap::{
    CONNECT_TIMEOUT, Endpoint, OP_TIMEOUT, Transport, connect, error_chain, is_transport,
    text_suffix, timed,
};
use crate::desired::ActiveDirectoryApp;

/// Where and how to connect to the app's domain controller.
pub fn endpoint(app: &ActiveDirectoryApp, repo_root: &Path) -> anyhow::Result<Endpoint> {
    Endpoint::new(&app.url, app.tls.as_ref(), app.starttls, repo_root)
}
