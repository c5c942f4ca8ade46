//! Licences seen from the user (`assignedPlans`, `licenseDetails`), `deletedDateTime`
//! filters on deleted items, and the identity platform's discovery document, JWKS and
//! RS256 tokens. Each test names the documentation page it follows
//! (microsoftgraph/microsoft-graph-docs-contrib unless said otherwise).

use crate::emulator_support as support;

use roster::emulator::EmulatorConfig;
use serde_json::{Value, json};
use support::*;

const EXCHANGE_P2: &str = "efb87545-963c-4e0d-99df-69c6916d9eb0";
const TEAMS1: &str = "57ff2da0-773e-42df-b2af-ffb7a2317929";
const AAD_PREMIUM: &str = "41781fb2-bc02-4b7c-bd55-b576c07bb09d";

fn plan_ids(v: &Value) -> Vec<String> {
    v.as_array()
        .map(|a| {
            a.iter()
                .map(|p| p["servicePlanId"].as_str().unwrap_or("").to_string())
                .collect()
        })
        .unwrap_or_default()
}

fn e3_and_ems() -> EmulatorConfig {
    EmulatorConfig {
        skus: vec![("ENTERPRISEPACK".into(), 5), ("EMS".into(), 5)],
        ..config()
    }
}

// resources/user.md (assignedPlans: "The plans that are assigned to the user. Returned
// only on $select"), resources/assignedplan.md (assignedDateTime, capabilityStatus,
// service, servicePlanId); the plans are the SKUs' (entra-docs
// licensing-service-plan-reference.md), direct and group-inherited, minus disabledPlans.
#[tokio::test]
async fn assigned_plans_follow_direct_and_inherited_licences() {
    let emu = start_with(e3_and_ems()).await;
    let skus = emu.get("/subscribedSkus").await;
    let sku_of = |part: &str| {
        skus.body["value"]
            .as_array()
            .and_then(|a| a.iter().find(|s| s["skuPartNumber"] == part))
            .and_then(|s| s["skuId"].as_str())
            .expect("sku")
            .to_string()
    };
    let (e3, ems) = (sku_of("ENTERPRISEPACK"), sku_of("EMS"));
    assert_eq!(ems, "efccb6f7-5641-4e0e-bd10-b4976e1bf68e");
    let u = licensed_user(&emu, "plans").await;
    // Not in the default property set.
    let r = emu.get(&format!("/users/{u}")).await;
    assert!(r.body.get("assignedPlans").is_none(), "{}", r.text);
    let r = emu.get(&format!("/users/{u}?$select=assignedPlans")).await;
    assert_eq!(r.body["assignedPlans"], json!([]), "{}", r.text);
    // A direct E3 with Teams disabled.
    let r = emu
        .assign_license(&format!("/users/{u}"), &e3, &[TEAMS1])
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let r = emu.get(&format!("/users/{u}?$select=assignedPlans")).await;
    let plans = &r.body["assignedPlans"];
    let ids = plan_ids(plans);
    assert!(ids.contains(&EXCHANGE_P2.to_string()), "{}", r.text);
    assert!(
        !ids.contains(&TEAMS1.to_string()),
        "disabled plan: {}",
        r.text
    );
    assert_eq!(ids.len(), 35, "E3's 36 plans minus Teams: {}", r.text);
    let exchange = plans
        .as_array()
        .and_then(|a| a.iter().find(|p| p["servicePlanId"] == EXCHANGE_P2))
        .expect("exchange");
    assert_eq!(exchange["capabilityStatus"], "Enabled");
    assert_eq!(exchange["service"], "exchange");
    let at = exchange["assignedDateTime"].as_str().expect("date");
    assert!(
        time::OffsetDateTime::parse(at, &time::format_description::well_known::Rfc3339).is_ok(),
        "{at}"
    );
    // EMS through a group: its plans join (AAD_PREMIUM among them).
    let g = emu.group("ems-holders").await;
    assert_eq!(emu.add_member(&g, &u).await.status, 204);
    let r = emu.assign_license(&format!("/groups/{g}"), &ems, &[]).await;
    assert_eq!(r.status, 202, "{}", r.text);
    let r = emu.get(&format!("/users/{u}?$select=assignedPlans")).await;
    let ids = plan_ids(&r.body["assignedPlans"]);
    assert!(ids.contains(&AAD_PREMIUM.to_string()), "{}", r.text);
    assert!(ids.contains(&EXCHANGE_P2.to_string()), "{}", r.text);
    // Leaving the group takes the inherited plans away again.
    let r = emu.delete(&format!("/groups/{g}/members/{u}/$ref")).await;
    assert_eq!(r.status, 204, "{}", r.text);
    let r = emu.get(&format!("/users/{u}?$select=assignedPlans")).await;
    assert!(
        !plan_ids(&r.body["assignedPlans"]).contains(&AAD_PREMIUM.to_string()),
        "{}",
        r.text
    );
    // Read-only through PATCH.
    let r = emu
        .patch(&format!("/users/{u}"), json!({"assignedPlans": []}))
        .await;
    assert_eq!(r.status, 400, "{}", r.text);
}

