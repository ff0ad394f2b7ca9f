//! Conformance of the XML-RPC codec with real peers: Python's
//! `xmlrpc.client` and Perl's RPC::XML.
//!
//! * Documents those libraries wrote (`conformance/fixtures/`, made by
//!   `conformance/gen_fixtures.{py,pl}`) must parse to the value the
//!   generator says it sent (the `.json` next to each document).
//! * Documents our writer writes must be read by those libraries as the
//!   value we wrote (`conformance/decode.{py,pl}` print what they read).
//!
//! Nothing is skipped: without python3 or RPC::XML these tests fail and say
//! to run `ci/setup`.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use arpwatch_rpc::xml::{parse_call, parse_response, write_call, write_response};
use arpwatch_rpc::{DateTime, Fault, Limits, MethodCall, MethodResponse, Struct, Value};
use base64::Engine;
use serde_json::Value as Json;

fn conformance_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("conformance")
}

// ---- the typed JSON form (conformance/README.md) ----

fn typed_to_value(j: &Json) -> Value {
    let ty = j["type"]
        .as_str()
        .unwrap_or_else(|| panic!("no type in {j}"));
    let v = &j["value"];
    match ty {
        "nil" => Value::Nil,
        "string" => Value::String(v.as_str().expect("string value").to_owned()),
        "boolean" => Value::Bool(v.as_bool().expect("boolean value")),
        "int" => {
            let i = v.as_i64().expect("int value");
            // Python has one int type, so what it reads as "int" may be wider.
            i32::try_from(i).map_or(Value::I8(i), Value::Int)
        }
        "i8" => Value::I8(v.as_i64().expect("i8 value")),
        // Doubles travel as text: JSON number parsers need not be exact.
        "double" => Value::Double(
            v.as_str()
                .expect("double as a string")
                .parse()
                .unwrap_or_else(|e| panic!("double {v}: {e}")),
        ),
        "dateTime.iso8601" => {
            Value::DateTime(parse_compact_datetime(v.as_str().expect("dateTime")))
        }
        "base64" => Value::Base64(
            base64::engine::general_purpose::STANDARD
                .decode(v.as_str().expect("base64 value"))
                .expect("valid base64 in expectation"),
        ),
        "struct" => Value::Struct(
            v.as_object()
                .expect("struct members")
                .iter()
                .map(|(k, m)| (k.clone(), typed_to_value(m)))
                .collect(),
        ),
        "array" => Value::Array(
            v.as_array()
                .expect("array items")
                .iter()
                .map(typed_to_value)
                .collect(),
        ),
        other => panic!("unknown type {other:?} in {j}"),
    }
}

fn parse_compact_datetime(s: &str) -> DateTime {
    let n = |r: std::ops::Range<usize>| s[r].parse::<u32>().unwrap_or_else(|e| panic!("{s}: {e}"));
    assert_eq!(
        s.len(),
        17,
        "expectation dateTime {s:?} is not YYYYMMDDTHH:MM:SS"
    );
    DateTime::new(
        n(0..4) as i32,
        n(4..6) as u8,
        n(6..8) as u8,
        n(9..11) as u8,
        n(12..14) as u8,
        n(15..17) as u8,
    )
    .unwrap_or_else(|| panic!("invalid expectation dateTime {s}"))
}

/// What a peer made of a document, in our types.
#[derive(Debug, PartialEq)]
enum Read {
    Call(MethodCall),
    Response(MethodResponse),
    /// Refused, with the fault code we give (ours) or the peer's message.
    Error(String),
}

fn read_from_typed(j: &Json) -> Read {
    match j["kind"].as_str().expect("kind") {
        "call" => Read::Call(MethodCall::new(
            j["method"].as_str().expect("method"),
            j["params"]
                .as_array()
                .expect("params")
                .iter()
                .map(typed_to_value)
                .collect(),
        )),
        "response" => Read::Response(Ok(typed_to_value(&j["value"]))),
        "fault" => Read::Response(Err(Fault::new(
            i32::try_from(j["code"].as_i64().expect("fault code")).expect("code fits int"),
            j["string"].as_str().expect("fault string"),
        ))),
        "error" => Read::Error(j["message"].to_string()),
        other => panic!("unknown kind {other:?}"),
    }
}

