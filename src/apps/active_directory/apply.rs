//! The applier: carries out one app's planned changes on the directory, in plan
//! order, reporting an outcome per change. Users are created disabled, get their
//! password over TLS, and only then are enabled; enable/disable flips only the
//! ACCOUNTDISABLE bit; membership changes to one group are sent as multi-valued
//! modifies in chunks, and "already a member" / "not a member" count as done. A user
//! is deleted with the Tree Delete control, with whatever lies beneath it.
//! Objects outside `users_ou` / `groups_ou` are never written.
//!
//! User attributes are the app's mapping ([`crate::mapping`]): a change's keys are
//! written to their mapped targets (the default `email` also to `userPrincipalName`,
//! unless the app maps that itself), the login from `login` to `sAMAccountName` (a
//! rename replaces it on the same object, so the objectGUID stays), a mapped `cn` by
//! renaming the entry within its OU, and managers (phase [`Phase::Managers`]) by the
//! manager's DN in `manager`.

use std::collections::{HashMap, HashSet};

use anyhow::{Context, anyhow, bail};
use ldap3::controls::RawControl;
use ldap3::{Ldap, Mod};
use serde_json::Value;

use super::codec;
use super::conn::{Endpoint, OP_TIMEOUT, timed};
use super::read::{self, ACCOUNTDISABLE, DN_ID_PREFIX, GROUP_FILTER, MANAGER_ATTR, USER_FILTER};
use crate::apps::kit::driver::{PhaseWriter, Run};
pub use crate::apps::kit::ldap::{
    CONTROL_KEYS, LdapFailure, check, ldap_add, ldap_delete, ldap_modify, rc_name, rc_of, set1,
    value_text,
};
use crate::apps::kit::ldap::{check_mapped_keys, mapped_writes, replace_mods};
use crate::apps::{ApplyInput, ChangeResult};
use crate::desired::{ActiveDirectoryApp, DesiredState};
use crate::mapping::Mapping;
use crate::observed::ObservedApp;
use crate::plan::{Action, Change, Member, ObjectKind, Phase};
use crate::secret::Secret;

/// Values per membership modify operation.
pub const MEMBER_CHUNK: usize = 500;
/// userAccountControl of a new account: NORMAL_ACCOUNT | ACCOUNTDISABLE.
pub const UAC_NEW_DISABLED: u32 = 0x200 | ACCOUNTDISABLE;
/// groupType of a global security group.
pub const GLOBAL_SECURITY_GROUP: &str = "-2147483646";

/// The LDAP_SERVER_TREE_DELETE_OID control: the entry is deleted with everything
/// beneath it ([MS-ADTS] 3.1.1.3.4.1.15), as a user with child objects (the
/// ActiveSync devices Exchange keeps under a mailbox user) cannot be deleted
/// otherwise ("not allowed on non-leaf").
pub const TREE_DELETE_OID: &str = "1.2.840.113556.1.4.805";

/// Delete `dn` and its subtree, with the Tree Delete control marked critical: a server
/// that does not know it refuses the delete rather than ignoring the control.
async fn ldap_delete_tree(ldap: &Ldap, dn: &str) -> anyhow::Result<()> {
    let mut ldap = ldap.clone();
    ldap.with_controls(RawControl {
        ctype: TREE_DELETE_OID.to_string(),
        crit: true,
        val: None,
    });
    let res = timed(OP_TIMEOUT, ldap.delete(dn))
        .await
        .with_context(|| format!("delete {dn} with its subtree"))?;
    Ok(check(&format!("delete {dn} with its subtree"), res)?)
}

/// The key of a mapped `cn`: renamed with a ModifyDN, not modified.
const CN: &str = "cn";

/// The default mapping's key for `mail`, also written to `userPrincipalName`.
const EMAIL: &str = "email";
const UPN: &str = "userPrincipalName";

/// The LDAP write primitives, driven by [`crate::apps::kit::driver::apply`].
pub struct Applier<'a> {
    pub ldap: &'a Ldap,
    pub app: &'a ActiveDirectoryApp,
    pub endpoint: &'a Endpoint,
    pub repo_root: &'a std::path::Path,
    pub desired: &'a DesiredState,
    pub observed: &'a ObservedApp,
    /// The app's attribute mapping: which keys go to which LDAP attributes.
    mapping: Mapping,
    /// DNs of users by lower-cased login, learned during this apply.
    user_dns: HashMap<String, String>,
    /// DNs of users by objectGUID, of users created or renamed during this apply.
    dns_by_id: HashMap<String, String>,
    /// DNs of groups by name, learned during this apply.
    group_dns: HashMap<String, String>,
}

