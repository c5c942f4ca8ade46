//! The apply driver shared by every connector.
//!
//! [`apply`] carries out one app's changes: phase by phase in [`Phase::APPLY_ORDER`],
//! each change handed to the connector's [`PhaseWriter`] only when nothing it depends on
//! failed (otherwise it is recorded as skipped, naming the failed change), changes the
//! connector does not support failed with the reason, and every outcome streamed to the
//! [`OutcomeSink`] (report log and terminal) as soon as it is known. The [`Run`] it
//! hands the writer knows the live ids: the observed ones and those of objects created
//! earlier in the run. After the last phase any change the writer left without an
//! outcome is recorded as failed, so every change ends applied, failed or skipped.
//!
//! Before any of that, a change the app's settings forbid (a switch that is off, an
//! `ignore` pattern, outside the management scope) is refused ([`super::guard`]), so no
//! plan can make a connector do it. (A library caller whose desired state does not
//! define the app has no settings to check: the CLI always has them.)
//!
//! A connector supplies only its protocol: the writes of one phase (batched or one by
//! one, as its service allows), recording each change's result through [`Run::record`].

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::sync::Mutex;

use super::guard::Guard;
use crate::apps::{ApplyInput, ChangeResult, OutcomeSink};
use crate::desired::User;
use crate::plan::{Action, Change, Member, Phase, Target};

/// The write side of a connector's protocol.
pub trait PhaseWriter {
    /// The app type, for messages (`office365`, `active_directory`, `scim`).
    const TYPE: &'static str;

    /// The login of a repository user in this app (how observed users are matched):
    /// the username unless the app logs in by email.
    fn login(&self, user: &User) -> String {
        user.username.clone()
    }

    /// Whether this connector can carry out such a change at all: users, groups and
    /// memberships unless the app has licenses too.
    fn supports(&self, change: &Change) -> bool {
        !matches!(change.phase(), Phase::Licenses | Phase::Other)
    }

    /// Carries out the changes `idx` (indexes into [`Run::changes`], plan order, all of
    /// one `phase`, none depending on a failed change), recording each outcome with
    /// [`Run::record`]. A change left unrecorded ends as failed.
    fn write_phase(
        &mut self,
        phase: Phase,
        idx: &[usize],
        run: &Run<'_>,
    ) -> impl Future<Output = ()> + Send;
}

/// A connector's writer with the run it writes in: what the code of one phase sees.
/// It dereferences to the writer, so protocol code reads `self.graph`, `self.app`….
pub struct Step<'s, 'r, W> {
    pub w: &'s W,
    pub run: &'s Run<'r>,
}

impl<W> std::ops::Deref for Step<'_, '_, W> {
    type Target = W;
    fn deref(&self) -> &W {
        self.w
    }
}

impl<W> Step<'_, '_, W> {
    pub fn change(&self, i: usize) -> &Change {
        self.run.change(i)
    }

    pub fn report(&self, i: usize, result: ChangeResult) {
        self.run.record(i, result);
    }
}

/// The non-empty phases of `changes` in apply order, each with the indexes of its
/// changes in plan order.
pub fn phases(changes: &[Change]) -> Vec<(Phase, Vec<usize>)> {
    Phase::APPLY_ORDER
        .iter()
        .filter_map(|&phase| {
            let idx: Vec<usize> = (0..changes.len())
                .filter(|&i| changes[i].phase() == phase)
                .collect();
            (!idx.is_empty()).then_some((phase, idx))
        })
        .collect()
}

/// The labels (`user:KEY`, `group:NAME`) of the objects a change needs to exist before
/// it can run; creates need nothing.
pub fn dependencies(c: &Change) -> Vec<String> {
    if matches!(c.action, Action::Create | Action::Restore) {
        return Vec::new();
    }
    match &c.target {
        Target::User(k) | Target::License { user: k, .. } => vec![format!("user:{k}")],
        Target::Manager { user } => {
            let mut d = vec![format!("user:{user}")];
            d.extend(c.manager().map(|m| format!("user:{m}")));
            d
        }
        Target::Group(g) => vec![format!("group:{g}")],
        Target::Membership(k) => vec![format!("group:{}", k.group), k.member.label()],
    }
}

/// `user:KEY` / `group:NAME` → `user KEY` / `group NAME`, as a skip names it.
fn words(label: &str) -> String {
    label.replacen(':', " ", 1)
}

