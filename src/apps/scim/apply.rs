//! Carrying out a plan's changes against a SCIM service provider, phase by phase in
//! plan order (create groups → create/update/enable users → managers → member adds
//! → member removes → disable/delete users → delete groups): POST to create, PATCH
//! to change at each mapped target's path (or, where the provider does not announce
//! PATCH, GET + PUT of the whole resource, with `If-Match` when it announces ETags),
//! `userName` replaced on the same resource to rename, the enterprise `manager` set
//! or removed, `active=false` to disable, DELETE to delete. Every change's outcome is
//! reported as soon as it is known; dependants of a failed create are skipped; a
//! create answered with a uniqueness conflict adopts the existing object and makes it
//! match.

use std::collections::{BTreeMap, HashMap};

use anyhow::{Result, anyhow};
use futures::StreamExt;
use reqwest::Method;
use serde_json::{Value, json};

use super::discovery::{Capabilities, GROUP_SCHEMA, USER_SCHEMA};
use super::http::{PATCH_OP, ScimError, filter_literal, path_segment};
use super::paths::AttrPath;
use crate::apps::ChangeResult;
use crate::apps::kit::driver::{PhaseWriter, Run, Step};
use crate::desired::User;
use crate::mapping::Mapping;
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
    /// Replace (`Some`) or remove (`None`) the value at a path: `active`,
    /// `name.givenName`, `emails[type eq "work"].value`, `urn:…:User:manager`.
    Attr(AttrPath, Option<Value>),
    AddMembers(Vec<String>),
    RemoveMembers(Vec<String>),
}

impl Edit {
    /// A core attribute's edit.
    pub fn core(attr: &str, value: Option<Value>) -> Edit {
        Edit::Attr(AttrPath::core(attr), value)
    }

    fn filtered(&self) -> bool {
        matches!(self, Edit::Attr(p, _) if p.is_filtered())
    }
}

