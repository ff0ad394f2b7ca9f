//! The coalescing backlog between [`Exporter::submit`](super::Exporter::submit)
//! and the workers.
//!
//! One entry per address holds the newest lease seen for it, and per sink
//! whether that state still has to be sent (`dirty`) and whether a worker is
//! sending an older one right now (`in_flight`). So:
//!
//! - the backlog is bounded by distinct addresses, never by time spent down:
//!   a thousand updates of one address while Redis is away are one entry;
//! - each sink has its own ready list, so a dead ARPwatch never holds back
//!   Redis writes, nor the other way round;
//! - an address is never in flight to one sink twice at once, so an older
//!   state can never overtake a newer one on the wire: a state that arrives
//!   while an older one is in flight waits for that send to finish;
//! - a failed send marks the entry dirty again, and what is retried is the
//!   newest state, which is what the sink must end up with.
//!
//! The backlog's tables live in [`Pages`], not in Kea's heap, so the memory
//! of a burst is given back once it has drained, and an entry holds its lease
//! whole (a hostname is inline up to 62 bytes): `push` itself allocates only
//! when a table grows.
//!
//! The map is split into shards, each behind a [`Mutex`] held only for one
//! insert (by `submit`) or for taking a few entries (by a worker), so Kea's
//! packet threads rarely meet each other or a worker on the same lock.
//!
//! Waking a parked worker costs the submitting thread a system call (an
//! eventfd write) and a context switch on a CPU Kea may need, so `push` wakes
//! one only when no worker of that sink is awake (one that will look at the
//! queue again anyway) and no wake-up is already on its way; a worker that
//! found the queue empty lingers a little before it parks (see `worker`), so
//! under steady traffic one is always awake and `push` wakes nobody. The
//! count of awake workers is read under the shard lock, which is what makes
//! this race-free without a fence: a worker stops counting as awake *before*
//! its last look at the queue, a look that locks every shard.
//!
//! Invariant, per shard and sink: an address is in `ready[sink]` exactly when
//! its entry is dirty and not in flight for that sink; an entry exists
//! exactly while some sink has it dirty or in flight.

use std::hash::BuildHasher;
use std::net::IpAddr;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};

use hashbrown::{DefaultHashBuilder, HashTable};
use lease_model::Lease;
use tokio::sync::Notify;

use super::pages::Pages;

/// The sinks, as indices into per-sink arrays.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Sink {
    Redis = 0,
    Arpwatch = 1,
}

const SINKS: usize = 2;

/// Power of two; enough that 64 packet threads and a few workers seldom share one.
const SHARDS: usize = 64;

/// A worker takes at most this many entries per lock of one shard, so a big
/// batch never keeps `submit` waiting for long.
const TAKE_PER_LOCK: usize = 32;

/// A drained shard whose tables take more than this many bytes drops them
/// (a quiet queue keeps its small ones, rather than allocate on every push):
/// below the size [`Pages`] maps, so what stays is a little of malloc's.
const KEEP_AT_MOST: usize = 8 * 1024;

/// What happened to one submitted event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Pushed {
    /// A new address joined the backlog.
    Queued,
    /// It replaced a state of the same address that had not been sent yet.
    Coalesced,
    /// It updated an address only in flight; it will be sent after that.
    Updated,
    /// The backlog is full of other addresses.
    Dropped,
    /// A reconciliation's state for an address an event has reported since
    /// the reconciliation began: the event's state is newer, so this one is
    /// not queued.
    Superseded,
}

/// What became of one lease a worker took.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// The sink has it (or, for Redis, it needed no write).
    Done,
    /// The sink failed; send the address's newest state again later.
    Retry,
}

struct Entry {
    /// The address's newest state; a worker takes a copy.
    lease: Lease,
    dirty: [bool; SINKS],
    in_flight: [bool; SINKS],
}

/// The addresses ready for one sink, oldest first, in [`Pages`] (std's
/// `VecDeque` cannot take an allocator). Popping advances `head`; the
/// popped front is cut off once it is the larger half, so the list never
/// holds more than twice what is waiting.
struct Ready {
    items: allocator_api2::vec::Vec<IpAddr, Pages>,
    head: usize,
}

impl Default for Ready {
    fn default() -> Self {
        Ready {
            items: allocator_api2::vec::Vec::new_in(Pages),
            head: 0,
        }
    }
}

impl Ready {
    fn push(&mut self, ip: IpAddr) {
        self.items.push(ip);
    }

