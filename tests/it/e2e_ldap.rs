//! End to end for ldap apps against a real OpenLDAP slapd (started by
//! `scripts/slapd.sh` through the test support, with the ppolicy and memberof
//! overlays), driving the `roster` binary. Results are checked with the OpenLDAP
//! command-line tools (`ldapsearch`, `ldapmodify`, `ldapwhoami`), not with roster's
//! reader.

use crate::slapd::*;
use crate::support::{Run, repo, roster};

/// A last name with every character RFC 4514 escapes in a DN and RFC 4515 in a
/// filter; with `user_rdn: cn` it is part of the entry's name.
const ODD: &str = r#"Name, Jr. +"\<>;=#*()"#;
/// The cn ("Odd " + [`ODD`]) as an ldapsearch filter value (RFC 4515: `\ * ( )` escaped).
const ODD_FILTER: &str = r#"Odd Name, Jr. +"\5c<>;=#\2a\28\29"#;

fn people() -> String {
    format!(
        r#"users:
  - username: alice
    email: alice@example.test
    first_name: Alice
    last_name: Smith
    department: Engineering
    job_title: Engineer
    employee_id: "1001"
    password: {{ env: ROSTER_TEST_USER_PW }}
  - username: bob
    email: bob@example.test
    first_name: Bob
    last_name: Jones
    enabled: false
  - username: odd
    email: odd@example.test
    first_name: Odd
    last_name: '{}'
groups:
  - name: staff
    description: Everyone
    members: [alice, bob, odd]
  - name: empty
  - name: 'R&D (core), #1'
    members: [alice]
policies:
  - name: directory
    app: dir
    groups: [staff, empty, 'R&D (core), #1']
"#,
        ODD.replace('\'', "''")
    )
}

fn run(dir: &std::path::Path, args: &[&str]) -> Run {
    let r = roster(dir, args, &env());
    assert!(
        !r.all().contains(USER_PASSWORD) && !r.all().contains(&slapd().password),
        "no password in the output: {}",
        r.all()
    );
    r
}

fn ok(r: &Run) {
    assert_eq!(r.code, 0, "{}", r.all());
}

fn empty_plan(dir: &std::path::Path) {
    let plan = run(dir, &["plan", "--detailed-exitcode"]);
    assert_eq!(plan.code, 0, "the plan is empty:\n{}", plan.all());
}

fn user(tree: &Tree, filter: &str) -> (String, Vec<(String, String)>) {
    let mut found = ldapsearch(
        &tree.people,
        filter,
        &["*", "entryUUID", "pwdAccountLockedTime"],
    );
    assert_eq!(found.len(), 1, "one entry for {filter}: {found:?}");
    found.remove(0)
}

fn group(tree: &Tree, cn_filter: &str) -> (String, Vec<(String, String)>) {
    let mut found = ldapsearch(
        &tree.groups,
        &format!("(cn={cn_filter})"),
        &["*", "entryUUID"],
    );
    assert_eq!(found.len(), 1, "one group for {cn_filter}: {found:?}");
    found.remove(0)
}

