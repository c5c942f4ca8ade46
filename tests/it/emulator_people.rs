//! The Graph emulator's people features over HTTP: managers (`manager/$ref`,
//! `manager`, `directReports`, `$expand=manager`, `manager@delta`, also in `$batch`),
//! the organisational user properties (addresses, employee dates, `employeeOrgData`,
//! `onPremisesExtensionAttributes`) and restores with `newUserPrincipalName` — and the
//! same through Microsoft's own JavaScript Graph client (`tests/js/people.mjs`, run by
//! node against the emulator over HTTPS, as `emulator_js` runs `graph-client.mjs`).

use crate::emulator_support as support;

use std::time::Duration;

use roster::emulator::EmulatorConfig;
use serde_json::{Value, json};
use support::*;

const GRAPH: &str = "https://graph.microsoft.com/v1.0";

impl Emu {
    async fn put(&self, path: &str, body: Value) -> Resp {
        self.send(reqwest::Method::PUT, path, Some(body), &[]).await
    }

    /// `PUT /users/{user}/manager/$ref` naming `manager` by a `/users/{id}` URL.
    async fn set_manager(&self, user: &str, manager: &str) -> Resp {
        self.put(
            &format!("/users/{user}/manager/$ref"),
            json!({"@odata.id": format!("{GRAPH}/users/{manager}")}),
        )
        .await
    }

    async fn manager_of(&self, user: &str) -> Resp {
        self.get(&format!("/users/{user}/manager")).await
    }
}

/// The item of a collection with this id.
fn by_id<'a>(items: &'a [Value], id: &str) -> &'a Value {
    items
        .iter()
        .find(|u| u["id"] == id)
        .unwrap_or_else(|| panic!("{id} in {items:?}"))
}

// ------------------------------------------------------------------ managers

#[tokio::test]
async fn a_manager_is_set_read_expanded_and_removed() {
    let emu = start().await;
    let boss = emu.user("boss").await;
    let ann = emu.user("ann").await;
    let ben = emu.user("ben").await;

    // No manager yet: Graph's 404 on the reference.
    let r = emu.manager_of(&ann).await;
    assert_graph_error(&r, 404, "Request_ResourceNotFound");
    assert!(r.message().contains("'manager'"), "{}", r.text);

    // By a /users URL and by a /directoryObjects URL (as roster's connector sends it).
    assert_eq!(emu.set_manager(&ann, &boss).await.status, 204);
    let r = emu
        .put(
            &format!("/users/{ben}/manager/$ref"),
            json!({"@odata.id": format!("{GRAPH}/directoryObjects/{boss}")}),
        )
        .await;
    assert_eq!(r.status, 204, "{}", r.text);

    let r = emu.manager_of(&ann).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["id"], boss.as_str());
    assert_eq!(r.body["@odata.type"], "#microsoft.graph.user");
    assert_eq!(r.body["userPrincipalName"], "boss@contoso.com");
    // By UPN, with $select.
    let r = emu
        .get("/users/ann@contoso.com/manager?$select=id,displayName")
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["displayName"], "User boss");
    assert!(r.body.get("userPrincipalName").is_none(), "{}", r.text);
    // The reference itself.
    let r = emu.get(&format!("/users/{ann}/manager/$ref")).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert!(
        r.body["@odata.id"]
            .as_str()
            .is_some_and(|s| s.contains(&boss)),
        "{}",
        r.text
    );

    // directReports, paged.
    let (reports, pages) = emu
        .all(&format!("/users/{boss}/directReports?$top=1"), &[])
        .await;
    assert_eq!(pages, 2);
    let mut ids: Vec<&str> = reports.iter().filter_map(|u| u["id"].as_str()).collect();
    ids.sort_unstable();
    let mut want = vec![ann.as_str(), ben.as_str()];
    want.sort_unstable();
    assert_eq!(ids, want);
    assert!(
        reports
            .iter()
            .all(|u| u["@odata.type"] == "#microsoft.graph.user")
    );
    let r = emu.get(&format!("/users/{ann}/directReports")).await;
    assert_eq!(r.body["value"], json!([]), "{}", r.text);

    // $expand=manager($select=id) on the list, exactly as roster's connector reads.
    let r = emu
        .get("/users?$select=id,userPrincipalName,mailNickname&$expand=manager($select=id)")
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let items = r.body["value"].as_array().expect("value");
    assert_eq!(by_id(items, &ann)["manager"]["id"], boss.as_str());
    assert_eq!(by_id(items, &ann)["mailNickname"], "ann");
    assert!(
        by_id(items, &ann)["manager"].get("displayName").is_none(),
        "{}",
        r.text
    );
    assert!(
        by_id(items, &boss).get("manager").is_none(),
        "no manager, no member: {}",
        r.text
    );
    // On a single user, without $select inside: the default properties.
    let r = emu.get(&format!("/users/{ann}?$expand=manager")).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["manager"]["displayName"], "User boss");
    assert_eq!(r.body["manager"]["@odata.type"], "#microsoft.graph.user");
    // directReports expanded, and the management chain with $levels.
    let r = emu
        .get(&format!(
            "/users/{boss}?$select=id&$expand=directReports($select=id)"
        ))
        .await;
    assert_eq!(
        r.body["directReports"].as_array().map(Vec::len),
        Some(2),
        "{}",
        r.text
    );
    let top = emu.user("top").await;
    assert_eq!(emu.set_manager(&boss, &top).await.status, 204);
    let r = emu
        .get(&format!(
            "/users/{ann}?$select=id&$expand=manager($levels=max;$select=id)"
        ))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["manager"]["id"], boss.as_str());
    assert_eq!(r.body["manager"]["manager"]["id"], top.as_str());
    let r = emu
        .get(&format!(
            "/users/{ann}?$select=id&$expand=manager($select=id)"
        ))
        .await;
    assert!(r.body["manager"].get("manager").is_none(), "{}", r.text);

    // Replacing the manager is another PUT.
    assert_eq!(emu.set_manager(&ann, &ben).await.status, 204);
    assert_eq!(emu.manager_of(&ann).await.body["id"], ben.as_str());
    assert_eq!(
        emu.get(&format!("/users/{boss}/directReports")).await.body["value"]
            .as_array()
            .map(Vec::len),
        Some(1)
    );

    // Removing: 204, then 404 for the reference and for a second removal.
    assert_eq!(
        emu.delete(&format!("/users/{ann}/manager/$ref"))
            .await
            .status,
        204
    );
    assert_graph_error(&emu.manager_of(&ann).await, 404, "Request_ResourceNotFound");
    assert_graph_error(
        &emu.delete(&format!("/users/{ann}/manager/$ref")).await,
        404,
        "Request_ResourceNotFound",
    );
    let r = emu
        .get(&format!("/users/{ann}?$expand=manager($select=id)"))
        .await;
    assert!(r.body.get("manager").is_none(), "{}", r.text);
}