/// PATCH operations for edits: `replace` with the value at the edit's path, `remove`
/// of it (a typed email or phone number is removed whole).
pub fn patch_ops(edits: &[Edit]) -> Vec<Value> {
    let mut ops = Vec::new();
    for e in edits {
        match e {
            Edit::Attr(path, Some(v)) => {
                ops.push(json!({"op": "replace", "path": path.text(), "value": v}))
            }
            Edit::Attr(path, None) => ops.push(json!({"op": "remove", "path": path.remove_path()})),
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

/// PATCH operations for edits on a provider that refused a value filter in a path
/// (RFC 7644 §3.5.2.3: `noTarget` when no entry of that type exists yet): each
/// multi-valued attribute a filtered edit touches is replaced whole, as edited from
/// `resource` (the resource as just read); the other edits are sent as they are.
pub fn whole_attribute_ops(resource: &Value, edits: &[Edit]) -> Vec<Value> {
    let mut edited = resource.clone();
    let mut ops = Vec::new();
    let mut whole: Vec<AttrPath> = Vec::new();
    for e in edits {
        match e {
            Edit::Attr(p, v) if p.is_filtered() => {
                p.edit(&mut edited, v.as_ref());
                let w = p.whole();
                if !whole.contains(&w) {
                    whole.push(w);
                }
            }
            other => ops.extend(patch_ops(std::slice::from_ref(other))),
        }
    }
    for w in whole {
        match w.top(&edited) {
            Some(v) => ops.push(json!({"op": "replace", "path": w.attribute(), "value": v})),
            None => ops.push(json!({"op": "remove", "path": w.attribute()})),
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
            Edit::Attr(path, value) => path.edit(resource, value.as_ref()),
            Edit::AddMembers(ids) => {
                let Some(obj) = resource.as_object_mut() else {
                    return;
                };
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
                if let Some(list) = resource.get_mut("members").and_then(Value::as_array_mut) {
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

fn text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) if !s.trim().is_empty() => Some(s.trim().to_string()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// Keys of a change's `after` that are not SCIM attributes: the password is written
/// on create only (from the repository's secret, never from the plan), and
/// `immutable_id` belongs to office365.
fn not_written(key: &str) -> bool {
    matches!(key, "password" | "immutable_id")
}

/// The path a mapped key is written at, or why there is none.
fn mapped_path(mapping: &Mapping, key: &str) -> Result<AttrPath, String> {
    let field = mapping.field(key).ok_or_else(|| {
        format!(
            "`{key}` is not an attribute of this app's mapping, so roster has nowhere to write it"
        )
    })?;
    AttrPath::parse(&field.target).map_err(|e| e.to_string())
}

/// Edits for the keys of an update's `after` (or of a full profile, when an existing
/// account is adopted): `login` → `userName` (a rename, on the same resource),
/// `username` → `externalId`, `enabled` → `active`, every mapped key → its target's
/// path (an empty or null value removes it).
pub fn user_edits(after: &BTreeMap<String, Value>, mapping: &Mapping) -> Result<Vec<Edit>, String> {
    let mut edits = Vec::new();
    for (k, v) in after {
        match k.as_str() {
            "login" => match text(v) {
                Some(login) => edits.push(Edit::core("userName", Some(Value::String(login)))),
                None => return Err("an empty userName cannot be written".into()),
            },
            "username" => edits.push(Edit::core("externalId", text(v).map(Value::String))),
            "enabled" => match v.as_bool() {
                Some(b) => edits.push(Edit::core("active", Some(Value::Bool(b)))),
                None => return Err(format!("`enabled` must be true or false, not {v}")),
            },
            key if not_written(key) => {}
            key => edits.push(Edit::Attr(
                mapped_path(mapping, key)?,
                text(v).map(Value::String),
            )),
        }
    }
    Ok(edits)
}

/// The roster profile of a user to create: the change's `after` as planned (it holds
/// every mapped key with a value, so what is written is what the plan shows); a
/// change without one (a library caller's) takes the desired user's mapped values.
fn profile(
    user: Option<&User>,
    after: Option<&BTreeMap<String, Value>>,
    mapping: &Mapping,
) -> BTreeMap<String, Value> {
    if let Some(after) = after {
        return after.clone();
    }
    let mut attrs = BTreeMap::new();
    if let Some(u) = user {
        for f in &mapping.fields {
            if let Some(v) = f.value(u) {
                attrs.insert(f.key.clone(), Value::String(v));
            }
        }
        attrs.insert("enabled".into(), Value::Bool(u.enabled));
    }
    attrs
}

/// A SCIM User resource to create: `userName` (the login), `externalId` (the
/// username), `active`, and every mapped key at its path; an extension attribute adds
/// its schema URN to `schemas`.
pub fn user_resource(
    login: &str,
    username: &str,
    attrs: &BTreeMap<String, Value>,
    mapping: &Mapping,
) -> Result<Value, String> {
    let mut res = json!({
        "schemas": [USER_SCHEMA],
        "userName": login,
        "externalId": username,
        "active": attrs.get("enabled").and_then(Value::as_bool).unwrap_or(true),
    });
    for (k, v) in attrs {
        match k.as_str() {
            "login" | "username" | "enabled" => {}
            key if not_written(key) => {}
            key => {
                let path = mapped_path(mapping, key)?;
                if let Some(v) = text(v) {
                    path.edit(&mut res, Some(&Value::String(v)));
                }
            }
        }
    }
    Ok(res)
}

/// The schema extensions a set of edits writes to that the provider does not list
/// for Users, as an error naming them.
fn unlisted_extensions(caps: &Capabilities, paths: &[&AttrPath]) -> Result<(), String> {
    for p in paths {
        if let Some(urn) = &p.schema
            && !caps.user_extension(urn)
        {
            let listed = caps
                .user_extensions
                .as_deref()
                .filter(|l| !l.is_empty())
                .map(|l| l.join(", "))
                .unwrap_or_else(|| "none".into());
            return Err(format!(
                "`{}` is in the schema extension {urn}, which the service provider's User \
                 resource type does not list (its /ResourceTypes lists: {listed}); roster \
                 does not write it",
                p.text()
            ));
        }
    }
    Ok(())
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

/// How [`Applier::rewrite`] writes an edited resource back.
#[derive(Debug, Clone, Copy)]
enum Rewrite {
    Put,
    PatchWholeAttributes,
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
    /// Repository users by username, built once per apply (creates look users up).
    pub users: crate::desired::UserIndex<'a>,
}

impl PhaseWriter for Writer<'_> {
    const TYPE: &'static str = "scim";

    /// Users, groups, memberships and managers. No licenses, and no restore: a SCIM
    /// service provider keeps no deleted items, so the planner re-creates a deleted
    /// user instead.
    fn supports(&self, c: &Change) -> bool {
        !matches!(c.phase(), Phase::Licenses | Phase::Other) && c.action != Action::Restore
    }

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
                self.update_user(c).await
            }
            (ObjectKind::Manager, Action::Update) => self.set_manager(c).await,
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
    /// provider answers 501/405 after all), else GET + PUT. A PATCH whose value filter
    /// the provider refuses (`noTarget`: no entry of that type yet, as RFC 7644
    /// §3.5.2.3 requires; `invalidPath` / `invalidFilter`: no filters in paths) is sent
    /// again with the multi-valued attributes it touches replaced whole, as read.
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
                Err(e)
                    if edits.iter().any(Edit::filtered)
                        && scim_error(&e).is_some_and(|s| {
                            s.status == 400
                                && matches!(
                                    s.scim_type.as_deref(),
                                    Some("noTarget" | "invalidPath" | "invalidFilter")
                                )
                        }) =>
                {
                    tracing::debug!(app = %self.conn.app.name, error = %e, "a value filter was refused; replacing whole attributes");
                    return self
                        .rewrite(&path, edits, Rewrite::PatchWholeAttributes)
                        .await
                        .map_err(|again| {
                            again.context(format!(
                                "{e}; sent again with the whole multi-valued attributes"
                            ))
                        });
                }
                Err(e) => return Err(e),
            }
        }
        self.rewrite(&path, edits, Rewrite::Put).await
    }

    /// GET, edit, write back: the whole resource by PUT, or (a provider that refused
    /// a value filter) the edited multi-valued attributes by PATCH. With ETags
    /// announced the write carries `If-Match` and a lost race (412) starts over.
    async fn rewrite(&self, path: &str, edits: &[Edit], how: Rewrite) -> Result<()> {
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
            let if_match = if self.conn.caps.etag {
                version.as_deref()
            } else {
                None
            };
            let (method, body) = match how {
                Rewrite::Put => {
                    edit_resource(&mut resource, edits);
                    (Method::PUT, resource)
                }
                Rewrite::PatchWholeAttributes => (
                    Method::PATCH,
                    json!({"schemas": [PATCH_OP], "Operations": whole_attribute_ops(&resource, edits)}),
                ),
            };
            match self
                .conn
                .client
                .send(method, path, &[], Some(&body), if_match)
                .await
            {
                Ok(_) => return Ok(()),
                Err(e) if scim_error(&e).is_some_and(|s| s.status == 412) => last = Some(e),
                Err(e) => return Err(e),
            }
        }
        Err(last.unwrap_or_else(|| anyhow!("{path}: precondition kept failing")))
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
                    edits.push(Edit::core("description", text(v).map(Value::String)))
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
        let user = self.users.get(c.key().as_ref()).copied();
        let login = c
            .after
            .as_ref()
            .and_then(|a| a.get("login"))
            .and_then(text)
            .or_else(|| user.map(|u| self.conn.mapping.login_of(u)))
            .unwrap_or_else(|| c.key().into_owned());
        if login.trim().is_empty() {
            return Err(anyhow!(
                "user {:?}: an empty userName cannot be provisioned",
                c.key()
            ));
        }
        let mapping = &self.conn.mapping;
        let attrs = profile(user, c.after.as_ref(), mapping);
        let mut body = user_resource(&login, &c.key(), &attrs, mapping)
            .map_err(|e| anyhow!("user {}: {e}", c.key()))?;
        let paths = attrs
            .keys()
            .filter_map(|k| mapped_path(mapping, k).ok())
            .collect::<Vec<_>>();
        unlisted_extensions(&self.conn.caps, &paths.iter().collect::<Vec<_>>())
            .map_err(|e| anyhow!("user {}: {e}", c.key()))?;
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

    /// An update, enable or disable of a user: its `after` keys as edits of the same
    /// resource (a rename replaces `userName`, and `externalId` when the username
    /// changes too).
    async fn update_user(&self, c: &Change) -> ChangeResult {
        let id = match self.user_id(c) {
            Ok(id) => id,
            Err(r) => return r,
        };
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
        let edits = match user_edits(&after, &self.conn.mapping) {
            Ok(e) => e,
            Err(why) => return fail(format!("user {}: {why}", c.key())),
        };
        let paths: Vec<&AttrPath> = edits
            .iter()
            .filter_map(|e| match e {
                Edit::Attr(p, _) => Some(p),
                _ => None,
            })
            .collect();
        if let Err(why) = unlisted_extensions(&self.conn.caps, &paths) {
            return fail(format!("user {}: {why}", c.key()));
        }
        if edits.is_empty() {
            return applied(Some(id));
        }
        match self
            .modify(&self.conn.caps.users_endpoint, &id, &edits)
            .await
        {
            Ok(()) => applied(Some(id)),
            Err(e) => failed(&e),
        }
    }

    /// Sets (a PATCH `replace` of the enterprise `manager` with `{"value": ID}`) or
    /// clears (`remove`) a user's manager. The manager's id comes from the run: an
    /// observed user, or one created earlier in this apply.
    async fn set_manager(&self, c: &Change) -> ChangeResult {
        let manager = AttrPath::manager();
        if let Err(why) = unlisted_extensions(&self.conn.caps, &[&manager]) {
            return fail(format!("user {}: {why}", c.key()));
        }
        let id = match self.user_id(c) {
            Ok(id) => id,
            Err(r) => return r,
        };
        let value = match c.manager() {
            Some(m) => match self.run.user_id(m, None) {
                Ok(mid) => Some(json!({ "value": mid })),
                Err(r) => return r,
            },
            None => None,
        };
        let clear = value.is_none();
        match self
            .modify(
                &self.conn.caps.users_endpoint,
                &id,
                &[Edit::Attr(manager, value)],
            )
            .await
        {
            Ok(()) => applied(Some(id)),
            // No manager to remove: the live state matches.
            Err(e)
                if clear
                    && scim_error(&e).is_some_and(|s| {
                        s.status == 400 && s.scim_type.as_deref() == Some("noTarget")
                    }) =>
            {
                applied(Some(id))
            }
            Err(e) => failed(&e),
        }
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
                let mut attrs = attrs;
                attrs.insert("username".into(), Value::String(c.key().into_owned()));
                let edits = user_edits(&attrs, &self.conn.mapping)
                    .map_err(|why| anyhow!("user {}: {why}", c.key()))?;
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
    use crate::desired::{App, ScimApp};
    use crate::mapping::targets::ENTERPRISE;

    fn path(s: &str) -> AttrPath {
        AttrPath::parse(s).unwrap()
    }

    fn mapping(extra: &[(&str, &str)]) -> Mapping {
        let mut app: ScimApp = serde_json::from_value(json!({
            "name": "hr", "url": "https://scim.example", "token": {"env": "T"}
        }))
        .unwrap();
        for (t, v) in extra {
            app.attribute_map.insert(t.to_string(), Some(v.to_string()));
        }
        Mapping::of(&App::Scim(app)).expect("a valid mapping")
    }

    #[test]
    fn patch_and_put_express_the_same_edits() {
        let edits = vec![
            Edit::Attr(path("name.givenName"), Some(json!("Al"))),
            Edit::core("displayName", None),
            Edit::core("active", Some(json!(false))),
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
        let m = mapping(&[]);
        let attrs = BTreeMap::from([
            ("login".to_string(), json!("alice")),
            ("email".to_string(), json!("a@x.com")),
            ("first_name".to_string(), json!("A")),
            ("last_name".to_string(), json!("")),
            ("enabled".to_string(), json!(false)),
            ("password".to_string(), json!("{ env: P }")),
        ]);
        let r = user_resource("alice", "alice", &attrs, &m).unwrap();
        assert_eq!(r["userName"], "alice");
        assert_eq!(r["externalId"], "alice");
        assert_eq!(r["active"], false);
        assert_eq!(r["name"], json!({"givenName": "A"}));
        assert_eq!(
            r["emails"],
            json!([{"type": "work", "value": "a@x.com", "primary": true}])
        );
        assert!(r.get("displayName").is_none());
        assert!(r.get("password").is_none(), "a reference is never sent");
        assert_eq!(r["schemas"], json!([USER_SCHEMA]));
        let edits = user_edits(&attrs, &m).unwrap();
        assert!(edits.contains(&Edit::Attr(path("name.familyName"), None)));
        assert!(edits.contains(&Edit::core("active", Some(json!(false)))));
        assert!(edits.contains(&Edit::core("userName", Some(json!("alice")))));
    }

    #[test]
    fn mapped_enterprise_keys_renames_and_clears_become_edits_at_their_paths() {
        let employee = format!("{ENTERPRISE}:employeeNumber");
        let m = mapping(&[
            ("title", "{job_title}"),
            (&employee, "{employee_id}"),
            ("phoneNumbers[type eq \"work\"].value", "{attributes.phone}"),
        ]);
        let attrs = BTreeMap::from([
            ("title".to_string(), json!("CTO")),
            (employee.clone(), json!("E1")),
            (
                "phoneNumbers[type eq \"work\"].value".to_string(),
                json!("+1"),
            ),
        ]);
        let r = user_resource("ann", "ann", &attrs, &m).unwrap();
        assert_eq!(r["schemas"], json!([USER_SCHEMA, ENTERPRISE]));
        assert_eq!(r[ENTERPRISE], json!({"employeeNumber": "E1"}));
        assert_eq!(r["title"], "CTO");
        assert_eq!(r["phoneNumbers"], json!([{"type": "work", "value": "+1"}]));

        let update = BTreeMap::from([
            ("login".to_string(), json!("ann.new")),
            ("username".to_string(), json!("ann-new")),
            ("title".to_string(), Value::Null),
            (employee.clone(), json!("E2")),
        ]);
        let ops = patch_ops(&user_edits(&update, &m).unwrap());
        assert_eq!(
            ops,
            [
                json!({"op": "replace", "path": "userName", "value": "ann.new"}),
                json!({"op": "remove", "path": "title"}),
                json!({"op": "replace", "path": employee, "value": "E2"}),
                json!({"op": "replace", "path": "externalId", "value": "ann-new"}),
            ]
        );
        // A key the mapping does not hold is refused, not silently dropped.
        let err = user_edits(&BTreeMap::from([("department".into(), json!("x"))]), &m).unwrap_err();
        assert!(err.contains("`department`"), "{err}");
        let err = user_edits(&BTreeMap::from([("login".into(), json!(" "))]), &m).unwrap_err();
        assert!(err.contains("empty userName"), "{err}");
        assert!(
            user_resource("a", "a", &BTreeMap::from([("nope".into(), json!("1"))]), &m).is_err()
        );
    }

    #[test]
    fn a_refused_value_filter_is_sent_again_as_whole_attributes() {
        let resource = json!({
            "id": "1", "userName": "ann",
            "emails": [{"value": "h@x", "type": "home"}],
            "phoneNumbers": [{"type": "work", "value": "1"}]
        });
        let edits = vec![
            Edit::Attr(path("emails[type eq \"work\"].value"), Some(json!("w@x"))),
            Edit::Attr(path("phoneNumbers[type eq \"work\"].value"), None),
            Edit::core("title", Some(json!("CTO"))),
        ];
        assert_eq!(
            patch_ops(&edits)[1],
            json!({"op": "remove", "path": "phoneNumbers[type eq \"work\"]"})
        );
        assert_eq!(
            whole_attribute_ops(&resource, &edits),
            [
                json!({"op": "replace", "path": "title", "value": "CTO"}),
                json!({"op": "replace", "path": "emails", "value": [
                    {"value": "h@x", "type": "home"},
                    {"type": "work", "value": "w@x", "primary": true}
                ]}),
                json!({"op": "remove", "path": "phoneNumbers"}),
            ]
        );
    }

    #[test]
    fn extensions_the_provider_does_not_list_are_refused_by_name() {
        let mut caps = Capabilities::default();
        let manager = AttrPath::manager();
        assert!(
            unlisted_extensions(&caps, &[&manager]).is_ok(),
            "unknown: tried"
        );
        caps.apply_resource_types(&json!([{"schema": USER_SCHEMA, "endpoint": "/Users"}]));
        let err = unlisted_extensions(&caps, &[&path("title"), &manager]).unwrap_err();
        assert!(
            err.contains(ENTERPRISE) && err.contains("lists: none"),
            "{err}"
        );
    }
}
