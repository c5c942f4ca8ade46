//! The writer: carries out one app's planned changes on the directory through the
//! kit's driver. Users are added with the app's object classes and naming attribute,
//! their password set with the Password Modify extended operation (RFC 3062) over TLS
//! only (never as a `userPassword` value), and disabled or enabled through the app's
//! `disabled` representation. Membership changes to one group are one modify, made
//! against the group's current member values, so already-present and already-absent
//! members count as done and the empty-group placeholder comes and goes with the last
//! member. Objects outside `users_ou` / `groups_ou` are never written.

use std::collections::{HashMap, HashSet};

use anyhow::{Context, anyhow, bail};
use ldap3::exop::PasswordModify;
use ldap3::{Ldap, Mod};
use serde_json::Value;

use super::read::{self, DN_ID_PREFIX, UID_ID_PREFIX};
use super::{EMPTY_GROUP_PLACEHOLDER, Schema};
use crate::apps::kit::driver::{PhaseWriter, Run};
use crate::apps::kit::ldap::{
    Endpoint, OP_TIMEOUT, check, check_mapped_keys, first, ldap_add, ldap_delete, ldap_modify,
    mapped_writes, rc_of, read_base, replace_mods, set1, timed, value_text,
};
use crate::apps::kit::ldap_codec::{dn_key, filter_value, is_within, rdn_value};
use crate::apps::{ApplyInput, ChangeResult};
use crate::desired::{DesiredState, LdapApp, LdapGroupClass};
use crate::mapping::Mapping;
use crate::plan::{Action, Change, ObjectKind, Phase};
use crate::secret::Secret;

/// The LDAP write primitives, driven by [`crate::apps::kit::driver::apply`].
pub struct Writer<'a> {
    ldap: &'a Ldap,
    app: &'a LdapApp,
    endpoint: &'a Endpoint,
    repo_root: &'a std::path::Path,
    paged: bool,
    desired: &'a DesiredState,
    mapping: Mapping,
    schema: Schema,
    /// DNs by live id: observed, created or renamed in this apply.
    dns: HashMap<String, String>,
    /// Logins by live id (posixGroup members are logins).
    logins: HashMap<String, String>,
    /// The next uidNumber / gidNumber to give out, once known.
    next_uid: Option<u32>,
    next_gid: Option<u32>,
}

