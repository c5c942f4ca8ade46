//! Reading a Google Workspace account into the observed state: users (every page of
//! 500, of the customer, within `org_unit` when set), groups (pages of 200) and the
//! members of the groups in scope (pages of 200, type `USER` or `GROUP`).
//!
//! A user's `primaryEmail` is its login, `id` its stable id, roster's `externalIds`
//! entry (`custom` / `roster`) the username anchor (the local part of the email for
//! accounts roster did not create), `suspended` the opposite of enabled, and each
//! target of the app's mapping is read at its path ([`super::fields`]). Admins
//! (`isAdmin`, `isDelegatedAdmin`) carry a protection, so that roster never suspends
//! or deletes them. A group's `name` is its roster name, `email` its alternate key.

use anyhow::{Context, Result};
use futures::StreamExt;
use serde_json::Value;

use super::fields::{self, FieldPath};
use super::http::{Client, DIRECTORY, segment};
use crate::apps::ReadScope;
use crate::mapping::{Mapping, ValueKind};
use crate::observed::{
    Attributes, IdSet, MemberId, ObservedApp, ObservedGroup, ObservedUser, Protection,
};

/// The observed attribute holding the live id of a user's manager.
pub const MANAGER_KEY: &str = "manager";

/// The email of a user's manager (`relations` entry of type `manager`).
pub fn manager_email(user: &Value) -> Option<String> {
    user.get("relations")?
        .as_array()?
        .iter()
        .find(|r| r.get("type").and_then(Value::as_str) == Some("manager"))
        .and_then(|r| text(r, "value"))
}

/// `maxResults` of users lists (the API's largest).
pub const USERS_PAGE: usize = 500;
/// `maxResults` of groups and members lists (the API's largest).
pub const GROUPS_PAGE: usize = 200;

fn text(v: &Value, key: &str) -> Option<String> {
    v.get(key)
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
}

/// The mapped targets read from a user: (key, path, kind).
pub fn reading(mapping: &Mapping, app: &str) -> Vec<(String, FieldPath, ValueKind)> {
    let mut out = Vec::new();
    for f in &mapping.fields {
        match FieldPath::parse(&f.target) {
            Ok(p) => out.push((f.key.clone(), p, f.kind)),
            Err(e) => tracing::warn!(app, "{e}; it is not read"),
        }
    }
    out
}

/// Whether `path` (a user's `orgUnitPath`) is `scope` or below it.
pub fn in_org_unit(path: &str, scope: &str) -> bool {
    let scope = scope.trim_end_matches('/');
    scope.is_empty() || path == scope || path.starts_with(&format!("{scope}/"))
}

/// Maps one Directory API User; `Err` (the reason) without an id or primaryEmail.
pub fn user_from(
    v: &Value,
    reading: &[(String, FieldPath, ValueKind)],
) -> Result<ObservedUser, String> {
    let id = text(v, "id").ok_or("a user without an id")?;
    let login = text(v, "primaryEmail").ok_or_else(|| format!("user {id} has no primaryEmail"))?;
    let mut attributes = Attributes::new();
    for (key, path, kind) in reading {
        if let Some(value) = path
            .read(v)
            .and_then(|s| crate::mapping::normalize(*kind, &s))
        {
            attributes.insert(key.clone(), value);
        }
    }
    let mut protections = Vec::new();
    let mut roles = Vec::new();
    if v.get("isAdmin").and_then(Value::as_bool) == Some(true) {
        roles.push("super admin".to_string());
    }
    if v.get("isDelegatedAdmin").and_then(Value::as_bool) == Some(true) {
        roles.push("delegated admin".to_string());
    }
    if !roles.is_empty() {
        protections.push(Protection::PrivilegedRole { roles });
    }
    let username = fields::anchor(v).or_else(|| {
        login
            .rsplit_once('@')
            .map(|(local, _)| local.to_string())
            .filter(|l| !l.is_empty())
    });
    Ok(ObservedUser {
        id,
        username,
        enabled: v.get("suspended").and_then(Value::as_bool) != Some(true),
        attributes,
        location: text(v, "orgUnitPath"),
        protections,
        login,
        ..Default::default()
    })
}

