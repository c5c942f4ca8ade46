//! The Graph v1.0 resource handlers: users, groups, members/owners, directory deleted
//! items, domains, subscribed SKUs, licenses, organization and delta queries. Pure
//! functions over the tenant, called for plain requests and for `$batch` parts alike.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::ops::Bound;

use serde_json::{Map, Value, json};
use uuid::Uuid;

use super::error::{GraphError, iso_now};
use super::model::{self, AssignedLicense, Change, DeletedGroup, DeletedUser, Group, Tenant, User};
use super::odata::{self, Query};

/// Per-request context.
pub struct Ctx<'a> {
    /// `scheme://host[:port]` the client reached us at (links are built on it).
    pub base: &'a str,
    pub now: time::OffsetDateTime,
    /// Objects still invisible because of replication lag.
    pub hidden: &'a HashSet<Uuid>,
    /// `ConsistencyLevel: eventual` was sent.
    pub eventual: bool,
    /// `Prefer: odata.maxpagesize=N`.
    pub max_page: Option<usize>,
    /// Delta tokens older than this are expired.
    pub delta_ttl_secs: i64,
    /// Fault mode: user collection listings come back empty (a populated tenant that
    /// reads as empty), to prove clients refuse to act on such a read.
    pub empty_user_lists: bool,
    /// Out: objects created by this request (they become subject to replication lag).
    pub created: Vec<Uuid>,
}

/// A response body.
#[derive(Debug, Clone)]
pub enum Body {
    Json(Value),
    Text(String),
    Empty,
}

/// A successful (or error-carrying) Graph response.
#[derive(Debug, Clone)]
pub struct Resp {
    pub status: u16,
    pub body: Body,
    pub headers: Vec<(String, String)>,
    /// The request changed the tenant (persist it).
    pub wrote: bool,
}

impl Resp {
    fn json(status: u16, v: Value) -> Resp {
        Resp {
            status,
            body: Body::Json(v),
            headers: Vec::new(),
            wrote: false,
        }
    }
    fn ok(v: Value) -> Resp {
        Resp::json(200, v)
    }
    fn no_content() -> Resp {
        Resp {
            status: 204,
            body: Body::Empty,
            headers: Vec::new(),
            wrote: true,
        }
    }
    fn wrote(mut self) -> Resp {
        self.wrote = true;
        self
    }
}

type R = Result<Resp, GraphError>;

/// The kind of request, for resource-unit costs.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Cost {
    ListUsers,
    ListMembers,
    OtherGet,
    Write,
}

/// Classify a request for throttling (before it is executed).
pub fn classify(method: &str, path: &str) -> Cost {
    if method != "GET" {
        return Cost::Write;
    }
    let segs: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    match segs.as_slice() {
        ["users"]
        | ["users", "delta" | "delta()"]
        | ["groups"]
        | ["groups", "delta" | "delta()"] => Cost::ListUsers,
        ["groups", _, "members" | "owners" | "transitiveMembers", ..]
        | ["users", _, "memberOf", ..] => Cost::ListMembers,
        _ => Cost::OtherGet,
    }
}

fn decode_seg(s: &str) -> String {
    percent_encoding::percent_decode_str(s)
        .decode_utf8_lossy()
        .into_owned()
}

fn parse_body(body: &[u8]) -> Result<Map<String, Value>, GraphError> {
    if body.iter().all(|b| b.is_ascii_whitespace()) {
        return Err(GraphError::invalid_json());
    }
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(m)) => Ok(m),
        _ => Err(GraphError::invalid_json()),
    }
}

fn check_select(
    sel: &Option<Vec<String>>,
    allowed: &dyn Fn(&str) -> bool,
    entity: &str,
) -> Result<(), GraphError> {
    if let Some(sel) = sel {
        for p in sel {
            if !allowed(p) {
                return Err(GraphError::odata_bad_request(format!(
                    "Could not find a property named '{p}' on type 'microsoft.graph.{entity}'."
                )));
            }
        }
    }
    Ok(())
}

fn context(ctx: &Ctx<'_>, what: &str, sel: &Option<Vec<String>>) -> String {
    match sel {
        Some(s) => format!("{}/v1.0/$metadata#{}({})", ctx.base, what, s.join(",")),
        None => format!("{}/v1.0/$metadata#{}", ctx.base, what),
    }
}

