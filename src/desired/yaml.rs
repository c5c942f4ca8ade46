//! A small YAML document tree that keeps the source position of every node, so that
//! every problem found later (unknown key, wrong type, dangling reference) can be
//! reported as FILE:LINE:COL.
//!
//! Built from yaml-rust2's pull parser with an explicit stack (no recursion), with
//! hard bounds for hostile input: nesting depth, alias expansion, and a panic guard
//! around the parser.

use std::collections::HashMap;
use std::fmt;

use yaml_rust2::parser::{Event, Parser};
use yaml_rust2::scanner::{Marker, TScalarStyle};

/// The deepest nesting of sequences and mappings accepted.
pub const MAX_DEPTH: usize = 64;
/// The most nodes that alias references may copy into one file's tree.
pub const MAX_ALIAS_NODES: usize = 100_000;
/// The most nodes that anchors may hold in total (each anchored node is kept aside
/// for later aliases, so nested anchors would otherwise multiply memory).
pub const MAX_ANCHORED_NODES: usize = 1_000_000;

/// A 1-based source position, kept in 8 bytes: a repository holds one for every
/// member reference, so at a million users there are tens of millions of them.
/// Files are bounded well below 4 GiB ([`super::source::MAX_FILE_BYTES`]), so
/// neither number can overflow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub struct Pos {
    pub line: u32,
    pub col: u32,
}

impl Pos {
    /// The line, for indexing and for [`super::Diagnostic`].
    pub fn line(self) -> usize {
        self.line as usize
    }
    /// The column (1-based, in characters), for [`super::Diagnostic`].
    pub fn col(self) -> usize {
        self.col as usize
    }
}

impl Pos {
    fn from_marker(m: &Marker) -> Pos {
        // yaml-rust2 reports 1-based lines and 0-based columns.
        Pos {
            line: u32::try_from(m.line().max(1)).unwrap_or(u32::MAX),
            col: u32::try_from(m.col() + 1).unwrap_or(u32::MAX),
        }
    }
}

/// A scalar's text and whether it was written so that it is always a string
/// (quoted, block scalar, or tagged `!!str`).
#[derive(Debug, Clone, PartialEq)]
pub struct Scalar {
    pub text: String,
    pub quoted: bool,
}

/// What a plain scalar means under the YAML 1.2 core schema.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScalarKind {
    Null,
    Bool(bool),
    Int,
    Float,
    Str,
}

impl Scalar {
    pub fn kind(&self) -> ScalarKind {
        if self.quoted {
            return ScalarKind::Str;
        }
        let t = self.text.as_str();
        // Fast path: most values are names and addresses starting with a letter
        // that begins none of the special words.
        match t.as_bytes().first() {
            None => return ScalarKind::Null,
            Some(b) if b.is_ascii_alphabetic() && !b"nNtTfF".contains(b) => {
                return ScalarKind::Str;
            }
            _ => {}
        }
        match t {
            "" | "~" | "null" | "Null" | "NULL" => return ScalarKind::Null,
            "true" | "True" | "TRUE" => return ScalarKind::Bool(true),
            "false" | "False" | "FALSE" => return ScalarKind::Bool(false),
            ".inf" | "-.inf" | "+.inf" | ".Inf" | ".INF" | "-.Inf" | "-.INF" | "+.Inf"
            | "+.INF" | ".nan" | ".NaN" | ".NAN" => return ScalarKind::Float,
            _ => {}
        }
        let digits = t.strip_prefix(['-', '+']).unwrap_or(t);
        if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) {
            return ScalarKind::Int;
        }
        if let Some(h) = t.strip_prefix("0x")
            && !h.is_empty()
            && h.bytes().all(|b| b.is_ascii_hexdigit())
        {
            return ScalarKind::Int;
        }
        if let Some(o) = t.strip_prefix("0o")
            && !o.is_empty()
            && o.bytes().all(|b| (b'0'..=b'7').contains(&b))
        {
            return ScalarKind::Int;
        }
        if digits.bytes().any(|b| b.is_ascii_digit())
            && digits.bytes().all(|b| {
                b.is_ascii_digit() || b == b'.' || b == b'e' || b == b'E' || b == b'-' || b == b'+'
            })
            && t.parse::<f64>().is_ok()
        {
            return ScalarKind::Float;
        }
        ScalarKind::Str
    }
}

/// A node of the tree.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    pub pos: Pos,
    pub value: Value,
    /// Number of nodes in this subtree (for the alias budget).
    size: usize,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Scalar(Scalar),
    Seq(Vec<Node>),
    /// Keys are scalars (checked while building), kept with their positions.
    Map(Vec<(Node, Node)>),
}

