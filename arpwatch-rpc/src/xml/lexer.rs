//! The XML layer under the XML-RPC grammar: turns quick-xml's events into
//! the few tokens the grammar needs, and enforces what XML itself requires
//! and quick-xml leaves to its caller (no DTD, known entities only, legal
//! characters, a single root element, a complete document).

use std::borrow::Cow;

use quick_xml::escape::resolve_predefined_entity;
use quick_xml::events::{BytesStart, Event};
use quick_xml::name::QName;
use quick_xml::{Reader, XmlVersion};

use super::ParseError;

/// The element names of XML-RPC. Anything else is [`Tag::Other`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Tag {
    MethodCall,
    MethodResponse,
    MethodName,
    Params,
    Param,
    Fault,
    Value,
    String,
    Int,
    I4,
    I8,
    Boolean,
    Double,
    DateTime,
    Base64,
    Struct,
    Member,
    Name,
    Array,
    Data,
    Nil,
    Other(String),
}

impl Tag {
    fn from_name(qname: QName<'_>) -> Tag {
        match qname.as_ref() {
            "methodCall" => Tag::MethodCall,
            "methodResponse" => Tag::MethodResponse,
            "methodName" => Tag::MethodName,
            "params" => Tag::Params,
            "param" => Tag::Param,
            "fault" => Tag::Fault,
            "value" => Tag::Value,
            "string" => Tag::String,
            "int" => Tag::Int,
            "i4" => Tag::I4,
            "boolean" => Tag::Boolean,
            "double" => Tag::Double,
            "dateTime.iso8601" => Tag::DateTime,
            "base64" => Tag::Base64,
            "struct" => Tag::Struct,
            "member" => Tag::Member,
            "name" => Tag::Name,
            "array" => Tag::Array,
            "data" => Tag::Data,
            // The extension types are written with a namespace prefix by
            // Apache XML-RPC (`<ex:nil/>`, `<ex:i8>`); the prefix carries no
            // meaning for us.
            _ => match qname.local_name().as_ref() {
                "nil" => Tag::Nil,
                "i8" => Tag::I8,
                other => Tag::Other(other.to_owned()),
            },
        }
    }

    /// The name as written in XML-RPC, for messages.
    pub(crate) fn name(&self) -> &str {
        match self {
            Tag::MethodCall => "methodCall",
            Tag::MethodResponse => "methodResponse",
            Tag::MethodName => "methodName",
            Tag::Params => "params",
            Tag::Param => "param",
            Tag::Fault => "fault",
            Tag::Value => "value",
            Tag::String => "string",
            Tag::Int => "int",
            Tag::I4 => "i4",
            Tag::I8 => "i8",
            Tag::Boolean => "boolean",
            Tag::Double => "double",
            Tag::DateTime => "dateTime.iso8601",
            Tag::Base64 => "base64",
            Tag::Struct => "struct",
            Tag::Member => "member",
            Tag::Name => "name",
            Tag::Array => "array",
            Tag::Data => "data",
            Tag::Nil => "nil",
            Tag::Other(name) => name,
        }
    }
}

/// One token of the document inside the root element (and the root itself).
#[derive(Debug)]
pub(crate) enum Tok<'a> {
    Start(Tag),
    /// quick-xml has already checked it closes the innermost open element.
    End(Tag),
    /// A piece of character data: text, a resolved reference, or CDATA.
    /// Adjacent pieces belong together; line ends are normalized.
    Text(Cow<'a, str>),
    /// The document ended after its root element closed.
    Eof,
}

pub(crate) struct Lexer<'a> {
    reader: Reader<&'a [u8]>,
    /// Offset of the document start in the caller's bytes (a skipped BOM).
    base: u64,
    /// Elements open now.
    open: usize,
    root_closed: bool,
    first_event: bool,
    has_non_ascii: bool,
}

impl<'a> Lexer<'a> {
    /// `doc` must already be valid UTF-8 without a byte-order mark; `base` is
    /// the number of bytes skipped before it.
    pub(crate) fn new(doc: &'a str, base: u64) -> Self {
        let mut reader = Reader::from_str(doc);
        let config = reader.config_mut();
        // `<nil/>` must look the same to the grammar as `<nil></nil>`.
        config.expand_empty_elements = true;
        config.check_end_names = true;
        config.check_comments = true;
        config.allow_dangling_amp = false;
        config.allow_unmatched_ends = false;
        // Whitespace inside strings is data; between elements the grammar
        // skips it itself.
        config.trim_text(false);
        Lexer {
            reader,
            base,
            open: 0,
            root_closed: false,
            first_event: true,
            has_non_ascii: !doc.is_ascii(),
        }
    }

    /// Byte offset (in the caller's document) of the last token read.
    pub(crate) fn position(&self) -> u64 {
        self.base + self.reader.buffer_position()
    }

    fn malformed(&self, position: u64, message: impl Into<String>) -> ParseError {
        ParseError::Malformed {
            position,
            message: message.into(),
        }
    }