impl PhaseWriter for Applier<'_> {
    const TYPE: &'static str = "active_directory";

    /// Users, groups, memberships and managers; not licenses (AD has none), nor
    /// restores: the Recycle Bin is not used (see docs/active-directory.md).
    fn supports(&self, change: &Change) -> bool {
        !matches!(change.phase(), Phase::Licenses | Phase::Other)
            && change.action != Action::Restore
    }

    async fn write_phase(&mut self, phase: Phase, idx: &[usize], run: &Run<'_>) {
        if phase == Phase::Managers {
            for &i in idx {
                self.manager(i, run).await;
            }
            return;
        }
        if matches!(phase, Phase::MembershipAdds | Phase::MembershipRemoves) {
            // A run of membership changes of one group: one batch.
            let group = |i: usize| run.change(i).membership().map(|k| k.group.clone());
            let mut a = 0;
            while a < idx.len() {
                let mut b = a + 1;
                while b < idx.len() && group(idx[b]) == group(idx[a]) {
                    b += 1;
                }
                self.memberships(&idx[a..b], run).await;
                a = b;
            }
            return;
        }
        for &i in idx {
            let result = match self.one(run.change(i), run).await {
                Ok(id) => ChangeResult::Applied {
                    id,
                    request_id: None,
                },
                Err(e) => ChangeResult::Failed {
                    error: format!("{e:#}"),
                    request_id: None,
                },
            };
            run.record(i, result);
        }
    }
}

impl<'a> Applier<'a> {
    pub fn new(
        ldap: &'a Ldap,
        app: &'a ActiveDirectoryApp,
        endpoint: &'a Endpoint,
        repo_root: &'a std::path::Path,
        input: &ApplyInput<'a>,
    ) -> Self {
        Applier {
            ldap,
            app,
            endpoint,
            repo_root,
            desired: input.desired,
            observed: input.observed,
            mapping: super::mapping(app),
            user_dns: HashMap::new(),
            dns_by_id: HashMap::new(),
            group_dns: HashMap::new(),
        }
    }

    async fn one(&mut self, change: &Change, run: &Run<'_>) -> anyhow::Result<Option<String>> {
        match (change.object(), change.action) {
            (ObjectKind::User, Action::Create) => self.create_user(change).await.map(Some),
            (ObjectKind::User, Action::Update) => self.update_user(change, run).await.map(|_| None),
            (ObjectKind::User, Action::Enable) => {
                let dn = self.user_dn_for(change, run).await?;
                // An unfinished create (its password never set: the plan says so, and
                // the entry is read again in case the plan was made from a snapshot)
                // gets its password first: never an enabled account without one.
                let planned = change
                    .after
                    .as_ref()
                    .is_some_and(|a| a.contains_key("password"));
                if planned || self.password_never_set(&dn).await? {
                    self.give_password(&dn, change).await?;
                }
                match self.set_disabled(&dn, false).await {
                    Ok(()) => {}
                    // Real AD refuses to enable an account without a usable password
                    // (53, or 19 under a policy): give it one, then enable.
                    Err(e) if matches!(rc_of(&e), Some(53 | 19)) => {
                        self.give_password(&dn, change).await?;
                        self.set_disabled(&dn, false).await?;
                    }
                    Err(e) => return Err(e),
                }
                Ok(change.id.clone())
            }
            (ObjectKind::User, Action::Disable) => {
                let dn = self.user_dn_for(change, run).await?;
                self.set_disabled(&dn, true).await?;
                Ok(change.id.clone())
            }
            (ObjectKind::User, Action::Delete) => {
                let dn = self.user_dn_for(change, run).await?;
                self.delete_user_dn(&dn).await?;
                Ok(change.id.clone())
            }
            (ObjectKind::Group, Action::Create) => self.create_group(change).await.map(Some),
            (ObjectKind::Group, Action::Update) => self.update_group(change).await.map(|_| None),
            (ObjectKind::Group, Action::Delete) => {
                let dn = self.group_dn(&change.key(), change.id.as_deref()).await?;
                self.delete_dn(&dn).await?;
                Ok(change.id.clone())
            }
            (object, action) => bail!("{object} {action} is not supported by active_directory"),
        }
    }

    fn require_in(&self, dn: &str, ou: &str, what: &str) -> anyhow::Result<()> {
        if codec::is_within(dn, ou) {
            Ok(())
        } else {
            bail!("{what} {dn} is outside {ou}; roster does not touch it")
        }
    }

    /// The logins a user change may find its live object by, in order: the old login
    /// of a rename (`before.login`), the user's login in this app, the change's key.
    fn logins_of(change: &Change, run: &Run<'_>) -> Vec<String> {
        let mut out: Vec<String> = Vec::with_capacity(3);
        let old = change
            .before
            .as_ref()
            .and_then(|b| b.get("login"))
            .and_then(value_text);
        for login in old
            .into_iter()
            .chain([run.login_of(&change.key()), change.key().into_owned()])
        {
            if !out.iter().any(|l| l.eq_ignore_ascii_case(&login)) {
                out.push(login);
            }
        }
        out
    }

    /// The DN of the user a change is about: by its id, else by its logins
    /// ([`Self::logins_of`]).
    async fn user_dn_for(&mut self, change: &Change, run: &Run<'_>) -> anyhow::Result<String> {
        let logins = Self::logins_of(change, run);
        self.find_user_dn(change.id.as_deref(), &logins).await
    }

