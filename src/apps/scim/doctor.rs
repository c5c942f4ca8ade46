//! `roster doctor` for scim apps: the token is accepted (`GET /ServiceProviderConfig`,
//! `GET /Users?count=1`), the TLS details of the connection and the clock skew (the
//! `Date` header). Nothing is written.

use std::time::Duration;

use crate::apps::ConnectContext;
use crate::apps::kit::doctor::{self, AppReport, Check};
use crate::apps::kit::tls::HttpTls;
use crate::desired::ScimApp;

/// The requests doctor sends, relative to the SCIM base URL.
const PROBES: &[(&str, &str)] = &[
    ("GET /ServiceProviderConfig", "/ServiceProviderConfig"),
    (
        "GET /Users",
        "/Users?startIndex=1&count=1&attributes=userName",
    ),
    (
        "GET /Groups",
        "/Groups?startIndex=1&count=1&attributes=displayName",
    ),
];

/// Runs every check of a scim app.
pub async fn doctor(app: &ScimApp, ctx: &ConnectContext) -> AppReport {
    let mut report = AppReport::new(&app.name, "scim");
    let base = app.url.trim().trim_end_matches('/').to_string();
    let token = match crate::secret::resolve(&app.token, &ctx.repo_root) {
        Ok(t) => t,
        Err(e) => {
            report.push(Check::fail(
                "token",
                format!("cannot read `token`: {e:#}"),
                "set the secret the app's `token` references (docs/connect.md, \"SCIM 2.0\")",
            ));
            return report;
        }
    };
    let builder = reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(15))
        .timeout(Duration::from_secs(60))
        .tls_info(true)
        .user_agent(concat!("roster/", env!("CARGO_PKG_VERSION")));
    let client = match HttpTls::from_settings(app.tls.as_ref(), &ctx.repo_root)
        .configure(builder, &[&base])
        .and_then(|b| {
            b.build()
                .map_err(|e| anyhow::anyhow!("cannot build the HTTP client: {e}"))
        }) {
        Ok(c) => c,
        Err(e) => {
            report.push(Check::fail(
                "connect",
                format!("{e:#}"),
                "check url and tls",
            ));
            return report;
        }
    };
    let mut first = None;
    let mut token_ok = true;
    for (check, rel) in PROBES {
        let resp = match client
            .get(format!("{base}{rel}"))
            .bearer_auth(token.expose())
            .header("Accept", "application/scim+json, application/json")
            .send()
            .await
        {
            Ok(r) => r,
            Err(e) => {
                report.push(Check::fail(
                    *check,
                    format!("{base}: {}", crate::apps::office365::auth::without_url(&e)),
                    "check url, the network path and tls",
                ));
                continue;
            }
        };
        if first.is_none() {
            first = Some(doctor::HttpFacts::of(&resp));
        }
        let status = resp.status().as_u16();
        let body = resp.text().await.unwrap_or_default();
        if (200..300).contains(&status) {
            report.push(Check::ok(*check, format!("HTTP {status}")));
            continue;
        }
        let why = crate::apps::scim::http::ScimError::from_body("GET", rel, status, &body);
        let hint = match status {
            401 => {
                token_ok = false;
                "the token was refused: create a new one at the service provider and update the secret"
            }
            403 => "the token is valid but lacks rights for this resource at the service provider",
            404 => "check `url`: it must be the SCIM base URL (e.g. https://host/scim/v2)",
            _ => "the service provider refused the request",
        };
        report.push(Check::fail(*check, why.to_string(), hint));
    }
    if token_ok
        && report
            .checks
            .iter()
            .all(|c| c.status != doctor::Status::Fail)
    {
        report.checks.insert(0, Check::ok("token", "accepted"));
    }
    if let Some(doctor::HttpFacts { date, tls }) = first {
        report.push(doctor::http_tls_check(
            &doctor::url_host(&base),
            base.starts_with("https:"),
            tls.as_ref(),
        ));
        match date
            .as_deref()
            .and_then(|d| doctor::http_date_skew(d, std::time::SystemTime::now()))
        {
            Some(skew) => report.push(doctor::skew_check(
                skew,
                "the Date header of the service provider",
            )),
            None => report.push(Check::warn(
                "clock skew",
                "the service provider sent no readable Date header",
                "nothing to do unless the provider refuses tokens as expired",
            )),
        }
    }
    report
}
