//! The active_directory connector's attribute mapping, renames and managers against a
//! real Samba AD DC: hand-made changes go through the connector's apply entry point
//! (as the planner's would), and the results are checked with raw LDAP and with the
//! connector's own reader, full and incremental.

use crate::samba;

use std::path::PathBuf;

use ldap3::Mod;
use roster::apps::active_directory::ActiveDirectoryConnector;
use roster::apps::active_directory::incremental::ReadKind;
use roster::apps::{ApplyInput, ChangeResult, ConnectContext, ReadScope};
use roster::desired::DesiredState;
use roster::observed::{ObservedApp, ObservedUser};
use roster::plan::{Action, Change, ObjectKind, Target};
use samba::*;
use serde_json::{Value, json};

/// The mapping of the tests: the login as the username, a constant, a custom attribute
/// and an office taken from another.
fn mapped(fx: &mut Fixture) {
    for (target, template) in [
        ("sAMAccountName", "{username}"),
        ("company", "Contoso"),
        ("l", "{attributes.city}"),
        ("physicalDeliveryOfficeName", "{attributes.office}"),
    ] {
        fx.app
            .attribute_map
            .insert(target.to_string(), Some(template.to_string()));
    }
}

async fn connect(fx: &Fixture) -> ActiveDirectoryConnector {
    ActiveDirectoryConnector::connect(&fx.app, &fx.ctx())
        .await
        .expect("connect")
}

async fn apply(
    conn: &ActiveDirectoryConnector,
    changes: &[Change],
    observed: &ObservedApp,
) -> Collect {
    let sink = Collect::default();
    conn.apply(
        ApplyInput {
            changes,
            desired: &DesiredState::default(),
            observed,
        },
        &sink,
    )
    .await
    .expect("apply runs");
    sink
}

fn applied_id(sink: &Collect, i: usize) -> String {
    match &sink.results()[i].1 {
        ChangeResult::Applied { id: Some(id), .. } => id.clone(),
        other => panic!("change {i} not applied with an id: {other:?}"),
    }
}

fn failure(sink: &Collect, i: usize) -> String {
    match &sink.results()[i].1 {
        ChangeResult::Failed { error, .. } => error.clone(),
        other => panic!("change {i} did not fail: {other:?}"),
    }
}

/// A create as the planner makes it: the mapped login, the mapped keys, enabled.
fn create(fx: &Fixture, username: &str, extra: &[(&str, Value)]) -> Change {
    let mut pairs: Vec<(&str, Value)> = vec![
        ("login", json!(username)),
        ("email", json!(format!("{username}@example.test"))),
        ("first_name", json!("Jo")),
        ("last_name", json!(username)),
        ("display_name", json!(format!("Jo {username}"))),
        ("enabled", json!(true)),
    ];
    pairs.extend(extra.iter().cloned());
    with_after(
        change(&fx.app.name, ObjectKind::User, Action::Create, username),
        &pairs,
    )
}

fn update(
    fx: &Fixture,
    key: &str,
    id: &str,
    before: &[(&str, Value)],
    after: &[(&str, Value)],
) -> Change {
    let mut c = with_after(
        change(&fx.app.name, ObjectKind::User, Action::Update, key),
        after,
    );
    c.id = Some(id.to_string());
    c.before = Some(
        before
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect(),
    );
    c
}

/// A manager change: `manager` the manager's key, `None` to clear.
fn manager_change(fx: &Fixture, user: &str, id: Option<&str>, manager: Option<&str>) -> Change {
    Change {
        app: fx.app.name.clone(),
        target: Target::Manager {
            user: user.to_string(),
        },
        action: Action::Update,
        id: id.map(str::to_string),
        before: None,
        after: Some(
            [(
                "manager".to_string(),
                manager.map_or(Value::Null, |m| json!(m)),
            )]
            .into(),
        ),
        reason: "test".into(),
    }
}

async fn entry_of(ldap: &mut ldap3::Ldap, fx: &Fixture, sam: &str) -> ldap3::SearchEntry {
    let found = search(
        ldap,
        &fx.users_ou,
        &format!("(sAMAccountName={sam})"),
        &["*", "objectGUID"],
    )
    .await;
    assert_eq!(found.len(), 1, "one {sam} under users_ou: {found:?}");
    found.into_iter().next().expect("entry")
}

