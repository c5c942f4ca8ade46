//! The YAML text of the files `roster import` writes.
//!
//! Values come from live directories, so any string can turn up: a department called
//! `yes`, a job title `0123`, a name with a trailing space or a `: `. roster reads YAML
//! with the 1.2 core schema, but reviewers' editors, linters and other tools often
//! read YAML 1.1, where `yes`, `on`, `n` are booleans, `0123` is octal, `1:30` is a
//! number and `2024-01-31` a date. serde_yaml (serde_norway) quotes only what its own
//! 1.2 reader would misread, and leaves `yes`, `off`, `y` and 1.1 dates plain; so the
//! text is written here instead: a string is plain only when it starts with a letter,
//! holds nothing but letters, digits, spaces and `._-@/'()+,&`, does not end in a
//! space and is none of the special words of either YAML version; every other
//! string is double-quoted with YAML escapes. Both rules are checked by tests that
//! read the text back with the loader `validate` uses.

use std::fmt::Write as _;

use serde_json::Value;

/// YAML for a tree of mappings, sequences and scalars (mapping order kept), in
/// block style with sequences indented under their key.
pub fn to_yaml(value: &Value) -> String {
    let mut out = String::new();
    match value {
        Value::Object(map) if !map.is_empty() => mapping(&mut out, map, 0, None),
        Value::Array(items) if !items.is_empty() => sequence(&mut out, items, 0),
        other => {
            out.push_str(&inline(other));
            out.push('\n');
        }
    }
    out
}

/// A mapping whose keys start at column `indent`; with `first_prefix`, the first key
/// follows that text on the current line (the `- ` of a sequence entry).
fn mapping(
    out: &mut String,
    map: &serde_json::Map<String, Value>,
    indent: usize,
    first_prefix: Option<&str>,
) {
    for (i, (key, value)) in map.iter().enumerate() {
        match (i, first_prefix) {
            (0, Some(prefix)) => out.push_str(prefix),
            _ => push_indent(out, indent),
        }
        out.push_str(&scalar(key));
        out.push(':');
        match value {
            Value::Object(m) if !m.is_empty() => {
                out.push('\n');
                mapping(out, m, indent + 2, None);
            }
            Value::Array(items) if !items.is_empty() => {
                out.push('\n');
                sequence(out, items, indent + 2);
            }
            other => {
                out.push(' ');
                out.push_str(&inline(other));
                out.push('\n');
            }
        }
    }
}

/// A sequence whose `- ` markers start at column `indent`.
fn sequence(out: &mut String, items: &[Value], indent: usize) {
    for item in items {
        match item {
            Value::Object(m) if !m.is_empty() => {
                let mut prefix = " ".repeat(indent);
                prefix.push_str("- ");
                mapping(out, m, indent + 2, Some(&prefix));
            }
            Value::Array(inner) if !inner.is_empty() => {
                push_indent(out, indent);
                out.push_str("-\n");
                sequence(out, inner, indent + 2);
            }
            other => {
                push_indent(out, indent);
                out.push_str("- ");
                out.push_str(&inline(other));
                out.push('\n');
            }
        }
    }
}

fn push_indent(out: &mut String, n: usize) {
    out.extend(std::iter::repeat_n(' ', n));
}

