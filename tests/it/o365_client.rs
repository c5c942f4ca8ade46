//! The office365 connector against the Graph emulator started in-process: reads map
//! to the observed state, applies carry out every kind of change, requests stay at the
//! API's floor, and faults, replication lag and throttling still converge.

use crate::o365_common;

use std::collections::{BTreeSet, HashMap};
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use o365_common::*;
use roster::apps::kit::retry::{SharedTimer, Timer};
use roster::apps::office365::{Office365Connector, RetryPolicy};
use roster::apps::{ChangeResult, ReadScope};
use roster::desired::{GroupKind, SecretRef};
use roster::observed::{MemberId, ObservedApp};
use roster::plan::{Action, Change, ObjectKind};
use serde_json::json;

fn id_of(o: &ObservedApp, login: &str) -> String {
    o.user_by_login(login)
        .unwrap_or_else(|| panic!("user {login} is live"))
        .id
        .clone()
}

fn group_of<'a>(o: &'a ObservedApp, name: &str) -> &'a roster::observed::ObservedGroup {
    o.group_by_name(name)
        .unwrap_or_else(|| panic!("group {name} is live"))
}

#[tokio::test]
async fn apply_and_read_back_every_kind_of_change() {
    let env = start(config()).await;
    let conn = env.connect().await;
    let empty = read_all(&conn).await;
    assert!(empty.users.is_empty());
    // The verified domains, and the tenant's initial onmicrosoft one, which is not
    // authorized unless listed.
    assert_eq!(
        empty
            .default_authorized_domains()
            .into_iter()
            .collect::<Vec<_>>(),
        vec![DOMAIN.to_string()]
    );
    let initial = empty.initial_domain.clone().expect("an initial domain");
    assert!(initial.ends_with(".onmicrosoft.com"), "{initial}");
    assert!(empty.verified_domains.contains(&initial));
    let sku = empty
        .skus
        .iter()
        .find(|s| s.part_number == SKU)
        .expect("sku");
    assert_eq!((sku.enabled, sku.consumed), (500, 0));
    assert!(empty.directory_id.is_some());

    // A password from a secret reference (password sync).
    std::fs::write(env.dir.path().join("alice.pw"), "Sup3r-Secret-Passw0rd!").expect("pw");
    let mut alice = user("alice");
    alice.job_title = Some("Rep".into());
    alice.password = Some(SecretRef::File("alice.pw".into()));
    let bob = user("bob");
    let carol = user("carol");
    let desired_state = desired(
        vec![alice.clone(), bob.clone(), carol.clone()],
        vec![
            group("Sales", GroupKind::Security),
            group("Team", GroupKind::Microsoft365),
            group("Nested", GroupKind::Security),
        ],
    );
    let changes = vec![
        group_create("Sales"),
        group_create("Team"),
        group_create("Nested"),
        user_create(&alice),
        user_create(&bob),
        user_create(&carol),
        license("alice", SKU, Action::Add),
        member("Sales", "alice", Action::Add),
        member("Sales", "bob", Action::Add),
        member("Sales", "group:Nested", Action::Add),
        member("Team", "carol", Action::Add),
    ];
    let rec = apply(&conn, &changes, &desired_state, &empty).await;
    assert_eq!(rec.failures(), vec![], "all applied");
    assert_eq!(rec.results().len(), changes.len(), "one outcome per change");
    let debug = format!("{:?}", rec.results());
    assert!(!debug.contains("Sup3r-Secret"), "no password in outcomes");

    let o = read_all(&conn).await;
    assert_eq!(o.users.len(), 3);
    let a = o.user_by_login("alice@contoso.com").expect("alice");
    assert_eq!(a.attribute("first_name"), Some("Firstalice"));
    assert_eq!(a.attribute("job_title"), Some("Rep"));
    assert_eq!(a.attribute("email"), Some("alice@contoso.com"));
    assert_eq!(a.attribute("usage_location"), Some("US"));
    assert_eq!(a.attribute("display_name"), Some("Firstalice Lastalice"));
    assert!(a.enabled);
    assert_eq!(a.licenses, BTreeSet::from([SKU.to_string()]));
    assert!(
        o.user_by_login("bob@contoso.com")
            .expect("bob")
            .licenses
            .is_empty()
    );
    // The user create's reported id is the live id.
    match rec.result_of(ObjectKind::User, "alice", Action::Create) {
        Some(ChangeResult::Applied { id: Some(id), .. }) => assert_eq!(id, a.id),
        other => panic!("alice create: {other:?}"),
    }
    assert_eq!(group_of(&o, "Team").kind, "microsoft365");
    assert_eq!(group_of(&o, "Sales").kind, "security");
    assert_eq!(
        group_of(&o, "Sales").description.as_deref(),
        Some("Sales group")
    );
    let sales_members = &group_of(&o, "Sales").member_ids;
    let expected: BTreeSet<MemberId> = [
        id_of(&o, "alice@contoso.com").into(),
        id_of(&o, "bob@contoso.com").into(),
        group_of(&o, "Nested").id.as_str().into(),
    ]
    .into();
    assert_eq!(sales_members, &expected);
    assert_eq!(
        group_of(&o, "Team").member_ids,
        BTreeSet::from([MemberId::from(id_of(&o, "carol@contoso.com"))])
    );
    assert_eq!(o.skus[0].consumed, 1, "one seat used");

    // Second round: updates, enable/disable, license removal, member removal, an add
    // that already exists, a create of a user that already exists, deletes.
    let changes2 = vec![
        user_update(
            "bob",
            &[("job_title", json!("Manager")), ("department", json!(null))],
        ),
        user_action("carol", Action::Disable),
        license("alice", SKU, Action::Remove),
        member("Sales", "alice", Action::Add),
        member("Sales", "bob", Action::Remove),
        member("Sales", "group:Nested", Action::Remove),
        user_create(&alice),
        user_action("carol", Action::Delete),
        group_delete("Nested"),
    ];
    let rec2 = apply(&conn, &changes2, &desired_state, &o).await;
    assert_eq!(rec2.failures(), vec![], "all applied");
    match rec2.result_of(ObjectKind::User, "alice", Action::Create) {
        Some(ChangeResult::Applied { id: Some(id), .. }) => {
            assert_eq!(id, a.id, "adopted, not duplicated")
        }
        other => panic!("alice re-create: {other:?}"),
    }
    let o2 = read_all(&conn).await;
    assert_eq!(o2.users.len(), 2, "carol deleted, alice not duplicated");
    let b = o2.user_by_login("bob@contoso.com").expect("bob");
    assert_eq!(b.attribute("job_title"), Some("Manager"));
    assert!(
        !b.attributes.contains_key("department"),
        "department cleared"
    );
    assert!(
        o2.user_by_login("alice@contoso.com")
            .expect("alice")
            .licenses
            .is_empty()
    );
    assert!(o2.group_by_name("Nested").is_none());
    assert_eq!(
        group_of(&o2, "Sales").member_ids,
        BTreeSet::from([MemberId::from(id_of(&o2, "alice@contoso.com"))])
    );
    assert_eq!(o2.skus[0].consumed, 0);

    // Removing what is already gone, and deleting what is already deleted, succeed.
    let changes3 = vec![
        member("Sales", "bob", Action::Remove),
        user_action("bob", Action::Enable),
    ];
    let rec3 = apply(&conn, &changes3, &desired_state, &o2).await;
    assert_eq!(rec3.failures(), vec![]);
    conn.close().await.expect("close");
    env.emu.shutdown().await.expect("shutdown");
}

