//! A small in-test stand-in for the Admin SDK Directory API and Google's token
//! endpoint, on loopback, for the google_workspace end-to-end tests while the project's
//! `roster-google-emulator` is being built: the token endpoint verifies the RS256 JWT
//! bearer assertion against the service account's public key; users, groups and
//! members follow the Directory API's paths, paging (`pageToken`; pages capped small
//! so paging is exercised), error shape (`{"error": {"code", "message", "errors":
//! [{"reason"}]}}`) and patch semantics (nested objects merged, arrays replaced);
//! every `fault_every`-th write is refused with a quota error (403
//! `rateLimitExceeded`, then 429, alternately).

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use axum::body::Body;
use axum::extract::{Request, State};
use axum::response::Response;
use serde_json::{Value, json};

pub const ADMIN: &str = "admin@example.com";
pub const SA_EMAIL: &str = "roster@proj.iam.gserviceaccount.com";
const USER_SCOPE: &str = "https://www.googleapis.com/auth/admin.directory.user";

#[derive(Default)]
pub struct Data {
    pub users: BTreeMap<String, Value>,
    pub groups: BTreeMap<String, Value>,
    /// group id → members (`{id, email, role, type}`).
    pub members: BTreeMap<String, Vec<Value>>,
    next: u64,
    writes: u64,
    pub faults: u64,
    pub tokens: u64,
    pub requests: u64,
    /// Batch requests served.
    pub batches: u64,
    used_tokens: Vec<u64>,
    /// Every API request roster made: (method, path, query keys, body).
    pub log: Vec<(String, String, Vec<String>, Value)>,
}

struct Shared {
    data: Mutex<Data>,
    decoding: jsonwebtoken::DecodingKey,
    token_url: Mutex<String>,
    page_cap: usize,
    fault_every: Mutex<u64>,
    no_batch: std::sync::atomic::AtomicBool,
    /// Tokens up to this number are refused (401) after their first use: revoked.
    revoke_upto: std::sync::atomic::AtomicU64,
}

/// A running fake; the runtime thread stops with the process.
pub struct Fake {
    pub url: String,
    shared: Arc<Shared>,
    /// The service account's JSON key, for the app's secret.
    pub key_json: String,
}

fn key_pair() -> (String, jsonwebtoken::DecodingKey) {
    use aws_lc_rs::encoding::AsDer as _;
    use aws_lc_rs::signature::KeyPair as _;
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
    let public = pair.public_key();
    let decoding = jsonwebtoken::DecodingKey::from_rsa_raw_components(
        public.modulus().big_endian_without_leading_zero(),
        public.exponent().big_endian_without_leading_zero(),
    );
    (pem, decoding)
}