    fn pop(&mut self) -> Option<IpAddr> {
        let ip = *self.items.get(self.head)?;
        self.head += 1;
        if self.head == self.items.len() {
            self.items.clear();
            self.head = 0;
        } else if self.head >= 64 && self.head * 2 >= self.items.len() {
            self.items.drain(..self.head);
            self.head = 0;
        }
        Some(ip)
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.items.len() - self.head
    }

    fn bytes(&self) -> usize {
        self.items.capacity() * size_of::<IpAddr>()
    }
}

/// Entries keyed by `lease.ip`, hashed by the queue's [`Queue::hasher`].
#[derive(Default)]
struct Shard {
    map: HashTable<Entry, Pages>,
    ready: [Ready; SINKS],
    /// While a reconciliation runs: the addresses events have reported since
    /// it began, whose state from Kea's lease database may be older than
    /// theirs. Recorded under the same lock as the event's push, so a
    /// reconciliation's push either comes before the event's (which then
    /// wins, as newest) or sees the mark and stands back.
    touched: Option<HashTable<IpAddr, Pages>>,
}

impl Shard {
    fn bytes(&self) -> usize {
        self.map.allocation_size() + self.ready.iter().map(Ready::bytes).sum::<usize>()
    }
}

/// One shard with the counters of what was pushed into it, on cache lines
/// of their own: the thread that holds the lock already owns the line, so
/// counting costs no extra cache-line transfer between Kea's threads.
///
/// The counters are only written by the holder of the shard's lock, so they
/// are bumped with a plain load and store ([`bump`]) rather than a locked
/// read-modify-write; they are atomics only so that [`Queue::counts`] can
/// read them without the lock.
#[repr(align(128))]
#[derive(Default)]
struct Padded {
    shard: Mutex<Shard>,
    received: AtomicU64,
    coalesced: AtomicU64,
    dropped: AtomicU64,
    /// Pushes that found the shard locked and had to wait: the measure of
    /// contention on Kea's side.
    waited: AtomicU64,
}

/// Adds one to a counter only the holder of its shard's lock writes.
fn bump(counter: &AtomicU64) {
    counter.store(counter.load(Ordering::Relaxed) + 1, Ordering::Relaxed);
}

/// How `push` reaches the workers of one sink, on a cache line of its own:
/// `push` only reads it, unless it actually wakes someone.
#[repr(align(128))]
#[derive(Default)]
pub(crate) struct Wake {
    notify: Notify,
    /// Workers of this sink that will look at the queue again without being
    /// woken: sending, backing off, lingering. A worker stops counting
    /// before its last look at the queue ([`Wake::park`]).
    awake: AtomicUsize,
    /// A `push` has called (or is about to call) `notify_one` and no woken
    /// worker has run since: later pushes need not wake anyone.
    pending: AtomicBool,
}

/// A worker of one sink, counted as awake until it parks or ends.
pub(crate) struct Joined<'a>(&'a Wake);

impl Drop for Joined<'_> {
    fn drop(&mut self) {
        self.0.awake.fetch_sub(1, Ordering::Relaxed);
    }
}

impl Wake {
    /// Counts a worker that starts taking from this sink's ready list.
    pub fn join(&self) -> Joined<'_> {
        self.awake.fetch_add(1, Ordering::Relaxed);
        Joined(self)
    }

    /// What a worker that found nothing to take awaits: enable it, then
    /// [`Wake::park`], look at the queue once more, and only then await it.
    pub fn notified(&self) -> tokio::sync::futures::Notified<'_> {
        self.notify.notified()
    }

    /// The calling worker stops counting as awake. Call it after enabling
    /// the `Notified` future and before the last [`Queue::take`]: that take
    /// locks every shard, so any `push` it misses runs after it and sees
    /// this count.
    pub fn park(&self) {
        self.awake.fetch_sub(1, Ordering::Relaxed);
    }

    /// The worker runs again (woken, or its last look found work): pushes
    /// from now on may wake a parked worker again.
    pub fn unpark(&self) {
        self.awake.fetch_add(1, Ordering::Relaxed);
        self.pending.store(false, Ordering::Relaxed);
    }

    /// Wakes one more worker of this sink: one that took a full batch asks
    /// for help. Not on Kea's path; with nobody parked it leaves a permit,
    /// which only makes the next park return at once.
    pub fn help(&self) {
        self.notify.notify_one();
    }

    /// Under the shard lock of a push that made an address ready: whether
    /// this push must wake a worker (after releasing the lock). Only reads a
    /// line the workers seldom write, unless it does wake one.
    fn claim(&self) -> bool {
        self.awake.load(Ordering::Relaxed) == 0
            && !self.pending.load(Ordering::Relaxed)
            && !self.pending.swap(true, Ordering::Relaxed)
    }
}

