//! Incremental reads of the active_directory connector against a real Samba AD DC:
//! after out-of-band changes made with raw LDAP, a read from the snapshot must equal a
//! full read (no cache) at the same moment, and read far less; unusable snapshots must
//! lead to a full read that says why.

use crate::samba;

use std::collections::BTreeSet;
use std::path::PathBuf;

use futures::StreamExt;
use ldap3::{Ldap, Mod};
use roster::apps::active_directory::ActiveDirectoryConnector;
use roster::apps::active_directory::incremental::{ReadKind, snapshot_path};
use roster::apps::{ConnectContext, ReadScope};
use roster::observed::{ObservedApp, Protection};
use samba::*;

fn cache_dir(fx: &Fixture) -> PathBuf {
    fx.repo.path().join(".roster").join("cache")
}

fn cached_ctx(fx: &Fixture) -> ConnectContext {
    ConnectContext {
        repo_root: fx.repo.path().to_path_buf(),
        cache_dir: Some(cache_dir(fx)),
    }
}

fn snapshot_file(fx: &Fixture) -> PathBuf {
    snapshot_path(&cache_dir(fx), &fx.app.name)
}

/// A read through the snapshot.
async fn read_cached(fx: &Fixture, scope: &ReadScope) -> (ObservedApp, ReadKind) {
    let conn = ActiveDirectoryConnector::connect(&fx.app, &cached_ctx(fx))
        .await
        .expect("connect");
    let out = conn.read_reporting(scope).await.expect("cached read");
    conn.close().await.expect("close");
    out
}

/// A full read without any cache.
async fn read_full(fx: &Fixture, scope: &ReadScope) -> ObservedApp {
    let conn = ActiveDirectoryConnector::connect(&fx.app, &fx.ctx())
        .await
        .expect("connect");
    let (observed, kind) = conn.read_reporting(scope).await.expect("full read");
    assert_eq!(kind, ReadKind::Full(None));
    conn.close().await.expect("close");
    observed
}

/// A cached read, checked against a full read right after it.
async fn read_both(fx: &Fixture, scope: &ReadScope) -> (ObservedApp, ReadKind) {
    let (cached, kind) = read_cached(fx, scope).await;
    let full = read_full(fx, scope).await;
    assert_eq!(
        cached, full,
        "the cached read ({kind:?}) differs from a full read"
    );
    (cached, kind)
}

fn s(v: &str) -> std::collections::HashSet<String> {
    [v.to_string()].into()
}

/// `n` users `CN=User NN` (enabled, with mail and givenName) under `parent`; their DNs.
async fn add_users(ldap: &Ldap, parent: &str, token: &str, n: usize) -> Vec<String> {
    futures::stream::iter(0..n)
        .map(|i| {
            let mut ldap = ldap.clone();
            let parent = parent.to_string();
            let token = token.to_string();
            async move {
                let dn = format!("CN=User {i:02},{parent}");
                let sam = format!("u{i:02}-{token}");
                let mail = format!("{sam}@example.test");
                add(
                    &mut ldap,
                    &dn,
                    vec![
                        (
                            "objectClass",
                            vec!["top", "person", "organizationalPerson", "user"],
                        ),
                        ("sAMAccountName", vec![sam.as_str()]),
                        ("mail", vec![mail.as_str()]),
                        ("givenName", vec!["User"]),
                        ("userAccountControl", vec!["512"]),
                    ],
                )
                .await;
                dn
            }
        })
        .buffered(4)
        .collect()
        .await
}

async fn add_members(ldap: &mut Ldap, group: &str, members: &[&str]) {
    let set = members.iter().map(|m| m.to_string()).collect();
    modify(ldap, group, vec![Mod::Add("member".into(), set)]).await;
}

fn group<'a>(o: &'a ObservedApp, name: &str) -> &'a roster::observed::ObservedGroup {
    o.group_by_name(name)
        .unwrap_or_else(|| panic!("no group {name}"))
}

