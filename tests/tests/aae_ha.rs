//! aae on a Kea HA pair: two real `kea-dhcp4` (or `kea-dhcp6`) nodes with
//! ISC's lease_cmds and HA hooks and aae, each with its own Redis, ARPwatch
//! stand-in and (where asked) aai, on one bridge with perfdhcp
//! (`system_tests::ha`). Each node's lease database is the truth for that
//! node: its Redis must say the same, whether a lease came from a client,
//! from the HA partner's update, from an operator's command or from HA's
//! sync after a node came back. ARPwatch hears each lease event once, from
//! the node that served it.
//!
//! Bounds aae promises: an event (a partner update, a command) is in Redis
//! within 1 s; a node that comes back has a Redis equal to its lease
//! database within heartbeat-delay + 5 s (+ 1 s per 10,000 leases) after its
//! HA sync, as docs/operations.md states.
//!
//! Needs root, `cargo build --release -p aae` and `cargo build -p aai`
//! first (same `CARGO_TARGET_DIR`).

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use system_tests::arpwatch::Notice;
use system_tests::ha::{
    HaConfig, HaMode, HaNode, HaPair, assert_stays, map_diff, wait_redis_equals_leases,
};
use system_tests::kea::Family;
use system_tests::{poll_until, wait_for};

const SEEN: &str = "arpwatch.lease_seen";
const GONE: &str = "arpwatch.lease_gone";

/// aae's bound for one event (partner update, lease command) to be in
/// Redis, plus what one look at a node's Redis costs (a SCAN and a GET per
/// key, a few ms each for a few hundred keys).
const EVENT_BOUND: Duration = Duration::from_millis(1500);
/// For what no bound is promised but that must happen (ARPwatch's notices,
/// which a loaded machine may delay; HA state changes).
const SETTLE: Duration = Duration::from_secs(20);
/// How long a node with nothing to say must stay quiet: more than the
/// event bound, and more than aae's worker needs to post a notice.
const QUIET: Duration = Duration::from_secs(3);

fn leases_of(node: &HaNode) -> BTreeMap<String, String> {
    node.lease_macs()
}

/// Waits until both nodes' lease databases hold the same leases (Kea's
/// HA at work: the partner's update is written before the client is
/// answered, so this is the Kea side and not aae's). Returns them.
fn wait_lease_dbs_agree(pair: &HaPair) -> BTreeMap<String, String> {
    poll_until(SETTLE, || {
        let a = leases_of(pair.node(0));
        (!a.is_empty() && a == leases_of(pair.node(1))).then_some(a)
    })
    .unwrap_or_else(|| {
        panic!(
            "the nodes' lease databases differ (Kea's HA did not replicate):\n{}\n{}",
            map_diff(&leases_of(pair.node(0)), &leases_of(pair.node(1))),
            pair.diagnostics()
        )
    })
}

/// Waits until every lease in `want` answers from `node`'s Redis with its
/// MAC (and possibly more keys), within `timeout`.
fn wait_redis_has(pair: &HaPair, i: usize, want: &BTreeMap<String, String>, timeout: Duration) {
    let node = pair.node(i);
    let ok = poll_until(timeout, || {
        let got = node.redis_macs();
        want.iter()
            .all(|(ip, mac)| got.get(ip) == Some(mac))
            .then_some(())
    });
    if ok.is_none() {
        let got = node.redis_macs();
        let got: BTreeMap<String, String> = got
            .into_iter()
            .filter(|(ip, _)| want.contains_key(ip))
            .collect();
        panic!(
            "{}'s Redis does not answer every lease within {timeout:?}:\n{}\n{}",
            node.name,
            map_diff(want, &got),
            pair.diagnostics()
        );
    }
}

/// The notices `node`'s ARPwatch received, by address, in arrival order.
fn notices_by_ip(node: &HaNode) -> BTreeMap<String, Vec<Notice>> {
    let mut by_ip: BTreeMap<String, Vec<Notice>> = BTreeMap::new();
    for n in node.notices() {
        by_ip.entry(n.ip.clone()).or_default().push(n);
    }
    by_ip
}

