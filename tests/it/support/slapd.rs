//! Test support for the ldap tests: makes sure a throwaway OpenLDAP slapd runs (by
//! calling `scripts/slapd.sh install` and `start DIR --owner PID`, once per test
//! binary; slapd stops when the test binary exits), gives each test its own subtree,
//! and reads and writes the directory with the OpenLDAP command-line tools
//! (`ldapsearch`, `ldapmodify`, `ldapwhoami`), independently of roster's reader.
//!
//! As for the Samba DC: the install runs and must succeed, so on a machine where
//! `scripts/test.sh` installed slapd the tests fail rather than skip.
#![allow(dead_code)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;

/// What `scripts/slapd.sh start` printed.
#[derive(Debug, Clone)]
pub struct Slapd {
    /// ldap:// (StartTLS).
    pub url: String,
    pub ldaps_url: String,
    pub ca: String,
    pub bind_dn: String,
    pub password: String,
    pub base_dn: String,
}

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/slapd.sh")
}

/// Start slapd once per test binary; panics with the script's output when that fails.
pub fn slapd() -> &'static Slapd {
    static SLAPD: OnceLock<Slapd> = OnceLock::new();
    SLAPD.get_or_init(|| {
        let install = Command::new(script())
            .arg("install")
            .output()
            .expect("run slapd.sh");
        assert!(
            install.status.success(),
            "slapd.sh install failed: {}",
            String::from_utf8_lossy(&install.stderr)
        );
        // A start can fail on a loaded machine (a port taken between the probe and the
        // bind, a slow first answer); the script retries ports, this retries the whole
        // start once more, and a failure shows everything the script said.
        let mut failures = String::new();
        let mut started = None;
        for attempt in 0..2 {
            let dir =
                std::env::temp_dir().join(format!("roster-slapd-{}-{attempt}", std::process::id()));
            let _ = std::fs::remove_dir_all(&dir);
            let out = Command::new(script())
                .arg("start")
                .arg(&dir)
                .arg("--owner")
                .arg(std::process::id().to_string())
                .stdin(Stdio::null())
                .output()
                .expect("run slapd.sh");
            if out.status.success() {
                started = Some(out);
                break;
            }
            failures.push_str(&format!(
                "attempt {}: {}\nstdout: {}\nstderr: {}\n",
                attempt + 1,
                out.status,
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ));
            let _ = Command::new(script()).arg("stop").arg(&dir).output();
            let _ = std::fs::remove_dir_all(&dir);
        }
        let out = started.unwrap_or_else(|| panic!("slapd.sh start failed:\n{failures}"));
        let text = String::from_utf8_lossy(&out.stdout).to_string();
        let get = |k: &str| {
            text.lines()
                .find_map(|l| l.strip_prefix(&format!("{k}=")))
                .unwrap_or_else(|| panic!("slapd.sh start did not print {k}: {text}"))
                .to_string()
        };
        Slapd {
            url: get("ROSTER_TEST_LDAP_URL"),
            ldaps_url: get("ROSTER_TEST_LDAPS_URL"),
            ca: get("ROSTER_TEST_LDAP_CA"),
            bind_dn: get("ROSTER_TEST_LDAP_BIND_DN"),
            password: get("ROSTER_TEST_LDAP_PASSWORD"),
            base_dn: get("ROSTER_TEST_LDAP_BASE_DN"),
        }
    })
}

/// One test's subtree: `ou=t-N,<base>` with `ou=people` and `ou=groups` under it.
pub struct Tree {
    pub root: String,
    pub people: String,
    pub groups: String,
}

impl Tree {
    pub fn new() -> Tree {
        use std::sync::atomic::{AtomicUsize, Ordering};
        static N: AtomicUsize = AtomicUsize::new(0);
        let s = slapd();
        let root = format!(
            "ou=t-{}-{},{}",
            std::process::id(),
            N.fetch_add(1, Ordering::SeqCst),
            s.base_dn
        );
        let people = format!("ou=people,{root}");
        let groups = format!("ou=groups,{root}");
        let t = root.split(',').next().unwrap().trim_start_matches("ou=");
        ldapmodify(&format!(
            "dn: {root}\nchangetype: add\nobjectClass: organizationalUnit\nou: {t}\n\n\
             dn: {people}\nchangetype: add\nobjectClass: organizationalUnit\nou: people\n\n\
             dn: {groups}\nchangetype: add\nobjectClass: organizationalUnit\nou: groups\n"
        ));
        Tree {
            root,
            people,
            groups,
        }
    }
}

fn tool(name: &str) -> Command {
    let s = slapd();
    let mut c = Command::new(name);
    c.env("LDAPTLS_CACERT", &s.ca)
        .env("LDAPTLS_REQCERT", "demand");
    c
}

