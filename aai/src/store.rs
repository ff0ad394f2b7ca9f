//! The Redis reader: one `GET` per lookup, bounded in time.
//!
//! A single [`redis::aio::ConnectionManager`] is shared by every request: it
//! multiplexes concurrent commands over one connection and reconnects by
//! itself after Redis comes back, so aai never needs a restart.

use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::time::{Duration, Instant};

use lease_model::{LeaseRecord, RedisSchema};
use redis::aio::{ConnectionManager, ConnectionManagerConfig};

use crate::metrics::Metrics;

/// Why a lookup gave no answer.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// Redis is down, refused, or slower than the configured bound.
    #[error("the lease store (Redis at {url}) is unavailable: {reason}; retry later")]
    Unavailable { url: String, reason: String },
    /// The key holds something aae did not write.
    #[error("the stored value under {key:?} is not a lease record: {reason}")]
    Corrupt { key: String, reason: String },
}

pub use secrets::RedisAccess;

/// Reads lease records from Redis.
#[derive(Clone)]
pub struct Store {
    conn: ConnectionManager,
    schema: RedisSchema,
    timeout: Duration,
    url: Arc<str>,
    metrics: Arc<Metrics>,
    /// Whether the last round trip failed, so an outage is logged once when
    /// it starts and once when it ends, not once per request.
    down: Arc<AtomicBool>,
}

impl Store {
    /// Prepares the connection without making it: aai starts (and `/health`
    /// reports 503) while Redis is still down.
    pub fn new(
        url: &str,
        access: &RedisAccess,
        schema: RedisSchema,
        timeout: Duration,
        metrics: Arc<Metrics>,
    ) -> Result<Store, redis::RedisError> {
        let client = secrets::redis_client(url, access)?;
        // Few, quick reconnect attempts: a request waits at most `timeout`
        // anyway, and the next request triggers a fresh attempt.
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(timeout))
            .set_response_timeout(Some(timeout))
            .set_number_of_retries(1)
            .set_min_delay(Duration::from_millis(10))
            .set_max_delay(timeout);
        let conn = ConnectionManager::new_lazy_with_config(client, config)?;
        Ok(Store {
            conn,
            schema,
            timeout,
            url: crate::config::redacted_url(url).into(),
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

    async fn run<T: redis::FromRedisValue>(&self, cmd: &redis::Cmd) -> Result<T, StoreError> {
        let mut conn = self.conn.clone();
        let start = Instant::now();
        // The manager's own timeouts cover connect and response; this outer
        // bound also covers its reconnect back-off, so a caller never waits
        // longer than `timeout` whatever state the manager is in.
        let attempts = async {
            match cmd.query_async::<T>(&mut conn).await {
                // The manager hands out the outcome of its last connection
                // attempt, and only then starts a new one: right after
                // Redis comes back, that is a stale "refused". One more try
                // waits for the fresh attempt, so the first request after
                // an outage already succeeds.
                Err(e)
                    if e.is_connection_refusal()
                        || e.is_connection_dropped()
                        || e.is_io_error() =>
                {
                    cmd.query_async::<T>(&mut conn).await
                }
                other => other,
            }
        };
        let result = tokio::time::timeout(self.timeout, attempts).await;
        let took = start.elapsed();
        let unavailable = |reason: String| StoreError::Unavailable {
            url: self.url.to_string(),
            reason,
        };
        let result = match result {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(e)) => Err(unavailable(e.to_string())),
            Err(_) => Err(unavailable(format!(
                "no answer within {} ms",
                self.timeout.as_millis()
            ))),
        };
        self.metrics.redis(took, result.is_ok());
        match &result {
            Ok(_) if self.down.swap(false, Relaxed) => {
                log::info!("the lease store (Redis at {}) answers again", self.url);
            }
            Err(e) if !self.down.swap(true, Relaxed) => {
                log::warn!("{e}; lookups fail with fault -32000 until it answers");
            }
            _ => {}
        }
        result
    }
}
