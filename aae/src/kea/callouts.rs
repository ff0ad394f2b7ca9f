//! Rust side of the callouts: decides which Kea events are exported and turns
//! the plain values from C++ into a [`Lease`] for the engine.
//!
//! The packet path is `on_lease`: one read of [`EXPORTER`] (an `RwLock` only
//! `load`/`unload` write and the engine's workers never take), building the
//! [`Lease`], and `Exporter::submit`, which never blocks.

use super::engine::{Export, Exporter};
use super::ffi::bridge::{LeaseView, Origin, resync_leases};
use super::{no_unwind, stats};
use crate::messages::{self, emit};
use lease_model::{Hostname, HwAddr, Lease, LeaseEvent, unix_now};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::atomic::{AtomicI64, AtomicU8, AtomicU64, Ordering};
use std::sync::{RwLock, RwLockReadGuard};

/// The running engine while the library is loaded. Packet threads only
/// read it, side by side; `load`/`unload` are the only writers, and Kea runs
/// no packet while they do. The engine's workers never touch this lock.
pub(super) static EXPORTER: RwLock<Option<Exporter>> = RwLock::new(None);

// Callouts on several packet threads share one `&Exporter`.
const _: fn() = || {
    fn shared_by_threads<T: Send + Sync>() {}
    shared_by_threads::<Exporter>();
};

/// The current engine. A poisoned lock only means a holder panicked; the
/// `Option` inside is still whole. Never hold the guard while calling into
/// C++ code that may call back into `on_lease` (the resync walk): a waiting
/// writer would deadlock it.
pub(super) fn exporter() -> RwLockReadGuard<'static, Option<Exporter>> {
    EXPORTER.read().unwrap_or_else(|e| e.into_inner())
}

const DHCPV4_REQUEST: u8 = 3;
const DHCPV6_SOLICIT: u8 = 1;
const DHCPV6_REQUEST: u8 = 3;
const DHCPV6_RENEW: u8 = 5;
const DHCPV6_REBIND: u8 = 6;
const LEASE_TYPE_PD: u8 = 2;
const STATE_DEFAULT: u32 = 0;

/// What to do with one lease Kea reported.
#[derive(Debug, PartialEq, Eq)]
enum Decision {
    /// Not an event aae exports (an offer, a release seen twice, ...).
    Ignore,
    /// An event aae would export but cannot: counted as skipped.
    Skip,
    Export {
        event: LeaseEvent,
        notify: bool,
    },
}

/// The hook-point choice, in one place (see ARCHITECTURE.md, "Which hook
/// points"): grants and renewals come from `leases*_committed`, which runs
/// after the lease database was written and never for an offer; releases,
/// declines and expiries from their own hook points.
fn decide(origin: Origin, v: &LeaseView<'_>, now: i64) -> Decision {
    let granted = match (v.family, v.query_type) {
        (4, DHCPV4_REQUEST) if v.ciaddr_set => Some(LeaseEvent::Renew),
        (4, DHCPV4_REQUEST) => Some(LeaseEvent::Select),
        (6, DHCPV6_REQUEST) => Some(LeaseEvent::Select),
        (6, DHCPV6_SOLICIT) if v.rapid_commit => Some(LeaseEvent::Select),
        (6, DHCPV6_RENEW) => Some(LeaseEvent::Renew),
        (6, DHCPV6_REBIND) => Some(LeaseEvent::Rebind),
        _ => None,
    };
    let (event, notify) = match origin {
        Origin::Committed => match granted {
            Some(e) => (e, true),
            None => return Decision::Ignore,
        },
        // The client moved to another address, or dropped one of its IAs.
        Origin::CommittedDeleted => match granted {
            Some(_) => (LeaseEvent::Release, true),
            None => return Decision::Ignore,
        },
        Origin::Release => (LeaseEvent::Release, true),
        Origin::Decline => (LeaseEvent::Decline, true),
        Origin::Expire => (LeaseEvent::Expire, true),
        Origin::Resync => {
            let expired = v.valid_lft != lease_model::INFINITE_LIFETIME
                && v.cltt.saturating_add(i64::from(v.valid_lft)) <= now;
            if v.state != STATE_DEFAULT || expired {
                return Decision::Ignore;
            }
            (LeaseEvent::Select, false)
        }
        _ => return Decision::Ignore,
    };
    // A delegated prefix is not an address a MAC answers ARP for, and an
    // address without a MAC cannot be mapped.
    if (v.family == 6 && v.lease_type == LEASE_TYPE_PD) || v.hwaddr.is_empty() {
        return Decision::Skip;
    }
    Decision::Export { event, notify }
}

