//! A tenant like a real one (the emulator's `--realistic-tenant`: guests, break-glass
//! admins in the initial domain, role holders, directory-synced users in a federated
//! domain, group-inherited licences, a dynamic group, a mail-enabled security group, a
//! distribution list, a role-assignable group and a proxy-address holder), driven
//! through the binary with `delete_users` on and no `authorized_domains`.

use crate::support;

use serde_json::{Value, json};
use support::*;

fn app(emu: &Emulator) -> String {
    o365_app(&emu.url, "    switches: { delete_users: true }\n")
}

/// The YAML of a repository user matching live user `upn`, with `overrides` (roster
/// names) applied.
fn user_yaml(g: &Graph, username: &str, upn: &str, overrides: &[(&str, &str)]) -> String {
    let (status, v) = g.call(
        "GET",
        &format!("/users/{upn}?$select=givenName,surname,displayName,department,jobTitle,employeeId,usageLocation,mobilePhone"),
        None,
    );
    assert_eq!(status, 200, "{v}");
    let mut fields: Vec<(String, String)> = vec![
        ("username".into(), username.into()),
        ("email".into(), upn.into()),
    ];
    for (roster, graph) in [
        ("first_name", "givenName"),
        ("last_name", "surname"),
        ("display_name", "displayName"),
        ("department", "department"),
        ("job_title", "jobTitle"),
        ("employee_id", "employeeId"),
        ("usage_location", "usageLocation"),
        ("mobile_phone", "mobilePhone"),
    ] {
        if let Some(s) = v[graph].as_str().filter(|s| !s.is_empty()) {
            fields.push((roster.into(), s.into()));
        }
    }
    for (k, val) in overrides {
        fields.retain(|(f, _)| f != k);
        fields.push(((*k).into(), (*val).into()));
    }
    let mut s = String::from("  -");
    for (k, val) in fields {
        let val = if k == "licenses" {
            val
        } else {
            serde_json::to_string(&val).unwrap()
        };
        s.push_str(&format!(" {k}: {val}\n   "));
    }
    s.trim_end().to_string() + "\n"
}

fn plan_json(dir: &std::path::Path) -> (Run, Value) {
    let run = roster(dir, &["plan", "--format", "json"], &[SECRET_ENV]);
    let v = serde_json::from_str(&run.stdout).unwrap_or(Value::Null);
    (run, v)
}

#[test]
fn import_of_a_realistic_tenant_validates_and_plans_empty() {
    let emu = Emulator::start(&["--realistic-tenant"]);
    let dir = repo(&[("apps.yaml", &app(&emu))]);
    let import = roster(dir.path(), &["import", "--app", "o365"], &[SECRET_ENV]);
    assert_eq!(import.code, 0, "{}", import.all());
    let users = std::fs::read_to_string(dir.path().join("o365-users.yaml")).unwrap();
    let groups = std::fs::read_to_string(dir.path().join("o365-groups.yaml")).unwrap();
    for absent in ["#EXT#", "breakglass", "onmicrosoft"] {
        assert!(
            !users.contains(absent),
            "{absent} is outside the scope:\n{users}"
        );
    }
    for absent in [
        "Dynamic - Sales",
        "All Staff",
        "Finance Security",
        "Role - Helpdesk",
    ] {
        assert!(
            !groups.contains(absent),
            "{absent} cannot be managed:\n{groups}"
        );
    }
    assert!(
        import.all().contains("cannot manage its members"),
        "{}",
        import.all()
    );
    let validate = roster(dir.path(), &["validate"], &[]);
    assert_eq!(validate.code, 0, "{}", validate.all());
    let plan = roster(dir.path(), &["plan", "--detailed-exitcode"], &[SECRET_ENV]);
    assert_eq!(plan.code, 0, "the first plan is empty:\n{}", plan.all());
}