// api/user-list-licensedetails.md: GET /users/{id}/licenseDetails lists direct and
// group-inherited licences as licenseDetails {id, skuId, skuPartNumber,
// servicePlans[servicePlanInfo]}, supports `$select`; resources/serviceplaninfo.md
// (provisioningStatus Success / Disabled).
#[tokio::test]
async fn license_details_per_user() {
    let emu = start_with(e3_and_ems()).await;
    let e3 = emu.sku().await;
    let u = licensed_user(&emu, "details").await;
    let r = emu.get(&format!("/users/{u}/licenseDetails")).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["value"], json!([]));
    assert_eq!(
        r.body["@odata.context"].as_str().expect("context"),
        format!("{}/v1.0/$metadata#users('{u}')/licenseDetails", emu.base)
    );
    let r = emu
        .assign_license(&format!("/users/{u}"), &e3, &[TEAMS1])
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let upn = r.body["userPrincipalName"]
        .as_str()
        .expect("upn")
        .to_string();
    let r = emu.get(&format!("/users/{upn}/licenseDetails")).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let d = &r.body["value"][0];
    assert_eq!(d["skuId"], json!(e3));
    assert_eq!(d["skuPartNumber"], "ENTERPRISEPACK");
    let id = d["id"].as_str().expect("id");
    assert_eq!(id.len(), 43, "32 bytes, base64url: {id}");
    let plans = d["servicePlans"].as_array().expect("plans");
    assert_eq!(plans.len(), 36);
    let teams = plans
        .iter()
        .find(|p| p["servicePlanId"] == TEAMS1)
        .expect("teams listed");
    assert_eq!(teams["servicePlanName"], "TEAMS1");
    assert_eq!(teams["provisioningStatus"], "Disabled");
    assert_eq!(teams["appliesTo"], "User");
    assert!(
        plans
            .iter()
            .any(|p| p["servicePlanId"] == EXCHANGE_P2 && p["provisioningStatus"] == "Success")
    );
    // A group-inherited SKU is listed too.
    let ems = "efccb6f7-5641-4e0e-bd10-b4976e1bf68e";
    let g = emu.group("ems-group").await;
    assert_eq!(emu.add_member(&g, &u).await.status, 204);
    let r = emu.assign_license(&format!("/groups/{g}"), ems, &[]).await;
    assert_eq!(r.status, 202, "{}", r.text);
    let r = emu
        .get(&format!("/users/{u}/licenseDetails?$select=skuPartNumber"))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let parts: Vec<&str> = r.body["value"]
        .as_array()
        .expect("value")
        .iter()
        .filter_map(|d| d["skuPartNumber"].as_str())
        .collect();
    assert_eq!(parts, ["ENTERPRISEPACK", "EMS"], "{}", r.text);
    assert!(
        r.body["value"][0].get("servicePlans").is_none(),
        "{}",
        r.text
    );
    assert!(r.body["value"][0].get("id").is_some(), "{}", r.text);
    // Only $select is documented: other options are refused, unknown users are 404.
    let r = emu
        .get(&format!(
            "/users/{u}/licenseDetails?$filter=skuPartNumber eq 'EMS'"
        ))
        .await;
    assert_eq!(r.status, 400, "{}", r.text);
    let r = emu
        .get(&format!("/users/{u}/licenseDetails?$select=bogus"))
        .await;
    assert_eq!(r.status, 400, "{}", r.text);
    let r = emu
        .get("/users/00000000-0000-0000-0000-0000000000aa/licenseDetails")
        .await;
    assert_graph_error(&r, 404, "Request_ResourceNotFound");
}