    pub(crate) fn next(&mut self) -> Result<Tok<'a>, ParseError> {
        loop {
            let start = self.position();
            let event = self.reader.read_event().map_err(|e| {
                let position = self.base + self.reader.error_position();
                self.malformed(position, e.to_string())
            })?;
            let first = std::mem::replace(&mut self.first_event, false);
            match event {
                Event::Start(e) => {
                    if self.root_closed {
                        return Err(self.malformed(start, "a second root element"));
                    }
                    check_attributes(&e).map_err(|m| self.malformed(start, m))?;
                    self.open += 1;
                    return Ok(Tok::Start(Tag::from_name(e.name())));
                }
                Event::End(e) => {
                    // quick-xml refuses unmatched end tags, so this never
                    // saturates; no input may make the parser panic.
                    self.open = self.open.saturating_sub(1);
                    if self.open == 0 {
                        self.root_closed = true;
                    }
                    return Ok(Tok::End(Tag::from_name(e.name())));
                }
                // Not produced with `expand_empty_elements`; an error rather
                // than a panic should that ever change.
                Event::Empty(_) => {
                    return Err(self.malformed(start, "unexpanded empty element"));
                }
                Event::Text(t) => {
                    let text = t.xml10_content();
                    check_chars(&text).map_err(|m| self.malformed(start, m))?;
                    if self.open == 0 {
                        if !is_xml_whitespace(&text) {
                            return Err(self.malformed(start, "text outside the root element"));
                        }
                        continue;
                    }
                    return Ok(Tok::Text(text));
                }
                Event::CData(c) => {
                    if self.open == 0 {
                        return Err(self.malformed(start, "CDATA outside the root element"));
                    }
                    let text = c.xml10_content();
                    check_chars(&text).map_err(|m| self.malformed(start, m))?;
                    return Ok(Tok::Text(text));
                }
                Event::GeneralRef(r) => {
                    if self.open == 0 {
                        return Err(self.malformed(start, "a reference outside the root element"));
                    }
                    let resolved = match r.resolve_char_ref() {
                        Ok(Some(ch)) => {
                            if !is_xml_char(ch) {
                                return Err(self.malformed(
                                    start,
                                    format!(
                                        "character reference &{}; to U+{:04X}, which XML 1.0 forbids",
                                        &*r,
                                        u32::from(ch)
                                    ),
                                ));
                            }
                            Cow::Owned(ch.to_string())
                        }
                        Ok(None) => match resolve_predefined_entity(&r) {
                            Some(s) => Cow::Borrowed(s),
                            None => {
                                return Err(self.malformed(
                                    start,
                                    format!(
                                        "unknown entity &{};: only the five predefined entities are known, DTDs are refused",
                                        &*r
                                    ),
                                ));
                            }
                        },
                        Err(e) => {
                            return Err(self.malformed(
                                start,
                                format!("bad character reference &{};: {e}", &*r),
                            ));
                        }
                    };
                    return Ok(Tok::Text(resolved));
                }
                Event::Comment(_) | Event::PI(_) => continue,
                Event::Decl(d) => {
                    if !first {
                        return Err(self
                            .malformed(start, "XML declaration not at the start of the document"));
                    }
                    if let Some(enc) = d.encoding() {
                        let enc = enc.map_err(|e| self.malformed(start, e.to_string()))?;
                        // Another encoding would misread non-ASCII bytes.
                        let foreign = !["utf-8", "utf8", "us-ascii", "ascii"]
                            .iter()
                            .any(|ok| enc.eq_ignore_ascii_case(ok));
                        if foreign && self.has_non_ascii {
                            return Err(self.malformed(
                                start,
                                format!(
                                    "declared encoding {enc:?} with non-ASCII content: only UTF-8 is read"
                                ),
                            ));
                        }
                    }
                    continue;
                }
                Event::DocType(_) => return Err(ParseError::Dtd { position: start }),
                Event::Eof => {
                    if !self.root_closed {
                        return Err(self.malformed(
                            start,
                            if self.open == 0 {
                                "no root element"
                            } else {
                                "document ends inside an element (truncated?)"
                            },
                        ));
                    }
                    return Ok(Tok::Eof);
                }
            }
        }
    }

    /// Reads the rest of the document, for its first XML-level error. Used
    /// after the grammar refused a token, so that a document that is also
    /// malformed further on is reported as malformed.
    pub(crate) fn drain(&mut self) -> Result<(), ParseError> {
        while !matches!(self.next()?, Tok::Eof) {}
        Ok(())
    }
}

/// Attributes carry no meaning in XML-RPC, but a malformed one makes the
/// document malformed.
fn check_attributes(e: &BytesStart<'_>) -> Result<(), String> {
    for attr in e.attributes().with_checks(true) {
        let attr = attr.map_err(|err| format!("bad attribute: {err}"))?;
        // Resolving the value finds unknown entities and bad references.
        attr.normalized_value(XmlVersion::Implicit1_0)
            .map_err(|err| format!("bad attribute value: {err}"))?;
    }
    Ok(())
}

/// XML 1.0's `Char` production; Rust's `char` already excludes surrogates.
pub(crate) fn is_xml_char(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..)
}

fn check_chars(text: &str) -> Result<(), String> {
    match text.char_indices().find(|&(_, c)| !is_xml_char(c)) {
        None => Ok(()),
        Some((i, c)) => Err(format!(
            "U+{:04X} at offset {i} of a text is not allowed in XML 1.0",
            u32::from(c)
        )),
    }
}

/// XML's `S` production.
pub(crate) fn is_xml_whitespace(text: &str) -> bool {
    text.bytes()
        .all(|b| matches!(b, b' ' | b'\t' | b'\n' | b'\r'))
}
