//! No input makes the loader panic, hang or misbehave: arbitrary text, YAML-shaped
//! token soup and byte-level mutations of the example files all end in a clean
//! result whose diagnostics carry valid positions.

use proptest::prelude::*;
use roster::desired::source::{Content, SourceFile};
use roster::desired::{Severity, load_files};

fn check(bytes: Vec<u8>) {
    let files = [SourceFile {
        path: "f.yaml".into(),
        content: Content::Bytes(bytes),
    }];
    let loaded = load_files(&files);
    for d in &loaded.diagnostics {
        assert!(d.line >= 1 && d.col >= 1, "{d}");
        assert_eq!(d.file, "f.yaml");
        assert!(!d.message.is_empty());
    }
    // Errors and partial state are fine; a state without errors must be consistent.
    if !loaded.has_errors() {
        assert!(
            loaded
                .diagnostics
                .iter()
                .all(|d| d.severity == Severity::Warning)
        );
    }
}

fn example_texts() -> Vec<Vec<u8>> {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples");
    let mut out = Vec::new();
    for sub in [
        "quickstart/apps.yaml",
        "quickstart/groups.yaml",
        "acme/apps.yaml",
        "acme/groups.yaml",
        "acme/memberships/engineering.yaml",
        "acme/users/it.yaml",
    ] {
        out.push(std::fs::read(root.join(sub)).expect("example file"));
    }
    out
}

const TOKENS: &[&str] = &[
    "apps:",
    "users:",
    "groups:",
    "memberships:",
    "policies:",
    "\n",
    "\n  ",
    "\n    ",
    "- ",
    "name: ",
    "username: ",
    "email: ",
    "members: ",
    "type: ",
    "office365",
    "group:",
    "[",
    "]",
    "{",
    "}",
    ", ",
    ": ",
    "&a ",
    "*a",
    "&b ",
    "*b",
    "!!str ",
    "'",
    "\"",
    "|",
    ">",
    "? ",
    "---",
    "...",
    "#",
    "\t",
    "%YAML 1.2",
    "null",
    "true",
    "12",
    "x@y.com",
    "env: X",
    "password: ",
    "expires: 2026-02-30",
    "<<: *a",
    "~",
    "\u{feff}",
    "é",
    "\\",
    "!tag ",
];

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        check(bytes);
    }

    #[test]
    fn arbitrary_text(text in "\\PC{0,400}") {
        check(text.into_bytes());
    }

    #[test]
    fn yaml_token_soup(idx in proptest::collection::vec(0..TOKENS.len(), 0..120)) {
        let text: String = idx.iter().map(|&i| TOKENS[i]).collect();
        check(text.into_bytes());
    }

    #[test]
    fn mutated_examples(
        which in 0usize..6,
        edits in proptest::collection::vec((any::<u16>(), 0u8..4, any::<u8>(), 0..TOKENS.len()), 1..8),
    ) {
        let mut bytes = example_texts().swap_remove(which);
        for (pos, op, byte, tok) in edits {
            if bytes.is_empty() {
                break;
            }
            let at = pos as usize % bytes.len();
            match op {
                0 => bytes[at] = byte,
                1 => { bytes.remove(at); }
                2 => { bytes.splice(at..at, TOKENS[tok].bytes()); }
                _ => { let end = (at + byte as usize % 40).min(bytes.len()); bytes.drain(at..end); }
            }
        }
        check(bytes);
    }
}
