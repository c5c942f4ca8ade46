//! Benchmark: the active_directory connector's full read against `ldapsearch` with
//! paging dumping the same entries, on a Samba AD DC holding 10,000 users, 2,000
//! groups and 100,000 memberships (SPEC §7: within 1.5× of ldapsearch); then an
//! incremental read from the snapshot after 100 out-of-band changes, against a full one.
//! The full read is timed without a scope, with a policy-bound scope naming every group
//! (issue 19: within 1.2× of ldapsearch) and with a scope of a few groups.
//!
//! Runs its own DC on 127.0.0.2 (`/var/tmp/roster-samba-bench`), populated once over
//! LDAP (several minutes) and reused while it runs. Sizes can be lowered with
//! ROSTER_BENCH_USERS / ROSTER_BENCH_GROUPS / ROSTER_BENCH_MEMBERS_PER_GROUP.
//!
//!     cargo bench --bench ad_read

use std::collections::HashSet;
use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use ldap3::{Ldap, LdapConnAsync, LdapConnSettings, Scope, SearchEntry};
use roster::apps::active_directory::ActiveDirectoryConnector;
use roster::apps::active_directory::incremental::ReadKind;
use roster::apps::active_directory::read::{GROUP_FILTER, INLINE_MEMBERS_FROM, USER_FILTER};
use roster::apps::{ConnectContext, ReadScope};
use roster::desired::{ActiveDirectoryApp, SecretRef, Switches, TlsSettings};
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;

const ROOT: &str = "/var/tmp/roster-samba-bench";
const IP: &str = "127.0.0.2";
const RUNS: usize = 3;

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

struct Dc {
    url: String,
    ca: String,
    bind_dn: String,
    password: String,
    base_dn: String,
}

fn start_dc() -> Dc {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/samba-dc.sh");
    let status = Command::new(&script)
        .arg("install")
        .status()
        .expect("samba-dc.sh install");
    assert!(status.success(), "samba-dc.sh install failed");
    let out = Command::new(&script)
        .arg("start")
        .env("ROSTER_SAMBA_ROOT", ROOT)
        .env("ROSTER_SAMBA_IP", IP)
        .output()
        .expect("samba-dc.sh start");
    assert!(
        out.status.success(),
        "samba-dc.sh start failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let get = |k: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(&format!("{k}=")))
            .unwrap_or_else(|| panic!("no {k} in {text}"))
            .to_string()
    };
    Dc {
        url: get("ROSTER_TEST_AD_URL"),
        ca: get("ROSTER_TEST_AD_CA"),
        bind_dn: get("ROSTER_TEST_AD_BIND_DN"),
        password: get("ROSTER_TEST_AD_PASSWORD"),
        base_dn: get("ROSTER_TEST_AD_BASE_DN"),
    }
}

async fn raw(dc: &Dc) -> Ldap {
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(&dc.ca).expect("CA") {
        roots.add(cert.expect("CA PEM")).expect("add CA");
    }
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("tls")
        .with_root_certificates(roots)
        .with_no_client_auth();
    let settings = LdapConnSettings::new().set_config(Arc::new(config));
    let (conn, mut ldap) = LdapConnAsync::with_settings(settings, &dc.url)
        .await
        .expect("connect");
    ldap3::drive!(conn);
    ldap.simple_bind(&dc.bind_dn, &dc.password)
        .await
        .expect("bind")
        .success()
        .expect("bind result");
    ldap
}

async fn add(ldap: &mut Ldap, dn: &str, attrs: Vec<(&str, Vec<String>)>) {
    let attrs: Vec<(String, HashSet<String>)> = attrs
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.into_iter().collect()))
        .collect();
    ldap.add(dn, attrs)
        .await
        .expect("add")
        .success()
        .unwrap_or_else(|e| panic!("add {dn}: {e}"));
}

fn s(v: &str) -> Vec<String> {
    vec![v.to_string()]
}

