//! Checks made when the repository is loaded, with positions, before anything touches
//! the network: transport rules for endpoints that receive credentials, paths that must
//! stay inside the repository, secrets that cannot be reused, an empty folder.

use crate::support::{Run, repo, roster};

fn o365(extra: &str) -> String {
    format!(
        "apps:\n  - name: o365\n    type: office365\n    tenant: contoso.onmicrosoft.com\n    client_id: 11111111-2222-3333-4444-555555555555\n    credentials:\n      client_secret: {{ env: ROSTER_O365_CLIENT_SECRET }}\n{extra}"
    )
}

fn plan(files: &[(&str, &str)], env: &[(&str, &str)]) -> Run {
    let repo = repo(files);
    roster(repo.path(), &["plan"], env)
}

#[test]
fn plain_http_to_a_remote_host_is_refused_with_its_position() {
    let run = plan(
        &[(
            "apps.yaml",
            &o365(
                "    graph_url: http://graph.invalid\n    login_url: https://login.microsoftonline.com\n",
            ),
        )],
        &[("ROSTER_O365_CLIENT_SECRET", "x")],
    );
    assert_eq!(run.code, 1, "{}", run.all());
    assert!(
        run.stderr
            .contains("apps.yaml:8:16: error: `graph_url` of app `o365` must use https://"),
        "{}",
        run.stderr
    );
    // Refused at load time: no attempt to resolve or reach the host.
    assert!(!run.stderr.contains("cannot connect"), "{}", run.stderr);
}

#[test]
fn an_https_endpoint_that_is_not_microsoft_needs_the_operator_allow_list() {
    let app = o365("    graph_url: https://graph.attacker.example\n");
    let run = plan(&[("apps.yaml", &app)], &[]);
    assert_eq!(run.code, 1, "{}", run.all());
    assert!(
        run.stderr
            .contains("points at graph.attacker.example, which is not a Microsoft endpoint")
            && run
                .stderr
                .contains("ROSTER_ALLOW_ENDPOINTS=graph.attacker.example"),
        "{}",
        run.stderr
    );

    // The national clouds are accepted as they are.
    let gov = o365(
        "    graph_url: https://dod-graph.microsoft.us\n    login_url: https://login.microsoftonline.us\n",
    );
    let repo_gov = repo(&[("apps.yaml", &gov)]);
    let run = roster(repo_gov.path(), &["validate"], &[]);
    assert_eq!(run.code, 0, "{}", run.all());

    // The operator (not the repository) can allow a host.
    let repo = repo(&[("apps.yaml", &app)]);
    let run = roster(
        repo.path(),
        &["validate"],
        &[(
            "ROSTER_ALLOW_ENDPOINTS",
            "proxy.example, graph.attacker.example",
        )],
    );
    assert_eq!(run.code, 0, "{}", run.all());
}

#[test]
fn scim_and_ldap_in_clear_text_are_refused_except_to_loopback() {
    let scim = |url: &str| {
        format!(
            "apps:\n  - name: hr\n    type: scim\n    url: {url}\n    token: {{ env: ROSTER_SCIM_TOKEN }}\n"
        )
    };
    let run = roster(
        repo(&[("apps.yaml", &scim("http://scim.example.com/v2"))]).path(),
        &["validate"],
        &[],
    );
    assert_eq!(run.code, 1, "{}", run.all());
    assert!(
        run.stderr
            .contains("apps.yaml:4:10: error: `url` of app `hr` must use https://"),
        "{}",
        run.stderr
    );
    for ok in [
        "http://127.0.0.1:8080/v2",
        "http://localhost/v2",
        "http://[::1]:9/v2",
    ] {
        let run = roster(repo(&[("apps.yaml", &scim(ok))]).path(), &["validate"], &[]);
        assert_eq!(run.code, 0, "{ok}: {}", run.all());
    }

    let ad = |url: &str| {
        format!(
            "apps:\n  - name: ad\n    type: active_directory\n    url: {url}\n    starttls: false\n    base_dn: DC=x,DC=y\n    users_ou: OU=U,DC=x,DC=y\n    groups_ou: OU=G,DC=x,DC=y\n    bind_dn: CN=svc,DC=x,DC=y\n    bind_password: {{ env: ROSTER_AD_PASSWORD }}\n"
        )
    };
    let run = roster(
        repo(&[("apps.yaml", &ad("ldap://dc1.corp.example"))]).path(),
        &["validate"],
        &[],
    );
    assert_eq!(run.code, 1, "{}", run.all());
    assert!(
        run.stderr.contains("apps.yaml:5:15: error: `starttls: false` with an ldap:// URL would send the bind password of app `ad` in clear text"),
        "{}",
        run.stderr
    );
    let run = roster(
        repo(&[("apps.yaml", &ad("ldap://127.0.0.1:389"))]).path(),
        &["validate"],
        &[],
    );
    assert_eq!(run.code, 0, "{}", run.all());
}

