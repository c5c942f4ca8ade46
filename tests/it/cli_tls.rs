//! `tls.server_name` of the HTTP apps, through the binary: the server's certificate is
//! made for `graph.internal.test` (signed by a throw-away CA), while the app's URL names
//! 127.0.0.1. office365 talks to the Graph emulator serving HTTPS itself (token
//! endpoint and Graph on the same host); scim talks to scim2-server behind a
//! TLS-terminating proxy. Without `server_name` the run fails with the name mismatch
//! and a hint; with it (and the CA in `tls.ca_file`) plan and apply work; a wrong name,
//! or the right name without the CA, fails.

use crate::scim_support::{self, ScimServer};
use crate::support::tls::{TestCerts, TlsProxy};
use crate::support::{Emulator, Run, SECRET_ENV, o365_app, repo, roster};

const NAME: &str = "graph.internal.test";

fn certs() -> TestCerts {
    TestCerts::for_names(&[&format!("DNS:{NAME}")])
}

fn snapshot(run: &Run) -> String {
    format!("exit code: {}\n{}", run.code, run.stderr)
}

macro_rules! assert_error_snapshot {
    ($name:expr, $run:expr) => {
        insta::with_settings!({filters => vec![
            (r"127\.0\.0\.1:\d+", "127.0.0.1:PORT"),
            (r"/tmp/[^\s:)]+", "/TMP"),
        ]}, {
            insta::assert_snapshot!($name, snapshot(&$run));
        });
    };
}

/// The `tls:` line of an app: the CA copied into the repository, and a server name.
fn tls_line(server_name: Option<&str>) -> String {
    match server_name {
        Some(n) => format!("    tls: {{ ca_file: certs/ca.pem, server_name: {n} }}\n"),
        None => "    tls: { ca_file: certs/ca.pem }\n".to_string(),
    }
}

fn o365_people() -> &'static str {
    "users:\n  - username: alice\n    email: alice@contoso.com\n    first_name: Alice\n    \
     last_name: Smith\ngroups:\n  - name: staff\n    members: [alice]\npolicies:\n  - name: \
     o365-staff\n    app: o365\n    groups: [staff]\n"
}

fn scim_people() -> &'static str {
    "users:\n  - username: alice\n    email: alice@example.com\n    first_name: Alice\n    \
     last_name: Smith\ngroups:\n  - name: staff\n    members: [alice]\npolicies:\n  - name: \
     hr-staff\n    app: hr\n    groups: [staff]\n"
}

/// A repository with the office365 app at `url` and the given `tls:` line, the test CA
/// in `certs/ca.pem`.
fn o365_repo(url: &str, tls: &str, certs: &TestCerts) -> tempfile::TempDir {
    let dir = repo(&[
        ("apps.yaml", &o365_app(url, tls)),
        ("people.yaml", o365_people()),
    ]);
    certs.copy_ca_to(dir.path(), "certs/ca.pem");
    dir
}

fn scim_repo(url: &str, tls: &str, certs: &TestCerts) -> tempfile::TempDir {
    let dir = repo(&[
        ("apps.yaml", &scim_support::scim_app(url, tls)),
        ("people.yaml", scim_people()),
    ]);
    certs.copy_ca_to(dir.path(), "certs/ca.pem");
    dir
}

fn https_emulator(certs: &TestCerts) -> Emulator {
    let flags = certs.emulator_flags();
    let flags: Vec<&str> = flags.iter().map(String::as_str).collect();
    let emu = Emulator::start(&flags);
    assert!(emu.url.starts_with("https://127.0.0.1:"), "{}", emu.url);
    emu
}

/// scim2-server behind HTTPS at `https://127.0.0.1:PORT/v2`.
fn https_scim(certs: &TestCerts) -> (ScimServer, TlsProxy, String) {
    let server = ScimServer::start();
    let upstream = url::Url::parse(&server.url).unwrap();
    let upstream = format!(
        "{}:{}",
        upstream.host_str().unwrap(),
        upstream.port().unwrap()
    );
    let proxy = TlsProxy::start(upstream.parse().unwrap(), certs);
    let url = format!("https://{}/v2", proxy.addr);
    (server, proxy, url)
}

fn assert_name_mismatch(run: &Run, expected_name: &str) {
    assert_eq!(run.code, 1, "{}", run.all());
    assert!(run.stderr.starts_with("error: "), "{}", run.stderr);
    assert!(
        run.stderr.contains(&format!(
            "certificate not valid for name \"{expected_name}\""
        )),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr
            .lines()
            .any(|l| l.starts_with("hint: ") && l.contains("`tls.server_name`")),
        "{}",
        run.stderr
    );
}

