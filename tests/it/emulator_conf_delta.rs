//! Delta queries of users and groups as Microsoft documents them: which changes a
//! round reports under `$select`, when `members@delta` appears, `$filter` by id, the
//! `Location` of a reset and properties that were never set.

use crate::emulator_support as support;

use roster::emulator::EmulatorConfig;
use serde_json::{Value, json};
use support::*;

/// Follow a delta round from `path` to its deltaLink; returns (items, deltaLink).
async fn round(emu: &Emu, path: &str) -> (Vec<Value>, String) {
    round_h(emu, path, &[]).await.0
}

/// As [`round`], sending `headers` on every request; also returns the page sizes.
async fn round_h(
    emu: &Emu,
    path: &str,
    headers: &[(&str, &str)],
) -> ((Vec<Value>, String), Vec<usize>) {
    let mut url = emu.url(path);
    let mut items = Vec::new();
    let mut pages = Vec::new();
    loop {
        let r = emu.get_h(&url, headers).await;
        assert_eq!(r.status, 200, "{}", r.text);
        let page = r.body["value"].as_array().cloned().unwrap_or_default();
        pages.push(page.len());
        items.extend(page);
        if let Some(n) = r.body["@odata.nextLink"].as_str() {
            url = n.to_string();
        } else {
            let dl = r.body["@odata.deltaLink"].as_str().expect("deltaLink");
            return ((items, dl.to_string()), pages);
        }
    }
}

fn ids(items: &[Value]) -> Vec<String> {
    items
        .iter()
        .filter_map(|v| v["id"].as_str().map(str::to_string))
        .collect()
}

fn member_ref(id: &str) -> Value {
    json!({ "@odata.id": format!("https://graph.microsoft.com/v1.0/directoryObjects/{id}") })
}

// concepts/delta-query-overview.md, "Optional query parameters" (users, groups): "If a
// change occurs to a property that is not selected, the resource for which that
// property changed does not appear in the delta response after a subsequent request."
#[tokio::test]
async fn users_delta_select_reports_only_selected_property_changes() {
    let emu = start().await;
    let bob = emu.user("bob").await;
    let carol = emu.user("carol").await;
    let (_, dl) = round(&emu, "/users/delta?$select=displayName").await;
    let r = emu
        .patch(&format!("/users/{bob}"), json!({"department": "Sales"}))
        .await;
    assert_eq!(r.status, 204, "{}", r.text);
    let (items, dl) = round(&emu, &dl).await;
    assert!(items.is_empty(), "unselected change reported: {items:?}");
    // A selected property: reported, with the selection.
    emu.patch(
        &format!("/users/{carol}"),
        json!({"displayName": "Carol C"}),
    )
    .await;
    let (items, dl) = round(&emu, &dl).await;
    assert_eq!(ids(&items), vec![carol.clone()]);
    assert_eq!(items[0]["displayName"], "Carol C");
    // A manager change is a change of `manager`, not selected here.
    let r = emu
        .send(
            reqwest::Method::PUT,
            &format!("/users/{bob}/manager/$ref"),
            Some(member_ref(&carol)),
            &[],
        )
        .await;
    assert_eq!(r.status, 204, "{}", r.text);
    let (items, _) = round(&emu, &dl).await;
    assert!(items.is_empty(), "manager change reported: {items:?}");
}

// concepts/delta-query-overview.md: "`$select` also supports **manager** and
// **members** navigation properties"; with `manager` selected a manager change is
// reported even though no property changed.
#[tokio::test]
async fn users_delta_select_manager_reports_manager_changes() {
    let emu = start().await;
    let bob = emu.user("bob").await;
    let carol = emu.user("carol").await;
    let (_, dl) = round(&emu, "/users/delta?$select=displayName,manager").await;
    emu.send(
        reqwest::Method::PUT,
        &format!("/users/{bob}/manager/$ref"),
        Some(member_ref(&carol)),
        &[],
    )
    .await;
    let (items, _) = round(&emu, &dl).await;
    assert_eq!(ids(&items), vec![bob.clone()]);
    assert_eq!(items[0]["manager@delta"][0]["id"], carol.as_str());
}

