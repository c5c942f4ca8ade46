//! Directory deleted items: listings by type cast, get, permanent delete (purge) and
//! restore (memberships, licenses and seats come back with the object).

use serde_json::{Map, Value, json};
use uuid::Uuid;

use super::collection::{
    Filter, next_link, offset_link, page_size, prepare_filter, skip_after, sorted_page, take_page,
};
use super::users::validate_upn;
use super::{Ctx, R, Resp, check_select, parse_body};
use crate::emulator::error::{GraphError, iso_now};
use crate::emulator::model::{self, Change, Tenant};
use crate::emulator::odata::{self, Query};
use crate::emulator::proxy;

/// The checked options of a deleted-items listing: the cast type's `$filter`,
/// `$search` and `$orderby` rules (api/directory-deleteditems-list.md: "the query
/// parameters that are supported by the resource that is specified by the OData
/// cast"; deletedDateTime sorts only as an advanced query).
fn deleted_filter(ctx: &Ctx<'_>, q: &Query, users: bool) -> Result<Filter, GraphError> {
    if let Some(e) = &q.expand {
        return Err(GraphError::unsupported_query(format!(
            "Expanding '{e}' is not supported."
        )));
    }
    if users {
        prepare_filter(
            ctx,
            q,
            &odata::DELETED_USER_RULES,
            &odata::DELETED_USER_SORT,
        )
    } else {
        prepare_filter(
            ctx,
            q,
            &odata::DELETED_GROUP_RULES,
            &odata::DELETED_GROUP_SORT,
        )
    }
}

/// The deleted objects of one cast that pass the request's filter and search.
fn deleted_matches<'a>(t: &'a Tenant, f: &Filter, users: bool) -> Vec<(Uuid, Item<'a>)> {
    if users {
        t.deleted_users
            .iter()
            .filter(|(_, d)| f.matches(&|p| model::user_prop(&d.user, p)))
            .map(|(id, d)| (*id, Item::User(&d.user)))
            .collect()
    } else {
        t.deleted_groups
            .iter()
            .filter(|(_, d)| f.matches(&|p| model::group_prop(&d.group, p)))
            .map(|(id, d)| (*id, Item::Group(&d.group)))
            .collect()
    }
}

#[derive(Clone, Copy)]
enum Item<'a> {
    User(&'a model::User),
    Group(&'a model::Group),
}

impl Item<'_> {
    fn prop(&self, p: &str) -> Option<Value> {
        match self {
            Item::User(u) => model::user_prop(u, p),
            Item::Group(g) => model::group_prop(g, p),
        }
    }
    fn json(&self, select: Option<&[String]>) -> Value {
        match self {
            Item::User(u) => {
                let mut m = model::user_json(u, select, true);
                if select.is_none() {
                    m.insert("deletedDateTime".into(), json!(u.deleted_date_time));
                }
                Value::Object(m)
            }
            Item::Group(g) => Value::Object(model::group_json(g, select, true)),
        }
    }
}

/// `GET /directory/deletedItems/{cast}/$count` (ConsistencyLevel checked by the caller).
pub(super) fn count_deleted(
    t: &Tenant,
    ctx: &Ctx<'_>,
    q: &Query,
    users: bool,
) -> Result<usize, GraphError> {
    let f = deleted_filter(ctx, q, users)?;
    Ok(deleted_matches(t, &f, users).len())
}

/// `$select` names in their canonical case: Graph matches them case-insensitively
/// (api/directory-deleteditems-list.md, Example 2 selects `DisplayName`).
fn canonical_select(q: &Query, users: bool) -> Query {
    let known = if users {
        model::USER_PROPS
    } else {
        model::GROUP_PROPS
    };
    let select = q.select.as_ref().map(|sel| {
        sel.iter()
            .map(|p| {
                known
                    .iter()
                    .find(|k| k.eq_ignore_ascii_case(p))
                    .map_or_else(|| p.clone(), |k| (*k).to_string())
            })
            .collect()
    });
    Query {
        select,
        ..q.clone()
    }
}

