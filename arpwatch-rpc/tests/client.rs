//! The client against a real Python `SimpleXMLRPCServer` (and against peers
//! that misbehave on purpose). Every peer listens on 127.0.0.1 only.

mod peers;

use std::time::{Duration, Instant};

use arpwatch_rpc::client::{Client, ClientConfig, ClientError};
use arpwatch_rpc::contract::{ArpwatchNotice, lease_from_value};
use arpwatch_rpc::{DateTime, Fault, MethodCall, Struct, Value};
use lease_model::{Hostname, INFINITE_LIFETIME, Lease, LeaseEvent, LeaseRecord};
use peers::Peer;

fn client(url: &str) -> Client {
    Client::new(url, ClientConfig::default()).unwrap()
}

fn call(method: &str, params: Vec<Value>) -> MethodCall {
    MethodCall::new(method, params)
}

#[tokio::test]
async fn values_survive_a_python_echo() {
    let peer = Peer::start("serve");
    let c = client(&peer.url("/RPC2"));
    let values = [
        Value::from("  spaced\n<&>  "),
        Value::from(""),
        Value::Int(i32::MIN),
        Value::Bool(true),
        Value::Double(-0.5),
        Value::DateTime(DateTime::new(2026, 11, 24, 9, 5, 0).unwrap()),
        Value::Base64(vec![0, 1, 254, 255]),
        Value::Array(vec![Value::Int(1), Value::Nil, Value::from("x")]),
        Value::Struct(Struct::from([
            ("a".to_owned(), Value::Int(1)),
            ("b c".to_owned(), Value::Array(vec![])),
        ])),
        Value::Nil,
    ];
    for v in values {
        assert_eq!(c.call(&call("echo", vec![v.clone()])).await.unwrap(), v);
    }
}

#[tokio::test]
async fn none_is_nil() {
    let peer = Peer::start("serve");
    let c = client(&peer.url("/RPC2"));
    assert_eq!(c.call(&call("nothing", vec![])).await.unwrap(), Value::Nil);
}

#[tokio::test]
async fn faults_propagate_with_code_and_message() {
    let peer = Peer::start("serve");
    let c = client(&peer.url("/RPC2"));
    let err = c
        .call(&call(
            "fail",
            vec![Value::Int(-32000), "redis is down".into()],
        ))
        .await
        .unwrap_err();
    assert_eq!(err.fault(), Some(&Fault::new(-32000, "redis is down")));
    let ClientError::Fault { method, .. } = &err else {
        panic!("{err:?}")
    };
    assert_eq!(method, "fail");
    assert!(!err.is_transient());
    let shown = err.to_string();
    assert!(
        shown.contains(&peer.url("/RPC2")) && shown.contains("fault -32000: redis is down"),
        "{shown}"
    );

    // Python's own fault for an unknown method comes through the same way.
    let err = c.call(&call("no.such", vec![])).await.unwrap_err();
    let fault = err.fault().expect("a fault");
    assert!(fault.message.contains("no.such"), "{fault}");
}

#[tokio::test]
async fn multicall_is_one_request_with_per_call_results() {
    let peer = Peer::start("serve");
    let c = client(&peer.url("/RPC2"));
    let requests = || async { c.call(&call("requests", vec![])).await.unwrap() };
    let before = requests().await.as_i64().unwrap();
    let results = c
        .multicall(&[
            call("echo", vec![Value::Int(1)]),
            call("fail", vec![Value::Int(7), "seven".into()]),
            call("nothing", vec![]),
            call("no.such", vec![]),
            call("system.listMethods", vec![]),
        ])
        .await
        .unwrap();
    let after = requests().await.as_i64().unwrap();
    // `before` counts itself, `after` counts the multicall and itself.
    assert_eq!(
        after - before,
        2,
        "the multicall took more than one request"
    );
    assert_eq!(results.len(), 5);
    assert_eq!(results[0], Ok(Value::Int(1)));
    assert_eq!(results[1], Err(Fault::new(7, "seven")));
    assert_eq!(results[2], Ok(Value::Nil));
    assert!(results[3].as_ref().unwrap_err().message.contains("no.such"));
    let methods = results[4].as_ref().unwrap().as_array().unwrap();
    assert!(methods.contains(&Value::from("system.multicall")));

    assert_eq!(c.multicall(&[]).await.unwrap(), vec![]);
}

