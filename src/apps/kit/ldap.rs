//! What every LDAP connector shares (active_directory, ldap): the connection (URL
//! checks, TLS by ldaps:// or StartTLS with an extra CA file and an overridden server
//! name, verification always on, the simple bind, per-operation timeouts, each failure
//! an error that says what went wrong and where, never with the bind password),
//! searches (paged or plain, base reads, attribute values) and the write primitives
//! (add, modify, delete with result codes kept for decisions).

use std::net::ToSocketAddrs;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, anyhow, bail};
use ldap3::{Ldap, LdapConnAsync, LdapConnSettings, LdapError, LdapResult, StdStream};
use rustls::ClientConfig;

use std::collections::HashSet;
use std::hash::Hash;

use ldap3::adapters::{Adapter, EntriesOnly, PagedResults};
use ldap3::controls::RawControl;
use ldap3::{Mod, Scope, SearchEntry};

use crate::desired::TlsSettings;

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
    /// The endpoint of an app's `url`, `tls` and `starttls` settings.
    pub fn new(
        app_url: &str,
        tls: Option<&TlsSettings>,
        starttls: Option<bool>,
        repo_root: &Path,
    ) -> anyhow::Result<Endpoint> {
        let parsed = url::Url::parse(app_url)
            .with_context(|| format!("url {app_url:?} is not a valid URL"))?;
        let ldaps = match parsed.scheme() {
            "ldaps" => true,
            "ldap" => false,
            other => {
                bail!("url {app_url:?} has scheme {other:?}; use ldap:// (StartTLS) or ldaps://")
            }
        };
        let host = parsed
            .host_str()
            .filter(|h| !h.is_empty())
            .ok_or_else(|| anyhow!("url {app_url:?} has no host"))?
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_string();
        let port = parsed.port().unwrap_or(if ldaps { 636 } else { 389 });
        let tls = tls.cloned().unwrap_or_default();
        let starttls = !ldaps && starttls.unwrap_or(true);
        Ok(Endpoint {
            url: app_url.to_string(),
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

    /// Refuses, before any write, to send a password over a connection without TLS.
    pub fn refuse_plain_password(&self, login: &str) -> anyhow::Result<()> {
        if self.is_tls() {
            Ok(())
        } else {
            bail!(
                "refusing to send the password of user {login} over {} without TLS; \
                 use ldaps:// or ldap:// with StartTLS",
                self.url
            )
        }
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

/// Why an incremental read (AD's or LDAP's) did not finish.
pub enum IncrementalFailure {
    /// The connection failed: the read fails, as a full read would.
    Fatal(anyhow::Error),
    /// Anything else: a full read follows.
    Restart(String),
}

impl From<anyhow::Error> for IncrementalFailure {
    fn from(e: anyhow::Error) -> Self {
        if is_transport(&e) {
            IncrementalFailure::Fatal(e)
        } else {
            IncrementalFailure::Restart(format!("{e:#}"))
        }
    }
}

/// Seconds since the epoch, for snapshot ages.
pub fn now_unix() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
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

/// A referral-free subtree search with request controls: with `page`, through the
/// Simple Paged Results control (RFC 2696) at that page size, else one plain search.
pub async fn search(
    ldap: &Ldap,
    base: &str,
    filter: &str,
    attrs: &[&str],
    controls: Vec<RawControl>,
    page: Option<i32>,
) -> anyhow::Result<Vec<SearchEntry>> {
    let mut ldap = ldap.clone();
    if !controls.is_empty() {
        ldap.with_controls(controls);
    }
    let attrs: Vec<String> = attrs.iter().map(|s| s.to_string()).collect();
    let mut adapters: Vec<Box<dyn Adapter<'_, String, Vec<String>>>> =
        vec![Box::new(EntriesOnly::new())];
    if let Some(size) = page {
        adapters.push(Box::new(PagedResults::new(size)));
    }
    let mut stream = timed(
        OP_TIMEOUT,
        ldap.streaming_search_with(adapters, base, Scope::Subtree, filter, attrs),
    )
    .await
    .with_context(|| format!("search under {base}"))?;
    let mut out = Vec::new();
    while let Some(entry) = timed(OP_TIMEOUT, stream.next())
        .await
        .with_context(|| format!("search under {base}"))?
    {
        out.push(SearchEntry::construct(entry));
    }
    let res = stream.finish().await;
    match res.rc {
        0 => Ok(out),
        32 => bail!("{base} does not exist (LDAP result 32 noSuchObject)"),
        4 => bail!(
            "search under {base} hit the server's size limit (LDAP result 4 sizeLimitExceeded){}; \
             raise the bind account's limit or let the server offer paged results",
            text_suffix(&res)
        ),
        3 => bail!(
            "search under {base} hit the server's time limit (LDAP result 3 timeLimitExceeded){}",
            text_suffix(&res)
        ),
        rc => bail!(
            "search under {base} failed: LDAP result {rc}{}",
            text_suffix(&res)
        ),
    }
}

/// Read one base object; `None` when it does not exist.
pub async fn read_base(
    ldap: &Ldap,
    dn: &str,
    attrs: &[&str],
) -> anyhow::Result<Option<SearchEntry>> {
    let mut ldap = ldap.clone();
    let res = timed(
        OP_TIMEOUT,
        ldap.search(dn, Scope::Base, "(objectClass=*)", attrs.to_vec()),
    )
    .await
    .with_context(|| format!("read {dn}"))?;
    match res.1.rc {
        0 => Ok(res.0.into_iter().next().map(SearchEntry::construct)),
        32 => Ok(None),
        rc => bail!("read {dn} failed: LDAP result {rc}{}", text_suffix(&res.1)),
    }
}

/// The first value of an attribute, case-insensitively by name.
pub fn first<'e>(entry: &'e SearchEntry, name: &str) -> Option<&'e str> {
    entry
        .attrs
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .and_then(|(_, v)| v.first())
        .map(String::as_str)
}

/// The first value of a binary attribute (which the client files under text when the
/// bytes happen to be valid UTF-8).
pub fn first_bin(entry: &SearchEntry, name: &str) -> Option<Vec<u8>> {
    if let Some(v) = entry
        .bin_attrs
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .and_then(|(_, v)| v.first())
    {
        return Some(v.clone());
    }
    first(entry, name).map(|s| s.as_bytes().to_vec())
}

/// A short name for common LDAP result codes, for messages.
pub fn rc_name(rc: u32) -> &'static str {
    match rc {
        0 => "success",
        1 => "operationsError",
        10 => "referral",
        12 => "unavailableCriticalExtension",
        16 => "noSuchAttribute",
        19 => "constraintViolation",
        20 => "attributeOrValueExists",
        21 => "invalidAttributeSyntax",
        32 => "noSuchObject",
        34 => "invalidDNSyntax",
        49 => "invalidCredentials",
        50 => "insufficientAccessRights",
        53 => "unwillingToPerform",
        64 => "namingViolation",
        65 => "objectClassViolation",
        66 => "notAllowedOnNonLeaf",
        68 => "entryAlreadyExists",
        80 => "other",
        _ => "error",
    }
}

/// An LDAP operation's failure, with its result code kept for decisions.
#[derive(Debug)]
pub struct LdapFailure {
    pub rc: u32,
    pub message: String,
}

impl std::fmt::Display for LdapFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}
impl std::error::Error for LdapFailure {}

