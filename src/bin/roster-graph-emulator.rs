//! `roster-graph-emulator`: the Graph emulator as a standalone server.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::Parser;
use roster::emulator::{self, EmulatorConfig, FederatedCredential, FederatedKey};

/// A local Microsoft Graph v1.0 tenant for tests and sandboxes.
#[derive(Debug, Parser)]
#[command(name = "roster-graph-emulator", version)]
struct Args {
    /// Address to listen on, e.g. 127.0.0.1:8080 (port 0 picks a free port).
    #[arg(long)]
    listen: SocketAddr,
    /// Tenant state file: loaded if present, written (atomically) after changes and on exit.
    #[arg(long)]
    state: Option<PathBuf>,
    /// Tenant id or name accepted by the token endpoint.
    #[arg(long, default_value = "contoso")]
    tenant: String,
    /// Verified domain (repeatable; the first is the default domain). The initial
    /// TENANT.onmicrosoft.com domain is always added.
    #[arg(long = "domain")]
    domains: Vec<String>,
    /// Subscribed SKU as PART_NUMBER:SEATS (repeatable).
    #[arg(long = "sku", value_parser = parse_sku)]
    skus: Vec<(String, u32)>,
    /// App registration as CLIENT_ID:SECRET (repeatable).
    #[arg(long = "client", value_parser = parse_client)]
    clients: Vec<(String, String)>,
    /// Certificate credential as CLIENT_ID:CERT_PEM_FILE (repeatable).
    #[arg(long = "client-cert", value_parser = parse_client_cert)]
    client_certs: Vec<(String, PathBuf)>,
    /// Federated credential as CLIENT_ID|ISSUER|SUBJECT|AUDIENCE|KEY_FILE, KEY_FILE being a
    /// PEM public key or a JWKS JSON file (repeatable).
    #[arg(long = "federated", value_parser = parse_federated)]
    federated: Vec<FederatedCredential>,
    /// Resource units per 10 seconds per app (throttling off when absent).
    #[arg(long = "ru-per-10s")]
    ru_per_10s: Option<u32>,
    /// Writes per 150 seconds per app (throttling off when absent).
    #[arg(long = "writes-per-150s")]
    writes_per_150s: Option<u32>,
    /// Probability (0..1) of an injected 503, 504 or dropped connection per Graph request.
    #[arg(long = "fault-rate", default_value_t = 0.0)]
    fault_rate: f64,
    /// Fault mode: user listings come back empty although the tenant has users.
    #[arg(long = "fault-empty-user-lists")]
    fault_empty_user_lists: bool,
    /// Fault mode: every Graph request answers 429 TooManyRequests with Retry-After SECS
    /// (fractions allowed), as a tenant whose budget other workloads keep spending.
    #[arg(long = "fault-throttle", value_name = "SECS")]
    fault_throttle: Option<f64>,
    /// The app holds read permissions only: every write answers 403
    /// Authorization_RequestDenied.
    #[arg(long = "read-only")]
    read_only: bool,
    /// Seed of the fault injection.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Milliseconds a just-created object stays invisible to reads and $ref.
    #[arg(long = "replication-lag-ms", default_value_t = 0)]
    replication_lag_ms: u64,
    /// Test clock: expose POST /_emulator/clock so tests can move the emulator's clock
    /// (throttling windows, replication lag, token and delta-token lifetimes).
    #[arg(long = "test-clock")]
    test_clock: bool,
    /// Application permission granted to the apps' tokens, as PERMISSION (every app) or
    /// CLIENT_ID:PERMISSION (repeatable). An app granted nothing holds
    /// User.ReadWrite.All, Group.ReadWrite.All and Directory.ReadWrite.All.
    #[arg(long = "grant", value_parser = parse_grant, value_name = "[CLIENT_ID:]PERMISSION")]
    grants: Vec<(String, String)>,
    /// Seed a new tenant with the documented realistic mix (guests, administrators,
    /// synced users in a federated domain, a licence group, dynamic, mail-enabled,
    /// distribution and role-assignable groups); see docs/emulator.md.
    #[arg(long = "realistic-tenant")]
    realistic_tenant: bool,
    /// TLS certificate (PEM); serve HTTPS together with --tls-key.
    #[arg(long = "tls-cert", requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// TLS private key (PEM).
    #[arg(long = "tls-key", requires = "tls_cert")]
    tls_key: Option<PathBuf>,
}

