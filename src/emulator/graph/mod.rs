//! The Graph v1.0 resource handlers: users, groups, members/owners, directory deleted
//! items, domains, subscribed SKUs, licenses, organization and delta queries. Pure
//! functions over the tenant, called for plain requests and for `$batch` parts alike.
//!
//! This module holds the request context, the response type and the router
//! ([`handle`]); each resource's handlers live in a submodule.

mod collection;
mod deleted;
mod delta;
pub mod door;
mod groups;
mod invitations;
mod licenses;
mod links;
mod manager;
mod organization;
pub mod roles;
mod users;

use std::collections::HashSet;

use serde_json::{Map, Value};
use uuid::Uuid;

use super::error::GraphError;
use super::model::Tenant;
use super::odata::Query;

pub use invitations::guest_upn;

use deleted::{get_deleted, list_deleted, purge_deleted, restore_deleted};
use delta::{Kind, delta};
use groups::{create_group, delete_group, get_group, list_groups, update_group, upsert_group};
use licenses::{assign_group_license, assign_license, get_sku, list_skus};
use links::{add_link, delete_member_object, list_links, list_refs, remove_link};
use organization::{get_domain, list_domains, organization};
use users::{create_user, delete_user, get_user, list_users, member_of, update_user};

/// Per-request context.
pub struct Ctx<'a> {
    /// `scheme://host[:port]` the client reached us at (links are built on it).
    pub base: &'a str,
    pub now: time::OffsetDateTime,
    /// Objects still invisible because of replication lag.
    pub hidden: &'a HashSet<Uuid>,
    /// `ConsistencyLevel: eventual` was sent.
    pub eventual: bool,
    /// `Prefer: odata.maxpagesize=N`.
    pub max_page: Option<usize>,
    /// `Prefer: create-if-missing`: a PATCH by alternate key creates a missing object.
    pub create_if_missing: bool,
    /// `Prefer: return=minimal`: deltaLink rounds carry only the changed properties.
    pub return_minimal: bool,
    /// Delta tokens older than this are expired.
    pub delta_ttl_secs: i64,
    /// Fault mode: user collection listings come back empty (a populated tenant that
    /// reads as empty), to prove clients refuse to act on such a read.
    pub empty_user_lists: bool,
    /// The application permissions of the caller's token (`roles`).
    pub roles: &'a [String],
    /// Out: objects created by this request (they become subject to replication lag).
    pub created: Vec<Uuid>,
}

/// A response body.
#[derive(Debug, Clone)]
pub enum Body {
    Json(Value),
    Text(String),
    Empty,
}

/// A successful (or error-carrying) Graph response.
#[derive(Debug, Clone)]
pub struct Resp {
    pub status: u16,
    pub body: Body,
    pub headers: Vec<(String, String)>,
    /// The request changed the tenant (persist it).
    pub wrote: bool,
}

impl Resp {
    fn json(status: u16, v: Value) -> Resp {
        Resp {
            status,
            body: Body::Json(v),
            headers: Vec::new(),
            wrote: false,
        }
    }
    fn ok(v: Value) -> Resp {
        Resp::json(200, v)
    }
    fn no_content() -> Resp {
        Resp {
            status: 204,
            body: Body::Empty,
            headers: Vec::new(),
            wrote: true,
        }
    }
    fn wrote(mut self) -> Resp {
        self.wrote = true;
        self
    }
}

type R = Result<Resp, GraphError>;

/// What a request costs before query options: the base resource units of its path and
/// whether it counts against the write budget.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Cost {
    pub base: u32,
    pub write: bool,
    /// `POST directoryObjects/getByIds` / `getObjectsById` (2 RU with `$select`).
    pub by_ids: bool,
}

