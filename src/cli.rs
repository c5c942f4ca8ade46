//! Command-line definitions (clap derive). Parsing only: no behaviour lives here.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

#[derive(Debug, Parser)]
#[command(
    name = "roster",
    version,
    about = "Declarative GitOps reconciler for identity: plan and apply users, groups and access from YAML in Git",
    propagate_version = true,
    after_help = "\
EXIT CODES:
  0  success (and no changes for `plan --detailed-exitcode` and `drift`)
  1  an error, including a usage error such as an unknown flag or value
  2  changes (`plan --detailed-exitcode`) or drift (`drift`) found

EXAMPLES:
  roster validate
  roster plan --out plan.json && roster apply plan.json
  roster -C ../identity drift --format markdown"
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
    #[command(after_help = "\
EXAMPLES:
  roster validate
  roster validate --ref origin/main
  roster -C ../identity validate --format json")]
    Validate(ValidateArgs),
    /// Read live state and print the plan; optionally save it for `apply`.
    #[command(after_help = "\
EXAMPLES:
  roster plan
  roster plan --app o365 --out plan.json
  roster plan --format markdown --apps-from origin/main --detailed-exitcode")]
    Plan(PlanArgs),
    /// Apply a saved plan exactly, or plan and apply after confirmation.
    #[command(after_help = "\
EXAMPLES:
  roster apply plan.json
  roster apply --app o365 --auto-approve
  roster apply plan.json --allow-deletes 20 --report-log reports/run.jsonl")]
    Apply(ApplyArgs),
    /// Report what differs live from the repository (exit 2 when anything does).
    #[command(after_help = "\
EXAMPLES:
  roster drift
  roster drift --app corp --format markdown
  roster drift --format json --apps-from origin/main")]
    Drift(DriftArgs),
    /// The dated changes that happen with no further commits: starts, ends, staged
    /// leaver steps, membership expiries; from the repository alone, no credentials.
    #[command(after_help = "\
EXAMPLES:
  roster forecast --until 2027-05-01
  roster forecast --app o365 --from 2027-03-01 --format markdown")]
    Forecast(ForecastArgs),
    /// The desired-state change between two revisions; no live access, no credentials.
    #[command(after_help = "\
EXAMPLES:
  roster diff origin/main HEAD
  roster diff v1.0 v1.1 --format markdown")]
    Diff(DiffArgs),
    /// Write YAML for an app's live users, groups and memberships.
    #[command(after_help = "\
EXAMPLES:
  roster import --app o365
  roster import --app corp --out imported/ --force")]
    Import(ImportArgs),
    /// The provisioning report: every applied change and failure.
    #[command(after_help = "\
EXAMPLES:
  roster report --since 24h
  roster report --user alice@example.com --format csv
  roster report --app o365 --action delete --result failed --format json")]
    Report(ReportArgs),
    /// Print a saved plan file (from `plan --out`) without contacting any app.
    #[command(after_help = "\
EXAMPLES:
  roster show plan.json
  roster show plan.json --format markdown
  ROSTER_PLAN_KEY=... roster show plan.json --format json")]
    Show(ShowArgs),
    /// Check each app's connection: token, permissions, read endpoints, TLS, clock skew.
    ///
    /// Writes nothing; exits 1 when a check fails, 0 otherwise (warnings allowed).
    #[command(after_help = "\
EXAMPLES:
  roster doctor
  roster doctor --app o365
  roster doctor --app corp --format json")]
    Doctor(DoctorArgs),
    /// Who is provisioned to which app, through which policy and group (desired state
    /// only: no live access, no credentials); at a past date from the commit then in effect.
    #[command(after_help = "\
EXAMPLES:
  roster access
  roster access --app o365 --at 2027-03-31
  roster access --ref v1.2 --format csv > access.csv")]
    Access(AccessArgs),
    /// Why a user has, or has not, access to each app: group path, policy, domains, expiry.
    #[command(after_help = "\
EXAMPLES:
  roster explain alice
  roster explain alice --app o365 --at 2027-03-31")]
    Explain(ExplainArgs),
    /// HR feed: turn an HRIS export into joiners, movers and leavers in the YAML files.
    #[command(
        subcommand,
        after_help = "\
EXAMPLES:
  roster hr sync --csv export.csv --mapping .github/hr-mapping.yaml --write"
    )]
    Hr(HrCommand),
    /// Print the JSON Schema of the repository's YAML files.
    #[command(after_help = "\
