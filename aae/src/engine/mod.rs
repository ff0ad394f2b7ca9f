//! The plain-Rust engine: a non-blocking coalescing queue, a pool of worker
//! threads, and the sinks they write to (Redis, ARPwatch).
//!
//! Data flows one way: [`Exporter::submit`] (on Kea's packet threads) →
//! `queue` (newest state per address) → `worker` threads → sinks
//! (`redis_sink`, `arpwatch_sink`). `submit` never waits for a worker and
//! never does I/O; workers never call back into the submitting side.
//!
//! What ARPwatch has not confirmed when the engine stops goes to the `spool`
//! file, and the next start queues it again.

mod arpwatch_sink;
mod counters;
mod health;
mod multicall;
mod pages;
mod queue;
mod reconcile;
mod redis_sink;
mod sink;
pub(crate) mod spool;
mod worker;

use std::path::PathBuf;
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use lease_model::unix_now;

use tokio::sync::watch;

pub use counters::Counters;
use counters::Stats;
use health::Health;
use queue::Queue;
pub use reconcile::Reconciled;
use worker::{Phase, Shared};

use crate::config::{Config, Spool};
use crate::messages::{
    AAE_ARPWATCH_DOWN, AAE_ARPWATCH_UP, AAE_REDIS_DOWN, AAE_REDIS_UP, AAE_SPOOL_BAD,
    AAE_SPOOL_RESTORED, AAE_SPOOL_WRITE_FAILED, AAE_SPOOL_WRITTEN, AAE_STOP_SLOW, Log,
};

/// One lease event to export.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Export {
    /// The lease's new state; its `event` says whether it lives or ended.
    pub lease: lease_model::Lease,
    /// `false` for a resync of Kea's lease database at (re)configuration:
    /// Redis is repaired, ARPwatch is not told about leases again. A resync
    /// is never dropped for `queue-capacity` (it is bounded by Kea's lease
    /// database, and arrives far faster than Redis takes it); it may take
    /// the backlog past the capacity, and live events for new addresses are
    /// dropped until it has drained below.
    pub notify_arpwatch: bool,
}

/// Why the engine could not start. Nothing has been left running.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// The Redis client refused the URL (Config::from_json checks it too, so
    /// this means a `Config` built by hand).
    #[error("cannot use 'redis-url' {url:?}: {source}; give a redis:// or unix:// URL")]
    RedisUrl {
        url: String,
        source: redis::RedisError,
    },
    /// The XML-RPC client refused the URL (likewise).
    #[error("cannot use 'arpwatch-url' {url:?}: {source}")]
    ArpwatchUrl {
        url: String,
        source: arpwatch_rpc::client::ClientError,
    },
    /// The OS would not give a thread, or its runtime's event loop.
    #[error(
        "cannot start worker thread {name}: {source}; the process may be out of threads or memory"
    )]
    Thread {
        name: String,
        source: std::io::Error,
    },
}

/// The running engine: the queue and the worker threads. Dropping it stops
/// it (with a 2 s bound); call [`Exporter::stop`] to choose the bound.
pub struct Exporter {
    shared: Arc<Shared>,
    phase: watch::Sender<Phase>,
    threads: Vec<(String, JoinHandle<()>)>,
    /// Worker indices as they end. In a `Mutex` only so the `Exporter` is
    /// `Sync` (Kea's packet threads share it); `stop` has `&mut` and never locks.
    done: Mutex<mpsc::Receiver<usize>>,
    /// How every worker reaches Redis, and which primary is current.
    redis: Arc<redis_endpoint::Connector>,
    redis_watch: Arc<redis_sink::RedisWatch>,
    /// Where `stop` writes what ARPwatch has not confirmed; `None` without
    /// ARPwatch or with the spool off.
    spool: Option<SpoolTarget>,
}

/// The spool file and the node name its header records.
struct SpoolTarget {
    path: PathBuf,
    node: String,
}

/// The hardware address of a deletion by address alone ([`Exporter::forget`]):
/// all zeros, which no DHCP client has.
const FORGET_MAC: [u8; 6] = [0; 6];

/// Whether `lease` is such a deletion, whose MAC Redis is to tell.
fn is_forget(lease: &lease_model::Lease) -> bool {
    lease.event.ends_lease() && lease.hwaddr.as_bytes() == FORGET_MAC
}

/// What `Drop` allows when `stop` was not called.
const DROP_STOP_BOUND: Duration = Duration::from_secs(2);

/// The share of `stop`'s bound kept for writing the spool after the
/// workers: a quarter of it, at most this. Writing is local I/O that takes
/// milliseconds; the reserve only matters when a worker is slow to end.
const SPOOL_RESERVE: Duration = Duration::from_secs(1);

