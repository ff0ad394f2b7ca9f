//! The worker threads: each runs a tokio current-thread runtime that drives
//! one Redis loop and (when configured) one ARPwatch loop, each with its own
//! connection, taking batches from the shared queue. The two loops never
//! wait for each other, so one sink being down does not slow the other.
//!
//! Why current-thread runtimes on threads we spawn, rather than one
//! multi-thread runtime: the thread count and names are exactly what the
//! configuration says (`aae-worker-N` in `/proc/<pid>/task/*/comm`), work is
//! already spread by the shared queue so there is nothing for work stealing
//! to do, nothing is shared between threads but the queue and the counters,
//! and each runtime shuts down with its own thread.

use std::sync::Arc;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use tokio::sync::watch;

use super::arpwatch_sink::ArpwatchSink;
use super::counters::Stats;
use super::health::{Health, RateLimit};
use super::queue::{Outcome, Queue, Sink};
use super::reconcile::{Reconciler, SWEEP_RETRY};
use super::redis_sink::{RedisSink, Sweeper};
use super::sink::SinkIo;
use crate::messages::{AAE_BACKLOG_FULL, AAE_RECONCILED, Log};

/// Where the engine is in its life; workers watch it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Phase {
    Running,
    /// Stop taking new work once the queue is empty, or at once for a sink
    /// that is failing.
    Draining,
    /// Drop whatever is in flight and return; `stop` returns at `deadline`.
    Cancel {
        deadline: Instant,
    },
}

/// Everything the submitting side and the workers share.
pub(crate) struct Shared {
    pub queue: Queue,
    pub stats: Stats,
    /// Indexed by [`Sink`].
    pub health: [Health; 2],
    pub reconcile: Reconciler,
    pub log: Log,
}

/// How long a worker that found the queue empty keeps looking before it
/// parks. While one lingers, `submit` wakes nobody (see `queue`): under steady
/// traffic Kea's threads then never pay for a wake-up (an eventfd write and a
/// context switch, which cost Kea more than the rest of the hook together),
/// and the worker takes what arrived meanwhile as one batch. Short against
/// the 1 s aae promises from ACK to export, and long against the gap between
/// leases of a busy server; the timer wakes only the worker.
const LINGER: Duration = Duration::from_millis(2);

/// How often the drop monitor looks, and how often it may log.
const MONITOR_TICK: Duration = Duration::from_secs(1);
const DROP_LOG_EVERY: Duration = Duration::from_secs(10);

/// Runs on worker thread `index` until cancelled or drained; reports its
/// end on `done` so [`super::Exporter::stop`] can wait with a bound.
pub(crate) fn run(
    index: usize,
    rt: tokio::runtime::Runtime,
    shared: Arc<Shared>,
    redis: RedisSink,
    arpwatch: Option<ArpwatchSink>,
    phase: watch::Receiver<Phase>,
    done: mpsc::Sender<usize>,
) {
    let mut cancel = phase.clone();
    let sweeper = (index == 0).then(|| redis.sweeper());
    rt.block_on(async {
        let work = async {
            tokio::join!(
                sink_loop(redis, &shared, phase.clone()),
                async {
                    if let Some(arpwatch) = arpwatch {
                        sink_loop(arpwatch, &shared, phase.clone()).await;
                    }
                },
                async {
                    if index == 0 {
                        monitor(&shared, phase.clone()).await;
                    }
                },
                async {
                    if let Some(sweeper) = sweeper {
                        sweep(&shared, sweeper, phase.clone()).await;
                    }
                },
            )
        };
        tokio::select! {
            _ = work => {}
            _ = cancel.wait_for(|p| matches!(p, Phase::Cancel { .. })) => {}
        }
    });
    // Tasks the Redis and HTTP clients spawned are dropped here. A resolver
    // thread stuck in getaddrinfo is waited for until stop's deadline: once
    // Kea unloads the library, no thread may still run its code.
    let wait = match *cancel.borrow() {
        Phase::Cancel { deadline } => deadline.saturating_duration_since(Instant::now()),
        _ => Duration::from_millis(100),
    };
    rt.shutdown_timeout(wait);
    let _ = done.send(index);
}

