//! Writes leases to Redis: one pipeline of `SET … EX` / `SET` / `DEL` per
//! batch, in lease-model's schema, so aai reads exactly what was written.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use lease_model::{Lease, LeaseRecord, RedisSchema, RedisWrite};
use redis::AsyncConnectionConfig;
use redis::aio::MultiplexedConnection;

use super::queue::{Outcome, Sink};
use super::sink::{Sent, SinkIo};
use crate::config::Config;
use crate::messages::{AAE_LEASE_EXPIRED, emit};

/// One pipeline; a few hundred small SETs are a millisecond for a local Redis.
const BATCH: usize = 256;

/// Which Redis server instance the workers last wrote to, shared by every
/// worker's connection. A Redis that restarted may have come back empty (no
/// persistence, or a replaced machine); its `run_id` changes on every start,
/// so a new one means "rewrite every current lease", which only the Kea
/// border can do (it owns the lease database): it asks with
/// [`RedisWatch::take_resync_request`].
#[derive(Default)]
pub(crate) struct RedisWatch {
    run_id: Mutex<Option<String>>,
    resync: AtomicBool,
}

impl RedisWatch {
    /// Records the `run_id` a fresh connection reports. The first one seen is
    /// the baseline (the load-time resync covers it); a different one later
    /// requests a resync, once, however many workers reconnect.
    fn saw(&self, run_id: &str) {
        let mut known = self.run_id.lock().unwrap_or_else(|e| e.into_inner());
        match known.as_deref() {
            Some(id) if id == run_id => {}
            Some(_) => {
                *known = Some(run_id.to_owned());
                self.resync.store(true, Ordering::Release);
            }
            None => *known = Some(run_id.to_owned()),
        }
    }

    pub fn take_resync_request(&self) -> bool {
        self.resync.swap(false, Ordering::Acquire)
    }
}

/// The `run_id` line of `INFO server`.
fn run_id(info: &str) -> Option<&str> {
    info.lines()
        .find_map(|l| l.strip_prefix("run_id:"))
        .map(str::trim)
}

pub(crate) struct RedisSink {
    client: redis::Client,
    conn: Option<MultiplexedConnection>,
    watch: Arc<RedisWatch>,
    schema: RedisSchema,
    node: String,
    timeout: Duration,
}

impl RedisSink {
    /// Checks the URL only; connecting happens on the first send, so a Redis
    /// that is down at load does not stop Kea from starting.
    pub fn new(config: &Config, watch: Arc<RedisWatch>) -> Result<RedisSink, redis::RedisError> {
        Ok(RedisSink {
            client: redis::Client::open(config.redis_url.as_str())?,
            conn: None,
            watch,
            schema: config.schema(),
            node: config.node_name.clone(),
            timeout: config.redis_timeout,
        })
    }

    async fn connection(&mut self) -> Result<&mut MultiplexedConnection, String> {
        if self.conn.is_none() {
            let cfg = AsyncConnectionConfig::new()
                .set_connection_timeout(Some(self.timeout))
                .set_response_timeout(Some(self.timeout));
            // The outer timeout also bounds name resolution, which the
            // connection timeout does not cover.
            let conn = tokio::time::timeout(
                self.timeout * 2,
                self.client
                    .get_multiplexed_async_connection_with_config(&cfg),
            )
            .await
            .map_err(|_| format!("connecting timed out after {:?}", self.timeout * 2))?
            .map_err(|e| format!("cannot connect: {e}"))?;
            let mut conn = conn;
            let info: String = redis::cmd("INFO")
                .arg("server")
                .query_async(&mut conn)
                .await
                .map_err(|e| format!("INFO server failed: {e}"))?;
            if let Some(id) = run_id(&info) {
                self.watch.saw(id);
            }
            self.conn = Some(conn);
        }
        Ok(self.conn.as_mut().expect("just connected"))
    }
}

impl SinkIo for RedisSink {
    const SINK: Sink = Sink::Redis;

    fn batch_size(&self) -> usize {
        BATCH
    }

    async fn send(&mut self, batch: &[Lease]) -> Sent {
        // The write is computed now, not at submit time: a lease that waited
        // out an outage gets the TTL it has left, or none once it is dead.
        let now = unix_now();
        let mut pipe = redis::pipe();
        let mut outcomes = Vec::with_capacity(batch.len());
        // Which leases went into the pipeline (the others needed no write).
        let mut wrote = Vec::with_capacity(batch.len());
        let (mut writes, mut expired) = (0u64, 0u64);
        for lease in batch {
            let record = LeaseRecord {
                lease: Lease::clone(lease),
                node: self.node.clone(),
            };
            match self.schema.write_for(&record, now) {
                RedisWrite::Set {
                    key,
                    value,
                    ttl_secs: Some(ttl),
                } => {
                    pipe.cmd("SET")
                        .arg(key)
                        .arg(value)
                        .arg("EX")
                        .arg(ttl.get())
                        .ignore();
                }
                RedisWrite::Set {
                    key,
                    value,
                    ttl_secs: None,
                } => {
                    pipe.cmd("SET").arg(key).arg(value).ignore();
                }
                RedisWrite::Delete { key } => {
                    pipe.cmd("DEL").arg(key).ignore();
                }
                RedisWrite::Skip { reason } => {
                    emit(
                        AAE_LEASE_EXPIRED,
                        format_args!("{} ({}): {reason:?}", lease.ip, lease.hwaddr),
                    );
                    expired += 1;
                    outcomes.push(Outcome::Done);
                    wrote.push(false);
                    continue;
                }
            }
            writes += 1;
            outcomes.push(Outcome::Done);
            wrote.push(true);
        }
        if writes > 0 {
            let timeout = self.timeout;
            let result = match self.connection().await {
                Ok(conn) => match tokio::time::timeout(timeout, pipe.query_async::<()>(conn)).await
                {
                    Ok(done) => done.map_err(|e| e.to_string()),
                    Err(_) => Err(format!("no reply within {timeout:?}")),
                },
                Err(e) => Err(e),
            };
            if let Err(e) = result {
                // The connection may be half-dead; the next try makes a new one.
                self.conn = None;
                for (outcome, write) in outcomes.iter_mut().zip(&wrote) {
                    if *write {
                        *outcome = Outcome::Retry;
                    }
                }
                return Sent {
                    outcomes,
                    exported: 0,
                    skipped: expired,
                    failure: Some(format!(
                        "{e} ({})",
                        self.client.get_connection_info().addr()
                    )),
                };
            }
        }
        Sent {
            outcomes,
            exported: writes,
            skipped: expired,
            failure: None,
        }
    }
}

fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_run_id_requests_one_resync() {
        let w = RedisWatch::default();
        w.saw("a");
        assert!(
            !w.take_resync_request(),
            "the first server seen is the baseline"
        );
        w.saw("a");
        assert!(!w.take_resync_request());
        w.saw("b");
        w.saw("b");
        assert!(w.take_resync_request());
        assert!(!w.take_resync_request(), "taken once");
        assert_eq!(
            run_id("# Server\r\nredis_version:7.0.15\r\nrun_id:abc123\r\n"),
            Some("abc123")
        );
    }
}
