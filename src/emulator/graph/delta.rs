//! Delta queries of users and groups: the initial round, incremental rounds from a
//! delta token (with `members@delta`), token expiry and replication lag.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::ops::Bound;

use serde_json::{Map, Value, json};
use uuid::Uuid;

use super::collection::range_after;
use super::{Ctx, R, Resp, check_select, context};
use crate::emulator::error::GraphError;
use crate::emulator::model::{self, Change, Tenant};
use crate::emulator::odata::{self, Query};

#[derive(Clone, Copy, PartialEq)]
pub(super) enum Kind {
    User,
    Group,
}

/// The most objects one `$filter=id eq '…' or …` may name (user-delta.md,
/// group-delta.md: "There is a limit of 50 filtered objects").
const MAX_FILTER_IDS: usize = 50;

/// `410 Gone` for a token this replica cannot serve. concepts/delta-query-overview.md,
/// "Synchronization reset": the response carries "a **Location** header containing a
/// request URL with an empty `$deltaToken` (same as the initial query)" — here the
/// initial query of the token's `$select` and `$filter`.
fn delta_expired(ctx: &Ctx<'_>, coll: &str, token: Option<&Value>) -> GraphError {
    let mut url = format!("{}/v1.0/{coll}/delta?", ctx.base);
    if let Some(sel) = token
        .and_then(|v| v.get("sel"))
        .and_then(Value::as_array)
        .filter(|a| !a.is_empty())
    {
        let names: Vec<&str> = sel.iter().filter_map(Value::as_str).collect();
        url.push_str(&format!("$select={}&", names.join(",")));
    }
    if let Some(ids) = token
        .and_then(|v| v.get("f"))
        .and_then(Value::as_array)
        .filter(|a| !a.is_empty())
    {
        let terms: Vec<String> = ids
            .iter()
            .filter_map(Value::as_str)
            .map(|id| format!("id%20eq%20%27{id}%27"))
            .collect();
        url.push_str(&format!("$filter={}&", terms.join("%20or%20")));
    }
    url.push_str("$deltatoken=");
    GraphError::new(
        410,
        "syncStateNotFound",
        "The sync state generation is not found or has expired. Start a new full synchronization without a delta token.",
    )
    .with_header("Location", url)
}

/// The objects a delta `$filter` names. user-delta.md / group-delta.md: "The only
/// supported `$filter` expression is for tracking changes on a specific object:
/// `$filter=id+eq+{value}`. You can filter multiple objects … `id eq '…' or id eq
/// '…'`. There is a limit of 50 filtered objects." Anything else keeps the
/// unsupported-query answer.
fn parse_id_filter(filter: &str, coll: &str) -> Result<BTreeSet<Uuid>, GraphError> {
    let unsupported = || {
        GraphError::unsupported_query(format!(
            "Only $filter=id eq '{{id}}' (joined by 'or') is supported on {coll}/delta."
        ))
    };
    let mut ids = BTreeSet::new();
    let mut terms = 0usize;
    let mut rest = filter.trim();
    loop {
        // `id eq '<value>'`, keywords in any case.
        let after_id = strip_word(rest, "id").ok_or_else(unsupported)?;
        let after_eq = strip_word(after_id, "eq").ok_or_else(unsupported)?;
        let quoted = after_eq.strip_prefix('\'').ok_or_else(unsupported)?;
        let end = quoted.find('\'').ok_or_else(unsupported)?;
        let value = &quoted[..end];
        let id = Uuid::parse_str(value).map_err(|_| {
            GraphError::bad_request(format!("Invalid object identifier '{value}'."))
        })?;
        ids.insert(id);
        terms += 1;
        rest = quoted[end + 1..].trim_start();
        if rest.is_empty() {
            break;
        }
        rest = strip_word(rest, "or").ok_or_else(unsupported)?;
    }
    if terms > MAX_FILTER_IDS {
        return Err(GraphError::unsupported_query(format!(
            "The $filter on {coll}/delta names {terms} objects; at most {MAX_FILTER_IDS} are supported."
        )));
    }
    Ok(ids)
}

