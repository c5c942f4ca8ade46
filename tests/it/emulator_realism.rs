//! The emulator behaves like a real tenant where Graph documents it: the initial
//! domain, guests through `POST /invitations`, proxy-address uniqueness, property
//! length limits, federated domains — over HTTP, against the documented status codes,
//! error codes, messages and shapes.

use crate::emulator_support as support;

use roster::emulator::EmulatorConfig;
use serde_json::{Value, json};
use support::*;

// ------------------------------------------------------------------ domains

#[tokio::test]
async fn the_initial_domain_is_always_there_and_the_first_domain_stays_default() {
    let emu = start().await;
    let r = emu.get("/domains").await;
    assert_eq!(r.status, 200, "{}", r.text);
    let v = r.body["value"].as_array().expect("value");
    let initial: Vec<&Value> = v.iter().filter(|d| d["isInitial"] == true).collect();
    assert_eq!(initial.len(), 1, "{}", r.text);
    let d = initial[0];
    assert_eq!(d["id"], "contoso.onmicrosoft.com");
    assert_eq!(d["isVerified"], true);
    assert_eq!(d["authenticationType"], "Managed");
    assert_eq!(d["isDefault"], false);
    let defaults: Vec<&Value> = v.iter().filter(|d| d["isDefault"] == true).collect();
    assert_eq!(defaults.len(), 1);
    assert_eq!(
        defaults[0]["id"], "contoso.com",
        "the first --domain is the default"
    );
    let one = emu.get("/domains/contoso.onmicrosoft.com").await;
    assert_eq!(one.status, 200, "{}", one.text);
    assert_eq!(one.body["isInitial"], true);
    assert!(
        one.body["@odata.context"]
            .as_str()
            .is_some_and(|c| c.ends_with("$metadata#domains/$entity"))
    );
    // organization.verifiedDomains: name, isDefault, isInitial, type, capabilities.
    let org = emu.get("/organization").await;
    let vd = org.body["value"][0]["verifiedDomains"]
        .as_array()
        .expect("verifiedDomains");
    let init = vd
        .iter()
        .find(|d| d["name"] == "contoso.onmicrosoft.com")
        .expect("initial in verifiedDomains");
    assert_eq!(init["isInitial"], true);
    assert_eq!(init["type"], "Managed");
    assert!(init["capabilities"].is_string());
    assert_eq!(
        vd.iter().filter(|d| d["isDefault"] == true).count(),
        1,
        "{vd:?}"
    );
}

#[tokio::test]
async fn without_domains_the_initial_domain_is_the_default_and_takes_users() {
    let emu = start_with(EmulatorConfig {
        domains: Vec::new(),
        ..config()
    })
    .await;
    let r = emu.get("/domains").await;
    let v = r.body["value"].as_array().expect("value");
    assert_eq!(v.len(), 1, "{}", r.text);
    assert_eq!(v[0]["isDefault"], true);
    assert_eq!(v[0]["isInitial"], true);
    let mut body = new_user("x");
    body["userPrincipalName"] = json!("x@contoso.onmicrosoft.com");
    let u = emu.post("/users", body).await;
    assert_eq!(u.status, 201, "{}", u.text);
}

