//! Whether a sink is failing: when to try it next, and what to tell the
//! operator without flooding Kea's log.
//!
//! One `Health` per sink is shared by every worker, so while Redis is down
//! all workers wait out the same backoff instead of each hammering it.

use std::fmt;
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::messages::{Log, Message};

/// First pause after a failure; doubles per consecutive failure up to the
/// configured maximum.
const FIRST_BACKOFF: Duration = Duration::from_millis(100);

/// While a sink stays down, at most one line per this interval.
const LOG_EVERY: Duration = Duration::from_secs(30);

pub(crate) struct Health {
    sink: &'static str,
    down: Message,
    log_to: Log,
    up: Message,
    max_backoff: Duration,
    state: Mutex<State>,
}

struct State {
    /// Consecutive failed sends; 0 while healthy.
    failures: u32,
    retry_at: Option<Instant>,
    down_since: Option<Instant>,
    /// A "down" line was logged for this outage, so its end is logged too.
    /// Outages too close to the previous line pass silently both ways: a
    /// flapping sink gives one line per [`LOG_EVERY`], not two per flap.
    announced: bool,
    log: RateLimit,
    rng: u64,
}

impl Health {
    pub fn new(
        sink: &'static str,
        down: Message,
        up: Message,
        max_backoff: Duration,
        log_to: Log,
    ) -> Health {
        Health {
            sink,
            down,
            log_to,
            up,
            max_backoff: max_backoff.max(FIRST_BACKOFF),
            state: Mutex::new(State {
                failures: 0,
                retry_at: None,
                down_since: None,
                announced: false,
                log: RateLimit::new(LOG_EVERY),
                rng: seed(),
            }),
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// When the sink may be tried again, if that is still in the future.
    pub fn retry_at(&self) -> Option<Instant> {
        self.state().retry_at.filter(|at| *at > Instant::now())
    }

    /// Records a failed send, schedules the next try with exponential
    /// backoff and jitter, and logs it unless a line was logged less than
    /// [`LOG_EVERY`] ago.
    pub fn failed(&self, error: &dyn fmt::Display, pending: usize) {
        let now = Instant::now();
        let mut s = self.state();
        s.failures = s.failures.saturating_add(1);
        let exp = FIRST_BACKOFF.saturating_mul(1 << s.failures.saturating_sub(1).min(16));
        let ceiling = exp.min(self.max_backoff);
        // "Equal jitter": never less than half the ceiling, so a flapping
        // sink is not hammered, yet workers that failed together spread out.
        let half = ceiling / 2;
        let jitter = half.mul_f64((next_random(&mut s.rng) >> 11) as f64 / (1u64 << 53) as f64);
        s.retry_at = Some(now + half + jitter);
        let since = *s.down_since.get_or_insert(now);
        if let Some(suppressed) = s.log.allow(now) {
            s.announced = true;
            let (failures, next) = (s.failures, half + jitter);
            drop(s);
            self.log_to.emit(
                self.down,
                format_args!(
                    "{} failed: {error}; {pending} addresses pending, next try in {} ms \
                     ({failures} failures in a row over {} s, {suppressed} lines like this suppressed)",
                    self.sink,
                    next.as_millis(),
                    now.duration_since(since).as_secs(),
                ),
            );
        }
    }

    /// Records a successful send; logs the recovery if the failure was logged.
    pub fn succeeded(&self) {
        let mut s = self.state();
        if s.failures == 0 {
            return;
        }
        let failures = std::mem::take(&mut s.failures);
        s.retry_at = None;
        let down_for = s.down_since.take().map_or(Duration::ZERO, |t| t.elapsed());
        if !std::mem::take(&mut s.announced) {
            return;
        }
        drop(s);
        self.log_to.emit(
            self.up,
            format_args!(
                "{} is back after {failures} failed attempts over {} s",
                self.sink,
                down_for.as_secs()
            ),
        );
    }
}

/// Lets one line through per interval and counts the ones held back.
pub(crate) struct RateLimit {
    every: Duration,
    last: Option<Instant>,
    suppressed: u64,
}

impl RateLimit {
    pub fn new(every: Duration) -> RateLimit {
        RateLimit {
            every,
            last: None,
            suppressed: 0,
        }
    }

    /// `Some(lines suppressed since the last one let through)` when a line
    /// may be logged now.
    pub fn allow(&mut self, now: Instant) -> Option<u64> {
        match self.last {
            Some(t) if now.duration_since(t) < self.every => {
                self.suppressed += 1;
                None
            }
            _ => {
                self.last = Some(now);
                Some(std::mem::take(&mut self.suppressed))
            }
        }
    }
}

/// Jitter needs spread, not cryptographic quality: xorshift64* seeded from
/// the clock and the state's address is plenty, and needs no dependency.
fn seed() -> u64 {
    let t = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    let local = 0u8;
    (t ^ (&local as *const u8 as u64).rotate_left(32)) | 1
}

fn next_random(state: &mut u64) -> u64 {
    let mut x = *state;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *state = x;
    x.wrapping_mul(0x2545_F491_4F6C_DD1D)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::messages::{AAE_REDIS_DOWN, AAE_REDIS_UP};

    #[test]
    fn backoff_grows_with_jitter_up_to_the_cap_and_resets() {
        let h = Health::new(
            "Redis",
            AAE_REDIS_DOWN,
            AAE_REDIS_UP,
            Duration::from_secs(2),
            crate::messages::Log::STDERR,
        );
        let mut waits = Vec::new();
        for _ in 0..10 {
            let before = Instant::now();
            h.failed(&"refused", 3);
            let at = h.state().retry_at.unwrap();
            waits.push(at.duration_since(before));
        }
        assert!(waits[0] >= Duration::from_millis(50) && waits[0] <= Duration::from_millis(101));
        assert!(waits[3] >= Duration::from_millis(400), "{waits:?}");
        assert!(
            waits.iter().all(|w| *w <= Duration::from_millis(2001)),
            "{waits:?}"
        );
        assert!(waits[9] >= Duration::from_secs(1), "{waits:?}");
        assert!(h.retry_at().is_some());
        h.succeeded();
        assert!(h.retry_at().is_none());
        assert_eq!(h.state().failures, 0);
    }

    #[test]
    fn a_flapping_sink_is_announced_once_per_interval() {
        let h = Health::new(
            "Redis",
            AAE_REDIS_DOWN,
            AAE_REDIS_UP,
            Duration::from_secs(2),
            crate::messages::Log::STDERR,
        );
        h.failed(&"refused", 1);
        assert!(h.state().announced);
        h.succeeded();
        assert!(!h.state().announced);
        // Down again at once: not announced, so its recovery is not either.
        h.failed(&"refused", 1);
        assert!(!h.state().announced);
        assert_eq!(h.state().log.suppressed, 1);
        h.succeeded();
        assert!(h.retry_at().is_none());
    }

    #[test]
    fn rate_limit_counts_what_it_holds_back() {
        let mut r = RateLimit::new(Duration::from_secs(30));
        let t = Instant::now();
        assert_eq!(r.allow(t), Some(0));
        assert_eq!(r.allow(t + Duration::from_secs(1)), None);
        assert_eq!(r.allow(t + Duration::from_secs(2)), None);
        assert_eq!(r.allow(t + Duration::from_secs(31)), Some(2));
    }
}
