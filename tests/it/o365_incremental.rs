//! Incremental reads of the office365 connector against the Graph emulator: after
//! out-of-band changes, a read from the snapshot and delta links equals a full read and
//! costs a handful of requests; snapshots that are corrupt, expired or refused fall back
//! to a full read.

use crate::o365_common;

use std::collections::BTreeMap;
use std::path::PathBuf;

use o365_common::*;
use roster::apps::office365::Office365Connector;
use roster::apps::office365::incremental::{ReadKind, snapshot_path};
use roster::apps::{ConnectContext, ReadScope};
use roster::desired::GroupKind;
use roster::emulator::EmulatorConfig;
use roster::observed::ObservedApp;
use roster::plan::Action;
use serde_json::{Value, json};

fn cache_dir(env: &Env) -> PathBuf {
    env.dir.path().join(".roster").join("cache")
}

async fn cached(env: &Env) -> Office365Connector {
    let ctx = ConnectContext {
        repo_root: env.dir.path().to_path_buf(),
        cache_dir: Some(cache_dir(env)),
    };
    Office365Connector::connect(&env.app, &ctx)
        .await
        .expect("connects")
}

fn scope(groups: &[&str]) -> ReadScope {
    ReadScope {
        deleted_groups: Default::default(),
        managers: Default::default(),
        user_fields: Default::default(),
        member_groups: Some(groups.iter().map(|g| g.to_string()).collect()),
    }
}

/// Graph requests (inner `$batch` requests counted) made by `f`.
async fn requests<T>(env: &Env, f: impl std::future::Future<Output = T>) -> (T, u64) {
    let before = env.emu.stats().requests;
    let out = f.await;
    (out, env.emu.stats().requests - before)
}

/// A token of the test app for this emulator, fetched once per emulator.
async fn admin_token(env: &Env) -> String {
    static TOKENS: std::sync::Mutex<BTreeMap<String, String>> =
        std::sync::Mutex::new(BTreeMap::new());
    let base = env.emu.base_url();
    if let Some(t) = TOKENS.lock().expect("tokens").get(&base) {
        return t.clone();
    }
    let token: Value = reqwest::Client::new()
        .post(env.emu.token_url())
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", CLIENT_ID),
            ("client_secret", CLIENT_SECRET),
            ("scope", "https://graph.microsoft.com/.default"),
        ])
        .send()
        .await
        .expect("token")
        .json()
        .await
        .expect("token json");
    let token = token["access_token"]
        .as_str()
        .expect("access token")
        .to_string();
    TOKENS.lock().expect("tokens").insert(base, token.clone());
    token
}

/// A raw Graph call, as an admin in the portal would make it.
async fn graph(env: &Env, method: reqwest::Method, path: &str, body: Option<Value>) -> u16 {
    let mut req = reqwest::Client::new()
        .request(method, format!("{}/v1.0{path}", env.emu.base_url()))
        .bearer_auth(admin_token(env).await);
    if let Some(b) = body {
        req = req.json(&b);
    }
    req.send().await.expect("graph call").status().as_u16()
}

async fn full(env: &Env, scope: &ReadScope) -> ObservedApp {
    let conn = env.connect().await;
    conn.read(scope).await.expect("full read")
}

/// 40 users, 6 groups with members, so that the snapshot has something to carry.
async fn seed(env: &Env) -> ObservedApp {
    let conn = env.connect().await;
    let empty = read_all(&conn).await;
    let users: Vec<_> = (0..40).map(|i| user(&format!("u{i:02}"))).collect();
    let groups = ["A", "B", "C", "D", "E", "F"];
    let mut changes: Vec<_> = groups.iter().map(|g| group_create(g)).collect();
    changes.extend(users.iter().map(user_create));
    for (i, u) in users.iter().enumerate() {
        changes.push(member(groups[i % 6], &u.username, Action::Add));
        changes.push(member(groups[(i + 1) % 6], &u.username, Action::Add));
    }
    changes.push(member("A", "group:B", Action::Add));
    changes.push(license("u00", SKU, Action::Add));
    let d = desired(
        users,
        groups
            .iter()
            .map(|g| group(g, GroupKind::Security))
            .collect(),
    );
    let rec = apply(&conn, &changes, &d, &empty).await;
    assert_eq!(rec.failures(), vec![]);
    read_all(&conn).await
}

