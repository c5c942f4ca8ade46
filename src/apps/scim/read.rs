//! Reading a SCIM service provider into the observed state: every User and Group,
//! paged, mapped to roster's names. A User's `userName` is the login, `externalId` the
//! username (the anchor), `active` enabled; every target of the app's attribute
//! mapping is read at its path and stored under the field's key (`email` for
//! `emails[type eq "work"].value`, the full URN for an enterprise attribute), and the
//! enterprise extension's `manager.value` as `manager`. Group `displayName` is the
//! name, `members[].value` the member ids.

use anyhow::{Context, Result};
use serde_json::Value;

use super::discovery::Capabilities;
use super::http::Client;
use super::paths::AttrPath;
use crate::apps::ReadScope;
use crate::mapping::targets::ENTERPRISE;
use crate::mapping::{Mapping, ValueKind};
use crate::observed::{Attributes, ObservedApp, ObservedGroup, ObservedUser};

/// The observed attribute holding the live id of a user's manager.
pub const MANAGER_KEY: &str = "manager";

fn text(v: &Value, key: &str) -> Option<String> {
    v.get(key)
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
}

/// What roster reads of a User: the app's mapped targets, as paths, and whether the
/// enterprise `manager` can be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserReading {
    /// (key, path, kind) of every mapped target the provider can hold.
    pub fields: Vec<(String, AttrPath, ValueKind)>,
    pub manager: bool,
}

impl UserReading {
    /// The reading of `mapping` on this provider. A target in a schema extension the
    /// provider's `/ResourceTypes` does not list is not asked for (a warning says so;
    /// writes of it are refused with the reason).
    pub fn new(mapping: &Mapping, caps: &Capabilities, app: &str) -> UserReading {
        let mut fields = Vec::new();
        for f in &mapping.fields {
            let path = match AttrPath::parse(&f.target) {
                Ok(p) => p,
                Err(e) => {
                    tracing::warn!(app, "{e}; it is not read");
                    continue;
                }
            };
            if let Some(urn) = &path.schema
                && !caps.user_extension(urn)
            {
                tracing::warn!(
                    app,
                    "`{}` is in the schema extension {urn}, which the service provider's \
                     User resource type does not list; it is not read",
                    f.target
                );
                continue;
            }
            fields.push((f.key.clone(), path, f.kind));
        }
        UserReading {
            fields,
            manager: caps.user_extension(ENTERPRISE),
        }
    }

    /// The `attributes` parameter of a Users list: the login, the anchor, `active`,
    /// each mapped target's top-level attribute (the parameter takes no filters) and
    /// the manager, each once, in that order.
    pub fn attributes(&self) -> String {
        let mut out: Vec<String> = ["userName", "externalId", "active"]
            .map(String::from)
            .to_vec();
        let mut push = |a: String| {
            if !out.iter().any(|o| o.eq_ignore_ascii_case(&a)) {
                out.push(a);
            }
        };
        for (_, p, _) in &self.fields {
            push(p.attribute());
        }
        if self.manager {
            push(AttrPath::manager().attribute());
        }
        out.join(",")
    }
}

