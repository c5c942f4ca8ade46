//! Planner rules for live state roster did not make alone: duplicate groups, and (issue
//! "Real tenants") guests, synced users, role holders, inherited licences and groups
//! whose members the service manages.

use crate::planner_support as support;

use roster::observed::{ObservedGroup, roster_group_key};
use roster::plan::Action;
use support::*;

fn keyed(id: &str, name: &str, key_of: &str, members: &[&str]) -> ObservedGroup {
    ObservedGroup {
        unique_name: Some(roster_group_key(key_of)),
        ..group(id, name, members)
    }
}

const STAFF: &str = "
users:
  - { username: alice, email: alice@contoso.com, first_name: Alice, last_name: Smith }
groups:
  - { name: staff, members: [alice] }
policies:
  - { name: p, app: o365, groups: [staff] }
";

fn alice() -> roster::observed::ObservedUser {
    user(
        "u-a",
        "alice@contoso.com",
        &[
            ("email", "alice@contoso.com"),
            ("first_name", "Alice"),
            ("last_name", "Smith"),
            ("display_name", "Alice Smith"),
        ],
    )
}

#[test]
fn the_group_with_roster_key_is_managed_and_an_empty_keyed_duplicate_is_removed() {
    let d = o365("switches: { delete_groups: true }", STAFF);
    // g-1 sorts first by id but is a duplicate roster made under another key; g-2
    // carries the key of `staff` and holds alice.
    let obs = observed(vec![app(
        "o365",
        vec![alice()],
        vec![
            keyed("g-1", "staff", "staff (old)", &[]),
            keyed("g-2", "staff", "staff", &["u-a"]),
        ],
    )]);
    let p = run(&d, &obs);
    assert_eq!(lines(&p), ["group delete staff"]);
    let c = &p.changes[0];
    assert_eq!(
        c.id.as_deref(),
        Some("g-1"),
        "the duplicate is deleted by its own id"
    );
    assert!(
        c.reason.contains("duplicate of group staff (id g-2)"),
        "{}",
        c.reason
    );
}

#[test]
fn duplicates_that_are_not_rosters_or_hold_members_are_only_reported() {
    let d = o365("switches: { delete_groups: true }", STAFF);
    let obs = observed(vec![app(
        "o365",
        vec![alice()],
        vec![
            keyed("g-0", "staff", "staff", &["u-a"]),
            group("g-1", "staff", &[]),
            keyed("g-2", "staff", "other", &["u-a"]),
        ],
    )]);
    let p = run(&d, &obs);
    assert!(p.changes.is_empty(), "{:?}", lines(&p));
    let w: Vec<&str> = p.warnings.iter().map(|w| w.message.as_str()).collect();
    assert!(
        w.iter()
            .any(|m| m.contains("id g-1 is left alone (roster did not create it)")),
        "{w:?}"
    );
    assert!(
        w.iter()
            .any(|m| m.contains("id g-2 is left alone (it has members)")),
        "{w:?}"
    );
}

#[test]
fn duplicate_removal_obeys_delete_groups() {
    let d = o365("switches: { delete_groups: false }", STAFF);
    let obs = observed(vec![app(
        "o365",
        vec![alice()],
        vec![
            keyed("g-1", "staff", "staff", &["u-a"]),
            keyed("g-2", "staff", "x", &[]),
        ],
    )]);
    let p = run(&d, &obs);
    assert!(p.changes.is_empty());
    assert_eq!(p.skipped.len(), 1);
    assert_eq!(p.skipped[0].action, Action::Delete);
    assert!(p.skipped[0].reason.contains("delete group id g-2"));
}

#[test]
fn without_a_keyed_group_the_first_by_id_is_managed() {
    let d = o365("switches: { delete_groups: true }", STAFF);
    let obs = observed(vec![app(
        "o365",
        vec![alice()],
        vec![group("g-2", "staff", &[]), group("g-1", "staff", &["u-a"])],
    )]);
    let p = run(&d, &obs);
    assert!(p.changes.is_empty(), "{:?}", lines(&p));
}
