//! `roster import`: write YAML for an app's live users, groups and memberships, so that
//! an existing directory can be brought under roster without retyping it.
//!
//! The conversion from observed state to repository files is a pure function
//! ([`to_repo_files`]); the command around it connects, reads and writes the files.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};

use super::session;
use crate::apps::ReadScope;
use crate::cli::{GlobalArgs, ImportArgs};
use crate::desired::{App, Group, GroupKind, Policy, RepoFile, User};
use crate::observed::ObservedApp;

pub fn run(global: &GlobalArgs, args: &ImportArgs) -> anyhow::Result<u8> {
    let loaded = session::load(&global.dir, None)?;
    session::select_apps(&loaded.state, std::slice::from_ref(&args.app))?;
    let app = loaded.state.app(&args.app).context("app vanished")?.clone();
    let out_dir = args.out.clone().unwrap_or_else(|| loaded.root.clone());
    let files = file_names(&out_dir, &args.app);
    if !args.force {
        let existing: Vec<String> = files
            .iter()
            .filter(|p| p.exists())
            .map(|p| p.display().to_string())
            .collect();
        if !existing.is_empty() {
            bail!(
                "import would overwrite {}; pass --force to replace them",
                existing.join(", ")
            );
        }
    }
    let rt = session::runtime()?;
    let observed = rt.block_on(async {
        let ctx = crate::apps::ConnectContext {
            repo_root: loaded.root.clone(),
            cache_dir: None,
        };
        let connector = crate::apps::connector::Connector::connect(&app, &ctx).await?;
        let read = connector
            .read(&ReadScope {
                member_groups: None,
            })
            .await;
        let _ = connector.close().await;
        read
    })?;
    let (repo_files, notes) = to_repo_files(&app, &observed);
    std::fs::create_dir_all(&out_dir)
        .with_context(|| format!("cannot create {}", out_dir.display()))?;
    for (path, file) in files.iter().zip(repo_files) {
        let text = format!(
            "# Imported by `roster import --app {}` from the live app.\n{}",
            args.app,
            serde_yaml::to_string(&file)?
        );
        crate::layout::write_atomic(path, text.as_bytes(), crate::layout::Access::Shared)
            .with_context(|| format!("cannot write {}", path.display()))?;
        if !global.quiet {
            crate::output::diag(&format!("wrote {}", path.display()));
        }
    }
    for n in notes {
        crate::output::diag(&format!("note: {n}"));
    }
    Ok(0)
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

/// Converts live state into three repository files (users, groups, policy) plus notes
/// about what could not be represented exactly.
pub fn to_repo_files(app: &App, observed: &ObservedApp) -> ([RepoFile; 3], Vec<String>) {
    let mut notes = Vec::new();
    let ignore = globset_for(app.ignore());
    let office365 = matches!(app, App::Office365(_));
    let mut username_of: BTreeMap<&str, String> = BTreeMap::new();
    let mut taken: BTreeSet<String> = BTreeSet::new();
    let mut users = Vec::new();
    for u in &observed.users {
        if ignore.is_match(u.login.to_ascii_lowercase()) {
            continue;
        }
        let base = match (&u.username, office365) {
            (Some(n), false) => n.clone(),
            _ => u
                .login
                .split('@')
                .next()
                .unwrap_or(&u.login)
                .to_ascii_lowercase(),
        };
        let mut username = base.clone();
        let mut i = 2;
        while !taken.insert(username.clone()) {
            username = format!("{base}{i}");
            i += 1;
        }
        username_of.insert(u.id.as_str(), username.clone());
        let attr = |k: &str| u.attributes.get(k).cloned();
        let display = attr("display_name");
        let mut words = display.as_deref().unwrap_or("").split_whitespace();
        let first = attr("first_name")
            .or_else(|| words.next().map(String::from))
            .unwrap_or_else(|| username.clone());
        let rest: Vec<&str> = words.collect();
        let last = attr("last_name")
            .or_else(|| (!rest.is_empty()).then(|| rest.join(" ")))
            .unwrap_or_else(|| username.clone());
        let email = if office365 {
            u.login.clone()
        } else {
            attr("email").unwrap_or_else(|| u.login.clone())
        };
        let display_name = display.filter(|d| *d != format!("{first} {last}"));
        let missing: Vec<&str> = ["first_name", "last_name", "email"]
            .into_iter()
            .filter(|k| !u.attributes.contains_key(*k))
            .collect();
        if !missing.is_empty() {
            notes.push(format!(
                "user {} has no {} live; the YAML fills them in and the next plan writes them to the app",
                u.login,
                missing.join(", ")
            ));
        }
        users.push(User {
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
        });
    }
    let group_name_of: BTreeMap<&str, &str> = observed
        .groups
        .iter()
        .map(|g| (g.id.as_str(), g.name.as_str()))
        .collect();
    let mut groups = Vec::new();
    let mut grouped: BTreeSet<&str> = BTreeSet::new();
    for g in &observed.groups {
        if ignore.is_match(g.name.to_ascii_lowercase()) {
            continue;
        }
        let mut members = Vec::new();
        for id in &g.member_ids {
            if let Some(u) = username_of.get(id.as_str()) {
                members.push(u.clone());
                grouped.insert(id.as_str());
            } else if let Some(n) = group_name_of.get(id.as_str()) {
                notes.push(format!(
                    "group {} contains group {n} in the app; roster flattens memberships, so the next plan adds {n}'s members directly and removes the nesting",
                    g.name
                ));
            }
        }
        members.sort();
        groups.push(Group {
            name: g.name.clone(),
            description: g.description.clone(),
            members,
            kind: (g.kind == "microsoft365").then_some(GroupKind::Microsoft365),
            membership: None,
        });
    }
    let loose: Vec<String> = observed
        .users
        .iter()
        .filter(|u| !grouped.contains(u.id.as_str()))
        .filter_map(|u| username_of.get(u.id.as_str()).cloned())
        .collect();
    if !loose.is_empty() {
        let name = format!("{}-imported-users", app.name());
        notes.push(format!(
            "{} user(s) belong to no group; they are gathered in the new group {name}, which the next plan creates in the app",
            loose.len()
        ));
        groups.push(Group {
            name,
            description: None,
            members: loose,
            kind: None,
            membership: None,
        });
    }
    let policy = Policy {
        name: format!("{}-imported", app.name()),
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
    (files, notes)
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
