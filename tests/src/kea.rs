//! A real `kea-dhcp4` / `kea-dhcp6` inside the server namespace of a
//! [`crate::netns::NetnsPair`] (or of any [`ServerSite`], such as one server
//! of a [`crate::netns::NetnsLan`]), with a generated JSON config, a
//! persisted memfile lease database, pid and lock files, a log file and a
//! control socket, all in a private temp dir. Stopped on drop. Also
//! `perfdhcp` in the client namespace (any [`ClientSite`]).
//!
//! The Kea is this machine's, or another Debian release's ([`kea_root`]):
//! then kea-dhcp4/kea-dhcp6 run chrooted in a root of that release made by
//! `ci/root`, still in the test's network namespaces, with aae built for
//! that release and Kea's own path checks on (the temp dir is inside the
//! root, and named to Kea through `KEA_DHCP_DATA_DIR` and its siblings).

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::netns::{ClientSite, SUBNET_V4, SUBNET_V6, ServerSite, netns_command};
use crate::{require_program, wait_for};

/// Which server.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Family {
    V4,
    V6,
}

impl Family {
    fn program(self) -> &'static str {
        match self {
            Family::V4 => "kea-dhcp4",
            Family::V6 => "kea-dhcp6",
        }
    }
    fn top(self) -> &'static str {
        match self {
            Family::V4 => "Dhcp4",
            Family::V6 => "Dhcp6",
        }
    }
    fn started_id(self) -> &'static str {
        match self {
            Family::V4 => "DHCP4_STARTED",
            Family::V6 => "DHCP6_STARTED",
        }
    }
}

/// What the generated config contains. `Default` is a single-threaded
/// server with no hooks library.
#[derive(Clone, Debug)]
pub struct KeaConfig {
    pub family: Family,
    /// `(library path, "parameters" map)` entries of `hooks-libraries`.
    pub hooks: Vec<(PathBuf, Value)>,
    /// `Some(n)`: multi-threading with `n` packet threads.
    pub threads: Option<u32>,
    pub valid_lifetime: u32,
    /// Seconds between reclamations of expired leases.
    pub reclaim_every: u32,
    /// Kea's logger severity for everything ("INFO", "DEBUG").
    pub severity: &'static str,
    /// DHCPv6 `mac-sources`; `None` keeps Kea's default (`any`).
    pub mac_sources: Option<Vec<&'static str>>,
    /// The `pools` of the one subnet (id 1); `None`: one pool,
    /// `192.0.2.10 - 192.0.2.250` or `2001:db8:1::1000 - 2001:db8:1::1fff`.
    /// E.g. two pools with `client-class` `HA_server1` / `HA_server2` for
    /// HA load balancing.
    pub pools: Option<Vec<Value>>,
    /// Top-level entries of `Dhcp4` / `Dhcp6`, set last: they add to or
    /// replace what the fixture generates (`multi-threading`, `loggers`, ...).
    pub extra: serde_json::Map<String, Value>,
}

impl Default for KeaConfig {
    fn default() -> Self {
        KeaConfig {
            family: Family::V4,
            hooks: Vec::new(),
            threads: None,
            valid_lifetime: 3600,
            reclaim_every: 1,
            severity: "INFO",
            mac_sources: None,
            pools: None,
            extra: serde_json::Map::new(),
        }
    }
}

impl KeaConfig {
    /// This config with one hooks library loaded with `params`.
    pub fn with_hook(mut self, library: &Path, params: Value) -> Self {
        self.hooks.push((library.to_owned(), params));
        self
    }
}

/// A running Kea server (or one that refused to start: see [`Kea::start_failing`]).
pub struct Kea {
    child: Option<Child>,
    dir: tempfile::TempDir,
    family: Family,
    server_ns: String,
    server_if: String,
}

impl Kea {
    /// Writes the config, starts Kea in `net`'s server namespace and waits
    /// until it logs that it started and answers on its control socket.
    /// Panics, showing Kea's log, if it exits instead.
    pub fn start(net: &(impl ServerSite + ?Sized), config: &KeaConfig) -> Kea {
        let mut kea = Kea::spawn(net, config);
        let started = config.family.started_id();
        let up = wait_for(
            &format!("{} to start", config.family.program()),
            Duration::from_secs(20),
            || {
                if let Some(status) = kea.try_exit() {
                    return Some(Err(status));
                }
                (kea.log().contains(started) && kea.command("status-get", None).is_ok())
                    .then_some(Ok(()))
            },
        );
        if let Err(status) = up {
            panic!(
                "{} exited ({status}) instead of starting; its log:\n{}",
                config.family.program(),
                kea.log()
            );
        }
        kea
    }

