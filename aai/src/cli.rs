//! The command line: `aai [OPTIONS]` runs the daemon, `aai --check-config`
//! validates, `aai query IP` asks a running aai.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::config::{self, DEFAULT_CONFIG_PATH, Overrides};

/// aai answers ARPwatch's XML-RPC question "which MAC holds the lease for
/// this IP?" from the Redis cache the Kea hook (aae) fills.
#[derive(Debug, Parser)]
#[command(name = "aai", version, about, long_about = None)]
pub struct Cli {
    /// TOML configuration file [default: /etc/aai/aai.toml, optional]
    #[arg(long, short = 'c', value_name = "FILE", global = true)]
    pub config: Option<PathBuf>,

    /// Listen on ADDR:PORT instead of the file's `listen` (repeatable)
    #[arg(long, value_name = "ADDR:PORT")]
    pub listen: Vec<String>,

    /// Redis to read leases from, e.g. redis://127.0.0.1:6379/0
    #[arg(long, value_name = "URL")]
    pub redis_url: Option<String>,

    /// Key prefix aae writes with [default: aae:lease:]
    #[arg(long, value_name = "PREFIX")]
    pub key_prefix: Option<String>,

    /// Validate the configuration, print the result and exit
    #[arg(long)]
    pub check_config: bool,

    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Ask a running aai which MAC holds the lease for IP
    Query {
        /// IPv4 or IPv6 address
        ip: String,
        /// The aai to ask [default: from the config's first `listen`]
        #[arg(long, value_name = "URL")]
        server: Option<String>,
        /// Print the whole lease, not only the MAC
        #[arg(long)]
        lease: bool,
        /// For https: the CAs (PEM) aai's certificate must chain to
        /// [default: the system's]
        #[arg(long, value_name = "PEM")]
        ca_file: Option<PathBuf>,
        /// For an aai with tls-client-ca: the certificate to present (PEM)
        #[arg(long, value_name = "PEM", requires = "client_key")]
        client_cert: Option<PathBuf>,
        /// The private key of --client-cert (PEM)
        #[arg(long, value_name = "PEM", requires = "client_cert")]
        client_key: Option<PathBuf>,
        /// For an aai with credentials-file: a file of one user:password
        /// line, others unable to read it
        #[arg(long, value_name = "FILE")]
        credentials_file: Option<PathBuf>,
    },
}

/// Parses the command line and runs what it asks for.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let flags = Overrides {
        listen: cli.listen.clone(),
        redis_url: cli.redis_url.clone(),
        key_prefix: cli.key_prefix.clone(),
    };
    let loaded = config::load(cli.config.as_deref(), &flags);
    let path = cli
        .config
        .clone()
        .unwrap_or_else(|| PathBuf::from(DEFAULT_CONFIG_PATH));

    if let Some(Command::Query {
        ip,
        server,
        lease,
        ca_file,
        client_cert,
        client_key,
        credentials_file,
    }) = cli.command
    {
        let tls = matches!(&loaded, Ok(s) if s.tls.is_some());
        let server = server.unwrap_or_else(|| match &loaded {
            Ok(s) => crate::query::default_server(&s.listen, tls),
            Err(_) => format!("http://{}/RPC2", config::DEFAULT_LISTEN),
        });
        let how = crate::query::How {
            lease,
            ca_file,
            client: client_cert.zip(client_key),
            credentials_file,
        };
        return crate::query::run(&ip, &server, &how);
    }

    let settings = match loaded {
        Ok(s) => s,
        Err(e) => {
            eprintln!("aai: {e}");
            return ExitCode::from(2);
        }
    };
    if cli.check_config {
        for w in &settings.warnings {
            eprintln!("aai: warning: {w}");
        }
        println!(
            "{}: ok (listen {}, redis {}, key prefix {:?}, allow {}, {})",
            path.display(),
            settings
                .listen
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(" "),
            config::redacted_url(&settings.redis_url),
            settings.schema.prefix(),
            if settings.allow.networks().is_empty() {
                "(none: every client refused)".to_owned()
            } else {
                settings
                    .allow
                    .networks()
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join(" ")
            },
            crate::daemon::edge_summary(&settings),
        );
        return ExitCode::SUCCESS;
    }

    crate::logging::init(settings.log_level);
    for w in &settings.warnings {
        log::warn!("{w}");
    }
    match crate::daemon::run(settings) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            log::error!("{e}");
            ExitCode::FAILURE
        }
    }
}
