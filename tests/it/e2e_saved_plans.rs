//! Saved plans are not trusted: `apply PLANFILE` plans again from the repository and
//! the live state, and refuses, before any write, a file whose changes are not exactly
//! what the repository asks for now; the deletion guard is computed again.

use serde_json::{Value, json};

use crate::support::*;

const PEOPLE: &str = "users:
  - username: alice
    email: alice@contoso.com
    first_name: Alice
    last_name: Smith
    department: Sales
  - username: bob
    email: bob@contoso.com
    first_name: Bob
    last_name: Jones
  - username: carol
    email: carol@contoso.com
    first_name: Carol
    last_name: White
groups:
  - name: sales
    members: [alice, bob]
  - name: everyone
    members: [group:sales, carol]
policies:
  - name: p
    app: o365
    groups: [everyone]
";

struct Setup {
    emu: Emulator,
    repo: tempfile::TempDir,
    admin_id: String,
}

/// A converged tenant with an ignored break-glass admin; then the repository drops bob
/// (a disable) and moves carol to Legal (an update), and a plan is saved.
fn setup(app_extra: &str) -> (Setup, Value) {
    let emu = Emulator::start(&[]);
    let admin_id = emu.graph().create_user("admin@contoso.com", Some("IT"));
    let app = o365_app(
        &emu.url,
        &format!("    authorized_domains: [contoso.com]\n    ignore: [\"admin@*\"]\n{app_extra}"),
    );
    let repo = repo(&[("apps.yaml", &app), ("people.yaml", PEOPLE)]);
    let first = roster(repo.path(), &["apply", "--auto-approve"], &[SECRET_ENV]);
    assert_eq!(first.code, 0, "{}", first.all());

    let next = PEOPLE
        .replace("members: [alice, bob]", "members: [alice]")
        .replace(
            "    last_name: White\n",
            "    last_name: White\n    department: Legal\n",
        );
    std::fs::write(repo.path().join("people.yaml"), next).unwrap();
    let file = repo.path().join("saved.plan");
    let plan = roster(
        repo.path(),
        &["plan", "--out", file.to_str().unwrap()],
        &[SECRET_ENV],
    );
    assert_eq!(plan.code, 0, "{}", plan.all());
    let saved: Value =
        serde_json::from_str(&std::fs::read_to_string(repo.path().join("saved.plan")).unwrap())
            .unwrap();
    (
        Setup {
            emu,
            repo,
            admin_id,
        },
        saved,
    )
}

fn writes(emu: &Emulator) -> u64 {
    emu.stats()["writes"].as_u64().unwrap()
}

/// Writes `plan` as the plan file and applies it; returns the run.
fn apply(s: &Setup, plan: &Value) -> Run {
    std::fs::write(
        s.repo.path().join("edited.plan"),
        serde_json::to_string_pretty(plan).unwrap(),
    )
    .unwrap();
    let file = s.repo.path().join("edited.plan");
    roster(
        s.repo.path(),
        &["apply", file.to_str().unwrap()],
        &[SECRET_ENV],
    )
}

fn changes(plan: &mut Value) -> &mut Vec<Value> {
    plan["plan"]["changes"].as_array_mut().unwrap()
}

#[test]
fn hand_edited_plans_are_refused_with_nothing_written() {
    let (s, saved) = setup("");
    let before = writes(&s.emu);

    // 1. A delete of the ignored break-glass admin, by raw id, with delete_users off.
    let mut p = saved.clone();
    changes(&mut p).push(json!({
        "app": "o365", "object": "user", "key": "admin@contoso.com", "action": "delete",
        "id": s.admin_id, "before": null, "after": null, "reason": "cleanup"
    }));
    let run = apply(&s, &p);
    assert_eq!(run.code, 1, "{}", run.all());
    assert!(
        run.stderr
            .contains("user admin@contoso.com delete: not what the repository asks for now"),
        "{}",
        run.stderr
    );

    // 2. An attribute rewritten: carol's update goes to another department.
    let mut p = saved.clone();
    for c in changes(&mut p) {
        if c["key"] == "carol" && c["action"] == "update" {
            c["after"]["department"] = json!("Domain Admins");
        }
    }
    let run = apply(&s, &p);
    assert_eq!(run.code, 1, "{}", run.all());
    assert!(
        run.stderr
            .contains("user carol update: the repository asks for it with other values"),
        "{}",
        run.stderr
    );

    // 3. bob's disable turned into a delete (delete_users is off).
    let mut p = saved.clone();
    for c in changes(&mut p) {
        if c["key"] == "bob" && c["action"] == "disable" {
            c["action"] = json!("delete");
        }
    }
    let run = apply(&s, &p);
    assert_eq!(run.code, 1, "{}", run.all());
    assert!(run.stderr.contains("user bob delete"), "{}", run.stderr);

    // 4. A membership the repository does not ask for: bob back into sales.
    let mut p = saved.clone();
    changes(&mut p).push(json!({
        "app": "o365", "object": "membership", "key": "sales/carol", "action": "add",
        "group": "sales", "member": "carol", "before": null, "after": null, "reason": "x"
    }));
    let run = apply(&s, &p);
    assert_eq!(run.code, 1, "{}", run.all());
    assert!(run.stderr.contains("sales/carol add"), "{}", run.stderr);

    assert_eq!(writes(&s.emu), before, "nothing was written by any of them");

    // The file as saved applies.
    let run = apply(&s, &saved);
    assert_eq!(run.code, 0, "{}", run.all());
    assert!(writes(&s.emu) > before);
}

