//! Attribute templates: the values of an app's `attribute_map`, text with `{field}`
//! placeholders and filters, such as
//! `{first_name|ascii|lower}.{last_name|ascii|lower}@contoso.com`.
//!
//! The language:
//!
//! - Literal text is copied as it is; `{{` and `}}` stand for literal braces. A
//!   backslash in literal text is an ordinary character (`CONTOSO\{username}`).
//! - A placeholder is `{FIELD}` or `{FIELD|filter|filter:arg…}`. Whitespace around the
//!   field and filter names is ignored (`{ first_name | lower }`).
//! - FIELD is one of [`FIELDS`] or `attributes.NAME`, NAME made of ASCII letters,
//!   digits, `_` and `-`. An absent field renders as empty text.
//! - Filters ([`FILTERS`]) apply left to right: `lower`, `upper` (Unicode case
//!   mapping), `ascii` (transliteration: "José Núñez" → "Jose Nunez"; characters with
//!   no transliteration are dropped), `trim` (Unicode whitespace), `truncate:N` (keep
//!   the first N ≥ 1 characters, Unicode scalar values), `replace:FROM:TO` (every
//!   FROM, which must not be empty, becomes TO, which may be) and `default:TEXT` (TEXT
//!   when the value so far is empty).
//! - Arguments follow `:` and are taken verbatim up to the next unescaped `:`, `|` or
//!   `}`: spaces are part of them (`replace: :.` turns spaces into dots, and
//!   `default:n/a }` has a trailing space). Inside an argument `\:`, `\|`, `\}` and
//!   `\\` stand for those characters; any other backslash is an error, so a later
//!   escape can never change what an accepted template means. `truncate`'s N alone is
//!   read without surrounding whitespace, since spaces mean nothing in a number.
//!
//! Parsing checks everything — field names, filter names, argument counts and values
//! — so that a repository with a bad template fails at load with a position
//! ([`TemplateError::offset`], in characters) and, for a typo, a suggestion; a parsed
//! [`Template`] renders without errors. Rendering walks the parsed parts, with no
//! re-parsing and no regular expressions, because the planner renders every mapped
//! attribute of every user on every run.

use std::fmt;

/// The user fields a placeholder can name, besides `attributes.NAME`.
pub const FIELDS: &[&str] = &[
    "username",
    "email",
    "first_name",
    "last_name",
    "display_name",
    "department",
    "job_title",
    "employee_id",
    "mobile_phone",
    "usage_location",
];

/// The filters a placeholder can apply.
pub const FILTERS: &[&str] = &[
    "lower", "upper", "ascii", "trim", "truncate", "replace", "default",
];

/// The prefix of a user's free-form attributes in a placeholder.
const ATTRIBUTES_PREFIX: &str = "attributes.";

/// A parsed template: the source text and the parts it renders from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    source: String,
    parts: Vec<Part>,
}

/// One piece of a template, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    /// Text copied as it is, with `{{`/`}}` already turned into braces.
    Literal(String),
    /// A field's value passed through filters.
    Field { name: String, filters: Vec<Filter> },
}

/// A filter with its arguments checked and converted at parse time.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Filter {
    Lower,
    Upper,
    Ascii,
    Trim,
    Truncate(usize),
    Replace { from: String, to: String },
    Default(String),
}

/// Why a template text is not a template.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct TemplateError {
    /// Character offset (Unicode scalar values, from 0) into the template text where
    /// the problem starts, for a caller to turn into a line and column.
    pub offset: usize,
    /// What is wrong and, where roster can tell, how to fix it.
    pub message: String,
}

impl TemplateError {
    fn new(offset: usize, message: impl Into<String>) -> TemplateError {
        TemplateError {
            offset,
            message: message.into(),
        }
    }
}

impl Template {
    /// Parses `text`, checking every field, filter and argument.
    pub fn parse(text: &str) -> Result<Template, TemplateError> {
        let chars: Vec<char> = text.chars().collect();
        let mut parts = Vec::new();
        let mut literal = String::new();
        let mut i = 0;
        while i < chars.len() {
            let next = chars.get(i + 1).copied();
            match chars[i] {
                '{' if next == Some('{') => {
                    literal.push('{');
                    i += 2;
                }
                '}' if next == Some('}') => {
                    literal.push('}');
                    i += 2;
                }
                '}' => {
                    return Err(TemplateError::new(
                        i,
                        "stray `}` with no `{` before it: write `}}` for a literal brace",
                    ));
                }
                '{' => {
                    if !literal.is_empty() {
                        parts.push(Part::Literal(std::mem::take(&mut literal)));
                    }
                    let (part, end) = parse_placeholder(&chars, i)?;
                    parts.push(part);
                    i = end;
                }
                c => {
                    literal.push(c);
                    i += 1;
                }
            }
        }
        if !literal.is_empty() {
            parts.push(Part::Literal(literal));
        }
        Ok(Template {
            source: text.to_string(),
            parts,
        })
    }

