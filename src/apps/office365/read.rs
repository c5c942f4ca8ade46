//! Reading a tenant into [`ObservedApp`]: users and groups with `$select` of only
//! the managed properties and pages of 999, member lists of the wanted groups through
//! `$batch` (20 listings per request), verified domains and license SKUs — at the
//! request floor of the API.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use anyhow::{Result, bail};
use serde_json::Value;

use super::http::{BatchOp, Graph, OpOutcome, rid};
use super::rows::{GroupRow, GroupRows, Prop, RefRow, UserRow, UserRows};
use crate::apps::ReadScope;
use crate::observed::{
    Attributes, GroupRestriction, IdSet, MemberId, ObservedApp, ObservedGroup, ObservedSku,
    ObservedUser, Protection,
};

/// The user properties roster manages, as Graph names them.
pub const USER_SELECT: &str = "id,userPrincipalName,mail,givenName,surname,displayName,department,jobTitle,employeeId,usageLocation,mobilePhone,accountEnabled,assignedLicenses,licenseAssignmentStates,userType,onPremisesSyncEnabled,mailNickname";

/// The `$select` (and `$expand`) of user reads for `scope`: [`USER_SELECT`], the
/// top-level properties of the mapped targets beyond the defaults
/// (`employeeOrgData` for `employeeOrgData.costCenter`), and the manager's id when
/// managers are wanted (user-list-manager.md: `$expand=manager($select=id)`).
pub fn user_query(scope: &ReadScope) -> String {
    let mut select = USER_SELECT.to_string();
    let mut seen: BTreeSet<&str> = USER_SELECT.split(',').collect();
    for (_, target) in &scope.user_fields {
        let top = target.split('.').next().unwrap_or(target);
        if seen.insert(top) {
            select.push(',');
            select.push_str(top);
        }
    }
    if scope.managers {
        select.push_str("&$expand=manager($select=id)");
    }
    select
}

/// The top-level user properties the mapped targets of `fields` read
/// (`employeeOrgData` for `employeeOrgData.costCenter`), each once: what a
/// [`UserRows`] keeps whole.
pub fn user_extra(fields: &[(String, String)]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for (_, target) in fields {
        let top = target.split('.').next().unwrap_or(target);
        if !out.iter().any(|t| t == top) {
            out.push(top.to_string());
        }
    }
    out
}

/// A mapped target's value in a Graph user (`employeeOrgData.costCenter` nested),
/// from the properties kept whole (`extra` names them, see [`user_extra`]).
fn target_text(row: &UserRow, extra: &[String], target: &str) -> Option<String> {
    let mut parts = target.split('.');
    let top = parts.next()?;
    let i = extra.iter().position(|e| e == top)?;
    let mut at = &row.extra.iter().find(|(j, _)| *j == i)?.1;
    for part in parts {
        at = at.get(part)?;
    }
    match at {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        _ => None,
    }
}
/// The group properties roster reads.
pub const GROUP_SELECT: &str = "id,displayName,description,groupTypes,securityEnabled,mailEnabled,uniqueName,membershipRule,isAssignableToRole";
/// Page size: Graph's maximum.
pub const PAGE: usize = 999;

/// roster attribute name ↔ Graph user property, for the string attributes.
pub const USER_ATTRIBUTES: &[(&str, &str)] = &[
    ("email", "mail"),
    ("first_name", "givenName"),
    ("last_name", "surname"),
    ("display_name", "displayName"),
    ("department", "department"),
    ("job_title", "jobTitle"),
    ("employee_id", "employeeId"),
    ("usage_location", "usageLocation"),
    ("mobile_phone", "mobilePhone"),
];

fn text(v: &Value, key: &str) -> Option<String> {
    match v.get(key) {
        Some(Value::String(s)) if !s.is_empty() => Some(s.clone()),
        _ => None,
    }
}

/// Maps one Graph user to an [`ObservedUser`]; `skus` maps skuId → part number.
pub fn map_user(
    v: &Value,
    skus: &HashMap<String, String>,
    fields: &[(String, String)],
) -> Option<ObservedUser> {
    let extra = user_extra(fields);
    map_user_row(UserRow::from_value(v, &extra), skus, fields, &extra)
}

