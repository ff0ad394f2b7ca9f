//! `aai query IP`: asks a running aai over XML-RPC, as ARPwatch would.

use std::net::{IpAddr, SocketAddr};
use std::process::ExitCode;

use arpwatch_rpc::DateTime;
use arpwatch_rpc::client::{Client, ClientConfig, ClientError};
use arpwatch_rpc::contract;

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
    let ip = match lease_model::parse_ip(ip) {
        Ok(ip) => ip,
        Err(e) => {
            eprintln!("aai query: {e}");
            return ExitCode::from(2);
        }
    };
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("aai query: cannot start the async runtime: {e}");
            return ExitCode::from(2);
        }
    };
    match rt.block_on(ask(ip, server, lease)) {
        Ok(text) => {
            println!("{text}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("aai query: {e}");
            if e.fault().is_some() {
                ExitCode::from(1)
            } else {
                ExitCode::from(2)
            }
        }
    }
}

async fn ask(ip: IpAddr, server: &str, lease: bool) -> Result<String, ClientError> {
    let client = Client::new(server, ClientConfig::default())?;
    if !lease {
        let v = client.call(&contract::get_mac_call(ip)).await?;
        return Ok(match contract::parse_mac_result(&v) {
            Ok(Some(mac)) => mac.to_string(),
            Ok(None) => "no lease".to_owned(),
            Err(e) => format!("unexpected answer: {e}"),
        });
    }
    let v = client.call(&contract::get_lease_call(ip)).await?;
    Ok(match contract::parse_lease_result(&v) {
        Ok(Some(r)) => {
            let l = &r.lease;
            let expires = l.expires_at().map_or_else(
                || "never".to_owned(),
                |t| DateTime::from_unix(t).to_string(),
            );
            format!(
                "ip {}\nmac {}\nhostname {}\nsubnet_id {}\nevent {}\ncltt {}\nexpires {}\nnode {}",
                l.ip,
                l.hwaddr,
                l.hostname.to_text(),
                l.subnet_id,
                l.event,
                DateTime::from_unix(l.cltt),
                expires,
                r.node
            )
        }
        Ok(None) => "no lease".to_owned(),
        Err(e) => format!("unexpected answer: {e}"),
    })
}
