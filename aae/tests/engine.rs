//! The engine against a real `redis-server` and a real (Python) ARPwatch
//! stand-in: what arrives, and what survives outages.

mod common;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use common::*;
use dhcp_aae::config::Config;
use dhcp_aae::engine::{Export, Exporter};
use lease_model::{Hostname, INFINITE_LIFETIME, Lease, LeaseEvent};
use system_tests::arpwatch::{ArpwatchStandin, Behaviour};
use system_tests::redis::RedisServer;

fn export(lease: Lease) -> Export {
    Export {
        lease,
        notify_arpwatch: true,
    }
}

/// Submits every lease and returns the slowest single `submit`.
fn submit_all(exporter: &Exporter, leases: impl IntoIterator<Item = Lease>) -> Duration {
    let mut slowest = Duration::ZERO;
    for l in leases {
        let t = Instant::now();
        exporter.submit(export(l));
        slowest = slowest.max(t.elapsed());
    }
    slowest
}

/// A bound on one `submit` that only a blocking one breaks: loose enough for
/// a preempted thread on a loaded 2-core CI machine.
const SUBMIT_BOUND: Duration = Duration::from_millis(50);

#[test]
fn a_burst_reaches_redis_and_arpwatch_with_matching_fields() {
    let redis = RedisServer::start();
    let arpwatch = ArpwatchStandin::start();
    let exporter =
        Exporter::start(config(&redis.url(), Some((&arpwatch.url(), false)), "")).unwrap();
    const N: u32 = 500;
    let leases: Vec<Lease> = (0..N).map(|i| lease(i, 1, LeaseEvent::Select)).collect();
    submit_all(&exporter, leases.clone());

    let want: HashMap<u32, Option<Lease>> = (0..N)
        .map(|i| (i, Some(leases[i as usize].clone())))
        .collect();
    wait_for_redis(&redis, &want);
    for (i, l) in leases.iter().enumerate() {
        let r = stored(&redis, i as u32).unwrap();
        assert_eq!(r.node, NODE);
        assert_eq!(r.lease.hwaddr, l.hwaddr);
        // TTL: the lease's time left plus grace, give or take the test's own run time.
        let ttl = redis.ttl(&format!("{PREFIX}{}", l.ip));
        let left = l.expires_at().unwrap() - now();
        assert!(
            ttl <= 3600 + GRACE && ttl >= left + GRACE - 2,
            "ttl {ttl}, left {left}"
        );
    }
    wait_for_arpwatch(
        &arpwatch,
        &leases
            .iter()
            .enumerate()
            .map(|(i, l)| (i as u32, l.clone()))
            .collect(),
    );
    // One notice per lease: nothing sent twice.
    assert_eq!(arpwatch.notices().len(), N as usize);
    let c = wait_for_counters(&exporter, "counters to settle", |c| c.backlog == 0);
    assert_eq!(
        (c.received, c.exported_redis, c.exported_arpwatch),
        (500, 500, 500)
    );
    assert_eq!((c.dropped, c.skipped, c.coalesced), (0, 0, 0));
    exporter.stop(Duration::from_secs(2));
}

#[test]
fn a_release_deletes_the_key_and_sends_lease_gone_batched_with_multicall() {
    let redis = RedisServer::start();
    let arpwatch = ArpwatchStandin::start();
    let exporter =
        Exporter::start(config(&redis.url(), Some((&arpwatch.url(), true)), "")).unwrap();
    let granted: Vec<Lease> = (0..200).map(|i| lease(i, 1, LeaseEvent::Select)).collect();
    submit_all(&exporter, granted.clone());
    wait_for_redis(
        &redis,
        &(0..200)
            .map(|i| (i, Some(granted[i as usize].clone())))
            .collect(),
    );

    let mut ended = HashMap::new();
    for (i, event) in (0..30).zip(
        [LeaseEvent::Release, LeaseEvent::Decline, LeaseEvent::Expire]
            .iter()
            .cycle(),
    ) {
        let l = lease(i, 1, *event);
        exporter.submit(export(l.clone()));
        ended.insert(i, l);
    }
    wait_for_redis(&redis, &ended.keys().map(|i| (*i, None)).collect());
    wait_for_arpwatch(&arpwatch, &ended);
    assert_eq!(stored(&redis, 30).unwrap().lease, granted[30]);
    let gone = arpwatch
        .notices()
        .iter()
        .filter(|n| n.method == "arpwatch.lease_gone")
        .count();
    assert_eq!(gone, 30);
    // Batched: fewer requests than notices.
    let batches = arpwatch.multicalls();
    assert!(!batches.is_empty() && batches.len() < 230, "{batches:?}");
    assert_eq!(batches.iter().sum::<usize>(), 230);
    exporter.stop(Duration::from_secs(2));
}

