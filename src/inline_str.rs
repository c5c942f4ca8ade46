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
            // Always the bytes of a whole `&str` (see `new`), so this never fails.
            Repr::Inline { len, bytes } => {
                std::str::from_utf8(&bytes[..*len as usize]).unwrap_or_default()
            }
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
