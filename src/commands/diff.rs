//! `roster diff REV_A REV_B`: the desired-state change between two revisions of the
//! repository, read from Git's object database; no live access, no credentials.

use crate::cli::{DiffArgs, GlobalArgs, OutputFormat};
use crate::desired::{self, diff::RevInfo};
use crate::render;

/// The state at `rev`; an empty one when the repository folder does not exist in
/// that revision yet (or any more), so that a change creating or removing the whole
/// folder shows everything added or removed.
fn load_or_empty(global: &GlobalArgs, rev: &str) -> anyhow::Result<desired::Loaded> {
    let (exists, commit) = desired::folder_at(&global.dir, rev)?;
    if exists {
        return desired::load(&global.dir, Some(rev));
    }
    let mut loaded = desired::load_files(&[]);
    loaded.state.source = desired::SourceInfo {
        commit: Some(commit),
        dirty: false,
    };
    Ok(loaded)
}

/// Run `diff`; exit 0 with the diff, 1 when a revision cannot be read or has errors.
pub fn run(global: &GlobalArgs, args: &DiffArgs) -> anyhow::Result<u8> {
    let old = load_or_empty(global, &args.rev_a)?;
    let new = load_or_empty(global, &args.rev_b)?;
    let mut invalid = false;
    for (rev, loaded) in [(&args.rev_a, &old), (&args.rev_b, &new)] {
        if loaded.has_errors() {
            invalid = true;
            for d in loaded.errors() {
                crate::output::diag(&format!("{rev}: {d}"));
            }
        }
    }
    if invalid {
        crate::output::diag("error: cannot diff revisions whose desired state has errors");
        return Ok(1);
    }
    let d = desired::diff::diff(
        &old.state,
        &new.state,
        RevInfo {
            rev: args.rev_a.clone(),
            commit: old.state.source.commit.clone(),
        },
        RevInfo {
            rev: args.rev_b.clone(),
            commit: new.state.source.commit.clone(),
        },
    );
    let text = match args.format {
        OutputFormat::Json => render::diff::json(&d),
        OutputFormat::Markdown => render::diff::markdown(&d),
        OutputFormat::Human => render::diff::human(&d, super::session::use_color(global)),
    };
    crate::output::text(&text);
    Ok(0)
}
