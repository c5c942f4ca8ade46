//! A user's manager and direct reports: `PUT`/`GET`/`DELETE /users/{id}/manager/$ref`
//! (user-post-manager.md, user-delete-manager.md), `GET /users/{id}/manager`
//! (user-list-manager.md), `GET /users/{id}/directReports`
//! (user-list-directreports.md), and `$expand=manager` / `$expand=directReports` on
//! user reads, with `$select` (and `$levels` for the management chain) inside.

use std::collections::HashSet;

use serde_json::{Map, Value, json};
use uuid::Uuid;

use super::collection::{next_link, page_size, skip_after};
use super::links::ref_target;
use super::users::synced_refusal;
use super::{Ctx, R, Resp, check_select, context, parse_body};
use crate::emulator::error::GraphError;
use crate::emulator::model::{self, Tenant};
use crate::emulator::odata::Query;

/// What Graph answers when the user has no manager: 404 `Request_ResourceNotFound`
/// naming the `manager` reference.
fn no_manager() -> GraphError {
    GraphError::not_found("manager")
}

/// The user's manager, if it is live and visible to this replica.
fn live_manager(t: &Tenant, ctx: &Ctx<'_>, id: Uuid) -> Option<Uuid> {
    t.users
        .get(&id)?
        .manager
        .filter(|m| t.users.contains_key(m) && !ctx.hidden.contains(m))
}

/// `PUT /users/{id}/manager/$ref` with `{"@odata.id": ".../users/{id}"}` (or
/// `.../directoryObjects/{id}`): 204. The manager must be another live user; a user
/// synchronised from on premises takes its manager from there.
pub(super) fn put_manager(t: &mut Tenant, ctx: &Ctx<'_>, body: &[u8], id: Uuid) -> R {
    let b = parse_body(body)?;
    let target = match b.get("@odata.id") {
        Some(v) => ref_target(v, "manager")?,
        None => {
            return Err(GraphError::bad_request(
                "The request body is missing the '@odata.id' reference.",
            ));
        }
    };
    let Some(u) = t.users.get(&id) else {
        return Err(GraphError::not_found(&id.to_string()));
    };
    if u.is_synced() {
        return Err(synced_refusal());
    }
    if ctx.hidden.contains(&target) {
        return Err(GraphError::not_found(&target.to_string()));
    }
    match t.kind_of(&target) {
        None => return Err(GraphError::not_found(&target.to_string())),
        Some("user") => {}
        Some(_) => {
            return Err(GraphError::bad_request(
                "The manager of a user must be a user or an organizational contact.",
            ));
        }
    }
    if target == id {
        return Err(GraphError::bad_request("A user cannot be its own manager."));
    }
    t.set_manager(id, Some(target));
    Ok(Resp::no_content())
}

/// `DELETE /users/{id}/manager/$ref`: 204, or 404 when the user has no manager.
pub(super) fn delete_manager(t: &mut Tenant, ctx: &Ctx<'_>, id: Uuid) -> R {
    let Some(u) = t.users.get(&id) else {
        return Err(GraphError::not_found(&id.to_string()));
    };
    if u.is_synced() {
        return Err(synced_refusal());
    }
    if live_manager(t, ctx, id).is_none() {
        return Err(no_manager());
    }
    t.set_manager(id, None);
    Ok(Resp::no_content())
}

/// `GET /users/{id}/manager`: the manager as a directoryObject (with `@odata.type`),
/// `$select` honoured; 404 when there is none.
pub(super) fn get_manager(t: &Tenant, ctx: &Ctx<'_>, q: &Query, id: Uuid) -> R {
    check_select(&q.select, &model::is_user_prop, "user")?;
    let m = live_manager(t, ctx, id).ok_or_else(no_manager)?;
    let mut out = Map::new();
    out.insert(
        "@odata.context".into(),
        json!(format!(
            "{}/$entity",
            context(ctx, "directoryObjects", &q.select)
        )),
    );
    if let Some(mu) = t.users.get(&m) {
        out.extend(model::user_json(mu, q.select.as_deref(), true));
    }
    Ok(Resp::ok(Value::Object(out)))
}

