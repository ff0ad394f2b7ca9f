//! `Exporter::stop`: bounded even while both sinks hang, every thread gone
//! afterwards, and what is pending is still written when the sinks work.
//!
//! One test in its own binary: it counts the process's `aae-*` threads,
//! which other tests running in parallel would disturb.

mod common;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use common::*;
use dhcp_aae::engine::{Export, Exporter};
use lease_model::{Lease, LeaseEvent};
use system_tests::redis::RedisServer;

/// Names of this process's threads, from `/proc/self/task/*/comm`.
fn thread_names() -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir("/proc/self/task")
        .unwrap()
        .filter_map(|t| std::fs::read_to_string(t.ok()?.path().join("comm")).ok())
        .map(|n| n.trim().to_owned())
        .collect();
    names.sort();
    names
}

fn aae_threads() -> Vec<String> {
    thread_names()
        .into_iter()
        .filter(|n| n.starts_with("aae-"))
        .collect()
}

#[test]
fn stop_is_bounded_while_sinks_hang_and_drains_when_they_work() {
    // Redis and ARPwatch that accept connections and never answer.
    let redis_hole = BlackHole::start();
    let arpwatch_hole = BlackHole::start();
    let mut cfg = config(
        &format!("redis://127.0.0.1:{}", redis_hole.port),
        Some((
            &format!("http://127.0.0.1:{}/RPC2", arpwatch_hole.port),
            false,
        )),
        r#", "workers": 3"#,
    );
    // Longer than the stop bound: stop must not wait for I/O timeouts.
    cfg.redis_timeout = Duration::from_secs(10);
    cfg.arpwatch_timeout = Duration::from_secs(10);
    let exporter = Exporter::start(cfg).unwrap();
    let workers: Vec<String> = (0..3).map(|i| format!("aae-worker-{i}")).collect();
    // A thread names itself once it runs, a moment after spawn.
    system_tests::wait_for("the worker threads, named, in /proc", LONG, || {
        (aae_threads() == workers).then_some(())
    });
    for i in 0..100 {
        exporter.submit(Export {
            lease: lease(i, 1, LeaseEvent::Select),
            notify_arpwatch: true,
        });
    }
    system_tests::wait_for("both sinks to be stuck in a call", LONG, || {
        (redis_hole.accepted() > 0 && arpwatch_hole.accepted() > 0).then_some(())
    });
    let t = Instant::now();
    exporter.stop(Duration::from_secs(1));
    let took = t.elapsed();
    // The bound plus scheduling slack on a loaded 2-core machine.
    assert!(took < Duration::from_millis(1500), "stop took {took:?}");
    assert_eq!(
        aae_threads(),
        Vec::<String>::new(),
        "every aae thread is gone"
    );

    // With a working Redis, what is pending at stop is written before the
    // workers go.
    let redis = RedisServer::start();
    let exporter = Exporter::start(redis_config(&redis)).unwrap();
    let leases: Vec<Lease> = (0..2000).map(|i| lease(i, 1, LeaseEvent::Select)).collect();
    for l in &leases {
        exporter.submit(Export {
            lease: l.clone(),
            notify_arpwatch: true,
        });
    }
    exporter.stop(Duration::from_secs(4));
    let want: HashMap<u32, Option<Lease>> = leases
        .into_iter()
        .enumerate()
        .map(|(i, l)| (i as u32, Some(l)))
        .collect();
    for (i, l) in &want {
        assert_eq!(
            stored(&redis, *i).map(|r| r.lease),
            *l,
            "address {i} after stop"
        );
    }
    assert_eq!(aae_threads(), Vec::<String>::new());
}
