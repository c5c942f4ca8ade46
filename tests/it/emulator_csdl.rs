//! Schema conformance: every property the emulator returns for user, group, domain and
//! subscribedSku exists on that entity type (or its base types directoryObject/entity) in
//! Microsoft's published Graph v1.0 CSDL, with a compatible JSON type.

use crate::emulator_support as support;

use std::collections::HashMap;

use serde_json::{Value, json};
use support::*;

#[derive(Debug, Clone)]
struct Prop {
    ty: String,
    nullable: bool,
}

#[derive(Debug, Default)]
struct TypeDef {
    base: Option<String>,
    props: HashMap<String, Prop>,
    nav: HashMap<String, String>,
}

struct Csdl {
    types: HashMap<String, TypeDef>,
    enums: Vec<String>,
}

fn attr(line: &str, name: &str) -> Option<String> {
    let key = format!(" {name}=\"");
    let start = line.find(&key)? + key.len();
    let end = line[start..].find('"')? + start;
    Some(line[start..end].to_string())
}

/// Parse the `microsoft.graph` schema's entity, complex and enum types.
fn parse_csdl() -> Csdl {
    let path =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/graph/v1.0-Prod.csdl");
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    let mut types = HashMap::new();
    let mut enums = Vec::new();
    let mut in_graph = false;
    let mut current: Option<(String, TypeDef)> = None;
    for line in text.lines() {
        let l = line.trim();
        if l.starts_with("<Schema ") {
            in_graph = attr(l, "Namespace").as_deref() == Some("microsoft.graph");
            continue;
        }
        if !in_graph {
            continue;
        }
        if l.starts_with("<EntityType ") || l.starts_with("<ComplexType ") {
            let name = attr(l, "Name").expect("type name");
            let def = TypeDef {
                base: attr(l, "BaseType"),
                ..Default::default()
            };
            if l.ends_with("/>") {
                types.insert(name, def);
            } else {
                current = Some((name, def));
            }
        } else if l.starts_with("<EnumType ") {
            enums.push(attr(l, "Name").expect("enum name"));
        } else if l.starts_with("<Property ") {
            if let Some((_, def)) = current.as_mut() {
                let name = attr(l, "Name").expect("prop name");
                let ty = attr(l, "Type").expect("prop type");
                let nullable = attr(l, "Nullable").as_deref() != Some("false");
                def.props.insert(name, Prop { ty, nullable });
            }
        } else if l.starts_with("<NavigationProperty ") {
            if let Some((_, def)) = current.as_mut() {
                def.nav.insert(
                    attr(l, "Name").expect("nav name"),
                    attr(l, "Type").expect("nav type"),
                );
            }
        } else if (l.starts_with("</EntityType>") || l.starts_with("</ComplexType>"))
            && let Some((name, def)) = current.take()
        {
            types.insert(name, def);
        }
    }
    Csdl { types, enums }
}

impl Csdl {
    fn short(ty: &str) -> &str {
        ty.strip_prefix("graph.")
            .or_else(|| ty.strip_prefix("microsoft.graph."))
            .unwrap_or(ty)
    }

    fn lookup(&self, ty: &str, prop: &str) -> Option<Prop> {
        let mut t = Some(Self::short(ty).to_string());
        while let Some(name) = t {
            let def = self.types.get(&name)?;
            if let Some(p) = def.props.get(prop) {
                return Some(p.clone());
            }
            t = def.base.as_deref().map(|b| Self::short(b).to_string());
        }
        None
    }

    fn has_nav(&self, ty: &str, prop: &str) -> bool {
        let mut t = Some(Self::short(ty).to_string());
        while let Some(name) = t {
            let Some(def) = self.types.get(&name) else {
                return false;
            };
            if def.nav.contains_key(prop) {
                return true;
            }
            t = def.base.as_deref().map(|b| Self::short(b).to_string());
        }
        false
    }