#[test]
fn the_deletion_guard_is_recomputed_not_read_from_the_file() {
    let (s, saved) = setup("    max_deletes: 0\n");
    let before = writes(&s.emu);
    let mut p = saved.clone();
    p["plan"]["deletion_guards"] = json!([{ "app": "o365", "deletes": 0, "limit": 100 }]);
    let run = apply(&s, &p);
    assert_eq!(run.code, 1, "{}", run.all());
    assert!(
        run.stderr.contains("more than max_deletes 0"),
        "{}",
        run.stderr
    );
    assert_eq!(writes(&s.emu), before);
}

#[test]
fn changes_the_repository_asks_for_beyond_the_saved_plan_are_listed_not_applied() {
    let (s, saved) = setup("");
    // Dropping bob's disable from the file: the rest applies, bob stays enabled.
    let mut p = saved.clone();
    changes(&mut p).retain(|c| !(c["key"] == "bob" && c["action"] == "disable"));
    let run = apply(&s, &p);
    assert_eq!(run.code, 0, "{}", run.all());
    assert!(
        run.stderr
            .contains("not in the saved plan and are not applied")
            && run.stderr.contains("user bob disable"),
        "{}",
        run.stderr
    );
    let bob = s.emu.graph().user("bob@contoso.com").unwrap();
    assert_eq!(bob["accountEnabled"], true);
}

/// A plan saved on a pull request's head commit, then `land` turns main into what the
/// merge made of it; returns the apply of the saved plan on main.
fn plan_on_pr_then_apply_on_main(land: &dyn Fn(&std::path::Path)) -> (Run, Emulator) {
    let emu = Emulator::start(&[]);
    let app = o365_app(&emu.url, "    authorized_domains: [contoso.com]\n");
    let repo = repo(&[("apps.yaml", &app), ("people.yaml", PEOPLE)]);
    let dir = repo.path();
    git(dir, &["init", "-q", "-b", "main"]);
    git(dir, &["add", "."]);
    git(dir, &["commit", "-q", "-m", "base"]);
    git(dir, &["checkout", "-q", "-b", "pr"]);
    std::fs::write(
        dir.join("people.yaml"),
        PEOPLE.replace(
            "    last_name: White\n",
            "    last_name: White\n    department: Legal\n",
        ),
    )
    .unwrap();
    git(dir, &["commit", "-q", "-am", "carol moves to Legal"]);
    let plan_file = tempfile::NamedTempFile::new().unwrap();
    let plan_path = plan_file.path().to_str().unwrap();
    let plan = roster(dir, &["plan", "--out", plan_path], &[SECRET_ENV]);
    assert_eq!(plan.code, 0, "{}", plan.all());
    git(dir, &["checkout", "-q", "main"]);
    land(dir);
    let run = roster(dir, &["apply", plan_path], &[SECRET_ENV]);
    (run, emu)
}

#[test]
fn a_plan_made_on_the_pull_request_applies_after_merge_squash_or_a_readme_commit() {
    let merge = |d: &std::path::Path| git(d, &["merge", "-q", "--no-ff", "-m", "Merge pr", "pr"]);
    let squash = |d: &std::path::Path| {
        git(d, &["merge", "-q", "--squash", "pr"]);
        git(d, &["commit", "-q", "-m", "carol moves to Legal (#1)"]);
    };
    let readme = |d: &std::path::Path| {
        git(d, &["merge", "-q", "--ff-only", "pr"]);
        std::fs::write(d.join("README.md"), "# identities\n").unwrap();
        // A comment and reformatting in YAML do not change the desired state either.
        let people = std::fs::read_to_string(d.join("people.yaml")).unwrap();
        std::fs::write(
            d.join("people.yaml"),
            format!("# people of contoso\n{people}\n\n"),
        )
        .unwrap();
        git(d, &["add", "."]);
        git(d, &["commit", "-q", "-m", "docs"]);
    };
    for (name, land) in [
        ("merge", &merge as &dyn Fn(&std::path::Path)),
        ("squash", &squash),
        ("readme", &readme),
    ] {
        let (run, emu) = plan_on_pr_then_apply_on_main(land);
        assert_eq!(run.code, 0, "{name}: {}", run.all());
        let carol = emu.graph().user("carol@contoso.com").expect("carol");
        assert_eq!(carol["department"], "Legal", "{name}");
    }
}

