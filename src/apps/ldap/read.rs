//! The reader: users under `users_ou` and groups under `groups_ou`, with the Simple
//! Paged Results control when the root DSE offers it and one plain search otherwise
//! (a size limit then fails the read, never truncates it); referrals are skipped;
//! `entryUUID` is the stable id; members come from the group class's member
//! attribute, with the empty-group placeholder left out.

use std::collections::{BTreeSet, HashMap};

use anyhow::{Context, anyhow};
use ldap3::{Ldap, SearchEntry};

use super::{EMPTY_GROUP_PLACEHOLDER, Schema};
use crate::apps::ReadScope;
use crate::apps::kit::ldap::{self as kit, first};
use crate::apps::kit::ldap_codec::dn_key;
use crate::desired::{LdapApp, LdapGroupClass};
use crate::observed::{Attributes, IdSet, MemberId, ObservedApp, ObservedGroup, ObservedUser};

/// Entries per page of a paged search.
pub const PAGE_SIZE: i32 = 500;

/// The prefix of a member id whose DN is outside what was read.
pub const DN_ID_PREFIX: &str = "dn:";
/// The prefix of a posixGroup `memberUid` that is no user under `users_ou`.
pub const UID_ID_PREFIX: &str = "uid:";

/// A subtree search, paged when the server offers it.
pub async fn search(
    ldap: &Ldap,
    base: &str,
    filter: &str,
    attrs: &[&str],
    paged: bool,
) -> anyhow::Result<Vec<SearchEntry>> {
    kit::search(
        ldap,
        base,
        filter,
        attrs,
        Vec::new(),
        paged.then_some(PAGE_SIZE),
    )
    .await
}

/// What a user search reads: each mapped target under its key.
#[derive(Debug, Clone)]
pub struct UserAttrs {
    /// (key in observed state, LDAP attribute), mapping order.
    pub attrs: Vec<(String, String)>,
}

impl UserAttrs {
    pub fn of(app: &LdapApp) -> UserAttrs {
        let mapping = super::mapping(app);
        let mut attrs: Vec<(String, String)> = Vec::new();
        for f in &mapping.fields {
            if !attrs.iter().any(|(k, _)| *k == f.key) {
                attrs.push((f.key.clone(), f.target.clone()));
            }
        }
        UserAttrs { attrs }
    }

    /// The attributes a user search asks for (operational ones by name).
    pub fn names<'a>(&'a self, schema: &'a Schema) -> Vec<&'a str> {
        let mut names = vec![
            "entryUUID",
            schema.login_attr,
            schema.disabled.attribute.as_str(),
        ];
        for (_, ldap) in &self.attrs {
            if !names.iter().any(|n| n.eq_ignore_ascii_case(ldap)) {
                names.push(ldap);
            }
        }
        names
    }
}

/// All values of an attribute, case-insensitively by name.
pub fn all<'e>(entry: &'e SearchEntry, name: &str) -> &'e [String] {
    entry
        .attrs
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_slice())
        .unwrap_or(&[])
}

fn uuid_of(entry: &SearchEntry) -> anyhow::Result<String> {
    first(entry, "entryUUID")
        .map(str::to_string)
        .ok_or_else(|| anyhow!("{} has no entryUUID (RFC 4530)", entry.dn))
}

/// Whether an entry holds the app's disabled value.
pub fn is_disabled(entry: &SearchEntry, schema: &Schema) -> bool {
    all(entry, &schema.disabled.attribute)
        .iter()
        .any(|v| v.eq_ignore_ascii_case(&schema.disabled.value))
}

pub fn user_from_entry(
    entry: &SearchEntry,
    schema: &Schema,
    attrs: &UserAttrs,
) -> anyhow::Result<ObservedUser> {
    let id = uuid_of(entry)?;
    let login = first(entry, schema.login_attr)
        .ok_or_else(|| anyhow!("{} has no {}", entry.dn, schema.login_attr))?
        .to_string();
    let mut attributes = Attributes::new();
    for (key, name) in &attrs.attrs {
        // The login attribute can be multi-valued (uid is); the first is the login.
        if let Some(v) = first(entry, name).filter(|v| !v.is_empty()) {
            attributes.insert(key.clone(), v.to_string());
        }
    }
    Ok(ObservedUser {
        id,
        username: Some(login.clone()),
        login,
        enabled: !is_disabled(entry, schema),
        attributes,
        licenses: BTreeSet::new(),
        location: Some(entry.dn.clone()),
        ..Default::default()
    })
}

/// A `uniqueMember` value without its optional `#'...'B` UID suffix (RFC 4517
/// NameAndOptionalUID).
pub fn strip_uid_suffix(value: &str) -> &str {
    match value.rfind('#') {
        Some(i) if value.ends_with("'B") && value[i + 1..].starts_with('\'') => &value[..i],
        _ => value,
    }
}

/// Whether a member value is the empty-group placeholder.
pub fn is_placeholder(value: &str) -> bool {
    value.trim() == EMPTY_GROUP_PLACEHOLDER
}