    /// Check one JSON object against a type; returns the problems found.
    fn check_object(&self, ty: &str, obj: &Value, path: &str, problems: &mut Vec<String>) {
        let Some(map) = obj.as_object() else {
            problems.push(format!("{path}: expected an object of {ty}"));
            return;
        };
        for (k, v) in map {
            if k.starts_with("@odata.") || k == "@removed" {
                continue;
            }
            if let Some(nav) = k.strip_suffix("@delta") {
                if !self.has_nav(ty, nav) {
                    problems.push(format!(
                        "{path}.{k}: no navigation property '{nav}' on {ty}"
                    ));
                }
                continue;
            }
            match self.lookup(ty, k) {
                None => problems.push(format!(
                    "{path}.{k}: not a property of {ty} (or its base types)"
                )),
                Some(p) => self.check_value(&p.ty, p.nullable, v, &format!("{path}.{k}"), problems),
            }
        }
    }

    fn check_value(
        &self,
        ty: &str,
        nullable: bool,
        v: &Value,
        path: &str,
        problems: &mut Vec<String>,
    ) {
        if let Some(inner) = ty
            .strip_prefix("Collection(")
            .and_then(|t| t.strip_suffix(')'))
        {
            match v {
                Value::Array(items) => {
                    for (i, item) in items.iter().enumerate() {
                        self.check_value(inner, false, item, &format!("{path}[{i}]"), problems);
                    }
                }
                Value::Null if nullable => {}
                _ => problems.push(format!("{path}: expected an array ({ty}), got {v}")),
            }
            return;
        }
        if v.is_null() {
            if !nullable {
                problems.push(format!("{path}: null for non-nullable {ty}"));
            }
            return;
        }
        let ok = match ty {
            "Edm.String" => v.is_string(),
            "Edm.Boolean" => v.is_boolean(),
            "Edm.Int32" | "Edm.Int64" | "Edm.Int16" | "Edm.Byte" => v.is_i64() || v.is_u64(),
            "Edm.Double" | "Edm.Single" | "Edm.Decimal" => v.is_number(),
            "Edm.Guid" => v.as_str().is_some_and(|s| uuid::Uuid::parse_str(s).is_ok()),
            "Edm.DateTimeOffset" => v.as_str().is_some_and(|s| {
                time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339)
                    .is_ok()
            }),
            other => {
                let short = Self::short(other);
                if self.enums.iter().any(|e| e == short) {
                    v.is_string()
                } else if self.types.contains_key(short) {
                    self.check_object(short, v, path, problems);
                    true
                } else {
                    problems.push(format!("{path}: unknown type {other}"));
                    true
                }
            }
        };
        if !ok {
            problems.push(format!("{path}: {v} is not a valid {ty}"));
        }
    }
}

#[test]
fn csdl_parser_sees_the_entity_chain() {
    let c = parse_csdl();
    assert_eq!(
        c.lookup("user", "id").map(|p| p.ty),
        Some("Edm.String".into()),
        "id comes from entity"
    );
    assert!(
        c.lookup("user", "deletedDateTime").is_some(),
        "deletedDateTime comes from directoryObject"
    );
    assert_eq!(
        c.lookup("user", "accountEnabled").map(|p| p.ty),
        Some("Edm.Boolean".into())
    );
    assert!(c.lookup("user", "notAProperty").is_none());
    assert!(c.has_nav("group", "members"));
    let mut problems = Vec::new();
    c.check_object(
        "user",
        &json!({"accountEnabled": "yes", "bogus": 1}),
        "u",
        &mut problems,
    );
    assert_eq!(problems.len(), 2, "{problems:?}");
}

