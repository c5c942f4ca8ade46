//! Carrying out a plan's changes against a SCIM service provider, phase by phase in
//! plan order (create groups → create/update/enable users → member adds → member
//! removes → disable/delete users → delete groups): POST to create, PATCH to change
//! (or, where the provider does not announce PATCH, GET + PUT of the whole resource,
//! with `If-Match` when it announces ETags), `active=false` to disable, DELETE to
//! delete. Every change's outcome is reported as soon as it is known; dependants of a
//! failed create are skipped; a create answered with a uniqueness conflict adopts the
//! existing object and makes it match.

use std::collections::{BTreeMap, HashMap};

use anyhow::{Result, anyhow};
use futures::StreamExt;
use reqwest::Method;
use serde_json::{Map, Value, json};

use super::discovery::{GROUP_SCHEMA, USER_SCHEMA};
use super::http::{PATCH_OP, ScimError, filter_literal, path_segment};
use crate::apps::ChangeResult;
use crate::apps::kit::driver::{PhaseWriter, Run, Step};
use crate::desired::{DesiredState, User};
use crate::plan::{Action, Change, ObjectKind, Phase};

/// The schema URN of bulk requests.
pub const BULK_REQUEST: &str = "urn:ietf:params:scim:api:messages:2.0:BulkRequest";
/// Members added or removed per request.
pub const MEMBERS_PER_REQUEST: usize = 100;
/// Attempts of a GET + PUT whose `If-Match` lost a race (412).
const PUT_ROUNDS: usize = 3;

/// One modification of a resource, expressible both as a PATCH operation
/// (RFC 7644 §3.5.2) and as an edit of the full resource for PUT (§3.5.1).
#[derive(Debug, Clone, PartialEq)]
pub enum Edit {
    /// Replace (`Some`) or remove (`None`) an attribute: `displayName`, `active`,
    /// `emails`, `description`, or a sub-attribute such as `name.givenName`.
    Attr(&'static str, Option<Value>),
    AddMembers(Vec<String>),
    RemoveMembers(Vec<String>),
}

/// PATCH operations for edits.
pub fn patch_ops(edits: &[Edit]) -> Vec<Value> {
    let mut ops = Vec::new();
    for e in edits {
        match e {
            Edit::Attr(path, Some(v)) => {
                ops.push(json!({"op": "replace", "path": path, "value": v}))
            }
            Edit::Attr(path, None) => ops.push(json!({"op": "remove", "path": path})),
            Edit::AddMembers(ids) if !ids.is_empty() => ops.push(json!({
                "op": "add",
                "path": "members",
                "value": ids.iter().map(|id| json!({"value": id})).collect::<Vec<_>>(),
            })),
            Edit::AddMembers(_) => {}
            Edit::RemoveMembers(ids) => {
                for id in ids {
                    ops.push(json!({
                        "op": "remove",
                        "path": format!("members[value eq {}]", filter_literal(id)),
                    }));
                }
            }
        }
    }
    ops
}

/// Applies edits to a full resource (for PUT); drops `meta`, which is read-only.
pub fn edit_resource(resource: &mut Value, edits: &[Edit]) {
    let Some(obj) = resource.as_object_mut() else {
        return;
    };
    obj.remove("meta");
    for e in edits {
        match e {
            Edit::Attr(path, value) => match path.split_once('.') {
                Some((parent, child)) => {
                    let entry = obj
                        .entry(parent.to_string())
                        .or_insert_with(|| Value::Object(Map::new()));
                    if !entry.is_object() {
                        *entry = Value::Object(Map::new());
                    }
                    if let Some(sub) = entry.as_object_mut() {
                        match value {
                            Some(v) => {
                                sub.insert(child.to_string(), v.clone());
                            }
                            None => {
                                sub.remove(child);
                            }
                        }
                    }
                }
                None => match value {
                    Some(v) => {
                        obj.insert((*path).to_string(), v.clone());
                    }
                    None => {
                        obj.remove(*path);
                    }
                },
            },
            Edit::AddMembers(ids) => {
                let members = obj
                    .entry("members")
                    .or_insert_with(|| Value::Array(Vec::new()));
                if !members.is_array() {
                    *members = Value::Array(Vec::new());
                }
                if let Some(list) = members.as_array_mut() {
                    for id in ids {
                        let present = list
                            .iter()
                            .any(|m| m.get("value").and_then(Value::as_str) == Some(id));
                        if !present {
                            list.push(json!({"value": id}));
                        }
                    }
                }
            }
            Edit::RemoveMembers(ids) => {
                if let Some(list) = obj.get_mut("members").and_then(Value::as_array_mut) {
                    list.retain(|m| {
                        !m.get("value")
                            .and_then(Value::as_str)
                            .is_some_and(|v| ids.iter().any(|id| id == v))
                    });
                }
            }
        }
    }
}

/// The `emails` value for a roster email: one primary work address.
fn emails_value(email: &str) -> Value {
    json!([{"value": email, "type": "work", "primary": true}])
}

fn text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) if !s.trim().is_empty() => Some(s.trim().to_string()),
        _ => None,
    }
}