    /// A template that is the field itself: `{name}` (used for defaults).
    ///
    /// `name` is not checked: callers pass one of [`FIELDS`] or an `attributes.NAME`
    /// they hold, and a template of such a name equals the parse of `{name}`.
    pub fn field(name: &str) -> Template {
        Template {
            source: format!("{{{name}}}"),
            parts: vec![Part::Field {
                name: name.to_string(),
                filters: Vec::new(),
            }],
        }
    }

    /// Renders with `value(field)` giving a field's value (None = absent = empty).
    ///
    /// `value` is called once per placeholder, with the field name as written in
    /// [`Template::fields`]. A template that is one placeholder returns the filtered
    /// value itself, with no second buffer.
    pub fn render(&self, value: &dyn Fn(&str) -> Option<String>) -> String {
        if let [Part::Field { name, filters }] = self.parts.as_slice() {
            return apply(value(name).unwrap_or_default(), filters);
        }
        let mut out = String::new();
        for part in &self.parts {
            match part {
                Part::Literal(text) => out.push_str(text),
                Part::Field { name, filters } => {
                    out.push_str(&apply(value(name).unwrap_or_default(), filters));
                }
            }
        }
        out
    }

    /// The fields the template reads, in order of appearance, deduplicated.
    pub fn fields(&self) -> Vec<&str> {
        let mut fields: Vec<&str> = Vec::new();
        for part in &self.parts {
            if let Part::Field { name, .. } = part
                && !fields.contains(&name.as_str())
            {
                fields.push(name);
            }
        }
        fields
    }

    /// The source text (as parsed), for messages and plans.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// True when the template has no placeholder (a constant).
    pub fn is_constant(&self) -> bool {
        !self
            .parts
            .iter()
            .any(|part| matches!(part, Part::Field { .. }))
    }
}

/// Parses the placeholder whose `{` is at `start`; returns it and the index after its
/// `}`.
fn parse_placeholder(chars: &[char], start: usize) -> Result<(Part, usize), TemplateError> {
    let mut i = start + 1;
    let field_start = i;
    i = scan_name(chars, i, &['|', '}']);
    check_closed(chars, start, i)?;
    let (name, name_offset) = trimmed(chars, field_start, i);
    if name.is_empty() {
        let message = if chars[i] == '}' {
            "empty placeholder `{}`: name a field, as in `{username}`, or write `{{` for a \
             literal brace"
        } else {
            "placeholder with no field before `|`: name a field, as in `{username|lower}`"
        };
        return Err(TemplateError::new(start, message));
    }
    check_field(&name, name_offset)?;
    let mut filters = Vec::new();
    while chars[i] == '|' {
        let bar = i;
        i += 1;
        let filter_start = i;
        i = scan_name(chars, i, &[':', '|', '}']);
        check_closed(chars, start, i)?;
        let (filter, filter_offset) = trimmed(chars, filter_start, i);
        let mut args = Vec::new();
        while chars[i] == ':' {
            i += 1;
            let (arg, end) = parse_argument(chars, start, i)?;
            args.push((arg, i));
            i = end;
        }
        if filter.is_empty() {
            return Err(TemplateError::new(
                bar,
                format!(
                    "no filter after `|`: name one of {}",
                    list(FILTERS.iter().copied())
                ),
            ));
        }
        filters.push(make_filter(&filter, filter_offset, args)?);
    }
    // scan_name and parse_argument stop only at the characters handled above or `}`.
    Ok((Part::Field { name, filters }, i + 1))
}

/// The index of the first of `stops`, `{` or the end, from `i`.
fn scan_name(chars: &[char], mut i: usize, stops: &[char]) -> usize {
    while i < chars.len() && chars[i] != '{' && !stops.contains(&chars[i]) {
        i += 1;
    }
    i
}

/// An error unless the field or filter name that ended at `i` ended at a separator:
/// the end of the text or another `{` means the placeholder at `start` is not closed.
fn check_closed(chars: &[char], start: usize, i: usize) -> Result<(), TemplateError> {
    match chars.get(i) {
        None => Err(unclosed(start)),
        Some('{') => Err(TemplateError::new(
            start,
            "unclosed `{`: another `{` comes before the `}` that would end this placeholder \
             (write `{{` for a literal brace)",
        )),
        Some(_) => Ok(()),
    }
}

/// The error of a placeholder at `start` that the text ends in.
fn unclosed(start: usize) -> TemplateError {
    TemplateError::new(
        start,
        "unclosed `{`: no `}` ends this placeholder (write `{{` for a literal brace)",
    )
}