async fn sink_loop<S: SinkIo>(mut sink: S, shared: &Shared, mut phase: watch::Receiver<Phase>) {
    let id = S::SINK;
    let health = &shared.health[id as usize];
    let wake = shared.queue.wake(id);
    let _joined = wake.join();
    let mut batch = Vec::new();
    // Whether the last look found work: an empty look after one lingers
    // first, a second one parks.
    let mut busy = false;
    loop {
        let draining = *phase.borrow_and_update() != Phase::Running;
        // Asked each time: ARPwatch's batch size changes when multicall
        // turns out to be refused.
        let max = sink.batch_size();
        if let Some(at) = health.retry_at() {
            if draining {
                // A failing sink will not drain; do not hold up the stop.
                return;
            }
            tokio::select! {
                _ = tokio::time::sleep_until(at.into()) => {}
                _ = phase.changed() => {}
            }
            continue;
        }
        batch.clear();
        shared.queue.take(id, max, &mut batch);
        if batch.is_empty() {
            if draining {
                return;
            }
            if busy {
                busy = false;
                tokio::select! {
                    _ = tokio::time::sleep(LINGER) => {}
                    r = phase.changed() => if r.is_err() { return },
                }
                continue;
            }
            // Registered with the `Notify` and no longer counted as awake
            // before the last look, so a push this look misses will wake us.
            let notified = wake.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            wake.park();
            shared.queue.take(id, max, &mut batch);
            let stop = batch.is_empty()
                && tokio::select! {
                    _ = &mut notified => false,
                    r = phase.changed() => r.is_err(),
                };
            wake.unpark();
            if stop {
                return;
            }
            if batch.is_empty() {
                continue;
            }
        }
        busy = true;
        if batch.len() == max {
            // More may be waiting: wake another worker to help.
            wake.help();
        }
        let sent = sink.send(&batch).await;
        // Before `finish`, while each address is still in flight.
        for lease in sent.forgotten {
            shared.queue.tell_arpwatch_of_forgotten(lease);
        }
        let retried = sent
            .outcomes
            .iter()
            .filter(|o| **o == Outcome::Retry)
            .count();
        shared.queue.finish(
            id,
            batch
                .iter()
                .map(|l| l.ip)
                .zip(sent.outcomes.iter().copied()),
        );
        let exported = match id {
            Sink::Redis => &shared.stats.exported_redis,
            Sink::Arpwatch => &shared.stats.exported_arpwatch,
        };
        Stats::add(exported, sent.exported);
        Stats::add(&shared.stats.skipped, sent.skipped);
        Stats::add(&shared.stats.redis_stale_refused, sent.stale);
        Stats::add(&shared.stats.retried, retried as u64);
        match sent.failure {
            Some(why) => health.failed(&why, shared.queue.len()),
            None => health.succeeded(),
        }
    }
}

/// Logs drops, which `submit` only counts: the packet path never writes a
/// log line. The first drop is reported within a second, later ones at most
/// every [`DROP_LOG_EVERY`], with how many there were.
async fn monitor(shared: &Shared, mut phase: watch::Receiver<Phase>) {
    let mut limit = RateLimit::new(DROP_LOG_EVERY);
    let mut reported = shared.queue.counts().dropped;
    let mut since = Instant::now();
    let mut tick = tokio::time::interval(MONITOR_TICK);
    loop {
        let stopping = tokio::select! {
            _ = tick.tick() => false,
            _ = phase.wait_for(|p| *p != Phase::Running) => true,
        };
        let dropped = shared.queue.counts().dropped;
        if dropped > reported && (stopping || limit.allow(Instant::now()).is_some()) {
            shared.log.emit(
                AAE_BACKLOG_FULL,
                format_args!(
                    "dropped {} events for new addresses in the last {} s ({dropped} in all); \
                     {} addresses pending",
                    dropped - reported,
                    since.elapsed().as_secs().max(1),
                    shared.queue.len(),
                ),
            );
            reported = dropped;
            since = Instant::now();
        }
        if stopping {
            return;
        }
    }
}

/// Runs the sweep half of each reconciliation (see `reconcile`) once its
/// walk is done, retrying while Redis fails it; events stay tracked until
/// it has succeeded, so a retry is as safe as the first try.
async fn sweep(shared: &Shared, sweeper: Sweeper, mut phase: watch::Receiver<Phase>) {
    loop {
        tokio::select! {
            _ = shared.reconcile.swept.notified() => {}
            _ = phase.wait_for(|p| *p != Phase::Running) => return,
        }
        let Some(mut job) = shared.reconcile.take_job() else {
            continue;
        };
        loop {
            match sweeper.sweep(&job.live, &shared.queue).await {
                Ok(removed) => {
                    job.done.removed = removed;
                    let d = job.done;
                    shared.log.emit(
                        AAE_RECONCILED,
                        format_args!(
                            "Redis reconciled with Kea's lease database {}: {} leases read, {} \
                             written, {} keys of leases Kea no longer has removed, {} left to \
                             newer events, in {} ms",
                            job.why,
                            d.walked,
                            d.written,
                            d.removed,
                            d.superseded,
                            job.started.elapsed().as_millis()
                        ),
                    );
                    shared.reconcile.finish(&shared.queue);
                    break;
                }
                Err(_) => tokio::select! {
                    // The Redis workers log the outage; this only waits it out.
                    _ = tokio::time::sleep(SWEEP_RETRY) => {}
                    _ = phase.wait_for(|p| *p != Phase::Running) => return,
                },
            }
        }
    }
}
