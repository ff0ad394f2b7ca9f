//! Fault codes: the interoperability set from the "specification for fault
//! code interoperability" (the one Python's and Perl's servers use), plus this
//! project's application codes. `docs/protocol.md` lists them all.

/// The document is not well-formed XML, or breaks a hard limit (size, depth, DTD).
pub const PARSE_ERROR: i32 = -32700;
/// Well-formed XML, but not a `methodCall`.
pub const INVALID_REQUEST: i32 = -32600;
/// No method of that name is served.
pub const METHOD_NOT_FOUND: i32 = -32601;
/// Wrong number or types of parameters, or a parameter that does not parse
/// (an IP address that is not one).
pub const INVALID_PARAMS: i32 = -32602;
/// A bug on the server side; the message says what failed.
pub const INTERNAL_ERROR: i32 = -32603;
/// The lease store (Redis) did not answer in time or refused. Retry later; the
/// server recovers by itself once Redis is back.
pub const STORE_UNAVAILABLE: i32 = -32000;