#[tokio::test]
async fn federated_domains_need_an_immutable_id_at_create() {
    let emu = start().await;
    let d = emu
        .door(
            "domains",
            json!({"id": "corp.contoso.com", "authenticationType": "Federated"}),
        )
        .await;
    assert_eq!(d.status, 201, "{}", d.text);
    assert_eq!(d.body["authenticationType"], "Federated");
    assert_eq!(d.body["isVerified"], true);
    let listed = emu.get("/domains/corp.contoso.com").await;
    assert_eq!(listed.body["authenticationType"], "Federated");
    let org = emu.get("/organization").await;
    assert!(
        org.body["value"][0]["verifiedDomains"]
            .as_array()
            .expect("verifiedDomains")
            .iter()
            .any(|d| d["name"] == "corp.contoso.com" && d["type"] == "Federated")
    );
    let mut body = new_user("fed");
    body["userPrincipalName"] = json!("fed@corp.contoso.com");
    let r = emu.post("/users", body.clone()).await;
    assert_graph_error(&r, 400, "Request_BadRequest");
    assert_eq!(
        r.message(),
        "SourceAnchor is a required property for creation of a federated user."
    );
    // "$ and _ can't be used" in onPremisesImmutableId.
    body["onPremisesImmutableId"] = json!("bad_id");
    let r = emu.post("/users", body.clone()).await;
    assert_graph_error(&r, 400, "Request_BadRequest");
    assert!(r.message().contains("onPremisesImmutableId"), "{}", r.text);
    body["onPremisesImmutableId"] = json!("ZmVkQGNvcnA=");
    let r = emu.post("/users", body.clone()).await;
    assert_eq!(r.status, 201, "{}", r.text);
    // Immutable ids are unique.
    body["userPrincipalName"] = json!("fed2@corp.contoso.com");
    body["mailNickname"] = json!("fed2");
    let r = emu.post("/users", body).await;
    assert_graph_error(&r, 400, "Request_BadRequest");
    assert_eq!(
        r.message(),
        "Another object with the same value for property onPremisesImmutableId already exists."
    );
    // A managed domain needs none.
    let r = emu.post("/users", new_user("managed")).await;
    assert_eq!(r.status, 201, "{}", r.text);
    // Unknown authentication types and duplicate domains are refused by the door.
    let bad = emu
        .door(
            "domains",
            json!({"id": "x.contoso.com", "authenticationType": "Other"}),
        )
        .await;
    assert_eq!(bad.status, 400, "{}", bad.text);
    let dup = emu.door("domains", json!({"id": "corp.contoso.com"})).await;
    assert_eq!(dup.status, 400, "{}", dup.text);
}

// ------------------------------------------------------------------ invitations

