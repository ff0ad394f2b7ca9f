//! Where the lease store is, and how to reach it: see the README.
//!
//! aae (writing) and aai (reading) both name their Redis with one URL. It is
//! either one server (`redis://`, `rediss://`, `unix://`), or a service that
//! Redis Sentinel watches (`redis+sentinel://`, `rediss+sentinel://`), whose
//! primary can move. [`Connector`] turns either into a connection to the
//! right server, and remembers which primary it found, so the programs can
//! tell when a failover happened.

mod access;
mod connector;
mod sentinel;

pub use access::{RedisAccess, redis_client};
pub use connector::{Connected, Connector, ReadFrom, Status};

/// Where the sentinels listen when the URL gives no port.
pub const DEFAULT_SENTINEL_PORT: u16 = 26379;

/// What a Redis URL names.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Endpoint {
    /// One server, in the redis crate's URL forms.
    Server(String),
    /// The primary (or a replica) of a service that Sentinel watches.
    Sentinel(SentinelService),
}

/// A `redis+sentinel://` URL, taken apart.
#[derive(Clone, PartialEq, Eq)]
pub struct SentinelService {
    /// Host and port of each sentinel, in the URL's order.
    pub sentinels: Vec<(String, u16)>,
    /// The name the sentinels monitor the primary under (`sentinel monitor
    /// <name> ...`).
    pub service: String,
    pub db: i64,
    /// `rediss+sentinel://`: TLS to the sentinels and to the data nodes.
    pub tls: bool,
    /// The ACL user and password for the data nodes (not for the sentinels).
    pub username: Option<String>,
    pub password: Option<String>,
}

impl std::fmt::Debug for SentinelService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SentinelService")
            .field("sentinels", &self.sentinels)
            .field("service", &self.service)
            .field("db", &self.db)
            .field("tls", &self.tls)
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "(secret)"))
            .finish()
    }
}

/// Why a URL names no Redis. The text never holds a password.
#[derive(Debug, thiserror::Error)]
pub enum UrlError {
    #[error("{0}")]
    Server(String),
    #[error("{0}; expected {SENTINEL_FORM}")]
    Sentinel(&'static str),
}

/// The Sentinel URL form, for messages and docs.
pub const SENTINEL_FORM: &str = "redis+sentinel://[user[:password]@]host[:port][,host[:port]...]/service[/db] \
     (rediss+sentinel:// for TLS; the sentinels' port defaults to 26379)";

impl Endpoint {
    /// Reads a URL. A one-server URL is checked by the redis crate; a
    /// Sentinel URL here, in the form Python's and Java's Redis tools use
    /// (redis-sentinel-url, redisvl): the sentinels' addresses, comma
    /// separated, then the service name as the path's first part.
    pub fn parse(url: &str) -> Result<Endpoint, UrlError> {
        let scheme = url.split_once("://").map(|(s, _)| s.to_ascii_lowercase());
        match scheme.as_deref() {
            Some("redis+sentinel") => parse_sentinel(url, false).map(Endpoint::Sentinel),
            Some("rediss+sentinel") => parse_sentinel(url, true).map(Endpoint::Sentinel),
            _ => match redis::IntoConnectionInfo::into_connection_info(url) {
                Ok(_) => Ok(Endpoint::Server(url.to_owned())),
                Err(e) => Err(UrlError::Server(
                    // The crate's text may quote the URL; never its password.
                    e.to_string().replace(url, &secrets::redact_url(url)),
                )),
            },
        }
    }

