//! Hook parameters, validated once at load.
//!
//! Kea hands the hook the `"parameters"` map of its `hooks-libraries` entry;
//! the border passes it here as JSON text. Every key is checked: an unknown
//! key, a wrong type, an out-of-range number or a bad URL is refused with a
//! [`ConfigError`] that names the parameter and says what is expected, so Kea
//! refuses the configuration instead of running half-configured.

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use arpwatch_rpc::client::{Credentials, SetupError, TlsConfig};
use serde_json::{Map, Value};

/// Default `redis-url`: the local Redis the lookup daemon (aai) also reads.
pub const DEFAULT_REDIS_URL: &str = "redis://127.0.0.1:6379";
/// Default `arpwatch-timeout-ms`.
pub const DEFAULT_ARPWATCH_TIMEOUT: Duration = Duration::from_secs(2);
/// Default `workers`: one busy sink call in flight while the next is prepared.
pub const DEFAULT_WORKERS: usize = 2;
/// Default `queue-capacity`: distinct addresses pending, about a /16 worth;
/// a few MiB at most.
pub const DEFAULT_QUEUE_CAPACITY: usize = 65_536;

/// Kea's state directory in Debian's packages (`StateDirectory=kea` of
/// their systemd units; the home of the `_kea` user Kea runs as).
pub const KEA_STATE_DIR: &str = "/var/lib/kea";

/// Bounds of the numeric parameters, in one place so the error messages and
/// the checks agree.
const WORKERS: (u64, u64) = (1, 64);
const QUEUE_CAPACITY: (u64, u64) = (1, 16_777_216);
const GRACE_SECS: (u64, u64) = (0, 7 * 24 * 3600);
const ARPWATCH_TIMEOUT_MS: (u64, u64) = (1, 600_000);

/// Every parameter the hook accepts, for the "unknown parameter" message.
pub const PARAMETERS: [&str; 20] = [
    "redis-url",
    "redis-password-file",
    "redis-sentinel-password-file",
    "redis-ca-file",
    "redis-client-cert",
    "redis-client-key",
    "key-prefix",
    "grace-period",
    "arpwatch-url",
    "arpwatch-timeout-ms",
    "arpwatch-multicall",
    "arpwatch-spool",
    "arpwatch-partner-updates",
    "arpwatch-ca-file",
    "arpwatch-client-cert",
    "arpwatch-client-key",
    "arpwatch-credentials-file",
    "workers",
    "queue-capacity",
    "node-name",
];

/// The validated configuration of one loaded instance of the hook.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    /// Where leases are written: `redis://host[:port][/db]`,
    /// `redis+unix:///path`, `unix:///path`, or the primary of a Sentinel
    /// service, `redis+sentinel://host[:port],.../service[/db]`.
    pub redis_url: String,
    /// What reaching Redis takes beyond its URL: a password, TLS material.
    pub redis_access: RedisAccess,
    /// Prepended to every Redis key; the same as aai's.
    pub key_prefix: String,
    /// Added to every lease's remaining lifetime to form the key's TTL.
    pub grace_period: Duration,
    /// ARPwatch's XML-RPC endpoint (`http://` or `https://`); `None`: Redis
    /// only.
    pub arpwatch_url: Option<String>,
    /// Bound on connecting to ARPwatch and on each request.
    pub arpwatch_timeout: Duration,
    /// Whether notices are batched into `system.multicall` requests.
    pub arpwatch_multicall: Multicall,
    /// Where notices ARPwatch has not confirmed wait from one load to the
    /// next.
    pub arpwatch_spool: Spool,
    /// Tell ARPwatch of the lease changes an HA partner sends this server
    /// too. Off by default: the partner that served the client told its own
    /// ARPwatch already; on for sites where each node reports to an ARPwatch
    /// of its own.
    pub arpwatch_partner_updates: bool,
    /// For an `https://` `arpwatch-url`: the CAs trusted
    /// (`arpwatch-ca-file`, or the system's store) and the client
    /// certificate (`arpwatch-client-cert`, `arpwatch-client-key`), read at
    /// load. `None` for `http://`.
    pub arpwatch_tls: Option<TlsConfig>,
    /// The user and password of `arpwatch-credentials-file`, read at load
    /// and sent to ARPwatch as HTTP basic authentication.
    pub arpwatch_credentials: Option<Credentials>,
    /// Worker threads (`aae-worker-N`), each doing I/O for both sinks.
    pub workers: usize,
    /// Distinct addresses that may be pending at once; new addresses beyond
    /// it are dropped and counted.
    pub queue_capacity: usize,
    /// This DHCP node's name, stored with each lease and sent to ARPwatch.
    pub node_name: String,
    /// Bound on connecting to Redis and on each pipelined write. Not a hook
    /// parameter: Redis is local, and a second is plenty.
    pub redis_timeout: Duration,
    /// Longest pause between retries of a failing sink. Not a hook
    /// parameter; tests shorten it.
    pub max_backoff: Duration,
}

impl Default for Config {
    /// The defaults of every parameter, with the host name as `node_name`
    /// (empty if it cannot be read; [`Config::from_json`] refuses that).
    fn default() -> Self {
        Config {
            redis_url: DEFAULT_REDIS_URL.to_owned(),
            redis_access: RedisAccess::default(),
            key_prefix: lease_model::DEFAULT_KEY_PREFIX.to_owned(),
            grace_period: Duration::from_secs(u64::from(lease_model::DEFAULT_GRACE_SECS)),
            arpwatch_url: None,
            arpwatch_timeout: DEFAULT_ARPWATCH_TIMEOUT,
            arpwatch_multicall: Multicall::Auto,
            arpwatch_spool: Spool::Default,
            arpwatch_partner_updates: false,
            arpwatch_tls: None,
            arpwatch_credentials: None,
            workers: DEFAULT_WORKERS,
            queue_capacity: DEFAULT_QUEUE_CAPACITY,
            node_name: host_name().unwrap_or_default(),
            redis_timeout: Duration::from_secs(1),
            max_backoff: Duration::from_secs(5),
        }
    }
}

pub use redis_endpoint::RedisAccess;

/// The `arpwatch-multicall` setting.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Multicall {
    /// `"auto"`, the default: batch with `system.multicall`, and send one
    /// call per notice to an ARPwatch that turns out not to serve it.
    Auto,
    /// `true`: always batch; an ARPwatch without `system.multicall` gets
    /// nothing (and the log says so).
    On,
    /// `false`: one call per notice, a few in parallel.
    Off,
}

