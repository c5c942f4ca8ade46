//! `roster explain USER`: why a user has, or has not, access to each app — the
//! policy, the group path, the app's authorized domains, membership expiry — from
//! the desired state alone, in the working tree or on a past date (`--at`).

use anyhow::bail;
use serde::Serialize;

use super::access::{check_app, did_you_mean, header, resolve};
use crate::cli::{ExplainArgs, GlobalArgs, OutputFormat};
use crate::desired::{App, DesiredState, User, access::Route};

/// The answer for one app.
#[derive(Debug, Serialize)]
struct AppAnswer {
    app: String,
    access: bool,
    /// The routes that grant access on the day.
    routes: Vec<Route>,
    /// The lifecycle stage when it is not an ordinary active user.
    stage: Option<String>,
    /// Why there is no access (empty when there is).
    reasons: Vec<String>,
}

fn bound_groups(s: &DesiredState, app: &str) -> Vec<String> {
    let mut g: Vec<String> = s
        .policies
        .iter()
        .filter(|p| p.app == app)
        .flat_map(|p| {
            p.groups
                .iter()
                .map(|g| g.trim_start_matches("group:").to_string())
        })
        .collect();
    g.sort();
    g.dedup();
    g
}

fn answer(
    r: &super::access::Resolved,
    user: &User,
    app: &App,
    all: &[Route],
    now: &[Route],
) -> AppAnswer {
    let (s, date) = (&r.loaded.state, r.date.as_str());
    let stage = super::access::stage(r, app.name(), &user.username);
    let name = app.name();
    let mine = |r: &&Route| r.app == name && r.user == user.username;
    let files: Vec<&Route> = all.iter().filter(mine).collect();
    let mut granted: Vec<Route> = now
        .iter()
        .filter(mine)
        .filter(|r| r.domain_ok)
        .cloned()
        .collect();
    let mut reasons = Vec::new();
    if let Some(st) = stage
        && !granted.is_empty()
        && (!st.provisioned() || st.access_removed())
    {
        reasons.push(format!(
            "policy {} would grant access through {}, but lifecycle: {}",
            granted[0].policy,
            granted[0].path.join(" > "),
            st.reason()
        ));
        granted.clear();
    }
    if granted.is_empty() && reasons.is_empty() {
        if files.is_empty() {
            let bound = bound_groups(s, name);
            if bound.is_empty() {
                reasons.push(format!("no policy binds a group to {name}"));
            } else {
                reasons.push(format!(
                    "not a member, directly or through nested groups, of a group bound to {name} ({})",
                    bound.join(", ")
                ));
            }
        }
        for r in &files {
            if !r.domain_ok {
                reasons.push(format!(
                    "policy {} reaches them through {}, but their email domain {} is not among {name}'s authorized_domains ({})",
                    r.policy,
                    r.path.join(" > "),
                    user.email_domain().unwrap_or_default(),
                    app.authorized_domains().unwrap_or_default().join(", ")
                ));
            } else if let Some(e) = &r.expires
                && e.as_str() <= date
            {
                reasons.push(format!(
                    "policy {} reached them through {}, but that membership expired on {e}",
                    r.policy,
                    r.path.join(" > ")
                ));
            }
        }
    }
    AppAnswer {
        stage: stage.filter(|s| !s.is_active()).map(|s| s.reason()),
        app: name.to_string(),
        access: !granted.is_empty(),
        routes: granted,
        reasons,
    }
}

/// Run `explain`; exit 0 with the explanation, 1 for an unknown user or app.
pub fn run(global: &GlobalArgs, args: &ExplainArgs) -> anyhow::Result<u8> {
    let r = resolve(global, args.at.as_deref(), None)?;
    check_app(&r.loaded, args.app.as_deref())?;
    let s = &r.loaded.state;
    let Some(user) = s.user(&args.user).or_else(|| {
        s.users
            .iter()
            .find(|u| u.email.eq_ignore_ascii_case(&args.user))
    }) else {
        let names: Vec<&str> = s.users.iter().map(|u| u.username.as_str()).collect();
        bail!(
            "unknown user `{}`{} in the desired state {}",
            args.user,
            did_you_mean(&args.user, &names),
            header(&r)
        );
    };
    let all = crate::desired::access::routes(s, None);
    let now = crate::desired::access::routes(s, Some(&r.date));
    let answers: Vec<AppAnswer> = s
        .apps
        .iter()
        .filter(|a| args.app.as_deref().is_none_or(|x| a.name() == x))
        .map(|a| answer(&r, user, a, &all, &now))
        .collect();
    let text = match args.format {
        OutputFormat::Json => {
            let v = serde_json::json!({
                "format_version": "1",
                "date": r.date,
                "source": r.source,
                "user": {
                    "username": user.username,
                    "email": user.email,
                    "enabled": user.enabled,
                    "employee_id": user.employee_id,
                },
                "apps": answers,
            });
            serde_json::to_string_pretty(&v)? + "\n"
        }
        _ => human(&r, user, &answers),
    };
    crate::output::text(&text);
    Ok(0)
}

fn human(r: &super::access::Resolved, user: &User, answers: &[AppAnswer]) -> String {
    let mut out = format!("{} <{}>, {}\n", user.username, user.email, header(r));
    for (k, v) in [
        ("start_date", &user.start_date),
        ("end_date", &user.end_date),
    ] {
        if let Some(v) = v {
            out.push_str(&format!("  {k}: {v}\n"));
        }
    }
    if !user.enabled {
        out.push_str(
            "  enabled: false — provisioned as a disabled account where access is granted\n",
        );
    }
    for a in answers {
        out.push('\n');
        if a.access {
            out.push_str(&format!("{}: has access\n", a.app));
            if let Some(st) = &a.stage {
                out.push_str(&format!("  lifecycle: {st}\n"));
            }
            for x in &a.routes {
                let until = match &x.expires {
                    Some(e) => format!(", until {e} (membership expiry)"),
                    None => String::new(),
                };
                out.push_str(&format!(
                    "  policy {} binds group {}; path {} > {}{until}\n",
                    x.policy,
                    x.group,
                    x.path.join(" > "),
                    user.username
                ));
            }
        } else {
            out.push_str(&format!("{}: no access\n", a.app));
            for reason in &a.reasons {
                out.push_str(&format!("  {reason}\n"));
            }
        }
    }
    out
}
