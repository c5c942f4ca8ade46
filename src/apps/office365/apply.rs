//! Carrying out a plan's changes against Graph: phase by phase in plan order
//! (create groups → create/update/enable users → licenses → member adds → member
//! removes → disable/delete users → delete groups), every write through `$batch`,
//! member adds 20 per `members@odata.bind` PATCH, each change's outcome reported as
//! soon as it is known, dependants of a failed create skipped, and "already exists"
//! answers turned into success when the live object matches.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use rand::Rng;
use serde_json::{Map, Value, json};

use super::http::{
    BATCH_SIZE, BatchOp, Graph, GraphResponse, OpOutcome, odata_literal, path_segment,
};
use super::read::{USER_ATTRIBUTES, USER_SELECT};
use crate::apps::ChangeResult;
use crate::apps::kit::driver::{PhaseWriter, Run, Step};
use crate::apps::kit::password;
use crate::desired::{DesiredState, GroupKind, Office365App, User};
use crate::observed::ObservedApp;
use crate::plan::{Action, Change, ObjectKind, Phase};

pub use crate::observed::roster_group_key as unique_name;

/// A failed change's result from an outcome.
fn failed(outcome: &OpOutcome) -> ChangeResult {
    match outcome {
        OpOutcome::Done(r) => ChangeResult::Failed {
            error: match conflict_of(r) {
                Some((property, holder)) => format!(
                    "{} (the {property} value is held by {})",
                    r.describe(),
                    holder.as_deref().unwrap_or("another object")
                ),
                None => r.describe(),
            },
            request_id: r.request_id.clone(),
        },
        OpOutcome::Failed {
            error, request_id, ..
        } => ChangeResult::Failed {
            error: error.clone(),
            request_id: request_id.clone(),
        },
    }
}

fn applied(id: Option<String>, r: &GraphResponse) -> ChangeResult {
    ChangeResult::Applied {
        id,
        request_id: r.request_id.clone(),
    }
}

fn fail(msg: impl Into<String>) -> ChangeResult {
    ChangeResult::Failed {
        error: msg.into(),
        request_id: None,
    }
}

fn already_exists(r: &GraphResponse) -> bool {
    match conflict_of(r) {
        Some((property, _)) => property.eq_ignore_ascii_case("userPrincipalName"),
        None => r.status == 400 && r.error_message().contains("already exist"),
    }
}

/// A uniqueness conflict: the property whose value another object holds, and that
/// object when Graph names it. Graph answers 400 "Another object with the same value
/// for property P already exists." with details `ObjectConflict` (target P) and, where
/// it names the holder, `ConflictingObjects` (target `User_<id>` / `Group_<id>`). Only
/// a userPrincipalName conflict means the user is there already; a proxyAddresses or
/// mailNickname one is someone else's address.
fn conflict_of(r: &GraphResponse) -> Option<(String, Option<String>)> {
    if r.status != 400 {
        return None;
    }
    let details: &[Value] = r
        .body
        .pointer("/error/details")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default();
    let target = |code: &str| {
        details
            .iter()
            .find(|d| d.get("code").and_then(Value::as_str) == Some(code))
            .and_then(|d| d.get("target").and_then(Value::as_str))
            .map(str::to_string)
    };
    let property = target("ObjectConflict").or_else(|| {
        r.error_message()
            .strip_prefix("Another object with the same value for property ")
            .and_then(|rest| rest.split_whitespace().next())
            .map(str::to_string)
    })?;
    Some((property, target("ConflictingObjects")))
}

/// A Graph `mailNickname` from a name: ASCII letters, digits, `.`, `-`, `_`, at most
/// 64 characters, never empty.
pub fn mail_nickname(name: &str) -> String {
    let mut s: String = name
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'))
        .take(64)
        .collect();
    s = s.trim_matches('.').to_string();
    if s.is_empty() {
        let n: u32 = rand::rng().random();
        s = format!("roster{n:08x}");
    }
    s
}

fn value_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// Graph user properties from roster attributes (only the managed ones; empty or null
/// values become null, which clears the property).
///
/// Keys: roster's names of the default properties; `enabled`; `login` (the
/// userPrincipalName: a rename); `username` (the anchor, as the mailNickname roster
/// derives from it); any other mapped Graph property by its name, a complex one's
/// member (`employeeOrgData.costCenter`) inside its object.
pub fn user_patch(after: &BTreeMap<String, Value>) -> Map<String, Value> {
    let mut body = Map::new();
    for (k, v) in after {
        let text = || value_text(v).map(Value::String).unwrap_or(Value::Null);
        if let Some((_, graph)) = USER_ATTRIBUTES.iter().find(|(r, _)| r == k) {
            body.insert((*graph).to_string(), text());
        } else if k == "enabled" {
            if let Some(b) = v.as_bool() {
                body.insert("accountEnabled".into(), Value::Bool(b));
            }
        } else if k == "login" {
            body.insert("userPrincipalName".into(), text());
        } else if k == "username" {
            if let Some(nick) = value_text(v).and_then(|u| crate::mapping::mail_nickname(&u)) {
                body.insert("mailNickname".into(), Value::String(nick));
            }
        } else if crate::mapping::targets::find("office365", k).is_some() {
            match k.split_once('.') {
                Some((outer, inner)) => {
                    let slot = body
                        .entry(outer.to_string())
                        .or_insert_with(|| Value::Object(Map::new()));
                    if let Value::Object(m) = slot {
                        m.insert(inner.to_string(), text());
                    }
                }
                None => {
                    body.insert(k.clone(), text());
                }
            }
        }
    }
    body
}

