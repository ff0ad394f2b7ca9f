//! The daemon's life: take or bind the sockets, connect the store lazily,
//! serve, tell systemd, and drain on SIGTERM or SIGINT.

use std::sync::Arc;

use arpwatch_rpc::Limits;
use tokio::signal::unix::{SignalKind, signal};

use crate::config::Settings;
use crate::http::App;
use crate::http::server::{self, ConnLimits};
use crate::metrics::Metrics;
use crate::reload::Reloadable;
use crate::rpc::Rpc;
use crate::store::Store;
use crate::systemd;

/// Why the daemon could not start. Each message says what to change.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("cannot use the sockets systemd passed: {0}")]
    Activation(std::io::Error),
    #[error(
        "cannot listen on {addr}: {source}; is another aai (or anything) using it? change `listen`"
    )]
    Bind {
        addr: std::net::SocketAddr,
        source: std::io::Error,
    },
    #[error("cannot set up the Redis client for {url}: {source}")]
    Redis {
        url: String,
        source: redis::RedisError,
    },
    #[error("cannot start the async runtime: {0}")]
    Runtime(std::io::Error),
    #[error("cannot install the {0} handler: {1}")]
    Signal(&'static str, std::io::Error),
}

/// Runs aai until SIGTERM or SIGINT. Must be called before any other thread
/// exists (socket activation reads and clears the environment).
pub fn run(settings: Settings) -> Result<(), StartError> {
    let inherited = systemd::listen_fds().map_err(StartError::Activation)?;
    // Two workers suffice: a lookup is a parse, one Redis round trip and a
    // write; more threads only add context switches on a small DHCP node.
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(StartError::Runtime)?;
    rt.block_on(serve(settings, inherited))
}

async fn serve(
    settings: Settings,
    inherited: Vec<std::net::TcpListener>,
) -> Result<(), StartError> {
    let listeners = if inherited.is_empty() {
        let mut ls = Vec::with_capacity(settings.listen.len());
        for &addr in &settings.listen {
            let l = tokio::net::TcpListener::bind(addr)
                .await
                .map_err(|source| StartError::Bind { addr, source })?;
            ls.push(l);
        }
        ls
    } else {
        log::info!(
            "using {} socket(s) passed by systemd; `listen` is ignored",
            inherited.len()
        );
        inherited
            .into_iter()
            .map(tokio::net::TcpListener::from_std)
            .collect::<Result<_, _>>()
            .map_err(StartError::Activation)?
    };
    let addrs: Vec<String> = listeners
        .iter()
        .filter_map(|l| l.local_addr().ok())
        .map(|a| a.to_string())
        .collect();

    let metrics = Arc::new(Metrics::new());
    let store = Store::new(
        &settings.redis_url,
        &settings.redis_access,
        settings.redis_read_from,
        settings.schema.clone(),
        settings.redis_timeout,
        metrics.clone(),
    )
    .map_err(|source| StartError::Redis {
        url: crate::config::redacted_url(&settings.redis_url),
        source,
    })?;
    let limits = Limits::default()
        .with_max_document_bytes(settings.max_body_bytes)
        .with_max_depth(settings.max_depth);
    let app = Arc::new(App {
        rpc: Rpc::new(store.clone(), metrics.clone(), limits),
        store,
        metrics,
        max_body_bytes: settings.max_body_bytes,
        body_timeout: settings.body_timeout,
    });

    let mut term = signal(SignalKind::terminate()).map_err(|e| StartError::Signal("SIGTERM", e))?;
    let mut int = signal(SignalKind::interrupt()).map_err(|e| StartError::Signal("SIGINT", e))?;
    let drain = settings.shutdown_timeout;
    let shutdown = async move {
        let sig = tokio::select! {
            _ = term.recv() => "SIGTERM",
            _ = int.recv() => "SIGINT",
        };
        log::info!(
            "{sig}: stopping; finishing requests in progress (at most {} ms)",
            drain.as_millis()
        );
        let _ = systemd::notify("STOPPING=1");
    };

    log::info!(
        "serving XML-RPC on {} ({}; redis {}, key prefix {:?})",
        addrs.join(", "),
        edge_summary(&settings),
        crate::config::redacted_url(&settings.redis_url),
        settings.schema.prefix()
    );
    if let Err(e) = systemd::notify("READY=1") {
        log::warn!("cannot tell systemd we are ready: {e}; a Type=notify unit will time out");
    }
    if let Some(every) = systemd::watchdog_interval() {
        // Sent from the runtime that serves requests, so a wedged runtime
        // stops the pings and systemd restarts aai.
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every / 2);
            loop {
                tick.tick().await;
                let _ = systemd::notify("WATCHDOG=1");
            }
        });
    }
    let edge = Reloadable::new(settings.tls.as_ref(), settings.credentials.as_ref());
    let mut hup = signal(SignalKind::hangup()).map_err(|e| StartError::Signal("SIGHUP", e))?;
    let reload = edge.clone();
    tokio::spawn(async move {
        // The default action of SIGHUP would kill aai. It re-reads the TLS
        // and credentials files (off the runtime's threads: file I/O and
        // key parsing); the rest of the configuration is read only at start.
        while hup.recv().await.is_some() {
            let r = reload.clone();
            let _ = tokio::task::spawn_blocking(move || r.reload()).await;
        }
    });
    let limits = ConnLimits {
        max_connections: settings.max_connections,
        header_timeout: settings.header_timeout,
        shutdown_timeout: settings.shutdown_timeout,
    };
    let drained = server::serve(
        listeners,
        app,
        settings.allow.clone(),
        edge,
        limits,
        shutdown,
    )
    .await;
    if drained {
        log::info!("stopped");
    } else {
        log::warn!(
            "stopped with requests still in progress after {} ms (shutdown-timeout-ms)",
            drain.as_millis()
        );
    }
    Ok(())
}

/// How clients are let in, for the start line and `--check-config`.
pub fn edge_summary(settings: &Settings) -> String {
    let mut s = match &settings.tls {
        Some(t) => t.files.describe(),
        None => "plain HTTP".to_owned(),
    };
    if let Some(c) = &settings.credentials {
        s.push_str(&format!(
            ", basic credentials of {} users from {}",
            c.loaded.len(),
            c.path.display()
        ));
    }
    s
}
