//! The planner: a pure, deterministic function of (desired state, observed state,
//! today) → plan. No I/O, no clock, no hash-map order.
//!
//! It decides, per app, which users and groups the repository provisions there
//! (policies, transitive membership, authorized domains, `ignore`), which live objects
//! the app owns (the management scope), and the changes that make the second look like
//! the first, within what the app's provisioning switches allow. Hash maps appear only
//! as lookup indexes and are never iterated; every output list comes from sorted data.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt;

use globset::{GlobBuilder, GlobSet, GlobSetBuilder};
use serde_json::Value;

use crate::desired::{App, DesiredState, MemberRef, SecretRef, User, parse_member};
use crate::mapping::Mapping;
use crate::observed::{
    GroupRestriction, ObservedApp, ObservedGroup, ObservedIndex, ObservedIndexes, ObservedUser,
    Protection,
};
use crate::plan::{
    Action, Change, DeletionGuard, FORMAT_VERSION, Member, MembershipKey, ObjectKind, Plan,
    ReadScope, Skipped, Summary, Target, Warning,
};

/// Everything the planner needs; nothing else influences the plan.
pub struct PlanInput<'a> {
    pub desired: &'a DesiredState,
    /// Observed state by app name; only the apps being planned.
    pub observed: &'a BTreeMap<String, ObservedApp>,
    /// The day memberships' `expires` dates are evaluated against.
    pub today: time::Date,
}

/// Why no plan could be made (a license shortfall, an unknown SKU, an app that is not
/// defined, an invalid ignore pattern...). Every problem is listed, not only the first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlanFailure {
    pub problems: Vec<String>,
}

impl fmt::Display for PlanFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.problems.as_slice() {
            [one] => write!(f, "cannot plan: {one}"),
            many => {
                write!(f, "cannot plan ({} problems):", many.len())?;
                for p in many {
                    write!(f, "\n  - {p}")?;
                }
                Ok(())
            }
        }
    }
}

impl std::error::Error for PlanFailure {}

/// Which live users an app manages by the rules that need no repository: office365
/// manages its authorized domains (default: the verified ones but the initial domain)
/// and no guests unless `manage_guests`; the other connectors' scope is what their
/// reader returns. The planner, the connector guard and `import` share it; `ignore`
/// patterns and the planner's own checks come on top.
pub struct UserScope {
    office365: bool,
    manage_guests: bool,
    /// Lower-cased authorized domains: explicit, else the default ones.
    pub domains: BTreeSet<String>,
}

impl UserScope {
    pub fn of(app: &App, obs: &ObservedApp) -> UserScope {
        UserScope {
            // google_workspace scopes users by domain as office365 does: an account's
            // other domains are not the app's unless authorized.
            office365: matches!(app, App::Office365(_) | App::GoogleWorkspace(_)),
            manage_guests: matches!(app, App::Office365(a) if a.manage_guests),
            domains: match app.authorized_domains() {
                Some(d) => d.iter().map(|s| s.trim().to_lowercase()).collect(),
                None => obs.default_authorized_domains(),
            },
        }
    }

    /// A guest: `userType: Guest`, or an `#EXT#` UPN of one read without userType.
    pub fn is_guest(u: &ObservedUser) -> bool {
        u.guest || u.login.to_ascii_lowercase().contains("#ext#")
    }

    /// Whether the app manages this guest-or-not by the rules above.
    pub fn holds(&self, u: &ObservedUser) -> bool {
        if !self.office365 {
            return true;
        }
        if Self::is_guest(u) {
            // Guests live in the initial domain: in scope exactly when managed.
            return self.manage_guests;
        }
        domain_of(&u.login).is_some_and(|d| self.domains.contains(&d))
    }
}

/// The login a user has in an app: the matching key between desired and live users.
/// By default office365: the email (userPrincipalName); active_directory and scim: the
/// username; an `attribute_map` entry for the login target templates it. Callers with
/// many users of one app build the [`Mapping`] once instead.
pub fn login_for(app: &App, user: &User) -> String {
    let (target, _) = crate::mapping::targets::login(app.type_name());
    if app.attribute_map().contains_key(target) {
        return Mapping::lenient(app).login_of(user);
    }
    match app {
        App::Office365(_) | App::GoogleWorkspace(_) => user.email.trim().to_string(),
        App::ActiveDirectory(_) | App::Scim(_) | App::Ldap(_) => user.username.clone(),
    }
}

/// The anchors a repository user's live account may carry in an app (see
/// [`ObservedUser::username`]): of the username, then of each previous username.
/// office365: the `mailNickname` roster gives from a username; active_directory: the
/// login (sAMAccountName) under that username; scim: the username (`externalId`).
fn anchors_of(app: &App, mapping: &Mapping, user: &User) -> Vec<(String, Option<String>)> {
    std::iter::once(&user.username)
        .chain(user.previous_usernames.iter())
        .filter_map(|name| {
            let anchor = match app {
                App::Office365(_) => crate::mapping::mail_nickname(name)?,
                App::ActiveDirectory(_) | App::Ldap(_) => mapping.login_with_username(user, name),
                App::Scim(_) | App::GoogleWorkspace(_) => name.clone(),
            };
            let previous = (name != &user.username).then(|| name.clone());
            Some((anchor.to_lowercase(), previous))
        })
        .collect()
}

/// The groups whose members a reader must fetch for `app`: the groups bound to it by
/// a policy (the only groups whose memberships the planner manages).
pub fn read_scope(desired: &DesiredState, app: &str) -> ReadScope {
    let groups: BTreeSet<String> = desired
        .policies
        .iter()
        .filter(|p| p.app == app)
        .flat_map(|p| p.groups.iter().cloned())
        .collect();
    let user_fields = desired
        .app(app)
        .map(|a| {
            let defaults = crate::mapping::targets::defaults(a.type_name());
            Mapping::lenient(a)
                .fields
                .into_iter()
                .filter(|f| !defaults.iter().any(|(t, _)| *t == f.target))
                .map(|f| (f.key, f.target))
                .collect()
        })
        .unwrap_or_default();
    let deleted_groups = desired.groups.iter().any(|g| {
        g.kind == Some(crate::desired::GroupKind::Microsoft365) && groups.contains(&g.name)
    });
    ReadScope {
        member_groups: Some(groups),
        user_fields,
        managers: desired.users.iter().any(|u| u.manager.is_some()),
        deleted_groups,
    }
}

/// Trim; empty and absent are the same thing.
fn normalize(v: Option<&str>) -> Option<String> {
    v.map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
}

/// Whether two values of a managed attribute are the same after normalisation
/// (trimmed, absent == empty, email compared case-insensitively).
pub fn same_value(field: &str, a: Option<&str>, b: Option<&str>) -> bool {
    let a = a.map(str::trim).filter(|s| !s.is_empty());
    let b = b.map(str::trim).filter(|s| !s.is_empty());
    match (a, b) {
        (None, None) => true,
        (Some(x), Some(y)) if field == "email" => x.to_lowercase() == y.to_lowercase(),
        (Some(x), Some(y)) => x == y,
        _ => false,
    }
}

/// How a password reference is shown in a plan: where it comes from, never a value.
/// The observed attribute (active_directory) holding `pwdLastSet`: "0" when the
/// account's password was never set (or must be changed at next logon).
pub const PWD_LAST_SET: &str = "pwd_last_set";

/// What a plan shows for a password roster generates (never its value).
pub const RANDOM_PASSWORD: &str = "(random; to be changed at next sign-in)";

pub fn password_reference(r: &SecretRef) -> String {
    match r {
        SecretRef::Env(name) => format!("(from env {name})"),
        SecretRef::File(path) => format!("(from file {path})"),
    }
}

fn opt_value(v: Option<&str>) -> Value {
    match v {
        Some(s) => Value::String(s.to_string()),
        None => Value::Null,
    }
}

fn parse_date(s: &str) -> Option<time::Date> {
    let fmt = time::macros::format_description!("[year]-[month]-[day]");
    time::Date::parse(s.trim(), &fmt).ok()
}

/// The lower-cased domain of an address, if it has one.
fn domain_of(address: &str) -> Option<String> {
    address
        .trim()
        .rsplit_once('@')
        .map(|(_, d)| d.to_lowercase())
        .filter(|d| !d.is_empty())
}

/// Indexes over the desired state shared by every app of one plan.
struct Index<'a> {
    desired: &'a DesiredState,
    /// username → index into `desired.users` (first definition wins).
    user_idx: HashMap<&'a str, u32>,
    /// group name → index into `desired.groups` (first definition wins).
    group_idx: HashMap<&'a str, u32>,
    /// Per group: direct user members and direct nested groups, from inline members and
    /// non-expired membership entries. Unknown references are left out.
    direct_users: Vec<Vec<u32>>,
    direct_groups: Vec<Vec<u32>>,
    /// (group, member) of membership entries that have expired, with the expiry date:
    /// removed even from an additive group.
    expired: BTreeMap<(&'a str, &'a str), &'a str>,
    /// Scratch marks for traversals (epoch-stamped, so they never need clearing).
    group_mark: Vec<u32>,
    user_mark: Vec<u32>,
    epoch: u32,
}

