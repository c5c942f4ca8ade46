//! How a failed command's error reads on the terminal: `error: …`, one `caused by: …`
//! line per cause (a cause whose words the line above already says is left out), then
//! a `hint: …` for the failures roster knows the fix of.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicBool, Ordering};

use annotate_snippets::{AnnotationKind, Group, Level, Renderer, Snippet};

use crate::apps::kit::retry;
use crate::apps::scim::http::ScimError;
use crate::desired::{Diagnostic, Loaded, Severity};
use crate::secret::SecretError;

static COLOR: AtomicBool = AtomicBool::new(false);

/// Whether diagnostics on stderr get colour (stderr is a terminal and `--color` allows).
pub fn set_color(on: bool) {
    COLOR.store(on, Ordering::Relaxed);
}

/// Longest source line shown under a diagnostic; longer ones are cut around the caret.
const MAX_SHOWN_LINE: usize = 240;

/// One diagnostic for stderr: its `FILE:LINE:COL: severity: message` line, then, when
/// the source line is known, that line with a caret under the column (rendered by
/// `annotate-snippets`). No trailing newline.
pub fn diagnostic(d: &Diagnostic, source_line: Option<&str>, color: bool) -> String {
    let head = d.to_string();
    let Some(text) = source_line else {
        return head;
    };
    // Binary junk is not shown, nor a line that may hold a secret written literally.
    if text.chars().any(|c| c.is_control() && c != '\t') || may_hold_literal_secret(text) {
        return head;
    }
    // Columns count characters; spans are byte offsets.
    let mut start = text
        .char_indices()
        .nth(d.col.saturating_sub(1))
        .map_or(text.len(), |(i, _)| i);
    // A very long line (a minified value) is cut to a window around the caret.
    let mut shown = text;
    if text.len() > MAX_SHOWN_LINE {
        let mut from = start.saturating_sub(MAX_SHOWN_LINE / 2);
        while !text.is_char_boundary(from) {
            from -= 1;
        }
        let mut to = (from + MAX_SHOWN_LINE).min(text.len());
        while !text.is_char_boundary(to) {
            to -= 1;
        }
        shown = &text[from..to];
        start -= from;
    }
    let start = start.min(shown.len());
    // Underline the value at the column: a flow mapping or list up to its closing
    // bracket, anything else up to the next space or YAML punctuation.
    let rest = &shown[start..];
    let len = if rest.starts_with(['{', '[']) {
        let mut depth = 0i32;
        rest.char_indices()
            .find_map(|(i, c)| {
                match c {
                    '{' | '[' => depth += 1,
                    '}' | ']' => depth -= 1,
                    _ => {}
                }
                (depth == 0).then_some(i + 1)
            })
            // Not closed on this line: the bracket alone.
            .unwrap_or(1)
    } else {
        rest.find(|c: char| c.is_whitespace() || matches!(c, ',' | '}' | ']' | '#'))
            .unwrap_or(rest.len())
    };
    let end = start + len.max(usize::from(start < shown.len()));
    let level = match d.severity {
        Severity::Error => Level::ERROR,
        Severity::Warning => Level::WARNING,
    };
    let report = [Group::with_level(level).element(
        Snippet::source(shown)
            .line_start(d.line)
            .annotation(AnnotationKind::Primary.span(start..end)),
    )];
    let renderer = if color {
        Renderer::styled()
    } else {
        Renderer::plain()
    };
    let snippet = renderer.render(&report);
    format!("{head}\n{}", snippet.trim_end())
}

/// The keys whose values are secrets: written as anything but a `{ env: … }` or
/// `{ file: … }` mapping, the line is not shown (the loader refuses such values).
const SECRET_KEYS: &[&str] = &[
    "password",
    "bind_password",
    "token",
    "client_secret",
    "federated_token",
    "key_file",
];

