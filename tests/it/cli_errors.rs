//! What a failed `roster plan` prints: exit code and stderr through the binary, for
//! the failures people meet first (no network, no DNS, an untrusted certificate, a
//! wrong or missing secret). Ports and temporary paths are filtered out.

use std::time::Instant;

use crate::o365_common::keys::{TLS_SERVER_CERT, TLS_SERVER_KEY};
use crate::support::{CLIENT_ID, Emulator, Run, SECRET_ENV, TENANT, o365_app, repo, roster};

fn snapshot(run: &Run) -> String {
    format!("exit code: {}\n{}", run.code, run.stderr)
}

macro_rules! assert_error_snapshot {
    ($name:expr, $run:expr) => {
        insta::with_settings!({filters => vec![
            (r"127\.0\.0\.1:\d+", "127.0.0.1:PORT"),
            (r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+Z", "TIMESTAMP"),
            (r"/tmp/[^\s:)]+", "/TMP"),
            (r"Trace ID: [0-9a-f-]+", "Trace ID: ID"),
        ]}, {
            insta::assert_snapshot!($name, snapshot(&$run));
        });
    };
}

/// An office365 app with its login and Graph URLs at `url`.
fn plan_against(url: &str, env: &[(&str, &str)]) -> Run {
    let dir = repo(&[("apps.yaml", &o365_app(url, ""))]);
    roster(dir.path(), &["plan"], env)
}

#[test]
fn unreachable_host() {
    // A port that was free a moment ago: nothing listens there.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let run = plan_against(&format!("http://127.0.0.1:{port}"), &[SECRET_ENV]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        run.stderr.contains("hint: nothing answered"),
        "{}",
        run.stderr
    );
    assert_error_snapshot!("unreachable_host", run);
}

#[test]
fn dns_failure() {
    // The operator allows the host (it is not one of Microsoft's), so the run gets as far
    // as resolving it.
    let run = plan_against(
        "https://login.roster-test.invalid",
        &[
            SECRET_ENV,
            ("ROSTER_ALLOW_ENDPOINTS", "login.roster-test.invalid"),
        ],
    );
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        run.stderr
            .contains("hint: the host name could not be resolved"),
        "{}",
        run.stderr
    );
    // The resolver's own words differ between systems; the shape does not.
    let first_lines: String = run
        .stderr
        .lines()
        .filter(|l| !l.starts_with("  caused by: cannot reach"))
        .map(|l| format!("{l}\n"))
        .collect();
    insta::assert_snapshot!(
        "dns_failure",
        format!("exit code: {}\n{first_lines}", run.code)
    );
}

#[test]
fn tls_unknown_issuer() {
    let certs = tempfile::tempdir().unwrap();
    let cert = certs.path().join("server.pem");
    let key = certs.path().join("server.key");
    std::fs::write(&cert, TLS_SERVER_CERT).unwrap();
    std::fs::write(&key, TLS_SERVER_KEY).unwrap();
    let emu = Emulator::start(&[
        "--tls-cert",
        cert.to_str().unwrap(),
        "--tls-key",
        key.to_str().unwrap(),
    ]);
    assert!(emu.url.starts_with("https://"), "{}", emu.url);
    let started = Instant::now();
    let run = plan_against(&emu.url, &[SECRET_ENV]);
    let took = started.elapsed();
    eprintln!("office365 TLS failure reported after {took:?}");
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(run.stderr.contains("UnknownIssuer"), "{}", run.stderr);
    assert!(run.stderr.contains("tls.ca_file"), "{}", run.stderr);
    assert_error_snapshot!("tls_unknown_issuer", run);
}

