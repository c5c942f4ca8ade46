//! `doctor`: connect to each selected app and report, per app, what works and what
//! does not — token and permissions, read endpoints, TLS, clock skew — without writing
//! anything. Exit 0 when every check passed (warnings allowed), 1 when any failed.

use std::fmt::Write as _;

use futures::future::join_all;

use crate::apps::ConnectContext;
use crate::apps::kit::doctor::{AppReport, Check, Status};
use crate::cli::{DoctorArgs, GlobalArgs};
use crate::desired::{App, DesiredState};
use crate::output;

use super::session;

/// The formats of the doctor report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Default)]
pub enum DoctorFormat {
    #[default]
    Human,
    Json,
}

pub fn run(global: &GlobalArgs, args: &DoctorArgs) -> anyhow::Result<u8> {
    let loaded = session::load(&global.dir, None)?;
    let apps = session::select_apps(&loaded.state, &args.apps)?;
    let ctx = ConnectContext {
        repo_root: loaded.root.clone(),
        // Doctor never writes: no snapshot is read or written.
        cache_dir: None,
    };
    let rt = session::runtime()?;
    let reports = rt.block_on(check_all(&loaded.state, &apps, &ctx));
    let text = match args.format {
        DoctorFormat::Human => render_human(&reports),
        DoctorFormat::Json => render_json(&reports),
    };
    output::text(&text);
    Ok(if reports.iter().any(|r| r.status() == Status::Fail) {
        1
    } else {
        0
    })
}

async fn check_all(state: &DesiredState, apps: &[String], ctx: &ConnectContext) -> Vec<AppReport> {
    let tasks = apps.iter().map(|name| async move {
        match state.app(name) {
            Some(App::Office365(a)) => crate::apps::office365::doctor::doctor(a, state, ctx).await,
            Some(App::ActiveDirectory(a)) => {
                crate::apps::active_directory::doctor::doctor(a, ctx).await
            }
            Some(App::Scim(a)) => crate::apps::scim::doctor::doctor(a, ctx).await,
            Some(App::Ldap(a)) => crate::apps::ldap::doctor::doctor(a, ctx).await,
            Some(App::GoogleWorkspace(a)) => {
                crate::apps::google_workspace::doctor::doctor(a, ctx).await
            }
            None => {
                let mut r = AppReport::new(name, "unknown");
                r.push(Check::fail("app", "not in the repository", "check --app"));
                r
            }
        }
    });
    join_all(tasks).await
}

/// The human report: one block per app, one line per check, hints indented below.
pub fn render_human(reports: &[AppReport]) -> String {
    let mut s = String::new();
    for r in reports {
        let _ = writeln!(s, "app {} ({}): {}", r.app, r.app_type, r.status().as_str());
        for c in &r.checks {
            let _ = writeln!(s, "  {:<4}  {}: {}", c.status.as_str(), c.check, c.detail);
            if let Some(h) = &c.hint
                && c.status != Status::Ok
            {
                let _ = writeln!(s, "        hint: {h}");
            }
        }
        s.push('\n');
    }
    let failed: usize = reports
        .iter()
        .map(|r| r.checks.iter().filter(|c| c.status == Status::Fail).count())
        .sum();
    let warned: usize = reports
        .iter()
        .map(|r| r.checks.iter().filter(|c| c.status == Status::Warn).count())
        .sum();
    let _ = writeln!(
        s,
        "{} app(s) checked: {failed} check(s) failed, {warned} warning(s); nothing was written",
        reports.len()
    );
    s
}

/// The JSON report: `{"ok": bool, "apps": [{app, type, status, checks: [...]}]}`.
pub fn render_json(reports: &[AppReport]) -> String {
    let apps: Vec<serde_json::Value> = reports
        .iter()
        .map(|r| {
            serde_json::json!({
                "app": r.app,
                "type": r.app_type,
                "status": r.status(),
                "checks": r.checks,
            })
        })
        .collect();
    let ok = reports.iter().all(|r| r.status() != Status::Fail);
    let mut s = serde_json::to_string_pretty(&serde_json::json!({ "ok": ok, "apps": apps }))
        .unwrap_or_default();
    s.push('\n');
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn human_report_marks_failures_with_hints() {
        let mut r = AppReport::new("o365", "office365");
        r.push(Check::ok("token", "client secret"));
        r.push(Check::fail(
            "permission user writes",
            "missing User.ReadWrite.All",
            "add it",
        ));
        let text = render_human(&[r.clone()]);
        assert!(text.starts_with("app o365 (office365): FAIL\n"), "{text}");
        assert!(
            text.contains(
                "  FAIL  permission user writes: missing User.ReadWrite.All\n        hint: add it\n"
            ),
            "{text}"
        );
        assert!(text.contains("1 check(s) failed, 0 warning(s)"), "{text}");
        let json: serde_json::Value = serde_json::from_str(&render_json(&[r])).unwrap();
        assert_eq!(json["ok"], false);
        assert_eq!(json["apps"][0]["checks"][1]["status"], "fail");
        assert_eq!(json["apps"][0]["status"], "fail");
    }
}
