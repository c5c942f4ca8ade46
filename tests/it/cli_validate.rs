//! `roster validate` end to end: exit code, stdout and stderr snapshotted for each
//! class of problem, the acceptance cases of the desired-state issue (five mistakes
//! in three files, a syntax error's line, `--ref HEAD~1`), and the examples.

use std::path::Path;
use std::process::Command;

const ROSTER: &str = env!("CARGO_BIN_EXE_roster");

/// Run roster with `-C dir` and render exit code, stdout and stderr for a snapshot.
fn run(dir: &Path, args: &[&str]) -> String {
    let out = Command::new(ROSTER)
        .arg("-C")
        .arg(dir)
        .args(args)
        .env_remove("RUST_LOG")
        .output()
        .expect("run roster");
    let text = format!(
        "exit: {}\n--- stdout\n{}--- stderr\n{}",
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    text.replace(&dir.display().to_string(), "[DIR]")
}

/// A temporary repository holding `files`.
fn repo(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    for (path, text) in files {
        let full = dir.path().join(path);
        std::fs::create_dir_all(full.parent().expect("parent")).expect("mkdir");
        std::fs::write(full, text).expect("write");
    }
    dir
}

fn validate(files: &[(&str, &str)]) -> String {
    let dir = repo(files);
    run(dir.path(), &["validate"])
}

const APPS: &str = "\
apps:
  - name: office365
    type: office365
    sandbox: .roster/sandbox-tenant.json
    authorized_domains: [example.com]
";

const USERS: &str = "\
users:
  - username: alice
    email: alice@example.com
    first_name: Alice
    last_name: Smith
  - username: bob
    email: bob@example.com
    first_name: Bob
    last_name: Jones
";

#[test]
fn valid_repository() {
    let groups = "groups:\n  - name: staff\n    members: [alice, bob]\npolicies:\n  - name: p\n    app: office365\n    groups: [staff]\n";
    insta::assert_snapshot!(validate(&[
        ("apps.yaml", APPS),
        ("users.yaml", USERS),
        ("groups.yaml", groups)
    ]));
}

#[test]
fn yaml_syntax_error_points_at_its_line() {
    let broken = "users:\n  - username: carol\n    email: carol@example.com\n   first_name: Carol\n    last_name: Diaz\n";
    let tabs = "users:\n  - username: dave\n\temail: dave@example.com\n";
    let out = validate(&[
        ("users.yaml", USERS),
        ("broken.yaml", broken),
        ("tabs.yaml", tabs),
    ]);
    assert!(out.contains("broken.yaml:4:"), "{out}");
    assert!(out.contains("tabs.yaml:3:1:"), "{out}");
    insta::assert_snapshot!(out);
}

#[test]
fn unknown_keys_suggest_the_closest() {
    let f = "users:\n  - username: carol\n    emial: carol@example.com\n    first_name: Carol\n    last_name: Diaz\n    favourite_colour: blue\nuser: []\n";
    insta::assert_snapshot!(validate(&[("users.yaml", f)]));
}

#[test]
fn wrong_types_and_missing_fields() {
    let f = "users:\n  - username: carol\n    email: carol@example.com\n    first_name: Carol\n    enabled: sometimes\n    employee_id: 4711\n    licenses: ENTERPRISEPACK\ngroups:\n  - description: no name\n";
    insta::assert_snapshot!(validate(&[("users.yaml", f)]));
}

#[test]
fn duplicates_name_both_locations() {
    let more = "users:\n  - username: alice\n    email: alice2@example.com\n    first_name: Alice\n    last_name: Again\n  - username: carol\n    email: BOB@example.com\n    first_name: Carol\n    last_name: Diaz\n";
    insta::assert_snapshot!(validate(&[("a.yaml", USERS), ("b/more.yaml", more)]));
}

#[test]
fn dangling_references() {
    let f = "groups:\n  - name: staff\n    members: [alice, alicia, group:contractors]\nmemberships:\n  - group: staf\n    users: [bob]\npolicies:\n  - name: p\n    app: office356\n    groups: [staff, admins]\n";
    insta::assert_snapshot!(validate(&[
        ("apps.yaml", APPS),
        ("users.yaml", USERS),
        ("groups.yaml", f)
    ]));
}

#[test]
fn membership_cycles_are_named() {
    let f = "groups:\n  - name: a\n    members: [group:b]\n  - name: b\n    members: [group:c]\n  - name: c\nmemberships:\n  - group: c\n    users: [group:a]\n";
    insta::assert_snapshot!(validate(&[("groups.yaml", f)]));
}

#[test]
fn invalid_values() {
    let f = "users:\n  - username: carol\n    email: carol-at-example.com\n    first_name: Carol\n    last_name: Diaz\n    usage_location: usa\n    licenses: [ENTERPRISEPACK, Office 365 E3]\ngroups:\n  - name: g\n    members: [carol]\nmemberships:\n  - group: g\n    users: [carol]\n    expires: 2026-13-01\n  - group: g\n    users: [carol]\n    expires: next week\n";
    insta::assert_snapshot!(validate(&[("users.yaml", f)]));
}

#[test]
fn literal_secrets_are_refused_without_echo() {
    let f = "apps:\n  - name: ad\n    type: active_directory\n    url: ldaps://dc1.corp.example:636\n    base_dn: DC=corp,DC=example\n    users_ou: OU=Users,DC=corp,DC=example\n    groups_ou: OU=Groups,DC=corp,DC=example\n    bind_dn: CN=svc,DC=corp,DC=example\n    bind_password: Hunter2-Secret!\nusers:\n  - username: carol\n    email: carol@example.com\n    first_name: Carol\n    last_name: Diaz\n    password: \"Winter2026!\"\n";
    let out = validate(&[("apps.yaml", f)]);
    assert!(
        !out.contains("Hunter2-Secret!") && !out.contains("Winter2026!"),
        "{out}"
    );
    insta::assert_snapshot!(out);
}

#[test]
fn app_types_and_their_keys() {
    let f = "apps:\n  - name: a\n    type: azure_ad\n  - name: b\n    type: office365\n    sandbox: s.json\n    users_ou: OU=Users,DC=x,DC=y\n  - name: c\n    type: active_directory\n    url: http://dc1\n    base_dn: DC=x,DC=y\n    users_ou: OU=Users,DC=other\n    groups_ou: OU=Groups,DC=x,DC=y\n    bind_dn: CN=svc,DC=x,DC=y\n    bind_password: { env: AD_PW }\n    tenant: contoso.onmicrosoft.com\n  - name: d\n    type: office365\n";
    insta::assert_snapshot!(validate(&[("apps.yaml", f)]));
}

#[test]
fn user_outside_authorized_domains_is_a_warning() {
    let users = USERS.replace("bob@example.com", "bob@partner.example");
    let groups = "groups:\n  - name: staff\n    members: [alice, bob]\npolicies:\n  - name: p\n    app: office365\n    groups: [staff]\n";
    let out = validate(&[
        ("apps.yaml", APPS),
        ("users.yaml", &users),
        ("groups.yaml", groups),
    ]);
    assert!(out.starts_with("exit: 0\n"), "{out}");
    insta::assert_snapshot!(out);
}

#[test]
fn hostile_files_get_clear_errors() {
    let dir = repo(&[("users.yaml", USERS)]);
    let d = dir.path();
    std::fs::write(d.join("binary.yaml"), [0x7f, b'E', b'L', b'F', 0, 0, 1]).expect("write");
    std::fs::write(
        d.join("latin1.yml"),
        b"users:\n  - username: j\xe9r\xf4me\n",
    )
    .expect("write");
    let mut bomb = String::from("a: &a [x, x, x, x, x, x, x, x, x, x]\n");
    for (i, prev) in ["b", "c", "d", "e", "f", "g", "h", "i"]
        .iter()
        .zip(["a", "b", "c", "d", "e", "f", "g", "h"])
    {
        bomb.push_str(&format!("{i}: &{i} [*{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}]\n"));
    }
    std::fs::write(d.join("bomb.yaml"), bomb).expect("write");
    std::fs::write(
        d.join("deep.yaml"),
        format!("users: {}{}", "[".repeat(5000), "]".repeat(5000)),
    )
    .expect("write");
    let big = vec![b'#'; 16 * 1024 * 1024 + 1];
    std::fs::write(d.join("huge.yaml"), big).expect("write");
    let start = std::time::Instant::now();
    let out = run(d, &["validate"]);
    eprintln!("hostile files validated in {:?}", start.elapsed());
    insta::assert_snapshot!(out);
}

#[test]
fn five_mistakes_in_three_files() {
    let apps = "apps:\n  - name: office365\n    type: office365\n    sandbox: .roster/sandbox-tenant.json\n    authorized_domains: [example.com]\n    delete_user: true\n";
    let users = "users:\n  - username: alice\n    email: alice@example.com\n    first_name: Alice\n    last_name: Smith\n  - username: bob\n    email: bob@example\n    first_name: Bob\n    last_name: Jones\n  - username: alice\n    email: alice.smith@example.com\n    first_name: Alice\n    last_name: Smith\n";
    let groups = "groups:\n  - name: staff\n    members: [alice, bob, carol]\nmemberships:\n  - group: staff\n    users: [bob]\n    expires: 2026-02-30\n";
    let out = validate(&[
        ("apps.yaml", apps),
        ("people/users.yaml", users),
        ("groups.yaml", groups),
    ]);
    let errors: Vec<&str> = out.lines().filter(|l| l.contains(": error: ")).collect();
    assert_eq!(errors.len(), 5, "{out}");
    assert!(out.starts_with("exit: 1\n"));
    insta::assert_snapshot!(out);
}

#[test]
fn json_format_lists_diagnostics() {
    let dir = repo(&[("users.yaml", "users:\n  - username: x\n")]);
    let out = Command::new(ROSTER)
        .arg("-C")
        .arg(dir.path())
        .args(["validate", "--format", "json"])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(v["valid"], false);
    let diags = v["diagnostics"].as_array().expect("array");
    assert_eq!(diags.len(), 3);
    assert_eq!(diags[0]["file"], "users.yaml");
    assert_eq!(diags[0]["line"], 2);
    assert_eq!(diags[0]["severity"], "error");
}

fn commit_all(repo: &git2::Repository, message: &str, secs: i64) {
    let mut index = repo.index().expect("index");
    index
        .add_all(["*"], git2::IndexAddOption::DEFAULT, None)
        .expect("add");
    index.update_all(["*"], None).expect("update");
    index.write().expect("write index");
    let tree = repo
        .find_tree(index.write_tree().expect("tree"))
        .expect("find tree");
    let sig =
        git2::Signature::new("Test", "test@example.com", &git2::Time::new(secs, 0)).expect("sig");
    let parent = repo.head().ok().and_then(|h| h.peel_to_commit().ok());
    let parents: Vec<&git2::Commit> = parent.iter().collect();
    repo.commit(Some("HEAD"), &sig, &sig, message, &tree, &parents)
        .expect("commit");
}

#[test]
fn validate_ref_reads_the_older_commit() {
    let dir = repo(&[("apps.yaml", APPS), ("users.yaml", USERS)]);
    let d = dir.path();
    let git = git2::Repository::init(d).expect("init");
    commit_all(&git, "valid", 1_700_000_000);
    // The next commit breaks the repository...
    std::fs::write(
        d.join("users.yaml"),
        USERS.replace("alice@example.com", "alice"),
    )
    .expect("write");
    commit_all(&git, "broken", 1_700_000_100);
    // ...and the working tree holds yet another, unrelated mistake.
    std::fs::write(d.join("extra.yaml"), "groups:\n  - nme: x\n").expect("write");

    let head_1 = run(d, &["validate", "--ref", "HEAD~1"]);
    assert!(head_1.starts_with("exit: 0\n"), "{head_1}");
    let head = run(d, &["validate", "--ref", "HEAD"]);
    assert!(
        head.starts_with("exit: 1\n") && !head.contains("extra.yaml"),
        "{head}"
    );
    let worktree = run(d, &["validate"]);
    assert!(
        worktree.contains("extra.yaml") && worktree.contains("users.yaml"),
        "{worktree}"
    );
    let bad = run(d, &["validate", "--ref", "nope~3"]);
    insta::assert_snapshot!(format!("{head_1}\n{head}\n{bad}"));
}

#[test]
fn acme_example_is_valid_with_one_warning() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/acme");
    let out = run(&dir, &["validate"]);
    assert!(out.starts_with("exit: 0\n"), "{out}");
    assert_eq!(out.matches(": warning: ").count(), 1, "{out}");
    insta::assert_snapshot!(out);
}

