//! Groups: list, get, create (with `members@odata.bind` / `owners@odata.bind`), update
//! and delete (Microsoft 365 groups soft-deleted, others permanently).

use std::collections::HashSet;

use serde_json::{Map, Value, json};
use uuid::Uuid;

use super::collection::{
    EXPAND_LIMIT, expand_items, expand_select, next_link, offset_link, page_size, prepare_filter,
    range_after, skip_after, sorted_page, take_page,
};
use super::links::{already_exist, bind_list, check_member_target, check_member_writes};
use super::users::synced_refusal;
use super::{Ctx, R, Resp, check_select, context, parse_body};
use crate::emulator::error::{GraphError, iso_now};
use crate::emulator::model::{self, DeletedGroup, Group, Tenant};
use crate::emulator::odata::{self, Query};
use crate::emulator::proxy;
use crate::emulator::roles::{self, ROLE_MANAGEMENT_WRITE};

/// The rules of dynamic and role-assignable groups, checked at creation (through
/// Graph and through the test door):
/// - a dynamic group (groupTypes contains `DynamicMembership`) has a `membershipRule`
///   and a `membershipRuleProcessingState` (`On` or `Paused`), and only a dynamic group
///   has them (resources/group.md; api/group-post-groups.md, "groupTypes options");
/// - a group with `isAssignableToRole: true` is security-enabled, not dynamic, either
///   not mail-enabled or a Microsoft 365 group, and always `Private` (resources/
///   group.md, isAssignableToRole and visibility). The messages for a mail-enabled
///   non-Microsoft 365 group and a Microsoft 365 group that is not mail-enabled are
///   those real Graph returns (hashicorp/terraform-provider-azuread issue #946,
///   MicrosoftDocs/azure-docs issue #78786); the others are Graph's generic
///   invalid-value answer.
pub(super) fn check_group_shape(g: &mut Group) -> Result<(), GraphError> {
    const R: &str = "Group";
    if g.is_dynamic() {
        if g.membership_rule
            .as_deref()
            .is_none_or(|r| r.trim().is_empty())
        {
            return Err(GraphError::invalid_value("membershipRule", R));
        }
        if g.membership_rule_processing_state.is_none() {
            return Err(GraphError::invalid_value(
                "membershipRuleProcessingState",
                R,
            ));
        }
    } else if g.membership_rule.is_some() {
        return Err(GraphError::invalid_value("membershipRule", R));
    } else if g.membership_rule_processing_state.is_some() {
        return Err(GraphError::invalid_value(
            "membershipRuleProcessingState",
            R,
        ));
    }
    if g.is_role_assignable() {
        if !g.security_enabled {
            return Err(GraphError::invalid_value("securityEnabled", R));
        }
        if g.is_dynamic() {
            return Err(GraphError::invalid_value("isAssignableToRole", R));
        }
        if g.mail_enabled && !g.is_unified() {
            return Err(GraphError::bad_request(
                "GroupType must be set to Unified for cloud groups assignable to roles.",
            ));
        }
        if g.is_unified() && !g.mail_enabled {
            return Err(GraphError::bad_request(
                "GroupType cannot be set for security groups assignable to roles.",
            ));
        }
        match g.visibility.as_deref() {
            None => g.visibility = Some("Private".into()),
            Some(v) if v.eq_ignore_ascii_case("Private") => g.visibility = Some("Private".into()),
            Some(_) => return Err(GraphError::invalid_value("visibility", R)),
        }
    }
    Ok(())
}

/// A group read's `$expand`: `members` and/or `owners`, each optionally with
/// `($select=…)`; at most [`EXPAND_LIMIT`] objects each, with no nextLink
/// (concepts/query-parameters.md, "expand parameter"). A structural property is not
/// expandable (OData's answer); other relationships are not emulated.
#[derive(Default)]
struct GroupExpand {
    members: Option<Option<Vec<String>>>,
    owners: Option<Option<Vec<String>>>,
}

