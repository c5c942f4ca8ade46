//! The tenant's own resources: `/domains` and `/organization`.

use serde_json::{Value, json};

use super::{Ctx, R, Resp, context};
use crate::emulator::error::GraphError;
use crate::emulator::model::{self, Tenant};

pub(super) fn list_domains(t: &Tenant, ctx: &Ctx<'_>) -> R {
    let value: Vec<Value> = t.domains.iter().map(model::domain_json).collect();
    Ok(Resp::ok(
        json!({ "@odata.context": context(ctx, "domains", &None), "value": value }),
    ))
}

pub(super) fn get_domain(t: &Tenant, ctx: &Ctx<'_>, name: &str) -> R {
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

/// `GET /organization`: the tenant with its `verifiedDomains` (resources/
/// verifieddomain.md: name, isDefault, isInitial, `type` "Managed" or "Federated",
/// capabilities).
pub(super) fn organization(t: &Tenant, ctx: &Ctx<'_>) -> R {
    let vd: Vec<Value> = t
        .domains
        .iter()
        .map(|d| json!({"capabilities": "Email, OfficeCommunicationsOnline", "isDefault": d.is_default, "isInitial": d.is_initial, "name": d.id, "type": d.authentication_type}))
        .collect();
    Ok(Resp::ok(json!({
        "@odata.context": context(ctx, "organization", &None),
        "value": [{ "id": t.tenant_id.to_string(), "displayName": t.tenant_name, "verifiedDomains": vd }]
    })))
}