/// The `arpwatch-spool` setting: where the notices still pending for
/// ARPwatch when the hook is unloaded are written, to be queued again by the
/// next load (see `engine::spool`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Spool {
    /// Not given: a file per server family in Kea's state directory
    /// ([`default_spool_path`]), if that directory is there and writable.
    /// Only the Kea border knows the family, so it resolves this with
    /// [`Config::resolve_spool`]; an engine started with it spools nothing.
    Default,
    /// `null` or `""`: notices still pending at unload are lost.
    Off,
    /// A file whose directory was checked when the parameters were read
    /// (when `arpwatch-url` is set).
    At(PathBuf),
}

/// The spool a server of `family` (4 or 6) uses when `arpwatch-spool` is not
/// given. Named after Kea's lease file because Debian's AppArmor profiles
/// let kea-dhcp4 write in its state directory only
/// `/var/lib/kea/kea-leases4.csv*` (kea-dhcp6: `kea-leases6.csv*`); one per
/// family, so a DHCPv4 and a DHCPv6 server on one host do not share it.
pub fn default_spool_path(family: u8) -> PathBuf {
    Path::new(KEA_STATE_DIR).join(format!("kea-leases{family}.csv.aae-arpwatch-spool"))
}

/// Why the parameters were refused. The text names the parameter and says
/// what to write instead.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ConfigError {
    /// The parameters are not a JSON object.
    NotAMap { got: String },
    /// A key the hook does not know (a typo, usually).
    Unknown { parameter: String },
    /// A known key with a value of the wrong type, range or form.
    Invalid {
        parameter: &'static str,
        expected: String,
        got: String,
    },
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigError::NotAMap { got } => write!(
                f,
                "hook parameters: expected a map (JSON object) of parameters, got {got}"
            ),
            ConfigError::Unknown { parameter } => write!(
                f,
                "unknown parameter '{parameter}': expected one of {}",
                PARAMETERS.join(", ")
            ),
            ConfigError::Invalid {
                parameter,
                expected,
                got,
            } => write!(f, "parameter '{parameter}': expected {expected}, got {got}"),
        }
    }
}

impl std::error::Error for ConfigError {}

impl Config {
    /// Parses and validates Kea's `"parameters"` map, given as JSON text.
    /// `null`, empty text and `{}` all mean "every default".
    pub fn from_json(params: &str) -> Result<Config, ConfigError> {
        if params.trim().is_empty() {
            return Config::from_map(&Map::new());
        }
        let value: Value = serde_json::from_str(params).map_err(|e| ConfigError::NotAMap {
            got: format!("text that is not JSON ({e})"),
        })?;
        match value {
            Value::Null => Config::from_map(&Map::new()),
            Value::Object(map) => Config::from_map(&map),
            other => Err(ConfigError::NotAMap { got: shown(&other) }),
        }
    }

    fn from_map(map: &Map<String, Value>) -> Result<Config, ConfigError> {
        if let Some(unknown) = map.keys().find(|k| !PARAMETERS.contains(&k.as_str())) {
            return Err(ConfigError::Unknown {
                parameter: unknown.clone(),
            });
        }
        let mut c = Config::default();
        let get = |name: &'static str| map.get(name).map(|v| (name, v));

        if let Some((p, v)) = get("redis-url") {
            c.redis_url = redis_url(p, v)?;
        }
        let endpoint = redis_endpoint::Endpoint::parse(&c.redis_url).expect("checked above");
        if let Some((p, v)) = get("redis-password-file") {
            c.redis_access.password = Some(password_file(p, v)?);
        }
        if let Some((p, v)) = get("redis-sentinel-password-file") {
            if !matches!(endpoint, redis_endpoint::Endpoint::Sentinel(_)) {
                return Err(invalid(
                    p,
                    "no sentinels' password unless 'redis-url' is redis+sentinel:// \
                     (or rediss+sentinel://)",
                    v,
                ));
            }
            c.redis_access.sentinel_password = Some(password_file(p, v)?);
        }
        let tls = endpoint.is_tls();
        if let Some((p, v)) = get("redis-ca-file") {
            c.redis_access.ca_pem = Some(pem_file(p, v, "CERTIFICATE", tls, false)?);
        }
        match (get("redis-client-cert"), get("redis-client-key")) {
            (None, None) => {}
            (Some((p, v)), Some((pk, vk))) => {
                c.redis_access.client_pem = Some((
                    pem_file(p, v, "CERTIFICATE", tls, false)?,
                    pem_file(pk, vk, "PRIVATE KEY", tls, true)?,
                ));
            }
            (Some((p, v)), None) | (None, Some((p, v))) => {
                return Err(invalid(
                    p,
                    "'redis-client-cert' and 'redis-client-key' together, or neither",
                    v,
                ));
            }
        }
        if let Some((p, v)) = get("key-prefix") {
            let prefix = string(p, v, "a string of printable characters without spaces")?;
            lease_model::RedisSchema::new(prefix, 0).map_err(|e| ConfigError::Invalid {
                parameter: p,
                expected: "a string of at most 256 bytes without whitespace or control characters"
                    .into(),
                got: format!("{} ({e})", shown(v)),
            })?;
            c.key_prefix = prefix.to_owned();
        }
        if let Some((p, v)) = get("grace-period") {
            let secs = integer(p, v, GRACE_SECS, "a non-negative integer number of seconds")?;
            c.grace_period = Duration::from_secs(secs);
        }
        if let Some((p, v)) = get("arpwatch-url") {
            // `null` is how a templated configuration says "no ARPwatch".
            c.arpwatch_url = match v {
                Value::Null => None,
                v => Some(http_url(p, v)?),
            };
        }
        if let Some((p, v)) = get("arpwatch-timeout-ms") {
            let ms = integer(
                p,
                v,
                ARPWATCH_TIMEOUT_MS,
                "a positive integer number of milliseconds",
            )?;
            c.arpwatch_timeout = Duration::from_millis(ms);
        }
        if let Some((p, v)) = get("arpwatch-multicall") {
            c.arpwatch_multicall = match v {
                Value::Bool(true) => Multicall::On,
                Value::Bool(false) => Multicall::Off,
                Value::String(s) if s == "auto" => Multicall::Auto,
                v => return Err(invalid(p, "true, false or \"auto\"", v)),
            };
        }
        if let Some((p, v)) = get("arpwatch-spool") {
            c.arpwatch_spool = spool(p, v, c.arpwatch_url.is_some())?;
        }
        if let Some((p, v)) = get("arpwatch-partner-updates") {
            c.arpwatch_partner_updates =
                v.as_bool().ok_or_else(|| invalid(p, "true or false", v))?;
        }
        // Read now, so a bad file is refused at load, not at the first send.
        (c.arpwatch_tls, c.arpwatch_credentials) =
            arpwatch_security(map, c.arpwatch_url.as_deref())?;
        if let Some((p, v)) = get("workers") {
            c.workers = integer(p, v, WORKERS, "a number of worker threads")? as usize;
        }
        if let Some((p, v)) = get("queue-capacity") {
            c.queue_capacity = integer(
                p,
                v,
                QUEUE_CAPACITY,
                "a number of distinct addresses that may be pending",
            )? as usize;
        }
        match get("node-name") {
            Some((p, v)) => c.node_name = node_name(p, v)?.to_owned(),
            None if c.node_name.is_empty() => {
                return Err(ConfigError::Invalid {
                    parameter: "node-name",
                    expected: "a name for this DHCP node (the host name could not be read \
                               from /proc/sys/kernel/hostname; set 'node-name')"
                        .into(),
                    got: "nothing".into(),
                });
            }
            None => {}
        }
        Ok(c)
    }

