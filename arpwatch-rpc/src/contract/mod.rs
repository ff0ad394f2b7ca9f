//! The method contract between the Kea nodes and ARPwatch, as typed Rust.
//!
//! Two directions, both specified in `docs/protocol.md`:
//!
//! - ARPwatch calls aai ([`AaiRequest`], [`AAI_METHODS`]): `arpwatch.get_mac`,
//!   `arpwatch.get_lease` and the `system.*` introspection and multicall methods.
//! - aae calls ARPwatch ([`ArpwatchNotice`]): `arpwatch.lease_seen` and
//!   `arpwatch.lease_gone`, each carrying one lease struct ([`lease_to_value`]).
//!
//! Everything here turns values into values; nothing does I/O. Bad input from
//! the wire becomes a [`Fault`](crate::Fault) whose message names the method,
//! the parameter and what was wrong with it.

mod aai;
mod lease;
mod notice;
mod spec;

pub use aai::{
    AAI_METHODS, AaiRequest, GET_LEASE, GET_MAC, LIST_METHODS, METHOD_HELP, METHOD_SIGNATURE,
    MULTICALL, ResultError, get_lease_call, get_mac_call, lease_result, mac_result, method_spec,
    parse_lease_result, parse_mac_result,
};
pub use lease::{
    INFINITE_EXPIRES, LeaseValueError, MAX_DATETIME, MIN_DATETIME, lease_from_value, lease_to_value,
};
pub use notice::{ARPWATCH_METHODS, ArpwatchNotice, LEASE_GONE, LEASE_SEEN};
pub use spec::{MethodSpec, Param};
