//! The ldap connector: manages users and groups of any LDAPv3 directory (OpenLDAP,
//! 389 Directory Server, ...) over ldaps:// or ldap:// with StartTLS, within the app's
//! `users_ou` and `groups_ou`, with the schema choices of its settings (see
//! `docs/ldap.md`).
//!
//! Mapping: a user's id is its `entryUUID` (RFC 4530), its login and username its
//! `uid` (the login target); its attributes are the app's mapped targets
//! ([`crate::mapping`]: `mail` as `email`, ...); disabled is the app's `disabled`
//! representation (default: the ppolicy overlay's `pwdAccountLockedTime` of
//! `000001010000Z`). A group's id is its `entryUUID` and its name its `cn`; members come
//! from `member`, `uniqueMember` or `memberUid` by the app's `group_object_class`.
//! Members that are not users under `users_ou` (nor groups under `groups_ou`) appear as
//! `dn:<DN>` (or `uid:<value>` for a posixGroup's `memberUid`).

use anyhow::{Context, bail};
use ldap3::Ldap;

use crate::apps::kit::ldap::{self as kit, Endpoint};
use crate::apps::{ApplyInput, ConnectContext, OutcomeSink, ReadScope};
use crate::desired::{LdapApp, LdapDisabled, LdapGroupClass};
use crate::observed::ObservedApp;

pub mod apply;
pub mod doctor;
pub mod incremental;
pub mod read;

/// The Simple Paged Results control (RFC 2696), used when the root DSE lists it.
pub const PAGED_RESULTS_OID: &str = "1.2.840.113556.1.4.319";
/// The Password Modify extended operation (RFC 3062).
pub const PASSWORD_MODIFY_OID: &str = "1.3.6.1.4.1.4203.1.11.1";

/// The placeholder `member` (or `uniqueMember`) value of a group that has no members:
/// `groupOfNames` and `groupOfUniqueNames` require at least one (RFC 4519), so roster
/// writes the empty DN (which names no entry) into a group it leaves empty, removes it
/// with the first real member, and never reports it as a member or as drift.
pub const EMPTY_GROUP_PLACEHOLDER: &str = "";

/// The default object classes of a new user.
pub const DEFAULT_USER_CLASSES: &[&str] =
    &["top", "person", "organizationalPerson", "inetOrgPerson"];

/// The settings-derived schema of one app: what is read and written where.
#[derive(Debug, Clone)]
pub struct Schema {
    /// The object classes of a new user.
    pub user_classes: Vec<String>,
    /// The search filter of users under `users_ou`.
    pub user_filter: String,
    /// The login attribute (`uid`).
    pub login_attr: &'static str,
    /// The naming attribute of user entries.
    pub user_rdn: String,
    pub group_class: LdapGroupClass,
    pub disabled: LdapDisabled,
}

impl Schema {
    pub fn of(app: &LdapApp) -> Schema {
        let mut user_classes: Vec<String> = if app.user_object_classes.is_empty() {
            DEFAULT_USER_CLASSES.iter().map(|s| s.to_string()).collect()
        } else {
            app.user_object_classes.clone()
        };
        if app.posix.is_some()
            && !user_classes
                .iter()
                .any(|c| c.eq_ignore_ascii_case("posixAccount"))
        {
            user_classes.push("posixAccount".into());
        }
        let (login_attr, _) = crate::mapping::targets::login("ldap");
        let classes: String = user_classes
            .iter()
            .filter(|c| !c.eq_ignore_ascii_case("top"))
            .map(|c| {
                format!(
                    "(objectClass={})",
                    crate::apps::kit::ldap_codec::filter_value(c)
                )
            })
            .collect();
        Schema {
            user_filter: format!("(&{classes}({login_attr}=*))"),
            user_classes,
            login_attr,
            user_rdn: app
                .user_rdn
                .clone()
                .unwrap_or_else(|| login_attr.to_string()),
            group_class: app
                .group_object_class
                .unwrap_or(LdapGroupClass::GroupOfNames),
            disabled: app.disabled.clone().unwrap_or_default(),
        }
    }

    /// The object class of groups, as LDAP spells it.
    pub fn group_class_name(&self) -> &'static str {
        match self.group_class {
            LdapGroupClass::GroupOfNames => "groupOfNames",
            LdapGroupClass::GroupOfUniqueNames => "groupOfUniqueNames",
            LdapGroupClass::PosixGroup => "posixGroup",
        }
    }

    /// The member attribute of groups.
    pub fn member_attr(&self) -> &'static str {
        match self.group_class {
            LdapGroupClass::GroupOfNames => "member",
            LdapGroupClass::GroupOfUniqueNames => "uniqueMember",
            LdapGroupClass::PosixGroup => "memberUid",
        }
    }

    /// Whether a group needs at least one member value (and so the placeholder).
    pub fn needs_placeholder(&self) -> bool {
        self.group_class != LdapGroupClass::PosixGroup
    }

    pub fn group_filter(&self) -> String {
        format!("(objectClass={})", self.group_class_name())
    }
}

