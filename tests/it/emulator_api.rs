//! The Graph emulator's behaviour, end to end over HTTP: auth, users, groups, members,
//! OData paging/select/filter/count, $batch, delta, licenses, deleted items, throttling,
//! faults, replication lag, persistence and the error body shape.

use crate::emulator_support as support;

use std::time::Duration;

use roster::emulator::EmulatorConfig;
use serde_json::{Value, json};
use support::*;

// ------------------------------------------------------------------ auth

#[tokio::test]
async fn token_endpoint_errors_are_aadsts_shaped() {
    let emu = start().await;
    let form = |secret: &str| {
        vec![
            ("grant_type".to_string(), "client_credentials".to_string()),
            ("client_id".to_string(), CLIENT.to_string()),
            ("client_secret".to_string(), secret.to_string()),
            (
                "scope".to_string(),
                "https://graph.microsoft.com/.default".to_string(),
            ),
        ]
    };
    let r = to_resp(
        emu.http
            .post(format!("{}/contoso/oauth2/v2.0/token", emu.base))
            .form(&form("wrong"))
            .send()
            .await
            .expect("send"),
    )
    .await;
    assert_eq!(r.status, 401);
    assert_eq!(r.body["error"], "invalid_client");
    assert_eq!(r.body["error_codes"][0], 7000215);
    assert!(
        r.body["error_description"]
            .as_str()
            .expect("desc")
            .starts_with("AADSTS7000215:")
    );
    assert!(!r.text.contains("wrong"), "the secret is never echoed");
    for k in ["timestamp", "trace_id", "correlation_id", "error_uri"] {
        assert!(r.body[k].is_string(), "{k}");
    }
    let r = to_resp(
        emu.http
            .post(format!("{}/fabrikam-unknown/oauth2/v2.0/token", emu.base))
            .form(&form(SECRET))
            .send()
            .await
            .expect("send"),
    )
    .await;
    assert_eq!(r.body["error_codes"][0], 90002);
    let mut f = form(SECRET);
    f[3].1 = "User.Read".into();
    let r = to_resp(
        emu.http
            .post(format!("{}/contoso/oauth2/v2.0/token", emu.base))
            .form(&f)
            .send()
            .await
            .expect("send"),
    )
    .await;
    assert_eq!(r.body["error"], "invalid_scope");
    let mut f = form(SECRET);
    f[1].1 = "99999999-0000-0000-0000-000000000000".into();
    let r = to_resp(
        emu.http
            .post(format!("{}/contoso/oauth2/v2.0/token", emu.base))
            .form(&f)
            .send()
            .await
            .expect("send"),
    )
    .await;
    assert_eq!(r.body["error_codes"][0], 700016);
    // The tenant id and a verified domain work as tenant names too.
    let tid = emu.handle.tenant_id();
    get_token(&emu.http, &emu.base, &tid).await;
    get_token(&emu.http, &emu.base, "contoso.com").await;
    let ok = to_resp(
        emu.http
            .post(format!("{}/contoso/oauth2/v2.0/token", emu.base))
            .form(&form(SECRET))
            .send()
            .await
            .expect("send"),
    )
    .await;
    assert_eq!(ok.body["token_type"], "Bearer");
    assert!(ok.body["expires_in"].as_i64().expect("expires_in") > 0);
}

#[tokio::test]
async fn graph_requires_a_valid_unexpired_bearer() {
    let emu = start().await;
    let r = to_resp(emu.http.get(emu.url("/users")).send().await.expect("send")).await;
    assert_graph_error(&r, 401, "InvalidAuthenticationToken");
    assert!(r.header("www-authenticate").is_some());
    let r = to_resp(
        emu.http
            .get(emu.url("/users"))
            .bearer_auth("not-a-jwt")
            .send()
            .await
            .expect("send"),
    )
    .await;
    assert_graph_error(&r, 401, "InvalidAuthenticationToken");
    let tampered = format!("{}x", emu.token);
    let r = to_resp(
        emu.http
            .get(emu.url("/users"))
            .bearer_auth(tampered)
            .send()
            .await
            .expect("send"),
    )
    .await;
    assert_graph_error(&r, 401, "InvalidAuthenticationToken");

    let cfg = EmulatorConfig {
        token_lifetime_secs: 60,
        test_clock: true,
        ..config()
    };
    let short = start_with(cfg).await;
    assert_eq!(short.get("/users").await.status, 200);
    short.advance(58_000).await;
    assert_eq!(
        short.get("/users").await.status,
        200,
        "valid until it expires"
    );
    short.advance(2_000).await;
    let r = short.get("/users").await;
    assert_graph_error(&r, 401, "InvalidAuthenticationToken");
    assert!(r.message().contains("expired"), "{}", r.text);
}

// ------------------------------------------------------------------ errors & ids

#[tokio::test]
async fn every_response_has_request_ids_and_errors_echo_them() {
    let emu = start().await;
    let r = emu
        .get_h(
            "/users/nobody@contoso.com",
            &[("client-request-id", "abc-123")],
        )
        .await;
    assert_graph_error(&r, 404, "Request_ResourceNotFound");
    assert_eq!(r.header("client-request-id").as_deref(), Some("abc-123"));
    assert_eq!(
        r.body["error"]["innerError"]["client-request-id"],
        "abc-123"
    );
    assert_eq!(
        r.message(),
        "Resource 'nobody@contoso.com' does not exist or one of its queried reference-property objects are not present."
    );
    let ok = emu.get("/users").await;
    assert!(ok.header("request-id").is_some() && ok.header("client-request-id").is_some());
    let tok = to_resp(
        emu.http
            .post(format!("{}/contoso/oauth2/v2.0/token", emu.base))
            .form(&[("grant_type", "client_credentials")])
            .send()
            .await
            .expect("send"),
    )
    .await;
    assert!(tok.header("request-id").is_some());
}

