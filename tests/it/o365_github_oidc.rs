//! Keyless auth from a CI provider: the federated credential is fetched from a
//! GitHub-Actions-style OIDC token service (with the federation audience) and
//! exchanged at the emulator's token endpoint. Alone in its binary because it sets
//! process environment variables.

use crate::o365_common;

use std::net::SocketAddr;

use o365_common::keys::*;
use o365_common::*;
use roster::desired::{Office365Credentials, SecretRef};
use roster::emulator::{FederatedCredential, FederatedKey};
use serde_json::json;

const ISSUER: &str = "https://token.actions.githubusercontent.com";
const SUBJECT: &str = "repo:example/identity:environment:production";

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

fn federated_config(dir: &std::path::Path) -> roster::emulator::EmulatorConfig {
    let pubkey = dir.join("issuer.pub");
    std::fs::write(&pubkey, TEST_PUBLIC_KEY).expect("write");
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

/// A stand-in for the GitHub Actions OIDC token service: checks the bearer token and
/// the audience, and hands out a signed token.
async fn oidc_service(bearer: &'static str) -> String {
    use axum::extract::Query;
    use axum::http::{HeaderMap, StatusCode};
    use std::collections::HashMap;
    let app = axum::Router::new().route(
        "/token",
        axum::routing::get(
            move |headers: HeaderMap, Query(q): Query<HashMap<String, String>>| async move {
                let auth = headers
                    .get("authorization")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("");
                if !auth.eq_ignore_ascii_case(&format!("bearer {bearer}")) {
                    return Err(StatusCode::UNAUTHORIZED);
                }
                let aud = q.get("audience").cloned().unwrap_or_default();
                Ok(axum::Json(json!({"value": oidc_token(SUBJECT, &aud)})))
            },
        ),
    );
    let listener = tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0)))
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    format!("http://{addr}/token?api-version=2.0")
}

#[tokio::test]
async fn github_actions_oidc_tokens_are_fetched_with_the_federation_audience() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut env = start(federated_config(dir.path())).await;
    let url = oidc_service("gh-request-token").await;
    // SAFETY: this is the only test of this binary; no other thread reads or writes
    // the environment meanwhile.
    unsafe {
        std::env::set_var("ACTIONS_ID_TOKEN_REQUEST_URL", &url);
        std::env::set_var("ACTIONS_ID_TOKEN_REQUEST_TOKEN", "gh-request-token");
    }
    env.app.credentials = Some(Office365Credentials::FederatedToken(SecretRef::Env(
        "ACTIONS_ID_TOKEN_REQUEST_TOKEN".into(),
    )));
    let conn = env.connect().await;
    assert!(read_all(&conn).await.users.is_empty());
    env.emu.shutdown().await.expect("shutdown");
}
