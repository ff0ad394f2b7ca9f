//! A real kea-dhcp4 loads the release build of `libdhcp_aae.so` in a network
//! namespace: it serves perfdhcp, refuses bad parameters naming them,
//! reloads cleanly on `config-reload`, and works multi-threaded.
//!
//! Needs root and `cargo build --release -p aae` first (same
//! `CARGO_TARGET_DIR`).

use std::time::Duration;

use serde_json::{Value, json};
use system_tests::kea::{Family, Kea, KeaConfig, aae_library, perfdhcp, seen_by_kea};
use system_tests::netns::NetnsPair;
use system_tests::pki::{Pki, Usage, write_file};
use system_tests::redis::RedisServer;
use system_tests::wait_for;

fn hook_config(params: Value) -> KeaConfig {
    KeaConfig::default().with_hook(&aae_library(), params)
}

fn aae_threads(kea: &Kea) -> Vec<String> {
    kea.thread_names()
        .into_iter()
        .filter(|n| n.starts_with("aae-"))
        .collect()
}

/// Runs a DORA for `clients` distinct clients and checks Kea served it.
fn dora(net: &NetnsPair, clients: u32) {
    let n = clients.to_string();
    perfdhcp(
        net,
        Family::V4,
        &["-R", &n, "-n", &n, "-r", "200", "-p", "10", "-W", "500000"],
    )
    .assert_served("REQUEST-ACK");
}

/// Waits until aae has counted exactly one event per ACK Kea sent (stats are
/// published once a second): the DISCOVER/OFFER half is never exported.
/// Returns the number of ACKs.
fn wait_one_event_per_ack(kea: &Kea) -> i64 {
    wait_for(
        "aae.events-received = Kea's pkt4-ack-sent",
        Duration::from_secs(10),
        || {
            let stats = kea.statistics();
            let acks = stats.get("pkt4-ack-sent").copied().unwrap_or(0);
            (acks > 0 && stats.get("aae.events-received") == Some(&acks)).then_some(acks)
        },
    )
}

#[test]
fn loads_serves_dora_and_publishes_counters() {
    let redis = RedisServer::start();
    let net = NetnsPair::create();
    let _fwd = net.forward_to_host(redis.port());
    let kea = Kea::start(
        &net,
        &hook_config(json!({"redis-url": redis.url(), "node-name": "load-test", "workers": 2})),
    );
    let log = kea.log();
    assert!(
        log.contains("AAE_LOAD_OK") && log.contains("node 'load-test'"),
        "no load line in Kea's log:\n{log}"
    );
    kea.wait_threads("aae-", &["aae-worker-0", "aae-worker-1"]);

    dora(&net, 40);
    wait_one_event_per_ack(&kea);
    let stats = kea.statistics();
    for name in [
        "events-received",
        "exported-redis",
        "redis-stale-refused",
        "exported-arpwatch",
        "events-retried",
        "events-coalesced",
        "events-dropped",
        "events-skipped",
        "backlog",
        "redis-failovers",
    ] {
        assert!(
            stats.contains_key(&format!("aae.{name}")),
            "aae.{name} missing: {stats:?}"
        );
    }
    assert_eq!(stats["aae.events-dropped"], 0);
    assert_eq!(stats["aae.events-skipped"], 0);
    assert_eq!(stats["aae.redis-failovers"], 0);
}

