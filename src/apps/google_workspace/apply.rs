//! Carrying out a plan's changes through the Directory API, phase by phase as the
//! kit's driver orders them: `users.insert` / `patch` / `delete` (a suspend or an
//! unsuspend is a patch of `suspended`), `groups.insert` / `patch` / `delete`,
//! `members.insert` / `delete`. Every change's outcome is reported as soon as it is
//! known; an insert answered `duplicate` adopts the existing object; a 404 on an
//! object created in this run is retried briefly (the API is eventually consistent
//! after inserts); deleting what is gone already, adding a member who is there
//! already, count as done.
//!
//! Passwords: the repository's password is sent as its SHA-1 digest in hex with
//! `hashFunction: SHA-1` (Google's documented hash formats), so the clear text never
//! leaves roster even inside TLS; a user without one gets a random password and
//! `changePasswordAtNextLogin: true`.

use std::collections::BTreeMap;

use anyhow::{Result, anyhow};
use futures::StreamExt;
use reqwest::Method;
use serde_json::{Map, Value, json};
use sha1::{Digest, Sha1};

use super::fields::{self, FieldPath};
use super::http::{BATCH_SIZE, BatchItem, DIRECTORY, GoogleError, google_error, segment};
use crate::apps::ChangeResult;
use crate::apps::kit::driver::{PhaseWriter, Run, Step};
use crate::desired::User;
use crate::plan::{Action, Change, Member, ObjectKind, Phase};

