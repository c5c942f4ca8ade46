//! `roster schema`: print the JSON Schema of a repository file, generated from the
//! model (the committed `schema/roster.schema.json` is this output).

use crate::cli::GlobalArgs;

/// The schema text exactly as printed (pretty JSON and a final newline).
pub fn schema_text() -> String {
    let mut s = serde_json::to_string_pretty(&crate::desired::json_schema())
        .unwrap_or_else(|_| "{}".into());
    s.push('\n');
    s
}

/// Run `schema`; always exit 0.
pub fn run(_global: &GlobalArgs) -> anyhow::Result<u8> {
    crate::output::text(&schema_text());
    Ok(0)
}
