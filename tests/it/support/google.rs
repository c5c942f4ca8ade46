//! The project's Google Workspace emulator (`roster::google_emulator`) in-process on a
//! loopback port for the google_workspace end-to-end tests: a service account for
//! roster (its JSON key handed to the app as a secret), a second one standing in for an
//! administrator working in the Admin console (out-of-band changes, checks), and the
//! administrator `ADMIN` the accounts act as, made a super admin through
//! `users.makeAdmin` as in a new account.

#![allow(dead_code)]

use roster::google_emulator::{
    self, Directory, GoogleEmulatorConfig, GoogleEmulatorHandle, RecordedCall, ServiceAccount,
    Stats,
};
use serde_json::{Value, json};

pub const ADMIN: &str = "admin@example.com";
/// roster's service account.
pub const SA_EMAIL: &str = "roster@roster-e2e.iam.gserviceaccount.com";
/// The "Admin console": the tests' own calls, kept apart from roster's.
pub const CONSOLE_EMAIL: &str = "console@roster-e2e.iam.gserviceaccount.com";
const SCOPES: &str = "https://www.googleapis.com/auth/admin.directory.user https://www.googleapis.com/auth/admin.directory.group https://www.googleapis.com/auth/admin.directory.group.member";

/// How to start the emulator.
#[derive(Clone)]
pub struct Options {
    pub fault_rate: f64,
    pub seed: u64,
    pub replication_lag_ms: u64,
    pub batch: bool,
    /// Whether roster's service account is allowed domain-wide delegation.
    pub delegated: bool,
    /// Make `ADMIN` (a super admin) before the test starts.
    pub admin: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            fault_rate: 0.0,
            seed: 0,
            replication_lag_ms: 0,
            batch: true,
            delegated: true,
            admin: true,
        }
    }
}

/// A service-account key in Google's JSON form, and its private key PEM.
pub fn key_json(email: &str) -> (String, String) {
    use aws_lc_rs::encoding::AsDer as _;
    use base64::Engine as _;
    let pair =
        aws_lc_rs::rsa::KeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048).expect("an RSA key");
    let der = pair.as_der().expect("PKCS#8");
    let b64 = base64::engine::general_purpose::STANDARD.encode(der.as_ref());
    let mut pem = String::from("-----BEGIN PRIVATE KEY-----\n");
    for line in b64.as_bytes().chunks(64) {
        pem.push_str(std::str::from_utf8(line).unwrap());
        pem.push('\n');
    }
    pem.push_str("-----END PRIVATE KEY-----\n");
    let json = json!({
        "type": "service_account", "project_id": "roster-e2e", "private_key_id": "k1",
        "private_key": pem, "client_email": email, "client_id": "100000000000000000042",
        "token_uri": "https://oauth2.googleapis.com/token",
    })
    .to_string();
    (json, pem)
}

/// A running emulator; stopped when dropped.
pub struct Workspace {
    rt: tokio::runtime::Runtime,
    handle: Option<GoogleEmulatorHandle>,
    pub url: String,
    /// roster's service-account key (the app's secret).
    pub key_json: String,
    console_token: String,
}

impl Workspace {
    pub fn start(opts: Options) -> Workspace {
        let (key_json, _) = key_json(SA_EMAIL);
        let (console_json, console_pem) = key_json_console();
        let mut sa = ServiceAccount::from_key_json(&key_json).unwrap();
        sa.delegated = opts.delegated;
        let console = ServiceAccount::from_key_json(&console_json).unwrap();
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let config = GoogleEmulatorConfig {
            // A primary domain and a secondary one the app does not manage.
            domains: vec!["example.com".into(), "subsidiary.example".into()],
            service_accounts: vec![sa, console],
            fault_rate: opts.fault_rate,
            seed: opts.seed,
            replication_lag_ms: opts.replication_lag_ms,
            batch: opts.batch,
            record_calls: true,
            // Short pages, so that roster's reader follows nextPageToken.
            max_page_size: Some(2),
            ..GoogleEmulatorConfig::default()
        };
        let handle = rt
            .block_on(google_emulator::start(
                config,
                "127.0.0.1:0".parse().unwrap(),
            ))
            .expect("start the Google emulator");
        let url = handle.base_url();
        let console_token = rt.block_on(console_token(&url, &console_pem));
        let ws = Workspace {
            rt,
            handle: Some(handle),
            url,
            key_json,
            console_token,
        };
        if opts.admin {
            ws.create_user(ADMIN, &[]);
            // Just created: wait out the replication lag.
            std::thread::sleep(std::time::Duration::from_millis(opts.replication_lag_ms));
            let (s, v) = ws.call(
                "POST",
                &format!("/users/{ADMIN}/makeAdmin"),
                Some(json!({"status": true})),
            );
            assert_eq!(s, 204, "{v}");
        }
        ws
    }

    fn handle(&self) -> &GoogleEmulatorHandle {
        self.handle.as_ref().unwrap()
    }

    pub fn stats(&self) -> Stats {
        self.handle().stats()
    }