/// Waits until `node`'s ARPwatch heard a `lease_seen` for every lease in
/// `leases` with its MAC; then checks it heard exactly one notice per
/// lease and nothing else, under `node`'s name (`from`).
fn wait_one_seen_per_lease(pair: &HaPair, i: usize, leases: &BTreeMap<String, String>, from: &str) {
    let node = pair.node(i);
    let heard = poll_until(SETTLE, || {
        let by_ip = notices_by_ip(node);
        leases
            .iter()
            .all(|(ip, mac)| {
                by_ip
                    .get(ip)
                    .is_some_and(|ns| ns.iter().any(|n| n.method == SEEN && &n.mac == mac))
            })
            .then_some(())
    });
    let by_ip = notices_by_ip(node);
    if heard.is_none() {
        let missing: Vec<&String> = leases
            .keys()
            .filter(|ip| !by_ip.contains_key(*ip))
            .collect();
        panic!(
            "{}'s ARPwatch did not hear a lease_seen for every lease: {} of {} missing: {missing:?}\n{}",
            node.name,
            missing.len(),
            leases.len(),
            pair.diagnostics()
        );
    }
    let extra: Vec<&String> = by_ip
        .keys()
        .filter(|ip| !leases.contains_key(*ip))
        .collect();
    assert!(
        extra.is_empty(),
        "{}'s ARPwatch heard of addresses that are no lease: {extra:?}",
        node.name
    );
    for (ip, ns) in &by_ip {
        assert_eq!(
            ns.len(),
            1,
            "{}'s ARPwatch heard {ip} {} times for one lease event: {ns:?}",
            node.name,
            ns.len()
        );
        let n = &ns[0];
        assert_eq!(n.method, SEEN, "{n:?}");
        assert_eq!(n.node, from, "{n:?}");
        assert_eq!(n.subnet_id, 1, "{n:?}");
    }
}

/// Failover and return on a hot-standby v4 pair, every step checked on
/// both nodes' Redis against their own lease databases.
#[test]
fn hot_standby_v4_failover_and_return_keep_both_redis_equal_to_their_lease_dbs() {
    let cfg = HaConfig {
        aai: true,
        ..HaConfig::default()
    };
    let mut pair = HaPair::start(&cfg);

    // 200 clients against the pair: the primary serves them and updates
    // the standby before it answers each one.
    pair.perfdhcp(&["-R", "200", "-n", "200", "-r", "100"])
        .assert_served("REQUEST-ACK");
    let old = wait_lease_dbs_agree(&pair);
    assert!(old.len() >= 150, "only {} leases of 200 clients", old.len());
    assert_eq!(pair.node(1).stat("pkt4-ack-sent"), 0, "the standby served");
    // Every lease answers on both nodes: the primary's Redis from its own
    // grants, the standby's from the partner's updates.
    wait_redis_has(&pair, 0, &old, EVENT_BOUND);
    wait_redis_has(&pair, 1, &old, EVENT_BOUND);
    wait_redis_equals_leases(&pair, 0, EVENT_BOUND);
    wait_redis_equals_leases(&pair, 1, EVENT_BOUND);

    // The primary dies. The standby notices within max-response-delay and
    // takes over every client.
    pair.kill(0);
    let t = Instant::now();
    pair.wait_state(1, "partner-down", SETTLE);
    eprintln!("standby partner-down {:?} after the kill", t.elapsed());
    let run = pair.perfdhcp(&[
        "-R",
        "50",
        "-n",
        "50",
        "-r",
        "50",
        "-b",
        "mac=02:00:00:bb:00:00",
    ]);
    run.assert_served("REQUEST-ACK");
    let standby = pair.node(1);
    let all = leases_of(standby);
    let new: BTreeMap<String, String> = all
        .iter()
        .filter(|(ip, _)| !old.contains_key(*ip))
        .map(|(ip, mac)| (ip.clone(), mac.clone()))
        .collect();
    assert!(
        new.len() >= 20,
        "the standby granted only {} new leases",
        new.len()
    );
    assert!(
        old.keys().all(|ip| all.contains_key(ip)),
        "the standby lost leases of the primary"
    );
    // Old and new leases answer from the standby, in Redis and from aai.
    wait_redis_has(&pair, 1, &new, EVENT_BOUND);
    wait_redis_equals_leases(&pair, 1, EVENT_BOUND);
    for (ip, mac) in &all {
        assert_eq!(
            standby.aai_mac(ip).as_deref(),
            Some(mac.as_str()),
            "aai on the standby, get_mac({ip})"
        );
    }
    assert_eq!(
        standby.aai_mac("192.0.2.253"),
        None,
        "an address never leased"
    );

    // The primary comes back: it waits, syncs the standby's leases into its
    // lease database, and both return to hot-standby.
    pair.restart(0);
    pair.wait_state(0, "hot-standby", SETTLE);
    pair.wait_state(1, "hot-standby", SETTLE);
    let synced = Instant::now();
    let log = pair.node(0).kea.log();
    assert!(
        log.contains("HA_SYNC_SUCCESSFUL"),
        "the primary came back without a sync:\n{}",
        pair.diagnostics()
    );
    // The sync is Kea's: the primary's lease database now holds what the
    // standby granted while it was away.
    let both = wait_lease_dbs_agree(&pair);
    assert!(
        new.keys().all(|ip| both.contains_key(ip)),
        "the primary's sync missed leases the standby granted"
    );
    // And each node's Redis equals its own lease database, key for key,
    // within the bound docs/operations.md states: heartbeat-delay + 5 s
    // + 1 s per 10,000 leases after the sync.
    let bound = cfg.heartbeat_delay
        + Duration::from_secs(5)
        + Duration::from_secs_f64(both.len() as f64 / 10_000.0);
    for i in 0..2 {
        let leases = wait_redis_equals_leases(&pair, i, bound.saturating_sub(synced.elapsed()));
        assert_eq!(leases, both, "{}", pair.node(i).name);
    }
    eprintln!(
        "{} leases before the failover, {} granted by the standby alone, both Redis equal after {:?}",
        old.len(),
        new.len(),
        synced.elapsed()
    );
}

