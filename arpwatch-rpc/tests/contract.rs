//! The method contract as values: lease structs, request checking, notices and
//! multicall. Wire-level interoperability with Python is in `interop` below.

use std::net::IpAddr;

use arpwatch_rpc::contract::{
    self, AAI_METHODS, AaiRequest, ArpwatchNotice, INFINITE_EXPIRES, LeaseValueError,
    lease_from_value, lease_to_value,
};
use arpwatch_rpc::{DateTime, Fault, MethodCall, Struct, Value, fault_code, multicall};
use lease_model::{Hostname, HwAddr, INFINITE_LIFETIME, Lease, LeaseEvent, LeaseRecord};
use proptest::prelude::*;

fn record(event: LeaseEvent) -> LeaseRecord {
    LeaseRecord {
        lease: Lease::new(
            "192.0.2.10".parse().unwrap(),
            "00:1b:2c:aa:bb:0f".parse().unwrap(),
            3600,
            1_764_000_000,
            Hostname::from_bytes("printer-3"),
            7,
            event,
        ),
        node: "dhcp-a".into(),
    }
}

fn call(method: &str, params: Vec<Value>) -> MethodCall {
    MethodCall::new(method, params)
}

#[track_caller]
fn fault(r: Result<AaiRequest, Fault>, code: i32, needles: &[&str]) {
    let f = r.expect_err("expected a fault");
    assert_eq!(f.code, code, "{f}");
    for n in needles {
        assert!(f.message.contains(n), "{:?} lacks {n:?}", f.message);
    }
}

// ---- lease struct ----------------------------------------------------------

fn arb_record() -> impl Strategy<Value = LeaseRecord> {
    (
        any::<bool>(),
        any::<u128>(),
        proptest::collection::vec(any::<u8>(), 1..=20),
        prop_oneof![Just(INFINITE_LIFETIME), any::<u32>(), 0u32..100_000],
        // Unix times a Kea node can report: 1970 to far beyond any lease.
        0i64..8_000_000_000,
        proptest::collection::vec(any::<u8>(), 0..40),
        any::<u32>(),
        0usize..6,
        "[a-z0-9.-]{0,20}",
    )
        .prop_map(|(v6, bits, mac, valid, cltt, host, subnet, ev, node)| {
            let ip: IpAddr = if v6 {
                std::net::Ipv6Addr::from(bits).into()
            } else {
                std::net::Ipv4Addr::from(bits as u32).into()
            };
            LeaseRecord {
                lease: Lease::new(
                    ip,
                    HwAddr::from_bytes(&mac).unwrap(),
                    valid,
                    cltt,
                    Hostname::from_bytes(host),
                    subnet,
                    LeaseEvent::ALL[ev],
                ),
                node,
            }
        })
}

proptest! {
    #[test]
    fn lease_struct_round_trips(rec in arb_record()) {
        let v = lease_to_value(&rec);
        prop_assert_eq!(lease_from_value(&v).unwrap(), rec.clone());
        // And through a notice, the way ARPwatch stand-ins receive it.
        let notice = ArpwatchNotice::for_record(rec);
        prop_assert_eq!(ArpwatchNotice::from_call(&notice.to_call()).unwrap(), notice);
    }
}

