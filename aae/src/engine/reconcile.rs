//! Reconciliation: bringing Redis in line with Kea's lease database as a
//! whole, for what no event reports (an HA partner's sync writing straight
//! into the lease database, a lease file edited while Kea was down, a wipe,
//! a Redis that lost or kept keys while aae was away).
//!
//! Two halves, so that each side touches only what it owns:
//!
//! 1. The *walk*, driven by the Kea border on Kea's main thread, hands every
//!    lease of the database to [`Reconciler::lease`]; each live one is queued
//!    for Redis and its address remembered.
//! 2. The *sweep*, on a worker, scans Redis for this node's keys and queues
//!    a deletion for every address the walk did not see.
//!
//! Events keep flowing meanwhile. From [`Reconciler::begin`] until the sweep
//! ends, the queue remembers every address an event reported
//! ([`Queue::track_events`]), and neither half overwrites one: an event's
//! state is always at least as new as the walk's. Together with the queue's
//! newest-state-wins order per address, that leaves no window in which a
//! reconciliation can undo an event.

use std::hash::BuildHasher;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use hashbrown::{DefaultHashBuilder, HashTable};
use lease_model::{Lease, LeaseEvent};
use tokio::sync::Notify;

use super::pages::Pages;
use super::queue::{Pushed, Queue};

/// A set of addresses in pages of its own: a walk of a large database
/// leaves nothing in Kea's heap (see `pages`).
pub(crate) struct IpSet {
    table: HashTable<IpAddr, Pages>,
    hasher: DefaultHashBuilder,
}

impl IpSet {
    fn new() -> IpSet {
        IpSet {
            table: HashTable::new_in(Pages),
            hasher: DefaultHashBuilder::default(),
        }
    }

    fn insert(&mut self, ip: IpAddr) {
        let hash = self.hasher.hash_one(ip);
        if self.table.find(hash, |x| *x == ip).is_none() {
            self.table
                .insert_unique(hash, ip, |x| self.hasher.hash_one(*x));
        }
    }

    pub fn contains(&self, ip: IpAddr) -> bool {
        self.table
            .find(self.hasher.hash_one(ip), |x| *x == ip)
            .is_some()
    }
}

/// What a finished reconciliation did, for its log line.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Reconciled {
    /// Leases of Kea's database the walk read.
    pub walked: u64,
    /// Of those, live leases queued for Redis.
    pub written: u64,
    /// Redis keys of this node that Kea no longer had, queued for deletion.
    pub removed: u64,
    /// Addresses left alone because an event reported them meanwhile.
    pub superseded: u64,
}

/// The walk's results, handed to the sweep.
pub(crate) struct Job {
    pub live: IpSet,
    pub why: String,
    pub started: Instant,
    pub done: Reconciled,
}

enum State {
    Idle,
    Walking(Job),
    /// The walk is done; the sweep has it (or will take it).
    Sweeping(Option<Job>),
}

/// One reconciliation at a time, shared by the border and the sweeper.
pub(crate) struct Reconciler {
    state: Mutex<State>,
    /// Wakes the sweeper when a walk is done.
    pub swept: Notify,
}

impl Default for Reconciler {
    fn default() -> Self {
        Reconciler {
            state: Mutex::new(State::Idle),
            swept: Notify::new(),
        }
    }
}

impl Reconciler {
    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Starts one, unless one is running. From here on the queue tracks
    /// events (before the walk reads anything, so none slips between).
    pub fn begin(&self, queue: &Queue, why: &str) -> bool {
        let mut state = self.state();
        if !matches!(*state, State::Idle) {
            return false;
        }
        queue.track_events(true);
        *state = State::Walking(Job {
            live: IpSet::new(),
            why: why.to_owned(),
            started: Instant::now(),
            done: Reconciled::default(),
        });
        true
    }

    pub fn running(&self) -> bool {
        !matches!(*self.state(), State::Idle)
    }

    /// One lease the walk read. `live`: Redis should hold it (it is queued
    /// unless an event came first); otherwise it is in the database but not
    /// written (expired, awaiting reclamation), and its key is not swept.
    pub fn lease(&self, queue: &Queue, lease: Lease, live: bool) {
        let mut state = self.state();
        let State::Walking(job) = &mut *state else {
            return;
        };
        job.done.walked += 1;
        job.live.insert(lease.ip);
        if !live {
            return;
        }
        match queue.push_reconciled(lease) {
            Pushed::Superseded => job.done.superseded += 1,
            _ => job.done.written += 1,
        }
    }

