//! Applying a plan to observed state in memory, the way a connector would apply it to
//! a live app. Tests use it to check that a plan converges (plan → apply → plan is
//! empty) without a server; it follows the same conventions connectors follow.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::desired::{App, DesiredState};
use crate::observed::{ObservedApp, ObservedGroup, ObservedUser};
use crate::plan::planner::login_for;
use crate::plan::{Action, Change, Member, MembershipKey, ObjectKind, Plan};

/// Apply every change of `plan` to `observed` (by app name). Changes for apps that are
/// not in `observed` and changes whose object cannot be found are ignored, like a
/// connector that finds nothing to do. New objects get ids of the form `sim-user-N` /
/// `sim-group-N`.
pub fn apply_in_memory(
    observed: &mut BTreeMap<String, ObservedApp>,
    desired: &DesiredState,
    plan: &Plan,
) {
    for change in &plan.changes {
        let Some(obs) = observed.get_mut(&change.app) else {
            continue;
        };
        let app = desired.app(&change.app);
        apply_one(obs, app, desired, change);
    }
    for obs in observed.values_mut() {
        obs.users
            .sort_by(|a, b| (a.login.to_lowercase(), &a.id).cmp(&(b.login.to_lowercase(), &b.id)));
        obs.groups
            .sort_by(|a, b| (&a.name, &a.id).cmp(&(&b.name, &b.id)));
    }
}

fn text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) if !s.trim().is_empty() => Some(s.clone()),
        _ => None,
    }
}

fn fresh_id(obs: &ObservedApp, prefix: &str) -> String {
    let mut n = obs.users.len() + obs.groups.len();
    loop {
        let id = format!("sim-{prefix}-{n}");
        if !obs.users.iter().any(|u| u.id == id) && !obs.groups.iter().any(|g| g.id == id) {
            return id;
        }
        n += 1;
    }
}

/// The live user a change is about: by id, else by the desired user's login, else by
/// the key taken as a login.
fn find_user(
    obs: &ObservedApp,
    app: Option<&App>,
    desired: &DesiredState,
    id: Option<&str>,
    username: &str,
) -> Option<usize> {
    if let Some(id) = id
        && let Some(i) = obs.users.iter().position(|u| u.id == id)
    {
        return Some(i);
    }
    let login = match (app, desired.user(username)) {
        (Some(app), Some(u)) => login_for(app, u),
        _ => username.to_string(),
    };
    obs.users
        .iter()
        .position(|u| u.login.to_lowercase() == login.to_lowercase())
}

fn remove_member_everywhere(obs: &mut ObservedApp, id: &str) {
    for g in &mut obs.groups {
        g.member_ids.remove(id);
    }
}