fn to_lease(v: &LeaseView<'_>, event: LeaseEvent) -> Option<Lease> {
    let ip = match v.family {
        4 => IpAddr::V4(Ipv4Addr::new(v.ip[0], v.ip[1], v.ip[2], v.ip[3])),
        6 => IpAddr::V6(Ipv6Addr::from(v.ip)),
        _ => return None,
    };
    let hwaddr = HwAddr::from_bytes(v.hwaddr).ok()?;
    Some(Lease::new(
        ip,
        hwaddr,
        v.valid_lft,
        v.cltt,
        Hostname::from_bytes(v.hostname),
        v.subnet_id,
        event,
    ))
}

/// Leases submitted by the resync walk in progress (main thread only).
static RESYNC_SUBMITTED: AtomicU64 = AtomicU64::new(0);

pub(super) fn on_lease(origin: Origin, v: &LeaseView<'_>) {
    no_unwind("lease callout", (), || {
        let guard = exporter();
        let Some(exp) = guard.as_ref() else { return };
        match decide(origin, v, unix_now()) {
            Decision::Ignore => {}
            Decision::Skip => exp.count_skipped(),
            Decision::Export { event, notify } => match to_lease(v, event) {
                Some(lease) => {
                    exp.submit(Export {
                        lease,
                        notify_arpwatch: notify,
                    });
                    if origin == Origin::Resync {
                        RESYNC_SUBMITTED.fetch_add(1, Ordering::Relaxed);
                    }
                }
                None => exp.count_skipped(),
            },
        }
    })
}

/// `dhcp4_srv_configured` / `dhcp6_srv_configured`: the lease database and
/// Kea's timers are ready now (they are not in `load`).
/// The family (4 or 6) of the server that configured us, for resyncs the
/// stats tick starts later.
static SERVER_FAMILY: AtomicU8 = AtomicU8::new(0);

pub(super) fn on_server_configured(family: u8) {
    no_unwind("server configured", (), || {
        if exporter().is_none() {
            return;
        }
        SERVER_FAMILY.store(family, Ordering::Relaxed);
        resync(family, "after (re)configuration");
        stats::start();
    })
}

/// Submits every current lease of Kea's lease database (to Redis only).
/// Main thread only: Kea's lease manager is not ours to touch elsewhere.
fn resync(family: u8, why: &str) {
    RESYNC_SUBMITTED.store(0, Ordering::Relaxed);
    match resync_leases(family) {
        Ok(total) => emit(
            messages::AAE_RESYNC,
            format_args!(
                "resync {why}: {} of {total} leases in Kea's lease database submitted",
                RESYNC_SUBMITTED.load(Ordering::Relaxed)
            ),
        ),
        Err(e) => emit(
            messages::AAE_RESYNC_FAILED,
            format_args!("resync {why}: reading Kea's lease database failed: {e}"),
        ),
    }
}

/// Unix second of the last callout-error line, so a failing callout on every
/// packet logs once a second, not once a packet.
static LAST_ERROR_LOG: AtomicI64 = AtomicI64::new(i64::MIN);

pub(super) fn on_callout_error(hook: &str, what: &[u8]) {
    no_unwind("callout error", (), || {
        let t = unix_now();
        let last = LAST_ERROR_LOG.load(Ordering::Relaxed);
        if t > last
            && LAST_ERROR_LOG
                .compare_exchange(last, t, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            emit(
                messages::AAE_CALLOUT_FAILED,
                format_args!("{hook}: {}", String::from_utf8_lossy(what)),
            );
        }
    })
}

