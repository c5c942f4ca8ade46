//! `roster import`: write YAML for an app's live users, groups and memberships, so that
//! an existing directory can be brought under roster without retyping it.
//!
//! The conversion from observed state to repository files is a pure function
//! ([`to_repo_files`]); the command around it connects, reads, checks the result with
//! the loader `validate` uses and only then writes the files. Import writes three files
//! per app (`APP-users.yaml`, `APP-groups.yaml`, `APP-policy.yaml`), each headed by a
//! digest of its content: a later import replaces a file that still matches its digest
//! (so re-importing converges to the same files), and refuses to replace an edited or
//! foreign file without `--force`.

mod yaml;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use sha2::{Digest, Sha256};

use super::session;
use crate::apps::ReadScope;
use crate::cli::{GlobalArgs, ImportArgs};
use crate::desired::source::{Content, SourceFile};
use crate::desired::{
    self, App, DesiredState, Group, GroupKind, MemberName, Policy, RepoFile, User,
};
use crate::observed::{GroupRestriction, ObservedApp, ObservedUser};
use crate::plan::planner::{UserScope, login_for};

pub fn run(global: &GlobalArgs, args: &ImportArgs) -> anyhow::Result<u8> {
    let root = global
        .dir
        .canonicalize()
        .with_context(|| format!("cannot open repository folder {}", global.dir.display()))?;
    if !root.is_dir() {
        bail!("{} is not a folder", global.dir.display());
    }
    let out_dir = match &args.out {
        Some(d) => std::path::absolute(d)
            .with_context(|| format!("cannot resolve the folder {}", d.display()))?,
        None => root.clone(),
    };
    let out_dir = out_dir.canonicalize().unwrap_or(out_dir);
    let targets: Vec<Target> = file_names(&out_dir, &args.app)
        .into_iter()
        .map(|path| Target::new(&root, path))
        .collect::<anyhow::Result<_>>()?;
    let header = header_line(&args.app);
    let mut refusals = Vec::new();
    for t in &targets {
        if let Some(bytes) = &t.existing
            && let Some(why) = refusal(bytes, &header)
            && !args.force
        {
            refusals.push(format!("{} {why}", t.path.display()));
        }
    }
    if !refusals.is_empty() {
        bail!(
            "import would replace files it cannot safely replace:\n  {}\nhint: pass --force to replace them with a fresh import (their content is lost)",
            refusals.join("\n  ")
        );
    }

    // The repository as it is, without the files this import replaces: the files it
    // writes must validate together with the rest.
    let others: Vec<SourceFile> = desired::source::read_worktree(&root)?
        .into_iter()
        .filter(|f| !targets.iter().any(|t| t.rel == f.path))
        .collect();
    let base = desired::load_files(&others);
    for d in &base.diagnostics {
        crate::output::diag(&d.to_string());
    }
    if base.has_errors() {
        return Err(session::InvalidRepository(base.errors().count()).into());
    }
    session::select_apps(&base.state, std::slice::from_ref(&args.app))?;
    session::preflight(&base, &root, std::slice::from_ref(&args.app))?;
    let app = base.state.app(&args.app).context("app vanished")?.clone();

    let rt = session::runtime()?;
    let observed = rt.block_on(async {
        let ctx = crate::apps::ConnectContext {
            repo_root: root.clone(),
            cache_dir: None,
        };
        let connector = crate::apps::connector::Connector::connect(&app, &ctx).await?;
        let read = connector
            .read(&ReadScope {
                member_groups: None,
                ..ReadScope::default()
            })
            .await;
        let _ = connector.close().await;
        read
    })?;
    let imported = match to_repo_files(&app, &observed, &base.state) {
        Ok(i) => i,
        Err(problems) => bail!(
            "import of app {} stopped; nothing was written:\n  {}",
            app.name(),
            problems.join("\n  ")
        ),
    };
    let texts: Vec<String> = imported
        .files
        .iter()
        .map(|f| file_text(&header, f))
        .collect::<anyhow::Result<_>>()?;

    // Check what would be written with the loader `validate` uses, before writing.
    let mut check_files = others;
    for (t, text) in targets.iter().zip(&texts) {
        check_files.push(SourceFile {
            path: t.rel.clone(),
            content: Content::Bytes(text.as_bytes().to_vec()),
        });
    }
    check_files.sort_by(|a, b| a.path.cmp(&b.path));
    let checked = desired::load_files(&check_files);
    let written: BTreeSet<&str> = targets.iter().map(|t| t.rel.as_str()).collect();
    if checked.has_errors() {
        for d in checked.errors() {
            crate::output::diag(&d.to_string());
        }
        let mut message = format!(
            "import of app {} would write YAML that `roster validate` rejects ({} error(s) above); nothing was written",
            app.name(),
            checked.errors().count()
        );
        if !matches!(app, App::Office365(_))
            && checked
                .errors()
                .any(|d| d.message.starts_with("username `"))
        {
            message.push_str(
                "\nhint: in active_directory and scim apps the username is the login roster matches accounts by, so import keeps it as it is live; add such accounts to the app's `ignore` list to import the others",
            );
        }
        bail!(message);
    }
    for d in checked
        .warnings()
        .filter(|d| written.contains(d.file.as_str()))
    {
        crate::output::diag(&d.to_string());
    }

    for (t, text) in targets.iter().zip(&texts) {
        if t.existing.as_deref() == Some(text.as_bytes()) {
            if !global.quiet {
                crate::output::diag(&format!("unchanged {}", t.path.display()));
            }
            continue;
        }
        crate::layout::write_atomic(&t.path, text.as_bytes(), crate::layout::Access::Shared)
            .with_context(|| format!("cannot write {}", t.path.display()))?;
        if !global.quiet {
            crate::output::diag(&format!("wrote {}", t.path.display()));
        }
    }
    for n in imported.notes {
        crate::output::diag(&format!("note: {n}"));
    }
    Ok(0)
}