// resources/subscribedsku.md (servicePlans) for every SKU the emulator offers, with the
// ids of entra-docs licensing-service-plan-reference.md.
#[tokio::test]
async fn every_offered_sku_lists_its_service_plans() {
    let parts = [
        ("ENTERPRISEPACK", "6fd2c87f-b296-42f0-b197-1e91e994b900"),
        ("SPE_E3", "05e9a617-0261-4cee-bb44-138d3ef5d965"),
        ("STANDARDPACK", "18181a46-0d4e-45cd-891e-60aabd171b4e"),
        ("ENTERPRISEPREMIUM", "c7df2760-2c81-4ef7-b578-5b5392b571df"),
        ("SPE_E5", "06ebc4ee-1bb5-47dd-8120-11324bc54e06"),
        (
            "O365_BUSINESS_PREMIUM",
            "f245ecc8-75af-4f8e-b61f-27d8114de5f3",
        ),
        (
            "O365_BUSINESS_ESSENTIALS",
            "3b555118-da6a-4418-894f-7df1e2096870",
        ),
        ("EMS", "efccb6f7-5641-4e0e-bd10-b4976e1bf68e"),
        ("POWER_BI_PRO", "f8a1db68-be16-40ed-86d5-cb42ce701560"),
    ];
    let emu = start_with(EmulatorConfig {
        skus: parts.iter().map(|(p, _)| (p.to_string(), 1)).collect(),
        ..config()
    })
    .await;
    let r = emu.get("/subscribedSkus").await;
    assert_eq!(r.status, 200, "{}", r.text);
    for (part, id) in parts {
        let sku = r.body["value"]
            .as_array()
            .and_then(|a| a.iter().find(|s| s["skuPartNumber"] == part))
            .unwrap_or_else(|| panic!("{part} missing: {}", r.text));
        assert_eq!(sku["skuId"], id, "{part}");
        let plans = sku["servicePlans"].as_array().expect("plans");
        assert!(!plans.is_empty(), "{part} has no plans");
        for p in plans {
            let pid = p["servicePlanId"].as_str().expect("id");
            assert!(uuid::Uuid::parse_str(pid).is_ok(), "{part}: {pid}");
            assert!(p["servicePlanName"].as_str().is_some_and(|n| !n.is_empty()));
        }
    }
    let pbi = r.body["value"]
        .as_array()
        .and_then(|a| a.iter().find(|s| s["skuPartNumber"] == "POWER_BI_PRO"))
        .expect("pbi");
    assert!(
        plan_ids(&pbi["servicePlans"]).contains(&"70d33638-9c74-4d01-bfd3-562de28bd4ba".into()),
        "BI_AZURE_P2: {pbi}"
    );
}