/// `GET /users/{id}/manager/$ref`: the manager's `@odata.id`; 404 when there is none.
pub(super) fn get_manager_ref(t: &Tenant, ctx: &Ctx<'_>, id: Uuid) -> R {
    let m = live_manager(t, ctx, id).ok_or_else(no_manager)?;
    Ok(Resp::ok(json!({
        "@odata.context": format!("{}/v1.0/$metadata#directoryObjects/$ref", ctx.base),
        "@odata.id": format!(
            "{}/v2/{}/directoryObjects/{}/Microsoft.DirectoryServices.User",
            ctx.base, t.tenant_id, m
        ),
    })))
}

/// `GET /users/{id}/directReports`: the users whose manager it is, paged in id order.
pub(super) fn direct_reports(t: &Tenant, ctx: &Ctx<'_>, q: &Query, id: Uuid) -> R {
    check_select(&q.select, &model::is_user_prop, "user")?;
    if let Some(e) = &q.expand {
        return Err(GraphError::unsupported_query(format!(
            "Expanding '{e}' is not supported."
        )));
    }
    let top = page_size(ctx, q);
    let after = skip_after(q, "directReports")?;
    let reports: Vec<Uuid> = t
        .reports_of(&id)
        .into_iter()
        .filter(|r| !ctx.hidden.contains(r) && after.is_none_or(|a| *r > a))
        .collect();
    let more = reports.len() > top;
    let page = &reports[..reports.len().min(top)];
    let mut out = Map::new();
    out.insert(
        "@odata.context".into(),
        json!(context(ctx, "directoryObjects", &q.select)),
    );
    if more && let Some(last) = page.last() {
        out.insert(
            "@odata.nextLink".into(),
            json!(next_link(
                ctx,
                &format!("users/{id}/directReports"),
                q,
                "directReports",
                last
            )),
        );
    }
    let value: Vec<Value> = page
        .iter()
        .filter_map(|r| t.users.get(r))
        .map(|u| Value::Object(model::user_json(u, q.select.as_deref(), true)))
        .collect();
    out.insert("value".into(), Value::Array(value));
    Ok(Resp::ok(Value::Object(out)))
}

/// How deep a `$levels` walks up the management chain.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Levels {
    N(u32),
    Max,
}

/// One parsed `$expand` item on users.
#[derive(Debug, Clone, PartialEq)]
enum Item {
    Manager {
        select: Option<Vec<String>>,
        levels: Levels,
    },
    DirectReports {
        select: Option<Vec<String>>,
    },
}

/// The `$expand` of a user read: `manager` and `directReports`, each optionally with
/// `($select=…)`, the manager also with `$levels=n|max` (user-list-manager.md).
#[derive(Debug, Clone, Default, PartialEq)]
pub(super) struct Expand {
    items: Vec<Item>,
}

/// Split on `sep` outside parentheses.
fn split_top(s: &str, sep: char) -> Vec<&str> {
    let mut out = Vec::new();
    let mut depth = 0i32;
    let mut start = 0;
    for (i, c) in s.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            c if c == sep && depth == 0 => {
                out.push(&s[start..i]);
                start = i + c.len_utf8();
            }
            _ => {}
        }
    }
    out.push(&s[start..]);
    out
}

fn parse_select(v: &str) -> Result<Vec<String>, GraphError> {
    let sel: Vec<String> = v
        .split(',')
        .map(|p| p.trim().to_string())
        .filter(|p| !p.is_empty())
        .collect();
    if sel.is_empty() {
        return Err(GraphError::odata_bad_request(
            "Syntax error: '$select' is empty.",
        ));
    }
    let check = Some(sel.clone());
    check_select(&check, &model::is_user_prop, "user")?;
    Ok(sel)
}