    /// Whether it is reached over TLS.
    pub fn is_tls(&self) -> bool {
        match self {
            Endpoint::Server(url) => {
                matches!(url.split("://").next(), Some("rediss" | "valkeys"))
            }
            Endpoint::Sentinel(s) => s.tls,
        }
    }
}

fn parse_sentinel(url: &str, tls: bool) -> Result<SentinelService, UrlError> {
    let (_, rest) = url.split_once("://").expect("checked by the caller");
    let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
    if path.contains(['?', '#']) {
        return Err(UrlError::Sentinel(
            "no query or fragment is understood after the service name",
        ));
    }
    let (userinfo, hosts) = match authority.rsplit_once('@') {
        Some((u, h)) => (Some(u), h),
        None => (None, authority),
    };
    let (username, password) = match userinfo {
        None => (None, None),
        Some(u) => {
            let (user, pass) = match u.split_once(':') {
                Some((user, pass)) => (user, Some(pass)),
                None => (u, None),
            };
            let user = Some(user).filter(|u| !u.is_empty()).map(str::to_owned);
            (user, pass.map(str::to_owned))
        }
    };
    let mut sentinels = Vec::new();
    for h in hosts.split(',') {
        sentinels.push(host_port(h)?);
    }
    let mut parts = path.split('/');
    let service = parts.next().unwrap_or_default();
    if service.is_empty() {
        return Err(UrlError::Sentinel(
            "the service name (the path's first part) is missing",
        ));
    }
    let db = match parts.next() {
        None | Some("") => 0,
        Some(d) => d
            .parse::<i64>()
            .ok()
            .filter(|d| *d >= 0)
            .ok_or(UrlError::Sentinel(
                "the database (after the service name) is not a number",
            ))?,
    };
    if parts.next().is_some() {
        return Err(UrlError::Sentinel(
            "the path has more than a service name and a database",
        ));
    }
    Ok(SentinelService {
        sentinels,
        service: service.to_owned(),
        db,
        tls,
        username,
        password,
    })
}

/// `host`, `host:port`, `[v6]` or `[v6]:port`.
fn host_port(s: &str) -> Result<(String, u16), UrlError> {
    const BAD: &str = "a sentinel's address is not host[:port]";
    let (host, port) = if let Some(v6) = s.strip_prefix('[') {
        let (host, after) = v6.split_once(']').ok_or(UrlError::Sentinel(BAD))?;
        match after {
            "" => (host, None),
            p => (
                host,
                Some(p.strip_prefix(':').ok_or(UrlError::Sentinel(BAD))?),
            ),
        }
    } else {
        match s.rsplit_once(':') {
            Some((h, p)) if !h.contains(':') => (h, Some(p)),
            Some(_) => return Err(UrlError::Sentinel("an IPv6 sentinel needs [brackets]")),
            None => (s, None),
        }
    };
    if host.is_empty() || host.contains(char::is_whitespace) {
        return Err(UrlError::Sentinel(BAD));
    }
    let port = match port {
        None => DEFAULT_SENTINEL_PORT,
        Some(p) => p
            .parse::<u16>()
            .ok()
            .filter(|p| *p != 0)
            .ok_or(UrlError::Sentinel(BAD))?,
    };
    Ok((host.to_owned(), port))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sentinel(url: &str) -> SentinelService {
        match Endpoint::parse(url).unwrap() {
            Endpoint::Sentinel(s) => s,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn sentinel_urls() {
        let s =
            sentinel("redis+sentinel://aae:pw@10.0.0.1,10.0.0.2:26380,[2001:db8::3]:1/leases/2");
        assert_eq!(
            s.sentinels,
            [
                ("10.0.0.1".to_owned(), 26379),
                ("10.0.0.2".to_owned(), 26380),
                ("2001:db8::3".to_owned(), 1)
            ]
        );
        assert_eq!((s.service.as_str(), s.db, s.tls), ("leases", 2, false));
        assert_eq!(
            (s.username.as_deref(), s.password.as_deref()),
            (Some("aae"), Some("pw"))
        );
        assert!(!format!("{s:?}").contains("pw\""));
        let s = sentinel("rediss+sentinel://h/aae");
        assert!(s.tls && s.username.is_none() && s.password.is_none() && s.db == 0);
        let s = sentinel("REDIS+SENTINEL://:pw@h:1/aae/");
        assert_eq!((s.username, s.password.as_deref()), (None, Some("pw")));
    }

    #[test]
    fn bad_sentinel_urls_say_what_is_wrong() {
        for (url, says) in [
            ("redis+sentinel://h:1", "service name"),
            ("redis+sentinel://h:1/", "service name"),
            ("redis+sentinel://h:x/aae", "host[:port]"),
            ("redis+sentinel://h:0/aae", "host[:port]"),
            ("redis+sentinel://h,,g/aae", "host[:port]"),
            ("redis+sentinel://2001:db8::1/aae", "[brackets]"),
            ("redis+sentinel://h/aae/x", "not a number"),
            ("redis+sentinel://h/aae/1/2", "more than"),
            ("redis+sentinel://h/aae?x=1", "no query"),
        ] {
            let e = Endpoint::parse(url).unwrap_err().to_string();
            assert!(
                e.contains(says) && e.contains("redis+sentinel://[user"),
                "{url}: {e}"
            );
        }
    }

    #[test]
    fn one_server_urls_pass_through() {
        for url in [
            "redis://127.0.0.1:6379/1",
            "rediss://h",
            "unix:///run/r.sock",
        ] {
            assert_eq!(Endpoint::parse(url).unwrap(), Endpoint::Server(url.into()));
        }
        assert!(Endpoint::parse("rediss://h").unwrap().is_tls());
        let e = Endpoint::parse("http://u:hunter2@h")
            .unwrap_err()
            .to_string();
        assert!(!e.contains("hunter2"), "{e}");
    }
}