// api/directory-deleteditems-list.md (the cast type's query parameters, `$filter`
// among them), resources/directoryobject.md (deletedDateTime, Edm.DateTimeOffset):
// ge / le / gt / lt with dateTimeOffset literals; other forms are Graph's 400s.
#[tokio::test]
async fn deleted_items_filter_on_deleted_date_time() {
    let emu = start_with(EmulatorConfig {
        test_clock: true,
        ..config()
    })
    .await;
    emu.freeze().await;
    let early = emu.user("early").await;
    let late = emu.user("late").await;
    assert_eq!(emu.delete(&format!("/users/{early}")).await.status, 204);
    emu.advance(1_200_000).await;
    assert_eq!(emu.delete(&format!("/users/{late}")).await.status, 204);
    let base = "/directory/deletedItems/microsoft.graph.user";
    let all = emu.get(&format!("{base}?$select=id,deletedDateTime")).await;
    assert_eq!(all.status, 200, "{}", all.text);
    let when = |id: &str| {
        all.body["value"]
            .as_array()
            .and_then(|a| a.iter().find(|v| v["id"] == id))
            .and_then(|v| v["deletedDateTime"].as_str())
            .map(|s| {
                time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339)
                    .expect("date")
            })
            .expect("deleted")
    };
    let mid = when(&early) + time::Duration::minutes(10);
    let lit = mid
        .format(&time::format_description::well_known::Rfc3339)
        .expect("fmt");
    let ids = |r: &Resp| -> Vec<String> {
        r.body["value"]
            .as_array()
            .map(|a| {
                a.iter()
                    .map(|v| v["id"].as_str().unwrap_or("").to_string())
                    .collect()
            })
            .unwrap_or_default()
    };
    for (op, want) in [
        ("ge", vec![late.clone()]),
        ("gt", vec![late.clone()]),
        ("le", vec![early.clone()]),
        ("lt", vec![early.clone()]),
    ] {
        let r = emu
            .get(&format!("{base}?$filter=deletedDateTime {op} {lit}"))
            .await;
        assert_eq!(r.status, 200, "{op}: {}", r.text);
        assert_eq!(ids(&r), want, "{op}: {}", r.text);
    }
    // Combined with the cast type's own filters, and on groups.
    let r = emu
        .get(&format!(
            "{base}?$filter=deletedDateTime le {lit} and startswith(displayName,'User e')"
        ))
        .await;
    assert_eq!(ids(&r), std::slice::from_ref(&early), "{}", r.text);
    let r = emu
        .get("/directory/deletedItems/microsoft.graph.group?$filter=deletedDateTime ge 2000-01-01T00:00:00Z")
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    // A string literal is a type mismatch (OData's 400), startswith an unsupported
    // clause, a malformed date a 400, ne an advanced query.
    let r = emu
        .get(&format!("{base}?$filter=deletedDateTime ge '2024-01-01'"))
        .await;
    assert_graph_error(&r, 400, "BadRequest");
    assert!(r.message().contains("incompatible types"), "{}", r.text);
    let r = emu
        .get(&format!(
            "{base}?$filter=startswith(deletedDateTime,'2024')"
        ))
        .await;
    assert_graph_error(&r, 400, "Request_UnsupportedQuery");
    let r = emu
        .get(&format!(
            "{base}?$filter=deletedDateTime ge 2024-13-45T00:00:00Z"
        ))
        .await;
    assert_eq!(r.status, 400, "{}", r.text);
    let r = emu
        .get(&format!("{base}?$filter=deletedDateTime ne {lit}"))
        .await;
    assert_graph_error(&r, 400, "Request_UnsupportedQuery");
    // deletedDateTime is no filter of live users.
    let r = emu
        .get(&format!("/users?$filter=deletedDateTime ge {lit}"))
        .await;
    assert_eq!(r.status, 400, "{}", r.text);
}

