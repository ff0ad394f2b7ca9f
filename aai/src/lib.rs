//! aai, the ARPwatch interface: a small daemon that answers ARPwatch's
//! XML-RPC lookups ("which MAC holds the lease for this IP?") from the Redis
//! cache the Kea hook (aae) fills. The protocol is `docs/protocol.md`, the
//! Redis layout `docs/redis-schema.md`, the configuration
//! `docs/configuration.md`.
//!
//! Map: [`cli`] and [`config`] read what the operator asked for;
//! [`daemon`] wires the parts; [`http`] is the HTTP side (connections,
//! limits, warp routes); [`rpc`] answers the methods; [`store`] reads Redis;
//! [`metrics`], [`logging`] and [`systemd`] are the operational surface;
//! [`query`] is the operator's client; [`tls`] and [`reload`] are the TLS
//! files and what SIGHUP re-reads.
//!
//! Invariants: every request is answered within the header, body and Redis
//! bounds; a bad request never affects the next one; nothing on the request
//! path blocks a thread.

pub mod cli;
pub mod config;
pub mod daemon;
pub mod http;
pub mod logging;
pub mod metrics;
pub mod query;
pub mod reload;
pub mod rpc;
pub mod secret;
pub mod store;
pub mod systemd;
pub mod tls;