async fn populate(dc: &Dc, ou: &str, users: usize, groups: usize, per_group: usize) {
    let mut ldap = raw(dc).await;
    let marker = format!("users={users} groups={groups} members_per_group={per_group}");
    let existing = ldap
        .search(ou, Scope::Base, "(objectClass=*)", vec!["description"])
        .await
        .expect("search");
    if let Some(e) = existing.0.into_iter().next().map(SearchEntry::construct) {
        if e.attrs.get("description").and_then(|v| v.first()) == Some(&marker) {
            eprintln!("reusing populated {ou} ({marker})");
            return;
        }
        panic!(
            "{ou} exists with other sizes; restart the bench DC: ROSTER_SAMBA_ROOT={ROOT} ROSTER_SAMBA_IP={IP} scripts/samba-dc.sh stop"
        );
    }
    let t = Instant::now();
    let users_ou = format!("OU=Users,{ou}");
    let groups_ou = format!("OU=Groups,{ou}");
    for dn in [ou, &users_ou, &groups_ou] {
        add(
            &mut ldap,
            dn,
            vec![("objectClass", s("organizationalUnit"))],
        )
        .await;
    }
    let user_dns: Vec<String> = (0..users)
        .map(|i| format!("CN=Bench User {i},{users_ou}"))
        .collect();
    futures::stream::iter(0..users)
        .map(|i| {
            let mut ldap = ldap.clone();
            let dn = user_dns[i].clone();
            async move {
                add(
                    &mut ldap,
                    &dn,
                    vec![
                        ("objectClass", vec!["user".into()]),
                        ("sAMAccountName", vec![format!("bench{i}")]),
                        ("userPrincipalName", vec![format!("bench{i}@example.test")]),
                        ("mail", vec![format!("bench{i}@example.test")]),
                        ("givenName", s("Bench")),
                        ("sn", vec![format!("User {i}")]),
                        ("displayName", vec![format!("Bench User {i}")]),
                        ("department", vec![format!("Dept {}", i % 20)]),
                        ("title", s("Tester")),
                        ("employeeID", vec![format!("E{i}")]),
                        ("userAccountControl", s("514")),
                    ],
                )
                .await;
                if i % 1000 == 999 {
                    eprintln!("  {} users", i + 1);
                }
            }
        })
        .buffer_unordered(4)
        .collect::<Vec<()>>()
        .await;
    futures::stream::iter(0..groups)
        .map(|g| {
            let mut ldap = ldap.clone();
            let members: Vec<String> = (0..per_group)
                .map(|k| user_dns[(g * 37 + k * 211) % users].clone())
                .collect();
            let dn = format!("CN=Bench Group {g},{groups_ou}");
            async move {
                let mut attrs = vec![
                    ("objectClass", s("group")),
                    ("sAMAccountName", vec![format!("benchgroup{g}")]),
                    ("groupType", s("-2147483646")),
                    ("description", vec![format!("Group {g}")]),
                ];
                if !members.is_empty() {
                    attrs.push(("member", members));
                }
                add(&mut ldap, &dn, attrs).await;
                if g % 200 == 199 {
                    eprintln!("  {} groups", g + 1);
                }
            }
        })
        .buffer_unordered(4)
        .collect::<Vec<()>>()
        .await;
    ldap.modify(
        ou,
        vec![ldap3::Mod::Replace(
            "description".to_string(),
            [marker.clone()].into(),
        )],
    )
    .await
    .expect("modify")
    .success()
    .expect("mark populated");
    eprintln!("populated {ou} ({marker}) in {:?}", t.elapsed());
}

