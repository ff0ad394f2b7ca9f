//! Every log message aae can emit, defined once with its ID and severity, the
//! way Kea's `.mes` files do it, so operators can grep and filter by ID.
//!
//! Where the lines go is a [`Log`] handed to whoever logs: inside Kea the
//! border's, which writes through Kea's own logger; elsewhere (tests, other
//! hosts) [`Log::STDERR`]. This file knows neither.

use std::fmt;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    Debug,
    Info,
    Warn,
    Error,
}

/// One message: a stable ID and a severity. The text is formatted by the caller.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Message {
    pub id: &'static str,
    pub severity: Severity,
}

macro_rules! messages {
    ($($name:ident = $severity:ident, $doc:literal;)*) => {
        $(#[doc = $doc] pub const $name: Message = Message { id: stringify!($name), severity: Severity::$severity };)*
        /// Every message, for registration with Kea's logger and for docs.
        pub const ALL: &[(Message, &str)] = &[$(($name, $doc)),*];
    };
}

messages! {
    AAE_LOAD_OK = Info, "the hook loaded and its workers started";
    AAE_LOAD_FAILED = Error, "the hook refused to load; the text names the bad parameter";
    AAE_UNLOAD = Info, "the hook stopped its workers and unloaded";
    AAE_RESYNC = Info, "Kea's lease database was read and every current lease in it queued for Redis (the walk of a reconciliation): after (re)configuration, after Redis restarted or lost aae's keys, after an HA state change (a partner's sync writes leases no hook point reports), or after a lease command aae cannot follow lease by lease (a wipe)";
    AAE_RESYNC_FAILED = Error, "reading Kea's lease database for the resync failed; nothing is removed from Redis, and the next trigger tries again";
    AAE_RECONCILED = Info, "a reconciliation ended: Redis keys of this node whose leases Kea no longer has were removed (the sweep after the walk), so Redis holds exactly Kea's lease database";
    AAE_HA_STATE = Info, "this server's HA state, as it answered its partner's ha-heartbeat, changed; a change into any state but waiting or syncing starts a reconciliation, since HA's sync writes leases no hook point reports";
    AAE_COMMAND_SKIPPED = Warn, "a lease command or an HA partner's lease update could not be followed (missing or malformed arguments, an unknown lease type, no hardware address); it is counted in events-skipped (logged at most once a second)";
    AAE_STATS_FAILED = Warn, "aae's counters cannot be published into Kea's statistics";
    AAE_CALLOUT_FAILED = Warn, "a callout hit a C++ exception; Kea goes on (logged at most once a second)";
    AAE_PANIC = Error, "a Rust panic was caught at the Kea border; Kea goes on";
    AAE_REDIS_DOWN = Error, "writing to Redis failed; the leases stay pending and are retried with backoff (check that Redis runs and that 'redis-url' points at it)";
    AAE_REDIS_UP = Info, "Redis accepts writes again after failing; the pending leases are being written";
    AAE_REDIS_PRIMARY = Info, "with a Sentinel service in 'redis-url', aae reached its primary: the first time after load, and after each failover it followed (the text says the primary before and how many failovers were followed); a primary new to aae gets every current lease written again, as a restarted Redis does";
    AAE_REDIS_FLUSHED = Warn, "Redis lost aae's marker key though it did not restart (FLUSHALL or FLUSHDB, the key deleted, or evicted under maxmemory), so every current lease from Kea's lease database is written to it again";
    AAE_ARPWATCH_DOWN = Error, "notifying ARPwatch failed; the notices stay pending and are retried with backoff (check that ARPwatch runs and that 'arpwatch-url' points at it; over https the text gives the TLS reason, such as a server certificate that does not verify against 'arpwatch-ca-file', or refused credentials)";
    AAE_ARPWATCH_UP = Info, "ARPwatch accepts notices again after failing; the pending notices are being sent";
    AAE_ARPWATCH_MULTICALL = Info, "with 'arpwatch-multicall' \"auto\" (the default), aae found out whether ARPwatch serves system.multicall: notices go in batches if it does, one call each if it does not (logged when that changes, not at each re-check)";
    AAE_ARPWATCH_FAULT = Warn, "ARPwatch answered a notice with an XML-RPC fault; that notice is not retried (the fault text says what ARPwatch disliked)";
    AAE_BACKLOG_FULL = Warn, "the backlog of pending addresses is full, so events for new addresses were dropped (raise 'queue-capacity', or bring the failing sink back)";
    AAE_LEASE_EXPIRED = Debug, "a pending lease was past expiry plus grace when its turn came, so it was not written to Redis";
    AAE_STOP_SLOW = Warn, "a worker thread did not stop within the bound and was left behind (a sink call ignored its timeout)";
    AAE_SPOOL_WRITTEN = Info, "at unload, the notices ARPwatch had not confirmed were written to the spool ('arpwatch-spool'); the next load sends them";
    AAE_SPOOL_WRITE_FAILED = Error, "at unload, the notices ARPwatch had not confirmed could not be written to the spool, so ARPwatch will not hear of them (check the directory of 'arpwatch-spool': space, permissions, AppArmor)";
    AAE_SPOOL_RESTORED = Info, "at load, the notices spooled at the last unload were queued for ARPwatch (Redis is repaired by the resync) and the spool removed";
    AAE_SPOOL_BAD = Error, "at load, the spool could not be read back whole; it was renamed aside (its name plus '.bad') for inspection, its notices are not sent, and the load goes on";
    AAE_SPOOL_UNAVAILABLE = Warn, "the default spool's directory is missing or not writable, so notices ARPwatch has not confirmed at unload will be lost (set 'arpwatch-spool' to a writable path, or to null to silence this)";
}

/// Where log lines go. A plain function, so it is `Copy` and costs nothing
/// to hand to every part of the engine at start.
#[derive(Clone, Copy)]
pub struct Log(fn(Message, fmt::Arguments<'_>));

impl Log {
    /// One line per message on stderr: `Severity ID text`.
    pub const STDERR: Log = Log(|msg, text| eprintln!("{:?} {} {}", msg.severity, msg.id, text));

    pub const fn new(write: fn(Message, fmt::Arguments<'_>)) -> Log {
        Log(write)
    }

    /// Emits `text` under `msg`. Never panics and never blocks on I/O beyond
    /// the writer's own write.
    pub fn emit(&self, msg: Message, text: fmt::Arguments<'_>) {
        (self.0)(msg, text)
    }
}

impl fmt::Debug for Log {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Log")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The operator's table of messages, as `docs/operations.md` shows it.
    fn markdown_table_rows() -> String {
        ALL.iter()
            .map(|(m, doc)| format!("| `{}` | {:?} | {} |\n", m.id, m.severity, doc))
            .collect()
    }

    #[test]
    fn ids_are_unique_and_prefixed() {
        let mut ids: Vec<_> = ALL.iter().map(|(m, _)| m.id).collect();
        assert!(ids.iter().all(|id| id.starts_with("AAE_")));
        ids.sort_unstable();
        let n = ids.len();
        ids.dedup();
        assert_eq!(ids.len(), n, "a message ID is defined twice");
    }

    /// Operators grep the docs for an ID they saw in Kea's log: the table
    /// there must be exactly this file's.
    #[test]
    fn operations_doc_lists_every_message() {
        let doc = include_str!("../../docs/operations.md");
        let want = markdown_table_rows();
        assert!(
            doc.contains(&want),
            "docs/operations.md's message table is out of date; replace its rows with:\n{want}"
        );
        let listed = doc.lines().filter(|l| l.starts_with("| `AAE_")).count();
        assert_eq!(
            listed,
            ALL.len(),
            "docs/operations.md lists messages that no longer exist"
        );
    }
}