/// Load balancing: each node serves its half of the clients and updates
/// the other, so a lease granted by either answers from both Redis. aae is
/// loaded first here, before lease_cmds and HA: the order must not matter.
#[test]
fn load_balancing_v4_leases_of_either_node_answer_from_both() {
    let pair = HaPair::start(&HaConfig {
        mode: HaMode::LoadBalancing,
        aae_first: true,
        ..HaConfig::default()
    });
    pair.perfdhcp(&["-R", "100", "-n", "100", "-r", "100"])
        .assert_served("REQUEST-ACK");
    let leases = wait_lease_dbs_agree(&pair);
    let acks: Vec<i64> = pair.nodes.iter().map(|n| n.stat("pkt4-ack-sent")).collect();
    assert!(
        acks.iter().all(|&a| a > 0),
        "both nodes should serve some clients: ACKs {acks:?}"
    );
    // Each node granted from its own pool; every lease answers from both.
    for i in 0..2 {
        wait_redis_has(&pair, i, &leases, EVENT_BOUND);
        wait_redis_equals_leases(&pair, i, EVENT_BOUND);
    }
    eprintln!("{} leases, ACKs by node {acks:?}", leases.len());
}

/// Sends a lease command to `node`, asserting Kea carried it out; returns
/// when Kea answered.
fn lease_command(node: &HaNode, command: &str, args: Value) -> Instant {
    node.kea.command_ok(command, Some(args));
    Instant::now()
}

/// Waits, within the event bound from `since`, until `node`'s Redis says
/// `want` for `ip` (`None`: no key).
fn wait_key(pair: &HaPair, i: usize, ip: &str, want: Option<&str>, since: Instant, what: &str) {
    let node = pair.node(i);
    let left = EVENT_BOUND.saturating_sub(since.elapsed());
    let ok = poll_until(left, || {
        let mac = node
            .stored(ip)
            .map(|v| v["mac"].as_str().unwrap_or("").to_owned());
        (mac.as_deref() == want).then_some(())
    });
    if ok.is_none() {
        panic!(
            "{what}: {}'s Redis has {:?} for {ip} {:?} after the command, want {want:?}\n{}",
            node.name,
            node.stored(ip),
            since.elapsed(),
            pair.diagnostics()
        );
    }
}