#[test]
fn plan_apply_plan_is_empty_and_ldapsearch_sees_the_directory() {
    let tree = Tree::new();
    let app = ldap_app(&tree, "    user_rdn: cn\n");
    let r = repo(&[("apps.yaml", &app), ("people.yaml", &people())]);
    let plan = run(r.path(), &["plan", "--detailed-exitcode"]);
    assert_eq!(plan.code, 2, "{}", plan.all());
    assert!(
        ldapsearch(&tree.people, "(uid=*)", &["uid"]).is_empty(),
        "plan writes nothing"
    );

    ok(&run(r.path(), &["apply", "--auto-approve"]));
    empty_plan(r.path());

    let alice = user(&tree, "(uid=alice)");
    assert_eq!(alice.0, format!("cn=Alice Smith,{}", tree.people));
    assert_eq!(values(&alice, "mail"), ["alice@example.test"]);
    assert_eq!(values(&alice, "givenName"), ["Alice"]);
    assert_eq!(values(&alice, "sn"), ["Smith"]);
    assert_eq!(values(&alice, "departmentNumber"), ["Engineering"]);
    assert_eq!(values(&alice, "title"), ["Engineer"]);
    assert_eq!(values(&alice, "employeeNumber"), ["1001"]);
    assert_eq!(values(&alice, "entryUUID").len(), 1);
    assert!(
        values(&alice, "objectClass")
            .iter()
            .any(|c| c == "inetOrgPerson"),
        "{alice:?}"
    );
    assert!(values(&alice, "pwdAccountLockedTime").is_empty());
    // The password was set by the Password Modify operation: stored hashed.
    let stored = values(&alice, "userPassword");
    assert_eq!(stored.len(), 1);
    assert!(
        stored[0].starts_with('{') && !stored[0].contains(USER_PASSWORD),
        "{stored:?}"
    );
    // ... and the user can bind with it over StartTLS.
    assert!(
        can_bind(&alice.0, USER_PASSWORD),
        "alice binds with her password"
    );
    assert!(!can_bind(&alice.0, "wrong"), "a wrong password is refused");

    let bob = user(&tree, "(uid=bob)");
    assert_eq!(
        values(&bob, "pwdAccountLockedTime"),
        ["000001010000Z"],
        "bob is disabled"
    );

    let odd = user(&tree, &format!("(cn={ODD_FILTER})"));
    assert_eq!(values(&odd, "uid"), ["odd"]);
    assert_eq!(values(&odd, "sn"), [ODD]);
    // The RDN value is escaped (RFC 4514): the DN is one RDN under people, and
    // ldapsearch finds the entry by it as a base.
    assert!(odd.0.ends_with(&format!(",{}", tree.people)), "{}", odd.0);
    let by_dn = ldapsearch_base(&odd.0);
    assert_eq!(by_dn.len(), 1, "{}", odd.0);
    assert_eq!(values(&by_dn[0], "cn"), [format!("Odd {ODD}")]);

    let staff = group(&tree, "staff");
    assert_eq!(values(&staff, "description"), ["Everyone"]);
    let mut members = values(&staff, "member");
    members.sort();
    let mut want = vec![alice.0.clone(), bob.0.clone(), odd.0.clone()];
    want.sort();
    assert_eq!(members.len(), 3, "{members:?}");
    for m in &want {
        assert!(
            members.iter().any(|x| x.eq_ignore_ascii_case(m)),
            "{m} in {members:?}"
        );
    }
    // groupOfNames needs a member: the empty group holds the placeholder only.
    let empty = group(&tree, "empty");
    assert_eq!(values(&empty, "member"), [""], "{empty:?}");
    let rnd = group(&tree, "R&D \\28core\\29, #1");
    assert_eq!(values(&rnd, "member"), vec![alice.0.clone()]);
    assert_eq!(values(&rnd, "cn"), ["R&D (core), #1"]);

    // A member leaves the special group, the empty group gets one: still converges.
    let people2 = people()
        .replace("  - name: empty\n", "  - name: empty\n    members: [bob]\n")
        .replace("    members: [alice]\n", "    members: []\n");
    std::fs::write(r.path().join("people.yaml"), people2).unwrap();
    ok(&run(r.path(), &["apply", "--auto-approve"]));
    empty_plan(r.path());
    assert_eq!(
        values(&group(&tree, "empty"), "member"),
        vec![bob.0.clone()]
    );
    assert_eq!(
        values(&group(&tree, "R&D \\28core\\29, #1"), "member"),
        [""]
    );
}