fn apply_one(obs: &mut ObservedApp, app: Option<&App>, desired: &DesiredState, c: &Change) {
    match (c.object(), c.action) {
        (ObjectKind::User, Action::Create) => {
            let Some(after) = &c.after else { return };
            let login = after
                .get("login")
                .and_then(text)
                .unwrap_or_else(|| c.key().into_owned());
            let mut attributes = crate::observed::Attributes::new();
            for (k, v) in after {
                if matches!(k.as_str(), "login" | "enabled" | "password") {
                    continue;
                }
                if let Some(s) = text(v) {
                    attributes.insert(k.clone(), s);
                }
            }
            let username = match app {
                None => None,
                Some(App::Office365(_)) => crate::mapping::mail_nickname(&c.key()),
                Some(_) => Some(c.key().into_owned()),
            };
            let id = fresh_id(obs, "user");
            obs.users.push(ObservedUser {
                id,
                login,
                username,
                enabled: after
                    .get("enabled")
                    .and_then(Value::as_bool)
                    .unwrap_or(true),
                attributes,
                ..Default::default()
            });
        }
        (ObjectKind::User, Action::Update | Action::Restore) => {
            if c.action == Action::Restore
                && let Some(d) = obs
                    .deleted_users
                    .iter()
                    .position(|u| Some(&u.id) == c.id.as_ref())
            {
                let user = obs.deleted_users.remove(d);
                obs.users.push(user);
            }
            let Some(i) = find_user(obs, app, desired, c.id.as_deref(), &c.key()) else {
                return;
            };
            let Some(after) = &c.after else { return };
            let user = &mut obs.users[i];
            for (k, v) in after {
                if k == "login" {
                    user.login = text(v).unwrap_or_default();
                    continue;
                }
                if k == "username" {
                    user.username = match app {
                        Some(App::Office365(_)) => {
                            text(v).and_then(|v| crate::mapping::mail_nickname(&v))
                        }
                        _ => text(v),
                    };
                    continue;
                }
                if k == "enabled" {
                    user.enabled = v.as_bool().unwrap_or(user.enabled);
                    continue;
                }
                match text(v) {
                    Some(s) => {
                        user.attributes.insert(k.clone(), s);
                    }
                    None => {
                        user.attributes.remove(k);
                    }
                }
            }
        }
        (ObjectKind::Manager, _) => {
            let manager = c
                .manager()
                .and_then(|m| find_user(obs, app, desired, None, m))
                .map(|i| obs.users[i].id.clone());
            if let Some(i) = find_user(obs, app, desired, c.id.as_deref(), &c.key()) {
                match manager {
                    Some(id) => obs.users[i].attributes.insert("manager".into(), id),
                    None => obs.users[i].attributes.remove("manager"),
                };
            }
        }
        (ObjectKind::User, Action::Enable) | (ObjectKind::User, Action::Disable) => {
            if let Some(i) = find_user(obs, app, desired, c.id.as_deref(), &c.key()) {
                obs.users[i].enabled = c.action == Action::Enable;
            }
        }
        (ObjectKind::User, Action::Delete) => {
            if let Some(i) = find_user(obs, app, desired, c.id.as_deref(), &c.key()) {
                let user = obs.users.remove(i);
                for sku in &user.licenses {
                    if let Some(s) = obs.skus.iter_mut().find(|s| &s.part_number == sku) {
                        s.consumed = s.consumed.saturating_sub(1);
                    }
                }
                remove_member_everywhere(obs, &user.id);
            }
        }
        (ObjectKind::License, action) => {
            let Some(sku) = c.sku() else { return };
            let Some(i) = find_user(obs, app, desired, c.id.as_deref(), &c.key()) else {
                return;
            };
            let changed = if action == Action::Add {
                obs.users[i].licenses.insert(sku.to_string())
            } else {
                obs.users[i].licenses.remove(sku)
            };
            if changed && let Some(s) = obs.skus.iter_mut().find(|s| s.part_number == sku) {
                if action == Action::Add {
                    s.consumed = s.consumed.saturating_add(1);
                } else {
                    s.consumed = s.consumed.saturating_sub(1);
                }
            }
        }
        (ObjectKind::Group, Action::Create) => {
            let after = c.after.clone().unwrap_or_default();
            let id = fresh_id(obs, "group");
            obs.groups.push(ObservedGroup {
                id,
                name: after
                    .get("name")
                    .and_then(text)
                    .unwrap_or_else(|| c.key().into_owned()),
                description: after.get("description").and_then(text),
                kind: after
                    .get("kind")
                    .and_then(text)
                    .unwrap_or_else(|| "security".to_string()),
                ..Default::default()
            });
        }
        (ObjectKind::Group, Action::Restore) => {
            if let Some(d) = obs
                .deleted_groups
                .iter()
                .position(|g| Some(&g.id) == c.id.as_ref())
            {
                let mut g = obs.deleted_groups.remove(d);
                if let Some(after) = &c.after
                    && let Some(d) = after.get("description")
                {
                    g.description = text(d);
                }
                obs.groups.push(g);
            }
        }
        (ObjectKind::Group, Action::Update) => {
            let Some(after) = &c.after else { return };
            if let Some(g) = find_group(obs, c.id.as_deref(), &c.key())
                && let Some(d) = after.get("description")
            {
                g.description = text(d);
            }
        }
        (ObjectKind::Group, Action::Delete) => {
            let pos = match &c.id {
                Some(id) => obs.groups.iter().position(|g| &g.id == id),
                None => obs.groups.iter().position(|g| g.name == c.key()),
            };
            if let Some(i) = pos {
                let g = obs.groups.remove(i);
                remove_member_everywhere(obs, &g.id);
            }
        }
        (ObjectKind::Membership, action) => {
            let Some(MembershipKey { group, member }) = c.membership() else {
                return;
            };
            let member_id = match &c.id {
                Some(id) => Some(id.clone()),
                None => match &member {
                    Member::Group(name) => obs
                        .groups
                        .iter()
                        .find(|g| &g.name == name)
                        .map(|g| g.id.clone()),
                    Member::User(member) => {
                        find_user(obs, app, desired, None, member).map(|i| obs.users[i].id.clone())
                    }
                },
            };
            let Some(member_id) = member_id else { return };
            if let Some(g) = find_group(obs, None, group) {
                if action == Action::Add {
                    g.member_ids.insert(member_id.into());
                } else {
                    g.member_ids.remove(member_id.as_str());
                }
            }
        }
        _ => {}
    }
}

fn find_group<'o>(
    obs: &'o mut ObservedApp,
    id: Option<&str>,
    name: &str,
) -> Option<&'o mut ObservedGroup> {
    let pos = id
        .and_then(|id| obs.groups.iter().position(|g| g.id == id))
        .or_else(|| obs.groups.iter().position(|g| g.name == name));
    pos.map(move |i| &mut obs.groups[i])
}
