//! Users: list (with `$filter` index lookups), get, create, update, delete, and a
//! user's `memberOf`.

use serde_json::{Map, Value, json};
use uuid::Uuid;

use super::collection::{
    EXPAND_LIMIT, expand_items, expand_select, next_link, offset_link, page_size, prepare_filter,
    range_after, skip_after, sorted_page, take_page,
};
use super::manager::Expand;
use super::{Ctx, R, Resp, check_select, context, parse_body};
use crate::emulator::error::{GraphError, iso_now};
use crate::emulator::model::{self, DeletedUser, Tenant, User};
use crate::emulator::odata::{self, Query};
use crate::emulator::proxy;
use crate::emulator::roles::{self, ROLE_MANAGEMENT_WRITE, SENSITIVE_USER_PROPS};

/// What Graph answers for writes to objects mastered on premises: 400
/// `Request_BadRequest` with this message (as real Graph returns it, quoted in public
/// issue trackers and scripts matching the body, e.g. "Unable to update the specified
/// properties for on-premises mastered Directory Sync objects or objects currently
/// undergoing migration.").
pub(super) fn synced_refusal() -> GraphError {
    GraphError::bad_request(
        "Unable to update the specified properties for on-premises mastered Directory Sync objects or objects currently undergoing migration.",
    )
}

/// The user properties a directory-synchronised user takes from its on-premises
/// directory (Microsoft Entra Connect); writes of any answer [`synced_refusal`].
/// `usageLocation`, licences and cloud group memberships stay writable.
pub const ON_PREMISES_MASTERED: &[&str] = &[
    "accountEnabled",
    "businessPhones",
    "city",
    "companyName",
    "country",
    "department",
    "displayName",
    "employeeId",
    "employeeType",
    "faxNumber",
    "givenName",
    "jobTitle",
    "mail",
    "mailNickname",
    "mobilePhone",
    "officeLocation",
    "onPremisesExtensionAttributes",
    "onPremisesImmutableId",
    "otherMails",
    "passwordProfile",
    "postalCode",
    "preferredLanguage",
    "state",
    "streetAddress",
    "surname",
    "userPrincipalName",
];

/// The user-side `$expand` of a request: `memberOf` (handled here, at most
/// [`EXPAND_LIMIT`] groups) and the manager relationships ([`Expand`]).
struct UserExpand {
    member_of: Option<Option<Vec<String>>>,
    rest: Expand,
}

impl UserExpand {
    /// concepts/query-parameters.md ("expand parameter"): "you can expand the
    /// directReports, manager, and memberOf relationships on a user".
    fn parse(q: &Query) -> Result<UserExpand, GraphError> {
        let Some(raw) = &q.expand else {
            return Ok(UserExpand {
                member_of: None,
                rest: Expand::default(),
            });
        };
        let mut member_of = None;
        let mut rest = Vec::new();
        for (name, inner) in expand_items(raw)? {
            if name == "memberOf" {
                let sel = expand_select(inner.as_deref())?;
                check_select(&sel, &model::is_group_prop, "group")?;
                member_of = Some(sel);
            } else {
                rest.push(match inner {
                    Some(i) => format!("{name}({i})"),
                    None => name,
                });
            }
        }
        let rest = Expand::parse(&Query {
            expand: (!rest.is_empty()).then(|| rest.join(",")),
            ..q.clone()
        })?;
        Ok(UserExpand { member_of, rest })
    }

    fn apply(&self, t: &Tenant, ctx: &Ctx<'_>, id: Uuid, m: &mut Map<String, Value>) {
        self.rest.apply(t, ctx, id, m);
        if let Some(sel) = &self.member_of {
            let groups: Vec<Value> = t
                .groups
                .values()
                .filter(|g| !ctx.hidden.contains(&g.id) && g.members.contains(&id))
                .take(EXPAND_LIMIT)
                .map(|g| Value::Object(model::group_json(g, sel.as_deref(), true)))
                .collect();
            m.insert("memberOf".into(), Value::Array(groups));
        }
    }
}

