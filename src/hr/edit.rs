//! The sync as text edits of the repository's YAML files: a changed value is
//! replaced where it is written, a new field is a new line in the user's mapping,
//! joiners are appended to the `users:` list of the configured file. Every other
//! byte — comments, blank lines, quoting, order — stays as it was. Positions come
//! from the loader's source map (`desired::yaml`).

use std::collections::BTreeMap;

use anyhow::{anyhow, bail};

use super::sync::{Joiner, SyncPlan};
use crate::desired::{Loaded, ObjLoc};

/// A string as a YAML scalar: plain when every YAML reader reads it back as this
/// string, double-quoted (JSON escapes are YAML escapes) otherwise.
pub fn scalar(s: &str) -> String {
    const SPECIAL: &[&str] = &["y", "n", "yes", "no", "on", "off", "true", "false", "null"];
    let plain = s.chars().next().is_some_and(|c| c.is_alphabetic())
        && s.chars()
            .all(|c| c.is_alphanumeric() || " ._@-/()&',+".contains(c))
        && !s.ends_with(' ')
        && !SPECIAL.iter().any(|w| w.eq_ignore_ascii_case(s));
    if plain {
        s.to_string()
    } else {
        serde_json::to_string(s).unwrap_or_default()
    }
}

/// A value for a field: dates plain (`2027-03-31` is a string to roster's loader).
fn value(field: &str, v: &str) -> String {
    if field.ends_with("_date")
        && v.len() == 10
        && v.bytes().all(|b| b.is_ascii_digit() || b == b'-')
    {
        v.to_string()
    } else {
        scalar(v)
    }
}

/// One file's text as lines (each with its line break).
struct Text {
    lines: Vec<String>,
    /// line index → lines to insert after it, in order.
    inserts: BTreeMap<usize, Vec<String>>,
}

impl Text {
    fn new(s: &str) -> Text {
        Text {
            lines: s.split_inclusive('\n').map(str::to_string).collect(),
            inserts: BTreeMap::new(),
        }
    }
    fn finish(self) -> String {
        let mut out = String::new();
        for (i, l) in self.lines.iter().enumerate() {
            out.push_str(l);
            if let Some(extra) = self.inserts.get(&i) {
                if !l.ends_with('\n') {
                    out.push('\n');
                }
                for e in extra {
                    out.push_str(e);
                }
            }
        }
        out
    }
}

/// Byte offset of 1-based character column `col` in `line`.
fn byte_at(line: &str, col: usize) -> usize {
    line.char_indices()
        .nth(col.saturating_sub(1))
        .map_or(line.len(), |(b, _)| b)
}

/// The byte length of the single-line scalar starting at `s`, or `None` when the
/// value is not one (a block scalar, a flow collection, or a quote left open).
fn scalar_len(s: &str) -> Option<usize> {
    let body = s.trim_end_matches(['\n', '\r']);
    let mut chars = body.char_indices();
    match chars.next()?.1 {
        '"' => {
            let mut esc = false;
            for (i, c) in chars {
                match c {
                    '\\' if !esc => esc = true,
                    '"' if !esc => return Some(i + 1),
                    _ => esc = false,
                }
            }
            None
        }
        '\'' => {
            let b = body.as_bytes();
            let mut i = 1;
            while i < b.len() {
                if b[i] == b'\'' {
                    if b.get(i + 1) == Some(&b'\'') {
                        i += 2;
                        continue;
                    }
                    return Some(i + 1);
                }
                i += 1;
            }
            None
        }
        '|' | '>' | '[' | '{' | '&' | '*' | '!' => None,
        _ => {
            let end = body.find(" #").unwrap_or(body.len());
            Some(body[..end].trim_end().len())
        }
    }
}

/// Whether `key`'s value at `pos` is on the key's own line (`key: value`).
fn same_line(line: &str, key: &str, col: usize) -> bool {
    let before = &line[..byte_at(line, col)];
    let before = before.trim_end();
    before.ends_with(&format!("{key}:"))
}