#[tokio::test]
async fn failed_prerequisites_skip_their_dependants_and_report_request_ids() {
    let env = start(config()).await;
    let conn = env.connect().await;
    let empty = read_all(&conn).await;
    let mut outsider = user("dave");
    outsider.email = "dave@not-verified.example".into();
    let good = user("erin");
    let state = desired(
        vec![outsider.clone(), good.clone()],
        vec![group("Ops", GroupKind::Security)],
    );
    let changes = vec![
        group_create("Ops"),
        user_create(&outsider),
        user_create(&good),
        license("dave", SKU, Action::Add),
        license("erin", "NOSUCHSKU", Action::Add),
        member("Ops", "dave", Action::Add),
        member("Ops", "erin", Action::Add),
    ];
    let rec = apply(&conn, &changes, &state, &empty).await;
    match rec.result_of(ObjectKind::User, "dave", Action::Create) {
        Some(ChangeResult::Failed { error, request_id }) => {
            assert!(error.contains("400"), "{error}");
            assert!(request_id.is_some(), "request id reported");
        }
        other => panic!("dave create: {other:?}"),
    }
    assert!(matches!(
        rec.result_of(ObjectKind::License, "dave", Action::Add),
        Some(ChangeResult::SkippedDependency { .. })
    ));
    assert!(matches!(
        rec.result_of(ObjectKind::Membership, "Ops/dave", Action::Add),
        Some(ChangeResult::SkippedDependency { .. })
    ));
    match rec.result_of(ObjectKind::License, "erin", Action::Add) {
        Some(ChangeResult::Failed { error, .. }) => assert!(error.contains("NOSUCHSKU"), "{error}"),
        other => panic!("erin license: {other:?}"),
    }
    assert!(matches!(
        rec.result_of(ObjectKind::Membership, "Ops/erin", Action::Add),
        Some(ChangeResult::Applied { .. })
    ));
    assert_eq!(rec.results().len(), changes.len());
    env.emu.shutdown().await.expect("shutdown");
}