    /// Find a user's DN: by id (created or renamed in this apply, observed), else by
    /// the first of `logins` that is known (learned in this apply, observed) or found
    /// by sAMAccountName under users_ou.
    async fn find_user_dn(
        &mut self,
        id: Option<&str>,
        logins: &[String],
    ) -> anyhow::Result<String> {
        let observed = self.observed;
        let by_id = id.and_then(|id| {
            self.dns_by_id.get(id).cloned().or_else(|| {
                observed
                    .users
                    .iter()
                    .find(|u| u.id == id)
                    .and_then(|u| u.location.clone())
            })
        });
        let dn = match by_id {
            Some(dn) => dn,
            None => self.user_dn_by_logins(logins).await?,
        };
        self.require_in(&dn, &self.app.users_ou, "user")?;
        if let Some(login) = logins.first() {
            self.user_dns
                .entry(login.to_lowercase())
                .or_insert(dn.clone());
        }
        Ok(dn)
    }

    async fn user_dn_by_logins(&mut self, logins: &[String]) -> anyhow::Result<String> {
        let observed = self.observed;
        for login in logins {
            if let Some(dn) = self.user_dns.get(&login.to_lowercase()) {
                return Ok(dn.clone());
            }
            if let Some(dn) = observed
                .user_by_login(login)
                .and_then(|u| u.location.clone())
            {
                return Ok(dn);
            }
        }
        for login in logins {
            let filter = format!(
                "(&{USER_FILTER}(sAMAccountName={}))",
                codec::filter_value(login)
            );
            let hits = read::paged_search(self.ldap, &self.app.users_ou, &filter, &["1.1"]).await?;
            match hits.as_slice() {
                [one] => return Ok(one.dn.clone()),
                [] => continue,
                _ => bail!("user {login} is ambiguous under {}", self.app.users_ou),
            }
        }
        bail!(
            "user {} not found under {}",
            logins.first().map(String::as_str).unwrap_or("?"),
            self.app.users_ou
        )
    }

    /// Find a user's DN by login (and id, when known).
    async fn user_dn(&mut self, login: &str, id: Option<&str>) -> anyhow::Result<String> {
        self.find_user_dn(id, &[login.to_string()]).await
    }

    /// The DN of the user with live id `id` (observed, or created in this apply), else
    /// of the user with repository key `key`.
    async fn user_dn_of_id(
        &mut self,
        id: &str,
        key: &str,
        run: &Run<'_>,
    ) -> anyhow::Result<String> {
        let logins: Vec<String> =
            [run.login_of(key), key.to_string()]
                .into_iter()
                .fold(Vec::new(), |mut v, l| {
                    if !v.iter().any(|x: &String| x.eq_ignore_ascii_case(&l)) {
                        v.push(l);
                    }
                    v
                });
        self.find_user_dn(Some(id), &logins).await
    }

    async fn group_dn(&mut self, name: &str, id: Option<&str>) -> anyhow::Result<String> {
        if let Some(dn) = self.group_dns.get(name) {
            return Ok(dn.clone());
        }
        let observed = self.observed;
        let found = id
            .and_then(|id| observed.groups.iter().find(|g| g.id == id))
            .or_else(|| observed.group_by_name(name))
            .and_then(|g| g.location.clone());
        let dn = match found {
            Some(dn) => dn,
            None => {
                let filter = format!("(&{GROUP_FILTER}(cn={}))", codec::filter_value(name));
                let hits =
                    read::paged_search(self.ldap, &self.app.groups_ou, &filter, &["1.1"]).await?;
                match hits.as_slice() {
                    [one] => one.dn.clone(),
                    [] => bail!("group {name} not found under {}", self.app.groups_ou),
                    _ => bail!("group {name} is ambiguous under {}", self.app.groups_ou),
                }
            }
        };
        self.require_in(&dn, &self.app.groups_ou, "group")?;
        self.group_dns.insert(name.to_string(), dn.clone());
        Ok(dn)
    }

    /// The DN of a membership's member: `dn:DN`, a group by name, a live id, or a user
    /// by key (its id from the run, which knows the users created in it, else its
    /// login in this app).
    async fn member_dn(&mut self, member: &Member, run: &Run<'_>) -> anyhow::Result<String> {
        if let Member::User(key) = member
            && !key.starts_with(DN_ID_PREFIX)
            && let Ok(id) = run.user_id(key, None)
        {
            return self.user_dn_of_id(&id, key, run).await;
        }
        let reference = match member {
            // A repository user's login in this app; a live id or login as it is.
            Member::User(key) if run.login_of(key) != key.to_lowercase() => run.login_of(key),
            other => other.to_string(),
        };
        self.member_dn_of(&reference).await
    }

