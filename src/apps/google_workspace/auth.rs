//! Authentication to Google as a service account with domain-wide delegation: the
//! OAuth 2.0 JWT bearer grant (RFC 7523 §2.1). roster signs an assertion with the
//! service account's private key (RS256; `iss` the account's email, `sub` the admin
//! it acts as, `scope` the Directory API scopes, `aud` the token endpoint) and
//! exchanges it for an access token, which is cached until shortly before it expires.
//!
//! The key stays inside [`Secret`] values and a `jsonwebtoken::EncodingKey`; errors
//! carry the account's email, the endpoint and Google's `error` / `error_description`,
//! never the key or a token.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Result, anyhow, bail};
use serde::{Deserialize, Serialize};

use crate::apps::kit::retry::{self, Failure};
use crate::secret::Secret;

/// The grant type of RFC 7523 §2.1.
pub const JWT_BEARER_GRANT: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";
/// The Directory API scopes roster asks for: users, groups and group members.
pub const SCOPES: &[&str] = &[
    "https://www.googleapis.com/auth/admin.directory.user",
    "https://www.googleapis.com/auth/admin.directory.group",
    "https://www.googleapis.com/auth/admin.directory.group.member",
];
/// An assertion's lifetime (Google accepts at most one hour).
const ASSERTION_LIFETIME: u64 = 3600;
/// The token request's retries: brief, a token endpoint that keeps failing is better
/// reported than waited for.
const TOKEN_RETRY: retry::RetryPolicy = retry::RetryPolicy {
    max_attempts: 4,
    base: Duration::from_millis(300),
    cap: Duration::from_secs(3),
    max_total: Duration::from_secs(30),
};

/// The fields of a service account's JSON key that roster uses.
#[derive(Deserialize)]
struct KeyFile {
    #[serde(default, rename = "type")]
    kind: Option<String>,
    client_email: Option<String>,
    private_key: Option<String>,
    #[serde(default)]
    private_key_id: Option<String>,
}

/// A service account: its email and its signing key.
pub struct ServiceAccount {
    pub client_email: String,
    key_id: Option<String>,
    key: jsonwebtoken::EncodingKey,
}

impl std::fmt::Debug for ServiceAccount {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServiceAccount")
            .field("client_email", &self.client_email)
            .finish_non_exhaustive()
    }
}

impl ServiceAccount {
    /// Parses the JSON key Google Cloud exports for a service account. Errors say
    /// which field is wrong, never what the key holds.
    pub fn from_json(json: &Secret) -> Result<ServiceAccount> {
        let k: KeyFile = serde_json::from_str(json.expose()).map_err(|e| {
            anyhow!(
                "the service account key is not a JSON key file (line {}, column {}): download a JSON key of the service account in the Google Cloud console",
                e.line(),
                e.column()
            )
        })?;
        if let Some(kind) = &k.kind
            && kind != "service_account"
        {
            bail!(
                "the key file is of type `{kind}`, not a service account key (`service_account`)"
            );
        }
        let client_email = k
            .client_email
            .filter(|e| e.contains('@'))
            .ok_or_else(|| anyhow!("the service account key has no `client_email`"))?;
        let pem = k
            .private_key
            .filter(|p| !p.trim().is_empty())
            .ok_or_else(|| anyhow!("the service account key has no `private_key`"))?;
        let key = jsonwebtoken::EncodingKey::from_rsa_pem(pem.as_bytes()).map_err(|_| {
            anyhow!(
                "the `private_key` of service account {client_email} is not an RSA private key in PEM"
            )
        })?;
        Ok(ServiceAccount {
            client_email,
            key_id: k.private_key_id.filter(|s| !s.is_empty()),
            key,
        })
    }

    /// A signed JWT bearer assertion for `subject` at `audience`, issued at `now`
    /// (seconds since the epoch).
    pub fn assertion(&self, subject: &str, audience: &str, now: u64) -> Result<Secret> {
        let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256);
        header.kid = self.key_id.clone();
        let claims = Claims {
            iss: &self.client_email,
            sub: subject,
            scope: SCOPES.join(" "),
            aud: audience,
            iat: now,
            exp: now + ASSERTION_LIFETIME,
        };
        jsonwebtoken::encode(&header, &claims, &self.key)
            .map(Secret::new)
            .map_err(|e| anyhow!("cannot sign the token request assertion: {e}"))
    }
}

#[derive(Serialize)]
struct Claims<'a> {
    iss: &'a str,
    sub: &'a str,
    scope: String,
    aud: &'a str,
    iat: u64,
    exp: u64,
}

