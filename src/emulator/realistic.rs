//! `--realistic-tenant`: a new tenant seeded with the mix of objects a real tenant has
//! and a reconciler must leave alone or handle with care. Everything is deterministic
//! (ids are name-based UUIDs, dates fixed), so tests and the sandbox can rely on it;
//! docs/emulator.md ("The realistic tenant") lists it.

use std::collections::HashSet;

use serde_json::{Map, Value, json};
use uuid::Uuid;

use super::graph::{Ctx, door, roles as role_api};
use super::model::{AssignedLicense, Tenant, name_uuid, sku_id_for};
use super::roles;

/// When the seeded objects were created.
pub const CREATED: &str = "2024-01-15T09:00:00Z";
/// When the directory-synced objects were last synchronised.
pub const LAST_SYNC: &str = "2024-06-01T06:00:00Z";
/// The SKU the licence group assigns when no SKU is configured (with 25 seats).
pub const DEFAULT_SKU: (&str, u32) = ("ENTERPRISEPACK", 25);

/// The id of a seeded object named `name` (its UPN, or `group:<mailNickname>`).
pub fn seeded_id(name: &str) -> Uuid {
    name_uuid(&format!("realistic:{}", name.to_ascii_lowercase()))
}

/// The federated domain of the realistic tenant: `corp.<default domain>`.
pub fn federated_domain(t: &Tenant) -> String {
    format!("corp.{}", t.default_domain())
}

fn obj(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(m) => m,
        _ => Map::new(),
    }
}

