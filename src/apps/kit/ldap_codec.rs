//! LDAP encodings that are easy to get wrong, for every LDAP connector: RFC 4514 DN
//! escaping and comparison, RFC 4515 filter escaping, DN ancestry.

use std::fmt::Write as _;

/// Escape a value for use as an RDN attribute value (RFC 4514): `, + " \ < > ; =`, NUL,
/// a leading space or `#` and a trailing space become `\XX`. Non-ASCII letters stay
/// as UTF-8, which RFC 4514 allows.
pub fn rdn_value(value: &str) -> String {
    ldap3::dn_escape(value).into_owned()
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
    }

    #[test]
    fn filter_escapes_rfc4515_specials() {
        assert_eq!(filter_value("a*(b)\\c"), "a\\2a\\28b\\29\\5cc");
        assert_eq!(filter_value("plain ü"), "plain ü");
        assert_eq!(filter_bytes(&[0, 0xab]), "\\00\\ab");
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
