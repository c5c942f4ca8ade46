//! `roster-google-emulator` over HTTP, against the binary: the service-account token
//! grant (good, wrong key, expired), users/groups/members CRUD, paging, Google's error
//! bodies, the batch endpoint, and conformance to Google's discovery document
//! (`tests/google/admin.directory_v1.json`): every object returned only has properties
//! its schema declares, and every method used exists with its HTTP method and path.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use serde_json::{Value, json};

pub const ADMIN: &str = "admin@example.com";
pub const SA_EMAIL: &str = "roster@roster-test.iam.gserviceaccount.com";
pub const SCOPES: &str = "https://www.googleapis.com/auth/admin.directory.user https://www.googleapis.com/auth/admin.directory.group";

/// An RSA key (PKCS#8 PEM, openssl CLI) in Google's service-account key-file JSON.
pub struct KeyFile {
    pub path: PathBuf,
    pub pem: String,
    /// Holds the key's directory for as long as the key is used.
    #[allow(dead_code)]
    pub dir: tempfile::TempDir,
}

pub fn key_file(email: &str, token_uri: &str) -> KeyFile {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new("openssl")
        .args([
            "genpkey",
            "-algorithm",
            "RSA",
            "-pkeyopt",
            "rsa_keygen_bits:2048",
        ])
        .output()
        .expect("openssl CLI is installed");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let pem = String::from_utf8(out.stdout).unwrap();
    let path = dir.path().join("key.json");
    let v = json!({
        "type": "service_account", "project_id": "roster-test", "private_key_id": "k1",
        "private_key": pem, "client_email": email, "client_id": "100000000000000000001",
        "token_uri": token_uri,
    });
    std::fs::write(&path, v.to_string()).unwrap();
    KeyFile { path, pem, dir }
}

/// The emulator binary, killed on drop.
pub struct Gemu {
    child: Child,
    pub url: String,
    pub key: KeyFile,
}

impl Drop for Gemu {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn start(extra: &[&str]) -> Gemu {
    // The key file's token_uri is informative; the emulator checks `aud` against its URL
    // (or Google's).
    let key = key_file(SA_EMAIL, "http://127.0.0.1/token");
    let mut child = Command::new(env!("CARGO_BIN_EXE_roster-google-emulator"))
        .args(["--listen", "127.0.0.1:0", "--domain", "example.com"])
        .arg("--service-account")
        .arg(&key.path)
        .args(extra)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start roster-google-emulator");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let url = line
        .trim()
        .strip_prefix("listening on ")
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
        .to_string();
    Gemu { child, url, key }
}

pub fn assertion(pem: &str, aud: &str, iat: i64, exp: i64, sub: Option<&str>) -> String {
    let mut claims = json!({"iss": SA_EMAIL, "scope": SCOPES, "aud": aud, "iat": iat, "exp": exp});
    if let Some(s) = sub {
        claims["sub"] = json!(s);
    }
    let mut h = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256);
    h.kid = Some("k1".into());
    let key = jsonwebtoken::EncodingKey::from_rsa_pem(pem.as_bytes()).unwrap();
    jsonwebtoken::encode(&h, &claims, &key).unwrap()
}

/// A sent request's status, headers and body text.
pub struct Reply {
    pub status: u16,
    pub content_type: String,
    pub text: String,
}

