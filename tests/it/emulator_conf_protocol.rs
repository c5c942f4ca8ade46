//! Conformance of the emulator's protocol surface with Microsoft's Graph documentation
//! (microsoftgraph/microsoft-graph-docs-contrib): transport, throttling headers and
//! resource-unit costs, `$batch` rules, group owners and members, identifiers and
//! group creation rules. Each test names the page it follows.

use crate::emulator_support as support;

use roster::emulator::{self, EmulatorConfig};
#[allow(unused_imports)]
use serde_json::{Value, json};
use support::*;

/// Whether the emulator's end of the connection from local port `client_port` to
/// `server_port` has TCP_NODELAY set (the emulator runs in this process, so its
/// accepted socket is one of this process's file descriptors).
fn server_socket_nodelay(server_port: u16, client_port: u16) -> Option<bool> {
    fn port_of(addr: &libc::sockaddr_storage) -> Option<u16> {
        match i32::from(addr.ss_family) {
            libc::AF_INET => {
                // SAFETY: the family says the storage holds a sockaddr_in.
                let a = unsafe { &*(addr as *const _ as *const libc::sockaddr_in) };
                Some(u16::from_be(a.sin_port))
            }
            libc::AF_INET6 => {
                // SAFETY: the family says the storage holds a sockaddr_in6.
                let a = unsafe { &*(addr as *const _ as *const libc::sockaddr_in6) };
                Some(u16::from_be(a.sin6_port))
            }
            _ => None,
        }
    }
    for entry in std::fs::read_dir("/proc/self/fd").ok()? {
        let Ok(fd) = entry.ok()?.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        // SAFETY: getsockname/getpeername/getsockopt only write into the buffers
        // given; a descriptor that is not a socket makes them fail.
        unsafe {
            let mut local: libc::sockaddr_storage = std::mem::zeroed();
            let mut len = std::mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;
            if libc::getsockname(fd, &mut local as *mut _ as *mut libc::sockaddr, &mut len) != 0 {
                continue;
            }
            let mut peer: libc::sockaddr_storage = std::mem::zeroed();
            let mut len = std::mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;
            if libc::getpeername(fd, &mut peer as *mut _ as *mut libc::sockaddr, &mut len) != 0 {
                continue;
            }
            if port_of(&local) != Some(server_port) || port_of(&peer) != Some(client_port) {
                continue;
            }
            let mut v: libc::c_int = 0;
            let mut vlen = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
            if libc::getsockopt(
                fd,
                libc::IPPROTO_TCP,
                libc::TCP_NODELAY,
                &mut v as *mut _ as *mut libc::c_void,
                &mut vlen,
            ) != 0
            {
                return None;
            }
            return Some(v != 0);
        }
    }
    None
}

async fn accepted_nodelay(server_port: u16) -> bool {
    let conn = tokio::net::TcpStream::connect(("127.0.0.1", server_port))
        .await
        .expect("connect");
    let client_port = conn.local_addr().expect("local addr").port();
    for _ in 0..50 {
        if let Some(v) = server_socket_nodelay(server_port, client_port) {
            return v;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    panic!("the emulator never accepted the connection");
}

// Not a Graph documentation item: a server that writes a response in several pieces
// must not let Nagle's algorithm hold the last one back for a delayed ACK.
#[tokio::test]
async fn accepted_sockets_have_tcp_nodelay_over_http() {
    let emu = start().await;
    assert!(accepted_nodelay(emu.handle.local_addr().port()).await);
}

#[tokio::test]
async fn accepted_sockets_have_tcp_nodelay_over_https() {
    let certs = crate::support::tls::TestCerts::for_names(&["DNS:localhost", "IP:127.0.0.1"]);
    let handle = emulator::start(
        EmulatorConfig {
            tls: Some((certs.cert.clone(), certs.key.clone())),
            ..config()
        },
        "127.0.0.1:0".parse().expect("addr"),
    )
    .await
    .expect("emulator starts");
    assert!(accepted_nodelay(handle.local_addr().port()).await);
}
