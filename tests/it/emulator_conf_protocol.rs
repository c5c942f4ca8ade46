//! Conformance of the emulator's protocol surface with Microsoft's Graph documentation
//! (microsoftgraph/microsoft-graph-docs-contrib): transport, throttling headers and
//! resource-unit costs, `$batch` rules, group owners and members, identifiers and
//! group creation rules. Each test names the page it follows.

use crate::emulator_support as support;

use roster::emulator::{self, EmulatorConfig};
use serde_json::{Value, json};
use support::*;

/// Whether the emulator's end of the connection from local port `client_port` to
/// `server_port` has TCP_NODELAY set (the emulator runs in this process, so its
/// accepted socket is one of this process's file descriptors).
fn server_socket_nodelay(server_port: u16, client_port: u16) -> Option<bool> {
    fn port_of(addr: &libc::sockaddr_storage) -> Option<u16> {
        match i32::from(addr.ss_family) {
            libc::AF_INET => {
                // SAFETY: the family says the storage holds a sockaddr_in.
                let a = unsafe { &*(addr as *const _ as *const libc::sockaddr_in) };
                Some(u16::from_be(a.sin_port))
            }
            libc::AF_INET6 => {
                // SAFETY: the family says the storage holds a sockaddr_in6.
                let a = unsafe { &*(addr as *const _ as *const libc::sockaddr_in6) };
                Some(u16::from_be(a.sin6_port))
            }
            _ => None,
        }
    }
    for entry in std::fs::read_dir("/proc/self/fd").ok()? {
        let Ok(fd) = entry.ok()?.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        // SAFETY: getsockname/getpeername/getsockopt only write into the buffers
        // given; a descriptor that is not a socket makes them fail.
        unsafe {
            let mut local: libc::sockaddr_storage = std::mem::zeroed();
            let mut len = std::mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;
            if libc::getsockname(fd, &mut local as *mut _ as *mut libc::sockaddr, &mut len) != 0 {
                continue;
            }
            let mut peer: libc::sockaddr_storage = std::mem::zeroed();
            let mut len = std::mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;
            if libc::getpeername(fd, &mut peer as *mut _ as *mut libc::sockaddr, &mut len) != 0 {
                continue;
            }
            if port_of(&local) != Some(server_port) || port_of(&peer) != Some(client_port) {
                continue;
            }
            let mut v: libc::c_int = 0;
            let mut vlen = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
            if libc::getsockopt(
                fd,
                libc::IPPROTO_TCP,
                libc::TCP_NODELAY,
                &mut v as *mut _ as *mut libc::c_void,
                &mut vlen,
            ) != 0
            {
                return None;
            }
            return Some(v != 0);
        }
    }
    None
}

