//! `roster doctor` for active_directory apps: the TLS handshake on its own (LDAPS, or
//! StartTLS on ldap://) for the protocol version and the server certificate, the bind,
//! the clock skew (rootDSE `currentTime`), and for `base_dn`, `users_ou` and
//! `groups_ou`: that they exist, can be listed, and — from AD's constructed
//! `allowedChildClassesEffective` — whether the account may create users and groups
//! there. Nothing is written.

use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail};
use ldap3::Scope;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::conn::{self, Endpoint, OP_TIMEOUT, timed};
use super::read::{first, read_base};
use crate::apps::ConnectContext;
use crate::apps::kit::doctor::{self, AppReport, Check};
use crate::desired::ActiveDirectoryApp;

/// The StartTLS extended request (RFC 4511 §4.14.1) as message 1, BER-encoded.
const STARTTLS_REQUEST: &[u8] = b"\x30\x1d\x02\x01\x01\x77\x18\x80\x16\
1.3.6.1.4.1.1466.20037";

/// Runs every check of an active_directory app.
pub async fn doctor(app: &ActiveDirectoryApp, ctx: &ConnectContext) -> AppReport {
    let mut report = AppReport::new(&app.name, "active_directory");
    let endpoint = match conn::endpoint(app, &ctx.repo_root) {
        Ok(e) => e,
        Err(e) => {
            report.push(Check::fail("connect", format!("{e:#}"), "check url"));
            return report;
        }
    };
    let password = match crate::secret::resolve(&app.bind_password, &ctx.repo_root) {
        Ok(p) => p,
        Err(e) => {
            report.push(Check::fail(
                "bind",
                format!("cannot read `bind_password`: {e:#}"),
                "set the secret the app's `bind_password` references",
            ));
            return report;
        }
    };
    if endpoint.is_tls() {
        match tls_probe(&endpoint).await {
            Ok((version, cert)) => {
                let mode = if endpoint.ldaps { "LDAPS" } else { "StartTLS" };
                let host = format!(
                    "{}:{} ({mode}, verified for {})",
                    endpoint.host, endpoint.port, endpoint.server_name
                );
                report.push(doctor::tls_check(&host, Some(&version), cert.as_ref()));
            }
            Err(e) => {
                report.push(Check::fail(
                    "tls",
                    format!("{e:#}"),
                    "trust the domain's CA with tls.ca_file, or set tls.server_name to the name in the DC's certificate (docs/connect.md, \"TLS: LDAPS or StartTLS\")",
                ));
            }
        }
    } else {
        report.push(Check::warn(
            "tls",
            format!("{}: clear text (starttls: false)", endpoint.url),
            "use ldaps:// or StartTLS: the password of the bind and any user password travel in clear text otherwise",
        ));
    }
    let ldap = match conn::connect(&endpoint, &app.bind_dn, password.expose()).await {
        Ok(l) => l,
        Err(e) => {
            let tls_failed = report
                .checks
                .iter()
                .any(|c| c.check == "tls" && c.status == doctor::Status::Fail);
            let hint = if tls_failed {
                "fix the TLS failure above first"
            } else {
                "check bind_dn and bind_password (an expired or locked account refuses the bind too)"
            };
            report.push(Check::fail("bind", format!("{e:#}"), hint));
            return report;
        }
    };
    report.push(Check::ok("bind", format!("as {}", app.bind_dn)));
    match read_base(&ldap, "", &["currentTime", "defaultNamingContext"]).await {
        Ok(Some(root)) => match first(&root, "currentTime")
            .and_then(|t| doctor::generalized_time_skew(t, std::time::SystemTime::now()))
        {
            Some(skew) => report.push(doctor::skew_check(skew, "the rootDSE currentTime")),
            None => report.push(Check::warn(
                "clock skew",
                "the rootDSE has no readable currentTime",
                "nothing to do unless binds fail with Kerberos time errors",
            )),
        },
        Ok(None) | Err(_) => report.push(Check::warn(
            "clock skew",
            "the rootDSE cannot be read",
            "nothing to do unless binds fail with time errors",
        )),
    }
    let s = &app.switches;
    let places = [
        ("base_dn", app.base_dn.as_str(), None),
        (
            "users_ou",
            app.users_ou.as_str(),
            (s.create_users).then_some("user"),
        ),
        (
            "groups_ou",
            app.groups_ou.as_str(),
            (s.create_groups).then_some("group"),
        ),
    ];
    for (key, dn, create) in places {
        report
            .checks
            .extend(check_container(&ldap, key, dn, create).await);
    }
    let mut ldap = ldap;
    let _ = ldap.unbind().await;
    report
}

