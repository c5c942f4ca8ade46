//! Office365 connector benchmark against the in-process Graph emulator: the cost of
//! applying many user creates and membership adds, and of reading the resulting
//! tenant, in HTTP requests, Graph requests and wall time.
//!
//! Sizes come from the environment: `ROSTER_BENCH_USERS` (default 10000),
//! `ROSTER_BENCH_GROUPS` (500), `ROSTER_BENCH_MEMBERS` (50000); set
//! `ROSTER_BENCH_THROTTLE=1` to run with the emulator's throttle budgets
//! (`ROSTER_BENCH_RU_PER_10S`, default 10000; `ROSTER_BENCH_WRITES_PER_150S`, default
//! 30000). Run with `cargo bench --bench o365`.
//!
//! The apply runs twice, each against a fresh emulator: without a report log, then
//! through the real report log ([`ReportLog`], synced per batch) in a folder under
//! `target/` (a real disk, not a tmpfs). `ROSTER_BENCH_PER_CHANGE_SYNC=1` adds a run
//! with one `fdatasync` per record under a lock, as the log did before.
//!
//! Then the floor: a minimal script against a third fresh emulator that issues the same
//! Graph writes as `$batch` requests of 20, 4 in flight (group creates, then user
//! creates, then `members@odata.bind` PATCHes of 20 members), checking every response,
//! and nothing else — no plan, no outcomes, no log. The ratio of roster's apply through
//! the report log to it is the figure issue 19 sets a target for (≤ 1.5 ×).

#[path = "support/graph_token.rs"]
mod graph_token;

use std::collections::BTreeMap;
use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use futures::StreamExt;
use roster::apps::office365::Office365Connector;
use roster::apps::{ApplyInput, ChangeResult, ConnectContext, OutcomeSink, ReadScope};
use roster::desired::{DesiredState, Office365App, Office365Credentials, SecretRef, Switches};
use roster::emulator::{EmulatorConfig, EmulatorHandle, Stats};
use roster::engine::report_log::{Provenance, ReportLog, ReportRecord, read_all};
use roster::observed::ObservedApp;
use roster::plan::{Action, Change, ObjectKind, Target};
use serde_json::{Value, json};

/// Where the outcomes go besides the count.
enum Log {
    None,
    /// The report log as `roster apply` writes it.
    Real(ReportLog),
    /// One `fdatasync` per record under a lock, as the log did before.
    PerChange(Mutex<std::fs::File>),
}

struct Sink {
    ok: AtomicUsize,
    failed: AtomicUsize,
    log: Log,
}

impl OutcomeSink for Sink {
    fn record(&self, change: &Change, result: &ChangeResult) {
        if result.is_failure() {
            self.failed.fetch_add(1, Ordering::Relaxed);
        } else {
            self.ok.fetch_add(1, Ordering::Relaxed);
        }
        match &self.log {
            Log::None => {}
            Log::Real(log) => log.record(change, result),
            Log::PerChange(file) => {
                let rec = ReportRecord::new(
                    change,
                    result,
                    &Provenance::default(),
                    time::OffsetDateTime::now_utc(),
                );
                let mut line = serde_json::to_vec(&rec).expect("a record serializes");
                line.push(b'\n');
                let mut f = file.lock().unwrap_or_else(|e| e.into_inner());
                f.write_all(&line).expect("write the log");
                f.sync_data().expect("sync the log");
            }
        }
    }

    fn batch_done(&self) {
        if let Log::Real(log) = &self.log {
            log.batch_done();
        }
    }
}

fn env_num(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn change(object: ObjectKind, key: String, action: Action) -> Change {
    Change {
        app: "bench".into(),
        target: Target::of(object, &key).expect("a valid target"),
        action,
        id: None,
        before: None,
        after: None,
        reason: "bench".into(),
    }
}

fn delta(a: Stats, b: Stats) -> (u64, u64, u64, u64) {
    (
        b.http_requests - a.http_requests,
        b.requests - a.requests,
        b.writes - a.writes,
        b.throttled - a.throttled,
    )
}

/// A fresh folder for report logs under `target/`: a real disk, where /tmp is often a
/// tmpfs on which `fdatasync` costs nothing.
fn log_dir() -> anyhow::Result<PathBuf> {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("target"));
    let dir = target.join("bench-report-log");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}

struct Tenant {
    emu: EmulatorHandle,
    conn: Office365Connector,
    _dir: tempfile::TempDir,
}

