//! The whole chain at once: perfdhcp in one namespace, a real Kea with
//! `libdhcp_aae.so` in another, a real Redis and the Python ARPwatch
//! stand-in on the host loopback (forwarded into Kea's namespace). Kea's
//! lease file is the truth; Redis and ARPwatch must both end up telling it,
//! also across outages of either sink.
//!
//! Needs root and `cargo build --release -p aae` first (same
//! `CARGO_TARGET_DIR`).

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};
use system_tests::arpwatch::{ArpwatchStandin, Behaviour, Notice, Tls};
use system_tests::kea::{
    Family, Kea, KeaConfig, LeaseRow, PerfRun, aae_library, perfdhcp, seen_by_kea, shared_dir,
};
use system_tests::netns::{NetnsPair, PortForward};
use system_tests::pki::{Pki, Usage, write_file};
use system_tests::redis::RedisServer;
use system_tests::{poll_until, wait_for};

const PREFIX: &str = "aae:lease:";
const GRACE: i64 = 120;
const NODE: &str = "kea-chain";
const VALID_LIFETIME: u32 = 600;
/// Long enough for aae's backoff (capped at 5 s) to come round after an
/// outage ends, on a loaded 2-core machine.
const SETTLE: Duration = Duration::from_secs(20);

const SEEN: &str = "arpwatch.lease_seen";
const GONE: &str = "arpwatch.lease_gone";

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs() as i64
}

/// One test's world. Field order is drop order: Kea stops before the
/// forwards and namespaces it uses go, and the sinks go last; the spool's
/// directory outlives Kea, which writes there when it stops.
struct Chain {
    kea: Kea,
    _fwd: Vec<PortForward>,
    net: NetnsPair,
    arpwatch: ArpwatchStandin,
    redis: RedisServer,
    config: KeaConfig,
    spool_dir: tempfile::TempDir,
}

impl Chain {
    /// Starts Redis, Kea with aae pointed at Redis and at `arpwatch` (which
    /// may be not listening yet), both reachable from Kea's namespace, with
    /// `arpwatch-multicall` as given (`None`: not given, the default). The
    /// ARPwatch spool is in a directory of the test's own, never in the
    /// default place (Kea's state directory), which tests running in
    /// parallel would share.
    fn start(arpwatch: ArpwatchStandin, multicall: Option<bool>) -> Chain {
        Chain::start_with(arpwatch, multicall, json!({}))
    }

    /// [`Chain::start`] with more hook parameters (`extra`, a JSON object).
    fn start_with(arpwatch: ArpwatchStandin, multicall: Option<bool>, extra: Value) -> Chain {
        let redis = RedisServer::start();
        let net = NetnsPair::create();
        let fwd = vec![
            net.forward_to_host(redis.port()),
            net.forward_to_host(arpwatch.port()),
        ];
        let spool_dir = shared_dir("aae-spool-");
        let mut params = json!({
            "redis-url": redis.url(),
            "arpwatch-url": arpwatch.url(),
            "arpwatch-spool": seen_by_kea(&spool_dir.path().join("arpwatch.spool")),
            "node-name": NODE,
            "grace-period": GRACE
        });
        if let Some(multicall) = multicall {
            params["arpwatch-multicall"] = json!(multicall);
        }
        let params_map = params.as_object_mut().expect("a map");
        for (k, v) in extra
            .as_object()
            .expect("extra parameters are a JSON object")
        {
            params_map.insert(k.clone(), v.clone());
        }
        let config = KeaConfig {
            valid_lifetime: VALID_LIFETIME,
            ..KeaConfig::default().with_hook(&aae_library(), params)
        };
        let kea = Kea::start(&net, &config);
        Chain {
            kea,
            _fwd: fwd,
            net,
            arpwatch,
            redis,
            config,
            spool_dir,
        }
    }

    fn spool(&self) -> std::path::PathBuf {
        self.spool_dir.path().join("arpwatch.spool")
    }

    /// The number in the first of Kea's log lines with `id`, waiting for
    /// one: how many notices aae spooled or restored.
    fn wait_logged_count(&self, id: &str) -> usize {
        wait_for(&format!("{id} in Kea's log"), SETTLE, || {
            let log = self.kea.log();
            let line = log.lines().find(|l| l.contains(id))?;
            let after = line.split(id).nth(1)?;
            after
                .split_whitespace()
                .find_map(|w| w.parse::<usize>().ok())
        })
    }

    fn perfdhcp(&self, args: &[&str]) -> PerfRun {
        run_perfdhcp(&self.net, args)
    }

    fn stat(&self, name: &str) -> i64 {
        self.kea.statistic(name).unwrap_or(-1)
    }

    /// What a failed wait should show: aae's counters and log lines.
    fn diagnostics(&self) -> String {
        let aae: Vec<_> = self
            .kea
            .statistics()
            .into_iter()
            .filter(|(k, _)| k.starts_with("aae."))
            .collect();
        let log = self.kea.log();
        let lines: Vec<&str> = log.lines().filter(|l| l.contains("AAE_")).collect();
        format!("counters: {aae:?}\naae log lines:\n{}", lines.join("\n"))
    }

    fn redis_ips(&self) -> BTreeSet<String> {
        self.redis
            .keys(&format!("{PREFIX}*"))
            .into_iter()
            .map(|k| k[PREFIX.len()..].to_owned())
            .collect()
    }