#[tokio::test]
async fn manager_writes_are_refused_as_graph_refuses_them() {
    let emu = start().await;
    let ann = emu.user("ann").await;
    let gid = emu.group("team").await;
    let missing = "0d7c2b8e-0000-4000-8000-0000000000ff";

    // An unknown manager.
    let r = emu.set_manager(&ann, missing).await;
    assert_graph_error(&r, 404, "Request_ResourceNotFound");
    assert!(r.message().contains(missing), "{}", r.text);
    // An unknown user.
    assert_graph_error(
        &emu.set_manager(missing, &ann).await,
        404,
        "Request_ResourceNotFound",
    );
    // Bad bodies: no reference, a URL that names no object, not JSON at all.
    assert_graph_error(
        &emu.put(&format!("/users/{ann}/manager/$ref"), json!({}))
            .await,
        400,
        "Request_BadRequest",
    );
    assert_graph_error(
        &emu.put(
            &format!("/users/{ann}/manager/$ref"),
            json!({"@odata.id": "https://graph.microsoft.com/v1.0/me"}),
        )
        .await,
        400,
        "Request_BadRequest",
    );
    assert_graph_error(
        &emu.put(
            &format!("/users/{ann}/manager/$ref"),
            json!({"@odata.id": 7}),
        )
        .await,
        400,
        "Request_BadRequest",
    );
    let r = to_resp(
        emu.http
            .put(emu.url(&format!("/users/{ann}/manager/$ref")))
            .bearer_auth(&emu.token)
            .header("Content-Type", "application/json")
            .body("{not json")
            .send()
            .await
            .expect("send"),
    )
    .await;
    assert_eq!(r.status, 400, "{}", r.text);
    // A group, or the user itself.
    assert_graph_error(
        &emu.set_manager(&ann, &gid).await,
        400,
        "Request_BadRequest",
    );
    assert_graph_error(
        &emu.set_manager(&ann, &ann).await,
        400,
        "Request_BadRequest",
    );
    // Only PUT, GET and DELETE on the reference; POST on manager is not a thing.
    assert_eq!(
        emu.post(
            &format!("/users/{ann}/manager/$ref"),
            json!({"@odata.id": format!("{GRAPH}/users/{ann}")})
        )
        .await
        .status,
        405
    );
    // A synced user's manager comes from its on-premises directory.
    let synced = emu
        .door_id(
            "users",
            json!({"userPrincipalName": "syn@contoso.com", "displayName": "Syn", "onPremisesSyncEnabled": true}),
        )
        .await;
    let r = emu.set_manager(&synced, &ann).await;
    assert_graph_error(&r, 400, "Request_BadRequest");
    assert!(r.message().contains("on-premises"), "{}", r.text);
    // Nothing above set a manager.
    assert_eq!(emu.manager_of(&ann).await.status, 404);
    // $expand of what is not emulated, or with a bad $select inside.
    for q in [
        "$expand=extensions",
        "$expand=manager($select=bogus)",
        "$expand=manager($levels=0)",
        "$expand=manager($select=id",
    ] {
        let r = emu.get(&format!("/users?{q}")).await;
        assert_eq!(r.status, 400, "{q}: {}", r.text);
        let r = emu.get(&format!("/users/{ann}?{q}")).await;
        assert_eq!(r.status, 400, "{q}: {}", r.text);
    }
}

