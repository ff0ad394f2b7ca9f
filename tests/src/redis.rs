//! A real `redis-server` on a free loopback port, private to one test.
//!
//! This machine's, or another Debian release's: with `AAE_REDIS_ROOT` set to
//! a root made by `ci/root`, the server is that release's (trixie: Redis 8),
//! chrooted there, on this machine's loopback; `AAE_REDIS_SERVER` names the
//! program (`valkey-server` for Valkey; default `redis-server`).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::pki::{CertFiles, Pki, Usage};
use crate::{free_port, require_program, wait_for};

/// What a server is started with beyond the defaults.
#[derive(Clone, Debug, Default)]
pub struct Options {
    /// The text of an ACL file (`user NAME on >password ~pattern +command`
    /// lines). The `default` user keeps every right unless a line changes
    /// it, so the fixture's own helpers still work.
    pub acl: Option<String>,
    /// Also listen with TLS, on [`RedisServer::tls_port`].
    pub tls: Option<Tls>,
    /// More configuration, as command-line pairs (`["--replicaof",
    /// "127.0.0.1 6379"]`): a replica of a Sentinel set, say.
    pub extra: Vec<String>,
}

impl Options {
    /// The ACL docs/operations.md gives aae and aai (with these passwords),
    /// and TLS with a certificate for 127.0.0.1 from `pki`, which client
    /// certificates must also come from: a Redis set up as the docs say.
    pub fn documented(pki: &Pki, aae_password: &str, aai_password: &str) -> Options {
        Options {
            acl: Some(documented_acl(aae_password, aai_password)),
            tls: Some(Tls {
                server: pki.issue("redis-server", Usage::Server, &["127.0.0.1"]),
                ca: pki.ca_file().to_owned(),
                client_certs: true,
            }),
            extra: Vec::new(),
        }
    }
}

#[derive(Clone, Debug)]
pub struct Tls {
    /// The server's certificate and key.
    pub server: CertFiles,
    /// The CA client certificates must chain to.
    pub ca: PathBuf,
    /// `tls-auth-clients`: whether a client must present a certificate
    /// (Redis's own default is yes).
    pub client_certs: bool,
}

/// The least-privilege ACL docs/operations.md gives for aae and aai (its
/// ```` ```acl ```` block), with these passwords in place of its
/// placeholders: the tests run the documented ACL, not a copy of it.
pub fn documented_acl(aae_password: &str, aai_password: &str) -> String {
    let doc = include_str!(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../docs/operations.md"
    ));
    let start = doc
        .find("```acl\n")
        .expect("docs/operations.md has an ```acl block")
        + "```acl\n".len();
    let len = doc[start..].find("```").expect("the acl block ends");
    doc[start..start + len]
        .replace("CHANGE-ME-AAE", aae_password)
        .replace("CHANGE-ME-AAI", aai_password)
}

pub struct RedisServer {
    child: Option<Child>,
    port: u16,
    tls_port: Option<u16>,
    options: Options,
    dir: tempfile::TempDir,
    server: PathBuf,
    /// The root the server runs in, if not this machine's.
    root: Option<PathBuf>,
}

impl RedisServer {
    /// Starts a server with persistence off, on a fresh port, and waits until
    /// it answers PING.
    pub fn start() -> RedisServer {
        RedisServer::start_with(Options::default())
    }

    /// [`RedisServer::start`], with an ACL file or a TLS port.
    pub fn start_with(options: Options) -> RedisServer {
        let program = std::env::var("AAE_REDIS_SERVER").unwrap_or_else(|_| "redis-server".into());
        let root = std::env::var_os("AAE_REDIS_ROOT")
            .filter(|r| !r.is_empty())
            .map(PathBuf::from);
        let server = match &root {
            Some(root) => {
                let p = root.join("usr/bin").join(&program);
                assert!(p.exists(), "{} is missing: see ci/root", p.display());
                PathBuf::from(&program)
            }
            None => require_program(&program),
        };
        require_program("redis-cli");
        let mut dir = new_dir(root.as_deref());
        for _ in 0..5 {
            let mut r = RedisServer {
                child: None,
                port: free_port(),
                tls_port: options.tls.as_ref().map(|_| free_port()),
                options: options.clone(),
                dir,
                server: server.clone(),
                root: root.clone(),
            };
            if r.spawn() {
                return r;
            }
            dir = r.take_dir();
        }
        panic!("redis-server would not start on any of 5 free ports");
    }

    fn take_dir(mut self) -> tempfile::TempDir {
        self.kill();
        let fresh = new_dir(self.root.as_deref());
        std::mem::replace(&mut self.dir, fresh)
    }

    /// A path of this machine as the server sees it.
    fn seen(&self, path: &std::path::Path) -> PathBuf {
        match &self.root {
            Some(root) => std::path::Path::new("/").join(path.strip_prefix(root).unwrap_or(path)),
            None => path.to_owned(),
        }
    }