/// Builds a tenant of `u` users and `g` groups with `per_group` members each, through
/// the connector itself.
async fn populate(
    conn: &Office365Connector,
    u: usize,
    g: usize,
    per_group: usize,
) -> (roster::desired::DesiredState, Vec<Change>) {
    let users: Vec<_> = (0..u).map(|i| user(&format!("user{i:05}"))).collect();
    let groups: Vec<_> = (0..g)
        .map(|i| group(&format!("group{i:04}"), GroupKind::Security))
        .collect();
    let mut changes: Vec<Change> = groups.iter().map(|gr| group_create(&gr.name)).collect();
    changes.extend(users.iter().map(user_create));
    for (gi, gr) in groups.iter().enumerate() {
        for k in 0..per_group {
            let ui = (gi * 7 + k * 13) % u;
            changes.push(member(&gr.name, &users[ui].username, Action::Add));
        }
    }
    let mut seen = BTreeSet::new();
    changes.retain(|c| seen.insert((c.target.clone(), c.action)));
    changes.sort_by_key(|c| c.phase());
    let state = desired(users, groups);
    let empty = ObservedApp::default();
    let rec = apply(conn, &changes, &state, &empty).await;
    assert_eq!(rec.failures(), vec![], "population applied");
    (state, changes)
}

