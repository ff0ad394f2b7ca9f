//! aae, the ARPwatch exporter: a Kea hooks library (`libdhcp_aae.so`).
//!
//! Data flows one way: Kea callout → [`kea`] (the only code that knows C++)
//! → a plain [`lease_model::Lease`] → [`engine::Exporter::submit`] (never
//! blocks) → worker threads → sinks (Redis, ARPwatch). See ARCHITECTURE.md.

pub mod config;
pub mod engine;
mod kea;
pub mod messages;
