//! One Redis for a site: a primary, its replicas and three sentinels
//! watching them, all on free loopback ports, private to one test.
//!
//! The data nodes are [`RedisServer`]s (so `AAE_REDIS_ROOT` and
//! `AAE_REDIS_SERVER` choose the release and Redis or Valkey, as there);
//! the sentinels are the matching `redis-sentinel` or `valkey-sentinel`
//! (Debian's packages of those names), or the server in sentinel mode
//! where that is missing. Failover is tuned to take a few seconds: a
//! primary is down after 1 s without an answer.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::redis::{Options, RedisServer, new_dir};
use crate::{free_port, poll_until, wait_for};

/// How long a sentinel waits for a primary's answer before it calls it
/// down; the failover starts once two of three agree.
const DOWN_AFTER_MS: u32 = 1000;

pub struct SentinelSet {
    nodes: Vec<RedisServer>,
    sentinels: Vec<Sentinel>,
    service: String,
}

struct Sentinel {
    child: Option<Child>,
    port: u16,
    dir: tempfile::TempDir,
    service: String,
}

impl SentinelSet {
    /// A primary, one replica, three sentinels; each data node with
    /// `options` (an ACL, say: the `default` user, which the sentinels and
    /// this fixture use, keeps its rights).
    pub fn start(options: Options) -> SentinelSet {
        SentinelSet::start_with(options, 1)
    }

    /// The same with `replicas` replicas.
    pub fn start_with(options: Options, replicas: usize) -> SentinelSet {
        // Replicas take a full copy at once, without waiting for more
        // replicas to share it (Redis's default waits 5 s).
        let tuned = |mut o: Options| {
            o.extra.extend(
                [
                    "--repl-diskless-sync-delay",
                    "0",
                    "--repl-ping-replica-period",
                    "1",
                ]
                .map(str::to_owned),
            );
            o
        };
        let primary = RedisServer::start_with(tuned(options.clone()));
        let mut nodes = vec![primary];
        for _ in 0..replicas {
            let mut o = tuned(options.clone());
            o.extra.extend([
                "--replicaof".to_owned(),
                format!("127.0.0.1 {}", nodes[0].port()),
            ]);
            nodes.push(RedisServer::start_with(o));
        }
        let root = std::env::var_os("AAE_REDIS_ROOT")
            .filter(|r| !r.is_empty())
            .map(PathBuf::from);
        let primary_port = nodes[0].port();
        // A name of its own: sentinels take hello messages for the names
        // they monitor only, so two sets of parallel tests never mix, even
        // when one's node lands on a port another used before.
        let service = format!("aae-{primary_port}");
        let sentinels = (0..3)
            .map(|_| Sentinel::start(root.clone(), &service, primary_port))
            .collect();
        let set = SentinelSet {
            nodes,
            sentinels,
            service,
        };
        set.wait_settled(Duration::from_secs(20));
        set
    }

    /// `redis+sentinel://127.0.0.1:P1,127.0.0.1:P2,127.0.0.1:P3/aae-PORT`,
    /// with `user@` when given: the form aae and aai take.
    pub fn url(&self, user: Option<&str>) -> String {
        let hosts: Vec<String> = self
            .sentinels
            .iter()
            .map(|s| format!("127.0.0.1:{}", s.port))
            .collect();
        let user = user.map(|u| format!("{u}@")).unwrap_or_default();
        format!(
            "redis+sentinel://{user}{}/{}",
            hosts.join(","),
            self.service
        )
    }

    /// The name the sentinels monitor the primary under.
    pub fn service(&self) -> &str {
        &self.service
    }

    /// Every port a client must reach: sentinels, then data nodes.
    pub fn ports(&self) -> Vec<u16> {
        self.sentinels
            .iter()
            .map(|s| s.port)
            .chain(self.nodes.iter().map(RedisServer::port))
            .collect()
    }

    pub fn node(&self, i: usize) -> &RedisServer {
        &self.nodes[i]
    }

    /// The data node every sentinel names as primary and that says it is
    /// one; `None` while they disagree or it does not.
    pub fn primary(&self) -> Option<usize> {
        let named: Vec<Option<u16>> = self.sentinels.iter().map(Sentinel::primary_port).collect();
        let port = named.first().copied().flatten()?;
        if named.iter().any(|p| *p != Some(port)) {
            return None;
        }
        let i = self.nodes.iter().position(|n| n.port() == port)?;
        (self.nodes[i].is_running() && self.nodes[i].role().as_deref() == Some("master"))
            .then_some(i)
    }