fn user_id(o: &ObservedApp, name: &str) -> String {
    o.user_by_login(&format!("{name}@{DOMAIN}"))
        .unwrap_or_else(|| panic!("{name} is live"))
        .id
        .clone()
}

fn group_id(o: &ObservedApp, name: &str) -> String {
    o.group_by_name(name)
        .unwrap_or_else(|| panic!("{name} is live"))
        .id
        .clone()
}

#[tokio::test]
async fn incremental_reads_equal_full_reads_at_a_handful_of_requests() {
    let env = start(config()).await;
    let o = seed(&env).await;
    let sc = scope(&["A", "B", "C", "New"]);
    let conn = cached(&env).await;

    // First read: full, with tokens taken first; the snapshot is written.
    let ((first, kind), _) = requests(&env, async {
        conn.read_reporting(&sc).await.expect("read")
    })
    .await;
    assert_eq!(kind, ReadKind::Full(None));
    assert_eq!(first, full(&env, &sc).await);
    let path = snapshot_path(&cache_dir(&env), APP);
    assert!(path.exists(), "snapshot written at {}", path.display());

    // Nothing changed: the second read is incremental and costs 6 requests (users
    // delta, groups delta, domains, SKUs, privileged role assignments, deleted users).
    let ((second, kind), n) = requests(&env, async {
        conn.read_reporting(&sc).await.expect("read")
    })
    .await;
    assert!(
        matches!(
            kind,
            ReadKind::Incremental {
                users: 0,
                groups: 0,
                listed: 0
            }
        ),
        "{kind:?}"
    );
    assert_eq!(n, 6);
    assert_eq!(second, first);

    // Out-of-band changes of every kind, through Graph.
    use reqwest::Method;
    let u = |n: &str| format!("/users/{}", user_id(&o, n));
    let g = |n: &str| format!("/groups/{}", group_id(&o, n));
    let bind = |id: String| json!({ "@odata.id": format!("{}/v1.0/directoryObjects/{id}", env.emu.base_url()) });
    assert_eq!(
        graph(
            &env,
            Method::PATCH,
            &u("u01"),
            Some(json!({"jobTitle": "Boss", "department": null}))
        )
        .await,
        204
    );
    assert_eq!(
        graph(
            &env,
            Method::PATCH,
            &u("u02"),
            Some(json!({"accountEnabled": false}))
        )
        .await,
        204
    );
    assert_eq!(graph(&env, Method::DELETE, &u("u03"), None).await, 204);
    assert_eq!(
        graph(
            &env,
            Method::POST,
            &format!("{}/assignLicense", u("u00")),
            Some(json!({"addLicenses": [], "removeLicenses": [o.skus[0].sku_id]}))
        )
        .await,
        200
    );
    assert_eq!(
        graph(&env, Method::POST, "/users", Some(json!({
            "accountEnabled": true, "displayName": "Hand Made", "mailNickname": "handmade",
            "userPrincipalName": format!("handmade@{DOMAIN}"),
            "passwordProfile": {"password": "Xy!23456789abc", "forceChangePasswordNextSignIn": true}
        }))).await,
        201
    );
    assert_eq!(
        graph(
            &env,
            Method::POST,
            &format!("{}/members/$ref", g("A")),
            Some(bind(user_id(&o, "u10")))
        )
        .await,
        204
    );
    assert_eq!(
        graph(
            &env,
            Method::DELETE,
            &format!("{}/members/{}/$ref", g("B"), user_id(&o, "u01")),
            None
        )
        .await,
        204
    );
    assert_eq!(
        graph(
            &env,
            Method::PATCH,
            &g("C"),
            Some(json!({"description": "edited"}))
        )
        .await,
        204
    );
    // D is renamed into the scope's "New": its members were never read, so they are listed.
    assert_eq!(
        graph(
            &env,
            Method::PATCH,
            &g("D"),
            Some(json!({"displayName": "New"}))
        )
        .await,
        204
    );
    assert_eq!(graph(&env, Method::DELETE, &g("E"), None).await, 204);
    assert_eq!(
        graph(&env, Method::POST, "/groups", Some(json!({
            "displayName": "Hand", "mailEnabled": false, "mailNickname": "hand", "securityEnabled": true
        }))).await,
        201
    );

    let ((third, kind), n) = requests(&env, async {
        conn.read_reporting(&sc).await.expect("read")
    })
    .await;
    let want = full(&env, &sc).await;
    assert_eq!(third, want, "incremental read equals a full read");
    assert!(
        matches!(kind, ReadKind::Incremental { listed: 1, .. }),
        "{kind:?}"
    );
    assert!(n <= 7, "{n} requests");
    assert_ne!(third, first);
    assert!(third.user_by_login(&format!("handmade@{DOMAIN}")).is_some());
    assert!(third.group_by_name("E").is_none());
    // D's members as seeded, less u03 (deleted).
    let mut d_members = o.group_by_name("D").expect("D").member_ids.clone();
    assert!(d_members.remove(user_id(&o, "u03").as_str()));
    assert_eq!(
        third.group_by_name("New").map(|g| &g.member_ids),
        Some(&d_members)
    );

    // A policy binds another group: its members are listed once, then tracked.
    let wider = scope(&["A", "B", "C", "New", "F"]);
    let ((fourth, kind), _) = requests(&env, async {
        conn.read_reporting(&wider).await.expect("read")
    })
    .await;
    assert!(
        matches!(kind, ReadKind::Incremental { listed: 1, .. }),
        "{kind:?}"
    );
    assert_eq!(fourth, full(&env, &wider).await);
    assert_eq!(graph(&env, Method::DELETE, &u("u05"), None).await, 204);
    let ((fifth, kind), _) = requests(&env, async {
        conn.read_reporting(&wider).await.expect("read")
    })
    .await;
    assert!(
        matches!(kind, ReadKind::Incremental { listed: 0, .. }),
        "{kind:?}"
    );
    assert_eq!(
        fifth,
        full(&env, &wider).await,
        "a deleted user leaves every member list"
    );

    // A restored user comes back with its memberships.
    assert_eq!(
        graph(
            &env,
            Method::POST,
            &format!("/directory/deletedItems/{}/restore", user_id(&o, "u05")),
            None
        )
        .await,
        200
    );
    let ((sixth, _), _) = requests(&env, async {
        conn.read_reporting(&wider).await.expect("read")
    })
    .await;
    assert_eq!(sixth, full(&env, &wider).await);
    assert!(sixth.user_by_login(&format!("u05@{DOMAIN}")).is_some());
    env.emu.shutdown().await.expect("shutdown");
}

