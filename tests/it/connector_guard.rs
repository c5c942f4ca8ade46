//! The connectors' last line of defence: whatever plan a connector is handed, a change
//! that the app's own settings forbid (a switch that is off, an `ignore` pattern,
//! outside the management scope) is refused with the reason and never sent.

use crate::o365_common;

use o365_common::*;
use roster::apps::ChangeResult;
use roster::desired::{App, DesiredState, GroupKind, Switches};
use roster::plan::{Action, Change, ObjectKind};

fn refusal(rec: &Recorder, object: ObjectKind, key: &str, action: Action) -> String {
    match rec.result_of(object, key, action) {
        Some(ChangeResult::Failed { error, .. }) => error,
        other => panic!("{object} {key} {action}: expected a refusal, got {other:?}"),
    }
}

#[tokio::test]
async fn changes_the_app_settings_forbid_are_refused_and_never_sent() {
    let mut cfg = config();
    cfg.domains.push("fabrikam.com".into());
    let env = start(cfg).await;
    let conn = env.connect().await;

    // Live: a repository user, a break-glass admin, a user of another domain, a group
    // the repository does not define. Made without app settings (nothing to guard).
    let alice = user("alice");
    let mut admin = user("breakglass-admin");
    admin.email = "breakglass-admin@contoso.com".into();
    let mut eve = user("eve");
    eve.email = "eve@fabrikam.com".into();
    let seed = desired(
        vec![alice.clone(), admin.clone(), eve.clone()],
        vec![
            group("staff", GroupKind::Security),
            group("Shadow", GroupKind::Security),
        ],
    );
    let creates: Vec<Change> = [&alice, &admin, &eve]
        .into_iter()
        .map(user_create)
        .chain([group_create("staff"), group_create("Shadow")])
        .collect();
    let rec = apply(&conn, &creates, &seed, &Default::default()).await;
    assert_eq!(rec.failures(), vec![], "seeded");
    let live = read_all(&conn).await;
    let id_of = |login: &str| {
        live.user_by_login(login)
            .map(|u| u.id.clone())
            .expect("seeded user")
    };

    // The app as the repository defines it.
    let mut app = env.app.clone();
    app.ignore = vec!["breakglass-*".into()];
    app.switches = Switches {
        delete_users: true,
        create_groups: false,
        ..Switches::default()
    };
    let desired = DesiredState {
        apps: vec![App::Office365(app)],
        ..desired(
            vec![alice.clone()],
            vec![group("staff", GroupKind::Security)],
        )
    };
    let with_id = |mut c: Change, id: String| {
        c.id = Some(id);
        c
    };
    let changes = vec![
        group_create("Brand new"),
        with_id(
            user_action("breakglass-admin@contoso.com", Action::Disable),
            id_of("breakglass-admin@contoso.com"),
        ),
        with_id(
            user_action("eve@fabrikam.com", Action::Delete),
            id_of("eve@fabrikam.com"),
        ),
        // Adding a live user outside the scope to a repository group.
        with_id(
            member("staff", "eve@fabrikam.com", Action::Add),
            id_of("eve@fabrikam.com"),
        ),
        with_id(
            group_delete("Shadow"),
            live.group_by_name("Shadow").unwrap().id.clone(),
        ),
        with_id(
            user_update("alice", &[("department", serde_json::json!("Support"))]),
            id_of("alice@contoso.com"),
        ),
    ];
    let writes = env.emu.stats().writes;
    let rec = apply(&conn, &changes, &desired, &live).await;

    let e = refusal(&rec, ObjectKind::Group, "Brand new", Action::Create);
    assert!(
        e.starts_with("refused: ") && e.contains("switch create_groups is off"),
        "{e}"
    );
    let e = refusal(
        &rec,
        ObjectKind::User,
        "breakglass-admin@contoso.com",
        Action::Disable,
    );
    assert!(e.contains("matches an `ignore` pattern of app o365"), "{e}");
    let e = refusal(&rec, ObjectKind::User, "eve@fabrikam.com", Action::Delete);
    assert!(e.contains("is outside the scope of app o365"), "{e}");
    let e = refusal(
        &rec,
        ObjectKind::Membership,
        "staff/eve@fabrikam.com",
        Action::Add,
    );
    assert!(
        e.contains("user eve@fabrikam.com is outside the scope"),
        "{e}"
    );
    let e = refusal(&rec, ObjectKind::Group, "Shadow", Action::Delete);
    assert!(e.contains("not defined in the repository"), "{e}");
    assert!(matches!(
        rec.result_of(ObjectKind::User, "alice", Action::Update),
        Some(ChangeResult::Applied { .. })
    ));
    assert_eq!(
        env.emu.stats().writes,
        writes + 1,
        "only the allowed update reached the tenant"
    );
    let after = read_all(&conn).await;
    assert!(after.user_by_login("eve@fabrikam.com").is_some());
    assert!(
        after
            .user_by_login("breakglass-admin@contoso.com")
            .unwrap()
            .enabled
    );
    assert!(after.group_by_name("Shadow").is_some());
    assert!(after.group_by_name("Brand new").is_none());
    env.emu.shutdown().await.expect("shutdown");
}
