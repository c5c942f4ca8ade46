//! The reader: users under `users_ou` and groups under `groups_ou`, fetched with the
//! Simple Paged Results control (always, because real AD caps unpaged searches), the
//! `member` attribute fetched with explicit ranges (real AD returns at most 1,500
//! values per read), referrals skipped, objectGUID as the stable id, a non-zero
//! `adminCount` as the AdminSDHolder protection. With a scope naming many groups the
//! members come with the paged search of groups and are filtered to the scope here;
//! with a few, each group in scope is read on its own, [`LOOKUPS_IN_FLIGHT`] at a time.

use std::collections::{BTreeSet, HashMap};

use anyhow::{Context, anyhow, bail};
use futures::StreamExt;
use ldap3::controls::RawControl;
use ldap3::{Ldap, SearchEntry};

use super::codec;
use crate::apps::ReadScope;
use crate::apps::kit::ldap as ldap_kit;
use crate::desired::ActiveDirectoryApp;
use crate::observed::{
    Attributes, IdSet, MemberId, ObservedApp, ObservedGroup, ObservedUser, Protection,
};

/// Entries per page of a paged search (AD's default MaxPageSize).
pub const PAGE_SIZE: i32 = 1000;
/// Values per ranged read of `member` (AD's default MaxValRange).
pub const RANGE_SIZE: usize = 1500;
/// The ACCOUNTDISABLE bit of userAccountControl.
pub const ACCOUNTDISABLE: u32 = 2;

/// The LDAP filter selecting user accounts (not computers, not contacts).
pub const USER_FILTER: &str = "(&(objectCategory=person)(objectClass=user))";
pub const GROUP_FILTER: &str = "(objectClass=group)";

/// The key of a user's manager in [`ObservedUser::attributes`]: the manager's id (the
/// objectGUID of a user under `users_ou`, else `dn:<DN>`).
pub const MANAGER: &str = "manager";

/// The LDAP attribute holding a user's manager (a DN; AD keeps it pointing at the
/// object when that is renamed or moved, and drops it when the object is deleted).
pub const MANAGER_ATTR: &str = "manager";

/// What a user search reads, from the app's attribute mapping: each mapped target
/// under its key ([`crate::mapping::MappedField::key`]), then `pwdLastSet`. The login
/// (`sAMAccountName`), `userAccountControl`, `manager` and `adminCount` are read
/// besides.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserSchema {
    /// (key in observed state, LDAP attribute), mapping order.
    pub attrs: Vec<(String, String)>,
}

impl UserSchema {
    /// The schema of `app`'s mapping ([`crate::mapping::Mapping::lenient`]: a
    /// validated repository's mapping, or the defaults for bad entries).
    pub fn of(app: &ActiveDirectoryApp) -> UserSchema {
        Self::from_mapping(&super::mapping(app))
    }

    pub fn from_mapping(mapping: &crate::mapping::Mapping) -> UserSchema {
        let mut attrs: Vec<(String, String)> = Vec::with_capacity(mapping.fields.len() + 1);
        for f in &mapping.fields {
            if !attrs.iter().any(|(k, _)| *k == f.key) {
                attrs.push((f.key.clone(), f.target.clone()));
            }
        }
        // Read, never written from a plan: "0" marks a password never set.
        attrs.push((
            crate::plan::planner::PWD_LAST_SET.to_string(),
            "pwdLastSet".to_string(),
        ));
        UserSchema { attrs }
    }

    /// The attributes a user search asks for.
    pub fn attr_names(&self) -> Vec<&str> {
        let mut names = vec!["objectGUID", "sAMAccountName", "userAccountControl"];
        for (_, ldap) in &self.attrs {
            if !names.iter().any(|n| n.eq_ignore_ascii_case(ldap)) {
                names.push(ldap);
            }
        }
        names.push(MANAGER_ATTR);
        names.push(ADMIN_COUNT);
        names
    }

    /// What the read depends on, for the snapshot's identity: every key with its LDAP
    /// attribute. (Templates are not in it: they change plans, not what is read.)
    pub fn describe(&self) -> String {
        let mut parts = vec![
            "objectGUID".to_string(),
            "sAMAccountName".to_string(),
            "userAccountControl".to_string(),
        ];
        parts.extend(self.attrs.iter().map(|(k, l)| format!("{k}={l}")));
        parts.push(format!("{MANAGER}={MANAGER_ATTR}"));
        parts.push(ADMIN_COUNT.to_string());
        parts.join(",")
    }
}

