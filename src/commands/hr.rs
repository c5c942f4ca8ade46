//! `roster hr sync`: the HR export (CSV) against the repository's users. Prints the
//! Markdown summary; with `--write`, edits the YAML files in place and checks that
//! the repository still validates (restoring every file when it does not). An export
//! that looks partial (too many people gone at once) is refused before anything.

use anyhow::{Context, anyhow};

use crate::cli::{GlobalArgs, HrSyncArgs};
use crate::hr;
use crate::layout::{Access, write_atomic};

/// Run `hr sync`; exit 0 (bad rows are reported, not fatal), 1 on an error.
pub fn sync(global: &GlobalArgs, args: &HrSyncArgs) -> anyhow::Result<u8> {
    let mapping = hr::mapping::load(&args.mapping)?;
    let csv_name = args.csv.display().to_string();
    let bytes = std::fs::read(&args.csv).with_context(|| format!("cannot read {csv_name}"))?;
    let feed = hr::feed::read(&csv_name, &bytes, &mapping)?;
    let today = match &args.today {
        Some(d) => super::access::parse_date("--today", d)?.to_string(),
        None => time::OffsetDateTime::now_utc().date().to_string(),
    };
    let loaded = super::access::load_quiet(&global.dir, None)?;
    let plan = hr::sync::compute(&feed, &loaded.state, &mapping, &today);
    if let Some(why) = plan.partial_export(mapping.file.max_disappeared) {
        anyhow::bail!(
            "{csv_name}: {why}; nothing was changed\nhint: check that the export is complete (every person with an employee id in the repository); for a real reorganisation, raise max_disappeared in {}",
            args.mapping.display()
        );
    }
    for b in &plan.bad {
        crate::output::diag(&format!(
            "{csv_name}:{}: warning: {}; this row changed nothing",
            b.line, b.problem
        ));
    }
    let root = loaded.root.clone();
    let mut written = false;
    if args.write && !plan.is_empty() {
        let read = |rel: &str| -> anyhow::Result<Option<String>> {
            match std::fs::read_to_string(root.join(rel)) {
                Ok(t) => Ok(Some(t)),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
                Err(e) => Err(anyhow!("cannot read {rel}: {e}")),
            }
        };
        let files = hr::edit::apply(&plan, &loaded, &mapping.file.new_users_file, &read)?;
        for (rel, (_, new)) in &files {
            write_atomic(&root.join(rel), new.as_bytes(), Access::Shared)
                .with_context(|| format!("cannot write {rel}"))?;
        }
        let after = crate::desired::load(&root, None)?;
        if after.has_errors() {
            let errors: Vec<_> = after.errors().cloned().collect();
            crate::error_report::print_diagnostics(&after, &errors);
            for (rel, (old, _)) in &files {
                match old {
                    Some(t) => write_atomic(&root.join(rel), t.as_bytes(), Access::Shared)?,
                    None => std::fs::remove_file(root.join(rel))?,
                }
            }
            anyhow::bail!(
                "the edited repository does not validate ({} error(s) above); every file was restored",
                errors.len()
            );
        }
        if !global.quiet {
            crate::output::diag(&format!("hr sync: edited {} file(s)", files.len()));
        }
        written = true;
    }
    crate::output::text(&hr::summary::markdown(&plan, &csv_name, written));
    Ok(0)
}
