//! Microsoft's Python Graph SDK (`msgraph-sdk` from PyPI) drives the emulator over HTTPS:
//! msgraph_core's `PageIterator` walks 250 users in pages of 100, a batch goes through
//! the SDK's batch request builder, a users delta round runs to its deltaLink and a
//! second round sees a change made through the SDK, and a missing user surfaces as a
//! typed `ODataError` with Graph's code. The test installs the pinned SDK into
//! `tests/py/.venv` through `scripts/msgraph-python.sh install` when missing, makes a
//! throw-away TLS certificate (`support::tls::TestCerts`), starts the emulator on a free
//! port and runs `tests/py/graph_sdk.py` against it with the venv's python.

use crate::emulator_support as support;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde_json::{Value, json};
use support::*;

/// Users seeded: more than two pages at `$top=100` (and at delta's page size of 100).
const USERS: usize = 250;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// The venv's python, installing the pinned SDK first when it is missing (the script
/// is idempotent and returns at once when the venv is complete).
fn ensure_venv() -> PathBuf {
    let out = Command::new("bash")
        .arg(root().join("scripts/msgraph-python.sh"))
        .arg("install")
        .stdin(Stdio::null())
        .output()
        .expect("run scripts/msgraph-python.sh install");
    assert!(
        out.status.success(),
        "scripts/msgraph-python.sh install failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let python = String::from_utf8_lossy(&out.stdout).trim().to_string();
    assert!(
        Path::new(&python).is_file(),
        "the install script printed no python path: {python:?}"
    );
    PathBuf::from(python)
}

#[tokio::test]
async fn microsoft_graph_python_sdk_pages_batches_deltas_and_sees_errors() {
    let python = tokio::task::spawn_blocking(ensure_venv)
        .await
        .expect("join");
    let (emu, certs) = start_https(config()).await;
    let ca = certs.ca.clone();
    let base = emu.base.clone();
    // Seed the users through $batch, 20 per request.
    let names: Vec<String> = (0..USERS).map(|n| format!("py{n:03}")).collect();
    for chunk in names.chunks(20) {
        let reqs: Vec<Value> = chunk
            .iter()
            .enumerate()
            .map(|(i, name)| {
                json!({"id": i.to_string(), "method": "POST", "url": "/users",
                       "headers": {"Content-Type": "application/json"}, "body": new_user(name)})
            })
            .collect();
        let r = emu.post("/$batch", json!({ "requests": reqs })).await;
        assert_eq!(r.status, 200, "{}", r.text);
        assert!(
            r.body["responses"]
                .as_array()
                .expect("responses")
                .iter()
                .all(|x| x["status"] == 201),
            "{}",
            r.text
        );
    }

    let script_base = emu.base.clone();
    let out = tokio::task::spawn_blocking(move || {
        Command::new(&python)
            .arg("graph_sdk.py")
            .current_dir(root().join("tests/py"))
            .stdin(Stdio::null())
            .env("EMULATOR_BASE", script_base)
            .env("EMULATOR_TENANT", "contoso")
            .env("EMULATOR_CLIENT_ID", CLIENT)
            .env("EMULATOR_CLIENT_SECRET", SECRET)
            .env("EMULATOR_CA_FILE", &ca)
            // No stray bytecode caches in the source tree.
            .env("PYTHONDONTWRITEBYTECODE", "1")
            .output()
            .expect("run the venv's python")
    })
    .await
    .expect("join");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "graph_sdk.py failed:\nstdout:\n{stdout}\nstderr:\n{stderr}"
    );
    let line = stdout.lines().last().expect("summary line");
    let v: Value = serde_json::from_str(line)
        .unwrap_or_else(|e| panic!("JSON summary ({e}): {line}\nstderr:\n{stderr}"));

    // (a) PageIterator: every user once, over the nextLinks.
    assert_eq!(v["first_page_typed"], true, "{v}");
    assert_eq!(v["users_seen"], USERS, "{v}");
    assert_eq!(v["unique_ids"], USERS, "{v}");
    assert_eq!(v["pages"], 3, "100 + 100 + 50: {v}");

    // (b) The batch: statuses and ids (the SDK drops JSON-object bodies, kiota-python#737).
    assert_eq!(
        v["batch_statuses"],
        json!({"1": 200, "2": 201, "3": 404}),
        "{v}"
    );
    assert_eq!(v["batch_ids"], json!(["1", "2", "3"]), "{v}");
    assert_eq!(v["batch_response_ids"], json!(["1", "2", "3"]), "{v}");
    let created = emu
        .get("/groups?$filter=displayName eq 'Python SDK group'")
        .await;
    assert_eq!(
        created.body["value"].as_array().map(Vec::len),
        Some(1),
        "the batched POST created the group: {}",
        created.text
    );

    // (c) Delta: the initial round to a deltaLink, then the change alone.
    assert_eq!(v["delta_users"], USERS, "{v}");
    assert_eq!(v["delta_pages"], 3, "{v}");
    let link = v["delta_link"].as_str().expect("deltaLink");
    assert!(
        link.starts_with(&format!("{base}/v1.0/users/delta?")) && link.contains("$deltatoken="),
        "{link}"
    );
    let changed = v["delta_changed_id"].as_str().expect("changed id");
    assert_eq!(
        v["delta_second_round"],
        json!([{"id": changed, "displayName": v["delta_changed_name"]}]),
        "the second round holds the changed user only: {v}"
    );
    assert!(v["delta_second_link"].is_string(), "{v}");
    let now = emu.get(&format!("/users/{changed}")).await;
    assert_eq!(
        now.body["displayName"], v["delta_changed_name"],
        "{}",
        now.text
    );

    // (d) A typed Graph error.
    assert_eq!(v["error"]["type"], "ODataError", "{v}");
    assert_eq!(v["error"]["statusCode"], 404, "{v}");
    assert_eq!(v["error"]["code"], "Request_ResourceNotFound", "{v}");
    assert!(
        v["error"]["requestId"].is_string(),
        "the SDK read innerError's request-id: {v}"
    );
    assert_eq!(v["token_requests"], 1, "{v}");
    emu.handle.shutdown().await.expect("shutdown");
}
