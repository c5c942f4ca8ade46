//! The emulated Workspace directory and the Directory API's users, groups and members
//! methods over it: pure functions of the directory and a request (no I/O, no clock:
//! the caller passes the time). Objects are kept as the JSON the API returns, so that
//! what is stored is what the discovery document's schemas describe.

use std::collections::{BTreeMap, HashSet};

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use sha2::Digest as _;

use super::error::ApiError;

/// User properties a client may write (the discovery document's `User` schema less its
/// read-only properties; `password` and `hashFunction` are write-only).
pub const USER_WRITABLE: &[&str] = &[
    "addresses",
    "archived",
    "changePasswordAtNextLogin",
    "customSchemas",
    "emails",
    "externalIds",
    "gender",
    "hashFunction",
    "includeInGlobalAddressList",
    "ims",
    "ipWhitelisted",
    "keywords",
    "languages",
    "locations",
    "name",
    "notes",
    "orgUnitPath",
    "organizations",
    "password",
    "phones",
    "posixAccounts",
    "primaryEmail",
    "recoveryEmail",
    "recoveryPhone",
    "relations",
    "sshPublicKeys",
    "suspended",
    "websites",
];

/// User properties the server sets; a client's values for them are ignored, as Google
/// ignores output-only fields.
pub const USER_SERVER_SET: &[&str] = &[
    "agreedToTerms",
    "aliases",
    "archivalTime",
    "creationTime",
    "customerId",
    "deletionTime",
    "etag",
    "guestAccountInfo",
    "id",
    "isAdmin",
    "isDelegatedAdmin",
    "isEnforcedIn2Sv",
    "isEnrolledIn2Sv",
    "isGuestUser",
    "isMailboxSetup",
    "kind",
    "lastLoginTime",
    "nonEditableAliases",
    "suspensionReason",
    "suspensionTime",
    "thumbnailPhotoEtag",
    "thumbnailPhotoUrl",
];

pub const USER_NAME_FIELDS: &[&str] = &["displayName", "familyName", "fullName", "givenName"];

/// Group properties a client may write.
pub const GROUP_WRITABLE: &[&str] = &["description", "email", "name"];
pub const GROUP_SERVER_SET: &[&str] = &[
    "adminCreated",
    "aliases",
    "directMembersCount",
    "etag",
    "externalIds",
    "id",
    "kind",
    "nonEditableAliases",
];

pub const MEMBER_WRITABLE: &[&str] = &["delivery_settings", "email", "id", "role", "type"];
pub const MEMBER_SERVER_SET: &[&str] = &["etag", "kind", "status"];

const HASH_FUNCTIONS: &[&str] = &["MD5", "SHA-1", "crypt"];
const ROLES: &[&str] = &["OWNER", "MANAGER", "MEMBER"];

/// A group membership.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Member {
    pub id: String,
    pub email: String,
    pub role: String,
    /// USER, GROUP or EXTERNAL... as the API's `type`.
    #[serde(rename = "type")]
    pub kind: String,
    pub delivery_settings: String,
}

/// A password as the directory keeps it: its digest only, never the value.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct PasswordRecord {
    pub sha256: String,
    pub hash_function: Option<String>,
}

/// The Workspace account: customer, domains, users, groups, memberships.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Directory {
    pub customer_id: String,
    pub domains: Vec<String>,
    /// id -> the user as returned (full projection, admin view, without etag).
    pub users: BTreeMap<String, Map<String, Value>>,
    /// Deleted users (restorable with undelete), id -> user with `deletionTime`.
    #[serde(default)]
    pub deleted_users: BTreeMap<String, Map<String, Value>>,
    #[serde(default)]
    pub passwords: BTreeMap<String, PasswordRecord>,
    pub groups: BTreeMap<String, Map<String, Value>>,
    /// group id -> members in insertion order.
    pub members: BTreeMap<String, Vec<Member>>,
    /// Id sequence.
    pub seq: u64,
}

/// One API call, the path relative to `/admin/directory/v1/`.
#[derive(Debug, Clone, Default)]
pub struct ApiRequest {
    pub method: String,
    pub path: String,
    pub query: Vec<(String, String)>,
    pub body: Vec<u8>,
    pub if_match: Option<String>,
}

/// What a call answers.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiResponse {
    pub status: u16,
    pub body: Option<Value>,
    pub wrote: bool,
    /// The id of an object the call created (for eventual consistency).
    pub created: Option<String>,
}

impl ApiResponse {
    fn ok(body: Value) -> ApiResponse {
        ApiResponse {
            status: 200,
            body: Some(body),
            wrote: false,
            created: None,
        }
    }
    fn wrote(body: Value) -> ApiResponse {
        ApiResponse {
            wrote: true,
            ..ApiResponse::ok(body)
        }
    }
    fn no_content() -> ApiResponse {
        ApiResponse {
            status: 204,
            body: None,
            wrote: true,
            created: None,
        }
    }
}

/// The context of a call: time, the objects still replicating, the token's scopes.
pub struct CallCtx<'a> {
    /// RFC 3339 with milliseconds, UTC.
    pub now: String,
    /// Ids of just-created objects that reads and references do not see yet.
    pub hidden: &'a HashSet<String>,
    pub scopes: &'a [String],
    /// The most items a page holds whatever `maxResults` asks (Google's pages may be
    /// shorter than asked; clients follow `nextPageToken`).
    pub page_cap: Option<usize>,
}

/// Which scope family a route needs.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Family {
    User,
    Group,
    Member,
}

const SCOPE_PREFIX: &str = "https://www.googleapis.com/auth/admin.directory.";

/// Whether `scopes` allow a read (`write` false) or write of `family`, as the
/// discovery document's method scopes list them.
pub fn scope_allows(scopes: &[String], family: Family, write: bool) -> bool {
    let names: &[&str] = match (family, write) {
        (Family::User, true) => &["user"],
        (Family::User, false) => &["user", "user.readonly"],
        (Family::Group, true) => &["group"],
        (Family::Group, false) => &["group", "group.readonly"],
        (Family::Member, true) => &["group", "group.member"],
        (Family::Member, false) => &[
            "group",
            "group.readonly",
            "group.member",
            "group.member.readonly",
        ],
    };
    scopes.iter().any(|s| {
        s.strip_prefix(SCOPE_PREFIX)
            .is_some_and(|rest| names.contains(&rest))
    })
}

/// Whether `scope` is one of the Directory API's scopes.
pub fn is_directory_scope(scope: &str) -> bool {
    scope.starts_with(SCOPE_PREFIX)
}

fn query<'a>(req: &'a ApiRequest, name: &str) -> Option<&'a str> {
    req.query
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

fn etag_of(v: &Value) -> String {
    let digest = sha2::Sha256::digest(v.to_string().as_bytes());
    let a = URL_SAFE_NO_PAD.encode(&digest[..12]);
    let b = URL_SAFE_NO_PAD.encode(&digest[12..24]);
    format!("\"{a}/{b}\"")
}

fn with_etag(mut m: Map<String, Value>) -> Value {
    let tag = etag_of(&Value::Object(m.clone()));
    m.insert("etag".into(), Value::String(tag));
    Value::Object(m)
}

