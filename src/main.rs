//! The `roster` binary: parse arguments, run one command, map the outcome to an exit
//! code. Everything else lives in the library.

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = roster::cli::Cli::parse();
    roster::logging::init(&cli.global);
    match roster::commands::run(cli) {
        Ok(code) => ExitCode::from(code),
        Err(err) => {
            eprint!("{}", roster::error_report::render(&err));
            ExitCode::from(1)
        }
    }
}
