//! Authentication to Microsoft Entra ID for Graph: the OAuth2 client-credentials grant
//! with a client secret, a certificate (a signed client assertion) or a federated token
//! (workload identity federation), and a cache that reuses the access token until
//! shortly before it expires.
//!
//! Secrets stay inside [`Secret`] values; errors name the app and the reference, and
//! carry the service's `AADSTS` code and description, never a credential.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};
use sha1::Sha1;
use sha2::{Digest, Sha256};

use crate::desired::{Office365Credentials, SecretRef};
use crate::secret::{Secret, resolve};

/// The client assertion type of RFC 7523, used for certificates and federated tokens.
const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";
/// The audience Microsoft expects on a federated (workload identity) token.
pub const FEDERATION_AUDIENCE: &str = "api://AzureADTokenExchange";
/// The environment variable that marks the GitHub Actions OIDC token service.
pub const GITHUB_TOKEN_VAR: &str = "ACTIONS_ID_TOKEN_REQUEST_TOKEN";
/// The environment variable with the GitHub Actions OIDC token service URL.
pub const GITHUB_URL_VAR: &str = "ACTIONS_ID_TOKEN_REQUEST_URL";
/// The token request's retries: brief, since a token endpoint that keeps failing is
/// better reported than waited for; certificate and DNS failures are never retried.
const TOKEN_RETRY: crate::apps::kit::retry::RetryPolicy = crate::apps::kit::retry::RetryPolicy {
    max_attempts: 4,
    base: Duration::from_millis(300),
    cap: Duration::from_secs(3),
    max_total: Duration::from_secs(30),
};

/// Where the client proves its identity from.
pub(crate) enum Credential {
    Secret(Secret),
    Certificate(CertificateSigner),
    /// An OIDC token read from a reference at every token request (files rotate).
    FederatedRef {
        reference: SecretRef,
        base: PathBuf,
    },
    /// The GitHub Actions OIDC token service.
    GithubOidc {
        url: String,
        bearer: Secret,
    },
}

/// Signs client assertions with a certificate's private key.
pub(crate) struct CertificateSigner {
    key: jsonwebtoken::EncodingKey,
    /// base64url(SHA-256(DER certificate)).
    x5t_s256: String,
    /// base64url(SHA-1(DER certificate)), for services that still look for `x5t`.
    x5t: String,
}

#[derive(Serialize)]
struct AssertionClaims<'a> {
    aud: &'a str,
    iss: &'a str,
    sub: &'a str,
    jti: String,
    nbf: i64,
    iat: i64,
    exp: i64,
}

impl CertificateSigner {
    /// Loads a PEM certificate and a PEM RSA private key (PKCS#1 or PKCS#8).
    pub(crate) fn load(cert_pem: &[u8], cert_name: &str, key_pem: &Secret) -> Result<Self> {
        use rustls::pki_types::CertificateDer;
        use rustls::pki_types::pem::PemObject;
        let der = CertificateDer::pem_slice_iter(cert_pem)
            .next()
            .ok_or_else(|| anyhow!("{cert_name} holds no PEM CERTIFICATE block"))?
            .with_context(|| format!("{cert_name} is not a readable PEM certificate"))?;
        let x5t_s256 = URL_SAFE_NO_PAD.encode(Sha256::digest(der.as_ref()));
        let x5t = URL_SAFE_NO_PAD.encode(Sha1::digest(der.as_ref()));
        let key =
            jsonwebtoken::EncodingKey::from_rsa_pem(key_pem.expose().as_bytes()).map_err(|e| {
                anyhow!("the certificate's private key is not a PEM RSA private key ({e})")
            })?;
        Ok(CertificateSigner { key, x5t_s256, x5t })
    }

