//! Signed plan files: with `ROSTER_PLAN_KEY` set, `plan --out` adds an HMAC-SHA256 of
//! the file's content, and `apply` refuses a file that is unsigned or whose signature
//! does not match, so that only a job holding the key can produce a plan that applies.
//!
//! The signature covers the file's JSON value without its `signature` member, in
//! compact form (the parse of the file, so that whitespace does not matter and any
//! other edit does). The key is a secret: it is never printed or stored.

use hmac::{Hmac, Mac};
use serde_json::Value;
use sha2::Sha256;

use crate::secret::Secret;

/// The environment variable that holds the signing key.
pub const KEY_ENV: &str = "ROSTER_PLAN_KEY";
/// The shortest key accepted, in bytes.
pub const MIN_KEY_LEN: usize = 32;
const ALGORITHM: &str = "HMAC-SHA256";

/// Why a plan file's signature is refused.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error(
        "the plan file is not signed, and {KEY_ENV} is set: only plans made by `roster plan --out` with the same key are applied"
    )]
    Unsigned,
    #[error(
        "the plan file's signature does not match: it was changed after it was signed, or signed with another key"
    )]
    Mismatch,
    #[error("the plan file's signature is malformed: {0}")]
    Malformed(String),
    #[error("the plan file is not valid JSON")]
    NotJson,
}

/// The signing key from the environment: `Ok(None)` when unset or empty.
pub fn key_from_env() -> anyhow::Result<Option<Secret>> {
    match std::env::var(KEY_ENV) {
        Ok(v) if v.is_empty() => Ok(None),
        Ok(v) if v.len() < MIN_KEY_LEN => anyhow::bail!(
            "{KEY_ENV} is set but shorter than {MIN_KEY_LEN} bytes; use a random key, e.g. `openssl rand -hex 32`"
        ),
        Ok(v) => Ok(Some(Secret::new(v))),
        Err(_) => Ok(None),
    }
}

fn mac(key: &Secret, value: &Value) -> Hmac<Sha256> {
    // HMAC accepts keys of any length.
    let mut m = <Hmac<Sha256> as Mac>::new_from_slice(key.expose().as_bytes())
        .expect("HMAC takes keys of any length");
    m.update(&serde_json::to_vec(value).unwrap_or_default());
    m
}

/// `text` (a saved plan file) with a `signature` member added.
pub fn sign(text: &str, key: &Secret) -> String {
    let Ok(mut value) = serde_json::from_str::<Value>(text) else {
        return text.to_string();
    };
    let tag = mac(key, &value).finalize().into_bytes();
    let hex: String = tag.iter().map(|b| format!("{b:02x}")).collect();
    if let Value::Object(map) = &mut value {
        map.insert(
            "signature".into(),
            serde_json::json!({ "algorithm": ALGORITHM, "value": hex }),
        );
    }
    let mut out = serde_json::to_string_pretty(&value).unwrap_or_else(|_| text.to_string());
    out.push('\n');
    out
}

/// Whether `text` carries a `signature` member.
pub fn is_signed(text: &str) -> bool {
    // A scan that builds nothing but the one member.
    #[derive(serde::Deserialize)]
    struct Probe {
        signature: Option<serde::de::IgnoredAny>,
    }
    serde_json::from_str::<Probe>(text).is_ok_and(|p| p.signature.is_some())
}

/// Checks the signature of `text` with `key`; returns the file's text without it.
pub fn verify(text: &str, key: &Secret) -> Result<String, SignatureError> {
    let mut value: Value = serde_json::from_str(text).map_err(|_| SignatureError::NotJson)?;
    let Some(sig) = value.as_object_mut().and_then(|m| m.remove("signature")) else {
        return Err(SignatureError::Unsigned);
    };
    match sig.get("algorithm").and_then(Value::as_str) {
        Some(ALGORITHM) => {}
        Some(other) => {
            return Err(SignatureError::Malformed(format!(
                "algorithm {other:?}, expected {ALGORITHM}"
            )));
        }
        None => return Err(SignatureError::Malformed("no algorithm".into())),
    }
    let hex = sig
        .get("value")
        .and_then(Value::as_str)
        .ok_or_else(|| SignatureError::Malformed("no value".into()))?;
    let bytes = decode_hex(hex).ok_or_else(|| SignatureError::Malformed("not hex".into()))?;
    // Constant-time comparison.
    mac(key, &value)
        .verify_slice(&bytes)
        .map_err(|_| SignatureError::Mismatch)?;
    Ok(serde_json::to_string(&value).unwrap_or_default())
}

fn decode_hex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(k: &str) -> Secret {
        Secret::new(k)
    }

    #[test]
    fn signed_files_verify_and_any_edit_breaks_them() {
        let k = key("0123456789abcdef0123456789abcdef");
        let text = "{\n  \"saved_plan_version\": \"1\",\n  \"plan\": {\"changes\": [{\"key\": \"alice\"}]}\n}\n";
        let signed = sign(text, &k);
        assert!(is_signed(&signed));
        let back = verify(&signed, &k).unwrap();
        let v: Value = serde_json::from_str(&back).unwrap();
        assert_eq!(v, serde_json::from_str::<Value>(text).unwrap());
        // Whitespace does not matter; content does.
        let compact =
            serde_json::to_string(&serde_json::from_str::<Value>(&signed).unwrap()).unwrap();
        assert!(verify(&compact, &k).is_ok());
        let edited = signed.replace("alice", "mallory");
        assert_eq!(verify(&edited, &k), Err(SignatureError::Mismatch));
        assert_eq!(
            verify(&signed, &key("another key of at least 32 bytes!!")),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(verify(text, &k), Err(SignatureError::Unsigned));
        let bad = signed.replace("HMAC-SHA256", "none");
        assert!(matches!(
            verify(&bad, &k),
            Err(SignatureError::Malformed(_))
        ));
    }
}