    /// Turns [`Spool::Default`] into the default file for a server of
    /// `family` (4 or 6), when ARPwatch is configured. If that file's
    /// directory is missing or not writable (not Debian's layout, or Kea
    /// runs elsewhere), the spool is off and the error says why: the
    /// operator did not ask for this path, so it does not fail the load.
    pub fn resolve_spool(&mut self, family: u8) -> Result<(), String> {
        if self.arpwatch_spool != Spool::Default {
            return Ok(());
        }
        if self.arpwatch_url.is_none() {
            self.arpwatch_spool = Spool::Off;
            return Ok(());
        }
        let path = default_spool_path(family);
        match crate::engine::spool::check_writable(&path) {
            Ok(()) => {
                self.arpwatch_spool = Spool::At(path);
                Ok(())
            }
            Err(why) => {
                self.arpwatch_spool = Spool::Off;
                Err(format!(
                    "the default 'arpwatch-spool' {} cannot be used ({why})",
                    path.display()
                ))
            }
        }
    }

    /// The Redis layout this configuration writes.
    pub fn schema(&self) -> lease_model::RedisSchema {
        let grace = u32::try_from(self.grace_period.as_secs()).unwrap_or(u32::MAX);
        lease_model::RedisSchema::new(self.key_prefix.clone(), grace)
            .expect("key-prefix was validated by Config::from_json")
    }
}

/// A value as the operator wrote it, quoted like JSON, cut short if long.
fn shown(v: &Value) -> String {
    let mut s = v.to_string();
    if s.len() > 80 {
        let mut end = 77;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        s.truncate(end);
        s.push_str("...");
    }
    s
}

fn invalid(parameter: &'static str, expected: &str, got: &Value) -> ConfigError {
    ConfigError::Invalid {
        parameter,
        expected: expected.to_owned(),
        got: shown(got),
    }
}

fn string<'v>(p: &'static str, v: &'v Value, expected: &str) -> Result<&'v str, ConfigError> {
    v.as_str().ok_or_else(|| invalid(p, expected, v))
}

fn integer(
    p: &'static str,
    v: &Value,
    (min, max): (u64, u64),
    what: &str,
) -> Result<u64, ConfigError> {
    let expected = format!("{what} from {min} to {max}");
    // 300.0 is what some templating tools make of 300: accept integral floats.
    let n = match v {
        Value::Number(n) => n.as_u64().or_else(|| {
            n.as_f64()
                .filter(|f| f.fract() == 0.0 && *f >= 0.0)
                .map(|f| f as u64)
        }),
        _ => None,
    };
    match n {
        Some(n) if (min..=max).contains(&n) => Ok(n),
        _ => Err(invalid(p, &expected, v)),
    }
}

/// A file holding one password on one line (a final newline allowed).
fn password_file(p: &'static str, v: &Value) -> Result<String, ConfigError> {
    let text = secret_file(p, v)?;
    let password = text.strip_suffix('\n').unwrap_or(&text);
    if password.is_empty() || password.contains(['\n', '\r']) {
        return Err(ConfigError::Invalid {
            parameter: p,
            expected: "a file holding the password on one line".into(),
            got: format!("{} (empty, or more than one line)", shown(v)),
        });
    }
    Ok(password.to_owned())
}

fn redis_url(p: &'static str, v: &Value) -> Result<String, ConfigError> {
    const EXPECTED: &str = "a Redis URL: redis://[user[:password]@]host[:port][/db], \
                            rediss://... (TLS), \
                            redis+unix:///path/to/socket or unix:///path/to/socket, \
                            or a Sentinel service: \
                            redis+sentinel://[user[:password]@]host[:port][,host[:port]...]/service[/db] \
                            (rediss+sentinel:// for TLS)";
    let url = string(p, v, EXPECTED)?;
    // Never repeat a password in the URL in an error message.
    let shown_url = || shown(&Value::String(redacted_url(url)));
    if url.contains("#insecure") {
        return Err(ConfigError::Invalid {
            parameter: p,
            expected: format!("{EXPECTED}; certificate checks cannot be turned off"),
            got: shown_url(),
        });
    }
    // A password in the URL still works, as it always has (refusing it
    // would break a working node at upgrade), but config-get shows it: the
    // docs point to 'redis-password-file'.
    match redis_endpoint::Endpoint::parse(url) {
        Ok(_) => Ok(url.to_owned()),
        Err(e) => Err(ConfigError::Invalid {
            parameter: p,
            expected: EXPECTED.into(),
            got: format!("{} ({e})", shown_url()),
        }),
    }
}

/// `url` with its password, if any, shown as `***`.
pub(crate) fn redacted_url(url: &str) -> String {
    secrets::redact_url(url)
}

/// The text of a file holding a secret (a password, credentials, a private
/// key), at most 64 KiB: refused unless other users cannot read it and only
/// its owner can change it ([`secrets::read_file`]). Group read is allowed:
/// Debian gives such files root:_kea, 0640 (as Kea's own
/// `/etc/kea/kea-api-password`).
fn secret_file(p: &'static str, v: &Value) -> Result<String, ConfigError> {
    let path = Path::new(string(p, v, "the path of a file")?);
    secrets::read_file(path, 64 * 1024).map_err(|e| {
        let fix = if e.is_permissions() {
            format!(
                "; run chown root:_kea {0} and chmod 0640 {0} (or chown _kea and chmod 0600)",
                path.display()
            )
        } else {
            String::new()
        };
        ConfigError::Invalid {
            parameter: p,
            expected: "a regular file Kea's user can read and other users cannot".into(),
            got: format!("{} ({e}{fix})", shown(v)),
        }
    })
}