/// Maps one SCIM User resource; `Err` (with the reason) when it lacks an id or userName.
pub fn user_from(v: &Value, reading: &UserReading) -> Result<ObservedUser, String> {
    let id = text(v, "id").ok_or("a User without an id")?;
    let login = text(v, "userName").ok_or_else(|| format!("User {id} has no userName"))?;
    let mut attributes = Attributes::new();
    for (key, path, kind) in &reading.fields {
        if let Some(value) = path
            .read(v)
            .and_then(|s| crate::mapping::normalize(*kind, &s))
        {
            attributes.insert(key.clone(), value);
        }
    }
    if reading.manager {
        let manager = AttrPath {
            sub: Some("value".into()),
            ..AttrPath::manager()
        };
        if let Some(m) = manager.read(v) {
            attributes.insert(MANAGER_KEY.to_string(), m);
        }
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
        .map(|ms| {
            ms.iter()
                .filter_map(|m| text(m, "value"))
                .map(Into::into)
                .collect()
        })
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

/// Reads users (the attributes of `mapping`) and groups. Member lists come inline with the groups (one paged list,
/// never a request per group); those of groups outside `scope` are dropped.
pub async fn read(
    client: &Client,
    caps: &Capabilities,
    scope: &ReadScope,
    app: &str,
    mapping: &Mapping,
) -> Result<ObservedApp> {
    let page = caps.page_size();
    let reading = UserReading::new(mapping, caps, app);
    let users_raw = client
        .list(
            &caps.users_endpoint,
            &[("attributes", reading.attributes())],
            page,
        )
        .await
        .context("cannot read users")?;
    let mut users = Vec::with_capacity(users_raw.len());
    for u in &users_raw {
        match user_from(u, &reading) {
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
    use crate::desired::{App, ScimApp};
    use serde_json::json;

    fn scim_app() -> ScimApp {
        serde_json::from_value(json!({
            "name": "hr", "url": "https://scim.example", "token": {"env": "T"}
        }))
        .unwrap()
    }

    fn mapping(extra: &[(&str, &str)]) -> Mapping {
        let mut app = scim_app();
        for (t, v) in extra {
            app.attribute_map.insert(t.to_string(), Some(v.to_string()));
        }
        Mapping::of(&App::Scim(app)).expect("a valid mapping")
    }

    fn default_reading() -> UserReading {
        UserReading::new(&mapping(&[]), &Capabilities::default(), "hr")
    }

    #[test]
    fn users_map_to_roster_attributes() {
        let r = default_reading();
        let u = user_from(
            &json!({
                "id": "42", "userName": "alice", "externalId": "alice-x",
                "name": {"givenName": "Alice", "familyName": " Smith "},
                "displayName": "Alice Smith", "active": false,
                "emails": [{"value": "a2@x.com"}, {"value": "alice@x.com", "primary": true}]
            }),
            &r,
        )
        .unwrap();
        assert_eq!(u.id, "42");
        assert_eq!(u.login, "alice");
        assert_eq!(u.username.as_deref(), Some("alice-x"));
        assert!(!u.enabled);
        assert_eq!(u.attributes["email"], "alice@x.com");
        assert_eq!(u.attributes["last_name"], "Smith");
        let bare = user_from(
            &json!({"id": "1", "userName": "bob", "emails": [{"value": "b@x"}]}),
            &r,
        )
        .unwrap();
        assert!(bare.enabled);
        assert_eq!(bare.username.as_deref(), Some("bob"));
        assert_eq!(bare.attributes["email"], "b@x");
        assert!(!bare.attributes.contains_key("first_name"));
        assert!(user_from(&json!({"id": "1"}), &r).is_err());
        assert!(user_from(&json!({"userName": "x"}), &r).is_err());
        assert!(user_from(&json!("garbage"), &r).is_err());
    }

    #[test]
    fn mapped_targets_and_the_manager_are_read_by_key() {
        let employee = format!("{ENTERPRISE}:employeeNumber");
        let m = mapping(&[
            ("title", "{job_title}"),
            ("phoneNumbers[type eq \"work\"].value", "{attributes.phone}"),
            ("addresses[type eq \"work\"].locality", "{attributes.city}"),
            (&employee, "{employee_id}"),
            ("displayName", "{first_name}"),
        ]);
        let r = UserReading::new(&m, &Capabilities::default(), "hr");
        assert_eq!(
            r.attributes(),
            format!(
                "userName,externalId,active,emails,name,displayName,addresses,phoneNumbers,\
                 title,{employee},{ENTERPRISE}:manager"
            ),
            "top-level attributes, each once, in mapping order (defaults, then by name)"
        );
        let u = user_from(
            &json!({
                "id": "7", "userName": "ann", "title": "CTO",
                "phoneNumbers": [{"type": "work", "value": "+33 1"}],
                "addresses": [{"type": "home", "locality": "Lille"}],
                ENTERPRISE: {"employeeNumber": "E7", "manager": {"value": "m-1", "displayName": "Boss"}}
            }),
            &r,
        )
        .unwrap();
        assert_eq!(u.attributes["title"], "CTO");
        assert_eq!(
            u.attributes["phoneNumbers[type eq \"work\"].value"],
            "+33 1"
        );
        assert!(
            !u.attributes
                .contains_key("addresses[type eq \"work\"].locality"),
            "a home address is not the work one"
        );
        assert_eq!(u.attributes[&employee], "E7");
        assert_eq!(u.attributes[MANAGER_KEY], "m-1");

        // A provider whose User type lists no extension: neither asked for nor read.
        let mut caps = Capabilities::default();
        caps.apply_resource_types(
            &json!([{"schema": super::super::discovery::USER_SCHEMA, "endpoint": "/Users"}]),
        );
        let plain = UserReading::new(&m, &caps, "hr");
        assert!(
            !plain.attributes().contains("urn:"),
            "{}",
            plain.attributes()
        );
        let u = user_from(
            &json!({"id": "7", "userName": "ann", ENTERPRISE: {"employeeNumber": "E7", "manager": {"value": "m"}}}),
            &plain,
        )
        .unwrap();
        assert!(u.attributes.is_empty(), "{:?}", u.attributes);

        // A default target taken out of management is not read.
        let m = mapping(&[]);
        let mut app = scim_app();
        app.attribute_map.insert("displayName".into(), None);
        let without = Mapping::of(&App::Scim(app)).unwrap();
        assert!(m.field("display_name").is_some());
        let r = UserReading::new(&without, &Capabilities::default(), "hr");
        let u = user_from(&json!({"id": "1", "userName": "x", "displayName": "X"}), &r).unwrap();
        assert!(!u.attributes.contains_key("display_name"));
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