// user-delta.md Example 1: "There is no `$select` parameter, so a default set of
// properties is tracked and returned" — a change outside the default set (department)
// is not reported, one inside it (jobTitle) is.
#[tokio::test]
async fn users_delta_without_select_tracks_the_default_set() {
    let emu = start().await;
    let bob = emu.user("bob").await;
    let (_, dl) = round(&emu, "/users/delta").await;
    emu.patch(&format!("/users/{bob}"), json!({"department": "Sales"}))
        .await;
    let (items, dl) = round(&emu, &dl).await;
    assert!(items.is_empty(), "{items:?}");
    emu.patch(&format!("/users/{bob}"), json!({"jobTitle": "Engineer"}))
        .await;
    let (items, _) = round(&emu, &dl).await;
    assert_eq!(ids(&items), vec![bob]);
    assert_eq!(items[0]["jobTitle"], "Engineer");
}

// concepts/delta-query-overview.md (as above) for groups: neither a description change
// nor a membership change is reported when only displayName is selected; with members
// selected the membership change is.
#[tokio::test]
async fn groups_delta_select_reports_only_selected_changes() {
    let emu = start().await;
    let sg1 = emu.group("sg1").await;
    let sg2 = emu.group("sg2").await;
    let alice = emu.user("alice").await;
    let (_, dl) = round(&emu, "/groups/delta?$select=displayName").await;
    let (_, dl_m) = round(&emu, "/groups/delta?$select=displayName,members").await;
    emu.patch(&format!("/groups/{sg2}"), json!({"description": "changed"}))
        .await;
    let r = emu
        .post(&format!("/groups/{sg1}/members/$ref"), member_ref(&alice))
        .await;
    assert_eq!(r.status, 204, "{}", r.text);
    let (items, _) = round(&emu, &dl).await;
    assert!(items.is_empty(), "{items:?}");
    let (items, _) = round(&emu, &dl_m).await;
    assert_eq!(ids(&items), vec![sg1.clone()], "{items:?}");
    assert_eq!(items[0]["members@delta"][0]["id"], alice.as_str());
}

// group-delta.md Example 1 (no `$select`: "Note the presence of the _members@delta_
// property") and concepts/delta-query-groups.md ("The `members@delta` property is
// included in group objects by default, when the `$select` query parameter has not
// been specified"; initial response: a group without members "does not contain that
// property").
#[tokio::test]
async fn groups_delta_members_delta_by_default_and_omitted_when_empty() {
    let emu = start().await;
    let sg1 = emu.group("sg1").await;
    let sg2 = emu.group("sg2").await;
    let alice = emu.user("alice").await;
    emu.post(&format!("/groups/{sg1}/members/$ref"), member_ref(&alice))
        .await;
    let (items, dl) = round(&emu, "/groups/delta").await;
    let find = |id: &str| {
        items
            .iter()
            .find(|g| g["id"] == id)
            .cloned()
            .expect("group")
    };
    assert_eq!(find(&sg1)["members@delta"][0]["id"], alice.as_str());
    assert_eq!(
        find(&sg1)["members@delta"][0]["@odata.type"],
        "#microsoft.graph.user"
    );
    assert!(
        find(&sg2).get("members@delta").is_none(),
        "{:?}",
        find(&sg2)
    );
    // With $select=…,members the empty group still carries no annotation.
    let (sel_items, _) = round(&emu, "/groups/delta?$select=displayName,members").await;
    let g2 = sel_items
        .iter()
        .find(|g| g["id"] == sg2.as_str())
        .expect("sg2");
    assert!(g2.get("members@delta").is_none(), "{g2:?}");
    // Incremental round without $select: the membership change is reported with only
    // the changed member (concepts/delta-query-groups.md, "deltaLink response").
    let bob = emu.user("bob").await;
    emu.post(&format!("/groups/{sg2}/members/$ref"), member_ref(&bob))
        .await;
    let (items, _) = round(&emu, &dl).await;
    assert_eq!(ids(&items), vec![sg2.clone()], "{items:?}");
    let md = items[0]["members@delta"].as_array().expect("members@delta");
    assert_eq!(md.len(), 1);
    assert_eq!(md[0]["id"], bob.as_str());
}