#[test]
fn redis_down_during_a_burst_then_back_ends_with_the_final_state_of_every_lease() {
    let mut redis = RedisServer::start();
    let exporter = Exporter::start(redis_config(&redis)).unwrap();
    let first: Vec<Lease> = (0..1000).map(|i| lease(i, 1, LeaseEvent::Select)).collect();
    submit_all(&exporter, first);
    // Kill Redis with most of the burst still pending or in flight.
    redis.stop();
    let mut want = HashMap::new();
    let slowest = submit_all(
        &exporter,
        (0..2000).map(|i| {
            // Half of the first burst changes hands; the second half releases.
            let l = match i {
                0..500 => lease(i, 2, LeaseEvent::Renew),
                1000.. => lease(i, 1, LeaseEvent::Select),
                _ => lease(i, 1, LeaseEvent::Release),
            };
            want.insert(i, (!l.event.ends_lease()).then(|| l.clone()));
            l
        }),
    );
    assert!(
        slowest < SUBMIT_BOUND,
        "a submit took {slowest:?} while Redis was down"
    );
    wait_for_counters(&exporter, "a failed write to be retried", |c| c.retried > 0);
    // Back, empty (no persistence): everything pending must be written now.
    redis.restart();
    wait_for_redis(&redis, &want);
    let c = wait_for_counters(&exporter, "the backlog to empty", |c| c.backlog == 0);
    assert_eq!(c.received, 3000);
    assert_eq!(c.dropped, 0);
    exporter.stop(Duration::from_secs(2));
}

#[test]
fn arpwatch_not_listening_blocks_nothing_and_gets_every_final_state_once_up() {
    let redis = RedisServer::start();
    let mut arpwatch = ArpwatchStandin::not_listening();
    let exporter =
        Exporter::start(config(&redis.url(), Some((&arpwatch.url(), true)), "")).unwrap();
    const N: u32 = 1000;
    let mut slowest = Duration::ZERO;
    let mut max_backlog = 0;
    let mut want = HashMap::new();
    for version in 1..=4u8 {
        let leases: Vec<Lease> = (0..N)
            .map(|i| {
                let event = if version == 4 && i % 10 == 0 {
                    LeaseEvent::Release
                } else {
                    LeaseEvent::Renew
                };
                lease(i, version, event)
            })
            .collect();
        for l in &leases {
            want.insert(
                l.ip.to_string()
                    .split('.')
                    .map(|o| o.parse::<u32>().unwrap())
                    .fold(0, |a, o| a * 256 + o)
                    - 0x0a00_0000,
                l.clone(),
            );
        }
        slowest = slowest.max(submit_all(&exporter, leases));
        max_backlog = max_backlog.max(exporter.counters().backlog);
    }
    assert!(
        slowest < SUBMIT_BOUND,
        "a submit took {slowest:?} while ARPwatch was down"
    );
    assert!(
        max_backlog <= u64::from(N),
        "backlog {max_backlog} exceeds the {N} distinct addresses"
    );
    // Redis is not held back by ARPwatch.
    wait_for_redis(
        &redis,
        &want
            .iter()
            .map(|(i, l)| (*i, (!l.event.ends_lease()).then(|| l.clone())))
            .collect(),
    );
    let c = exporter.counters();
    assert_eq!(c.exported_arpwatch, 0);
    assert!(c.backlog <= u64::from(N) && c.backlog > 0, "{c:?}");

    arpwatch.restart();
    wait_for_arpwatch(&arpwatch, &want);
    let c = wait_for_counters(&exporter, "the backlog to empty", |c| c.backlog == 0);
    assert!(c.coalesced > 0 && c.retried > 0, "{c:?}");
    exporter.stop(Duration::from_secs(2));
}

#[test]
fn a_thousand_updates_of_one_address_while_down_are_one_entry_and_the_last_wins() {
    let mut redis = RedisServer::start();
    redis.stop();
    let exporter = Exporter::start(redis_config(&redis)).unwrap();
    let mut last = None;
    for n in 0..1000u32 {
        let mut l = lease(5, (n % 250) as u8, LeaseEvent::Renew);
        l.hostname = Hostname::from_text(&format!("update-{n}"));
        last = Some(l.clone());
        exporter.submit(export(l));
        assert_eq!(exporter.counters().backlog, 1);
    }
    let c = exporter.counters();
    // Every update replaced a pending state, but the first and those that
    // each found the address in flight to the down Redis: one per failed
    // attempt (retried), plus one in flight now. A loaded machine makes a
    // few attempts while the loop runs.
    assert!(c.coalesced + c.retried + 1 >= 999, "{c:?}");
    assert!(c.retried < 100, "{c:?}");
    redis.restart();
    wait_for_redis(&redis, &HashMap::from([(5, last)]));
    wait_for_counters(&exporter, "the backlog to empty", |c| c.backlog == 0);
    exporter.stop(Duration::from_secs(2));
}

