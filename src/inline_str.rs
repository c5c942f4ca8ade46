//! [`InlineStr`]: an immutable string kept inside its own bytes when it is short, and
//! boxed otherwise. Identifiers are the bulk of roster's memory at scale (tens of
//! millions of member names in a repository, millions of member ids in a tenant), and
//! nearly all of them are short: a username fits in 22 bytes, a GUID in 36. Kept
//! inline, they cost no allocation of their own (no allocator header, no pointer
//! chase). Reads as a `&str` (`Deref`, `Borrow<str>`, so sets and maps of them are
//! looked up by `&str`), compares, hashes and orders exactly like the string, and is
//! written and read in every format as a plain string.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// A string of up to `N` bytes (at most 255) kept inline, a longer one boxed. Its size
/// is `N + 2` rounded up to 8 bytes: `InlineStr<22>` is 24 bytes like a `String`,
/// `InlineStr<38>` 40.
#[derive(Clone)]
pub struct InlineStr<const N: usize>(Repr<N>);

#[derive(Clone)]
enum Repr<const N: usize> {
    Inline { len: u8, bytes: [u8; N] },
    Heap(Box<str>),
}

impl<const N: usize> InlineStr<N> {
    /// The longest string kept inline, in bytes.
    pub const INLINE: usize = {
        assert!(N <= u8::MAX as usize, "the length is kept in a byte");
        N
    };

    pub fn new(s: &str) -> InlineStr<N> {
        if s.len() <= Self::INLINE {
            let mut bytes = [0u8; N];
            bytes[..s.len()].copy_from_slice(s.as_bytes());
            InlineStr(Repr::Inline {
                len: s.len() as u8,
                bytes,
            })
        } else {
            InlineStr(Repr::Heap(s.into()))
        }
    }

    pub fn as_str(&self) -> &str {
        match &self.0 {
            // SAFETY: `Inline` is only made by `new`, from the bytes of a whole `&str`
            // (`len` of them, copied unchanged), and its fields are private to this
            // module: they are always valid UTF-8. Checking them again on every read
            // made the planner about 20% slower (member ids are read millions of times:
            // lookups, ordering, hashing).
            Repr::Inline { len, bytes } => unsafe {
                std::str::from_utf8_unchecked(&bytes[..*len as usize])
            },
            Repr::Heap(s) => s,
        }
    }
}

impl<const N: usize> Default for InlineStr<N> {
    fn default() -> Self {
        InlineStr::new("")
    }
}

impl<const N: usize> std::ops::Deref for InlineStr<N> {
    type Target = str;
    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl<const N: usize> AsRef<str> for InlineStr<N> {
    fn as_ref(&self) -> &str {
        self.as_str()
    }
}

impl<const N: usize> std::borrow::Borrow<str> for InlineStr<N> {
    fn borrow(&self) -> &str {
        self.as_str()
    }
}

impl<const N: usize> std::fmt::Debug for InlineStr<N> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(self.as_str(), f)
    }
}

impl<const N: usize> std::fmt::Display for InlineStr<N> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl<const N: usize> PartialEq for InlineStr<N> {
    fn eq(&self, other: &Self) -> bool {
        self.as_str() == other.as_str()
    }
}
impl<const N: usize> Eq for InlineStr<N> {}
impl<const N: usize> PartialOrd for InlineStr<N> {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl<const N: usize> Ord for InlineStr<N> {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.as_str().cmp(other.as_str())
    }
}
impl<const N: usize> std::hash::Hash for InlineStr<N> {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.as_str().hash(state)
    }
}
impl<const N: usize> PartialEq<str> for InlineStr<N> {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}
impl<const N: usize> PartialEq<&str> for InlineStr<N> {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}
impl<const N: usize> PartialEq<String> for InlineStr<N> {
    fn eq(&self, other: &String) -> bool {
        self.as_str() == other
    }
}
impl<const N: usize> PartialEq<InlineStr<N>> for String {
    fn eq(&self, other: &InlineStr<N>) -> bool {
        self == other.as_str()
    }
}
impl<const N: usize> PartialEq<InlineStr<N>> for &str {
    fn eq(&self, other: &InlineStr<N>) -> bool {
        *self == other.as_str()
    }
}

impl<const N: usize> From<&str> for InlineStr<N> {
    fn from(s: &str) -> Self {
        InlineStr::new(s)
    }
}
impl<const N: usize> From<&String> for InlineStr<N> {
    fn from(s: &String) -> Self {
        InlineStr::new(s)
    }
}
impl<const N: usize> From<String> for InlineStr<N> {
    fn from(s: String) -> Self {
        if s.len() <= Self::INLINE {
            InlineStr::new(&s)
        } else {
            InlineStr(Repr::Heap(s.into_boxed_str()))
        }
    }
}
impl<const N: usize> From<InlineStr<N>> for String {
    fn from(m: InlineStr<N>) -> Self {
        match m.0 {
            Repr::Heap(s) => s.into_string(),
            Repr::Inline { .. } => m.as_str().to_string(),
        }
    }
}

impl<const N: usize> Serialize for InlineStr<N> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de, const N: usize> Deserialize<'de> for InlineStr<N> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        std::borrow::Cow::<'de, str>::deserialize(d).map(|s| InlineStr::new(&s))
    }
}

impl<const N: usize> JsonSchema for InlineStr<N> {
    fn inline_schema() -> bool {
        true
    }
    fn schema_name() -> std::borrow::Cow<'static, str> {
        String::schema_name()
    }
    fn json_schema(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
        String::json_schema(generator)
    }
}

#[cfg(test)]
mod tests {
    use super::InlineStr;

    #[test]
    fn reads_back_every_string_whole_inline_or_boxed() {
        // ASCII and multi-byte text on both sides of the inline limit (22 bytes here).
        let cases = [
            "",
            "u0",
            "abcdefghijklmnopqrstuv",  // 22 bytes: inline
            "abcdefghijklmnopqrstuvw", // 23: boxed
            "abcdefghijklmnopqrsté",   // 20 + 2 bytes: inline
            "abcdefghijklmnopqrstué",  // 21 + 2: boxed
            "Zoë Ødegård-Þórsdóttir",  // 28 bytes of mixed widths: boxed
            "名前",                    // 6 bytes: inline
            "🙂🙂🙂🙂🙂",              // 20 bytes of 4-byte characters: inline
        ];
        for s in cases {
            let m = InlineStr::<22>::new(s);
            assert_eq!(m.as_str(), s);
            assert_eq!(m.len(), s.len());
            assert_eq!(String::from(m.clone()), s);
            assert_eq!(InlineStr::<22>::from(s.to_string()), m);
            let json = serde_json::to_string(&m).expect("json");
            assert_eq!(json, serde_json::to_string(s).expect("json"));
            let back: InlineStr<22> = serde_json::from_str(&json).expect("parse");
            assert_eq!(back, m);
        }
        let mut sorted: Vec<InlineStr<22>> = cases.iter().map(|s| InlineStr::new(s)).collect();
        sorted.sort();
        let mut model = cases.to_vec();
        model.sort();
        assert_eq!(sorted.iter().map(|m| m.as_str()).collect::<Vec<_>>(), model);
        assert_eq!(std::mem::size_of::<InlineStr<22>>(), 24);
        assert_eq!(std::mem::size_of::<InlineStr<38>>(), 40);
    }
}
