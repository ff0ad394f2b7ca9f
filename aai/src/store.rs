//! The Redis reader: one `GET` per lookup, bounded in time.
//!
//! Every request shares one multiplexed connection. A keeper task owns
//! (re)connecting: a request that finds no connection, or a broken one,
//! wakes it and waits for the new one within its own bound, so a request
//! never waits longer than `redis-timeout-ms`, and aai never needs a
//! restart after Redis comes back. With a Sentinel service the keeper also
//! asks the sentinels every [`SENTINEL_CHECK_EVERY`] which server is
//! primary, and moves to a new one: a primary that was demoted but still
//! answers would otherwise keep serving reads from before the failover.

use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use lease_model::{LeaseRecord, RedisSchema};
use redis::aio::MultiplexedConnection;
use redis_endpoint::{Connected, Connector, Endpoint, ReadFrom, Status};
use tokio::sync::{Notify, watch};

use crate::metrics::Metrics;

/// How often the keeper asks the sentinels which server is primary.
const SENTINEL_CHECK_EVERY: Duration = Duration::from_secs(1);

/// The least time between two connection attempts, however many requests
/// ask: a Redis that refuses costs a few attempts a second, not one per
/// request.
const RETRY_GAP: Duration = Duration::from_millis(50);

/// Why a lookup gave no answer.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// Redis is down, refused, or slower than the configured bound.
    #[error("the lease store ({url}) is unavailable: {reason}; retry later")]
    Unavailable { url: String, reason: String },
    /// The key holds something aae did not write.
    #[error("the stored value under {key:?} is not a lease record: {reason}")]
    Corrupt { key: String, reason: String },
}

pub use redis_endpoint::RedisAccess;

/// Reads lease records from Redis.
#[derive(Clone)]
pub struct Store {
    link: Arc<Link>,
    schema: RedisSchema,
    timeout: Duration,
    metrics: Arc<Metrics>,
    /// Whether the last round trip failed, so an outage is logged once when
    /// it starts and once when it ends, not once per request.
    down: Arc<AtomicBool>,
}

/// The connection every request uses, and the keeper's side of it.
struct Link {
    connector: Connector,
    read_from: ReadFrom,
    /// The connection now; `None` while there is none.
    current: watch::Sender<Option<Current>>,
    /// Why the last attempt to connect failed, for the fault text.
    last_error: Mutex<String>,
    wake: Notify,
    /// The endpoint in words, without a password.
    describe: String,
}

#[derive(Clone)]
struct Current {
    conn: MultiplexedConnection,
    addr: String,
    /// Tells this connection from the next one, so a request that saw it
    /// fail drops it and not its successor.
    generation: u64,
}

impl Store {
    /// Prepares the connection without making it: aai starts (and `/health`
    /// reports 503) while Redis is still down. Spawns the keeper, so it
    /// must be called inside the Tokio runtime.
    pub fn new(
        url: &str,
        access: &RedisAccess,
        read_from: ReadFrom,
        schema: RedisSchema,
        timeout: Duration,
        metrics: Arc<Metrics>,
    ) -> Result<Store, redis::RedisError> {
        let endpoint = Endpoint::parse(url).map_err(|e| {
            redis::RedisError::from((
                redis::ErrorKind::InvalidClientConfig,
                "not a Redis URL",
                e.to_string(),
            ))
        })?;
        let connector = Connector::new(&endpoint, access, timeout)?;
        let link = Arc::new(Link {
            describe: connector.describe(),
            connector,
            read_from,
            current: watch::channel(None).0,
            last_error: Mutex::new("not connected yet".into()),
            wake: Notify::new(),
        });
        tokio::spawn(keep(Arc::downgrade(&link)));
        link.wake.notify_one();
        Ok(Store {
            link,
            schema,
            timeout,
            metrics,
            down: Arc::new(AtomicBool::new(false)),
        })
    }

    /// The record for `ip`, or `None` when no live lease is stored.
    pub async fn lookup(&self, ip: IpAddr) -> Result<Option<LeaseRecord>, StoreError> {
        let key = self.schema.key(ip);
        let mut cmd = redis::cmd("GET");
        cmd.arg(&key);
        let value: Option<Vec<u8>> = self.run(&cmd).await?;
        match value {
            None => Ok(None),
            Some(bytes) => self
                .schema
                .decode(&bytes)
                .map(Some)
                .map_err(|e| StoreError::Corrupt {
                    key,
                    reason: e.to_string(),
                }),
        }
    }

    /// True when Redis answers `PING` within the bound.
    pub async fn ping(&self) -> Result<(), StoreError> {
        let _: String = self.run(&redis::cmd("PING")).await?;
        Ok(())
    }

    /// Which server is primary, how many failovers were followed, and
    /// which server the reads go to: for `/health` and the metrics.
    pub fn status(&self) -> (Status, Option<String>) {
        let reading = self.link.current.borrow().as_ref().map(|c| c.addr.clone());
        (self.link.connector.status(), reading)
    }

    /// The endpoint in words, without a password.
    pub fn describe(&self) -> &str {
        &self.link.describe
    }

    async fn run<T: redis::FromRedisValue>(&self, cmd: &redis::Cmd) -> Result<T, StoreError> {
        let start = Instant::now();
        let result = self.link.run(cmd, start + self.timeout).await;
        let took = start.elapsed();
        let result = result.map_err(|reason| StoreError::Unavailable {
            url: self.link.describe.clone(),
            reason,
        });
        self.metrics.redis(took, result.is_ok());
        match &result {
            Ok(_) if self.down.swap(false, Relaxed) => {
                log::info!("the lease store ({}) answers again", self.link.describe);
            }
            Err(e) if !self.down.swap(true, Relaxed) => {
                log::warn!("{e}; lookups fail with fault -32000 until it answers");
            }
            _ => {}
        }
        result
    }
}

