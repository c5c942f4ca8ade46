//! Saved plans: round trip through the file format, and stale detection naming what
//! changed (live objects the changes depend on, commit, app settings).

use crate::planner_support as support;

use roster::plan::saved::SavedPlan;
use support::*;

fn saved() -> (
    roster::desired::DesiredState,
    std::collections::BTreeMap<String, roster::observed::ObservedApp>,
    SavedPlan,
) {
    let (d, obs) = fixture();
    let p = run(&d, &obs);
    assert!(!p.is_empty());
    let s = SavedPlan::new(p, &d, &obs);
    (d, obs, s)
}

#[test]
fn round_trip_keeps_everything_and_checks_clean() {
    let (d, obs, s) = saved();
    let text = s.to_json();
    assert!(text.ends_with('\n'));
    let back = SavedPlan::from_json(&text).expect("reads its own files");
    assert_eq!(back, s);
    assert!(back.check(&d, &obs).is_ok());
    let app = &back.apps["o365"];
    assert_eq!(app.directory_id.as_deref(), Some("tenant-1"));
    assert_eq!(app.fingerprints["user:alice@contoso.com"], "absent");
    assert!(app.fingerprints.contains_key("members:staff"));
    assert_eq!(app.fingerprints["sku:E3"], "free=5");
    assert!(
        !app.fingerprints.contains_key("user:admin@contoso.com"),
        "ignored objects are no dependency"
    );
    assert!(text.contains("(from env ALICE_INITIAL_PASSWORD)"));
}

#[test]
fn changed_dependencies_make_the_plan_stale_naming_each() {
    let (d, mut obs, s) = saved();
    let o = obs.get_mut("o365").unwrap();
    // bob's department edited by hand, alice created meanwhile, a member added to staff,
    // a seat consumed.
    let bob = o
        .users
        .iter_mut()
        .find(|u| u.login == "bob@contoso.com")
        .unwrap();
    bob.attributes.insert("department".into(), "Legal".into());
    o.users.push(user("u-new", "Alice@Contoso.com", &[]));
    o.groups
        .iter_mut()
        .find(|g| g.name == "staff")
        .unwrap()
        .member_ids
        .insert("u-x".into());
    o.skus[0].consumed += 1;
    let err = s.check(&d, &obs).unwrap_err();
    let msg = err.to_string();
    assert!(msg.starts_with("stale plan"), "{msg}");
    assert_eq!(err.reasons.len(), 4, "{msg}");
    assert!(msg.contains("user bob@contoso.com changed"), "{msg}");
    assert!(
        msg.contains("user alice@contoso.com did not exist when the plan was made"),
        "{msg}"
    );
    assert!(msg.contains("the members of group staff changed"), "{msg}");
    assert!(
        msg.contains("license SKU E3 had free=5 seats, now free=4"),
        "{msg}"
    );
}

#[test]
fn unrelated_live_changes_do_not_make_the_plan_stale() {
    let (d, mut obs, s) = saved();
    let o = obs.get_mut("o365").unwrap();
    let admin = o
        .users
        .iter_mut()
        .find(|u| u.login == "admin@contoso.com")
        .unwrap();
    admin.attributes.insert("department".into(), "IT".into());
    o.users.push(user("u-other", "someone@fabrikam.com", &[]));
    assert!(s.check(&d, &obs).is_ok());
}

#[test]
fn deleted_object_is_named() {
    let (d, mut obs, s) = saved();
    let o = obs.get_mut("o365").unwrap();
    o.users.retain(|u| u.login != "mallory@contoso.com");
    let err = s.check(&d, &obs).unwrap_err();
    assert!(
        err.to_string()
            .contains("user mallory@contoso.com existed when the plan was made and is gone now"),
        "{err}"
    );
}