#[tokio::test]
async fn corrupt_or_foreign_snapshots_fall_back_to_a_full_read() {
    let env = start(config()).await;
    seed(&env).await;
    let sc = scope(&["A", "B"]);
    let conn = cached(&env).await;
    let (first, _) = conn.read_reporting(&sc).await.expect("read");
    let path = snapshot_path(&cache_dir(&env), APP);

    // One flipped byte in the body.
    let mut bytes = std::fs::read(&path).expect("snapshot");
    let n = bytes.len();
    bytes[n - 20] ^= 0x04;
    std::fs::write(&path, &bytes).expect("write");
    let (o, kind) = conn.read_reporting(&sc).await.expect("read");
    assert!(
        matches!(&kind, ReadKind::Full(Some(why)) if why.contains("checksum")),
        "{kind:?}"
    );
    assert_eq!(o, first);
    // The full read wrote a good snapshot again.
    let (_, kind) = conn.read_reporting(&sc).await.expect("read");
    assert!(matches!(kind, ReadKind::Incremental { .. }), "{kind:?}");

    // Truncated, and plain garbage.
    let bytes = std::fs::read(&path).expect("snapshot");
    std::fs::write(&path, &bytes[..bytes.len() / 2]).expect("write");
    let (o, kind) = conn.read_reporting(&sc).await.expect("read");
    assert!(matches!(&kind, ReadKind::Full(Some(_))), "{kind:?}");
    assert_eq!(o, first);
    std::fs::write(&path, "garbage").expect("write");
    let (o, kind) = conn.read_reporting(&sc).await.expect("read");
    assert!(matches!(&kind, ReadKind::Full(Some(_))), "{kind:?}");
    assert_eq!(o, first);

    // A snapshot written for another app is not taken for this one.
    let other = snapshot_path(&cache_dir(&env), "other");
    std::fs::copy(&path, &other).expect("copy");
    let mut app = env.app.clone();
    app.name = "other".into();
    let ctx = ConnectContext {
        repo_root: env.dir.path().to_path_buf(),
        cache_dir: Some(cache_dir(&env)),
    };
    let conn2 = Office365Connector::connect(&app, &ctx)
        .await
        .expect("connects");
    let (_, kind) = conn2.read_reporting(&sc).await.expect("read");
    assert!(
        matches!(&kind, ReadKind::Full(Some(why)) if why.contains("app o365")),
        "{kind:?}"
    );
    env.emu.shutdown().await.expect("shutdown");
}