/// Python reads `<i8>` and `<int>` as the same int; compare integers by value.
fn widen(v: &Value) -> Value {
    match v {
        Value::Int(i) => Value::I8(i64::from(*i)),
        Value::Array(items) => Value::Array(items.iter().map(widen).collect()),
        Value::Struct(m) => Value::Struct(m.iter().map(|(k, v)| (k.clone(), widen(v))).collect()),
        other => other.clone(),
    }
}

fn widen_read(r: &Read) -> Read {
    match r {
        Read::Call(c) => Read::Call(MethodCall::new(
            c.method.clone(),
            c.params.iter().map(widen).collect(),
        )),
        Read::Response(Ok(v)) => Read::Response(Ok(widen(v))),
        Read::Response(Err(f)) => Read::Response(Err(f.clone())),
        Read::Error(e) => Read::Error(e.clone()),
    }
}

// ---- fixtures written by the peers ----

struct Fixture {
    name: String,
    doc: Vec<u8>,
    expect: Json,
}

fn fixtures(peer: &str) -> Vec<Fixture> {
    let dir = conformance_dir().join("fixtures").join(peer);
    let mut out: Vec<Fixture> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.expect("directory entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "xml"))
        .map(|p| {
            let json_path = p.with_extension("json");
            let expect = std::fs::read(&json_path).unwrap_or_else(|e| {
                panic!(
                    "{}: {e} (every fixture needs its expectation)",
                    json_path.display()
                )
            });
            Fixture {
                name: format!("{peer}/{}", p.file_stem().unwrap().to_string_lossy()),
                doc: std::fs::read(&p).expect("fixture document"),
                expect: serde_json::from_slice(&expect).expect("expectation is JSON"),
            }
        })
        .collect();
    out.sort_by(|a, b| a.name.cmp(&b.name));
    out
}

fn parse_as_expected_kind(f: &Fixture) -> Read {
    let limits = Limits::default();
    let parsed = if f.expect["kind"] == "call" {
        parse_call(&f.doc, &limits).map(Read::Call)
    } else {
        parse_response(&f.doc, &limits).map(Read::Response)
    };
    parsed.unwrap_or_else(|e| Read::Error(e.fault().code.to_string()))
}

fn check_fixtures(peer: &str, at_least: usize) {
    let all = fixtures(peer);
    assert!(
        all.len() >= at_least,
        "only {} {peer} fixtures; regenerate with conformance/gen_fixtures",
        all.len()
    );
    let mut failures = Vec::new();
    for f in &all {
        let got = parse_as_expected_kind(f);
        let want = match f.expect["kind"].as_str() {
            // A refused document: compare only the fault code.
            Some("error") => Read::Error(f.expect["fault_code"].to_string()),
            _ => read_from_typed(&f.expect),
        };
        if got != want {
            failures.push(format!("{}:\n  got  {got:?}\n  want {want:?}", f.name));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} fixtures differ:\n{}",
        failures.len(),
        all.len(),
        failures.join("\n")
    );
}

#[test]
fn python_fixtures_parse_to_the_values_python_sent() {
    check_fixtures("python", 20);
}

#[test]
fn perl_fixtures_parse_to_the_values_perl_sent() {
    check_fixtures("perl", 20);
}

#[test]
fn fixtures_survive_our_writer() {
    for peer in ["python", "perl"] {
        for f in fixtures(peer) {
            let (again, first) = match parse_as_expected_kind(&f) {
                Read::Call(c) => {
                    let doc = write_call(&c).unwrap_or_else(|e| panic!("{}: {e}", f.name));
                    (
                        Read::Call(parse_call(&doc, &Limits::default()).expect("re-parse")),
                        Read::Call(c),
                    )
                }
                Read::Response(r) => {
                    let doc = write_response(&r).unwrap_or_else(|e| panic!("{}: {e}", f.name));
                    (
                        Read::Response(parse_response(&doc, &Limits::default()).expect("re-parse")),
                        Read::Response(r),
                    )
                }
                Read::Error(_) => continue,
            };
            assert_eq!(again, first, "{}", f.name);
        }
    }
}

// ---- documents we write, read by the peers ----

fn dt(y: i32, mo: u8, d: u8, h: u8, mi: u8, s: u8) -> Value {
    Value::DateTime(DateTime::new(y, mo, d, h, mi, s).expect("valid test date"))
}

fn strukt(members: &[(&str, Value)]) -> Value {
    Value::Struct(
        members
            .iter()
            .map(|(k, v)| ((*k).to_owned(), v.clone()))
            .collect::<Struct>(),
    )
}

/// Values both peers can represent (Python's datetime has no year 0 and no
/// leap second, so neither is here).
fn sample_values() -> Vec<Value> {
    vec![
        Value::from(""),
        Value::from(" leading"),
        Value::from("trailing "),
        Value::from("  both \t\n"),
        Value::from("a<b&c>d ]]> \"q\" 'a'"),
        Value::from("ü 日本 😀 \u{FFFD} \u{10FFFF}"),
        Value::from("cr\r lf\n crlf\r\n"),
        Value::from("&amp; not an entity"),
        Value::Int(0),
        Value::Int(i32::MIN),
        Value::Int(i32::MAX),
        Value::I8(i64::MIN),
        Value::I8(i64::MAX),
        Value::I8(-5),
        Value::Bool(true),
        Value::Bool(false),
        Value::Double(0.0),
        Value::Double(-0.0),
        Value::Double(1.0),
        Value::Double(0.1),
        Value::Double(1.0 / 3.0),
        Value::Double(-1.5e-7),
        Value::Double(123_456_789.125),
        Value::Double(1e300),
        Value::Double(f64::MAX),
        Value::Double(f64::MIN_POSITIVE),
        Value::Double(5e-324),
        dt(2026, 11, 24, 9, 5, 0),
        dt(1970, 1, 1, 0, 0, 0),
        dt(9999, 12, 31, 23, 59, 59),
        dt(1, 1, 1, 0, 0, 0),
        Value::Base64(vec![]),
        Value::Base64((0..=255).collect()),
        Value::Base64(vec![0xA5; 1000]),
        Value::Nil,
        Value::Array(vec![]),
        Value::Struct(Struct::new()),
        Value::Array(vec![
            Value::Array(vec![]),
            Value::Struct(Struct::new()),
            Value::Nil,
        ]),
        strukt(&[
            ("", Value::from("empty name")),
            (" spaced ", Value::Int(1)),
            ("a<b&c", Value::Int(2)),
            ("ü日本", Value::Nil),
            (
                "nested",
                Value::Array(vec![strukt(&[(
                    "x",
                    Value::Array(vec![Value::Int(1), Value::from(" y ")]),
                )])]),
            ),
        ]),
    ]
}

fn lease_seen() -> MethodCall {
    MethodCall::new(
        "arpwatch.lease_seen",
        vec![strukt(&[
            ("ip", Value::from("192.0.2.10")),
            ("mac", Value::from("00:11:22:33:44:55")),
            ("expires", dt(2026, 11, 24, 10, 5, 0)),
            ("valid_lifetime", Value::Int(3600)),
            ("hostname", Value::from("host-a")),
            ("subnet_id", Value::Int(1)),
            ("event", Value::from("lease4_select")),
            ("node", Value::from("kea-1")),
        ])],
    )
}

/// Documents we write, with what they carry.
fn our_documents() -> Vec<(String, Vec<u8>, Read)> {
    let mut out = Vec::new();
    let mut add_call = |label: String, call: MethodCall| {
        let doc = write_call(&call).unwrap_or_else(|e| panic!("{label}: {e}"));
        out.push((label, doc, Read::Call(call)));
    };
    for (i, v) in sample_values().into_iter().enumerate() {
        add_call(
            format!("call param #{i} {v:?}"),
            MethodCall::new("test.echo", vec![v]),
        );
    }
    add_call(
        "all samples in one call".into(),
        MethodCall::new("test.all", sample_values()),
    );
    add_call(
        "no params".into(),
        MethodCall::new("system.listMethods", vec![]),
    );
    add_call("lease_seen".into(), lease_seen());
    add_call(
        "multicall".into(),
        MethodCall::new(
            "system.multicall",
            vec![Value::Array(vec![
                strukt(&[
                    ("methodName", Value::from("arpwatch.get_mac")),
                    ("params", Value::Array(vec![Value::from("192.0.2.1")])),
                ]),
                strukt(&[
                    ("methodName", Value::from("arpwatch.lease_seen")),
                    ("params", Value::Array(lease_seen().params)),
                ]),
            ])],
        ),
    );
    let responses: Vec<MethodResponse> = vec![
        Ok(Value::from("  spaced result  ")),
        Ok(Value::Nil),
        Ok(Value::Array(sample_values())),
        Ok(Value::Array(vec![
            Value::Array(vec![Value::from("00:11:22:33:44:55")]),
            strukt(&[
                ("faultCode", Value::Int(-32602)),
                ("faultString", Value::from("bad ip")),
            ]),
        ])),
        Err(Fault::new(
            -32602,
            "bad ip 'x': <not an address> & more\r\n",
        )),
        Err(Fault::new(-32000, "")),
        Err(Fault::new(i32::MIN, "ü")),
    ];
    for (i, r) in responses.into_iter().enumerate() {
        let doc = write_response(&r).unwrap_or_else(|e| panic!("response #{i}: {e}"));
        out.push((format!("response #{i} {r:?}"), doc, Read::Response(r)));
    }
    out
}

/// Runs a decoder script over documents; one typed JSON result per document.
fn run_decoder(program: &str, script: &str, docs: &[Vec<u8>]) -> Vec<Json> {
    let input = Json::Array(
        docs.iter()
            .map(|d| Json::String(String::from_utf8(d.clone()).expect("we write UTF-8")))
            .collect(),
    );
    let mut child = Command::new(program)
        .arg(conformance_dir().join(script))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| {
            panic!("cannot run {program}: {e}; run ci/setup to install the conformance peers")
        });
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(input.to_string().as_bytes())
        .expect("write documents to the decoder");
    let out = child.wait_with_output().expect("decoder output");
    assert!(
        out.status.success(),
        "{program} {script} failed ({}); run ci/setup if a module is missing:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<Json> = String::from_utf8(out.stdout)
        .expect("decoder prints UTF-8")
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("decoder line {l:?}: {e}")))
        .collect();
    assert_eq!(
        lines.len(),
        docs.len(),
        "{script} answered {} of {} documents",
        lines.len(),
        docs.len()
    );
    lines
}