fn parse_body(body: &[u8]) -> Result<Map<String, Value>, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(Map::new());
    }
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(m)) => Ok(m),
        Ok(_) => Err(ApiError::invalid(
            "Invalid JSON payload received. Expected an object.",
        )),
        Err(e) => Err(ApiError::invalid(format!(
            "Invalid JSON payload received. {e}"
        ))),
    }
}

/// Rejects names outside `writable` ∪ `server_set` (Google answers 400 for unknown
/// fields) and drops the server-set ones.
fn writable_fields(
    mut body: Map<String, Value>,
    writable: &[&str],
    server_set: &[&str],
) -> Result<Map<String, Value>, ApiError> {
    if let Some(k) = body
        .keys()
        .find(|k| !writable.contains(&k.as_str()) && !server_set.contains(&k.as_str()))
    {
        return Err(ApiError::invalid(format!(
            "Invalid JSON payload received. Unknown name \"{k}\" at 'resource': Cannot find field."
        )));
    }
    body.retain(|k, _| writable.contains(&k.as_str()));
    Ok(body)
}

fn capped(ctx: &CallCtx, size: usize) -> usize {
    ctx.page_cap.map_or(size, |cap| size.min(cap.max(1)))
}

fn page_size(req: &ApiRequest, default: usize, max: usize) -> Result<usize, ApiError> {
    match query(req, "maxResults") {
        None => Ok(default),
        Some(s) => match s.parse::<i64>() {
            Ok(n) if n >= 1 && n as usize <= max => Ok(n as usize),
            Ok(_) => Err(ApiError::invalid(format!(
                "Invalid value '{s}'. Values must be within the range: [1, {max}]"
            ))),
            Err(_) => Err(ApiError::invalid(format!(
                "Invalid value '{s}'. Values must be a number."
            ))),
        },
    }
}

/// Page token: the sort key of the last item of the previous page, with a digest of the
/// listing's parameters so that a token is only good for the listing that issued it.
fn encode_token(listing: &str, last: &[String]) -> String {
    STANDARD.encode(json!({"l": listing_digest(listing), "k": last}).to_string())
}

fn decode_token(listing: &str, token: &str) -> Result<Vec<String>, ApiError> {
    let bad = || ApiError::invalid("Invalid Input: pageToken");
    let raw = STANDARD.decode(token).map_err(|_| bad())?;
    let v: Value = serde_json::from_slice(&raw).map_err(|_| bad())?;
    if v["l"] != listing_digest(listing) {
        return Err(bad());
    }
    v["k"]
        .as_array()
        .ok_or_else(bad)?
        .iter()
        .map(|x| x.as_str().map(str::to_string).ok_or_else(bad))
        .collect()
}

fn listing_digest(listing: &str) -> String {
    URL_SAFE_NO_PAD.encode(&sha2::Sha256::digest(listing.as_bytes())[..9])
}

/// One page of `items` (already sorted by `key`), after the page token.
fn paginate<T: Clone>(
    items: Vec<(Vec<String>, T)>,
    listing: &str,
    token: Option<&str>,
    size: usize,
    descending: bool,
) -> Result<(Vec<T>, Option<String>), ApiError> {
    let after = token
        .filter(|t| !t.is_empty())
        .map(|t| decode_token(listing, t))
        .transpose()?;
    let rest: Vec<(Vec<String>, T)> = items
        .into_iter()
        .filter(|(k, _)| match &after {
            None => true,
            Some(a) if descending => k < a,
            Some(a) => k > a,
        })
        .collect();
    let next = (rest.len() > size).then(|| encode_token(listing, &rest[size - 1].0));
    Ok((rest.into_iter().take(size).map(|(_, t)| t).collect(), next))
}

fn lower(s: &str) -> String {
    s.to_lowercase()
}

fn email_domain(email: &str) -> Option<&str> {
    email.rsplit_once('@').map(|(_, d)| d)
}

fn valid_email(email: &str) -> bool {
    match email.split_once('@') {
        Some((local, domain)) => {
            !local.is_empty()
                && !domain.is_empty()
                && !domain.contains('@')
                && domain.contains('.')
                && !email.chars().any(|c| c.is_whitespace())
        }
        None => false,
    }
}

impl Directory {
    pub fn new(customer_id: &str, domains: &[String]) -> Directory {
        Directory {
            customer_id: customer_id.into(),
            domains: domains.iter().map(|d| lower(d)).collect(),
            users: BTreeMap::new(),
            deleted_users: BTreeMap::new(),
            passwords: BTreeMap::new(),
            groups: BTreeMap::new(),
            members: BTreeMap::new(),
            seq: 0,
        }
    }

    /// Adds domains given on the command line to a loaded directory.
    pub fn merge_domains(&mut self, domains: &[String]) {
        for d in domains {
            let d = lower(d);
            if !self.domains.contains(&d) {
                self.domains.push(d);
            }
        }
    }

    fn owns_domain(&self, domain: &str) -> bool {
        self.domains.iter().any(|d| *d == lower(domain))
    }

    fn next_digest(&mut self, kind: &str) -> Vec<u8> {
        self.seq += 1;
        sha2::Sha256::digest(format!("{}/{kind}/{}", self.customer_id, self.seq).as_bytes())
            .to_vec()
    }

    /// A 21-digit numeric id, as Google's user ids.
    fn new_user_id(&mut self) -> String {
        let d = self.next_digest("user");
        let mut s = String::from("1");
        for b in d.iter().take(20) {
            s.push(char::from(b'0' + b % 10));
        }
        s
    }

    /// A 15-character id starting with `0`, as Google's group ids.
    fn new_group_id(&mut self) -> String {
        const ALPHA: &[u8] = b"0123456789abcdefghijklmnopqrstuvwxyz";
        let d = self.next_digest("group");
        let mut s = String::from("0");
        for b in d.iter().take(14) {
            s.push(char::from(ALPHA[(*b as usize) % ALPHA.len()]));
        }
        s
    }

    fn user_id_by_key(&self, key: &str, hidden: &HashSet<String>) -> Option<String> {
        let key_l = lower(key);
        let id = if self.users.contains_key(key) {
            Some(key.to_string())
        } else {
            self.users
                .iter()
                .find(|(_, u)| {
                    u.get("primaryEmail")
                        .and_then(Value::as_str)
                        .is_some_and(|e| lower(e) == key_l)
                        || u.get("aliases").and_then(Value::as_array).is_some_and(|a| {
                            a.iter()
                                .any(|x| x.as_str().is_some_and(|e| lower(e) == key_l))
                        })
                })
                .map(|(id, _)| id.clone())
        }?;
        (!hidden.contains(&id)).then_some(id)
    }

    fn group_id_by_key(&self, key: &str, hidden: &HashSet<String>) -> Option<String> {
        let key_l = lower(key);
        let id = if self.groups.contains_key(key) {
            Some(key.to_string())
        } else {
            self.groups
                .iter()
                .find(|(_, g)| {
                    g.get("email")
                        .and_then(Value::as_str)
                        .is_some_and(|e| lower(e) == key_l)
                })
                .map(|(id, _)| id.clone())
        }?;
        (!hidden.contains(&id)).then_some(id)
    }

