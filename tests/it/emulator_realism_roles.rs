//! Directory roles, role-assignable groups and the protection of role holders:
//! api/rbacapplication-list-roledefinitions.md, api/rbacapplication-list-
//! roleassignments.md, api/rbacapplication-post-roleassignments.md,
//! resources/unifiedroleassignment.md, resources/users.md ("Sensitive actions"),
//! resources/group.md (isAssignableToRole) and the app's granted permissions.

use crate::emulator_support as support;

use base64::Engine;
use roster::emulator::EmulatorConfig;
use serde_json::{Value, json};
use support::*;

const GA: &str = "62e90394-69f5-4237-9190-012177145e10";
const USER_ADMIN: &str = "fe930be7-5e62-47db-91af-98c3a49a38b1";
const DIRECTORY_READERS: &str = "88d8e3e3-8f55-4a1e-953a-9b9898b8876b";

async fn privileged() -> Emu {
    start_with(EmulatorConfig {
        grants: grants_with_role_management(),
        ..config()
    })
    .await
}

async fn assign(emu: &Emu, principal: &str, role: &str) -> Resp {
    emu.post(
        "/roleManagement/directory/roleAssignments",
        json!({"@odata.type": "#microsoft.graph.unifiedRoleAssignment", "principalId": principal, "roleDefinitionId": role, "directoryScopeId": "/"}),
    )
    .await
}

fn token_roles(token: &str) -> Vec<String> {
    let payload = token.split('.').nth(1).expect("payload");
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .expect("base64");
    let v: Value = serde_json::from_slice(&bytes).expect("json");
    v["roles"]
        .as_array()
        .expect("roles")
        .iter()
        .filter_map(|r| r.as_str().map(str::to_string))
        .collect()
}