impl Node {
    /// A short description of the node's type, for "expected X, found Y" messages.
    pub fn type_name(&self) -> &'static str {
        match &self.value {
            Value::Seq(_) => "a list",
            Value::Map(_) => "a mapping",
            Value::Scalar(s) => match s.kind() {
                ScalarKind::Null => "an empty value",
                ScalarKind::Bool(_) => "a boolean",
                ScalarKind::Int => "an integer",
                ScalarKind::Float => "a number",
                ScalarKind::Str => "a string",
            },
        }
    }

    pub fn is_null(&self) -> bool {
        matches!(&self.value, Value::Scalar(s) if s.kind() == ScalarKind::Null)
    }

    /// The key text of a mapping key node.
    pub fn key_text(&self) -> &str {
        match &self.value {
            Value::Scalar(s) => &s.text,
            _ => "",
        }
    }
}

/// A YAML problem with its position.
#[derive(Debug, Clone, PartialEq)]
pub struct YamlError {
    pub pos: Pos,
    pub message: String,
}

impl fmt::Display for YamlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: {}", self.pos.line, self.pos.col, self.message)
    }
}

enum Frame {
    Seq {
        pos: Pos,
        anchor: usize,
        items: Vec<Node>,
        size: usize,
    },
    Map {
        pos: Pos,
        anchor: usize,
        entries: Vec<(Node, Node)>,
        /// Hashes of the keys so far: duplicate detection without a second copy.
        keys: std::collections::HashSet<u64>,
        /// The pending key, and whether its entry is dropped (a duplicate or
        /// non-scalar key, already reported).
        key: Option<(Node, bool)>,
        size: usize,
    },
}

thread_local! {
    static QUIET_PANIC: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Install (once) a panic hook that stays silent for panics caught inside [`parse`],
/// and defers to the previous hook for everything else.
fn install_quiet_hook() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if !QUIET_PANIC.with(|q| q.get()) {
                previous(info);
            }
        }));
    });
}

/// A parsed document: the tree (`None` for an empty stream: only comments or
/// nothing) and the problems that did not stop parsing (duplicate keys, non-scalar
/// keys; those entries are left out of the tree).
pub type Parsed = (Option<Node>, Vec<YamlError>);

/// Parse one YAML document into a tree. A syntax error, a second document in the
/// same stream, or a bound exceeded is `Err`.
pub fn parse(text: &str) -> Result<Parsed, YamlError> {
    install_quiet_hook();
    QUIET_PANIC.with(|q| q.set(true));
    let result = std::panic::catch_unwind(|| parse_inner(text));
    QUIET_PANIC.with(|q| q.set(false));
    match result {
        Ok(r) => r,
        Err(_) => Err(YamlError {
            pos: Pos { line: 1, col: 1 },
            message: "the YAML parser could not read this file (malformed input)".into(),
        }),
    }
}