    pub fn directory(&self) -> Directory {
        self.handle().directory()
    }

    /// The calls roster's service account made.
    pub fn roster_calls(&self) -> Vec<RecordedCall> {
        self.handle()
            .calls()
            .into_iter()
            .filter(|c| c.client_email == SA_EMAIL)
            .collect()
    }

    /// The app's YAML pointed at this emulator, with extra lines for the app.
    pub fn app_yaml(&self, extra: &str) -> String {
        format!(
            "apps:\n  - name: gws\n    type: google_workspace\n    domain: example.com\n    subject: {ADMIN}\n    \
             credentials:\n      service_account_key: {{ env: ROSTER_TEST_GOOGLE_KEY }}\n    \
             api_url: {url}\n    token_url: {url}/token\n{extra}",
            url = self.url
        )
    }

    pub fn env(&self) -> Vec<(&'static str, String)> {
        vec![("ROSTER_TEST_GOOGLE_KEY", self.key_json.clone())]
    }

    /// A direct Directory API call as an admin in the console would make it; quota
    /// errors the emulator injects are retried.
    pub fn call(&self, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        let url = format!("{}/admin/directory/v1{path}", self.url);
        let token = self.console_token.clone();
        let method = method.to_string();
        self.rt.block_on(async move {
            let c = reqwest::Client::new();
            for attempt in 0..40u64 {
                let mut r = c.request(method.parse().unwrap(), &url).bearer_auth(&token);
                if let Some(b) = &body {
                    r = r.json(b);
                }
                let resp = r.send().await.unwrap();
                let status = resp.status().as_u16();
                let text = resp.text().await.unwrap();
                let v: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
                let reason = v["error"]["errors"][0]["reason"].as_str().unwrap_or("");
                let quota = status == 429
                    || (status == 403 && reason.contains("RateLimit"))
                    || (status == 403 && reason == "rateLimitExceeded");
                if !quota {
                    return (status, v);
                }
                tokio::time::sleep(std::time::Duration::from_millis(10 * (attempt + 1))).await;
            }
            panic!("{method} {url}: quota errors without end");
        })
    }

    /// A user made by hand (`extra`: more members of the User resource).
    pub fn create_user(&self, email: &str, extra: &[(&str, Value)]) -> Value {
        let local = email.split('@').next().unwrap();
        let mut body = json!({"primaryEmail": email,
            "name": {"givenName": local, "familyName": "Hand"}, "password": "p".repeat(10)});
        for (k, v) in extra {
            body[*k] = v.clone();
        }
        let (s, v) = self.call("POST", "/users", Some(body));
        assert_eq!(s, 200, "{v}");
        v
    }

    /// Every item of a paged list.
    pub fn list(&self, path: &str, key: &str) -> Vec<Value> {
        let mut out = Vec::new();
        let mut token = String::new();
        loop {
            let sep = if path.contains('?') { '&' } else { '?' };
            let (s, page) = self.call("GET", &format!("{path}{sep}pageToken={token}"), None);
            assert_eq!(s, 200, "{page}");
            out.extend(page[key].as_array().cloned().unwrap_or_default());
            match page["nextPageToken"].as_str() {
                Some(t) => token = t.to_string(),
                None => return out,
            }
        }
    }

    pub fn user(&self, email: &str) -> Option<Value> {
        let (s, v) = self.call("GET", &format!("/users/{email}?projection=full"), None);
        (s == 200).then_some(v)
    }

    pub fn group(&self, email: &str) -> Option<Value> {
        let (s, v) = self.call("GET", &format!("/groups/{email}"), None);
        (s == 200).then_some(v)
    }

    /// The emails of a group's members, sorted.
    pub fn member_emails(&self, group_email: &str) -> Vec<String> {
        let mut v: Vec<String> = self
            .list(
                &format!("/groups/{group_email}/members?maxResults=2"),
                "members",
            )
            .iter()
            .map(|m| m["email"].as_str().unwrap_or_default().to_lowercase())
            .collect();
        v.sort();
        v
    }
}

fn key_json_console() -> (String, String) {
    key_json(CONSOLE_EMAIL)
}

async fn console_token(url: &str, pem: &str) -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let claims = json!({"iss": CONSOLE_EMAIL, "sub": ADMIN, "scope": SCOPES,
        "aud": format!("{url}/token"), "iat": now, "exp": now + 3600});
    let mut h = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256);
    h.kid = Some("k1".into());
    let key = jsonwebtoken::EncodingKey::from_rsa_pem(pem.as_bytes()).unwrap();
    let assertion = jsonwebtoken::encode(&h, &claims, &key).unwrap();
    let v: Value = reqwest::Client::new()
        .post(format!("{url}/token"))
        .form(&[
            ("grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer"),
            ("assertion", assertion.as_str()),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    v["access_token"]
        .as_str()
        .unwrap_or_else(|| panic!("no token: {v}"))
        .to_string()
}

impl Drop for Workspace {
    fn drop(&mut self) {
        if let Some(h) = self.handle.take() {
            let _ = self.rt.block_on(h.shutdown());
        }
    }
}
