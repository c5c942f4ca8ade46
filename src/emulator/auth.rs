//! The emulated Microsoft identity platform token endpoint (`/{tenant}/oauth2/v2.0/token`,
//! client credentials via secret, certificate assertion or federated assertion, with
//! AADSTS error bodies) and the bearer-token check every Graph call goes through.

use std::path::PathBuf;

use base64::Engine;
use jsonwebtoken::{Algorithm, DecodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sha1::Digest;

use super::error::{GraphError, iso_now};

/// A federated identity credential: which external tokens may be exchanged for an app.
#[derive(Debug, Clone)]
pub struct FederatedCredential {
    pub client_id: String,
    pub issuer: String,
    pub subject: String,
    pub audience: String,
    pub key: FederatedKey,
}

/// How the external issuer's signatures are verified.
#[derive(Debug, Clone)]
pub enum FederatedKey {
    /// A PEM public key (RSA or EC) or certificate.
    PublicKeyPem(PathBuf),
    /// A JWKS document (`{"keys":[...]}`), keys picked by `kid`.
    JwksFile(PathBuf),
}

/// Claims of the access tokens the emulator issues.
#[derive(Debug, Serialize, Deserialize)]
pub struct AccessClaims {
    pub aud: String,
    pub iss: String,
    pub iat: i64,
    pub nbf: i64,
    pub exp: i64,
    pub appid: String,
    pub tid: String,
    pub roles: Vec<String>,
}

/// An OAuth error as the token endpoint returns it.
#[derive(Debug, Clone)]
pub struct OAuthError {
    pub status: u16,
    pub error: &'static str,
    pub code: u32,
    pub description: String,
}

impl OAuthError {
    /// AADSTS90002: the tenant in the path is unknown.
    pub fn tenant_not_found(tenant: &str) -> Self {
        OAuthError::new(
            400,
            "invalid_request",
            90002,
            format!(
                "Tenant '{tenant}' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud."
            ),
        )
    }

    fn new(status: u16, error: &'static str, code: u32, description: impl Into<String>) -> Self {
        OAuthError {
            status,
            error,
            code,
            description: description.into(),
        }
    }

    pub fn body(&self, trace_id: &str, correlation_id: &str, now: time::OffsetDateTime) -> Value {
        let ts = iso_now(now);
        json!({
            "error": self.error,
            "error_description": format!(
                "AADSTS{}: {}\r\nTrace ID: {trace_id}\r\nCorrelation ID: {correlation_id}\r\nTimestamp: {ts}",
                self.code, self.description
            ),
            "error_codes": [self.code],
            "timestamp": ts,
            "trace_id": trace_id,
            "correlation_id": correlation_id,
            "error_uri": format!("https://login.microsoftonline.com/error?code={}", self.code),
        })
    }
}

/// What the token endpoint needs to know about the tenant and its apps.
pub struct AuthConfig<'a> {
    pub tenant_names: Vec<String>,
    pub tenant_id: String,
    pub clients: &'a [(String, String)],
    pub certificates: &'a [(String, PathBuf)],
    pub federated: &'a [FederatedCredential],
    /// Audiences accepted in client assertions (the token endpoint URLs).
    pub assertion_audiences: Vec<String>,
    pub token_lifetime_secs: i64,
    pub signing_key: &'a super::keys::SigningKey,
    /// Application permissions granted to apps (see `EmulatorConfig::grants`).
    pub grants: &'a [(String, String)],
}