    fn stored(&self, ip: &str) -> Option<Value> {
        let raw = self.redis.get(&format!("{PREFIX}{ip}"))?;
        Some(serde_json::from_slice(&raw).expect("a JSON lease value"))
    }

    /// Waits until Redis holds exactly the live leases of Kea's lease file,
    /// then checks each one's value and TTL. Returns the leases.
    fn wait_redis_matches_kea(&self) -> Vec<LeaseRow> {
        let leases = poll_until(SETTLE, || {
            let leases = self.kea.leases();
            (!leases.is_empty() && ips(&leases) == self.redis_ips()).then_some(leases)
        })
        .unwrap_or_else(|| {
            panic!(
                "Redis does not hold exactly the leases in Kea's lease file:\n\
                 Kea: {:?}\nRedis: {:?}\n{}",
                ips(&self.kea.leases()),
                self.redis_ips(),
                self.diagnostics()
            )
        });
        for lease in &leases {
            self.assert_stored(lease);
        }
        leases
    }

    /// `lease` is in Redis with its MAC, and a TTL between the time it has
    /// left and that plus grace.
    fn assert_stored(&self, lease: &LeaseRow) {
        assert_eq!(lease.state, 0, "unexpected lease state: {lease:?}");
        let value = self
            .stored(&lease.address)
            .unwrap_or_else(|| panic!("{} is not in Redis", lease.address));
        assert_eq!(value["mac"], lease.hwaddr.as_str(), "{lease:?} vs {value}");
        assert_eq!(value["ip"], lease.address.as_str());
        assert_eq!(value["node"], NODE);
        let ttl = self.redis.ttl(&format!("{PREFIX}{}", lease.address));
        let remaining = lease.expire - now();
        // A second of slack each side: the clock ticks between Kea's write,
        // aae's and this check.
        assert!(
            (remaining - 1..=remaining + GRACE + 1).contains(&ttl),
            "{}: TTL {ttl} not within remaining lifetime {remaining} .. + grace {GRACE}",
            lease.address
        );
    }

    /// Waits until ARPwatch's latest notice for every lease in Kea's lease
    /// file is a `lease_seen` of that lease as it now stands, and for every
    /// other address it ever heard of a `lease_gone`; then checks every
    /// field. Returns the leases.
    fn wait_arpwatch_matches_kea(&self) -> Vec<LeaseRow> {
        // Leases whose latest notice is not a lease_seen of them as they
        // stand now, and addresses Kea no longer leases whose latest notice
        // is not a lease_gone.
        let mismatches = || {
            let leases = self.kea.leases();
            let last = last_notices(&self.arpwatch);
            let live = ips(&leases);
            let missing: Vec<_> = leases
                .iter()
                .filter(|l| {
                    !last.get(&l.address).is_some_and(|n| {
                        n.method == SEEN && n.mac == l.hwaddr && n.expires == utc(l.expire)
                    })
                })
                .map(|l| (l.clone(), last.get(&l.address).cloned()))
                .collect();
            let stale: Vec<_> = last
                .values()
                .filter(|n| !live.contains(&n.ip) && n.method != GONE)
                .cloned()
                .collect();
            (leases, last, missing, stale)
        };
        let matched = poll_until(SETTLE, || {
            let (leases, last, missing, stale) = mismatches();
            (!leases.is_empty() && missing.is_empty() && stale.is_empty()).then_some((leases, last))
        });
        let Some((leases, last)) = matched else {
            let (_, _, missing, stale) = mismatches();
            panic!(
                "ARPwatch's latest notices do not match Kea's lease file:\n\
                 leases without their current lease_seen: {missing:?}\n\
                 addresses gone from Kea whose last notice is no lease_gone: {stale:?}\n\
                 {} notices received\n{}",
                self.arpwatch.notices().len(),
                self.diagnostics()
            );
        };
        for l in &leases {
            assert_seen_matches(&last[&l.address], l);
        }
        leases
    }
}

/// perfdhcp against the namespace's Kea, waiting half a second for late
/// answers.
fn run_perfdhcp(net: &NetnsPair, args: &[&str]) -> PerfRun {
    let mut all = args.to_vec();
    all.extend(["-W", "500000"]);
    perfdhcp(net, Family::V4, &all)
}

fn ips(leases: &[LeaseRow]) -> BTreeSet<String> {
    leases.iter().map(|l| l.address.clone()).collect()
}

/// The latest notice per address, in the order the stand-in recorded them.
fn last_notices(arpwatch: &ArpwatchStandin) -> BTreeMap<String, Notice> {
    arpwatch
        .notices()
        .into_iter()
        .map(|n| (n.ip.clone(), n))
        .collect()
}

/// Every field of a `lease_seen` notice against the lease file's row.
fn assert_seen_matches(n: &Notice, l: &LeaseRow) {
    assert_eq!(n.method, SEEN, "{n:?}");
    assert_eq!(n.ip, l.address, "{n:?}");
    assert_eq!(n.mac, l.hwaddr, "{n:?} vs {l:?}");
    assert!(
        n.event == "select" || n.event == "renew",
        "a granted lease notified as {:?}: {n:?}",
        n.event
    );
    assert_eq!(n.node, NODE, "{n:?}");
    assert_eq!(n.hostname, l.hostname, "{n:?} vs {l:?}");
    assert_eq!(n.valid_lifetime, i64::from(l.valid_lifetime), "{n:?}");
    // The fixture's Kea config has one subnet, id 1.
    assert_eq!(n.subnet_id, 1, "{n:?}");
    assert_eq!(
        n.cltt,
        utc(l.expire - i64::from(l.valid_lifetime)),
        "{n:?} vs {l:?}"
    );
    assert_eq!(n.expires, utc(l.expire), "{n:?} vs {l:?}");
}

