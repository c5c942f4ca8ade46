//! What plan, drift and apply share: load the desired state (stopping on validation
//! errors), connect to the selected apps, read their live state, and plan.

use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::path::Path;

use anyhow::{Context, bail};
use futures::future::join_all;

use crate::apps::ConnectContext;
use crate::apps::connector::Connector;
use crate::cli::GlobalArgs;
use crate::desired::{self, DesiredState, Loaded};
use crate::observed::{ObservedApp, ReadFailure};
use crate::plan::Plan;
use crate::plan::planner::{self, PlanInput};
use crate::progress::Progress;

/// Validation failed; the diagnostics were printed already. Maps to exit code 1.
#[derive(Debug, thiserror::Error)]
#[error("the identity repository has {0} error(s); nothing was read or changed")]
pub struct InvalidRepository(pub usize);

/// Loads the desired state and prints its diagnostics to stderr.
pub fn load(dir: &Path, rev: Option<&str>) -> anyhow::Result<Loaded> {
    load_trusting(dir, rev, None)
}

/// Loads the desired state with the app definitions of the trusted revision
/// `apps_from` when given (`--apps-from`), and prints its diagnostics to stderr.
pub fn load_trusting(
    dir: &Path,
    rev: Option<&str>,
    apps_from: Option<&str>,
) -> anyhow::Result<Loaded> {
    let loaded = match apps_from {
        Some(trusted) => desired::load_with_apps_from(dir, rev, trusted)?,
        None => desired::load(dir, rev)?,
    };
    tracing::info!(
        root = %loaded.root.display(),
        commit = loaded.state.source.commit.as_deref().unwrap_or("none"),
        dirty = loaded.state.source.dirty,
        users = loaded.state.users.len(),
        groups = loaded.state.groups.len(),
        "desired state loaded"
    );
    if loaded.files.is_empty() {
        return Err(no_yaml(&loaded.root, rev));
    }
    crate::error_report::print_diagnostics(&loaded, &loaded.diagnostics);
    if loaded.has_errors() {
        let n = loaded
            .diagnostics
            .iter()
            .filter(|d| matches!(d.severity, desired::Severity::Error))
            .count();
        return Err(InvalidRepository(n).into());
    }
    Ok(loaded)
}

/// A repository folder without YAML files: an error for every command that reads one.
pub fn no_yaml(root: &Path, rev: Option<&str>) -> anyhow::Error {
    anyhow::anyhow!(
        "no *.yaml or *.yml files under {}{}\nhint: point roster at the identity repository with -C DIR",
        root.display(),
        rev.map(|r| format!(" at revision {r}")).unwrap_or_default()
    )
}

/// Secret references, certificate or CA files the selected apps need that cannot be
/// used; the problems were printed already. Maps to exit code 1.
#[derive(Debug, thiserror::Error)]
#[error(
    "{0} secret reference(s) or file(s) the selected apps need cannot be used; nothing was read or changed"
)]
pub struct MissingReferences(pub usize);

/// The early check before any connection: every secret reference, certificate and CA
/// file of the selected apps, all problems printed at once.
/// `root` is the repository root relative paths resolve against.
pub fn preflight(loaded: &Loaded, root: &Path, apps: &[String]) -> anyhow::Result<()> {
    let problems = desired::preflight::check(&loaded.state.apps, &loaded.sources, root, apps);
    if problems.is_empty() {
        return Ok(());
    }
    crate::error_report::print_diagnostics(loaded, &problems);
    Err(MissingReferences(problems.len()).into())
}

/// The apps to work on: the named ones (each must exist), or every app of the repository.
pub fn select_apps(state: &DesiredState, names: &[String]) -> anyhow::Result<Vec<String>> {
    if names.is_empty() {
        if state.apps.is_empty() {
            bail!("the identity repository defines no apps");
        }
        return Ok(state.apps.iter().map(|a| a.name().to_string()).collect());
    }
    let known: Vec<&str> = state.apps.iter().map(|a| a.name()).collect();
    let mut out = Vec::new();
    for n in names {
        if !known.contains(&n.as_str()) {
            bail!(
                "no app named '{n}' in the repository (apps: {})",
                known.join(", ")
            );
        }
        if !out.contains(n) {
            out.push(n.clone());
        }
    }
    Ok(out)
}

/// Connected apps and what was read from them, and the apps that could not be read.
pub struct Live {
    pub connectors: BTreeMap<String, Connector>,
    pub observed: BTreeMap<String, ObservedApp>,
    /// The selected apps that could not be connected to or read, in selection order;
    /// they are not planned. Empty when every app was read.
    pub failed: Vec<ReadFailure>,
}