/// Read with every user, never written: a non-zero value means AdminSDHolder
/// protects the account ([`Protection::AdminSdHolder`]).
pub const ADMIN_COUNT: &str = "adminCount";

/// The prefix of a member id whose DN is outside what was read (users outside
/// `users_ou`, groups outside `groups_ou`, foreign principals).
pub const DN_ID_PREFIX: &str = "dn:";

/// Run a paged, referral-free subtree search and return the entries.
pub async fn paged_search(
    ldap: &Ldap,
    base: &str,
    filter: &str,
    attrs: &[&str],
) -> anyhow::Result<Vec<SearchEntry>> {
    paged_search_with(ldap, base, filter, attrs, Vec::new()).await
}

/// [`paged_search`] with extra request controls (sent with every page).
pub async fn paged_search_with(
    ldap: &Ldap,
    base: &str,
    filter: &str,
    attrs: &[&str],
    controls: Vec<RawControl>,
) -> anyhow::Result<Vec<SearchEntry>> {
    ldap_kit::search(ldap, base, filter, attrs, controls, Some(PAGE_SIZE)).await
}

pub use ldap_kit::{first, first_bin, read_base};

/// The objectGUID of an entry as a GUID string.
pub fn guid_of(entry: &SearchEntry) -> anyhow::Result<String> {
    first_bin(entry, "objectGUID")
        .and_then(|raw| codec::guid_to_string(&raw))
        .ok_or_else(|| anyhow!("{} has no valid objectGUID", entry.dn))
}

/// Turn a user entry into an observed user, without its manager (which needs the DNs
/// of all users: [`manager_dn`], [`resolve_manager`]).
pub fn user_from_entry(entry: &SearchEntry, schema: &UserSchema) -> anyhow::Result<ObservedUser> {
    let id = guid_of(entry)?;
    let login = first(entry, "sAMAccountName")
        .ok_or_else(|| anyhow!("{} has no sAMAccountName", entry.dn))?
        .to_string();
    let uac: u32 = first(entry, "userAccountControl")
        .and_then(|v| v.parse::<i64>().ok())
        .map(|v| v as u32)
        .unwrap_or(0);
    let mut attributes = Attributes::new();
    for (key, ldap_name) in &schema.attrs {
        if let Some(v) = first(entry, ldap_name).filter(|v| !v.is_empty()) {
            attributes.insert(key.clone(), v.to_string());
        }
    }
    let mut protections = Vec::new();
    if admin_sd_holder(entry) {
        protections.push(Protection::AdminSdHolder);
    }
    Ok(ObservedUser {
        id,
        username: Some(login.clone()),
        login,
        enabled: uac & ACCOUNTDISABLE == 0,
        attributes,
        licenses: BTreeSet::new(),
        location: Some(entry.dn.clone()),
        protections,
        ..Default::default()
    })
}

/// The DN in an entry's `manager` attribute, if any.
pub fn manager_dn(entry: &SearchEntry) -> Option<&str> {
    first(entry, MANAGER_ATTR).filter(|v| !v.is_empty())
}

/// A manager DN as an id: the objectGUID of a user read (`users_by_dn`, keyed by
/// [`codec::dn_key`]), else `dn:<DN>` (a manager outside `users_ou`, or a contact),
/// as for members outside the scope.
pub fn resolve_manager(dn: &str, users_by_dn: &HashMap<String, String>) -> String {
    match users_by_dn.get(&codec::dn_key(dn)) {
        Some(id) => id.clone(),
        None => format!("{DN_ID_PREFIX}{dn}"),
    }
}

/// Sets (or, with `None`, clears) the manager of `user` from a manager DN.
pub fn set_manager(
    user: &mut ObservedUser,
    dn: Option<&str>,
    users_by_dn: &HashMap<String, String>,
) {
    match dn {
        Some(dn) => {
            user.attributes
                .insert(MANAGER.to_string(), resolve_manager(dn, users_by_dn));
        }
        None => {
            user.attributes.remove(MANAGER);
        }
    }
}