/// Unix seconds as XML-RPC's `YYYYMMDDTHH:MM:SS` in UTC, worked out here
/// rather than taken from arpwatch-rpc so the test does not share the code
/// it checks.
fn utc(secs: i64) -> String {
    let (mut days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let leap = |y: i64| (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    let mut year = 1970;
    while days >= if leap(year) { 366 } else { 365 } {
        days -= if leap(year) { 366 } else { 365 };
        year += 1;
    }
    let feb = if leap(year) { 29 } else { 28 };
    let mut month = 1;
    for len in [31, feb, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31] {
        if days < len {
            break;
        }
        days -= len;
        month += 1;
    }
    format!(
        "{year:04}{month:02}{:02}T{:02}:{:02}:{:02}",
        days + 1,
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// Asserts perfdhcp got an answer to every packet of `exchange` it sent.
fn assert_all_answered(run: &PerfRun, exchange: &str) -> u64 {
    let (sent, received, drops) = run
        .exchange(exchange)
        .unwrap_or_else(|| panic!("no {exchange} statistics in:\n{}", run.stdout()));
    assert!(
        sent > 0 && received == sent && drops == 0,
        "{exchange}: sent {sent}, received {received}, drops {drops}:\n{}",
        run.stdout()
    );
    received
}

#[test]
fn utc_formats_like_xmlrpc() {
    assert_eq!(utc(0), "19700101T00:00:00");
    // 2024-02-29 12:34:56 UTC: a leap day.
    assert_eq!(utc(1_709_210_096), "20240229T12:34:56");
    assert_eq!(utc(1_798_761_599), "20261231T23:59:59");
}

/// DISCOVER-only clients never reach ARPwatch; every granted or renewed
/// lease reaches both Redis and ARPwatch with the lease file's fields.
#[test]
fn every_lease_reaches_redis_and_arpwatch_and_offers_reach_neither() {
    let chain = Chain::start(ArpwatchStandin::start(), Some(false));
    // Offers only, from MACs no later client has. perfdhcp 2.2 refuses -W
    // with -i, so this run is built by hand.
    let offers = perfdhcp(
        &chain.net,
        Family::V4,
        &[
            "-i",
            "-b",
            "mac=02:00:00:aa:00:00",
            "-R",
            "20",
            "-n",
            "20",
            "-r",
            "100",
        ],
    );
    let (_, offered, _) = offers
        .exchange("DISCOVER-OFFER")
        .unwrap_or_else(|| panic!("no DISCOVER-OFFER stats:\n{}", offers.stdout()));
    assert!(offered > 0, "no OFFER:\n{}", offers.stdout());
    // One client's DORAs as a marker: the offers' callouts ran before Kea
    // answered them, and so before the marker's. Once the marker arrived,
    // an exported offer would show as a second key or notice. (perfdhcp
    // counts the last ACK of a run as dropped, hence more than one DORA.)
    run_perfdhcp(
        &chain.net,
        &["-b", "mac=02:00:00:00:99:01", "-r", "10", "-n", "3"],
    )
    .assert_served("REQUEST-ACK");
    let marker = chain.wait_arpwatch_matches_kea();
    assert_eq!(marker.len(), 1, "{marker:?}");
    assert_eq!(chain.wait_redis_matches_kea(), marker);
    assert!(
        chain
            .arpwatch
            .notices()
            .iter()
            .all(|n| n.ip == marker[0].address),
        "an offer reached ARPwatch: {:?}",
        chain.arpwatch.notices()
    );
    // 30 clients for 2 s at 40 DORA/s, renewing at 10/s (REQUEST with
    // ciaddr): both kinds of grant.
    chain
        .perfdhcp(&["-R", "30", "-r", "40", "-f", "10", "-p", "2"])
        .assert_served("REQUEST-ACK");

    let leases = chain.wait_redis_matches_kea();
    assert!(leases.len() > 10, "only {} leases", leases.len());
    chain.wait_arpwatch_matches_kea();

    let notices = chain.arpwatch.notices();
    let by_ip: BTreeMap<&str, &LeaseRow> = leases.iter().map(|l| (l.address.as_str(), l)).collect();
    for n in &notices {
        assert_eq!(n.method, SEEN, "nothing ended a lease: {n:?}");
        assert!(
            !n.mac.starts_with("02:00:00:aa:"),
            "an offer was notified: {n:?}"
        );
        let l = by_ip
            .get(n.ip.as_str())
            .unwrap_or_else(|| panic!("a notice for an address Kea never leased: {n:?}"));
        assert_eq!(n.mac, l.hwaddr, "{n:?}");
    }
    let events: BTreeSet<&str> = notices.iter().map(|n| n.event.as_str()).collect();
    assert_eq!(
        events,
        BTreeSet::from(["renew", "select"]),
        "perfdhcp both selected and renewed"
    );
    // At most one notice per ACK: coalescing may merge two of one address.
    let acks = chain.stat("pkt4-ack-sent");
    assert!(
        notices.len() as i64 <= acks,
        "{} notices for {acks} ACKs",
        notices.len()
    );
    assert!(chain.arpwatch.multicalls().is_empty());
    eprintln!(
        "{} leases, {} notices, {acks} ACKs, {offered} offers to DISCOVER-only clients",
        leases.len(),
        notices.len()
    );
}

/// A RELEASE deletes the key and tells ARPwatch `lease_gone` / "release".
#[test]
fn a_release_removes_the_key_and_sends_lease_gone() {
    let chain = Chain::start(ArpwatchStandin::start(), Some(false));
    // 30 clients for 2 s at 40 DORA/s, releasing at 20/s: leases come and
    // go, and some addresses are granted again after their release.
    let run = chain.perfdhcp(&["-R", "30", "-r", "40", "-F", "20", "-p", "2"]);
    run.assert_served("REQUEST-ACK");
    let (released, _, _) = run
        .exchange("RELEASE")
        .unwrap_or_else(|| panic!("no RELEASE stats:\n{}", run.stdout()));
    assert!(released > 0, "perfdhcp sent no RELEASE:\n{}", run.stdout());
    // perfdhcp does not wait for Kea to act on a RELEASE (there is no
    // answer), so the lease file may not show the last ones yet. Kea's one
    // packet thread answers in arrival order: once a later client's DORA is
    // answered, every RELEASE before it has been acted on. (perfdhcp counts
    // the last ACK of a run as dropped, hence more than one DORA.)
    run_perfdhcp(
        &chain.net,
        &["-b", "mac=02:00:00:00:99:01", "-r", "10", "-n", "3"],
    )
    .assert_served("REQUEST-ACK");
    let leases = chain.wait_redis_matches_kea();
    chain.wait_arpwatch_matches_kea();
    let live = ips(&leases);
    let notices = chain.arpwatch.notices();
    let gone: Vec<&Notice> = notices.iter().filter(|n| n.method == GONE).collect();
    assert!(
        !gone.is_empty(),
        "{released} RELEASEs and no lease_gone; {} notices\n{}",
        notices.len(),
        chain.diagnostics()
    );
    for n in &gone {
        assert_eq!(n.event, "release", "{n:?}");
        assert_eq!(n.node, NODE, "{n:?}");
        assert_eq!(n.subnet_id, 1, "{n:?}");
    }
    // Who released what, by Kea's own account. (A release soon after the
    // grant may coalesce with it, so the notices alone need not show a
    // lease_seen before each lease_gone.)
    let log = chain.kea.log();
    let releases: Vec<(&str, &str)> = log
        .lines()
        .filter(|l| l.contains("DHCP4_RELEASE ") && l.ends_with("was released properly."))
        .filter_map(|l| {
            let mac = l.split("[hwtype=1 ").nth(1)?.split(']').next()?;
            let ip = l.split("address ").last()?.split(' ').next()?;
            Some((ip, mac))
        })
        .collect();
    let released_by: BTreeMap<&str, &str> = releases.iter().copied().collect();
    // Each release Kea carried out is one lease_gone, unless a newer state
    // of the same address replaced it while pending (counted as coalesced).
    // Kea publishes aae's counters once a second: wait until they cover
    // every notice the stand-in got.
    let coalesced = wait_for("aae's counters to catch up", SETTLE, || {
        (chain.stat("aae.exported-arpwatch") == notices.len() as i64)
            .then(|| chain.stat("aae.events-coalesced"))
    });
    assert!(
        gone.len() as i64 + coalesced >= releases.len() as i64 && gone.len() <= releases.len(),
        "{} releases by Kea, {} lease_gone, {coalesced} coalesced",
        releases.len(),
        gone.len()
    );
    // Addresses released and not granted again: no key, and ARPwatch's last
    // word on them is the release, with the releasing client's MAC.
    let ended: Vec<Notice> = last_notices(&chain.arpwatch)
        .into_values()
        .filter(|n| !live.contains(&n.ip))
        .collect();
    assert!(
        !ended.is_empty(),
        "every released address was granted again: nothing shows a key removed"
    );
    for n in &ended {
        assert_eq!(
            (n.method.as_str(), n.event.as_str()),
            (GONE, "release"),
            "{n:?}"
        );
        let mac = released_by
            .get(n.ip.as_str())
            .unwrap_or_else(|| panic!("Kea logged no release of {}: {n:?}", n.ip));
        assert_eq!(n.mac, *mac, "{n:?}");
        assert!(chain.stored(&n.ip).is_none(), "{} is still in Redis", n.ip);
    }
    eprintln!(
        "{released} RELEASEs sent, {} carried out, {} lease_gone ({coalesced} coalesced), \
         {} addresses left released, {} leases",
        releases.len(),
        gone.len(),
        ended.len(),
        leases.len()
    );
}

/// Redis killed in the middle of a burst and back (empty) after it: Kea
/// answers every client meanwhile, and every lease granted while Redis was
/// down is in Redis afterwards, in its final state.
#[test]
fn redis_down_during_a_burst_loses_no_lease() {
    let mut chain = Chain::start(ArpwatchStandin::start(), Some(false));
    let (run, down_since) = std::thread::scope(|s| {
        // 150 clients for 3 s at 50 DORA/s, renewing at 10/s.
        let net = &chain.net;
        let burst =
            s.spawn(move || run_perfdhcp(net, &["-R", "150", "-r", "50", "-f", "10", "-p", "3"]));
        wait_for("the burst's first leases in Redis", SETTLE, || {
            (chain.redis_ips().len() >= 5).then_some(())
        });
        chain.redis.stop();
        let down_since = now();
        let acks = chain.stat("pkt4-ack-sent");
        wait_for("Kea to grant leases with Redis down", SETTLE, || {
            // Kea publishes statistics as it sends; aae's once a second.
            (chain.stat("pkt4-ack-sent") >= acks + 20 && chain.stat("aae.events-retried") > 0)
                .then_some(())
        });
        let run = burst.join().expect("perfdhcp thread");
        (run, down_since)
    });
    // Whatever was still pending is retried, not dropped, while Redis is
    // away.
    assert_eq!(
        chain.stat("aae.events-dropped"),
        0,
        "{}",
        chain.diagnostics()
    );
    chain.redis.restart();

    // Served throughout: perfdhcp got every answer it asked for.
    assert_all_answered(&run, "DISCOVER-OFFER");
    assert_all_answered(&run, "REQUEST-ACK");

    // Redis came back empty (a new run_id), so what aae wrote before the
    // outage is gone: the pending leases are written by the workers' retries,
    // and the older ones by the resync aae starts when it sees a new Redis.
    // Every lease Kea holds must be back, without reloading Kea.
    let after = chain
        .kea
        .leases()
        .iter()
        .filter(|l| l.expire - i64::from(l.valid_lifetime) > down_since)
        .count();
    assert!(
        after >= 10,
        "only {after} leases granted while Redis was down"
    );
    let want = ips(&chain.kea.leases());
    if poll_until(SETTLE, || want.is_subset(&chain.redis_ips()).then_some(())).is_none() {
        panic!(
            "leases Kea holds are missing from the restarted Redis: {:?}\n{}",
            want.difference(&chain.redis_ips()).collect::<Vec<_>>(),
            chain.diagnostics()
        );
    }
    let all = ips(&chain.kea.leases());
    let in_redis = chain.redis_ips();
    assert!(
        in_redis.is_subset(&all),
        "Redis holds addresses Kea never leased"
    );
    for l in chain
        .kea
        .leases()
        .iter()
        .filter(|l| in_redis.contains(&l.address))
    {
        chain.assert_stored(l);
    }
    // Redis's outage did not hold ARPwatch back.
    chain.wait_arpwatch_matches_kea();
    eprintln!(
        "{} leases granted after Redis died, {} in all, {} in Redis",
        after,
        all.len(),
        in_redis.len()
    );
}

/// ARPwatch refusing connections through a burst: Kea answers every client,
/// aae's backlog never exceeds the number of distinct addresses, Redis is
/// not held back, and once ARPwatch listens it hears every address's final
/// state.
#[test]
fn arpwatch_not_listening_during_a_burst_then_up_gets_every_final_state() {
    let mut chain = Chain::start(ArpwatchStandin::not_listening(), Some(false));
    let (run, max_backlog) = std::thread::scope(|s| {
        // 100 clients for 3 s at 50 DORA/s, renewing at 20/s: several
        // states per address, which must coalesce.
        let net = &chain.net;
        let burst =
            s.spawn(move || run_perfdhcp(net, &["-R", "100", "-r", "50", "-f", "20", "-p", "3"]));
        let mut max_backlog = 0;
        while !burst.is_finished() {
            max_backlog = max_backlog.max(chain.stat("aae.backlog"));
            std::thread::sleep(Duration::from_millis(100));
        }
        (burst.join().expect("perfdhcp thread"), max_backlog)
    });
    assert_all_answered(&run, "DISCOVER-OFFER");
    assert_all_answered(&run, "REQUEST-ACK");
    let leases = chain.wait_redis_matches_kea();
    // The statistics are published once a second: see the last of the burst.
    let backlog = wait_for("aae.backlog to show the burst", SETTLE, || {
        let b = chain.stat("aae.backlog");
        (b > 0).then_some(b)
    });
    let distinct = leases.len() as i64;
    let max_backlog = max_backlog.max(backlog);
    assert!(
        max_backlog <= distinct,
        "backlog {max_backlog} exceeds the {distinct} distinct addresses\n{}",
        chain.diagnostics()
    );
    assert!(chain.arpwatch.notices().is_empty());
    assert_eq!(
        chain.stat("aae.events-dropped"),
        0,
        "{}",
        chain.diagnostics()
    );

    chain.arpwatch.restart();
    let settled = chain.wait_arpwatch_matches_kea();
    assert_eq!(
        ips(&settled),
        ips(&leases),
        "Kea granted leases after the burst"
    );
    wait_for("aae.backlog to empty", SETTLE, || {
        (chain.stat("aae.backlog") == 0).then_some(())
    });
    // Coalesced: at most one notice per address came out of the outage.
    let notices = chain.arpwatch.notices();
    assert!(
        notices.len() <= leases.len(),
        "{} notices for {} addresses",
        notices.len(),
        leases.len()
    );
    eprintln!(
        "{} addresses, backlog at most {max_backlog}, {} notices once up",
        leases.len(),
        notices.len()
    );
}

/// With the default parameters (`arpwatch-multicall` "auto"), an ARPwatch
/// without `system.multicall` gets every notice in single calls, having
/// refused at most one multicall per worker; one that lists its methods
/// without it is never sent one. After an outage aae checks again, and an
/// ARPwatch that now serves multicall gets batches. Each switch is logged
/// once, and nothing is lost by any of them.
#[test]
fn by_default_an_arpwatch_without_multicall_gets_every_notice_in_single_calls() {
    use system_tests::arpwatch::Behaviour;
    const MULTICALL: &str = "system.multicall";
    let without = Behaviour {
        without_multicall: true,
        ..Behaviour::default()
    };
    let mut chain = Chain::start(ArpwatchStandin::start_with(without.clone()), None);
    let logged = |chain: &Chain| -> Vec<String> {
        let log = chain.kea.log();
        log.lines()
            .filter(|l| l.contains("AAE_ARPWATCH_MULTICALL"))
            .map(str::to_owned)
            .collect()
    };
    let burst = |chain: &Chain| {
        chain
            .perfdhcp(&["-R", "30", "-r", "40", "-f", "10", "-p", "2"])
            .assert_served("REQUEST-ACK");
        let leases = chain.wait_arpwatch_matches_kea();
        assert_eq!(
            chain.stat("aae.events-dropped"),
            0,
            "{}",
            chain.diagnostics()
        );
        leases
    };
    let outage = |chain: &mut Chain, behaviour: Behaviour| {
        chain.arpwatch.stop();
        chain.arpwatch.set_behaviour(behaviour);
        chain
            .perfdhcp(&["-R", "20", "-n", "20", "-r", "100"])
            .assert_served("REQUEST-ACK");
        wait_for("aae.backlog to show the burst", SETTLE, || {
            (chain.stat("aae.backlog") > 0).then_some(())
        });
        chain.arpwatch.restart();
    };

    // 1. No multicall, no introspection: the multicall itself tells.
    let leases = burst(&chain);
    let refused = chain.arpwatch.refused();
    let multicalls = refused.iter().filter(|m| *m == MULTICALL).count();
    assert!(
        (1..=2).contains(&multicalls),
        "one refused multicall per worker at most: {refused:?}"
    );
    assert!(chain.arpwatch.multicalls().is_empty());
    let lines = logged(&chain);
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(
        lines[0].contains("does not serve system.multicall"),
        "{lines:?}"
    );
    assert!(
        lines[0].contains("fault 1"),
        "Python's own fault code: {lines:?}"
    );
    eprintln!(
        "{} leases in single calls after {multicalls} refused multicalls",
        leases.len()
    );

    // 2. An ARPwatch that lists its methods without multicall is asked
    // again after the outage, and never sent a multicall.
    outage(
        &mut chain,
        Behaviour {
            introspection: true,
            ..without
        },
    );
    chain.wait_arpwatch_matches_kea();
    let refused = chain.arpwatch.refused();
    assert_eq!(
        refused.iter().filter(|m| *m == MULTICALL).count(),
        multicalls,
        "{refused:?}"
    );
    assert_eq!(
        logged(&chain).len(),
        1,
        "a confirmation is not logged again"
    );

    // 3. One that serves multicall gets batches after the next outage.
    outage(&mut chain, Behaviour::default());
    let notices = chain.arpwatch.notices().len();
    let leases = burst(&chain);
    let batches = chain.arpwatch.multicalls();
    assert!(!batches.is_empty(), "no multicall after ARPwatch came back");
    let lines = logged(&chain);
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert!(lines[1].contains("serves system.multicall"), "{lines:?}");
    eprintln!(
        "{} leases, then {} notices in {} multicalls after ARPwatch changed",
        leases.len(),
        chain.arpwatch.notices().len() - notices,
        batches.len()
    );
}

/// With `arpwatch-multicall` the same exchange arrives in
/// `system.multicall` batches, and complete; what piles up while ARPwatch is
/// away arrives in batches of many.
#[test]
fn multicall_batches_carry_every_notice() {
    let mut chain = Chain::start(ArpwatchStandin::start(), Some(true));
    chain
        .perfdhcp(&["-R", "30", "-r", "40", "-f", "10", "-p", "2"])
        .assert_served("REQUEST-ACK");
    let leases = chain.wait_redis_matches_kea();
    assert!(leases.len() > 10, "only {} leases", leases.len());
    chain.wait_arpwatch_matches_kea();
    let notices = chain.arpwatch.notices().len();
    let batches = chain.arpwatch.multicalls();
    assert_eq!(
        batches.iter().sum::<usize>(),
        notices,
        "notices outside a multicall; batches {batches:?}"
    );

    // A live ARPwatch at this rate mostly gets batches of one (aae lingers
    // only 2 ms for company); a backlog is what makes a batch big.
    chain.arpwatch.stop();
    chain
        .perfdhcp(&["-R", "50", "-n", "50", "-r", "100"])
        .assert_served("REQUEST-ACK");
    wait_for("aae.backlog to show the second burst", SETTLE, || {
        (chain.stat("aae.backlog") > 10).then_some(())
    });
    chain.arpwatch.restart();
    let leases = chain.wait_arpwatch_matches_kea();
    let after = &chain.arpwatch.multicalls()[batches.len()..];
    let more = chain.arpwatch.notices().len() - notices;
    assert_eq!(
        after.iter().sum::<usize>(),
        more,
        "notices outside a multicall; batches {after:?}"
    );
    assert!(
        after.iter().any(|&b| b > 1),
        "the backlog did not arrive batched: {after:?}"
    );
    eprintln!(
        "{notices} notices live in {} batches, then {more} after an outage in {after:?}; {} leases",
        batches.len(),
        leases.len()
    );
}

/// ARPwatch down through bursts, a `config-reload` and a restart of Kea,
/// each of which unloads aae with notices pending for ARPwatch: they go to
/// the spool and come back at the next load, so once ARPwatch is up it
/// hears the final state of every address. (Redis is repaired at each load
/// by the resync.)
#[test]
fn notices_pending_for_arpwatch_survive_a_reload_and_a_restart_of_kea() {
    let mut chain = Chain::start(ArpwatchStandin::not_listening(), Some(true));
    // 100 clients for 2 s at 50 DORA/s, renewing at 20/s.
    chain
        .perfdhcp(&["-R", "100", "-r", "50", "-f", "20", "-p", "2"])
        .assert_served("REQUEST-ACK");
    let leases = chain.wait_redis_matches_kea();
    assert!(chain.arpwatch.notices().is_empty());

    let answer = chain.kea.reload(&chain.config);
    assert_eq!(answer["result"], 0, "config-reload refused: {answer}");
    // ARPwatch heard of none of them: every address is spooled.
    let spooled = chain.wait_logged_count("AAE_SPOOL_WRITTEN");
    assert_eq!(spooled, leases.len(), "{}", chain.diagnostics());
    let restored = chain.wait_logged_count("AAE_SPOOL_RESTORED");
    assert_eq!(restored, spooled, "{}", chain.diagnostics());
    assert!(!chain.spool().exists(), "the spool is removed once read");

    // The same clients again, renewing (new states for spooled addresses),
    // and up to 50 more (perfdhcp takes its clients in turn).
    chain
        .perfdhcp(&["-R", "150", "-r", "100", "-f", "20", "-p", "2"])
        .assert_served("REQUEST-ACK");
    let leases = chain.wait_redis_matches_kea();
    assert!(
        leases.len() > restored,
        "the second burst added no address: {} leases, {restored} before",
        leases.len()
    );
    // Kea's own shutdown unloads the hook too. The restart starts a new log,
    // so read this one first.
    chain.kea.stop();
    let log = chain.kea.log();
    assert!(
        log.lines()
            .any(|l| l.contains("AAE_SPOOL_WRITTEN") && l.contains(&format!(" {} ", leases.len()))),
        "no AAE_SPOOL_WRITTEN of {} notices at shutdown:\n{}",
        leases.len(),
        chain.diagnostics()
    );
    let text = std::fs::read_to_string(chain.spool()).expect("a spool after shutdown");
    let header: Value = serde_json::from_str(text.lines().next().unwrap_or_default())
        .unwrap_or_else(|e| panic!("spool header: {e}\n{text}"));
    assert_eq!(header["aae-arpwatch-spool"], 1, "{header}");
    assert_eq!(header["leases"], leases.len(), "{header}");
    assert_eq!(text.lines().count(), leases.len() + 1);

    chain.kea.restart(&chain.net);
    assert_eq!(chain.wait_logged_count("AAE_SPOOL_RESTORED"), leases.len());
    assert!(!chain.spool().exists(), "the spool is removed once read");
    chain.wait_redis_matches_kea();

    chain.arpwatch.restart();
    let settled = chain.wait_arpwatch_matches_kea();
    assert_eq!(
        ips(&settled),
        ips(&leases),
        "Kea granted leases after the bursts"
    );
    // Coalesced through both unloads: one notice per address.
    let notices = chain.arpwatch.notices();
    assert!(
        notices.len() <= leases.len(),
        "{} notices for {} addresses",
        notices.len(),
        leases.len()
    );
    wait_for("aae.backlog to empty", SETTLE, || {
        (chain.stat("aae.backlog") == 0).then_some(())
    });
    eprintln!(
        "{restored} notices spooled over a reload, {} over a restart, {} heard once ARPwatch was up",
        leases.len(),
        notices.len()
    );
}

/// A spool Kea cannot write is refused when the hook loads, naming the
/// parameter, rather than discovered at the unload that needs it.
#[test]
fn a_spool_in_a_missing_directory_is_refused_at_load() {
    let net = NetnsPair::create();
    let dir = tempfile::tempdir().expect("temp dir");
    let spool = dir.path().join("missing/arpwatch.spool");
    let config = KeaConfig::default().with_hook(
        &aae_library(),
        json!({
            "arpwatch-url": "http://127.0.0.1:9/RPC2",
            "arpwatch-spool": spool,
            "node-name": NODE
        }),
    );
    let (status, log) = Kea::start_failing(&net, &config);
    assert!(
        !status.success(),
        "Kea accepted the spool {spool:?}:\n{log}"
    );
    let line = log
        .lines()
        .find(|l| l.contains("AAE_LOAD_FAILED"))
        .unwrap_or_else(|| panic!("no AAE_LOAD_FAILED:\n{log}"));
    assert!(
        line.contains("parameter 'arpwatch-spool'") && line.contains("No such file or directory"),
        "{line}"
    );
}

/// An ARPwatch stand-in serving https with a certificate `pki` issued for
/// 127.0.0.1, asking for the client certificate and credentials of `tls`.
fn https_standin(
    pki: &Pki,
    client_ca: Option<&Pki>,
    credentials_file: Option<&std::path::Path>,
) -> Behaviour {
    Behaviour {
        tls: Some(Tls {
            server: pki.issue("arpwatch", Usage::Server, &["127.0.0.1"]),
            client_ca: client_ca.map(|ca| ca.ca_file().to_owned()),
            credentials_file: credentials_file.map(std::path::Path::to_owned),
        }),
        ..Behaviour::default()
    }
}

/// Over https, with a client certificate the stand-in requires and HTTP
/// basic credentials it checks, every lease reaches ARPwatch; the password
/// shows neither in Kea's log nor in its config-get.
#[test]
fn leases_reach_arpwatch_over_https_with_a_client_certificate_and_credentials() {
    const PASSWORD: &str = "chain-s3cret";
    let pki = Pki::new("chain");
    let client = pki.issue("aae", Usage::Client, &[]);
    let credentials = pki.dir().join("arpwatch.credentials");
    write_file(&credentials, &format!("aae:{PASSWORD}\n"), 0o600);
    let arpwatch = ArpwatchStandin::start_with(https_standin(&pki, Some(&pki), Some(&credentials)));
    assert!(arpwatch.url().starts_with("https://127.0.0.1:"));
    let chain = Chain::start_with(
        arpwatch,
        None,
        json!({
            "arpwatch-ca-file": seen_by_kea(pki.ca_file()),
            "arpwatch-client-cert": seen_by_kea(&client.cert),
            "arpwatch-client-key": seen_by_kea(&client.key),
            "arpwatch-credentials-file": seen_by_kea(&credentials),
        }),
    );
    chain
        .perfdhcp(&["-R", "20", "-r", "40", "-f", "10", "-p", "2"])
        .assert_served("REQUEST-ACK");
    let leases = chain.wait_arpwatch_matches_kea();
    chain.wait_redis_matches_kea();
    let log = chain.kea.log();
    let loaded = log
        .lines()
        .find(|l| l.contains("AAE_LOAD_OK"))
        .unwrap_or_else(|| panic!("no AAE_LOAD_OK:\n{log}"));
    assert!(
        loaded.contains("CA file")
            && loaded.contains("client certificate")
            && loaded.contains("as user 'aae'"),
        "{loaded}"
    );
    assert!(
        !log.contains("AAE_ARPWATCH_DOWN"),
        "{}",
        chain.diagnostics()
    );
    assert!(!log.contains(PASSWORD), "the password is in Kea's log");
    let config = chain.kea.command_ok("config-get", None).to_string();
    assert!(config.contains("arpwatch-credentials-file"), "{config}");
    assert!(!config.contains(PASSWORD), "the password is in config-get");
    eprintln!(
        "{} leases over https in {} multicalls",
        leases.len(),
        chain.arpwatch.multicalls().len()
    );
}

/// A stand-in whose certificate is from another CA is an outage of the
/// ARPwatch sink: Kea serves every client, Redis is not held back, one
/// AAE_ARPWATCH_DOWN line gives the verification reason, and once the
/// stand-in restarts with a certificate from aae's CA it hears every
/// address's final state.
#[test]
fn a_certificate_from_another_ca_is_an_outage_that_ends_with_a_good_one() {
    let ours = Pki::new("ours");
    let theirs = Pki::new("theirs");
    let arpwatch = ArpwatchStandin::start_with(https_standin(&theirs, None, None));
    let mut chain = Chain::start_with(
        arpwatch,
        Some(false),
        json!({"arpwatch-ca-file": seen_by_kea(ours.ca_file())}),
    );
    let run = chain.perfdhcp(&["-R", "40", "-r", "40", "-f", "10", "-p", "2"]);
    assert_all_answered(&run, "DISCOVER-OFFER");
    assert_all_answered(&run, "REQUEST-ACK");
    let leases = chain.wait_redis_matches_kea();
    let down = wait_for("AAE_ARPWATCH_DOWN in Kea's log", SETTLE, || {
        let log = chain.kea.log();
        let lines: Vec<String> = log
            .lines()
            .filter(|l| l.contains("AAE_ARPWATCH_DOWN"))
            .map(str::to_owned)
            .collect();
        (!lines.is_empty()).then_some(lines)
    });
    assert_eq!(down.len(), 1, "{down:#?}");
    assert!(
        down[0].contains("TLS with https://127.0.0.1:")
            && down[0].contains("not signed by a CA this client trusts"),
        "{}",
        down[0]
    );
    assert!(chain.arpwatch.notices().is_empty());
    assert!(
        chain.arpwatch.log().contains("unknown ca"),
        "the stand-in saw no refused handshake: {}",
        chain.arpwatch.log()
    );
    assert_eq!(
        chain.stat("aae.events-dropped"),
        0,
        "{}",
        chain.diagnostics()
    );

    chain
        .arpwatch
        .set_behaviour(https_standin(&ours, None, None));
    chain.arpwatch.restart();
    let settled = chain.wait_arpwatch_matches_kea();
    assert_eq!(
        ips(&settled),
        ips(&leases),
        "Kea granted leases after the run"
    );
    let log = chain.kea.log();
    assert_eq!(
        log.matches("AAE_ARPWATCH_DOWN").count(),
        1,
        "{}",
        chain.diagnostics()
    );
    assert!(log.contains("AAE_ARPWATCH_UP"), "{}", chain.diagnostics());
    wait_for("aae.backlog to empty", SETTLE, || {
        (chain.stat("aae.backlog") == 0).then_some(())
    });
    eprintln!(
        "{} leases; {} notices once the certificate was replaced; down line: {}",
        leases.len(),
        chain.arpwatch.notices().len(),
        down[0]
    );
}
