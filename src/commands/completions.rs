//! `roster completions SHELL` and `roster man`: shell completion scripts and roff man
//! pages, generated from the clap definitions in `cli.rs` so they never fall behind.

use anyhow::Context;
use clap::CommandFactory;

use crate::cli::{Cli, CompletionsArgs, ManArgs};

const BIN: &str = "roster";

/// Print the completion script for one shell.
pub fn completions(args: &CompletionsArgs) -> anyhow::Result<u8> {
    let mut cmd = Cli::command();
    let mut script = Vec::new();
    clap_complete::generate(args.shell, &mut cmd, BIN, &mut script);
    crate::output::text(&String::from_utf8_lossy(&script));
    Ok(0)
}

/// Print the main man page, or with `--out DIR` write `roster.1` and one
/// `roster-COMMAND.1` per command into DIR.
pub fn man(args: &ManArgs) -> anyhow::Result<u8> {
    let pages = man_pages();
    match &args.out {
        None => {
            let mut page = Vec::new();
            pages[0]
                .render(&mut page)
                .context("cannot render the man page")?;
            crate::output::text(&String::from_utf8_lossy(&page));
        }
        Some(dir) => {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("cannot create {}", dir.display()))?;
            for page in &pages {
                page.generate_to(dir).with_context(|| {
                    format!("cannot write {}", dir.join(page.get_filename()).display())
                })?;
            }
            crate::output::diag(&format!(
                "Wrote {} man pages into {}",
                pages.len(),
                dir.display()
            ));
        }
    }
    Ok(0)
}

/// The main page first, then one page per visible command (named `roster-COMMAND`),
/// titled in capitals as man pages are.
fn man_pages() -> Vec<clap_mangen::Man> {
    let mut cmd = Cli::command().disable_help_subcommand(true);
    cmd.build();
    let mut pages = Vec::new();
    collect(&cmd, &mut pages);
    pages
}

fn collect(cmd: &clap::Command, pages: &mut Vec<clap_mangen::Man>) {
    let name = cmd.get_display_name().unwrap_or_else(|| cmd.get_name());
    let title = name.to_uppercase();
    let source = format!("roster {}", env!("CARGO_PKG_VERSION"));
    pages.push(
        clap_mangen::Man::new(cmd.clone())
            .title(title)
            .source(source),
    );
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        collect(sub, pages);
    }
}
