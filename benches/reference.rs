//! The reference tenant of SPEC §7 end to end (`cargo bench --bench reference`): it is
//! generated twice, consistently — as an emulator state file and as an identity
//! repository of YAML files — then the real binaries run against each other over
//! loopback: `roster-graph-emulator --state …` serves the tenant, and `roster plan` /
//! `roster drift` run as child processes. Prints, per run, wall time, peak RSS of the
//! roster process, HTTP requests and Graph requests (from `/_emulator/stats`), and the
//! request floor they compare with. Asserts nothing timed.
//!
//! Runs: a full plan without the snapshot cache (`--no-cache`); the first plan with
//! the cache (full read, snapshot written); `drift` after N out-of-band changes made
//! through Graph (incremental: delta links + snapshot); `drift` with nothing changed.
//! Then the saved-plan pipeline against the unsaved one, on two copies of the tenant
//! with the same M out-of-band changes (`ROSTER_BENCH_APPLY_CHANGES`, 10000): `plan
//! --out` + `apply PLANFILE` (verified: read, plan again, compare, apply) on one copy,
//! `apply --auto-approve` (read, plan, apply) on the other; all without the cache. The
//! figure: how much longer `apply PLANFILE` takes than the unsaved apply, against the
//! time of one plan.
//!
//! Sizes: `ROSTER_BENCH_USERS` (100000), `ROSTER_BENCH_GROUPS` (20000),
//! `ROSTER_BENCH_PER_GROUP` (50 members each), `ROSTER_BENCH_CHANGES` (100);
//! `ROSTER_BENCH_DIR` keeps the generated repository and state file there.
//! `ROSTER_BENCH_BASELINE=PATH` (another roster build, e.g. the previous commit's)
//! adds rounds alternating it with this build: `plan --no-cache` three times each, and
//! `drift` with nothing changed twice each — before/after figures in one run.
//! After the first full plan, `ROSTER_BENCH_FLOOR_ROUNDS` (3) rounds alternate the
//! floor client (a minimal client issuing exactly the floor's requests, timed) with
//! roster's full plan: the ratio to the floor's raw request time. With the https
//! rounds (not `ROSTER_BENCH_READS_ONLY`), Microsoft's JavaScript Graph SDK reads the
//! same tenant twice (`tests/js/bench-read.mjs`; skipped without Node.js or
//! `tests/js/node_modules`): roster's full plan against an admin's SDK script.
//! `ROSTER_BENCH_READS_ONLY=1` runs only the reads (no https rounds, no saved-plan
//! pipeline): the million-user run of docs/performance.md.

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use roster::emulator::Stats;

#[path = "support/graph_token.rs"]
mod graph_token;
#[allow(dead_code)]
#[path = "../tests/it/support/tls.rs"]
mod tls;
use roster::emulator::model::{Group, Tenant, User};
use serde_json::{Value, json};
use uuid::Uuid;

const CLIENT: &str = "bench-client";
const SECRET: &str = "bench-secret-value";
const DOMAIN: &str = "contoso.com";

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

struct Sizes {
    users: usize,
    groups: usize,
    per_group: usize,
}

fn member_index(s: &Sizes, g: usize, k: usize) -> usize {
    (g * s.per_group + k * 7) % s.users
}

/// The tenant as the emulator stores it: exactly what the repository asks for.
fn tenant(s: &Sizes) -> (Tenant, Vec<Uuid>, Vec<Uuid>) {
    let mut t = Tenant::new(
        "contoso",
        &[DOMAIN.into()],
        &[("ENTERPRISEPACK".into(), 1_000)],
    );
    let uid = |i: usize| Uuid::from_u128(0x1000_0000_0000_0000_0000_0000_0000_0000 + i as u128);
    let gid = |j: usize| Uuid::from_u128(0x2000_0000_0000_0000_0000_0000_0000_0000 + j as u128);
    for i in 0..s.users {
        let id = uid(i);
        t.users.insert(
            id,
            User {
                id,
                account_enabled: true,
                display_name: format!("First{i} Last{i}"),
                given_name: Some(format!("First{i}")),
                surname: Some(format!("Last{i}")),
                mail_nickname: format!("u{i}"),
                user_principal_name: format!("u{i}@{DOMAIN}"),
                mail: Some(format!("u{i}@{DOMAIN}")),
                department: Some(format!("Dept{}", i % 50)),
                employee_id: Some(format!("{i:06}")),
                usage_location: Some("US".into()),
                created_date_time: "2026-01-01T00:00:00Z".into(),
                ..Default::default()
            },
        );
    }
    for j in 0..s.groups {
        let id = gid(j);
        let members: BTreeSet<Uuid> = (0..s.per_group)
            .map(|k| uid(member_index(s, j, k)))
            .collect();
        t.groups.insert(
            id,
            Group {
                id,
                display_name: format!("g{j}"),
                description: Some(format!("Group {j}")),
                mail_nickname: format!("g{j}"),
                security_enabled: true,
                created_date_time: "2026-01-01T00:00:00Z".into(),
                members,
                ..Default::default()
            },
        );
    }
    t.rebuild_indexes();
    (
        t,
        (0..s.users).map(uid).collect(),
        (0..s.groups).map(gid).collect(),
    )
}