async fn tenant(throttle: bool) -> anyhow::Result<Tenant> {
    let dir = tempfile::tempdir()?;
    std::fs::write(dir.path().join("secret"), "bench-secret")?;
    let mut cfg = EmulatorConfig {
        tenant: "bench".into(),
        domains: vec!["bench.example".into()],
        clients: vec![("bench-client".into(), "bench-secret".into())],
        ..EmulatorConfig::default()
    };
    if throttle {
        cfg.ru_per_10s = Some(env_num("ROSTER_BENCH_RU_PER_10S", 10_000) as u32);
        cfg.writes_per_150s = Some(env_num("ROSTER_BENCH_WRITES_PER_150S", 30_000) as u32);
    }
    let emu = roster::emulator::start(cfg, SocketAddr::from(([127, 0, 0, 1], 0))).await?;
    let app = Office365App {
        joiner: None,
        leaver: None,
        attribute_map: Default::default(),
        on_create: Default::default(),
        name: "bench".into(),
        tenant: Some("bench".into()),
        client_id: Some("bench-client".into()),
        credentials: Some(Office365Credentials::ClientSecret(SecretRef::File(
            "secret".into(),
        ))),
        graph_url: Some(emu.base_url()),
        login_url: Some(emu.base_url()),
        tls: None,
        sandbox: None,
        authorized_domains: None,
        switches: Switches::default(),
        ignore: Vec::new(),
        max_deletes: None,
        manage_guests: false,
        manage_role_assignable_groups: false,
        sandbox_seed: None,
    };
    let ctx = ConnectContext {
        repo_root: dir.path().to_path_buf(),
        cache_dir: None,
    };
    let conn = Office365Connector::connect(&app, &ctx).await?;
    Ok(Tenant {
        emu,
        conn,
        _dir: dir,
    })
}

