//! The Markdown summary of a sync, for the pull request body: joiners, movers,
//! leavers, and the rows that changed nothing with their CSV line numbers.

use super::sync::SyncPlan;

/// A table cell: pipes escaped, line breaks flattened.
fn cell(s: &str) -> String {
    s.replace('|', "\\|").replace(['\n', '\r'], " ")
}

fn opt(s: &Option<String>) -> String {
    s.as_deref().map_or_else(|| "—".to_string(), cell)
}

fn plural(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// Render the summary; `csv` is the export's name as given.
pub fn markdown(p: &SyncPlan, csv: &str, written: bool) -> String {
    let mut out = format!(
        "## HR sync: {}, {}, {}\n\n",
        plural(p.joiners.len(), "joiner", "joiners"),
        plural(p.movers.len(), "mover", "movers"),
        plural(p.leavers.len(), "leaver", "leavers"),
    );
    out.push_str(&format!(
        "From `{}` ({}) on {}.",
        cell(csv),
        plural(p.records, "row", "rows"),
        p.today
    ));
    if p.is_empty() {
        out.push_str(" No changes: the repository matches the export.\n");
    } else if written {
        out.push_str(" The YAML files were edited in place.\n");
    } else {
        out.push_str(" Nothing was written (run with `--write` to edit the YAML files).\n");
    }
    if !p.joiners.is_empty() {
        out.push_str("\n### Joiners\n\n| line | username | name | email | department | job title | manager | start |\n|---:|---|---|---|---|---|---|---|\n");
        for j in &p.joiners {
            out.push_str(&format!(
                "| {} | `{}` | {} {} | {} | {} | {} | {} | {} |\n",
                j.line,
                cell(&j.username),
                cell(&j.first_name),
                cell(&j.last_name),
                cell(&j.email),
                opt(&j.department),
                opt(&j.job_title),
                opt(&j.manager),
                opt(&j.start_date)
            ));
        }
    }
    if !p.movers.is_empty() {
        out.push_str(
            "\n### Movers\n\n| line | user | field | from | to |\n|---:|---|---|---|---|\n",
        );
        for m in &p.movers {
            for f in &m.fields {
                out.push_str(&format!(
                    "| {} | `{}` | {} | {} | {} |\n",
                    m.line,
                    cell(&m.username),
                    f.field,
                    opt(&f.old),
                    cell(&f.new)
                ));
            }
        }
    }
    if !p.leavers.is_empty() {
        out.push_str("\n### Leavers\n\n`end_date` is set; no user is deleted from the YAML files.\n\n| line | user | end date | why |\n|---:|---|---|---|\n");
        for l in &p.leavers {
            let line = l.line.map_or_else(|| "—".to_string(), |n| n.to_string());
            let end = match &l.old {
                Some(o) => format!("{} (was {o})", l.end_date),
                None => l.end_date.clone(),
            };
            out.push_str(&format!(
                "| {line} | `{}` | {end} | {} |\n",
                cell(&l.username),
                cell(&l.why)
            ));
        }
    }
    if !p.bad.is_empty() {
        out.push_str(&format!(
            "\n### Rows that changed nothing\n\n{} left out whole: no user was added, changed or ended because of them (and the people on them do not count as gone from the export).\n\n| line | employee id | problem |\n|---:|---|---|\n",
            plural(p.bad.len(), "row was", "rows were")
        ));
        for b in &p.bad {
            out.push_str(&format!(
                "| {} | {} | {} |\n",
                b.line,
                opt(&b.employee_id),
                cell(&b.problem)
            ));
        }
    }
    if !p.skipped.is_empty() {
        out.push_str("\n### Skipped\n\n");
        for (line, why) in &p.skipped {
            out.push_str(&format!("- line {line}: {}\n", cell(why)));
        }
    }
    out
}