/// Whether application permissions `roles` allow a write to `path`: users need
/// User.ReadWrite.All (licences also LicenseAssignment.ReadWrite.All), groups
/// Group.ReadWrite.All (members also GroupMember.ReadWrite.All), anything
/// Directory.ReadWrite.All (the permissions tables of api/user-update.md,
/// api/group-update.md, api/group-post-members.md, api/user-assignlicense.md,
/// api/directory-deleteditems-restore.md). Invitations and role management check
/// their own permissions.
pub fn write_permitted(path: &str, roles: &[String]) -> bool {
    use crate::emulator::roles::has_any;
    let segs = route_segments(path);
    let segs: Vec<&str> = segs.iter().map(String::as_str).collect();
    let first = segs.first().copied().unwrap_or("");
    let wanted: &[&str] = match first {
        "invitations" | "roleManagement" | "$batch" => return true,
        "users" if segs.get(2).is_some_and(|s| s.ends_with("assignLicense")) => &[
            "User.ReadWrite.All",
            "LicenseAssignment.ReadWrite.All",
            "Directory.ReadWrite.All",
        ],
        "users" => &["User.ReadWrite.All", "Directory.ReadWrite.All"],
        "groups"
            if segs
                .get(2)
                .is_some_and(|s| *s == "members" || *s == "owners") =>
        {
            &[
                "Group.ReadWrite.All",
                "GroupMember.ReadWrite.All",
                "Directory.ReadWrite.All",
            ]
        }
        f if f == "groups" || f.starts_with("groups(") => {
            &["Group.ReadWrite.All", "Directory.ReadWrite.All"]
        }
        "directory" => &[
            "User.ReadWrite.All",
            "Group.ReadWrite.All",
            "Directory.ReadWrite.All",
        ],
        _ => &["Directory.ReadWrite.All"],
    };
    has_any(roles, wanted)
}

/// The cost of a request for throttling (before it is executed): the base costs of
/// concepts/throttling-limits.md, "Identity and access service limits" — `GET users` 2,
/// `GET groups/{id}/members` 3, `GET groups/{id}/transitiveMembers` 5,
/// `GET subscribedSkus` 3, `GET me/memberOf|licenseDetails|ownedObjects|transitiveMemberOf`
/// 2 (the `me/` costs apply to `users/{id | userPrincipalName}/` too), the listed
/// read-only POST actions, and any other path 1 (writes 1 RU and 1 write).
pub fn classify(method: &str, path: &str) -> Cost {
    let segs = route_segments(path);
    let s: Vec<&str> = segs.iter().map(String::as_str).collect();
    // `me/…` and `users/{id}/…` share costs.
    let user_rel: Option<&[&str]> = match s.as_slice() {
        ["me", rest @ ..] => Some(rest),
        ["users", _, rest @ ..] if !rest.is_empty() => Some(rest),
        _ => None,
    };
    let read = |base: u32| Cost {
        base,
        write: false,
        by_ids: false,
    };
    if method == "GET" {
        if let Some(rel) = user_rel {
            return match rel.first() {
                Some(&("memberOf" | "licenseDetails" | "ownedObjects" | "transitiveMemberOf")) => {
                    read(2)
                }
                _ => read(1),
            };
        }
        return match s.as_slice() {
            ["users"] => read(2),
            ["groups", _, "members", ..] => read(3),
            ["groups", _, "transitiveMembers", ..] => read(5),
            ["subscribedSkus"] => read(3),
            ["applications"] | ["applications", _, "extensionProperties"] => read(2),
            ["contracts"] => read(3),
            ["domains", _, "domainNameReferences"] => read(4),
            ["oauth2PermissionGrants", ..] => read(2),
            ["servicePrincipals", _, "appRoleAssignments"] => read(2),
            _ => read(1),
        };
    }
    if method == "POST" {
        let action = |a: &str| a.trim_start_matches("microsoft.graph.").to_string();
        let by_ids = Cost {
            base: 5,
            write: false,
            by_ids: true,
        };
        match s.as_slice() {
            ["directoryObjects", a] if action(a) == "getByIds" => return by_ids,
            [a] if action(a) == "getObjectsById" => return by_ids,
            [.., a] if action(a) == "isMemberOf" => return read(4),
            _ => {}
        }
        if let Some([a]) = user_rel {
            match action(a).as_str() {
                "checkMemberGroups" | "checkMemberObjects" => return read(4),
                "getMemberGroups" | "getMemberObjects" => return read(2),
                _ => {}
            }
        }
    }
    Cost {
        base: 1,
        write: true,
        by_ids: false,
    }
}