/// The text of `chars[from..to]` without surrounding whitespace, and the offset where
/// what is left starts.
fn trimmed(chars: &[char], from: usize, to: usize) -> (String, usize) {
    let segment = &chars[from..to];
    let lead = segment.iter().take_while(|c| c.is_whitespace()).count();
    let text: String = segment[lead..].iter().collect();
    (text.trim_end().to_string(), from + lead)
}

/// Parses one filter argument from `i` (just after its `:`), resolving escapes;
/// returns it and the index of the `:`, `|` or `}` that ends it.
fn parse_argument(
    chars: &[char],
    placeholder: usize,
    mut i: usize,
) -> Result<(String, usize), TemplateError> {
    let mut arg = String::new();
    loop {
        match chars.get(i) {
            None => {
                return Err(unclosed(placeholder));
            }
            Some(':' | '|' | '}') => return Ok((arg, i)),
            Some('\\') => match chars.get(i + 1) {
                Some(&c @ (':' | '|' | '}' | '\\')) => {
                    arg.push(c);
                    i += 2;
                }
                None => {
                    return Err(unclosed(placeholder));
                }
                Some(c) => {
                    return Err(TemplateError::new(
                        i,
                        format!(
                            "unknown escape `\\{c}` in a filter argument: the escapes are \
                             `\\:`, `\\|`, `\\}}` and `\\\\` (write `\\\\` for a backslash)"
                        ),
                    ));
                }
            },
            Some(&c) => {
                arg.push(c);
                i += 1;
            }
        }
    }
}

/// Checks a field name: one of [`FIELDS`] or `attributes.NAME`.
fn check_field(name: &str, offset: usize) -> Result<(), TemplateError> {
    if FIELDS.contains(&name) {
        return Ok(());
    }
    if let Some(colon) = name.chars().position(|c| c == ':') {
        return Err(TemplateError::new(
            offset + colon,
            format!(
                "`:` after field `{}`: arguments belong to filters, as in \
                 `{{first_name|truncate:3}}`",
                name.split(':').next().unwrap_or_default().trim_end()
            ),
        ));
    }
    if let Some(attribute) = name.strip_prefix(ATTRIBUTES_PREFIX) {
        if attribute.is_empty() {
            return Err(TemplateError::new(
                offset,
                "`attributes.` needs an attribute name: `attributes.NAME`",
            ));
        }
        if let Some(bad) = attribute.chars().find(|&c| !is_attribute_char(c)) {
            let at = offset
                + ATTRIBUTES_PREFIX.len()
                + attribute.chars().take_while(|&c| c != bad).count();
            return Err(TemplateError::new(
                at,
                format!(
                    "attribute name `{attribute}` has `{bad}`: attribute names are ASCII \
                     letters, digits, `_` and `-`"
                ),
            ));
        }
        return Ok(());
    }
    if name == "attributes" {
        return Err(TemplateError::new(
            offset,
            "`attributes` needs an attribute name: `attributes.NAME`",
        ));
    }
    // `attribute.x`, `attrs.x`: the prefix misspelt, the name fine.
    if let Some((prefix, attribute)) = name.split_once('.')
        && !attribute.is_empty()
        && attribute.chars().all(is_attribute_char)
        && suggest(prefix, ["attributes"]).is_some()
    {
        return Err(TemplateError::new(
            offset,
            format!("unknown field `{name}` (did you mean `attributes.{attribute}`?)"),
        ));
    }
    let message = match suggest(name, FIELDS.iter().copied()) {
        Some(s) => format!("unknown field `{name}` (did you mean `{s}`?)"),
        None => format!(
            "unknown field `{name}`: the fields are {}",
            list(FIELDS.iter().copied().chain(["attributes.NAME"]))
        ),
    };
    Err(TemplateError::new(offset, message))
}

/// A character allowed in NAME of `attributes.NAME`.
fn is_attribute_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_' || c == '-'
}

