//! Hostile and broken input: each gets its refusal, and aai answers the
//! next good request.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use crate::fixture::{call_doc, connect_from, get, http, parse_response, post, setup};

fn fault_code(r: arpwatch_rpc::MethodResponse) -> i32 {
    match r {
        Err(f) => f.code,
        Ok(v) => panic!("expected a fault, got {v:?}"),
    }
}

#[test]
fn bad_documents_get_their_faults() {
    let (_redis, aai) = setup("");
    let deep = format!(
        "<?xml version=\"1.0\"?><methodCall><methodName>arpwatch.get_mac</methodName><params><param>{}{}</param></params></methodCall>",
        "<value><array><data>".repeat(200),
        "</data></array></value>".repeat(200)
    );
    let laughs = r#"<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol9 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
]>
<methodCall><methodName>arpwatch.get_mac</methodName><params><param><value>&lol9;</value></param></params></methodCall>"#;
    let cases: Vec<(&str, String, i32)> = vec![
        (
            "truncated XML",
            "<methodCall><methodName>arpwatch.get_mac".into(),
            -32700,
        ),
        ("not XML", "GET / HTTP/1.0".into(), -32700),
        ("empty body", String::new(), -32700),
        (
            "not a methodCall",
            "<?xml version=\"1.0\"?><methodResponse/>".into(),
            -32600,
        ),
        (
            "unknown method",
            call_doc("arpwatch.drop_tables", &["192.0.2.10"]),
            -32601,
        ),
        (
            "bad IP",
            call_doc("arpwatch.get_mac", &["192.0.2.300"]),
            -32602,
        ),
        ("no params", call_doc("arpwatch.get_mac", &[]), -32602),
        (
            "two params",
            call_doc("arpwatch.get_lease", &["192.0.2.10", "x"]),
            -32602,
        ),
        ("deep nesting", deep, -32700),
        ("billion laughs", laughs.into(), -32700),
    ];
    for (what, doc, code) in cases {
        let start = Instant::now();
        assert_eq!(fault_code(aai.call(&doc)), code, "{what}");
        assert!(
            start.elapsed() < Duration::from_secs(2),
            "{what} took {:?}",
            start.elapsed()
        );
        aai.still_answers("192.0.2.10", "aa:bb:cc:dd:ee:01");
    }
    let metrics = http(aai.addr(), None, &get("/metrics")).text();
    assert!(
        metrics.contains("aai_faults_total{code=\"-32700\"} 5"),
        "{metrics}"
    );
}

#[test]
fn oversized_bodies_get_413() {
    let (_redis, aai) = setup("max-body-bytes = 65536");

    // Declared too large: refused from the headers, before any body byte.
    let mut s = TcpStream::connect(aai.addr()).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s.write_all(b"POST /RPC2 HTTP/1.1\r\nHost: aai\r\nContent-Length: 10485760\r\n\r\n")
        .unwrap();
    let mut raw = Vec::new();
    let _ = s.read_to_end(&mut raw);
    let r = parse_response(&raw);
    assert_eq!(r.status, 413, "{r:?}");
    aai.still_answers("192.0.2.10", "aa:bb:cc:dd:ee:01");

    // A real 10 MB body, sent while the response is read.
    let mut s = TcpStream::connect(aai.addr()).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut w = s.try_clone().unwrap();
    let writer = std::thread::spawn(move || {
        let _ = w.write_all(b"POST / HTTP/1.1\r\nHost: aai\r\nContent-Length: 10485760\r\n\r\n");
        let chunk = vec![b'<'; 64 * 1024];
        for _ in 0..160 {
            if w.write_all(&chunk).is_err() {
                break; // aai closed the connection: that is the point
            }
        }
    });
    let mut raw = Vec::new();
    let _ = s.read_to_end(&mut raw);
    let _ = writer.join();
    assert!(
        raw.starts_with(b"HTTP/1.1 413"),
        "{:?}",
        String::from_utf8_lossy(&raw[..raw.len().min(200)])
    );
    aai.still_answers("192.0.2.10", "aa:bb:cc:dd:ee:01");

    // Chunked, no length: cut off when it passes the cap.
    let mut req = b"POST /RPC2 HTTP/1.1\r\nHost: aai\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n".to_vec();
    for _ in 0..3 {
        req.extend_from_slice(format!("{:x}\r\n", 40_000).as_bytes());
        req.extend(std::iter::repeat_n(b' ', 40_000));
        req.extend_from_slice(b"\r\n");
    }
    req.extend_from_slice(b"0\r\n\r\n");
    assert_eq!(http(aai.addr(), None, &req).status, 413);
    aai.still_answers("192.0.2.10", "aa:bb:cc:dd:ee:01");
}

