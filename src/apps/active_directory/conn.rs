//! The LDAP connection to a domain controller: URL checks, TLS (ldaps:// or StartTLS,
//! an extra CA file, an overridden server name, verification always on), the simple
//! bind, and per-operation timeouts, each failure turned into an error that says what
//! went wrong and where, without ever including the bind password.

use std::net::ToSocketAddrs;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, anyhow, bail};
use ldap3::{Ldap, LdapConnAsync, LdapConnSettings, LdapError, LdapResult, StdStream};
use rustls::ClientConfig;

use crate::desired::ActiveDirectoryApp;

/// How long to wait for the TCP connection plus TLS handshake.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(15);
/// How long one LDAP operation (or one page / entry of a search) may take.
pub const OP_TIMEOUT: Duration = Duration::from_secs(120);

/// Where and how to connect, derived from the app settings.
#[derive(Debug, Clone)]
pub struct Endpoint {
    /// The URL as configured, for messages.
    pub url: String,
    pub host: String,
    pub port: u16,
    /// ldaps:// (TLS from the first byte).
    pub ldaps: bool,
    /// StartTLS on ldap://.
    pub starttls: bool,
    /// The name the certificate is verified against.
    pub server_name: String,
    pub ca_file: Option<PathBuf>,
}

impl Endpoint {
    pub fn from_app(app: &ActiveDirectoryApp, repo_root: &Path) -> anyhow::Result<Endpoint> {
        let parsed = url::Url::parse(&app.url)
            .with_context(|| format!("url {:?} is not a valid URL", app.url))?;
        let ldaps = match parsed.scheme() {
            "ldaps" => true,
            "ldap" => false,
            other => bail!(
                "url {:?} has scheme {other:?}; use ldap:// (StartTLS) or ldaps://",
                app.url
            ),
        };
        let host = parsed
            .host_str()
            .filter(|h| !h.is_empty())
            .ok_or_else(|| anyhow!("url {:?} has no host", app.url))?
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_string();
        let port = parsed.port().unwrap_or(if ldaps { 636 } else { 389 });
        let tls = app.tls.clone().unwrap_or_default();
        let starttls = !ldaps && app.starttls.unwrap_or(true);
        Ok(Endpoint {
            url: app.url.clone(),
            server_name: tls.server_name.clone().unwrap_or_else(|| host.clone()),
            host,
            port,
            ldaps,
            starttls,
            ca_file: tls.ca_file.map(|f| repo_root.join(f)),
        })
    }

    /// Whether the connection is encrypted.
    pub fn is_tls(&self) -> bool {
        self.ldaps || self.starttls
    }

    fn tls_config(&self) -> anyhow::Result<Arc<ClientConfig>> {
        let mut roots = rustls::RootCertStore::empty();
        let native = rustls_native_certs::load_native_certs();
        for cert in native.certs {
            let _ = roots.add(cert);
        }
        if let Some(ca) = &self.ca_file {
            for cert in crate::apps::kit::tls::read_ca_file(ca)? {
                roots.add(cert).with_context(|| {
                    format!("tls.ca_file {} holds an unusable certificate", ca.display())
                })?;
            }
        }
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let config = ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .context("TLS set-up")?
            .with_root_certificates(roots)
            .with_no_client_auth();
        Ok(Arc::new(config))
    }
}

