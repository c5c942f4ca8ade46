//! `roster access` and `roster explain` end to end on a Git repository built in the
//! test with three commits at fixed committer dates: `--at DATE` answers from the
//! commit in effect on that day, with expiry and end dates evaluated on that day.

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

/// Commit the working tree with a fixed author and committer time (what
/// GIT_COMMITTER_DATE sets for the git command line).
fn commit_all(repo: &git2::Repository, message: &str, secs: i64) -> String {
    let mut index = repo.index().expect("index");
    index
        .add_all(["*"], git2::IndexAddOption::DEFAULT, None)
        .expect("add");
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

const APPS: &str = "\
apps:
  - name: scim
    type: scim
    url: https://scim.example.com/scim/v2
    token: { env: SCIM_TOKEN }
  - name: wiki
    type: scim
    url: https://wiki.example.com/scim/v2
    token: { env: WIKI_TOKEN }
policies:
  - { name: scim-staff, app: scim, groups: [staff] }
  - { name: wiki-eng, app: wiki, groups: [engineering] }
";

fn users(extra: &str) -> String {
    format!(
        "\
users:
  - {{ username: alice, email: alice@example.com, first_name: Alice, last_name: Smith }}
  - {{ username: bob, email: bob@example.com, first_name: Bob, last_name: Jones{extra} }}
  - {{ username: carol, email: carol@example.com, first_name: Carol, last_name: King }}
"
    )
}

// 2027-01-10, 2027-02-10 and 2027-03-10, 12:00 UTC.
const T1: i64 = 1_799_582_400;
const T2: i64 = T1 + 31 * 86_400;
const T3: i64 = T2 + 28 * 86_400;

/// Commit 1: alice in staff. Commit 2: bob joins through nested groups
/// (staff > engineering > backend). Commit 3: carol joins, bob gets an end date.
fn three_commits(dir: &Path) -> [String; 3] {
    let repo = git2::Repository::init(dir).expect("init");
    let w = |name: &str, text: &str| std::fs::write(dir.join(name), text).expect("write");
    w("apps.yaml", APPS);
    w("users.yaml", &users(""));
    w(
        "groups.yaml",
        "groups:\n  - { name: staff, members: [alice] }\n  - { name: engineering }\n",
    );
    let c1 = commit_all(&repo, "alice in staff", T1);
    w(
        "groups.yaml",
        "groups:\n  - { name: staff, members: [alice, 'group:engineering'] }\n  - { name: engineering, members: ['group:backend'] }\n  - { name: backend, members: [bob] }\n",
    );
    let c2 = commit_all(&repo, "bob joins backend", T2);
    w("users.yaml", &users(", end_date: '2027-03-31'"));
    w(
        "groups.yaml",
        "groups:\n  - { name: staff, members: [alice, carol, 'group:engineering'] }\n  - { name: engineering, members: ['group:backend'] }\n  - { name: backend, members: [bob] }\n",
    );
    let c3 = commit_all(&repo, "carol joins; bob leaves on 2027-03-31", T3);
    [c1, c2, c3]
}

fn users_of(csv: &str) -> Vec<String> {
    let mut r = csv::Reader::from_reader(csv.as_bytes());
    let h = r.headers().unwrap().clone();
    let ix = h.iter().position(|c| c == "user").unwrap();
    r.records().map(|x| x.unwrap()[ix].to_string()).collect()
}

#[test]
fn access_at_a_date_answers_from_the_commit_in_effect() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let [c1, c2, c3] = three_commits(dir);

    // Before the second commit: only alice.
    let (code, out, err) = roster(
        dir,
        &[
            "access",
            "--app",
            "scim",
            "--at",
            "2027-02-09",
            "--format",
            "csv",
        ],
    );
    assert_eq!(code, 0, "{err}");
    assert_eq!(users_of(&out), ["alice"]);
    assert!(out.contains(&c1), "{out}");

    // The day of the second commit (end of day counts): bob through the nested path.
    let (_, out, _) = roster(
        dir,
        &[
            "access",
            "--app",
            "scim",
            "--at",
            "2027-02-10",
            "--format",
            "json",
        ],
    );
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["source"]["commit"], c2.as_str());
    assert_eq!(v["date"], "2027-02-10");
    let rows = v["access"].as_array().unwrap();
    let bob = rows.iter().find(|r| r["user"] == "bob").expect("bob");
    assert_eq!(
        bob["path"],
        serde_json::json!(["staff", "engineering", "backend"])
    );
    assert_eq!(rows.len(), 2);

    // After the third commit: carol too, and bob until his end date.
    let (_, out, _) = roster(
        dir,
        &[
            "access",
            "--app",
            "scim",
            "--at",
            "2027-03-20",
            "--format",
            "csv",
        ],
    );
    assert_eq!(users_of(&out), ["alice", "bob", "carol"]);
    assert!(out.contains(&c3));
    assert!(
        out.starts_with("date,commit,app,user,email,policy,group,path,expires,status\n"),
        "{out}"
    );
    let (_, out, _) = roster(
        dir,
        &[
            "access",
            "--app",
            "scim",
            "--at",
            "2027-04-01",
            "--format",
            "csv",
        ],
    );
    assert_eq!(users_of(&out), ["alice", "carol"]);

    // The human table names the commit and the group path.
    let (_, out, _) = roster(dir, &["access", "--app", "scim", "--at", "2027-02-10"]);
    assert!(out.contains(&format!("from commit {}", &c2[..12])), "{out}");
    assert!(out.contains("staff > engineering > backend"), "{out}");

    // `--ref` reads that revision.
    let (_, out, _) = roster(dir, &["access", "--ref", &c1, "--format", "csv"]);
    assert_eq!(users_of(&out), ["alice"]);

    // A day before the first commit has no answer.
    let (code, _, err) = roster(dir, &["access", "--at", "2027-01-09"]);
    assert_eq!(code, 1);
    assert!(
        err.contains("no commit on the current branch was in effect on 2027-01-09"),
        "{err}"
    );
    let (code, _, err) = roster(dir, &["access", "--at", "2027-13-01"]);
    assert_eq!(code, 1);
    assert!(err.contains("is not a date"), "{err}");
}

#[test]
fn explain_names_the_group_path_and_why_not() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    three_commits(dir);
    let (code, out, err) = roster(dir, &["explain", "bob", "--at", "2027-03-20"]);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains(
            "policy scim-staff binds group staff; path staff > engineering > backend > bob"
        ),
        "{out}"
    );
    assert!(out.contains("wiki: has access\n  policy wiki-eng binds group engineering; path engineering > backend > bob"), "{out}");
    let (_, out, _) = roster(
        dir,
        &["explain", "carol", "--app", "wiki", "--at", "2027-03-20"],
    );
    assert!(out.contains("wiki: no access\n  not a member, directly or through nested groups, of a group bound to wiki (engineering)"), "{out}");
    let (_, out, _) = roster(
        dir,
        &["explain", "bob", "--app", "scim", "--at", "2027-04-05"],
    );
    assert!(out.contains("scim: no access"), "{out}");
    assert!(out.contains("lifecycle: leaver since 2027-03-31"), "{out}");
    let (_, out, _) = roster(dir, &["explain", "bob", "--at", "2027-01-20"]);
    assert!(out.contains("scim: no access"), "{out}");
    let (code, _, err) = roster(dir, &["explain", "bbo"]);
    assert_eq!(code, 1);
    assert!(
        err.contains("unknown user `bbo` (did you mean `bob`?)"),
        "{err}"
    );
}