    /// Kills the primary (SIGKILL: a machine lost), after its replicas
    /// caught up, so what it acknowledged is on them. Returns its index.
    pub fn kill_primary(&mut self) -> usize {
        let p = wait_for("a primary", Duration::from_secs(10), || self.primary());
        self.wait_replicated(Duration::from_secs(10));
        self.nodes[p].stop();
        p
    }

    /// Stops a node (SIGKILL), whatever its role.
    pub fn stop_node(&mut self, i: usize) {
        self.nodes[i].stop();
    }

    /// Waits until every sentinel names one primary other than `old` and
    /// it says it is one; returns it.
    pub fn wait_for_failover(&self, old: usize, timeout: Duration) -> usize {
        poll_until(timeout, || self.primary().filter(|p| *p != old)).unwrap_or_else(|| {
            panic!(
                "no failover from node {old} within {timeout:?}: {}",
                self.describe()
            )
        })
    }

    /// Starts a stopped node again (empty: it was killed) and waits until
    /// the sentinels made it a replica of the current primary, in sync.
    pub fn restart_as_replica(&mut self, i: usize, timeout: Duration) {
        self.nodes[i].restart();
        let ok = poll_until(timeout, || {
            let n = &self.nodes[i];
            (n.role().as_deref() == Some("slave")
                && n.replication("master_link_status").as_deref() == Some("up"))
            .then_some(())
        });
        if ok.is_none() {
            panic!(
                "node {i} did not become an up-to-date replica within {timeout:?}: {}",
                self.describe()
            );
        }
    }

    /// Waits until every running replica has all the primary wrote.
    pub fn wait_replicated(&self, timeout: Duration) {
        let Some(p) = self.primary() else {
            panic!("no primary to wait for: {}", self.describe())
        };
        let done = poll_until(timeout, || {
            let want: u64 = self.nodes[p]
                .replication("master_repl_offset")?
                .parse()
                .ok()?;
            self.nodes
                .iter()
                .enumerate()
                .filter(|(i, n)| *i != p && n.is_running())
                .all(|(_, n)| {
                    n.replication("master_link_status").as_deref() == Some("up")
                        && n.replication("slave_repl_offset")
                            .and_then(|o| o.parse::<u64>().ok())
                            .is_some_and(|o| o >= want)
                })
                .then_some(())
        });
        if done.is_none() {
            panic!(
                "replicas did not catch up within {timeout:?}: {}",
                self.describe()
            );
        }
    }

    /// What the sentinels and nodes say, for a failure message.
    pub fn describe(&self) -> String {
        let sentinels: Vec<String> = self
            .sentinels
            .iter()
            .map(|s| format!("sentinel {} names {:?}", s.port, s.primary_port()))
            .collect();
        let nodes: Vec<String> = self
            .nodes
            .iter()
            .map(|n| {
                format!(
                    "node {} running {} role {:?}",
                    n.port(),
                    n.is_running(),
                    n.role()
                )
            })
            .collect();
        format!("{}; {}", sentinels.join(", "), nodes.join(", "))
    }

    /// Waits until the sentinels agree on the first primary and know each
    /// other and every replica: before that, a failover cannot happen.
    fn wait_settled(&self, timeout: Duration) {
        let replicas = self.nodes.len() - 1;
        let settled = poll_until(timeout, || {
            self.sentinels
                .iter()
                .all(|s| {
                    s.primary_port() == Some(self.nodes[0].port())
                        && s.count("sentinels") == Some(self.sentinels.len() - 1)
                        && s.count("replicas") == Some(replicas)
                })
                .then_some(())
        });
        if settled.is_none() {
            panic!(
                "the sentinels did not settle within {timeout:?}: {}",
                self.describe()
            );
        }
    }
}

