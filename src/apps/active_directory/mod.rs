//! The active_directory connector: manages users and groups of an Active Directory
//! domain over LDAP (ldaps:// or ldap:// with StartTLS), within the app's `users_ou`
//! and `groups_ou`.
//!
//! Mapping (see `docs/active-directory.md`): a user's id is its objectGUID, its login
//! and username its sAMAccountName; its attributes are the app's mapped targets
//! ([`crate::mapping`]: `mail` as `email`, `company` as `company`, ...) and `manager`,
//! the manager's id; `adminCount` set → the user is protected by AdminSDHolder
//! (`Protection::AdminSdHolder`); a group's id is its objectGUID and its name its `cn`.
//! Members (and managers) that are not users under `users_ou` (members: nor groups
//! under `groups_ou`) appear as `dn:<DN>`.

use anyhow::{Context, bail};
use ldap3::Ldap;

use crate::apps::{ApplyInput, ConnectContext, OutcomeSink, ReadScope};
use crate::desired::ActiveDirectoryApp;
use crate::observed::ObservedApp;

pub mod apply;
pub mod codec;
pub mod conn;
pub mod doctor;
pub mod incremental;
pub mod read;

pub use read::DN_ID_PREFIX;

/// The roster user attributes of the default mapping (an app's `attribute_map` adds
/// or removes targets: [`mapping`]); others (licenses, usage_location, mobile_phone)
/// do not exist for this app type.
pub const MANAGED_USER_ATTRIBUTES: &[&str] = &[
    "email",
    "first_name",
    "last_name",
    "display_name",
    "department",
    "job_title",
    "employee_id",
];

/// The attribute mapping of an app: its `attribute_map` over the defaults, bad entries
/// left out (the loader reports them; a validated repository has none).
pub fn mapping(app: &ActiveDirectoryApp) -> crate::mapping::Mapping {
    crate::mapping::Mapping::lenient(&crate::desired::App::ActiveDirectory(app.clone()))
}

/// A bound connection to one domain controller, for one app.
pub struct ActiveDirectoryConnector {
    app: ActiveDirectoryApp,
    endpoint: conn::Endpoint,
    ctx: ConnectContext,
    ldap: Ldap,
    directory_id: Option<String>,
    /// The snapshot of incremental reads, when the context allows one.
    snapshot: Option<std::path::PathBuf>,
}

impl std::fmt::Debug for ActiveDirectoryConnector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ActiveDirectoryConnector")
            .field("app", &self.app.name)
            .field("url", &self.endpoint.url)
            .finish()
    }
}

impl ActiveDirectoryConnector {
    /// Connect, bind, and check that `users_ou` and `groups_ou` exist.
    pub async fn connect(app: &ActiveDirectoryApp, ctx: &ConnectContext) -> anyhow::Result<Self> {
        let endpoint = conn::endpoint(app, &ctx.repo_root)?;
        let password =
            crate::secret::resolve(&app.bind_password, &ctx.repo_root).context("bind_password")?;
        let ldap = conn::connect(&endpoint, &app.bind_dn, password.expose()).await?;
        for (key, dn) in [("users_ou", &app.users_ou), ("groups_ou", &app.groups_ou)] {
            if read::read_base(&ldap, dn, &["1.1"])
                .await
                .with_context(|| format!("checking {key}"))?
                .is_none()
            {
                bail!(
                    "{key} {dn} does not exist on {} (or the bind account cannot see it)",
                    endpoint.url
                );
            }
        }
        let directory_id = read::read_base(&ldap, &app.base_dn, &["objectSid"])
            .await
            .ok()
            .flatten()
            .and_then(|e| read::first_bin(&e, "objectSid"))
            .and_then(|raw| codec::sid_to_string(&raw));
        Ok(ActiveDirectoryConnector {
            app: app.clone(),
            endpoint,
            ctx: ctx.clone(),
            ldap,
            directory_id,
            snapshot: ctx
                .cache_dir
                .as_ref()
                .map(|d| incremental::snapshot_path(d, &app.name)),
        })
    }

    /// Read the users under `users_ou` and the groups under `groups_ou`: incrementally
    /// from the snapshot when the context has a cache folder (see [`incremental`]),
    /// else in full.
    pub async fn read(&self, scope: &ReadScope) -> anyhow::Result<ObservedApp> {
        Ok(self.read_reporting(scope).await?.0)
    }

    /// [`Self::read`], also saying whether the read was full or incremental.
    pub async fn read_reporting(
        &self,
        scope: &ReadScope,
    ) -> anyhow::Result<(ObservedApp, incremental::ReadKind)> {
        match &self.snapshot {
            Some(path) => {
                incremental::read_cached(
                    &self.ldap,
                    &self.app,
                    scope,
                    self.directory_id.clone(),
                    path,
                )
                .await
            }
            None => Ok((
                read::read(&self.ldap, &self.app, scope, self.directory_id.clone()).await?,
                incremental::ReadKind::Full(None),
            )),
        }
    }

    /// Carry out one app's changes in plan order; each outcome goes to `sink`. Returns
    /// an error only when the apply could not run at all.
    pub async fn apply(&self, input: ApplyInput<'_>, sink: &dyn OutcomeSink) -> anyhow::Result<()> {
        let mut applier = apply::Applier::new(
            &self.ldap,
            &self.app,
            &self.endpoint,
            &self.ctx.repo_root,
            &input,
        );
        crate::apps::kit::driver::apply(&self.app.name, &mut applier, &input, sink).await
    }

    /// Whether the connection is encrypted (ldaps:// or StartTLS).
    pub fn is_tls(&self) -> bool {
        self.endpoint.is_tls()
    }

    /// The domain SID, when readable.
    pub fn directory_id(&self) -> Option<&str> {
        self.directory_id.as_deref()
    }

    /// Unbind and close the connection.
    pub async fn close(mut self) -> anyhow::Result<()> {
        conn::timed(conn::OP_TIMEOUT, self.ldap.unbind())
            .await
            .context("unbind")
    }
}