EXAMPLES:
  roster schema > schema/roster.schema.json")]
    Schema,
    /// Print a shell completion script.
    #[command(after_help = "\
EXAMPLES:
  roster completions bash > ~/.local/share/bash-completion/completions/roster
  roster completions zsh > ~/.zfunc/_roster
  roster completions fish > ~/.config/fish/completions/roster.fish
  roster completions powershell >> $PROFILE")]
    Completions(CompletionsArgs),
    /// Print the man page, or write one page per command into a folder.
    #[command(after_help = "\
EXAMPLES:
  roster man | man -l -
  roster man --out /usr/local/share/man/man1")]
    Man(ManArgs),
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
    /// Output format of the plan on stdout.
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
    /// Plan as of this day (YYYY-MM-DD: start and end dates, leaver steps and membership
    /// expiry evaluated on it) against the live state read now. Default: today (UTC).
    #[arg(long, value_name = "DATE", value_parser = parse_day)]
    pub at: Option<time::Date>,
}

#[derive(Debug, Args)]
pub struct ApplyArgs {
    /// A plan saved by `plan --out`. Without it, roster plans first.
    pub plan_file: Option<PathBuf>,
    #[command(flatten)]
    pub source: SourceArgs,
    /// Limit to these apps (repeatable); ignored with a plan file, which names its apps.
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
    /// When some apps cannot be read, apply the changes of the apps that could be
    /// (without it, apply stops before writing anything); not with a plan file.
    #[arg(long)]
    pub skip_unreadable: bool,
    /// Apply as of this day (YYYY-MM-DD) instead of today; refused unless
    /// --allow-other-date (a dated change applied early or late is still applied now).
    #[arg(long, value_name = "DATE", value_parser = parse_day)]
    pub at: Option<time::Date>,
    /// Allow `--at`, or a plan file planned for another day than today.
    #[arg(long)]
    pub allow_other_date: bool,
}

#[derive(Debug, Args)]
pub struct ForecastArgs {
    #[command(flatten)]
    pub source: SourceArgs,
    /// Only this app's changes (and the expiries of memberships of its groups).
    #[arg(long = "app", value_name = "NAME")]
    pub app: Option<String>,
    /// The first day (YYYY-MM-DD); changes after it are listed (its own are what
    /// `plan --at` shows). Default: today (UTC).
    #[arg(long, value_name = "DATE", value_parser = parse_day)]
    pub from: Option<time::Date>,
    /// The last day listed (YYYY-MM-DD). Default: 90 days after --from.
    #[arg(long, value_name = "DATE", value_parser = parse_day)]
    pub until: Option<time::Date>,
    /// Output format on stdout.
    #[arg(long, value_enum, default_value_t = OutputFormat::Human)]
    pub format: OutputFormat,
}

/// A day written YYYY-MM-DD (for `--at` and `--until`).
pub fn parse_day(s: &str) -> Result<time::Date, String> {
    crate::desired::lifecycle::parse_date(s)
        .ok_or_else(|| format!("`{s}` is not a calendar date written YYYY-MM-DD"))
}

#[derive(Debug, Args)]
pub struct DriftArgs {
    #[command(flatten)]
    pub source: SourceArgs,
    /// Limit to these apps (repeatable).
    #[arg(long = "app", value_name = "NAME")]
    pub apps: Vec<String>,
    /// Output format of the drift report on stdout.
    #[arg(long, value_enum, default_value_t = OutputFormat::Human)]
    pub format: OutputFormat,
    /// Compare as of this day (YYYY-MM-DD) against the live state read now. Default: today (UTC).
    #[arg(long, value_name = "DATE", value_parser = parse_day)]
    pub at: Option<time::Date>,
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
    /// Output format of the change on stdout.
    #[arg(long, value_enum, default_value_t = OutputFormat::Human)]
    pub format: OutputFormat,
}