    /// Starts Kea with a config it is expected to refuse; waits for it to
    /// exit and returns its exit status and full log.
    pub fn start_failing(
        net: &(impl ServerSite + ?Sized),
        config: &KeaConfig,
    ) -> (ExitStatus, String) {
        let mut kea = Kea::spawn(net, config);
        let status = wait_for(
            &format!("{} to refuse its config and exit", config.family.program()),
            Duration::from_secs(20),
            || kea.try_exit(),
        );
        (status, kea.log())
    }

    fn spawn(net: &(impl ServerSite + ?Sized), config: &KeaConfig) -> Kea {
        let dir = shared_dir("aae-kea-");
        // Kea 2.6.3 wants its control socket's directory 0750, exactly.
        std::fs::set_permissions(
            dir.path(),
            std::os::unix::fs::PermissionsExt::from_mode(0o750),
        )
        .expect("chmod the temp dir");
        let mut kea = Kea {
            child: None,
            dir,
            family: config.family,
            server_ns: net.server_ns().to_owned(),
            server_if: net.server_if().to_owned(),
        };
        kea.write_config(config);
        kea.launch();
        kea
    }

    /// Starts the process with the config file as it is.
    fn launch(&mut self) {
        let out = std::fs::File::create(self.dir.path().join("kea.stdout")).expect("stdout file");
        let program = self.family.program();
        let mut cmd = match kea_root() {
            Some(root) => {
                let inside = root.join("usr/sbin").join(program);
                assert!(
                    inside.is_file(),
                    "{} is missing: run `bash ci/root SUITE`",
                    inside.display()
                );
                let mut c = netns_command(&self.server_ns, "chroot");
                c.arg(&root).arg(program);
                c
            }
            None => netns_command(
                &self.server_ns,
                require_program(program).to_str().expect("utf-8 path"),
            ),
        };
        // Where Kea 2.6.3's and 3.0's path checks allow files (2.2 ignores
        // these): all in the test's own directory.
        let dir = self.inside(self.dir.path());
        for var in [
            "KEA_PIDFILE_DIR",
            "KEA_LOCKFILE_DIR",
            "KEA_DHCP_DATA_DIR",
            "KEA_LOG_FILE_DIR",
            "KEA_CONTROL_SOCKET_DIR",
        ] {
            cmd.env(var, &dir);
        }
        let child = cmd
            .arg("-c")
            .arg(self.inside(&self.config_path()))
            .stdin(Stdio::null())
            .stdout(out.try_clone().expect("dup stdout file"))
            .stderr(out)
            .spawn()
            .expect("spawn kea");
        self.child = Some(child);
    }

    fn inside(&self, path: &Path) -> PathBuf {
        seen_by_kea(path)
    }

    /// (Re)writes the config file; takes effect at start or on
    /// [`Kea::reload`].
    pub fn write_config(&self, config: &KeaConfig) {
        assert_eq!(config.family, self.family, "a Kea fixture keeps its family");
        let text = serde_json::to_string_pretty(&self.render(config)).expect("render config");
        std::fs::write(self.config_path(), text).expect("write kea config");
    }

