//! What ARPwatch may ask aai: the requests, their descriptions and their
//! result values.

use std::net::IpAddr;

use lease_model::{HwAddr, LeaseRecord};
use thiserror::Error;

use super::lease::{lease_from_value, lease_to_value};
use super::spec::{MethodSpec, Param};
use crate::{Fault, MethodCall, MethodResponse, Value, fault_code, multicall};

pub const GET_MAC: &str = "arpwatch.get_mac";
pub const GET_LEASE: &str = "arpwatch.get_lease";
pub const LIST_METHODS: &str = "system.listMethods";
pub const METHOD_HELP: &str = "system.methodHelp";
pub const METHOD_SIGNATURE: &str = "system.methodSignature";
pub const MULTICALL: &str = multicall::METHOD;

const IP: Param = Param {
    name: "ip",
    kind: "string",
};
const METHOD_NAME: Param = Param {
    name: "name",
    kind: "string",
};

/// Every method aai serves, sorted by name (the `system.listMethods` order).
pub const AAI_METHODS: &[MethodSpec] = &[
    MethodSpec {
        name: GET_LEASE,
        params: &[IP],
        returns: "struct",
        may_return_nil: true,
        help: "The lease currently valid for an IPv4 or IPv6 address, as a lease struct \
               (ip, mac, cltt, expires, valid_lifetime, hostname, subnet_id, event, node), \
               or nil when no DHCP node holds a valid lease for it.",
    },
    MethodSpec {
        name: GET_MAC,
        params: &[IP],
        returns: "string",
        may_return_nil: true,
        help: "The MAC address (lowercase, colon-separated) holding a valid lease for an \
               IPv4 or IPv6 address, or nil when there is none.",
    },
    MethodSpec {
        name: LIST_METHODS,
        params: &[],
        returns: "array",
        may_return_nil: false,
        help: "The names of all methods this server serves.",
    },
    MethodSpec {
        name: METHOD_HELP,
        params: &[METHOD_NAME],
        returns: "string",
        may_return_nil: false,
        help: "What a method does, its parameters and its result.",
    },
    MethodSpec {
        name: METHOD_SIGNATURE,
        params: &[METHOD_NAME],
        returns: "array",
        may_return_nil: false,
        help: "The signatures of a method: an array of arrays of type names, return type first.",
    },
    MethodSpec {
        name: MULTICALL,
        params: &[Param {
            name: "calls",
            kind: "array",
        }],
        returns: "array",
        may_return_nil: false,
        help: "Runs several calls in one request. Each call is a struct {methodName, params}; \
               each result is a one-element array holding the value, or a fault struct \
               {faultCode, faultString}. Calls to system.multicall inside it are refused.",
    },
];

/// The description of a method aai serves, by name.
pub fn method_spec(name: &str) -> Option<&'static MethodSpec> {
    AAI_METHODS.iter().find(|m| m.name == name)
}