    /// A fresh client assertion for `token_url`, valid ten minutes.
    pub(crate) fn assertion(&self, client_id: &str, token_url: &str) -> Result<String> {
        let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::PS256);
        header.typ = Some("JWT".into());
        header.x5t_s256 = Some(self.x5t_s256.clone());
        header.x5t = Some(self.x5t.clone());
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        let claims = AssertionClaims {
            aud: token_url,
            iss: client_id,
            sub: client_id,
            jti: uuid::Uuid::new_v4().to_string(),
            nbf: now - 60,
            iat: now,
            exp: now + 600,
        };
        jsonwebtoken::encode(&header, &claims, &self.key)
            .map_err(|e| anyhow!("cannot sign the client assertion: {e}"))
    }
}

impl Credential {
    /// Builds the credential from the app's settings, resolving every reference now
    /// so that a missing variable or file is reported before any request.
    pub(crate) fn from_settings(
        _app: &str,
        creds: &Office365Credentials,
        base: &Path,
    ) -> Result<Credential> {
        match creds {
            Office365Credentials::ClientSecret(r) => {
                let s = resolve(r, base).with_context(|| format!("client secret ({r})"))?;
                Ok(Credential::Secret(s))
            }
            Office365Credentials::Certificate(c) => {
                let cert_path = base.join(&c.cert_file);
                let cert = std::fs::read(&cert_path)
                    .with_context(|| format!("cannot read certificate {}", cert_path.display()))?;
                let key = resolve(&c.key_file, base)
                    .with_context(|| format!("certificate key ({})", c.key_file))?;
                let signer = CertificateSigner::load(&cert, &cert_path.display().to_string(), &key)
                    .context("bad certificate credentials")?;
                Ok(Credential::Certificate(signer))
            }
            Office365Credentials::FederatedToken(SecretRef::Env(name))
                if name == GITHUB_TOKEN_VAR =>
            {
                let bearer = resolve(&SecretRef::Env(name.clone()), base).with_context(|| {
                    format!(
                        "federated token from GitHub Actions ({name}; does the job have `permissions: id-token: write`?)"
                    )
                })?;
                let url = std::env::var(GITHUB_URL_VAR).map_err(|_| {
                    anyhow!("federated token from GitHub Actions: environment variable {GITHUB_URL_VAR} is not set")
                })?;
                Ok(Credential::GithubOidc { url, bearer })
            }
            Office365Credentials::FederatedToken(r) => {
                // Resolve once now to fail early; it is read again at each token request.
                resolve(r, base).with_context(|| format!("federated token ({r})"))?;
                Ok(Credential::FederatedRef {
                    reference: r.clone(),
                    base: base.to_path_buf(),
                })
            }
        }
    }
}

/// The error body of the Microsoft identity platform's token endpoint.
#[derive(Deserialize, Default)]
struct OAuthError {
    #[serde(default)]
    error: String,
    #[serde(default)]
    error_description: String,
    #[serde(default)]
    error_codes: Vec<i64>,
}

#[derive(Deserialize)]
struct TokenResponse {
    access_token: String,
    #[serde(default)]
    expires_in: Option<serde_json::Value>,
}

/// Hands out access tokens, fetching a new one when the cached one is near expiry.
pub(crate) struct TokenProvider {
    http: reqwest::Client,
    app: String,
    token_url: String,
    client_id: String,
    scope: String,
    credential: Credential,
    cache: crate::apps::kit::token_cache::TokenCache,
}

impl TokenProvider {
    pub(crate) fn new(
        http: reqwest::Client,
        app: &str,
        token_url: String,
        client_id: String,
        scope: String,
        credential: Credential,
    ) -> Self {
        TokenProvider {
            http,
            app: app.to_string(),
            token_url,
            client_id,
            scope,
            credential,
            cache: crate::apps::kit::token_cache::TokenCache::new(),
        }
    }

    /// A valid access token (cached, or fetched now).
    pub(crate) async fn token(&self) -> Result<Secret> {
        self.cache.get_or_fetch(|| self.fetch()).await
    }

    /// Forgets the cached token (after a 401), so that the next call fetches one.
    pub(crate) async fn invalidate(&self) {
        self.cache.invalidate().await;
    }

