//! `doctor` for google_workspace: the service account key, a token for the admin
//! acted as (domain-wide delegation), one read of users and of groups, TLS details.

use crate::apps::ConnectContext;
use crate::apps::kit::doctor::{AppReport, Check};
use crate::desired::GoogleWorkspaceApp;

use super::http::{DIRECTORY, google_error};

/// Runs every check of a google_workspace app.
pub async fn doctor(app: &GoogleWorkspaceApp, ctx: &ConnectContext) -> AppReport {
    let mut report = AppReport::new(&app.name, "google_workspace");
    let mut policy = super::http::policy();
    policy.max_attempts = 2;
    policy.max_throttled = 2;
    let sandbox = match super::start_sandbox(app, ctx).await {
        Ok(s) => s,
        Err(e) => {
            report.push(Check::fail(
                "sandbox",
                format!("{e:#}"),
                "check the `sandbox:` path",
            ));
            return report;
        }
    };
    let endpoint = sandbox.as_ref().map(|(_, ep)| ep);
    let subject = endpoint
        .map(|ep| ep.subject.clone())
        .or_else(|| app.subject.clone())
        .unwrap_or_default();
    let report = checks(app, ctx, policy, endpoint, &subject, report).await;
    if let Some((sb, _)) = sandbox {
        let _ = sb.stop().await;
    }
    report
}

async fn checks(
    app: &GoogleWorkspaceApp,
    ctx: &ConnectContext,
    policy: crate::apps::kit::retry::ClientPolicy,
    endpoint: Option<&super::sandbox::SandboxEndpoint>,
    subject: &str,
    mut report: AppReport,
) -> AppReport {
    let client = match super::client_with(app, ctx, policy, endpoint) {
        Ok(c) => c,
        Err(e) => {
            report.push(Check::fail(
                "credentials",
                format!("{e:#}"),
                "set the secret `credentials.service_account_key` references to the service account's JSON key (docs/google-workspace.md)",
            ));
            return report;
        }
    };
    match client.tokens.token().await {
        Ok(_) => report.push(Check::ok("token", format!("issued for {subject}"))),
        Err(e) => {
            report.push(Check::fail(
                "token",
                format!("{e:#}"),
                "allow the service account's client id the Directory API scopes in the Admin console (Security > API controls > Domain-wide delegation), and check `subject` is an admin",
            ));
            return report;
        }
    }
    let customer = app.customer.as_deref().unwrap_or("my_customer").to_string();
    for (check, rel) in [("users", "users"), ("groups", "groups")] {
        let q = [
            ("customer", customer.clone()),
            ("maxResults", "1".to_string()),
        ];
        match client.get(&format!("{DIRECTORY}/{rel}"), &q).await {
            Ok(_) => report.push(Check::ok(check, "listed")),
            Err(e) => {
                let hint = match google_error(&e).map(|g| g.status) {
                    Some(403) => {
                        "the admin acted as lacks the right, or the scope is not delegated"
                    }
                    Some(400 | 404) => "check `customer` (default my_customer) and `api_url`",
                    _ => "check `api_url`, the network path and tls",
                };
                report.push(Check::fail(check, format!("{e:#}"), hint));
            }
        }
    }
    report
}