#[test]
fn protected_objects_are_listed_not_changed_and_the_rest_applies() {
    let emu = Emulator::start(&["--realistic-tenant"]);
    let g = emu.graph();
    let people = [
        user_yaml(&g, "sam", "sam.synced@corp.contoso.com", &[("department", "Changed")]),
        user_yaml(
            &g,
            "ada",
            "ada.admin@contoso.com",
            &[("department", "Leadership"), ("mobile_phone", "+1 555 0100")],
        ),
        user_yaml(&g, "leo", "leo.licensed@contoso.com", &[("licenses", "[ENTERPRISEPACK]")]),
        "  - { username: newbie, email: newbie@contoso.com, first_name: New, last_name: Bie, usage_location: US, licenses: [ENTERPRISEPACK] }\n".to_string(),
    ];
    let org = |extra_groups: &str, bound: &str| {
        format!(
            "users:\n{}groups:\n  - {{ name: staff, members: [sam, ada, leo, newbie] }}\n{extra_groups}policies:\n  - {{ name: p, app: o365, groups: [{bound}] }}\n",
            people.concat()
        )
    };

    // Binding groups whose members the service manages fails the plan, naming them.
    let dir = repo(&[
        ("apps.yaml", &app(&emu)),
        (
            "org.yaml",
            &org(
                "  - { name: Dynamic - Sales, members: [sam] }\n  - { name: All Staff, members: [ada] }\n",
                "staff, Dynamic - Sales, All Staff",
            ),
        ),
    ]);
    let before = emu.stats()["writes"].as_u64();
    let bad = roster(dir.path(), &["plan"], &[SECRET_ENV]);
    assert_ne!(bad.code, 0, "{}", bad.all());
    for want in [
        "group Dynamic - Sales is bound by policy p",
        "a dynamic group",
        "group All Staff is bound by policy p",
        "a distribution list",
    ] {
        assert!(bad.all().contains(want), "{want}:\n{}", bad.all());
    }

    // Without them: nothing protected is deleted, disabled or changed where protected.
    std::fs::write(dir.path().join("org.yaml"), org("", "staff")).unwrap();
    let (run, plan) = plan_json(dir.path());
    assert_eq!(run.code, 0, "{}", run.all());
    let changes = plan["changes"].as_array().unwrap();
    let touched = |key: &str| -> Vec<String> {
        changes
            .iter()
            .filter(|c| c["key"] == key || c["user"] == key)
            .map(|c| {
                format!(
                    "{} {} {}",
                    c["object"].as_str().unwrap_or(""),
                    c["action"].as_str().unwrap_or(""),
                    c["after"]
                )
            })
            .collect()
    };
    for protected in [
        "sam",
        "sue.synced@corp.contoso.com",
        "uma.useradmin@contoso.com",
        "hank.helpdesk@contoso.com",
        "breakglass@contoso.onmicrosoft.com",
        "pat.partner_partner.example#EXT#@contoso.onmicrosoft.com",
    ] {
        assert!(
            touched(protected).iter().all(|t| !t.starts_with("user ")),
            "{protected}: {:?}\n{}",
            touched(protected),
            run.stdout
        );
    }
    // ada's department is hers to change; her mobile phone is sensitive.
    let ada = touched("ada");
    assert!(
        ada.iter()
            .any(|t| t.contains("Leadership") && !t.contains("mobile_phone")),
        "{ada:?}"
    );
    let listed: Vec<(String, String, String)> = plan["skipped"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["switch"].is_null())
        .map(|s| {
            (
                s["key"].as_str().unwrap_or("").to_string(),
                s["action"].as_str().unwrap_or("").to_string(),
                s["reason"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect();
    let reason = |key: &str, action: &str| {
        listed
            .iter()
            .find(|(k, a, _)| k == key && a == action)
            .map(|(_, _, r)| r.clone())
            .unwrap_or_else(|| panic!("{key} {action} is listed: {listed:?}"))
    };
    assert!(reason("sam", "update").contains("mastered on premises"));
    assert!(reason("sue.synced@corp.contoso.com", "delete").contains("mastered on premises"));
    assert!(reason("uma.useradmin@contoso.com", "delete").contains("User Administrator"));
    assert!(reason("hank.helpdesk@contoso.com", "delete").contains("Helpdesk Administrator"));
    assert!(reason("ada", "update").contains("mobile_phone"));
    let text = roster(dir.path(), &["plan"], &[SECRET_ENV]);
    assert!(text.stdout.contains("Left alone"), "{}", text.stdout);
    assert!(
        text.stdout.contains("2 guest(s) are outside the scope"),
        "{}",
        text.stdout
    );
    assert!(
        text.stdout
            .contains("in the initial domain contoso.onmicrosoft.com"),
        "{}",
        text.stdout
    );
    assert_eq!(
        emu.stats()["writes"].as_u64(),
        before,
        "plans write nothing"
    );

    // The rest applies with no failure, and the next plan is empty.
    let apply = roster(dir.path(), &["apply", "--auto-approve"], &[SECRET_ENV]);
    assert_eq!(apply.code, 0, "{}", apply.all());
    assert!(!apply.all().contains("failed:"), "{}", apply.all());
    let again = roster(dir.path(), &["plan", "--detailed-exitcode"], &[SECRET_ENV]);
    assert_eq!(again.code, 0, "converged:\n{}", again.all());
    // leo keeps the inherited licence and the direct one the YAML lists.
    let (_, leo) = g.call(
        "GET",
        "/users/leo.licensed@contoso.com?$select=licenseAssignmentStates",
        None,
    );
    assert_eq!(
        leo["licenseAssignmentStates"].as_array().map(Vec::len),
        Some(2),
        "{leo}"
    );
    let (_, v) = g.call(
        "GET",
        "/users/newbie@contoso.com?$select=assignedLicenses",
        None,
    );
    assert_eq!(
        v["assignedLicenses"].as_array().map(Vec::len),
        Some(1),
        "{v}"
    );
    let _ = json!(null);
}

#[test]
fn a_proxy_address_conflict_fails_that_create_naming_the_holder() {
    let emu = Emulator::start(&["--realistic-tenant"]);
    let dir = repo(&[
        (
            "apps.yaml",
            &o365_app(&emu.url, "    authorized_domains: [contoso.com]\n"),
        ),
        (
            "org.yaml",
            "users:\n  - { username: jamie, email: jamie@contoso.com, first_name: Jamie, last_name: New }\n  - { username: kim, email: kim@contoso.com, first_name: Kim, last_name: New }\ngroups:\n  - { name: staff, members: [jamie, kim] }\npolicies:\n  - { name: p, app: o365, groups: [staff] }\n",
        ),
    ]);
    let apply = roster(dir.path(), &["apply", "--auto-approve"], &[SECRET_ENV]);
    assert_ne!(apply.code, 0, "{}", apply.all());
    let out = apply.all();
    assert!(
        out.contains(
            "Another object with the same value for property proxyAddresses already exists."
        ),
        "{out}"
    );
    assert!(
        out.contains("proxyAddresses value is held by User_"),
        "{out}"
    );
    // kim is created; jamie is not adopted as someone else's account.
    let g = emu.graph();
    assert!(g.user("kim@contoso.com").is_some());
    assert!(g.user("jamie@contoso.com").is_none());
}

/// The embedded sandbox can start from the same realistic tenant, with no server and
/// no credentials.
#[test]
fn the_sandbox_can_start_realistic() {
    let dir = repo(&[(
        "org.yaml",
        "apps:\n  - { name: o365, type: office365, sandbox: .roster/tenant.json, sandbox_seed: realistic }\n\
         users:\n  - { username: newbie, email: newbie@example.org, first_name: New, last_name: Bie }\n\
         groups:\n  - { name: staff, members: [newbie] }\n\
         policies:\n  - { name: p, app: o365, groups: [staff] }\n",
    )]);
    let plan = roster(dir.path(), &["plan"], &[]);
    assert_eq!(plan.code, 0, "{}", plan.all());
    assert!(
        plan.stdout.contains("2 guest(s) are outside the scope"),
        "{}",
        plan.stdout
    );
    assert!(plan.stdout.contains("Left alone"), "{}", plan.stdout);
    assert!(
        plan.stdout.contains("Global Administrator"),
        "{}",
        plan.stdout
    );
    let bad = repo(&[(
        "org.yaml",
        "apps:\n  - { name: o365, type: office365, sandbox: .roster/t.json, sandbox_seed: lively }\n",
    )]);
    let v = roster(bad.path(), &["validate"], &[]);
    assert_ne!(v.code, 0);
    assert!(v.all().contains("org.yaml:2:"), "{}", v.all());
    assert!(
        v.all().contains("unknown sandbox_seed `lively`"),
        "{}",
        v.all()
    );
}

#[test]
fn an_immutable_id_must_be_base64() {
    let dir = repo(&[(
        "org.yaml",
        "users:\n  - username: alice\n    email: alice@contoso.com\n    first_name: Alice\n    last_name: Smith\n    immutable_id: 'not base64!'\n",
    )]);
    let v = roster(dir.path(), &["validate"], &[]);
    assert_ne!(v.code, 0, "{}", v.all());
    assert!(v.all().contains("org.yaml:6:19"), "{}", v.all());
    assert!(v.all().contains("must be base64"), "{}", v.all());
}