/// Existence, listing and create rights of one container.
async fn check_container(
    ldap: &ldap3::Ldap,
    key: &str,
    dn: &str,
    create: Option<&str>,
) -> Vec<Check> {
    let mut out = Vec::new();
    let entry = match read_base(ldap, dn, &["allowedChildClassesEffective"]).await {
        Ok(Some(e)) => e,
        Ok(None) => {
            out.push(Check::fail(
                key,
                format!("{dn} does not exist (or the account cannot see it)"),
                format!("create the container or correct `{key}`; the account needs Read on it"),
            ));
            return out;
        }
        Err(e) => {
            out.push(Check::fail(
                key,
                format!("{e:#}"),
                format!("grant the account Read on {dn}"),
            ));
            return out;
        }
    };
    // One object below it proves the account may list the subtree.
    let mut l = ldap.clone();
    let listed = timed(
        OP_TIMEOUT,
        l.with_search_options(ldap3::SearchOptions::new().sizelimit(1))
            .search(dn, Scope::OneLevel, "(objectClass=*)", vec!["1.1"]),
    )
    .await;
    match listed {
        Ok(res) if matches!(res.1.rc, 0 | 4) => {
            out.push(Check::ok(key, format!("{dn} exists and can be listed")))
        }
        Ok(res) => out.push(Check::fail(
            key,
            format!(
                "listing {dn} failed: LDAP result {}{}",
                res.1.rc,
                conn::text_suffix(&res.1)
            ),
            format!("grant the account Read and List Contents on {dn}"),
        )),
        Err(e) => out.push(Check::fail(
            key,
            format!("listing {dn}: {e:#}"),
            format!("grant the account Read on {dn}"),
        )),
    }
    if let Some(class) = create {
        let allowed: Vec<String> = entry
            .attrs
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case("allowedChildClassesEffective"))
            .map(|(_, v)| v.clone())
            .unwrap_or_default();
        out.push(create_right_check(key, dn, class, &allowed));
    }
    out
}

/// Whether `allowedChildClassesEffective` of a container lets the account create
/// `class` objects in it. An empty list means the server did not say (not AD, or no
/// rights at all): a warning, since the first create will tell. Pure.
pub fn create_right_check(key: &str, dn: &str, class: &str, allowed: &[String]) -> Check {
    let name = format!("{key} create {class}");
    if allowed.is_empty() {
        return Check::warn(
            name,
            format!("{dn}: the server reports no allowedChildClassesEffective"),
            format!(
                "delegate \"Create {class} objects\" on {dn} to the account (docs/connect.md, \"The service account\")"
            ),
        );
    }
    if allowed.iter().any(|c| c.eq_ignore_ascii_case(class)) {
        Check::ok(
            name,
            format!("the account may create {class} objects in {dn}"),
        )
    } else {
        Check::fail(
            name,
            format!(
                "the account may not create {class} objects in {dn} (allowed: {})",
                allowed.join(", ")
            ),
            format!(
                "delegate \"Create {class} objects\" on {dn} to the account, or turn the switch off"
            ),
        )
    }
}

/// A TLS handshake of its own with the server (after StartTLS on ldap://), with the
/// same trust as the connector: the protocol version and the server certificate.
async fn tls_probe(ep: &Endpoint) -> Result<(String, Option<doctor::CertInfo>)> {
    let addr = format!("{}:{}", ep.host, ep.port);
    let mut tcp = tokio::time::timeout(
        Duration::from_secs(15),
        tokio::net::TcpStream::connect(&addr),
    )
    .await
    .map_err(|_| anyhow!("cannot reach LDAP server {addr}: no answer within 15 s"))?
    .with_context(|| format!("cannot reach LDAP server {addr}"))?;
    if ep.starttls {
        tcp.write_all(STARTTLS_REQUEST)
            .await
            .context("StartTLS request")?;
        let msg = read_ber_message(&mut tcp)
            .await
            .context("StartTLS response")?;
        match extended_result_code(&msg) {
            Some(0) => {}
            Some(rc) => bail!("StartTLS with LDAP server {addr} was refused: LDAP result {rc}"),
            None => bail!("LDAP server {addr} answered StartTLS with an unreadable message"),
        }
    }
    let config = client_config(ep)?;
    let name = rustls::pki_types::ServerName::try_from(ep.server_name.clone())
        .map_err(|_| anyhow!("{:?} is not a TLS server name", ep.server_name))?;
    let tls = tokio::time::timeout(
        Duration::from_secs(15),
        tokio_rustls::TlsConnector::from(config).connect(name, tcp),
    )
    .await
    .map_err(|_| anyhow!("TLS handshake with {addr}: no answer within 15 s"))?
    .with_context(|| {
        format!(
            "TLS with LDAP server {addr} failed (server name {}, trusting {})",
            ep.server_name,
            ep.ca_file
                .as_ref()
                .map(|p| format!("tls.ca_file {}", p.display()))
                .unwrap_or_else(|| "the system's trusted CAs".into())
        )
    })?;
    let session = tls.get_ref().1;
    let version = match session.protocol_version() {
        Some(rustls::ProtocolVersion::TLSv1_3) => "TLSv1.3",
        Some(rustls::ProtocolVersion::TLSv1_2) => "TLSv1.2",
        _ => "TLS",
    }
    .to_string();
    let cert = session
        .peer_certificates()
        .and_then(|c| c.first())
        .and_then(|der| doctor::cert_info(der.as_ref(), time::OffsetDateTime::now_utc()));
    Ok((version, cert))
}