impl Live {
    /// Connects to every selected app and reads it, all apps at once. An app that
    /// cannot be connected to or read is left out and listed in `failed`, so that the
    /// others are still planned; an error only when no app could be read (or before
    /// any connection: a missing secret or file). Unless
    /// `--no-cache`, connectors that can read incrementally keep their snapshots under
    /// `.roster/cache`; progress spinners unless `--quiet` (or no terminal).
    pub async fn read(
        loaded: &Loaded,
        apps: &[String],
        global: &GlobalArgs,
    ) -> anyhow::Result<Live> {
        // Nothing is sent while a secret or a file an app needs is missing.
        preflight(loaded, &loaded.root, apps)?;
        // The cache and the read counts live under .roster: it must be a real folder.
        crate::layout::check(&loaded.root)?;
        let progress = crate::progress::enabled(global.quiet);
        let ctx = ConnectContext {
            repo_root: loaded.root.clone(),
            cache_dir: (!global.no_cache).then(|| crate::layout::cache_dir(&loaded.root)),
        };
        let state = &loaded.state;
        let tasks = apps.iter().map(|name| {
            let ctx = ctx.clone();
            async move {
                let app = state.app(name).context("app vanished")?;
                let spinner = Progress::spinner(format!("reading {name}"), progress);
                let connector = Connector::connect(app, &ctx).await?;
                let scope = planner::read_scope(state, name);
                tracing::info!(app = %name, "reading live state");
                let read = connector.read(&scope).await;
                spinner.finish();
                let observed = match read {
                    Ok(o) => o,
                    Err(e) => {
                        let _ = connector.close().await;
                        return Err(e.context(format!("app {name}: cannot read live state")));
                    }
                };
                anyhow::Ok((name.clone(), connector, observed))
            }
        });
        let mut connectors = BTreeMap::new();
        let mut observed = BTreeMap::new();
        let mut errors = Vec::new();
        for (name, r) in apps.iter().zip(join_all(tasks).await) {
            match r {
                Ok((name, c, mut o)) => {
                    o.app = name.clone();
                    connectors.insert(name.clone(), c);
                    observed.insert(name, o);
                }
                Err(e) => {
                    tracing::debug!(app = %name, "cannot be read: {e:#}");
                    errors.push((name.clone(), e));
                }
            }
        }
        if observed.is_empty() && !errors.is_empty() {
            // Nothing to plan: the error itself, as before partial plans.
            if errors.len() == 1 {
                return Err(errors.remove(0).1);
            }
            let failed: Vec<ReadFailure> =
                errors.iter().map(|(n, e)| ReadFailure::new(n, e)).collect();
            bail!(
                "no app could be read; nothing was planned or changed:\n{}",
                failure_lines(&failed)
            );
        }
        Ok(Live {
            connectors,
            observed,
            failed: errors.iter().map(|(n, e)| ReadFailure::new(n, e)).collect(),
        })
    }

    /// Whether some selected app could not be read (the plan covers only the others).
    pub fn is_partial(&self) -> bool {
        !self.failed.is_empty()
    }

    /// Plans against what was read, refusing a read that came back empty where the
    /// previous read of the app saw users (see `engine::read_guard`).
    pub fn plan(&self, loaded: &Loaded) -> anyhow::Result<Plan> {
        self.plan_indexed(loaded, &self.index())
    }

    /// Lookups over the live state read, built once for the planner and a saved plan.
    pub fn index(&self) -> crate::observed::ObservedIndexes<'_> {
        crate::observed::index_all(&self.observed)
    }

    /// [`Live::plan`] with [`Live::index`] already built.
    pub fn plan_indexed(
        &self,
        loaded: &Loaded,
        index: &crate::observed::ObservedIndexes<'_>,
    ) -> anyhow::Result<Plan> {
        self.plan_at(loaded, index, today())
    }

    /// [`Live::plan_indexed`] as of `today` (`plan --at`): dates are evaluated on that
    /// day, against the live state read now.
    pub fn plan_at(
        &self,
        loaded: &Loaded,
        index: &crate::observed::ObservedIndexes<'_>,
        today: time::Date,
    ) -> anyhow::Result<Plan> {
        let plan = planner::plan_indexed(
            &PlanInput {
                desired: &loaded.state,
                observed: &self.observed,
                today,
            },
            index,
        )
        .map_err(|f| anyhow::anyhow!("{f}"))?;
        crate::engine::read_guard::check_and_record(&loaded.root, &self.observed, &plan)?;
        // Where the app settings came from leads the warnings.
        let mut plan = plan;
        let notes = loaded
            .app_notes
            .iter()
            .map(|(app, message)| crate::plan::Warning {
                app: Some(app.clone()),
                message: message.clone(),
            });
        plan.warnings.splice(0..0, notes);
        Ok(plan)
    }

    /// Closes every connection (a sandbox persists its tenant here).
    pub async fn close(self) {
        for (name, c) in self.connectors {
            if let Err(e) = c.close().await {
                tracing::warn!(app = %name, "closing: {e:#}");
            }
        }
        discard(self.observed);
    }
}

/// One line per app that could not be read, `  - app NAME: error: cause…`.
/// Today (UTC): the wall clock, read here and nowhere in the planner.
pub fn today() -> time::Date {
    time::OffsetDateTime::now_utc().date()
}

pub fn failure_lines(failed: &[ReadFailure]) -> String {
    failed
        .iter()
        .map(|f| format!("  - {}", f.message()))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Says on stderr which apps could not be read and that the plan shown leaves them
/// out; the command then exits 1.
pub fn report_partial(failed: &[ReadFailure]) {
    crate::output::diag(&format!(
        "error: {} of the selected apps could not be read, so the plan above leaves {} out:\n{}",
        failed.len(),
        if failed.len() == 1 { "it" } else { "them" },
        failure_lines(failed)
    ));
    let mut hints: Vec<&str> = failed
        .iter()
        .flat_map(|f| f.hints.iter().map(String::as_str))
        .collect();
    hints.dedup();
    for h in hints {
        crate::output::diag(&format!("hint: {h}"));
    }
}

/// Lets go of a large structure at the end of a command without freeing it: the
/// process exits right after, and freeing millions of small allocations one by one
/// (the desired and observed state of a large tenant) is a measurable part of a run.
pub fn discard<T>(value: T) {
    std::mem::forget(value);
}

/// Whether human output gets colour.
pub fn use_color(global: &GlobalArgs) -> bool {
    global.color.enabled(std::io::stdout().is_terminal())
}

/// A multi-threaded runtime for the commands that talk to apps.
pub fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")
}