#[test]
fn quickstart_example_is_valid_without_warnings() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/quickstart");
    let out = run(&dir, &["validate"]);
    insta::assert_snapshot!(out);
}

const AD_AND_O365: &str = "\
apps:
  - name: corp
    type: active_directory
    url: ldaps://dc1.corp.example:636
    base_dn: DC=corp,DC=example
    users_ou: OU=Users,DC=corp,DC=example
    groups_ou: OU=Groups,DC=corp,DC=example
    bind_dn: CN=svc,DC=corp,DC=example
    bind_password: { env: AD_PW }
  - name: o365
    type: office365
    sandbox: .roster/sandbox-tenant.json
    authorized_domains: [example.com]
";

/// Users and a group whose values are over the directories' limits: a username of
/// 21 characters (AD sAMAccountName: 20), an employee_id of 17 (Graph employeeId:
/// 16), a group name of 65 (AD cn: 64).
fn over_the_limits(policies: &str) -> Vec<(&'static str, String)> {
    let users = format!(
        "users:\n  - username: {long_name}\n    email: long@example.com\n    first_name: Lon\n    last_name: Gname\n  - username: carol\n    email: carol@example.com\n    first_name: Carol\n    last_name: Diaz\n    employee_id: \"{long_id}\"\n",
        long_name = "abcdefghijklmnopqrstu",
        long_id = "12345678901234567",
    );
    let groups = format!(
        "groups:\n  - name: staff\n    members: [abcdefghijklmnopqrstu, carol]\n  - name: {long_group}\n    members: [carol]\n{policies}",
        long_group = "g".repeat(65),
    );
    vec![
        ("apps.yaml", AD_AND_O365.to_string()),
        ("users.yaml", users),
        ("groups.yaml", groups),
    ]
}