/// The decoded segments of a path, with a parenthesised key (`users('key')`) split into
/// the entity set and the key, so that it is addressed like `users/key`.
fn route_segments(path: &str) -> Vec<String> {
    let mut segs: Vec<String> = Vec::new();
    for s in path.split('/').filter(|s| !s.is_empty()) {
        let s = decode_seg(s);
        match paren_key_segment(&s) {
            Some((set, key)) => {
                segs.push(set.to_string());
                segs.push(key);
            }
            None => segs.push(s),
        }
    }
    segs
}

/// `users('key')`, `groups('key')`, `directoryObjects('key')`: the entity set and the
/// key (OData's parenthesised key; `''` stands for a quote). user-get.md documents it
/// for a userPrincipalName that begins with `$`: "enclose the userPrincipalName in
/// parentheses and single quotes. For example, `/users('$AdeleVance@contoso.com')`."
fn paren_key_segment(seg: &str) -> Option<(&'static str, String)> {
    for set in ["users", "groups", "directoryObjects"] {
        if let Some(inner) = seg
            .strip_prefix(set)
            .and_then(|r| r.strip_prefix('('))
            .and_then(|r| r.strip_suffix(')'))
        {
            let lit = inner.strip_prefix('\'')?.strip_suffix('\'')?;
            if lit.is_empty() {
                return None;
            }
            // Inside the literal a lone quote ends it; only doubled quotes may appear.
            let unescaped = lit.replace("''", "'");
            if unescaped.matches('\'').count() * 2 != lit.matches('\'').count() {
                return None;
            }
            return Some((set, unescaped));
        }
    }
    None
}

/// Take `$id` (or `@id`) out of a query: the object it names (the last segment of its
/// URL, or the value itself) and the rest of the query.
fn split_ref_id(query: Option<&str>) -> (Option<String>, Option<String>) {
    let Some(query) = query else {
        return (None, None);
    };
    let mut id = None;
    let mut rest = Vec::new();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        let k = decode_seg(k);
        if k == "$id" || k == "@id" {
            let v = decode_seg(&v.replace('+', " "));
            let v = v.trim().trim_end_matches('/');
            id = Some(v.rsplit('/').next().unwrap_or(v).to_string());
        } else {
            rest.push(pair);
        }
    }
    let rest = (!rest.is_empty()).then(|| rest.join("&"));
    (id, rest)
}

fn decode_seg(s: &str) -> String {
    percent_encoding::percent_decode_str(s)
        .decode_utf8_lossy()
        .into_owned()
}

fn parse_body(body: &[u8]) -> Result<Map<String, Value>, GraphError> {
    if body.iter().all(|b| b.is_ascii_whitespace()) {
        return Err(GraphError::invalid_json());
    }
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(m)) => Ok(m),
        _ => Err(GraphError::invalid_json()),
    }
}

/// Navigation properties a `$select` may name next to the structural ones.
const SELECT_NAV: &[&str] = &["manager", "members", "owners", "memberOf", "directReports"];

/// `$select` names in their canonical case, for every entity: property names in Graph's
/// `$select` are case-insensitive (api/directory-deleteditems-list.md, Example 2 selects
/// `DisplayName`; OData 4.01 URL conventions, case-insensitive identifiers). Names no
/// entity knows stay as sent, for the "Could not find a property" error.
fn canonical_select(mut q: Query) -> Query {
    if let Some(sel) = q.select.as_mut() {
        for p in sel.iter_mut() {
            if let Some(k) = crate::emulator::model::USER_PROPS
                .iter()
                .chain(crate::emulator::model::USER_WRITE_ONLY)
                .chain(crate::emulator::model::GROUP_PROPS)
                .chain(licenses::SKU_PROPS)
                .chain(SELECT_NAV)
                .find(|k| k.eq_ignore_ascii_case(p))
            {
                *p = (*k).to_string();
            }
        }
    }
    q
}

