//! Helpers shared by the emulator test suites: start an in-process emulator with a
//! known app registration, fetch a token and make Graph calls with it.
//! (Included by the `emulator_*` test files with `#[path]`; it has no tests of its own.)
#![allow(dead_code)]

use reqwest::header::HeaderMap;
use roster::emulator::{self, EmulatorConfig, EmulatorHandle};
use serde_json::{Value, json};

pub const CLIENT: &str = "11111111-2222-3333-4444-555555555555";
pub const SECRET: &str = "test-secret-value";

pub struct Emu {
    pub handle: EmulatorHandle,
    pub http: reqwest::Client,
    pub token: String,
    pub base: String,
}

/// A response: status, headers, JSON body (Null when empty or not JSON).
pub struct Resp {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Value,
    pub text: String,
}

impl Resp {
    pub fn header(&self, name: &str) -> Option<String> {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    }
    pub fn code(&self) -> String {
        self.body["error"]["code"]
            .as_str()
            .unwrap_or("")
            .to_string()
    }
    pub fn message(&self) -> String {
        self.body["error"]["message"]
            .as_str()
            .unwrap_or("")
            .to_string()
    }
}

pub fn config() -> EmulatorConfig {
    EmulatorConfig {
        clients: vec![(CLIENT.into(), SECRET.into())],
        skus: vec![("ENTERPRISEPACK".into(), 3)],
        domains: vec!["contoso.com".into(), "fabrikam.com".into()],
        ..EmulatorConfig::default()
    }
}

pub async fn start_with(cfg: EmulatorConfig) -> Emu {
    let handle = emulator::start(cfg, "127.0.0.1:0".parse().expect("addr"))
        .await
        .expect("emulator starts");
    let base = handle.base_url();
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .build()
        .expect("client");
    let token = get_token(&http, &base, "contoso").await;
    Emu {
        handle,
        http,
        token,
        base,
    }
}

pub async fn start() -> Emu {
    start_with(config()).await
}

pub async fn get_token(http: &reqwest::Client, base: &str, tenant: &str) -> String {
    let r = http
        .post(format!("{base}/{tenant}/oauth2/v2.0/token"))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", CLIENT),
            ("client_secret", SECRET),
            ("scope", "https://graph.microsoft.com/.default"),
        ])
        .send()
        .await
        .expect("token request");
    assert_eq!(r.status().as_u16(), 200);
    let v: Value = r.json().await.expect("json");
    v["access_token"]
        .as_str()
        .expect("access_token")
        .to_string()
}

pub async fn to_resp(r: reqwest::Response) -> Resp {
    let status = r.status().as_u16();
    let headers = r.headers().clone();
    let text = r.text().await.unwrap_or_default();
    let body = serde_json::from_str(&text).unwrap_or(Value::Null);
    Resp {
        status,
        headers,
        body,
        text,
    }
}

impl Emu {
    pub fn url(&self, path: &str) -> String {
        if path.starts_with("http") {
            path.to_string()
        } else {
            format!("{}/v1.0{}", self.base, path)
        }
    }

