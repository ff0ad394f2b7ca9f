//! The HTTP side of aai: the connection loop with its limits ([`server`]),
//! the warp routes ([`routes`]), bounded body reading ([`body`]), the
//! client allow-list ([`allow`]) and basic credentials ([`auth`]).

pub mod allow;
pub mod auth;
pub mod body;
pub mod routes;
pub mod server;

use std::sync::Arc;
use std::time::Duration;

use crate::metrics::Metrics;
use crate::rpc::Rpc;
use crate::store::Store;

/// What every request handler shares: read-only after start.
pub struct App {
    pub rpc: Rpc,
    pub store: Store,
    pub metrics: Arc<Metrics>,
    pub max_body_bytes: usize,
    pub body_timeout: Duration,
}
