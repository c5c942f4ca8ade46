//! People keep their accounts (office365, through the binary against the emulator,
//! checked with direct Graph reads): attributes from `attribute_map` templates, the
//! manager, a login change that renames the same object (also from a checkout with no
//! `.roster/`), a username rename declared with `previous_usernames`, and a user added
//! back after a delete restored from the deleted items with its id.

use crate::support;

use serde_json::Value;
use support::*;

const MAP: &str = "    switches: { delete_users: true }\n    attribute_map:\n      userPrincipalName: \"{first_name|ascii|lower}.{last_name|ascii|lower}@contoso.com\"\n      companyName: Contoso Ltd\n      onPremisesExtensionAttributes.extensionAttribute1: \"{attributes.cost_center}\"\n";

fn users(jose_last: &str) -> String {
    format!(
        "users:\n  - username: ada\n    email: ada@contoso.com\n    first_name: Ada\n    last_name: Lovelace\n  \
         - username: jose\n    email: jose@contoso.com\n    first_name: José\n    last_name: {jose_last}\n    \
         manager: ada\n    attributes: {{ cost_center: CC-1042 }}\n\
         groups:\n  - name: staff\n    members: [ada, jose]\n\
         policies:\n  - name: p\n    app: o365\n    groups: [staff]\n"
    )
}

fn plan_json(dir: &std::path::Path) -> Value {
    let run = roster(dir, &["plan", "--format", "json"], &[SECRET_ENV]);
    assert!(run.code == 0 || run.code == 2, "{}", run.all());
    serde_json::from_str(&run.stdout).unwrap_or_else(|e| panic!("{e}: {}", run.all()))
}

fn apply(dir: &std::path::Path) {
    let run = roster(dir, &["apply", "--auto-approve"], &[SECRET_ENV]);
    assert_eq!(run.code, 0, "{}", run.all());
}

fn user_changes(plan: &Value) -> Vec<&Value> {
    plan["changes"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["object"] == "user")
        .collect()
}

const SELECT: &str = "$select=id,userPrincipalName,mail,mailNickname,givenName,surname,companyName,onPremisesExtensionAttributes&$expand=manager($select=id)";

#[test]
fn templated_attributes_and_the_manager_land_and_a_name_change_renames_the_same_account() {
    let emu = Emulator::start(&[]);
    let g = emu.graph();
    let apps = o365_app(&emu.url, MAP);
    let dir = repo(&[("apps.yaml", &apps), ("people.yaml", &users("Núñez"))]);
    apply(dir.path());

    let (status, jose) = g.call(
        "GET",
        &format!("/users/jose.nunez@contoso.com?{SELECT}"),
        None,
    );
    assert_eq!(status, 200, "{jose}");
    let ada = g
        .user("ada.lovelace@contoso.com")
        .expect("ada by her templated UPN");
    assert_eq!(jose["givenName"], "José");
    assert_eq!(jose["surname"], "Núñez");
    assert_eq!(jose["mail"], "jose@contoso.com");
    assert_eq!(jose["companyName"], "Contoso Ltd");
    assert_eq!(
        jose["onPremisesExtensionAttributes"]["extensionAttribute1"],
        "CC-1042"
    );
    assert_eq!(jose["mailNickname"], "jose");
    assert_eq!(jose["manager"]["id"], ada["id"], "{jose}");
    let id = jose["id"].as_str().unwrap().to_string();
    assert!(user_changes(&plan_json(dir.path())).is_empty());

    // A fresh checkout (no .roster/) where the last name changed: one update of the
    // same object, shown as a rename.
    let fresh = repo(&[("apps.yaml", &apps), ("people.yaml", &users("García"))]);
    let plan = plan_json(fresh.path());
    let changes = user_changes(&plan);
    assert_eq!(changes.len(), 1, "{plan:#}");
    let c = changes[0];
    assert_eq!(c["action"], "update", "{c}");
    assert_eq!(c["key"], "jose");
    assert_eq!(c["id"], id.as_str());
    assert_eq!(c["before"]["login"], "jose.nunez@contoso.com");
    assert_eq!(c["after"]["login"], "jose.garcia@contoso.com");
    let human = roster(fresh.path(), &["plan"], &[SECRET_ENV]);
    assert!(
        human.stdout.contains(
            "~ user jose  login \"jose.nunez@contoso.com\" -> \"jose.garcia@contoso.com\""
        ) || human
            .stdout
            .contains("~ user jose  login jose.nunez@contoso.com -> jose.garcia@contoso.com"),
        "{}",
        human.stdout
    );
    apply(fresh.path());
    let (status, after) = g.call(
        "GET",
        &format!("/users/jose.garcia@contoso.com?{SELECT}"),
        None,
    );
    assert_eq!(status, 200, "{after}");
    assert_eq!(after["id"], id.as_str(), "the same object");
    assert_eq!(after["surname"], "García");
    assert_eq!(after["manager"]["id"], ada["id"]);
    assert!(g.user("jose.nunez@contoso.com").is_none());
    assert!(user_changes(&plan_json(fresh.path())).is_empty());
}

fn simple(users: &str) -> String {
    format!(
        "users:\n{users}groups:\n  - name: staff\n    members: [ada, {}]\npolicies:\n  - name: p\n    app: o365\n    groups: [staff]\n",
        if users.contains("username: jane") {
            "jane"
        } else if users.contains("username: bob") {
            "bob"
        } else {
            "ada"
        }
    )
}

const ADA: &str =
    "  - { username: ada, email: ada@contoso.com, first_name: Ada, last_name: Lovelace }\n";

