//! What SIGHUP re-reads: the TLS files and the credentials file. Each lives
//! in a [`Swap`]: a connection takes the current value when it starts its
//! handshake (or a request when its headers are in), so a reload never
//! touches a connection already open, and a file that fails to load leaves
//! the old value in place. Everything else in the configuration is read
//! only at start.

use std::sync::{Arc, RwLock};

use rustls::ServerConfig;

use crate::http::auth::{Credentials, CredentialsFile};
use crate::tls::{Tls, TlsFiles};

/// A value that is replaced whole, read often and written rarely.
pub struct Swap<T>(RwLock<Arc<T>>);

impl<T> Swap<T> {
    pub fn new(v: Arc<T>) -> Self {
        Swap(RwLock::new(v))
    }

    /// The current value; holding it keeps it alive across a swap.
    pub fn get(&self) -> Arc<T> {
        // A panic while holding the lock cannot leave the Arc half-written.
        self.0.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    pub fn set(&self, v: Arc<T>) {
        *self.0.write().unwrap_or_else(|e| e.into_inner()) = v;
    }
}

/// The reloadable parts, shared by the listeners and the SIGHUP handler.
#[derive(Clone, Default)]
pub struct Reloadable {
    pub tls: Option<(TlsFiles, Arc<Swap<ServerConfig>>)>,
    pub credentials: Option<(std::path::PathBuf, Arc<Swap<Credentials>>)>,
}

impl Reloadable {
    pub fn new(tls: Option<&Tls>, credentials: Option<&CredentialsFile>) -> Self {
        Reloadable {
            tls: tls.map(|t| (t.files.clone(), Arc::new(Swap::new(t.config.clone())))),
            credentials: credentials
                .map(|c| (c.path.clone(), Arc::new(Swap::new(c.loaded.clone())))),
        }
    }

    /// Re-reads every file; logs what changed and what was kept.
    pub fn reload(&self) {
        if self.tls.is_none() && self.credentials.is_none() {
            log::info!(
                "SIGHUP: nothing to reload (no tls-cert, no credentials-file); \
                 other settings are read only at start: restart aai to apply them"
            );
            return;
        }
        if let Some((files, swap)) = &self.tls {
            match files.load() {
                Ok(config) => {
                    swap.set(config);
                    log::info!(
                        "SIGHUP: reloaded {}; new connections use it, open ones keep theirs",
                        files.describe()
                    );
                }
                Err(e) => log::warn!(
                    "SIGHUP: keeping the TLS certificate in use: `{}` {e}",
                    e.key
                ),
            }
        }
        if let Some((path, swap)) = &self.credentials {
            match Credentials::load(path) {
                Ok(c) => {
                    let n = c.len();
                    swap.set(Arc::new(c));
                    log::info!(
                        "SIGHUP: reloaded credentials-file {} ({n} users)",
                        path.display()
                    );
                }
                Err(e) => log::warn!(
                    "SIGHUP: keeping the credentials in use: `credentials-file` {}: {e}",
                    path.display()
                ),
            }
        }
        log::info!("SIGHUP: other settings are read only at start: restart aai to apply them");
    }
}
