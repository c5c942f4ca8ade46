//! `roster-google-emulator`: the Google Workspace (Admin SDK Directory API) emulator as a
//! standalone server.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::Parser;
use roster::google_emulator::{self, GoogleEmulatorConfig, ServiceAccount};

/// A local Google Workspace Directory API for tests and sandboxes.
#[derive(Debug, Parser)]
#[command(name = "roster-google-emulator", version)]
struct Args {
    /// Address to listen on, e.g. 127.0.0.1:8080 (port 0 picks a free port).
    #[arg(long)]
    listen: SocketAddr,
    /// A domain of the account (repeatable; the first is the primary domain).
    #[arg(long = "domain")]
    domains: Vec<String>,
    /// The customer id that `my_customer` stands for.
    #[arg(long = "customer-id", default_value = "C03az79cb")]
    customer_id: String,
    /// A service account key file (Google's JSON key) whose assertions the token
    /// endpoint accepts (repeatable).
    #[arg(long = "service-account", value_name = "KEY_JSON_FILE")]
    service_accounts: Vec<PathBuf>,
    /// Directory state file: loaded if present, written (atomically) after changes and on exit.
    #[arg(long)]
    state: Option<PathBuf>,
    /// Probability (0..1) of an injected quota error (429 or 403 rateLimitExceeded /
    /// userRateLimitExceeded) per API call.
    #[arg(long = "fault-rate", default_value_t = 0.0)]
    fault_rate: f64,
    /// Seed of the fault injection.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Milliseconds a just-created user or group answers 404 (eventual consistency).
    #[arg(long = "replication-lag-ms", default_value_t = 0)]
    replication_lag_ms: u64,
    /// Pages hold at most N items, whatever `maxResults` asks (as Google may answer).
    #[arg(long = "max-page-size")]
    max_page_size: Option<usize>,
    /// Answer the batch endpoint with 404 (clients then send requests one by one).
    #[arg(long = "no-batch")]
    no_batch: bool,
    /// TLS certificate (PEM); serve HTTPS together with --tls-key.
    #[arg(long = "tls-cert", requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// TLS private key (PEM).
    #[arg(long = "tls-key", requires = "tls_cert")]
    tls_key: Option<PathBuf>,
}

#[tokio::main]
async fn main() {
    let args = Args::parse();
    if !(0.0..=1.0).contains(&args.fault_rate) {
        eprintln!("roster-google-emulator: --fault-rate must be between 0 and 1");
        std::process::exit(2);
    }
    let mut service_accounts = Vec::new();
    for path in &args.service_accounts {
        match ServiceAccount::from_key_file(path) {
            Ok(sa) => service_accounts.push(sa),
            Err(e) => {
                eprintln!("roster-google-emulator: {e:#}");
                std::process::exit(2);
            }
        }
    }
    let defaults = GoogleEmulatorConfig::default();
    let config = GoogleEmulatorConfig {
        domains: if args.domains.is_empty() {
            defaults.domains.clone()
        } else {
            args.domains
        },
        customer_id: args.customer_id,
        service_accounts,
        state_file: args.state,
        fault_rate: args.fault_rate,
        seed: args.seed,
        replication_lag_ms: args.replication_lag_ms,
        tls: args.tls_cert.zip(args.tls_key),
        batch: !args.no_batch,
        max_page_size: args.max_page_size,
        ..defaults
    };
    let handle = match google_emulator::start(config, args.listen).await {
        Ok(h) => h,
        Err(e) => {
            eprintln!("roster-google-emulator: {e:#}");
            std::process::exit(1);
        }
    };
    println!("listening on {}", handle.base_url());
    wait_for_signal().await;
    if let Err(e) = handle.shutdown().await {
        eprintln!("roster-google-emulator: {e:#}");
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
