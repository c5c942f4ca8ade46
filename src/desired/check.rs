//! Checks across the merged desired state: duplicate names (naming both places),
//! dangling references, membership cycles (naming the cycle) and the
//! authorized-domains warning, and (in [`super::limits`]) the directories' limits on
//! the values bound to their apps. Every finding carries a source position from the
//! [`SourceMap`] recorded while converting.

use std::cell::Cell;
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use super::convert::suggest;
use super::{Diagnostic, Loc, ObjLoc, Severity, SourceMap};
use crate::desired::model::*;

pub(super) fn diag(
    loc: impl std::borrow::Borrow<Loc>,
    severity: Severity,
    message: String,
) -> Diagnostic {
    let loc = loc.borrow();
    Diagnostic {
        file: loc.file.to_string(),
        line: loc.line,
        col: loc.col,
        severity,
        message: super::clip_message(message),
    }
}

fn field(o: &ObjLoc, key: &str) -> Loc {
    o.field(key)
}

fn item(o: &ObjLoc, key: &str, i: usize) -> Loc {
    o.item(key, i)
}

/// A set of defined names: O(1) lookups, and "did you mean" suggestions over the
/// sorted names (deterministic) within a total comparison budget, so that thousands
/// of dangling references against a large repository stay fast.
struct Names<'a> {
    set: HashSet<&'a str>,
    sorted: Vec<&'a str>,
    budget: Cell<usize>,
}

impl<'a> Names<'a> {
    fn new(names: impl Iterator<Item = &'a str>) -> Self {
        let set: HashSet<&str> = names.collect();
        let mut sorted: Vec<&str> = set.iter().copied().collect();
        sorted.sort_unstable();
        Names {
            set,
            sorted,
            budget: Cell::new(2_000_000),
        }
    }
    fn contains(&self, name: &str) -> bool {
        self.set.contains(name)
    }
    fn suggest(&self, word: &str) -> Option<&'a str> {
        let left = self.budget.get();
        if left < self.sorted.len() {
            return None;
        }
        self.budget.set(left - self.sorted.len());
        suggest(word, self.sorted.iter().copied())
    }
}

/// Report every name seen before (case-insensitively), naming the first place.
/// `names` yields each name with its object's index; `loc_of` gives an object's
/// position, asked for only when a duplicate is reported (a million users are
/// compared without a million positions or lower-cased copies).
fn duplicates<'a>(
    kind: &str,
    names: impl Iterator<Item = (&'a str, usize)>,
    loc_of: impl Fn(usize) -> Loc,
    out: &mut Vec<Diagnostic>,
) {
    use std::borrow::Cow;
    let names = names.into_iter();
    let mut seen: HashMap<Cow<'a, str>, (&str, usize)> =
        HashMap::with_capacity(names.size_hint().0);
    for (name, i) in names {
        // Most names are already lower case: borrowed, not copied.
        let key: Cow<'a, str> = if name
            .bytes()
            .any(|b| !b.is_ascii_lowercase() && !b.is_ascii_digit() && !b".-_@".contains(&b))
        {
            Cow::Owned(name.to_lowercase())
        } else {
            Cow::Borrowed(name)
        };
        match seen.get(&key) {
            Some((first, first_i)) => {
                let same = if *first == name {
                    String::new()
                } else {
                    format!(" as `{first}`")
                };
                let first_loc = loc_of(*first_i);
                out.push(diag(
                    loc_of(i),
                    Severity::Error,
                    format!(
                        "duplicate {kind} `{name}`: already defined at {}:{}:{}{same}",
                        first_loc.file, first_loc.line, first_loc.col
                    ),
                ));
            }
            None => {
                seen.insert(key, (name, i));
            }
        }
    }
}