#[tokio::test]
async fn odd_requests_get_graph_400s_not_crashes() {
    let emu = start().await;
    let cases: Vec<(reqwest::Method, &str, Option<&str>)> = vec![
        (reqwest::Method::POST, "/users", Some("{not json")),
        (reqwest::Method::POST, "/users", Some("[1,2]")),
        (reqwest::Method::POST, "/groups", Some("")),
        (reqwest::Method::GET, "/groups/not-a-guid", None),
        (reqwest::Method::GET, "/nonsense", None),
        (reqwest::Method::GET, "/users?$filter=((((", None),
        (
            reqwest::Method::GET,
            "/users?$filter=displayName%20eq%20'unterminated",
            None,
        ),
        (reqwest::Method::GET, "/users?$top=-1", None),
        (
            reqwest::Method::GET,
            "/users?$top=99999999999999999999999",
            None,
        ),
        (reqwest::Method::GET, "/users?$skiptoken=%%%garbage", None),
        (reqwest::Method::GET, "/users?$select=nope", None),
        (reqwest::Method::GET, "/users?$wat=1", None),
        (
            reqwest::Method::GET,
            "/users/delta?$deltatoken=garbage",
            None,
        ),
        (
            reqwest::Method::PATCH,
            "/groups/00000000-0000-0000-0000-000000000000",
            Some("{}"),
        ),
        (reqwest::Method::POST, "/$batch", Some("{\"requests\": 5}")),
        (reqwest::Method::PUT, "/users", Some("{}")),
    ];
    for (m, path, body) in cases {
        let mut rb = emu
            .http
            .request(m.clone(), emu.url(path))
            .bearer_auth(&emu.token)
            .header("content-type", "application/json");
        if let Some(b) = body {
            rb = rb.body(b.to_string());
        }
        let r = to_resp(rb.send().await.expect("send")).await;
        assert!(
            (400..500).contains(&r.status),
            "{m} {path}: {} {}",
            r.status,
            r.text
        );
        assert!(
            r.body["error"]["code"].is_string(),
            "{m} {path}: {}",
            r.text
        );
        assert!(
            r.body["error"]["innerError"]["request-id"].is_string(),
            "{m} {path}"
        );
    }
    let r = emu.post("/users", json!("x")).await;
    assert_eq!(r.code(), "BadRequest");
    // Deep nesting in $filter is refused, not recursed into.
    let deep = format!(
        "/users?$filter={}id eq 'x'{}",
        "(".repeat(3000),
        ")".repeat(3000)
    );
    assert_eq!(emu.get(&deep).await.status, 400);
}

// ------------------------------------------------------------------ users

#[tokio::test]
async fn users_crud_with_graph_errors() {
    let emu = start().await;
    let r = emu.post("/users", new_user("alice")).await;
    assert_eq!(r.status, 201);
    let id = r.body["id"].as_str().expect("id").to_string();
    assert_eq!(r.body["userPrincipalName"], "alice@contoso.com");
    assert!(
        r.body["@odata.context"]
            .as_str()
            .expect("ctx")
            .ends_with("$metadata#users/$entity")
    );
    assert!(
        r.body.get("passwordProfile").is_none(),
        "passwords never come back"
    );

    let dup = emu.post("/users", new_user("alice")).await;
    assert_graph_error(&dup, 400, "Request_BadRequest");
    assert_eq!(
        dup.message(),
        "Another object with the same value for property userPrincipalName already exists."
    );
    let mut caps = new_user("x");
    caps["userPrincipalName"] = json!("ALICE@Contoso.com");
    assert_eq!(
        emu.post("/users", caps).await.status,
        400,
        "UPN uniqueness is case-insensitive"
    );

    let mut bad_domain = new_user("bob");
    bad_domain["userPrincipalName"] = json!("bob@unverified.example");
    let r = emu.post("/users", bad_domain).await;
    assert_graph_error(&r, 400, "Request_BadRequest");
    assert!(
        r.message()
            .starts_with("The domain portion of the userPrincipalName property is invalid.")
    );

    for missing in [
        "accountEnabled",
        "displayName",
        "mailNickname",
        "passwordProfile",
        "userPrincipalName",
    ] {
        let mut b = new_user("carol");
        b.as_object_mut().expect("obj").remove(missing);
        let r = emu.post("/users", b).await;
        assert_graph_error(&r, 400, "Request_BadRequest");
        assert!(r.message().contains(missing), "{missing}: {}", r.text);
    }
    let mut weak = new_user("dave");
    weak["passwordProfile"]["password"] = json!("weak");
    assert_eq!(emu.post("/users", weak).await.status, 400);
    let mut unknown = new_user("erin");
    unknown["favouriteColour"] = json!("blue");
    let r = emu.post("/users", unknown).await;
    assert_graph_error(&r, 400, "BadRequest");
    assert!(r.message().contains("favouriteColour"));

    // Get by id and by UPN (case-insensitive).
    assert_eq!(
        emu.get(&format!("/users/{id}")).await.body["displayName"],
        "User alice"
    );
    assert_eq!(
        emu.get("/users/Alice@CONTOSO.com").await.body["id"],
        id.as_str()
    );
    // Update.
    let r = emu
        .patch(
            &format!("/users/{id}"),
            json!({"department": "Sales", "jobTitle": "Rep", "accountEnabled": false}),
        )
        .await;
    assert_eq!(r.status, 204);
    let r = emu
        .get(&format!(
            "/users/{id}?$select=department,jobTitle,accountEnabled"
        ))
        .await;
    assert_eq!(r.body["department"], "Sales");
    assert_eq!(r.body["accountEnabled"], false);
    // Rename the UPN: the old one no longer resolves.
    assert_eq!(
        emu.patch(
            &format!("/users/{id}"),
            json!({"userPrincipalName": "alice.smith@fabrikam.com"})
        )
        .await
        .status,
        204
    );
    assert_eq!(emu.get("/users/alice@contoso.com").await.status, 404);
    assert_eq!(emu.get("/users/alice.smith@fabrikam.com").await.status, 200);
    assert_eq!(
        emu.patch(&format!("/users/{id}"), json!({"id": "x"}))
            .await
            .status,
        400
    );
    // Delete → 204, then 404.
    assert_eq!(emu.delete(&format!("/users/{id}")).await.status, 204);
    assert_graph_error(
        &emu.get(&format!("/users/{id}")).await,
        404,
        "Request_ResourceNotFound",
    );
    assert_eq!(emu.delete(&format!("/users/{id}")).await.status, 404);
}

#[tokio::test]
async fn soft_delete_restore_and_permanent_delete() {
    let emu = start().await;
    let uid = emu.user("frank").await;
    let gid = emu.group("team").await;
    let r = emu.post(&format!("/groups/{gid}/members/$ref"), json!({"@odata.id": format!("https://graph.microsoft.com/v1.0/directoryObjects/{uid}")})).await;
    assert_eq!(r.status, 204);
    assert_eq!(emu.delete(&format!("/users/{uid}")).await.status, 204);
    let del = emu
        .get("/directory/deletedItems/microsoft.graph.user")
        .await;
    assert_eq!(del.status, 200);
    let items = del.body["value"].as_array().expect("value");
    assert_eq!(items.len(), 1);
    assert_eq!(items[0]["id"], uid.as_str());
    assert!(items[0]["deletedDateTime"].is_string());
    assert_eq!(
        emu.get(&format!("/groups/{gid}/members")).await.body["value"]
            .as_array()
            .map(Vec::len),
        Some(0)
    );
    // A new user may take the UPN; restore then conflicts.
    let other = emu.user("frank").await;
    let r = emu
        .post(&format!("/directory/deletedItems/{uid}/restore"), json!({}))
        .await;
    assert_graph_error(&r, 400, "Request_BadRequest");
    assert!(r.message().contains("userPrincipalName"));
    assert_eq!(emu.delete(&format!("/users/{other}")).await.status, 204);
    // Restore brings the user and its memberships back.
    let r = emu
        .post(&format!("/directory/deletedItems/{uid}/restore"), json!({}))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["@odata.type"], "#microsoft.graph.user");
    assert_eq!(emu.get(&format!("/users/{uid}")).await.status, 200);
    let members = emu.get(&format!("/groups/{gid}/members")).await;
    assert_eq!(members.body["value"][0]["id"], uid.as_str());
    // Permanent delete.
    assert_eq!(
        emu.delete(&format!("/directory/deletedItems/{other}"))
            .await
            .status,
        204
    );
    assert_eq!(
        emu.get(&format!("/directory/deletedItems/{other}"))
            .await
            .status,
        404
    );
    assert_eq!(
        emu.post(
            &format!("/directory/deletedItems/{other}/restore"),
            json!({})
        )
        .await
        .status,
        404
    );
}