    pub async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
        headers: &[(&str, &str)],
    ) -> Resp {
        let mut rb = self
            .http
            .request(method, self.url(path))
            .bearer_auth(&self.token);
        for (k, v) in headers {
            rb = rb.header(*k, *v);
        }
        if let Some(b) = body {
            rb = rb.json(&b);
        }
        to_resp(rb.send().await.expect("request")).await
    }

    pub async fn get(&self, path: &str) -> Resp {
        self.send(reqwest::Method::GET, path, None, &[]).await
    }
    pub async fn get_h(&self, path: &str, headers: &[(&str, &str)]) -> Resp {
        self.send(reqwest::Method::GET, path, None, headers).await
    }
    pub async fn post(&self, path: &str, body: Value) -> Resp {
        self.send(reqwest::Method::POST, path, Some(body), &[])
            .await
    }
    pub async fn patch(&self, path: &str, body: Value) -> Resp {
        self.send(reqwest::Method::PATCH, path, Some(body), &[])
            .await
    }
    pub async fn delete(&self, path: &str) -> Resp {
        self.send(reqwest::Method::DELETE, path, None, &[]).await
    }

    /// Stop the emulator's clock (`POST /_emulator/clock {"freeze": true}`).
    pub async fn freeze(&self) {
        let r = to_resp(
            self.http
                .post(format!("{}/_emulator/clock", self.base))
                .json(&serde_json::json!({ "freeze": true }))
                .send()
                .await
                .expect("clock request"),
        )
        .await;
        assert_eq!(r.status, 200, "{}", r.text);
        assert_eq!(r.body["frozen"], true, "{}", r.text);
    }

    /// Move the emulator's clock forward through `POST /_emulator/clock` (the emulator
    /// must have been started with `test_clock`).
    pub async fn advance(&self, ms: u64) {
        let r = to_resp(
            self.http
                .post(format!("{}/_emulator/clock", self.base))
                .json(&serde_json::json!({ "advance_ms": ms }))
                .send()
                .await
                .expect("clock request"),
        )
        .await;
        assert_eq!(r.status, 200, "{}", r.text);
        assert!(
            r.body["offset_ms"].as_i64().unwrap_or(0) >= ms as i64,
            "{}",
            r.text
        );
    }

    /// Create a user `name@contoso.com`; returns its id.
    pub async fn user(&self, name: &str) -> String {
        let r = self.post("/users", new_user(name)).await;
        assert_eq!(r.status, 201, "{}", r.text);
        r.body["id"].as_str().expect("id").to_string()
    }

    /// Create a security group; returns its id.
    pub async fn group(&self, name: &str) -> String {
        let r = self
            .post("/groups", json!({"displayName": name, "mailEnabled": false, "mailNickname": name, "securityEnabled": true}))
            .await;
        assert_eq!(r.status, 201, "{}", r.text);
        r.body["id"].as_str().expect("id").to_string()
    }

    /// Follow nextLinks from `path`, collecting every item.
    pub async fn all(&self, path: &str, headers: &[(&str, &str)]) -> (Vec<Value>, usize) {
        let mut items = Vec::new();
        let mut url = self.url(path);
        let mut pages = 0;
        loop {
            let r = self.get_h(&url, headers).await;
            assert_eq!(r.status, 200, "{}", r.text);
            pages += 1;
            items.extend(r.body["value"].as_array().cloned().unwrap_or_default());
            match r.body["@odata.nextLink"].as_str() {
                Some(n) => url = n.to_string(),
                None => break,
            }
        }
        (items, pages)
    }
}

pub fn new_user(name: &str) -> Value {
    json!({
        "accountEnabled": true,
        "displayName": format!("User {name}"),
        "mailNickname": name,
        "userPrincipalName": format!("{name}@contoso.com"),
        "passwordProfile": { "forceChangePasswordNextSignIn": true, "password": "Str0ng!Passw0rd" }
    })
}

/// Assert Graph's error body shape and return the code.
pub fn assert_graph_error(r: &Resp, status: u16, code: &str) {
    assert_eq!(r.status, status, "{}", r.text);
    let e = &r.body["error"];
    assert_eq!(e["code"], code, "{}", r.text);
    assert!(e["message"].is_string(), "{}", r.text);
    let inner = &e["innerError"];
    assert!(inner["date"].is_string(), "{}", r.text);
    let rid = inner["request-id"].as_str().expect("request-id");
    assert_eq!(
        Some(rid.to_string()),
        r.header("request-id"),
        "body and header request-id agree"
    );
    assert_eq!(
        inner["client-request-id"].as_str().map(str::to_string),
        r.header("client-request-id")
    );
}

/// The default application permissions plus RoleManagement.ReadWrite.Directory, as
/// `EmulatorConfig::grants` for every app.
pub fn grants_with_role_management() -> Vec<(String, String)> {
    [
        "User.ReadWrite.All",
        "Group.ReadWrite.All",
        "Directory.ReadWrite.All",
        "RoleManagement.ReadWrite.Directory",
    ]
    .iter()
    .map(|p| ("*".to_string(), p.to_string()))
    .collect()
}

impl Emu {
    /// `POST /_emulator/{kind}` (the test door: users, groups, domains).
    pub async fn door(&self, kind: &str, body: Value) -> Resp {
        to_resp(
            self.http
                .post(format!("{}/_emulator/{kind}", self.base))
                .json(&body)
                .send()
                .await
                .expect("door request"),
        )
        .await
    }

    /// Create through the door and return the new object's id (asserting 201).
    pub async fn door_id(&self, kind: &str, body: Value) -> String {
        let r = self.door(kind, body).await;
        assert_eq!(r.status, 201, "{}", r.text);
        r.body["id"].as_str().expect("id").to_string()
    }

    /// Add `member` to group `group` through `POST members/$ref`.
    pub async fn add_member(&self, group: &str, member: &str) -> Resp {
        self.post(
            &format!("/groups/{group}/members/$ref"),
            json!({"@odata.id": format!("https://graph.microsoft.com/v1.0/directoryObjects/{member}")}),
        )
        .await
    }

