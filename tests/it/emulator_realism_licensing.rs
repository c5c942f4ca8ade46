//! Group-based licensing against api/group-assignlicense.md,
//! resources/licenseassignmentstate.md and Microsoft Entra's group-licensing pages:
//! inherited states, one seat per user and SKU, member changes, seat exhaustion
//! (CountViolation), and the refusal to remove an inherited licence directly.

use crate::emulator_support as support;

use roster::emulator::EmulatorConfig;
use serde_json::{Value, json};
use support::*;

const SEL: &str = "id,assignedLicenses,licenseAssignmentStates";

fn states(v: &Value) -> Vec<Value> {
    v["licenseAssignmentStates"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

async fn assign_group(emu: &Emu, gid: &str, sku: &str) -> Resp {
    emu.post(
        &format!("/groups/{gid}/assignLicense"),
        json!({"addLicenses": [{"skuId": sku, "disabledPlans": []}], "removeLicenses": []}),
    )
    .await
}

#[tokio::test]
async fn group_licences_reach_direct_members_once_per_sku() {
    let emu = start().await; // ENTERPRISEPACK with 3 seats
    let sku = emu.sku().await;
    let a = licensed_user(&emu, "a").await;
    let b = emu.user("b").await; // no usage location: inherits the directory's
    let gid = emu.group("Licensed").await;
    let nested = emu.group("Nested").await;
    let n = emu.user("n").await;
    assert_eq!(emu.add_member(&gid, &a).await.status, 204);
    assert_eq!(emu.add_member(&gid, &b).await.status, 204);
    assert_eq!(emu.add_member(&gid, &nested).await.status, 204);
    assert_eq!(emu.add_member(&nested, &n).await.status, 204);
    // a also holds the SKU directly.
    let r = emu
        .post(
            &format!("/users/{a}/assignLicense"),
            json!({"addLicenses": [{"skuId": sku, "disabledPlans": []}], "removeLicenses": []}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(emu.consumed().await, 1);
    // POST /groups/{id}/assignLicense: 202 Accepted and the group.
    let r = assign_group(&emu, &gid, &sku).await;
    assert_eq!(r.status, 202, "{}", r.text);
    assert_eq!(r.body["id"], gid);
    assert!(r.header("location").is_some_and(|l| l.contains(&gid)));
    let g = emu
        .get(&format!("/groups/{gid}?$select=id,assignedLicenses"))
        .await;
    assert_eq!(g.body["assignedLicenses"][0]["skuId"], sku);
    // Not in the group's default properties.
    assert!(
        emu.get(&format!("/groups/{gid}"))
            .await
            .body
            .get("assignedLicenses")
            .is_none()
    );
    // a: one assignedLicenses entry, two states (direct and inherited).
    let ua = emu.get(&format!("/users/{a}?$select={SEL}")).await;
    assert_eq!(
        ua.body["assignedLicenses"].as_array().map(Vec::len),
        Some(1)
    );
    let sa = states(&ua.body);
    assert_eq!(sa.len(), 2, "{}", ua.text);
    assert!(
        sa.iter()
            .any(|s| s["assignedByGroup"].is_null() && s["state"] == "Active")
    );
    assert!(sa.iter().any(|s| s["assignedByGroup"] == gid
        && s["state"] == "Active"
        && s["skuId"] == sku
        && s["error"].is_null()));
    // b inherits it; the nested group's member does not (direct members only).
    let ub = emu.get(&format!("/users/{b}?$select={SEL}")).await;
    assert_eq!(ub.body["assignedLicenses"][0]["skuId"], sku);
    assert_eq!(states(&ub.body)[0]["assignedByGroup"], gid);
    let un = emu.get(&format!("/users/{n}?$select={SEL}")).await;
    assert_eq!(un.body["assignedLicenses"], json!([]));
    // Seats: a once, b once.
    assert_eq!(emu.consumed().await, 2);
    // Removing the licence directly from b (inherited only): Graph's 400.
    let r = emu
        .post(
            &format!("/users/{b}/assignLicense"),
            json!({"addLicenses": [], "removeLicenses": [sku]}),
        )
        .await;
    assert_graph_error(&r, 400, "Request_BadRequest");
    assert_eq!(
        r.message(),
        "User license is inherited from a group membership and it cannot be removed directly from the user."
    );
    // Removing a's direct one keeps the inherited one and the seat.
    let r = emu
        .post(
            &format!("/users/{a}/assignLicense"),
            json!({"addLicenses": [], "removeLicenses": [sku]}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let ua = emu.get(&format!("/users/{a}?$select={SEL}")).await;
    let sa = states(&ua.body);
    assert_eq!(sa.len(), 1, "{}", ua.text);
    assert_eq!(sa[0]["assignedByGroup"], gid);
    assert_eq!(
        ua.body["assignedLicenses"].as_array().map(Vec::len),
        Some(1)
    );
    assert_eq!(emu.consumed().await, 2);
    // Leaving the group takes the licence and the seat away.
    let r = emu.delete(&format!("/groups/{gid}/members/{b}/$ref")).await;
    assert_eq!(r.status, 204, "{}", r.text);
    let ub = emu.get(&format!("/users/{b}?$select={SEL}")).await;
    assert_eq!(ub.body["assignedLicenses"], json!([]));
    assert_eq!(states(&ub.body), Vec::<Value>::new());
    assert_eq!(emu.consumed().await, 1);
    // A licensed group cannot be deleted.
    let r = emu.delete(&format!("/groups/{gid}")).await;
    assert_graph_error(&r, 400, "Request_BadRequest");
    // Removing the group's licence frees its members' seats.
    let r = emu
        .post(
            &format!("/groups/{gid}/assignLicense"),
            json!({"addLicenses": [], "removeLicenses": [sku]}),
        )
        .await;
    assert_eq!(r.status, 202, "{}", r.text);
    assert_eq!(emu.consumed().await, 0);
    assert_eq!(emu.delete(&format!("/groups/{gid}")).await.status, 204);
}

#[tokio::test]
async fn seats_running_out_leave_members_in_count_violation() {
    let emu = start_with(EmulatorConfig {
        skus: vec![("ENTERPRISEPACK".into(), 1)],
        ..config()
    })
    .await;
    let sku = emu.sku().await;
    let gid = emu.group("Licensed").await;
    assert_eq!(assign_group(&emu, &gid, &sku).await.status, 202);
    let first = emu.user("first").await;
    let second = emu.user("second").await;
    assert_eq!(emu.add_member(&gid, &first).await.status, 204);
    // The member add itself succeeds: licence errors happen in the background.
    assert_eq!(emu.add_member(&gid, &second).await.status, 204);
    let u1 = emu.get(&format!("/users/{first}?$select={SEL}")).await;
    assert_eq!(states(&u1.body)[0]["state"], "Active");
    let u2 = emu.get(&format!("/users/{second}?$select={SEL}")).await;
    let s2 = states(&u2.body);
    assert_eq!(s2.len(), 1, "{}", u2.text);
    assert_eq!(s2[0]["state"], "Error");
    assert_eq!(s2[0]["error"], "CountViolation");
    assert_eq!(s2[0]["assignedByGroup"], gid);
    assert!(s2[0]["lastUpdatedDateTime"].is_string());
    assert_eq!(
        u2.body["assignedLicenses"],
        json!([]),
        "an error holds no licence"
    );
    assert_eq!(emu.consumed().await, 1);
    // The member that failed shows in users/delta with its states.
    let d = emu.get(&format!("/users/delta?$select={SEL}")).await;
    assert_eq!(d.status, 200, "{}", d.text);
    let row = d.body["value"]
        .as_array()
        .expect("value")
        .iter()
        .find(|u| u["id"] == second)
        .cloned()
        .expect("in delta");
    assert_eq!(row["licenseAssignmentStates"][0]["error"], "CountViolation");
    let link = d.body["@odata.deltaLink"]
        .as_str()
        .expect("deltaLink")
        .to_string();
    // The seat frees when the first member leaves; the next change of the second
    // member's memberships processes it again.
    assert_eq!(
        emu.delete(&format!("/groups/{gid}/members/{first}/$ref"))
            .await
            .status,
        204
    );
    let other = emu.group("Other").await;
    assert_eq!(emu.add_member(&other, &second).await.status, 204);
    let u2 = emu.get(&format!("/users/{second}?$select={SEL}")).await;
    assert_eq!(states(&u2.body)[0]["state"], "Active", "{}", u2.text);
    assert_eq!(emu.consumed().await, 1);
    // Incremental delta reports both users' licence changes.
    let inc = emu.get(&link).await;
    let ids: Vec<&str> = inc.body["value"]
        .as_array()
        .expect("value")
        .iter()
        .filter_map(|u| u["id"].as_str())
        .collect();
    assert!(
        ids.contains(&first.as_str()) && ids.contains(&second.as_str()),
        "{}",
        inc.text
    );
}

#[tokio::test]
async fn group_licensing_needs_a_security_group_and_known_skus() {
    let emu = start().await;
    let sku = emu.sku().await;
    let m365 = emu
        .post(
            "/groups",
            json!({"displayName": "Team", "mailEnabled": true, "mailNickname": "team", "securityEnabled": false, "groupTypes": ["Unified"]}),
        )
        .await;
    let mid = m365.body["id"].as_str().expect("id").to_string();
    let r = assign_group(&emu, &mid, &sku).await;
    assert_graph_error(&r, 400, "Request_BadRequest");
    let gid = emu.group("G").await;
    let r = assign_group(&emu, &gid, "00000000-0000-0000-0000-000000000001").await;
    assert_graph_error(&r, 400, "Request_BadRequest");
    assert_eq!(
        r.message(),
        "License 00000000-0000-0000-0000-000000000001 does not correspond to a valid company License."
    );
    let r = emu
        .post(
            &format!("/groups/{gid}/assignLicense"),
            json!({"addLicenses": []}),
        )
        .await;
    assert_graph_error(&r, 400, "Request_BadRequest");
}