#[tokio::test]
async fn invitations_create_pending_guests_in_the_initial_domain() {
    let emu = start().await;
    // Without inviteRedirectUrl: 400.
    let r = emu
        .post(
            "/invitations",
            json!({"invitedUserEmailAddress": "admin@fabrikam.example"}),
        )
        .await;
    assert_graph_error(&r, 400, "Request_BadRequest");
    let r = emu
        .post(
            "/invitations",
            json!({
                "invitedUserEmailAddress": "admin@fabrikam.example",
                "inviteRedirectUrl": "https://myapp.contoso.com",
                "invitedUserDisplayName": "Fabrikam Admin",
                "sendInvitationMessage": false,
            }),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let inv = &r.body;
    assert!(
        inv["@odata.context"]
            .as_str()
            .is_some_and(|c| c.ends_with("$metadata#invitations/$entity"))
    );
    assert_eq!(inv["status"], "PendingAcceptance");
    assert_eq!(inv["invitedUserType"], "Guest");
    assert_eq!(inv["invitedUserEmailAddress"], "admin@fabrikam.example");
    assert_eq!(inv["inviteRedirectUrl"], "https://myapp.contoso.com");
    assert_eq!(inv["sendInvitationMessage"], false);
    assert!(
        inv["inviteRedeemUrl"]
            .as_str()
            .is_some_and(|u| u.starts_with("https://login.microsoftonline.com/redeem?rd="))
    );
    assert!(uuid::Uuid::parse_str(inv["id"].as_str().unwrap_or("")).is_ok());
    let gid = inv["invitedUser"]["id"].as_str().expect("invitedUser.id");
    let sel = "id,userPrincipalName,userType,creationType,externalUserState,externalUserStateChangeDateTime,mail,otherMails,accountEnabled,displayName,proxyAddresses";
    let g = emu.get(&format!("/users/{gid}?$select={sel}")).await;
    assert_eq!(g.status, 200, "{}", g.text);
    assert_eq!(
        g.body["userPrincipalName"],
        "admin_fabrikam.example#EXT#@contoso.onmicrosoft.com"
    );
    assert_eq!(g.body["userType"], "Guest");
    assert_eq!(g.body["creationType"], "Invitation");
    assert_eq!(g.body["externalUserState"], "PendingAcceptance");
    assert!(g.body["externalUserStateChangeDateTime"].is_string());
    assert_eq!(g.body["mail"], "admin@fabrikam.example");
    assert_eq!(g.body["otherMails"], json!(["admin@fabrikam.example"]));
    assert_eq!(g.body["accountEnabled"], true);
    assert_eq!(g.body["displayName"], "Fabrikam Admin");
    assert_eq!(
        g.body["proxyAddresses"],
        json!(["SMTP:admin@fabrikam.example"])
    );
    // Guests filter by userType and come in users/delta with the new properties.
    let f = emu
        .get("/users?$filter=userType eq 'Guest'&$select=id,userType")
        .await;
    assert_eq!(f.status, 200, "{}", f.text);
    assert_eq!(f.body["value"].as_array().map(Vec::len), Some(1));
    let d = emu.get(&format!("/users/delta?$select={sel}")).await;
    assert_eq!(d.status, 200, "{}", d.text);
    let row = d.body["value"]
        .as_array()
        .expect("value")
        .iter()
        .find(|u| u["id"] == gid)
        .cloned()
        .expect("guest in delta");
    assert_eq!(row["creationType"], "Invitation");
    assert_eq!(row["externalUserState"], "PendingAcceptance");
    // Inviting the same address again names the same guest.
    let again = emu
        .post(
            "/invitations",
            json!({"invitedUserEmailAddress": "admin@fabrikam.example", "inviteRedirectUrl": "https://myapp.contoso.com"}),
        )
        .await;
    assert_eq!(again.status, 201, "{}", again.text);
    assert_eq!(again.body["invitedUser"]["id"], gid);
    // Creation properties are read-only through PATCH.
    let p = emu
        .patch(&format!("/users/{gid}"), json!({"creationType": null}))
        .await;
    assert_graph_error(&p, 400, "Request_BadRequest");
    // Without an invite permission: 403.
    let ro = start_with(EmulatorConfig {
        grants: vec![("*".into(), "User.Read.All".into())],
        ..config()
    })
    .await;
    let r = ro
        .post(
            "/invitations",
            json!({"invitedUserEmailAddress": "x@fabrikam.example", "inviteRedirectUrl": "https://x.example"}),
        )
        .await;
    assert_graph_error(&r, 403, "Authorization_RequestDenied");
}

// ------------------------------------------------------------------ proxy addresses

#[tokio::test]
async fn mail_and_upn_become_proxy_addresses_unique_across_users_and_groups() {
    let emu = start().await;
    let mut a = new_user("alex");
    a["mail"] = json!("Alex.Wilber@contoso.com");
    let r = emu.post("/users", a).await;
    assert_eq!(r.status, 201, "{}", r.text);
    let aid = r.body["id"].as_str().expect("id").to_string();
    let p = emu
        .get(&format!("/users/{aid}?$select=proxyAddresses"))
        .await;
    assert_eq!(
        p.body["proxyAddresses"],
        json!(["SMTP:Alex.Wilber@contoso.com", "smtp:alex@contoso.com"])
    );
    // A new user whose UPN is another user's mail (any case): the proxy conflict, not
    // the UPN conflict.
    let mut b = new_user("alex.wilber");
    b["userPrincipalName"] = json!("alex.wilber@CONTOSO.com");
    let r = emu.post("/users", b).await;
    assert_graph_error(&r, 400, "Request_BadRequest");
    assert_eq!(
        r.message(),
        "Another object with the same value for property proxyAddresses already exists."
    );
    let details = r.body["error"]["details"].as_array().expect("details");
    assert_eq!(details[0]["code"], "ObjectConflict");
    assert_eq!(details[0]["target"], "proxyAddresses");
    assert_eq!(details[1]["code"], "ConflictingObjects");
    assert_eq!(details[1]["target"], format!("User_{aid}"));
    // The UPN conflict stays its own.
    let r = emu.post("/users", new_user("alex")).await;
    assert_graph_error(&r, 400, "Request_BadRequest");
    assert_eq!(
        r.message(),
        "Another object with the same value for property userPrincipalName already exists."
    );
    assert_eq!(r.body["error"]["details"][0]["target"], "userPrincipalName");
    // Changing a user's mail to an address another object holds: refused, nothing
    // changes.
    let other = emu.user("other").await;
    let r = emu
        .patch(
            &format!("/users/{other}"),
            json!({"mail": "alex@contoso.com"}),
        )
        .await;
    assert_graph_error(&r, 400, "Request_BadRequest");
    assert_eq!(
        r.message(),
        "Another object with the same value for property proxyAddresses already exists."
    );
    let o = emu
        .get(&format!("/users/{other}?$select=mail,proxyAddresses"))
        .await;
    assert_eq!(o.body["mail"], Value::Null);
    assert_eq!(o.body["proxyAddresses"], json!(["SMTP:other@contoso.com"]));
    // A Microsoft 365 group holding an address blocks a user taking it, and back.
    let g = emu
        .post(
            "/groups",
            json!({"displayName": "Team", "mailEnabled": true, "mailNickname": "team", "securityEnabled": false, "groupTypes": ["Unified"]}),
        )
        .await;
    assert_eq!(g.status, 201, "{}", g.text);
    let gid = g.body["id"].as_str().expect("id").to_string();
    assert_eq!(g.body["proxyAddresses"], json!(["SMTP:team@contoso.com"]));
    let r = emu.post("/users", new_user("team")).await;
    assert_graph_error(&r, 400, "Request_BadRequest");
    assert_eq!(
        r.body["error"]["details"][1]["target"],
        format!("Group_{gid}")
    );
    let r = emu
        .post(
            "/groups",
            json!({"displayName": "Alex", "mailEnabled": true, "mailNickname": "alex", "securityEnabled": false, "groupTypes": ["Unified"]}),
        )
        .await;
    assert_graph_error(&r, 400, "Request_BadRequest");
    assert!(r.message().contains("proxyAddresses"), "{}", r.text);
    // Deleting the user frees its addresses.
    assert_eq!(emu.delete(&format!("/users/{aid}")).await.status, 204);
    let mut b = new_user("alex.wilber");
    b["mail"] = json!("alex.wilber@contoso.com");
    let r = emu.post("/users", b).await;
    assert_eq!(r.status, 201, "{}", r.text);
    // The deleted user can no longer come back: another user took its address.
    let restore = emu
        .post(&format!("/directory/deletedItems/{aid}/restore"), json!({}))
        .await;
    assert_graph_error(&restore, 400, "Request_BadRequest");
    assert!(
        restore.message().contains("proxyAddresses"),
        "{}",
        restore.text
    );
    // proxyAddresses is read-only in Graph.
    let r = emu
        .patch(
            &format!("/users/{other}"),
            json!({"proxyAddresses": ["smtp:x@contoso.com"]}),
        )
        .await;
    assert_graph_error(&r, 400, "Request_BadRequest");
}

#[tokio::test]
async fn door_proxy_addresses_collide_with_new_users() {
    let emu = start().await;
    let holder = emu
        .door_id(
            "users",
            json!({"userPrincipalName": "jamie.former@contoso.com", "displayName": "Jamie Former", "mail": "jamie.former@contoso.com", "proxyAddresses": ["smtp:jamie@contoso.com"]}),
        )
        .await;
    let r = emu.post("/users", new_user("jamie")).await;
    assert_graph_error(&r, 400, "Request_BadRequest");
    assert_eq!(
        r.message(),
        "Another object with the same value for property proxyAddresses already exists."
    );
    assert_eq!(
        r.body["error"]["details"][1]["target"],
        format!("User_{holder}")
    );
    let p = emu
        .get(&format!("/users/{holder}?$select=proxyAddresses"))
        .await;
    assert_eq!(
        p.body["proxyAddresses"],
        json!(["SMTP:jamie.former@contoso.com", "smtp:jamie@contoso.com"])
    );
    // The door checks uniqueness too.
    let dup = emu
        .door(
            "groups",
            json!({"displayName": "Jamie DL", "mailNickname": "jamie-dl", "mailEnabled": true, "securityEnabled": false, "proxyAddresses": ["SMTP:JAMIE@contoso.com"]}),
        )
        .await;
    assert_eq!(dup.status, 400, "{}", dup.text);
    assert!(dup.text.contains("proxyAddresses"), "{}", dup.text);
}

// ------------------------------------------------------------------ limits

#[tokio::test]
async fn documented_length_limits_answer_invalid_value() {
    let emu = start().await;
    let id = emu.user("limits").await;
    for (prop, ok, too_long) in [
        ("givenName", 64, 65),
        ("surname", 64, 65),
        ("displayName", 256, 257),
        ("department", 64, 65),
        ("jobTitle", 128, 129),
        ("employeeId", 16, 17),
        ("mobilePhone", 64, 65),
        ("companyName", 64, 65),
        ("city", 128, 129),
        ("country", 128, 129),
    ] {
        let r = emu
            .patch(&format!("/users/{id}"), json!({ prop: "é".repeat(ok) }))
            .await;
        assert_eq!(r.status, 204, "{prop} of {ok} characters: {}", r.text);
        let r = emu
            .patch(
                &format!("/users/{id}"),
                json!({ prop: "x".repeat(too_long) }),
            )
            .await;
        assert_graph_error(&r, 400, "Request_BadRequest");
        assert_eq!(
            r.message(),
            format!("Invalid value specified for property '{prop}' of resource 'User'.")
        );
        assert_eq!(r.body["error"]["details"][0]["code"], "InvalidValue");
        assert_eq!(r.body["error"]["details"][0]["target"], prop);
    }
    // Creates are checked the same way.
    let mut body = new_user("longjob");
    body["jobTitle"] = json!("x".repeat(129));
    let r = emu.post("/users", body).await;
    assert_graph_error(&r, 400, "Request_BadRequest");
    assert!(r.message().contains("'jobTitle'"), "{}", r.text);
    let mut body = new_user("longnick");
    body["mailNickname"] = json!("n".repeat(65));
    let r = emu.post("/users", body).await;
    assert!(r.message().contains("'mailNickname'"), "{}", r.text);
    // businessPhones: only one number can be set.
    let r = emu
        .patch(
            &format!("/users/{id}"),
            json!({"businessPhones": ["1", "2"]}),
        )
        .await;
    assert_graph_error(&r, 400, "Request_BadRequest");
    // usageLocation: two letters, and not nullable once set.
    let r = emu
        .patch(&format!("/users/{id}"), json!({"usageLocation": "USA"}))
        .await;
    assert!(r.message().contains("'usageLocation'"), "{}", r.text);
    let r = emu
        .patch(&format!("/users/{id}"), json!({"usageLocation": "de"}))
        .await;
    assert_eq!(r.status, 204, "{}", r.text);
    let r = emu
        .patch(&format!("/users/{id}"), json!({"usageLocation": null}))
        .await;
    assert_graph_error(&r, 400, "Request_BadRequest");
    assert_eq!(
        r.message(),
        "Invalid value specified for property 'usageLocation' of resource 'User'."
    );
    let u = emu.get(&format!("/users/{id}?$select=usageLocation")).await;
    assert_eq!(u.body["usageLocation"], "DE");
    // Groups: displayName 256, mailNickname 64.
    let r = emu
        .post("/groups", json!({"displayName": "g".repeat(257), "mailEnabled": false, "mailNickname": "g", "securityEnabled": true}))
        .await;
    assert_eq!(
        r.message(),
        "Invalid value specified for property 'displayName' of resource 'Group'."
    );
    let r = emu
        .post("/groups", json!({"displayName": "g", "mailEnabled": false, "mailNickname": "g".repeat(65), "securityEnabled": true}))
        .await;
    assert_eq!(
        r.message(),
        "Invalid value specified for property 'mailNickname' of resource 'Group'."
    );
}