async fn accepted_nodelay(server_port: u16) -> bool {
    let conn = tokio::net::TcpStream::connect(("127.0.0.1", server_port))
        .await
        .expect("connect");
    let client_port = conn.local_addr().expect("local addr").port();
    for _ in 0..50 {
        if let Some(v) = server_socket_nodelay(server_port, client_port) {
            return v;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    panic!("the emulator never accepted the connection");
}

// Not a Graph documentation item: a server that writes a response in several pieces
// must not let Nagle's algorithm hold the last one back for a delayed ACK.
#[tokio::test]
async fn accepted_sockets_have_tcp_nodelay_over_http() {
    let emu = start().await;
    assert!(accepted_nodelay(emu.handle.local_addr().port()).await);
}

#[tokio::test]
async fn accepted_sockets_have_tcp_nodelay_over_https() {
    let certs = crate::support::tls::TestCerts::for_names(&["DNS:localhost", "IP:127.0.0.1"]);
    let handle = emulator::start(
        EmulatorConfig {
            tls: Some((certs.cert.clone(), certs.key.clone())),
            ..config()
        },
        "127.0.0.1:0".parse().expect("addr"),
    )
    .await
    .expect("emulator starts");
    assert!(accepted_nodelay(handle.local_addr().port()).await);
}

fn bind(id: &str) -> Value {
    json!({ "@odata.id": format!("https://graph.microsoft.com/v1.0/directoryObjects/{id}") })
}

fn ru(r: &Resp) -> u32 {
    r.header("x-ms-resource-unit")
        .expect("x-ms-resource-unit")
        .parse()
        .expect("a number")
}

// ------------------------------------------------------------------ throttling

// concepts/throttling-limits.md, "Identity and access service limits": base costs
// (`GET users` 2, `GET groups/{id}/members` 3, `GET subscribedSkus` 3, `GET me/memberOf`
// 2 — the `me/` costs apply to `users/{id | userPrincipalName}/`; any other path 1),
// "$select decreases cost by 1", "$expand increases cost by 1", "$top with a value of
// less than 20 decreases cost by 1", "A request cost can never be lower than 1".
#[tokio::test]
async fn resource_unit_costs_follow_the_documented_table() {
    let emu = start().await;
    let u = emu.user("alice").await;
    let g = emu.group("sg1").await;
    assert_eq!(emu.add_member(&g, &u).await.status, 204);
    let cases: Vec<(String, u32)> = vec![
        ("/users".into(), 2),
        ("/users?$select=id".into(), 1),
        ("/users?$top=5".into(), 1),
        ("/users?$top=20".into(), 2),
        ("/users?$top=5&$select=id".into(), 1),
        ("/users?$expand=manager".into(), 3),
        ("/groups".into(), 1),
        (format!("/groups/{g}"), 1),
        (format!("/groups/{g}/members"), 3),
        (format!("/groups/{g}/members?$select=id"), 2),
        (format!("/groups/{g}/owners"), 1),
        (format!("/users/{u}/memberOf"), 2),
        ("/users/alice@contoso.com/memberOf".into(), 2),
        (format!("/users/{u}"), 1),
        ("/subscribedSkus".into(), 3),
        ("/organization".into(), 1),
    ];
    for (path, want) in cases {
        let r = emu.get(&path).await;
        assert_eq!(r.status, 200, "{path}: {}", r.text);
        assert_eq!(ru(&r), want, "{path}");
    }
    // Writes: 1 RU.
    let r = emu
        .patch(&format!("/users/{u}"), json!({"jobTitle": "x"}))
        .await;
    assert_eq!(r.status, 204, "{}", r.text);
    assert_eq!(ru(&r), 1);
}

// concepts/throttling-limits.md, "Throttled responses requests": `x-ms-throttle-scope`
// (`<Scope>/<Limit>/<ApplicationId>/<TenantId>`) and `x-ms-throttle-information`
// (`ResourceUnitLimitExceeded`, `WriteLimitExceeded`); concepts/throttling.md sample
// response: 429 TooManyRequests with Retry-After.
#[tokio::test]
async fn throttled_responses_name_scope_and_reason() {
    let emu = start_with(EmulatorConfig {
        ru_per_10s: Some(4),
        test_clock: true,
        ..config()
    })
    .await;
    emu.freeze().await;
    let tenant = emu.handle.tenant_id();
    assert_eq!(emu.get("/users").await.status, 200);
    assert_eq!(emu.get("/users").await.status, 200);
    let r = emu.get("/users").await;
    assert_graph_error(&r, 429, "TooManyRequests");
    assert!(r.header("retry-after").is_some());
    assert_eq!(
        r.header("x-ms-throttle-scope").as_deref(),
        Some(format!("Tenant_Application/ReadWrite/{CLIENT}/{tenant}").as_str())
    );
    assert_eq!(
        r.header("x-ms-throttle-information").as_deref(),
        Some("ResourceUnitLimitExceeded")
    );

    let emu = start_with(EmulatorConfig {
        writes_per_150s: Some(1),
        ..config()
    })
    .await;
    emu.user("w1").await;
    let r = emu.post("/users", new_user("w2")).await;
    assert_graph_error(&r, 429, "TooManyRequests");
    assert_eq!(
        r.header("x-ms-throttle-scope").as_deref(),
        Some(
            format!(
                "Tenant_Application/Write/{CLIENT}/{}",
                emu.handle.tenant_id()
            )
            .as_str()
        )
    );
    assert_eq!(
        r.header("x-ms-throttle-information").as_deref(),
        Some("WriteLimitExceeded")
    );
}

// concepts/throttling-limits.md, "Regular responses requests": x-ms-throttle-limit-percentage
// is "Returned only when the application consumed more than 0.8 of its limit".
#[tokio::test]
async fn limit_percentage_appears_above_eighty_percent() {
    let emu = start_with(EmulatorConfig {
        ru_per_10s: Some(10),
        test_clock: true,
        ..config()
    })
    .await;
    emu.freeze().await;
    let mut seen = Vec::new();
    for _ in 0..5 {
        let r = emu.get("/users").await;
        assert_eq!(r.status, 200, "{}", r.text);
        seen.push(r.header("x-ms-throttle-limit-percentage"));
    }
    // 2, 4, 6, 8 of 10 used: not above 0.8; 10 of 10: 1.00.
    assert_eq!(seen[..4], [None, None, None, None]);
    let p: f64 = seen[4]
        .as_deref()
        .expect("percentage")
        .parse()
        .expect("number");
    assert!((0.8..=1.8).contains(&p) && p > 0.8, "{p}");
}

// ------------------------------------------------------------------ $batch

async fn batch(emu: &Emu, requests: Value) -> Resp {
    emu.post("/$batch", json!({ "requests": requests })).await
}

// concepts/json-batching.md, request property id: "Not case-sensitive. Must be unique in
// the batch, otherwise, the batch request fails with a 400 error code."
#[tokio::test]
async fn batch_ids_are_not_case_sensitive() {
    let emu = start().await;
    let r = batch(
        &emu,
        json!([
            {"id": "a", "method": "GET", "url": "/users"},
            {"id": "A", "method": "GET", "url": "/groups"}
        ]),
    )
    .await;
    assert_graph_error(&r, 400, "BadRequest");
    // A dependency may name an id in another case.
    let r = batch(
        &emu,
        json!([
            {"id": "a", "method": "GET", "url": "/users"},
            {"id": "b", "method": "GET", "url": "/groups", "dependsOn": ["A"]}
        ]),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
}

// concepts/includes/known-issues/json-batching.md, "Request dependencies are limited":
// "requests can only depend on a single other request, and must follow one of these
// three patterns: Parallel … Serial … Same".
#[tokio::test]
async fn batch_dependencies_follow_the_supported_patterns() {
    let emu = start().await;
    let get = |id: &str, deps: &[&str]| {
        let mut r = json!({"id": id, "method": "GET", "url": "/organization"});
        if !deps.is_empty() {
            r["dependsOn"] = json!(deps);
        }
        r
    };
    // Parallel, serial and same are run.
    for reqs in [
        json!([get("1", &[]), get("2", &[]), get("3", &[])]),
        json!([get("1", &[]), get("2", &["1"]), get("3", &["2"])]),
        json!([get("1", &[]), get("2", &["1"]), get("3", &["1"])]),
    ] {
        let r = batch(&emu, reqs.clone()).await;
        assert_eq!(r.status, 200, "{reqs}: {}", r.text);
        let resps = r.body["responses"].as_array().expect("responses");
        assert!(resps.iter().all(|x| x["status"] == 200), "{}", r.text);
    }
    // Two dependencies, or a mix of patterns: the batch is refused.
    for reqs in [
        json!([get("1", &[]), get("2", &[]), get("3", &["1", "2"])]),
        json!([
            get("1", &[]),
            get("2", &[]),
            get("3", &["2"]),
            get("4", &["1"])
        ]),
    ] {
        let r = batch(&emu, reqs.clone()).await;
        assert_graph_error(&r, 400, "BadRequest");
    }
    // Graph's text for a mixed batch (microsoftgraph/microsoft-graph-docs issue #16280).
    let r = batch(
        &emu,
        json!([
            get("1", &[]),
            get("2", &["1"]),
            get("3", &["2"]),
            get("4", &[])
        ]),
    )
    .await;
    assert_graph_error(&r, 400, "BadRequest");
    assert_eq!(
        r.message(),
        "Batch should be either fully sequential or fully parallel."
    );
}

// concepts/json-batching.md, request property url: "The relative resource URL for the
// individual request"; known issue "URIs must be relative". An absolute URL naming
// another host is not run.
#[tokio::test]
async fn batch_urls_are_relative_to_this_service() {
    let emu = start().await;
    let own = format!("{}/v1.0/organization", emu.base);
    let r = batch(
        &emu,
        json!([
            {"id": "1", "method": "GET", "url": "/organization"},
            {"id": "2", "method": "GET", "url": "organization"},
            {"id": "3", "method": "GET", "url": "https://example.com/v1.0/organization"},
            {"id": "4", "method": "GET", "url": own}
        ]),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let by = |id: &str| {
        r.body["responses"]
            .as_array()
            .expect("responses")
            .iter()
            .find(|x| x["id"] == id)
            .cloned()
            .expect("part")
    };
    assert_eq!(by("1")["status"], 200);
    assert_eq!(by("2")["status"], 200);
    assert_eq!(by("3")["status"], 400, "{}", r.text);
    assert_eq!(by("4")["status"], 200, "{}", r.text);
}

// concepts/json-batching.md, example response: every part carries Cache-Control:
// no-cache, a successful OData part OData-Version 4.0 and x-ms-resource-unit, and the
// error parts' innerError carries a request-id / client-request-id pair shared across
// parts (the batch's).
#[tokio::test]
async fn batch_parts_carry_sample_headers_and_the_batch_request_ids() {
    let emu = start().await;
    let client_id = "11111111-aaaa-4bbb-8ccc-000000000001";
    let r = emu
        .send(
            reqwest::Method::POST,
            "/$batch",
            Some(json!({"requests": [
                {"id": "1", "method": "GET", "url": "/organization"},
                {"id": "2", "method": "GET", "url": "/users/nobody@contoso.com"},
                {"id": "3", "method": "GET", "url": "/groups/00000000-0000-0000-0000-000000000001"}
            ]})),
            &[("client-request-id", client_id)],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.header("client-request-id").as_deref(), Some(client_id));
    let request_id = r.header("request-id").expect("request-id");
    let resps = r.body["responses"].as_array().expect("responses");
    for p in resps {
        assert_eq!(p["headers"]["Cache-Control"], "no-cache", "{p}");
        assert!(p["headers"]["x-ms-resource-unit"].is_string(), "{p}");
    }
    let ok = resps.iter().find(|p| p["id"] == "1").expect("1");
    assert_eq!(ok["headers"]["OData-Version"], "4.0");
    for id in ["2", "3"] {
        let p = resps.iter().find(|p| p["id"] == id).expect("part");
        assert_eq!(p["status"], 404, "{p}");
        let inner = &p["body"]["error"]["innerError"];
        assert_eq!(inner["client-request-id"], client_id, "{p}");
        assert_eq!(inner["request-id"], request_id.as_str(), "{p}");
    }
}

// ------------------------------------------------------------------ owners and members

// api/group-delete-owners.md: "Once owners are assigned to a group, the last owner (a
// user object) of the group cannot be removed." Graph answers 400 Request_BadRequest
// "The group must have at least one owner, hence this owner cannot be removed."
#[tokio::test]
async fn the_last_user_owner_cannot_be_removed() {
    let emu = start().await;
    let a = emu.user("alice").await;
    let b = emu.user("bob").await;
    let g = emu.group("sg1").await;
    for o in [&a, &b] {
        let r = emu.post(&format!("/groups/{g}/owners/$ref"), bind(o)).await;
        assert_eq!(r.status, 204, "{}", r.text);
    }
    let r = emu.delete(&format!("/groups/{g}/owners/{b}/$ref")).await;
    assert_eq!(r.status, 204, "{}", r.text);
    let r = emu.delete(&format!("/groups/{g}/owners/{a}/$ref")).await;
    assert_graph_error(&r, 400, "Request_BadRequest");
    assert_eq!(
        r.message(),
        "The group must have at least one owner, hence this owner cannot be removed."
    );
    let owners = emu.get(&format!("/groups/{g}/owners")).await;
    assert_eq!(owners.body["value"].as_array().map(Vec::len), Some(1));
}

// api/group-delete-members.md (caution): "If /$ref is not appended to the request and
// the calling app has permissions to manage the member object type, the member object
// will also be deleted …; otherwise, a 403 Forbidden error is returned."
#[tokio::test]
async fn removing_a_member_without_ref_deletes_the_object() {
    let emu = start().await;
    let u = emu.user("bob").await;
    let g = emu.group("sg1").await;
    assert_eq!(emu.add_member(&g, &u).await.status, 204);
    let r = emu.delete(&format!("/groups/{g}/members/{u}")).await;
    assert_eq!(r.status, 204, "{}", r.text);
    assert_graph_error(
        &emu.get(&format!("/users/{u}")).await,
        404,
        "Request_ResourceNotFound",
    );
    let deleted = emu.get(&format!("/directory/deletedItems/{u}")).await;
    assert_eq!(deleted.status, 200, "{}", deleted.text);

    // With only GroupMember.ReadWrite.All the app may not delete a user: 403.
    let emu = start_with(EmulatorConfig {
        grants: vec![
            ("*".into(), "GroupMember.ReadWrite.All".into()),
            ("*".into(), "Directory.Read.All".into()),
        ],
        ..config()
    })
    .await;
    let u = emu
        .door_id(
            "users",
            json!({"userPrincipalName": "carol@contoso.com", "displayName": "Carol"}),
        )
        .await;
    let g = emu
        .door_id("groups", json!({"displayName": "G", "mailNickname": "g", "securityEnabled": true, "members": [u]}))
        .await;
    let r = emu.delete(&format!("/groups/{g}/members/{u}")).await;
    assert_graph_error(&r, 403, "Authorization_RequestDenied");
    assert_eq!(emu.get(&format!("/users/{u}")).await.status, 200);
    // The $ref form only removes the membership.
    let r = emu.delete(&format!("/groups/{g}/members/{u}/$ref")).await;
    assert_eq!(r.status, 204, "{}", r.text);
    assert_eq!(emu.get(&format!("/users/{u}")).await.status, 200);
}

// api/group-delete-members.md and the Graph SDKs' members/$ref DELETE request builders,
// which name the member in the query: `DELETE /groups/{id}/members/$ref?$id={url}`.
#[tokio::test]
async fn members_ref_delete_takes_the_id_in_the_query() {
    let emu = start().await;
    let u = emu.user("bob").await;
    let v = emu.user("carl").await;
    let g = emu.group("sg1").await;
    assert_eq!(emu.add_member(&g, &u).await.status, 204);
    assert_eq!(emu.add_member(&g, &v).await.status, 204);
    let url = format!(
        "/groups/{g}/members/$ref?$id=https://graph.microsoft.com/v1.0/directoryObjects/{u}"
    );
    assert_eq!(emu.delete(&url).await.status, 204);
    let url = format!(
        "/groups/{g}/members/$ref?%40id=https%3A%2F%2Fgraph.microsoft.com%2Fv1.0%2FdirectoryObjects%2F{v}"
    );
    assert_eq!(emu.delete(&url).await.status, 204);
    let members = emu.get(&format!("/groups/{g}/members")).await;
    assert_eq!(members.body["value"], json!([]), "{}", members.text);
    assert_eq!(
        emu.get(&format!("/users/{u}")).await.status,
        200,
        "the user stays"
    );
}

// ------------------------------------------------------------------ identifiers

// resources/user.md, userPrincipalName: "Only the following characters are allowed
// A - Z, a - z, 0 - 9, ' . - _ ! # ^ ~" (and no accents); the general format is
// alias@domain.
#[tokio::test]
async fn user_principal_name_characters() {
    let emu = start().await;
    for bad in [
        "jos\u{e9}",
        "a+b",
        "a&b",
        "a%b",
        "a*b",
        "a{b}",
        "a$b",
        "a=b",
        "a?b",
        "a|b",
        "a`b",
        "x@y",
    ] {
        let mut body = new_user("ok");
        body["userPrincipalName"] = json!(format!("{bad}@contoso.com"));
        let r = emu.post("/users", body).await;
        assert_graph_error(&r, 400, "Request_BadRequest");
        assert_eq!(
            r.message(),
            "Invalid value specified for property 'userPrincipalName' of resource 'User'.",
            "{bad}"
        );
    }
    for good in ["o'neil", "a!b#c^d~e", "first.last", "a-b_c"] {
        let mut body = new_user(&good.replace(['\'', '!', '#', '^', '~', '.'], ""));
        body["userPrincipalName"] = json!(format!("{good}@contoso.com"));
        let r = emu.post("/users", body).await;
        assert_eq!(r.status, 201, "{good}: {}", r.text);
    }
    // The same rule on update.
    let id = emu.user("upd").await;
    let r = emu
        .patch(
            &format!("/users/{id}"),
            json!({"userPrincipalName": "up+d@contoso.com"}),
        )
        .await;
    assert_graph_error(&r, 400, "Request_BadRequest");
}

// api/user-get.md: "When the userPrincipalName begins with a $ character, remove the
// slash (/) after /users and enclose the userPrincipalName in parentheses and single
// quotes. For example, /users('$AdeleVance@contoso.com')." The OData key syntax works
// for ids and for groups and directory objects alike.
#[tokio::test]
async fn parenthesised_keys_address_users_groups_and_directory_objects() {
    let emu = start().await;
    let id = emu.user("alice").await;
    let mut body = new_user("oneil");
    body["userPrincipalName"] = json!("o'neil@contoso.com");
    let oneil = emu.post("/users", body).await;
    assert_eq!(oneil.status, 201, "{}", oneil.text);
    let g = emu.group("sg1").await;
    assert_eq!(emu.add_member(&g, &id).await.status, 204);
    for path in [
        "/users('alice@contoso.com')".to_string(),
        format!("/users('{id}')"),
        format!("/directoryObjects('{id}')"),
    ] {
        let r = emu.get(&path).await;
        assert_eq!(r.status, 200, "{path}: {}", r.text);
        assert_eq!(r.body["id"], id.as_str(), "{path}");
    }
    let r = emu.get("/users('o''neil@contoso.com')").await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["userPrincipalName"], "o'neil@contoso.com");
    let r = emu.get(&format!("/groups('{g}')")).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["id"], g.as_str());
    let r = emu.get(&format!("/groups('{g}')/members")).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["value"][0]["id"], id.as_str());
    let r = emu.get("/users('alice@contoso.com')/memberOf").await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["value"][0]["id"], g.as_str());
    let r = emu
        .patch("/users('alice@contoso.com')", json!({"jobTitle": "Lead"}))
        .await;
    assert_eq!(r.status, 204, "{}", r.text);
    // The key is percent-decoded like any segment (`%24` is how a client sends `$`).
    let r = emu.get("/users('%6F''neil%40contoso.com')").await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["userPrincipalName"], "o'neil@contoso.com");
    // A lone quote inside the literal ends it: not a key.
    let r = emu.get("/users('o'neil@contoso.com')").await;
    assert_eq!(r.status, 400, "{}", r.text);
}

