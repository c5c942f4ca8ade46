//! Incremental reads of ldap apps against a real OpenLDAP slapd, through the binary:
//! after out-of-band changes made with `ldapmodify`, a plan from the snapshot fetches
//! only the changed entries (the connector logs its counts with `-v`) and is the plan a
//! read without cache (`--no-cache`) gives; a deleted entry is seen; a snapshot of
//! another directory or subtree is not used.

use crate::slapd::*;
use crate::support::{Run, repo, roster};

fn people() -> &'static str {
    r#"users:
  - username: alice
    email: alice@example.test
    first_name: Alice
    last_name: Smith
    job_title: Engineer
  - username: bob
    email: bob@example.test
    first_name: Bob
    last_name: Jones
  - username: carol
    email: carol@example.test
    first_name: Carol
    last_name: King
groups:
  - name: staff
    members: [alice, bob, carol]
  - name: leads
    members: [alice]
  - name: empty
policies:
  - name: directory
    app: dir
    groups: [staff, leads, empty]
"#
}

fn run(dir: &std::path::Path, args: &[&str]) -> Run {
    roster(dir, args, &env())
}

/// The counts of the `-v` log line of an incremental read: (fetched, removed,
/// scanned, entries); `None` for a full read.
fn counts(r: &Run) -> Option<(usize, usize, usize, usize)> {
    let line = r
        .stderr
        .lines()
        .find(|l| l.contains("incremental read") || l.contains("full read"))
        .unwrap_or_else(|| panic!("no read log line: {}", r.stderr));
    if !line.contains("Incremental") {
        return None;
    }
    let n = |key: &str| -> usize {
        let at = line
            .find(&format!("{key}: "))
            .unwrap_or_else(|| panic!("{key} in {line}"));
        line[at + key.len() + 2..]
            .chars()
            .take_while(char::is_ascii_digit)
            .collect::<String>()
            .parse()
            .unwrap()
    };
    Some((n("fetched"), n("removed"), n("scanned"), n("entries")))
}

/// A cached plan (`-v`) and an uncached one: the same output; the cached run's counts.
fn plan_both(dir: &std::path::Path) -> (Run, Option<(usize, usize, usize, usize)>) {
    let cached = run(dir, &["-v", "plan", "--detailed-exitcode"]);
    let full = run(dir, &["--no-cache", "plan", "--detailed-exitcode"]);
    assert_eq!(
        (cached.code, &cached.stdout),
        (full.code, &full.stdout),
        "the cached plan differs from a full read's:\n{}",
        cached.stderr
    );
    let c = counts(&cached);
    (cached, c)
}