fn by_id<'a>(o: &'a ObservedApp, id: &str) -> &'a ObservedUser {
    o.users
        .iter()
        .find(|u| u.id == id)
        .unwrap_or_else(|| panic!("no user {id} in {o:?}"))
}

/// Every mapped key of a create lands in its target; an update replaces and (null)
/// deletes them; the reader reports them by key; a key the app does not map fails the
/// change before anything is written.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mapped_attributes_are_written_replaced_cleared_and_read_back() {
    let mut fx = Fixture::new().await;
    mapped(&mut fx);
    let conn = connect(&fx).await;
    let name = format!("mp{}", &fx.token[..6]);
    let sink = apply(
        &conn,
        &[create(
            &fx,
            &name,
            &[
                ("company", json!("Contoso")),
                ("l", json!("Bergen")),
                ("physicalDeliveryOfficeName", json!("B-12")),
            ],
        )],
        &ObservedApp::default(),
    )
    .await;
    sink.assert_all_applied();
    let id = applied_id(&sink, 0);

    let mut ldap = raw().await;
    let e = entry_of(&mut ldap, &fx, &name).await;
    assert_eq!(guid(&e), id);
    assert_eq!(attr(&e, "company"), Some("Contoso"));
    assert_eq!(attr(&e, "l"), Some("Bergen"));
    assert_eq!(attr(&e, "physicalDeliveryOfficeName"), Some("B-12"));
    let mail = format!("{name}@example.test");
    assert_eq!(attr(&e, "mail"), Some(mail.as_str()));
    assert_eq!(
        attr(&e, "userPrincipalName"),
        Some(mail.as_str()),
        "the default email also writes userPrincipalName"
    );
    assert_eq!(attr(&e, "cn"), Some(format!("Jo {name}").as_str()));

    let observed = conn.read(&ReadScope::default()).await.expect("read");
    let u = by_id(&observed, &id);
    assert_eq!(u.login, name);
    assert_eq!(u.attribute("company"), Some("Contoso"));
    assert_eq!(u.attribute("l"), Some("Bergen"));
    assert_eq!(u.attribute("physicalDeliveryOfficeName"), Some("B-12"));
    assert_eq!(u.attribute("email"), Some(mail.as_str()));
    assert_eq!(u.attribute("manager"), None);

    let sink = apply(
        &conn,
        &[update(
            &fx,
            &name,
            &id,
            &[
                ("l", json!("Bergen")),
                ("physicalDeliveryOfficeName", json!("B-12")),
            ],
            &[
                ("l", json!("Oslo")),
                ("physicalDeliveryOfficeName", Value::Null),
            ],
        )],
        &observed,
    )
    .await;
    sink.assert_all_applied();
    let e = entry_of(&mut ldap, &fx, &name).await;
    assert_eq!(attr(&e, "l"), Some("Oslo"));
    assert_eq!(attr(&e, "physicalDeliveryOfficeName"), None, "null deletes");
    assert_eq!(attr(&e, "company"), Some("Contoso"), "untouched");
    let observed = conn.read(&ReadScope::default()).await.expect("read");
    let u = by_id(&observed, &id);
    assert_eq!(u.attribute("l"), Some("Oslo"));
    assert!(!u.attributes.contains_key("physicalDeliveryOfficeName"));

    // A key the app does not map (st is a target, but not mapped here): refused whole.
    let usn = attr(&e, "uSNChanged").map(str::to_string);
    let sink = apply(
        &conn,
        &[update(
            &fx,
            &name,
            &id,
            &[],
            &[("l", json!("Tromsø")), ("st", json!("Troms"))],
        )],
        &observed,
    )
    .await;
    let error = failure(&sink, 0);
    assert!(
        error.contains("`st`") && error.contains("attribute_map"),
        "{error}"
    );
    let e = entry_of(&mut ldap, &fx, &name).await;
    assert_eq!(
        attr(&e, "uSNChanged").map(str::to_string),
        usn,
        "nothing written"
    );
    conn.close().await.expect("close");
}