impl<'a> Index<'a> {
    fn build(desired: &'a DesiredState, today: time::Date, problems: &mut Vec<String>) -> Self {
        let mut user_idx = HashMap::with_capacity(desired.users.len());
        for (i, u) in desired.users.iter().enumerate() {
            user_idx.entry(u.username.as_str()).or_insert(i as u32);
        }
        let mut group_idx = HashMap::with_capacity(desired.groups.len());
        for (i, g) in desired.groups.iter().enumerate() {
            group_idx.entry(g.name.as_str()).or_insert(i as u32);
        }
        let n = desired.groups.len();
        let mut ix = Index {
            desired,
            user_idx,
            group_idx,
            direct_users: vec![Vec::new(); n],
            direct_groups: vec![Vec::new(); n],
            expired: BTreeMap::new(),
            group_mark: vec![0; n],
            user_mark: vec![0; desired.users.len()],
            epoch: 0,
        };
        for g in &desired.groups {
            if let Some(&gi) = ix.group_idx.get(g.name.as_str()) {
                for m in &g.members {
                    ix.add_member(gi, m);
                }
            }
        }
        for m in &desired.memberships {
            if let Some(exp) = &m.expires {
                match parse_date(exp) {
                    Some(d) if d <= today => {
                        for u in &m.users {
                            ix.expired
                                .insert((m.group.as_str(), u.as_str()), exp.as_str());
                        }
                        continue;
                    }
                    Some(_) => {}
                    None => {
                        problems.push(format!(
                            "membership of group {}: expires {:?} is not a date (YYYY-MM-DD)",
                            m.group, exp
                        ));
                        continue;
                    }
                }
            }
            if let Some(&gi) = ix.group_idx.get(m.group.as_str()) {
                for u in &m.users {
                    ix.add_member(gi, u);
                }
            }
        }
        for v in ix
            .direct_users
            .iter_mut()
            .chain(ix.direct_groups.iter_mut())
        {
            v.sort_unstable();
            v.dedup();
        }
        ix
    }

    fn add_member(&mut self, gi: u32, m: &str) {
        match parse_member(m) {
            MemberRef::User(u) => {
                if let Some(&ui) = self.user_idx.get(u) {
                    self.direct_users[gi as usize].push(ui);
                }
            }
            MemberRef::Group(g) => {
                if let Some(&ci) = self.group_idx.get(g) {
                    self.direct_groups[gi as usize].push(ci);
                }
            }
        }
    }

    fn next_epoch(&mut self) -> u32 {
        self.epoch = self.epoch.wrapping_add(1);
        if self.epoch == 0 {
            self.group_mark.iter_mut().for_each(|m| *m = 0);
            self.user_mark.iter_mut().for_each(|m| *m = 0);
            self.epoch = 1;
        }
        self.epoch
    }

    /// The transitive user members of a group (sorted indices). Iterative and
    /// cycle-safe: each group is visited once per call.
    fn flatten(&mut self, root: u32) -> Vec<u32> {
        let epoch = self.next_epoch();
        let mut out = Vec::new();
        let mut stack = vec![root];
        self.group_mark[root as usize] = epoch;
        while let Some(g) = stack.pop() {
            for &u in &self.direct_users[g as usize] {
                if self.user_mark[u as usize] != epoch {
                    self.user_mark[u as usize] = epoch;
                    out.push(u);
                }
            }
            for &c in &self.direct_groups[g as usize] {
                if self.group_mark[c as usize] != epoch {
                    self.group_mark[c as usize] = epoch;
                    stack.push(c);
                }
            }
        }
        out.sort_unstable();
        out
    }
}

/// Everything one plan accumulates over its apps.
#[derive(Default)]
struct Acc {
    changes: Vec<Change>,
    skipped: Vec<Skipped>,
    warnings: Vec<Warning>,
    guards: Vec<DeletionGuard>,
    problems: Vec<String>,
}

/// Compute the plan. Identical input gives an identical plan, byte for byte.
pub fn plan(input: &PlanInput) -> Result<Plan, PlanFailure> {
    plan_indexed(input, &crate::observed::index_all(input.observed))
}

/// [`plan`] with the indexes of `input.observed` already built, so that a command
/// that also fingerprints or checks a saved plan builds them once.
pub fn plan_indexed(input: &PlanInput, indexes: &ObservedIndexes<'_>) -> Result<Plan, PlanFailure> {
    let mut acc = Acc::default();
    let mut ix = Index::build(input.desired, input.today, &mut acc.problems);
    for (name, observed) in input.observed {
        let built;
        let live = match indexes.get(name) {
            Some(live) => live,
            None => {
                built = ObservedIndex::new(observed);
                &built
            }
        };
        match input.desired.app(name) {
            Some(app) => match crate::plan::lifecycle::view(input.desired, app, input.today) {
                None => AppPlanner::new(&mut ix, app, observed, live, &mut acc).run(),
                Some(view) => {
                    // Problems of the repository are reported once, from `ix`.
                    let mut again = Vec::new();
                    let mut vix = Index::build(&view.desired, input.today, &mut again);
                    let first = acc.changes.len();
                    let first_skip = acc.skipped.len();
                    AppPlanner::new(&mut vix, app, observed, live, &mut acc).run();
                    crate::plan::lifecycle::annotate(&view.stages, &mut acc.changes[first..]);
                    for s in &mut acc.skipped[first_skip..] {
                        if let Some(st) = view
                            .stages
                            .get(&s.key)
                            .or_else(|| view.stages.get(&s.key.to_lowercase()))
                        {
                            s.reason = format!("{}: {}", st.reason(), s.reason);
                        }
                    }
                }
            },
            None => acc.problems.push(format!(
                "app {name} is not defined in the repository (known apps: {})",
                known_apps(input.desired)
            )),
        }
    }
    if !acc.problems.is_empty() {
        return Err(PlanFailure {
            problems: acc.problems,
        });
    }
    acc.changes
        .sort_by(|a, b| change_order(a).cmp(&change_order(b)));
    acc.skipped.sort_by(|a, b| {
        (&a.app, a.object, &a.key, a.action).cmp(&(&b.app, b.object, &b.key, b.action))
    });
    let summary = Summary::of(&acc.changes);
    Ok(Plan {
        format_version: FORMAT_VERSION.to_string(),
        source: input.desired.source.clone(),
        changes: acc.changes,
        skipped: acc.skipped,
        warnings: acc.warnings,
        summary,
        deletion_guards: acc.guards,
    })
}

fn known_apps(desired: &DesiredState) -> String {
    let names: BTreeSet<&str> = desired.apps.iter().map(|a| a.name()).collect();
    if names.is_empty() {
        "none".to_string()
    } else {
        names.into_iter().collect::<Vec<_>>().join(", ")
    }
}

type OrderKey<'c> = (
    &'c str,
    crate::plan::Phase,
    std::borrow::Cow<'c, str>,
    ObjectKind,
    Action,
    Option<String>,
    Option<&'c str>,
);

/// Apply order: app, phase, key, then kind, action, member and SKU (the order of the
/// wire format's fields, so that the order is the same whichever side sorts).
fn change_order(c: &Change) -> OrderKey<'_> {
    (
        &c.app,
        c.phase(),
        c.key(),
        c.object(),
        c.action,
        c.membership().map(|k| k.member.to_string()),
        c.sku(),
    )
}

/// A live user's identity as seen by the planner.
struct LiveUser<'o> {
    user: &'o ObservedUser,
    /// Inside the app's management scope (and not ignored).
    in_scope: bool,
    ignored: bool,
    /// A guest of an app that does not manage guests: left alone everywhere.
    guest: bool,
}

/// A live (or deleted) account found for a repository user whose login matches no live
/// user: by the account's anchor, or in the deleted items.
struct Link<'o> {
    user: &'o ObservedUser,
    /// The previous username whose anchor the account carries, if not the current one.
    previous: Option<String>,
    /// In the deleted items: restored, not re-created.
    deleted: bool,
}

/// A deleted Entra user's userPrincipalName carries its object id (32 hex digits)
/// before the original; the original, for matching.
fn undeleted_login(login: &str) -> &str {
    match login.get(..32) {
        Some(p) if p.bytes().all(|b| b.is_ascii_hexdigit()) && login[32..].contains('@') => {
            &login[32..]
        }
        _ => login,
    }
}

/// What the live directory protects a user from, as the planner applies it.
struct Protected<'o> {
    list: &'o [Protection],
}

impl<'o> Protected<'o> {
    fn of(u: &'o ObservedUser) -> Self {
        Protected {
            list: &u.protections,
        }
    }

    fn any(&self) -> bool {
        !self.list.is_empty()
    }

    /// Whether `field` (a managed attribute, or `enabled`) must not be written.
    fn holds(&self, field: &str) -> bool {
        self.list.iter().any(|p| match p {
            Protection::AdminSdHolder => true,
            // Entra Connect masters every attribute roster maps but the usage location.
            Protection::SyncedFromOnPremises => field != "usage_location",
            // user-update.md: accountEnabled, mobilePhone, businessPhones, otherMails,
            // passwordProfile and userPrincipalName of an admin are sensitive.
            Protection::PrivilegedRole { .. } => {
                matches!(field, "enabled" | "mobile_phone" | "login")
            }
        })
    }

    fn why(&self) -> String {
        self.list
            .iter()
            .map(Protection::describe)
            .collect::<Vec<_>>()
            .join("; ")
    }
}