/// Kea's 1 s timer on its main thread: publish the counters, and rewrite
/// every lease if the workers found Redis restarted (it may be empty). The
/// guard is dropped before the walk, which calls back into `on_lease`.
pub(super) fn publish_stats() {
    no_unwind("publishing statistics", (), || {
        stats::publish();
        let wanted = exporter().as_ref().is_some_and(|e| e.take_resync_request());
        let family = SERVER_FAMILY.load(Ordering::Relaxed);
        if wanted && family != 0 {
            resync(family, "after Redis restarted or lost aae's keys");
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn view(family: u8, query_type: u8) -> LeaseView<'static> {
        LeaseView {
            family,
            ip: [192, 0, 2, 10, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
            hwaddr: &[0, 0x1b, 0x2c, 0xaa, 0xbb, 0x0f],
            hostname: b"h\xff",
            valid_lft: 3600,
            cltt: 1_000_000,
            subnet_id: 7,
            lease_type: 0,
            state: 0,
            query_type,
            rapid_commit: false,
            ciaddr_set: false,
        }
    }

    const NOW: i64 = 1_000_100;

    fn export(event: LeaseEvent, notify: bool) -> Decision {
        Decision::Export { event, notify }
    }

    #[test]
    fn v4_request_is_exported_and_offers_never() {
        let ack = view(4, DHCPV4_REQUEST);
        assert_eq!(
            decide(Origin::Committed, &ack, NOW),
            export(LeaseEvent::Select, true)
        );
        for other in [
            1, /* DISCOVER */
            4, /* DECLINE */
            7, /* RELEASE */
            8, /* INFORM */
        ] {
            assert_eq!(
                decide(Origin::Committed, &view(4, other), NOW),
                Decision::Ignore
            );
        }
        assert_eq!(
            decide(Origin::CommittedDeleted, &ack, NOW),
            export(LeaseEvent::Release, true)
        );
        let renewing = LeaseView {
            ciaddr_set: true,
            ..view(4, DHCPV4_REQUEST)
        };
        assert_eq!(
            decide(Origin::Committed, &renewing, NOW),
            export(LeaseEvent::Renew, true)
        );
    }

    #[test]
    fn ending_hooks_map_to_their_events() {
        let v = view(4, 7);
        assert_eq!(
            decide(Origin::Release, &v, NOW),
            export(LeaseEvent::Release, true)
        );
        assert_eq!(
            decide(Origin::Decline, &v, NOW),
            export(LeaseEvent::Decline, true)
        );
        assert_eq!(
            decide(Origin::Expire, &view(4, 0), NOW),
            export(LeaseEvent::Expire, true)
        );
    }

    #[test]
    fn v6_by_message_type() {
        assert_eq!(
            decide(Origin::Committed, &view(6, DHCPV6_REQUEST), NOW),
            export(LeaseEvent::Select, true)
        );
        assert_eq!(
            decide(Origin::Committed, &view(6, DHCPV6_RENEW), NOW),
            export(LeaseEvent::Renew, true)
        );
        assert_eq!(
            decide(Origin::Committed, &view(6, DHCPV6_REBIND), NOW),
            export(LeaseEvent::Rebind, true)
        );
        assert_eq!(
            decide(Origin::Committed, &view(6, DHCPV6_SOLICIT), NOW),
            Decision::Ignore
        );
        let rapid = LeaseView {
            rapid_commit: true,
            ..view(6, DHCPV6_SOLICIT)
        };
        assert_eq!(
            decide(Origin::Committed, &rapid, NOW),
            export(LeaseEvent::Select, true)
        );
    }

    #[test]
    fn v6_without_hwaddr_and_prefixes_are_skipped() {
        let no_mac = LeaseView {
            hwaddr: &[],
            ..view(6, DHCPV6_REQUEST)
        };
        assert_eq!(decide(Origin::Committed, &no_mac, NOW), Decision::Skip);
        let pd = LeaseView {
            lease_type: LEASE_TYPE_PD,
            ..view(6, DHCPV6_REQUEST)
        };
        assert_eq!(decide(Origin::Committed, &pd, NOW), Decision::Skip);
        let pd_offer = LeaseView {
            lease_type: LEASE_TYPE_PD,
            ..view(6, DHCPV6_SOLICIT)
        };
        assert_eq!(decide(Origin::Committed, &pd_offer, NOW), Decision::Ignore);
    }

    #[test]
    fn resync_exports_live_leases_without_notifying_arpwatch() {
        let live = view(4, 0);
        assert_eq!(
            decide(Origin::Resync, &live, NOW),
            export(LeaseEvent::Select, false)
        );
        let expired = LeaseView {
            cltt: NOW - 3600,
            ..view(4, 0)
        };
        assert_eq!(decide(Origin::Resync, &expired, NOW), Decision::Ignore);
        let declined = LeaseView {
            state: 1,
            ..view(4, 0)
        };
        assert_eq!(decide(Origin::Resync, &declined, NOW), Decision::Ignore);
        let forever = LeaseView {
            valid_lft: u32::MAX,
            cltt: 0,
            ..view(4, 0)
        };
        assert_eq!(
            decide(Origin::Resync, &forever, NOW),
            export(LeaseEvent::Select, false)
        );
    }

    #[test]
    fn lease_values_survive_the_conversion() {
        let l = to_lease(&view(4, DHCPV4_REQUEST), LeaseEvent::Select).unwrap();
        assert_eq!(l.ip, "192.0.2.10".parse::<IpAddr>().unwrap());
        assert_eq!(l.hwaddr.to_string(), "00:1b:2c:aa:bb:0f");
        assert_eq!(l.hostname.as_bytes(), b"h\xff");
        assert_eq!(
            (l.valid_lifetime, l.cltt, l.subnet_id),
            (3600, 1_000_000, 7)
        );
        let mut v6 = view(6, DHCPV6_REQUEST);
        v6.ip = "2001:db8::5".parse::<Ipv6Addr>().unwrap().octets();
        assert_eq!(
            to_lease(&v6, LeaseEvent::Select).unwrap().ip,
            "2001:db8::5".parse::<IpAddr>().unwrap()
        );
    }
}