impl Fake {
    pub fn start(page_cap: usize) -> Fake {
        let (pem, decoding) = key_pair();
        let key_json = json!({
            "type": "service_account", "project_id": "proj", "private_key_id": "k1",
            "private_key": pem, "client_email": SA_EMAIL, "client_id": "42",
            "token_uri": "https://oauth2.googleapis.com/token",
        })
        .to_string();
        let shared = Arc::new(Shared {
            data: Mutex::new(Data::default()),
            decoding,
            token_url: Mutex::new(String::new()),
            page_cap,
            fault_every: Mutex::new(0),
            no_batch: Default::default(),
            revoke_upto: Default::default(),
        });
        let (tx, rx) = std::sync::mpsc::channel();
        let s = shared.clone();
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(1)
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
                tx.send(listener.local_addr().unwrap()).unwrap();
                let app = axum::Router::new().fallback(handle).with_state(s);
                axum::serve(listener, app).await.unwrap();
            });
        });
        let addr = rx.recv().unwrap();
        let url = format!("http://{addr}");
        *shared.token_url.lock().unwrap() = format!("{url}/token");
        Fake {
            url,
            shared,
            key_json,
        }
    }

    pub fn data(&self) -> std::sync::MutexGuard<'_, Data> {
        self.shared.data.lock().unwrap()
    }

    /// Every `n`-th write from now on is refused with a quota error (0: none).
    pub fn fault_every(&self, n: u64) {
        *self.shared.fault_every.lock().unwrap() = n;
    }

    /// The next token issued is revoked after its first use (401 afterwards).
    pub fn revoke_next_token(&self) {
        let next = self.data().tokens + 1;
        self.shared
            .revoke_upto
            .store(next, std::sync::atomic::Ordering::SeqCst);
    }

    /// Answers the batch endpoint with 404, as a server without one would.
    pub fn without_batch(&self) {
        self.shared
            .no_batch
            .store(true, std::sync::atomic::Ordering::SeqCst);
    }

    /// The app's YAML pointed at this fake.
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

    /// A direct call, as an admin working in the Admin console would (no token).
    pub fn call(&self, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        let url = format!("{}/admin/directory/v1{path}", self.url);
        super::support::block(async move {
            let c = reqwest::Client::new();
            let mut r = c
                .request(method.parse().unwrap(), &url)
                .bearer_auth("admin-console");
            if let Some(b) = body {
                r = r.json(&b);
            }
            let resp = r.send().await.unwrap();
            let status = resp.status().as_u16();
            let text = resp.text().await.unwrap();
            (status, serde_json::from_str(&text).unwrap_or(Value::Null))
        })
    }

    /// Every user, through the API (paged).
    pub fn users(&self) -> Vec<Value> {
        self.list("/users?customer=my_customer", "users")
    }

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
        let (s, v) = self.call("GET", &format!("/users/{email}"), None);
        (s == 200).then_some(v)
    }

    pub fn group(&self, email: &str) -> Option<Value> {
        let (s, v) = self.call("GET", &format!("/groups/{email}"), None);
        (s == 200).then_some(v)
    }

    /// The emails of a group's members, sorted.
    pub fn member_emails(&self, group_email: &str) -> Vec<String> {
        let mut v: Vec<String> = self
            .list(&format!("/groups/{group_email}/members"), "members")
            .iter()
            .map(|m| m["email"].as_str().unwrap_or_default().to_string())
            .collect();
        v.sort();
        v
    }
}

fn error(status: u16, reason: &str, message: &str) -> Response {
    let body = json!({"error": {"code": status, "message": message,
        "errors": [{"domain": "global", "reason": reason, "message": message}]}});
    Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .body(Body::from(body.to_string()))
        .unwrap()
}

fn ok(status: u16, v: Value) -> Response {
    Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .body(Body::from(if v.is_null() {
            String::new()
        } else {
            v.to_string()
        }))
        .unwrap()
}

fn query(uri: &axum::http::Uri) -> BTreeMap<String, String> {
    url::form_urlencoded::parse(uri.query().unwrap_or("").as_bytes())
        .into_owned()
        .collect()
}

/// Google's patch semantics: objects merged member by member, everything else replaced.
fn merge(into: &mut Value, patch: &Value) {
    match (into.as_object_mut(), patch.as_object()) {
        (Some(a), Some(b)) => {
            for (k, v) in b {
                if v.is_object() && a.get(k).is_some_and(Value::is_object) {
                    merge(a.get_mut(k).unwrap(), v);
                } else {
                    a.insert(k.clone(), v.clone());
                }
            }
        }
        _ => *into = patch.clone(),
    }
}

fn page(items: Vec<Value>, q: &BTreeMap<String, String>, cap: usize, key: &str) -> Value {
    let max = q
        .get("maxResults")
        .and_then(|m| m.parse::<usize>().ok())
        .unwrap_or(100)
        .min(cap);
    let start = q
        .get("pageToken")
        .and_then(|t| t.parse::<usize>().ok())
        .unwrap_or(0);
    let end = (start + max).min(items.len());
    let mut v = json!({ key: items[start.min(end)..end].to_vec() });
    if end < items.len() {
        v["nextPageToken"] = Value::String(end.to_string());
    }
    v
}

fn public_user(u: &Value) -> Value {
    let mut u = u.clone();
    if let Some(o) = u.as_object_mut() {
        o.remove("password");
        o.remove("hashFunction");
    }
    u
}

