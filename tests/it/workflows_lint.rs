//! Every GitHub Actions workflow the project ships (its own CI and the examples users
//! copy) passes actionlint, which the test installs through the project's script.

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
        files.len() >= 4,
        "expected the CI workflow and three examples, found {files:?}"
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