/// With `userPrincipalName` mapped itself, `email` writes `mail` only; with the
/// defaults unmapped (`title: null`) the reader leaves them out.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mapped_user_principal_name_is_its_own_attribute() {
    let mut fx = Fixture::new().await;
    fx.app.attribute_map.insert(
        "userPrincipalName".into(),
        Some("{username}@corp.example".into()),
    );
    fx.app.attribute_map.insert("title".into(), None);
    let conn = connect(&fx).await;
    let name = format!("up{}", &fx.token[..6]);
    let upn = format!("{name}@corp.example");
    let sink = apply(
        &conn,
        &[create(&fx, &name, &[("userPrincipalName", json!(upn))])],
        &ObservedApp::default(),
    )
    .await;
    sink.assert_all_applied();
    let id = applied_id(&sink, 0);
    let mut ldap = raw().await;
    // Out of band: a title, which this app does not manage.
    let e = entry_of(&mut ldap, &fx, &name).await;
    modify(
        &mut ldap,
        &e.dn,
        vec![Mod::Replace("title".into(), ["Chief".to_string()].into())],
    )
    .await;
    let e = entry_of(&mut ldap, &fx, &name).await;
    assert_eq!(attr(&e, "userPrincipalName"), Some(upn.as_str()));
    assert_eq!(
        attr(&e, "mail"),
        Some(format!("{name}@example.test").as_str())
    );
    let observed = conn.read(&ReadScope::default()).await.expect("read");
    let u = by_id(&observed, &id);
    assert_eq!(u.attribute("userPrincipalName"), Some(upn.as_str()));
    assert!(!u.attributes.contains_key("job_title"), "{u:?}");
    // An email change leaves the mapped userPrincipalName alone.
    let sink = apply(
        &conn,
        &[update(
            &fx,
            &name,
            &id,
            &[],
            &[("email", json!(format!("{name}@new.example")))],
        )],
        &observed,
    )
    .await;
    sink.assert_all_applied();
    let e = entry_of(&mut ldap, &fx, &name).await;
    assert_eq!(attr(&e, "userPrincipalName"), Some(upn.as_str()));
    assert_eq!(
        attr(&e, "mail"),
        Some(format!("{name}@new.example").as_str())
    );
    conn.close().await.expect("close");
}

/// A rename (before/after `login`) replaces `sAMAccountName` on the same object: the
/// objectGUID, the DN and the group memberships stay. Found by id, or (no id) by the
/// old login.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_login_rename_keeps_the_object() {
    let mut fx = Fixture::new().await;
    mapped(&mut fx);
    let t = &fx.token[..6];
    let jsmith = format!("jsmith{t}");
    let jane = format!("jane{t}");
    let mut ldap = raw().await;
    let dn = add_user(&mut ldap, &fx.users_ou, "Jane Smith", &jsmith).await;
    let group = add_group(&mut ldap, &fx.groups_ou, "Staff", &format!("st{t}")).await;
    modify(
        &mut ldap,
        &group,
        vec![Mod::Add("member".into(), [dn.clone()].into())],
    )
    .await;
    let before = read(&mut ldap, &dn, &["objectGUID"]).await.expect("user");
    let id = guid(&before);

    let conn = connect(&fx).await;
    let observed = conn.read(&ReadScope::default()).await.expect("read");
    assert_eq!(by_id(&observed, &id).login, jsmith);
    let rename = update(
        &fx,
        &jane,
        &id,
        &[("login", json!(jsmith))],
        &[("login", json!(jane)), ("username", json!(jane))],
    );
    apply(&conn, &[rename], &observed)
        .await
        .assert_all_applied();

    let e = read(
        &mut ldap,
        &dn,
        &["sAMAccountName", "objectGUID", "memberOf"],
    )
    .await
    .expect("the same entry");
    assert_eq!(attr(&e, "sAMAccountName"), Some(jane.as_str()));
    assert_eq!(guid(&e), id, "the same objectGUID");
    assert_eq!(attr_all(&e, "memberOf").len(), 1, "still a member");
    assert!(
        search(
            &mut ldap,
            &fx.users_ou,
            &format!("(sAMAccountName={jsmith})"),
            &["1.1"]
        )
        .await
        .is_empty()
    );
    let observed = conn.read(&ReadScope::default()).await.expect("read");
    let u = by_id(&observed, &id);
    assert_eq!(u.login, jane);
    assert_eq!(u.username.as_deref(), Some(jane.as_str()));

    // Back again, without the id: the old login finds it.
    let mut back = update(
        &fx,
        &jsmith,
        &id,
        &[("login", json!(jane))],
        &[("login", json!(jsmith))],
    );
    back.id = None;
    apply(&conn, &[back], &ObservedApp::default())
        .await
        .assert_all_applied();
    let e = read(&mut ldap, &dn, &["sAMAccountName", "objectGUID"])
        .await
        .expect("the same entry");
    assert_eq!(attr(&e, "sAMAccountName"), Some(jsmith.as_str()));
    assert_eq!(guid(&e), id);

    // A login taken by someone else: the rename fails and changes nothing.
    let taken = format!("tk{t}");
    add_user(&mut ldap, &fx.users_ou, "Taken Name", &taken).await;
    let clash = update(
        &fx,
        &jsmith,
        &id,
        &[("login", json!(jsmith))],
        &[("login", json!(taken)), ("l", json!("Oslo"))],
    );
    let sink = apply(&conn, &[clash], &observed).await;
    let error = failure(&sink, 0);
    assert!(error.contains("updating user"), "{error}");
    let e = read(&mut ldap, &dn, &["sAMAccountName", "l"])
        .await
        .expect("entry");
    assert_eq!(attr(&e, "sAMAccountName"), Some(jsmith.as_str()));
    assert_eq!(attr(&e, "l"), None, "one modify: all or nothing");
    conn.close().await.expect("close");
}