/// [`map_user`] of a parsed row; `extra` is [`user_extra`] of `fields`, what the row
/// was parsed with.
pub fn map_user_row(
    mut row: UserRow,
    skus: &HashMap<String, String>,
    fields: &[(String, String)],
    extra: &[String],
) -> Option<ObservedUser> {
    let id = row.id.take_text()?;
    let login = row.user_principal_name.take_text()?;
    let mut attributes = Attributes::new();
    for ((roster, _), p) in USER_ATTRIBUTES.iter().zip(row.attributes.iter_mut()) {
        if let Some(val) = p.take_text() {
            attributes.insert((*roster).to_string(), val);
        }
    }
    for (key, target) in fields {
        if let Some(val) = target_text(&row, extra, target) {
            attributes.insert(key.clone(), val);
        }
    }
    if let Some(m) = row.manager.get().and_then(|m| m.id.text()) {
        attributes.insert("manager".to_string(), m.to_string());
    }
    let name = |sku: &str| {
        skus.get(&sku.to_ascii_lowercase())
            .cloned()
            .unwrap_or_else(|| sku.to_string())
    };
    let (direct, inherited) = license_split(&row);
    let mut protections = Vec::new();
    if row.on_premises_sync_enabled.flag() == Some(true) {
        protections.push(Protection::SyncedFromOnPremises);
    }
    let licenses = if skus.is_empty() {
        direct
    } else {
        direct.iter().map(|s| name(s)).collect()
    };
    let inherited_licenses = if skus.is_empty() {
        inherited
    } else {
        inherited.iter().map(|s| name(s)).collect()
    };
    Some(ObservedUser {
        id,
        login,
        // The anchor: roster gives the accounts it creates the username's mailNickname.
        username: row.mail_nickname.take_text(),
        enabled: row.account_enabled.flag().unwrap_or(true),
        attributes,
        licenses,
        inherited_licenses,
        location: None,
        guest: row.user_type.as_str() == Some("Guest"),
        protections,
    })
}

/// The lower-cased skuIds a Graph user holds directly and those it holds through
/// groups (a SKU may be in both). `licenseAssignmentStates` tells them apart (`assignedByGroup` null: direct);
/// without it every `assignedLicenses` entry counts as direct.
pub fn license_ids_split(v: &Value) -> (BTreeSet<String>, BTreeSet<String>) {
    license_split(&UserRow::from_value(v, &[]))
}

/// [`license_ids_split`] of a parsed row.
pub fn license_split(row: &UserRow) -> (BTreeSet<String>, BTreeSet<String>) {
    let assigned: BTreeSet<String> = license_ids_of(&row.assigned_licenses)
        .unwrap_or_default()
        .into_iter()
        .collect();
    let Prop::Is(states) = &row.license_assignment_states else {
        return (assigned, BTreeSet::new());
    };
    let mut direct = BTreeSet::new();
    let mut by_group = BTreeSet::new();
    for st in states {
        let Some(sku) = st.sku_id.as_str() else {
            continue;
        };
        let sku = sku.to_ascii_lowercase();
        match st.assigned_by_group.text() {
            Some(_) => by_group.insert(sku),
            None => direct.insert(sku),
        };
    }
    // A SKU in assignedLicenses that no state explains is direct (the safe reading:
    // roster then manages it as the YAML says).
    for sku in &assigned {
        if !by_group.contains(sku) {
            direct.insert(sku.clone());
        }
    }
    // A SKU held both ways is in both sets: the direct one is roster's, and removing it
    // frees no seat.
    (direct, by_group)
}

/// Maps one Graph group to an [`ObservedGroup`] (without members).
pub fn map_group(v: &Value) -> Option<ObservedGroup> {
    map_group_row(&GroupRow::from_value(v))
}

/// [`map_group`] of a parsed row.
pub fn map_group_row(v: &GroupRow) -> Option<ObservedGroup> {
    let id = v.id.text()?.to_string();
    let name = v.display_name.text()?.to_string();
    let types: Vec<&str> = v
        .group_types
        .get()
        .map(|a| a.iter().map(String::as_str).collect())
        .unwrap_or_default();
    let unified = types.contains(&"Unified");
    let flag = |p: &Prop<bool>| p.flag() == Some(true);
    // groups-overview.md: a mail-enabled group that is not a Microsoft 365 group is
    // either a mail-enabled security group or a distribution list, both managed in
    // Exchange; Graph refuses member writes to them.
    let restriction = if types.contains(&"DynamicMembership") {
        Some(GroupRestriction::Dynamic {
            rule: v.membership_rule.text().unwrap_or_default().to_string(),
        })
    } else if flag(&v.mail_enabled) && !unified {
        Some(if flag(&v.security_enabled) {
            GroupRestriction::MailEnabledSecurity
        } else {
            GroupRestriction::Distribution
        })
    } else if flag(&v.is_assignable_to_role) {
        Some(GroupRestriction::RoleAssignable)
    } else {
        None
    };
    Some(ObservedGroup {
        id,
        name,
        description: v.description.text().map(str::to_string),
        kind: if unified { "microsoft365" } else { "security" }.to_string(),
        member_ids: IdSet::new(),
        location: None,
        unique_name: v.unique_name.text().map(str::to_string),
        restriction,
    })
}

/// Maps one subscribedSku.
pub fn map_sku(v: &Value) -> Option<ObservedSku> {
    let as_u32 = |p: &str| {
        v.pointer(p)
            .and_then(Value::as_u64)
            .map(|n| u32::try_from(n).unwrap_or(u32::MAX))
            .unwrap_or(0)
    };
    Some(ObservedSku {
        sku_id: text(v, "skuId")?,
        part_number: text(v, "skuPartNumber")?,
        enabled: as_u32("/prepaidUnits/enabled"),
        consumed: as_u32("/consumedUnits"),
    })
}