/// The same organisation as an identity repository (files of 10,000 users / 2,000
/// groups, one policy binding every group).
fn repository(s: &Sizes, root: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(root.join("users"))?;
    std::fs::create_dir_all(root.join("groups"))?;
    for (f, chunk) in (0..s.users).collect::<Vec<_>>().chunks(10_000).enumerate() {
        let mut y = String::from("users:\n");
        for &i in chunk {
            let _ = write!(
                y,
                "  - username: u{i}\n    email: u{i}@{DOMAIN}\n    first_name: First{i}\n    last_name: Last{i}\n    department: Dept{}\n    employee_id: \"{i:06}\"\n    usage_location: US\n",
                i % 50
            );
        }
        std::fs::write(root.join(format!("users/users-{f:03}.yaml")), y)?;
    }
    for (f, chunk) in (0..s.groups).collect::<Vec<_>>().chunks(2_000).enumerate() {
        let mut y = String::from("groups:\n");
        for &j in chunk {
            let _ = write!(
                y,
                "  - name: g{j}\n    description: Group {j}\n    members: ["
            );
            for k in 0..s.per_group {
                if k > 0 {
                    y.push_str(", ");
                }
                let _ = write!(y, "u{}", member_index(s, j, k));
            }
            y.push_str("]\n");
        }
        std::fs::write(root.join(format!("groups/groups-{f:03}.yaml")), y)?;
    }
    let mut p = String::from("policies:\n  - name: everyone\n    app: o365\n    groups:\n");
    for j in 0..s.groups {
        let _ = writeln!(p, "      - g{j}");
    }
    std::fs::write(root.join("policies.yaml"), p)?;
    Ok(())
}

fn copy_dir(from: &Path, to: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let target = to.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            copy_dir(&entry.path(), &target)?;
        } else {
            std::fs::copy(entry.path(), target)?;
        }
    }
    Ok(())
}

fn apps_yaml(root: &Path, base: &str) -> anyhow::Result<()> {
    apps_yaml_tls(root, base, "")
}

/// `tls` is the app's `tls:` line (with its indentation and newline), or empty.
fn apps_yaml_tls(root: &Path, base: &str, tls: &str) -> anyhow::Result<()> {
    std::fs::write(
        root.join("apps.yaml"),
        format!(
            "apps:\n  - name: o365\n    type: office365\n    tenant: contoso\n    client_id: {CLIENT}\n    credentials:\n      client_secret: {{ env: ROSTER_BENCH_SECRET }}\n    graph_url: {base}\n    login_url: {base}\n    authorized_domains: [{DOMAIN}]\n    max_deletes: 100000\n{tls}"
        ),
    )?;
    Ok(())
}

struct Emulator {
    child: Child,
    base: String,
}