/// Builds the filter `name` from its arguments (each with its offset), checking their
/// number and values.
fn make_filter(
    name: &str,
    offset: usize,
    args: Vec<(String, usize)>,
) -> Result<Filter, TemplateError> {
    let plain = |filter: Filter| {
        if args.is_empty() {
            Ok(filter)
        } else {
            Err(TemplateError::new(
                offset,
                format!("filter `{name}` takes no arguments"),
            ))
        }
    };
    match name {
        "lower" => plain(Filter::Lower),
        "upper" => plain(Filter::Upper),
        "ascii" => plain(Filter::Ascii),
        "trim" => plain(Filter::Trim),
        "truncate" => {
            let [(n, n_offset)] = args.as_slice() else {
                return Err(TemplateError::new(
                    offset,
                    "filter `truncate` takes one argument, the number of characters to keep: \
                     `truncate:N`",
                ));
            };
            let digits = n.trim();
            match digits.parse::<usize>() {
                Ok(n) if n >= 1 && digits.bytes().all(|b| b.is_ascii_digit()) => {
                    Ok(Filter::Truncate(n))
                }
                _ => Err(TemplateError::new(
                    *n_offset,
                    format!(
                        "filter `truncate` takes a whole number of characters ≥ 1 \
                         (`truncate:N`), not `{n}`"
                    ),
                )),
            }
        }
        "replace" => {
            let [(from, from_offset), (to, _)] = args.as_slice() else {
                return Err(TemplateError::new(
                    offset,
                    format!(
                        "filter `replace` takes two arguments, `replace:FROM:TO`, not {} \
                         (write `\\:` for a colon inside one)",
                        args.len()
                    ),
                ));
            };
            if from.is_empty() {
                return Err(TemplateError::new(
                    *from_offset,
                    "filter `replace` needs a non-empty FROM: `replace:FROM:TO`",
                ));
            }
            Ok(Filter::Replace {
                from: from.clone(),
                to: to.clone(),
            })
        }
        "default" => {
            let [(text, _)] = args.as_slice() else {
                return Err(TemplateError::new(
                    offset,
                    format!(
                        "filter `default` takes one argument, `default:TEXT`, not {} \
                         (write `\\:` for a colon in TEXT)",
                        args.len()
                    ),
                ));
            };
            Ok(Filter::Default(text.clone()))
        }
        _ => {
            let message = match suggest(name, FILTERS.iter().copied()) {
                Some(s) => format!("unknown filter `{name}` (did you mean `{s}`?)"),
                None => format!(
                    "unknown filter `{name}`: the filters are {}",
                    list(FILTERS.iter().copied())
                ),
            };
            Err(TemplateError::new(offset, message))
        }
    }
}

/// Applies `filters` in order to `value`, in place where the filter allows it: the
/// common case (an ASCII value through `lower`, `ascii` or `trim`) allocates nothing.
fn apply(mut value: String, filters: &[Filter]) -> String {
    for filter in filters {
        match filter {
            Filter::Lower => {
                if value.is_ascii() {
                    value.make_ascii_lowercase();
                } else {
                    value = value.to_lowercase();
                }
            }
            Filter::Upper => {
                if value.is_ascii() {
                    value.make_ascii_uppercase();
                } else {
                    value = value.to_uppercase();
                }
            }
            Filter::Ascii => {
                if !value.is_ascii() {
                    // No placeholder for characters without a transliteration: a
                    // `[?]` in a username or a mail address is worse than nothing.
                    value = deunicode::deunicode_with_tofu_cow(&value, "").into_owned();
                }
            }
            Filter::Trim => {
                let end = value.trim_end().len();
                value.truncate(end);
                let start = value.len() - value.trim_start().len();
                value.drain(..start);
            }
            Filter::Truncate(n) => {
                if let Some((at, _)) = value.char_indices().nth(*n) {
                    value.truncate(at);
                }
            }
            Filter::Replace { from, to } => {
                if value.contains(from.as_str()) {
                    value = value.replace(from.as_str(), to);
                }
            }
            Filter::Default(text) => {
                if value.is_empty() {
                    value.push_str(text);
                }
            }
        }
    }
    value
}

/// The closest candidate to `word`, when it is close enough to be a likely typo
/// (the same rule as the repository loader's key suggestions).
fn suggest<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let lower = word.to_lowercase();
    let mut best: Option<(f64, &str)> = None;
    for candidate in candidates {
        let score = strsim::jaro_winkler(&lower, candidate);
        let distance = strsim::levenshtein(&lower, candidate);
        let close = score >= 0.85 || distance <= 2.min(candidate.len().saturating_sub(1));
        if close && best.is_none_or(|(s, _)| score > s) {
            best = Some((score, candidate));
        }
    }
    best.map(|(_, candidate)| candidate)
}

/// `a, b and c` with each name in backticks.
fn list<'a>(names: impl Iterator<Item = &'a str>) -> String {
    let names: Vec<String> = names.map(|n| format!("`{n}`")).collect();
    match names.split_last() {
        Some((last, rest)) if !rest.is_empty() => format!("{} and {last}", rest.join(", ")),
        Some((last, _)) => last.clone(),
        None => String::new(),
    }
}

impl fmt::Display for Template {
    /// The source text, so a template reads in messages as the user wrote it.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.source)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// A user with a few fields set, one set to empty text, and the rest absent.
    fn user(field: &str) -> Option<String> {
        let value = match field {
            "username" => "alice",
            "first_name" => "José",
            "last_name" => "Núñez",
            "display_name" => "Mary Ann  O'Brien",
            "department" => "",
            "usage_location" => "  DK \t",
            "attributes.cost_center" => "CC-1",
            "attributes.city" => "Ærøskøbing",
            "attributes.street" => "Straße",
            _ => return None,
        };
        Some(value.to_string())
    }

