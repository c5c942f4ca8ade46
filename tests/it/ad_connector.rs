//! The active_directory connector against a real Samba AD DC: reading, user and group
//! lifecycle, memberships, escaping, TLS and error cases. Results are checked with raw
//! LDAP searches, independently of roster's reader.

use crate::samba;

use ldap3::Mod;
use roster::apps::active_directory::ActiveDirectoryConnector;
use roster::apps::{ApplyInput, ChangeResult, ReadScope};
use roster::desired::{DesiredState, TlsSettings, User};
use roster::observed::{ObservedApp, Protection};
use roster::plan::{Action, ObjectKind};
use samba::*;
use serde_json::json;

fn user(username: &str, email: &str, first: &str, last: &str) -> User {
    User {
        start_date: None,
        end_date: None,
        attributes: Default::default(),
        manager: Default::default(),
        previous_usernames: Default::default(),
        username: username.into(),
        email: email.into(),
        first_name: first.into(),
        last_name: last.into(),
        display_name: None,
        enabled: true,
        department: None,
        job_title: None,
        employee_id: None,
        usage_location: None,
        mobile_phone: None,
        licenses: Vec::new(),
        password: None,
        immutable_id: None,
    }
}

async fn connect(fx: &Fixture) -> ActiveDirectoryConnector {
    ActiveDirectoryConnector::connect(&fx.app, &fx.ctx())
        .await
        .expect("connect")
}

