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

fn response(doc: &str) -> Result<MethodResponse, ParseError> {
    parse_response(doc.as_bytes(), &Limits::default())
}

fn code(e: &ParseError) -> i32 {
    e.fault().code
}

const SMALL_CALL: &str = "<?xml version=\"1.0\"?>\n<methodCall><methodName>arpwatch.get_mac</methodName><params><param><value><string>192.0.2.1</string></value></param><param><value><struct><member><name>a</name><value><array><data><value><i4>1</i4></value></data></array></value></member></struct></value></param></params></methodCall>\n";

/// `depth` arrays nested in each other, in a call.
fn nested_arrays(depth: usize) -> String {
    let mut doc = String::from("<methodCall><methodName>m</methodName><params><param>");
    doc.push_str(&"<value><array><data>".repeat(depth));
    doc.push_str(&"</data></array></value>".repeat(depth));
    doc.push_str("</param></params></methodCall>");
    doc
}

// ---- accepted forms ----

#[test]
fn scalar_forms() {
    assert_eq!(param("<value><int> 42 </int></value>"), Value::Int(42));
    assert_eq!(param("<value><i4>-7</i4></value>"), Value::Int(-7));
    assert_eq!(
        param("<value><i8>-9223372036854775808</i8></value>"),
        Value::I8(i64::MIN)
    );
    assert_eq!(
        param(
            "<value><ex:i8 xmlns:ex=\"http://ws.apache.org/xmlrpc/namespaces/extensions\">5</ex:i8></value>"
        ),
        Value::I8(5)
    );
    assert_eq!(
        param("<value><boolean>1</boolean></value>"),
        Value::Bool(true)
    );
    assert_eq!(
        param("<value><boolean>0</boolean></value>"),
        Value::Bool(false)
    );
    assert_eq!(
        param("<value><double>-1.5</double></value>"),
        Value::Double(-1.5)
    );
    assert_eq!(
        param("<value><double>1e+300</double></value>"),
        Value::Double(1e300)
    );
    assert_eq!(
        param("<value><dateTime.iso8601>20261124T09:05:00</dateTime.iso8601></value>"),
        Value::DateTime(DateTime::new(2026, 11, 24, 9, 5, 0).unwrap())
    );
    assert_eq!(
        param("<value><base64>\n  aGVs\r\n  bG8=\n</base64></value>"),
        Value::Base64(b"hello".to_vec())
    );
    assert_eq!(param("<value><base64/></value>"), Value::Base64(vec![]));
    for nil in [
        "<nil/>",
        "<nil></nil>",
        "<ex:nil/>",
        "<foo:nil xmlns:foo=\"urn:x\"/>",
    ] {
        assert_eq!(param(&format!("<value>{nil}</value>")), Value::Nil, "{nil}");
    }
}

#[test]
fn container_forms() {
    assert_eq!(
        param("<value><array><data/></array></value>"),
        Value::Array(vec![])
    );
    assert_eq!(
        param("<value><array><data></data></array></value>"),
        Value::Array(vec![])
    );
    assert_eq!(param("<value><array/></value>"), Value::Array(vec![]));
    assert_eq!(
        param("<value><struct/></value>"),
        Value::Struct(Struct::new())
    );
    assert_eq!(
        param(
            "<value><array><data><value>a</value><value/><value><array><data/></array></value></data></array></value>"
        ),
        Value::Array(vec![
            Value::from("a"),
            Value::from(""),
            Value::Array(vec![])
        ])
    );
    // A repeated member name keeps the last value.
    let v = param(
        "<value><struct><member><name>k</name><value>1</value></member>\
         <member><name>k</name><value>2</value></member>\
         <member><name> </name><value/></member></struct></value>",
    );
    let mut want = Struct::new();
    want.insert("k".into(), Value::from("2"));
    want.insert(" ".into(), Value::from(""));
    assert_eq!(v, Value::Struct(want));
}