/// The profile of a user to create: the desired user's attributes, overridden by
/// the change's `after` values (the plan is applied as saved).
fn user_profile(
    user: Option<&User>,
    after: Option<&BTreeMap<String, Value>>,
) -> Map<String, Value> {
    let mut attrs: BTreeMap<String, Value> = BTreeMap::new();
    // A planned create carries every mapped attribute in `after`; the repository's
    // values stand in only for a change without one.
    if let Some(u) = user.filter(|_| after.is_none()) {
        let mut put = |k: &str, v: Option<&String>| {
            if let Some(v) = v {
                attrs.insert(k.to_string(), Value::String(v.clone()));
            }
        };
        put("email", Some(&u.email));
        put("first_name", Some(&u.first_name));
        put("last_name", Some(&u.last_name));
        put("display_name", Some(&u.display_name()));
        put("department", u.department.as_ref());
        put("job_title", u.job_title.as_ref());
        put("employee_id", u.employee_id.as_ref());
        put("usage_location", u.usage_location.as_ref());
        put("mobile_phone", u.mobile_phone.as_ref());
        attrs.insert("enabled".into(), Value::Bool(u.enabled));
    }
    if let Some(a) = after {
        for (k, v) in a {
            attrs.insert(k.clone(), v.clone());
        }
    }
    let mut body = user_patch(&attrs);
    body.retain(|_, v| !v.is_null());
    body.entry("accountEnabled").or_insert(Value::Bool(true));
    body
}

/// The PATCH that follows restore `i` with the attributes that differ (tag 1: its
/// outcome reports the restored id). Replication may lag right after the restore.
fn restore_follow_up(i: usize, path: String, body: Value) -> Work {
    let mut op = BatchOp::new("PATCH", path, Some(body));
    op.lag_retry = true;
    Work {
        op,
        changes: vec![i],
        tag: 1,
    }
}

/// One unit of work in a phase: a request and the changes it settles.
struct Work {
    op: BatchOp,
    changes: Vec<usize>,
    /// A phase-specific index (member adds: the chunk).
    tag: usize,
}

/// One user's license work: SKUs to add, SKUs to remove, and the changes settled.
type LicenseWork = (Vec<Value>, Vec<Value>, Vec<usize>);
/// A member id and the changes that add it.
type MemberChanges = (String, Vec<usize>);

/// The Graph write primitives, driven by [`crate::apps::kit::driver::apply`].
pub(crate) struct Writer<'a> {
    pub graph: &'a Graph,
    pub app: &'a Office365App,
    pub repo_root: &'a Path,
    pub desired: &'a DesiredState,
    /// Repository users by username, built once per apply (creates look users up).
    pub users: crate::desired::UserIndex<'a>,
    pub observed: &'a ObservedApp,
}

impl PhaseWriter for Writer<'_> {
    const TYPE: &'static str = "office365";

    fn login(&self, user: &User) -> String {
        user.email.trim().to_string()
    }

    fn supports(&self, c: &Change) -> bool {
        c.phase() != Phase::Other
    }

    async fn write_phase(&mut self, phase: Phase, idx: &[usize], run: &Run<'_>) {
        let this = Step { w: &*self, run };
        match phase {
            Phase::CreateGroups => this.groups_phase(idx).await,
            Phase::CreateUpdateEnableUsers => this.users_phase(idx).await,
            Phase::Licenses => this.licenses_phase(idx).await,
            Phase::Managers => this.managers_phase(idx).await,
            Phase::MembershipAdds => this.member_adds(idx).await,
            Phase::MembershipRemoves => this.member_removes(idx).await,
            Phase::DisableDeleteUsers | Phase::DeleteGroups | Phase::Other => {
                this.simple_phase(idx).await
            }
        }
    }
}

/// One phase of an apply.
type Applier<'s, 'r, 'a> = Step<'s, 'r, Writer<'a>>;