/// Run all cross-object checks.
pub fn check(
    state: &DesiredState,
    locs: &SourceMap,
    app_decls: &[(String, Loc)],
    out: &mut Vec<Diagnostic>,
) {
    duplicates(
        "app name",
        app_decls
            .iter()
            .enumerate()
            .map(|(i, (n, _))| (n.as_str(), i)),
        |i| app_decls[i].1.clone(),
        out,
    );
    let n_users = state.users.len().min(locs.users.len());
    duplicates(
        "username",
        state.users[..n_users]
            .iter()
            .enumerate()
            .map(|(i, u)| (u.username.as_str(), i)),
        |i| field(&locs.users[i], "username"),
        out,
    );
    duplicates(
        "email",
        state.users[..n_users]
            .iter()
            .enumerate()
            .filter(|(_, u)| !u.email.is_empty())
            .map(|(i, u)| (u.email.as_str(), i)),
        |i| field(&locs.users[i], "email"),
        out,
    );
    credential_secrets_are_not_passwords(state, locs, out);
    let n_groups = state.groups.len().min(locs.groups.len());
    duplicates(
        "group name",
        state.groups[..n_groups]
            .iter()
            .enumerate()
            .map(|(i, g)| (g.name.as_str(), i)),
        |i| field(&locs.groups[i], "name"),
        out,
    );
    let n_policies = state.policies.len().min(locs.policies.len());
    duplicates(
        "policy name",
        state.policies[..n_policies]
            .iter()
            .enumerate()
            .map(|(i, p)| (p.name.as_str(), i)),
        |i| field(&locs.policies[i], "name"),
        out,
    );

    let users = Names::new(state.users.iter().map(|u| u.username.as_str()));
    let groups = Names::new(state.groups.iter().map(|g| g.name.as_str()));
    let apps = Names::new(app_decls.iter().map(|(n, _)| n.as_str()));

    // Dangling member references, and the group → nested group edges for cycles.
    let mut owned_edges: Vec<(String, String, Loc)> = Vec::new();
    // Which member lists need the walk below (a member that is not a defined user, or
    // a nested group): found on every core first, since at a million users there are
    // tens of millions of references, nearly all of them plain defined users.
    let group_walk = lists_to_walk(&users.set, state.groups.iter().map(|g| &g.members[..]));
    let membership_walk = lists_to_walk(&users.set, state.memberships.iter().map(|m| &m.users[..]));
    for ((g, l), walk) in state.groups.iter().zip(&locs.groups).zip(&group_walk) {
        if !walk {
            continue;
        }
        let what = format!("group `{}`", g.name);
        for (to, loc) in member_refs(&users, &groups, &what, "members", &g.members, l, out) {
            owned_edges.push((g.name.clone(), to, loc));
        }
    }
    for (mi, (m, l)) in state.memberships.iter().zip(&locs.memberships).enumerate() {
        let what = format!("membership of group `{}`", m.group);
        if !m.group.is_empty() && !groups.contains(m.group.as_str()) {
            let hint = match groups.suggest(&m.group) {
                Some(s) => format!(" (did you mean `{s}`?)"),
                None => String::new(),
            };
            out.push(diag(
                field(l, "group"),
                Severity::Error,
                format!(
                    "membership refers to group `{}`, which is not defined{hint}",
                    m.group
                ),
            ));
        }
        if !membership_walk.get(mi).copied().unwrap_or(true) {
            continue;
        }
        for (to, loc) in member_refs(&users, &groups, &what, "users", &m.users, l, out) {
            if groups.contains(m.group.as_str()) {
                owned_edges.push((m.group.clone(), to, loc));
            }
        }
    }
    for (p, l) in state.policies.iter().zip(&locs.policies) {
        if !p.app.is_empty() && !apps.contains(p.app.as_str()) {
            let hint = match apps.suggest(&p.app) {
                Some(s) => format!(" (did you mean `{s}`?)"),
                None => String::new(),
            };
            out.push(diag(
                field(l, "app"),
                Severity::Error,
                format!(
                    "policy `{}` refers to app `{}`, which is not defined{hint}",
                    p.name, p.app
                ),
            ));
        }
        for (i, g) in p.groups.iter().enumerate() {
            if let Some(bare) = g.strip_prefix("group:") {
                out.push(diag(
                    item(l, "groups", i),
                    Severity::Error,
                    format!(
                        "policy `{}` lists `{g}`: policy groups are plain group names; write `{bare}`",
                        p.name
                    ),
                ));
                continue;
            }
            let name = g.as_str();
            if !groups.contains(name) {
                let hint = match groups.suggest(name) {
                    Some(s) => format!(" (did you mean `{s}`?)"),
                    None => String::new(),
                };
                out.push(diag(
                    item(l, "groups", i),
                    Severity::Error,
                    format!(
                        "policy `{}` refers to group `{g}`, which is not defined{hint}",
                        p.name
                    ),
                ));
            }
        }
    }

    let mut edges: BTreeMap<&str, Vec<(&str, &Loc)>> = BTreeMap::new();
    for (from, to, loc) in &owned_edges {
        edges
            .entry(from.as_str())
            .or_default()
            .push((to.as_str(), loc));
    }
    cycles(&edges, out);
    domain_warnings(state, locs, out);
    super::limits::check(state, locs, out);
    super::mapping_check::check(state, locs, out);
}

