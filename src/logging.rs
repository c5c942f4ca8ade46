//! Tracing setup: `-v`/`-vv`, `RUST_LOG`, and `--log-format json`, all on stderr.

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

use crate::cli::{GlobalArgs, LogFormat};

pub fn init(global: &GlobalArgs) {
    let default = match global.verbose {
        0 => "roster=warn",
        1 => "roster=info",
        _ => "roster=debug",
    };
    let ansi = global.color.enabled(std::io::stderr().is_terminal());
    crate::error_report::set_color(ansi);
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        // Colour only for a person at a terminal: never in files or CI logs.
        .with_ansi(ansi)
        // A closed stderr must not end the run: the default reports a failed write with
        // `eprintln!`, which panics when stderr itself is gone.
        .log_internal_errors(false);
    let _ = match global.log_format {
        LogFormat::Json => builder.json().try_init(),
        LogFormat::Text => builder.with_target(false).try_init(),
    };
}