    /// The first subscribed SKU's id.
    pub async fn sku(&self) -> String {
        self.get("/subscribedSkus").await.body["value"][0]["skuId"]
            .as_str()
            .expect("skuId")
            .to_string()
    }

    /// `consumedUnits` of the first subscribed SKU.
    pub async fn consumed(&self) -> i64 {
        self.get("/subscribedSkus").await.body["value"][0]["consumedUnits"]
            .as_i64()
            .expect("consumedUnits")
    }
}

/// `tests/js`, where Microsoft's JavaScript Graph client is installed.
pub fn js_dir() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/js")
}

/// Installs `tests/js`'s npm packages when missing (the test script installs them on a
/// fresh machine; this covers a plain `cargo test`).
pub fn ensure_npm_install() {
    let dir = js_dir();
    if dir
        .join("node_modules/@microsoft/microsoft-graph-client")
        .exists()
    {
        return;
    }
    let out = std::process::Command::new("npm")
        .args(["install", "--no-audit", "--no-fund"])
        .current_dir(&dir)
        .output()
        .expect("npm is installed");
    assert!(
        out.status.success(),
        "npm install failed in {}:\n{}",
        dir.display(),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// An emulator serving HTTPS on `localhost` with a throw-away CA
/// (`support::tls::TestCerts`): `base` is `https://localhost:{port}`, the client trusts
/// the CA and holds a token. Keep the certificates alive while the emulator runs.
pub async fn start_https(cfg: EmulatorConfig) -> (Emu, crate::support::tls::TestCerts) {
    let certs = crate::support::tls::TestCerts::for_names(&["DNS:localhost", "IP:127.0.0.1"]);
    let cfg = EmulatorConfig {
        tls: Some((certs.cert.clone(), certs.key.clone())),
        ..cfg
    };
    let handle = emulator::start(cfg, "127.0.0.1:0".parse().expect("addr"))
        .await
        .expect("emulator starts");
    assert!(handle.base_url().starts_with("https://"));
    let base = format!("https://localhost:{}", handle.local_addr().port());
    let pem = std::fs::read(&certs.ca).expect("ca");
    let http = reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(&pem).expect("pem"))
        .build()
        .expect("client");
    let token = get_token(&http, &base, "contoso").await;
    let emu = Emu {
        handle,
        http,
        token,
        base,
    };
    (emu, certs)
}

/// Runs `node tests/js/{script}` against the emulator at `base` (trusting `ca`), with the
/// app's credentials in `EMULATOR_*` (the scripts' shared token setup) and `env`;
/// asserts success and returns the script's JSON summary line.
pub async fn run_node(
    script: &'static str,
    base: &str,
    ca: &std::path::Path,
    env: &[(&'static str, &'static str)],
) -> Value {
    ensure_npm_install();
    let (base, ca, env) = (base.to_string(), ca.to_path_buf(), env.to_vec());
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new("node")
            .arg(script)
            .current_dir(js_dir())
            .env("NODE_EXTRA_CA_CERTS", &ca)
            .env("EMULATOR_BASE", base)
            .env("EMULATOR_TENANT", "contoso")
            .env("EMULATOR_CLIENT_ID", CLIENT)
            .env("EMULATOR_CLIENT_SECRET", SECRET)
            .envs(env)
            .output()
            .expect("node is installed")
    })
    .await
    .expect("join");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "node {script} failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let line = stdout.lines().last().expect("summary line");
    serde_json::from_str(line).expect("JSON summary")
}

/// Create a user with a usage location (so that it can hold licences); returns its id.
pub async fn licensed_user(emu: &Emu, name: &str) -> String {
    let mut b = new_user(name);
    b["usageLocation"] = json!("US");
    let r = emu.post("/users", b).await;
    assert_eq!(r.status, 201, "{}", r.text);
    r.body["id"].as_str().expect("id").to_string()
}

impl Emu {
    /// `POST {path}/assignLicense` adding `sku` with `disabled` plans (path: `/users/{id}`
    /// or `/groups/{id}`).
    pub async fn assign_license(&self, path: &str, sku: &str, disabled: &[&str]) -> Resp {
        self.post(
            &format!("{path}/assignLicense"),
            json!({"addLicenses": [{"skuId": sku, "disabledPlans": disabled}], "removeLicenses": []}),
        )
        .await
    }
}