#[test]
fn lease_struct_members_are_as_documented() {
    let v = lease_to_value(&record(LeaseEvent::Select));
    let want: Struct = [
        ("ip", Value::from("192.0.2.10")),
        ("mac", "00:1b:2c:aa:bb:0f".into()),
        (
            "cltt",
            DateTime::new(2025, 11, 24, 16, 0, 0).unwrap().into(),
        ),
        (
            "expires",
            DateTime::new(2025, 11, 24, 17, 0, 0).unwrap().into(),
        ),
        ("valid_lifetime", 3600.into()),
        ("hostname", "printer-3".into()),
        ("subnet_id", 7.into()),
        ("event", "select".into()),
        ("node", "dhcp-a".into()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    assert_eq!(v, Value::Struct(want));
}

#[test]
fn infinite_lease_is_minus_one_and_the_last_second() {
    let mut rec = record(LeaseEvent::Renew);
    rec.lease.valid_lifetime = INFINITE_LIFETIME;
    let v = lease_to_value(&rec);
    let s = v.as_struct().unwrap();
    assert_eq!(s["valid_lifetime"], Value::Int(-1));
    assert_eq!(s["expires"], Value::DateTime(INFINITE_EXPIRES));
    assert_eq!(INFINITE_EXPIRES.to_string(), "99991231T23:59:59");
    // A peer that sends Kea's raw 0xffffffff as i8 means the same.
    let mut s = s.clone();
    s.insert("valid_lifetime".into(), Value::I8(0xffff_ffff));
    assert_eq!(lease_from_value(&Value::Struct(s)).unwrap(), rec);
}

#[test]
fn lease_struct_is_read_liberally() {
    let mut s = lease_to_value(&record(LeaseEvent::Select))
        .as_struct()
        .unwrap()
        .clone();
    s.insert("mac".into(), "00-1B-2C-AA-BB-0F".into());
    s.insert("ip".into(), "::ffff:192.0.2.10".into());
    s.insert("subnet_id".into(), Value::I8(7));
    s.insert("vendor_extension".into(), Value::Bool(true));
    assert_eq!(
        lease_from_value(&Value::Struct(s)).unwrap(),
        record(LeaseEvent::Select)
    );
}

#[test]
fn bad_lease_structs_name_the_member() {
    let good = lease_to_value(&record(LeaseEvent::Select))
        .as_struct()
        .unwrap()
        .clone();
    let with = |k: &str, v: Option<Value>| {
        let mut s = good.clone();
        match v {
            Some(v) => s.insert(k.to_owned(), v),
            None => s.remove(k),
        };
        lease_from_value(&Value::Struct(s)).unwrap_err()
    };
    assert_eq!(
        lease_from_value(&Value::from("x")).unwrap_err(),
        LeaseValueError::NotAStruct { got: "string" }
    );
    assert_eq!(
        with("node", None),
        LeaseValueError::Missing { member: "node" }
    );
    assert_eq!(
        with("cltt", Some("20251124T16:00:00".into())),
        LeaseValueError::WrongType {
            member: "cltt",
            expected: "a dateTime.iso8601 (UTC)",
            got: "string"
        }
    );
    assert_eq!(
        with("valid_lifetime", Some(Value::Double(1.0))),
        LeaseValueError::WrongType {
            member: "valid_lifetime",
            expected: "an int or i8",
            got: "double"
        }
    );
    for (member, value, needle) in [
        ("ip", Value::from("10.0.0"), "invalid IP address \"10.0.0\""),
        ("mac", "zz:zz".into(), "not a hex digit"),
        ("mac", "".into(), "it is empty"),
        ("event", "Select".into(), "unknown lease event"),
        ("valid_lifetime", Value::Int(-2), "-2 is not a lifetime"),
        ("subnet_id", Value::Int(-1), "-1 is not a Kea subnet id"),
        ("subnet_id", Value::I8(1 << 32), "is not a Kea subnet id"),
        (
            "expires",
            DateTime::new(2025, 11, 24, 17, 0, 1).unwrap().into(),
            "does not agree with cltt 20251124T16:00:00",
        ),
    ] {
        let err = with(member, Some(value));
        let LeaseValueError::Invalid { member: m, reason } = &err else {
            panic!("{member}: {err:?}")
        };
        assert_eq!(*m, member);
        assert!(reason.contains(needle), "{member}: {reason}");
        let f = err.fault("parameter 1 (lease) of arpwatch.lease_seen");
        assert_eq!(f.code, fault_code::INVALID_PARAMS);
        assert!(
            f.message.starts_with(&format!(
                "parameter 1 (lease) of arpwatch.lease_seen: lease struct member `{member}`"
            )),
            "{}",
            f.message
        );
    }
}

// ---- notices ---------------------------------------------------------------

#[test]
fn notices_follow_the_event() {
    for e in LeaseEvent::ALL {
        let n = ArpwatchNotice::for_record(record(e));
        let want = if e.ends_lease() {
            "arpwatch.lease_gone"
        } else {
            "arpwatch.lease_seen"
        };
        assert_eq!(n.method(), want);
        let c = n.to_call();
        assert_eq!(c.method, want);
        assert_eq!(c.params, [lease_to_value(&record(e))]);
    }
}

#[test]
fn bad_notices_fault() {
    let lease = lease_to_value(&record(LeaseEvent::Release));
    let f =
        ArpwatchNotice::from_call(&call("arpwatch.lease_seen", vec![lease.clone()])).unwrap_err();
    assert_eq!(f.code, fault_code::INVALID_PARAMS);
    assert!(
        f.message
            .contains("event release belongs to arpwatch.lease_gone"),
        "{f}"
    );
    let f = ArpwatchNotice::from_call(&call("arpwatch.lease_gone", vec![])).unwrap_err();
    assert_eq!(f.code, fault_code::INVALID_PARAMS);
    assert!(f.message.contains("takes 1 parameter, got 0"), "{f}");
    let f = ArpwatchNotice::from_call(&call("arpwatch.lease_gone", vec![1.into()])).unwrap_err();
    assert!(
        f.message.contains(
            "parameter 1 (lease) of arpwatch.lease_gone: expected a lease struct, got int"
        ),
        "{f}"
    );
    let f = ArpwatchNotice::from_call(&call("arpwatch.lease_lost", vec![lease])).unwrap_err();
    assert_eq!(f.code, fault_code::METHOD_NOT_FOUND);
}

// ---- aai requests ----------------------------------------------------------

#[test]
fn aai_requests_parse() {
    let ip = |s: &str| s.parse::<IpAddr>().unwrap();
    assert_eq!(
        AaiRequest::from_call(call("arpwatch.get_mac", vec!["192.0.2.1".into()])),
        Ok(AaiRequest::GetMac(ip("192.0.2.1")))
    );
    // Canonical: the mapped form and odd spellings are the one address.
    assert_eq!(
        AaiRequest::from_call(call("arpwatch.get_mac", vec![" ::FFFF:192.0.2.1 ".into()])),
        Ok(AaiRequest::GetMac(ip("192.0.2.1")))
    );
    assert_eq!(
        AaiRequest::from_call(call("arpwatch.get_lease", vec!["2001:DB8:0::1".into()])),
        Ok(AaiRequest::GetLease(ip("2001:db8::1")))
    );
    assert_eq!(
        AaiRequest::from_call(call("system.listMethods", vec![])),
        Ok(AaiRequest::ListMethods)
    );
    let help = AaiRequest::from_call(call("system.methodHelp", vec!["arpwatch.get_mac".into()]));
    assert_eq!(
        help,
        Ok(AaiRequest::MethodHelp(
            contract::method_spec("arpwatch.get_mac").unwrap()
        ))
    );
    assert!(matches!(
        AaiRequest::from_call(call("system.methodSignature", vec!["system.multicall".into()])),
        Ok(AaiRequest::MethodSignature(s)) if s.name == "system.multicall"
    ));
    let mc = multicall::encode_calls(&[
        contract::get_mac_call(ip("192.0.2.1")),
        call("arpwatch.get_mac", vec!["nope".into()]),
        call("system.multicall", vec![Value::Array(vec![])]),
        call("no.such", vec![]),
        contract::get_lease_call(ip("192.0.2.2")),
    ]);
    let Ok(AaiRequest::Multicall(entries)) = AaiRequest::from_call(mc) else {
        panic!("multicall did not parse")
    };
    assert_eq!(entries.len(), 5);
    assert_eq!(entries[0], Ok(AaiRequest::GetMac(ip("192.0.2.1"))));
    assert_eq!(
        entries[1].as_ref().unwrap_err().code,
        fault_code::INVALID_PARAMS
    );
    let nested = entries[2].as_ref().unwrap_err();
    assert_eq!(nested.code, fault_code::INVALID_PARAMS);
    assert!(nested.message.contains("nesting is refused"), "{nested}");
    assert_eq!(
        entries[3].as_ref().unwrap_err().code,
        fault_code::METHOD_NOT_FOUND
    );
    assert_eq!(entries[4], Ok(AaiRequest::GetLease(ip("192.0.2.2"))));
}

fn arb_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        any::<i32>().prop_map(Value::Int),
        any::<i64>().prop_map(Value::I8),
        any::<bool>().prop_map(Value::Bool),
        "[ -~]{0,12}".prop_map(Value::String),
        prop_oneof![
            Just("192.0.2.1"),
            Just("::1"),
            Just("arpwatch.get_mac"),
            Just("system.multicall")
        ]
        .prop_map(Value::from),
        Just(Value::Nil),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            proptest::collection::btree_map(
                prop_oneof![
                    Just("methodName".to_owned()),
                    Just("params".to_owned()),
                    "[a-z]{1,3}"
                ],
                inner,
                0..3
            )
            .prop_map(Value::Struct),
        ]
    })
}

