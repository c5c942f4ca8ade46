//! The `roster` binary: parse arguments, run one command, map the outcome to an exit
//! code. Everything else lives in the library.

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = roster::cli::Cli::parse();
    roster::logging::init(&cli.global);
    let outcome = roster::commands::run(cli);
    roster::output::flush();
    match outcome {
        Ok(code) => ExitCode::from(code),
        Err(err) => {
            roster::output::diag(&format!("error: {err:#}"));
            ExitCode::from(1)
        }
    }
}
