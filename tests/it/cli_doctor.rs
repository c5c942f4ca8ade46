//! `roster doctor` through the binary: against the Graph emulator with the app's
//! permissions set per client (`--grant`), a missing permission fails with the
//! permission named and a hint, least-privilege grants pass, nothing is written, TLS
//! details come from the HTTPS emulator, and against a Samba DC the AD checks
//! (bind, TLS, OUs, create rights, clock) pass.

use serde_json::Value;

use crate::support::tls::TestCerts;
use crate::support::{CLIENT_ID, Emulator, SECRET_ENV, o365_app, repo, roster};

const PEOPLE: &str = "users:\n  - username: alice\n    email: alice@contoso.com\n    first_name: Alice\n    \
     last_name: Smith\n    licenses: [ENTERPRISEPACK]\ngroups:\n  - name: staff\n    members: [alice]\n\
     policies:\n  - name: o365-staff\n    app: o365\n    groups: [staff]\n";

fn grants(perms: &[&str]) -> Vec<String> {
    perms
        .iter()
        .flat_map(|p| ["--grant".to_string(), format!("{CLIENT_ID}:{p}")])
        .collect()
}

fn start(perms: &[&str], extra: &[String]) -> Emulator {
    let mut flags = grants(perms);
    flags.extend(extra.iter().cloned());
    let flags: Vec<&str> = flags.iter().map(String::as_str).collect();
    Emulator::start(&flags)
}

/// The least privileged permissions of an app with the default switches and licences.
const LEAST: &[&str] = &[
    "User.ReadWrite.All",
    "Group.ReadWrite.All",
    "LicenseAssignment.Read.All",
    "Domain.Read.All",
    "RoleManagement.Read.Directory",
];

fn line_of<'a>(out: &'a str, check: &str) -> &'a str {
    out.lines()
        .find(|l| l.contains(&format!(" {check}: ")))
        .unwrap_or_else(|| panic!("no `{check}` line in:\n{out}"))
}

#[test]
fn a_missing_permission_is_named_with_a_hint_and_exits_1() {
    let emu = start(
        &[
            "User.Read.All",
            "Group.Read.All",
            "LicenseAssignment.Read.All",
            "Domain.Read.All",
        ],
        &[],
    );
    let dir = repo(&[
        ("apps.yaml", &o365_app(&emu.url, "")),
        ("people.yaml", PEOPLE),
    ]);
    let before = emu.stats();
    let run = roster(dir.path(), &["doctor"], &[SECRET_ENV]);
    assert_eq!(run.code, 1, "{}", run.all());
    let out = &run.stdout;
    assert!(out.starts_with("app o365 (office365): FAIL\n"), "{out}");
    let token = line_of(out, "token");
    assert!(token.trim_start().starts_with("ok"), "{token}");
    assert!(
        token.contains("client secret") && token.contains("lifetime 59 min"),
        "{token}"
    );
    let writes = line_of(out, "permission user writes");
    assert!(writes.trim_start().starts_with("FAIL"), "{writes}");
    assert!(writes.contains("missing User.ReadWrite.All"), "{writes}");
    assert!(writes.contains("the token carries: Domain.Read.All, Group.Read.All, LicenseAssignment.Read.All, User.Read.All"), "{writes}");
    let licences = line_of(out, "permission licences");
    assert!(
        licences.contains("missing LicenseAssignment.ReadWrite.All")
            && licences.contains("users with `licenses`"),
        "{licences}"
    );
    assert!(
        line_of(out, "permission memberships").contains("missing GroupMember.ReadWrite.All"),
        "{out}"
    );
    assert!(
        out.contains("hint: add the Microsoft Graph application permission User.ReadWrite.All"),
        "{out}"
    );
    // The reads still work; the role read is refused (a warning), not the run.
    assert!(
        line_of(out, "GET /users").trim_start().starts_with("ok"),
        "{out}"
    );
    assert!(
        line_of(out, "GET /groups/delta")
            .trim_start()
            .starts_with("ok"),
        "{out}"
    );
    assert!(
        line_of(out, "GET /roleManagement/directory/roleAssignments").contains("warn  GET"),
        "{out}"
    );
    assert!(line_of(out, "clock skew").contains("within 2 s"), "{out}");
    assert!(
        out.contains("check(s) failed") && out.contains("nothing was written"),
        "{out}"
    );
    // Doctor wrote nothing, to the tenant or the repository.
    let after = emu.stats();
    assert_eq!(after["writes"], before["writes"], "{after}");
    assert!(!dir.path().join(".roster").exists());
    assert!(!run.all().contains(crate::support::CLIENT_SECRET));
}