/// Open the connection, bind, and return the handle. The driver task runs in the
/// background until the handle is unbound or dropped.
pub async fn connect(endpoint: &Endpoint, bind_dn: &str, password: &str) -> anyhow::Result<Ldap> {
    let where_ = format!("{}:{}", endpoint.host, endpoint.port);
    // Resolve and connect ourselves, so that the TLS name can differ from the host.
    let addrs: Vec<_> = {
        let target = (endpoint.host.clone(), endpoint.port);
        tokio::task::spawn_blocking(move || target.to_socket_addrs().map(|a| a.collect()))
            .await
            .context("name resolution task")?
            .with_context(|| {
                format!("cannot reach LDAP server {where_}: the name does not resolve")
            })?
    };
    let mut last_err = None;
    let mut stream = None;
    for addr in addrs {
        match tokio::time::timeout(CONNECT_TIMEOUT, tokio::net::TcpStream::connect(addr)).await {
            Ok(Ok(s)) => {
                stream = Some(s);
                break;
            }
            Ok(Err(e)) => last_err = Some(e.to_string()),
            Err(_) => last_err = Some(format!("no answer within {CONNECT_TIMEOUT:?}")),
        }
    }
    let stream = stream.ok_or_else(|| {
        anyhow!(
            "cannot reach LDAP server {where_} ({}): {}",
            endpoint.url,
            last_err.unwrap_or_else(|| "no address".into())
        )
    })?;
    let std_stream = stream
        .into_std()
        .context("cannot hand the TCP connection to the LDAP client")?;
    let mut settings = LdapConnSettings::new()
        .set_conn_timeout(CONNECT_TIMEOUT)
        .set_std_stream(StdStream::Tcp(std_stream));
    if endpoint.is_tls() {
        settings = settings
            .set_config(endpoint.tls_config()?)
            .set_starttls(endpoint.starttls);
    }
    // The URL given to the client carries the name to verify; the stream is already open.
    let scheme = if endpoint.ldaps { "ldaps" } else { "ldap" };
    let host = if endpoint.server_name.contains(':') {
        format!("[{}]", endpoint.server_name)
    } else {
        endpoint.server_name.clone()
    };
    let client_url = format!("{scheme}://{host}:{}", endpoint.port);
    let (conn, mut ldap) = LdapConnAsync::with_settings(settings, &client_url)
        .await
        .map_err(|e| connect_error(endpoint, e))?;
    ldap3::drive!(conn);

    let bind = timed(OP_TIMEOUT, ldap.simple_bind(bind_dn, password))
        .await
        .with_context(|| format!("bind as {bind_dn} at {} failed", endpoint.url))?;
    if bind.rc != 0 {
        let why = match bind.rc {
            49 => "invalid credentials",
            8 | 13 => "the server requires an encrypted connection or stronger authentication",
            53 => "the server is unwilling to perform it",
            _ => "refused",
        };
        bail!(
            "bind as {bind_dn} at {} refused: {why} (LDAP result {}{})",
            endpoint.url,
            bind.rc,
            text_suffix(&bind)
        );
    }
    Ok(ldap)
}

fn connect_error(endpoint: &Endpoint, e: LdapError) -> anyhow::Error {
    let msg = error_chain(&e);
    let lower = msg.to_lowercase();
    if endpoint.is_tls()
        && (lower.contains("certificate")
            || lower.contains("tls")
            || lower.contains("handshake")
            || lower.contains("unknownissuer")
            || lower.contains("notvalidforname"))
    {
        let ca = endpoint
            .ca_file
            .as_ref()
            .map(|p| format!("tls.ca_file {}", p.display()))
            .unwrap_or_else(|| "the system's trusted CAs".into());
        anyhow!(
            "TLS with LDAP server {}:{} failed ({}; server name {}, trusting {ca}): {msg}",
            endpoint.host,
            endpoint.port,
            if endpoint.ldaps { "ldaps" } else { "StartTLS" },
            endpoint.server_name,
        )
    } else if matches!(e, LdapError::LdapResult { .. }) && endpoint.starttls {
        anyhow!(
            "StartTLS with LDAP server {}:{} was refused: {msg}",
            endpoint.host,
            endpoint.port
        )
    } else {
        anyhow!(
            "cannot connect to LDAP server {}:{} ({}): {msg}",
            endpoint.host,
            endpoint.port,
            endpoint.url
        )
    }
}

/// All messages of an error and its sources, joined.
pub fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut parts = vec![e.to_string()];
    let mut cur = e.source();
    while let Some(s) = cur {
        let text = s.to_string();
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        cur = s.source();
    }
    parts.join(": ")
}

/// `": <server text>"` when the server said something.
pub fn text_suffix(res: &LdapResult) -> String {
    if res.text.is_empty() {
        String::new()
    } else {
        format!(": {}", res.text.trim_end_matches('\0').trim())
    }
}

/// A failure of the connection itself (I/O, protocol, timeout), as opposed to an LDAP
/// result code: callers that could fall back to another way of reading must not, since
/// the connection is likely gone. Find it with [`is_transport`].
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct Transport(pub String);

/// Whether an error (or any error it was given context for) is a [`Transport`] failure.
pub fn is_transport(e: &anyhow::Error) -> bool {
    e.chain().any(|c| c.is::<Transport>())
}

/// Run one LDAP operation with a timeout, turning protocol errors into anyhow (as
/// [`Transport`] errors).
pub async fn timed<T>(
    limit: Duration,
    fut: impl std::future::Future<Output = Result<T, LdapError>>,
) -> anyhow::Result<T> {
    match tokio::time::timeout(limit, fut).await {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(Transport(error_chain(&e)).into()),
        Err(_) => Err(Transport(format!("no answer from the LDAP server within {limit:?}")).into()),
    }
}
