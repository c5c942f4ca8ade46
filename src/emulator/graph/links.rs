//! A group's members and owners: listings (typed casts, `$filter` with advanced
//! queries), `$ref` listings, adds and removes, and the checks of `@odata.id` /
//! `@odata.bind` references shared with group creates and updates.

use std::ops::Bound;

use serde_json::{Map, Value, json};
use uuid::Uuid;

use super::collection::{
    Filter, next_link, offset_link, page_size, prepare_with, skip_after, sorted_page,
};
use super::users::synced_refusal;
use super::{Ctx, R, Resp, check_select, context, parse_body, parse_id};
use crate::emulator::error::{GraphError, iso_now};
use crate::emulator::model::{self, Group, Tenant};
use crate::emulator::odata::{self, Query};
use crate::emulator::roles::{self, ROLE_MANAGEMENT_WRITE};

/// Whether the app may write the members of group `g` (adds and removes alike):
/// - a dynamic group's members come from its rule: real Graph refuses the write with
///   403 `Authorization_RequestDenied` "Insufficient privileges to complete the
///   operation." (as reported in KelvinTegelaar/CIPP issue #468 and
///   microsoftgraph/microsoft-graph-docs issue #9071);
/// - a group synchronised from on premises is written there (400, the on-premises
///   mastered refusal);
/// - mail-enabled security groups and distribution lists are managed in Exchange
///   (groups-overview.md): 400 `Request_BadRequest` "Cannot Update a mail-enabled
///   security groups and or distribution list." (the text real Graph returns, as
///   public scripts and tests matching it show);
/// - role-assignable groups need RoleManagement.ReadWrite.Directory
///   (api/group-post-members.md), else 403.
pub(super) fn check_member_writes(ctx: &Ctx<'_>, g: &Group) -> Result<(), GraphError> {
    if g.is_dynamic() {
        return Err(GraphError::forbidden());
    }
    if g.is_synced() {
        return Err(synced_refusal());
    }
    if g.is_exchange_managed() {
        return Err(GraphError::bad_request(
            "Cannot Update a mail-enabled security groups and or distribution list.",
        ));
    }
    if g.is_role_assignable() && !roles::has_any(ctx.roles, &[ROLE_MANAGEMENT_WRITE]) {
        return Err(GraphError::forbidden());
    }
    Ok(())
}

