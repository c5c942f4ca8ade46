//! Licenses: `assignLicense` (validated as a whole, seats counted) and the tenant's
//! `/subscribedSkus`.

use std::collections::HashMap;

use serde_json::{Map, Value, json};
use uuid::Uuid;

use super::{Ctx, R, Resp, context, parse_body};
use crate::emulator::error::GraphError;
use crate::emulator::model::{self, AssignedLicense, Tenant};

pub(super) fn assign_license(t: &mut Tenant, ctx: &Ctx<'_>, body: &[u8], id: Uuid) -> R {
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

pub(super) fn list_skus(t: &Tenant, ctx: &Ctx<'_>) -> R {
    let value: Vec<Value> = t
        .skus
        .iter()
        .map(|s| model::sku_json(s, &t.tenant_id))
        .collect();
    Ok(Resp::ok(
        json!({ "@odata.context": context(ctx, "subscribedSkus", &None), "value": value }),
    ))
}

pub(super) fn get_sku(t: &Tenant, id: &str) -> R {
    let s = t
        .skus
        .iter()
        .find(|s| format!("{}_{}", t.tenant_id, s.sku_id).eq_ignore_ascii_case(id))
        .ok_or_else(|| GraphError::not_found(id))?;
    Ok(Resp::ok(model::sku_json(s, &t.tenant_id)))
}