#[test]
fn changes_made_by_hand_are_drift_and_apply_reverts_them() {
    let tree = Tree::new();
    let r = repo(&[
        ("apps.yaml", &ldap_app(&tree, "")),
        ("people.yaml", &people()),
    ]);
    ok(&run(r.path(), &["apply", "--auto-approve"]));
    empty_plan(r.path());
    let alice = user(&tree, "(uid=alice)").0;
    let bob = user(&tree, "(uid=bob)").0;
    let staff = group(&tree, "staff").0;
    ldapmodify(&format!(
        "dn: {alice}\nchangetype: modify\nreplace: title\ntitle: Boss\n\n\
         dn: {bob}\nchangetype: modify\ndelete: pwdAccountLockedTime\n\n\
         dn: {staff}\nchangetype: modify\ndelete: member\nmember: {alice}\n\n\
         dn: uid=intruder,{people}\nchangetype: add\nobjectClass: inetOrgPerson\nuid: intruder\ncn: In Truder\nsn: Truder\nmail: intruder@example.test\n",
        people = tree.people
    ));
    let drift = run(r.path(), &["drift"]);
    assert_eq!(drift.code, 2, "{}", drift.all());
    for what in ["alice", "Boss", "bob", "staff", "intruder"] {
        assert!(
            drift.stdout.contains(what),
            "drift names {what}: {}",
            drift.stdout
        );
    }
    ok(&run(r.path(), &["apply", "--auto-approve"]));
    empty_plan(r.path());
    assert_eq!(values(&user(&tree, "(uid=alice)"), "title"), ["Engineer"]);
    assert_eq!(
        values(&user(&tree, "(uid=bob)"), "pwdAccountLockedTime"),
        ["000001010000Z"]
    );
    assert!(values(&group(&tree, "staff"), "member").contains(&alice));
    // Not in the repository: disabled (delete_users is off by default), not deleted.
    assert_eq!(
        values(&user(&tree, "(uid=intruder)"), "pwdAccountLockedTime"),
        ["000001010000Z"]
    );
}

#[test]
fn import_then_plan_is_empty() {
    let tree = Tree::new();
    let p = &tree.people;
    let g = &tree.groups;
    ldapmodify(&format!(
        "dn: uid=ann,{p}\nchangetype: add\nobjectClass: inetOrgPerson\nuid: ann\ncn: Ann Lee\nsn: Lee\ngivenName: Ann\nmail: ann@example.test\ndisplayName: Ann Lee\n\n\
         dn: uid=ben,{p}\nchangetype: add\nobjectClass: inetOrgPerson\nuid: ben\ncn: Ben Ray\nsn: Ray\ngivenName: Ben\nmail: ben@example.test\ndisplayName: Ben Ray\n\n\
         dn: cn=sales,{g}\nchangetype: add\nobjectClass: groupOfNames\ncn: sales\nmember: uid=ann,{p}\nmember: uid=ben,{p}\n\n\
         dn: cn=nobody,{g}\nchangetype: add\nobjectClass: groupOfNames\ncn: nobody\nmember:\n"
    ));
    let r = repo(&[("apps.yaml", &ldap_app(&tree, ""))]);
    ok(&run(r.path(), &["import", "--app", "dir"]));
    let users = std::fs::read_to_string(r.path().join("dir-users.yaml")).unwrap();
    assert!(
        users.contains("username: ann") && users.contains("ben@example.test"),
        "{users}"
    );
    let groups = std::fs::read_to_string(r.path().join("dir-groups.yaml")).unwrap();
    assert!(
        groups.contains("sales") && groups.contains("nobody"),
        "{groups}"
    );
    ok(&run(r.path(), &["validate"]));
    empty_plan(r.path());
}

#[test]
fn the_deletion_guard_and_ignore_hold() {
    let tree = Tree::new();
    let p = &tree.people;
    let mut ldif = String::new();
    for u in ["old1", "old2", "keep-me"] {
        ldif.push_str(&format!(
            "dn: uid={u},{p}\nchangetype: add\nobjectClass: inetOrgPerson\nuid: {u}\ncn: {u}\nsn: {u}\nmail: {u}@example.test\n\n"
        ));
    }
    ldapmodify(&ldif);
    let app = ldap_app(
        &tree,
        "    switches: { delete_users: true }\n    max_deletes: 1\n    ignore: ['keep-*']\n",
    );
    let r = repo(&[("apps.yaml", &app), ("people.yaml", &people())]);
    let plan = run(r.path(), &["plan"]);
    ok(&plan);
    assert!(plan.all().contains("DELETION GUARD"), "{}", plan.all());
    assert!(!plan.stdout.contains("keep-me"), "ignored: {}", plan.stdout);
    let refused = run(r.path(), &["apply", "--auto-approve"]);
    assert_eq!(refused.code, 1, "{}", refused.all());
    assert!(
        refused.stderr.contains("--allow-deletes 2"),
        "{}",
        refused.all()
    );
    assert_eq!(
        ldapsearch(p, "(uid=old*)", &["uid"]).len(),
        2,
        "nothing deleted"
    );
    assert!(
        ldapsearch(p, "(uid=alice)", &["uid"]).is_empty(),
        "nothing written"
    );

    ok(&run(
        r.path(),
        &["apply", "--auto-approve", "--allow-deletes", "2"],
    ));
    assert!(ldapsearch(p, "(uid=old*)", &["uid"]).is_empty(), "deleted");
    let keep = user(&tree, "(uid=keep-me)");
    assert!(
        values(&keep, "pwdAccountLockedTime").is_empty(),
        "ignored: untouched"
    );
    empty_plan(r.path());
}