fn parse_sku(s: &str) -> Result<(String, u32), String> {
    let (p, n) = s
        .rsplit_once(':')
        .ok_or_else(|| format!("expected PART_NUMBER:SEATS, got '{s}'"))?;
    let n: u32 = n
        .parse()
        .map_err(|_| format!("'{n}' is not a seat count in '{s}'"))?;
    if p.is_empty() {
        return Err(format!("empty SKU part number in '{s}'"));
    }
    Ok((p.to_string(), n))
}

fn parse_client(s: &str) -> Result<(String, String), String> {
    let (c, secret) = s
        .split_once(':')
        .ok_or_else(|| "expected CLIENT_ID:SECRET".to_string())?;
    if c.is_empty() || secret.is_empty() {
        return Err("expected CLIENT_ID:SECRET with both parts non-empty".into());
    }
    Ok((c.to_string(), secret.to_string()))
}

fn parse_grant(s: &str) -> Result<(String, String), String> {
    let (client, permission) = match s.split_once(':') {
        Some((c, p)) => (c.trim().to_string(), p.trim().to_string()),
        None => ("*".to_string(), s.trim().to_string()),
    };
    let well_formed = permission.split('.').count() >= 2
        && permission
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-');
    if client.is_empty() || !well_formed {
        return Err(format!(
            "expected PERMISSION or CLIENT_ID:PERMISSION (e.g. RoleManagement.ReadWrite.Directory), got '{s}'"
        ));
    }
    Ok((client, permission))
}

fn parse_client_cert(s: &str) -> Result<(String, PathBuf), String> {
    let (c, p) = s
        .split_once(':')
        .ok_or_else(|| format!("expected CLIENT_ID:CERT_PEM_FILE, got '{s}'"))?;
    Ok((c.to_string(), PathBuf::from(p)))
}

fn parse_federated(s: &str) -> Result<FederatedCredential, String> {
    let parts: Vec<&str> = s.split('|').collect();
    let [client_id, issuer, subject, audience, key] = parts.as_slice() else {
        return Err(format!(
            "expected CLIENT_ID|ISSUER|SUBJECT|AUDIENCE|KEY_FILE, got '{s}'"
        ));
    };
    let key_path = PathBuf::from(key);
    let key = if key.ends_with(".json") {
        FederatedKey::JwksFile(key_path)
    } else {
        FederatedKey::PublicKeyPem(key_path)
    };
    Ok(FederatedCredential {
        client_id: client_id.to_string(),
        issuer: issuer.to_string(),
        subject: subject.to_string(),
        audience: audience.to_string(),
        key,
    })
}

#[tokio::main]
async fn main() {
    let args = Args::parse();
    if !(0.0..=1.0).contains(&args.fault_rate) {
        eprintln!("roster-graph-emulator: --fault-rate must be between 0 and 1");
        std::process::exit(2);
    }
    if args
        .fault_throttle
        .is_some_and(|s| !s.is_finite() || s <= 0.0)
    {
        eprintln!("roster-graph-emulator: --fault-throttle must be a positive number of seconds");
        std::process::exit(2);
    }
    let defaults = EmulatorConfig::default();
    let config = EmulatorConfig {
        tenant: args.tenant,
        domains: if args.domains.is_empty() {
            defaults.domains.clone()
        } else {
            args.domains
        },
        skus: args.skus,
        clients: args.clients,
        state_file: args.state,
        ru_per_10s: args.ru_per_10s,
        writes_per_150s: args.writes_per_150s,
        fault_rate: args.fault_rate,
        fault_empty_user_lists: args.fault_empty_user_lists,
        fault_throttle: args.fault_throttle,
        read_only: args.read_only,
        seed: args.seed,
        replication_lag_ms: args.replication_lag_ms,
        tls: args.tls_cert.zip(args.tls_key),
        certificates: args.client_certs,
        federated: args.federated,
        test_clock: args.test_clock,
        grants: args.grants,
        realistic_tenant: args.realistic_tenant,
        ..defaults
    };
    let handle = match emulator::start(config, args.listen).await {
        Ok(h) => h,
        Err(e) => {
            eprintln!("roster-graph-emulator: {e:#}");
            std::process::exit(1);
        }
    };
    println!("listening on {}", handle.base_url());
    wait_for_signal().await;
    if let Err(e) = handle.shutdown().await {
        eprintln!("roster-graph-emulator: {e:#}");
        std::process::exit(1);
    }
}

async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = tokio::signal::ctrl_c() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