fn check_select(
    sel: &Option<Vec<String>>,
    allowed: &dyn Fn(&str) -> bool,
    entity: &str,
) -> Result<(), GraphError> {
    if let Some(sel) = sel {
        for p in sel {
            if !allowed(p) {
                return Err(GraphError::odata_bad_request(format!(
                    "Could not find a property named '{p}' on type 'microsoft.graph.{entity}'."
                )));
            }
        }
    }
    Ok(())
}

fn context(ctx: &Ctx<'_>, what: &str, sel: &Option<Vec<String>>) -> String {
    match sel {
        Some(s) => format!("{}/v1.0/$metadata#{}({})", ctx.base, what, s.join(",")),
        None => format!("{}/v1.0/$metadata#{}", ctx.base, what),
    }
}

/// Route one Graph request (path relative to `/v1.0`).
pub fn handle(
    t: &mut Tenant,
    ctx: &mut Ctx<'_>,
    method: &str,
    path: &str,
    query: Option<&str>,
    body: &[u8],
) -> R {
    let segs = route_segments(path);
    let s: Vec<&str> = segs.iter().map(String::as_str).collect();
    let m = method;
    // `DELETE …/members/$ref?$id={url}`: the reference to remove named in the query, as
    // the Graph SDKs send it (their `members/$ref` DELETE request builders).
    let (ref_id, query) = match s.as_slice() {
        ["groups", _, "members" | "owners", "$ref"] if m == "DELETE" => split_ref_id(query),
        _ => (None, query.map(str::to_string)),
    };
    let q = canonical_select(Query::parse(query.as_deref())?);
    match s.as_slice() {
        ["users"] => match m {
            "GET" => list_users(t, ctx, &q),
            "POST" => create_user(t, ctx, body),
            _ => Err(GraphError::method_not_allowed()),
        },
        ["users", "$count"] => count(
            ctx,
            m,
            t.users.keys().filter(|id| !ctx.hidden.contains(id)).count(),
        ),
        ["users", "delta" | "delta()"] => only_get(m).and_then(|_| delta(t, ctx, &q, Kind::User)),
        ["users", id] => {
            let id = resolve_user(t, ctx, id)?;
            match m {
                "GET" => get_user(t, ctx, &q, id),
                "PATCH" => update_user(t, ctx, body, id),
                "DELETE" => delete_user(t, ctx, id),
                _ => Err(GraphError::method_not_allowed()),
            }
        }
        [
            "users",
            id,
            "assignLicense" | "microsoft.graph.assignLicense",
        ] => {
            let id = resolve_user(t, ctx, id)?;
            if m != "POST" {
                return Err(GraphError::method_not_allowed());
            }
            assign_license(t, ctx, body, id)
        }
        ["users", id, "licenseDetails"] => {
            let id = resolve_user(t, ctx, id)?;
            only_get(m)?;
            licenses::list_license_details(t, ctx, &q, id)
        }
        ["users", id, "memberOf"] => {
            let id = resolve_user(t, ctx, id)?;
            only_get(m)?;
            member_of(t, ctx, &q, id)
        }
        ["users", id, "manager"] => {
            let id = resolve_user(t, ctx, id)?;
            only_get(m)?;
            manager::get_manager(t, ctx, &q, id)
        }
        ["users", id, "manager", "$ref"] => {
            let id = resolve_user(t, ctx, id)?;
            match m {
                "GET" => manager::get_manager_ref(t, ctx, id),
                "PUT" => manager::put_manager(t, ctx, body, id),
                "DELETE" => manager::delete_manager(t, ctx, id),
                _ => Err(GraphError::method_not_allowed()),
            }
        }
        ["users", id, "directReports"] => {
            let id = resolve_user(t, ctx, id)?;
            only_get(m)?;
            manager::direct_reports(t, ctx, &q, id)
        }
        ["users", _, other, ..] => Err(GraphError::segment_not_found(other)),
        ["groups"] => match m {
            "GET" => list_groups(t, ctx, &q),
            "POST" => create_group(t, ctx, body),
            _ => Err(GraphError::method_not_allowed()),
        },
        ["groups", "$count"] => count(
            ctx,
            m,
            t.groups
                .keys()
                .filter(|id| !ctx.hidden.contains(id))
                .count(),
        ),
        ["groups", "delta" | "delta()"] => only_get(m).and_then(|_| delta(t, ctx, &q, Kind::Group)),
        [seg] if seg.starts_with("groups(") => {
            let key = unique_name_key(seg)?;
            match m {
                "GET" => {
                    let id = t
                        .group_by_unique_name(&key)
                        .filter(|id| !ctx.hidden.contains(id))
                        .ok_or_else(|| GraphError::not_found(&key))?;
                    get_group(t, ctx, &q, id)
                }
                "PATCH" => upsert_group(t, ctx, body, &key),
                _ => Err(GraphError::method_not_allowed()),
            }
        }
        ["groups", id] => {
            let id = resolve_group(t, ctx, id)?;
            match m {
                "GET" => get_group(t, ctx, &q, id),
                "PATCH" => update_group(t, ctx, body, id),
                "DELETE" => delete_group(t, ctx, id),
                _ => Err(GraphError::method_not_allowed()),
            }
        }
        ["groups", id, rel @ ("members" | "owners"), rest @ ..] => {
            let gid = resolve_group(t, ctx, id)?;
            let owners = *rel == "owners";
            match rest {
                [] => only_get(m).and_then(|_| list_links(t, ctx, &q, gid, owners, None)),
                ["$count"] => {
                    let g = &t.groups[&gid];
                    let n = if owners {
                        g.owners.len()
                    } else {
                        g.members.len()
                    };
                    count(ctx, m, n)
                }
                ["$ref"] => match m {
                    "POST" => add_link(t, ctx, body, gid, owners),
                    "GET" => list_refs(t, ctx, &q, gid, owners),
                    "DELETE" => match &ref_id {
                        Some(mid) => remove_link(t, ctx, gid, mid, owners),
                        None => Err(GraphError::bad_request(
                            "The reference to remove is missing: use …/$ref?$id={url of the object} or …/{id}/$ref.",
                        )),
                    },
                    _ => Err(GraphError::method_not_allowed()),
                },
                [cast @ ("microsoft.graph.user" | "microsoft.graph.group")] => only_get(m)
                    .and_then(|_| {
                        list_links(
                            t,
                            ctx,
                            &q,
                            gid,
                            owners,
                            Some(if *cast == "microsoft.graph.user" {
                                "user"
                            } else {
                                "group"
                            }),
                        )
                    }),
                [mid, "$ref"] => {
                    if m != "DELETE" {
                        return Err(GraphError::method_not_allowed());
                    }
                    remove_link(t, ctx, gid, mid, owners)
                }
                [mid] if !owners && m == "DELETE" => delete_member_object(t, ctx, gid, mid),
                [other, ..] => Err(GraphError::segment_not_found(other)),
            }
        }
        [
            "groups",
            id,
            "assignLicense" | "microsoft.graph.assignLicense",
        ] => {
            let id = resolve_group(t, ctx, id)?;
            if m != "POST" {
                return Err(GraphError::method_not_allowed());
            }
            assign_group_license(t, ctx, body, id)
        }
        ["groups", _, other, ..] => Err(GraphError::segment_not_found(other)),
        ["invitations"] => match m {
            "POST" => invitations::invite(t, ctx, body),
            _ => Err(GraphError::method_not_allowed()),
        },
        ["roleManagement", "directory", "roleDefinitions"] => {
            only_get(m).and_then(|_| roles::definitions(ctx, &q, None, false))
        }
        ["roleManagement", "directory", "roleDefinitions", id] => {
            only_get(m).and_then(|_| roles::definitions(ctx, &q, Some(id), false))
        }
        ["roleManagement", "directory", "roleAssignments"] => match m {
            "GET" => roles::list_assignments(t, ctx, &q),
            "POST" => roles::create_assignment(t, ctx, body),
            _ => Err(GraphError::method_not_allowed()),
        },
        ["roleManagement", "directory", "roleAssignments", id] => match m {
            "GET" => roles::get_assignment(t, ctx, &q, id),
            "DELETE" => roles::delete_assignment(t, ctx, id),
            _ => Err(GraphError::method_not_allowed()),
        },
        ["roleManagement", other, ..] => Err(GraphError::segment_not_found(other)),
        ["directoryObjects", id] => {
            only_get(m)?;
            let uid = parse_id(id)?;
            if ctx.hidden.contains(&uid) {
                return Err(GraphError::not_found(id));
            }
            match t.kind_of(&uid) {
                Some("user") => get_user(t, ctx, &q, uid),
                Some(_) => get_group(t, ctx, &q, uid),
                None => Err(GraphError::not_found(id)),
            }
        }
        ["directory", "deletedItems"] => Err(GraphError::bad_request(
            "Type cast is required for deleted items: use /directory/deletedItems/microsoft.graph.user or /directory/deletedItems/microsoft.graph.group.",
        )),
        [
            "directory",
            "deletedItems",
            cast @ ("microsoft.graph.user" | "microsoft.graph.group"),
        ] => {
            only_get(m)?;
            list_deleted(t, ctx, &q, *cast == "microsoft.graph.user")
        }
        [
            "directory",
            "deletedItems",
            cast @ ("microsoft.graph.user" | "microsoft.graph.group"),
            "$count",
        ] => {
            only_get(m)?;
            let n = deleted::count_deleted(t, ctx, &q, *cast == "microsoft.graph.user")?;
            count(ctx, m, n)
        }
        ["directory", "deletedItems", id] => {
            let uid = parse_id(id)?;
            match m {
                "GET" => get_deleted(t, ctx, &q, uid),
                "DELETE" => purge_deleted(t, uid),
                _ => Err(GraphError::method_not_allowed()),
            }
        }
        [
            "directory",
            "deletedItems",
            id,
            "restore" | "microsoft.graph.restore",
        ] => {
            if m != "POST" {
                return Err(GraphError::method_not_allowed());
            }
            let uid = parse_id(id)?;
            restore_deleted(t, ctx, uid, body)
        }
        ["domains"] => only_get(m).and_then(|_| list_domains(t, ctx)),
        ["domains", name] => only_get(m).and_then(|_| get_domain(t, ctx, name)),
        ["subscribedSkus"] => only_get(m).and_then(|_| list_skus(t, ctx, &q)),
        ["subscribedSkus", id] => only_get(m).and_then(|_| get_sku(t, &q, id)),
        ["organization"] => only_get(m).and_then(|_| organization(t, ctx)),
        [] => Err(GraphError::odata_bad_request(
            "Request URL is missing a resource segment.",
        )),
        [first, ..] => Err(GraphError::segment_not_found(first)),
    }
}