/// Whether the entry is protected by AdminSDHolder: `adminCount` set (AD writes 1
/// on every account that is or was a member of a protected group, and SDProp then
/// keeps resetting its security descriptor; any non-zero value counts).
pub fn admin_sd_holder(entry: &SearchEntry) -> bool {
    first(entry, ADMIN_COUNT)
        .and_then(|v| v.trim().parse::<i64>().ok())
        .is_some_and(|v| v != 0)
}

/// A `member;range=LO-HI` attribute of an entry: (values, Some(HI) or None for `*`).
type RangedValues = (Vec<String>, Option<usize>);

fn ranged_member(entry: &SearchEntry) -> anyhow::Result<Option<RangedValues>> {
    for (k, v) in &entry.attrs {
        let lower = k.to_ascii_lowercase();
        if lower == "member" {
            // A server that ignores ranges returned everything.
            return Ok(Some((v.clone(), None)));
        }
        if let Some(range) = lower.strip_prefix("member;range=") {
            let (_, hi) = range
                .split_once('-')
                .ok_or_else(|| anyhow!("{}: malformed range {k:?}", entry.dn))?;
            let hi = if hi == "*" {
                None
            } else {
                Some(
                    hi.parse::<usize>()
                        .map_err(|_| anyhow!("{}: malformed range {k:?}", entry.dn))?,
                )
            };
            return Ok(Some((v.clone(), hi)));
        }
    }
    Ok(None)
}

/// Read all `member` values of a group, range by range, starting at value `next`,
/// appending them to `out`; `reads` counts the base reads made.
async fn read_members_from(
    ldap: &Ldap,
    dn: &str,
    mut next: usize,
    out: &mut Vec<String>,
    reads: &mut usize,
) -> anyhow::Result<()> {
    loop {
        let attr = format!("member;range={}-{}", next, next + RANGE_SIZE - 1);
        *reads += 1;
        let entry = read_base(ldap, dn, &[attr.as_str()])
            .await?
            .ok_or_else(|| anyhow!("group {dn} vanished while its members were read"))?;
        match ranged_member(&entry)? {
            None => return Ok(()),
            Some((values, hi)) => {
                let got = values.len();
                out.extend(values);
                match hi {
                    None => return Ok(()),
                    Some(hi) if hi >= next && got > 0 => next = hi + 1,
                    Some(_) => {
                        bail!("group {dn}: the server returned a range that does not advance")
                    }
                }
            }
        }
    }
}

/// The attribute that asks for the first range of `member` with a group.
pub fn first_member_range() -> String {
    format!("member;range=0-{}", RANGE_SIZE - 1)
}

/// The attributes a group search asks for; with `first_range` (from
/// [`first_member_range`]) the first range of members comes with each group.
pub fn group_attr_names(first_range: Option<&str>) -> Vec<&str> {
    let mut attrs = vec!["objectGUID", "cn", "description"];
    attrs.extend(first_range);
    attrs
}

/// Member lookups of one read in flight at once (on the one multiplexed connection).
pub const LOOKUPS_IN_FLIGHT: usize = 8;

/// From how many groups in scope a read takes the members within the paged search of
/// groups (every group's first range, filtered to the scope client-side) instead of
/// one base read per group: at this many, the lookups take more round trips (at
/// [`LOOKUPS_IN_FLIGHT`]) than the pages of a `groups_ou` of 8,000 groups, and a
/// policy-bound scope names most of the groups it manages.
pub const INLINE_MEMBERS_FROM: usize = 64;

/// Whether a read asks for the first range of members with each group in the paged
/// search: always without a scope, and when the scope names enough groups
/// ([`INLINE_MEMBERS_FROM`]).
pub fn members_inline(scope: &ReadScope) -> bool {
    match &scope.member_groups {
        None => true,
        Some(set) => set.len() >= INLINE_MEMBERS_FROM,
    }
}

/// Whether the scope wants the members of the group named `name`.
pub fn wants_members(scope: &ReadScope, name: &str) -> bool {
    match &scope.member_groups {
        None => true,
        Some(set) => set.contains(name),
    }
}