/// The trust of `conn`: the native roots and `tls.ca_file`.
fn client_config(ep: &Endpoint) -> Result<Arc<rustls::ClientConfig>> {
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls_native_certs::load_native_certs().certs {
        let _ = roots.add(cert);
    }
    if let Some(ca) = &ep.ca_file {
        for cert in crate::apps::kit::tls::read_ca_file(ca)? {
            roots.add(cert).with_context(|| {
                format!("tls.ca_file {} holds an unusable certificate", ca.display())
            })?;
        }
    }
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .context("TLS set-up")?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

/// Reads one BER TLV (an LDAPMessage) from the stream.
async fn read_ber_message(s: &mut tokio::net::TcpStream) -> Result<Vec<u8>> {
    let mut head = [0u8; 2];
    tokio::time::timeout(Duration::from_secs(15), s.read_exact(&mut head))
        .await
        .map_err(|_| anyhow!("no answer within 15 s"))??;
    let mut msg = head.to_vec();
    let len = if head[1] & 0x80 == 0 {
        head[1] as usize
    } else {
        let n = (head[1] & 0x7f) as usize;
        if n == 0 || n > 4 {
            bail!("unsupported BER length");
        }
        let mut l = vec![0u8; n];
        s.read_exact(&mut l).await?;
        msg.extend_from_slice(&l);
        l.iter().fold(0usize, |acc, b| (acc << 8) | *b as usize)
    };
    if len > 64 * 1024 {
        bail!("oversized message");
    }
    let mut body = vec![0u8; len];
    s.read_exact(&mut body).await?;
    msg.extend_from_slice(&body);
    Ok(msg)
}

/// The resultCode of an ExtendedResponse (`[APPLICATION 24]`) message. Pure.
pub fn extended_result_code(msg: &[u8]) -> Option<u8> {
    // SEQUENCE { messageID INTEGER, [APPLICATION 24] { resultCode ENUMERATED, ... } }
    let mut i = skip_header(msg, 0, 0x30)?;
    // messageID
    if *msg.get(i)? != 0x02 {
        return None;
    }
    let (len, at) = length(msg, i + 1)?;
    i = at + len;
    i = skip_header(msg, i, 0x78)?;
    if *msg.get(i)? != 0x0a || *msg.get(i + 1)? != 0x01 {
        return None;
    }
    msg.get(i + 2).copied()
}

/// The offset of the content of a TLV with `tag` at `at`.
fn skip_header(msg: &[u8], at: usize, tag: u8) -> Option<usize> {
    if *msg.get(at)? != tag {
        return None;
    }
    length(msg, at + 1).map(|(_, content)| content)
}

/// A BER length at `at`: (length, offset of the content).
fn length(msg: &[u8], at: usize) -> Option<(usize, usize)> {
    let b = *msg.get(at)?;
    if b & 0x80 == 0 {
        return Some((b as usize, at + 1));
    }
    let n = (b & 0x7f) as usize;
    let bytes = msg.get(at + 1..at + 1 + n)?;
    Some((
        bytes.iter().fold(0, |acc, x| (acc << 8) | *x as usize),
        at + 1 + n,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::apps::kit::doctor::Status;

    #[test]
    fn the_starttls_request_is_well_formed() {
        assert_eq!(STARTTLS_REQUEST.len(), 2 + 0x1d);
        assert_eq!(&STARTTLS_REQUEST[9..], b"1.3.6.1.4.1.1466.20037");
    }

    #[test]
    fn extended_responses_give_their_result_code() {
        // success, messageID 1, matchedDN "", diagnosticMessage "", responseName
        let ok = b"\x30\x24\x02\x01\x01\x78\x1f\x0a\x01\x00\x04\x00\x04\x00\x8a\x16\
1.3.6.1.4.1.1466.20037";
        assert_eq!(extended_result_code(ok), Some(0));
        let refused = b"\x30\x0c\x02\x01\x01\x78\x07\x0a\x01\x35\x04\x00\x04\x00";
        assert_eq!(extended_result_code(refused), Some(53));
        // long-form lengths
        let long = b"\x30\x81\x0d\x02\x01\x01\x78\x81\x07\x0a\x01\x02\x04\x00\x04\x00";
        assert_eq!(extended_result_code(long), Some(2));
        assert_eq!(extended_result_code(b"\x30\x03\x02\x01\x01"), None);
        assert_eq!(extended_result_code(b""), None);
    }

    #[test]
    fn create_rights_come_from_allowed_child_classes() {
        let classes = |c: &[&str]| c.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let ok = create_right_check(
            "users_ou",
            "OU=People,DC=x",
            "user",
            &classes(&["contact", "User"]),
        );
        assert_eq!(ok.status, Status::Ok);
        let no = create_right_check(
            "groups_ou",
            "OU=Groups,DC=x",
            "group",
            &classes(&["contact"]),
        );
        assert_eq!(no.status, Status::Fail);
        assert!(
            no.detail
                .contains("may not create group objects in OU=Groups,DC=x"),
            "{}",
            no.detail
        );
        assert!(no.hint.unwrap().contains("Create group objects"));
        let unknown = create_right_check("users_ou", "OU=P", "user", &[]);
        assert_eq!(unknown.status, Status::Warn);
    }
}