#[tokio::test]
async fn sequential_calls_reuse_one_connection() {
    let peer = Peer::start("serve");
    let c = client(&peer.url("/RPC2"));
    let mut ports = Vec::new();
    for _ in 0..5 {
        let v = c.call(&call("client_port", vec![])).await.unwrap();
        ports.push(v.as_i64().unwrap());
    }
    assert!(
        ports.iter().all(|p| *p == ports[0]),
        "calls came from several client ports (no keep-alive reuse): {ports:?}"
    );
    // Clones share the pool; a separate client does not, which shows the
    // port really identifies the connection.
    let clone = c.clone();
    let p = clone.call(&call("client_port", vec![])).await.unwrap();
    assert_eq!(p.as_i64().unwrap(), ports[0]);
    let other = client(&peer.url("/RPC2"));
    let p = other.call(&call("client_port", vec![])).await.unwrap();
    assert_ne!(p.as_i64().unwrap(), ports[0]);
}

#[tokio::test]
async fn a_server_that_never_answers_times_out_within_the_bound() {
    let peer = Peer::start("silent");
    let config = ClientConfig {
        request_timeout: Duration::from_millis(300),
        ..ClientConfig::default()
    };
    let c = Client::new(&peer.url("/RPC2"), config).unwrap();
    let start = Instant::now();
    let err = c.call(&call("echo", vec![1.into()])).await.unwrap_err();
    let took = start.elapsed();
    assert!(
        matches!(&err, ClientError::RequestTimeout { timeout, method, .. }
            if *timeout == Duration::from_millis(300) && method == "echo"),
        "{err:?}"
    );
    assert!(
        took >= Duration::from_millis(300) && took < Duration::from_secs(3),
        "{took:?}"
    );
    assert!(err.is_transient());
}

#[tokio::test]
async fn connection_refused_fails_fast_and_says_what_to_check() {
    // A port that was just free: nothing listens there.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let c = client(&format!("http://127.0.0.1:{port}/RPC2"));
    let start = Instant::now();
    let err = c.call(&call("echo", vec![])).await.unwrap_err();
    assert!(
        start.elapsed() < Duration::from_secs(1),
        "{:?}",
        start.elapsed()
    );
    let ClientError::Connect { endpoint, cause } = &err else {
        panic!("{err:?}")
    };
    assert_eq!(endpoint, &format!("http://127.0.0.1:{port}/RPC2"));
    assert!(cause.to_lowercase().contains("refused"), "{cause}");
    assert!(
        err.to_string().contains("is ARPwatch listening there?"),
        "{err}"
    );
    assert!(err.is_transient());
}

#[tokio::test]
async fn a_connect_that_hangs_is_a_connect_timeout() {
    // The peer's accept queue is full, so the kernel drops our SYNs.
    let peer = Peer::start("full-backlog");
    let config = ClientConfig {
        connect_timeout: Duration::from_millis(300),
        request_timeout: Duration::from_secs(10),
        ..ClientConfig::default()
    };
    let c = Client::new(&peer.url("/"), config).unwrap();
    let start = Instant::now();
    let err = c.call(&call("echo", vec![])).await.unwrap_err();
    assert!(
        matches!(&err, ClientError::ConnectTimeout { timeout, .. } if *timeout == Duration::from_millis(300)),
        "{err:?}"
    );
    assert!(
        start.elapsed() < Duration::from_secs(3),
        "{:?}",
        start.elapsed()
    );
}

#[tokio::test]
async fn a_connect_that_outlasts_the_request_timeout_is_still_a_connect_timeout() {
    // aae sets both timeouts alike; whichever fires, a hung connect must be
    // reported as one, not as a server that did not answer.
    let peer = Peer::start("full-backlog");
    let config = ClientConfig {
        connect_timeout: Duration::from_secs(10),
        request_timeout: Duration::from_millis(300),
        ..ClientConfig::default()
    };
    let c = Client::new(&peer.url("/"), config).unwrap();
    let err = c.call(&call("echo", vec![])).await.unwrap_err();
    assert!(
        matches!(&err, ClientError::ConnectTimeout { timeout, .. } if *timeout == Duration::from_millis(300)),
        "{err:?}"
    );
    assert!(err.is_transient());
}

#[tokio::test]
async fn wrong_path_is_an_http_status_error() {
    let peer = Peer::start("serve");
    let c = client(&peer.url("/not-rpc"));
    let err = c.call(&call("echo", vec![])).await.unwrap_err();
    assert!(
        matches!(err, ClientError::Status { status: 404, .. }),
        "{err:?}"
    );
    assert!(
        err.to_string()
            .contains("is the URL (path included) right?")
    );
}