    fn spawn(&mut self) -> bool {
        let log = self.dir.path().join("redis.log");
        let mut cmd = match &self.root {
            Some(root) => {
                let mut c = Command::new("chroot");
                c.arg(root).arg(&self.server);
                c
            }
            None => Command::new(&self.server),
        };
        // Files the server reads go in its own directory, which is inside
        // its root when it has one.
        if let Some(acl) = &self.options.acl {
            let file = self.dir.path().join("users.acl");
            std::fs::write(&file, acl).expect("write the ACL file");
            cmd.arg("--aclfile").arg(self.seen(&file));
        }
        if let (Some(tls), Some(port)) = (&self.options.tls, self.tls_port) {
            for (flag, from, name) in [
                ("--tls-cert-file", &tls.server.cert, "server.pem"),
                ("--tls-key-file", &tls.server.key, "server.key"),
                ("--tls-ca-cert-file", &tls.ca, "ca.pem"),
            ] {
                let to = self.dir.path().join(name);
                std::fs::copy(from, &to).expect("copy a TLS file for redis");
                cmd.arg(flag).arg(self.seen(&to));
            }
            cmd.args(["--tls-port", &port.to_string()]).args([
                "--tls-auth-clients",
                if tls.client_certs { "yes" } else { "no" },
            ]);
        }
        let child = cmd
            .args(["--bind", "127.0.0.1", "--port", &self.port.to_string()])
            .args(["--save", "", "--appendonly", "no", "--daemonize", "no"])
            .args(&self.options.extra)
            .arg("--dir")
            .arg(self.seen(self.dir.path()))
            .arg("--logfile")
            .arg(self.seen(&log))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn redis-server");
        let pid = child.id();
        self.child = Some(child);
        let port = self.port;
        let up = wait_for(
            "redis-server to answer PING",
            Duration::from_secs(10),
            || {
                if let Some(status) = self
                    .child
                    .as_mut()
                    .and_then(|c| c.try_wait().ok().flatten())
                {
                    return Some(Err(status));
                }
                // Its own answer, not any on the port: tests run in
                // parallel, and another's server may have taken it first.
                (ping(port) && process_id(port) == Some(pid)).then_some(Ok(()))
            },
        );
        match up {
            Ok(()) => true,
            Err(_) => {
                self.child = None;
                false
            }
        }
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// `redis://127.0.0.1:PORT`, the form aae and aai take.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// The TLS port, when started with [`Options::tls`].
    pub fn tls_port(&self) -> u16 {
        self.tls_port
            .expect("this redis-server was started without TLS")
    }

    /// Runs `redis-cli` as ACL user `user` and returns stdout and stderr
    /// together: a refusal (`NOPERM ...`) is an answer, not a failure.
    pub fn cli_as(&self, user: &str, password: &str, args: &[&str]) -> String {
        let out = Command::new("redis-cli")
            .args(["-h", "127.0.0.1", "-p", &self.port.to_string()])
            .args(["--user", user, "--pass", password, "--no-auth-warning"])
            .args(args)
            .output()
            .expect("run redis-cli");
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
        .trim()
        .to_owned()
    }

    /// Stops the server (SIGKILL: an outage, not a shutdown) and waits until
    /// the port refuses connections.
    pub fn stop(&mut self) {
        self.kill();
        let port = self.port;
        wait_for("redis port to close", Duration::from_secs(10), || {
            TcpStream::connect(("127.0.0.1", port))
                .is_err()
                .then_some(())
        });
    }

    /// Starts it again on the same port, empty.
    pub fn restart(&mut self) {
        self.kill();
        assert!(
            self.spawn(),
            "redis-server did not come back on port {}",
            self.port
        );
    }

    pub fn is_running(&self) -> bool {
        self.child.is_some()
    }

    fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Runs `redis-cli` against this server and returns its stdout, trimmed.
    pub fn cli(&self, args: &[&str]) -> String {
        let out = Command::new("redis-cli")
            .args(["-h", "127.0.0.1", "-p", &self.port.to_string(), "--no-raw"])
            .args(args)
            .output()
            .expect("run redis-cli");
        assert!(out.status.success(), "redis-cli {args:?} failed: {out:?}");
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    }

    /// Starts recording every command the server runs (`MONITOR`), for a
    /// test that must see a write a later one overwrote.
    pub fn monitor(&self) -> Monitor {
        let file = self
            .dir
            .path()
            .join(format!("monitor-{}.txt", crate::free_port()));
        let out = std::fs::File::create(&file).expect("monitor file");
        let child = Command::new("redis-cli")
            .args(["-h", "127.0.0.1", "-p", &self.port.to_string(), "monitor"])
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(Stdio::null())
            .spawn()
            .expect("run redis-cli monitor");
        let m = Monitor { child, file };
        // MONITOR answers OK once it is recording.
        wait_for("MONITOR to start", Duration::from_secs(5), || {
            m.text().starts_with("OK").then_some(())
        });
        m
    }

    /// `GET key` as raw bytes, `None` when absent.
    pub fn get(&self, key: &str) -> Option<Vec<u8>> {
        let mut s = self.connect();
        let cmd = format!("*2\r\n$3\r\nGET\r\n${}\r\n{}\r\n", key.len(), key);
        s.write_all(cmd.as_bytes()).expect("send GET");
        let mut r = BufReader::new(s);
        let mut line = String::new();
        r.read_line(&mut line).expect("read GET reply");
        let len: i64 = line
            .strip_prefix('$')
            .and_then(|l| l.trim().parse().ok())
            .unwrap_or_else(|| panic!("unexpected GET reply {line:?}"));
        if len < 0 {
            return None;
        }
        let mut buf = vec![0; len as usize + 2];
        r.read_exact(&mut buf).expect("read GET body");
        buf.truncate(len as usize);
        Some(buf)
    }

    /// What the server says it is now (`role:` of `INFO replication`):
    /// `master` or `slave`; `None` when it does not answer.
    pub fn role(&self) -> Option<String> {
        let out = Command::new("redis-cli")
            .args(["-h", "127.0.0.1", "-p", &self.port.to_string()])
            .args(["INFO", "replication"])
            .output()
            .ok()?;
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .find_map(|l| l.strip_prefix("role:"))
            .map(|r| r.trim().to_owned())
    }

    /// A field of `INFO replication` (`master_link_status`, ...).
    pub fn replication(&self, field: &str) -> Option<String> {
        let out = Command::new("redis-cli")
            .args(["-h", "127.0.0.1", "-p", &self.port.to_string()])
            .args(["INFO", "replication"])
            .output()
            .ok()?;
        let head = format!("{field}:");
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .find_map(|l| l.strip_prefix(head.as_str()))
            .map(|r| r.trim().to_owned())
    }

    /// The server's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("redis.log")).unwrap_or_default()
    }

