//! What can go wrong reading or writing an XML-RPC document.

use crate::Fault;
use crate::fault_code;

/// Why a document was refused. Positions are byte offsets into the document
/// as given (before a byte-order mark was skipped).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ParseError {
    /// Refused before parsing: the document is larger than the limit.
    #[error("document is {size} bytes, over the limit of {limit} bytes")]
    TooLarge { size: usize, limit: usize },
    /// Values nest deeper than the limit.
    #[error("values nested deeper than the limit of {limit}, at byte {position}")]
    TooDeep { limit: usize, position: u64 },
    /// The document has a `<!DOCTYPE`: DTDs, and so entity declarations, are
    /// never processed.
    #[error("document type declarations (<!DOCTYPE) are refused, found at byte {position}")]
    Dtd { position: u64 },
    /// Not well-formed XML: bad syntax, invalid UTF-8, an unknown entity, a
    /// character XML 1.0 forbids, a truncated document.
    #[error("not well-formed XML at byte {position}: {message}")]
    Malformed { position: u64, message: String },
    /// Well-formed XML, but not the XML-RPC document that was expected (or a
    /// value in it does not parse, such as `<int>12x</int>`).
    #[error("not a valid XML-RPC {expected} at byte {position}: {message}")]
    Invalid {
        expected: &'static str,
        position: u64,
        message: String,
    },
}

impl ParseError {
    /// The fault to answer a peer whose document this was: `-32700` (parse
    /// error) for malformed XML and broken limits, `-32600` (invalid request)
    /// for well-formed XML that is not a method call or response.
    pub fn fault(&self) -> Fault {
        let code = match self {
            ParseError::Invalid { .. } => fault_code::INVALID_REQUEST,
            ParseError::TooLarge { .. }
            | ParseError::TooDeep { .. }
            | ParseError::Dtd { .. }
            | ParseError::Malformed { .. } => fault_code::PARSE_ERROR,
        };
        Fault::new(code, self.to_string())
    }
}

/// A value XML-RPC (or XML 1.0) cannot carry; writing it would produce a
/// document no peer reads back as the same value.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum WriteError {
    /// NaN or an infinity: XML-RPC doubles are finite.
    #[error("double {value} is not finite; XML-RPC has no NaN or infinity")]
    NonFiniteDouble { value: f64 },
    /// A character XML 1.0 forbids, such as `\0` or `\x01`, even as a
    /// character reference.
    #[error("{context} holds U+{code:04X} at byte {index}, which XML 1.0 cannot carry", code = u32::from(*ch))]
    IllegalChar {
        context: &'static str,
        ch: char,
        index: usize,
    },
    /// A `DateTime` whose fields are out of range, or whose year has not four
    /// digits.
    #[error("dateTime {value:?} cannot be written as YYYYMMDDTHH:MM:SS")]
    InvalidDateTime { value: crate::DateTime },
    /// An empty method name.
    #[error("method name is empty")]
    EmptyMethodName,
    /// Values nested deeper than [`crate::Limits::HARD_MAX_DEPTH`]; no
    /// parser of this crate would read them back.
    #[error("values nested deeper than {limit}")]
    TooDeep { limit: usize },
}