#[test]
fn trickling_clients_are_cut_off() {
    let (_redis, aai) = setup("header-timeout-ms = 500\nbody-timeout-ms = 500");

    // Headers one byte at a time, never finished: the connection is closed.
    let start = Instant::now();
    let mut s = TcpStream::connect(aai.addr()).unwrap();
    s.set_read_timeout(Some(Duration::from_millis(50))).unwrap();
    let slow = b"POST /RPC2 HTTP/1.1\r\nHost: aai\r\nX-Slow: ";
    let mut i = 0;
    let closed = loop {
        if s.write_all(&[slow[i % slow.len()]]).is_err() {
            break true;
        }
        i += 1;
        let mut buf = [0; 256];
        match s.read(&mut buf) {
            // EOF, or an error response before the close: cut off either way.
            Ok(_) => break true,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(_) => break true,
        }
        if start.elapsed() > Duration::from_secs(5) {
            break false;
        }
    };
    assert!(closed, "a client trickling headers was not cut off");
    assert!(
        start.elapsed() < Duration::from_secs(3),
        "cut off only after {:?}",
        start.elapsed()
    );
    aai.still_answers("192.0.2.10", "aa:bb:cc:dd:ee:01");

    // Complete headers, then a body that never completes: 408.
    let start = Instant::now();
    let mut s = TcpStream::connect(aai.addr()).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s.write_all(b"POST /RPC2 HTTP/1.1\r\nHost: aai\r\nContent-Length: 100\r\n\r\n<met")
        .unwrap();
    let mut raw = Vec::new();
    let _ = s.read_to_end(&mut raw);
    let r = parse_response(&raw);
    assert_eq!(r.status, 408, "{r:?}");
    assert!(
        start.elapsed() < Duration::from_secs(3),
        "took {:?}",
        start.elapsed()
    );
    aai.still_answers("192.0.2.10", "aa:bb:cc:dd:ee:01");
}

#[test]
fn clients_outside_the_allow_list_get_403_before_the_body() {
    let (_redis, aai) = setup("allow = [\"127.0.0.1/32\"]");
    let from = Some("127.0.0.2".parse().unwrap());

    // Headers promise a body that never comes: a 403 that arrives anyway
    // shows the body was not waited for, let alone read.
    let mut s = connect_from(aai.addr(), from);
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s.write_all(b"POST /RPC2 HTTP/1.1\r\nHost: aai\r\nContent-Length: 5000\r\n\r\n")
        .unwrap();
    let mut raw = Vec::new();
    let _ = s.read_to_end(&mut raw);
    let r = parse_response(&raw);
    assert_eq!(r.status, 403, "{r:?}");

    let r = http(aai.addr(), from, &get("/health"));
    assert_eq!(r.status, 403, "{r:?}");
    aai.still_answers("192.0.2.10", "aa:bb:cc:dd:ee:01");
    let m = http(aai.addr(), None, &get("/metrics")).text();
    assert!(
        m.contains("aai_http_refused_total{reason=\"forbidden\",status=\"403\"} 2"),
        "{m}"
    );
}

#[test]
fn wrong_paths_and_methods() {
    let (_redis, aai) = setup("");
    let doc = call_doc("arpwatch.get_mac", &["192.0.2.10"]);
    for (req, status) in [
        (get("/RPC2"), 405),
        (get("/"), 405),
        (get("/nope"), 404),
        (post("/nope", doc.as_bytes()), 404),
        (post("/health", b""), 405),
        (post("/metrics", b""), 405),
        (get("/health"), 200),
        (get("/metrics"), 200),
        (post("/", doc.as_bytes()), 200),
    ] {
        let r = http(aai.addr(), None, &req);
        assert_eq!(
            r.status,
            status,
            "{}: {r:?}",
            String::from_utf8_lossy(&req[..20])
        );
        if status == 405 {
            assert!(!r.header("allow").is_empty(), "405 without Allow: {r:?}");
        }
    }
}