#[test]
fn other_content_or_changed_settings_are_refused() {
    // Another commit with the same content (a merge, squash or rebase commit).
    let (mut d, obs, s) = saved();
    d.source.commit = Some("fedcba9876543210".into());
    d.source.dirty = true;
    assert_eq!(s.check(&d, &obs), Ok(()));

    // Any change to the desired state makes it stale, naming both commits.
    let (mut d, obs, s) = saved();
    d.source.commit = Some("fedcba9876543210".into());
    d.users[0].department = Some("Somewhere else".into());
    let err = s.check(&d, &obs).unwrap_err();
    assert!(
        err.to_string().contains("the desired state changed"),
        "{err}"
    );
    assert!(err.to_string().contains("commit 0123456789ab"), "{err}");
    assert!(err.to_string().contains("fedcba987654"), "{err}");

    // A file written before the digest existed stays bound to its commit.
    let (mut d, obs, mut s) = saved();
    s.desired_digest = None;
    d.source.commit = Some("fedcba9876543210".into());
    let err = s.check(&d, &obs).unwrap_err();
    assert!(err.to_string().contains("commit 0123456789ab"), "{err}");

    let (mut d, obs, s) = saved();
    if let roster::desired::App::Office365(a) = &mut d.apps[0] {
        a.max_deletes = Some(1000);
    }
    let err = s.check(&d, &obs).unwrap_err();
    assert!(
        err.to_string().contains("settings of app o365 changed"),
        "{err}"
    );

    let (d, mut obs, s) = saved();
    obs.get_mut("o365").unwrap().directory_id = Some("tenant-2".into());
    let err = s.check(&d, &obs).unwrap_err();
    assert!(err.to_string().contains("tenant-2"), "{err}");

    let (d, mut obs, s) = saved();
    obs.clear();
    let err = s.check(&d, &obs).unwrap_err();
    assert!(err.to_string().contains("app o365 was not read"), "{err}");
}

#[test]
fn bad_files_are_refused_with_a_clear_error() {
    let err = SavedPlan::from_json("not json").unwrap_err();
    assert!(format!("{err:#}").contains("not valid JSON"), "{err:#}");
    let err = SavedPlan::from_json("[1]").unwrap_err();
    assert!(err.to_string().contains("not a roster plan"), "{err}");
    let err = SavedPlan::from_json("{\"format_version\": \"1\"}").unwrap_err();
    assert!(err.to_string().contains("saved_plan_version"), "{err}");

    let (_, _, s) = saved();
    let text = s.to_json().replacen(
        "\"saved_plan_version\": \"1\"",
        "\"saved_plan_version\": \"7\"",
        1,
    );
    let err = SavedPlan::from_json(&text).unwrap_err();
    assert!(err.to_string().contains("\"7\""), "{err}");
    let text = s
        .to_json()
        .replacen("\"format_version\": \"1\"", "\"format_version\": \"2\"", 1);
    let err = SavedPlan::from_json(&text).unwrap_err();
    assert!(err.to_string().contains("format_version \"2\""), "{err}");
    let text = s.to_json().replacen("\"changes\"", "\"chang\"", 1);
    let err = SavedPlan::from_json(&text).unwrap_err();
    assert!(format!("{err:#}").contains("damaged"), "{err:#}");
}

#[test]
fn malformed_membership_key_is_a_clear_error() {
    let (_, _, s) = saved();
    let text = s.to_json();
    let mut v: serde_json::Value = serde_json::from_str(&text).unwrap();
    let at = v["plan"]["changes"]
        .as_array()
        .unwrap()
        .iter()
        .position(|c| c["object"] == "membership")
        .expect("the fixture has a membership change");
    let c = &mut v["plan"]["changes"][at];
    let good_key = c["key"].as_str().unwrap().to_string();
    c.as_object_mut().unwrap().remove("group");
    c.as_object_mut().unwrap().remove("member");
    // Without the fields, the key alone names group and member.
    let back = SavedPlan::from_json(&v.to_string()).expect("key alone is enough");
    let k = back.plan.changes[at].membership().unwrap();
    assert_eq!(k.to_string(), good_key);
    for bad in ["staff", "/alice", "staff/"] {
        v["plan"]["changes"][at]["key"] = serde_json::json!(bad);
        let err = SavedPlan::from_json(&v.to_string()).unwrap_err();
        let msg = format!("{err:#}");
        assert!(
            msg.contains("damaged") && msg.contains(&format!("`{bad}`")),
            "{msg}"
        );
    }
}