impl Link {
    /// One command on the current connection, waiting for the keeper when
    /// there is none, until `deadline`. A connection that fails is handed
    /// back and the command tried once on its successor: right after a
    /// failover or a restart, the first request already gets an answer.
    async fn run<T: redis::FromRedisValue>(
        &self,
        cmd: &redis::Cmd,
        deadline: Instant,
    ) -> Result<T, String> {
        let mut rx = self.current.subscribe();
        let mut tries = 0;
        loop {
            let current = rx.borrow_and_update().clone();
            let Some(mut c) = current else {
                self.wake.notify_one();
                match tokio::time::timeout_at(deadline.into(), rx.changed()).await {
                    Ok(_) => continue,
                    Err(_) => return Err(self.waited()),
                }
            };
            match tokio::time::timeout_at(deadline.into(), cmd.query_async::<T>(&mut c.conn)).await
            {
                Ok(Ok(v)) => return Ok(v),
                Ok(Err(e)) if tries == 0 && needs_new_connection(&e) => {
                    tries += 1;
                    self.drop_connection(c.generation);
                }
                Ok(Err(e)) => {
                    if needs_new_connection(&e) {
                        self.drop_connection(c.generation);
                    }
                    return Err(format!("{e} ({})", c.addr));
                }
                Err(_) => return Err(self.waited()),
            }
        }
    }

    fn waited(&self) -> String {
        let last = self
            .last_error
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        if self.current.borrow().is_some() {
            "no answer within the bound (redis-timeout-ms)".into()
        } else {
            format!("no connection within the bound (redis-timeout-ms); last attempt: {last}")
        }
    }

    fn drop_connection(&self, generation: u64) {
        self.current.send_if_modified(|c| match c {
            Some(cur) if cur.generation == generation => {
                *c = None;
                true
            }
            _ => false,
        });
        self.wake.notify_one();
    }

    fn set_error(&self, e: String) {
        *self.last_error.lock().unwrap_or_else(|p| p.into_inner()) = e;
    }
}

/// An error after which this connection is not worth another command: it
/// broke, or its server no longer holds the role it was chosen for
/// (`READONLY` does not happen on reads, but a demoted server may answer
/// `LOADING` or `MASTERDOWN` while it resyncs from the new primary).
fn needs_new_connection(e: &redis::RedisError) -> bool {
    e.is_connection_refusal()
        || e.is_connection_dropped()
        || e.is_io_error()
        || e.is_timeout()
        || matches!(e.code(), Some("READONLY" | "LOADING" | "MASTERDOWN"))
}

/// The keeper: connects when woken and there is no connection, and with a
/// Sentinel service checks every second that the connection still goes to
/// the primary the sentinels name. Ends when the store is gone.
async fn keep(link: std::sync::Weak<Link>) {
    let sentinel = match link.upgrade() {
        Some(l) => l.connector.status().sentinel,
        None => return,
    };
    let mut tick = tokio::time::interval(SENTINEL_CHECK_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut generation = 0u64;
    let mut last_attempt: Option<Instant> = None;
    loop {
        // Woken by a request, or by the tick for the Sentinel check; the
        // link is only upgraded while working, so dropping the store ends
        // the keeper at its next wake.
        let woken = {
            let Some(l) = link.upgrade() else { return };
            let wake = async { l.wake.notified().await };
            tokio::select! {
                _ = wake => true,
                _ = tick.tick(), if sentinel => false,
            }
        };
        let Some(l) = link.upgrade() else { return };
        let have = l.current.borrow().as_ref().map(|c| c.addr.clone());
        match have {
            Some(addr) if !woken || sentinel => {
                if !sentinel {
                    continue;
                }
                // Still the primary the sentinels name? A demoted primary
                // keeps answering reads from before the failover.
                let Ok(named) = l.connector.named_primary().await else {
                    continue;
                };
                let moved = match l.read_from {
                    ReadFrom::Primary => named != addr,
                    ReadFrom::Replica => {
                        log_new_primary(&l, l.connector.note_primary(&named), &named);
                        false
                    }
                };
                if !moved {
                    continue;
                }
                log::info!(
                    "the lease store ({}) names {named} as primary now, not {addr}: reconnecting",
                    l.describe
                );
            }
            Some(_) => continue,
            None => {}
        }
        if let Some(t) = last_attempt {
            tokio::time::sleep_until((t + RETRY_GAP).into()).await;
        }
        last_attempt = Some(Instant::now());
        match l.connector.connect(l.read_from).await {
            Ok(Connected {
                conn,
                addr,
                new_primary,
            }) => {
                if sentinel {
                    let primary = l.connector.status().primary.unwrap_or_default();
                    log_new_primary(&l, new_primary, &primary);
                }
                generation += 1;
                l.current.send_replace(Some(Current {
                    conn,
                    addr,
                    generation,
                }));
            }
            Err(e) => {
                l.set_error(e);
                l.current.send_replace(None);
                // Requests still waiting keep the wake permit alive; the
                // next round waits out RETRY_GAP first.
            }
        }
    }
}

fn log_new_primary(l: &Link, new_primary: Option<Option<String>>, primary: &str) {
    match new_primary {
        Some(Some(before)) => log::warn!(
            "the lease store ({}) failed over: its primary is {primary} now (was {before}; \
             failovers followed: {})",
            l.describe,
            l.connector.status().failovers
        ),
        Some(None) => log::info!(
            "the lease store ({}) has its primary at {primary}",
            l.describe
        ),
        None => {}
    }
}