fn arb_method() -> impl Strategy<Value = String> {
    prop_oneof![
        proptest::sample::select(AAI_METHODS.iter().map(|m| m.name).collect::<Vec<_>>())
            .prop_map(str::to_owned),
        "[a-z.]{0,16}",
    ]
}

proptest! {
    /// Whatever arrives, checking it answers: a typed request or a fault
    /// with a contract code, never a panic; and a multicall never nests.
    #[test]
    fn any_call_is_typed_or_refused(
        method in arb_method(),
        params in proptest::collection::vec(arb_value(), 0..3),
    ) {
        match AaiRequest::from_call(MethodCall::new(method, params)) {
            Ok(AaiRequest::Multicall(entries)) => {
                for e in entries {
                    match e {
                        Ok(AaiRequest::Multicall(_)) => prop_assert!(false, "nested multicall"),
                        Ok(_) => {}
                        Err(f) => prop_assert!(
                            [fault_code::METHOD_NOT_FOUND, fault_code::INVALID_PARAMS].contains(&f.code),
                            "{f}"
                        ),
                    }
                }
            }
            Ok(_) => {}
            Err(f) => prop_assert!(
                [fault_code::METHOD_NOT_FOUND, fault_code::INVALID_PARAMS].contains(&f.code),
                "{f}"
            ),
        }
    }

    #[test]
    fn multicall_calls_round_trip(
        calls in proptest::collection::vec(
            ("[a-z]{1,8}(\\.[a-z_]{1,8})?", proptest::collection::vec(arb_value(), 0..3))
                .prop_map(|(m, p)| MethodCall::new(m, p)),
            0..5,
        ),
        results in proptest::collection::vec(
            prop_oneof![
                arb_value().prop_map(Ok),
                (any::<i32>(), "[ -~]{0,12}").prop_map(|(c, m)| Err(Fault::new(c, m))),
            ],
            0..5,
        ),
    ) {
        let back: Vec<MethodCall> = multicall::decode_calls(multicall::encode_calls(&calls).params)
            .unwrap()
            .into_iter()
            .map(Result::unwrap)
            .collect();
        prop_assert_eq!(back, calls);
        prop_assert_eq!(multicall::decode_results(multicall::encode_results(results.clone())).unwrap(), results);
    }
}