/// Maps one Directory API Group (members are read apart).
pub fn group_from(v: &Value) -> Result<ObservedGroup, String> {
    let id = text(v, "id").ok_or("a group without an id")?;
    let email = text(v, "email").ok_or_else(|| format!("group {id} has no email"))?;
    Ok(ObservedGroup {
        id,
        name: text(v, "name").unwrap_or_else(|| email.clone()),
        description: text(v, "description"),
        kind: "security".to_string(),
        location: Some(email),
        ..Default::default()
    })
}

/// The member ids of a members list: users and nested groups (not `CUSTOMER`, the
/// whole account as a member, which roster does not manage).
pub fn member_ids(members: &[Value]) -> IdSet {
    members
        .iter()
        .filter(|m| {
            matches!(
                m.get("type").and_then(Value::as_str),
                Some("USER" | "GROUP") | None
            )
        })
        .filter_map(|m| text(m, "id"))
        .map(MemberId::from)
        .collect()
}

/// Reads users, groups and the members of the groups in `scope`.
pub async fn read(
    client: &Client,
    app: &crate::desired::GoogleWorkspaceApp,
    scope: &ReadScope,
    mapping: &Mapping,
) -> Result<ObservedApp> {
    let customer = app.customer.as_deref().unwrap_or("my_customer").to_string();
    let fields = reading(mapping, &app.name);
    let mut q = vec![
        ("customer", customer.clone()),
        ("maxResults", USERS_PAGE.to_string()),
        ("projection", "full".to_string()),
    ];
    if let Some(ou) = &app.org_unit {
        q.push((
            "query",
            format!("orgUnitPath='{}'", ou.replace('\'', "\\'")),
        ));
    }
    let raw = client
        .list(&format!("{DIRECTORY}/users"), &q, "users")
        .await
        .context("cannot read users")?;
    let mut users = Vec::with_capacity(raw.len());
    for u in &raw {
        match user_from(u, &fields) {
            // The query already scopes by org unit; a server that ignores it is
            // scoped here, so that nothing outside the scope is ever planned.
            Ok(u)
                if app
                    .org_unit
                    .as_deref()
                    .is_some_and(|ou| !in_org_unit(u.location.as_deref().unwrap_or("/"), ou)) => {}
            Ok(u) => users.push(u),
            Err(why) => tracing::warn!(app = %app.name, "skipping a user the API returned: {why}"),
        }
    }
    // Managers: `relations` of type `manager` name the manager by email; the observed
    // `manager` is its live id (the email itself when the manager is not read).
    let id_of: std::collections::HashMap<String, String> = users
        .iter()
        .map(|u| (u.login.to_lowercase(), u.id.clone()))
        .collect();
    let managers: std::collections::HashMap<String, String> = raw
        .iter()
        .filter_map(|u| Some((text(u, "id")?, manager_email(u)?)))
        .collect();
    for u in &mut users {
        if let Some(email) = managers.get(&u.id) {
            let value = id_of
                .get(&email.to_lowercase())
                .cloned()
                .unwrap_or_else(|| email.clone());
            u.attributes.insert(MANAGER_KEY.to_string(), value);
        }
    }
    drop(raw);
    users.sort_by(|a, b| (a.login.to_lowercase(), &a.id).cmp(&(b.login.to_lowercase(), &b.id)));

    let raw = client
        .list(
            &format!("{DIRECTORY}/groups"),
            &[
                ("customer", customer),
                ("maxResults", GROUPS_PAGE.to_string()),
            ],
            "groups",
        )
        .await
        .context("cannot read groups")?;
    let mut groups = Vec::with_capacity(raw.len());
    for g in &raw {
        match group_from(g) {
            Ok(g) => groups.push(g),
            Err(why) => tracing::warn!(app = %app.name, "skipping a group the API returned: {why}"),
        }
    }
    let wanted: Vec<usize> = (0..groups.len())
        .filter(|&i| {
            scope
                .member_groups
                .as_ref()
                .is_none_or(|w| w.contains(&groups[i].name))
        })
        .collect();
    let mut lists = futures::stream::iter(wanted)
        .map(|i| {
            let path = format!("{DIRECTORY}/groups/{}/members", segment(&groups[i].id));
            async move {
                let r = client
                    .list(&path, &[("maxResults", GROUPS_PAGE.to_string())], "members")
                    .await;
                (i, r)
            }
        })
        .buffer_unordered(client.policy.concurrency.max(1));
    let mut found = Vec::new();
    while let Some((i, r)) = lists.next().await {
        let members =
            r.with_context(|| format!("cannot read the members of group {}", groups[i].name))?;
        found.push((i, member_ids(&members)));
    }
    drop(lists);
    for (i, ids) in found {
        groups[i].member_ids = ids;
    }
    groups.sort_by(|a, b| (&a.name, &a.id).cmp(&(&b.name, &b.id)));
    let mut domains = vec![app.domain.trim().to_lowercase()];
    domains.dedup();
    Ok(ObservedApp {
        app: app.name.clone(),
        users,
        groups,
        verified_domains: domains,
        directory_id: Some(format!("{}#{}", client.base, app.domain.to_lowercase())),
        ..Default::default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::desired::App;
    use serde_json::json;

    fn app() -> crate::desired::GoogleWorkspaceApp {
        serde_json::from_value(json!({
            "name": "gws", "domain": "example.com", "subject": "admin@example.com",
            "credentials": {"service_account_key": {"env": "K"}}
        }))
        .unwrap()
    }

    #[test]
    fn users_map_to_roster_attributes() {
        let m = Mapping::of(&App::GoogleWorkspace(app())).unwrap();
        let r = reading(&m, "gws");
        let u = user_from(
            &json!({
                "id": "1001", "primaryEmail": "ann@example.com",
                "name": {"givenName": "Ann", "familyName": "Lee", "fullName": "Ann Lee"},
                "suspended": true, "orgUnitPath": "/Staff",
                "organizations": [{"primary": true, "title": "CTO", "department": "R&D"}],
                "externalIds": [{"type": "custom", "customType": "roster", "value": "ann"},
                                {"type": "organization", "value": "E7"}],
                "phones": [{"type": "mobile", "value": "+33 6"}],
            }),
            &r,
        )
        .unwrap();
        assert_eq!(u.login, "ann@example.com");
        assert_eq!(u.username.as_deref(), Some("ann"));
        assert!(!u.enabled);
        assert_eq!(u.location.as_deref(), Some("/Staff"));
        assert_eq!(u.attributes["first_name"], "Ann");
        assert_eq!(u.attributes["last_name"], "Lee");
        assert_eq!(u.attributes["job_title"], "CTO");
        assert_eq!(u.attributes["department"], "R&D");
        assert_eq!(u.attributes["employee_id"], "E7");
        assert_eq!(u.attributes["mobile_phone"], "+33 6");
        assert!(u.protections.is_empty());

        let admin = user_from(
            &json!({"id": "1", "primaryEmail": "Boss@example.com", "isAdmin": true}),
            &r,
        )
        .unwrap();
        assert!(admin.enabled, "suspended absent is active");
        assert_eq!(
            admin.username.as_deref(),
            Some("Boss"),
            "no anchor: the local part"
        );
        assert!(
            matches!(&admin.protections[..], [Protection::PrivilegedRole { roles }] if roles == &["super admin"])
        );
        assert!(user_from(&json!({"id": "1"}), &r).is_err());
        assert!(user_from(&json!({"primaryEmail": "a@b"}), &r).is_err());
    }

    #[test]
    fn groups_members_and_org_units() {
        let g = group_from(
            &json!({"id": "g1", "email": "sales@example.com", "name": "Sales", "description": "d"}),
        )
        .unwrap();
        assert_eq!(
            (g.name.as_str(), g.description.as_deref()),
            ("Sales", Some("d"))
        );
        assert_eq!(g.location.as_deref(), Some("sales@example.com"));
        assert!(group_from(&json!({"id": "g"})).is_err());
        let ids = member_ids(&[
            json!({"id": "u1", "type": "USER", "role": "MEMBER"}),
            json!({"id": "g2", "type": "GROUP"}),
            json!({"id": "C01", "type": "CUSTOMER"}),
        ]);
        assert_eq!(ids.into_iter().collect::<Vec<_>>(), ["g2", "u1"]);
        assert!(in_org_unit("/Staff", "/Staff"));
        assert!(in_org_unit("/Staff/Sales", "/Staff"));
        assert!(!in_org_unit("/Staffing", "/Staff"));
        assert!(!in_org_unit("/", "/Staff"));
        assert!(in_org_unit("/anything", "/"));
    }
}