async fn handle(State(s): State<Arc<Shared>>, req: Request) -> Response {
    let method = req.method().clone();
    let uri = req.uri().clone();
    let auth = req
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let ct = req
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let bytes = axum::body::to_bytes(req.into_body(), 1 << 24)
        .await
        .unwrap_or_default();
    let path = uri.path().to_string();
    if path == "/token" {
        return token(&s, &bytes);
    }
    if path == "/batch/admin/directory_v1"
        && method == "POST"
        && !s.no_batch.load(std::sync::atomic::Ordering::SeqCst)
    {
        return batch(s, &ct, &auth, &bytes).await;
    }
    let Some(rest) = path.strip_prefix("/admin/directory/v1") else {
        return error(404, "notFound", "Not Found");
    };
    if !auth.starts_with("Bearer ") {
        return error(401, "authError", "Login Required.");
    }
    let body: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    let q = query(&uri);
    let mut d = s.data.lock().unwrap();
    d.requests += 1;
    let revoked = s.revoke_upto.load(std::sync::atomic::Ordering::SeqCst);
    if let Some(n) = auth
        .strip_prefix("Bearer ya29.test-")
        .and_then(|n| n.parse::<u64>().ok())
        && n <= revoked
    {
        if d.used_tokens.contains(&n) {
            return error(401, "authError", "Invalid Credentials");
        }
        d.used_tokens.push(n);
    }
    if auth != "Bearer admin-console" {
        d.log.push((
            method.to_string(),
            path.clone(),
            q.keys().cloned().collect(),
            body.clone(),
        ));
    }
    if method != "GET" && auth != "Bearer admin-console" {
        d.writes += 1;
        let every = *s.fault_every.lock().unwrap();
        if every > 0 && d.writes % every == 0 {
            d.faults += 1;
            return if d.faults % 2 == 1 {
                error(403, "rateLimitExceeded", "Rate Limit Exceeded")
            } else {
                error(429, "rateLimitExceeded", "Too Many Requests")
            };
        }
    }
    let seg: Vec<String> = rest
        .trim_start_matches('/')
        .split('/')
        .map(|p| {
            percent_encoding::percent_decode_str(p)
                .decode_utf8_lossy()
                .into_owned()
        })
        .collect();
    let seg: Vec<&str> = seg.iter().map(String::as_str).collect();
    let cap = s.page_cap;
    match (method.as_str(), seg.as_slice()) {
        ("GET", ["users"]) => {
            let ou = q.get("query").and_then(|x| {
                x.strip_prefix("orgUnitPath='")
                    .and_then(|x| x.strip_suffix('\''))
                    .map(str::to_string)
            });
            let items: Vec<Value> = d
                .users
                .values()
                .filter(|u| {
                    ou.as_ref().is_none_or(|ou| {
                        let p = u["orgUnitPath"].as_str().unwrap_or("/");
                        p == ou || p.starts_with(&format!("{ou}/"))
                    })
                })
                .map(public_user)
                .collect();
            ok(200, page(items, &q, cap, "users"))
        }
        ("GET", ["users", key]) => match find_user(&d, key) {
            Some(id) => ok(200, public_user(&d.users[&id])),
            None => error(404, "notFound", "Resource Not Found: userKey"),
        },
        ("POST", ["users"]) => {
            let email = body["primaryEmail"].as_str().unwrap_or("").to_lowercase();
            if email.is_empty()
                || body.pointer("/name/givenName").is_none()
                || body.pointer("/name/familyName").is_none()
                || body["password"].as_str().is_none_or(str::is_empty)
            {
                return error(
                    400,
                    "invalid",
                    "Invalid Input: primaryEmail, name and password are required",
                );
            }
            if find_user(&d, &email).is_some() || find_group(&d, &email).is_some() {
                return error(409, "duplicate", "Entity already exists.");
            }
            d.next += 1;
            let id = format!("1{:020}", d.next);
            let mut u = body.clone();
            u["id"] = json!(id);
            u["primaryEmail"] = json!(email);
            u["kind"] = json!("admin#directory#user");
            if u.get("orgUnitPath").is_none() {
                u["orgUnitPath"] = json!("/");
            }
            if u.get("suspended").is_none() {
                u["suspended"] = json!(false);
            }
            u["isAdmin"] = json!(false);
            d.users.insert(id.clone(), u.clone());
            ok(200, public_user(&u))
        }
        ("PATCH" | "PUT", ["users", key]) => match find_user(&d, key) {
            Some(id) => {
                let u = d.users.get_mut(&id).unwrap();
                merge(u, &body);
                u["id"] = json!(id);
                let v = public_user(u);
                ok(200, v)
            }
            None => error(404, "notFound", "Resource Not Found: userKey"),
        },
        ("DELETE", ["users", key]) => match find_user(&d, key) {
            Some(id) => {
                d.users.remove(&id);
                for ms in d.members.values_mut() {
                    ms.retain(|m| m["id"] != json!(id));
                }
                ok(204, Value::Null)
            }
            None => error(404, "notFound", "Resource Not Found: userKey"),
        },
        ("GET", ["groups"]) => {
            let items: Vec<Value> = d.groups.values().cloned().collect();
            ok(200, page(items, &q, cap, "groups"))
        }
        ("GET", ["groups", key]) => match find_group(&d, key) {
            Some(id) => ok(200, d.groups[&id].clone()),
            None => error(404, "notFound", "Resource Not Found: groupKey"),
        },
        ("POST", ["groups"]) => {
            let email = body["email"].as_str().unwrap_or("").to_lowercase();
            if email.is_empty() {
                return error(400, "invalid", "Missing required field: email");
            }
            if find_group(&d, &email).is_some() || find_user(&d, &email).is_some() {
                return error(409, "duplicate", "Entity already exists.");
            }
            d.next += 1;
            let id = format!("0g{:015}", d.next);
            let g = json!({"kind": "admin#directory#group", "id": id, "email": email,
                "name": body.get("name").cloned().unwrap_or(json!(email)),
                "description": body.get("description").cloned().unwrap_or(json!("")),
                "directMembersCount": "0"});
            d.groups.insert(id.clone(), g.clone());
            d.members.insert(id, Vec::new());
            ok(200, g)
        }
        ("PATCH" | "PUT", ["groups", key]) => match find_group(&d, key) {
            Some(id) => {
                let g = d.groups.get_mut(&id).unwrap();
                merge(g, &body);
                ok(200, g.clone())
            }
            None => error(404, "notFound", "Resource Not Found: groupKey"),
        },
        ("DELETE", ["groups", key]) => match find_group(&d, key) {
            Some(id) => {
                d.groups.remove(&id);
                d.members.remove(&id);
                ok(204, Value::Null)
            }
            None => error(404, "notFound", "Resource Not Found: groupKey"),
        },
        ("GET", ["groups", key, "members"]) => match find_group(&d, key) {
            Some(id) => {
                let items = d.members[&id].clone();
                ok(200, page(items, &q, cap, "members"))
            }
            None => error(404, "notFound", "Resource Not Found: groupKey"),
        },
        ("POST", ["groups", key, "members"]) => {
            let Some(gid) = find_group(&d, key) else {
                return error(404, "notFound", "Resource Not Found: groupKey");
            };
            let mkey = body["email"]
                .as_str()
                .or(body["id"].as_str())
                .unwrap_or("")
                .to_string();
            let member = if let Some(uid) = find_user(&d, &mkey) {
                json!({"kind": "admin#directory#member", "id": uid,
                    "email": d.users[&uid]["primaryEmail"], "role": body.get("role").cloned().unwrap_or(json!("MEMBER")),
                    "type": "USER", "status": "ACTIVE"})
            } else if let Some(g2) = find_group(&d, &mkey) {
                json!({"kind": "admin#directory#member", "id": g2,
                    "email": d.groups[&g2]["email"], "role": "MEMBER", "type": "GROUP"})
            } else {
                return error(404, "notFound", "Resource Not Found: memberKey");
            };
            let ms = d.members.get_mut(&gid).unwrap();
            if ms.iter().any(|m| m["id"] == member["id"]) {
                return error(409, "duplicate", "Member already exists.");
            }
            ms.push(member.clone());
            ok(200, member)
        }
        ("DELETE", ["groups", key, "members", mkey]) => {
            let Some(gid) = find_group(&d, key) else {
                return error(404, "notFound", "Resource Not Found: groupKey");
            };
            let ms = d.members.get_mut(&gid).unwrap();
            let before = ms.len();
            let lower = mkey.to_lowercase();
            ms.retain(|m| {
                m["id"].as_str() != Some(mkey)
                    && m["email"].as_str().map(str::to_lowercase) != Some(lower.clone())
            });
            if ms.len() == before {
                return error(404, "notFound", "Resource Not Found: memberKey");
            }
            ok(204, Value::Null)
        }
        _ => error(404, "notFound", "Not Found"),
    }
}

