//! Token endpoint credentials beyond secrets: certificate client assertions (RS256/PS256,
//! `x5t` and `x5t#S256` checked against the registered certificate) and federated
//! assertions (issuer/subject/audience, verified with a PEM public key or a JWKS file).
//! Also the standalone binary: CLI flags, the ready line, SIGTERM saving state.

use crate::emulator_support as support;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use base64::Engine;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use roster::emulator::{self, EmulatorConfig, FederatedCredential, FederatedKey};
use serde_json::{Value, json};
use sha1::Digest;
use support::*;

const CERT_APP: &str = "aaaaaaaa-0000-0000-0000-000000000001";
const FED_APP: &str = "aaaaaaaa-0000-0000-0000-000000000002";
const FED_JWKS_APP: &str = "aaaaaaaa-0000-0000-0000-000000000003";
const ISSUER: &str = "https://token.actions.githubusercontent.com";
const SUBJECT: &str = "repo:contoso/identity:ref:refs/heads/main";
const AUDIENCE: &str = "api://AzureADTokenExchange";

fn openssl(dir: &Path, args: &[&str]) -> Vec<u8> {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("openssl CLI is installed");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

struct Keys {
    cert: PathBuf,
    key_pem: Vec<u8>,
    other_key_pem: Vec<u8>,
    pub_pem: PathBuf,
    jwks: PathBuf,
    cert_der: Vec<u8>,
}

fn make_keys(dir: &Path) -> Keys {
    openssl(
        dir,
        &[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "2",
            "-subj",
            "/CN=roster app",
            "-keyout",
            "app.key",
            "-out",
            "app.pem",
        ],
    );
    openssl(
        dir,
        &[
            "genpkey",
            "-algorithm",
            "RSA",
            "-pkeyopt",
            "rsa_keygen_bits:2048",
            "-out",
            "other.key",
        ],
    );
    openssl(
        dir,
        &[
            "genpkey",
            "-algorithm",
            "RSA",
            "-pkeyopt",
            "rsa_keygen_bits:2048",
            "-out",
            "idp.key",
        ],
    );
    openssl(
        dir,
        &["pkey", "-in", "idp.key", "-pubout", "-out", "idp.pub.pem"],
    );
    let der = openssl(dir, &["x509", "-in", "app.pem", "-outform", "DER"]);
    // JWKS from the IdP key's modulus.
    let modulus_hex = String::from_utf8(openssl(
        dir,
        &["rsa", "-in", "idp.key", "-noout", "-modulus"],
    ))
    .expect("utf8");
    let hex = modulus_hex.trim().trim_start_matches("Modulus=");
    let n: Vec<u8> = (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).expect("hex"))
        .collect();
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let jwks = json!({"keys": [{"kty": "RSA", "kid": "idp-key-1", "use": "sig", "alg": "RS256", "n": b64.encode(&n), "e": "AQAB"}]});
    std::fs::write(dir.join("jwks.json"), jwks.to_string()).expect("write jwks");
    Keys {
        cert: dir.join("app.pem"),
        key_pem: std::fs::read(dir.join("app.key")).expect("key"),
        other_key_pem: std::fs::read(dir.join("other.key")).expect("key"),
        pub_pem: dir.join("idp.pub.pem"),
        jwks: dir.join("jwks.json"),
        cert_der: der,
    }
}

fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

fn sign(header: Header, claims: Value, key_pem: &[u8]) -> String {
    jsonwebtoken::encode(
        &header,
        &claims,
        &EncodingKey::from_rsa_pem(key_pem).expect("rsa key"),
    )
    .expect("sign")
}

async fn exchange(http: &reqwest::Client, base: &str, client: &str, assertion: &str) -> Resp {
    to_resp(
        http.post(format!("{base}/contoso/oauth2/v2.0/token"))
            .form(&[
                ("grant_type", "client_credentials"),
                ("client_id", client),
                (
                    "client_assertion_type",
                    "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
                ),
                ("client_assertion", assertion),
                ("scope", "https://graph.microsoft.com/.default"),
            ])
            .send()
            .await
            .expect("send"),
    )
    .await
}

