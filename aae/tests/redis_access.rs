//! aae reaching a Redis that asks for more than an address: an ACL user
//! whose password is in a file, and TLS with a CA and a client certificate,
//! against a real `redis-server` started with the ACL that
//! docs/operations.md gives (so the documented ACL is the tested one).

mod common;

use std::collections::HashMap;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::sync::Mutex;
use std::time::Duration;

use common::*;
use dhcp_aae::config::Config;
use dhcp_aae::engine::{Export, Exporter};
use dhcp_aae::messages::{Log, Message};
use lease_model::{Lease, LeaseEvent};
use system_tests::pki::{CertFiles, Pki, Usage};
use system_tests::redis::{Options, RedisServer};

const AAE_PASSWORD: &str = "aae-test-Pw-1";
const AAI_PASSWORD: &str = "aai-test-Pw-2";

fn write_secret(dir: &Path, name: &str, text: &str) -> String {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600)).unwrap();
    p.to_str().unwrap().to_owned()
}

fn tls_config(redis: &RedisServer, ca: &Path, client: &CertFiles, password_file: &str) -> Config {
    config(
        &format!("rediss://aae@127.0.0.1:{}", redis.tls_port()),
        None,
        &format!(
            r#", "redis-password-file": "{password_file}", "redis-ca-file": "{}",
               "redis-client-cert": "{}", "redis-client-key": "{}""#,
            ca.display(),
            client.cert.display(),
            client.key.display()
        ),
    )
}

static LINES: Mutex<Vec<String>> = Mutex::new(Vec::new());

fn remember(msg: Message, text: std::fmt::Arguments<'_>) {
    LINES.lock().unwrap().push(format!("{} {text}", msg.id));
}

fn logged(id: &str) -> Vec<String> {
    LINES
        .lock()
        .unwrap()
        .iter()
        .filter(|l| l.starts_with(id))
        .cloned()
        .collect()
}

#[test]
fn over_tls_with_an_acl_user_aae_writes_only_what_its_acl_allows() {
    let ca = Pki::new("redis-test");
    let redis = RedisServer::start_with(Options::documented(&ca, AAE_PASSWORD, AAI_PASSWORD));
    let dir = tempfile::tempdir().unwrap();
    let password = write_secret(dir.path(), "redis-password", &format!("{AAE_PASSWORD}\n"));
    let client = ca.issue("aae", Usage::Client, &["aae"]);
    let exporter = Exporter::start(tls_config(&redis, ca.ca_file(), &client, &password)).unwrap();

    let leases: Vec<Lease> = (0..20).map(|i| lease(i, 1, LeaseEvent::Select)).collect();
    for l in &leases {
        exporter.submit(Export {
            lease: l.clone(),
            notify_arpwatch: false,
        });
    }
    exporter.submit(Export {
        lease: lease(3, 1, LeaseEvent::Release),
        notify_arpwatch: false,
    });
    let mut want: HashMap<u32, Option<Lease>> = (0..20)
        .map(|i| (i, Some(leases[i as usize].clone())))
        .collect();
    want.insert(3, None);
    wait_for_redis(&redis, &want);
    // Its marker too (SET and EXPIRE outside the lease prefix, INFO).
    assert_eq!(redis.keys("aae:marker:*").len(), 1);
    exporter.stop(Duration::from_secs(2));

    // What the two users may do, asked as them on the plain port.
    let key = format!("{PREFIX}{}", ip(1));
    let aae = |args: &[&str]| redis.cli_as("aae", AAE_PASSWORD, args);
    let aai = |args: &[&str]| redis.cli_as("aai", AAI_PASSWORD, args);
    // The newest-wins script, loaded as aae loads it, may touch only
    // aae's keys; other scripts may not be sent whole.
    let sha = aae(&["SCRIPT", "LOAD", lease_model::NEWEST_WINS_SCRIPT]);
    assert_eq!(sha.len(), 40, "{sha}");
    for refused in [
        aae(&["EVALSHA", &sha, "1", "other:key", "set", "x", "0"]),
        aae(&["EVAL", "return 1", "0"]),
        aae(&["SCRIPT", "FLUSH"]),
        aae(&["SET", "other:key", "x"]),
        aae(&["GET", "other:key"]),
        aae(&["FLUSHALL"]),
        aae(&["CONFIG", "GET", "*"]),
        aai(&["SET", &key, "x"]),
        aai(&["DEL", &key]),
        aai(&["GET", "other:key"]),
        aai(&["KEYS", "*"]),
    ] {
        assert!(refused.contains("NOPERM"), "allowed: {refused}");
    }
    assert!(aai(&["GET", &key]).contains(&leases[1].hwaddr.to_string()));
    assert_eq!(aai(&["PING"]), "PONG");
    assert!(
        redis
            .cli_as("aae", "wrong", &["PING"])
            .contains("WRONGPASS"),
        "a wrong password is refused"
    );
}

