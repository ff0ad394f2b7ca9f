//! A `redis::Client` for a URL and what reaching Redis may take beyond it.

/// Secrets and TLS material for Redis, read from their files at start (by
/// the program, with `secrets::read_file` for the secret ones).
#[derive(Clone, Default, PartialEq, Eq)]
pub struct RedisAccess {
    /// The ACL user's password; replaces any password in the URL.
    pub password: Option<String>,
    /// PEM: the CAs a `rediss://` server's certificate must chain to,
    /// instead of the system's.
    pub ca_pem: Option<Vec<u8>>,
    /// PEM client certificate and key, for a Redis with `tls-auth-clients`.
    pub client_pem: Option<(Vec<u8>, Vec<u8>)>,
    /// The sentinels' password (their `requirepass`), for a Sentinel
    /// endpoint; never sent to a data node.
    pub sentinel_password: Option<String>,
}

impl std::fmt::Debug for RedisAccess {
    /// Says what is there, never what it is.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisAccess")
            .field("password", &self.password.as_ref().map(|_| "(secret)"))
            .field("ca_pem", &self.ca_pem.as_ref().map(Vec::len))
            .field("client_pem", &self.client_pem.as_ref().map(|_| "(secret)"))
            .field(
                "sentinel_password",
                &self.sentinel_password.as_ref().map(|_| "(secret)"),
            )
            .finish()
    }
}

/// A client for `url` with what `access` adds: the password, and for
/// `rediss://` the CA and client certificate given (the system's CAs
/// otherwise). Connects to nothing.
pub fn redis_client(url: &str, access: &RedisAccess) -> Result<redis::Client, redis::RedisError> {
    use redis::IntoConnectionInfo;
    client_for(url.into_connection_info()?, access)
}

/// The same for a server named by its parts (one a sentinel named).
pub(crate) fn client_for(
    mut info: redis::ConnectionInfo,
    access: &RedisAccess,
) -> Result<redis::Client, redis::RedisError> {
    if let Some(password) = &access.password {
        let settings = info.redis_settings().clone().set_password(password);
        info = info.set_redis_settings(settings);
    }
    if access.ca_pem.is_none() && access.client_pem.is_none() {
        return redis::Client::open(info);
    }
    redis::Client::build_with_tls(
        info,
        redis::TlsCertificates {
            client_tls: access
                .client_pem
                .as_ref()
                .map(|(cert, key)| redis::ClientTlsConfig {
                    client_cert: cert.clone(),
                    client_key: key.clone(),
                }),
            root_cert: access.ca_pem.clone(),
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_shows_no_secret() {
        let a = RedisAccess {
            password: Some("s3cret".into()),
            ca_pem: Some(b"-----BEGIN CERTIFICATE-----".to_vec()),
            client_pem: Some((b"cert".to_vec(), b"PRIVATE KEY".to_vec())),
            sentinel_password: Some("s3ntinel".into()),
        };
        let d = format!("{a:?}");
        assert!(
            !d.contains("s3cret") && !d.contains("PRIVATE") && !d.contains("s3ntinel"),
            "{d}"
        );
    }

    #[test]
    fn the_password_file_wins_over_the_url() {
        let c = redis_client(
            "redis://aae:old@127.0.0.1:1",
            &RedisAccess {
                password: Some("new".into()),
                ..RedisAccess::default()
            },
        )
        .unwrap();
        let info = c.get_connection_info().redis_settings();
        assert_eq!(
            (info.username(), info.password()),
            (Some("aae"), Some("new"))
        );
    }
}
