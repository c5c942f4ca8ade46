//! Logs go to stderr: nothing by default, lines with `-v`, and one JSON object per line
//! with `--log-format json` for CI log collectors.

use std::process::Command;

fn run(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_roster"))
        .args(["-C", concat!(env!("CARGO_MANIFEST_DIR"), "/examples/acme")])
        .args(args)
        .env_remove("RUST_LOG")
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn json_logs_are_one_object_per_line_on_stderr() {
    let (code, _, stderr) = run(&["-vv", "--log-format", "json", "plan", "--app", "corp-ad"]);
    // The AD app has no reachable DC here: the command fails, but it logs first.
    assert_eq!(code, 1, "{stderr}");
    let json_lines: Vec<serde_json::Value> = stderr
        .lines()
        .filter(|l| l.starts_with('{'))
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON: {l}: {e}")))
        .collect();
    assert!(!json_lines.is_empty(), "no JSON log lines in: {stderr}");
    assert!(
        json_lines
            .iter()
            .all(|v| v["level"].is_string() && v["fields"].is_object()),
        "{json_lines:?}"
    );
}

#[test]
fn without_verbosity_there_are_no_log_lines() {
    let (code, stdout, stderr) = run(&["--log-format", "json", "validate"]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(!stderr.lines().any(|l| l.starts_with('{')), "{stderr}");
}