    fn render(&self, c: &KeaConfig) -> Value {
        let dir = self.dir.path();
        let hooks: Vec<Value> = c
            .hooks
            .iter()
            .map(|(lib, params)| json!({"library": self.inside(lib), "parameters": params}))
            .collect();
        let mut server = json!({
            "interfaces-config": {"interfaces": [self.server_if]},
            "lease-database": {
                "type": "memfile",
                "persist": true,
                "name": self.inside(&self.lease_file()),
                // No lease file cleanup: tests read the file as Kea wrote it.
                "lfc-interval": 0
            },
            "control-socket": {
                "socket-type": "unix",
                "socket-name": self.inside(&dir.join("ctrl.sock"))
            },
            "valid-lifetime": c.valid_lifetime,
            "expired-leases-processing": {
                "reclaim-timer-wait-time": c.reclaim_every,
                "hold-reclaimed-time": 0,
                "flush-reclaimed-timer-wait-time": 0
            },
            "hooks-libraries": hooks,
            "multi-threading": match c.threads {
                Some(n) => json!({
                    "enable-multi-threading": true,
                    "thread-pool-size": n,
                    "packet-queue-size": 16
                }),
                None => json!({"enable-multi-threading": false}),
            },
            "loggers": [{
                "name": c.family.program(),
                "output_options": [{"output": self.inside(&self.log_path()), "flush": true}],
                "severity": c.severity,
                "debuglevel": 99
            }]
        });
        let obj = server.as_object_mut().expect("map");
        match c.family {
            Family::V4 => {
                obj["interfaces-config"]["dhcp-socket-type"] = json!("raw");
                obj.insert(
                    "subnet4".into(),
                    json!([{
                        "id": 1,
                        "subnet": SUBNET_V4,
                        "pools": c.pools.clone().unwrap_or_else(
                            || vec![json!({"pool": "192.0.2.10 - 192.0.2.250"})]
                        )
                    }]),
                );
            }
            Family::V6 => {
                obj.insert("preferred-lifetime".into(), json!(c.valid_lifetime / 2));
                // Not persisted: the default file is under /var/lib/kea.
                obj.insert("server-id".into(), json!({"type": "LLT", "persist": false}));
                obj.insert(
                    "subnet6".into(),
                    json!([{
                        "id": 1,
                        "subnet": SUBNET_V6,
                        "interface": self.server_if,
                        "pools": c.pools.clone().unwrap_or_else(
                            || vec![json!({"pool": "2001:db8:1::1000 - 2001:db8:1::1fff"})]
                        )
                    }]),
                );
                if let Some(sources) = &c.mac_sources {
                    obj.insert("mac-sources".into(), json!(sources));
                }
            }
        }
        // Kea 3.0 caches leases by default (`cache-threshold` 0.25): a
        // renewal early in a lease's life then reuses it, and no hook point
        // reports it (ARCHITECTURE.md, "Known gap"). Every Kea here is run
        // as 2.x runs by default, without caching; 2.x refuses 0.
        if kea_major_version() >= 3 {
            obj.insert("cache-threshold".into(), json!(0.0));
        }
        for (k, v) in &c.extra {
            obj.insert(k.clone(), v.clone());
        }
        json!({ c.family.top(): server })
    }

    pub fn config_path(&self) -> PathBuf {
        self.dir.path().join("kea.json")
    }

    /// Kea's log file (its own loggers) followed by what it printed before
    /// its loggers were configured (startup errors go there).
    pub fn log(&self) -> String {
        let mut s = std::fs::read_to_string(self.log_path()).unwrap_or_default();
        s.push_str(
            &std::fs::read_to_string(self.dir.path().join("kea.stdout")).unwrap_or_default(),
        );
        s
    }

    pub fn log_path(&self) -> PathBuf {
        self.dir.path().join("kea.log")
    }

    /// The memfile lease database (CSV), persisted by Kea.
    pub fn lease_file(&self) -> PathBuf {
        self.dir.path().join(match self.family {
            Family::V4 => "leases4.csv",
            Family::V6 => "leases6.csv",
        })
    }