/// For each member list, whether [`member_refs`] has anything to do: a member that
/// is not a defined user, or a nested group. Read-only, on the available cores.
fn lists_to_walk<'a>(
    users: &HashSet<&str>,
    lists: impl Iterator<Item = &'a [MemberName]>,
) -> Vec<bool> {
    let lists: Vec<&[MemberName]> = lists.collect();
    let walk = |list: &[MemberName]| {
        list.iter().any(|m| match parse_member(m) {
            MemberRef::User(u) => !u.trim().is_empty() && !users.contains(u),
            MemberRef::Group(g) => !g.is_empty(),
        })
    };
    let threads = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
        .min(8);
    if threads <= 1 || lists.len() < 1024 {
        return lists.iter().map(|l| walk(l)).collect();
    }
    let chunk = lists.len().div_ceil(threads);
    std::thread::scope(|scope| {
        let workers: Vec<_> = lists
            .chunks(chunk)
            .map(|part| scope.spawn(move || part.iter().map(|l| walk(l)).collect::<Vec<bool>>()))
            .collect();
        workers
            .into_iter()
            .flat_map(|w| w.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
            .collect()
    })
}

/// Report members that are not defined; return the nested groups that are.
fn member_refs(
    users: &Names,
    groups: &Names,
    what: &str,
    key: &str,
    members: &[MemberName],
    l: &ObjLoc,
    out: &mut Vec<Diagnostic>,
) -> Vec<(String, Loc)> {
    let mut nested = Vec::new();
    // The positions of this list, looked up once; a position is made into a `Loc`
    // only for a reported or nested member.
    let positions = l.item_positions(key);
    let loc = |i: usize| match positions.get(i) {
        Some(p) => l.loc(*p),
        None => l.field(key),
    };
    for (i, m) in members.iter().enumerate() {
        match parse_member(m) {
            MemberRef::User(u) => {
                if !u.trim().is_empty() && !users.contains(u) {
                    let hint = match users.suggest(u) {
                        Some(s) => format!(" (did you mean `{s}`?)"),
                        None if groups.contains(u) => {
                            format!(" (to nest the group, write `group:{u}`)")
                        }
                        None => String::new(),
                    };
                    out.push(diag(
                        loc(i),
                        Severity::Error,
                        format!("{what}: member `{u}` is not a defined user{hint}"),
                    ));
                }
            }
            MemberRef::Group(g) => {
                if g.is_empty() {
                    continue;
                }
                if groups.contains(g) {
                    nested.push((g.to_string(), loc(i)));
                } else {
                    let hint = match groups.suggest(g) {
                        Some(s) => format!(" (did you mean `group:{s}`?)"),
                        None => String::new(),
                    };
                    out.push(diag(
                        loc(i),
                        Severity::Error,
                        format!("{what}: member `group:{g}` is not a defined group{hint}"),
                    ));
                }
            }
        }
    }
    nested
}

/// Find every strongly connected component with a cycle (Tarjan, iterative) and
/// report one cycle per component, at the edge that leaves its first group.
fn cycles(edges: &BTreeMap<&str, Vec<(&str, &Loc)>>, out: &mut Vec<Diagnostic>) {
    let nodes: Vec<&str> = {
        let mut s: BTreeSet<&str> = edges.keys().copied().collect();
        for v in edges.values() {
            for (t, _) in v {
                s.insert(t);
            }
        }
        s.into_iter().collect()
    };
    let idx: HashMap<&str, usize> = nodes.iter().enumerate().map(|(i, n)| (*n, i)).collect();
    let adj: Vec<Vec<usize>> = nodes
        .iter()
        .map(|n| {
            edges
                .get(n)
                .map(|v| v.iter().filter_map(|(t, _)| idx.get(t).copied()).collect())
                .unwrap_or_default()
        })
        .collect();
    let n = nodes.len();
    let mut index = vec![usize::MAX; n];
    let mut low = vec![0usize; n];
    let mut on_stack = vec![false; n];
    let mut stack = Vec::new();
    let mut comp = vec![usize::MAX; n];
    let mut ncomp = 0;
    let mut counter = 0;
    for start in 0..n {
        if index[start] != usize::MAX {
            continue;
        }
        let mut call: Vec<(usize, usize)> = vec![(start, 0)];
        index[start] = counter;
        low[start] = counter;
        counter += 1;
        stack.push(start);
        on_stack[start] = true;
        while let Some(&mut (v, ref mut next)) = call.last_mut() {
            if *next < adj[v].len() {
                let w = adj[v][*next];
                *next += 1;
                if index[w] == usize::MAX {
                    index[w] = counter;
                    low[w] = counter;
                    counter += 1;
                    stack.push(w);
                    on_stack[w] = true;
                    call.push((w, 0));
                } else if on_stack[w] {
                    low[v] = low[v].min(index[w]);
                }
            } else {
                call.pop();
                if let Some(&(parent, _)) = call.last() {
                    low[parent] = low[parent].min(low[v]);
                }
                if low[v] == index[v] {
                    while let Some(w) = stack.pop() {
                        on_stack[w] = false;
                        comp[w] = ncomp;
                        if w == v {
                            break;
                        }
                    }
                    ncomp += 1;
                }
            }
        }
    }
    let mut members: Vec<Vec<usize>> = vec![Vec::new(); ncomp];
    for (v, c) in comp.iter().enumerate() {
        if *c != usize::MAX {
            members[*c].push(v);
        }
    }
    for group in members {
        let Some(&first) = group.iter().min() else {
            continue;
        };
        let c = comp[first];
        let self_loop = adj[first].contains(&first);
        if group.len() < 2 && !self_loop {
            continue;
        }
        // Shortest path first → ... → first inside the component (BFS).
        let mut prev: HashMap<usize, usize> = HashMap::new();
        let mut queue = std::collections::VecDeque::from([first]);
        let mut found = self_loop;
        while let Some(v) = queue.pop_front() {
            if found {
                break;
            }
            for &w in &adj[v] {
                if comp[w] != c {
                    continue;
                }
                if w == first {
                    prev.insert(usize::MAX, v);
                    found = true;
                    break;
                }
                if let std::collections::hash_map::Entry::Vacant(e) = prev.entry(w) {
                    e.insert(v);
                    queue.push_back(w);
                }
            }
        }
        let mut path = vec![first];
        if !self_loop {
            let mut cur = prev.get(&usize::MAX).copied();
            let mut back = Vec::new();
            while let Some(v) = cur {
                if v == first {
                    break;
                }
                back.push(v);
                cur = prev.get(&v).copied();
                if back.len() > n {
                    break;
                }
            }
            back.reverse();
            path.extend(back);
        }
        path.push(first);
        let names: Vec<&str> = path.iter().map(|&i| nodes[i]).collect();
        let to = names.get(1).copied().unwrap_or(names[0]);
        let Some(loc) = edges
            .get(nodes[first])
            .and_then(|v| v.iter().find(|(t, _)| *t == to).map(|(_, l)| *l))
        else {
            continue;
        };
        out.push(diag(
            loc,
            Severity::Error,
            format!("membership cycle: {}", names.join(" -> ")),
        ));
    }
}

/// Direct members per group, inline and membership entries together, expiry
/// ignored, borrowed from the state (no copies of the member strings).
/// A secret that an app authenticates with can never be a user's password: otherwise a
/// pull request could set a user's password to the app's own client secret, bind
/// password or token, and learn it by signing in.
fn credential_secrets_are_not_passwords(
    state: &DesiredState,
    locs: &SourceMap,
    out: &mut Vec<Diagnostic>,
) {
    let mut credentials: BTreeMap<&SecretRef, &str> = BTreeMap::new();
    for app in &state.apps {
        let refs: Vec<&SecretRef> = match app {
            App::Office365(a) => match &a.credentials {
                Some(Office365Credentials::ClientSecret(r))
                | Some(Office365Credentials::FederatedToken(r)) => vec![r],
                Some(Office365Credentials::Certificate(c)) => vec![&c.key_file],
                None => vec![],
            },
            App::ActiveDirectory(a) => vec![&a.bind_password],
            App::Ldap(a) => vec![&a.bind_password],
            App::Scim(a) => vec![&a.token],
            App::GoogleWorkspace(a) => a
                .credentials
                .iter()
                .map(|c| &c.service_account_key)
                .collect(),
        };
        for r in refs {
            credentials.entry(r).or_insert(app.name());
        }
    }
    if credentials.is_empty() {
        return;
    }
    for (u, l) in state.users.iter().zip(&locs.users) {
        if let Some(app) = u.password.as_ref().and_then(|p| credentials.get(p)) {
            out.push(diag(
                field(l, "password"),
                Severity::Error,
                format!(
                    "the password of user {} is the secret that app {app} authenticates with; a user's password must be a secret of its own",
                    u.username
                ),
            ));
        }
    }
}

pub(crate) fn direct_refs(state: &DesiredState) -> HashMap<&str, Vec<&str>> {
    let mut out: HashMap<&str, Vec<&str>> = HashMap::new();
    for g in &state.groups {
        out.entry(g.name.as_str())
            .or_default()
            .extend(g.members.iter().map(MemberName::as_str));
    }
    for m in &state.memberships {
        out.entry(m.group.as_str())
            .or_default()
            .extend(m.users.iter().map(MemberName::as_str));
    }
    out
}

/// The users that are transitive members of `group` (cycle-safe).
pub(crate) fn transitive_users<'a>(
    direct: &HashMap<&'a str, Vec<&'a str>>,
    group: &str,
) -> BTreeSet<&'a str> {
    let mut users = BTreeSet::new();
    let mut seen: HashSet<&str> = HashSet::new();
    let mut todo: Vec<&str> = vec![group];
    while let Some(g) = todo.pop() {
        if !seen.insert(g) {
            continue;
        }
        for m in direct.get(g).into_iter().flatten() {
            match parse_member(m) {
                MemberRef::User(u) => {
                    users.insert(u);
                }
                MemberRef::Group(n) => todo.push(n),
            }
        }
    }
    users
}