async fn apply(
    conn: &ActiveDirectoryConnector,
    changes: &[roster::plan::Change],
    desired: &DesiredState,
    observed: &ObservedApp,
) -> Collect {
    let sink = Collect::default();
    conn.apply(
        ApplyInput {
            changes,
            desired,
            observed,
        },
        &sink,
    )
    .await
    .expect("apply runs");
    sink
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn read_maps_users_groups_and_members_by_guid() {
    let fx = Fixture::new().await;
    let mut ldap = raw().await;
    let alice = add_user(
        &mut ldap,
        &fx.users_ou,
        "Alice Smith",
        &format!("a-{}", fx.token),
    )
    .await;
    modify(
        &mut ldap,
        &alice,
        vec![
            Mod::Replace("mail".into(), ["alice@example.test".to_string()].into()),
            Mod::Replace("givenName".into(), ["Alice".to_string()].into()),
            Mod::Replace("sn".into(), ["Smith".to_string()].into()),
            Mod::Replace("title".into(), ["Engineer".to_string()].into()),
            Mod::Replace("employeeID".into(), ["E-1".to_string()].into()),
        ],
    )
    .await;
    let group = add_group(
        &mut ldap,
        &fx.groups_ou,
        "Sales",
        &format!("g-{}", fx.token),
    )
    .await;
    let sub = add_group(&mut ldap, &fx.groups_ou, "Sub", &format!("s-{}", fx.token)).await;
    // A user outside users_ou that is a member: kept as a dn: id.
    let outside = add_user(&mut ldap, &fx.ou, "Outsider", &format!("o-{}", fx.token)).await;
    modify(
        &mut ldap,
        &group,
        vec![Mod::Add(
            "member".into(),
            [alice.clone(), sub.clone(), outside.clone()].into(),
        )],
    )
    .await;

    let conn = connect(&fx).await;
    let observed = conn.read(&ReadScope::default()).await.expect("read");
    assert_eq!(
        observed.users.len(),
        1,
        "only users under users_ou: {observed:?}"
    );
    let u = &observed.users[0];
    let raw_alice = read(&mut ldap, &alice, &["objectGUID"])
        .await
        .expect("alice");
    assert_eq!(u.id, guid(&raw_alice));
    assert_eq!(u.login, format!("a-{}", fx.token));
    assert_eq!(u.username.as_deref(), Some(u.login.as_str()));
    assert!(!u.enabled, "514 is disabled");
    assert_eq!(u.attribute("email"), Some("alice@example.test"));
    assert_eq!(u.attribute("first_name"), Some("Alice"));
    assert_eq!(u.attribute("last_name"), Some("Smith"));
    assert_eq!(u.attribute("job_title"), Some("Engineer"));
    assert_eq!(u.attribute("employee_id"), Some("E-1"));
    assert!(!u.attributes.contains_key("department"));
    assert_eq!(
        u.location.as_deref().map(str::to_lowercase),
        Some(alice.to_lowercase())
    );

    let names: Vec<&str> = observed.groups.iter().map(|g| g.name.as_str()).collect();
    assert_eq!(names, ["Sales", "Sub"]);
    let sales = &observed.groups[0];
    assert_eq!(sales.kind, "security");
    let raw_sub = read(&mut ldap, &sub, &["objectGUID"]).await.expect("sub");
    assert!(sales.member_ids.contains(u.id.as_str()));
    assert!(sales.member_ids.contains(guid(&raw_sub).as_str()));
    let outside_ids: Vec<&str> = sales
        .member_ids
        .iter()
        .map(|m| m.as_str())
        .filter(|m| m.starts_with("dn:"))
        .collect();
    assert_eq!(outside_ids.len(), 1);
    assert_eq!(
        outside_ids[0].to_lowercase(),
        format!("dn:{outside}").to_lowercase()
    );
    assert!(
        observed
            .directory_id
            .as_deref()
            .unwrap_or("")
            .starts_with("S-1-5-21-")
    );

    // Member lists only for the groups asked for.
    let scope = ReadScope {
        deleted_groups: Default::default(),
        managers: Default::default(),
        user_fields: Default::default(),
        member_groups: Some(["Sub".to_string()].into()),
    };
    let partial = conn.read(&scope).await.expect("read");
    assert!(
        partial
            .group_by_name("Sales")
            .expect("sales")
            .member_ids
            .is_empty()
    );
    conn.close().await.expect("close");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn accounts_with_admin_count_are_protected_by_admin_sd_holder() {
    let fx = Fixture::new().await;
    let mut ldap = raw().await;
    let admin_sam = format!("adm-{}", fx.token);
    let plain_sam = format!("pln-{}", fx.token);
    let admin = add_admin_count_user(&mut ldap, &fx.users_ou, "Admin Count", &admin_sam).await;
    add_user(&mut ldap, &fx.users_ou, "Plain User", &plain_sam).await;
    let raw_admin = read(&mut ldap, &admin, &["adminCount"])
        .await
        .expect("admin");
    assert_eq!(attr(&raw_admin, "adminCount"), Some("1"), "the DC holds it");

    let conn = connect(&fx).await;
    let observed = conn.read(&ReadScope::default()).await.expect("read");
    conn.close().await.expect("close");
    let by_login = |l: &str| observed.user_by_login(l).expect("read back");
    assert_eq!(
        by_login(&admin_sam).protections,
        vec![Protection::AdminSdHolder]
    );
    assert!(by_login(&plain_sam).protections.is_empty());
}

/// Users are deleted with the Tree Delete control, which AD allows only with the
/// "Delete subtree" right; an account delegated plain "Delete" still deletes users
/// without children, and a user with children fails naming the missing right. With
/// the right, the user goes with its children.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn user_deletes_without_the_delete_subtree_right() {
    let mut fx = Fixture::new().await;
    let mut ldap = raw().await;
    let password = "Dele-Gated1!pw";
    let delegate = add_account(
        &mut ldap,
        &fx.ou,
        "Delegate",
        &format!("dg-{}", fx.token),
        password,
    )
    .await;
    let sid = object_sid(&mut ldap, &delegate).await;
    let read_and_delete = rights::READ_PROPERTY
        | rights::LIST_CHILDREN
        | rights::LIST_OBJECT
        | rights::READ_CONTROL
        | rights::DELETE;
    set_dacl(&mut ldap, &fx.ou, &[(&sid, read_and_delete)]).await;
    let leaf_sam = format!("lf-{}", fx.token);
    let parent_sam = format!("pa-{}", fx.token);
    let leaf = add_user(&mut ldap, &fx.users_ou, "Leaf User", &leaf_sam).await;
    let parent = add_user(&mut ldap, &fx.users_ou, "Parent User", &parent_sam).await;
    let child = add_child_of_user(&mut ldap, &parent, "ExchangeActiveSyncDevices").await;

    fx.app.bind_dn = delegate.clone();
    fx.app.bind_password = fx.secret_file("delegate.pw", password);
    let conn = connect(&fx).await;
    let observed = conn.read(&ReadScope::default()).await.expect("read");
    let delete = |sam: &str| change(&fx.app.name, ObjectKind::User, Action::Delete, sam);
    let sink = apply(
        &conn,
        &[delete(&leaf_sam), delete(&parent_sam)],
        &DesiredState::default(),
        &observed,
    )
    .await;
    let results = sink.results();
    assert!(
        matches!(results[0].1, ChangeResult::Applied { .. }),
        "{results:?}"
    );
    match &results[1].1 {
        ChangeResult::Failed { error, .. } => assert!(
            error.contains("child objects")
                && error.contains("Delete subtree")
                && error.contains("LDAP result 66"),
            "{error}"
        ),
        other => panic!("the user with children is not deleted without the right: {other:?}"),
    }
    assert!(read(&mut ldap, &leaf, &["1.1"]).await.is_none());
    assert!(read(&mut ldap, &child, &["1.1"]).await.is_some());

    set_dacl(
        &mut ldap,
        &fx.ou,
        &[(&sid, read_and_delete | rights::DELETE_TREE)],
    )
    .await;
    let sink = apply(
        &conn,
        &[delete(&parent_sam)],
        &DesiredState::default(),
        &observed,
    )
    .await;
    sink.assert_all_applied();
    conn.close().await.expect("close");
    assert!(read(&mut ldap, &parent, &["1.1"]).await.is_none());
    assert!(read(&mut ldap, &child, &["1.1"]).await.is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn user_lifecycle_create_update_disable_enable_delete() {
    let fx = Fixture::new().await;
    let login = format!("u{}", fx.token);
    let password = "Corr3ct-Horse-Battery!";
    let mut desired = DesiredState::default();
    let mut u = user(&login, &format!("{login}@example.test"), "Jürgen", "Ölmez");
    u.password = Some(fx.secret_file("user.pw", password));
    desired.users.push(u);
    let conn = connect(&fx).await;
    let app = fx.app.name.clone();

    let create = with_after(
        change(&app, ObjectKind::User, Action::Create, &login),
        &[
            ("email", json!(format!("{login}@example.test"))),
            ("first_name", json!("Jürgen")),
            ("last_name", json!("Ölmez")),
            ("display_name", json!("Jürgen Ölmez")),
            ("department", json!("Sales")),
            ("job_title", json!("Rep")),
            ("enabled", json!(true)),
            ("password", json!("file user.pw")),
        ],
    );
    let empty = ObservedApp::default();
    let sink = apply(&conn, &[create], &desired, &empty).await;
    sink.assert_all_applied();
    let id = match &sink.results()[0].1 {
        ChangeResult::Applied { id, .. } => id.clone().expect("id of created user"),
        _ => unreachable!(),
    };

    let mut ldap = raw().await;
    let filter = format!("(sAMAccountName={login})");
    let found = search(&mut ldap, &fx.users_ou, &filter, &["*", "objectGUID"]).await;
    assert_eq!(found.len(), 1);
    let e = &found[0];
    assert_eq!(guid(e), id);
    assert_eq!(attr(e, "userAccountControl"), Some("512"));
    assert_eq!(attr(e, "cn"), Some("Jürgen Ölmez"));
    assert_eq!(
        attr(e, "userPrincipalName"),
        Some(format!("{login}@example.test").as_str())
    );
    assert_eq!(
        attr(e, "mail"),
        Some(format!("{login}@example.test").as_str())
    );
    assert_eq!(attr(e, "givenName"), Some("Jürgen"));
    assert_eq!(attr(e, "department"), Some("Sales"));
    let dn = e.dn.clone();
    // The password from the secret reference works.
    assert_eq!(try_bind(&dn, password).await, 0);
    assert_eq!(try_bind(&dn, "Wrong-Passw0rd!").await, 49);

    // Update: only what changed; a null value removes the attribute.
    let observed = conn.read(&ReadScope::default()).await.expect("read");
    let mut update = with_after(
        change(&app, ObjectKind::User, Action::Update, &login),
        &[
            ("department", json!("Support")),
            ("job_title", json!(null)),
            ("display_name", json!("Jürgen Q. Ölmez, Jr.")),
        ],
    );
    update.id = Some(id.clone());
    apply(&conn, &[update], &desired, &observed)
        .await
        .assert_all_applied();
    // The CN follows the display name.
    assert!(read(&mut ldap, &dn, &["1.1"]).await.is_none(), "renamed");
    let found = search(&mut ldap, &fx.users_ou, &filter, &["cn"]).await;
    assert_eq!(attr(&found[0], "cn"), Some("Jürgen Q. Ölmez, Jr."));
    let dn = found[0].dn.clone();
    let e = read(&mut ldap, &dn, &["*"]).await.expect("user");
    assert_eq!(attr(e_ref(&e), "department"), Some("Support"));
    assert_eq!(attr(&e, "displayName"), Some("Jürgen Q. Ölmez, Jr."));
    assert_eq!(attr(&e, "title"), None);
    assert_eq!(attr(&e, "givenName"), Some("Jürgen"));

    let observed = conn.read(&ReadScope::default()).await.expect("read");
    // Disable keeps other bits (DONT_EXPIRE_PASSWORD 0x10000 set by hand).
    modify(
        &mut ldap,
        &dn,
        vec![Mod::Replace(
            "userAccountControl".into(),
            ["66048".to_string()].into(),
        )],
    )
    .await;
    let mut disable = change(&app, ObjectKind::User, Action::Disable, &login);
    disable.id = Some(id.clone());
    apply(&conn, &[disable], &desired, &observed)
        .await
        .assert_all_applied();
    let e = read(&mut ldap, &dn, &["userAccountControl"])
        .await
        .expect("user");
    assert_eq!(attr(&e, "userAccountControl"), Some("66050"));
    let after = conn.read(&ReadScope::default()).await.expect("read");
    assert!(!after.user_by_login(&login).expect("user").enabled);

    let mut enable = change(&app, ObjectKind::User, Action::Enable, &login);
    enable.id = Some(id.clone());
    apply(&conn, &[enable], &desired, &observed)
        .await
        .assert_all_applied();
    let e = read(&mut ldap, &dn, &["userAccountControl"])
        .await
        .expect("user");
    assert_eq!(attr(&e, "userAccountControl"), Some("66048"));

    let mut delete = change(&app, ObjectKind::User, Action::Delete, &login);
    delete.id = Some(id.clone());
    apply(&conn, &[delete.clone()], &desired, &observed)
        .await
        .assert_all_applied();
    assert!(read(&mut ldap, &dn, &["1.1"]).await.is_none());
    // Deleting again is idempotent.
    apply(&conn, &[delete], &desired, &observed)
        .await
        .assert_all_applied();
}

fn e_ref(e: &ldap3::SearchEntry) -> &ldap3::SearchEntry {
    e
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn created_user_without_password_gets_a_generated_one_and_is_enabled() {
    let fx = Fixture::new().await;
    let login = format!("g{}", fx.token);
    let conn = connect(&fx).await;
    let desired = DesiredState::default();
    let create = with_after(
        change(&fx.app.name, ObjectKind::User, Action::Create, &login),
        &[
            ("email", json!(format!("{login}@example.test"))),
            ("first_name", json!("Gen")),
            ("last_name", json!("Erated")),
            ("enabled", json!(true)),
        ],
    );
    apply(&conn, &[create], &desired, &ObservedApp::default())
        .await
        .assert_all_applied();
    let mut ldap = raw().await;
    let found = search(
        &mut ldap,
        &fx.users_ou,
        &format!("(sAMAccountName={login})"),
        &["userAccountControl", "pwdLastSet", "displayName"],
    )
    .await;
    assert_eq!(found.len(), 1);
    assert_eq!(attr(&found[0], "userAccountControl"), Some("512"));
    assert_ne!(
        attr(&found[0], "pwdLastSet"),
        Some("0"),
        "a password was set"
    );
    assert_eq!(attr(&found[0], "displayName"), Some("Gen Erated"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn groups_and_memberships_in_batches_idempotently() {
    let fx = Fixture::new().await;
    let mut ldap = raw().await;
    let mut user_dns = Vec::new();
    for i in 0..5 {
        user_dns.push(
            add_user(
                &mut ldap,
                &fx.users_ou,
                &format!("User {i}"),
                &format!("m{i}{}", fx.token),
            )
            .await,
        );
    }
    let conn = connect(&fx).await;
    let app = fx.app.name.clone();
    let desired = DesiredState::default();
    let observed = conn.read(&ReadScope::default()).await.expect("read");
    let mut changes = vec![
        with_after(
            change(&app, ObjectKind::Group, Action::Create, "team"),
            &[("description", json!("The team"))],
        ),
        change(&app, ObjectKind::Group, Action::Create, "inner"),
    ];
    for i in 0..4 {
        changes.push(membership(
            &app,
            Action::Add,
            "team",
            &format!("m{i}{}", fx.token),
        ));
    }
    changes.push(membership(&app, Action::Add, "team", "group:inner"));
    let sink = apply(&conn, &changes, &desired, &observed).await;
    sink.assert_all_applied();
    assert_eq!(sink.results().len(), changes.len());

    let groups = search(
        &mut ldap,
        &fx.groups_ou,
        "(cn=team)",
        &["member", "groupType", "description"],
    )
    .await;
    assert_eq!(groups.len(), 1);
    let team_dn = groups[0].dn.clone();
    assert_eq!(attr(&groups[0], "groupType"), Some("-2147483646"));
    assert_eq!(attr(&groups[0], "description"), Some("The team"));
    assert_eq!(attr_all(&groups[0], "member").len(), 5);

    // m0 again (already a member) together with m4 (new): the batch fails as a
    // whole on the server, roster falls back and both end applied.
    let observed = conn.read(&ReadScope::default()).await.expect("read");
    let changes = vec![
        membership(&app, Action::Add, "team", &format!("m0{}", fx.token)),
        membership(&app, Action::Add, "team", &format!("m4{}", fx.token)),
        membership(&app, Action::Remove, "team", &format!("m1{}", fx.token)),
        membership(&app, Action::Remove, "team", &format!("m4{}", fx.token)),
        membership(&app, Action::Remove, "team", "group:inner"),
    ];
    // Removing m4 right after adding it; then remove m1 twice below.
    let sink = apply(&conn, &changes, &desired, &observed).await;
    sink.assert_all_applied();
    let e = read(&mut ldap, &team_dn, &["member"]).await.expect("team");
    let mut members: Vec<String> = attr_all(&e, "member")
        .iter()
        .map(|m| m.to_lowercase())
        .collect();
    members.sort();
    let mut expected: Vec<String> = [&user_dns[0], &user_dns[2], &user_dns[3]]
        .iter()
        .map(|d| d.to_lowercase())
        .collect();
    expected.sort();
    assert_eq!(members, expected);
    // Removing a non-member (m1, removed above) counts as done.
    let again = vec![
        membership(&app, Action::Remove, "team", &format!("m1{}", fx.token)),
        membership(&app, Action::Remove, "team", &format!("m2{}", fx.token)),
    ];
    apply(&conn, &again, &desired, &observed)
        .await
        .assert_all_applied();
    let e = read(&mut ldap, &team_dn, &["member"]).await.expect("team");
    assert_eq!(attr_all(&e, "member").len(), 2);

    // Group update and delete.
    let observed = conn.read(&ReadScope::default()).await.expect("read");
    let changes = vec![
        with_after(
            change(&app, ObjectKind::Group, Action::Update, "team"),
            &[("description", json!("Renamed team"))],
        ),
        change(&app, ObjectKind::Group, Action::Delete, "inner"),
    ];
    apply(&conn, &changes, &desired, &observed)
        .await
        .assert_all_applied();
    let e = read(&mut ldap, &team_dn, &["description"])
        .await
        .expect("team");
    assert_eq!(attr(&e, "description"), Some("Renamed team"));
    assert!(
        search(&mut ldap, &fx.groups_ou, "(cn=inner)", &["1.1"])
            .await
            .is_empty()
    );

    // A failed group create skips its membership adds.
    let changes = vec![
        change(&app, ObjectKind::Group, Action::Create, "team"),
        membership(&app, Action::Add, "team", &format!("m3{}", fx.token)),
    ];
    let results = apply(&conn, &changes, &desired, &observed).await.results();
    assert!(matches!(&results[0].1, ChangeResult::Failed { error, .. } if error.contains("team")));
    assert!(matches!(
        &results[1].1,
        ChangeResult::SkippedDependency { .. }
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn names_with_special_characters_are_escaped() {
    let fx = Fixture::new().await;
    let conn = connect(&fx).await;
    let app = fx.app.name.clone();
    let login = format!("e{}", fx.token);
    let display = r#"#Smith, J+r "Q" \ <a> ; b=c * (x) Ærø "#;
    let group = r#"#Sales, EU+"x" \ <y> ; z=1 * (all) Ünïcødé"#;
    let desired = DesiredState::default();
    let changes = vec![
        change(&app, ObjectKind::Group, Action::Create, group),
        with_after(
            change(&app, ObjectKind::User, Action::Create, &login),
            &[
                ("email", json!(format!("{login}@example.test"))),
                ("first_name", json!("J")),
                ("last_name", json!("Smith")),
                ("display_name", json!(display)),
                ("enabled", json!(true)),
            ],
        ),
        membership(&app, Action::Add, group, &login),
    ];
    apply(&conn, &changes, &desired, &ObservedApp::default())
        .await
        .assert_all_applied();

    let observed = conn.read(&ReadScope::default()).await.expect("read");
    let g = observed
        .group_by_name(group)
        .expect("group name round-trips");
    let u = observed.user_by_login(&login).expect("user");
    assert_eq!(u.attribute("display_name"), Some(display));
    assert!(g.member_ids.contains(u.id.as_str()));

    let mut ldap = raw().await;
    let filter = format!("(cn={})", ldap3::ldap_escape(group));
    let raw_groups = search(&mut ldap, &fx.groups_ou, &filter, &["cn", "sAMAccountName"]).await;
    assert_eq!(raw_groups.len(), 1);
    assert_eq!(attr(&raw_groups[0], "cn"), Some(group));
    let filter = format!("(cn={})", ldap3::ldap_escape(display.trim_end()));
    let raw_users = search(&mut ldap, &fx.users_ou, &filter, &["cn"]).await;
    assert_eq!(raw_users.len(), 1, "CN is the display name");

    // Lookup by name through a filter (not from the observed state) and removal.
    let changes = vec![
        membership(&app, Action::Remove, group, &login),
        change(&app, ObjectKind::Group, Action::Delete, group),
    ];
    apply(&conn, &changes, &desired, &ObservedApp::default())
        .await
        .assert_all_applied();
    assert!(
        search(&mut ldap, &fx.groups_ou, "(objectClass=group)", &["1.1"])
            .await
            .is_empty()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn same_display_name_twice_gets_unique_cn() {
    let fx = Fixture::new().await;
    let conn = connect(&fx).await;
    let app = fx.app.name.clone();
    let changes: Vec<_> = ["a", "b"]
        .iter()
        .map(|s| {
            let login = format!("{s}{}", fx.token);
            with_after(
                change(&app, ObjectKind::User, Action::Create, &login),
                &[
                    ("email", json!(format!("{login}@example.test"))),
                    ("display_name", json!("Pat Doe")),
                    ("enabled", json!(false)),
                ],
            )
        })
        .collect();
    apply(
        &conn,
        &changes,
        &DesiredState::default(),
        &ObservedApp::default(),
    )
    .await
    .assert_all_applied();
    let mut ldap = raw().await;
    let found = search(
        &mut ldap,
        &fx.users_ou,
        "(displayName=Pat Doe)",
        &["cn", "userAccountControl"],
    )
    .await;
    assert_eq!(found.len(), 2);
    assert!(
        found
            .iter()
            .all(|e| attr(e, "userAccountControl") == Some("514"))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn objects_outside_the_ous_are_never_touched() {
    let fx = Fixture::new().await;
    let mut ldap = raw().await;
    let sam = format!("x{}", fx.token);
    let outside = add_user(&mut ldap, &fx.ou, "Outside User", &sam).await;
    let conn = connect(&fx).await;
    let app = fx.app.name.clone();
    let changes = vec![
        change(&app, ObjectKind::User, Action::Delete, &sam),
        change(&app, ObjectKind::User, Action::Enable, &sam),
    ];
    let results = apply(
        &conn,
        &changes,
        &DesiredState::default(),
        &ObservedApp::default(),
    )
    .await
    .results();
    assert!(results.iter().all(|(_, r)| r.is_failure()));
    let e = read(&mut ldap, &outside, &["userAccountControl"])
        .await
        .expect("still there");
    assert_eq!(attr(&e, "userAccountControl"), Some("514"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn password_over_plain_ldap_is_refused_before_any_write() {
    let fx = Fixture::new().await;
    let mut app = fx.app.clone();
    app.url = dc().ldap_url.clone();
    app.starttls = Some(false);
    let conn = ActiveDirectoryConnector::connect(&app, &fx.ctx())
        .await
        .expect("plain connect");
    assert!(!conn.is_tls());
    let login = format!("p{}", fx.token);
    let enabled = with_after(
        change(&app.name, ObjectKind::User, Action::Create, &login),
        &[
            ("email", json!(format!("{login}@example.test"))),
            ("enabled", json!(true)),
        ],
    );
    let results = apply(
        &conn,
        &[enabled],
        &DesiredState::default(),
        &ObservedApp::default(),
    )
    .await
    .results();
    match &results[0].1 {
        ChangeResult::Failed { error, .. } => {
            assert!(error.contains("without TLS"), "{error}")
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
    let mut ldap = raw().await;
    assert!(
        search(
            &mut ldap,
            &fx.users_ou,
            &format!("(sAMAccountName={login})"),
            &["1.1"]
        )
        .await
        .is_empty(),
        "nothing was written"
    );
    // A disabled user without a password needs no password: allowed.
    let disabled = with_after(
        change(&app.name, ObjectKind::User, Action::Create, &login),
        &[("enabled", json!(false))],
    );
    apply(
        &conn,
        &[disabled],
        &DesiredState::default(),
        &ObservedApp::default(),
    )
    .await
    .assert_all_applied();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn starttls_and_server_name() {
    let fx = Fixture::new().await;
    let mut app = fx.app.clone();
    app.url = dc().ldap_url.clone();
    let conn = ActiveDirectoryConnector::connect(&app, &fx.ctx())
        .await
        .expect("StartTLS connect");
    assert!(conn.is_tls());
    conn.read(&ReadScope::default())
        .await
        .expect("read over StartTLS");

    let mut app = fx.app.clone();
    app.tls = Some(TlsSettings {
        ca_file: Some(dc().ca.clone()),
        server_name: Some("dc1.example.test".into()),
    });
    ActiveDirectoryConnector::connect(&app, &fx.ctx())
        .await
        .expect("server_name in the certificate's SANs");

    app.tls = Some(TlsSettings {
        ca_file: Some(dc().ca.clone()),
        server_name: Some("other.example.test".into()),
    });
    let err = ActiveDirectoryConnector::connect(&app, &fx.ctx())
        .await
        .expect_err("name mismatch");
    let msg = format!("{err:#}");
    assert!(
        msg.contains("TLS") && msg.contains("other.example.test"),
        "{msg}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connection_errors_are_clear() {
    let fx = Fixture::new().await;
    // Wrong CA, on ldaps:// and on StartTLS.
    for url in [dc().url.clone(), dc().ldap_url.clone()] {
        let mut app = fx.app.clone();
        app.url = url.clone();
        app.tls = Some(TlsSettings {
            ca_file: Some(dc().wrong_ca.clone()),
            server_name: None,
        });
        let msg = format!(
            "{:#}",
            ActiveDirectoryConnector::connect(&app, &fx.ctx())
                .await
                .expect_err("wrong CA")
        );
        eprintln!("wrong CA via {url}: {msg}");
        assert!(msg.contains("TLS"), "{url}: {msg}");
        assert!(msg.contains(&dc().wrong_ca), "names the CA file: {msg}");
    }
    // No CA given: the system store does not know the test CA.
    let mut app = fx.app.clone();
    app.tls = None;
    let msg = format!(
        "{:#}",
        ActiveDirectoryConnector::connect(&app, &fx.ctx())
            .await
            .expect_err("unknown CA")
    );
    assert!(msg.contains("TLS"), "{msg}");

    // Refused bind; the password never appears.
    std::fs::write(fx.repo.path().join("bad.pw"), "Not-The-Passw0rd").expect("write");
    let mut app = fx.app.clone();
    app.bind_password = roster::desired::SecretRef::File("bad.pw".into());
    let msg = format!(
        "{:#}",
        ActiveDirectoryConnector::connect(&app, &fx.ctx())
            .await
            .expect_err("bad password")
    );
    assert!(
        msg.contains("refused") && msg.contains("invalid credentials"),
        "{msg}"
    );
    assert!(msg.contains(&dc().bind_dn), "{msg}");
    assert!(!msg.contains("Not-The-Passw0rd"), "{msg}");

    // Unreachable server.
    let mut app = fx.app.clone();
    app.url = "ldaps://127.0.0.1:1".into();
    let msg = format!(
        "{:#}",
        ActiveDirectoryConnector::connect(&app, &fx.ctx())
            .await
            .expect_err("unreachable")
    );
    assert!(
        msg.contains("cannot reach") && msg.contains("127.0.0.1:1"),
        "{msg}"
    );

    // Missing OU.
    let mut app = fx.app.clone();
    app.users_ou = format!("OU=Nope,{}", fx.ou);
    let msg = format!(
        "{:#}",
        ActiveDirectoryConnector::connect(&app, &fx.ctx())
            .await
            .expect_err("missing OU")
    );
    assert!(
        msg.contains("users_ou") && msg.contains(&app.users_ou),
        "{msg}"
    );

    // A bad scheme.
    let mut app = fx.app.clone();
    app.url = "http://127.0.0.1".into();
    let msg = format!(
        "{:#}",
        ActiveDirectoryConnector::connect(&app, &fx.ctx())
            .await
            .expect_err("scheme")
    );
    assert!(msg.contains("ldaps://"), "{msg}");
}

/// What the planner compares must round-trip: after creating users and a group from a
/// desired state, the read-back attributes equal the desired ones (so the next plan is
/// empty), and hand-made drift (a member removed, a disabled account re-enabled) shows.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn applied_state_reads_back_as_desired_and_drift_shows() {
    let fx = Fixture::new().await;
    let conn = connect(&fx).await;
    let app = fx.app.name.clone();
    let mut desired = DesiredState::default();
    for (i, (first, last)) in [("Ada", "Lovelace"), ("Émile", "Borel"), ("Zoë", "O'Brien")]
        .iter()
        .enumerate()
    {
        let login = format!("r{i}{}", fx.token);
        let mut u = user(&login, &format!("{login}@example.test"), first, last);
        u.department = Some("R&D".into());
        u.employee_id = Some(format!("{i}"));
        u.enabled = i != 2;
        desired.users.push(u);
    }
    let mut changes = vec![with_after(
        change(&app, ObjectKind::Group, Action::Create, "R&D (all)"),
        &[("description", json!("Research, development"))],
    )];
    for u in &desired.users {
        changes.push(with_after(
            change(&app, ObjectKind::User, Action::Create, &u.username),
            &[
                ("email", json!(u.email)),
                ("first_name", json!(u.first_name)),
                ("last_name", json!(u.last_name)),
                ("display_name", json!(u.display_name())),
                ("department", json!(u.department)),
                ("employee_id", json!(u.employee_id)),
                ("enabled", json!(u.enabled)),
            ],
        ));
    }
    for u in &desired.users {
        changes.push(membership(&app, Action::Add, "R&D (all)", &u.username));
    }
    apply(&conn, &changes, &desired, &ObservedApp::default())
        .await
        .assert_all_applied();

    let observed = conn.read(&ReadScope::default()).await.expect("read");
    assert_eq!(observed.users.len(), 3);
    for u in &desired.users {
        let o = observed.user_by_login(&u.username).expect("user read back");
        let expected: roster::observed::Attributes = [
            ("email", Some(u.email.clone())),
            ("first_name", Some(u.first_name.clone())),
            ("last_name", Some(u.last_name.clone())),
            ("display_name", Some(u.display_name())),
            ("department", u.department.clone()),
            ("employee_id", u.employee_id.clone()),
        ]
        .into_iter()
        .filter_map(|(k, v)| v.map(|v| (k.to_string(), v)))
        .collect();
        let mut managed = o.attributes.clone();
        managed.remove(roster::plan::planner::PWD_LAST_SET);
        assert_eq!(managed, expected, "{}", u.username);
        assert_eq!(o.enabled, u.enabled, "{}", u.username);
    }
    let g = observed.group_by_name("R&D (all)").expect("group");
    assert_eq!(g.description.as_deref(), Some("Research, development"));
    let ids: std::collections::BTreeSet<roster::observed::MemberId> = observed
        .users
        .iter()
        .map(|u| u.id.as_str().into())
        .collect();
    assert_eq!(g.member_ids, ids);

    // Drift made by hand: a member removed, the disabled account enabled.
    let mut ldap = raw().await;
    let r0 = observed
        .user_by_login(&desired.users[0].username)
        .expect("r0");
    let r2 = observed
        .user_by_login(&desired.users[2].username)
        .expect("r2");
    let group_dn = g.location.clone().expect("dn");
    let r0_dn = r0.location.clone().expect("dn");
    modify(
        &mut ldap,
        &group_dn,
        vec![Mod::Delete("member".into(), [r0_dn].into())],
    )
    .await;
    modify(
        &mut ldap,
        r2.location.as_deref().expect("dn"),
        vec![Mod::Replace(
            "userAccountControl".into(),
            ["512".to_string()].into(),
        )],
    )
    .await;
    let drifted = conn.read(&ReadScope::default()).await.expect("read");
    let g2 = drifted.group_by_name("R&D (all)").expect("group");
    assert!(!g2.member_ids.contains(r0.id.as_str()));
    assert_eq!(g2.member_ids.len(), 2);
    assert!(drifted.user_by_login(&r2.login).expect("r2").enabled);

    // Reverting the drift.
    let mut disable = change(&app, ObjectKind::User, Action::Disable, &r2.login);
    disable.id = Some(r2.id.clone());
    let changes = vec![
        membership(&app, Action::Add, "R&D (all)", &r0.login),
        disable,
    ];
    apply(&conn, &changes, &desired, &drifted)
        .await
        .assert_all_applied();
    let reverted = conn.read(&ReadScope::default()).await.expect("read");
    assert_eq!(reverted.users, observed.users);
    assert_eq!(reverted.groups, observed.groups);
}

/// A read with a scope gives exactly the unscoped read with the members of the groups
/// outside the scope left out, whichever way it reads them: per-group lookups (a few
/// groups in scope) or within the paged group search (many names in scope).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scoped_reads_match_the_full_read_both_ways() {
    use roster::apps::active_directory::read::{INLINE_MEMBERS_FROM, members_inline};
    let fx = Fixture::new().await;
    let mut ldap = raw().await;
    let mut users = Vec::new();
    for i in 0..4 {
        users.push(
            add_user(
                &mut ldap,
                &fx.users_ou,
                &format!("U {i}"),
                &format!("u{i}-{}", fx.token),
            )
            .await,
        );
    }
    let outside = add_user(&mut ldap, &fx.ou, "Outsider", &format!("o-{}", fx.token)).await;
    let mut groups = Vec::new();
    for g in 0..12 {
        groups.push(
            add_group(
                &mut ldap,
                &fx.groups_ou,
                &format!("G{g}"),
                &format!("g{g}-{}", fx.token),
            )
            .await,
        );
    }
    for (g, dn) in groups.iter().enumerate() {
        let mut members: Vec<String> = users
            .iter()
            .skip(g % 3)
            .step_by(1 + g % 2)
            .cloned()
            .collect();
        if g % 4 == 0 {
            members.push(groups[(g + 1) % groups.len()].clone());
        }
        if g % 5 == 0 {
            members.push(outside.clone());
        }
        modify(
            &mut ldap,
            dn,
            vec![Mod::Add("member".into(), members.into_iter().collect())],
        )
        .await;
    }

    let conn = connect(&fx).await;
    let full = conn.read(&ReadScope::default()).await.expect("read");
    assert_eq!(full.groups.len(), 12);
    let in_scope: Vec<String> = (0..12)
        .filter(|g| g % 3 != 1)
        .map(|g| format!("G{g}"))
        .collect();
    let mut expected = full.clone();
    for g in &mut expected.groups {
        if !in_scope.contains(&g.name) {
            g.member_ids.clear();
        }
    }
    assert_ne!(expected, full, "the scope leaves members out");
    let scope_of = |names: Vec<String>| ReadScope {
        deleted_groups: Default::default(),
        managers: Default::default(),
        user_fields: Default::default(),
        member_groups: Some(names.into_iter().collect()),
    };

    let few = scope_of(in_scope.clone());
    assert!(!members_inline(&few));
    assert_eq!(
        conn.read(&few).await.expect("read"),
        expected,
        "per-group lookups"
    );

    // Names of groups that do not exist count towards the scope, never match.
    let mut names = in_scope.clone();
    names.extend((0..INLINE_MEMBERS_FROM).map(|i| format!("absent {i}")));
    let many = scope_of(names);
    assert!(members_inline(&many));
    assert_eq!(
        conn.read(&many).await.expect("read"),
        expected,
        "within the search"
    );
    conn.close().await.expect("close");
}