#[tokio::test]
async fn expired_delta_tokens_fall_back_to_a_full_read() {
    let env = start(EmulatorConfig {
        delta_token_ttl_secs: 60,
        test_clock: true,
        ..config()
    })
    .await;
    seed(&env).await;
    let sc = scope(&["A"]);
    let conn = cached(&env).await;
    let (first, _) = conn.read_reporting(&sc).await.expect("read");
    env.emu
        .advance_clock(std::time::Duration::from_secs(61))
        .expect("test clock");
    let (o, kind) = conn.read_reporting(&sc).await.expect("read");
    assert!(
        matches!(&kind, ReadKind::Full(Some(why)) if why.contains("410") || why.contains("syncStateNotFound")),
        "{kind:?}"
    );
    assert_eq!(o, first);
    env.emu.shutdown().await.expect("shutdown");
}

#[tokio::test]
async fn tokens_the_service_no_longer_knows_fall_back_to_a_full_read() {
    // The tenant behind the same address and tenant id is replaced by a fresh one
    // (a restored backup, a reset sandbox): the snapshot's identity still matches, but
    // the service refuses its tokens, and the read starts over in full.
    let env = start(config()).await;
    seed(&env).await;
    let sc = scope(&["A"]);
    let conn = cached(&env).await;
    conn.read_reporting(&sc).await.expect("read");
    let addr = env.emu.local_addr();
    let Env { emu, dir, app, ctx } = env;
    emu.shutdown().await.expect("shutdown");

    let emu = roster::emulator::start(config(), addr)
        .await
        .expect("restarts on the same address");
    let env = Env { emu, dir, app, ctx };
    let conn = cached(&env).await;
    let (o, kind) = conn.read_reporting(&sc).await.expect("read");
    assert!(
        matches!(&kind, ReadKind::Full(Some(why)) if why.contains("syncStateNotFound")),
        "{kind:?}"
    );
    assert!(
        o.users.is_empty() && o.groups.is_empty(),
        "nothing of the old state leaks in"
    );
    assert_eq!(o, full(&env, &sc).await);
    env.emu.shutdown().await.expect("shutdown");
}

