//! Shared helpers for end-to-end tests: run the `roster` binary, start the standalone
//! Graph emulator on a free loopback port, and talk Graph directly for out-of-band changes.

#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use serde_json::{Value, json};

pub mod google;
pub mod tls;

/// The outcome of one `roster` run.
#[derive(Debug)]
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    pub fn all(&self) -> String {
        format!("{}\n{}", self.stdout, self.stderr)
    }
}

/// Runs `roster -C dir args...` with extra environment variables.
pub fn roster(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Run {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_roster"));
    cmd.arg("-C").arg(dir).args(args).stdin(Stdio::null());
    cmd.env_remove("RUST_LOG").env("NO_COLOR", "1");
    // All tests share one process: variables other tests set for in-process connectors
    // must not leak into the binary under test, which gets exactly the `env` given.
    for (k, _) in std::env::vars_os() {
        let k = k.to_string_lossy();
        if k.starts_with("ROSTER_") || k.starts_with("ACTIONS_ID_TOKEN_") {
            cmd.env_remove(&*k);
        }
    }
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().expect("run roster");
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

pub const TENANT: &str = "contoso";
pub const CLIENT_ID: &str = "11111111-2222-3333-4444-555555555555";
pub const CLIENT_SECRET: &str = "s3cr3t-value-for-tests";

/// A standalone `roster-graph-emulator` process, killed on drop.
pub struct Emulator {
    child: Child,
    pub url: String,
}

impl Emulator {
    /// Starts the emulator with the test tenant, client and the given extra flags.
    pub fn start(extra: &[&str]) -> Emulator {
        let mut child = Command::new(env!("CARGO_BIN_EXE_roster-graph-emulator"))
            .args([
                "--listen",
                "127.0.0.1:0",
                "--tenant",
                TENANT,
                "--domain",
                "contoso.com",
            ])
            .args(["--client", &format!("{CLIENT_ID}:{CLIENT_SECRET}")])
            .args(extra)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start roster-graph-emulator");
        let stdout = child.stdout.take().expect("stdout");
        let mut line = String::new();
        BufReader::new(stdout)
            .read_line(&mut line)
            .expect("read the emulator's first line");
        let url = line
            .trim()
            .strip_prefix("listening on ")
            .unwrap_or_else(|| panic!("unexpected first line from the emulator: {line:?}"))
            .to_string();
        Emulator { child, url }
    }

    /// A Graph client authenticated as the test app.
    pub fn graph(&self) -> Graph {
        Graph::new(&self.url)
    }

    pub fn stats(&self) -> Value {
        block(async {
            reqwest::get(format!("{}/_emulator/stats", self.url))
                .await
                .unwrap()
                .json::<Value>()
                .await
                .unwrap()
        })
    }
}

impl Emulator {
    /// Stops the emulator with SIGTERM (it saves its state file) and waits for it.
    pub fn terminate(mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let _ = self.child.wait();
    }
}

impl Drop for Emulator {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn block<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(f)
}

/// Direct Graph calls, standing in for an admin working in the portal.
pub struct Graph {
    base: String,
    token: String,
    http: reqwest::Client,
}

impl Graph {
    pub fn new(url: &str) -> Graph {
        let http = reqwest::Client::new();
        let token = block(async {
            for attempt in 0..20u64 {
                let sent = http
                    .post(format!("{url}/{TENANT}/oauth2/v2.0/token"))
                    .form(&[
                        ("grant_type", "client_credentials"),
                        ("client_id", CLIENT_ID),
                        ("client_secret", CLIENT_SECRET),
                        ("scope", "https://graph.microsoft.com/.default"),
                    ])
                    .send()
                    .await;
                if let Ok(resp) = sent
                    && resp.status().is_success()
                    && let Ok(v) = resp.json::<Value>().await
                    && let Some(t) = v["access_token"].as_str()
                {
                    return t.to_string();
                }
                tokio::time::sleep(std::time::Duration::from_millis(50 * (attempt + 1))).await;
            }
            panic!("no token from the emulator");
        });
        Graph {
            base: format!("{url}/v1.0"),
            token,
            http,
        }
    }

    /// One request, retried on 5xx, 429 and dropped connections (the emulator's
    /// fault injection applies to tests' own calls too).
    pub fn call(&self, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        self.call_url(method, &format!("{}{}", self.base, path), body)
    }

    fn call_url(&self, method: &str, url: &str, body: Option<Value>) -> (u16, Value) {
        block(async {
            let mut last = String::new();
            for attempt in 0..20u64 {
                let mut req = self
                    .http
                    .request(method.parse().unwrap(), url)
                    .bearer_auth(&self.token);
                if let Some(b) = &body {
                    req = req.json(b);
                }
                match req.send().await {
                    Ok(resp) => {
                        let status = resp.status().as_u16();
                        let text = resp.text().await.unwrap_or_default();
                        if status == 429 || status >= 500 {
                            last = format!("{status} {text}");
                        } else {
                            return (status, serde_json::from_str(&text).unwrap_or(Value::Null));
                        }
                    }
                    Err(e) => last = e.to_string(),
                }
                tokio::time::sleep(std::time::Duration::from_millis(50 * (attempt + 1))).await;
            }
            panic!("{method} {url} kept failing: {last}");
        })
    }

    /// Every item of a collection, following nextLinks.
    pub fn list(&self, path: &str) -> Vec<Value> {
        let mut out = Vec::new();
        let mut next = Some(format!("{}{}", self.base, path));
        while let Some(url) = next {
            let (status, page) = self.call_url("GET", &url, None);
            assert_eq!(status, 200, "GET {url}: {page}");
            out.extend(page["value"].as_array().cloned().unwrap_or_default());
            next = page["@odata.nextLink"].as_str().map(String::from);
        }
        out
    }

    pub fn create_user(&self, upn: &str, department: Option<&str>) -> String {
        let nick = upn.split('@').next().unwrap();
        let mut body = json!({
            "accountEnabled": true,
            "displayName": nick,
            "mailNickname": nick,
            "userPrincipalName": upn,
            "passwordProfile": {"password": "xWwvJ]6NMw+bWH-d", "forceChangePasswordNextSignIn": true}
        });
        if let Some(d) = department {
            body["department"] = json!(d);
        }
        let (status, v) = self.call("POST", "/users", Some(body));
        assert_eq!(status, 201, "create user {upn}: {v}");
        v["id"].as_str().unwrap().to_string()
    }

    pub fn user(&self, upn: &str) -> Option<Value> {
        let (status, v) = self.call(
            "GET",
            &format!("/users/{upn}?$select=id,userPrincipalName,accountEnabled,department,displayName,assignedLicenses"),
            None,
        );
        (status == 200).then_some(v)
    }

    pub fn group_id(&self, name: &str) -> Option<String> {
        let groups = self.list(&format!(
            "/groups?$filter=displayName eq '{name}'&$select=id,displayName"
        ));
        groups
            .first()
            .and_then(|g| g["id"].as_str().map(String::from))
    }

    pub fn member_upns(&self, group_id: &str) -> Vec<String> {
        let mut v: Vec<String> = self
            .list(&format!(
                "/groups/{group_id}/members?$select=id,userPrincipalName"
            ))
            .iter()
            .filter_map(|m| m["userPrincipalName"].as_str().map(|s| s.to_lowercase()))
            .collect();
        v.sort();
        v
    }
}

/// A temporary identity repository with the given files.
/// Runs git in `dir` (as a fixed test identity) and asserts that it succeeded.
pub fn git(dir: &Path, args: &[&str]) {
    let out = Command::new("git")
        .current_dir(dir)
        .args(["-c", "user.name=Test", "-c", "user.email=test@example.com"])
        .args(args)
        .output()
        .expect("run git");
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

pub fn repo(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for (name, text) in files {
        let path: PathBuf = dir.path().join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }
    dir
}

/// An office365 app pointed at the emulator, with extra YAML lines for the app.
pub fn o365_app(url: &str, extra: &str) -> String {
    format!(
        "apps:\n  - name: o365\n    type: office365\n    tenant: {TENANT}\n    client_id: {CLIENT_ID}\n    \
         credentials:\n      client_secret: {{ env: ROSTER_TEST_SECRET }}\n    graph_url: {url}\n    login_url: {url}\n{extra}"
    )
}

pub const SECRET_ENV: (&str, &str) = ("ROSTER_TEST_SECRET", CLIENT_SECRET);