pub(super) fn list_users(t: &Tenant, ctx: &Ctx<'_>, q: &Query) -> R {
    check_select(&q.select, &model::is_user_prop, "user")?;
    let expand = UserExpand::parse(q)?;
    let f = prepare_filter(ctx, q, &odata::USER_RULES, &odata::USER_SORT)?;
    let top = page_size(ctx, q);
    let matches = |u: &User| -> bool {
        if ctx.empty_user_lists || ctx.hidden.contains(&u.id) {
            return false;
        }
        f.matches(&|p| model::user_prop(u, p))
    };
    // Index lookups for `id`/`userPrincipalName` eq/in.
    let mut candidates: Option<Vec<&User>> = None;
    if let Some(e) = &f.expr {
        if let Some(keys) = odata::index_keys(e, "id") {
            let mut v: Vec<&User> = keys
                .iter()
                .filter_map(|k| Uuid::parse_str(k).ok())
                .filter_map(|id| t.users.get(&id))
                .collect();
            v.sort_by_key(|u| u.id);
            v.dedup_by_key(|u| u.id);
            candidates = Some(v);
        } else if let Some(keys) = odata::index_keys(e, "userPrincipalName") {
            let mut v: Vec<&User> = keys
                .iter()
                .filter_map(|k| t.user_by_upn(k))
                .filter_map(|id| t.users.get(&id))
                .collect();
            v.sort_by_key(|u| u.id);
            v.dedup_by_key(|u| u.id);
            candidates = Some(v);
        }
    }
    let mut next: Option<String> = None;
    let page: Vec<&User> = if f.order.is_empty() {
        let after = skip_after(q, "users")?;
        let (page, more) = match &candidates {
            Some(c) => take_page(
                c.iter()
                    .copied()
                    .filter(|u| after.is_none_or(|a| u.id > a))
                    .filter(|u| matches(u)),
                top,
            ),
            None => take_page(
                range_after(&t.users, after)
                    .map(|(_, u)| u)
                    .filter(|u| matches(u)),
                top,
            ),
        };
        if more && let Some(last) = page.last() {
            next = Some(next_link(ctx, "users", q, "users", &last.id));
        }
        page
    } else {
        let all: Vec<&User> = match &candidates {
            Some(c) => c.iter().copied().filter(|u| matches(u)).collect(),
            None => t.users.values().filter(|u| matches(u)).collect(),
        };
        let (page, more) = sorted_page(all, &f.order, model::user_prop, q, "users:o", top)?;
        next = more.map(|o| offset_link(ctx, "users", q, "users:o", o));
        page
    };
    let mut out = Map::new();
    out.insert(
        "@odata.context".into(),
        json!(context(ctx, "users", &q.select)),
    );
    if f.advanced {
        let n = match &candidates {
            Some(c) => c.iter().filter(|u| matches(u)).count(),
            None => t.users.values().filter(|u| matches(u)).count(),
        };
        out.insert("@odata.count".into(), json!(n));
    }
    if let Some(l) = next {
        out.insert("@odata.nextLink".into(), json!(l));
    }
    let value: Vec<Value> = page
        .iter()
        .map(|u| {
            let mut m = model::user_json(u, q.select.as_deref(), false);
            expand.apply(t, ctx, u.id, &mut m);
            Value::Object(m)
        })
        .collect();
    out.insert("value".into(), Value::Array(value));
    Ok(Resp::ok(Value::Object(out)))
}

pub(super) fn get_user(t: &Tenant, ctx: &Ctx<'_>, q: &Query, id: Uuid) -> R {
    check_select(&q.select, &model::is_user_prop, "user")?;
    let expand = UserExpand::parse(q)?;
    let u = t
        .users
        .get(&id)
        .ok_or_else(|| GraphError::not_found(&id.to_string()))?;
    let mut m = Map::new();
    m.insert(
        "@odata.context".into(),
        json!(format!("{}/$entity", context(ctx, "users", &q.select))),
    );
    m.extend(model::user_json(u, q.select.as_deref(), false));
    expand.apply(t, ctx, id, &mut m);
    Ok(Resp::ok(Value::Object(m)))
}

fn upn_domain(upn: &str) -> Option<&str> {
    let (local, domain) = upn.rsplit_once('@')?;
    if local.is_empty() || domain.is_empty() || local.len() > 64 {
        return None;
    }
    Some(domain)
}