#[tokio::test]
async fn built_in_role_definitions_with_microsofts_template_ids() {
    let emu = start().await;
    let r = emu.get("/roleManagement/directory/roleDefinitions").await;
    assert_eq!(r.status, 200, "{}", r.text);
    let v = r.body["value"].as_array().expect("value");
    for (id, name) in [
        (GA, "Global Administrator"),
        (
            "e8611ab8-c189-46e8-94e1-60213ab1f814",
            "Privileged Role Administrator",
        ),
        (
            "7be44c8a-adaf-4e2a-84d6-ab2649e08a13",
            "Privileged Authentication Administrator",
        ),
        (USER_ADMIN, "User Administrator"),
        (
            "c4e39bd9-1100-46d3-8c65-fb160da0071f",
            "Authentication Administrator",
        ),
        (
            "729827e3-9c14-49f7-bb1b-9608f156bbb8",
            "Helpdesk Administrator",
        ),
        (
            "966707d0-3269-4727-9be2-8c3a10f19b9d",
            "Password Administrator",
        ),
        (
            "29232cdf-9323-42fd-ade2-1d097af3e4de",
            "Exchange Administrator",
        ),
        (
            "f28a1f50-f6e7-4571-818b-6a12f2af6b6c",
            "SharePoint Administrator",
        ),
        (
            "194ae4cb-b126-40b2-bd5b-6091b380977d",
            "Security Administrator",
        ),
        (
            "fdd7a751-b60b-444a-984c-02652fe8fa1c",
            "Groups Administrator",
        ),
        (
            "b0f54661-2d74-4c50-afa3-1ec803f12efe",
            "Billing Administrator",
        ),
        (
            "9b895d92-2cd3-44c7-9d02-a6ac2d5ea5c3",
            "Application Administrator",
        ),
        (
            "158c047a-c907-4556-b7ef-446551a6b5f7",
            "Cloud Application Administrator",
        ),
        (
            "b1be1c3e-b65d-4f19-8427-f6fa0d97feb9",
            "Conditional Access Administrator",
        ),
        (
            "3a2c62db-5318-420d-8d74-23affee5d9d5",
            "Intune Administrator",
        ),
        (
            "69091246-20e8-4a56-aa4d-066075b2a7a8",
            "Teams Administrator",
        ),
        ("f2ef992c-3afb-46b9-b7cf-a126ee74c451", "Global Reader"),
        (DIRECTORY_READERS, "Directory Readers"),
    ] {
        let d = v
            .iter()
            .find(|d| d["id"] == id)
            .unwrap_or_else(|| panic!("{name} listed"));
        assert_eq!(d["displayName"], name);
        assert_eq!(d["templateId"], id);
        assert_eq!(d["isBuiltIn"], true);
        assert_eq!(d["isEnabled"], true);
        assert!(d.get("isPrivileged").is_none(), "v1.0 has no isPrivileged");
    }
    // $filter on displayName (eq) and id (in).
    let f = emu
        .get("/roleManagement/directory/roleDefinitions?$filter=displayName eq 'Global Administrator'")
        .await;
    assert_eq!(
        f.body["value"].as_array().map(Vec::len),
        Some(1),
        "{}",
        f.text
    );
    let f = emu
        .get(&format!("/roleManagement/directory/roleDefinitions?$filter=id in ('{GA}','{USER_ADMIN}')&$select=id,displayName"))
        .await;
    assert_eq!(
        f.body["value"].as_array().map(Vec::len),
        Some(2),
        "{}",
        f.text
    );
    assert!(f.body["value"][0].get("templateId").is_none());
    let one = emu
        .get(&format!("/roleManagement/directory/roleDefinitions/{GA}"))
        .await;
    assert_eq!(one.body["displayName"], "Global Administrator");
    let missing = emu
        .get("/roleManagement/directory/roleDefinitions/00000000-0000-0000-0000-000000000000")
        .await;
    assert_graph_error(&missing, 404, "Request_ResourceNotFound");
    // Beta carries isPrivileged.
    let beta = emu
        .http
        .get(format!(
            "{}/beta/roleManagement/directory/roleDefinitions",
            emu.base
        ))
        .bearer_auth(&emu.token)
        .send()
        .await
        .expect("beta");
    let beta = to_resp(beta).await;
    assert_eq!(beta.status, 200, "{}", beta.text);
    let bv = beta.body["value"].as_array().expect("value");
    let priv_of = |id: &str| {
        bv.iter()
            .find(|d| d["id"] == id)
            .map(|d| d["isPrivileged"].clone())
    };
    assert_eq!(priv_of(GA), Some(json!(true)));
    assert_eq!(priv_of(USER_ADMIN), Some(json!(true)));
    assert_eq!(priv_of(DIRECTORY_READERS), Some(json!(false)));
    assert_eq!(
        priv_of("29232cdf-9323-42fd-ade2-1d097af3e4de"),
        Some(json!(false)),
        "Exchange Administrator carries no privileged label"
    );
}

