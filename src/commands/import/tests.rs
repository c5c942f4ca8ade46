//! Unit tests of the conversion: usernames, collisions, values kept exactly, the rest
//! of the repository, and the files' digests.

use std::collections::BTreeMap;

use super::*;
use crate::desired::source::{Content, SourceFile};
use crate::observed::{Attributes, ObservedGroup, ObservedUser};

const O365: &str = "apps:\n  - name: o365\n    type: office365\n    sandbox: .roster/t.json\n    authorized_domains: [contoso.com, fabrikam.com]\n";
const AD: &str = "apps:\n  - name: ad\n    type: active_directory\n    url: ldaps://dc:636\n    base_dn: DC=x,DC=y\n    users_ou: OU=U,DC=x,DC=y\n    groups_ou: OU=G,DC=x,DC=y\n    bind_dn: CN=a,DC=x,DC=y\n    bind_password: {env: A}\n";

fn file(path: &str, text: &str) -> SourceFile {
    SourceFile {
        path: path.into(),
        content: Content::Bytes(text.as_bytes().to_vec()),
    }
}

fn repo(files: &[(&str, &str)]) -> desired::Loaded {
    let files: Vec<SourceFile> = files.iter().map(|(p, t)| file(p, t)).collect();
    let l = desired::load_files(&files);
    assert!(!l.has_errors(), "{:?}", l.diagnostics);
    l
}

fn user(id: &str, login: &str) -> ObservedUser {
    ObservedUser {
        id: id.into(),
        login: login.into(),
        enabled: true,
        attributes: Attributes::from([
            ("first_name".to_string(), "First".to_string()),
            ("last_name".to_string(), "Last".to_string()),
            ("email".to_string(), login.to_string()),
        ]),
        ..Default::default()
    }
}

fn group(id: &str, name: &str, members: &[&str]) -> ObservedGroup {
    ObservedGroup {
        id: id.into(),
        name: name.into(),
        kind: "security".into(),
        member_ids: members
            .iter()
            .map(|m| crate::observed::MemberId::new(m))
            .collect(),
        ..Default::default()
    }
}

fn observed(users: Vec<ObservedUser>, groups: Vec<ObservedGroup>) -> ObservedApp {
    ObservedApp {
        app: "o365".into(),
        users,
        groups,
        ..Default::default()
    }
}

/// login → username of the imported users.
fn names(i: &Imported) -> BTreeMap<String, String> {
    i.files[0]
        .users
        .iter()
        .map(|u| (u.email.clone(), u.username.clone()))
        .collect()
}

/// The three files' texts loaded with `others`, as `validate` would.
fn validate(i: &Imported, others: &[(&str, &str)]) -> desired::Loaded {
    let header = header_line("o365");
    let mut files: Vec<SourceFile> = others.iter().map(|(p, t)| file(p, t)).collect();
    for (name, f) in ["o365-users.yaml", "o365-groups.yaml", "o365-policy.yaml"]
        .iter()
        .zip(&i.files)
    {
        files.push(file(name, &file_text(&header, f).unwrap()));
    }
    files.sort_by(|a, b| a.path.cmp(&b.path));
    desired::load_files(&files)
}

#[test]
fn usernames_from_logins_are_valid_and_deterministic() {
    for (login, name) in [
        ("ann@contoso.com", "ann"),
        ("Ann.Lee@contoso.com", "ann.lee"),
        ("ann+tag@contoso.com", "ann-tag"),
        ("ann=x@contoso.com", "ann-x"),
        ("o'brien@contoso.com", "o-brien"),
        ("a#b@contoso.com", "a-b"),
        ("'quoted'@contoso.com", "quoted"),
        ("a++==b@contoso.com", "a-b"),
        ("x_y-z@contoso.com", "x_y-z"),
        ("José@contoso.com", "josé"),
        ("+++@contoso.com", "user"),
        (
            "guest_fabrikam.com#EXT#@contoso.onmicrosoft.com",
            "guest_fabrikam.com-ext",
        ),
    ] {
        assert_eq!(username_from_login(login), name, "{login}");
    }
}