/// One file import writes: where, its name in diagnostics, and its current content.
struct Target {
    path: PathBuf,
    /// Relative to the repository root with `/` separators when inside it (the name
    /// `validate` would give it), else the path as given.
    rel: String,
    existing: Option<Vec<u8>>,
}

impl Target {
    fn new(root: &Path, path: PathBuf) -> anyhow::Result<Target> {
        let rel = match path.strip_prefix(root) {
            Ok(r) => r
                .components()
                .map(|c| c.as_os_str().to_string_lossy())
                .collect::<Vec<_>>()
                .join("/"),
            Err(_) => path.display().to_string(),
        };
        let existing = match std::fs::symlink_metadata(&path) {
            Ok(m) if m.file_type().is_symlink() => {
                bail!(
                    "{} is a symbolic link; import writes regular files only",
                    path.display()
                )
            }
            Ok(_) => Some(
                std::fs::read(&path).with_context(|| format!("cannot read {}", path.display()))?,
            ),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
        };
        Ok(Target {
            path,
            rel,
            existing,
        })
    }
}

fn file_names(out_dir: &Path, app: &str) -> [PathBuf; 3] {
    let stem = sanitize(app);
    [
        out_dir.join(format!("{stem}-users.yaml")),
        out_dir.join(format!("{stem}-groups.yaml")),
        out_dir.join(format!("{stem}-policy.yaml")),
    ]
}

/// Lower-case letters, digits, `.`, `-` and `_`; anything else becomes `-`.
fn sanitize(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_') {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect()
}

/// The first line of every file import writes for `app`.
fn header_line(app: &str) -> String {
    let app: String = app.chars().filter(|c| !c.is_control()).collect();
    format!("# Imported by `roster import --app {app}` from the live app.")
}

const DIGEST_PREFIX: &str = "# roster-import-sha256: ";

fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// A file's text: the header (with the digest of the body) and the YAML body.
fn file_text(header: &str, file: &RepoFile) -> anyhow::Result<String> {
    let value = serde_json::to_value(file).context("cannot convert the imported objects")?;
    let body = match &value {
        serde_json::Value::Object(m) if m.is_empty() => String::new(),
        v => yaml::to_yaml(v),
    };
    Ok(format!(
        "{header}\n# A re-import replaces this file while it is unedited; an edited one takes --force.\n{DIGEST_PREFIX}{}\n{body}",
        sha256_hex(body.as_bytes())
    ))
}

/// Why an existing file must not be replaced without `--force`; `None` when it is this
/// app's earlier import output, unedited.
fn refusal(existing: &[u8], header: &str) -> Option<&'static str> {
    let Some(mut rest) = std::str::from_utf8(existing)
        .ok()
        .and_then(|t| t.strip_prefix(header))
        .and_then(|t| t.strip_prefix('\n'))
    else {
        return Some("exists and was not written by roster import for this app");
    };
    // The digest line follows the header among the leading comment lines.
    while let Some((line, tail)) = rest.split_once('\n') {
        if let Some(digest) = line.strip_prefix(DIGEST_PREFIX) {
            return if digest == sha256_hex(tail.as_bytes()) {
                None
            } else {
                Some("was edited since roster import wrote it")
            };
        }
        if !line.starts_with('#') {
            break;
        }
        rest = tail;
    }
    Some(
        "was written by an earlier roster import that recorded no digest, so edits to it cannot be detected",
    )
}

/// What import makes of one app's live state.
#[derive(Debug)]
pub struct Imported {
    /// Users, groups and policy, in the order of [`file_names`].
    pub files: [RepoFile; 3],
    /// What could not be represented exactly, and what the next plan will do about it.
    pub notes: Vec<String>,
}

/// A username derived from an office365 login (a userPrincipalName): the local part,
/// lower-cased, with every character other than letters, digits, `.`, `_` and `-`
/// replaced by `-`, runs of `-` collapsed and `-`/`.` trimmed at the ends; `user` when
/// nothing is left. Always a valid roster username.
pub fn username_from_login(login: &str) -> String {
    let local = login.rsplit_once('@').map_or(login, |(l, _)| l);
    let mut out = String::with_capacity(local.len());
    for c in local.chars() {
        let keep = c.is_ascii_alphanumeric()
            || matches!(c, '.' | '_' | '-')
            || (!c.is_ascii() && c.is_alphanumeric());
        if keep {
            out.extend(c.to_lowercase());
        } else if !out.ends_with('-') {
            out.push('-');
        }
    }
    let trimmed = out.trim_matches(|c| c == '-' || c == '.');
    if trimmed.is_empty() {
        "user".to_string()
    } else {
        trimmed.to_string()
    }
}

