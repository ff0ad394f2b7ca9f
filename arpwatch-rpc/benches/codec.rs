//! Parse and write cost of the two calls a Kea node sends most:
//! `arpwatch.get_mac` (one string) and `arpwatch.lease_seen` (one struct).
//!
//!     CARGO_TARGET_DIR=... cargo bench -p arpwatch-rpc --bench codec

use std::hint::black_box;
use std::time::Duration;

use arpwatch_rpc::xml::{parse_call, write_call};
use arpwatch_rpc::{DateTime, Limits, MethodCall, Struct, Value};
use criterion::{Criterion, criterion_group, criterion_main};

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

fn codec(c: &mut Criterion) {
    let limits = Limits::default();
    for (name, call) in [("get_mac", get_mac()), ("lease_seen", lease_seen())] {
        let doc = write_call(&call).expect("benchmark call writes");
        assert_eq!(parse_call(&doc, &limits).expect("and parses"), call);
        c.bench_function(&format!("parse {name}"), |b| {
            b.iter(|| parse_call(black_box(&doc), &limits).expect("parses"))
        });
        c.bench_function(&format!("write {name}"), |b| {
            b.iter(|| write_call(black_box(&call)).expect("writes"))
        });
    }
}

criterion_group! {
    name = benches;
    // Short: these are sub-10-µs operations; 3 s gives a stable mean.
    config = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    targets = codec
}
criterion_main!(benches);