#[test]
fn collisions_get_numbered_suffixes_in_login_order() {
    let app = repo(&[("apps.yaml", O365)]);
    let live = observed(
        vec![
            user("3", "ann~1@contoso.com"),
            user("1", "ann!1@contoso.com"),
            user("2", "ann-1@contoso.com"),
            user("5", "Bob@contoso.com"),
            user("4", "bob@fabrikam.com"),
            user("6", "ann-1-2@contoso.com"),
            user("9", "~@contoso.com"),
            user("8", "!@contoso.com"),
            user("7", "user@contoso.com"),
        ],
        vec![group(
            "g",
            "all",
            &["1", "2", "3", "4", "5", "6", "7", "8", "9"],
        )],
    );
    let i = to_repo_files(&app.state.apps[0], &live, &app.state).unwrap();
    let got = names(&i);
    // Unchanged names first (ann-1, ann-1-2, bob), then the others in login order.
    assert_eq!(got["ann-1@contoso.com"], "ann-1");
    assert_eq!(got["ann-1-2@contoso.com"], "ann-1-2");
    assert_eq!(got["ann!1@contoso.com"], "ann-1-3");
    assert_eq!(got["ann~1@contoso.com"], "ann-1-4");
    assert_eq!(got["Bob@contoso.com"], "bob");
    assert_eq!(got["bob@fabrikam.com"], "bob-2");
    assert_eq!(got["user@contoso.com"], "user");
    assert_eq!(got["!@contoso.com"], "user-2");
    assert_eq!(got["~@contoso.com"], "user-3");
    // The order the app lists users in does not matter.
    let mut reversed = live.clone();
    reversed.users.reverse();
    let again = to_repo_files(&app.state.apps[0], &reversed, &app.state).unwrap();
    assert_eq!(names(&again), got);
    let loaded = validate(&i, &[("apps.yaml", O365)]);
    assert!(!loaded.has_errors(), "{:?}", loaded.diagnostics);
}

#[test]
fn live_values_are_kept_exactly() {
    let app = repo(&[("apps.yaml", O365)]);
    let mut u = user("1", "Ann.O'Brien!Work@Contoso.com");
    u.attributes.insert("department".into(), "yes".into());
    u.attributes.insert("job_title".into(), "0123".into());
    u.attributes.insert("employee_id".into(), " 0042 ".into());
    u.attributes
        .insert("mobile_phone".into(), "+1 555 0100".into());
    u.attributes
        .insert("display_name".into(), "O'Brien: Ann #1".into());
    let live = observed(vec![u], vec![group("g", "on", &["1"])]);
    let i = to_repo_files(&app.state.apps[0], &live, &app.state).unwrap();
    let loaded = validate(&i, &[("apps.yaml", O365)]);
    assert!(!loaded.has_errors(), "{:?}", loaded.diagnostics);
    let back = &loaded.state.users[0];
    assert_eq!(back.username, "ann.o-brien-work");
    assert_eq!(back.email, "Ann.O'Brien!Work@Contoso.com");
    assert_eq!(back.department.as_deref(), Some("yes"));
    assert_eq!(back.job_title.as_deref(), Some("0123"));
    assert_eq!(back.employee_id.as_deref(), Some(" 0042 "));
    assert_eq!(back.mobile_phone.as_deref(), Some("+1 555 0100"));
    assert_eq!(back.display_name.as_deref(), Some("O'Brien: Ann #1"));
    assert_eq!(loaded.state.groups[0].name, "on");
    let text = file_text(&header_line("o365"), &i.files[0]).unwrap();
    assert!(text.contains("department: \"yes\"\n"), "{text}");
    assert!(text.contains("job_title: \"0123\"\n"), "{text}");
}