pub fn check(what: &str, res: ldap3::LdapResult) -> Result<(), LdapFailure> {
    if res.rc == 0 {
        Ok(())
    } else {
        Err(LdapFailure {
            rc: res.rc,
            message: format!(
                "{what}: LDAP result {} ({}){}",
                res.rc,
                rc_name(res.rc),
                text_suffix(&res)
            ),
        })
    }
}

pub fn rc_of(e: &anyhow::Error) -> Option<u32> {
    e.downcast_ref::<LdapFailure>().map(|f| f.rc)
}

pub async fn ldap_add<S: AsRef<[u8]> + Eq + Hash + Send + Sync>(
    ldap: &Ldap,
    dn: &str,
    attrs: Vec<(S, HashSet<S>)>,
) -> anyhow::Result<()> {
    let mut ldap = ldap.clone();
    let res = timed(OP_TIMEOUT, ldap.add(dn, attrs))
        .await
        .with_context(|| format!("add {dn}"))?;
    Ok(check(&format!("add {dn}"), res)?)
}

pub async fn ldap_modify<S: AsRef<[u8]> + Eq + Hash + Send + Sync>(
    ldap: &Ldap,
    dn: &str,
    mods: Vec<Mod<S>>,
) -> anyhow::Result<()> {
    let mut ldap = ldap.clone();
    let res = timed(OP_TIMEOUT, ldap.modify(dn, mods))
        .await
        .with_context(|| format!("modify {dn}"))?;
    Ok(check(&format!("modify {dn}"), res)?)
}