#[tokio::test]
async fn a_response_that_is_not_xml_rpc_is_refused() {
    let peer = Peer::start("serve");
    let c = client(&peer.url("/junk"));
    let err = c.call(&call("echo", vec![])).await.unwrap_err();
    assert!(matches!(err, ClientError::BadResponse { .. }), "{err:?}");
    assert!(!err.is_transient());
}

#[tokio::test]
async fn oversized_responses_are_refused() {
    let peer = Peer::start("serve");
    let config = ClientConfig {
        max_response_bytes: 10_000,
        ..ClientConfig::default()
    };
    let c = Client::new(&peer.url("/RPC2"), config).unwrap();
    assert_eq!(
        c.call(&call("big", vec![Value::Int(1000)]))
            .await
            .unwrap()
            .as_str()
            .map(str::len),
        Some(1000)
    );
    let err = c
        .call(&call("big", vec![Value::Int(20_000)]))
        .await
        .unwrap_err();
    assert!(
        matches!(err, ClientError::TooLarge { limit: 10_000, .. }),
        "{err:?}"
    );
}

#[tokio::test]
async fn unsendable_values_are_refused_before_sending() {
    let c = client("http://127.0.0.1:9/RPC2");
    let err = c
        .call(&call("echo", vec![Value::Double(f64::NAN)]))
        .await
        .unwrap_err();
    assert!(matches!(err, ClientError::Encode { .. }), "{err:?}");
}

#[test]
fn bad_urls_are_refused_up_front() {
    for url in [
        "ftp://arpwatch/RPC2",
        "arpwatch:8080",
        "",
        "http:///x",
        "https://u:p@a/",
    ] {
        let err = Client::new(url, ClientConfig::default()).unwrap_err();
        assert!(
            matches!(err, ClientError::InvalidUrl { .. }),
            "{url}: {err:?}"
        );
    }
    let c = Client::new("http://127.0.0.1:8080", ClientConfig::default()).unwrap();
    assert_eq!(c.url(), "http://127.0.0.1:8080/");
}

#[tokio::test]
async fn a_lease_notice_reaches_python_intact() {
    let peer = Peer::start("serve");
    let c = client(&peer.url("/RPC2"));
    for (valid, event) in [
        (3600, LeaseEvent::Select),
        (INFINITE_LIFETIME, LeaseEvent::Renew),
    ] {
        let record = LeaseRecord {
            lease: Lease::new(
                "2001:db8::7".parse().unwrap(),
                "00:1b:2c:aa:bb:0f".parse().unwrap(),
                valid,
                1_795_000_000,
                Hostname::from_bytes(&b"K\xc3\xbcche\\\x01\xff"[..]),
                42,
                event,
            ),
            node: "dhcp-b".into(),
        };
        let notice = ArpwatchNotice::for_record(record.clone());
        // ARPwatch's documented answer, true.
        assert_eq!(c.call(&notice.to_call()).await.unwrap(), Value::Bool(true));
        // What Python stored, marshalled back by Python.
        let stored = c.call(&call("last_lease", vec![])).await.unwrap();
        assert_eq!(lease_from_value(&stored).unwrap(), record);
    }
}

// TLS and credentials, against Python's server wrapped in `ssl`, with
// certificates made by the test (system_tests::pki).

mod tls {
    use std::ffi::OsStr;
    use std::path::Path;
    use std::time::{Duration, Instant};

    use arpwatch_rpc::client::{
        Client, ClientConfig, ClientError, Credentials, TlsConfig, TlsFailure,
    };
    use arpwatch_rpc::{MethodCall, Value};
    use system_tests::pki::{CertFiles, Pki, Usage};

    use super::peers::Peer;

    const LOCAL: &[&str] = &["127.0.0.1", "localhost"];

    /// `serve` over TLS with `server`'s certificate, and more options.
    fn tls_peer(server: &CertFiles, more: &[&OsStr]) -> Peer {
        let mut options = vec![
            OsStr::new("--cert"),
            server.cert.as_os_str(),
            OsStr::new("--key"),
            server.key.as_os_str(),
        ];
        options.extend_from_slice(more);
        Peer::start_with("serve", &options)
    }

    fn trusting(ca: &Path) -> ClientConfig {
        ClientConfig {
            tls: Some(TlsConfig::from_files(Some(ca), None).unwrap()),
            ..ClientConfig::default()
        }
    }

