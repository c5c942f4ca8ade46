//! Shared helpers of the office365 connector tests: an emulator started in-process,
//! an app pointed at it, change builders and an outcome recorder.
#![allow(dead_code)]

pub mod keys;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Mutex;

use roster::apps::office365::Office365Connector;
use roster::apps::{ApplyInput, ChangeResult, ConnectContext, OutcomeSink, ReadScope};
use roster::desired::{
    DesiredState, Group, GroupKind, Office365App, Office365Credentials, SecretRef, Switches, User,
};
use roster::emulator::{EmulatorConfig, EmulatorHandle};
use roster::observed::ObservedApp;
use roster::plan::{Action, Change, Member, MembershipKey, ObjectKind, Target};
use serde_json::{Value, json};
use tempfile::TempDir;

pub const APP: &str = "o365";
pub const TENANT: &str = "contoso";
pub const CLIENT_ID: &str = "11111111-2222-3333-4444-555555555555";
pub const CLIENT_SECRET: &str = "correct-horse-battery-staple";
pub const DOMAIN: &str = "contoso.com";
pub const SKU: &str = "ENTERPRISEPACK";

/// A running emulator, a repository directory holding the secret file, and the app.
pub struct Env {
    pub emu: EmulatorHandle,
    pub dir: TempDir,
    pub app: Office365App,
    pub ctx: ConnectContext,
}

/// The default emulator settings of the tests: one client, one SKU with 500 seats.
pub fn config() -> EmulatorConfig {
    EmulatorConfig {
        tenant: TENANT.into(),
        domains: vec![DOMAIN.into()],
        skus: vec![(SKU.into(), 500)],
        clients: vec![(CLIENT_ID.into(), CLIENT_SECRET.into())],
        ..EmulatorConfig::default()
    }
}

pub async fn start(cfg: EmulatorConfig) -> Env {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("secret.txt"), format!("{CLIENT_SECRET}\n")).expect("secret");
    let emu = roster::emulator::start(cfg, SocketAddr::from(([127, 0, 0, 1], 0)))
        .await
        .expect("emulator starts");
    let base = emu.base_url();
    let app = Office365App {
        joiner: None,
        leaver: None,
        attribute_map: Default::default(),
        on_create: Default::default(),
        name: APP.into(),
        tenant: Some(TENANT.into()),
        client_id: Some(CLIENT_ID.into()),
        credentials: Some(Office365Credentials::ClientSecret(SecretRef::File(
            "secret.txt".into(),
        ))),
        graph_url: Some(base.clone()),
        login_url: Some(base),
        tls: None,
        sandbox: None,
        authorized_domains: Some(vec![DOMAIN.into()]),
        switches: Switches::default(),
        ignore: Vec::new(),
        max_deletes: None,
        manage_guests: false,
        manage_role_assignable_groups: false,
        sandbox_seed: None,
    };
    let ctx = ConnectContext {
        repo_root: dir.path().to_path_buf(),
        cache_dir: None,
    };
    Env { emu, dir, app, ctx }
}

impl Env {
    pub async fn connect(&self) -> Office365Connector {
        Office365Connector::connect(&self.app, &self.ctx)
            .await
            .expect("connects")
    }
}

/// Records every outcome, in arrival order.
#[derive(Default)]
pub struct Recorder(pub Mutex<Vec<(Change, ChangeResult)>>);

impl OutcomeSink for Recorder {
    fn record(&self, change: &Change, result: &ChangeResult) {
        self.0
            .lock()
            .expect("recorder lock")
            .push((change.clone(), result.clone()));
    }
}

impl Recorder {
    pub fn results(&self) -> Vec<(Change, ChangeResult)> {
        self.0.lock().expect("recorder lock").clone()
    }
    pub fn failures(&self) -> Vec<(Change, ChangeResult)> {
        self.results()
            .into_iter()
            .filter(|(_, r)| r.is_failure())
            .collect()
    }
    pub fn result_of(&self, object: ObjectKind, key: &str, action: Action) -> Option<ChangeResult> {
        self.results()
            .into_iter()
            .find(|(c, _)| c.object() == object && c.key() == key && c.action == action)
            .map(|(_, r)| r)
    }
}