#[test]
fn whitespace_between_elements_is_ignored_inside_strings_kept() {
    let doc = "\u{feff}<?xml version=\"1.0\" encoding=\"UTF-8\"?>\r\n<!-- c -->\r\n<methodCall>\r\n <methodName>m</methodName>\r\n <params>\r\n  <param>\r\n   <value>\r\n    <string>\r\n x \r\n</string>\r\n   </value>\r\n  </param>\r\n </params>\r\n</methodCall>\r\n<!-- after -->\n";
    let c = call(doc).unwrap();
    // CRLF in text is a line end, read as \n (XML 1.0 section 2.11).
    assert_eq!(c.params, vec![Value::from("\n x \n")]);
    assert_eq!(
        call("<methodCall><methodName>m</methodName></methodCall>")
            .unwrap()
            .params,
        vec![]
    );
    assert_eq!(
        call("<methodCall><methodName>m</methodName><params/></methodCall>")
            .unwrap()
            .params,
        vec![]
    );
    assert_eq!(
        param("<value><string>a<!-- not data -->b<?pi x?>c</string></value>"),
        Value::from("abc")
    );
    // Perl's RPC::XML declares us-ascii and sends UTF-8.
    let perl = "<?xml version=\"1.0\" encoding=\"us-ascii\"?><methodCall><methodName>m</methodName><params><param><value><string>ü</string></value></param></params></methodCall>";
    assert_eq!(call(perl).unwrap().params, vec![Value::from("ü")]);
}

#[test]
fn fault_forms() {
    let f = |members: &str| {
        response(&format!(
            "<methodResponse><fault><value><struct>{members}</struct></value></fault></methodResponse>"
        ))
    };
    let code_m = "<member><name>faultCode</name><value><int>4</int></value></member>";
    let str_m = "<member><name>faultString</name><value><string>x</string></value></member>";
    assert_eq!(
        f(&format!("{str_m}{code_m}")).unwrap(),
        Err(Fault::new(4, "x"))
    );
    let extra = "<member><name>extra</name><value><nil/></value></member>";
    assert_eq!(
        f(&format!("{extra}{code_m}{str_m}")).unwrap(),
        Err(Fault::new(4, "x"))
    );
    let i8_code = "<member><name>faultCode</name><value><i8>-32700</i8></value></member>";
    assert_eq!(
        f(&format!("{i8_code}{str_m}")).unwrap(),
        Err(Fault::new(-32700, "x"))
    );
    let bare_str = "<member><name>faultString</name><value>bare</value></member>";
    assert_eq!(
        f(&format!("{code_m}{bare_str}")).unwrap(),
        Err(Fault::new(4, "bare"))
    );
    for bad in [
        code_m.to_owned(),
        str_m.to_owned(),
        format!("{str_m}<member><name>faultCode</name><value><string>4</string></value></member>"),
        format!("{str_m}<member><name>faultCode</name><value><i8>4294967296</i8></value></member>"),
    ] {
        let e = f(&bad).unwrap_err();
        assert_eq!(code(&e), fault_code::INVALID_REQUEST, "{bad}: {e}");
    }
}

// ---- limits ----

#[test]
fn oversized_documents_are_refused_before_parsing() {
    let limits = Limits::default().with_max_document_bytes(SMALL_CALL.len() - 1);
    let e = parse_call(SMALL_CALL.as_bytes(), &limits).unwrap_err();
    assert_eq!(
        e,
        ParseError::TooLarge {
            size: SMALL_CALL.len(),
            limit: SMALL_CALL.len() - 1
        }
    );
    assert_eq!(code(&e), fault_code::PARSE_ERROR);
    assert!(
        parse_call(
            SMALL_CALL.as_bytes(),
            &limits.with_max_document_bytes(SMALL_CALL.len())
        )
        .is_ok()
    );
    // Over the default: even garbage is refused for its size alone.
    let huge = vec![b'<'; Limits::DEFAULT_MAX_DOCUMENT_BYTES + 1];
    assert!(matches!(
        parse_response(&huge, &Limits::default()),
        Err(ParseError::TooLarge { .. })
    ));
}

