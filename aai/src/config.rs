//! aai's configuration: the TOML file, the command-line overrides, and the
//! validated [`Settings`] the daemon runs with. Everything is checked here,
//! once, at start; a bad value is refused with a message naming its key.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use arpwatch_rpc::Limits;
use lease_model::{DEFAULT_GRACE_SECS, RedisSchema};
use serde::Deserialize;

use crate::http::allow::{AllowList, Cidr};
use crate::http::auth::{Credentials, CredentialsFile};
use crate::store::RedisAccess;
use crate::tls::{Tls, TlsFiles};
use redis_endpoint::{Endpoint, ReadFrom};

/// Where the daemon looks for its file when `--config` is not given.
pub const DEFAULT_CONFIG_PATH: &str = "/etc/aai/aai.toml";
/// The port aai listens on unless told otherwise ("ARPW" is taken; 8736 is
/// unassigned by IANA and easy to grep for).
pub const DEFAULT_PORT: u16 = 8736;
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8736";
pub const DEFAULT_REDIS_URL: &str = "redis://127.0.0.1:6379";

/// The file as written. Keys are kebab-case; an unknown key is an error, so
/// a typo never silently falls back to a default.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct FileConfig {
    pub listen: Option<OneOrMany>,
    pub redis_url: Option<String>,
    pub redis_password_file: Option<String>,
    pub redis_sentinel_password_file: Option<String>,
    pub redis_read_from: Option<String>,
    pub redis_ca_file: Option<String>,
    pub redis_client_cert: Option<String>,
    pub redis_client_key: Option<String>,
    pub key_prefix: Option<String>,
    pub redis_timeout_ms: Option<u64>,
    pub allow: Option<OneOrMany>,
    pub max_body_bytes: Option<u64>,
    pub max_depth: Option<u64>,
    pub max_connections: Option<u64>,
    pub header_timeout_ms: Option<u64>,
    pub body_timeout_ms: Option<u64>,
    pub shutdown_timeout_ms: Option<u64>,
    pub log_level: Option<String>,
    pub tls_cert: Option<String>,
    pub tls_key: Option<String>,
    pub tls_client_ca: Option<String>,
    pub credentials_file: Option<String>,
}

/// A list key written as one string (`listen = "127.0.0.1:8736"`) or a
/// list of strings.
#[derive(Debug)]
pub struct OneOrMany(Vec<String>);

impl OneOrMany {
    fn into_vec(self) -> Vec<String> {
        self.0
    }
}

impl<'de> Deserialize<'de> for OneOrMany {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = OneOrMany;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a string or a list of strings")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<OneOrMany, E> {
                Ok(OneOrMany(vec![v.to_owned()]))
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut a: A,
            ) -> Result<OneOrMany, A::Error> {
                let mut v = Vec::new();
                while let Some(s) = a.next_element::<String>()? {
                    v.push(s);
                }
                Ok(OneOrMany(v))
            }
        }
        d.deserialize_any(V)
    }
}

/// Command-line values that take precedence over the file.
#[derive(Debug, Default, Clone)]
pub struct Overrides {
    pub listen: Vec<String>,
    pub redis_url: Option<String>,
    pub key_prefix: Option<String>,
}

/// Everything the daemon needs, validated.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Addresses to bind when systemd hands over no sockets.
    pub listen: Vec<SocketAddr>,
    pub redis_url: String,
    /// What reaching Redis takes beyond its URL: a password, TLS material.
    pub redis_access: RedisAccess,
    /// With a Sentinel service: read from its primary, or from a replica.
    pub redis_read_from: ReadFrom,
    pub schema: RedisSchema,
    /// Upper bound on one Redis round trip, connecting included.
    pub redis_timeout: Duration,
    pub allow: AllowList,
    pub max_body_bytes: usize,
    pub max_depth: usize,
    pub max_connections: usize,
    pub header_timeout: Duration,
    pub body_timeout: Duration,
    pub shutdown_timeout: Duration,
    pub log_level: log::LevelFilter,
    /// Every listener speaks TLS when set.
    pub tls: Option<Tls>,
    /// HTTP basic credentials every request must carry, when set.
    pub credentials: Option<CredentialsFile>,
    /// Legal but probably unintended settings, to log once logging is set up.
    pub warnings: Vec<String>,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            listen: vec![DEFAULT_LISTEN.parse().expect("literal")],
            redis_url: DEFAULT_REDIS_URL.to_owned(),
            redis_access: RedisAccess::default(),
            redis_read_from: ReadFrom::Primary,
            schema: RedisSchema::default(),
            redis_timeout: Duration::from_millis(250),
            allow: AllowList::loopback(),
            max_body_bytes: 64 * 1024,
            max_depth: 32,
            max_connections: 512,
            header_timeout: Duration::from_secs(5),
            body_timeout: Duration::from_secs(5),
            shutdown_timeout: Duration::from_secs(5),
            log_level: log::LevelFilter::Info,
            tls: None,
            credentials: None,
            warnings: Vec::new(),
        }
    }
}