// entra-docs identity-platform/v2-protocols-oidc.md ("Find your app's OpenID
// configuration document URI", sample response) and access-tokens.md ("Validate
// tokens"): the discovery document names the token endpoint and jwks_uri; the JWKS
// holds the RSA key whose `kid` the RS256 access token's header names.
#[tokio::test]
async fn discovery_jwks_and_rs256_tokens() {
    let emu = start().await;
    let http = &emu.http;
    let r = to_resp(
        http.get(format!(
            "{}/contoso/v2.0/.well-known/openid-configuration",
            emu.base
        ))
        .send()
        .await
        .expect("discovery"),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let d = &r.body;
    for k in [
        "issuer",
        "token_endpoint",
        "jwks_uri",
        "authorization_endpoint",
        "response_types_supported",
        "subject_types_supported",
        "id_token_signing_alg_values_supported",
        "scopes_supported",
        "token_endpoint_auth_methods_supported",
    ] {
        assert!(d.get(k).is_some(), "{k} missing: {}", r.text);
    }
    assert_eq!(d["id_token_signing_alg_values_supported"], json!(["RS256"]));
    let token_endpoint = d["token_endpoint"].as_str().expect("token endpoint");
    assert!(
        token_endpoint.ends_with("/oauth2/v2.0/token"),
        "{token_endpoint}"
    );
    // The documented token endpoint issues tokens.
    let tok = to_resp(
        http.post(token_endpoint)
            .form(&[
                ("grant_type", "client_credentials"),
                ("client_id", CLIENT),
                ("client_secret", SECRET),
                ("scope", "https://graph.microsoft.com/.default"),
            ])
            .send()
            .await
            .expect("token"),
    )
    .await;
    assert_eq!(tok.status, 200, "{}", tok.text);
    let access = tok.body["access_token"]
        .as_str()
        .expect("token")
        .to_string();
    let jwks_uri = d["jwks_uri"].as_str().expect("jwks_uri");
    let jwks: jsonwebtoken::jwk::JwkSet = http
        .get(jwks_uri)
        .send()
        .await
        .expect("jwks")
        .json()
        .await
        .expect("jwks json");
    let header = jsonwebtoken::decode_header(&access).expect("header");
    assert_eq!(header.alg, jsonwebtoken::Algorithm::RS256);
    let kid = header.kid.expect("kid");
    let jwk = jwks.find(&kid).expect("the token's kid is in the JWKS");
    let raw: Value = serde_json::to_value(jwk).expect("jwk");
    assert_eq!(raw["kty"], "RSA");
    assert_eq!(raw["use"], "sig");
    assert!(raw["n"].as_str().is_some() && raw["e"].as_str().is_some());
    let key = jsonwebtoken::DecodingKey::from_jwk(jwk).expect("key");
    let mut v = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::RS256);
    v.set_audience(&["https://graph.microsoft.com"]);
    let claims = jsonwebtoken::decode::<Value>(&access, &key, &v).expect("signature verifies");
    assert_eq!(claims.claims["appid"], CLIENT);
    // A tampered token is refused by the emulator itself; its own token is accepted.
    let (head, rest) = access.split_once('.').expect("jwt");
    let (_, sig) = rest.split_once('.').expect("jwt");
    let forged_claims = base64::Engine::encode(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD,
        json!({"aud": "https://graph.microsoft.com", "iss": "x", "iat": 0, "nbf": 0,
               "exp": 4_000_000_000u64, "appid": CLIENT, "tid": "t", "roles": []})
        .to_string(),
    );
    let forged = format!("{head}.{forged_claims}.{sig}");
    for (t, want) in [(access.as_str(), 200), (forged.as_str(), 401)] {
        let r = to_resp(
            http.get(format!("{}/v1.0/users", emu.base))
                .bearer_auth(t)
                .send()
                .await
                .expect("users"),
        )
        .await;
        assert_eq!(r.status, want, "{}", r.text);
    }
    // The tenant-independent keys endpoint serves the same keys; an unknown tenant
    // is AADSTS90002.
    let common: Value = http
        .get(format!("{}/common/discovery/v2.0/keys", emu.base))
        .send()
        .await
        .expect("common keys")
        .json()
        .await
        .expect("json");
    assert_eq!(common["keys"][0]["kid"], json!(kid));
    let r = to_resp(
        http.get(format!(
            "{}/nosuchtenant/v2.0/.well-known/openid-configuration",
            emu.base
        ))
        .send()
        .await
        .expect("unknown"),
    )
    .await;
    assert_eq!(r.status, 400, "{}", r.text);
    assert_eq!(r.body["error_codes"], json!([90002]), "{}", r.text);
}