/// A Redis whose certificate the CA file does not vouch for, or a wrong
/// password: an outage of the Redis sink, logged with the reason, and
/// nothing written; never a failed load.
#[test]
fn a_redis_that_fails_tls_or_the_password_is_an_outage_with_the_reason() {
    let ca = Pki::new("redis-test");
    let redis = RedisServer::start_with(Options::documented(&ca, AAE_PASSWORD, AAI_PASSWORD));
    let dir = tempfile::tempdir().unwrap();
    let client = ca.issue("aae", Usage::Client, &["aae"]);
    let other = Pki::new("another");
    let good_password = write_secret(dir.path(), "good", AAE_PASSWORD);
    let bad_password = write_secret(dir.path(), "bad", "not-the-password");
    for (what, config, reason) in [
        (
            "a server certificate from another CA",
            tls_config(&redis, other.ca_file(), &client, &good_password),
            "certificate",
        ),
        (
            "a wrong password",
            tls_config(&redis, ca.ca_file(), &client, &bad_password),
            "authentication failed",
        ),
    ] {
        LINES.lock().unwrap().clear();
        let exporter = Exporter::start_logging_to(config, Log::new(remember)).unwrap();
        exporter.submit(Export {
            lease: lease(1, 1, LeaseEvent::Select),
            notify_arpwatch: false,
        });
        let line = system_tests::wait_for(&format!("AAE_REDIS_DOWN for {what}"), LONG, || {
            logged("AAE_REDIS_DOWN").into_iter().next()
        });
        assert!(
            line.to_lowercase().contains(&reason.to_lowercase()),
            "{what}: {line}"
        );
        assert!(!line.contains(AAE_PASSWORD), "{line}");
        eprintln!("{what}: {line}");
        assert!(redis.keys(&format!("{PREFIX}*")).is_empty(), "{what}");
        exporter.stop(Duration::from_secs(2));
    }
}

/// Through the sentinels, as the ACL user docs/operations.md gives aae: the
/// primary the sentinels name is confirmed by its own `ROLE`, which that
/// ACL must allow, and the leases are written there.
#[test]
fn through_sentinels_as_its_acl_user_aae_writes_to_the_primary() {
    let set = system_tests::sentinel::SentinelSet::start(Options {
        acl: Some(system_tests::redis::documented_acl(
            AAE_PASSWORD,
            AAI_PASSWORD,
        )),
        ..Options::default()
    });
    let dir = tempfile::tempdir().unwrap();
    let password = write_secret(dir.path(), "redis-password", &format!("{AAE_PASSWORD}\n"));
    let exporter = Exporter::start(config(
        &set.url(Some("aae")),
        None,
        &format!(r#", "redis-password-file": "{password}""#),
    ))
    .unwrap();
    let leases: Vec<Lease> = (0..10).map(|i| lease(i, 1, LeaseEvent::Select)).collect();
    for l in &leases {
        exporter.submit(Export {
            lease: l.clone(),
            notify_arpwatch: false,
        });
    }
    let primary = set.node(set.primary().expect("a primary"));
    wait_for_redis(
        primary,
        &leases
            .iter()
            .enumerate()
            .map(|(i, l)| (i as u32, Some(l.clone())))
            .collect(),
    );
    exporter.stop(Duration::from_secs(2));
}