#[test]
fn bad_aai_requests_say_what_is_wrong() {
    use fault_code::{INVALID_PARAMS, METHOD_NOT_FOUND};
    fault(
        AaiRequest::from_call(call("arpwatch.getMac", vec!["192.0.2.1".into()])),
        METHOD_NOT_FOUND,
        &["\"arpwatch.getMac\"", "arpwatch.get_mac, "],
    );
    fault(
        AaiRequest::from_call(call("arpwatch.get_mac", vec![])),
        INVALID_PARAMS,
        &[
            "arpwatch.get_mac takes 1 parameter, got 0",
            "usage: arpwatch.get_mac(ip: string) -> string | nil",
        ],
    );
    fault(
        AaiRequest::from_call(call(
            "arpwatch.get_lease",
            vec!["192.0.2.1".into(), Value::Nil],
        )),
        INVALID_PARAMS,
        &["takes 1 parameter, got 2"],
    );
    fault(
        AaiRequest::from_call(call("arpwatch.get_mac", vec![Value::Int(3)])),
        INVALID_PARAMS,
        &["parameter 1 (ip) of arpwatch.get_mac must be string, got int"],
    );
    for bad in [
        "10.0.0",
        "010.0.0.1",
        "fe80::1%eth0",
        "",
        "aa:bb:cc:dd:ee:ff",
    ] {
        fault(
            AaiRequest::from_call(call("arpwatch.get_lease", vec![bad.into()])),
            INVALID_PARAMS,
            &[
                "parameter 1 (ip) of arpwatch.get_lease: invalid IP address",
                &format!("{bad:?}"),
            ],
        );
    }
    fault(
        AaiRequest::from_call(call("system.listMethods", vec![Value::Nil])),
        INVALID_PARAMS,
        &["system.listMethods takes 0 parameters, got 1"],
    );
    fault(
        AaiRequest::from_call(call(
            "system.methodHelp",
            vec!["arpwatch.lease_seen".into()],
        )),
        INVALID_PARAMS,
        &["no method \"arpwatch.lease_seen\" is served here"],
    );
    fault(
        AaiRequest::from_call(call("system.methodSignature", vec![Value::Bool(true)])),
        INVALID_PARAMS,
        &["must be string, got boolean"],
    );
    fault(
        AaiRequest::from_call(call("system.multicall", vec![])),
        INVALID_PARAMS,
        &["system.multicall takes 1 parameter", "got 0"],
    );
    fault(
        AaiRequest::from_call(call("system.multicall", vec![Value::Struct(Struct::new())])),
        INVALID_PARAMS,
        &[
            "parameter 1 (calls) of system.multicall must be an array",
            "got struct",
        ],
    );
}