#[test]
fn least_privilege_passes_and_json_lists_every_check() {
    let emu = start(LEAST, &[]);
    let dir = repo(&[
        ("apps.yaml", &o365_app(&emu.url, "")),
        ("people.yaml", PEOPLE),
    ]);
    let run = roster(
        dir.path(),
        &["doctor", "--app", "o365", "--format", "json"],
        &[SECRET_ENV],
    );
    assert_eq!(run.code, 0, "{}", run.all());
    let v: Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(v["ok"], true);
    let checks = v["apps"][0]["checks"].as_array().unwrap();
    let status = |name: &str| {
        checks
            .iter()
            .find(|c| c["check"] == name)
            .unwrap_or_else(|| panic!("no {name} in {checks:?}"))["status"]
            .clone()
    };
    for name in [
        "token",
        "permission read users",
        "permission user writes",
        "permission licences",
        "permission memberships",
        "permission protect admins (role holders)",
        "GET /users",
        "GET /subscribedSkus",
        "GET /roleManagement/directory/roleAssignments",
        "clock skew",
    ] {
        assert_eq!(status(name), "ok", "{name}: {checks:?}");
    }
    // Plain HTTP on loopback is worth a warning, not a failure.
    assert_eq!(status("tls"), "warn");
    assert!(!checks.iter().any(|c| c["status"] == "fail"), "{checks:?}");
}

#[test]
fn directory_readwrite_all_is_flagged_as_broader_than_needed() {
    // No grant: the emulator's default roles, which include Directory.ReadWrite.All.
    let emu = Emulator::start(&[]);
    let dir = repo(&[
        ("apps.yaml", &o365_app(&emu.url, "")),
        ("people.yaml", PEOPLE),
    ]);
    let run = roster(dir.path(), &["doctor"], &[SECRET_ENV]);
    assert_eq!(run.code, 0, "{}", run.all());
    let line = line_of(&run.stdout, "permission least privilege");
    assert!(
        line.contains("warn") && line.contains("Directory.ReadWrite.All"),
        "{line}"
    );
}

#[test]
fn a_refused_credential_fails_the_token_check_and_still_reports_the_clock() {
    let emu = Emulator::start(&[]);
    let dir = repo(&[
        ("apps.yaml", &o365_app(&emu.url, "")),
        ("people.yaml", PEOPLE),
    ]);
    let run = roster(dir.path(), &["doctor"], &[("ROSTER_TEST_SECRET", "wrong")]);
    assert_eq!(run.code, 1, "{}", run.all());
    let token = line_of(&run.stdout, "token");
    assert!(
        token.contains("FAIL") && token.contains("AADSTS7000215"),
        "{token}"
    );
    assert!(!run.stdout.contains("permission "), "{}", run.stdout);
    assert!(
        line_of(&run.stdout, "clock skew").contains("ok"),
        "{}",
        run.stdout
    );
}

#[test]
fn tls_details_name_the_protocol_and_certificate() {
    let certs = TestCerts::for_names(&["IP:127.0.0.1"]);
    let emu = start(LEAST, &certs.emulator_flags());
    let dir = repo(&[
        (
            "apps.yaml",
            &o365_app(&emu.url, "    tls: { ca_file: certs/ca.pem }\n"),
        ),
        ("people.yaml", PEOPLE),
    ]);
    certs.copy_ca_to(dir.path(), "certs/ca.pem");
    let run = roster(dir.path(), &["doctor"], &[SECRET_ENV]);
    assert_eq!(run.code, 0, "{}", run.all());
    let tls = line_of(&run.stdout, "tls");
    // The test certificate is valid for two days: a warning that it expires soon.
    assert!(tls.trim_start().starts_with("warn"), "{tls}");
    assert!(
        run.stdout
            .contains("hint: the server's certificate expires soon"),
        "{}",
        run.stdout
    );
    assert!(
        tls.contains("CN=roster test server issued by CN=roster test CA"),
        "{tls}"
    );
    assert!(tls.contains("TLSv1.3") || tls.contains("TLSv1.2"), "{tls}");
    assert!(
        tls.contains("certificate ") && tls.contains(" issued by ") && tls.contains("expires "),
        "{tls}"
    );
}

#[test]
fn an_unknown_app_is_a_usage_error() {
    let dir = repo(&[
        ("apps.yaml", &o365_app("http://127.0.0.1:9", "")),
        ("people.yaml", PEOPLE),
    ]);
    let run = roster(dir.path(), &["doctor", "--app", "nope"], &[SECRET_ENV]);
    assert_eq!(run.code, 1, "{}", run.all());
    assert!(run.stderr.contains("no app named 'nope'"), "{}", run.stderr);
}

