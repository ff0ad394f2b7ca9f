//! The Kea border: cxx bridge and exported entry points (being written).

use crate::messages::Message;
use std::fmt;

/// Routes a message to Kea's logger once loaded inside Kea, to stderr otherwise.
pub(crate) fn log(msg: Message, text: fmt::Arguments<'_>) {
    eprintln!("{:?} {} {}", msg.severity, msg.id, text);
}