/// A PEM file holding at least one block of `kind` (`CERTIFICATE`, or any
/// `... PRIVATE KEY`), for a `rediss://` URL only. Keys are secrets too.
fn pem_file(
    p: &'static str,
    v: &Value,
    kind: &str,
    tls: bool,
    secret: bool,
) -> Result<Vec<u8>, ConfigError> {
    if !tls {
        return Err(invalid(
            p,
            "no TLS file unless 'redis-url' is rediss:// (or valkeys://, rediss+sentinel://)",
            v,
        ));
    }
    let text = if secret {
        secret_file(p, v)?
    } else {
        let path = string(p, v, "the path of a PEM file")?;
        std::fs::read_to_string(path).map_err(|e| ConfigError::Invalid {
            parameter: p,
            expected: "a readable PEM file".into(),
            got: format!("{} ({e})", shown(v)),
        })?
    };
    let has_block = text
        .lines()
        .any(|l| l.starts_with("-----BEGIN ") && l.ends_with(&format!("{kind}-----")));
    if !has_block {
        return Err(ConfigError::Invalid {
            parameter: p,
            expected: format!("a PEM file with a {kind} block"),
            got: format!("{} (none found)", shown(v)),
        });
    }
    Ok(text.into_bytes())
}

/// `http[s]://host[:port][/path]`. Checked here rather than by the HTTP
/// client so a typo fails at load, with the parameter's name. A user and
/// password in it are refused, and not shown: Kea echoes the parameters in
/// `config-get`, so they go in `arpwatch-credentials-file`.
fn http_url(p: &'static str, v: &Value) -> Result<String, ConfigError> {
    const EXPECTED: &str = "an http:// or https:// URL such as \
                            https://arpwatch.example:8443/RPC2";
    let url = string(p, v, EXPECTED)?;
    let redacted = Value::String(without_userinfo(url));
    let bad = || invalid(p, EXPECTED, &redacted);
    let rest = url
        .strip_prefix("http://")
        .or_else(|| url.strip_prefix("https://"))
        .ok_or_else(bad)?;
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    if authority.contains('@') {
        return Err(ConfigError::Invalid {
            parameter: p,
            expected: format!(
                "{EXPECTED} without a user or password (they go in \
                 'arpwatch-credentials-file': Kea shows this URL in config-get and logs)"
            ),
            got: shown(&redacted),
        });
    }
    if authority
        .chars()
        .any(|c| c.is_whitespace() || c.is_control())
    {
        return Err(bad());
    }
    let (host, port) = match authority.rsplit_once(':') {
        // A bracketed IPv6 literal without a port has colons but ends in `]`.
        Some((h, port)) if !port.ends_with(']') => (h, Some(port)),
        _ => (authority, None),
    };
    if host.is_empty() || host == "[]" {
        return Err(bad());
    }
    if let Some(port) = port {
        match port.parse::<u16>() {
            Ok(n) if n > 0 => {}
            _ => return Err(bad()),
        }
    }
    if url.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(bad());
    }
    // The client that will post there must agree.
    arpwatch_rpc::client::Client::check_url(url).map_err(|e| ConfigError::Invalid {
        parameter: p,
        expected: EXPECTED.into(),
        got: format!("{} ({e})", shown(&redacted)),
    })?;
    Ok(url.to_owned())
}

/// `url` with what stands between `scheme://` and the authority's last `@`
/// (a user and password) shown as `***`; without a `://`, all before the
/// last `@`.
fn without_userinfo(url: &str) -> String {
    if let Some((scheme, rest)) = url.split_once("://") {
        let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
        return match rest[..end].rfind('@') {
            Some(at) => format!("{scheme}://***{}", &rest[at..]),
            None => url.to_owned(),
        };
    }
    match url.rfind('@') {
        Some(at) => format!("***{}", &url[at..]),
        None => url.to_owned(),
    }
}

/// The TLS settings and credentials for ARPwatch, from
/// `arpwatch-ca-file`, `arpwatch-client-cert`, `arpwatch-client-key` and
/// `arpwatch-credentials-file`, with every file read. `null` is "not set".
/// Without `arpwatch-url` they are never used, so no file is read; with an
/// `http://` one they are refused, since they would protect nothing (or,
/// for the password, cross the network in clear text).
fn arpwatch_security(
    map: &Map<String, Value>,
    url: Option<&str>,
) -> Result<(Option<TlsConfig>, Option<Credentials>), ConfigError> {
    let path = |p: &'static str| match map.get(p) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => file_path(p, v).map(|path| Some((p, v, path))),
    };
    let ca = path("arpwatch-ca-file")?;
    let cert = path("arpwatch-client-cert")?;
    let key = path("arpwatch-client-key")?;
    let credentials = path("arpwatch-credentials-file")?;
    match (&cert, &key) {
        (Some((p, v, _)), None) | (None, Some((p, v, _))) => {
            let other = if *p == "arpwatch-client-cert" {
                "arpwatch-client-key"
            } else {
                "arpwatch-client-cert"
            };
            return Err(invalid(
                p,
                &format!("to be given together with '{other}'"),
                v,
            ));
        }
        _ => {}
    }
    let Some(url) = url else {
        return Ok((None, None));
    };
    if !url.starts_with("https://") {
        if let Some((p, v, _)) = ca.iter().chain(&cert).chain(&key).next() {
            return Err(invalid(
                p,
                "to be used with an https:// 'arpwatch-url' only (the URL is http://)",
                v,
            ));
        }
        if let Some((p, v, _)) = &credentials {
            return Err(invalid(
                p,
                "to be used with an https:// 'arpwatch-url' only: over http:// the password \
                 would cross the network in clear text",
                v,
            ));
        }
        return Ok((None, None));
    }
    if let Some((p, v, _)) = &key {
        // Only its permissions: TlsConfig reads and checks the key itself.
        secret_file(p, v)?;
    }
    let client = cert.as_ref().zip(key.as_ref());
    let tls = TlsConfig::from_files(
        ca.as_ref().map(|(_, _, path)| path.as_path()),
        client.map(|((_, _, c), (_, _, k))| (c.as_path(), k.as_path())),
    )
    .map_err(|e| {
        // The parameter whose file is at fault.
        let (p, v) = match &e {
            SetupError::File { what, .. } if *what == "client certificate" => {
                client.map(|((p, v, _), _)| (*p, *v))
            }
            SetupError::File { what, .. } if *what == "client key" => {
                client.map(|(_, (p, v, _))| (*p, *v))
            }
            SetupError::KeyMismatch { .. } => client.map(|(_, (p, v, _))| (*p, *v)),
            _ => ca.as_ref().map(|(p, v, _)| (*p, *v)),
        }
        .unwrap_or(("arpwatch-ca-file", &Value::Null));
        ConfigError::Invalid {
            parameter: p,
            expected: "PEM files Kea can read: CA certificates in 'arpwatch-ca-file' (without \
                       it the system's CA store), and the client certificate and its key"
                .into(),
            got: format!("{} ({e})", shown(v)),
        }
    })?;
    let credentials = credentials
        .map(|(p, v, _)| credentials_file(p, v))
        .transpose()?;
    Ok((Some(tls), credentials))
}