// ------------------------------------------------------------------ groups & members

#[tokio::test]
async fn security_and_unified_groups() {
    let emu = start().await;
    let sec = emu.group("sec").await;
    let r = emu
        .post(
            "/groups",
            json!({"displayName": "Team M365", "mailEnabled": true, "mailNickname": "teamm365", "securityEnabled": false, "groupTypes": ["Unified"]}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let uni = r.body["id"].as_str().expect("id").to_string();
    assert_eq!(r.body["mail"], "teamm365@contoso.com");
    assert_eq!(r.body["groupTypes"], json!(["Unified"]));
    let r = emu
        .post(
            "/groups",
            json!({"displayName": "x", "mailEnabled": false, "securityEnabled": true}),
        )
        .await;
    assert_graph_error(&r, 400, "Request_BadRequest");
    let r = emu
        .get("/groups?$filter=groupTypes/any(c:c eq 'Unified')")
        .await;
    assert_eq!(r.body["value"].as_array().map(Vec::len), Some(1));
    let r = emu
        .patch(
            &format!("/groups/{sec}"),
            json!({"description": "Security people"}),
        )
        .await;
    assert_eq!(r.status, 204);
    assert_eq!(
        emu.get(&format!("/groups/{sec}")).await.body["description"],
        "Security people"
    );
    // Security groups are deleted permanently; Microsoft 365 groups go to deleted items.
    assert_eq!(emu.delete(&format!("/groups/{sec}")).await.status, 204);
    assert_eq!(emu.delete(&format!("/groups/{uni}")).await.status, 204);
    let del = emu
        .get("/directory/deletedItems/microsoft.graph.group")
        .await;
    let ids: Vec<&str> = del.body["value"]
        .as_array()
        .expect("value")
        .iter()
        .filter_map(|v| v["id"].as_str())
        .collect();
    assert_eq!(ids, vec![uni.as_str()]);
    assert_eq!(
        emu.post(&format!("/directory/deletedItems/{uni}/restore"), json!({}))
            .await
            .status,
        200
    );
    assert_eq!(emu.get(&format!("/groups/{uni}")).await.status, 200);
}

/// Upsert by alternate key (group-upsert.md): `PATCH /groups(uniqueName='…')` with
/// `Prefer: create-if-missing` creates (201) or updates (204); without it a missing
/// group is 404; `uniqueName` is unique and immutable; `GET /groups(uniqueName='…')`.
#[tokio::test]
async fn groups_upsert_by_unique_name() {
    let emu = start().await;
    let body = json!({"displayName": "Golf Assist", "mailEnabled": false,
        "mailNickname": "golfassist", "securityEnabled": true, "description": "one"});
    let patch = reqwest::Method::PATCH;
    let key = "/groups(uniqueName='golf-assist')";
    let r = emu.send(patch.clone(), key, Some(body.clone()), &[]).await;
    assert_graph_error(&r, 404, "Request_ResourceNotFound");
    let prefer = [("Prefer", "create-if-missing")];
    let r = emu
        .send(patch.clone(), key, Some(body.clone()), &prefer)
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let id = r.body["id"].as_str().expect("id").to_string();
    assert_eq!(r.body["uniqueName"], "golf-assist");
    // Again: the same group, updated.
    let mut again = body.clone();
    again["description"] = json!("two");
    let r = emu.send(patch.clone(), key, Some(again), &prefer).await;
    assert_eq!(r.status, 204, "{}", r.text);
    let r = emu
        .get("/groups(uniqueName='golf-assist')?$select=id,description")
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["id"], id.as_str());
    assert_eq!(r.body["description"], "two");
    let r = emu
        .get("/groups?$filter=displayName eq 'Golf Assist'")
        .await;
    assert_eq!(
        r.body["value"].as_array().map(Vec::len),
        Some(1),
        "one group"
    );
    // Unique: a create with a taken uniqueName is refused; immutable once set.
    let mut dup = body.clone();
    dup["uniqueName"] = json!("golf-assist");
    let r = emu.post("/groups", dup).await;
    assert_graph_error(&r, 400, "Request_BadRequest");
    assert!(r.message().contains("uniqueName"), "{}", r.text);
    let r = emu
        .patch(&format!("/groups/{id}"), json!({"uniqueName": "other"}))
        .await;
    assert_graph_error(&r, 400, "Request_BadRequest");
    assert_eq!(emu.get("/groups(uniqueName='nope')").await.status, 404);
    let r = emu.get("/groups(displayName='x')").await;
    assert_eq!(r.status, 400, "{}", r.text);
}

#[tokio::test]
async fn members_ref_add_remove_and_errors() {
    let emu = start().await;
    let gid = emu.group("g").await;
    let uid = emu.user("u1").await;
    let nested = emu.group("nested").await;
    let body = |id: &str| json!({"@odata.id": format!("https://graph.microsoft.com/v1.0/directoryObjects/{id}")});
    assert_eq!(
        emu.post(&format!("/groups/{gid}/members/$ref"), body(&uid))
            .await
            .status,
        204
    );
    assert_eq!(
        emu.post(&format!("/groups/{gid}/members/$ref"), body(&nested))
            .await
            .status,
        204
    );
    let again = emu
        .post(&format!("/groups/{gid}/members/$ref"), body(&uid))
        .await;
    assert_graph_error(&again, 400, "Request_BadRequest");
    assert_eq!(
        again.message(),
        "One or more added object references already exist for the following modified properties: 'members'."
    );
    let ghost = "3f2504e0-4f89-11d3-9a0c-0305e82c3301";
    assert_graph_error(
        &emu.post(&format!("/groups/{gid}/members/$ref"), body(ghost))
            .await,
        404,
        "Request_ResourceNotFound",
    );
    assert_eq!(
        emu.post(
            &format!("/groups/{gid}/members/$ref"),
            json!({"@odata.id": "garbage"})
        )
        .await
        .status,
        400
    );
    let list = emu.get(&format!("/groups/{gid}/members")).await;
    let types: Vec<&str> = list.body["value"]
        .as_array()
        .expect("v")
        .iter()
        .filter_map(|v| v["@odata.type"].as_str())
        .collect();
    assert_eq!(types.len(), 2);
    assert!(types.contains(&"#microsoft.graph.user") && types.contains(&"#microsoft.graph.group"));
    let users_only = emu
        .get(&format!("/groups/{gid}/members/microsoft.graph.user"))
        .await;
    assert_eq!(users_only.body["value"].as_array().map(Vec::len), Some(1));
    // memberOf
    let mo = emu.get(&format!("/users/{uid}/memberOf")).await;
    assert_eq!(mo.body["value"][0]["id"], gid.as_str());
    // Remove.
    assert_eq!(
        emu.delete(&format!("/groups/{gid}/members/{uid}/$ref"))
            .await
            .status,
        204
    );
    assert_graph_error(
        &emu.delete(&format!("/groups/{gid}/members/{uid}/$ref"))
            .await,
        404,
        "Request_ResourceNotFound",
    );
    // Owners.
    assert_eq!(
        emu.post(&format!("/groups/{gid}/owners/$ref"), body(&uid))
            .await
            .status,
        204
    );
    assert_eq!(
        emu.get(&format!("/groups/{gid}/owners")).await.body["value"][0]["id"],
        uid.as_str()
    );
    assert_eq!(
        emu.post(&format!("/groups/{gid}/owners/$ref"), body(&nested))
            .await
            .status,
        400
    );
    // The last user owner cannot be removed (group-delete-owners.md).
    let r = emu
        .delete(&format!("/groups/{gid}/owners/{uid}/$ref"))
        .await;
    assert_eq!(r.status, 400, "{}", r.text);
    assert_eq!(r.body["error"]["code"], "Request_BadRequest");
}

#[tokio::test]
async fn members_odata_bind_limit_and_all_or_nothing() {
    let emu = start().await;
    let gid = emu.group("bind").await;
    let mut ids = Vec::new();
    for i in 0..22 {
        ids.push(emu.user(&format!("b{i}")).await);
    }
    let binds = |xs: &[String]| json!({"members@odata.bind": xs.iter().map(|i| format!("https://graph.microsoft.com/v1.0/directoryObjects/{i}")).collect::<Vec<_>>()});
    let r = emu
        .patch(&format!("/groups/{gid}"), binds(&ids[..21]))
        .await;
    assert_graph_error(&r, 400, "Request_BadRequest");
    assert_eq!(
        emu.get(&format!("/groups/{gid}/members")).await.body["value"]
            .as_array()
            .map(Vec::len),
        Some(0)
    );
    assert_eq!(
        emu.patch(&format!("/groups/{gid}"), binds(&ids[..20]))
            .await
            .status,
        204
    );
    assert_eq!(
        emu.get(&format!("/groups/{gid}/members")).await.body["value"]
            .as_array()
            .map(Vec::len),
        Some(20)
    );
    // One already a member → nothing of the request applies.
    let r = emu
        .patch(
            &format!("/groups/{gid}"),
            binds(&[ids[19].clone(), ids[20].clone()]),
        )
        .await;
    assert_graph_error(&r, 400, "Request_BadRequest");
    assert!(
        r.message()
            .starts_with("One or more added object references already exist")
    );
    assert_eq!(
        emu.get(&format!("/groups/{gid}/members")).await.body["value"]
            .as_array()
            .map(Vec::len),
        Some(20)
    );
    // Unknown reference → 404, nothing applied.
    let r = emu
        .patch(
            &format!("/groups/{gid}"),
            binds(&[
                ids[21].clone(),
                "3f2504e0-4f89-11d3-9a0c-0305e82c3301".into(),
            ]),
        )
        .await;
    assert_graph_error(&r, 404, "Request_ResourceNotFound");
    assert_eq!(
        emu.get(&format!("/groups/{gid}/members")).await.body["value"]
            .as_array()
            .map(Vec::len),
        Some(20)
    );
    // members@odata.bind at creation.
    let r = emu
        .post(
            "/groups",
            json!({"displayName": "created", "mailEnabled": false, "mailNickname": "created", "securityEnabled": true,
                   "members@odata.bind": [format!("https://graph.microsoft.com/v1.0/users/{}", ids[0])]}),
        )
        .await;
    assert_eq!(r.status, 201);
    let cid = r.body["id"].as_str().expect("id");
    assert_eq!(
        emu.get(&format!("/groups/{cid}/members")).await.body["value"][0]["id"],
        ids[0].as_str()
    );
}

// ------------------------------------------------------------------ OData

#[tokio::test]
async fn paging_select_top_and_skiptoken() {
    let emu = start().await;
    for i in 0..250 {
        emu.user(&format!("p{i:03}")).await;
    }
    let first = emu.get("/users").await;
    assert_eq!(
        first.body["value"].as_array().map(Vec::len),
        Some(100),
        "default page size 100"
    );
    let next = first.body["@odata.nextLink"].as_str().expect("nextLink");
    assert!(
        next.starts_with(&format!("{}/v1.0/users?", emu.base)),
        "absolute link on the served address: {next}"
    );
    assert!(next.contains("$skiptoken="));
    let (items, pages) = emu
        .all("/users?$select=id,userPrincipalName&$top=999", &[])
        .await;
    assert_eq!((items.len(), pages), (250, 1));
    assert_eq!(
        items[0].as_object().map(|o| o.len()),
        Some(2),
        "only the selected properties"
    );
    let (items, pages) = emu.all("/users?$select=id&$top=60", &[]).await;
    assert_eq!(items.len(), 250);
    assert_eq!(pages, 5);
    let mut ids: Vec<&str> = items.iter().filter_map(|v| v["id"].as_str()).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 250, "no duplicates across pages");
    // The default property set.
    let one = emu.get("/users?$top=1").await;
    let keys: Vec<&String> = one.body["value"][0]
        .as_object()
        .expect("obj")
        .keys()
        .collect();
    for k in [
        "businessPhones",
        "displayName",
        "givenName",
        "jobTitle",
        "mail",
        "mobilePhone",
        "officeLocation",
        "preferredLanguage",
        "surname",
        "userPrincipalName",
        "id",
    ] {
        assert!(keys.iter().any(|x| *x == k), "{k} in default set");
    }
    assert!(
        !keys.iter().any(|x| *x == "accountEnabled"),
        "accountEnabled only on $select"
    );
    for top in ["0", "1000"] {
        assert_graph_error(
            &emu.get(&format!("/users?$top={top}")).await,
            400,
            "Request_UnsupportedQuery",
        );
    }
    assert_eq!(emu.get("/users?$skiptoken=bm9wZQ").await.status, 400);
    assert_eq!(
        emu.get_h("/users", &[("Prefer", "odata.maxpagesize=7")])
            .await
            .body["value"]
            .as_array()
            .map(Vec::len),
        Some(7)
    );
}

