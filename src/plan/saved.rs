//! Saved plan files: the plan plus what `apply` needs to refuse a stale plan.
//!
//! `plan --out FILE` stores the changes together with the commit they were planned
//! from, a digest of each app's settings and a fingerprint of every live object the
//! changes depend on. `apply FILE` re-reads live state and calls [`SavedPlan::check`]:
//! if anything it depends on differs, the plan is refused as stale, naming what
//! changed. Fingerprints are SHA-256 digests of observed data; no secret is stored
//! (app settings hold secret references only, never values).

use std::collections::BTreeMap;
use std::fmt;

use anyhow::{Context, anyhow, bail};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::desired::{App, DesiredState, UserIndex};
use crate::observed::{ObservedApp, ObservedGroup, ObservedIndex, ObservedIndexes, ObservedUser};
use crate::plan::planner::login_for;
use crate::plan::{Action, Change, FORMAT_VERSION, Member, ObjectKind, Plan};

/// The version of the saved-plan file layout this build writes and reads.
pub const SAVED_PLAN_VERSION: &str = "1";

/// What a fingerprint records for an object that did not exist when planning.
pub const ABSENT: &str = "absent";

/// A plan as written by `plan --out` and read by `apply PLANFILE`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SavedPlan {
    /// Always [`SAVED_PLAN_VERSION`] in files this build writes.
    pub saved_plan_version: String,
    #[serde(with = "super::wire::as_wire")]
    pub plan: Plan,
    /// SHA-256 (hex) of the desired state the plan was made from, as parsed: the same
    /// on a merge, squash or rebase commit with identical YAML content, and unchanged by
    /// comments, formatting or files that are not YAML. Absent in older files, which
    /// are then bound to their commit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub desired_digest: Option<String>,
    /// Per planned app: what the plan depends on.
    pub apps: BTreeMap<String, SavedApp>,
    /// The day (YYYY-MM-DD) the plan was made for (`plan --at`); `apply` verifies it
    /// with a fresh plan for the same day. Absent in older files: the day of the apply.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub planned_for: Option<String>,
}

/// What one app's part of a saved plan depends on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SavedApp {
    /// SHA-256 (hex) of the app's settings as serialized JSON.
    pub settings_digest: String,
    /// The live directory the plan was made against.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub directory_id: Option<String>,
    /// Object label (`user:LOGIN`, `group:NAME`, `members:GROUP`, `sku:PART`) → its
    /// fingerprint (a digest, `absent`, or for SKUs `free=N`).
    pub fingerprints: BTreeMap<String, String>,
}

/// Why a saved plan may not be applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stale {
    pub reasons: Vec<String>,
}

impl fmt::Display for Stale {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "stale plan: refusing to apply it because what it was computed from has changed \
             (run plan again):"
        )?;
        for r in &self.reasons {
            write!(f, "\n  - {r}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Stale {}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(s, "{b:02x}");
    }
    s
}

fn digest_json<T: Serialize>(value: &T) -> String {
    // Serializing plain data structs cannot fail; fall back to an impossible digest.
    match serde_json::to_vec(value) {
        Ok(bytes) => hex(&Sha256::digest(&bytes)),
        Err(_) => "unserializable".to_string(),
    }
}

/// The digest of a desired state's content (everything but where it was read from).
pub fn desired_digest(desired: &DesiredState) -> String {
    digest_json(&(
        &desired.apps,
        &desired.users,
        &desired.groups,
        &desired.memberships,
        &desired.policies,
    ))
}

/// The digest of an app's settings.
pub fn settings_digest(app: &App) -> String {
    digest_json(app)
}

fn user_fingerprint(u: &ObservedUser) -> String {
    digest_json(&(
        &u.id,
        &u.login,
        &u.username,
        u.enabled,
        &u.attributes,
        &u.licenses,
    ))
}

fn group_fingerprint(g: &ObservedGroup) -> String {
    digest_json(&(&g.id, &g.name, &g.description, &g.kind))
}

fn members_fingerprint(g: &ObservedGroup) -> String {
    digest_json(&g.member_ids)
}

