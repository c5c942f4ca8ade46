//! Collections and query options as Microsoft documents them: `$count` with and
//! without `ConsistencyLevel`, `$orderby`, `$search`, deleted items through the same
//! pipeline, `$expand` of members/owners/memberOf, and `subscribedSkus` with `$select`
//! and service plans. Each test names the documentation page it follows
//! (microsoftgraph/microsoft-graph-docs-contrib unless said otherwise).

use crate::emulator_support as support;

use roster::emulator::EmulatorConfig;
use serde_json::{Value, json};
use support::*;

const EV: &[(&str, &str)] = &[("ConsistencyLevel", "eventual")];

fn names(r: &Resp, prop: &str) -> Vec<String> {
    r.body["value"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|v| v[prop].as_str().unwrap_or("").to_string())
                .collect()
        })
        .unwrap_or_default()
}

async fn named_user(emu: &Emu, nick: &str, display: &str) -> String {
    let mut b = new_user(nick);
    b["displayName"] = json!(display);
    let r = emu.post("/users", b).await;
    assert_eq!(r.status, 201, "{}", r.text);
    r.body["id"].as_str().expect("id").to_string()
}

async fn unified_group(emu: &Emu, name: &str, description: &str) -> String {
    let r = emu
        .post(
            "/groups",
            json!({"displayName": name, "description": description, "mailEnabled": true,
                   "mailNickname": name.replace(' ', ""), "securityEnabled": false,
                   "groupTypes": ["Unified"]}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    r.body["id"].as_str().expect("id").to_string()
}

// concepts/aad-advanced-queries.md, "Error handling for advanced queries on directory
// objects": without ConsistencyLevel `?$count=true` is silently ignored (200, no
// @odata.count), the `/$count` segment answers "$count is not currently supported.",
// and `$search` answers Request_UnsupportedQuery.
#[tokio::test]
async fn count_and_search_without_the_header() {
    let emu = start().await;
    emu.user("a").await;
    emu.group("g").await;
    for path in ["/users?$count=true", "/groups?$count=true"] {
        let r = emu.get(path).await;
        assert_eq!(r.status, 200, "{path}: {}", r.text);
        assert!(r.body.get("@odata.count").is_none(), "{path}: {}", r.text);
        let r = emu.get_h(path, EV).await;
        assert!(
            r.body["@odata.count"].as_u64().is_some(),
            "{path}: {}",
            r.text
        );
    }
    for path in ["/users/$count", "/groups/$count"] {
        let r = emu.get(path).await;
        assert_graph_error(&r, 400, "Request_BadRequest");
        assert_eq!(r.message(), "$count is not currently supported.");
    }
    for path in [
        "/users?$search=\"displayName:a\"",
        "/groups?$search=\"displayName:g\"",
    ] {
        let r = emu.get(path).await;
        assert_graph_error(&r, 400, "Request_UnsupportedQuery");
        assert_eq!(
            r.message(),
            "Request with $search query parameter only works through MSGraph with a special request header: 'ConsistencyLevel: eventual'"
        );
    }
}

// concepts/aad-advanced-queries.md, "Support for sorting by properties": displayName
// and userPrincipalName on users and displayName on groups sort by default;
// createdDateTime only in advanced queries; `$filter` with `$orderby` always needs the
// advanced query parameters.
#[tokio::test]
async fn orderby_default_and_advanced() {
    let emu = start().await;
    named_user(&emu, "zed", "Charlie").await;
    named_user(&emu, "amy", "Bravo").await;
    named_user(&emu, "kim", "Alpha").await;
    let r = emu.get("/users?$orderby=displayName").await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(names(&r, "displayName"), ["Alpha", "Bravo", "Charlie"]);
    let r = emu.get("/users?$orderby=displayName desc").await;
    assert_eq!(names(&r, "displayName"), ["Charlie", "Bravo", "Alpha"]);
    let r = emu.get("/users?$orderby=userPrincipalName").await;
    assert_eq!(
        names(&r, "userPrincipalName"),
        ["amy@contoso.com", "kim@contoso.com", "zed@contoso.com"]
    );
    // Paging keeps the order.
    let (all, pages) = emu.all("/users?$orderby=displayName&$top=2", &[]).await;
    assert_eq!(pages, 2);
    let got: Vec<&str> = all
        .iter()
        .filter_map(|v| v["displayName"].as_str())
        .collect();
    assert_eq!(got, ["Alpha", "Bravo", "Charlie"]);
    // createdDateTime: advanced only.
    let r = emu.get("/users?$orderby=createdDateTime").await;
    assert_graph_error(&r, 400, "Request_UnsupportedQuery");
    let r = emu.get_h("/users?$orderby=createdDateTime", EV).await;
    assert_graph_error(&r, 400, "Request_UnsupportedQuery");
    let r = emu
        .get_h("/users?$orderby=createdDateTime desc&$count=true", EV)
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["@odata.count"], 3);
    // Not a sortable property at all.
    let r = emu.get("/users?$orderby=jobTitle").await;
    assert_graph_error(&r, 400, "Request_UnsupportedQuery");
    // $filter + $orderby.
    let q = "/users?$filter=startswith(displayName,'A') or startswith(displayName,'B')&$orderby=displayName desc";
    let r = emu.get(q).await;
    assert_graph_error(&r, 400, "Request_UnsupportedQuery");
    let r = emu.get_h(&format!("{q}&$count=true"), EV).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(names(&r, "displayName"), ["Bravo", "Alpha"]);
    // Groups: displayName by default.
    emu.group("Zulu").await;
    emu.group("Echo").await;
    let r = emu.get("/groups?$orderby=displayName").await;
    assert_eq!(names(&r, "displayName"), ["Echo", "Zulu"]);
    let r = emu.get("/groups?$orderby=createdDateTime").await;
    assert_graph_error(&r, 400, "Request_UnsupportedQuery");
}

// concepts/search-query-parameter.md, "Using $search on directory object
// collections": tokenized search on displayName and description, startsWith on other
// properties, "property:value" clauses joined by AND / OR, only with ConsistencyLevel.
#[tokio::test]
async fn search_users_and_groups() {
    let emu = start().await;
    named_user(&emu, "guthrie", "Adele Guthrie").await;
    named_user(&emu, "megan", "MeganBowen").await;
    named_user(&emu, "alex", "Alex Wilber").await;
    let s = |q: &str| format!("/users?$search={q}");
    let r = emu.get_h(&s("\"displayName:Guthr\""), EV).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(names(&r, "displayName"), ["Adele Guthrie"]);
    // Casing splits tokens: MeganBowen => megan, bowen.
    let r = emu.get_h(&s("\"displayName:bowen\""), EV).await;
    assert_eq!(names(&r, "displayName"), ["MeganBowen"]);
    // No "contains" logic.
    let r = emu.get_h(&s("\"displayName:uthrie\""), EV).await;
    assert_eq!(r.body["value"], json!([]), "{}", r.text);
    // OR and startsWith on mail/userPrincipalName.
    let r = emu
        .get_h(
            &s("\"displayName:Guthr\" OR \"userPrincipalName:alex\"&$orderby=displayName"),
            EV,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(names(&r, "displayName"), ["Adele Guthrie", "Alex Wilber"]);
    // AND.
    let r = emu
        .get_h(
            &s("\"displayName:Adele\" AND \"userPrincipalName:megan\""),
            EV,
        )
        .await;
    assert_eq!(r.body["value"], json!([]), "{}", r.text);
    // With $count the count is the search's.
    let r = emu.get_h(&s("\"displayName:a\"&$count=true"), EV).await;
    assert_eq!(r.body["@odata.count"], 2, "{}", r.text);
    // Malformed or unsupported searches are 400s, never an unfiltered 200.
    for bad in [
        "\"Guthr\"",
        "displayName:Guthr",
        "\"displayName:a\" and \"mail:b\"",
    ] {
        let r = emu.get_h(&s(bad), EV).await;
        assert_eq!(r.status, 400, "{bad}: {}", r.text);
    }
    let r = emu.get_h(&s("\"bogusProp:x\""), EV).await;
    assert_graph_error(&r, 400, "Request_UnsupportedQuery");
    // Groups: description AND (displayName OR displayName), and $search with $filter.
    unified_group(&emu, "OneVideo", "One team").await;
    unified_group(&emu, "Drive Crew", "One drive").await;
    unified_group(&emu, "Other", "Two").await;
    let r = emu
        .get_h(
            "/groups?$search=\"description:One\" AND (\"displayName:Video\" OR \"displayName:Drive\")&$orderby=displayName",
            EV,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(names(&r, "displayName"), ["Drive Crew", "OneVideo"]);
    let r = emu
        .get_h(
            "/groups?$filter=mailEnabled eq true&$search=\"displayName:OneVideo\"",
            EV,
        )
        .await;
    assert_eq!(names(&r, "displayName"), ["OneVideo"]);
}

// api/group-list-members.md: ConsistencyLevel and $count "are required when using the
// $search, $filter, $orderby, or OData cast query parameters"; $search on displayName
// and description; Example 4 sorts members by displayName.
#[tokio::test]
async fn members_search_and_orderby() {
    let emu = start().await;
    let g = emu.group("team").await;
    let c = named_user(&emu, "c", "Carol").await;
    let a = named_user(&emu, "a", "Alice").await;
    let b = named_user(&emu, "b", "Bob").await;
    for m in [&c, &a, &b] {
        assert_eq!(emu.add_member(&g, m).await.status, 204);
    }
    let base = format!("/groups/{g}/members");
    let r = emu.get(&format!("{base}?$orderby=displayName")).await;
    assert_graph_error(&r, 400, "Request_UnsupportedQuery");
    let r = emu
        .get_h(&format!("{base}?$orderby=displayName&$count=true"), EV)
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(names(&r, "displayName"), ["Alice", "Bob", "Carol"]);
    assert_eq!(r.body["@odata.count"], 3);
    let r = emu
        .get_h(
            &format!("{base}/microsoft.graph.user?$orderby=displayName desc&$count=true&$top=2"),
            EV,
        )
        .await;
    assert_eq!(names(&r, "displayName"), ["Carol", "Bob"]);
    assert!(r.body["@odata.nextLink"].is_string(), "{}", r.text);
    let r = emu.get(&format!("{base}?$search=\"displayName:bo\"")).await;
    assert_graph_error(&r, 400, "Request_UnsupportedQuery");
    let r = emu
        .get_h(
            &format!("{base}?$search=\"displayName:bo\"&$count=true"),
            EV,
        )
        .await;
    assert_eq!(names(&r, "displayName"), ["Bob"]);
    assert_eq!(r.body["@odata.count"], 1);
    let r = emu
        .get_h(&format!("{base}?$search=\"displayName:zz\""), EV)
        .await;
    assert_eq!(r.body["value"], json!([]), "{}", r.text);
    // $count=true without the header: ignored.
    let r = emu.get(&format!("{base}?$count=true")).await;
    assert_eq!(r.status, 200);
    assert!(r.body.get("@odata.count").is_none());
    let r = emu.get(&format!("{base}/$count")).await;
    assert_eq!(r.message(), "$count is not currently supported.");
    // An $expand on the members list is refused rather than dropped.
    let r = emu.get(&format!("{base}?$expand=manager")).await;
    assert_eq!(r.status, 400, "{}", r.text);
}

// api/directory-deleteditems-list.md: $count, $filter, $orderBy (deletedDateTime
// only with the advanced query parameters), $search, $select and $top on the cast;
// Example 2's `$count=true&$orderBy=deletedDateTime asc` with ConsistencyLevel
// returns @odata.count; the `/$count` segment counts them.
#[tokio::test]
async fn deleted_items_query_options() {
    let emu = start_with(EmulatorConfig {
        test_clock: true,
        ..config()
    })
    .await;
    emu.freeze().await;
    let carol = named_user(&emu, "carol", "Carol").await;
    let dave = named_user(&emu, "dave", "Dave").await;
    let alan = named_user(&emu, "alan", "Alan").await;
    for id in [&dave, &carol, &alan] {
        assert_eq!(emu.delete(&format!("/users/{id}")).await.status, 204);
        emu.advance(5_000).await;
    }
    let base = "/directory/deletedItems/microsoft.graph.user";
    let r = emu
        .get(&format!("{base}?$filter=displayName eq 'Carol'"))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(names(&r, "displayName"), ["Carol"]);
    let r = emu
        .get(&format!("{base}?$filter=startswith(displayName,'Da')"))
        .await;
    assert_eq!(names(&r, "displayName"), ["Dave"]);
    let r = emu.get(&format!("{base}?$orderby=displayName desc")).await;
    assert_eq!(names(&r, "displayName"), ["Dave", "Carol", "Alan"]);
    let r = emu.get(&format!("{base}?$orderby=userPrincipalName")).await;
    assert_eq!(names(&r, "displayName"), ["Alan", "Carol", "Dave"]);
    let r = emu
        .get(&format!("{base}?$orderBy=deletedDateTime asc"))
        .await;
    assert_graph_error(&r, 400, "Request_UnsupportedQuery");
    let r = emu
        .get_h(
            &format!("{base}?$count=true&$orderBy=deletedDateTime asc&$select=id,DisplayName,deletedDateTime"),
            EV,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["@odata.count"], 3);
    let ids: Vec<&str> = r.body["value"]
        .as_array()
        .expect("value")
        .iter()
        .filter_map(|v| v["id"].as_str())
        .collect();
    assert_eq!(ids, [dave.as_str(), carol.as_str(), alan.as_str()]);
    let r = emu
        .get_h(
            &format!("{base}?$orderBy=deletedDateTime desc&$count=true&$top=2"),
            EV,
        )
        .await;
    assert_eq!(r.body["value"][0]["id"], alan.as_str());
    let next = r.body["@odata.nextLink"]
        .as_str()
        .expect("nextLink")
        .to_string();
    let r2 = emu.get_h(&next, EV).await;
    assert_eq!(r2.body["value"][0]["id"], dave.as_str(), "{}", r2.text);
    // $count without the header: ignored; the segment counts with it.
    let r = emu.get(&format!("{base}?$count=true")).await;
    assert_eq!(r.status, 200);
    assert!(r.body.get("@odata.count").is_none());
    let r = emu.get(&format!("{base}/$count")).await;
    assert_graph_error(&r, 400, "Request_BadRequest");
    assert_eq!(r.message(), "$count is not currently supported.");
    let r = emu.get_h(&format!("{base}/$count"), EV).await;
    assert_eq!((r.status, r.text.as_str()), (200, "3"));
    // $search.
    let r = emu
        .get_h(&format!("{base}?$search=\"displayName:car\""), EV)
        .await;
    assert_eq!(names(&r, "displayName"), ["Carol"]);
    let r = emu
        .get(&format!("{base}?$search=\"displayName:car\""))
        .await;
    assert_graph_error(&r, 400, "Request_UnsupportedQuery");
    // Groups: a deleted Microsoft 365 group, sorted and filtered too.
    let g = unified_group(&emu, "Gone", "x").await;
    assert_eq!(emu.delete(&format!("/groups/{g}")).await.status, 204);
    let gb = "/directory/deletedItems/microsoft.graph.group";
    let r = emu
        .get(&format!("{gb}?$filter=displayName eq 'Gone'&$select=id"))
        .await;
    assert_eq!(r.body["value"][0]["id"], g.as_str(), "{}", r.text);
    let r = emu
        .get(&format!("{gb}?$filter=displayName eq 'Nope'"))
        .await;
    assert_eq!(r.body["value"], json!([]));
    let r = emu.get(&format!("{gb}?$orderby=userPrincipalName")).await;
    assert_graph_error(&r, 400, "Request_UnsupportedQuery");
}

// concepts/query-parameters.md, "expand parameter": members and owners of a group,
// memberOf of a user; "$expand typically returns a maximum of 20 items for the
// expanded relationship and has no @odata.nextLink".
#[tokio::test]
async fn expand_members_owners_and_member_of() {
    let emu = start().await;
    let g = emu.group("big").await;
    let mut ids = Vec::new();
    for i in 0..22 {
        let id = emu.user(&format!("m{i}")).await;
        assert_eq!(emu.add_member(&g, &id).await.status, 204);
        ids.push(id);
    }
    let owner = emu.user("owner").await;
    let r = emu
        .post(
            &format!("/groups/{g}/owners/$ref"),
            json!({"@odata.id": format!("https://graph.microsoft.com/v1.0/directoryObjects/{owner}")}),
        )
        .await;
    assert_eq!(r.status, 204, "{}", r.text);
    let r = emu.get(&format!("/groups/{g}?$expand=members")).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let members = r.body["members"].as_array().expect("members expanded");
    assert_eq!(members.len(), 20);
    assert_eq!(members[0]["@odata.type"], "#microsoft.graph.user");
    assert!(r.body.get("members@odata.nextLink").is_none());
    let r = emu
        .get(&format!(
            "/groups/{g}?$expand=owners($select=id,displayName)"
        ))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["owners"][0]["id"], owner.as_str());
    assert!(r.body["owners"][0].get("userPrincipalName").is_none());
    let r = emu
        .get("/groups?$expand=members&$filter=displayName eq 'big'")
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(
        r.body["value"][0]["members"].as_array().map(Vec::len),
        Some(20)
    );
    let r = emu
        .get(&format!("/users/{}?$expand=memberOf", ids[0]))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["memberOf"][0]["id"], g.as_str());
    assert_eq!(
        r.body["memberOf"][0]["@odata.type"],
        "#microsoft.graph.group"
    );
    let r = emu.get(&format!("/users/{owner}?$expand=memberOf")).await;
    assert_eq!(r.body["memberOf"], json!([]));
    // Forms Graph does not allow: a structural property, an unknown property.
    let r = emu.get(&format!("/groups/{g}?$expand=displayName")).await;
    assert_eq!(r.status, 400, "{}", r.text);
    let r = emu.get(&format!("/groups/{g}?$expand=bogus")).await;
    assert_eq!(r.status, 400, "{}", r.text);
    assert!(r.message().contains("bogus"), "{}", r.text);
}

// api/subscribedsku-list.md: `$select` is the only supported option; resources/
// subscribedsku.md: servicePlans lists the SKU's plans (entra-docs
// licensing-service-plan-reference.md for Office 365 E3's).
#[tokio::test]
async fn subscribed_skus_select_and_service_plans() {
    let emu = start().await;
    let r = emu.get("/subscribedSkus").await;
    assert_eq!(r.status, 200, "{}", r.text);
    let plans = r.body["value"][0]["servicePlans"]
        .as_array()
        .expect("plans");
    let exchange = plans
        .iter()
        .find(|p| p["servicePlanName"] == "EXCHANGE_S_ENTERPRISE")
        .expect("Exchange Online (Plan 2)");
    assert_eq!(
        exchange["servicePlanId"],
        "efb87545-963c-4e0d-99df-69c6916d9eb0"
    );
    assert_eq!(exchange["provisioningStatus"], "Success");
    assert_eq!(exchange["appliesTo"], "User");
    assert!(plans.iter().any(|p| p["servicePlanName"] == "TEAMS1"
        && p["servicePlanId"] == "57ff2da0-773e-42df-b2af-ffb7a2317929"));
    let r = emu
        .get("/subscribedSkus?$select=skuPartNumber,servicePlans")
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let sku = r.body["value"][0].as_object().expect("sku");
    assert_eq!(sku["skuPartNumber"], "ENTERPRISEPACK");
    assert!(sku.contains_key("servicePlans"));
    assert!(!sku.contains_key("consumedUnits"), "{}", r.text);
    assert!(!sku.contains_key("prepaidUnits"), "{}", r.text);
    let id = r.body["value"][0]["id"].as_str().expect("id").to_string();
    let r = emu
        .get(&format!("/subscribedSkus/{id}?$select=consumedUnits"))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert!(r.body.get("skuPartNumber").is_none(), "{}", r.text);
    assert_eq!(r.body["consumedUnits"], 0);
    let r = emu.get("/subscribedSkus?$select=bogus").await;
    assert_eq!(r.status, 400, "{}", r.text);
    let r = emu
        .get("/subscribedSkus?$filter=skuPartNumber eq 'ENTERPRISEPACK'")
        .await;
    assert_eq!(r.status, 400, "{}", r.text);
    let _ = Value::Null;
}

// $select property names are case-insensitive in Graph (api/directory-deleteditems-list.md
// Example 2 selects `DisplayName`; OData 4.01 URL conventions): every endpoint answers
// with the canonical names.
#[tokio::test]
async fn select_names_are_case_insensitive_everywhere() {
    let emu = start().await;
    let u = emu.user("casey").await;
    let g = emu.group("cased").await;
    let r = emu
        .get(&format!("/users/{u}?$select=DISPLAYNAME,userprincipalname"))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let o = r.body.as_object().expect("user");
    assert!(o.contains_key("displayName"), "{}", r.text);
    assert!(o.contains_key("userPrincipalName"), "{}", r.text);
    assert!(!o.contains_key("mail"), "{}", r.text);
    let r = emu.get("/users?$select=Id,DisplayName").await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert!(
        r.body["value"][0].get("displayName").is_some(),
        "{}",
        r.text
    );
    let r = emu.get(&format!("/groups/{g}?$select=MAILNICKNAME")).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["mailNickname"], "cased", "{}", r.text);
    let r = emu.get("/subscribedSkus?$select=SkuPartNumber").await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["value"][0]["skuPartNumber"], "ENTERPRISEPACK");
    let r = emu.get("/users/delta?$select=JobTitle").await;
    assert_eq!(r.status, 200, "{}", r.text);
    // An unknown name is still refused.
    let r = emu.get("/users?$select=DisplayNam").await;
    assert_eq!(r.status, 400, "{}", r.text);
}