impl Applier<'_, '_, '_> {
    fn user_id(&self, key: &str, fallback: Option<&String>) -> Result<String, ChangeResult> {
        self.run.user_id(key, fallback)
    }

    fn group_id(&self, name: &str, fallback: Option<&String>) -> Result<String, ChangeResult> {
        self.run.group_id(name, fallback)
    }

    /// Sends works; `settle` decides each outcome (and may collect follow-ups).
    async fn send(&self, works: &[Work], mut settle: impl FnMut(&Self, &Work, OpOutcome)) {
        let ops: Vec<BatchOp> = works.iter().map(|w| w.op.clone()).collect();
        self.graph
            .run_batched_marked(
                &ops,
                |k, outcome| settle(self, &works[k], outcome),
                || self.run.batch_done(),
            )
            .await;
    }

    // ----- groups -------------------------------------------------------------------

    async fn groups_phase(&self, idx: &[usize]) {
        let mut creates = Vec::new();
        let mut works = Vec::new();
        let mut restores = Vec::new();
        for &i in idx {
            let c = self.change(i);
            match c.action {
                Action::Create => creates.push(i),
                // directory-deleteditems-restore.md: the Microsoft 365 group comes back
                // with its id, members, mailbox and files.
                Action::Restore => match &c.id {
                    None => self.report(i, fail(format!("group {}: restore names no id", c.key()))),
                    Some(id) => restores.push(Work {
                        op: BatchOp::new(
                            "POST",
                            format!("/directory/deletedItems/{}/restore", path_segment(id)),
                            None,
                        ),
                        changes: vec![i],
                        tag: 0,
                    }),
                },
                _ => match self.group_id(&c.key(), c.id.as_ref()) {
                    Err(u) => self.report(i, u),
                    Ok(id) => {
                        let mut body = Map::new();
                        let mut unsupported = Vec::new();
                        for (k, v) in c.after.iter().flatten() {
                            match k.as_str() {
                                "description" => {
                                    body.insert(
                                        "description".into(),
                                        value_text(v).map(Value::String).unwrap_or(Value::Null),
                                    );
                                }
                                "name" | "display_name" => {
                                    if let Some(n) = value_text(v) {
                                        body.insert("displayName".into(), Value::String(n));
                                    }
                                }
                                other => unsupported.push(other.to_string()),
                            }
                        }
                        if !unsupported.is_empty() {
                            self.report(
                                i,
                                fail(format!(
                                    "group {}: Graph cannot change {} of an existing group",
                                    c.key(),
                                    unsupported.join(", ")
                                )),
                            );
                        } else if body.is_empty() {
                            self.report(
                                i,
                                ChangeResult::Applied {
                                    id: Some(id),
                                    request_id: None,
                                },
                            );
                        } else {
                            works.push(Work {
                                op: BatchOp::new(
                                    "PATCH",
                                    format!("/groups/{}", path_segment(&id)),
                                    Some(Value::Object(body)),
                                ),
                                changes: vec![i],
                                tag: 0,
                            });
                        }
                    }
                },
            }
        }
        // Restores first; a restored group whose description differs then gets it.
        let mut follow_ups = Vec::new();
        self.send(&restores, |this, w, o| {
            let i = w.changes[0];
            let c = this.change(i);
            match &o {
                OpOutcome::Done(r) if r.is_success() => {
                    let id = c.id.clone().unwrap_or_default();
                    match c.after.as_ref().and_then(|a| a.get("description")) {
                        None => this.report(i, applied(Some(id), r)),
                        Some(d) => {
                            let body = json!({
                                "description": value_text(d).map(Value::String).unwrap_or(Value::Null)
                            });
                            follow_ups.push(restore_follow_up(
                                i,
                                format!("/groups/{}", path_segment(&id)),
                                body,
                            ));
                        }
                    }
                }
                _ => this.report(i, failed(&o)),
            }
        })
        .await;
        works.extend(follow_ups);
        self.create_groups(creates).await;
        self.send(&works, |this, w, o| match &o {
            // A restore's follow-up: the restored id is the change's.
            OpOutcome::Done(r) if r.is_success() && w.tag == 1 => this.report(
                w.changes[0],
                applied(this.change(w.changes[0]).id.clone(), r),
            ),
            OpOutcome::Done(r) if r.is_success() => this.report(w.changes[0], applied(None, r)),
            _ => this.report(w.changes[0], failed(&o)),
        })
        .await;
    }

    fn group_create_body(&self, c: &Change) -> Value {
        let g = self.desired.group(&c.key());
        let mut description = g.and_then(|g| g.description.clone());
        let mut kind = g.and_then(|g| g.kind).unwrap_or_default();
        for (k, v) in c.after.iter().flatten() {
            match k.as_str() {
                "description" => description = value_text(v),
                "kind" => {
                    kind = if v.as_str() == Some("microsoft365") {
                        GroupKind::Microsoft365
                    } else {
                        GroupKind::Security
                    }
                }
                _ => {}
            }
        }
        let mut body = json!({
            "displayName": c.key(),
            "mailNickname": mail_nickname(&c.key()),
        });
        match kind {
            // Never planned for creation; a security group is the harmless reading.
            GroupKind::Security | GroupKind::Repository => {
                body["securityEnabled"] = json!(true);
                body["mailEnabled"] = json!(false);
                body["groupTypes"] = json!([]);
            }
            GroupKind::Microsoft365 => {
                body["securityEnabled"] = json!(false);
                body["mailEnabled"] = json!(true);
                body["groupTypes"] = json!(["Unified"]);
            }
        }
        if let Some(d) = description {
            body["description"] = Value::String(d);
        }
        body
    }

    /// Group names are not unique in Graph, so every group roster creates gets an
    /// alternate key derived from its name ([`unique_name`]) and is created by upsert:
    /// `PATCH /groups(uniqueName='…')` with `Prefer: create-if-missing`. A resend is
    /// harmless, and two applies creating one group (two checkouts at once, a re-run
    /// after a crash whose create went through) meet at the same object: 201 made it,
    /// 204 found it (its id is then read by the key, allowing for replication lag).
    async fn create_groups(&self, pending: Vec<usize>) {
        if pending.is_empty() {
            return;
        }
        let works: Vec<Work> = pending
            .iter()
            .map(|&i| {
                let c = self.change(i);
                let mut op = BatchOp::new(
                    "PATCH",
                    format!(
                        "/groups(uniqueName='{}')",
                        odata_literal(&unique_name(&c.key()))
                    ),
                    Some(self.group_create_body(c)),
                );
                op.prefer = Some("create-if-missing");
                Work {
                    op,
                    changes: vec![i],
                    tag: 0,
                }
            })
            .collect();
        let mut existing: Vec<usize> = Vec::new();
        self.send(&works, |this, w, o| {
            let i = w.changes[0];
            match &o {
                OpOutcome::Done(r) if r.status == 204 => existing.push(i),
                OpOutcome::Done(r) if r.is_success() => {
                    let id = r.body.get("id").and_then(Value::as_str).map(str::to_string);
                    this.report(i, applied(id, r));
                }
                _ => this.report(i, failed(&o)),
            }
        })
        .await;
        let lookups: Vec<Work> = existing
            .into_iter()
            .map(|i| {
                let mut op = BatchOp::new(
                    "GET",
                    format!(
                        "/groups(uniqueName='{}')?$select=id",
                        odata_literal(&unique_name(&self.change(i).key()))
                    ),
                    None,
                );
                op.lag_retry = true;
                Work {
                    op,
                    changes: vec![i],
                    tag: 0,
                }
            })
            .collect();
        self.send(&lookups, |this, w, o| {
            let i = w.changes[0];
            match &o {
                OpOutcome::Done(r) if r.is_success() => {
                    let id = r.body.get("id").and_then(Value::as_str).map(str::to_string);
                    this.report(i, applied(id, r));
                }
                _ => this.report(i, failed(&o)),
            }
        })
        .await;
    }

    // ----- users --------------------------------------------------------------------

    async fn users_phase(&self, idx: &[usize]) {
        let mut works = Vec::new();
        let mut creates = Vec::new();
        let mut restores = Vec::new();
        for &i in idx {
            let c = self.change(i);
            match c.action {
                Action::Restore => match &c.id {
                    None => self.report(i, fail(format!("user {}: restore names no id", c.key()))),
                    Some(id) => {
                        // directory-deleteditems-restore.md: a new UPN where the
                        // repository's login differs from the deleted account's.
                        let mut body = Map::new();
                        if let Some(login) = c.after.as_ref().and_then(|a| a.get("login")) {
                            body.insert("newUserPrincipalName".into(), login.clone());
                        }
                        restores.push(Work {
                            op: BatchOp::new(
                                "POST",
                                format!("/directory/deletedItems/{}/restore", path_segment(id)),
                                Some(Value::Object(body)),
                            ),
                            changes: vec![i],
                            tag: 0,
                        });
                    }
                },
                Action::Create => match self.user_create_body(c) {
                    Ok(body) => {
                        let mut op = BatchOp::new("POST", "/users", Some(body));
                        // userPrincipalName is unique: a resent create cannot duplicate.
                        op.idempotent = true;
                        creates.push(Work {
                            op,
                            changes: vec![i],
                            tag: 0,
                        });
                    }
                    Err(e) => {
                        self.report(i, fail(e));
                    }
                },
                Action::Update | Action::Enable => match self.user_id(&c.key(), c.id.as_ref()) {
                    Err(u) => self.report(i, u),
                    Ok(id) => {
                        let mut body = match (&c.action, &c.after) {
                            (Action::Update, Some(after)) => user_patch(after),
                            _ => Map::new(),
                        };
                        if c.action == Action::Enable {
                            body.insert("accountEnabled".into(), Value::Bool(true));
                        }
                        if body.is_empty() {
                            self.report(
                                i,
                                ChangeResult::Applied {
                                    id: Some(id),
                                    request_id: None,
                                },
                            );
                            continue;
                        }
                        let mut op = BatchOp::new(
                            "PATCH",
                            format!("/users/{}", path_segment(&id)),
                            Some(Value::Object(body)),
                        );
                        op.lag_retry = self.run.created_in_run(&id);
                        works.push(Work {
                            op,
                            changes: vec![i],
                            tag: 0,
                        });
                    }
                },
                _ => self.report(
                    i,
                    fail(format!(
                        "user {}: unexpected {:?} in the user phase",
                        c.key(),
                        c.action
                    )),
                ),
            }
        }
        // Restores first; each then gets the rest of its attributes in one PATCH.
        let mut follow_ups = Vec::new();
        self.send(&restores, |this, w, o| {
            let i = w.changes[0];
            let c = this.change(i);
            match &o {
                OpOutcome::Done(r) if r.is_success() => {
                    let mut rest = c.after.clone().unwrap_or_default();
                    rest.remove("login");
                    let body = user_patch(&rest);
                    let id = c.id.clone().unwrap_or_default();
                    if body.is_empty() {
                        this.report(i, applied(Some(id), r));
                    } else {
                        follow_ups.push(restore_follow_up(
                            i,
                            format!("/users/{}", path_segment(&id)),
                            Value::Object(body),
                        ));
                    }
                }
                _ => this.report(i, failed(&o)),
            }
        })
        .await;
        works.extend(follow_ups);
        let mut conflicts: Vec<(usize, Value)> = Vec::new();
        self.send(&creates, |this, w, o| {
            let i = w.changes[0];
            match &o {
                OpOutcome::Done(r) if r.is_success() => {
                    let id = r.body.get("id").and_then(Value::as_str).map(str::to_string);
                    this.report(i, applied(id, r));
                }
                OpOutcome::Done(r) if already_exists(r) => {
                    conflicts.push((i, w.op.body.clone().unwrap_or(Value::Null)));
                }
                _ => {
                    this.report(i, failed(&o));
                }
            }
        })
        .await;
        self.adopt_existing_users(conflicts).await;
        self.send(&works, |this, w, o| match &o {
            OpOutcome::Done(r) if r.is_success() => this.report(w.changes[0], applied(None, r)),
            _ => this.report(w.changes[0], failed(&o)),
        })
        .await;
    }

    /// A create answered "already exists" (a resent create whose first attempt went
    /// through, or a user made meanwhile): the live user with that UPN is read, and
    /// patched where it differs, so that it matches what the create asked for.
    async fn adopt_existing_users(&self, conflicts: Vec<(usize, Value)>) {
        if conflicts.is_empty() {
            return;
        }
        let lookups: Vec<Work> = conflicts
            .iter()
            .map(|(i, body)| {
                let upn = body
                    .get("userPrincipalName")
                    .and_then(Value::as_str)
                    .unwrap_or("");
                let mut op = BatchOp::new(
                    "GET",
                    format!("/users/{}?$select={USER_SELECT}", path_segment(upn)),
                    None,
                );
                op.lag_retry = true;
                Work {
                    op,
                    changes: vec![*i],
                    tag: 0,
                }
            })
            .collect();
        let bodies: HashMap<usize, Value> = conflicts.into_iter().collect();
        let mut patches: Vec<Work> = Vec::new();
        let mut ids: HashMap<usize, String> = HashMap::new();
        self.send(&lookups, |this, w, o| {
            let i = w.changes[0];
            let c = this.change(i);
            let live = match &o {
                OpOutcome::Done(r) if r.is_success() => r.body.clone(),
                _ => {
                    this.report(i, failed(&o));
                    return;
                }
            };
            let Some(id) = live.get("id").and_then(Value::as_str).map(str::to_string) else {
                this.report(
                    i,
                    fail(format!(
                        "user {}: Graph returned a user without id",
                        c.key()
                    )),
                );
                return;
            };
            let wanted = bodies.get(&i).and_then(Value::as_object);
            let mut patch = Map::new();
            for (k, v) in wanted.into_iter().flatten() {
                if matches!(
                    k.as_str(),
                    "passwordProfile"
                        | "mailNickname"
                        | "userPrincipalName"
                        | "onPremisesImmutableId"
                ) {
                    continue;
                }
                if live.get(k) != Some(v) {
                    patch.insert(k.clone(), v.clone());
                }
            }
            if patch.is_empty() {
                this.report(
                    i,
                    applied(
                        Some(id),
                        match &o {
                            OpOutcome::Done(r) => r,
                            _ => return,
                        },
                    ),
                );
            } else {
                ids.insert(i, id.clone());
                patches.push(Work {
                    op: BatchOp::new(
                        "PATCH",
                        format!("/users/{}", path_segment(&id)),
                        Some(Value::Object(patch)),
                    ),
                    changes: vec![i],
                    tag: 0,
                });
            }
        })
        .await;
        self.send(&patches, |this, w, o| {
            let i = w.changes[0];
            match &o {
                OpOutcome::Done(r) if r.is_success() => {
                    this.report(i, applied(ids.get(&i).cloned(), r))
                }
                _ => {
                    this.report(i, failed(&o));
                }
            }
        })
        .await;
    }

    fn user_create_body(&self, c: &Change) -> Result<Value, String> {
        let user = self.users.get(c.key().as_ref()).copied();
        let mut body = user_profile(user, c.after.as_ref());
        let upn = body
            .get("userPrincipalName")
            .or_else(|| body.get("mail"))
            .and_then(Value::as_str)
            .map(str::to_string)
            .ok_or_else(|| format!("user {}: no login to use as userPrincipalName", c.key()))?;
        body.insert("userPrincipalName".into(), Value::String(upn.clone()));
        body.entry("displayName")
            .or_insert_with(|| Value::String(c.key().into_owned()));
        let nick_source = user
            .map(|u| u.username.as_str())
            .unwrap_or_else(|| upn.split('@').next().unwrap_or(&upn));
        body.entry("mailNickname")
            .or_insert_with(|| Value::String(mail_nickname(nick_source)));
        let sync = user.and_then(|u| u.password.as_ref()).filter(|_| {
            self.app.switches.password_sync
                || c.after.as_ref().is_some_and(|a| a.contains_key("password"))
        });
        let profile = match sync {
            Some(reference) => {
                let secret = crate::secret::resolve(reference, self.repo_root)
                    .map_err(|e| format!("user {}: password ({reference}): {e}", c.key()))?;
                json!({"password": secret.expose(), "forceChangePasswordNextSignIn": false})
            }
            None => json!({"password": password::random(), "forceChangePasswordNextSignIn": true}),
        };
        body.insert("passwordProfile".into(), profile);
        if let Some(Value::String(id)) = c.after.as_ref().and_then(|a| a.get("immutable_id")) {
            body.insert("onPremisesImmutableId".into(), Value::String(id.clone()));
        }
        Ok(Value::Object(body))
    }

    // ----- licenses -----------------------------------------------------------------

    async fn licenses_phase(&self, idx: &[usize]) {
        let sku_ids: HashMap<String, String> = self
            .observed
            .skus
            .iter()
            .map(|s| (s.part_number.to_ascii_uppercase(), s.sku_id.clone()))
            .collect();
        // One assignLicense per user, carrying all of that user's license changes.
        let mut per_user: BTreeMap<String, LicenseWork> = BTreeMap::new();
        for &i in idx {
            let c = self.change(i);
            let Some(sku) = c.sku() else {
                self.report(
                    i,
                    fail(format!("license change for {} names no SKU", c.key())),
                );
                continue;
            };
            let Some(sku_id) = sku_ids.get(&sku.to_ascii_uppercase()) else {
                self.report(
                    i,
                    fail(format!("SKU {sku} is not subscribed in the tenant")),
                );
                continue;
            };
            let id = match self.user_id(&c.key(), None) {
                Ok(id) => id,
                Err(u) => {
                    self.report(i, u);
                    continue;
                }
            };
            let e = per_user.entry(id).or_default();
            match c.action {
                Action::Remove | Action::Delete | Action::Disable => {
                    e.1.push(Value::String(sku_id.clone()))
                }
                _ => e.0.push(json!({"skuId": sku_id, "disabledPlans": []})),
            }
            e.2.push(i);
        }
        let works: Vec<Work> = per_user
            .into_iter()
            .map(|(id, (add, remove, changes))| {
                let mut op = BatchOp::new(
                    "POST",
                    format!("/users/{}/assignLicense", path_segment(&id)),
                    Some(json!({"addLicenses": add, "removeLicenses": remove})),
                );
                op.lag_retry = self.run.created_in_run(&id);
                Work {
                    op,
                    changes,
                    tag: 0,
                }
            })
            .collect();
        self.send(&works, |this, w, o| {
            let r = match &o {
                OpOutcome::Done(r) if r.is_success() => applied(None, r),
                _ => failed(&o),
            };
            for &i in &w.changes {
                this.report(i, r.clone());
            }
        })
        .await;
    }

    // ----- memberships --------------------------------------------------------------

    /// Resolves membership changes to (group id, member id) or reports them.
    fn resolve_memberships(&self, idx: &[usize]) -> Vec<(usize, String, String)> {
        let mut out = Vec::new();
        for &i in idx {
            match self.run.membership_ids(i) {
                Ok((gid, mid)) => out.push((i, gid, mid)),
                Err(r) => self.report(i, r),
            }
        }
        out
    }

    async fn member_adds(&self, idx: &[usize]) {
        let resolved = self.resolve_memberships(idx);
        // group id → member id → changes
        let mut per_group: BTreeMap<String, BTreeMap<String, Vec<usize>>> = BTreeMap::new();
        for (i, gid, mid) in resolved {
            per_group
                .entry(gid)
                .or_default()
                .entry(mid)
                .or_default()
                .push(i);
        }
        let mut works = Vec::new();
        let mut members_of: Vec<(String, Vec<MemberChanges>)> = Vec::new();
        for (gid, members) in per_group {
            let members: Vec<MemberChanges> = members.into_iter().collect();
            for chunk in members.chunks(BATCH_SIZE) {
                let refs: Vec<Value> = chunk
                    .iter()
                    .map(|(m, _)| Value::String(self.graph.directory_object_ref(m)))
                    .collect();
                let mut op = BatchOp::new(
                    "PATCH",
                    format!("/groups/{}", path_segment(&gid)),
                    Some(json!({"members@odata.bind": refs})),
                );
                op.lag_retry = self.run.created_in_run(&gid)
                    || chunk.iter().any(|(m, _)| self.run.created_in_run(m));
                works.push(Work {
                    op,
                    changes: chunk.iter().flat_map(|(_, c)| c.iter().copied()).collect(),
                    tag: members_of.len(),
                });
                members_of.push((gid.clone(), chunk.to_vec()));
            }
        }
        // Chunks that failed as a whole are retried member by member with `$ref`, so
        // that "already a member" counts as success and only the bad ones fail.
        let mut singles: Vec<(String, String, Vec<usize>)> = Vec::new();
        {
            let works_ref = &works;
            let members_ref = &members_of;
            self.send(works_ref, |this, w, o| {
                let Some((gid, chunk)) = members_ref.get(w.tag) else {
                    return;
                };
                match &o {
                    OpOutcome::Done(r) if r.is_success() => {
                        for &i in &w.changes {
                            this.report(i, applied(None, r));
                        }
                    }
                    OpOutcome::Done(r)
                        if r.status >= 400
                            && r.status < 500
                            && (chunk.len() > 1 || already_exists(r)) =>
                    {
                        if chunk.len() == 1 {
                            for &i in &w.changes {
                                this.report(i, applied(None, r));
                            }
                        } else {
                            for (m, cs) in chunk {
                                singles.push((gid.clone(), m.clone(), cs.clone()));
                            }
                        }
                    }
                    _ => {
                        for &i in &w.changes {
                            this.report(i, failed(&o));
                        }
                    }
                }
            })
            .await;
        }
        let single_works: Vec<Work> = singles
            .into_iter()
            .map(|(gid, mid, changes)| {
                let mut op = BatchOp::new(
                    "POST",
                    format!("/groups/{}/members/$ref", path_segment(&gid)),
                    Some(json!({"@odata.id": self.graph.directory_object_ref(&mid)})),
                );
                op.lag_retry = self.run.created_in_run(&gid) || self.run.created_in_run(&mid);
                Work {
                    op,
                    changes,
                    tag: 0,
                }
            })
            .collect();
        self.send(&single_works, |this, w, o| {
            let r = match &o {
                OpOutcome::Done(r) if r.is_success() || already_exists(r) => applied(None, r),
                _ => failed(&o),
            };
            for &i in &w.changes {
                this.report(i, r.clone());
            }
        })
        .await;
    }

    async fn member_removes(&self, idx: &[usize]) {
        let works: Vec<Work> = self
            .resolve_memberships(idx)
            .into_iter()
            .map(|(i, gid, mid)| Work {
                op: BatchOp::new(
                    "DELETE",
                    format!(
                        "/groups/{}/members/{}/$ref",
                        path_segment(&gid),
                        path_segment(&mid)
                    ),
                    None,
                ),
                changes: vec![i],
                tag: 0,
            })
            .collect();
        self.send(&works, |this, w, o| {
            let r = match &o {
                // Not a member (any more): the live state matches.
                OpOutcome::Done(r) if r.is_success() || r.status == 404 => applied(None, r),
                _ => failed(&o),
            };
            this.report(w.changes[0], r);
        })
        .await;
    }

    // ----- disables and deletes -----------------------------------------------------

    // ----- managers ------------------------------------------------------------------

    /// `PUT /users/{id}/manager/$ref` (user-post-manager.md), or `DELETE` of it to clear;
    /// the manager's id from the run (observed, or created earlier in this apply).
    async fn managers_phase(&self, idx: &[usize]) {
        let mut works = Vec::new();
        for &i in idx {
            let c = self.change(i);
            let id = match self.user_id(&c.key(), c.id.as_ref()) {
                Ok(id) => id,
                Err(u) => {
                    self.report(i, u);
                    continue;
                }
            };
            let path = format!("/users/{}/manager/$ref", path_segment(&id));
            let op = match c.manager() {
                Some(m) => match self.user_id(m, None) {
                    Ok(mid) => BatchOp::new(
                        "PUT",
                        path,
                        Some(json!({"@odata.id": self.graph.directory_object_ref(&mid)})),
                    ),
                    Err(u) => {
                        self.report(i, u);
                        continue;
                    }
                },
                None => BatchOp::new("DELETE", path, None),
            };
            works.push(Work {
                op,
                changes: vec![i],
                tag: 0,
            });
        }
        self.send(&works, |this, w, o| {
            let i = w.changes[0];
            match &o {
                OpOutcome::Done(r) if r.is_success() => this.report(i, applied(None, r)),
                // No manager to remove: the live state matches.
                OpOutcome::Done(r) if r.status == 404 && w.op.method == "DELETE" => {
                    this.report(i, applied(None, r))
                }
                _ => this.report(i, failed(&o)),
            }
        })
        .await;
    }

    async fn simple_phase(&self, idx: &[usize]) {
        let mut works = Vec::new();
        for &i in idx {
            let c = self.change(i);
            let (op, id) = match (c.object(), c.action) {
                (ObjectKind::User, Action::Disable) => {
                    match self.user_id(&c.key(), c.id.as_ref()) {
                        Ok(id) => (
                            BatchOp::new(
                                "PATCH",
                                format!("/users/{}", path_segment(&id)),
                                Some(json!({"accountEnabled": false})),
                            ),
                            id,
                        ),
                        Err(u) => {
                            self.report(i, u);
                            continue;
                        }
                    }
                }
                (ObjectKind::User, Action::Delete) => match self.user_id(&c.key(), c.id.as_ref()) {
                    Ok(id) => (
                        BatchOp::new("DELETE", format!("/users/{}", path_segment(&id)), None),
                        id,
                    ),
                    Err(u) => {
                        self.report(i, u);
                        continue;
                    }
                },
                (ObjectKind::Group, Action::Delete) => match self.run.deleted_group_id(i) {
                    Ok(id) => (
                        BatchOp::new("DELETE", format!("/groups/{}", path_segment(&id)), None),
                        id,
                    ),
                    Err(u) => {
                        self.report(i, u);
                        continue;
                    }
                },
                _ => {
                    self.report(
                        i,
                        fail(format!("{:?} {:?} is not supported", c.action, c.object())),
                    );
                    continue;
                }
            };
            let _ = id;
            works.push(Work {
                op,
                changes: vec![i],
                tag: 0,
            });
        }
        self.send(&works, |this, w, o| {
            let r = match &o {
                OpOutcome::Done(r) if r.is_success() => applied(None, r),
                // Already deleted: the live state matches.
                OpOutcome::Done(r) if r.status == 404 && w.op.method == "DELETE" => {
                    applied(None, r)
                }
                _ => failed(&o),
            };
            this.report(w.changes[0], r);
        })
        .await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nicknames_are_sanitised() {
        for (name, nickname) in [
            ("alice.smith", "alice.smith"),
            ("Sales Team (EU)", "SalesTeamEU"),
            (".x.", "x"),
        ] {
            assert_eq!(mail_nickname(name), nickname);
        }
        assert!(mail_nickname("äöü").starts_with("roster"));
        assert_eq!(mail_nickname(&"a".repeat(100)).len(), 64);
    }

    #[test]
    fn patches_map_names_and_clear_empty_values() {
        let after = BTreeMap::from([
            ("job_title".to_string(), json!("Boss")),
            ("department".to_string(), Value::Null),
            ("mobile_phone".to_string(), json!("")),
            ("enabled".to_string(), json!(false)),
            ("licenses".to_string(), json!(["E3"])),
        ]);
        let p = user_patch(&after);
        assert_eq!(p.get("jobTitle"), Some(&json!("Boss")));
        assert_eq!(p.get("department"), Some(&Value::Null));
        assert_eq!(p.get("mobilePhone"), Some(&Value::Null));
        assert_eq!(p.get("accountEnabled"), Some(&json!(false)));
        assert_eq!(p.len(), 4);
    }

    fn answer(body: Value) -> GraphResponse {
        GraphResponse {
            status: 400,
            body,
            request_id: None,
        }
    }

    #[test]
    fn only_a_upn_conflict_means_the_user_is_there() {
        let msg = |p: &str| {
            format!("Another object with the same value for property {p} already exists.")
        };
        let upn = answer(
            json!({"error": {"code": "Request_BadRequest", "message": msg("userPrincipalName"),
            "details": [{"code": "ObjectConflict", "target": "userPrincipalName"}]}}),
        );
        assert!(already_exists(&upn));
        let proxy = answer(
            json!({"error": {"code": "Request_BadRequest", "message": msg("proxyAddresses"),
            "details": [{"code": "ObjectConflict", "target": "proxyAddresses"},
                        {"code": "ConflictingObjects", "target": "Group_1234"}]}}),
        );
        assert!(!already_exists(&proxy));
        assert_eq!(
            conflict_of(&proxy),
            Some(("proxyAddresses".to_string(), Some("Group_1234".to_string())))
        );
        let ChangeResult::Failed { error, .. } = failed(&OpOutcome::Done(proxy)) else {
            panic!("a failure");
        };
        assert!(
            error.contains("proxyAddresses value is held by Group_1234"),
            "{error}"
        );
        // Without details, the property comes from the message.
        let nick = answer(
            json!({"error": {"code": "Request_BadRequest", "message": msg("mailNickname")}}),
        );
        assert_eq!(conflict_of(&nick), Some(("mailNickname".to_string(), None)));
        assert!(!already_exists(&nick));
    }
}