/// Finds live objects the way the planner does, through the app's
/// [`ObservedIndex`] (users by login case-insensitively, lowest id first among
/// duplicates; groups by exact name, the managed one first) and repository users by
/// username. Lookups only, never iterated: the output order comes from the plan.
struct Lookup<'o, 'i> {
    obs: &'o ObservedApp,
    index: &'i ObservedIndex<'o>,
    desired_users: &'i UserIndex<'o>,
}

impl<'o> Lookup<'o, '_> {
    fn user_by_login(&self, lower: &str) -> Option<&'o ObservedUser> {
        self.index.user_by_login(lower)
    }
    fn user_by_id(&self, id: &str) -> Option<&'o ObservedUser> {
        self.index.user_by_id(id)
    }
    fn group_by_name(&self, name: &str) -> Option<&'o ObservedGroup> {
        self.index.group_by_name(name)
    }
    fn group_by_id(&self, id: &str) -> Option<&'o ObservedGroup> {
        self.index.group_by_id(id)
    }
    /// The current fingerprint of a labelled object.
    fn fingerprint(&self, label: &str) -> Option<String> {
        let (kind, rest) = label.split_once(':')?;
        Some(match kind {
            "user" => self
                .user_by_login(rest)
                .map(user_fingerprint)
                .unwrap_or_else(|| ABSENT.to_string()),
            "group" => self
                .group_by_name(rest)
                .map(group_fingerprint)
                .unwrap_or_else(|| ABSENT.to_string()),
            "members" => self
                .group_by_name(rest)
                .map(members_fingerprint)
                .unwrap_or_else(|| ABSENT.to_string()),
            // A restore depends on the object still sitting in the deleted items.
            "deleted" => {
                let held = self.obs.deleted_users.iter().any(|u| u.id == rest)
                    || self.obs.deleted_groups.iter().any(|g| g.id == rest);
                if held { "deleted" } else { ABSENT }.to_string()
            }
            "sku" => self
                .obs
                .skus
                .iter()
                .find(|s| s.part_number == rest)
                .map(|s| format!("free={}", s.free()))
                .unwrap_or_else(|| ABSENT.to_string()),
            _ => return None,
        })
    }
}

/// The labels of the live objects one change depends on.
fn dependencies(c: &Change, app: Option<&App>, look: &Lookup<'_, '_>, out: &mut Vec<String>) {
    let user_label = |id: Option<&str>, username: &str| -> String {
        if let Some(u) = id.and_then(|id| look.user_by_id(id)) {
            return format!("user:{}", u.login.to_lowercase());
        }
        let login = match (app, look.desired_users.get(username)) {
            (Some(app), Some(u)) => login_for(app, u),
            _ => username.to_string(),
        };
        format!("user:{}", login.to_lowercase())
    };
    if c.action == Action::Restore
        && let Some(id) = &c.id
    {
        out.push(format!("deleted:{id}"));
    }
    match c.object() {
        ObjectKind::User => {
            if c.action == Action::Create
                && let Some(login) = c
                    .after
                    .as_ref()
                    .and_then(|a| a.get("login"))
                    .and_then(|v| v.as_str())
            {
                out.push(format!("user:{}", login.to_lowercase()));
            } else {
                out.push(user_label(c.id.as_deref(), &c.key()));
            }
        }
        ObjectKind::Manager => {
            out.push(user_label(c.id.as_deref(), &c.key()));
            if let Some(m) = c.manager() {
                out.push(user_label(None, m));
            }
        }
        ObjectKind::License => {
            out.push(user_label(c.id.as_deref(), &c.key()));
            if let Some(sku) = c.sku() {
                out.push(format!("sku:{sku}"));
            }
        }
        ObjectKind::Group => {
            let name =
                c.id.as_deref()
                    .and_then(|id| look.group_by_id(id))
                    .map(|g| g.name.clone())
                    .unwrap_or_else(|| c.key().into_owned());
            out.push(format!("group:{name}"));
        }
        ObjectKind::Membership => {
            if let Some(k) = c.membership() {
                out.push(format!("group:{}", k.group));
                out.push(format!("members:{}", k.group));
                match &k.member {
                    Member::Group(name) => out.push(format!("group:{name}")),
                    Member::User(m) => out.push(user_label(c.id.as_deref(), m)),
                }
            }
        }
    }
}