fn parse_inner(text: &str) -> Result<Parsed, YamlError> {
    let mut problems: Vec<YamlError> = Vec::new();
    let mut parser = Parser::new_from_str(text);
    let mut stack: Vec<Frame> = Vec::new();
    let mut anchors: HashMap<usize, Node> = HashMap::new();
    let mut alias_nodes: usize = 0;
    let mut anchored_nodes: usize = 0;
    let mut root: Option<Node> = None;
    let mut documents = 0usize;

    loop {
        let (event, marker) = parser.next_token().map_err(|e| syntax_error(text, &e))?;
        let pos = Pos::from_marker(&marker);
        let finished: Option<(Node, usize)> = match event {
            Event::StreamStart | Event::Nothing | Event::DocumentEnd => None,
            Event::StreamEnd => break,
            Event::DocumentStart => {
                documents += 1;
                if documents > 1 {
                    return Err(YamlError {
                        pos,
                        message: "more than one YAML document in this file; put each document in its own file".into(),
                    });
                }
                None
            }
            Event::Alias(id) => {
                let Some(node) = anchors.get(&id) else {
                    return Err(YamlError {
                        pos,
                        message: "alias refers to an anchor that is not defined before it".into(),
                    });
                };
                alias_nodes = alias_nodes.saturating_add(node.size);
                if alias_nodes > MAX_ALIAS_NODES {
                    return Err(YamlError {
                        pos,
                        message: format!(
                            "aliases expand to more than {MAX_ALIAS_NODES} nodes; refusing to expand them (alias bomb?)"
                        ),
                    });
                }
                let mut copy = node.clone();
                copy.pos = pos;
                Some((copy, 0))
            }
            Event::Scalar(text, style, anchor, tag) => {
                let is_str_tag = tag
                    .as_ref()
                    .is_some_and(|t| t.handle == "!!" && t.suffix == "str")
                    || tag
                        .as_ref()
                        .is_some_and(|t| t.suffix == "tag:yaml.org,2002:str");
                let quoted = style != TScalarStyle::Plain || is_str_tag;
                Some((
                    Node {
                        pos,
                        value: Value::Scalar(Scalar { text, quoted }),
                        size: 1,
                    },
                    anchor,
                ))
            }
            Event::SequenceStart(anchor, _) => {
                if stack.len() >= MAX_DEPTH {
                    return Err(depth_error(pos));
                }
                stack.push(Frame::Seq {
                    pos,
                    anchor,
                    items: Vec::new(),
                    size: 1,
                });
                None
            }
            Event::MappingStart(anchor, _) => {
                if stack.len() >= MAX_DEPTH {
                    return Err(depth_error(pos));
                }
                stack.push(Frame::Map {
                    pos,
                    anchor,
                    entries: Vec::new(),
                    keys: std::collections::HashSet::new(),
                    key: None,
                    size: 1,
                });
                None
            }
            Event::SequenceEnd => match stack.pop() {
                Some(Frame::Seq {
                    pos,
                    anchor,
                    items,
                    size,
                }) => Some((
                    Node {
                        pos,
                        value: Value::Seq(items),
                        size,
                    },
                    anchor,
                )),
                _ => return Err(internal(pos)),
            },
            Event::MappingEnd => match stack.pop() {
                Some(Frame::Map {
                    pos,
                    anchor,
                    entries,
                    size,
                    ..
                }) => Some((
                    Node {
                        // Block mappings are reported at the first key's colon;
                        // the first key itself is the natural place to point at.
                        pos: entries.first().map_or(pos, |(k, _)| k.pos.min(pos)),
                        value: Value::Map(entries),
                        size,
                    },
                    anchor,
                )),
                _ => return Err(internal(pos)),
            },
        };
        let Some((node, anchor)) = finished else {
            continue;
        };
        if anchor > 0 {
            anchored_nodes = anchored_nodes.saturating_add(node.size);
            if anchored_nodes > MAX_ANCHORED_NODES {
                return Err(YamlError {
                    pos: node.pos,
                    message: format!(
                        "anchors hold more than {MAX_ANCHORED_NODES} nodes; refusing to keep them"
                    ),
                });
            }
            anchors.insert(anchor, node.clone());
        }
        match stack.last_mut() {
            None => root = Some(node),
            Some(Frame::Seq { items, size, .. }) => {
                *size = size.saturating_add(node.size);
                items.push(node);
            }
            Some(Frame::Map {
                entries,
                keys,
                key,
                size,
                ..
            }) => {
                *size = size.saturating_add(node.size);
                match key.take() {
                    None => {
                        let mut drop = false;
                        if !matches!(node.value, Value::Scalar(_)) {
                            note(
                                &mut problems,
                                YamlError {
                                    pos: node.pos,
                                    message:
                                        "mapping keys must be plain strings, not lists or mappings"
                                            .into(),
                                },
                            );
                            drop = true;
                        } else if is_repeated(keys, entries, node.key_text())
                            && let Some((first, _)) = entries
                                .iter()
                                .find(|(k, _)| k.key_text() == node.key_text())
                        {
                            note(
                                &mut problems,
                                YamlError {
                                    pos: node.pos,
                                    message: format!(
                                        "duplicate key `{}` (first at line {}, column {}); this entry is ignored",
                                        node.key_text(),
                                        first.pos.line,
                                        first.pos.col
                                    ),
                                },
                            );
                            drop = true;
                        }
                        *key = Some((node, drop));
                    }
                    Some((_, true)) => {}
                    Some((k, false)) => entries.push((k, node)),
                }
            }
        }
    }
    Ok((root, problems))
}

/// Record a problem that does not stop parsing; past a thousand, further ones would
/// only be counted away by the per-file cap, so they are not kept.
fn note(problems: &mut Vec<YamlError>, e: YamlError) {
    if problems.len() < 1000 {
        problems.push(e);
    }
}

/// Whether `key` was seen before in a mapping, recording it. Small mappings (every
/// user, group, app) are scanned; from [`SMALL_MAP`] keys on, the hashes kept in
/// `keys` answer, so that a huge mapping stays linear.
fn is_repeated(
    keys: &mut std::collections::HashSet<u64>,
    entries: &[(Node, Node)],
    key: &str,
) -> bool {
    if entries.len() < SMALL_MAP {
        return entries.iter().any(|(k, _)| k.key_text() == key);
    }
    if keys.is_empty() {
        keys.extend(entries.iter().map(|(k, _)| key_hash(k.key_text())));
    }
    !keys.insert(key_hash(key))
}

const SMALL_MAP: usize = 16;

fn key_hash(key: &str) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    key.hash(&mut h);
    h.finish()
}