/// What `push` counted, summed over the shards.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct PushCounts {
    pub received: u64,
    pub coalesced: u64,
    pub dropped: u64,
    pub waited: u64,
}

pub(crate) struct Queue {
    shards: Box<[Padded]>,
    /// Distinct addresses in all shards: what `capacity` bounds.
    len: AtomicUsize,
    capacity: usize,
    /// Per sink: wakes a parked worker when an address became ready.
    wakes: [Wake; SINKS],
    /// Which sinks exist: without an ARPwatch URL nothing is queued for it.
    enabled: [bool; SINKS],
    /// Per sink: the shard a worker starts its next scan at, so workers
    /// spread over the shards instead of all fighting for the first.
    cursors: [AtomicUsize; SINKS],
    /// Seeded at random, so which addresses share a bucket is not for a
    /// client to choose.
    hasher: DefaultHashBuilder,
}

impl Queue {
    pub fn new(capacity: usize, arpwatch: bool) -> Queue {
        Queue {
            shards: (0..SHARDS).map(|_| Padded::default()).collect(),
            len: AtomicUsize::new(0),
            capacity,
            wakes: Default::default(),
            enabled: [true, arpwatch],
            cursors: Default::default(),
            hasher: DefaultHashBuilder::default(),
        }
    }

    fn hash(&self, ip: IpAddr) -> u64 {
        self.hasher.hash_one(ip)
    }

    /// Distinct addresses pending for any sink, in flight included.
    pub fn len(&self) -> usize {
        self.len.load(Ordering::Relaxed)
    }

    /// Events pushed, coalesced and dropped so far.
    pub fn counts(&self) -> PushCounts {
        let mut c = PushCounts::default();
        for p in self.shards.iter() {
            c.received += p.received.load(Ordering::Relaxed);
            c.coalesced += p.coalesced.load(Ordering::Relaxed);
            c.dropped += p.dropped.load(Ordering::Relaxed);
            c.waited += p.waited.load(Ordering::Relaxed);
        }
        c
    }

    pub fn wake(&self, sink: Sink) -> &Wake {
        &self.wakes[sink as usize]
    }

    /// Records `lease` as its address's newest state, for Redis and (when
    /// `arpwatch`) for ARPwatch. Never blocks beyond one short critical
    /// section; does no I/O.
    ///
    /// A resync (`arpwatch` false) is never dropped for capacity: it is
    /// Kea's own lease database arriving in one loop, bounded by that
    /// database rather than by time spent down, and dropping part of it
    /// would leave Redis unrepaired.
    pub fn push(&self, lease: Lease, arpwatch: bool) -> Pushed {
        self.push_as(lease, arpwatch, false)
    }

    /// Queues a state read from Kea's lease database (or the sweep's
    /// deletion of a key Kea no longer has) during a reconciliation, for
    /// Redis only, unless an event has reported the address since the
    /// reconciliation began ([`Queue::track_events`]).
    pub fn push_reconciled(&self, lease: Lease) -> Pushed {
        self.push_as(lease, false, true)
    }

    /// From now on, until `track_events(false)`, every event's address is
    /// remembered so that [`Queue::push_reconciled`] leaves it alone.
    pub fn track_events(&self, on: bool) {
        for p in self.shards.iter() {
            lock(&p.shard).touched = on.then(|| HashTable::new_in(Pages));
        }
    }

