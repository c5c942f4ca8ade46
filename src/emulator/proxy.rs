//! Proxy addresses: which addresses a user or group holds and their uniqueness across
//! the directory.
//!
//! resources/user.md (proxyAddresses, mail): "Changes to the **mail** property update
//! the user's **proxyAddresses** collection to include the value as an SMTP address";
//! the `SMTP:` address is the primary one, `smtp:` addresses are secondary; the
//! collection is read-only in Microsoft Graph. Addresses are unique across users and
//! groups (resources/user.md, "mail and proxyAddresses properties").
//!
//! The rule the emulator implements, as Exchange Online stamps a cloud user:
//! - a member user's primary address `SMTP:` is its `mail`, or its
//!   `userPrincipalName` when it has no mail; the UPN is a secondary `smtp:` address
//!   when it differs from the mail;
//! - a guest holds only `SMTP:<mail>` (its `#EXT#` UPN is not an address);
//! - a group holds `SMTP:<mail>` when it has a mail;
//! - addresses set through the test door (`POST /_emulator/users|groups`) are kept
//!   after those.
//!
//! Addresses are recomputed from the current mail and UPN when either changes; the
//! addresses an object held before are not retained (Exchange Online would keep them
//! as secondary addresses).

use uuid::Uuid;

use super::error::GraphError;
use super::model::{Group, Tenant, User};

/// The uniqueness key of an address: the whole `type:address`, lower-cased, so that
/// `SMTP:a@b` and `smtp:A@B` are one address.
pub fn key(address: &str) -> String {
    address.trim().to_lowercase()
}

fn push_unique(out: &mut Vec<String>, address: String) {
    if !out.iter().any(|a| key(a) == key(&address)) {
        out.push(address);
    }
}

/// The proxy addresses of a user (see the module documentation for the rule).
pub fn user_proxies(u: &User) -> Vec<String> {
    let mut out = Vec::new();
    let mail = u.mail.as_deref().filter(|m| !m.trim().is_empty());
    if u.is_guest() {
        if let Some(m) = mail {
            out.push(format!("SMTP:{m}"));
        }
    } else {
        let upn = u.user_principal_name.as_str();
        let primary = mail.unwrap_or(upn);
        if !primary.is_empty() {
            out.push(format!("SMTP:{primary}"));
        }
        if !upn.is_empty() && !upn.eq_ignore_ascii_case(primary) {
            push_unique(&mut out, format!("smtp:{upn}"));
        }
    }
    for a in &u.extra_proxy_addresses {
        push_unique(&mut out, a.clone());
    }
    out
}

/// The proxy addresses of a group: `SMTP:<mail>` and the test door's extra ones.
pub fn group_proxies(g: &Group) -> Vec<String> {
    let mut out = Vec::new();
    if let Some(m) = g.mail.as_deref().filter(|m| !m.trim().is_empty()) {
        out.push(format!("SMTP:{m}"));
    }
    for a in &g.extra_proxy_addresses {
        push_unique(&mut out, a.clone());
    }
    out
}

/// Graph's conflict for a proxy address another object holds
/// (microsoftgraph/microsoft-graph-docs-contrib issue #8421 shows the body real Graph
/// returns: `Request_BadRequest`, "Another object with the same value for property
/// proxyAddresses already exists.", details `ObjectConflict` and `ConflictingObjects`;
/// the latter's target names the other object as `User_<id>`, as Microsoft's
/// ADSyncTools documentation shows for onPremisesImmutableId conflicts).
pub fn conflict(t: &Tenant, prop: &str, other: Uuid) -> GraphError {
    let kind = if t.users.contains_key(&other) {
        "User"
    } else {
        "Group"
    };
    GraphError::conflict_with(prop, &format!("{kind}_{other}"))
}

impl Tenant {
    /// Rebuild the address index from the live objects.
    pub fn rebuild_proxy_index(&mut self) {
        self.proxy_index.clear();
        for (id, u) in &self.users {
            for a in user_proxies(u) {
                self.proxy_index.insert(key(&a), *id);
            }
        }
        for (id, g) in &self.groups {
            for a in group_proxies(g) {
                self.proxy_index.insert(key(&a), *id);
            }
        }
    }

    /// The live object other than `me` holding one of `addresses`, if any.
    pub fn proxy_holder(&self, me: Uuid, addresses: &[String]) -> Option<Uuid> {
        addresses
            .iter()
            .filter_map(|a| self.proxy_index.get(&key(a)).copied())
            .find(|holder| *holder != me)
    }

    /// Refuse `addresses` for object `me` when another object holds one of them.
    pub fn check_proxies(&self, me: Uuid, addresses: &[String]) -> Result<(), GraphError> {
        match self.proxy_holder(me, addresses) {
            Some(other) => Err(conflict(self, "proxyAddresses", other)),
            None => Ok(()),
        }
    }

    /// Move object `id` from addresses `old` to addresses `new` in the index.
    pub fn index_proxies(&mut self, id: Uuid, old: &[String], new: &[String]) {
        for a in old {
            let k = key(a);
            if self.proxy_index.get(&k) == Some(&id) {
                self.proxy_index.remove(&k);
            }
        }
        for a in new {
            self.proxy_index.insert(key(a), id);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(upn: &str, mail: Option<&str>) -> User {
        User {
            id: Uuid::new_v4(),
            user_principal_name: upn.into(),
            mail: mail.map(str::to_string),
            user_type: Some("Member".into()),
            ..Default::default()
        }
    }

    #[test]
    fn mail_is_primary_and_upn_secondary() {
        let u = user("a@contoso.com", Some("alice@contoso.com"));
        assert_eq!(
            user_proxies(&u),
            vec!["SMTP:alice@contoso.com", "smtp:a@contoso.com"]
        );
        let u = user("a@contoso.com", None);
        assert_eq!(user_proxies(&u), vec!["SMTP:a@contoso.com"]);
        let u = user("A@contoso.com", Some("a@CONTOSO.com"));
        assert_eq!(user_proxies(&u), vec!["SMTP:a@CONTOSO.com"]);
    }

    #[test]
    fn guests_hold_their_mail_only_and_keys_ignore_case() {
        let mut g = user(
            "x_fabrikam.com#EXT#@contoso.onmicrosoft.com",
            Some("x@fabrikam.com"),
        );
        g.user_type = Some("Guest".into());
        assert_eq!(user_proxies(&g), vec!["SMTP:x@fabrikam.com"]);
        assert_eq!(key("SMTP:X@Fabrikam.com"), key("smtp:x@fabrikam.com"));
    }
}
