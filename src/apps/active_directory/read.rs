//! The reader: users under `users_ou` and groups under `groups_ou`, fetched with the
//! Simple Paged Results control (always, because real AD caps unpaged searches), the
//! `member` attribute fetched with explicit ranges (real AD returns at most 1,500
//! values per read), referrals skipped, objectGUID as the stable id.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use anyhow::{Context, anyhow, bail};
use ldap3::adapters::{Adapter, EntriesOnly, PagedResults};
use ldap3::{Ldap, Scope, SearchEntry};

use super::codec;
use super::conn::{OP_TIMEOUT, text_suffix, timed};
use crate::apps::ReadScope;
use crate::desired::ActiveDirectoryApp;
use crate::observed::{ObservedApp, ObservedGroup, ObservedUser};

/// Entries per page of a paged search (AD's default MaxPageSize).
pub const PAGE_SIZE: i32 = 1000;
/// Values per ranged read of `member` (AD's default MaxValRange).
pub const RANGE_SIZE: usize = 1500;
/// The ACCOUNTDISABLE bit of userAccountControl.
pub const ACCOUNTDISABLE: u32 = 2;

/// The LDAP filter selecting user accounts (not computers, not contacts).
pub const USER_FILTER: &str = "(&(objectCategory=person)(objectClass=user))";
pub const GROUP_FILTER: &str = "(objectClass=group)";

/// LDAP attributes read for users, by roster attribute name.
pub const USER_ATTRS: &[(&str, &str)] = &[
    ("email", "mail"),
    ("first_name", "givenName"),
    ("last_name", "sn"),
    ("display_name", "displayName"),
    ("department", "department"),
    ("job_title", "title"),
    ("employee_id", "employeeID"),
];

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
    let mut ldap = ldap.clone();
    let attrs: Vec<String> = attrs.iter().map(|s| s.to_string()).collect();
    let adapters: Vec<Box<dyn Adapter<'_, String, Vec<String>>>> = vec![
        Box::new(EntriesOnly::new()),
        Box::new(PagedResults::new(PAGE_SIZE)),
    ];
    let mut stream = timed(
        OP_TIMEOUT,
        ldap.streaming_search_with(adapters, base, Scope::Subtree, filter, attrs),
    )
    .await
    .with_context(|| format!("search under {base}"))?;
    let mut out = Vec::new();
    while let Some(entry) = timed(OP_TIMEOUT, stream.next())
        .await
        .with_context(|| format!("search under {base}"))?
    {
        out.push(SearchEntry::construct(entry));
    }
    let res = stream.finish().await;
    match res.rc {
        0 => Ok(out),
        32 => bail!("{base} does not exist (LDAP result 32 noSuchObject)"),
        rc => bail!(
            "search under {base} failed: LDAP result {rc}{}",
            text_suffix(&res)
        ),
    }
}

/// Read one base object; `None` when it does not exist.
pub async fn read_base(
    ldap: &Ldap,
    dn: &str,
    attrs: &[&str],
) -> anyhow::Result<Option<SearchEntry>> {
    let mut ldap = ldap.clone();
    let res = timed(
        OP_TIMEOUT,
        ldap.search(dn, Scope::Base, "(objectClass=*)", attrs.to_vec()),
    )
    .await
    .with_context(|| format!("read {dn}"))?;
    match res.1.rc {
        0 => Ok(res.0.into_iter().next().map(SearchEntry::construct)),
        32 => Ok(None),
        rc => bail!("read {dn} failed: LDAP result {rc}{}", text_suffix(&res.1)),
    }
}

/// The first value of an attribute, case-insensitively by name.
pub fn first<'e>(entry: &'e SearchEntry, name: &str) -> Option<&'e str> {
    entry
        .attrs
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .and_then(|(_, v)| v.first())
        .map(String::as_str)
}

/// The first value of a binary attribute (which the client files under text when the
/// bytes happen to be valid UTF-8).
pub fn first_bin(entry: &SearchEntry, name: &str) -> Option<Vec<u8>> {
    if let Some(v) = entry
        .bin_attrs
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .and_then(|(_, v)| v.first())
    {
        return Some(v.clone());
    }
    first(entry, name).map(|s| s.as_bytes().to_vec())
}

/// The objectGUID of an entry as a GUID string.
pub fn guid_of(entry: &SearchEntry) -> anyhow::Result<String> {
    first_bin(entry, "objectGUID")
        .and_then(|raw| codec::guid_to_string(&raw))
        .ok_or_else(|| anyhow!("{} has no valid objectGUID", entry.dn))
}