#[tokio::test]
async fn filter_default_and_advanced_queries() {
    let emu = start().await;
    for n in ["anna", "andy", "bert"] {
        emu.user(n).await;
    }
    let uid = emu.user("carl").await;
    emu.patch(&format!("/users/{uid}"), json!({"department": "Sales"}))
        .await;
    let r = emu
        .get("/users?$filter=userPrincipalName eq 'ANNA@contoso.com'")
        .await;
    assert_eq!(r.body["value"].as_array().map(Vec::len), Some(1));
    let r = emu
        .get("/users?$filter=startsWith(displayName,'User a')")
        .await;
    assert_eq!(r.body["value"].as_array().map(Vec::len), Some(2));
    let r = emu.get("/users?$filter=userPrincipalName in ('anna@contoso.com','bert@contoso.com','x@contoso.com')").await;
    assert_eq!(r.body["value"].as_array().map(Vec::len), Some(2));
    let r = emu.get(&format!("/users?$filter=id eq '{uid}'")).await;
    assert_eq!(r.body["value"][0]["id"], uid.as_str());
    // Non-indexed property without advanced query support.
    let r = emu.get("/users?$filter=department eq 'Sales'").await;
    assert_graph_error(&r, 400, "Request_UnsupportedQuery");
    let r = emu
        .get("/users?$filter=endsWith(userPrincipalName,'@contoso.com')")
        .await;
    assert_graph_error(&r, 400, "Request_UnsupportedQuery");
    assert!(r.message().contains("ConsistencyLevel"));
    // With ConsistencyLevel: eventual and $count=true they work, and carry @odata.count.
    let ev = [("ConsistencyLevel", "eventual")];
    let r = emu
        .get_h("/users?$filter=department eq 'Sales'&$count=true", &ev)
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["@odata.count"], 1);
    let r = emu
        .get_h(
            "/users?$filter=endsWith(userPrincipalName,'@contoso.com')&$count=true",
            &ev,
        )
        .await;
    assert_eq!(r.body["@odata.count"], 4);
    let r = emu
        .get_h(
            "/users?$filter=not(startsWith(displayName,'User a'))&$count=true",
            &ev,
        )
        .await;
    assert_eq!(r.body["@odata.count"], 2);
    // Without the header `$count=true` is silently ignored and the `/$count` segment is
    // an error (concepts/aad-advanced-queries.md, "Error handling for advanced queries").
    let r = emu.get("/users?$count=true").await;
    assert_eq!(r.status, 200);
    assert!(r.body.get("@odata.count").is_none(), "{}", r.text);
    assert_eq!(emu.get("/users/$count").await.status, 400);
    let c = emu.get_h("/users/$count", &ev).await;
    assert_eq!((c.status, c.text.as_str()), (200, "4"));
    let g = emu.group("grp").await;
    emu.post(
        &format!("/groups/{g}/members/$ref"),
        json!({"@odata.id": format!("https://graph.microsoft.com/v1.0/directoryObjects/{uid}")}),
    )
    .await;
    assert_eq!(
        emu.get_h(&format!("/groups/{g}/members/$count"), &ev)
            .await
            .text,
        "1"
    );
}

