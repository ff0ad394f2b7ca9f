//! The connection loop: accepts on every listener, enforces the connection
//! cap and the allow-list, does the TLS handshake (when configured) within
//! the header timeout, serves HTTP/1.1 with a header read timeout, checks
//! basic credentials (when configured), and drains on shutdown.
//!
//! The order per connection: allow list (peer address, before the TLS
//! handshake: a refused client costs no crypto), TLS handshake, request
//! headers, credentials (from the headers, before a body byte), routes.
//!
//! warp's own `serve` would do most of this, but it offers no header
//! timeout, no connection cap and one listener only; the routes stay warp
//! filters, run through `warp::service`.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use futures_util::future::Either;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use rustls::ServerConfig;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, watch};
use tower_service::Service;
use warp::http::{Request, StatusCode, header};

use super::App;
use super::allow::AllowList;
use super::auth::Credentials;
use super::routes::{self, close, text};
use crate::metrics::Refusal;
use crate::reload::{Reloadable, Swap};

/// Limits that apply per connection.
#[derive(Clone, Debug)]
pub struct ConnLimits {
    pub max_connections: usize,
    pub header_timeout: Duration,
    pub shutdown_timeout: Duration,
}

/// Serves until `shutdown` resolves, then stops accepting, lets requests in
/// progress finish (idle keep-alive connections are closed at once) and
/// returns when all connections are gone or `shutdown_timeout` has passed.
/// Returns false when the drain ran out of time.
pub async fn serve(
    listeners: Vec<TcpListener>,
    app: Arc<App>,
    allow: AllowList,
    edge: Reloadable,
    limits: ConnLimits,
    shutdown: impl Future<Output = ()>,
) -> bool {
    // One permit per open connection; taking them all back after shutdown
    // is how the drain knows every connection has ended.
    let permits = Arc::new(Semaphore::new(limits.max_connections));
    let refused = Arc::new(Semaphore::new(REFUSED_AT_ONCE));
    let (stop_tx, stop_rx) = watch::channel(false);
    let svc = warp::service(routes::routes(app.clone()));
    let allow = Arc::new(allow);

    let mut loops = Vec::with_capacity(listeners.len());
    for listener in listeners {
        let ctx = Accept {
            listener,
            permits: permits.clone(),
            refused: refused.clone(),
            stop: stop_rx.clone(),
            allow: allow.clone(),
            tls: edge.tls.as_ref().map(|(_, s)| s.clone()),
            credentials: edge.credentials.as_ref().map(|(_, s)| s.clone()),
            app: app.clone(),
            limits: limits.clone(),
        };
        let svc = svc.clone();
        loops.push(tokio::spawn(ctx.run(svc)));
    }

    shutdown.await;
    let _ = stop_tx.send(true);
    for l in loops {
        let _ = l.await;
    }
    let all = u32::try_from(limits.max_connections).unwrap_or(u32::MAX);
    tokio::time::timeout(limits.shutdown_timeout, permits.acquire_many(all))
        .await
        .is_ok()
}

/// Connections from outside the allow list answered (403) at once; more are
/// closed without an answer.
pub const REFUSED_AT_ONCE: usize = 16;

struct Accept {
    listener: TcpListener,
    permits: Arc<Semaphore>,
    refused: Arc<Semaphore>,
    stop: watch::Receiver<bool>,
    allow: Arc<AllowList>,
    tls: Option<Arc<Swap<ServerConfig>>>,
    credentials: Option<Arc<Swap<Credentials>>>,
    app: Arc<App>,
    limits: ConnLimits,
}

