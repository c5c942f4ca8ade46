//! `roster apply`: carry out a saved plan exactly (refusing a stale one), or plan and
//! apply after confirmation; one outcome line per change, recorded in the report log.

use std::io::{BufRead, IsTerminal};

use anyhow::{Context, bail};

use super::report::default_log_path;
use super::session::{self, Live};
use crate::apps::kit::interrupt;
use crate::apps::{ApplyInput, ChangeResult, OutcomeSink};
use crate::cli::{ApplyArgs, GlobalArgs};
use crate::engine::guard;
use crate::engine::lock::ApplyLock;
use crate::engine::report_log::{Counts, ReportLog};
use crate::plan::saved::SavedPlan;
use crate::plan::{Change, Plan};
use crate::progress::Progress;
use crate::render::{self, RenderOptions};

pub fn run(global: &GlobalArgs, args: &ApplyArgs) -> anyhow::Result<u8> {
    let saved = match &args.plan_file {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read the plan file {}", path.display()))?;
            let text = match crate::plan::signing::key_from_env()? {
                Some(key) => crate::plan::signing::verify(&text, &key).with_context(|| {
                    format!(
                        "refusing the plan file {}; nothing was applied",
                        path.display()
                    )
                })?,
                None => {
                    if crate::plan::signing::is_signed(&text) {
                        crate::output::diag(&format!(
                            "note: {} is signed, but {} is not set here, so its signature was not checked",
                            path.display(),
                            crate::plan::signing::KEY_ENV
                        ));
                    }
                    crate::plan::signing::without_signature(&text)
                }
            };
            Some(
                SavedPlan::from_json(&text)
                    .with_context(|| format!("{} is not a usable plan file", path.display()))?,
            )
        }
        None => None,
    };
    // The day the plan is made (or verified) for: a saved plan's, `--at`, or today.
    let today = session::today();
    let saved_day = match saved.as_ref().and_then(|s| s.planned_for.as_deref()) {
        Some(d) => Some(crate::desired::lifecycle::parse_date(d).ok_or_else(|| {
            anyhow::anyhow!("the plan file's `planned_for` {d:?} is not a date YYYY-MM-DD")
        })?),
        None => None,
    };
    if saved_day.is_some() && args.at.is_some() {
        bail!("--at is not used with a plan file: the plan file names the day it was planned for");
    }
    let day = saved_day.or(args.at).unwrap_or(today);
    if day != today && !args.allow_other_date {
        bail!(
            "refusing to apply as of {day}: today is {today}. A dated change (a start, an end, a leaver step, an expiry) applied now happens now, not on {day}; pass --allow-other-date to apply it anyway. Nothing was applied."
        );
    }
    let loaded = session::load(&global.dir, args.source.rev.as_deref())?;
    let apps = match &saved {
        Some(s) => {
            let mut names: Vec<String> = s.plan.changes.iter().map(|c| c.app.clone()).collect();
            names.extend(s.plan.deletion_guards.iter().map(|g| g.app.clone()));
            names.sort();
            names.dedup();
            if names.is_empty() {
                crate::output::line("The saved plan has no changes. Nothing to apply.");
                return Ok(0);
            }
            session::select_apps(&loaded.state, &names)?
        }
        None => session::select_apps(&loaded.state, &args.apps)?,
    };
    let _lock = ApplyLock::acquire(&loaded.root)?;
    let color = session::use_color(global);
    let rt = session::runtime()?;
    rt.block_on(async {
        let live = Live::read(&loaded, &apps, global).await?;
        let result = async {
            if live.is_partial() {
                let lines = session::failure_lines(&live.failed);
                if saved.is_some() {
                    bail!(
                        "some apps of the saved plan could not be read; nothing was applied (a saved plan is applied whole):\n{lines}"
                    );
                }
                if !args.skip_unreadable {
                    bail!(
                        "some apps could not be read; nothing was applied:\n{lines}\nhint: fix them and run apply again, or pass --skip-unreadable to apply the other apps' changes"
                    );
                }
                crate::output::diag(&format!(
                    "warning: --skip-unreadable: these apps could not be read and are left alone:\n{lines}"
                ));
            }
            let plan = match &saved {
                Some(s) => {
                    let index = live.index();
                    if let Err(stale) = s.check_indexed(&loaded.state, &live.observed, &index) {
                        bail!("{stale}\nNothing was applied. Run `roster plan` again and review the new plan.");
                    }
                    // The file is not trusted: each saved change must be one the
                    // repository asks for now, against the live state read now.
                    let fresh = live.plan_at(&loaded, &index, day)?;
                    let verified = crate::plan::verify::verify(&s.plan.changes, &fresh)
                        .map_err(|r| {
                            anyhow::anyhow!(
                                "{r}\nRun `roster plan` again and review the new plan."
                            )
                        })?;
                    note_extra(&verified.extra);
                    let mut plan = s.plan.clone();
                    plan.changes = verified.changes;
                    plan.deletion_guards = verified.deletion_guards;
                    plan
                }
                None => {
                    let plan = live.plan_at(&loaded, &live.index(), day)?;
                    crate::output::text(&render::human(&plan, &RenderOptions { color, drift: false }));
                    if plan.is_empty() {
                        return Ok(if live.is_partial() { 1 } else { 0 });
                    }
                    if let Err(refusals) = guard::check(&plan, args.allow_deletes) {
                        bail!("{}", refusals.join("\n"));
                    }
                    if !args.auto_approve && !confirm()? {
                        crate::output::line("Apply cancelled; nothing was changed.");
                        return Ok(0);
                    }
                    plan
                }
            };
            if let Err(refusals) = guard::check(&plan, args.allow_deletes) {
                bail!("{}", refusals.join("\n"));
            }
            let log_path = args
                .report_log
                .clone()
                .unwrap_or_else(|| default_log_path(&loaded.root));
            let log = ReportLog::open(&log_path, plan.source.commit.clone())?;
            let progress = Progress::bar(
                plan.changes.len() as u64,
                "applying".into(),
                crate::progress::enabled(global.quiet),
            );
            let sink = PrintingSink {
                log: &log,
                progress: &progress,
                quiet: global.quiet,
                applied: Default::default(),
            };
            let signals = tokio::spawn(watch_interrupts(log_path.clone(), log.durable_handle()));
            let executed = execute(&plan, &loaded.state, &live, &sink).await;
            signals.abort();
            executed?;
            // What the directory holds now, for the empty-read guard of later runs: the
            // changes that were applied, not the ones that were planned.
            let applied = sink.applied.into_inner().unwrap_or_else(|p| p.into_inner());
            crate::engine::read_guard::record_after_apply(&loaded.root, &live.observed, &applied);
            progress.finish();
            if let Err(e) = log.flush_durable() {
                crate::output::diag(&format!("warning: {e:#}"));
            }
            let counts = log.counts();
            if interrupt::requested() {
                print_interrupted(&counts, plan.changes.len(), &log_path);
                crate::output::flush();
                return Ok(EXIT_INTERRUPTED);
            }
            print_summary(&counts);
            crate::output::flush();
            if crate::output::stdout_closed() {
                crate::output::diag(&format!(
                    "note: standard output was closed during the apply; it went on, and every outcome is in {}",
                    log_path.display()
                ));
            }
            if live.is_partial() {
                crate::output::line(&format!(
                    "Not applied: {} app(s) that could not be read ({}).",
                    live.failed.len(),
                    live.failed.iter().map(|f| f.app.as_str()).collect::<Vec<_>>().join(", ")
                ));
            }
            Ok(if counts.failed > 0 || counts.skipped > 0 || live.is_partial() { 1 } else { 0 })
        }
        .await;
        live.close().await;
        result
    })
}