// ------------------------------------------------------------------ $batch

#[tokio::test]
async fn batch_limits_depends_on_and_url_forms() {
    let emu = start().await;
    let reqs: Vec<Value> = (0..21)
        .map(|i| json!({"id": i.to_string(), "method": "GET", "url": "/users"}))
        .collect();
    assert_graph_error(
        &emu.post("/$batch", json!({"requests": reqs})).await,
        400,
        "BadRequest",
    );
    let dup = json!({"requests": [{"id": "1", "method": "GET", "url": "/users"}, {"id": "1", "method": "GET", "url": "/groups"}]});
    assert_eq!(emu.post("/$batch", dup).await.status, 400);
    // One serial chain (json-batching.md known issues: one dependency per request, and
    // the parallel, serial or same pattern only).
    let body = json!({"requests": [
        {"id": "1", "method": "POST", "url": "/users", "headers": {"Content-Type": "application/json"}, "body": new_user("batch1")},
        {"id": "2", "method": "GET", "url": "users/batch1@contoso.com?$select=id", "dependsOn": ["1"]},
        {"id": "3", "method": "POST", "url": "/users", "headers": {"Content-Type": "application/json"}, "body": new_user("batch1"), "dependsOn": ["2"]},
        {"id": "4", "method": "GET", "url": "/users/batch1@contoso.com", "dependsOn": ["3"]},
    ]});
    let r = emu.post("/$batch", body).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let resps = r.body["responses"].as_array().expect("responses").clone();
    let by_id = |id: &str| {
        resps
            .iter()
            .find(|x| x["id"] == id)
            .cloned()
            .expect("response for id")
    };
    assert_eq!(by_id("1")["status"], 201);
    assert_eq!(by_id("2")["status"], 200, "a relative URL without a slash");
    assert_eq!(by_id("2")["body"]["id"], by_id("1")["body"]["id"]);
    assert_eq!(by_id("3")["status"], 400);
    assert_eq!(by_id("3")["body"]["error"]["code"], "Request_BadRequest");
    assert_eq!(by_id("4")["status"], 424);
    let body = json!({"requests": [
        {"id": "5", "method": "POST", "url": "/users", "body": new_user("nobody")},
    ]});
    let r = emu.post("/$batch", body).await;
    assert_eq!(
        r.body["responses"][0]["status"], 400,
        "a body without Content-Type is refused"
    );
    let stats = emu.handle.stats();
    assert!(stats.requests >= 5);
}

#[tokio::test]
async fn throttling_by_resource_units_with_fractional_retry_after() {
    let cfg = EmulatorConfig {
        ru_per_10s: Some(6),
        test_clock: true,
        ..config()
    };
    let emu = start_with(cfg).await;
    emu.freeze().await;
    // List users costs 2 RU; the 4th call in a burst is throttled.
    let mut statuses = Vec::new();
    let mut last = None;
    for _ in 0..4 {
        let r = emu.get("/users").await;
        statuses.push(r.status);
        last = Some(r);
    }
    assert_eq!(statuses, vec![200, 200, 200, 429]);
    let r = last.expect("4 responses");
    assert_graph_error(&r, 429, "TooManyRequests");
    let ra: f64 = r
        .header("retry-after")
        .expect("Retry-After")
        .parse()
        .expect("number");
    assert!(ra > 0.0 && ra <= 10.0, "{ra}");
    assert_eq!(r.header("x-ms-resource-unit").as_deref(), Some("2"));
    // On the frozen clock: just short of the advice the request is still refused, at the
    // advice it fits.
    let advised = (ra * 1000.0).ceil() as u64;
    emu.advance(advised - 10).await;
    assert_eq!(emu.get("/users").await.status, 429);
    emu.advance(10).await;
    assert_eq!(emu.get("/users").await.status, 200);
    // $select makes it cheaper (1 RU): it fits where the full listing does not.
    emu.advance(1700).await;
    assert_eq!(emu.get("/users").await.status, 429);
    let ok = emu.get("/users?$select=id").await;
    assert_eq!(ok.status, 200);
    assert_eq!(ok.header("x-ms-resource-unit").as_deref(), Some("1"));
    assert!(emu.handle.stats().throttled >= 1);

    // Inside a batch each request is throttled on its own, with its own Retry-After.
    let cfg = EmulatorConfig {
        ru_per_10s: Some(3),
        ..config()
    };
    let emu = start_with(cfg).await;
    let reqs: Vec<Value> = (0..5).map(|i| json!({"id": i.to_string(), "method": "GET", "url": "/groups/00000000-0000-0000-0000-000000000001"})).collect();
    let r = emu.post("/$batch", json!({"requests": reqs})).await;
    let resps = r.body["responses"].as_array().expect("responses");
    let throttled: Vec<&Value> = resps.iter().filter(|x| x["status"] == 429).collect();
    assert_eq!(throttled.len(), 2, "{}", r.text);
    assert!(
        throttled[0]["headers"]["Retry-After"]
            .as_str()
            .expect("Retry-After")
            .parse::<f64>()
            .is_ok()
    );
    assert_eq!(throttled[0]["body"]["error"]["code"], "TooManyRequests");
    let stats = emu.handle.stats();
    assert_eq!(stats.requests, 5);
    assert_eq!(stats.http_requests, 2, "token + batch");
}

