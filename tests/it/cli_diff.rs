//! `roster diff REV_A REV_B` end to end, against a Git repository built in the test
//! with deterministic commits: the human, JSON and Markdown output list exactly the
//! objects that changed between the two commits, and nothing else.

use std::path::Path;
use std::process::Command;

const ROSTER: &str = env!("CARGO_BIN_EXE_roster");

fn roster(dir: &Path, args: &[&str]) -> (i32, String, String) {
    let out = Command::new(ROSTER)
        .arg("-C")
        .arg(dir)
        .args(args)
        .env_remove("RUST_LOG")
        .output()
        .expect("run roster");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn snapshot_text(r: (i32, String, String)) -> String {
    format!("exit: {}\n--- stdout\n{}--- stderr\n{}", r.0, r.1, r.2)
}

fn write(dir: &Path, files: &[(&str, &str)]) {
    for (path, text) in files {
        let full = dir.join(path);
        std::fs::create_dir_all(full.parent().expect("parent")).expect("mkdir");
        std::fs::write(full, text).expect("write");
    }
}

/// Commit the working tree (additions and deletions) with a fixed time, so that
/// commit ids, and therefore the snapshots, are the same on every run.
fn commit_all(repo: &git2::Repository, message: &str, secs: i64) -> String {
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
        .expect("commit")
        .to_string()
}

const APPS_V1: &str = "\
apps:
  - name: office365
    type: office365
    sandbox: .roster/sandbox-tenant.json
    authorized_domains: [example.com]
  - name: corp-ad
    type: active_directory
    url: ldaps://dc1.corp.example:636
    base_dn: DC=corp,DC=example
    users_ou: OU=Users,DC=corp,DC=example
    groups_ou: OU=Groups,DC=corp,DC=example
    bind_dn: CN=svc,DC=corp,DC=example
    bind_password: { env: AD_PASSWORD }
";

const USERS_V1: &str = "\
users:
  - username: alice
    email: alice@example.com
    first_name: Alice
    last_name: Smith
    department: Sales
    password: { env: ALICE_PW }
  - username: bob
    email: bob@example.com
    first_name: Bob
    last_name: Jones
  - username: carol
    email: carol@example.com
    first_name: Carol
    last_name: Diaz
  - username: untouched
    email: untouched@example.com
    first_name: Un
    last_name: Touched
";

const GROUPS_V1: &str = "\
groups:
  - name: sales
    members: [alice, bob]
  - name: engineering
    members: [carol]
  - name: office365-users
    members: [group:sales]
  - name: legacy
    description: To be removed
policies:
  - name: o365
    app: office365
    groups: [office365-users]
  - name: ad
    app: corp-ad
    groups: [engineering]
";

/// The second commit: alice changes department and password reference, bob leaves,
/// dave joins sales through a membership file (time-bound), engineering gains
/// Office 365 through nesting, legacy is removed, the AD app's switches change.
const USERS_V2: &str = "\
users:
  - username: alice
    email: alice@example.com
    first_name: Alice
    last_name: Smith
    department: Marketing
    password: { file: secrets/alice }
  - username: carol
    email: carol@example.com
    first_name: Carol
    last_name: Diaz
  - username: dave
    email: dave@example.com
    first_name: Dave
    last_name: Brown
    licenses: [ENTERPRISEPACK]
  - username: untouched
    email: untouched@example.com
    first_name: Un
    last_name: Touched
";

const GROUPS_V2: &str = "\
groups:
  - name: sales
    members: [alice]
  - name: engineering
    members: [carol]
  - name: office365-users
    members: [group:sales, group:engineering]
policies:
  - name: o365
    app: office365
    groups: [office365-users]
  - name: ad
    app: corp-ad
    groups: [engineering]
";

const MEMBERSHIPS_V2: &str = "\
memberships:
  - group: sales
    users: [dave]
    expires: 2030-06-30
";

fn two_commits() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    let repo = git2::Repository::init(d).expect("init");
    write(
        d,
        &[
            ("apps.yaml", APPS_V1),
            ("users.yaml", USERS_V1),
            ("groups.yaml", GROUPS_V1),
        ],
    );
    commit_all(&repo, "v1", 1_700_000_000);
    write(
        d,
        &[
            (
                "apps.yaml",
                &APPS_V1.replace(
                    "bind_password: { env: AD_PASSWORD }",
                    "bind_password: { env: AD_PASSWORD }\n    switches: { delete_users: true }",
                ),
            ),
            ("users.yaml", USERS_V2),
            ("groups.yaml", GROUPS_V2),
            ("memberships/sales.yaml", MEMBERSHIPS_V2),
        ],
    );
    commit_all(&repo, "v2", 1_700_000_100);
    // The working tree differs again; diff must ignore it.
    write(d, &[("users.yaml", "users: [oops\n")]);
    dir
}