#[test]
fn depth_is_limited_without_recursion() {
    let limit = Limits::DEFAULT_MAX_DEPTH;
    assert!(call(&nested_arrays(limit)).is_ok());
    let e = call(&nested_arrays(limit + 1)).unwrap_err();
    assert!(matches!(e, ParseError::TooDeep { limit: 32, .. }), "{e}");
    assert_eq!(code(&e), fault_code::PARSE_ERROR);
    // Deep enough to overflow any recursive parser's stack.
    assert!(matches!(
        call(&nested_arrays(10_000)),
        Err(ParseError::TooDeep { .. })
    ));
    let mut structs = String::from("<methodResponse><params><param>");
    structs.push_str(&"<value><struct><member><name>n</name>".repeat(10_000));
    assert!(matches!(
        response(&structs),
        Err(ParseError::TooDeep { .. })
    ));
    // Unknown elements nest without limit in XML; the grammar stops at the first.
    let mut elements = String::from("<methodCall><methodName>m</methodName><params><param><value>");
    elements.push_str(&"<a>".repeat(100_000));
    assert!(call(&elements).is_err());
    // A tighter limit applies; a looser one is clamped.
    let tight = Limits::default().with_max_depth(2);
    assert!(parse_call(nested_arrays(2).as_bytes(), &tight).is_ok());
    assert!(parse_call(nested_arrays(3).as_bytes(), &tight).is_err());
    let loose = Limits::default().with_max_depth(1_000_000);
    assert!(parse_call(nested_arrays(Limits::HARD_MAX_DEPTH).as_bytes(), &loose).is_ok());
    assert!(parse_call(nested_arrays(Limits::HARD_MAX_DEPTH + 1).as_bytes(), &loose).is_err());
}

#[test]
fn dtds_are_refused() {
    let laughs = r#"<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
]>
<methodCall><methodName>m</methodName><params><param><value>&lol4;</value></param></params></methodCall>"#;
    let xxe = r#"<?xml version="1.0"?><!DOCTYPE m [<!ENTITY xxe SYSTEM "file:///etc/passwd">]><methodCall><methodName>&xxe;</methodName></methodCall>"#;
    let plain = r#"<!DOCTYPE methodCall><methodCall><methodName>m</methodName></methodCall>"#;
    let param_entity = r#"<!DOCTYPE m [<!ENTITY % p SYSTEM "http://example.invalid/x.dtd"> %p;]><methodCall><methodName>m</methodName></methodCall>"#;
    for doc in [laughs, xxe, plain, param_entity] {
        let e = call(doc).unwrap_err();
        assert!(matches!(e, ParseError::Dtd { .. }), "{doc}: {e}");
        assert_eq!(code(&e), fault_code::PARSE_ERROR);
    }
}

#[test]
fn only_predefined_entities_are_known() {
    for doc in [
        "<methodCall><methodName>&lol;</methodName></methodCall>",
        "<methodCall><methodName>m</methodName><params><param><value>&nbsp;</value></param></params></methodCall>",
        "<methodCall><methodName>m&amp</methodName></methodCall>",
        "<methodCall><methodName>m & n</methodName></methodCall>",
        "<methodCall><methodName>&#0;</methodName></methodCall>",
        "<methodCall><methodName>&#1;</methodName></methodCall>",
        "<methodCall><methodName>&#xFFFE;</methodName></methodCall>",
        "<methodCall><methodName>&#xD800;</methodName></methodCall>",
        "<methodCall><methodName>&#x110000;</methodName></methodCall>",
        "<methodCall><methodName>&#xZZ;</methodName></methodCall>",
    ] {
        let e = call(doc).unwrap_err();
        assert!(matches!(e, ParseError::Malformed { .. }), "{doc}: {e}");
    }
    assert_eq!(
        call("<methodCall><methodName>&lt;&gt;&amp;&apos;&quot;&#9;&#x10FFFF;</methodName></methodCall>").unwrap().method,
        "<>&'\"\t\u{10FFFF}"
    );
}

#[test]
fn every_truncation_is_a_parse_error() {
    for end in 0..SMALL_CALL.trim_end().len() {
        let e = parse_call(&SMALL_CALL.as_bytes()[..end], &Limits::default())
            .expect_err(&format!("prefix of {end} bytes parsed"));
        assert_eq!(code(&e), fault_code::PARSE_ERROR, "prefix {end}: {e}");
    }
    assert!(call(SMALL_CALL.trim_end()).is_ok());
}

