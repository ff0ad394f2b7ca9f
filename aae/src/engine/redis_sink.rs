//! Writes leases to Redis: one pipeline per batch of `EVALSHA`s of
//! lease-model's newest-wins script, which does the `SET … EX` / `SET` /
//! `DEL` only when Redis does not hold a newer lease (another node's, or
//! an update that arrived out of order), in lease-model's schema, so aai
//! reads exactly what was written.
//! Also notices a Redis that lost aae's keys, so the Kea border can write
//! them all again: see [`RedisWatch`].

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant, SystemTime};

use lease_model::{
    Lease, LeaseRecord, NEWEST_WINS_SCRIPT, RedisSchema, RedisWrite, SCRIPT_APPLIED,
    SCRIPT_REFUSED, ScriptCall, unix_now,
};
use redis::aio::MultiplexedConnection;
use redis::{FromRedisValue, ServerErrorKind, Value};
use redis_endpoint::{Connected, Connector, ReadFrom};
use tokio::time::MissedTickBehavior;

use super::queue::{Outcome, Pushed, Queue, Sink};
use super::reconcile::{IpSet, ended};
use super::sink::{Sent, SinkIo};
use crate::config::Config;
use crate::messages::{AAE_LEASE_EXPIRED, AAE_REDIS_FLUSHED, AAE_REDIS_PRIMARY, Log};

/// One pipeline; a few hundred small SETs are a millisecond for a local Redis.
const BATCH: usize = 256;

/// How often the marker is looked at: one `EXPIRE` per engine (Kea process)
/// per period, on a worker thread. A flush is repaired within this plus Kea's
/// 1 s timer plus the time the resync's writes take.
const MARKER_CHECK_EVERY: Duration = Duration::from_secs(5);

/// The marker's expiry, renewed by every check. Long against the check
/// period, so it only runs out when this engine could not reach Redis for that
/// long (then a resync on return is a fair precaution); finite, so the marker
/// of a Kea that stopped or reloaded (each load has a new one) goes away.
const MARKER_TTL: Duration = Duration::from_secs(3600);

/// At most one resync per this interval for a lost marker, so that a marker
/// lost again and again (evicted under `maxmemory`, a script deleting keys)
/// cannot keep Kea's main thread walking its lease database.
const FLUSH_RESYNC_GAP: Duration = Duration::from_secs(30);

/// Whether Redis still holds what the workers wrote, shared by every worker's
/// connection. Only the Kea border can repair it (it owns the lease
/// database): it asks with [`RedisWatch::take_resync_request`], and writes
/// every current lease again.
///
/// Two ways Redis loses our keys:
/// - It restarted (maybe empty: no persistence, or a replaced machine). Its
///   `run_id` changes on every start; a connection that finds a new one
///   requests a resync.
/// - It kept running but was flushed (`FLUSHALL`, `FLUSHDB`), or our keys were
///   deleted or evicted. For that, each engine keeps a *marker* key of its own
///   ([`RedisSchema::marker_key`]); a watcher task on one worker renews it
///   every [`MARKER_CHECK_EVERY`] with `EXPIRE`, whose `0` says it is gone.
///
/// The marker is written only where a resync follows or is already covered:
/// by the first connection to a server this engine has not written to (the
/// load-time resync, or the one the new `run_id` requests, comes after it),
/// and by the watcher after it found the marker gone, just before it
/// requests the resync. Writing it *before* requesting means every write of
/// the resync lands after the marker, so a flush that hits any of them also
/// takes the marker and is noticed in turn; no other connection writes it,
/// so a flush is never masked. Nothing is requested on an error or a timeout:
/// a Redis that is down costs one connection attempt per period, no resync.
pub(crate) struct RedisWatch {
    /// The `run_id` of the server this engine's marker was written to.
    /// Locked across that write, so workers connecting at once write it once,
    /// and none sends a lease before it is there.
    server: tokio::sync::Mutex<Option<String>>,
    resync: AtomicBool,
    /// Names this engine's marker: random, so neither a reloaded library nor
    /// a kea-dhcp4 and a kea-dhcp6 with the same `node-name` share one (one
    /// of them would repair the marker and the other never notice).
    instance: u64,
    watcher_started: AtomicBool,
    check_every: Duration,
    resync_gap: Duration,
}