/// Edits for roster attribute changes (`after` of an update, or a full profile).
pub fn user_edits(after: &BTreeMap<String, Value>) -> Vec<Edit> {
    let mut edits = Vec::new();
    for (k, v) in after {
        match k.as_str() {
            "email" => edits.push(Edit::Attr("emails", text(v).map(|e| emails_value(&e)))),
            "first_name" => edits.push(Edit::Attr("name.givenName", text(v).map(Value::String))),
            "last_name" => edits.push(Edit::Attr("name.familyName", text(v).map(Value::String))),
            "display_name" => edits.push(Edit::Attr("displayName", text(v).map(Value::String))),
            "enabled" => {
                if let Some(b) = v.as_bool() {
                    edits.push(Edit::Attr("active", Some(Value::Bool(b))));
                }
            }
            _ => {}
        }
    }
    edits
}

/// The roster profile of a user: the desired user's managed attributes, overridden
/// by a change's `after` (the plan is applied as saved).
fn profile(
    user: Option<&User>,
    after: Option<&BTreeMap<String, Value>>,
) -> BTreeMap<String, Value> {
    let mut attrs = BTreeMap::new();
    if let Some(u) = user {
        attrs.insert("email".into(), Value::String(u.email.clone()));
        attrs.insert("first_name".into(), Value::String(u.first_name.clone()));
        attrs.insert("last_name".into(), Value::String(u.last_name.clone()));
        attrs.insert("display_name".into(), Value::String(u.display_name()));
        attrs.insert("enabled".into(), Value::Bool(u.enabled));
    }
    for (k, v) in after.into_iter().flatten() {
        attrs.insert(k.clone(), v.clone());
    }
    attrs
}

/// A SCIM User resource to create.
pub fn user_resource(login: &str, username: &str, attrs: &BTreeMap<String, Value>) -> Value {
    let mut res = json!({
        "schemas": [USER_SCHEMA],
        "userName": login,
        "externalId": username,
        "active": attrs.get("enabled").and_then(Value::as_bool).unwrap_or(true),
    });
    let mut name = Map::new();
    if let Some(g) = attrs.get("first_name").and_then(text) {
        name.insert("givenName".into(), Value::String(g));
    }
    if let Some(f) = attrs.get("last_name").and_then(text) {
        name.insert("familyName".into(), Value::String(f));
    }
    if !name.is_empty() {
        res["name"] = Value::Object(name);
    }
    if let Some(d) = attrs.get("display_name").and_then(text) {
        res["displayName"] = Value::String(d);
    }
    if let Some(e) = attrs.get("email").and_then(text) {
        res["emails"] = emails_value(&e);
    }
    res
}

fn applied(id: Option<String>) -> ChangeResult {
    ChangeResult::Applied {
        id,
        request_id: None,
    }
}

fn fail(msg: impl Into<String>) -> ChangeResult {
    ChangeResult::Failed {
        error: msg.into(),
        request_id: None,
    }
}

fn failed(e: &anyhow::Error) -> ChangeResult {
    fail(format!("{e:#}"))
}

fn scim_error(e: &anyhow::Error) -> Option<&ScimError> {
    e.downcast_ref::<ScimError>()
}

/// What one change produced besides its result.
struct Done {
    idx: usize,
    result: ChangeResult,
}