#[test]
fn introspection_answers_itself() {
    let list = AaiRequest::ListMethods
        .answer_introspection()
        .unwrap()
        .unwrap();
    let names: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "arpwatch.get_lease",
            "arpwatch.get_mac",
            "system.listMethods",
            "system.methodHelp",
            "system.methodSignature",
            "system.multicall"
        ]
    );
    let mac = contract::method_spec("arpwatch.get_mac").unwrap();
    let help = AaiRequest::MethodHelp(mac)
        .answer_introspection()
        .unwrap()
        .unwrap();
    assert!(
        help.as_str()
            .unwrap()
            .starts_with("arpwatch.get_mac(ip: string) -> string | nil\n\n"),
        "{help:?}"
    );
    assert_eq!(
        AaiRequest::MethodSignature(mac).answer_introspection(),
        Some(Ok(Value::Array(vec![Value::Array(vec![
            "string".into(),
            "string".into()
        ])])))
    );
    assert_eq!(
        AaiRequest::GetMac("192.0.2.1".parse().unwrap()).answer_introspection(),
        None
    );
    assert!(AAI_METHODS.windows(2).all(|w| w[0].name < w[1].name));
}

#[test]
fn results_round_trip() {
    let mac: HwAddr = "00:1B:2C:AA:BB:0F".parse().unwrap();
    let v = contract::mac_result(Some(mac));
    assert_eq!(v, Value::from("00:1b:2c:aa:bb:0f"));
    assert_eq!(contract::parse_mac_result(&v), Ok(Some(mac)));
    assert_eq!(contract::mac_result(None), Value::Nil);
    assert_eq!(contract::parse_mac_result(&Value::Nil), Ok(None));
    assert!(contract::parse_mac_result(&Value::Int(1)).is_err());

    let rec = record(LeaseEvent::Renew);
    let v = contract::lease_result(Some(&rec));
    assert_eq!(contract::parse_lease_result(&v), Ok(Some(rec)));
    assert_eq!(contract::lease_result(None), Value::Nil);
    assert_eq!(contract::parse_lease_result(&Value::Nil), Ok(None));
    let err = contract::parse_lease_result(&Value::from("x")).unwrap_err();
    assert_eq!(err.method, "arpwatch.get_lease");
}

// ---- multicall -------------------------------------------------------------

#[test]
fn multicall_request_shape() {
    let mc = multicall::encode_calls(&[call("a.b", vec![1.into(), "x".into()])]);
    let entry = Value::Struct(Struct::from([
        ("methodName".to_owned(), Value::from("a.b")),
        (
            "params".to_owned(),
            Value::Array(vec![1.into(), "x".into()]),
        ),
    ]));
    assert_eq!(
        mc,
        call("system.multicall", vec![Value::Array(vec![entry])])
    );
}