#[test]
fn a_full_backlog_drops_new_addresses_counts_them_and_never_blocks() {
    let mut redis = RedisServer::start();
    redis.stop();
    let exporter =
        Exporter::start(config(&redis.url(), None, r#", "queue-capacity": 10"#)).unwrap();
    let slowest = submit_all(&exporter, (0..100).map(|i| lease(i, 1, LeaseEvent::Select)));
    assert!(
        slowest < SUBMIT_BOUND,
        "a submit took {slowest:?} with the backlog full"
    );
    let c = exporter.counters();
    assert_eq!((c.received, c.dropped, c.backlog), (100, 90, 10), "{c:?}");
    // Known addresses still update while full.
    exporter.submit(export(lease(0, 2, LeaseEvent::Renew)));
    assert_eq!(exporter.counters().dropped, 90);
    redis.restart();
    let mut want: HashMap<u32, Option<Lease>> = (1..10)
        .map(|i| (i, Some(lease(i, 1, LeaseEvent::Select))))
        .collect();
    want.insert(0, Some(lease(0, 2, LeaseEvent::Renew)));
    // cltt is the second of creation; compare what matters.
    system_tests::wait_for("the 10 kept addresses in Redis", LONG, || {
        want.iter()
            .all(|(i, l)| {
                stored(&redis, *i).map(|r| r.lease.hwaddr) == l.as_ref().map(|l| l.hwaddr)
            })
            .then_some(())
    });
    assert!(stored(&redis, 10).is_none());
    exporter.stop(Duration::from_secs(2));
}

#[test]
fn leases_get_the_ttl_left_when_written_and_dead_ones_are_not_resurrected() {
    let redis = RedisServer::start();
    let exporter = Exporter::start(redis_config(&redis)).unwrap();
    let t = now();
    let mut old = lease(1, 1, LeaseEvent::Renew);
    old.cltt = t - 3000; // 600 s left
    let mut dead = lease(2, 1, LeaseEvent::Renew);
    dead.cltt = t - 3600 - GRACE - 10;
    let mut forever = lease(3, 1, LeaseEvent::Select);
    forever.valid_lifetime = INFINITE_LIFETIME;
    for l in [old.clone(), dead, forever.clone()] {
        exporter.submit(export(l));
    }
    wait_for_redis(
        &redis,
        &HashMap::from([(1, Some(old)), (2, None), (3, Some(forever))]),
    );
    let ttl = redis.ttl(&format!("{PREFIX}{}", ip(1)));
    assert!((600 + GRACE - 3..=600 + GRACE).contains(&ttl), "ttl {ttl}");
    assert_eq!(redis.ttl(&format!("{PREFIX}{}", ip(3))), -1);
    let c = wait_for_counters(&exporter, "all three handled", |c| c.backlog == 0);
    assert_eq!((c.exported_redis, c.skipped), (2, 1));
    exporter.count_skipped();
    assert_eq!(exporter.counters().skipped, 2);
    exporter.stop(Duration::from_secs(2));
}

#[test]
fn a_dead_lease_in_a_failed_batch_is_skipped_once_not_retried() {
    let mut redis = RedisServer::start();
    redis.stop();
    let exporter = Exporter::start(redis_config(&redis)).unwrap();
    let mut dead = lease(1, 1, LeaseEvent::Renew);
    dead.cltt = now() - 3600 - GRACE - 10;
    let live = lease(2, 1, LeaseEvent::Renew);
    exporter.submit(export(dead));
    exporter.submit(export(live.clone()));
    let c = wait_for_counters(&exporter, "a failed write", |c| c.retried > 0);
    assert_eq!((c.skipped, c.backlog), (1, 1), "{c:?}");
    redis.restart();
    wait_for_redis(&redis, &HashMap::from([(1, None), (2, Some(live))]));
    let c = wait_for_counters(&exporter, "the backlog to empty", |c| c.backlog == 0);
    assert_eq!((c.skipped, c.exported_redis), (1, 1), "{c:?}");
    exporter.stop(Duration::from_secs(2));
}

#[test]
fn resync_events_go_to_redis_only() {
    let redis = RedisServer::start();
    let arpwatch = ArpwatchStandin::start();
    let exporter =
        Exporter::start(config(&redis.url(), Some((&arpwatch.url(), false)), "")).unwrap();
    let resync = lease(1, 1, LeaseEvent::Renew);
    exporter.submit(Export {
        lease: resync.clone(),
        notify_arpwatch: false,
    });
    let live = lease(2, 1, LeaseEvent::Select);
    exporter.submit(export(live.clone()));
    wait_for_redis(
        &redis,
        &HashMap::from([(1, Some(resync)), (2, Some(live.clone()))]),
    );
    wait_for_arpwatch(&arpwatch, &HashMap::from([(2, live)]));
    wait_for_counters(&exporter, "the backlog to empty", |c| c.backlog == 0);
    assert_eq!(arpwatch.notices().len(), 1);
    exporter.stop(Duration::from_secs(2));
}

#[test]
fn a_resync_larger_than_the_backlog_loses_nothing() {
    // Kea's whole lease database arrives in one loop on Kea's main thread,
    // far faster than Redis takes it; it is bounded by the database, not by
    // an outage, so it is never dropped for capacity.
    let mut redis = RedisServer::start();
    redis.stop();
    let exporter =
        Exporter::start(config(&redis.url(), None, r#", "queue-capacity": 100"#)).unwrap();
    let leases: Vec<Lease> = (0..5000).map(|i| lease(i, 1, LeaseEvent::Renew)).collect();
    for l in &leases {
        exporter.submit(Export {
            lease: l.clone(),
            notify_arpwatch: false,
        });
    }
    let c = exporter.counters();
    assert_eq!((c.dropped, c.backlog), (0, 5000), "{c:?}");
    // Live events for new addresses are still bounded meanwhile.
    exporter.submit(export(lease(9999, 1, LeaseEvent::Select)));
    assert_eq!(exporter.counters().dropped, 1);
    redis.restart();
    wait_for_redis(
        &redis,
        &leases
            .iter()
            .enumerate()
            .map(|(i, l)| (i as u32, Some(l.clone())))
            .collect(),
    );
    exporter.stop(Duration::from_secs(2));
}

#[test]
fn redis_down_does_not_hold_back_arpwatch() {
    let mut redis = RedisServer::start();
    redis.stop();
    let arpwatch = ArpwatchStandin::start();
    let exporter =
        Exporter::start(config(&redis.url(), Some((&arpwatch.url(), true)), "")).unwrap();
    let leases: HashMap<u32, Lease> = (0..300)
        .map(|i| (i, lease(i, 1, LeaseEvent::Select)))
        .collect();
    submit_all(&exporter, leases.values().cloned());
    wait_for_arpwatch(&arpwatch, &leases);
    let c = wait_for_counters(&exporter, "ARPwatch's answers counted", |c| {
        c.exported_arpwatch == 300
    });
    assert_eq!(c.exported_redis, 0, "{c:?}");
    assert_eq!(c.backlog, 300, "still pending for Redis");
    exporter.stop(Duration::from_secs(1));
}

#[test]
fn faults_from_arpwatch_are_logged_not_retried_and_do_not_hold_back_redis() {
    let redis = RedisServer::start();
    let arpwatch = ArpwatchStandin::start_with(Behaviour {
        fault: true,
        ..Behaviour::default()
    });
    let exporter =
        Exporter::start(config(&redis.url(), Some((&arpwatch.url(), false)), "")).unwrap();
    let leases: Vec<Lease> = (0..20).map(|i| lease(i, 1, LeaseEvent::Select)).collect();
    submit_all(&exporter, leases.clone());
    wait_for_redis(
        &redis,
        &(0..20)
            .map(|i| (i, Some(leases[i as usize].clone())))
            .collect(),
    );
    let c = wait_for_counters(&exporter, "every notice answered", |c| c.backlog == 0);
    assert_eq!(
        (c.exported_redis, c.exported_arpwatch, c.skipped, c.retried),
        (20, 0, 20, 0),
        "{c:?}"
    );
    assert_eq!(arpwatch.notices().len(), 20);
    exporter.stop(Duration::from_secs(2));
}

#[test]
fn a_slow_arpwatch_times_out_and_is_retried_while_redis_goes_on() {
    let redis = RedisServer::start();
    let mut arpwatch = ArpwatchStandin::start_with(Behaviour {
        delay: Duration::from_millis(1500),
        ..Behaviour::default()
    });
    let exporter =
        Exporter::start(config(&redis.url(), Some((&arpwatch.url(), true)), "")).unwrap();
    let leases: Vec<Lease> = (0..50).map(|i| lease(i, 1, LeaseEvent::Select)).collect();
    submit_all(&exporter, leases.clone());
    wait_for_redis(
        &redis,
        &(0..50)
            .map(|i| (i, Some(leases[i as usize].clone())))
            .collect(),
    );
    wait_for_counters(&exporter, "an ARPwatch timeout to be retried", |c| {
        c.retried > 0
    });
    arpwatch.stop();
    arpwatch.set_behaviour(Behaviour::default());
    arpwatch.restart();
    wait_for_arpwatch(
        &arpwatch,
        &leases
            .iter()
            .enumerate()
            .map(|(i, l)| (i as u32, l.clone()))
            .collect(),
    );
    exporter.stop(Duration::from_secs(2));
}

#[test]
fn rapid_updates_through_many_workers_end_in_the_last_state_everywhere() {
    let redis = RedisServer::start();
    let arpwatch = ArpwatchStandin::start();
    let exporter = Exporter::start(config(
        &redis.url(),
        Some((&arpwatch.url(), true)),
        r#", "workers": 4"#,
    ))
    .unwrap();
    // Rounds interleave with the workers' sends: any reordering of two
    // states of one address would leave an older one last.
    let mut last = HashMap::new();
    for round in 1..=20u8 {
        for i in 0..200 {
            let event = if round == 20 && i % 7 == 0 {
                LeaseEvent::Release
            } else {
                LeaseEvent::Renew
            };
            let l = lease(i, round, event);
            last.insert(i, l.clone());
            exporter.submit(export(l));
        }
    }
    wait_for_redis(
        &redis,
        &last
            .iter()
            .map(|(i, l)| (*i, (!l.event.ends_lease()).then(|| l.clone())))
            .collect(),
    );
    wait_for_arpwatch(&arpwatch, &last);
    let c = wait_for_counters(&exporter, "the backlog to empty", |c| c.backlog == 0);
    assert_eq!(c.received, 4000);
    exporter.stop(Duration::from_secs(2));
}

#[test]
fn ipv6_leases_are_exported_under_their_canonical_address() {
    let redis = RedisServer::start();
    let exporter = Exporter::start(redis_config(&redis)).unwrap();
    let mut l = lease(1, 1, LeaseEvent::Select);
    l = Lease::new(
        "2001:DB8:0:0::1".parse().unwrap(),
        l.hwaddr,
        l.valid_lifetime,
        l.cltt,
        l.hostname,
        l.subnet_id,
        l.event,
    );
    exporter.submit(export(l.clone()));
    let key = format!("{PREFIX}2001:db8::1");
    let raw = system_tests::wait_for("the v6 key", LONG, || redis.get(&key));
    let record = lease_model::RedisSchema::default().decode(&raw).unwrap();
    assert_eq!(record.lease, l);
    exporter.stop(Duration::from_secs(2));
}

/// A `redis-server` listening on a unix socket only (the fixture's is TCP).
struct UnixRedis {
    child: std::process::Child,
    dir: std::path::PathBuf,
}

impl UnixRedis {
    fn start() -> UnixRedis {
        let dir = std::env::temp_dir().join(format!("aae-unix-redis-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let sock = dir.join("redis.sock");
        let child = std::process::Command::new(system_tests::require_program("redis-server"))
            .args(["--port", "0", "--save", "", "--appendonly", "no"])
            .arg("--unixsocket")
            .arg(&sock)
            .arg("--dir")
            .arg(&dir)
            .stdout(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let r = UnixRedis { child, dir };
        system_tests::wait_for("redis on its unix socket", LONG, || {
            (r.cli(&["PING"]) == "PONG").then_some(())
        });
        r
    }

    fn socket(&self) -> std::path::PathBuf {
        self.dir.join("redis.sock")
    }

    fn cli(&self, args: &[&str]) -> String {
        let out = std::process::Command::new("redis-cli")
            .arg("-s")
            .arg(self.socket())
            .args(args)
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    }
}

impl Drop for UnixRedis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

#[test]
fn a_unix_socket_redis_url_works() {
    let redis = UnixRedis::start();
    for scheme in ["redis+unix", "unix"] {
        let url = format!("{scheme}://{}", redis.socket().display());
        let exporter = Exporter::start(config(&url, None, "")).unwrap();
        let l = lease(u32::from(scheme == "unix"), 1, LeaseEvent::Select);
        exporter.submit(export(l.clone()));
        let key = format!("{PREFIX}{}", l.ip);
        let value = system_tests::wait_for("the key over the unix socket", LONG, || {
            Some(redis.cli(&["GET", &key])).filter(|v| !v.is_empty())
        });
        assert!(value.contains(&l.hwaddr.to_string()), "{value}");
        exporter.stop(Duration::from_secs(2));
    }
}

#[test]
fn bad_parameters_are_refused_naming_the_parameter() {
    for (json, want) in [
        (
            r#"{"grace-period": "5m"}"#,
            "parameter 'grace-period': expected a non-negative integer number of seconds",
        ),
        (r#"{"redis-url": "tcp://x"}"#, "parameter 'redis-url'"),
        (
            r#"{"arpwatch-url": "https://user:pw@a/RPC2"}"#,
            "parameter 'arpwatch-url'",
        ),
        (r#"{"workers": 0}"#, "parameter 'workers'"),
        (r#"{"queue-capacity": -5}"#, "parameter 'queue-capacity'"),
        (
            r#"{"arpwatch-multicall": 1}"#,
            "parameter 'arpwatch-multicall'",
        ),
        (
            r#"{"redis_url": "redis://x"}"#,
            "unknown parameter 'redis_url'",
        ),
    ] {
        let e = Config::from_json(json).unwrap_err().to_string();
        assert!(e.starts_with(want), "{json}: {e}");
    }
}

/// A directory of its own under the system's temp dir, removed on drop.
struct SpoolDir(std::path::PathBuf);

impl SpoolDir {
    fn new(name: &str) -> SpoolDir {
        let dir = std::env::temp_dir().join(format!("aae-engine-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        SpoolDir(dir)
    }

    fn spool(&self) -> std::path::PathBuf {
        self.0.join("arpwatch.spool")
    }

    /// The `extra` parameters of [`config`] that point the spool here.
    fn param(&self) -> String {
        format!(
            r#", "arpwatch-spool": {:?}"#,
            self.spool().to_str().unwrap()
        )
    }
}

impl Drop for SpoolDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// What ARPwatch has not heard at stop survives into the next engine
/// through the spool, for ARPwatch only; a newer event replaces a spooled
/// state, and a lease that died meanwhile is still told as it was.
#[test]
fn notices_pending_at_stop_are_spooled_and_sent_by_the_next_engine() {
    let redis = RedisServer::start();
    let mut arpwatch = ArpwatchStandin::not_listening();
    let dir = SpoolDir::new("round-trip");
    let cfg = config(&redis.url(), Some((&arpwatch.url(), true)), &dir.param());
    const N: u32 = 300;
    let mut want: HashMap<u32, Lease> = (0..N)
        .map(|i| {
            let event = if i % 10 == 0 {
                LeaseEvent::Release
            } else {
                LeaseEvent::Select
            };
            (i, lease(i, 1, event))
        })
        .collect();
    // Dead by its turn: Redis skips it, ARPwatch still hears it.
    want.get_mut(&1).unwrap().cltt = now() - 3600 - GRACE - 10;

    let exporter = Exporter::start(cfg.clone()).unwrap();
    submit_all(&exporter, want.values().cloned());
    wait_for_redis(
        &redis,
        &want
            .iter()
            .map(|(i, l)| (*i, (!l.event.ends_lease() && *i != 1).then(|| l.clone())))
            .collect(),
    );
    let t = Instant::now();
    exporter.stop(Duration::from_secs(2));
    let took = t.elapsed();
    assert!(took < Duration::from_millis(2500), "stop took {took:?}");
    let text = std::fs::read_to_string(dir.spool()).expect("a spool after stop");
    let mut lines = text.lines();
    let header: serde_json::Value = serde_json::from_str(lines.next().unwrap()).unwrap();
    assert_eq!(header["aae-arpwatch-spool"], 1, "{header}");
    assert_eq!(header["leases"], N, "{header}");
    assert_eq!(header["node"], NODE, "{header}");
    assert_eq!(lines.count(), N as usize);

    // Redis loses everything: only live events may refill it from here
    // (in Kea, the resync does the rest).
    redis.cli(&["FLUSHALL"]);
    let exporter = Exporter::start(cfg.clone()).unwrap();
    assert!(!dir.spool().exists(), "the spool is removed once queued");
    assert_eq!(exporter.counters().backlog, u64::from(N));
    let newer = lease(2, 2, LeaseEvent::Renew);
    exporter.submit(export(newer.clone()));
    want.insert(2, newer.clone());
    wait_for_redis(&redis, &HashMap::from([(2, Some(newer))]));

    arpwatch.restart();
    wait_for_arpwatch(&arpwatch, &want);
    let c = wait_for_counters(&exporter, "the backlog to empty", |c| c.backlog == 0);
    assert_eq!(
        c.exported_redis, 1,
        "a restored notice went to Redis: {c:?}"
    );
    assert_eq!(
        redis.keys(&format!("{PREFIX}*")),
        [format!("{PREFIX}{}", ip(2))]
    );
    // One notice per address; two for address 2 only if its spooled state
    // was in flight when ARPwatch came back.
    let notices = arpwatch.notices().len();
    assert!(
        (N as usize..=N as usize + 1).contains(&notices),
        "{notices} notices for {N} addresses"
    );
    exporter.stop(Duration::from_secs(2));
    assert!(
        !dir.spool().exists(),
        "nothing was pending, so nothing spooled"
    );
}

/// A spool that does not read back whole is set aside, not half-used, and
/// the engine starts anyway; a leftover temporary file is never read.
#[test]
fn a_corrupt_spool_is_renamed_aside_and_the_engine_starts() {
    let redis = RedisServer::start();
    let arpwatch = ArpwatchStandin::start();
    let dir = SpoolDir::new("corrupt");
    let spool = dir.spool();
    let cfg = config(&redis.url(), Some((&arpwatch.url(), false)), &dir.param());
    let good = lease(1, 1, LeaseEvent::Select);
    let line = |l: &Lease| {
        format!(
            r#"{{"v":1,"mac":"{}","ip":"{}","cltt":{},"valid_lifetime":3600,"subnet_id":7,"event":"select","node":"n","hostname":"host-1"}}"#,
            l.hwaddr, l.ip, l.cltt
        )
    };
    // Claims two leases, holds one: a truncated file.
    let truncated = format!(
        "{{\"aae-arpwatch-spool\":1,\"leases\":2,\"node\":\"n\",\"written\":0}}\n{}\n",
        line(&good)
    );
    let whole = format!(
        "{{\"aae-arpwatch-spool\":1,\"leases\":1,\"node\":\"n\",\"written\":0}}\n{}\n",
        line(&good)
    );
    // What a write cut short leaves: never read, even when it looks whole.
    let mut temp = spool.clone().into_os_string();
    temp.push(".tmp");
    std::fs::write(&temp, &whole).unwrap();
    for text in [truncated.as_str(), "\u{0}\u{1}not json at all"] {
        std::fs::write(&spool, text).unwrap();
        let exporter = Exporter::start(cfg.clone()).unwrap();
        let mut bad = spool.clone().into_os_string();
        bad.push(".bad");
        assert_eq!(std::fs::read_to_string(&bad).unwrap(), text);
        assert!(!spool.exists());
        assert_eq!(exporter.counters().backlog, 0, "a corrupt spool was used");
        // The engine works.
        exporter.submit(export(good.clone()));
        wait_for_counters(&exporter, "the live notice sent", |c| {
            c.backlog == 0 && c.exported_arpwatch == 1
        });
        exporter.stop(Duration::from_secs(2));
    }
    assert_eq!(
        arpwatch.notices().len(),
        2,
        "one per engine, none from a spool"
    );

    // A good spool, for contrast.
    std::fs::write(&spool, &whole).unwrap();
    let exporter = Exporter::start(cfg).unwrap();
    assert!(!spool.exists());
    wait_for_counters(&exporter, "the spooled notice sent", |c| {
        c.backlog == 0 && c.exported_arpwatch == 1
    });
    assert_eq!(arpwatch.notices().len(), 3);
    exporter.stop(Duration::from_secs(2));
}

/// A reconciliation leaves Redis holding exactly what the walk read: keys of
/// leases Kea no longer has are removed, another node's keys and an event
/// that came during the reconciliation are left alone.
#[test]
fn a_reconciliation_removes_what_kea_no_longer_has_and_nothing_newer() {
    let redis = RedisServer::start();
    let arpwatch = ArpwatchStandin::start();
    let exporter =
        Exporter::start(config(&redis.url(), Some((&arpwatch.url(), false)), "")).unwrap();
    // Redis as a previous run left it: 0..20 written by this node.
    let old: Vec<Lease> = (0..20).map(|i| lease(i, 1, LeaseEvent::Select)).collect();
    submit_all(&exporter, old.clone());
    wait_for_redis(
        &redis,
        &(0..20)
            .map(|i| (i, Some(old[i as usize].clone())))
            .collect(),
    );
    // Another node's key for an address this node's Kea does not have.
    let theirs = format!("{PREFIX}{}", ip(30));
    let value = lease_model::RedisSchema::default().encode(&lease_model::LeaseRecord {
        lease: lease(30, 1, LeaseEvent::Select),
        node: "other-node".into(),
    });
    redis.cli(&["SET", &theirs, &value]);
    wait_for_counters(&exporter, "the backlog to empty", |c| c.backlog == 0);
    let notices = arpwatch.notices().len();

    assert!(exporter.reconcile_begin("in a test"));
    assert!(!exporter.reconcile_begin("twice"), "one at a time");
    // Kea's database now: 0..10 with a new MAC, 10..12 expired (kept), the
    // rest gone. Meanwhile an event grants 15 again, before the walk reads
    // its (absent) lease, and one renews 0 with a newer state than the walk's.
    let renewed = lease(0, 3, LeaseEvent::Renew);
    exporter.submit(export(renewed.clone()));
    let regranted = lease(15, 3, LeaseEvent::Select);
    exporter.submit(export(regranted.clone()));
    let walked: Vec<Lease> = (0..10).map(|i| lease(i, 2, LeaseEvent::Select)).collect();
    for l in &walked {
        exporter.reconcile_lease(l.clone(), true);
    }
    for i in 10..12 {
        exporter.reconcile_lease(lease(i, 1, LeaseEvent::Select), false);
    }
    exporter.reconcile_walked();
    let mut want: HashMap<u32, Option<Lease>> = (1..10)
        .map(|i| (i, Some(walked[i as usize].clone())))
        .collect();
    want.insert(0, Some(renewed));
    want.insert(15, Some(regranted));
    for i in 10..12 {
        want.insert(i, Some(old[i as usize].clone()));
    }
    for i in (12..15).chain(16..20) {
        want.insert(i, None);
    }
    wait_for_redis(&redis, &want);
    system_tests::wait_for("the reconciliation to end", LONG, || {
        (!exporter.reconciling()).then_some(())
    });
    assert_eq!(redis.get(&theirs).as_deref(), Some(value.as_bytes()));
    assert_eq!(redis.keys(&format!("{PREFIX}*")).len(), 14);
    // ARPwatch heard of the two events, not of the reconciliation.
    wait_for_counters(&exporter, "the backlog to empty", |c| c.backlog == 0);
    assert_eq!(arpwatch.notices().len(), notices + 2);
    exporter.stop(Duration::from_secs(2));
}

/// A sweep that finds Redis unresponsive waits for it and then does its work.
#[test]
fn a_reconciliation_outlasts_a_redis_that_does_not_answer() {
    let redis = RedisServer::start();
    let exporter = Exporter::start(redis_config(&redis)).unwrap();
    let old: Vec<Lease> = (0..5).map(|i| lease(i, 1, LeaseEvent::Select)).collect();
    submit_all(&exporter, old.clone());
    wait_for_redis(
        &redis,
        &(0..5).map(|i| (i, Some(old[i as usize].clone()))).collect(),
    );
    // Redis keeps its keys but answers nothing for 3 s: longer than aae's
    // 1 s Redis timeout, so the sweep's first tries fail.
    let paused = Instant::now();
    assert_eq!(redis.cli(&["CLIENT", "PAUSE", "3000", "ALL"]), "OK");
    assert!(exporter.reconcile_begin("in a test"));
    exporter.reconcile_lease(old[0].clone(), true);
    exporter.reconcile_walked();
    system_tests::wait_for("the reconciliation to end", LONG, || {
        (!exporter.reconciling()).then_some(())
    });
    assert!(paused.elapsed() >= Duration::from_millis(2900));
    let want = (0..5)
        .map(|i| (i, (i == 0).then(|| old[0].clone())))
        .collect();
    wait_for_redis(&redis, &want);
    exporter.stop(Duration::from_secs(2));
}

/// A deletion by address alone: Redis gives back the lease it held, and
/// ARPwatch hears of its end with that lease's MAC; for an address Redis
/// does not hold, nobody hears anything.
#[test]
fn a_deletion_by_address_alone_tells_arpwatch_the_mac_redis_held() {
    let redis = RedisServer::start();
    let arpwatch = ArpwatchStandin::start();
    let exporter =
        Exporter::start(config(&redis.url(), Some((&arpwatch.url(), false)), "")).unwrap();
    let held = lease(1, 4, LeaseEvent::Select);
    exporter.submit(export(held.clone()));
    wait_for_arpwatch(&arpwatch, &HashMap::from([(1, held.clone())]));
    exporter.forget(ip(1));
    exporter.forget(ip(2));
    wait_for_redis(&redis, &HashMap::from([(1, None)]));
    system_tests::wait_for("ARPwatch to hear that 1 is gone", LONG, || {
        arpwatch
            .notices()
            .into_iter()
            .find(|n| n.method == "arpwatch.lease_gone")
    });
    wait_for_counters(&exporter, "the backlog to empty", |c| c.backlog == 0);
    let notices = arpwatch.notices();
    assert_eq!(notices.len(), 2, "{notices:?}");
    let gone = &notices[1];
    assert_eq!(gone.method, "arpwatch.lease_gone");
    assert_eq!(gone.ip, held.ip.to_string());
    assert_eq!(gone.mac, held.hwaddr.to_string());
    exporter.stop(Duration::from_secs(2));
}

/// Two engines of two nodes sharing one Redis: an older state from one that
/// arrives after a newer state from the other is refused, counted in
/// `redis-stale-refused`, and the newer lease keeps its TTL.
#[test]
fn an_older_state_from_another_node_arriving_late_is_refused_and_counted() {
    let redis = RedisServer::start();
    let newer_node = Exporter::start(redis_config(&redis)).unwrap();
    let mut other = redis_config(&redis);
    other.node_name = "dhcp-other".into();
    let older_node = Exporter::start(other).unwrap();
    let newer = lease(1, 2, LeaseEvent::Renew);
    newer_node.submit(export(newer.clone()));
    wait_for_redis(&redis, &HashMap::from([(1, Some(newer.clone()))]));
    let mut late = lease(1, 1, LeaseEvent::Select);
    late.cltt -= 600;
    late.valid_lifetime = 7200;
    older_node.submit(export(late));
    let c = wait_for_counters(&older_node, "the late write to be refused", |c| {
        c.redis_stale_refused == 1
    });
    assert_eq!(c.exported_redis, 0, "{c:?}");
    let named = c.named();
    assert!(named.contains(&("redis-stale-refused", 1)), "{named:?}");
    let r = stored(&redis, 1).unwrap();
    assert_eq!((r.lease, r.node.as_str()), (newer, NODE));
    let ttl = redis.ttl(&format!("{PREFIX}{}", ip(1)));
    assert!((3600 + GRACE - 5..=3600 + GRACE).contains(&ttl), "{ttl}");
    // Nor does a late release of that older lease delete the newer one.
    let mut released = lease(1, 1, LeaseEvent::Release);
    released.cltt -= 600;
    older_node.submit(export(released));
    wait_for_counters(&older_node, "the late release to be refused", |c| {
        c.redis_stale_refused == 2
    });
    assert!(stored(&redis, 1).is_some());
    newer_node.stop(Duration::from_secs(2));
    older_node.stop(Duration::from_secs(2));
}