/// What [`AppPlanner::scope`] works out once for the other steps.
struct Scope<'a, 'o> {
    ignore: GlobSet,
    /// Bound group → the first policy binding it.
    bound: BTreeMap<&'a str, &'a str>,
    /// Bound group → its transitive user members.
    bound_members: BTreeMap<&'a str, Vec<u32>>,
    /// Candidate user → the first bound group providing it.
    via: Vec<Option<&'a str>>,
    /// Provisioned user → its login in the app.
    provisioned: BTreeMap<u32, String>,
    /// Lower-cased login → username, for every repository user (lookup only).
    login_to_username: HashMap<String, &'a str>,
    repo_groups: BTreeSet<&'a str>,
    /// Lower-cased login → live user (the first of duplicates).
    live_by_login: BTreeMap<String, LiveUser<'o>>,
    /// Name → (live group, in scope) (the first of duplicates).
    live_group: BTreeMap<&'o str, (&'o ObservedGroup, bool)>,
    /// In-scope live groups that duplicate a name of `live_group`, with the managed one.
    duplicate_groups: Vec<(&'o ObservedGroup, &'o ObservedGroup)>,
    scope_users: usize,
}

/// What [`AppPlanner::plan_users`] leaves for the membership step.
struct UserPass<'o> {
    /// Provisioned users that exist live or are created by this plan.
    present_users: Vec<bool>,
    /// Provisioned user → its live id.
    live_id_of: Vec<Option<&'o str>>,
    /// Lower-cased logins of live users owned by provisioned users.
    matched_live: BTreeSet<String>,
}

/// The planner for one app.
struct AppPlanner<'i, 'a, 'o> {
    ix: &'i mut Index<'a>,
    app: &'a App,
    /// The app's attribute mapping (login and managed attributes).
    mapping: Mapping,
    name: &'a str,
    obs: &'o ObservedApp,
    /// Lookups over `obs`, built once per command (see [`ObservedIndex`]).
    live: &'i ObservedIndex<'o>,
    acc: &'i mut Acc,
}

impl<'i, 'a, 'o> AppPlanner<'i, 'a, 'o> {
    fn new(
        ix: &'i mut Index<'a>,
        app: &'a App,
        obs: &'o ObservedApp,
        live: &'i ObservedIndex<'o>,
        acc: &'i mut Acc,
    ) -> Self {
        AppPlanner {
            ix,
            app,
            mapping: Mapping::lenient(app),
            name: app.name(),
            obs,
            live,
            acc,
        }
    }

    fn warn(&mut self, message: String) {
        self.acc.warnings.push(Warning {
            app: Some(self.name.to_string()),
            message,
        });
    }

    fn skip(&mut self, object: ObjectKind, key: &str, action: Action, switch: &str, what: &str) {
        self.acc.skipped.push(Skipped {
            app: self.name.to_string(),
            object,
            key: key.to_string(),
            action,
            switch: Some(switch.to_string()),
            reason: format!("{what}; switch {switch} is off"),
        });
    }

    /// Records a change the live directory protects the object from: listed, not made.
    fn protected(&mut self, object: ObjectKind, key: &str, action: Action, why: String) {
        self.acc.skipped.push(Skipped {
            app: self.name.to_string(),
            object,
            key: key.to_string(),
            action,
            switch: None,
            reason: why,
        });
    }

    fn change(
        &mut self,
        target: Target,
        action: Action,
        id: Option<&str>,
        before: Option<BTreeMap<String, Value>>,
        after: Option<BTreeMap<String, Value>>,
        reason: String,
    ) {
        self.acc.changes.push(Change {
            app: self.name.to_string(),
            target,
            action,
            id: id.map(str::to_string),
            before,
            after,
            reason,
        });
    }

    fn ignore_set(&mut self) -> Option<GlobSet> {
        let mut b = GlobSetBuilder::new();
        let mut ok = true;
        for p in self.app.ignore() {
            match GlobBuilder::new(p).case_insensitive(true).build() {
                Ok(g) => {
                    b.add(g);
                }
                Err(e) => {
                    ok = false;
                    self.acc.problems.push(format!(
                        "app {}: ignore pattern {:?} is invalid: {e}",
                        self.name, p
                    ));
                }
            }
        }
        if !ok {
            return None;
        }
        match b.build() {
            Ok(s) => Some(s),
            Err(e) => {
                self.acc.problems.push(format!(
                    "app {}: ignore patterns are invalid: {e}",
                    self.name
                ));
                None
            }
        }
    }

    fn run(mut self) {
        if let Err(errors) = Mapping::of(self.app) {
            for e in errors {
                self.acc.problems.push(format!(
                    "app {}: attribute_map `{}`: {}",
                    self.name, e.target, e.message
                ));
            }
            return;
        }
        let Some(sc) = self.scope() else {
            return;
        };
        let users = self.plan_users(&sc);
        let deleted_users = self.deprovision_users(&sc, &users.matched_live);
        let (present_groups, deleted_groups) = self.plan_groups(&sc);
        self.plan_memberships(
            &sc,
            &users,
            &present_groups,
            &deleted_users,
            &deleted_groups,
        );
        self.deletion_guard(sc.scope_users);
    }

    /// Who is provisioned and what the app owns: bound groups, their transitive
    /// members, the provisioned users, and the live objects indexed and scoped.
    fn scope(&mut self) -> Option<Scope<'a, 'o>> {
        let desired = self.ix.desired;
        let is_o365 = matches!(self.app, App::Office365(_));
        let ignore = self.ignore_set()?;
        // Authorized domains: explicit, else the tenant's verified ones but the initial.
        let user_scope = UserScope::of(self.app, self.obs);
        let domains = &user_scope.domains;
        // Outside office365, an app without any domain list does not restrict by domain.
        let restrict_domains = is_o365 || !domains.is_empty();
        if is_o365 && domains.is_empty() {
            self.warn(format!(
                "app {} has no authorized domains (none configured, and none verified in the \
                 tenant but the initial domain, which is authorized only when listed): no user \
                 is provisioned and no live user is in scope",
                self.name
            ));
        }

        // Groups bound to the app, by policy.
        let mut bound: BTreeMap<&'a str, &'a str> = BTreeMap::new(); // group → policy
        for p in desired.policies.iter().filter(|p| p.app == self.name) {
            for g in &p.groups {
                if self.ix.group_idx.contains_key(g.as_str()) {
                    bound.entry(g.as_str()).or_insert(p.name.as_str());
                } else {
                    self.acc.problems.push(format!(
                        "policy {} binds group {} to app {}, but no such group is defined",
                        p.name, g, self.name
                    ));
                }
            }
        }
        let mut ignored_groups: BTreeSet<&str> = BTreeSet::new();
        for g in bound.keys() {
            if ignore.is_match(g) {
                ignored_groups.insert(g);
            }
        }
        for g in &ignored_groups {
            bound.remove(g);
            self.warn(format!(
                "group {g} is bound to app {} but matches one of its ignore patterns; it is left alone",
                self.name
            ));
        }

        // Transitive members of each bound group; the union is the candidate set.
        let mut bound_members: BTreeMap<&'a str, Vec<u32>> = BTreeMap::new();
        let mut via: Vec<Option<&'a str>> = vec![None; desired.users.len()]; // user → first bound group
        for &g in bound.keys() {
            let gi = self.ix.group_idx[g];
            let members = self.ix.flatten(gi);
            for &u in &members {
                via[u as usize].get_or_insert(g);
            }
            bound_members.insert(g, members);
        }

        // Provisioned users: candidates in an authorized domain and not ignored.
        let mut provisioned: BTreeMap<u32, String> = BTreeMap::new(); // user → login
        let mut hands_off_logins: BTreeSet<String> = BTreeSet::new();
        let mut login_owner: BTreeMap<String, &'a str> = BTreeMap::new();
        for (u, g) in via
            .iter()
            .enumerate()
            .filter_map(|(u, g)| g.map(|g| (u as u32, g)))
        {
            let user = &desired.users[u as usize];
            let login = self.mapping.login_of(user);
            if ignore.is_match(&login) || ignore.is_match(user.email.trim()) {
                hands_off_logins.insert(login.to_lowercase());
                self.warn(format!(
                    "user {} is bound to app {} (group {g}) but matches one of its ignore \
                     patterns; it is left alone",
                    user.username, self.name
                ));
                continue;
            }
            if restrict_domains {
                // office365 matches domains on the login (the userPrincipalName, whose
                // domain Graph requires verified); the others on the email.
                let dom = if is_o365 {
                    domain_of(&login).or_else(|| domain_of(&user.email))
                } else {
                    domain_of(&user.email)
                };
                let authorized = dom.as_ref().is_some_and(|d| domains.contains(d));
                if !authorized {
                    self.warn(format!(
                        "user {} is not provisioned to app {}: email domain {} is not an \
                         authorized domain of the app",
                        user.username,
                        self.name,
                        dom.as_deref().unwrap_or("(none)")
                    ));
                    continue;
                }
            }
            if let Some(other) = login_owner.get(&login.to_lowercase()) {
                self.acc.problems.push(format!(
                    "app {}: users {other} and {} would both have the login {login}",
                    self.name, user.username
                ));
                continue;
            }
            login_owner.insert(login.to_lowercase(), user.username.as_str());
            provisioned.insert(u, login);
        }

        // Desired logins of every repository user (for naming live objects).
        let mut login_to_username: HashMap<String, &'a str> =
            HashMap::with_capacity(desired.users.len());
        for u in &desired.users {
            login_to_username
                .entry(self.mapping.login_of(u).to_lowercase())
                .or_insert(u.username.as_str());
        }
        // Groups the repository defines live (a `kind: repository` group never is).
        let repo_groups: BTreeSet<&str> = desired
            .groups
            .iter()
            .filter(|g| g.kind != Some(crate::desired::GroupKind::Repository))
            .map(|g| g.name.as_str())
            .collect();

        // Live users: sorted for determinism, first of duplicate logins wins.
        let mut live_sorted: Vec<(String, &'o ObservedUser)> = self
            .obs
            .users
            .iter()
            .map(|u| (u.login.to_lowercase(), u))
            .collect();
        live_sorted.sort_by(|a, b| (&a.0, &a.1.id).cmp(&(&b.0, &b.1.id)));
        let mut live_by_login: BTreeMap<String, LiveUser<'o>> = BTreeMap::new();
        let mut scope_users = 0usize;
        let manage_guests = matches!(self.app, App::Office365(a) if a.manage_guests);
        let (mut guests, mut initial_users) = (0usize, 0usize);
        let initial = self
            .obs
            .initial_domain
            .as_deref()
            .map(str::to_lowercase)
            .filter(|d| is_o365 && self.app.authorized_domains().is_none() && !domains.contains(d));
        for (lower, u) in live_sorted {
            let email = u.attributes.get("email").unwrap_or("");
            let ignored = ignore.is_match(&u.login)
                || (!email.is_empty() && ignore.is_match(email))
                || hands_off_logins.contains(&lower);
            let guest = is_o365 && !manage_guests && UserScope::is_guest(u);
            if guest {
                guests += 1;
            } else if initial.is_some() && domain_of(&u.login) == initial {
                initial_users += 1;
            }
            let scoped = user_scope.holds(u);
            if live_by_login.contains_key(&lower) {
                if scoped && !ignored {
                    self.warn(format!(
                        "several live users have the login {}; only the first (id {}) is \
                         managed, id {} is left alone",
                        u.login, live_by_login[&lower].user.id, u.id
                    ));
                }
                continue;
            }
            if scoped && !ignored {
                scope_users += 1;
            }
            live_by_login.insert(
                lower,
                LiveUser {
                    user: u,
                    in_scope: scoped && !ignored,
                    ignored,
                    guest,
                },
            );
        }

        if is_o365 && let Some(why) = &self.obs.roles_unknown {
            self.warn(format!(
                "app {}: {why}; until then Graph refuses the writes it protects at apply",
                self.name
            ));
        }
        if guests > 0 {
            self.warn(format!(
                "{guests} guest(s) are outside the scope of {} and left alone (set \
                 `manage_guests: true` to manage them)",
                self.name
            ));
        }
        if let (Some(d), true) = (&initial, initial_users > 0) {
            self.warn(format!(
                "{initial_users} user(s) in the initial domain {d} are outside the scope of {} \
                 and left alone (the initial domain is authorized only when \
                 `authorized_domains` lists it)",
                self.name
            ));
        }

        // Live groups by exact name; of duplicates, the one carrying roster's key for
        // the name is managed, else the first by id.
        let mut live_groups_sorted: Vec<&'o ObservedGroup> = self.obs.groups.iter().collect();
        live_groups_sorted.sort_by(|a, b| crate::observed::canonical_group_order(a, b));
        let mut live_group: BTreeMap<&'o str, (&'o ObservedGroup, bool)> = BTreeMap::new(); // name → (group, in scope)
        let mut duplicate_groups = Vec::new();
        for g in live_groups_sorted {
            let ignored = ignore.is_match(&g.name);
            // office365 and google_workspace accounts hold groups roster never made
            // (teams, mailing lists): only names the repository defines are in scope.
            let by_repo = is_o365 || matches!(self.app, App::GoogleWorkspace(_));
            let scoped = !ignored && (!by_repo || repo_groups.contains(g.name.as_str()));
            if let Some(&(first, _)) = live_group.get(g.name.as_str()) {
                if scoped {
                    duplicate_groups.push((g, first));
                }
                continue;
            }
            live_group.insert(g.name.as_str(), (g, scoped));
        }
        Some(Scope {
            ignore,
            bound,
            bound_members,
            via,
            provisioned,
            login_to_username,
            repo_groups,
            live_by_login,
            live_group,
            duplicate_groups,
            scope_users,
        })
    }