#[tokio::test]
async fn members_of_many_wanted_groups_come_from_one_groups_delta_round() {
    let env = start(config()).await;
    let conn = env.connect().await;
    let empty = read_all(&conn).await;
    let users: Vec<_> = (0..10).map(|i| user(&format!("m{i}"))).collect();
    let names: Vec<String> = (0..45).map(|j| format!("G{j:02}")).collect();
    let mut changes: Vec<_> = names.iter().map(|g| group_create(g)).collect();
    changes.extend(users.iter().map(user_create));
    for (j, g) in names.iter().enumerate() {
        changes.push(member(g, &users[j % 10].username, Action::Add));
        changes.push(member(g, &users[(j + 3) % 10].username, Action::Add));
    }
    changes.push(member("G00", "group:G01", Action::Add));
    let d = desired(
        users,
        names
            .iter()
            .map(|g| group(g, GroupKind::Security))
            .collect(),
    );
    assert_eq!(apply(&conn, &changes, &d, &empty).await.failures(), vec![]);

    // 45 wanted groups: listing their members would take 3 batches; one delta page
    // with members is cheaper. Users, groups, the delta page, domains, SKUs, role
    // assignments, deleted users.
    let all = ReadScope::default();
    let (o, n) = requests(&env, async { conn.read(&all).await.expect("read") }).await;
    assert_eq!(n, 7, "{n} requests");
    for name in ["G00", "G07", "G44"] {
        // A single wanted group is listed by $batch: the same members.
        let one = conn.read(&scope(&[name])).await.expect("read");
        assert_eq!(
            o.group_by_name(name).expect("group").member_ids,
            one.group_by_name(name).expect("group").member_ids
        );
        assert_eq!(
            o.group_by_name(name).expect("group").member_ids.len(),
            if name == "G00" { 3 } else { 2 }
        );
    }

    // Through the cache: the round's delta link is kept, so the next read is incremental.
    let cconn = cached(&env).await;
    let (first, kind) = cconn.read_reporting(&all).await.expect("read");
    assert_eq!(kind, ReadKind::Full(None));
    assert_eq!(first, o);
    let g5 = group_id(&o, "G05");
    let m0 = user_id(&o, "m0");
    let bind = json!({ "@odata.id": format!("{}/v1.0/directoryObjects/{m0}", env.emu.base_url()) });
    assert_eq!(
        graph(
            &env,
            reqwest::Method::POST,
            &format!("/groups/{g5}/members/$ref"),
            Some(bind)
        )
        .await,
        204
    );
    let ((second, kind), n) = requests(&env, async {
        cconn.read_reporting(&all).await.expect("read")
    })
    .await;
    assert!(
        matches!(
            kind,
            ReadKind::Incremental {
                groups: 1,
                listed: 0,
                ..
            }
        ),
        "{kind:?}"
    );
    assert_eq!(n, 6);
    assert_eq!(second, conn.read(&all).await.expect("read"));
    assert!(
        second
            .group_by_name("G05")
            .expect("G05")
            .member_ids
            .contains(m0.as_str())
    );
    env.emu.shutdown().await.expect("shutdown");
}

/// Random out-of-band changes between reads, with the snapshot sometimes rewritten and
/// sometimes replayed: every incremental read equals a full read of the same moment.
#[tokio::test]
async fn random_changes_keep_incremental_and_full_reads_equal() {
    use rand::{Rng, SeedableRng};
    use reqwest::Method;
    let env = start(config()).await;
    let o = seed(&env).await;
    let sc = scope(&["A", "B", "C", "D", "E", "F"]);
    let conn = cached(&env).await;
    conn.read_reporting(&sc).await.expect("first read");
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(11);
    let mut users: Vec<String> = o.users.iter().map(|u| u.id.clone()).collect();
    let mut deleted: Vec<String> = Vec::new();
    let groups: Vec<String> = o.groups.iter().map(|g| g.id.clone()).collect();
    let bind = |id: &str| json!({ "@odata.id": format!("{}/v1.0/directoryObjects/{id}", env.emu.base_url()) });
    for step in 0..60 {
        let u = users[rng.random_range(0..users.len())].clone();
        let g = groups[rng.random_range(0..groups.len())].clone();
        match rng.random_range(0..7) {
            0 => {
                graph(
                    &env,
                    Method::PATCH,
                    &format!("/users/{u}"),
                    Some(json!({"jobTitle": format!("t{step}")})),
                )
                .await;
            }
            1 => {
                graph(
                    &env,
                    Method::PATCH,
                    &format!("/users/{u}"),
                    Some(json!({"accountEnabled": rng.random_bool(0.5), "mobilePhone": null})),
                )
                .await;
            }
            2 => {
                graph(
                    &env,
                    Method::POST,
                    &format!("/groups/{g}/members/$ref"),
                    Some(bind(&u)),
                )
                .await;
            }
            3 => {
                graph(
                    &env,
                    Method::DELETE,
                    &format!("/groups/{g}/members/{u}/$ref"),
                    None,
                )
                .await;
            }
            4 if users.len() > 10 => {
                if graph(&env, Method::DELETE, &format!("/users/{u}"), None).await == 204 {
                    users.retain(|x| *x != u);
                    deleted.push(u);
                }
            }
            5 if !deleted.is_empty() => {
                let d = deleted.remove(rng.random_range(0..deleted.len()));
                if graph(
                    &env,
                    Method::POST,
                    &format!("/directory/deletedItems/{d}/restore"),
                    None,
                )
                .await
                    == 200
                {
                    users.push(d);
                }
            }
            _ => {
                graph(
                    &env,
                    Method::PATCH,
                    &format!("/groups/{g}"),
                    Some(json!({"description": format!("d{step}")})),
                )
                .await;
            }
        }
        if step % 3 == 2 {
            let (inc, kind) = conn.read_reporting(&sc).await.expect("read");
            assert!(
                matches!(kind, ReadKind::Incremental { .. }),
                "step {step}: {kind:?}"
            );
            assert_eq!(inc, full(&env, &sc).await, "step {step}");
            if rng.random_bool(0.3) {
                // Forget the snapshot's age: the next read rewrites it.
                let path = snapshot_path(&cache_dir(&env), APP);
                std::fs::remove_file(&path).expect("remove");
                conn.read_reporting(&sc).await.expect("full read");
            }
        }
    }
    env.emu.shutdown().await.expect("shutdown");
}