#[test]
fn malformed_multicall_entries_are_their_own_faults() {
    let entry = |pairs: &[(&str, Value)]| {
        Value::Struct(
            pairs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), v.clone()))
                .collect(),
        )
    };
    let entries = vec![
        Value::from("x"),
        entry(&[("params", Value::Array(vec![]))]),
        entry(&[("methodName", 1.into()), ("params", Value::Array(vec![]))]),
        entry(&[("methodName", "a".into())]),
        entry(&[("methodName", "a".into()), ("params", 1.into())]),
        entry(&[("methodName", "a".into()), ("params", Value::Array(vec![]))]),
    ];
    let out = multicall::decode_calls(vec![Value::Array(entries)]).unwrap();
    let needles = [
        "entry 0: must be a struct {methodName, params}, got string",
        "entry 1: has no methodName",
        "entry 2: methodName must be a string, got int",
        "entry 3: call to a has no params member",
        "entry 4: params of a must be an array, got int",
    ];
    for (got, needle) in out.iter().zip(needles) {
        let f = got.as_ref().unwrap_err();
        assert_eq!(f.code, fault_code::INVALID_PARAMS);
        assert!(f.message.contains(needle), "{f} lacks {needle}");
    }
    assert_eq!(out[5], Ok(call("a", vec![])));
}

#[test]
fn malformed_multicall_results_are_errors() {
    let fault_struct = |code: Value, msg: Value| {
        Value::Struct(Struct::from([
            ("faultCode".to_owned(), code),
            ("faultString".to_owned(), msg),
        ]))
    };
    assert_eq!(
        multicall::decode_results(Value::Array(vec![
            Value::Array(vec![Value::Nil]),
            fault_struct(Value::Int(-32601), "nope".into()),
            fault_struct(Value::I8(4), "wide code".into()),
        ]))
        .unwrap(),
        vec![
            Ok(Value::Nil),
            Err(Fault::new(-32601, "nope")),
            Err(Fault::new(4, "wide code"))
        ]
    );
    for (v, index, needle) in [
        (Value::Nil, None, "expected an array, got nil"),
        (
            Value::Array(vec![Value::Array(vec![])]),
            Some(0),
            "got 0 elements",
        ),
        (
            Value::Array(vec![Value::Array(vec![1.into()]), 1.into()]),
            Some(1),
            "got int",
        ),
        (
            Value::Array(vec![fault_struct("1".into(), "x".into())]),
            Some(0),
            "faultCode: int",
        ),
        (
            Value::Array(vec![fault_struct(Value::I8(1 << 40), "x".into())]),
            Some(0),
            "faultCode: int",
        ),
    ] {
        let err = multicall::decode_results(v).unwrap_err();
        assert_eq!(err.index, index);
        assert!(err.reason.contains(needle), "{err}");
        assert!(
            err.to_string()
                .starts_with("malformed system.multicall result")
        );
    }
}

// ---- interoperability with Python's xmlrpc ---------------------------------

mod peers;

mod interop {
    use super::*;
    use arpwatch_rpc::Limits;
    use arpwatch_rpc::xml::{parse_call, parse_response, write_call, write_response};

    /// Our document, read by Python and written back by Python.
    fn through_python(doc: &[u8]) -> Result<Vec<u8>, String> {
        super::peers::run("redump", doc)
    }

    fn records() -> Vec<LeaseRecord> {
        let mut v6 = record(LeaseEvent::Rebind);
        v6.lease.ip = "2001:db8::1".parse().unwrap();
        v6.lease.hostname = Hostname::from_bytes(&b"K\xc3\xbcche \\ <&> \x00\xff"[..]);
        let mut infinite = record(LeaseEvent::Renew);
        infinite.lease.valid_lifetime = INFINITE_LIFETIME;
        let mut long = record(LeaseEvent::Select);
        long.lease.valid_lifetime = i32::MAX as u32;
        let mut gone = record(LeaseEvent::Expire);
        gone.node = String::new();
        vec![record(LeaseEvent::Select), v6, infinite, long, gone]
    }

    #[test]
    fn python_reads_our_notices_and_we_read_them_back() {
        for rec in records() {
            let notice = ArpwatchNotice::for_record(rec);
            let doc = write_call(&notice.to_call()).unwrap();
            let back = through_python(&doc).unwrap_or_else(|e| panic!("{notice:?}: {e}"));
            let call = parse_call(&back, &Limits::default()).unwrap();
            assert_eq!(ArpwatchNotice::from_call(&call).unwrap(), notice);
        }
    }

