//! `aai query IP`: asks a running aai over XML-RPC, as ARPwatch would.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::process::ExitCode;

use arpwatch_rpc::DateTime;
use arpwatch_rpc::client::{Client, ClientConfig, ClientError, Credentials, TlsConfig};
use arpwatch_rpc::contract;

/// What to ask, and what to show an aai behind TLS and credentials.
#[derive(Debug, Default)]
pub struct How {
    /// The whole lease, not only the MAC.
    pub lease: bool,
    /// CAs to trust instead of the system's.
    pub ca_file: Option<PathBuf>,
    /// A client certificate and its key.
    pub client: Option<(PathBuf, PathBuf)>,
    /// A file of one `user:password` line.
    pub credentials_file: Option<PathBuf>,
}

/// The URL of an aai listening on the first of `listen` (`https` when it
/// serves TLS); an unspecified address (`0.0.0.0`, `::`) is asked on
/// loopback.
pub fn default_server(listen: &[SocketAddr], tls: bool) -> String {
    let scheme = if tls { "https" } else { "http" };
    let Some(mut a) = listen.first().copied() else {
        return format!("{scheme}://{}/RPC2", crate::config::DEFAULT_LISTEN);
    };
    if a.ip().is_unspecified() {
        a.set_ip(match a {
            SocketAddr::V4(_) => std::net::Ipv4Addr::LOCALHOST.into(),
            SocketAddr::V6(_) => std::net::Ipv6Addr::LOCALHOST.into(),
        });
    }
    format!("{scheme}://{a}/RPC2")
}

/// The client's TLS and credentials, from `how`'s files.
fn client_config(how: &How) -> Result<ClientConfig, String> {
    let mut config = ClientConfig::default();
    if how.ca_file.is_some() || how.client.is_some() {
        let client = how.client.as_ref().map(|(c, k)| (c.as_path(), k.as_path()));
        config.tls =
            Some(TlsConfig::from_files(how.ca_file.as_deref(), client).map_err(|e| e.to_string())?);
    }
    if let Some(path) = &how.credentials_file {
        let text = crate::secret::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
        let line = text.trim_end_matches(['\n', '\r']);
        let (user, password) = line
            .split_once(':')
            .ok_or_else(|| format!("{}: expected one line user:password", path.display()))?;
        config.credentials =
            Some(Credentials::new(user, password).map_err(|e| format!("{}: {e}", path.display()))?);
    }
    Ok(config)
}

/// Prints the MAC (or the lease) for `ip`, or `no lease`. Exit status: 0
/// answered (lease or not), 1 the server sent a fault, 2 it could not be asked.
pub fn run(ip: &str, server: &str, how: &How) -> ExitCode {
    let ip = match lease_model::parse_ip(ip) {
        Ok(ip) => ip,
        Err(e) => {
            eprintln!("aai query: {e}");
            return ExitCode::from(2);
        }
    };
    let config = match client_config(how) {
        Ok(c) => c,
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
    match rt.block_on(ask(ip, server, config, how.lease)) {
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

async fn ask(
    ip: IpAddr,
    server: &str,
    config: ClientConfig,
    lease: bool,
) -> Result<String, ClientError> {
    let client = Client::new(server, config)?;
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
