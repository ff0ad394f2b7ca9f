//! The XML-RPC grammar over the lexer's tokens. Iterative: nested arrays and
//! structs live on an explicit stack whose height the depth limit bounds, so
//! no input can exhaust the call stack.

use std::borrow::Cow;

use super::ParseError;
use super::lexer::{Lexer, Tag, Tok, is_xml_whitespace};
use super::scalar;
use crate::{Fault, Limits, MethodCall, MethodResponse, Struct, Value};

/// Reads a `<methodCall>`.
pub(crate) fn call(doc: &[u8], limits: &Limits) -> Result<MethodCall, ParseError> {
    run(doc, limits, "methodCall", |p| {
        p.expect_start(Tag::MethodCall)?;
        p.expect_start(Tag::MethodName)?;
        let method = p.text_until(&Tag::MethodName)?.into_owned();
        if method.is_empty() {
            return Err(p.invalid("empty methodName"));
        }
        let params = match p.next_element()? {
            Element::Start(Tag::Params) => p.params()?,
            Element::End(Tag::MethodCall) => {
                return Ok(MethodCall {
                    method,
                    params: vec![],
                });
            }
            other => return Err(p.unexpected(&other, "<params> or </methodCall>")),
        };
        p.expect_end(Tag::MethodCall)?;
        Ok(MethodCall { method, params })
    })
}

/// Reads a `<methodResponse>`.
pub(crate) fn response(doc: &[u8], limits: &Limits) -> Result<MethodResponse, ParseError> {
    run(doc, limits, "methodResponse", |p| {
        p.expect_start(Tag::MethodResponse)?;
        let resp = match p.next_element()? {
            Element::Start(Tag::Params) => {
                let mut params = p.params()?;
                if params.len() != 1 {
                    return Err(p.invalid(format!(
                        "a response has exactly one param, this one has {}",
                        params.len()
                    )));
                }
                Ok(params.pop().expect("one param"))
            }
            Element::Start(Tag::Fault) => {
                p.expect_start(Tag::Value)?;
                let value = p.value()?;
                p.expect_end(Tag::Fault)?;
                Err(p.fault(value)?)
            }
            other => return Err(p.unexpected(&other, "<params> or <fault>")),
        };
        p.expect_end(Tag::MethodResponse)?;
        Ok(resp)
    })
}

/// Checks what can be checked before parsing, runs `grammar`, and makes sure
/// the document ends after the root element.
fn run<T>(
    doc: &[u8],
    limits: &Limits,
    expected: &'static str,
    grammar: impl FnOnce(&mut Parser<'_>) -> Result<T, ParseError>,
) -> Result<T, ParseError> {
    if doc.len() > limits.max_document_bytes() {
        return Err(ParseError::TooLarge {
            size: doc.len(),
            limit: limits.max_document_bytes(),
        });
    }
    let (body, base) = match doc.strip_prefix(b"\xEF\xBB\xBF") {
        Some(rest) => (rest, 3),
        None => (doc, 0),
    };
    let text = std::str::from_utf8(body).map_err(|e| ParseError::Malformed {
        position: base + e.valid_up_to() as u64,
        message: format!("invalid UTF-8: {e}"),
    })?;
    let mut p = Parser {
        lx: Lexer::new(text, base),
        max_depth: limits.max_depth(),
        expected,
    };
    let result = grammar(&mut p).and_then(|v| match p.lx.next()? {
        Tok::Eof => Ok(v),
        // The lexer refuses a second root, so anything else is a bug in
        // the grammar; report rather than panic.
        tok => Err(p.invalid(format!("unexpected {tok:?} after the root element"))),
    });
    match result {
        // A document that breaks the grammar early may be malformed later;
        // malformed is the more useful verdict for the peer.
        Err(e @ ParseError::Invalid { .. }) => {
            p.lx.drain()?;
            Err(e)
        }
        other => other,
    }
}

/// A token other than whitespace text.
#[derive(Debug)]
enum Element<'a> {
    Start(Tag),
    End(Tag),
    Text(Cow<'a, str>),
}

/// Arrays and structs being read; the innermost is last.
enum Open {
    Array(Vec<Value>),
    /// Members so far and the name of the member whose value is being read.
    Struct(Struct, String),
}

struct Parser<'a> {
    lx: Lexer<'a>,
    max_depth: usize,
    expected: &'static str,
}

impl<'a> Parser<'a> {
    fn invalid(&self, message: impl Into<String>) -> ParseError {
        ParseError::Invalid {
            expected: self.expected,
            position: self.lx.position(),
            message: message.into(),
        }
    }

    fn unexpected(&self, found: &Element<'_>, wanted: &str) -> ParseError {
        let found = match found {
            Element::Start(t) => format!("<{}>", t.name()),
            Element::End(t) => format!("</{}>", t.name()),
            Element::Text(t) => format!("text {:?}", truncate(t)),
        };
        self.invalid(format!("expected {wanted}, found {found}"))
    }