fn ldapsearch(dc: &Dc, base: &str, filter: &str, attrs: &[&str]) -> Duration {
    let t = Instant::now();
    let out = Command::new("ldapsearch")
        .env("LDAPTLS_CACERT", &dc.ca)
        .args(["-LLL", "-x", "-o", "ldif-wrap=no", "-E", "pr=1000/noprompt"])
        .args(["-H", &dc.url, "-D", &dc.bind_dn, "-w", &dc.password])
        .args(["-b", base, "-s", "sub", filter])
        .args(attrs)
        .stdout(std::process::Stdio::null())
        .status()
        .expect("run ldapsearch");
    assert!(out.success(), "ldapsearch failed");
    t.elapsed()
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        println!("ad_read: benchmark");
        return;
    }
    let users = env_usize("ROSTER_BENCH_USERS", 10_000);
    let groups = env_usize("ROSTER_BENCH_GROUPS", 2_000);
    let per_group = env_usize("ROSTER_BENCH_MEMBERS_PER_GROUP", 50).min(users);
    let dc = start_dc();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let ou = format!("OU=roster-bench,{}", dc.base_dn);
    rt.block_on(populate(&dc, &ou, users, groups, per_group));

    let repo = tempfile::tempdir().expect("tempdir");
    std::fs::write(repo.path().join("bind.pw"), &dc.password).expect("pw");
    let app = ActiveDirectoryApp {
        attribute_map: Default::default(),
        on_create: Default::default(),
        joiner: None,
        leaver: None,
        name: "bench".into(),
        url: dc.url.clone(),
        base_dn: dc.base_dn.clone(),
        users_ou: format!("OU=Users,{ou}"),
        groups_ou: format!("OU=Groups,{ou}"),
        bind_dn: dc.bind_dn.clone(),
        bind_password: SecretRef::File("bind.pw".into()),
        tls: Some(TlsSettings {
            ca_file: Some(dc.ca.clone()),
            server_name: None,
        }),
        starttls: None,
        authorized_domains: None,
        switches: Switches::default(),
        ignore: Vec::new(),
        max_deletes: None,
    };
    let ctx = ConnectContext {
        repo_root: repo.path().to_path_buf(),
        cache_dir: None,
    };

    let user_attrs = [
        "objectGUID",
        "sAMAccountName",
        "userAccountControl",
        "mail",
        "givenName",
        "sn",
        "displayName",
        "department",
        "title",
        "employeeID",
    ];
    let group_attrs = ["objectGUID", "cn", "description", "member;range=0-1499"];
    let ldapsearch_time = || {
        ldapsearch(&dc, &app.users_ou, USER_FILTER, &user_attrs)
            + ldapsearch(&dc, &app.groups_ou, GROUP_FILTER, &group_attrs)
    };
    let scope_of = |names: &mut dyn Iterator<Item = usize>| ReadScope {
        member_groups: Some(names.map(|g| format!("Bench Group {g}")).collect()),
        ..ReadScope::default()
    };
    // No scope; a policy-bound scope naming every group (members within the paged
    // search); a scope of a few groups (per-group lookups, 8 in flight).
    let few = (groups / 50).clamp(1, INLINE_MEMBERS_FROM - 1);
    let cases = [
        ("no scope", ReadScope::default(), groups, "target <= 1.5"),
        (
            "scope of every group",
            scope_of(&mut (0..groups)),
            groups,
            "target <= 1.2",
        ),
        (
            "scope of a few groups",
            scope_of(&mut (0..groups).step_by(groups.div_ceil(few).max(1))),
            groups.div_ceil(groups.div_ceil(few).max(1)),
            "for information",
        ),
    ];
    for (label, scope, with_members, target) in &cases {
        let mut roster_times = Vec::new();
        let mut ldapsearch_times = Vec::new();
        for run in 0..RUNS {
            let t = Instant::now();
            let observed = rt.block_on(async {
                let conn = ActiveDirectoryConnector::connect(&app, &ctx)
                    .await
                    .expect("connect");
                let observed = conn.read(scope).await.expect("read");
                conn.close().await.expect("close");
                observed
            });
            let roster_time = t.elapsed();
            let memberships: usize = observed.groups.iter().map(|g| g.member_ids.len()).sum();
            assert_eq!(observed.users.len(), users);
            assert_eq!(observed.groups.len(), groups);
            assert_eq!(memberships, with_members * per_group, "{label}");
            let ls = ldapsearch_time();
            println!(
                "{label}, run {}: roster read {:.3} s, ldapsearch -E pr=1000 {:.3} s ({} users, {} groups, {} memberships)",
                run + 1,
                roster_time.as_secs_f64(),
                ls.as_secs_f64(),
                observed.users.len(),
                observed.groups.len(),
                memberships
            );
            roster_times.push(roster_time);
            ldapsearch_times.push(ls);
        }
        let best = |v: &[Duration]| v.iter().min().copied().unwrap_or_default();
        let (r, l) = (best(&roster_times), best(&ldapsearch_times));
        println!(
            "ad_read {label}, best of {RUNS}: roster {:.3} s, ldapsearch {:.3} s, ratio {:.2} ({target})",
            r.as_secs_f64(),
            l.as_secs_f64(),
            r.as_secs_f64() / l.as_secs_f64().max(1e-9)
        );
    }
    rt.block_on(incremental_figure(&dc, &app, repo.path(), users, groups));
}