#[test]
fn office365_without_server_name_fails_on_the_name() {
    let certs = certs();
    let emu = https_emulator(&certs);
    let dir = o365_repo(&emu.url, &tls_line(None), &certs);
    let run = roster(dir.path(), &["plan"], &[SECRET_ENV]);
    assert_name_mismatch(&run, "127.0.0.1");
    assert_error_snapshot!("office365_name_mismatch", run);
}

#[test]
fn office365_with_server_name_plans_and_applies() {
    let certs = certs();
    let emu = https_emulator(&certs);
    let dir = o365_repo(&emu.url, &tls_line(Some(NAME)), &certs);
    // Token endpoint and Graph are both verified for the name: plan reads, apply writes.
    let plan = roster(dir.path(), &["plan", "--detailed-exitcode"], &[SECRET_ENV]);
    assert_eq!(plan.code, 2, "{}", plan.all());
    assert!(plan.stdout.contains("alice@contoso.com"), "{}", plan.stdout);
    let apply = roster(dir.path(), &["apply", "--auto-approve"], &[SECRET_ENV]);
    assert_eq!(apply.code, 0, "{}", apply.all());
    let again = roster(dir.path(), &["plan", "--detailed-exitcode"], &[SECRET_ENV]);
    assert_eq!(again.code, 0, "{}", again.all());
}

#[test]
fn office365_with_a_wrong_server_name_fails() {
    let certs = certs();
    let emu = https_emulator(&certs);
    let dir = o365_repo(&emu.url, &tls_line(Some("other.internal.test")), &certs);
    let run = roster(dir.path(), &["plan"], &[SECRET_ENV]);
    assert_name_mismatch(&run, "other.internal.test");
}

#[test]
fn office365_server_name_does_not_replace_the_ca() {
    let certs = certs();
    let emu = https_emulator(&certs);
    let app = o365_app(&emu.url, &format!("    tls: {{ server_name: {NAME} }}\n"));
    let dir = repo(&[("apps.yaml", &app)]);
    let run = roster(dir.path(), &["plan"], &[SECRET_ENV]);
    assert_eq!(run.code, 1, "{}", run.all());
    assert!(run.stderr.contains("UnknownIssuer"), "{}", run.stderr);
    assert!(run.stderr.contains("hint: "), "{}", run.stderr);
}

#[test]
fn scim_without_server_name_fails_on_the_name() {
    let certs = certs();
    let (_server, _proxy, url) = https_scim(&certs);
    let dir = scim_repo(&url, &tls_line(None), &certs);
    let run = roster(dir.path(), &["plan"], &[scim_support::TOKEN_ENV]);
    assert_name_mismatch(&run, "127.0.0.1");
    assert_error_snapshot!("scim_name_mismatch", run);
}

#[test]
fn scim_with_server_name_plans_and_applies() {
    let certs = certs();
    let (server, _proxy, url) = https_scim(&certs);
    let dir = scim_repo(&url, &tls_line(Some(NAME)), &certs);
    let env = [scim_support::TOKEN_ENV];
    let plan = roster(dir.path(), &["plan", "--detailed-exitcode"], &env);
    assert_eq!(plan.code, 2, "{}", plan.all());
    assert!(plan.stdout.contains("alice"), "{}", plan.stdout);
    let apply = roster(dir.path(), &["apply", "--auto-approve"], &env);
    assert_eq!(apply.code, 0, "{}", apply.all());
    assert!(server.user("alice").is_some(), "{}", apply.all());
    let again = roster(dir.path(), &["plan", "--detailed-exitcode"], &env);
    assert_eq!(again.code, 0, "{}", again.all());
}

#[test]
fn scim_with_a_wrong_server_name_fails() {
    let certs = certs();
    let (server, _proxy, url) = https_scim(&certs);
    let dir = scim_repo(&url, &tls_line(Some("other.internal.test")), &certs);
    let before = server.requests().len();
    let run = roster(dir.path(), &["plan"], &[scim_support::TOKEN_ENV]);
    assert_name_mismatch(&run, "other.internal.test");
    // The TLS handshake failed: the server saw no request (nor the token).
    assert_eq!(server.requests().len(), before, "{:?}", server.requests());
}

#[test]
fn a_server_name_that_is_no_name_is_refused_at_load_time() {
    let app = scim_support::scim_app(
        "https://127.0.0.1:9/v2",
        "    tls: { server_name: 'not a name' }\n",
    );
    let dir = repo(&[("apps.yaml", &app)]);
    let run = roster(dir.path(), &["validate"], &[]);
    assert_eq!(run.code, 1, "{}", run.all());
    assert!(
        run.stderr.contains(
            "apps.yaml:6:25: error: `server_name` of `tls` of app `hr` must be a DNS name or an IP address"
        ),
        "{}",
        run.stderr
    );
}
