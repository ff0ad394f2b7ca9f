//! The Kea border: the only code that knows C++ or Kea.
//!
//! - [`ffi`]: the cxx bridge to the shim in `aae/cpp/`.
//! - `entry`: the C entry points Kea looks up by name (`version`, `load`,
//!   `unload`, `multi_threading_compatible`).
//! - `callouts`: turns a [`ffi::bridge::LeaseView`] into a [`lease_model::Lease`]
//!   and decides which hook events are exported.
//! - `commands`: reads the lease commands and HA messages that
//!   `command_processed` reports (JSON) into leases to export.
//! - `stats`: publishes the engine's counters into Kea's `StatsMgr`.
//!
//! Nothing unwinds across the border: every Rust function C++ calls catches
//! panics, and the shim catches every C++ exception.

mod callouts;
mod commands;
mod entry;
mod ffi;
mod stats;

use crate::messages::{Log, Message, Severity};
use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::engine;

/// Kea's `Lease::state_` values, the same in 2.2, 2.6 and 3.0 (3.0 added
/// `RELEASED`).
mod lease_state {
    pub const DEFAULT: u32 = 0;
    pub const DECLINED: u32 = 1;
    pub const EXPIRED_RECLAIMED: u32 = 2;
    pub const RELEASED: u32 = 3;
}

/// Set while the library is loaded in Kea and its message IDs are registered
/// with Kea's logger; unit tests and other hosts log to stderr instead.
static IN_KEA: AtomicBool = AtomicBool::new(false);

/// The border's log, handed to the engine at start: Kea's logger once
/// loaded inside Kea, stderr otherwise.
pub(crate) const LOG: Log = Log::new(log);

/// Logs through [`LOG`]; what the border's own code calls.
fn emit(msg: Message, text: fmt::Arguments<'_>) {
    LOG.emit(msg, text)
}

fn log(msg: Message, text: fmt::Arguments<'_>) {
    if !IN_KEA.load(Ordering::Acquire) {
        Log::STDERR.emit(msg, text);
        return;
    }
    let severity = match msg.severity {
        Severity::Debug => 0,
        Severity::Info => 1,
        Severity::Warn => 2,
        Severity::Error => 3,
    };
    if !ffi::bridge::log_enabled(severity) {
        return;
    }
    // A literal needs no formatting; anything else costs one String, freed
    // after the call (no CString is made or kept).
    match text.as_str() {
        Some(s) => ffi::bridge::log_write(severity, msg.id, s),
        None => ffi::bridge::log_write(severity, msg.id, &text.to_string()),
    }
}

/// Registers every ID of [`crate::messages::ALL`] with Kea's message
/// dictionary and switches logging to Kea.
fn start_logging() {
    for (msg, _) in crate::messages::ALL {
        ffi::bridge::log_register(msg.id);
    }
    IN_KEA.store(true, Ordering::Release);
}

/// Undoes [`start_logging`]; called last in `unload`, when no thread of ours
/// is left to log.
fn stop_logging() {
    IN_KEA.store(false, Ordering::Release);
    for (msg, _) in crate::messages::ALL {
        ffi::bridge::log_unregister(msg.id);
    }
}

/// Runs `f`, turning a panic into a logged error and `fallback`, so that no
/// panic unwinds into Kea's C++ frames.
fn no_unwind<T>(what: &str, fallback: T, f: impl FnOnce() -> T) -> T {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)) {
        Ok(v) => v,
        Err(payload) => {
            let detail = payload
                .downcast_ref::<&str>()
                .copied()
                .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
                .unwrap_or("non-string panic payload");
            // Logging itself could panic (it formats); never let that escape.
            let _ = std::panic::catch_unwind(|| {
                emit(crate::messages::AAE_PANIC, format_args!("{what}: {detail}"))
            });
            fallback
        }
    }
}

#[cfg(test)]
mod tests {
    use super::no_unwind;

    #[test]
    fn a_panic_becomes_the_fallback_instead_of_unwinding() {
        assert_eq!(no_unwind("test", 7, || -> i32 { panic!("boom") }), 7);
        assert_eq!(
            no_unwind("test", 7, || -> i32 { panic!("{}", String::from("owned")) }),
            7
        );
        assert_eq!(no_unwind("test", 7, || 3), 3);
    }
}