    fn render(text: &str) -> String {
        match Template::parse(text) {
            Ok(t) => t.render(&user),
            Err(e) => panic!("{text:?} did not parse: {e} (at {})", e.offset),
        }
    }

    /// The value of `field` pushed through `filters`, with the field set to `value`.
    fn filtered(value: &str, filters: &str) -> String {
        let t = Template::parse(&format!("{{first_name{filters}}}")).expect("parses");
        t.render(&|_| Some(value.to_string()))
    }

    fn error(text: &str) -> (usize, String) {
        match Template::parse(text) {
            Ok(t) => panic!("{text:?} parsed: {t:?}"),
            Err(e) => (e.offset, e.message),
        }
    }

    #[test]
    fn literal_text_is_a_constant() {
        let t = Template::parse("contoso.com").unwrap();
        assert!(t.is_constant());
        assert!(t.fields().is_empty());
        assert_eq!(t.source(), "contoso.com");
        assert_eq!(t.render(&user), "contoso.com");
        let empty = Template::parse("").unwrap();
        assert!(empty.is_constant());
        assert_eq!(empty.render(&user), "");
    }

    #[test]
    fn doubled_braces_are_literal_braces() {
        let t = Template::parse("{{username}}").unwrap();
        assert!(t.is_constant());
        assert_eq!(t.render(&user), "{username}");
        assert_eq!(render("{{{username}}}"), "{alice}");
        assert_eq!(render("a}}b{{c"), "a}b{c");
    }

    #[test]
    fn a_backslash_in_literal_text_is_plain() {
        assert_eq!(render(r"CONTOSO\{username}"), r"CONTOSO\alice");
        assert_eq!(render(r"a\:b|c"), r"a\:b|c");
    }

    #[test]
    fn placeholders_render_field_values() {
        assert_eq!(render("{username}@contoso.com"), "alice@contoso.com");
        assert_eq!(render("{first_name} {last_name}"), "José Núñez");
        assert_eq!(render("cc={attributes.cost_center}"), "cc=CC-1");
        assert!(!Template::parse("{username}").unwrap().is_constant());
    }

    #[test]
    fn absent_and_empty_fields_render_empty() {
        assert_eq!(render("[{job_title}]"), "[]");
        assert_eq!(render("[{department}]"), "[]");
        assert_eq!(render("[{attributes.nothing}]"), "[]");
        assert_eq!(render("{job_title}"), "");
    }

    #[test]
    fn whitespace_around_names_is_ignored() {
        assert_eq!(render("{ first_name | lower }"), "josé");
        assert_eq!(render("{\tusername\t|\tupper\t}"), "ALICE");
        assert_eq!(render("{ last_name | truncate :2 }"), "Nú");
    }

    #[test]
    fn lower_and_upper_are_unicode_aware() {
        assert_eq!(filtered("ÉLODIE Ørsted", "|lower"), "élodie ørsted");
        assert_eq!(filtered("Alice", "|lower"), "alice");
        assert_eq!(filtered("straße", "|upper"), "STRASSE");
        assert_eq!(filtered("bob", "|upper"), "BOB");
        // Final sigma: lowercasing is of the whole string, not letter by letter.
        assert_eq!(filtered("ΟΔΟΣ", "|lower"), "οδος");
    }

    #[test]
    fn ascii_transliterates() {
        assert_eq!(filtered("José Núñez", "|ascii"), "Jose Nunez");
        assert_eq!(render("{attributes.city|ascii}"), "AEroskobing");
        assert_eq!(render("{attributes.street|ascii}"), "Strasse");
        assert_eq!(filtered("plain", "|ascii"), "plain");
        // Nothing for a character with no transliteration, never a `[?]`.
        assert_eq!(filtered("a\u{E000}b", "|ascii"), "ab");
    }

    #[test]
    fn trim_removes_unicode_whitespace_at_both_ends() {
        assert_eq!(render("[{usage_location|trim}]"), "[DK]");
        assert_eq!(filtered("\u{3000}x y\u{a0}", "|trim"), "x y");
        assert_eq!(filtered("   ", "|trim"), "");
        assert_eq!(filtered("ab", "|trim"), "ab");
    }

    #[test]
    fn truncate_counts_characters_not_bytes() {
        assert_eq!(filtered("Žofie", "|truncate:3"), "Žof");
        assert_eq!(filtered("日本語テキスト", "|truncate:2"), "日本");
        assert_eq!(filtered("abc", "|truncate:3"), "abc");
        assert_eq!(filtered("ab", "|truncate:5"), "ab");
        assert_eq!(filtered("abcdef", "|truncate:1"), "a");
        assert_eq!(filtered("abcdef", "|truncate: 4 "), "abcd");
        assert_eq!(filtered("", "|truncate:4"), "");
    }

