//! One Redis for a site: Kea with aae and aai both on a Sentinel service
//! (a primary, a replica, three sentinels), and the primary lost in the
//! middle of a burst of leases. Run against Redis and, with
//! `AAE_REDIS_SERVER=valkey-server` and a release root, Valkey.
//!
//! Needs root and `cargo build --release -p aae -p aai` first (same
//! `CARGO_TARGET_DIR`).

use std::collections::BTreeSet;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};
use system_tests::aai::Aai;
use system_tests::kea::{Family, Kea, KeaConfig, LeaseRow, aae_library, lease_ips, perfdhcp};
use system_tests::netns::NetnsPair;
use system_tests::poll_until;
use system_tests::redis::{Options, RedisServer};
use system_tests::sentinel::SentinelSet;

const PREFIX: &str = "aae:lease:";
const GRACE: i64 = 120;
const NODE: &str = "kea-test";

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs() as i64
}

fn redis_ips(redis: &RedisServer) -> BTreeSet<String> {
    redis.ips_under(PREFIX)
}

/// Waits until `redis` holds exactly the leases of Kea's lease file, each
/// with its MAC and a TTL of its time left plus grace.
fn wait_redis_holds_kea(kea: &Kea, redis: &RedisServer, within: Duration) -> Vec<LeaseRow> {
    let leases = poll_until(within, || {
        let leases = kea.leases();
        (!leases.is_empty() && lease_ips(&leases) == redis_ips(redis)).then_some(leases)
    })
    .unwrap_or_else(|| {
        let (k, r) = (lease_ips(&kea.leases()), redis_ips(redis));
        panic!(
            "the new primary does not hold exactly Kea's leases: {} in Kea, {} in Redis, \
             missing {:?}, extra {:?}; aae's lines:\n{}",
            k.len(),
            r.len(),
            k.difference(&r).take(5).collect::<Vec<_>>(),
            r.difference(&k).take(5).collect::<Vec<_>>(),
            aae_lines(kea)
        )
    });
    for lease in &leases {
        let key = format!("{PREFIX}{}", lease.address);
        let raw = redis.get(&key).unwrap_or_else(|| panic!("{key} vanished"));
        let value: Value = serde_json::from_slice(&raw).expect("a JSON lease value");
        assert_eq!(value["mac"], lease.hwaddr.as_str(), "{lease:?} vs {value}");
        let ttl = redis.ttl(&key);
        let remaining = lease.expire - now();
        assert!(
            (remaining - 1..=remaining + GRACE + 1).contains(&ttl),
            "{key}: TTL {ttl} not within {remaining} .. + grace {GRACE}"
        );
    }
    leases
}

