//! `roster doctor` for office365 apps: obtain a token (and say with which credential
//! and for how long), compare the permissions it carries (its `roles` claim, read
//! without verifying the signature: the service verifies it) with what the app's
//! settings need, GET each read endpoint roster uses once with `$top=1`, and report the
//! TLS details and the clock skew (the `Date` header against the local clock). Nothing
//! is written.
//!
//! [`PERMISSIONS`] is the authoritative table of the Graph application permissions per
//! feature; docs/connect.md repeats it (a test keeps the two in step).

use std::time::Duration;

use anyhow::{Result, anyhow};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use super::{Endpoint, Office365Connector, auth, http::path_segment, token_scope};
use crate::apps::ConnectContext;
use crate::apps::kit::doctor::{self, AppReport, Check};
use crate::desired::{DesiredState, Office365App, Office365Credentials};

/// Whether a feature's permission is needed or only advised.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    Required,
    Recommended,
}

/// One row of the permission table: a feature, the least privileged application
/// permission it needs, and the broader ones that also cover it.
#[derive(Debug)]
pub struct Need {
    pub feature: &'static str,
    pub permission: &'static str,
    pub also: &'static [&'static str],
    pub level: Level,
}

const DIR_READ: &str = "Directory.Read.All";
const DIR_WRITE: &str = "Directory.ReadWrite.All";

/// The Graph application permissions roster's features need (least privilege first),
/// from the Permissions table of each request's page in the Graph v1.0 reference.
pub const PERMISSIONS: &[Need] = &[
    Need {
        feature: "read users",
        permission: "User.Read.All",
        also: &["User.ReadWrite.All", DIR_READ, DIR_WRITE],
        level: Level::Required,
    },
    Need {
        feature: "read groups and members",
        permission: "Group.Read.All",
        also: &[
            "GroupMember.Read.All",
            "Group.ReadWrite.All",
            "GroupMember.ReadWrite.All",
            DIR_READ,
            DIR_WRITE,
        ],
        level: Level::Required,
    },
    Need {
        feature: "license SKUs",
        permission: "LicenseAssignment.Read.All",
        also: &[
            "LicenseAssignment.ReadWrite.All",
            "Organization.Read.All",
            "Organization.ReadWrite.All",
            DIR_READ,
            DIR_WRITE,
        ],
        level: Level::Required,
    },
    Need {
        feature: "verified domains",
        permission: "Domain.Read.All",
        also: &["Domain.ReadWrite.All", DIR_READ, DIR_WRITE],
        level: Level::Required,
    },
    Need {
        feature: "protect admins (role holders)",
        permission: "RoleManagement.Read.Directory",
        also: &[
            "RoleManagement.ReadWrite.Directory",
            "RoleManagement.Read.All",
            DIR_READ,
            DIR_WRITE,
        ],
        level: Level::Recommended,
    },
    Need {
        feature: "user writes",
        permission: "User.ReadWrite.All",
        also: &[DIR_WRITE],
        level: Level::Required,
    },
    Need {
        feature: "licences",
        permission: "LicenseAssignment.ReadWrite.All",
        also: &["User.ReadWrite.All", DIR_WRITE],
        level: Level::Required,
    },
    Need {
        feature: "group writes",
        permission: "Group.ReadWrite.All",
        also: &[DIR_WRITE],
        level: Level::Required,
    },
    Need {
        feature: "memberships",
        permission: "GroupMember.ReadWrite.All",
        also: &["Group.ReadWrite.All", DIR_WRITE],
        level: Level::Required,
    },
    Need {
        feature: "role-assignable groups",
        permission: "RoleManagement.ReadWrite.Directory",
        also: &[],
        level: Level::Required,
    },
];

fn need(feature: &str) -> &'static Need {
    PERMISSIONS
        .iter()
        .find(|n| n.feature == feature)
        .expect("a feature of the table")
}