#[tokio::test]
async fn the_first_read_after_a_bulk_apply_costs_no_more_than_an_uncached_one() {
    let env = start(config()).await;
    let o = seed(&env).await;
    let sc = ReadScope::default();
    let conn = cached(&env).await;
    let path = snapshot_path(&cache_dir(&env), APP);
    let (first, kind) = conn.read_reporting(&sc).await.expect("read");
    assert_eq!(kind, ReadKind::Full(None));
    assert!(path.exists());

    // A small apply keeps the snapshot: its replay is cheaper than a full read.
    let small = user("small");
    let mut users: Vec<_> = (0..40).map(|i| user(&format!("u{i:02}"))).collect();
    users.push(small.clone());
    let groups: Vec<_> = ["A", "B", "C", "D", "E", "F"]
        .iter()
        .map(|g| group(g, GroupKind::Security))
        .collect();
    let d = desired(users.clone(), groups.clone());
    let rec = apply(&conn, &[user_create(&small)], &d, &first).await;
    assert_eq!(rec.failures(), vec![]);
    assert!(path.exists(), "a small apply keeps the snapshot");
    let (after_small, kind) = conn.read_reporting(&sc).await.expect("read");
    assert!(matches!(kind, ReadKind::Incremental { .. }), "{kind:?}");

    // A bulk apply: 600 users created, each a member of one of 12 new groups.
    let bulk: Vec<_> = (0..600).map(|i| user(&format!("bulk{i:03}"))).collect();
    let new_groups: Vec<String> = (0..12).map(|j| format!("Bulk{j:02}")).collect();
    let mut changes: Vec<_> = new_groups.iter().map(|g| group_create(g)).collect();
    changes.extend(bulk.iter().map(user_create));
    for (i, u) in bulk.iter().enumerate() {
        changes.push(member(&new_groups[i % 12], &u.username, Action::Add));
    }
    users.extend(bulk.iter().cloned());
    let mut all_groups = groups;
    all_groups.extend(new_groups.iter().map(|g| group(g, GroupKind::Security)));
    let d = desired(users, all_groups);
    let rec = apply(&conn, &changes, &d, &after_small).await;
    assert_eq!(rec.failures(), vec![]);

    // The first read after it, with the cache on, against the same read uncached.
    let ((cached_read, kind), n_cached) = requests(&env, async {
        conn.read_reporting(&sc).await.expect("read")
    })
    .await;
    assert!(matches!(kind, ReadKind::Full(Some(_))), "{kind:?}");
    let (uncached, n_uncached) = requests(&env, full(&env, &sc)).await;
    assert_eq!(cached_read, uncached, "a cache changes cost, never results");
    assert!(
        n_cached <= n_uncached,
        "the first read after a bulk apply made {n_cached} requests, an uncached read {n_uncached}"
    );
    assert_eq!(cached_read.users.len(), o.users.len() + 601);

    // The read after it tracks changes again: a snapshot is written, then used.
    let (_, kind) = conn.read_reporting(&sc).await.expect("read");
    assert!(matches!(kind, ReadKind::Full(None)), "{kind:?}");
    let (again, kind) = conn.read_reporting(&sc).await.expect("read");
    assert!(matches!(kind, ReadKind::Incremental { .. }), "{kind:?}");
    assert_eq!(again, uncached);
}