pub async fn ldap_delete(ldap: &Ldap, dn: &str) -> anyhow::Result<()> {
    let mut ldap = ldap.clone();
    let res = timed(OP_TIMEOUT, ldap.delete(dn))
        .await
        .with_context(|| format!("delete {dn}"))?;
    Ok(check(&format!("delete {dn}"), res)?)
}

/// A one-value set, as the LDAP client takes values.
pub fn set1<S: Eq + Hash>(v: S) -> HashSet<S> {
    let mut s = HashSet::with_capacity(1);
    s.insert(v);
    s
}

// ---------------------------------------------------------------------------------------
// User changes: what both LDAP writers make of a planned change's values
// ---------------------------------------------------------------------------------------

/// Keys of a user change that are not mapped attributes: the login (written to the
/// login attribute), the new roster username of a rename (nothing to write: the
/// anchor is the login), the account state and the password reference.
pub const CONTROL_KEYS: &[&str] = &["login", "username", "enabled", "password"];

/// A planned value as one LDAP value; `None` (null, empty) clears the attribute.
pub fn value_text(v: &serde_json::Value) -> Option<String> {
    use serde_json::Value;
    match v {
        Value::Null => None,
        Value::String(s) if s.is_empty() => None,
        Value::String(s) => Some(s.clone()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Number(n) => Some(n.to_string()),
        other => Some(other.to_string()),
    }
}

/// Refuses a user change holding keys that are neither mapped nor control keys,
/// before any write: a value the app does not map is never dropped silently.
pub fn check_mapped_keys(
    mapping: &crate::mapping::Mapping,
    change: &crate::plan::Change,
) -> anyhow::Result<()> {
    let unknown: Vec<String> = change
        .after
        .iter()
        .flatten()
        .map(|(k, _)| k.as_str())
        .filter(|k| !CONTROL_KEYS.contains(k) && mapping.field(k).is_none())
        .map(|k| format!("`{k}`"))
        .collect();
    if unknown.is_empty() {
        Ok(())
    } else {
        bail!(
            "user {}: {} not mapped on this app (attribute_map), so roster cannot write it; nothing was written",
            change.key(),
            unknown.join(", ")
        )
    }
}

/// The (attribute, new value) writes of a user update's mapped keys, in key order:
/// each key to the attributes `targets` gives (`None`: not written here, such as a
/// naming attribute the caller renames); control keys are left out.
pub fn mapped_writes(
    after: &std::collections::BTreeMap<String, serde_json::Value>,
    targets: impl Fn(&str) -> Option<Vec<String>>,
) -> Vec<(String, Option<String>)> {
    let mut out = Vec::new();
    for (k, value) in after {
        if CONTROL_KEYS.contains(&k.as_str()) {
            continue;
        }
        for target in targets(k).unwrap_or_default() {
            out.push((target, value_text(value)));
        }
    }
    out
}

/// The writes as one modify's replace operations (`None` clears).
pub fn replace_mods(writes: Vec<(String, Option<String>)>) -> Vec<Mod<String>> {
    writes
        .into_iter()
        .map(|(attr, v)| Mod::Replace(attr, v.map(set1).unwrap_or_default()))
        .collect()
}