/// The rows of [`PERMISSIONS`] this app needs, each with why (the settings that call
/// for it). Pure.
pub fn needs(app: &Office365App, desired: &DesiredState) -> Vec<(&'static Need, String)> {
    let mut out = vec![
        (need("read users"), "every read".to_string()),
        (need("read groups and members"), "every read".to_string()),
        (need("license SKUs"), "every read".to_string()),
        (need("verified domains"), "every read".to_string()),
        (
            need("protect admins (role holders)"),
            "every read".to_string(),
        ),
    ];
    let s = &app.switches;
    let user_switches: Vec<&str> = [
        ("create_users", s.create_users),
        ("update_users", s.update_users),
        ("delete_users", s.delete_users),
        ("enable_disable_users", s.enable_disable_users),
    ]
    .into_iter()
    .filter_map(|(n, on)| on.then_some(n))
    .collect();
    if !user_switches.is_empty() {
        out.push((
            need("user writes"),
            format!("switches {}", user_switches.join(", ")),
        ));
    }
    let bound = desired.policies.iter().any(|p| p.app == app.name);
    if bound && desired.users.iter().any(|u| !u.licenses.is_empty()) {
        out.push((need("licences"), "users with `licenses`".to_string()));
    }
    let group_switches: Vec<&str> = [
        ("create_groups", s.create_groups),
        ("delete_groups", s.delete_groups),
    ]
    .into_iter()
    .filter_map(|(n, on)| on.then_some(n))
    .collect();
    if !group_switches.is_empty() {
        out.push((
            need("group writes"),
            format!("switches {}", group_switches.join(", ")),
        ));
    }
    if s.sync_memberships {
        out.push((need("memberships"), "switch sync_memberships".to_string()));
    }
    if app.manage_role_assignable_groups {
        out.push((
            need("role-assignable groups"),
            "manage_role_assignable_groups: true".to_string(),
        ));
    }
    out
}

