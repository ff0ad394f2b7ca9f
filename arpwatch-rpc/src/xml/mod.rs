//! The XML-RPC wire format: a hardened parser and a writer.
//!
//! The parser reads what Python's `xmlrpc.client` and Perl's RPC::XML write
//! (and the XML-RPC spec allows), and refuses anything that could cost more
//! than the document is worth: documents over a size limit, values nested
//! deeper than a depth limit, and every DTD (so no entity expansion, ever).
//! Whitespace inside strings is data and kept exactly. Work is linear in the
//! document: a hostile document at the default 1 MiB limit (100 000
//! attributes, 130 000 empty values, 200 000 character references...) is
//! parsed or refused in 10–20 ms in a release build.
//!
//! The writer only produces documents that both peers read back as the same
//! value; values XML-RPC cannot carry (NaN, `\0` in a string...) are a
//! [`WriteError`], never invalid XML.
//!
//! ```
//! use arpwatch_rpc::{Limits, MethodCall, Value};
//! use arpwatch_rpc::xml::{parse_call, write_call};
//!
//! let call = MethodCall::new("arpwatch.get_mac", vec![Value::from(" 192.0.2.1 ")]);
//! let doc = write_call(&call).unwrap();
//! assert_eq!(parse_call(&doc, &Limits::default()).unwrap(), call);
//! ```

mod error;
mod lexer;
mod parse;
mod scalar;
mod write;

pub use error::{ParseError, WriteError};

use crate::{Limits, MethodCall, MethodResponse};

/// Parses a `<methodCall>` document.
pub fn parse_call(doc: &[u8], limits: &Limits) -> Result<MethodCall, ParseError> {
    parse::call(doc, limits)
}

/// Parses a `<methodResponse>` document: `Ok(Ok(value))` for a response,
/// `Ok(Err(fault))` for a fault response.
pub fn parse_response(doc: &[u8], limits: &Limits) -> Result<MethodResponse, ParseError> {
    parse::response(doc, limits)
}

/// Writes a `<methodCall>` document (UTF-8, with an XML declaration).
pub fn write_call(call: &MethodCall) -> Result<Vec<u8>, WriteError> {
    write::call(call)
}

/// Writes a `<methodResponse>` document; a fault as the spec's fault struct.
pub fn write_response(resp: &MethodResponse) -> Result<Vec<u8>, WriteError> {
    write::response(resp)
}

/// Whether every character of `s` can travel in an XML-RPC string (XML 1.0
/// forbids most C0 controls, such as `\0` and `\x01`, and U+FFFE/U+FFFF).
pub fn is_legal_text(s: &str) -> bool {
    s.chars().all(lexer::is_xml_char)
}

/// `s` with every character XML 1.0 forbids replaced by U+FFFD, for text
/// from outside XML-RPC (a DHCP client's hostname, a Redis value) that must
/// be sent rather than refused. Borrows when nothing needs replacing.
///
/// ```
/// use arpwatch_rpc::xml::replace_illegal_chars;
///
/// assert_eq!(replace_illegal_chars("host\u{1}a"), "host\u{FFFD}a");
/// assert!(matches!(replace_illegal_chars("ok"), std::borrow::Cow::Borrowed("ok")));
/// ```
pub fn replace_illegal_chars(s: &str) -> std::borrow::Cow<'_, str> {
    if is_legal_text(s) {
        return std::borrow::Cow::Borrowed(s);
    }
    s.chars()
        .map(|c| if lexer::is_xml_char(c) { c } else { '\u{FFFD}' })
        .collect::<String>()
        .into()
}

#[cfg(test)]
mod tests;
