//! The aai binary as a real process on a free loopback port, a Redis filled
//! the way aae fills it, and the raw-HTTP and independent clients the tests
//! drive it with.

use std::io::{Read, Write};
use std::net::{IpAddr, SocketAddr, TcpStream};
use std::os::fd::FromRawFd;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant, SystemTime};

use arpwatch_rpc::{Limits, MethodResponse, xml};
use lease_model::{Hostname, Lease, LeaseEvent, LeaseRecord, RedisSchema, RedisWrite};
use system_tests::redis::RedisServer;
use system_tests::{free_port, wait_for};

pub const BIN: &str = env!("CARGO_BIN_EXE_aai");

/// A running aai. Killed on drop.
pub struct Aai {
    child: Option<Child>,
    pub port: u16,
    pub dir: tempfile::TempDir,
}

impl Aai {
    /// Starts aai reading `redis_url`, with `extra` appended to its config
    /// file, and waits until it answers HTTP.
    pub fn start(redis_url: &str, extra: &str) -> Aai {
        let mut dir = tempfile::tempdir().expect("temp dir for aai");
        for _ in 0..5 {
            let port = free_port();
            let config = dir.path().join("aai.toml");
            std::fs::write(
                &config,
                format!(
                    "listen = [\"127.0.0.1:{port}\"]\nredis-url = \"{redis_url}\"\nlog-level = \"debug\"\n{extra}\n"
                ),
            )
            .unwrap();
            let log = std::fs::File::create(dir.path().join("aai.log")).unwrap();
            let child = Command::new(BIN)
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
                if let Some(st) = aai.try_wait() {
                    return Some(Err(st));
                }
                // The log line, not a connect: a connect could reach whoever
                // else took the port.
                aai.log().contains("serving XML-RPC on").then_some(Ok(()))
            });
            match up {
                Ok(()) => return aai,
                // The port was taken between free_port and bind: try another.
                Err(_) if aai.log().contains("cannot listen") => {
                    dir = aai.take_dir();
                    continue;
                }
                Err(st) => panic!("aai exited with {st} at start:\n{}", aai.log()),
            }
        }
        panic!("aai would not start on any of 5 free ports");
    }

    fn take_dir(mut self) -> tempfile::TempDir {
        self.child.take();
        std::mem::replace(&mut self.dir, tempfile::tempdir().unwrap())
    }

    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port))
    }

    /// The URL Python's ServerProxy and Perl's client post to.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}/RPC2", self.port)
    }

    /// Everything aai logged so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("aai.log")).unwrap_or_default()
    }

    pub fn pid(&self) -> i32 {
        self.child.as_ref().expect("running").id() as i32
    }

    pub fn try_wait(&mut self) -> Option<ExitStatus> {
        self.child
            .as_mut()
            .and_then(|c| c.try_wait().ok().flatten())
    }

    /// Sends `sig` and waits (bounded) for the exit; returns the status and
    /// how long the exit took.
    pub fn signal_and_wait(&mut self, sig: i32, bound: Duration) -> (ExitStatus, Duration) {
        let start = Instant::now();
        // SAFETY: kill(2) on our own child's pid.
        assert_eq!(unsafe { libc::kill(self.pid(), sig) }, 0);
        let st = wait_for("aai to exit", bound, || self.try_wait());
        self.child = None;
        (st, start.elapsed())
    }

    /// One XML-RPC call through raw HTTP: the parsed response.
    pub fn call(&self, doc: &str) -> MethodResponse {
        let r = http(self.addr(), None, &post("/RPC2", doc.as_bytes()));
        assert_eq!(r.status, 200, "call {doc:?}: {r:?}");
        assert!(r.header("content-type").starts_with("text/xml"), "{r:?}");
        xml::parse_response(&r.body, &Limits::default()).expect("aai sent a valid response")
    }

    /// Asserts aai still answers a good call correctly: after every hostile
    /// input, this is the proof that it did no harm.
    pub fn still_answers(&self, ip: &str, mac: &str) {
        let got = self.call(&get_mac_doc(ip));
        assert_eq!(
            got,
            Ok(mac.into()),
            "aai no longer answers; log:\n{}",
            self.log()
        );
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

pub fn get_mac_doc(ip: &str) -> String {
    call_doc("arpwatch.get_mac", &[ip])
}

/// A methodCall with string parameters, escaped as XML needs.
pub fn call_doc(method: &str, params: &[&str]) -> String {
    let call = arpwatch_rpc::MethodCall::new(method, params.iter().map(|&p| p.into()).collect());
    String::from_utf8(xml::write_call(&call).unwrap()).unwrap()
}

/// Writes `record` exactly as aae does: the schema's one command, via redis-cli.
pub fn store(redis: &RedisServer, record: &LeaseRecord) {
    let now = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    match RedisSchema::default().write_for(record, now) {
        RedisWrite::Set {
            key,
            value,
            ttl_secs,
        } => {
            let mut args = vec!["SET".to_owned(), key, value];
            if let Some(t) = ttl_secs {
                args.extend(["EX".to_owned(), t.to_string()]);
            }
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            assert_eq!(redis.cli(&args), "OK");
        }
        other => panic!("test lease would not be stored: {other:?}"),
    }
}

/// A lease granted just now for an hour.
pub fn lease(ip: &str, mac: &str) -> LeaseRecord {
    let now = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    LeaseRecord {
        lease: Lease::new(
            ip.parse().unwrap(),
            mac.parse().unwrap(),
            3600,
            now,
            Hostname::from_bytes("host-1"),
            7,
            LeaseEvent::Select,
        ),
        node: "dhcp-test".into(),
    }
}

/// A Redis with two leases (one IPv4, one IPv6) and an aai reading it.
pub fn setup(extra: &str) -> (RedisServer, Aai) {
    let redis = RedisServer::start();
    store(&redis, &lease("192.0.2.10", "aa:bb:cc:dd:ee:01"));
    store(&redis, &lease("2001:db8::10", "aa:bb:cc:dd:ee:02"));
    let aai = Aai::start(&redis.url(), extra);
    (redis, aai)
}

#[derive(Debug)]
pub struct HttpResponse {
    pub status: u16,
    pub head: String,
    pub body: Vec<u8>,
}

impl HttpResponse {
    pub fn header(&self, name: &str) -> &str {
        self.head
            .lines()
            .filter_map(|l| l.split_once(':'))
            .find(|(k, _)| k.trim().eq_ignore_ascii_case(name))
            .map_or("", |(_, v)| v.trim())
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// A POST request with `Connection: close`, so the response ends at EOF.
pub fn post(path: &str, body: &[u8]) -> Vec<u8> {
    let mut r = format!(
        "POST {path} HTTP/1.1\r\nHost: aai\r\nContent-Type: text/xml\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )
    .into_bytes();
    r.extend_from_slice(body);
    r
}

pub fn get(path: &str) -> Vec<u8> {
    format!("GET {path} HTTP/1.1\r\nHost: aai\r\nConnection: close\r\n\r\n").into_bytes()
}

/// Sends `request` from `from` (a loopback address to bind, or any) and
/// reads the whole response.
pub fn http(to: SocketAddr, from: Option<IpAddr>, request: &[u8]) -> HttpResponse {
    let mut s = connect_from(to, from);
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(request).expect("send request");
    read_response(&mut s)
}

pub fn read_response(s: &mut TcpStream) -> HttpResponse {
    let mut raw = Vec::new();
    let _ = s.read_to_end(&mut raw);
    parse_response(&raw)
}

/// Reads exactly one response (by its Content-Length) from a kept-alive
/// connection.
pub fn read_one_response(s: &mut impl Read) -> HttpResponse {
    let mut raw = Vec::new();
    let mut buf = [0; 4096];
    loop {
        let n = s.read(&mut buf).expect("read response");
        assert!(n > 0, "connection closed mid-response: {raw:?}");
        raw.extend_from_slice(&buf[..n]);
        if let Some(end) = raw.windows(4).position(|w| w == b"\r\n\r\n") {
            let r = parse_response(&raw);
            let len: usize = r.header("content-length").parse().expect("content-length");
            if raw.len() >= end + 4 + len {
                return r;
            }
        }
    }
}

pub fn parse_response(raw: &[u8]) -> HttpResponse {
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| panic!("no HTTP response: {:?}", String::from_utf8_lossy(raw)));
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("bad status line in {head:?}"));
    HttpResponse {
        status,
        head,
        body: raw[split + 4..].to_vec(),
    }
}

/// A TCP connection whose source address is `from`: the whole 127.0.0.0/8
/// is loopback on Linux, so 127.0.0.2 is a second client host without a
/// namespace.
pub fn connect_from(to: SocketAddr, from: Option<IpAddr>) -> TcpStream {
    let Some(IpAddr::V4(from)) = from else {
        return TcpStream::connect(to).expect("connect to aai");
    };
    let SocketAddr::V4(to) = to else {
        panic!("IPv4 only")
    };
    // SAFETY: plain socket calls on a descriptor we own until TcpStream
    // takes it; the sockaddr structs are fully initialised.
    unsafe {
        let fd = libc::socket(libc::AF_INET, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0);
        assert!(fd >= 0, "socket: {}", std::io::Error::last_os_error());
        let sa = |ip: std::net::Ipv4Addr, port: u16| libc::sockaddr_in {
            sin_family: libc::AF_INET as libc::sa_family_t,
            sin_port: port.to_be(),
            sin_addr: libc::in_addr {
                s_addr: u32::from(ip).to_be(),
            },
            sin_zero: [0; 8],
        };
        let len = std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t;
        let local = sa(from, 0);
        assert_eq!(
            libc::bind(fd, (&raw const local).cast(), len),
            0,
            "bind {from}: {}",
            std::io::Error::last_os_error()
        );
        let remote = sa(*to.ip(), to.port());
        assert_eq!(
            libc::connect(fd, (&raw const remote).cast(), len),
            0,
            "connect {to}: {}",
            std::io::Error::last_os_error()
        );
        TcpStream::from_raw_fd(fd)
    }
}

/// Fails (never skips) when an independent client is missing.
pub fn require(cmd: &str, args: &[&str], what: &str) {
    let ok = Command::new(cmd)
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        ok,
        "{what} is missing: run `bash ci/setup` as root (Debian packages python3, librpc-xml-perl, liblwp-protocol-https-perl)"
    );
}

/// Runs a script in `interpreter` with `args`; returns stdout, panics with
/// stderr on failure.
pub fn run_script(interpreter: &str, flag: &str, script: &str, args: &[&str]) -> String {
    let out = Command::new(interpreter)
        .arg(flag)
        .arg(script)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {interpreter}: {e}"));
    assert!(
        out.status.success(),
        "{interpreter} client failed: {}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}