/// Warn about users bound to an app whose explicit authorized domains exclude them.
fn domain_warnings(state: &DesiredState, locs: &SourceMap, out: &mut Vec<Diagnostic>) {
    // Expiry is ignored here: the warning is about what the files say. The member
    // index is built only when some app's domains leave a user out.
    let mut direct = None;
    // Users outside an app's explicit domains, per app (usually none, so the walk
    // through the bound groups below is skipped).
    let outside = |allowed: &[String]| -> HashSet<&str> {
        state
            .users
            .iter()
            .filter(|u| {
                u.email
                    .rsplit_once('@')
                    .is_some_and(|(_, d)| !allowed.iter().any(|a| a.eq_ignore_ascii_case(d)))
            })
            .map(|u| u.username.as_str())
            .collect()
    };
    let mut outside_by_app: HashMap<&str, HashSet<&str>> = HashMap::new();
    // (app, user) → first bound group through which the user reaches the app.
    let mut reached: BTreeMap<(&str, &str), &str> = BTreeMap::new();
    for p in &state.policies {
        let Some(app) = state.app(&p.app) else {
            continue;
        };
        let Some(allowed) = app.authorized_domains() else {
            continue;
        };
        let out_here = outside_by_app
            .entry(app.name())
            .or_insert_with(|| outside(allowed));
        if out_here.is_empty() {
            continue;
        }
        let mut gs: Vec<&str> = p
            .groups
            .iter()
            .map(|g| g.strip_prefix("group:").unwrap_or(g))
            .collect();
        gs.sort();
        let direct = direct.get_or_insert_with(|| direct_refs(state));
        for g in gs {
            for u in transitive_users(direct, g) {
                if out_here.contains(u) {
                    reached.entry((app.name(), u)).or_insert(g);
                }
            }
        }
    }
    if reached.is_empty() {
        return;
    }
    let user_idx: HashMap<&str, usize> = state
        .users
        .iter()
        .enumerate()
        .map(|(i, u)| (u.username.as_str(), i))
        .collect();
    for ((app_name, username), group) in reached {
        let (Some(app), Some(&i)) = (state.app(app_name), user_idx.get(username)) else {
            continue;
        };
        let user = &state.users[i];
        let Some(domain) = user.email_domain() else {
            continue;
        };
        let allowed = app.authorized_domains().unwrap_or_default();
        if allowed.iter().any(|d| d.eq_ignore_ascii_case(&domain)) {
            continue;
        }
        let Some(l) = locs.users.get(i) else {
            continue;
        };
        out.push(diag(
            field(l, "email"),
            Severity::Warning,
            format!(
                "user `{username}` is bound to app `{app_name}` through group `{group}`, but `{domain}` is not one of the app's authorized domains ({}); the user will not be provisioned there",
                allowed.join(", ")
            ),
        ));
    }
}
