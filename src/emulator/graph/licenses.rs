//! Licenses: `assignLicense` on users and on groups (validated as a whole, seats
//! counted once per user and SKU) and the tenant's `/subscribedSkus`.

use serde_json::{Map, Value, json};
use uuid::Uuid;

use super::{Ctx, R, Resp, check_select, context, parse_body};
use crate::emulator::error::{GraphError, iso_now};
use crate::emulator::licensing;
use crate::emulator::model::{self, AssignedLicense, Tenant};
use crate::emulator::odata::Query;

/// The `addLicenses` / `removeLicenses` of an `assignLicense` body, both required.
fn parse_assign(
    body: &[u8],
    resource: &str,
) -> Result<(Vec<AssignedLicense>, Vec<Uuid>), GraphError> {
    let b = parse_body(body)?;
    let add = match b.get("addLicenses") {
        Some(Value::Array(a)) => a.clone(),
        _ => return Err(GraphError::invalid_value("addLicenses", resource)),
    };
    let remove = match b.get("removeLicenses") {
        Some(Value::Array(a)) => a.clone(),
        _ => return Err(GraphError::invalid_value("removeLicenses", resource)),
    };
    for k in b.keys() {
        if k != "addLicenses" && k != "removeLicenses" && !k.starts_with("@odata.") {
            return Err(GraphError::odata_bad_request(format!(
                "The parameter '{k}' in the request payload is not a valid parameter for the operation 'assignLicense'."
            )));
        }
    }
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
            return Err(GraphError::invalid_value("removeLicenses", resource));
        };
        removes.push(sku);
    }
    Ok((adds, removes))
}

fn unknown_sku(t: &Tenant, sku: &Uuid) -> Option<GraphError> {
    (!t.skus.iter().any(|s| s.sku_id == *sku)).then(|| {
        GraphError::bad_request(format!(
            "License {sku} does not correspond to a valid company License."
        ))
    })
}

/// A `disabledPlans` entry that is not a service plan of the SKU (for SKUs whose plans
/// the emulator knows). api/user-assignlicense.md: disabledPlans is "a collection of the
/// unique identifiers for plans that have been disabled" of that license; Graph's error
/// text for another id is not documented.
fn unknown_plan(t: &Tenant, a: &AssignedLicense) -> Option<GraphError> {
    let sku = t.skus.iter().find(|s| s.sku_id == a.sku_id)?;
    let plans = service_plans(&sku.sku_part_number);
    if plans.is_empty() {
        return None;
    }
    a.disabled_plans
        .iter()
        .find(|d| {
            !plans
                .iter()
                .any(|(_, id)| d.to_string().eq_ignore_ascii_case(id))
        })
        .map(|d| {
            GraphError::bad_request(format!(
                "Service plan {d} is not part of license {}.",
                a.sku_id
            ))
        })
}