/// Turn a group entry into an observed group without members.
pub fn group_from_entry(entry: &SearchEntry) -> anyhow::Result<ObservedGroup> {
    let id = guid_of(entry)?;
    let name = first(entry, "cn")
        .ok_or_else(|| anyhow!("{} has no cn", entry.dn))?
        .to_string();
    Ok(ObservedGroup {
        id,
        name,
        description: first(entry, "description")
            .filter(|d| !d.is_empty())
            .map(str::to_string),
        kind: "security".into(),
        member_ids: IdSet::new(),
        location: Some(entry.dn.clone()),
        ..Default::default()
    })
}

/// The member DNs of a group entry: the first range from the entry itself when the
/// search asked for it (`first_in_entry`), the rest (or all) by ranged base reads,
/// counted in `reads`.
pub async fn group_member_dns(
    ldap: &Ldap,
    entry: &SearchEntry,
    first_in_entry: bool,
    reads: &mut usize,
) -> anyhow::Result<Vec<String>> {
    let mut member_dns = Vec::new();
    let next = if first_in_entry {
        match ranged_member(entry)? {
            Some((values, hi)) => {
                member_dns.extend(values);
                hi.map(|h| h + 1)
            }
            None => None,
        }
    } else {
        Some(0)
    };
    if let Some(next) = next {
        read_members_from(ldap, &entry.dn, next, &mut member_dns, reads).await?;
    }
    Ok(member_dns)
}

/// The member DNs of the group at `dn`, read range by range (counted in `reads`).
pub async fn member_dns_of(
    ldap: &Ldap,
    dn: &str,
    reads: &mut usize,
) -> anyhow::Result<Vec<String>> {
    let mut out = Vec::new();
    read_members_from(ldap, dn, 0, &mut out, reads).await?;
    Ok(out)
}

/// Member DNs to ids: the objectGUID of a user or group that was read (`by_dn`, keyed
/// by [`codec::dn_key`]), else `dn:<DN>`.
pub fn resolve_members(dns: &[String], by_dn: &HashMap<String, String>) -> IdSet {
    dns.iter()
        .map(|dn| match by_dn.get(&codec::dn_key(dn)) {
            Some(id) => MemberId::new(id),
            None => format!("{DN_ID_PREFIX}{dn}").into(),
        })
        .collect()
}

/// The observed state from users and groups in any order.
pub fn assemble(
    app: &str,
    mut users: Vec<ObservedUser>,
    mut groups: Vec<ObservedGroup>,
    directory_id: Option<String>,
) -> ObservedApp {
    // Ties (two groups of one name in different OUs) are broken by id, so that the
    // order does not depend on the server's search order.
    users.sort_by(|a, b| a.login.cmp(&b.login).then_with(|| a.id.cmp(&b.id)));
    groups.sort_by(|a, b| a.name.cmp(&b.name).then_with(|| a.id.cmp(&b.id)));
    ObservedApp {
        app: app.to_string(),
        users,
        groups,
        verified_domains: Vec::new(),
        skus: Vec::new(),
        directory_id,
        ..Default::default()
    }
}

/// Read the app's users and groups.
pub async fn read(
    ldap: &Ldap,
    app: &ActiveDirectoryApp,
    scope: &ReadScope,
    directory_id: Option<String>,
) -> anyhow::Result<ObservedApp> {
    Ok(read_counted(ldap, app, scope, directory_id).await?.0)
}