fn aae_lines(kea: &Kea) -> String {
    kea.log()
        .lines()
        .filter(|l| l.contains("AAE_"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// What aai answered for one address, every 50 ms, from the start of the
/// burst until told to stop.
#[derive(Debug)]
enum Answer {
    Right,
    Wrong(Option<String>),
    Fault,
}

struct StopOnDrop<'a>(&'a AtomicBool);

impl Drop for StopOnDrop<'_> {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

#[test]
fn a_primary_lost_during_a_burst_loses_no_lease_and_aai_never_answers_nil() {
    let mut set = SentinelSet::start(Options::default());
    let net = NetnsPair::create();
    // aae inside the namespace reaches the sentinels and then the data
    // nodes they name, all on loopback.
    let _fwd: Vec<_> = set
        .ports()
        .into_iter()
        .map(|p| net.forward_to_host(p))
        .collect();
    let config = KeaConfig {
        family: Family::V4,
        valid_lifetime: 600,
        ..KeaConfig::default().with_hook(
            &aae_library(),
            json!({"redis-url": set.url(None), "node-name": NODE, "grace-period": GRACE}),
        )
    };
    let kea = Kea::start(&net, &config);
    let aai = Aai::start_with(&set.url(None), "redis-timeout-ms = 300");

    // A first few leases, one of them the address aai is asked about.
    perfdhcp(
        &net,
        Family::V4,
        &[
            "-R", "10", "-n", "10", "-r", "10", "-p", "10", "-W", "500000",
        ],
    )
    .assert_served("REQUEST-ACK");
    let first = set.primary().expect("a primary");
    let probe = wait_redis_holds_kea(&kea, set.node(first), Duration::from_secs(15))
        .into_iter()
        .next()
        .expect("a lease");
    assert_eq!(
        aai.get_mac(&probe.address).as_deref(),
        Some(probe.hwaddr.as_str())
    );
    assert!(
        kea.log().contains("AAE_REDIS_PRIMARY"),
        "aae did not say which primary it found:\n{}",
        aae_lines(&kea)
    );

    let answers: Mutex<Vec<(Instant, Answer)>> = Mutex::default();
    let stop = AtomicBool::new(false);
    let (killed_at, old, new, promoted_at, first_write) = std::thread::scope(|s| {
        // A panic below must stop the prober too, or the scope never ends.
        let _stop = StopOnDrop(&stop);
        s.spawn(|| {
            while !stop.load(Ordering::Relaxed) {
                let a = match aai.try_get_mac(&probe.address) {
                    Ok(Some(mac)) if mac == probe.hwaddr => Answer::Right,
                    Ok(other) => Answer::Wrong(other),
                    Err(_) => Answer::Fault,
                };
                answers.lock().unwrap().push((Instant::now(), a));
                std::thread::sleep(Duration::from_millis(50));
            }
        });
        // New clients at 40/s until the subnet's pool of 241 is nearly
        // taken; the primary dies half a second in, so most leases come
        // while there is no primary, or after the new one took over.
        let burst = s.spawn(|| {
            let args = [
                "-R", "225", "-n", "225", "-r", "40", "-p", "15", "-W", "500000",
            ];
            perfdhcp(&net, Family::V4, &args)
        });
        std::thread::sleep(Duration::from_millis(500));
        let killed_at = Instant::now();
        let old = set.kill_primary();
        let at_kill = kea.leases().len();
        let new = set.wait_for_failover(old, Duration::from_secs(30));
        let promoted_at = Instant::now();
        // What aae wrote before, replicated; the burst goes on, so the
        // count grows once aae writes to the new primary.
        let replicated = redis_ips(set.node(new)).len();
        eprintln!(
            "leases in Kea: {at_kill} at the kill, {} at the promotion; {replicated} replicated",
            kea.leases().len()
        );
        let first_write = poll_until(Duration::from_secs(20), || {
            (redis_ips(set.node(new)).len() > replicated).then(Instant::now)
        })
        .unwrap_or_else(|| {
            panic!(
                "aae wrote nothing to the new primary within 20 s of its promotion \
                 ({replicated} keys replicated; Kea holds {}); {}; aae's lines:\n{}",
                kea.leases().len(),
                set.describe(),
                aae_lines(&kea)
            )
        });
        burst.join().unwrap().assert_served("REQUEST-ACK");
        // aai's answers until a while after the burst.
        std::thread::sleep(Duration::from_secs(2));
        stop.store(true, Ordering::Relaxed);
        (killed_at, old, new, promoted_at, first_write)
    });

    // Every lease Kea holds is in the new primary, with its TTL.
    let leases = wait_redis_holds_kea(&kea, set.node(new), Duration::from_secs(30));
    let settled = killed_at.elapsed();
    assert!(leases.len() > 200, "only {} leases", leases.len());
    assert_eq!(
        kea.statistic("aae.redis-failovers"),
        Some(1),
        "{}",
        aae_lines(&kea)
    );
    let was = format!("(was 127.0.0.1:{}", set.node(old).port());
    assert!(
        aae_lines(&kea).contains(&format!(
            "has its primary at 127.0.0.1:{}",
            set.node(new).port()
        )) && aae_lines(&kea).contains(&was),
        "aae did not log the failover:\n{}",
        aae_lines(&kea)
    );

    // aai: right before, right after, never nil, faults only around the
    // switch.
    let answers = answers.into_inner().unwrap();
    let wrong: Vec<_> = answers
        .iter()
        .filter_map(|(t, a)| match a {
            Answer::Wrong(mac) => Some((t.duration_since(killed_at.min(*t)), mac.clone())),
            _ => None,
        })
        .collect();
    assert!(
        wrong.is_empty(),
        "aai answered wrongly (time after the kill, answer): {wrong:?}"
    );
    let faults: Vec<Instant> = answers
        .iter()
        .filter(|(_, a)| matches!(a, Answer::Fault))
        .map(|(t, _)| *t)
        .collect();
    let (first_fault, last_fault) = (faults.first().copied(), faults.last().copied());
    if let (Some(f), Some(l)) = (first_fault, last_fault) {
        assert!(f >= killed_at, "a fault before the primary was killed");
        assert!(
            l.duration_since(killed_at) < Duration::from_secs(10),
            "aai faulted for {:?} after the kill",
            l.duration_since(killed_at)
        );
    }
    assert!(
        matches!(answers.last(), Some((_, Answer::Right))),
        "aai's last answer: {:?}",
        answers.last()
    );
    let (status, health) = aai.get("/health");
    assert!(
        status.contains("200") && health.contains("failovers followed: 1"),
        "{status} {health}"
    );
    assert!(
        health.contains(&format!("primary 127.0.0.1:{}", set.node(new).port())),
        "{health}"
    );
    let (_, metrics) = aai.get("/metrics");
    assert!(metrics.contains("aai_redis_failovers_total 1"), "{metrics}");
    eprintln!(
        "failover: promoted {:?} after the kill; aae's first write there {:?} after that; \
         aai: {} answers, {} faults over {:?}; aae: all {} leases in the new primary {:?} \
         after the kill",
        promoted_at - killed_at,
        first_write - promoted_at,
        answers.len(),
        faults.len(),
        last_fault.zip(first_fault).map(|(l, f)| l - f),
        leases.len(),
        settled
    );

    // The old primary comes back (empty) and becomes a replica: nothing
    // goes back to it, and nothing is lost on the primary.
    set.restart_as_replica(old, Duration::from_secs(30));
    set.wait_replicated(Duration::from_secs(10));
    assert_eq!(set.primary(), Some(new));
    wait_redis_holds_kea(&kea, set.node(new), Duration::from_secs(5));
    assert_eq!(redis_ips(set.node(old)), redis_ips(set.node(new)));
    perfdhcp(
        &net,
        Family::V4,
        &[
            "-R", "10", "-n", "10", "-r", "10", "-p", "10", "-W", "500000",
        ],
    )
    .assert_served("REQUEST-ACK");
    wait_redis_holds_kea(&kea, set.node(new), Duration::from_secs(15));
    assert_eq!(kea.statistic("aae.redis-failovers"), Some(1));
    // Kea's statistics name the primary aae follows now (within the 1 s
    // publishing period).
    let named = format!("127.0.0.1:{}", set.node(new).port());
    assert!(
        poll_until(Duration::from_secs(5), || {
            (kea.statistic_text("aae.redis-primary").as_deref() == Some(named.as_str()))
                .then_some(())
        })
        .is_some(),
        "aae.redis-primary is {:?}, not {named}",
        kea.statistic_text("aae.redis-primary")
    );
    assert_eq!(
        aai.get_mac(&probe.address).as_deref(),
        Some(probe.hwaddr.as_str())
    );
    assert!(aai.get("/health").1.contains("failovers followed: 1"));
}