/// The floor's writer: the same Graph writes as roster's apply, as `$batch` requests of
/// [`roster::apps::office365::http::BATCH_SIZE`] sent 4 at a time, in three rounds (groups,
/// users, members: each needs the ids of the one before). Every response is checked.
/// Returns the number of HTTP requests it sent.
async fn minimal_script(
    base: &str,
    groups: usize,
    users: usize,
    members: &[(usize, usize)],
) -> anyhow::Result<usize> {
    let batch = roster::apps::office365::http::BATCH_SIZE;
    let http = reqwest::Client::new();
    let token =
        graph_token::client_credentials(&http, base, "bench", "bench-client", "bench-secret")
            .await?;
    let mut sent = 1usize;
    // Sends `ops` in batches, IN_FLIGHT at a time; returns each op's response body.
    async fn run(
        http: &reqwest::Client,
        base: &str,
        token: &str,
        ops: Vec<Value>,
        batch: usize,
    ) -> anyhow::Result<(usize, Vec<Value>)> {
        const IN_FLIGHT: usize = 4;
        let chunks: Vec<Vec<Value>> = ops.chunks(batch).map(<[Value]>::to_vec).collect();
        let n = chunks.len();
        let mut bodies: Vec<Value> = Vec::new();
        let mut results =
            futures::stream::iter(chunks.into_iter().enumerate().map(|(k, chunk)| async move {
                let r: Value = http
                    .post(format!("{base}/v1.0/$batch"))
                    .bearer_auth(token)
                    .json(&json!({ "requests": chunk }))
                    .send()
                    .await?
                    .error_for_status()?
                    .json()
                    .await?;
                anyhow::Ok((k, r))
            }))
            .buffer_unordered(IN_FLIGHT);
        let mut per_chunk: Vec<Option<Value>> = vec![None; n];
        while let Some(r) = results.next().await {
            let (k, r) = r?;
            per_chunk[k] = Some(r);
        }
        for (k, r) in per_chunk.into_iter().enumerate() {
            let r = r.ok_or_else(|| anyhow::anyhow!("batch {k} has no answer"))?;
            let mut responses: Vec<Value> = r["responses"].as_array().cloned().unwrap_or_default();
            responses.sort_by_key(|x| x["id"].as_str().and_then(|i| i.parse::<usize>().ok()));
            for resp in responses {
                let status = resp["status"].as_u64().unwrap_or(0);
                anyhow::ensure!((200..300).contains(&status), "a write failed: {resp}");
                bodies.push(resp["body"].clone());
            }
        }
        Ok((n, bodies))
    }
    let op = |k: usize, method: &str, url: String, body: Value| {
        json!({"id": (k % batch).to_string(), "method": method, "url": url,
               "headers": {"Content-Type": "application/json"}, "body": body})
    };
    let ops = (0..groups)
        .map(|g| {
            op(
                g,
                "POST",
                "/groups".into(),
                json!({
                    "displayName": format!("group{g:05}"), "mailNickname": format!("group{g:05}"),
                    "securityEnabled": true, "mailEnabled": false, "groupTypes": [],
                }),
            )
        })
        .collect();
    let (n, created) = run(&http, base, &token, ops, batch).await?;
    sent += n;
    let group_ids: Vec<String> = created
        .iter()
        .map(|b| b["id"].as_str().unwrap_or_default().to_string())
        .collect();
    let ops = (0..users)
        .map(|u| {
            op(u, "POST", "/users".into(), json!({
                "accountEnabled": true, "displayName": format!("user{u:06}"),
                "mailNickname": format!("user{u:06}"),
                "userPrincipalName": format!("user{u:06}@bench.example"),
                "mail": format!("user{u:06}@bench.example"),
                "givenName": "Bench", "surname": format!("User{u}"), "department": "Load",
                "passwordProfile": {"password": format!("Bench-{u}-Pw!x9"), "forceChangePasswordNextSignIn": true},
            }))
        })
        .collect();
    let (n, created) = run(&http, base, &token, ops, batch).await?;
    sent += n;
    let user_ids: Vec<String> = created
        .iter()
        .map(|b| b["id"].as_str().unwrap_or_default().to_string())
        .collect();
    let mut per_group: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
    for &(g, u) in members {
        per_group.entry(g).or_default().push(u);
    }
    let mut ops = Vec::new();
    for (g, us) in per_group {
        for chunk in us.chunks(batch) {
            let refs: Vec<String> = chunk
                .iter()
                .map(|&u| format!("{base}/v1.0/directoryObjects/{}", user_ids[u]))
                .collect();
            ops.push(op(
                ops.len(),
                "PATCH",
                format!("/groups/{}", group_ids[g]),
                json!({"members@odata.bind": refs}),
            ));
        }
    }
    let (n, _) = run(&http, base, &token, ops, batch).await?;
    Ok(sent + n)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    // RUST_LOG=roster=debug shows the client's pacing under throttling.
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_writer(std::io::stderr)
        .try_init();
    let users = env_num("ROSTER_BENCH_USERS", 10_000);
    let groups = env_num("ROSTER_BENCH_GROUPS", 500).max(1);
    let members = env_num("ROSTER_BENCH_MEMBERS", 50_000);
    let throttle = std::env::var("ROSTER_BENCH_THROTTLE").is_ok_and(|v| v == "1");
    let per_change = std::env::var("ROSTER_BENCH_PER_CHANGE_SYNC").is_ok_and(|v| v == "1");

    let mut changes = Vec::with_capacity(groups + users + members);
    for g in 0..groups {
        changes.push(change(
            ObjectKind::Group,
            format!("group{g:05}"),
            Action::Create,
        ));
    }
    for u in 0..users {
        let mut c = change(ObjectKind::User, format!("user{u:06}"), Action::Create);
        let after: BTreeMap<_, _> = [
            (
                "email".to_string(),
                json!(format!("user{u:06}@bench.example")),
            ),
            ("first_name".to_string(), json!("Bench")),
            ("last_name".to_string(), json!(format!("User{u}"))),
            ("department".to_string(), json!("Load")),
        ]
        .into();
        c.after = Some(after);
        changes.push(c);
    }
    let mut seen = std::collections::HashSet::new();
    let mut pairs = Vec::new();
    let mut k = 0usize;
    while seen.len() < members.min(users * groups) {
        let g = k % groups;
        let u = (k / groups * 7919 + g * 104_729) % users.max(1);
        k += 1;
        if seen.insert((g, u)) {
            pairs.push((g, u));
            let gname = format!("group{g:05}");
            let uname = format!("user{u:06}");
            let c = change(
                ObjectKind::Membership,
                format!("{gname}/{uname}"),
                Action::Add,
            );
            changes.push(c);
        }
    }
    let desired = DesiredState::default();
    let observed = ObservedApp::default();
    let logs = log_dir()?;

    println!(
        "office365 connector benchmark (emulator in-process, throttling {}, report logs in {})",
        if throttle { "on" } else { "off" },
        logs.display()
    );
    println!(
        "| step | changes | HTTP requests | Graph requests | Graph writes | throttled | wall time | writes per HTTP request |"
    );
    println!("|---|---|---|---|---|---|---|---|");

    let mut modes = vec!["no report log", "report log (synced per batch)"];
    if per_change {
        modes.push("report log (fdatasync per change, as before)");
    }
    let mut base: Option<Duration> = None;
    let mut logged: Option<Duration> = None;
    let mut last = None;
    for (m, mode) in modes.iter().enumerate() {
        let t = tenant(throttle).await?;
        let log_path = logs.join(format!("reports-{m}.jsonl"));
        let log = match m {
            0 => Log::None,
            1 => Log::Real(ReportLog::open_with(&log_path, Provenance::default())?),
            _ => Log::PerChange(Mutex::new(
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(&log_path)?,
            )),
        };
        let sink = Sink {
            ok: AtomicUsize::new(0),
            failed: AtomicUsize::new(0),
            log,
        };
        let s0 = t.emu.stats();
        let t0 = Instant::now();
        t.conn
            .apply(
                ApplyInput {
                    changes: &changes,
                    desired: &desired,
                    observed: &observed,
                },
                &sink,
            )
            .await?;
        // The end of the run: everything on disk, as `roster apply` waits for it.
        let mut syncs = String::new();
        if let Log::Real(log) = &sink.log {
            log.flush_durable()?;
            syncs = format!(" ({} fdatasyncs)", log.syncs());
        }
        let apply_time = t0.elapsed();
        if m == 1 {
            logged = Some(apply_time);
        }
        let s1 = t.emu.stats();
        let (http, graph, writes, throttled) = delta(s0, s1);
        let ok = sink.ok.load(Ordering::Relaxed);
        let failed = sink.failed.load(Ordering::Relaxed);
        drop(sink);
        if m > 0 {
            let lines = read_all(&log_path)?.len();
            assert_eq!(lines, ok + failed, "one record per outcome");
        }
        if m == 2 {
            syncs = format!(" ({} fdatasyncs)", ok + failed);
        }
        let ratio = match base {
            None => {
                base = Some(apply_time);
                String::new()
            }
            Some(b) => format!(
                ", {:.2}x the run without log",
                apply_time.as_secs_f64() / b.as_secs_f64()
            ),
        };
        println!(
            "| apply, {mode}: {groups} group + {users} user creates, {} member adds | {ok} ok / {failed} failed | {http} | {graph} | {writes} | {throttled} | {apply_time:.2?}{ratio}{syncs} | {:.1} |",
            seen.len(),
            writes as f64 / http.max(1) as f64
        );
        if let Some(prev) = last.replace(t) {
            prev.conn.close().await?;
            prev.emu.shutdown().await?;
        }
    }

    // The floor: the same writes from a minimal script (unthrottled runs only: a script
    // that does not pace would just collect 429s).
    if !throttle {
        let f = tenant(false).await?;
        let s0 = f.emu.stats();
        let t0 = Instant::now();
        let sent = minimal_script(&f.emu.base_url(), groups, users, &pairs).await?;
        let floor_time = t0.elapsed();
        let (http, graph, writes, _) = delta(s0, f.emu.stats());
        anyhow::ensure!(
            http as usize == sent,
            "the script's requests were all counted"
        );
        let ratio = logged
            .map(|l| {
                format!(
                    ", roster through the report log = {:.2}x this",
                    l.as_secs_f64() / floor_time.as_secs_f64()
                )
            })
            .unwrap_or_default();
        println!(
            "| minimal script: the same writes as $batch of 20, 4 in flight, nothing else | {writes} writes | {http} | {graph} | {writes} | 0 | {floor_time:.2?}{ratio} | {:.1} |",
            writes as f64 / http.max(1) as f64
        );
        f.conn.close().await?;
        f.emu.shutdown().await?;
    }

    let t = last.expect("at least one run");
    let s1 = t.emu.stats();
    let t1 = Instant::now();
    let o = t.conn.read(&ReadScope::default()).await?;
    let read_time = t1.elapsed();
    let s2 = t.emu.stats();
    let (http, graph, _, throttled) = delta(s1, s2);
    // Members either by $batch listings of 20 groups after listing the groups, or by one
    // groups delta round with members (50 groups per page in the emulator).
    let floor = users.div_ceil(999)
        + (groups.div_ceil(999) + groups.div_ceil(20)).min(groups.div_ceil(50))
        + 2;
    let m: usize = o.groups.iter().map(|g| g.member_ids.len()).sum();
    println!(
        "| full read: {} users, {} groups, {m} memberships | - | {http} (floor {floor}, ratio {:.2}) | {graph} | 0 | {throttled} | {:.2?} | - |",
        o.users.len(),
        o.groups.len(),
        http as f64 / floor as f64,
        read_time
    );
    t.conn.close().await?;
    t.emu.shutdown().await?;
    let _ = std::fs::remove_dir_all(&logs);
    Ok(())
}
