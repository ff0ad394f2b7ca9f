//! `system.multicall`: several calls in one request, as the de-facto
//! specification has it (and Python's `xmlrpc` implements it).
//!
//! The request has one parameter, an array of structs
//! `{methodName: string, params: array}`. The response is an array with one
//! element per call, in order: a one-element array holding the value, or a
//! fault struct `{faultCode: int, faultString: string}`.
//!
//! Plain value conversions in both directions; the client uses the first pair
//! ([`encode_calls`], [`decode_results`]), a server the second
//! ([`decode_calls`], [`encode_results`]).

use thiserror::Error;

use crate::{Fault, MethodCall, MethodResponse, Struct, Value, fault_code};

/// The method name.
pub const METHOD: &str = "system.multicall";

const METHOD_NAME: &str = "methodName";
const PARAMS: &str = "params";
const FAULT_CODE: &str = "faultCode";
const FAULT_STRING: &str = "faultString";

/// One `system.multicall` call carrying `calls`.
pub fn encode_calls(calls: &[MethodCall]) -> MethodCall {
    let entries = calls
        .iter()
        .map(|c| {
            Value::Struct(Struct::from([
                (METHOD_NAME.to_owned(), Value::from(c.method.as_str())),
                (PARAMS.to_owned(), Value::Array(c.params.clone())),
            ]))
        })
        .collect();
    MethodCall::new(METHOD, vec![Value::Array(entries)])
}

/// A `system.multicall` result that is not an array of one-element arrays
/// and fault structs.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
#[error("malformed system.multicall result{}: {reason}", at(*.index))]
pub struct MulticallError {
    /// The offending element, or `None` when the whole result is wrong.
    pub index: Option<usize>,
    pub reason: String,
}

fn at(index: Option<usize>) -> String {
    index.map_or_else(String::new, |i| format!(" (element {i})"))
}

/// Reads the value a `system.multicall` call returned: one response per call.
/// The caller should check the count against the calls it sent.
pub fn decode_results(value: Value) -> Result<Vec<MethodResponse>, MulticallError> {
    let Value::Array(elements) = value else {
        return Err(MulticallError {
            index: None,
            reason: format!("expected an array, got {}", value.type_name()),
        });
    };
    elements
        .into_iter()
        .enumerate()
        .map(|(i, element)| {
            let bad = |reason: String| MulticallError {
                index: Some(i),
                reason,
            };
            match element {
                Value::Array(mut one) if one.len() == 1 => Ok(Ok(one.remove(0))),
                Value::Array(other) => Err(bad(format!(
                    "expected a one-element array, got {} elements",
                    other.len()
                ))),
                Value::Struct(s) => fault_from_struct(&s).map(Err).map_err(bad),
                other => Err(bad(format!(
                    "expected a one-element array or a fault struct, got {}",
                    other.type_name()
                ))),
            }
        })
        .collect()
}

fn fault_from_struct(s: &Struct) -> Result<Fault, String> {
    let code = s.get(FAULT_CODE).and_then(Value::as_i64);
    let message = s.get(FAULT_STRING).and_then(Value::as_str);
    match (code.and_then(|c| i32::try_from(c).ok()), message) {
        (Some(code), Some(message)) => Ok(Fault::new(code, message)),
        _ => Err("a struct must be a fault {faultCode: int, faultString: string}".to_owned()),
    }
}

/// Server side: the calls inside a `system.multicall` call's parameters.
///
/// The whole call faults (`-32602`) only when its parameters are not exactly
/// one array. A malformed entry (not a struct, no string `methodName`, no
/// array `params`) or a nested `system.multicall` becomes that entry's own
/// `-32602` fault, so the other entries still run, as in Python's server.
pub fn decode_calls(params: Vec<Value>) -> Result<Vec<Result<MethodCall, Fault>>, Fault> {
    let got = params.len();
    let mut params = params.into_iter();
    let entries = match (params.next(), got) {
        (Some(Value::Array(entries)), 1) => entries,
        (Some(other), 1) => {
            return Err(Fault::new(
                fault_code::INVALID_PARAMS,
                format!(
                    "parameter 1 (calls) of {METHOD} must be an array of structs {{methodName, params}}, got {}",
                    other.type_name()
                ),
            ));
        }
        _ => {
            return Err(Fault::new(
                fault_code::INVALID_PARAMS,
                format!(
                    "{METHOD} takes 1 parameter (an array of structs {{methodName, params}}), got {got}"
                ),
            ));
        }
    };
    Ok(entries
        .into_iter()
        .enumerate()
        .map(|(i, entry)| decode_entry(i, entry))
        .collect())
}

fn decode_entry(i: usize, entry: Value) -> Result<MethodCall, Fault> {
    let bad = |what: String| {
        Fault::new(
            fault_code::INVALID_PARAMS,
            format!("{METHOD} entry {i}: {what}"),
        )
    };
    let Value::Struct(mut s) = entry else {
        return Err(bad(format!(
            "must be a struct {{methodName, params}}, got {}",
            entry.type_name()
        )));
    };
    let method = match s.remove(METHOD_NAME) {
        Some(Value::String(m)) => m,
        Some(other) => {
            return Err(bad(format!(
                "methodName must be a string, got {}",
                other.type_name()
            )));
        }
        None => return Err(bad("has no methodName".to_owned())),
    };
    if method == METHOD {
        return Err(bad(format!("calls {METHOD} itself; nesting is refused")));
    }
    match s.remove(PARAMS) {
        Some(Value::Array(params)) => Ok(MethodCall { method, params }),
        Some(other) => Err(bad(format!(
            "params of {method} must be an array, got {}",
            other.type_name()
        ))),
        None => Err(bad(format!("call to {method} has no params member"))),
    }
}

/// Server side: the `system.multicall` result for the responses, in order.
pub fn encode_results(results: Vec<MethodResponse>) -> Value {
    Value::Array(
        results
            .into_iter()
            .map(|r| match r {
                Ok(v) => Value::Array(vec![v]),
                Err(f) => Value::Struct(Struct::from([
                    (FAULT_CODE.to_owned(), Value::Int(f.code)),
                    (FAULT_STRING.to_owned(), Value::String(f.message)),
                ])),
            })
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn calls() -> Vec<MethodCall> {
        vec![
            MethodCall::new("a", vec![Value::Int(1)]),
            MethodCall::new("b", vec![]),
        ]
    }

    #[test]
    fn calls_round_trip() {
        let mc = encode_calls(&calls());
        assert_eq!(mc.method, METHOD);
        let back: Vec<MethodCall> = decode_calls(mc.params)
            .unwrap()
            .into_iter()
            .map(Result::unwrap)
            .collect();
        assert_eq!(back, calls());
    }

    #[test]
    fn results_round_trip() {
        let results = vec![
            Ok(Value::Nil),
            Err(Fault::new(-32601, "no")),
            Ok(Value::Array(vec![])),
        ];
        assert_eq!(
            decode_results(encode_results(results.clone())).unwrap(),
            results
        );
    }
}