    async fn echo(client: &Client) -> Result<Value, ClientError> {
        client
            .call(&MethodCall::new("echo", vec![Value::from("over TLS")]))
            .await
    }

    /// The TLS failure of a call, checked to be quick and to say `says`.
    async fn tls_failure(url: &str, config: ClientConfig, says: &str) -> (TlsFailure, String) {
        let c = Client::new(url, config).unwrap();
        let start = Instant::now();
        let err = echo(&c).await.unwrap_err();
        assert!(
            start.elapsed() < Duration::from_secs(2),
            "{:?}",
            start.elapsed()
        );
        let ClientError::Tls {
            failure, reason, ..
        } = &err
        else {
            panic!("not a TLS error: {err:?}")
        };
        let shown = err.to_string();
        assert!(
            shown.starts_with(&format!("TLS with {url} failed: ")),
            "{shown}"
        );
        assert!(shown.contains(says), "{shown} lacks {says:?}");
        assert!(
            err.is_transient() == (*failure != TlsFailure::NotTls),
            "{err:?}"
        );
        eprintln!("{shown}");
        (*failure, reason.clone())
    }

    #[tokio::test]
    async fn a_server_certificate_from_our_ca_verifies_and_the_connection_is_kept() {
        let pki = Pki::new("good");
        let peer = tls_peer(&pki.issue("server", Usage::Server, LOCAL), &[]);
        let c = Client::new(&peer.https_url("/RPC2"), trusting(pki.ca_file())).unwrap();
        assert_eq!(echo(&c).await.unwrap(), Value::from("over TLS"));
        let port = || async {
            c.call(&MethodCall::new("client_port", vec![]))
                .await
                .unwrap()
        };
        assert_eq!(port().await, port().await, "no keep-alive over TLS");
        // By name as well as by address.
        let by_name = format!("https://localhost:{}/RPC2", peer.port);
        let c = Client::new(&by_name, trusting(pki.ca_file())).unwrap();
        assert_eq!(echo(&c).await.unwrap(), Value::from("over TLS"));
    }

    #[tokio::test]
    async fn certificates_that_do_not_verify_say_why() {
        let ours = Pki::new("ours");
        let theirs = Pki::new("theirs");

        let other_ca = tls_peer(&theirs.issue("server", Usage::Server, LOCAL), &[]);
        let url = other_ca.https_url("/RPC2");
        let (failure, reason) = tls_failure(
            &url,
            trusting(ours.ca_file()),
            "not signed by a CA this client trusts",
        )
        .await;
        assert_eq!(failure, TlsFailure::UnknownIssuer, "{reason}");
        // Without a CA file the system's store is used, which knows neither.
        let (failure, _) = tls_failure(&url, ClientConfig::default(), "UnknownIssuer").await;
        assert_eq!(failure, TlsFailure::UnknownIssuer);

        let expired = tls_peer(&ours.issue_expired("old", LOCAL), &[]);
        let (failure, _) = tls_failure(
            &expired.https_url("/RPC2"),
            trusting(ours.ca_file()),
            "has expired: renew it",
        )
        .await;
        assert_eq!(failure, TlsFailure::Expired);

        let elsewhere = tls_peer(
            &ours.issue("elsewhere", Usage::Server, &["arpwatch.example"]),
            &[],
        );
        let (failure, reason) = tls_failure(
            &elsewhere.https_url("/RPC2"),
            trusting(ours.ca_file()),
            "not for the URL's host",
        )
        .await;
        assert_eq!(failure, TlsFailure::WrongName);
        assert!(reason.contains("arpwatch.example"), "{reason}");
    }

    #[tokio::test]
    async fn a_client_certificate_the_server_requires() {
        let pki = Pki::new("mutual");
        let server = pki.issue("server", Usage::Server, LOCAL);
        let client = pki.issue("aae", Usage::Client, &[]);
        let peer = tls_peer(
            &server,
            &[OsStr::new("--client-ca"), pki.ca_file().as_os_str()],
        );
        let url = peer.https_url("/RPC2");
        let with_cert = ClientConfig {
            tls: Some(
                TlsConfig::from_files(Some(pki.ca_file()), Some((&client.cert, &client.key)))
                    .unwrap(),
            ),
            ..ClientConfig::default()
        };
        let c = Client::new(&url, with_cert).unwrap();
        assert_eq!(echo(&c).await.unwrap(), Value::from("over TLS"));

        let (failure, reason) = tls_failure(
            &url,
            trusting(pki.ca_file()),
            "requires a client certificate",
        )
        .await;
        assert_eq!(failure, TlsFailure::Refused, "{reason}");

        // A client certificate from a CA the server does not trust.
        let strangers = Pki::new("stranger");
        let stranger = strangers.issue("aae", Usage::Client, &[]);
        let config = ClientConfig {
            tls: Some(
                TlsConfig::from_files(Some(pki.ca_file()), Some((&stranger.cert, &stranger.key)))
                    .unwrap(),
            ),
            ..ClientConfig::default()
        };
        let (failure, _) = tls_failure(&url, config, "the server refused the handshake").await;
        assert_eq!(failure, TlsFailure::Refused);
    }

