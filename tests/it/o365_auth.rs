//! Authentication of the office365 connector against the Graph emulator's token
//! endpoint (client secret, certificate, federated token from a file and from a
//! GitHub-Actions-style OIDC service), its error messages, and the sandbox tenant.

use crate::o365_common;

use std::path::PathBuf;

use o365_common::keys::*;
use o365_common::*;
use roster::apps::ConnectContext;
use roster::apps::office365::Office365Connector;
use roster::desired::{CertificateCredentials, GroupKind, Office365Credentials, SecretRef};
use roster::emulator::{FederatedCredential, FederatedKey};
use roster::observed::ObservedApp;
use roster::plan::Action;
use serde_json::json;

const ISSUER: &str = "https://token.actions.githubusercontent.com";
const SUBJECT: &str = "repo:example/identity:environment:production";

fn write(dir: &std::path::Path, name: &str, content: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, content).expect("write");
    p
}

/// The error of connecting through the dispatch, which names the app.
async fn connect_err(env: &Env) -> String {
    let app = roster::desired::App::Office365(env.app.clone());
    match roster::apps::connector::Connector::connect(&app, &env.ctx).await {
        Ok(_) => panic!("connect should fail"),
        Err(e) => format!("{e:#}"),
    }
}

fn oidc_token(subject: &str, audience: &str) -> String {
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let claims = json!({"iss": ISSUER, "sub": subject, "aud": audience, "iat": now, "nbf": now - 5, "exp": now + 300});
    let key = jsonwebtoken::EncodingKey::from_rsa_pem(TEST_KEY.as_bytes()).expect("key");
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256),
        &claims,
        &key,
    )
    .expect("sign")
}

#[tokio::test]
async fn a_wrong_secret_fails_with_the_aadsts_code_and_without_the_secret() {
    let env = start(config()).await;
    std::fs::write(env.dir.path().join("secret.txt"), "wrong-secret-value").expect("write");
    let e = connect_err(&env).await;
    println!("{e}");
    assert!(e.contains("AADSTS"), "{e}");
    assert!(e.contains(APP), "{e}");
    assert!(!e.contains("wrong-secret-value"), "{e}");
    env.emu.shutdown().await.expect("shutdown");
}

#[tokio::test]
async fn missing_settings_and_secrets_are_named() {
    let env = start(config()).await;
    let mut app = env.app.clone();
    app.credentials = Some(Office365Credentials::ClientSecret(SecretRef::Env(
        "ROSTER_O365_TEST_UNSET_SECRET".into(),
    )));
    let e = format!(
        "{:#}",
        Office365Connector::connect(&app, &env.ctx)
            .await
            .err()
            .expect("fails")
    );
    assert!(e.contains("ROSTER_O365_TEST_UNSET_SECRET"), "{e}");
    app.tenant = None;
    let e = format!(
        "{:#}",
        Office365Connector::connect(&app, &env.ctx)
            .await
            .err()
            .expect("fails")
    );
    assert!(e.contains("tenant"), "{e}");
    env.emu.shutdown().await.expect("shutdown");
}

#[tokio::test]
async fn certificate_credentials_authenticate() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cert = write(dir.path(), "registered.pem", TEST_CERT);
    let mut cfg = config();
    cfg.clients.clear();
    cfg.certificates = vec![(CLIENT_ID.into(), cert)];
    let mut env = start(cfg).await;
    write(env.dir.path(), "app.crt", TEST_CERT);
    write(env.dir.path(), "app.key", TEST_KEY);
    write(env.dir.path(), "other.crt", OTHER_CERT);
    write(env.dir.path(), "other.key", OTHER_KEY);
    env.app.credentials = Some(Office365Credentials::Certificate(CertificateCredentials {
        cert_file: "app.crt".into(),
        key_file: SecretRef::File("app.key".into()),
    }));
    let conn = env.connect().await;
    let o = read_all(&conn).await;
    // The verified domains, and the tenant's initial onmicrosoft one, which is not
    // authorized unless listed.
    assert_eq!(
        o.default_authorized_domains()
            .into_iter()
            .collect::<Vec<_>>(),
        vec![DOMAIN.to_string()]
    );
    let initial = o.initial_domain.clone().expect("an initial domain");
    assert!(initial.ends_with(".onmicrosoft.com"), "{initial}");
    assert!(o.verified_domains.contains(&initial));

    env.app.credentials = Some(Office365Credentials::Certificate(CertificateCredentials {
        cert_file: "other.crt".into(),
        key_file: SecretRef::File("other.key".into()),
    }));
    let e = connect_err(&env).await;
    assert!(e.contains("AADSTS"), "{e}");
    assert!(!e.contains("PRIVATE KEY"), "{e}");
    env.emu.shutdown().await.expect("shutdown");
}

fn federated_config(dir: &std::path::Path) -> roster::emulator::EmulatorConfig {
    let pubkey = write(dir, "issuer.pub", TEST_PUBLIC_KEY);
    let mut cfg = config();
    cfg.clients.clear();
    cfg.federated = vec![FederatedCredential {
        client_id: CLIENT_ID.into(),
        issuer: ISSUER.into(),
        subject: SUBJECT.into(),
        audience: "api://AzureADTokenExchange".into(),
        key: FederatedKey::PublicKeyPem(pubkey),
    }];
    cfg
}