pub fn user(username: &str) -> User {
    User {
        start_date: None,
        end_date: None,
        attributes: Default::default(),
        manager: Default::default(),
        previous_usernames: Default::default(),
        username: username.into(),
        email: format!("{username}@{DOMAIN}"),
        first_name: format!("First{username}"),
        last_name: format!("Last{username}"),
        display_name: None,
        enabled: true,
        department: Some("Sales".into()),
        job_title: None,
        employee_id: None,
        usage_location: Some("US".into()),
        mobile_phone: None,
        licenses: Vec::new(),
        password: None,
        immutable_id: None,
    }
}

pub fn group(name: &str, kind: GroupKind) -> Group {
    Group {
        name: name.into(),
        description: Some(format!("{name} group")),
        members: Vec::new(),
        kind: Some(kind),
        membership: None,
    }
}

pub fn desired(users: Vec<User>, groups: Vec<Group>) -> DesiredState {
    DesiredState {
        users,
        groups,
        ..DesiredState::default()
    }
}

fn change(object: ObjectKind, key: &str, action: Action) -> Change {
    Change {
        app: APP.into(),
        target: Target::of(object, key).expect("a valid target"),
        action,
        id: None,
        before: None,
        after: None,
        reason: "test".into(),
    }
}

pub fn user_create(u: &User) -> Change {
    let mut after = BTreeMap::new();
    after.insert("email".to_string(), json!(u.email));
    after.insert("first_name".to_string(), json!(u.first_name));
    after.insert("last_name".to_string(), json!(u.last_name));
    after.insert("display_name".to_string(), json!(u.display_name()));
    // A planned create carries every mapped attribute the repository gives.
    for (k, v) in [
        ("department", &u.department),
        ("job_title", &u.job_title),
        ("employee_id", &u.employee_id),
        ("usage_location", &u.usage_location),
        ("mobile_phone", &u.mobile_phone),
    ] {
        if let Some(v) = v {
            after.insert(k.to_string(), json!(v));
        }
    }
    let mut c = change(ObjectKind::User, &u.username, Action::Create);
    c.after = Some(after);
    c
}

pub fn user_update(username: &str, after: &[(&str, Value)]) -> Change {
    let mut c = change(ObjectKind::User, username, Action::Update);
    c.after = Some(
        after
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect(),
    );
    c
}

pub fn user_action(username: &str, action: Action) -> Change {
    change(ObjectKind::User, username, action)
}

pub fn group_create(name: &str) -> Change {
    change(ObjectKind::Group, name, Action::Create)
}

pub fn group_delete(name: &str) -> Change {
    change(ObjectKind::Group, name, Action::Delete)
}

pub fn license(username: &str, sku: &str, action: Action) -> Change {
    let mut c = change(ObjectKind::User, username, action);
    c.target = Target::License {
        user: username.into(),
        sku: sku.into(),
    };
    c
}

pub fn member(group: &str, member: &str, action: Action) -> Change {
    let mut c = change(ObjectKind::User, group, action);
    c.target = Target::Membership(MembershipKey {
        group: group.into(),
        member: Member::parse(member),
    });
    c
}

/// Applies changes and returns the recorder.
pub async fn apply(
    conn: &Office365Connector,
    changes: &[Change],
    desired: &DesiredState,
    observed: &ObservedApp,
) -> Recorder {
    let rec = Recorder::default();
    conn.apply(
        ApplyInput {
            changes,
            desired,
            observed,
        },
        &rec,
    )
    .await
    .expect("apply runs");
    rec
}

pub async fn read_all(conn: &Office365Connector) -> ObservedApp {
    conn.read(&ReadScope::default()).await.expect("read")
}

/// The number of requests the read formula allows, plus `constant`.
pub fn read_floor(users: usize, groups: usize, member_groups: usize) -> u64 {
    (users.div_ceil(999) + groups.div_ceil(999) + member_groups.div_ceil(20)) as u64
}
