//! Emulator scale benchmark (`cargo bench --bench emulator`): builds a state file with
//! 100,000 users, 20,000 groups and 1,000,000 memberships, loads it, and times 999-item
//! pages of users, groups and members, a full groups delta with members, and a
//! shutdown save. Prints figures (load time, page latencies, RSS); asserts nothing timed.
//!
//! Sizes can be scaled down with `EMULATOR_BENCH_USERS`, `EMULATOR_BENCH_GROUPS` and
//! `EMULATOR_BENCH_MEMBERSHIPS`.

use std::time::{Duration, Instant};

use rand::{Rng, SeedableRng};
use roster::emulator::model::{Group, Tenant, User};
use roster::emulator::{self, EmulatorConfig};
use serde_json::Value;
use uuid::Uuid;

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn rss_kib(field: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(field))
                .and_then(|l| l.split_whitespace().nth(1).and_then(|n| n.parse().ok()))
        })
        .unwrap_or(0)
}

fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

fn summary(name: &str, mut v: Vec<Duration>) {
    if v.is_empty() {
        return;
    }
    v.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    let total: Duration = v.iter().sum();
    println!(
        "{name:<40} n={:<5} min={:>7.2}ms median={:>7.2}ms p95={:>7.2}ms max={:>7.2}ms total={:>8.1}ms",
        v.len(),
        ms(v[0]),
        ms(v[v.len() / 2]),
        ms(v[(v.len() * 95 / 100).min(v.len() - 1)]),
        ms(v[v.len() - 1]),
        ms(total)
    );
}

fn build_tenant(users: usize, groups: usize, memberships: usize) -> Tenant {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
    let mut t = Tenant::new(
        "contoso",
        &["contoso.com".into()],
        &[("ENTERPRISEPACK".into(), 200_000)],
    );
    let mut user_ids = Vec::with_capacity(users);
    for i in 0..users {
        let id = Uuid::from_u128(rng.random());
        user_ids.push(id);
        t.users.insert(
            id,
            User {
                id,
                account_enabled: true,
                display_name: format!("User {i}"),
                given_name: Some(format!("Given{i}")),
                surname: Some(format!("Sur{i}")),
                mail_nickname: format!("user{i}"),
                user_principal_name: format!("user{i}@contoso.com"),
                mail: Some(format!("user{i}@contoso.com")),
                department: Some(format!("Dept{}", i % 50)),
                job_title: Some("Engineer".into()),
                usage_location: Some("US".into()),
                created_date_time: "2024-01-01T00:00:00Z".into(),
                ..Default::default()
            },
        );
    }
    let per_group = memberships / groups.max(1);
    for g in 0..groups {
        let id = Uuid::from_u128(rng.random());
        let mut members = std::collections::BTreeSet::new();
        while members.len() < per_group.min(user_ids.len()) {
            members.insert(user_ids[rng.random_range(0..user_ids.len())]);
        }
        t.groups.insert(
            id,
            Group {
                id,
                display_name: format!("Group {g}"),
                description: Some(format!("Group number {g}")),
                mail_nickname: format!("group{g}"),
                security_enabled: true,
                created_date_time: "2024-01-01T00:00:00Z".into(),
                members,
                ..Default::default()
            },
        );
    }
    t.rebuild_indexes();
    t
}

async fn get_json(http: &reqwest::Client, token: &str, url: &str) -> Value {
    let r = http
        .get(url)
        .bearer_auth(token)
        .send()
        .await
        .expect("request");
    assert!(r.status().is_success(), "{} for {url}", r.status());
    r.json().await.expect("json")
}

/// Follow nextLinks from `url`; returns per-page latencies and the item count.
async fn walk(
    http: &reqwest::Client,
    token: &str,
    url: &str,
) -> (Vec<Duration>, usize, Option<String>) {
    let mut lat = Vec::new();
    let mut n = 0;
    let mut next = Some(url.to_string());
    let mut delta = None;
    while let Some(u) = next {
        let t0 = Instant::now();
        let v = get_json(http, token, &u).await;
        lat.push(t0.elapsed());
        n += v["value"].as_array().map(Vec::len).unwrap_or(0);
        next = v["@odata.nextLink"].as_str().map(str::to_string);
        delta = v["@odata.deltaLink"].as_str().map(str::to_string).or(delta);
    }
    (lat, n, delta)
}