#[derive(Deserialize, Default)]
struct OAuthError {
    #[serde(default)]
    error: String,
    #[serde(default)]
    error_description: String,
}

#[derive(Deserialize)]
struct TokenResponse {
    access_token: String,
    #[serde(default)]
    expires_in: Option<serde_json::Value>,
}

/// Hands out access tokens, fetching a new one when the cached one is near expiry.
pub struct TokenProvider {
    http: reqwest::Client,
    app: String,
    token_url: String,
    subject: String,
    account: ServiceAccount,
    cache: crate::apps::kit::token_cache::TokenCache,
    /// Tokens fetched so far (tests and `-v` logs).
    fetched: std::sync::atomic::AtomicU32,
}

impl TokenProvider {
    pub fn new(
        http: reqwest::Client,
        app: &str,
        token_url: &str,
        subject: &str,
        account: ServiceAccount,
    ) -> Self {
        TokenProvider {
            http,
            app: app.to_string(),
            token_url: token_url.to_string(),
            subject: subject.to_string(),
            account,
            cache: crate::apps::kit::token_cache::TokenCache::new(),
            fetched: std::sync::atomic::AtomicU32::new(0),
        }
    }

    /// How many tokens were fetched (not served from the cache).
    pub fn fetched(&self) -> u32 {
        self.fetched.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// A valid access token (cached, or fetched now).
    pub async fn token(&self) -> Result<Secret> {
        self.cache.get_or_fetch(|| self.fetch()).await
    }

    /// Forgets the cached token (after a 401), so that the next call fetches one.
    pub async fn invalidate(&self) {
        self.cache.invalidate().await;
    }

    async fn fetch(&self) -> Result<(Secret, Duration)> {
        let started = Instant::now();
        let mut attempt = 0u32;
        loop {
            attempt += 1;
            let now = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or(0);
            let assertion = self
                .account
                .assertion(&self.subject, &self.token_url, now)?;
            let form = [
                ("grant_type", JWT_BEARER_GRANT),
                ("assertion", assertion.expose()),
            ];
            let (failure, err) = match self.http.post(&self.token_url).form(&form).send().await {
                Err(e) => (
                    retry::classify_transport(&e),
                    anyhow!(
                        "cannot reach the token endpoint {}: {}",
                        self.token_url,
                        crate::apps::office365::auth::without_url(&e)
                    ),
                ),
                Ok(resp) => {
                    let status = resp.status();
                    let retry_after = resp
                        .headers()
                        .get(reqwest::header::RETRY_AFTER)
                        .and_then(|v| v.to_str().ok())
                        .and_then(|v| retry::parse_retry_after(v, SystemTime::now()));
                    let body = resp.bytes().await.unwrap_or_default();
                    if status.is_success() {
                        let t: TokenResponse = serde_json::from_slice(&body).map_err(|_| {
                            anyhow!(
                                "the token endpoint {} answered without an access token",
                                self.token_url
                            )
                        })?;
                        let secs = match &t.expires_in {
                            Some(serde_json::Value::Number(n)) => n.as_u64().unwrap_or(3600),
                            Some(serde_json::Value::String(s)) => s.parse().unwrap_or(3600),
                            _ => 3600,
                        };
                        self.fetched
                            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        tracing::debug!(app = %self.app, expires_in = secs, "access token fetched");
                        return Ok((
                            Secret::new(t.access_token),
                            Duration::from_secs(secs.min(86_400)),
                        ));
                    }
                    match retry::classify_status(status.as_u16(), retry_after) {
                        Failure::Permanent => {
                            let e: OAuthError = serde_json::from_slice(&body).unwrap_or_default();
                            bail!("{}", self.describe(status.as_u16(), &e));
                        }
                        transient => (
                            transient,
                            anyhow!(
                                "the token endpoint {} answered HTTP {status}",
                                self.token_url
                            ),
                        ),
                    }
                }
            };
            let delay = {
                let mut rng = rand::rng();
                TOKEN_RETRY.next_delay(attempt, failure, started.elapsed(), &mut rng)
            };
            match delay {
                Some(d) => {
                    tracing::debug!(app = %self.app, attempt, error = %err, "retrying the token request");
                    tokio::time::sleep(d).await;
                }
                None => return Err(err),
            }
        }
    }

    fn describe(&self, status: u16, e: &OAuthError) -> String {
        let mut msg = format!(
            "authentication of service account {} as {} failed (HTTP {status}",
            self.account.client_email, self.subject
        );
        if !e.error.is_empty() {
            msg.push_str(", ");
            msg.push_str(&e.error);
        }
        msg.push(')');
        let desc = e.error_description.lines().next().unwrap_or("").trim();
        if !desc.is_empty() {
            msg.push_str(": ");
            msg.push_str(desc);
        }
        if e.error == "unauthorized_client" {
            msg.push_str(
                " (domain-wide delegation: the account's client id must be allowed the Directory API scopes in the Admin console, Security > API controls; see docs/google-workspace.md)",
            );
        }
        msg
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A throwaway RSA key: its PKCS#8 PEM and its public key for verifying, made
    /// with aws-lc-rs as the Graph emulator makes its signing key.
    pub(crate) fn key_pair() -> (String, jsonwebtoken::DecodingKey) {
        use aws_lc_rs::encoding::AsDer as _;
        use aws_lc_rs::signature::KeyPair as _;
        use base64::Engine as _;
        let pair = aws_lc_rs::rsa::KeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048)
            .expect("an RSA key");
        let der = pair.as_der().expect("PKCS#8");
        let b64 = base64::engine::general_purpose::STANDARD.encode(der.as_ref());
        let mut pem = String::from("-----BEGIN PRIVATE KEY-----\n");
        for line in b64.as_bytes().chunks(64) {
            pem.push_str(std::str::from_utf8(line).unwrap());
            pem.push('\n');
        }
        pem.push_str("-----END PRIVATE KEY-----\n");
        let public = pair.public_key();
        let decoding = jsonwebtoken::DecodingKey::from_rsa_raw_components(
            public.modulus().big_endian_without_leading_zero(),
            public.exponent().big_endian_without_leading_zero(),
        );
        (pem, decoding)
    }

    pub(crate) fn key_json(pem: &str) -> String {
        serde_json::json!({
            "type": "service_account",
            "project_id": "p",
            "private_key_id": "kid-1",
            "private_key": pem,
            "client_email": "roster@p.iam.gserviceaccount.com",
            "client_id": "1234",
            "token_uri": "https://oauth2.googleapis.com/token",
        })
        .to_string()
    }

    #[test]
    fn assertions_are_rs256_with_the_delegation_claims() {
        let (pem, public) = key_pair();
        let sa = ServiceAccount::from_json(&Secret::new(key_json(&pem))).unwrap();
        assert_eq!(sa.client_email, "roster@p.iam.gserviceaccount.com");
        assert!(!format!("{sa:?}").contains("PRIVATE"));
        let jwt = sa
            .assertion(
                "admin@example.com",
                "https://oauth2.googleapis.com/token",
                1_000,
            )
            .unwrap();
        let header = jsonwebtoken::decode_header(jwt.expose()).unwrap();
        assert_eq!(header.alg, jsonwebtoken::Algorithm::RS256);
        assert_eq!(header.kid.as_deref(), Some("kid-1"));
        let mut v = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::RS256);
        v.set_audience(&["https://oauth2.googleapis.com/token"]);
        v.validate_exp = false;
        let data = jsonwebtoken::decode::<serde_json::Value>(jwt.expose(), &public, &v)
            .expect("verifies with the public key");
        let c = data.claims;
        assert_eq!(c["iss"], "roster@p.iam.gserviceaccount.com");
        assert_eq!(c["sub"], "admin@example.com");
        assert_eq!(c["iat"], 1_000);
        assert_eq!(c["exp"], 1_000 + ASSERTION_LIFETIME);
        let scope = c["scope"].as_str().unwrap();
        for s in SCOPES {
            assert!(scope.split(' ').any(|x| x == *s), "{scope}");
        }
    }

    #[test]
    fn bad_keys_are_named_without_their_content() {
        let e = ServiceAccount::from_json(&Secret::new("{not json")).unwrap_err();
        assert!(e.to_string().contains("not a JSON key file"), "{e}");
        let e = ServiceAccount::from_json(&Secret::new(
            r#"{"type":"authorized_user","client_email":"a@b","private_key":"x"}"#,
        ))
        .unwrap_err();
        assert!(e.to_string().contains("authorized_user"), "{e}");
        let e = ServiceAccount::from_json(&Secret::new(
            r#"{"type":"service_account","client_email":"a@b.iam","private_key":"-----BEGIN PRIVATE KEY-----\nc2VjcmV0\n-----END PRIVATE KEY-----\n"}"#,
        ))
        .unwrap_err();
        assert!(e.to_string().contains("not an RSA private key"), "{e}");
        assert!(!e.to_string().contains("c2VjcmV0"), "{e}");
    }
}
