//! Redis down, slow or holding garbage: a fault within the bound, /health
//! says so, and aai recovers by itself.

use std::net::TcpListener;
use std::time::{Duration, Instant};

use crate::fixture::{Aai, get, get_mac_doc, http, lease, setup, store};

const BOUND: &str = "redis-timeout-ms = 300";

fn store_unavailable_within(aai: &Aai, bound: Duration) {
    let start = Instant::now();
    match aai.call(&get_mac_doc("192.0.2.10")) {
        Err(f) => assert_eq!(f.code, -32000, "{f:?}"),
        Ok(v) => panic!("answered {v:?} with Redis unavailable"),
    }
    assert!(start.elapsed() < bound, "fault took {:?}", start.elapsed());
    let start = Instant::now();
    let h = http(aai.addr(), None, &get("/health"));
    assert_eq!(h.status, 503, "{h:?}");
    assert!(
        start.elapsed() < bound,
        "/health took {:?}",
        start.elapsed()
    );
}

#[test]
fn redis_down_then_back() {
    let (mut redis, aai) = setup(BOUND);
    aai.still_answers("192.0.2.10", "aa:bb:cc:dd:ee:01");
    assert_eq!(http(aai.addr(), None, &get("/health")).status, 200);

    redis.stop();
    for _ in 0..3 {
        store_unavailable_within(&aai, Duration::from_secs(2));
    }

    redis.restart();
    store(&redis, &lease("192.0.2.10", "aa:bb:cc:dd:ee:01"));
    // The very next request succeeds: no restart of aai, no warm-up call.
    aai.still_answers("192.0.2.10", "aa:bb:cc:dd:ee:01");
    assert_eq!(http(aai.addr(), None, &get("/health")).status, 200);
    let log = aai.log();
    assert!(
        log.contains("unavailable") && log.contains("answers again"),
        "{log}"
    );
}

/// A "Redis" that accepts connections and then says nothing: the slow or
/// wedged Redis case. Returns its URL.
fn black_hole() -> String {
    let hole = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("redis://{}", hole.local_addr().unwrap());
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for s in hole.incoming().take(64) {
            held.push(s);
        }
    });
    url
}

#[test]
fn redis_that_never_answers() {
    let aai = Aai::start(&black_hole(), BOUND);
    for _ in 0..2 {
        store_unavailable_within(&aai, Duration::from_secs(2));
    }
}

#[test]
fn aai_starts_while_redis_is_down() {
    let url = format!("redis://127.0.0.1:{}", system_tests::free_port());
    let aai = Aai::start(&url, BOUND);
    store_unavailable_within(&aai, Duration::from_secs(2));
}

#[test]
fn a_value_aae_did_not_write_is_an_internal_error() {
    let (redis, aai) = setup("");
    assert_eq!(
        redis.cli(&["SET", "aae:lease:192.0.2.66", "aa:bb:cc:dd:ee:ff"]),
        "OK"
    );
    match aai.call(&get_mac_doc("192.0.2.66")) {
        Err(f) => {
            assert_eq!(f.code, -32603);
            assert!(f.message.contains("aae:lease:192.0.2.66"), "{f:?}");
        }
        Ok(v) => panic!("answered {v:?}"),
    }
    let log = aai.log();
    assert!(log.contains("aae:lease:192.0.2.66"), "no log line: {log}");
    aai.still_answers("192.0.2.10", "aa:bb:cc:dd:ee:01");
}

#[test]
fn a_big_multicall_waits_for_one_redis_timeout_not_one_per_entry() {
    let aai = Aai::start(&black_hole(), BOUND);
    let calls: Vec<_> = (0..40)
        .map(|i| arpwatch_rpc::contract::get_mac_call(format!("192.0.2.{i}").parse().unwrap()))
        .collect();
    let doc =
        arpwatch_rpc::xml::write_call(&arpwatch_rpc::multicall::encode_calls(&calls)).unwrap();
    let start = Instant::now();
    let got = aai
        .call(std::str::from_utf8(&doc).unwrap())
        .expect("a multicall result");
    assert!(
        start.elapsed() < Duration::from_secs(2),
        "took {:?}",
        start.elapsed()
    );
    let results = arpwatch_rpc::multicall::decode_results(got).unwrap();
    assert_eq!(results.len(), 40);
    for r in results {
        assert_eq!(r.unwrap_err().code, -32000);
    }
}