/// Waits until `node`'s ARPwatch has heard `count` notices for `ip`;
/// returns them.
fn wait_notices(pair: &HaPair, i: usize, ip: &str, count: usize) -> Vec<Notice> {
    let node = pair.node(i);
    poll_until(SETTLE, || {
        let ns = notices_by_ip(node).remove(ip).unwrap_or_default();
        (ns.len() >= count).then_some(ns)
    })
    .unwrap_or_else(|| {
        panic!(
            "{}'s ARPwatch heard {:?} for {ip}, want {count} notices\n{}",
            node.name,
            notices_by_ip(node).get(ip),
            pair.diagnostics()
        )
    })
}

/// An operator's lease commands on either node of a hot-standby pair:
/// add, update with a new MAC and delete each show in that node's Redis
/// within 1 s, and its ARPwatch hears each once (lease_seen, lease_seen,
/// lease_gone, whether or not the delete names the MAC). Kea 2.2's HA does not pass an operator's command on to the
/// partner (only leases its own clients got), so the partner's lease
/// database does not change, and neither may its Redis nor its ARPwatch.
/// A wipe empties that node's Redis of the wiped subnet within 1 s.
#[test]
fn lease_commands_on_either_node_reach_its_redis_within_a_second_and_its_arpwatch_once() {
    let pair = HaPair::start(&HaConfig {
        aae_first: true,
        ..HaConfig::default()
    });
    // Some clients first, so there is something to wipe on each node.
    pair.perfdhcp(&["-R", "20", "-n", "20", "-r", "50"])
        .assert_served("REQUEST-ACK");
    let clients = wait_lease_dbs_agree(&pair);
    for i in 0..2 {
        wait_redis_equals_leases(&pair, i, EVENT_BOUND);
    }
    let before: Vec<usize> = pair.nodes.iter().map(|n| n.notices().len()).collect();

    // The delete names the address and the MAC on the primary, the address
    // alone on the standby (the way `lease4-del` is documented): ARPwatch
    // hears lease_gone, with the MAC the lease had, either way.
    for (i, ip, first, second, del_names_mac) in [
        (
            0,
            "192.0.2.251",
            "1a:00:00:00:01:01",
            "1a:00:00:00:01:02",
            true,
        ),
        (
            1,
            "192.0.2.252",
            "1a:00:00:00:02:01",
            "1a:00:00:00:02:02",
            false,
        ),
    ] {
        let node = pair.node(i);
        let partner = pair.partner(i);
        let what = |c: &str| format!("{c} on {}", node.name);

        let t = lease_command(
            node,
            "lease4-add",
            json!({"ip-address": ip, "hw-address": first}),
        );
        wait_key(&pair, i, ip, Some(first), t, &what("lease4-add"));
        let seen = wait_notices(&pair, i, ip, 1);
        assert_eq!(
            (seen[0].method.as_str(), seen[0].mac.as_str()),
            (SEEN, first)
        );
        assert_eq!(seen[0].node, node.name, "{:?}", seen[0]);

        let t = lease_command(
            node,
            "lease4-update",
            json!({"ip-address": ip, "hw-address": second}),
        );
        wait_key(&pair, i, ip, Some(second), t, &what("lease4-update"));
        let seen = wait_notices(&pair, i, ip, 2);
        assert_eq!(
            (seen[1].method.as_str(), seen[1].mac.as_str()),
            (SEEN, second)
        );

        let del = if del_names_mac {
            json!({"ip-address": ip, "hw-address": second})
        } else {
            json!({"ip-address": ip})
        };
        let t = lease_command(node, "lease4-del", del);
        wait_key(&pair, i, ip, None, t, &what("lease4-del"));
        let heard = wait_notices(&pair, i, ip, 3);
        assert_eq!(heard[2].method, GONE, "{:?}", heard[2]);
        assert_eq!(heard[2].mac, second, "{:?}", heard[2]);

        // The partner's lease database never had the address (HA does not
        // carry operators' commands), and its Redis and ARPwatch agree.
        assert!(
            !partner.lease_macs().contains_key(ip),
            "{} has {ip} in its lease database: did Kea's HA pass on the command?",
            partner.name
        );
        assert_eq!(partner.stored(ip), None, "{}'s Redis", partner.name);
        assert!(
            !notices_by_ip(partner).contains_key(ip),
            "{}'s ARPwatch heard of {ip}",
            partner.name
        );
    }
    // Once each: no notice came twice or late, and nothing else was said.
    assert_stays("no further notices", QUIET, || {
        for (i, node) in pair.nodes.iter().enumerate() {
            let n = node.notices().len() - before[i];
            if n != 3 {
                return Err(format!("{} heard {n} notices, want 3", node.name));
            }
        }
        Ok(())
    });

    // The operator wipes the standby's subnet: its lease database and so
    // its Redis are empty; the primary keeps its leases and keys.
    let t = lease_command(pair.node(1), "lease4-wipe", json!({"subnet-id": 1}));
    assert!(pair.node(1).lease_macs().is_empty());
    let emptied = poll_until(EVENT_BOUND.saturating_sub(t.elapsed()), || {
        pair.node(1).redis_macs().is_empty().then_some(())
    });
    assert!(
        emptied.is_some(),
        "lease4-wipe on server2: {} keys left in its Redis after {:?}\n{}",
        pair.node(1).redis_macs().len(),
        t.elapsed(),
        pair.diagnostics()
    );
    assert_eq!(wait_redis_equals_leases(&pair, 0, EVENT_BOUND), clients);
}

