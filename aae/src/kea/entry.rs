//! The C entry points Kea finds by name with `dlsym`. They are defined in
//! Rust because rustc's cdylib version script exports only Rust's
//! `#[no_mangle]` symbols; the shim's C++ symbols stay hidden.
//!
//! Callouts are not exported here: they are registered in `load` through the
//! `LibraryHandle`, and a symbol named after a hook point would make Kea
//! register it a second time.

use super::callouts::{EXPORTER, PARTNER_NOTIFY};
use super::emit;
use super::engine::Exporter;
use super::ffi::bridge as ffi;
use super::{no_unwind, start_logging, stats, stop_logging};
use crate::config::{Config, Spool};
use crate::messages;
use std::ffi::c_int;
use std::pin::Pin;
use std::time::Duration;

/// How long `unload` waits for the engine's threads and for writing the
/// ARPwatch spool. Kea unloads on every reconfiguration, so this bounds how
/// long a `config-reload` can stall.
const STOP_TIMEOUT: Duration = Duration::from_secs(5);

/// Kea's hooks API version this library was compiled against.
#[unsafe(no_mangle)]
pub extern "C" fn version() -> c_int {
    ffi::hooks_version()
}

/// Callouts may run on several of Kea's packet threads at once: they only
/// read a lock no other code of ours holds for long, and submit.
#[unsafe(no_mangle)]
pub extern "C" fn multi_threading_compatible() -> c_int {
    1
}

/// Validates the parameters, starts the engine and registers the callouts.
/// Returns non-zero, after logging which parameter is wrong, to make Kea
/// refuse the configuration.
///
/// # Safety
/// Kea passes a valid `LibraryHandle&`, exclusively ours for the call.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn load(handle: *mut ffi::LibraryHandle) -> c_int {
    if handle.is_null() {
        return 1;
    }
    // SAFETY: Kea's reference, valid and unaliased for the duration of load().
    let handle = unsafe { Pin::new_unchecked(&mut *handle) };
    no_unwind("load", 1, || match try_load(handle) {
        Ok(()) => 0,
        Err(why) => {
            emit(messages::AAE_LOAD_FAILED, format_args!("{why}"));
            1
        }
    })
}

fn try_load(mut handle: Pin<&mut ffi::LibraryHandle>) -> Result<(), String> {
    start_logging();
    let params = ffi::parameters_json(handle.as_mut())
        .map_err(|e| format!("cannot read the hook parameters: {e}"))?;
    let params = params
        .to_str()
        .map_err(|_| "hook parameters: not valid UTF-8".to_owned())?;
    let mut config = Config::from_json(params).map_err(|e| e.to_string())?;
    let family = match ffi::server_family() {
        6 => 6,
        _ => 4,
    };
    if let Err(why) = config.resolve_spool(family) {
        emit(
            messages::AAE_SPOOL_UNAVAILABLE,
            format_args!("{why}; notices ARPwatch has not confirmed at unload will be lost"),
        );
    }
    let spool = match &config.arpwatch_spool {
        Spool::At(path) => path.display().to_string(),
        Spool::Off | Spool::Default => "off".to_owned(),
    };
    // Files and the user only: never a key or password.
    let mut security = String::new();
    if let Some(tls) = &config.arpwatch_tls {
        security = format!(" ({tls}");
        if let Some(credentials) = &config.arpwatch_credentials {
            security.push_str(&format!(", as user '{}'", credentials.user()));
        }
        security.push(')');
    }
    let summary = format!(
        "DHCPv{family}, node '{}', redis {}, arpwatch {}{security}, spool {spool}",
        config.node_name,
        crate::config::redacted_url(&config.redis_url),
        config.arpwatch_url.as_deref().unwrap_or("off")
    );
    // Stop a previous instance Kea somehow did not unload, so its threads
    // cannot outlive the library.
    stop_engine();
    PARTNER_NOTIFY.store(
        config.arpwatch_partner_updates,
        std::sync::atomic::Ordering::Relaxed,
    );
    let exporter =
        Exporter::start_logging_to(config, super::LOG).map_err(|e| format!("cannot start: {e}"))?;
    *EXPORTER.write().unwrap_or_else(|e| e.into_inner()) = Some(exporter);
    if let Err(e) = ffi::register_callouts(handle, family) {
        stop_engine();
        return Err(format!("cannot register callouts: {e}"));
    }
    emit(messages::AAE_LOAD_OK, format_args!("loaded: {summary}"));
    Ok(())
}

/// Takes the engine out of the global (waiting for callouts in flight) and
/// joins its threads within [`STOP_TIMEOUT`].
fn stop_engine() -> bool {
    let taken = EXPORTER.write().unwrap_or_else(|e| e.into_inner()).take();
    match taken {
        Some(exporter) => {
            exporter.stop(STOP_TIMEOUT);
            true
        }
        None => false,
    }
}

/// Stops the statistics timer and the engine; Kea unmaps the library next.
#[unsafe(no_mangle)]
pub extern "C" fn unload() -> c_int {
    no_unwind("unload", 0, || {
        stats::stop();
        if stop_engine() {
            emit(
                messages::AAE_UNLOAD,
                format_args!("unloaded: workers stopped"),
            );
        }
        stop_logging();
        0
    })
}
