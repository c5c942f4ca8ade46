//! TLS test helpers: a throw-away CA with a server certificate for chosen names (made
//! with the openssl CLI), and a TLS-terminating TCP proxy that puts HTTPS in front of
//! a plain-HTTP test server (scim2-server speaks only HTTP).

use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::Command;

/// A CA and a server certificate (with its key) signed by it, in a temporary directory.
pub struct TestCerts {
    /// The CA certificate (PEM).
    pub ca: PathBuf,
    /// The server certificate (PEM).
    pub cert: PathBuf,
    /// The server's private key (PEM, PKCS#8).
    pub key: PathBuf,
    _dir: tempfile::TempDir,
}

impl TestCerts {
    /// A new CA, and a server certificate valid only for `names` (`subjectAltName`
    /// entries such as `DNS:graph.internal.test`).
    pub fn for_names(names: &[&str]) -> TestCerts {
        let dir = tempfile::tempdir().unwrap();
        let run = |args: &[&str]| {
            let out = Command::new("openssl")
                .args(args)
                .current_dir(dir.path())
                .output()
                .expect("openssl CLI is installed");
            assert!(
                out.status.success(),
                "openssl {args:?} failed: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        };
        let ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"];
        run(&[
            &["req", "-x509", "-nodes", "-days", "2"][..],
            &ec,
            &[
                "-subj",
                "/CN=roster test CA",
                "-keyout",
                "ca.key",
                "-out",
                "ca.pem",
            ],
        ]
        .concat());
        run(&[
            &["req", "-nodes"][..],
            &ec,
            &[
                "-subj",
                "/CN=roster test server",
                "-keyout",
                "key.pem",
                "-out",
                "leaf.csr",
            ],
        ]
        .concat());
        std::fs::write(
            dir.path().join("leaf.ext"),
            format!(
                "basicConstraints=CA:FALSE\nsubjectAltName={}\nextendedKeyUsage=serverAuth\n",
                names.join(",")
            ),
        )
        .unwrap();
        run(&[
            "x509",
            "-req",
            "-in",
            "leaf.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-days",
            "2",
            "-extfile",
            "leaf.ext",
            "-out",
            "cert.pem",
        ]);
        TestCerts {
            ca: dir.path().join("ca.pem"),
            cert: dir.path().join("cert.pem"),
            key: dir.path().join("key.pem"),
            _dir: dir,
        }
    }

    /// The `--tls-cert` / `--tls-key` flags of the Graph emulator for this certificate.
    pub fn emulator_flags(&self) -> Vec<String> {
        vec![
            "--tls-cert".into(),
            self.cert.display().to_string(),
            "--tls-key".into(),
            self.key.display().to_string(),
        ]
    }

    /// Copies the CA certificate into a repository (`tls.ca_file` must lie inside it).
    pub fn copy_ca_to(&self, repo: &Path, rel: &str) {
        let dst = repo.join(rel);
        std::fs::create_dir_all(dst.parent().unwrap()).unwrap();
        std::fs::copy(&self.ca, dst).unwrap();
    }
}

/// A TLS-terminating TCP proxy on a loopback port: each connection's TLS is accepted
/// with the given certificate, and its plain bytes are relayed to `upstream`. Stops
/// when dropped.
pub struct TlsProxy {
    pub addr: SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl TlsProxy {
    pub fn start(upstream: SocketAddr, certs: &TestCerts) -> TlsProxy {
        use axum_server::accept::Accept;
        use axum_server::tls_rustls::{RustlsAcceptor, RustlsConfig};

        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let addr = listener.local_addr().unwrap();
        let (cert, key) = (certs.cert.clone(), certs.key.clone());
        let (stop, mut stopped) = tokio::sync::oneshot::channel::<()>();
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(1)
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
                let config = RustlsConfig::from_pem_file(&cert, &key)
                    .await
                    .expect("the proxy's certificate and key load");
                // The relayed server speaks HTTP/1.1 only: do not offer h2.
                let mut server = (*config.get_inner()).clone();
                server.alpn_protocols = vec![b"http/1.1".to_vec()];
                config.reload_from_config(std::sync::Arc::new(server));
                let acceptor = RustlsAcceptor::new(config);
                let listener = tokio::net::TcpListener::from_std(listener).unwrap();
                ready_tx.send(()).unwrap();
                loop {
                    let (tcp, _) = tokio::select! {
                        _ = &mut stopped => return,
                        accepted = listener.accept() => match accepted {
                            Ok(a) => a,
                            Err(_) => continue,
                        },
                    };
                    let acceptor = acceptor.clone();
                    tokio::spawn(async move {
                        // A client that refuses the certificate ends the handshake.
                        let Ok((mut tls, _)) = acceptor.accept(tcp, ()).await else {
                            return;
                        };
                        let Ok(mut plain) = tokio::net::TcpStream::connect(upstream).await else {
                            return;
                        };
                        let _ = tokio::io::copy_bidirectional(&mut tls, &mut plain).await;
                    });
                }
            });
        });
        ready_rx.recv().expect("the TLS proxy starts");
        TlsProxy {
            addr,
            stop: Some(stop),
            thread: Some(thread),
        }
    }
}

impl Drop for TlsProxy {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