#[tokio::test]
async fn role_assignments_need_role_management_and_filter_and_expand() {
    let plain = start().await;
    assert!(
        !token_roles(&plain.token)
            .iter()
            .any(|r| r == "RoleManagement.ReadWrite.Directory")
    );
    let u = plain.user("admin").await;
    let r = assign(&plain, &u, GA).await;
    assert_graph_error(&r, 403, "Authorization_RequestDenied");
    assert_eq!(
        r.message(),
        "Insufficient privileges to complete the operation."
    );

    let emu = privileged().await;
    assert!(
        token_roles(&emu.token)
            .iter()
            .any(|r| r == "RoleManagement.ReadWrite.Directory")
    );
    let admin = emu.user("admin").await;
    let operator = emu.user("operator").await;
    let r = assign(&emu, &admin, GA).await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.body["principalId"], admin);
    assert_eq!(r.body["roleDefinitionId"], GA);
    assert_eq!(r.body["directoryScopeId"], "/");
    let aid = r.body["id"].as_str().expect("id").to_string();
    assert!(aid.ends_with("-1"), "{aid}");
    assert!(
        r.body["@odata.context"]
            .as_str()
            .is_some_and(|c| c.ends_with("roleManagement/directory/roleAssignments/$entity"))
    );
    assert_eq!(assign(&emu, &operator, USER_ADMIN).await.status, 201);
    assert_eq!(assign(&emu, &operator, DIRECTORY_READERS).await.status, 201);
    // The same assignment twice, an unknown role, a missing scope, a principal that
    // does not exist.
    let dup = assign(&emu, &admin, GA).await;
    assert_graph_error(&dup, 400, "Request_BadRequest");
    let r = assign(&emu, &admin, "00000000-0000-0000-0000-00000000abcd").await;
    assert_graph_error(&r, 404, "Request_ResourceNotFound");
    let r = emu
        .post(
            "/roleManagement/directory/roleAssignments",
            json!({"principalId": admin, "roleDefinitionId": GA}),
        )
        .await;
    assert_graph_error(&r, 400, "Request_BadRequest");
    let r = assign(&emu, "6d2ed9b6-0000-4000-8000-000000000000", GA).await;
    assert_graph_error(&r, 404, "Request_ResourceNotFound");
    // A group that is not role-assignable cannot hold a role.
    let g = emu.group("plain").await;
    let r = assign(&emu, &g, GA).await;
    assert_graph_error(&r, 400, "Request_BadRequest");
    // Without $filter: every assignment.
    let all = emu.get("/roleManagement/directory/roleAssignments").await;
    assert_eq!(
        all.body["value"].as_array().map(Vec::len),
        Some(3),
        "{}",
        all.text
    );
    // $filter eq on roleDefinitionId, with $expand=principal.
    let ga = emu
        .get(&format!("/roleManagement/directory/roleAssignments?$filter=roleDefinitionId eq '{GA}'&$expand=principal"))
        .await;
    assert_eq!(ga.status, 200, "{}", ga.text);
    let v = ga.body["value"].as_array().expect("value");
    assert_eq!(v.len(), 1);
    assert_eq!(v[0]["principal"]["@odata.type"], "#microsoft.graph.user");
    assert_eq!(v[0]["principal"]["id"], admin);
    assert_eq!(v[0]["principal"]["userPrincipalName"], "admin@contoso.com");
    assert!(
        ga.body["@odata.context"]
            .as_str()
            .is_some_and(|c| c.ends_with("roleAssignments(principal())"))
    );
    // eq on principalId, in on roleDefinitionId.
    let h = emu
        .get(&format!(
            "/roleManagement/directory/roleAssignments?$filter=principalId eq '{operator}'"
        ))
        .await;
    assert_eq!(
        h.body["value"].as_array().map(Vec::len),
        Some(2),
        "{}",
        h.text
    );
    let i = emu
        .get(&format!("/roleManagement/directory/roleAssignments?$filter=roleDefinitionId in ('{GA}','{USER_ADMIN}')"))
        .await;
    assert_eq!(
        i.body["value"].as_array().map(Vec::len),
        Some(2),
        "{}",
        i.text
    );
    let bad = emu
        .get("/roleManagement/directory/roleAssignments?$filter=startsWith(principalId,'a')")
        .await;
    assert_eq!(bad.status, 400, "{}", bad.text);
    // Get and delete one.
    let one = emu
        .get(&format!("/roleManagement/directory/roleAssignments/{aid}"))
        .await;
    assert_eq!(one.body["principalId"], admin);
    assert_eq!(
        emu.delete(&format!("/roleManagement/directory/roleAssignments/{aid}"))
            .await
            .status,
        204
    );
    let gone = emu
        .get(&format!("/roleManagement/directory/roleAssignments/{aid}"))
        .await;
    assert_graph_error(&gone, 404, "Request_ResourceNotFound");
}