impl Sentinel {
    fn start(root: Option<PathBuf>, service: &str, primary_port: u16) -> Sentinel {
        let server = std::env::var("AAE_REDIS_SERVER").unwrap_or_else(|_| "redis-server".into());
        let sentinel = server.replace("server", "sentinel");
        let installed = match &root {
            Some(r) => r.join("usr/bin").join(&sentinel).exists(),
            None => on_path(&sentinel),
        };
        // Without the sentinel package, the server runs as one.
        let (program, mode): (&str, &[&str]) = if installed {
            (&sentinel, &[])
        } else {
            (&server, &["--sentinel"])
        };
        let mut last_log = String::new();
        for _ in 0..5 {
            let dir = new_dir(root.as_deref());
            let port = free_port();
            let conf = dir.path().join("sentinel.conf");
            // Sentinel rewrites its file as it learns: it must be its own,
            // and writable.
            std::fs::write(
                &conf,
                format!(
                    "port {port}\nbind 127.0.0.1\ndaemonize no\n\
                     dir {dir}\nlogfile {log}\n\
                     sentinel monitor {service} 127.0.0.1 {primary_port} 2\n\
                     sentinel down-after-milliseconds {service} {DOWN_AFTER_MS}\n\
                     sentinel failover-timeout {service} 10000\n\
                     sentinel parallel-syncs {service} 1\n",
                    dir = seen(root.as_deref(), dir.path()).display(),
                    log = seen(root.as_deref(), &dir.path().join("sentinel.log")).display(),
                ),
            )
            .expect("write sentinel.conf");
            let mut cmd = match &root {
                Some(r) => {
                    let mut c = Command::new("chroot");
                    c.arg(r).arg(program);
                    c
                }
                None => Command::new(program),
            };
            let child = cmd
                .arg(seen(root.as_deref(), &conf))
                .args(mode)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("spawn a sentinel");
            let mut s = Sentinel {
                child: Some(child),
                port,
                dir,
                service: service.to_owned(),
            };
            let up = poll_until(Duration::from_secs(10), || {
                if s.exited() {
                    return Some(false);
                }
                s.primary_port().is_some().then_some(true)
            });
            if up == Some(true) {
                return s;
            }
            // Its port taken meanwhile, most likely: another one.
            last_log = s.log();
        }
        panic!("a sentinel ({program}) would not start on any of 5 ports; its log:\n{last_log}");
    }

    fn exited(&mut self) -> bool {
        self.child
            .as_mut()
            .is_none_or(|c| c.try_wait().ok().flatten().is_some())
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("sentinel.log")).unwrap_or_default()
    }

    fn cli(&self, args: &[&str]) -> Option<String> {
        let out = Command::new("redis-cli")
            .args(["-h", "127.0.0.1", "-p", &self.port.to_string()])
            .args(args)
            .output()
            .ok()?;
        out.status
            .success()
            .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// The port of the primary this sentinel names.
    fn primary_port(&self) -> Option<u16> {
        let out = self.cli(&["SENTINEL", "get-master-addr-by-name", &self.service])?;
        let mut lines = out.lines();
        let (_host, port) = (lines.next()?, lines.next()?);
        port.trim().parse().ok()
    }

    /// `num-other-sentinels` or `num-slaves` of `SENTINEL master`.
    fn count(&self, what: &str) -> Option<usize> {
        let field = match what {
            "sentinels" => "num-other-sentinels",
            _ => "num-slaves",
        };
        let out = self.cli(&["SENTINEL", "master", &self.service])?;
        let lines: Vec<&str> = out.lines().collect();
        let at = lines.iter().position(|l| *l == field)?;
        lines.get(at + 1)?.trim().parse().ok()
    }

    fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for Sentinel {
    fn drop(&mut self) {
        self.kill();
    }
}

fn on_path(program: &str) -> bool {
    std::env::var("PATH")
        .unwrap_or_default()
        .split(':')
        .any(|d| Path::new(d).join(program).is_file())
}

/// A path of this machine as a process chrooted in `root` sees it.
fn seen(root: Option<&Path>, path: &Path) -> PathBuf {
    match root {
        Some(root) => Path::new("/").join(path.strip_prefix(root).unwrap_or(path)),
        None => path.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The fixture does what the failover tests rely on: a key written to
    /// the primary is on the replica that takes over, with its TTL; the old
    /// primary comes back as a replica of the new one, with the key, and
    /// refuses writes.
    #[test]
    fn a_killed_primary_is_replaced_by_its_replica_and_returns_as_one() {
        let mut set = SentinelSet::start(Options::default());
        let p = set.primary().expect("a primary at start");
        assert_eq!(p, 0);
        assert_eq!(set.node(p).cli(&["SET", "k", "v", "EX", "100"]), "OK");
        let t = std::time::Instant::now();
        let old = set.kill_primary();
        let new = set.wait_for_failover(old, Duration::from_secs(30));
        eprintln!("failover took {:?}", t.elapsed());
        assert_eq!(set.node(new).get("k").as_deref(), Some(&b"v"[..]));
        assert!((90..=100).contains(&set.node(new).ttl("k")));
        set.restart_as_replica(old, Duration::from_secs(30));
        assert_eq!(set.node(old).get("k").as_deref(), Some(&b"v"[..]));
        let refused = Command::new("redis-cli")
            .args(["-p", &set.node(old).port().to_string(), "SET", "k", "w"])
            .output()
            .unwrap();
        assert!(
            String::from_utf8_lossy(&refused.stdout).contains("READONLY"),
            "{refused:?}"
        );
        assert!(
            set.url(Some("aae"))
                .starts_with("redis+sentinel://aae@127.0.0.1:")
        );
    }
}