impl Expand {
    /// Parse `q.expand`; anything but `manager` and `directReports` is refused as the
    /// emulator's other list endpoints refuse `$expand`.
    pub(super) fn parse(q: &Query) -> Result<Expand, GraphError> {
        let Some(raw) = &q.expand else {
            return Ok(Expand::default());
        };
        let bad =
            |e: &str| GraphError::unsupported_query(format!("Expanding '{e}' is not supported."));
        let syntax = || GraphError::odata_bad_request(format!("Syntax error in '$expand={raw}'."));
        let mut items = Vec::new();
        for part in split_top(raw, ',') {
            let part = part.trim();
            let (name, opts) = match part.split_once('(') {
                Some((n, rest)) => (n.trim(), Some(rest.strip_suffix(')').ok_or_else(syntax)?)),
                None => (part, None),
            };
            let mut select = None;
            let mut levels = Levels::N(1);
            for opt in opts.map(|o| split_top(o, ';')).unwrap_or_default() {
                let opt = opt.trim();
                if opt.is_empty() {
                    continue;
                }
                let (k, v) = opt.split_once('=').ok_or_else(syntax)?;
                match k.trim().to_ascii_lowercase().as_str() {
                    "$select" => select = Some(parse_select(v)?),
                    "$levels" if name == "manager" => {
                        levels = match v.trim() {
                            "max" => Levels::Max,
                            n => match n.parse::<u32>() {
                                Ok(n) if (1..=1000).contains(&n) => Levels::N(n),
                                _ => {
                                    return Err(GraphError::odata_bad_request(format!(
                                        "The value '{n}' of '$levels' is invalid: use 'max' or a number between 1 and 1000."
                                    )));
                                }
                            },
                        }
                    }
                    _ => {
                        return Err(GraphError::odata_bad_request(format!(
                            "The query option '{}' is not supported inside '$expand'.",
                            k.trim()
                        )));
                    }
                }
            }
            match name {
                "manager" => items.push(Item::Manager { select, levels }),
                "directReports" => items.push(Item::DirectReports { select }),
                other => return Err(bad(other)),
            }
        }
        Ok(Expand { items })
    }

    /// Add the expanded navigation properties to user `id`'s projection `m`. A user
    /// without a manager has no `manager` member.
    pub(super) fn apply(&self, t: &Tenant, ctx: &Ctx<'_>, id: Uuid, m: &mut Map<String, Value>) {
        for item in &self.items {
            match item {
                Item::Manager { select, levels } => {
                    let mut seen = HashSet::from([id]);
                    if let Some(v) =
                        manager_chain(t, ctx, id, select.as_deref(), *levels, &mut seen)
                    {
                        m.insert("manager".into(), v);
                    }
                }
                Item::DirectReports { select } => {
                    let v: Vec<Value> = t
                        .reports_of(&id)
                        .iter()
                        .filter(|r| !ctx.hidden.contains(r))
                        .filter_map(|r| t.users.get(r))
                        .map(|u| Value::Object(model::user_json(u, select.as_deref(), true)))
                        .collect();
                    m.insert("directReports".into(), Value::Array(v));
                }
            }
        }
    }
}

/// The manager of `id` as an expanded object, with its own manager nested up to
/// `levels` (a cycle ends the chain).
fn manager_chain(
    t: &Tenant,
    ctx: &Ctx<'_>,
    id: Uuid,
    select: Option<&[String]>,
    levels: Levels,
    seen: &mut HashSet<Uuid>,
) -> Option<Value> {
    let mid = live_manager(t, ctx, id)?;
    if !seen.insert(mid) {
        return None;
    }
    let mu = t.users.get(&mid)?;
    let mut m = model::user_json(mu, select, true);
    let deeper = match levels {
        Levels::Max => Some(Levels::Max),
        Levels::N(n) if n > 1 => Some(Levels::N(n - 1)),
        Levels::N(_) => None,
    };
    if let Some(l) = deeper
        && let Some(v) = manager_chain(t, ctx, mid, select, l, seen)
    {
        m.insert("manager".into(), v);
    }
    Some(Value::Object(m))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(expand: &str) -> Query {
        Query::parse(Some(&format!("$expand={expand}"))).expect("query")
    }

    #[test]
    fn expand_items_with_select_and_levels() {
        let e = Expand::parse(&q("manager($select=id,displayName)")).expect("parse");
        assert_eq!(
            e.items,
            vec![Item::Manager {
                select: Some(vec!["id".into(), "displayName".into()]),
                levels: Levels::N(1)
            }]
        );
        let e = Expand::parse(&q("manager($levels=max;$select=id),directReports")).expect("parse");
        assert_eq!(e.items.len(), 2);
        assert!(matches!(
            e.items[0],
            Item::Manager {
                levels: Levels::Max,
                ..
            }
        ));
        assert!(Expand::parse(&q("memberOf")).is_err());
        assert!(Expand::parse(&q("manager($select=bogus)")).is_err());
        assert!(Expand::parse(&q("manager($levels=0)")).is_err());
        assert!(Expand::parse(&q("manager($select=id")).is_err());
        assert!(Expand::parse(&q("directReports($levels=2)")).is_err());
    }
}
