//! Python's `xmlrpc` as a test peer: `xmlrpc_peer.py` next to this file.
//!
//! Python 3 is required, not optional: without it the interoperability these
//! tests prove is unproven, so they fail with a message saying so.

#![allow(dead_code)] // each test file uses part of it

use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

const STARTUP: Duration = Duration::from_secs(20);

fn script() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/peers/xmlrpc_peer.py")
}

fn python() -> Command {
    let mut cmd = Command::new("python3");
    cmd.arg(script());
    cmd
}

fn no_python(e: std::io::Error) -> ! {
    panic!(
        "cannot run python3 ({e}): these tests check interoperability against Python's \
         xmlrpc and need Python 3 on PATH; install it (apt-get install python3)"
    )
}

/// A listening peer (`serve`, `silent`, `full-backlog`), killed on drop.
pub struct Peer {
    child: Child,
    // Held so the peer's stdin closes, and the peer exits, when the test ends
    // even if the kill below is never reached.
    _stdin: ChildStdin,
    pub port: u16,
}

impl Peer {
    /// Starts the peer and waits (bounded) for the port it announces.
    pub fn start(mode: &str) -> Peer {
        Peer::start_with(mode, &[])
    }

    /// [`Peer::start`] with options after the mode (`serve --cert F ...`).
    pub fn start_with(mode: &str, options: &[&std::ffi::OsStr]) -> Peer {
        let mut child = python()
            .arg(mode)
            .args(options)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| no_python(e));
        let stdin = child.stdin.take().unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut line = String::new();
            let _ = BufReader::new(stdout).read_line(&mut line);
            let _ = tx.send(line);
        });
        let line = match rx.recv_timeout(STARTUP) {
            Ok(line) => line,
            Err(_) => {
                let _ = child.kill();
                panic!("python peer {mode:?} announced no port within {STARTUP:?}")
            }
        };
        let port = line
            .strip_prefix("PORT ")
            .and_then(|p| p.trim().parse().ok())
            .unwrap_or_else(|| {
                let _ = child.kill();
                let status = child.wait();
                panic!(
                    "python peer {mode:?} printed {line:?} instead of its port (exit: {status:?})"
                )
            });
        Peer {
            child,
            _stdin: stdin,
            port,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    pub fn https_url(&self, path: &str) -> String {
        format!("https://127.0.0.1:{}{path}", self.port)
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs a one-shot mode (`redump`, `lease-call`) with `input` on stdin:
/// `Ok(stdout)`, or `Err(stderr)` when Python failed.
pub fn run(mode: &str, input: &[u8]) -> Result<Vec<u8>, String> {
    let mut child = python()
        .arg(mode)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| no_python(e));
    let mut stdin = child.stdin.take().unwrap();
    let input = input.to_vec();
    let writer = std::thread::spawn(move || stdin.write_all(&input));
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || tx.send(child.wait_with_output()));
    let out = rx
        .recv_timeout(STARTUP)
        .unwrap_or_else(|_| panic!("python peer {mode:?} did not finish within {STARTUP:?}"))
        .expect("waiting for python3");
    writer.join().unwrap().expect("writing to python3");
    if out.status.success() {
        Ok(out.stdout)
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}