    #[test]
    fn python_sees_an_infinite_lease_as_minus_one_and_year_9999() {
        let mut rec = record(LeaseEvent::Renew);
        rec.lease.valid_lifetime = INFINITE_LIFETIME;
        let doc = write_call(&ArpwatchNotice::for_record(rec).to_call()).unwrap();
        let back = String::from_utf8(through_python(&doc).unwrap()).unwrap();
        // Python parsed them as an int and a datetime, or it could not have
        // written them back with these types.
        assert!(back.contains("<int>-1</int>"), "{back}");
        assert!(
            back.contains("<dateTime.iso8601>99991231T23:59:59</dateTime.iso8601>"),
            "{back}"
        );
    }

    #[test]
    fn python_reads_i8_but_cannot_send_it() {
        // Documented limitation: a subnet id above 2^31-1 goes out as i8,
        // which Python reads, but Python cannot marshal such an int back.
        let mut rec = record(LeaseEvent::Select);
        rec.lease.subnet_id = u32::MAX;
        let doc = write_call(&ArpwatchNotice::for_record(rec).to_call()).unwrap();
        let err = through_python(&doc).unwrap_err();
        assert!(err.contains("int exceeds XML-RPC limits"), "{err}");
    }

    #[test]
    fn a_lease_struct_written_by_python_parses() {
        let doc = super::peers::run("lease-call", b"").unwrap();
        let call = parse_call(&doc, &Limits::default()).unwrap();
        let ArpwatchNotice::LeaseSeen(rec) = ArpwatchNotice::from_call(&call).unwrap() else {
            panic!("not lease_seen")
        };
        let want = LeaseRecord {
            lease: Lease::new(
                "2001:db8::7".parse().unwrap(),
                "00:1b:2c:aa:bb:0f".parse().unwrap(),
                3600,
                DateTime::new(2026, 11, 24, 9, 0, 0).unwrap().to_unix(),
                Hostname::from_bytes(&b"K\xc3\xbcche\x00"[..]),
                42,
                LeaseEvent::Renew,
            ),
            node: "dhcp-b".into(),
        };
        assert_eq!(rec, want);
    }

    #[test]
    fn python_reads_our_aai_answers() {
        let ip = "192.0.2.10".parse().unwrap();
        for result in [
            contract::lease_result(Some(&record(LeaseEvent::Select))),
            contract::lease_result(None),
            contract::mac_result(Some("00:1b:2c:aa:bb:0f".parse().unwrap())),
            contract::mac_result(None),
        ] {
            let back = through_python(&write_response(&Ok(result.clone())).unwrap()).unwrap();
            assert_eq!(
                parse_response(&back, &Limits::default()).unwrap(),
                Ok(result)
            );
        }
        // A multicall answer with a fault in it.
        let answer = multicall::encode_results(vec![
            Ok(contract::mac_result(None)),
            Err(Fault::new(fault_code::INVALID_PARAMS, "bad ip")),
        ]);
        let back = through_python(&write_response(&Ok(answer)).unwrap()).unwrap();
        let value = parse_response(&back, &Limits::default()).unwrap().unwrap();
        assert_eq!(
            multicall::decode_results(value).unwrap(),
            vec![
                Ok(Value::Nil),
                Err(Fault::new(fault_code::INVALID_PARAMS, "bad ip"))
            ]
        );
        // And the requests ARPwatch sends, as Python writes them.
        for c in [contract::get_mac_call(ip), contract::get_lease_call(ip)] {
            let back = through_python(&write_call(&c).unwrap()).unwrap();
            let parsed = parse_call(&back, &Limits::default()).unwrap();
            assert!(AaiRequest::from_call(parsed).is_ok());
        }
    }
}

// ---- interoperability with Perl's RPC::XML ---------------------------------

/// Our documents as Perl's RPC::XML understands them, through the conformance
/// suite's `decode.pl` (typed JSON, one line per document).
fn through_perl(docs: &[Vec<u8>]) -> Vec<String> {
    use std::io::Write;
    use std::process::{Command, Stdio};
    let json_string = |doc: &[u8]| {
        let mut out = String::from("\"");
        for c in std::str::from_utf8(doc).unwrap().chars() {
            match c {
                '"' => out.push_str("\\\""),
                '\\' => out.push_str("\\\\"),
                c if u32::from(c) < 0x20 => out.push_str(&format!("\\u{:04x}", u32::from(c))),
                c => out.push(c),
            }
        }
        out.push('"');
        out
    };
    let input = format!(
        "[{}]",
        docs.iter()
            .map(|d| json_string(d))
            .collect::<Vec<_>>()
            .join(",")
    );
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/conformance/decode.pl");
    let mut child = Command::new("perl")
        .arg(script)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| {
            panic!("cannot run perl ({e}): install perl and librpc-xml-perl (ci/setup does)")
        });
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "decode.pl failed (is librpc-xml-perl installed?): {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect()
}