fn may_hold_literal_secret(line: &str) -> bool {
    SECRET_KEYS.iter().any(|key| {
        line.match_indices(key).any(|(i, _)| {
            let before_ok = line[..i]
                .chars()
                .next_back()
                .is_none_or(|c| !(c.is_alphanumeric() || c == '_'));
            let after = line[i + key.len()..].trim_start_matches(['"', '\'']);
            before_ok
                && after.trim_start().starts_with(':')
                && !after.trim_start()[1..].trim_start().starts_with('{')
                && !after.trim_start()[1..].trim().is_empty()
        })
    })
}

/// Prints every diagnostic of `loaded` (or `diags`, positions in its files) to stderr,
/// each with its source line.
pub fn print_diagnostics(loaded: &Loaded, diags: &[Diagnostic]) {
    let color = COLOR.load(Ordering::Relaxed);
    for (d, line) in diags.iter().zip(loaded.source_lines(diags)) {
        crate::output::diag(&diagnostic(d, line, color));
    }
}

/// The error and its causes as lines for stderr, ending in a newline.
pub fn render(err: &anyhow::Error) -> String {
    let mut out = String::new();
    let mut prev = String::new();
    for (i, cause) in err.chain().enumerate() {
        let text = cause.to_string();
        let text = text.trim();
        if i > 0 && (text.is_empty() || prev.contains(text)) {
            continue;
        }
        if i == 0 {
            let _ = writeln!(out, "error: {text}");
        } else {
            let _ = writeln!(out, "  caused by: {text}");
        }
        prev = text.to_string();
    }
    for h in hints(err) {
        let _ = writeln!(out, "hint: {h}");
    }
    out
}