#[test]
fn bad_parameters_are_refused_and_named_in_the_log() {
    let net = NetnsPair::create();
    // Files for the TLS parameters, where the Kea under test sees them.
    let pki = Pki::new("load");
    let client = pki.issue("aae", Usage::Client, &[]);
    let shared = pki.dir().join("shared.credentials");
    write_file(&shared, "aae:load-s3cret\n", 0o644);
    let missing_ca = pki.dir().join("missing-ca.pem");
    let https = "https://127.0.0.1:9/RPC2";
    // The parameters, the one the refusal must name, and what else it says.
    for (params, named, says) in [
        (
            json!({"redis-ulr": "redis://127.0.0.1:6379"}),
            "redis-ulr",
            "",
        ),
        (json!({"workers": "two"}), "workers", ""),
        (json!({"grace-period": -5}), "grace-period", ""),
        (
            json!({"redis-url": "http://127.0.0.1:6379"}),
            "redis-url",
            "",
        ),
        (json!({"arpwatch-url": "not a url"}), "arpwatch-url", ""),
        (
            json!({"arpwatch-url": https, "arpwatch-credentials-file": seen_by_kea(&shared)}),
            "arpwatch-credentials-file",
            "chmod 0600",
        ),
        (
            json!({"arpwatch-url": https, "arpwatch-client-cert": seen_by_kea(&client.cert)}),
            "arpwatch-client-cert",
            "together with 'arpwatch-client-key'",
        ),
        (
            json!({"arpwatch-url": https, "arpwatch-ca-file": seen_by_kea(&missing_ca)}),
            "arpwatch-ca-file",
            "cannot read it",
        ),
        (
            json!({"redis-password-file": seen_by_kea(&shared)}),
            "redis-password-file",
            "chmod 0640",
        ),
        (
            json!({"redis-ca-file": seen_by_kea(pki.ca_file())}),
            "redis-ca-file",
            "rediss://",
        ),
    ] {
        let (status, log) = Kea::start_failing(&net, &hook_config(params.clone()));
        assert!(!status.success(), "Kea accepted {params}:\n{log}");
        let line = log
            .lines()
            .find(|l| l.contains("AAE_LOAD_FAILED"))
            .unwrap_or_else(|| panic!("no AAE_LOAD_FAILED for {params}:\n{log}"));
        assert!(
            line.contains(&format!("'{named}'")) && line.contains(says),
            "the refusal of {params} does not name '{named}' or say {says:?}: {line}"
        );
        assert!(
            !log.contains("load-s3cret"),
            "a password in Kea's log:\n{log}"
        );
        assert!(
            !log.contains("DHCP4_STARTED"),
            "Kea started half-configured with {params}:\n{log}"
        );
    }
}

#[test]
fn config_reload_applies_new_parameters_and_leaks_no_threads() {
    let redis = RedisServer::start();
    let net = NetnsPair::create();
    let _fwd = net.forward_to_host(redis.port());
    let params = |node: &str, workers: u32| json!({"redis-url": redis.url(), "node-name": node, "workers": workers});
    let kea = Kea::start(&net, &hook_config(params("before", 2)));
    kea.wait_threads("aae-", &["aae-worker-0", "aae-worker-1"]);
    let kea_threads = kea.thread_names().len() - 2;

    for round in 0..5 {
        let node = format!("after-{round}");
        let answer = kea.reload(&hook_config(params(&node, 3)));
        assert_eq!(answer["result"], 0, "config-reload refused: {answer}");
        let log = kea.log();
        assert!(
            log.contains(&format!("node '{node}'")),
            "round {round}: new parameters not in force:\n{log}"
        );
        // The old instance's workers are joined before unload returns.
        kea.wait_threads("aae-", &["aae-worker-0", "aae-worker-1", "aae-worker-2"]);
        assert_eq!(kea.thread_names().len(), kea_threads + 3, "round {round}");
    }
    let log = kea.log();
    assert_eq!(log.matches("AAE_UNLOAD").count(), 5, "{log}");
    assert_eq!(log.matches("AAE_LOAD_OK").count(), 6, "{log}");

    // The reloaded library serves and counts from zero.
    dora(&net, 10);
    wait_one_event_per_ack(&kea);
}

#[test]
fn multi_threaded_kea_serves_with_the_hook() {
    let redis = RedisServer::start();
    let net = NetnsPair::create();
    let _fwd = net.forward_to_host(redis.port());
    let config = KeaConfig {
        threads: Some(2),
        ..hook_config(json!({"redis-url": redis.url(), "node-name": "mt"}))
    };
    let kea = Kea::start(&net, &config);
    let log = kea.log();
    assert!(log.contains("enabled: yes, number of threads: 2"), "{log}");
    dora(&net, 60);
    wait_one_event_per_ack(&kea);
}

