//! `roster show PLANFILE`: render a plan saved by `plan --out`, with no network access
//! and no credentials. The file is checked the way `apply` checks it: with
//! `ROSTER_PLAN_KEY` set, a missing or wrong signature is refused.

use std::path::Path;

use anyhow::Context;

use super::plan::render_plan;
use super::session;
use crate::cli::{GlobalArgs, ShowArgs};
use crate::plan::saved::SavedPlan;
use crate::plan::signing;
use crate::render::RenderOptions;

pub fn run(global: &GlobalArgs, args: &ShowArgs) -> anyhow::Result<u8> {
    let saved = read(&args.plan_file, "nothing was shown")?;
    let opts = RenderOptions {
        color: session::use_color(global),
        drift: false,
    };
    crate::output::text(&render_plan(
        &saved.plan,
        args.format,
        &opts,
        saved.desired_digest.as_deref(),
    ));
    Ok(0)
}

/// Reads and checks a saved plan file. With the signing key in the environment the
/// signature must verify; without it a signed file is read with a note that its
/// signature was not checked. `refused` ends the refusal message ("nothing was …").
pub fn read(path: &Path, refused: &str) -> anyhow::Result<SavedPlan> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read the plan file {}", path.display()))?;
    let text = match signing::key_from_env()? {
        Some(key) => signing::verify(&text, &key)
            .with_context(|| format!("refusing the plan file {}; {refused}", path.display()))?,
        None => {
            if signing::is_signed(&text) {
                crate::output::diag(&format!(
                    "note: {} is signed, but {} is not set here, so its signature was not checked",
                    path.display(),
                    signing::KEY_ENV
                ));
            }
            // Plan files are read by their known members; `signature` is not one.
            text
        }
    };
    SavedPlan::from_json(&text)
        .with_context(|| format!("{} is not a usable plan file", path.display()))
}