/// A mapped `cn` names the entry at creation, and a changed one renames it within its
/// OU (ModifyDN, same objectGUID); the display name no longer renames it. A mapped cn
/// that is taken fails the create, naming the cn.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mapped_cn_names_and_renames_the_entry() {
    let mut fx = Fixture::new().await;
    mapped(&mut fx);
    fx.app
        .attribute_map
        .insert("cn".into(), Some("{last_name}, {first_name}".into()));
    let conn = connect(&fx).await;
    let name = format!("cn{}", &fx.token[..6]);
    let sink = apply(
        &conn,
        &[create(&fx, &name, &[("cn", json!(format!("{name}, Jo")))])],
        &ObservedApp::default(),
    )
    .await;
    sink.assert_all_applied();
    let id = applied_id(&sink, 0);
    let mut ldap = raw().await;
    let e = entry_of(&mut ldap, &fx, &name).await;
    assert_eq!(attr(&e, "cn"), Some(format!("{name}, Jo").as_str()));
    assert_eq!(attr(&e, "displayName"), Some(format!("Jo {name}").as_str()));
    let observed = conn.read(&ReadScope::default()).await.expect("read");
    assert_eq!(
        by_id(&observed, &id).attribute("cn"),
        Some(format!("{name}, Jo").as_str())
    );

    let sink = apply(
        &conn,
        &[update(
            &fx,
            &name,
            &id,
            &[("cn", json!(format!("{name}, Jo")))],
            &[
                ("cn", json!(format!("{name}, Joanna"))),
                ("display_name", json!("Joanna Q")),
            ],
        )],
        &observed,
    )
    .await;
    sink.assert_all_applied();
    let e = entry_of(&mut ldap, &fx, &name).await;
    assert_eq!(guid(&e), id, "renamed in place");
    assert_eq!(attr(&e, "cn"), Some(format!("{name}, Joanna").as_str()));
    assert_eq!(attr(&e, "displayName"), Some("Joanna Q"));
    assert!(
        e.dn.to_lowercase().ends_with(&fx.users_ou.to_lowercase()),
        "within its OU: {}",
        e.dn
    );
    let observed = conn.read(&ReadScope::default()).await.expect("read");
    assert_eq!(
        by_id(&observed, &id).attribute("cn"),
        Some(format!("{name}, Joanna").as_str())
    );

    // Another create with the same cn: refused, naming it.
    let other = format!("co{}", &fx.token[..6]);
    let sink = apply(
        &conn,
        &[create(
            &fx,
            &other,
            &[("cn", json!(format!("{name}, Joanna")))],
        )],
        &observed,
    )
    .await;
    let error = failure(&sink, 0);
    assert!(
        error.contains("mapped cn") && error.contains("taken"),
        "{error}"
    );
    assert!(
        search(
            &mut ldap,
            &fx.users_ou,
            &format!("(sAMAccountName={other})"),
            &["1.1"]
        )
        .await
        .is_empty()
    );
    conn.close().await.expect("close");
}