#[test]
fn malformed_documents() {
    for doc in [
        &b""[..],
        b"   ",
        b"\x00\x01\x02garbage\xff",
        b"<methodCall><methodName>m</methodName></methodCall><methodCall/>",
        b"<methodCall><methodName>m</methodName></methodCall>trailing",
        b"<methodCall><methodName>m</methodName></methodCall",
        b"<methodCall><methodName>m</methodName></methodcall>",
        b"<methodCall><methodName>m\xff</methodName></methodCall>",
        b"<methodCall><methodName>\xc3</methodName></methodCall>",
        b"<methodCall><methodName>a\x01b</methodName></methodCall>",
        b"<methodCall><methodName>a\xef\xbf\xbeb</methodName></methodCall>",
        b"<methodCall x=\"1\" x=\"2\"><methodName>m</methodName></methodCall>",
        b"<methodCall x=><methodName>m</methodName></methodCall>",
        b"<methodCall x=\"&bogus;\"><methodName>m</methodName></methodCall>",
        b"<methodCall x=\"&#0;\"><methodName>m</methodName></methodCall>",
        b"<methodCall><methodName>m</methodName><?xml version=\"1.0\"?></methodCall>",
        b"<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?><methodCall><methodName>\xc3\xbc</methodName></methodCall>",
        b"\xfe\xff\x00<\x00m",
        // Invalid early, malformed later: malformed is the verdict.
        b"<methodCall><foo/><methodName>m</wrong></methodCall>",
    ] {
        let e = parse_call(doc, &Limits::default()).unwrap_err();
        assert!(
            matches!(e, ParseError::Malformed { .. }),
            "{}: {e}",
            String::from_utf8_lossy(doc)
        );
        assert_eq!(code(&e), fault_code::PARSE_ERROR);
    }
    // Declared Latin-1 but pure ASCII reads the same in any case.
    assert!(call("<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?><methodCall><methodName>m</methodName></methodCall>").is_ok());
}

#[test]
fn well_formed_but_not_xml_rpc() {
    for doc in [
        "<foo/>",
        "<methodResponse><params/></methodResponse>",
        "<methodCall><params/></methodCall>",
        "<methodCall><methodName></methodName></methodCall>",
        "<methodCall><methodName>m<b/></methodName></methodCall>",
        "<methodCall><methodName>m</methodName><params><param></param></params></methodCall>",
        "<methodCall><methodName>m</methodName><params><param><value>x<int>1</int></value></param></params></methodCall>",
        "<methodCall><methodName>m</methodName><params><param><value><int>1</int>x</value></param></params></methodCall>",
        "<methodCall><methodName>m</methodName><params><param><value><int>1</int><int>2</int></value></param></params></methodCall>",
        "<methodCall><methodName>m</methodName><params><param><value><int>2147483648</int></value></param></params></methodCall>",
        "<methodCall><methodName>m</methodName><params><param><value><boolean>true</boolean></value></param></params></methodCall>",
        "<methodCall><methodName>m</methodName><params><param><value><double>NaN</double></value></param></params></methodCall>",
        "<methodCall><methodName>m</methodName><params><param><value><double>inf</double></value></param></params></methodCall>",
        "<methodCall><methodName>m</methodName><params><param><value><double>1e400</double></value></param></params></methodCall>",
        "<methodCall><methodName>m</methodName><params><param><value><dateTime.iso8601>20261324T00:00:00</dateTime.iso8601></value></param></params></methodCall>",
        "<methodCall><methodName>m</methodName><params><param><value><base64>!!!!</base64></value></param></params></methodCall>",
        // Found by fuzzing: eight bytes before the T, but not eight digits.
        "<methodCall><methodName>m</methodName><params><param><value><dateTime.iso8601>202\u{feff}24T09:05:00</dateTime.iso8601></value></param></params></methodCall>",
        "<methodCall><methodName>m</methodName><params><param><value><nil>x</nil></value></param></params></methodCall>",
        "<methodCall><methodName>m</methodName><params><param><value><struct><member><value>1</value></member></struct></value></param></params></methodCall>",
        "<methodCall><methodName>m</methodName><params><param><value><array><value>1</value></array></value></param></params></methodCall>",
        "<methodCall><methodName>m</methodName><params><param><value><string><b/></string></value></param></params></methodCall>",
        "<methodCall><methodName>m</methodName><params><param><value><bogus/></value></param></params></methodCall>",
    ] {
        let e = call(doc).unwrap_err();
        assert!(matches!(e, ParseError::Invalid { .. }), "{doc}: {e}");
        assert_eq!(code(&e), fault_code::INVALID_REQUEST, "{doc}");
    }
    for doc in [
        "<methodCall><methodName>m</methodName></methodCall>",
        "<methodResponse><params></params></methodResponse>",
        "<methodResponse><params><param><value/></param><param><value/></param></params></methodResponse>",
        "<methodResponse><fault><value><string>x</string></value></fault></methodResponse>",
        "<methodResponse></methodResponse>",
    ] {
        let e = response(doc).unwrap_err();
        assert_eq!(code(&e), fault_code::INVALID_REQUEST, "{doc}: {e}");
    }
}

