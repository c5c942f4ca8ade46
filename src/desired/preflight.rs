//! The early reference check of `plan`, `apply` and `drift`: before any connection,
//! every secret reference (`{ env: NAME }`, `{ file: PATH }`), certificate and CA file
//! the selected apps need is resolved, and every one that cannot be is reported at
//! once, at the position of its reference. Values are read and dropped, never shown.

use std::path::Path;

use super::{App, Diagnostic, Loc, ObjLoc, Office365Credentials, SecretRef, Severity, SourceMap};
use crate::apps::office365::auth::{GITHUB_TOKEN_VAR, GITHUB_URL_VAR};

/// The problems with the references of the apps named in `apps` (every app when it is
/// empty), in app order; `root` is the repository root relative paths resolve against.
pub fn check(
    apps_of_state: &[App],
    sources: &SourceMap,
    root: &Path,
    apps: &[String],
) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    for (i, app) in apps_of_state.iter().enumerate() {
        if !apps.is_empty() && !apps.iter().any(|a| a == app.name()) {
            continue;
        }
        let fallback;
        let loc = match sources.apps.get(i) {
            Some(l) => l,
            None => {
                fallback = ObjLoc {
                    file: "".into(),
                    at: super::yaml::Pos { line: 1, col: 1 },
                    fields: Vec::new(),
                    items: Vec::new(),
                };
                &fallback
            }
        };
        let mut cx = AppCheck {
            name: app.name(),
            loc,
            root,
            out: &mut out,
        };
        match app {
            App::Office365(o) => {
                // A sandbox tenant needs no credentials.
                if o.sandbox.is_none() {
                    match &o.credentials {
                        Some(Office365Credentials::ClientSecret(r)) => {
                            cx.secret("credentials.client_secret", "client secret", r)
                        }
                        Some(Office365Credentials::FederatedToken(r)) => {
                            cx.secret("credentials.federated_token", "federated token", r);
                            if matches!(r, SecretRef::Env(n) if n == GITHUB_TOKEN_VAR) {
                                cx.secret(
                                    "credentials.federated_token",
                                    "federated token URL from GitHub Actions",
                                    &SecretRef::Env(GITHUB_URL_VAR.into()),
                                );
                            }
                        }
                        Some(Office365Credentials::Certificate(c)) => {
                            cx.file(
                                "credentials.certificate.cert_file",
                                "certificate file",
                                &c.cert_file,
                            );
                            cx.secret(
                                "credentials.certificate.key_file",
                                "certificate private key",
                                &c.key_file,
                            );
                        }
                        None => {}
                    }
                }
                cx.ca(o.tls.as_ref().and_then(|t| t.ca_file.as_deref()));
            }
            App::ActiveDirectory(a) => {
                cx.secret("bind_password", "bind password", &a.bind_password);
                cx.ca(a.tls.as_ref().and_then(|t| t.ca_file.as_deref()));
            }
            App::Ldap(a) => {
                cx.secret("bind_password", "bind password", &a.bind_password);
                cx.ca(a.tls.as_ref().and_then(|t| t.ca_file.as_deref()));
            }
            App::Scim(s) => {
                cx.secret("token", "bearer token", &s.token);
                cx.ca(s.tls.as_ref().and_then(|t| t.ca_file.as_deref()));
            }
            App::GoogleWorkspace(g) => {
                if let Some(c) = &g.credentials {
                    cx.secret(
                        "credentials.service_account_key",
                        "service account key",
                        &c.service_account_key,
                    );
                }
                cx.ca(g.tls.as_ref().and_then(|t| t.ca_file.as_deref()));
            }
        }
    }
    out
}

struct AppCheck<'a> {
    name: &'a str,
    loc: &'a ObjLoc,
    root: &'a Path,
    out: &'a mut Vec<Diagnostic>,
}

impl AppCheck<'_> {
    fn report(&mut self, field: &str, message: String) {
        let Loc { file, line, col } = self.loc.field(field);
        self.out.push(Diagnostic {
            file: file.to_string(),
            line,
            col,
            severity: Severity::Error,
            message: format!("app {}: {message}", self.name),
        });
    }

    fn secret(&mut self, field: &str, what: &str, r: &SecretRef) {
        // The value is read to prove it can be, and dropped here.
        if let Err(e) = crate::secret::resolve(r, self.root) {
            self.report(field, format!("{what} ({r}): {e}"));
        }
    }

    fn file(&mut self, field: &str, what: &str, path: &str) {
        let full = match crate::repo_paths::resolve(self.root, path, what, true) {
            Ok(p) => p,
            Err(e) => return self.report(field, e.to_string()),
        };
        if let Err(e) = std::fs::File::open(&full) {
            self.report(field, format!("cannot read {what} {}: {e}", full.display()));
        }
    }

    fn ca(&mut self, ca_file: Option<&str>) {
        let Some(path) = ca_file else { return };
        let full = match crate::repo_paths::resolve(self.root, path, "tls.ca_file", true) {
            Ok(p) => p,
            Err(e) => return self.report("tls.ca_file", e.to_string()),
        };
        if let Err(e) = crate::apps::kit::tls::read_ca_file(&full) {
            self.report("tls.ca_file", format!("{e:#}"));
        }
    }
}
