//! Start, stop, configuration checks, systemd integration, `aai query`.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixDatagram;
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::fixture::{BIN, get_mac_doc, http, post, setup};

#[test]
fn sigterm_and_sigint_drain_and_exit_0() {
    for sig in [libc::SIGTERM, libc::SIGINT] {
        let (_redis, mut aai) = setup("shutdown-timeout-ms = 2000");
        // An idle keep-alive connection must not hold up the exit.
        let mut idle = TcpStream::connect(aai.addr()).unwrap();
        let doc = get_mac_doc("192.0.2.10");
        write!(
            idle,
            "POST /RPC2 HTTP/1.1\r\nHost: aai\r\nContent-Length: {}\r\n\r\n{doc}",
            doc.len()
        )
        .unwrap();
        let mut buf = [0; 1024];
        assert!(idle.read(&mut buf).unwrap() > 0);

        let (status, took) = aai.signal_and_wait(sig, Duration::from_secs(5));
        assert_eq!(status.code(), Some(0), "signal {sig}: {status}");
        assert!(
            took < Duration::from_secs(2),
            "signal {sig}: exit took {took:?}"
        );
        assert!(aai.log().contains("stopped"), "{}", aai.log());
    }
}

#[test]
fn check_config_names_the_bad_key() {
    let dir = tempfile::tempdir().unwrap();
    let check = |text: &str| {
        let p = dir.path().join("aai.toml");
        std::fs::write(&p, text).unwrap();
        Command::new(BIN)
            .arg("--config")
            .arg(&p)
            .arg("--check-config")
            .output()
            .unwrap()
    };
    let out = check("listen = [\"127.0.0.1:8736\"]\nredis-urll = \"redis://x\"\n");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("redis-urll"), "{err}");

    let out = check("max-connections = -3\n");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("max-connections"));

    let out = check("allow = [\"10.0.0.0/8\"]\n");
    assert!(out.status.success(), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stdout).contains("ok"));

    let out = Command::new(BIN)
        .args(["--config", "/nonexistent/aai.toml", "--check-config"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("/nonexistent/aai.toml"));

    // A flag is checked like the key it overrides.
    let out = Command::new(BIN)
        .args([
            "--config",
            "/dev/null",
            "--listen",
            "nowhere",
            "--check-config",
        ])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--listen"));
}