#[test]
fn cached_plans_fetch_only_changes_and_equal_full_reads() {
    let tree = Tree::new();
    let r = repo(&[
        ("apps.yaml", &ldap_app(&tree, "")),
        ("people.yaml", people()),
    ]);
    let apply = run(r.path(), &["apply", "--auto-approve"]);
    assert_eq!(apply.code, 0, "{}", apply.all());
    // The apply's own read wrote a snapshot of the empty tree; this read fetches what
    // the apply created.
    let (plan, c) = plan_both(r.path());
    assert_eq!(plan.code, 0, "{}", plan.all());
    assert_eq!(c, Some((6, 0, 6, 12)), "{}", plan.stderr);
    // Nothing changed: stamps only.
    let (plan, c) = plan_both(r.path());
    assert_eq!(plan.code, 0, "{}", plan.all());
    assert_eq!(c, Some((0, 0, 6, 6)), "{}", plan.stderr);

    let alice = ldapsearch(&tree.people, "(uid=alice)", &["dn"]).remove(0).0;
    let carol = ldapsearch(&tree.people, "(uid=carol)", &["dn"]).remove(0).0;
    let leads = ldapsearch(&tree.groups, "(cn=leads)", &["dn"]).remove(0).0;
    // Two writes to alice within one second, a new user, a member added by hand.
    ldapmodify(&format!(
        "dn: {alice}\nchangetype: modify\nreplace: title\ntitle: Boss\n\n\
         dn: {alice}\nchangetype: modify\nreplace: title\ntitle: Chief\n\n\
         dn: uid=intruder,{p}\nchangetype: add\nobjectClass: inetOrgPerson\nuid: intruder\ncn: In Truder\nsn: Truder\n\n\
         dn: {leads}\nchangetype: modify\nadd: member\nmember: {carol}\n",
        p = tree.people
    ));
    let (plan, c) = plan_both(r.path());
    assert_eq!(plan.code, 2, "{}", plan.all());
    for what in ["Chief", "intruder", "carol"] {
        assert!(plan.stdout.contains(what), "{what}: {}", plan.stdout);
    }
    assert_eq!(c, Some((3, 0, 7, 10)), "{}", plan.stderr);

    // A deleted user (a member of staff: the memberof overlay's referential integrity
    // removes it from the group) is seen, and the plan creates it again.
    let bob = ldapsearch(&tree.people, "(uid=bob)", &["dn"]).remove(0).0;
    ldapmodify(&format!("dn: {bob}\nchangetype: delete\n"));
    let (plan, c) = plan_both(r.path());
    assert_eq!(plan.code, 2, "{}", plan.all());
    assert!(plan.stdout.contains("bob"), "{}", plan.stdout);
    // Fetched: staff, which bob left.
    assert_eq!(c, Some((1, 1, 6, 7)), "{}", plan.stderr);

    let apply = run(r.path(), &["apply", "--auto-approve"]);
    assert_eq!(apply.code, 0, "{}", apply.all());
    let (plan, _) = plan_both(r.path());
    assert_eq!(plan.code, 0, "{}", plan.all());
}

#[test]
fn snapshots_of_another_directory_or_subtree_are_not_used() {
    let a = Tree::new();
    let b = Tree::new();
    let ra = repo(&[("apps.yaml", &ldap_app(&a, "")), ("people.yaml", people())]);
    let rb = repo(&[("apps.yaml", &ldap_app(&b, "")), ("people.yaml", people())]);
    assert_eq!(run(ra.path(), &["apply", "--auto-approve"]).code, 0);
    assert_eq!(run(ra.path(), &["plan"]).code, 0);
    let snap = ra.path().join(".roster/cache/ldap-dir.snapshot");
    assert!(snap.is_file(), "a snapshot was written");
    // B's first read: full, then B has its own snapshot; replace it with A's.
    assert_eq!(run(rb.path(), &["plan"]).code, 0);
    std::fs::copy(&snap, rb.path().join(".roster/cache/ldap-dir.snapshot")).unwrap();
    let (plan, c) = plan_both(rb.path());
    assert_eq!(c, None, "A's snapshot is not used for B");
    assert!(
        plan.stderr
            .contains("written for other users_ou or groups_ou"),
        "{}",
        plan.stderr
    );
    // Another URL of the same server: not the same directory as far as roster knows.
    let s = slapd();
    let other = ldap_app(&a, "").replace(&s.url, &s.ldaps_url);
    std::fs::write(ra.path().join("apps.yaml"), other).unwrap();
    let (plan, c) = plan_both(ra.path());
    assert_eq!(c, None);
    assert!(
        plan.stderr.contains("written for another directory"),
        "{}",
        plan.stderr
    );
    // A damaged snapshot: a full read that says why.
    let mut bytes = std::fs::read(&snap).unwrap();
    let n = bytes.len() - 2;
    bytes[n] ^= 1;
    std::fs::write(&snap, bytes).unwrap();
    let (plan, c) = plan_both(ra.path());
    assert_eq!(c, None);
    assert!(plan.stderr.contains("corrupt"), "{}", plan.stderr);
}