#[test]
fn perl_reads_lease_structs_with_the_documented_types() {
    use arpwatch_rpc::xml::write_call;
    let mut infinite = record(LeaseEvent::Renew);
    infinite.lease.valid_lifetime = INFINITE_LIFETIME;
    infinite.lease.subnet_id = u32::MAX;
    infinite.lease.hostname = Hostname::from_bytes(&b"K\xc3\xbcche\x00"[..]);
    let docs: Vec<Vec<u8>> = [record(LeaseEvent::Select), infinite]
        .into_iter()
        .map(|r| write_call(&ArpwatchNotice::for_record(r).to_call()).unwrap())
        .collect();
    let seen = through_perl(&docs);
    assert_eq!(seen.len(), 2, "{seen:?}");
    for needle in [
        r#""method":"arpwatch.lease_seen""#,
        r#""valid_lifetime":{"type":"int","value":3600}"#,
        r#""expires":{"type":"dateTime.iso8601","value":"20251124T17:00:00"}"#,
        r#""subnet_id":{"type":"int","value":7}"#,
        r#""mac":{"type":"string","value":"00:1b:2c:aa:bb:0f"}"#,
    ] {
        assert!(seen[0].contains(needle), "{needle} not in {}", seen[0]);
    }
    for needle in [
        r#""valid_lifetime":{"type":"int","value":-1}"#,
        r#""expires":{"type":"dateTime.iso8601","value":"99991231T23:59:59"}"#,
        r#""subnet_id":{"type":"i8","value":4294967295}"#,
        r#""hostname":{"type":"string","value":"Küche\\x00"}"#,
    ] {
        assert!(seen[1].contains(needle), "{needle} not in {}", seen[1]);
    }
}

// ---- docs/protocol.md ------------------------------------------------------

/// Every XML example in the protocol document is a real document: exactly
/// what our writer produces for it, or exactly what Python writes for it; and
/// every call in it passes the contract's own checks.
#[test]
fn protocol_doc_examples_are_real_documents() {
    use arpwatch_rpc::Limits;
    use arpwatch_rpc::xml::{parse_call, parse_response, write_call, write_response};

    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/protocol.md");
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let mut blocks = Vec::new();
    let mut current: Option<String> = None;
    for line in text.lines() {
        match (&mut current, line) {
            (None, "```xml") => current = Some(String::new()),
            (Some(_), "```") => blocks.push(current.take().unwrap()),
            (Some(b), l) => {
                b.push_str(l);
                b.push('\n');
            }
            (None, _) => {}
        }
    }
    assert!(
        blocks.len() >= 15,
        "only {} xml examples found",
        blocks.len()
    );
    for block in blocks {
        let limits = Limits::default();
        let ours = if block.contains("<methodCall>") {
            let call = parse_call(block.as_bytes(), &limits)
                .unwrap_or_else(|e| panic!("{e}\nin example:\n{block}"));
            if call.method.starts_with("arpwatch.lease_") {
                ArpwatchNotice::from_call(&call).unwrap_or_else(|f| panic!("{f}\n{block}"));
            } else {
                AaiRequest::from_call(call.clone()).unwrap_or_else(|f| panic!("{f}\n{block}"));
            }
            write_call(&call).unwrap()
        } else {
            let resp = parse_response(block.as_bytes(), &limits)
                .unwrap_or_else(|e| panic!("{e}\nin example:\n{block}"));
            write_response(&resp).unwrap()
        };
        if ours != block.as_bytes() {
            let python = peers::run("redump", block.as_bytes()).unwrap();
            assert_eq!(
                String::from_utf8(python).unwrap(),
                block,
                "this example is neither what our writer nor what Python writes"
            );
        }
    }
}
