//! Command-line definitions (clap derive). Parsing only: no behaviour lives here.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

#[derive(Debug, Parser)]
#[command(
    name = "roster",
    version,
    about = "Declarative GitOps reconciler for identity: plan and apply users, groups and access from YAML in Git",
    propagate_version = true
)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Clone, Args)]
pub struct GlobalArgs {
    /// Run as if started in DIR (the identity repository).
    #[arg(short = 'C', global = true, value_name = "DIR", default_value = ".")]
    pub dir: PathBuf,
    /// More log output on stderr (-v info, -vv debug); RUST_LOG overrides.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// No progress bars and no informational messages.
    #[arg(short, long, global = true)]
    pub quiet: bool,
    /// Log line format on stderr.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
    /// Read every app in full, without the snapshot under .roster/cache (which is
    /// then not written either).
    #[arg(long, global = true, env = "ROSTER_NO_CACHE", value_parser = clap::builder::BoolishValueParser::new())]
    pub no_cache: bool,
    /// When to use colour in human output.
    #[arg(long, global = true, value_enum, default_value_t = ColorChoice::Auto)]
    pub color: ColorChoice,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ColorChoice {
    Auto,
    Always,
    Never,
}

impl ColorChoice {
    /// Whether a stream gets colour: `auto` means a terminal and no `NO_COLOR`.
    pub fn enabled(self, stream_is_terminal: bool) -> bool {
        match self {
            ColorChoice::Always => true,
            ColorChoice::Never => false,
            ColorChoice::Auto => stream_is_terminal && std::env::var_os("NO_COLOR").is_none(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum OutputFormat {
    #[default]
    Human,
    Json,
    Markdown,
}

#[derive(Debug, Clone, Args)]
pub struct SourceArgs {
    /// Read the desired state from this Git revision instead of the working tree.
    #[arg(long = "ref", value_name = "REV")]
    pub rev: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Parse and check the identity repository; print every problem as FILE:LINE:COL.
    Validate(ValidateArgs),
    /// Read live state and print the plan; optionally save it for `apply`.
    Plan(PlanArgs),
    /// Apply a saved plan exactly, or plan and apply after confirmation.
    Apply(ApplyArgs),
    /// Report what differs live from the repository (exit 2 when anything does).
    Drift(DriftArgs),
    /// The desired-state change between two revisions; no live access, no credentials.
    Diff(DiffArgs),
    /// Write YAML for an app's live users, groups and memberships.
    Import(ImportArgs),
    /// The provisioning report: every applied change and failure.
    Report(ReportArgs),
    /// Print the JSON Schema of the repository's YAML files.
    Schema,
}

#[derive(Debug, Args)]
pub struct ValidateArgs {
    #[command(flatten)]
    pub source: SourceArgs,
    /// Output format: human (diagnostics on stderr), json or markdown (on stdout).
    #[arg(long, value_enum, default_value_t = OutputFormat::Human)]
    pub format: OutputFormat,
}

#[derive(Debug, Args)]
pub struct PlanArgs {
    #[command(flatten)]
    pub source: SourceArgs,
    /// Limit to these apps (repeatable).
    #[arg(long = "app", value_name = "NAME")]
    pub apps: Vec<String>,
    /// Save the plan to FILE for a later `apply FILE`.
    #[arg(long = "out", short = 'o', value_name = "FILE")]
    pub out: Option<PathBuf>,
    #[arg(long, value_enum, default_value_t = OutputFormat::Human)]
    pub format: OutputFormat,
    /// Exit 2 when the plan has changes.
    #[arg(long)]
    pub detailed_exitcode: bool,
    /// Take the app definitions (endpoints, credentials, tls, switches, scope) from this
    /// trusted revision, e.g. the base branch of a pull request; users, groups and
    /// policies still come from the working tree or --ref.
    #[arg(long = "apps-from", value_name = "REV")]
    pub apps_from: Option<String>,
}

#[derive(Debug, Args)]
pub struct ApplyArgs {
    /// A plan saved by `plan --out`. Without it, roster plans first.
    pub plan_file: Option<PathBuf>,
    #[command(flatten)]
    pub source: SourceArgs,
    #[arg(long = "app", value_name = "NAME")]
    pub apps: Vec<String>,
    /// Do not ask for confirmation.
    #[arg(long)]
    pub auto_approve: bool,
    /// Allow up to N deletes + disables per app, above max_deletes.
    #[arg(long, value_name = "N")]
    pub allow_deletes: Option<usize>,
    /// Where to append the provisioning report (default .roster/reports.jsonl).
    #[arg(long, value_name = "PATH")]
    pub report_log: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct DriftArgs {
    #[command(flatten)]
    pub source: SourceArgs,
    #[arg(long = "app", value_name = "NAME")]
    pub apps: Vec<String>,
    #[arg(long, value_enum, default_value_t = OutputFormat::Human)]
    pub format: OutputFormat,
    /// Take the app definitions (endpoints, credentials, tls, switches, scope) from this
    /// trusted revision, e.g. the base branch of a pull request; users, groups and
    /// policies still come from the working tree or --ref.
    #[arg(long = "apps-from", value_name = "REV")]
    pub apps_from: Option<String>,
}

#[derive(Debug, Args)]
pub struct DiffArgs {
    /// The old revision.
    pub rev_a: String,
    /// The new revision.
    pub rev_b: String,
    #[arg(long, value_enum, default_value_t = OutputFormat::Human)]
    pub format: OutputFormat,
}

#[derive(Debug, Args)]
pub struct ImportArgs {
    #[arg(long = "app", value_name = "NAME")]
    pub app: String,
    /// The folder to write YAML into (default: the repository root).
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Overwrite existing files.
    #[arg(long)]
    pub force: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum ReportFormat {
    #[default]
    Table,
    Json,
    Csv,
}

#[derive(Debug, Args)]
pub struct ReportArgs {
    #[arg(long)]
    pub user: Option<String>,
    #[arg(long)]
    pub app: Option<String>,
    /// RFC 3339 time or a relative span such as 24h, 7d.
    #[arg(long)]
    pub since: Option<String>,
    #[arg(long)]
    pub until: Option<String>,
    /// Only changes with this action.
    #[arg(long, value_enum)]
    pub action: Option<crate::plan::Action>,
    /// Only changes with this outcome.
    #[arg(long, value_enum)]
    pub result: Option<crate::engine::report_log::Outcome>,
    #[arg(long, value_enum, default_value_t = ReportFormat::Table)]
    pub format: ReportFormat,
    #[arg(long, value_name = "PATH")]
    pub report_log: Option<PathBuf>,
}