    /// The DN of a member reference: `dn:DN`, `group:NAME`, a live id, or a login.
    async fn member_dn_of(&mut self, member: &str) -> anyhow::Result<String> {
        if let Some(dn) = member.strip_prefix(DN_ID_PREFIX) {
            return Ok(dn.to_string());
        }
        if let Some(name) = member.strip_prefix("group:") {
            return self.group_dn(name, None).await;
        }
        let observed = self.observed;
        if let Some(dn) = observed
            .users
            .iter()
            .find(|u| u.id == member)
            .and_then(|u| u.location.clone())
            .or_else(|| {
                observed
                    .groups
                    .iter()
                    .find(|g| g.id == member)
                    .and_then(|g| g.location.clone())
            })
        {
            return Ok(dn);
        }
        self.user_dn(member, None).await
    }

    async fn guid_of_dn(&self, dn: &str) -> anyhow::Result<String> {
        let entry = read::read_base(self.ldap, dn, &["objectGUID"])
            .await?
            .ok_or_else(|| anyhow!("{dn} is gone right after it was written"))?;
        read::guid_of(&entry)
    }

    /// Whether the account's `pwdLastSet` is 0: no password was ever set (or it must
    /// be changed at next logon, which a fresh random one also needs).
    async fn password_never_set(&self, dn: &str) -> anyhow::Result<bool> {
        let entry = read::read_base(self.ldap, dn, &["pwdLastSet"]).await?;
        Ok(entry
            .as_ref()
            .and_then(|e| e.attrs.get("pwdLastSet"))
            .and_then(|v| v.first())
            .is_some_and(|v| v == "0"))
    }

    /// Sets the user's password: the repository's (with `password_sync`), otherwise a
    /// random one that must be changed at next logon (`pwdLastSet` 0).
    async fn give_password(&self, dn: &str, change: &Change) -> anyhow::Result<()> {
        let login = change.key();
        match self.password_for(change, false)? {
            Some(password) => self.set_password(dn, &login, &password).await,
            None => {
                let password = Secret::new(crate::apps::kit::password::random());
                self.set_password(dn, &login, &password).await?;
                self.must_change_password(dn, &login).await
            }
        }
    }

    async fn must_change_password(&self, dn: &str, login: &str) -> anyhow::Result<()> {
        let mods = vec![Mod::Replace(
            "pwdLastSet".to_string(),
            set1("0".to_string()),
        )];
        ldap_modify(self.ldap, dn, mods)
            .await
            .with_context(|| format!("requiring user {login} to change the password at next logon"))
    }

    fn password_for(&self, change: &Change, enabled: bool) -> anyhow::Result<Option<Secret>> {
        let desired = self.desired.user(&change.key());
        let reference = desired.and_then(|u| u.password.as_ref());
        match reference {
            Some(r) if self.app.switches.password_sync => {
                let secret = crate::secret::resolve(r, self.repo_root)
                    .with_context(|| format!("password of user {} ({r})", change.key()))?;
                Ok(Some(secret))
            }
            _ if enabled => Ok(Some(Secret::new(crate::apps::kit::password::random()))),
            _ => Ok(None),
        }
    }

    fn refuse_plain_password(&self, login: &str) -> anyhow::Result<()> {
        self.endpoint.refuse_plain_password(login)
    }

    async fn set_password(&self, dn: &str, login: &str, password: &Secret) -> anyhow::Result<()> {
        self.refuse_plain_password(login)?;
        let value = codec::unicode_pwd(password.expose());
        let mods = vec![Mod::Replace(b"unicodePwd".to_vec(), set1(value))];
        let mut ldap = self.ldap.clone();
        let res = timed(OP_TIMEOUT, ldap.modify(dn, mods))
            .await
            .with_context(|| format!("setting the password of user {login}"))?;
        let what = format!("setting the password of user {login}");
        check(&what, res).map_err(|mut f| {
            if f.rc == 19 {
                f.message
                    .push_str(" (the password does not meet the domain's password policy)");
            }
            anyhow::Error::new(f)
        })
    }

    async fn set_disabled(&self, dn: &str, disabled: bool) -> anyhow::Result<()> {
        let entry = read::read_base(self.ldap, dn, &["userAccountControl"])
            .await?
            .ok_or_else(|| anyhow!("user {dn} does not exist"))?;
        let uac = read::first(&entry, "userAccountControl")
            .and_then(|v| v.parse::<i64>().ok())
            .ok_or_else(|| anyhow!("{dn} has no readable userAccountControl"))?
            as u32;
        let new = if disabled {
            uac | ACCOUNTDISABLE
        } else {
            uac & !ACCOUNTDISABLE
        };
        if new == uac {
            return Ok(());
        }
        let mods = vec![Mod::Replace(
            "userAccountControl".to_string(),
            set1((new as i32).to_string()),
        )];
        ldap_modify(self.ldap, dn, mods).await
    }

