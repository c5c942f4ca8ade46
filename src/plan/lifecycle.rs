//! Joiners and leavers in the planner: the desired state as one app sees it on the
//! plan's day. Pure (the day is `PlanInput.today`).
//!
//! The view changes only users with a lifecycle stage other than active
//! ([`crate::desired::lifecycle`]):
//! - not yet provisioned, or deleted: left out, so a live account is deprovisioned as
//!   the app's switches say (deleted with `delete_users`, else disabled);
//! - provisioned early, or a leaver: `enabled: false`;
//! - a leaver whose access is removed: no licences, and every group membership turned
//!   into an entry that expired on the removal day (so it is removed even from an
//!   additive group); the user stays provisioned through a repository-only group bound
//!   to the app, so the account itself stays until its deletion day.
//!
//! [`reason_for`] gives the changes of those users their lifecycle reason.

use std::collections::{BTreeMap, BTreeSet};

use crate::desired::lifecycle::{Stage, stage};
use crate::desired::{
    App, DesiredState, Group, GroupKind, MemberName, MemberRef, Membership, Policy, direct_members,
    parse_member,
};
use crate::plan::{Change, Member, Target};

/// The name of the repository-only group that keeps access-removed leavers provisioned.
const KEEP_GROUP: &str = "roster:lifecycle:leavers";

/// The desired state of one app on one day, and the stage of each user it changed.
pub struct View {
    pub desired: DesiredState,
    /// username and lower-cased login → stage, for users that are not simply active.
    pub stages: BTreeMap<String, Stage>,
}

/// The view of `desired` for `app` on `today`; `None` when no user has a stage other
/// than active (the desired state is used as it is).
pub fn view(desired: &DesiredState, app: &App, today: time::Date) -> Option<View> {
    let settings = app.lifecycle();
    let mut stages: BTreeMap<String, Stage> = BTreeMap::new();
    for u in &desired.users {
        if u.start_date.is_none() && u.end_date.is_none() {
            continue;
        }
        let st = stage(u, &settings, today);
        if !st.is_active() {
            stages.insert(u.username.clone(), st);
            stages
                .entry(crate::plan::planner::login_for(app, u).to_lowercase())
                .or_insert(st);
        }
    }
    if stages.is_empty() {
        return None;
    }
    let mut d = desired.clone();
    let gone: BTreeSet<String> = d
        .users
        .iter()
        .filter(|u| stages.get(&u.username).is_some_and(|s| !s.provisioned()))
        .map(|u| u.username.clone())
        .collect();
    // Access-removed leavers who are provisioned to this app today.
    let bound = bound_users(desired, app, &today.to_string());
    let no_access: BTreeMap<String, String> = d
        .users
        .iter()
        .filter_map(|u| match stages.get(&u.username) {
            Some(
                st @ Stage::Leaver {
                    access_removed_on, ..
                },
            ) if st.access_removed() && bound.contains(&u.username) => {
                Some((u.username.clone(), access_removed_on.to_string()))
            }
            _ => None,
        })
        .collect();
    d.users.retain(|u| !gone.contains(&u.username));
    for u in &mut d.users {
        if let Some(st) = stages.get(&u.username) {
            if st.forced_disabled() {
                u.enabled = false;
            }
            if st.access_removed() {
                u.licenses.clear();
            }
        }
    }
    let mut expired = Vec::new();
    for g in &mut d.groups {
        g.members.retain(|m| match no_access.get(m.as_str()) {
            Some(on) => {
                expired.push(Membership {
                    group: g.name.clone(),
                    users: vec![m.clone()],
                    expires: Some(on.clone()),
                });
                false
            }
            None => true,
        });
    }
    for m in &mut d.memberships {
        let group = m.group.clone();
        m.users.retain(|u| match no_access.get(u.as_str()) {
            Some(on) => {
                expired.push(Membership {
                    group: group.clone(),
                    users: vec![u.clone()],
                    expires: Some(on.clone()),
                });
                false
            }
            None => true,
        });
    }
    d.memberships.retain(|m| !m.users.is_empty());
    d.memberships.extend(expired);
    if !no_access.is_empty() {
        d.groups.push(Group {
            name: KEEP_GROUP.to_string(),
            description: None,
            members: no_access
                .keys()
                .map(|k| MemberName::from(k.as_str()))
                .collect(),
            kind: Some(GroupKind::Repository),
            membership: None,
        });
        d.policies.push(Policy {
            name: KEEP_GROUP.to_string(),
            app: app.name().to_string(),
            groups: vec![KEEP_GROUP.to_string()],
        });
    }
    Some(View { desired: d, stages })
}

/// The usernames the app's policies bind on `today` (transitive, expiry applied).
fn bound_users(desired: &DesiredState, app: &App, today: &str) -> BTreeSet<String> {
    let direct = direct_members(desired, today);
    let mut seen: BTreeSet<&str> = BTreeSet::new();
    let mut stack: Vec<&str> = desired
        .policies
        .iter()
        .filter(|p| p.app == app.name())
        .flat_map(|p| p.groups.iter().map(String::as_str))
        .collect();
    let mut users = BTreeSet::new();
    while let Some(g) = stack.pop() {
        if !seen.insert(g) {
            continue;
        }
        for m in direct.get(g).into_iter().flatten() {
            match parse_member(m) {
                MemberRef::User(u) => {
                    users.insert(u.to_string());
                }
                MemberRef::Group(c) => stack.push(c),
            }
        }
    }
    users
}

/// The lifecycle reason of a change about a user with a stage, if it has one.
pub fn reason_for(stages: &BTreeMap<String, Stage>, change: &Change) -> Option<String> {
    let user = match &change.target {
        Target::User(u) | Target::License { user: u, .. } | Target::Manager { user: u } => u,
        Target::Membership(k) => match &k.member {
            Member::User(u) => u,
            Member::Group(_) => return None,
        },
        Target::Group(_) => return None,
    };
    let st = stages
        .get(user)
        .or_else(|| stages.get(&user.to_lowercase()))?;
    Some(st.reason())
}

/// Give the changes of users with a lifecycle stage their lifecycle reason.
pub fn annotate(stages: &BTreeMap<String, Stage>, changes: &mut [Change]) {
    for c in changes {
        if let Some(r) = reason_for(stages, c) {
            c.reason = r;
        }
    }
}