/// The attribute mapping of an app: its `attribute_map` over the defaults.
pub fn mapping(app: &LdapApp) -> crate::mapping::Mapping {
    crate::mapping::Mapping::lenient(&crate::desired::App::Ldap(app.clone()))
}

/// Where and how to connect.
pub fn endpoint(app: &LdapApp, repo_root: &std::path::Path) -> anyhow::Result<Endpoint> {
    Endpoint::new(&app.url, app.tls.as_ref(), app.starttls, repo_root)
}

/// A bound connection to one directory server, for one app.
pub struct LdapConnector {
    app: LdapApp,
    endpoint: Endpoint,
    ctx: ConnectContext,
    ldap: Ldap,
    /// The root DSE lists the Simple Paged Results control.
    paged: bool,
    /// The base entry's entryUUID.
    directory_id: Option<String>,
    /// The snapshot of incremental reads, when the context allows one.
    snapshot: Option<std::path::PathBuf>,
}

impl std::fmt::Debug for LdapConnector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LdapConnector")
            .field("app", &self.app.name)
            .field("url", &self.endpoint.url)
            .field("paged", &self.paged)
            .finish()
    }
}

/// What the root DSE says the server supports.
#[derive(Debug, Clone, Default)]
pub struct RootDse {
    pub controls: Vec<String>,
    pub extensions: Vec<String>,
}

impl RootDse {
    pub async fn read(ldap: &Ldap) -> anyhow::Result<RootDse> {
        let entry = kit::read_base(ldap, "", &["supportedControl", "supportedExtension"])
            .await
            .context("reading the root DSE")?
            .unwrap_or_else(|| ldap3::SearchEntry {
                dn: String::new(),
                attrs: Default::default(),
                bin_attrs: Default::default(),
            });
        let values = |name: &str| -> Vec<String> {
            entry
                .attrs
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(name))
                .map(|(_, v)| v.clone())
                .unwrap_or_default()
        };
        Ok(RootDse {
            controls: values("supportedControl"),
            extensions: values("supportedExtension"),
        })
    }

    pub fn paged(&self) -> bool {
        self.controls.iter().any(|c| c == PAGED_RESULTS_OID)
    }
}

impl LdapConnector {
    /// Connect, bind, read the root DSE, and check that `users_ou` and `groups_ou` exist.
    pub async fn connect(app: &LdapApp, ctx: &ConnectContext) -> anyhow::Result<Self> {
        let endpoint = endpoint(app, &ctx.repo_root)?;
        let password =
            crate::secret::resolve(&app.bind_password, &ctx.repo_root).context("bind_password")?;
        let ldap = kit::connect(&endpoint, &app.bind_dn, password.expose()).await?;
        let dse = RootDse::read(&ldap).await?;
        for (key, dn) in [("users_ou", &app.users_ou), ("groups_ou", &app.groups_ou)] {
            if kit::read_base(&ldap, dn, &["1.1"])
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
        let directory_id = kit::read_base(&ldap, &app.base_dn, &["entryUUID"])
            .await
            .ok()
            .flatten()
            .and_then(|e| kit::first(&e, "entryUUID").map(str::to_string));
        Ok(LdapConnector {
            app: app.clone(),
            endpoint,
            ctx: ctx.clone(),
            ldap,
            paged: dse.paged(),
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
                    self.paged,
                    self.directory_id.clone(),
                    path,
                )
                .await
            }
            None => Ok((
                read::read(
                    &self.ldap,
                    &self.app,
                    scope,
                    self.paged,
                    self.directory_id.clone(),
                )
                .await?,
                incremental::ReadKind::Full(None),
            )),
        }
    }

    /// Carry out one app's changes in plan order; each outcome goes to `sink`.
    pub async fn apply(&self, input: ApplyInput<'_>, sink: &dyn OutcomeSink) -> anyhow::Result<()> {
        let mut writer = apply::Writer::new(
            &self.ldap,
            &self.app,
            &self.endpoint,
            &self.ctx.repo_root,
            self.paged,
            &input,
        );
        crate::apps::kit::driver::apply(&self.app.name, &mut writer, &input, sink).await
    }

    /// Whether the connection is encrypted (ldaps:// or StartTLS).
    pub fn is_tls(&self) -> bool {
        self.endpoint.is_tls()
    }

    /// Whether reads use the Simple Paged Results control.
    pub fn is_paged(&self) -> bool {
        self.paged
    }

    /// Unbind and close the connection.
    pub async fn close(mut self) -> anyhow::Result<()> {
        kit::timed(kit::OP_TIMEOUT, self.ldap.unbind())
            .await
            .context("unbind")
    }
}
