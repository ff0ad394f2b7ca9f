//! Micro-benchmarks: `Exporter::submit` on Kea's side of the queue: how
//! long one call takes while the workers drain it into a real Redis, from 1
//! to 8 submitting threads, and while Redis is down (everything coalesces).
//!
//! Not a pass/fail test; prints a table (nanoseconds per call, clock reads
//! included; `waited`: calls that found their shard locked). Run it optimised:
//!
//! ```text
//! cargo test --release -p aae --test submit_latency -- --ignored --nocapture
//! ```

mod common;

use std::sync::Barrier;
use std::time::{Duration, Instant};

use common::*;
use dhcp_aae::engine::{Export, Exporter};
use lease_model::{Lease, LeaseEvent};
use system_tests::redis::RedisServer;

const PER_THREAD: usize = 200_000;
/// Distinct addresses the submitters draw from: a busy /16.
const POOL: u32 = 65_536;

fn leases(seed: u32) -> Vec<Lease> {
    // A cheap LCG spreads the addresses like many clients renewing at once.
    let mut x = seed.wrapping_mul(2_654_435_761) | 1;
    (0..PER_THREAD)
        .map(|_| {
            x = x.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            lease(x % POOL, 1, LeaseEvent::Renew)
        })
        .collect()
}

fn run(exporter: &Exporter, threads: usize) -> (Vec<u64>, Duration) {
    let inputs: Vec<Vec<Lease>> = (0..threads).map(|t| leases(t as u32 + 1)).collect();
    let barrier = Barrier::new(threads);
    let start = Instant::now();
    let mut all: Vec<u64> = std::thread::scope(|s| {
        let handles: Vec<_> = inputs
            .into_iter()
            .map(|input| {
                let barrier = &barrier;
                s.spawn(move || {
                    let mut ns = Vec::with_capacity(input.len());
                    barrier.wait();
                    for lease in input {
                        let t = Instant::now();
                        exporter.submit(Export {
                            lease,
                            notify_arpwatch: true,
                        });
                        ns.push(t.elapsed().as_nanos() as u64);
                    }
                    ns
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap())
            .collect()
    });
    let wall = start.elapsed();
    all.sort_unstable();
    (all, wall)
}

fn pct(sorted: &[u64], p: f64) -> u64 {
    sorted[((sorted.len() - 1) as f64 * p) as usize]
}

fn report(label: &str, threads: usize, (ns, wall): (Vec<u64>, Duration), waited: u64) {
    let mean = ns.iter().sum::<u64>() as f64 / ns.len() as f64;
    println!(
        "| {label:<12} | {threads:>2} | {:>9.0} | {mean:>6.0} | {:>5} | {:>5} | {:>6} | {:>7} | {:>8} | {waited:>6} |",
        ns.len() as f64 / wall.as_secs_f64(),
        pct(&ns, 0.5),
        pct(&ns, 0.99),
        pct(&ns, 0.999),
        pct(&ns, 0.9999),
        ns[ns.len() - 1],
    );
}

#[test]
#[ignore = "a benchmark: run with --release -- --ignored --nocapture"]
fn submit_latency() {
    // Two clock reads frame every call; their cost is part of each number.
    let clock = {
        let t = Instant::now();
        for _ in 0..1_000_000 {
            std::hint::black_box(Instant::now());
        }
        t.elapsed().as_nanos() / 1_000_000
    };
    println!(
        "\nInstant::now() costs ~{clock} ns; {PER_THREAD} submits per thread over {POOL} addresses; ns per call\n"
    );
    println!(
        "| sink         | th | submits/s |  mean |   p50 |   p99 |  p99.9 | p99.99 |      max | waited |"
    );
    println!(
        "|--------------|---:|----------:|------:|------:|------:|-------:|-------:|---------:|-------:|"
    );
    let redis = RedisServer::start();
    for threads in [1, 2, 4, 8] {
        let exporter = Exporter::start(redis_config(&redis)).unwrap();
        let r = run(&exporter, threads);
        report("Redis up", threads, r, exporter.submits_that_waited());
        exporter.stop(Duration::from_secs(5));
    }
    let mut down = RedisServer::start();
    down.stop();
    for threads in [1, 2, 4, 8] {
        let exporter = Exporter::start(redis_config(&down)).unwrap();
        let r = run(&exporter, threads);
        report("Redis down", threads, r, exporter.submits_that_waited());
        let c = exporter.counters();
        assert!(c.backlog <= u64::from(POOL));
        exporter.stop(Duration::from_secs(1));
    }
}

/// How fast the workers empty a backlog into a real Redis (and the Python
/// ARPwatch stand-in with multicall): the time from the last `submit` of a
/// burst until every lease has been exported.
#[test]
#[ignore = "a benchmark: run with --release -- --ignored --nocapture"]
fn drain_rate() {
    use system_tests::arpwatch::ArpwatchStandin;
    let redis = RedisServer::start();
    let arpwatch = ArpwatchStandin::start();
    println!(
        "\n| sinks               | workers |  burst | last submit → all exported | leases/s |"
    );
    println!("|---------------------|--------:|-------:|---------------------------:|---------:|");
    // The Python stand-in is the slow part of the second row: a smaller burst.
    for (label, with_arpwatch, burst) in [
        ("Redis", false, 100_000u32),
        ("Redis + ARPwatch mc", true, 20_000),
    ] {
        for workers in [1, 2, 4] {
            redis.cli(&["FLUSHALL"]);
            let aw = with_arpwatch.then(|| (arpwatch.url(), true));
            let cfg = config(
                &redis.url(),
                aw.as_ref().map(|(u, m)| (u.as_str(), *m)),
                &format!(r#", "workers": {workers}, "queue-capacity": {burst}"#),
            );
            let exporter = Exporter::start(cfg).unwrap();
            let start = Instant::now();
            for i in 0..burst {
                exporter.submit(Export {
                    lease: lease(i, 1, LeaseEvent::Select),
                    notify_arpwatch: true,
                });
            }
            let submitted = Instant::now();
            let c = wait_for_counters(&exporter, "the burst exported", |c| c.backlog == 0);
            let drained = submitted.elapsed();
            assert_eq!(c.exported_redis, u64::from(burst));
            println!(
                "| {label:<19} | {workers:>7} | {burst:>6} | {:>23.0} ms | {:>8.0} |",
                drained.as_secs_f64() * 1000.0,
                f64::from(burst) / start.elapsed().as_secs_f64(),
            );
            exporter.stop(Duration::from_secs(2));
        }
    }
}