#[test]
fn users_and_groups_defined_elsewhere_are_referenced_not_repeated() {
    let people = "users:\n  - username: Annie\n    email: ANN@contoso.com\n    first_name: Ann\n    last_name: Lee\n  - username: ben\n    email: ben@fabrikam.com\n    first_name: Ben\n    last_name: Ray\ngroups:\n  - name: ops\n    members: [Annie]\n";
    let base = repo(&[("apps.yaml", O365), ("people.yaml", people)]);
    let live = observed(
        vec![user("1", "ann@contoso.com"), user("2", "ben@contoso.com")],
        vec![
            group("g1", "ops", &["1"]),
            group("g2", "sales", &["1", "2"]),
        ],
    );
    let i = to_repo_files(&base.state.apps[0], &live, &base.state).unwrap();
    // ann is people.yaml's Annie; ben@contoso.com is someone else, and `ben` is taken.
    assert_eq!(
        names(&i),
        BTreeMap::from([("ben@contoso.com".to_string(), "ben-2".to_string())])
    );
    let groups = &i.files[1].groups;
    assert_eq!(groups.len(), 1, "ops is defined already: {groups:?}");
    assert_eq!(groups[0].members, vec!["Annie", "ben-2"]);
    let loaded = validate(&i, &[("apps.yaml", O365), ("people.yaml", people)]);
    assert!(!loaded.has_errors(), "{:?}", loaded.diagnostics);
}

#[test]
fn active_directory_usernames_are_never_renamed() {
    let base = repo(&[("apps.yaml", AD)]);
    let mut u = user("1", "o'neil#2");
    u.username = Some("o'neil#2".into());
    let live = ObservedApp {
        app: "ad".into(),
        users: vec![u],
        groups: vec![group("g", "staff", &["1"])],
        ..Default::default()
    };
    let i = to_repo_files(&base.state.apps[0], &live, &base.state).unwrap();
    assert_eq!(i.files[0].users[0].username, "o'neil#2");

    // Two accounts with one username cannot both be imported: refused, naming both.
    let mut a = user("1", "jsmith");
    a.username = Some("jsmith".into());
    let mut b = user("2", "JSmith2");
    b.username = Some("JSMITH".into());
    let clash = ObservedApp {
        app: "ad".into(),
        users: vec![a, b],
        ..Default::default()
    };
    let err = to_repo_files(&base.state.apps[0], &clash, &base.state).unwrap_err();
    assert_eq!(err.len(), 1, "{err:?}");
    assert!(
        err[0].contains("JSmith2") && err[0].contains("jsmith") && err[0].contains("ignore"),
        "{err:?}"
    );
}

#[test]
fn live_groups_sharing_a_name_are_refused() {
    let app = repo(&[("apps.yaml", O365)]);
    let live = observed(
        vec![user("1", "ann@contoso.com")],
        vec![group("g1", "ops", &["1"]), group("g2", "ops", &[])],
    );
    let err = to_repo_files(&app.state.apps[0], &live, &app.state).unwrap_err();
    assert!(
        err[0].contains("2 groups named ops") && err[0].contains("g1, g2"),
        "{err:?}"
    );
}

#[test]
fn digests_tell_earlier_output_from_edited_and_foreign_files() {
    let header = header_line("o365");
    let file = RepoFile {
        policies: vec![Policy {
            name: "p".into(),
            app: "o365".into(),
            groups: vec!["yes".into()],
        }],
        ..Default::default()
    };
    let text = file_text(&header, &file).unwrap();
    assert_eq!(refusal(text.as_bytes(), &header), None);
    let edited = text.replace("- \"yes\"", "- \"no\"");
    assert_ne!(edited, text);
    assert_eq!(
        refusal(edited.as_bytes(), &header),
        Some("was edited since roster import wrote it")
    );
    assert!(
        refusal(text.as_bytes(), &header_line("other"))
            .is_some_and(|r| r.contains("not written by roster import"))
    );
    assert!(refusal(b"users: []\n", &header).is_some());
    let old = format!("{header}\npolicies: []\n");
    assert!(refusal(old.as_bytes(), &header).is_some_and(|r| r.contains("no digest")));
    // An empty file still has its header and digest.
    let empty = file_text(&header, &RepoFile::default()).unwrap();
    assert_eq!(refusal(empty.as_bytes(), &header), None);
}