/// [`read`], also returning how many entries the server sent (search entries plus
/// ranged member reads).
pub async fn read_counted(
    ldap: &Ldap,
    app: &ActiveDirectoryApp,
    scope: &ReadScope,
    directory_id: Option<String>,
) -> anyhow::Result<(ObservedApp, usize)> {
    let schema = UserSchema::of(app);
    let user_attrs = schema.attr_names();
    let inline = members_inline(scope);
    let first_range = first_member_range();
    let group_attrs = group_attr_names(inline.then_some(first_range.as_str()));
    let (users, groups) = tokio::join!(
        paged_search(ldap, &app.users_ou, USER_FILTER, &user_attrs),
        paged_search(ldap, &app.groups_ou, GROUP_FILTER, &group_attrs),
    );
    let users = users.context("reading users_ou")?;
    let groups = groups.context("reading groups_ou")?;
    let mut entries = users.len() + groups.len();

    let mut by_dn: HashMap<String, String> = HashMap::with_capacity(users.len() + groups.len());
    let mut observed_users = Vec::with_capacity(users.len());
    for entry in &users {
        let user = user_from_entry(entry, &schema)?;
        by_dn.insert(codec::dn_key(&entry.dn), user.id.clone());
        observed_users.push(user);
    }
    // Managers resolve against users only (groups are not added yet).
    for (user, entry) in observed_users.iter_mut().zip(&users) {
        set_manager(user, manager_dn(entry), &by_dn);
    }
    let groups_len = groups.len();
    let mut pending = Vec::with_capacity(groups_len);
    for entry in groups {
        let group = group_from_entry(&entry)?;
        by_dn.insert(codec::dn_key(&entry.dn), group.id.clone());
        pending.push((group, entry));
    }
    // The members of the groups in scope, LOOKUPS_IN_FLIGHT groups at a time (a group
    // whose members all came with the search needs no read), in the search's order.
    let by_dn = &by_dn;
    let lookups = pending.into_iter().map(|(mut group, entry)| async move {
        let mut reads = 0usize;
        if wants_members(scope, &group.name) {
            let member_dns = group_member_dns(ldap, &entry, inline, &mut reads)
                .await
                .with_context(|| format!("reading the members of {}", entry.dn))?;
            group.member_ids = resolve_members(&member_dns, by_dn);
        }
        anyhow::Ok((group, reads))
    });
    let mut lookups = futures::stream::iter(lookups).buffered(LOOKUPS_IN_FLIGHT);
    let mut observed_groups = Vec::with_capacity(groups_len);
    while let Some(done) = lookups.next().await {
        let (group, reads) = done?;
        entries += reads;
        observed_groups.push(group);
    }
    Ok((
        assemble(&app.name, observed_users, observed_groups, directory_id),
        entries,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(attrs: &[(&str, &[&str])]) -> SearchEntry {
        SearchEntry {
            dn: "CN=g,DC=x".into(),
            attrs: attrs
                .iter()
                .map(|(k, v)| (k.to_string(), v.iter().map(|s| s.to_string()).collect()))
                .collect(),
            bin_attrs: HashMap::new(),
        }
    }

    fn app(map: &[(&str, Option<&str>)]) -> ActiveDirectoryApp {
        ActiveDirectoryApp {
            joiner: None,
            leaver: None,
            attribute_map: map
                .iter()
                .map(|(k, v)| (k.to_string(), v.map(str::to_string)))
                .collect(),
            on_create: Vec::new(),
            name: "ad".into(),
            url: "ldaps://dc.x".into(),
            base_dn: "DC=x".into(),
            users_ou: "OU=Users,DC=x".into(),
            groups_ou: "OU=Groups,DC=x".into(),
            bind_dn: "CN=a,DC=x".into(),
            bind_password: crate::desired::SecretRef::Env("PW".into()),
            tls: None,
            starttls: None,
            authorized_domains: None,
            switches: crate::desired::Switches::default(),
            ignore: Vec::new(),
            max_deletes: None,
        }
    }

    fn default_schema() -> UserSchema {
        UserSchema::of(&app(&[]))
    }

    /// Without `attribute_map` the reader asks for exactly what it always did; mapped
    /// targets are added under their own names, unmapped defaults left out.
    #[test]
    fn the_schema_follows_the_mapping() {
        let plain = default_schema();
        assert_eq!(
            plain.attr_names(),
            [
                "objectGUID",
                "sAMAccountName",
                "userAccountControl",
                "mail",
                "givenName",
                "sn",
                "displayName",
                "department",
                "title",
                "employeeID",
                "pwdLastSet",
                "manager",
                "adminCount"
            ]
        );
        let mapped = UserSchema::of(&app(&[
            ("sAMAccountName", Some("{username}")),
            ("company", Some("Contoso")),
            ("l", Some("{attributes.city}")),
            ("title", None),
        ]));
        let keys: Vec<(&str, &str)> = mapped
            .attrs
            .iter()
            .map(|(k, l)| (k.as_str(), l.as_str()))
            .collect();
        assert!(keys.contains(&("email", "mail")));
        assert!(keys.contains(&("company", "company")));
        assert!(keys.contains(&("l", "l")));
        assert!(!keys.iter().any(|(k, _)| *k == "job_title"), "{keys:?}");
        let names = mapped.attr_names();
        for once in ["sAMAccountName", "company", "l", "manager"] {
            assert_eq!(names.iter().filter(|a| **a == once).count(), 1, "{once}");
        }
        assert_ne!(plain.describe(), mapped.describe());
        assert!(mapped.describe().contains("company=company"));
    }

    #[test]
    fn managers_resolve_to_user_ids_or_dn_ids() {
        let mut e = entry(&[
            ("sAMAccountName", &["bob"]),
            ("manager", &["CN=Alice,OU=Users,DC=x"]),
            ("company", &["Contoso"]),
        ]);
        e.bin_attrs.insert("objectGUID".into(), vec![vec![3; 16]]);
        let schema = UserSchema::of(&app(&[("company", Some("Contoso"))]));
        let mut u = user_from_entry(&e, &schema).unwrap();
        assert_eq!(u.attribute("company"), Some("Contoso"));
        assert_eq!(u.attribute(MANAGER), None, "resolved separately");
        let by_dn = HashMap::from([(codec::dn_key("cn=alice,ou=users,dc=x"), "a-1".to_string())]);
        set_manager(&mut u, manager_dn(&e), &by_dn);
        assert_eq!(u.attribute(MANAGER), Some("a-1"));
        set_manager(&mut u, Some("CN=Boss,OU=Elsewhere,DC=x"), &by_dn);
        assert_eq!(u.attribute(MANAGER), Some("dn:CN=Boss,OU=Elsewhere,DC=x"));
        set_manager(&mut u, None, &by_dn);
        assert_eq!(u.attribute(MANAGER), None);
    }

    #[test]
    fn ranged_member_reads_bounds() {
        let e = entry(&[("member;range=0-1499", &["a", "b"])]);
        assert_eq!(
            ranged_member(&e).unwrap(),
            Some((vec!["a".into(), "b".into()], Some(1499)))
        );
        let e = entry(&[("Member;Range=1500-*", &["c"])]);
        assert_eq!(ranged_member(&e).unwrap(), Some((vec!["c".into()], None)));
        let e = entry(&[("member", &["d"])]);
        assert_eq!(ranged_member(&e).unwrap(), Some((vec!["d".into()], None)));
        assert_eq!(ranged_member(&entry(&[("cn", &["g"])])).unwrap(), None);
        assert!(ranged_member(&entry(&[("member;range=0-x", &["a"])])).is_err());
        assert!(ranged_member(&entry(&[("member;range=7", &["a"])])).is_err());
    }

    #[test]
    fn user_entries_map_and_bad_ones_are_errors() {
        let mut e = entry(&[
            ("sAMAccountName", &["alice"]),
            ("userAccountControl", &["66050"]),
            ("mail", &["alice@example.test"]),
            ("title", &[""]),
        ]);
        e.bin_attrs.insert("objectGUID".into(), vec![vec![1; 16]]);
        let u = user_from_entry(&e, &default_schema()).unwrap();
        assert_eq!(u.id, "01010101-0101-0101-0101-010101010101");
        assert!(!u.enabled);
        assert_eq!(u.attribute("email"), Some("alice@example.test"));
        assert!(
            !u.attributes.contains_key("job_title"),
            "empty values are left out"
        );
        assert!(u.protections.is_empty());
        e.bin_attrs.insert("objectGUID".into(), vec![vec![1; 3]]);
        assert!(user_from_entry(&e, &default_schema()).is_err());
    }

    #[test]
    fn admin_count_is_the_admin_sd_holder_protection() {
        let with = |v: &[&str]| {
            let mut e = entry(&[("sAMAccountName", &["adm"]), ("adminCount", v)]);
            e.bin_attrs.insert("objectGUID".into(), vec![vec![2; 16]]);
            user_from_entry(&e, &default_schema()).unwrap().protections
        };
        assert_eq!(with(&["1"]), vec![Protection::AdminSdHolder]);
        assert!(with(&["0"]).is_empty());
        assert!(with(&["junk"]).is_empty());
        assert!(with(&[]).is_empty());
    }
}