    /// `TTL key` in seconds (-2 absent, -1 no expiry).
    pub fn ttl(&self, key: &str) -> i64 {
        self.cli(&["TTL", key])
            .trim_start_matches("(integer) ")
            .parse()
            .expect("TTL reply")
    }

    /// The addresses of the keys under `prefix` (aae's lease keys).
    pub fn ips_under(&self, prefix: &str) -> std::collections::BTreeSet<String> {
        self.keys(&format!("{prefix}*"))
            .into_iter()
            .map(|k| k[prefix.len()..].to_owned())
            .collect()
    }

    /// Every key matching `pattern` (SCAN, so safe on a big keyspace).
    pub fn keys(&self, pattern: &str) -> Vec<String> {
        let out = Command::new("redis-cli")
            .args(["-h", "127.0.0.1", "-p", &self.port.to_string()])
            .args(["--scan", "--pattern", pattern])
            .output()
            .expect("run redis-cli --scan");
        let mut keys: Vec<String> = String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(str::to_owned)
            .collect();
        keys.sort();
        keys.dedup();
        keys
    }

    fn connect(&self) -> TcpStream {
        let s = TcpStream::connect(("127.0.0.1", self.port)).expect("connect to test redis");
        s.set_read_timeout(Some(Duration::from_secs(5))).ok();
        s
    }
}

fn ping(port: u16) -> bool {
    let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    s.set_read_timeout(Some(Duration::from_secs(1))).ok();
    let mut buf = [0; 7];
    s.write_all(b"PING\r\n").is_ok() && s.read_exact(&mut buf).is_ok() && &buf == b"+PONG\r\n"
}

/// The `process_id` a server on `port` gives in `INFO server`.
fn process_id(port: u16) -> Option<u32> {
    let out = Command::new("redis-cli")
        .args(["-h", "127.0.0.1", "-p", &port.to_string(), "INFO", "server"])
        .output()
        .ok()?;
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .find_map(|l| l.strip_prefix("process_id:"))
        .and_then(|p| p.trim().parse().ok())
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A running `redis-cli monitor`; stopped on drop.
pub struct Monitor {
    child: Child,
    file: PathBuf,
}

impl Monitor {
    /// What it recorded so far: one line per command, as redis-cli prints it.
    pub fn text(&self) -> String {
        std::fs::read_to_string(&self.file).unwrap_or_default()
    }
}

impl Drop for Monitor {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The server's directory: inside its root, if it has one.
pub(crate) fn new_dir(root: Option<&std::path::Path>) -> tempfile::TempDir {
    let b = tempfile::Builder::new().prefix("aae-redis-").clone();
    match root {
        Some(root) => b.tempdir_in(root.join("tmp")),
        None => b.tempdir(),
    }
    .expect("temp dir for redis")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn starts_answers_stops_and_restarts_empty() {
        let mut r = RedisServer::start();
        assert_eq!(r.cli(&["SET", "k", "v", "EX", "100"]), "OK");
        assert_eq!(r.get("k").as_deref(), Some(&b"v"[..]));
        assert!((99..=100).contains(&r.ttl("k")));
        assert_eq!(r.keys("*"), ["k"]);
        r.stop();
        assert!(!ping(r.port()));
        r.restart();
        assert_eq!(r.get("k"), None);
    }
}