#[tokio::test]
async fn managers_inside_batch() {
    let emu = start().await;
    let boss = emu.user("boss").await;
    let ann = emu.user("ann").await;
    let body = json!({"requests": [
        {"id": "1", "method": "PUT", "url": format!("/users/{ann}/manager/$ref"),
         "headers": {"Content-Type": "application/json"},
         "body": {"@odata.id": format!("{GRAPH}/directoryObjects/{boss}")}},
        {"id": "2", "method": "GET", "url": format!("/users/{ann}?$select=id&$expand=manager($select=id)"), "dependsOn": ["1"]},
        {"id": "3", "method": "GET", "url": "/users?$select=id,mailNickname&$expand=manager($select=id)", "dependsOn": ["2"]},
        {"id": "4", "method": "DELETE", "url": format!("/users/{ann}/manager/$ref"), "dependsOn": ["3"]},
        {"id": "5", "method": "DELETE", "url": format!("/users/{ann}/manager/$ref"), "dependsOn": ["4"]},
    ]});
    let r = emu.post("/$batch", body).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let resps = r.body["responses"].as_array().expect("responses");
    let part = |id: &str| resps.iter().find(|x| x["id"] == id).cloned().expect("part");
    assert_eq!(part("1")["status"], 204, "{}", r.text);
    assert_eq!(part("2")["status"], 200);
    assert_eq!(part("2")["body"]["manager"]["id"], boss.as_str());
    let items = part("3")["body"]["value"]
        .as_array()
        .cloned()
        .expect("value");
    assert_eq!(by_id(&items, &ann)["manager"]["id"], boss.as_str());
    assert_eq!(part("4")["status"], 204);
    assert_eq!(part("5")["status"], 404);
    assert_eq!(
        part("5")["body"]["error"]["code"],
        "Request_ResourceNotFound"
    );
    // An unknown manager, in a batch of its own (a request after a failed one in a
    // serial chain would only get 424).
    let body = json!({"requests": [
        {"id": "6", "method": "PUT", "url": format!("/users/{ann}/manager/$ref"),
         "headers": {"Content-Type": "application/json"},
         "body": {"@odata.id": format!("{GRAPH}/directoryObjects/0d7c2b8e-0000-4000-8000-0000000000ff")}},
    ]});
    let r = emu.post("/$batch", body).await;
    assert_eq!(r.body["responses"][0]["status"], 404, "{}", r.text);
    assert_eq!(emu.manager_of(&ann).await.status, 404);
}

