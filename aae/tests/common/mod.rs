//! Helpers shared by the engine's integration tests: leases, configurations
//! pointing at the fixtures, and what Redis and ARPwatch should hold.

#![allow(dead_code)] // each test binary uses its own subset

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, TcpListener};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use arpwatch_rpc::DateTime;
use dhcp_aae::config::Config;
use dhcp_aae::engine::{Counters, Exporter};
use lease_model::{Hostname, HwAddr, Lease, LeaseEvent, RedisSchema};
use system_tests::arpwatch::{ArpwatchStandin, Notice};
use system_tests::redis::RedisServer;

pub const NODE: &str = "dhcp-test";
pub const PREFIX: &str = "aae:lease:";
pub const GRACE: i64 = 300;

/// Generous: CI machines have 2 slow cores.
pub const LONG: Duration = Duration::from_secs(30);

pub fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

pub fn ip(i: u32) -> IpAddr {
    IpAddr::V4(Ipv4Addr::from(0x0a00_0000 + i))
}

/// A MAC that encodes the address index and a version, so a test can tell
/// which state of an address ended up where.
pub fn mac(i: u32, version: u8) -> HwAddr {
    let b = i.to_be_bytes();
    HwAddr::from_bytes(&[0x02, version, b[0], b[1], b[2], b[3]]).unwrap()
}

pub fn lease(i: u32, version: u8, event: LeaseEvent) -> Lease {
    Lease::new(
        ip(i),
        mac(i, version),
        3600,
        now(),
        Hostname::from_text(&format!("host-{i}")),
        7,
        event,
    )
}

/// The parameters Kea would give, as JSON, plus the non-parameter knobs a
/// test wants short.
pub fn config(redis_url: &str, arpwatch: Option<(&str, bool)>, extra: &str) -> Config {
    let mut json = format!(
        r#"{{"redis-url": "{redis_url}", "node-name": "{NODE}", "key-prefix": "{PREFIX}", "grace-period": {GRACE}"#
    );
    if let Some((url, multicall)) = arpwatch {
        json.push_str(&format!(
            r#", "arpwatch-url": "{url}", "arpwatch-multicall": {multicall}, "arpwatch-timeout-ms": 1000"#
        ));
    }
    json.push_str(extra);
    json.push('}');
    let mut c = Config::from_json(&json).unwrap_or_else(|e| panic!("{json}: {e}"));
    // Retry quickly once a sink is back, so tests do not wait out a 5 s backoff.
    c.max_backoff = Duration::from_millis(200);
    c
}

pub fn redis_config(redis: &RedisServer) -> Config {
    config(&redis.url(), None, "")
}

/// The record Redis holds for address `i`, if any.
pub fn stored(redis: &RedisServer, i: u32) -> Option<lease_model::LeaseRecord> {
    let raw = redis.get(&format!("{PREFIX}{}", ip(i)))?;
    Some(
        RedisSchema::default()
            .decode(&raw)
            .expect("a value aae wrote decodes"),
    )
}

/// Waits until Redis holds `want` for every address (`None`: no key).
pub fn wait_for_redis(redis: &RedisServer, want: &HashMap<u32, Option<Lease>>) {
    system_tests::wait_for(
        "Redis to hold the final state of every address",
        LONG,
        || {
            want.iter()
                .all(|(i, lease)| stored(redis, *i).map(|r| r.lease) == *lease)
                .then_some(())
        },
    );
}

/// The last notice ARPwatch got for each address.
pub fn last_notices(arpwatch: &ArpwatchStandin) -> HashMap<String, Notice> {
    arpwatch
        .notices()
        .into_iter()
        .map(|n| (n.ip.clone(), n))
        .collect()
}

/// Checks that `n` tells exactly what `lease` says.
pub fn assert_notice_matches(n: &Notice, lease: &Lease) {
    let method = if lease.event.ends_lease() {
        "arpwatch.lease_gone"
    } else {
        "arpwatch.lease_seen"
    };
    assert_eq!(n.method, method, "{n:?}");
    assert_eq!(n.ip, lease.ip.to_string(), "{n:?}");
    assert_eq!(n.mac, lease.hwaddr.to_string(), "{n:?}");
    assert_eq!(n.event, lease.event.as_str(), "{n:?}");
    assert_eq!(n.node, NODE, "{n:?}");
    assert_eq!(n.hostname, lease.hostname.to_text(), "{n:?}");
    assert_eq!(n.valid_lifetime, i64::from(lease.valid_lifetime), "{n:?}");
    assert_eq!(n.subnet_id, i64::from(lease.subnet_id), "{n:?}");
    assert_eq!(n.cltt, DateTime::from_unix(lease.cltt).to_string(), "{n:?}");
    let expires = DateTime::from_unix(lease.expires_at().unwrap()).to_string();
    assert_eq!(n.expires, expires, "{n:?}");
}

/// Waits until ARPwatch's last notice for every address matches `want`.
pub fn wait_for_arpwatch(arpwatch: &ArpwatchStandin, want: &HashMap<u32, Lease>) {
    system_tests::wait_for(
        "ARPwatch to get the final state of every address",
        LONG,
        || {
            let last = last_notices(arpwatch);
            want.values()
                .all(|l| {
                    last.get(&l.ip.to_string()).is_some_and(|n| {
                        n.mac == l.hwaddr.to_string() && n.event == l.event.as_str()
                    })
                })
                .then_some(())
        },
    );
    let last = last_notices(arpwatch);
    for l in want.values() {
        assert_notice_matches(&last[&l.ip.to_string()], l);
    }
}

pub fn wait_for_counters(
    exporter: &Exporter,
    what: &str,
    cond: impl Fn(&Counters) -> bool,
) -> Counters {
    system_tests::wait_for(what, LONG, || {
        let c = exporter.counters();
        cond(&c).then_some(c)
    })
}

/// A TCP peer that accepts connections and never answers: a hung Redis or
/// ARPwatch. Connections are held until the listener is dropped.
pub struct BlackHole {
    pub port: u16,
    accepted: std::sync::Arc<std::sync::atomic::AtomicUsize>,
}

impl BlackHole {
    pub fn start() -> BlackHole {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let accepted = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let count = accepted.clone();
        std::thread::spawn(move || {
            let mut held = Vec::new();
            for conn in listener.incoming().flatten() {
                count.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                held.push(conn);
            }
        });
        BlackHole { port, accepted }
    }

    pub fn accepted(&self) -> usize {
        self.accepted.load(std::sync::atomic::Ordering::SeqCst)
    }
}