    /// Creates, updates, enables/disables and license changes of provisioned users,
    /// then the seat check.
    fn plan_users(&mut self, sc: &Scope<'a, 'o>) -> UserPass<'o> {
        let fields = self.mapping.fields.clone();
        let links = self.link_accounts(sc);
        let desired = self.ix.desired;
        let switches = *self.app.switches();
        let is_o365 = matches!(self.app, App::Office365(_));
        let Scope {
            bound,
            via,
            provisioned,
            live_by_login,
            ..
        } = sc;
        // ---- users: create / update / enable / disable / licenses ----
        let n = self.ix.desired.users.len();
        let mut present_users = vec![false; n]; // live or being created
        let mut live_id_of: Vec<Option<&'o str>> = vec![None; n];
        let mut license_delta: BTreeMap<String, (u64, u64)> = BTreeMap::new(); // sku → (adds, removes)
        let mut matched_live: BTreeSet<String> = BTreeSet::new(); // lower logins owned by provisioned users
        let sku_names: BTreeMap<String, &str> = self
            .obs
            .skus
            .iter()
            .map(|s| (s.part_number.to_uppercase(), s.part_number.as_str()))
            .collect();

        for (&u, login) in provisioned {
            let user = &desired.users[u as usize];
            let lower = login.to_lowercase();
            let group = via[u as usize].unwrap_or("");
            let policy = bound.get(group).copied().unwrap_or("");
            if live_by_login.get(&lower).is_some_and(|l| l.guest) {
                self.warn(format!(
                    "user {} is bound to app {} but its live account {} is a guest, which the \
                     app does not manage (`manage_guests` is off); it is left alone",
                    user.username, self.name, login
                ));
                continue;
            }
            if live_by_login.get(&lower).is_some_and(|l| l.ignored) {
                self.warn(format!(
                    "user {} is bound to app {} but its live account {} matches one of the \
                     app's ignore patterns; it is left alone",
                    user.username, self.name, login
                ));
                continue;
            }
            let link = links.get(&u);
            let live = live_by_login
                .get(&lower)
                .map(|l| l.user)
                .or(link.map(|l| l.user));
            if let Some(l) = live {
                matched_live.insert(l.login.to_lowercase());
            }

            // Licenses wanted (office365 only), in the tenant's spelling.
            let mut wanted: BTreeSet<String> = BTreeSet::new();
            if is_o365 {
                for l in &user.licenses {
                    match sku_names.get(&l.trim().to_uppercase()) {
                        Some(n) => {
                            wanted.insert((*n).to_string());
                        }
                        None => self.acc.problems.push(format!(
                            "app {}: user {} wants license SKU {}, which the tenant does not \
                             have (available: {})",
                            self.name,
                            user.username,
                            l,
                            if sku_names.is_empty() {
                                "none".to_string()
                            } else {
                                sku_names.values().copied().collect::<Vec<_>>().join(", ")
                            }
                        )),
                    }
                }
            }
            let has_location =
                normalize(crate::mapping::field_value(user, "usage_location").as_deref()).is_some();

            match live {
                None => {
                    if !switches.create_users {
                        self.skip(
                            ObjectKind::User,
                            &user.username,
                            Action::Create,
                            "create_users",
                            "create the user (and its licenses and memberships)",
                        );
                        continue;
                    }
                    present_users[u as usize] = true;
                    let mut after = BTreeMap::new();
                    after.insert("login".to_string(), Value::String(login.clone()));
                    for f in &fields {
                        if let Some(v) = f.value(user) {
                            after.insert(f.key.clone(), Value::String(v));
                        }
                    }
                    after.insert("enabled".to_string(), Value::Bool(user.enabled));
                    if is_o365 {
                        let domain = domain_of(login).unwrap_or_default();
                        match &user.immutable_id {
                            Some(id) => {
                                after.insert("immutable_id".to_string(), Value::String(id.clone()));
                            }
                            None if self.obs.federated_domains.contains(&domain) => {
                                self.acc.problems.push(format!(
                                    "app {}: user {} would be created as {login} in the federated \
                                     domain {domain}, where Office 365 creates users only with \
                                     an on-premises immutable id: set `immutable_id` on the user \
                                     (the base64 of its on-premises objectGUID), or let directory \
                                     synchronisation create it",
                                    self.name, user.username
                                ));
                            }
                            None => {}
                        }
                    }
                    if switches.password_sync
                        && let Some(p) = &user.password
                    {
                        after.insert("password".to_string(), Value::String(password_reference(p)));
                    }
                    self.change(
                        Target::User(user.username.to_string()),
                        Action::Create,
                        None,
                        None,
                        Some(after),
                        format!(
                            "provisioned to {} by policy {policy} (group {group}); not found live",
                            self.name
                        ),
                    );
                    if !wanted.is_empty() {
                        if !has_location {
                            self.warn_location(user);
                        } else {
                            for sku in &wanted {
                                license_delta.entry(sku.clone()).or_default().0 += 1;
                                self.license(user, None, sku, Action::Add);
                            }
                        }
                    }
                }
                Some(lu) => {
                    let restoring = matches!(link, Some(Link { deleted: true, .. }));
                    if restoring && !switches.create_users {
                        self.skip(
                            ObjectKind::User,
                            &user.username,
                            Action::Restore,
                            "create_users",
                            "restore the user from the deleted items (and its licenses and \
                             memberships)",
                        );
                        continue;
                    }
                    present_users[u as usize] = true;
                    live_id_of[u as usize] = Some(lu.id.as_str());
                    let guard = Protected::of(lu);
                    // Managed attributes.
                    let mut before = BTreeMap::new();
                    let mut after = BTreeMap::new();
                    let mut held: Vec<String> = Vec::new();
                    for f in &fields {
                        if f.on_create {
                            continue;
                        }
                        let key = f.key.as_str();
                        let want = f.value(user);
                        // Office 365 requires a usage location for licences, and Graph
                        // does not clear it: absent from the YAML, it is left as it is.
                        if is_o365 && key == "usage_location" && want.is_none() {
                            continue;
                        }
                        let have = lu.attributes.get(key);
                        if !same_value(key, want.as_deref(), have) {
                            if want.is_none() && !f.nullable {
                                self.warn(format!(
                                    "user {}: `{}` of app {} comes out empty from `{}`, but the \
                                     app cannot clear it; the live value is left",
                                    user.username,
                                    f.target,
                                    self.name,
                                    f.template.source()
                                ));
                                continue;
                            }
                            if guard.holds(key) {
                                held.push(key.to_string());
                                continue;
                            }
                            before.insert(key.to_string(), opt_value(normalize(have).as_deref()));
                            after.insert(key.to_string(), opt_value(want.as_deref()));
                        }
                    }
                    // The login: a rename of the same account, never a re-create.
                    let renamed = !lu.login.trim().eq_ignore_ascii_case(login);
                    if renamed {
                        if guard.holds("login") {
                            held.push("login".to_string());
                        } else {
                            before.insert("login".to_string(), Value::String(lu.login.clone()));
                            after.insert("login".to_string(), Value::String(login.clone()));
                        }
                    }
                    // The anchor follows a username rename (office365 mailNickname,
                    // scim externalId; in AD the login is the anchor).
                    if let Some(Link {
                        previous: Some(_), ..
                    }) = link
                        && !matches!(self.app, App::ActiveDirectory(_))
                        && !guard.holds("username")
                    {
                        before.insert("username".to_string(), opt_value(lu.username.as_deref()));
                        after.insert("username".to_string(), Value::String(user.username.clone()));
                    }
                    if restoring {
                        if user.enabled != lu.enabled {
                            before.insert("enabled".to_string(), Value::Bool(lu.enabled));
                            after.insert("enabled".to_string(), Value::Bool(user.enabled));
                        }
                        self.change(
                            Target::User(user.username.to_string()),
                            Action::Restore,
                            Some(&lu.id),
                            Some(before),
                            Some(after),
                            format!(
                                "provisioned to {} by policy {policy} (group {group}); its \
                                 account {} is in the deleted items: restored with its id, \
                                 mailbox and memberships, not re-created",
                                self.name,
                                undeleted_login(lu.login.trim())
                            ),
                        );
                        before = BTreeMap::new();
                        after = BTreeMap::new();
                    }
                    if !held.is_empty() {
                        self.protected(
                            ObjectKind::User,
                            &user.username,
                            Action::Update,
                            format!(
                                "{} differ{} from the repository but the live user is {}; \
                                 left as {} live",
                                held.join(", "),
                                if held.len() == 1 { "s" } else { "" },
                                guard.why(),
                                if held.len() == 1 { "it is" } else { "they are" },
                            ),
                        );
                    }
                    if !after.is_empty() {
                        if switches.update_users {
                            let names: Vec<&str> = after
                                .keys()
                                .map(String::as_str)
                                .filter(|k| *k != "login" && *k != "username")
                                .collect();
                            let mut reason = match link {
                                Some(Link {
                                    previous: Some(p), ..
                                }) => format!(
                                    "renamed from previous username {p}: the same account, not \
                                     a new one"
                                ),
                                _ if after.contains_key("login") => format!(
                                    "the login changed: the live account {} is this user's (its \
                                     anchor says so), renamed, not re-created",
                                    lu.login
                                ),
                                _ => String::new(),
                            };
                            if !names.is_empty() {
                                if !reason.is_empty() {
                                    reason.push_str("; ");
                                }
                                let _ = std::fmt::Write::write_fmt(
                                    &mut reason,
                                    format_args!(
                                        "{} differ{} from the repository",
                                        names.join(", "),
                                        if names.len() == 1 { "s" } else { "" }
                                    ),
                                );
                            }
                            self.change(
                                Target::User(user.username.to_string()),
                                Action::Update,
                                Some(&lu.id),
                                Some(before),
                                Some(after),
                                reason,
                            );
                        } else {
                            self.skip(
                                ObjectKind::User,
                                &user.username,
                                Action::Update,
                                "update_users",
                                "update the user's attributes",
                            );
                        }
                    }
                    // Enabled state (a restore carries its own).
                    if user.enabled != lu.enabled && !restoring {
                        let action = if user.enabled {
                            Action::Enable
                        } else {
                            Action::Disable
                        };
                        if guard.holds("enabled") {
                            self.protected(
                                ObjectKind::User,
                                &user.username,
                                action,
                                format!(
                                    "{} in the repository, but the live user is {}; left as \
                                     it is",
                                    if user.enabled { "enabled" } else { "disabled" },
                                    guard.why()
                                ),
                            );
                        } else if switches.enable_disable_users {
                            // AD: a disabled account whose password was never set is
                            // a create that did not finish (a password refused by
                            // policy, a crash between the add and the password): it
                            // gets a password before it is enabled.
                            let unfinished = user.enabled
                                && matches!(self.app, App::ActiveDirectory(_))
                                && lu.attributes.get(PWD_LAST_SET) == Some("0");
                            let mut after = BTreeMap::from([(
                                "enabled".to_string(),
                                Value::Bool(user.enabled),
                            )]);
                            let reason = if unfinished {
                                let password = match &user.password {
                                    Some(p) if switches.password_sync => password_reference(p),
                                    _ => RANDOM_PASSWORD.to_string(),
                                };
                                after.insert("password".to_string(), Value::String(password));
                                "unfinished create: the account is disabled and its password \
                                 was never set; a password is set, then it is enabled"
                                    .to_string()
                            } else if user.enabled {
                                "enabled in the repository, disabled live".to_string()
                            } else {
                                "disabled in the repository (enabled: false), enabled live"
                                    .to_string()
                            };
                            self.change(
                                Target::User(user.username.to_string()),
                                action,
                                Some(&lu.id),
                                Some(BTreeMap::from([(
                                    "enabled".to_string(),
                                    Value::Bool(lu.enabled),
                                )])),
                                Some(after),
                                reason,
                            );
                        } else {
                            self.skip(
                                ObjectKind::User,
                                &user.username,
                                action,
                                "enable_disable_users",
                                if user.enabled {
                                    "enable the user"
                                } else {
                                    "disable the user"
                                },
                            );
                        }
                    }
                    // Licenses.
                    if is_o365 {
                        // Only direct assignments are roster's: a listed SKU the user
                        // holds through a group is there already, and one it holds
                        // both ways frees no seat when the direct one goes.
                        let adds: Vec<&String> = wanted
                            .difference(&lu.licenses)
                            .filter(|s| !lu.inherited_licenses.contains(*s))
                            .collect();
                        let removes: Vec<&String> = lu.licenses.difference(&wanted).collect();
                        if !adds.is_empty() && !has_location {
                            self.warn_location(user);
                        }
                        for sku in adds.into_iter().filter(|_| has_location) {
                            if switches.update_users {
                                license_delta.entry(sku.clone()).or_default().0 += 1;
                                self.license(user, Some(&lu.id), sku, Action::Add);
                            } else {
                                self.skip(
                                    ObjectKind::License,
                                    &user.username,
                                    Action::Add,
                                    "update_users",
                                    &format!("assign license {sku}"),
                                );
                            }
                        }
                        for sku in removes {
                            if switches.update_users {
                                if !lu.inherited_licenses.contains(sku) {
                                    license_delta.entry(sku.clone()).or_default().1 += 1;
                                }
                                self.license(user, Some(&lu.id), sku, Action::Remove);
                            } else {
                                self.skip(
                                    ObjectKind::License,
                                    &user.username,
                                    Action::Remove,
                                    "update_users",
                                    &format!("remove license {sku}"),
                                );
                            }
                        }
                    }
                }
            }
        }