/// `ldapmodify` as the admin over StartTLS; panics with its output on failure.
pub fn ldapmodify(ldif: &str) {
    let s = slapd();
    let mut child = tool("ldapmodify")
        .args([
            "-x",
            "-ZZ",
            "-H",
            &s.url,
            "-D",
            &s.bind_dn,
            "-w",
            &s.password,
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run ldapmodify (ldap-utils)");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(ldif.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "ldapmodify failed: {}\n{ldif}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `ldapsearch` as the admin over ldaps://: the entries as (dn, [(attr, value)]),
/// base64 values decoded.
pub fn ldapsearch(
    base: &str,
    filter: &str,
    attrs: &[&str],
) -> Vec<(String, Vec<(String, String)>)> {
    let s = slapd();
    let out = tool("ldapsearch")
        .args([
            "-x",
            "-LLL",
            "-o",
            "ldif-wrap=no",
            "-H",
            &s.ldaps_url,
            "-D",
            &s.bind_dn,
            "-w",
            &s.password,
            "-b",
            base,
            filter,
        ])
        .args(attrs)
        .output()
        .expect("run ldapsearch (ldap-utils)");
    assert!(
        out.status.success() || out.status.code() == Some(32),
        "ldapsearch failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    parse_ldif(&String::from_utf8_lossy(&out.stdout))
}

fn parse_ldif(text: &str) -> Vec<(String, Vec<(String, String)>)> {
    use base64::Engine as _;
    let mut out = Vec::new();
    for block in text.split("\n\n") {
        let mut dn = None;
        let mut attrs = Vec::new();
        for line in block
            .lines()
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
        {
            let (k, v) = match line.split_once(":: ") {
                Some((k, v)) => (
                    k,
                    String::from_utf8(base64::engine::general_purpose::STANDARD.decode(v).unwrap())
                        .unwrap(),
                ),
                None => match line.split_once(':') {
                    Some((k, v)) => (k, v.trim_start().to_string()),
                    None => continue,
                },
            };
            if k == "dn" {
                dn = Some(v);
            } else {
                attrs.push((k.to_string(), v));
            }
        }
        if let Some(dn) = dn {
            out.push((dn, attrs));
        }
    }
    out
}

/// The values of `attr` in one entry of [`ldapsearch`]'s result.
pub fn values(entry: &(String, Vec<(String, String)>), attr: &str) -> Vec<String> {
    entry
        .1
        .iter()
        .filter(|(k, _)| k.eq_ignore_ascii_case(attr))
        .map(|(_, v)| v.clone())
        .collect()
}

/// `ldapwhoami` as `dn` with `password` over StartTLS: whether the bind succeeded.
pub fn can_bind(dn: &str, password: &str) -> bool {
    let s = slapd();
    tool("ldapwhoami")
        .args(["-x", "-ZZ", "-H", &s.url, "-D", dn, "-w", password])
        .output()
        .expect("run ldapwhoami (ldap-utils)")
        .status
        .success()
}

/// An ldap app over StartTLS for `tree`, with `extra` YAML lines (4-space indented).
pub fn ldap_app(tree: &Tree, extra: &str) -> String {
    let s = slapd();
    format!(
        "apps:\n  - name: dir\n    type: ldap\n    url: {}\n    base_dn: {}\n    users_ou: {}\n    groups_ou: {}\n    bind_dn: {}\n    bind_password: {{ env: ROSTER_TEST_LDAP_BIND }}\n    tls: {{ ca_file: '{}' }}\n{extra}",
        s.url, s.base_dn, tree.people, tree.groups, s.bind_dn, s.ca
    )
}

/// The environment of a roster run against the test slapd.
pub fn env() -> Vec<(&'static str, &'static str)> {
    let pw: &'static str = Box::leak(slapd().password.clone().into_boxed_str());
    vec![
        ("ROSTER_TEST_LDAP_BIND", pw),
        ("ROSTER_TEST_USER_PW", USER_PASSWORD),
    ]
}

/// The repository password of the tests' users.
pub const USER_PASSWORD: &str = "Us3r-Pa55-word!";

/// `ldapsearch` of one entry by its DN (scope base).
pub fn ldapsearch_base(dn: &str) -> Vec<(String, Vec<(String, String)>)> {
    let s = slapd();
    let out = tool("ldapsearch")
        .args([
            "-x",
            "-LLL",
            "-o",
            "ldif-wrap=no",
            "-H",
            &s.ldaps_url,
            "-D",
            &s.bind_dn,
            "-w",
            &s.password,
            "-s",
            "base",
            "-b",
            dn,
            "(objectClass=*)",
            "*",
        ])
        .output()
        .expect("run ldapsearch (ldap-utils)");
    assert!(
        out.status.success(),
        "ldapsearch -b {dn} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    parse_ldif(&String::from_utf8_lossy(&out.stdout))
}
