//! Unit tests of the codec: accepted forms, refused documents, limits.

use super::*;
use crate::{DateTime, Fault, Struct, Value, fault_code};

fn call(doc: &str) -> Result<MethodCall, ParseError> {
    parse_call(doc.as_bytes(), &Limits::default())
}

fn param(doc_value: &str) -> Value {
    let doc = format!(
        "<?xml version=\"1.0\"?><methodCall><methodName>m</methodName><params><param>{doc_value}</param></params></methodCall>"
    );
    let mut c = call(&doc).unwrap_or_else(|e| panic!("{doc_value}: {e}"));
    assert_eq!(c.params.len(), 1);
    c.params.pop().unwrap()
}

#[test]
fn simple_call_round_trips() {
    let c = MethodCall::new(
        "arpwatch.get_mac",
        vec![Value::from("  192.0.2.1\t"), Value::Int(-3), Value::Nil],
    );
    let doc = write_call(&c).unwrap();
    assert_eq!(parse_call(&doc, &Limits::default()).unwrap(), c);
}

#[test]
fn string_forms() {
    assert_eq!(param("<value> a b </value>"), Value::from(" a b "));
    assert_eq!(param("<value/>"), Value::from(""));
    assert_eq!(param("<value></value>"), Value::from(""));
    assert_eq!(param("<value><string/></value>"), Value::from(""));
    assert_eq!(
        param("<value>\n  <string> x </string>\n</value>"),
        Value::from(" x ")
    );
    assert_eq!(
        param("<value><string>a&lt;b&amp;c&#60;&#x3c;</string></value>"),
        Value::from("a<b&c<<")
    );
    assert_eq!(
        param("<value><string><![CDATA[<&>]]>z</string></value>"),
        Value::from("<&>z")
    );
}

#[test]
fn fault_response() {
    let f: MethodResponse = Err(Fault::new(fault_code::INVALID_PARAMS, "bad ip \"x\" <y>"));
    let doc = write_response(&f).unwrap();
    assert_eq!(parse_response(&doc, &Limits::default()).unwrap(), f);
    let mut s = Struct::new();
    s.insert("when".into(), Value::DateTime(DateTime::from_unix(0)));
    let ok: MethodResponse = Ok(Value::Struct(s));
    let doc = write_response(&ok).unwrap();
    assert_eq!(parse_response(&doc, &Limits::default()).unwrap(), ok);
}