    fn email_taken(&self, email: &str, except: Option<&str>) -> bool {
        let e = lower(email);
        let user = self.users.iter().any(|(id, u)| {
            Some(id.as_str()) != except
                && u.get("primaryEmail")
                    .and_then(Value::as_str)
                    .is_some_and(|x| lower(x) == e)
        });
        let group = self.groups.iter().any(|(id, g)| {
            Some(id.as_str()) != except
                && g.get("email")
                    .and_then(Value::as_str)
                    .is_some_and(|x| lower(x) == e)
        });
        user || group
    }

    /// Routes and runs one call.
    pub fn call(&mut self, ctx: &CallCtx, req: &ApiRequest) -> Result<ApiResponse, ApiError> {
        let segs: Vec<String> = req
            .path
            .trim_matches('/')
            .split('/')
            .map(|s| {
                percent_encoding::percent_decode_str(s)
                    .decode_utf8_lossy()
                    .into_owned()
            })
            .collect();
        let segs: Vec<&str> = segs.iter().map(String::as_str).collect();
        let m = req.method.as_str();
        let write = !matches!(m, "GET" | "HEAD");
        let family =
            match segs.as_slice() {
                ["users", ..] => Family::User,
                ["groups", _, "members", ..] | ["groups", _, "hasMember", _] => Family::Member,
                ["groups", ..] => Family::Group,
                _ => {
                    return Err(ApiError::not_found("the requested URL").with_message(format!(
                    "The requested URL /admin/directory/v1/{} was not found on this server.",
                    req.path.trim_start_matches('/')
                )));
                }
            };
        if !scope_allows(ctx.scopes, family, write) {
            return Err(ApiError::insufficient_scopes());
        }
        match (m, segs.as_slice()) {
            ("GET", ["users"]) => self.list_users(ctx, req),
            ("POST", ["users"]) => self.insert_user(ctx, req),
            ("GET", ["users", key]) => self.get_user(ctx, req, key),
            ("PUT" | "PATCH", ["users", key]) => self.update_user(ctx, req, key),
            ("DELETE", ["users", key]) => self.delete_user(ctx, req, key),
            ("POST", ["users", key, "undelete"]) => self.undelete_user(req, key),
            ("POST", ["users", key, "makeAdmin"]) => self.make_admin(ctx, req, key),
            ("GET", ["groups"]) => self.list_groups(ctx, req),
            ("POST", ["groups"]) => self.insert_group(ctx, req),
            ("GET", ["groups", key]) => self.get_group(ctx, key),
            ("PUT" | "PATCH", ["groups", key]) => self.update_group(ctx, req, key),
            ("DELETE", ["groups", key]) => self.delete_group(ctx, req, key),
            ("GET", ["groups", g, "members"]) => self.list_members(ctx, req, g),
            ("POST", ["groups", g, "members"]) => self.insert_member(ctx, req, g),
            ("GET", ["groups", g, "members", k]) => self.get_member(ctx, g, k),
            ("PUT" | "PATCH", ["groups", g, "members", k]) => self.update_member(ctx, req, g, k),
            ("DELETE", ["groups", g, "members", k]) => self.delete_member(ctx, g, k),
            ("GET", ["groups", g, "hasMember", k]) => self.has_member(ctx, g, k),
            _ => Err(ApiError::method_not_allowed()),
        }
    }

    // ---------------------------------------------------------------- users

    fn render_user(&self, u: &Map<String, Value>, req: &ApiRequest) -> Result<Value, ApiError> {
        let projection = query(req, "projection").unwrap_or("basic");
        let view = query(req, "viewType").unwrap_or("admin_view");
        let mut m = u.clone();
        match projection {
            "full" => {}
            "basic" => {
                m.remove("customSchemas");
            }
            "custom" => {
                let Some(mask) = query(req, "customFieldMask") else {
                    return Err(ApiError::invalid(
                        "Invalid Input: customFieldMask is required with projection=custom",
                    ));
                };
                let keep: Vec<&str> = mask.split(',').map(str::trim).collect();
                if let Some(Value::Object(cs)) = m.get_mut("customSchemas") {
                    cs.retain(|k, _| keep.contains(&k.as_str()));
                }
            }
            other => {
                return Err(ApiError::invalid(format!(
                    "Invalid value at 'projection' ({other})"
                )));
            }
        }
        match view {
            "admin_view" => {}
            "domain_public" => {
                const PUBLIC: &[&str] = &[
                    "kind",
                    "id",
                    "primaryEmail",
                    "name",
                    "emails",
                    "thumbnailPhotoUrl",
                    "organizations",
                    "phones",
                    "addresses",
                    "relations",
                    "locations",
                ];
                m.retain(|k, _| PUBLIC.contains(&k.as_str()));
            }
            other => {
                return Err(ApiError::invalid(format!(
                    "Invalid value at 'view_type' ({other})"
                )));
            }
        }
        Ok(with_etag(m))
    }

    fn check_list_scope(&self, req: &ApiRequest) -> Result<Option<String>, ApiError> {
        let customer = query(req, "customer").filter(|s| !s.is_empty());
        let domain = query(req, "domain").filter(|s| !s.is_empty());
        if let Some(c) = customer
            && c != "my_customer"
            && c != self.customer_id
        {
            return Err(ApiError::forbidden());
        }
        if let Some(d) = domain
            && !self.owns_domain(d)
        {
            return Err(ApiError::forbidden());
        }
        if customer.is_none() && domain.is_none() {
            return Err(ApiError::bad_request());
        }
        Ok(domain.map(lower))
    }

    fn list_users(&self, ctx: &CallCtx, req: &ApiRequest) -> Result<ApiResponse, ApiError> {
        let domain = self.check_list_scope(req)?;
        let size = capped(ctx, page_size(req, 100, 500)?);
        let order = query(req, "orderBy").unwrap_or("email");
        if !["email", "familyName", "givenName"].contains(&order) {
            return Err(ApiError::invalid(format!(
                "Invalid value at 'order_by' ({order})"
            )));
        }
        let descending = match query(req, "sortOrder").unwrap_or("ASCENDING") {
            "ASCENDING" | "ascending" => false,
            "DESCENDING" | "descending" => true,
            other => {
                return Err(ApiError::invalid(format!(
                    "Invalid value at 'sort_order' ({other})"
                )));
            }
        };
        let terms = parse_query(query(req, "query").unwrap_or(""))?;
        let deleted = query(req, "showDeleted") == Some("true");
        let source = if deleted {
            &self.deleted_users
        } else {
            &self.users
        };
        let mut items: Vec<(Vec<String>, &Map<String, Value>)> = Vec::new();
        for (id, u) in source {
            if ctx.hidden.contains(id) {
                continue;
            }
            let email = u["primaryEmail"].as_str().unwrap_or_default();
            if let Some(d) = &domain
                && email_domain(&lower(email)) != Some(d.as_str())
            {
                continue;
            }
            if !terms.iter().all(|t| t.matches_user(u)) {
                continue;
            }
            let key = match order {
                "familyName" => u["name"]["familyName"].as_str().unwrap_or_default(),
                "givenName" => u["name"]["givenName"].as_str().unwrap_or_default(),
                _ => email,
            };
            items.push((vec![lower(key), lower(email), id.clone()], u));
        }
        items.sort_by(|a, b| a.0.cmp(&b.0));
        if descending {
            items.reverse();
        }
        let listing = format!(
            "users|{:?}|{:?}|{order}|{descending}|{:?}|{deleted}",
            query(req, "customer"),
            domain,
            query(req, "query")
        );
        let (page, next) = paginate(items, &listing, query(req, "pageToken"), size, descending)?;
        let users = page
            .into_iter()
            .map(|u| self.render_user(u, req))
            .collect::<Result<Vec<_>, _>>()?;
        let mut out = Map::new();
        out.insert("kind".into(), json!("admin#directory#users"));
        if !users.is_empty() {
            out.insert("users".into(), Value::Array(users));
        }
        if let Some(n) = next {
            out.insert("nextPageToken".into(), json!(n));
        }
        Ok(ApiResponse::ok(with_etag(out)))
    }

