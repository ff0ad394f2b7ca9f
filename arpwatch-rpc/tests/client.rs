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
    for url in ["https://arpwatch/RPC2", "arpwatch:8080", "", "http:///x"] {
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
