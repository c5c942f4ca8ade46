//! Service accounts and the OAuth 2.0 token endpoint: the JWT bearer grant of RFC 7523
//! as Google's endpoint takes it ("Using OAuth 2.0 for Server to Server Applications"):
//! an RS256 assertion signed with the service account's key, `iss` its `client_email`,
//! `aud` the token URL (the emulator's, or Google's own), `iat`/`exp` at most an hour apart, `scope` the requested scopes
//! and `sub` the administrator the service account acts for (domain-wide delegation).

use std::path::Path;

use anyhow::Context as _;
use base64::Engine as _;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::Value;

use super::directory::is_directory_scope;

/// The token endpoint's public names (the current one and the older v4 URL), which
/// Google accepts as `aud` of a service account's assertion.
const GOOGLE_AUDIENCES: [&str; 2] = [
    "https://oauth2.googleapis.com/token",
    "https://www.googleapis.com/oauth2/v4/token",
];
use super::error::OAuthError;

pub const JWT_BEARER: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";

/// A service account the token endpoint accepts: its `client_email`, its key id and the
/// public half of its key.
#[derive(Clone)]
pub struct ServiceAccount {
    pub client_email: String,
    pub private_key_id: String,
    /// Whether the account's client id is allowed the Directory API scopes for
    /// domain-wide delegation (Admin console > Security > API controls); without it an
    /// assertion with a `sub` is refused with `unauthorized_client`, as Google does.
    pub delegated: bool,
    decoding: DecodingKey,
}

impl std::fmt::Debug for ServiceAccount {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServiceAccount")
            .field("client_email", &self.client_email)
            .field("private_key_id", &self.private_key_id)
            .finish_non_exhaustive()
    }
}

impl ServiceAccount {
    /// Reads a service-account key file (Google's JSON: `type` `service_account`,
    /// `client_email`, `private_key_id`, `private_key` as PKCS#8 PEM, ...). Only the
    /// public key is kept.
    pub fn from_key_file(path: &Path) -> anyhow::Result<ServiceAccount> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("reading service account key file {}", path.display()))?;
        ServiceAccount::from_key_json(&text)
            .with_context(|| format!("service account key file {}", path.display()))
    }

    pub fn from_key_json(text: &str) -> anyhow::Result<ServiceAccount> {
        let v: Value = serde_json::from_str(text).context("not JSON")?;
        let field = |name: &str| {
            v.get(name)
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty())
                .ok_or_else(|| anyhow::anyhow!("missing the string field `{name}`"))
        };
        let kind = field("type")?;
        anyhow::ensure!(
            kind == "service_account",
            "`type` is `{kind}`, expected `service_account`"
        );
        let client_email = field("client_email")?.to_string();
        let private_key_id = field("private_key_id")?.to_string();
        let pem = field("private_key")?;
        let b64: String = pem
            .lines()
            .filter(|l| !l.starts_with("-----"))
            .map(str::trim)
            .collect();
        anyhow::ensure!(
            pem.contains("-----BEGIN PRIVATE KEY-----"),
            "`private_key` is not a PKCS#8 PEM private key"
        );
        let der = base64::engine::general_purpose::STANDARD
            .decode(b64.as_bytes())
            .context("`private_key` is not valid base64 PEM")?;
        let pair = aws_lc_rs::rsa::KeyPair::from_pkcs8(&der)
            .map_err(|e| anyhow::anyhow!("`private_key` is not an RSA key: {e}"))?;
        use aws_lc_rs::signature::KeyPair as _;
        let public = pair.public_key();
        let n = public.modulus().big_endian_without_leading_zero().to_vec();
        let e = public.exponent().big_endian_without_leading_zero().to_vec();
        Ok(ServiceAccount {
            client_email,
            private_key_id,
            delegated: true,
            decoding: DecodingKey::from_rsa_raw_components(&n, &e),
        })
    }
}

/// What a verified assertion grants.
#[derive(Debug, Clone, PartialEq)]
pub struct Grant {
    pub client_email: String,
    /// The administrator impersonated (`sub`); without one the API answers 403.
    pub subject: Option<String>,
    pub scopes: Vec<String>,
}

fn bad_time() -> OAuthError {
    OAuthError::invalid_grant(
        "Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable timeframe. Check your iat and exp values in the JWT claim.",
    )
}

fn bad_signature() -> OAuthError {
    OAuthError::invalid_grant("Invalid JWT Signature.")
}