#[test]
fn renaming_an_ou_inside_users_ou_moves_its_users_without_changing_their_stamps() {
    let tree = Tree::new();
    let r = repo(&[
        ("apps.yaml", &ldap_app(&tree, "")),
        ("people.yaml", people()),
    ]);
    assert_eq!(run(r.path(), &["apply", "--auto-approve"]).code, 0);
    let p = &tree.people;
    let staff = ldapsearch(&tree.groups, "(cn=staff)", &["dn"]).remove(0).0;
    ldapmodify(&format!(
        "dn: ou=sub,{p}\nchangetype: add\nobjectClass: organizationalUnit\nou: sub\n\n\
         dn: uid=dave,ou=sub,{p}\nchangetype: add\nobjectClass: inetOrgPerson\nuid: dave\ncn: Dave\nsn: Dave\n\n\
         dn: {staff}\nchangetype: modify\nadd: member\nmember: uid=dave,ou=sub,{p}\n"
    ));
    let (plan, c) = plan_both(r.path());
    assert_eq!(plan.code, 2, "{}", plan.all());
    assert!(c.is_some(), "{}", plan.stderr);
    // The OU is renamed: dave's DN changes, his stamp does not.
    ldapmodify(&format!(
        "dn: ou=sub,{p}\nchangetype: modrdn\nnewrdn: ou=moved\ndeleteoldrdn: 1\n"
    ));
    assert_eq!(
        ldapsearch(p, "(uid=dave)", &["dn"]).remove(0).0,
        format!("uid=dave,ou=moved,{p}")
    );
    let (plan, c) = plan_both(r.path());
    assert_eq!(plan.code, 2, "{}", plan.all());
    let (_, removed, scanned, _) = c.expect("incremental");
    assert_eq!((removed, scanned), (0, 7), "{}", plan.stderr);
}

/// More entries than one page (500): users and groups are read with the paged-results
/// control, one search after the other on the connection (two interleaved paged
/// searches on one connection make slapd refuse the second cookie), in full and from
/// the snapshot.
#[test]
fn more_entries_than_a_page_read_in_full_and_from_the_snapshot() {
    let tree = Tree::new();
    let p = &tree.people;
    let g = &tree.groups;
    let n = 620;
    let mut ldif = String::new();
    for i in 0..n {
        ldif.push_str(&format!(
            "dn: uid=bulk{i:04},{p}\nchangetype: add\nobjectClass: inetOrgPerson\nuid: bulk{i:04}\ncn: Bulk {i}\nsn: Bulk\n\n"
        ));
    }
    ldif.push_str(&format!(
        "dn: cn=bulk,{g}\nchangetype: add\nobjectClass: groupOfNames\ncn: bulk\n"
    ));
    for i in 0..n {
        ldif.push_str(&format!("member: uid=bulk{i:04},{p}\n"));
    }
    ldapmodify(&ldif);
    let r = repo(&[
        ("apps.yaml", &ldap_app(&tree, "")),
        ("people.yaml", people()),
    ]);
    let full = run(r.path(), &["--no-cache", "plan", "--detailed-exitcode"]);
    assert_eq!(full.code, 2, "{}", full.all());
    assert!(full.stdout.contains("bulk0619"), "{}", full.stdout);
    // A first cached plan reads in full and writes the snapshot; the next reads from
    // it and gives the same plan.
    let first = run(r.path(), &["-v", "plan", "--detailed-exitcode"]);
    assert_eq!(
        (first.code, &first.stdout),
        (2, &full.stdout),
        "{}",
        first.stderr
    );
    let line = first
        .stderr
        .lines()
        .find(|l| l.contains("full read"))
        .unwrap_or_else(|| panic!("no full-read line: {}", first.stderr));
    assert!(line.contains(&format!("entries={}", n + 1)), "{line}");
    let (plan, c) = plan_both(r.path());
    assert_eq!(plan.code, 2, "{}", plan.all());
    let (fetched, removed, scanned, entries) = c.expect("incremental");
    assert_eq!(
        (fetched, removed, scanned, entries),
        (0, 0, n + 1, n + 1),
        "{}",
        plan.stderr
    );
}