/// Route one Graph request (path relative to `/v1.0`).
pub fn handle(
    t: &mut Tenant,
    ctx: &mut Ctx<'_>,
    method: &str,
    path: &str,
    query: Option<&str>,
    body: &[u8],
) -> R {
    let q = Query::parse(query)?;
    let segs: Vec<String> = path
        .split('/')
        .filter(|s| !s.is_empty())
        .map(decode_seg)
        .collect();
    let s: Vec<&str> = segs.iter().map(String::as_str).collect();
    let m = method;
    match s.as_slice() {
        ["users"] => match m {
            "GET" => list_users(t, ctx, &q),
            "POST" => create_user(t, ctx, body),
            _ => Err(GraphError::method_not_allowed()),
        },
        ["users", "$count"] => count(
            ctx,
            m,
            t.users.keys().filter(|id| !ctx.hidden.contains(id)).count(),
        ),
        ["users", "delta" | "delta()"] => only_get(m).and_then(|_| delta(t, ctx, &q, Kind::User)),
        ["users", id] => {
            let id = resolve_user(t, ctx, id)?;
            match m {
                "GET" => get_user(t, ctx, &q, id),
                "PATCH" => update_user(t, body, id),
                "DELETE" => delete_user(t, ctx, id),
                _ => Err(GraphError::method_not_allowed()),
            }
        }
        [
            "users",
            id,
            "assignLicense" | "microsoft.graph.assignLicense",
        ] => {
            let id = resolve_user(t, ctx, id)?;
            if m != "POST" {
                return Err(GraphError::method_not_allowed());
            }
            assign_license(t, ctx, body, id)
        }
        ["users", id, "memberOf"] => {
            let id = resolve_user(t, ctx, id)?;
            only_get(m)?;
            member_of(t, ctx, &q, id)
        }
        ["users", _, other, ..] => Err(GraphError::segment_not_found(other)),
        ["groups"] => match m {
            "GET" => list_groups(t, ctx, &q),
            "POST" => create_group(t, ctx, body),
            _ => Err(GraphError::method_not_allowed()),
        },
        ["groups", "$count"] => count(
            ctx,
            m,
            t.groups
                .keys()
                .filter(|id| !ctx.hidden.contains(id))
                .count(),
        ),
        ["groups", "delta" | "delta()"] => only_get(m).and_then(|_| delta(t, ctx, &q, Kind::Group)),
        ["groups", id] => {
            let id = resolve_group(t, ctx, id)?;
            match m {
                "GET" => get_group(t, ctx, &q, id),
                "PATCH" => update_group(t, ctx, body, id),
                "DELETE" => delete_group(t, ctx, id),
                _ => Err(GraphError::method_not_allowed()),
            }
        }
        ["groups", id, rel @ ("members" | "owners"), rest @ ..] => {
            let gid = resolve_group(t, ctx, id)?;
            let owners = *rel == "owners";
            match rest {
                [] => only_get(m).and_then(|_| list_links(t, ctx, &q, gid, owners, None)),
                ["$count"] => {
                    let g = &t.groups[&gid];
                    let n = if owners {
                        g.owners.len()
                    } else {
                        g.members.len()
                    };
                    count(ctx, m, n)
                }
                ["$ref"] => match m {
                    "POST" => add_link(t, ctx, body, gid, owners),
                    "GET" => list_refs(t, ctx, &q, gid, owners),
                    _ => Err(GraphError::method_not_allowed()),
                },
                [cast @ ("microsoft.graph.user" | "microsoft.graph.group")] => only_get(m)
                    .and_then(|_| {
                        list_links(
                            t,
                            ctx,
                            &q,
                            gid,
                            owners,
                            Some(if *cast == "microsoft.graph.user" {
                                "user"
                            } else {
                                "group"
                            }),
                        )
                    }),
                [mid, "$ref"] => {
                    if m != "DELETE" {
                        return Err(GraphError::method_not_allowed());
                    }
                    remove_link(t, gid, mid, owners)
                }
                [other, ..] => Err(GraphError::segment_not_found(other)),
            }
        }
        ["groups", _, other, ..] => Err(GraphError::segment_not_found(other)),
        ["directoryObjects", id] => {
            only_get(m)?;
            let uid = parse_id(id)?;
            if ctx.hidden.contains(&uid) {
                return Err(GraphError::not_found(id));
            }
            match t.kind_of(&uid) {
                Some("user") => get_user(t, ctx, &q, uid),
                Some(_) => get_group(t, ctx, &q, uid),
                None => Err(GraphError::not_found(id)),
            }
        }
        ["directory", "deletedItems"] => Err(GraphError::bad_request(
            "Type cast is required for deleted items: use /directory/deletedItems/microsoft.graph.user or /directory/deletedItems/microsoft.graph.group.",
        )),
        [
            "directory",
            "deletedItems",
            cast @ ("microsoft.graph.user" | "microsoft.graph.group"),
        ] => {
            only_get(m)?;
            list_deleted(t, ctx, &q, *cast == "microsoft.graph.user")
        }
        ["directory", "deletedItems", id] => {
            let uid = parse_id(id)?;
            match m {
                "GET" => get_deleted(t, ctx, &q, uid),
                "DELETE" => purge_deleted(t, uid),
                _ => Err(GraphError::method_not_allowed()),
            }
        }
        [
            "directory",
            "deletedItems",
            id,
            "restore" | "microsoft.graph.restore",
        ] => {
            if m != "POST" {
                return Err(GraphError::method_not_allowed());
            }
            let uid = parse_id(id)?;
            restore_deleted(t, ctx, uid)
        }
        ["domains"] => {
            only_get(m)?;
            let value: Vec<Value> = t.domains.iter().map(model::domain_json).collect();
            Ok(Resp::ok(
                json!({ "@odata.context": context(ctx, "domains", &None), "value": value }),
            ))
        }
        ["domains", name] => {
            only_get(m)?;
            let d = t
                .domains
                .iter()
                .find(|d| d.id.eq_ignore_ascii_case(name))
                .ok_or_else(|| GraphError::not_found(name))?;
            let mut v = model::domain_json(d);
            if let Value::Object(o) = &mut v {
                o.insert(
                    "@odata.context".into(),
                    json!(format!("{}/v1.0/$metadata#domains/$entity", ctx.base)),
                );
            }
            Ok(Resp::ok(v))
        }
        ["subscribedSkus"] => {
            only_get(m)?;
            let value: Vec<Value> = t
                .skus
                .iter()
                .map(|s| model::sku_json(s, &t.tenant_id))
                .collect();
            Ok(Resp::ok(
                json!({ "@odata.context": context(ctx, "subscribedSkus", &None), "value": value }),
            ))
        }
        ["subscribedSkus", id] => {
            only_get(m)?;
            let s = t
                .skus
                .iter()
                .find(|s| format!("{}_{}", t.tenant_id, s.sku_id).eq_ignore_ascii_case(id))
                .ok_or_else(|| GraphError::not_found(id))?;
            Ok(Resp::ok(model::sku_json(s, &t.tenant_id)))
        }
        ["organization"] => {
            only_get(m)?;
            let vd: Vec<Value> = t
                .domains
                .iter()
                .map(|d| json!({"capabilities": "Email, OfficeCommunicationsOnline", "isDefault": d.is_default, "isInitial": d.is_initial, "name": d.id, "type": "Managed"}))
                .collect();
            Ok(Resp::ok(json!({
                "@odata.context": context(ctx, "organization", &None),
                "value": [{ "id": t.tenant_id.to_string(), "displayName": t.tenant_name, "verifiedDomains": vd }]
            })))
        }
        [] => Err(GraphError::odata_bad_request(
            "Request URL is missing a resource segment.",
        )),
        [first, ..] => Err(GraphError::segment_not_found(first)),
    }
}

fn only_get(m: &str) -> Result<(), GraphError> {
    if m == "GET" {
        Ok(())
    } else {
        Err(GraphError::method_not_allowed())
    }
}

fn count(ctx: &Ctx<'_>, m: &str, n: usize) -> R {
    only_get(m)?;
    if !ctx.eventual {
        return Err(GraphError::bad_request(
            "$count is not currently supported without the 'ConsistencyLevel: eventual' header.",
        ));
    }
    Ok(Resp {
        status: 200,
        body: Body::Text(n.to_string()),
        headers: vec![("Content-Type".into(), "text/plain".into())],
        wrote: false,
    })
}

fn parse_id(s: &str) -> Result<Uuid, GraphError> {
    Uuid::parse_str(s).map_err(|_| GraphError::invalid_object_id(s))
}

fn resolve_user(t: &Tenant, ctx: &Ctx<'_>, key: &str) -> Result<Uuid, GraphError> {
    let id = match Uuid::parse_str(key) {
        Ok(id) if t.users.contains_key(&id) => Some(id),
        Ok(_) => None,
        Err(_) => t.user_by_upn(key),
    };
    match id {
        Some(id) if !ctx.hidden.contains(&id) => Ok(id),
        _ => Err(GraphError::not_found(key)),
    }
}

fn resolve_group(t: &Tenant, ctx: &Ctx<'_>, key: &str) -> Result<Uuid, GraphError> {
    let id = parse_id(key)?;
    if t.groups.contains_key(&id) && !ctx.hidden.contains(&id) {
        Ok(id)
    } else {
        Err(GraphError::not_found(key))
    }
}

// ---------------------------------------------------------------------------------------
// Paging helpers
// ---------------------------------------------------------------------------------------

fn page_size(ctx: &Ctx<'_>, q: &Query) -> usize {
    q.top.or(ctx.max_page).unwrap_or(100).clamp(1, 999)
}

/// The id after which a page starts, from a `$skiptoken`.
fn skip_after(q: &Query, tag: &str) -> Result<Option<Uuid>, GraphError> {
    let Some(tok) = &q.skiptoken else {
        return Ok(None);
    };
    let bad = || {
        GraphError::bad_request(
            "The specified page token value has expired and can no longer be included in your request.",
        )
    };
    let v = odata::decode_token(tok).ok_or_else(bad)?;
    if v.get("k").and_then(Value::as_str) != Some(tag) {
        return Err(bad());
    }
    let id = v
        .get("a")
        .and_then(Value::as_str)
        .and_then(|s| Uuid::parse_str(s).ok())
        .ok_or_else(bad)?;
    Ok(Some(id))
}

fn next_link(ctx: &Ctx<'_>, path: &str, q: &Query, tag: &str, last: &Uuid) -> String {
    let tok = odata::encode_token(&json!({ "k": tag, "a": last.to_string() }));
    format!("{}/v1.0/{}?{}", ctx.base, path, q.with_skiptoken(&tok))
}

/// The first `top` items and whether more follow (the page and its nextLink).
fn take_page<'a, T>(items: impl Iterator<Item = &'a T>, top: usize) -> (Vec<&'a T>, bool) {
    let mut page = Vec::with_capacity(top.min(1000));
    for item in items {
        if page.len() == top {
            return (page, true);
        }
        page.push(item);
    }
    (page, false)
}

