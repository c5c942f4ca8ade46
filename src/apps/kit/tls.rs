//! TLS of the HTTP connectors (office365, scim): which CAs a server's certificate may
//! chain to, and which name it is verified for.
//!
//! Trust is what reqwest's rustls backend uses anyway: the platform verifier
//! (`rustls-platform-verifier`: the system's roots; on Linux the native certificate
//! store through `rustls-native-certs`), plus the PEM certificates of `tls.ca_file`.
//!
//! `tls.server_name` changes one thing: the certificate of a server at the host of one
//! of the app's URLs (for office365 both `login_url` and `graph_url`) is verified for
//! that name instead of the host. The connection still goes to the URL's host and port,
//! requests keep the URL's host in `Host` / `:authority`, and the SNI extension still
//! carries the URL's host (none for an IP address): reqwest derives SNI from the URL
//! and offers no way to set it. TLS to any other host (an `https://` proxy, a redirect
//! target) is verified for that host as usual.
//!
//! Without `server_name` the client is built by reqwest as before (its own verifier
//! with the extra roots); with it, roster builds the rustls configuration itself, with
//! the same verifier wrapped so that it checks the configured name, and hands it to
//! reqwest with [`reqwest::ClientBuilder::tls_backend_preconfigured`].

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, Result, anyhow, bail};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};

use crate::desired::TlsSettings;

/// The TLS settings of one HTTP app, with `ca_file` resolved against the repository.
#[derive(Debug, Clone, Default)]
pub struct HttpTls {
    /// Extra CA certificates (PEM) to trust.
    pub ca_file: Option<PathBuf>,
    /// The name server certificates are verified for, instead of the URL's host.
    pub server_name: Option<String>,
}

impl HttpTls {
    /// From an app's `tls:` settings; relative paths are relative to `repo_root`.
    pub fn from_settings(tls: Option<&TlsSettings>, repo_root: &Path) -> HttpTls {
        let Some(tls) = tls else {
            return HttpTls::default();
        };
        HttpTls {
            ca_file: tls.ca_file.as_ref().map(|f| repo_root.join(f)),
            server_name: tls.server_name.clone(),
        }
    }

    /// Sets up the TLS of an HTTP client builder: extra roots, and, when there is a
    /// `server_name`, verification for it on connections to the hosts of `urls` (the
    /// app's endpoints).
    pub fn configure(
        &self,
        builder: reqwest::ClientBuilder,
        urls: &[&str],
    ) -> Result<reqwest::ClientBuilder> {
        let extra = match &self.ca_file {
            Some(path) => read_ca_file(path)?,
            None => Vec::new(),
        };
        let Some(name) = &self.server_name else {
            return extra.into_iter().try_fold(builder, |b, der| {
                let cert = reqwest::Certificate::from_der(&der)
                    .map_err(|e| anyhow!("tls.ca_file holds an unusable certificate: {e}"))?;
                Ok(b.add_root_certificate(cert))
            });
        };
        let hosts = urls
            .iter()
            .map(|u| {
                let parsed = url::Url::parse(u).with_context(|| format!("{u} is not a URL"))?;
                parsed
                    .host()
                    .map(|h| host_key(&h.to_owned()))
                    .ok_or_else(|| anyhow!("{u} has no host"))
            })
            .collect::<Result<Vec<_>>>()?;
        let config = client_config(name, hosts, extra, self.ca_file.as_deref())?;
        Ok(builder.tls_backend_preconfigured(config))
    }
}

/// Checks that `name` can be a TLS server name (a DNS name or an IP address); the
/// error says why not.
pub fn check_server_name(name: &str) -> Result<ServerName<'static>> {
    ServerName::try_from(name.to_string())
        .map_err(|_| anyhow!("tls.server_name {name:?} is neither a DNS name nor an IP address"))
}

/// The certificates of a PEM file (a `tls.ca_file`); an unreadable file, bad PEM or a
/// file without certificates is an error that names the file.
pub fn read_ca_file(path: &Path) -> Result<Vec<CertificateDer<'static>>> {
    let shown = path.display();
    let pem = std::fs::read(path).with_context(|| format!("cannot read tls.ca_file {shown}"))?;
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<_, _>>()
        .map_err(|e| anyhow!("tls.ca_file {shown} is not valid PEM: {e}"))?;
    if certs.is_empty() {
        bail!("tls.ca_file {shown} holds no certificate");
    }
    Ok(certs)
}

/// The crypto provider reqwest would use: the process default when one is installed,
/// else aws-lc-rs (reqwest's `rustls` feature).
fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    rustls::crypto::CryptoProvider::get_default()
        .cloned()
        .unwrap_or_else(|| Arc::new(rustls::crypto::aws_lc_rs::default_provider()))
}

/// A host as compared by [`VerifyFor`]: a lower-case DNS name without a trailing dot,
/// or an IP address in its canonical form.
fn host_key(host: &url::Host<String>) -> String {
    match host {
        url::Host::Domain(d) => d.trim_end_matches('.').to_ascii_lowercase(),
        url::Host::Ipv4(ip) => ip.to_string(),
        url::Host::Ipv6(ip) => ip.to_string(),
    }
}

/// [`host_key`] of the name a connection was made to.
fn server_name_key(name: &ServerName<'_>) -> Option<String> {
    match name {
        ServerName::DnsName(d) => Some(d.as_ref().trim_end_matches('.').to_ascii_lowercase()),
        ServerName::IpAddress(ip) => Some(std::net::IpAddr::from(*ip).to_string()),
        _ => None,
    }
}