    async fn client_assertion(&self) -> Result<Option<Secret>> {
        Ok(match &self.credential {
            Credential::Secret(_) => None,
            Credential::Certificate(signer) => Some(Secret::new(
                signer.assertion(&self.client_id, &self.token_url)?,
            )),
            Credential::FederatedRef { reference, base } => Some(
                resolve(reference, base)
                    .with_context(|| format!("federated token ({reference})"))?,
            ),
            Credential::GithubOidc { url, bearer } => Some(self.github_oidc(url, bearer).await?),
        })
    }

    async fn github_oidc(&self, url: &str, bearer: &Secret) -> Result<Secret> {
        let mut u =
            url::Url::parse(url).with_context(|| format!("{GITHUB_URL_VAR} is not a URL"))?;
        u.query_pairs_mut()
            .append_pair("audience", FEDERATION_AUDIENCE);
        let resp = self
            .http
            .get(u)
            .header("Authorization", format!("bearer {}", bearer.expose()))
            .send()
            .await
            .context("cannot reach the GitHub OIDC token service")?;
        let status = resp.status();
        if !status.is_success() {
            bail!("the GitHub OIDC token service answered HTTP {status}");
        }
        #[derive(Deserialize)]
        struct V {
            value: String,
        }
        let v: V = resp
            .json()
            .await
            .context("unexpected answer from the GitHub OIDC token service")?;
        Ok(Secret::new(v.value))
    }