    #[test]
    fn a_key_that_is_not_the_certificates_is_refused_up_front() {
        let pki = Pki::new("mismatch");
        let a = pki.issue("a", Usage::Client, &[]);
        let b = pki.issue("b", Usage::Client, &[]);
        let err = TlsConfig::from_files(Some(pki.ca_file()), Some((&a.cert, &b.key))).unwrap_err();
        let shown = err.to_string();
        assert!(
            shown.contains(&format!("the client key {}", b.key.display()))
                && shown.contains("does not belong to the client certificate"),
            "{shown}"
        );
    }

    #[tokio::test]
    async fn basic_credentials_are_sent_and_a_401_says_so() {
        let pki = Pki::new("auth");
        let peer = tls_peer(
            &pki.issue("server", Usage::Server, LOCAL),
            &[OsStr::new("--auth"), OsStr::new("aae:c0rrect horse")],
        );
        let url = peer.https_url("/RPC2");
        let with = |user: &str, password: &str| ClientConfig {
            credentials: Some(Credentials::new(user, password).unwrap()),
            ..trusting(pki.ca_file())
        };
        let c = Client::new(&url, with("aae", "c0rrect horse")).unwrap();
        assert_eq!(echo(&c).await.unwrap(), Value::from("over TLS"));

        let c = Client::new(&url, with("aae", "wrong")).unwrap();
        let err = echo(&c).await.unwrap_err();
        assert!(
            matches!(
                err,
                ClientError::Unauthorized {
                    sent_credentials: true,
                    ..
                }
            ),
            "{err:?}"
        );
        let shown = err.to_string();
        assert!(
            shown.starts_with(&format!("ARPwatch at {url} refused the credentials")),
            "{shown}"
        );
        assert!(!shown.contains("wrong") && !format!("{err:?}").contains("wrong"));
        assert!(!err.is_transient());

        let c = Client::new(&url, trusting(pki.ca_file())).unwrap();
        let err = echo(&c).await.unwrap_err();
        assert!(
            matches!(
                err,
                ClientError::Unauthorized {
                    sent_credentials: false,
                    ..
                }
            ),
            "{err:?}"
        );
        assert!(err.to_string().contains("none are configured"), "{err}");
    }

    #[tokio::test]
    async fn the_wrong_scheme_for_the_port_fails_fast_and_says_so() {
        let pki = Pki::new("scheme");
        let tls = tls_peer(&pki.issue("server", Usage::Server, LOCAL), &[]);
        // http:// to the TLS port.
        let c = Client::new(&tls.url("/RPC2"), ClientConfig::default()).unwrap();
        let start = Instant::now();
        let err = echo(&c).await.unwrap_err();
        assert!(
            start.elapsed() < Duration::from_secs(2),
            "{:?}",
            start.elapsed()
        );
        assert!(err.to_string().contains("use https://"), "{err}");
        eprintln!("http to a TLS port: {err}");

        // https:// to a plain port: Python reads the ClientHello as a request
        // line, and may wait for its end; the call still ends within the
        // timeout, and says what to check.
        let plain = Peer::start("serve");
        let config = ClientConfig {
            request_timeout: Duration::from_millis(1500),
            ..trusting(pki.ca_file())
        };
        let c = Client::new(&plain.https_url("/RPC2"), config).unwrap();
        let start = Instant::now();
        let err = echo(&c).await.unwrap_err();
        assert!(
            start.elapsed() < Duration::from_secs(3),
            "{:?}",
            start.elapsed()
        );
        let shown = err.to_string();
        assert!(
            shown.contains("is it a plain http:// port?")
                || shown.contains("does that port speak TLS"),
            "{err:?}: {shown}"
        );
        eprintln!(
            "https to a plain port, after {:?}: {shown}",
            start.elapsed()
        );
    }
}
