//! The connection loop: accepts on every listener, enforces the connection
//! cap and the allow-list, serves HTTP/1.1 with a header read timeout, and
//! drains on shutdown.
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
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, watch};
use tower_service::Service;
use warp::http::{Request, StatusCode};

use super::App;
use super::allow::AllowList;
use super::routes::{self, close, text};
use crate::metrics::Refusal;

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
            let conn = Conn {
                peer,
                allowed,
                app: self.app.clone(),
                stop: self.stop.clone(),
                header_timeout: self.limits.header_timeout,
            };
            let svc = svc.clone();
            tokio::spawn(async move {
                conn.serve(stream, svc).await;
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
    app: Arc<App>,
    stop: watch::Receiver<bool>,
    header_timeout: Duration,
}

impl Conn {
    async fn serve<S>(mut self, stream: tokio::net::TcpStream, svc: S)
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
        let _open = self.app.metrics.connection();
        let allowed = self.allowed;
        let app = self.app.clone();
        let handler = hyper::service::service_fn(move |req: Request<Incoming>| {
            if allowed {
                Either::Left(svc.clone().call(req))
            } else {
                // Answered from the headers alone; the body is never read.
                app.metrics.refusal(Refusal::Forbidden);
                let r = close(text(
                    StatusCode::FORBIDDEN,
                    "forbidden: this address is not in aai's allow list\n",
                ));
                Either::Right(std::future::ready(Ok(r)))
            }
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