impl Drop for Emulator {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The emulator's peak resident memory so far (VmHWM), in MiB.
fn emulator_peak_mib(emu: &Emulator) -> f64 {
    let status =
        std::fs::read_to_string(format!("/proc/{}/status", emu.child.id())).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(0.0, |kib| kib / 1024.0)
}

fn start_emulator(state: &Path) -> anyhow::Result<Emulator> {
    start_emulator_tls(state, None)
}

/// The emulator, over HTTPS when `tls` names a certificate and its key.
fn start_emulator_tls(state: &Path, tls: Option<(&Path, &Path)>) -> anyhow::Result<Emulator> {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_roster-graph-emulator"));
    if let Some((cert, key)) = tls {
        cmd.arg("--tls-cert").arg(cert).arg("--tls-key").arg(key);
    }
    let mut child = cmd
        .args([
            "--listen",
            "127.0.0.1:0",
            "--tenant",
            "contoso",
            "--domain",
            DOMAIN,
        ])
        .arg("--client")
        .arg(format!("{CLIENT}:{SECRET}"))
        .arg("--state")
        .arg(state)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()?;
    let stdout = child.stdout.take().expect("piped stdout");
    let mut line = String::new();
    BufReader::new(stdout).read_line(&mut line)?;
    let base = line
        .trim()
        .strip_prefix("listening on ")
        .ok_or_else(|| anyhow::anyhow!("unexpected emulator output: {line:?}"))?
        .to_string();
    Ok(Emulator { child, base })
}

struct Run {
    label: String,
    exit: i32,
    wall: Duration,
    max_rss_kib: i64,
    http: u64,
    graph: u64,
    changes: usize,
}

fn stats(rt: &tokio::runtime::Runtime, base: &str) -> Stats {
    rt.block_on(async {
        // The bench's own counter query; over https the emulator's throw-away
        // certificate is the one roster verifies through `tls.ca_file`.
        reqwest::Client::builder()
            .danger_accept_invalid_certs(true)
            .build()
            .expect("client")
            .get(format!("{base}/_emulator/stats"))
            .send()
            .await
            .expect("stats")
            .json()
            .await
            .expect("stats json")
    })
}

/// Runs roster as a child and measures it (peak RSS through wait4's rusage).
fn run_roster(
    rt: &tokio::runtime::Runtime,
    emu: &Emulator,
    label: &str,
    repo: &Path,
    args: &[&str],
) -> anyhow::Result<Run> {
    run_roster_bin(
        rt,
        emu,
        label,
        repo,
        args,
        Path::new(env!("CARGO_BIN_EXE_roster")),
    )
}

/// [`run_roster`] with another roster binary (`ROSTER_BENCH_BASELINE`).
fn run_roster_bin(
    rt: &tokio::runtime::Runtime,
    emu: &Emulator,
    label: &str,
    repo: &Path,
    args: &[&str],
    bin: &Path,
) -> anyhow::Result<Run> {
    let m = run_measured(rt, emu, label, bin.as_os_str(), |c| {
        c.arg("-C")
            .arg(repo)
            .args(["--quiet", "--color", "never"])
            .args(args)
            .env("ROSTER_BENCH_SECRET", SECRET)
            .env_remove("ROSTER_NO_CACHE")
    })?;
    // 1: roster failed; exit 2 (drift found) is a result.
    if m.run.exit == 1 {
        anyhow::bail!("{label}: roster exited 1: {}", m.stderr);
    }
    let changes = serde_json::from_str::<Value>(&m.stdout)
        .ok()
        .and_then(|v| v.get("changes").and_then(Value::as_array).map(Vec::len))
        .unwrap_or(0);
    Ok(Run { changes, ..m.run })
}

/// A program's run through the measuring process, and what it printed.
struct Measured {
    run: Run,
    stdout: String,
    stderr: String,
}

/// Runs `program` (its arguments and environment from `setup`) through a fresh copy of
/// this bench (see `measure_child`): a program spawned from this process directly would
/// report this process's high-water mark as its own peak RSS. Counts the emulator's
/// requests around it. Fails when the program died of a signal or the measuring
/// process failed; any exit code is the caller's to judge.
fn run_measured(
    rt: &tokio::runtime::Runtime,
    emu: &Emulator,
    label: &str,
    program: &std::ffi::OsStr,
    setup: impl FnOnce(&mut Command) -> &mut Command,
) -> anyhow::Result<Measured> {
    let before = stats(rt, &emu.base);
    let rusage_file = tempfile::NamedTempFile::new()?;
    let mut cmd = Command::new(std::env::current_exe()?);
    cmd.env(MEASURE_ENV, rusage_file.path()).arg(program);
    setup(&mut cmd);
    let t0 = Instant::now();
    let out = cmd.output()?;
    let wall = t0.elapsed();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    // 255: the program died of a signal, or the measuring process failed.
    let exit = match out.status.code() {
        Some(code) if code != 255 => code,
        _ => anyhow::bail!(
            "{label}: {} did not finish: {stderr}",
            program.to_string_lossy()
        ),
    };
    let max_rss_kib: i64 = std::fs::read_to_string(rusage_file.path())?
        .trim()
        .parse()
        .map_err(|e| anyhow::anyhow!("{label}: no peak RSS from the measuring process: {e}"))?;
    let after = stats(rt, &emu.base);
    Ok(Measured {
        run: Run {
            label: label.to_string(),
            exit,
            wall,
            max_rss_kib,
            http: after.http_requests - before.http_requests,
            graph: after.requests - before.requests,
            changes: 0,
        },
        stdout,
        stderr,
    })
}

/// Makes `n` out-of-band changes through Graph (numbered from `first`, so that
/// successive calls never repeat a member add), 20 per `$batch`: job title updates of
/// users and member adds, half each.
fn change_tenant(
    rt: &tokio::runtime::Runtime,
    base: &str,
    users: &[Uuid],
    groups: &[Uuid],
    first: usize,
    n: usize,
) -> anyhow::Result<()> {
    rt.block_on(async {
        let http = reqwest::Client::new();
        let token = graph_token::client_credentials(&http, base, "contoso", CLIENT, SECRET).await?;
        let mut ops = Vec::new();
        for k in first..first + n {
            if k % 2 == 0 {
                ops.push(json!({
                    "id": k.to_string(), "method": "PATCH",
                    "url": format!("/users/{}", users[(k * 997) % users.len()]),
                    "headers": {"Content-Type": "application/json"},
                    "body": {"jobTitle": format!("Changed {k}")}
                }));
            } else {
                // A user that is not yet a member (member indexes step by 7 from g*per_group).
                let g = (k * 13) % groups.len();
                let u = users[(g * 50 + 3) % users.len()];
                ops.push(json!({
                    "id": k.to_string(), "method": "POST",
                    "url": format!("/groups/{}/members/$ref", groups[g]),
                    "headers": {"Content-Type": "application/json"},
                    "body": {"@odata.id": format!("{base}/v1.0/directoryObjects/{u}")}
                }));
            }
        }
        for chunk in ops.chunks(20) {
            let r: Value = http
                .post(format!("{base}/v1.0/$batch"))
                .bearer_auth(&token)
                .json(&json!({ "requests": chunk }))
                .send()
                .await?
                .json()
                .await?;
            for resp in r["responses"].as_array().into_iter().flatten() {
                let status = resp["status"].as_u64().unwrap_or(0);
                anyhow::ensure!((200..300).contains(&status), "change failed: {resp}");
            }
        }
        Ok(())
    })
}

fn print_row(r: &Run) {
    println!(
        "| {} | {} | {} | {:.2} s | {:.0} MiB | {} | {} |",
        r.label,
        r.exit,
        r.changes,
        r.wall.as_secs_f64(),
        r.max_rss_kib as f64 / 1024.0,
        r.http,
        r.graph
    );
}

fn print_runs(runs: &[Run]) {
    println!();
    println!(
        "| run | exit | changes | wall | peak RSS of roster | HTTP requests | Graph requests |"
    );
    println!("|---|---|---|---|---|---|---|");
    for r in runs {
        print_row(r);
    }
}

/// The peer: Microsoft's JavaScript Graph client reading the tenant as an admin's
/// script would (`tests/js/bench-read.mjs`: users and groups through the page
/// iterator, member listings as `$batch`es of 20, 4 in flight), through the measuring
/// process like roster. The SDK authenticates https endpoints only, so it runs against
/// the https emulator, trusting its CA. `None` when Node.js or the test script's
/// `node_modules` (`scripts/test.sh` installs them) are not there.
fn run_sdk_script(
    rt: &tokio::runtime::Runtime,
    emu: &Emulator,
    ca: &Path,
    label: &str,
) -> anyhow::Result<Option<Run>> {
    let js = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/js");
    let node_ok = Command::new("node")
        .arg("--version")
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !node_ok
        || !js
            .join("node_modules/@microsoft/microsoft-graph-client")
            .is_dir()
    {
        return Ok(None);
    }
    let m = run_measured(rt, emu, label, "node".as_ref(), |c| {
        c.arg(js.join("bench-read.mjs"))
            .env("NODE_EXTRA_CA_CERTS", ca)
            .env("EMULATOR_BASE", &emu.base)
            .env("EMULATOR_TENANT", "contoso")
            .env("EMULATOR_CLIENT_ID", CLIENT)
            .env("EMULATOR_CLIENT_SECRET", SECRET)
    })?;
    anyhow::ensure!(
        m.run.exit == 0,
        "{label}: the SDK script failed: {}",
        m.stderr
    );
    println!("{label}: {}", m.stdout.trim());
    Ok(Some(m.run))
}

/// What the floor client reads of a page: only where the next one is.
#[derive(serde::Deserialize)]
struct Links {
    #[serde(rename = "@odata.nextLink")]
    next: Option<String>,
}

/// The floor's raw request time: a minimal client issuing exactly the floor's requests
/// to the same emulator — a token, then at once the users listing (999 a page), the
/// groups delta round with members, domains, SKUs and role assignments, each listing
/// following its `@odata.nextLink`s — reading every body but keeping none of it (each
/// page is scanned only for its next link). Roster's own URLs (`$select`s, page size).
/// Returns the wall time and the number of HTTP requests.
fn floor_client(rt: &tokio::runtime::Runtime, base: &str) -> anyhow::Result<(Duration, usize)> {
    use roster::apps::office365::read::{GROUP_SELECT, PAGE, USER_SELECT};
    rt.block_on(async {
        let http = reqwest::Client::new();
        let t0 = Instant::now();
        let token = graph_token::client_credentials(&http, base, "contoso", CLIENT, SECRET).await?;
        let chain = |first: String| {
            let (http, token) = (&http, &token);
            async move {
                let mut url = Some(format!("{base}/v1.0{first}"));
                let mut n = 0usize;
                while let Some(u) = url {
                    let body = http
                        .get(&u)
                        .bearer_auth(token)
                        .send()
                        .await?
                        .error_for_status()?
                        .bytes()
                        .await?;
                    n += 1;
                    url = serde_json::from_slice::<Links>(&body)?.next;
                }
                anyhow::Ok(n)
            }
        };
        let counts = futures::future::try_join_all([
            chain(format!("/users?$select={USER_SELECT}&$top={PAGE}")),
            chain(format!("/groups/delta?$select={GROUP_SELECT},members")),
            chain("/domains?$select=id,isVerified,isInitial,authenticationType".into()),
            chain("/subscribedSkus?$select=skuId,skuPartNumber,prepaidUnits,consumedUnits".into()),
            chain("/roleManagement/directory/roleAssignments?$select=principalId,roleDefinitionId,directoryScopeId&$expand=principal".into()),
        ])
        .await?;
        Ok((t0.elapsed(), 1 + counts.iter().sum::<usize>()))
    })
}

/// The rounds of [`floor_client`] against roster's full plan, and their ratio.
fn print_floor(rounds: &[(Duration, usize, Run)]) {
    println!();
    println!(
        "| round | floor client: wall | its HTTP requests | roster plan --no-cache: wall | its HTTP requests | ratio |"
    );
    println!("|---|---|---|---|---|---|");
    for (k, (t, n, r)) in rounds.iter().enumerate() {
        println!(
            "| {} | {:.2} s | {n} | {:.2} s | {} | {:.2} x |",
            k + 1,
            t.as_secs_f64(),
            r.wall.as_secs_f64(),
            r.http,
            r.wall.as_secs_f64() / t.as_secs_f64()
        );
    }
    let best_floor = rounds
        .iter()
        .map(|(t, ..)| t.as_secs_f64())
        .fold(f64::MAX, f64::min);
    let best_roster = rounds
        .iter()
        .map(|(.., r)| r.wall.as_secs_f64())
        .fold(f64::MAX, f64::min);
    println!(
        "full plan: best {best_roster:.2} s = {:.2} x the floor's raw request time (best {best_floor:.2} s: the same emulator answering just the floor's requests to a minimal client)",
        best_roster / best_floor
    );
}

/// Set (to a file path) in the environment of a copy of this bench that runs one
/// roster command and writes roster's peak RSS in KiB to that file.
const MEASURE_ENV: &str = "ROSTER_BENCH_MEASURE_RUSAGE";

/// The measuring process: runs `argv[1..]` with this process's stdio, waits for it with
/// `wait4`, writes its `ru_maxrss` to the file `MEASURE_ENV` names, and exits with its
/// code. A child's `ru_maxrss` starts from the high-water mark of the address space it
/// was spawned from (Linux folds the old memory's peak in at `exec`), so roster must be
/// spawned by a process that holds next to nothing — this one, freshly executed —
/// not by the bench, which holds the generated tenant.
fn measure_child(rusage_file: &std::ffi::OsStr) -> ! {
    let mut args = std::env::args_os().skip(1);
    let code = (|| -> anyhow::Result<i32> {
        let bin = args.next().ok_or_else(|| anyhow::anyhow!("no command"))?;
        let child = Command::new(bin)
            .args(args)
            .env_remove(MEASURE_ENV)
            .spawn()?;
        let pid = child.id() as libc::pid_t;
        let mut status: libc::c_int = 0;
        // SAFETY: an all-zero rusage is a valid value; wait4 fills it for our own child.
        let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
        // SAFETY: pid is our child, not yet reaped; the pointers are valid for the call.
        let r = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
        anyhow::ensure!(r == pid, "wait4 failed");
        std::fs::write(rusage_file, usage.ru_maxrss.to_string())?;
        Ok(if libc::WIFEXITED(status) {
            libc::WEXITSTATUS(status)
        } else {
            255
        })
    })()
    .unwrap_or_else(|e| {
        eprintln!("measuring process: {e:#}");
        255
    });
    std::process::exit(code)
}

fn main() -> anyhow::Result<()> {
    if let Some(f) = std::env::var_os(MEASURE_ENV) {
        measure_child(&f);
    }
    let s = Sizes {
        users: env_usize("ROSTER_BENCH_USERS", 100_000),
        groups: env_usize("ROSTER_BENCH_GROUPS", 20_000).max(1),
        per_group: env_usize("ROSTER_BENCH_PER_GROUP", 50),
    };
    let n_changes = env_usize("ROSTER_BENCH_CHANGES", 100);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    // ROSTER_BENCH_DIR keeps the generated repository and tenant for a closer look.
    let tmp = tempfile::tempdir()?;
    let dir: PathBuf = std::env::var_os("ROSTER_BENCH_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| tmp.path().to_path_buf());
    std::fs::create_dir_all(&dir)?;
    let repo: PathBuf = dir.join("repo");
    let state = dir.join("tenant.json");

    let t0 = Instant::now();
    let (t, user_ids, group_ids) = tenant(&s);
    std::fs::write(&state, t.to_json_bytes()?)?;
    drop(t);
    repository(&s, &repo)?;
    println!(
        "reference tenant: {} users, {} groups, {} memberships; generated in {:.1} s",
        s.users,
        s.groups,
        s.groups * s.per_group,
        t0.elapsed().as_secs_f64()
    );

    // A second copy of the tenant, for the unsaved apply the saved pipeline compares with.
    let state_b = dir.join("tenant-b.json");
    // And one the same tenant is served from over HTTPS.
    let state_tls = dir.join("tenant-tls.json");
    let apply_changes = env_usize("ROSTER_BENCH_APPLY_CHANGES", 10_000);
    let reads_only = std::env::var_os("ROSTER_BENCH_READS_ONLY").is_some_and(|v| v == "1");
    if !reads_only {
        std::fs::copy(&state, &state_b)?;
        std::fs::copy(&state, &state_tls)?;
    }

    let t0 = Instant::now();
    let emu = start_emulator(&state)?;
    println!(
        "emulator ready in {:.1} s at {}",
        t0.elapsed().as_secs_f64(),
        emu.base
    );
    apps_yaml(&repo, &emu.base)?;

    let mut runs = Vec::new();
    runs.push(run_roster(
        &rt,
        &emu,
        "validate (the desired state alone, no live read)",
        &repo,
        &["validate"],
    )?);
    runs.push(run_roster(
        &rt,
        &emu,
        "plan, full read (--no-cache)",
        &repo,
        &["--no-cache", "plan", "--format", "json"],
    )?);
    // The floor's raw request time against roster's full plan, alternated on the same
    // emulator: (floor time, floor requests, roster run) per round.
    let mut floor_rounds = Vec::new();
    for round in 1..=env_usize("ROSTER_BENCH_FLOOR_ROUNDS", 3) {
        let (t, n) = floor_client(&rt, &emu.base)?;
        let r = run_roster(
            &rt,
            &emu,
            &format!("plan, full read (--no-cache), against the floor, round {round}"),
            &repo,
            &["--no-cache", "plan", "--format", "json"],
        )?;
        floor_rounds.push((t, n, r));
    }
    let mut http_tls = Vec::new();
    if !reads_only {
        // The same full plan over HTTPS (HTTP/2 over TLS, a throw-away CA the app trusts
        // through `tls.ca_file`), alternated with HTTP so that both see the same machine.
        let certs = tls::TestCerts::for_names(&["IP:127.0.0.1", "DNS:localhost"]);
        let emu_tls = start_emulator_tls(&state_tls, Some((&certs.cert, &certs.key)))?;
        let repo_tls = dir.join("repo-tls");
        copy_dir(&repo, &repo_tls)?;
        std::fs::copy(&certs.ca, repo_tls.join("ca.pem"))?;
        apps_yaml_tls(&repo_tls, &emu_tls.base, "    tls: { ca_file: ca.pem }\n")?;
        let plan_args = ["--no-cache", "plan", "--format", "json"];
        for round in 1..=2 {
            http_tls.push(run_roster(
                &rt,
                &emu_tls,
                &format!("plan, full read (--no-cache) over https, round {round}"),
                &repo_tls,
                &plan_args,
            )?);
            http_tls.push(run_roster(
                &rt,
                &emu,
                &format!("plan, full read (--no-cache) over http, round {round}"),
                &repo,
                &plan_args,
            )?);
        }
        for round in 1..=2 {
            match run_sdk_script(
                &rt,
                &emu_tls,
                &certs.ca,
                &format!(
                    "JavaScript Graph SDK script over https, reads only ($batch of 20, 4 in flight), round {round}"
                ),
            )? {
                Some(r) => http_tls.push(r),
                None => {
                    println!(
                        "JavaScript Graph SDK script: skipped (no node, or no tests/js/node_modules)"
                    );
                    break;
                }
            }
        }
        drop(emu_tls);
        let _ = std::fs::remove_dir_all(&repo_tls);
    }
    runs.push(run_roster(
        &rt,
        &emu,
        "plan, first with cache (full read + snapshot)",
        &repo,
        &["plan", "--format", "json"],
    )?);
    change_tenant(&rt, &emu.base, &user_ids, &group_ids, 0, n_changes)?;
    runs.push(run_roster(
        &rt,
        &emu,
        &format!("drift after {n_changes} changes (incremental)"),
        &repo,
        &["drift", "--format", "json"],
    )?);
    runs.push(run_roster(
        &rt,
        &emu,
        "drift, nothing changed since (incremental)",
        &repo,
        &["drift", "--format", "json"],
    )?);

    if let Some(base) = std::env::var_os("ROSTER_BENCH_BASELINE").map(PathBuf::from) {
        let this = PathBuf::from(env!("CARGO_BIN_EXE_roster"));
        for round in 1..=3 {
            for (who, bin) in [("baseline", &base), ("this build", &this)] {
                runs.push(run_roster_bin(
                    &rt,
                    &emu,
                    &format!("plan --no-cache, {who}, round {round}"),
                    &repo,
                    &["--no-cache", "plan", "--format", "json"],
                    bin,
                )?);
            }
        }
        for round in 1..=2 {
            for (who, bin) in [("baseline", &base), ("this build", &this)] {
                runs.push(run_roster_bin(
                    &rt,
                    &emu,
                    &format!("drift, nothing changed, {who}, round {round}"),
                    &repo,
                    &["drift", "--format", "json"],
                    bin,
                )?);
            }
        }
    }
    println!(
        "emulator peak RSS after the reads: {:.0} MiB",
        emulator_peak_mib(&emu)
    );
    if reads_only {
        print_runs(&runs);
        print_floor(&floor_rounds);
        return Ok(());
    }
    // The saved-plan pipeline: the same out-of-band changes on both copies.
    change_tenant(
        &rt,
        &emu.base,
        &user_ids,
        &group_ids,
        n_changes,
        apply_changes,
    )?;
    let plan_file = dir.join("saved-plan.json");
    let plan_file_arg = plan_file.to_string_lossy().into_owned();
    runs.push(run_roster(
        &rt,
        &emu,
        &format!("plan --out, {apply_changes} out-of-band changes to revert"),
        &repo,
        &[
            "--no-cache",
            "plan",
            "--format",
            "json",
            "--out",
            &plan_file_arg,
        ],
    )?);
    let saved_apply = runs.len();
    runs.push(run_roster(
        &rt,
        &emu,
        "apply PLANFILE (verified)",
        &repo,
        &["--no-cache", "apply", &plan_file_arg],
    )?);
    drop(emu);
    let emu_b = start_emulator(&state_b)?;
    let repo_b = dir.join("repo-b");
    copy_dir(&repo, &repo_b)?;
    let _ = std::fs::remove_dir_all(repo_b.join(".roster"));
    apps_yaml(&repo_b, &emu_b.base)?;
    change_tenant(&rt, &emu_b.base, &user_ids, &group_ids, 0, n_changes)?;
    change_tenant(
        &rt,
        &emu_b.base,
        &user_ids,
        &group_ids,
        n_changes,
        apply_changes,
    )?;
    let unsaved_apply = runs.len();
    runs.push(run_roster(
        &rt,
        &emu_b,
        "apply --auto-approve (unsaved), same changes on the copy",
        &repo_b,
        &["--no-cache", "apply", "--auto-approve"],
    )?);

    print_runs(&runs);
    for r in &http_tls {
        print_row(r);
    }
    print_floor(&floor_rounds);
    let mean =
        |rs: Vec<&Run>| rs.iter().map(|r| r.wall.as_secs_f64()).sum::<f64>() / rs.len() as f64;
    // The first four: https and http plans alternated; then the SDK script's rounds.
    let https = mean(http_tls.iter().take(4).step_by(2).collect());
    let http = mean(http_tls.iter().take(4).skip(1).step_by(2).collect());
    println!();
    println!(
        "full plan over https: {https:.2} s = {:.3} x the same plan over http ({http:.2} s), mean of 2 alternated rounds each",
        https / http
    );
    let best = |rs: Vec<&Run>| {
        rs.iter()
            .map(|r| r.wall.as_secs_f64())
            .fold(f64::MAX, f64::min)
    };
    if http_tls.len() > 4 {
        let sdk = best(http_tls.iter().skip(4).collect());
        let roster_https = best(http_tls.iter().take(4).step_by(2).collect());
        println!(
            "roster's full plan over https (load, read, plan; best {roster_https:.2} s) = {:.2} x the JavaScript Graph SDK script reading the same tenant from the same emulator (reads only; best {sdk:.2} s)",
            roster_https / sdk
        );
    }
    let pages = |n: usize, per: usize| n.div_ceil(per);
    // Domains, SKUs and the privileged role assignments: one request each.
    let batch_floor = pages(s.users, 999) + pages(s.groups, 999) + pages(s.groups, 20) + 3;
    let delta_floor = pages(s.users, 999) + pages(s.groups, 50) + 3;
    println!();
    println!(
        "read floors for the emulator's page sizes: users at 999 per page ({}), domains + SKUs + role assignments (3), and members either as $batch listings of 20 groups after listing groups at 999 ({} + {}) = {batch_floor}, or a groups delta round with members at 50 groups per page ({}) = {delta_floor}",
        pages(s.users, 999),
        pages(s.groups, 999),
        pages(s.groups, 20),
        pages(s.groups, 50),
    );
    let floor = batch_floor.min(delta_floor) as f64;
    println!(
        "full plan: {} HTTP requests = {:.2} x the lower floor ({floor})",
        runs[1].http,
        runs[1].http as f64 / floor
    );
    let extra = runs[saved_apply].wall.as_secs_f64() - runs[unsaved_apply].wall.as_secs_f64();
    let plan = runs[1].wall.as_secs_f64();
    println!(
        "apply PLANFILE takes {extra:.2} s longer than the unsaved apply = {:.2} x the time of one plan ({plan:.2} s); its extra HTTP requests: {}",
        extra / plan,
        runs[saved_apply].http as i64 - runs[unsaved_apply].http as i64
    );
    Ok(())
}