#[test]
fn posix_groups_hold_logins_and_users_get_numbers() {
    let tree = Tree::new();
    let app = ldap_app(
        &tree,
        "    group_object_class: posixGroup\n    posix: { uid_number_start: 5000, gid_number: 5000, login_shell: /bin/bash }\n",
    );
    let r = repo(&[("apps.yaml", &app), ("people.yaml", &people())]);
    ok(&run(r.path(), &["apply", "--auto-approve"]));
    empty_plan(r.path());
    let alice = user(&tree, "(uid=alice)");
    assert!(
        values(&alice, "objectClass")
            .iter()
            .any(|c| c == "posixAccount")
    );
    assert_eq!(values(&alice, "homeDirectory"), ["/home/alice"]);
    assert_eq!(values(&alice, "loginShell"), ["/bin/bash"]);
    let numbers: Vec<u32> = ldapsearch(&tree.people, "(uid=*)", &["uidNumber"])
        .iter()
        .map(|e| values(e, "uidNumber")[0].parse().unwrap())
        .collect();
    assert_eq!(numbers.len(), 3);
    assert!(numbers.iter().all(|n| *n >= 5000), "{numbers:?}");
    let mut distinct = numbers.clone();
    distinct.sort();
    distinct.dedup();
    assert_eq!(distinct.len(), 3, "{numbers:?}");
    let staff = group(&tree, "staff");
    let mut members = values(&staff, "memberUid");
    members.sort();
    assert_eq!(members, ["alice", "bob", "odd"]);
    assert!(values(&group(&tree, "empty"), "memberUid").is_empty());
    assert!(!values(&staff, "gidNumber").is_empty());
}

#[test]
fn group_of_unique_names_holds_unique_members_and_an_empty_group_converges() {
    let tree = Tree::new();
    let app = ldap_app(&tree, "    group_object_class: groupOfUniqueNames\n");
    let r = repo(&[("apps.yaml", &app), ("people.yaml", &people())]);
    ok(&run(r.path(), &["apply", "--auto-approve"]));
    empty_plan(r.path());
    let alice = user(&tree, "(uid=alice)");
    let staff = group(&tree, "staff");
    assert!(
        values(&staff, "objectClass")
            .iter()
            .any(|c| c.eq_ignore_ascii_case("groupOfUniqueNames")),
        "{staff:?}"
    );
    assert!(values(&staff, "member").is_empty(), "{staff:?}");
    let members = values(&staff, "uniqueMember");
    assert_eq!(members.len(), 3, "{members:?}");
    assert!(
        members.iter().any(|m| m.eq_ignore_ascii_case(&alice.0)),
        "{members:?}"
    );
    // uniqueMember is required too (RFC 4519): the empty group holds the placeholder.
    assert_eq!(values(&group(&tree, "empty"), "uniqueMember"), [""]);
    // A member removed by hand is drift, and apply puts it back.
    ldapmodify(&format!(
        "dn: {}\nchangetype: modify\ndelete: uniqueMember\nuniqueMember: {}\n",
        staff.0, alice.0
    ));
    let drift = run(r.path(), &["drift"]);
    assert_eq!(drift.code, 2, "{}", drift.all());
    assert!(drift.stdout.contains("alice"), "{}", drift.stdout);
    ok(&run(r.path(), &["apply", "--auto-approve"]));
    empty_plan(r.path());
    assert_eq!(values(&group(&tree, "staff"), "uniqueMember").len(), 3);
}

