//! `roster forecast`: the dated changes that happen with no further commits (starts,
//! ends, staged leaver steps, membership expiries), from the repository alone: no
//! live state, no credentials (see `plan::forecast` and docs/lifecycle.md).

use super::session;
use crate::cli::{ForecastArgs, GlobalArgs, OutputFormat};
use crate::plan::forecast;

pub fn run(global: &GlobalArgs, args: &ForecastArgs) -> anyhow::Result<u8> {
    let loaded = session::load(&global.dir, args.source.rev.as_deref())?;
    if let Some(a) = &args.app
        && loaded.state.app(a).is_none()
    {
        anyhow::bail!("app {a} is not defined in the repository");
    }
    let from = args.from.unwrap_or_else(session::today);
    let until = match args.until {
        Some(u) => u,
        None => from
            .checked_add(time::Duration::days(90))
            .unwrap_or(time::Date::MAX),
    };
    if until < from {
        anyhow::bail!("--until {until} is before --from {from}");
    }
    let events = forecast::forecast(&loaded.state, args.app.as_deref(), from, until);
    let text = match args.format {
        OutputFormat::Human => forecast::human(&events, from, until),
        OutputFormat::Markdown => forecast::markdown(&events, from, until),
        OutputFormat::Json => {
            serde_json::to_string_pretty(&serde_json::json!({
                "from": from.to_string(),
                "until": until.to_string(),
                "events": events,
            }))? + "\n"
        }
    };
    crate::output::text(&text);
    Ok(0)
}
