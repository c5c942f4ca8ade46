//! The test door (not Graph): `POST /_emulator/users`, `/_emulator/groups` and
//! `/_emulator/domains` create what Graph cannot — objects synchronised from an
//! on-premises directory, mail-enabled security groups and distribution lists (which
//! Exchange Online creates), proxy addresses, the members of dynamic groups, and
//! federated domains — with Graph-shaped bodies. The objects then behave as Graph
//! documents for such objects (docs/emulator.md, "The test door").

use serde_json::{Map, Value};
use uuid::Uuid;

use super::groups::check_group_shape;
use super::links::{bind_list, check_member_target};
use super::users::{check_user_uniqueness, validate_upn};
use super::{Ctx, R, Resp, parse_body};
use crate::emulator::error::{GraphError, iso_now};
use crate::emulator::model::{self, Domain, Group, Tenant, User};
use crate::emulator::proxy;

fn want_str(v: &Value, key: &str, resource: &str) -> Result<Option<String>, GraphError> {
    match v {
        Value::Null => Ok(None),
        Value::String(s) => Ok(Some(s.clone())),
        _ => Err(GraphError::invalid_value(key, resource)),
    }
}

fn want_date(v: &Value, key: &str, resource: &str) -> Result<Option<String>, GraphError> {
    let s = want_str(v, key, resource)?;
    if let Some(d) = &s
        && time::OffsetDateTime::parse(d, &time::format_description::well_known::Rfc3339).is_err()
    {
        return Err(GraphError::invalid_value(key, resource));
    }
    Ok(s)
}

fn want_id(v: &Value, key: &str, resource: &str) -> Result<Uuid, GraphError> {
    v.as_str()
        .and_then(|s| Uuid::parse_str(s).ok())
        .ok_or_else(|| GraphError::invalid_value(key, resource))
}

fn want_addresses(v: &Value, key: &str, resource: &str) -> Result<Vec<String>, GraphError> {
    let Value::Array(a) = v else {
        return Err(GraphError::invalid_value(key, resource));
    };
    a.iter()
        .map(|x| match x.as_str() {
            Some(s) if s.contains(':') && s.contains('@') => Ok(s.to_string()),
            _ => Err(GraphError::invalid_value(key, resource)),
        })
        .collect()
}

fn full_json(m: Map<String, Value>, ctx: &Ctx<'_>, what: &str) -> Value {
    let mut out = Map::new();
    out.insert(
        "@odata.context".into(),
        Value::String(format!("{}/v1.0/$metadata#{what}/$entity", ctx.base)),
    );
    out.extend(m);
    Value::Object(out)
}

/// Build a user from a door body (Graph's writable properties plus those Graph sets).
pub fn user_from(t: &Tenant, b: &Map<String, Value>, now: &str) -> Result<User, GraphError> {
    const R: &str = "User";
    let mut u = User {
        id: Uuid::new_v4(),
        account_enabled: true,
        created_date_time: now.to_string(),
        user_type: Some("Member".into()),
        ..Default::default()
    };
    for (k, v) in b {
        match k.as_str() {
            "id" => u.id = want_id(v, k, R)?,
            "createdDateTime" => {
                if let Some(d) = want_date(v, k, R)? {
                    u.created_date_time = d;
                }
            }
            "onPremisesSyncEnabled" => u.on_premises_sync_enabled = v.as_bool(),
            "onPremisesSamAccountName" => u.on_premises_sam_account_name = want_str(v, k, R)?,
            "onPremisesLastSyncDateTime" => {
                u.on_premises_last_sync_date_time = want_date(v, k, R)?;
            }
            "creationType" => u.creation_type = want_str(v, k, R)?,
            "externalUserState" => u.external_user_state = want_str(v, k, R)?,
            "externalUserStateChangeDateTime" => {
                u.external_user_state_change_date_time = want_date(v, k, R)?;
            }
            "proxyAddresses" => u.extra_proxy_addresses = want_addresses(v, k, R)?,
            "passwordProfile" => {}
            _ => model::set_user_prop(&mut u, k, v)?,
        }
    }
    if u.user_principal_name.is_empty() || u.display_name.is_empty() {
        return Err(GraphError::bad_request(
            "Properties 'userPrincipalName' and 'displayName' are required.",
        ));
    }
    if u.mail_nickname.is_empty() {
        u.mail_nickname = u
            .user_principal_name
            .split('@')
            .next()
            .unwrap_or_default()
            .to_string();
    }
    if t.users.contains_key(&u.id) || t.groups.contains_key(&u.id) {
        return Err(GraphError::conflict_property("id"));
    }
    validate_upn(t, &u.user_principal_name, None)?;
    check_user_uniqueness(t, &u)?;
    Ok(u)
}