#[test]
fn settings_errors_are_positioned() {
    let app = "apps:\n  - name: dir\n    type: ldap\n    url: ldap://ldap.example.test\n    starttls: false\n    base_dn: dc=example,dc=test\n    users_ou: ou=people,dc=other\n    groups_ou: ou=groups,dc=example,dc=test\n    bind_dn: cn=admin,dc=example,dc=test\n    bind_password: { env: X }\n    group_object_class: groupOfCats\n    posix: { gid_number: 1 }\n";
    let r = repo(&[("apps.yaml", app)]);
    let v = roster(r.path(), &["validate"], &[]);
    assert_eq!(v.code, 1, "{}", v.all());
    for want in [
        "apps.yaml:5:",
        "clear text",
        "apps.yaml:7:",
        "must lie under base_dn",
        "apps.yaml:11:",
        "unknown group_object_class `groupOfCats`",
        "uid_number_start",
    ] {
        assert!(v.all().contains(want), "{want}: {}", v.all());
    }
}

#[test]
fn passwords_never_travel_without_tls() {
    let tree = Tree::new();
    // Plain LDAP is accepted for loopback only; reads and writes work, passwords do not.
    let app = ldap_app(&tree, "    starttls: false\n");
    let r = repo(&[("apps.yaml", &app), ("people.yaml", &people())]);
    let apply = run(r.path(), &["apply", "--auto-approve"]);
    assert_ne!(apply.code, 0, "{}", apply.all());
    assert!(
        apply
            .all()
            .contains("refusing to send the password of user alice"),
        "{}",
        apply.all()
    );
    assert!(
        ldapsearch(&tree.people, "(uid=alice)", &["uid"]).is_empty(),
        "nothing written for alice"
    );
    assert_eq!(
        ldapsearch(&tree.people, "(uid=bob)", &["uid"]).len(),
        1,
        "bob has no password: created"
    );
}

#[test]
fn doctor_reports_what_the_server_offers() {
    let tree = Tree::new();
    let r = repo(&[("apps.yaml", &ldap_app(&tree, ""))]);
    let doctor = run(r.path(), &["doctor"]);
    assert_eq!(doctor.code, 0, "{}", doctor.all());
    for want in ["app dir (ldap): ok", "paged results", "password modify"] {
        assert!(doctor.stdout.contains(want), "{want}: {}", doctor.stdout);
    }
    let bad = ldap_app(&tree, "").replace(&tree.people, "ou=missing,dc=example,dc=test");
    let r = repo(&[("apps.yaml", &bad)]);
    let doctor = run(r.path(), &["doctor"]);
    assert_eq!(doctor.code, 1, "{}", doctor.all());
    assert!(
        doctor
            .stdout
            .contains("ou=missing,dc=example,dc=test does not exist"),
        "{}",
        doctor.stdout
    );
}

#[test]
fn import_fills_a_missing_display_name_and_says_so() {
    let tree = Tree::new();
    let p = &tree.people;
    // inetOrgPerson does not require displayName: many directories have none.
    ldapmodify(&format!(
        "dn: uid=cat,{p}\nchangetype: add\nobjectClass: inetOrgPerson\nuid: cat\ncn: Cat Wu\nsn: Wu\ngivenName: Cat\nmail: cat@example.test\n"
    ));
    let r = repo(&[("apps.yaml", &ldap_app(&tree, ""))]);
    let import = run(r.path(), &["import", "--app", "dir"]);
    ok(&import);
    assert!(
        import.all().contains("user cat has no display_name live"),
        "{}",
        import.all()
    );
    // The repository's display name (first and last name) is what the next plan writes.
    let plan = run(r.path(), &["plan", "--detailed-exitcode"]);
    assert_eq!(plan.code, 2, "{}", plan.all());
    assert!(plan.stdout.contains("Cat Wu"), "{}", plan.stdout);
    ok(&run(r.path(), &["apply", "--auto-approve"]));
    empty_plan(r.path());
    assert_eq!(values(&user(&tree, "(uid=cat)"), "displayName"), ["Cat Wu"]);
}