#[test]
fn json_lists_exactly_the_changed_objects() {
    let dir = two_commits();
    let (code, out, err) = roster(dir.path(), &["diff", "HEAD~1", "HEAD", "--format", "json"]);
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).expect("json");
    let objects: Vec<String> = v["objects"]
        .as_array()
        .expect("objects")
        .iter()
        .map(|o| {
            format!(
                "{} {} {}",
                o["change"].as_str().unwrap_or(""),
                o["object"].as_str().unwrap_or(""),
                o["key"].as_str().unwrap_or("")
            )
        })
        .collect();
    assert_eq!(
        objects,
        [
            "changed app corp-ad",
            "changed user alice",
            "removed user bob",
            "added user dave",
            "removed group legacy",
        ]
    );
    let alice = &v["objects"][1]["fields"];
    assert_eq!(alice[0]["field"], "department");
    assert_eq!(alice[0]["old"], "Sales");
    assert_eq!(alice[0]["new"], "Marketing");
    let memberships: Vec<String> = v["memberships"]
        .as_array()
        .expect("memberships")
        .iter()
        .map(|m| {
            format!(
                "{} {}/{}",
                m["change"].as_str().unwrap_or(""),
                m["group"].as_str().unwrap_or(""),
                m["member"].as_str().unwrap_or("")
            )
        })
        .collect();
    assert_eq!(
        memberships,
        [
            "added office365-users/group:engineering",
            "removed sales/bob",
            "added sales/dave",
        ]
    );
    assert_eq!(v["memberships"][2]["new_expires"], "2030-06-30");
    let access: Vec<String> = v["access"]
        .as_array()
        .expect("access")
        .iter()
        .map(|a| {
            format!(
                "{} {} {} via {}",
                a["user"].as_str().unwrap_or(""),
                a["change"].as_str().unwrap_or(""),
                a["app"].as_str().unwrap_or(""),
                a["groups"]
            )
        })
        .collect();
    assert_eq!(
        access,
        [
            "bob lost office365 via [\"office365-users\"]",
            "carol gained office365 via [\"office365-users\"]",
            "dave gained office365 via [\"office365-users\"]",
        ]
    );
    // Secret references appear as references, and nothing mentions the untouched user.
    assert!(
        out.contains("secrets/alice") && !out.contains("untouched"),
        "{out}"
    );
}

#[test]
fn human_and_markdown_snapshots() {
    let dir = two_commits();
    let human = snapshot_text(roster(dir.path(), &["diff", "HEAD~1", "HEAD"]));
    let markdown = snapshot_text(roster(
        dir.path(),
        &["diff", "HEAD~1", "HEAD", "--format", "markdown"],
    ));
    insta::assert_snapshot!("human", human);
    insta::assert_snapshot!("markdown", markdown);
}

#[test]
fn same_revision_has_no_changes_and_output_is_deterministic() {
    let dir = two_commits();
    let a = roster(dir.path(), &["diff", "HEAD", "HEAD"]);
    assert_eq!(a.0, 0);
    assert!(a.1.contains("No changes."), "{}", a.1);
    let x = roster(dir.path(), &["diff", "HEAD~1", "HEAD", "--format", "json"]);
    let y = roster(dir.path(), &["diff", "HEAD~1", "HEAD", "--format", "json"]);
    assert_eq!(x, y);
    // Reversed, every add becomes a remove.
    let r = roster(dir.path(), &["diff", "HEAD", "HEAD~1", "--format", "json"]);
    let v: serde_json::Value = serde_json::from_str(&r.1).expect("json");
    assert_eq!(v["summary"]["added"], 2);
    assert_eq!(v["summary"]["removed"], 1);
    assert_eq!(v["summary"]["access_lost"], 2);
}

#[test]
fn invalid_revision_or_invalid_state_exits_1() {
    let dir = two_commits();
    let (code, _, err) = roster(dir.path(), &["diff", "HEAD~5", "HEAD"]);
    assert_eq!(code, 1);
    assert!(err.contains("HEAD~5"), "{err}");
    // A commit whose desired state has errors cannot be diffed.
    let repo = git2::Repository::open(dir.path()).expect("open");
    commit_all(&repo, "broken", 1_700_000_200);
    let r = roster(dir.path(), &["diff", "HEAD~1", "HEAD"]);
    insta::assert_snapshot!("invalid_state", snapshot_text(r));
}

#[test]
fn folder_missing_in_the_old_revision_counts_as_empty() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    let repo = git2::Repository::init(d).expect("init");
    write(d, &[("README.md", "hello\n")]);
    commit_all(&repo, "no identity folder yet", 1_700_000_000);
    write(d, &[("identity/users.yaml", USERS_V2)]);
    commit_all(&repo, "identity folder", 1_700_000_100);
    let (code, out, err) = roster(
        &d.join("identity"),
        &["diff", "HEAD~1", "HEAD", "--format", "json"],
    );
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).expect("json");
    assert_eq!(v["summary"]["added"], 4);
    assert_eq!(v["summary"]["removed"], 0);
    // validate, unlike diff, reports the missing folder.
    let (code, _, err) = roster(&d.join("identity"), &["validate", "--ref", "HEAD~1"]);
    assert_eq!(code, 1);
    assert!(err.contains("does not exist at revision HEAD~1"), "{err}");
}