/// Build a group from a door body: any mailEnabled/securityEnabled combination, the
/// properties Graph sets, and `members` as a list of object ids (or
/// `members@odata.bind`).
pub fn group_from(
    t: &Tenant,
    ctx: &Ctx<'_>,
    b: &Map<String, Value>,
    now: &str,
) -> Result<(Group, Vec<Uuid>), GraphError> {
    const R: &str = "Group";
    let mut g = Group {
        id: Uuid::new_v4(),
        created_date_time: now.to_string(),
        ..Default::default()
    };
    let mut members: Vec<Uuid> = Vec::new();
    for (k, v) in b {
        match k.as_str() {
            "id" => g.id = want_id(v, k, R)?,
            "createdDateTime" => {
                if let Some(d) = want_date(v, k, R)? {
                    g.created_date_time = d;
                }
            }
            "mail" => g.mail = want_str(v, k, R)?,
            "onPremisesSyncEnabled" => g.on_premises_sync_enabled = v.as_bool(),
            "onPremisesSamAccountName" => g.on_premises_sam_account_name = want_str(v, k, R)?,
            "onPremisesLastSyncDateTime" => {
                g.on_premises_last_sync_date_time = want_date(v, k, R)?;
            }
            "proxyAddresses" => g.extra_proxy_addresses = want_addresses(v, k, R)?,
            "members" => {
                let Value::Array(a) = v else {
                    return Err(GraphError::invalid_value(k, R));
                };
                for m in a {
                    members.push(want_id(m, k, R)?);
                }
            }
            "members@odata.bind" => members.extend(bind_list(b, k, "members")?),
            "owners@odata.bind" => {}
            _ => model::set_group_prop(&mut g, k, v)?,
        }
    }
    if g.display_name.is_empty() || g.mail_nickname.is_empty() {
        return Err(GraphError::bad_request(
            "Properties 'displayName' and 'mailNickname' are required.",
        ));
    }
    if t.users.contains_key(&g.id) || t.groups.contains_key(&g.id) {
        return Err(GraphError::conflict_property("id"));
    }
    if g.mail_enabled && g.mail.is_none() {
        g.mail = Some(format!("{}@{}", g.mail_nickname, t.default_domain()));
    }
    check_group_shape(&mut g)?;
    if let Some(u) = &g.unique_name
        && t.group_by_unique_name(u).is_some()
    {
        return Err(GraphError::conflict_property("uniqueName"));
    }
    t.check_proxies(g.id, &proxy::group_proxies(&g))?;
    members.sort();
    members.dedup();
    for m in &members {
        check_member_target(t, ctx, &g, *m, false)?;
    }
    Ok((g, members))
}

/// Insert a group with its members (member events recorded, licences processed).
pub fn insert_group_with_members(t: &mut Tenant, mut g: Group, members: Vec<Uuid>, now: &str) {
    let id = g.id;
    g.members = members.iter().copied().collect();
    t.insert_group(g);
    for m in &members {
        t.record_member_event(id, *m, true);
    }
    t.reprocess_group_members(id, now);
}

/// Route one door request.
pub(super) fn handle(t: &mut Tenant, ctx: &mut Ctx<'_>, kind: &str, body: &[u8]) -> R {
    let b = parse_body(body)?;
    let now = iso_now(ctx.now);
    match kind {
        "users" => {
            let u = user_from(t, &b, &now)?;
            let id = u.id;
            t.insert_user(u);
            let all: Vec<String> = model::USER_PROPS.iter().map(|s| s.to_string()).collect();
            let m = t
                .users
                .get(&id)
                .map(|u| model::user_json(u, Some(&all), false))
                .unwrap_or_default();
            Ok(Resp::json(201, full_json(m, ctx, "users")).wrote())
        }
        "groups" => {
            let (g, members) = group_from(t, ctx, &b, &now)?;
            let id = g.id;
            insert_group_with_members(t, g, members, &now);
            let all: Vec<String> = model::GROUP_PROPS.iter().map(|s| s.to_string()).collect();
            let m = t
                .groups
                .get(&id)
                .map(|g| model::group_json(g, Some(&all), false))
                .unwrap_or_default();
            Ok(Resp::json(201, full_json(m, ctx, "groups")).wrote())
        }
        _ => {
            let id = b
                .get("id")
                .and_then(Value::as_str)
                .map(|s| s.trim().to_ascii_lowercase())
                .filter(|s| s.contains('.') && !s.contains(char::is_whitespace))
                .ok_or_else(|| GraphError::invalid_value("id", "Domain"))?;
            let auth = match b.get("authenticationType").and_then(Value::as_str) {
                None => "Managed",
                Some(a) if a.eq_ignore_ascii_case("Managed") => "Managed",
                Some(a) if a.eq_ignore_ascii_case("Federated") => "Federated",
                Some(_) => return Err(GraphError::invalid_value("authenticationType", "Domain")),
            };
            if t.domains.iter().any(|d| d.id == id) {
                return Err(GraphError::conflict_property("id"));
            }
            let d = Domain {
                id,
                is_default: false,
                is_initial: false,
                authentication_type: auth.into(),
            };
            let mut v = model::domain_json(&d);
            t.domains.push(d);
            if let Value::Object(o) = &mut v {
                o.insert(
                    "@odata.context".into(),
                    Value::String(format!("{}/v1.0/$metadata#domains/$entity", ctx.base)),
                );
            }
            Ok(Resp::json(201, v).wrote())
        }
    }
}
