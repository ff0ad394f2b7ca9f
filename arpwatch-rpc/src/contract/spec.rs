//! Method descriptions and the parameter checks every method shares, so each
//! fault message has the same shape: which method, which parameter, what was
//! wrong, what was expected.

use std::net::IpAddr;

use crate::{Fault, MethodCall, Value, fault_code};

/// One parameter of a method: its name (for messages and docs) and its
/// XML-RPC type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Param {
    pub name: &'static str,
    pub kind: &'static str,
}

/// A method as served or called: what `system.listMethods`,
/// `system.methodSignature` and `system.methodHelp` report, and what argument
/// checking measures a call against.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MethodSpec {
    pub name: &'static str,
    pub params: &'static [Param],
    /// The XML-RPC type of the result; [`MethodSpec::may_return_nil`] says
    /// whether `nil` stands in for "nothing".
    pub returns: &'static str,
    pub may_return_nil: bool,
    pub help: &'static str,
}

impl MethodSpec {
    /// The `system.methodSignature` answer: one signature, return type first.
    pub fn signature(&self) -> Value {
        let sig = std::iter::once(self.returns)
            .chain(self.params.iter().map(|p| p.kind))
            .map(Value::from)
            .collect::<Vec<_>>();
        Value::Array(vec![Value::Array(sig)])
    }

    /// `arpwatch.get_mac(ip: string) -> string | nil`, for messages and docs.
    pub fn usage(&self) -> String {
        let params: Vec<String> = self
            .params
            .iter()
            .map(|p| format!("{}: {}", p.name, p.kind))
            .collect();
        let nil = if self.may_return_nil { " | nil" } else { "" };
        format!(
            "{}({}) -> {}{nil}",
            self.name,
            params.join(", "),
            self.returns
        )
    }

    /// `parameter 1 (ip) of arpwatch.get_mac`: where a bad value was.
    pub(crate) fn context(&self, index: usize) -> String {
        let name = self.params.get(index).map_or("extra", |p| p.name);
        format!("parameter {} ({name}) of {}", index + 1, self.name)
    }

    pub(crate) fn check_arity(&self, call: &MethodCall) -> Result<(), Fault> {
        if call.params.len() == self.params.len() {
            return Ok(());
        }
        let n = self.params.len();
        Err(Fault::new(
            fault_code::INVALID_PARAMS,
            format!(
                "{} takes {n} parameter{}, got {}; usage: {}",
                self.name,
                if n == 1 { "" } else { "s" },
                call.params.len(),
                self.usage()
            ),
        ))
    }

    pub(crate) fn wrong_type(&self, index: usize, got: &Value) -> Fault {
        let want = self.params.get(index).map_or("nothing", |p| p.kind);
        Fault::new(
            fault_code::INVALID_PARAMS,
            format!(
                "{} must be {want}, got {}",
                self.context(index),
                got.type_name()
            ),
        )
    }

    /// The string parameter at `index`; arity must have been checked.
    pub(crate) fn string_param<'a>(
        &self,
        call: &'a MethodCall,
        index: usize,
    ) -> Result<&'a str, Fault> {
        let v = &call.params[index];
        v.as_str().ok_or_else(|| self.wrong_type(index, v))
    }

    /// The IP address parameter at `index`, canonical; arity must have been checked.
    pub(crate) fn ip_param(&self, call: &MethodCall, index: usize) -> Result<IpAddr, Fault> {
        let text = self.string_param(call, index)?;
        lease_model::parse_ip(text).map_err(|e| {
            Fault::new(
                fault_code::INVALID_PARAMS,
                format!("{}: {e}", self.context(index)),
            )
        })
    }
}
