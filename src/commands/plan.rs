//! `roster plan` and `roster drift`: read live state, compute the plan, print it (and
//! for `plan --out`, save it for a later `apply`).

use anyhow::Context;

use super::session::{self, Live};
use crate::cli::{DriftArgs, GlobalArgs, OutputFormat, PlanArgs};
use crate::observed::ReadFailure;
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
    let (plan, saved, failed) = rt.block_on(async {
        let mut live = Live::read(&loaded, &apps, global).await?;
        let index = live.index();
        let day = args.at.unwrap_or_else(session::today);
        let plan = live.plan_at(&loaded, &index, day);
        // A partial plan is never saved: applied later, it would look complete.
        let saved = plan
            .as_ref()
            .ok()
            .filter(|_| args.out.is_some() && !live.is_partial())
            .map(|p| {
                let mut s = SavedPlan::new_indexed(p.clone(), &loaded.state, &live.observed, &index);
                s.planned_for = Some(day.to_string());
                s
            });
        drop(index);
        let failed = std::mem::take(&mut live.failed);
        live.close().await;
        anyhow::Ok((plan?, saved, failed))
    })?;
    let opts = RenderOptions {
        color: session::use_color(global),
        drift: false,
    };
    let digest = crate::plan::saved::desired_digest(&loaded.state);
    crate::output::text(&render_partial(
        &plan,
        args.format,
        &opts,
        Some(&digest),
        &failed,
    ));
    if !failed.is_empty() {
        session::report_partial(&failed);
        if let Some(out) = &args.out {
            crate::output::diag(&format!(
                "error: the plan was not saved to {}: a partial plan must not be applied; fix the apps above and run `roster plan --out` again",
                out.display()
            ));
        }
        session::discard(plan);
        session::discard(loaded);
        return Ok(1);
    }
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
    let (plan, failed) = rt.block_on(async {
        let mut live = Live::read(&loaded, &apps, global).await?;
        let day = args.at.unwrap_or_else(session::today);
        let plan = live.plan_at(&loaded, &live.index(), day);
        let failed = std::mem::take(&mut live.failed);
        live.close().await;
        anyhow::Ok((plan?, failed))
    })?;
    let opts = RenderOptions {
        color: session::use_color(global),
        drift: true,
    };
    let digest = crate::plan::saved::desired_digest(&loaded.state);
    crate::output::text(&render_partial(
        &plan,
        args.format,
        &opts,
        Some(&digest),
        &failed,
    ));
    let drift = !plan.is_empty();
    session::discard(plan);
    session::discard(loaded);
    if !failed.is_empty() {
        // Exit 2 would say "drift found, and this is all of it".
        session::report_partial(&failed);
        return Ok(1);
    }
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

/// The plan in `format`, naming the apps in `failed` (could not be read, so not
/// planned): a section after the human plan, a section right after the Markdown title
/// (within the comment limit), an `errors` array in JSON.
pub fn render_partial(
    plan: &Plan,
    format: OutputFormat,
    opts: &RenderOptions,
    desired_digest: Option<&str>,
    failed: &[ReadFailure],
) -> String {
    if failed.is_empty() {
        return render_plan(plan, format, opts, desired_digest);
    }
    match format {
        OutputFormat::Human => {
            render::human(plan, opts) + &render::unread::human(failed, opts.color)
        }
        OutputFormat::Json => crate::plan::wire::to_json_partial(plan, failed),
        OutputFormat::Markdown => {
            let section = render::unread::markdown(failed).chars().count();
            let limit = render::COMMENT_LIMIT.saturating_sub(section);
            render::unread::insert_markdown(
                render::markdown_with(plan, opts, desired_digest, limit),
                failed,
            )
        }
    }
}
