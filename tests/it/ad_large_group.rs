//! A group with 3,000 members against the Samba DC: roster adds them in chunked
//! multi-valued modifies, reads them all back through ranged retrieval of `member`
//! (the server answers `member;range=0-1499` with exactly 1,500 values, so reading
//! all 3,000 proves the ranges are followed), and removes a third of them.

use crate::samba;

use futures::StreamExt;
use roster::apps::active_directory::ActiveDirectoryConnector;
use roster::apps::active_directory::read::{INLINE_MEMBERS_FROM, members_inline};
use roster::apps::{ApplyInput, ReadScope};
use roster::desired::DesiredState;
use roster::plan::{Action, ObjectKind};
use samba::*;

const MEMBERS: usize = 3000;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn group_with_3000_members_is_written_and_read_completely() {
    let fx = Fixture::new().await;
    let ldap = raw().await;
    let t = std::time::Instant::now();
    let users_ou = fx.users_ou.clone();
    let token = fx.token.clone();
    let dns: Vec<String> = futures::stream::iter(0..MEMBERS)
        .map(|i| {
            let mut ldap = ldap.clone();
            let users_ou = users_ou.clone();
            let token = token.clone();
            async move {
                add_user(
                    &mut ldap,
                    &users_ou,
                    &format!("Member {i}"),
                    &format!("{token}{i}"),
                )
                .await
            }
        })
        .buffer_unordered(8)
        .collect()
        .await;
    assert_eq!(dns.len(), MEMBERS);
    eprintln!("{MEMBERS} raw user adds: {:?}", t.elapsed());

    let conn = ActiveDirectoryConnector::connect(&fx.app, &fx.ctx())
        .await
        .expect("connect");
    let app = fx.app.name.clone();
    let observed = conn.read(&ReadScope::default()).await.expect("read");
    assert_eq!(observed.users.len(), MEMBERS, "paged read of all users");
    let mut changes = vec![change(&app, ObjectKind::Group, Action::Create, "big")];
    for i in 0..MEMBERS {
        changes.push(membership(&app, Action::Add, "big", &format!("{token}{i}")));
    }
    let desired = DesiredState::default();
    let sink = Collect::default();
    conn.apply(
        ApplyInput {
            changes: &changes,
            desired: &desired,
            observed: &observed,
        },
        &sink,
    )
    .await
    .expect("apply");
    sink.assert_all_applied();
    assert_eq!(sink.results().len(), MEMBERS + 1);
    eprintln!("roster adds {MEMBERS} members: {:?}", t.elapsed());

    // Raw check: the server caps a ranged read, and holds all members.
    let mut l = ldap.clone();
    let group = search(&mut l, &fx.groups_ou, "(cn=big)", &["member;range=0-1499"]).await;
    assert_eq!(group.len(), 1);
    let group_dn = group[0].dn.clone();
    let (range_attr, values) = group[0]
        .attrs
        .iter()
        .find(|(k, _)| k.to_lowercase().starts_with("member;range="))
        .expect("a ranged member attribute");
    assert_eq!(range_attr.to_lowercase(), "member;range=0-1499");
    assert_eq!(values.len(), 1500);
    let full = read(&mut l, &group_dn, &["member"]).await.expect("group");
    assert_eq!(attr_all(&full, "member").len(), MEMBERS);

    // roster's read: every member, as user GUIDs.
    let observed = conn.read(&ReadScope::default()).await.expect("read");
    eprintln!("roster read: {:?}", t.elapsed());
    let big = observed.group_by_name("big").expect("big");
    assert_eq!(big.member_ids.len(), MEMBERS);
    let user_ids: std::collections::BTreeSet<String> =
        observed.users.iter().map(|u| u.id.clone()).collect();
    assert!(
        big.member_ids
            .iter()
            .all(|id| user_ids.contains(id.as_str()))
    );

    // Only this group's members, by name.
    let scope = ReadScope {
        deleted_groups: Default::default(),
        managers: Default::default(),
        user_fields: Default::default(),
        member_groups: Some(["big".to_string()].into()),
    };
    let scoped = conn.read(&scope).await.expect("scoped read");
    assert_eq!(
        scoped.group_by_name("big").expect("big").member_ids.len(),
        MEMBERS
    );
    // The same with so many names in scope that the members come with the paged
    // search of groups: the first range from the search, the rest by ranged reads.
    let mut names: std::collections::BTreeSet<String> = (0..INLINE_MEMBERS_FROM)
        .map(|i| format!("absent {i}"))
        .collect();
    names.insert("big".to_string());
    let wide = ReadScope {
        member_groups: Some(names),
        ..scope.clone()
    };
    assert!(members_inline(&wide));
    assert_eq!(conn.read(&wide).await.expect("wide read"), scoped);

    // Remove every third member.
    let removes: Vec<_> = (0..MEMBERS)
        .filter(|i| i % 3 == 0)
        .map(|i| membership(&app, Action::Remove, "big", &format!("{token}{i}")))
        .collect();
    let sink = Collect::default();
    conn.apply(
        ApplyInput {
            changes: &removes,
            desired: &desired,
            observed: &observed,
        },
        &sink,
    )
    .await
    .expect("apply");
    sink.assert_all_applied();
    let full = read(&mut l, &group_dn, &["member"]).await.expect("group");
    assert_eq!(attr_all(&full, "member").len(), MEMBERS - MEMBERS / 3);
    let observed = conn.read(&ReadScope::default()).await.expect("read");
    assert_eq!(
        observed.group_by_name("big").expect("big").member_ids.len(),
        MEMBERS - MEMBERS / 3
    );
    conn.close().await.expect("close");
}