/// Converts live state into three repository files (users, groups, policy) plus notes
/// about what could not be represented exactly. `existing` is the rest of the
/// repository: live users it defines already (matched by login, as the planner
/// matches them) are referenced by their username and not written again, its groups
/// are not written again, and its names are not reused.
///
/// Usernames: active_directory and scim users keep theirs (the login roster matches
/// them by). office365 users get [`username_from_login`]; a name that needs no change
/// beyond lower-casing is kept first, then, in order of login and id, every other
/// user takes the first free name of `NAME`, `NAME-2`, `NAME-3`, …
///
/// `Err` lists what cannot be imported at all (two live objects that roster would
/// have to tell apart by a name they share).
pub fn to_repo_files(
    app: &App,
    observed: &ObservedApp,
    existing: &DesiredState,
) -> Result<Imported, Vec<String>> {
    let mut notes = Vec::new();
    let mut problems = Vec::new();
    let ignore = globset_for(app.ignore());
    let office365 = matches!(app, App::Office365(_));
    // Whether the app writes display names: a live user without one then gets it from
    // the next plan (the repository's display name, by default first and last name).
    let maps_display = crate::mapping::Mapping::lenient(app)
        .field("display_name")
        .is_some();

    let scope = UserScope::of(app, observed);
    let mut live: Vec<&ObservedUser> = observed
        .users
        .iter()
        .filter(|u| !ignore.is_match(u.login.to_ascii_lowercase()))
        .filter(|u| scope.holds(u))
        .collect();
    let outside = observed.users.len() - live.len();
    if outside > 0 {
        notes.push(format!(
            "{outside} live user(s) are outside the app's scope (other domains, the initial domain, guests, or `ignore`d) and are not imported"
        ));
    }
    live.sort_by_cached_key(|u| (u.login.to_lowercase(), u.id.clone()));

    // Users the rest of the repository defines already, by lower-cased login.
    let mut defined: BTreeMap<String, &str> = BTreeMap::new();
    for u in &existing.users {
        defined
            .entry(login_for(app, u).to_lowercase())
            .or_insert(u.username.as_str());
    }
    // Lower-cased names in use → who holds them (for messages).
    let mut taken: BTreeMap<String, String> = existing
        .users
        .iter()
        .map(|u| {
            (
                u.username.to_lowercase(),
                format!("repository user {}", u.username),
            )
        })
        .collect();
    let mut username_of: BTreeMap<&str, String> = BTreeMap::new();
    let mut already = 0usize;
    // (user, wanted name, whether the name is the live one unchanged)
    let mut wanted: Vec<(&ObservedUser, String, bool)> = Vec::new();
    for u in &live {
        if let Some(name) = defined.get(&u.login.to_lowercase()) {
            username_of.insert(u.id.as_str(), (*name).to_string());
            already += 1;
            continue;
        }
        if office365 {
            let local = u
                .login
                .rsplit_once('@')
                .map_or(u.login.as_str(), |(l, _)| l);
            let name = username_from_login(&u.login);
            let natural = name == local.to_lowercase();
            wanted.push((u, name, natural));
        } else {
            let name = u.username.clone().unwrap_or_else(|| u.login.clone());
            wanted.push((u, name, true));
        }
    }
    if already > 0 {
        notes.push(format!(
            "{already} live user(s) are defined in the repository already; they are not written again, and groups list them by their username there"
        ));
    }
    let mut pending = Vec::new();
    for (u, name, natural) in wanted.iter() {
        let key = name.to_lowercase();
        if *natural && !taken.contains_key(&key) {
            taken.insert(key, format!("live user {}", u.login));
            username_of.insert(u.id.as_str(), name.clone());
        } else if office365 {
            pending.push((*u, name));
        } else {
            let holder = taken.get(&key).cloned().unwrap_or_default();
            problems.push(format!(
                "live user {} has the username {name}, as {holder} does; in app {} the username is the login roster matches accounts by, so import cannot rename one of them: add one to the app's `ignore` list",
                u.login,
                app.name()
            ));
        }
    }
    // The next suffix to try per name, so that many users wanting one name cost no
    // more than one pass.
    let mut next_suffix: BTreeMap<&str, usize> = BTreeMap::new();
    for (u, base) in pending {
        let i = next_suffix.entry(base.as_str()).or_insert(2);
        let mut name = base.clone();
        while taken.contains_key(&name.to_lowercase()) {
            name = format!("{base}-{i}");
            *i += 1;
        }
        taken.insert(name.to_lowercase(), format!("live user {}", u.login));
        username_of.insert(u.id.as_str(), name);
    }

    let mut users = Vec::new();
    for (u, _, _) in &wanted {
        let Some(username) = username_of.get(u.id.as_str()).cloned() else {
            continue;
        };
        users.push(user_of(u, username, office365, maps_display, &mut notes));
    }

    // Groups.
    let repo_groups: BTreeSet<&str> = existing.groups.iter().map(|g| g.name.as_str()).collect();
    let mut live_group_ids: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for g in &observed.groups {
        if !ignore.is_match(g.name.to_ascii_lowercase()) {
            live_group_ids
                .entry(g.name.as_str())
                .or_default()
                .push(g.id.as_str());
        }
    }
    for (name, ids) in &live_group_ids {
        if ids.len() > 1 {
            problems.push(format!(
                "app {} has {} groups named {name} (ids {}); roster tells groups apart by name: rename all but one in the app, or add the name to the app's `ignore` list",
                app.name(),
                ids.len(),
                ids.join(", ")
            ));
        }
    }
    if !problems.is_empty() {
        return Err(problems);
    }
    let group_name_of: BTreeMap<&str, &str> = observed
        .groups
        .iter()
        .map(|g| (g.id.as_str(), g.name.as_str()))
        .collect();
    let mut groups = Vec::new();
    let mut grouped: BTreeSet<&str> = BTreeSet::new();
    let mut left_to_repo = Vec::new();
    for g in &observed.groups {
        if ignore.is_match(g.name.to_ascii_lowercase()) {
            continue;
        }
        if repo_groups.contains(g.name.as_str()) {
            left_to_repo.push(g.name.as_str());
            continue;
        }
        // A group whose members the service manages cannot be bound (the plan would
        // fail naming it): it is left out, with a note.
        if let Some(r) = &g.restriction {
            let allowed = matches!(r, GroupRestriction::RoleAssignable)
                && matches!(app, App::Office365(a) if a.manage_role_assignable_groups);
            if !allowed {
                notes.push(format!(
                    "group {} is {}: roster cannot manage its members, so it is not imported",
                    g.name,
                    r.describe()
                ));
                continue;
            }
        }
        let mut members = Vec::new();
        for id in &g.member_ids {
            if let Some(u) = username_of.get(id.as_str()) {
                members.push(MemberName::from(u.as_str()));
                grouped.insert(id.as_str());
            } else if let Some(n) = group_name_of.get(id.as_str()) {
                notes.push(format!(
                    "group {} contains group {n} in the app; roster flattens memberships, so the next plan adds {n}'s members directly and removes the nesting",
                    g.name
                ));
            }
        }
        members.sort();
        members.dedup();
        groups.push(Group {
            name: g.name.clone(),
            description: g.description.clone(),
            members,
            kind: (g.kind == "microsoft365").then_some(GroupKind::Microsoft365),
            membership: None,
        });
    }
    if !left_to_repo.is_empty() {
        notes.push(format!(
            "group(s) {} are defined in the repository already; import does not write them again, and they stay bound to the apps the repository binds them to",
            left_to_repo.join(", ")
        ));
    }
    let loose: Vec<String> = wanted
        .iter()
        .map(|(u, _, _)| u.id.as_str())
        .filter(|id| !grouped.contains(id))
        .filter_map(|id| username_of.get(id).cloned())
        .collect();
    if !loose.is_empty() {
        let base = format!("{}-imported-users", app.name());
        let mut name = base.clone();
        let mut i = 2;
        while repo_groups.contains(name.as_str()) {
            name = format!("{base}-{i}");
            i += 1;
        }
        notes.push(format!(
            "{} user(s) belong to no group; they are gathered in the group {name} (`kind: repository`: it binds them to the app and is never created there)",
            loose.len()
        ));
        match groups.iter_mut().find(|g| g.name == name) {
            Some(g) => {
                g.members
                    .extend(loose.iter().map(|u| MemberName::from(u.as_str())));
                g.members.sort();
                g.members.dedup();
            }
            None => groups.push(Group {
                name,
                description: None,
                members: loose.iter().map(|u| MemberName::from(u.as_str())).collect(),
                kind: Some(GroupKind::Repository),
                membership: None,
            }),
        }
    }
    let repo_policies: BTreeSet<&str> = existing.policies.iter().map(|p| p.name.as_str()).collect();
    let base = format!("{}-imported", app.name());
    let mut policy_name = base.clone();
    let mut i = 2;
    while repo_policies.contains(policy_name.as_str()) {
        policy_name = format!("{base}-{i}");
        i += 1;
    }
    let policy = Policy {
        name: policy_name,
        app: app.name().to_string(),
        groups: groups.iter().map(|g| g.name.clone()).collect(),
    };
    let files = [
        RepoFile {
            users,
            ..Default::default()
        },
        RepoFile {
            groups,
            ..Default::default()
        },
        RepoFile {
            policies: if policy.groups.is_empty() {
                vec![]
            } else {
                vec![policy]
            },
            ..Default::default()
        },
    ];
    Ok(Imported { files, notes })
}

