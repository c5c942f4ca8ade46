//! `roster hr sync` end to end: an HR export with a joiner, a mover, a leaver and two
//! bad rows against a repository with comments. The YAML edit touches only those
//! users' lines, the comments stay, `validate` passes, the bad rows are reported with
//! their CSV line numbers, and a second run changes nothing.

use std::path::Path;
use std::process::Command;

const ROSTER: &str = env!("CARGO_BIN_EXE_roster");

fn roster(dir: &Path, args: &[&str]) -> (i32, String, String) {
    let mut c = Command::new(ROSTER);
    c.arg("-C").arg(dir).args(args);
    capture(c)
}

/// roster run from inside DIR (the CSV and mapping paths are relative to it).
fn run_in(dir: &Path, args: &[&str]) -> (i32, String, String) {
    let mut c = Command::new(ROSTER);
    c.current_dir(dir).args(args);
    capture(c)
}

fn capture(mut c: Command) -> (i32, String, String) {
    let out = c.env_remove("RUST_LOG").output().expect("run roster");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

const APPS: &str = "\
apps:
  - name: scim
    type: scim
    url: https://scim.example.com/scim/v2
    token: { env: SCIM_TOKEN }
groups:
  - name: staff
    members: [alice, bob, carol]
policies:
  - { name: p, app: scim, groups: [staff] }
";

const PEOPLE: &str = "\
# Everyone at Example.
users:
  # The founder.
  - username: alice
    email: alice@example.com
    first_name: Alice
    last_name: Smith
    employee_id: \"100\"
    department: Sales   # the first team
    job_title: CEO
  - username: bob
    email: bob@example.com
    first_name: Bob
    last_name: Jones
    employee_id: \"101\"
    department: Sales # moves
    manager: alice
  # Ops lead.
  - username: carol
    email: carol@example.com
    first_name: Carol
    last_name: King
    employee_id: \"102\"
    department: Ops
    manager: alice

# Contractors have no employee id and are not in the HR feed.
  - username: zed
    email: zed@example.com
    first_name: Zed
    last_name: Extern
";

const MAPPING: &str = "\
columns:
  employee_id: Employee ID
  first_name: First Name
  last_name: Last Name
  email: Work Email
  department: Department
  job_title: Job Title
  manager_id: Manager ID
  end_date: Termination Date
  start_date: Hire Date
  status: Status
terminated_status: [Terminated]
date_format: MM/DD/YYYY
new_users_file: users/people.yaml
";

// Line 2 alice: unchanged. Line 3 bob: mover. Line 4 carol: leaver. Line 5 dan:
// joiner. Line 6: no id. Line 7: an unknown manager.
const EXPORT: &str = "\
Employee ID,First Name,Last Name,Work Email,Department,Job Title,Manager ID,Hire Date,Termination Date,Status
100,Alice,Smith,alice@example.com,Sales,CEO,,,,Active
101,Bob,Jones,bob@example.com,Marketing,,100,,,Active
102,Carol,King,carol@example.com,Ops,,100,,03/31/2027,Terminated
103,Dan,Brown,dan@example.com,Sales,Sales Rep,101,04/01/2027,,Active
,No,Id,noid@example.com,Sales,,,,,Active
104,Eve,Moss,eve@example.com,Sales,,999,04/01/2027,,Active
";

fn setup() -> tempfile::TempDir {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    std::fs::create_dir_all(d.join("users")).unwrap();
    std::fs::create_dir_all(d.join(".github")).unwrap();
    std::fs::write(d.join("apps.yaml"), APPS).unwrap();
    std::fs::write(d.join("users/people.yaml"), PEOPLE).unwrap();
    std::fs::write(d.join(".github/hr-mapping.yaml"), MAPPING).unwrap();
    std::fs::write(d.join("export.csv"), EXPORT).unwrap();
    tmp
}

const ARGS: &[&str] = &[
    "hr",
    "sync",
    "--csv",
    "export.csv",
    "--mapping",
    ".github/hr-mapping.yaml",
    "--today",
    "2027-03-01",
];

#[test]
fn hr_sync_edits_only_the_affected_lines_and_a_second_run_is_a_no_op() {
    let tmp = setup();
    let d = tmp.path();
    // Commands run with -C DIR; the CSV and mapping paths are relative to the
    // process, so run from inside the repository.
    let run = |extra: &[&str]| {
        let out = Command::new(ROSTER)
            .current_dir(d)
            .args(ARGS)
            .args(extra)
            .env_remove("RUST_LOG")
            .output()
            .expect("run roster");
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };

    // Without --write: the summary only, no file changes.
    let (code, summary, err) = run(&[]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        std::fs::read_to_string(d.join("users/people.yaml")).unwrap(),
        PEOPLE
    );
    assert!(
        err.contains("export.csv:6: warning: no employee id"),
        "{err}"
    );
    assert!(
        err.contains("export.csv:7: warning: unknown manager: employee id 999"),
        "{err}"
    );
    insta::assert_snapshot!("hr_sync_summary", summary);

    let (code, _, err) = run(&["--write"]);
    assert_eq!(code, 0, "{err}");
    let after = std::fs::read_to_string(d.join("users/people.yaml")).unwrap();
    let diff = similar::TextDiff::from_lines(PEOPLE, &after)
        .unified_diff()
        .context_radius(1)
        .to_string();
    insta::assert_snapshot!("hr_sync_yaml_diff", diff);
    // Every comment is still there, and only bob, carol and the new dan changed.
    for line in PEOPLE.lines().filter(|l| l.contains('#')) {
        let comment = &line[line.find('#').unwrap()..];
        assert!(after.contains(comment), "comment lost: {comment}");
    }
    let changed: Vec<String> = similar::TextDiff::from_lines(PEOPLE, &after)
        .iter_all_changes()
        .filter(|c| c.tag() != similar::ChangeTag::Equal)
        .map(|c| c.value().trim().to_string())
        .collect();
    assert_eq!(
        changed,
        [
            "department: Sales # moves",
            "department: Marketing # moves",
            "end_date: 2027-03-31",
            "- username: dan.brown",
            "email: dan@example.com",
            "first_name: Dan",
            "last_name: Brown",
            "employee_id: \"103\"",
            "department: Sales",
            "job_title: Sales Rep",
            "manager: bob",
            "start_date: 2027-04-01",
        ]
    );
    assert!(!after.contains("eve"), "a bad row added a user");

    let (code, out, err) = roster(d, &["validate"]);
    assert_eq!(code, 0, "{out}{err}");

    // Second run: nothing to do, nothing written.
    let (code, out, err) = run(&["--write"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("0 joiners, 0 movers, 0 leavers"), "{out}");
    assert!(out.contains("No changes"), "{out}");
    assert_eq!(
        std::fs::read_to_string(d.join("users/people.yaml")).unwrap(),
        after
    );
}

#[test]
fn a_row_that_disappears_is_a_leaver_and_a_bad_mapping_names_the_column() {
    let tmp = setup();
    let d = tmp.path();
    // Bob's row is gone from the export.
    let export: String = EXPORT
        .lines()
        .filter(|l| !l.starts_with("101,"))
        .map(|l| format!("{l}\n"))
        .collect::<String>()
        .replace(",101,", ",100,");
    std::fs::write(d.join("export.csv"), export).unwrap();
    let out = Command::new(ROSTER)
        .current_dir(d)
        .args(ARGS)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("| — | `bob` | 2027-03-01 | employee id 101 is no longer in the export |"),
        "{text}"
    );
    // zed has no employee id: never a leaver.
    assert!(!text.contains("`zed`"), "{text}");

    std::fs::write(
        d.join(".github/hr-mapping.yaml"),
        MAPPING.replace("Work Email", "E-mail"),
    )
    .unwrap();
    let out = Command::new(ROSTER)
        .current_dir(d)
        .args(ARGS)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("export.csv:1: the header has no column \"E-mail\" (mapping columns.email)"),
        "{err}"
    );
}