#[tokio::test]
async fn reads_and_writes_stay_at_the_request_floor() {
    let env = start(config()).await;
    let conn = env.connect().await;
    let (u, g, per_group) = (2500usize, 250usize, 12usize);
    let before = env.emu.stats();
    let (_state, changes) = populate(&conn, u, g, per_group).await;
    let after_write = env.emu.stats();
    let writes = after_write.writes - before.writes;
    let http = after_write.http_requests - before.http_requests;
    let member_adds = changes
        .iter()
        .filter(|c| c.object() == ObjectKind::Membership)
        .count();
    // Member adds go 20 per PATCH, so Graph sees fewer writes than changes.
    assert!(writes as usize >= u + g, "writes {writes}");
    assert!(writes as usize <= u + g + member_adds, "writes {writes}");
    let writes_floor = (u + g).div_ceil(20) as u64 + (writes - (u + g) as u64).div_ceil(20);
    println!(
        "populate: {} changes, {writes} Graph writes, {http} HTTP requests",
        changes.len()
    );
    assert!(
        http <= writes_floor + 4 + 3,
        "at most one HTTP request per 20 writes: {http} for {writes} writes"
    );

    // A full read of everything.
    let conn2 = env.connect().await;
    let s0 = env.emu.stats();
    let o = read_all(&conn2).await;
    let s1 = env.emu.stats();
    let reads = s1.http_requests - s0.http_requests;
    println!("full read: {reads} HTTP requests for {u} users, {g} groups");
    assert_eq!(o.users.len(), u);
    assert_eq!(o.groups.len(), g);
    let memberships: usize = o.groups.iter().map(|gr| gr.member_ids.len()).sum();
    assert_eq!(memberships, member_adds);
    assert!(reads <= read_floor(u, g, g) + 4, "{reads} requests");

    // Members of a few groups only.
    let wanted: BTreeSet<String> = o.groups.iter().take(30).map(|gr| gr.name.clone()).collect();
    let s2 = env.emu.stats();
    let o2 = conn2
        .read(&ReadScope {
            deleted_groups: Default::default(),
            managers: Default::default(),
            user_fields: Default::default(),
            member_groups: Some(wanted.clone()),
        })
        .await
        .expect("read");
    let s3 = env.emu.stats();
    let reads2 = s3.http_requests - s2.http_requests;
    assert!(
        reads2 <= read_floor(u, g, wanted.len()) + 4,
        "{reads2} requests"
    );
    for gr in &o2.groups {
        assert_eq!(
            gr.member_ids.is_empty(),
            !wanted.contains(&gr.name),
            "{}",
            gr.name
        );
    }
    env.emu.shutdown().await.expect("shutdown");
}

#[tokio::test]
async fn large_groups_page_their_members_through_later_batches() {
    let env = start(config()).await;
    let conn = env.connect().await;
    // 1,100 members in one group: two pages of members.
    let (_state, _changes) = populate(&conn, 1100, 1, 0).await;
    let o = read_all(&conn).await;
    let all: Vec<Change> = o
        .users
        .iter()
        .map(|u| {
            let name = u.login.split('@').next().unwrap_or_default().to_string();
            member("group0000", &name, Action::Add)
        })
        .collect();
    let state = desired(
        o.users
            .iter()
            .map(|u| user(u.login.split('@').next().unwrap_or_default()))
            .collect(),
        vec![group("group0000", GroupKind::Security)],
    );
    let rec = apply(&conn, &all, &state, &o).await;
    assert_eq!(rec.failures(), vec![]);
    let o2 = read_all(&conn).await;
    assert_eq!(group_of(&o2, "group0000").member_ids.len(), 1100);
    env.emu.shutdown().await.expect("shutdown");
}

#[tokio::test]
async fn faults_and_replication_lag_still_converge_without_duplicates() {
    let mut cfg = config();
    cfg.fault_rate = 0.05;
    cfg.replication_lag_ms = 500;
    cfg.seed = 7;
    cfg.test_clock = true;
    let env = start(cfg).await;
    let conn = env.connect().await;
    let (u, g, per_group) = (300usize, 30usize, 15usize);
    let (_state, changes) = populate(&conn, u, g, per_group).await;
    assert!(env.emu.stats().faults > 0, "faults were injected");
    env.emu
        .advance_clock(std::time::Duration::from_millis(500))
        .expect("test clock");
    let o = read_all(&conn).await;
    assert_eq!(o.users.len(), u, "no duplicate or missing users");
    let names: BTreeSet<&str> = o.groups.iter().map(|gr| gr.name.as_str()).collect();
    assert_eq!(o.groups.len(), g, "no duplicate groups");
    assert_eq!(names.len(), g);
    let by_id: HashMap<&str, &str> = o
        .users
        .iter()
        .map(|u| (u.id.as_str(), u.login.as_str()))
        .collect();
    for c in changes
        .iter()
        .filter(|c| c.object() == ObjectKind::Membership)
    {
        let k = c.membership().expect("a membership");
        let (gname, uname) = (k.group.as_str(), k.member.name());
        let gr = group_of(&o, gname);
        assert!(
            gr.member_ids
                .iter()
                .any(|id| by_id.get(id.as_str()) == Some(&format!("{uname}@{DOMAIN}").as_str())),
            "{gname}/{uname} is a member"
        );
    }
    env.emu.shutdown().await.expect("shutdown");
}

