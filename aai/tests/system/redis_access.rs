//! aai reading from a Redis that asks for more than an address: the ACL
//! user docs/operations.md gives it, its password in a file, over TLS with
//! a client certificate.

use std::os::unix::fs::PermissionsExt;
use std::process::Command;

use system_tests::pki::{Pki, Usage};
use system_tests::redis::{Options, RedisServer};

use crate::fixture::{Aai, BIN, lease, store};

const AAI_PASSWORD: &str = "aai-test-Pw-2";

fn secret(dir: &std::path::Path, name: &str, text: &str, mode: u32) -> std::path::PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode)).unwrap();
    p
}

#[test]
fn answers_as_its_acl_user_over_tls_with_its_password_from_a_file() {
    let ca = Pki::new("aai-redis");
    let redis = RedisServer::start_with(Options::documented(&ca, "unused-aae-pw", AAI_PASSWORD));
    store(&redis, &lease("192.0.2.77", "aa:bb:cc:dd:ee:77"));
    let client = ca.issue("aai", Usage::Client, &["aai"]);
    let dir = tempfile::tempdir().unwrap();
    let password = secret(
        dir.path(),
        "redis-password",
        &format!("{AAI_PASSWORD}\n"),
        0o640,
    );
    let aai = Aai::start(
        &format!("rediss://aai@127.0.0.1:{}", redis.tls_port()),
        &format!(
            "redis-password-file = {:?}\nredis-ca-file = {:?}\nredis-client-cert = {:?}\nredis-client-key = {:?}",
            password,
            ca.ca_file(),
            client.cert,
            client.key
        ),
    );
    aai.still_answers("192.0.2.77", "aa:bb:cc:dd:ee:77");
    assert!(!aai.log().contains(AAI_PASSWORD), "{}", aai.log());
}

/// Refused by `--check-config`, naming the key, the file and the fix.
#[test]
fn a_redis_password_file_others_can_read_or_tls_files_without_rediss_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let open = secret(dir.path(), "open", "pw\n", 0o644);
    let ca = Pki::new("aai-redis-refused");
    for (toml, want) in [
        (format!("redis-password-file = {open:?}"), "mode 0644"),
        (
            format!("redis-ca-file = {:?}", ca.ca_file()),
            "redis-url must be rediss://",
        ),
    ] {
        let config = dir.path().join("aai.toml");
        std::fs::write(
            &config,
            format!("redis-url = \"redis://127.0.0.1:1\"\n{toml}\n"),
        )
        .unwrap();
        let out = Command::new(BIN)
            .arg("--config")
            .arg(&config)
            .arg("--check-config")
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stderr).into_owned()
            + &String::from_utf8_lossy(&out.stdout);
        assert!(!out.status.success(), "{toml}: accepted\n{text}");
        assert!(text.contains(want), "{toml}: {text}");
    }
}

/// Through the sentinels, as the ACL user docs/operations.md gives aai,
/// which must allow the `ROLE` that confirms the primary.
#[test]
fn answers_through_sentinels_as_its_acl_user() {
    let set = system_tests::sentinel::SentinelSet::start(Options {
        acl: Some(system_tests::redis::documented_acl(
            "unused-aae-pw",
            AAI_PASSWORD,
        )),
        ..Options::default()
    });
    store(
        set.node(set.primary().expect("a primary")),
        &lease("192.0.2.78", "aa:bb:cc:dd:ee:78"),
    );
    let dir = tempfile::tempdir().unwrap();
    let password = secret(
        dir.path(),
        "redis-password",
        &format!("{AAI_PASSWORD}\n"),
        0o600,
    );
    let aai = Aai::start(
        &set.url(Some("aai")),
        &format!("redis-password-file = {password:?}"),
    );
    aai.still_answers("192.0.2.78", "aa:bb:cc:dd:ee:78");
}
