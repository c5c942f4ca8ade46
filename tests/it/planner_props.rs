//! The planner's convergence property (issue 4): for random desired and observed
//! states, applying the plan's changes to the observed state in memory and planning
//! again gives an empty plan; and planning twice gives identical plans.

use crate::planner_support as support;

use std::collections::BTreeMap;

use proptest::prelude::*;
use roster::desired::DesiredState;
use roster::observed::{ObservedApp, ObservedGroup, ObservedUser};
use roster::plan::simulate::apply_in_memory;
use support::*;

const N_USERS: usize = 6;
const N_GROUPS: usize = 4;
const WORDS: &[&str] = &["", "Ann", "Bo", " Ann ", "Sales"];

#[derive(Debug, Clone)]
struct DUser {
    domain: u8,
    enabled: bool,
    dept: u8,
    location: bool,
    licenses: u8,
    password: bool,
}

#[derive(Debug, Clone)]
struct LUser {
    present: bool,
    upper: bool,
    enabled: bool,
    first: u8,
    dept: u8,
    email_ok: bool,
    licenses: u8,
}

#[derive(Debug, Clone)]
struct LGroup {
    present: bool,
    desc: u8,
    members: Vec<u8>,
}

#[derive(Debug, Clone)]
struct Scenario {
    ad: bool,
    switches: Vec<bool>,
    ignore: bool,
    users: Vec<DUser>,
    group_users: Vec<Vec<u8>>,
    group_nest: Vec<Vec<u8>>,
    group_desc: Vec<u8>,
    memberships: Vec<(u8, u8, u8)>,
    bound: Vec<bool>,
    live_users: Vec<LUser>,
    live_groups: Vec<LGroup>,
}

fn scenario() -> impl Strategy<Value = Scenario> {
    let duser = (
        0u8..3,
        any::<bool>(),
        0u8..5,
        any::<bool>(),
        0u8..4,
        any::<bool>(),
    )
        .prop_map(
            |(domain, enabled, dept, location, licenses, password)| DUser {
                domain,
                enabled,
                dept,
                location,
                licenses,
                password,
            },
        );
    let luser = (
        any::<bool>(),
        any::<bool>(),
        any::<bool>(),
        0u8..5,
        0u8..5,
        any::<bool>(),
        0u8..4,
    )
        .prop_map(
            |(present, upper, enabled, first, dept, email_ok, licenses)| LUser {
                present,
                upper,
                enabled,
                first,
                dept,
                email_ok,
                licenses,
            },
        );
    let lgroup = (any::<bool>(), 0u8..3, prop::collection::vec(0u8..16, 0..6)).prop_map(
        |(present, desc, members)| LGroup {
            present,
            desc,
            members,
        },
    );
    (
        any::<bool>(),
        prop::collection::vec(any::<bool>(), 8),
        any::<bool>(),
        prop::collection::vec(duser, N_USERS),
        prop::collection::vec(prop::collection::vec(0u8..N_USERS as u8, 0..4), N_GROUPS),
        prop::collection::vec(prop::collection::vec(0u8..N_GROUPS as u8, 0..2), N_GROUPS),
        prop::collection::vec(0u8..3, N_GROUPS),
        prop::collection::vec((0u8..N_GROUPS as u8, 0u8..N_USERS as u8, 0u8..4), 0..5),
        prop::collection::vec(any::<bool>(), N_GROUPS),
        prop::collection::vec(luser, 10),
        prop::collection::vec(lgroup, 6),
    )
        .prop_map(
            |(
                ad,
                switches,
                ignore,
                users,
                group_users,
                group_nest,
                group_desc,
                memberships,
                bound,
                live_users,
                live_groups,
            )| Scenario {
                ad,
                switches,
                ignore,
                users,
                group_users,
                group_nest,
                group_desc,
                memberships,
                bound,
                live_users,
                live_groups,
            },
        )
}

const DOMAINS: &[&str] = &["contoso.com", "CONTOSO.com", "fabrikam.com"];
const SKUS: &[&str] = &["E3", "E5"];

fn skus_of(mask: u8) -> Vec<&'static str> {
    SKUS.iter()
        .enumerate()
        .filter(|(i, _)| mask & (1 << i) != 0)
        .map(|(_, s)| *s)
        .collect()
}