        self.plan_managers(sc, &present_users, &live_id_of);

        // Seat check.
        if is_o365 {
            for (sku, (adds, removes)) in &license_delta {
                let needed = adds.saturating_sub(*removes);
                let free = self
                    .obs
                    .skus
                    .iter()
                    .find(|s| &s.part_number == sku)
                    .map(|s| u64::from(s.free()))
                    .unwrap_or(0);
                if needed > free {
                    self.acc.problems.push(format!(
                        "app {}: license SKU {sku} needs {needed} more seat{} but only {free} \
                         {} free: a shortfall of {}",
                        self.name,
                        if needed == 1 { "" } else { "s" },
                        if free == 1 { "is" } else { "are" },
                        needed - free
                    ));
                }
            }
        }

        UserPass {
            present_users,
            live_id_of,
            matched_live,
        }
    }

    /// Manager changes of provisioned users that declare a `manager`: set when the live
    /// manager differs; a manager not provisioned to the app is a warning, not set. A user
    /// without `manager` keeps whatever manager it has live.
    fn plan_managers(
        &mut self,
        sc: &Scope<'a, 'o>,
        present: &[bool],
        live_id_of: &[Option<&'o str>],
    ) {
        let desired = self.ix.desired;
        let switches = *self.app.switches();
        if !sc
            .provisioned
            .keys()
            .any(|&u| desired.users[u as usize].manager.is_some())
        {
            return;
        }
        let mut name_of_id: HashMap<&str, String> = HashMap::new();
        for u in &self.obs.users {
            let name = sc
                .login_to_username
                .get(&u.login.to_lowercase())
                .map(|s| s.to_string())
                .unwrap_or_else(|| u.login.clone());
            name_of_id.insert(u.id.as_str(), name);
        }
        for (u, id) in live_id_of.iter().enumerate() {
            if let Some(id) = id {
                name_of_id.insert(id, desired.users[u].username.clone());
            }
        }
        for &u in sc.provisioned.keys() {
            let user = &desired.users[u as usize];
            let Some(m) = user.manager.as_deref() else {
                continue;
            };
            if !present[u as usize] {
                continue;
            }
            let Some(&mi) = self.ix.user_idx.get(m) else {
                continue; // the loader reports an unknown manager
            };
            if !present[mi as usize] {
                self.warn(format!(
                    "user {}: its manager {m} is not provisioned to app {}, so the manager is \
                     not set there",
                    user.username, self.name
                ));
                continue;
            }
            let live = live_id_of[u as usize].and_then(|id| self.live.user_by_id(id));
            let have = live.and_then(|l| l.attribute("manager"));
            let want = live_id_of[mi as usize];
            if have.is_some() && have == want {
                continue;
            }
            if let Some(l) = live
                && Protected::of(l).holds("manager")
            {
                self.protected(
                    ObjectKind::Manager,
                    &user.username,
                    Action::Update,
                    format!(
                        "the manager differs from the repository but the live user is {}; \
                         left as it is",
                        Protected::of(l).why()
                    ),
                );
                continue;
            }
            if !switches.update_users {
                self.skip(
                    ObjectKind::Manager,
                    &user.username,
                    Action::Update,
                    "update_users",
                    &format!("set the manager to {m}"),
                );
                continue;
            }
            let before = match have {
                Some(id) => Value::String(
                    name_of_id
                        .get(id)
                        .cloned()
                        .unwrap_or_else(|| id.to_string()),
                ),
                None => Value::Null,
            };
            self.change(
                Target::Manager {
                    user: user.username.clone(),
                },
                Action::Update,
                live_id_of[u as usize],
                Some(BTreeMap::from([("manager".to_string(), before)])),
                Some(BTreeMap::from([(
                    "manager".to_string(),
                    Value::String(m.to_string()),
                )])),
                format!("the manager of {} is {m} in the repository", user.username),
            );
        }
    }

    /// The deleted Microsoft 365 group a repository group `name` restores: the one
    /// carrying roster's key for the name, else the only one of that name. Two of the
    /// name and neither roster's is ambiguous: a warning, and the group is created.
    fn deleted_group(&mut self, name: &str) -> Option<&'o ObservedGroup> {
        let obs: &'o ObservedApp = self.obs;
        let named: Vec<&'o ObservedGroup> = obs
            .deleted_groups
            .iter()
            .filter(|g| g.name == name && g.kind == "microsoft365")
            .collect();
        let key = crate::observed::roster_group_key(name);
        if let Some(g) = named
            .iter()
            .find(|g| g.unique_name.as_deref() == Some(key.as_str()))
        {
            return Some(g);
        }
        match named.as_slice() {
            [] => None,
            [g] => Some(g),
            many => {
                self.warn(format!(
                    "{} deleted Microsoft 365 groups of {} are named {name} (ids {}); none is \
                     restored and a new group is created — restore the right one by hand to \
                     keep its mailbox and files",
                    many.len(),
                    self.name,
                    many.iter()
                        .map(|g| g.id.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ));
                None
            }
        }
    }

    /// Finds the accounts of provisioned users whose login matches no live user: a live
    /// account in scope that no repository login names and that carries the user's
    /// anchor (of its username or a previous one) is the user's, renamed; else an account
    /// in the deleted items with that anchor or login is restored. An anchor two accounts
    /// carry, or an account two users claim, links nothing (with a warning): a create and a
    /// deprovision are then planned as before, for a reviewer to see.
    fn link_accounts(&mut self, sc: &Scope<'a, 'o>) -> BTreeMap<u32, Link<'o>> {
        let desired = self.ix.desired;
        let mut live_by_anchor: BTreeMap<String, Vec<&'o ObservedUser>> = BTreeMap::new();
        for (lower, lu) in &sc.live_by_login {
            if !lu.in_scope || sc.login_to_username.contains_key(lower) {
                continue;
            }
            if let Some(a) = lu
                .user
                .username
                .as_deref()
                .map(str::trim)
                .filter(|a| !a.is_empty())
            {
                live_by_anchor
                    .entry(a.to_lowercase())
                    .or_default()
                    .push(lu.user);
            }
        }
        let mut deleted_by_key: BTreeMap<String, Vec<&'o ObservedUser>> = BTreeMap::new();
        let mut deleted: Vec<&'o ObservedUser> = self.obs.deleted_users.iter().collect();
        deleted.sort_by(|a, b| a.id.cmp(&b.id));
        for d in deleted {
            let login = undeleted_login(d.login.trim()).to_lowercase();
            let mut keys = vec![format!("login:{login}")];
            if let Some(a) = d
                .username
                .as_deref()
                .map(str::trim)
                .filter(|a| !a.is_empty())
            {
                keys.push(format!("anchor:{}", a.to_lowercase()));
            }
            keys.dedup();
            for k in keys {
                deleted_by_key.entry(k).or_default().push(d);
            }
        }
        let mut found: BTreeMap<u32, Link<'o>> = BTreeMap::new();
        for (&u, login) in &sc.provisioned {
            if sc.live_by_login.contains_key(&login.to_lowercase()) {
                continue;
            }
            let user = &desired.users[u as usize];
            let anchors = anchors_of(self.app, &self.mapping, user);
            let live = anchors
                .iter()
                .find_map(|(a, prev)| live_by_anchor.get(a).map(|v| (a, v, prev)));
            if let Some((anchor, accounts, previous)) = live {
                if let [one] = accounts.as_slice() {
                    found.insert(
                        u,
                        Link {
                            user: one,
                            previous: previous.clone(),
                            deleted: false,
                        },
                    );
                } else {
                    let logins: Vec<&str> = accounts.iter().map(|a| a.login.as_str()).collect();
                    self.warn(format!(
                        "user {}: the live accounts {} all carry its anchor `{anchor}`; none is \
                         taken as the user's",
                        user.username,
                        logins.join(", ")
                    ));
                }
                continue;
            }
            let keys = std::iter::once(format!("login:{}", login.to_lowercase()))
                .map(|k| (k, None))
                .chain(
                    anchors
                        .iter()
                        .map(|(a, p)| (format!("anchor:{a}"), p.clone())),
                );
            for (k, previous) in keys {
                if let Some(accounts) = deleted_by_key.get(&k) {
                    // Several deleted accounts match: nothing says which one is the
                    // user's, so none is taken, and the plan says so.
                    if let [one] = accounts.as_slice() {
                        found.insert(
                            u,
                            Link {
                                user: one,
                                previous,
                                deleted: true,
                            },
                        );
                    } else {
                        self.warn(format!(
                            "user {}: {} accounts in the deleted items match it; none is \
                             restored, the user is created",
                            user.username,
                            accounts.len()
                        ));
                    }
                    break;
                }
            }
        }
        // An account two users claim is neither's.
        let mut claims: BTreeMap<&str, Vec<u32>> = BTreeMap::new();
        for (&u, l) in &found {
            claims.entry(l.user.id.as_str()).or_default().push(u);
        }
        for (id, users) in claims {
            if users.len() > 1 {
                let names: Vec<&str> = users
                    .iter()
                    .map(|&u| desired.users[u as usize].username.as_str())
                    .collect();
                self.warn(format!(
                    "users {} all match the account {id} by its anchor; none is linked to it",
                    names.join(", ")
                ));
                for u in users {
                    found.remove(&u);
                }
            }
        }
        found
    }

    /// Deletes or disables (or reports) live users in scope that are not provisioned.
    fn deprovision_users(
        &mut self,
        sc: &Scope<'a, 'o>,
        matched_live: &BTreeSet<String>,
    ) -> BTreeSet<&'o str> {
        let switches = *self.app.switches();
        let Scope {
            login_to_username,
            live_by_login,
            ..
        } = sc;
        // ---- deprovisioning of live users ----
        let mut deleted_user_ids: BTreeSet<&'o str> = BTreeSet::new();
        for (lower, lu) in live_by_login {
            if !lu.in_scope || matched_live.contains(lower) {
                continue;
            }
            let u = lu.user;
            let key = login_to_username
                .get(lower)
                .map(|s| s.to_string())
                .unwrap_or_else(|| u.login.clone());
            let guard = Protected::of(u);
            if guard.any()
                && (switches.delete_users || (switches.enable_disable_users && u.enabled))
            {
                let action = if switches.delete_users {
                    Action::Delete
                } else {
                    Action::Disable
                };
                self.protected(
                    ObjectKind::User,
                    &key,
                    action,
                    format!(
                        "{} is live in the scope of {} but not provisioned to it; it is {}, so it \
                         is left alone",
                        u.login,
                        self.name,
                        guard.why()
                    ),
                );
                continue;
            }
            let why = match login_to_username.get(lower) {
                Some(name) => format!(
                    "user {name} is live in the scope of {} but not provisioned to it by any policy",
                    self.name
                ),
                None => format!(
                    "live in the scope of {} but not in the repository",
                    self.name
                ),
            };
            if switches.delete_users {
                deleted_user_ids.insert(u.id.as_str());
                self.change(
                    Target::User(key.to_string()),
                    Action::Delete,
                    Some(&u.id),
                    Some(BTreeMap::from([(
                        "login".to_string(),
                        Value::String(u.login.clone()),
                    )])),
                    None,
                    why,
                );
            } else if switches.enable_disable_users {
                if u.enabled {
                    self.change(
                        Target::User(key.to_string()),
                        Action::Disable,
                        Some(&u.id),
                        Some(BTreeMap::from([("enabled".to_string(), Value::Bool(true))])),
                        Some(BTreeMap::from([(
                            "enabled".to_string(),
                            Value::Bool(false),
                        )])),
                        format!("{why} (delete_users is off, so it is disabled)"),
                    );
                }
            } else {
                self.warn(format!(
                    "user {key} ({}) is live in the scope of {} but not provisioned to it; \
                     reported only, because delete_users and enable_disable_users are off",
                    u.login, self.name
                ));
            }
        }

        deleted_user_ids
    }

    /// Creates and updates bound groups; deletes (or skips) unbound groups in scope.
    fn plan_groups(&mut self, sc: &Scope<'a, 'o>) -> (BTreeSet<&'a str>, BTreeSet<&'o str>) {
        let desired = self.ix.desired;
        let switches = *self.app.switches();
        let Scope {
            bound,
            repo_groups,
            live_group,
            ..
        } = sc;
        // ---- groups: create / update / delete ----
        let mut present_groups: BTreeSet<&str> = BTreeSet::new();
        for (&g, &policy) in bound {
            let dg = &desired.groups[self.ix.group_idx[g] as usize];
            if dg.kind == Some(crate::desired::GroupKind::Repository) {
                continue; // provisions its members; no live group
            }
            let want_desc = normalize(dg.description.as_deref());
            match live_group.get(g) {
                None => {
                    if !switches.create_groups {
                        self.skip(
                            ObjectKind::Group,
                            g,
                            Action::Create,
                            "create_groups",
                            "create the group (and its memberships)",
                        );
                        continue;
                    }
                    present_groups.insert(g);
                    if dg.kind == Some(crate::desired::GroupKind::Microsoft365)
                        && let Some(d) = self.deleted_group(g)
                    {
                        let have = normalize(d.description.as_deref());
                        let mut before =
                            BTreeMap::from([("name".to_string(), Value::String(d.name.clone()))]);
                        let mut after =
                            BTreeMap::from([("name".to_string(), Value::String(g.to_string()))]);
                        if want_desc != have {
                            before.insert("description".to_string(), opt_value(have.as_deref()));
                            after
                                .insert("description".to_string(), opt_value(want_desc.as_deref()));
                        }
                        self.change(
                            Target::Group(g.to_string()),
                            Action::Restore,
                            Some(&d.id),
                            Some(before),
                            Some(after),
                            format!(
                                "bound to {} by policy {policy}; the Microsoft 365 group is in \
                                 the deleted items, so it is restored (mailbox, files and \
                                 members come back) instead of created again",
                                self.name
                            ),
                        );
                        continue;
                    }
                    let mut after = BTreeMap::new();
                    after.insert("name".to_string(), Value::String(g.to_string()));
                    if let Some(d) = &want_desc {
                        after.insert("description".to_string(), Value::String(d.clone()));
                    }
                    let kind = match dg.kind.unwrap_or_default() {
                        crate::desired::GroupKind::Security
                        | crate::desired::GroupKind::Repository => "security",
                        crate::desired::GroupKind::Microsoft365 => "microsoft365",
                    };
                    after.insert("kind".to_string(), Value::String(kind.to_string()));
                    self.change(
                        Target::Group(g.to_string()),
                        Action::Create,
                        None,
                        None,
                        Some(after),
                        format!("bound to {} by policy {policy}; not found live", self.name),
                    );
                }
                Some((lg, scoped)) => {
                    if !scoped {
                        // Only possible when ignored; bound ignored groups were removed above.
                        continue;
                    }
                    if let Some(r) = &lg.restriction {
                        let allowed = matches!(r, GroupRestriction::RoleAssignable)
                            && matches!(self.app, App::Office365(a) if a.manage_role_assignable_groups);
                        if !allowed {
                            let hint = match r {
                                GroupRestriction::RoleAssignable => {
                                    "; once the app holds RoleManagement.ReadWrite.Directory, set \
                                     `manage_role_assignable_groups: true` on it"
                                }
                                _ => "; remove the group from the policy",
                            };
                            self.acc.problems.push(format!(
                                "app {}: group {g} is bound by policy {policy}, but its live \
                                 group (id {}) is {}: roster cannot manage its members{hint}",
                                self.name,
                                lg.id,
                                r.describe()
                            ));
                            continue;
                        }
                    }
                    present_groups.insert(g);
                    let have = normalize(lg.description.as_deref());
                    if want_desc != have {
                        self.change(
                            Target::Group(g.to_string()),
                            Action::Update,
                            Some(&lg.id),
                            Some(BTreeMap::from([(
                                "description".to_string(),
                                opt_value(have.as_deref()),
                            )])),
                            Some(BTreeMap::from([(
                                "description".to_string(),
                                opt_value(want_desc.as_deref()),
                            )])),
                            "description differs from the repository".to_string(),
                        );
                    }
                }
            }
        }
        let mut deleted_group_ids: BTreeSet<&'o str> = BTreeSet::new();
        for (&name, &(lg, scoped)) in live_group {
            if !scoped || bound.contains_key(name) {
                continue;
            }
            let why = if repo_groups.contains(name) {
                format!(
                    "group {name} is live in the scope of {} but not bound to it by any policy",
                    self.name
                )
            } else {
                format!(
                    "live in the scope of {} but not in the repository",
                    self.name
                )
            };
            // Graph cannot delete groups Exchange manages (group-delete.md), and a
            // role-assignable group's delete revokes its role: both are left alone
            // (the latter unless the app manages role-assignable groups).
            let manages_roles =
                matches!(self.app, App::Office365(a) if a.manage_role_assignable_groups);
            if switches.delete_groups
                && let Some(r) = &lg.restriction
                && match r {
                    GroupRestriction::MailEnabledSecurity | GroupRestriction::Distribution => true,
                    GroupRestriction::RoleAssignable => !manages_roles,
                    GroupRestriction::Dynamic { .. } => false,
                }
            {
                self.protected(
                    ObjectKind::Group,
                    name,
                    Action::Delete,
                    format!("{why}; it is {}, so it is left alone", r.describe()),
                );
                continue;
            }
            if switches.delete_groups {
                deleted_group_ids.insert(lg.id.as_str());
                self.change(
                    Target::Group(name.to_string()),
                    Action::Delete,
                    Some(&lg.id),
                    None,
                    None,
                    why,
                );
            } else {
                self.skip(
                    ObjectKind::Group,
                    name,
                    Action::Delete,
                    "delete_groups",
                    &format!("delete the group ({why})"),
                );
            }
        }

        self.plan_duplicate_groups(sc, &mut deleted_group_ids);
        (present_groups, deleted_group_ids)
    }

    /// Duplicates of a bound group's name: one that roster created (it carries a
    /// roster key, see [`crate::observed::roster_group_key`]) and that holds no members
    /// is removed, as any group delete, under `delete_groups`; any other is reported and
    /// left alone, since it may be someone else's.
    fn plan_duplicate_groups(&mut self, sc: &Scope<'a, 'o>, deleted: &mut BTreeSet<&'o str>) {
        let switches = *self.app.switches();
        for &(dup, managed) in &sc.duplicate_groups {
            let ours = dup
                .unique_name
                .as_deref()
                .is_some_and(crate::observed::is_roster_key);
            // Member lists are read for bound groups only: elsewhere "no members" is
            // not known.
            let bound = sc.bound.contains_key(dup.name.as_str());
            if !ours || !bound || !dup.member_ids.is_empty() {
                let why = if !ours {
                    "roster did not create it"
                } else if !bound {
                    "the group is not bound to this app"
                } else {
                    "it has members"
                };
                self.warn(format!(
                    "several live groups are named {}; only id {} is managed, id {} is left \
                     alone ({why})",
                    dup.name, managed.id, dup.id
                ));
                continue;
            }
            let why = format!(
                "a duplicate of group {} (id {}) that roster created (uniqueName {}) and that \
                 holds no members",
                dup.name,
                managed.id,
                dup.unique_name.as_deref().unwrap_or_default()
            );
            if switches.delete_groups {
                deleted.insert(dup.id.as_str());
                self.change(
                    Target::Group(dup.name.clone()),
                    Action::Delete,
                    Some(&dup.id),
                    None,
                    None,
                    why,
                );
            } else {
                self.skip(
                    ObjectKind::Group,
                    &dup.name,
                    Action::Delete,
                    "delete_groups",
                    &format!("delete group id {} ({why})", dup.id),
                );
            }
        }
    }

    /// Adds and removes members of the bound groups that exist or are being created.
    fn plan_memberships(
        &mut self,
        sc: &Scope<'a, 'o>,
        users: &UserPass<'o>,
        present_groups: &BTreeSet<&'a str>,
        deleted_user_ids: &BTreeSet<&'o str>,
        deleted_group_ids: &BTreeSet<&'o str>,
    ) {
        let desired = self.ix.desired;
        let switches = *self.app.switches();
        let Scope {
            ignore,
            bound_members,
            login_to_username,
            live_by_login,
            live_group,
            ..
        } = sc;
        let UserPass {
            present_users,
            live_id_of,
            ..
        } = users;
        // ---- memberships of bound groups ----
        // How each live object appears as a member: its name, or None when it is left
        // alone (outside the scope — ignored, a guest, another domain —, a duplicate, or
        // deleted by this plan anyway).
        let mut member_name: HashMap<&'o str, Option<String>> =
            HashMap::with_capacity(self.obs.users.len() + self.obs.groups.len());
        for (lower, lu) in live_by_login {
            let id = lu.user.id.as_str();
            let name = (lu.in_scope && !deleted_user_ids.contains(id)).then(|| {
                login_to_username
                    .get(lower)
                    .map(|s| s.to_string())
                    .unwrap_or_else(|| lu.user.login.clone())
            });
            member_name.insert(id, name);
        }
        // A live account linked to a repository user by its anchor (a rename) is a
        // member under the repository's name, so a rename moves no membership.
        for (u, id) in live_id_of.iter().enumerate() {
            if let Some(id) = id
                && let Some(Some(name)) = member_name.get_mut(id)
            {
                let username = &desired.users[u].username;
                if name != username {
                    *name = username.clone();
                }
            }
        }
        for g in &self.obs.groups {
            let id = g.id.as_str();
            if member_name.contains_key(id) {
                continue; // a user with the same id, or a duplicate id: the first one wins
            }
            let name = (!ignore.is_match(&g.name) && !deleted_group_ids.contains(id))
                .then(|| format!("group:{}", g.name));
            member_name.insert(id, name);
        }
        // The comparison of each bound group's wanted and live members is independent
        // of the others and is most of this step's work on a large tenant: it runs on
        // every core, and the changes are then made in group order, as before.
        let groups: Vec<(&'a str, &[u32])> = bound_members
            .iter()
            .filter(|(g, _)| present_groups.contains(*g))
            .map(|(&g, m)| (g, m.as_slice()))
            .collect();
        let member_name = &member_name;
        let diff = |&(g, members): &(&'a str, &[u32])| {
            // Desired: provisioned, present users that are transitive members.
            let mut want: Vec<(&'a str, Option<&'o str>)> = members
                .iter()
                .filter(|u| present_users[**u as usize])
                .map(|u| {
                    (
                        desired.users[*u as usize].username.as_str(),
                        live_id_of[*u as usize],
                    )
                })
                .collect();
            want.sort_unstable();
            // Live: member ids mapped back to names; unknown ids are left alone.
            let mut have: Vec<(&str, &'o str)> = Vec::new();
            if let Some((lg, _)) = live_group.get(g) {
                for id in &lg.member_ids {
                    if let Some(Some(name)) = member_name.get(id.as_str()) {
                        have.push((name.as_str(), id.as_str()));
                    }
                }
            }
            have.sort_unstable();
            let (mut i, mut j) = (0, 0);
            let mut adds = Vec::new();
            let mut removes = Vec::new();
            while i < want.len() || j < have.len() {
                match (want.get(i), have.get(j)) {
                    (Some(w), Some(h)) if w.0 == h.0 => {
                        i += 1;
                        j += 1;
                    }
                    (Some(w), Some(h)) if w.0 < h.0 => {
                        adds.push(*w);
                        i += 1;
                    }
                    (Some(w), None) => {
                        adds.push(*w);
                        i += 1;
                    }
                    (_, Some(h)) => {
                        removes.push(*h);
                        j += 1;
                    }
                    (None, None) => break,
                }
            }
            (adds, removes)
        };
        let diffs = parallel_map(&groups, diff);
        for (&(g, _), (adds, removes)) in groups.iter().zip(diffs) {
            for (m, live_id) in adds {
                if switches.sync_memberships {
                    self.change(
                        Target::Membership(MembershipKey {
                            group: g.to_string(),
                            member: Member::parse(m),
                        }),
                        Action::Add,
                        live_id,
                        None,
                        None,
                        format!("{m} is a member of {g} in the repository"),
                    );
                } else {
                    self.skip(
                        ObjectKind::Membership,
                        &format!("{g}/{m}"),
                        Action::Add,
                        "sync_memberships",
                        "add the member",
                    );
                }
            }
            let additive = desired.groups[self.ix.group_idx[g] as usize].membership
                == Some(crate::desired::MembershipMode::Additive);
            let expired = &self.ix.expired;
            let removes: Vec<_> = removes
                .into_iter()
                .filter(|(m, _)| !additive || expired.contains_key(&(g, *m)))
                .collect();
            for (m, id) in removes {
                if switches.sync_memberships {
                    let reason = match self.ix.expired.get(&(g, m)) {
                        Some(date) => {
                            format!(
                                "membership expired on {date}: {m} is no longer a member of {g}"
                            )
                        }
                        None => format!("{m} is not a member of {g} in the repository"),
                    };
                    self.change(
                        Target::Membership(MembershipKey {
                            group: g.to_string(),
                            member: Member::parse(m),
                        }),
                        Action::Remove,
                        Some(id),
                        None,
                        None,
                        reason,
                    );
                } else {
                    self.skip(
                        ObjectKind::Membership,
                        &format!("{g}/{m}"),
                        Action::Remove,
                        "sync_memberships",
                        "remove the member",
                    );
                }
            }
        }
    }

    /// Counts deletes + disables against the app's limit.
    fn deletion_guard(&mut self, scope_users: usize) {
        // ---- deletion guard ----
        let guard_deletes = self
            .acc
            .changes
            .iter()
            .filter(|c| c.app == self.name && c.counts_against_deletion_guard())
            .count();
        let (limit, source) = match self.app.max_deletes() {
            Some(m) => (m as usize, "max_deletes".to_string()),
            None => (
                std::cmp::max(25, scope_users / 10),
                format!("the default: 25 or 10% of the {scope_users} users in scope"),
            ),
        };
        let guard = DeletionGuard {
            app: self.name.to_string(),
            deletes: guard_deletes,
            limit,
        };
        if guard.exceeded() {
            self.warn(format!(
                "DELETION GUARD: this plan deletes or disables {} objects in app {}, more than \
                 the limit of {limit} ({source}); apply will refuse it unless --allow-deletes {} \
                 is given",
                guard.deletes, self.name, guard.deletes
            ));
        }
        self.acc.guards.push(guard);
    }

    fn warn_location(&mut self, user: &User) {
        self.warn(format!(
            "user {} has licenses but no usage_location; Office 365 requires a usage location \
             before a license is assigned, so no license is assigned to it",
            user.username
        ));
    }

    fn license(&mut self, user: &User, id: Option<&str>, sku: &str, action: Action) {
        let reason = match action {
            Action::Add => format!(
                "license {sku} is listed for {} in the repository",
                user.username
            ),
            _ => format!(
                "license {sku} is not listed for {} in the repository",
                user.username
            ),
        };
        self.change(
            Target::License {
                user: user.username.clone(),
                sku: sku.to_string(),
            },
            action,
            id,
            None,
            None,
            reason,
        );
    }
}

/// `items.iter().map(f).collect()`, the items split into contiguous runs over the
/// available cores when there are enough of them to be worth a thread. The results
/// come back in item order whatever the number of threads, so the caller's output
/// cannot depend on it; `f` is pure (it only reads what it is given).
fn parallel_map<T: Sync, R: Send>(items: &[T], f: impl Fn(&T) -> R + Sync) -> Vec<R> {
    /// Fewer items than this per thread are not worth a thread's start.
    const MIN_PER_THREAD: usize = 512;
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(8)
        .min(items.len() / MIN_PER_THREAD);
    if threads <= 1 {
        return items.iter().map(f).collect();
    }
    let run = items.len().div_ceil(threads);
    let f = &f;
    std::thread::scope(|scope| {
        let workers: Vec<_> = items
            .chunks(run)
            .map(|part| scope.spawn(move || part.iter().map(f).collect::<Vec<R>>()))
            .collect();
        let mut out = Vec::with_capacity(items.len());
        for w in workers {
            // A worker panicking is a bug; re-raise it on this thread.
            out.extend(w.join().unwrap_or_else(|p| std::panic::resume_unwind(p)));
        }
        out
    })
}

#[cfg(test)]
mod tests {
    use super::parallel_map;

    #[test]
    fn parallel_map_keeps_item_order_at_every_size() {
        for n in [0, 1, 511, 512, 1024, 1025, 5_000, 20_001] {
            let items: Vec<usize> = (0..n).collect();
            let got = parallel_map(&items, |i| i * 3 + 1);
            let want: Vec<usize> = items.iter().map(|i| i * 3 + 1).collect();
            assert_eq!(got, want, "{n} items");
        }
    }
}
