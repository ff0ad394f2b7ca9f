//! XML-RPC for the ARPwatch integration: the value model, a hardened codec,
//! the method contract between Kea nodes and ARPwatch, and an async client.
//!
//! This crate knows nothing of Kea, warp or the process it runs in. The wire
//! protocol it implements is specified in `docs/protocol.md`.

#[cfg(feature = "client")]
pub mod client;
pub mod contract;
pub mod fault_code;
mod limits;
mod message;
pub mod multicall;
mod value;
pub mod xml;

pub use limits::Limits;
pub use message::{Fault, MethodCall, MethodResponse};
pub use value::{DateTime, Struct, Value};