#[tokio::test]
async fn certificate_and_federated_assertions() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let k = make_keys(tmp.path());
    let cfg = EmulatorConfig {
        certificates: vec![(CERT_APP.into(), k.cert.clone())],
        federated: vec![
            FederatedCredential {
                client_id: FED_APP.into(),
                issuer: ISSUER.into(),
                subject: SUBJECT.into(),
                audience: AUDIENCE.into(),
                key: FederatedKey::PublicKeyPem(k.pub_pem.clone()),
            },
            FederatedCredential {
                client_id: FED_JWKS_APP.into(),
                issuer: ISSUER.into(),
                subject: SUBJECT.into(),
                audience: AUDIENCE.into(),
                key: FederatedKey::JwksFile(k.jwks.clone()),
            },
        ],
        ..config()
    };
    let handle = emulator::start(cfg, "127.0.0.1:0".parse().expect("addr"))
        .await
        .expect("start");
    let base = handle.base_url();
    let http = reqwest::Client::new();
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let x5t = b64.encode(sha1::Sha1::digest(&k.cert_der));
    let x5t256 = b64.encode(sha2::Sha256::digest(&k.cert_der));
    let aud = format!(
        "https://login.microsoftonline.com/{}/oauth2/v2.0/token",
        "contoso"
    );
    let claims = |aud: &str, exp: i64| json!({"aud": aud, "iss": CERT_APP, "sub": CERT_APP, "jti": uuid::Uuid::new_v4().to_string(), "nbf": now() - 5, "exp": exp});

    // RS256 with x5t.
    let mut h = Header::new(Algorithm::RS256);
    h.x5t = Some(x5t.clone());
    let r = exchange(
        &http,
        &base,
        CERT_APP,
        &sign(h.clone(), claims(&aud, now() + 600), &k.key_pem),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let token = r.body["access_token"].as_str().expect("token").to_string();
    let g = to_resp(
        http.get(format!("{base}/v1.0/users"))
            .bearer_auth(&token)
            .send()
            .await
            .expect("send"),
    )
    .await;
    assert_eq!(g.status, 200, "the issued token works on Graph");
    // The emulator's own token URL is an accepted audience too.
    let own = format!("{base}/contoso/oauth2/v2.0/token");
    assert_eq!(
        exchange(
            &http,
            &base,
            CERT_APP,
            &sign(h.clone(), claims(&own, now() + 600), &k.key_pem)
        )
        .await
        .status,
        200
    );
    // PS256 with x5t#S256.
    let mut h2 = Header::new(Algorithm::PS256);
    h2.x5t_s256 = Some(x5t256);
    let r = exchange(
        &http,
        &base,
        CERT_APP,
        &sign(h2, claims(&aud, now() + 600), &k.key_pem),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    // Unknown thumbprint.
    let mut bad = Header::new(Algorithm::RS256);
    bad.x5t = Some(b64.encode([0u8; 20]));
    let r = exchange(
        &http,
        &base,
        CERT_APP,
        &sign(bad, claims(&aud, now() + 600), &k.key_pem),
    )
    .await;
    assert_eq!(
        (r.status, r.body["error_codes"][0].as_i64()),
        (401, Some(700027)),
        "{}",
        r.text
    );
    // Right thumbprint, wrong key.
    let r = exchange(
        &http,
        &base,
        CERT_APP,
        &sign(h.clone(), claims(&aud, now() + 600), &k.other_key_pem),
    )
    .await;
    assert_eq!(r.body["error"], "invalid_client", "{}", r.text);
    assert!(
        r.body["error_description"]
            .as_str()
            .expect("d")
            .contains("signature"),
        "{}",
        r.text
    );
    // Expired.
    let r = exchange(
        &http,
        &base,
        CERT_APP,
        &sign(h.clone(), claims(&aud, now() - 600), &k.key_pem),
    )
    .await;
    assert_eq!(r.body["error_codes"][0], 700024, "{}", r.text);
    // Wrong audience.
    let r = exchange(
        &http,
        &base,
        CERT_APP,
        &sign(
            h.clone(),
            claims("https://example.com/token", now() + 600),
            &k.key_pem,
        ),
    )
    .await;
    assert_eq!(r.body["error"], "invalid_client", "{}", r.text);
    // Garbage assertion.
    assert_eq!(
        exchange(&http, &base, CERT_APP, "not.a.jwt").await.status,
        400
    );

    // Federated: a token from the configured issuer with the right subject and audience.
    let fed = |iss: &str, sub: &str, aud: &str| json!({"iss": iss, "sub": sub, "aud": aud, "nbf": now() - 5, "exp": now() + 600, "iat": now()});
    let mut fh = Header::new(Algorithm::RS256);
    fh.kid = Some("idp-key-1".into());
    let idp_key = std::fs::read(tmp.path().join("idp.key")).expect("idp key");
    for app in [FED_APP, FED_JWKS_APP] {
        let r = exchange(
            &http,
            &base,
            app,
            &sign(fh.clone(), fed(ISSUER, SUBJECT, AUDIENCE), &idp_key),
        )
        .await;
        assert_eq!(r.status, 200, "{app}: {}", r.text);
    }
    let r = exchange(
        &http,
        &base,
        FED_APP,
        &sign(
            fh.clone(),
            fed("https://evil.example", SUBJECT, AUDIENCE),
            &idp_key,
        ),
    )
    .await;
    assert_eq!(r.body["error_codes"][0], 700211, "{}", r.text);
    let r = exchange(
        &http,
        &base,
        FED_APP,
        &sign(
            fh.clone(),
            fed(ISSUER, "repo:contoso/other:ref:refs/heads/main", AUDIENCE),
            &idp_key,
        ),
    )
    .await;
    assert_eq!(r.body["error_codes"][0], 700213, "{}", r.text);
    let r = exchange(
        &http,
        &base,
        FED_APP,
        &sign(fh.clone(), fed(ISSUER, SUBJECT, "api://other"), &idp_key),
    )
    .await;
    assert_eq!(r.body["error_codes"][0], 700212, "{}", r.text);
    let r = exchange(
        &http,
        &base,
        FED_JWKS_APP,
        &sign(fh.clone(), fed(ISSUER, SUBJECT, AUDIENCE), &k.key_pem),
    )
    .await;
    assert_eq!(
        r.body["error"], "invalid_client",
        "signed by a key the issuer does not publish: {}",
        r.text
    );
    handle.shutdown().await.expect("shutdown");
}

#[tokio::test]
async fn binary_flags_ready_line_and_sigterm_saves_state() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let state = tmp.path().join("tenant.json");
    let mut child = Command::new(env!("CARGO_BIN_EXE_roster-graph-emulator"))
        .args([
            "--listen",
            "127.0.0.1:0",
            "--tenant",
            "contoso",
            "--domain",
            "contoso.com",
            "--domain",
            "example.org",
        ])
        .args([
            "--sku",
            "ENTERPRISEPACK:25",
            "--sku",
            "EMS:5",
            "--client",
            &format!("{CLIENT}:{SECRET}"),
        ])
        .args([
            "--ru-per-10s",
            "10000",
            "--writes-per-150s",
            "3000",
            "--fault-rate",
            "0",
            "--seed",
            "1",
            "--replication-lag-ms",
            "0",
        ])
        .arg("--state")
        .arg(&state)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn emulator binary");
    let stdout = child.stdout.take().expect("stdout");
    let line = tokio::task::spawn_blocking(move || {
        let mut l = String::new();
        let _ = BufReader::new(stdout).read_line(&mut l);
        l
    })
    .await
    .expect("join");
    let base = line
        .trim()
        .strip_prefix("listening on ")
        .unwrap_or_else(|| panic!("ready line: {line:?}"))
        .to_string();
    assert!(base.starts_with("http://127.0.0.1:"));
    let http = reqwest::Client::new();
    let token = get_token(&http, &base, "contoso").await;
    let emu_get = |p: &str| {
        http.get(format!("{base}/v1.0{p}"))
            .bearer_auth(&token)
            .send()
    };
    let d: Value = emu_get("/domains")
        .await
        .expect("get")
        .json()
        .await
        .expect("json");
    // Two --domain flags and the initial contoso.onmicrosoft.com.
    assert_eq!(d["value"].as_array().map(Vec::len), Some(3));
    let s: Value = emu_get("/subscribedSkus")
        .await
        .expect("get")
        .json()
        .await
        .expect("json");
    assert_eq!(s["value"][0]["prepaidUnits"]["enabled"], 25);
    let r = http
        .post(format!("{base}/v1.0/users"))
        .bearer_auth(&token)
        .json(&new_user("sigterm"))
        .send()
        .await
        .expect("post");
    assert_eq!(r.status().as_u16(), 201);
    // SIGTERM right away, before the debounced write: the state must still be saved.
    let kill = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(kill.success());
    let status = tokio::task::spawn_blocking(move || child.wait())
        .await
        .expect("join")
        .expect("wait");
    assert!(status.success(), "clean exit on SIGTERM: {status:?}");
    let saved = std::fs::read_to_string(&state).expect("state file");
    assert!(saved.contains("sigterm@contoso.com"));
    let bad = Command::new(env!("CARGO_BIN_EXE_roster-graph-emulator"))
        .args(["--listen", "127.0.0.1:0", "--sku", "NOSEATS"])
        .output()
        .expect("run");
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("PART_NUMBER:SEATS"));
}
