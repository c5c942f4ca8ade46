//! The last line of defence before a write: a change the app's own settings forbid is
//! refused whatever plan it came from. The planner never produces such a change, and
//! verified apply refuses a saved plan that holds one; this check stands even if both
//! were wrong, so that no plan file, bug or library caller can make a connector delete a
//! break-glass admin that `ignore` protects, write outside the management scope, or do
//! what a switch turned off.
//!
//! Pure: the app's settings, the repository, the observed state and the change in, a
//! reason out.

use std::collections::{BTreeSet, HashMap};

use globset::{GlobBuilder, GlobSet, GlobSetBuilder};

use crate::desired::{App, DesiredState, User};
use crate::observed::{ObservedApp, ObservedUser};
use crate::plan::planner::UserScope;
use crate::plan::{Action, Change, Member, ObjectKind, Target};

/// The rules of one app, prepared once per apply.
pub struct Guard<'a> {
    app: &'a App,
    desired: &'a DesiredState,
    ignore: GlobSet,
    /// Which live users the app manages (office365: domains, guests).
    scope: UserScope,
    /// Users created by this apply (their licenses come with the create).
    created_users: BTreeSet<&'a str>,
    /// Repository users by username, live users by id and by lower-cased login
    /// (lookup only).
    users: HashMap<&'a str, &'a User>,
    live_by_id: HashMap<&'a str, &'a ObservedUser>,
    live_by_login: HashMap<String, &'a ObservedUser>,
}