impl GroupExpand {
    fn parse(q: &Query) -> Result<GroupExpand, GraphError> {
        let mut e = GroupExpand::default();
        let Some(raw) = &q.expand else { return Ok(e) };
        for (name, inner) in expand_items(raw)? {
            let sel = expand_select(inner.as_deref())?;
            check_select(
                &sel,
                &|p| model::is_user_prop(p) || model::is_group_prop(p),
                "directoryObject",
            )?;
            match name.as_str() {
                "members" => e.members = Some(sel),
                "owners" => e.owners = Some(sel),
                p if model::is_group_prop(p) => {
                    return Err(GraphError::odata_bad_request(format!(
                        "Property '{p}' on type 'microsoft.graph.group' is not a navigation property or complex property. Only navigation properties can be expanded."
                    )));
                }
                "memberOf" | "transitiveMembers" | "transitiveMemberOf" | "extensions"
                | "createdOnBehalfOf" | "acceptedSenders" | "rejectedSenders" | "photo"
                | "settings" | "calendar" | "drive" | "sites" | "team" => {
                    return Err(GraphError::unsupported_query(format!(
                        "Expanding '{name}' is not supported."
                    )));
                }
                other => {
                    return Err(GraphError::odata_bad_request(format!(
                        "Could not find a property named '{other}' on type 'microsoft.graph.group'."
                    )));
                }
            }
        }
        Ok(e)
    }

    fn apply(&self, t: &Tenant, ctx: &Ctx<'_>, g: &Group, m: &mut Map<String, Value>) {
        let objects = |ids: &std::collections::BTreeSet<Uuid>, sel: &Option<Vec<String>>| {
            let v: Vec<Value> = ids
                .iter()
                .filter(|id| !ctx.hidden.contains(id))
                .filter_map(|id| {
                    if let Some(u) = t.users.get(id) {
                        Some(Value::Object(model::user_json(u, sel.as_deref(), true)))
                    } else {
                        t.groups
                            .get(id)
                            .map(|g| Value::Object(model::group_json(g, sel.as_deref(), true)))
                    }
                })
                .take(EXPAND_LIMIT)
                .collect();
            Value::Array(v)
        };
        if let Some(sel) = &self.members {
            m.insert("members".into(), objects(&g.members, sel));
        }
        if let Some(sel) = &self.owners {
            m.insert("owners".into(), objects(&g.owners, sel));
        }
    }
}

/// The visibility rules of resources/group.md: "Possible values are: Private, Public,
/// or HiddenMembership. HiddenMembership can be set only for Microsoft 365 groups when
/// the groups are created. It can't be updated later." `update_of` is `Some(stored
/// value)` on an update and `None` on creation. Values are stored in the documented
/// spelling.
pub(super) fn check_visibility(
    g: &mut Group,
    update_of: Option<Option<&str>>,
) -> Result<(), GraphError> {
    let Some(v) = g.visibility.as_deref() else {
        return Ok(());
    };
    let canonical = ["Private", "Public", "HiddenMembership"]
        .into_iter()
        .find(|c| c.eq_ignore_ascii_case(v))
        .ok_or_else(|| GraphError::invalid_value("visibility", "Group"))?;
    let updating = update_of.is_some();
    let was_hidden = update_of
        .flatten()
        .is_some_and(|b| b.eq_ignore_ascii_case("HiddenMembership"));
    if canonical == "HiddenMembership" {
        let allowed = if updating { was_hidden } else { g.is_unified() };
        if !allowed {
            return Err(GraphError::invalid_value("visibility", "Group"));
        }
    } else if was_hidden {
        return Err(GraphError::invalid_value("visibility", "Group"));
    }
    g.visibility = Some(canonical.to_string());
    Ok(())
}