/// The batch endpoint: each `application/http` part is served as its own request, the
/// answers sent back as `response-itemN` parts of a multipart/mixed response.
async fn batch(s: Arc<Shared>, ct: &str, auth: &str, bytes: &[u8]) -> Response {
    let Some(boundary) = ct
        .split("boundary=")
        .nth(1)
        .map(|b| b.trim_matches('"').to_string())
    else {
        return error(
            400,
            "badRequest",
            "multipart/mixed with a boundary expected",
        );
    };
    s.data.lock().unwrap().batches += 1;
    let text = String::from_utf8_lossy(bytes).replace("\r\n", "\n");
    let mut out = String::new();
    for part in text.split(&format!("--{boundary}")).skip(1) {
        if part.starts_with("--") {
            break;
        }
        let Some((head, inner)) = part.trim_start_matches('\n').split_once("\n\n") else {
            continue;
        };
        let id = head
            .lines()
            .find_map(|l| {
                l.strip_prefix("Content-ID: <")
                    .map(|v| v.trim_end_matches('>').to_string())
            })
            .unwrap_or_default();
        let (req_head, body) = inner.split_once("\n\n").unwrap_or((inner, ""));
        let mut words = req_head.lines().next().unwrap_or("").split_whitespace();
        let (m, uri) = (words.next().unwrap_or("GET"), words.next().unwrap_or("/"));
        let req = Request::builder()
            .method(m)
            .uri(uri)
            .header("authorization", auth)
            .body(Body::from(body.trim().to_string()))
            .unwrap();
        let resp = Box::pin(handle(State(s.clone()), req)).await;
        let status = resp.status();
        let b = axum::body::to_bytes(resp.into_body(), 1 << 24)
            .await
            .unwrap_or_default();
        out.push_str(&format!(
            "--batch_fake\r\nContent-Type: application/http\r\nContent-ID: <response-{id}>\r\n\r\nHTTP/1.1 {} {}\r\nContent-Type: application/json; charset=UTF-8\r\n\r\n{}\r\n",
            status.as_u16(),
            status.canonical_reason().unwrap_or(""),
            String::from_utf8_lossy(&b)
        ));
    }
    out.push_str("--batch_fake--\r\n");
    Response::builder()
        .status(200)
        .header("content-type", "multipart/mixed; boundary=batch_fake")
        .body(Body::from(out))
        .unwrap()
}

