//! The realistic tenant (`--realistic-tenant`, docs/emulator.md "The realistic
//! tenant"): every documented object is there with its documented names, ids are
//! deterministic, and the objects behave as their kinds do in Graph — over HTTP with
//! reqwest, and through Microsoft's JavaScript Graph client.

use crate::emulator_support as support;

use std::process::Command;

use roster::emulator::EmulatorConfig;
use serde_json::{Value, json};
use support::*;

fn realistic() -> EmulatorConfig {
    EmulatorConfig {
        realistic_tenant: true,
        ..config()
    }
}

async fn by_upn(emu: &Emu, upn: &str, select: &str) -> Value {
    let r = emu.get(&format!("/users/{upn}?$select={select}")).await;
    assert_eq!(r.status, 200, "{upn}: {}", r.text);
    r.body
}

async fn group_by_nick(emu: &Emu, nick: &str) -> Value {
    let r = emu
        .get(&format!(
            "/groups?$filter=mailNickname eq '{nick}'&$select=id,displayName,mail,mailEnabled,securityEnabled,groupTypes,membershipRule,membershipRuleProcessingState,isAssignableToRole,visibility,assignedLicenses,proxyAddresses"
        ))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    r.body["value"][0].clone()
}

#[tokio::test]
async fn the_realistic_tenant_holds_the_documented_mix() {
    let emu = start_with(realistic()).await;
    // Domains: the default, the initial one, the federated corp.contoso.com.
    let d = emu.get("/domains").await;
    let domains = d.body["value"].as_array().expect("value");
    let find = |id: &str| domains.iter().find(|x| x["id"] == id).cloned();
    assert_eq!(find("contoso.com").expect("default")["isDefault"], true);
    assert_eq!(
        find("contoso.onmicrosoft.com").expect("initial")["isInitial"],
        true
    );
    assert_eq!(
        find("corp.contoso.com").expect("federated")["authenticationType"],
        "Federated"
    );
    // Guests.
    let sel = "id,userType,creationType,externalUserState,mail";
    let pat = by_upn(
        &emu,
        "pat.partner_partner.example%23EXT%23@contoso.onmicrosoft.com",
        sel,
    )
    .await;
    assert_eq!(pat["userType"], "Guest");
    assert_eq!(pat["externalUserState"], "PendingAcceptance");
    let val = by_upn(
        &emu,
        "val.vendor_vendor.example%23EXT%23@contoso.onmicrosoft.com",
        sel,
    )
    .await;
    assert_eq!(val["externalUserState"], "Accepted");
    // Administrators and their roles.
    let ga = emu
        .get("/roleManagement/directory/roleAssignments?$filter=roleDefinitionId eq '62e90394-69f5-4237-9190-012177145e10'&$expand=principal")
        .await;
    let mut gas: Vec<String> = ga.body["value"]
        .as_array()
        .expect("value")
        .iter()
        .filter_map(|a| {
            a["principal"]["userPrincipalName"]
                .as_str()
                .map(str::to_string)
        })
        .collect();
    gas.sort();
    assert_eq!(
        gas,
        vec![
            "ada.admin@contoso.com",
            "breakglass@contoso.onmicrosoft.com"
        ]
    );
    let uma = by_upn(&emu, "uma.useradmin@contoso.com", "id").await;
    let ua = emu
        .get(&format!(
            "/roleManagement/directory/roleAssignments?$filter=principalId eq '{}'",
            uma["id"].as_str().expect("id")
        ))
        .await;
    assert_eq!(
        ua.body["value"][0]["roleDefinitionId"],
        "fe930be7-5e62-47db-91af-98c3a49a38b1"
    );
    // Synced users in the federated domain.
    for upn in ["sam.synced@corp.contoso.com", "sue.synced@corp.contoso.com"] {
        let u = by_upn(&emu, upn, "id,onPremisesSyncEnabled,onPremisesImmutableId").await;
        assert_eq!(u["onPremisesSyncEnabled"], true, "{upn}");
        assert!(u["onPremisesImmutableId"].is_string(), "{upn}");
    }
    // The licence group: Lena inherits, Leo inherits and holds it directly; 2 seats.
    let sku = emu.sku().await;
    let lg = group_by_nick(&emu, "licensed-e3").await;
    assert_eq!(lg["displayName"], "Licensed - E3");
    assert_eq!(lg["assignedLicenses"][0]["skuId"], sku);
    let lsel = "id,assignedLicenses,licenseAssignmentStates";
    let lena = by_upn(&emu, "lena.licensed@contoso.com", lsel).await;
    let leo = by_upn(&emu, "leo.licensed@contoso.com", lsel).await;
    assert_eq!(
        lena["licenseAssignmentStates"].as_array().map(Vec::len),
        Some(1)
    );
    assert_eq!(
        lena["licenseAssignmentStates"][0]["assignedByGroup"],
        lg["id"]
    );
    assert_eq!(
        leo["licenseAssignmentStates"].as_array().map(Vec::len),
        Some(2)
    );
    assert_eq!(leo["assignedLicenses"].as_array().map(Vec::len), Some(1));
    assert_eq!(emu.consumed().await, 2);
    // The other groups.
    let dynamic = group_by_nick(&emu, "dynamic-sales").await;
    assert_eq!(dynamic["groupTypes"], json!(["DynamicMembership"]));
    assert_eq!(dynamic["membershipRule"], "(user.department -eq \"Sales\")");
    assert_eq!(dynamic["membershipRuleProcessingState"], "On");
    let dm = emu
        .get(&format!(
            "/groups/{}/members?$select=userPrincipalName",
            dynamic["id"].as_str().expect("id")
        ))
        .await;
    assert_eq!(
        dm.body["value"][0]["userPrincipalName"],
        "sue.synced@corp.contoso.com"
    );
    let sec = group_by_nick(&emu, "finance-security").await;
    assert_eq!(
        (sec["mailEnabled"].clone(), sec["securityEnabled"].clone()),
        (json!(true), json!(true))
    );
    assert_eq!(sec["mail"], "finance-security@contoso.com");
    let dl = group_by_nick(&emu, "all-staff").await;
    assert_eq!(
        (dl["mailEnabled"].clone(), dl["securityEnabled"].clone()),
        (json!(true), json!(false))
    );
    let ra = group_by_nick(&emu, "role-helpdesk").await;
    assert_eq!(ra["isAssignableToRole"], true);
    assert_eq!(ra["visibility"], "Private");
    // The proxy address a plausible new hire collides with.
    let r = emu.post("/users", new_user("jamie")).await;
    assert_graph_error(&r, 400, "Request_BadRequest");
    assert_eq!(
        r.message(),
        "Another object with the same value for property proxyAddresses already exists."
    );
    // Protections hold: the break-glass admin and the role-assignable group's member
    // refuse sensitive writes from an app with the default permissions; synced users
    // refuse mastered writes.
    for upn in [
        "breakglass@contoso.onmicrosoft.com",
        "hank.helpdesk@contoso.com",
    ] {
        let r = emu
            .patch(&format!("/users/{upn}"), json!({"accountEnabled": false}))
            .await;
        assert_graph_error(&r, 403, "Authorization_RequestDenied");
    }
    let r = emu
        .patch(
            "/users/sam.synced@corp.contoso.com",
            json!({"department": "IT"}),
        )
        .await;
    assert_graph_error(&r, 400, "Request_BadRequest");
    // Ids are deterministic: a second realistic tenant has the same ones.
    let again = start_with(realistic()).await;
    for upn in ["ada.admin@contoso.com", "lena.licensed@contoso.com"] {
        assert_eq!(
            by_upn(&emu, upn, "id").await["id"],
            by_upn(&again, upn, "id").await["id"],
            "{upn}"
        );
    }
    assert_eq!(group_by_nick(&again, "all-staff").await["id"], dl["id"]);
}