#[tokio::test]
async fn a_deleted_manager_leaves_its_reports_and_comes_back_with_them() {
    let emu = start().await;
    let top = emu.user("top").await;
    let boss = emu.user("boss").await;
    let ann = emu.user("ann").await;
    let ben = emu.user("ben").await;
    let cid = emu.user("cid").await;
    for (u, m) in [(&boss, &top), (&ann, &boss), (&ben, &boss)] {
        assert_eq!(emu.set_manager(u, m).await.status, 204);
    }
    assert_eq!(emu.delete(&format!("/users/{boss}")).await.status, 204);
    assert_eq!(emu.manager_of(&ann).await.status, 404);
    let r = emu
        .get("/users?$select=id&$expand=manager($select=id)")
        .await;
    let items = r.body["value"].as_array().expect("value");
    assert!(by_id(items, &ann).get("manager").is_none(), "{}", r.text);
    assert_eq!(
        emu.get(&format!("/users/{top}/directReports")).await.body["value"],
        json!([])
    );
    // While it is deleted, ben gets another manager: he keeps that one.
    assert_eq!(emu.set_manager(&ben, &cid).await.status, 204);
    // A deleted user cannot be anyone's manager.
    assert_graph_error(
        &emu.set_manager(&cid, &boss).await,
        404,
        "Request_ResourceNotFound",
    );

    let r = emu
        .post(
            &format!("/directory/deletedItems/{boss}/restore"),
            json!({}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(emu.manager_of(&boss).await.body["id"], top.as_str());
    assert_eq!(emu.manager_of(&ann).await.body["id"], boss.as_str());
    assert_eq!(emu.manager_of(&ben).await.body["id"], cid.as_str());
    let reports = emu.get(&format!("/users/{boss}/directReports")).await;
    let ids: Vec<&str> = reports.body["value"]
        .as_array()
        .expect("value")
        .iter()
        .filter_map(|u| u["id"].as_str())
        .collect();
    assert_eq!(ids, vec![ann.as_str()]);

    // A manager purged while its report is deleted: the report comes back without one.
    assert_eq!(emu.delete(&format!("/users/{ann}")).await.status, 204);
    assert_eq!(emu.delete(&format!("/users/{boss}")).await.status, 204);
    assert_eq!(
        emu.delete(&format!("/directory/deletedItems/{boss}"))
            .await
            .status,
        204
    );
    let r = emu
        .post(&format!("/directory/deletedItems/{ann}/restore"), json!({}))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(emu.manager_of(&ann).await.status, 404);
}

#[tokio::test]
async fn users_delta_reports_manager_changes_when_selected() {
    let emu = start().await;
    let boss = emu.user("boss").await;
    let ann = emu.user("ann").await;
    assert_eq!(emu.set_manager(&ann, &boss).await.status, 204);
    let (items, _) = emu
        .all("/users/delta?$select=displayName,manager", &[])
        .await;
    assert_eq!(
        by_id(&items, &ann)["manager@delta"],
        json!([{"@odata.type": "#microsoft.graph.user", "id": boss}])
    );
    assert!(by_id(&items, &boss).get("manager@delta").is_none());
    // The round's deltaLink.
    let mut url = emu.url("/users/delta?$select=displayName,manager");
    let delta_link = loop {
        let r = emu.get(&url).await;
        if let Some(n) = r.body["@odata.nextLink"].as_str() {
            url = n.to_string();
            continue;
        }
        break r.body["@odata.deltaLink"]
            .as_str()
            .expect("deltaLink")
            .to_string();
    };
    // A manager change alone brings the user back, with the new manager.
    let ben = emu.user("ben").await;
    assert_eq!(emu.set_manager(&ann, &ben).await.status, 204);
    let r = emu.get(&delta_link).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let items = r.body["value"].as_array().expect("value").clone();
    assert_eq!(
        by_id(&items, &ann)["manager@delta"],
        json!([{"@odata.type": "#microsoft.graph.user", "id": ben}])
    );
    let next = r.body["@odata.deltaLink"]
        .as_str()
        .expect("deltaLink")
        .to_string();
    // A removal is an entry marked @removed.
    assert_eq!(
        emu.delete(&format!("/users/{ann}/manager/$ref"))
            .await
            .status,
        204
    );
    let r = emu.get(&next).await;
    let items = r.body["value"].as_array().expect("value").clone();
    assert_eq!(
        by_id(&items, &ann)["manager@delta"],
        json!([{"@odata.type": "#microsoft.graph.user", "id": ben, "@removed": {"reason": "deleted"}}])
    );
    // A new round's first pass reports the current state only: no past removals.
    let (items, _) = emu
        .all("/users/delta?$select=displayName,manager", &[])
        .await;
    assert!(
        by_id(&items, &ann).get("manager@delta").is_none(),
        "{items:?}"
    );
    // Without manager in $select there is no annotation.
    let (items, _) = emu.all("/users/delta?$select=displayName", &[]).await;
    assert!(items.iter().all(|u| u.get("manager@delta").is_none()));
}

#[tokio::test]
async fn managers_and_properties_persist_with_the_tenant() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("tenant.json");
    let cfg = EmulatorConfig {
        state_file: Some(path.clone()),
        persist_debounce_ms: 50,
        ..config()
    };
    let emu = start_with(cfg.clone()).await;
    let boss = emu.user("boss").await;
    let ann = emu.user("ann").await;
    assert_eq!(emu.set_manager(&ann, &boss).await.status, 204);
    let r = emu
        .patch(
            &format!("/users/{ann}"),
            json!({"onPremisesExtensionAttributes": {"extensionAttribute3": "x3"}, "employeeOrgData": {"costCenter": "CC-1"}, "employeeHireDate": "2024-01-15T00:00:00Z"}),
        )
        .await;
    assert_eq!(r.status, 204, "{}", r.text);
    emu.handle.shutdown().await.expect("shutdown");
    tokio::time::sleep(Duration::from_millis(20)).await;

    let emu = start_with(cfg).await;
    assert_eq!(emu.manager_of(&ann).await.body["id"], boss.as_str());
    assert_eq!(
        emu.get(&format!("/users/{boss}/directReports")).await.body["value"][0]["id"],
        ann.as_str()
    );
    let r = emu
        .get(&format!(
            "/users/{ann}?$select=onPremisesExtensionAttributes,employeeOrgData,employeeHireDate"
        ))
        .await;
    assert_eq!(
        r.body["onPremisesExtensionAttributes"]["extensionAttribute3"],
        "x3"
    );
    assert_eq!(r.body["employeeOrgData"]["costCenter"], "CC-1");
    assert_eq!(r.body["employeeHireDate"], "2024-01-15T00:00:00Z");
    emu.handle.shutdown().await.expect("shutdown");
}

// ------------------------------------------------------------------ user properties

#[tokio::test]
async fn organisational_properties_are_written_read_and_validated() {
    let emu = start().await;
    let mut body = new_user("org");
    for (k, v) in [
        ("companyName", json!("Contoso Ltd")),
        ("officeLocation", json!("B1/2")),
        ("city", json!("Seattle")),
        ("country", json!("United States")),
        ("state", json!("WA")),
        ("streetAddress", json!("1 Main St")),
        ("postalCode", json!("98052")),
        ("employeeType", json!("Contractor")),
        ("employeeHireDate", json!("2024-01-15T02:00:00+02:00")),
        ("employeeLeaveDateTime", json!("2026-06-30T17:00:00Z")),
        ("preferredLanguage", json!("en-US")),
        ("faxNumber", json!("+1 555 0199")),
        (
            "employeeOrgData",
            json!({"division": "R&D", "costCenter": "CC-1"}),
        ),
        (
            "onPremisesExtensionAttributes",
            json!({"extensionAttribute1": "one", "extensionAttribute15": "fifteen"}),
        ),
    ] {
        body[k] = v;
    }
    let r = emu.post("/users", body).await;
    assert_eq!(r.status, 201, "{}", r.text);
    let id = r.body["id"].as_str().expect("id").to_string();
    // Not in the default property set.
    assert!(r.body.get("companyName").is_none(), "{}", r.text);
    assert!(r.body.get("onPremisesExtensionAttributes").is_none());

    let sel = "companyName,officeLocation,city,country,state,streetAddress,postalCode,employeeType,employeeHireDate,employeeLeaveDateTime,preferredLanguage,faxNumber,employeeOrgData,onPremisesExtensionAttributes";
    let r = emu.get(&format!("/users/{id}?$select={sel}")).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let u = &r.body;
    assert_eq!(u["companyName"], "Contoso Ltd");
    assert_eq!(u["state"], "WA");
    assert_eq!(u["streetAddress"], "1 Main St");
    assert_eq!(u["postalCode"], "98052");
    assert_eq!(u["faxNumber"], "+1 555 0199");
    // DateTimeOffset values in Graph's UTC form.
    assert_eq!(u["employeeHireDate"], "2024-01-15T00:00:00Z");
    assert_eq!(u["employeeLeaveDateTime"], "2026-06-30T17:00:00Z");
    assert_eq!(
        u["employeeOrgData"],
        json!({"division": "R&D", "costCenter": "CC-1"})
    );
    let ext = u["onPremisesExtensionAttributes"]
        .as_object()
        .expect("object");
    assert_eq!(ext.len(), 15, "all fifteen, null where unset: {ext:?}");
    assert_eq!(ext["extensionAttribute1"], "one");
    assert_eq!(ext["extensionAttribute2"], Value::Null);
    assert_eq!(ext["extensionAttribute15"], "fifteen");
    // The list reads them too, and a user never given them has nulls.
    let other = emu.user("plain").await;
    let r = emu
        .get("/users?$select=id,employeeOrgData,onPremisesExtensionAttributes,companyName")
        .await;
    let items = r.body["value"].as_array().expect("value");
    assert_eq!(by_id(items, &id)["employeeOrgData"]["costCenter"], "CC-1");
    assert_eq!(by_id(items, &other)["employeeOrgData"], Value::Null);
    assert_eq!(by_id(items, &other)["companyName"], Value::Null);
    assert_eq!(
        by_id(items, &other)["onPremisesExtensionAttributes"]["extensionAttribute1"],
        Value::Null
    );

    // PATCH of a complex property writes the members named and keeps the others.
    let r = emu
        .patch(
            &format!("/users/{id}"),
            json!({"onPremisesExtensionAttributes": {"extensionAttribute1": "uno", "extensionAttribute15": null}, "employeeOrgData": {"costCenter": "CC-2"}}),
        )
        .await;
    assert_eq!(r.status, 204, "{}", r.text);
    let r = emu
        .get(&format!(
            "/users/{id}?$select=employeeOrgData,onPremisesExtensionAttributes"
        ))
        .await;
    assert_eq!(
        r.body["employeeOrgData"],
        json!({"division": "R&D", "costCenter": "CC-2"})
    );
    assert_eq!(
        r.body["onPremisesExtensionAttributes"]["extensionAttribute1"],
        "uno"
    );
    assert_eq!(
        r.body["onPremisesExtensionAttributes"]["extensionAttribute15"],
        Value::Null
    );
    // null clears a simple property, a date and a whole complex property.
    let r = emu
        .patch(
            &format!("/users/{id}"),
            json!({"companyName": null, "employeeHireDate": null, "employeeOrgData": null, "onPremisesExtensionAttributes": null, "state": null}),
        )
        .await;
    assert_eq!(r.status, 204, "{}", r.text);
    let r = emu.get(&format!("/users/{id}?$select={sel}")).await;
    assert_eq!(r.body["companyName"], Value::Null);
    assert_eq!(r.body["employeeHireDate"], Value::Null);
    assert_eq!(r.body["employeeOrgData"], Value::Null);
    assert_eq!(r.body["state"], Value::Null);
    assert_eq!(
        r.body["onPremisesExtensionAttributes"]["extensionAttribute1"],
        Value::Null
    );
    assert_eq!(r.body["city"], "Seattle", "untouched");

    // Validation: types, documented lengths, members of the complex types.
    let long = |n: usize| "x".repeat(n);
    for (bad, code) in [
        (json!({"companyName": long(65)}), "Request_BadRequest"),
        (json!({"companyName": 5}), "Request_BadRequest"),
        (json!({"state": long(129)}), "Request_BadRequest"),
        (json!({"streetAddress": long(1025)}), "Request_BadRequest"),
        (json!({"postalCode": long(41)}), "Request_BadRequest"),
        (json!({"city": long(129)}), "Request_BadRequest"),
        (json!({"employeeHireDate": "2024-01-15"}), "BadRequest"),
        (json!({"employeeHireDate": "yesterday"}), "BadRequest"),
        (
            json!({"employeeLeaveDateTime": 20240115}),
            "Request_BadRequest",
        ),
        (json!({"employeeOrgData": "CC-1"}), "Request_BadRequest"),
        (
            json!({"employeeOrgData": {"costCentre": "x"}}),
            "BadRequest",
        ),
        (
            json!({"employeeOrgData": {"division": 3}}),
            "Request_BadRequest",
        ),
        (
            json!({"onPremisesExtensionAttributes": {"extensionAttribute16": "x"}}),
            "BadRequest",
        ),
        (
            json!({"onPremisesExtensionAttributes": {"extensionAttribute0": "x"}}),
            "BadRequest",
        ),
        (
            json!({"onPremisesExtensionAttributes": {"extensionAttribute01": "x"}}),
            "BadRequest",
        ),
        (
            json!({"onPremisesExtensionAttributes": {"extensionAttribute2": long(1025)}}),
            "Request_BadRequest",
        ),
        (
            json!({"onPremisesExtensionAttributes": ["x"]}),
            "Request_BadRequest",
        ),
    ] {
        let r = emu.patch(&format!("/users/{id}"), bad.clone()).await;
        assert_graph_error(&r, 400, code);
        let mut create = new_user("badorg");
        for (k, v) in bad.as_object().expect("object") {
            create[k] = v.clone();
        }
        assert_eq!(emu.post("/users", create).await.status, 400, "{bad}");
    }
    assert!(emu.get("/users/badorg@contoso.com").await.status == 404);
    // A 1024-character extension attribute is fine.
    let r = emu
        .patch(
            &format!("/users/{id}"),
            json!({"onPremisesExtensionAttributes": {"extensionAttribute2": long(1024)}}),
        )
        .await;
    assert_eq!(r.status, 204, "{}", r.text);

    // A synced user's extension attributes and address come from on premises.
    let synced = emu
        .door_id(
            "users",
            json!({"userPrincipalName": "syn@contoso.com", "displayName": "Syn", "onPremisesSyncEnabled": true}),
        )
        .await;
    for body in [
        json!({"onPremisesExtensionAttributes": {"extensionAttribute1": "x"}}),
        json!({"streetAddress": "2 Main St"}),
        json!({"companyName": "X"}),
    ] {
        let r = emu.patch(&format!("/users/{synced}"), body).await;
        assert_graph_error(&r, 400, "Request_BadRequest");
        assert!(r.message().contains("on-premises"), "{}", r.text);
    }
}

// ------------------------------------------------------------------ restores

#[tokio::test]
async fn restore_with_a_new_user_principal_name_keeps_the_id() {
    let emu = start().await;
    let bob = emu.user("bob").await;
    let gid = emu.group("team").await;
    assert_eq!(emu.add_member(&gid, &bob).await.status, 204);
    assert_eq!(emu.delete(&format!("/users/{bob}")).await.status, 204);
    // Someone else takes the UPN.
    let other = emu.user("bob").await;
    let restore = |body: Value| {
        let emu = &emu;
        let bob = bob.clone();
        async move {
            emu.post(&format!("/directory/deletedItems/{bob}/restore"), body)
                .await
        }
    };
    // Without a new UPN: the old one is taken.
    let r = restore(json!({})).await;
    assert_graph_error(&r, 400, "Request_BadRequest");
    assert!(r.message().contains("userPrincipalName"), "{}", r.text);
    // A new UPN that is taken too, on an unverified domain, or malformed.
    let r = restore(json!({"newUserPrincipalName": "BOB@contoso.com"})).await;
    assert_graph_error(&r, 400, "Request_BadRequest");
    let r = restore(json!({"newUserPrincipalName": "bob@notours.example"})).await;
    assert_graph_error(&r, 400, "Request_BadRequest");
    assert!(r.message().contains("verified domain"), "{}", r.text);
    let r = restore(json!({"newUserPrincipalName": "no-at-sign"})).await;
    assert_graph_error(&r, 400, "Request_BadRequest");
    // Parameters that are not the action's, or of the wrong type.
    let r = restore(json!({"userPrincipalName": "bob2@contoso.com"})).await;
    assert_graph_error(&r, 400, "BadRequest");
    let r = restore(json!({"newUserPrincipalName": 7})).await;
    assert_graph_error(&r, 400, "BadRequest");
    let r = restore(json!({"autoReconcileProxyConflict": "yes"})).await;
    assert_graph_error(&r, 400, "BadRequest");
    // Still deleted after all of that.
    assert_eq!(emu.get(&format!("/users/{bob}")).await.status, 404);

    let r = restore(json!({"newUserPrincipalName": "bob.returned@fabrikam.com", "autoReconcileProxyConflict": true})).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["id"], bob.as_str());
    assert_eq!(r.body["userPrincipalName"], "bob.returned@fabrikam.com");
    let live = emu
        .get("/users/bob.returned@fabrikam.com?$select=id,mailNickname")
        .await;
    assert_eq!(live.status, 200, "{}", live.text);
    assert_eq!(live.body["id"], bob.as_str(), "the same object");
    assert_eq!(live.body["mailNickname"], "bob");
    assert_eq!(
        emu.get(&format!("/users/{other}?$select=userPrincipalName"))
            .await
            .body["userPrincipalName"],
        "bob@contoso.com"
    );
    let members = emu.get(&format!("/groups/{gid}/members?$select=id")).await;
    let ids: Vec<&str> = members.body["value"]
        .as_array()
        .expect("value")
        .iter()
        .filter_map(|m| m["id"].as_str())
        .collect();
    assert!(ids.contains(&bob.as_str()), "{}", members.text);
    // Gone from the deleted items.
    assert_eq!(
        emu.get(&format!("/directory/deletedItems/{bob}"))
            .await
            .status,
        404
    );
    // A restore without a body at all (Graph's documented form) works too.
    let carl = emu.user("carl").await;
    assert_eq!(emu.delete(&format!("/users/{carl}")).await.status, 204);
    let r = to_resp(
        emu.http
            .post(emu.url(&format!("/directory/deletedItems/{carl}/restore")))
            .bearer_auth(&emu.token)
            .send()
            .await
            .expect("send"),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["userPrincipalName"], "carl@contoso.com");
}

