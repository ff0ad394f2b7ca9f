//! Rust side of the callouts: decides which Kea events are exported and turns
//! the plain values from C++ into a [`Lease`] for the engine.
//!
//! The packet path is `on_lease`: one read of [`EXPORTER`] (an `RwLock` only
//! `load`/`unload` write and the engine's workers never take), building the
//! [`Lease`], and `Exporter::submit`, which never blocks.

use super::commands::{self, Source};
use super::emit;
use super::engine::{Export, Exporter};
use super::ffi::bridge::{LeaseView, Origin, lease_by_address, walk_page};
use super::{no_unwind, stats};
use crate::messages;
use lease_model::{Hostname, HwAddr, Lease, LeaseEvent, unix_now};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU8, Ordering};
use std::sync::{Mutex, RwLock, RwLockReadGuard};
use std::time::{Duration, Instant};

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
use super::lease_state::{
    DECLINED as STATE_DECLINED, DEFAULT as STATE_DEFAULT,
    EXPIRED_RECLAIMED as STATE_EXPIRED_RECLAIMED,
};

/// What to do with one lease Kea reported.
#[derive(Debug, PartialEq, Eq)]
enum Decision {
    /// Not an event aae exports (an offer, a release seen twice, ...).
    Ignore,
    /// An event aae would export but cannot: counted as skipped.
    Skip,
    /// A lease the walk found in the database that Redis need not be told
    /// of again (expired, waiting for reclamation), but whose key must not
    /// be swept before it expires.
    Keep,
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
        // An offer is not a lease the client holds (and no ARP answer is
        // promised for it): the REQUEST that follows commits it.
        Origin::Resync | Origin::Command if v.offered => return Decision::Ignore,
        Origin::Resync => {
            let expired = v.valid_lft != lease_model::INFINITE_LIFETIME
                && v.cltt.saturating_add(i64::from(v.valid_lft)) <= now;
            // Kea 2.6 keeps a released lease with lifetime 0; 3.0 also marks it.
            if v.state != STATE_DEFAULT || v.valid_lft == 0 {
                return Decision::Ignore;
            }
            if expired {
                return match v.hwaddr.is_empty() {
                    true => Decision::Ignore,
                    false => Decision::Keep,
                };
            }
            (LeaseEvent::Select, false)
        }
        // What an operator's command left in the database, as it is now.
        Origin::Command => {
            let event = match v.state {
                _ if v.valid_lft == 0 => LeaseEvent::Release,
                STATE_DEFAULT => LeaseEvent::Select,
                STATE_DECLINED => LeaseEvent::Decline,
                STATE_EXPIRED_RECLAIMED => LeaseEvent::Expire,
                _ => LeaseEvent::Release,
            };
            (event, true)
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

pub(super) fn on_lease(origin: Origin, v: &LeaseView<'_>) {
    no_unwind("lease callout", (), || {
        let guard = exporter();
        let Some(exp) = guard.as_ref() else { return };
        let decision = decide(origin, v, unix_now());
        if origin == Origin::Resync
            && let Some(w) = lock(&WALK).as_mut()
        {
            w.read += 1;
        }
        match decision {
            Decision::Ignore => {}
            Decision::Skip => exp.count_skipped(),
            Decision::Keep => {
                if let Some(lease) = to_lease(v, LeaseEvent::Select) {
                    exp.reconcile_lease(lease, false);
                }
            }
            Decision::Export { event, notify } => match to_lease(v, event) {
                Some(lease) if origin == Origin::Resync => exp.reconcile_lease(lease, true),
                Some(lease) => exp.submit(Export {
                    lease,
                    notify_arpwatch: notify,
                }),
                None => exp.count_skipped(),
            },
        }
    })
}

/// `dhcp4_srv_configured` / `dhcp6_srv_configured`: the lease database and
/// Kea's timers are ready now (they are not in `load`).
/// The family (4 or 6) of the server that configured us, for the walks the
/// stats tick runs later.
static SERVER_FAMILY: AtomicU8 = AtomicU8::new(0);

/// Whether an HA partner's updates are told to this server's ARPwatch too
/// (`arpwatch-partner-updates`); set at load.
pub(super) static PARTNER_NOTIFY: AtomicBool = AtomicBool::new(false);

pub(super) fn on_server_configured(family: u8) {
    no_unwind("server configured", (), || {
        if exporter().is_none() {
            return;
        }
        SERVER_FAMILY.store(family, Ordering::Relaxed);
        *lock(&HA_STATE) = None;
        *lock(&WALK) = None;
        want_reconcile("after (re)configuration".into());
        // Kea serves no packet until this returns: walk the whole database now.
        walk(None);
        stats::start();
    })
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// A reconciliation waiting for the main thread's next tick, and why.
static WANTED: Mutex<Option<String>> = Mutex::new(None);

/// Asks for a reconciliation; callable from any thread. Requests that come
/// while one waits are the same request.
fn want_reconcile(why: String) {
    lock(&WANTED).get_or_insert(why);
}

/// The walk in progress (main thread only, but `on_lease` counts in it).
struct Walk {
    /// Where the next page starts (after this address).
    from: [u8; 16],
    read: u64,
    started: Instant,
    why: String,
}

static WALK: Mutex<Option<Walk>> = Mutex::new(None);

/// Leases per page of the walk: a page is one lock of memfile's lease
/// manager, held while it copies that many leases.
const WALK_PAGE: u32 = 1000;

/// How long one tick of Kea's main thread may walk, so that packets still
/// reach Kea's threads (in multi-threaded mode the main thread receives them).
const WALK_BUDGET: Duration = Duration::from_millis(20);

/// Starts a wanted reconciliation and walks its pages: within `budget`, or
/// to the end with `None`. Main thread only, never holding the engine's lock
/// across a page (the page calls back into `on_lease`).
fn walk(budget: Option<Duration>) {
    let family = SERVER_FAMILY.load(Ordering::Relaxed);
    if family == 0 {
        return;
    }
    let start = Instant::now();
    if lock(&WALK).is_none() {
        let Some(why) = lock(&WANTED).take() else {
            return;
        };
        let began = exporter().as_ref().is_some_and(|e| e.reconcile_begin(&why));
        if !began {
            // The last one is still sweeping: this one comes next.
            want_reconcile(why);
            return;
        }
        *lock(&WALK) = Some(Walk {
            from: [0; 16],
            read: 0,
            started: start,
            why,
        });
    }
    loop {
        let Some(from) = lock(&WALK).as_ref().map(|w| w.from) else {
            return;
        };
        let page = walk_page(family, &from, WALK_PAGE);
        let mut guard = lock(&WALK);
        let Some(w) = guard.as_mut() else { return };
        match page {
            Ok(page) if page.count == WALK_PAGE => w.from = page.last,
            // The last page, or a failure: the walk ends either way.
            ended => {
                let w = guard.take().expect("checked above");
                drop(guard);
                end_walk(w, ended.map(|_| ()));
                return;
            }
        }
        drop(guard);
        if budget.is_some_and(|b| start.elapsed() >= b) {
            return;
        }
    }
}

/// Hands a finished walk to the sweep, or an abandoned one back, and says so.
fn end_walk(w: Walk, read: Result<(), cxx::Exception>) {
    let guard = exporter();
    match read {
        Ok(()) => {
            if let Some(exp) = guard.as_ref() {
                exp.reconcile_walked();
            }
            emit(
                messages::AAE_RESYNC,
                format_args!(
                    "resync {}: {} leases read from Kea's lease database in {} ms",
                    w.why,
                    w.read,
                    w.started.elapsed().as_millis()
                ),
            );
        }
        Err(e) => {
            if let Some(exp) = guard.as_ref() {
                exp.reconcile_abandon();
            }
            emit(
                messages::AAE_RESYNC_FAILED,
                format_args!(
                    "resync {}: reading Kea's lease database failed after {} leases: {e}",
                    w.why, w.read
                ),
            );
        }
    }
}

/// The HA state this server last answered its partner's heartbeat with.
static HA_STATE: Mutex<Option<String>> = Mutex::new(None);

/// States in which HA has not yet written the partner's leases: a change
/// into any other one may follow a sync, which no hook point reports.
const HA_UNSYNCED: [&str; 2] = ["waiting", "syncing"];

fn ha_state_seen(state: &str) {
    let before = {
        let mut last = lock(&HA_STATE);
        if last.as_deref() == Some(state) {
            return;
        }
        last.replace(state.to_owned())
    };
    let reconcile = !HA_UNSYNCED.contains(&state);
    emit(
        messages::AAE_HA_STATE,
        format_args!(
            "HA state {} -> {state} (as answered to the partner's heartbeat){}",
            before.as_deref().unwrap_or("unknown"),
            if reconcile {
                "; reconciling Redis with Kea's lease database"
            } else {
                ""
            }
        ),
    );
    if reconcile {
        want_reconcile(format!("after the HA state changed to {state}"));
    }
}

pub(super) fn command_wanted(name: &str) -> bool {
    no_unwind("command_processed", false, || commands::wanted(name))
}

/// Unix second of the last skipped-command line (see [`LAST_ERROR_LOG`]).
static LAST_SKIP_LOG: AtomicI64 = AtomicI64::new(i64::MIN);

/// `command_processed`, for the commands [`commands::wanted`] names: on
/// Kea's main thread or one of HA's listener threads. Never waits on a sink.
pub(super) fn on_command(name: &str, arguments: &[u8], response: &[u8]) {
    no_unwind("command_processed", (), || {
        let now = unix_now();
        let mut fx = commands::interpret(name, arguments, response, now);
        if let Some(state) = &fx.ha_state {
            ha_state_seen(state);
        }
        if let Some(why) = fx.reconcile {
            want_reconcile(why.into());
        }
        // Read back before taking the engine's lock: the read calls on_lease.
        let family = SERVER_FAMILY.load(Ordering::Relaxed);
        for ip in &fx.lookups {
            let octets = match ip {
                IpAddr::V4(a) => {
                    let mut o = [0; 16];
                    o[..4].copy_from_slice(&a.octets());
                    o
                }
                IpAddr::V6(a) => a.octets(),
            };
            let fam = if ip.is_ipv4() { 4 } else { 6 };
            if fam != family {
                fx.skipped
                    .push(format!("{name}: {ip} is not of this DHCPv{family} server"));
                continue;
            }
            match lease_by_address(fam, &octets) {
                Ok(true) => {}
                Ok(false) => fx.skipped.push(format!(
                    "{name}: no lease for {ip} in Kea's lease database after the command"
                )),
                Err(e) => fx
                    .skipped
                    .push(format!("{name}: reading the lease of {ip} failed: {e}")),
            }
        }
        let guard = exporter();
        let Some(exp) = guard.as_ref() else { return };
        let partner_notify = PARTNER_NOTIFY.load(Ordering::Relaxed);
        for (lease, source) in fx.leases {
            let notify_arpwatch = match source {
                Source::Operator => true,
                Source::Partner => partner_notify,
            };
            exp.submit(Export {
                lease,
                notify_arpwatch,
            });
        }
        for ip in fx.forgets {
            exp.forget(ip);
        }
        for _ in 0..fx.unmapped + fx.skipped.len() as u64 {
            exp.count_skipped();
        }
        drop(guard);
        if let Some(first) = fx.skipped.first() {
            let last = LAST_SKIP_LOG.load(Ordering::Relaxed);
            if now > last
                && LAST_SKIP_LOG
                    .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                    .is_ok()
            {
                let more = match fx.skipped.len() {
                    1 => String::new(),
                    n => format!(" (and {} more in this command)", n - 1),
                };
                emit(messages::AAE_COMMAND_SKIPPED, format_args!("{first}{more}"));
            }
        }
    })
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

/// Kea's 1 s timer on its main thread: publish the counters, and walk the
/// lease database for a reconciliation that is wanted (the workers found
/// Redis restarted or flushed, a command or an HA state change asked) or
/// under way, a budget's worth of pages per tick.
pub(super) fn publish_stats() {
    no_unwind("publishing statistics", (), || {
        stats::publish();
        if exporter().as_ref().is_some_and(|e| e.take_resync_request()) {
            want_reconcile("after Redis restarted or lost aae's keys".into());
        }
        walk(Some(WALK_BUDGET));
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
            offered: false,
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
        // Not written again, but not swept either: its key expires by itself.
        assert_eq!(decide(Origin::Resync, &expired, NOW), Decision::Keep);
        let declined = LeaseView {
            state: 1,
            ..view(4, 0)
        };
        assert_eq!(decide(Origin::Resync, &declined, NOW), Decision::Ignore);
        let released_kept = LeaseView {
            valid_lft: 0,
            ..view(4, 0)
        };
        assert_eq!(
            decide(Origin::Resync, &released_kept, NOW),
            Decision::Ignore
        );
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
    fn an_offer_read_from_the_database_is_not_exported() {
        let offered = LeaseView {
            offered: true,
            ..view(4, 0)
        };
        // Not even kept: the address's old key (another client's) may go.
        assert_eq!(decide(Origin::Resync, &offered, NOW), Decision::Ignore);
        assert_eq!(decide(Origin::Command, &offered, NOW), Decision::Ignore);
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
