//! The plan's wire formats, byte for byte: the JSON plan (`format_version` "1"), the
//! saved-plan file and the report-log line, for every plan the fixtures can produce.
//! These snapshots were taken before the in-memory plan and its wire format were
//! separated; they prove the separation changed no byte.

use std::collections::BTreeMap;
use std::path::Path;

use crate::planner_support as support;

use roster::apps::ChangeResult;
use roster::desired::DesiredState;
use roster::engine::report_log::{Provenance, ReportRecord};
use roster::observed::{ObservedApp, ObservedSku};
use roster::plan::Plan;
use roster::plan::saved::SavedPlan;
use roster::render::json;
use support::*;

fn example(name: &str) -> DesiredState {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("examples")
        .join(name);
    let loaded = roster::desired::load(&dir, None).expect("example loads");
    let mut d = loaded.state;
    d.source = roster::desired::SourceInfo {
        commit: Some("0123456789abcdef0123456789abcdef01234567".into()),
        dirty: false,
    };
    d
}

/// Every app of `d`, live but empty, with enough seats of every SKU the repository names.
fn empty_live(d: &DesiredState) -> BTreeMap<String, ObservedApp> {
    let skus: std::collections::BTreeSet<&str> = d
        .users
        .iter()
        .flat_map(|u| u.licenses.iter().map(String::as_str))
        .collect();
    d.apps
        .iter()
        .map(|a| {
            let name = a.name().to_string();
            let o = ObservedApp {
                app: name.clone(),
                users: vec![],
                groups: vec![],
                verified_domains: vec![],
                skus: skus
                    .iter()
                    .map(|p| ObservedSku {
                        sku_id: format!("sku-{p}"),
                        part_number: p.to_string(),
                        enabled: 10_000,
                        consumed: 0,
                    })
                    .collect(),
                directory_id: Some(format!("dir-{name}")),
                ..Default::default()
            };
            (name, o)
        })
        .collect()
}

/// The JSON plan, the saved-plan file and one report line per change and outcome.
fn wire(d: &DesiredState, obs: &BTreeMap<String, ObservedApp>) -> String {
    let p: Plan = run(d, obs);
    let saved = SavedPlan::new(p.clone(), d, obs);
    let text = saved.to_json();
    let back = SavedPlan::from_json(&text).expect("reads its own file");
    assert_eq!(back, saved);
    assert_eq!(json(&back.plan), json(&p));
    let now = time::macros::datetime!(2026-01-02 03:04:05 UTC);
    let mut log = String::new();
    for (i, c) in p.changes.iter().enumerate() {
        let result = match i % 3 {
            0 => ChangeResult::Applied {
                id: Some(format!("new-{i}")),
                request_id: Some(format!("req-{i}")),
            },
            1 => ChangeResult::Failed {
                error: "the service said no".into(),
                request_id: None,
            },
            _ => ChangeResult::SkippedDependency {
                on: "user create alice@contoso.com".into(),
            },
        };
        let provenance = Provenance {
            commit: Some("abc".into()),
            actor: Some("alice-admin".into()),
            run_url: Some("https://github.com/acme/people/actions/runs/42".into()),
            run_attempt: Some(1),
        };
        let r = ReportRecord::new(c, &result, &provenance, now);
        log.push_str(&serde_json::to_string(&r).unwrap());
        log.push('\n');
    }
    format!(
        "=== plan json\n{}\n=== saved plan\n{text}=== report log\n{log}",
        json(&p)
    )
}

#[test]
fn fixture_plan() {
    let (d, obs) = fixture();
    insta::assert_snapshot!("fixture", wire(&d, &obs));
}

#[test]
fn empty_plan() {
    let d = o365("", "");
    let obs = observed(vec![app("o365", vec![], vec![])]);
    insta::assert_snapshot!("empty", wire(&d, &obs));
}

