//! Snapshots of the human, JSON and Markdown renderings of a fixed plan (one with every
//! kind of change, skipped items, warnings and a tripped deletion guard), plus the
//! escaping rules that keep outside text from breaking a terminal or a PR comment.

use crate::planner_support as support;

use roster::plan::{Action, Change, ObjectKind, Plan, Summary, Target};
use roster::render::{RenderOptions, human, json, markdown};
use support::*;

fn fixed_plan() -> Plan {
    let (d, obs) = fixture();
    run(&d, &obs)
}

fn empty_plan() -> Plan {
    let d = o365("", "");
    run(&d, &observed(vec![app("o365", vec![], vec![])]))
}

const PLAIN: RenderOptions = RenderOptions {
    color: false,
    drift: false,
};
const DRIFT: RenderOptions = RenderOptions {
    color: false,
    drift: true,
};

#[test]
fn human_plan() {
    insta::assert_snapshot!("human", human(&fixed_plan(), &PLAIN));
}

#[test]
fn human_drift() {
    insta::assert_snapshot!("human_drift", human(&fixed_plan(), &DRIFT));
}

#[test]
fn human_empty() {
    let p = empty_plan();
    assert_eq!(
        human(&p, &PLAIN),
        "No changes. The live state matches the repository.\n"
    );
    assert_eq!(
        human(&p, &DRIFT),
        "No drift. The live state matches the repository.\n"
    );
}

#[test]
fn json_plan() {
    insta::assert_snapshot!("json", json(&fixed_plan()));
}

#[test]
fn markdown_plan() {
    insta::assert_snapshot!("markdown", markdown(&fixed_plan(), &PLAIN));
}

#[test]
fn markdown_drift_and_empty() {
    insta::assert_snapshot!("markdown_drift", markdown(&fixed_plan(), &DRIFT));
    let e = markdown(&empty_plan(), &DRIFT);
    assert!(e.contains("**No drift.**"), "{e}");
    assert!(!e.contains("<details>"));
}

#[test]
fn colour_only_when_asked() {
    let p = fixed_plan();
    assert!(!human(&p, &PLAIN).contains('\x1b'));
    let coloured = human(
        &p,
        &RenderOptions {
            color: true,
            drift: false,
        },
    );
    assert!(
        coloured.contains("\x1b[32m+ user alice\x1b[0m"),
        "{coloured}"
    );
    assert!(coloured.contains("\x1b[31m- user mallory@contoso.com\x1b[0m"));
}

#[test]
fn json_is_the_spec_format() {
    let p = fixed_plan();
    let v: serde_json::Value = serde_json::from_str(&json(&p)).unwrap();
    assert_eq!(v["format_version"], "1");
    assert_eq!(v["source"]["dirty"], false);
    for c in v["changes"].as_array().unwrap() {
        for k in ["app", "object", "key", "action"] {
            assert!(c[k].is_string(), "{k} in {c}");
        }
        if c["object"] == "membership" {
            assert!(c["group"].is_string() && c["member"].is_string());
            assert_eq!(
                c["key"].as_str().unwrap(),
                format!(
                    "{}/{}",
                    c["group"].as_str().unwrap(),
                    c["member"].as_str().unwrap()
                )
            );
        }
    }
    for k in [
        "create", "update", "enable", "disable", "delete", "add", "remove",
    ] {
        assert!(v["summary"][k].is_u64(), "{k}");
    }
    let wire: roster::plan::wire::Plan = serde_json::from_value(v).unwrap();
    let back = Plan::try_from(wire).unwrap();
    assert_eq!(back, p);
}

fn hostile_plan() -> Plan {
    let change = Change {
        app: "o365".into(),
        target: Target::of(ObjectKind::User, "evil\u{1b}[2J|`@here").expect("a valid target"),
        action: Action::Update,
        id: Some("x".into()),
        before: Some([("department".to_string(), serde_json::json!("a\u{7}"))].into()),
        after: Some(
            [(
                "department".to_string(),
                serde_json::json!("```\n</details>\nb"),
            )]
            .into(),
        ),
        reason: "why\u{1b}]0;title\u{7}".into(),
    };
    let changes = vec![change];
    Plan {
        format_version: "1".into(),
        source: Default::default(),
        summary: Summary::of(&changes),
        changes,
        skipped: vec![],
        warnings: vec![roster::plan::Warning {
            app: Some("o365".into()),
            message: "ping @everyone <script>".into(),
        }],
        deletion_guards: vec![],
    }
}

#[test]
fn outside_text_cannot_reach_the_terminal_or_break_markdown() {
    let p = hostile_plan();
    let h = human(&p, &PLAIN);
    assert!(!h.contains('\u{1b}') && !h.contains('\u{7}'), "{h:?}");
    assert!(h.contains("evil\\u{1b}[2J"), "{h}");
    // A multi-line value is shown as a unified diff.
    assert!(h.contains("+</details>"), "{h}");
    let m = markdown(&p, &PLAIN);
    assert!(!m.contains('\u{1b}'));
    assert!(
        m.contains("&lt;script&gt;") && !m.contains("@everyone"),
        "{m}"
    );
    // The code fence is longer than any backtick run inside it.
    assert!(m.contains("````diff\n"), "{m}");
}