fn incremental(kind: &ReadKind) -> (usize, usize, usize, usize, usize) {
    match kind {
        ReadKind::Incremental {
            changed,
            removed,
            member_lists,
            scanned,
            entries,
        } => (*changed, *removed, *member_lists, *scanned, *entries),
        other => panic!("expected an incremental read, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn incremental_read_equals_full_read_after_out_of_band_changes() {
    let fx = Fixture::new().await;
    let t = &fx.token;
    let mut ldap = raw().await;
    let elsewhere = format!("OU=Elsewhere,{}", fx.ou);
    add(
        &mut ldap,
        &elsewhere,
        vec![("objectClass", vec!["top", "organizationalUnit"])],
    )
    .await;
    let users = add_users(&ldap, &fx.users_ou, t, 100).await;
    // Members outside the scope: dn: ids in a full read.
    let out1 = add_user(&mut ldap, &fx.ou, "Out One", &format!("o1-{t}")).await;
    let out2 = add_user(&mut ldap, &elsewhere, "Out Two", &format!("o2-{t}")).await;
    let out3 = add_user(&mut ldap, &fx.ou, "Out Three", &format!("o3-{t}")).await;
    let mut groups = Vec::new();
    // G0..G9 are touched below, G10..G29 are not.
    for g in 0..30 {
        let dn = add_group(
            &mut ldap,
            &fx.groups_ou,
            &format!("G{g}"),
            &format!("g{g}-{t}"),
        )
        .await;
        let members: Vec<&str> = (0..5)
            .map(|k| match g {
                0..10 => users[g * 7 + k].as_str(),
                _ => users[10 + (g * 7 + k) % 90].as_str(),
            })
            .collect();
        add_members(&mut ldap, &dn, &members).await;
        groups.push(dn);
    }
    add_members(&mut ldap, &groups[0], &[&out1]).await;
    add_members(&mut ldap, &groups[1], &[&users[1]]).await;
    add_members(&mut ldap, &groups[2], &[&out3]).await;
    add_members(&mut ldap, &groups[3], &[&users[2]]).await;
    add_members(&mut ldap, &groups[4], &[&users[3], &out2]).await;
    add_members(&mut ldap, &groups[5], &[&users[4]]).await;
    add_members(&mut ldap, &groups[9], &[&groups[8]]).await;
    let scope = ReadScope::default();

    // The first read is a full one and writes the snapshot.
    let (first, kind) = read_both(&fx, &scope).await;
    assert_eq!(kind, ReadKind::Full(None));
    assert!(snapshot_file(&fx).exists(), "snapshot written");
    assert_eq!((first.users.len(), first.groups.len()), (100, 30));
    let full_entries = first.users.len() + first.groups.len();
    let text = std::fs::read_to_string(snapshot_file(&fx)).expect("snapshot");
    assert!(
        !text.contains(&dc().password),
        "no password in the snapshot"
    );

    // Nothing changed in scope: nothing re-read there.
    let (_, kind) = read_both(&fx, &scope).await;
    let (changed, removed, ..) = incremental(&kind);
    assert_eq!((changed, removed), (0, 0), "{kind:?}");

    // Out-of-band changes of every kind.
    modify(
        &mut ldap,
        &users[0],
        vec![
            Mod::Replace("mail".into(), s("changed@example.test")),
            Mod::Replace("title".into(), s("Boss")),
            Mod::Delete("givenName".into(), Default::default()),
        ],
    )
    .await;
    modify(
        &mut ldap,
        &users[1],
        vec![Mod::Replace("userAccountControl".into(), s("514"))],
    )
    .await;
    add_members(&mut ldap, &groups[0], &[&users[10]]).await;
    modify(
        &mut ldap,
        &groups[1],
        vec![Mod::Delete("member".into(), s(&users[7]))],
    )
    .await;
    let new_user = add_user(&mut ldap, &fx.users_ou, "New User", &format!("new-{t}")).await;
    add_members(&mut ldap, &groups[7], &[&new_user]).await;
    delete(&mut ldap, &users[2]).await; // a member of G3, which does not change
    move_to(&mut ldap, &users[3], "CN=Renamed User", None).await; // member of G4
    let moved_out = move_to(&mut ldap, &users[4], "CN=User 04", Some(&elsewhere)).await; // G5
    let new_group = add_group(&mut ldap, &fx.groups_ou, "GNew", &format!("gn-{t}")).await;
    add_members(&mut ldap, &new_group, &[&users[5], &out1]).await;
    delete(&mut ldap, &groups[8]).await; // a member of G9
    // Neither G4 nor G2 changes: a renamed dn: member and one moving into scope.
    let out2_renamed = move_to(&mut ldap, &out2, "CN=Out Two Renamed", None).await;
    move_to(&mut ldap, &out3, "CN=Out Three", Some(&fx.users_ou)).await;
    move_to(&mut ldap, &groups[6], "CN=G6 Renamed", None).await;
    modify(
        &mut ldap,
        &groups[7],
        vec![Mod::Replace("description".into(), s("now described"))],
    )
    .await;

    let (after, kind) = read_both(&fx, &scope).await;
    let (changed, removed, member_lists, scanned, entries) = incremental(&kind);
    // What the full read shows, so that the comparison above means something.
    assert_eq!(
        after.users.len(),
        100,
        "100 - deleted - moved out + new + moved in"
    );
    assert!(after.group_by_name("G8").is_none());
    assert!(after.group_by_name("G6 Renamed").is_some());
    assert!(
        group(&after, "G5")
            .member_ids
            .contains(format!("dn:{moved_out}").as_str())
    );
    assert!(
        group(&after, "G4")
            .member_ids
            .contains(format!("dn:{out2_renamed}").as_str())
    );
    assert!(
        !group(&after, "G2")
            .member_ids
            .iter()
            .any(|m| m.starts_with("dn:"))
    );
    assert_eq!(group(&after, "G9").member_ids.len(), 5, "G8 left G9");
    assert_eq!(
        group(&after, "G7").description.as_deref(),
        Some("now described")
    );
    // Far less work than a full read: the changed objects, the departures, and the
    // member lists of changed groups and of groups that held a departed or dn: member.
    assert!(changed <= 12, "{kind:?}");
    assert_eq!(
        removed, 3,
        "deleted user, moved-out user, deleted group: {kind:?}"
    );
    // A user moved into the scope: its group links may be back anywhere (moving in or a
    // Recycle Bin restore does not change the groups' uSNChanged), so every member list
    // is read again; users and groups that did not change are not.
    assert_eq!(member_lists, 30, "{kind:?}");
    assert!(
        (entries - scanned) * 3 < full_entries,
        "entries in scope {} against {full_entries} for a full read: {kind:?}",
        entries - scanned
    );

    // And the snapshot written by the incremental read is right too.
    let (_, kind) = read_both(&fx, &scope).await;
    let (changed, removed, ..) = incremental(&kind);
    assert_eq!((changed, removed), (0, 0), "{kind:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_count_is_seen_incrementally_and_older_snapshots_are_read_in_full() {
    let fx = Fixture::new().await;
    let mut ldap = raw().await;
    let users = add_users(&ldap, &fx.users_ou, &fx.token, 3).await;
    let scope = ReadScope::default();
    let (before, kind) = read_both(&fx, &scope).await;
    assert_eq!(kind, ReadKind::Full(None));
    assert!(before.users.iter().all(|u| u.protections.is_empty()));

    // SDProp's mark, set out of band after the snapshot: an incremental read sees it
    // (the modify raises the user's uSNChanged) and equals a full read.
    set_admin_count(&mut ldap, &users[1]).await;
    let (after, kind) = read_both(&fx, &scope).await;
    let (changed, ..) = incremental(&kind);
    assert_eq!(changed, 1, "{kind:?}");
    let protected: Vec<&str> = after
        .users
        .iter()
        .filter(|u| u.protections == [Protection::AdminSdHolder])
        .map(|u| u.login.as_str())
        .collect();
    assert_eq!(protected, [format!("u01-{}", fx.token)]);
    // And the snapshot keeps it: the next read, with nothing changed, still says so.
    let (again, kind) = read_both(&fx, &scope).await;
    assert_eq!(incremental(&kind).0, 0, "{kind:?}");
    assert_eq!(again, after);

    // A snapshot in the format of a roster that did not read adminCount is not used.
    let path = snapshot_file(&fx);
    let good = std::fs::read(&path).expect("snapshot");
    let (mut header, body): (serde_json::Value, &[u8]) =
        roster::apps::kit::snapshot::split(&good).expect("sealed");
    header["format"] = 2.into();
    let old = roster::apps::kit::snapshot::frame(&header, body).expect("frame");
    std::fs::write(&path, old).expect("write");
    let (full, kind) = read_both(&fx, &scope).await;
    match &kind {
        ReadKind::Full(Some(why)) => assert!(why.contains("format 2"), "{why}"),
        other => panic!("expected a full read, got {other:?}"),
    }
    assert_eq!(full, after);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unusable_snapshots_lead_to_a_full_read_with_a_reason() {
    let fx = Fixture::new().await;
    let mut ldap = raw().await;
    let users = add_users(&ldap, &fx.users_ou, &fx.token, 5).await;
    let g = add_group(&mut ldap, &fx.groups_ou, "Team", &format!("g-{}", fx.token)).await;
    add_members(&mut ldap, &g, &[&users[0], &users[1]]).await;
    let scope = ReadScope::default();
    let (_, kind) = read_both(&fx, &scope).await;
    assert_eq!(kind, ReadKind::Full(None));
    let path = snapshot_file(&fx);
    let good = std::fs::read(&path).expect("snapshot");

    let expect_full = |kind: &ReadKind, want: &str| match kind {
        ReadKind::Full(Some(why)) => assert!(why.contains(want), "{why:?} lacks {want:?}"),
        other => panic!("expected a full read because of {want:?}, got {other:?}"),
    };

    // A flipped byte in the body.
    let mut bytes = good.clone();
    let n = bytes.len();
    bytes[n - 20] ^= 0x01;
    std::fs::write(&path, &bytes).expect("write");
    let (_, kind) = read_both(&fx, &scope).await;
    expect_full(&kind, "checksum");
    // The full read wrote a good snapshot again.
    let (_, kind) = read_both(&fx, &scope).await;
    incremental(&kind);

    // Garbage.
    std::fs::write(&path, b"\x00\xffnot a snapshot at all").expect("write");
    let (_, kind) = read_both(&fx, &scope).await;
    expect_full(&kind, "header");

    // Another identity: another app's snapshot, another database incarnation, too old.
    let mut other = fx.app.clone();
    other.name = format!("{}-other", fx.app.name);
    std::fs::write(snapshot_path(&cache_dir(&fx), &other.name), &good).expect("write");
    let conn = ActiveDirectoryConnector::connect(&other, &cached_ctx(&fx))
        .await
        .expect("connect");
    let (observed, kind) = conn.read_reporting(&scope).await.expect("read");
    conn.close().await.expect("close");
    expect_full(&kind, &format!("written for app {}", fx.app.name));
    let mut full = read_full(&fx, &scope).await;
    full.app = other.name.clone();
    assert_eq!(observed, full);

    // Header edits are resealed, so that the identity and age checks themselves are
    // what refuses the snapshot.
    let edit_header = |f: &dyn Fn(&mut serde_json::Value)| {
        let (mut header, body): (serde_json::Value, &[u8]) =
            roster::apps::kit::snapshot::split(&good).expect("sealed");
        f(&mut header);
        let out = roster::apps::kit::snapshot::frame(&header, body).expect("frame");
        std::fs::write(&path, out).expect("write");
    };
    // An edited header that is not resealed is corrupt.
    let mut tampered = good.clone();
    let at = tampered
        .windows(5)
        .position(|w| w == b"\"usn\"")
        .expect("usn in the header")
        + 7;
    tampered[at] = if tampered[at] == b'9' { b'1' } else { b'9' };
    std::fs::write(&path, &tampered).expect("write");
    let (_, kind) = read_both(&fx, &scope).await;
    expect_full(&kind, "checksum");
    edit_header(&|h| {
        h["identity"]["invocation_id"] = "00000000-0000-0000-0000-000000000000".into()
    });
    let (_, kind) = read_both(&fx, &scope).await;
    expect_full(&kind, "invocationId");
    edit_header(&|h| {
        let old = h["full_read_at"].as_i64().expect("time") - 8 * 86_400;
        h["full_read_at"] = old.into();
    });
    let (_, kind) = read_both(&fx, &scope).await;
    expect_full(&kind, "days old");

    // A cache folder that cannot be written: the read still works.
    let blocked = fx.repo.path().join("blocked");
    std::fs::write(&blocked, b"a file, not a folder").expect("write");
    let ctx = ConnectContext {
        repo_root: fx.repo.path().to_path_buf(),
        cache_dir: Some(blocked.join("cache")),
    };
    let conn = ActiveDirectoryConnector::connect(&fx.app, &ctx)
        .await
        .expect("connect");
    let (observed, kind) = conn.read_reporting(&scope).await.expect("read");
    conn.close().await.expect("close");
    assert!(matches!(kind, ReadKind::Full(_)), "{kind:?}");
    assert_eq!(observed, read_full(&fx, &scope).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn renamed_or_moved_ous_in_scope_are_seen() {
    // Renaming an OU changes the DNs beneath it without changing their uSNChanged.
    let fx = Fixture::new().await;
    let mut ldap = raw().await;
    let team = format!("OU=Team,{}", fx.users_ou);
    add(
        &mut ldap,
        &team,
        vec![("objectClass", vec!["top", "organizationalUnit"])],
    )
    .await;
    let users = add_users(&ldap, &team, &fx.token, 3).await;
    let g = add_group(&mut ldap, &fx.groups_ou, "Team", &format!("g-{}", fx.token)).await;
    add_members(&mut ldap, &g, &[&users[0]]).await;
    let scope = ReadScope::default();
    let (_, kind) = read_both(&fx, &scope).await;
    assert_eq!(kind, ReadKind::Full(None));

    // A new, empty OU in scope, then a user in it: incremental.
    let fresh = format!("OU=Fresh,{}", fx.users_ou);
    add(
        &mut ldap,
        &fresh,
        vec![("objectClass", vec!["top", "organizationalUnit"])],
    )
    .await;
    add_user(&mut ldap, &fresh, "Fresh User", &format!("f-{}", fx.token)).await;
    let (_, kind) = read_both(&fx, &scope).await;
    incremental(&kind);

    // Renamed with users beneath: a full read, and it says why.
    let team2 = move_to(&mut ldap, &team, "OU=Team Two", None).await;
    let (after, kind) = read_both(&fx, &scope).await;
    match &kind {
        ReadKind::Full(Some(why)) => assert!(why.contains("renamed, moved or deleted"), "{why}"),
        other => panic!("expected a full read, got {other:?}"),
    }
    assert!(after.users.iter().any(|u| {
        u.location
            .as_deref()
            .is_some_and(|l| l.contains("OU=Team Two"))
    }));

    // Moved out of scope with its users: a full read again, which drops them.
    move_to(&mut ldap, &team2, "OU=Team Two", Some(&fx.ou)).await;
    let (after, kind) = read_both(&fx, &scope).await;
    assert!(matches!(kind, ReadKind::Full(Some(_))), "{kind:?}");
    assert_eq!(after.users.len(), 1, "only the fresh user is left");

    // An empty OU deleted: nothing beneath it, incremental.
    delete(&mut ldap, &format!("CN=Fresh User,{fresh}")).await;
    delete(&mut ldap, &fresh).await;
    let (after, kind) = read_both(&fx, &scope).await;
    incremental(&kind);
    assert!(after.users.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scoped_member_reads_stay_equal_when_the_scope_grows() {
    let fx = Fixture::new().await;
    let mut ldap = raw().await;
    let users = add_users(&ldap, &fx.users_ou, &fx.token, 6).await;
    let a = add_group(
        &mut ldap,
        &fx.groups_ou,
        "Alpha",
        &format!("a-{}", fx.token),
    )
    .await;
    let b = add_group(&mut ldap, &fx.groups_ou, "Beta", &format!("b-{}", fx.token)).await;
    add_members(&mut ldap, &a, &[&users[0], &users[1]]).await;
    add_members(&mut ldap, &b, &[&users[2], &users[3]]).await;
    let alpha = ReadScope {
        deleted_groups: Default::default(),
        managers: Default::default(),
        user_fields: Default::default(),
        member_groups: Some(BTreeSet::from(["Alpha".to_string()])),
    };
    let (_, kind) = read_both(&fx, &alpha).await;
    assert_eq!(kind, ReadKind::Full(None));

    // Beta changes while its members are not wanted; Alpha loses a member by deletion.
    add_members(&mut ldap, &b, &[&users[4]]).await;
    delete(&mut ldap, &users[1]).await;
    let (after, kind) = read_both(&fx, &alpha).await;
    incremental(&kind);
    assert_eq!(group(&after, "Alpha").member_ids.len(), 1);
    assert!(group(&after, "Beta").member_ids.is_empty());

    // Now Beta is wanted too: its members are read although it did not change since.
    let both = ReadScope {
        deleted_groups: Default::default(),
        managers: Default::default(),
        user_fields: Default::default(),
        member_groups: Some(BTreeSet::from(["Alpha".to_string(), "Beta".to_string()])),
    };
    let (after, kind) = read_both(&fx, &both).await;
    let (_, _, member_lists, ..) = incremental(&kind);
    assert!(member_lists >= 1, "{kind:?}");
    assert_eq!(group(&after, "Beta").member_ids.len(), 3);

    // And every group (the default scope) from there.
    let (_, kind) = read_both(&fx, &ReadScope::default()).await;
    incremental(&kind);
}
