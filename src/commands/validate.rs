//! `roster validate`: load the repository (working tree or `--ref REV`), print every
//! problem as FILE:LINE:COL, and exit 1 when any of them is an error.

use std::fmt::Write as _;

use crate::cli::{GlobalArgs, OutputFormat, ValidateArgs};
use crate::desired::{self, Loaded};

/// Run `validate`; returns the exit code (0 valid, 1 errors).
pub fn run(global: &GlobalArgs, args: &ValidateArgs) -> anyhow::Result<u8> {
    let loaded = desired::load(&global.dir, args.source.rev.as_deref())?;
    if loaded.files.is_empty() {
        return Err(super::session::no_yaml(
            &loaded.root,
            args.source.rev.as_deref(),
        ));
    }
    let code = if loaded.has_errors() { 1 } else { 0 };
    match args.format {
        OutputFormat::Json => {
            let report = serde_json::json!({
                "valid": !loaded.has_errors(),
                "source": loaded.state.source,
                "files": loaded.files,
                "diagnostics": loaded.diagnostics,
            });
            crate::output::line(&serde_json::to_string_pretty(&report)?);
        }
        OutputFormat::Markdown => crate::output::text(&markdown(&loaded)),
        OutputFormat::Human => {
            crate::error_report::print_diagnostics(&loaded, &loaded.diagnostics);
            let (errors, warnings) = counts(&loaded);
            if loaded.has_errors() {
                crate::output::diag(&format!(
                    "{} and {} in {}",
                    plural(errors, "error"),
                    plural(warnings, "warning"),
                    plural(loaded.files.len(), "file")
                ));
            } else if !global.quiet {
                crate::output::line(&summary(&loaded, warnings));
            }
        }
    }
    Ok(code)
}

fn counts(l: &Loaded) -> (usize, usize) {
    (l.errors().count(), l.warnings().count())
}

fn plural(n: usize, word: &str) -> String {
    if n == 1 {
        format!("1 {word}")
    } else {
        format!("{n} {word}s")
    }
}

fn summary(l: &Loaded, warnings: usize) -> String {
    let s = &l.state;
    let mut out = format!(
        "valid: {}, {}, {}, {}, {}, {}",
        plural(l.files.len(), "file"),
        plural(s.apps.len(), "app"),
        plural(s.users.len(), "user"),
        plural(s.groups.len(), "group"),
        plural(s.memberships.len(), "membership entry").replace("entrys", "entries"),
        plural(s.policies.len(), "policy").replace("policys", "policies"),
    );
    if warnings > 0 {
        let _ = write!(out, " ({})", plural(warnings, "warning"));
    }
    out
}

fn markdown(l: &Loaded) -> String {
    let (errors, warnings) = counts(l);
    let mut out = String::from("### roster validate\n\n");
    if l.diagnostics.is_empty() {
        let _ = writeln!(out, "{}", summary(l, 0));
        return out;
    }
    let _ = writeln!(
        out,
        "{} and {}\n",
        plural(errors, "error"),
        plural(warnings, "warning")
    );
    for d in &l.diagnostics {
        let sev = match d.severity {
            desired::Severity::Error => "error",
            desired::Severity::Warning => "warning",
        };
        let msg = d.message.replace('\n', " ");
        let _ = writeln!(out, "- `{}:{}:{}` **{sev}**: {msg}", d.file, d.line, d.col);
    }
    out
}