    fn push_as(&self, lease: Lease, arpwatch: bool, reconciled: bool) -> Pushed {
        let wanted = [true, arpwatch && self.enabled[Sink::Arpwatch as usize]];
        let ip = lease.ip;
        let hash = self.hash(ip);
        // The state it replaces is dropped after the lock is released (a long
        // hostname is a free).
        let mut replaced = None;
        let mut ready_now = [false; SINKS];
        let padded = &self.shards[shard_of(ip)];
        let pushed = {
            let mut shard = match padded.shard.try_lock() {
                Ok(guard) => guard,
                Err(std::sync::TryLockError::Poisoned(p)) => p.into_inner(),
                Err(std::sync::TryLockError::WouldBlock) => {
                    let guard = lock(&padded.shard);
                    bump(&padded.waited);
                    guard
                }
            };
            let Shard {
                map,
                ready,
                touched,
            } = &mut *shard;
            if let Some(touched) = touched {
                let seen = touched.find(hash, |t| *t == ip).is_some();
                if reconciled && seen {
                    return Pushed::Superseded;
                }
                if !reconciled && !seen {
                    touched.insert_unique(hash, ip, |t| self.hash(*t));
                }
            }
            bump(&padded.received);
            let pushed = match map.find_mut(hash, |e| e.lease.ip == ip) {
                Some(e) => {
                    let waiting = e.dirty.iter().any(|d| *d);
                    replaced = Some(std::mem::replace(&mut e.lease, lease));
                    for s in 0..SINKS {
                        if wanted[s] && !e.dirty[s] {
                            e.dirty[s] = true;
                            if !e.in_flight[s] {
                                ready[s].push(ip);
                                ready_now[s] = true;
                            }
                        }
                    }
                    if waiting {
                        bump(&padded.coalesced);
                        Pushed::Coalesced
                    } else {
                        Pushed::Updated
                    }
                }
                None => {
                    let resync = !arpwatch;
                    if self.len.fetch_add(1, Ordering::Relaxed) >= self.capacity && !resync {
                        self.len.fetch_sub(1, Ordering::Relaxed);
                        bump(&padded.dropped);
                        return Pushed::Dropped;
                    }
                    for s in 0..SINKS {
                        if wanted[s] {
                            ready[s].push(ip);
                            ready_now[s] = true;
                        }
                    }
                    map.insert_unique(
                        hash,
                        Entry {
                            lease,
                            dirty: wanted,
                            in_flight: [false; SINKS],
                        },
                        |e| self.hash(e.lease.ip),
                    );
                    Pushed::Queued
                }
            };
            // Still under the lock: see the module's note on waking.
            for (s, ready_now) in ready_now.iter_mut().enumerate() {
                *ready_now = *ready_now && self.wakes[s].claim();
            }
            pushed
        };
        for (wake, wake_one) in self.wakes.iter().zip(ready_now) {
            if wake_one {
                wake.notify.notify_one();
            }
        }
        drop(replaced);
        pushed
    }

    /// Moves up to `max` ready addresses of `sink` in flight and appends
    /// copies of their newest leases to `out`. Each must come back through
    /// [`Queue::finish`]. When it takes fewer than `max`, it has locked
    /// every shard (which [`Wake::park`] relies on).
    pub fn take(&self, sink: Sink, max: usize, out: &mut Vec<Lease>) {
        let s = sink as usize;
        let start = self.cursors[s].fetch_add(1, Ordering::Relaxed);
        for i in 0..SHARDS {
            if out.len() >= max {
                return;
            }
            let mut shard = lock(&self.shards[(start + i) % SHARDS].shard);
            let Shard { map, ready, .. } = &mut *shard;
            let want = (max - out.len()).min(TAKE_PER_LOCK);
            for _ in 0..want {
                let Some(ip) = ready[s].pop() else {
                    break;
                };
                let e = map
                    .find_mut(self.hash(ip), |e| e.lease.ip == ip)
                    .expect("a ready address has an entry");
                e.dirty[s] = false;
                e.in_flight[s] = true;
                out.push(e.lease.clone());
            }
        }
    }

    /// Ends the flight of each address taken for `sink`. A retried address
    /// is ready again at once; the worker's backoff decides when it is next
    /// taken.
    pub fn finish(&self, sink: Sink, done: impl IntoIterator<Item = (IpAddr, Outcome)>) {
        let s = sink as usize;
        for (ip, outcome) in done {
            // Freed after the lock is released.
            let _gone = {
                let mut shard = lock(&self.shards[shard_of(ip)].shard);
                let Shard { map, ready, .. } = &mut *shard;
                let hash = self.hash(ip);
                let Ok(mut found) = map.find_entry(hash, |e| e.lease.ip == ip) else {
                    debug_assert!(false, "finished an address that was not taken");
                    continue;
                };
                let e = found.get_mut();
                e.in_flight[s] = false;
                if outcome == Outcome::Retry {
                    e.dirty[s] = true;
                }
                if e.dirty[s] {
                    ready[s].push(ip);
                    None
                } else if !e.dirty.iter().chain(&e.in_flight).any(|b| *b) {
                    self.len.fetch_sub(1, Ordering::Relaxed);
                    let gone = found.remove().0;
                    if map.is_empty() && shard.bytes() > KEEP_AT_MOST {
                        // The backlog of a burst is gone: give its pages back
                        // rather than keep a peak-sized table for good.
                        let touched = shard.touched.take();
                        *shard = Shard {
                            touched,
                            ..Shard::default()
                        };
                    }
                    Some(gone)
                } else {
                    None
                }
            };
        }
    }

