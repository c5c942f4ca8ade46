//! One module per CLI command; each returns an exit code or an error. `run` is the
//! only place that wires readers, the planner, renderers and appliers together.

use anyhow::bail;

use crate::cli::{Cli, Command};

pub mod diff;
pub mod schema;
pub mod validate;
pub mod report;

/// Run the parsed command line; returns the process exit code.
pub fn run(cli: Cli) -> anyhow::Result<u8> {
    let _global = &cli.global;
    match cli.command {
        Command::Validate(args) => validate::run(&cli.global, &args),
        Command::Schema => schema::run(&cli.global),
        Command::Diff(args) => diff::run(&cli.global, &args),
        Command::Plan(_) => bail!("plan is not built yet"),
        Command::Apply(_) => bail!("apply is not built yet"),
        Command::Drift(_) => bail!("drift is not built yet"),
        Command::Import(_) => bail!("import is not built yet"),
        Command::Report(args) => report::run(&cli.global.dir, &args),
    }
}