    /// Kea's pid (`ip netns exec` execs, so the child is Kea itself).
    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("kea is running").id()
    }

    /// The names of Kea's threads, from `/proc/<pid>/task/*/comm`.
    pub fn thread_names(&self) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(format!("/proc/{}/task", self.pid()))
            .map(|rd| {
                rd.filter_map(|e| e.ok())
                    .filter_map(|e| std::fs::read_to_string(e.path().join("comm")).ok())
                    .map(|s| s.trim().to_owned())
                    .collect()
            })
            .unwrap_or_default();
        names.sort();
        names
    }

    /// Waits until the names of Kea's threads starting with `prefix` are
    /// exactly `want` (sorted). A thread exists a moment before it names
    /// itself, so a check right after a reload must wait, not look once.
    /// Panics with every thread name and the end of Kea's log otherwise.
    pub fn wait_threads(&self, prefix: &str, want: &[&str]) {
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let all = self.thread_names();
            let named: Vec<&str> = all
                .iter()
                .map(String::as_str)
                .filter(|n| n.starts_with(prefix))
                .collect();
            if named == want {
                return;
            }
            if Instant::now() > deadline {
                let log = self.log();
                let tail: Vec<&str> = log.lines().rev().take(30).collect();
                panic!(
                    "threads {prefix}* are {named:?}, want {want:?}; all threads: {all:?}\n\
                     log tail (newest first):\n{}",
                    tail.join("\n")
                );
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Sends one command over the control socket and returns Kea's answer
    /// (`{"result": .., "text": .., "arguments": ..}`).
    pub fn command(&self, command: &str, arguments: Option<Value>) -> std::io::Result<Value> {
        let mut req = json!({ "command": command });
        if let Some(a) = arguments {
            req["arguments"] = a;
        }
        let mut s = UnixStream::connect(self.dir.path().join("ctrl.sock"))?;
        s.set_read_timeout(Some(Duration::from_secs(10)))?;
        s.write_all(req.to_string().as_bytes())?;
        // Kea answers once and closes the connection.
        let mut buf = Vec::new();
        s.read_to_end(&mut buf)?;
        serde_json::from_slice(&buf).map_err(std::io::Error::other)
    }

    /// Like [`Kea::command`], but panics unless Kea answers with result 0.
    pub fn command_ok(&self, command: &str, arguments: Option<Value>) -> Value {
        let answer = self
            .command(command, arguments)
            .unwrap_or_else(|e| panic!("{command}: control socket: {e}"));
        assert_eq!(answer["result"], 0, "{command} failed: {answer}");
        answer
    }

    /// Every statistic's latest value, by name (`statistic-get-all`).
    pub fn statistics(&self) -> std::collections::BTreeMap<String, i64> {
        let answer = self.command_ok("statistic-get-all", None);
        answer["arguments"]
            .as_object()
            .map(|m| {
                m.iter()
                    .filter_map(|(k, v)| Some((k.clone(), v[0][0].as_i64()?)))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// A text statistic's latest value (`aae.redis-primary`).
    pub fn statistic_text(&self, name: &str) -> Option<String> {
        let answer = self.command_ok("statistic-get", Some(serde_json::json!({"name": name})));
        answer["arguments"][name][0][0].as_str().map(str::to_owned)
    }

    /// One statistic's latest value (`aae.events-received`, `pkt4-ack-sent`).
    pub fn statistic(&self, name: &str) -> Option<i64> {
        self.statistics().get(name).copied()
    }

    /// Rewrites the config and asks Kea to reload it (`config-reload`),
    /// which unloads and reloads every hooks library. Returns Kea's answer.
    pub fn reload(&self, config: &KeaConfig) -> Value {
        self.write_config(config);
        self.command("config-reload", None)
            .unwrap_or_else(|e| panic!("config-reload: control socket: {e}"))
    }

    fn try_exit(&mut self) -> Option<ExitStatus> {
        let child = self.child.as_mut()?;
        let status = child.try_wait().ok().flatten()?;
        Some(status)
    }

    /// Stops Kea (SIGTERM, then SIGKILL after 10 s) and waits for it.
    /// Returns how long the shutdown took; the log stays readable.
    pub fn stop(&mut self) -> Duration {
        let start = Instant::now();
        let Some(mut child) = self.child.take() else {
            return Duration::ZERO;
        };
        if let Ok(Some(_)) = child.try_wait() {
            return Duration::ZERO;
        }
        let _ = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .stderr(Stdio::null())
            .status();
        let deadline = start + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = child.try_wait() {
                return start.elapsed();
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = child.kill();
        let _ = child.wait();
        start.elapsed()
    }

    /// Kills Kea with SIGKILL (a crash: no unload, no shutdown of its
    /// hooks) and waits for it to be gone. The log stays readable.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Whether Kea's process is still running.
    pub fn is_running(&mut self) -> bool {
        self.child.is_some() && self.try_exit().is_none()
    }

    /// Starts Kea again with the same config file and lease file, in
    /// `net`'s server namespace (the one it ran in).
    pub fn restart(&mut self, net: &(impl ServerSite + ?Sized)) {
        assert_eq!(
            net.server_ns(),
            self.server_ns,
            "a Kea restarts where it ran"
        );
        self.stop();
        let _ = std::fs::remove_file(self.log_path());
        self.launch();
        let started = self.family.started_id();
        wait_for("kea to start again", Duration::from_secs(20), || {
            (self.log().contains(started) && self.command("status-get", None).is_ok()).then_some(())
        });
    }

    /// The current leases in Kea's lease file: the last line per address
    /// wins (memfile appends), leases with valid lifetime 0 are deleted ones.
    pub fn leases(&self) -> Vec<LeaseRow> {
        let text = std::fs::read_to_string(self.lease_file()).unwrap_or_default();
        let mut lines = text.lines();
        let header: Vec<&str> = lines.next().unwrap_or_default().split(',').collect();
        let col = |name: &str| header.iter().position(|h| *h == name);
        let (Some(ip), Some(hw), Some(lft), Some(exp), Some(state), Some(host)) = (
            col("address"),
            col("hwaddr"),
            col("valid_lifetime"),
            col("expire"),
            col("state"),
            col("hostname"),
        ) else {
            return Vec::new();
        };
        let mut by_ip = std::collections::BTreeMap::new();
        for line in lines {
            let f: Vec<&str> = line.split(',').collect();
            if f.len() < header.len() {
                continue;
            }
            let row = LeaseRow {
                address: f[ip].to_owned(),
                hwaddr: f[hw].to_owned(),
                valid_lifetime: f[lft].parse().unwrap_or(0),
                expire: f[exp].parse().unwrap_or(0),
                state: f[state].parse().unwrap_or(0),
                hostname: f[host].to_owned(),
            };
            by_ip.insert(row.address.clone(), row);
        }
        by_ip
            .into_values()
            .filter(|r| r.valid_lifetime != 0)
            .collect()
    }
}

/// One lease as Kea's memfile CSV records it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LeaseRow {
    pub address: String,
    /// `aa:bb:..`, empty when Kea knows none.
    pub hwaddr: String,
    pub valid_lifetime: u32,
    /// Unix second the lease expires.
    pub expire: i64,
    /// 0 default, 1 declined, 2 expired-reclaimed.
    pub state: u32,
    /// As Kea stored it (after its own sanitizing; CSV-escaped).
    pub hostname: String,
}

impl Drop for Kea {
    fn drop(&mut self) {
        self.stop();
    }
}

/// What one perfdhcp run printed and how it ended.
pub struct PerfRun {
    pub output: Output,
}

impl PerfRun {
    pub fn stdout(&self) -> String {
        String::from_utf8_lossy(&self.output.stdout).into_owned()
    }

    /// Asserts perfdhcp ran (exit status 0, or 3: "some exchanges not
    /// completed", which a loaded machine causes when an answer is later than
    /// perfdhcp's drop time) and `exchange` completed at least once. Returns
    /// how many completed. Exact counts come from Kea's own statistics.
    pub fn assert_served(&self, exchange: &str) -> u64 {
        let out = self.stdout();
        assert!(
            matches!(self.output.status.code(), Some(0 | 3)),
            "perfdhcp failed ({}):\n{out}\n{}",
            self.output.status,
            String::from_utf8_lossy(&self.output.stderr)
        );
        let (_, received, _) = self
            .exchange(exchange)
            .unwrap_or_else(|| panic!("no {exchange} statistics in:\n{out}"));
        assert!(received > 0, "no {exchange} completed:\n{out}");
        received
    }

    /// `(sent, received, drops)` of one exchange, e.g. "DISCOVER-OFFER",
    /// "REQUEST-ACK", "SOLICIT-ADVERTISE", "REQUEST-REPLY", "RELEASE".
    pub fn exchange(&self, name: &str) -> Option<(u64, u64, u64)> {
        let out = self.stdout();
        let start = out.find(&format!("***Statistics for: {name}***"))?;
        let section = &out[start..];
        let field = |key: &str| -> Option<u64> {
            section
                .lines()
                .find_map(|l| l.trim().strip_prefix(key))
                .and_then(|v| v.trim().parse().ok())
        };
        Some((
            field("sent packets:")?,
            field("received packets:")?,
            field("drops:")?,
        ))
    }
}

/// Runs perfdhcp in the client namespace against the fixture's server.
/// `args` come after `-4`/`-6 -l <iface>`; pass `-R N` for N clients (the
/// default simulates one) and a bound such as `-n`/`-p`.
pub fn perfdhcp(net: &(impl ClientSite + ?Sized), family: Family, args: &[&str]) -> PerfRun {
    let program = require_program("perfdhcp");
    let fam = match family {
        Family::V4 => "-4",
        Family::V6 => "-6",
    };
    let output = netns_command(net.client_ns(), program.to_str().expect("utf-8 path"))
        .args([fam, "-l", net.client_if()])
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run perfdhcp");
    PerfRun { output }
}

/// The root of the Debian release whose Kea the tests run
/// (`AAE_KEA_ROOT`, e.g. `/var/cache/aae-roots/trixie`, made by `ci/root`),
/// or `None` for this machine's own Kea.
pub fn kea_root() -> Option<PathBuf> {
    let root = PathBuf::from(std::env::var_os("AAE_KEA_ROOT").filter(|v| !v.is_empty())?);
    assert!(
        root.join("usr/sbin").is_dir(),
        "AAE_KEA_ROOT={} is not a root: make it with `bash ci/root SUITE`",
        root.display()
    );
    Some(std::fs::canonicalize(&root).expect("canonical path of AAE_KEA_ROOT"))
}

/// A directory of the test's own that the Kea under test sees too (inside
/// its root, if any): for files named in aae's parameters, such as the
/// spool. Name them to Kea with [`seen_by_kea`].
pub fn shared_dir(prefix: &str) -> tempfile::TempDir {
    let builder = tempfile::Builder::new().prefix(prefix).clone();
    match kea_root() {
        Some(root) => builder.tempdir_in(root.join("tmp")),
        None => builder.tempdir(),
    }
    .expect("temp dir")
}

/// A path of this machine as the Kea under test sees it: inside its root
/// (without the root's prefix), or unchanged.
pub fn seen_by_kea(path: &Path) -> PathBuf {
    match kea_root() {
        Some(root) => match path.strip_prefix(&root) {
            Ok(rest) => Path::new("/").join(rest),
            Err(_) => path.to_owned(),
        },
        None => path.to_owned(),
    }
}

/// The major version of the Kea under test.
pub fn kea_major_version() -> u32 {
    kea_version().0
}

/// The (major, minor) version of the Kea under test (`kea-dhcp4 -V`), read
/// once: for what only some versions have (`offer-lifetime`, 2.6+).
pub fn kea_version() -> (u32, u32) {
    static VERSION: std::sync::OnceLock<(u32, u32)> = std::sync::OnceLock::new();
    *VERSION.get_or_init(|| {
        let out = match kea_root() {
            Some(root) => Command::new("chroot")
                .arg(root)
                .args(["kea-dhcp4", "-V"])
                .output(),
            None => Command::new(require_program("kea-dhcp4"))
                .arg("-V")
                .output(),
        }
        .expect("run kea-dhcp4 -V");
        let text = String::from_utf8_lossy(&out.stdout);
        let mut parts = text.trim().split('.').map(|p| p.parse().ok());
        match (parts.next().flatten(), parts.next().flatten()) {
            (Some(major), Some(minor)) => (major, minor),
            _ => panic!("cannot read Kea's version from {text:?}"),
        }
    })
}

/// Where Debian puts Kea's hooks libraries (ISC's, and aae's package).
pub const HOOKS_DIR: &str = "/usr/lib/x86_64-linux-gnu/kea/hooks";

/// A hooks library of the Kea under test, as a path of this machine.
pub fn hooks_library(name: &str) -> PathBuf {
    let p = kea_root()
        .unwrap_or_else(|| PathBuf::from("/"))
        .join(HOOKS_DIR.trim_start_matches('/'))
        .join(name);
    assert!(
        p.is_file(),
        "{} is missing: run `bash ci/setup` (Debian's kea-common) first",
        p.display()
    );
    p
}

/// The hook, `libdhcp_aae.so`, built for the Kea under test: with
/// [`kea_root`], the one installed in that root's hooks directory (ci/test
/// puts the release's build there); otherwise the release build under the
/// workspace's target dir (`CARGO_TARGET_DIR` if set). The system tests load
/// what CI built; they do not build it themselves.
pub fn aae_library() -> PathBuf {
    if kea_root().is_some() {
        return hooks_library("libdhcp_aae.so");
    }
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../target"));
    let lib = target.join("release/libdhcp_aae.so");
    assert!(
        lib.is_file(),
        "{} is missing: run `cargo build --release -p aae` first (with the same CARGO_TARGET_DIR)",
        lib.display()
    );
    std::fs::canonicalize(&lib).expect("canonical path of libdhcp_aae.so")
}

/// The addresses of `leases`, to compare with what Redis holds.
pub fn lease_ips(leases: &[LeaseRow]) -> std::collections::BTreeSet<String> {
    leases.iter().map(|l| l.address.clone()).collect()
}