fn check_peer_reads(program: &str, script: &str, compare: fn(&Read) -> Read) {
    let docs = our_documents();
    let results = run_decoder(
        program,
        script,
        &docs.iter().map(|d| d.1.clone()).collect::<Vec<_>>(),
    );
    let mut failures = Vec::new();
    for ((label, doc, sent), got) in docs.iter().zip(&results) {
        let got = read_from_typed(got);
        if compare(&got) != compare(sent) {
            failures.push(format!(
                "{label}\n  document {}\n  peer read {got:?}",
                String::from_utf8_lossy(doc)
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{script} read {} of {} documents differently:\n{}",
        failures.len(),
        docs.len(),
        failures.join("\n")
    );
}

#[test]
fn python_reads_what_we_write() {
    check_peer_reads("python3", "decode.py", widen_read);
}

#[test]
fn perl_reads_what_we_write() {
    check_peer_reads("perl", "decode.pl", |r| match r {
        Read::Call(c) => Read::Call(c.clone()),
        Read::Response(r) => Read::Response(r.clone()),
        Read::Error(e) => Read::Error(e.clone()),
    });
}

#[test]
fn the_decoders_report_what_they_refuse() {
    // A decoder that turned errors into values would make the tests above
    // pass vacuously.
    let truncated =
        b"<?xml version=\"1.0\"?><methodCall><methodName>m</methodName><params>".to_vec();
    for (program, script) in [("python3", "decode.py"), ("perl", "decode.pl")] {
        let got =
            read_from_typed(&run_decoder(program, script, std::slice::from_ref(&truncated))[0]);
        assert!(
            matches!(got, Read::Error(_)),
            "{script} accepted a truncated document: {got:?}"
        );
    }
}