    async fn delete_dn(&self, dn: &str) -> anyhow::Result<()> {
        match ldap_delete(self.ldap, dn).await {
            Ok(()) => Ok(()),
            Err(e) if rc_of(&e) == Some(32) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Delete a user with whatever lies beneath it (Tree Delete). AD checks the
    /// "Delete subtree" right for a tree delete, which an account delegated only
    /// "Delete User objects" lacks; and a server without the control refuses it as
    /// unavailable. Either way a plain delete follows, which works for a user without
    /// children; a user with children then fails naming both causes.
    async fn delete_user_dn(&self, dn: &str) -> anyhow::Result<()> {
        let tree = match ldap_delete_tree(self.ldap, dn).await {
            Ok(()) => return Ok(()),
            Err(e) if rc_of(&e) == Some(32) => return Ok(()),
            // insufficientAccessRights, unavailableCriticalExtension, unwillingToPerform
            Err(e) if matches!(rc_of(&e), Some(50 | 12 | 53)) => e,
            Err(e) => return Err(e),
        };
        match ldap_delete(self.ldap, dn).await {
            Ok(()) => Ok(()),
            Err(e) if rc_of(&e) == Some(32) => Ok(()),
            Err(e) if rc_of(&e) == Some(66) => Err(e.context(format!(
                "the user has child objects (such as ActiveSync devices), and deleting them \
                 with it was refused ({tree:#}); the bind account needs the \"Delete subtree\" \
                 right on {}",
                self.app.users_ou
            ))),
            Err(e) => Err(e.context(format!("after the tree delete was refused ({tree:#})"))),
        }
    }

    /// The LDAP attributes a change's key is written to: its mapped target, and for
    /// the default `email` also `userPrincipalName`, unless the app maps that itself
    /// (or takes it out of management with `userPrincipalName: null`). `None`: the key
    /// is not mapped.
    fn targets_of(&self, key: &str) -> Option<Vec<String>> {
        let field = self.mapping.field(key)?;
        let mut out = vec![field.target.clone()];
        if key == EMAIL
            && !self.app.attribute_map.contains_key(UPN)
            && self.mapping.fields.iter().all(|f| f.target != UPN)
        {
            out.push(UPN.to_string());
        }
        Some(out)
    }

    /// Refuses a user change holding keys that are neither mapped nor control keys,
    /// before any write: a value the app does not map is never dropped silently.
    fn check_keys(&self, change: &Change) -> anyhow::Result<()> {
        check_mapped_keys(&self.mapping, change)
    }

    async fn create_user(&mut self, change: &Change) -> anyhow::Result<String> {
        self.check_keys(change)?;
        let key = change.key();
        let username: &str = &key;
        let after = change.after.clone().unwrap_or_default();
        let desired = self.desired.user(username);
        let text = |k: &str| after.get(k).and_then(value_text);
        // The mapped login; a plan without one (older plans, tests) logs in by key.
        let login = text("login").unwrap_or_else(|| username.to_string());
        let enabled = after
            .get("enabled")
            .and_then(Value::as_bool)
            .or(desired.map(|u| u.enabled))
            .unwrap_or(true);
        let password = self.password_for(change, enabled)?;
        if password.is_some() {
            // Refused before any write, as real AD would refuse the unicodePwd.
            self.refuse_plain_password(&login)?;
        }
        let display = text("display_name")
            .or_else(|| desired.map(|u| u.display_name()))
            .or_else(|| {
                let joined = [text("first_name"), text("last_name")]
                    .into_iter()
                    .flatten()
                    .collect::<Vec<_>>()
                    .join(" ");
                (!joined.is_empty()).then_some(joined)
            })
            .unwrap_or_else(|| login.clone());
        let mut attrs: Vec<(String, HashSet<String>)> = vec![
            (
                "objectClass".into(),
                ["top", "person", "organizationalPerson", "user"]
                    .iter()
                    .map(|s| s.to_string())
                    .collect(),
            ),
            ("sAMAccountName".into(), set1(login.clone())),
            (
                "userAccountControl".into(),
                set1(UAC_NEW_DISABLED.to_string()),
            ),
        ];
        for field in &self.mapping.fields {
            if field.key == CN {
                continue;
            }
            if let Some(v) = text(&field.key) {
                for target in self.targets_of(&field.key).unwrap_or_default() {
                    attrs.push((target, set1(v.clone())));
                }
            }
        }
        if text("display_name").is_none() && self.mapping.field("display_name").is_some() {
            attrs.push(("displayName".into(), set1(display.clone())));
        }
        let mapped_cn = self.mapping.field(CN).and_then(|_| text(CN));
        let dn = match mapped_cn {
            // The mapping names the entry: exactly that name, or a failure saying why
            // (a changed name would show as drift on every plan).
            Some(cn) => {
                let dn = codec::cn_dn(&cn, &self.app.users_ou);
                attrs.push(("cn".into(), set1(cn.clone())));
                ldap_add(self.ldap, &dn, attrs).await.map_err(|e| {
                    let taken = rc_of(&e) == Some(68);
                    let e = e.context(format!("creating user {username}"));
                    if taken {
                        e.context(format!(
                            "the mapped cn `{cn}` is taken by another object in {}",
                            self.app.users_ou
                        ))
                    } else {
                        e
                    }
                })?;
                dn
            }
            None => {
                let cn = truncate_cn(&display);
                let dn = codec::cn_dn(&cn, &self.app.users_ou);
                let mut with_cn = attrs.clone();
                with_cn.push(("cn".into(), set1(cn.clone())));
                match ldap_add(self.ldap, &dn, with_cn).await {
                    Ok(()) => dn,
                    Err(e) if rc_of(&e) == Some(68) => {
                        // Another object has this CN (two people with one display
                        // name): add the login to make the RDN unique.
                        let cn = truncate_cn(&format!("{display} ({login})"));
                        let dn = codec::cn_dn(&cn, &self.app.users_ou);
                        attrs.push(("cn".into(), set1(cn)));
                        ldap_add(self.ldap, &dn, attrs)
                            .await
                            .with_context(|| format!("creating user {username}"))?;
                        dn
                    }
                    Err(e) => return Err(e.context(format!("creating user {username}"))),
                }
            }
        };
        self.user_dns.insert(login.to_lowercase(), dn.clone());
        if let Some(password) = &password {
            self.set_password(&dn, &login, password)
                .await
                .with_context(|| format!("user {login} was created disabled at {dn}"))?;
        }
        if enabled {
            self.set_disabled(&dn, false)
                .await
                .with_context(|| format!("enabling user {login} created at {dn}"))?;
        }
        let id = self.guid_of_dn(&dn).await?;
        self.dns_by_id.insert(id.clone(), dn);
        Ok(id)
    }

    /// One modify with the changed attributes (and `sAMAccountName` for a rename, so
    /// the object and its objectGUID stay); then the password, the account state, and
    /// the entry's name: a mapped `cn` renames it, else it follows the display name.
    async fn update_user(&mut self, change: &Change, run: &Run<'_>) -> anyhow::Result<()> {
        self.check_keys(change)?;
        let key = change.key();
        let username: &str = &key;
        let old_logins = Self::logins_of(change, run);
        let mut dn = self.user_dn_for(change, run).await?;
        let after = change.after.clone().unwrap_or_default();
        let new_login = match after.get("login") {
            None => None,
            Some(v) => Some(value_text(v).ok_or_else(|| {
                anyhow!("user {username}: the login (sAMAccountName) cannot be cleared")
            })?),
        };
        let mut writes: Vec<(String, Option<String>)> = Vec::new();
        if let Some(login) = &new_login {
            writes.push(("sAMAccountName".into(), Some(login.clone())));
        }
        // A mapped cn is the entry's name: renamed below, not modified.
        writes.extend(mapped_writes(&after, |k| {
            if k == CN { None } else { self.targets_of(k) }
        }));
        let mods = replace_mods(writes);
        if after.contains_key("password") {
            let desired = self.desired.user(username);
            if let Some(r) = desired.and_then(|u| u.password.as_ref()) {
                let secret = crate::secret::resolve(r, self.repo_root)
                    .with_context(|| format!("password of user {username} ({r})"))?;
                self.set_password(&dn, username, &secret).await?;
            }
        }
        if !mods.is_empty() {
            ldap_modify(self.ldap, &dn, mods)
                .await
                .with_context(|| format!("updating user {username}"))?;
        }
        let observed = self.observed;
        let login = new_login
            .clone()
            .or_else(|| {
                let id = change.id.as_deref()?;
                observed
                    .users
                    .iter()
                    .find(|u| u.id == id)
                    .map(|u| u.login.clone())
            })
            .or_else(|| old_logins.first().cloned())
            .unwrap_or_else(|| username.to_string());
        if new_login.is_some() {
            // The old login names nobody now.
            for old in &old_logins {
                self.user_dns.remove(&old.to_lowercase());
            }
        }
        self.user_dns.insert(login.to_lowercase(), dn.clone());
        if let Some(enabled) = after.get("enabled").and_then(Value::as_bool) {
            self.set_disabled(&dn, !enabled).await?;
        }
        if self.mapping.field(CN).is_some() {
            if let Some(v) = after.get(CN) {
                let cn = value_text(v).ok_or_else(|| {
                    anyhow!("user {username}: cn is the entry's name and cannot be cleared")
                })?;
                dn = self
                    .rename_entry(&dn, &cn)
                    .await
                    .with_context(|| format!("renaming user {username}"))?;
            }
        } else if let Some(display) = after.get("display_name").and_then(value_text) {
            dn = self.rename_user(&dn, &login, &display).await;
        }
        self.user_dns.insert(login.to_lowercase(), dn.clone());
        if let Some(id) = &change.id {
            self.dns_by_id.insert(id.clone(), dn);
        }
        Ok(())
    }

    /// Renames the entry at `dn` to `CN=<cn>` within its OU (a ModifyDN: the object
    /// and its objectGUID stay); the new DN.
    async fn rename_entry(&self, dn: &str, cn: &str) -> anyhow::Result<String> {
        let parent = codec::parent_dn(dn).ok_or_else(|| anyhow!("{dn} has no parent"))?;
        let new_dn = codec::cn_dn(cn, parent);
        if new_dn == dn {
            return Ok(new_dn);
        }
        let rdn = format!("CN={}", codec::rdn_value(cn));
        let what = format!("renaming {dn} to {rdn}");
        let mut ldap = self.ldap.clone();
        let res = timed(OP_TIMEOUT, ldap.modifydn(dn, &rdn, true, None))
            .await
            .with_context(|| what.clone())?;
        check(&what, res).map_err(|mut f| {
            if f.rc == 68 {
                f.message
                    .push_str(" (another object in the OU has this cn)");
            }
            anyhow::Error::new(f)
        })?;
        Ok(new_dn)
    }

    /// Keep the CN in step with the display name (when the app does not map `cn`). A
    /// rename that fails (a name taken twice, rights) leaves the old CN: the attributes
    /// are what matters. The user's DN afterwards.
    async fn rename_user(&mut self, dn: &str, login: &str, display: &str) -> String {
        let Some(parent) = codec::parent_dn(dn).map(str::to_string) else {
            return dn.to_string();
        };
        for cn in [
            truncate_cn(display),
            truncate_cn(&format!("{display} ({login})")),
        ] {
            let new_dn = codec::cn_dn(&cn, &parent);
            if codec::dn_key(&new_dn) == codec::dn_key(dn) {
                return dn.to_string();
            }
            let rdn = format!("CN={}", codec::rdn_value(&cn));
            let mut ldap = self.ldap.clone();
            match timed(OP_TIMEOUT, ldap.modifydn(dn, &rdn, true, None)).await {
                Ok(res) if res.rc == 0 => return new_dn,
                Ok(res) if res.rc == 68 => continue,
                Ok(res) => {
                    tracing::warn!(
                        user = login,
                        rc = res.rc,
                        "renaming the CN failed: {}",
                        res.text
                    );
                    return dn.to_string();
                }
                Err(e) => {
                    tracing::warn!(user = login, "renaming the CN failed: {e:#}");
                    return dn.to_string();
                }
            }
        }
        dn.to_string()
    }

    /// Sets or clears a user's manager (phase Managers), one outcome per change.
    async fn manager(&mut self, i: usize, run: &Run<'_>) {
        let c = run.change(i);
        let result = match self.set_manager(c, run).await {
            Ok(Ok(())) => ChangeResult::Applied {
                id: None,
                request_id: None,
            },
            Ok(Err(skipped_or_failed)) => skipped_or_failed,
            Err(e) => ChangeResult::Failed {
                error: format!("{e:#}"),
                request_id: None,
            },
        };
        run.record(i, result);
    }

    /// `manager` replaced with the manager's DN (an observed user's, one created in
    /// this apply, or a `dn:` id as is), or emptied to clear it. The inner `Err` is the
    /// outcome when the user or manager has no live object.
    async fn set_manager(
        &mut self,
        c: &Change,
        run: &Run<'_>,
    ) -> anyhow::Result<Result<(), ChangeResult>> {
        let key = c.key();
        let id = match run.user_id(&key, c.id.as_ref()) {
            Ok(id) => id,
            Err(outcome) => return Ok(Err(outcome)),
        };
        let dn = self.user_dn_of_id(&id, &key, run).await?;
        let value = match c.manager() {
            None => HashSet::new(),
            Some(m) => match m.strip_prefix(DN_ID_PREFIX) {
                Some(manager_dn) => set1(manager_dn.to_string()),
                None => {
                    let mid = match run.user_id(m, None) {
                        Ok(mid) => mid,
                        Err(outcome) => return Ok(Err(outcome)),
                    };
                    let mdn = self
                        .user_dn_of_id(&mid, m, run)
                        .await
                        .with_context(|| format!("the manager {m} of user {key}"))?;
                    set1(mdn)
                }
            },
        };
        let what = if value.is_empty() {
            format!("clearing the manager of user {key}")
        } else {
            format!("setting the manager of user {key}")
        };
        ldap_modify(
            self.ldap,
            &dn,
            vec![Mod::Replace(MANAGER_ATTR.to_string(), value)],
        )
        .await
        .context(what)?;
        Ok(Ok(()))
    }

    async fn create_group(&mut self, change: &Change) -> anyhow::Result<String> {
        let name_key = change.key();
        let name: &str = &name_key;
        let after = change.after.clone().unwrap_or_default();
        let description = after
            .get("description")
            .and_then(value_text)
            .or_else(|| self.desired.group(name).and_then(|g| g.description.clone()))
            .filter(|d| !d.is_empty());
        let dn = codec::cn_dn(name, &self.app.groups_ou);
        let mut attrs: Vec<(String, HashSet<String>)> = vec![
            (
                "objectClass".into(),
                ["top", "group"].iter().map(|s| s.to_string()).collect(),
            ),
            ("cn".into(), set1(name.to_string())),
            (
                "sAMAccountName".into(),
                set1(codec::group_sam_account_name(name)),
            ),
            ("groupType".into(), set1(GLOBAL_SECURITY_GROUP.to_string())),
        ];
        if let Some(d) = description {
            attrs.push(("description".into(), set1(d)));
        }
        match ldap_add(self.ldap, &dn, attrs.clone()).await {
            Ok(()) => {}
            Err(e)
                if rc_of(&e) == Some(68)
                    && read::read_base(self.ldap, &dn, &["1.1"]).await?.is_none() =>
            {
                // The sAMAccountName is taken elsewhere in the domain (it is unique
                // domain-wide, the cn only within the OU): qualify it by the DN.
                let sam = codec::group_sam_account_name(&format!("{name}\u{0}{dn}"));
                let head: String = codec::group_sam_account_name(name)
                    .chars()
                    .take(50)
                    .collect();
                let suffix = sam.rsplit('-').next().unwrap_or_default().to_string();
                for (k, v) in attrs.iter_mut() {
                    if k == "sAMAccountName" {
                        *v = set1(format!("{head}-{suffix}"));
                    }
                }
                ldap_add(self.ldap, &dn, attrs)
                    .await
                    .with_context(|| format!("creating group {name}"))?;
            }
            Err(e) => return Err(e.context(format!("creating group {name}"))),
        }
        self.group_dns.insert(name.to_string(), dn.clone());
        self.guid_of_dn(&dn).await
    }

    async fn update_group(&mut self, change: &Change) -> anyhow::Result<()> {
        let name_key = change.key();
        let name: &str = &name_key;
        let dn = self.group_dn(name, change.id.as_deref()).await?;
        let after = change.after.clone().unwrap_or_default();
        let mut mods: Vec<Mod<String>> = Vec::new();
        if let Some(v) = after.get("description") {
            mods.push(Mod::Replace(
                "description".into(),
                value_text(v).map(set1).unwrap_or_default(),
            ));
        }
        if mods.is_empty() {
            return Ok(());
        }
        ldap_modify(self.ldap, &dn, mods)
            .await
            .with_context(|| format!("updating group {name}"))
    }

    /// Membership changes of one group and one action.
    async fn memberships(&mut self, batch: &[usize], run: &Run<'_>) {
        let Some(&first) = batch.first() else { return };
        let add = run.change(first).action == Action::Add;
        let fail = |c: usize, error: String| run.fail(c, error);
        let applied = |c: usize| {
            run.record(
                c,
                ChangeResult::Applied {
                    id: None,
                    request_id: None,
                },
            )
        };
        let Some(group) = run.change(first).membership().map(|k| k.group.clone()) else {
            for &c in batch {
                fail(c, "not a membership change".to_string());
            }
            return;
        };
        let group_dn = match self.group_dn(&group, None).await {
            Ok(dn) => dn,
            Err(e) => {
                for &c in batch {
                    fail(c, format!("{e:#}"));
                }
                return;
            }
        };
        // Resolve members; failures are reported one by one.
        let mut resolved: Vec<(usize, String)> = Vec::with_capacity(batch.len());
        for &c in batch {
            let Some(member) = run.change(c).membership().map(|k| k.member.clone()) else {
                fail(c, "not a membership change".to_string());
                continue;
            };
            match self.member_dn(&member, run).await {
                Ok(dn) => resolved.push((c, dn)),
                Err(e) => fail(c, format!("{e:#}")),
            }
        }
        for chunk in resolved.chunks(MEMBER_CHUNK) {
            let values: HashSet<String> = chunk.iter().map(|(_, dn)| dn.clone()).collect();
            let m = if add {
                Mod::Add("member".to_string(), values)
            } else {
                Mod::Delete("member".to_string(), values)
            };
            match ldap_modify(self.ldap, &group_dn, vec![m]).await {
                Ok(()) => {
                    for &(c, _) in chunk {
                        applied(c);
                    }
                }
                Err(_) => {
                    // One value spoils a multi-valued modify: retry one by one, where
                    // "already a member" / "not a member" mean done.
                    for &(c, ref dn) in chunk {
                        let m = if add {
                            Mod::Add("member".to_string(), set1(dn.clone()))
                        } else {
                            Mod::Delete("member".to_string(), set1(dn.clone()))
                        };
                        let result = match ldap_modify(self.ldap, &group_dn, vec![m]).await {
                            Ok(()) => Ok(()),
                            Err(e) => match (add, rc_of(&e)) {
                                (true, Some(68 | 20)) => Ok(()),
                                (false, Some(53 | 16)) => Ok(()),
                                _ => Err(e),
                            },
                        };
                        match result {
                            Ok(()) => applied(c),
                            Err(e) => fail(
                                c,
                                format!(
                                    "{} {dn} {} group {group}: {e:#}",
                                    if add { "adding" } else { "removing" },
                                    if add { "to" } else { "from" }
                                ),
                            ),
                        }
                    }
                }
            }
        }
    }
}

/// CN values are limited to 64 characters in AD.
fn truncate_cn(s: &str) -> String {
    s.chars().take(64).collect()
}
