//! Directory roles: `/roleManagement/directory/roleDefinitions` (Microsoft's built-in
//! roles) and `/roleManagement/directory/roleAssignments` (list with `$filter` and
//! `$expand`, create, get, delete).

use serde_json::{Map, Value, json};
use uuid::Uuid;

use super::{Body, Ctx, R, Resp, parse_body};
use crate::emulator::error::GraphError;
use crate::emulator::model::{self, Tenant};
use crate::emulator::odata::{self, FilterRules, Query};
use crate::emulator::roles::{self, BUILT_IN_ROLES, ROLE_MANAGEMENT_WRITE, RoleAssignment};

/// The permissions that read role definitions and assignments
/// (api/rbacapplication-list-roleassignments.md, application permissions).
const READ: &[&str] = &[
    "RoleManagement.Read.Directory",
    "RoleManagement.Read.All",
    "RoleManagement.ReadWrite.Directory",
    "Directory.Read.All",
    "Directory.ReadWrite.All",
];

/// api/rbacapplication-list-roledefinitions.md: "`$filter` (`eq` and `in` operators)
/// … on `id`, `displayName`, and `isBuiltIn`".
const DEFINITION_RULES: FilterRules = FilterRules {
    resource: "UnifiedRoleDefinition",
    default_ops: &[
        ("id", &["eq", "in"]),
        ("displayName", &["eq", "in"]),
        ("isBuiltIn", &["eq", "in"]),
        ("templateId", &["eq", "in"]),
    ],
    filterable: &["id", "displayName", "isBuiltIn", "templateId"],
    dated: &[],
};

/// resources/unifiedroleassignment.md: principalId, roleDefinitionId and
/// directoryScopeId support `$filter` (`eq`, `in`).
const ASSIGNMENT_RULES: FilterRules = FilterRules {
    resource: "UnifiedRoleAssignment",
    default_ops: &[
        ("id", &["eq", "in"]),
        ("principalId", &["eq", "in"]),
        ("roleDefinitionId", &["eq", "in"]),
        ("directoryScopeId", &["eq", "in"]),
    ],
    filterable: &["id", "principalId", "roleDefinitionId", "directoryScopeId"],
    dated: &[],
};

fn can_read(ctx: &Ctx<'_>) -> Result<(), GraphError> {
    if roles::has_any(ctx.roles, READ) {
        Ok(())
    } else {
        Err(GraphError::forbidden())
    }
}

fn filter_expr(q: &Query, rules: &FilterRules) -> Result<Option<odata::Expr>, GraphError> {
    if q.search.is_some() || q.orderby.is_some() {
        return Err(GraphError::unsupported_query(
            "Only $filter, $select and $expand are supported on this collection.",
        ));
    }
    match &q.filter {
        Some(f) => {
            let e = odata::parse_filter(f)?;
            odata::check_filter(&e, rules, false)?;
            Ok(Some(e))
        }
        None => Ok(None),
    }
}

fn select(v: Value, sel: Option<&[String]>, entity: &str) -> Result<Value, GraphError> {
    let Some(sel) = sel else { return Ok(v) };
    let Value::Object(m) = v else { return Ok(v) };
    let mut out = Map::new();
    for p in sel {
        match m.get(p) {
            Some(x) => {
                out.insert(p.clone(), x.clone());
            }
            None => {
                return Err(GraphError::odata_bad_request(format!(
                    "Could not find a property named '{p}' on type 'microsoft.graph.{entity}'."
                )));
            }
        }
    }
    if let Some(id) = m.get("id") {
        out.entry("id").or_insert(id.clone());
    }
    Ok(Value::Object(out))
}

/// `GET /roleManagement/directory/roleDefinitions[/{id}]` (v1.0, or beta with
/// `isPrivileged`).
pub(super) fn definitions(ctx: &Ctx<'_>, q: &Query, id: Option<&str>, beta: bool) -> R {
    can_read(ctx)?;
    let version = if beta { "beta" } else { "v1.0" };
    if let Some(id) = id {
        let r = roles::role(id).ok_or_else(|| GraphError::not_found(id))?;
        let mut v = select(
            roles::definition_json(r, beta),
            q.select.as_deref(),
            "unifiedRoleDefinition",
        )?;
        if let Value::Object(m) = &mut v {
            m.insert(
                "@odata.context".into(),
                json!(format!(
                    "{}/{version}/$metadata#roleManagement/directory/roleDefinitions/$entity",
                    ctx.base
                )),
            );
        }
        return Ok(Resp::ok(v));
    }
    let f = filter_expr(q, &DEFINITION_RULES)?;
    let mut value = Vec::new();
    for r in BUILT_IN_ROLES {
        let v = roles::definition_json(r, beta);
        if let Some(e) = &f
            && !odata::eval(e, &|p| v.get(p).cloned())
        {
            continue;
        }
        value.push(select(v, q.select.as_deref(), "unifiedRoleDefinition")?);
    }
    Ok(Resp::ok(json!({
        "@odata.context": format!("{}/{version}/$metadata#roleManagement/directory/roleDefinitions", ctx.base),
        "value": value,
    })))
}

