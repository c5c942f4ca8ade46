//! Encodings Active Directory needs and that are easy to get wrong: RFC 4514 DN
//! escaping, RFC 4515 filter escaping, objectGUID/objectSid formatting, the
//! `unicodePwd` value, valid sAMAccountNames and generated passwords.

use std::fmt::Write as _;

/// Escape a value for use as an RDN attribute value (RFC 4514): `, + " \ < > ; =`, NUL,
/// a leading space or `#` and a trailing space become `\XX`. Non-ASCII letters stay
/// as UTF-8, which RFC 4514 allows.
pub fn rdn_value(value: &str) -> String {
    ldap3::dn_escape(value).into_owned()
}

/// Build `CN=<escaped value>,<parent>`.
pub fn cn_dn(cn: &str, parent: &str) -> String {
    format!("CN={},{}", rdn_value(cn), parent)
}

/// Escape a value for use inside an LDAP filter assertion (RFC 4515): `* ( ) \` and
/// NUL become `\XX`.
pub fn filter_value(value: &str) -> String {
    ldap3::ldap_escape(value).into_owned()
}

/// Escape raw bytes for a filter, every byte as `\XX` (for binary attributes such as
/// objectGUID).
pub fn filter_bytes(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() * 3);
    for b in bytes {
        let _ = write!(out, "\\{b:02x}");
    }
    out
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

/// A DN normalised for comparison: attribute type names and values compared
/// case-insensitively (AD's DN matching is case-insensitive), escapes of printable
/// characters removed, hex escapes of special characters unified to upper case.
pub fn dn_key(dn: &str) -> String {
    let mut out = String::with_capacity(dn.len());
    let mut raw: Vec<u8> = Vec::new();
    let bytes = dn.as_bytes();
    let mut i = 0;
    let flush = |raw: &mut Vec<u8>, out: &mut String, sep: Option<char>| {
        let text = String::from_utf8_lossy(raw).to_lowercase();
        let (ty, val) = match text.split_once('=') {
            Some((t, v)) => (t.trim().to_string(), v.trim().to_string()),
            None => (String::new(), text.trim().to_string()),
        };
        out.push_str(&ty);
        out.push('=');
        out.push_str(&rdn_value(&val));
        if let Some(c) = sep {
            out.push(c);
        }
        raw.clear();
    };
    while i < bytes.len() {
        let b = bytes[i];
        if b == b'\\' && i + 1 < bytes.len() {
            let hex = bytes.get(i + 1..i + 3).and_then(|h| {
                std::str::from_utf8(h)
                    .ok()
                    .and_then(|h| u8::from_str_radix(h, 16).ok())
            });
            match hex {
                Some(v) => {
                    raw.push(v);
                    i += 3;
                }
                None => {
                    raw.push(bytes[i + 1]);
                    i += 2;
                }
            }
            // An escaped '=' must not split type and value: keep it escaped-equivalent
            // by relying on split_once at the first '=', which belongs to the type.
            continue;
        }
        if b == b',' || b == b'+' {
            flush(&mut raw, &mut out, Some(b as char));
        } else {
            raw.push(b);
        }
        i += 1;
    }
    if !raw.is_empty() {
        flush(&mut raw, &mut out, None);
    }
    out
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

/// The parent of a DN (everything after the first unescaped comma), if any.
pub fn parent_dn(dn: &str) -> Option<&str> {
    let bytes = dn.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' => i += 2,
            b',' => return Some(&dn[i + 1..]),
            _ => i += 1,
        }
    }
    None
}

/// True when `dn` equals `ancestor` or lies below it (case-insensitive).
pub fn is_within(dn: &str, ancestor: &str) -> bool {
    let dn = dn_key(dn);
    let anc = dn_key(ancestor);
    dn == anc || dn.ends_with(&format!(",{anc}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rdn_escapes_rfc4514_specials() {
        assert_eq!(rdn_value("a,b"), "a\\2cb");
        assert_eq!(rdn_value("#lead"), "\\23lead");
        assert_eq!(rdn_value(" both "), "\\20both\\20");
        assert_eq!(rdn_value(r#"x+"\<>;="#), "x\\2b\\22\\5c\\3c\\3e\\3b\\3d");
        assert_eq!(rdn_value("Jürgen Ölmez"), "Jürgen Ölmez");
        assert_eq!(cn_dn("Smith, J", "OU=U,DC=x"), "CN=Smith\\2c J,OU=U,DC=x");
    }

    #[test]
    fn filter_escapes_rfc4515_specials() {
        assert_eq!(filter_value("a*(b)\\c"), "a\\2a\\28b\\29\\5cc");
        assert_eq!(filter_value("plain ü"), "plain ü");
        assert_eq!(filter_bytes(&[0, 0xab]), "\\00\\ab");
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

    #[test]
    fn dn_keys_ignore_case_spacing_and_escape_style() {
        assert_eq!(
            dn_key("CN=Smith\\, J,OU=Users, DC=Example"),
            dn_key("cn=smith\\2C J,ou=users,dc=example")
        );
        assert_ne!(dn_key("CN=a\\,b,DC=x"), dn_key("CN=a,CN=b,DC=x"));
        assert_eq!(dn_key("CN=Jürgen,DC=x"), dn_key("cn=JÜRGEN,dc=X"));
        assert_eq!(dn_key("CN=\\23x\\3D,DC=x"), dn_key("CN=\\#x\\=,DC=x"));
    }

    #[test]
    fn parent_and_within_respect_escapes() {
        assert_eq!(parent_dn("CN=a\\,b,OU=x,DC=y"), Some("OU=x,DC=y"));
        assert_eq!(parent_dn("DC=y"), None);
        assert!(is_within("CN=a,OU=X,DC=y", "ou=x,dc=y"));
        assert!(!is_within("CN=a,OU=XX,DC=y", "ou=x,dc=y"));
    }
}
