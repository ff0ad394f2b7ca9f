//! aai on a Sentinel service: reads from the primary or a replica, follows
//! a failover, and while no primary is known answers with its Redis fault
//! within `redis-timeout-ms`, never hangs and never says nil.

use std::time::{Duration, Instant};

use system_tests::poll_until;
use system_tests::redis::Options;
use system_tests::sentinel::SentinelSet;

use crate::fixture::{Aai, get, get_mac_doc, http, lease, store};

const IP: &str = "192.0.2.10";
const MAC: &str = "aa:bb:cc:dd:ee:01";
const BOUND_MS: u64 = 300;

fn health(aai: &Aai) -> String {
    http(aai.addr(), None, &get("/health")).text()
}

#[test]
fn a_failover_costs_faults_within_the_bound_and_never_a_nil() {
    let mut set = SentinelSet::start(Options::default());
    let p = set.primary().expect("a primary");
    store(set.node(p), &lease(IP, MAC));
    let aai = Aai::start(&set.url(None), &format!("redis-timeout-ms = {BOUND_MS}"));
    aai.still_answers(IP, MAC);
    let h = health(&aai);
    assert!(
        h.starts_with("ok\n")
            && h.contains(&format!("primary 127.0.0.1:{}", set.node(p).port()))
            && h.contains("failovers followed: 0"),
        "{h}"
    );

    let old = set.kill_primary();
    // Until the sentinels promote the replica (about 2.5 s) and aai finds
    // it: faults, each within the bound plus scheduling slack.
    let mut faults = 0;
    let back = poll_until(Duration::from_secs(30), || {
        let t = Instant::now();
        let answer = aai.call(&get_mac_doc(IP));
        let took = t.elapsed();
        assert!(
            took < Duration::from_millis(BOUND_MS + 700),
            "a lookup took {took:?} during the failover"
        );
        match answer {
            Ok(v) => {
                assert_eq!(v, MAC.into(), "aai answered wrongly during the failover");
                Some(())
            }
            Err(f) => {
                assert_eq!(f.code, -32000, "{f:?}");
                faults += 1;
                None
            }
        }
    });
    assert!(
        back.is_some(),
        "aai never answered again; log:\n{}",
        aai.log()
    );
    let new = set.wait_for_failover(old, Duration::from_secs(10));
    let h = health(&aai);
    assert!(
        h.contains(&format!("primary 127.0.0.1:{}", set.node(new).port()))
            && h.contains("failovers followed: 1"),
        "{h}"
    );
    assert!(
        aai.log().contains("failed over"),
        "no failover line in aai's log:\n{}",
        aai.log()
    );
    eprintln!("aai: {faults} faults during the failover");

    // The old primary comes back as a replica: aai stays on the primary.
    set.restart_as_replica(old, Duration::from_secs(30));
    aai.still_answers(IP, MAC);
    assert!(health(&aai).contains("failovers followed: 1"));
}

#[test]
fn reads_go_to_a_replica_when_asked_and_to_the_primary_when_none_is_left() {
    let mut set = SentinelSet::start(Options::default());
    let p = set.primary().expect("a primary");
    let replica = 1 - p;
    store(set.node(p), &lease(IP, MAC));
    set.wait_replicated(Duration::from_secs(10));
    let aai = Aai::start(
        &set.url(None),
        &format!("redis-timeout-ms = {BOUND_MS}\nredis-read-from = \"replica\""),
    );
    aai.still_answers(IP, MAC);
    let h = health(&aai);
    assert!(
        h.contains(&format!(
            "reading from 127.0.0.1:{}",
            set.node(replica).port()
        )) && h.contains(&format!("primary 127.0.0.1:{}", set.node(p).port())),
        "{h}"
    );

    // The replica lost: the primary serves, after a fault or two.
    let replica_port = set.node(replica).port();
    set.stop_node(replica);
    let back = poll_until(Duration::from_secs(15), || {
        (aai.call(&get_mac_doc(IP)) == Ok(MAC.into())).then_some(())
    });
    assert!(
        back.is_some(),
        "no answer without the replica; log:\n{}",
        aai.log()
    );
    let h = health(&aai);
    assert!(
        h.contains(&format!("reading from 127.0.0.1:{}", set.node(p).port()))
            && !h.contains(&format!("reading from 127.0.0.1:{replica_port}")),
        "{h}"
    );
}