/// `s` without its leading keyword `word` (any case) and the whitespace after it.
/// Drop from a deltaLink-round object every property (and `manager@delta`) whose slot
/// did not change after `base`; `id` and annotations stay.
fn keep_changed(m: &mut Map<String, Value>, mk: &model::DeltaMarks, kind: Kind, base: u64) {
    if mk.loaded {
        return;
    }
    let changed = |slot: usize| {
        mk.changed
            .iter()
            .any(|(s, seq)| usize::from(*s) == slot && *seq > base)
    };
    m.retain(|k, _| {
        if k == "id" {
            return true;
        }
        if k == "manager@delta" {
            return changed(model::USER_SLOT_MANAGER);
        }
        let slot = match kind {
            Kind::User => model::user_slot(k),
            Kind::Group => model::group_slot(k),
        };
        slot.is_none_or(changed)
    });
}

fn strip_word<'a>(s: &'a str, word: &str) -> Option<&'a str> {
    let s = s.trim_start();
    let head = s.get(..word.len())?;
    if !head.eq_ignore_ascii_case(word) {
        return None;
    }
    let tail = &s[word.len()..];
    let next = tail.chars().next()?;
    (next.is_whitespace() || (word == "eq" && next == '\'')).then(|| tail.trim_start())
}

/// `manager@delta` of a user (delta-query-users.md): its manager as a one-element
/// list, or — in an incremental round — the manager last taken away marked
/// `@removed`; nothing when it has none to report.
fn manager_delta(
    t: &Tenant,
    ctx: &Ctx<'_>,
    u: &model::User,
    incremental: bool,
    m: &mut Map<String, Value>,
) {
    let entry = |id: &Uuid| json!({ "@odata.type": "#microsoft.graph.user", "id": id.to_string() });
    if let Some(mid) = u
        .manager
        .filter(|mid| t.users.contains_key(mid) && !ctx.hidden.contains(mid))
    {
        m.insert("manager@delta".into(), json!([entry(&mid)]));
    } else if let Some(old) = u.manager_removed.filter(|_| incremental) {
        let mut e = entry(&old);
        e["@removed"] = json!({ "reason": "deleted" });
        m.insert("manager@delta".into(), json!([e]));
    }
}