/// The test door (`POST /_emulator/users|groups|domains`; not Graph).
pub fn door(t: &mut Tenant, ctx: &mut Ctx<'_>, kind: &str, body: &[u8]) -> R {
    door::handle(t, ctx, kind, body)
}

/// `GET /beta/roleManagement/directory/roleDefinitions[/{id}]`: the role definitions
/// with beta's `isPrivileged`. Only the directory's read permissions are needed, which
/// every emulated app holds.
pub fn beta_role_definitions(base: &str, path: &str, query: Option<&str>) -> R {
    let q = Query::parse(query)?;
    let segs: Vec<String> = path
        .split('/')
        .filter(|s| !s.is_empty())
        .map(decode_seg)
        .collect();
    let hidden = HashSet::new();
    let read = vec!["Directory.Read.All".to_string()];
    let ctx = Ctx {
        base,
        now: time::OffsetDateTime::UNIX_EPOCH,
        hidden: &hidden,
        eventual: false,
        max_page: None,
        create_if_missing: false,
        return_minimal: false,
        delta_ttl_secs: 0,
        empty_user_lists: false,
        roles: &read,
        created: Vec::new(),
    };
    match segs
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .as_slice()
    {
        ["roleManagement", "directory", "roleDefinitions"] => {
            roles::definitions(&ctx, &q, None, true)
        }
        ["roleManagement", "directory", "roleDefinitions", id] => {
            roles::definitions(&ctx, &q, Some(id), true)
        }
        [.., last] => Err(GraphError::segment_not_found(last)),
        [] => Err(GraphError::segment_not_found("")),
    }
}