/// Seed `t` (a new tenant) with the realistic mix. Failures are programming errors of
/// the seed itself and are skipped object by object rather than panicking.
pub fn seed(t: &mut Tenant) {
    let default = t.default_domain();
    let initial = t.initial_domain();
    let federated = federated_domain(t);
    if !t.domains.iter().any(|d| d.id == federated) {
        t.domains.push(super::model::Domain {
            id: federated.clone(),
            is_default: false,
            is_initial: false,
            authentication_type: "Federated".into(),
        });
    }
    if t.skus.is_empty() {
        t.merge_config(&[], &[(DEFAULT_SKU.0.to_string(), DEFAULT_SKU.1)]);
    }
    let sku = t
        .skus
        .first()
        .map(|s| s.sku_id)
        .unwrap_or_else(|| sku_id_for(DEFAULT_SKU.0));
    let hidden = HashSet::new();
    let grants: Vec<String> = vec![roles::ROLE_MANAGEMENT_WRITE.to_string()];
    let ctx = Ctx {
        base: "https://graph.microsoft.com",
        now: time::OffsetDateTime::UNIX_EPOCH,
        hidden: &hidden,
        eventual: false,
        max_page: None,
        create_if_missing: false,
        return_minimal: false,
        delta_ttl_secs: 0,
        empty_user_lists: false,
        roles: &grants,
        created: Vec::new(),
    };

    let user = |t: &mut Tenant, upn: &str, body: Value| -> Uuid {
        let mut b = obj(body);
        let id = seeded_id(upn);
        b.insert("id".into(), json!(id.to_string()));
        b.insert("userPrincipalName".into(), json!(upn));
        b.insert("createdDateTime".into(), json!(CREATED));
        if let Ok(u) = door::user_from(t, &b, CREATED) {
            t.insert_user(u);
        }
        id
    };

    // Guests, invited through the invitation API: one still pending, one redeemed.
    for (address, name, state) in [
        (
            "pat.partner@partner.example",
            "Pat Partner",
            "PendingAcceptance",
        ),
        ("val.vendor@vendor.example", "Val Vendor", "Accepted"),
    ] {
        let upn = super::graph::guest_upn(address, &initial);
        user(
            t,
            &upn,
            json!({
                "displayName": name,
                "mailNickname": format!("{}#EXT#", address.replace('@', "_")),
                "mail": address,
                "otherMails": [address],
                "userType": "Guest",
                "creationType": "Invitation",
                "externalUserState": state,
                "externalUserStateChangeDateTime": CREATED,
            }),
        );
    }

    // Administrators: a break-glass Global Administrator in the initial domain, a
    // Global Administrator and a User Administrator in the default domain.
    let breakglass = user(
        t,
        &format!("breakglass@{initial}"),
        json!({ "displayName": "Break Glass Administrator", "mailNickname": "breakglass" }),
    );
    let ada = user(
        t,
        &format!("ada.admin@{default}"),
        json!({ "displayName": "Ada Admin", "givenName": "Ada", "surname": "Admin", "mail": format!("ada.admin@{default}"), "jobTitle": "IT Director", "department": "IT", "usageLocation": "US" }),
    );
    let uma = user(
        t,
        &format!("uma.useradmin@{default}"),
        json!({ "displayName": "Uma Useradmin", "givenName": "Uma", "surname": "Useradmin", "mail": format!("uma.useradmin@{default}"), "jobTitle": "Identity Administrator", "department": "IT", "usageLocation": "US" }),
    );
    for (who, role) in [
        (breakglass, roles::GLOBAL_ADMINISTRATOR),
        (ada, roles::GLOBAL_ADMINISTRATOR),
        (uma, roles::USER_ADMINISTRATOR),
    ] {
        let _ = role_api::assign(t, who, role, "/");
    }

    // Directory-synced users in the federated domain.
    let mut synced = Vec::new();
    for (local, given, surname, dept, imm) in [
        (
            "sam.synced",
            "Sam",
            "Synced",
            "Engineering",
            "c2FtLnN5bmNlZEBjb3Jw",
        ),
        (
            "sue.synced",
            "Sue",
            "Synced",
            "Sales",
            "c3VlLnN5bmNlZEBjb3Jw",
        ),
    ] {
        let upn = format!("{local}@{federated}");
        synced.push(user(
            t,
            &upn,
            json!({
                "displayName": format!("{given} {surname}"),
                "givenName": given,
                "surname": surname,
                "department": dept,
                "mail": upn,
                "usageLocation": "US",
                "onPremisesSyncEnabled": true,
                "onPremisesImmutableId": imm,
                "onPremisesSamAccountName": local.replace('.', ""),
                "onPremisesLastSyncDateTime": LAST_SYNC,
            }),
        ));
    }

    // Members of the licence group: Lena inherits only, Leo also holds it directly.
    let lena = user(
        t,
        &format!("lena.licensed@{default}"),
        json!({ "displayName": "Lena Licensed", "givenName": "Lena", "surname": "Licensed", "mail": format!("lena.licensed@{default}"), "department": "Finance", "usageLocation": "US" }),
    );
    let leo = user(
        t,
        &format!("leo.licensed@{default}"),
        json!({ "displayName": "Leo Licensed", "givenName": "Leo", "surname": "Licensed", "mail": format!("leo.licensed@{default}"), "department": "Finance", "usageLocation": "US" }),
    );
    if let Some(u) = t.users.get_mut(&leo) {
        u.assigned_licenses.push(AssignedLicense {
            disabled_plans: Vec::new(),
            sku_id: sku,
        });
    }
    // A former employee's mailbox kept with the short address a new hire would get.
    user(
        t,
        &format!("jamie.former@{default}"),
        json!({ "displayName": "Jamie Former (mailbox)", "mail": format!("jamie.former@{default}"), "accountEnabled": false, "proxyAddresses": [format!("smtp:jamie@{default}")] }),
    );
    // A member of the role-assignable group (protected through it).
    let hank = user(
        t,
        &format!("hank.helpdesk@{default}"),
        json!({ "displayName": "Hank Helpdesk", "givenName": "Hank", "surname": "Helpdesk", "mail": format!("hank.helpdesk@{default}"), "department": "IT", "usageLocation": "US" }),
    );
    t.recount_seats();

    let group = |t: &mut Tenant, nick: &str, body: Value, members: &[Uuid]| -> Uuid {
        let mut b = obj(body);
        let id = seeded_id(&format!("group:{nick}"));
        b.insert("id".into(), json!(id.to_string()));
        b.insert("mailNickname".into(), json!(nick));
        b.insert("createdDateTime".into(), json!(CREATED));
        b.insert(
            "members".into(),
            json!(members.iter().map(Uuid::to_string).collect::<Vec<_>>()),
        );
        if let Ok((g, m)) = door::group_from(t, &ctx, &b, CREATED) {
            door::insert_group_with_members(t, g, m, CREATED);
        }
        id
    };

    let licensed = group(
        t,
        "licensed-e3",
        json!({ "displayName": "Licensed - E3", "description": "Members get the licence through the group", "mailEnabled": false, "securityEnabled": true }),
        &[lena, leo],
    );
    if let Some(g) = t.groups.get_mut(&licensed) {
        g.assigned_licenses.push(AssignedLicense {
            disabled_plans: Vec::new(),
            sku_id: sku,
        });
    }
    t.reprocess_group_members(licensed, CREATED);
    group(
        t,
        "dynamic-sales",
        json!({ "displayName": "Dynamic - Sales", "mailEnabled": false, "securityEnabled": true, "groupTypes": ["DynamicMembership"], "membershipRule": "(user.department -eq \"Sales\")", "membershipRuleProcessingState": "On" }),
        &[synced[1]],
    );
    group(
        t,
        "finance-security",
        json!({ "displayName": "Finance Security (mail-enabled)", "mailEnabled": true, "securityEnabled": true, "mail": format!("finance-security@{default}") }),
        &[lena],
    );
    group(
        t,
        "all-staff",
        json!({ "displayName": "All Staff", "description": "Distribution list", "mailEnabled": true, "securityEnabled": false, "mail": format!("all-staff@{default}") }),
        &[ada, uma, lena, leo],
    );
    let helpdesk = group(
        t,
        "role-helpdesk",
        json!({ "displayName": "Role - Helpdesk Administrators", "mailEnabled": false, "securityEnabled": true, "isAssignableToRole": true }),
        &[hank],
    );
    let _ = role_api::assign(t, helpdesk, roles::HELPDESK_ADMINISTRATOR, "/");
}