fn expansions(q: &Query) -> Result<(bool, bool), GraphError> {
    let mut principal = false;
    let mut definition = false;
    if let Some(e) = &q.expand {
        for part in e.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            match part {
                "principal" => principal = true,
                "roleDefinition" => definition = true,
                other => {
                    return Err(GraphError::odata_bad_request(format!(
                        "Could not find a property named '{other}' on type 'microsoft.graph.unifiedRoleAssignment'."
                    )));
                }
            }
        }
    }
    Ok((principal, definition))
}

fn principal_json(t: &Tenant, id: &Uuid) -> Value {
    if let Some(u) = t.users.get(id) {
        return Value::Object(model::user_json(u, None, true));
    }
    match t.groups.get(id) {
        Some(g) => Value::Object(model::group_json(g, None, true)),
        None => Value::Null,
    }
}

fn render(t: &Tenant, a: &RoleAssignment, q: &Query, expand: (bool, bool)) -> R2 {
    let mut v = select(
        roles::assignment_json(a),
        q.select.as_deref(),
        "unifiedRoleAssignment",
    )?;
    if let Value::Object(m) = &mut v {
        if expand.0 {
            m.insert("principal".into(), principal_json(t, &a.principal_id));
        }
        if expand.1 {
            m.insert(
                "roleDefinition".into(),
                roles::role(&a.role_definition_id)
                    .map(|r| roles::definition_json(r, false))
                    .unwrap_or(Value::Null),
            );
        }
    }
    Ok(v)
}

type R2 = Result<Value, GraphError>;

fn context_suffix(expand: (bool, bool)) -> String {
    let mut parts = Vec::new();
    if expand.0 {
        parts.push("principal()");
    }
    if expand.1 {
        parts.push("roleDefinition()");
    }
    if parts.is_empty() {
        String::new()
    } else {
        format!("({})", parts.join(","))
    }
}

/// `GET /roleManagement/directory/roleAssignments`. Without `$filter` every
/// assignment is listed (the v1.0 page lists `$filter` among the optional query
/// parameters); assignments of principals that are not live (soft-deleted) are not.
pub(super) fn list_assignments(t: &Tenant, ctx: &Ctx<'_>, q: &Query) -> R {
    can_read(ctx)?;
    let f = filter_expr(q, &ASSIGNMENT_RULES)?;
    let expand = expansions(q)?;
    let mut value = Vec::new();
    for a in t.role_assignments.values() {
        if ctx.hidden.contains(&a.principal_id) || t.kind_of(&a.principal_id).is_none() {
            continue;
        }
        if let Some(e) = &f {
            let v = roles::assignment_json(a);
            if !odata::eval(e, &|p| v.get(p).cloned()) {
                continue;
            }
        }
        value.push(render(t, a, q, expand)?);
    }
    Ok(Resp::ok(json!({
        "@odata.context": format!("{}/v1.0/$metadata#roleManagement/directory/roleAssignments{}", ctx.base, context_suffix(expand)),
        "value": value,
    })))
}

pub(super) fn get_assignment(t: &Tenant, ctx: &Ctx<'_>, q: &Query, id: &str) -> R {
    can_read(ctx)?;
    let expand = expansions(q)?;
    let a = t
        .role_assignments
        .get(id)
        .filter(|a| t.kind_of(&a.principal_id).is_some())
        .ok_or_else(|| GraphError::not_found(id))?;
    let mut v = render(t, a, q, expand)?;
    if let Value::Object(m) = &mut v {
        m.insert(
            "@odata.context".into(),
            json!(format!(
                "{}/v1.0/$metadata#roleManagement/directory/roleAssignments{}/$entity",
                ctx.base,
                context_suffix(expand)
            )),
        );
    }
    Ok(Resp::ok(v))
}