#[tokio::test]
async fn a_realistic_tenant_from_a_state_file_is_not_seeded_again() {
    let dir = tempfile::tempdir().expect("tempdir");
    let state = dir.path().join("tenant.json");
    let cfg = EmulatorConfig {
        state_file: Some(state.clone()),
        ..realistic()
    };
    let emu = start_with(cfg.clone()).await;
    let ada = by_upn(&emu, "ada.admin@contoso.com", "id").await;
    // A change that must survive: a new user.
    assert_eq!(emu.post("/users", new_user("kept")).await.status, 201);
    emu.handle.shutdown().await.expect("shutdown");
    let emu = start_with(cfg).await;
    assert_eq!(
        by_upn(&emu, "ada.admin@contoso.com", "id").await["id"],
        ada["id"]
    );
    assert!(
        by_upn(&emu, "kept@contoso.com", "id").await["id"].is_string(),
        "the change survived the restart"
    );
    let all = emu.all("/users?$select=id&$top=999", &[]).await.0;
    let n = all.len();
    // 2 guests, 3 admins, 2 synced, 2 licensed, jamie.former, hank, kept.
    assert_eq!(n, 12, "{all:?}");
    let ra = emu.get("/roleManagement/directory/roleAssignments").await;
    assert_eq!(
        ra.body["value"].as_array().map(Vec::len),
        Some(4),
        "{}",
        ra.text
    );
}