fn only_get(m: &str) -> Result<(), GraphError> {
    if m == "GET" {
        Ok(())
    } else {
        Err(GraphError::method_not_allowed())
    }
}

fn count(ctx: &Ctx<'_>, m: &str, n: usize) -> R {
    only_get(m)?;
    // concepts/aad-advanced-queries.md, "Error handling for advanced queries".
    if !ctx.eventual {
        return Err(GraphError::bad_request(
            "$count is not currently supported.",
        ));
    }
    Ok(Resp {
        status: 200,
        body: Body::Text(n.to_string()),
        headers: vec![("Content-Type".into(), "text/plain".into())],
        wrote: false,
    })
}

/// The key of `groups(uniqueName='…')` (`''` stands for a quote); any other alternate
/// key is not one groups have.
fn unique_name_key(seg: &str) -> Result<String, GraphError> {
    let inner = seg
        .strip_prefix("groups(")
        .and_then(|r| r.strip_suffix(')'))
        .ok_or_else(|| GraphError::segment_not_found(seg))?;
    let literal = inner
        .strip_prefix("uniqueName=")
        .and_then(|v| v.strip_prefix('\''))
        .and_then(|v| v.strip_suffix('\''))
        .ok_or_else(|| {
            GraphError::odata_bad_request(format!(
                "The key '{inner}' is not valid for type 'microsoft.graph.group': groups are addressed by id or uniqueName."
            ))
        })?;
    Ok(literal.replace("''", "'"))
}

