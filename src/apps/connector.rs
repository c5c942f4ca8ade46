//! Dispatch over the connectors by app type: the one place that maps an app's `type`
//! to the code that speaks its protocol.

use super::active_directory::ActiveDirectoryConnector;
use super::google_workspace::GoogleWorkspaceConnector;
use super::ldap::LdapConnector;
use super::office365::Office365Connector;
use super::scim::ScimConnector;
use super::{ApplyInput, ConnectContext, OutcomeSink, ReadScope};
use crate::desired::App;
use crate::observed::ObservedApp;

/// A connected app.
pub enum Connector {
    Office365(Box<Office365Connector>),
    ActiveDirectory(Box<ActiveDirectoryConnector>),
    Scim(Box<ScimConnector>),
    Ldap(Box<LdapConnector>),
    GoogleWorkspace(Box<GoogleWorkspaceConnector>),
}

impl Connector {
    /// Connects and authenticates; errors name the app.
    pub async fn connect(app: &App, ctx: &ConnectContext) -> anyhow::Result<Connector> {
        let connected = match app {
            App::Office365(a) => Office365Connector::connect(a, ctx)
                .await
                .map(|c| Connector::Office365(Box::new(c))),
            App::ActiveDirectory(a) => ActiveDirectoryConnector::connect(a, ctx)
                .await
                .map(|c| Connector::ActiveDirectory(Box::new(c))),
            App::Scim(a) => ScimConnector::connect(a, ctx)
                .await
                .map(|c| Connector::Scim(Box::new(c))),
            App::Ldap(a) => LdapConnector::connect(a, ctx)
                .await
                .map(|c| Connector::Ldap(Box::new(c))),
            App::GoogleWorkspace(a) => GoogleWorkspaceConnector::connect(a, ctx)
                .await
                .map(|c| Connector::GoogleWorkspace(Box::new(c))),
        };
        connected.map_err(|e| e.context(format!("app {}: cannot connect", app.name())))
    }

    pub async fn read(&self, scope: &ReadScope) -> anyhow::Result<ObservedApp> {
        let mut observed = match self {
            Connector::Office365(c) => c.read(scope).await,
            Connector::ActiveDirectory(c) => c.read(scope).await,
            Connector::Scim(c) => c.read(scope).await,
            Connector::Ldap(c) => c.read(scope).await,
            Connector::GoogleWorkspace(c) => c.read(scope).await,
        }?;
        observed.compact();
        Ok(observed)
    }

    pub async fn apply(&self, input: ApplyInput<'_>, sink: &dyn OutcomeSink) -> anyhow::Result<()> {
        match self {
            Connector::Office365(c) => c.apply(input, sink).await,
            Connector::ActiveDirectory(c) => c.apply(input, sink).await,
            Connector::Scim(c) => c.apply(input, sink).await,
            Connector::Ldap(c) => c.apply(input, sink).await,
            Connector::GoogleWorkspace(c) => c.apply(input, sink).await,
        }
    }

    pub async fn close(self) -> anyhow::Result<()> {
        match self {
            Connector::Office365(c) => c.close().await,
            Connector::ActiveDirectory(c) => c.close().await,
            Connector::Scim(c) => c.close().await,
            Connector::Ldap(c) => c.close().await,
            Connector::GoogleWorkspace(c) => c.close().await,
        }
    }
}
