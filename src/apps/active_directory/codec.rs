//! Encodings Active Directory needs and that are easy to get wrong: RFC 4514 DN
//! escaping, RFC 4515 filter escaping, objectGUID/objectSid formatting, the
//! `unicodePwd` value, valid sAMAccountNames and generated passwords.

use std::fmt::Write as _;

pub use crate::apps::kit::ldap_codec::{
    dn_key, filter_bytes, filter_value, is_within, parent_dn, rdn_value,
};

/// Build `CN=<escaped value>,<parent>`.
pub fn cn_dn(cn: &str, parent: &str) -> String {
    format!("CN={},{}", rdn_value(cn), parent)
}

/// Format a 16-byte objectGUID as the standard GUID string (the first three fields
/// are little-endian on the wire, as Windows shows them).
pub fn guid_to_string(raw: &[u8]) -> Option<String> {
    let b: &[u8; 16] = raw.try_into().ok()?;
    Some(format!(
        "{:02x}{:02x}{:02x}{:02x}-{:02x}{:02x}-{:02x}{:02x}-{:02x}{:02x}-{:02x}{:02x}{:02x}{:02x}{:02x}{:02x}",
        b[3],
        b[2],
        b[1],
        b[0],
        b[5],
        b[4],
        b[7],
        b[6],
        b[8],
        b[9],
        b[10],
        b[11],
        b[12],
        b[13],
        b[14],
        b[15]
    ))
}

/// The inverse of [`guid_to_string`]: the 16 bytes as stored in objectGUID.
pub fn guid_from_string(s: &str) -> Option<[u8; 16]> {
    let u = uuid::Uuid::parse_str(s).ok()?;
    Some(u.to_bytes_le())
}

/// Format a binary SID (objectSid) as `S-1-5-21-...`.
pub fn sid_to_string(raw: &[u8]) -> Option<String> {
    if raw.len() < 8 {
        return None;
    }
    let revision = raw[0];
    let count = raw[1] as usize;
    if raw.len() != 8 + 4 * count {
        return None;
    }
    let mut authority: u64 = 0;
    for b in &raw[2..8] {
        authority = (authority << 8) | u64::from(*b);
    }
    let mut out = format!("S-{revision}-{authority}");
    for i in 0..count {
        let start = 8 + 4 * i;
        let sub = u32::from_le_bytes([raw[start], raw[start + 1], raw[start + 2], raw[start + 3]]);
        let _ = write!(out, "-{sub}");
    }
    Some(out)
}

/// The `unicodePwd` attribute value: the password in double quotes, UTF-16LE.
pub fn unicode_pwd(password: &str) -> Vec<u8> {
    let quoted = format!("\"{password}\"");
    quoted
        .encode_utf16()
        .flat_map(|u| u.to_le_bytes())
        .collect()
}

/// Characters AD refuses in a sAMAccountName.
const SAM_INVALID: &[char] = &[
    '"', '/', '\\', '[', ']', ':', ';', '|', '=', ',', '+', '*', '?', '<', '>', '@',
];

/// A valid group sAMAccountName derived from a group name: invalid characters become
/// `_`, length is capped at 64; when anything was changed, a short digest of the name
/// keeps distinct names distinct.
pub fn group_sam_account_name(name: &str) -> String {
    let cleaned: String = name
        .chars()
        .map(|c| {
            if SAM_INVALID.contains(&c) || c.is_control() {
                '_'
            } else {
                c
            }
        })
        .collect();
    let cleaned = cleaned.trim_end_matches('.').to_string();
    if cleaned == name && name.chars().count() <= 64 && !name.is_empty() {
        return cleaned;
    }
    use sha2::Digest;
    let digest = sha2::Sha256::digest(name.as_bytes());
    let suffix: String = digest[..4].iter().map(|b| format!("{b:02x}")).collect();
    let head: String = cleaned.chars().take(55).collect();
    format!("{head}-{suffix}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cn_dns_escape_the_value() {
        assert_eq!(cn_dn("Smith, J", "OU=U,DC=x"), "CN=Smith\\2c J,OU=U,DC=x");
    }

    #[test]
    fn guid_round_trips_with_windows_byte_order() {
        let raw = [
            0x33, 0x22, 0x11, 0x00, 0x55, 0x44, 0x77, 0x66, 0x88, 0x99, 0xaa, 0xbb, 0xcc, 0xdd,
            0xee, 0xff,
        ];
        let s = guid_to_string(&raw).unwrap();
        assert_eq!(s, "00112233-4455-6677-8899-aabbccddeeff");
        assert_eq!(guid_from_string(&s).unwrap(), raw);
        assert!(guid_to_string(&raw[..15]).is_none());
    }

    #[test]
    fn sid_formats_and_rejects_bad_lengths() {
        let raw = [1, 2, 0, 0, 0, 0, 0, 5, 21, 0, 0, 0, 0x10, 0x27, 0, 0];
        assert_eq!(sid_to_string(&raw).unwrap(), "S-1-5-21-10000");
        assert!(sid_to_string(&raw[..12]).is_none());
        assert!(sid_to_string(&[1]).is_none());
    }

    #[test]
    fn unicode_pwd_is_quoted_utf16le() {
        assert_eq!(unicode_pwd("ab"), vec![b'"', 0, b'a', 0, b'b', 0, b'"', 0]);
        assert_eq!(unicode_pwd("é").len(), 6);
    }

    #[test]
    fn group_sam_names_are_valid_and_distinct() {
        assert_eq!(group_sam_account_name("sales"), "sales");
        let a = group_sam_account_name("a,b");
        let b = group_sam_account_name("a+b");
        assert_ne!(a, b);
        assert!(!a.contains(','));
        let long = "x".repeat(200);
        assert!(group_sam_account_name(&long).chars().count() <= 64);
    }
}
