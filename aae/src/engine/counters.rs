//! What the engine has done so far, as plain numbers for Kea's statistics.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

/// A snapshot of the engine's counters. All but `backlog` only grow.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counters {
    /// Events handed to [`Exporter::submit`](super::Exporter::submit).
    pub received: u64,
    /// Leases written to (or deleted from) Redis.
    pub exported_redis: u64,
    /// Notices ARPwatch accepted.
    pub exported_arpwatch: u64,
    /// Events put back for another attempt after a sink failed.
    pub retried: u64,
    /// Events replaced by a newer event for the same address before they
    /// were sent.
    pub coalesced: u64,
    /// Events refused because the backlog was full.
    pub dropped: u64,
    /// Events the border could not export (a DHCPv6 lease without a hardware
    /// address), and leases already past expiry plus grace when their turn
    /// came, so writing them would have resurrected a dead lease.
    pub skipped: u64,
    /// Distinct addresses pending now, for any sink.
    pub backlog: u64,
}

impl Counters {
    /// Each counter with its statistic name; Kea shows them as `aae.<name>`.
    pub fn named(&self) -> [(&'static str, u64); 8] {
        [
            ("events-received", self.received),
            ("exported-redis", self.exported_redis),
            ("exported-arpwatch", self.exported_arpwatch),
            ("events-retried", self.retried),
            ("events-coalesced", self.coalesced),
            ("events-dropped", self.dropped),
            ("events-skipped", self.skipped),
            ("backlog", self.backlog),
        ]
    }
}

/// The live counters, shared by the submitting threads and the workers.
/// Relaxed atomics: each counter is independent, and a snapshot needs no
/// consistency across them.
#[derive(Debug, Default)]
pub(crate) struct Stats {
    pub received: AtomicU64,
    pub exported_redis: AtomicU64,
    pub exported_arpwatch: AtomicU64,
    pub retried: AtomicU64,
    pub coalesced: AtomicU64,
    pub dropped: AtomicU64,
    pub skipped: AtomicU64,
}

impl Stats {
    pub fn add(counter: &AtomicU64, n: u64) {
        if n > 0 {
            counter.fetch_add(n, Relaxed);
        }
    }

    pub fn snapshot(&self, backlog: u64) -> Counters {
        Counters {
            received: self.received.load(Relaxed),
            exported_redis: self.exported_redis.load(Relaxed),
            exported_arpwatch: self.exported_arpwatch.load(Relaxed),
            retried: self.retried.load(Relaxed),
            coalesced: self.coalesced.load(Relaxed),
            dropped: self.dropped.load(Relaxed),
            skipped: self.skipped.load(Relaxed),
            backlog,
        }
    }
}