/// What one read of a tenant produced, before license ids are named: users carry
/// the lower-cased skuIds of their licenses in `licenses`, and `members_known` lists
/// the groups whose `member_ids` are complete. Incremental reads keep this form in
/// their snapshot (see [`super::incremental`]).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RawTenant {
    pub users: Vec<ObservedUser>,
    pub groups: Vec<ObservedGroup>,
    pub members_known: BTreeSet<String>,
    pub facts: TenantFacts,
    /// The groups delta link (relative) when members were read by a groups delta
    /// round, which ends with one.
    pub groups_delta: Option<String>,
}

/// Groups per page of a groups delta round with members, an estimate for choosing how
/// to read member lists (the emulator serves 50; Graph's pages are of that order).
pub const DELTA_GROUPS_PER_PAGE: usize = 50;

/// Whether member lists are cheaper read by one groups delta round with members (every
/// group, about [`DELTA_GROUPS_PER_PAGE`] per request) than by `$batch` listings of the
/// wanted groups (20 per request).
pub fn members_by_delta(groups: usize, wanted: usize) -> bool {
    groups.div_ceil(DELTA_GROUPS_PER_PAGE) < wanted.div_ceil(20)
}

/// Whether a `members@delta` entry is a member that a member listing shows too: v1.0's
/// `/groups/{id}/members` does not list service principals (a documented known issue),
/// so they are left out of delta rounds as well, and both ways of reading agree.
pub fn is_listed_member(m: &Value) -> bool {
    is_listed(&<RefRow as serde::Deserialize>::deserialize(m).unwrap_or_default())
}

/// [`is_listed_member`] of a parsed member.
pub fn is_listed(m: &RefRow) -> bool {
    m.odata_type.as_str() != Some("#microsoft.graph.servicePrincipal")
}

/// The first request of a groups delta round with members.
pub fn groups_delta_start() -> String {
    format!("/groups/delta?$select={GROUP_SELECT},members")
}

/// Merges one item of a groups delta round that starts from nothing (an initial
/// round): properties and `members@delta` (a group's members may come in parts).
fn merge_initial_group(groups: &mut BTreeMap<String, ObservedGroup>, v: GroupRow) -> Result<()> {
    let Some(id) = v.id.as_str() else {
        bail!("a groups delta item without an id");
    };
    if v.removed {
        groups.remove(id);
        return Ok(());
    }
    let g = match groups.get_mut(id) {
        Some(g) => g,
        None => {
            let Some(g) = map_group_row(&v) else {
                bail!("groups delta: group {id} comes without a displayName");
            };
            groups.entry(id.to_string()).or_insert(g)
        }
    };
    if let Prop::Is(md) = v.members_delta {
        for m in md.into_iter().filter(is_listed) {
            let Prop::Is(mid) = m.id else {
                continue;
            };
            if m.removed {
                g.member_ids.remove(mid.as_str());
            } else {
                g.member_ids.insert(mid.into());
            }
        }
    }
    Ok(())
}

/// Reads the whole observed state of the app.
pub async fn read(
    graph: &Graph,
    scope: &ReadScope,
    directory_id: Option<String>,
) -> Result<ObservedApp> {
    let raw = read_raw(graph, scope).await?;
    Ok(finish(&graph.app, raw, scope, directory_id))
}

/// Microsoft Entra built-in roles whose holders an app with `User.ReadWrite.All` may
/// not disable, delete or change in sensitive properties (user-update.md, "Who can
/// update sensitive attributes"): template id and display name, as Microsoft publishes
/// them (permissions-reference of Entra built-in roles).
pub const PRIVILEGED_ROLES: &[(&str, &str)] = &[
    (
        "62e90394-69f5-4237-9190-012177145e10",
        "Global Administrator",
    ),
    (
        "e8611ab8-c189-46e8-94e1-60213ab1f814",
        "Privileged Role Administrator",
    ),
    (
        "7be44c8a-adaf-4e2a-84d6-ab2649e08a13",
        "Privileged Authentication Administrator",
    ),
    ("fe930be7-5e62-47db-91af-98c3a49a38b1", "User Administrator"),
    (
        "c4e39bd9-1100-46d3-8c65-fb160da0071f",
        "Authentication Administrator",
    ),
    (
        "729827e3-9c14-49f7-bb1b-9608f156bbb8",
        "Helpdesk Administrator",
    ),
    (
        "966707d0-3269-4727-9be2-8c3a10f19b9d",
        "Password Administrator",
    ),
    (
        "29232cdf-9323-42fd-ade2-1d097af3e4de",
        "Exchange Administrator",
    ),
    (
        "f28a1f50-f6e7-4571-818b-6a12f2af6b6c",
        "SharePoint Administrator",
    ),
    (
        "194ae4cb-b126-40b2-bd5b-6091b380977d",
        "Security Administrator",
    ),
    (
        "fdd7a751-b60b-444a-984c-02652fe8fa1c",
        "Groups Administrator",
    ),
    (
        "b0f54661-2d74-4c50-afa3-1ec803f12efe",
        "Billing Administrator",
    ),
    (
        "9b895d92-2cd3-44c7-9d02-a6ac2d5ea5c3",
        "Application Administrator",
    ),
    (
        "158c047a-c907-4556-b7ef-446551a6b5f7",
        "Cloud Application Administrator",
    ),
    (
        "b1be1c3e-b65d-4f19-8427-f6fa0d97feb9",
        "Conditional Access Administrator",
    ),
    (
        "3a2c62db-5318-420d-8d74-23affee5d9d5",
        "Intune Administrator",
    ),
    (
        "69091246-20e8-4a56-aa4d-066075b2a7a8",
        "Teams Administrator",
    ),
    (
        "8ac3fc64-6eca-42ea-9e69-59f4c7b60eb2",
        "Hybrid Identity Administrator",
    ),
    (
        "4d6ac14f-3453-41d0-bef9-a3e0c569773a",
        "License Administrator",
    ),
    ("f2ef992c-3afb-46b9-b7cf-a126ee74c451", "Global Reader"),
];