#[test]
fn a_yaml_change_after_the_plan_makes_it_stale() {
    let (run, emu) = plan_on_pr_then_apply_on_main(&|d| {
        git(d, &["merge", "-q", "--no-ff", "-m", "Merge pr", "pr"]);
        let people = std::fs::read_to_string(d.join("people.yaml")).unwrap();
        std::fs::write(
            d.join("people.yaml"),
            people.replace("last_name: Jones", "last_name: Jonas"),
        )
        .unwrap();
        git(d, &["commit", "-q", "-am", "typo"]);
    });
    assert_eq!(run.code, 1, "{}", run.all());
    assert!(
        run.stderr
            .contains("the desired state changed since the plan was made"),
        "{}",
        run.stderr
    );
    assert_eq!(writes(&emu), 0);
}

#[test]
fn with_a_plan_key_only_plans_signed_with_it_apply() {
    const KEY: (&str, &str) = (
        "ROSTER_PLAN_KEY",
        "k3y-for-tests-0123456789abcdef-0123456789",
    );
    let emu = Emulator::start(&[]);
    let app = o365_app(&emu.url, "    authorized_domains: [contoso.com]\n");
    let repo = repo(&[("apps.yaml", &app), ("people.yaml", PEOPLE)]);
    let file = repo.path().join("signed.plan");
    let file = file.to_str().unwrap();
    let plan = roster(repo.path(), &["plan", "--out", file], &[SECRET_ENV, KEY]);
    assert_eq!(plan.code, 0, "{}", plan.all());
    let text = std::fs::read_to_string(file).unwrap();
    assert!(text.contains("\"signature\"") && text.contains("HMAC-SHA256"));
    assert!(!text.contains(KEY.1), "the key is never written");

    let edited = repo.path().join("edited.plan");
    let edited = edited.to_str().unwrap();
    let try_apply = |path: &str, env: &[(&str, &str)]| {
        let run = roster(repo.path(), &["apply", path], env);
        assert!(!run.all().contains(KEY.1), "the key is never printed");
        run
    };
    // Any edit, even one the verified apply would let through (a reason reworded).
    std::fs::write(
        edited,
        text.replacen("\"reason\": \"", "\"reason\": \"x", 1),
    )
    .unwrap();
    let run = try_apply(edited, &[SECRET_ENV, KEY]);
    assert_eq!(run.code, 1, "{}", run.all());
    assert!(
        run.stderr.contains("signature does not match"),
        "{}",
        run.stderr
    );
    // Another key.
    let other = (
        "ROSTER_PLAN_KEY",
        "another-key-0123456789abcdef-0123456789ab",
    );
    let run = try_apply(file, &[SECRET_ENV, other]);
    assert_eq!(run.code, 1, "{}", run.all());
    assert!(
        run.stderr.contains("signature does not match"),
        "{}",
        run.stderr
    );
    // Unsigned.
    let unsigned = roster(repo.path(), &["plan", "--out", edited], &[SECRET_ENV]);
    assert_eq!(unsigned.code, 0);
    let run = try_apply(edited, &[SECRET_ENV, KEY]);
    assert_eq!(run.code, 1, "{}", run.all());
    assert!(run.stderr.contains("not signed"), "{}", run.stderr);
    // A short key is refused before anything else.
    let run = try_apply(file, &[SECRET_ENV, ("ROSTER_PLAN_KEY", "short")]);
    assert_eq!(run.code, 1, "{}", run.all());
    assert!(
        run.stderr.contains("shorter than 32 bytes"),
        "{}",
        run.stderr
    );
    assert_eq!(writes(&emu), 0);

    // The signed file with its key applies.
    let run = try_apply(file, &[SECRET_ENV, KEY]);
    assert_eq!(run.code, 0, "{}", run.all());
    assert!(emu.graph().user("alice@contoso.com").is_some());
}