pub fn exec(rb: reqwest::RequestBuilder) -> Reply {
    crate::support::block(async move {
        let r = rb.send().await.expect("request");
        let status = r.status().as_u16();
        let content_type = r
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string();
        Reply {
            status,
            content_type,
            text: r.text().await.unwrap_or_default(),
        }
    })
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

impl Gemu {
    pub fn grant(&self, assertion: &str) -> (u16, Value) {
        let r = reqwest::Client::new()
            .post(format!("{}/token", self.url))
            .form(&[
                ("grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer"),
                ("assertion", assertion),
            ]);
        let r = exec(r);
        (
            r.status,
            serde_json::from_str(&r.text).unwrap_or(Value::Null),
        )
    }

    pub fn token(&self) -> String {
        let t = now();
        let a = assertion(
            &self.key.pem,
            &format!("{}/token", self.url),
            t,
            t + 3600,
            Some(ADMIN),
        );
        let (s, v) = self.grant(&a);
        assert_eq!(s, 200, "{v}");
        v["access_token"].as_str().unwrap().to_string()
    }

    pub fn call(&self, token: &str, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        let c = reqwest::Client::new();
        let m = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let mut rq = c
            .request(m, format!("{}/admin/directory/v1/{path}", self.url))
            .bearer_auth(token);
        if let Some(b) = body {
            rq = rq.json(&b);
        }
        let r = exec(rq);
        (
            r.status,
            serde_json::from_str(&r.text).unwrap_or(Value::Null),
        )
    }
}

fn user(n: usize) -> Value {
    json!({"primaryEmail": format!("user{n:03}@example.com"), "password": "correct horse battery",
           "name": {"givenName": "Ada", "familyName": format!("Lovelace{n:03}")},
           "externalIds": [{"type": "organization", "value": format!("E{n}")}]})
}

fn assert_google_error(r: &(u16, Value), code: u16, reason: &str) {
    assert_eq!(r.0, code, "{}", r.1);
    let e = &r.1["error"];
    assert_eq!(e["code"], code, "{}", r.1);
    assert_eq!(e["errors"][0]["reason"], reason, "{}", r.1);
    assert!(
        e["message"].is_string() && e["status"].is_string(),
        "{}",
        r.1
    );
}

// ------------------------------------------------------------------ discovery document

fn discovery() -> Value {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/google/admin.directory_v1.json");
    serde_json::from_slice(&std::fs::read(p).unwrap()).unwrap()
}

/// Every property of `v` is declared by `schema` (recursing into `$ref` objects and
/// arrays of them).
fn check_schema(doc: &Value, schema: &str, v: &Value, at: &str, bad: &mut Vec<String>) {
    let props = &doc["schemas"][schema]["properties"];
    assert!(props.is_object(), "no schema {schema}");
    for (k, x) in v.as_object().unwrap() {
        let Some(p) = props.get(k) else {
            bad.push(format!("{at}.{k} (not in {schema})"));
            continue;
        };
        let r = p["$ref"].as_str().or(p["items"]["$ref"].as_str());
        match (r, x) {
            (Some(r), Value::Object(_)) => check_schema(doc, r, x, &format!("{at}.{k}"), bad),
            (Some(r), Value::Array(a)) => {
                for (i, e) in a.iter().enumerate() {
                    if e.is_object() {
                        check_schema(doc, r, e, &format!("{at}.{k}[{i}]"), bad);
                    }
                }
            }
            _ => {}
        }
        let ty = p["type"].as_str().unwrap_or("object");
        let ok = match ty {
            "string" => x.is_string(),
            "boolean" => x.is_boolean(),
            "array" => x.is_array(),
            "integer" => x.is_number() || x.is_string(),
            _ => true,
        };
        if !ok {
            bad.push(format!("{at}.{k}: {x} is not a {ty}"));
        }
    }
}

#[test]
fn the_methods_used_exist_in_the_discovery_document() {
    let doc = discovery();
    for (res, method, http, path) in [
        ("users", "list", "GET", "admin/directory/v1/users"),
        ("users", "get", "GET", "admin/directory/v1/users/{userKey}"),
        ("users", "insert", "POST", "admin/directory/v1/users"),
        (
            "users",
            "update",
            "PUT",
            "admin/directory/v1/users/{userKey}",
        ),
        (
            "users",
            "patch",
            "PATCH",
            "admin/directory/v1/users/{userKey}",
        ),
        (
            "users",
            "delete",
            "DELETE",
            "admin/directory/v1/users/{userKey}",
        ),
        (
            "users",
            "undelete",
            "POST",
            "admin/directory/v1/users/{userKey}/undelete",
        ),
        (
            "users",
            "makeAdmin",
            "POST",
            "admin/directory/v1/users/{userKey}/makeAdmin",
        ),
        ("groups", "list", "GET", "admin/directory/v1/groups"),
        (
            "groups",
            "get",
            "GET",
            "admin/directory/v1/groups/{groupKey}",
        ),
        ("groups", "insert", "POST", "admin/directory/v1/groups"),
        (
            "groups",
            "patch",
            "PATCH",
            "admin/directory/v1/groups/{groupKey}",
        ),
        (
            "groups",
            "update",
            "PUT",
            "admin/directory/v1/groups/{groupKey}",
        ),
        (
            "groups",
            "delete",
            "DELETE",
            "admin/directory/v1/groups/{groupKey}",
        ),
        (
            "members",
            "list",
            "GET",
            "admin/directory/v1/groups/{groupKey}/members",
        ),
        (
            "members",
            "insert",
            "POST",
            "admin/directory/v1/groups/{groupKey}/members",
        ),
        (
            "members",
            "get",
            "GET",
            "admin/directory/v1/groups/{groupKey}/members/{memberKey}",
        ),
        (
            "members",
            "delete",
            "DELETE",
            "admin/directory/v1/groups/{groupKey}/members/{memberKey}",
        ),
        (
            "members",
            "patch",
            "PATCH",
            "admin/directory/v1/groups/{groupKey}/members/{memberKey}",
        ),
        (
            "members",
            "hasMember",
            "GET",
            "admin/directory/v1/groups/{groupKey}/hasMember/{memberKey}",
        ),
    ] {
        let m = &doc["resources"][res]["methods"][method];
        assert_eq!(m["httpMethod"], http, "{res}.{method}");
        assert_eq!(m["path"], path, "{res}.{method}");
    }
    assert_eq!(
        doc["resources"]["users"]["methods"]["list"]["parameters"]["maxResults"]["maximum"],
        "500"
    );
    assert_eq!(doc["batchPath"], "batch");
    // The emulator's field lists are the schema's.
    use roster::google_emulator::directory as d;
    for f in d::USER_WRITABLE.iter().chain(d::USER_SERVER_SET) {
        assert!(
            doc["schemas"]["User"]["properties"].get(*f).is_some(),
            "User.{f}"
        );
    }
    for f in d::GROUP_WRITABLE.iter().chain(d::GROUP_SERVER_SET) {
        assert!(
            doc["schemas"]["Group"]["properties"].get(*f).is_some(),
            "Group.{f}"
        );
    }
    for f in d::MEMBER_WRITABLE.iter().chain(d::MEMBER_SERVER_SET) {
        assert!(
            doc["schemas"]["Member"]["properties"].get(*f).is_some(),
            "Member.{f}"
        );
    }
}

// ------------------------------------------------------------------ token endpoint

#[test]
fn token_grant_checks_signature_lifetime_and_delegation() {
    let emu = start(&[]);
    let aud = format!("{}/token", emu.url);
    let t = now();
    let good = emu.grant(&assertion(&emu.key.pem, &aud, t, t + 3600, Some(ADMIN)));
    assert_eq!(good.0, 200, "{}", good.1);
    assert_eq!(good.1["token_type"], "Bearer");
    assert!(good.1["expires_in"].as_i64().unwrap() > 3000);

    let other = key_file(SA_EMAIL, &aud);
    let forged = emu.grant(&assertion(&other.pem, &aud, t, t + 3600, Some(ADMIN)));
    assert_eq!(forged.0, 400, "{}", forged.1);
    assert_eq!(forged.1["error"], "invalid_grant");
    assert_eq!(forged.1["error_description"], "Invalid JWT Signature.");

    let expired = emu.grant(&assertion(
        &emu.key.pem,
        &aud,
        t - 7200,
        t - 3600,
        Some(ADMIN),
    ));
    assert_eq!(expired.1["error"], "invalid_grant", "{}", expired.1);
    assert!(
        expired.1["error_description"]
            .as_str()
            .unwrap()
            .contains("iat and exp")
    );
    let too_long = emu.grant(&assertion(&emu.key.pem, &aud, t, t + 7200, Some(ADMIN)));
    assert_eq!(too_long.1["error"], "invalid_grant", "{}", too_long.1);
    let wrong_aud = emu.grant(&assertion(
        &emu.key.pem,
        "https://login.example.net/token",
        t,
        t + 60,
        Some(ADMIN),
    ));
    assert_eq!(wrong_aud.1["error"], "invalid_grant", "{}", wrong_aud.1);
    // Google's client libraries sign for Google's token URL whatever `token_uri` says;
    // Google's endpoint takes it, and so does the emulator's.
    let google_aud = emu.grant(&assertion(
        &emu.key.pem,
        "https://oauth2.googleapis.com/token",
        t,
        t + 60,
        Some(ADMIN),
    ));
    assert_eq!(google_aud.0, 200, "{}", google_aud.1);
    let foreign = emu.grant(&assertion(
        &emu.key.pem,
        &aud,
        t,
        t + 60,
        Some("x@elsewhere.org"),
    ));
    assert_eq!(foreign.1["error_description"], "Invalid email or User ID");

    // Without `sub` the service account is no administrator.
    let (s, v) = emu.grant(&assertion(&emu.key.pem, &aud, t, t + 60, None));
    assert_eq!(s, 200, "{v}");
    let r = emu.call(
        v["access_token"].as_str().unwrap(),
        "GET",
        "users?customer=my_customer",
        None,
    );
    assert_google_error(&r, 403, "forbidden");
    assert_google_error(
        &emu.call("nope", "GET", "users?customer=my_customer", None),
        401,
        "authError",
    );
}

// ------------------------------------------------------------------ CRUD, paging, errors

#[test]
fn users_groups_members_crud_paging_errors_and_schema() {
    let emu = start(&[]);
    let tok = emu.token();
    let doc = discovery();
    let mut bad = Vec::new();
    for n in 0..7 {
        let (s, v) = emu.call(&tok, "POST", "users", Some(user(n)));
        assert_eq!(s, 200, "{v}");
        assert_eq!(v["kind"], "admin#directory#user");
        assert!(
            v.get("password").is_none() && v.get("hashFunction").is_none(),
            "{v}"
        );
        check_schema(&doc, "User", &v, "insert", &mut bad);
    }
    assert_google_error(
        &emu.call(&tok, "POST", "users", Some(user(3))),
        409,
        "duplicate",
    );
    assert_eq!(
        emu.call(&tok, "POST", "users", Some(user(3))).1["error"]["message"],
        "Entity already exists."
    );
    let mut noname = user(50);
    noname["name"] = json!({"givenName": "X"});
    assert_google_error(
        &emu.call(&tok, "POST", "users", Some(noname)),
        400,
        "invalid",
    );
    let mut unknown = user(51);
    unknown["shoeSize"] = json!(42);
    assert_google_error(
        &emu.call(&tok, "POST", "users", Some(unknown)),
        400,
        "invalid",
    );

    // Paging: 7 users, 3 a page.
    let mut seen = Vec::new();
    let mut pages = 0;
    let mut token: Option<String> = None;
    loop {
        let mut p = "users?customer=my_customer&maxResults=3".to_string();
        if let Some(t) = &token {
            p.push_str(&format!(
                "&pageToken={}",
                url::form_urlencoded::byte_serialize(t.as_bytes()).collect::<String>()
            ));
        }
        let (s, v) = emu.call(&tok, "GET", &p, None);
        assert_eq!(s, 200, "{v}");
        check_schema(&doc, "Users", &v, "list", &mut bad);
        pages += 1;
        for u in v["users"].as_array().unwrap() {
            seen.push(u["primaryEmail"].as_str().unwrap().to_string());
        }
        match v["nextPageToken"].as_str() {
            Some(t) => token = Some(t.to_string()),
            None => break,
        }
    }
    assert_eq!(pages, 3);
    assert_eq!(
        seen,
        (0..7)
            .map(|n| format!("user{n:03}@example.com"))
            .collect::<Vec<_>>()
    );
    assert_google_error(
        &emu.call(
            &tok,
            "GET",
            "users?customer=my_customer&maxResults=501",
            None,
        ),
        400,
        "invalid",
    );
    assert_google_error(&emu.call(&tok, "GET", "users", None), 400, "badRequest");
    let q = emu.call(
        &tok,
        "GET",
        "users?domain=example.com&query=externalId:E4",
        None,
    );
    assert_eq!(q.1["users"].as_array().map(Vec::len), Some(1), "{}", q.1);

    // Get by email and id, patch, update, 404, delete.
    let (s, u) = emu.call(&tok, "GET", "users/user001@example.com", None);
    assert_eq!(s, 200);
    let id = u["id"].as_str().unwrap().to_string();
    assert_eq!(
        emu.call(&tok, "GET", &format!("users/{id}"), None).1["primaryEmail"],
        "user001@example.com"
    );
    let (s, p) = emu.call(
        &tok,
        "PATCH",
        &format!("users/{id}"),
        Some(json!({"suspended": true, "orgUnitPath": "/Staff"})),
    );
    assert_eq!(s, 200, "{p}");
    assert_eq!(p["suspended"], true);
    assert_eq!(p["name"]["fullName"], "Ada Lovelace001");
    let (s, p) = emu.call(
        &tok,
        "PUT",
        &format!("users/{id}"),
        Some(json!({"name": {"givenName": "Augusta", "familyName": "King"}})),
    );
    assert_eq!(s, 200, "{p}");
    assert_eq!(p["name"]["fullName"], "Augusta King");
    check_schema(&doc, "User", &p, "update", &mut bad);
    let nf = emu.call(&tok, "GET", "users/ghost@example.com", None);
    assert_google_error(&nf, 404, "notFound");
    assert_eq!(nf.1["error"]["message"], "Resource Not Found: userKey");

    // Groups and members.
    let (s, g) = emu.call(
        &tok,
        "POST",
        "groups",
        Some(json!({"email": "staff@example.com", "name": "Staff", "description": "Everyone"})),
    );
    assert_eq!(s, 200, "{g}");
    check_schema(&doc, "Group", &g, "group", &mut bad);
    assert_google_error(
        &emu.call(
            &tok,
            "POST",
            "groups",
            Some(json!({"email": "staff@example.com"})),
        ),
        409,
        "duplicate",
    );
    for n in 0..5 {
        let (s, m) = emu.call(
            &tok,
            "POST",
            "groups/staff@example.com/members",
            Some(json!({"email": format!("user{n:03}@example.com"), "role": "MEMBER"})),
        );
        assert_eq!(s, 200, "{m}");
        assert_eq!(m["type"], "USER");
        check_schema(&doc, "Member", &m, "member", &mut bad);
    }
    let dup = emu.call(
        &tok,
        "POST",
        "groups/staff@example.com/members",
        Some(json!({"email": "user000@example.com"})),
    );
    assert_google_error(&dup, 409, "duplicate");
    assert_eq!(dup.1["error"]["message"], "Member already exists.");
    let (_, l) = emu.call(
        &tok,
        "GET",
        "groups/staff@example.com/members?maxResults=2",
        None,
    );
    assert_eq!(l["members"].as_array().unwrap().len(), 2);
    assert!(l["nextPageToken"].is_string());
    check_schema(&doc, "Members", &l, "members", &mut bad);
    assert_google_error(
        &emu.call(
            &tok,
            "GET",
            "groups/staff@example.com/members?maxResults=201",
            None,
        ),
        400,
        "invalid",
    );
    let (_, g2) = emu.call(&tok, "GET", "groups/staff@example.com", None);
    assert_eq!(g2["directMembersCount"], "5");
    let (_, h) = emu.call(
        &tok,
        "GET",
        "groups/staff@example.com/hasMember/user002@example.com",
        None,
    );
    assert_eq!(h, json!({"isMember": true}));
    let (s, _) = emu.call(
        &tok,
        "DELETE",
        "groups/staff@example.com/members/user002@example.com",
        None,
    );
    assert_eq!(s, 204);
    assert_google_error(
        &emu.call(
            &tok,
            "GET",
            "groups/staff@example.com/members/user002@example.com",
            None,
        ),
        404,
        "notFound",
    );
    let (_, gl) = emu.call(&tok, "GET", "groups?customer=my_customer", None);
    check_schema(&doc, "Groups", &gl, "groups", &mut bad);
    assert_eq!(gl["groups"][0]["directMembersCount"], "4");

    // Deleting a user drops its memberships; a stale etag is 412.
    let (_, u4) = emu.call(&tok, "GET", "users/user004@example.com", None);
    let stale = reqwest::Client::new()
        .patch(format!(
            "{}/admin/directory/v1/users/user004@example.com",
            emu.url
        ))
        .bearer_auth(&tok)
        .header("If-Match", "\"stale/etag\"")
        .json(&json!({"suspended": true}));
    assert_eq!(exec(stale).status, 412);
    assert!(u4["etag"].is_string());
    assert_eq!(
        emu.call(&tok, "DELETE", "users/user004@example.com", None)
            .0,
        204
    );
    let (_, g3) = emu.call(&tok, "GET", "groups/staff@example.com", None);
    assert_eq!(g3["directMembersCount"], "3");
    assert_google_error(
        &emu.call(&tok, "DELETE", "groups/nope@example.com", None),
        404,
        "notFound",
    );
    assert!(
        bad.is_empty(),
        "properties outside the discovery schemas: {bad:?}"
    );

    let stats: Value = serde_json::from_str(
        &exec(reqwest::Client::new().get(format!("{}/_emulator/stats", emu.url))).text,
    )
    .unwrap();
    assert!(stats["requests"].as_u64().unwrap() > 30, "{stats}");
    assert!(
        stats["writes"].as_u64().unwrap() >= 7 + 1 + 5 + 2,
        "{stats}"
    );
}

// ------------------------------------------------------------------ batch, faults

#[test]
fn batch_answers_each_part_with_its_response_content_id() {
    let emu = start(&[]);
    let tok = emu.token();
    let b = "===b0undary==";
    let mut body = String::new();
    for (i, (m, p, j)) in [
        ("POST", "/admin/directory/v1/users", Some(user(1))),
        ("GET", "/admin/directory/v1/users/user001@example.com", None),
        ("GET", "/admin/directory/v1/users/ghost@example.com", None),
        (
            "POST",
            "/admin/directory/v1/groups",
            Some(json!({"email": "b@example.com"})),
        ),
    ]
    .into_iter()
    .enumerate()
    {
        body.push_str(&format!("--{b}\r\nContent-Type: application/http\r\nContent-ID: <batch+{}>\r\n\r\n{m} {p} HTTP/1.1\r\n", i + 1));
        match j {
            Some(j) => body.push_str(&format!("Content-Type: application/json\r\n\r\n{j}\r\n")),
            None => body.push_str("\r\n"),
        }
    }
    body.push_str(&format!("--{b}--\r\n"));
    let r = reqwest::Client::new()
        .post(format!("{}/batch/admin/directory_v1", emu.url))
        .bearer_auth(&tok)
        .header("Content-Type", format!("multipart/mixed; boundary=\"{b}\""))
        .body(body);
    let r = exec(r);
    assert_eq!(r.status, 200, "{}", r.text);
    let ct = r.content_type;
    assert!(ct.starts_with("multipart/mixed; boundary="), "{ct}");
    let text = r.text;
    for (id, status) in [
        (1, "200 OK"),
        (2, "200 OK"),
        (3, "404 Not Found"),
        (4, "200 OK"),
    ] {
        let at = text
            .find(&format!("Content-ID: <response-batch+{id}>"))
            .unwrap_or_else(|| panic!("{text}"));
        assert!(text[at..].contains(&format!("HTTP/1.1 {status}")), "{text}");
    }
    assert!(text.contains("Resource Not Found: userKey"), "{text}");
    let (s, _) = emu.call(&tok, "GET", "groups/b@example.com", None);
    assert_eq!(s, 200);
    let bad = reqwest::Client::new()
        .post(format!("{}/batch", emu.url))
        .bearer_auth(&tok)
        .header("Content-Type", "application/json")
        .body("{}");
    assert_eq!(exec(bad).status, 400);
}

#[test]
fn fault_rate_injects_seeded_quota_errors() {
    let run = || {
        let emu = start(&["--fault-rate", "0.5", "--seed", "7"]);
        let tok = emu.token();
        (0..20)
            .map(|_| {
                let r = emu.call(&tok, "GET", "users?customer=my_customer", None);
                if r.0 != 200 {
                    let reason = r.1["error"]["errors"][0]["reason"]
                        .as_str()
                        .unwrap()
                        .to_string();
                    assert!([429, 403].contains(&r.0), "{}", r.1);
                    assert!(
                        reason == "rateLimitExceeded" || reason == "userRateLimitExceeded",
                        "{}",
                        r.1
                    );
                }
                r.0
            })
            .collect::<Vec<u16>>()
    };
    let a = run();
    assert!(a.iter().any(|s| *s != 200) && a.contains(&200), "{a:?}");
    assert_eq!(a, run(), "the same seed, the same faults");
}

#[test]
fn make_admin_takes_a_user_make_admin_body_and_sets_is_admin() {
    let doc = discovery();
    let m = &doc["resources"]["users"]["methods"]["makeAdmin"];
    assert_eq!(m["request"]["$ref"], "UserMakeAdmin");
    assert!(m.get("response").is_none(), "the answer is empty");
    let props = doc["schemas"]["UserMakeAdmin"]["properties"]
        .as_object()
        .unwrap();
    assert_eq!(props.keys().collect::<Vec<_>>(), ["status"]);
    assert_eq!(props["status"]["type"], "boolean");

    let emu = start(&[]);
    let tok = emu.token();
    let (s, v) = emu.call(&tok, "POST", "users", Some(user(1)));
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["isAdmin"], false);
    let r = emu.call(
        &tok,
        "POST",
        "users/user001@example.com/makeAdmin",
        Some(json!({"status": true})),
    );
    assert_eq!(r.0, 204, "{}", r.1);
    let (_, v) = emu.call(&tok, "GET", "users/user001@example.com", None);
    assert_eq!(v["isAdmin"], true, "{v}");
    let bad = emu.call(
        &tok,
        "POST",
        "users/user001@example.com/makeAdmin",
        Some(json!({"status": "yes"})),
    );
    assert_google_error(&bad, 400, "invalid");
    let missing = emu.call(
        &tok,
        "POST",
        "users/user001@example.com/makeAdmin",
        Some(json!({})),
    );
    assert_google_error(&missing, 400, "invalid");
    let ghost = emu.call(
        &tok,
        "POST",
        "users/ghost@example.com/makeAdmin",
        Some(json!({"status": true})),
    );
    assert_google_error(&ghost, 404, "notFound");
    let r = emu.call(
        &tok,
        "POST",
        "users/user001@example.com/makeAdmin",
        Some(json!({"status": false})),
    );
    assert_eq!(r.0, 204, "{}", r.1);
    let (_, v) = emu.call(&tok, "GET", "users/user001@example.com", None);
    assert_eq!(v["isAdmin"], false, "{v}");
}