#[test]
fn socket_activation_and_sd_notify() {
    let (redis, _unused) = setup("");
    let dir = tempfile::tempdir().unwrap();
    let notify_path = dir.path().join("notify");
    let notify = UnixDatagram::bind(&notify_path).unwrap();
    notify
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let fd = listener.as_raw_fd();

    // sh sets LISTEN_PID to its own pid, which exec hands on to aai.
    let mut cmd = Command::new("sh");
    cmd.arg("-c")
        .arg("LISTEN_PID=$$ LISTEN_FDS=1 exec \"$0\" --config /dev/null --redis-url \"$1\" --listen 127.0.0.1:1")
        .arg(BIN)
        .arg(redis.url())
        .env("NOTIFY_SOCKET", &notify_path)
        .env("WATCHDOG_USEC", "200000")
        .env_remove("JOURNAL_STREAM")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    // SAFETY: dup2 is async-signal-safe; fd 3 is where systemd puts the
    // first socket.
    unsafe {
        cmd.pre_exec(move || {
            if libc::dup2(fd, 3) < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let mut child = cmd.spawn().unwrap();
    drop(listener);

    let mut buf = [0; 256];
    let n = notify.recv(&mut buf).expect("READY=1 from aai");
    assert_eq!(&buf[..n], b"READY=1");
    // WatchdogSec= is honoured: pings at half the interval.
    let n = notify.recv(&mut buf).expect("WATCHDOG=1 from aai");
    assert_eq!(&buf[..n], b"WATCHDOG=1");
    let ask = || {
        http(
            addr,
            None,
            &post("/RPC2", get_mac_doc("192.0.2.10").as_bytes()),
        )
    };
    let r = ask();
    assert_eq!(r.status, 200);
    assert!(r.text().contains("aa:bb:cc:dd:ee:01"), "{r:?}");

    // SIGHUP does not kill it, as its default action would; with no TLS
    // and no credentials file there is nothing to re-read, and it says so.
    // SAFETY: kill(2) on our own child.
    unsafe { libc::kill(child.id() as i32, libc::SIGHUP) };
    assert_eq!(ask().status, 200);

    // SAFETY: kill(2) on our own child.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    system_tests::wait_for("STOPPING=1 from aai", Duration::from_secs(5), || {
        let n = notify.recv(&mut buf).ok()?;
        (&buf[..n] == b"STOPPING=1").then_some(())
    });
    let st = system_tests::wait_for("aai to exit", Duration::from_secs(5), || {
        child.try_wait().ok().flatten()
    });
    let mut err = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    assert!(st.success(), "{st}: {err}");
    assert!(err.contains("passed by systemd"), "{err}");
    assert!(err.contains("SIGHUP: nothing to reload"), "{err}");
}

#[test]
fn query_asks_a_running_aai() {
    let (_redis, aai) = setup("");
    let query = |args: &[&str]| {
        let out = Command::new(BIN)
            .args(["--config", "/dev/null", "query"])
            .args(args)
            .args(["--server", &aai.url()])
            .output()
            .unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    assert_eq!(query(&["192.0.2.10"]).1, "aa:bb:cc:dd:ee:01\n");
    assert_eq!(query(&["2001:db8::10"]).1, "aa:bb:cc:dd:ee:02\n");
    assert_eq!(
        query(&["192.0.2.99"]),
        (Some(0), "no lease\n".into(), String::new())
    );
    let (code, out, _) = query(&["192.0.2.10", "--lease"]);
    assert_eq!(code, Some(0));
    assert!(
        out.contains("mac aa:bb:cc:dd:ee:01\n") && out.contains("node dhcp-test"),
        "{out}"
    );
    let (code, _, err) = query(&["not-an-ip"]);
    assert_eq!(code, Some(2));
    assert!(err.contains("not-an-ip"), "{err}");
    let (code, _, err) = Command::new(BIN)
        .args(["--config", "/dev/null", "query", "192.0.2.10", "--server"])
        .arg(format!(
            "http://127.0.0.1:{}/RPC2",
            system_tests::free_port()
        ))
        .output()
        .map(|o| {
            (
                o.status.code(),
                (),
                String::from_utf8_lossy(&o.stderr).into_owned(),
            )
        })
        .unwrap();
    assert_eq!(code, Some(2), "{err}");
}

#[test]
fn several_listeners_ipv4_and_ipv6() {
    let (redis, _unused) = setup("");
    let (p4, p6) = (system_tests::free_port(), system_tests::free_port());
    let mut child = Command::new(BIN)
        .args(["--config", "/dev/null", "--redis-url", &redis.url()])
        .args(["--listen", &format!("127.0.0.1:{p4}")])
        .args(["--listen", &format!("[::1]:{p6}")])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .env_remove("NOTIFY_SOCKET")
        .spawn()
        .unwrap();
    let v4: std::net::SocketAddr = format!("127.0.0.1:{p4}").parse().unwrap();
    let v6: std::net::SocketAddr = format!("[::1]:{p6}").parse().unwrap();
    for addr in [v4, v6] {
        system_tests::wait_for("aai to listen", Duration::from_secs(10), || {
            TcpStream::connect(addr).ok()
        });
        let r = http(addr, None, &post("/", get_mac_doc("192.0.2.10").as_bytes()));
        assert_eq!(r.status, 200, "{addr}: {r:?}");
        assert!(r.text().contains("aa:bb:cc:dd:ee:01"), "{addr}: {r:?}");
    }
    let _ = child.kill();
    let _ = child.wait();
}