/// Managers: set in the same apply that creates both users (the manager's DN from the
/// create), changed to an observed user, cleared (twice: idempotent); the reader
/// reports the manager's objectGUID, or `dn:<DN>` for a manager outside users_ou.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn managers_are_set_changed_and_cleared() {
    let mut fx = Fixture::new().await;
    mapped(&mut fx);
    let t = &fx.token[..6];
    let boss = format!("bo{t}");
    let emp = format!("em{t}");
    let conn = connect(&fx).await;
    let changes = [
        create(&fx, &boss, &[]),
        create(&fx, &emp, &[]),
        manager_change(&fx, &emp, None, Some(&boss)),
    ];
    let sink = apply(&conn, &changes, &ObservedApp::default()).await;
    sink.assert_all_applied();
    let boss_id = applied_id(&sink, 0);
    let emp_id = applied_id(&sink, 1);
    let mut ldap = raw().await;
    let boss_e = entry_of(&mut ldap, &fx, &boss).await;
    let emp_e = entry_of(&mut ldap, &fx, &emp).await;
    assert_eq!(attr(&emp_e, "manager"), Some(boss_e.dn.as_str()));
    let observed = conn.read(&ReadScope::default()).await.expect("read");
    assert_eq!(
        by_id(&observed, &emp_id).attribute("manager"),
        Some(boss_id.as_str())
    );
    assert_eq!(by_id(&observed, &boss_id).attribute("manager"), None);

    // Change to an observed user (the reverse), by key; then clear, twice.
    let changes = [
        manager_change(&fx, &emp, Some(&emp_id), None),
        manager_change(&fx, &boss, Some(&boss_id), Some(&emp)),
    ];
    apply(&conn, &changes, &observed).await.assert_all_applied();
    let observed = conn.read(&ReadScope::default()).await.expect("read");
    assert_eq!(by_id(&observed, &emp_id).attribute("manager"), None);
    assert_eq!(
        by_id(&observed, &boss_id).attribute("manager"),
        Some(emp_id.as_str())
    );
    for _ in 0..2 {
        apply(
            &conn,
            &[manager_change(&fx, &boss, Some(&boss_id), None)],
            &observed,
        )
        .await
        .assert_all_applied();
    }
    let e = entry_of(&mut ldap, &fx, &boss).await;
    assert_eq!(attr(&e, "manager"), None);

    // A manager nobody knows: failed, naming it; nothing written.
    let sink = apply(
        &conn,
        &[manager_change(
            &fx,
            &emp,
            Some(&emp_id),
            Some("nobody-here"),
        )],
        &observed,
    )
    .await;
    assert!(
        failure(&sink, 0).contains("nobody-here"),
        "{:?}",
        sink.results()
    );

    // A manager outside users_ou, set by hand: `dn:<DN>`.
    let outside = add_user(&mut ldap, &fx.ou, "Out Side", &format!("os{t}")).await;
    let emp_dn = entry_of(&mut ldap, &fx, &emp).await.dn;
    modify(
        &mut ldap,
        &emp_dn,
        vec![Mod::Replace("manager".into(), [outside.clone()].into())],
    )
    .await;
    let observed = conn.read(&ReadScope::default()).await.expect("read");
    let got = by_id(&observed, &emp_id)
        .attribute("manager")
        .expect("manager");
    assert_eq!(got.to_lowercase(), format!("dn:{outside}").to_lowercase());
    conn.close().await.expect("close");
}

fn cached_ctx(fx: &Fixture) -> ConnectContext {
    ConnectContext {
        repo_root: fx.repo.path().to_path_buf(),
        cache_dir: Some(cache_dir(fx)),
    }
}

fn cache_dir(fx: &Fixture) -> PathBuf {
    fx.repo.path().join(".roster").join("cache")
}

/// A cached read, checked against a full read right after it.
async fn read_both(fx: &Fixture) -> (ObservedApp, ReadKind) {
    let conn = ActiveDirectoryConnector::connect(&fx.app, &cached_ctx(fx))
        .await
        .expect("connect");
    let (cached, kind) = conn
        .read_reporting(&ReadScope::default())
        .await
        .expect("cached read");
    conn.close().await.expect("close");
    let conn = connect(fx).await;
    let full = conn.read(&ReadScope::default()).await.expect("full read");
    conn.close().await.expect("close");
    assert_eq!(
        cached, full,
        "the cached read ({kind:?}) differs from a full read"
    );
    (cached, kind)
}