// user-delta.md, "OData query parameters": "The only supported `$filter` expression is
// for tracking changes on a specific object: `$filter=id+eq+{value}`. You can filter
// multiple objects … There is a limit of 50 filtered objects."
#[tokio::test]
async fn users_delta_filter_by_id_scopes_every_round() {
    let emu = start().await;
    let a = emu.user("a").await;
    let b = emu.user("b").await;
    let c = emu.user("c").await;
    let q = format!("/users/delta?$select=displayName&$filter=id eq '{a}' or id eq '{b}'");
    let (items, dl) = round(&emu, &q).await;
    let mut got = ids(&items);
    got.sort();
    let mut want = vec![a.clone(), b.clone()];
    want.sort();
    assert_eq!(got, want);
    // The filter is carried in the token: a change of c is not reported, one of a is.
    for id in [&a, &c] {
        emu.patch(&format!("/users/{id}"), json!({"displayName": "changed"}))
            .await;
    }
    emu.delete(&format!("/users/{c}")).await;
    let (items, _) = round(&emu, &dl).await;
    assert_eq!(ids(&items), vec![a.clone()], "{items:?}");
}

// group-delta.md, "OData query parameters" (same `$filter=id eq` support as users).
#[tokio::test]
async fn groups_delta_filter_by_id() {
    let emu = start().await;
    let g1 = emu.group("g1").await;
    let _g2 = emu.group("g2").await;
    let (items, _) = round(&emu, &format!("/groups/delta?$filter=id eq '{g1}'")).await;
    assert_eq!(ids(&items), vec![g1]);
}

// user-delta.md: only `id eq` is supported, at most 50 objects; other filters are
// unsupported queries.
#[tokio::test]
async fn delta_filter_other_than_id_or_over_fifty_is_refused() {
    let emu = start().await;
    let r = emu.get("/users/delta?$filter=displayName eq 'x'").await;
    assert_graph_error(&r, 400, "Request_UnsupportedQuery");
    let terms: Vec<String> = (0..51)
        .map(|i| format!("id eq '00000000-0000-0000-0000-{i:012}'"))
        .collect();
    let r = emu
        .get(&format!("/groups/delta?$filter={}", terms.join(" or ")))
        .await;
    assert_graph_error(&r, 400, "Request_UnsupportedQuery");
    let terms: Vec<String> = (0..50)
        .map(|i| format!("id eq '00000000-0000-0000-0000-{i:012}'"))
        .collect();
    let r = emu
        .get(&format!("/groups/delta?$filter={}", terms.join(" or ")))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["value"], json!([]));
}

// concepts/delta-query-overview.md, "Synchronization reset": "`410 (gone)` and a
// **Location** header containing a request URL with an empty `$deltaToken` (same as
// the initial query)".
#[tokio::test]
async fn delta_reset_carries_location_of_the_initial_query() {
    let cfg = EmulatorConfig {
        delta_token_ttl_secs: 60,
        test_clock: true,
        ..config()
    };
    let emu = start_with(cfg).await;
    let a = emu.user("a").await;
    let (_, dl) = round(&emu, "/users/delta?$select=displayName").await;
    emu.advance(61_000).await;
    let r = emu.get(&dl).await;
    assert_graph_error(&r, 410, "syncStateNotFound");
    let loc = r.header("location").expect("Location header");
    assert!(
        loc.starts_with(&format!("{}/v1.0/users/delta?", emu.base)),
        "{loc}"
    );
    assert!(loc.contains("$select=displayName"), "{loc}");
    assert!(loc.ends_with("$deltatoken="), "{loc}");
    // Following it starts a full round again.
    let (items, _) = round(&emu, &loc).await;
    assert_eq!(ids(&items), vec![a]);
    assert!(items[0].get("userPrincipalName").is_none());
}