#[test]
fn an_app_credential_cannot_be_a_users_password() {
    let files = [
        ("apps.yaml", o365("")),
        (
            "people.yaml",
            "users:\n  - username: mallory\n    email: mallory@contoso.com\n    first_name: M\n    last_name: Allory\n    password: { env: ROSTER_O365_CLIENT_SECRET }\n".to_string(),
        ),
    ];
    let files: Vec<(&str, &str)> = files.iter().map(|(a, b)| (*a, b.as_str())).collect();
    let run = roster(repo(&files).path(), &["validate"], &[]);
    assert_eq!(run.code, 1, "{}", run.all());
    assert!(
        run.stderr.contains("people.yaml:6:15: error: the password of user mallory is the secret that app o365 authenticates with"),
        "{}",
        run.stderr
    );
}

#[test]
fn paths_named_by_the_repository_stay_inside_it() {
    let files = [(
        "apps.yaml",
        "apps:\n  - name: box\n    type: office365\n    sandbox: ../../outside.json\n  - name: hr\n    type: scim\n    url: https://scim.example.com/v2\n    token: { file: ../token }\n    tls: { ca_file: certs/../../ca.pem }\n  - name: box2\n    type: office365\n    sandbox: /tmp/roster-sandbox.json\n",
    )];
    let repo = repo(&files);
    let run = roster(repo.path(), &["validate"], &[]);
    assert_eq!(run.code, 1, "{}", run.all());
    for expected in [
        "apps.yaml:4:14: error: `sandbox` of app `box` must stay inside the repository",
        "apps.yaml:8:20: error: `file` of `token` of app `hr` must stay inside the repository",
        "apps.yaml:9:21: error: `ca_file` of `tls` of app `hr` must stay inside the repository",
        "apps.yaml:12:14: error: `sandbox` of app `box2` must be a path relative to the repository root",
    ] {
        assert!(run.stderr.contains(expected), "{expected}\n{}", run.stderr);
    }
    assert!(!repo.path().join("../../outside.json").exists());
}

#[test]
fn a_secret_file_symlinked_out_of_the_repository_is_not_read() {
    let outside = tempfile::tempdir().unwrap();
    std::fs::write(outside.path().join("token"), "stolen-value-42").unwrap();
    let repo = repo(&[(
        "apps.yaml",
        "apps:\n  - name: hr\n    type: scim\n    url: http://127.0.0.1:9/v2\n    token: { file: secrets/token }\n",
    )]);
    std::os::unix::fs::symlink(outside.path(), repo.path().join("secrets")).unwrap();
    let run = roster(repo.path(), &["plan"], &[]);
    assert_eq!(run.code, 1, "{}", run.all());
    assert!(
        run.stderr.contains(
            "secret file `secrets/token` leads outside the repository through a symbolic link"
        ),
        "{}",
        run.stderr
    );
    assert!(!run.all().contains("stolen-value-42"));
}

#[test]
fn a_sandbox_tenant_symlinked_out_of_the_repository_is_never_written() {
    let outside = tempfile::tempdir().unwrap();
    let target = outside.path().join("tenant.json");
    let repo = repo(&[(
        "apps.yaml",
        "apps:\n  - name: box\n    type: office365\n    sandbox: tenants/box.json\n",
    )]);
    std::os::unix::fs::symlink(outside.path(), repo.path().join("tenants")).unwrap();
    let run = roster(repo.path(), &["plan"], &[]);
    assert_eq!(run.code, 1, "{}", run.all());
    assert!(
        run.stderr.contains(
            "sandbox `tenants/box.json` leads outside the repository through a symbolic link"
        ),
        "{}",
        run.stderr
    );
    assert!(!target.exists(), "nothing was written outside");
}

#[test]
fn validate_of_a_folder_without_yaml_is_an_error() {
    let dir = repo(&[("README.md", "# not an identity repository\n")]);
    let run = roster(dir.path(), &["validate"], &[]);
    assert_eq!(run.code, 1, "{}", run.all());
    assert!(
        run.stderr
            .contains("error: no *.yaml or *.yml files under "),
        "{}",
        run.stderr
    );
    assert!(run.stdout.is_empty(), "{}", run.stdout);
}

#[test]
fn a_symlinked_roster_folder_is_refused_before_anything_is_written_through_it() {
    let outside = tempfile::tempdir().unwrap();
    let repo = repo(&[(
        "apps.yaml",
        "apps:\n  - name: hr\n    type: scim\n    url: http://127.0.0.1:9/v2\n    token: { env: ROSTER_SCIM_TOKEN }\n",
    )]);
    std::os::unix::fs::symlink(outside.path(), repo.path().join(".roster")).unwrap();
    for args in [&["plan"][..], &["apply", "--auto-approve"]] {
        let run = roster(repo.path(), args, &[("ROSTER_SCIM_TOKEN", "t")]);
        assert_eq!(run.code, 1, "{args:?}: {}", run.all());
        assert!(
            run.stderr.contains(".roster is a symbolic link"),
            "{args:?}: {}",
            run.stderr
        );
    }
    assert_eq!(
        std::fs::read_dir(outside.path()).unwrap().count(),
        0,
        "nothing written outside"
    );
}