impl Accept {
    async fn run<S>(mut self, svc: S)
    where
        S: Service<
                Request<Incoming>,
                Response = warp::reply::Response,
                Error = std::convert::Infallible,
            > + Clone
            + Send
            + 'static,
        S::Future: Send + 'static,
    {
        let local = self.listener.local_addr().ok();
        loop {
            // At the cap, stop accepting: new clients wait in the kernel's
            // backlog instead of costing a task and a buffer each.
            let permit = tokio::select! {
                p = self.permits.clone().acquire_owned() => p.expect("semaphore never closed"),
                _ = self.stop.changed() => return,
            };
            let (stream, peer) = tokio::select! {
                r = self.listener.accept() => match r {
                    Ok(pair) => pair,
                    Err(e) => {
                        accept_failed(e, local).await;
                        continue;
                    }
                },
                _ = self.stop.changed() => return,
            };
            let _ = stream.set_nodelay(true);
            let allowed = self.allow.permits(peer.ip());
            if !allowed && self.tls.is_some() {
                // No 403 without a handshake, and no handshake for a client
                // that may not talk to aai at all: closed unanswered.
                log::debug!("refusing {peer}: not in the allow list (closed before TLS)");
                self.app.metrics.refusal(Refusal::Forbidden);
                continue;
            }
            // A refused client gets its 403 from a small pool of its own, so
            // clients outside the allow list can never take the slots of
            // those inside it; beyond that pool they are just disconnected.
            let permit = if allowed {
                permit
            } else {
                drop(permit);
                match self.refused.clone().try_acquire_owned() {
                    Ok(p) => p,
                    Err(_) => {
                        log::debug!(
                            "dropping {peer}: not in the allow list, and {REFUSED_AT_ONCE} refusals are in progress"
                        );
                        self.app.metrics.refusal(Refusal::Forbidden);
                        continue;
                    }
                }
            };
            if !allowed {
                log::debug!("refusing {peer}: not in the allow list");
            }
            let mut conn = Conn {
                peer,
                allowed,
                credentials: self.credentials.clone(),
                app: self.app.clone(),
                stop: self.stop.clone(),
                header_timeout: self.limits.header_timeout,
            };
            let svc = svc.clone();
            // The configuration in force now: a SIGHUP from here on applies
            // to the next connection, not this one.
            let tls = self.tls.as_ref().map(|t| t.get());
            let app = self.app.clone();
            tokio::spawn(async move {
                let _open = app.metrics.connection();
                match tls {
                    None => conn.serve(stream, svc).await,
                    Some(config) => {
                        if let Some(tls) = conn.handshake(stream, config).await {
                            conn.serve(tls, svc).await;
                        }
                    }
                }
                drop(permit);
            });
        }
    }
}

async fn accept_failed(e: std::io::Error, local: Option<SocketAddr>) {
    // Per-connection errors (the peer reset before accept) are routine.
    // Anything else is usually EMFILE: back off so the loop does not spin,
    // and say what to raise.
    use std::io::ErrorKind::*;
    if matches!(
        e.kind(),
        ConnectionAborted | ConnectionReset | ConnectionRefused
    ) {
        return;
    }
    log::error!(
        "accept on {} failed: {e}; if this is \"too many open files\", raise LimitNOFILE or lower max-connections",
        local.map_or_else(|| "a listener".to_owned(), |a| a.to_string())
    );
    tokio::time::sleep(Duration::from_millis(200)).await;
}

struct Conn {
    peer: SocketAddr,
    allowed: bool,
    credentials: Option<Arc<Swap<Credentials>>>,
    app: Arc<App>,
    stop: watch::Receiver<bool>,
    header_timeout: Duration,
}

/// The first byte of every TLS connection: a handshake record.
const TLS_HANDSHAKE_RECORD: u8 = 0x16;