/// A scalar, or an empty collection, on one line.
fn inline(v: &Value) -> String {
    match v {
        Value::Null => "null".into(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => scalar(s),
        Value::Array(_) => "[]".into(),
        Value::Object(_) => "{}".into(),
    }
}

/// A string as a YAML scalar that every YAML reader, 1.1 or 1.2, reads back as this
/// very string.
pub fn scalar(s: &str) -> String {
    if plain_is_safe(s) {
        s.to_string()
    } else {
        double_quoted(s)
    }
}

/// Words that are not strings when plain in YAML 1.1 or 1.2 (booleans, null), in any
/// letter case. Everything else a 1.1 or 1.2 reader types (numbers, dates, times,
/// `.inf`, `~`, `<<`, `=`) starts with a character other than a letter.
const SPECIAL_WORDS: &[&str] = &["y", "n", "yes", "no", "on", "off", "true", "false", "null"];

/// Whether `s` may be written as a plain scalar, in block context, as a mapping value
/// or a sequence entry: a conservative rule, so that no reader sees anything else.
fn plain_is_safe(s: &str) -> bool {
    let Some(first) = s.chars().next() else {
        return false;
    };
    let letter = |c: char| c.is_ascii_alphabetic() || (!c.is_ascii() && c.is_alphabetic());
    if !letter(first) || s.ends_with(' ') {
        return false;
    }
    let allowed = |c: char| {
        c.is_ascii_alphanumeric()
            || (!c.is_ascii() && c.is_alphanumeric())
            || " ._-@/'()+,&".contains(c)
    };
    s.chars().all(allowed) && !SPECIAL_WORDS.iter().any(|w| s.eq_ignore_ascii_case(w))
}

/// YAML's printable characters (YAML 1.2 §5.1), less the ones YAML 1.1 reads as line
/// breaks (NEL, LS, PS) and the byte order mark: all of these are escaped.
fn printable(c: char) -> bool {
    matches!(c as u32, 0x20..=0x7E | 0xA0..=0xD7FF | 0xE000..=0xFFFD | 0x1_0000..=0x10_FFFF)
        && !matches!(c, '\u{2028}' | '\u{2029}' | '\u{FEFF}')
}

/// A double-quoted scalar: `"` and `\` escaped, and every character that is not
/// printable written as an escape (`\n`, `\t`, `\r`, `\xXX`, `\uXXXX`, `\UXXXXXXXX`).
fn double_quoted(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if printable(c) => out.push(c),
            c if (c as u32) <= 0xFF => {
                let _ = write!(out, "\\x{:02X}", c as u32);
            }
            c if (c as u32) <= 0xFFFF => {
                let _ = write!(out, "\\u{:04X}", c as u32);
            }
            c => {
                let _ = write!(out, "\\U{:08X}", c as u32);
            }
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::desired::yaml::{self, ScalarKind};
    use proptest::prelude::*;
    use serde_json::json;

    /// Reads `key: <scalar>` back with the repository's own YAML reader.
    fn read_back(s: &str) -> (String, ScalarKind) {
        let text = format!("key: {}\n", scalar(s));
        let (tree, problems) = yaml::parse(&text).expect("parses");
        assert!(problems.is_empty(), "{text}: {problems:?}");
        let root = tree.expect("a document");
        let yaml::Value::Map(entries) = &root.value else {
            panic!("{text}: not a mapping");
        };
        let yaml::Value::Scalar(v) = &entries[0].1.value else {
            panic!("{text}: not a scalar");
        };
        (v.text.clone(), v.kind())
    }

    /// Every hazard of YAML 1.1 and 1.2 is quoted, and reads back as the same string.
    #[test]
    fn hazards_are_quoted_and_read_back_as_strings() {
        let hazards = [
            "yes",
            "Yes",
            "YES",
            "no",
            "No",
            "on",
            "On",
            "off",
            "OFF",
            "y",
            "Y",
            "n",
            "N",
            "true",
            "False",
            "null",
            "Null",
            "~",
            "",
            "<<",
            "=",
            "0123",
            "123",
            "-1",
            "+1",
            "1.5",
            ".5",
            "1e3",
            "1_000",
            "0x1F",
            "0o17",
            "0b101",
            "1:30",
            "190:20:30",
            ".inf",
            "-.inf",
            ".nan",
            "2024-01-31",
            "2001-12-14t21:59:43.10-05:00",
            " leading",
            "trailing ",
            "a: b",
            "a:",
            "a #b",
            "#x",
            "-x",
            "- x",
            "?x",
            "!x",
            "&x",
            "*x",
            "%x",
            "@x",
            "`x",
            "|x",
            ">x",
            "'x",
            "\"x",
            "[x]",
            "{x}",
            ",x",
            "a\tb",
            "a\nb",
            "a\\b",
            "x\u{85}y",
            "x\u{2028}y",
            "\u{feff}x",
            "nul\u{0}",
            "del\u{7f}",
            "c1\u{9b}",
        ];
        for h in hazards {
            let written = scalar(h);
            assert!(
                written.starts_with('"'),
                "{h:?} must be quoted, written as {written}"
            );
            assert_eq!(read_back(h), (h.to_string(), ScalarKind::Str), "{written}");
        }
    }

    /// Ordinary names, addresses and titles stay plain and readable.
    #[test]
    fn ordinary_values_stay_plain() {
        for s in [
            "ann",
            "ann.lee",
            "Ann O'Brien",
            "ann+tag@contoso.com",
            "O'Brien@Contoso.com",
            "Research & Development",
            "Sales (EMEA)",
            "José Müller",
            "yesterday",
            "Norway",
            "nobody",
        ] {
            assert_eq!(scalar(s), s, "{s} stays plain");
            assert_eq!(read_back(s), (s.to_string(), ScalarKind::Str));
        }
    }

    #[test]
    fn documents_have_block_structure() {
        let v = json!({
            "users": [
                {"username": "ann", "email": "ann@contoso.com", "enabled": true, "licenses": ["E3"]},
                {"username": "ben", "email": "ben@contoso.com", "enabled": false, "department": "yes"}
            ],
            "empty": [],
            "map": {"a": "0123"}
        });
        assert_eq!(
            to_yaml(&v),
            "users:\n  - username: ann\n    email: ann@contoso.com\n    enabled: true\n    licenses:\n      - E3\n  \
             - username: ben\n    email: ben@contoso.com\n    enabled: false\n    department: \"yes\"\n\
             empty: []\nmap:\n  a: \"0123\"\n"
        );
    }

    proptest! {
        /// Any string at all comes back unchanged, and as a string.
        #[test]
        fn any_string_reads_back_unchanged(s in any::<String>()) {
            prop_assert_eq!(read_back(&s), (s.clone(), ScalarKind::Str));
        }

        /// Strings made of the characters YAML gives meaning to come back unchanged.
        #[test]
        fn punctuation_reads_back_unchanged(s in "[a-zA-Z0-9 :#'\"\\-?!&*%@`|>{}\\[\\],.~=<+_\t\n]{0,12}") {
            prop_assert_eq!(read_back(&s), (s.clone(), ScalarKind::Str));
        }
    }
}
