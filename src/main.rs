//! The `roster` binary: parse arguments, run one command, map the outcome to an exit
//! code. Everything else lives in the library.
//!
//! Exit codes: 0 success (also `--help` and `--version`, printed on stdout), 1 an error
//! including a usage error (an unknown flag or value; clap's message on stderr), 2 only
//! ever changes or drift found (`plan --detailed-exitcode`, `drift`), so that a typo in a
//! scheduled drift job is never mistaken for drift.

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = match roster::cli::Cli::try_parse() {
        Ok(cli) => cli,
        Err(err) => {
            let _ = err.print();
            return match err.kind() {
                clap::error::ErrorKind::DisplayHelp | clap::error::ErrorKind::DisplayVersion => {
                    ExitCode::SUCCESS
                }
                // Not clap's own 2, which means changes or drift here.
                _ => ExitCode::FAILURE,
            };
        }
    };
    roster::logging::init(&cli.global);
    let outcome = roster::commands::run(cli);
    roster::output::flush();
    match outcome {
        Ok(code) => ExitCode::from(code),
        Err(err) => {
            roster::output::diag(roster::error_report::render(&err).trim_end());
            ExitCode::from(1)
        }
    }
}