/// A group's member values as ids: users and groups read (by DN, or for memberUid by
/// login), else `dn:<DN>` / `uid:<value>`; the placeholder left out.
pub fn resolve_members(
    values: &[String],
    schema: &Schema,
    by_dn: &HashMap<String, String>,
    by_login: &HashMap<String, String>,
) -> IdSet {
    let mut out = IdSet::new();
    for v in values {
        if schema.group_class == LdapGroupClass::PosixGroup {
            match by_login.get(&v.to_lowercase()) {
                Some(id) => out.insert(MemberId::new(id)),
                None => out.insert(format!("{UID_ID_PREFIX}{v}").into()),
            };
            continue;
        }
        let dn = strip_uid_suffix(v);
        if is_placeholder(dn) {
            continue;
        }
        match by_dn.get(&dn_key(dn)) {
            Some(id) => out.insert(MemberId::new(id)),
            None => out.insert(format!("{DN_ID_PREFIX}{dn}").into()),
        };
    }
    out
}

pub fn group_from_entry(entry: &SearchEntry) -> anyhow::Result<ObservedGroup> {
    Ok(ObservedGroup {
        id: uuid_of(entry)?,
        name: first(entry, "cn")
            .ok_or_else(|| anyhow!("{} has no cn", entry.dn))?
            .to_string(),
        description: first(entry, "description")
            .filter(|d| !d.is_empty())
            .map(str::to_string),
        kind: "security".into(),
        member_ids: IdSet::new(),
        location: Some(entry.dn.clone()),
        ..Default::default()
    })
}

/// What a user search and a group search ask for.
pub fn attr_names<'a>(schema: &'a Schema, attrs: &'a UserAttrs) -> (Vec<&'a str>, Vec<&'a str>) {
    (
        attrs.names(schema),
        vec!["entryUUID", "cn", "description", schema.member_attr()],
    )
}

/// The entries of the app's users and groups, with `extra` attributes asked for too.
pub async fn read_entries(
    ldap: &Ldap,
    app: &LdapApp,
    paged: bool,
    extra: &[&str],
) -> anyhow::Result<(Vec<SearchEntry>, Vec<SearchEntry>)> {
    let schema = Schema::of(app);
    let attrs = UserAttrs::of(app);
    let (mut user_attrs, mut group_attrs) = attr_names(&schema, &attrs);
    user_attrs.extend_from_slice(extra);
    group_attrs.extend_from_slice(extra);
    let group_filter = schema.group_filter();
    // One after the other: OpenLDAP runs one paged search per connection at a time
    // (a second one's cookie is refused as invalid).
    let (users, groups) = (
        search(ldap, &app.users_ou, &schema.user_filter, &user_attrs, paged).await,
        search(ldap, &app.groups_ou, &group_filter, &group_attrs, paged).await,
    );
    Ok((
        users.context("reading users_ou")?,
        groups.context("reading groups_ou")?,
    ))
}

/// Read the app's users and groups.
pub async fn read(
    ldap: &Ldap,
    app: &LdapApp,
    scope: &ReadScope,
    paged: bool,
    directory_id: Option<String>,
) -> anyhow::Result<ObservedApp> {
    let (users, groups) = read_entries(ldap, app, paged, &[]).await?;
    build(app, scope, &users, &groups, directory_id)
}