/// An absolute path, as a string parameter.
fn file_path(p: &'static str, v: &Value) -> Result<PathBuf, ConfigError> {
    const EXPECTED: &str = "an absolute file path";
    let text = string(p, v, EXPECTED)?;
    let path = Path::new(text);
    if !path.is_absolute() || text.chars().any(char::is_control) || path.file_name().is_none() {
        return Err(invalid(p, EXPECTED, v));
    }
    Ok(path.to_owned())
}

/// The one `user:password` line of a secret file ([`secret_file`]).
/// Problems are told without any of the file's text.
fn credentials_file(p: &'static str, v: &Value) -> Result<Credentials, ConfigError> {
    const MAX_BYTES: usize = 4096;
    let text = secret_file(p, v)?;
    let refuse = |why: &str| ConfigError::Invalid {
        parameter: p,
        expected: "a regular file holding one line user:password".into(),
        got: format!("{} ({why})", shown(v)),
    };
    if text.len() > MAX_BYTES {
        return Err(refuse(&format!("longer than {MAX_BYTES} bytes")));
    }
    let line = text
        .strip_suffix('\n')
        .map(|l| l.strip_suffix('\r').unwrap_or(l))
        .unwrap_or(&text);
    if line.contains('\n') {
        return Err(refuse("more than one line"));
    }
    let Some((user, password)) = line.split_once(':') else {
        return Err(refuse("its line is not user:password (no colon)"));
    };
    Credentials::new(user, password).map_err(|e| refuse(&e.to_string()))
}

/// An absolute file path, or `null` / `""` for no spool. With `check` (an
/// ARPwatch is configured, so the spool will be used), its directory must
/// exist and Kea must be able to create files there: a spool that cannot
/// be written would only be noticed at the unload that needs it.
fn spool(p: &'static str, v: &Value, check: bool) -> Result<Spool, ConfigError> {
    const EXPECTED: &str = "an absolute file path in an existing directory Kea can write to, \
                            or null or \"\" for no spool";
    let path = match v {
        Value::Null => return Ok(Spool::Off),
        Value::String(s) if s.is_empty() => return Ok(Spool::Off),
        Value::String(s) => Path::new(s),
        _ => return Err(invalid(p, EXPECTED, v)),
    };
    let text = path.as_os_str().to_string_lossy();
    if !path.is_absolute()
        || text.ends_with('/')
        || text.chars().any(char::is_control)
        || path.file_name().is_none()
    {
        return Err(invalid(p, EXPECTED, v));
    }
    if check {
        crate::engine::spool::check_writable(path).map_err(|why| ConfigError::Invalid {
            parameter: p,
            expected: EXPECTED.into(),
            got: format!("{} ({why})", shown(v)),
        })?;
    }
    Ok(Spool::At(path.to_owned()))
}

fn node_name<'v>(p: &'static str, v: &'v Value) -> Result<&'v str, ConfigError> {
    const EXPECTED: &str = "a non-empty name of at most 255 bytes without whitespace";
    let name = string(p, v, EXPECTED)?;
    if name.is_empty()
        || name.len() > 255
        || name.chars().any(|c| c.is_whitespace() || c.is_control())
    {
        return Err(invalid(p, EXPECTED, v));
    }
    Ok(name)
}

