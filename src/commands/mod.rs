//! One module per CLI command; each returns an exit code or an error. `run` is the
//! only place that wires readers, the planner, renderers and appliers together.

use crate::cli::{Cli, Command};

pub mod access;
pub mod apply;
pub mod completions;
pub mod diff;
pub mod doctor;
pub mod explain;
pub mod forecast;
pub mod hr;
pub mod import;
pub mod plan;
pub mod report;
pub mod schema;
pub mod session;
pub mod show;
pub mod validate;

/// Run the parsed command line; returns the process exit code.
pub fn run(cli: Cli) -> anyhow::Result<u8> {
    match cli.command {
        Command::Validate(args) => validate::run(&cli.global, &args),
        Command::Access(args) => access::run(&cli.global, &args),
        Command::Explain(args) => explain::run(&cli.global, &args),
        Command::Hr(crate::cli::HrCommand::Sync(args)) => hr::sync(&cli.global, &args),
        Command::Schema => schema::run(&cli.global),
        Command::Diff(args) => diff::run(&cli.global, &args),
        Command::Plan(args) => plan::run(&cli.global, &args),
        Command::Apply(args) => apply::run(&cli.global, &args),
        Command::Drift(args) => plan::drift(&cli.global, &args),
        Command::Import(args) => import::run(&cli.global, &args),
        Command::Report(args) => report::run(&cli.global.dir, &args),
        Command::Doctor(args) => doctor::run(&cli.global, &args),
        Command::Show(args) => show::run(&cli.global, &args),
        Command::Forecast(args) => forecast::run(&cli.global, &args),
        Command::Completions(args) => completions::completions(&args),
        Command::Man(args) => completions::man(&args),
    }
}