#[tokio::test]
async fn deleted_users_and_groups_list_with_select_and_paging() {
    let emu = start().await;
    let mut ids = Vec::new();
    for n in ["del1", "del2", "del3"] {
        let id = emu.user(n).await;
        assert_eq!(emu.delete(&format!("/users/{id}")).await.status, 204);
        ids.push(id);
    }
    let sel = "id,mailNickname,userPrincipalName,deletedDateTime,displayName";
    let (items, pages) = emu
        .all(
            &format!("/directory/deletedItems/microsoft.graph.user?$select={sel}&$top=2"),
            &[],
        )
        .await;
    assert_eq!(pages, 2);
    assert_eq!(items.len(), 3);
    for id in &ids {
        let u = by_id(&items, id);
        assert!(
            u["mailNickname"]
                .as_str()
                .is_some_and(|s| s.starts_with("del"))
        );
        assert!(
            u["userPrincipalName"]
                .as_str()
                .is_some_and(|s| s.ends_with("@contoso.com"))
        );
        assert!(
            u["deletedDateTime"]
                .as_str()
                .is_some_and(|s| s.ends_with('Z'))
        );
        assert!(u.get("jobTitle").is_none(), "only what was selected: {u}");
    }
    // The connector's own select, with $top=999.
    let r = emu
        .get("/directory/deletedItems/microsoft.graph.user?$select=id,userPrincipalName,mail,givenName,surname,displayName,department,jobTitle,employeeId,usageLocation,mobilePhone,accountEnabled,assignedLicenses,licenseAssignmentStates,userType,onPremisesSyncEnabled,mailNickname&$top=999")
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["value"].as_array().map(Vec::len), Some(3));
    // A property users do not have.
    assert_eq!(
        emu.get("/directory/deletedItems/microsoft.graph.user?$select=bogus")
            .await
            .status,
        400
    );
    // Groups, the same way.
    let r = emu
        .post("/groups", json!({"displayName": "U", "mailEnabled": true, "mailNickname": "uni", "securityEnabled": false, "groupTypes": ["Unified"]}))
        .await;
    let uni = r.body["id"].as_str().expect("id").to_string();
    assert_eq!(emu.delete(&format!("/groups/{uni}")).await.status, 204);
    let r = emu
        .get(
            "/directory/deletedItems/microsoft.graph.group?$select=id,mailNickname,deletedDateTime",
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let g = by_id(r.body["value"].as_array().expect("value"), &uni);
    assert_eq!(g["mailNickname"], "uni");
    assert!(g["deletedDateTime"].is_string(), "{g}");
}