// api/user-assignlicense.md: disabledPlans are "the unique identifiers for plans that
// have been disabled" of that SKU (resources/assignedlicense.md): a plan of the SKU is
// accepted, an id that is not one of its servicePlans is refused with 400.
#[tokio::test]
async fn assign_license_disabled_plans_must_be_plans_of_the_sku() {
    let emu = start().await;
    let sku = emu.sku().await;
    let u = emu.user("plans").await;
    let r = emu
        .patch(&format!("/users/{u}"), json!({"usageLocation": "US"}))
        .await;
    assert_eq!(r.status, 204, "{}", r.text);
    let assign = |plan: &str| json!({"addLicenses": [{"skuId": sku, "disabledPlans": [plan]}], "removeLicenses": []});
    let r = emu
        .post(
            &format!("/users/{u}/assignLicense"),
            assign("00000000-0000-4000-8000-000000000001"),
        )
        .await;
    assert_graph_error(&r, 400, "Request_BadRequest");
    let r = emu
        .get(&format!("/users/{u}?$select=assignedLicenses"))
        .await;
    assert_eq!(r.body["assignedLicenses"], json!([]), "{}", r.text);
    // Exchange Online (Plan 2) is a plan of Office 365 E3.
    let r = emu
        .post(
            &format!("/users/{u}/assignLicense"),
            assign("efb87545-963c-4e0d-99df-69c6916d9eb0"),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let r = emu
        .get(&format!("/users/{u}?$select=assignedLicenses"))
        .await;
    assert_eq!(
        r.body["assignedLicenses"][0]["disabledPlans"],
        json!(["efb87545-963c-4e0d-99df-69c6916d9eb0"]),
        "{}",
        r.text
    );
}

// concepts/aad-advanced-queries.md (createdDateTime: `ge`, `le` with advanced queries)
// and OData's unquoted dateTimeOffset literal (resources/user.md createdDateTime:
// "Supports $filter (eq, ne, not, ge, le, in)"): date comparisons on createdDateTime.
#[tokio::test]
async fn filter_created_date_time_with_date_literals() {
    let emu = start().await;
    let mut old = new_user("oldtimer");
    old["createdDateTime"] = json!("2020-03-01T08:00:00Z");
    let old = emu.door_id("users", old).await;
    let fresh = emu.user("fresh").await;
    let cl = [("ConsistencyLevel", "eventual")];
    let ids = |r: &Resp| -> Vec<String> {
        r.body["value"]
            .as_array()
            .expect("value")
            .iter()
            .filter_map(|v| v["id"].as_str().map(str::to_string))
            .collect()
    };
    let r = emu
        .get_h(
            "/users?$count=true&$filter=createdDateTime ge 2024-01-01T00:00:00Z",
            &cl,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let got = ids(&r);
    assert!(got.contains(&fresh) && !got.contains(&old), "{got:?}");
    let r = emu
        .get_h(
            "/users?$count=true&$filter=createdDateTime le 2021-01-01T00:00:00.000Z",
            &cl,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(ids(&r), vec![old.clone()]);
    let r = emu
        .get_h(
            "/users?$count=true&$filter=createdDateTime eq 2020-03-01T09:00:00%2B01:00",
            &cl,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(ids(&r), vec![old]);
    // Malformed literal: OData's 400.
    let r = emu
        .get_h(
            "/users?$count=true&$filter=createdDateTime ge 2024-13-01T00:00:00Z",
            &cl,
        )
        .await;
    assert_eq!(r.status, 400, "{}", r.text);
}