#[tokio::test]
async fn privileged_role_holders_refuse_sensitive_writes_and_deletes() {
    // An app with RoleManagement.ReadWrite.Directory may act on a Global
    // Administrator.
    let emu = privileged().await;
    let admin = emu.user("admin").await;
    assert_eq!(assign(&emu, &admin, GA).await.status, 201);
    let r = emu
        .patch(
            &format!("/users/{admin}"),
            json!({"mobilePhone": "+1 555 0100", "accountEnabled": false}),
        )
        .await;
    assert_eq!(r.status, 204, "{}", r.text);
    assert_eq!(emu.delete(&format!("/users/{admin}")).await.status, 204);

    // An app without it, on a tenant holding role assignments (made by an app with the
    // permission, handed over through the state file).
    let dir = tempfile::tempdir().expect("tempdir");
    let state = dir.path().join("tenant.json");
    let cfg = EmulatorConfig {
        grants: grants_with_role_management(),
        state_file: Some(state.clone()),
        ..config()
    };
    let seeder = start_with(cfg).await;
    let ga = seeder.user("ga").await;
    let dr = seeder.user("dr").await;
    let ua = seeder.user("ua").await;
    assert_eq!(assign(&seeder, &ga, GA).await.status, 201);
    assert_eq!(assign(&seeder, &dr, DIRECTORY_READERS).await.status, 201);
    assert_eq!(assign(&seeder, &ua, USER_ADMIN).await.status, 201);
    seeder.handle.shutdown().await.expect("shutdown");
    let app = start_with(EmulatorConfig {
        state_file: Some(state),
        ..config()
    })
    .await;
    for (id, prop, value) in [
        (&ga, "accountEnabled", json!(false)),
        (&ga, "userPrincipalName", json!("ga2@contoso.com")),
        (
            &ga,
            "passwordProfile",
            json!({"password": "An0ther!Passw0rd"}),
        ),
        (&ua, "mobilePhone", json!("+1 555 0101")),
        (&ua, "businessPhones", json!(["+1 555 0102"])),
        (&ua, "otherMails", json!(["ua@example.com"])),
        (&ua, "onPremisesImmutableId", json!("dWE=")),
    ] {
        let r = app
            .patch(&format!("/users/{id}"), json!({ prop: value }))
            .await;
        assert_graph_error(&r, 403, "Authorization_RequestDenied");
        assert_eq!(
            r.message(),
            "Insufficient privileges to complete the operation."
        );
    }
    let r = app.delete(&format!("/users/{ga}")).await;
    assert_graph_error(&r, 403, "Authorization_RequestDenied");
    // Non-sensitive properties stay writable, and the holder of an unprivileged role
    // (Directory Readers) is not protected.
    let r = app
        .patch(
            &format!("/users/{ga}"),
            json!({"jobTitle": "Administrator"}),
        )
        .await;
    assert_eq!(r.status, 204, "{}", r.text);
    let r = app
        .patch(&format!("/users/{dr}"), json!({"accountEnabled": false}))
        .await;
    assert_eq!(r.status, 204, "{}", r.text);
    assert_eq!(app.delete(&format!("/users/{dr}")).await.status, 204);
    // Licences of a role holder are not sensitive.
    let mut loc = app
        .patch(&format!("/users/{ga}"), json!({"usageLocation": "US"}))
        .await;
    assert_eq!(loc.status, 204, "{}", loc.text);
    let sku = app.sku().await;
    loc = app
        .post(
            &format!("/users/{ga}/assignLicense"),
            json!({"addLicenses": [{"skuId": sku}], "removeLicenses": []}),
        )
        .await;
    assert_eq!(loc.status, 200, "{}", loc.text);
    // Reading assignments works with the default permissions.
    let list = app.get("/roleManagement/directory/roleAssignments").await;
    assert_eq!(
        list.body["value"].as_array().map(Vec::len),
        Some(2),
        "{}",
        list.text
    );
}

