//! serde-xml-rs 0.8.2 against this crate's quick-xml codec, on the points
//! that decided the XML library (docs/decisions.md, "XML library"):
//! whitespace in strings, empty values, how booleans are written, and
//! parse speed on the two calls Kea nodes send.

use std::hint::black_box;
use std::time::Instant;

use arpwatch_rpc::xml::{parse_call, write_call};
use arpwatch_rpc::{DateTime, Limits, MethodCall, Struct, Value};
use serde::{Deserialize, Serialize};

// The XML-RPC grammar as serde types, the way serde-xml-rs expects them.
#[derive(Debug, Deserialize, Serialize)]
#[serde(rename = "methodCall", rename_all = "camelCase")]
struct SCall {
    method_name: String,
    params: SParams,
}

#[derive(Debug, Deserialize, Serialize)]
struct SParams {
    #[serde(default)]
    param: Vec<SParam>,
}

#[derive(Debug, Deserialize, Serialize)]
struct SParam {
    value: SValue,
}

#[derive(Debug, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
enum SValue {
    #[serde(alias = "i4")]
    Int(i32),
    I8(i64),
    Double(f64),
    Boolean(bool),
    #[serde(alias = "#text")]
    String(String),
    #[serde(rename = "dateTime.iso8601")]
    DateTime(String),
    Base64(String),
    Struct(SStruct),
}

#[derive(Debug, Deserialize, Serialize)]
struct SStruct {
    #[serde(rename = "member", default)]
    members: Vec<SMember>,
}

#[derive(Debug, Deserialize, Serialize)]
struct SMember {
    name: String,
    value: SValue,
}

fn doc_with(value: &str) -> String {
    format!(
        "<?xml version=\"1.0\"?><methodCall><methodName>m</methodName><params><param>{value}</param></params></methodCall>"
    )
}

fn get_mac() -> MethodCall {
    MethodCall::new("arpwatch.get_mac", vec![Value::from("192.0.2.10")])
}

fn lease_seen() -> MethodCall {
    let mut lease = Struct::new();
    lease.insert("ip".into(), Value::from("192.0.2.10"));
    lease.insert("mac".into(), Value::from("00:11:22:33:44:55"));
    lease.insert(
        "expires".into(),
        Value::DateTime(DateTime::from_unix(1_795_428_300)),
    );
    lease.insert("valid_lifetime".into(), Value::Int(3600));
    lease.insert("hostname".into(), Value::from("host-a.example.org"));
    lease.insert("subnet_id".into(), Value::Int(1));
    lease.insert("event".into(), Value::from("lease4_select"));
    lease.insert("node".into(), Value::from("kea-1"));
    MethodCall::new("arpwatch.lease_seen", vec![Value::Struct(lease)])
}

/// Mean microseconds per call of `f` over enough runs to take ~1 s.
fn time_us(mut f: impl FnMut()) -> f64 {
    for _ in 0..2_000 {
        f();
    }
    let mut runs = 1_000u32;
    loop {
        let start = Instant::now();
        for _ in 0..runs {
            f();
        }
        let elapsed = start.elapsed();
        if elapsed.as_secs_f64() > 1.0 {
            return elapsed.as_secs_f64() * 1e6 / f64::from(runs);
        }
        runs *= 2;
    }
}

fn main() {
    let limits = Limits::default();
    println!("## behaviour");
    for (label, value) in [
        (
            "string with outer spaces",
            "<value><string>  two spaces  </string></value>",
        ),
        (
            "bare text with outer spaces",
            "<value>  two spaces  </value>",
        ),
        ("<value/>", "<value/>"),
        ("<value></value>", "<value></value>"),
        ("<value><string/></value>", "<value><string/></value>"),
    ] {
        let doc = doc_with(value);
        let serde = match serde_xml_rs::from_str::<SCall>(&doc) {
            Ok(c) => format!("{:?}", c.params.param[0].value),
            Err(e) => format!("error: {e}"),
        };
        let ours = match parse_call(doc.as_bytes(), &limits) {
            Ok(c) => format!("{:?}", c.params[0]),
            Err(e) => format!("error: {e}"),
        };
        println!("{label}\n  serde-xml-rs: {serde}\n  quick-xml codec: {ours}");
    }
    let with_bool = SCall {
        method_name: "m".into(),
        params: SParams {
            param: vec![SParam {
                value: SValue::Boolean(true),
            }],
        },
    };
    println!(
        "boolean true written by serde-xml-rs: {}",
        serde_xml_rs::to_string(&with_bool).unwrap_or_else(|e| format!("error: {e}"))
    );
    let ours =
        String::from_utf8(write_call(&MethodCall::new("m", vec![Value::Bool(true)])).unwrap())
            .unwrap();
    println!(
        "boolean true written by the quick-xml codec: {}",
        ours.trim_end()
    );

    println!("\n## parse time (µs per document, release build)");
    for (name, call) in [("get_mac", get_mac()), ("lease_seen", lease_seen())] {
        let doc = write_call(&call).unwrap();
        let text = String::from_utf8(doc.clone()).unwrap();
        serde_xml_rs::from_str::<SCall>(&text).expect("serde-xml-rs reads the benchmark document");
        let serde_us = time_us(|| {
            black_box(serde_xml_rs::from_str::<SCall>(black_box(&text)).unwrap());
        });
        let ours_us = time_us(|| {
            black_box(parse_call(black_box(&doc), &limits).unwrap());
        });
        println!(
            "{name} ({} bytes): serde-xml-rs {serde_us:.2} µs, quick-xml codec {ours_us:.2} µs, ratio {:.1}x",
            doc.len(),
            serde_us / ours_us
        );
    }
}