    /// Addresses ready for `sink` right now (not in flight).
    #[cfg(test)]
    pub fn ready(&self, sink: Sink) -> usize {
        self.shards
            .iter()
            .map(|p| lock(&p.shard).ready[sink as usize].len())
            .sum()
    }

    /// Copies of every lease ARPwatch has not confirmed: dirty for it, or
    /// in flight (a cancelled send may or may not have arrived). What the
    /// spool keeps once the workers have stopped.
    pub(crate) fn unconfirmed_arpwatch(&self) -> Vec<Lease> {
        let s = Sink::Arpwatch as usize;
        let mut out = Vec::new();
        for p in self.shards.iter() {
            let shard = lock(&p.shard);
            out.extend(
                shard
                    .map
                    .iter()
                    .filter(|e| e.dirty[s] || e.in_flight[s])
                    .map(|e| e.lease.clone()),
            );
        }
        out
    }

    /// Marks `e`'s newest state as still to be sent to `sink`, and makes it
    /// ready unless it is already, or in flight (then `finish` does). Under
    /// the shard lock; returns whether to wake a worker once it is released.
    fn make_dirty(&self, e: &mut Entry, ready: &mut [Ready; SINKS], sink: Sink) -> bool {
        let s = sink as usize;
        if e.dirty[s] {
            return false;
        }
        e.dirty[s] = true;
        if e.in_flight[s] {
            return false;
        }
        ready[s].push(e.lease.ip);
        self.wakes[s].claim()
    }

    /// The lease Redis held for a deletion by address alone (see
    /// [`super::Exporter::forget`]), which a Redis worker has in flight:
    /// it replaces the placeholder and is queued for ARPwatch, unless a
    /// newer state replaced the placeholder meanwhile (that state is what
    /// ARPwatch is owed).
    pub(crate) fn tell_arpwatch_of_forgotten(&self, lease: Lease) {
        self.for_arpwatch(lease, |q, map, ready, lease, hash| {
            let ip = lease.ip;
            match map.find_mut(hash, |e| e.lease.ip == ip) {
                Some(e) if super::is_forget(&e.lease) => {
                    e.lease = lease;
                    q.make_dirty(e, ready, Sink::Arpwatch)
                }
                _ => false,
            }
        });
    }

    /// Queues `lease`, read back from the spool, for ARPwatch only: Redis
    /// is repaired by the resync instead, from Kea's own lease database,
    /// which may know a newer state. Never dropped for capacity (it is
    /// bounded by the backlog the spool was written from). An address
    /// already pending holds a state that came after the spooled one, so
    /// that state is what ARPwatch is owed.
    pub(crate) fn restore_arpwatch(&self, lease: Lease) {
        self.for_arpwatch(lease, |q, map, ready, lease, hash| {
            let s = Sink::Arpwatch as usize;
            let ip = lease.ip;
            match map.find_mut(hash, |e| e.lease.ip == ip) {
                Some(e) => q.make_dirty(e, ready, Sink::Arpwatch),
                None => {
                    q.len.fetch_add(1, Ordering::Relaxed);
                    ready[s].push(ip);
                    let mut dirty = [false; SINKS];
                    dirty[s] = true;
                    map.insert_unique(
                        hash,
                        Entry {
                            lease,
                            dirty,
                            in_flight: [false; SINKS],
                        },
                        |e| q.hash(e.lease.ip),
                    );
                    q.wakes[s].claim()
                }
            }
        });
    }

