//! An ARPwatch stand-in: `peers/arpwatch_standin.py`, an XML-RPC server in
//! Python's standard library (independent of this project's codec), on a
//! loopback port, recording every `arpwatch.lease_seen` / `lease_gone` it
//! receives.
//!
//! It can be created without listening (to test an ARPwatch that is down
//! from the start), stopped, and started again on the same port; the record
//! survives restarts. It can answer slowly or with faults, and serve https
//! (with a client certificate and HTTP basic credentials required).

use std::io::{BufRead, BufReader};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::pki::CertFiles;
use crate::{free_port, require_program, wait_for};

/// How the stand-in answers; applies from the next (re)start.
#[derive(Clone, Debug, Default)]
pub struct Behaviour {
    /// Sleep this long before answering each notice.
    pub delay: Duration,
    /// Answer every notice with an XML-RPC fault (after recording it).
    pub fault: bool,
    /// Serve no `system.multicall`, as Python's `SimpleXMLRPCServer` without
    /// `register_multicall_functions()`: a multicall gets fault 1.
    pub without_multicall: bool,
    /// Serve `system.listMethods` (and the other introspection methods).
    pub introspection: bool,
    /// Serve https instead of http.
    pub tls: Option<Tls>,
}

/// The stand-in's https: its certificate, and what it asks of clients.
#[derive(Clone, Debug)]
pub struct Tls {
    /// Must name 127.0.0.1, where aae reaches it.
    pub server: CertFiles,
    /// Require a client certificate issued by this CA.
    pub client_ca: Option<PathBuf>,
    /// Require the HTTP basic credentials in this file (`user:password`).
    pub credentials_file: Option<PathBuf>,
}

/// One notice as the stand-in received it; numbers and times as sent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Notice {
    /// `arpwatch.lease_seen` or `arpwatch.lease_gone`.
    pub method: String,
    pub ip: String,
    pub mac: String,
    pub event: String,
    pub node: String,
    pub hostname: String,
    pub valid_lifetime: i64,
    pub subnet_id: i64,
    /// `dateTime.iso8601` text, e.g. `20261124T09:12:15`.
    pub cltt: String,
    pub expires: String,
}

pub struct ArpwatchStandin {
    child: Option<Child>,
    port: u16,
    dir: tempfile::TempDir,
    behaviour: Behaviour,
}

impl ArpwatchStandin {
    /// Starts on a port the kernel picks and waits until it listens.
    pub fn start() -> ArpwatchStandin {
        Self::start_with(Behaviour::default())
    }

    pub fn start_with(behaviour: Behaviour) -> ArpwatchStandin {
        let mut s = ArpwatchStandin {
            child: None,
            port: 0,
            dir: tempfile::tempdir().expect("temp dir for the ARPwatch stand-in"),
            behaviour,
        };
        s.spawn();
        s
    }

    /// Reserves a free port but does not listen on it yet: an ARPwatch that
    /// is down. [`ArpwatchStandin::restart`] brings it up on that port.
    pub fn not_listening() -> ArpwatchStandin {
        ArpwatchStandin {
            child: None,
            port: free_port(),
            dir: tempfile::tempdir().expect("temp dir for the ARPwatch stand-in"),
            behaviour: Behaviour::default(),
        }
    }