/// Verifies a token request's form (`grant_type`, `assertion`) for the token endpoint
/// at `token_url`, at `now` (Unix seconds).
pub fn verify(
    accounts: &[ServiceAccount],
    domains: &[String],
    token_url: &str,
    now: i64,
    form: &[u8],
) -> Result<Grant, OAuthError> {
    let params: Vec<(String, String)> = url::form_urlencoded::parse(form).into_owned().collect();
    let get = |k: &str| params.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
    match get("grant_type") {
        None => {
            return Err(OAuthError::invalid_request(
                "Missing required parameter: grant_type",
            ));
        }
        Some(JWT_BEARER) => {}
        Some(other) => {
            return Err(OAuthError {
                status: 400,
                error: "unsupported_grant_type",
                description: format!("Invalid grant_type: {other}"),
            });
        }
    }
    let assertion = get("assertion")
        .filter(|a| !a.is_empty())
        .ok_or_else(|| OAuthError::invalid_request("Missing required parameter: assertion"))?;
    let header = jsonwebtoken::decode_header(assertion)
        .map_err(|_| OAuthError::invalid_grant("Invalid JWT: could not decode the assertion."))?;
    if header.alg != Algorithm::RS256 {
        return Err(bad_signature());
    }
    let unverified = jsonwebtoken::dangerous::insecure_decode::<Value>(assertion)
        .map_err(|_| OAuthError::invalid_grant("Invalid JWT: could not decode the assertion."))?
        .claims;
    let iss = unverified["iss"].as_str().unwrap_or_default();
    let account = accounts
        .iter()
        .find(|a| a.client_email == iss)
        .ok_or_else(|| OAuthError::invalid_grant("Invalid grant: account not found"))?;
    if let Some(kid) = &header.kid
        && *kid != account.private_key_id
    {
        return Err(bad_signature());
    }
    let mut v = Validation::new(Algorithm::RS256);
    v.validate_exp = false;
    v.validate_nbf = false;
    v.validate_aud = false;
    v.required_spec_claims.clear();
    let claims = jsonwebtoken::decode::<Value>(assertion, &account.decoding, &v)
        .map_err(|_| bad_signature())?
        .claims;
    // The audience is the token endpoint: the emulator's own URL, or Google's — its
    // client libraries always sign for `https://oauth2.googleapis.com/token` whatever
    // `token_uri` the key file names, and only POST to that `token_uri`.
    let audience_ok = |a: &str| a == token_url || GOOGLE_AUDIENCES.contains(&a);
    let aud_ok = match &claims["aud"] {
        Value::String(a) => audience_ok(a),
        Value::Array(a) => a.iter().any(|x| x.as_str().is_some_and(audience_ok)),
        _ => false,
    };
    if !aud_ok {
        return Err(OAuthError::invalid_grant(format!(
            "Invalid JWT: Failed audience check. The right audience is {token_url}"
        )));
    }
    let (Some(iat), Some(exp)) = (claims["iat"].as_i64(), claims["exp"].as_i64()) else {
        return Err(bad_time());
    };
    // Google allows a few minutes of clock skew.
    const SKEW: i64 = 300;
    if exp <= iat || exp - iat > 3600 || iat > now + SKEW || exp < now - SKEW {
        return Err(bad_time());
    }
    let scopes: Vec<String> = claims["scope"]
        .as_str()
        .unwrap_or_default()
        .split_whitespace()
        .map(str::to_string)
        .collect();
    if !scopes.iter().any(|s| is_directory_scope(s)) {
        return Err(OAuthError {
            status: 400,
            error: "invalid_scope",
            description: "Invalid OAuth scope or ID token audience provided.".into(),
        });
    }
    let subject = match claims.get("sub").and_then(Value::as_str) {
        None => None,
        Some(s) if s == account.client_email => None,
        Some(s) => {
            let domain = s.rsplit_once('@').map(|(_, d)| d.to_lowercase());
            if !domain.is_some_and(|d| domains.iter().any(|x| x.eq_ignore_ascii_case(&d))) {
                return Err(OAuthError::invalid_grant("Invalid email or User ID"));
            }
            if !account.delegated {
                return Err(OAuthError {
                    status: 401,
                    error: "unauthorized_client",
                    description: "Client is unauthorized to retrieve access tokens using this method, or client not authorized for any of the scopes requested.".into(),
                });
            }
            Some(s.to_string())
        }
    };
    Ok(Grant {
        client_email: account.client_email.clone(),
        subject,
        scopes,
    })
}