fn describe(label: &str, was: &str, now: &str) -> String {
    let (kind, name) = label.split_once(':').unwrap_or(("object", label));
    let what = match kind {
        "user" => format!("user {name}"),
        "group" => format!("group {name}"),
        "members" => format!("the members of group {name}"),
        "sku" => format!("license SKU {name}"),
        "deleted" => format!("deleted object {name} (in the deleted items)"),
        _ => label.to_string(),
    };
    match (was == ABSENT, now == ABSENT) {
        (true, false) => format!("{what} did not exist when the plan was made and exists now"),
        (false, true) => format!("{what} existed when the plan was made and is gone now"),
        _ if kind == "sku" => format!("{what} had {was} seats, now {now}"),
        _ => format!("{what} changed since the plan was made"),
    }
}

impl SavedPlan {
    /// Record `plan` with what it depends on in `desired` and `observed`.
    pub fn new(
        plan: Plan,
        desired: &DesiredState,
        observed: &BTreeMap<String, ObservedApp>,
    ) -> SavedPlan {
        SavedPlan::new_indexed(
            plan,
            desired,
            observed,
            &crate::observed::index_all(observed),
        )
    }

    /// [`SavedPlan::new`] with the indexes of `observed` already built (by the
    /// command, once, for the planner too).
    pub fn new_indexed(
        plan: Plan,
        desired: &DesiredState,
        observed: &BTreeMap<String, ObservedApp>,
        indexes: &ObservedIndexes<'_>,
    ) -> SavedPlan {
        let desired_users = desired.user_index();
        let mut apps = BTreeMap::new();
        for (name, obs) in observed {
            let app = desired.app(name);
            let built;
            let index = match indexes.get(name) {
                Some(ix) => ix,
                None => {
                    built = ObservedIndex::new(obs);
                    &built
                }
            };
            let look = Lookup {
                obs,
                index,
                desired_users: &desired_users,
            };
            let mut labels = Vec::new();
            for c in plan.changes.iter().filter(|c| &c.app == name) {
                dependencies(c, app, &look, &mut labels);
            }
            let fingerprints = labels
                .into_iter()
                .filter_map(|l| look.fingerprint(&l).map(|f| (l, f)))
                .collect();
            apps.insert(
                name.clone(),
                SavedApp {
                    settings_digest: app.map(settings_digest).unwrap_or_default(),
                    directory_id: obs.directory_id.clone(),
                    fingerprints,
                },
            );
        }
        SavedPlan {
            saved_plan_version: SAVED_PLAN_VERSION.to_string(),
            plan,
            desired_digest: Some(desired_digest(desired)),
            apps,
            planned_for: None,
        }
    }

    /// The file's text: pretty JSON with a trailing newline.
    pub fn to_json(&self) -> String {
        match serde_json::to_string_pretty(self) {
            Ok(mut s) => {
                s.push('\n');
                s
            }
            Err(e) => format!("{{\"error\": \"cannot serialize plan: {e}\"}}\n"),
        }
    }