impl Default for RedisWatch {
    fn default() -> Self {
        RedisWatch::with_timing(MARKER_CHECK_EVERY, FLUSH_RESYNC_GAP)
    }
}

impl RedisWatch {
    fn with_timing(check_every: Duration, resync_gap: Duration) -> RedisWatch {
        use std::hash::BuildHasher;
        // Random keys from the OS, without a dependency for it.
        let instance = std::collections::hash_map::RandomState::new()
            .hash_one((std::process::id(), SystemTime::now()));
        RedisWatch {
            server: tokio::sync::Mutex::new(None),
            resync: AtomicBool::new(false),
            instance,
            watcher_started: AtomicBool::new(false),
            check_every,
            resync_gap,
        }
    }

    fn request_resync(&self) {
        self.resync.store(true, Ordering::Release);
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

/// The Redis this engine writes to, as each of its connections sees it.
#[derive(Clone)]
struct Server {
    /// Shared by every worker: which sentinel answers, which primary is
    /// current.
    connector: Arc<Connector>,
    timeout: Duration,
    watch: Arc<RedisWatch>,
    marker: String,
    log: Log,
}

impl Server {
    /// A new connection to the server that takes writes now (through the
    /// sentinels, for a Sentinel service), after checking which server it
    /// reached; on a server this engine has not written to, the marker is
    /// written first. A primary new to this engine is one that did not
    /// hold its writes: a failover is a restart as far as the resync goes.
    async fn connect(&self) -> Result<MultiplexedConnection, String> {
        let Connected {
            mut conn,
            addr,
            new_primary,
        } = self.connector.connect(ReadFrom::Primary).await?;
        if let Some(before) = new_primary
            && self.connector.status().sentinel
        {
            self.log.emit(
                AAE_REDIS_PRIMARY,
                format_args!(
                    "{} has its primary at {addr}{}",
                    self.connector.describe(),
                    match before {
                        Some(b) => format!(
                            " (was {b}; failovers followed: {})",
                            self.connector.status().failovers
                        ),
                        None => String::new(),
                    }
                ),
            );
        }
        let info: String = self
            .query(&mut conn, redis::cmd("INFO").arg("server"))
            .await
            .map_err(|e| format!("INFO server failed: {e}"))?;
        // A server that does not say is taken to be the same one throughout.
        let id = run_id(&info).unwrap_or_default();
        let mut known = self.watch.server.lock().await;
        if known.as_deref() != Some(id) {
            // Unrecorded if it fails: the next connection tries again.
            self.set_marker(&mut conn).await?;
            let restarted = known.replace(id.to_owned()).is_some();
            if restarted {
                self.watch.request_resync();
            }
        }
        Ok(conn)
    }

    async fn set_marker(&self, conn: &mut MultiplexedConnection) -> Result<(), String> {
        let set = redis::cmd("SET")
            .arg(&self.marker)
            .arg(std::process::id())
            .arg("EX")
            .arg(MARKER_TTL.as_secs())
            .clone();
        self.query(conn, &set)
            .await
            .map_err(|e| format!("writing the marker {} failed: {e}", self.marker))
    }

    async fn query<T: FromRedisValue>(
        &self,
        conn: &mut MultiplexedConnection,
        cmd: &redis::Cmd,
    ) -> Result<T, String> {
        match tokio::time::timeout(self.timeout, cmd.query_async(conn)).await {
            Ok(reply) => reply.map_err(|e| e.to_string()),
            Err(_) => Err(format!("no reply within {:?}", self.timeout)),
        }
    }
}

/// The watcher's memory between checks.
#[derive(Debug, Default)]
struct Flush {
    /// The marker was found gone and has not been written again.
    detected: bool,
    /// When the watcher last requested a resync.
    last_resync: Option<Instant>,
}

impl Flush {
    /// Whether the marker may be written and a resync requested now.
    fn may_repair(&self, now: Instant, gap: Duration) -> bool {
        self.detected
            && self
                .last_resync
                .is_none_or(|t| now.saturating_duration_since(t) >= gap)
    }
}

/// Checks the marker every period, on its own connection, for as long as the
/// worker runtime it was spawned on runs. Errors are not logged here: the
/// workers log Redis being down, and a check that failed requests nothing.
async fn watch_marker(server: Server) {
    let (every, gap) = (server.watch.check_every, server.watch.resync_gap);
    let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
    tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let mut conn: Option<MultiplexedConnection> = None;
    let mut flush = Flush::default();
    loop {
        tick.tick().await;
        if conn.is_none() {
            conn = server.connect().await.ok();
        }
        let Some(c) = conn.as_mut() else { continue };
        if !flush.detected {
            let expire = redis::cmd("EXPIRE")
                .arg(&server.marker)
                .arg(MARKER_TTL.as_secs())
                .clone();
            match server.query::<i64>(c, &expire).await {
                Ok(0) => {
                    flush.detected = true;
                    let wait = flush
                        .last_resync
                        .map_or(Duration::ZERO, |t| gap.saturating_sub(t.elapsed()));
                    server.log.emit(
                        AAE_REDIS_FLUSHED,
                        format_args!(
                            "{} is gone from {}, which did not restart: its keys were \
                             flushed, deleted or evicted; every current lease will be written \
                             again{}",
                            server.marker,
                            server.connector.describe(),
                            if wait.is_zero() {
                                String::new()
                            } else {
                                format!(
                                    " in {} s (one such resync per {} s)",
                                    wait.as_secs_f64().ceil(),
                                    gap.as_secs()
                                )
                            },
                        ),
                    );
                }
                Ok(_) => continue,
                Err(_) => {
                    conn = None;
                    continue;
                }
            }
        }
        if flush.may_repair(Instant::now(), gap) {
            match server.set_marker(c).await {
                Ok(()) => {
                    server.watch.request_resync();
                    flush = Flush {
                        detected: false,
                        last_resync: Some(Instant::now()),
                    };
                }
                // Still detected: the next tick writes it again (no second
                // log line, no second resync).
                Err(_) => conn = None,
            }
        }
    }
}

pub(crate) struct RedisSink {
    server: Server,
    conn: Option<MultiplexedConnection>,
    /// The SHA1 of [`NEWEST_WINS_SCRIPT`], as `SCRIPT LOAD` on `conn` gave it.
    script: String,
    schema: RedisSchema,
    node: String,
}

impl RedisSink {
    /// Checks the URL only; connecting happens on the first send, so a Redis
    /// that is down at load does not stop Kea from starting.
    pub fn new(
        config: &Config,
        connector: Arc<Connector>,
        watch: Arc<RedisWatch>,
        log: Log,
    ) -> RedisSink {
        let marker = RedisSchema::marker_key(&config.node_name, watch.instance);
        RedisSink {
            server: Server {
                connector,
                timeout: config.redis_timeout,
                watch,
                marker,
                log,
            },
            conn: None,
            script: String::new(),
            schema: config.schema(),
            node: config.node_name.clone(),
        }
    }

    /// The one connector every worker's sink shares. Checks the URL only;
    /// connecting happens on the first send, so a Redis that is down at
    /// load does not stop Kea from starting.
    pub fn connector(config: &Config) -> Result<Arc<Connector>, redis::RedisError> {
        let endpoint = redis_endpoint::Endpoint::parse(&config.redis_url).map_err(|e| {
            redis::RedisError::from((
                redis::ErrorKind::InvalidClientConfig,
                "bad redis-url",
                e.to_string(),
            ))
        })?;
        Connector::new(&endpoint, &config.redis_access, config.redis_timeout).map(Arc::new)
    }

    async fn connection(&mut self) -> Result<&mut MultiplexedConnection, String> {
        if self.conn.is_none() {
            let mut conn = self.server.connect().await?;
            // On every new connection: a restarted Redis, or a new primary
            // after a failover, has an empty script cache.
            let load = redis::cmd("SCRIPT")
                .arg("LOAD")
                .arg(NEWEST_WINS_SCRIPT)
                .clone();
            self.script = self
                .server
                .query(&mut conn, &load)
                .await
                .map_err(|e| format!("SCRIPT LOAD of the newest-wins script failed: {e}"))?;
            self.conn = Some(conn);
            // The first worker to reach Redis starts the one watcher, on its
            // own runtime: it ends with that worker.
            if !self
                .server
                .watch
                .watcher_started
                .swap(true, Ordering::AcqRel)
            {
                tokio::spawn(watch_marker(self.server.clone()));
            }
        }
        Ok(self.conn.as_mut().expect("just connected"))
    }
}

/// The sweep half of a reconciliation (see `reconcile`): finds this node's
/// keys that Kea's lease database no longer has. Its own connection, on the
/// worker that runs it; it queues deletions, the Redis workers do them.
pub(crate) struct Sweeper {
    server: Server,
    schema: RedisSchema,
    node: String,
}

/// Keys per `SCAN` step, and so per `MGET`: a few hundred kilobytes.
const SWEEP_STEP: usize = 1000;

impl RedisSink {
    pub fn sweeper(&self) -> Sweeper {
        Sweeper {
            server: self.server.clone(),
            schema: self.schema.clone(),
            node: self.node.clone(),
        }
    }
}

impl Sweeper {
    /// Queues the deletion of every key under the prefix whose value says
    /// this node wrote it and whose address is not in `live`. Other nodes'
    /// keys (a Redis shared by several) and values aae cannot read are left
    /// alone. Returns how many deletions were queued.
    pub async fn sweep(&self, live: &IpSet, queue: &Queue) -> Result<u64, String> {
        let mut conn = self.server.connect().await?;
        let pattern = format!("{}*", glob_escape(self.schema.prefix()));
        let mut cursor = 0u64;
        let mut removed = 0;
        loop {
            let scan = redis::cmd("SCAN")
                .arg(cursor)
                .arg("MATCH")
                .arg(&pattern)
                .arg("COUNT")
                .arg(SWEEP_STEP)
                .clone();
            let (next, keys): (u64, Vec<String>) = self
                .server
                .query(&mut conn, &scan)
                .await
                .map_err(|e| format!("SCAN failed: {e}"))?;
            if !keys.is_empty() {
                let values: Vec<Option<Vec<u8>>> = self
                    .server
                    .query(&mut conn, redis::cmd("MGET").arg(&keys))
                    .await
                    .map_err(|e| format!("MGET failed: {e}"))?;
                for (key, value) in keys.iter().zip(values) {
                    let Some(record) = value.and_then(|v| self.schema.decode(&v).ok()) else {
                        continue;
                    };
                    let ip = record.lease.ip;
                    if record.node != self.node || live.contains(ip) || self.schema.key(ip) != *key
                    {
                        continue;
                    }
                    if queue.push_reconciled(ended(record.lease)) != Pushed::Superseded {
                        removed += 1;
                    }
                }
            }
            if next == 0 {
                return Ok(removed);
            }
            cursor = next;
        }
    }
}

/// `prefix` as a literal in a `SCAN MATCH` pattern.
fn glob_escape(prefix: &str) -> String {
    let mut out = String::with_capacity(prefix.len());
    for c in prefix.chars() {
        if matches!(c, '*' | '?' | '[' | ']' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
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
        let mut outcomes = vec![Outcome::Done; batch.len()];
        // One script call per lease that needs a write: its index in the
        // batch, the call, and whether it is a deletion by address alone,
        // which reads the value it deletes for the MAC ARPwatch is told.
        let mut calls = Vec::with_capacity(batch.len());
        let mut expired = 0u64;
        for (i, lease) in batch.iter().enumerate() {
            let record = LeaseRecord {
                lease: Lease::clone(lease),
                node: self.node.clone(),
            };
            let forget = super::is_forget(lease);
            match self.schema.write_for(&record, now) {
                RedisWrite::Skip { reason } => {
                    self.server.log.emit(
                        AAE_LEASE_EXPIRED,
                        format_args!("{} ({}): {reason:?}", lease.ip, lease.hwaddr),
                    );
                    expired += 1;
                }
                write => {
                    let call = write.into_script_call(forget).expect("not a skip");
                    calls.push((i, call, forget));
                }
            }
        }
        let mut sent = Sent {
            outcomes: Vec::new(),
            exported: 0,
            skipped: expired,
            stale: 0,
            failure: None,
            forgotten: Vec::new(),
        };
        // Indices into `calls` still to send. Twice at most: a NOSCRIPT
        // (Redis's script cache was emptied under a live connection: SCRIPT
        // FLUSH) reconnects, which loads the script again, and resends what
        // failed at once. A new connection (restarted Redis, a failover)
        // loads it anyway.
        let mut pending: Vec<usize> = (0..calls.len()).collect();
        for attempt in 0..2 {
            if pending.is_empty() {
                break;
            }
            let replies = match self.pipeline(&calls, &pending).await {
                Ok(replies) => replies,
                Err(e) => {
                    sent.failure = Some(e);
                    break;
                }
            };
            let mut noscript = Vec::new();
            let mut failed = Vec::new();
            for (&c, reply) in pending.iter().zip(replies) {
                let forget = calls[c].2;
                match reply {
                    Value::Int(SCRIPT_REFUSED) => sent.stale += 1,
                    Value::Int(SCRIPT_APPLIED) if !forget => sent.exported += 1,
                    Value::Nil if forget => sent.exported += 1,
                    Value::BulkString(v) if forget => {
                        sent.exported += 1;
                        if let Ok(r) = self.schema.decode(&v) {
                            sent.forgotten.push(super::reconcile::ended(r.lease));
                        }
                    }
                    Value::ServerError(e) if e.kind() == Some(ServerErrorKind::NoScript) => {
                        noscript.push(c);
                    }
                    other => {
                        let why = match other {
                            Value::ServerError(e) => e.to_string(),
                            v => format!("unexpected reply {v:?} from the newest-wins script"),
                        };
                        sent.failure.get_or_insert(why);
                        failed.push(c);
                    }
                }
            }
            // Any error: the next try makes a new connection (after a
            // failover, READONLY from a demoted primary; a half-dead one).
            if !(noscript.is_empty() && failed.is_empty()) {
                self.conn = None;
            }
            if attempt == 0 && sent.failure.is_none() {
                pending = noscript;
            } else {
                if !noscript.is_empty() {
                    sent.failure
                        .get_or_insert_with(|| "NOSCRIPT right after SCRIPT LOAD".into());
                }
                pending = failed.into_iter().chain(noscript).collect();
                break;
            }
        }
        if sent.failure.is_some() {
            for &c in &pending {
                outcomes[calls[c].0] = Outcome::Retry;
            }
            let at = self.server.connector.describe();
            sent.failure = sent.failure.map(|e| format!("{e} ({at})"));
        }
        sent.outcomes = outcomes;
        sent
    }
}

impl RedisSink {
    /// Sends the script calls `pending` (indices into `calls`) as one
    /// pipeline of `EVALSHA`s, and returns one reply each, errors included.
    /// `Err` when there is no connection or no reply at all; the connection
    /// is then dropped.
    async fn pipeline(
        &mut self,
        calls: &[(usize, ScriptCall, bool)],
        pending: &[usize],
    ) -> Result<Vec<Value>, String> {
        let timeout = self.server.timeout;
        if let Err(e) = self.connection().await {
            self.conn = None;
            return Err(e);
        }
        let mut pipe = redis::pipe();
        // Errors come back as replies, one per call: a failed call does not
        // hide what the others did (a forget's deleted value).
        pipe.ignore_errors();
        for &c in pending {
            let call = &calls[c].1;
            pipe.cmd("EVALSHA")
                .arg(&self.script)
                .arg(1)
                .arg(&call.key)
                .arg(&call.args);
        }
        let conn = self.conn.as_mut().expect("just connected");
        let result = match tokio::time::timeout(timeout, pipe.query_async::<Vec<Value>>(conn)).await
        {
            Ok(done) => done.map_err(|e| e.to_string()),
            Err(_) => Err(format!("no reply within {timeout:?}")),
        };
        match result {
            Ok(replies) if replies.len() == pending.len() => Ok(replies),
            Ok(replies) => {
                self.conn = None;
                Err(format!(
                    "{} replies to a pipeline of {}",
                    replies.len(),
                    pending.len()
                ))
            }
            Err(e) => {
                // The connection may be half-dead; the next try makes a new one.
                self.conn = None;
                Err(e)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use lease_model::{Hostname, LeaseEvent};
    use system_tests::redis::RedisServer;

    fn lease(i: u8) -> Lease {
        Lease::new(
            std::net::Ipv4Addr::new(192, 0, 2, i).into(),
            format!("02:00:00:00:00:{i:02x}").parse().unwrap(),
            3600,
            unix_now(),
            Hostname::from_text(""),
            1,
            LeaseEvent::Select,
        )
    }

    /// Whether a resync is requested within `limit`, while the runtime drives
    /// the watcher.
    async fn resync_within(watch: &RedisWatch, limit: Duration) -> bool {
        let end = Instant::now() + limit;
        while Instant::now() < end {
            if watch.take_resync_request() {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        false
    }

    async fn send_until_ok(sink: &mut RedisSink, l: Lease) {
        for _ in 0..50 {
            if sink.send(std::slice::from_ref(&l)).await.failure.is_none() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("Redis never took {l:?}");
    }

    #[test]
    fn a_flush_or_a_restart_requests_one_resync_and_an_outage_none() {
        let mut redis = RedisServer::start();
        let config = Config {
            redis_url: redis.url(),
            node_name: "node-a".into(),
            ..Config::default()
        };
        let every = Duration::from_millis(50);
        let gap = Duration::from_secs(1);
        let watch = Arc::new(RedisWatch::with_timing(every, gap));
        let connector = RedisSink::connector(&config).unwrap();
        let mut sink = RedisSink::new(&config, connector, watch.clone(), Log::STDERR);
        let marker = sink.server.marker.clone();
        assert!(marker.starts_with("aae:marker:node-a:"), "{marker}");
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            // The first server: the marker, and no resync (the one at load
            // covers it). Several checks find the marker and renew it.
            send_until_ok(&mut sink, lease(1)).await;
            assert!((3599..=3600).contains(&redis.ttl(&marker)));
            let pid = std::process::id().to_string();
            assert_eq!(redis.get(&marker), Some(pid.into_bytes()));
            assert!(!resync_within(&watch, every * 6).await);

            // Flushed: one resync, with the marker back.
            assert_eq!(redis.cli(&["FLUSHALL"]), "OK");
            assert!(resync_within(&watch, every * 20).await, "flush unnoticed");
            assert!(redis.ttl(&marker) > 0, "marker not written again");
            assert!(!resync_within(&watch, every * 6).await, "a second resync");

            // Flushed again at once: repaired too, but not before `gap`
            // after the first.
            let first = Instant::now();
            assert_eq!(redis.cli(&["FLUSHDB"]), "OK");
            assert!(
                resync_within(&watch, gap * 3).await,
                "second flush unnoticed"
            );
            assert!(first.elapsed() >= gap - every * 8, "{:?}", first.elapsed());
            assert!(!resync_within(&watch, every * 6).await);

            // Restarted (empty): the new run_id requests the resync; the
            // watcher, finding the marker the new connection wrote, adds none.
            redis.restart();
            assert!(resync_within(&watch, every * 20).await, "restart unnoticed");
            send_until_ok(&mut sink, lease(2)).await;
            assert!(redis.ttl(&marker) > 0);
            assert!(!resync_within(&watch, every * 6).await, "a second resync");

            // Down: checks fail, and request nothing.
            redis.stop();
            assert!(!resync_within(&watch, every * 10).await);
        });
        assert_eq!(
            run_id("# Server\r\nredis_version:7.0.15\r\nrun_id:abc123\r\n"),
            Some("abc123")
        );
    }

    fn at(i: u8, mac: u8, cltt: i64, valid: u32, event: LeaseEvent) -> Lease {
        Lease::new(
            std::net::Ipv4Addr::new(192, 0, 2, i).into(),
            format!("02:00:00:00:{mac:02x}:{i:02x}").parse().unwrap(),
            valid,
            cltt,
            Hostname::from_text(""),
            1,
            event,
        )
    }

    /// What the operator's `lease4-del` by address makes: see `Exporter::forget`.
    fn forget(i: u8, cltt: i64) -> Lease {
        Lease::new(
            std::net::Ipv4Addr::new(192, 0, 2, i).into(),
            lease_model::HwAddr::from_bytes(&super::super::FORGET_MAC).unwrap(),
            0,
            cltt,
            Hostname::from_text(""),
            0,
            LeaseEvent::Release,
        )
    }

    fn sink(redis: &RedisServer, node: &str) -> RedisSink {
        let config = Config {
            redis_url: redis.url(),
            node_name: node.into(),
            ..Config::default()
        };
        let connector = RedisSink::connector(&config).unwrap();
        RedisSink::new(&config, connector, Arc::default(), Log::STDERR)
    }

    /// The MAC and node Redis holds for 192.0.2.`i`.
    fn held(redis: &RedisServer, i: u8) -> Option<(String, String)> {
        let raw = redis.get(&format!("aae:lease:192.0.2.{i}"))?;
        let r = RedisSchema::default().decode(&raw).unwrap();
        Some((r.lease.hwaddr.to_string(), r.node))
    }

    fn ttl(redis: &RedisServer, i: u8) -> i64 {
        redis.ttl(&format!("aae:lease:192.0.2.{i}"))
    }

    /// Sends `l` through `sink`, which must succeed: (exported, stale, forgotten).
    async fn one(sink: &mut RedisSink, l: Lease) -> (u64, u64, Vec<Lease>) {
        let sent = sink.send(std::slice::from_ref(&l)).await;
        assert_eq!(sent.failure, None, "{l:?}");
        assert_eq!(sent.outcomes, [Outcome::Done]);
        (sent.exported, sent.stale, sent.forgotten)
    }

    fn block_on<F: std::future::Future>(f: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(f)
    }

    #[test]
    fn an_older_lease_arriving_late_from_another_node_leaves_the_newer_with_its_ttl() {
        let redis = RedisServer::start();
        let (mut a, mut b) = (sink(&redis, "node-a"), sink(&redis, "node-b"));
        let now = unix_now();
        block_on(async {
            assert_eq!(
                one(&mut a, at(1, 0xa, now, 600, LeaseEvent::Renew)).await.0,
                1
            );
            // node-b's older state, with a longer lifetime, arrives late.
            let late = at(1, 0xb, now - 100, 7200, LeaseEvent::Select);
            assert_eq!(one(&mut b, late).await, (0, 1, vec![]));
            assert_eq!(
                held(&redis, 1),
                Some(("02:00:00:00:0a:01".into(), "node-a".into()))
            );
            assert!((899..=900).contains(&ttl(&redis, 1)), "{}", ttl(&redis, 1));
            // And a later one from node-b wins, with its own TTL.
            assert_eq!(
                one(&mut b, at(1, 0xb, now + 1, 60, LeaseEvent::Renew))
                    .await
                    .0,
                1
            );
            assert_eq!(
                held(&redis, 1),
                Some(("02:00:00:00:0b:01".into(), "node-b".into()))
            );
            assert!((359..=361).contains(&ttl(&redis, 1)), "{}", ttl(&redis, 1));
            // A node's own older state is refused too (a replayed update).
            assert_eq!(
                one(&mut b, at(1, 0xc, now, 60, LeaseEvent::Renew)).await.1,
                1
            );
            assert_eq!(held(&redis, 1).unwrap().0, "02:00:00:00:0b:01");
        });
    }

    #[test]
    fn both_nodes_of_a_pair_converge_at_the_same_cltt_whatever_the_order() {
        let redis = RedisServer::start();
        let (mut a, mut b) = (sink(&redis, "node-a"), sink(&redis, "node-b"));
        let now = unix_now();
        block_on(async {
            // Same cltt and lifetime (an HA pair writing one lease): the
            // greater node name, in both orders.
            for (i, first_a) in [(1, true), (2, false)] {
                let (la, lb) = (
                    at(i, 0xa, now, 600, LeaseEvent::Select),
                    at(i, 0xb, now, 600, LeaseEvent::Select),
                );
                if first_a {
                    assert_eq!(one(&mut a, la).await.1, 0);
                    assert_eq!(one(&mut b, lb).await.1, 0);
                } else {
                    assert_eq!(one(&mut b, lb).await.1, 0);
                    assert_eq!(one(&mut a, la).await.1, 1, "refused");
                }
                assert_eq!(
                    held(&redis, i).unwrap().1,
                    "node-b",
                    "order a first: {first_a}"
                );
            }
            // Same cltt, a later expiry at node-a: node-a's, in both orders.
            for (i, first_a) in [(3, true), (4, false)] {
                let (la, lb) = (
                    at(i, 0xa, now, 900, LeaseEvent::Renew),
                    at(i, 0xb, now, 600, LeaseEvent::Renew),
                );
                if first_a {
                    one(&mut a, la).await;
                    assert_eq!(one(&mut b, lb).await.1, 1, "refused");
                } else {
                    one(&mut b, lb).await;
                    assert_eq!(one(&mut a, la).await.1, 0);
                }
                assert_eq!(held(&redis, i).unwrap().1, "node-a");
                assert!((1199..=1200).contains(&ttl(&redis, i)));
            }
        });
    }

    #[test]
    fn a_late_deletion_of_an_older_lease_leaves_a_newer_one() {
        let redis = RedisServer::start();
        let (mut a, mut b) = (sink(&redis, "node-a"), sink(&redis, "node-b"));
        let now = unix_now();
        block_on(async {
            // The address went to another client at node-b; node-a's
            // release of the earlier client's lease comes late.
            one(&mut b, at(1, 0xb, now, 600, LeaseEvent::Select)).await;
            let release = at(1, 0xa, now - 50, 600, LeaseEvent::Release);
            assert_eq!(one(&mut a, release).await, (0, 1, vec![]));
            assert_eq!(held(&redis, 1).unwrap().1, "node-b");
            // The deletion of that very lease (same cltt) deletes it.
            let expire = at(1, 0xb, now, 600, LeaseEvent::Expire);
            assert_eq!(one(&mut a, expire).await, (1, 0, vec![]));
            assert_eq!(held(&redis, 1), None);
        });
    }

    #[test]
    fn a_forget_still_returns_the_mac_and_leaves_a_lease_from_the_future() {
        let redis = RedisServer::start();
        let (mut a, mut b) = (sink(&redis, "node-a"), sink(&redis, "node-b"));
        let now = unix_now();
        block_on(async {
            let held_lease = at(1, 0xa, now - 10, 600, LeaseEvent::Renew);
            one(&mut a, held_lease.clone()).await;
            let (exported, stale, forgotten) = one(&mut b, forget(1, now)).await;
            assert_eq!((exported, stale), (1, 0));
            assert_eq!(forgotten.len(), 1);
            assert_eq!(forgotten[0].hwaddr, held_lease.hwaddr);
            assert_eq!(forgotten[0].ip, held_lease.ip);
            assert!(forgotten[0].event.ends_lease());
            assert_eq!(held(&redis, 1), None);
            // Nothing held: nothing to tell.
            assert_eq!(one(&mut b, forget(2, now)).await, (1, 0, vec![]));
            // A lease whose cltt is ahead of this node's clock (skew) stays.
            one(&mut a, at(3, 0xa, now + 30, 600, LeaseEvent::Renew)).await;
            assert_eq!(one(&mut b, forget(3, now)).await, (0, 1, vec![]));
            assert!(held(&redis, 3).is_some());
        });
    }

    #[test]
    fn a_flushed_script_cache_is_reloaded_and_the_batch_resent_at_once() {
        let redis = RedisServer::start();
        let mut a = sink(&redis, "node-a");
        let now = unix_now();
        block_on(async {
            one(&mut a, at(1, 0xa, now, 600, LeaseEvent::Renew)).await;
            assert_eq!(redis.cli(&["SCRIPT", "FLUSH"]), "OK");
            let batch: Vec<Lease> = (2..6)
                .map(|i| at(i, 0xa, now, 600, LeaseEvent::Renew))
                .collect();
            let sent = a.send(&batch).await;
            assert_eq!(sent.failure, None);
            assert_eq!(sent.exported, 4);
            assert!(sent.outcomes.iter().all(|o| *o == Outcome::Done));
            assert!((2..6).all(|i| held(&redis, i).is_some()));
        });
    }

    #[test]
    fn a_resync_for_a_lost_marker_waits_out_the_gap() {
        let t = Instant::now();
        let gap = Duration::from_secs(30);
        let mut f = Flush::default();
        assert!(!f.may_repair(t, gap), "nothing detected");
        f.detected = true;
        assert!(f.may_repair(t, gap), "the first one at once");
        f.last_resync = Some(t);
        assert!(!f.may_repair(t + gap / 2, gap));
        assert!(f.may_repair(t + gap, gap));
    }
}
