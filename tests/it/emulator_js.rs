//! Microsoft's own JavaScript Graph client (`@microsoft/microsoft-graph-client`) drives the
//! emulator over HTTPS: its page iterator walks 2,500 users, it sends a JSON batch, it
//! upserts a group by `uniqueName`, and it surfaces a Graph error with the right code. The
//! test installs the npm package into `tests/js` when missing, makes a throw-away TLS
//! certificate (`support::tls::TestCerts`), starts
//! the emulator on a free port and runs `node tests/js/graph-client.mjs` against it.

use crate::emulator_support as support;

use std::process::Command;

use roster::emulator::{self, EmulatorConfig};
use serde_json::{Value, json};
use support::*;

#[tokio::test]
async fn microsoft_graph_js_client_pages_batches_and_sees_errors() {
    ensure_npm_install();
    let certs = crate::support::tls::TestCerts::for_names(&["DNS:localhost", "IP:127.0.0.1"]);
    let ca = certs.ca.clone();
    let cfg = EmulatorConfig {
        tls: Some((certs.cert.clone(), certs.key.clone())),
        ..config()
    };
    let handle = emulator::start(cfg, "127.0.0.1:0".parse().expect("addr"))
        .await
        .expect("emulator starts");
    let port = handle.local_addr().port();
    assert!(handle.base_url().starts_with("https://"));
    let base = format!("https://localhost:{port}");
    let pem = std::fs::read(&ca).expect("ca");
    let http = reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(&pem).expect("pem"))
        .build()
        .expect("client");
    let token = get_token(&http, &base, "contoso").await;
    let emu = Emu {
        handle,
        http,
        token,
        base: base.clone(),
    };
    // Seed 2,500 users through $batch (20 per request).
    for chunk in 0..125 {
        let reqs: Vec<Value> = (0..20)
            .map(|i| {
                let n = chunk * 20 + i;
                json!({"id": i.to_string(), "method": "POST", "url": "/users",
                       "headers": {"Content-Type": "application/json"}, "body": new_user(&format!("js{n:04}"))})
            })
            .collect();
        let r = emu.post("/$batch", json!({ "requests": reqs })).await;
        assert_eq!(r.status, 200);
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
    let next = emu.get("/users?$top=999").await.body["@odata.nextLink"]
        .as_str()
        .map(str::to_string)
        .expect("nextLink");
    assert!(
        next.starts_with(&format!("https://localhost:{port}/v1.0/")),
        "{next}"
    );

    let emu_for_node = emu.base.clone();
    let out = tokio::task::spawn_blocking(move || {
        Command::new("node")
            .arg("graph-client.mjs")
            .current_dir(js_dir())
            .env("NODE_EXTRA_CA_CERTS", &ca)
            .env("EMULATOR_BASE", emu_for_node)
            .env("EMULATOR_TENANT", "contoso")
            .env("EMULATOR_CLIENT_ID", CLIENT)
            .env("EMULATOR_CLIENT_SECRET", SECRET)
            .output()
            .expect("node is installed")
    })
    .await
    .expect("join");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "node failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let line = stdout.lines().last().expect("summary line");
    let v: Value = serde_json::from_str(line).expect("JSON summary");
    assert_eq!(v["users_seen"], 2500, "{v}");
    assert_eq!(v["unique_ids"], 2500, "{v}");
    assert_eq!(v["pages"], 3, "999 + 999 + 502: {v}");
    assert_eq!(v["batch_statuses"]["1"], 200, "{v}");
    assert_eq!(v["batch_statuses"]["2"], 201, "{v}");
    assert_eq!(v["batch_statuses"]["3"], 200, "{v}");
    assert_eq!(
        v["batch_found"], 1,
        "the dependent request saw the created group: {v}"
    );
    assert_eq!(v["upsert_statuses"], json!([201, 204]), "{v}");
    assert_eq!(v["upsert_same_group"], true, "{v}");
    assert_eq!(v["upsert_description"], "second", "{v}");
    assert_eq!(v["error"]["statusCode"], 404, "{v}");
    assert_eq!(v["error"]["code"], "Request_ResourceNotFound", "{v}");
    assert!(
        v["error"]["requestId"].is_string(),
        "the SDK read the request id from the error body: {v}"
    );
    emu.handle.shutdown().await.expect("shutdown");
}