#[tokio::test]
async fn write_budget_throttles_writes_only() {
    let cfg = EmulatorConfig {
        writes_per_150s: Some(2),
        ..config()
    };
    let emu = start_with(cfg).await;
    emu.user("w1").await;
    emu.user("w2").await;
    let r = emu.post("/users", new_user("w3")).await;
    assert_graph_error(&r, 429, "TooManyRequests");
    assert_eq!(emu.get("/users").await.status, 200);
}

// ------------------------------------------------------------------ delta

#[tokio::test]
async fn users_delta_rounds_removed_and_latest() {
    let emu = start().await;
    let mut ids = Vec::new();
    for i in 0..5 {
        ids.push(emu.user(&format!("d{i}")).await);
    }
    let hdr = [("Prefer", "odata.maxpagesize=2")];
    let mut url = emu.url("/users/delta?$select=displayName,userPrincipalName");
    let mut seen = 0;
    let delta_link = loop {
        let r = emu.get_h(&url, &hdr).await;
        assert_eq!(r.status, 200, "{}", r.text);
        seen += r.body["value"].as_array().map(Vec::len).unwrap_or(0);
        if let Some(n) = r.body["@odata.nextLink"].as_str() {
            assert!(n.starts_with(&emu.base));
            url = n.to_string();
        } else {
            break r.body["@odata.deltaLink"]
                .as_str()
                .expect("deltaLink")
                .to_string();
        }
    };
    assert_eq!(seen, 5);
    // No changes → empty round.
    let r = emu.get(&delta_link).await;
    assert_eq!(r.body["value"].as_array().map(Vec::len), Some(0));
    let delta_link = r.body["@odata.deltaLink"]
        .as_str()
        .expect("deltaLink")
        .to_string();
    // One update, one soft delete, one create.
    emu.patch(
        &format!("/users/{}", ids[0]),
        json!({"displayName": "Renamed"}),
    )
    .await;
    emu.delete(&format!("/users/{}", ids[1])).await;
    let new_id = emu.user("d9").await;
    let r = emu.get(&delta_link).await;
    let v = r.body["value"].as_array().expect("value");
    assert_eq!(v.len(), 3, "{}", r.text);
    let find = |id: &str| v.iter().find(|x| x["id"] == id).cloned().expect("present");
    assert_eq!(find(&ids[0])["displayName"], "Renamed");
    assert_eq!(find(&ids[1])["@removed"]["reason"], "changed");
    assert!(
        find(&new_id)["userPrincipalName"].is_string(),
        "the $select of the first round is kept"
    );
    // Permanent delete → reason deleted.
    let dl = r.body["@odata.deltaLink"]
        .as_str()
        .expect("deltaLink")
        .to_string();
    emu.delete(&format!("/directory/deletedItems/{}", ids[1]))
        .await;
    let r = emu.get(&dl).await;
    assert_eq!(r.body["value"][0]["@removed"]["reason"], "deleted");
    // $deltatoken=latest: nothing now, later changes next round.
    let r = emu.get("/users/delta?$deltatoken=latest").await;
    assert_eq!(r.body["value"].as_array().map(Vec::len), Some(0));
    let latest = r.body["@odata.deltaLink"]
        .as_str()
        .expect("deltaLink")
        .to_string();
    emu.patch(&format!("/users/{}", ids[2]), json!({"jobTitle": "x"}))
        .await;
    let r = emu.get(&latest).await;
    assert_eq!(r.body["value"].as_array().map(Vec::len), Some(1));
    assert_eq!(r.body["value"][0]["id"], ids[2].as_str());
}

#[tokio::test]
async fn groups_delta_with_members_delta() {
    let emu = start().await;
    let gid = emu.group("dg").await;
    let a = emu.user("ma").await;
    let b = emu.user("mb").await;
    let r = |id: &str| json!({"@odata.id": format!("https://graph.microsoft.com/v1.0/directoryObjects/{id}")});
    emu.post(&format!("/groups/{gid}/members/$ref"), r(&a))
        .await;
    let first = emu.get("/groups/delta?$select=displayName,members").await;
    assert_eq!(first.status, 200, "{}", first.text);
    assert_eq!(first.body["value"][0]["members@delta"][0]["id"], a.as_str());
    let dl = first.body["@odata.deltaLink"]
        .as_str()
        .expect("deltaLink")
        .to_string();
    emu.post(&format!("/groups/{gid}/members/$ref"), r(&b))
        .await;
    emu.delete(&format!("/groups/{gid}/members/{a}/$ref")).await;
    let next = emu.get(&dl).await;
    let md = next.body["value"][0]["members@delta"]
        .as_array()
        .expect("members@delta")
        .clone();
    assert_eq!(md.len(), 2, "{}", next.text);
    let removed = md.iter().find(|m| m["id"] == a.as_str()).expect("a");
    assert_eq!(removed["@removed"]["reason"], "deleted");
    let added = md.iter().find(|m| m["id"] == b.as_str()).expect("b");
    assert!(added.get("@removed").is_none());
    assert_eq!(added["@odata.type"], "#microsoft.graph.user");
    // Deleted security group shows up as removed.
    let dl = next.body["@odata.deltaLink"]
        .as_str()
        .expect("deltaLink")
        .to_string();
    emu.delete(&format!("/groups/{gid}")).await;
    let r = emu.get(&dl).await;
    assert_eq!(r.body["value"][0]["@removed"]["reason"], "deleted");
}

#[tokio::test]
async fn expired_delta_tokens_are_410_sync_state_not_found() {
    let cfg = EmulatorConfig {
        delta_token_ttl_secs: 60,
        test_clock: true,
        ..config()
    };
    let emu = start_with(cfg).await;
    emu.user("e1").await;
    let r = emu.get("/users/delta").await;
    let dl = r.body["@odata.deltaLink"]
        .as_str()
        .expect("deltaLink")
        .to_string();
    emu.advance(61_000).await;
    let r = emu.get(&dl).await;
    assert_graph_error(&r, 410, "syncStateNotFound");
}

/// A tenant persisted to a state file in a fresh folder (kept alive by the guard).
fn persisted() -> (tempfile::TempDir, std::path::PathBuf, EmulatorConfig) {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("tenant.json");
    let cfg = EmulatorConfig {
        state_file: Some(path.clone()),
        persist_debounce_ms: 50,
        ..config()
    };
    (dir, path, cfg)
}

/// The displayName of every item of a collection page.
fn display_names(r: &Resp) -> Vec<&str> {
    r.body["value"]
        .as_array()
        .expect("value")
        .iter()
        .filter_map(|u| u["displayName"].as_str())
        .collect()
}

