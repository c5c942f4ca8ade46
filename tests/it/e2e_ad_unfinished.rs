//! Unfinished creates on a real Samba AD DC, through the binary: an account whose
//! password was refused, or whose create was cut off between the add and the password
//! (as a `kill -9` leaves it), is enabled only after it has a password, and the plan
//! says so.

use crate::samba;
use crate::support;

use samba::*;
use support::{Run, roster};

const STRONG: &str = "Unfinished-Cr3ate!Pass";

fn repo_for(fx: &Fixture, user: &str) {
    let dc = dc();
    let yaml = format!(
        "apps:\n  - name: ad\n    type: active_directory\n    url: {url}\n    base_dn: '{base}'\n    users_ou: '{users}'\n    groups_ou: '{groups}'\n    bind_dn: '{bind}'\n    bind_password: {{ file: bind.pw }}\n    tls: {{ ca_file: '{ca}' }}\n\
         users:\n  - username: {user}\n    email: {user}@acme.example\n    first_name: Una\n    last_name: Finished\n    password: {{ env: ROSTER_TEST_USER_PASSWORD }}\n\
         groups:\n  - name: g-{token}\n    members: [{user}]\n\
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
}

fn run(fx: &Fixture, args: &[&str], password: &str) -> Run {
    roster(
        fx.repo.path(),
        args,
        &[("ROSTER_TEST_USER_PASSWORD", password)],
    )
}

async fn entry(fx: &Fixture, sam: &str) -> ldap3::SearchEntry {
    let mut ldap = raw().await;
    search(
        &mut ldap,
        &fx.users_ou,
        &format!("(sAMAccountName={sam})"),
        &["userAccountControl", "pwdLastSet"],
    )
    .await
    .into_iter()
    .next()
    .expect("the account exists")
}

fn enabled(e: &ldap3::SearchEntry) -> bool {
    attr(e, "userAccountControl")
        .and_then(|v| v.parse::<u32>().ok())
        .is_some_and(|uac| uac & 2 == 0)
}

/// Plan, apply and check: the plan names the unfinished create; after the apply the
/// account is enabled, has a password (pwdLastSet set, a bind with it works), and a
/// second plan has nothing to do.
async fn finishes(fx: &Fixture, sam: &str) {
    let plan = run(fx, &["plan"], STRONG);
    assert_eq!(plan.code, 0, "{}", plan.all());
    assert!(
        plan.stdout.contains("unfinished create")
            && plan.stdout.contains("(from env ROSTER_TEST_USER_PASSWORD)"),
        "the plan says so:\n{}",
        plan.stdout
    );
    let apply = run(fx, &["apply", "--auto-approve"], STRONG);
    assert_eq!(apply.code, 0, "{}", apply.all());
    let e = entry(fx, sam).await;
    assert!(enabled(&e), "enabled");
    assert_ne!(attr(&e, "pwdLastSet"), Some("0"), "a password is set");
    assert_eq!(try_bind(&e.dn, STRONG).await, 0, "the password works");
    let again = run(fx, &["plan", "--detailed-exitcode"], STRONG);
    assert_eq!(again.code, 0, "converged:\n{}", again.all());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_refused_first_password_leaves_an_unfinished_create_that_the_next_apply_finishes() {
    let fx = Fixture::new().await;
    let sam = format!("uf{}", &fx.token[..8]);
    repo_for(&fx, &sam);
    // Too short and too simple for the domain's password policy.
    let first = run(&fx, &["apply", "--auto-approve"], "abc");
    assert_ne!(
        first.code,
        0,
        "the refused password fails the apply:\n{}",
        first.all()
    );
    let e = entry(&fx, &sam).await;
    assert!(!enabled(&e), "never enabled without a password");
    assert_eq!(attr(&e, "pwdLastSet"), Some("0"));
    finishes(&fx, &sam).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_add_cut_off_before_its_password_is_finished_by_the_next_apply() {
    let fx = Fixture::new().await;
    let sam = format!("uk{}", &fx.token[..8]);
    repo_for(&fx, &sam);
    // What a kill -9 between the add and the password leaves: the account, disabled,
    // without a password.
    let mut ldap = raw().await;
    add_user(&mut ldap, &fx.users_ou, "Una Finished", &sam).await;
    finishes(&fx, &sam).await;
}