fn main() {
    let users = env_usize("EMULATOR_BENCH_USERS", 100_000);
    let groups = env_usize("EMULATOR_BENCH_GROUPS", 20_000);
    let memberships = env_usize("EMULATOR_BENCH_MEMBERSHIPS", 1_000_000);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("tenant.json");

    println!("emulator bench: {users} users, {groups} groups, {memberships} memberships");
    let t0 = Instant::now();
    let tenant = build_tenant(users, groups, memberships);
    let built = t0.elapsed();
    let t0 = Instant::now();
    let bytes = tenant.to_json_bytes().expect("serialize");
    std::fs::write(&path, &bytes).expect("write state");
    let written = t0.elapsed();
    let real_memberships: usize = tenant.groups.values().map(|g| g.members.len()).sum();
    drop(tenant);
    drop(bytes);
    let size = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
    println!(
        "build in memory                          {:>8.0} ms",
        built.as_secs_f64() * 1000.0
    );
    println!(
        "serialize + write state file             {:>8.0} ms ({:.1} MiB, {real_memberships} memberships)",
        written.as_secs_f64() * 1000.0,
        size as f64 / 1048576.0
    );
    let rss_before = rss_kib("VmRSS:");

    rt.block_on(async {
        let cfg = EmulatorConfig {
            clients: vec![("bench".into(), "bench-secret".into())],
            state_file: Some(path.clone()),
            ..EmulatorConfig::default()
        };
        let t0 = Instant::now();
        let handle = emulator::start(cfg, "127.0.0.1:0".parse().expect("addr")).await.expect("start");
        let load = t0.elapsed();
        println!("load state file + start server           {:>8.0} ms", load.as_secs_f64() * 1000.0);
        println!("RSS after load                           {:>8.1} MiB (before load {:.1} MiB)", mib(rss_kib("VmRSS:")), mib(rss_before));
        let base = handle.base_url();
        let http = reqwest::Client::new();
        let tok: Value = http
            .post(format!("{base}/contoso/oauth2/v2.0/token"))
            .form(&[("grant_type", "client_credentials"), ("client_id", "bench"), ("client_secret", "bench-secret"), ("scope", "https://graph.microsoft.com/.default")])
            .send()
            .await
            .expect("token")
            .json()
            .await
            .expect("json");
        let token = tok["access_token"].as_str().expect("access_token").to_string();

        let sel = "id,displayName,givenName,surname,mailNickname,userPrincipalName,mail,department,jobTitle,employeeId,usageLocation,mobilePhone,accountEnabled";
        let (lat, n, _) = walk(&http, &token, &format!("{base}/v1.0/users?$top=999&$select={sel}")).await;
        assert_eq!(n, users);
        summary("users, 999/page, 13 properties", lat);
        let (lat, n, _) = walk(&http, &token, &format!("{base}/v1.0/groups?$top=999&$select=id,displayName,description,mailNickname")).await;
        assert_eq!(n, groups);
        summary("groups, 999/page", lat);
        // Members of 200 groups.
        let first: Value = get_json(&http, &token, &format!("{base}/v1.0/groups?$top=200&$select=id")).await;
        let mut lat = Vec::new();
        for g in first["value"].as_array().cloned().unwrap_or_default() {
            let id = g["id"].as_str().unwrap_or_default();
            let (l, _, _) = walk(&http, &token, &format!("{base}/v1.0/groups/{id}/members?$top=999&$select=id")).await;
            lat.extend(l);
        }
        summary("members pages (200 groups), 999/page", lat);
        let t0 = Instant::now();
        let (lat, n, delta) = walk(&http, &token, &format!("{base}/v1.0/groups/delta?$select=displayName,members")).await;
        println!("groups delta with members: {n} groups in {:.0} ms", t0.elapsed().as_secs_f64() * 1000.0);
        summary("groups/delta pages", lat);
        // A handful of changes, then the incremental round.
        let uid = {
            let v = get_json(&http, &token, &format!("{base}/v1.0/users?$top=1&$select=id")).await;
            v["value"][0]["id"].as_str().unwrap_or_default().to_string()
        };
        let t0 = Instant::now();
        let r = http
            .patch(format!("{base}/v1.0/users/{uid}"))
            .bearer_auth(&token)
            .json(&serde_json::json!({"jobTitle": "Lead"}))
            .send()
            .await
            .expect("patch");
        assert_eq!(r.status().as_u16(), 204);
        println!("one PATCH on the big tenant              {:>8.2} ms", t0.elapsed().as_secs_f64() * 1000.0);
        if let Some(d) = delta {
            let t0 = Instant::now();
            let (_, n, _) = walk(&http, &token, &d).await;
            println!("incremental groups delta ({n} changes)    {:>8.2} ms", t0.elapsed().as_secs_f64() * 1000.0);
        }
        println!("RSS now / peak                           {:>8.1} MiB / {:.1} MiB", mib(rss_kib("VmRSS:")), mib(rss_kib("VmHWM:")));
        let t0 = Instant::now();
        handle.shutdown().await.expect("shutdown");
        println!("shutdown incl. final atomic save         {:>8.0} ms", t0.elapsed().as_secs_f64() * 1000.0);
    });
}
