//! The google_workspace connector's requests against Google's discovery document of
//! the Directory API (`tests/google/admin.directory_v1.json`): every request a full
//! apply and a drift revert make is a documented method at its documented path, with
//! documented query parameters, and every member of its body is a property of the
//! method's request schema; every mapping target lives in a documented User property.
//! The requests are those the project's emulator received from roster's service account.

use serde_json::{Value, json};

use crate::support::google::{Options, Workspace};
use crate::support::{repo, roster};

fn discovery() -> Value {
    let text = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/google/admin.directory_v1.json"),
    )
    .expect("the discovery document");
    serde_json::from_str(&text).unwrap()
}

/// Whether `path` matches a discovery path template (`admin/directory/v1/users/{userKey}`).
fn matches(template: &str, path: &str) -> bool {
    let t: Vec<&str> = template.split('/').collect();
    let p: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    t.len() == p.len()
        && t.iter()
            .zip(&p)
            .all(|(a, b)| (a.starts_with('{') && a.ends_with('}') && !b.is_empty()) || a == b)
}

#[test]
fn every_request_is_a_documented_method_with_documented_fields() {
    let doc = discovery();
    let fake = Workspace::start(Options::default());
    let people = r#"users:
  - { username: ann, email: ann@example.com, first_name: Ann, last_name: Lee, job_title: CTO, mobile_phone: "+33 6", employee_id: E7, password: { env: ROSTER_TEST_PW } }
  - { username: ben, email: ben@example.com, first_name: Ben, last_name: Ode, enabled: false }
groups:
  - { name: staff, description: All, members: [ann, ben] }
  - { name: leads, members: [ann] }
policies:
  - { name: p, app: gws, groups: [staff, leads] }
"#;
    let repo = repo(&[
        (
            "apps.yaml",
            &fake.app_yaml("    switches: { delete_users: true }\n"),
        ),
        ("people.yaml", people),
    ]);
    let env = fake.env();
    let mut e: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    e.push(("ROSTER_TEST_PW", "pw-Secret-12"));
    let r = roster(repo.path(), &["apply", "--auto-approve"], &e);
    assert_eq!(r.code, 0, "{}", r.all());
    // Drift to revert: a stranger, a removed member, a changed title.
    fake.call("POST", "/users", Some(json!({"primaryEmail": "eve@example.com", "name": {"givenName": "E", "familyName": "V"}, "password": "p".repeat(10)})));
    fake.call(
        "DELETE",
        "/groups/staff@example.com/members/ann@example.com",
        None,
    );
    fake.call(
        "POST",
        "/groups/leads@example.com/members",
        Some(json!({"email": "ben@example.com"})),
    );
    fake.call(
        "PATCH",
        "/users/ann@example.com",
        Some(json!({"organizations": [{"title": "Dev"}]})),
    );
    let r = roster(repo.path(), &["apply", "--auto-approve"], &e);
    assert_eq!(r.code, 0, "{}", r.all());
    let r = roster(repo.path(), &["plan", "--detailed-exitcode"], &e);
    assert_eq!(r.code, 0, "{}", r.all());

    let log: Vec<(String, String, Vec<String>, Value)> = fake
        .roster_calls()
        .into_iter()
        .map(|c| {
            (
                c.method,
                format!("/admin/directory/v1/{}", c.path.trim_start_matches('/')),
                c.query.into_iter().map(|(k, _)| k).collect(),
                c.body,
            )
        })
        .collect();
    assert!(!log.is_empty());
    let mut methods_seen = std::collections::BTreeSet::new();
    for (method, path, query, body) in &log {
        let mut found = None;
        for (res, r) in doc["resources"].as_object().unwrap() {
            for (name, m) in r["methods"].as_object().into_iter().flatten() {
                if m["httpMethod"] == method.as_str() && matches(m["path"].as_str().unwrap(), path)
                {
                    found = Some((format!("{res}.{name}"), m.clone()));
                }
            }
        }
        let (id, m) =
            found.unwrap_or_else(|| panic!("{method} {path} is not in the discovery document"));
        for q in query {
            assert!(
                m["parameters"].get(q).is_some(),
                "{id}: query parameter `{q}` is not documented"
            );
        }
        if let Some(schema) = m["request"]["$ref"].as_str() {
            let props = &doc["schemas"][schema]["properties"];
            for k in body.as_object().into_iter().flat_map(|o| o.keys()) {
                assert!(
                    props.get(k).is_some(),
                    "{id}: `{k}` is not a {schema} property"
                );
            }
            if schema == "User" && body.get("name").is_some() {
                let name_props = &doc["schemas"]["UserName"]["properties"];
                for k in body["name"].as_object().unwrap().keys() {
                    assert!(name_props.get(k).is_some(), "UserName has no `{k}`");
                }
            }
        } else {
            assert!(body.is_null(), "{id} takes no body: {body}");
        }
        methods_seen.insert(id);
    }
    for m in [
        "users.list",
        "users.insert",
        "users.patch",
        "users.delete",
        "groups.list",
        "groups.insert",
        "members.list",
        "members.insert",
        "members.delete",
    ] {
        assert!(
            methods_seen.contains(m),
            "{m} not exercised: {methods_seen:?}"
        );
    }
}

#[test]
fn mapping_targets_are_documented_user_properties() {
    let doc = discovery();
    let props = &doc["schemas"]["User"]["properties"];
    for t in roster::mapping::targets::GOOGLE_WORKSPACE {
        let top = t.name.split(['.', '[']).next().unwrap();
        assert!(
            props.get(top).is_some(),
            "{} is not in a User property",
            t.name
        );
        if let Some(member) = t.name.strip_prefix("name.") {
            assert!(
                doc["schemas"]["UserName"]["properties"]
                    .get(member)
                    .is_some(),
                "{}",
                t.name
            );
        }
    }
    let users_list = &doc["resources"]["users"]["methods"]["list"]["parameters"];
    assert_eq!(users_list["maxResults"]["maximum"], "500");
    assert_eq!(roster::apps::google_workspace::read::USERS_PAGE, 500);
    assert!(users_list["query"].is_object() && users_list["projection"].is_object());
    let members = &doc["resources"]["members"]["methods"]["list"]["parameters"];
    assert!(
        members["maxResults"]["description"]
            .as_str()
            .unwrap()
            .contains("200")
    );
    assert_eq!(roster::apps::google_workspace::read::GROUPS_PAGE, 200);
    let hash = doc["schemas"]["User"]["properties"]["hashFunction"]["description"]
        .as_str()
        .unwrap();
    assert!(
        hash.contains("`SHA-1` - Accepts simple hex-encoded values"),
        "{hash}"
    );
}
