//! The writer. Output is compact (no whitespace between elements) and uses
//! only forms both Python's `xmlrpc.client` and Perl's RPC::XML read: every
//! string in `<string>`, booleans as 0/1, `<i8>`, `<nil/>`.

use super::WriteError;
use super::lexer::is_xml_char;
use super::scalar;
use crate::{Fault, Limits, MethodCall, MethodResponse, Value};

const HEADER: &str = "<?xml version=\"1.0\"?>\n";

pub(crate) fn call(call: &MethodCall) -> Result<Vec<u8>, WriteError> {
    if call.method.is_empty() {
        return Err(WriteError::EmptyMethodName);
    }
    let mut w = Writer::new();
    w.out.push_str(HEADER);
    w.out.push_str("<methodCall><methodName>");
    w.text(&call.method, "method name")?;
    w.out.push_str("</methodName><params>");
    for p in &call.params {
        w.out.push_str("<param>");
        w.value(p, 1)?;
        w.out.push_str("</param>");
    }
    w.out.push_str("</params></methodCall>\n");
    Ok(w.out.into_bytes())
}

pub(crate) fn response(resp: &MethodResponse) -> Result<Vec<u8>, WriteError> {
    let mut w = Writer::new();
    w.out.push_str(HEADER);
    w.out.push_str("<methodResponse>");
    match resp {
        Ok(v) => {
            w.out.push_str("<params><param>");
            w.value(v, 1)?;
            w.out.push_str("</param></params>");
        }
        Err(Fault { code, message }) => {
            w.out
                .push_str("<fault><value><struct><member><name>faultCode</name><value><int>");
            w.out.push_str(&code.to_string());
            w.out
                .push_str("</int></value></member><member><name>faultString</name><value><string>");
            w.text(message, "fault string")?;
            w.out
                .push_str("</string></value></member></struct></value></fault>");
        }
    }
    w.out.push_str("</methodResponse>\n");
    Ok(w.out.into_bytes())
}

struct Writer {
    out: String,
}

impl Writer {
    fn new() -> Self {
        Writer {
            out: String::with_capacity(512),
        }
    }

    /// `<value>…</value>` at nesting `depth` (1 for a param).
    fn value(&mut self, v: &Value, depth: usize) -> Result<(), WriteError> {
        // Recursion is bounded here, and so is what a parser must follow.
        if depth > Limits::HARD_MAX_DEPTH {
            return Err(WriteError::TooDeep {
                limit: Limits::HARD_MAX_DEPTH,
            });
        }
        self.out.push_str("<value>");
        match v {
            Value::Int(i) => {
                self.out.push_str("<int>");
                self.out.push_str(&i.to_string());
                self.out.push_str("</int>");
            }
            Value::I8(i) => {
                self.out.push_str("<i8>");
                self.out.push_str(&i.to_string());
                self.out.push_str("</i8>");
            }
            Value::Bool(b) => {
                self.out.push_str(if *b {
                    "<boolean>1</boolean>"
                } else {
                    "<boolean>0</boolean>"
                });
            }
            Value::String(s) => {
                self.out.push_str("<string>");
                self.text(s, "string")?;
                self.out.push_str("</string>");
            }
            Value::Double(d) => {
                if !d.is_finite() {
                    return Err(WriteError::NonFiniteDouble { value: *d });
                }
                self.out.push_str("<double>");
                scalar::write_double(*d, &mut self.out);
                self.out.push_str("</double>");
            }
            Value::DateTime(dt) => {
                if !scalar::datetime_is_writable(dt) {
                    return Err(WriteError::InvalidDateTime { value: *dt });
                }
                self.out.push_str("<dateTime.iso8601>");
                self.out.push_str(&dt.to_string());
                self.out.push_str("</dateTime.iso8601>");
            }
            Value::Base64(bytes) => {
                self.out.push_str("<base64>");
                scalar::write_base64(bytes, &mut self.out);
                self.out.push_str("</base64>");
            }
            Value::Struct(members) => {
                self.out.push_str("<struct>");
                for (name, member) in members {
                    self.out.push_str("<member><name>");
                    self.text(name, "struct member name")?;
                    self.out.push_str("</name>");
                    self.value(member, depth + 1)?;
                    self.out.push_str("</member>");
                }
                self.out.push_str("</struct>");
            }
            Value::Array(items) => {
                self.out.push_str("<array><data>");
                for item in items {
                    self.value(item, depth + 1)?;
                }
                self.out.push_str("</data></array>");
            }
            Value::Nil => self.out.push_str("<nil/>"),
        }
        self.out.push_str("</value>");
        Ok(())
    }

    /// Character data, escaped. `\r` becomes `&#13;`: a raw one would be
    /// turned into `\n` by every XML parser's line-end normalization.
    fn text(&mut self, s: &str, context: &'static str) -> Result<(), WriteError> {
        let mut plain = 0;
        for (i, c) in s.char_indices() {
            let escaped = match c {
                '&' => "&amp;",
                '<' => "&lt;",
                '>' => "&gt;",
                '\r' => "&#13;",
                c if !is_xml_char(c) => {
                    return Err(WriteError::IllegalChar {
                        context,
                        ch: c,
                        index: i,
                    });
                }
                _ => continue,
            };
            self.out.push_str(&s[plain..i]);
            self.out.push_str(escaped);
            plain = i + c.len_utf8();
        }
        self.out.push_str(&s[plain..]);
        Ok(())
    }
}
