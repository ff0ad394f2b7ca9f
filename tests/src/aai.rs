//! The lookup daemon `aai` as a real process on a free loopback port,
//! reading one Redis, and a hand-written XML-RPC client for its
//! `arpwatch.get_mac` (written here rather than taken from arpwatch-rpc, so
//! the tests do not share the code they check).
//!
//! The binary is the one cargo built for the workspace (`target/debug/aai`,
//! or `target/release/aai`); the system tests do not build it themselves.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::{free_port, wait_for};

/// A running aai. Killed on drop.
pub struct Aai {
    child: Option<Child>,
    port: u16,
    dir: tempfile::TempDir,
}

/// `aai` under the workspace's target dir (`CARGO_TARGET_DIR` if set): the
/// debug build if there is one, else the release build.
pub fn aai_binary() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../target"));
    ["debug/aai", "release/aai"]
        .iter()
        .map(|p| target.join(p))
        .find(|p| p.is_file())
        .unwrap_or_else(|| {
            panic!(
                "no aai under {}: run `cargo build -p aai` first (with the same CARGO_TARGET_DIR)",
                target.display()
            )
        })
}

impl Aai {
    /// Starts aai on `127.0.0.1:<free port>` reading `redis_url`, and waits
    /// until it logs that it serves.
    pub fn start(redis_url: &str) -> Aai {
        Aai::start_with(redis_url, "")
    }

    /// [`Aai::start`] with more lines of aai.toml (`redis-timeout-ms = 300`).
    pub fn start_with(redis_url: &str, extra: &str) -> Aai {
        let bin = aai_binary();
        let mut last_log = String::new();
        for _ in 0..5 {
            let dir = tempfile::Builder::new()
                .prefix("aae-aai-")
                .tempdir()
                .expect("temp dir for aai");
            let port = free_port();
            let config = dir.path().join("aai.toml");
            std::fs::write(
                &config,
                format!(
                    "listen = [\"127.0.0.1:{port}\"]\nredis-url = \"{redis_url}\"\nlog-level = \"debug\"\n{extra}\n"
                ),
            )
            .expect("write aai.toml");
            let log = std::fs::File::create(dir.path().join("aai.log")).expect("aai log");
            let child = Command::new(&bin)
                .arg("--config")
                .arg(&config)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(log)
                .env_remove("NOTIFY_SOCKET")
                .env_remove("JOURNAL_STREAM")
                .spawn()
                .expect("spawn aai");
            let mut aai = Aai {
                child: Some(child),
                port,
                dir,
            };
            let up = wait_for("aai to listen", Duration::from_secs(10), || {
                if let Some(st) = aai.child.as_mut().and_then(|c| c.try_wait().ok().flatten()) {
                    return Some(Err(st));
                }
                // The log line, not a connect: a connect could reach whoever
                // else took the port.
                aai.log().contains("serving XML-RPC on").then_some(Ok(()))
            });
            match up {
                Ok(()) => return aai,
                // The port was taken between free_port and bind: try another.
                Err(_) => last_log = aai.log(),
            }
        }
        panic!("aai would not start on any of 5 free ports; last log:\n{last_log}");
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Everything aai logged so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("aai.log")).unwrap_or_default()
    }

    /// `arpwatch.get_mac(ip)`: the MAC aai answers, `None` for its nil (no
    /// lease). Panics on a fault or anything that is not an answer.
    pub fn get_mac(&self, ip: &str) -> Option<String> {
        self.try_get_mac(ip)
            .unwrap_or_else(|fault| panic!("aai faulted get_mac({ip}): {fault}"))
    }

    /// The same, with a fault as an error (its document); anything that is
    /// not an XML-RPC answer still panics.
    pub fn try_get_mac(&self, ip: &str) -> Result<Option<String>, String> {
        let body = format!(
            "<?xml version=\"1.0\"?><methodCall><methodName>arpwatch.get_mac</methodName>\
             <params><param><value><string>{ip}</string></value></param></params></methodCall>"
        );
        let (head, doc) = self.http("POST", "/RPC2", &body);
        assert!(
            head.starts_with("HTTP/1.1 200"),
            "aai answered get_mac({ip}) with {head:?}: {doc}"
        );
        if doc.contains("<fault>") {
            return Err(doc);
        }
        if doc.contains("<nil/>") {
            return Ok(None);
        }
        let mac = doc
            .split_once("<string>")
            .and_then(|(_, rest)| rest.split_once("</string>"))
            .map(|(mac, _)| mac.to_owned())
            .unwrap_or_else(|| panic!("no string and no nil in aai's answer: {doc}"));
        Ok(Some(mac))
    }

    /// `GET path` (`/health`, `/metrics`): the status line and the body.
    pub fn get(&self, path: &str) -> (String, String) {
        self.http("GET", path, "")
    }

    fn http(&self, method: &str, path: &str, body: &str) -> (String, String) {
        let mut s = TcpStream::connect(("127.0.0.1", self.port)).expect("connect to aai");
        s.set_read_timeout(Some(Duration::from_secs(10))).ok();
        write!(
            s,
            "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: text/xml\r\n\
             Connection: close\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        )
        .expect("send to aai");
        let mut reply = String::new();
        s.read_to_string(&mut reply).expect("read aai's answer");
        let (head, doc) = reply
            .split_once("\r\n\r\n")
            .unwrap_or_else(|| panic!("not an HTTP answer from aai: {reply:?}"));
        let status = head.lines().next().unwrap_or_default().to_owned();
        (status, doc.to_owned())
    }
}

impl Drop for Aai {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}
