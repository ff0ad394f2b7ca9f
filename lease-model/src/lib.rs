//! The lease, as the ARPwatch integration sees it, and its Redis representation.
//!
//! This crate is the single definition shared by the writer (`aae`, inside Kea)
//! and the reader (`aai`, the lookup daemon). It does no I/O and knows nothing of
//! Kea, Redis clients or XML-RPC: it turns values into values, so both sides agree
//! on keys, values and expiry by construction rather than by convention.
//!
//! - [`Lease`] and its parts ([`HwAddr`], [`Hostname`], [`LeaseEvent`]) model
//!   what Kea reports.
//! - [`LeaseRecord`] is a lease plus the DHCP node that saw it: what is stored
//!   and what ARPwatch is told.
//! - [`RedisSchema`] maps a record to one Redis write ([`RedisWrite`]) and a
//!   stored value back to a record. The format is specified in
//!   `docs/redis-schema.md`.
//! - [`newest`] is the rule by which several writers of one Redis agree
//!   (the newest lease wins), and [`NEWEST_WINS_SCRIPT`], the Lua script
//!   that applies it in Redis.

mod error;
mod hostname;
mod hwaddr;
mod ip;
mod lease;
pub mod newest;
mod redis;

pub use error::Error;
pub use hostname::Hostname;
pub use hwaddr::HwAddr;
pub use ip::{canonical_ip, parse_ip};
pub use lease::{INFINITE_LIFETIME, Lease, LeaseEvent, LeaseRecord, unix_now};
pub use newest::{NEWEST_WINS_SCRIPT, SCRIPT_APPLIED, SCRIPT_REFUSED, ScriptCall};
pub use redis::{DEFAULT_GRACE_SECS, DEFAULT_KEY_PREFIX, RedisSchema, RedisWrite, SkipReason};