    /// Read a plan file's text. Other files, other versions and damaged files are
    /// refused with a message that says which.
    pub fn from_json(s: &str) -> anyhow::Result<SavedPlan> {
        let value: serde_json::Value = serde_json::from_str(s)
            .context("the plan file is not valid JSON (was it written by `roster plan --out`?)")?;
        let Some(obj) = value.as_object() else {
            bail!("the plan file is not a roster plan: expected a JSON object");
        };
        let version = match obj.get("saved_plan_version") {
            Some(serde_json::Value::String(v)) => v.clone(),
            Some(other) => bail!("the plan file has an invalid saved_plan_version {other}"),
            None => bail!(
                "the file is not a roster plan file (no saved_plan_version); write one with \
                 `roster plan --out FILE`"
            ),
        };
        if version != SAVED_PLAN_VERSION {
            bail!(
                "the plan file has version {version:?}, but this roster reads version \
                 {SAVED_PLAN_VERSION:?}; run `roster plan --out FILE` again with this version"
            );
        }
        let fv = obj
            .get("plan")
            .and_then(|p| p.get("format_version"))
            .and_then(|v| v.as_str())
            .ok_or_else(|| anyhow!("the plan file has no plan.format_version"))?;
        if fv != FORMAT_VERSION {
            bail!(
                "the plan in the file has format_version {fv:?}, but this roster reads \
                 {FORMAT_VERSION:?}"
            );
        }
        let saved: SavedPlan =
            serde_json::from_value(value).context("the plan file is damaged or incomplete")?;
        Ok(saved)
    }

    /// Whether the plan may still be applied: the same desired state (by content), the
    /// same app settings, and every
    /// live object it depends on unchanged. Lists every difference, not only the first.
    pub fn check(
        &self,
        desired: &DesiredState,
        observed_now: &BTreeMap<String, ObservedApp>,
    ) -> Result<(), Stale> {
        self.check_indexed(
            desired,
            observed_now,
            &crate::observed::index_all(observed_now),
        )
    }

    /// [`SavedPlan::check`] with the indexes of `observed_now` already built.
    pub fn check_indexed(
        &self,
        desired: &DesiredState,
        observed_now: &BTreeMap<String, ObservedApp>,
        indexes: &ObservedIndexes<'_>,
    ) -> Result<(), Stale> {
        let desired_users = desired.user_index();
        let mut reasons = Vec::new();
        let short = |c: &Option<String>| match c {
            Some(c) => c.chars().take(12).collect::<String>(),
            None => "(no commit)".to_string(),
        };
        match &self.desired_digest {
            Some(digest) if *digest != desired_digest(desired) => {
                reasons.push(format!(
                    "the desired state changed since the plan was made (it was made from commit {}; the repository is now at {})",
                    short(&self.plan.source.commit),
                    short(&desired.source.commit)
                ));
            }
            Some(_) => {}
            None if self.plan.source.commit != desired.source.commit => {
                reasons.push(format!(
                    "the plan was made from commit {}, but the desired state is at commit {}",
                    short(&self.plan.source.commit),
                    short(&desired.source.commit)
                ));
            }
            None => {}
        }
        for (name, saved) in &self.apps {
            match desired.app(name) {
                None => reasons.push(format!("app {name} is no longer defined in the repository")),
                Some(app) => {
                    if settings_digest(app) != saved.settings_digest {
                        reasons.push(format!(
                            "the settings of app {name} changed since the plan was made"
                        ));
                    }
                }
            }
            let Some(obs) = observed_now.get(name) else {
                reasons.push(format!("the live state of app {name} was not read"));
                continue;
            };
            if obs.directory_id != saved.directory_id {
                reasons.push(format!(
                    "app {name} now points at another directory ({} instead of {})",
                    obs.directory_id.as_deref().unwrap_or("unknown"),
                    saved.directory_id.as_deref().unwrap_or("unknown")
                ));
            }
            let built;
            let index = match indexes.get(name) {
                Some(ix) => ix,
                None => {
                    built = ObservedIndex::new(obs);
                    &built
                }
            };
            let look = Lookup {
                obs,
                index,
                desired_users: &desired_users,
            };
            for (label, was) in &saved.fingerprints {
                let now = look
                    .fingerprint(label)
                    .unwrap_or_else(|| ABSENT.to_string());
                if &now != was {
                    reasons.push(format!("app {name}: {}", describe(label, was, &now)));
                }
            }
        }
        for c in &self.plan.changes {
            if !self.apps.contains_key(&c.app) {
                reasons.push(format!(
                    "the plan changes app {} but records nothing about its live state",
                    c.app
                ));
                break;
            }
        }
        if reasons.is_empty() {
            Ok(())
        } else {
            Err(Stale { reasons })
        }
    }
}