const GRAPH_AUD: &str = "https://graph.microsoft.com";
const ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// Handle a token request (form body). Returns the JSON success body or an OAuth error.
pub fn token(
    cfg: &AuthConfig<'_>,
    tenant: &str,
    form: &[u8],
    now: i64,
) -> Result<Value, OAuthError> {
    let known_tenant = cfg
        .tenant_names
        .iter()
        .any(|t| t.eq_ignore_ascii_case(tenant))
        || cfg.tenant_id.eq_ignore_ascii_case(tenant);
    if !known_tenant {
        return Err(OAuthError::tenant_not_found(tenant));
    }
    let mut grant = None;
    let mut client_id = None;
    let mut secret = None;
    let mut scope = None;
    let mut assertion = None;
    let mut assertion_type = None;
    for (k, v) in url::form_urlencoded::parse(form) {
        match k.as_ref() {
            "grant_type" => grant = Some(v.into_owned()),
            "client_id" => client_id = Some(v.into_owned()),
            "client_secret" => secret = Some(v.into_owned()),
            "scope" => scope = Some(v.into_owned()),
            "client_assertion" => assertion = Some(v.into_owned()),
            "client_assertion_type" => assertion_type = Some(v.into_owned()),
            _ => {}
        }
    }
    let Some(grant) = grant else {
        return Err(OAuthError::new(
            400,
            "invalid_request",
            900144,
            "The request body must contain the following parameter: 'grant_type'.",
        ));
    };
    if grant != "client_credentials" {
        return Err(OAuthError::new(
            400,
            "unsupported_grant_type",
            70003,
            format!("The app requested an unsupported grant type '{grant}'."),
        ));
    }
    let Some(scope) = scope else {
        return Err(OAuthError::new(
            400,
            "invalid_request",
            900144,
            "The request body must contain the following parameter: 'scope'.",
        ));
    };
    let scope_ok = scope.split_whitespace().any(|s| {
        s.eq_ignore_ascii_case("https://graph.microsoft.com/.default")
            || s.eq_ignore_ascii_case("00000003-0000-0000-c000-000000000000/.default")
    });
    if !scope_ok {
        return Err(OAuthError::new(
            400,
            "invalid_scope",
            1002012,
            format!(
                "The provided value for scope {scope} is not valid. Client credential flows must have a scope value with /.default suffixed to the resource identifier (application ID URI)."
            ),
        ));
    }
    let Some(client_id) = client_id else {
        return Err(OAuthError::new(
            400,
            "invalid_request",
            900144,
            "The request body must contain the following parameter: 'client_id'.",
        ));
    };
    let app_known = cfg.clients.iter().any(|(c, _)| *c == client_id)
        || cfg.certificates.iter().any(|(c, _)| *c == client_id)
        || cfg.federated.iter().any(|f| f.client_id == client_id);
    if !app_known {
        return Err(OAuthError::new(
            400,
            "unauthorized_client",
            700016,
            format!(
                "Application with identifier '{client_id}' was not found in the directory '{tenant}'. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant. You may have sent your authentication request to the wrong tenant."
            ),
        ));
    }
    match (secret, assertion) {
        (Some(secret), None) => {
            let ok = cfg
                .clients
                .iter()
                .any(|(c, s)| *c == client_id && constant_time_eq(s.as_bytes(), secret.as_bytes()));
            if !ok {
                return Err(OAuthError::new(
                    401,
                    "invalid_client",
                    7000215,
                    format!(
                        "Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '{client_id}'."
                    ),
                ));
            }
        }
        (None, Some(assertion)) => {
            if assertion_type.as_deref() != Some(ASSERTION_TYPE) {
                return Err(OAuthError::new(
                    400,
                    "invalid_request",
                    50027,
                    format!("client_assertion_type must be '{ASSERTION_TYPE}'."),
                ));
            }
            verify_assertion(cfg, &client_id, &assertion, now)?;
        }
        (Some(_), Some(_)) => {
            return Err(OAuthError::new(
                400,
                "invalid_request",
                90080,
                "Only one of client_secret and client_assertion may be given.",
            ));
        }
        (None, None) => {
            return Err(OAuthError::new(
                401,
                "invalid_client",
                7000218,
                "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.",
            ));
        }
    }
    let claims = AccessClaims {
        aud: GRAPH_AUD.into(),
        iss: format!("https://sts.windows.net/{}/", cfg.tenant_id),
        iat: now,
        nbf: now,
        exp: now + cfg.token_lifetime_secs,
        roles: super::roles::grants_for(cfg.grants, &client_id),
        appid: client_id,
        tid: cfg.tenant_id.clone(),
    };
    let token = jsonwebtoken::encode(
        &access_token_header(cfg.signing_key),
        &claims,
        &cfg.signing_key.encoding,
    )
    .map_err(|e| {
        OAuthError::new(
            500,
            "server_error",
            50000,
            format!("Could not issue a token: {e}"),
        )
    })?;
    Ok(json!({
        "token_type": "Bearer",
        "expires_in": cfg.token_lifetime_secs,
        "ext_expires_in": cfg.token_lifetime_secs,
        "access_token": token,
    }))
}

