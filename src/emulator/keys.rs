//! The emulator's token-signing key: an RSA key generated when the first emulator of
//! the process starts, access tokens signed RS256 with its `kid`, and the documents a
//! client finds it through — the OpenID Connect discovery document
//! (`/{tenant}/v2.0/.well-known/openid-configuration`) and the JWKS it names
//! (`/{tenant}/discovery/v2.0/keys`), as the Microsoft identity platform publishes
//! them (entra-docs identity-platform/v2-protocols-oidc.md, "Find your app's OpenID
//! configuration document URI" and "Sample response"; access-tokens.md, "Validate
//! tokens": the `kid` of the header names the JWKS key that signed it).

use std::sync::OnceLock;

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use jsonwebtoken::{DecodingKey, EncodingKey};
use serde_json::{Value, json};
use sha2::Digest as _;

/// The signing key with what the JWKS publishes of it.
pub struct SigningKey {
    pub encoding: EncodingKey,
    pub decoding: DecodingKey,
    /// RFC 7638 JWK thumbprint, base64url.
    pub kid: String,
    /// Modulus and exponent, base64url (the JWK's `n` and `e`).
    pub n: String,
    pub e: String,
}

impl SigningKey {
    /// A new 2048-bit RSA key (aws-lc-rs).
    pub fn generate() -> Result<SigningKey, String> {
        use aws_lc_rs::encoding::AsDer as _;
        use aws_lc_rs::signature::KeyPair as _;
        let pair = aws_lc_rs::rsa::KeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048)
            .map_err(|e| format!("cannot generate the token-signing key: {e}"))?;
        let pkcs8 = pair
            .as_der()
            .map_err(|e| format!("cannot encode the token-signing key: {e}"))?;
        let b64 = STANDARD.encode(pkcs8.as_ref());
        let mut pem = String::from("-----BEGIN PRIVATE KEY-----\n");
        for line in b64.as_bytes().chunks(64) {
            pem.push_str(&String::from_utf8_lossy(line));
            pem.push('\n');
        }
        pem.push_str("-----END PRIVATE KEY-----\n");
        let encoding = EncodingKey::from_rsa_pem(pem.as_bytes())
            .map_err(|e| format!("cannot load the token-signing key: {e}"))?;
        let public = pair.public_key();
        let n_raw = public.modulus().big_endian_without_leading_zero().to_vec();
        let e_raw = public.exponent().big_endian_without_leading_zero().to_vec();
        let n = URL_SAFE_NO_PAD.encode(&n_raw);
        let e = URL_SAFE_NO_PAD.encode(&e_raw);
        // RFC 7638: SHA-256 of the required members in lexicographic order.
        let thumb = sha2::Sha256::digest(format!(r#"{{"e":"{e}","kty":"RSA","n":"{n}"}}"#));
        Ok(SigningKey {
            encoding,
            decoding: DecodingKey::from_rsa_raw_components(&n_raw, &e_raw),
            kid: URL_SAFE_NO_PAD.encode(thumb),
            n,
            e,
        })
    }

    /// The process's key, generated once (2048-bit generation takes a noticeable
    /// fraction of a second; every emulator of a test process shares it).
    pub fn shared() -> Result<&'static SigningKey, String> {
        static KEY: OnceLock<Result<SigningKey, String>> = OnceLock::new();
        KEY.get_or_init(SigningKey::generate)
            .as_ref()
            .map_err(Clone::clone)
    }

    /// The JWKS (`{"keys": [...]}`) with this key as Microsoft's keys endpoint lists
    /// its keys: `kty`, `use` `sig`, `kid`, `n`, `e` (and `issuer`, which Microsoft's
    /// keys carry). No `x5c`/`x5t`: the key has no certificate.
    pub fn jwks(&self, issuer: &str) -> Value {
        json!({
            "keys": [{
                "kty": "RSA",
                "use": "sig",
                "kid": self.kid,
                "n": self.n,
                "e": self.e,
                "alg": "RS256",
                "issuer": issuer,
            }]
        })
    }
}

/// The v2.0 OpenID Connect discovery document of `tenant_id` served at `base` (the
/// emulator's own address stands for `https://login.microsoftonline.com`). Members as
/// in v2-protocols-oidc.md's sample response; `authorization_endpoint` and the other
/// interactive endpoints are listed as documented though the emulator serves only
/// the token endpoint and the keys.
pub fn openid_configuration(base: &str, tenant_id: &str) -> Value {
    json!({
        "token_endpoint": format!("{base}/{tenant_id}/oauth2/v2.0/token"),
        "token_endpoint_auth_methods_supported": ["client_secret_post", "private_key_jwt", "client_secret_basic"],
        "jwks_uri": format!("{base}/{tenant_id}/discovery/v2.0/keys"),
        "response_modes_supported": ["query", "fragment", "form_post"],
        "subject_types_supported": ["pairwise"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
        "scopes_supported": ["openid", "profile", "email", "offline_access"],
        "issuer": issuer(base, tenant_id),
        "request_uri_parameter_supported": false,
        "userinfo_endpoint": "https://graph.microsoft.com/oidc/userinfo",
        "authorization_endpoint": format!("{base}/{tenant_id}/oauth2/v2.0/authorize"),
        "device_authorization_endpoint": format!("{base}/{tenant_id}/oauth2/v2.0/devicecode"),
        "http_logout_supported": true,
        "frontchannel_logout_supported": true,
        "end_session_endpoint": format!("{base}/{tenant_id}/oauth2/v2.0/logout"),
        "claims_supported": ["sub", "iss", "cloud_instance_name", "cloud_instance_host_name", "cloud_graph_host_name", "msgraph_host", "aud", "exp", "iat", "auth_time", "acr", "nonce", "preferred_username", "name", "tid", "ver", "at_hash", "c_hash", "email"],
        "kerberos_endpoint": format!("{base}/{tenant_id}/kerberos"),
        "tenant_region_scope": null,
        "cloud_instance_name": "microsoftonline.com",
        "cloud_graph_host_name": "graph.windows.net",
        "msgraph_host": "graph.microsoft.com",
        "rbac_url": "https://pas.windows.net"
    })
}

/// The v2.0 issuer of a tenant at `base` (`https://login.microsoftonline.com/{tid}/v2.0`).
pub fn issuer(base: &str, tenant_id: &str) -> String {
    format!("{base}/{tenant_id}/v2.0")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signs_and_verifies_rs256_with_kid() {
        let k = SigningKey::shared().expect("key");
        let mut h = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256);
        h.kid = Some(k.kid.clone());
        let tok = jsonwebtoken::encode(
            &h,
            &json!({"aud": "x", "exp": 4_000_000_000u64}),
            &k.encoding,
        )
        .expect("signs");
        let mut v = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::RS256);
        v.set_audience(&["x"]);
        jsonwebtoken::decode::<Value>(&tok, &k.decoding, &v).expect("verifies");
        let jwks = k.jwks("i");
        assert_eq!(jwks["keys"][0]["kid"], json!(k.kid));
        assert_eq!(jwks["keys"][0]["e"], json!("AQAB"));
        let other = SigningKey::generate().expect("key");
        assert!(jsonwebtoken::decode::<Value>(&tok, &other.decoding, &v).is_err());
    }
}