/// One live user as a repository user named `username`. Every live value is kept as
/// it is; only required fields that are absent live are filled in (and noted).
fn user_of(
    u: &ObservedUser,
    username: String,
    office365: bool,
    maps_display: bool,
    notes: &mut Vec<String>,
) -> User {
    let attr = |k: &str| u.attributes.get(k).map(str::to_string);
    let display = attr("display_name");
    let mut words = display.as_deref().unwrap_or("").split_whitespace();
    // Graph does not require a first or last name (shared mailboxes, service accounts
    // have none): office365 users keep them empty, as live. Elsewhere they are
    // derived from the display name.
    let first = attr("first_name").unwrap_or_else(|| {
        if office365 {
            String::new()
        } else {
            words
                .next()
                .map(String::from)
                .unwrap_or_else(|| username.clone())
        }
    });
    let rest: Vec<&str> = words.collect();
    let last = attr("last_name").unwrap_or_else(|| {
        if office365 {
            String::new()
        } else if rest.is_empty() {
            username.clone()
        } else {
            rest.join(" ")
        }
    });
    // office365 matches users by userPrincipalName, which roster keeps as the email.
    let email = if office365 {
        u.login.clone()
    } else {
        attr("email").unwrap_or_else(|| u.login.clone())
    };
    let display_name = display.filter(|d| *d != format!("{first} {last}"));
    let missing: Vec<&str> = ["first_name", "last_name", "email", "display_name"]
        .into_iter()
        .filter(|k| !u.attributes.contains_key(k))
        .filter(|k| !(office365 && *k != "email"))
        .filter(|k| *k != "display_name" || maps_display)
        .collect();
    if !missing.is_empty() {
        notes.push(format!(
            "user {} has no {} live; the YAML fills them in and the next plan writes them to the app",
            u.login,
            missing.join(", ")
        ));
    }
    if office365
        && let Some(mail) = u.attributes.get("email")
        && mail.to_lowercase() != u.login.to_lowercase()
    {
        notes.push(format!(
            "user {} has the mail address {mail}; roster keeps one address per office365 user, its userPrincipalName, so the next plan sets mail to {}",
            u.login, u.login
        ));
    }
    User {
        username,
        email,
        first_name: first,
        last_name: last,
        display_name,
        enabled: u.enabled,
        department: attr("department"),
        job_title: attr("job_title"),
        employee_id: attr("employee_id"),
        usage_location: attr("usage_location"),
        mobile_phone: attr("mobile_phone"),
        licenses: u.licenses.iter().cloned().collect(),
        password: None,
        immutable_id: None,
        attributes: Default::default(),
        manager: None,
        previous_usernames: Vec::new(),
        start_date: None,
        end_date: None,
    }
}

fn globset_for(patterns: &[String]) -> globset::GlobSet {
    let mut b = globset::GlobSetBuilder::new();
    for p in patterns {
        if let Ok(g) = globset::GlobBuilder::new(&p.to_ascii_lowercase())
            .case_insensitive(true)
            .build()
        {
            b.add(g);
        }
    }
    b.build().unwrap_or_else(|_| globset::GlobSet::empty())
}

#[cfg(test)]
mod tests;
