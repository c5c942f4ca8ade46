//! End to end against a real Samba AD domain controller (started by
//! `scripts/samba-dc.sh` through the test support), driving the `roster` binary on the
//! `examples/acme` organisation. Results are checked with raw LDAP searches, not with
//! roster's own reader.

use crate::samba;
use crate::support;

use std::path::Path;

use samba::*;
use support::{Run, roster};

const PASSWORD: &str = "Acme-Init1al!Pass";

/// Copies examples/acme into the fixture's repository and points its AD app at the
/// test DC and the fixture's OUs.
fn acme_repo(fx: &Fixture, users_ou: Option<&str>) {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/acme");
    copy_dir(&src, fx.repo.path());
    let apps_path = fx.repo.path().join("apps.yaml");
    let mut apps: serde_yaml::Value =
        serde_yaml::from_str(&std::fs::read_to_string(&apps_path).unwrap()).unwrap();
    let dc = dc();
    for app in apps["apps"].as_sequence_mut().unwrap() {
        if app["type"] == "active_directory" {
            app["url"] = dc.url.clone().into();
            app["base_dn"] = dc.base_dn.clone().into();
            app["users_ou"] = users_ou.unwrap_or(&fx.users_ou).to_string().into();
            app["groups_ou"] = fx.groups_ou.clone().into();
            app["bind_dn"] = dc.bind_dn.clone().into();
            app["bind_password"] = serde_yaml::from_str("{file: bind.pw}").unwrap();
            app["tls"] = serde_yaml::from_str(&format!("{{ca_file: '{}'}}", dc.ca)).unwrap();
        }
    }
    std::fs::write(&apps_path, serde_yaml::to_string(&apps).unwrap()).unwrap();
    // A leaver: in the repository, member of ad-users, but disabled.
    std::fs::write(
        fx.repo.path().join("users/leaver.yaml"),
        "users:\n  - username: leaver\n    email: leaver@acme.example\n    first_name: Lee\n    last_name: Ver\n    enabled: false\nmemberships:\n  - group: ad-users\n    users: [leaver]\n",
    )
    .unwrap();
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

fn run(fx: &Fixture, args: &[&str]) -> Run {
    let mut all = vec![];
    all.extend_from_slice(args);
    roster(
        fx.repo.path(),
        &all,
        &[("ROSTER_INITIAL_PASSWORD", PASSWORD)],
    )
}

async fn user_entry(ldap: &mut ldap3::Ldap, fx: &Fixture, sam: &str) -> Option<ldap3::SearchEntry> {
    search(
        ldap,
        &fx.users_ou,
        &format!("(sAMAccountName={sam})"),
        &["*", "objectGUID"],
    )
    .await
    .into_iter()
    .next()
}

fn uac(e: &ldap3::SearchEntry) -> u32 {
    attr(e, "userAccountControl")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// acme's usernames and group names live domain-wide (sAMAccountName is unique in a
/// domain), so the steps run in one test, after removing leftovers of an earlier run
/// on the same DC.
async fn remove_leftovers(ldap: &mut ldap3::Ldap) {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/acme");
    let mut names = vec!["leaver".to_string()];
    for f in [
        "users/engineering.yaml",
        "users/executive.yaml",
        "users/finance.yaml",
        "users/it.yaml",
        "users/marketing.yaml",
        "users/people.yaml",
        "users/sales.yaml",
        "groups.yaml",
    ] {
        let v: serde_yaml::Value =
            serde_yaml::from_str(&std::fs::read_to_string(src.join(f)).unwrap()).unwrap();
        for u in v["users"].as_sequence().into_iter().flatten() {
            names.push(u["username"].as_str().unwrap().to_string());
        }
        for g in v["groups"].as_sequence().into_iter().flatten() {
            names.push(g["name"].as_str().unwrap().to_string());
        }
    }
    let filter: String = names
        .iter()
        .map(|n| format!("(sAMAccountName={n})"))
        .collect();
    let base = dc().base_dn.clone();
    for e in search(ldap, &base, &format!("(|{filter})"), &["sAMAccountName"]).await {
        if e.dn.contains(",OU=t-") {
            let _ = ldap.delete(&e.dn).await;
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn acme_on_a_real_domain_controller() {
    let fx = Fixture::new().await;
    acme_repo(&fx, None);
    let mut ldap = raw().await;
    remove_leftovers(&mut ldap).await;

    // Something outside the managed OUs that must never be touched.
    let outside_dn = add_user(
        &mut ldap,
        &fx.ou,
        "Outside Person",
        &format!("out{}", &fx.token[..6]),
    )
    .await;
    let outside_before = read(&mut ldap, &outside_dn, &["*"]).await.unwrap();

    let plan = run(&fx, &["plan", "--app", "corp-ad", "--detailed-exitcode"]);
    assert_eq!(plan.code, 2, "{}", plan.all());
    let apply = run(&fx, &["apply", "--app", "corp-ad", "--auto-approve"]);
    assert_eq!(apply.code, 0, "{}", apply.all());
    let again = run(&fx, &["plan", "--app", "corp-ad", "--detailed-exitcode"]);
    assert_eq!(again.code, 0, "plan after apply is empty:\n{}", again.all());

    // Raw LDAP: the ad-users group holds the flattened members; kreyes can bind with
    // the password from the secret reference; the leaver is disabled.
    let group = search(&mut ldap, &fx.groups_ou, "(cn=ad-users)", &["member"]).await;
    assert_eq!(group.len(), 1, "ad-users exists once");
    let members = attr_all(&group[0], "member");
    assert!(
        members.len() >= 8,
        "engineering + it + executives members: {members:?}"
    );
    let kreyes = user_entry(&mut ldap, &fx, "kreyes")
        .await
        .expect("kreyes created");
    assert_eq!(uac(&kreyes) & 2, 0, "kreyes enabled");
    assert_eq!(
        try_bind(&kreyes.dn, PASSWORD).await,
        0,
        "kreyes binds with the initial password"
    );
    let leaver = user_entry(&mut ldap, &fx, "leaver")
        .await
        .expect("leaver created");
    assert_eq!(uac(&leaver) & 2, 2, "leaver disabled");

    // Out-of-band: a user created by hand in users_ou, a member removed by hand, the
    // disabled leaver re-enabled by hand.
    let intruder = format!("intr{}", &fx.token[..6]);
    add_user(&mut ldap, &fx.users_ou, "Intruder Hand", &intruder).await;
    let removed = members[0].clone();
    modify(
        &mut ldap,
        &group[0].dn,
        vec![ldap3::Mod::Delete(
            "member".to_string(),
            [removed.clone()].into(),
        )],
    )
    .await;
    modify(
        &mut ldap,
        &leaver.dn,
        vec![ldap3::Mod::Replace(
            "userAccountControl".to_string(),
            [(uac(&leaver) & !2).to_string()].into(),
        )],
    )
    .await;

    let drift = run(&fx, &["drift", "--app", "corp-ad"]);
    assert_eq!(drift.code, 2, "{}", drift.all());
    assert!(
        drift.stdout.contains(&intruder),
        "names the hand-made user: {}",
        drift.stdout
    );
    assert!(
        drift.stdout.contains("leaver"),
        "names the re-enabled account: {}",
        drift.stdout
    );
    assert!(
        drift.stdout.contains("ad-users/"),
        "names the removed membership: {}",
        drift.stdout
    );

    let revert = run(&fx, &["apply", "--app", "corp-ad", "--auto-approve"]);
    assert_eq!(revert.code, 0, "{}", revert.all());
    assert!(
        user_entry(&mut ldap, &fx, &intruder).await.is_none(),
        "hand-made user deleted"
    );
    let group = search(&mut ldap, &fx.groups_ou, "(cn=ad-users)", &["member"]).await;
    assert!(
        attr_all(&group[0], "member").contains(&removed),
        "member restored"
    );
    let leaver = user_entry(&mut ldap, &fx, "leaver").await.unwrap();
    assert_eq!(uac(&leaver) & 2, 2, "leaver disabled again");
    assert_eq!(run(&fx, &["drift", "--app", "corp-ad"]).code, 0);

    // Never touched: the object outside the OUs is exactly as it was.
    let outside_after = read(&mut ldap, &outside_dn, &["*"])
        .await
        .expect("outside user still exists");
    assert_eq!(
        outside_before.attrs.get("uSNChanged"),
        outside_after.attrs.get("uSNChanged")
    );

    // Import: a new repository with only the AD app; after import, plan is empty.
    let fresh = tempfile::tempdir().unwrap();
    std::fs::copy(
        fx.repo.path().join("apps.yaml"),
        fresh.path().join("apps.yaml"),
    )
    .unwrap();
    std::fs::copy(fx.repo.path().join("bind.pw"), fresh.path().join("bind.pw")).unwrap();
    // Keep only the AD app.
    let apps: serde_yaml::Value =
        serde_yaml::from_str(&std::fs::read_to_string(fresh.path().join("apps.yaml")).unwrap())
            .unwrap();
    let ad: Vec<serde_yaml::Value> = apps["apps"]
        .as_sequence()
        .unwrap()
        .iter()
        .filter(|a| a["type"] == "active_directory")
        .cloned()
        .collect();
    std::fs::write(
        fresh.path().join("apps.yaml"),
        serde_yaml::to_string(&serde_yaml::Value::Mapping(
            [("apps".into(), ad.into())].into_iter().collect(),
        ))
        .unwrap(),
    )
    .unwrap();
    let import = roster(fresh.path(), &["import", "--app", "corp-ad"], &[]);
    assert_eq!(import.code, 0, "{}", import.all());
    let plan = roster(
        fresh.path(),
        &["plan", "--app", "corp-ad", "--detailed-exitcode"],
        &[],
    );
    assert_eq!(
        plan.code,
        0,
        "plan right after import is empty:\n{}",
        plan.all()
    );

    // A users_ou that does not exist is named.
    let missing = format!("OU=Nope,{}", fx.ou);
    acme_repo(&fx, Some(&missing));
    let plan = run(&fx, &["plan", "--app", "corp-ad"]);
    assert_eq!(plan.code, 1, "{}", plan.all());
    assert!(
        plan.stderr.contains("OU=Nope"),
        "names the OU: {}",
        plan.all()
    );

    remove_leftovers(&mut ldap).await;
}

/// A user with child objects (in real AD, the ActiveSync devices Exchange keeps under
/// a mailbox user) is deleted with them: roster deletes users with the Tree Delete
/// control, where a plain delete fails with "not allowed on non-leaf".
#[tokio::test(flavor = "multi_thread")]
async fn a_user_with_child_objects_is_deleted_with_them() {
    let fx = Fixture::new().await;
    let dc = dc();
    let keeper = format!("kp{}", &fx.token[..8]);
    let yaml = format!(
        "apps:\n  - name: ad\n    type: active_directory\n    url: {url}\n    base_dn: '{base}'\n    users_ou: '{users}'\n    groups_ou: '{groups}'\n    bind_dn: '{bind}'\n    bind_password: {{ file: bind.pw }}\n    tls: {{ ca_file: '{ca}' }}\n    switches: {{ delete_users: true }}\n\
         users:\n  - username: {keeper}\n    email: {keeper}@acme.example\n    first_name: Kay\n    last_name: Per\n\
         groups:\n  - name: g-{token}\n    members: [{keeper}]\n\
         policies:\n  - name: p\n    app: ad\n    groups: [g-{token}]\n",
        url = dc.url,
        base = dc.base_dn,
        users = fx.users_ou,
        groups = fx.groups_ou,
        bind = dc.bind_dn,
        ca = dc.ca,
        token = fx.token,
    );
    std::fs::write(fx.repo.path().join("org.yaml"), yaml).unwrap();

    // A leaver made by hand, with a child holding a grandchild beneath it.
    let mut ldap = raw().await;
    let leaver_sam = format!("lv{}", &fx.token[..8]);
    let leaver = add_user(&mut ldap, &fx.users_ou, "Lee Ver", &leaver_sam).await;
    let devices = add_child_of_user(&mut ldap, &leaver, "ExchangeActiveSyncDevices").await;
    let device = add_child_of_user(&mut ldap, &devices, "Phone 1").await;
    // Without the control the DC refuses: the child makes the user a non-leaf.
    let plain = ldap.delete(&leaver).await.expect("plain delete").rc;
    assert_eq!(
        plain, 66,
        "a plain delete of a user with children is refused"
    );

    let plan = roster(fx.repo.path(), &["plan"], &[]);
    assert_eq!(plan.code, 0, "{}", plan.all());
    assert!(
        plan.stdout.contains(&leaver_sam) && plan.stdout.contains("delete"),
        "the plan deletes the leaver:\n{}",
        plan.stdout
    );
    let apply = roster(fx.repo.path(), &["apply", "--auto-approve"], &[]);
    assert_eq!(apply.code, 0, "{}", apply.all());

    for dn in [&leaver, &devices, &device] {
        assert!(
            read(&mut ldap, dn, &["1.1"]).await.is_none(),
            "{dn} is deleted"
        );
    }
    assert!(
        user_entry(&mut ldap, &fx, &keeper).await.is_some(),
        "the repository's user is there"
    );
    let again = roster(fx.repo.path(), &["plan", "--detailed-exitcode"], &[]);
    assert_eq!(again.code, 0, "converged:\n{}", again.all());
}

/// Accounts protected by AdminSDHolder (`adminCount=1`) are never touched: one the
/// repository does not list is not deleted, one it lists is not updated or disabled;
/// the plan lists both with the reason.
#[tokio::test(flavor = "multi_thread")]
async fn admin_count_accounts_are_listed_and_never_touched() {
    let fx = Fixture::new().await;
    let dc = dc();
    let mut ldap = raw().await;
    let listed_sam = format!("ac{}", &fx.token[..8]);
    let stray_sam = format!("as{}", &fx.token[..8]);
    let listed = add_admin_count_user(&mut ldap, &fx.users_ou, "Ada Count", &listed_sam).await;
    let stray = add_admin_count_user(&mut ldap, &fx.users_ou, "Stray Admin", &stray_sam).await;
    let yaml = format!(
        "apps:\n  - name: ad\n    type: active_directory\n    url: {url}\n    base_dn: '{base}'\n    users_ou: '{users}'\n    groups_ou: '{groups}'\n    bind_dn: '{bind}'\n    bind_password: {{ file: bind.pw }}\n    tls: {{ ca_file: '{ca}' }}\n    switches: {{ delete_users: true }}\n\
         users:\n  - username: {listed_sam}\n    email: {listed_sam}@acme.example\n    first_name: Ada\n    last_name: Count\n    department: Changed\n    enabled: false\n\
         groups:\n  - name: g-{token}\n    members: [{listed_sam}]\n\
         policies:\n  - name: p\n    app: ad\n    groups: [g-{token}]\n",
        url = dc.url,
        base = dc.base_dn,
        users = fx.users_ou,
        groups = fx.groups_ou,
        bind = dc.bind_dn,
        ca = dc.ca,
        token = fx.token,
    );
    std::fs::write(fx.repo.path().join("org.yaml"), yaml).unwrap();
    let before_listed = read(&mut ldap, &listed, &["*"]).await.expect("listed user");

    let plan = roster(fx.repo.path(), &["plan", "--format", "json"], &[]);
    assert_eq!(plan.code, 0, "{}", plan.all());
    let v: serde_json::Value = serde_json::from_str(&plan.stdout).expect("json");
    let touched: Vec<&serde_json::Value> = v["changes"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["object"] == "user")
        .collect();
    assert!(touched.is_empty(), "no user change: {touched:?}");
    let text = roster(fx.repo.path(), &["plan"], &[]);
    assert!(text.stdout.contains("Left alone"), "{}", text.stdout);
    assert!(text.stdout.contains(&stray_sam), "{}", text.stdout);
    assert!(text.stdout.contains("AdminSDHolder"), "{}", text.stdout);

    let apply = roster(fx.repo.path(), &["apply", "--auto-approve"], &[]);
    assert_eq!(apply.code, 0, "{}", apply.all());
    assert!(
        read(&mut ldap, &stray, &["1.1"]).await.is_some(),
        "not deleted"
    );
    let after_listed = read(&mut ldap, &listed, &["*"]).await.expect("listed user");
    for a in ["department", "userAccountControl", "givenName", "sn"] {
        assert_eq!(
            attr(&after_listed, a),
            attr(&before_listed, a),
            "{a} unchanged"
        );
    }
}

/// The attribute mapping end to end through the `roster` binary: an app whose
/// `attribute_map` adds a constant, a custom attribute and an office; a user with a
/// `manager`; then a username rename declared with `previous_usernames`, which renames
/// the live account (same objectGUID) instead of re-creating it. Every step converges
/// to an empty plan.
#[tokio::test(flavor = "multi_thread")]
async fn mapped_attributes_managers_and_renames_end_to_end() {
    let fx = Fixture::new().await;
    let dc = dc();
    let t = &fx.token[..6];
    // A username over AD's 20 characters: `{username|truncate:20}` makes its login.
    let boss = format!("bo{t}-of-the-whole-department");
    let boss_sam: String = boss.chars().take(20).collect();
    let emp = format!("em{t}");
    let renamed = format!("jn{t}");
    let write = |emp_name: &str, previous: &str| {
        let yaml = format!(
            "apps:\n  - name: ad\n    type: active_directory\n    url: {url}\n    base_dn: '{base}'\n    users_ou: '{users}'\n    groups_ou: '{groups}'\n    bind_dn: '{bind}'\n    bind_password: {{ file: bind.pw }}\n    tls: {{ ca_file: '{ca}' }}\n    attribute_map:\n      sAMAccountName: '{{username|truncate:20}}'\n      company: Contoso\n      l: '{{attributes.city}}'\n      physicalDeliveryOfficeName: '{{attributes.office}}'\n\
             users:\n  - username: {boss}\n    email: {boss}@acme.example\n    first_name: Bo\n    last_name: Ss\n    attributes: {{ city: Bergen, office: B-1 }}\n  - username: {emp_name}\n    email: {emp}@acme.example\n    first_name: Em\n    last_name: Ployee\n    manager: {boss}\n    attributes: {{ city: Oslo, office: O-2 }}\n{previous}\
             groups:\n  - name: g-{token}\n    members: [{boss}, {emp_name}]\n\
             policies:\n  - name: p\n    app: ad\n    groups: [g-{token}]\n",
            url = dc.url,
            base = dc.base_dn,
            users = fx.users_ou,
            groups = fx.groups_ou,
            bind = dc.bind_dn,
            ca = dc.ca,
            token = fx.token,
        );
        std::fs::write(fx.repo.path().join("org.yaml"), yaml).unwrap();
    };
    write(&emp, "");
    let valid = roster(fx.repo.path(), &["validate"], &[]);
    assert_eq!(valid.code, 0, "{}", valid.all());
    let apply = run(&fx, &["apply", "--auto-approve"]);
    assert_eq!(apply.code, 0, "{}", apply.all());

    let mut ldap = raw().await;
    assert!(user_entry(&mut ldap, &fx, &boss).await.is_none());
    let boss_e = user_entry(&mut ldap, &fx, &boss_sam)
        .await
        .expect("boss created");
    let emp_e = user_entry(&mut ldap, &fx, &emp)
        .await
        .expect("employee created");
    for (e, city, office) in [(&boss_e, "Bergen", "B-1"), (&emp_e, "Oslo", "O-2")] {
        assert_eq!(attr(e, "company"), Some("Contoso"), "{}", e.dn);
        assert_eq!(attr(e, "l"), Some(city), "{}", e.dn);
        assert_eq!(
            attr(e, "physicalDeliveryOfficeName"),
            Some(office),
            "{}",
            e.dn
        );
    }
    assert_eq!(
        attr(&emp_e, "manager").map(str::to_lowercase),
        Some(boss_e.dn.to_lowercase()),
        "the manager is the boss's DN"
    );
    assert_eq!(attr(&boss_e, "manager"), None);
    let again = run(&fx, &["plan", "--detailed-exitcode"]);
    assert_eq!(again.code, 0, "converged:\n{}", again.all());

    // Out of band: the office changed and the manager removed; the plan puts both back.
    modify(
        &mut ldap,
        &emp_e.dn,
        vec![
            ldap3::Mod::Replace(
                "physicalDeliveryOfficeName".to_string(),
                ["Elsewhere".to_string()].into(),
            ),
            ldap3::Mod::Replace("manager".to_string(), Default::default()),
        ],
    )
    .await;
    let drift = run(&fx, &["drift"]);
    assert_eq!(drift.code, 2, "{}", drift.all());
    let apply = run(&fx, &["apply", "--auto-approve"]);
    assert_eq!(apply.code, 0, "{}", apply.all());
    let emp_e = user_entry(&mut ldap, &fx, &emp).await.expect("employee");
    assert_eq!(attr(&emp_e, "physicalDeliveryOfficeName"), Some("O-2"));
    assert_eq!(
        attr(&emp_e, "manager").map(str::to_lowercase),
        Some(boss_e.dn.to_lowercase())
    );

    // The employee's username changes, the old one declared: renamed in place.
    write(&renamed, &format!("    previous_usernames: [{emp}]\n"));
    let plan = run(&fx, &["plan"]);
    assert_eq!(plan.code, 0, "{}", plan.all());
    assert!(
        plan.stdout
            .contains(&format!("~ user {renamed}  login {emp} -> {renamed}"))
            && !plan.stdout.contains("+ user")
            && !plan.stdout.contains("- user")
            && !plan.stdout.contains("membership"),
        "a rename, not a delete and create, and no membership moves:\n{}",
        plan.stdout
    );
    let apply = run(&fx, &["apply", "--auto-approve"]);
    assert_eq!(apply.code, 0, "{}", apply.all());
    let moved = user_entry(&mut ldap, &fx, &renamed).await.expect("renamed");
    assert_eq!(guid(&moved), guid(&emp_e), "the same object");
    assert!(user_entry(&mut ldap, &fx, &emp).await.is_none());
    assert_eq!(
        attr(&moved, "manager").map(str::to_lowercase),
        Some(boss_e.dn.to_lowercase())
    );
    let again = run(&fx, &["plan", "--detailed-exitcode"]);
    assert_eq!(
        again.code,
        0,
        "converged after the rename:\n{}",
        again.all()
    );
}