impl<'a> Guard<'a> {
    /// An invalid `ignore` pattern refuses everything (the planner reports it first).
    pub fn new(
        app: &'a App,
        desired: &'a DesiredState,
        observed: &'a ObservedApp,
        changes: &'a [Change],
    ) -> Guard<'a> {
        let mut b = GlobSetBuilder::new();
        let mut valid = true;
        for p in app.ignore() {
            match GlobBuilder::new(p).case_insensitive(true).build() {
                Ok(g) => {
                    b.add(g);
                }
                Err(_) => valid = false,
            }
        }
        let ignore = match (valid, b.build()) {
            (true, Ok(set)) => set,
            // Matches everything: nothing is written while a pattern is broken.
            _ => GlobSetBuilder::new()
                .add(globset::Glob::new("**").expect("a valid glob"))
                .build()
                .expect("a valid glob set"),
        };
        let created_users = changes
            .iter()
            .filter_map(|c| match (&c.target, c.action) {
                (Target::User(k), Action::Create | Action::Restore) => Some(k.as_str()),
                _ => None,
            })
            .collect();
        Guard {
            app,
            scope: UserScope::of(app, observed),
            users: desired
                .users
                .iter()
                .map(|u| (u.username.as_str(), u))
                .collect(),
            live_by_id: observed.users.iter().map(|u| (u.id.as_str(), u)).collect(),
            live_by_login: observed
                .users
                .iter()
                .rev()
                .map(|u| (u.login.to_lowercase(), u))
                .collect(),
            desired,
            ignore,
            created_users,
        }
    }

    /// Why `c` must not be written, or `None` when the app's settings allow it.
    pub fn refusal(&self, c: &Change) -> Option<String> {
        self.switch_refusal(c)
            .or_else(|| self.ignore_refusal(c))
            .or_else(|| self.scope_refusal(c))
            .map(|why| format!("refused: {why}; roster does not write it"))
    }

    fn switch_refusal(&self, c: &Change) -> Option<String> {
        let s = self.app.switches();
        let (on, name) = match (c.object(), c.action) {
            (ObjectKind::User, Action::Create | Action::Restore) => {
                (s.create_users, "create_users")
            }
            (ObjectKind::Manager, _) => {
                let with_create = self.created_users.contains(c.key().as_ref());
                (
                    s.update_users || (with_create && s.create_users),
                    "update_users",
                )
            }
            (ObjectKind::User, Action::Update) => (s.update_users, "update_users"),
            (ObjectKind::User, Action::Enable | Action::Disable) => {
                (s.enable_disable_users, "enable_disable_users")
            }
            (ObjectKind::User, Action::Delete) => (s.delete_users, "delete_users"),
            (ObjectKind::Group, Action::Create) => (s.create_groups, "create_groups"),
            (ObjectKind::Group, Action::Delete) => (s.delete_groups, "delete_groups"),
            (ObjectKind::Membership, _) => (s.sync_memberships, "sync_memberships"),
            (ObjectKind::License, _) => {
                let with_create = matches!(&c.target, Target::License { user, .. }
                    if self.created_users.contains(user.as_str()));
                (
                    s.update_users || (with_create && s.create_users),
                    "update_users",
                )
            }
            _ => (true, ""),
        };
        (!on).then(|| {
            format!(
                "{} {} {}: switch {name} is off for app {}",
                c.object(),
                c.action,
                c.key(),
                self.app.name()
            )
        })
    }

    /// Every name a user key goes by: the key, the repository user's login and email,
    /// and the login of the live user the change names.
    fn user_names(&self, key: &str, id: Option<&str>) -> Vec<String> {
        let mut names = vec![key.to_string()];
        if let Some(u) = self.users.get(key) {
            names.push(crate::plan::planner::login_for(self.app, u));
            names.push(u.email.trim().to_string());
        }
        let live = id
            .and_then(|id| self.live_by_id.get(id))
            .or_else(|| self.live_by_login.get(&key.to_lowercase()))
            .copied();
        if let Some(u) = live {
            names.push(u.login.clone());
        }
        names
    }

    fn ignore_refusal(&self, c: &Change) -> Option<String> {
        let ignored = |n: &str| self.ignore.is_match(n);
        let hit = match &c.target {
            Target::User(k) | Target::License { user: k, .. } | Target::Manager { user: k } => self
                .user_names(k, c.id.as_deref())
                .into_iter()
                .find(|n| ignored(n))
                .map(|n| format!("user {n}")),
            Target::Group(g) => ignored(g).then(|| format!("group {g}")),
            Target::Membership(k) => {
                if ignored(&k.group) {
                    Some(format!("group {}", k.group))
                } else {
                    match &k.member {
                        Member::Group(g) => ignored(g).then(|| format!("group {g}")),
                        Member::User(u) => self
                            .user_names(u, c.id.as_deref())
                            .into_iter()
                            .find(|n| ignored(n))
                            .map(|n| format!("user {n}")),
                    }
                }
            }
        };
        hit.map(|what| {
            format!(
                "{what} matches an `ignore` pattern of app {}",
                self.app.name()
            )
        })
    }

    /// office365 manages the users of its authorized domains and the groups the
    /// repository defines; the other connectors' scope is what their reader returns
    /// (and AD checks each DN against its OUs as it writes).
    fn scope_refusal(&self, c: &Change) -> Option<String> {
        if !matches!(self.app, App::Office365(_)) {
            return None;
        }
        let group_outside = |g: &str| {
            self.desired.group(g).is_none().then(|| {
                format!(
                    "group {g} is not defined in the repository, so it is outside the scope of app {}",
                    self.app.name()
                )
            })
        };
        let live_user = |k: &str, id: Option<&str>| {
            id.and_then(|id| self.live_by_id.get(id))
                .or_else(|| self.live_by_login.get(&k.to_lowercase()))
                .or_else(|| {
                    self.users.get(k).and_then(|u| {
                        self.live_by_login
                            .get(&crate::plan::planner::login_for(self.app, u).to_lowercase())
                    })
                })
                .copied()
        };
        // A live user outside the scope (another domain, the initial domain, a guest the
        // app does not manage) is never written, nor added to or removed from a group.
        let live_outside = |k: &str, id: Option<&str>| {
            live_user(k, id).filter(|u| !self.scope.holds(u)).map(|u| {
                format!(
                    "user {} is outside the scope of app {}",
                    u.login,
                    self.app.name()
                )
            })
        };
        if let Target::User(k) | Target::License { user: k, .. } = &c.target
            && live_user(k, c.id.as_deref()).is_some()
        {
            // The live object decides; the domain rule below is for creates.
            return live_outside(k, c.id.as_deref());
        }
        if let Target::Membership(m) = &c.target
            && let Member::User(k) = &m.member
            && let Some(why) = live_outside(k, c.id.as_deref())
        {
            return Some(why);
        }
        match &c.target {
            Target::User(k) | Target::License { user: k, .. } | Target::Manager { user: k } => {
                let login = self
                    .user_names(k, c.id.as_deref())
                    .into_iter()
                    .rev()
                    .find(|n| n.contains('@'))?;
                let domain = login.rsplit_once('@').map(|(_, d)| d.to_lowercase())?;
                (!self.scope.domains.contains(&domain)).then(|| {
                    format!(
                        "user {login} is outside the authorized domains of app {}",
                        self.app.name()
                    )
                })
            }
            Target::Group(g) => group_outside(g),
            Target::Membership(k) => group_outside(&k.group),
        }
    }
}
