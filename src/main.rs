//! The `roster` binary: parse arguments, run one command, map the outcome to an exit
//! code. Everything else lives in the library.
//!
//! Exit codes: 0 success, 1 an error, 2 changes or drift found (`plan
//! --detailed-exitcode`, `drift`), 64 a usage error (an unknown flag or value), so that a
//! typo in a scheduled drift job is never mistaken for drift.

use std::process::ExitCode;

use clap::Parser;

/// EX_USAGE of sysexits(3).
const USAGE_ERROR: u8 = 64;

fn main() -> ExitCode {
    let cli = match roster::cli::Cli::try_parse() {
        Ok(cli) => cli,
        Err(err) => {
            let _ = err.print();
            return match err.kind() {
                clap::error::ErrorKind::DisplayHelp | clap::error::ErrorKind::DisplayVersion => {
                    ExitCode::SUCCESS
                }
                _ => ExitCode::from(USAGE_ERROR),
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