/// The permission checks: one per needed feature, then a warning for held permissions
/// broader than anything the app needs (`Directory.ReadWrite.All`). Pure.
pub fn permission_checks(needed: &[(&'static Need, String)], roles: &[String]) -> Vec<Check> {
    let holds = |p: &str| roles.iter().any(|r| r.eq_ignore_ascii_case(p));
    let mut sorted: Vec<&str> = roles.iter().map(String::as_str).collect();
    sorted.sort_unstable();
    let held = if sorted.is_empty() {
        "none".to_string()
    } else {
        sorted.join(", ")
    };
    let mut out = Vec::new();
    for (n, why) in needed {
        let name = format!("permission {}", n.feature);
        let by = std::iter::once(n.permission)
            .chain(n.also.iter().copied())
            .find(|p| holds(p));
        match (by, n.level) {
            (Some(p), _) => out.push(Check::ok(name, format!("{p} (needed for {why})"))),
            (None, level) => {
                let alts = if n.also.is_empty() {
                    String::new()
                } else {
                    format!(" (or {})", n.also.join(", "))
                };
                let detail = format!(
                    "missing {}{alts}, needed for {why}; the token carries: {held}",
                    n.permission
                );
                let hint = format!(
                    "add the Microsoft Graph application permission {} to the app registration and grant admin consent (docs/connect.md, \"Graph permissions per feature\")",
                    n.permission
                );
                out.push(match level {
                    Level::Required => Check::fail(name, detail, hint),
                    Level::Recommended => Check::warn(name, detail, hint),
                });
            }
        }
    }
    let excess: Vec<&String> = roles
        .iter()
        .filter(|r| r.eq_ignore_ascii_case(DIR_WRITE))
        .filter(|_| !needed.iter().any(|(n, _)| n.permission == DIR_WRITE))
        .collect();
    if !excess.is_empty() {
        out.push(Check::warn(
            "permission least privilege",
            format!("the token carries {DIR_WRITE}, which no roster feature needs"),
            "remove Directory.ReadWrite.All from the app registration; grant the permissions listed above instead",
        ));
    }
    out
}

/// The read endpoints roster uses, relative to the version root, as GETs of one object.
pub const READ_ENDPOINTS: &[(&str, &str)] = &[
    ("/users", "/users?$select=id&$top=1"),
    ("/groups", "/groups?$select=id&$top=1"),
    // Delta accepts no `$top`; a filter on an id that exists nowhere answers one
    // empty page.
    (
        "/groups/delta",
        "/groups/delta?$select=id&$filter=id%20eq%20%2700000000-0000-0000-0000-000000000000%27",
    ),
    ("/subscribedSkus", "/subscribedSkus?$select=skuId"),
    ("/domains", "/domains?$select=id"),
    (
        "/directory/deletedItems/microsoft.graph.user",
        "/directory/deletedItems/microsoft.graph.user?$select=id&$top=1",
    ),
    (
        "/roleManagement/directory/roleAssignments",
        "/roleManagement/directory/roleAssignments?$select=id&$top=1",
    ),
];

/// The claims of an access token doctor reports.
#[derive(Debug, Default, PartialEq)]
pub struct TokenClaims {
    pub roles: Vec<String>,
    pub exp: Option<i64>,
    pub iat: Option<i64>,
    pub tid: Option<String>,
}

/// The payload of a JWT, decoded without verifying it; `None` for an opaque token.
pub fn decode_claims(token: &str) -> Option<TokenClaims> {
    let payload = token.split('.').nth(1)?;
    let bytes = URL_SAFE_NO_PAD.decode(payload.trim_end_matches('=')).ok()?;
    let v: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
    let mut roles: Vec<String> = v
        .get("roles")
        .and_then(|r| r.as_array())
        .map(|a| {
            a.iter()
                .filter_map(|x| x.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    roles.sort();
    Some(TokenClaims {
        roles,
        exp: v.get("exp").and_then(|x| x.as_i64()),
        iat: v.get("iat").and_then(|x| x.as_i64()),
        tid: v.get("tid").and_then(|x| x.as_str()).map(str::to_string),
    })
}

fn credential_kind(app: &Office365App) -> &'static str {
    if app.sandbox.is_some() {
        return "sandbox";
    }
    match &app.credentials {
        Some(Office365Credentials::ClientSecret(_)) => "client secret",
        Some(Office365Credentials::Certificate(_)) => "certificate",
        Some(Office365Credentials::FederatedToken(_)) => "federated token",
        None => "no credentials",
    }
}

/// Runs every check of an office365 app.
pub async fn doctor(app: &Office365App, desired: &DesiredState, ctx: &ConnectContext) -> AppReport {
    let mut report = AppReport::new(&app.name, "office365");
    let (endpoint, sandbox) = match &app.sandbox {
        Some(path) => match crate::repo_paths::resolve(&ctx.repo_root, path, "sandbox", false) {
            Ok(state) => match super::sandbox::Sandbox::start(app, &state).await {
                Ok((sb, ep)) => (ep, Some(sb)),
                Err(e) => {
                    report.push(Check::fail(
                        "connect",
                        format!("{e:#}"),
                        "check the `sandbox:` path",
                    ));
                    return report;
                }
            },
            Err(e) => {
                report.push(Check::fail(
                    "connect",
                    format!("{e:#}"),
                    "check the `sandbox:` path",
                ));
                return report;
            }
        },
        None => match Office365Connector::endpoint(app, ctx) {
            Ok(ep) => (ep, None),
            Err(e) => {
                report.push(Check::fail(
                    "credentials",
                    format!("{e:#}"),
                    "set the secret the app's `credentials` reference (docs/connect.md, \"Credentials\")",
                ));
                return report;
            }
        },
    };
    if let Err(e) = probe(app, desired, endpoint, &mut report).await {
        report.push(Check::fail(
            "connect",
            format!("{e:#}"),
            "check graph_url, login_url and tls",
        ));
    }
    if let Some(sb) = sandbox {
        let _ = sb.stop().await;
    }
    report
}

async fn probe(
    app: &Office365App,
    desired: &DesiredState,
    ep: Endpoint,
    report: &mut AppReport,
) -> Result<()> {
    let mut builder = reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(15))
        .timeout(Duration::from_secs(60))
        .tls_info(true)
        .user_agent(concat!("roster/", env!("CARGO_PKG_VERSION")));
    if ep.no_proxy {
        builder = builder.no_proxy();
    }
    let client = ep
        .tls
        .configure(builder, &[&ep.graph_url, &ep.login_url])?
        .build()
        .map_err(|e| anyhow!("cannot build the HTTP client: {e}"))?;
    let graph_url = ep.graph_url.trim_end_matches('/').to_string();
    let login_url = ep.login_url.trim_end_matches('/').to_string();
    let token_url = format!("{login_url}/{}/oauth2/v2.0/token", path_segment(&ep.tenant));
    let tokens = auth::TokenProvider::new(
        client.clone(),
        &app.name,
        token_url.clone(),
        ep.client_id.clone(),
        token_scope(&graph_url),
        ep.credential,
    );
    let kind = credential_kind(app);
    let token = match tokens.token().await {
        Ok(t) => Some(t),
        Err(e) => {
            report.push(Check::fail(
                "token",
                format!("{kind}: {e:#}"),
                "check tenant, client_id and the credential (an AADSTS code names the cause: https://login.microsoftonline.com/error?code=CODE)",
            ));
            None
        }
    };
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    if let Some(t) = &token {
        let claims = decode_claims(t.expose()).unwrap_or_default();
        let lifetime = match (claims.exp, claims.iat) {
            (Some(exp), Some(iat)) => format!(
                ", lifetime {} min (expires in {} min)",
                (exp - iat) / 60,
                (exp - now).max(0) / 60
            ),
            (Some(exp), None) => format!(", expires in {} min", (exp - now).max(0) / 60),
            _ => String::new(),
        };
        let tenant = claims
            .tid
            .as_deref()
            .map(|t| format!(" in tenant {t}"))
            .unwrap_or_default();
        report.push(Check::ok(
            "token",
            format!(
                "{kind}: token for client {}{tenant}{lifetime}",
                ep.client_id
            ),
        ));
        let mut checks = permission_checks(&needs(app, desired), &claims.roles);
        if app.sandbox.is_some() {
            // The sandbox's permissions are the emulator's defaults, not a registration.
            checks.retain(|c| c.check != "permission least privilege");
        }
        report.checks.extend(checks);
    }

    // The read endpoints (with the token), or one unauthenticated request for TLS and
    // the clock when there is no token.
    let mut first: Option<doctor::HttpFacts> = None;
    let targets: Vec<(&str, String)> = match &token {
        Some(_) => READ_ENDPOINTS
            .iter()
            .map(|(name, rel)| (*name, format!("{graph_url}/v1.0{rel}")))
            .collect(),
        None => vec![("", format!("{graph_url}/v1.0/organization"))],
    };
    for (name, url) in targets {
        let mut req = client.get(&url);
        if let Some(t) = &token {
            req = req.bearer_auth(t.expose());
        }
        let resp = match req.send().await {
            Ok(r) => r,
            Err(e) => {
                report.push(Check::fail(
                    if name.is_empty() {
                        "connect".to_string()
                    } else {
                        format!("GET {name}")
                    },
                    format!("{}: {}", graph_url, auth::without_url(&e)),
                    "check graph_url, the network path (proxy: HTTPS_PROXY) and tls",
                ));
                continue;
            }
        };
        if first.is_none() {
            first = Some(doctor::HttpFacts::of(&resp));
        }
        if name.is_empty() {
            continue;
        }
        let status = resp.status();
        let body: serde_json::Value = resp.json().await.unwrap_or_default();
        let check = format!("GET {name}");
        if status.is_success() {
            report.push(Check::ok(check, format!("HTTP {}", status.as_u16())));
        } else {
            let code = body
                .pointer("/error/code")
                .and_then(|v| v.as_str())
                .unwrap_or("");
            let msg = body
                .pointer("/error/message")
                .and_then(|v| v.as_str())
                .unwrap_or("");
            let detail = format!("HTTP {} {code}: {msg}", status.as_u16());
            let role_read = name.starts_with("/roleManagement");
            let hint = if status.as_u16() == 403 {
                "the token lacks the permission for this request: see the permission checks above"
            } else {
                "the service refused the request: check graph_url and the tenant"
            };
            report.push(if role_read && status.as_u16() == 403 {
                Check::warn(check, detail, hint)
            } else {
                Check::fail(check, detail, hint)
            });
        }
    }
    if let Some(doctor::HttpFacts { date, tls }) = first {
        if app.sandbox.is_some() {
            report.push(Check::ok(
                "tls",
                "none needed: the sandbox runs in-process on loopback",
            ));
        } else {
            report.push(doctor::http_tls_check(
                &doctor::url_host(&graph_url),
                graph_url.starts_with("https:"),
                tls.as_ref(),
            ));
        }
        // The token endpoint's own TLS, when it is another host.
        if doctor::url_host(&login_url) != doctor::url_host(&graph_url)
            && login_url.starts_with("https:")
        {
            let url = format!(
                "{login_url}/{}/v2.0/.well-known/openid-configuration",
                path_segment(&ep.tenant)
            );
            match client.get(&url).send().await {
                Ok(r) => {
                    let info = r.extensions().get::<reqwest::tls::TlsInfo>().cloned();
                    report.push(doctor::http_tls_check(
                        &doctor::url_host(&login_url),
                        true,
                        info.as_ref(),
                    ));
                }
                Err(e) => report.push(Check::fail(
                    "tls",
                    format!(
                        "{}: {}",
                        doctor::url_host(&login_url),
                        auth::without_url(&e)
                    ),
                    "check login_url and tls",
                )),
            }
        }
        match date
            .as_deref()
            .and_then(|d| doctor::http_date_skew(d, std::time::SystemTime::now()))
        {
            Some(skew) => report.push(doctor::skew_check(skew, "the Date header of Graph")),
            None => report.push(Check::warn(
                "clock skew",
                "Graph sent no readable Date header",
                "nothing to do unless tokens are refused as not yet valid or expired",
            )),
        }
    }
    Ok(())
}

/// The permission table as Markdown rows (`| feature | permission | also |`), as
/// docs/connect.md's doctor section shows it.
pub fn permission_table_markdown() -> String {
    let mut s =
        String::from("| feature | least privileged permission | also accepted |\n|---|---|---|\n");
    for n in PERMISSIONS {
        let level = match n.level {
            Level::Required => "",
            Level::Recommended => " (recommended)",
        };
        let also = if n.also.is_empty() {
            "—".to_string()
        } else {
            n.also
                .iter()
                .map(|p| format!("`{p}`"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        s.push_str(&format!(
            "| {}{level} | `{}` | {also} |\n",
            n.feature, n.permission
        ));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn jwt(payload: serde_json::Value) -> String {
        format!(
            "e30.{}.sig",
            URL_SAFE_NO_PAD.encode(serde_json::to_vec(&payload).unwrap())
        )
    }

    fn app(yaml_switches: crate::desired::Switches) -> Office365App {
        let mut a: Office365App =
            serde_json::from_value(serde_json::json!({"name": "o365"})).unwrap();
        a.switches = yaml_switches;
        a
    }

    #[test]
    fn claims_are_read_without_verifying() {
        let t = jwt(
            serde_json::json!({"roles": ["User.Read.All", "Group.Read.All"], "exp": 200, "iat": 100, "tid": "t"}),
        );
        let c = decode_claims(&t).unwrap();
        assert_eq!(c.roles, vec!["Group.Read.All", "User.Read.All"]);
        assert_eq!(
            (c.exp, c.iat, c.tid.as_deref()),
            (Some(200), Some(100), Some("t"))
        );
        assert_eq!(decode_claims("opaque"), None);
    }

    #[test]
    fn switches_decide_the_write_permissions() {
        let desired = DesiredState::default();
        let read_only = crate::desired::Switches {
            create_users: false,
            update_users: false,
            delete_users: false,
            password_sync: false,
            enable_disable_users: false,
            create_groups: false,
            delete_groups: false,
            sync_memberships: false,
        };
        let features = |a: &Office365App| {
            needs(a, &desired)
                .iter()
                .map(|(n, _)| n.feature)
                .collect::<Vec<_>>()
        };
        let ro = features(&app(read_only));
        assert!(
            !ro.contains(&"user writes") && !ro.contains(&"memberships"),
            "{ro:?}"
        );
        let mut members_only = read_only;
        members_only.sync_memberships = true;
        assert!(features(&app(members_only)).contains(&"memberships"));
        let all = features(&app(crate::desired::Switches::default()));
        assert!(
            all.contains(&"user writes") && all.contains(&"group writes"),
            "{all:?}"
        );
        let mut rag = app(read_only);
        rag.manage_role_assignable_groups = true;
        assert!(features(&rag).contains(&"role-assignable groups"));
    }

    #[test]
    fn missing_permissions_fail_and_broader_ones_count() {
        let desired = DesiredState::default();
        let a = app(crate::desired::Switches::default());
        let roles = |r: &[&str]| r.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let checks = permission_checks(
            &needs(&a, &desired),
            &roles(&["User.Read.All", "Group.Read.All"]),
        );
        let failed: Vec<&str> = checks
            .iter()
            .filter(|c| c.status == doctor::Status::Fail)
            .map(|c| c.check.as_str())
            .collect();
        assert!(failed.contains(&"permission user writes"), "{failed:?}");
        assert!(failed.contains(&"permission memberships"), "{failed:?}");
        assert!(!failed.contains(&"permission read users"), "{failed:?}");
        let uw = checks
            .iter()
            .find(|c| c.check == "permission user writes")
            .unwrap();
        assert!(
            uw.detail.contains("missing User.ReadWrite.All"),
            "{}",
            uw.detail
        );
        assert!(
            uw.detail.contains("Group.Read.All, User.Read.All"),
            "{}",
            uw.detail
        );
        // Directory.ReadWrite.All covers everything but is flagged as too broad.
        let broad = permission_checks(&needs(&a, &desired), &roles(&[DIR_WRITE]));
        assert!(
            broad.iter().all(|c| c.status != doctor::Status::Fail),
            "{broad:?}"
        );
        assert!(
            broad
                .iter()
                .any(|c| c.check == "permission least privilege")
        );
        // A missing role read is only a warning.
        let least = roles(&[
            "User.ReadWrite.All",
            "Group.ReadWrite.All",
            "LicenseAssignment.Read.All",
            "Domain.Read.All",
        ]);
        let checks = permission_checks(&needs(&a, &desired), &least);
        let admins = checks
            .iter()
            .find(|c| c.check.contains("protect admins"))
            .unwrap();
        assert_eq!(admins.status, doctor::Status::Warn);
        assert!(
            checks.iter().all(|c| c.status != doctor::Status::Fail),
            "{checks:?}"
        );
    }

    #[test]
    fn docs_connect_lists_every_permission_of_the_table() {
        let doc = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/connect.md"))
            .unwrap();
        let table = permission_table_markdown();
        assert!(
            doc.contains(&table),
            "docs/connect.md must hold the table of `roster doctor`:\n{table}"
        );
    }
}