/// Set `key: value` on the user at `loc` (existing value replaced, else a new line
/// after the user's last single-line field).
fn set_field(t: &mut Text, loc: &ObjLoc, who: &str, key: &str, v: &str) -> anyhow::Result<()> {
    let at_line = t
        .lines
        .get(loc.at.line() - 1)
        .ok_or_else(|| anyhow!("user {who}: position out of range"))?;
    if at_line[byte_at(at_line, loc.at.col())..].starts_with('{') {
        bail!(
            "{}:{}: user {who} is written in flow style ({{ … }}); hr sync edits block-style users only",
            loc.file,
            loc.at.line
        );
    }
    let text = value(key, v);
    if let Some((_, pos)) = loc.fields.iter().find(|(k, _)| *k == key) {
        let line = &mut t.lines[pos.line() - 1];
        let start = byte_at(line, pos.col());
        let len = match scalar_len(&line[start..]) {
            Some(n) if same_line(line, key, pos.col()) => n,
            _ => bail!(
                "{}:{}:{}: user {who}: `{key}` is not a one-line value; edit it by hand",
                loc.file,
                pos.line,
                pos.col
            ),
        };
        line.replace_range(start..start + len, &text);
        return Ok(());
    }
    // A new key: after the last field written on its key's line, at the user's
    // indentation.
    let anchor = loc
        .fields
        .iter()
        .filter(|(k, p)| {
            let l = &t.lines[p.line() - 1];
            same_line(l, k, p.col()) && scalar_len(&l[byte_at(l, p.col())..]).is_some()
        })
        .map(|(_, p)| p.line() - 1)
        .max()
        .ok_or_else(|| {
            anyhow!(
                "{}:{}: user {who}: no place to add `{key}`",
                loc.file,
                loc.at.line
            )
        })?;
    let indent = " ".repeat(loc.at.col() - 1);
    t.inserts
        .entry(anchor)
        .or_default()
        .push(format!("{indent}{key}: {text}\n"));
    Ok(())
}

fn joiner_item(j: &Joiner, indent: &str) -> String {
    let mut fields: Vec<(&str, String)> = vec![
        ("username", j.username.clone()),
        ("email", j.email.clone()),
        ("first_name", j.first_name.clone()),
        ("last_name", j.last_name.clone()),
        ("employee_id", j.employee_id.clone()),
    ];
    for (k, v) in [
        ("department", &j.department),
        ("job_title", &j.job_title),
        ("manager", &j.manager),
        ("start_date", &j.start_date),
        ("end_date", &j.end_date),
    ] {
        if let Some(v) = v {
            fields.push((k, v.clone()));
        }
    }
    let mut out = String::new();
    for (i, (k, v)) in fields.iter().enumerate() {
        let lead = if i == 0 { "- " } else { "  " };
        out.push_str(&format!("{indent}{lead}{k}: {}\n", value(k, v)));
    }
    out
}

/// Append joiners to the top-level `users:` list of `text` (created when absent).
fn append_joiners(text: &str, joiners: &[&Joiner]) -> String {
    let mut lines: Vec<String> = text.split_inclusive('\n').map(str::to_string).collect();
    if let Some(last) = lines.last_mut()
        && !last.ends_with('\n')
    {
        last.push('\n');
    }
    let is_users = |l: &str| {
        let l = l.trim_end();
        let rest = l.strip_prefix("users:").map(|r| r.trim_start());
        rest.is_some_and(|r| r.is_empty() || r.starts_with('#') || r.starts_with("[]"))
    };
    let Some(i) = lines.iter().position(|l| is_users(l)) else {
        let mut out: String = lines.concat();
        out.push_str("users:\n");
        for j in joiners {
            out.push_str(&joiner_item(j, "  "));
        }
        return out;
    };
    if lines[i]
        .trim_start_matches("users:")
        .trim_start()
        .starts_with("[]")
    {
        let comment = lines[i]
            .find(" #")
            .map(|c| lines[i][c..].trim_end().to_string());
        lines[i] = format!("users:{}\n", comment.unwrap_or_default());
    }
    // The list runs until the next top-level key; new items go after its last item
    // line (comments and blank lines before the next key stay with that key).
    let top = |l: &str| {
        let c = l.chars().next().unwrap_or(' ');
        !(c.is_whitespace() || c == '#' || c == '-')
    };
    let end = (i + 1..lines.len())
        .find(|k| top(&lines[*k]))
        .unwrap_or(lines.len());
    let last = (i + 1..end)
        .rev()
        .find(|k| {
            let t = lines[*k].trim();
            !t.is_empty() && !t.starts_with('#')
        })
        .unwrap_or(i);
    let indent = (i + 1..end)
        .map(|k| &lines[k])
        .find(|l| l.trim_start().starts_with("- "))
        .map(|l| l[..l.len() - l.trim_start().len()].to_string())
        .unwrap_or_else(|| "  ".into());
    let items: String = joiners.iter().map(|j| joiner_item(j, &indent)).collect();
    lines.insert(last + 1, items);
    lines.concat()
}