/// What a read learns about the tenant beside users and groups, afresh on every read
/// (full or incremental; none of it is in the snapshot).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TenantFacts {
    /// Verified domains, lower case.
    pub verified_domains: Vec<String>,
    pub initial_domain: Option<String>,
    pub federated_domains: BTreeSet<String>,
    pub skus: Vec<ObservedSku>,
    /// Principal id → names of the privileged roles it holds.
    pub role_holders: BTreeMap<String, BTreeSet<String>>,
    /// Why role assignments could not be read, if they could not.
    pub roles_unknown: Option<String>,
    /// Users in the deleted items (directory-deleteditems-list.md), restorable.
    pub deleted_users: Vec<ObservedUser>,
    /// Deleted Microsoft 365 groups, when the scope asks for them.
    pub deleted_groups: Vec<ObservedGroup>,
}

/// Domains, license SKUs and privileged role assignments.
pub async fn read_tenant_facts(graph: &Graph, scope: &ReadScope) -> Result<TenantFacts> {
    let skus_url =
        graph.url("/subscribedSkus?$select=skuId,skuPartNumber,prepaidUnits,consumedUnits");
    let domains_url = graph.url("/domains?$select=id,isVerified,isInitial,authenticationType");
    let skus_fut = async {
        let mut skus = Vec::new();
        graph
            .get_all(&skus_url, |v| {
                if let Some(s) = map_sku(&v) {
                    skus.push(s);
                }
                Ok(())
            })
            .await?;
        Ok::<_, anyhow::Error>(skus)
    };
    let domains_fut = async {
        let mut domains = Vec::new();
        let mut initial = None;
        let mut federated = BTreeSet::new();
        graph
            .get_all(&domains_url, |v| {
                if v.get("isVerified").and_then(Value::as_bool) == Some(true)
                    && let Some(id) = text(&v, "id")
                {
                    let id = id.to_ascii_lowercase();
                    if v.get("isInitial").and_then(Value::as_bool) == Some(true) {
                        initial = Some(id.clone());
                    }
                    if text(&v, "authenticationType").as_deref() == Some("Federated") {
                        federated.insert(id.clone());
                    }
                    domains.push(id);
                }
                Ok(())
            })
            .await?;
        Ok::<_, anyhow::Error>((domains, initial, federated))
    };
    let deleted_url = graph.url(&format!(
        "/directory/deletedItems/microsoft.graph.user?$select={USER_SELECT}&$top={PAGE}"
    ));
    let deleted_fut = async {
        let mut users = Vec::new();
        graph
            .get_all(&deleted_url, |v| {
                if let Some(u) = map_user_raw(&v) {
                    users.push(u);
                }
                Ok(())
            })
            .await?;
        Ok::<_, anyhow::Error>(users)
    };
    // Deleted groups only when the repository binds a Microsoft 365 group (the only
    // kind Graph keeps in the deleted items, directory-deleteditems-list.md).
    let deleted_groups_url = graph.url(&format!(
        "/directory/deletedItems/microsoft.graph.group?$select={GROUP_SELECT}&$top={PAGE}"
    ));
    let deleted_groups_fut = async {
        let mut groups = Vec::new();
        if scope.deleted_groups {
            graph
                .get_all(&deleted_groups_url, |v| {
                    if let Some(g) = map_group(&v) {
                        groups.push(g);
                    }
                    Ok(())
                })
                .await?;
        }
        Ok::<_, anyhow::Error>(groups)
    };
    let (
        (verified_domains, initial_domain, federated_domains),
        skus,
        (role_holders, roles_unknown),
        deleted_users,
        deleted_groups,
    ) = tokio::try_join!(
        domains_fut,
        skus_fut,
        read_role_holders(graph),
        deleted_fut,
        deleted_groups_fut
    )?;
    Ok(TenantFacts {
        verified_domains,
        initial_domain,
        federated_domains,
        skus,
        role_holders,
        roles_unknown,
        deleted_users,
        deleted_groups,
    })
}