#[test]
fn errors_say_what_was_wrong() {
    let e = call("<methodCall><methodName>m</methodName><params><param><value><int>12x</int></value></param></params></methodCall>").unwrap_err();
    assert!(e.to_string().contains("\"12x\""), "{e}");
    let e = call("<methodCall><methodName>&bogus;</methodName></methodCall>").unwrap_err();
    assert!(e.to_string().contains("&bogus;"), "{e}");
    let f = e.fault();
    assert_eq!(f.code, fault_code::PARSE_ERROR);
    assert_eq!(f.message, e.to_string());
}

// ---- the writer ----

#[test]
fn writer_output_is_what_the_peers_expect() {
    let c = MethodCall::new(
        "m",
        vec![
            Value::from("a&b<c>d\re"),
            Value::Bool(true),
            Value::Bool(false),
            Value::I8(1 << 40),
            Value::Nil,
            Value::Double(1.0),
            Value::Double(1e21),
            Value::Base64(vec![0xfb, 0xff]),
            Value::DateTime(DateTime::from_unix(0)),
        ],
    );
    let doc = String::from_utf8(write_call(&c).unwrap()).unwrap();
    assert!(
        doc.starts_with("<?xml version=\"1.0\"?>\n<methodCall>"),
        "{doc}"
    );
    for part in [
        "<string>a&amp;b&lt;c&gt;d&#13;e</string>",
        "<boolean>1</boolean>",
        "<boolean>0</boolean>",
        "<i8>1099511627776</i8>",
        "<nil/>",
        "<double>1.0</double>",
        "<double>1000000000000000000000.0</double>",
        "<base64>+/8=</base64>",
        "<dateTime.iso8601>19700101T00:00:00</dateTime.iso8601>",
    ] {
        assert!(doc.contains(part), "{part} not in {doc}");
    }
    assert!(!doc.contains('\r'));
}

#[test]
fn writer_refuses_what_xml_rpc_cannot_carry() {
    let w = |v: Value| write_call(&MethodCall::new("m", vec![v]));
    let nan = w(Value::Double(f64::NAN)).unwrap_err();
    assert!(matches!(nan, WriteError::NonFiniteDouble { .. }));
    assert!(nan.to_string().contains("NaN"), "{nan}");
    assert!(matches!(
        w(Value::Double(f64::INFINITY)),
        Err(WriteError::NonFiniteDouble { .. })
    ));
    assert!(matches!(
        w(Value::Double(f64::NEG_INFINITY)),
        Err(WriteError::NonFiniteDouble { .. })
    ));
    assert_eq!(
        w(Value::from("ab\0")),
        Err(WriteError::IllegalChar {
            context: "string",
            ch: '\0',
            index: 2
        })
    );
    let mut s = Struct::new();
    s.insert("x\u{1}".into(), Value::Nil);
    assert_eq!(
        w(Value::Struct(s)),
        Err(WriteError::IllegalChar {
            context: "struct member name",
            ch: '\u{1}',
            index: 1
        })
    );
    assert!(matches!(
        w(Value::from("\u{FFFF}")),
        Err(WriteError::IllegalChar { .. })
    ));
    assert!(matches!(
        w(Value::from("\u{1b}[0m")),
        Err(WriteError::IllegalChar { .. })
    ));
    let bad_month = DateTime {
        year: 2026,
        month: 13,
        day: 1,
        hour: 0,
        minute: 0,
        second: 0,
    };
    assert!(matches!(
        w(Value::DateTime(bad_month)),
        Err(WriteError::InvalidDateTime { .. })
    ));
    let year_10000 = DateTime::new(10_000, 1, 1, 0, 0, 0).unwrap();
    assert!(matches!(
        w(Value::DateTime(year_10000)),
        Err(WriteError::InvalidDateTime { .. })
    ));
    assert_eq!(
        write_call(&MethodCall::new("", vec![])),
        Err(WriteError::EmptyMethodName)
    );
    assert!(matches!(
        write_call(&MethodCall::new("m\u{0}", vec![])),
        Err(WriteError::IllegalChar {
            context: "method name",
            ..
        })
    ));
    assert!(matches!(
        write_response(&Err(Fault::new(1, "\u{8}"))),
        Err(WriteError::IllegalChar {
            context: "fault string",
            ..
        })
    ));
    let mut deep = Value::Nil;
    for _ in 0..Limits::HARD_MAX_DEPTH {
        deep = Value::Array(vec![deep]);
    }
    assert_eq!(
        w(deep.clone()),
        Err(WriteError::TooDeep {
            limit: Limits::HARD_MAX_DEPTH
        })
    );
    let Value::Array(mut inner) = deep else {
        unreachable!()
    };
    let at_limit = inner.pop().unwrap();
    let doc = w(at_limit.clone()).unwrap();
    let loose = Limits::default().with_max_depth(Limits::HARD_MAX_DEPTH);
    assert_eq!(parse_call(&doc, &loose).unwrap().params, vec![at_limit]);
}

