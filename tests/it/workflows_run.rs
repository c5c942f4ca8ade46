//! The shell steps of the shipped GitHub Actions run locally against the standalone
//! Graph emulator: the reusable action's "Run roster" step for plan (Markdown to a
//! file, plan saved), apply of the saved plan, and drift (exit codes 0 and 2 reported
//! through GITHUB_OUTPUT), and the drift workflow's issue step with `gh` stubbed.

use crate::support;

use std::path::{Path, PathBuf};
use std::process::Command;

use support::*;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The `run:` script of the step named `name` in a workflow or action file.
fn step_script(file: &str, name: &str) -> String {
    let doc: serde_yaml::Value =
        serde_yaml::from_str(&std::fs::read_to_string(root().join(file)).unwrap()).unwrap();
    let steps: Vec<serde_yaml::Value> = if let Some(s) = doc["runs"]["steps"].as_sequence() {
        s.clone()
    } else {
        doc["jobs"]
            .as_mapping()
            .unwrap()
            .values()
            .flat_map(|j| j["steps"].as_sequence().cloned().unwrap_or_default())
            .collect()
    };
    steps
        .iter()
        .find(|s| s["name"].as_str() == Some(name))
        .and_then(|s| s["run"].as_str())
        .unwrap_or_else(|| panic!("{file} has no step {name:?} with a run script"))
        .to_string()
}

/// A folder with `roster` (and optionally a fake `gh`) first on PATH.
fn bin_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_roster"), dir.path().join("roster")).unwrap();
    dir
}

struct StepRun {
    code: i32,
    output: String,
    github_output: String,
}

fn run_step(script: &str, bin: &Path, cwd: &Path, env: &[(&str, String)]) -> StepRun {
    let gh_out = cwd.join("github_output");
    std::fs::write(&gh_out, "").unwrap();
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let mut cmd = Command::new("bash");
    cmd.args(["-e", "-o", "pipefail", "-c", script])
        .current_dir(cwd)
        .env("PATH", path)
        .env("GITHUB_OUTPUT", &gh_out)
        .env("NO_COLOR", "1")
        .env(SECRET_ENV.0, SECRET_ENV.1);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap();
    StepRun {
        code: out.status.code().unwrap_or(-1),
        output: format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
        github_output: std::fs::read_to_string(&gh_out).unwrap(),
    }
}

const PEOPLE: &str = "users:\n  - username: alice\n    email: alice@contoso.com\n    first_name: Alice\n    last_name: Smith\n\
groups:\n  - name: staff\n    members: [alice]\npolicies:\n  - name: p\n    app: o365\n    groups: [staff]\n";

#[test]
fn the_action_plans_applies_the_saved_plan_and_reports_drift() {
    let emu = Emulator::start(&[]);
    let repo = repo(&[
        (
            "apps.yaml",
            &o365_app(&emu.url, "    authorized_domains: [contoso.com]\n"),
        ),
        ("people.yaml", PEOPLE),
    ]);
    let bin = bin_dir();
    let script = step_script(".github/actions/roster/action.yml", "Run roster");
    let dir = repo.path().display().to_string();
    let step = |args: &str, out: &str| {
        run_step(
            &script,
            bin.path(),
            repo.path(),
            &[
                ("ROSTER_ARGS", args.to_string()),
                ("ROSTER_DIR", dir.clone()),
                ("ROSTER_OUT", out.to_string()),
            ],
        )
    };

    // Pull request: the plan as Markdown into a file, saved for the apply job.
    let plan = step("plan --format markdown --out roster.plan", "plan.md");
    assert_eq!(plan.code, 0, "{}", plan.output);
    assert!(
        plan.github_output.contains("exit-code=0"),
        "{}",
        plan.github_output
    );
    let md = std::fs::read_to_string(repo.path().join("plan.md")).unwrap();
    assert!(
        md.contains("alice") && md.contains('|'),
        "Markdown with a summary table: {md}"
    );
    assert!(repo.path().join("roster.plan").exists());

    // Drift before apply: exit 2 is a result, not a failed step.
    let drift = step("drift --format markdown", "drift.md");
    assert_eq!(drift.code, 0, "{}", drift.output);
    assert!(
        drift.github_output.contains("exit-code=2"),
        "{}",
        drift.github_output
    );

    // Approved job: apply the saved plan exactly.
    let apply = step("apply roster.plan", "");
    assert_eq!(apply.code, 0, "{}", apply.output);
    assert!(emu.graph().user("alice@contoso.com").is_some());

    let drift = step("drift", "");
    assert!(
        drift.github_output.contains("exit-code=0"),
        "{}",
        drift.github_output
    );

    // An error (exit 1) fails the step.
    let bad = step("plan --app nosuch", "");
    assert_ne!(bad.code, 0);
    assert!(bad.github_output.contains("exit-code=1"));
}

#[test]
fn the_drift_workflow_opens_updates_and_closes_one_issue() {
    let script = step_script(
        "examples/github-workflows/roster-drift.yml",
        "Open, update or close the drift issue",
    );
    let bin = bin_dir();
    let work = tempfile::tempdir().unwrap();
    let log = work.path().join("gh.log");
    // A stub gh: records its arguments; `issue list` answers with the number in OPEN.
    std::fs::write(
        bin.path().join("gh"),
        format!(
            "#!/usr/bin/env bash\necho \"$*\" >> {}\nif [ \"$1 $2\" = \"issue list\" ]; then echo \"${{OPEN:-}}\"; fi\n",
            log.display()
        ),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(
        bin.path().join("gh"),
        std::fs::Permissions::from_mode(0o755),
    )
    .unwrap();
    std::fs::write(work.path().join("drift.md"), "drift report").unwrap();
    let env = |code: &str, open: &str| {
        vec![
            ("CODE", code.to_string()),
            ("OPEN", open.to_string()),
            ("REPO", "acme/identity".to_string()),
            ("GH_TOKEN", "x".to_string()),
        ]
    };
    let calls = |r: &StepRun| {
        assert_eq!(r.code, 0, "{}", r.output);
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        std::fs::remove_file(&log).ok();
        text
    };
    let created = calls(&run_step(&script, bin.path(), work.path(), &env("2", "")));
    assert!(created.contains("issue create"), "{created}");
    let updated = calls(&run_step(&script, bin.path(), work.path(), &env("2", "7")));
    assert!(updated.contains("issue edit 7"), "{updated}");
    assert!(
        !updated.contains("issue create"),
        "one issue, not a new one: {updated}"
    );
    let closed = calls(&run_step(&script, bin.path(), work.path(), &env("0", "7")));
    assert!(closed.contains("issue close 7"), "{closed}");
    let nothing = calls(&run_step(&script, bin.path(), work.path(), &env("0", "")));
    assert!(
        !nothing.contains("close") && !nothing.contains("create"),
        "{nothing}"
    );
}