    /// The next token that is not whitespace between elements.
    fn next_element(&mut self) -> Result<Element<'a>, ParseError> {
        loop {
            match self.lx.next()? {
                Tok::Start(t) => return Ok(Element::Start(t)),
                Tok::End(t) => return Ok(Element::End(t)),
                Tok::Text(t) if is_xml_whitespace(&t) => continue,
                Tok::Text(t) => return Ok(Element::Text(t)),
                // The lexer reports Eof only after the root closed.
                Tok::Eof => return Err(self.invalid("unexpected end of document")),
            }
        }
    }

    fn expect_start(&mut self, tag: Tag) -> Result<(), ParseError> {
        match self.next_element()? {
            Element::Start(t) if t == tag => Ok(()),
            other => Err(self.unexpected(&other, &format!("<{}>", tag.name()))),
        }
    }

    fn expect_end(&mut self, tag: Tag) -> Result<(), ParseError> {
        match self.next_element()? {
            Element::End(t) if t == tag => Ok(()),
            other => Err(self.unexpected(&other, &format!("</{}>", tag.name()))),
        }
    }

    /// All character data up to the end of the element `tag` (just opened),
    /// which must hold nothing else.
    fn text_until(&mut self, tag: &Tag) -> Result<Cow<'a, str>, ParseError> {
        let mut acc: Cow<'a, str> = Cow::Borrowed("");
        loop {
            match self.lx.next()? {
                Tok::Text(t) if acc.is_empty() => acc = t,
                Tok::Text(t) => acc.to_mut().push_str(&t),
                Tok::End(t) if t == *tag => return Ok(acc),
                Tok::Start(t) => {
                    return Err(self.invalid(format!(
                        "<{}> inside <{}>, which holds only text",
                        t.name(),
                        tag.name()
                    )));
                }
                // quick-xml matched the end tags, so this is unreachable.
                tok => return Err(self.invalid(format!("unexpected {tok:?}"))),
            }
        }
    }

    /// The `<param>`s after `<params>`, through `</params>`.
    fn params(&mut self) -> Result<Vec<Value>, ParseError> {
        let mut params = Vec::new();
        loop {
            match self.next_element()? {
                Element::Start(Tag::Param) => {
                    self.expect_start(Tag::Value)?;
                    params.push(self.value()?);
                    self.expect_end(Tag::Param)?;
                }
                Element::End(Tag::Params) => return Ok(params),
                other => return Err(self.unexpected(&other, "<param> or </params>")),
            }
        }
    }

    /// One value, after its `<value>` start tag, through `</value>`.
    fn value(&mut self) -> Result<Value, ParseError> {
        let mut open: Vec<Open> = Vec::new();
        // Each turn reads a value from just after its `<value>`: a scalar
        // completes it, an array or struct opens a level and continues with
        // its first item's `<value>`.
        'value: loop {
            if open.len() + 1 > self.max_depth {
                return Err(ParseError::TooDeep {
                    limit: self.max_depth,
                    position: self.lx.position(),
                });
            }
            let mut done = match self.value_content()? {
                Content::Complete(v) => v,
                Content::Array => {
                    open.push(Open::Array(Vec::new()));
                    match self.next_item(&mut open)? {
                        Some(()) => continue 'value,
                        None => {
                            open.pop();
                            Value::Array(Vec::new())
                        }
                    }
                }
                Content::Struct => {
                    open.push(Open::Struct(Struct::new(), String::new()));
                    match self.next_item(&mut open)? {
                        Some(()) => continue 'value,
                        None => {
                            open.pop();
                            Value::Struct(Struct::new())
                        }
                    }
                }
            };
            // `done` is a complete value: hand it to its container, which
            // either wants another item (next turn) or is complete itself.
            loop {
                match open.last_mut() {
                    None => return Ok(done),
                    Some(Open::Array(items)) => items.push(done),
                    Some(Open::Struct(members, name)) => {
                        // A repeated name keeps the last value, as Python does.
                        members.insert(std::mem::take(name), done);
                        self.expect_end(Tag::Member)?;
                    }
                }
                match self.next_item(&mut open)? {
                    Some(()) => continue 'value,
                    None => {
                        done = match open.pop() {
                            Some(Open::Array(items)) => Value::Array(items),
                            Some(Open::Struct(members, _)) => Value::Struct(members),
                            None => return Err(self.invalid("container stack underflow")),
                        };
                    }
                }
            }
        }
    }

    /// After `<value>` of the innermost open container's previous item (or
    /// its start): reads up to the next item's `<value>` (`Some`), or through
    /// the container's end and its own `</value>` (`None`; the caller pops).
    fn next_item(&mut self, open: &mut [Open]) -> Result<Option<()>, ParseError> {
        let top = open.last_mut().expect("a container is open");
        match top {
            Open::Array(_) => match self.next_element()? {
                Element::Start(Tag::Value) => Ok(Some(())),
                Element::End(Tag::Data) => {
                    self.expect_end(Tag::Array)?;
                    self.expect_end(Tag::Value)?;
                    Ok(None)
                }
                other => Err(self.unexpected(&other, "<value> or </data>")),
            },
            Open::Struct(_, name) => match self.next_element()? {
                Element::Start(Tag::Member) => {
                    self.expect_start(Tag::Name)?;
                    *name = self.text_until(&Tag::Name)?.into_owned();
                    self.expect_start(Tag::Value)?;
                    Ok(Some(()))
                }
                Element::End(Tag::Struct) => {
                    self.expect_end(Tag::Value)?;
                    Ok(None)
                }
                other => Err(self.unexpected(&other, "<member> or </struct>")),
            },
        }
    }

    /// What follows `<value>`: a scalar through `</value>`, or the start of
    /// an array (through `<data>`) or a struct.
    fn value_content(&mut self) -> Result<Content, ParseError> {
        let mut bare: Cow<'a, str> = Cow::Borrowed("");
        let tag = loop {
            match self.lx.next()? {
                Tok::Text(t) if bare.is_empty() => bare = t,
                Tok::Text(t) => bare.to_mut().push_str(&t),
                // `<value>text</value>` is a string, whitespace and all.
                Tok::End(_) => return Ok(Content::Complete(Value::String(bare.into_owned()))),
                Tok::Start(tag) => break tag,
                Tok::Eof => return Err(self.invalid("unexpected end of document")),
            }
        };
        if !is_xml_whitespace(&bare) {
            return Err(self.invalid(format!(
                "text {:?} beside <{}> in a <value>",
                truncate(&bare),
                tag.name()
            )));
        }
        let bad = |p: &Self, tag: &Tag, e: String| p.invalid(format!("<{}>: {e}", tag.name()));
        let value = match tag {
            Tag::Array => {
                match self.next_element()? {
                    Element::Start(Tag::Data) => {}
                    // `<array/>`: lenient, some peers omit `<data>` when empty.
                    Element::End(Tag::Array) => {
                        self.expect_end(Tag::Value)?;
                        return Ok(Content::Complete(Value::Array(Vec::new())));
                    }
                    other => return Err(self.unexpected(&other, "<data>")),
                }
                return Ok(Content::Array);
            }
            Tag::Struct => return Ok(Content::Struct),
            Tag::Nil => {
                let t = self.text_until(&tag)?;
                if !is_xml_whitespace(&t) {
                    return Err(self.invalid("<nil> with content"));
                }
                Value::Nil
            }
            Tag::String => Value::String(self.text_until(&tag)?.into_owned()),
            Tag::Int | Tag::I4 => {
                let t = self.text_until(&tag)?;
                Value::Int(scalar::parse_int(&t).map_err(|e| bad(self, &tag, e))?)
            }
            Tag::I8 => {
                let t = self.text_until(&tag)?;
                Value::I8(scalar::parse_i8(&t).map_err(|e| bad(self, &tag, e))?)
            }
            Tag::Boolean => {
                let t = self.text_until(&tag)?;
                Value::Bool(scalar::parse_bool(&t).map_err(|e| bad(self, &tag, e))?)
            }
            Tag::Double => {
                let t = self.text_until(&tag)?;
                Value::Double(scalar::parse_double(&t).map_err(|e| bad(self, &tag, e))?)
            }
            Tag::DateTime => {
                let t = self.text_until(&tag)?;
                Value::DateTime(scalar::parse_datetime(&t).map_err(|e| bad(self, &tag, e))?)
            }
            Tag::Base64 => {
                let t = self.text_until(&tag)?;
                Value::Base64(scalar::parse_base64(&t).map_err(|e| bad(self, &tag, e))?)
            }
            other => {
                return Err(self.unexpected(&Element::Start(other), "a value type element"));
            }
        };
        self.expect_end(Tag::Value)?;
        Ok(Content::Complete(value))
    }

    /// A fault's value: a struct with an integer `faultCode` and a string
    /// `faultString`; other members are ignored.
    fn fault(&self, value: Value) -> Result<Fault, ParseError> {
        let Value::Struct(mut members) = value else {
            return Err(self.invalid(format!(
                "fault value is {}, not a struct",
                value.type_name()
            )));
        };
        let code = match members.get("faultCode") {
            Some(Value::Int(c)) => *c,
            Some(Value::I8(c)) => i32::try_from(*c)
                .map_err(|_| self.invalid(format!("faultCode {c} is out of the int range")))?,
            Some(other) => {
                return Err(self.invalid(format!("faultCode is {}, not int", other.type_name())));
            }
            None => return Err(self.invalid("fault without faultCode")),
        };
        let message = match members.remove("faultString") {
            Some(Value::String(s)) => s,
            Some(other) => {
                return Err(
                    self.invalid(format!("faultString is {}, not string", other.type_name()))
                );
            }
            None => return Err(self.invalid("fault without faultString")),
        };
        Ok(Fault { code, message })
    }
}

enum Content {
    Complete(Value),
    /// `<array><data>` read.
    Array,
    /// `<struct>` read.
    Struct,
}

/// Enough of a text to recognize it in a message.
fn truncate(s: &str) -> Cow<'_, str> {
    match s.char_indices().nth(40) {
        None => Cow::Borrowed(s),
        Some((i, _)) => Cow::Owned(format!("{}…", &s[..i])),
    }
}
