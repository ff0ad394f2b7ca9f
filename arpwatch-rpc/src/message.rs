//! Calls, responses and faults: the envelopes around [`Value`]s.

use std::fmt;

use crate::Value;

/// A `<methodCall>`.
#[derive(Clone, Debug, PartialEq)]
pub struct MethodCall {
    pub method: String,
    pub params: Vec<Value>,
}

impl MethodCall {
    pub fn new(method: impl Into<String>, params: Vec<Value>) -> Self {
        MethodCall {
            method: method.into(),
            params,
        }
    }
}

/// A `<methodResponse>`: one value, or a fault.
pub type MethodResponse = Result<Value, Fault>;

/// An XML-RPC fault: a code from [`crate::fault_code`] and a message a human can act on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fault {
    pub code: i32,
    pub message: String,
}

impl Fault {
    pub fn new(code: i32, message: impl Into<String>) -> Self {
        Fault {
            code,
            message: message.into(),
        }
    }
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "XML-RPC fault {}: {}", self.code, self.message)
    }
}

impl std::error::Error for Fault {}