    fn spawn(&mut self) {
        let python = require_program("python3");
        let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("peers/arpwatch_standin.py");
        let log = std::fs::File::create(self.dir.path().join("standin.log")).expect("stand-in log");
        let mut cmd = Command::new(python);
        cmd.arg(&script)
            .args(["--port", &self.port.to_string()])
            .arg("--record")
            .arg(self.record_path())
            .args(["--delay-ms", &self.behaviour.delay.as_millis().to_string()]);
        for (on, flag) in [
            (self.behaviour.fault, "--fault"),
            (self.behaviour.without_multicall, "--without-multicall"),
            (self.behaviour.introspection, "--introspection"),
        ] {
            if on {
                cmd.arg(flag);
            }
        }
        if let Some(tls) = &self.behaviour.tls {
            cmd.arg("--tls-cert")
                .arg(&tls.server.cert)
                .arg("--tls-key")
                .arg(&tls.server.key);
            if let Some(ca) = &tls.client_ca {
                cmd.arg("--client-ca").arg(ca);
            }
            if let Some(file) = &tls.credentials_file {
                cmd.arg("--auth-file").arg(file);
            }
        }
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(log)
            .spawn()
            .expect("spawn the ARPwatch stand-in");
        // The script prints its port once it listens; EOF means it died.
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("piped stdout"))
            .read_line(&mut line)
            .expect("read the stand-in's port");
        let port = line
            .strip_prefix("listening ")
            .and_then(|p| p.trim().parse().ok())
            .unwrap_or_else(|| {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "the ARPwatch stand-in did not start on port {}: {}",
                    self.port,
                    std::fs::read_to_string(self.dir.path().join("standin.log"))
                        .unwrap_or_default()
                )
            });
        self.port = port;
        self.child = Some(child);
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The URL aae's `arpwatch-url` takes: `https://` when it serves TLS.
    pub fn url(&self) -> String {
        let scheme = if self.behaviour.tls.is_some() {
            "https"
        } else {
            "http"
        };
        format!("{scheme}://127.0.0.1:{}/RPC2", self.port)
    }

    /// What the stand-in wrote on stderr (failed handshakes, one per line).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("standin.log")).unwrap_or_default()
    }

    pub fn is_running(&self) -> bool {
        self.child.is_some()
    }

    /// How it answers from the next [`ArpwatchStandin::restart`] on.
    pub fn set_behaviour(&mut self, behaviour: Behaviour) {
        self.behaviour = behaviour;
    }

    /// Kills it (an outage, not a shutdown) and waits until the port refuses
    /// connections. The record is kept.
    pub fn stop(&mut self) {
        self.kill();
        let port = self.port;
        wait_for(
            "ARPwatch stand-in port to close",
            Duration::from_secs(10),
            || {
                TcpStream::connect(("127.0.0.1", port))
                    .is_err()
                    .then_some(())
            },
        );
    }

    /// Starts it (again) on the same port and waits until it listens.
    pub fn restart(&mut self) {
        self.kill();
        self.spawn();
    }

    fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    fn record_path(&self) -> PathBuf {
        self.dir.path().join("notices.tsv")
    }

    /// The complete records: the stand-in may be writing the last line
    /// while we read, and a line without its newline is not a record yet.
    fn lines(&self) -> Vec<Vec<String>> {
        let text = std::fs::read_to_string(self.record_path()).unwrap_or_default();
        let complete = text.rfind('\n').map_or("", |end| &text[..end]);
        complete
            .lines()
            .map(|l| l.split('\t').map(unescape).collect())
            .collect()
    }

    /// Every notice received so far, in arrival order, across restarts.
    pub fn notices(&self) -> Vec<Notice> {
        self.lines()
            .into_iter()
            .filter(|f| f[0].starts_with("arpwatch."))
            .map(|f| {
                assert_eq!(f.len(), 10, "malformed record line {f:?}");
                let int = |s: &str| {
                    s.parse()
                        .unwrap_or_else(|_| panic!("not a number: {s:?} in {f:?}"))
                };
                Notice {
                    method: f[0].clone(),
                    ip: f[1].clone(),
                    mac: f[2].clone(),
                    event: f[3].clone(),
                    node: f[4].clone(),
                    hostname: f[5].clone(),
                    valid_lifetime: int(&f[6]),
                    subnet_id: int(&f[7]),
                    cltt: f[8].clone(),
                    expires: f[9].clone(),
                }
            })
            .collect()
    }

    /// The number of calls in each `system.multicall` request received.
    pub fn multicalls(&self) -> Vec<usize> {
        self.lines()
            .into_iter()
            .filter(|f| f[0] == "system.multicall")
            .map(|f| f[1].parse().expect("multicall size"))
            .collect()
    }

    /// The methods it was asked for and does not serve, in arrival order.
    pub fn refused(&self) -> Vec<String> {
        self.lines()
            .into_iter()
            .filter(|f| f[0] == "refused")
            .map(|f| f[1].clone())
            .collect()
    }
}

fn unescape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('t') => out.push('\t'),
            Some('n') => out.push('\n'),
            Some(other) => out.push(other),
            None => out.push('\\'),
        }
    }
    out
}

impl Drop for ArpwatchStandin {
    fn drop(&mut self) {
        self.kill();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};

    /// A raw XML-RPC call, so this fixture is tested without aae's codec.
    fn call(port: u16, method: &str, hostname: &str) -> String {
        let body = format!(
            "<?xml version=\"1.0\"?><methodCall><methodName>{method}</methodName><params><param><value><struct>\
             <member><name>ip</name><value><string>192.0.2.1</string></value></member>\
             <member><name>mac</name><value><string>aa:bb:cc:dd:ee:ff</string></value></member>\
             <member><name>event</name><value><string>select</string></value></member>\
             <member><name>node</name><value><string>n1</string></value></member>\
             <member><name>hostname</name><value><string>{hostname}</string></value></member>\
             <member><name>valid_lifetime</name><value><int>3600</int></value></member>\
             <member><name>subnet_id</name><value><int>7</int></value></member>\
             <member><name>cltt</name><value><dateTime.iso8601>20261124T09:00:00</dateTime.iso8601></value></member>\
             <member><name>expires</name><value><dateTime.iso8601>20261124T10:00:00</dateTime.iso8601></value></member>\
             </struct></value></param></params></methodCall>"
        );
        let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
        write!(
            s,
            "POST /RPC2 HTTP/1.1\r\nHost: x\r\nContent-Type: text/xml\r\nConnection: close\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        )
        .unwrap();
        let mut reply = String::new();
        s.read_to_string(&mut reply).unwrap();
        reply
    }

    #[test]
    fn records_notices_across_restarts_on_the_same_port() {
        let mut a = ArpwatchStandin::not_listening();
        let port = a.port();
        assert!(TcpStream::connect(("127.0.0.1", port)).is_err());
        a.restart();
        assert_eq!(a.port(), port);
        let reply = call(port, "arpwatch.lease_seen", "pc\ttab");
        assert!(reply.contains("<boolean>1</boolean>"), "{reply}");
        a.stop();
        a.set_behaviour(Behaviour {
            fault: true,
            ..Behaviour::default()
        });
        a.restart();
        let reply = call(port, "arpwatch.lease_gone", "x");
        assert!(reply.contains("<fault>"), "{reply}");
        let n = a.notices();
        assert_eq!(n.len(), 2, "{n:?}");
        assert_eq!(n[0].method, "arpwatch.lease_seen");
        assert_eq!(n[0].hostname, "pc\ttab");
        assert_eq!((n[0].valid_lifetime, n[0].subnet_id), (3600, 7));
        assert_eq!(n[0].cltt, "20261124T09:00:00");
        assert_eq!(n[1].method, "arpwatch.lease_gone");
        assert!(a.multicalls().is_empty());
    }
}