#[tokio::test]
async fn role_assignable_groups_need_role_management_for_creation_and_members() {
    let plain = start().await;
    let body = json!({"displayName": "Helpdesk admins", "mailEnabled": false, "mailNickname": "helpdesk-admins", "securityEnabled": true, "isAssignableToRole": true});
    let r = plain.post("/groups", body.clone()).await;
    assert_graph_error(&r, 403, "Authorization_RequestDenied");

    let emu = privileged().await;
    let r = emu.post("/groups", body).await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.body["isAssignableToRole"], true);
    assert_eq!(r.body["visibility"], "Private", "always Private");
    let gid = r.body["id"].as_str().expect("id").to_string();
    // Shape rules (resources/group.md and the messages real Graph returns).
    for (body, message) in [
        (
            json!({"displayName": "x", "mailEnabled": false, "mailNickname": "x1", "securityEnabled": false, "isAssignableToRole": true}),
            "Invalid value specified for property 'securityEnabled' of resource 'Group'.",
        ),
        (
            json!({"displayName": "x", "mailEnabled": false, "mailNickname": "x2", "securityEnabled": true, "groupTypes": ["Unified"], "isAssignableToRole": true}),
            "GroupType cannot be set for security groups assignable to roles.",
        ),
        (
            json!({"displayName": "x", "mailEnabled": true, "mailNickname": "x3", "securityEnabled": true, "isAssignableToRole": true}),
            "GroupType must be set to Unified for cloud groups assignable to roles.",
        ),
        (
            json!({"displayName": "x", "mailEnabled": false, "mailNickname": "x4", "securityEnabled": true, "isAssignableToRole": true, "visibility": "Public"}),
            "Invalid value specified for property 'visibility' of resource 'Group'.",
        ),
        (
            json!({"displayName": "x", "mailEnabled": false, "mailNickname": "x5", "securityEnabled": true, "isAssignableToRole": true, "groupTypes": ["DynamicMembership"], "membershipRule": "(user.department -eq \"IT\")", "membershipRuleProcessingState": "On"}),
            "Invalid value specified for property 'isAssignableToRole' of resource 'Group'.",
        ),
    ] {
        let r = emu.post("/groups", body).await;
        assert_graph_error(&r, 400, "Request_BadRequest");
        assert_eq!(r.message(), message);
    }
    // A Microsoft 365 group that is assignable to roles.
    let r = emu
        .post(
            "/groups",
            json!({"displayName": "M365 admins", "mailEnabled": true, "mailNickname": "m365-admins", "securityEnabled": true, "groupTypes": ["Unified"], "isAssignableToRole": true}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.body["visibility"], "Private");
    // isAssignableToRole is immutable.
    let r = emu
        .patch(
            &format!("/groups/{gid}"),
            json!({"isAssignableToRole": false}),
        )
        .await;
    assert_graph_error(&r, 400, "Request_BadRequest");
    // Members: allowed with RoleManagement.ReadWrite.Directory; a member is then
    // protected like a role holder.
    let m = emu.user("member").await;
    assert_eq!(emu.add_member(&gid, &m).await.status, 204);
    assert_eq!(
        assign(&emu, &gid, "729827e3-9c14-49f7-bb1b-9608f156bbb8")
            .await
            .status,
        201
    );
    let held = emu
        .get(&format!("/roleManagement/directory/roleAssignments?$filter=principalId eq '{gid}'&$expand=principal"))
        .await;
    assert_eq!(
        held.body["value"][0]["principal"]["@odata.type"],
        "#microsoft.graph.group"
    );

    // The same through an app without it: a second emulator on a shared state file.
    let dir = tempfile::tempdir().expect("tempdir");
    let state = dir.path().join("tenant.json");
    let seeder = start_with(EmulatorConfig {
        grants: grants_with_role_management(),
        state_file: Some(state.clone()),
        ..config()
    })
    .await;
    let r = seeder
        .post(
            "/groups",
            json!({"displayName": "RA", "mailEnabled": false, "mailNickname": "ra", "securityEnabled": true, "isAssignableToRole": true}),
        )
        .await;
    let ra = r.body["id"].as_str().expect("id").to_string();
    let inside = seeder.user("inside").await;
    let outside = seeder.user("outside").await;
    assert_eq!(seeder.add_member(&ra, &inside).await.status, 204);
    seeder.handle.shutdown().await.expect("shutdown");
    let app = start_with(EmulatorConfig {
        state_file: Some(state),
        ..config()
    })
    .await;
    let r = app.add_member(&ra, &outside).await;
    assert_graph_error(&r, 403, "Authorization_RequestDenied");
    let r = app
        .delete(&format!("/groups/{ra}/members/{inside}/$ref"))
        .await;
    assert_graph_error(&r, 403, "Authorization_RequestDenied");
    let r = app
        .patch(
            &format!("/groups/{ra}"),
            json!({"members@odata.bind": [format!("https://graph.microsoft.com/v1.0/directoryObjects/{outside}")]}),
        )
        .await;
    assert_graph_error(&r, 403, "Authorization_RequestDenied");
    // The member of a role-assignable group is protected from sensitive writes.
    let r = app
        .patch(
            &format!("/users/{inside}"),
            json!({"accountEnabled": false}),
        )
        .await;
    assert_graph_error(&r, 403, "Authorization_RequestDenied");
    let r = app
        .patch(
            &format!("/users/{outside}"),
            json!({"accountEnabled": false}),
        )
        .await;
    assert_eq!(r.status, 204, "{}", r.text);
}

