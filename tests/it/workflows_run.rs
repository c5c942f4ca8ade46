//! The shell steps of the shipped GitHub Actions run locally against the standalone
//! Graph emulator: the root action's "Run roster" step for plan (Markdown to a
//! file, plan saved), apply of the saved plan, and drift (exit codes 0 and 2 reported
//! through GITHUB_OUTPUT), and the drift workflow's issue step with `gh` stubbed.
//! The release workflow's packaging and checksum steps pack the built binary, and the
//! action's install step installs exactly that archive (from a `file://` release),
//! refusing it when its checksum does not match.

use crate::support;

use std::path::{Path, PathBuf};
use std::process::Command;

use support::*;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The `run:` script of the step named `name` in a workflow or action file.
fn step_script(file: &str, name: &str) -> String {
    let steps = crate::workflows_lint::steps(&root().join(file));
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
    let script = step_script("action.yml", "Run roster");
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

    // A usage error fails the step too, whatever its code: never read as drift.
    let typo = step("drift --no-such-flag", "");
    assert_ne!(typo.code, 0, "{}", typo.output);
    assert!(
        !typo.github_output.contains("exit-code=0") && !typo.github_output.contains("exit-code=2"),
        "{}",
        typo.github_output
    );
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

/// A stub program `name` in `bin` that runs `body` (bash).
fn stub(bin: &Path, name: &str, body: &str) {
    use std::os::unix::fs::PermissionsExt;
    let p = bin.join(name);
    std::fs::write(&p, format!("#!/usr/bin/env bash\n{body}\n")).unwrap();
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
}

fn output_value(github_output: &str, key: &str) -> Option<String> {
    github_output
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{key}=")).map(str::to_string))
}

#[test]
fn the_action_picks_the_release_for_its_tag_and_the_runner() {
    let script = step_script("action.yml", "Resolve the release");
    let bin = bin_dir();
    // `gh api repos/acme/roster/releases/latest --jq .tag_name`
    stub(
        bin.path(),
        "gh",
        "[ \"$1 $2\" = 'api repos/acme/roster/releases/latest' ] && echo v1.5.2",
    );
    let work = tempfile::tempdir().unwrap();
    let resolve = |action_ref: &str, version: &str, os: &str, arch: &str| {
        run_step(
            &script,
            bin.path(),
            work.path(),
            &[
                // As in a composite action: the context values are empty, the checkout
                // path tells the repository and the ref.
                ("ACTION_REPO", String::new()),
                ("ACTION_REF", String::new()),
                (
                    "GITHUB_ACTION_PATH",
                    format!("/home/runner/work/_actions/acme/roster/{action_ref}"),
                ),
                ("INPUT_VERSION", version.to_string()),
                ("RUNNER_OS", os.to_string()),
                ("RUNNER_ARCH", arch.to_string()),
                ("RUNNER_TOOL_CACHE", "/opt/hostedtoolcache".to_string()),
                ("RUNNER_TEMP", "/tmp".to_string()),
                ("GH_TOKEN", "x".to_string()),
            ],
        )
    };

    let pinned = resolve("v1.4.0", "", "Linux", "ARM64");
    assert_eq!(pinned.code, 0, "{}", pinned.output);
    let out = &pinned.github_output;
    assert_eq!(output_value(out, "version").as_deref(), Some("1.4.0"));
    assert_eq!(
        output_value(out, "archive").as_deref(),
        Some("roster-1.4.0-aarch64-unknown-linux-musl.tar.gz")
    );
    assert_eq!(
        output_value(out, "url").as_deref(),
        Some("https://github.com/acme/roster/releases/download/v1.4.0")
    );
    assert_eq!(
        output_value(out, "dir").as_deref(),
        Some("/opt/hostedtoolcache/roster/1.4.0/aarch64-unknown-linux-musl")
    );

    // A moving major tag: the latest release.
    let moving = resolve("v1", "", "macOS", "ARM64");
    assert_eq!(moving.code, 0, "{}", moving.output);
    assert_eq!(
        output_value(&moving.github_output, "archive").as_deref(),
        Some("roster-1.5.2-aarch64-apple-darwin.tar.gz")
    );

    // An explicit version wins over the tag; Windows gets the zip.
    let asked = resolve("v1", "v2.0.1", "Windows", "X64");
    assert_eq!(asked.code, 0, "{}", asked.output);
    assert_eq!(
        output_value(&asked.github_output, "archive").as_deref(),
        Some("roster-2.0.1-x86_64-pc-windows-msvc.zip")
    );

    let none = resolve("v1.4.0", "", "Linux", "ARM");
    assert_ne!(none.code, 0);
    assert!(none.output.contains("build-from-source"), "{}", none.output);
}

/// A release folder as the release workflow makes it, for one target: its "Package" and
/// "Checksums" steps run as they are, on a stand-in for the built binary (a script
/// that names its version; packing the 300 MB debug binary would only cost time).
fn release(dir: &Path, tag: &str, target: &str) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let bin = dir.join(format!("target/{target}/release"));
    std::fs::create_dir_all(&bin).unwrap();
    let exe = bin.join("roster");
    std::fs::write(&exe, format!("#!/bin/sh\necho \"roster {}\"\n", &tag[1..])).unwrap();
    std::fs::set_permissions(&exe, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::write(dir.join("README.md"), "roster\n").unwrap();
    let tools = tempfile::tempdir().unwrap();
    let env = [("TARGET", target.to_string()), ("TAG", tag.to_string())];
    let pack = run_step(
        &step_script(".github/workflows/release.yml", "Package"),
        tools.path(),
        dir,
        &env,
    );
    assert_eq!(pack.code, 0, "{}", pack.output);
    let dist = dir.join("dist");
    let sums = run_step(
        &step_script(".github/workflows/release.yml", "Checksums"),
        tools.path(),
        &dist,
        &env,
    );
    assert_eq!(sums.code, 0, "{}", sums.output);
    dist
}

#[test]
fn the_action_installs_the_released_archive_and_refuses_a_bad_checksum() {
    let work = tempfile::tempdir().unwrap();
    let target = "x86_64-unknown-linux-musl";
    let dist = release(work.path(), "v9.8.7", target);
    let archive = format!("roster-9.8.7-{target}.tar.gz");
    assert!(
        dist.join(&archive).exists(),
        "the archive name the action asks for"
    );
    let sums = std::fs::read_to_string(dist.join("SHA256SUMS")).unwrap();
    assert!(sums.contains(&archive), "{sums}");

    let script = step_script("action.yml", "Install roster");
    let bin = tempfile::tempdir().unwrap();
    let install = |tool_dir: &Path| {
        let gh_path = work.path().join("github_path");
        std::fs::write(&gh_path, "").unwrap();
        let r = run_step(
            &script,
            bin.path(),
            work.path(),
            &[
                ("ARCHIVE", archive.clone()),
                ("URL", format!("file://{}", dist.display())),
                ("DIR", tool_dir.display().to_string()),
                ("GITHUB_PATH", gh_path.display().to_string()),
            ],
        );
        (r, std::fs::read_to_string(&gh_path).unwrap())
    };

    // Download, verify, unpack, put on PATH: the binary runs.
    let tool = work.path().join("tool");
    let (ok, path) = install(&tool);
    assert_eq!(ok.code, 0, "{}", ok.output);
    let added = PathBuf::from(path.trim());
    assert_eq!(added, tool.join(format!("roster-9.8.7-{target}")));
    let version = Command::new(added.join("roster"))
        .arg("--version")
        .output()
        .unwrap();
    assert!(version.status.success());
    assert_eq!(String::from_utf8_lossy(&version.stdout), "roster 9.8.7\n");

    // A cached archive that no longer matches the release's checksum is refused and
    // removed, as is a download that does not match.
    std::fs::write(tool.join(&archive), b"not the release").unwrap();
    let (cached, path) = install(&tool);
    assert_ne!(cached.code, 0);
    assert!(
        cached.output.contains("checksum mismatch"),
        "{}",
        cached.output
    );
    assert!(path.is_empty(), "nothing put on PATH: {path}");
    assert!(!tool.join(&archive).exists(), "the bad archive is removed");

    let other = "0".repeat(64);
    std::fs::write(dist.join("SHA256SUMS"), format!("{other}  {archive}\n")).unwrap();
    let fresh = work.path().join("fresh");
    let (bad, path) = install(&fresh);
    assert_ne!(bad.code, 0);
    assert!(bad.output.contains("checksum mismatch"), "{}", bad.output);
    assert!(path.is_empty());

    // An archive the checksums do not list at all.
    std::fs::write(dist.join("SHA256SUMS"), "").unwrap();
    let (unlisted, _) = install(&work.path().join("unlisted"));
    assert_ne!(unlisted.code, 0);
    assert!(unlisted.output.contains("no entry"), "{}", unlisted.output);
}

#[test]
fn the_pr_comment_stays_within_githubs_limit() {
    let script = step_script(
        "examples/github-workflows/roster-pr.yml",
        "Post or update the plan comment",
    );
    let bin = bin_dir();
    let work = tempfile::tempdir().unwrap();
    let log = work.path().join("gh.log");
    // The stub keeps the body it was asked to post.
    stub(
        bin.path(),
        "gh",
        &format!(
            "echo \"$*\" >> {}\nfor a in \"$@\"; do case \"$a\" in body=@*) cp \"${{a#body=@}}\" {}/posted.md ;; esac; done",
            log.display(),
            work.path().display()
        ),
    );
    let summary = work.path().join("summary.md");
    let env = || {
        vec![
            ("GH_TOKEN", "x".to_string()),
            ("PR", "7".to_string()),
            ("REPO", "acme/identity".to_string()),
            ("GITHUB_STEP_SUMMARY", summary.display().to_string()),
            ("GITHUB_SERVER_URL", "https://github.com".to_string()),
            ("GITHUB_RUN_ID", "42".to_string()),
        ]
    };
    let posted = || std::fs::read_to_string(work.path().join("posted.md")).unwrap();

    // Small: the plan and the diff, behind the marker.
    std::fs::write(work.path().join("plan.md"), "## plan\n| a | b |\n").unwrap();
    std::fs::write(work.path().join("diff.md"), "## diff\n").unwrap();
    let r = run_step(&script, bin.path(), work.path(), &env());
    assert_eq!(r.code, 0, "{}", r.output);
    let body = posted();
    assert!(body.starts_with("<!-- roster-plan -->"));
    assert!(
        body.contains("## plan") && body.contains("## diff"),
        "{body}"
    );

    // A plan that fits with a diff that does not: the diff is left out, with a pointer.
    std::fs::write(work.path().join("plan.md"), "p".repeat(40_000)).unwrap();
    std::fs::write(work.path().join("diff.md"), "é".repeat(40_000)).unwrap();
    let r = run_step(&script, bin.path(), work.path(), &env());
    assert_eq!(r.code, 0, "{}", r.output);
    let body = posted();
    assert!(body.chars().count() <= 65_536, "{}", body.chars().count());
    assert!(body.contains(&"p".repeat(40_000)));
    assert!(body.contains("job summary of run https://github.com/acme/identity/actions/runs/42"));

    // A plan that alone is too long: only the pointer.
    std::fs::write(work.path().join("plan.md"), "p".repeat(70_000)).unwrap();
    let r = run_step(&script, bin.path(), work.path(), &env());
    assert_eq!(r.code, 0, "{}", r.output);
    let body = posted();
    assert!(body.chars().count() <= 65_536);
    assert!(body.contains("too long for a comment"), "{body}");
    // The job summary has everything.
    let all = std::fs::read_to_string(&summary).unwrap();
    assert!(all.contains(&"p".repeat(70_000)) && all.contains(&"é".repeat(40_000)));
}