/// Runs the changes app by app, each through its connector.
async fn execute(
    plan: &Plan,
    state: &crate::desired::DesiredState,
    live: &Live,
    sink: &dyn OutcomeSink,
) -> anyhow::Result<()> {
    let mut by_app: std::collections::BTreeMap<&str, Vec<Change>> = Default::default();
    for c in &plan.changes {
        by_app.entry(c.app.as_str()).or_default().push(c.clone());
    }
    for (app, changes) in by_app {
        if interrupt::requested() {
            break;
        }
        let (Some(connector), Some(observed)) = (live.connectors.get(app), live.observed.get(app))
        else {
            bail!("app {app} of the plan is not connected");
        };
        let input = ApplyInput {
            changes: &changes,
            desired: state,
            observed,
        };
        let tracked = Tracked {
            inner: sink,
            seen: Default::default(),
        };
        if let Err(e) = connector.apply(input, &tracked).await {
            // Outcomes already reported stand; every change not reported did not happen,
            // and is recorded as not attempted, so that each change of the plan ends
            // with an outcome in the report log.
            crate::output::diag(&format!("error: app {app}: {e:#}"));
            let seen = tracked
                .seen
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .clone();
            for c in changes.iter().filter(|c| !seen.contains(&identity(c))) {
                sink.record(
                    c,
                    &ChangeResult::SkippedDependency {
                        on: format!("the apply of app {app}"),
                    },
                );
            }
        }
    }
    Ok(())
}

/// Lists what the repository asks for now beyond the saved plan: not applied.
fn note_extra(extra: &[Change]) {
    if extra.is_empty() {
        return;
    }
    crate::output::diag(&format!(
        "note: {} change(s) the repository asks for now are not in the saved plan and are not applied (run `roster plan` for them):",
        extra.len()
    ));
    for c in extra.iter().take(20) {
        crate::output::diag(&format!("  - {}", crate::plan::verify::describe(c)));
    }
    if extra.len() > 20 {
        crate::output::diag(&format!("  … and {} more", extra.len() - 20));
    }
}