#[tokio::test]
async fn microsoft_graph_js_client_reads_and_writes_the_realistic_tenant() {
    let (emu, certs) = start_https(realistic()).await;
    let v = run_node(
        "realistic-tenant.mjs",
        &emu.base,
        &certs.ca,
        &[("DEFAULT_DOMAIN", "contoso.com")],
    )
    .await;
    assert_eq!(v["initial_domain"], "contoso.onmicrosoft.com", "{v}");
    assert_eq!(
        v["global_admins"],
        json!([
            "ada.admin@contoso.com",
            "breakglass@contoso.onmicrosoft.com"
        ]),
        "{v}"
    );
    assert_eq!(v["invitation_status"], "PendingAcceptance", "{v}");
    assert!(v["invited_user"].is_string(), "{v}");
    assert_eq!(
        v["lena_states"],
        json!([{"byGroup": true, "state": "Active"}]),
        "{v}"
    );
    assert_eq!(v["lena_licenses"], 1, "{v}");
    assert_eq!(
        v["guest_states"],
        json!(["Accepted", "PendingAcceptance", "PendingAcceptance"]),
        "{v}"
    );
    assert_eq!(v["delta_link"], true, "{v}");
    assert_eq!(v["dl_error"]["statusCode"], 400, "{v}");
    assert_eq!(
        v["dl_error"]["message"],
        "Cannot Update a mail-enabled security groups and or distribution list.",
        "{v}"
    );
    assert_eq!(v["dynamic_error"]["statusCode"], 403, "{v}");
    assert_eq!(
        v["dynamic_error"]["code"], "Authorization_RequestDenied",
        "{v}"
    );
    assert_eq!(v["proxy_error"]["statusCode"], 400, "{v}");
    assert_eq!(
        v["proxy_error"]["message"],
        "Another object with the same value for property proxyAddresses already exists.",
        "{v}"
    );
    emu.handle.shutdown().await.expect("shutdown");
}

#[tokio::test]
async fn the_binary_takes_realistic_tenant_and_grant_flags() {
    use std::io::{BufRead, BufReader};
    use std::process::Stdio;
    let bad = Command::new(env!("CARGO_BIN_EXE_roster-graph-emulator"))
        .args(["--listen", "127.0.0.1:0", "--grant", "not a permission"])
        .output()
        .expect("run emulator binary");
    assert!(!bad.status.success());
    assert!(
        String::from_utf8_lossy(&bad.stderr).contains("PERMISSION"),
        "{}",
        String::from_utf8_lossy(&bad.stderr)
    );
    let mut child = Command::new(env!("CARGO_BIN_EXE_roster-graph-emulator"))
        .args([
            "--listen",
            "127.0.0.1:0",
            "--domain",
            "contoso.com",
            "--realistic-tenant",
        ])
        .args(["--client", &format!("{CLIENT}:{SECRET}")])
        .args(["--grant", &format!("{CLIENT}:Directory.ReadWrite.All")])
        .args(["--grant", "RoleManagement.ReadWrite.Directory"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn emulator binary");
    let stdout = child.stdout.take().expect("stdout");
    let line = tokio::task::spawn_blocking(move || {
        let mut l = String::new();
        let _ = BufReader::new(stdout).read_line(&mut l);
        l
    })
    .await
    .expect("join");
    let base = line
        .trim()
        .strip_prefix("listening on ")
        .unwrap_or_else(|| panic!("ready line: {line:?}"))
        .to_string();
    let http = reqwest::Client::new();
    let token = get_token(&http, &base, "contoso").await;
    let emu_get = |p: &str| {
        http.get(format!("{base}/v1.0{p}"))
            .bearer_auth(&token)
            .send()
    };
    let r: Value = emu_get("/users/ada.admin@contoso.com?$select=id,displayName")
        .await
        .expect("get")
        .json()
        .await
        .expect("json");
    assert_eq!(r["displayName"], "Ada Admin", "{r}");
    // The grants: role management is allowed, user writes need User.ReadWrite.All or
    // Directory.ReadWrite.All (granted).
    let created = http
        .post(format!("{base}/v1.0/roleManagement/directory/roleAssignments"))
        .bearer_auth(&token)
        .json(&json!({"principalId": r["id"], "roleDefinitionId": "88d8e3e3-8f55-4a1e-953a-9b9898b8876b", "directoryScopeId": "/"}))
        .send()
        .await
        .expect("post");
    assert_eq!(created.status().as_u16(), 201);
    let _ = child.kill();
    let _ = child.wait();
}