/// Against the Samba DC of the AD tests (scripts/samba-dc.sh): every check passes for
/// the fixture's OUs; an OU that does not exist fails with its DN.
#[tokio::test(flavor = "multi_thread")]
async fn active_directory_checks_against_a_domain_controller() {
    let fx = crate::samba::Fixture::new().await;
    let dc = crate::samba::dc();
    let app = |users_ou: &str| {
        format!(
            "apps:\n  - name: corp\n    type: active_directory\n    url: {}\n    base_dn: \"{}\"\n    users_ou: \"{users_ou}\"\n    groups_ou: \"{}\"\n    bind_dn: \"{}\"\n    bind_password: {{ env: ROSTER_AD_PW }}\n    tls: {{ ca_file: '{}' }}\n",
            dc.url, dc.base_dn, fx.groups_ou, dc.bind_dn, dc.ca
        )
    };
    let dir = repo(&[("apps.yaml", &app(&fx.users_ou))]);
    let run = roster(dir.path(), &["doctor"], &[("ROSTER_AD_PW", &dc.password)]);
    assert_eq!(run.code, 0, "{}", run.all());
    let out = &run.stdout;
    for check in [
        "tls",
        "bind",
        "clock skew",
        "base_dn",
        "users_ou",
        "users_ou create user",
        "groups_ou create group",
    ] {
        assert!(
            line_of(out, check).trim_start().starts_with("ok"),
            "{check}: {out}"
        );
    }
    assert!(line_of(out, "tls").contains("certificate "), "{out}");
    let missing = format!("OU=Nowhere,{}", fx.ou);
    let dir = repo(&[("apps.yaml", &app(&missing))]);
    let run = roster(dir.path(), &["doctor"], &[("ROSTER_AD_PW", &dc.password)]);
    assert_eq!(run.code, 1, "{}", run.all());
    assert!(
        line_of(&run.stdout, "users_ou").contains(&format!("{missing} does not exist")),
        "{}",
        run.stdout
    );
}

/// Against scim2-server (scripts/scim-server.sh): the token is accepted at every probe;
/// a wrong token fails with the provider's 401 and a hint, and is never printed.
#[test]
fn scim_token_checks_against_a_service_provider() {
    use crate::scim_support::{ScimServer, TOKEN_ENV, scim_app};
    let server = ScimServer::start();
    let dir = repo(&[("apps.yaml", &scim_app(&server.url, ""))]);
    let run = roster(dir.path(), &["doctor", "--app", "hr"], &[TOKEN_ENV]);
    assert_eq!(run.code, 0, "{}", run.all());
    let out = &run.stdout;
    assert!(out.starts_with("app hr (scim): warn\n"), "{out}");
    for check in [
        "token",
        "GET /ServiceProviderConfig",
        "GET /Users",
        "GET /Groups",
        "clock skew",
    ] {
        assert!(
            line_of(out, check).trim_start().starts_with("ok"),
            "{check}: {out}"
        );
    }
    let wrong = "wrong-token-value-88";
    let run = roster(dir.path(), &["doctor"], &[(TOKEN_ENV.0, wrong)]);
    assert_eq!(run.code, 1, "{}", run.all());
    let users = line_of(&run.stdout, "GET /Users");
    assert!(users.contains("FAIL") && users.contains("401"), "{users}");
    assert!(
        run.stdout.contains("hint: the token was refused"),
        "{}",
        run.stdout
    );
    assert!(!run.stdout.contains("token: accepted"), "{}", run.stdout);
    assert!(!run.all().contains(wrong));
}

/// The quickstart's sandbox app: every check passes without a warning (the sandbox's
/// emulator-default permissions and its loopback HTTP are not the operator's to fix).
#[test]
fn the_quickstart_sandbox_passes_every_check() {
    let dir = tempfile::tempdir().unwrap();
    let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/quickstart");
    for entry in std::fs::read_dir(&src).unwrap() {
        let entry = entry.unwrap();
        if entry.file_type().unwrap().is_file() {
            std::fs::copy(entry.path(), dir.path().join(entry.file_name())).unwrap();
        }
    }
    let run = roster(dir.path(), &["doctor"], &[]);
    assert_eq!(run.code, 0, "{}", run.all());
    assert!(
        run.stdout.contains("0 check(s) failed, 0 warning(s)"),
        "{}",
        run.stdout
    );
    assert!(
        line_of(&run.stdout, "tls").contains("sandbox runs in-process"),
        "{}",
        run.stdout
    );
    assert!(
        line_of(&run.stdout, "token").contains("sandbox: token for client"),
        "{}",
        run.stdout
    );
}