#[test]
fn a_partial_export_is_refused_whole_and_changes_nothing() {
    let tmp = setup();
    let d = tmp.path();
    let before = std::fs::read_to_string(d.join("users/people.yaml")).unwrap();
    let write: Vec<&str> = ARGS.iter().copied().chain(["--write"]).collect();

    // A truncated export: the header and nothing else.
    let header = EXPORT.lines().next().unwrap();
    std::fs::write(d.join("export.csv"), format!("{header}\n")).unwrap();
    let (code, out, err) = run_in(d, &write);
    assert_eq!(code, 1, "{out}{err}");
    assert!(
        err.contains("export.csv: the export has no data rows, so all 3 users with an employee id would become leavers; nothing was changed"),
        "{err}"
    );
    assert!(
        err.contains("hint: check that the export is complete"),
        "{err}"
    );
    assert_eq!(
        std::fs::read_to_string(d.join("users/people.yaml")).unwrap(),
        before
    );

    // Bob's row gone while the mapping allows nobody to vanish: refused, joiners and
    // movers of the same export included.
    let export: String = EXPORT
        .lines()
        .filter(|l| !l.starts_with("101,"))
        .map(|l| format!("{l}\n"))
        .collect::<String>()
        .replace(",101,", ",100,");
    std::fs::write(d.join("export.csv"), &export).unwrap();
    std::fs::write(
        d.join(".github/hr-mapping.yaml"),
        format!("{MAPPING}max_disappeared: 0\n"),
    )
    .unwrap();
    let (code, out, err) = run_in(d, &write);
    assert_eq!(code, 1, "{out}{err}");
    assert!(
        err.contains(
            "1 user with an employee id is not in the export, more than max_disappeared (0)"
        ),
        "{err}"
    );
    assert!(err.contains(".github/hr-mapping.yaml"), "{err}");
    assert_eq!(
        std::fs::read_to_string(d.join("users/people.yaml")).unwrap(),
        before
    );

    // Within the limit the same export goes through: bob ends, dan joins.
    std::fs::write(
        d.join(".github/hr-mapping.yaml"),
        format!("{MAPPING}max_disappeared: 1\n"),
    )
    .unwrap();
    let (code, out, err) = run_in(d, &write);
    assert_eq!(code, 0, "{out}{err}");
    let after = std::fs::read_to_string(d.join("users/people.yaml")).unwrap();
    assert!(after.contains("username: dan.brown"), "{after}");
    assert!(
        after.contains("end_date: 2027-03-01") || after.contains("end_date: \"2027-03-01\""),
        "{after}"
    );
}