type Identity = (crate::plan::ObjectKind, String, crate::plan::Action);

fn identity(c: &Change) -> Identity {
    (c.object(), c.key().into_owned(), c.action)
}

/// Passes outcomes on and remembers which changes got one.
struct Tracked<'a> {
    inner: &'a dyn OutcomeSink,
    seen: std::sync::Mutex<std::collections::HashSet<Identity>>,
}

impl OutcomeSink for Tracked<'_> {
    fn record(&self, change: &Change, result: &ChangeResult) {
        self.seen
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(identity(change));
        self.inner.record(change, result);
    }

    fn batch_done(&self) {
        self.inner.batch_done();
    }
}

fn confirm() -> anyhow::Result<bool> {
    if !std::io::stdin().is_terminal() {
        bail!(
            "apply needs confirmation: run it on a terminal, or pass --auto-approve (or apply a saved plan file)"
        );
    }
    crate::output::prompt("\nDo you want to apply these changes? Only 'yes' will be accepted: ");
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line)?;
    Ok(line.trim() == "yes")
}

/// The exit code of an apply stopped by Ctrl-C (128 + SIGINT, as shells report it).
pub const EXIT_INTERRUPTED: u8 = 130;

/// The first Ctrl-C asks the apply to stop: no new request is sent, the ones in flight
/// run to their answer and are recorded, then the summary is printed (exit 130). The
/// second ends the process at once.
async fn watch_interrupts(
    log_path: std::path::PathBuf,
    durable: crate::engine::report_log::DurableHandle,
) {
    if tokio::signal::ctrl_c().await.is_err() {
        return;
    }
    interrupt::request();
    crate::output::diag(
        "\nInterrupted: finishing the requests in flight and starting no new ones; press Ctrl-C again to stop at once.",
    );
    if tokio::signal::ctrl_c().await.is_ok() {
        // What was recorded reaches the disk before the process goes.
        if let Err(e) = durable.flush_durable() {
            crate::output::diag(&format!("warning: {e:#}"));
        }
        crate::output::diag(&format!(
            "Aborted: requests in flight may or may not have been carried out; every outcome received is in {}. Run `roster plan` to see what is left.",
            log_path.display()
        ));
        crate::output::flush();
        std::process::exit(i32::from(EXIT_INTERRUPTED));
    }
}

/// What an interrupted apply did and did not do.
fn print_interrupted(c: &Counts, total: usize, log_path: &std::path::Path) {
    let not_started = total.saturating_sub(c.applied + c.failed + c.skipped);
    crate::output::line(&format!(
        "\nApply interrupted: {} applied, {} failed, {} not attempted, {} not started (of {total}).",
        c.applied, c.failed, c.skipped, not_started
    ));
    crate::output::line(&format!(
        "Every change that was sent has its outcome in {}; the ones not started were not sent. Run `roster plan` to review what is left, then `roster apply` again: it converges without duplicates.",
        log_path.display()
    ));
}

fn print_summary(c: &Counts) {
    crate::output::line(&format!(
        "\nApply {}: {} applied, {} failed, {} not attempted.",
        if c.failed + c.skipped == 0 {
            "complete"
        } else {
            "incomplete"
        },
        c.applied,
        c.failed,
        c.skipped
    ));
    if c.failed + c.skipped > 0 {
        crate::output::line(
            "Run `roster apply` again after fixing the cause: it converges without duplicates.",
        );
    }
}

/// Records each outcome in the report log and prints one line for it; keeps the
/// changes that were applied.
struct PrintingSink<'a> {
    log: &'a ReportLog,
    progress: &'a Progress,
    quiet: bool,
    applied: std::sync::Mutex<Vec<Change>>,
}

impl OutcomeSink for PrintingSink<'_> {
    fn record(&self, change: &Change, result: &ChangeResult) {
        self.log.record(change, result);
        self.progress.inc();
        if matches!(result, ChangeResult::Applied { .. }) {
            self.applied
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .push(change.clone());
        }
        let what = format!(
            "{} {} {}",
            change.object().as_str(),
            change.key(),
            change.action.as_str()
        );
        let line = match result {
            ChangeResult::Applied { .. } if self.quiet => return,
            ChangeResult::Applied { .. } => format!("  ok      {}: {what}", change.app),
            ChangeResult::Failed { error, request_id } => format!(
                "  FAILED  {}: {what}: {error}{}",
                change.app,
                request_id
                    .as_deref()
                    .map(|r| format!(" (request-id {r})"))
                    .unwrap_or_default()
            ),
            ChangeResult::SkippedDependency { on } => {
                format!(
                    "  SKIPPED {}: {what}: not attempted because {on} failed",
                    change.app
                )
            }
        };
        self.progress.println(&line);
    }

    fn batch_done(&self) {
        self.log.batch_done();
    }
}