/// A configuration problem. The message names the file and the key.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}; pass --config FILE or create it")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("config file {path} is not valid: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("{origin}: `{key}`: {message}")]
    Invalid {
        origin: String,
        key: &'static str,
        message: String,
    },
}

/// Reads the file. `explicit` is false for the default path, whose absence
/// just means "all defaults"; an explicitly named file must exist.
pub fn read_file(path: &Path, explicit: bool) -> Result<FileConfig, ConfigError> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if !explicit && e.kind() == std::io::ErrorKind::NotFound => {
            return Ok(FileConfig::default());
        }
        Err(source) => {
            return Err(ConfigError::Read {
                path: path.to_owned(),
                source,
            });
        }
    };
    parse_file(&text).map_err(|message| ConfigError::Parse {
        path: path.to_owned(),
        message,
    })
}

/// Parses file text; the error is toml's message, which quotes the line and
/// names the offending key.
pub fn parse_file(text: &str) -> Result<FileConfig, String> {
    toml::from_str(text).map_err(|e| e.to_string().trim_end().to_owned())
}

/// Merges file and flags over the defaults and validates the result.
/// `origin` names where the file came from, for messages.
pub fn resolve(file: FileConfig, flags: &Overrides, origin: &str) -> Result<Settings, ConfigError> {
    let mut s = Settings::default();
    let bad = |key: &'static str, origin: &str, message: String| ConfigError::Invalid {
        origin: origin.to_owned(),
        key,
        message,
    };

    let (listen, listen_origin) = if flags.listen.is_empty() {
        (file.listen.map(OneOrMany::into_vec), origin)
    } else {
        (Some(flags.listen.clone()), "command line (--listen)")
    };
    if let Some(listen) = listen {
        if listen.is_empty() {
            return Err(bad(
                "listen",
                listen_origin,
                "is empty; give at least one ADDR:PORT such as 127.0.0.1:8736".into(),
            ));
        }
        s.listen = listen
            .iter()
            .map(|a| {
                a.parse::<SocketAddr>().map_err(|_| {
                    bad(
                        "listen",
                        listen_origin,
                        format!("{a:?} is not ADDR:PORT (e.g. 127.0.0.1:8736 or [::1]:8736)"),
                    )
                })
            })
            .collect::<Result<_, _>>()?;
    }

    let (url, url_origin) = match (&flags.redis_url, file.redis_url) {
        (Some(u), _) => (Some(u.clone()), "command line (--redis-url)"),
        (None, u) => (u, origin),
    };
    if let Some(url) = url {
        Endpoint::parse(&url).map_err(|e| {
            let shown = redacted_url(&url);
            bad(
                "redis-url",
                url_origin,
                match e {
                    // It says which form it expected.
                    redis_endpoint::UrlError::Sentinel(_) => {
                        format!("{shown:?} is not a Sentinel URL: {e}")
                    }
                    redis_endpoint::UrlError::Server(_) => format!(
                        "{shown:?} is not a Redis URL ({e}); expected redis://HOST:PORT[/DB], \
                         unix:///PATH or redis+sentinel://HOST[:PORT][,HOST[:PORT]...]/SERVICE[/DB]"
                    ),
                },
            )
        })?;
        s.redis_url = url;
    }

    let (prefix, prefix_origin) = match (&flags.key_prefix, file.key_prefix) {
        (Some(p), _) => (Some(p.clone()), "command line (--key-prefix)"),
        (None, p) => (p, origin),
    };
    if let Some(prefix) = prefix {
        s.schema = RedisSchema::new(prefix, DEFAULT_GRACE_SECS)
            .map_err(|e| bad("key-prefix", prefix_origin, e.to_string()))?;
    }

    if let Some(allow) = file.allow.map(OneOrMany::into_vec) {
        let nets = allow
            .iter()
            .map(|n| n.parse::<Cidr>())
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| bad("allow", origin, e.to_string()))?;
        if nets.is_empty() {
            s.warnings.push(format!(
                "{origin}: `allow` is empty: every client will be refused with 403"
            ));
        }
        s.allow = AllowList::new(nets);
    }

    let ms = |key: &'static str, v: Option<u64>, min: u64, max: u64, dflt: Duration| match v {
        None => Ok(dflt),
        Some(v) if (min..=max).contains(&v) => Ok(Duration::from_millis(v)),
        Some(v) => Err(bad(
            key,
            origin,
            format!("{v} is out of range: expected {min} to {max} milliseconds"),
        )),
    };
    s.redis_timeout = ms(
        "redis-timeout-ms",
        file.redis_timeout_ms,
        1,
        60_000,
        s.redis_timeout,
    )?;
    s.header_timeout = ms(
        "header-timeout-ms",
        file.header_timeout_ms,
        1,
        600_000,
        s.header_timeout,
    )?;
    s.body_timeout = ms(
        "body-timeout-ms",
        file.body_timeout_ms,
        1,
        600_000,
        s.body_timeout,
    )?;
    s.shutdown_timeout = ms(
        "shutdown-timeout-ms",
        file.shutdown_timeout_ms,
        0,
        600_000,
        s.shutdown_timeout,
    )?;

    let count = |key: &'static str, v: Option<u64>, min: u64, max: u64, dflt: usize| match v {
        None => Ok(dflt),
        Some(v) if (min..=max).contains(&v) => Ok(v as usize),
        Some(v) => Err(bad(
            key,
            origin,
            format!("{v} is out of range: expected {min} to {max}"),
        )),
    };
    s.max_body_bytes = count(
        "max-body-bytes",
        file.max_body_bytes,
        256,
        // The parser refuses larger documents whatever it is told, so a
        // larger HTTP cap would only turn a 413 into a -32700.
        Limits::HARD_MAX_DOCUMENT_BYTES as u64,
        s.max_body_bytes,
    )?;
    s.max_depth = count(
        "max-depth",
        file.max_depth,
        4,
        Limits::HARD_MAX_DEPTH as u64,
        s.max_depth,
    )?;
    s.max_connections = count(
        "max-connections",
        file.max_connections,
        1,
        65_536,
        s.max_connections,
    )?;

    if let Some(level) = file.log_level {
        s.log_level = level.parse().map_err(|_| {
            bad(
                "log-level",
                origin,
                format!(
                    "{level:?} is not a level: expected off, error, warn, info, debug or trace"
                ),
            )
        })?;
    }

    let path = |key: &'static str, v: Option<String>| {
        v.map(|v| expand_path(&v).map_err(|m| bad(key, origin, m)))
            .transpose()
    };
    let cert = path("tls-cert", file.tls_cert)?;
    let key = path("tls-key", file.tls_key)?;
    let client_ca = path("tls-client-ca", file.tls_client_ca)?;
    match (cert, key) {
        (Some(cert), Some(key)) => {
            let files = TlsFiles {
                cert,
                key,
                client_ca,
            };
            let config = files
                .load()
                .map_err(|e| bad(e.key, origin, e.to_string()))?;
            if let Ok(m) = std::fs::metadata(&files.key)
                && std::os::unix::fs::MetadataExt::mode(&m) & 0o004 != 0
            {
                s.warnings.push(format!(
                    "{origin}: `tls-key` {} is readable by every user: chmod 0600 it, or 0640 with a group only aai is in",
                    files.key.display()
                ));
            }
            s.tls = Some(Tls { files, config });
        }
        (None, None) if client_ca.is_some() => {
            return Err(bad(
                "tls-client-ca",
                origin,
                "needs TLS: set tls-cert and tls-key too".into(),
            ));
        }
        (None, None) => {}
        (Some(_), None) => {
            return Err(bad(
                "tls-key",
                origin,
                "is missing: tls-cert needs the private key that goes with it".into(),
            ));
        }
        (None, Some(_)) => {
            return Err(bad(
                "tls-cert",
                origin,
                "is missing: tls-key needs the certificate that goes with it".into(),
            ));
        }
    }
    let endpoint = Endpoint::parse(&s.redis_url).expect("checked above");
    let sentinel = matches!(endpoint, Endpoint::Sentinel(_));
    let tls_url = endpoint.is_tls();
    let password = |key: &'static str, p: PathBuf| {
        let text = crate::secret::read(&p)
            .map_err(|m| bad(key, origin, format!("{}: {m}", p.display())))?;
        let password = text.strip_suffix('\n').unwrap_or(&text);
        if password.is_empty() || password.contains(['\n', '\r']) {
            return Err(bad(
                key,
                origin,
                format!("{}: expected the password on one line", p.display()),
            ));
        }
        Ok(password.to_owned())
    };
    if let Some(p) = path("redis-password-file", file.redis_password_file)? {
        s.redis_access.password = Some(password("redis-password-file", p)?);
    }
    let needs_sentinel = |key: &'static str| {
        bad(
            key,
            origin,
            "needs a Sentinel service: redis-url must be redis+sentinel:// (or rediss+sentinel://)"
                .into(),
        )
    };
    if let Some(p) = path(
        "redis-sentinel-password-file",
        file.redis_sentinel_password_file,
    )? {
        if !sentinel {
            return Err(needs_sentinel("redis-sentinel-password-file"));
        }
        s.redis_access.sentinel_password = Some(password("redis-sentinel-password-file", p)?);
    }
    match file.redis_read_from.as_deref() {
        None | Some("primary") => {}
        Some("replica") if sentinel => s.redis_read_from = ReadFrom::Replica,
        Some("replica") => return Err(needs_sentinel("redis-read-from")),
        Some(other) => {
            return Err(bad(
                "redis-read-from",
                origin,
                format!("{other:?}: expected \"primary\" or \"replica\""),
            ));
        }
    }
    let pem = |key: &'static str, p: PathBuf, kind: &str, secret: bool| {
        if !tls_url {
            return Err(bad(
                key,
                origin,
                "needs TLS to Redis: redis-url must be rediss:// (or valkeys://, rediss+sentinel://)"
                    .into(),
            ));
        }
        let text = if secret {
            crate::secret::read(&p)
        } else {
            std::fs::read_to_string(&p).map_err(|e| format!("cannot read it: {e}"))
        }
        .map_err(|m| bad(key, origin, format!("{}: {m}", p.display())))?;
        let block = format!("{kind}-----");
        if !text
            .lines()
            .any(|l| l.starts_with("-----BEGIN ") && l.ends_with(&block))
        {
            return Err(bad(
                key,
                origin,
                format!("{}: no PEM {kind} block in it", p.display()),
            ));
        }
        Ok(text.into_bytes())
    };
    if let Some(p) = path("redis-ca-file", file.redis_ca_file)? {
        s.redis_access.ca_pem = Some(pem("redis-ca-file", p, "CERTIFICATE", false)?);
    }
    match (
        path("redis-client-cert", file.redis_client_cert)?,
        path("redis-client-key", file.redis_client_key)?,
    ) {
        (None, None) => {}
        (Some(c), Some(k)) => {
            s.redis_access.client_pem = Some((
                pem("redis-client-cert", c, "CERTIFICATE", false)?,
                pem("redis-client-key", k, "PRIVATE KEY", true)?,
            ));
        }
        (Some(_), None) => {
            return Err(bad(
                "redis-client-key",
                origin,
                "is missing: redis-client-cert needs the key that goes with it".into(),
            ));
        }
        (None, Some(_)) => {
            return Err(bad(
                "redis-client-cert",
                origin,
                "is missing: redis-client-key needs the certificate that goes with it".into(),
            ));
        }
    }
    if let Some(p) = path("credentials-file", file.credentials_file)? {
        let loaded = Credentials::load(&p)
            .map_err(|m| bad("credentials-file", origin, format!("{}: {m}", p.display())))?;
        if s.tls.is_none() {
            s.warnings.push(format!(
                "{origin}: `credentials-file` without tls-cert: passwords cross the network in clear text"
            ));
        }
        s.credentials = Some(CredentialsFile {
            path: p,
            loaded: std::sync::Arc::new(loaded),
        });
    }
    Ok(s)
}

