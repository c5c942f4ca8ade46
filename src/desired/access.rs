//! Who is provisioned to which app, and through which policy and group: the one
//! computation behind `roster diff`'s "who gains or loses access", `roster access`
//! and `roster explain`.
//!
//! Pure and deterministic: the date is an argument (`None`: expiry is not evaluated,
//! an expiring membership counts as present), no live state, no hash-map order in the
//! results.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use serde::Serialize;

use super::model::*;

/// group → direct member (`alice` or `group:NAME`) → expiry (`None`: permanent), from
/// inline members and membership entries together. A permanent listing wins over
/// time-bound ones; among time-bound ones the latest date wins. With `at`, entries
/// whose `expires` is on or before that day (YYYY-MM-DD, compared as text, as the
/// planner does) are left out.
pub fn edges(
    s: &DesiredState,
    at: Option<&str>,
) -> BTreeMap<String, BTreeMap<String, Option<String>>> {
    let mut out: BTreeMap<String, BTreeMap<String, Option<String>>> = BTreeMap::new();
    for g in &s.groups {
        let e = out.entry(g.name.clone()).or_default();
        for m in &g.members {
            e.insert(m.to_string(), None);
        }
    }
    for m in &s.memberships {
        if let (Some(exp), Some(at)) = (&m.expires, at)
            && exp.as_str() <= at
        {
            out.entry(m.group.clone()).or_default();
            continue;
        }
        let e = out.entry(m.group.clone()).or_default();
        for u in &m.users {
            match e.get(u.as_str()) {
                Some(None) => {}
                Some(Some(old)) => {
                    let new = match &m.expires {
                        None => None,
                        Some(d) if d > old => Some(d.clone()),
                        Some(_) => Some(old.clone()),
                    };
                    e.insert(u.to_string(), new);
                }
                None => {
                    e.insert(u.to_string(), m.expires.clone());
                }
            }
        }
    }
    out
}

/// How a user reaches an app: a policy binding `group`, and the chain of groups from
/// that bound group down to the group that lists the user directly.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Route {
    pub app: String,
    pub user: String,
    pub policy: String,
    /// The group the policy binds.
    pub group: String,
    /// `[bound group, …, group listing the user]` (one element for a direct member).
    pub path: Vec<String>,
    /// The earliest expiry along the path (`None`: permanent).
    pub expires: Option<String>,
    /// False when the app's explicit `authorized_domains` exclude the user's email
    /// domain: the route exists in the files but grants nothing.
    pub domain_ok: bool,
}

/// The users below `group` with the shortest group path to each (ties broken by
/// name, so the result is deterministic) and the earliest expiry on that path.
fn reach(
    edges: &BTreeMap<String, BTreeMap<String, Option<String>>>,
    group: &str,
) -> BTreeMap<String, (Vec<String>, Option<String>)> {
    let mut users: BTreeMap<String, (Vec<String>, Option<String>)> = BTreeMap::new();
    let mut seen: BTreeSet<&str> = BTreeSet::new();
    let mut todo: VecDeque<(&str, Vec<String>, Option<String>)> = VecDeque::new();
    todo.push_back((group, vec![group.to_string()], None));
    while let Some((g, path, exp)) = todo.pop_front() {
        if !seen.insert(g) {
            continue;
        }
        let Some(members) = edges.get(g) else {
            continue;
        };
        for (m, e) in members {
            let exp = earliest(exp.clone(), e.clone());
            match parse_member(m) {
                MemberRef::User(u) => {
                    users
                        .entry(u.to_string())
                        .or_insert_with(|| (path.clone(), exp));
                }
                MemberRef::Group(n) => {
                    let mut p = path.clone();
                    p.push(n.to_string());
                    todo.push_back((n, p, exp));
                }
            }
        }
    }
    users
}

fn earliest(a: Option<String>, b: Option<String>) -> Option<String> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// Every route of every repository user to every app, sorted by app, user, policy
/// and group. Users who do not exist in the repository are left out (validation
/// reports them).
pub fn routes(s: &DesiredState, at: Option<&str>) -> Vec<Route> {
    let edges = edges(s, at);
    let users = s.user_index();
    let mut out = Vec::new();
    for p in &s.policies {
        let Some(app) = s.app(&p.app) else {
            continue;
        };
        let domains = app.authorized_domains();
        for g in &p.groups {
            let g = g.strip_prefix("group:").unwrap_or(g);
            for (u, (path, expires)) in reach(&edges, g) {
                let Some(user) = users.get(u.as_str()) else {
                    continue;
                };
                let domain_ok = match domains {
                    None => true,
                    Some(ds) => {
                        let dom = user.email_domain().unwrap_or_default();
                        ds.iter().any(|d| d.eq_ignore_ascii_case(&dom))
                    }
                };
                out.push(Route {
                    app: app.name().to_string(),
                    user: u,
                    policy: p.name.clone(),
                    group: g.to_string(),
                    path,
                    expires,
                    domain_ok,
                });
            }
        }
    }
    out.sort();
    out.dedup();
    out
}

/// app → user → bound groups granting access (explicit authorized domains applied).
pub fn by_app(
    s: &DesiredState,
    at: Option<&str>,
) -> BTreeMap<String, BTreeMap<String, BTreeSet<String>>> {
    let mut out: BTreeMap<String, BTreeMap<String, BTreeSet<String>>> = BTreeMap::new();
    for r in routes(s, at).into_iter().filter(|r| r.domain_ok) {
        out.entry(r.app)
            .or_default()
            .entry(r.user)
            .or_default()
            .insert(r.group);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state(yaml: &str) -> DesiredState {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("r.yaml"), yaml).unwrap();
        let l = crate::desired::load(dir.path(), None).unwrap();
        assert!(!l.has_errors(), "{:?}", l.diagnostics);
        l.state
    }

    const REPO: &str = "\
apps:
  - name: scim
    type: scim
    url: https://scim.example.com/scim/v2
    token: { env: T }
    authorized_domains: [example.com]
users:
  - { username: alice, email: alice@example.com, first_name: A, last_name: S }
  - { username: bob, email: bob@example.com, first_name: B, last_name: J }
  - { username: eve, email: eve@other.org, first_name: E, last_name: X }
groups:
  - { name: staff, members: ['group:sales'] }
  - { name: sales, members: [alice, eve] }
  - { name: temps }
memberships:
  - { group: temps, users: [bob], expires: '2027-03-01' }
  - { group: sales, users: ['group:temps'] }
policies:
  - { name: p, app: scim, groups: [staff] }
";

    #[test]
    fn nested_paths_expiry_and_domains() {
        let s = state(REPO);
        let r = routes(&s, None);
        let alice = r.iter().find(|r| r.user == "alice").unwrap();
        assert_eq!(alice.path, ["staff", "sales"]);
        assert_eq!(alice.expires, None);
        let bob = r.iter().find(|r| r.user == "bob").unwrap();
        assert_eq!(bob.path, ["staff", "sales", "temps"]);
        assert_eq!(bob.expires.as_deref(), Some("2027-03-01"));
        assert!(!r.iter().find(|r| r.user == "eve").unwrap().domain_ok);
        // On the expiry day bob's membership counts as absent.
        let later = by_app(&s, Some("2027-03-01"));
        assert_eq!(later["scim"].keys().collect::<Vec<_>>(), ["alice"]);
        let before = by_app(&s, Some("2027-02-28"));
        assert_eq!(before["scim"].keys().collect::<Vec<_>>(), ["alice", "bob"]);
    }
}
