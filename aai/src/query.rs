//! `aai query IP`: asks a running aai over XML-RPC, as ARPwatch would.

use std::net::SocketAddr;
use std::process::ExitCode;

/// The URL of an aai listening on the first of `listen`; an unspecified
/// address (`0.0.0.0`, `::`) is asked on loopback.
pub fn default_server(listen: &[SocketAddr]) -> String {
    let Some(mut a) = listen.first().copied() else {
        return format!("http://{}/RPC2", crate::config::DEFAULT_LISTEN);
    };
    if a.ip().is_unspecified() {
        a.set_ip(match a {
            SocketAddr::V4(_) => std::net::Ipv4Addr::LOCALHOST.into(),
            SocketAddr::V6(_) => std::net::Ipv6Addr::LOCALHOST.into(),
        });
    }
    format!("http://{a}/RPC2")
}

/// Prints the MAC (or the lease) for `ip`, or `no lease`. Exit status: 0
/// answered (lease or not), 1 the server sent a fault, 2 it could not be asked.
pub fn run(ip: &str, server: &str, lease: bool) -> ExitCode {
    let _ = (ip, server, lease);
    eprintln!("aai query: not wired yet");
    ExitCode::from(2)
}