pub(super) fn validate_upn(t: &Tenant, upn: &str, except: Option<Uuid>) -> Result<(), GraphError> {
    let Some(domain) = upn_domain(upn) else {
        return Err(GraphError::invalid_value("userPrincipalName", "User"));
    };
    let local = upn.rsplit_once('@').map(|(l, _)| l).unwrap_or("");
    // resources/user.md, userPrincipalName: "The general format is alias@domain … This
    // property can't contain accent characters. Only the following characters are
    // allowed A - Z, a - z, 0 - 9, ' . - _ ! # ^ ~" — one `@`, and (username policies)
    // no `.` first or immediately before the `@`.
    if local.starts_with('.')
        || local.ends_with('.')
        || !local
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "'.-_!#^~".contains(c))
    {
        return Err(GraphError::invalid_value("userPrincipalName", "User"));
    }
    if !t.is_verified_domain(domain) {
        return Err(GraphError::bad_request(
            "The domain portion of the userPrincipalName property is invalid. You must use one of the verified domain names in your organization.",
        )
        .with_detail("InvalidValue", "userPrincipalName"));
    }
    if let Some(existing) = t.user_by_upn(upn)
        && Some(existing) != except
    {
        return Err(proxy::conflict(t, "userPrincipalName", existing));
    }
    Ok(())
}

/// The uniqueness of a user's proxy addresses (derived from its mail and UPN) and of
/// its onPremisesImmutableId across the directory.
pub(super) fn check_user_uniqueness(t: &Tenant, u: &User) -> Result<(), GraphError> {
    t.check_proxies(u.id, &proxy::user_proxies(u))?;
    if let Some(imm) = &u.on_premises_immutable_id
        && let Some(other) = t
            .users
            .values()
            .find(|o| o.id != u.id && o.on_premises_immutable_id.as_deref() == Some(imm.as_str()))
    {
        return Err(proxy::conflict(t, "onPremisesImmutableId", other.id));
    }
    Ok(())
}

/// Refuse an app's sensitive action on a protected user (one holding a role outside
/// [`roles::UNPROTECTED_ROLES`], or in a role-assignable group) unless the app holds
/// RoleManagement.ReadWrite.Directory: 403 Authorization_RequestDenied
/// (resources/users.md, "Sensitive actions" and "Who can perform sensitive actions").
fn check_sensitive(t: &Tenant, ctx: &Ctx<'_>, id: Uuid) -> Result<(), GraphError> {
    if t.is_protected(id) && !roles::has_any(ctx.roles, &[ROLE_MANAGEMENT_WRITE]) {
        return Err(GraphError::forbidden());
    }
    Ok(())
}

pub(super) fn create_user(t: &mut Tenant, ctx: &mut Ctx<'_>, body: &[u8]) -> R {
    let b = parse_body(body)?;
    for req in [
        "accountEnabled",
        "displayName",
        "mailNickname",
        "passwordProfile",
        "userPrincipalName",
    ] {
        if b.get(req).is_none_or(Value::is_null) {
            return Err(GraphError::bad_request(format!(
                "Property '{req}' is required when creating the object."
            )));
        }
    }
    let mut u = User {
        id: Uuid::new_v4(),
        created_date_time: iso_now(ctx.now),
        user_type: Some("Member".into()),
        ..Default::default()
    };
    for (k, v) in &b {
        model::set_user_prop(&mut u, k, v)?;
    }
    validate_upn(t, &u.user_principal_name, None)?;
    // resources/user.md, onPremisesImmutableId: "This property must be specified when
    // creating a new user account in the Graph if you're using a federated domain for
    // the user's userPrincipalName (UPN) property." Graph's answer, as reported in
    // microsoft-graph-docs-contrib issue #5070: "SourceAnchor is a required property
    // for creation of a federated user."
    if let Some(domain) = upn_domain(&u.user_principal_name)
        && t.is_federated_domain(domain)
        && u.on_premises_immutable_id.is_none()
    {
        return Err(GraphError::bad_request(
            "SourceAnchor is a required property for creation of a federated user.",
        ));
    }
    check_user_uniqueness(t, &u)?;
    let id = u.id;
    t.insert_user(u);
    ctx.created.push(id);
    let mut m = Map::new();
    m.insert(
        "@odata.context".into(),
        json!(format!("{}/v1.0/$metadata#users/$entity", ctx.base)),
    );
    if let Some(u) = t.users.get(&id) {
        m.extend(model::user_json(u, None, false));
    }
    Ok(Resp::json(201, Value::Object(m)).wrote())
}