#[tokio::test]
async fn delta_tokens_survive_a_restart_but_not_a_new_tenant_state() {
    let (_dir, _path, cfg) = persisted();
    let emu = start_with(cfg.clone()).await;
    emu.user("d1").await;
    // "Sync from now": an empty page with a deltaLink.
    let r = emu
        .get("/users/delta?$select=displayName&$deltatoken=latest")
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body["value"].as_array().map(Vec::len), Some(0));
    let dl = r.body["@odata.deltaLink"]
        .as_str()
        .expect("deltaLink")
        .to_string();
    let token = dl.split("$deltatoken=").nth(1).expect("token").to_string();
    emu.user("d2").await;
    emu.handle.shutdown().await.expect("shutdown");

    // The same state file: the token still works and shows the change made after it.
    let emu = start_with(cfg).await;
    let r = emu.get(&format!("/users/delta?$deltatoken={token}")).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let names = display_names(&r);
    assert_eq!(names, vec!["User d2"]);
    emu.handle.shutdown().await.expect("shutdown");

    // A fresh tenant state (same tenant id, another change log): the token is refused.
    let other = start().await;
    other.user("x1").await;
    other.user("x2").await;
    let r = other
        .get(&format!("/users/delta?$deltatoken={token}"))
        .await;
    assert_graph_error(&r, 410, "syncStateNotFound");
}

#[tokio::test]
async fn objects_still_replicating_come_in_a_later_delta_round() {
    let emu = start_with(EmulatorConfig {
        replication_lag_ms: 300,
        test_clock: true,
        ..config()
    })
    .await;
    let r = emu
        .get("/users/delta?$select=displayName&$deltatoken=latest")
        .await;
    let first = r.body["@odata.deltaLink"]
        .as_str()
        .expect("deltaLink")
        .to_string();
    emu.user("lagging").await;
    // While the new user replicates, a round neither shows it nor moves past it.
    let r = emu.get(&first).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["value"].as_array().map(Vec::len), Some(0));
    let second = r.body["@odata.deltaLink"]
        .as_str()
        .expect("deltaLink")
        .to_string();
    emu.advance(300).await;
    let r = emu.get(&second).await;
    let names = display_names(&r);
    assert_eq!(names, vec!["User lagging"]);
}

// ------------------------------------------------------------------ licenses & domains

#[tokio::test]
async fn licenses_seats_and_usage_location() {
    let emu = start().await;
    let skus = emu.get("/subscribedSkus").await;
    let sku = skus.body["value"][0].clone();
    assert_eq!(sku["skuPartNumber"], "ENTERPRISEPACK");
    assert_eq!(sku["prepaidUnits"]["enabled"], 3);
    let sku_id = sku["skuId"].as_str().expect("skuId").to_string();
    let assign =
        json!({"addLicenses": [{"skuId": sku_id, "disabledPlans": []}], "removeLicenses": []});
    let u = emu.user("lic0").await;
    let r = emu
        .post(&format!("/users/{u}/assignLicense"), assign.clone())
        .await;
    assert_graph_error(&r, 400, "Request_BadRequest");
    assert_eq!(
        r.message(),
        "License assignment cannot be done for user with invalid usage location."
    );
    let mut users = Vec::new();
    for i in 0..4 {
        let id = emu.user(&format!("lic{}", i + 1)).await;
        emu.patch(&format!("/users/{id}"), json!({"usageLocation": "US"}))
            .await;
        users.push(id);
    }
    for id in &users[..3] {
        let r = emu
            .post(&format!("/users/{id}/assignLicense"), assign.clone())
            .await;
        assert_eq!(r.status, 200, "{}", r.text);
    }
    let r = emu
        .post(
            &format!("/users/{}/assignLicense", users[3]),
            assign.clone(),
        )
        .await;
    assert_graph_error(&r, 400, "Request_BadRequest");
    assert!(
        r.message().contains("does not have any available licenses"),
        "{}",
        r.text
    );
    assert_eq!(
        emu.get("/subscribedSkus").await.body["value"][0]["consumedUnits"],
        3
    );
    let got = emu
        .get(&format!("/users/{}?$select=assignedLicenses", users[0]))
        .await;
    assert_eq!(got.body["assignedLicenses"][0]["skuId"], sku_id.as_str());
    let remove = json!({"addLicenses": [], "removeLicenses": [sku_id]});
    assert_eq!(
        emu.post(&format!("/users/{}/assignLicense", users[0]), remove)
            .await
            .status,
        200
    );
    assert_eq!(
        emu.get("/subscribedSkus").await.body["value"][0]["consumedUnits"],
        2
    );
    // Deleting a licensed user frees its seat.
    emu.delete(&format!("/users/{}", users[1])).await;
    assert_eq!(
        emu.get("/subscribedSkus").await.body["value"][0]["consumedUnits"],
        1
    );
    let bogus = json!({"addLicenses": [{"skuId": "3f2504e0-4f89-11d3-9a0c-0305e82c3301"}], "removeLicenses": []});
    assert_eq!(
        emu.post(&format!("/users/{}/assignLicense", users[3]), bogus)
            .await
            .status,
        400
    );
    assert_eq!(
        emu.post(
            &format!("/users/{}/assignLicense", users[3]),
            json!({"addLicenses": []})
        )
        .await
        .status,
        400
    );
}

#[tokio::test]
async fn domains_list_the_verified_domains() {
    let emu = start().await;
    let r = emu.get("/domains").await;
    let v = r.body["value"].as_array().expect("value");
    // The configured domains, then the tenant's initial domain.
    assert_eq!(v.len(), 3);
    assert_eq!(v[0]["id"], "contoso.com");
    assert_eq!(v[0]["isDefault"], true);
    assert_eq!(v[1]["isDefault"], false);
    assert_eq!(v[2]["id"], "contoso.onmicrosoft.com");
    assert_eq!(v[2]["isInitial"], true);
    assert!(v.iter().all(|d| d["isVerified"] == true));
    assert_eq!(
        emu.get("/domains/fabrikam.com").await.body["id"],
        "fabrikam.com"
    );
}

// ------------------------------------------------------------------ faults & lag

async fn outcomes(seed: u64) -> Vec<String> {
    let cfg = EmulatorConfig {
        fault_rate: 0.5,
        seed,
        ..config()
    };
    let emu = start_with(cfg).await;
    let mut out = Vec::new();
    for _ in 0..30 {
        let r = emu
            .http
            .get(emu.url("/users"))
            .bearer_auth(&emu.token)
            .send()
            .await;
        out.push(match r {
            Ok(r) => {
                let s = r.status().as_u16();
                match r.bytes().await {
                    Ok(_) => s.to_string(),
                    Err(_) => "dropped".to_string(),
                }
            }
            Err(_) => "dropped".to_string(),
        });
    }
    out
}

#[tokio::test]
async fn seeded_faults_are_reproducible() {
    let a = outcomes(42).await;
    let b = outcomes(42).await;
    assert_eq!(a, b, "same seed, same faults");
    for kind in ["200", "503", "504", "dropped"] {
        assert!(a.iter().any(|x| x == kind), "{kind} occurs in {a:?}");
    }
    let c = outcomes(7).await;
    assert_ne!(a, c, "another seed, other faults");
}