fn range_after<V>(
    map: &BTreeMap<Uuid, V>,
    after: Option<Uuid>,
) -> std::collections::btree_map::Range<'_, Uuid, V> {
    match after {
        Some(a) => map.range((Bound::Excluded(a), Bound::Unbounded)),
        None => map.range::<Uuid, _>(..),
    }
}

struct Filter {
    expr: Option<odata::Expr>,
    advanced: bool,
}

fn prepare_filter(
    ctx: &Ctx<'_>,
    q: &Query,
    rules: &odata::FilterRules,
) -> Result<Filter, GraphError> {
    let advanced = ctx.eventual && q.count;
    if q.count && !ctx.eventual {
        return Err(GraphError::bad_request(
            "$count is not currently supported without the 'ConsistencyLevel: eventual' header.",
        ));
    }
    if q.search.is_some() && !ctx.eventual {
        return Err(GraphError::bad_request(
            "Request with $search query parameter only works through MSGraph with a special request header: 'ConsistencyLevel: eventual'",
        ));
    }
    if q.search.is_some() {
        return Err(GraphError::unsupported_query(
            "$search is not supported by this tenant.",
        ));
    }
    if let Some(o) = &q.orderby {
        return Err(GraphError::unsupported_query(format!(
            "Sorting by '{o}' is not supported."
        )));
    }
    if let Some(e) = &q.expand {
        return Err(GraphError::unsupported_query(format!(
            "Expanding '{e}' is not supported."
        )));
    }
    let expr = match &q.filter {
        Some(f) => {
            let e = odata::parse_filter(f)?;
            odata::check_filter(&e, rules, advanced)?;
            Some(e)
        }
        None => None,
    };
    Ok(Filter { expr, advanced })
}

// ---------------------------------------------------------------------------------------
// Users
// ---------------------------------------------------------------------------------------

fn list_users(t: &Tenant, ctx: &Ctx<'_>, q: &Query) -> R {
    check_select(&q.select, &model::is_user_prop, "user")?;
    let f = prepare_filter(ctx, q, &odata::USER_RULES)?;
    let top = page_size(ctx, q);
    let after = skip_after(q, "users")?;
    let matches = |u: &User| -> bool {
        if ctx.empty_user_lists || ctx.hidden.contains(&u.id) {
            return false;
        }
        match &f.expr {
            Some(e) => odata::eval(e, &|p| model::user_prop(u, p)),
            None => true,
        }
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
    if more && let Some(last) = page.last() {
        out.insert(
            "@odata.nextLink".into(),
            json!(next_link(ctx, "users", q, "users", &last.id)),
        );
    }
    let value: Vec<Value> = page
        .iter()
        .map(|u| Value::Object(model::user_json(u, q.select.as_deref(), false)))
        .collect();
    out.insert("value".into(), Value::Array(value));
    Ok(Resp::ok(Value::Object(out)))
}

fn get_user(t: &Tenant, ctx: &Ctx<'_>, q: &Query, id: Uuid) -> R {
    check_select(&q.select, &model::is_user_prop, "user")?;
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
    Ok(Resp::ok(Value::Object(m)))
}

fn upn_domain(upn: &str) -> Option<&str> {
    let (local, domain) = upn.rsplit_once('@')?;
    if local.is_empty() || domain.is_empty() || local.len() > 64 {
        return None;
    }
    Some(domain)
}

fn validate_upn(t: &Tenant, upn: &str, except: Option<Uuid>) -> Result<(), GraphError> {
    let Some(domain) = upn_domain(upn) else {
        return Err(GraphError::invalid_value("userPrincipalName", "User"));
    };
    let local = upn.rsplit_once('@').map(|(l, _)| l).unwrap_or("");
    if local.starts_with('.')
        || local.ends_with('.')
        || local
            .chars()
            .any(|c| c.is_whitespace() || "\\\"()<>,;:[]".contains(c))
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
        return Err(GraphError::conflict_property("userPrincipalName"));
    }
    Ok(())
}

fn create_user(t: &mut Tenant, ctx: &mut Ctx<'_>, body: &[u8]) -> R {
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

fn update_user(t: &mut Tenant, body: &[u8], id: Uuid) -> R {
    let b = parse_body(body)?;
    let Some(cur) = t.users.get(&id) else {
        return Err(GraphError::not_found(&id.to_string()));
    };
    let mut u = cur.clone();
    for (k, v) in &b {
        model::set_user_prop(&mut u, k, v)?;
    }
    if u.user_principal_name != cur.user_principal_name {
        validate_upn(t, &u.user_principal_name, Some(id))?;
        t.upn_index.remove(&cur.user_principal_name.to_lowercase());
        t.upn_index.insert(u.user_principal_name.to_lowercase(), id);
    }
    if u.usage_location.is_none() && !u.assigned_licenses.is_empty() && cur.usage_location.is_some()
    {
        return Err(GraphError::bad_request(
            "Usage location cannot be removed from a user with assigned licenses.",
        ));
    }
    t.users.insert(id, u);
    t.touch_user(id);
    Ok(Resp::no_content())
}

fn delete_user(t: &mut Tenant, ctx: &Ctx<'_>, id: Uuid) -> R {
    let Some((mut u, groups)) = t.remove_user(id, false) else {
        return Err(GraphError::not_found(&id.to_string()));
    };
    u.deleted_date_time = Some(iso_now(ctx.now));
    t.deleted_users.insert(id, DeletedUser { user: u, groups });
    Ok(Resp::no_content())
}

fn assign_license(t: &mut Tenant, ctx: &Ctx<'_>, body: &[u8], id: Uuid) -> R {
    let b = parse_body(body)?;
    let add = match b.get("addLicenses") {
        Some(Value::Array(a)) => a.clone(),
        _ => return Err(GraphError::invalid_value("addLicenses", "User")),
    };
    let remove = match b.get("removeLicenses") {
        Some(Value::Array(a)) => a.clone(),
        _ => return Err(GraphError::invalid_value("removeLicenses", "User")),
    };
    for k in b.keys() {
        if k != "addLicenses" && k != "removeLicenses" && !k.starts_with("@odata.") {
            return Err(GraphError::odata_bad_request(format!(
                "The parameter '{k}' in the request payload is not a valid parameter for the operation 'assignLicense'."
            )));
        }
    }
    let Some(user) = t.users.get(&id) else {
        return Err(GraphError::not_found(&id.to_string()));
    };
    let mut licenses = user.assigned_licenses.clone();
    let mut adds: Vec<AssignedLicense> = Vec::new();
    for a in &add {
        let sku = a
            .get("skuId")
            .and_then(Value::as_str)
            .and_then(|s| Uuid::parse_str(s).ok());
        let Some(sku) = sku else {
            return Err(GraphError::invalid_value("skuId", "AssignedLicense"));
        };
        let disabled: Vec<Uuid> = match a.get("disabledPlans") {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Array(d)) => d
                .iter()
                .map(|x| {
                    x.as_str()
                        .and_then(|s| Uuid::parse_str(s).ok())
                        .ok_or_else(|| {
                            GraphError::invalid_value("disabledPlans", "AssignedLicense")
                        })
                })
                .collect::<Result<_, _>>()?,
            _ => {
                return Err(GraphError::invalid_value(
                    "disabledPlans",
                    "AssignedLicense",
                ));
            }
        };
        adds.push(AssignedLicense {
            disabled_plans: disabled,
            sku_id: sku,
        });
    }
    let mut removes: Vec<Uuid> = Vec::new();
    for r in &remove {
        let Some(sku) = r.as_str().and_then(|s| Uuid::parse_str(s).ok()) else {
            return Err(GraphError::invalid_value("removeLicenses", "User"));
        };
        removes.push(sku);
    }
    if !adds.is_empty() && user.usage_location.is_none() {
        return Err(GraphError::bad_request(
            "License assignment cannot be done for user with invalid usage location.",
        ));
    }
    // Validate everything before changing anything.
    for a in &adds {
        if !t.skus.iter().any(|s| s.sku_id == a.sku_id) {
            return Err(GraphError::bad_request(format!(
                "License {} does not correspond to a valid company License.",
                a.sku_id
            )));
        }
    }
    for r in &removes {
        if !t.skus.iter().any(|s| s.sku_id == *r) {
            return Err(GraphError::bad_request(format!(
                "License {r} does not correspond to a valid company License."
            )));
        }
        if !licenses.iter().any(|l| l.sku_id == *r) {
            return Err(GraphError::bad_request(format!(
                "User does not have a corresponding license {r} to remove."
            )));
        }
    }
    let mut seat_delta: HashMap<Uuid, i64> = HashMap::new();
    for r in &removes {
        licenses.retain(|l| l.sku_id != *r);
        *seat_delta.entry(*r).or_default() -= 1;
    }
    for a in adds {
        if let Some(l) = licenses.iter_mut().find(|l| l.sku_id == a.sku_id) {
            l.disabled_plans = a.disabled_plans;
        } else {
            *seat_delta.entry(a.sku_id).or_default() += 1;
            licenses.push(a);
        }
    }
    for (sku, d) in &seat_delta {
        if *d > 0
            && let Some(s) = t.skus.iter().find(|s| s.sku_id == *sku)
            && i64::from(s.consumed) + d > i64::from(s.enabled)
        {
            return Err(GraphError::bad_request(format!(
                "Subscription with SKU {sku} does not have any available licenses."
            )));
        }
    }
    for (sku, d) in seat_delta {
        if let Some(s) = t.skus.iter_mut().find(|s| s.sku_id == sku) {
            s.consumed = (i64::from(s.consumed) + d).max(0) as u32;
        }
    }
    if let Some(u) = t.users.get_mut(&id) {
        u.assigned_licenses = licenses;
    }
    t.touch_user(id);
    let mut m = Map::new();
    m.insert(
        "@odata.context".into(),
        json!(format!("{}/v1.0/$metadata#users/$entity", ctx.base)),
    );
    if let Some(u) = t.users.get(&id) {
        m.extend(model::user_json(u, None, false));
    }
    Ok(Resp::ok(Value::Object(m)).wrote())
}