    /// The shared part of the two ARPwatch-only paths: nothing without an
    /// ARPwatch; `update` runs under `lease`'s shard lock and says whether a
    /// worker must be woken, which happens once the lock is released.
    fn for_arpwatch(
        &self,
        lease: Lease,
        update: impl FnOnce(
            &Queue,
            &mut HashTable<Entry, Pages>,
            &mut [Ready; SINKS],
            Lease,
            u64,
        ) -> bool,
    ) {
        let s = Sink::Arpwatch as usize;
        if !self.enabled[s] {
            return;
        }
        let hash = self.hash(lease.ip);
        let wake = {
            let mut shard = lock(&self.shards[shard_of(lease.ip)].shard);
            let Shard { map, ready, .. } = &mut *shard;
            update(self, map, ready, lease, hash)
        };
        if wake {
            self.wakes[s].notify.notify_one();
        }
    }
}

/// A poisoned shard only means a thread panicked between two plain field
/// updates; the data is still consistent enough to go on exporting.
fn lock(m: &Mutex<Shard>) -> std::sync::MutexGuard<'_, Shard> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Fibonacci hashing of the address bits: cheap, and consecutive addresses
/// (what a DHCP pool hands out) land in different shards.
fn shard_of(ip: IpAddr) -> usize {
    let bits: u64 = match ip {
        IpAddr::V4(a) => u64::from(a.to_bits()),
        IpAddr::V6(a) => {
            let b = a.to_bits();
            (b as u64) ^ ((b >> 64) as u64)
        }
    };
    (bits.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> (64 - SHARDS.trailing_zeros())) as usize
}

#[cfg(test)]
mod tests {
    use super::*;
    use lease_model::{Hostname, LeaseEvent};
    use std::future::Future;

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

    fn take(q: &Queue, sink: Sink, max: usize) -> Vec<Lease> {
        let mut out = Vec::new();
        q.take(sink, max, &mut out);
        out
    }

    fn finish(q: &Queue, sink: Sink, taken: &[Lease], outcome: Outcome) {
        q.finish(sink, taken.iter().map(|l| (l.ip, outcome)));
    }

    #[test]
    fn newest_state_wins_and_backlog_counts_addresses() {
        let q = Queue::new(10, true);
        assert_eq!(q.push(lease("192.0.2.1", 1), true), Pushed::Queued);
        for t in 2..=1000 {
            assert_eq!(q.push(lease("192.0.2.1", t), true), Pushed::Coalesced);
        }
        assert_eq!(q.len(), 1);
        let r = take(&q, Sink::Redis, 100);
        assert_eq!(r.len(), 1);
        assert_eq!(r[0].cltt, 1000);
        finish(&q, Sink::Redis, &r, Outcome::Done);
        // Still pending for ARPwatch.
        assert_eq!(q.len(), 1);
        let a = take(&q, Sink::Arpwatch, 100);
        finish(&q, Sink::Arpwatch, &a, Outcome::Done);
        assert_eq!(q.len(), 0);
        assert!(take(&q, Sink::Redis, 100).is_empty());
    }

    #[test]
    fn a_state_arriving_in_flight_waits_for_the_flight() {
        let q = Queue::new(10, false);
        q.push(lease("192.0.2.1", 1), true);
        let first = take(&q, Sink::Redis, 10);
        assert_eq!(q.push(lease("192.0.2.1", 2), true), Pushed::Updated);
        // Not taken twice while in flight.
        assert!(take(&q, Sink::Redis, 10).is_empty());
        finish(&q, Sink::Redis, &first, Outcome::Done);
        let second = take(&q, Sink::Redis, 10);
        assert_eq!(second[0].cltt, 2);
        finish(&q, Sink::Redis, &second, Outcome::Done);
        assert_eq!(q.len(), 0);
    }

    #[test]
    fn a_failed_send_is_retried_with_the_newest_state() {
        let q = Queue::new(10, false);
        q.push(lease("192.0.2.1", 1), true);
        let first = take(&q, Sink::Redis, 10);
        q.push(lease("192.0.2.1", 2), true);
        finish(&q, Sink::Redis, &first, Outcome::Retry);
        let again = take(&q, Sink::Redis, 10);
        assert_eq!(again.len(), 1);
        assert_eq!(again[0].cltt, 2);
        finish(&q, Sink::Redis, &again, Outcome::Retry);
        assert_eq!(take(&q, Sink::Redis, 10)[0].cltt, 2);
    }