#[tokio::test]
async fn federated_token_files_authenticate_and_a_wrong_subject_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut env = start(federated_config(dir.path())).await;
    write(
        env.dir.path(),
        "oidc.jwt",
        &oidc_token(SUBJECT, "api://AzureADTokenExchange"),
    );
    env.app.credentials = Some(Office365Credentials::FederatedToken(SecretRef::File(
        "oidc.jwt".into(),
    )));
    let conn = env.connect().await;
    assert!(read_all(&conn).await.users.is_empty());

    write(
        env.dir.path(),
        "oidc.jwt",
        &oidc_token(
            "repo:someone/else:ref:refs/heads/main",
            "api://AzureADTokenExchange",
        ),
    );
    let e = connect_err(&env).await;
    assert!(e.contains("AADSTS700213"), "{e}");
    assert!(e.contains("subject"), "{e}");
    env.emu.shutdown().await.expect("shutdown");
}

#[tokio::test]
async fn the_sandbox_creates_its_state_file_and_reuses_it() {
    let repo = tempfile::tempdir().expect("tempdir");
    let ctx = ConnectContext {
        repo_root: repo.path().to_path_buf(),
        cache_dir: None,
    };
    let app = roster::desired::Office365App {
        joiner: None,
        leaver: None,
        attribute_map: Default::default(),
        on_create: Default::default(),
        name: "sandbox".into(),
        tenant: None,
        client_id: None,
        credentials: None,
        graph_url: None,
        login_url: None,
        tls: None,
        sandbox: Some(".roster/sandbox-tenant.json".into()),
        authorized_domains: Some(vec!["example.org".into()]),
        switches: Default::default(),
        ignore: Vec::new(),
        max_deletes: None,
        manage_guests: false,
        manage_role_assignable_groups: false,
        sandbox_seed: None,
    };
    let state_file = repo.path().join(".roster/sandbox-tenant.json");
    let conn = Office365Connector::connect(&app, &ctx)
        .await
        .expect("sandbox starts");
    assert!(
        conn.sandbox_url()
            .is_some_and(|u| u.starts_with("http://127.0.0.1:"))
    );
    assert!(state_file.exists(), "state file created on first use");
    let o = read_all(&conn).await;
    assert_eq!(o.app, "sandbox");
    // The verified domains, and the tenant's initial onmicrosoft one, which is not
    // authorized unless listed.
    assert_eq!(
        o.default_authorized_domains()
            .into_iter()
            .collect::<Vec<_>>(),
        vec!["example.org".to_string()]
    );
    let initial = o.initial_domain.clone().expect("an initial domain");
    assert!(initial.ends_with(".onmicrosoft.com"), "{initial}");
    assert!(o.verified_domains.contains(&initial));
    assert!(
        o.skus
            .iter()
            .any(|s| s.part_number == "ENTERPRISEPACK" && s.enabled > 0)
    );

    let mut u = user("zoe");
    u.email = "zoe@example.org".into();
    let state = desired(vec![u.clone()], vec![group("Crew", GroupKind::Security)]);
    let mut c = vec![
        group_create("Crew"),
        user_create(&u),
        member("Crew", "zoe", Action::Add),
    ];
    for ch in &mut c {
        ch.app = "sandbox".into();
    }
    let rec = apply(&conn, &c, &state, &o).await;
    assert_eq!(rec.failures(), vec![]);
    conn.close().await.expect("close persists");

    // A second run finds the same tenant.
    let conn2 = Office365Connector::connect(&app, &ctx)
        .await
        .expect("sandbox restarts");
    let o2: ObservedApp = read_all(&conn2).await;
    assert_eq!(o2.users.len(), 1);
    assert_eq!(o2.users[0].login, "zoe@example.org");
    let crew = o2.group_by_name("Crew").expect("group persisted");
    assert_eq!(crew.member_ids.len(), 1);
    conn2.close().await.expect("close");
}

#[tokio::test]
async fn https_with_an_extra_trusted_ca_file() {
    let certs = tempfile::tempdir().expect("tempdir");
    let cert = write(certs.path(), "server.pem", TLS_SERVER_CERT);
    let key = write(certs.path(), "server.key", TLS_SERVER_KEY);
    let mut cfg = config();
    cfg.tls = Some((cert, key));
    let mut env = start(cfg).await;
    assert!(env.emu.base_url().starts_with("https://"));

    // Without the CA the server is not trusted.
    let e = connect_err(&env).await;
    assert!(e.contains(APP), "{e}");

    write(env.dir.path(), "ca.pem", TLS_CA);
    env.app.tls = Some(roster::desired::TlsSettings {
        ca_file: Some("ca.pem".into()),
        server_name: None,
    });
    let conn = env.connect().await;
    // Paging over https: more users than one page holds would need nextLinks; a
    // few users and groups prove the whole read path.
    let state = desired(vec![user("tls1"), user("tls2")], vec![]);
    let changes = vec![user_create(&user("tls1")), user_create(&user("tls2"))];
    let rec = apply(&conn, &changes, &state, &ObservedApp::default()).await;
    assert_eq!(rec.failures(), vec![]);
    assert_eq!(read_all(&conn).await.users.len(), 2);

    write(env.dir.path(), "ca.pem", "not a certificate");
    let e = connect_err(&env).await;
    assert!(e.contains("ca.pem"), "{e}");
    env.emu.shutdown().await.expect("shutdown");
}