/// One call to aai, checked and typed.
#[derive(Clone, Debug, PartialEq)]
pub enum AaiRequest {
    /// `arpwatch.get_mac(ip)`; the address is canonical (see `lease_model::parse_ip`).
    GetMac(IpAddr),
    /// `arpwatch.get_lease(ip)`; the address is canonical.
    GetLease(IpAddr),
    /// `system.listMethods()`.
    ListMethods,
    /// `system.methodHelp(name)` for a method that exists.
    MethodHelp(&'static MethodSpec),
    /// `system.methodSignature(name)` for a method that exists.
    MethodSignature(&'static MethodSpec),
    /// `system.multicall(calls)`, checked entry by entry: a malformed entry, an
    /// unknown method or a bad parameter is that entry's fault, not the whole
    /// call's (as Python's server does it). Never holds a `Multicall`.
    Multicall(Vec<Result<AaiRequest, Fault>>),
}

impl AaiRequest {
    /// Checks a call against [`AAI_METHODS`]. Faults: `-32601` for a method aai
    /// does not serve; `-32602` for the wrong number or type of parameters, an
    /// address that does not parse, or a help request for an unknown method;
    /// the message names the parameter and what was expected.
    pub fn from_call(call: MethodCall) -> Result<AaiRequest, Fault> {
        let Some(spec) = method_spec(&call.method) else {
            return Err(Fault::new(
                fault_code::METHOD_NOT_FOUND,
                format!(
                    "no method {:?} is served here; system.listMethods lists them: {}",
                    call.method,
                    names().join(", ")
                ),
            ));
        };
        spec.check_arity(&call)?;
        match spec.name {
            GET_MAC => Ok(AaiRequest::GetMac(spec.ip_param(&call, 0)?)),
            GET_LEASE => Ok(AaiRequest::GetLease(spec.ip_param(&call, 0)?)),
            LIST_METHODS => Ok(AaiRequest::ListMethods),
            METHOD_HELP => Ok(AaiRequest::MethodHelp(described(spec, &call)?)),
            METHOD_SIGNATURE => Ok(AaiRequest::MethodSignature(described(spec, &call)?)),
            MULTICALL => {
                let entries = multicall::decode_calls(call.params)?;
                Ok(AaiRequest::Multicall(
                    entries
                        .into_iter()
                        .map(|entry| entry.and_then(AaiRequest::from_call))
                        .collect(),
                ))
            }
            other => unreachable!("{other} is in AAI_METHODS but not dispatched"),
        }
    }

    /// The answer to a request that needs no lease store (the `system.*`
    /// introspection methods); `None` for `GetMac`, `GetLease` and `Multicall`,
    /// which the server answers itself.
    pub fn answer_introspection(&self) -> Option<MethodResponse> {
        match self {
            AaiRequest::ListMethods => Some(Ok(Value::Array(
                names().into_iter().map(Value::from).collect(),
            ))),
            AaiRequest::MethodHelp(spec) => {
                Some(Ok(format!("{}\n\n{}", spec.usage(), spec.help).into()))
            }
            AaiRequest::MethodSignature(spec) => Some(Ok(spec.signature())),
            AaiRequest::GetMac(_) | AaiRequest::GetLease(_) | AaiRequest::Multicall(_) => None,
        }
    }
}

fn names() -> Vec<&'static str> {
    AAI_METHODS.iter().map(|m| m.name).collect()
}

/// The method named by the single string parameter of `system.methodHelp`
/// or `system.methodSignature`.
fn described(spec: &MethodSpec, call: &MethodCall) -> Result<&'static MethodSpec, Fault> {
    let name = spec.string_param(call, 0)?;
    method_spec(name).ok_or_else(|| {
        Fault::new(
            fault_code::INVALID_PARAMS,
            format!(
                "{}: no method {name:?} is served here; system.listMethods lists them",
                spec.context(0)
            ),
        )
    })
}

/// The `arpwatch.get_mac` result: the MAC in lowercase colon form, or nil.
pub fn mac_result(mac: Option<HwAddr>) -> Value {
    mac.map(|m| m.to_string()).into()
}

/// The `arpwatch.get_lease` result: the lease struct, or nil.
pub fn lease_result(record: Option<&LeaseRecord>) -> Value {
    record.map_or(Value::Nil, lease_to_value)
}

/// The call ARPwatch (or a test) makes to ask for a MAC.
pub fn get_mac_call(ip: IpAddr) -> MethodCall {
    MethodCall::new(GET_MAC, vec![ip.to_string().into()])
}

/// The call ARPwatch (or a test) makes to ask for a lease.
pub fn get_lease_call(ip: IpAddr) -> MethodCall {
    MethodCall::new(GET_LEASE, vec![ip.to_string().into()])
}

/// A result that does not have the shape the contract promises.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
#[error("{method} returned something the protocol does not allow: {reason}")]
pub struct ResultError {
    pub method: &'static str,
    pub reason: String,
}

/// Reads an `arpwatch.get_mac` result: `None` for nil.
pub fn parse_mac_result(v: &Value) -> Result<Option<HwAddr>, ResultError> {
    let bad = |reason: String| ResultError {
        method: GET_MAC,
        reason,
    };
    match v {
        Value::Nil => Ok(None),
        Value::String(s) => s.parse().map(Some).map_err(|e| bad(format!("{e}"))),
        other => Err(bad(format!(
            "expected a string or nil, got {}",
            other.type_name()
        ))),
    }
}

/// Reads an `arpwatch.get_lease` result: `None` for nil.
pub fn parse_lease_result(v: &Value) -> Result<Option<LeaseRecord>, ResultError> {
    match v {
        Value::Nil => Ok(None),
        v => lease_from_value(v).map(Some).map_err(|e| ResultError {
            method: GET_LEASE,
            reason: e.to_string(),
        }),
    }
}