impl Exporter {
    /// Starts `config.workers` worker threads (`aae-worker-0`, …). Does not
    /// wait for Redis or ARPwatch: they are connected to on first use, and
    /// retried while they are down.
    ///
    /// With ARPwatch and a spool file ([`Spool::At`]), the leases a previous
    /// engine spooled there are queued for ARPwatch (only) and the file is
    /// removed; one that cannot be read back whole is logged and renamed
    /// aside, and the engine starts anyway.
    pub fn start(config: Config) -> Result<Exporter, EngineError> {
        Exporter::start_logging_to(config, Log::STDERR)
    }

    /// [`Exporter::start`], with every line the engine logs going to `log`
    /// (inside Kea: Kea's logger, which only the border knows).
    pub fn start_logging_to(config: Config, log: Log) -> Result<Exporter, EngineError> {
        let shared = Arc::new(Shared {
            queue: Queue::new(config.queue_capacity, config.arpwatch_url.is_some()),
            stats: Stats::default(),
            health: [
                Health::new(
                    "Redis",
                    AAE_REDIS_DOWN,
                    AAE_REDIS_UP,
                    config.max_backoff,
                    log,
                ),
                Health::new(
                    "ARPwatch",
                    AAE_ARPWATCH_DOWN,
                    AAE_ARPWATCH_UP,
                    config.max_backoff,
                    log,
                ),
            ],
            reconcile: Default::default(),
            log,
        });
        let fault_log = arpwatch_sink::ArpwatchSink::fault_log();
        let multicall = arpwatch_sink::ArpwatchSink::multicall_choice(&config);
        let (phase, phase_rx) = watch::channel(Phase::Running);
        let (done_tx, done) = mpsc::channel();
        let mut exporter = Exporter {
            shared,
            phase,
            threads: Vec::with_capacity(config.workers),
            done: Mutex::new(done),
            redis: redis_sink::RedisSink::connector(&config).map_err(|source| {
                EngineError::RedisUrl {
                    url: crate::config::redacted_url(&config.redis_url),
                    source,
                }
            })?,
            redis_watch: Arc::default(),
            spool: match (&config.arpwatch_url, &config.arpwatch_spool) {
                (Some(_), Spool::At(path)) => Some(SpoolTarget {
                    path: path.clone(),
                    node: config.node_name.clone(),
                }),
                _ => None,
            },
        };
        for index in 0..config.workers.max(1) {
            let name = format!("aae-worker-{index}");
            let redis = redis_sink::RedisSink::new(
                &config,
                exporter.redis.clone(),
                exporter.redis_watch.clone(),
                log,
            );
            let arpwatch = match &config.arpwatch_url {
                None => None,
                Some(url) => Some(
                    arpwatch_sink::ArpwatchSink::new(
                        url,
                        &config,
                        multicall.clone(),
                        fault_log.clone(),
                        log,
                    )
                    .map_err(|source| EngineError::ArpwatchUrl {
                        url: url.clone(),
                        source,
                    })?,
                ),
            };
            let thread_err = |source| EngineError::Thread {
                name: name.clone(),
                source,
            };
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .thread_name(format!("aae-resolve-{index}"))
                .build()
                .map_err(thread_err)?;
            let (shared, phase_rx, done_tx) =
                (exporter.shared.clone(), phase_rx.clone(), done_tx.clone());
            let handle = std::thread::Builder::new()
                .name(name.clone())
                .spawn(move || worker::run(index, rt, shared, redis, arpwatch, phase_rx, done_tx))
                .map_err(thread_err)?;
            // On an early return, dropping `exporter` stops what started.
            exporter.threads.push((name, handle));
        }
        // Only now: had a worker failed to start, the spool would be
        // untouched for the next load to read.
        exporter.restore_spool();
        Ok(exporter)
    }

