//! Test helpers for the scim target: start scim2-server (a third-party SCIM 2.0
//! service provider from PyPI) on a free loopback port through
//! `scripts/scim-server.sh`, which installs it on first use, and talk SCIM to it
//! directly, standing in for an admin who changes the app by hand.

#![allow(dead_code)]

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

/// The bearer token the test servers accept.
pub const TOKEN: &str = "scim-test-token-0d1e";
pub const TOKEN_ENV: (&str, &str) = ("ROSTER_TEST_SCIM_TOKEN", TOKEN);
pub const USER_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
pub const GROUP_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/scim-server.sh")
}

/// Installs scim2-server once per test binary (the script itself is idempotent and
/// serialises concurrent installs).
fn install() {
    static DONE: OnceLock<()> = OnceLock::new();
    DONE.get_or_init(|| {
        let out = Command::new("bash")
            .arg(script())
            .arg("install")
            .stdin(Stdio::null())
            .output()
            .expect("run scripts/scim-server.sh install");
        assert!(
            out.status.success(),
            "scripts/scim-server.sh install failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
    });
}

/// A running scim2-server, killed on drop.
pub struct ScimServer {
    child: Child,
    /// The SCIM base URL (`http://127.0.0.1:PORT/v2`).
    pub url: String,
    /// The server's request log (one line per request).
    pub log: PathBuf,
    _dir: tempfile::TempDir,
}

impl ScimServer {
    /// Starts a server with the default configuration (every feature announced).
    pub fn start() -> ScimServer {
        Self::start_with(None)
    }

    /// Starts a server announcing this ServiceProviderConfig.
    pub fn start_with(service_provider_config: Option<Value>) -> ScimServer {
        Self::start_configured(service_provider_config, None)
    }

    /// Starts a server announcing this ServiceProviderConfig and serving these
    /// resource types (a JSON list; `None`: User with the enterprise extension, Group).
    pub fn start_configured(
        service_provider_config: Option<Value>,
        resource_types: Option<Value>,
    ) -> ScimServer {
        install();
        let dir = tempfile::tempdir().unwrap();
        let mut extra: Vec<String> = Vec::new();
        if let Some(spc) = service_provider_config {
            let p = dir.path().join("spc.json");
            std::fs::write(&p, spc.to_string()).unwrap();
            extra.push("--service-provider-config".into());
            extra.push(p.display().to_string());
        }
        if let Some(rt) = resource_types {
            let p = dir.path().join("resource-types.json");
            std::fs::write(&p, rt.to_string()).unwrap();
            extra.push("--resource-type".into());
            extra.push(p.display().to_string());
        }
        let mut last = String::new();
        for _ in 0..5 {
            let port = TcpListener::bind("127.0.0.1:0")
                .and_then(|l| l.local_addr())
                .map(|a| a.port())
                .expect("a free port");
            let log = dir.path().join(format!("server-{port}.log"));
            let child = Command::new("bash")
                .arg(script())
                .args(["run", &port.to_string(), TOKEN])
                .args(&extra)
                .stdin(Stdio::null())
                .stdout(std::fs::File::create(&log).unwrap())
                .stderr(std::fs::File::create(dir.path().join(format!("err-{port}.log"))).unwrap())
                .spawn()
                .expect("start scim2-server");
            let url = format!("http://127.0.0.1:{port}/v2");
            let mut server = ScimServer {
                child,
                url,
                log: dir.path().join(format!("err-{port}.log")),
                _dir: tempfile::tempdir().unwrap(),
            };
            let deadline = Instant::now() + Duration::from_secs(60);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = server.child.try_wait() {
                    break;
                }
                if server
                    .try_call("GET", "/ServiceProviderConfig", None)
                    .map(|(s, _)| s)
                    == Some(200)
                {
                    // The server logs a request after answering it: wait for the
                    // readiness probe's line, so that tests counting requests from
                    // here on do not see it arrive late.
                    let logged = Instant::now() + Duration::from_secs(10);
                    while server.requests().is_empty() && Instant::now() < logged {
                        std::thread::sleep(Duration::from_millis(20));
                    }
                    server._dir = dir;
                    return server;
                }
                std::thread::sleep(Duration::from_millis(100));
            }
            last = std::fs::read_to_string(&server.log).unwrap_or_default();
            // Dropping kills it; try another port (the one picked may have been taken).
        }
        panic!("scim2-server did not start:\n{last}");
    }

    /// The requests the server logged so far (its access log lines).
    pub fn requests(&self) -> Vec<String> {
        std::fs::read_to_string(&self.log)
            .unwrap_or_default()
            .lines()
            .filter(|l| l.contains("\" ") && l.contains("HTTP/1."))
            .map(str::to_string)
            .collect()
    }

    /// Runs on a thread of its own, so that tests may call it from inside async code.
    fn try_call(&self, method: &str, path: &str, body: Option<&Value>) -> Option<(u16, Value)> {
        std::thread::scope(|s| {
            s.spawn(|| self.try_call_blocking(method, path, body))
                .join()
        })
        .ok()
        .flatten()
    }

    fn try_call_blocking(
        &self,
        method: &str,
        path: &str,
        body: Option<&Value>,
    ) -> Option<(u16, Value)> {
        block(async {
            let client = reqwest::Client::new();
            let mut req = client
                .request(method.parse().unwrap(), format!("{}{path}", self.url))
                .bearer_auth(TOKEN);
            if let Some(b) = body {
                req = req
                    .header("Content-Type", "application/scim+json")
                    .body(b.to_string());
            }
            let resp = req.send().await.ok()?;
            let status = resp.status().as_u16();
            let text = resp.text().await.ok()?;
            Some((status, serde_json::from_str(&text).unwrap_or(Value::Null)))
        })
    }

    /// One SCIM request, as an admin would send it.
    pub fn call(&self, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        self.try_call(method, path, body.as_ref())
            .unwrap_or_else(|| panic!("{method} {path}: no answer from scim2-server"))
    }

    /// Every resource of an endpoint (paged).
    pub fn list(&self, endpoint: &str) -> Vec<Value> {
        let mut out = Vec::new();
        let mut start = 1;
        loop {
            let (s, v) = self.call(
                "GET",
                &format!("{endpoint}?startIndex={start}&count=100"),
                None,
            );
            assert_eq!(s, 200, "GET {endpoint}: {v}");
            let items = v["Resources"].as_array().cloned().unwrap_or_default();
            let n = items.len();
            out.extend(items);
            start += n;
            if n == 0 || start as u64 > v["totalResults"].as_u64().unwrap_or(0) {
                return out;
            }
        }
    }

    /// One User by id, as the provider stores it (every attribute).
    pub fn user_by_id(&self, id: &str) -> Value {
        let (s, v) = self.call("GET", &format!("/Users/{id}"), None);
        assert_eq!(s, 200, "GET /Users/{id}: {v}");
        v
    }

    pub fn user(&self, user_name: &str) -> Option<Value> {
        self.list("/Users")
            .into_iter()
            .find(|u| u["userName"] == user_name)
    }

    pub fn group(&self, name: &str) -> Option<Value> {
        self.list("/Groups")
            .into_iter()
            .find(|g| g["displayName"] == name)
    }

    /// The userNames of a group's members.
    pub fn member_names(&self, group: &str) -> Vec<String> {
        let users = self.list("/Users");
        let g = self
            .group(group)
            .unwrap_or_else(|| panic!("group {group} exists"));
        let mut names: Vec<String> = g["members"]
            .as_array()
            .cloned()
            .unwrap_or_default()
            .iter()
            .filter_map(|m| {
                users
                    .iter()
                    .find(|u| u["id"] == m["value"])
                    .and_then(|u| u["userName"].as_str().map(String::from))
            })
            .collect();
        names.sort();
        names
    }

    pub fn create_user(&self, user_name: &str, given: &str, family: &str, email: &str) -> String {
        let (s, v) = self.call(
            "POST",
            "/Users",
            Some(json!({
                "schemas": [USER_SCHEMA], "userName": user_name,
                "name": {"givenName": given, "familyName": family},
                "displayName": format!("{given} {family}"),
                "emails": [{"value": email, "primary": true, "type": "work"}],
                "active": true
            })),
        );
        assert_eq!(s, 201, "create user {user_name}: {v}");
        v["id"].as_str().unwrap().to_string()
    }

    pub fn create_group(&self, name: &str, member_ids: &[&str]) -> String {
        let members: Vec<Value> = member_ids.iter().map(|id| json!({"value": id})).collect();
        let (s, v) = self.call(
            "POST",
            "/Groups",
            Some(json!({"schemas": [GROUP_SCHEMA], "displayName": name, "members": members})),
        );
        assert_eq!(s, 201, "create group {name}: {v}");
        v["id"].as_str().unwrap().to_string()
    }

    /// A PATCH replace of one attribute, by hand.
    pub fn patch_user(&self, id: &str, path: &str, value: Value) {
        let (s, v) = self.call(
            "PATCH",
            &format!("/Users/{id}"),
            Some(json!({
                "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                "Operations": [{"op": "replace", "path": path, "value": value}]
            })),
        );
        assert!(s == 200 || s == 204, "PATCH user {id}: {s} {v}");
    }
}