// user-delta.md, "Default: return the same properties as initial delta request": "If
// the property has never been set before it will not be included in the response at
// all", while "properties being set to null" are included.
#[tokio::test]
async fn delta_round_omits_properties_never_set() {
    let emu = start().await;
    let a = emu.user("a").await;
    let (_, dl) = round(
        &emu,
        "/users/delta?$select=displayName,jobTitle,officeLocation",
    )
    .await;
    emu.patch(
        &format!("/users/{a}"),
        json!({"displayName": "A2", "officeLocation": "B1"}),
    )
    .await;
    let (items, dl) = round(&emu, &dl).await;
    assert_eq!(items.len(), 1);
    assert_eq!(items[0]["displayName"], "A2");
    assert_eq!(items[0]["officeLocation"], "B1");
    assert!(items[0].get("jobTitle").is_none(), "{:?}", items[0]);
    // Cleared: reported as null.
    emu.patch(&format!("/users/{a}"), json!({"officeLocation": null}))
        .await;
    let (items, _) = round(&emu, &dl).await;
    assert_eq!(items.len(), 1);
    assert!(items[0]["officeLocation"].is_null());
    assert!(
        items[0]
            .as_object()
            .expect("obj")
            .contains_key("officeLocation")
    );
}

// user-delta.md, "Alternative: return only the changed properties": with
// `Prefer: return=minimal` on a deltaLink request "If the property has not changed, the
// property is not included in the response at all", a change to null is included
// (Example 3: `displayName` and `jobTitle: null`, no `mobilePhone`); the id always is.
#[tokio::test]
async fn users_delta_prefer_return_minimal_carries_only_changed_properties() {
    let emu = start().await;
    let a = emu.user("a").await;
    let r = emu
        .patch(
            &format!("/users/{a}"),
            json!({"jobTitle": "Dev", "mobilePhone": "+1 555 0100"}),
        )
        .await;
    assert_eq!(r.status, 204, "{}", r.text);
    let (_, dl) = round(
        &emu,
        "/users/delta?$select=displayName,jobTitle,mobilePhone",
    )
    .await;
    emu.patch(
        &format!("/users/{a}"),
        json!({"displayName": "A2", "jobTitle": null}),
    )
    .await;
    let minimal = [("Prefer", "return=minimal")];
    let ((items, _), _) = round_h(&emu, &dl, &minimal).await;
    assert_eq!(ids(&items), vec![a.clone()]);
    let o = items[0].as_object().expect("object");
    assert_eq!(o["displayName"], "A2");
    assert!(
        o.contains_key("jobTitle") && o["jobTitle"].is_null(),
        "{o:?}"
    );
    assert!(!o.contains_key("mobilePhone"), "unchanged property: {o:?}");
    // Without the header the same round carries every selected property.
    let ((items, dl), _) = round_h(&emu, &dl, &[]).await;
    assert_eq!(items[0]["mobilePhone"], "+1 555 0100");
    // "The header can be added to a deltaLink request at any point": a user created
    // since the token is new, so it comes whole.
    let b = emu.user("b").await;
    let ((items, _), _) = round_h(&emu, &dl, &minimal).await;
    assert_eq!(ids(&items), vec![b]);
    assert!(items[0].get("displayName").is_some(), "{:?}", items[0]);
}

