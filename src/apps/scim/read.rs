//! Reading a SCIM service provider into the observed state: every User and Group,
//! paged, mapped to roster's attribute names (userName → login, externalId →
//! username, emails (primary) → email, name.givenName / name.familyName, displayName,
//! active → enabled; Group displayName → name, members[].value → member ids).

use std::collections::BTreeMap;

use anyhow::{Context, Result};
use serde_json::Value;

use super::discovery::Capabilities;
use super::http::Client;
use crate::apps::ReadScope;
use crate::observed::{ObservedApp, ObservedGroup, ObservedUser};

/// The User attributes roster asks for.
pub const USER_ATTRIBUTES: &str = "userName,externalId,name,displayName,emails,active";

fn text(v: &Value, key: &str) -> Option<String> {
    v.get(key)
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
}

/// The primary email of a User (else the first one with a value).
pub fn primary_email(user: &Value) -> Option<String> {
    let emails = user.get("emails")?.as_array()?;
    let with_value = |e: &&Value| text(e, "value").is_some();
    emails
        .iter()
        .filter(with_value)
        .find(|e| e.get("primary").and_then(Value::as_bool) == Some(true))
        .or_else(|| emails.iter().find(with_value))
        .and_then(|e| text(e, "value"))
}

/// Maps one SCIM User resource; `None` (with the reason) when it lacks an id or userName.
pub fn user_from(v: &Value) -> Result<ObservedUser, String> {
    let id = text(v, "id").ok_or("a User without an id")?;
    let login = text(v, "userName").ok_or_else(|| format!("User {id} has no userName"))?;
    let mut attributes = BTreeMap::new();
    if let Some(e) = primary_email(v) {
        attributes.insert("email".to_string(), e);
    }
    if let Some(name) = v.get("name") {
        if let Some(g) = text(name, "givenName") {
            attributes.insert("first_name".to_string(), g);
        }
        if let Some(f) = text(name, "familyName") {
            attributes.insert("last_name".to_string(), f);
        }
    }
    if let Some(d) = text(v, "displayName") {
        attributes.insert("display_name".to_string(), d);
    }
    // RFC 7643 §4.1.1: `active` absent means the service provider does not say; roster
    // treats such an account as enabled.
    let enabled = v.get("active").and_then(Value::as_bool).unwrap_or(true);
    Ok(ObservedUser {
        username: text(v, "externalId").or_else(|| Some(login.clone())),
        id,
        login,
        enabled,
        attributes,
        licenses: Default::default(),
        location: v.get("meta").and_then(|m| text(m, "location")),
        ..Default::default()
    })
}

/// Maps one SCIM Group resource.
pub fn group_from(v: &Value, with_description: bool) -> Result<ObservedGroup, String> {
    let id = text(v, "id").ok_or("a Group without an id")?;
    let name = text(v, "displayName").ok_or_else(|| format!("Group {id} has no displayName"))?;
    let member_ids = v
        .get("members")
        .and_then(Value::as_array)
        .map(|ms| ms.iter().filter_map(|m| text(m, "value")).collect())
        .unwrap_or_default();
    Ok(ObservedGroup {
        id,
        name,
        description: if with_description {
            text(v, "description")
        } else {
            None
        },
        kind: "security".to_string(),
        member_ids,
        location: v.get("meta").and_then(|m| text(m, "location")),
        ..Default::default()
    })
}

/// Reads users and groups. Member lists come inline with the groups (one paged list,
/// never a request per group); those of groups outside `scope` are dropped.
pub async fn read(
    client: &Client,
    caps: &Capabilities,
    scope: &ReadScope,
    app: &str,
) -> Result<ObservedApp> {
    let page = caps.page_size();
    let users_raw = client
        .list(
            &caps.users_endpoint,
            &[("attributes", USER_ATTRIBUTES.to_string())],
            page,
        )
        .await
        .context("cannot read users")?;
    let mut users = Vec::with_capacity(users_raw.len());
    for u in &users_raw {
        match user_from(u) {
            Ok(u) => users.push(u),
            Err(why) => tracing::warn!(app, "skipping a user the provider returned: {why}"),
        }
    }
    drop(users_raw);
    users.sort_by(|a, b| (a.login.to_lowercase(), &a.id).cmp(&(b.login.to_lowercase(), &b.id)));

    let mut group_attrs = "displayName,members".to_string();
    if caps.group_description {
        group_attrs.push_str(",description");
    }
    let groups_raw = client
        .list(&caps.groups_endpoint, &[("attributes", group_attrs)], page)
        .await
        .context("cannot read groups")?;
    let mut groups = Vec::with_capacity(groups_raw.len());
    for g in &groups_raw {
        match group_from(g, caps.group_description) {
            Ok(mut g) => {
                if let Some(wanted) = &scope.member_groups
                    && !wanted.contains(&g.name)
                {
                    g.member_ids.clear();
                }
                groups.push(g)
            }
            Err(why) => tracing::warn!(app, "skipping a group the provider returned: {why}"),
        }
    }
    groups.sort_by(|a, b| (&a.name, &a.id).cmp(&(&b.name, &b.id)));
    Ok(ObservedApp {
        app: app.to_string(),
        users,
        groups,
        verified_domains: Vec::new(),
        skus: Vec::new(),
        directory_id: Some(client.base.clone()),
        ..Default::default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn users_map_to_roster_attributes() {
        let u = user_from(&json!({
            "id": "42", "userName": "alice", "externalId": "alice-x",
            "name": {"givenName": "Alice", "familyName": " Smith "},
            "displayName": "Alice Smith", "active": false,
            "emails": [{"value": "a2@x.com"}, {"value": "alice@x.com", "primary": true}]
        }))
        .unwrap();
        assert_eq!(u.id, "42");
        assert_eq!(u.login, "alice");
        assert_eq!(u.username.as_deref(), Some("alice-x"));
        assert!(!u.enabled);
        assert_eq!(u.attributes["email"], "alice@x.com");
        assert_eq!(u.attributes["last_name"], "Smith");
        let bare = user_from(&json!({"id": "1", "userName": "bob", "emails": [{"value": "b@x"}]}))
            .unwrap();
        assert!(bare.enabled);
        assert_eq!(bare.username.as_deref(), Some("bob"));
        assert_eq!(bare.attributes["email"], "b@x");
        assert!(!bare.attributes.contains_key("first_name"));
        assert!(user_from(&json!({"id": "1"})).is_err());
        assert!(user_from(&json!({"userName": "x"})).is_err());
        assert!(user_from(&json!("garbage")).is_err());
    }

    #[test]
    fn groups_map_members_by_value() {
        let g = group_from(
            &json!({"id": "g", "displayName": "Sales", "description": "d",
                    "members": [{"value": "1"}, {"$ref": "x"}, {"value": "2", "type": "User"}]}),
            false,
        )
        .unwrap();
        assert_eq!(g.name, "Sales");
        assert_eq!(g.kind, "security");
        assert_eq!(g.description, None);
        assert_eq!(g.member_ids.len(), 2);
        assert!(group_from(&json!({"id": "g"}), true).is_err());
    }
}