// ------------------------------------------------------------------ Microsoft's JS client

/// Run `tests/js/{script}` against an emulator serving HTTPS on localhost; returns the
/// script's JSON summary line.
async fn run_js(script: &'static str) -> Value {
    let (emu, certs) = start_https(config()).await;
    let v = run_node(script, &emu.base, &certs.ca, &[]).await;
    emu.handle.shutdown().await.expect("shutdown");
    v
}

#[tokio::test]
async fn microsoft_graph_js_client_manages_managers_properties_and_restores() {
    let v = run_js("people.mjs").await;
    let boss = v["boss"].as_str().expect("boss id");
    let ann = v["ann"].as_str().expect("ann id");
    assert_eq!(v["manager_id"], boss, "{v}");
    assert_eq!(v["manager_name"], "JS jsboss", "{v}");
    assert_eq!(v["listed_manager"], boss, "$expand on the list: {v}");
    assert_eq!(v["single_manager"], boss, "$expand on one user: {v}");
    assert_eq!(v["reports"], json!([ann]), "{v}");
    assert_eq!(v["manager_after_removal"], 404, "{v}");
    assert_eq!(v["expanded_after_removal"], false, "{v}");
    assert_eq!(v["extension_attribute1"], "js-ext-1", "{v}");
    assert_eq!(
        v["extension_attribute2"],
        Value::Null,
        "unset attributes are null: {v}"
    );
    assert_eq!(v["cost_center"], "CC-JS-2", "{v}");
    assert_eq!(
        v["division"], "Research",
        "a PATCH of one member kept the other: {v}"
    );
    assert_eq!(v["restore_conflict"], 400, "{v}");
    assert_eq!(v["restored_id"], ann, "{v}");
    assert_eq!(v["restored_upn"], "jsann.back@contoso.com", "{v}");
    assert_eq!(v["live_id"], ann, "the same object: {v}");
    assert_ne!(v["taker"], v["ann"], "{v}");
}