#[tokio::test]
async fn emulator_output_conforms_to_the_graph_schema() {
    let csdl = parse_csdl();
    let emu = start().await;
    let mut problems = Vec::new();
    // A user with every supported property set.
    let mut body = new_user("schema");
    for (k, v) in [
        ("givenName", json!("Sche")),
        ("surname", json!("Ma")),
        ("mail", json!("schema@contoso.com")),
        ("department", json!("R&D")),
        ("jobTitle", json!("Engineer")),
        ("employeeId", json!("E-1")),
        ("employeeType", json!("Employee")),
        ("usageLocation", json!("US")),
        ("mobilePhone", json!("+1 555 0100")),
        ("businessPhones", json!(["+1 555 0101"])),
        ("officeLocation", json!("B1")),
        ("preferredLanguage", json!("en-US")),
        ("companyName", json!("Contoso")),
        ("city", json!("Seattle")),
        ("country", json!("US")),
        ("otherMails", json!(["s@example.com"])),
    ] {
        body[k] = v;
    }
    let created = emu.post("/users", body).await;
    assert_eq!(created.status, 201, "{}", created.text);
    let uid = created.body["id"].as_str().expect("id").to_string();
    csdl.check_object("user", &created.body, "POST /users", &mut problems);
    let sku = emu.get("/subscribedSkus").await.body["value"][0]["skuId"]
        .as_str()
        .expect("sku")
        .to_string();
    let r = emu
        .post(
            &format!("/users/{uid}/assignLicense"),
            json!({"addLicenses": [{"skuId": sku, "disabledPlans": []}], "removeLicenses": []}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    csdl.check_object("user", &r.body, "assignLicense", &mut problems);
    let all_user_props = roster::emulator::model::USER_PROPS.join(",");
    let full = emu
        .get(&format!("/users/{uid}?$select={all_user_props}"))
        .await;
    assert_eq!(full.status, 200, "{}", full.text);
    assert_eq!(
        full.body.as_object().map(|o| o.len()),
        Some(roster::emulator::model::USER_PROPS.len() + 1)
    );
    csdl.check_object("user", &full.body, "GET /users/{id}", &mut problems);
    for v in emu.get("/users").await.body["value"]
        .as_array()
        .expect("value")
    {
        csdl.check_object("user", v, "GET /users", &mut problems);
    }
    // Groups of both kinds, with all properties.
    let g = emu
        .post("/groups", json!({"displayName": "G", "description": "d", "mailEnabled": false, "mailNickname": "g", "securityEnabled": true}))
        .await;
    csdl.check_object("group", &g.body, "POST /groups", &mut problems);
    let gid = g.body["id"].as_str().expect("id").to_string();
    let u = emu
        .post("/groups", json!({"displayName": "U", "mailEnabled": true, "mailNickname": "u", "securityEnabled": false, "groupTypes": ["Unified"], "visibility": "Private"}))
        .await;
    csdl.check_object("group", &u.body, "POST /groups (Unified)", &mut problems);
    emu.post(
        &format!("/groups/{gid}/members/$ref"),
        json!({"@odata.id": format!("https://graph.microsoft.com/v1.0/directoryObjects/{uid}")}),
    )
    .await;
    let all_group_props = roster::emulator::model::GROUP_PROPS.join(",");
    for v in emu
        .get(&format!("/groups?$select={all_group_props}"))
        .await
        .body["value"]
        .as_array()
        .expect("value")
    {
        csdl.check_object("group", v, "GET /groups", &mut problems);
    }
    for v in emu.get(&format!("/groups/{gid}/members")).await.body["value"]
        .as_array()
        .expect("value")
    {
        csdl.check_object("user", v, "GET members", &mut problems);
    }
    for v in emu
        .get("/groups/delta?$select=displayName,description,members")
        .await
        .body["value"]
        .as_array()
        .expect("value")
    {
        csdl.check_object("group", v, "GET /groups/delta", &mut problems);
    }
    for v in emu.get("/users/delta").await.body["value"]
        .as_array()
        .expect("value")
    {
        csdl.check_object("user", v, "GET /users/delta", &mut problems);
    }
    for v in emu.get("/domains").await.body["value"]
        .as_array()
        .expect("value")
    {
        csdl.check_object("domain", v, "GET /domains", &mut problems);
    }
    let skus = emu.get("/subscribedSkus").await;
    for v in skus.body["value"].as_array().expect("value") {
        csdl.check_object("subscribedSku", v, "GET /subscribedSkus", &mut problems);
    }
    emu.delete(&format!("/users/{uid}")).await;
    for v in emu
        .get("/directory/deletedItems/microsoft.graph.user")
        .await
        .body["value"]
        .as_array()
        .expect("value")
    {
        csdl.check_object("user", v, "GET deletedItems", &mut problems);
    }
    assert!(
        problems.is_empty(),
        "schema mismatches:\n{}",
        problems.join("\n")
    );
}

/// The realistic tenant's objects (guests, synced users, inherited licences, dynamic,
/// mail-enabled, role-assignable groups) with every property selected, an invitation,
/// role definitions and assignments (with the expanded principal) and the organization
/// conform to Microsoft's schema.
#[tokio::test]
async fn realistic_tenant_output_conforms_to_the_graph_schema() {
    let csdl = parse_csdl();
    let emu = start_with(roster::emulator::EmulatorConfig {
        realistic_tenant: true,
        ..config()
    })
    .await;
    let mut problems = Vec::new();
    let all_user_props = roster::emulator::model::USER_PROPS.join(",");
    let users = emu
        .get(&format!("/users?$select={all_user_props}&$top=999"))
        .await;
    assert_eq!(users.status, 200, "{}", users.text);
    let rows = users.body["value"].as_array().expect("value");
    assert!(rows.len() >= 10, "{}", users.text);
    for v in rows {
        assert_eq!(
            v.as_object().map(|o| o.len()),
            Some(roster::emulator::model::USER_PROPS.len()),
            "every selected property is returned: {v}"
        );
        csdl.check_object("user", v, "GET /users (realistic)", &mut problems);
    }
    assert!(
        rows.iter().any(|u| u["licenseAssignmentStates"]
            .as_array()
            .is_some_and(|s| s.len() == 2)),
        "a user with a direct and an inherited licence"
    );
    let all_group_props = roster::emulator::model::GROUP_PROPS.join(",");
    for v in emu
        .get(&format!("/groups?$select={all_group_props}"))
        .await
        .body["value"]
        .as_array()
        .expect("value")
    {
        csdl.check_object("group", v, "GET /groups (realistic)", &mut problems);
    }
    for v in emu
        .get(&format!("/users/delta?$select={all_user_props}"))
        .await
        .body["value"]
        .as_array()
        .expect("value")
    {
        csdl.check_object("user", v, "GET /users/delta (realistic)", &mut problems);
    }
    for v in emu
        .get(&format!(
            "/groups/delta?$select={},members",
            all_group_props.replace("id,", "")
        ))
        .await
        .body["value"]
        .as_array()
        .expect("value")
    {
        csdl.check_object("group", v, "GET /groups/delta (realistic)", &mut problems);
    }
    let inv = emu
        .post(
            "/invitations",
            json!({"invitedUserEmailAddress": "x@partner.example", "inviteRedirectUrl": "https://myapps.microsoft.com"}),
        )
        .await;
    assert_eq!(inv.status, 201, "{}", inv.text);
    // invitedUser is a navigation property the response carries inline
    // (api/invitation-post.md).
    let mut invitation = inv.body.clone();
    let invited = invitation
        .as_object_mut()
        .and_then(|o| o.remove("invitedUser"))
        .expect("invitedUser");
    assert!(csdl.has_nav("invitation", "invitedUser"));
    csdl.check_object(
        "invitation",
        &invitation,
        "POST /invitations",
        &mut problems,
    );
    csdl.check_object("user", &invited, "invitation.invitedUser", &mut problems);
    for v in emu
        .get("/roleManagement/directory/roleDefinitions")
        .await
        .body["value"]
        .as_array()
        .expect("value")
    {
        csdl.check_object(
            "unifiedRoleDefinition",
            v,
            "GET roleDefinitions",
            &mut problems,
        );
    }
    for v in emu
        .get("/roleManagement/directory/roleAssignments?$expand=principal")
        .await
        .body["value"]
        .as_array()
        .expect("value")
    {
        let mut a = v.clone();
        let principal = a
            .as_object_mut()
            .and_then(|o| o.remove("principal"))
            .expect("expanded principal");
        assert!(csdl.has_nav("unifiedRoleAssignment", "principal"));
        csdl.check_object(
            "unifiedRoleAssignment",
            &a,
            "GET roleAssignments",
            &mut problems,
        );
        let ty = if principal["@odata.type"] == "#microsoft.graph.group" {
            "group"
        } else {
            "user"
        };
        csdl.check_object(ty, &principal, "roleAssignments principal", &mut problems);
    }
    for v in emu.get("/organization").await.body["value"]
        .as_array()
        .expect("value")
    {
        csdl.check_object("organization", v, "GET /organization", &mut problems);
    }
    for v in emu.get("/domains").await.body["value"]
        .as_array()
        .expect("value")
    {
        csdl.check_object("domain", v, "GET /domains (realistic)", &mut problems);
    }
    assert!(
        problems.is_empty(),
        "schema mismatches:\n{}",
        problems.join("\n")
    );
}
