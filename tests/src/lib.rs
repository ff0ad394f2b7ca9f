//! Fixtures that start the real programs the system tests drive: a
//! `redis-server` on a free loopback port, and (see the other modules) Kea in
//! a network namespace, XML-RPC peers written by others, aai, a Kea HA
//! pair built of all of them (`ha`), and certificates for TLS (`pki`).
//!
//! Every fixture stops what it started when dropped, so a failing test leaves
//! nothing running. A missing program is a test failure that says to run
//! `ci/setup`, never a silent skip.

pub mod aai;
pub mod arpwatch;
pub mod ha;
pub mod kea;
pub mod netns;
pub mod pki;
pub mod redis;
pub mod sentinel;

use std::net::TcpListener;
use std::time::{Duration, Instant};

/// Polls `cond` until it returns `Some`, or panics after `timeout` naming `what`.
pub fn wait_for<T>(what: &str, timeout: Duration, cond: impl FnMut() -> Option<T>) -> T {
    poll_until(timeout, cond)
        .unwrap_or_else(|| panic!("timed out after {timeout:?} waiting for {what}"))
}

/// Polls `cond` until it returns `Some` (backing off from 5 to 100 ms
/// between tries), or gives `None` once `timeout` has passed: for callers
/// whose failure message needs diagnostics of their own.
pub fn poll_until<T>(timeout: Duration, mut cond: impl FnMut() -> Option<T>) -> Option<T> {
    let start = Instant::now();
    let mut pause = Duration::from_millis(5);
    loop {
        if let Some(v) = cond() {
            return Some(v);
        }
        if start.elapsed() > timeout {
            return None;
        }
        std::thread::sleep(pause);
        pause = (pause * 2).min(Duration::from_millis(100));
    }
}

/// A loopback TCP port nobody listens on right now. The kernel picks it; the
/// caller binds it again soon after, so a collision is unlikely but possible:
/// fixtures retry on bind failure.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("no free loopback port")
}

/// Panics with a hint when a program the tests need is not installed.
pub fn require_program(name: &str) -> std::path::PathBuf {
    for dir in std::env::var("PATH")
        .unwrap_or_default()
        .split(':')
        .chain(["/usr/sbin", "/sbin"])
    {
        let p = std::path::Path::new(dir).join(name);
        if p.is_file() {
            return p;
        }
    }
    panic!("`{name}` is not installed: run `bash ci/setup` as root first");
}