#[test]
fn keep_alive_serves_many_calls_on_one_connection() {
    let (_redis, aai) = setup("");
    let mut s = TcpStream::connect(aai.addr()).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let doc = call_doc("arpwatch.get_mac", &["192.0.2.10"]);
    for _ in 0..3 {
        let req = format!(
            "POST /RPC2 HTTP/1.1\r\nHost: aai\r\nContent-Length: {}\r\n\r\n{doc}",
            doc.len()
        );
        s.write_all(req.as_bytes()).unwrap();
        let r = crate::fixture::read_one_response(&mut s);
        assert_eq!(r.status, 200, "{r:?}");
        assert!(r.text().contains("aa:bb:cc:dd:ee:01"), "{r:?}");
    }
}

#[test]
fn connections_over_the_cap_wait_until_one_closes() {
    let (_redis, aai) = setup("max-connections = 2\nheader-timeout-ms = 10000");
    let a = TcpStream::connect(aai.addr()).unwrap();
    let b = TcpStream::connect(aai.addr()).unwrap();
    // Both slots taken by silent clients; a third client gets no answer...
    let doc = call_doc("arpwatch.get_mac", &["192.0.2.10"]);
    let mut c = TcpStream::connect(aai.addr()).unwrap();
    c.write_all(&post("/RPC2", doc.as_bytes())).unwrap();
    c.set_read_timeout(Some(Duration::from_millis(500)))
        .unwrap();
    let mut buf = [0; 16];
    let early = c.read(&mut buf);
    assert!(
        matches!(&early, Err(e) if e.kind() == std::io::ErrorKind::WouldBlock),
        "served over the cap: {early:?}"
    );
    // ...until one of them leaves.
    drop(a);
    c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut raw = buf[..0].to_vec();
    let _ = c.read_to_end(&mut raw);
    let r = parse_response(&raw);
    assert_eq!(r.status, 200, "{r:?}");
    assert!(r.text().contains("aa:bb:cc:dd:ee:01"), "{r:?}");
    drop(b);
}

#[test]
fn refused_clients_cannot_take_the_slots_of_allowed_ones() {
    let (_redis, aai) = setup("allow = [\"127.0.0.1/32\"]\nmax-connections = 4");
    let from = Some("127.0.0.2".parse().unwrap());
    // Far more silent connections from outside the allow list than slots.
    let silent: Vec<TcpStream> = (0..40).map(|_| connect_from(aai.addr(), from)).collect();
    let start = Instant::now();
    aai.still_answers("192.0.2.10", "aa:bb:cc:dd:ee:01");
    assert!(
        start.elapsed() < Duration::from_secs(2),
        "took {:?}",
        start.elapsed()
    );
    drop(silent);
}

#[test]
fn mangled_documents_always_get_a_well_formed_answer() {
    let (_redis, aai) = setup("");
    let calls: Vec<_> = ["192.0.2.10", "2001:db8::10", "192.0.2.99"]
        .iter()
        .map(|ip| arpwatch_rpc::contract::get_lease_call(ip.parse().unwrap()))
        .collect();
    let good =
        arpwatch_rpc::xml::write_call(&arpwatch_rpc::multicall::encode_calls(&calls)).unwrap();
    // A fixed-seed generator: the same 300 mangled documents every run.
    let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = move |n: usize| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        (seed % n as u64) as usize
    };
    for i in 0..300 {
        let mut doc = good.clone();
        match i % 3 {
            0 => doc.truncate(next(doc.len())),
            1 => {
                for _ in 0..1 + next(4) {
                    let at = next(doc.len());
                    doc[at] = next(256) as u8;
                }
            }
            _ => {
                let at = next(doc.len());
                let len = next(doc.len() - at);
                let piece = doc[at..at + len].to_vec();
                let to = next(doc.len());
                doc.splice(to..to, piece);
            }
        }
        let r = http(aai.addr(), None, &post("/RPC2", &doc));
        assert_eq!(r.status, 200, "document {i}: {r:?}");
        // A value or a fault: a mangled document may still be a valid call.
        let _answer: arpwatch_rpc::MethodResponse =
            arpwatch_rpc::xml::parse_response(&r.body, &arpwatch_rpc::Limits::default())
                .unwrap_or_else(|e| {
                    panic!(
                        "document {i}: aai's answer does not parse ({e}): {}",
                        r.text()
                    )
                });
    }
    aai.still_answers("192.0.2.10", "aa:bb:cc:dd:ee:01");
}