impl Drop for ScimServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The schema URN of the enterprise User extension (RFC 7643 §4.3).
pub const ENTERPRISE: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";

/// Resource types whose User has no schema extension (scim2-server then refuses
/// enterprise attributes).
pub fn resource_types_without_extensions() -> Value {
    let rt = |id: &str, endpoint: &str, schema: &str| {
        json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:ResourceType"],
            "id": id, "name": id, "endpoint": endpoint, "schema": schema
        })
    };
    json!([
        rt("User", "/Users", USER_SCHEMA),
        rt("Group", "/Groups", GROUP_SCHEMA)
    ])
}

/// A ServiceProviderConfig announcing neither PATCH, filtering, bulk nor sorting,
/// with ETags and a small `maxResults` (scim2-server enforces what it announces).
pub fn minimal_config(max_results: u32) -> Value {
    json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig"],
        "patch": {"supported": false},
        "bulk": {"supported": false, "maxOperations": 0, "maxPayloadSize": 0},
        "filter": {"supported": false, "maxResults": max_results},
        "changePassword": {"supported": false},
        "sort": {"supported": false},
        "etag": {"supported": true},
        "authenticationSchemes": [
            {"type": "oauthbearertoken", "name": "OAuth Bearer Token", "description": "bearer"}
        ]
    })
}

pub fn block<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(f)
}

/// A scim app pointed at a server, with extra YAML lines for the app.
pub fn scim_app(url: &str, extra: &str) -> String {
    format!(
        "apps:\n  - name: hr\n    type: scim\n    url: {url}\n    token: {{ env: {} }}\n{extra}",
        TOKEN_ENV.0
    )
}