pub(super) fn list_deleted(t: &Tenant, ctx: &Ctx<'_>, q: &Query, users: bool) -> R {
    let q = &canonical_select(q, users);
    let top = page_size(ctx, q);
    let tag = if users {
        "deletedUsers"
    } else {
        "deletedGroups"
    };
    if users {
        check_select(&q.select, &model::is_user_prop, "user")?;
    } else {
        check_select(&q.select, &model::is_group_prop, "group")?;
    }
    let f = deleted_filter(ctx, q, users)?;
    let all = deleted_matches(t, &f, users);
    let count = all.len();
    let cast = if users {
        "microsoft.graph.user"
    } else {
        "microsoft.graph.group"
    };
    let path = format!("directory/deletedItems/{cast}");
    let (page, next): (Vec<&(Uuid, Item<'_>)>, Option<String>) = if f.order.is_empty() {
        let after = skip_after(q, tag)?;
        let (page, more) = take_page(
            all.iter().filter(|(id, _)| after.is_none_or(|a| *id > a)),
            top,
        );
        let next = match (more, page.last()) {
            (true, Some((l, _))) => Some(next_link(ctx, &path, q, tag, l)),
            _ => None,
        };
        (page, next)
    } else {
        let otag = format!("{tag}:o");
        let refs: Vec<&(Uuid, Item<'_>)> = all.iter().collect();
        let items: Vec<&&(Uuid, Item<'_>)> = refs.iter().collect();
        let (page, more) = sorted_page(
            items,
            &f.order,
            |(_, it): &&(Uuid, Item<'_>), p| it.prop(p),
            q,
            &otag,
            top,
        )?;
        (
            page.into_iter().copied().collect(),
            more.map(|o| offset_link(ctx, &path, q, &otag, o)),
        )
    };
    let mut out = Map::new();
    out.insert(
        "@odata.context".into(),
        json!(format!(
            "{}/v1.0/$metadata#directoryObjects/{cast}",
            ctx.base
        )),
    );
    if f.advanced {
        out.insert("@odata.count".into(), json!(count));
    }
    if let Some(l) = next {
        out.insert("@odata.nextLink".into(), json!(l));
    }
    let value: Vec<Value> = page
        .iter()
        .map(|(_, it)| it.json(q.select.as_deref()))
        .collect();
    out.insert("value".into(), Value::Array(value));
    Ok(Resp::ok(Value::Object(out)))
}

pub(super) fn get_deleted(t: &Tenant, ctx: &Ctx<'_>, q: &Query, id: Uuid) -> R {
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

pub(super) fn purge_deleted(t: &mut Tenant, id: Uuid) -> R {
    let s = t.next_seq();
    if t.deleted_users.remove(&id).is_some() {
        t.user_removals.insert(s, Change::Removed(id, true));
    } else if t.deleted_groups.remove(&id).is_some() {
        t.group_removals.insert(s, Change::Removed(id, true));
    } else {
        return Err(GraphError::not_found(&id.to_string()));
    }
    // A purged principal holds no roles any more.
    t.role_assignments.retain(|_, a| a.principal_id != id);
    Ok(Resp::no_content())
}

/// The optional parameters of `restore` (directory-deleteditems-restore.md; the CSDL's
/// `restore` action bound to directoryObject): both apply to users only.
#[derive(Default)]
struct RestoreParams {
    /// Remove the restored user's proxy addresses that another object holds now,
    /// instead of failing.
    auto_reconcile_proxy_conflict: bool,
    /// The userPrincipalName to restore the user with (its old one may be taken).
    new_user_principal_name: Option<String>,
}

fn restore_params(body: &[u8]) -> Result<RestoreParams, GraphError> {
    let mut p = RestoreParams::default();
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(p);
    }
    for (k, v) in parse_body(body)? {
        match k.as_str() {
            "autoReconcileProxyConflict" => {
                p.auto_reconcile_proxy_conflict = match v {
                    Value::Null => false,
                    Value::Bool(b) => b,
                    _ => return Err(bad_parameter_value(&k, "Edm.Boolean")),
                }
            }
            "newUserPrincipalName" => {
                p.new_user_principal_name = match v {
                    Value::Null => None,
                    Value::String(s) => Some(s),
                    _ => return Err(bad_parameter_value(&k, "Edm.String")),
                }
            }
            other => {
                return Err(GraphError::odata_bad_request(format!(
                    "The parameter '{other}' in the request payload is not a valid parameter for the operation 'restore'."
                )));
            }
        }
    }
    Ok(p)
}

fn bad_parameter_value(name: &str, ty: &str) -> GraphError {
    GraphError::odata_bad_request(format!(
        "Cannot convert the value of the parameter '{name}' to the expected type '{ty}'."
    ))
}

/// `POST /directory/deletedItems/{id}/restore`: the object comes back with its id,
/// memberships, licences (seats permitting) and, for a user, its manager (if still
/// live) and the reports it had (those without another manager by then). The body's
/// `newUserPrincipalName` renames the user as it comes back (a verified domain, unique
/// like any UPN); without it, an old UPN another user took meanwhile is a conflict.
pub(super) fn restore_deleted(t: &mut Tenant, ctx: &Ctx<'_>, id: Uuid, body: &[u8]) -> R {
    let params = restore_params(body)?;
    let mut m = Map::new();
    m.insert(
        "@odata.context".into(),
        json!(format!(
            "{}/v1.0/$metadata#directoryObjects/$entity",
            ctx.base
        )),
    );
    if let Some(d) = t.deleted_users.get(&id) {
        let mut restored = d.user.clone();
        match &params.new_user_principal_name {
            Some(upn) => {
                validate_upn(t, upn, None)?;
                restored.user_principal_name = upn.clone();
            }
            None => {
                if let Some(other) = t.user_by_upn(&restored.user_principal_name) {
                    return Err(proxy::conflict(t, "userPrincipalName", other));
                }
            }
        }
        // Its addresses were freed with it; another object may hold one now.
        if params.auto_reconcile_proxy_conflict {
            let taken: Vec<String> = restored
                .extra_proxy_addresses
                .iter()
                .filter(|a| t.check_proxies(id, std::slice::from_ref(*a)).is_err())
                .cloned()
                .collect();
            restored
                .extra_proxy_addresses
                .retain(|a| !taken.contains(a));
        }
        t.check_proxies(id, &proxy::user_proxies(&restored))?;
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
        let mut u = restored;
        u.deleted_date_time = None;
        if u.manager.is_some_and(|mid| !t.users.contains_key(&mid)) {
            u.manager = None;
        }
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
        for r in d.reports {
            if t.users.get(&r).is_some_and(|ru| ru.manager.is_none()) {
                t.set_manager(r, Some(id));
            }
        }
        // Inherited licences come back with the memberships (seats permitting).
        t.reprocess_licenses(id, &iso_now(ctx.now));
        if let Some(u) = t.users.get(&id) {
            m.extend(model::user_json(u, None, true));
        }
    } else if let Some(d) = t.deleted_groups.get(&id) {
        t.check_proxies(id, &proxy::group_proxies(&d.group))?;
        let Some(d) = t.deleted_groups.remove(&id) else {
            return Err(GraphError::not_found(&id.to_string()));
        };
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