// group-delta.md, Request headers: "Prefer: return=minimal … would return only the
// object properties that have changed since the last round".
#[tokio::test]
async fn groups_delta_prefer_return_minimal() {
    let emu = start().await;
    let g = emu.group("g").await;
    let (_, dl) = round(&emu, "/groups/delta?$select=displayName,description").await;
    emu.patch(&format!("/groups/{g}"), json!({"description": "new"}))
        .await;
    let ((items, _), _) = round_h(&emu, &dl, &[("Prefer", "return=minimal")]).await;
    assert_eq!(ids(&items), vec![g]);
    assert_eq!(items[0]["description"], "new");
    assert!(items[0].get("displayName").is_none(), "{:?}", items[0]);
}

// concepts/delta-query-overview.md (note on "sync from now"): "Append
// `$deltaToken=latest` to the `delta` function and the response will contain a
// `@odata.deltaLink` and no resource data"; the next round has only later changes.
#[tokio::test]
async fn delta_token_latest_answers_an_empty_page_with_a_delta_link() {
    let emu = start().await;
    let a = emu.user("a").await;
    let _b = emu.user("b").await;
    for coll in ["users", "groups"] {
        let r = emu.get(&format!("/{coll}/delta?$deltaToken=latest")).await;
        assert_eq!(r.status, 200, "{}", r.text);
        assert_eq!(r.body["value"], json!([]), "{}", r.text);
        assert!(r.body.get("@odata.nextLink").is_none());
        assert!(r.body["@odata.deltaLink"].as_str().is_some(), "{}", r.text);
    }
    let r = emu.get("/users/delta?$deltatoken=latest").await;
    let dl = r.body["@odata.deltaLink"]
        .as_str()
        .expect("deltaLink")
        .to_string();
    let (items, dl) = round(&emu, &dl).await;
    assert!(items.is_empty(), "{items:?}");
    emu.patch(&format!("/users/{a}"), json!({"displayName": "A2"}))
        .await;
    let (items, _) = round(&emu, &dl).await;
    assert_eq!(ids(&items), vec![a]);
}

// concepts/delta-query-overview.md: "If a `@odata.nextLink` URL is returned, there are
// additional pages … until a `@odata.deltaLink` URL is returned"; for users and groups
// "`$expand` is not supported. `$top` is not supported. `$orderby` is not supported."
// Page size follows `Prefer: odata.maxpagesize` (concepts/paging.md), in the initial
// and in deltaLink rounds.
#[tokio::test]
async fn delta_rounds_page_by_maxpagesize_and_refuse_top_and_expand() {
    let emu = start().await;
    let mut all = Vec::new();
    for n in 0..5 {
        all.push(emu.user(&format!("u{n}")).await);
    }
    let small = [("Prefer", "odata.maxpagesize=2")];
    let ((items, dl), pages) = round_h(&emu, "/users/delta?$select=displayName", &small).await;
    let mut seen = ids(&items);
    seen.sort();
    let mut want = all.clone();
    want.sort();
    assert_eq!(seen, want);
    assert!(pages.iter().all(|n| *n <= 2), "{pages:?}");
    assert!(pages.len() >= 3, "{pages:?}");
    for id in &all[..3] {
        emu.patch(&format!("/users/{id}"), json!({"displayName": "X"}))
            .await;
    }
    let ((items, _), pages) = round_h(&emu, &dl, &small).await;
    assert_eq!(items.len(), 3, "{items:?}");
    assert!(
        pages.len() >= 2 && pages.iter().all(|n| *n <= 2),
        "{pages:?}"
    );
    for q in ["$top=2", "$expand=manager", "$orderby=displayName"] {
        let r = emu.get(&format!("/users/delta?{q}")).await;
        assert_graph_error(&r, 400, "Request_UnsupportedQuery");
    }
    let r = emu.get("/groups/delta?$top=2").await;
    assert_graph_error(&r, 400, "Request_UnsupportedQuery");
}