/// A rustls client configuration as reqwest builds it (all protocol versions of the
/// provider, ALPN h2 then http/1.1), whose verifier checks the certificates of the
/// servers at `hosts` for `name`.
fn client_config(
    name: &str,
    hosts: Vec<String>,
    extra_roots: Vec<CertificateDer<'static>>,
    ca_file: Option<&Path>,
) -> Result<rustls::ClientConfig> {
    let name = check_server_name(name)?;
    let provider = provider();
    let inner = if extra_roots.is_empty() {
        rustls_platform_verifier::Verifier::new(provider.clone())
    } else {
        rustls_platform_verifier::Verifier::new_with_extra_roots(extra_roots, provider.clone())
    }
    .map_err(|e| match ca_file {
        Some(p) => anyhow!("cannot trust tls.ca_file {}: {e}", p.display()),
        None => anyhow!("cannot load the system's trusted CAs: {e}"),
    })?;
    let verifier = VerifyFor {
        name,
        hosts,
        inner: Arc::new(inner),
    };
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(rustls::ALL_VERSIONS)
        .context("TLS set-up")?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(verifier))
        .with_no_client_auth();
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(config)
}

/// A verifier that checks the certificates of the servers at `hosts` for one fixed
/// name, and any other server's for its own host; everything else is the inner
/// verifier's.
#[derive(Debug)]
struct VerifyFor {
    name: ServerName<'static>,
    /// [`host_key`]s of the app's endpoints.
    hosts: Vec<String>,
    inner: Arc<dyn ServerCertVerifier>,
}

impl VerifyFor {
    /// The name a certificate presented by `server_name` is verified for.
    fn name_for<'a>(&'a self, server_name: &'a ServerName<'a>) -> &'a ServerName<'a> {
        match server_name_key(server_name) {
            Some(k) if self.hosts.contains(&k) => &self.name,
            _ => server_name,
        }
    }
}

impl ServerCertVerifier for VerifyFor {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let name = self.name_for(server_name);
        self.inner
            .verify_server_cert(end_entity, intermediates, name, ocsp_response, now)
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }

    fn requires_raw_public_keys(&self) -> bool {
        self.inner.requires_raw_public_keys()
    }

    fn root_hint_subjects(&self) -> Option<&[rustls::DistinguishedName]> {
        self.inner.root_hint_subjects()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_names_are_dns_names_or_addresses() {
        assert!(check_server_name("graph.internal.test").is_ok());
        assert!(check_server_name("10.0.0.5").is_ok());
        assert!(check_server_name("::1").is_ok());
        let e = check_server_name("not a name").unwrap_err().to_string();
        assert!(e.contains("tls.server_name"), "{e}");
    }

    /// Records the name it is asked to verify for, and accepts.
    #[derive(Debug, Default)]
    struct Recorder(std::sync::Mutex<Vec<String>>);

    impl ServerCertVerifier for Recorder {
        fn verify_server_cert(
            &self,
            _: &CertificateDer<'_>,
            _: &[CertificateDer<'_>],
            server_name: &ServerName<'_>,
            _: &[u8],
            _: UnixTime,
        ) -> Result<ServerCertVerified, rustls::Error> {
            self.0
                .lock()
                .unwrap()
                .push(server_name.to_str().into_owned());
            Ok(ServerCertVerified::assertion())
        }
        fn verify_tls12_signature(
            &self,
            _: &[u8],
            _: &CertificateDer<'_>,
            _: &DigitallySignedStruct,
        ) -> Result<HandshakeSignatureValid, rustls::Error> {
            Ok(HandshakeSignatureValid::assertion())
        }
        fn verify_tls13_signature(
            &self,
            _: &[u8],
            _: &CertificateDer<'_>,
            _: &DigitallySignedStruct,
        ) -> Result<HandshakeSignatureValid, rustls::Error> {
            Ok(HandshakeSignatureValid::assertion())
        }
        fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
            Vec::new()
        }
    }

    #[test]
    fn the_name_stands_in_for_the_app_hosts_only() {
        let recorder = Arc::new(Recorder::default());
        let urls = [
            "https://127.0.0.1:8443",
            "https://Graph.Example.TEST./v1.0",
            "https://[::1]:1",
        ];
        let hosts = urls
            .iter()
            .map(|u| host_key(&url::Url::parse(u).unwrap().host().unwrap().to_owned()))
            .collect();
        let v = VerifyFor {
            name: check_server_name("graph.internal.test").unwrap(),
            hosts,
            inner: recorder.clone(),
        };
        let cert = CertificateDer::from(vec![0u8]);
        for host in [
            "127.0.0.1",
            "graph.example.test",
            "::1",
            "proxy.example.test",
        ] {
            let sn = ServerName::try_from(host).unwrap();
            v.verify_server_cert(&cert, &[], &sn, &[], UnixTime::now())
                .unwrap();
        }
        assert_eq!(
            *recorder.0.lock().unwrap(),
            [
                "graph.internal.test",
                "graph.internal.test",
                "graph.internal.test",
                "proxy.example.test"
            ]
        );
    }

    #[test]
    fn ca_file_errors_name_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("missing.pem");
        let e = read_ca_file(&missing).unwrap_err().to_string();
        assert!(e.contains("missing.pem"), "{e}");
        let empty = dir.path().join("empty.pem");
        std::fs::write(&empty, "no certificate here\n").unwrap();
        let e = read_ca_file(&empty).unwrap_err().to_string();
        assert!(e.contains("holds no certificate"), "{e}");
    }
}