/// RS256 with the `kid` of the key the JWKS publishes (access-tokens.md, "Validate
/// tokens"; the typ is JWT as in Microsoft's tokens).
fn access_token_header(key: &super::keys::SigningKey) -> Header {
    let mut h = Header::new(Algorithm::RS256);
    h.kid = Some(key.kid.clone());
    h
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[derive(Debug, Deserialize)]
struct AssertionClaims {
    iss: Option<String>,
    sub: Option<String>,
    #[serde(default)]
    aud: Option<Value>,
}

fn bad_assertion(msg: impl Into<String>) -> OAuthError {
    OAuthError::new(401, "invalid_client", 700027, msg)
}

/// Verify a client assertion: a certificate-signed JWT (iss = sub = client id) or a
/// federated token from a configured external issuer.
fn verify_assertion(
    cfg: &AuthConfig<'_>,
    client_id: &str,
    assertion: &str,
    now: i64,
) -> Result<(), OAuthError> {
    let header = jsonwebtoken::decode_header(assertion).map_err(|_| {
        OAuthError::new(
            400,
            "invalid_request",
            50027,
            "Invalid JWT token. The token is malformed.",
        )
    })?;
    let claims: AssertionClaims =
        jsonwebtoken::dangerous::insecure_decode::<AssertionClaims>(assertion)
            .map(|d| d.claims)
            .map_err(|_| {
                OAuthError::new(
                    400,
                    "invalid_request",
                    50027,
                    "Invalid JWT token. The token is malformed.",
                )
            })?;
    let iss = claims.iss.clone().unwrap_or_default();
    let _ = &claims.aud;
    let _ = now;
    if iss == client_id {
        // Certificate credential.
        if claims.sub.as_deref() != Some(client_id) {
            return Err(bad_assertion(
                "The client assertion's 'sub' claim must be the client id.",
            ));
        }
        if !matches!(header.alg, Algorithm::RS256 | Algorithm::PS256) {
            return Err(bad_assertion(format!(
                "Client assertion uses an unsupported algorithm {:?}; RS256 or PS256 is required.",
                header.alg
            )));
        }
        let certs: Vec<&PathBuf> = cfg
            .certificates
            .iter()
            .filter(|(c, _)| c == client_id)
            .map(|(_, p)| p)
            .collect();
        if certs.is_empty() {
            return Err(OAuthError::new(
                401,
                "invalid_client",
                700027,
                format!("No certificate is registered for application '{client_id}'."),
            ));
        }
        let mut matched = None;
        for path in certs {
            let Ok(pem) = std::fs::read(path) else {
                continue;
            };
            let Some(der) = first_cert_der(&pem) else {
                continue;
            };
            let sha1 =
                base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(sha1::Sha1::digest(&der));
            let sha256 =
                base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(sha2::Sha256::digest(&der));
            let thumb_ok = header
                .x5t
                .as_deref()
                .map(|t| t.trim_end_matches('=') == sha1)
                .unwrap_or(false)
                || header
                    .x5t_s256
                    .as_deref()
                    .map(|t| t.trim_end_matches('=') == sha256)
                    .unwrap_or(false);
            if thumb_ok {
                matched = Some(pem);
                break;
            }
        }
        let Some(pem) = matched else {
            return Err(bad_assertion(format!(
                "The certificate with identifier used to sign the client assertion is not registered on application. [Reason - The key was not found., Thumbprint of key used by client: '{}', Please visit the Azure Portal, Graph Explorer or directly use MS Graph to see configured keys for app Id '{client_id}'.]",
                header
                    .x5t
                    .clone()
                    .or(header.x5t_s256.clone())
                    .unwrap_or_default()
            )));
        };
        let key = DecodingKey::from_rsa_pem(&pem).map_err(|e| {
            bad_assertion(format!("The registered certificate could not be read: {e}"))
        })?;
        let mut v = Validation::new(header.alg);
        v.set_audience(&cfg.assertion_audiences);
        v.set_issuer(&[client_id]);
        v.leeway = 60;
        v.set_required_spec_claims(&["exp", "aud", "iss"]);
        jsonwebtoken::decode::<Value>(assertion, &key, &v).map_err(|e| assertion_error(&e))?;
        return Ok(());
    }
    // Federated credential.
    let creds: Vec<&FederatedCredential> = cfg
        .federated
        .iter()
        .filter(|f| f.client_id == client_id)
        .collect();
    let by_issuer: Vec<&&FederatedCredential> = creds.iter().filter(|f| f.issuer == iss).collect();
    if by_issuer.is_empty() {
        return Err(OAuthError::new(
            400,
            "invalid_request",
            700211,
            format!(
                "No matching federated identity record found for presented assertion issuer '{iss}'. Please check your federated identity credential Subject, Audience and Issuer against the presented assertion."
            ),
        ));
    }
    let sub = claims.sub.clone().unwrap_or_default();
    let Some(cred) = by_issuer.iter().find(|f| f.subject == sub) else {
        return Err(OAuthError::new(
            400,
            "invalid_request",
            700213,
            format!(
                "No matching federated identity record found for presented assertion subject '{sub}'. Please check your federated identity credential Subject, Audience and Issuer against the presented assertion."
            ),
        ));
    };
    let key = federated_key(&cred.key, header.kid.as_deref(), header.alg)?;
    let mut v = Validation::new(header.alg);
    v.set_audience(&[cred.audience.as_str()]);
    v.set_issuer(&[cred.issuer.as_str()]);
    v.leeway = 60;
    v.set_required_spec_claims(&["exp", "aud", "iss", "sub"]);
    jsonwebtoken::decode::<Value>(assertion, &key, &v).map_err(|e| match e.kind() {
        jsonwebtoken::errors::ErrorKind::InvalidAudience => OAuthError::new(
            400,
            "invalid_request",
            700212,
            format!("No matching federated identity record found for presented assertion audience. Please note that the matching is done using a case-sensitive comparison. Expected '{}'.", cred.audience),
        ),
        _ => assertion_error(&e),
    })?;
    Ok(())
}

fn assertion_error(e: &jsonwebtoken::errors::Error) -> OAuthError {
    use jsonwebtoken::errors::ErrorKind;
    match e.kind() {
        ErrorKind::ExpiredSignature | ErrorKind::ImmatureSignature => OAuthError::new(
            401,
            "invalid_client",
            700024,
            "Client assertion is not within its valid time range.",
        ),
        ErrorKind::InvalidAudience => OAuthError::new(
            401,
            "invalid_client",
            700016,
            "Client assertion audience claim does not match Realm issuer.",
        ),
        ErrorKind::InvalidSignature => {
            bad_assertion("Client assertion contains an invalid signature.")
        }
        ErrorKind::InvalidIssuer => {
            bad_assertion("Client assertion failed signature validation: wrong issuer.")
        }
        _ => bad_assertion(format!("Client assertion failed validation: {e}.")),
    }
}

fn federated_key(
    key: &FederatedKey,
    kid: Option<&str>,
    alg: Algorithm,
) -> Result<DecodingKey, OAuthError> {
    let unreadable = |what: &str| {
        OAuthError::new(
            500,
            "server_error",
            50000,
            format!("The federated credential's key could not be read: {what}"),
        )
    };
    match key {
        FederatedKey::PublicKeyPem(p) => {
            let pem = std::fs::read(p).map_err(|e| unreadable(&format!("{}: {e}", p.display())))?;
            let r = match alg {
                Algorithm::ES256 | Algorithm::ES384 => DecodingKey::from_ec_pem(&pem),
                Algorithm::EdDSA => DecodingKey::from_ed_pem(&pem),
                _ => DecodingKey::from_rsa_pem(&pem),
            };
            r.map_err(|e| unreadable(&format!("{}: {e}", p.display())))
        }
        FederatedKey::JwksFile(p) => {
            let text =
                std::fs::read(p).map_err(|e| unreadable(&format!("{}: {e}", p.display())))?;
            let set: jsonwebtoken::jwk::JwkSet = serde_json::from_slice(&text)
                .map_err(|e| unreadable(&format!("{}: {e}", p.display())))?;
            let jwk = match kid {
                Some(k) => set.find(k),
                None if set.keys.len() == 1 => set.keys.first(),
                None => None,
            };
            let Some(jwk) = jwk else {
                return Err(bad_assertion(format!(
                    "The key '{}' used to sign the assertion was not found in the issuer's keys.",
                    kid.unwrap_or("")
                )));
            };
            DecodingKey::from_jwk(jwk).map_err(|e| unreadable(&e.to_string()))
        }
    }
}

/// The DER bytes of the first certificate in a PEM file.
pub fn first_cert_der(pem: &[u8]) -> Option<Vec<u8>> {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject as _;
    CertificateDer::pem_slice_iter(pem)
        .flatten()
        .next()
        .map(|c| c.as_ref().to_vec())
}

/// The caller of a Graph request: its app id and the application permissions of its
/// token (`roles`).
#[derive(Debug, Clone)]
pub struct Caller {
    pub app: String,
    pub roles: Vec<String>,
}

/// Check `Authorization: Bearer …` against the emulator's signing key; returns the
/// caller. `now` (Unix seconds, the emulator's clock) decides expiry.
pub fn check_bearer(
    header: Option<&str>,
    signing_key: &super::keys::SigningKey,
    now: i64,
) -> Result<Caller, GraphError> {
    let Some(h) = header else {
        return Err(GraphError::unauthorized("Access token is empty."));
    };
    let token = h
        .strip_prefix("Bearer ")
        .or_else(|| h.strip_prefix("bearer "))
        .unwrap_or("")
        .trim();
    if token.is_empty() {
        return Err(GraphError::unauthorized("Access token is empty."));
    }
    if token.split('.').count() != 3 {
        return Err(GraphError::unauthorized(
            "IDX14100: JWT is not well formed, there are no dots (.).\nThe token needs to be in JWS or JWE Compact Serialization Format.",
        ));
    }
    let mut v = Validation::new(Algorithm::RS256);
    v.set_audience(&[GRAPH_AUD]);
    v.leeway = 0;
    // Expiry is checked against the emulator's clock, not the library's.
    v.validate_exp = false;
    match jsonwebtoken::decode::<AccessClaims>(token, &signing_key.decoding, &v) {
        Ok(d) if d.claims.exp <= now => Err(GraphError::unauthorized(
            "Lifetime validation failed, the token is expired.",
        )),
        Ok(d) => Ok(Caller {
            app: d.claims.appid,
            roles: d.claims.roles,
        }),
        Err(e) => Err(match e.kind() {
            jsonwebtoken::errors::ErrorKind::ExpiredSignature => {
                GraphError::unauthorized("Lifetime validation failed, the token is expired.")
            }
            jsonwebtoken::errors::ErrorKind::InvalidAudience => {
                GraphError::unauthorized("Access token validation failure. Invalid audience.")
            }
            _ => GraphError::unauthorized("Access token validation failure."),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg<'a>(clients: &'a [(String, String)]) -> AuthConfig<'a> {
        AuthConfig {
            tenant_names: vec!["contoso".into()],
            tenant_id: "t-id".into(),
            clients,
            certificates: &[],
            federated: &[],
            assertion_audiences: vec![],
            token_lifetime_secs: 3599,
            signing_key: super::super::keys::SigningKey::shared().expect("key"),
            grants: &[],
        }
    }

    #[test]
    fn secret_flow_and_bearer_roundtrip() {
        let clients = vec![("app".to_string(), "s3cret".to_string())];
        let c = cfg(&clients);
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        let ok = token(&c, "contoso", b"grant_type=client_credentials&client_id=app&client_secret=s3cret&scope=https%3A%2F%2Fgraph.microsoft.com%2F.default", now)
            .expect("token");
        let at = ok["access_token"].as_str().expect("string");
        assert_eq!(
            check_bearer(
                Some(&format!("Bearer {at}")),
                super::super::keys::SigningKey::shared().expect("key"),
                now
            )
            .expect("valid")
            .app,
            "app"
        );
        let other = super::super::keys::SigningKey::generate().expect("key");
        assert!(check_bearer(Some(&format!("Bearer {at}")), &other, now).is_err());
        let bad = token(&c, "contoso", b"grant_type=client_credentials&client_id=app&client_secret=nope&scope=https%3A%2F%2Fgraph.microsoft.com%2F.default", now)
            .expect_err("bad secret");
        assert_eq!(bad.code, 7000215);
        let bad = token(&c, "fabrikam", b"", now).expect_err("bad tenant");
        assert_eq!(bad.code, 90002);
    }

    #[test]
    fn expired_token_rejected() {
        let clients = vec![("app".to_string(), "s".to_string())];
        let mut c = cfg(&clients);
        c.token_lifetime_secs = -5;
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        let ok = token(&c, "contoso", b"grant_type=client_credentials&client_id=app&client_secret=s&scope=https%3A%2F%2Fgraph.microsoft.com%2F.default", now)
            .expect("token");
        let at = ok["access_token"].as_str().expect("string");
        let e = check_bearer(
            Some(&format!("Bearer {at}")),
            super::super::keys::SigningKey::shared().expect("key"),
            now,
        )
        .expect_err("expired");
        assert!(e.message.contains("expired"));
    }
}