/// In steady state the serving node's ARPwatch hears each lease event once,
/// and the standby's hears nothing of its partner's updates: the primary
/// told its own ARPwatch, and one ARPwatch watches the segment.
#[test]
fn arpwatch_hears_each_lease_once_from_the_serving_node_only() {
    let pair = HaPair::start(&HaConfig::default());
    // 30 clients, one DORA each, slowly: no two events of one address.
    pair.perfdhcp(&["-R", "30", "-n", "30", "-r", "20"])
        .assert_served("REQUEST-ACK");
    let leases = wait_lease_dbs_agree(&pair);
    let primary = pair.node(0);
    // One DORA per client: one lease event per lease, by Kea's count.
    let acks = wait_for("the primary's ACK count", SETTLE, || {
        let acks = primary.stat("pkt4-ack-sent");
        (acks >= leases.len() as i64).then_some(acks)
    });
    assert_eq!(acks, leases.len() as i64, "one ACK per lease");
    wait_one_seen_per_lease(&pair, 0, &leases, &primary.name);
    // The standby took every update (its Redis says so), and told its
    // ARPwatch nothing.
    wait_redis_equals_leases(&pair, 1, EVENT_BOUND);
    assert_stays("the standby's ARPwatch hears nothing", QUIET, || {
        let heard = pair.node(1).notices();
        if heard.is_empty() { Ok(()) } else { Err(heard) }
    });
    assert_eq!(primary.notices().len(), leases.len());
}

/// With `"arpwatch-partner-updates": true` the standby tells its own
/// ARPwatch of its partner's updates too (each once), and the primary
/// still tells its own.
#[test]
fn with_arpwatch_partner_updates_the_standby_tells_its_arpwatch_too() {
    let mut aae_params = serde_json::Map::new();
    aae_params.insert("arpwatch-partner-updates".into(), json!(true));
    let pair = HaPair::start(&HaConfig {
        aae_params,
        ..HaConfig::default()
    });
    pair.perfdhcp(&["-R", "30", "-n", "30", "-r", "20"])
        .assert_served("REQUEST-ACK");
    let leases = wait_lease_dbs_agree(&pair);
    wait_one_seen_per_lease(&pair, 0, &leases, &pair.node(0).name);
    wait_redis_equals_leases(&pair, 1, EVENT_BOUND);
    wait_one_seen_per_lease(&pair, 1, &leases, &pair.node(1).name);
}

/// A hot-standby kea-dhcp6 pair: the partner's updates arrive as
/// `lease6-bulk-apply`, and every lease answers from both nodes' Redis.
#[test]
fn hot_standby_v6_every_lease_answers_from_both_nodes() {
    let pair = HaPair::start(&HaConfig {
        family: Family::V6,
        // perfdhcp's DUIDs are DUID-LLT, which carry the client's MAC.
        mac_sources: Some(vec!["duid"]),
        ..HaConfig::default()
    });
    pair.perfdhcp(&["-R", "100", "-n", "100", "-r", "100"])
        .assert_served("REQUEST-REPLY");
    let leases = wait_lease_dbs_agree(&pair);
    assert!(leases.len() >= 50, "only {} leases", leases.len());
    assert!(
        leases.values().all(|mac| !mac.is_empty()),
        "v6 leases without a MAC: {leases:?}"
    );
    for i in 0..2 {
        wait_redis_has(&pair, i, &leases, EVENT_BOUND);
        wait_redis_equals_leases(&pair, i, EVENT_BOUND);
    }
    let ips: BTreeSet<&String> = leases.keys().collect();
    assert!(
        ips.iter().all(|ip| ip.starts_with("2001:db8:1::")),
        "{ips:?}"
    );
}