fn is_incremental(kind: &ReadKind) -> bool {
    matches!(kind, ReadKind::Incremental { .. })
}

/// The snapshot holds the mapped attributes and managers; a manager deleted, moved out
/// or moved in (which leaves the subordinate's uSNChanged alone) is still seen; a
/// changed mapping means a full read.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn incremental_reads_follow_managers_and_the_mapping() {
    let mut fx = Fixture::new().await;
    mapped(&mut fx);
    let t = fx.token[..6].to_string();
    let mut ldap = raw().await;
    let elsewhere = format!("OU=Elsewhere,{}", fx.ou);
    add(
        &mut ldap,
        &elsewhere,
        vec![("objectClass", vec!["top", "organizationalUnit"])],
    )
    .await;
    let boss = add_user(&mut ldap, &fx.users_ou, "Boss One", &format!("b1{t}")).await;
    let emp = add_user(&mut ldap, &fx.users_ou, "Emp One", &format!("e1{t}")).await;
    let emp2 = add_user(&mut ldap, &fx.users_ou, "Emp Two", &format!("e2{t}")).await;
    let far = add_user(&mut ldap, &elsewhere, "Far Boss", &format!("fb{t}")).await;
    let set = |m: &str| Mod::Replace("manager".to_string(), [m.to_string()].into());
    modify(
        &mut ldap,
        &emp,
        vec![
            set(&boss),
            Mod::Replace("company".into(), ["Contoso".to_string()].into()),
        ],
    )
    .await;
    modify(&mut ldap, &emp2, vec![set(&far)]).await;

    let (first, kind) = read_both(&fx).await;
    assert!(!is_incremental(&kind), "{kind:?}");
    let id_of = |o: &ObservedApp, sam: &str| o.user_by_login(sam).expect("user").id.clone();
    let boss_id = id_of(&first, &format!("b1{t}"));
    let emp_u = first.user_by_login(&format!("e1{t}")).expect("emp");
    assert_eq!(emp_u.attribute("manager"), Some(boss_id.as_str()));
    assert_eq!(emp_u.attribute("company"), Some("Contoso"));

    // The outside manager renamed: emp2's dn: manager follows.
    let far = move_to(&mut ldap, &far, "CN=Far Boss2", None).await;
    let (o, kind) = read_both(&fx).await;
    assert!(is_incremental(&kind), "{kind:?}");
    let got = o
        .user_by_login(&format!("e2{t}"))
        .expect("e2")
        .attribute("manager")
        .map(str::to_lowercase);
    assert_eq!(got, Some(format!("dn:{far}").to_lowercase()));

    // The outside manager moved into users_ou: now an id.
    let far = move_to(&mut ldap, &far, "CN=Far Boss2", Some(&fx.users_ou)).await;
    let (o, kind) = read_both(&fx).await;
    assert!(is_incremental(&kind), "{kind:?}");
    let far_id = id_of(&o, &format!("fb{t}"));
    assert_eq!(
        o.user_by_login(&format!("e2{t}"))
            .expect("e2")
            .attribute("manager"),
        Some(far_id.as_str())
    );

    // The in-scope manager moved out, then deleted.
    let boss = move_to(&mut ldap, &boss, "CN=Boss One", Some(&elsewhere)).await;
    let (o, kind) = read_both(&fx).await;
    assert!(is_incremental(&kind), "{kind:?}");
    let got = o
        .user_by_login(&format!("e1{t}"))
        .expect("e1")
        .attribute("manager")
        .map(str::to_lowercase);
    assert_eq!(got, Some(format!("dn:{boss}").to_lowercase()));
    delete(&mut ldap, &far).await;
    let (o, kind) = read_both(&fx).await;
    assert!(is_incremental(&kind), "{kind:?}");
    assert_eq!(
        o.user_by_login(&format!("e2{t}"))
            .expect("e2")
            .attribute("manager"),
        None
    );

    // Another mapping reads other attributes: a full read that says why.
    fx.app
        .attribute_map
        .insert("st".into(), Some("{attributes.state}".into()));
    let (_, kind) = read_both(&fx).await;
    match kind {
        ReadKind::Full(Some(why)) => assert!(why.contains("attribute_map"), "{why}"),
        other => panic!("expected a full read with a reason, got {other:?}"),
    }
    let (_, kind) = read_both(&fx).await;
    assert!(is_incremental(&kind), "{kind:?}");
}