#[test]
fn a_user_deleted_and_added_back_is_restored_with_its_id() {
    let emu = Emulator::start(&[]);
    let g = emu.graph();
    let apps = o365_app(&emu.url, "    switches: { delete_users: true }\n");
    let bob = "  - { username: bob, email: bob@contoso.com, first_name: Bob, last_name: Stone, department: Sales }\n";
    let with_bob = simple(&format!("{ADA}{bob}"));
    let dir = repo(&[("apps.yaml", &apps), ("people.yaml", &with_bob)]);
    apply(dir.path());
    let id = g.user("bob@contoso.com").unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();

    std::fs::write(dir.path().join("people.yaml"), simple(ADA)).unwrap();
    apply(dir.path());
    assert!(g.user("bob@contoso.com").is_none(), "deleted");

    let back = bob.replace("Sales", "Support");
    std::fs::write(
        dir.path().join("people.yaml"),
        simple(&format!("{ADA}{back}")),
    )
    .unwrap();
    let plan = plan_json(dir.path());
    let changes = user_changes(&plan);
    assert_eq!(changes.len(), 1, "{plan:#}");
    assert_eq!(changes[0]["action"], "restore", "{plan:#}");
    assert_eq!(changes[0]["id"], id.as_str());
    assert_eq!(changes[0]["after"]["department"], "Support");
    assert_eq!(plan["summary"]["restore"], 1);
    let human = roster(dir.path(), &["plan"], &[SECRET_ENV]);
    assert!(
        human.stdout.contains("+ user bob (restore)"),
        "{}",
        human.stdout
    );
    apply(dir.path());
    let live = g.user("bob@contoso.com").expect("restored");
    assert_eq!(live["id"], id.as_str(), "the same object, restored");
    let (_, v) = g.call("GET", &format!("/users/{id}?$select=department"), None);
    assert_eq!(v["department"], "Support");
    assert!(user_changes(&plan_json(dir.path())).is_empty());
    let staff = g.group_id("staff").unwrap();
    let members = g.list(&format!("/groups/{staff}/members?$select=id"));
    assert!(
        members.iter().any(|m| m["id"] == id.as_str()),
        "{members:?}"
    );
}

#[test]
fn a_username_declared_with_previous_usernames_renames_the_account() {
    let emu = Emulator::start(&[]);
    let g = emu.graph();
    let apps = o365_app(&emu.url, "    switches: { delete_users: true }\n");
    let jsmith = "  - { username: jsmith, email: jane.smith@contoso.com, first_name: Jane, last_name: Smith }\n";
    let dir = repo(&[
        ("apps.yaml", &apps),
        (
            "people.yaml",
            &simple(&format!("{ADA}{jsmith}")).replace("[ada, ada]", "[ada, jsmith]"),
        ),
    ]);
    apply(dir.path());
    let id = g.user("jane.smith@contoso.com").unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();

    let jane = "  - { username: jane, previous_usernames: [jsmith], email: jane.doe@contoso.com, first_name: Jane, last_name: Doe }\n";
    std::fs::write(
        dir.path().join("people.yaml"),
        simple(&format!("{ADA}{jane}")),
    )
    .unwrap();
    let plan = plan_json(dir.path());
    let changes = user_changes(&plan);
    assert_eq!(changes.len(), 1, "{plan:#}");
    let c = changes[0];
    assert_eq!(
        (c["action"].as_str(), c["key"].as_str()),
        (Some("update"), Some("jane"))
    );
    assert_eq!(c["after"]["login"], "jane.doe@contoso.com");
    assert_eq!(c["after"]["username"], "jane");
    assert!(
        !plan["changes"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["object"] == "membership"),
        "the membership follows the account: {plan:#}"
    );
    apply(dir.path());
    let (_, v) = g.call(
        "GET",
        "/users/jane.doe@contoso.com?$select=id,mailNickname,surname",
        None,
    );
    assert_eq!(v["id"], id.as_str());
    assert_eq!(v["mailNickname"], "jane");
    assert!(user_changes(&plan_json(dir.path())).is_empty());
}

#[test]
fn mapping_mistakes_are_errors_at_their_positions() {
    let apps = "apps:\n  - name: o365\n    type: office365\n    sandbox: t.json\n    attribute_map:\n      compnyName: x\n      jobTitle: \"{job_titel|lower}\"\n      userPrincipalName: \"{first_name}@contoso.com\"\n    on_create: [officeLocation]\n";
    let people = "users:\n  - { username: a, email: a@contoso.com, first_name: Al, last_name: One, manager: bobb }\n  - { username: b, email: b@contoso.com, first_name: Al, last_name: Two }\ngroups:\n  - { name: staff, members: [a, b] }\npolicies:\n  - { name: p, app: o365, groups: [staff] }\n";
    let dir = repo(&[("apps.yaml", apps), ("people.yaml", people)]);
    let run = roster(dir.path(), &["validate"], &[]);
    assert_ne!(run.code, 0);
    let out = run.all();
    for want in [
        "apps.yaml:6:7: error: `compnyName`",
        "did you mean `companyName`?",
        "apps.yaml:7:17: error: template `jobTitle`",
        "job_titel",
        "apps.yaml:9:17: error: `officeLocation` in `on_create`",
        "people.yaml:2:",
        "`bobb`, which is not a user of the repository",
        "gives users `a` and `b` the same userPrincipalName `Al@contoso.com`",
    ] {
        assert!(out.contains(want), "missing {want:?} in:\n{out}");
    }
}