pub(super) fn update_user(t: &mut Tenant, ctx: &Ctx<'_>, body: &[u8], id: Uuid) -> R {
    let b = parse_body(body)?;
    let Some(cur) = t.users.get(&id) else {
        return Err(GraphError::not_found(&id.to_string()));
    };
    if b.keys().any(|k| SENSITIVE_USER_PROPS.contains(&k.as_str())) {
        check_sensitive(t, ctx, id)?;
    }
    if cur.is_synced() && b.keys().any(|k| ON_PREMISES_MASTERED.contains(&k.as_str())) {
        return Err(synced_refusal());
    }
    let mut u = cur.clone();
    for (k, v) in &b {
        model::set_user_prop(&mut u, k, v)?;
    }
    if u.user_principal_name != cur.user_principal_name {
        validate_upn(t, &u.user_principal_name, Some(id))?;
    }
    let old_proxies = proxy::user_proxies(cur);
    let new_proxies = proxy::user_proxies(&u);
    if new_proxies != old_proxies || u.on_premises_immutable_id != cur.on_premises_immutable_id {
        check_user_uniqueness(t, &u)?;
    }
    if u.user_principal_name != cur.user_principal_name {
        t.upn_index.remove(&cur.user_principal_name.to_lowercase());
        t.upn_index.insert(u.user_principal_name.to_lowercase(), id);
    }
    t.index_proxies(id, &old_proxies, &new_proxies);
    t.users.insert(id, u);
    t.touch_user(id);
    Ok(Resp::no_content())
}

pub(super) fn delete_user(t: &mut Tenant, ctx: &Ctx<'_>, id: Uuid) -> R {
    // Deleting is a sensitive action (resources/users.md); synced users are deleted in
    // their on-premises directory.
    check_sensitive(t, ctx, id)?;
    if t.users.get(&id).is_some_and(User::is_synced) {
        return Err(synced_refusal());
    }
    if !t.users.contains_key(&id) {
        return Err(GraphError::not_found(&id.to_string()));
    }
    // Its reports lose their manager while it is deleted (and get it back on restore);
    // its own manager link is kept with it.
    let reports = t.detach_reports(id);
    let Some((mut u, groups)) = t.remove_user(id, false) else {
        return Err(GraphError::not_found(&id.to_string()));
    };
    u.deleted_date_time = Some(iso_now(ctx.now));
    t.deleted_users.insert(
        id,
        DeletedUser {
            user: u,
            groups,
            reports,
        },
    );
    Ok(Resp::no_content())
}

pub(super) fn member_of(t: &Tenant, ctx: &Ctx<'_>, q: &Query, id: Uuid) -> R {
    check_select(&q.select, &|p| model::is_group_prop(p), "group")?;
    let top = page_size(ctx, q);
    let after = skip_after(q, "memberOf")?;
    let mut page = Vec::new();
    let mut more = false;
    let mut last = None;
    for (gid, g) in range_after(&t.groups, after) {
        if ctx.hidden.contains(gid) || !g.members.contains(&id) {
            continue;
        }
        if page.len() == top {
            more = true;
            break;
        }
        page.push(Value::Object(model::group_json(
            g,
            q.select.as_deref(),
            true,
        )));
        last = Some(*gid);
    }
    let mut out = Map::new();
    out.insert(
        "@odata.context".into(),
        json!(context(ctx, "directoryObjects", &q.select)),
    );
    if let (true, Some(l)) = (more, last) {
        out.insert(
            "@odata.nextLink".into(),
            json!(next_link(
                ctx,
                &format!("users/{id}/memberOf"),
                q,
                "memberOf",
                &l
            )),
        );
    }
    out.insert("value".into(), Value::Array(page));
    Ok(Resp::ok(Value::Object(out)))
}