fn syntax_error(text: &str, e: &yaml_rust2::ScanError) -> YamlError {
    // The scanner notices a tab only where it ends a token; point at the line that
    // indents with a tab instead, which is where the mistake is.
    if e.info().contains("tab") {
        for (i, line) in text.lines().enumerate() {
            let indent: &str = &line[..line.len() - line.trim_start().len()];
            if let Some(col) = indent.find('\t') {
                return YamlError {
                    pos: Pos {
                        line: u32::try_from(i + 1).unwrap_or(u32::MAX),
                        col: u32::try_from(col + 1).unwrap_or(u32::MAX),
                    },
                    message:
                        "YAML syntax error: tab character in indentation (YAML indents with spaces)"
                            .into(),
                };
            }
        }
    }
    let message = if e.info().contains("recursion limit") {
        format!(
            "nesting deeper than the YAML parser allows; refusing to read further ({})",
            e.info()
        )
    } else {
        format!("YAML syntax error: {}", e.info())
    };
    YamlError {
        pos: Pos::from_marker(e.marker()),
        message,
    }
}

fn depth_error(pos: Pos) -> YamlError {
    YamlError {
        pos,
        message: format!("nesting deeper than {MAX_DEPTH} levels; refusing to read further"),
    }
}

fn internal(pos: Pos) -> YamlError {
    YamlError {
        pos,
        message: "unbalanced YAML structure".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_are_one_based() {
        let n = parse("a:\n  - x\n  - y: 1\n").unwrap().0.unwrap();
        let Value::Map(entries) = &n.value else {
            panic!("map")
        };
        assert_eq!(entries[0].0.pos, Pos { line: 1, col: 1 });
        let Value::Seq(items) = &entries[0].1.value else {
            panic!("seq")
        };
        assert_eq!(items[0].pos, Pos { line: 2, col: 5 });
        assert_eq!(items[1].pos, Pos { line: 3, col: 5 });
    }

    #[test]
    fn empty_stream_is_none() {
        assert_eq!(parse("# only a comment\n").unwrap(), (None, vec![]));
        assert_eq!(parse("").unwrap(), (None, vec![]));
    }

    #[test]
    fn syntax_error_has_line() {
        let e = parse("a: 1\nb: [1, 2\nc: 3\n").unwrap_err();
        assert!(e.message.starts_with("YAML syntax error"), "{e}");
        assert!(e.pos.line >= 2, "{e}");
    }

    #[test]
    fn duplicate_keys_are_reported_and_dropped() {
        let (root, problems) = parse("a: 1\na: 2\nb: 3\n").unwrap();
        assert_eq!(problems.len(), 1);
        assert_eq!(problems[0].pos.line, 2);
        assert!(problems[0].message.contains("duplicate key `a`"));
        let Some(Node {
            value: Value::Map(entries),
            ..
        }) = root
        else {
            panic!("map")
        };
        let keys: Vec<&str> = entries.iter().map(|(k, _)| k.key_text()).collect();
        assert_eq!(keys, ["a", "b"]);
        assert_eq!(entries[0].1.pos.line, 1);
    }

    #[test]
    fn alias_bomb_is_refused() {
        let mut s = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
        for i in 1..12 {
            let p = i - 1;
            s.push_str(&format!(
                "a{i}: &a{i} [*a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}]\n"
            ));
        }
        let e = parse(&s).unwrap_err();
        assert!(e.message.contains("alias"), "{e}");
    }

    #[test]
    fn small_aliases_expand() {
        let n = parse("a: &x {k: v}\nb: *x\n").unwrap().0.unwrap();
        let Value::Map(entries) = &n.value else {
            panic!("map")
        };
        assert_eq!(entries[1].1.pos.line, 2);
        assert!(matches!(entries[1].1.value, Value::Map(_)));
    }

    #[test]
    fn deep_nesting_is_refused() {
        let s = "[".repeat(10_000);
        let e = parse(&s).unwrap_err();
        assert!(
            e.message.contains("nesting") || e.message.contains("syntax"),
            "{e}"
        );
        let s = format!("{}{}", "[".repeat(100), "]".repeat(100));
        assert!(parse(&s).unwrap_err().message.contains("nesting"));
    }

    #[test]
    fn second_document_is_an_error() {
        let e = parse("a: 1\n---\nb: 2\n").unwrap_err();
        assert_eq!(e.pos.line, 2);
    }

    #[test]
    fn scalar_kinds() {
        let k = |t: &str| {
            Scalar {
                text: t.into(),
                quoted: false,
            }
            .kind()
        };
        assert_eq!(k("true"), ScalarKind::Bool(true));
        assert_eq!(k("~"), ScalarKind::Null);
        assert_eq!(k("123"), ScalarKind::Int);
        assert_eq!(k("-1.5e3"), ScalarKind::Float);
        assert_eq!(k("yes"), ScalarKind::Str);
        assert_eq!(k("2024-01-01"), ScalarKind::Str);
        assert_eq!(k("e"), ScalarKind::Str);
    }
}
