//! Load-time checks of what attribute mapping adds to the repository: managers and
//! previous usernames that refer to users, logins that templates would make collide
//! or leave empty, and templated values over the target's documented length, each at
//! its position (the user's, naming the app and the target).
//!
//! Syntax, unknown targets and unknown template fields are reported by `convert`,
//! where the template's own position is known.

use std::collections::{BTreeMap, HashMap};

use super::check::{diag, direct_refs, transitive_users};
use super::convert::suggest;
use super::{Diagnostic, Severity, SourceMap};
use crate::desired::model::*;
use crate::mapping::{Mapping, targets};

pub(super) fn check(state: &DesiredState, locs: &SourceMap, out: &mut Vec<Diagnostic>) {
    let usernames: HashMap<&str, usize> = state
        .users
        .iter()
        .enumerate()
        .map(|(i, u)| (u.username.as_str(), i))
        .collect();
    // Managers.
    for (u, l) in state.users.iter().zip(&locs.users) {
        if let Some(m) = &u.manager
            && !usernames.contains_key(m.as_str())
        {
            let hint = match suggest(m, state.users.iter().map(|u| u.username.as_str())) {
                Some(s) => format!(" (did you mean `{s}`?)"),
                None => String::new(),
            };
            out.push(diag(
                l.field("manager"),
                Severity::Error,
                format!(
                    "the manager of user `{}` is `{m}`, which is not a user of the repository{hint}",
                    u.username
                ),
            ));
        }
    }
    // Previous usernames: nobody's current one, and claimed once.
    let mut previous: HashMap<&str, &str> = HashMap::new();
    for (u, l) in state.users.iter().zip(&locs.users) {
        for (i, p) in u.previous_usernames.iter().enumerate() {
            let at = l
                .items
                .iter()
                .find(|(k, _)| *k == "previous_usernames")
                .and_then(|(_, ps)| ps.get(i))
                .map(|pos| super::Loc {
                    file: l.file.clone(),
                    line: pos.line(),
                    col: pos.col(),
                })
                .unwrap_or_else(|| l.field("previous_usernames"));
            if usernames.contains_key(p.as_str()) && p != &u.username {
                out.push(diag(
                    at,
                    Severity::Error,
                    format!(
                        "user `{}` lists `{p}` in `previous_usernames`, but `{p}` is another user's username: one account cannot belong to both",
                        u.username
                    ),
                ));
            } else if let Some(other) = previous.insert(p.as_str(), u.username.as_str())
                && other != u.username
            {
                out.push(diag(
                    at,
                    Severity::Error,
                    format!(
                        "users `{other}` and `{}` both list `{p}` in `previous_usernames`",
                        u.username
                    ),
                ));
            }
        }
    }
    // Templated values, for the users bound to each app.
    let mut direct = None;
    for app in &state.apps {
        let map = app.attribute_map();
        if map.values().all(Option::is_none) {
            continue;
        }
        let Ok(mapping) = Mapping::of(app) else {
            continue; // reported by convert
        };
        let direct = direct.get_or_insert_with(|| direct_refs(state));
        let mut bound: Vec<usize> = state
            .policies
            .iter()
            .filter(|p| p.app == app.name())
            .flat_map(|p| p.groups.iter())
            .flat_map(|g| transitive_users(direct, g))
            .filter_map(|u| usernames.get(u).copied())
            .collect();
        bound.sort_unstable();
        bound.dedup();
        let ty = app.type_name();
        let (login_target, _) = targets::login(ty);
        let login_templated = map.get(login_target).is_some_and(Option::is_some);
        let login_spec = targets::find(ty, login_target);
        let mut logins: BTreeMap<String, usize> = BTreeMap::new();
        for &i in &bound {
            let user = &state.users[i];
            let Some(l) = locs.users.get(i) else { continue };
            let at = l.field("username");
            if login_templated {
                let login = mapping.login_of(user);
                if login.is_empty() {
                    out.push(diag(
                        at.clone(),
                        Severity::Error,
                        format!(
                            "app `{}`: the login template `{}` gives user `{}` an empty {login_target}",
                            app.name(),
                            mapping.login.source(),
                            user.username
                        ),
                    ));
                } else if let Some(&j) = logins.get(&login.to_lowercase()) {
                    out.push(diag(
                        at.clone(),
                        Severity::Error,
                        format!(
                            "app `{}`: the login template `{}` gives users `{}` and `{}` the same {login_target} `{login}`",
                            app.name(),
                            mapping.login.source(),
                            state.users[j].username,
                            user.username
                        ),
                    ));
                } else {
                    logins.insert(login.to_lowercase(), i);
                }
                if let Some(max) = login_spec.and_then(|s| s.max_len)
                    && login.chars().count() > max
                {
                    out.push(diag(
                        at.clone(),
                        Severity::Error,
                        format!(
                            "app `{}`: {login_target} `{login}` of user `{}` (from `{}`) is {} characters; {ty} allows at most {max}",
                            app.name(),
                            user.username,
                            mapping.login.source(),
                            login.chars().count()
                        ),
                    ));
                }
            }
            for f in &mapping.fields {
                if !map.get(&f.target).is_some_and(Option::is_some) {
                    continue; // a default: checked by `limits`
                }
                let Some(max) = targets::find(ty, &f.target).and_then(|s| s.max_len) else {
                    continue;
                };
                if let Some(v) = f.value(user)
                    && v.chars().count() > max
                {
                    out.push(diag(
                        at.clone(),
                        Severity::Error,
                        format!(
                            "app `{}`: {} of user `{}` (from `{}`) is {} characters; {ty} allows at most {max}",
                            app.name(),
                            f.target,
                            user.username,
                            f.template.source(),
                            v.chars().count()
                        ),
                    ));
                }
            }
        }
    }
}