pub(super) fn list_groups(t: &Tenant, ctx: &Ctx<'_>, q: &Query) -> R {
    check_select(&q.select, &model::is_group_prop, "group")?;
    let expand = GroupExpand::parse(q)?;
    let f = prepare_filter(ctx, q, &odata::GROUP_RULES, &odata::GROUP_SORT)?;
    let top = page_size(ctx, q);
    let matches = |g: &Group| -> bool {
        if ctx.hidden.contains(&g.id) {
            return false;
        }
        f.matches(&|p| model::group_prop(g, p))
    };
    let ids: Option<Vec<Uuid>> = f
        .expr
        .as_ref()
        .and_then(|e| odata::index_keys(e, "id"))
        .map(|k| k.iter().filter_map(|s| Uuid::parse_str(s).ok()).collect());
    let mut next: Option<String> = None;
    let page: Vec<&Group> = if f.order.is_empty() {
        let after = skip_after(q, "groups")?;
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
        if more && let Some(last) = page.last() {
            next = Some(next_link(ctx, "groups", q, "groups", &last.id));
        }
        page
    } else {
        let all: Vec<&Group> = t.groups.values().filter(|g| matches(g)).collect();
        let (page, more) = sorted_page(all, &f.order, model::group_prop, q, "groups:o", top)?;
        next = more.map(|o| offset_link(ctx, "groups", q, "groups:o", o));
        page
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
    if let Some(l) = next {
        out.insert("@odata.nextLink".into(), json!(l));
    }
    let value: Vec<Value> = page
        .iter()
        .map(|g| {
            let mut m = model::group_json(g, q.select.as_deref(), false);
            expand.apply(t, ctx, g, &mut m);
            Value::Object(m)
        })
        .collect();
    out.insert("value".into(), Value::Array(value));
    Ok(Resp::ok(Value::Object(out)))
}

pub(super) fn get_group(t: &Tenant, ctx: &Ctx<'_>, q: &Query, id: Uuid) -> R {
    check_select(&q.select, &model::is_group_prop, "group")?;
    let expand = GroupExpand::parse(q)?;
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
    expand.apply(t, ctx, g, &mut m);
    Ok(Resp::ok(Value::Object(m)))
}

/// `PATCH /groups(uniqueName='…')`: with `Prefer: create-if-missing` a missing group
/// is created (201 and the group, its `uniqueName` the key); an existing one is updated
/// (204). Without the preference a missing group is 404. The key decides: two upserts
/// with one key never make two groups.
pub(super) fn upsert_group(t: &mut Tenant, ctx: &mut Ctx<'_>, body: &[u8], key: &str) -> R {
    let mut b = parse_body(body)?;
    if let Some(v) = b.get("uniqueName")
        && v.as_str().is_none_or(|u| !u.eq_ignore_ascii_case(key))
    {
        return Err(GraphError::bad_request(
            "The uniqueName in the request body does not match the key in the URL.",
        ));
    }
    match t.group_by_unique_name(key) {
        Some(id) => {
            b.remove("uniqueName");
            update_group(t, ctx, &serde_json::to_vec(&b).unwrap_or_default(), id)
        }
        None if ctx.create_if_missing => {
            b.insert("uniqueName".into(), Value::String(key.to_string()));
            create_group(t, ctx, &serde_json::to_vec(&b).unwrap_or_default())
        }
        None => Err(GraphError::not_found(key)),
    }
}

pub(super) fn create_group(t: &mut Tenant, ctx: &mut Ctx<'_>, body: &[u8]) -> R {
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
    if let Some(u) = &g.unique_name
        && t.group_by_unique_name(u).is_some()
    {
        return Err(GraphError::conflict_property("uniqueName"));
    }
    // "The caller must be assigned the RoleManagement.ReadWrite.Directory permission to
    // set this property" (resources/group.md, isAssignableToRole).
    if g.is_role_assignable() && !roles::has_any(ctx.roles, &[ROLE_MANAGEMENT_WRITE]) {
        return Err(GraphError::forbidden());
    }
    if g.is_unified() {
        if !g.mail_enabled {
            if g.is_role_assignable() {
                check_group_shape(&mut g)?;
            }
            return Err(GraphError::bad_request(
                "A Microsoft 365 group must be mail-enabled (mailEnabled: true).",
            ));
        }
        // "The mail alias for the group, unique for Microsoft 365 groups in the
        // organization" (api/group-post-groups.md); Graph names mailNickname in the
        // conflict ("Another object with the same value for property mailNickname
        // already exists.").
        if let Some(other) = t
            .groups
            .values()
            .find(|o| o.is_unified() && o.mail_nickname.eq_ignore_ascii_case(&g.mail_nickname))
        {
            return Err(proxy::conflict(t, "mailNickname", other.id));
        }
        let mail = format!("{}@{}", g.mail_nickname, t.default_domain());
        g.mail = Some(mail);
        t.check_proxies(g.id, &proxy::group_proxies(&g))?;
        if g.visibility.is_none() && !g.is_role_assignable() {
            g.visibility = Some("Public".into());
        }
    } else if g.mail_enabled && g.is_role_assignable() {
        check_group_shape(&mut g)?;
    } else if g.mail_enabled && !g.security_enabled {
        return Err(GraphError::bad_request(
            "Creating mail-enabled distribution groups is not supported through Microsoft Graph.",
        ));
    } else if g.mail_enabled {
        return Err(GraphError::bad_request(
            "Creating mail-enabled security groups is not supported through Microsoft Graph.",
        ));
    }
    check_group_shape(&mut g)?;
    check_visibility(&mut g, None)?;
    let members = bind_list(&b, "members@odata.bind", "members")?;
    let owners = bind_list(&b, "owners@odata.bind", "owners")?;
    if !members.is_empty() {
        check_member_writes(ctx, &g)?;
    }
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

pub(super) fn update_group(t: &mut Tenant, ctx: &Ctx<'_>, body: &[u8], id: Uuid) -> R {
    let b = parse_body(body)?;
    let Some(cur) = t.groups.get(&id) else {
        return Err(GraphError::not_found(&id.to_string()));
    };
    if cur.is_synced()
        && b.keys().any(|k| {
            k != "members@odata.bind" && k != "owners@odata.bind" && !k.starts_with("@odata.")
        })
    {
        return Err(synced_refusal());
    }
    let mut g = cur.clone();
    let cur_visibility = cur.visibility.clone();
    for (k, v) in &b {
        if k == "members@odata.bind" || k == "owners@odata.bind" {
            continue;
        }
        // Stating the current value again (an upsert resending its create body) is
        // not a change.
        let same = match k.as_str() {
            "groupTypes" | "isAssignableToRole" => model::group_prop(&g, k).as_ref() == Some(v),
            "mailEnabled" => v.as_bool() == Some(g.mail_enabled),
            _ => true,
        };
        if !same {
            return Err(GraphError::bad_request(format!(
                "Property '{k}' cannot be changed on an existing group."
            )));
        }
        model::set_group_prop(&mut g, k, v)?;
    }
    if let Some(u) = &g.unique_name
        && t.group_by_unique_name(u).is_some_and(|other| other != id)
    {
        return Err(GraphError::conflict_property("uniqueName"));
    }
    if g.is_dynamic() || g.membership_rule.is_some() {
        check_group_shape(&mut g)?;
    }
    check_visibility(&mut g, Some(cur_visibility.as_deref()))?;
    // "Groups assignable to roles are always Private" (resources/group.md, visibility).
    if g.is_role_assignable()
        && !g
            .visibility
            .as_deref()
            .is_some_and(|v| v.eq_ignore_ascii_case("Private"))
    {
        return Err(GraphError::invalid_value("visibility", "Group"));
    }
    let members = bind_list(&b, "members@odata.bind", "members")?;
    let owners = bind_list(&b, "owners@odata.bind", "owners")?;
    if !members.is_empty() {
        check_member_writes(ctx, &g)?;
    }
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
    let now = iso_now(ctx.now);
    for mid in members {
        t.record_member_event(id, mid, true);
        t.reprocess_licenses(mid, &now);
    }
    Ok(Resp::no_content())
}

pub(super) fn delete_group(t: &mut Tenant, ctx: &Ctx<'_>, id: Uuid) -> R {
    if t.groups.get(&id).is_some_and(Group::is_synced) {
        return Err(synced_refusal());
    }
    // "It isn't possible to delete a group with an active license assigned" (entra-docs
    // licensing-group-advanced.md, "Deleting a group with an assigned license"). The
    // message is the emulator's own: the documentation does not quote Graph's.
    if t.groups
        .get(&id)
        .is_some_and(|g| !g.assigned_licenses.is_empty())
    {
        return Err(GraphError::bad_request(
            "The group has licenses assigned; remove them from the group before deleting it.",
        ));
    }
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