/// `POST /users/{id}/assignLicense` (api/user-assignlicense.md): the user's direct
/// assignments, validated as a whole before anything changes. A SKU the user holds only
/// through a group cannot be removed directly (entra-docs licensing-group-advanced.md,
/// "Direct licenses coexist with group licenses"; Graph's message as scripts matching
/// its error body quote it); removing the direct assignment of a SKU the user also
/// inherits keeps the inherited one and its seat.
pub(super) fn assign_license(t: &mut Tenant, ctx: &Ctx<'_>, body: &[u8], id: Uuid) -> R {
    let (adds, removes) = parse_assign(body, "User")?;
    let Some(user) = t.users.get(&id) else {
        return Err(GraphError::not_found(&id.to_string()));
    };
    if !adds.is_empty() && user.usage_location.is_none() {
        return Err(GraphError::bad_request(
            "License assignment cannot be done for user with invalid usage location.",
        ));
    }
    // Validate everything before changing anything.
    for a in &adds {
        if let Some(e) = unknown_sku(t, &a.sku_id).or_else(|| unknown_plan(t, a)) {
            return Err(e);
        }
    }
    for r in &removes {
        if let Some(e) = unknown_sku(t, r) {
            return Err(e);
        }
        if !user.assigned_licenses.iter().any(|l| l.sku_id == *r) {
            if t.holds_only_inherited(id, *r) {
                return Err(GraphError::bad_request(
                    "User license is inherited from a group membership and it cannot be removed directly from the user.",
                ));
            }
            return Err(GraphError::bad_request(format!(
                "User does not have a corresponding license {r} to remove."
            )));
        }
    }
    let before = licensing::held_skus(user);
    let mut next = user.clone();
    for r in &removes {
        next.assigned_licenses.retain(|l| l.sku_id != *r);
    }
    for a in adds {
        if let Some(l) = next
            .assigned_licenses
            .iter_mut()
            .find(|l| l.sku_id == a.sku_id)
        {
            l.disabled_plans = a.disabled_plans;
        } else {
            next.assigned_licenses.push(a);
        }
    }
    let after = licensing::held_skus(&next);
    for sku in after.difference(&before) {
        if let Some(s) = t.skus.iter().find(|s| s.sku_id == *sku)
            && s.consumed >= s.enabled
        {
            return Err(GraphError::bad_request(format!(
                "Subscription with SKU {sku} does not have any available licenses."
            )));
        }
    }
    t.users.insert(id, next);
    t.adjust_seats(&before, &after);
    t.touch_user(id);
    // An inherited assignment in error may now be satisfied by the direct one.
    t.reprocess_licenses(id, &iso_now(ctx.now));
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

/// `POST /groups/{id}/assignLicense` (api/group-assignlicense.md): 202 Accepted and the
/// group; the licences then reach the group's direct user members
/// ([`crate::emulator::licensing`]). Group-based licensing works with security groups
/// and security-enabled Microsoft 365 groups only (entra-docs
/// licensing-group-advanced.md, Limitations); the refusal's message for other groups
/// and for removing a SKU the group does not have is the emulator's own (Graph's is
/// not documented).
pub(super) fn assign_group_license(t: &mut Tenant, ctx: &Ctx<'_>, body: &[u8], gid: Uuid) -> R {
    let (adds, removes) = parse_assign(body, "Group")?;
    let Some(group) = t.groups.get(&gid) else {
        return Err(GraphError::not_found(&gid.to_string()));
    };
    if !group.security_enabled {
        return Err(GraphError::bad_request(
            "Licenses can be assigned only to security-enabled groups.",
        ));
    }
    for a in &adds {
        if let Some(e) = unknown_sku(t, &a.sku_id).or_else(|| unknown_plan(t, a)) {
            return Err(e);
        }
    }
    for r in &removes {
        if let Some(e) = unknown_sku(t, r) {
            return Err(e);
        }
        if !group.assigned_licenses.iter().any(|l| l.sku_id == *r) {
            return Err(GraphError::bad_request(format!(
                "Group does not have a corresponding license {r} to remove."
            )));
        }
    }
    let mut g = group.clone();
    for r in &removes {
        g.assigned_licenses.retain(|l| l.sku_id != *r);
    }
    for a in adds {
        if let Some(l) = g
            .assigned_licenses
            .iter_mut()
            .find(|l| l.sku_id == a.sku_id)
        {
            l.disabled_plans = a.disabled_plans;
        } else {
            g.assigned_licenses.push(a);
        }
    }
    t.groups.insert(gid, g);
    t.touch_group(gid);
    t.reprocess_group_members(gid, &iso_now(ctx.now));
    let mut m = Map::new();
    m.insert(
        "@odata.context".into(),
        json!(format!("{}/v1.0/$metadata#groups/$entity", ctx.base)),
    );
    if let Some(g) = t.groups.get(&gid) {
        m.extend(model::group_json(g, None, false));
    }
    let mut r = Resp::json(202, Value::Object(m)).wrote();
    r.headers.push((
        "Location".into(),
        format!(
            "{}/v2/{}/directoryObjects/{gid}/Microsoft.DirectoryServices.Group",
            ctx.base, t.tenant_id
        ),
    ));
    Ok(r)
}

/// The service plans the emulator knows for a SKU part number
/// ([`crate::emulator::service_plans`]).
pub fn service_plans(sku_part_number: &str) -> &'static [(&'static str, &'static str)] {
    crate::emulator::service_plans::for_sku(sku_part_number)
}

/// The properties of resources/subscribedsku.md.
pub(super) const SKU_PROPS: &[&str] = &[
    "accountId",
    "accountName",
    "appliesTo",
    "capabilityStatus",
    "consumedUnits",
    "id",
    "prepaidUnits",
    "servicePlans",
    "skuId",
    "skuPartNumber",
    "subscriptionIds",
];

/// api/subscribedsku-list.md: "This method supports only the `$select` OData query
/// parameter … It does not support `$filter`." Any other option is refused rather than
/// ignored; `$select` names must be subscribedSku properties.
fn check_sku_query(q: &Query) -> Result<(), GraphError> {
    only_select(q, "subscribedSkus")?;
    check_select(&q.select, &|p| SKU_PROPS.contains(&p), "subscribedSku")
}