/// The connector's retry timer on the emulator's test clock: a wait moves that clock to
/// its deadline at once instead of sleeping, and the waits are added up. The client and
/// the emulator read the same clock, so no request reaches the emulator earlier than
/// the client meant to send it. Waits that would overlap in a real run follow one
/// another here (a wait jumps the clock while other requests are still in flight), so
/// this clock runs ahead of the wall clock of a real run.
#[derive(Debug)]
struct EmulatorTimer {
    clock: Arc<roster::emulator::clock::Clock>,
    waited: Mutex<Duration>,
}

impl Timer for EmulatorTimer {
    fn now(&self) -> Instant {
        self.clock.instant()
    }
    fn sleep_until(&self, deadline: Instant) -> Pin<Box<dyn Future<Output = ()> + Send + '_>> {
        let ahead = deadline.saturating_duration_since(self.clock.instant());
        if !ahead.is_zero() {
            self.clock.advance(ahead);
            *self.waited.lock().expect("timer lock") += ahead;
        }
        Box::pin(tokio::task::yield_now())
    }
}

#[tokio::test]
async fn throttling_is_honoured_and_converges() {
    // A budget of 6 requests per second (burst 60): the apply must wait for it. The
    // waits go to the emulator's test clock, so no wall-clock time is spent on them.
    let mut cfg = config();
    cfg.ru_per_10s = Some(60);
    cfg.test_clock = true;
    let env = start(cfg).await;
    let timer = Arc::new(EmulatorTimer {
        clock: env.emu.test_clock().expect("a test clock"),
        waited: Mutex::new(Duration::ZERO),
    });
    let policy = RetryPolicy {
        timer: SharedTimer(timer.clone()),
        ..RetryPolicy::graph()
    };
    let conn = Office365Connector::connect_with(&env.app, &env.ctx, policy)
        .await
        .expect("connects");
    let (u, g) = (120usize, 6usize);
    let t0 = Instant::now();
    let (_state, changes) = populate(&conn, u, g, 5).await;
    let elapsed = t0.elapsed();
    let waited = *timer.waited.lock().expect("timer lock");
    let s = env.emu.stats();
    println!(
        "throttled {} of {} requests ({} HTTP, {} writes) for {} changes: {waited:?} waited \
         on the test clock (longest Retry-After {} ms) in {elapsed:?}",
        s.throttled,
        s.requests,
        s.http_requests,
        s.writes,
        changes.len(),
        s.max_retry_after_ms,
    );
    assert!(s.throttled > 0, "the budget was exceeded");
    // Pacing keeps refusals and extra batches few: within twice the batching floor.
    let floor = s.writes.div_ceil(20);
    assert!(
        s.http_requests <= 2 * floor + 6,
        "{} HTTP requests for {} writes",
        s.http_requests,
        s.writes
    );
    // Retry-After was honoured: a refused request was sent again only after the wait
    // it was given, so the client's clock moved on by at least the longest one (less
    // the little wall-clock time the run took).
    assert!(
        waited + elapsed >= Duration::from_millis(s.max_retry_after_ms),
        "waited {waited:?} in {elapsed:?}; the service asked for {} ms",
        s.max_retry_after_ms
    );
    // And the waits cover the budget: the writes beyond the burst of 60 come in at 6 per
    // second of the clock.
    let needed = Duration::from_secs_f64(s.writes.saturating_sub(60) as f64 / 6.0);
    assert!(
        waited + elapsed >= needed,
        "waited {waited:?} in {elapsed:?} for {} writes",
        s.writes
    );
    let o = read_all(&conn).await;
    assert_eq!(o.users.len(), u);
    assert_eq!(o.groups.len(), g);
    env.emu.shutdown().await.expect("shutdown");
}