    fn get_user(
        &self,
        ctx: &CallCtx,
        req: &ApiRequest,
        key: &str,
    ) -> Result<ApiResponse, ApiError> {
        let id = self
            .user_id_by_key(key, ctx.hidden)
            .ok_or_else(|| ApiError::not_found("userKey"))?;
        Ok(ApiResponse::ok(self.render_user(&self.users[&id], req)?))
    }

    /// Validates and applies writable fields onto `u` (insert: `u` starts empty).
    fn apply_user_fields(
        &mut self,
        u: &mut Map<String, Value>,
        mut fields: Map<String, Value>,
        id: &str,
        now: &str,
        inserting: bool,
    ) -> Result<Option<PasswordRecord>, ApiError> {
        if let Some(e) = fields.get("primaryEmail") {
            let email = e
                .as_str()
                .filter(|e| valid_email(e))
                .ok_or_else(|| ApiError::invalid("Invalid Input: primary_user_email"))?;
            if !self.owns_domain(email_domain(email).unwrap_or_default()) {
                return Err(ApiError::invalid("Domain not found.").with_reason("notFound"));
            }
            if self.email_taken(email, Some(id)) {
                return Err(ApiError::duplicate("Entity already exists."));
            }
        } else if inserting {
            return Err(ApiError::invalid("Invalid Input: primary_user_email"));
        }
        let mut name = u
            .get("name")
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default();
        if let Some(n) = fields.remove("name") {
            let Value::Object(n) = n else {
                return Err(ApiError::invalid("Invalid Input: name"));
            };
            for (k, v) in n {
                if !USER_NAME_FIELDS.contains(&k.as_str()) {
                    return Err(ApiError::invalid(format!(
                        "Invalid JSON payload received. Unknown name \"{k}\" at 'resource.name': Cannot find field."
                    )));
                }
                if k != "fullName" {
                    name.insert(k, v);
                }
            }
        }
        for (field, label) in [("givenName", "GivenName"), ("familyName", "FamilyName")] {
            let ok = name
                .get(field)
                .and_then(Value::as_str)
                .is_some_and(|s| !s.trim().is_empty() && s.chars().count() <= 60);
            if !ok {
                return Err(ApiError::invalid(format!(
                    "Invalid Given/Family Name: {label}"
                )));
            }
        }
        let full = format!(
            "{} {}",
            name["givenName"].as_str().unwrap_or_default(),
            name["familyName"].as_str().unwrap_or_default()
        );
        name.insert("fullName".into(), json!(full));
        u.insert("name".into(), Value::Object(name));

        let hash_function = match fields.remove("hashFunction") {
            None | Some(Value::Null) => None,
            Some(Value::String(h)) if HASH_FUNCTIONS.contains(&h.as_str()) => Some(h),
            Some(_) => return Err(ApiError::invalid("Invalid Input: hash_function")),
        };
        let password = match fields.remove("password") {
            None | Some(Value::Null) => None,
            Some(Value::String(p)) => {
                if hash_function.is_none() && (p.chars().count() < 8 || p.chars().count() > 100) {
                    return Err(ApiError::invalid("Invalid Password"));
                }
                Some(PasswordRecord {
                    sha256: hex(&sha2::Sha256::digest(p.as_bytes())),
                    hash_function: hash_function.clone(),
                })
            }
            Some(_) => return Err(ApiError::invalid("Invalid Password")),
        };
        if inserting && password.is_none() {
            return Err(ApiError::invalid("Invalid Password"));
        }
        if hash_function.is_some() && password.is_none() {
            return Err(ApiError::invalid("Invalid Input: hash_function"));
        }
        for b in [
            "suspended",
            "changePasswordAtNextLogin",
            "archived",
            "includeInGlobalAddressList",
            "ipWhitelisted",
        ] {
            if fields
                .get(b)
                .is_some_and(|v| !v.is_boolean() && !v.is_null())
            {
                return Err(ApiError::invalid(format!("Invalid value for: {b}")));
            }
        }
        if let Some(p) = fields.get("orgUnitPath") {
            let ok = p.as_str().is_some_and(|p| p.starts_with('/'));
            if !ok {
                return Err(ApiError::invalid("Invalid Input: INVALID_OU_ID"));
            }
        }
        if let Some(x) = fields.get("externalIds")
            && !x.is_array()
            && !x.is_null()
        {
            return Err(ApiError::invalid("Invalid Input: externalIds"));
        }
        let was_suspended = u.get("suspended") == Some(&Value::Bool(true));
        for (k, v) in fields {
            if v.is_null() {
                u.remove(&k);
            } else {
                u.insert(k, v);
            }
        }
        let email = u["primaryEmail"].as_str().unwrap_or_default().to_string();
        u.insert(
            "emails".into(),
            json!([{"address": email, "primary": true}]),
        );
        let suspended = u.get("suspended") == Some(&Value::Bool(true));
        if suspended && !was_suspended {
            u.insert("suspensionReason".into(), json!("ADMIN"));
        } else if !suspended {
            u.remove("suspensionReason");
        }
        for (k, v) in [
            ("suspended", false),
            ("changePasswordAtNextLogin", false),
            ("archived", false),
            ("includeInGlobalAddressList", true),
            ("ipWhitelisted", false),
        ] {
            u.entry(k.to_string()).or_insert(Value::Bool(v));
        }
        u.entry("orgUnitPath".to_string()).or_insert(json!("/"));
        let _ = now;
        Ok(password)
    }

    fn insert_user(&mut self, ctx: &CallCtx, req: &ApiRequest) -> Result<ApiResponse, ApiError> {
        let fields = writable_fields(parse_body(&req.body)?, USER_WRITABLE, USER_SERVER_SET)?;
        let id = self.new_user_id();
        let mut u = Map::new();
        u.insert("kind".into(), json!("admin#directory#user"));
        u.insert("id".into(), json!(id));
        let password = self.apply_user_fields(&mut u, fields, &id, &ctx.now, true)?;
        for (k, v) in [
            ("isAdmin", json!(false)),
            ("isDelegatedAdmin", json!(false)),
            ("agreedToTerms", json!(false)),
            ("lastLoginTime", json!("1970-01-01T00:00:00.000Z")),
            ("creationTime", json!(ctx.now)),
            ("customerId", json!(self.customer_id)),
            ("isMailboxSetup", json!(true)),
            ("isEnrolledIn2Sv", json!(false)),
            ("isEnforcedIn2Sv", json!(false)),
        ] {
            u.insert(k.into(), v);
        }
        if let Some(p) = password {
            self.passwords.insert(id.clone(), p);
        }
        // Google answers the insert with the new user's basic projection.
        let body = self.render_user(&u, &ApiRequest::default())?;
        self.users.insert(id.clone(), u);
        Ok(ApiResponse {
            created: Some(id),
            ..ApiResponse::wrote(body)
        })
    }