/// Holders of [`PRIVILEGED_ROLES`]: one listing of the directory's role assignments
/// (rbacapplication-list-roleassignments.md). An app without a role-reading permission gets 403: the
/// holders are then unknown, which the plan says, and the read goes on.
async fn read_role_holders(
    graph: &Graph,
) -> Result<(BTreeMap<String, BTreeSet<String>>, Option<String>)> {
    // All assignments, filtered here: a tenant has few, and an `in` filter holds at
    // most 15 values (Graph's limit on OR'ed clauses), fewer than the roles listed.
    let url = graph.url(
        "/roleManagement/directory/roleAssignments?$select=principalId,roleDefinitionId,directoryScopeId&$expand=principal",
    );
    let names: HashMap<&str, &str> = PRIVILEGED_ROLES.iter().copied().collect();
    let mut holders: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    // Role-assignable groups holding a role: their members and owners are protected as
    // role holders are (users.md, "Who can perform sensitive actions").
    let mut role_groups: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut add = |v: &Value| {
        if let (Some(p), Some(r)) = (text(v, "principalId"), text(v, "roleDefinitionId"))
            && let Some(name) = names.get(r.to_ascii_lowercase().as_str())
        {
            let group = v.pointer("/principal/@odata.type").and_then(Value::as_str)
                == Some("#microsoft.graph.group");
            let into = if group {
                &mut role_groups
            } else {
                &mut holders
            };
            into.entry(p).or_default().insert((*name).to_string());
        }
    };
    let first = graph.request(reqwest::Method::GET, &url, None).await?;
    if matches!(first.status, 401 | 403) {
        return Ok((
            BTreeMap::new(),
            Some(format!(
                "reading directory role assignments was refused (HTTP {}); grant the app \
                 RoleManagement.Read.Directory so that privileged role holders are recognised",
                first.status
            )),
        ));
    }
    if !first.is_success() {
        bail!(
            "GET /roleManagement/directory/roleAssignments failed: {}{}",
            first.describe(),
            rid(&first.request_id)
        );
    }
    for v in first
        .body
        .get("value")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        add(v);
    }
    if let Some(next) = first.body.get("@odata.nextLink").and_then(Value::as_str) {
        graph.relative(next)?;
        graph
            .get_all(next, |v| {
                add(&v);
                Ok(())
            })
            .await?;
    }
    // Their members and owners: one `$batch` for all of them (rarely more than a page).
    let lists: Vec<(&BTreeSet<String>, String)> = role_groups
        .iter()
        .flat_map(|(group, roles)| {
            ["members", "owners"].map(|rel| {
                let seg = super::http::path_segment(group);
                (roles, format!("/groups/{seg}/{rel}?$select=id&$top={PAGE}"))
            })
        })
        .collect();
    let ops: Vec<BatchOp> = lists
        .iter()
        .map(|(_, url)| BatchOp::new("GET", url.clone(), None))
        .collect();
    let mut next: Vec<(usize, String)> = Vec::new();
    let mut first_error: Option<String> = None;
    graph
        .run_batched(&ops, |k, outcome| match outcome {
            OpOutcome::Done(r) if r.is_success() => {
                for v in r
                    .body
                    .get("value")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                {
                    if let Some(id) = text(v, "id") {
                        holders
                            .entry(id)
                            .or_default()
                            .extend(lists[k].0.iter().cloned());
                    }
                }
                if let Some(link) = r.body.get("@odata.nextLink").and_then(Value::as_str) {
                    next.push((k, link.to_string()));
                }
            }
            OpOutcome::Done(r) => {
                first_error.get_or_insert(format!(
                    "GET {} failed: {}{}",
                    lists[k].1,
                    r.describe(),
                    rid(&r.request_id)
                ));
            }
            OpOutcome::Failed {
                error, request_id, ..
            } => {
                first_error.get_or_insert(format!(
                    "GET {} failed: {error}{}",
                    lists[k].1,
                    rid(&request_id)
                ));
            }
        })
        .await;
    if let Some(e) = first_error {
        bail!(e);
    }
    for (k, link) in next {
        graph.relative(&link)?;
        graph
            .get_all(&link, |v| {
                if let Some(id) = text(&v, "id") {
                    holders
                        .entry(id)
                        .or_default()
                        .extend(lists[k].0.iter().cloned());
                }
                Ok(())
            })
            .await?;
    }
    Ok((holders, None))
}

/// The lower-cased skuIds of a Graph user's `assignedLicenses`.
pub fn license_ids(v: &Value) -> Option<Vec<String>> {
    license_ids_of(&UserRow::from_value(v, &[]).assigned_licenses)
}

/// [`license_ids`] of a parsed `assignedLicenses`.
pub fn license_ids_of(list: &Prop<Vec<RefRow>>) -> Option<Vec<String>> {
    list.get().map(|a| {
        a.iter()
            .filter_map(|l| l.sku_id.as_str())
            .map(str::to_ascii_lowercase)
            .collect()
    })
}

/// Maps a Graph user keeping its license skuIds unnamed (lower case).
pub fn map_user_raw(v: &Value) -> Option<ObservedUser> {
    map_user(v, &HashMap::new(), &[])
}