#[tokio::test]
async fn grants_are_the_tokens_roles_and_per_client() {
    let other = "99999999-2222-3333-4444-555555555555";
    let emu = start_with(EmulatorConfig {
        clients: vec![
            (CLIENT.into(), SECRET.into()),
            (other.into(), "other-secret".into()),
        ],
        grants: vec![
            (CLIENT.into(), "User.Read.All".into()),
            (CLIENT.into(), "RoleManagement.Read.Directory".into()),
        ],
        ..config()
    })
    .await;
    let mine = token_roles(&emu.token);
    assert_eq!(mine, vec!["RoleManagement.Read.Directory", "User.Read.All"]);
    let r = emu
        .http
        .post(format!("{}/contoso/oauth2/v2.0/token", emu.base))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", other),
            ("client_secret", "other-secret"),
            ("scope", "https://graph.microsoft.com/.default"),
        ])
        .send()
        .await
        .expect("token");
    let v: Value = r.json().await.expect("json");
    let theirs = token_roles(v["access_token"].as_str().expect("token"));
    assert_eq!(
        theirs,
        vec![
            "Directory.ReadWrite.All",
            "Group.ReadWrite.All",
            "User.ReadWrite.All"
        ],
        "an app granted nothing holds the default permissions"
    );
    // RoleManagement.Read.Directory reads assignments.
    let r = emu.get("/roleManagement/directory/roleAssignments").await;
    assert_eq!(r.status, 200, "{}", r.text);
    // User.Read.All reads users but writes nothing.
    assert_eq!(emu.get("/users").await.status, 200);
    let r = emu.post("/users", new_user("nope")).await;
    assert_graph_error(&r, 403, "Authorization_RequestDenied");
    assert_eq!(
        r.message(),
        "Insufficient privileges to complete the operation."
    );

    // GroupMember.ReadWrite.All writes members, not groups.
    let members_only = start_with(EmulatorConfig {
        grants: vec![
            ("*".into(), "GroupMember.ReadWrite.All".into()),
            ("*".into(), "Directory.Read.All".into()),
        ],
        ..config()
    })
    .await;
    let r = members_only
        .post("/groups", json!({"displayName": "G", "mailEnabled": false, "mailNickname": "g", "securityEnabled": true}))
        .await;
    assert_graph_error(&r, 403, "Authorization_RequestDenied");
    let gid = members_only
        .door_id("groups", json!({"displayName": "G", "mailNickname": "g", "mailEnabled": false, "securityEnabled": true}))
        .await;
    let uid = members_only
        .door_id(
            "users",
            json!({"userPrincipalName": "m@contoso.com", "displayName": "M"}),
        )
        .await;
    assert_eq!(members_only.add_member(&gid, &uid).await.status, 204);
    let r = members_only
        .patch(&format!("/groups/{gid}"), json!({"description": "x"}))
        .await;
    assert_graph_error(&r, 403, "Authorization_RequestDenied");
    // Inside a $batch too.
    let r = members_only
        .post(
            "/$batch",
            json!({"requests": [{"id": "1", "method": "POST", "url": "/users", "headers": {"Content-Type": "application/json"}, "body": new_user("b")}]}),
        )
        .await;
    assert_eq!(r.body["responses"][0]["status"], 403, "{}", r.text);

    // --read-only tokens carry the read permissions.
    let ro = start_with(EmulatorConfig {
        read_only: true,
        ..config()
    })
    .await;
    assert_eq!(
        token_roles(&ro.token),
        vec!["Group.Read.All", "User.Read.All"]
    );
}