fn find_user(d: &Data, key: &str) -> Option<String> {
    if d.users.contains_key(key) {
        return Some(key.to_string());
    }
    let k = key.to_lowercase();
    d.users
        .iter()
        .find(|(_, u)| u["primaryEmail"].as_str() == Some(k.as_str()))
        .map(|(id, _)| id.clone())
}

fn find_group(d: &Data, key: &str) -> Option<String> {
    if d.groups.contains_key(key) {
        return Some(key.to_string());
    }
    let k = key.to_lowercase();
    d.groups
        .iter()
        .find(|(_, g)| g["email"].as_str() == Some(k.as_str()))
        .map(|(id, _)| id.clone())
}

fn token(s: &Shared, form: &[u8]) -> Response {
    let f: BTreeMap<String, String> = url::form_urlencoded::parse(form).into_owned().collect();
    if f.get("grant_type").map(String::as_str)
        != Some("urn:ietf:params:oauth:grant-type:jwt-bearer")
    {
        return ok(400, json!({"error": "unsupported_grant_type"}));
    }
    let mut v = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::RS256);
    v.set_audience(&[s.token_url.lock().unwrap().clone()]);
    v.set_issuer(&[SA_EMAIL]);
    let claims = match jsonwebtoken::decode::<Value>(
        f.get("assertion").map(String::as_str).unwrap_or(""),
        &s.decoding,
        &v,
    ) {
        Ok(t) => t.claims,
        Err(e) => {
            return ok(
                400,
                json!({"error": "invalid_grant", "error_description": format!("Invalid JWT Signature: {e}")}),
            );
        }
    };
    if claims["sub"] != ADMIN {
        return ok(
            401,
            json!({"error": "unauthorized_client", "error_description": "Client is unauthorized to retrieve access tokens using this method."}),
        );
    }
    if !claims["scope"]
        .as_str()
        .unwrap_or("")
        .split(' ')
        .any(|x| x == USER_SCOPE)
    {
        return ok(400, json!({"error": "invalid_scope"}));
    }
    let mut d = s.data.lock().unwrap();
    d.tokens += 1;
    ok(
        200,
        json!({"access_token": format!("ya29.test-{}", d.tokens), "expires_in": 3599, "token_type": "Bearer"}),
    )
}
