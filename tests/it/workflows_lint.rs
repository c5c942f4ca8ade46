//! Every GitHub Actions workflow the project ships (its own CI, the release workflow and
//! the examples users copy) passes actionlint, which the test installs through the
//! project's script; the root action.yml is checked by actionlint through the examples
//! that use it, and nothing compiles roster unless asked to.

use std::path::{Path, PathBuf};
use std::process::Command;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// actionlint from PATH, else from Python's scripts folder, after the install script.
fn actionlint() -> PathBuf {
    let status = Command::new("bash")
        .arg(root().join("scripts/install-actionlint.sh"))
        .status()
        .expect("run scripts/install-actionlint.sh");
    assert!(status.success(), "scripts/install-actionlint.sh failed");
    if Command::new("actionlint")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
    {
        return PathBuf::from("actionlint");
    }
    let out = Command::new("python3")
        .args([
            "-c",
            "import sysconfig; print(sysconfig.get_path('scripts'))",
        ])
        .output()
        .expect("python3");
    let dir = String::from_utf8_lossy(&out.stdout).trim().to_string();
    let p = Path::new(&dir).join("actionlint");
    assert!(p.exists(), "actionlint not found on PATH nor in {dir}");
    p
}

fn workflows() -> Vec<PathBuf> {
    let mut files = Vec::new();
    for dir in [".github/workflows", "examples/github-workflows"] {
        for entry in std::fs::read_dir(root().join(dir)).expect(dir) {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "yml" || e == "yaml") {
                files.push(path);
            }
        }
    }
    files.sort();
    files
}

#[test]
fn every_workflow_passes_actionlint() {
    let files = workflows();
    assert!(
        files.len() >= 5,
        "expected the CI and release workflows and three examples, found {files:?}"
    );
    let out = Command::new(actionlint())
        .args(["-no-color"])
        .args(&files)
        .current_dir(root())
        .output()
        .expect("run actionlint");
    assert!(
        out.status.success(),
        "actionlint found problems:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn actionlint_catches_a_broken_workflow() {
    // Proves the check above can fail: an undefined expression context is an error.
    let dir = tempfile::tempdir().unwrap();
    let wf = dir.path().join(".github/workflows");
    std::fs::create_dir_all(&wf).unwrap();
    std::fs::write(
        wf.join("bad.yml"),
        "on: push\njobs:\n  a:\n    runs-on: ubuntu-24.04\n    steps:\n      - run: echo ${{ nosuch.context }}\n",
    )
    .unwrap();
    let out = Command::new(actionlint())
        .args(["-no-color", ".github/workflows/bad.yml"])
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert!(
        !out.status.success(),
        "actionlint accepted a broken workflow"
    );
}

/// The examples say `uses: OWNER/roster@v1`, which actionlint cannot look up. Copied into a
/// project with the root action.yml and that reference turned into `./`, actionlint
/// checks the action's metadata (its expressions, contexts) and every `with:` of the
/// examples against the action's inputs.
fn project_with_the_action(workflows: &[(String, String)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    // actionlint finds the project root by its .git folder.
    std::fs::create_dir_all(dir.path().join(".git")).unwrap();
    let wf = dir.path().join(".github/workflows");
    std::fs::create_dir_all(&wf).unwrap();
    std::fs::copy(root().join("action.yml"), dir.path().join("action.yml")).unwrap();
    for (name, text) in workflows {
        std::fs::write(wf.join(name), text).unwrap();
    }
    dir
}

fn examples() -> Vec<(String, String)> {
    let mut out = Vec::new();
    for path in workflows() {
        if !path.starts_with(root().join("examples")) {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        assert!(
            text.contains("uses: OWNER/roster@v1"),
            "{name} does not use the published action"
        );
        out.push((name, text));
    }
    out
}

fn lint(dir: &Path) -> std::process::Output {
    Command::new(actionlint())
        .args(["-no-color"])
        .current_dir(dir)
        .output()
        .expect("run actionlint")
}

#[test]
fn the_action_and_the_examples_using_it_pass_actionlint() {
    let local: Vec<(String, String)> = examples()
        .into_iter()
        .map(|(n, t)| (n, t.replace("uses: OWNER/roster@v1", "uses: ./")))
        .collect();
    assert_eq!(local.len(), 4, "four example workflows");
    let dir = project_with_the_action(&local);
    let out = lint(dir.path());
    assert!(
        out.status.success(),
        "actionlint found problems in action.yml or its use:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn actionlint_checks_the_inputs_given_to_the_action() {
    // Proves the check above can fail: an input action.yml does not define.
    let dir = project_with_the_action(&[(
        "bad.yml".into(),
        "on: push\njobs:\n  a:\n    runs-on: ubuntu-24.04\n    steps:\n      - uses: ./\n        with:\n          args: plan\n          no-such-input: x\n"
            .into(),
    )]);
    let out = lint(dir.path());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        !out.status.success() && text.contains("no-such-input"),
        "actionlint accepted an unknown input: {text}"
    );
}

/// The `steps` of a workflow's jobs or of an action.
pub(crate) fn steps(file: &Path) -> Vec<serde_yaml::Value> {
    let doc: serde_yaml::Value =
        serde_yaml::from_str(&std::fs::read_to_string(file).unwrap()).unwrap();
    if let Some(s) = doc["runs"]["steps"].as_sequence() {
        return s.clone();
    }
    doc["jobs"]
        .as_mapping()
        .unwrap()
        .values()
        .flat_map(|j| j["steps"].as_sequence().cloned().unwrap_or_default())
        .collect()
}

#[test]
fn no_example_and_no_action_step_compiles_roster_unless_asked() {
    for path in workflows()
        .into_iter()
        .filter(|p| p.starts_with(root().join("examples")))
    {
        let text = std::fs::read_to_string(&path).unwrap();
        for needle in ["cargo ", "rust-toolchain", "./.github/actions/roster"] {
            assert!(
                !text.contains(needle),
                "{} contains {needle:?}: examples install the released binary",
                path.display()
            );
        }
    }
    let action = root().join("action.yml");
    let mut compiling = 0;
    for step in steps(&action) {
        let run = step["run"].as_str().unwrap_or("");
        if run.contains("cargo ") {
            compiling += 1;
            assert_eq!(
                step["if"].as_str(),
                Some("inputs.build-from-source == 'true'"),
                "a compiling step of action.yml runs only with build-from-source: {step:?}"
            );
        }
    }
    assert_eq!(compiling, 1, "one step builds from source, when asked");
    let doc: serde_yaml::Value =
        serde_yaml::from_str(&std::fs::read_to_string(&action).unwrap()).unwrap();
    assert_eq!(
        doc["inputs"]["build-from-source"]["default"].as_str(),
        Some("false")
    );
}