fn build(s: &Scenario) -> (DesiredState, BTreeMap<String, ObservedApp>) {
    let names = [
        "create_users",
        "update_users",
        "delete_users",
        "password_sync",
        "enable_disable_users",
        "create_groups",
        "delete_groups",
        "sync_memberships",
    ];
    let switches: Vec<String> = names
        .iter()
        .zip(&s.switches)
        .map(|(n, v)| format!("{n}: {v}"))
        .collect();
    let mut y = String::from("apps:\n  - name: app\n");
    if s.ad {
        y.push_str(
            "    type: active_directory\n    url: ldaps://dc:636\n    base_dn: DC=x\n    \
             users_ou: OU=U,DC=x\n    groups_ou: OU=G,DC=x\n    bind_dn: CN=s,DC=x\n    \
             bind_password: { env: PW }\n",
        );
    } else {
        y.push_str("    type: office365\n");
    }
    y.push_str("    authorized_domains: [contoso.com]\n");
    y.push_str(&format!("    switches: {{ {} }}\n", switches.join(", ")));
    if s.ignore {
        y.push_str("    ignore: ['U5*', 'x1']\n");
    }
    y.push_str("users:\n");
    for (i, u) in s.users.iter().enumerate() {
        y.push_str(&format!(
            "  - username: u{i}\n    email: u{i}@{}\n    first_name: Ann\n    last_name: Bo\n    enabled: {}\n",
            DOMAINS[u.domain as usize], u.enabled
        ));
        if !WORDS[u.dept as usize].trim().is_empty() {
            y.push_str(&format!("    department: '{}'\n", WORDS[u.dept as usize]));
        }
        if u.location {
            y.push_str("    usage_location: US\n");
        }
        let l = skus_of(u.licenses);
        if !l.is_empty() {
            y.push_str(&format!("    licenses: [{}]\n", l.join(", ")));
        }
        if u.password {
            y.push_str(&format!("    password: {{ env: PW_{i} }}\n"));
        }
    }
    y.push_str("groups:\n");
    for g in 0..N_GROUPS {
        let mut members: Vec<String> = s.group_users[g].iter().map(|u| format!("u{u}")).collect();
        members.extend(
            s.group_nest[g]
                .iter()
                .filter(|&&c| c as usize > g)
                .map(|c| format!("group:g{c}")),
        );
        y.push_str(&format!(
            "  - name: g{g}\n    members: [{}]\n",
            members.join(", ")
        ));
        if s.group_desc[g] > 0 {
            y.push_str(&format!("    description: 'D{}'\n", s.group_desc[g]));
        }
    }
    y.push_str("memberships:\n  - { group: g0, users: [] }\n");
    for (g, u, e) in &s.memberships {
        let exp = match e {
            0 => String::new(),
            1 => ", expires: '2026-05-01'".into(),
            2 => ", expires: '2026-06-01'".into(),
            _ => ", expires: '2026-07-01'".into(),
        };
        y.push_str(&format!("  - {{ group: g{g}, users: [u{u}]{exp} }}\n"));
    }
    let bound: Vec<String> = (0..N_GROUPS)
        .filter(|g| s.bound[*g])
        .map(|g| format!("g{g}"))
        .collect();
    y.push_str(&format!(
        "policies:\n  - {{ name: p, app: app, groups: [{}] }}\n",
        bound.join(", ")
    ));
    let d = desired(&y);

    // Live users: logins 0..6 are the desired users', 6..10 strangers.
    let mut users = Vec::new();
    for (i, l) in s.live_users.iter().enumerate().filter(|(_, l)| l.present) {
        let (base, domain) = if i < N_USERS {
            (
                format!("u{i}"),
                if i % 3 == 2 {
                    "fabrikam.com"
                } else {
                    "contoso.com"
                },
            )
        } else {
            (
                format!("s{i}"),
                if i % 2 == 0 {
                    "contoso.com"
                } else {
                    "fabrikam.com"
                },
            )
        };
        let login = match (s.ad, l.upper) {
            (true, false) => base.clone(),
            (true, true) => base.to_uppercase(),
            (false, false) => format!("{base}@{domain}"),
            (false, true) => format!("{}@{domain}", base.to_uppercase()),
        };
        let mut attributes = roster::observed::Attributes::new();
        let email = if l.email_ok {
            format!("{base}@{domain}")
        } else {
            format!("{base}@old.example")
        };
        attributes.insert("email".to_string(), email);
        for (k, w) in [("first_name", l.first), ("department", l.dept)] {
            let v = WORDS[w as usize];
            if !v.is_empty() {
                attributes.insert(k.to_string(), v.to_string());
            }
        }
        attributes.insert("last_name".into(), "Bo".into());
        attributes.insert("display_name".into(), "Ann Bo".into());
        users.push(ObservedUser {
            id: format!("lu{i}"),
            login,
            username: s.ad.then(|| base.clone()),
            enabled: l.enabled,
            attributes,
            licenses: skus_of(l.licenses).into_iter().map(String::from).collect(),
            location: None,
            ..Default::default()
        });
    }
    let group_names = ["g0", "g1", "g2", "g3", "x0", "x1"];
    let user_ids: Vec<String> = users.iter().map(|u| u.id.clone()).collect();
    let mut groups = Vec::new();
    for (i, g) in s.live_groups.iter().enumerate().filter(|(_, g)| g.present) {
        let member_ids: roster::observed::IdSet = g
            .members
            .iter()
            .filter_map(|m| {
                let m = *m as usize;
                if m < 10 {
                    user_ids.get(m).map(|id| id.as_str().into())
                } else {
                    Some(format!("lg{}", m - 10).into())
                }
            })
            .collect();
        groups.push(ObservedGroup {
            id: format!("lg{i}"),
            name: group_names[i].to_string(),
            description: match g.desc {
                0 => None,
                n => Some(format!("D{n}")),
            },
            kind: "security".into(),
            member_ids,
            location: None,
            ..Default::default()
        });
    }
    let mut o = app("app", users, groups);
    o.skus = vec![sku("E3", 1000, 0), sku("E5", 1000, 0)];
    if s.ad {
        o.skus.clear();
        o.verified_domains.clear();
    }
    (d, observed(vec![o]))
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 400,
        failure_persistence: None,
        .. ProptestConfig::default()
    })]

    #[test]
    fn plan_apply_plan_converges_and_planning_is_deterministic(s in scenario()) {
        let (d, mut obs) = build(&s);
        let first = try_plan(&d, &obs);
        let first = match first {
            Ok(p) => p,
            Err(e) => return Err(TestCaseError::fail(format!("plan failed: {e}"))),
        };
        let again = run(&d, &obs);
        prop_assert_eq!(roster::render::json(&first), roster::render::json(&again));

        apply_in_memory(&mut obs, &d, &first);
        let second = run(&d, &obs);
        prop_assert!(
            second.changes.is_empty(),
            "not converged:\nfirst: {:?}\nsecond: {:?}",
            lines(&first),
            lines(&second)
        );
        // Skipped items and warnings are stable too: a second round changes nothing.
        apply_in_memory(&mut obs, &d, &second);
        let third = run(&d, &obs);
        prop_assert_eq!(roster::render::json(&second), roster::render::json(&third));
    }
}