#[derive(Debug, Args)]
pub struct ImportArgs {
    /// The app to read users, groups and memberships from.
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
    /// Only changes to this user (their username), including memberships naming them.
    #[arg(long, value_name = "USER")]
    pub user: Option<String>,
    /// Only changes in this app.
    #[arg(long, value_name = "NAME")]
    pub app: Option<String>,
    /// Only changes at or after this time: RFC 3339 or a relative span such as 24h, 7d.
    #[arg(long, value_name = "TIME")]
    pub since: Option<String>,
    /// Only changes before this time: RFC 3339 or a relative span such as 24h, 7d.
    #[arg(long, value_name = "TIME")]
    pub until: Option<String>,
    /// Only changes with this action.
    #[arg(long, value_enum)]
    pub action: Option<crate::plan::Action>,
    /// Only changes with this outcome.
    #[arg(long, value_enum)]
    pub result: Option<crate::engine::report_log::Outcome>,
    /// Output format on stdout.
    #[arg(long, value_enum, default_value_t = ReportFormat::Table)]
    pub format: ReportFormat,
    /// A provisioning report to read (default .roster/reports.jsonl). Repeatable: a file,
    /// or a folder searched (with its subfolders) for *.jsonl logs, such as downloaded
    /// apply artifacts; all are read as one history, ordered by time, repeats dropped.
    #[arg(long = "report-log", value_name = "PATH")]
    pub report_logs: Vec<PathBuf>,
}

#[derive(Debug, Args)]
pub struct ShowArgs {
    /// A plan saved by `plan --out`; with ROSTER_PLAN_KEY set, its signature must verify.
    pub plan_file: PathBuf,
    /// Output format on stdout.
    #[arg(long, value_enum, default_value_t = OutputFormat::Human)]
    pub format: OutputFormat,
}

#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell to print the completion script for.
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

#[derive(Debug, Args)]
pub struct ManArgs {
    /// Write roster.1 and one roster-COMMAND.1 per command into DIR instead of printing
    /// the main page.
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct DoctorArgs {
    /// Check only these apps (repeatable); default every app of the repository.
    #[arg(long = "app", value_name = "NAME")]
    pub apps: Vec<String>,
    /// Output format of the report on stdout.
    #[arg(long, value_enum, default_value_t = crate::commands::doctor::DoctorFormat::Human)]
    pub format: crate::commands::doctor::DoctorFormat,
}

#[derive(Debug, Args)]
pub struct AccessArgs {
    #[command(flatten)]
    pub source: SourceArgs,
    /// Only this app.
    #[arg(long, value_name = "NAME")]
    pub app: Option<String>,
    /// Answer as of this day (YYYY-MM-DD): from the last commit of the current branch's
    /// first-parent history committed on or before it (UTC), with membership expiry
    /// evaluated on that day.
    #[arg(long, value_name = "DATE", conflicts_with = "rev")]
    pub at: Option<String>,
    /// Output format on stdout (csv: RFC 4180 with a header row, for spreadsheets).
    #[arg(long, value_enum, default_value_t = ReportFormat::Table)]
    pub format: ReportFormat,
}

#[derive(Debug, Args)]
pub struct ExplainArgs {
    /// The user: a username (or an email address).
    pub user: String,
    /// Only this app.
    #[arg(long, value_name = "NAME")]
    pub app: Option<String>,
    /// Explain as of this day (YYYY-MM-DD), from the commit then in effect.
    #[arg(long, value_name = "DATE")]
    pub at: Option<String>,
    /// Output format on stdout (human or json).
    #[arg(long, value_enum, default_value_t = OutputFormat::Human)]
    pub format: OutputFormat,
}

#[derive(Debug, Subcommand)]
pub enum HrCommand {
    /// Compare an HR export (CSV) with the repository's users: joiners, movers, leavers.
    ///
    /// Prints a Markdown summary (for a pull request body); with --write, edits the
    /// YAML files in place, changing only the affected lines.
    #[command(after_help = "\
EXAMPLES:
  roster hr sync --csv export.csv --mapping hr-mapping.yaml
  roster hr sync --csv export.csv --mapping hr-mapping.yaml --write > pr-body.md")]
    Sync(HrSyncArgs),
}

#[derive(Debug, Args)]
pub struct HrSyncArgs {
    /// The HR export: CSV with a header row.
    #[arg(long, value_name = "FILE")]
    pub csv: PathBuf,
    /// The mapping file (YAML): column names, status values, date format, where
    /// joiners go and how their usernames are made.
    #[arg(long, value_name = "FILE")]
    pub mapping: PathBuf,
    /// Edit the repository's YAML files (without it, only the summary is printed).
    #[arg(long)]
    pub write: bool,
    /// The day of the sync (YYYY-MM-DD, default today, UTC): the end date of a leaver
    /// whose row disappeared or whose status is terminated without an end date.
    #[arg(long, value_name = "DATE")]
    pub today: Option<String>,
}