    fn check_etag(req: &ApiRequest, current: &Value) -> Result<(), ApiError> {
        if let Some(want) = &req.if_match
            && want != "*"
            && current.get("etag").and_then(Value::as_str) != Some(want.as_str())
        {
            return Err(ApiError::precondition_failed());
        }
        Ok(())
    }

    fn update_user(
        &mut self,
        ctx: &CallCtx,
        req: &ApiRequest,
        key: &str,
    ) -> Result<ApiResponse, ApiError> {
        let id = self
            .user_id_by_key(key, ctx.hidden)
            .ok_or_else(|| ApiError::not_found("userKey"))?;
        let fields = writable_fields(parse_body(&req.body)?, USER_WRITABLE, USER_SERVER_SET)?;
        let mut u = self.users[&id].clone();
        Self::check_etag(req, &self.render_user(&u, &ApiRequest::default())?)?;
        let password = self.apply_user_fields(&mut u, fields, &id, &ctx.now, false)?;
        if let Some(p) = password {
            self.passwords.insert(id.clone(), p);
        }
        let body = self.render_user(&u, &ApiRequest::default())?;
        let old_email = self.users[&id]["primaryEmail"].clone();
        if old_email != u["primaryEmail"] {
            // A renamed user keeps the old address as an alias, and memberships follow.
            let new_email = u["primaryEmail"].as_str().unwrap_or_default().to_string();
            let aliases = u.entry("aliases").or_insert_with(|| json!([]));
            if let Some(a) = aliases.as_array_mut() {
                a.push(old_email);
            }
            for ms in self.members.values_mut() {
                for m in ms.iter_mut().filter(|m| m.id == id) {
                    m.email = new_email.clone();
                }
            }
        }
        self.users.insert(id, u);
        Ok(ApiResponse::wrote(body))
    }

    fn delete_user(
        &mut self,
        ctx: &CallCtx,
        req: &ApiRequest,
        key: &str,
    ) -> Result<ApiResponse, ApiError> {
        let id = self
            .user_id_by_key(key, ctx.hidden)
            .ok_or_else(|| ApiError::not_found("userKey"))?;
        Self::check_etag(
            req,
            &self.render_user(&self.users[&id], &ApiRequest::default())?,
        )?;
        let mut u = self.users.remove(&id).unwrap_or_default();
        u.insert("deletionTime".into(), json!(ctx.now));
        self.deleted_users.insert(id.clone(), u);
        for ms in self.members.values_mut() {
            ms.retain(|m| m.id != id);
        }
        self.refresh_counts();
        Ok(ApiResponse::no_content())
    }

    fn undelete_user(&mut self, req: &ApiRequest, key: &str) -> Result<ApiResponse, ApiError> {
        let Some(mut u) = self.deleted_users.get(key).cloned() else {
            return Err(ApiError::not_found("userKey"));
        };
        let body = parse_body(&req.body)?;
        let email = u["primaryEmail"].as_str().unwrap_or_default().to_string();
        if self.email_taken(&email, None) {
            return Err(ApiError::duplicate("Entity already exists."));
        }
        u.remove("deletionTime");
        if let Some(p) = body.get("orgUnitPath").and_then(Value::as_str) {
            u.insert("orgUnitPath".into(), json!(p));
        }
        self.deleted_users.remove(key);
        self.users.insert(key.to_string(), u);
        Ok(ApiResponse::no_content())
    }

    /// `users.makeAdmin`: a `UserMakeAdmin` body (`status`, required) makes the user a
    /// super administrator or takes the role away; the answer is empty.
    fn make_admin(
        &mut self,
        ctx: &CallCtx,
        req: &ApiRequest,
        key: &str,
    ) -> Result<ApiResponse, ApiError> {
        let id = self
            .user_id_by_key(key, ctx.hidden)
            .ok_or_else(|| ApiError::not_found("userKey"))?;
        let mut body = parse_body(&req.body)?;
        let status = match body.remove("status") {
            Some(Value::Bool(b)) => b,
            Some(_) => return Err(ApiError::invalid("Invalid value for: status")),
            None => return Err(ApiError::invalid("Invalid Input: status is required")),
        };
        if let Some(k) = body.keys().next() {
            return Err(ApiError::invalid(format!(
                "Invalid JSON payload received. Unknown name \"{k}\": Cannot find field."
            )));
        }
        if let Some(u) = self.users.get_mut(&id) {
            u.insert("isAdmin".into(), json!(status));
        }
        Ok(ApiResponse::no_content())
    }

    // ---------------------------------------------------------------- groups

    fn render_group(&self, g: &Map<String, Value>) -> Value {
        with_etag(g.clone())
    }

    fn refresh_counts(&mut self) {
        for (id, g) in self.groups.iter_mut() {
            let n = self.members.get(id).map(Vec::len).unwrap_or(0);
            g.insert("directMembersCount".into(), json!(n.to_string()));
        }
    }

    fn list_groups(&self, ctx: &CallCtx, req: &ApiRequest) -> Result<ApiResponse, ApiError> {
        let user = query(req, "userKey").filter(|s| !s.is_empty());
        let (domain, member_of) = match user {
            Some(k) => {
                let id = self
                    .user_id_by_key(k, ctx.hidden)
                    .or_else(|| self.group_id_by_key(k, ctx.hidden))
                    .ok_or_else(|| ApiError::not_found("userKey"))?;
                (None, Some(id))
            }
            None => (self.check_list_scope(req)?, None),
        };
        let size = capped(ctx, page_size(req, 200, 200)?);
        if let Some(o) = query(req, "orderBy")
            && o != "email"
        {
            return Err(ApiError::invalid(format!(
                "Invalid value at 'order_by' ({o})"
            )));
        }
        let descending = query(req, "sortOrder") == Some("DESCENDING");
        let terms = parse_query(query(req, "query").unwrap_or(""))?;
        let mut items = Vec::new();
        for (id, g) in &self.groups {
            if ctx.hidden.contains(id) {
                continue;
            }
            let email = g["email"].as_str().unwrap_or_default();
            if let Some(d) = &domain
                && email_domain(&lower(email)) != Some(d.as_str())
            {
                continue;
            }
            if let Some(m) = &member_of
                && !self
                    .members
                    .get(id)
                    .is_some_and(|ms| ms.iter().any(|x| x.id == *m))
            {
                continue;
            }
            if !terms.iter().all(|t| t.matches_group(g)) {
                continue;
            }
            items.push((vec![lower(email), id.clone()], g));
        }
        items.sort_by(|a, b| a.0.cmp(&b.0));
        if descending {
            items.reverse();
        }
        let listing = format!(
            "groups|{:?}|{domain:?}|{member_of:?}|{descending}|{:?}",
            query(req, "customer"),
            query(req, "query")
        );
        let (page, next) = paginate(items, &listing, query(req, "pageToken"), size, descending)?;
        let mut out = Map::new();
        out.insert("kind".into(), json!("admin#directory#groups"));
        if !page.is_empty() {
            out.insert(
                "groups".into(),
                Value::Array(page.into_iter().map(|g| self.render_group(g)).collect()),
            );
        }
        if let Some(n) = next {
            out.insert("nextPageToken".into(), json!(n));
        }
        Ok(ApiResponse::ok(with_etag(out)))
    }

