use thiserror::Error;

/// What was wrong with which input. Every variant names the offending input so
/// a log line built from it is actionable on its own.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum Error {
    #[error("invalid hardware address {input:?}: {reason}")]
    InvalidHwAddr { input: String, reason: &'static str },

    #[error("invalid IP address {input:?}: expected dotted IPv4 or RFC 4291 IPv6")]
    InvalidIp { input: String },

    #[error(
        "unknown lease event {input:?}: expected one of select, renew, rebind, release, decline, expire"
    )]
    UnknownEvent { input: String },

    #[error("invalid key prefix {prefix:?}: {reason}")]
    InvalidPrefix {
        prefix: String,
        reason: &'static str,
    },

    #[error(
        "stored lease value is not a valid record ({reason}); it was written by an incompatible version or by hand"
    )]
    InvalidRecord { reason: String },
}