#[test]
fn wrong_client_secret() {
    let emu = Emulator::start(&[]);
    let run = plan_against(&emu.url, &[("ROSTER_TEST_SECRET", "not-the-secret")]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(run.stderr.contains("AADSTS7000215"), "{}", run.stderr);
    assert!(!run.stderr.contains("not-the-secret"), "{}", run.stderr);
    assert_error_snapshot!("wrong_client_secret", run);
}

#[test]
fn missing_env_var_of_a_secret() {
    let run = plan_against("http://127.0.0.1:9", &[]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(run.stderr.contains("ROSTER_TEST_SECRET"), "{}", run.stderr);
    assert_error_snapshot!("missing_env_var_of_a_secret", run);
}

#[test]
fn the_app_is_named_once() {
    let emu = Emulator::start(&[]);
    let run = plan_against(&emu.url, &[("ROSTER_TEST_SECRET", "not-the-secret")]);
    assert_eq!(run.stderr.matches("app o365").count(), 1, "{}", run.stderr);
    let _ = (TENANT, CLIENT_ID);
}

#[test]
fn throttled_beyond_retries() {
    // Every Graph request is throttled with `Retry-After: 0.2`; roster may wait 0.5 s in
    // all per request, so each gives up on its third 429, after two retries.
    let emu = Emulator::start(&["--fault-throttle", "0.2"]);
    let started = Instant::now();
    let run = plan_against(&emu.url, &[SECRET_ENV, ("ROSTER_RETRY_MAX_SECONDS", "0.5")]);
    let took = started.elapsed();
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        run.stderr
            .contains("the service kept throttling after 2 retries over 0.4s"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("hint: the service kept throttling"),
        "{}",
        run.stderr
    );
    assert!(took < std::time::Duration::from_secs(20), "{took:?}");
    // The reads run side by side; which one gives up first varies.
    insta::with_settings!({filters => vec![
        (r"127\.0\.0\.1:\d+", "127.0.0.1:PORT"),
        (r"/v1\.0/[A-Za-z/]+", "/v1.0/RESOURCE"),
        (r"request-id [0-9a-f-]+", "request-id ID"),
    ]}, {
        insta::assert_snapshot!("throttled_beyond_retries", snapshot(&run));
    });
}

#[test]
fn scim_401() {
    let server = crate::scim_support::ScimServer::start();
    let dir = repo(&[("apps.yaml", &crate::scim_support::scim_app(&server.url, ""))]);
    let run = roster(
        dir.path(),
        &["plan"],
        &[(crate::scim_support::TOKEN_ENV.0, "wrong-token-value-77")],
    );
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        !run.stderr.contains("wrong-token-value-77"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr
            .contains("hint: the service refused the bearer token"),
        "{}",
        run.stderr
    );
    assert_error_snapshot!("scim_401", run);
}

/// An AD app at the test DC with the given bind password and users OU.
fn ad_plan(password: &str, users_ou: &str) -> Run {
    let dc = crate::samba::dc();
    let apps = format!(
        "apps:\n  - name: ad\n    type: active_directory\n    url: {}\n    base_dn: '{}'\n    \
         users_ou: '{users_ou}'\n    groups_ou: '{}'\n    bind_dn: '{}'\n    \
         bind_password: {{ env: ROSTER_TEST_BIND_PW }}\n    tls: {{ ca_file: '{}' }}\n",
        dc.url, dc.base_dn, dc.base_dn, dc.bind_dn, dc.ca
    );
    let dir = repo(&[("apps.yaml", &apps)]);
    roster(dir.path(), &["plan"], &[("ROSTER_TEST_BIND_PW", password)])
}

#[test]
fn ldap_bind_refused() {
    let dc = crate::samba::dc();
    let run = ad_plan("surely-not-the-password", &dc.base_dn);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(run.stderr.contains("LDAP result 49"), "{}", run.stderr);
    assert!(
        run.stderr.contains("hint: the directory refused the bind"),
        "{}",
        run.stderr
    );
    let text = snapshot(&run)
        .replace(&dc.bind_dn, "BIND_DN")
        .replace(&dc.url, "LDAP_URL");
    insta::assert_snapshot!("ldap_bind_refused", text);
}

#[test]
fn missing_ou() {
    let dc = crate::samba::dc();
    let ou = format!("OU=roster-surely-missing,{}", dc.base_dn);
    let run = ad_plan(&dc.password, &ou);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        run.stderr.contains("hint: the OU was not found"),
        "{}",
        run.stderr
    );
    let text = snapshot(&run)
        .replace(&dc.base_dn, "BASE_DN")
        .replace(&dc.url, "LDAP_URL");
    insta::assert_snapshot!("missing_ou", text);
}

#[test]
fn usage_errors_exit_1_not_2_which_means_changes() {
    let dir = tempfile::tempdir().unwrap();
    for args in [
        &["plna"][..],
        &["drift", "--frmat", "json"],
        &["plan", "--format", "yaml"],
        &[],
    ] {
        let run = roster(dir.path(), args, &[]);
        assert_eq!(run.code, 1, "{args:?}: {}", run.all());
        assert!(
            run.stderr.contains("Usage") || run.stderr.contains("--help"),
            "{args:?}: {}",
            run.stderr
        );
    }
    for args in [&["--help"][..], &["plan", "--help"], &["--version"]] {
        let run = roster(dir.path(), args, &[]);
        assert_eq!(run.code, 0, "{args:?}: {}", run.all());
        assert!(!run.stdout.is_empty());
    }
}

#[test]
fn graph_403_without_write_permissions_fails_each_change_with_graphs_words() {
    let emu = Emulator::start(&["--read-only"]);
    let people = "users:\n  - username: alice\n    email: alice@contoso.com\n    first_name: Alice\n    last_name: Smith\ngroups:\n  - name: all\n    members: [alice]\npolicies:\n  - name: p\n    app: o365\n    groups: [all]\n";
    let repo = repo(&[
        ("apps.yaml", &o365_app(&emu.url, "")),
        ("people.yaml", people),
    ]);
    let run = roster(repo.path(), &["apply", "--auto-approve"], &[SECRET_ENV]);
    assert_eq!(run.code, 1, "{}", run.all());
    let failed: Vec<&str> = run
        .stdout
        .lines()
        .filter(|l| l.contains("FAILED"))
        .collect();
    assert!(!failed.is_empty(), "{}", run.all());
    for line in &failed {
        assert!(
            line.contains("Insufficient privileges to complete the operation")
                && line.contains("request-id"),
            "{line}"
        );
    }
    assert!(run.stdout.contains("Apply incomplete"), "{}", run.stdout);
    assert_eq!(emu.stats()["writes"], 0);
}