/// Turn a user entry into an observed user.
pub fn user_from_entry(entry: &SearchEntry) -> anyhow::Result<ObservedUser> {
    let id = guid_of(entry)?;
    let login = first(entry, "sAMAccountName")
        .ok_or_else(|| anyhow!("{} has no sAMAccountName", entry.dn))?
        .to_string();
    let uac: u32 = first(entry, "userAccountControl")
        .and_then(|v| v.parse::<i64>().ok())
        .map(|v| v as u32)
        .unwrap_or(0);
    let mut attributes = BTreeMap::new();
    for (roster, ldap_name) in USER_ATTRS {
        if let Some(v) = first(entry, ldap_name).filter(|v| !v.is_empty()) {
            attributes.insert(roster.to_string(), v.to_string());
        }
    }
    Ok(ObservedUser {
        id,
        username: Some(login.clone()),
        login,
        enabled: uac & ACCOUNTDISABLE == 0,
        attributes,
        licenses: BTreeSet::new(),
        location: Some(entry.dn.clone()),
    })
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

/// Read all `member` values of a group, range by range, starting at `start` and
/// having already `have` (the values of the first range, read with the group).
async fn read_members_from(
    ldap: &Ldap,
    dn: &str,
    mut next: usize,
    out: &mut Vec<String>,
) -> anyhow::Result<()> {
    loop {
        let attr = format!("member;range={}-{}", next, next + RANGE_SIZE - 1);
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

/// Read the app's users and groups.
pub async fn read(
    ldap: &Ldap,
    app: &ActiveDirectoryApp,
    scope: &ReadScope,
    directory_id: Option<String>,
) -> anyhow::Result<ObservedApp> {
    let mut user_attrs = vec!["objectGUID", "sAMAccountName", "userAccountControl"];
    user_attrs.extend(USER_ATTRS.iter().map(|(_, l)| *l));
    let first_range = format!("member;range=0-{}", RANGE_SIZE - 1);
    let all_members = scope.member_groups.is_none();
    let mut group_attrs = vec!["objectGUID", "cn", "description"];
    if all_members {
        group_attrs.push(first_range.as_str());
    }
    let (users, groups) = tokio::join!(
        paged_search(ldap, &app.users_ou, USER_FILTER, &user_attrs),
        paged_search(ldap, &app.groups_ou, GROUP_FILTER, &group_attrs),
    );
    let users = users.with_context(|| format!("app {}: reading users_ou", app.name))?;
    let groups = groups.with_context(|| format!("app {}: reading groups_ou", app.name))?;

    let mut by_dn: HashMap<String, String> = HashMap::with_capacity(users.len() + groups.len());
    let mut observed_users = Vec::with_capacity(users.len());
    for entry in &users {
        let user = user_from_entry(entry).with_context(|| format!("app {}", app.name))?;
        by_dn.insert(codec::dn_key(&entry.dn), user.id.clone());
        observed_users.push(user);
    }
    let mut pending = Vec::with_capacity(groups.len());
    for entry in groups {
        let id = guid_of(&entry).with_context(|| format!("app {}", app.name))?;
        by_dn.insert(codec::dn_key(&entry.dn), id.clone());
        pending.push((id, entry));
    }
    let mut observed_groups = Vec::with_capacity(pending.len());
    for (id, entry) in pending {
        let name = first(&entry, "cn")
            .ok_or_else(|| anyhow!("app {}: {} has no cn", app.name, entry.dn))?
            .to_string();
        let wanted = match &scope.member_groups {
            None => true,
            Some(set) => set.contains(&name),
        };
        let mut member_dns = Vec::new();
        if wanted {
            let next = if all_members {
                match ranged_member(&entry)? {
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
                read_members_from(ldap, &entry.dn, next, &mut member_dns)
                    .await
                    .with_context(|| format!("app {}: reading members", app.name))?;
            }
        }
        let member_ids = member_dns
            .iter()
            .map(|dn| match by_dn.get(&codec::dn_key(dn)) {
                Some(id) => id.clone(),
                None => format!("{DN_ID_PREFIX}{dn}"),
            })
            .collect();
        observed_groups.push(ObservedGroup {
            id,
            name,
            description: first(&entry, "description")
                .filter(|d| !d.is_empty())
                .map(str::to_string),
            kind: "security".into(),
            member_ids,
            location: Some(entry.dn.clone()),
        });
    }
    observed_users.sort_by(|a, b| a.login.cmp(&b.login));
    observed_groups.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(ObservedApp {
        app: app.name.clone(),
        users: observed_users,
        groups: observed_groups,
        verified_domains: Vec::new(),
        skus: Vec::new(),
        directory_id,
    })
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
        let u = user_from_entry(&e).unwrap();
        assert_eq!(u.id, "01010101-0101-0101-0101-010101010101");
        assert!(!u.enabled);
        assert_eq!(
            u.attributes.get("email").map(String::as_str),
            Some("alice@example.test")
        );
        assert!(
            !u.attributes.contains_key("job_title"),
            "empty values are left out"
        );
        e.bin_attrs.insert("objectGUID".into(), vec![vec![1; 3]]);
        assert!(user_from_entry(&e).is_err());
    }
}
