//! `roster plan` and `roster drift`: read live state, compute the plan, print it (and
//! for `plan --out`, save it for a later `apply`).

use anyhow::Context;

use super::session::{self, Live};
use crate::cli::{DriftArgs, GlobalArgs, OutputFormat, PlanArgs};
use crate::plan::Plan;
use crate::plan::saved::SavedPlan;
use crate::render::{self, RenderOptions};

pub fn run(global: &GlobalArgs, args: &PlanArgs) -> anyhow::Result<u8> {
    let loaded = session::load_trusting(
        &global.dir,
        args.source.rev.as_deref(),
        args.apps_from.as_deref(),
    )?;
    let apps = session::select_apps(&loaded.state, &args.apps)?;
    let rt = session::runtime()?;
    let (plan, saved) = rt.block_on(async {
        let live = Live::read(&loaded, &apps, global).await?;
        let index = live.index();
        let plan = live.plan_indexed(&loaded, &index);
        let saved = plan
            .as_ref()
            .ok()
            .filter(|_| args.out.is_some())
            .map(|p| SavedPlan::new_indexed(p.clone(), &loaded.state, &live.observed, &index));
        drop(index);
        live.close().await;
        anyhow::Ok((plan?, saved))
    })?;
    let opts = RenderOptions {
        color: session::use_color(global),
        drift: false,
    };
    let digest = crate::plan::saved::desired_digest(&loaded.state);
    crate::output::text(&render_plan(&plan, args.format, &opts, Some(&digest)));
    if let (Some(out), Some(saved)) = (&args.out, saved) {
        let mut text = saved.to_json();
        if let Some(key) = crate::plan::signing::key_from_env()? {
            text = crate::plan::signing::sign(&text, &key);
        }
        crate::layout::write_atomic(out, text.as_bytes(), crate::layout::Access::Shared)
            .with_context(|| format!("cannot save the plan to {}", out.display()))?;
        if !global.quiet {
            crate::output::diag(&format!(
                "Saved the plan to {}; apply it with: roster apply {}",
                out.display(),
                out.display()
            ));
        }
    }
    let changes = !plan.is_empty();
    session::discard(plan);
    session::discard(loaded);
    Ok(if args.detailed_exitcode && changes {
        2
    } else {
        0
    })
}

pub fn drift(global: &GlobalArgs, args: &DriftArgs) -> anyhow::Result<u8> {
    let loaded = session::load_trusting(
        &global.dir,
        args.source.rev.as_deref(),
        args.apps_from.as_deref(),
    )?;
    let apps = session::select_apps(&loaded.state, &args.apps)?;
    let rt = session::runtime()?;
    let plan = rt.block_on(async {
        let live = Live::read(&loaded, &apps, global).await?;
        let plan = live.plan(&loaded);
        live.close().await;
        plan
    })?;
    let opts = RenderOptions {
        color: session::use_color(global),
        drift: true,
    };
    let digest = crate::plan::saved::desired_digest(&loaded.state);
    crate::output::text(&render_plan(&plan, args.format, &opts, Some(&digest)));
    let drift = !plan.is_empty();
    session::discard(plan);
    session::discard(loaded);
    Ok(if drift { 2 } else { 0 })
}

/// The plan in `format`; `desired_digest` (of the desired state planned from) is shown
/// in the Markdown summary.
pub fn render_plan(
    plan: &Plan,
    format: OutputFormat,
    opts: &RenderOptions,
    desired_digest: Option<&str>,
) -> String {
    match format {
        OutputFormat::Human => render::human(plan, opts),
        OutputFormat::Json => render::json(plan),
        OutputFormat::Markdown => {
            render::markdown_with(plan, opts, desired_digest, render::COMMENT_LIMIT)
        }
    }
}