/// Reads users, groups, the members of the groups in `scope`, domains and SKUs.
pub async fn read_raw(graph: &Graph, scope: &ReadScope) -> Result<RawTenant> {
    let users_url = graph.url(&format!("/users?$select={}&$top={PAGE}", user_query(scope)));
    let groups_url = graph.url(&format!("/groups?$select={GROUP_SELECT}&$top={PAGE}"));

    let extra = user_extra(&scope.user_fields);
    let users_fut = async {
        let mut users: Vec<ObservedUser> = Vec::new();
        let no_skus = HashMap::new();
        graph
            .get_all_rows(&users_url, UserRows { extra: &extra }, |row| {
                if let Some(u) = map_user_row(row, &no_skus, &scope.user_fields, &extra) {
                    users.push(u);
                }
                Ok(())
            })
            .await?;
        Ok::<_, anyhow::Error>(users)
    };
    // The groups delta round (every group with its members) is the longest part of a
    // large read, so the listing of groups signals it to start as soon as the groups
    // seen so far make it the likely choice, and the round runs beside the rest of the
    // listing instead of after it:
    // - every group's members wanted: the round certainly costs fewer requests than
    //   `$batch` listings as soon as more than `DELTA_SURELY_WINS_ABOVE` groups are
    //   known (see `members_by_delta`; a test checks this), and more groups only widen
    //   the gap;
    // - with a scope (what a plan reads: the groups bound by policies), once a full
    //   page of groups is seen, if the round would still win were the tenant twice as
    //   large with no other group wanted ([`early_delta_likely`]). Smaller tenants
    //   (one page of groups) decide after the listing, as before.
    // The choice itself is made from the complete listing, as ever. A round started
    // that the choice does not pick is dropped (its requests so far are wasted: with a
    // scope, only when the rest of the tenant's groups are mostly outside the scope).
    let all_wanted = scope.member_groups.is_none();
    let (start_delta, delta_started) = tokio::sync::oneshot::channel::<()>();
    let groups_fut = async {
        let mut start_delta = Some(start_delta);
        let mut groups = Vec::new();
        let mut wanted = 0usize;
        graph
            .get_all_rows(&groups_url, GroupRows, |v| {
                if let Some(g) = map_group_row(&v) {
                    wanted += usize::from(wants_members(scope, &g));
                    groups.push(g);
                }
                if start_delta.is_some()
                    && (if all_wanted {
                        groups.len() > DELTA_SURELY_WINS_ABOVE
                    } else {
                        early_delta_likely(groups.len(), wanted)
                    })
                    && let Some(tx) = start_delta.take()
                {
                    tracing::debug!(app = %graph.app, seen = groups.len(), wanted, "groups delta round started while listing groups");
                    let _ = tx.send(());
                }
                Ok(())
            })
            .await?;
        Ok::<_, anyhow::Error>(groups)
    };
    // Resolves to `None` at once if the listing ends (or fails) without the signal.
    let mut early_delta = Box::pin(async {
        delta_started.await.ok()?;
        Some(members_delta_round(graph).await)
    });
    let listing =
        async { tokio::try_join!(read_tenant_facts(graph, scope), users_fut, groups_fut) };
    tokio::pin!(listing);
    let mut early: Option<Option<Result<DeltaMembers>>> = None;
    let (facts, users, mut groups) = loop {
        tokio::select! {
            listed = &mut listing => break listed?,
            d = &mut early_delta, if early.is_none() => early = Some(d),
        }
    };

    let wanted: Vec<usize> = (0..groups.len())
        .filter(|&i| wants_members(scope, &groups[i]))
        .collect();
    if members_by_delta(groups.len(), wanted.len()) {
        // One round over every group with its members: fewer requests than listing the
        // wanted ones, and it ends with a delta link for the next incremental read.
        let early = match early {
            Some(d) => d,
            // Started and still running, or (`None` at once) never started.
            None => early_delta.await,
        };
        tracing::debug!(app = %graph.app, groups = groups.len(), wanted = wanted.len(), early = early.is_some(), "members by a groups delta round");
        let (by_id, link) = match early {
            Some(d) => d?,
            None => members_delta_round(graph).await?,
        };
        let members_known = by_id.keys().cloned().collect();
        return Ok(RawTenant {
            users,
            groups: by_id.into_values().collect(),
            members_known,
            facts,
            groups_delta: Some(link),
        });
    }
    // Not the choice: a round started early stops here.
    drop(early_delta);
    read_members(graph, &mut groups, &wanted).await?;
    let members_known = wanted.iter().map(|&i| groups[i].id.clone()).collect();
    Ok(RawTenant {
        users,
        groups,
        members_known,
        facts,
        groups_delta: None,
    })
}

/// Every group with its members, by id, and the round's delta link.
type DeltaMembers = (BTreeMap<String, ObservedGroup>, String);

/// With every group's members wanted, a groups delta round costs fewer requests than
/// `$batch` member listings for any number of groups above this (and not at or below).
pub const DELTA_SURELY_WINS_ABOVE: usize = 20;