#[test]
fn a_service_account_without_delegation_gets_no_token_for_a_subject() {
    let key = key_file(SA_EMAIL, "http://127.0.0.1/token");
    let sa = roster::google_emulator::ServiceAccount::from_key_file(&key.path).unwrap();
    assert!(sa.delegated, "key files are delegated by default");
    let verify = |sa: &roster::google_emulator::ServiceAccount, sub: Option<&str>| {
        let t = now();
        let a = assertion(&key.pem, "http://emu/token", t, t + 3600, sub);
        let form = format!(
            "grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer&assertion={a}"
        );
        roster::google_emulator::auth::verify(
            std::slice::from_ref(sa),
            &["example.com".to_string()],
            "http://emu/token",
            t,
            form.as_bytes(),
        )
    };
    assert!(verify(&sa, Some(ADMIN)).is_ok());
    let mut undelegated = sa.clone();
    undelegated.delegated = false;
    let e = verify(&undelegated, Some(ADMIN)).unwrap_err();
    assert_eq!(
        (e.status, e.error),
        (401, "unauthorized_client"),
        "{}",
        e.description
    );
    assert!(
        e.description
            .contains("not authorized for any of the scopes")
    );
    // Acting as itself needs no delegation.
    assert!(verify(&undelegated, None).is_ok());
}

#[test]
fn no_batch_answers_the_batch_endpoint_with_404() {
    let emu = start(&["--no-batch"]);
    let tok = emu.token();
    let r = reqwest::Client::new()
        .post(format!("{}/batch/admin/directory_v1", emu.url))
        .bearer_auth(&tok)
        .header("Content-Type", "multipart/mixed; boundary=x")
        .body("--x--\r\n");
    let r = exec(r);
    assert_eq!(r.status, 404, "{}", r.text);
    let (s, _) = emu.call(&tok, "GET", "users?customer=my_customer", None);
    assert_eq!(s, 200, "the API itself is served");
}