/// The SCIM write primitives, driven by [`crate::apps::kit::driver::apply`].
pub(crate) struct Writer<'a> {
    /// The connected service provider: client, features, settings.
    pub conn: &'a super::ScimConnector,
    pub desired: &'a DesiredState,
}

impl PhaseWriter for Writer<'_> {
    const TYPE: &'static str = "scim";

    async fn write_phase(&mut self, phase: Phase, idx: &[usize], run: &Run<'_>) {
        let this = Step { w: &*self, run };
        match phase {
            Phase::MembershipAdds | Phase::MembershipRemoves => this.memberships(idx).await,
            _ => this.one_by_one(idx).await,
        }
    }
}

/// One phase of an apply.
type Applier<'s, 'r, 'a> = Step<'s, 'r, Writer<'a>>;

impl Applier<'_, '_, '_> {
    /// Runs independent changes with bounded concurrency, reporting each outcome.
    async fn one_by_one(&self, idx: &[usize]) {
        let this = self;
        // User creates go through /Bulk when the provider announces it; whatever
        // bulk does not settle is done one by one.
        let (creates, mut rest): (Vec<usize>, Vec<usize>) = idx.iter().partition(|&&i| {
            let c = this.change(i);
            c.object() == ObjectKind::User && c.action == Action::Create
        });
        if this.conn.caps.bulk && creates.len() > 1 {
            let (settled, leftover) = this.bulk_create_users(&creates).await;
            for d in settled {
                this.report(d.idx, d.result);
            }
            rest.extend(leftover);
        } else {
            rest.extend(creates);
        }
        rest.sort_unstable();
        let mut stream = futures::stream::iter(rest)
            .map(|i| this.one(i))
            .buffer_unordered(this.conn.client.policy.concurrency.max(1));
        while let Some(d) = stream.next().await {
            this.report(d.idx, d.result);
        }
    }

    async fn one(&self, i: usize) -> Done {
        let c = self.change(i);
        let result = match (c.object(), c.action) {
            (ObjectKind::Group, Action::Create) => match self.create_group(c).await {
                Ok(id) => applied(Some(id)),
                Err(e) => failed(&e),
            },
            (ObjectKind::Group, Action::Update) => self.update_group(c).await,
            (ObjectKind::User, Action::Create) => match self.create_user(c).await {
                Ok((_login, id)) => applied(Some(id)),
                Err(e) => failed(&e),
            },
            (ObjectKind::User, Action::Update | Action::Enable | Action::Disable) => {
                match self.user_id(c) {
                    Err(r) => r,
                    Ok(id) => {
                        let mut after = c.after.clone().unwrap_or_default();
                        match c.action {
                            Action::Enable => {
                                after.insert("enabled".into(), Value::Bool(true));
                            }
                            Action::Disable => {
                                after.insert("enabled".into(), Value::Bool(false));
                            }
                            _ => {}
                        }
                        let edits = user_edits(&after);
                        if edits.is_empty() {
                            applied(Some(id))
                        } else {
                            match self
                                .modify(&self.conn.caps.users_endpoint, &id, &edits)
                                .await
                            {
                                Ok(()) => applied(Some(id)),
                                Err(e) => failed(&e),
                            }
                        }
                    }
                }
            }
            (ObjectKind::User, Action::Delete) => match self.user_id(c) {
                Err(r) => r,
                Ok(id) => self.delete(&self.conn.caps.users_endpoint, &id).await,
            },
            (ObjectKind::Group, Action::Delete) => match self.run.deleted_group_id(i) {
                Err(r) => r,
                Ok(id) => self.delete(&self.conn.caps.groups_endpoint, &id).await,
            },
            _ => fail(format!(
                "{:?} of a {:?} is not something a SCIM app supports",
                c.action,
                c.object()
            )),
        };
        Done { idx: i, result }
    }

    fn user_id(&self, c: &Change) -> Result<String, ChangeResult> {
        self.run.user_id(&c.key(), c.id.as_ref())
    }

    fn group_id(&self, name: &str, fallback: Option<&String>) -> Result<String, ChangeResult> {
        self.run.group_id(name, fallback)
    }

    fn resource_path(endpoint: &str, id: &str) -> String {
        format!("{endpoint}/{}", path_segment(id))
    }

    async fn delete(&self, endpoint: &str, id: &str) -> ChangeResult {
        let path = Self::resource_path(endpoint, id);
        match self
            .conn
            .client
            .send(Method::DELETE, &path, &[], None, None)
            .await
        {
            Ok(_) => applied(Some(id.to_string())),
            // Already gone: the plan's goal holds.
            Err(e) if scim_error(&e).is_some_and(|s| s.status == 404) => {
                applied(Some(id.to_string()))
            }
            Err(e) => failed(&e),
        }
    }

    /// Changes a resource: PATCH when announced (falling back to PUT when the
    /// provider answers 501/405 after all), else GET + PUT.
    async fn modify(&self, endpoint: &str, id: &str, edits: &[Edit]) -> Result<()> {
        let path = Self::resource_path(endpoint, id);
        if self.conn.caps.patch {
            let body = json!({"schemas": [PATCH_OP], "Operations": patch_ops(edits)});
            match self
                .conn
                .client
                .send(Method::PATCH, &path, &[], Some(&body), None)
                .await
            {
                Ok(_) => return Ok(()),
                Err(e) if scim_error(&e).is_some_and(|s| matches!(s.status, 405 | 501)) => {
                    tracing::debug!(app = %self.conn.app.name, "PATCH refused; falling back to PUT");
                }
                Err(e) => return Err(e),
            }
        }
        self.put(&path, edits).await
    }

    /// GET, edit, PUT; with ETags announced, the PUT carries `If-Match` and a lost race
    /// (412) starts over.
    async fn put(&self, path: &str, edits: &[Edit]) -> Result<()> {
        let mut last = None;
        for _ in 0..PUT_ROUNDS {
            let current = self.conn.client.get(path, &[]).await?;
            let version = current.etag.clone().or_else(|| {
                current
                    .body
                    .get("meta")
                    .and_then(|m| m.get("version"))
                    .and_then(Value::as_str)
                    .map(str::to_string)
            });
            let mut resource = current.body;
            if !resource.is_object() {
                return Err(anyhow!("GET {path}: the response is not a resource"));
            }
            edit_resource(&mut resource, edits);
            let if_match = if self.conn.caps.etag {
                version.as_deref()
            } else {
                None
            };
            match self
                .conn
                .client
                .send(Method::PUT, path, &[], Some(&resource), if_match)
                .await
            {
                Ok(_) => return Ok(()),
                Err(e) if scim_error(&e).is_some_and(|s| s.status == 412) => last = Some(e),
                Err(e) => return Err(e),
            }
        }
        Err(last.unwrap_or_else(|| anyhow!("PUT {path}: precondition kept failing")))
    }

    // ----- groups ---------------------------------------------------------------------

    async fn create_group(&self, c: &Change) -> Result<String> {
        let mut body = json!({"schemas": [GROUP_SCHEMA], "displayName": c.key(), "members": []});
        let description = c
            .after
            .as_ref()
            .and_then(|a| a.get("description"))
            .and_then(text);
        if let Some(d) = &description {
            if self.conn.caps.group_description {
                body["description"] = Value::String(d.clone());
            } else {
                tracing::warn!(app = %self.conn.app.name, group = %c.key(), "the provider's Group schema has no description; it is not sent");
            }
        }
        match self
            .conn
            .client
            .send(
                Method::POST,
                &self.conn.caps.groups_endpoint,
                &[],
                Some(&body),
                None,
            )
            .await
        {
            Ok(r) => r
                .body
                .get("id")
                .and_then(Value::as_str)
                .map(str::to_string)
                .ok_or_else(|| {
                    anyhow!(
                        "POST {}: the created group has no id",
                        self.conn.caps.groups_endpoint
                    )
                }),
            Err(e) if scim_error(&e).is_some_and(ScimError::is_conflict) => {
                // Created by an earlier, interrupted run (or by hand): adopt it.
                match self.find("group", &c.key()).await? {
                    Some(id) => Ok(id),
                    None => Err(e),
                }
            }
            Err(e) => Err(e),
        }
    }

    async fn update_group(&self, c: &Change) -> ChangeResult {
        let id = match self.group_id(&c.key(), c.id.as_ref()) {
            Ok(id) => id,
            Err(r) => return r,
        };
        let mut edits = Vec::new();
        for (k, v) in c.after.iter().flatten() {
            match k.as_str() {
                "description" if self.conn.caps.group_description => {
                    edits.push(Edit::Attr("description", text(v).map(Value::String)))
                }
                "description" => {
                    return fail(format!(
                        "group {}: the SCIM service's Group schema has no description attribute \
                         (leave `description` out of groups bound to this app)",
                        c.key()
                    ));
                }
                other => {
                    return fail(format!(
                        "group {}: roster cannot change {other} of a SCIM group",
                        c.key()
                    ));
                }
            }
        }
        if edits.is_empty() {
            return applied(Some(id));
        }
        match self
            .modify(&self.conn.caps.groups_endpoint, &id, &edits)
            .await
        {
            Ok(()) => applied(Some(id)),
            Err(e) => failed(&e),
        }
    }

    /// Finds a user (by userName) or group (by displayName): with a filter when the
    /// provider announces filtering, else by listing.
    async fn find(&self, kind: &str, key: &str) -> Result<Option<String>> {
        let (endpoint, attr) = match kind {
            "user" => (&self.conn.caps.users_endpoint, "userName"),
            _ => (&self.conn.caps.groups_endpoint, "displayName"),
        };
        let matches = |v: &Value| {
            let have = v.get(attr).and_then(Value::as_str).unwrap_or("");
            if kind == "user" {
                have.eq_ignore_ascii_case(key)
            } else {
                have == key
            }
        };
        let found = if self.conn.caps.filter {
            let filter = format!("{attr} eq {}", filter_literal(key));
            self.conn
                .client
                .list(
                    endpoint,
                    &[("filter", filter), ("attributes", attr.to_string())],
                    self.conn.caps.page_size(),
                )
                .await?
        } else {
            self.conn
                .client
                .list(
                    endpoint,
                    &[("attributes", attr.to_string())],
                    self.conn.caps.page_size(),
                )
                .await?
        };
        Ok(found
            .iter()
            .find(|v| matches(v))
            .and_then(|v| v.get("id").and_then(Value::as_str))
            .map(str::to_string))
    }

    // ----- users ----------------------------------------------------------------------

    /// The userName, roster profile and SCIM resource of a user to create.
    fn new_user(&self, c: &Change) -> Result<(String, BTreeMap<String, Value>, Value)> {
        let user = self.desired.user(&c.key());
        let login = c
            .after
            .as_ref()
            .and_then(|a| a.get("login"))
            .and_then(text)
            .unwrap_or_else(|| c.key().into_owned());
        if login.trim().is_empty() {
            return Err(anyhow!(
                "user {:?}: an empty userName cannot be provisioned",
                c.key()
            ));
        }
        let attrs = profile(user, c.after.as_ref());
        let mut body = user_resource(&login, &c.key(), &attrs);
        let wants_password = c.after.as_ref().is_some_and(|a| a.contains_key("password"));
        if wants_password
            && self.conn.app.switches.password_sync
            && let Some(r) = user.and_then(|u| u.password.as_ref())
        {
            let secret = crate::secret::resolve(r, &self.conn.repo_root)
                .map_err(|e| anyhow!("user {}: cannot read the password: {e}", c.key()))?;
            body["password"] = Value::String(secret.expose().to_string());
        }
        Ok((login, attrs, body))
    }

    /// Creates a user; returns (login, id).
    async fn create_user(&self, c: &Change) -> Result<(String, String)> {
        let (login, attrs, body) = self.new_user(c)?;
        let endpoint = &self.conn.caps.users_endpoint;
        match self
            .conn
            .client
            .send(Method::POST, endpoint, &[], Some(&body), None)
            .await
        {
            Ok(r) => {
                let id = r
                    .body
                    .get("id")
                    .and_then(Value::as_str)
                    .map(str::to_string)
                    .ok_or_else(|| anyhow!("POST {endpoint}: the created user has no id"))?;
                Ok((login, id))
            }
            Err(e) if scim_error(&e).is_some_and(ScimError::is_conflict) => {
                // The userName exists (an interrupted earlier run, or a race): adopt the
                // account and make it match the repository.
                let Some(id) = self.find("user", &login).await? else {
                    return Err(e);
                };
                let mut edits = user_edits(&attrs);
                edits.push(Edit::Attr(
                    "externalId",
                    Some(Value::String(c.key().into_owned())),
                ));
                self.modify(endpoint, &id, &edits).await?;
                Ok((login, id))
            }
            Err(e) => Err(e),
        }
    }

    /// Creates users through `/Bulk` (RFC 7644 §3.7), within the announced
    /// `maxOperations` and `maxPayloadSize`. Returns the settled creates and the
    /// changes left for one-by-one handling (refused operations, so that conflicts are
    /// adopted; everything of a bulk request that failed as a whole).
    async fn bulk_create_users(&self, idx: &[usize]) -> (Vec<Done>, Vec<usize>) {
        let max_ops = self
            .conn
            .caps
            .bulk_max_operations
            .filter(|&n| n > 0)
            .unwrap_or(100)
            .min(1000);
        // Leave room for the envelope.
        let max_bytes = self
            .conn
            .caps
            .bulk_max_payload
            .filter(|&n| n > 0)
            .unwrap_or(1 << 20)
            .saturating_sub(1024);
        let mut settled = Vec::new();
        let mut leftover = Vec::new();
        // (change index, login, operation)
        let mut chunk: Vec<(usize, String, Value)> = Vec::new();
        let mut chunk_bytes = 0usize;
        let mut chunks: Vec<Vec<(usize, String, Value)>> = Vec::new();
        for &i in idx {
            let c = self.change(i);
            match self.new_user(c) {
                Err(e) => settled.push(Done {
                    idx: i,
                    result: failed(&e),
                }),
                Ok((login, _, body)) => {
                    let op = json!({
                        "method": "POST",
                        "path": self.conn.caps.users_endpoint,
                        "bulkId": format!("u{i}"),
                        "data": body,
                    });
                    let size = op.to_string().len();
                    if size > max_bytes {
                        leftover.push(i);
                        continue;
                    }
                    if !chunk.is_empty()
                        && (chunk.len() >= max_ops || chunk_bytes + size > max_bytes)
                    {
                        chunks.push(std::mem::take(&mut chunk));
                        chunk_bytes = 0;
                    }
                    chunk_bytes += size + 1;
                    chunk.push((i, login, op));
                }
            }
        }
        if !chunk.is_empty() {
            chunks.push(chunk);
        }
        for chunk in chunks {
            let body = json!({
                "schemas": [BULK_REQUEST],
                "Operations": chunk.iter().map(|(_, _, op)| op.clone()).collect::<Vec<_>>(),
            });
            let resp = match self
                .conn
                .client
                .send(Method::POST, "/Bulk", &[], Some(&body), None)
                .await
            {
                Ok(r) => r,
                Err(e) => {
                    tracing::debug!(app = %self.conn.app.name, error = %e, "bulk request failed; creating one by one");
                    leftover.extend(chunk.iter().map(|(i, _, _)| *i));
                    continue;
                }
            };
            let results: HashMap<String, &Value> = resp
                .body
                .get("Operations")
                .and_then(Value::as_array)
                .map(|ops| {
                    ops.iter()
                        .filter_map(|o| Some((o.get("bulkId")?.as_str()?.to_string(), o)))
                        .collect()
                })
                .unwrap_or_default();
            for (i, _, _) in chunk {
                let id = results.get(&format!("u{i}")).and_then(|o| {
                    let status = match o.get("status") {
                        Some(Value::String(s)) => s.trim().parse::<u16>().ok(),
                        Some(Value::Number(n)) => n.as_u64().map(|n| n as u16),
                        _ => None,
                    };
                    if status != Some(201) && status != Some(200) {
                        return None;
                    }
                    o.get("response")
                        .and_then(|r| r.get("id"))
                        .and_then(Value::as_str)
                        .map(str::to_string)
                        .or_else(|| {
                            o.get("location")
                                .and_then(Value::as_str)
                                .and_then(|l| l.trim_end_matches('/').rsplit('/').next())
                                .filter(|s| !s.is_empty())
                                .map(|s| {
                                    percent_encoding::percent_decode_str(s)
                                        .decode_utf8_lossy()
                                        .into_owned()
                                })
                        })
                });
                match id {
                    Some(id) => settled.push(Done {
                        idx: i,
                        result: applied(Some(id)),
                    }),
                    // Refused or unanswered: retried alone (a conflict is adopted there).
                    None => leftover.push(i),
                }
            }
        }
        (settled, leftover)
    }

    // ----- memberships ----------------------------------------------------------------

    /// Membership adds or removes: grouped per group, many members per request.
    async fn memberships(&self, idx: &[usize]) {
        // group id → (member id, change index) in plan order.
        let mut per_group: BTreeMap<String, Vec<(String, usize)>> = BTreeMap::new();
        for &i in idx {
            match self.run.membership_ids(i) {
                Ok((gid, mid)) => per_group.entry(gid).or_default().push((mid, i)),
                Err(r) => self.report(i, r),
            }
        }
        let mut works: Vec<(String, Vec<(String, usize)>)> = Vec::new();
        for (gid, members) in per_group {
            for chunk in members.chunks(MEMBERS_PER_REQUEST) {
                works.push((gid.clone(), chunk.to_vec()));
            }
        }
        let this: &Self = self;
        let mut stream = futures::stream::iter(works)
            .map(|(gid, members)| async move {
                let ids: Vec<String> = members.iter().map(|(m, _)| m.clone()).collect();
                let add = this.change(members[0].1).action == Action::Add;
                let edit = if add {
                    Edit::AddMembers(ids)
                } else {
                    Edit::RemoveMembers(ids)
                };
                let r = this
                    .modify(&this.conn.caps.groups_endpoint, &gid, &[edit])
                    .await;
                (members, r)
            })
            .buffer_unordered(this.conn.client.policy.concurrency.max(1));
        while let Some((members, r)) = stream.next().await {
            let result = match &r {
                Ok(()) => applied(None),
                Err(e) => failed(e),
            };
            for (mid, i) in members {
                let res = match &result {
                    ChangeResult::Applied { .. } => applied(Some(mid)),
                    other => other.clone(),
                };
                this.report(i, res);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patch_and_put_express_the_same_edits() {
        let edits = vec![
            Edit::Attr("name.givenName", Some(json!("Al"))),
            Edit::Attr("displayName", None),
            Edit::Attr("active", Some(json!(false))),
            Edit::AddMembers(vec!["1".into(), "2".into()]),
            Edit::RemoveMembers(vec!["3".into()]),
        ];
        let ops = patch_ops(&edits);
        assert_eq!(ops.len(), 5);
        assert_eq!(
            ops[0],
            json!({"op": "replace", "path": "name.givenName", "value": "Al"})
        );
        assert_eq!(ops[1], json!({"op": "remove", "path": "displayName"}));
        assert_eq!(
            ops[4],
            json!({"op": "remove", "path": "members[value eq \"3\"]"})
        );

        let mut res = json!({
            "id": "g", "meta": {"version": "W/\"1\""}, "displayName": "x",
            "name": {"familyName": "S"}, "members": [{"value": "3"}, {"value": "1"}]
        });
        edit_resource(&mut res, &edits);
        assert_eq!(
            res,
            json!({"id": "g", "name": {"familyName": "S", "givenName": "Al"}, "active": false,
                   "members": [{"value": "1"}, {"value": "2"}]})
        );
    }

    #[test]
    fn user_resources_carry_the_roster_profile() {
        let attrs = BTreeMap::from([
            ("email".to_string(), json!("a@x.com")),
            ("first_name".to_string(), json!("A")),
            ("last_name".to_string(), json!("")),
            ("enabled".to_string(), json!(false)),
        ]);
        let r = user_resource("alice", "alice", &attrs);
        assert_eq!(r["userName"], "alice");
        assert_eq!(r["externalId"], "alice");
        assert_eq!(r["active"], false);
        assert_eq!(r["name"], json!({"givenName": "A"}));
        assert_eq!(r["emails"][0]["primary"], true);
        assert!(r.get("displayName").is_none());
        let edits = user_edits(&attrs);
        assert!(edits.contains(&Edit::Attr("name.familyName", None)));
        assert!(edits.contains(&Edit::Attr("active", Some(json!(false)))));
    }
}