    #[test]
    fn replace_takes_its_arguments_verbatim() {
        assert_eq!(render("{display_name|replace: :.}"), "Mary.Ann..O'Brien");
        assert_eq!(render("{display_name|replace:':}"), "Mary Ann  OBrien");
        assert_eq!(filtered("a-b-c", "|replace:-:"), "abc");
        assert_eq!(filtered("aaa", "|replace:aa:b"), "ba");
        assert_eq!(filtered("xyz", "|replace:q:r"), "xyz");
        assert_eq!(filtered("a b", "|replace: : _ "), "a _ b");
    }

    #[test]
    fn argument_escapes() {
        assert_eq!(filtered("a:b", r"|replace:\::-"), "a-b");
        assert_eq!(filtered("a|b", r"|replace:\|:/"), "a/b");
        assert_eq!(filtered("a}b", r"|replace:\}:)"), "a)b");
        assert_eq!(filtered(r"a\b", r"|replace:\\:/"), "a/b");
        assert_eq!(filtered("", r"|default:x\:y\|z\}\\"), r"x:y|z}\");
        // `{` needs no escape inside an argument.
        assert_eq!(filtered("", "|default:{none"), "{none");
    }

    #[test]
    fn default_applies_to_absent_and_empty_values() {
        assert_eq!(render("{job_title|default:Staff}"), "Staff");
        assert_eq!(render("{department|default:General}"), "General");
        assert_eq!(render("{username|default:nobody}"), "alice");
        // "The value so far": after trim, blank is empty.
        assert_eq!(filtered("   ", "|trim|default:n/a"), "n/a");
        assert_eq!(filtered("   ", "|default:n/a"), "   ");
        // Filters after default see the default.
        assert_eq!(render("{job_title|default:staff|upper}"), "STAFF");
        assert_eq!(render("{job_title|default:}"), "");
    }

    #[test]
    fn filters_chain_left_to_right() {
        assert_eq!(
            render("{first_name|ascii|lower}.{last_name|ascii|lower}@contoso.com"),
            "jose.nunez@contoso.com"
        );
        assert_eq!(filtered("Ærø", "|ascii|truncate:2"), "AE");
        assert_eq!(filtered("Ærø", "|truncate:2|ascii"), "AEr");
        assert_eq!(filtered(" Ab ", "|trim|lower|replace:a:x"), "xb");
    }

    #[test]
    fn fields_are_listed_in_order_without_repeats() {
        let t = Template::parse(
            "{last_name} {first_name|lower} {last_name|upper} {attributes.cost_center}",
        )
        .unwrap();
        assert_eq!(
            t.fields(),
            vec!["last_name", "first_name", "attributes.cost_center"]
        );
    }

    #[test]
    fn render_asks_for_each_placeholder_by_name() {
        let t = Template::parse("{email}-{attributes.x}-{email}").unwrap();
        let asked = std::cell::RefCell::new(Vec::new());
        let out = t.render(&|f| {
            asked.borrow_mut().push(f.to_string());
            Some(f.to_uppercase())
        });
        assert_eq!(out, "EMAIL-ATTRIBUTES.X-EMAIL");
        assert_eq!(*asked.borrow(), ["email", "attributes.x", "email"]);
    }

    #[test]
    fn field_template_is_the_parse_of_the_placeholder() {
        let t = Template::field("first_name");
        assert_eq!(t, Template::parse("{first_name}").unwrap());
        assert_eq!(t.source(), "{first_name}");
        assert_eq!(t.fields(), vec!["first_name"]);
        assert_eq!(t.render(&user), "José");
        assert_eq!(
            Template::field("attributes.city"),
            Template::parse("{attributes.city}").unwrap()
        );
    }

    #[test]
    fn source_is_kept_as_written() {
        let text = "{ first_name | lower }.{{x}}";
        let t = Template::parse(text).unwrap();
        assert_eq!(t.source(), text);
        assert_eq!(t.to_string(), text);
    }

    #[test]
    fn brace_errors() {
        let stray = "stray `}` with no `{` before it: write `}}` for a literal brace";
        assert_eq!(error("abc}"), (3, stray.to_string()));
        assert_eq!(error("{username}}"), (10, stray.to_string()));
        let unclosed =
            "unclosed `{`: no `}` ends this placeholder (write `{{` for a literal brace)";
        assert_eq!(error("x{first_name"), (1, unclosed.to_string()));
        assert_eq!(error("ab{first_name|lower"), (2, unclosed.to_string()));
        assert_eq!(error("{first_name|default:abc"), (0, unclosed.to_string()));
        assert_eq!(error(r"{first_name|default:ab\"), (0, unclosed.to_string()));
        assert_eq!(
            error("{first_name|default:ab\\}"),
            (0, unclosed.to_string())
        );
        assert_eq!(error("{"), (0, unclosed.to_string()));
        let (offset, message) = error("{first_name {last_name}");
        assert_eq!(offset, 0);
        assert!(
            message.contains("another `{` comes before the `}`"),
            "{message}"
        );
        let (offset, _) = error("{username|lower{y}");
        assert_eq!(offset, 0);
    }

    #[test]
    fn empty_placeholder_errors() {
        let (offset, message) = error("a{}");
        assert_eq!(offset, 1);
        assert_eq!(
            message,
            "empty placeholder `{}`: name a field, as in `{username}`, or write `{{` for a \
             literal brace"
        );
        assert_eq!(error("{  }").0, 0);
        let (offset, message) = error("x{ |lower}");
        assert_eq!(offset, 1);
        assert_eq!(
            message,
            "placeholder with no field before `|`: name a field, as in `{username|lower}`"
        );
    }

    #[test]
    fn offsets_count_characters_not_bytes() {
        assert_eq!(error("Ñoño }").0, 5);
        assert_eq!(error("日本{frist_name}").0, 3);
    }

    #[test]
    fn unknown_field_errors() {
        assert_eq!(
            error("{frist_name}"),
            (
                1,
                "unknown field `frist_name` (did you mean `first_name`?)".to_string()
            )
        );
        assert_eq!(
            error("{  First_Name }"),
            (
                3,
                "unknown field `First_Name` (did you mean `first_name`?)".to_string()
            )
        );
        assert_eq!(
            error("{mail}").1,
            "unknown field `mail` (did you mean `email`?)"
        );
        assert_eq!(
            error("{xyzzy}"),
            (
                1,
                "unknown field `xyzzy`: the fields are `username`, `email`, `first_name`, \
                 `last_name`, `display_name`, `department`, `job_title`, `employee_id`, \
                 `mobile_phone`, `usage_location` and `attributes.NAME`"
                    .to_string()
            )
        );
    }

    #[test]
    fn a_field_takes_no_arguments() {
        assert_eq!(
            error("{first_name :3}"),
            (
                12,
                "`:` after field `first_name`: arguments belong to filters, as in \
                 `{first_name|truncate:3}`"
                    .to_string()
            )
        );
    }

    #[test]
    fn attribute_field_errors() {
        assert_eq!(
            error("{attribute.cost_center}"),
            (
                1,
                "unknown field `attribute.cost_center` (did you mean \
                 `attributes.cost_center`?)"
                    .to_string()
            )
        );
        assert_eq!(
            error("{attributes.}"),
            (
                1,
                "`attributes.` needs an attribute name: `attributes.NAME`".to_string()
            )
        );
        assert_eq!(
            error("{attributes}"),
            (
                1,
                "`attributes` needs an attribute name: `attributes.NAME`".to_string()
            )
        );
        assert_eq!(
            error("{attributes.cost center}"),
            (
                16,
                "attribute name `cost center` has ` `: attribute names are ASCII letters, \
                 digits, `_` and `-`"
                    .to_string()
            )
        );
        assert_eq!(error("{attributes.é}").0, 12);
        assert!(Template::parse("{attributes.A-z_09}").is_ok());
    }

    #[test]
    fn unknown_filter_errors() {
        assert_eq!(
            error("{first_name|lowr}"),
            (
                12,
                "unknown filter `lowr` (did you mean `lower`?)".to_string()
            )
        );
        assert_eq!(
            error("{first_name | Upper }").1,
            "unknown filter `Upper` (did you mean `upper`?)"
        );
        assert_eq!(
            error("{first_name|truncat:3}").1,
            "unknown filter `truncat` (did you mean `truncate`?)"
        );
        assert_eq!(
            error("{first_name|frobnicate}"),
            (
                12,
                "unknown filter `frobnicate`: the filters are `lower`, `upper`, `ascii`, \
                 `trim`, `truncate`, `replace` and `default`"
                    .to_string()
            )
        );
        assert_eq!(
            error("{first_name|}"),
            (
                11,
                "no filter after `|`: name one of `lower`, `upper`, `ascii`, `trim`, \
                 `truncate`, `replace` and `default`"
                    .to_string()
            )
        );
        assert_eq!(error("{first_name|lower||upper}").0, 17);
    }

    #[test]
    fn argument_errors() {
        for filter in ["lower", "upper", "ascii", "trim"] {
            assert_eq!(
                error(&format!("{{first_name|{filter}:x}}")),
                (12, format!("filter `{filter}` takes no arguments"))
            );
        }
        assert_eq!(error("{first_name|lower:}").0, 12);
        let truncate_count = "filter `truncate` takes one argument, the number of characters \
                              to keep: `truncate:N`";
        assert_eq!(
            error("{first_name|truncate}"),
            (12, truncate_count.to_string())
        );
        assert_eq!(
            error("{first_name|truncate:1:2}"),
            (12, truncate_count.to_string())
        );
        for bad in ["0", "abc", "-1", "+3", "", "1.5", "99999999999999999999999"] {
            assert_eq!(
                error(&format!("{{first_name|truncate:{bad}}}")),
                (
                    21,
                    format!(
                        "filter `truncate` takes a whole number of characters ≥ 1 \
                         (`truncate:N`), not `{bad}`"
                    )
                ),
                "truncate:{bad}"
            );
        }
        assert_eq!(
            error("{first_name|replace:a}"),
            (
                12,
                "filter `replace` takes two arguments, `replace:FROM:TO`, not 1 (write `\\:` \
                 for a colon inside one)"
                    .to_string()
            )
        );
        assert_eq!(
            error("{first_name|replace:a:b:c}").1,
            "filter `replace` takes two arguments, `replace:FROM:TO`, not 3 (write `\\:` for \
             a colon inside one)"
        );
        assert_eq!(error("{first_name|replace}").0, 12);
        assert_eq!(
            error("{first_name|replace::x}"),
            (
                20,
                "filter `replace` needs a non-empty FROM: `replace:FROM:TO`".to_string()
            )
        );
        assert_eq!(
            error("{first_name|default}"),
            (
                12,
                "filter `default` takes one argument, `default:TEXT`, not 0 (write `\\:` for \
                 a colon in TEXT)"
                    .to_string()
            )
        );
        assert_eq!(
            error("{first_name|default:a:b}").1,
            "filter `default` takes one argument, `default:TEXT`, not 2 (write `\\:` for a \
             colon in TEXT)"
        );
    }

    #[test]
    fn unknown_escape_errors() {
        assert_eq!(
            error(r"{first_name|default:a\qb}"),
            (
                21,
                r"unknown escape `\q` in a filter argument: the escapes are `\:`, `\|`, `\}` and `\\` (write `\\` for a backslash)"
                    .to_string()
            )
        );
        assert_eq!(error(r"{first_name|replace:\{:x}").0, 20);
    }

    #[test]
    fn the_error_displays_its_message() {
        let e = Template::parse("{frist_name}").unwrap_err();
        assert_eq!(e.to_string(), e.message);
        assert!(e.to_string().starts_with("unknown field `frist_name`"));
    }

    /// Text in the template alphabet, where the interesting cases are dense.
    fn template_like() -> impl Strategy<Value = String> {
        proptest::collection::vec(
            prop_oneof![
                Just("{".to_string()),
                Just("}".to_string()),
                Just("|".to_string()),
                Just(":".to_string()),
                Just("\\".to_string()),
                Just(" ".to_string()),
                Just("é".to_string()),
                proptest::sample::select(FIELDS).prop_map(str::to_string),
                proptest::sample::select(FILTERS).prop_map(str::to_string),
                Just("attributes.".to_string()),
                "[a-z0-9_]{1,3}",
            ],
            0..16,
        )
        .prop_map(|pieces| pieces.concat())
    }

    /// Parses `text` and renders what parsed with absent and with present values:
    /// neither may panic, and an error's offset is inside the text.
    fn exercise(text: &str) -> Result<(), TestCaseError> {
        match Template::parse(text) {
            Ok(t) => {
                prop_assert_eq!(t.source(), text);
                let _ = t.render(&|_| None);
                let _ = t.render(&|f| Some(format!(" Ærø {f} ")));
                prop_assert_eq!(t.is_constant(), t.fields().is_empty());
            }
            Err(e) => {
                prop_assert!(e.offset <= text.chars().count(), "offset {}", e.offset);
                prop_assert!(!e.message.is_empty());
            }
        }
        Ok(())
    }

    proptest! {
        #[test]
        fn parse_never_panics_on_any_text(text in ".*") {
            exercise(&text)?;
        }

        #[test]
        fn parse_never_panics_on_template_like_text(text in template_like()) {
            exercise(&text)?;
        }

        #[test]
        fn text_without_braces_renders_to_itself(text in "[^{}]*") {
            let t = Template::parse(&text).expect("no braces, no errors");
            prop_assert!(t.is_constant());
            prop_assert_eq!(t.render(&user), text);
        }

        #[test]
        fn doubled_braces_render_any_text(text in ".*") {
            let escaped = text.replace('{', "{{").replace('}', "}}");
            let t = Template::parse(&escaped).expect("escaped text parses");
            prop_assert!(t.is_constant());
            prop_assert_eq!(t.render(&user), text);
        }
    }
}