/// 1,500 new users, each with a department and licenses: the full comment would be far
/// over GitHub's limit.
fn big_plan() -> Plan {
    let mut yaml = String::from("users:\n");
    let mut names = Vec::new();
    for i in 0..1500 {
        let _ = std::fmt::Write::write_fmt(
            &mut yaml,
            format_args!(
                "  - {{ username: user{i:04}, email: user{i:04}@contoso.com, first_name: First{i}, \
                 last_name: Last{i}, department: Department of Things {i}, usage_location: US }}\n"
            ),
        );
        names.push(format!("user{i:04}"));
    }
    let _ = std::fmt::Write::write_fmt(
        &mut yaml,
        format_args!(
            "groups:\n  - name: staff\n    members: [{}]\npolicies:\n  - {{ name: p, app: o365, groups: [staff] }}\n",
            names.join(", ")
        ),
    );
    let d = o365("", &yaml);
    run(&d, &observed(vec![app("o365", vec![], vec![])]))
}

#[test]
fn markdown_of_1500_new_users_fits_a_comment_and_says_what_was_cut() {
    let p = big_plan();
    assert!(p.changes.len() > 3000, "{}", p.changes.len());
    let m = markdown(&p, &PLAIN);
    let n = m.chars().count();
    assert!(n <= roster::render::COMMENT_LIMIT, "{n} characters");
    // The access changes lead, capped, then the summary, then what was cut.
    let access = m.find("#### Access changes").expect("access changes");
    let summary = m.find("#### Summary").expect("summary");
    assert!(access < summary, "{m}");
    assert!(
        m.contains("`user0000` **gains** access to `o365` (new account; through `staff`)"),
        "{}",
        &m[..3000]
    );
    assert!(m.contains("- …and "), "access changes are capped");
    assert!(m.contains("| o365 | 1501 |"), "{m}");
    let cut = m.lines().last().unwrap();
    assert!(
        cut.contains("changes not shown") && cut.contains("roster plan --out"),
        "{cut}"
    );
    let not_shown: usize = cut
        .trim_start_matches("**")
        .split(' ')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    let shown = m.matches("\n+ ").count();
    assert_eq!(shown + not_shown, p.changes.len(), "{cut}");
    // A smaller limit cuts more but keeps the same structure.
    let small = roster::render::markdown_with(&p, &PLAIN, Some("abc"), 20_000);
    assert!(small.chars().count() <= 20_000);
    assert!(small.contains("desired-state digest `abc`"));
    // A plan that fits is not cut.
    let f = markdown(&fixed_plan(), &PLAIN);
    assert!(!f.contains("not shown") && !f.contains("…and"), "{f}");
}

#[test]
fn markdown_marks_deletes_and_disables() {
    let m = markdown(&fixed_plan(), &PLAIN);
    assert!(
        m.contains("- 🔴 **`bob` loses access to `o365` (account disabled)**"),
        "{m}"
    );
    assert!(m.contains("~ user bob (disable)   🔴 DISABLE"), "{m}");
    assert!(
        m.contains("🔴 **Deletes and disables: disable bob, delete dan&#64;contoso.com"),
        "{m}"
    );
}

#[test]
fn an_expired_membership_says_when_it_expired() {
    let rest = "
users:
  - { username: alice, email: alice@contoso.com, first_name: A, last_name: S }
  - { username: bob, email: bob@contoso.com, first_name: B, last_name: J }
groups:
  - { name: staff, members: [bob] }
memberships:
  - { group: staff, users: [alice], expires: '2026-05-01' }
policies:
  - { name: p, app: o365, groups: [staff] }
";
    let u = |id: &str, name: &str, first: &str, last: &str| {
        user(
            id,
            &format!("{name}@contoso.com"),
            &[
                ("email", &format!("{name}@contoso.com")),
                ("first_name", first),
                ("last_name", last),
                ("display_name", &format!("{first} {last}")),
            ],
        )
    };
    let live = observed(vec![app(
        "o365",
        vec![u("u1", "alice", "A", "S"), u("u2", "bob", "B", "J")],
        vec![group("g1", "staff", &["u1", "u2"])],
    )]);
    let p = run(&o365("", rest), &live);
    let remove = p
        .changes
        .iter()
        .find(|c| c.object() == ObjectKind::Membership && c.action == Action::Remove)
        .unwrap_or_else(|| panic!("{:#?}", p.changes));
    assert_eq!(
        remove.reason,
        "membership expired on 2026-05-01: alice is no longer a member of staff"
    );
    let d = human(&p, &DRIFT);
    assert!(
        d.contains("# membership expired on 2026-05-01: alice is no longer a member of staff; apply removes it"),
        "{d}"
    );
    // The PR comment's access changes say why on this day, without repeating the group
    // (out of every policy's groups, alice is also disabled).
    let m = markdown(&p, &PLAIN);
    assert!(
        m.contains("- 🔴 **`alice` loses access to `o365` (account disabled; had it through `staff`)** — membership expired on 2026-05-01\n"),
        "{m}"
    );
}

#[test]
fn drift_says_what_changed_live_and_what_apply_does() {
    let d = human(&fixed_plan(), &DRIFT);
    for want in [
        "department changed live from \"Marketing\" to \"Sales\"; apply sets it back to \"Marketing\"",
        "# member added live: group retired in \"staff\"; apply removes it",
        "# created live, not in the repository; apply deletes it (switch delete_users is on)",
        "created live, not in the repository; apply leaves it (switch delete_groups is off)",
    ] {
        assert!(d.contains(want), "{want}\n{d}");
    }
    // A plan keeps the Terraform-style lines.
    let h = human(&fixed_plan(), &PLAIN);
    assert!(h.contains("department = \"Sales\" -> \"Marketing\""), "{h}");
    assert!(!h.contains("changed live"), "{h}");
}
