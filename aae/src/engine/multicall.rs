//! Whether ARPwatch gets its notices batched in `system.multicall`: the
//! decision behind `arpwatch-multicall: "auto"`. No I/O and no clock of its
//! own (callers pass `now`); the ARPwatch sink asks it before each batch and
//! tells it what ARPwatch answered.
//!
//! Batching is what lets aae keep up with an ARPwatch that pays a lot per
//! request (Python's `SimpleXMLRPCServer` serves one request at a time), so
//! it is the default. But not every XML-RPC server has `system.multicall`,
//! and one without it must still get every notice: so "auto" tries it, and
//! falls back to one call per notice for as long as the server refuses it.
//! The fallback is checked again after ARPwatch was unreachable (a restart
//! may bring another server) and every [`RECHECK_EVERY`] (a restart quick
//! enough to go unnoticed).
//!
//! One `Choice` is shared by every worker's sink: they talk to the same
//! server, so what one learns holds for all, and it is logged once.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::config::Multicall;

/// How long a fallback to single calls holds before `system.multicall` is
/// tried again (one request, whose notices are sent again if it fails).
pub(crate) const RECHECK_EVERY: Duration = Duration::from_secs(600);

/// How the next batch is to be sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Plan {
    /// One `system.multicall` request.
    Multicall,
    /// Not known (first contact, or a check is due): ask ARPwatch's
    /// `system.listMethods`, then send as a multicall unless that rules it out.
    Probe,
    /// One call per notice.
    Single,
}

/// What a probe or a multicall showed about the server.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// A multicall was answered with one result per call.
    Serves,
    /// ARPwatch does not serve `system.multicall`; the text says how it told.
    Refuses(String),
}

pub(crate) struct Choice {
    mode: Multicall,
    state: Mutex<State>,
}

#[derive(Debug)]
struct State {
    known: Known,
    /// The decision last logged, so that a check which confirms it is silent.
    logged: Option<bool>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Known {
    Unchecked,
    Serves,
    Refuses { recheck_at: Instant },
}

impl Choice {
    pub fn new(mode: Multicall) -> Choice {
        Choice {
            mode,
            state: Mutex::new(State {
                known: Known::Unchecked,
                logged: None,
            }),
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn plan(&self, now: Instant) -> Plan {
        match self.mode {
            Multicall::On => Plan::Multicall,
            Multicall::Off => Plan::Single,
            Multicall::Auto => match self.state().known {
                Known::Unchecked => Plan::Probe,
                Known::Serves => Plan::Multicall,
                Known::Refuses { recheck_at } if now >= recheck_at => Plan::Probe,
                Known::Refuses { .. } => Plan::Single,
            },
        }
    }

    /// Whether a refusal falls back to single calls (only in auto mode; with
    /// `true` the operator asked for multicall and gets told it fails).
    pub fn may_fall_back(&self) -> bool {
        self.mode == Multicall::Auto
    }

    /// Records what ARPwatch showed. True when this decides differently from
    /// the last decision logged (or is the first): the caller logs it.
    pub fn learned(&self, verdict: &Verdict, now: Instant) -> bool {
        if self.mode != Multicall::Auto {
            return false;
        }
        let mut s = self.state();
        let serves = *verdict == Verdict::Serves;
        s.known = if serves {
            Known::Serves
        } else {
            Known::Refuses {
                recheck_at: now + RECHECK_EVERY,
            }
        };
        let news = s.logged != Some(serves);
        s.logged = Some(serves);
        news
    }

    /// ARPwatch could not be reached: what answers when it is back may be
    /// another server, so a fallback is checked again then. A server known
    /// to serve multicall needs no check: if it no longer does, the next
    /// multicall's fault says so.
    pub fn unreachable(&self) {
        let mut s = self.state();
        if matches!(s.known, Known::Refuses { .. }) {
            s.known = Known::Unchecked;
        }
    }
}

/// Reads a `system.listMethods` answer: `Some(false)` when it is a list of
/// names without `system.multicall`, `Some(true)` when the name is in it,
/// `None` when the answer is no such list (then only trying tells).
pub(crate) fn lists_multicall(answer: &arpwatch_rpc::Value) -> Option<bool> {
    let names = answer.as_array()?;
    let mut listed = false;
    for name in names {
        listed |= name.as_str()? == arpwatch_rpc::multicall::METHOD;
    }
    Some(listed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use arpwatch_rpc::Value;

    fn refused() -> Verdict {
        Verdict::Refuses("fault 1".into())
    }

    #[test]
    fn true_and_false_never_change() {
        let t0 = Instant::now();
        for (mode, plan) in [
            (Multicall::On, Plan::Multicall),
            (Multicall::Off, Plan::Single),
        ] {
            let c = Choice::new(mode);
            assert!(!c.may_fall_back());
            assert_eq!(c.plan(t0), plan);
            assert!(!c.learned(&refused(), t0));
            assert!(!c.learned(&Verdict::Serves, t0));
            c.unreachable();
            assert_eq!(c.plan(t0 + RECHECK_EVERY * 2), plan);
        }
    }

    #[test]
    fn auto_probes_first_then_keeps_what_it_learned() {
        let t0 = Instant::now();
        let c = Choice::new(Multicall::Auto);
        assert!(c.may_fall_back());
        assert_eq!(c.plan(t0), Plan::Probe);
        assert!(
            c.learned(&Verdict::Serves, t0),
            "the first decision is logged"
        );
        assert_eq!(c.plan(t0 + RECHECK_EVERY * 10), Plan::Multicall);
        // An outage does not put a server that serves it in doubt.
        c.unreachable();
        assert_eq!(c.plan(t0), Plan::Multicall);
        // A later multicall fault (another server on the same URL) falls back.
        assert!(c.learned(&refused(), t0));
        assert_eq!(c.plan(t0), Plan::Single);
    }

    #[test]
    fn a_fallback_is_checked_again_after_an_outage_or_in_time_and_logged_only_when_it_changes() {
        let t0 = Instant::now();
        let c = Choice::new(Multicall::Auto);
        assert!(c.learned(&refused(), t0));
        assert_eq!(c.plan(t0), Plan::Single);
        assert_eq!(
            c.plan(t0 + RECHECK_EVERY - Duration::from_secs(1)),
            Plan::Single
        );
        let t1 = t0 + RECHECK_EVERY;
        assert_eq!(c.plan(t1), Plan::Probe);
        assert!(!c.learned(&refused(), t1), "a confirmation is silent");
        assert_eq!(c.plan(t1 + Duration::from_secs(1)), Plan::Single);
        c.unreachable();
        assert_eq!(c.plan(t1), Plan::Probe, "re-checked once ARPwatch is back");
        assert!(c.learned(&Verdict::Serves, t1), "the switch back is logged");
        assert_eq!(c.plan(t1), Plan::Multicall);
    }

    #[test]
    fn list_methods_answers() {
        let names = |n: &[&str]| Value::Array(n.iter().map(|s| Value::from(*s)).collect());
        assert_eq!(
            lists_multicall(&names(&["arpwatch.lease_seen", "system.multicall"])),
            Some(true)
        );
        assert_eq!(
            lists_multicall(&names(&["arpwatch.lease_seen", "system.listMethods"])),
            Some(false)
        );
        assert_eq!(lists_multicall(&Value::Nil), None);
        assert_eq!(lists_multicall(&Value::Array(vec![Value::Int(1)])), None);
    }
}