// ------------------------------------------------------------------ groups

// api/group-post-groups.md, mailNickname: "unique for Microsoft 365 groups in the
// organization"; Graph's refusal names the property: "Another object with the same value
// for property mailNickname already exists."
#[tokio::test]
async fn duplicate_microsoft_365_nickname_names_mail_nickname() {
    let emu = start().await;
    let m365 = |name: &str| json!({"displayName": name, "mailEnabled": true, "mailNickname": "team", "securityEnabled": false, "groupTypes": ["Unified"]});
    assert_eq!(emu.post("/groups", m365("Team 1")).await.status, 201);
    let r = emu.post("/groups", m365("Team 2")).await;
    assert_graph_error(&r, 400, "Request_BadRequest");
    assert_eq!(
        r.message(),
        "Another object with the same value for property mailNickname already exists."
    );
    // Security groups may share a nickname.
    let sg = json!({"displayName": "SG", "mailEnabled": false, "mailNickname": "team", "securityEnabled": true});
    assert_eq!(emu.post("/groups", sg).await.status, 201);
}

// resources/group.md, visibility: "Possible values are: Private, Public, or
// HiddenMembership. HiddenMembership can be set only for Microsoft 365 groups when the
// groups are created. It can't be updated later."
#[tokio::test]
async fn group_visibility_values_and_hidden_membership() {
    let emu = start().await;
    let sg = |vis: &str| json!({"displayName": "SG", "mailEnabled": false, "mailNickname": "sg", "securityEnabled": true, "visibility": vis});
    let m365 = |nick: &str, vis: &str| json!({"displayName": nick, "mailEnabled": true, "mailNickname": nick, "securityEnabled": false, "groupTypes": ["Unified"], "visibility": vis});
    let r = emu.post("/groups", sg("Bogus")).await;
    assert_graph_error(&r, 400, "Request_BadRequest");
    let r = emu.post("/groups", sg("HiddenMembership")).await;
    assert_graph_error(&r, 400, "Request_BadRequest");
    let r = emu.post("/groups", sg("Public")).await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.body["visibility"], "Public");
    let hidden = emu.post("/groups", m365("hid", "HiddenMembership")).await;
    assert_eq!(hidden.status, 201, "{}", hidden.text);
    assert_eq!(hidden.body["visibility"], "HiddenMembership");
    let public = emu.post("/groups", m365("pub", "Public")).await;
    assert_eq!(public.status, 201, "{}", public.text);
    let pid = public.body["id"].as_str().expect("id");
    let r = emu
        .patch(
            &format!("/groups/{pid}"),
            json!({"visibility": "HiddenMembership"}),
        )
        .await;
    assert_graph_error(&r, 400, "Request_BadRequest");
    let r = emu
        .patch(&format!("/groups/{pid}"), json!({"visibility": "Private"}))
        .await;
    assert_eq!(r.status, 204, "{}", r.text);
    let hid = hidden.body["id"].as_str().expect("id");
    let r = emu
        .patch(&format!("/groups/{hid}"), json!({"visibility": "Public"}))
        .await;
    assert_graph_error(&r, 400, "Request_BadRequest");
    let r = emu
        .patch(
            &format!("/groups/{hid}"),
            json!({"description": "still hidden"}),
        )
        .await;
    assert_eq!(r.status, 204, "{}", r.text);
}