    /// Queues for ARPwatch what the spool holds, and removes it.
    fn restore_spool(&self) {
        let Some(SpoolTarget { path, .. }) = &self.spool else {
            return;
        };
        match spool::read(path) {
            Ok(None) => {}
            Ok(Some(spooled)) => {
                let n = spooled.leases.len();
                for lease in spooled.leases {
                    self.shared.queue.restore_arpwatch(lease);
                }
                // Removed once queued: from here the notices are in the
                // backlog, and the next unload spools what is left of them.
                let removed = match std::fs::remove_file(path) {
                    Ok(()) => String::new(),
                    Err(e) => {
                        format!("; cannot remove it ({e}), so the next load sends them again")
                    }
                };
                self.shared.log.emit(
                    AAE_SPOOL_RESTORED,
                    format_args!(
                        "queued {n} notices for ARPwatch from the spool {} (written by node '{}' \
                         {} s ago){removed}",
                        path.display(),
                        spooled.node,
                        unix_now().saturating_sub(spooled.written),
                    ),
                );
            }
            Err(why) => {
                let bad = spool::bad_path(path);
                let aside = match std::fs::rename(path, &bad) {
                    Ok(()) => format!("renamed it to {}", bad.display()),
                    Err(e) => format!("cannot rename it to {} either ({e})", bad.display()),
                };
                self.shared.log.emit(
                    AAE_SPOOL_BAD,
                    format_args!(
                        "not using the spool {}: {why}; {aside}; the notices in it are not sent",
                        path.display()
                    ),
                );
            }
        }
    }

    /// Queues one event. Never blocks on the workers and never does I/O:
    /// one short critical section on one shard of the queue. A newer event
    /// for an address replaces a pending one; an event for a new address is
    /// dropped (and counted) when the backlog is full, unless it is a resync
    /// (see [`Export::notify_arpwatch`]).
    pub fn submit(&self, export: Export) {
        self.shared.queue.push(export.lease, export.notify_arpwatch);
    }

    /// Queues the deletion of `ip`'s lease when only its address is known
    /// (an operator's `lease4-del` by address: the lease is gone from Kea
    /// by the time aae hears of it). Redis deletes the key and hands back
    /// the lease it held, and ARPwatch is told of that lease's end, with
    /// its MAC; if Redis held none, ARPwatch hears nothing. A newer event
    /// for the address that arrives meanwhile wins, as always.
    pub fn forget(&self, ip: std::net::IpAddr) {
        let lease = lease_model::Lease::new(
            ip,
            lease_model::HwAddr::from_bytes(&FORGET_MAC).expect("six octets"),
            0,
            unix_now(),
            lease_model::Hostname::from_text(""),
            0,
            lease_model::LeaseEvent::Release,
        );
        self.shared.queue.push(lease, false);
    }

    /// Starts a reconciliation of Redis with Kea's lease database, unless
    /// one is running (then `false`): the caller walks the database, hands
    /// each lease to [`Exporter::reconcile_lease`], and ends with
    /// [`Exporter::reconcile_walked`] (or [`Exporter::reconcile_abandon`]);
    /// a worker then removes this node's Redis keys the walk did not see.
    /// Events submitted meanwhile are never overwritten by it. `why` ends
    /// up in its log line.
    pub fn reconcile_begin(&self, why: &str) -> bool {
        self.shared.reconcile.begin(&self.shared.queue, why)
    }

    /// One lease the walk read. `live`: Redis should hold it, and it is
    /// queued for Redis only (never dropped for `queue-capacity`, like a
    /// resync); otherwise it is in the database without being exported
    /// (expired, waiting for reclamation), and its key is left to expire.
    pub fn reconcile_lease(&self, lease: lease_model::Lease, live: bool) {
        self.shared.reconcile.lease(&self.shared.queue, lease, live);
    }

    /// The walk has read every lease: the sweep takes over.
    pub fn reconcile_walked(&self) {
        self.shared.reconcile.walked();
    }

    /// The walk could not read the database to the end: nothing is swept.
    pub fn reconcile_abandon(&self) {
        self.shared.reconcile.abandon(&self.shared.queue);
    }

    /// Whether a reconciliation is walking or sweeping.
    pub fn reconciling(&self) -> bool {
        self.shared.reconcile.running()
    }

    /// True once after the workers found a different Redis server instance
    /// than before (it restarted, maybe empty): the caller should submit
    /// every current lease again, as at load. Cheap; call it periodically.
    pub fn take_resync_request(&self) -> bool {
        self.redis_watch.take_resync_request()
    }

    /// Counts an event the border could not turn into an [`Export`] (a
    /// DHCPv6 lease without a hardware address).
    pub fn count_skipped(&self) {
        Stats::add(&self.shared.stats.skipped, 1);
    }

    /// A snapshot of the counters; a handful of atomic loads.
    pub fn counters(&self) -> Counters {
        let queue = &self.shared.queue;
        self.shared
            .stats
            .snapshot(queue.counts(), queue.len() as u64, self.redis_failovers())
    }

    /// The Redis server the workers last reached: with a Sentinel service,
    /// the primary they follow; `None` before the first connection.
    pub fn redis_primary(&self) -> Option<String> {
        self.redis.status().primary
    }

    /// The failovers the workers followed; a mutex held for a copy.
    fn redis_failovers(&self) -> u64 {
        self.redis.status().failovers
    }