#[test]
fn fixture_applied_then_changed() {
    // A second plan against the state the first one leaves behind, with one live
    // change: exercises updates, removes and ids of existing objects.
    let (d, obs) = fixture();
    let p = run(&d, &obs);
    let mut after = obs.clone();
    roster::plan::simulate::apply_in_memory(&mut after, &d, &p);
    for app in after.values_mut() {
        if let Some(u) = app.users.first_mut() {
            u.enabled = !u.enabled;
            u.attributes
                .insert("displayName".into(), "Someone Else".into());
        }
    }
    insta::assert_snapshot!("fixture_second", wire(&d, &after));
}

#[test]
fn quickstart_against_empty_apps() {
    let d = example("quickstart");
    insta::assert_snapshot!("quickstart", wire(&d, &empty_live(&d)));
}

#[test]
fn acme_against_empty_apps() {
    let d = example("acme");
    insta::assert_snapshot!("acme", wire(&d, &empty_live(&d)));
}

/// The default mapping spelled out in `attribute_map` (every default target from its
/// roster field) plans exactly what no `attribute_map` plans: the defaults are today's
/// mapping, byte for byte.
#[test]
fn the_default_mapping_spelled_out_plans_the_same_bytes() {
    let d = example("acme");
    let mut spelled = d.clone();
    for app in spelled.apps.iter_mut() {
        let defaults = roster::mapping::targets::defaults(app.type_name());
        let map = match app {
            roster::desired::App::Office365(a) => &mut a.attribute_map,
            roster::desired::App::ActiveDirectory(a) => &mut a.attribute_map,
            roster::desired::App::Scim(a) => &mut a.attribute_map,
            roster::desired::App::Ldap(a) => &mut a.attribute_map,
            roster::desired::App::GoogleWorkspace(a) => &mut a.attribute_map,
        };
        assert!(map.is_empty(), "acme maps nothing itself");
        for (target, key) in defaults {
            map.insert(target.to_string(), Some(format!("{{{key}}}")));
        }
    }
    assert_ne!(d.apps, spelled.apps);
    let obs = empty_live(&d);
    assert_eq!(json(&run(&spelled, &obs)), json(&run(&d, &obs)));
}

/// `report --action` and `--result` take only the spellings the report log writes: a
/// typo is a usage error naming the valid values, not a filter that matches nothing.
#[test]
fn report_filters_reject_unknown_values_naming_the_valid_ones() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("reports.jsonl");
    let now = time::macros::datetime!(2026-01-02 03:04:05 UTC);
    let (d, obs) = fixture();
    let p = run(&d, &obs);
    let mut text = String::new();
    for (c, r) in p.changes.iter().zip([
        ChangeResult::Applied {
            id: None,
            request_id: None,
        },
        ChangeResult::Failed {
            error: "no".into(),
            request_id: None,
        },
    ]) {
        text.push_str(
            &serde_json::to_string(&ReportRecord::new(c, &r, &Provenance::default(), now)).unwrap(),
        );
        text.push('\n');
    }
    std::fs::write(&log, text).unwrap();
    let log_arg = log.to_str().unwrap();

    let bad = crate::support::roster(
        dir.path(),
        &["report", "--report-log", log_arg, "--action", "crate"],
        &[],
    );
    assert_eq!(bad.code, 1, "a usage error: {}", bad.all());
    for word in roster::plan::Action::ALL {
        assert!(bad.stderr.contains(word.as_str()), "{}", bad.stderr);
    }
    let bad = crate::support::roster(
        dir.path(),
        &["report", "--report-log", log_arg, "--result", "failure"],
        &[],
    );
    assert_eq!(bad.code, 1, "a usage error: {}", bad.all());
    for word in roster::engine::report_log::Outcome::ALL {
        assert!(bad.stderr.contains(word.as_str()), "{}", bad.stderr);
    }

    let first = p.changes[0].action.as_str();
    let ok = crate::support::roster(
        dir.path(),
        &[
            "report",
            "--report-log",
            log_arg,
            "--action",
            first,
            "--result",
            "applied",
            "--format",
            "csv",
        ],
        &[],
    );
    assert_eq!(ok.code, 0, "{}", ok.all());
    assert_eq!(ok.stdout.lines().count(), 2, "header + one: {}", ok.stdout);
}