pub(super) fn delta(t: &Tenant, ctx: &Ctx<'_>, q: &Query, kind: Kind) -> R {
    let (coll, entity) = match kind {
        Kind::User => ("users", "user"),
        Kind::Group => ("groups", "group"),
    };
    // concepts/delta-query-overview.md ("Optional query parameters"): for users and
    // groups "`$expand` is not supported. `$top` is not supported. `$orderby` is not
    // supported" — refused, never a 200 that drops them (page size comes from
    // `Prefer: odata.maxpagesize`).
    if q.orderby.is_some() || q.search.is_some() || q.expand.is_some() || q.top.is_some() {
        return Err(GraphError::unsupported_query(format!(
            "Only $select, $filter by id and $deltatoken/$skiptoken are supported on {coll}/delta by this tenant."
        )));
    }
    let filter_ids: Option<Vec<String>> = match &q.filter {
        Some(f) => Some(
            parse_id_filter(f, coll)?
                .iter()
                .map(Uuid::to_string)
                .collect(),
        ),
        None => None,
    };
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
    // An empty `$deltatoken` (the Location of a reset) is the initial query.
    let deltatoken = q.deltatoken.as_deref().filter(|t| !t.trim().is_empty());
    let state: Value = if let Some(tok) = &q.skiptoken {
        odata::decode_token(tok).ok_or_else(bad_token)?
    } else if let Some(tok) = deltatoken {
        if tok == "latest" {
            let dl = odata::encode_token(
                &json!({ "k": coll, "g": t.sync_generation.to_string(), "s": visible_seq, "t": now_unix, "sel": q.select, "f": filter_ids }),
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
            return Err(delta_expired(ctx, coll, Some(&v)));
        }
        let sel = if q.select.is_some() {
            json!(q.select)
        } else {
            v.get("sel").cloned().unwrap_or(Value::Null)
        };
        let f = if filter_ids.is_some() {
            json!(filter_ids)
        } else {
            v.get("f").cloned().unwrap_or(Value::Null)
        };
        json!({ "k": coll, "g": t.sync_generation.to_string(), "p": "inc", "b": s, "c": s, "e": visible_seq.max(s), "t": v.get("t").cloned().unwrap_or(json!(0)), "sel": sel, "f": f })
    } else {
        json!({ "k": coll, "g": t.sync_generation.to_string(), "p": "init", "e": visible_seq, "t": now_unix, "sel": q.select, "f": filter_ids })
    };
    if state.get("g").and_then(Value::as_str) != Some(t.sync_generation.to_string().as_str()) {
        return Err(delta_expired(ctx, coll, Some(&state)));
    }
    if state.get("k").and_then(Value::as_str) != Some(coll) {
        return Err(bad_token());
    }
    let select: Option<Vec<String>> =
        serde_json::from_value(state.get("sel").cloned().unwrap_or(Value::Null)).unwrap_or(None);
    // The objects a `$filter=id eq …` scopes the round to (kept in the tokens).
    let scope: Option<BTreeSet<Uuid>> =
        serde_json::from_value::<Option<Vec<Uuid>>>(state.get("f").cloned().unwrap_or(Value::Null))
            .map_err(|_| bad_token())?
            .map(|v| v.into_iter().collect());
    // concepts/delta-query-groups.md ("Paging through members in a large group"): "The
    // `members@delta` property is included in group objects by default, when the
    // `$select` query parameter has not been specified"; group-delta.md Response 1
    // (no `$select`) notes "the presence of the _members@delta_ property".
    let want_members = kind == Kind::Group
        && select
            .as_ref()
            .is_none_or(|s| s.iter().any(|p| p == "members"));
    // concepts/delta-query-overview.md: "`$select` also supports **manager** and
    // **members** navigation properties for users and groups respectively", reported
    // as `manager@delta` / `members@delta` annotations.
    let want_manager = kind == Kind::User
        && select
            .as_ref()
            .is_some_and(|s| s.iter().any(|p| p == "manager"));
    let nav = match kind {
        Kind::User => "manager",
        Kind::Group => "members",
    };
    let prop_select: Option<Vec<String>> = select
        .as_ref()
        .map(|s| s.iter().filter(|p| *p != nav).cloned().collect());
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
        return Err(delta_expired(ctx, coll, Some(&state)));
    }
    // The slots whose changes put an object in an incremental round
    // (concepts/delta-query-overview.md, optional query parameters: with `$select` "the
    // client prefers to only track changes on the properties or relationships specified
    // in the `$select` statement. If a change occurs to a property that is not selected,
    // the resource for which that property changed does not appear in the delta response
    // after a subsequent request"; without it "a default set of properties is tracked",
    // user-delta.md / group-delta.md Example 1).
    let tracked: Vec<usize> = match (kind, &select) {
        (Kind::User, Some(s)) => s.iter().filter_map(|p| model::user_slot(p)).collect(),
        (Kind::Group, Some(s)) => s.iter().filter_map(|p| model::group_slot(p)).collect(),
        (Kind::User, None) => model::USER_DEFAULT
            .iter()
            .filter_map(|p| model::user_slot(p))
            .collect(),
        (Kind::Group, None) => model::GROUP_PROPS
            .iter()
            .filter(|p| !model::GROUP_SELECT_ONLY.contains(p))
            .filter_map(|p| model::group_slot(p))
            .chain([model::GROUP_SLOT_MEMBERS])
            .collect(),
    };
    let marks = match kind {
        Kind::User => &t.user_marks,
        Kind::Group => &t.group_marks,
    };
    let in_scope = |id: &Uuid| scope.as_ref().is_none_or(|s| s.contains(id));
    let top = ctx
        .max_page
        .unwrap_or(if want_members { 50 } else { 100 })
        .clamp(1, 999);
    let phase = state.get("p").and_then(Value::as_str).unwrap_or("");
    // user-delta.md, "Default: return the same properties as initial delta request":
    // on a deltaLink round, "If the property has never been set before it will not be
    // included in the response at all" — a `null` whose slot never changed since the
    // object appeared.
    let drop_never_set = |m: &mut Map<String, Value>, id: &Uuid| {
        if phase != "inc" {
            return;
        }
        let Some(mk) = marks.get(id) else { return };
        m.retain(|k, v| {
            let slot = match kind {
                Kind::User => model::user_slot(k),
                Kind::Group => model::group_slot(k),
            };
            !(v.is_null() && slot.is_some_and(|s| !mk.ever_changed(s)))
        });
    };
    let project = |id: &Uuid| -> Option<Map<String, Value>> {
        let sel = prop_select.as_deref().filter(|s| !s.is_empty());
        let m = match kind {
            Kind::User => t.users.get(id).map(|u| {
                let mut m = model::user_json(u, sel, false);
                m.insert("id".into(), json!(u.id.to_string()));
                if want_manager {
                    manager_delta(t, ctx, u, phase == "inc", &mut m);
                }
                m
            }),
            Kind::Group => t.groups.get(id).map(|g| {
                let mut m = model::group_json(g, sel, false);
                m.insert("id".into(), json!(g.id.to_string()));
                m
            }),
        };
        m.map(|mut m| {
            drop_never_set(&mut m, id);
            m
        })
    };
    let mut value = Vec::new();
    let mut next_state: Option<Value> = None;
    match phase {
        "init" => {
            let after = state
                .get("a")
                .and_then(Value::as_str)
                .and_then(|s| Uuid::parse_str(s).ok());
            let ids: Box<dyn Iterator<Item = &Uuid>> = match (&scope, kind) {
                (Some(s), _) => Box::new(
                    s.range((
                        after.map_or(Bound::Unbounded, Bound::Excluded),
                        Bound::Unbounded,
                    ))
                    .filter(|id| match kind {
                        Kind::User => t.users.contains_key(id),
                        Kind::Group => t.groups.contains_key(id),
                    }),
                ),
                (None, Kind::User) => Box::new(range_after(&t.users, after).map(|(k, _)| k)),
                (None, Kind::Group) => Box::new(range_after(&t.groups, after).map(|(k, _)| k)),
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
                        // concepts/delta-query-groups.md, initial response: a group
                        // with no members "does not contain that property".
                        if !md.is_empty() {
                            m.insert("members@delta".into(), Value::Array(md));
                        }
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
                return Err(delta_expired(ctx, coll, Some(&state)));
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
                        // Objects whose changes since the token touch none of the
                        // tracked slots are not part of the round.
                        if ctx.hidden.contains(&id)
                            || !in_scope(&id)
                            || marks
                                .get(&id)
                                .is_some_and(|mk| !mk.changed_since(&tracked, base))
                        {
                            last_seq = seq;
                            continue;
                        }
                        if let Some(mut m) = project(&id) {
                            // user-delta.md / group-delta.md, `Prefer: return=minimal`:
                            // "If the property has not changed, the property is not
                            // included in the response at all" (the id always is). An
                            // object created since the token has every property changed.
                            if ctx.return_minimal
                                && let Some(mk) = marks.get(&id)
                                && mk.born <= base
                            {
                                keep_changed(&mut m, mk, kind, base);
                            }
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
                    Change::Removed(id, _) if !in_scope(&id) => {}
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
                &json!({ "k": coll, "g": t.sync_generation.to_string(), "s": end, "t": now_unix, "sel": select, "f": state.get("f").cloned().unwrap_or(Value::Null) }),
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
