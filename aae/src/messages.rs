//! Every log message aae can emit, defined once with its ID and severity, the
//! way Kea's `.mes` files do it, so operators can grep and filter by ID.
//!
//! Inside Kea the lines go through Kea's own logger (see [`crate::kea`]);
//! elsewhere (unit tests) to stderr.

use std::fmt;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    Debug,
    Info,
    Warn,
    Error,
}

/// One message: a stable ID and a severity. The text is formatted by the caller.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Message {
    pub id: &'static str,
    pub severity: Severity,
}

macro_rules! messages {
    ($($name:ident = $severity:ident, $doc:literal;)*) => {
        $(#[doc = $doc] pub const $name: Message = Message { id: stringify!($name), severity: Severity::$severity };)*
        /// Every message, for registration with Kea's logger and for docs.
        pub const ALL: &[(Message, &str)] = &[$(($name, $doc)),*];
    };
}

messages! {
    AAE_LOAD_OK = Info, "the hook loaded and its workers started";
    AAE_LOAD_FAILED = Error, "the hook refused to load; the text names the bad parameter";
    AAE_UNLOAD = Info, "the hook stopped its workers and unloaded";
}

/// Emits `text` under `msg`. Never panics and never blocks on I/O beyond the
/// logger's own write.
pub fn emit(msg: Message, text: fmt::Arguments<'_>) {
    crate::kea::log(msg, text);
}