/// The hints that apply to an error's cause chain, each once, in a fixed order.
pub fn hints(err: &anyhow::Error) -> Vec<&'static str> {
    let texts: Vec<String> = err.chain().map(|c| c.to_string()).collect();
    let any = |needle: &str| texts.iter().any(|t| t.contains(needle));
    let mut out = Vec::new();
    let tls = err.chain().any(retry::is_tls_failure);
    if any("AADSTS7000215") || any("AADSTS7000222") {
        out.push(
            "the client secret is wrong or has expired: check the app's client secret and its \
             expiry in the app registration (Certificates & secrets)",
        );
    }
    if any("AADSTS700016") {
        out.push(
            "no application with this client_id is registered in the tenant: check `client_id` \
             and `tenant`",
        );
    }
    if any("AADSTS90002") {
        out.push("the tenant was not found: check `tenant`");
    }
    if (tls && any("UnknownIssuer")) || any("invalid peer certificate: UnknownIssuer") {
        out.push(
            "the server's certificate is issued by a CA that is not trusted: set `tls.ca_file` \
             to that CA's PEM certificate",
        );
    } else if (tls && any("NotValidForName"))
        || any("invalid peer certificate: certificate not valid for name")
    {
        out.push(
            "the server's certificate is not valid for the name roster verified it for (the \
             URL's host, or the app's `tls.server_name`): use a host name the certificate \
             holds, or set `tls.server_name` to one of them",
        );
    }
    if err.chain().any(retry::is_dns_failure) || any("dns error") {
        out.push(
            "the host name could not be resolved: check the host name in the app's URL and \
             this machine's DNS",
        );
    } else if any("Connection refused") || any("connection refused") {
        out.push(
            "nothing answered at that address: check the host and port, and that the service \
             is running",
        );
    }
    let missing_env = err.chain().any(|c| {
        matches!(
            c.downcast_ref::<SecretError>(),
            Some(SecretError::EnvMissing(_) | SecretError::EnvEmpty(_))
        )
    });
    if missing_env || any("environment variable") && any("is not set") {
        out.push(
            "set that environment variable where roster runs (in CI, map the secret into the \
             job's env), or fix the `env:` reference",
        );
    }
    if any("Authorization_RequestDenied") || any("HTTP 403 Forbidden") {
        out.push(
            "Graph refused the request: grant the app registration the Microsoft Graph \
             application permissions roster needs (User.ReadWrite.All, Group.ReadWrite.All; \
             User.Read.All and Group.Read.All to plan only) and an administrator's consent",
        );
    }
    if any("LDAP result 49") {
        out.push("the directory refused the bind: check `bind_dn` and `bind_password`");
    }
    if any("LDAP result 32") || any(" does not exist on ldap") {
        out.push(
            "the OU was not found: check `users_ou` / `groups_ou` (the full DN, as the \
             directory spells it) and that the bind account can read it",
        );
    }
    let scim_401 = err
        .chain()
        .any(|c| matches!(c.downcast_ref::<ScimError>(), Some(e) if e.status == 401))
        || any(": HTTP 401");
    if scim_401 && !any("AADSTS") {
        out.push(
            "the service refused the bearer token: check the app's token (and its expiry) and \
             that it is meant for this base URL",
        );
    }
    if any("HTTP 429") || any("throttl") {
        out.push(
            "the service kept throttling beyond roster's retries: run again later, read or \
             apply fewer apps at once, or allow longer waits (ROSTER_RETRY_MAX_SECONDS)",
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use anyhow::anyhow;

    #[test]
    fn diagnostics_show_their_line_with_a_caret_but_never_a_literal_secret() {
        let d = Diagnostic {
            file: "a.yaml".into(),
            line: 3,
            col: 12,
            severity: Severity::Error,
            message: "bad".into(),
        };
        let out = diagnostic(&d, Some("    email: x y"), false);
        assert_eq!(
            out,
            "a.yaml:3:12: error: bad\n  |\n3 |     email: x y\n  |            ^"
        );
        assert_eq!(diagnostic(&d, None, false), "a.yaml:3:12: error: bad");
        let secret = diagnostic(&d, Some("    bind_password: Hunter2"), false);
        assert!(!secret.contains("Hunter2"), "{secret}");
        let reference = diagnostic(&d, Some("    token: { env: T }"), false);
        assert!(reference.contains("{ env: T }"), "{reference}");
        assert!(diagnostic(&d, Some("    email: x y"), true).contains('\x1b'));
    }

    #[test]
    fn causes_follow_the_error_one_per_line() {
        let e = anyhow!("inner")
            .context("middle")
            .context("app x: cannot connect");
        assert_eq!(
            render(&e),
            "error: app x: cannot connect\n  caused by: middle\n  caused by: inner\n"
        );
    }

    #[test]
    fn a_cause_already_said_is_left_out() {
        let e = anyhow!("timed out")
            .context("cannot reach the token endpoint: timed out")
            .context("app x: cannot connect");
        assert_eq!(
            render(&e),
            "error: app x: cannot connect\n  caused by: cannot reach the token endpoint: timed out\n"
        );
    }

    #[test]
    fn typed_causes_give_hints() {
        let e = anyhow::Error::new(SecretError::EnvMissing("X".into())).context("client secret");
        assert_eq!(hints(&e).len(), 1);
        assert!(hints(&e)[0].contains("environment variable"));

        let tls = rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer);
        let e = anyhow::Error::new(std::io::Error::other(tls)).context("cannot connect");
        assert!(hints(&e).iter().any(|h| h.contains("tls.ca_file")));

        let name = rustls::pki_types::ServerName::try_from("127.0.0.1").unwrap();
        let tls =
            rustls::Error::InvalidCertificate(rustls::CertificateError::NotValidForNameContext {
                expected: name.to_owned(),
                presented: vec!["DnsName(\"graph.internal.test\")".into()],
            });
        let e = anyhow::Error::new(std::io::Error::other(tls)).context("cannot connect");
        assert!(hints(&e).iter().any(|h| h.contains("`tls.server_name`")));

        let scim = ScimError::from_body("GET", "/Users", 401, "");
        let e = anyhow::Error::new(scim).context("app s: cannot connect");
        assert!(hints(&e).iter().any(|h| h.contains("bearer token")));
    }

    #[test]
    fn text_causes_give_hints() {
        let e = anyhow!("failed (HTTP 401, invalid_client): AADSTS7000215: Invalid client secret");
        assert!(hints(&e)[0].contains("client secret"));
        let e = anyhow!("bind as cn=x at ldap://h refused: invalid credentials (LDAP result 49)");
        assert!(hints(&e)[0].contains("bind_password"));
        assert!(hints(&anyhow!("all fine")).is_empty());
    }
}