/// Refuses every query option but `$select` (for the endpoints whose pages document
/// only `$select`).
fn only_select(q: &Query, what: &str) -> Result<(), GraphError> {
    let other = [
        ("$filter", q.filter.is_some()),
        ("$top", q.top.is_some()),
        ("$orderby", q.orderby.is_some()),
        ("$search", q.search.is_some()),
        ("$expand", q.expand.is_some()),
        ("$count", q.count),
        ("$skiptoken", q.skiptoken.is_some()),
    ];
    if let Some((name, _)) = other.iter().find(|(_, on)| *on) {
        return Err(GraphError::unsupported_query(format!(
            "The query parameter '{name}' is not supported on {what}."
        )));
    }
    Ok(())
}

/// The properties of resources/licensedetails.md.
const LICENSE_DETAILS_PROPS: &[&str] = &["id", "servicePlans", "skuId", "skuPartNumber"];

/// `GET /users/{id}/licenseDetails` (api/user-list-licensedetails.md: "This method
/// supports the `$select` query parameter"; any other option is refused).
pub(super) fn list_license_details(t: &Tenant, ctx: &Ctx<'_>, q: &Query, id: Uuid) -> R {
    only_select(q, "licenseDetails")?;
    check_select(
        &q.select,
        &|p| LICENSE_DETAILS_PROPS.contains(&p),
        "licenseDetails",
    )?;
    let Some(user) = t.users.get(&id) else {
        return Err(GraphError::not_found(&id.to_string()));
    };
    let part = |sku: Uuid| {
        t.skus
            .iter()
            .find(|s| s.sku_id == sku)
            .map(|s| s.sku_part_number.clone())
    };
    let value: Vec<Value> = licensing::license_details_json(user, &part)
        .into_iter()
        .map(|v| project(v, q.select.as_deref()))
        .collect();
    Ok(Resp::ok(json!({
        "@odata.context": format!("{}/v1.0/$metadata#users('{id}')/licenseDetails", ctx.base),
        "value": value,
    })))
}

/// `v` reduced to the `$select`ed members (and `id`, an entity's key).
fn project(v: Value, select: Option<&[String]>) -> Value {
    let (Some(sel), Value::Object(m)) = (select, &v) else {
        return v;
    };
    Value::Object(
        m.iter()
            .filter(|(k, _)| *k == "id" || sel.iter().any(|p| p == *k))
            .map(|(k, val)| (k.clone(), val.clone()))
            .collect(),
    )
}

/// A SKU as Graph shows it, with its service plans, projected onto `$select`
/// (`id` is always kept, as Graph keeps an entity's key).
fn sku_view(t: &Tenant, s: &model::Sku, select: Option<&[String]>) -> Value {
    let mut v = model::sku_json(s, &t.tenant_id);
    let plans: Vec<Value> = service_plans(&s.sku_part_number)
        .iter()
        .map(|(name, id)| {
            json!({
                "servicePlanId": id,
                "servicePlanName": name,
                "provisioningStatus": "Success",
                "appliesTo": "User"
            })
        })
        .collect();
    v["servicePlans"] = Value::Array(plans);
    let (Some(sel), Value::Object(m)) = (select, &v) else {
        return v;
    };
    let mut out = Map::new();
    for (k, val) in m {
        if k == "id" || sel.iter().any(|p| p == k) {
            out.insert(k.clone(), val.clone());
        }
    }
    Value::Object(out)
}

pub(super) fn list_skus(t: &Tenant, ctx: &Ctx<'_>, q: &Query) -> R {
    check_sku_query(q)?;
    let value: Vec<Value> = t
        .skus
        .iter()
        .map(|s| sku_view(t, s, q.select.as_deref()))
        .collect();
    Ok(Resp::ok(
        json!({ "@odata.context": context(ctx, "subscribedSkus", &q.select), "value": value }),
    ))
}

pub(super) fn get_sku(t: &Tenant, q: &Query, id: &str) -> R {
    check_sku_query(q)?;
    let s = t
        .skus
        .iter()
        .find(|s| format!("{}_{}", t.tenant_id, s.sku_id).eq_ignore_ascii_case(id))
        .ok_or_else(|| GraphError::not_found(id))?;
    Ok(Resp::ok(sku_view(t, s, q.select.as_deref())))
}
