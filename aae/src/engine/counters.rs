//! What the engine has done so far, as plain numbers for Kea's statistics.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use super::queue::PushCounts;

/// A snapshot of the engine's counters. All but `backlog` only grow.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counters {
    /// Events handed to [`Exporter::submit`](super::Exporter::submit).
    pub received: u64,
    /// Leases written to (or deleted from) Redis.
    pub exported_redis: u64,
    /// Writes and deletions Redis refused because it held a newer lease
    /// (another node's, or a later state of this node's): the newest lease
    /// wins (docs/redis-schema.md). Done, not retried.
    pub redis_stale_refused: u64,
    /// Notices ARPwatch accepted.
    pub exported_arpwatch: u64,
    /// Events put back for another attempt after a sink failed.
    pub retried: u64,
    /// Events replaced by a newer event for the same address before they
    /// were sent to every sink that wanted them.
    pub coalesced: u64,
    /// Events refused because the backlog was full.
    pub dropped: u64,
    /// Events the border could not export (a DHCPv6 lease without a hardware
    /// address); leases already past expiry plus grace when their turn came
    /// (writing them would resurrect a dead lease); and notices ARPwatch
    /// refused with a fault (logged, not retried).
    pub skipped: u64,
    /// Distinct addresses pending now, for any sink (in flight included).
    /// Only a resync takes it past `queue-capacity`.
    pub backlog: u64,
    /// With a Sentinel service in `redis-url`: how many times the workers
    /// found a new primary, and moved their writes there.
    pub redis_failovers: u64,
}

impl Counters {
    /// Each counter with its statistic name; Kea shows them as `aae.<name>`.
    pub fn named(&self) -> [(&'static str, u64); 10] {
        [
            ("events-received", self.received),
            ("exported-redis", self.exported_redis),
            ("redis-stale-refused", self.redis_stale_refused),
            ("exported-arpwatch", self.exported_arpwatch),
            ("events-retried", self.retried),
            ("events-coalesced", self.coalesced),
            ("events-dropped", self.dropped),
            ("events-skipped", self.skipped),
            ("backlog", self.backlog),
            ("redis-failovers", self.redis_failovers),
        ]
    }
}

/// The live counters of the workers (and `skipped`, which the border bumps
/// rarely). What `submit` counts lives in the queue's shards instead, so
/// Kea's threads never fight over one counter's cache line. Relaxed atomics:
/// each counter is independent, and a snapshot needs no consistency across
/// them.
#[derive(Debug, Default)]
pub(crate) struct Stats {
    pub exported_redis: AtomicU64,
    pub redis_stale_refused: AtomicU64,
    pub exported_arpwatch: AtomicU64,
    pub retried: AtomicU64,
    pub skipped: AtomicU64,
}

impl Stats {
    pub fn add(counter: &AtomicU64, n: u64) {
        if n > 0 {
            counter.fetch_add(n, Relaxed);
        }
    }

    pub fn snapshot(&self, pushed: PushCounts, backlog: u64, redis_failovers: u64) -> Counters {
        Counters {
            received: pushed.received,
            exported_redis: self.exported_redis.load(Relaxed),
            redis_stale_refused: self.redis_stale_refused.load(Relaxed),
            exported_arpwatch: self.exported_arpwatch.load(Relaxed),
            retried: self.retried.load(Relaxed),
            coalesced: pushed.coalesced,
            dropped: pushed.dropped,
            skipped: self.skipped.load(Relaxed),
            backlog,
            redis_failovers,
        }
    }
}