fn parse_id(s: &str) -> Result<Uuid, GraphError> {
    Uuid::parse_str(s).map_err(|_| GraphError::invalid_object_id(s))
}

fn resolve_user(t: &Tenant, ctx: &Ctx<'_>, key: &str) -> Result<Uuid, GraphError> {
    let id = match Uuid::parse_str(key) {
        Ok(id) if t.users.contains_key(&id) => Some(id),
        Ok(_) => None,
        Err(_) => t.user_by_upn(key),
    };
    match id {
        Some(id) if !ctx.hidden.contains(&id) => Ok(id),
        _ => Err(GraphError::not_found(key)),
    }
}

fn resolve_group(t: &Tenant, ctx: &Ctx<'_>, key: &str) -> Result<Uuid, GraphError> {
    let id = parse_id(key)?;
    if t.groups.contains_key(&id) && !ctx.hidden.contains(&id) {
        Ok(id)
    } else {
        Err(GraphError::not_found(key))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::emulator::model::{Group, User};
    use proptest::prelude::*;

    fn tenant() -> Tenant {
        let mut t = Tenant::new(
            "contoso",
            &["contoso.com".into()],
            &[("ENTERPRISEPACK".into(), 1)],
        );
        let u = User {
            id: Uuid::new_v4(),
            user_principal_name: "a@contoso.com".into(),
            display_name: "A".into(),
            mail_nickname: "a".into(),
            ..Default::default()
        };
        let uid = u.id;
        t.insert_user(u);
        let g = Group {
            id: Uuid::new_v4(),
            display_name: "G".into(),
            members: [uid].into_iter().collect(),
            ..Default::default()
        };
        t.insert_group(g);
        t
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]
        /// Whatever the method, path, query and body, a request ends in a response or a
        /// Graph error — never a panic.
        #[test]
        fn arbitrary_requests_never_panic(
            method in prop::sample::select(vec!["GET", "POST", "PATCH", "DELETE", "PUT"]),
            segs in prop::collection::vec(prop::sample::select(vec![
                "users", "groups", "members", "owners", "$ref", "$count", "delta", "assignLicense",
                "directory", "deletedItems", "restore", "domains", "subscribedSkus", "memberOf",
                "a@contoso.com", "00000000-0000-0000-0000-000000000000", "%ZZ", "", "microsoft.graph.user",
                "groups(uniqueName='k')", "groups(x)", "groups(uniqueName='a''b')",
                "invitations", "roleManagement", "directory", "roleAssignments", "roleDefinitions",
            ]), 0..6),
            query in "[$a-z=&,'() 0-9%]{0,40}",
            body in prop::sample::select(vec!["", "{}", "null", "[", "{\"@odata.id\":\"x\"}",
                "{\"displayName\":5}", "{\"members@odata.bind\":[\"a\"]}", "{\"addLicenses\":[{}],\"removeLicenses\":[1]}",
                "{\"invitedUserEmailAddress\":\"a@b.example\",\"inviteRedirectUrl\":\"https://x\"}",
                "{\"principalId\":\"x\",\"roleDefinitionId\":\"62e90394-69f5-4237-9190-012177145e10\",\"directoryScopeId\":\"/\"}"]),
        ) {
            let mut t = tenant();
            let hidden = HashSet::new();
            let grants: Vec<String> = crate::emulator::roles::DEFAULT_GRANTS
                .iter()
                .map(|g| g.to_string())
                .chain(std::iter::once(crate::emulator::roles::ROLE_MANAGEMENT_WRITE.to_string()))
                .collect();
            let mut ctx = Ctx {
                base: "http://x",
                now: time::OffsetDateTime::UNIX_EPOCH,
                hidden: &hidden,
                eventual: query.len() % 2 == 0,
                max_page: None,
                create_if_missing: query.len() % 3 == 0,
                return_minimal: false,
                delta_ttl_secs: 10,
                empty_user_lists: false,
                roles: &grants,
                created: Vec::new(),
            };
            let path = format!("/{}", segs.join("/"));
            let _ = handle(&mut t, &mut ctx, method, &path, Some(&query), body.as_bytes());
        }

        /// The test door ends in an object or an error for any body.
        #[test]
        fn arbitrary_door_bodies_never_panic(
            kind in prop::sample::select(vec!["users", "groups", "domains"]),
            body in prop::collection::vec(prop::sample::select(vec![
                "\"id\":\"x\"", "\"id\":\"0d7c2b8e-0000-4000-8000-000000000009\"",
                "\"userPrincipalName\":\"d@contoso.com\"", "\"displayName\":\"D\"",
                "\"mailNickname\":\"d\"", "\"mailEnabled\":true", "\"securityEnabled\":true",
                "\"members\":[\"x\"]", "\"members\":[1]", "\"proxyAddresses\":[\"smtp:a@contoso.com\"]",
                "\"proxyAddresses\":\"x\"", "\"groupTypes\":[\"DynamicMembership\"]",
                "\"isAssignableToRole\":true", "\"onPremisesSyncEnabled\":true",
                "\"onPremisesLastSyncDateTime\":\"x\"", "\"authenticationType\":\"Federated\"",
            ]), 0..8),
        ) {
            let mut t = tenant();
            let hidden = HashSet::new();
            let mut ctx = Ctx {
                base: "http://x",
                now: time::OffsetDateTime::UNIX_EPOCH,
                hidden: &hidden,
                eventual: false,
                max_page: None,
                create_if_missing: false,
                return_minimal: false,
                delta_ttl_secs: 10,
                empty_user_lists: false,
                roles: &[],
                created: Vec::new(),
            };
            let body = format!("{{{}}}", body.join(","));
            let _ = door(&mut t, &mut ctx, kind, body.as_bytes());
        }
    }
}
