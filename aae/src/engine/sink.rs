//! What a worker needs from a sink: send a batch of leases, say what became
//! of each.

use lease_model::Lease;

use super::queue::{Outcome, Sink};

/// The result of one batch.
pub(crate) struct Sent {
    /// One per lease of the batch, in order.
    pub outcomes: Vec<Outcome>,
    /// Leases the sink now has.
    pub exported: u64,
    /// Leases that needed no write (past expiry plus grace) or that the sink
    /// refused for good (an XML-RPC fault): done, but not exported.
    pub skipped: u64,
    /// Writes Redis refused because it held a newer lease: done, not
    /// exported.
    pub stale: u64,
    /// Why the leases marked [`Outcome::Retry`] failed.
    pub failure: Option<String>,
    /// For each deletion by address alone ([`super::forget`]) whose key
    /// Redis held: the lease as Redis had it, ended, so that ARPwatch can be
    /// told with its MAC.
    pub forgotten: Vec<Lease>,
}

impl Sent {
    /// The whole batch failed and is to be retried.
    pub fn failed(len: usize, why: impl ToString) -> Sent {
        Sent {
            outcomes: vec![Outcome::Retry; len],
            exported: 0,
            skipped: 0,
            stale: 0,
            failure: Some(why.to_string()),
            forgotten: Vec::new(),
        }
    }
}

/// A destination for leases. Each worker owns one of each, with its own
/// connection, so nothing here is shared between threads.
pub(crate) trait SinkIo {
    const SINK: Sink;
    /// Leases per batch: a Redis pipeline, or a `system.multicall`.
    fn batch_size(&self) -> usize;
    /// Sends `batch`; every I/O step is bounded by a timeout, so this
    /// returns even if the peer hangs.
    async fn send(&mut self, batch: &[Lease]) -> Sent;
}