fn text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) if !s.trim().is_empty() => Some(s.trim().to_string()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn applied(id: impl Into<String>) -> ChangeResult {
    ChangeResult::Applied {
        id: Some(id.into()),
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

fn applied_or(r: Option<ChangeResult>) -> ChangeResult {
    r.unwrap_or_else(|| fail("no outcome"))
}

/// The `password` / `hashFunction` pair of a clear-text password: its SHA-1 in hex.
pub fn hashed_password(clear: &str) -> (String, &'static str) {
    let digest = Sha1::digest(clear.as_bytes());
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    (hex, "SHA-1")
}

/// The email of a group roster creates for repository group `name` in `domain`: the
/// name transliterated to ASCII, lower-cased, every run of other characters than
/// letters, digits, `.`, `_` and `-` made one `-`.
pub fn group_email(name: &str, domain: &str) -> Option<String> {
    let ascii = deunicode::deunicode(name).to_lowercase();
    let mut local = String::new();
    for ch in ascii.chars() {
        if ch.is_ascii_alphanumeric() || matches!(ch, '.' | '_') {
            local.push(ch);
        } else if !local.ends_with('-') {
            local.push('-');
        }
    }
    let local = local.trim_matches(|c| c == '-' || c == '.');
    (!local.is_empty()).then(|| format!("{local}@{}", domain.trim().to_lowercase()))
}

/// The Directory API write primitives, driven by [`crate::apps::kit::driver::apply`].
pub(crate) struct Writer<'a> {
    pub conn: &'a super::GoogleWorkspaceConnector,
    pub users: crate::desired::UserIndex<'a>,
    /// Observed group emails by id (members are inserted by email or id).
    pub group_emails: BTreeMap<String, String>,
}

impl PhaseWriter for Writer<'_> {
    const TYPE: &'static str = "google_workspace";

    fn login(&self, user: &User) -> String {
        user.email.trim().to_string()
    }

    /// Users (with managers), groups and memberships; no licenses or restores.
    fn supports(&self, c: &Change) -> bool {
        !matches!(c.phase(), Phase::Licenses | Phase::Other) && c.action != Action::Restore
    }

    async fn write_phase(&mut self, phase: Phase, idx: &[usize], run: &Run<'_>) {
        let this = Step { w: &*self, run };
        if matches!(phase, Phase::MembershipAdds | Phase::MembershipRemoves) && idx.len() > 1 {
            this.members_batched(idx).await;
            return;
        }
        let mut stream = futures::stream::iter(idx.to_vec())
            .map(|i| {
                let this = &this;
                async move { (i, this.one(i).await) }
            })
            .buffer_unordered(self.conn.client.policy.concurrency.max(1));
        while let Some((i, r)) = stream.next().await {
            this.report(i, r);
        }
    }
}

type Applier<'s, 'r, 'a> = Step<'s, 'r, Writer<'a>>;

impl Applier<'_, '_, '_> {
    async fn one(&self, i: usize) -> ChangeResult {
        let c = self.change(i);
        match (c.object(), c.action) {
            (ObjectKind::Group, Action::Create) => self.create_group(c).await,
            (ObjectKind::Group, Action::Update) => self.update_group(c).await,
            (ObjectKind::Group, Action::Delete) => match self.run.deleted_group_id(i) {
                Ok(id) => {
                    self.delete(&format!("{DIRECTORY}/groups/{}", segment(&id)), id)
                        .await
                }
                Err(r) => r,
            },
            (ObjectKind::User, Action::Create) => self.create_user(c).await,
            (ObjectKind::User, Action::Update | Action::Enable | Action::Disable) => {
                self.update_user(c).await
            }
            (ObjectKind::User, Action::Delete) => match self.run.user_id(&c.key(), c.id.as_ref()) {
                Ok(id) => {
                    self.delete(&format!("{DIRECTORY}/users/{}", segment(&id)), id)
                        .await
                }
                Err(r) => r,
            },
            (ObjectKind::Membership, Action::Add | Action::Remove) => self.member(i).await,
            (ObjectKind::Manager, Action::Update) => self.set_manager(c).await,
            _ => fail(format!(
                "{} of a {} is not something the google_workspace connector can do",
                c.action,
                c.object()
            )),
        }
    }

    async fn send(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
        lagging: bool,
    ) -> Result<Value> {
        self.conn
            .client
            .send(method, path, &[], body, lagging)
            .await
    }

    async fn delete(&self, path: &str, id: String) -> ChangeResult {
        let lagging = self.run.created_in_run(&id);
        match self.send(Method::DELETE, path, None, lagging).await {
            Ok(_) => applied(id),
            // Gone already: the plan's goal holds.
            Err(e) if google_error(&e).is_some_and(|g| g.is_not_found()) => applied(id),
            Err(e) => failed(&e),
        }
    }

    // ----- groups ---------------------------------------------------------------------

    async fn create_group(&self, c: &Change) -> ChangeResult {
        let name = c.key().into_owned();
        let Some(email) = group_email(&name, &self.conn.app.domain) else {
            return fail(format!(
                "group {name}: no email address can be made of its name (Google groups need one)"
            ));
        };
        let mut body = json!({"email": email, "name": name});
        if let Some(d) = c
            .after
            .as_ref()
            .and_then(|a| a.get("description"))
            .and_then(text)
        {
            body["description"] = Value::String(d);
        }
        let path = format!("{DIRECTORY}/groups");
        match self.send(Method::POST, &path, Some(&body), false).await {
            Ok(r) => match r.get("id").and_then(Value::as_str) {
                Some(id) => applied(id),
                None => fail(format!("POST {path}: the created group has no id")),
            },
            Err(e) if google_error(&e).is_some_and(|g| g.is_duplicate()) => {
                // An interrupted earlier run, or made by hand: adopt it if it is ours by name.
                let got = self
                    .conn
                    .client
                    .get(&format!("{path}/{}", segment(&email)), &[])
                    .await;
                match got {
                    Ok(g) if g.get("name").and_then(Value::as_str) == Some(name.as_str()) => {
                        match g.get("id").and_then(Value::as_str) {
                            Some(id) => applied(id),
                            None => failed(&e),
                        }
                    }
                    Ok(_) => fail(format!(
                        "group {name}: the address {email} belongs to another group (or a user or alias); rename one of them"
                    )),
                    Err(_) => failed(&e),
                }
            }
            Err(e) => failed(&e),
        }
    }

    async fn update_group(&self, c: &Change) -> ChangeResult {
        let id = match self.run.group_id(&c.key(), c.id.as_ref()) {
            Ok(id) => id,
            Err(r) => return r,
        };
        let mut body = Map::new();
        for (k, v) in c.after.iter().flatten() {
            match k.as_str() {
                "description" => {
                    body.insert(
                        "description".into(),
                        Value::String(text(v).unwrap_or_default()),
                    );
                }
                "name" => {
                    body.insert("name".into(), v.clone());
                }
                other => {
                    return fail(format!(
                        "group {}: roster cannot change {other} of a Google group",
                        c.key()
                    ));
                }
            }
        }
        if body.is_empty() {
            return applied(id);
        }
        let path = format!("{DIRECTORY}/groups/{}", segment(&id));
        let lagging = self.run.created_in_run(&id);
        match self
            .send(Method::PATCH, &path, Some(&Value::Object(body)), lagging)
            .await
        {
            Ok(_) => applied(id),
            Err(e) => failed(&e),
        }
    }

    // ----- members --------------------------------------------------------------------

    /// The request of membership change `i` and the member's id.
    fn member_request(&self, i: usize) -> Result<(BatchItem, String), ChangeResult> {
        let (gid, mid) = self.run.membership_ids(i)?;
        let c = self.change(i);
        if c.action == Action::Remove {
            let path = format!(
                "{DIRECTORY}/groups/{}/members/{}",
                segment(&gid),
                segment(&mid)
            );
            return Ok(((Method::DELETE, path, None), mid));
        }
        let mut body = json!({"id": mid, "role": "MEMBER"});
        match c.membership().map(|k| &k.member) {
            Some(Member::User(u)) => {
                body["email"] = Value::String(self.run.login_of(u));
            }
            Some(Member::Group(g)) => {
                let email = self
                    .group_emails
                    .get(&mid)
                    .cloned()
                    .or_else(|| group_email(g, &self.conn.app.domain));
                if let Some(e) = email {
                    body["email"] = Value::String(e);
                }
            }
            None => {}
        }
        let path = format!("{DIRECTORY}/groups/{}/members", segment(&gid));
        Ok(((Method::POST, path, Some(body)), mid))
    }

    /// A membership change's outcome from the API's answer: adding a member who is
    /// there already, removing one who is gone, count as done.
    fn member_outcome(
        add: bool,
        mid: String,
        r: Result<Value, &GoogleError>,
    ) -> Option<ChangeResult> {
        match r {
            Ok(_) => Some(applied(mid)),
            Err(g) if add && g.is_duplicate() => Some(applied(mid)),
            Err(g) if !add && g.is_not_found() => Some(applied(mid)),
            Err(_) => None,
        }
    }

    async fn member(&self, i: usize) -> ChangeResult {
        let ((method, path, body), mid) = match self.member_request(i) {
            Ok(r) => r,
            Err(r) => return r,
        };
        let (gid, _) = self.run.membership_ids(i).unwrap_or_default();
        let lagging = self.run.created_in_run(&gid) || self.run.created_in_run(&mid);
        let add = method == Method::POST;
        match self.send(method, &path, body.as_ref(), lagging).await {
            Ok(v) => applied_or(Self::member_outcome(add, mid, Ok(v))),
            Err(e) => match google_error(&e).and_then(|g| Self::member_outcome(add, mid, Err(g))) {
                Some(r) => r,
                None => failed(&e),
            },
        }
    }

    /// Membership changes in batches of [`BATCH_SIZE`] through the batch endpoint; an
    /// item refused for a passing reason (quota, 5xx, 404 of an object just created,
    /// unanswered) is sent again alone, with the client's retries; a batch the server
    /// refuses as a whole (no batch endpoint) is sent one by one.
    async fn members_batched(&self, idx: &[usize]) {
        for chunk in idx.chunks(BATCH_SIZE) {
            let mut items = Vec::new();
            let mut ready = Vec::new();
            for &i in chunk {
                match self.member_request(i) {
                    Ok((item, mid)) => {
                        items.push(item);
                        ready.push((i, mid));
                    }
                    Err(r) => self.report(i, r),
                }
            }
            if ready.is_empty() {
                continue;
            }
            let mut again = Vec::new();
            match self.conn.client.batch(&items).await {
                Ok(results) => {
                    for (((i, mid), r), (method, _, _)) in
                        ready.into_iter().zip(results).zip(&items)
                    {
                        let add = *method == Method::POST;
                        match r {
                            Ok(v) => {
                                self.report(i, applied_or(Self::member_outcome(add, mid, Ok(v))))
                            }
                            Err(g) => match Self::member_outcome(add, mid, Err(&g)) {
                                Some(done) => self.report(i, done),
                                None if g.is_quota()
                                    || g.status >= 500
                                    || g.status == 0
                                    || g.is_not_found() =>
                                {
                                    again.push(i)
                                }
                                None => self.report(i, fail(g.to_string())),
                            },
                        }
                    }
                }
                Err(e) => {
                    tracing::debug!(app = %self.conn.app.name, error = %format!("{e:#}"), "the batch failed; sending its requests one by one");
                    again.extend(ready.into_iter().map(|(i, _)| i));
                }
            }
            let mut stream = futures::stream::iter(again)
                .map(|i| async move { (i, self.member(i).await) })
                .buffer_unordered(self.conn.client.policy.concurrency.max(1));
            while let Some((i, r)) = stream.next().await {
                self.report(i, r);
            }
            self.run.batch_done();
        }
    }

    // ----- users ----------------------------------------------------------------------

    /// The password fields of a user to create or whose password is set: the
    /// repository's secret hashed, or a random one to change at the next login.
    fn password_fields(&self, c: &Change, body: &mut Value) -> Result<()> {
        let user = self.users.get(c.key().as_ref()).copied();
        let reference = user.and_then(|u| u.password.as_ref()).filter(|_| {
            self.conn.app.switches.password_sync
                || c.after.as_ref().is_some_and(|a| a.contains_key("password"))
        });
        let (clear, change_next) = match reference {
            Some(r) => {
                let secret = crate::secret::resolve(r, &self.conn.repo_root)
                    .map_err(|e| anyhow!("user {}: password ({r}): {e}", c.key()))?;
                (secret.expose().to_string(), false)
            }
            None => (crate::apps::kit::password::random(), true),
        };
        let (hash, function) = hashed_password(&clear);
        body["password"] = Value::String(hash);
        body["hashFunction"] = Value::String(function.into());
        body["changePasswordAtNextLogin"] = Value::Bool(change_next);
        Ok(())
    }

    fn mapped_path(&self, key: &str) -> Result<FieldPath, String> {
        let f = self.conn.mapping.field(key).ok_or_else(|| {
            format!("`{key}` is not an attribute of this app's mapping, so roster has nowhere to write it")
        })?;
        FieldPath::parse(&f.target)
    }

    /// The Directory API User to insert for change `c`.
    fn new_user(&self, c: &Change) -> Result<Value> {
        let key = c.key().into_owned();
        let user = self.users.get(key.as_str()).copied();
        let after = c.after.clone().unwrap_or_default();
        let login = after
            .get("login")
            .and_then(text)
            .or_else(|| user.map(|u| self.conn.mapping.login_of(u)))
            .ok_or_else(|| anyhow!("user {key}: no primary email to create it with"))?;
        let mut body = json!({
            "primaryEmail": login,
            "suspended": after.get("enabled").and_then(Value::as_bool).map(|e| !e).unwrap_or(false),
        });
        if let Some(ou) = &self.conn.app.org_unit {
            body["orgUnitPath"] = Value::String(ou.clone());
        }
        fields::set_anchor(&mut body, &key);
        let mut profile: BTreeMap<String, Value> = after;
        if c.after.is_none()
            && let Some(u) = user
        {
            for f in &self.conn.mapping.fields {
                if let Some(v) = f.value(u) {
                    profile.insert(f.key.clone(), Value::String(v));
                }
            }
        }
        for (k, v) in &profile {
            match k.as_str() {
                "login" | "enabled" | "password" | "username" | "immutable_id" => {}
                key => {
                    let path = self
                        .mapped_path(key)
                        .map_err(|e| anyhow!("user {}: {e}", c.key()))?;
                    if let Some(v) = text(v) {
                        path.write(&mut body, Some(&v));
                    }
                }
            }
        }
        // Google requires both names: the username stands in for a missing one.
        for member in ["givenName", "familyName"] {
            if body.pointer(&format!("/name/{member}")).is_none() {
                FieldPath::Member("name".into(), member.into()).write(&mut body, Some(&key));
            }
        }
        self.password_fields(c, &mut body)?;
        Ok(body)
    }

    async fn create_user(&self, c: &Change) -> ChangeResult {
        let body = match self.new_user(c) {
            Ok(b) => b,
            Err(e) => return failed(&e),
        };
        let path = format!("{DIRECTORY}/users");
        match self.send(Method::POST, &path, Some(&body), false).await {
            Ok(r) => match r.get("id").and_then(Value::as_str) {
                Some(id) => applied(id),
                None => fail(format!("POST {path}: the created user has no id")),
            },
            Err(e) if google_error(&e).is_some_and(|g| g.is_duplicate()) => {
                // The account exists (an interrupted earlier run, or made by hand):
                // adopt it and make it match the repository.
                let email = body["primaryEmail"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string();
                let user_path = format!("{path}/{}", segment(&email));
                let id = match self.conn.client.get(&user_path, &[]).await {
                    Ok(u) => match u.get("id").and_then(Value::as_str) {
                        Some(id) => id.to_string(),
                        None => return failed(&e),
                    },
                    Err(_) => return failed(&e),
                };
                let mut patch = body.clone();
                if let Some(o) = patch.as_object_mut() {
                    for k in ["password", "hashFunction", "changePasswordAtNextLogin"] {
                        o.remove(k);
                    }
                }
                match self
                    .send(
                        Method::PATCH,
                        &format!("{path}/{}", segment(&id)),
                        Some(&patch),
                        false,
                    )
                    .await
                {
                    Ok(_) => applied(id),
                    Err(e) => failed(&e),
                }
            }
            Err(e) => failed(&e),
        }
    }

    /// Sets or clears a user's manager: the `relations` entry of type `manager` (the
    /// manager's email), the user's other relations kept.
    async fn set_manager(&self, c: &Change) -> ChangeResult {
        let id = match self.run.user_id(&c.key(), c.id.as_ref()) {
            Ok(id) => id,
            Err(r) => return r,
        };
        let email = match c.manager() {
            Some(m) => {
                if let Err(r) = self.run.user_id(m, None) {
                    return r;
                }
                Some(self.run.login_of(m))
            }
            None => None,
        };
        let path = format!("{DIRECTORY}/users/{}", segment(&id));
        let lagging = self.run.created_in_run(&id);
        let live = match self
            .conn
            .client
            .send(
                Method::GET,
                &path,
                &[("projection", "full".into())],
                None,
                lagging,
            )
            .await
        {
            Ok(u) => u,
            Err(e) => return failed(&e),
        };
        let mut relations: Vec<Value> = live
            .get("relations")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        relations.retain(|r| r.get("type").and_then(Value::as_str) != Some("manager"));
        if let Some(e) = email {
            relations.push(json!({"type": "manager", "value": e}));
        }
        let body = json!({ "relations": relations });
        match self.send(Method::PATCH, &path, Some(&body), lagging).await {
            Ok(_) => applied(id),
            Err(e) => failed(&e),
        }
    }

    async fn update_user(&self, c: &Change) -> ChangeResult {
        let id = match self.run.user_id(&c.key(), c.id.as_ref()) {
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
        let mut body = Map::new();
        // (path, value) edits of members that must be merged into the live resource.
        let mut edits: Vec<(FieldPath, Option<String>)> = Vec::new();
        let mut anchor: Option<String> = None;
        for (k, v) in &after {
            match k.as_str() {
                "login" => match text(v) {
                    Some(l) => {
                        body.insert("primaryEmail".into(), Value::String(l));
                    }
                    None => {
                        return fail(format!(
                            "user {}: an empty primary email cannot be written",
                            c.key()
                        ));
                    }
                },
                "enabled" => match v.as_bool() {
                    Some(b) => {
                        body.insert("suspended".into(), Value::Bool(!b));
                    }
                    None => {
                        return fail(format!(
                            "user {}: `enabled` must be true or false, not {v}",
                            c.key()
                        ));
                    }
                },
                "username" => anchor = text(v),
                "password" => {
                    let mut pw = Value::Object(Map::new());
                    if let Err(e) = self.password_fields(c, &mut pw) {
                        return failed(&e);
                    }
                    if let Some(o) = pw.as_object() {
                        body.extend(o.clone());
                    }
                }
                "immutable_id" => {}
                key => match self.mapped_path(key) {
                    Ok(FieldPath::Top(t)) => {
                        body.insert(t, text(v).map_or(Value::Null, Value::String));
                    }
                    Ok(p) => edits.push((p, text(v))),
                    Err(why) => return fail(format!("user {}: {why}", c.key())),
                },
            }
        }
        let path = format!("{DIRECTORY}/users/{}", segment(&id));
        let lagging = self.run.created_in_run(&id);
        if !edits.is_empty() || anchor.is_some() {
            // Nested objects and arrays are written whole: edit them as they are live.
            let mut live = match self
                .conn
                .client
                .send(
                    Method::GET,
                    &path,
                    &[("projection", "full".into())],
                    None,
                    lagging,
                )
                .await
            {
                Ok(u) => u,
                Err(e) => return failed(&e),
            };
            let mut tops: Vec<String> = Vec::new();
            for (p, v) in &edits {
                p.write(&mut live, v.as_deref());
                if !tops.iter().any(|t| t == p.top()) {
                    tops.push(p.top().to_string());
                }
            }
            if let Some(a) = &anchor {
                fields::set_anchor(&mut live, a);
                tops.push("externalIds".into());
            }
            for t in tops {
                body.insert(t.clone(), live.get(&t).cloned().unwrap_or(Value::Null));
            }
        }
        if body.is_empty() {
            return applied(id);
        }
        match self
            .send(Method::PATCH, &path, Some(&Value::Object(body)), lagging)
            .await
        {
            Ok(_) => applied(id),
            Err(e) => failed(&e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_go_as_sha1_hex() {
        let (h, f) = hashed_password("correct horse");
        assert_eq!(f, "SHA-1");
        assert_eq!(h.len(), 40);
        assert_eq!(
            hashed_password("abc").0,
            "a9993e364706816aba3e25717850c26c9cd0d89d"
        );
    }

    #[test]
    fn group_emails_are_made_of_names() {
        assert_eq!(
            group_email("Sales", "Example.com").as_deref(),
            Some("sales@example.com")
        );
        assert_eq!(
            group_email("R&D — Équipe 1", "example.com").as_deref(),
            Some("r-d-equipe-1@example.com")
        );
        assert_eq!(group_email("??", "example.com"), None);
    }
}