impl PhaseWriter for Writer<'_> {
    const TYPE: &'static str = "ldap";

    /// Users, groups and memberships; no licenses, managers or restores.
    fn supports(&self, change: &Change) -> bool {
        !matches!(
            change.phase(),
            Phase::Licenses | Phase::Other | Phase::Managers
        ) && change.action != Action::Restore
    }

    async fn write_phase(&mut self, phase: Phase, idx: &[usize], run: &Run<'_>) {
        if matches!(phase, Phase::MembershipAdds | Phase::MembershipRemoves) {
            let group = |i: usize| run.change(i).membership().map(|k| k.group.clone());
            let mut a = 0;
            while a < idx.len() {
                let mut b = a + 1;
                while b < idx.len() && group(idx[b]) == group(idx[a]) {
                    b += 1;
                }
                self.memberships(&idx[a..b], phase == Phase::MembershipAdds, run)
                    .await;
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

impl<'a> Writer<'a> {
    pub fn new(
        ldap: &'a Ldap,
        app: &'a LdapApp,
        endpoint: &'a Endpoint,
        repo_root: &'a std::path::Path,
        paged: bool,
        input: &ApplyInput<'a>,
    ) -> Self {
        let mut dns = HashMap::new();
        let mut logins = HashMap::new();
        for u in &input.observed.users {
            if let Some(dn) = &u.location {
                dns.insert(u.id.clone(), dn.clone());
            }
            logins.insert(u.id.clone(), u.login.clone());
        }
        for g in &input.observed.groups {
            if let Some(dn) = &g.location {
                dns.insert(g.id.clone(), dn.clone());
            }
        }
        Writer {
            ldap,
            app,
            endpoint,
            repo_root,
            paged,
            desired: input.desired,
            mapping: super::mapping(app),
            schema: Schema::of(app),
            dns,
            logins,
            next_uid: None,
            next_gid: None,
        }
    }

    async fn one(&mut self, change: &Change, run: &Run<'_>) -> anyhow::Result<Option<String>> {
        match (change.object(), change.action) {
            (ObjectKind::User, Action::Create) => self.create_user(change).await.map(Some),
            (ObjectKind::User, Action::Update) => self.update_user(change, run).await.map(|_| None),
            (ObjectKind::User, Action::Enable | Action::Disable) => {
                let dn = self.user_dn_for(change, run).await?;
                let login = change.key();
                if let Some(r) = self
                    .desired
                    .user(&login)
                    .and_then(|u| u.password.as_ref())
                    .filter(|_| {
                        change.action == Action::Enable
                            && change
                                .after
                                .as_ref()
                                .is_some_and(|a| a.contains_key("password"))
                    })
                {
                    let secret = crate::secret::resolve(r, self.repo_root)
                        .with_context(|| format!("password of user {login} ({r})"))?;
                    self.set_password(&dn, &login, &secret).await?;
                }
                self.set_disabled(&dn, change.action == Action::Disable)
                    .await?;
                Ok(change.id.clone())
            }
            (ObjectKind::User, Action::Delete) => {
                let dn = self.user_dn_for(change, run).await?;
                self.delete_dn(&dn).await?;
                Ok(change.id.clone())
            }
            (ObjectKind::Group, Action::Create) => self.create_group(change).await.map(Some),
            (ObjectKind::Group, Action::Update) => {
                self.update_group(change, run).await.map(|_| None)
            }
            (ObjectKind::Group, Action::Delete) => {
                // A duplicate of a name is deleted by its own id.
                let id = match &change.id {
                    Some(id) => id.clone(),
                    None => run
                        .group_id(&change.key(), None)
                        .map_err(|r| anyhow!("{}", result_text(&r)))?,
                };
                let dn = self.dn_of_id(&id, &change.key(), true).await?;
                self.delete_dn(&dn).await?;
                Ok(Some(id))
            }
            (object, action) => bail!("{object} {action} is not supported by ldap apps"),
        }
    }

    fn require_in(&self, dn: &str, ou: &str, what: &str) -> anyhow::Result<()> {
        if is_within(dn, ou) {
            Ok(())
        } else {
            bail!("{what} {dn} is outside {ou}; roster does not touch it")
        }
    }

    /// The DN of a live id (observed or written in this apply), else of the user with
    /// login `login` / the group named `login` found by a search.
    async fn dn_of_id(&mut self, id: &str, name: &str, group: bool) -> anyhow::Result<String> {
        let dn = match self.dns.get(id) {
            Some(dn) => dn.clone(),
            None => self.search_dn(name, group).await?,
        };
        let (ou, what) = if group {
            (&self.app.groups_ou, "group")
        } else {
            (&self.app.users_ou, "user")
        };
        self.require_in(&dn, ou, what)?;
        self.dns.insert(id.to_string(), dn.clone());
        Ok(dn)
    }

    async fn search_dn(&self, name: &str, group: bool) -> anyhow::Result<String> {
        let (base, filter) = if group {
            (
                &self.app.groups_ou,
                format!(
                    "(&{}(cn={}))",
                    self.schema.group_filter(),
                    filter_value(name)
                ),
            )
        } else {
            (
                &self.app.users_ou,
                format!(
                    "(&{}({}={}))",
                    self.schema.user_filter,
                    self.schema.login_attr,
                    filter_value(name)
                ),
            )
        };
        let hits = read::search(self.ldap, base, &filter, &["1.1"], self.paged).await?;
        match hits.as_slice() {
            [one] => Ok(one.dn.clone()),
            [] => bail!(
                "{} {name} not found under {base}",
                if group { "group" } else { "user" }
            ),
            _ => bail!(
                "{} {name} is ambiguous under {base}",
                if group { "group" } else { "user" }
            ),
        }
    }

    /// The DN of the user a change is about: by its id, else by its old login (a
    /// rename), its login in this app or its key.
    async fn user_dn_for(&mut self, change: &Change, run: &Run<'_>) -> anyhow::Result<String> {
        if let Some(id) = change
            .id
            .as_deref()
            .or(run.user_id(&change.key(), None).ok().as_deref())
            && let Some(dn) = self.dns.get(id).cloned()
        {
            self.require_in(&dn, &self.app.users_ou, "user")?;
            return Ok(dn);
        }
        let old = change
            .before
            .as_ref()
            .and_then(|b| b.get("login"))
            .and_then(value_text);
        let mut last = None;
        for login in old
            .into_iter()
            .chain([run.login_of(&change.key()), change.key().into_owned()])
        {
            match self.search_dn(&login, false).await {
                Ok(dn) => return Ok(dn),
                Err(e) => last = Some(e),
            }
        }
        Err(last.unwrap_or_else(|| anyhow!("user {} not found", change.key())))
    }

    /// Refuses a user change holding keys that are neither mapped nor control keys.
    fn check_keys(&self, change: &Change) -> anyhow::Result<()> {
        check_mapped_keys(&self.mapping, change)
    }

    fn password_for(&self, change: &Change) -> anyhow::Result<Option<Secret>> {
        let key = change.key();
        match self.desired.user(&key).and_then(|u| u.password.as_ref()) {
            Some(r) if self.app.switches.password_sync => crate::secret::resolve(r, self.repo_root)
                .with_context(|| format!("password of user {key} ({r})"))
                .map(Some),
            _ => Ok(None),
        }
    }

    fn refuse_plain_password(&self, login: &str) -> anyhow::Result<()> {
        self.endpoint.refuse_plain_password(login)
    }

    /// Sets a password with the Password Modify extended operation (RFC 3062): the
    /// server hashes it by its own policy; it never travels as an attribute value.
    async fn set_password(&self, dn: &str, login: &str, password: &Secret) -> anyhow::Result<()> {
        self.refuse_plain_password(login)?;
        let mut ldap = self.ldap.clone();
        let what = format!("setting the password of user {login}");
        let ldap3::result::ExopResult(_, res) = timed(
            OP_TIMEOUT,
            ldap.extended(PasswordModify {
                user_id: Some(dn),
                old_pass: None,
                new_pass: Some(password.expose()),
            }),
        )
        .await
        .with_context(|| what.clone())?;
        check(&what, res).map_err(|mut f| {
            match f.rc {
                19 => f
                    .message
                    .push_str(" (the password does not meet the directory's password policy)"),
                2 | 12 | 53 => f.message.push_str(
                    " (the server may not offer the Password Modify extended operation, RFC 3062)",
                ),
                _ => {}
            }
            anyhow::Error::new(f)
        })
    }

    async fn set_disabled(&self, dn: &str, disabled: bool) -> anyhow::Result<()> {
        let attr = self.schema.disabled.attribute.clone();
        let value = self.schema.disabled.value.clone();
        let entry = read_base(self.ldap, dn, &[attr.as_str()])
            .await?
            .ok_or_else(|| anyhow!("user {dn} does not exist"))?;
        let held: Vec<String> = read::all(&entry, &attr).to_vec();
        let has = held.iter().any(|v| v.eq_ignore_ascii_case(&value));
        let mods: Vec<Mod<String>> = match (disabled, has) {
            (true, false) => vec![Mod::Replace(attr, set1(value))],
            (false, true) => vec![Mod::Delete(
                attr,
                held.into_iter()
                    .filter(|v| v.eq_ignore_ascii_case(&value))
                    .collect(),
            )],
            _ => return Ok(()),
        };
        ldap_modify(self.ldap, dn, mods).await
    }

    async fn delete_dn(&self, dn: &str) -> anyhow::Result<()> {
        match ldap_delete(self.ldap, dn).await {
            Ok(()) => Ok(()),
            Err(e) if rc_of(&e) == Some(32) => Ok(()),
            Err(e) => Err(e),
        }
    }

    async fn uuid_of(&self, dn: &str) -> anyhow::Result<String> {
        let entry = read_base(self.ldap, dn, &["entryUUID"])
            .await?
            .ok_or_else(|| anyhow!("{dn} is gone right after it was written"))?;
        first(&entry, "entryUUID")
            .map(str::to_string)
            .ok_or_else(|| anyhow!("{dn} has no entryUUID"))
    }

    /// One above the highest `attr` under `base` (and at least `start`).
    async fn next_number(&self, base: &str, attr: &str, start: u32) -> anyhow::Result<u32> {
        let entries =
            read::search(self.ldap, base, &format!("({attr}=*)"), &[attr], self.paged).await?;
        let highest = entries
            .iter()
            .filter_map(|e| first(e, attr).and_then(|v| v.parse::<u32>().ok()))
            .max();
        Ok(highest.map_or(start, |h| (h + 1).max(start)))
    }

    async fn take_uid(&mut self, start: u32) -> anyhow::Result<u32> {
        let n = match self.next_uid {
            Some(n) => n,
            None => {
                self.next_number(&self.app.users_ou, "uidNumber", start)
                    .await?
            }
        };
        self.next_uid = Some(n + 1);
        Ok(n)
    }

    async fn take_gid(&mut self, start: u32) -> anyhow::Result<u32> {
        let n = match self.next_gid {
            Some(n) => n,
            None => {
                self.next_number(&self.app.groups_ou, "gidNumber", start)
                    .await?
            }
        };
        self.next_gid = Some(n + 1);
        Ok(n)
    }

    async fn create_user(&mut self, change: &Change) -> anyhow::Result<String> {
        self.check_keys(change)?;
        let key = change.key();
        let after = change.after.clone().unwrap_or_default();
        let desired = self.desired.user(&key);
        let text = |k: &str| after.get(k).and_then(value_text);
        let login = text("login").unwrap_or_else(|| key.to_string());
        let enabled = after
            .get("enabled")
            .and_then(Value::as_bool)
            .or(desired.map(|u| u.enabled))
            .unwrap_or(true);
        let password = self.password_for(change)?;
        if password.is_some() {
            self.refuse_plain_password(&login)?;
        }
        let display = text("display_name")
            .or_else(|| desired.map(|u| u.display_name()))
            .filter(|d| !d.trim().is_empty())
            .unwrap_or_else(|| login.clone());
        let mut attrs: Vec<(String, HashSet<String>)> = vec![
            (
                "objectClass".into(),
                self.schema.user_classes.iter().cloned().collect(),
            ),
            (self.schema.login_attr.to_string(), set1(login.clone())),
        ];
        let has = |attrs: &[(String, HashSet<String>)], name: &str| {
            attrs.iter().any(|(k, _)| k.eq_ignore_ascii_case(name))
        };
        for field in &self.mapping.fields {
            if let Some(v) = text(&field.key)
                && !has(&attrs, &field.target)
            {
                attrs.push((field.target.clone(), set1(v)));
            }
        }
        // person's required attributes.
        if !has(&attrs, "cn") {
            attrs.push(("cn".into(), set1(display.clone())));
        }
        if !has(&attrs, "sn") {
            let sn = desired
                .map(|u| u.last_name.clone())
                .filter(|s| !s.trim().is_empty())
                .unwrap_or_else(|| login.clone());
            attrs.push(("sn".into(), set1(sn)));
        }
        if let Some(posix) = self.app.posix.clone() {
            let uid = self.take_uid(posix.uid_number_start).await?;
            attrs.push(("uidNumber".into(), set1(uid.to_string())));
            attrs.push(("gidNumber".into(), set1(posix.gid_number.to_string())));
            if !has(&attrs, "homeDirectory") {
                let template = posix
                    .home_directory
                    .as_deref()
                    .unwrap_or("/home/{username}");
                let home = match (crate::mapping::Template::parse(template), desired) {
                    (Ok(t), Some(u)) => t.render(&|f| crate::mapping::field_value(u, f)),
                    _ => format!("/home/{login}"),
                };
                attrs.push(("homeDirectory".into(), set1(home)));
            }
            if let Some(shell) = &posix.login_shell
                && !has(&attrs, "loginShell")
            {
                attrs.push(("loginShell".into(), set1(shell.clone())));
            }
        }
        if !enabled {
            attrs.push((
                self.schema.disabled.attribute.clone(),
                set1(self.schema.disabled.value.clone()),
            ));
        }
        let rdn = self.schema.user_rdn.clone();
        let rdn_val = attrs
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(&rdn))
            .and_then(|(_, v)| {
                if rdn.eq_ignore_ascii_case(self.schema.login_attr) {
                    Some(login.clone())
                } else if rdn.eq_ignore_ascii_case("cn") && v.contains(&display) {
                    Some(display.clone())
                } else {
                    let mut vs: Vec<&String> = v.iter().collect();
                    vs.sort();
                    vs.first().map(|s| s.to_string())
                }
            })
            .ok_or_else(|| {
                anyhow!("user {key}: the naming attribute `{rdn}` (user_rdn) has no value")
            })?;
        let dn = format!("{rdn}={},{}", rdn_value(&rdn_val), self.app.users_ou);
        ldap_add(self.ldap, &dn, attrs).await.map_err(|e| {
            let taken = rc_of(&e) == Some(68);
            let e = e.context(format!("creating user {key}"));
            if taken {
                e.context(format!(
                    "{dn} exists already (outside what roster reads as users?)"
                ))
            } else {
                e
            }
        })?;
        if let Some(password) = &password {
            self.set_password(&dn, &login, password)
                .await
                .with_context(|| format!("user {login} was created at {dn}"))?;
        }
        let id = self.uuid_of(&dn).await?;
        self.dns.insert(id.clone(), dn);
        self.logins.insert(id.clone(), login);
        Ok(id)
    }

    async fn update_user(&mut self, change: &Change, run: &Run<'_>) -> anyhow::Result<()> {
        self.check_keys(change)?;
        let key = change.key();
        let mut dn = self.user_dn_for(change, run).await?;
        let after = change.after.clone().unwrap_or_default();
        let rdn = self.schema.user_rdn.clone();
        let new_login = match after.get("login") {
            None => None,
            Some(v) => Some(value_text(v).ok_or_else(|| {
                anyhow!(
                    "user {key}: the login ({}) cannot be cleared",
                    self.schema.login_attr
                )
            })?),
        };
        // (attribute, new value) pairs; the naming attribute is renamed, not modified.
        let mut writes: Vec<(String, Option<String>)> = Vec::new();
        if let Some(login) = &new_login {
            writes.push((self.schema.login_attr.to_string(), Some(login.clone())));
        }
        writes.extend(mapped_writes(&after, |k| {
            self.mapping.field(k).map(|f| vec![f.target.clone()])
        }));
        let mut kept: Vec<(String, Option<String>)> = Vec::new();
        for (attr, value) in writes {
            if attr.eq_ignore_ascii_case(&rdn) {
                let value = value.ok_or_else(|| {
                    anyhow!("user {key}: `{rdn}` names the entry and cannot be cleared")
                })?;
                let new_rdn = format!("{rdn}={}", rdn_value(&value));
                let mut ldap = self.ldap.clone();
                let res = timed(OP_TIMEOUT, ldap.modifydn(&dn, &new_rdn, true, None))
                    .await
                    .with_context(|| format!("renaming user {key}"))?;
                check(&format!("renaming user {key} to {new_rdn}"), res)?;
                dn = format!("{new_rdn},{}", self.app.users_ou);
                if let Some(id) = &change.id {
                    self.dns.insert(id.clone(), dn.clone());
                }
            } else {
                kept.push((attr, value));
            }
        }
        let mods = replace_mods(kept);
        if !mods.is_empty() {
            ldap_modify(self.ldap, &dn, mods)
                .await
                .with_context(|| format!("updating user {key}"))?;
        }
        if after.contains_key("password")
            && let Some(secret) = self.password_for(change)?
        {
            self.set_password(&dn, &key, &secret).await?;
        }
        if let Some(enabled) = after.get("enabled").and_then(Value::as_bool) {
            self.set_disabled(&dn, !enabled).await?;
        }
        if let (Some(id), Some(login)) = (&change.id, new_login) {
            self.logins.insert(id.clone(), login);
        }
        Ok(())
    }

    async fn create_group(&mut self, change: &Change) -> anyhow::Result<String> {
        let name = change.key();
        let after = change.after.clone().unwrap_or_default();
        let dn = format!("cn={},{}", rdn_value(&name), self.app.groups_ou);
        let mut attrs: Vec<(String, HashSet<String>)> = vec![
            (
                "objectClass".into(),
                ["top", self.schema.group_class_name()]
                    .iter()
                    .map(|s| s.to_string())
                    .collect(),
            ),
            ("cn".into(), set1(name.to_string())),
        ];
        if let Some(d) = after.get("description").and_then(value_text) {
            attrs.push(("description".into(), set1(d)));
        }
        if self.schema.needs_placeholder() {
            attrs.push((
                self.schema.member_attr().into(),
                set1(EMPTY_GROUP_PLACEHOLDER.to_string()),
            ));
        }
        if self.schema.group_class == LdapGroupClass::PosixGroup {
            let start = self.app.posix.as_ref().map_or(10000, |p| p.gid_number + 1);
            let gid = self.take_gid(start).await?;
            attrs.push(("gidNumber".into(), set1(gid.to_string())));
        }
        ldap_add(self.ldap, &dn, attrs)
            .await
            .with_context(|| format!("creating group {name}"))?;
        let id = self.uuid_of(&dn).await?;
        self.dns.insert(id.clone(), dn);
        Ok(id)
    }

    async fn update_group(&mut self, change: &Change, run: &Run<'_>) -> anyhow::Result<()> {
        let name = change.key();
        let id = run
            .group_id(&name, change.id.as_ref())
            .map_err(|r| anyhow!("{}", result_text(&r)))?;
        let dn = self.dn_of_id(&id, &name, true).await?;
        let mut mods: Vec<Mod<String>> = Vec::new();
        for (k, v) in change.after.iter().flatten() {
            match k.as_str() {
                "description" => mods.push(Mod::Replace(
                    "description".into(),
                    value_text(v).map(set1).unwrap_or_default(),
                )),
                // Groups of an LDAP directory have no kind.
                "kind" => {}
                other => bail!("group {name}: `{other}` cannot be written on ldap apps"),
            }
        }
        if mods.is_empty() {
            return Ok(());
        }
        ldap_modify(self.ldap, &dn, mods)
            .await
            .with_context(|| format!("updating group {name}"))
    }

    /// The member value of a live id: a DN, or for a posixGroup a login.
    fn member_value(&self, id: &str) -> anyhow::Result<String> {
        let posix = self.schema.group_class == LdapGroupClass::PosixGroup;
        if let Some(v) = id.strip_prefix(UID_ID_PREFIX) {
            return Ok(v.to_string());
        }
        if let Some(dn) = id.strip_prefix(DN_ID_PREFIX) {
            if posix {
                bail!("a posixGroup's members are logins, not {dn}");
            }
            return Ok(dn.to_string());
        }
        if posix {
            return self.logins.get(id).cloned().ok_or_else(|| {
                anyhow!("a posixGroup holds users only (memberUid); {id} is no user under users_ou")
            });
        }
        self.dns
            .get(id)
            .cloned()
            .ok_or_else(|| anyhow!("no entry is known for member {id}"))
    }

    /// A run of membership changes of one group, as one modify against the group's
    /// current values.
    async fn memberships(&mut self, idx: &[usize], adding: bool, run: &Run<'_>) {
        let Some(group) = run.change(idx[0]).membership().map(|k| k.group.clone()) else {
            for &i in idx {
                run.fail(i, "not a membership change");
            }
            return;
        };
        let mut values: Vec<(usize, String)> = Vec::with_capacity(idx.len());
        let mut group_id = None;
        for &i in idx {
            match run.membership_ids(i) {
                Ok((gid, mid)) => match self.member_value(&mid) {
                    Ok(v) => {
                        group_id = Some(gid);
                        values.push((i, v));
                    }
                    Err(e) => run.fail(i, format!("{e:#}")),
                },
                Err(r) => run.record(i, r),
            }
        }
        let Some(group_id) = group_id else { return };
        match self.write_members(&group, &group_id, adding, &values).await {
            Ok(()) => {
                for (i, _) in &values {
                    run.record(
                        *i,
                        ChangeResult::Applied {
                            id: None,
                            request_id: None,
                        },
                    );
                }
            }
            Err(e) => {
                let text = format!("{e:#}");
                for (i, _) in &values {
                    run.fail(*i, text.clone());
                }
            }
        }
    }

    async fn write_members(
        &mut self,
        group: &str,
        group_id: &str,
        adding: bool,
        values: &[(usize, String)],
    ) -> anyhow::Result<()> {
        let dn = self.dn_of_id(group_id, group, true).await?;
        let attr = self.schema.member_attr();
        let posix = self.schema.group_class == LdapGroupClass::PosixGroup;
        let norm = |v: &str| {
            if posix {
                v.to_lowercase()
            } else {
                dn_key(read::strip_uid_suffix(v))
            }
        };
        let entry = read_base(self.ldap, &dn, &[attr])
            .await?
            .ok_or_else(|| anyhow!("group {group} ({dn}) does not exist"))?;
        let current: Vec<String> = read::all(&entry, attr).to_vec();
        let held = |v: &str| current.iter().find(|c| norm(c) == norm(v)).cloned();
        let placeholder = current.iter().find(|c| read::is_placeholder(c)).cloned();
        let mut real: HashSet<String> = current
            .iter()
            .filter(|c| !read::is_placeholder(c))
            .map(|c| norm(c))
            .collect();
        let mut add: HashSet<String> = HashSet::new();
        let mut del: HashSet<String> = HashSet::new();
        for (_, v) in values {
            if adding {
                if held(v).is_none() && real.insert(norm(v)) {
                    add.insert(v.clone());
                }
            } else if let Some(live) = held(v) {
                real.remove(&norm(v));
                del.insert(live);
            }
        }
        if self.schema.needs_placeholder() {
            match (&placeholder, real.is_empty()) {
                (None, true) => {
                    add.insert(EMPTY_GROUP_PLACEHOLDER.to_string());
                }
                (Some(p), false) => {
                    del.insert(p.clone());
                }
                _ => {}
            }
        }
        let mut mods: Vec<Mod<String>> = Vec::new();
        if !add.is_empty() {
            mods.push(Mod::Add(attr.to_string(), add));
        }
        if !del.is_empty() {
            mods.push(Mod::Delete(attr.to_string(), del));
        }
        if mods.is_empty() {
            return Ok(());
        }
        ldap_modify(self.ldap, &dn, mods)
            .await
            .with_context(|| format!("changing the members of group {group}"))
    }
}

fn result_text(r: &ChangeResult) -> String {
    match r {
        ChangeResult::Failed { error, .. } => error.clone(),
        ChangeResult::SkippedDependency { on } => format!("depends on {on}, which failed"),
        ChangeResult::Applied { .. } => "applied".into(),
    }
}