/// The observed state of these user and group entries: the one mapping of a full read
/// and of an incremental one (whose entries partly come from its snapshot).
pub fn build<'e>(
    app: &LdapApp,
    scope: &ReadScope,
    users: impl IntoIterator<Item = &'e SearchEntry>,
    groups: impl IntoIterator<Item = &'e SearchEntry>,
    directory_id: Option<String>,
) -> anyhow::Result<ObservedApp> {
    let schema = Schema::of(app);
    let attrs = UserAttrs::of(app);
    let mut by_dn: HashMap<String, String> = HashMap::new();
    let mut by_login: HashMap<String, String> = HashMap::new();
    let mut observed_users = Vec::new();
    for entry in users {
        let user = user_from_entry(entry, &schema, &attrs)?;
        by_dn.insert(dn_key(&entry.dn), user.id.clone());
        by_login.insert(user.login.to_lowercase(), user.id.clone());
        observed_users.push(user);
    }
    let mut pending = Vec::new();
    for entry in groups {
        let group = group_from_entry(entry)?;
        by_dn.insert(dn_key(&entry.dn), group.id.clone());
        pending.push((group, entry));
    }
    let mut observed_groups = Vec::with_capacity(pending.len());
    for (mut group, entry) in pending {
        let wanted = match &scope.member_groups {
            None => true,
            Some(set) => set.contains(&group.name),
        };
        if wanted {
            group.member_ids =
                resolve_members(all(entry, schema.member_attr()), &schema, &by_dn, &by_login);
        }
        observed_groups.push(group);
    }
    observed_users.sort_by(|a, b| a.login.cmp(&b.login).then_with(|| a.id.cmp(&b.id)));
    observed_groups.sort_by(|a, b| a.name.cmp(&b.name).then_with(|| a.id.cmp(&b.id)));
    Ok(ObservedApp {
        app: app.name.clone(),
        users: observed_users,
        groups: observed_groups,
        directory_id,
        ..Default::default()
    })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::desired::{LdapDisabled, SecretRef, Switches};

    pub(crate) fn app() -> LdapApp {
        LdapApp {
            joiner: None,
            leaver: None,
            name: "dir".into(),
            url: "ldaps://ldap.example.test".into(),
            base_dn: "dc=example,dc=test".into(),
            users_ou: "ou=people,dc=example,dc=test".into(),
            groups_ou: "ou=groups,dc=example,dc=test".into(),
            bind_dn: "cn=admin,dc=example,dc=test".into(),
            bind_password: SecretRef::Env("PW".into()),
            tls: None,
            starttls: None,
            authorized_domains: None,
            switches: Switches::default(),
            ignore: Vec::new(),
            max_deletes: None,
            attribute_map: Default::default(),
            on_create: Vec::new(),
            user_object_classes: Vec::new(),
            user_rdn: None,
            group_object_class: None,
            posix: None,
            disabled: None,
        }
    }

    pub(in crate::apps::ldap) fn entry(dn: &str, attrs: &[(&str, &[&str])]) -> SearchEntry {
        SearchEntry {
            dn: dn.into(),
            attrs: attrs
                .iter()
                .map(|(k, v)| (k.to_string(), v.iter().map(|s| s.to_string()).collect()))
                .collect(),
            bin_attrs: HashMap::new(),
        }
    }

    #[test]
    fn users_map_with_the_ppolicy_lock_as_disabled() {
        let a = app();
        let schema = Schema::of(&a);
        assert_eq!(
            schema.user_filter,
            "(&(objectClass=person)(objectClass=organizationalPerson)(objectClass=inetOrgPerson)(uid=*))"
        );
        let attrs = UserAttrs::of(&a);
        let names = attrs.names(&schema);
        assert!(names.contains(&"pwdAccountLockedTime"), "{names:?}");
        assert!(names.contains(&"departmentNumber"), "{names:?}");
        let e = entry(
            "uid=ann,ou=people,dc=example,dc=test",
            &[
                ("entryUUID", &["u-1"]),
                ("uid", &["ann", "ann.other"]),
                ("mail", &["ann@example.test"]),
                ("pwdAccountLockedTime", &["000001010000Z"]),
            ],
        );
        let u = user_from_entry(&e, &schema, &attrs).unwrap();
        assert_eq!((u.id.as_str(), u.login.as_str()), ("u-1", "ann"));
        assert!(!u.enabled);
        assert_eq!(u.attribute("email"), Some("ann@example.test"));
        // A temporary lockout (a time stamp) is not roster's disabled state.
        let e = entry(
            "uid=ann,ou=people,dc=example,dc=test",
            &[
                ("entryUUID", &["u-1"]),
                ("uid", &["ann"]),
                ("pwdAccountLockedTime", &["20260101000000Z"]),
            ],
        );
        assert!(user_from_entry(&e, &schema, &attrs).unwrap().enabled);
        let custom = LdapApp {
            disabled: Some(LdapDisabled {
                attribute: "nsAccountLock".into(),
                value: "TRUE".into(),
            }),
            ..app()
        };
        let e = entry(
            "uid=b,dc=x",
            &[
                ("entryUUID", &["u-2"]),
                ("uid", &["b"]),
                ("nsaccountlock", &["true"]),
            ],
        );
        let u = user_from_entry(&e, &Schema::of(&custom), &UserAttrs::of(&custom)).unwrap();
        assert!(!u.enabled);
        let e = entry("uid=c,dc=x", &[("uid", &["c"])]);
        assert!(user_from_entry(&e, &schema, &attrs).is_err());
    }

    #[test]
    fn members_resolve_without_the_placeholder() {
        let schema = Schema::of(&app());
        let by_dn = HashMap::from([(
            dn_key("uid=ann,ou=people,dc=example,dc=test"),
            "u-1".to_string(),
        )]);
        let values = vec![
            "".to_string(),
            "UID=Ann,ou=People,dc=example,dc=test".to_string(),
            "cn=x,ou=elsewhere,dc=example,dc=test".to_string(),
        ];
        let ids = resolve_members(&values, &schema, &by_dn, &HashMap::new());
        assert_eq!(
            ids.into_iter().collect::<Vec<_>>(),
            ["dn:cn=x,ou=elsewhere,dc=example,dc=test", "u-1"]
        );
        assert_eq!(strip_uid_suffix("uid=a,dc=x#'0101'B"), "uid=a,dc=x");
        assert_eq!(strip_uid_suffix("cn=a\\#b,dc=x"), "cn=a\\#b,dc=x");
        let posix = Schema::of(&LdapApp {
            group_object_class: Some(LdapGroupClass::PosixGroup),
            ..app()
        });
        let by_login = HashMap::from([("ann".to_string(), "u-1".to_string())]);
        let ids = resolve_members(
            &["Ann".into(), "ghost".into()],
            &posix,
            &HashMap::new(),
            &by_login,
        );
        assert_eq!(ids.into_iter().collect::<Vec<_>>(), ["u-1", "uid:ghost"]);
    }
}