/// Carries out `input.changes` (all of one app, plan order) through `writer`.
/// Errors only when handed changes of another app (nothing is written then).
pub async fn apply<W: PhaseWriter>(
    app: &str,
    writer: &mut W,
    input: &ApplyInput<'_>,
    sink: &dyn OutcomeSink,
) -> anyhow::Result<()> {
    if let Some(c) = input.changes.iter().find(|c| c.app != app) {
        anyhow::bail!("asked to apply a change of app {} ({})", c.app, c.key());
    }
    let mapping = input.desired.app(app).map(crate::mapping::Mapping::lenient);
    let run = Run::new(input, sink, |u| match &mapping {
        Some(m) => m.login_of(u),
        None => writer.login(u),
    });
    let guard = input
        .desired
        .app(app)
        .map(|a| Guard::new(a, input.desired, input.observed, input.changes));
    for (phase, idx) in phases(input.changes) {
        if super::interrupt::requested() {
            // Interrupted: no further phase starts; what it holds stays unrecorded (not
            // attempted), so the report log holds exactly what was attempted.
            return Ok(());
        }
        let mut ready = Vec::with_capacity(idx.len());
        for i in idx {
            let c = &input.changes[i];
            if let Some(why) = guard.as_ref().and_then(|g| g.refusal(c)) {
                run.fail(i, why);
            } else if let Some(on) = run.failed_dependency(c) {
                run.record(i, ChangeResult::SkippedDependency { on });
            } else if !writer.supports(c) {
                run.record(
                    i,
                    ChangeResult::Failed {
                        error: format!(
                            "{} of a {} is not something the {} connector can do",
                            c.action,
                            c.object(),
                            W::TYPE
                        ),
                        request_id: None,
                    },
                );
            } else {
                ready.push(i);
            }
        }
        if !ready.is_empty() {
            writer.write_phase(phase, &ready, &run).await;
        }
    }
    run.finish();
    Ok(())
}

/// What an apply knows while it runs; shared by the tasks of one connector.
pub struct Run<'a> {
    changes: &'a [Change],
    sink: &'a dyn OutcomeSink,
    /// Repository username → lower-cased login (users the repository knows).
    logins: HashMap<&'a str, String>,
    state: Mutex<RunState>,
}

#[derive(Default)]
struct RunState {
    /// Lower-cased login → id (observed, then created in this run).
    users: HashMap<String, String>,
    /// Group name → id.
    groups: HashMap<String, String>,
    /// Labels of objects whose create failed.
    failed: HashSet<String>,
    /// Ids of objects created in this run (reads of them may lag).
    created: HashSet<String>,
    recorded: Vec<bool>,
}