    #[test]
    fn full_backlog_drops_new_addresses_only() {
        let q = Queue::new(2, false);
        assert_eq!(q.push(lease("192.0.2.1", 1), true), Pushed::Queued);
        assert_eq!(q.push(lease("192.0.2.2", 1), true), Pushed::Queued);
        assert_eq!(q.push(lease("192.0.2.3", 1), true), Pushed::Dropped);
        assert_eq!(q.push(lease("192.0.2.1", 2), true), Pushed::Coalesced);
        assert_eq!(q.len(), 2);
        let counts = q.counts();
        assert_eq!(
            (counts.received, counts.coalesced, counts.dropped),
            (4, 1, 1)
        );
        // A resync is never dropped for capacity.
        assert_eq!(q.push(lease("192.0.2.4", 1), false), Pushed::Queued);
        assert_eq!(q.len(), 3);
        assert_eq!(q.push(lease("192.0.2.5", 1), true), Pushed::Dropped);
    }

    #[test]
    fn sinks_are_independent_and_resync_skips_arpwatch() {
        let q = Queue::new(10, true);
        q.push(lease("192.0.2.1", 1), false);
        assert!(take(&q, Sink::Arpwatch, 10).is_empty());
        let r = take(&q, Sink::Redis, 10);
        finish(&q, Sink::Redis, &r, Outcome::Done);
        assert_eq!(q.len(), 0);

        q.push(lease("192.0.2.2", 1), true);
        let a = take(&q, Sink::Arpwatch, 10);
        finish(&q, Sink::Arpwatch, &a, Outcome::Retry);
        // ARPwatch failing leaves Redis free to go on.
        let r = take(&q, Sink::Redis, 10);
        assert_eq!(r.len(), 1);
        finish(&q, Sink::Redis, &r, Outcome::Done);
        assert_eq!(q.ready(Sink::Arpwatch), 1);
    }

    fn pending(q: &Queue, sink: Sink) -> bool {
        q.wake(sink).pending.load(Ordering::Relaxed)
    }

    #[test]
    fn push_wakes_only_when_no_worker_is_awake_and_once() {
        let q = Queue::new(100, true);
        let worker = q.wake(Sink::Redis).join();
        q.push(lease("192.0.2.1", 1), true);
        assert!(
            !pending(&q, Sink::Redis),
            "an awake worker will look anyway"
        );
        // Nobody takes from ARPwatch: that push had to wake someone.
        assert!(pending(&q, Sink::Arpwatch));

        q.wake(Sink::Redis).park();
        q.push(lease("192.0.2.2", 1), true);
        assert!(pending(&q, Sink::Redis));
        // A second push finds the wake-up on its way and leaves it at one:
        // after the woken worker has run, a park returns at once (the one
        // permit), and the next one waits.
        q.push(lease("192.0.2.3", 1), true);
        q.wake(Sink::Redis).unpark();
        assert!(!pending(&q, Sink::Redis));
        // Polled once: ready only if a permit is stored.
        let permit = || {
            let notified = std::pin::pin!(q.wake(Sink::Redis).notified());
            let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
            notified.poll(&mut cx).is_ready()
        };
        assert!(permit(), "the one wake-up");
        assert!(!permit(), "a second wake-up was sent");
        drop(worker);
    }

    #[test]
    fn take_spreads_over_shards_and_respects_max() {
        let q = Queue::new(100_000, false);
        for i in 0..1000u32 {
            q.push(
                lease(&std::net::Ipv4Addr::from(0x0a00_0000 + i).to_string(), 1),
                true,
            );
        }
        let mut all = 0;
        loop {
            let t = take(&q, Sink::Redis, 100);
            if t.is_empty() {
                break;
            }
            assert!(t.len() <= 100);
            all += t.len();
            finish(&q, Sink::Redis, &t, Outcome::Done);
        }
        assert_eq!(all, 1000);
        assert_eq!(q.len(), 0);
        // A burst of 20 000 addresses grows the tables far beyond what a
        // drained queue keeps.
        for i in 0..20_000u32 {
            q.push(
                lease(&std::net::Ipv4Addr::from(0x0b00_0000 + i).to_string(), 1),
                true,
            );
        }
        let mut t = Vec::new();
        for _ in 0..100 {
            q.take(Sink::Redis, 30_000, &mut t);
        }
        assert_eq!(t.len(), 20_000);
        let peak: usize = q.shards.iter().map(|p| lock(&p.shard).map.capacity()).sum();
        assert!(peak > 20_000, "{peak}");
        finish(&q, Sink::Redis, &t, Outcome::Done);
        t.clear();
        let after: usize = q.shards.iter().map(|p| lock(&p.shard).bytes()).sum();
        assert!(after <= SHARDS * KEEP_AT_MOST, "{after}");
    }
}