/// The kernel's host name (what `gethostname(2)` returns), without libc.
fn host_name() -> Option<String> {
    let name = std::fs::read_to_string("/proc/sys/kernel/hostname").ok()?;
    let name = name.trim();
    (!name.is_empty()).then(|| name.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(json: &str) -> String {
        Config::from_json(json).unwrap_err().to_string()
    }

    #[test]
    fn empty_means_defaults() {
        for text in ["", "  ", "null", "{}"] {
            let c = Config::from_json(text).unwrap();
            assert_eq!(c.redis_url, DEFAULT_REDIS_URL);
            assert_eq!(c.key_prefix, lease_model::DEFAULT_KEY_PREFIX);
            assert_eq!(c.grace_period, Duration::from_secs(300));
            assert_eq!(c.arpwatch_url, None);
            assert_eq!(c.workers, 2);
            assert_eq!(c.queue_capacity, 65_536);
            assert_eq!(c.arpwatch_multicall, Multicall::Auto);
            assert_eq!(c.arpwatch_spool, Spool::Default);
            assert_eq!(c.node_name, host_name().unwrap());
        }
    }

    /// A directory of its own under the system's temp dir.
    fn temp_dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("aae-config-{}-{name}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn the_spool_is_a_checked_absolute_path_or_off() {
        let dir = temp_dir("spool");
        let path = dir.join("aae.spool");
        let with_arpwatch = |spool: &str| {
            Config::from_json(&format!(
                r#"{{"arpwatch-url": "http://127.0.0.1:9/RPC2", "arpwatch-spool": {spool}}}"#
            ))
        };
        let c = with_arpwatch(&format!("{:?}", path.to_str().unwrap())).unwrap();
        assert_eq!(c.arpwatch_spool, Spool::At(path.clone()));
        // The check leaves nothing behind.
        assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 0);
        for off in ["null", r#""""#] {
            assert_eq!(with_arpwatch(off).unwrap().arpwatch_spool, Spool::Off);
        }
        let missing = dir.join("missing/aae.spool");
        let missing = format!("{:?}", missing.to_str().unwrap());
        let e = with_arpwatch(&missing).unwrap_err().to_string();
        assert!(
            e.starts_with("parameter 'arpwatch-spool': expected an absolute file path")
                && e.contains("No such file or directory"),
            "{e}"
        );
        let is_dir = format!("{:?}", dir.to_str().unwrap());
        let e = with_arpwatch(&is_dir).unwrap_err().to_string();
        assert!(e.contains("is a directory"), "{e}");
        for bad in [
            r#""aae.spool""#,
            r#""/var/lib/kea/""#,
            "7",
            r#""/a/\u0007""#,
        ] {
            let e = with_arpwatch(bad).unwrap_err().to_string();
            assert!(e.starts_with("parameter 'arpwatch-spool'"), "{bad}: {e}");
        }
        // Without ARPwatch the spool is never used, so not checked either.
        let c = Config::from_json(&format!(r#"{{"arpwatch-spool": {missing}}}"#)).unwrap();
        assert!(matches!(c.arpwatch_spool, Spool::At(_)));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn the_default_spool_is_per_family_and_off_without_arpwatch() {
        assert_eq!(
            default_spool_path(4),
            Path::new("/var/lib/kea/kea-leases4.csv.aae-arpwatch-spool")
        );
        assert_eq!(
            default_spool_path(6),
            Path::new("/var/lib/kea/kea-leases6.csv.aae-arpwatch-spool")
        );
        let mut c = Config::from_json("{}").unwrap();
        c.resolve_spool(4).unwrap();
        assert_eq!(c.arpwatch_spool, Spool::Off);
        // A spool the operator chose, or turned off, stays as it is.
        let mut c = Config::from_json(
            r#"{"arpwatch-url": "http://127.0.0.1:9/RPC2", "arpwatch-spool": null}"#,
        )
        .unwrap();
        c.resolve_spool(4).unwrap();
        assert_eq!(c.arpwatch_spool, Spool::Off);
        // The default itself: used when Kea's state directory takes it,
        // otherwise off with the reason.
        let mut c = Config::from_json(r#"{"arpwatch-url": "http://127.0.0.1:9/RPC2"}"#).unwrap();
        match c.resolve_spool(6) {
            Ok(()) => assert_eq!(c.arpwatch_spool, Spool::At(default_spool_path(6))),
            Err(why) => {
                assert_eq!(c.arpwatch_spool, Spool::Off);
                assert!(why.contains("kea-leases6.csv.aae-arpwatch-spool"), "{why}");
            }
        }
    }

    #[test]
    fn a_password_in_the_redis_url_is_never_shown() {
        assert_eq!(redacted_url("redis://u:pw@h:1/0"), "redis://u:***@h:1/0");
        assert_eq!(redacted_url("redis://:p@w@h"), "redis://:***@h");
        assert_eq!(redacted_url("rediss://aae@h:6380"), "rediss://aae@h:6380");
        assert_eq!(
            redacted_url("unix:///run/redis.sock"),
            "unix:///run/redis.sock"
        );
    }

    #[test]
    fn secrets_and_tls_files_are_read_at_load_and_never_shown() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let write = |name: &str, text: &str, mode: u32| {
            let p = dir.path().join(name);
            std::fs::write(&p, text).unwrap();
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode)).unwrap();
            p.to_str().unwrap().to_owned()
        };
        let password = write("pw", "s3cret\n", 0o640);
        let pem = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";
        let ca = write("ca.pem", pem, 0o644);
        let cert = write("c.pem", pem, 0o644);
        let key = write(
            "c.key",
            "-----BEGIN PRIVATE KEY-----\nMIIB\n-----END PRIVATE KEY-----\n",
            0o600,
        );
        let c = Config::from_json(&format!(
            r#"{{"redis-url": "rediss://aae@h:6380", "redis-password-file": "{password}",
                "redis-ca-file": "{ca}", "redis-client-cert": "{cert}", "redis-client-key": "{key}"}}"#
        ))
        .unwrap();
        assert_eq!(c.redis_access.password.as_deref(), Some("s3cret"));
        assert_eq!(c.redis_access.ca_pem.as_deref(), Some(pem.as_bytes()));
        assert!(c.redis_access.client_pem.is_some());
        let debug = format!("{c:?}");
        assert!(
            !debug.contains("s3cret") && !debug.contains("PRIVATE"),
            "{debug}"
        );

        let shared_key = write("k2", "-----BEGIN EC PRIVATE KEY-----\n", 0o604);
        let e = err(&format!(
            r#"{{"redis-url": "rediss://h", "redis-client-cert": "{cert}", "redis-client-key": "{shared_key}"}}"#
        ));
        assert!(
            e.contains("parameter 'redis-client-key'") && e.contains("chmod"),
            "{e}"
        );
        let two_lines = write("pw2", "a\nb\n", 0o600);
        let e = err(&format!(r#"{{"redis-password-file": "{two_lines}"}}"#));
        assert!(e.contains("on one line"), "{e}");
    }

    #[test]
    fn every_parameter_is_read() {
        let c = Config::from_json(
            r#"{"redis-url": "redis+unix:///run/redis/redis.sock", "key-prefix": "k:",
                "grace-period": 60, "arpwatch-url": "http://[::1]:8080/RPC2",
                "arpwatch-timeout-ms": 250, "arpwatch-multicall": true, "workers": 4,
                "queue-capacity": 10, "node-name": "dhcp-a", "arpwatch-spool": "/tmp/aae.spool",
                "arpwatch-partner-updates": true}"#,
        )
        .unwrap();
        assert_eq!(c.redis_url, "redis+unix:///run/redis/redis.sock");
        assert_eq!(c.key_prefix, "k:");
        assert_eq!(c.grace_period, Duration::from_secs(60));
        assert_eq!(c.arpwatch_url.as_deref(), Some("http://[::1]:8080/RPC2"));
        assert_eq!(c.arpwatch_timeout, Duration::from_millis(250));
        assert_eq!(c.arpwatch_multicall, Multicall::On);
        for (text, want) in [
            ("false", Multicall::Off),
            ("true", Multicall::On),
            (r#""auto""#, Multicall::Auto),
        ] {
            let c = Config::from_json(&format!(r#"{{"arpwatch-multicall": {text}}}"#)).unwrap();
            assert_eq!(c.arpwatch_multicall, want, "{text}");
        }
        assert!(c.arpwatch_partner_updates);
        assert!(!Config::default().arpwatch_partner_updates);
        assert_eq!((c.workers, c.queue_capacity), (4, 10));
        assert_eq!(c.node_name, "dhcp-a");
        assert_eq!(c.arpwatch_spool, Spool::At("/tmp/aae.spool".into()));
        assert_eq!(c.schema().grace_secs(), 60);
    }

    #[test]
    fn urls_of_every_accepted_form() {
        for url in [
            "redis://127.0.0.1:6379",
            "redis://localhost/2",
            "unix:///tmp/r.sock",
            "redis://:secret@10.0.0.1",
            "redis+sentinel://10.0.0.1,10.0.0.2:26380/aae",
            "rediss+sentinel://aae@[2001:db8::1]/leases/1",
        ] {
            let json = format!(r#"{{"redis-url": "{url}"}}"#);
            assert_eq!(Config::from_json(&json).unwrap().redis_url, url);
        }
        for url in [
            "http://127.0.0.1:9",
            "http://arpwatch",
            "http://h:1/x?y",
            "https://arpwatch.example:8443/RPC2",
        ] {
            let json = format!(r#"{{"arpwatch-url": "{url}"}}"#);
            let c = Config::from_json(&json).unwrap();
            assert_eq!(c.arpwatch_url.as_deref(), Some(url));
        }
        let c = Config::from_json(r#"{"arpwatch-url": null}"#).unwrap();
        assert_eq!(c.arpwatch_url, None);
    }

    #[test]
    fn messages_name_the_parameter_and_what_is_expected() {
        assert_eq!(
            err(r#"{"grace-period": "5m"}"#),
            "parameter 'grace-period': expected a non-negative integer number of seconds \
             from 0 to 604800, got \"5m\""
        );
        let cases = [
            (
                r#"{"grace-perod": 5}"#,
                "unknown parameter 'grace-perod': expected one of redis-url,",
            ),
            (
                r#"{"grace-period": -1}"#,
                "parameter 'grace-period': expected a non-negative",
            ),
            (
                r#"{"workers": 0}"#,
                "parameter 'workers': expected a number of worker threads from 1 to 64, got 0",
            ),
            (r#"{"workers": 65}"#, "got 65"),
            (r#"{"workers": 1.5}"#, "got 1.5"),
            (
                r#"{"queue-capacity": "big"}"#,
                "parameter 'queue-capacity': expected a number",
            ),
            (r#"{"queue-capacity": 0}"#, "parameter 'queue-capacity'"),
            (
                r#"{"arpwatch-multicall": "yes"}"#,
                "parameter 'arpwatch-multicall': expected true, false or \"auto\", got \"yes\"",
            ),
            (
                r#"{"arpwatch-partner-updates": 1}"#,
                "parameter 'arpwatch-partner-updates': expected true or false, got 1",
            ),
            (
                r#"{"arpwatch-timeout-ms": 0}"#,
                "parameter 'arpwatch-timeout-ms': expected a positive",
            ),
            (
                r#"{"arpwatch-url": "ftp://a"}"#,
                "parameter 'arpwatch-url': expected an http:// or https:// URL",
            ),
            (r#"{"arpwatch-url": "http://"}"#, "parameter 'arpwatch-url'"),
            (
                r#"{"arpwatch-url": "http://h:99999/"}"#,
                "parameter 'arpwatch-url'",
            ),
            (r#"{"arpwatch-url": 8080}"#, "got 8080"),
            (
                r#"{"redis-url": "http://127.0.0.1"}"#,
                "parameter 'redis-url': expected a Redis URL",
            ),
            (
                r#"{"redis-url": "rediss://h/#insecure"}"#,
                "certificate checks cannot be turned off",
            ),
            (
                r#"{"redis-url": "redis+sentinel://u:hunter2@h:1"}"#,
                "the service name (the path's first part) is missing",
            ),
            (
                r#"{"redis-sentinel-password-file": "/etc/hostname"}"#,
                "no sentinels' password unless 'redis-url' is redis+sentinel://",
            ),
            (
                r#"{"redis-url": "redis://u:hunter2@h:99999"}"#,
                "redis://u:***@h:99999",
            ),
            (
                r#"{"redis-ca-file": "/etc/hostname"}"#,
                "no TLS file unless 'redis-url' is rediss://",
            ),
            (
                r#"{"redis-url": "rediss://h", "redis-ca-file": "/nonexistent/ca.pem"}"#,
                "parameter 'redis-ca-file': expected a readable PEM file",
            ),
            (
                r#"{"redis-url": "rediss://h", "redis-ca-file": "/etc/hostname"}"#,
                "a PEM file with a CERTIFICATE block",
            ),
            (
                r#"{"redis-url": "rediss://h", "redis-client-cert": "/etc/hostname"}"#,
                "'redis-client-cert' and 'redis-client-key' together, or neither",
            ),
            (
                r#"{"redis-password-file": "/etc/passwd"}"#,
                "mode 0644: other users may read it",
            ),
            (r#"{"redis-password-file": "/etc"}"#, "not a regular file"),
            (
                r#"{"redis-url": "127.0.0.1:6379"}"#,
                "parameter 'redis-url'",
            ),
            (
                r#"{"key-prefix": "a b"}"#,
                "parameter 'key-prefix': expected a string of at most 256 bytes",
            ),
            (r#"{"key-prefix": 1}"#, "parameter 'key-prefix'"),
            (
                r#"{"node-name": ""}"#,
                "parameter 'node-name': expected a non-empty name",
            ),
            (r#"{"node-name": "a b"}"#, "parameter 'node-name'"),
            (
                "[1]",
                "hook parameters: expected a map (JSON object) of parameters, got [1]",
            ),
            (
                "{",
                "hook parameters: expected a map (JSON object) of parameters, got text that is not JSON",
            ),
        ];
        for (json, want) in cases {
            let got = err(json);
            assert!(got.contains(want), "{json}: {got:?} lacks {want:?}");
            assert!(
                !got.contains("hunter2"),
                "{json}: {got:?} shows the password"
            );
        }
    }

    /// `arpwatch-url` plus `more` (JSON members), as parameters.
    fn with_url(url: &str, more: &str) -> Result<Config, ConfigError> {
        Config::from_json(&format!(r#"{{"arpwatch-url": "{url}"{more}}}"#))
    }

    fn quoted(path: &Path) -> String {
        format!("{:?}", path.to_str().unwrap())
    }

    #[test]
    fn https_reads_its_files_at_load_and_http_refuses_them() {
        use system_tests::pki::{Pki, Usage};
        let pki = Pki::new("config");
        let client = pki.issue("aae", Usage::Client, &[]);
        let (ca, cert, key) = (
            quoted(pki.ca_file()),
            quoted(&client.cert),
            quoted(&client.key),
        );
        let all = format!(
            r#", "arpwatch-ca-file": {ca}, "arpwatch-client-cert": {cert},
                "arpwatch-client-key": {key}"#
        );
        let c = with_url("https://arpwatch.example/RPC2", &all).unwrap();
        let tls = c.arpwatch_tls.unwrap();
        assert_eq!(tls.ca_file(), Some(pki.ca_file()));
        assert_eq!(
            tls.client_cert(),
            Some((client.cert.as_path(), client.key.as_path()))
        );
        // https without a CA file: the system's store.
        let c = with_url("https://arpwatch.example/RPC2", "").unwrap();
        assert_eq!(c.arpwatch_tls.unwrap().ca_file(), None);
        // http: no TLS, and TLS files are a mistake.
        assert_eq!(with_url("http://a/", "").unwrap().arpwatch_tls, None);
        let e = with_url("http://a/", &all).unwrap_err().to_string();
        assert!(
            e.starts_with("parameter 'arpwatch-ca-file': expected to be used with an https://"),
            "{e}"
        );
        // null is "not set".
        let c = with_url("http://a/", r#", "arpwatch-ca-file": null"#).unwrap();
        assert_eq!(c.arpwatch_tls, None);
        // Without ARPwatch nothing is read.
        let c = Config::from_json(r#"{"arpwatch-ca-file": "/nonexistent/ca.pem"}"#).unwrap();
        assert_eq!(c.arpwatch_tls, None);
        // A certificate without its key, and the other way round.
        for (given, missing) in [
            (&cert, "arpwatch-client-key"),
            (&key, "arpwatch-client-cert"),
        ] {
            let name = if missing == "arpwatch-client-key" {
                "arpwatch-client-cert"
            } else {
                "arpwatch-client-key"
            };
            let e = with_url("https://a/", &format!(r#", "{name}": {given}"#))
                .unwrap_err()
                .to_string();
            assert!(
                e.starts_with(&format!(
                    "parameter '{name}': expected to be given together with '{missing}'"
                )),
                "{e}"
            );
        }
        // Files that are not what they should be name the parameter and file.
        let missing = pki.dir().join("missing.pem");
        let e = with_url(
            "https://a/",
            &format!(r#", "arpwatch-ca-file": {}"#, quoted(&missing)),
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.starts_with("parameter 'arpwatch-ca-file'")
                && e.contains(&format!(
                    "the CA file {}: cannot read it",
                    missing.display()
                )),
            "{e}"
        );
        let e = with_url(
            "https://a/",
            &format!(r#", "arpwatch-client-cert": {key}, "arpwatch-client-key": {key}"#),
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.starts_with("parameter 'arpwatch-client-cert'") && e.contains("holds no certificate"),
            "{e}"
        );
        let other = pki.issue("other", Usage::Client, &[]);
        let e = with_url(
            "https://a/",
            &format!(
                r#", "arpwatch-client-cert": {cert}, "arpwatch-client-key": {}"#,
                quoted(&other.key)
            ),
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.starts_with("parameter 'arpwatch-client-key'") && e.contains("does not belong"),
            "{e}"
        );
        set_mode(&client.key, 0o644);
        let e = with_url("https://a/", &all).unwrap_err().to_string();
        assert!(
            e.starts_with(
                "parameter 'arpwatch-client-key': expected a regular file Kea's user can read \
                 and other users cannot"
            ) && e.contains("chmod 0640"),
            "{e}"
        );
        let e = with_url("https://a/", r#", "arpwatch-ca-file": "ca.pem""#)
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("parameter 'arpwatch-ca-file': expected an absolute file path"),
            "{e}"
        );
    }

    fn set_mode(path: &Path, mode: u32) {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
    }

    #[test]
    fn the_credentials_file_is_private_one_line_and_never_shown() {
        let dir = temp_dir("credentials");
        let file = dir.join("arpwatch.credentials");
        let load = |text: &str, mode: u32| {
            std::fs::write(&file, text).unwrap();
            set_mode(&file, mode);
            with_url(
                "https://a/RPC2",
                &format!(r#", "arpwatch-credentials-file": {}"#, quoted(&file)),
            )
        };
        for text in ["aae:pa:ss word\n", "aae:pa:ss word", "aae:pa:ss word\r\n"] {
            let c = load(text, 0o600).unwrap();
            let credentials = c.arpwatch_credentials.clone().unwrap();
            assert_eq!(credentials.user(), "aae");
            assert_eq!(credentials, Credentials::new("aae", "pa:ss word").unwrap());
            assert!(!format!("{c:?}").contains("pa:ss"), "{c:?}");
        }
        assert!(load("aae:x\n", 0o400).is_ok());
        let refused = |text: &str, mode: u32| {
            let e = load(text, mode).unwrap_err().to_string();
            assert!(
                e.starts_with("parameter 'arpwatch-credentials-file': expected a regular file"),
                "{e}"
            );
            assert!(!e.contains("s3cret"), "the password is shown: {e}");
            e
        };
        // Group-readable, as Debian's root:_kea 0640 secrets are.
        assert!(load("aae:x\n", 0o640).is_ok());
        for mode in [0o644, 0o604, 0o660, 0o620, 0o602] {
            let e = refused("aae:s3cret\n", mode);
            assert!(
                e.contains(&format!("mode {mode:04o}"))
                    && e.contains(&format!("chmod 0640 {}", file.display()))
                    && e.contains(&format!("chown root:_kea {}", file.display())),
                "{e}"
            );
        }
        assert!(refused("s3cret\n", 0o600).contains("not user:password"));
        assert!(refused(":s3cret\n", 0o600).contains("the user is empty"));
        assert!(refused("aae:s3cret\nmore:s3cret\n", 0o600).contains("more than one line"));
        assert!(refused("aae:s3cret\u{7}\n", 0o600).contains("control characters"));
        assert!(refused(&"x".repeat(5000), 0o600).contains("longer than"));
        // A directory, and nothing at all.
        let e = with_url(
            "https://a/",
            &format!(r#", "arpwatch-credentials-file": {}"#, quoted(&dir)),
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("not a regular file"), "{e}");
        std::fs::remove_file(&file).unwrap();
        let e = with_url(
            "https://a/",
            &format!(r#", "arpwatch-credentials-file": {}"#, quoted(&file)),
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("No such file or directory"), "{e}");
        // Over http:// the password would travel in clear text.
        let e = with_url(
            "http://a/",
            &format!(r#", "arpwatch-credentials-file": {}"#, quoted(&file)),
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("clear text"), "{e}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_password_in_the_url_is_refused_and_not_shown() {
        for url in [
            "https://aae:s3cret@arpwatch/RPC2",
            "http://aae:s3cret@arpwatch",
            "http//aae:s3cret@arpwatch",
            "https://aae:s3cret@",
        ] {
            let e = with_url(url, "").unwrap_err().to_string();
            assert!(e.starts_with("parameter 'arpwatch-url'"), "{url}: {e}");
            assert!(!e.contains("s3cret"), "{url}: {e}");
        }
        let e = with_url("https://aae:s3cret@arpwatch/RPC2", "")
            .unwrap_err()
            .to_string();
        assert!(e.contains("'arpwatch-credentials-file'"), "{e}");
    }

    #[test]
    fn long_values_are_cut_short_in_messages() {
        let long = "x".repeat(500);
        let got = err(&format!(r#"{{"node-name": 5, "workers": "{long}"}}"#));
        assert!(got.len() < 200, "{got}");
        assert!(got.ends_with("..."), "{got}");
    }
}