/// The placeholder a file path may start with: systemd's directory of the
/// credentials passed with `LoadCredential=` (the config file itself
/// arrives that way, so it cannot use the environment otherwise).
pub const CREDENTIALS_DIRECTORY: &str = "${CREDENTIALS_DIRECTORY}";

/// A path key's value, with a leading `${CREDENTIALS_DIRECTORY}` replaced
/// by that environment variable.
fn expand_path(v: &str) -> Result<PathBuf, String> {
    if v.is_empty() {
        return Err("is empty: give a file path".into());
    }
    let Some(rest) = v.strip_prefix(CREDENTIALS_DIRECTORY) else {
        if v.contains("${") {
            return Err(format!(
                "{v:?}: only {CREDENTIALS_DIRECTORY} at the start of a path is expanded"
            ));
        }
        return Ok(PathBuf::from(v));
    };
    match std::env::var_os("CREDENTIALS_DIRECTORY") {
        Some(dir) if !dir.is_empty() => Ok(PathBuf::from(dir).join(rest.trim_start_matches('/'))),
        _ => Err(format!(
            "{v:?}: CREDENTIALS_DIRECTORY is not set: aai was not started by systemd with LoadCredential=; \
             give the file's own path, or start aai through its unit"
        )),
    }
}

/// `url` with its password, if any, shown as `***`, for logs and messages.
pub fn redacted_url(url: &str) -> String {
    secrets::redact_url(url)
}