fn member_of(t: &Tenant, ctx: &Ctx<'_>, q: &Query, id: Uuid) -> R {
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

// ---------------------------------------------------------------------------------------
// Groups
// ---------------------------------------------------------------------------------------

fn list_groups(t: &Tenant, ctx: &Ctx<'_>, q: &Query) -> R {
    check_select(&q.select, &model::is_group_prop, "group")?;
    let f = prepare_filter(ctx, q, &odata::GROUP_RULES)?;
    let top = page_size(ctx, q);
    let after = skip_after(q, "groups")?;
    let matches = |g: &Group| -> bool {
        if ctx.hidden.contains(&g.id) {
            return false;
        }
        match &f.expr {
            Some(e) => odata::eval(e, &|p| model::group_prop(g, p)),
            None => true,
        }
    };
    let ids: Option<Vec<Uuid>> = f
        .expr
        .as_ref()
        .and_then(|e| odata::index_keys(e, "id"))
        .map(|k| k.iter().filter_map(|s| Uuid::parse_str(s).ok()).collect());
    let (page, more) = match ids {
        Some(mut ids) => {
            ids.sort();
            ids.dedup();
            take_page(
                ids.iter()
                    .filter(|id| after.is_none_or(|a| **id > a))
                    .filter_map(|id| t.groups.get(id))
                    .filter(|g| matches(g)),
                top,
            )
        }
        None => take_page(
            range_after(&t.groups, after)
                .map(|(_, g)| g)
                .filter(|g| matches(g)),
            top,
        ),
    };
    let mut out = Map::new();
    out.insert(
        "@odata.context".into(),
        json!(context(ctx, "groups", &q.select)),
    );
    if f.advanced {
        out.insert(
            "@odata.count".into(),
            json!(t.groups.values().filter(|g| matches(g)).count()),
        );
    }
    if more && let Some(last) = page.last() {
        out.insert(
            "@odata.nextLink".into(),
            json!(next_link(ctx, "groups", q, "groups", &last.id)),
        );
    }
    let value: Vec<Value> = page
        .iter()
        .map(|g| Value::Object(model::group_json(g, q.select.as_deref(), false)))
        .collect();
    out.insert("value".into(), Value::Array(value));
    Ok(Resp::ok(Value::Object(out)))
}

fn get_group(t: &Tenant, ctx: &Ctx<'_>, q: &Query, id: Uuid) -> R {
    check_select(&q.select, &model::is_group_prop, "group")?;
    let g = t
        .groups
        .get(&id)
        .ok_or_else(|| GraphError::not_found(&id.to_string()))?;
    let mut m = Map::new();
    m.insert(
        "@odata.context".into(),
        json!(format!("{}/$entity", context(ctx, "groups", &q.select))),
    );
    m.extend(model::group_json(g, q.select.as_deref(), false));
    Ok(Resp::ok(Value::Object(m)))
}

/// The object id named by an `@odata.id` / `@odata.bind` URL.
fn ref_target(v: &Value, prop: &str) -> Result<Uuid, GraphError> {
    let bad = || {
        GraphError::bad_request(format!(
            "Invalid URL format specified in @odata.bind for {prop}"
        ))
    };
    let s = v.as_str().ok_or_else(bad)?;
    let s = s.split(['?', '#']).next().unwrap_or("");
    let segs: Vec<&str> = s.trim_end_matches('/').rsplit('/').take(2).collect();
    match segs.as_slice() {
        [id, coll]
            if ["directoryObjects", "users", "groups", "servicePrincipals"].contains(coll) =>
        {
            Uuid::parse_str(id).map_err(|_| bad())
        }
        _ => Err(bad()),
    }
}

fn bind_list(b: &Map<String, Value>, key: &str, prop: &str) -> Result<Vec<Uuid>, GraphError> {
    match b.get(key) {
        None => Ok(Vec::new()),
        Some(Value::Array(a)) => a.iter().map(|v| ref_target(v, prop)).collect(),
        Some(_) => Err(GraphError::bad_request(format!(
            "Invalid URL format specified in @odata.bind for {prop}"
        ))),
    }
}

fn check_member_target(
    t: &Tenant,
    ctx: &Ctx<'_>,
    g: &Group,
    member: Uuid,
    owners: bool,
) -> Result<(), GraphError> {
    if ctx.hidden.contains(&member) {
        return Err(GraphError::not_found(&member.to_string()));
    }
    match t.kind_of(&member) {
        None => Err(GraphError::not_found(&member.to_string())),
        Some("group") if owners => Err(GraphError::bad_request(
            "Only users and service principals can be owners of a group.",
        )),
        Some("group") if member == g.id => Err(GraphError::bad_request(
            "A group cannot be a member of itself.",
        )),
        Some("group") if g.is_unified() => Err(GraphError::bad_request(
            "Microsoft 365 groups cannot have groups as members. Nested groups are not supported for this group type.",
        )),
        _ => Ok(()),
    }
}

fn already_exist(owners: bool) -> GraphError {
    GraphError::bad_request(format!(
        "One or more added object references already exist for the following modified properties: '{}'.",
        if owners { "owners" } else { "members" }
    ))
}

fn create_group(t: &mut Tenant, ctx: &mut Ctx<'_>, body: &[u8]) -> R {
    let b = parse_body(body)?;
    for req in [
        "displayName",
        "mailEnabled",
        "mailNickname",
        "securityEnabled",
    ] {
        if b.get(req).is_none_or(Value::is_null) {
            return Err(GraphError::bad_request(format!(
                "Property '{req}' is required when creating the object."
            )));
        }
    }
    let mut g = Group {
        id: Uuid::new_v4(),
        created_date_time: iso_now(ctx.now),
        ..Default::default()
    };
    for (k, v) in &b {
        if k == "members@odata.bind" || k == "owners@odata.bind" {
            continue;
        }
        model::set_group_prop(&mut g, k, v)?;
    }
    if g.is_unified() {
        if !g.mail_enabled {
            return Err(GraphError::bad_request(
                "A Microsoft 365 group must be mail-enabled (mailEnabled: true).",
            ));
        }
        let mail = format!("{}@{}", g.mail_nickname, t.default_domain());
        if t.groups.values().any(|o| {
            o.mail
                .as_deref()
                .is_some_and(|m| m.eq_ignore_ascii_case(&mail))
        }) {
            return Err(GraphError::conflict_property("proxyAddresses"));
        }
        g.mail = Some(mail);
        if g.visibility.is_none() {
            g.visibility = Some("Public".into());
        }
    } else if g.mail_enabled && !g.security_enabled {
        return Err(GraphError::bad_request(
            "Creating mail-enabled distribution groups is not supported through Microsoft Graph.",
        ));
    } else if g.mail_enabled {
        return Err(GraphError::bad_request(
            "Creating mail-enabled security groups is not supported through Microsoft Graph.",
        ));
    }
    let members = bind_list(&b, "members@odata.bind", "members")?;
    let owners = bind_list(&b, "owners@odata.bind", "owners")?;
    if members.len() + owners.len() > 20 {
        return Err(GraphError::bad_request(
            "The request exceeds the limit of 20 members and owners that can be added when creating a group.",
        ));
    }
    for m in &members {
        check_member_target(t, ctx, &g, *m, false)?;
    }
    for o in &owners {
        check_member_target(t, ctx, &g, *o, true)?;
    }
    g.members = members.iter().copied().collect();
    g.owners = owners.iter().copied().collect();
    let id = g.id;
    t.insert_group(g);
    for m in members {
        t.record_member_event(id, m, true);
    }
    ctx.created.push(id);
    let mut m = Map::new();
    m.insert(
        "@odata.context".into(),
        json!(format!("{}/v1.0/$metadata#groups/$entity", ctx.base)),
    );
    if let Some(g) = t.groups.get(&id) {
        m.extend(model::group_json(g, None, false));
    }
    Ok(Resp::json(201, Value::Object(m)).wrote())
}

fn update_group(t: &mut Tenant, ctx: &Ctx<'_>, body: &[u8], id: Uuid) -> R {
    let b = parse_body(body)?;
    let Some(cur) = t.groups.get(&id) else {
        return Err(GraphError::not_found(&id.to_string()));
    };
    let mut g = cur.clone();
    for (k, v) in &b {
        if k == "members@odata.bind" || k == "owners@odata.bind" {
            continue;
        }
        if k == "groupTypes" || k == "mailEnabled" {
            return Err(GraphError::bad_request(format!(
                "Property '{k}' cannot be changed on an existing group."
            )));
        }
        model::set_group_prop(&mut g, k, v)?;
    }
    let members = bind_list(&b, "members@odata.bind", "members")?;
    let owners = bind_list(&b, "owners@odata.bind", "owners")?;
    if members.len() > 20 || owners.len() > 20 {
        return Err(GraphError::bad_request(
            "The request exceeds the maximum of 20 references that can be added to the 'members' property in a single request.",
        ));
    }
    // All-or-nothing: validate every reference first.
    let mut seen = HashSet::new();
    for mid in &members {
        check_member_target(t, ctx, &g, *mid, false)?;
        if g.members.contains(mid) || !seen.insert(*mid) {
            return Err(already_exist(false));
        }
    }
    let mut seen = HashSet::new();
    for oid in &owners {
        check_member_target(t, ctx, &g, *oid, true)?;
        if g.owners.contains(oid) || !seen.insert(*oid) {
            return Err(already_exist(true));
        }
    }
    g.members.extend(members.iter().copied());
    g.owners.extend(owners.iter().copied());
    t.groups.insert(id, g);
    t.touch_group(id);
    for mid in members {
        t.record_member_event(id, mid, true);
    }
    Ok(Resp::no_content())
}

fn delete_group(t: &mut Tenant, ctx: &Ctx<'_>, id: Uuid) -> R {
    let unified = t.groups.get(&id).is_some_and(Group::is_unified);
    // Only Microsoft 365 groups are soft-deleted; other groups are deleted permanently.
    let Some((mut g, parents)) = t.remove_group(id, !unified) else {
        return Err(GraphError::not_found(&id.to_string()));
    };
    if unified {
        g.deleted_date_time = Some(iso_now(ctx.now));
        t.deleted_groups.insert(
            id,
            DeletedGroup {
                group: g,
                member_of: parents,
            },
        );
    }
    Ok(Resp::no_content())
}

fn link_json(t: &Tenant, id: &Uuid, select: Option<&[String]>) -> Option<Value> {
    if let Some(u) = t.users.get(id) {
        return Some(Value::Object(model::user_json(u, select, true)));
    }
    t.groups
        .get(id)
        .map(|g| Value::Object(model::group_json(g, select, true)))
}

fn list_links(
    t: &Tenant,
    ctx: &Ctx<'_>,
    q: &Query,
    gid: Uuid,
    owners: bool,
    cast: Option<&str>,
) -> R {
    check_select(
        &q.select,
        &|p| model::is_user_prop(p) || model::is_group_prop(p),
        "directoryObject",
    )?;
    if q.filter.is_some() && !(ctx.eventual && q.count) {
        return Err(GraphError::unsupported_query(
            "Filtering members requires the 'ConsistencyLevel: eventual' header and $count=true.",
        ));
    }
    let f = match &q.filter {
        Some(fs) => {
            let e = odata::parse_filter(fs)?;
            odata::check_filter(&e, &odata::USER_RULES, true)?;
            Some(e)
        }
        None => None,
    };
    let top = page_size(ctx, q);
    let tag = if owners { "owners" } else { "members" };
    let after = skip_after(q, tag)?;
    let Some(g) = t.groups.get(&gid) else {
        return Err(GraphError::not_found(&gid.to_string()));
    };
    let set = if owners { &g.owners } else { &g.members };
    let iter = match after {
        Some(a) => set.range((Bound::Excluded(a), Bound::Unbounded)),
        None => set.range::<Uuid, _>(..),
    };
    let keep = |id: &Uuid| -> bool {
        if ctx.hidden.contains(id) {
            return false;
        }
        if let Some(c) = cast
            && t.kind_of(id) != Some(c)
        {
            return false;
        }
        if let Some(e) = &f {
            return match (t.users.get(id), t.groups.get(id)) {
                (Some(u), _) => odata::eval(e, &|p| model::user_prop(u, p)),
                (_, Some(g)) => odata::eval(e, &|p| model::group_prop(g, p)),
                _ => false,
            };
        }
        true
    };
    let mut page = Vec::new();
    let mut last = None;
    let mut more = false;
    for id in iter {
        if !keep(id) {
            continue;
        }
        if page.len() == top {
            more = true;
            break;
        }
        let sel = q.select.as_deref();
        if let Some(v) = link_json(t, id, sel) {
            page.push(v);
            last = Some(*id);
        }
    }
    let mut out = Map::new();
    out.insert(
        "@odata.context".into(),
        json!(context(ctx, "directoryObjects", &q.select)),
    );
    if ctx.eventual && q.count {
        out.insert(
            "@odata.count".into(),
            json!(set.iter().filter(|id| keep(id)).count()),
        );
    }
    if let (true, Some(l)) = (more, last) {
        let mut path = format!("groups/{gid}/{tag}");
        if let Some(c) = cast {
            path.push_str(&format!("/microsoft.graph.{c}"));
        }
        out.insert(
            "@odata.nextLink".into(),
            json!(next_link(ctx, &path, q, tag, &l)),
        );
    }
    out.insert("value".into(), Value::Array(page));
    Ok(Resp::ok(Value::Object(out)))
}

fn list_refs(t: &Tenant, ctx: &Ctx<'_>, q: &Query, gid: Uuid, owners: bool) -> R {
    let top = page_size(ctx, q);
    let tag = if owners { "owners$ref" } else { "members$ref" };
    let after = skip_after(q, tag)?;
    let Some(g) = t.groups.get(&gid) else {
        return Err(GraphError::not_found(&gid.to_string()));
    };
    let set = if owners { &g.owners } else { &g.members };
    let iter = match after {
        Some(a) => set.range((Bound::Excluded(a), Bound::Unbounded)),
        None => set.range::<Uuid, _>(..),
    };
    let mut page = Vec::new();
    let mut last = None;
    let mut more = false;
    for id in iter.filter(|id| !ctx.hidden.contains(id)) {
        if page.len() == top {
            more = true;
            break;
        }
        page.push(json!({ "@odata.id": format!("{}/v2/{}/directoryObjects/{}/Microsoft.DirectoryServices.{}", ctx.base, t.tenant_id, id, if t.users.contains_key(id) { "User" } else { "Group" }) }));
        last = Some(*id);
    }
    let mut out = Map::new();
    out.insert(
        "@odata.context".into(),
        json!(format!("{}/v1.0/$metadata#Collection($ref)", ctx.base)),
    );
    if let (true, Some(l)) = (more, last) {
        let rel = if owners { "owners" } else { "members" };
        out.insert(
            "@odata.nextLink".into(),
            json!(next_link(
                ctx,
                &format!("groups/{gid}/{rel}/$ref"),
                q,
                tag,
                &l
            )),
        );
    }
    out.insert("value".into(), Value::Array(page));
    Ok(Resp::ok(Value::Object(out)))
}

fn add_link(t: &mut Tenant, ctx: &Ctx<'_>, body: &[u8], gid: Uuid, owners: bool) -> R {
    let b = parse_body(body)?;
    let prop = if owners { "owners" } else { "members" };
    let target = match b.get("@odata.id") {
        Some(v) => ref_target(v, prop)?,
        None => {
            return Err(GraphError::bad_request(
                "The request body is missing the '@odata.id' reference.",
            ));
        }
    };
    let Some(g) = t.groups.get(&gid) else {
        return Err(GraphError::not_found(&gid.to_string()));
    };
    check_member_target(t, ctx, g, target, owners)?;
    let exists = if owners {
        g.owners.contains(&target)
    } else {
        g.members.contains(&target)
    };
    if exists {
        return Err(already_exist(owners));
    }
    if let Some(g) = t.groups.get_mut(&gid) {
        if owners {
            g.owners.insert(target);
        } else {
            g.members.insert(target);
        }
    }
    if owners {
        t.touch_group(gid);
    } else {
        t.record_member_event(gid, target, true);
    }
    Ok(Resp::no_content())
}

fn remove_link(t: &mut Tenant, gid: Uuid, mid: &str, owners: bool) -> R {
    let target = parse_id(mid)?;
    let removed = match t.groups.get_mut(&gid) {
        Some(g) if owners => g.owners.remove(&target),
        Some(g) => g.members.remove(&target),
        None => false,
    };
    if !removed {
        return Err(GraphError::not_found(mid));
    }
    if owners {
        t.touch_group(gid);
    } else {
        t.record_member_event(gid, target, false);
    }
    Ok(Resp::no_content())
}

// ---------------------------------------------------------------------------------------
// Deleted items
// ---------------------------------------------------------------------------------------

fn list_deleted(t: &Tenant, ctx: &Ctx<'_>, q: &Query, users: bool) -> R {
    let top = page_size(ctx, q);
    let tag = if users {
        "deletedUsers"
    } else {
        "deletedGroups"
    };
    let after = skip_after(q, tag)?;
    let mut page = Vec::new();
    let mut more = false;
    let mut last = None;
    if users {
        check_select(&q.select, &model::is_user_prop, "user")?;
        for (id, d) in range_after(&t.deleted_users, after) {
            if page.len() == top {
                more = true;
                break;
            }
            let mut m = model::user_json(&d.user, q.select.as_deref(), true);
            if q.select.is_none() {
                m.insert("deletedDateTime".into(), json!(d.user.deleted_date_time));
            }
            page.push(Value::Object(m));
            last = Some(*id);
        }
    } else {
        check_select(&q.select, &model::is_group_prop, "group")?;
        for (id, d) in range_after(&t.deleted_groups, after) {
            if page.len() == top {
                more = true;
                break;
            }
            page.push(Value::Object(model::group_json(
                &d.group,
                q.select.as_deref(),
                true,
            )));
            last = Some(*id);
        }
    }
    let cast = if users {
        "microsoft.graph.user"
    } else {
        "microsoft.graph.group"
    };
    let mut out = Map::new();
    out.insert(
        "@odata.context".into(),
        json!(format!(
            "{}/v1.0/$metadata#directoryObjects/{cast}",
            ctx.base
        )),
    );
    if let (true, Some(l)) = (more, last) {
        out.insert(
            "@odata.nextLink".into(),
            json!(next_link(
                ctx,
                &format!("directory/deletedItems/{cast}"),
                q,
                tag,
                &l
            )),
        );
    }
    out.insert("value".into(), Value::Array(page));
    Ok(Resp::ok(Value::Object(out)))
}

fn get_deleted(t: &Tenant, ctx: &Ctx<'_>, q: &Query, id: Uuid) -> R {
    let mut m = Map::new();
    m.insert(
        "@odata.context".into(),
        json!(format!(
            "{}/v1.0/$metadata#directoryObjects/$entity",
            ctx.base
        )),
    );
    if let Some(d) = t.deleted_users.get(&id) {
        check_select(&q.select, &model::is_user_prop, "user")?;
        m.extend(model::user_json(&d.user, q.select.as_deref(), true));
        if q.select.is_none() {
            m.insert("deletedDateTime".into(), json!(d.user.deleted_date_time));
        }
    } else if let Some(d) = t.deleted_groups.get(&id) {
        check_select(&q.select, &model::is_group_prop, "group")?;
        m.extend(model::group_json(&d.group, q.select.as_deref(), true));
    } else {
        return Err(GraphError::not_found(&id.to_string()));
    }
    Ok(Resp::ok(Value::Object(m)))
}

fn purge_deleted(t: &mut Tenant, id: Uuid) -> R {
    let s = t.next_seq();
    if t.deleted_users.remove(&id).is_some() {
        t.user_removals.insert(s, Change::Removed(id, true));
    } else if t.deleted_groups.remove(&id).is_some() {
        t.group_removals.insert(s, Change::Removed(id, true));
    } else {
        return Err(GraphError::not_found(&id.to_string()));
    }
    Ok(Resp::no_content())
}

fn restore_deleted(t: &mut Tenant, ctx: &Ctx<'_>, id: Uuid) -> R {
    let mut m = Map::new();
    m.insert(
        "@odata.context".into(),
        json!(format!(
            "{}/v1.0/$metadata#directoryObjects/$entity",
            ctx.base
        )),
    );
    if let Some(d) = t.deleted_users.get(&id) {
        if t.user_by_upn(&d.user.user_principal_name).is_some() {
            return Err(GraphError::conflict_property("userPrincipalName"));
        }
        // Seats come back with the user; refuse when the SKU is full.
        for l in &d.user.assigned_licenses {
            if let Some(s) = t.skus.iter().find(|s| s.sku_id == l.sku_id)
                && s.consumed >= s.enabled
            {
                return Err(GraphError::bad_request(format!(
                    "Subscription with SKU {} does not have any available licenses.",
                    l.sku_id
                )));
            }
        }
        let Some(d) = t.deleted_users.remove(&id) else {
            return Err(GraphError::not_found(&id.to_string()));
        };
        let mut u = d.user;
        u.deleted_date_time = None;
        for l in &u.assigned_licenses {
            if let Some(s) = t.skus.iter_mut().find(|s| s.sku_id == l.sku_id) {
                s.consumed += 1;
            }
        }
        t.insert_user(u);
        for gid in d.groups {
            if let Some(g) = t.groups.get_mut(&gid)
                && g.members.insert(id)
            {
                t.record_member_event(gid, id, true);
            }
        }
        if let Some(u) = t.users.get(&id) {
            m.extend(model::user_json(u, None, true));
        }
    } else if let Some(d) = t.deleted_groups.remove(&id) {
        let mut g = d.group;
        g.deleted_date_time = None;
        g.members
            .retain(|mid| t.users.contains_key(mid) || t.groups.contains_key(mid));
        g.owners.retain(|mid| t.users.contains_key(mid));
        let members: Vec<Uuid> = g.members.iter().copied().collect();
        t.insert_group(g);
        for mid in members {
            t.record_member_event(id, mid, true);
        }
        for pid in d.member_of {
            if let Some(p) = t.groups.get_mut(&pid)
                && p.members.insert(id)
            {
                t.record_member_event(pid, id, true);
            }
        }
        if let Some(g) = t.groups.get(&id) {
            m.extend(model::group_json(g, None, true));
        }
    } else {
        return Err(GraphError::not_found(&id.to_string()));
    }
    Ok(Resp::ok(Value::Object(m)).wrote())
}

// ---------------------------------------------------------------------------------------
// Delta
// ---------------------------------------------------------------------------------------

#[derive(Clone, Copy, PartialEq)]
enum Kind {
    User,
    Group,
}

fn delta_expired() -> GraphError {
    GraphError::new(
        410,
        "syncStateNotFound",
        "The sync state generation is not found or has expired. Start a new full synchronization without a delta token.",
    )
}

fn delta(t: &Tenant, ctx: &Ctx<'_>, q: &Query, kind: Kind) -> R {
    let (coll, entity) = match kind {
        Kind::User => ("users", "user"),
        Kind::Group => ("groups", "group"),
    };
    if q.filter.is_some() || q.orderby.is_some() || q.search.is_some() {
        return Err(GraphError::unsupported_query(format!(
            "Only $select and $deltatoken/$skiptoken are supported on {coll}/delta by this tenant."
        )));
    }
    let now_unix = ctx.now.unix_timestamp();
    let bad_token = || GraphError::bad_request("Invalid delta or skip token.");
    // Objects still replicating are not part of this replica's state yet: a token never
    // covers their changes, so they come in a later round once visible.
    let visible_seq = ctx
        .hidden
        .iter()
        .filter_map(|id| {
            t.users
                .get(id)
                .map(|u| u.seq)
                .or_else(|| t.groups.get(id).map(|g| g.seq))
        })
        .min()
        .map_or(t.seq, |s| s.saturating_sub(1).min(t.seq));
    // State carried in tokens: select, members wanted, phase, positions.
    let state: Value = if let Some(tok) = &q.skiptoken {
        odata::decode_token(tok).ok_or_else(bad_token)?
    } else if let Some(tok) = &q.deltatoken {
        if tok == "latest" {
            let dl = odata::encode_token(
                &json!({ "k": coll, "g": t.sync_generation.to_string(), "s": visible_seq, "t": now_unix, "sel": q.select }),
            );
            return Ok(Resp::ok(json!({
                "@odata.context": format!("{}/v1.0/$metadata#{coll}", ctx.base),
                "@odata.deltaLink": format!("{}/v1.0/{coll}/delta?$deltatoken={dl}", ctx.base),
                "value": []
            })));
        }
        let v = odata::decode_token(tok).ok_or_else(bad_token)?;
        let s = v.get("s").and_then(Value::as_u64).ok_or_else(bad_token)?;
        // A token of another state of the tenant (replaced or reset), or from its future.
        if v.get("g").and_then(Value::as_str) != Some(t.sync_generation.to_string().as_str())
            || s > t.seq
        {
            return Err(delta_expired());
        }
        let sel = if q.select.is_some() {
            json!(q.select)
        } else {
            v.get("sel").cloned().unwrap_or(Value::Null)
        };
        json!({ "k": coll, "g": t.sync_generation.to_string(), "p": "inc", "b": s, "c": s, "e": visible_seq.max(s), "t": v.get("t").cloned().unwrap_or(json!(0)), "sel": sel })
    } else {
        json!({ "k": coll, "g": t.sync_generation.to_string(), "p": "init", "e": visible_seq, "t": now_unix, "sel": q.select })
    };
    if state.get("g").and_then(Value::as_str) != Some(t.sync_generation.to_string().as_str()) {
        return Err(delta_expired());
    }
    if state.get("k").and_then(Value::as_str) != Some(coll) {
        return Err(bad_token());
    }
    let select: Option<Vec<String>> =
        serde_json::from_value(state.get("sel").cloned().unwrap_or(Value::Null)).unwrap_or(None);
    let want_members = kind == Kind::Group
        && select
            .as_ref()
            .is_some_and(|s| s.iter().any(|p| p == "members"));
    let prop_select: Option<Vec<String>> = select
        .as_ref()
        .map(|s| s.iter().filter(|p| *p != "members").cloned().collect());
    match kind {
        Kind::User => check_select(&prop_select, &model::is_user_prop, entity)?,
        Kind::Group => check_select(&prop_select, &model::is_group_prop, entity)?,
    }
    let issued = state.get("t").and_then(Value::as_i64).unwrap_or(0);
    let end = state
        .get("e")
        .and_then(Value::as_u64)
        .ok_or_else(bad_token)?;
    if end > t.seq {
        // A token from another tenant state (e.g. the file was replaced).
        return Err(delta_expired());
    }
    let top = ctx
        .max_page
        .unwrap_or(if want_members { 50 } else { 100 })
        .clamp(1, 999);
    let project = |id: &Uuid| -> Option<Map<String, Value>> {
        let sel = prop_select.as_deref().filter(|s| !s.is_empty());
        match kind {
            Kind::User => t.users.get(id).map(|u| {
                let mut m = model::user_json(u, sel, false);
                m.insert("id".into(), json!(u.id.to_string()));
                m
            }),
            Kind::Group => t.groups.get(id).map(|g| {
                let mut m = model::group_json(g, sel, false);
                m.insert("id".into(), json!(g.id.to_string()));
                m
            }),
        }
    };
    let mut value = Vec::new();
    let mut next_state: Option<Value> = None;
    let phase = state.get("p").and_then(Value::as_str).unwrap_or("");
    match phase {
        "init" => {
            let after = state
                .get("a")
                .and_then(Value::as_str)
                .and_then(|s| Uuid::parse_str(s).ok());
            let ids: Box<dyn Iterator<Item = &Uuid>> = match kind {
                Kind::User => Box::new(range_after(&t.users, after).map(|(k, _)| k)),
                Kind::Group => Box::new(range_after(&t.groups, after).map(|(k, _)| k)),
            };
            let mut last = None;
            for id in ids.filter(|id| !ctx.hidden.contains(id)) {
                if value.len() == top {
                    if let Some(l) = last {
                        let mut s = state.clone();
                        s["a"] = json!(Uuid::to_string(&l));
                        next_state = Some(s);
                    }
                    break;
                }
                if let Some(mut m) = project(id) {
                    if want_members && let Some(g) = t.groups.get(id) {
                        let md: Vec<Value> = g
                                .members
                                .iter()
                                .filter(|mid| !ctx.hidden.contains(mid))
                                .map(|mid| json!({ "@odata.type": format!("#microsoft.graph.{}", t.kind_of(mid).unwrap_or("user")), "id": mid.to_string() }))
                                .collect();
                        m.insert("members@delta".into(), Value::Array(md));
                    }
                    value.push(Value::Object(m));
                    last = Some(*id);
                }
            }
        }
        "inc" => {
            let base = state
                .get("b")
                .and_then(Value::as_u64)
                .ok_or_else(bad_token)?;
            let cursor = state
                .get("c")
                .and_then(Value::as_u64)
                .ok_or_else(bad_token)?;
            if base < t.log_floor
                || (ctx.delta_ttl_secs > 0 && now_unix - issued > ctx.delta_ttl_secs)
            {
                return Err(delta_expired());
            }
            let (changes, removals) = match kind {
                Kind::User => (&t.user_changes, &t.user_removals),
                Kind::Group => (&t.group_changes, &t.group_removals),
            };
            let rng = (Bound::Excluded(cursor), Bound::Included(end));
            // Merge the two seq-ordered streams.
            let mut a = changes
                .range(rng)
                .map(|(s, id)| (*s, Change::Changed(*id)))
                .peekable();
            let mut b = removals.range(rng).map(|(s, c)| (*s, *c)).peekable();
            // Member events in (base, end] per group, latest state per member.
            let mut member_changes: HashMap<Uuid, BTreeMap<Uuid, bool>> = HashMap::new();
            if want_members {
                for (_, ev) in t
                    .member_events
                    .range((Bound::Excluded(base), Bound::Included(end)))
                {
                    member_changes
                        .entry(ev.group)
                        .or_default()
                        .insert(ev.member, ev.added);
                }
            }
            let mut last_seq = cursor;
            loop {
                let next = match (a.peek(), b.peek()) {
                    (Some(x), Some(y)) => {
                        if x.0 <= y.0 {
                            a.next()
                        } else {
                            b.next()
                        }
                    }
                    (Some(_), None) => a.next(),
                    (None, Some(_)) => b.next(),
                    (None, None) => None,
                };
                let Some((seq, ch)) = next else { break };
                if value.len() == top {
                    let mut s = state.clone();
                    s["c"] = json!(last_seq);
                    next_state = Some(s);
                    break;
                }
                match ch {
                    Change::Changed(id) => {
                        if ctx.hidden.contains(&id) {
                            last_seq = seq;
                            continue;
                        }
                        if let Some(mut m) = project(&id) {
                            if want_members && let Some(evs) = member_changes.get(&id) {
                                let md: Vec<Value> = evs
                                        .iter()
                                        .map(|(mid, added)| {
                                            let kind = t.kind_of(mid).unwrap_or("user");
                                            if *added {
                                                json!({ "@odata.type": format!("#microsoft.graph.{kind}"), "id": mid.to_string() })
                                            } else {
                                                json!({ "@odata.type": format!("#microsoft.graph.{kind}"), "id": mid.to_string(), "@removed": { "reason": "deleted" } })
                                            }
                                        })
                                        .collect();
                                m.insert("members@delta".into(), Value::Array(md));
                            }
                            value.push(Value::Object(m));
                        }
                    }
                    Change::Removed(id, permanent) => {
                        value.push(json!({ "id": id.to_string(), "@removed": { "reason": if permanent { "deleted" } else { "changed" } } }));
                    }
                }
                last_seq = seq;
            }
        }
        _ => return Err(bad_token()),
    }
    let mut out = Map::new();
    out.insert("@odata.context".into(), json!(context(ctx, coll, &select)));
    match next_state {
        Some(s) => {
            out.insert(
                "@odata.nextLink".into(),
                json!(format!(
                    "{}/v1.0/{coll}/delta?$skiptoken={}",
                    ctx.base,
                    odata::encode_token(&s)
                )),
            );
        }
        None => {
            let dl = odata::encode_token(
                &json!({ "k": coll, "g": t.sync_generation.to_string(), "s": end, "t": now_unix, "sel": select }),
            );
            out.insert(
                "@odata.deltaLink".into(),
                json!(format!("{}/v1.0/{coll}/delta?$deltatoken={dl}", ctx.base)),
            );
        }
    }
    out.insert("value".into(), Value::Array(value));
    Ok(Resp::ok(Value::Object(out)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn tenant() -> Tenant {
        let mut t = Tenant::new(
            "contoso",
            &["contoso.com".into()],
            &[("ENTERPRISEPACK".into(), 1)],
        );
        let u = User {
            id: Uuid::new_v4(),
            user_principal_name: "a@contoso.com".into(),
            display_name: "A".into(),
            mail_nickname: "a".into(),
            ..Default::default()
        };
        let uid = u.id;
        t.insert_user(u);
        let g = Group {
            id: Uuid::new_v4(),
            display_name: "G".into(),
            members: [uid].into_iter().collect(),
            ..Default::default()
        };
        t.insert_group(g);
        t
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]
        /// Whatever the method, path, query and body, a request ends in a response or a
        /// Graph error — never a panic.
        #[test]
        fn arbitrary_requests_never_panic(
            method in prop::sample::select(vec!["GET", "POST", "PATCH", "DELETE", "PUT"]),
            segs in prop::collection::vec(prop::sample::select(vec![
                "users", "groups", "members", "owners", "$ref", "$count", "delta", "assignLicense",
                "directory", "deletedItems", "restore", "domains", "subscribedSkus", "memberOf",
                "a@contoso.com", "00000000-0000-0000-0000-000000000000", "%ZZ", "", "microsoft.graph.user",
            ]), 0..6),
            query in "[$a-z=&,'() 0-9%]{0,40}",
            body in prop::sample::select(vec!["", "{}", "null", "[", "{\"@odata.id\":\"x\"}",
                "{\"displayName\":5}", "{\"members@odata.bind\":[\"a\"]}", "{\"addLicenses\":[{}],\"removeLicenses\":[1]}"]),
        ) {
            let mut t = tenant();
            let hidden = HashSet::new();
            let mut ctx = Ctx {
                base: "http://x",
                now: time::OffsetDateTime::UNIX_EPOCH,
                hidden: &hidden,
                eventual: query.len() % 2 == 0,
                max_page: None,
                delta_ttl_secs: 10,
                empty_user_lists: false,
                created: Vec::new(),
            };
            let path = format!("/{}", segs.join("/"));
            let _ = handle(&mut t, &mut ctx, method, &path, Some(&query), body.as_bytes());
        }
    }
}