    /// The walk has read the whole database: the sweeper takes over.
    pub fn walked(&self) {
        let mut state = self.state();
        let job = match std::mem::replace(&mut *state, State::Idle) {
            State::Walking(job) => job,
            other => {
                *state = other;
                return;
            }
        };
        *state = State::Sweeping(Some(job));
        drop(state);
        self.swept.notify_one();
    }

    /// The walk could not finish (Kea's lease database failed): nothing is
    /// swept, and events are no longer tracked.
    pub fn abandon(&self, queue: &Queue) {
        let mut state = self.state();
        if let State::Walking(_) = &*state {
            *state = State::Idle;
            queue.track_events(false);
        }
    }

    /// The job the sweeper should do, if a walk has finished.
    pub fn take_job(&self) -> Option<Job> {
        match &mut *self.state() {
            State::Sweeping(job) => job.take(),
            _ => None,
        }
    }

    /// The sweep is done: events are no longer tracked.
    pub fn finish(&self, queue: &Queue) {
        let mut state = self.state();
        queue.track_events(false);
        *state = State::Idle;
    }
}

/// The deletion the sweep queues for a key Kea no longer has: the lease as
/// Redis holds it, ended, so the Redis sink deletes its key.
pub(crate) fn ended(mut lease: Lease) -> Lease {
    lease.event = LeaseEvent::Release;
    lease
}

/// How long the sweeper waits before trying a Redis that failed it again.
pub(crate) const SWEEP_RETRY: Duration = Duration::from_secs(2);

#[cfg(test)]
mod tests {
    use super::*;
    use lease_model::Hostname;

    fn lease(ip: &str, cltt: i64) -> Lease {
        Lease::new(
            ip.parse().unwrap(),
            "aa:bb:cc:dd:ee:ff".parse().unwrap(),
            3600,
            cltt,
            Hostname::from_text(""),
            1,
            LeaseEvent::Select,
        )
    }

    #[test]
    fn an_event_during_a_reconciliation_is_never_overwritten_by_it() {
        let q = Queue::new(100, false);
        let r = Reconciler::default();
        assert!(r.begin(&q, "test"));
        assert!(!r.begin(&q, "test"), "one at a time");
        // An event for .1 arrives after the walk began: the walk's (older)
        // state of .1 stands back, .2 is written.
        q.push(lease("192.0.2.1", 20), false);
        r.lease(&q, lease("192.0.2.1", 10), true);
        r.lease(&q, lease("192.0.2.2", 10), true);
        r.lease(&q, lease("192.0.2.3", 10), false);
        r.walked();
        let job = r.take_job().expect("the walk is done");
        assert_eq!(
            job.done,
            Reconciled {
                walked: 3,
                written: 1,
                superseded: 1,
                removed: 0
            }
        );
        assert!(job.live.contains("192.0.2.3".parse().unwrap()));
        assert!(!job.live.contains("192.0.2.4".parse().unwrap()));
        // The sweep's deletion of an address an event reported is refused too.
        assert_eq!(
            q.push_reconciled(ended(lease("192.0.2.1", 10))),
            Pushed::Superseded
        );
        r.finish(&q);
        assert!(!r.running());
        // Once it is over, nothing is tracked.
        assert_ne!(
            q.push_reconciled(lease("192.0.2.1", 30)),
            Pushed::Superseded
        );
        let mut out = Vec::new();
        q.take(super::super::queue::Sink::Redis, 10, &mut out);
        let one = out
            .iter()
            .find(|l| l.ip.to_string() == "192.0.2.1")
            .unwrap();
        assert_eq!(one.cltt, 30);
    }

    #[test]
    fn an_abandoned_walk_sweeps_nothing() {
        let q = Queue::new(100, false);
        let r = Reconciler::default();
        assert!(r.begin(&q, "test"));
        r.lease(&q, lease("192.0.2.2", 10), true);
        r.abandon(&q);
        assert!(r.take_job().is_none());
        assert!(!r.running());
        assert!(r.begin(&q, "again"));
    }
}