    fn get_group(&self, ctx: &CallCtx, key: &str) -> Result<ApiResponse, ApiError> {
        let id = self
            .group_id_by_key(key, ctx.hidden)
            .ok_or_else(|| ApiError::not_found("groupKey"))?;
        Ok(ApiResponse::ok(self.render_group(&self.groups[&id])))
    }

    fn apply_group_fields(
        &self,
        g: &mut Map<String, Value>,
        fields: Map<String, Value>,
        id: &str,
        inserting: bool,
    ) -> Result<(), ApiError> {
        if let Some(e) = fields.get("email") {
            let email = e
                .as_str()
                .filter(|e| valid_email(e))
                .ok_or_else(|| ApiError::invalid("Invalid Input: groupKey"))?;
            if !self.owns_domain(email_domain(email).unwrap_or_default()) {
                return Err(ApiError::invalid("Domain not found.").with_reason("notFound"));
            }
            if self.email_taken(email, Some(id)) {
                return Err(ApiError::duplicate("Entity already exists."));
            }
        } else if inserting {
            return Err(ApiError::invalid("Missing required field: email").with_reason("required"));
        }
        for k in ["name", "description"] {
            if fields
                .get(k)
                .is_some_and(|v| !v.is_string() && !v.is_null())
            {
                return Err(ApiError::invalid(format!("Invalid Input: {k}")));
            }
        }
        if fields
            .get("description")
            .and_then(Value::as_str)
            .is_some_and(|d| d.chars().count() > 4096)
        {
            return Err(ApiError::invalid("Invalid Input: description"));
        }
        if fields
            .get("name")
            .and_then(Value::as_str)
            .is_some_and(|d| d.chars().count() > 75)
        {
            return Err(ApiError::invalid("Invalid Input: name"));
        }
        for (k, v) in fields {
            if v.is_null() {
                g.remove(&k);
            } else {
                g.insert(k, v);
            }
        }
        if !g.contains_key("name") {
            let local = g["email"]
                .as_str()
                .and_then(|e| e.split('@').next())
                .unwrap_or_default()
                .to_string();
            g.insert("name".into(), json!(local));
        }
        Ok(())
    }

    fn insert_group(&mut self, ctx: &CallCtx, req: &ApiRequest) -> Result<ApiResponse, ApiError> {
        let _ = ctx;
        let fields = writable_fields(parse_body(&req.body)?, GROUP_WRITABLE, GROUP_SERVER_SET)?;
        let id = self.new_group_id();
        let mut g = Map::new();
        g.insert("kind".into(), json!("admin#directory#group"));
        g.insert("id".into(), json!(id));
        self.apply_group_fields(&mut g, fields, &id, true)?;
        g.insert("directMembersCount".into(), json!("0"));
        g.insert("adminCreated".into(), json!(true));
        let body = self.render_group(&g);
        self.groups.insert(id.clone(), g);
        Ok(ApiResponse {
            created: Some(id),
            ..ApiResponse::wrote(body)
        })
    }

    fn update_group(
        &mut self,
        ctx: &CallCtx,
        req: &ApiRequest,
        key: &str,
    ) -> Result<ApiResponse, ApiError> {
        let id = self
            .group_id_by_key(key, ctx.hidden)
            .ok_or_else(|| ApiError::not_found("groupKey"))?;
        let fields = writable_fields(parse_body(&req.body)?, GROUP_WRITABLE, GROUP_SERVER_SET)?;
        let mut g = self.groups[&id].clone();
        Self::check_etag(req, &self.render_group(&g))?;
        let old_email = g["email"].clone();
        self.apply_group_fields(&mut g, fields, &id, false)?;
        if old_email != g["email"] {
            let new_email = g["email"].as_str().unwrap_or_default().to_string();
            let aliases = g.entry("aliases").or_insert_with(|| json!([]));
            if let Some(a) = aliases.as_array_mut() {
                a.push(old_email);
            }
            for ms in self.members.values_mut() {
                for m in ms.iter_mut().filter(|m| m.id == id) {
                    m.email = new_email.clone();
                }
            }
        }
        let body = self.render_group(&g);
        self.groups.insert(id, g);
        Ok(ApiResponse::wrote(body))
    }

    fn delete_group(
        &mut self,
        ctx: &CallCtx,
        req: &ApiRequest,
        key: &str,
    ) -> Result<ApiResponse, ApiError> {
        let id = self
            .group_id_by_key(key, ctx.hidden)
            .ok_or_else(|| ApiError::not_found("groupKey"))?;
        Self::check_etag(req, &self.render_group(&self.groups[&id]))?;
        self.groups.remove(&id);
        self.members.remove(&id);
        for ms in self.members.values_mut() {
            ms.retain(|m| m.id != id);
        }
        self.refresh_counts();
        Ok(ApiResponse::no_content())
    }

    // ---------------------------------------------------------------- members

    fn render_member(&self, m: &Member) -> Value {
        let mut o = Map::new();
        o.insert("kind".into(), json!("admin#directory#member"));
        o.insert("id".into(), json!(m.id));
        o.insert("email".into(), json!(m.email));
        o.insert("role".into(), json!(m.role));
        o.insert("type".into(), json!(m.kind));
        if m.kind == "USER" {
            let suspended = self
                .users
                .get(&m.id)
                .is_some_and(|u| u.get("suspended") == Some(&Value::Bool(true)));
            o.insert(
                "status".into(),
                json!(if suspended { "SUSPENDED" } else { "ACTIVE" }),
            );
        }
        o.insert("delivery_settings".into(), json!(m.delivery_settings));
        with_etag(o)
    }

    fn group_for_members(&self, ctx: &CallCtx, key: &str) -> Result<String, ApiError> {
        self.group_id_by_key(key, ctx.hidden)
            .ok_or_else(|| ApiError::not_found("groupKey"))
    }

    fn member_index(&self, group: &str, key: &str) -> Option<usize> {
        let k = lower(key);
        self.members
            .get(group)?
            .iter()
            .position(|m| m.id == key || lower(&m.email) == k)
    }