/// Quarter-megabyte documents shaped to find work that grows faster than
/// the document: quadratic duplicate-attribute checks, per-reference costs,
/// the drain after a grammar error, many tiny values. Linear, this takes
/// about a second unoptimized; a quadratic path would take minutes.
#[test]
fn large_documents_of_pathological_shapes() {
    const SIZE: usize = Limits::DEFAULT_MAX_DOCUMENT_BYTES / 4;
    let wrap = |params: &str| {
        format!("<methodCall><methodName>m</methodName><params>{params}</params></methodCall>")
    };
    let fit = |unit: &str, overhead: usize| (SIZE - overhead) / unit.len();

    let n = fit(" a0000000=\"\"", 200);
    let attrs: String = (0..n).map(|i| format!(" a{i:07}=\"\"")).collect();
    let doc = format!("<methodCall{attrs}><methodName>m</methodName></methodCall>");
    assert!(doc.len() <= SIZE);
    assert_eq!(call(&doc).unwrap().method, "m");

    let n = fit("&#60;", 200);
    let doc = format!(
        "<methodCall><methodName>{}</methodName></methodCall>",
        "&#60;".repeat(n)
    );
    assert_eq!(call(&doc).unwrap().method.len(), n);

    let n = fit("<value/>", 300);
    let doc = wrap(&format!(
        "<param><value><array><data>{}</data></array></value></param>",
        "<value/>".repeat(n)
    ));
    assert_eq!(call(&doc).unwrap().params[0].as_array().unwrap().len(), n);

    let n = fit("<member><name>k</name><value/></member>", 300);
    let doc = wrap(&format!(
        "<param><value><struct>{}</struct></value></param>",
        "<member><name>k</name><value/></member>".repeat(n)
    ));
    assert_eq!(call(&doc).unwrap().params[0].as_struct().unwrap().len(), 1);

    let n = fit("<a></a>", 300);
    let nested = format!("{}{}", "<a>".repeat(n / 2), "</a>".repeat(n / 2));
    let doc = format!("<methodCall><bogus/>{nested}<methodName>m</methodName></methodCall>");
    assert!(matches!(call(&doc), Err(ParseError::Invalid { .. })));
    let doc = format!("<methodCall><bogus/>{}", "<a>".repeat(n));
    assert!(matches!(call(&doc), Err(ParseError::Malformed { .. })));

    let n = fit("x", 300);
    let doc = wrap(&format!(
        "<param><value>a<!--{}-->b</value></param>",
        "x".repeat(n)
    ));
    assert_eq!(call(&doc).unwrap().params, vec![Value::from("ab")]);

    let n = fit("Q \n", 300);
    let doc = wrap(&format!(
        "<param><value><base64>{}</base64></value></param>",
        "QUJD \n".repeat(n / 2)
    ));
    assert!(matches!(&call(&doc).unwrap().params[0], Value::Base64(b) if b.len() == n / 2 * 3));
}

#[test]
fn illegal_characters_can_be_replaced_before_writing() {
    let hostname = "pc\u{0}\u{1b}[1m\u{FFFE}ü";
    assert!(!is_legal_text(hostname));
    let fixed = replace_illegal_chars(hostname);
    assert_eq!(fixed, "pc\u{FFFD}\u{FFFD}[1m\u{FFFD}ü");
    assert!(is_legal_text(&fixed));
    assert!(write_call(&MethodCall::new("m", vec![Value::from(hostname)])).is_err());
    assert!(write_call(&MethodCall::new("m", vec![Value::from(fixed.into_owned())])).is_ok());
    assert!(is_legal_text("\t\r\n \u{D7FF}\u{E000}\u{FFFD}\u{10FFFF}"));
}