impl Conn {
    /// The TLS handshake, bounded by the header timeout (so a client that
    /// trickles its ClientHello holds its slot no longer than one that
    /// trickles headers). None when it failed; the reason is logged and
    /// counted.
    async fn handshake(
        &mut self,
        stream: TcpStream,
        config: Arc<ServerConfig>,
    ) -> Option<tokio_rustls::server::TlsStream<TcpStream>> {
        let peer = self.peer;
        let deadline = tokio::time::Instant::now() + self.header_timeout;
        let ms = self.header_timeout.as_millis();
        let metrics = &self.app.metrics;
        let mut first = [0u8; 1];
        let peeked = tokio::select! {
            r = tokio::time::timeout_at(deadline, stream.peek(&mut first)) => r,
            _ = self.stop.changed() => return None,
        };
        match peeked {
            Ok(Ok(1..)) if first[0] == TLS_HANDSHAKE_RECORD => {}
            Ok(Ok(1..)) => {
                if first[0].is_ascii_uppercase() {
                    log::info!(
                        "refusing {peer}: plain HTTP (not TLS) on a TLS listener; use https://"
                    );
                } else {
                    log::info!(
                        "refusing {peer}: not TLS (first byte {:#04x}) on a TLS listener",
                        first[0]
                    );
                }
                metrics.refusal(Refusal::NotTls);
                let _ = tokio::time::timeout_at(deadline, not_tls(stream)).await;
                return None;
            }
            Ok(Ok(_)) | Ok(Err(_)) => {
                log::debug!("connection from {peer} closed before the TLS handshake");
                return None;
            }
            Err(_) => {
                // A silent connection (a TCP check, a client that connected
                // early) is routine, as it is on a plain listener: debug.
                log::debug!(
                    "TLS handshake with {peer} not started within {ms} ms (header-timeout-ms)"
                );
                metrics.refusal(Refusal::TlsTimeout);
                return None;
            }
        }
        let accept = tokio_rustls::TlsAcceptor::from(config).accept(stream);
        let done = tokio::select! {
            r = tokio::time::timeout_at(deadline, accept) => r,
            _ = self.stop.changed() => return None,
        };
        match done {
            Ok(Ok(tls)) => Some(tls),
            Ok(Err(e)) => {
                log::info!(
                    "TLS handshake with {peer} failed: {}",
                    crate::tls::handshake_error(&e)
                );
                metrics.refusal(Refusal::TlsHandshake);
                None
            }
            Err(_) => {
                log::info!(
                    "TLS handshake with {peer} not finished within {ms} ms (header-timeout-ms)"
                );
                metrics.refusal(Refusal::TlsTimeout);
                None
            }
        }
    }

    async fn serve<I, S>(mut self, stream: I, svc: S)
    where
        I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
        S: Service<
                Request<Incoming>,
                Response = warp::reply::Response,
                Error = std::convert::Infallible,
            > + Clone
            + Send
            + 'static,
        S::Future: Send + 'static,
    {
        let allowed = self.allowed;
        let app = self.app.clone();
        let credentials = self.credentials.clone();
        let peer = self.peer;
        let handler = hyper::service::service_fn(move |req: Request<Incoming>| {
            // Both refusals are answered from the headers alone; the body
            // is never read.
            if !allowed {
                app.metrics.refusal(Refusal::Forbidden);
                let r = close(text(
                    StatusCode::FORBIDDEN,
                    "forbidden: this address is not in aai's allow list\n",
                ));
                return Either::Right(std::future::ready(Ok(r)));
            }
            if let Some(c) = &credentials {
                let sent = req.headers().get(header::AUTHORIZATION);
                if let Err(why) = c.get().check(sent.map(|v| v.as_bytes())) {
                    app.metrics.refusal(Refusal::Unauthorized);
                    log::info!("refusing {peer} with 401: {why}");
                    return Either::Right(std::future::ready(Ok(unauthorized())));
                }
            }
            Either::Left(svc.clone().call(req))
        });
        let conn = http1::Builder::new()
            .timer(TokioTimer::new())
            .header_read_timeout(self.header_timeout)
            .keep_alive(true)
            .serve_connection(TokioIo::new(stream), handler);
        let mut conn = std::pin::pin!(conn);
        let result = tokio::select! {
            r = conn.as_mut() => r,
            _ = self.stop.changed() => {
                conn.as_mut().graceful_shutdown();
                conn.await
            }
        };
        if let Err(e) = result {
            // Timeouts and resets by clients are their business, not an
            // operator's: debug level.
            log::debug!("connection from {} ended: {e}", self.peer);
        }
    }
}

fn unauthorized() -> warp::reply::Response {
    let mut r = close(text(
        StatusCode::UNAUTHORIZED,
        "unauthorized: aai needs a user and password (HTTP basic)\n",
    ));
    r.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        header::HeaderValue::from_static("Basic realm=\"aai\""),
    );
    r
}

/// Answers a plain-HTTP client on a TLS listener in its own language, so
/// the mistake is visible at the client (`http://` for `https://`).
async fn not_tls(mut stream: TcpStream) {
    let body = "this aai speaks TLS: use https://\n";
    let resp = format!(
        "HTTP/1.1 400 Bad Request\r\ncontent-type: text/plain; charset=utf-8\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    if stream.write_all(resp.as_bytes()).await.is_err() {
        return;
    }
    let _ = stream.shutdown().await;
    // Read what the client sent, so closing does not turn into a reset that
    // discards the answer before the client reads it; the caller bounds this.
    let mut sink = [0u8; 4096];
    while matches!(stream.read(&mut sink).await, Ok(1..)) {}
}