impl<'a> Run<'a> {
    fn new(
        input: &ApplyInput<'a>,
        sink: &'a dyn OutcomeSink,
        login: impl Fn(&User) -> String,
    ) -> Run<'a> {
        let mut st = RunState {
            recorded: vec![false; input.changes.len()],
            ..RunState::default()
        };
        for u in &input.observed.users {
            st.users
                .entry(u.login.to_lowercase())
                .or_insert_with(|| u.id.clone());
        }
        let mut groups: Vec<_> = input.observed.groups.iter().collect();
        groups.sort_by(|a, b| crate::observed::canonical_group_order(a, b));
        for g in groups {
            st.groups
                .entry(g.name.clone())
                .or_insert_with(|| g.id.clone());
        }
        let logins: HashMap<&str, String> = input
            .desired
            .users
            .iter()
            .map(|u| (u.username.as_str(), login(u).to_lowercase()))
            .collect();
        // A user change planned against a live object names its id: a rename's new
        // login (or a restored account's) is known by that id before the write lands,
        // so managers and memberships of the renamed user resolve in the same run.
        for c in input.changes {
            if let (Target::User(k), Some(id), Action::Update | Action::Restore) =
                (&c.target, &c.id, c.action)
            {
                let login = logins
                    .get(k.as_str())
                    .cloned()
                    .unwrap_or_else(|| k.to_lowercase());
                st.users.entry(login).or_insert_with(|| id.clone());
            }
        }
        Run {
            changes: input.changes,
            sink,
            logins,
            state: Mutex::new(st),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, RunState> {
        // A panic elsewhere cannot leave the maps half-updated (each update is one
        // insert), so a poisoned lock is still usable.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn change(&self, i: usize) -> &'a Change {
        &self.changes[i]
    }

    /// Records change `i`'s outcome (streamed to the sink at once) and learns from it:
    /// an applied create's id, a failed create's label. A second outcome for the same
    /// change is ignored.
    pub fn record(&self, i: usize, result: ChangeResult) {
        let c = &self.changes[i];
        {
            let mut st = self.lock();
            if std::mem::replace(&mut st.recorded[i], true) {
                return;
            }
            if matches!(c.action, Action::Create | Action::Restore) {
                match (&c.target, &result) {
                    (Target::User(k), ChangeResult::Applied { id: Some(id), .. }) => {
                        let login = self.login_of(k);
                        st.users.insert(login, id.clone());
                        st.created.insert(id.clone());
                    }
                    (Target::Group(g), ChangeResult::Applied { id: Some(id), .. }) => {
                        st.groups.insert(g.clone(), id.clone());
                        st.created.insert(id.clone());
                    }
                    (Target::User(k), r) if r.is_failure() => {
                        st.failed.insert(format!("user:{k}"));
                    }
                    (Target::Group(g), r) if r.is_failure() => {
                        st.failed.insert(format!("group:{g}"));
                    }
                    _ => {}
                }
            }
        }
        self.sink.record(c, &result);
    }

    /// The outcomes of one batch response are recorded (see [`OutcomeSink::batch_done`]).
    pub fn batch_done(&self) {
        self.sink.batch_done();
    }

    /// Records a failure with the service's words.
    pub fn fail(&self, i: usize, error: impl Into<String>) {
        self.record(
            i,
            ChangeResult::Failed {
                error: error.into(),
                request_id: None,
            },
        );
    }

    /// The first object change `c` depends on whose create failed, in words.
    pub fn failed_dependency(&self, c: &Change) -> Option<String> {
        let st = self.lock();
        dependencies(c)
            .into_iter()
            .find(|l| st.failed.contains(l))
            .map(|l| words(&l))
    }

    /// The lower-cased login of a user key: the repository user's login in this app,
    /// or the key itself (a live login the repository does not know).
    pub fn login_of(&self, key: &str) -> String {
        self.logins
            .get(key)
            .cloned()
            .unwrap_or_else(|| key.to_lowercase())
    }

    /// The live id of a user by key; `fallback` is the change's own `id`.
    pub fn user_id(&self, key: &str, fallback: Option<&String>) -> Result<String, ChangeResult> {
        let st = self.lock();
        if st.failed.contains(&format!("user:{key}")) {
            return Err(ChangeResult::SkippedDependency {
                on: format!("user {key}"),
            });
        }
        if let Some(id) = st.users.get(&self.login_of(key)) {
            return Ok(id.clone());
        }
        fallback.cloned().ok_or_else(|| ChangeResult::Failed {
            error: format!("user {key} has no live object"),
            request_id: None,
        })
    }

    /// The live id of a group by name; `fallback` is the change's own `id`.
    pub fn group_id(&self, name: &str, fallback: Option<&String>) -> Result<String, ChangeResult> {
        let st = self.lock();
        if st.failed.contains(&format!("group:{name}")) {
            return Err(ChangeResult::SkippedDependency {
                on: format!("group {name}"),
            });
        }
        if let Some(id) = st.groups.get(name) {
            return Ok(id.clone());
        }
        fallback.cloned().ok_or_else(|| ChangeResult::Failed {
            error: format!("group {name} has no live object"),
            request_id: None,
        })
    }

    /// The live id of the group that change `i` deletes: the id the plan names (a
    /// duplicate of a name is deleted by its own id, never by the name's managed one),
    /// else the group's by name.
    pub fn deleted_group_id(&self, i: usize) -> Result<String, ChangeResult> {
        let c = self.change(i);
        match &c.id {
            Some(id) => Ok(id.clone()),
            None => self.group_id(&c.key(), None),
        }
    }

    /// The live id of a membership's member.
    pub fn member_id(&self, member: &Member) -> Result<String, ChangeResult> {
        match member {
            Member::User(k) => self.user_id(k, None),
            Member::Group(g) => self.group_id(g, None),
        }
    }

    /// The live ids (group, member) of membership change `i`. The member falls back to
    /// the change's own `id` (its live id when planned).
    pub fn membership_ids(&self, i: usize) -> Result<(String, String), ChangeResult> {
        let c = self.change(i);
        let Some(k) = c.membership() else {
            return Err(ChangeResult::Failed {
                error: "not a membership change".into(),
                request_id: None,
            });
        };
        let gid = self.group_id(&k.group, None)?;
        let mid = match &k.member {
            Member::User(u) => self.user_id(u, c.id.as_ref()),
            Member::Group(g) => self.group_id(g, c.id.as_ref()),
        }?;
        Ok((gid, mid))
    }

    /// Whether `id` was created in this run (its reads may lag behind).
    pub fn created_in_run(&self, id: &str) -> bool {
        self.lock().created.contains(id)
    }

    /// Changes left without an outcome fail: nothing ends unaccounted for — except
    /// after an interrupt, when the ones never sent stay unrecorded (not attempted).
    fn finish(&self) {
        if super::interrupt::requested() {
            return;
        }
        let missing: Vec<usize> = {
            let st = self.lock();
            (0..self.changes.len())
                .filter(|&i| !st.recorded[i])
                .collect()
        };
        for i in missing {
            self.fail(
                i,
                "the connector ended without an outcome for this change (not applied)",
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::desired::DesiredState;
    use crate::observed::{ObservedApp, ObservedUser};
    use crate::plan::{MembershipKey, ObjectKind};

    fn change(target: Target, action: Action) -> Change {
        Change {
            app: "a".into(),
            target,
            action,
            id: None,
            before: None,
            after: None,
            reason: String::new(),
        }
    }

    #[test]
    fn phases_follow_the_apply_order_and_skip_empty_ones() {
        let t = |k: ObjectKind, key: &str| Target::of(k, key).unwrap();
        let changes = [
            change(t(ObjectKind::User, "old"), Action::Delete),
            change(t(ObjectKind::Membership, "g/alice"), Action::Add),
            change(t(ObjectKind::User, "alice"), Action::Create),
            change(t(ObjectKind::Group, "g"), Action::Create),
            change(t(ObjectKind::User, "bob"), Action::Update),
        ];
        assert_eq!(
            phases(&changes),
            vec![
                (Phase::CreateGroups, vec![3]),
                (Phase::CreateUpdateEnableUsers, vec![2, 4]),
                (Phase::MembershipAdds, vec![1]),
                (Phase::DisableDeleteUsers, vec![0]),
            ]
        );
        assert!(phases(&[]).is_empty());
    }

    #[derive(Default)]
    struct Log(Mutex<Vec<(String, ChangeResult)>>);
    impl OutcomeSink for Log {
        fn record(&self, change: &Change, result: &ChangeResult) {
            self.0
                .lock()
                .unwrap()
                .push((change.key().into_owned(), result.clone()));
        }
    }

    /// Fails every user create, applies everything else, and leaves licenses unrecorded.
    struct Flaky {
        seen: Vec<String>,
    }
    impl PhaseWriter for Flaky {
        const TYPE: &'static str = "test";
        fn login(&self, user: &User) -> String {
            user.email.clone()
        }
        fn supports(&self, c: &Change) -> bool {
            c.object() != ObjectKind::Group || c.action != Action::Update
        }
        async fn write_phase(&mut self, _phase: Phase, idx: &[usize], run: &Run<'_>) {
            for &i in idx {
                let c = run.change(i);
                self.seen.push(c.key().into_owned());
                match (c.object(), c.action) {
                    (ObjectKind::User, Action::Create) => run.fail(i, "refused"),
                    (ObjectKind::License, _) => {}
                    (ObjectKind::Group, Action::Create) => run.record(
                        i,
                        ChangeResult::Applied {
                            id: Some("g-1".into()),
                            request_id: None,
                        },
                    ),
                    (ObjectKind::Membership, _) => {
                        let k = c.membership().unwrap();
                        let gid = run.group_id(&k.group, None);
                        assert_eq!(gid, Ok("g-1".to_string()), "created ids are known");
                        let mid = run.member_id(&k.member);
                        assert_eq!(mid, Ok("u-bob".to_string()), "observed ids are known");
                        run.record(
                            i,
                            ChangeResult::Applied {
                                id: None,
                                request_id: None,
                            },
                        );
                    }
                    _ => run.record(
                        i,
                        ChangeResult::Applied {
                            id: None,
                            request_id: None,
                        },
                    ),
                }
            }
        }
    }

    #[tokio::test]
    async fn dependants_of_failed_creates_are_skipped_and_nothing_is_left_unrecorded() {
        let m = |g: &str, u: &str| {
            Target::Membership(MembershipKey {
                group: g.into(),
                member: Member::parse(u),
            })
        };
        let changes = vec![
            change(Target::Group("g".into()), Action::Create),
            change(Target::Group("h".into()), Action::Update),
            change(Target::User("alice".into()), Action::Create),
            change(
                Target::License {
                    user: "bob".into(),
                    sku: "E3".into(),
                },
                Action::Add,
            ),
            change(m("g", "alice"), Action::Add),
            change(m("g", "bob"), Action::Add),
            change(Target::User("alice".into()), Action::Disable),
        ];
        let mut desired = DesiredState::default();
        desired.users.push(User {
            attributes: Default::default(),
            manager: Default::default(),
            previous_usernames: Default::default(),
            start_date: None,
            end_date: None,
            username: "bob".into(),
            email: "Bob@example.com".into(),
            first_name: "Bob".into(),
            last_name: "B".into(),
            display_name: None,
            enabled: true,
            department: None,
            job_title: None,
            employee_id: None,
            usage_location: None,
            mobile_phone: None,
            licenses: vec![],
            password: None,
            immutable_id: None,
        });
        let observed = ObservedApp {
            users: vec![ObservedUser {
                id: "u-bob".into(),
                login: "bob@example.com".into(),
                ..ObservedUser::default()
            }],
            ..ObservedApp::default()
        };
        let input = ApplyInput {
            changes: &changes,
            desired: &desired,
            observed: &observed,
        };
        let log = Log::default();
        let mut w = Flaky { seen: vec![] };
        apply("a", &mut w, &input, &log).await.unwrap();
        assert_eq!(
            w.seen,
            ["g", "alice", "bob", "g/bob"],
            "dependants never reach the writer"
        );
        let got = log.0.into_inner().unwrap();
        let of = |k: &str| -> Vec<&ChangeResult> {
            got.iter()
                .filter(|(key, _)| key == k)
                .map(|(_, r)| r)
                .collect()
        };
        assert!(
            matches!(of("h")[0], ChangeResult::Failed { error, .. } if error.contains("not something"))
        );
        assert_eq!(
            of("g/alice"),
            [&ChangeResult::SkippedDependency {
                on: "user alice".into()
            }]
        );
        assert!(matches!(of("g/bob")[0], ChangeResult::Applied { .. }));
        // alice: the failed create, then the skipped disable.
        assert_eq!(of("alice").len(), 2);
        assert!(
            matches!(of("bob")[0], ChangeResult::Failed { error, .. } if error.contains("without an outcome"))
        );
        assert_eq!(got.len(), changes.len(), "one outcome per change");

        let other = vec![Change {
            app: "b".into(),
            ..changes[0].clone()
        }];
        let input = ApplyInput {
            changes: &other,
            desired: &desired,
            observed: &observed,
        };
        let log = Log::default();
        assert!(apply("a", &mut w, &input, &log).await.is_err());
        assert!(log.0.into_inner().unwrap().is_empty());
    }

    /// A rename is an update of the live object under the new username: its id is known
    /// by the new login at once, so a manager change of the renamed user (or naming it)
    /// resolves in the same run.
    #[test]
    fn a_renamed_user_is_known_by_its_new_login() {
        let mut desired = DesiredState::default();
        desired.users.push(User {
            attributes: Default::default(),
            manager: None,
            previous_usernames: vec!["bob".into()],
            start_date: None,
            end_date: None,
            username: "robert".into(),
            email: "robert@example.com".into(),
            first_name: "Robert".into(),
            last_name: "B".into(),
            display_name: None,
            enabled: true,
            department: None,
            job_title: None,
            employee_id: None,
            usage_location: None,
            mobile_phone: None,
            licenses: vec![],
            password: None,
            immutable_id: None,
        });
        let observed = ObservedApp {
            users: vec![ObservedUser {
                id: "u-bob".into(),
                login: "bob@example.com".into(),
                ..ObservedUser::default()
            }],
            ..ObservedApp::default()
        };
        let mut rename = change(Target::User("robert".into()), Action::Update);
        rename.id = Some("u-bob".into());
        let changes = vec![rename];
        let input = ApplyInput {
            changes: &changes,
            desired: &desired,
            observed: &observed,
        };
        let log = Log::default();
        let run = Run::new(&input, &log, |u: &User| u.email.clone());
        assert_eq!(run.user_id("robert", None), Ok("u-bob".to_string()));
        assert_eq!(
            run.member_id(&Member::parse("robert")),
            Ok("u-bob".to_string())
        );
        assert!(run.user_id("nobody", None).is_err());
    }
}
