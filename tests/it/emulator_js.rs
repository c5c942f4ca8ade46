//! Microsoft's own JavaScript Graph client (`@microsoft/microsoft-graph-client`) drives the
//! emulator over HTTPS: its page iterator walks 2,500 users, it sends a JSON batch, it
//! upserts a group by `uniqueName`, and it surfaces a Graph error with the right code. The
//! test installs the npm package into `tests/js` when missing, makes a throw-away TLS
//! certificate (`support::tls::TestCerts`), starts
//! the emulator on a free port and runs `node tests/js/graph-client.mjs` against it.

use crate::emulator_support as support;

use serde_json::{Value, json};
use support::*;

#[tokio::test]
async fn microsoft_graph_js_client_pages_batches_and_sees_errors() {
    let (emu, certs) = start_https(config()).await;
    let port = emu.handle.local_addr().port();
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

    let v = run_node("graph-client.mjs", &emu.base, &certs.ca, &[]).await;
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