#[test]
fn a_refused_reload_names_the_parameter_and_a_good_one_recovers() {
    let redis = RedisServer::start();
    let net = NetnsPair::create();
    let _fwd = net.forward_to_host(redis.port());
    let good = hook_config(json!({"redis-url": redis.url(), "node-name": "good"}));
    let bad = hook_config(json!({"redis-url": redis.url(), "workers": "x"}));
    let kea = Kea::start(&net, &good);

    // Kea 2.2 neither `config-test` nor `kea-dhcp4 -t` calls load(), so only
    // a real (re)configuration finds bad parameters, and a refused reload
    // leaves Kea not serving (DHCP4_DYNAMIC_RECONFIGURATION_FAIL; Kea does
    // the same for its own hooks) until a good configuration is loaded.
    let answer = kea.reload(&bad);
    assert_ne!(answer["result"], 0, "bad parameters accepted: {answer}");
    let log = kea.log();
    let refusal = log
        .lines()
        .find(|l| l.contains("AAE_LOAD_FAILED"))
        .unwrap_or_else(|| panic!("no AAE_LOAD_FAILED:\n{log}"));
    assert!(refusal.contains("'workers'"), "{refusal}");
    // The previous instance was unloaded and nothing of it is left running.
    assert!(aae_threads(&kea).is_empty(), "{:?}", aae_threads(&kea));

    let answer = kea.reload(&good);
    assert_eq!(answer["result"], 0, "{answer}");
    kea.wait_threads("aae-", &["aae-worker-0", "aae-worker-1"]);
    dora(&net, 5);
    wait_one_event_per_ack(&kea);
}

#[test]
fn unload_is_prompt_while_redis_is_down_with_a_backlog() {
    let mut redis = RedisServer::start();
    let net = NetnsPair::create();
    let _fwd = net.forward_to_host(redis.port());
    let config = hook_config(json!({"redis-url": redis.url(), "node-name": "outage"}));
    let kea = Kea::start(&net, &config);
    redis.stop();
    dora(&net, 30);
    wait_for("a backlog to build up", Duration::from_secs(10), || {
        (kea.statistics().get("aae.backlog").copied().unwrap_or(0) > 0).then_some(())
    });
    let start = std::time::Instant::now();
    let answer = kea.reload(&config);
    let took = start.elapsed();
    assert_eq!(answer["result"], 0, "{answer}");
    eprintln!("config-reload with leases pending and Redis down took {took:?}");
    // unload's hard bound is 5 s; with workers only backing off, stopping
    // them must be far quicker, and Kea does the rest of a reload in ms.
    assert!(took < Duration::from_secs(3), "config-reload took {took:?}");
    kea.wait_threads("aae-", &["aae-worker-0", "aae-worker-1"]);
}

/// Kea looks up `version`, `load`, `unload` and `multi_threading_compatible`
/// by name, and also every hook-point name: a callout exported under such a
/// name would run twice (once found by name, once registered in `load`).
#[test]
fn the_library_exports_the_entry_points_and_no_hook_point_names() {
    let lib = aae_library();
    let out = std::process::Command::new(system_tests::require_program("nm"))
        .args(["-D", "--defined-only", "--format=posix"])
        .arg(&lib)
        .output()
        .expect("run nm");
    assert!(out.status.success(), "nm failed: {out:?}");
    let symbols: std::collections::BTreeSet<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split_whitespace().next().map(str::to_owned))
        .collect();
    for entry in ["version", "load", "unload", "multi_threading_compatible"] {
        assert!(symbols.contains(entry), "{entry} is not exported");
    }
    for hook in [
        "leases4_committed",
        "lease4_select",
        "lease4_renew",
        "lease4_release",
        "lease4_decline",
        "lease4_expire",
        "dhcp4_srv_configured",
        "leases6_committed",
        "lease6_select",
        "lease6_renew",
        "lease6_rebind",
        "lease6_release",
        "lease6_decline",
        "lease6_expire",
        "dhcp6_srv_configured",
    ] {
        assert!(!symbols.contains(hook), "{hook} is exported");
    }
}