/// The new texts of the files the sync changes: path (relative to the root) →
/// (old text or `None` for a new file, new text). `read` gives a file's current text.
pub fn apply(
    plan: &SyncPlan,
    loaded: &Loaded,
    new_users_file: &str,
    read: &dyn Fn(&str) -> anyhow::Result<Option<String>>,
) -> anyhow::Result<BTreeMap<String, (Option<String>, String)>> {
    let index: BTreeMap<&str, usize> = loaded
        .state
        .users
        .iter()
        .enumerate()
        .map(|(i, u)| (u.username.as_str(), i))
        .collect();
    let mut texts: BTreeMap<String, (String, Text)> = BTreeMap::new();
    let mut edit = |who: &str, key: &str, v: &str| -> anyhow::Result<()> {
        let i = *index
            .get(who)
            .ok_or_else(|| anyhow!("user {who} is not in the repository"))?;
        let loc = &loaded.sources.users[i];
        let file = loc.file.to_string();
        if !texts.contains_key(&file) {
            let old = read(&file)?.ok_or_else(|| anyhow!("cannot read {file}"))?;
            let t = Text::new(&old);
            texts.insert(file.clone(), (old, t));
        }
        let (_, t) = texts.get_mut(&file).expect("inserted");
        set_field(t, loc, who, key, v)
    };
    for m in &plan.movers {
        for f in &m.fields {
            edit(&m.username, f.field, &f.new)?;
        }
    }
    for l in &plan.leavers {
        edit(&l.username, "end_date", &l.end_date)?;
    }
    let mut out: BTreeMap<String, (Option<String>, String)> = texts
        .into_iter()
        .map(|(f, (old, t))| (f, (Some(old), t.finish())))
        .collect();
    if !plan.joiners.is_empty() {
        let joiners: Vec<&Joiner> = plan.joiners.iter().collect();
        let (old, base) = match out.remove(new_users_file) {
            Some((old, new)) => (old, new),
            None => match read(new_users_file)? {
                Some(t) => (Some(t.clone()), t),
                None => (
                    None,
                    "# People added by `roster hr sync` from the HR export; edit freely.\n"
                        .to_string(),
                ),
            },
        };
        out.insert(
            new_users_file.to_string(),
            (old, append_joiners(&base, &joiners)),
        );
    }
    out.retain(|_, (old, new)| old.as_deref() != Some(new.as_str()));
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scalars_and_lengths() {
        assert_eq!(scalar("Sales"), "Sales");
        assert_eq!(scalar("1234"), "\"1234\"");
        assert_eq!(scalar("no"), "\"no\"");
        assert_eq!(scalar("R&D: core"), "\"R&D: core\"");
        assert_eq!(scalar_len("Sales  # team\n"), Some(5));
        assert_eq!(scalar_len("\"a \\\" b\" # x"), Some(8));
        assert_eq!(scalar_len("'it''s' x"), Some(7));
        assert_eq!(scalar_len("|\n"), None);
    }

    #[test]
    fn joiners_go_after_the_last_item_before_the_next_key() {
        let text = "# people\nusers:\n  - username: a # first\n    email: a@x.com\n\n# groups\ngroups: []\n";
        let j = Joiner {
            line: 2,
            username: "b".into(),
            email: "b@x.com".into(),
            first_name: "B".into(),
            last_name: "C".into(),
            employee_id: "7".into(),
            department: None,
            job_title: None,
            manager: Some("a".into()),
            start_date: Some("2027-01-04".into()),
            end_date: None,
        };
        let out = append_joiners(text, &[&j]);
        assert_eq!(
            out,
            "# people\nusers:\n  - username: a # first\n    email: a@x.com\n  - username: b\n    email: b@x.com\n    first_name: B\n    last_name: C\n    employee_id: \"7\"\n    manager: a\n    start_date: 2027-01-04\n\n# groups\ngroups: []\n"
        );
    }
}