    /// How many `submit` calls found their shard of the queue locked (by
    /// another submitter or a worker) and waited. A diagnostic for the
    /// submit benchmark, not one of Kea's statistics.
    #[doc(hidden)]
    pub fn submits_that_waited(&self) -> u64 {
        self.shared.queue.counts().waited
    }

    /// Stops the workers and joins them within `timeout`, even while a sink
    /// hangs: for the first half, workers finish sending what is pending to
    /// sinks that work; then whatever is in flight is abandoned. With a
    /// spool, what ARPwatch has not confirmed by then is written to it, also
    /// within `timeout`.
    pub fn stop(mut self, timeout: Duration) {
        self.stop_within(timeout);
    }

    fn stop_within(&mut self, timeout: Duration) {
        if self.threads.is_empty() {
            return;
        }
        let start = Instant::now();
        let deadline = start + timeout;
        let drain_until = start + timeout / 2;
        let workers_until = match self.spool {
            Some(_) => deadline - (timeout / 4).min(SPOOL_RESERVE),
            None => deadline,
        };
        self.phase.send_replace(Phase::Draining);
        let mut finished = vec![false; self.threads.len()];
        let done = self.done.get_mut().unwrap_or_else(|p| p.into_inner());
        let wait = |until: Instant, finished: &mut Vec<bool>| {
            while finished.iter().any(|f| !f) {
                let left = until.saturating_duration_since(Instant::now());
                match done.recv_timeout(left) {
                    Ok(i) => finished[i] = true,
                    Err(_) => return,
                }
            }
        };
        wait(drain_until, &mut finished);
        self.phase.send_replace(Phase::Cancel {
            deadline: workers_until,
        });
        wait(workers_until, &mut finished);
        let waited = workers_until - start;
        for (i, (name, handle)) in self.threads.drain(..).enumerate() {
            if finished[i] {
                let _ = handle.join();
            } else {
                self.shared.log.emit(
                    AAE_STOP_SLOW,
                    format_args!("{name} still runs {waited:?} after stop; not waiting for it"),
                );
            }
        }
        if let Some(target) = self.spool.take() {
            self.write_spool(target, deadline);
        }
    }

    /// Writes what ARPwatch has not confirmed to the spool, on a thread of
    /// its own so that a hanging file system cannot hold up Kea's unload
    /// past `until`. Nothing pending: the spool is left as it is.
    fn write_spool(&self, target: SpoolTarget, until: Instant) {
        let leases = self.shared.queue.unconfirmed_arpwatch();
        if leases.is_empty() {
            return;
        }
        let n = leases.len();
        let job = Arc::new((target, leases));
        let write = |job: &(SpoolTarget, Vec<lease_model::Lease>)| {
            spool::write(&job.0.path, &job.0.node, &job.1, unix_now())
        };
        let (tx, rx) = mpsc::channel();
        let on_thread = job.clone();
        let spawned = std::thread::Builder::new()
            .name("aae-spool".into())
            .spawn(move || {
                let _ = tx.send(write(&on_thread));
            });
        let result = match spawned {
            Ok(handle) => match rx.recv_timeout(until.saturating_duration_since(Instant::now())) {
                Ok(result) => {
                    let _ = handle.join();
                    result
                }
                Err(_) => {
                    self.shared.log.emit(
                        AAE_SPOOL_WRITE_FAILED,
                        format_args!(
                            "writing {n} notices ARPwatch has not confirmed to {} did not finish \
                             within the unload bound (a hanging file system?); not waiting for it, \
                             and they may be lost",
                            job.0.path.display()
                        ),
                    );
                    return;
                }
            },
            // No thread to spare: local I/O, so write here rather than lose them.
            Err(_) => write(&job),
        };
        match result {
            Ok(()) => self.shared.log.emit(
                AAE_SPOOL_WRITTEN,
                format_args!(
                    "wrote {n} notices ARPwatch has not confirmed to {}; the next load sends them",
                    job.0.path.display()
                ),
            ),
            Err(e) => self.shared.log.emit(
                AAE_SPOOL_WRITE_FAILED,
                format_args!(
                    "cannot write {n} notices ARPwatch has not confirmed to {}: {e}; \
                     ARPwatch will not hear of them",
                    job.0.path.display()
                ),
            ),
        }
    }
}

// Kea's packet threads share one `Exporter`.
const _: () = {
    const fn shareable<T: Send + Sync>() {}
    shareable::<Exporter>();
};

impl Drop for Exporter {
    fn drop(&mut self) {
        self.stop_within(DROP_STOP_BOUND);
    }
}
