//! Property tests of the XML-RPC codec: what the writer writes, the parser
//! reads back as the same value; no input makes the parser panic.

use arpwatch_rpc::xml::{WriteError, parse_call, parse_response, write_call, write_response};
use arpwatch_rpc::{DateTime, Fault, Limits, MethodCall, MethodResponse, Value};
use proptest::prelude::*;

/// Strings of characters XML 1.0 allows, favouring the interesting ones:
/// markup, whitespace (including `\r`), non-ASCII, astral planes.
fn xml_string() -> impl Strategy<Value = String> {
    let interesting = prop_oneof![
        Just('<'),
        Just('>'),
        Just('&'),
        Just('\r'),
        Just('\n'),
        Just('\t'),
        Just(' '),
        Just(']'),
        Just(';'),
        Just('#'),
        Just('ü'),
        Just('日'),
        Just('😀'),
        Just('\u{FFFD}'),
        Just('\u{10FFFF}'),
        Just('\u{E000}'),
    ];
    let legal = any::<char>().prop_filter("XML 1.0 Char", |&c| {
        matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..)
    });
    prop::collection::vec(
        prop_oneof![3 => interesting, 1 => legal, 4 => prop::char::range('a', 'z')],
        0..24,
    )
    .prop_map(|cs| cs.into_iter().collect())
}

fn datetime() -> impl Strategy<Value = DateTime> {
    // Year 0000 through 9999: what dateTime.iso8601's four digits hold.
    (-62_167_219_200i64..253_402_300_800).prop_map(DateTime::from_unix)
}

fn scalar() -> impl Strategy<Value = Value> {
    prop_oneof![
        any::<i32>().prop_map(Value::Int),
        any::<i64>().prop_map(Value::I8),
        any::<bool>().prop_map(Value::Bool),
        xml_string().prop_map(Value::String),
        any::<f64>()
            .prop_filter("finite", |d| d.is_finite())
            .prop_map(Value::Double),
        datetime().prop_map(Value::DateTime),
        prop::collection::vec(any::<u8>(), 0..80).prop_map(Value::Base64),
        Just(Value::Nil),
    ]
}

fn value() -> impl Strategy<Value = Value> {
    scalar().prop_recursive(6, 64, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map(xml_string(), inner, 0..6).prop_map(Value::Struct),
        ]
    })
}

fn method_name() -> impl Strategy<Value = String> {
    xml_string().prop_filter("non-empty", |s| !s.is_empty())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn calls_round_trip(method in method_name(), params in prop::collection::vec(value(), 0..4)) {
        let call = MethodCall::new(method, params);
        let doc = write_call(&call).expect("a legal value writes");
        prop_assert_eq!(parse_call(&doc, &Limits::default()).expect("our output parses"), call);
    }

    #[test]
    fn responses_round_trip(v in value()) {
        let resp: MethodResponse = Ok(v);
        let doc = write_response(&resp).expect("a legal value writes");
        prop_assert_eq!(parse_response(&doc, &Limits::default()).expect("our output parses"), resp);
    }

    #[test]
    fn faults_round_trip(code in any::<i32>(), message in xml_string()) {
        let resp: MethodResponse = Err(Fault::new(code, message));
        let doc = write_response(&resp).expect("a legal fault writes");
        prop_assert_eq!(parse_response(&doc, &Limits::default()).expect("our output parses"), resp);
    }

    /// Any string either round-trips or is refused for a character XML
    /// cannot carry; never silently changed.
    #[test]
    fn any_string_round_trips_or_is_refused(s in any::<String>()) {
        let call = MethodCall::new("m", vec![Value::String(s)]);
        match write_call(&call) {
            Ok(doc) => prop_assert_eq!(parse_call(&doc, &Limits::default()).unwrap(), call),
            Err(WriteError::IllegalChar { .. }) => {}
            Err(e) => prop_assert!(false, "unexpected {e}"),
        }
    }

    #[test]
    fn arbitrary_bytes_never_panic(doc in prop::collection::vec(any::<u8>(), 0..256)) {
        let _ = parse_call(&doc, &Limits::default());
        let _ = parse_response(&doc, &Limits::default());
    }

    /// Mutations of a valid document: parse errors or values, never panics,
    /// and whatever parses writes and parses back the same.
    #[test]
    fn mutated_documents_are_handled(v in value(), at in any::<prop::sample::Index>(), byte in any::<u8>()) {
        let mut doc = write_response(&Ok(v)).unwrap();
        let i = at.index(doc.len());
        doc[i] = byte;
        if let Ok(resp) = parse_response(&doc, &Limits::default()) {
            let again = write_response(&resp).expect("what parses writes");
            prop_assert_eq!(parse_response(&again, &Limits::default()).unwrap(), resp);
        }
    }
}