/// Reads `path` (or the default) and resolves it with `flags`.
pub fn load(path: Option<&Path>, flags: &Overrides) -> Result<Settings, ConfigError> {
    let (path, explicit) = match path {
        Some(p) => (p, true),
        None => (Path::new(DEFAULT_CONFIG_PATH), false),
    };
    let file = read_file(path, explicit)?;
    resolve(file, flags, &path.display().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use lease_model::DEFAULT_KEY_PREFIX;

    fn from(text: &str) -> Result<Settings, String> {
        let file = parse_file(text)?;
        resolve(file, &Overrides::default(), "test.toml").map_err(|e| e.to_string())
    }

    #[test]
    fn empty_file_is_all_defaults() {
        let s = from("").unwrap();
        assert_eq!(s.listen, [DEFAULT_LISTEN.parse::<SocketAddr>().unwrap()]);
        assert_eq!(s.schema.prefix(), DEFAULT_KEY_PREFIX);
        assert_eq!(s.allow, AllowList::loopback());
    }

    #[test]
    fn every_key_is_read() {
        let s = from(
            r#"
            listen = ["127.0.0.1:1", "[::1]:2"]
            redis-url = "redis://127.0.0.1:7/3"
            key-prefix = "p:"
            redis-timeout-ms = 100
            allow = ["10.0.0.0/8"]
            max-body-bytes = 1000
            max-depth = 8
            max-connections = 3
            header-timeout-ms = 11
            body-timeout-ms = 12
            shutdown-timeout-ms = 13
            log-level = "debug"
            "#,
        )
        .unwrap();
        assert_eq!(s.listen.len(), 2);
        assert_eq!(s.redis_url, "redis://127.0.0.1:7/3");
        assert_eq!(s.schema.prefix(), "p:");
        assert_eq!(s.redis_timeout, Duration::from_millis(100));
        assert!(s.allow.permits("10.9.9.9".parse().unwrap()));
        assert!(!s.allow.permits("127.0.0.1".parse().unwrap()));
        assert_eq!(
            (s.max_body_bytes, s.max_depth, s.max_connections),
            (1000, 8, 3)
        );
        assert_eq!(s.header_timeout, Duration::from_millis(11));
        assert_eq!(s.body_timeout, Duration::from_millis(12));
        assert_eq!(s.shutdown_timeout, Duration::from_millis(13));
        assert_eq!(s.log_level, log::LevelFilter::Debug);
    }

    #[test]
    fn a_sentinel_service_and_its_replicas() {
        let s = from("redis-url = \"redis+sentinel://a:1,b/aae\"\nredis-read-from = \"replica\"")
            .unwrap();
        assert_eq!(s.redis_read_from, ReadFrom::Replica);
        assert_eq!(s.redis_url, "redis+sentinel://a:1,b/aae");
        assert_eq!(from("").unwrap().redis_read_from, ReadFrom::Primary);
    }

    #[test]
    fn bad_values_name_their_key() {
        for (text, key) in [
            ("listn = []", "listn"),
            ("listen = [\"nope\"]", "listen"),
            ("listen = []", "listen"),
            ("redis-url = \"http://x\"", "redis-url"),
            ("redis-url = \"redis+sentinel://h/\"", "redis-url"),
            ("redis-read-from = \"replica\"", "redis-read-from"),
            (
                "redis-url = \"redis+sentinel://h/aae\"\nredis-read-from = \"any\"",
                "redis-read-from",
            ),
            (
                "redis-sentinel-password-file = \"/etc/passwd\"",
                "redis-sentinel-password-file",
            ),
            ("key-prefix = \"a b\"", "key-prefix"),
            ("allow = [\"10.0.0.1/8\"]", "allow"),
            ("max-connections = 0", "max-connections"),
            ("redis-timeout-ms = 0", "redis-timeout-ms"),
            ("log-level = \"loud\"", "log-level"),
            ("max-body-bytes = \"big\"", "max-body-bytes"),
            ("max-body-bytes = 16777217", "max-body-bytes"),
            ("max-depth = 65", "max-depth"),
        ] {
            let e = from(text).unwrap_err();
            assert!(e.contains(key), "{text}: {e}");
        }
    }

    #[test]
    fn a_list_key_may_be_one_string() {
        let s = from("listen = \"127.0.0.1:9\"\nallow = \"10.0.0.0/8\"").unwrap();
        assert_eq!(s.listen, ["127.0.0.1:9".parse::<SocketAddr>().unwrap()]);
        assert!(s.allow.permits("10.1.2.3".parse().unwrap()));
        assert!(from("listen = 5").unwrap_err().contains("listen"));
    }

    #[test]
    fn flags_override_the_file() {
        let file = parse_file("listen = [\"127.0.0.1:1\"]\nkey-prefix = \"f:\"").unwrap();
        let flags = Overrides {
            listen: vec!["127.0.0.1:2".into()],
            redis_url: Some("redis://127.0.0.1:9".into()),
            key_prefix: Some("c:".into()),
        };
        let s = resolve(file, &flags, "t").unwrap();
        assert_eq!(s.listen, ["127.0.0.1:2".parse::<SocketAddr>().unwrap()]);
        assert_eq!(s.redis_url, "redis://127.0.0.1:9");
        assert_eq!(s.schema.prefix(), "c:");
        let e = resolve(
            FileConfig::default(),
            &Overrides {
                listen: vec!["x".into()],
                ..Overrides::default()
            },
            "t",
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("--listen"), "{e}");
    }

    #[test]
    fn passwords_never_reach_logs() {
        assert_eq!(redacted_url("redis://:pw@h:1/0"), "redis://:***@h:1/0");
        assert_eq!(redacted_url("redis://u:pw@h"), "redis://u:***@h");
        assert_eq!(redacted_url("redis://aai@h"), "redis://aai@h");
        assert_eq!(redacted_url("redis://h:6379"), "redis://h:6379");
        assert_eq!(redacted_url("unix:///run/r.sock"), "unix:///run/r.sock");
        let e = from("redis-url = \"http://:secret@x\"").unwrap_err();
        assert!(!e.contains("secret"), "{e}");
        assert!(from("allow = []").unwrap().warnings[0].contains("allow"));
    }

    #[test]
    fn tls_and_credentials_keys_come_in_whole_sets() {
        for (text, want) in [
            ("tls-cert = \"/x.crt\"", "`tls-key`: is missing"),
            ("tls-key = \"/x.key\"", "`tls-cert`: is missing"),
            ("tls-client-ca = \"/ca.pem\"", "`tls-client-ca`: needs TLS"),
            ("tls-cert = \"\"\ntls-key = \"/k\"", "`tls-cert`: is empty"),
            (
                "credentials-file = \"${HOME}/c\"",
                "only ${CREDENTIALS_DIRECTORY} at the start",
            ),
            (
                "tls-cert = \"/nonexistent/aai.crt\"\ntls-key = \"/nonexistent/aai.key\"",
                "`tls-cert`: /nonexistent/aai.crt: cannot read it",
            ),
            (
                "credentials-file = \"/nonexistent/credentials\"",
                "`credentials-file`: /nonexistent/credentials: cannot read it",
            ),
        ] {
            let e = from(text).unwrap_err();
            assert!(e.contains(want), "{text}: {e}");
        }
    }

    #[test]
    fn missing_default_file_is_fine_missing_explicit_is_not() {
        let p = Path::new("/nonexistent/aai.toml");
        assert!(read_file(p, false).is_ok());
        let e = read_file(p, true).unwrap_err().to_string();
        assert!(e.contains("/nonexistent/aai.toml"), "{e}");
    }
}