    fn list_members(
        &self,
        ctx: &CallCtx,
        req: &ApiRequest,
        g: &str,
    ) -> Result<ApiResponse, ApiError> {
        let gid = self.group_for_members(ctx, g)?;
        let size = capped(ctx, page_size(req, 200, 200)?);
        let roles: Option<Vec<String>> = query(req, "roles")
            .filter(|r| !r.is_empty())
            .map(|r| r.split(',').map(|s| s.trim().to_uppercase()).collect());
        if let Some(rs) = &roles
            && let Some(bad) = rs.iter().find(|r| !ROLES.contains(&r.as_str()))
        {
            return Err(ApiError::invalid(format!("Invalid Input: roles ({bad})")));
        }
        let items: Vec<(Vec<String>, &Member)> = self
            .members
            .get(&gid)
            .map(|ms| {
                ms.iter()
                    .enumerate()
                    .filter(|(_, m)| roles.as_ref().is_none_or(|rs| rs.contains(&m.role)))
                    .map(|(i, m)| (vec![format!("{i:010}"), m.id.clone()], m))
                    .collect()
            })
            .unwrap_or_default();
        let listing = format!("members|{gid}|{roles:?}");
        let (page, next) = paginate(items, &listing, query(req, "pageToken"), size, false)?;
        let mut out = Map::new();
        out.insert("kind".into(), json!("admin#directory#members"));
        if !page.is_empty() {
            out.insert(
                "members".into(),
                Value::Array(page.into_iter().map(|m| self.render_member(m)).collect()),
            );
        }
        if let Some(n) = next {
            out.insert("nextPageToken".into(), json!(n));
        }
        Ok(ApiResponse::ok(with_etag(out)))
    }