/// Whether, with a scope, `wanted` of the `seen` groups listed so far make a groups
/// delta round the likely choice: a full page seen (smaller tenants decide after the
/// listing), and the round would still cost fewer requests than `$batch` listings if
/// the tenant had twice as many groups, none of the others wanted.
pub fn early_delta_likely(seen: usize, wanted: usize) -> bool {
    seen >= PAGE && members_by_delta(2 * seen, wanted)
}

/// One initial groups delta round with members.
async fn members_delta_round(graph: &Graph) -> Result<DeltaMembers> {
    let mut by_id: BTreeMap<String, ObservedGroup> = BTreeMap::new();
    let link = graph
        .delta_round(&groups_delta_start(), GroupRows, |v| {
            merge_initial_group(&mut by_id, v)
        })
        .await
        .map_err(|e| e.into_error())?;
    Ok((by_id, link))
}

/// Whether the scope wants the members of this group.
pub fn wants_members(scope: &ReadScope, g: &ObservedGroup) -> bool {
    scope
        .member_groups
        .as_ref()
        .is_none_or(|s| s.contains(&g.name))
}

/// The observed state of a raw read: license ids named by the tenant's SKUs, member
/// lists only for the groups the scope asks for, everything in its canonical order.
/// A full and an incremental read of the same tenant give equal results.
pub fn finish(
    app: &str,
    raw: RawTenant,
    scope: &ReadScope,
    directory_id: Option<String>,
) -> ObservedApp {
    let RawTenant {
        users,
        mut groups,
        members_known: _,
        facts,
        groups_delta: _,
    } = raw;
    let TenantFacts {
        verified_domains: mut domains,
        initial_domain,
        federated_domains,
        mut skus,
        role_holders,
        roles_unknown,
        mut deleted_users,
        mut deleted_groups,
    } = facts;
    let sku_names: HashMap<String, String> = skus
        .iter()
        .map(|s| (s.sku_id.to_ascii_lowercase(), s.part_number.clone()))
        .collect();
    let mut users: Vec<ObservedUser> = users
        .into_iter()
        .map(|mut u| {
            let name = |ids: BTreeSet<String>| {
                ids.into_iter()
                    .map(|id| sku_names.get(&id).cloned().unwrap_or(id))
                    .collect()
            };
            u.licenses = name(std::mem::take(&mut u.licenses));
            u.inherited_licenses = name(std::mem::take(&mut u.inherited_licenses));
            if let Some(roles) = role_holders.get(&u.id) {
                u.protections.push(Protection::PrivilegedRole {
                    roles: roles.iter().cloned().collect(),
                });
            }
            u.protections.sort();
            u
        })
        .collect();
    users.sort_by_cached_key(|u| u.login.to_ascii_lowercase());
    for g in groups.iter_mut() {
        if !wants_members(scope, g) {
            g.member_ids.clear();
        }
    }
    groups.sort_by(|a, b| a.name.cmp(&b.name).then_with(|| a.id.cmp(&b.id)));
    domains.sort();
    domains.dedup();
    skus.sort_by(|a, b| a.part_number.cmp(&b.part_number));
    ObservedApp {
        app: app.to_string(),
        users,
        groups,
        verified_domains: domains,
        initial_domain,
        federated_domains,
        skus,
        directory_id,
        roles_unknown,
        deleted_users: {
            for u in deleted_users.iter_mut() {
                u.licenses = std::mem::take(&mut u.licenses)
                    .into_iter()
                    .map(|id| sku_names.get(&id).cloned().unwrap_or(id))
                    .collect();
            }
            deleted_users.sort_by(|a, b| a.id.cmp(&b.id));
            deleted_users
        },
        deleted_groups: {
            deleted_groups.sort_by(|a, b| a.name.cmp(&b.name).then_with(|| a.id.cmp(&b.id)));
            deleted_groups
        },
    }
}