/// What the shared Redis holds under aae's prefix: address to stored value.
fn shared_values(redis: &system_tests::redis::RedisServer) -> BTreeMap<String, Value> {
    const PREFIX: &str = "aae:lease:";
    redis
        .ips_under(PREFIX)
        .into_iter()
        .filter_map(|ip| {
            let raw = redis.get(&format!("{PREFIX}{ip}"))?;
            Some((
                ip,
                serde_json::from_slice(&raw).expect("a JSON lease value"),
            ))
        })
        .collect()
}

/// Both nodes of a pair on one Redis (a Sentinel service, one Redis for the
/// site): each writes every lease, its own grants and its partner's
/// updates, with the same cltt; the newest-wins tie-break leaves one value
/// per address, the greater node name's, whatever order the writes came
/// in, and the other node's late writes are refused and counted. A failover
/// of that Redis in between changes none of it.
#[test]
fn a_pair_on_one_sentinel_redis_converges_on_one_value_per_lease() {
    use system_tests::redis::Options;
    use system_tests::sentinel::SentinelSet;
    let mut set = SentinelSet::start(Options::default());
    let pair = HaPair::start(&HaConfig {
        shared_redis: Some((set.url(None), set.ports())),
        ..HaConfig::default()
    });
    let converged = |set: &SentinelSet, want: &BTreeMap<String, String>| {
        let p = set.primary().expect("a primary");
        poll_until(SETTLE, || {
            let got = shared_values(set.node(p));
            let macs: BTreeMap<String, String> = got
                .iter()
                .map(|(ip, v)| (ip.clone(), v["mac"].as_str().unwrap_or_default().to_owned()))
                .collect();
            (macs == *want && got.values().all(|v| v["node"] == "server2")).then_some(())
        })
        .unwrap_or_else(|| {
            let got = shared_values(set.node(p));
            let by_node: BTreeMap<String, usize> =
                got.values().fold(BTreeMap::new(), |mut m, v| {
                    *m.entry(v["node"].to_string()).or_default() += 1;
                    m
                });
            panic!(
                "the shared Redis did not converge: {} keys for {} leases, by node {by_node:?}\n{}",
                got.len(),
                want.len(),
                pair.diagnostics()
            )
        });
    };

    pair.perfdhcp(&["-R", "100", "-n", "100", "-r", "100"])
        .assert_served("REQUEST-ACK");
    let leases = wait_lease_dbs_agree(&pair);
    converged(&set, &leases);
    // server1 granted and wrote every lease, server2 wrote each again from
    // the partner's update; whichever came second from server1 was refused.
    assert!(
        pair.node(1).stat("aae.redis-stale-refused") == 0,
        "server2's writes win ties, so none of them is refused: {}",
        pair.diagnostics()
    );

    // The Redis primary lost; more clients meanwhile; then all of it on
    // the new primary, still one value per lease.
    let old = set.kill_primary();
    pair.perfdhcp(&[
        "-R",
        "50",
        "-n",
        "50",
        "-r",
        "50",
        "-b",
        "mac=02:00:00:cc:00:00",
    ])
    .assert_served("REQUEST-ACK");
    set.wait_for_failover(old, Duration::from_secs(30));
    let leases = wait_lease_dbs_agree(&pair);
    converged(&set, &leases);
    // Each node's aae moved to the new primary, and wrote out what it held
    // pending (its retries back off up to 5 s).
    let moved = poll_until(SETTLE, || {
        (0..2)
            .all(|i| {
                pair.node(i).stat("aae.redis-failovers") == 1
                    && pair.node(i).stat("aae.backlog") == 0
            })
            .then_some(())
    });
    assert!(
        moved.is_some(),
        "a node did not follow the failover: {}",
        pair.diagnostics()
    );
    converged(&set, &leases);
}