// api/invitation-post.md (request body: invitedUserMessageInfo, resetRedemption;
// the example response echoes invitedUserMessageInfo with its ccRecipients and
// customizedMessageBody); resources/invitation.md.
#[tokio::test]
async fn invitations_echo_message_info_and_reset_redemption() {
    let emu = start().await;
    let r = emu
        .post(
            "/invitations",
            json!({
                "invitedUserEmailAddress": "guest@partner.example",
                "inviteRedirectUrl": "https://myapp.contoso.com",
                "invitedUserMessageInfo": {
                    "customizedMessageBody": "Welcome",
                    "ccRecipients": [{"emailAddress": {"name": "Boss", "address": "boss@contoso.com"}}]
                },
                "resetRedemption": false,
                "sendInvitationMessage": false
            }),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let info = &r.body["invitedUserMessageInfo"];
    assert_eq!(info["customizedMessageBody"], "Welcome");
    assert_eq!(
        info["ccRecipients"][0]["emailAddress"]["address"],
        "boss@contoso.com"
    );
    assert_eq!(info["messageLanguage"], Value::Null);
    assert_eq!(r.body["resetRedemption"], false);
    assert_eq!(r.body["status"], "PendingAcceptance");
    for bad in [
        json!({"invitedUserMessageInfo": "x"}),
        json!({"invitedUserMessageInfo": {"ccRecipients": [{"name": "no address"}]}}),
        json!({"resetRedemption": "yes"}),
    ] {
        let mut b = json!({"invitedUserEmailAddress": "g2@partner.example",
                           "inviteRedirectUrl": "https://myapp.contoso.com"});
        for (k, v) in bad.as_object().expect("obj") {
            b[k] = v.clone();
        }
        let r = emu.post("/invitations", b).await;
        assert_eq!(r.status, 400, "{bad}: {}", r.text);
    }
}

// concepts/throttling-limits.md (Identity and access service limits): clients may send
// the `x-ms-throttle-priority` request header (Low, Normal, High); "Using the priority
// request header does not change the limits". The emulator accepts it and throttles
// every priority alike once the budget is spent.
#[tokio::test]
async fn throttle_priority_is_accepted_and_does_not_change_limits() {
    let emu = start_with(EmulatorConfig {
        ru_per_10s: Some(4),
        test_clock: true,
        ..config()
    })
    .await;
    emu.freeze().await;
    let r = emu
        .get_h("/users", &[("x-ms-throttle-priority", "Low")])
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let r = emu
        .get_h("/users", &[("x-ms-throttle-priority", "High")])
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    for p in ["High", "Normal", "Low"] {
        let r = emu.get_h("/users", &[("x-ms-throttle-priority", p)]).await;
        assert_graph_error(&r, 429, "TooManyRequests");
        assert!(r.header("x-ms-throttle-scope").is_some(), "{p}");
    }
}

// entra-docs identity-platform/v2-oauth2-client-creds-grant-flow.md ("Error response":
// error, error_description, error_codes, timestamp, trace_id, correlation_id) and
// reference-error-codes.md: AADSTS70003 unsupported_grant_type, AADSTS900144 a
// missing parameter, AADSTS1002012 a scope without /.default, AADSTS7000218 no
// credential, AADSTS7000215 a wrong secret (401 invalid_client), AADSTS700016 an
// unknown app (400 unauthorized_client).
#[tokio::test]
async fn token_endpoint_errors() {
    let emu = start().await;
    let url = format!("{}/contoso/oauth2/v2.0/token", emu.base);
    let scope = "https://graph.microsoft.com/.default";
    type Case<'a> = (Vec<(&'a str, &'a str)>, u16, &'a str, u64);
    let cases: Vec<Case> = vec![
        (
            vec![
                ("grant_type", "password"),
                ("client_id", CLIENT),
                ("scope", scope),
            ],
            400,
            "unsupported_grant_type",
            70003,
        ),
        (
            vec![
                ("grant_type", "client_credentials"),
                ("client_id", CLIENT),
                ("client_secret", SECRET),
            ],
            400,
            "invalid_request",
            900144,
        ),
        (
            vec![
                ("grant_type", "client_credentials"),
                ("client_id", CLIENT),
                ("client_secret", SECRET),
                ("scope", "User.Read"),
            ],
            400,
            "invalid_scope",
            1002012,
        ),
        (
            vec![
                ("grant_type", "client_credentials"),
                ("client_id", CLIENT),
                ("scope", scope),
            ],
            401,
            "invalid_client",
            7000218,
        ),
        (
            vec![
                ("grant_type", "client_credentials"),
                ("client_id", CLIENT),
                ("client_secret", "wrong"),
                ("scope", scope),
            ],
            401,
            "invalid_client",
            7000215,
        ),
        (
            vec![
                ("grant_type", "client_credentials"),
                ("client_id", "99999999-0000-0000-0000-000000000000"),
                ("client_secret", SECRET),
                ("scope", scope),
            ],
            400,
            "unauthorized_client",
            700016,
        ),
    ];
    for (form, status, error, code) in cases {
        let r = to_resp(emu.http.post(&url).form(&form).send().await.expect("token")).await;
        assert_eq!(r.status, status, "{form:?}: {}", r.text);
        assert_eq!(r.body["error"], error, "{}", r.text);
        assert_eq!(r.body["error_codes"], json!([code]), "{}", r.text);
        let desc = r.body["error_description"].as_str().expect("description");
        assert!(desc.starts_with(&format!("AADSTS{code}:")), "{desc}");
        for k in ["timestamp", "trace_id", "correlation_id"] {
            assert!(r.body[k].is_string(), "{k}: {}", r.text);
        }
        assert!(!r.text.contains(SECRET), "a secret echoed: {}", r.text);
    }
}