    async fn fetch(&self) -> Result<(Secret, Duration)> {
        use crate::apps::kit::retry::{self, Failure};
        let policy = TOKEN_RETRY;
        let started = std::time::Instant::now();
        let mut attempt = 0u32;
        loop {
            attempt += 1;
            let mut form: Vec<(&str, String)> = vec![
                ("grant_type", "client_credentials".into()),
                ("client_id", self.client_id.clone()),
                ("scope", self.scope.clone()),
            ];
            match &self.credential {
                Credential::Secret(s) => form.push(("client_secret", s.expose().to_string())),
                _ => {
                    if let Some(a) = self.client_assertion().await? {
                        form.push(("client_assertion_type", JWT_BEARER.into()));
                        form.push(("client_assertion", a.expose().to_string()));
                    }
                }
            }
            let (failure, err) = match self.http.post(&self.token_url).form(&form).send().await {
                Err(e) => (
                    retry::classify_transport(&e),
                    anyhow!(
                        "cannot reach the token endpoint {}: {}",
                        self.token_url,
                        without_url(&e)
                    ),
                ),
                Ok(resp) => {
                    let status = resp.status();
                    let retry_after = resp
                        .headers()
                        .get(reqwest::header::RETRY_AFTER)
                        .and_then(|v| v.to_str().ok())
                        .and_then(|v| retry::parse_retry_after(v, std::time::SystemTime::now()));
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
                        return Ok((
                            Secret::new(t.access_token),
                            Duration::from_secs(secs.min(86_400)),
                        ));
                    }
                    match retry::classify_status(status.as_u16(), retry_after) {
                        Failure::Permanent => {
                            let e: OAuthError = serde_json::from_slice(&body).unwrap_or_default();
                            bail!("{}", self.describe_oauth_error(status.as_u16(), &e));
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
            let delay = policy.next_delay(attempt, failure, started.elapsed(), &mut rand::rng());
            match delay {
                Some(d) => {
                    tracing::debug!(app = %self.app, attempt, error = %err, "retrying the token request");
                    tokio::time::sleep(d).await;
                }
                None => return Err(err),
            }
        }
    }

    fn describe_oauth_error(&self, status: u16, e: &OAuthError) -> String {
        let kind = match &self.credential {
            Credential::Secret(_) => "client secret",
            Credential::Certificate(_) => "certificate",
            Credential::FederatedRef { .. } | Credential::GithubOidc { .. } => "federated token",
        };
        // The description's first line carries the AADSTS code; trace ids follow.
        let desc = e.error_description.lines().next().unwrap_or("").trim();
        let mut msg = format!(
            "authentication with {kind} for client {} failed (HTTP {status}",
            self.client_id
        );
        if !e.error.is_empty() {
            msg.push_str(", ");
            msg.push_str(&e.error);
        }
        msg.push(')');
        if !desc.is_empty() {
            msg.push_str(": ");
            msg.push_str(desc);
        }
        if !desc.contains("AADSTS")
            && let Some(code) = e.error_codes.first()
        {
            msg.push_str(&format!(" (AADSTS{code})"));
        }
        msg
    }
}

/// The error of a transport failure, without the URL (which reqwest may include).
pub(crate) fn without_url(e: &reqwest::Error) -> String {
    let mut s = if e.is_timeout() {
        "timed out".to_string()
    } else if e.is_connect() {
        "connection failed".to_string()
    } else {
        "transport error".to_string()
    };
    let mut src = std::error::Error::source(e);
    while let Some(inner) = src {
        s.push_str(": ");
        s.push_str(&inner.to_string());
        src = inner.source();
    }
    s
}

/// The tenant id (`tid` claim) of an access token, when it is a readable JWT.
pub(crate) fn tenant_id_of(token: &Secret) -> Option<String> {
    let payload = token.expose().split('.').nth(1)?;
    let bytes = URL_SAFE_NO_PAD.decode(payload.trim_end_matches('=')).ok()?;
    let v: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
    v.get("tid")?.as_str().map(str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tenant_id_is_read_from_a_jwt_payload() {
        let payload = URL_SAFE_NO_PAD.encode(br#"{"tid":"abc-123","aud":"x"}"#);
        let tok = Secret::new(format!("e30.{payload}.sig"));
        assert_eq!(tenant_id_of(&tok).as_deref(), Some("abc-123"));
        assert_eq!(tenant_id_of(&Secret::new("opaque")), None);
        assert_eq!(tenant_id_of(&Secret::new("a.%%%.b")), None);
    }

    #[test]
    fn oauth_errors_carry_the_aadsts_code_and_not_the_secret() {
        let p = TokenProvider::new(
            reqwest::Client::new(),
            "o365",
            "https://login.example/t/oauth2/v2.0/token".into(),
            "cid".into(),
            "https://graph.microsoft.com/.default".into(),
            Credential::Secret(Secret::new("hunter2-very-secret")),
        );
        let e = OAuthError {
            error: "invalid_client".into(),
            error_description: "AADSTS7000215: Invalid client secret provided.\r\nTrace ID: 1"
                .into(),
            error_codes: vec![7000215],
        };
        let m = p.describe_oauth_error(401, &e);
        assert!(m.contains("AADSTS7000215"), "{m}");
        assert!(!m.contains("Trace ID"), "{m}");
        assert!(!m.contains("hunter2"), "{m}");
        let e2 = OAuthError {
            error: "invalid_client".into(),
            error_description: String::new(),
            error_codes: vec![700016],
        };
        assert!(p.describe_oauth_error(400, &e2).contains("AADSTS700016"));
    }

    #[test]
    fn missing_env_secret_is_named() {
        let r = Office365Credentials::ClientSecret(SecretRef::Env(
            "ROSTER_TEST_SURELY_UNSET_VAR_1".into(),
        ));
        let e = Credential::from_settings("o365", &r, Path::new("."))
            .err()
            .map(|e| format!("{e:#}"))
            .unwrap_or_default();
        assert!(
            e.contains("client secret") && e.contains("ROSTER_TEST_SURELY_UNSET_VAR_1"),
            "{e}"
        );
    }

    #[test]
    fn bad_certificate_is_reported() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("c.pem"), "not a pem").expect("write");
        std::fs::write(dir.path().join("k.pem"), "not a key").expect("write");
        let r = Office365Credentials::Certificate(crate::desired::CertificateCredentials {
            cert_file: "c.pem".into(),
            key_file: SecretRef::File("k.pem".into()),
        });
        let e = Credential::from_settings("o365", &r, dir.path())
            .err()
            .map(|e| format!("{e:#}"))
            .unwrap_or_default();
        assert!(e.contains("c.pem") && e.contains("certificate"), "{e}");
    }
}
