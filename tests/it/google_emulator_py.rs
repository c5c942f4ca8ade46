//! Google's own Python client (`google-api-python-client` with `google-auth`, from PyPI)
//! drives the Google emulator: the client is built from the discovery document with
//! `build_from_document`, google-auth signs the service account's JWT for the emulator's
//! `/token`, and `tests/google/client.py` pages through users, inserts a user, sends a
//! `BatchHttpRequest`, inserts a member and receives an `HttpError` with Google's status
//! and reason. The pinned client is installed into `tests/google/.venv` by
//! `scripts/google-python.sh install` when missing.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde_json::{Value, json};

use crate::google_emulator::{ADMIN, start};

const USERS: usize = 230;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

pub fn ensure_venv() -> PathBuf {
    let out = Command::new("bash")
        .arg(root().join("scripts/google-python.sh"))
        .arg("install")
        .stdin(Stdio::null())
        .output()
        .expect("run scripts/google-python.sh install");
    assert!(
        out.status.success(),
        "scripts/google-python.sh install failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let python = String::from_utf8_lossy(&out.stdout).trim().to_string();
    assert!(
        Path::new(&python).is_file(),
        "no python path printed: {python:?}"
    );
    PathBuf::from(python)
}

/// Run `tests/google/SCRIPT` with Google's client against the emulator at `base`, as
/// the service account of `key_file` acting for the admin; its last stdout line is JSON.
pub fn run_script(python: &Path, script: &str, base: &str, key_file: &Path) -> Value {
    let out = Command::new(python)
        .arg(script)
        .current_dir(root().join("tests/google"))
        .stdin(Stdio::null())
        .env("GOOGLE_EMULATOR_BASE", base)
        .env("GOOGLE_KEY_FILE", key_file)
        .env("GOOGLE_ADMIN", ADMIN)
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .output()
        .expect("run the venv's python");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "{script} failed:\nstdout:\n{stdout}\nstderr:\n{stderr}"
    );
    let line = stdout.lines().last().expect("a JSON line");
    serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}\n{stderr}"))
}

#[test]
fn google_python_client_pages_inserts_batches_and_sees_http_errors() {
    let python = ensure_venv();
    let emu = start(&[]);
    let tok = emu.token();
    for n in 0..USERS {
        let body = json!({"primaryEmail": format!("py{n:03}@example.com"), "password": "correct horse battery",
                          "name": {"givenName": "Py", "familyName": format!("User{n:03}")}});
        let (s, v) = emu.call(&tok, "POST", "users", Some(body));
        assert_eq!(s, 200, "{v}");
    }
    let v = run_script(&python, "client.py", &emu.url, &emu.key.path);

    assert_eq!(v["pages"], 3, "100 + 100 + 30: {v}");
    assert_eq!(v["users_seen"], USERS, "{v}");
    assert_eq!(v["unique"], USERS, "{v}");
    assert_eq!(v["sorted"], true, "{v}");
    assert_eq!(
        v["inserted"],
        json!({"kind": "admin#directory#user", "fullName": "Grace Hopper", "has_password": false, "id_is_numeric": true}),
        "{v}"
    );
    assert_eq!(
        v["batch"],
        json!({"g1": {"email": "engineering@example.com"}, "g2": {"email": "sales@example.com"},
               "missing": {"status": 404, "reason": "Resource Not Found: userKey"}}),
        "{v}"
    );
    assert_eq!(v["batch_uri"], format!("{}/batch", emu.url), "{v}");
    assert_eq!(
        v["member"],
        json!({"type": "USER", "role": "MEMBER", "status": "ACTIVE"}),
        "{v}"
    );
    assert_eq!(v["has_member"], true, "{v}");
    assert_eq!(v["members_count"], "1", "{v}");
    assert_eq!(
        v["error"],
        json!({"status": 409, "reason": "duplicate", "message": "Entity already exists."}),
        "{v}"
    );
    let stats: Value = serde_json::from_str(
        &crate::google_emulator::exec(
            reqwest::Client::new().get(format!("{}/_emulator/stats", emu.url)),
        )
        .text,
    )
    .unwrap();
    assert_eq!(stats["batches"], 1, "{stats}");
    assert!(stats["token_requests"].as_u64().unwrap() >= 2, "{stats}");
}