/// A full read that writes the snapshot, 100 changes (90 users' titles, 10 groups'
/// descriptions: the sizes stay what `populate` checks), then an incremental read,
/// checked against a full read without cache.
async fn incremental_figure(
    dc: &Dc,
    app: &ActiveDirectoryApp,
    repo: &Path,
    users: usize,
    groups: usize,
) {
    let cached = ConnectContext {
        repo_root: repo.to_path_buf(),
        cache_dir: Some(repo.join(".roster/cache")),
    };
    let read = |ctx: ConnectContext| async move {
        let t = Instant::now();
        let conn = ActiveDirectoryConnector::connect(app, &ctx)
            .await
            .expect("connect");
        let out = conn
            .read_reporting(&ReadScope::default())
            .await
            .expect("read");
        conn.close().await.expect("close");
        (out, t.elapsed())
    };
    let ((_, kind), full_time) = read(cached.clone()).await;
    assert!(matches!(kind, ReadKind::Full(_)), "{kind:?}");
    let mut ldap = raw(dc).await;
    let stamp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_millis()
        .to_string();
    for i in 0..90 {
        let dn = format!("CN=Bench User {},{}", (i * 97) % users, app.users_ou);
        let value = format!("Tester {stamp}");
        ldap.modify(
            &dn,
            vec![ldap3::Mod::Replace("title", [value.as_str()].into())],
        )
        .await
        .expect("modify")
        .success()
        .expect("modify user");
    }
    for g in 0..10 {
        let dn = format!("CN=Bench Group {},{}", (g * 13) % groups, app.groups_ou);
        let value = format!("Group {stamp}");
        ldap.modify(
            &dn,
            vec![ldap3::Mod::Replace("description", [value.as_str()].into())],
        )
        .await
        .expect("modify")
        .success()
        .expect("modify group");
    }
    let ((incremental, kind), inc_time) = read(cached).await;
    let uncached = ConnectContext {
        repo_root: repo.to_path_buf(),
        cache_dir: None,
    };
    let ((full, _), _) = read(uncached).await;
    assert_eq!(
        incremental, full,
        "the incremental read differs from a full one"
    );
    let ReadKind::Incremental {
        entries, scanned, ..
    } = kind
    else {
        panic!("expected an incremental read, got {kind:?}");
    };
    println!(
        "ad_read incremental after 100 changes: {:.3} s, {entries} entries ({scanned} from the change scan); full read writing the snapshot {:.3} s, {} entries",
        inc_time.as_secs_f64(),
        full_time.as_secs_f64(),
        full.users.len() + full.groups.len()
    );
}