#[tokio::test]
async fn replication_lag_hides_new_objects_from_reads_and_refs() {
    let cfg = EmulatorConfig {
        replication_lag_ms: 600,
        test_clock: true,
        ..config()
    };
    let emu = start_with(cfg).await;
    let gid = {
        let r = emu.post("/groups", json!({"displayName": "lag", "mailEnabled": false, "mailNickname": "lag", "securityEnabled": true})).await;
        r.body["id"].as_str().expect("id").to_string()
    };
    let uid = emu.user("lagged").await;
    assert_graph_error(
        &emu.get(&format!("/users/{uid}")).await,
        404,
        "Request_ResourceNotFound",
    );
    assert_eq!(
        emu.get("/users").await.body["value"]
            .as_array()
            .map(Vec::len),
        Some(0)
    );
    emu.advance(600).await;
    let uid2 = emu.user("lagged2").await;
    let r = emu.post(&format!("/groups/{gid}/members/$ref"), json!({"@odata.id": format!("https://graph.microsoft.com/v1.0/directoryObjects/{uid2}")})).await;
    assert_graph_error(&r, 404, "Request_ResourceNotFound");
    assert_eq!(emu.get(&format!("/users/{uid}")).await.status, 200);
    emu.advance(600).await;
    let r = emu.post(&format!("/groups/{gid}/members/$ref"), json!({"@odata.id": format!("https://graph.microsoft.com/v1.0/directoryObjects/{uid2}")})).await;
    assert_eq!(r.status, 204);
}

// ------------------------------------------------------------------ persistence

#[tokio::test]
async fn state_file_persists_atomically_and_its_tenant_wins() {
    let (dir, path, cfg) = persisted();
    let emu = start_with(cfg.clone()).await;
    assert!(path.exists(), "created on start");
    let uid = emu.user("persist").await;
    let gid = emu.group("pgroup").await;
    emu.post(
        &format!("/groups/{gid}/members/$ref"),
        json!({"@odata.id": format!("https://graph.microsoft.com/v1.0/directoryObjects/{uid}")}),
    )
    .await;
    // Debounced write happens without shutdown.
    let mut found = false;
    for _ in 0..50 {
        tokio::time::sleep(Duration::from_millis(50)).await;
        if std::fs::read_to_string(&path)
            .unwrap_or_default()
            .contains("persist@contoso.com")
        {
            found = true;
            break;
        }
    }
    assert!(found, "the state file is written after a write");
    let tenant_id = emu.handle.tenant_id();
    emu.handle.shutdown().await.expect("shutdown");
    let leftovers: Vec<_> = std::fs::read_dir(dir.path())
        .expect("ls")
        .flatten()
        .filter(|e| e.file_name() != "tenant.json")
        .collect();
    assert!(leftovers.is_empty(), "no temp files left");
    // Restart with another tenant name and an extra SKU: the file's tenant wins, the SKU is added.
    let cfg2 = EmulatorConfig {
        tenant: "other".into(),
        skus: vec![("ENTERPRISEPACK".into(), 3), ("EMS".into(), 10)],
        ..cfg
    };
    let handle = roster::emulator::start(cfg2, "127.0.0.1:0".parse().expect("addr"))
        .await
        .expect("restart");
    let http = reqwest::Client::new();
    let token = get_token(&http, &handle.base_url(), "contoso").await;
    let emu2 = Emu {
        base: handle.base_url(),
        handle,
        http,
        token,
    };
    assert_eq!(emu2.handle.tenant_id(), tenant_id);
    assert_eq!(emu2.get("/users/persist@contoso.com").await.status, 200);
    assert_eq!(
        emu2.get(&format!("/groups/{gid}/members")).await.body["value"][0]["id"],
        uid.as_str()
    );
    assert_eq!(
        emu2.get("/subscribedSkus").await.body["value"]
            .as_array()
            .map(Vec::len),
        Some(2)
    );
    emu2.handle.shutdown().await.expect("shutdown");
    // A corrupt state file is an error naming the file, not a silent reset.
    std::fs::write(&path, b"{ torn").expect("write");
    let err = roster::emulator::start(
        EmulatorConfig {
            state_file: Some(path.clone()),
            ..config()
        },
        "127.0.0.1:0".parse().expect("addr"),
    )
    .await
    .err()
    .expect("refused");
    assert!(format!("{err:#}").contains("tenant.json"));
}

#[tokio::test]
async fn stats_count_requests_http_exchanges_and_writes() {
    let emu = start().await;
    emu.user("s1").await;
    emu.get("/users").await;
    let body = json!({"requests": [
        {"id": "a", "method": "GET", "url": "/users"},
        {"id": "b", "method": "GET", "url": "/groups"},
        {"id": "c", "method": "DELETE", "url": "/users/s1@contoso.com"}
    ]});
    emu.post("/$batch", body).await;
    let s: Value = reqwest::get(format!("{}/_emulator/stats", emu.base))
        .await
        .expect("get")
        .json()
        .await
        .expect("json");
    assert_eq!(s["requests"], 5);
    assert_eq!(s["http_requests"], 4, "token + 3 Graph exchanges");
    assert_eq!(s["writes"], 2);
    assert_eq!(s["throttled"], 0);
}

// ------------------------------------------------------------------ test clock

#[tokio::test]
async fn the_clock_control_exists_only_with_a_test_clock() {
    let emu = start().await;
    let r = to_resp(
        emu.http
            .post(format!("{}/_emulator/clock", emu.base))
            .json(&json!({"advance_ms": 1000}))
            .send()
            .await
            .expect("send"),
    )
    .await;
    let unknown = to_resp(
        emu.http
            .post(format!("{}/_emulator/nothing", emu.base))
            .json(&json!({"advance_ms": 1000}))
            .send()
            .await
            .expect("send"),
    )
    .await;
    assert_eq!(r.status, unknown.status, "answered like any unknown path");
    assert_eq!(r.code(), unknown.code());
    assert!(emu.handle.advance_clock(Duration::from_secs(1)).is_err());

    let emu = start_with(EmulatorConfig {
        test_clock: true,
        ..config()
    })
    .await;
    let set = to_resp(
        emu.http
            .post(format!("{}/_emulator/clock", emu.base))
            .json(&json!({"set": "2031-05-06T07:08:09Z", "freeze": true}))
            .send()
            .await
            .expect("send"),
    )
    .await;
    assert_eq!(set.status, 200, "{}", set.text);
    assert_eq!(set.body["now"], "2031-05-06T07:08:09Z");
    let bad = to_resp(
        emu.http
            .post(format!("{}/_emulator/clock", emu.base))
            .json(&json!({"advance_ms": -5}))
            .send()
            .await
            .expect("send"),
    )
    .await;
    assert_eq!(bad.status, 400, "{}", bad.text);
    // Error bodies carry the emulator's date.
    let r = emu.get("/users/nobody@contoso.com").await;
    assert_eq!(
        r.body["error"]["innerError"]["date"], "2031-05-06T07:08:09",
        "{}",
        r.text
    );
}