fn validate_owned(files: &[(&'static str, String)]) -> String {
    let borrowed: Vec<(&str, &str)> = files.iter().map(|(p, t)| (*p, t.as_str())).collect();
    validate(&borrowed)
}

#[test]
fn directory_limits_of_bound_values_are_errors_at_their_positions() {
    let policies = format!(
        "policies:\n  - name: ad\n    app: corp\n    groups: [staff, {}]\n  - name: cloud\n    app: o365\n    groups: [staff]\n",
        "g".repeat(65)
    );
    let out = validate_owned(&over_the_limits(&policies));
    assert!(out.starts_with("exit: 1\n"), "{out}");
    assert!(
        out.contains("users.yaml:2:15: error: username `abcdefghijklmnopqrstu` is 21 characters; active_directory app `corp` allows at most 20 (sAMAccountName)"),
        "{out}"
    );
    assert!(
        out.contains("users.yaml:10:18: error: employee_id `12345678901234567` is 17 characters; office365 app `o365` allows at most 16 (employeeId)"),
        "{out}"
    );
    assert!(
        out.contains("groups.yaml:4:11: error: group name `gggggggggggggggggggggggggggggggg…` is 65 characters; active_directory app `corp` allows at most 64 (cn)"),
        "{out}"
    );
    assert_eq!(out.matches(": error: ").count(), 3, "{out}");
    insta::assert_snapshot!(out);
}

#[test]
fn directory_limits_hold_only_for_apps_of_that_type() {
    // The same values, bound only where they fit: the long username and the long
    // group to Office 365 (no 20 or 64 limit on them there), carol's employee_id to
    // Active Directory only through a group that also holds nobody else.
    let policies = format!(
        "  - name: ad-only\n    members: [carol]\npolicies:\n  - name: cloud\n    app: o365\n    groups: [{}]\n  - name: ad\n    app: corp\n    groups: [ad-only]\n",
        "g".repeat(65)
    );
    let mut files = over_the_limits(&policies);
    // carol is bound to o365 through the long group too; her employee_id would not
    // fit there, so she leaves that group.
    files[2].1 = files[2].1.replace(
        &format!("  - name: {}\n    members: [carol]\n", "g".repeat(65)),
        &format!(
            "  - name: {}\n    members: [abcdefghijklmnopqrstu]\n",
            "g".repeat(65)
        ),
    );
    let out = validate_owned(&files);
    assert!(out.starts_with("exit: 0\n"), "{out}");
    assert!(!out.contains(": error: "), "{out}");
    insta::assert_snapshot!(out);
}