    fn insert_member(
        &mut self,
        ctx: &CallCtx,
        req: &ApiRequest,
        g: &str,
    ) -> Result<ApiResponse, ApiError> {
        let gid = self.group_for_members(ctx, g)?;
        let body = writable_fields(parse_body(&req.body)?, MEMBER_WRITABLE, MEMBER_SERVER_SET)?;
        let key = body
            .get("email")
            .or_else(|| body.get("id"))
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .ok_or_else(|| {
                ApiError::invalid("Missing required field: memberKey").with_reason("required")
            })?
            .to_string();
        let role = match body.get("role") {
            None | Some(Value::Null) => "MEMBER".to_string(),
            Some(Value::String(r)) if ROLES.contains(&r.to_uppercase().as_str()) => {
                r.to_uppercase()
            }
            Some(_) => return Err(ApiError::invalid("Invalid Input: role")),
        };
        let delivery = body
            .get("delivery_settings")
            .and_then(Value::as_str)
            .unwrap_or("ALL_MAIL")
            .to_string();
        let (id, email, kind) = if let Some(uid) = self.user_id_by_key(&key, ctx.hidden) {
            let email = self.users[&uid]["primaryEmail"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            (uid, email, "USER")
        } else if let Some(other) = self.group_id_by_key(&key, ctx.hidden) {
            if other == gid {
                return Err(ApiError::invalid("Invalid Input: memberKey"));
            }
            let email = self.groups[&other]["email"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            (other, email, "GROUP")
        } else if valid_email(&key) && !self.owns_domain(email_domain(&key).unwrap_or_default()) {
            // A member outside the account's domains.
            let d = sha2::Sha256::digest(lower(&key).as_bytes());
            let mut id = String::from("1");
            for b in d.iter().take(20) {
                id.push(char::from(b'0' + b % 10));
            }
            (id, key.clone(), "USER")
        } else {
            return Err(ApiError::not_found("memberKey"));
        };
        if self.member_index(&gid, &id).is_some() {
            return Err(ApiError::duplicate("Member already exists."));
        }
        let m = Member {
            id,
            email,
            role,
            kind: kind.into(),
            delivery_settings: delivery,
        };
        let body = self.render_member(&m);
        self.members.entry(gid).or_default().push(m);
        self.refresh_counts();
        Ok(ApiResponse::wrote(body))
    }

    fn get_member(&self, ctx: &CallCtx, g: &str, k: &str) -> Result<ApiResponse, ApiError> {
        let gid = self.group_for_members(ctx, g)?;
        let i = self
            .member_index(&gid, k)
            .ok_or_else(|| ApiError::not_found("memberKey"))?;
        Ok(ApiResponse::ok(self.render_member(&self.members[&gid][i])))
    }

    fn update_member(
        &mut self,
        ctx: &CallCtx,
        req: &ApiRequest,
        g: &str,
        k: &str,
    ) -> Result<ApiResponse, ApiError> {
        let gid = self.group_for_members(ctx, g)?;
        let i = self
            .member_index(&gid, k)
            .ok_or_else(|| ApiError::not_found("memberKey"))?;
        let body = writable_fields(parse_body(&req.body)?, MEMBER_WRITABLE, MEMBER_SERVER_SET)?;
        let mut m = self.members[&gid][i].clone();
        Self::check_etag(req, &self.render_member(&m))?;
        if let Some(r) = body.get("role") {
            let r = r
                .as_str()
                .map(str::to_uppercase)
                .filter(|r| ROLES.contains(&r.as_str()))
                .ok_or_else(|| ApiError::invalid("Invalid Input: role"))?;
            m.role = r;
        }
        if let Some(d) = body.get("delivery_settings").and_then(Value::as_str) {
            m.delivery_settings = d.to_string();
        }
        let out = self.render_member(&m);
        if let Some(ms) = self.members.get_mut(&gid) {
            ms[i] = m;
        }
        Ok(ApiResponse::wrote(out))
    }

    fn delete_member(&mut self, ctx: &CallCtx, g: &str, k: &str) -> Result<ApiResponse, ApiError> {
        let gid = self.group_for_members(ctx, g)?;
        let i = self
            .member_index(&gid, k)
            .ok_or_else(|| ApiError::not_found("memberKey"))?;
        if let Some(ms) = self.members.get_mut(&gid) {
            ms.remove(i);
        }
        self.refresh_counts();
        Ok(ApiResponse::no_content())
    }

    fn has_member(&self, ctx: &CallCtx, g: &str, k: &str) -> Result<ApiResponse, ApiError> {
        let gid = self.group_for_members(ctx, g)?;
        let Some(uid) = self.user_id_by_key(k, ctx.hidden) else {
            return Err(ApiError::not_found("memberKey"));
        };
        // Direct or nested membership.
        let mut seen = HashSet::new();
        let mut todo = vec![gid];
        let mut found = false;
        while let Some(g) = todo.pop() {
            if !seen.insert(g.clone()) {
                continue;
            }
            for m in self.members.get(&g).into_iter().flatten() {
                if m.id == uid {
                    found = true;
                } else if m.kind == "GROUP" {
                    todo.push(m.id.clone());
                }
            }
        }
        Ok(ApiResponse::ok(json!({"isMember": found})))
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

impl ApiError {
    fn with_reason(mut self, reason: &'static str) -> ApiError {
        self.reason = reason;
        self
    }
    fn with_message(mut self, message: String) -> ApiError {
        self.message = message;
        self
    }
}

// ---------------------------------------------------------------- the `query` parameter

/// One term of the users/groups `query` parameter (Google's "Search for users": `field:value`
/// prefix matches, `field=value` exact matches, `*` as a trailing wildcard, values in single
/// quotes when they hold spaces).
#[derive(Debug, Clone, PartialEq)]
struct Term {
    field: String,
    exact: bool,
    value: String,
}

fn parse_query(q: &str) -> Result<Vec<Term>, ApiError> {
    let mut terms = Vec::new();
    let mut chars = q.trim().chars().peekable();
    while chars.peek().is_some() {
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        let mut field = String::new();
        while let Some(&c) = chars.peek() {
            if c == ':' || c == '=' || c.is_whitespace() {
                break;
            }
            field.push(c);
            chars.next();
        }
        if field.is_empty() && chars.peek().is_none() {
            break;
        }
        let op = chars.next();
        let exact = match op {
            Some(':') => false,
            Some('=') => true,
            _ => return Err(ApiError::invalid("Invalid Input")),
        };
        let mut value = String::new();
        if chars.peek() == Some(&'\'') {
            chars.next();
            loop {
                match chars.next() {
                    Some('\'') => break,
                    Some(c) => value.push(c),
                    None => return Err(ApiError::invalid("Invalid Input")),
                }
            }
        } else {
            while let Some(&c) = chars.peek() {
                if c.is_whitespace() {
                    break;
                }
                value.push(c);
                chars.next();
            }
        }
        const FIELDS: &[&str] = &[
            "email",
            "givenName",
            "familyName",
            "name",
            "isSuspended",
            "isAdmin",
            "orgUnitPath",
            "externalId",
        ];
        if !FIELDS.contains(&field.as_str()) {
            return Err(ApiError::invalid("Invalid Input"));
        }
        terms.push(Term {
            field,
            exact,
            value,
        });
    }
    Ok(terms)
}

impl Term {
    fn text_matches(&self, candidate: &str) -> bool {
        let c = lower(candidate);
        let v = lower(&self.value);
        if let Some(prefix) = v.strip_suffix('*') {
            c.starts_with(prefix)
        } else if self.exact {
            c == v
        } else {
            // `:` matches a word prefix.
            c.starts_with(&v) || c.split([' ', '@', '.']).any(|w| w.starts_with(&v))
        }
    }

    fn matches_user(&self, u: &Map<String, Value>) -> bool {
        let s = |v: &Value| v.as_str().unwrap_or_default().to_string();
        match self.field.as_str() {
            "email" => self.text_matches(&s(&u["primaryEmail"])),
            "givenName" => self.text_matches(&s(&u["name"]["givenName"])),
            "familyName" => self.text_matches(&s(&u["name"]["familyName"])),
            "name" => self.text_matches(&s(&u["name"]["fullName"])),
            "isSuspended" => {
                (u.get("suspended") == Some(&Value::Bool(true))).to_string() == lower(&self.value)
            }
            "isAdmin" => {
                (u.get("isAdmin") == Some(&Value::Bool(true))).to_string() == lower(&self.value)
            }
            "orgUnitPath" => lower(&s(&u["orgUnitPath"])) == lower(&self.value),
            "externalId" => u
                .get("externalIds")
                .and_then(Value::as_array)
                .is_some_and(|a| a.iter().any(|x| self.text_matches(&s(&x["value"])))),
            _ => false,
        }
    }

    fn matches_group(&self, g: &Map<String, Value>) -> bool {
        let s = |v: &Value| v.as_str().unwrap_or_default().to_string();
        match self.field.as_str() {
            "email" => self.text_matches(&s(&g["email"])),
            "name" => self.text_matches(&s(&g["name"])),
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx<'a>(hidden: &'a HashSet<String>, scopes: &'a [String]) -> CallCtx<'a> {
        CallCtx {
            now: "2026-01-01T00:00:00.000Z".into(),
            hidden,
            scopes,
            page_cap: None,
        }
    }

    fn req(method: &str, path: &str, query: &[(&str, &str)], body: Value) -> ApiRequest {
        ApiRequest {
            method: method.into(),
            path: path.into(),
            query: query
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            body: if body.is_null() {
                Vec::new()
            } else {
                body.to_string().into_bytes()
            },
            if_match: None,
        }
    }

    fn all_scopes() -> Vec<String> {
        ["user", "group"]
            .iter()
            .map(|s| format!("{SCOPE_PREFIX}{s}"))
            .collect()
    }

    fn user(n: usize) -> Value {
        json!({"primaryEmail": format!("u{n:03}@example.com"), "password": "correct horse",
               "name": {"givenName": "U", "familyName": format!("F{}", 999 - n)}})
    }

    #[test]
    fn users_page_by_token_in_email_order_and_by_family_name() {
        let mut d = Directory::new("C01", &["example.com".into()]);
        let (h, s) = (HashSet::new(), all_scopes());
        for n in (0..7).rev() {
            d.call(&ctx(&h, &s), &req("POST", "users", &[], user(n)))
                .unwrap();
        }
        let mut token = String::new();
        let mut seen = Vec::new();
        loop {
            let mut q = vec![("customer", "my_customer"), ("maxResults", "3")];
            if !token.is_empty() {
                q.push(("pageToken", token.as_str()));
            }
            let r = d
                .call(&ctx(&h, &s), &req("GET", "users", &q, Value::Null))
                .unwrap();
            let b = r.body.unwrap();
            for u in b["users"].as_array().unwrap() {
                seen.push(u["primaryEmail"].as_str().unwrap().to_string());
            }
            match b["nextPageToken"].as_str() {
                Some(t) => token = t.to_string(),
                None => break,
            }
        }
        let want: Vec<String> = (0..7).map(|n| format!("u{n:03}@example.com")).collect();
        assert_eq!(seen, want);
        let r = d
            .call(
                &ctx(&h, &s),
                &req(
                    "GET",
                    "users",
                    &[("domain", "example.com"), ("orderBy", "familyName")],
                    Value::Null,
                ),
            )
            .unwrap();
        let first = &r.body.unwrap()["users"][0];
        assert_eq!(first["primaryEmail"], "u006@example.com");
        assert!(first.get("password").is_none() && first.get("hashFunction").is_none());
    }

    #[test]
    fn query_terms_filter_users() {
        let mut d = Directory::new("C01", &["example.com".into()]);
        let (h, s) = (HashSet::new(), all_scopes());
        for n in 0..3 {
            d.call(&ctx(&h, &s), &req("POST", "users", &[], user(n)))
                .unwrap();
        }
        d.call(
            &ctx(&h, &s),
            &req(
                "PATCH",
                "users/u001@example.com",
                &[],
                json!({"suspended": true}),
            ),
        )
        .unwrap();
        let list = |q: &str| {
            let r = d.clone().call(
                &ctx(&h, &s),
                &req(
                    "GET",
                    "users",
                    &[("customer", "my_customer"), ("query", q)],
                    Value::Null,
                ),
            );
            r.map(|r| {
                r.body.unwrap()["users"]
                    .as_array()
                    .map(Vec::len)
                    .unwrap_or(0)
            })
        };
        assert_eq!(list("isSuspended=true"), Ok(1));
        assert_eq!(list("email:u00*"), Ok(3));
        assert_eq!(list("email='u002@example.com'"), Ok(1));
        assert_eq!(list("familyName:F998 isSuspended=false"), Ok(0));
        assert_eq!(list("bogus:x").unwrap_err().code, 400);
    }

    #[test]
    fn scopes_gate_reads_and_writes() {
        let ro = vec![format!("{SCOPE_PREFIX}user.readonly")];
        assert!(scope_allows(&ro, Family::User, false));
        assert!(!scope_allows(&ro, Family::User, true));
        assert!(!scope_allows(&ro, Family::Group, false));
        let member = vec![format!("{SCOPE_PREFIX}group.member")];
        assert!(scope_allows(&member, Family::Member, true));
        assert!(!scope_allows(&member, Family::Group, true));
    }
}
