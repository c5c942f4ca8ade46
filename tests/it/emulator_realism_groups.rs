//! Groups Graph manages only in part — dynamic groups, mail-enabled security groups,
//! distribution lists, objects synchronised from on premises — made through Graph
//! where it can (dynamic groups) and through the test door where only Exchange or
//! Entra Connect can, and the refusals Graph answers for them.

use crate::emulator_support as support;

use serde_json::{Value, json};
use support::*;

const DYNAMIC_RULE: &str = "(user.department -eq \"Sales\")";

fn bind(id: &str) -> Value {
    json!(format!(
        "https://graph.microsoft.com/v1.0/directoryObjects/{id}"
    ))
}

#[tokio::test]
async fn dynamic_groups_need_a_rule_and_refuse_member_writes() {
    let emu = start().await;
    let u = emu.user("u").await;
    // groupTypes DynamicMembership without membershipRule / processing state.
    let r = emu
        .post(
            "/groups",
            json!({"displayName": "Sales", "mailEnabled": false, "mailNickname": "sales", "securityEnabled": true, "groupTypes": ["DynamicMembership"]}),
        )
        .await;
    assert_graph_error(&r, 400, "Request_BadRequest");
    assert!(r.message().contains("'membershipRule'"), "{}", r.text);
    let r = emu
        .post(
            "/groups",
            json!({"displayName": "Sales", "mailEnabled": false, "mailNickname": "sales", "securityEnabled": true, "groupTypes": ["DynamicMembership"], "membershipRule": DYNAMIC_RULE}),
        )
        .await;
    assert!(
        r.message().contains("'membershipRuleProcessingState'"),
        "{}",
        r.text
    );
    let r = emu
        .post(
            "/groups",
            json!({"displayName": "Sales", "mailEnabled": false, "mailNickname": "sales", "securityEnabled": true, "groupTypes": ["DynamicMembership"], "membershipRule": DYNAMIC_RULE, "membershipRuleProcessingState": "Running"}),
        )
        .await;
    assert!(
        r.message().contains("'membershipRuleProcessingState'"),
        "{}",
        r.text
    );
    // A rule on a static group.
    let r = emu
        .post(
            "/groups",
            json!({"displayName": "Static", "mailEnabled": false, "mailNickname": "static", "securityEnabled": true, "membershipRule": DYNAMIC_RULE}),
        )
        .await;
    assert!(r.message().contains("'membershipRule'"), "{}", r.text);
    // Members at creation are refused as Graph refuses them (403).
    let r = emu
        .post(
            "/groups",
            json!({"displayName": "Sales", "mailEnabled": false, "mailNickname": "sales", "securityEnabled": true, "groupTypes": ["DynamicMembership"], "membershipRule": DYNAMIC_RULE, "membershipRuleProcessingState": "On", "members@odata.bind": [bind(&u)]}),
        )
        .await;
    assert_graph_error(&r, 403, "Authorization_RequestDenied");
    // Security and Microsoft 365 dynamic groups.
    let r = emu
        .post(
            "/groups",
            json!({"displayName": "Sales", "mailEnabled": false, "mailNickname": "sales", "securityEnabled": true, "groupTypes": ["DynamicMembership"], "membershipRule": DYNAMIC_RULE, "membershipRuleProcessingState": "On"}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.body["membershipRule"], DYNAMIC_RULE);
    assert_eq!(r.body["membershipRuleProcessingState"], "On");
    let gid = r.body["id"].as_str().expect("id").to_string();
    let r = emu
        .post(
            "/groups",
            json!({"displayName": "Sales team", "mailEnabled": true, "mailNickname": "sales-team", "securityEnabled": false, "groupTypes": ["Unified", "DynamicMembership"], "membershipRule": DYNAMIC_RULE, "membershipRuleProcessingState": "Paused"}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let m365 = r.body["id"].as_str().expect("id").to_string();
    // Member writes: POST $ref, PATCH members@odata.bind, DELETE $ref.
    for g in [&gid, &m365] {
        let r = emu.add_member(g, &u).await;
        assert_graph_error(&r, 403, "Authorization_RequestDenied");
        assert_eq!(
            r.message(),
            "Insufficient privileges to complete the operation."
        );
        let r = emu
            .patch(
                &format!("/groups/{g}"),
                json!({"members@odata.bind": [bind(&u)]}),
            )
            .await;
        assert_graph_error(&r, 403, "Authorization_RequestDenied");
    }
    // Members set through the door (the emulator does not evaluate rules).
    let door = emu
        .door_id(
            "groups",
            json!({"displayName": "Door sales", "mailNickname": "door-sales", "mailEnabled": false, "securityEnabled": true, "groupTypes": ["DynamicMembership"], "membershipRule": DYNAMIC_RULE, "membershipRuleProcessingState": "On", "members": [u]}),
        )
        .await;
    let members = emu.get(&format!("/groups/{door}/members?$select=id")).await;
    assert_eq!(members.body["value"][0]["id"], u, "{}", members.text);
    let r = emu
        .delete(&format!("/groups/{door}/members/{u}/$ref"))
        .await;
    assert_graph_error(&r, 403, "Authorization_RequestDenied");
    // The rule can be changed and processing paused; it cannot be cleared.
    let r = emu
        .patch(
            &format!("/groups/{gid}"),
            json!({"membershipRule": "(user.department -eq \"Marketing\")", "membershipRuleProcessingState": "Paused"}),
        )
        .await;
    assert_eq!(r.status, 204, "{}", r.text);
    let r = emu
        .patch(&format!("/groups/{gid}"), json!({"membershipRule": null}))
        .await;
    assert_graph_error(&r, 400, "Request_BadRequest");
    let g = emu
        .get(&format!(
            "/groups/{gid}?$select=membershipRule,membershipRuleProcessingState,groupTypes"
        ))
        .await;
    assert_eq!(g.body["membershipRuleProcessingState"], "Paused");
    assert_eq!(
        g.body["membershipRule"],
        "(user.department -eq \"Marketing\")"
    );
    // groups/delta carries the rule.
    let d = emu
        .get("/groups/delta?$select=displayName,membershipRule,membershipRuleProcessingState,members")
        .await;
    assert_eq!(d.status, 200, "{}", d.text);
    let row = d.body["value"]
        .as_array()
        .expect("value")
        .iter()
        .find(|g| g["id"] == door)
        .cloned()
        .expect("in delta");
    assert_eq!(row["membershipRule"], DYNAMIC_RULE);
    assert_eq!(row["members@delta"][0]["id"], u);
}

#[tokio::test]
async fn mail_enabled_security_groups_and_distribution_lists_are_managed_in_exchange() {
    let emu = start().await;
    let u = emu.user("u").await;
    let v = emu.user("v").await;
    // Graph does not create them.
    let r = emu
        .post(
            "/groups",
            json!({"displayName": "DL", "mailEnabled": true, "mailNickname": "dl", "securityEnabled": false}),
        )
        .await;
    assert_graph_error(&r, 400, "Request_BadRequest");
    let sec = emu
        .door(
            "groups",
            json!({"displayName": "Finance security", "mailNickname": "finance-sec", "mailEnabled": true, "securityEnabled": true, "members": [u]}),
        )
        .await;
    assert_eq!(sec.status, 201, "{}", sec.text);
    assert_eq!(sec.body["mail"], "finance-sec@contoso.com");
    assert_eq!(
        sec.body["proxyAddresses"],
        json!(["SMTP:finance-sec@contoso.com"])
    );
    let sid = sec.body["id"].as_str().expect("id").to_string();
    let dl = emu
        .door_id(
            "groups",
            json!({"displayName": "All staff", "mailNickname": "all-staff", "mailEnabled": true, "securityEnabled": false, "mail": "allstaff@contoso.com", "proxyAddresses": ["smtp:everyone@contoso.com"], "members@odata.bind": [bind(&u)]}),
        )
        .await;
    let g = emu
        .get(&format!(
            "/groups/{dl}?$select=mail,proxyAddresses,mailEnabled,securityEnabled"
        ))
        .await;
    assert_eq!(
        g.body["proxyAddresses"],
        json!(["SMTP:allstaff@contoso.com", "smtp:everyone@contoso.com"])
    );
    for gid in [&sid, &dl] {
        let r = emu.add_member(gid, &v).await;
        assert_graph_error(&r, 400, "Request_BadRequest");
        assert_eq!(
            r.message(),
            "Cannot Update a mail-enabled security groups and or distribution list."
        );
        let r = emu.delete(&format!("/groups/{gid}/members/{u}/$ref")).await;
        assert_eq!(
            r.message(),
            "Cannot Update a mail-enabled security groups and or distribution list."
        );
        let r = emu
            .patch(
                &format!("/groups/{gid}"),
                json!({"members@odata.bind": [bind(&v)]}),
            )
            .await;
        assert_eq!(r.status, 400, "{}", r.text);
        // Their members still read back.
        let m = emu.get(&format!("/groups/{gid}/members?$select=id")).await;
        assert_eq!(
            m.body["value"].as_array().map(Vec::len),
            Some(1),
            "{}",
            m.text
        );
    }
}

#[tokio::test]
async fn directory_synced_users_and_groups_refuse_on_premises_mastered_writes() {
    let emu = start().await;
    let sku = emu.sku().await;
    let r = emu
        .door(
            "users",
            json!({
                "userPrincipalName": "sam@contoso.com",
                "displayName": "Sam Synced",
                "mail": "sam@contoso.com",
                "onPremisesSyncEnabled": true,
                "onPremisesImmutableId": "c2FtQGNvcnA=",
                "onPremisesSamAccountName": "sam",
                "onPremisesLastSyncDateTime": "2024-06-01T06:00:00Z",
            }),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.body["onPremisesSyncEnabled"], true);
    assert_eq!(r.body["onPremisesSamAccountName"], "sam");
    assert_eq!(r.body["userType"], "Member");
    let sam = r.body["id"].as_str().expect("id").to_string();
    let refusal = "Unable to update the specified properties for on-premises mastered Directory Sync objects or objects currently undergoing migration.";
    for (prop, value) in [
        ("accountEnabled", json!(false)),
        ("displayName", json!("Sam")),
        ("givenName", json!("Sam")),
        ("surname", json!("Synced")),
        ("userPrincipalName", json!("sam2@contoso.com")),
        ("mail", json!("sam2@contoso.com")),
        ("mailNickname", json!("sam2")),
        ("department", json!("IT")),
        ("jobTitle", json!("Engineer")),
        ("employeeId", json!("E1")),
        ("mobilePhone", json!("+1 555 0100")),
        ("businessPhones", json!(["+1 555 0101"])),
        ("onPremisesImmutableId", json!("eA==")),
        ("passwordProfile", json!({"password": "An0ther!Passw0rd"})),
    ] {
        let r = emu
            .patch(&format!("/users/{sam}"), json!({ prop: value }))
            .await;
        assert_graph_error(&r, 400, "Request_BadRequest");
        assert_eq!(r.message(), refusal, "{prop}");
    }
    let r = emu.delete(&format!("/users/{sam}")).await;
    assert_graph_error(&r, 400, "Request_BadRequest");
    assert_eq!(r.message(), refusal);
    // usageLocation and licences stay writable; cloud group memberships too.
    let r = emu
        .patch(&format!("/users/{sam}"), json!({"usageLocation": "US"}))
        .await;
    assert_eq!(r.status, 204, "{}", r.text);
    let r = emu
        .post(
            &format!("/users/{sam}/assignLicense"),
            json!({"addLicenses": [{"skuId": sku}], "removeLicenses": []}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let cloud = emu.group("Cloud").await;
    assert_eq!(emu.add_member(&cloud, &sam).await.status, 204);
    // A synced group: no member writes, no property writes, no delete.
    let sg = emu
        .door_id(
            "groups",
            json!({"displayName": "Synced group", "mailNickname": "synced-group", "mailEnabled": false, "securityEnabled": true, "onPremisesSyncEnabled": true, "onPremisesSamAccountName": "SyncedGroup", "members": [sam]}),
        )
        .await;
    let r = emu.add_member(&sg, &cloud).await;
    assert_eq!(r.message(), refusal, "{}", r.text);
    let r = emu
        .patch(&format!("/groups/{sg}"), json!({"description": "x"}))
        .await;
    assert_eq!(r.message(), refusal, "{}", r.text);
    let r = emu.delete(&format!("/groups/{sg}")).await;
    assert_eq!(r.message(), refusal, "{}", r.text);
    // Selectable, and in delta.
    let sel = "id,onPremisesSyncEnabled,onPremisesImmutableId,onPremisesSamAccountName,onPremisesLastSyncDateTime";
    let u = emu.get(&format!("/users/{sam}?$select={sel}")).await;
    assert_eq!(u.body["onPremisesImmutableId"], "c2FtQGNvcnA=");
    assert_eq!(u.body["onPremisesLastSyncDateTime"], "2024-06-01T06:00:00Z");
    let d = emu.get(&format!("/users/delta?$select={sel}")).await;
    let row = d.body["value"]
        .as_array()
        .expect("value")
        .iter()
        .find(|x| x["id"] == sam)
        .cloned()
        .expect("in delta");
    assert_eq!(row["onPremisesSyncEnabled"], true);
    let g = emu
        .get(&format!(
            "/groups/{sg}?$select=onPremisesSyncEnabled,onPremisesSamAccountName"
        ))
        .await;
    assert_eq!(g.body["onPremisesSamAccountName"], "SyncedGroup");
    // Filtering synced users (an advanced query).
    let f = emu
        .get_h(
            "/users?$filter=onPremisesSyncEnabled eq true&$count=true&$select=id",
            &[("ConsistencyLevel", "eventual")],
        )
        .await;
    assert_eq!(f.status, 200, "{}", f.text);
    assert_eq!(f.body["@odata.count"], 1);
}

#[tokio::test]
async fn the_door_validates_what_it_is_given() {
    let emu = start().await;
    // Unverified UPN domain, duplicate UPN, bad dates, unknown properties.
    let r = emu
        .door(
            "users",
            json!({"userPrincipalName": "x@nowhere.example", "displayName": "X"}),
        )
        .await;
    assert_eq!(r.status, 400, "{}", r.text);
    emu.user("taken").await;
    let r = emu
        .door(
            "users",
            json!({"userPrincipalName": "taken@contoso.com", "displayName": "X"}),
        )
        .await;
    assert!(r.message().contains("userPrincipalName"), "{}", r.text);
    let r = emu
        .door("users", json!({"userPrincipalName": "d@contoso.com", "displayName": "D", "onPremisesLastSyncDateTime": "yesterday"}))
        .await;
    assert_eq!(r.status, 400, "{}", r.text);
    let r = emu
        .door(
            "users",
            json!({"userPrincipalName": "e@contoso.com", "displayName": "E", "bogus": 1}),
        )
        .await;
    assert_eq!(r.status, 400, "{}", r.text);
    let r = emu
        .door(
            "groups",
            json!({"displayName": "G", "mailNickname": "g", "members": ["not-a-guid"]}),
        )
        .await;
    assert_eq!(r.status, 400, "{}", r.text);
    let r = emu.door("groups", json!([])).await;
    assert_eq!(r.status, 400, "{}", r.text);
    // Only POST.
    let r = to_resp(
        emu.http
            .get(format!("{}/_emulator/users", emu.base))
            .send()
            .await
            .expect("get"),
    )
    .await;
    assert_eq!(r.status, 405, "{}", r.text);
    // Deterministic ids are honoured, once.
    let id = "0d7c2b8e-0000-4000-8000-000000000001";
    let r = emu
        .door(
            "users",
            json!({"id": id, "userPrincipalName": "f@contoso.com", "displayName": "F"}),
        )
        .await;
    assert_eq!(r.body["id"], id, "{}", r.text);
    let r = emu
        .door(
            "users",
            json!({"id": id, "userPrincipalName": "g@contoso.com", "displayName": "G"}),
        )
        .await;
    assert_eq!(r.status, 400, "{}", r.text);
}