/// The object id named by an `@odata.id` / `@odata.bind` URL.
pub(super) fn ref_target(v: &Value, prop: &str) -> Result<Uuid, GraphError> {
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

pub(super) fn bind_list(
    b: &Map<String, Value>,
    key: &str,
    prop: &str,
) -> Result<Vec<Uuid>, GraphError> {
    match b.get(key) {
        None => Ok(Vec::new()),
        Some(Value::Array(a)) => a.iter().map(|v| ref_target(v, prop)).collect(),
        Some(_) => Err(GraphError::bad_request(format!(
            "Invalid URL format specified in @odata.bind for {prop}"
        ))),
    }
}

pub(super) fn check_member_target(
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

pub(super) fn already_exist(owners: bool) -> GraphError {
    GraphError::bad_request(format!(
        "One or more added object references already exist for the following modified properties: '{}'.",
        if owners { "owners" } else { "members" }
    ))
}

fn link_json(t: &Tenant, id: &Uuid, select: Option<&[String]>) -> Option<Value> {
    if let Some(u) = t.users.get(id) {
        return Some(Value::Object(model::user_json(u, select, true)));
    }
    t.groups
        .get(id)
        .map(|g| Value::Object(model::group_json(g, select, true)))
}

pub(super) fn list_links(
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
    if let Some(e) = &q.expand {
        return Err(GraphError::unsupported_query(format!(
            "Expanding '{e}' is not supported."
        )));
    }
    // api/group-list-members.md: `$search` (ConsistencyLevel) and `$orderby`
    // (ConsistencyLevel and `$count`) on the members' properties.
    let plan = prepare_with(
        ctx,
        q,
        &[&odata::USER_RULES, &odata::GROUP_RULES],
        &odata::MEMBER_SORT,
        true,
    )?;
    let f = plan.expr.clone();
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
        if f.is_some() || plan.search.is_some() {
            return match (t.users.get(id), t.groups.get(id)) {
                (Some(u), _) => plan.matches(&|p| model::user_prop(u, p)),
                (_, Some(g)) => plan.matches(&|p| model::group_prop(g, p)),
                _ => false,
            };
        }
        true
    };
    if !plan.order.is_empty() {
        return sorted_links(t, ctx, q, gid, owners, cast, &plan, &keep);
    }
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

/// A members/owners listing with `$orderby`: every kept object sorted, paged by
/// position.
#[allow(clippy::too_many_arguments)]
fn sorted_links(
    t: &Tenant,
    ctx: &Ctx<'_>,
    q: &Query,
    gid: Uuid,
    owners: bool,
    cast: Option<&str>,
    plan: &Filter,
    keep: &dyn Fn(&Uuid) -> bool,
) -> R {
    let Some(g) = t.groups.get(&gid) else {
        return Err(GraphError::not_found(&gid.to_string()));
    };
    let set = if owners { &g.owners } else { &g.members };
    let tag = if owners { "owners:o" } else { "members:o" };
    let all: Vec<&Uuid> = set.iter().filter(|id| keep(id)).collect();
    let count = all.len();
    let prop = |id: &Uuid, p: &str| match (t.users.get(id), t.groups.get(id)) {
        (Some(u), _) => model::user_prop(u, p),
        (_, Some(g)) => model::group_prop(g, p),
        _ => None,
    };
    let top = page_size(ctx, q);
    let (page, next) = sorted_page(all, &plan.order, prop, q, tag, top)?;
    let mut out = Map::new();
    out.insert(
        "@odata.context".into(),
        json!(context(ctx, "directoryObjects", &q.select)),
    );
    if plan.advanced {
        out.insert("@odata.count".into(), json!(count));
    }
    if let Some(o) = next {
        let mut path = format!("groups/{gid}/{}", if owners { "owners" } else { "members" });
        if let Some(c) = cast {
            path.push_str(&format!("/microsoft.graph.{c}"));
        }
        out.insert(
            "@odata.nextLink".into(),
            json!(offset_link(ctx, &path, q, tag, o)),
        );
    }
    let value: Vec<Value> = page
        .iter()
        .filter_map(|id| link_json(t, id, q.select.as_deref()))
        .collect();
    out.insert("value".into(), Value::Array(value));
    Ok(Resp::ok(Value::Object(out)))
}

pub(super) fn list_refs(t: &Tenant, ctx: &Ctx<'_>, q: &Query, gid: Uuid, owners: bool) -> R {
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

pub(super) fn add_link(t: &mut Tenant, ctx: &Ctx<'_>, body: &[u8], gid: Uuid, owners: bool) -> R {
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
    if !owners {
        check_member_writes(ctx, g)?;
    }
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
        t.reprocess_licenses(target, &iso_now(ctx.now));
    }
    Ok(Resp::no_content())
}

pub(super) fn remove_link(t: &mut Tenant, ctx: &Ctx<'_>, gid: Uuid, mid: &str, owners: bool) -> R {
    let target = parse_id(mid)?;
    if !owners && let Some(g) = t.groups.get(&gid) {
        check_member_writes(ctx, g)?;
    }
    // "Once owners are assigned to a group, the last owner (a user object) of the group
    // cannot be removed" (api/group-delete-owners.md); the refusal is Graph's own text.
    if owners
        && t.users.contains_key(&target)
        && let Some(g) = t.groups.get(&gid)
        && g.owners.contains(&target)
        && !g
            .owners
            .iter()
            .any(|o| *o != target && t.users.contains_key(o))
    {
        return Err(GraphError::bad_request(
            "The group must have at least one owner, hence this owner cannot be removed.",
        ));
    }
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
        t.reprocess_licenses(target, &iso_now(ctx.now));
    }
    Ok(Resp::no_content())
}

/// `DELETE /groups/{id}/members/{id}` without `/$ref` (api/group-delete-members.md):
/// "If `/$ref` is not appended to the request and the calling app has permissions to
/// manage the member object type, the member object will also be deleted from Azure
/// Active Directory (Azure AD); otherwise, a `403 Forbidden` error is returned." A user
/// needs User.ReadWrite.All, a group Group.ReadWrite.All (or Directory.ReadWrite.All);
/// the object is then deleted as by `DELETE /users/{id}` / `DELETE /groups/{id}`.
pub(super) fn delete_member_object(t: &mut Tenant, ctx: &Ctx<'_>, gid: Uuid, mid: &str) -> R {
    let target = parse_id(mid)?;
    if let Some(g) = t.groups.get(&gid) {
        check_member_writes(ctx, g)?;
    }
    let is_member = t
        .groups
        .get(&gid)
        .is_some_and(|g| g.members.contains(&target));
    if !is_member || ctx.hidden.contains(&target) {
        return Err(GraphError::not_found(mid));
    }
    match t.kind_of(&target) {
        Some("user") => {
            if !roles::has_any(
                ctx.roles,
                &["User.ReadWrite.All", "Directory.ReadWrite.All"],
            ) {
                return Err(GraphError::forbidden());
            }
            super::users::delete_user(t, ctx, target)
        }
        Some(_) => {
            if !roles::has_any(
                ctx.roles,
                &["Group.ReadWrite.All", "Directory.ReadWrite.All"],
            ) {
                return Err(GraphError::forbidden());
            }
            super::groups::delete_group(t, ctx, target)
        }
        None => Err(GraphError::not_found(mid)),
    }
}
