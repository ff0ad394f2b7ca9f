//! The engine's counters as Kea statistics (`aae.events-received`, ...), so
//! `statistic-get-all` on Kea's control socket shows them.
//!
//! Kea's `StatsMgr` only takes its lock in multi-threaded mode, so it may be
//! written from Kea's main thread only: a Kea `TimerMgr` timer calls
//! [`publish`] there once a second. The packet path never touches it.

use super::callouts::exporter;
use super::emit;
use super::ffi::bridge as ffi;
use crate::messages;

const PREFIX: &str = "aae.";
/// The one text statistic: the Redis server aae writes to now (with a
/// Sentinel service, the primary it follows).
const REDIS_PRIMARY: &str = "aae.redis-primary";
const INTERVAL_MS: u32 = 1000;

/// Starts the periodic publisher (from `*_srv_configured`: Kea drops every
/// timer at the start of a reconfiguration, and `load` comes before that).
pub(super) fn start() {
    publish();
    if let Err(e) = ffi::stats_timer_start(INTERVAL_MS) {
        emit(
            messages::AAE_STATS_FAILED,
            format_args!("statistics will not be published: {e}"),
        );
    }
}

/// Writes the current counters into Kea's statistics.
pub(super) fn publish() {
    let guard = exporter();
    let Some(exp) = guard.as_ref() else { return };
    for (name, value) in exp.counters().named() {
        ffi::stat_set(
            &format!("{PREFIX}{name}"),
            i64::try_from(value).unwrap_or(i64::MAX),
        );
    }
    if let Some(primary) = exp.redis_primary() {
        ffi::stat_set_text(REDIS_PRIMARY, &primary);
    }
}

/// Stops the publisher and removes aae's statistics, so a reloaded library
/// starts from fresh counters instead of showing stale ones.
pub(super) fn stop() {
    ffi::stats_timer_stop();
    let guard = exporter();
    let Some(exp) = guard.as_ref() else { return };
    for (name, _) in exp.counters().named() {
        ffi::stat_del(&format!("{PREFIX}{name}"));
    }
    ffi::stat_del(REDIS_PRIMARY);
}
