//! `roster doctor` for ldap apps: the connection (TLS and bind), what the root DSE
//! offers (paged results, Password Modify), and that `users_ou` and `groups_ou` exist.
//! Nothing is written.

use super::{LdapConnector, PASSWORD_MODIFY_OID, RootDse};
use crate::apps::ConnectContext;
use crate::apps::kit::doctor::{AppReport, Check};
use crate::desired::LdapApp;

/// Runs every check of an ldap app.
pub async fn doctor(app: &LdapApp, ctx: &ConnectContext) -> AppReport {
    let mut report = AppReport::new(&app.name, "ldap");
    let connector = match LdapConnector::connect(app, ctx).await {
        Ok(c) => c,
        Err(e) => {
            report.push(Check::fail(
                "connect",
                format!("{e:#}"),
                "check url, tls.ca_file, bind_dn and bind_password, and that users_ou and groups_ou exist (docs/ldap.md)",
            ));
            return report;
        }
    };
    if connector.is_tls() {
        report.push(Check::ok(
            "tls",
            format!("{}: encrypted", connector.endpoint.url),
        ));
    } else {
        report.push(Check::warn(
            "tls",
            format!("{}: clear text (starttls: false)", connector.endpoint.url),
            "use ldaps:// or StartTLS: roster refuses to set passwords without TLS",
        ));
    }
    report.push(Check::ok("bind", format!("bound as {}", app.bind_dn)));
    report.push(Check::ok(
        "users_ou, groups_ou",
        format!("{} and {} exist", app.users_ou, app.groups_ou),
    ));
    match RootDse::read(&connector.ldap).await {
        Ok(dse) => {
            if dse.paged() {
                report.push(Check::ok("paged results", "offered: reads are paged"));
            } else {
                report.push(Check::warn(
                    "paged results",
                    "not offered: reads are single searches",
                    "a server size limit below the number of users fails the read; raise it for the bind account",
                ));
            }
            if dse.extensions.iter().any(|e| e == PASSWORD_MODIFY_OID) {
                report.push(Check::ok("password modify", "offered (RFC 3062)"));
            } else {
                report.push(Check::warn(
                    "password modify",
                    "the root DSE does not list the Password Modify extended operation",
                    "passwords cannot be set on this server (switches.password_sync: false)",
                ));
            }
        }
        Err(e) => report.push(Check::warn(
            "root DSE",
            format!("{e:#}"),
            "check the bind account's read rights on the root DSE",
        )),
    }
    let _ = connector.close().await;
    report
}