/// Fills `member_ids` of the groups at `wanted` (indexes into `groups`): one `$batch`
/// of 20 member listings per request; groups with more than 999 members continue in
/// later batches from their nextLink.
pub async fn read_members(
    graph: &Graph,
    groups: &mut [ObservedGroup],
    wanted: &[usize],
) -> Result<()> {
    // (group index, relative url)
    let mut round: Vec<(usize, String)> = wanted
        .iter()
        .map(|&i| {
            (
                i,
                format!(
                    "/groups/{}/members?$select=id&$top={PAGE}",
                    super::http::path_segment(&groups[i].id)
                ),
            )
        })
        .collect();
    let mut rounds = 0usize;
    while !round.is_empty() {
        rounds += 1;
        if rounds > 100_000 {
            bail!("member paging does not end");
        }
        let ops: Vec<BatchOp> = round
            .iter()
            .map(|(_, url)| BatchOp::new("GET", url.clone(), None))
            .collect();
        let mut next: Vec<(usize, String)> = Vec::new();
        let mut first_error: Option<String> = None;
        graph
            .run_batched(&ops, |k, outcome| {
                let gi = round[k].0;
                let group = &mut groups[gi];
                match outcome {
                    OpOutcome::Done(r) if r.is_success() => {
                        if let Some(items) = r.body.get("value").and_then(Value::as_array) {
                            group.member_ids.extend(
                                items
                                    .iter()
                                    .filter_map(|m| m.get("id").and_then(Value::as_str))
                                    .map(MemberId::new),
                            );
                        }
                        if let Some(link) = r.body.get("@odata.nextLink").and_then(Value::as_str) {
                            match graph.relative(link) {
                                Ok(rel) => next.push((gi, rel)),
                                Err(e) => {
                                    first_error.get_or_insert(format!("{e:#}"));
                                }
                            }
                        }
                    }
                    OpOutcome::Done(r) => {
                        first_error.get_or_insert(format!(
                            "reading the members of group {} failed: {}{}",
                            group.name,
                            r.describe(),
                            rid(&r.request_id)
                        ));
                    }
                    OpOutcome::Failed {
                        error, request_id, ..
                    } => {
                        first_error.get_or_insert(format!(
                            "reading the members of group {} failed: {error}{}",
                            group.name,
                            rid(&request_id)
                        ));
                    }
                }
            })
            .await;
        if let Some(e) = first_error {
            bail!(e);
        }
        round = next;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn delta_surely_wins_above_the_threshold_when_every_group_is_wanted() {
        // The reads start the groups delta round early on this rule; it must agree with
        // the choice made from the complete listing for every count.
        for n in 0..=DELTA_SURELY_WINS_ABOVE {
            assert!(!members_by_delta(n, n), "{n} groups");
        }
        for n in DELTA_SURELY_WINS_ABOVE + 1..=2_000_000 {
            assert!(members_by_delta(n, n), "{n} groups");
        }
    }

    #[test]
    fn a_scoped_read_starts_the_delta_round_early_only_when_it_is_the_likely_choice() {
        // One page of groups: decided after the listing.
        assert!(!early_delta_likely(PAGE - 1, PAGE - 1));
        // A full page, all in scope (the reference tenant): started.
        assert!(early_delta_likely(PAGE, PAGE));
        // A full page with a fifth of it in scope: $batch listings are likelier.
        assert!(!early_delta_likely(PAGE, PAGE / 5));
        // Whenever it starts, the choice from this much of the listing agrees.
        for seen in [PAGE, 2 * PAGE, 20 * PAGE] {
            for wanted in 0..=seen {
                if early_delta_likely(seen, wanted) {
                    assert!(members_by_delta(seen, wanted), "{seen} / {wanted}");
                    assert!(members_by_delta(2 * seen, wanted), "{seen} / {wanted}");
                }
            }
        }
    }

    #[test]
    fn users_map_to_roster_names_and_drop_empty_values() {
        let skus = HashMap::from([(
            "6fd2c87f-b296-42f0-b197-1e91e994b900".to_string(),
            "ENTERPRISEPACK".to_string(),
        )]);
        let v = json!({
            "id": "u1", "userPrincipalName": "Alice@Contoso.com", "mail": "alice@contoso.com",
            "givenName": "Alice", "surname": "", "displayName": "Alice S", "department": null,
            "jobTitle": "Rep", "employeeId": "42", "usageLocation": "US", "mobilePhone": null,
            "accountEnabled": false,
            "assignedLicenses": [{"skuId": "6FD2C87F-B296-42F0-B197-1E91E994B900", "disabledPlans": []},
                                 {"skuId": "unknown-sku"}]
        });
        let u = map_user(&v, &skus, &[]).expect("mapped");
        assert_eq!(u.login, "Alice@Contoso.com");
        assert!(!u.enabled);
        assert_eq!(u.attribute("email"), Some("alice@contoso.com"));
        assert_eq!(u.attribute("first_name"), Some("Alice"));
        assert_eq!(u.attribute("job_title"), Some("Rep"));
        assert!(!u.attributes.contains_key("last_name"));
        assert!(!u.attributes.contains_key("department"));
        assert_eq!(
            u.licenses,
            BTreeSet::from(["ENTERPRISEPACK".to_string(), "unknown-sku".to_string()])
        );
        assert!(map_user(&json!({"id": "x"}), &skus, &[]).is_none());
    }

    #[test]
    fn groups_map_kind_from_group_types() {
        let g = map_group(&json!({"id": "g", "displayName": "Team", "groupTypes": ["Unified"], "description": ""}))
            .expect("mapped");
        assert_eq!(g.kind, "microsoft365");
        assert_eq!(g.description, None);
        let s = map_group(
            &json!({"id": "g", "displayName": "Sec", "groupTypes": [], "description": "d"}),
        )
        .expect("mapped");
        assert_eq!(s.kind, "security");
        assert_eq!(s.description.as_deref(), Some("d"));
    }

    #[test]
    fn skus_map_seats() {
        let s = map_sku(&json!({"skuId": "s", "skuPartNumber": "E3", "prepaidUnits": {"enabled": 25}, "consumedUnits": 7}))
            .expect("mapped");
        assert_eq!((s.enabled, s.consumed, s.free()), (25, 7, 18));
    }
}