fn invalid(prop: &str) -> GraphError {
    GraphError::invalid_value(prop, "UnifiedRoleAssignment")
}

/// Create an assignment: the checks of `POST roleAssignments`, shared with the
/// realistic tenant's seeding.
pub fn assign(
    t: &mut Tenant,
    principal: Uuid,
    role_definition: &str,
    scope: &str,
) -> Result<RoleAssignment, GraphError> {
    let Some(role) = roles::role(role_definition) else {
        return Err(GraphError::not_found(role_definition));
    };
    if scope != "/" {
        // Only the tenant scope is emulated (no administrative units or app scopes).
        return Err(invalid("directoryScopeId"));
    }
    match (t.users.get(&principal), t.groups.get(&principal)) {
        (Some(_), _) => {}
        // "Supported principals are users, role-assignable groups, and service
        // principals" (resources/unifiedroleassignment.md).
        (_, Some(g)) if g.is_role_assignable() => {}
        (_, Some(_)) => return Err(invalid("principalId")),
        _ => return Err(GraphError::not_found(&principal.to_string())),
    }
    let id = roles::assignment_id(role.id, principal);
    if t.role_assignments.contains_key(&id) {
        // What Graph answers for a directory object that already exists with the same
        // key values (as reported in microsoft-graph-docs-contrib issue #6346).
        return Err(GraphError::bad_request(
            "A conflicting object with one or more of the specified property values is present in the directory.",
        ));
    }
    let a = RoleAssignment {
        id: id.clone(),
        principal_id: principal,
        role_definition_id: role.id.to_string(),
        directory_scope_id: scope.to_string(),
    };
    t.role_assignments.insert(id, a.clone());
    Ok(a)
}

/// `POST /roleManagement/directory/roleAssignments`: 201 and the assignment; needs
/// RoleManagement.ReadWrite.Directory (api/rbacapplication-post-roleassignments.md).
pub(super) fn create_assignment(t: &mut Tenant, ctx: &Ctx<'_>, body: &[u8]) -> R {
    if !roles::has_any(ctx.roles, &[ROLE_MANAGEMENT_WRITE]) {
        return Err(GraphError::forbidden());
    }
    let b = parse_body(body)?;
    for (k, v) in &b {
        match k.as_str() {
            "principalId" | "roleDefinitionId" | "directoryScopeId" | "appScopeId" => {
                if !v.is_string() && !v.is_null() {
                    return Err(invalid(k));
                }
            }
            k if k.starts_with("@odata.") => {}
            other => return Err(GraphError::unknown_property(other, "unifiedRoleAssignment")),
        }
    }
    let text = |k: &str| b.get(k).and_then(Value::as_str).map(str::to_string);
    let Some(principal) = text("principalId") else {
        return Err(GraphError::bad_request(
            "Property 'principalId' is required when creating the object.",
        ));
    };
    let Some(role) = text("roleDefinitionId") else {
        return Err(GraphError::bad_request(
            "Property 'roleDefinitionId' is required when creating the object.",
        ));
    };
    // "Either this property or appScopeId is required."
    let scope = match (text("directoryScopeId"), text("appScopeId")) {
        (Some(s), None) => s,
        (None, Some(_)) => return Err(invalid("appScopeId")),
        _ => return Err(invalid("directoryScopeId")),
    };
    let principal = Uuid::parse_str(&principal).map_err(|_| invalid("principalId"))?;
    if ctx.hidden.contains(&principal) {
        return Err(GraphError::not_found(&principal.to_string()));
    }
    let a = assign(t, principal, &role, &scope)?;
    let mut m = Map::new();
    m.insert(
        "@odata.context".into(),
        json!(format!(
            "{}/v1.0/$metadata#roleManagement/directory/roleAssignments/$entity",
            ctx.base
        )),
    );
    if let Value::Object(o) = roles::assignment_json(&a) {
        m.extend(o);
    }
    Ok(Resp::json(201, Value::Object(m)).wrote())
}

pub(super) fn delete_assignment(t: &mut Tenant, ctx: &Ctx<'_>, id: &str) -> R {
    if !roles::has_any(ctx.roles, &[ROLE_MANAGEMENT_WRITE]) {
        return Err(GraphError::forbidden());
    }
    if t.role_assignments.remove(id).is_none() {
        return Err(GraphError::not_found(id));
    }
    Ok(Resp {
        status: 204,
        body: Body::Empty,
        headers: Vec::new(),
        wrote: true,
    })
}
