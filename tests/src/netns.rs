//! Network namespaces for the DHCP servers and their client, so test traffic
//! never touches the host's interfaces: [`NetnsPair`], one server and one
//! client joined by a veth pair, and [`NetnsLan`], several servers and one
//! client on a bridge (an HA pair). Removed on drop, also when the test
//! panics.
//!
//! Fixtures that run a server take any [`ServerSite`] (a namespace and the
//! interface its clients reach it on); those that run a client, any
//! [`ClientSite`].

use std::net::{Ipv4Addr, Ipv6Addr, Shutdown, TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::thread::JoinHandle;

/// A server namespace and a client namespace with one veth pair between them.
///
/// Addresses: server `192.0.2.1/24` and `2001:db8:1::1/64`, client
/// `192.0.2.2/24` and `2001:db8:1::2/64` (documentation prefixes; each pair
/// has its own namespaces, so parallel tests do not collide). IPv6 duplicate
/// address detection is off, so the addresses are usable at once.
pub struct NetnsPair {
    pub server_ns: String,
    pub client_ns: String,
    pub server_if: String,
    pub client_if: String,
}

pub const SERVER_V4: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);
pub const CLIENT_V4: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 2);
pub const SERVER_V6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 1, 0, 0, 0, 0, 1);
pub const CLIENT_V6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 1, 0, 0, 0, 0, 2);
/// The subnet served by the Kea fixture.
pub const SUBNET_V4: &str = "192.0.2.0/24";
pub const SUBNET_V6: &str = "2001:db8:1::/64";

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// Where a server runs: its namespace and the interface it serves on.
pub trait ServerSite {
    fn server_ns(&self) -> &str;
    fn server_if(&self) -> &str;

    /// Forwards `127.0.0.1:port` in this server's namespace to the host's.
    fn forward_to_host(&self, port: u16) -> PortForward {
        PortForward::start(self.server_ns(), port)
    }
}

/// Where a client (perfdhcp, a hand-made packet) runs.
pub trait ClientSite {
    fn client_ns(&self) -> &str;
    fn client_if(&self) -> &str;
}

/// A command that runs `program` inside namespace `ns`.
pub fn netns_command(ns: &str, program: &str) -> Command {
    let mut c = Command::new("ip");
    c.args(["netns", "exec", ns, program]);
    c
}

impl ServerSite for NetnsPair {
    fn server_ns(&self) -> &str {
        &self.server_ns
    }
    fn server_if(&self) -> &str {
        &self.server_if
    }
}

impl ClientSite for NetnsPair {
    fn client_ns(&self) -> &str {
        &self.client_ns
    }
    fn client_if(&self) -> &str {
        &self.client_if
    }
}

impl NetnsPair {
    /// Creates both namespaces and the veth pair, addresses and links up.
    /// Names are unique per process and call (pid + counter).
    pub fn create() -> NetnsPair {
        crate::require_program("ip");
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let pid = std::process::id();
        // Interface names are limited to 15 characters.
        let pair = NetnsPair {
            server_ns: format!("aae-{pid}-{n}-srv"),
            client_ns: format!("aae-{pid}-{n}-cli"),
            server_if: format!("a{pid}x{n}s"),
            client_if: format!("a{pid}x{n}c"),
        };
        // From here on, Drop cleans up whatever part was made.
        ip(&["netns", "add", &pair.server_ns]);
        ip(&["netns", "add", &pair.client_ns]);
        ip(&[
            "link",
            "add",
            &pair.server_if,
            "netns",
            &pair.server_ns,
            "type",
            "veth",
            "peer",
            "name",
            &pair.client_if,
            "netns",
            &pair.client_ns,
        ]);
        configure(&pair.server_ns, &pair.server_if, SERVER_V4, SERVER_V6);
        configure(&pair.client_ns, &pair.client_if, CLIENT_V4, CLIENT_V6);
        wait_link_local(&pair.server_ns, &pair.server_if);
        wait_link_local(&pair.client_ns, &pair.client_if);
        pair
    }

    /// A command that runs `program args` inside namespace `ns`.
    pub fn command(&self, ns: &str, program: &str) -> Command {
        netns_command(ns, program)
    }
}

fn exec_ok(ns: &str, args: &[&str]) {
    let out = netns_command(ns, args[0])
        .args(&args[1..])
        .output()
        .expect("run ip netns exec");
    assert!(
        out.status.success(),
        "in {ns}: {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn output(ns: &str, args: &[&str]) -> String {
    let out = netns_command(ns, args[0])
        .args(&args[1..])
        .output()
        .expect("run ip netns exec");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Addresses `v4`/24 and `v6`/64 on `ifname` in `ns`, DAD off, link up.
fn configure(ns: &str, ifname: &str, v4: Ipv4Addr, v6: Ipv6Addr) {
    for conf in ["all", "default", ifname] {
        exec_ok(
            ns,
            &[
                "sysctl",
                "-qw",
                &format!("net.ipv6.conf.{conf}.accept_dad=0"),
            ],
        );
    }
    exec_ok(ns, &["ip", "link", "set", "lo", "up"]);
    exec_ok(
        ns,
        &["ip", "addr", "add", &format!("{v4}/24"), "dev", ifname],
    );
    exec_ok(
        ns,
        &[
            "ip",
            "-6",
            "addr",
            "add",
            &format!("{v6}/64"),
            "dev",
            ifname,
            "nodad",
        ],
    );
    exec_ok(ns, &["ip", "link", "set", ifname, "up"]);
}

/// Waits until `ifname` in `ns` is up with a link-local address: Kea's
/// DHCPv6 socket and perfdhcp -6 both need it.
fn wait_link_local(ns: &str, ifname: &str) {
    crate::wait_for(
        &format!("{ifname} up with a link-local address in {ns}"),
        std::time::Duration::from_secs(10),
        || {
            let out = output(ns, &["ip", "-6", "addr", "show", "dev", ifname]);
            let state = output(ns, &["ip", "link", "show", "dev", ifname]);
            (out.contains("fe80::") && state.contains("LOWER_UP")).then_some(())
        },
    );
}

/// Kills whatever still runs in `ns` and deletes it (and so its interfaces).
fn remove_namespace(ns: &str) {
    // Processes a failed test left in the namespace (a Kea fixture
    // normally stops its own first) would keep the veth alive.
    if let Ok(out) = Command::new("ip").args(["netns", "pids", ns]).output() {
        for pid in String::from_utf8_lossy(&out.stdout).split_whitespace() {
            let _ = Command::new("kill")
                .args(["-KILL", pid])
                .stderr(std::process::Stdio::null())
                .status();
        }
    }
    // Deleting the namespace deletes the veth end in it, and its peer.
    let _ = Command::new("ip")
        .args(["netns", "del", ns])
        .stderr(std::process::Stdio::null())
        .status();
}

fn ip(args: &[&str]) {
    let out = Command::new("ip").args(args).output().expect("run ip");
    assert!(
        out.status.success(),
        "ip {args:?} failed (the system tests must run as root): {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

impl Drop for NetnsPair {
    fn drop(&mut self) {
        for ns in [&self.server_ns, &self.client_ns] {
            remove_namespace(ns);
        }
    }
}

/// Several server namespaces and one client namespace on one Ethernet
/// segment: each has a veth whose peer is a port of a bridge living in a
/// namespace of its own (the switch), so every server hears the client's
/// broadcasts and multicasts, and the servers reach each other.
///
/// Addresses: server `i` has `192.0.2.(1+i)/24` and `2001:db8:1::(1+i)/64`
/// ([`NetnsLan::server_v4`]), the client `192.0.2.9/24` and
/// `2001:db8:1::9/64`; all outside the Kea fixture's pools. DAD is off.
/// A server's link can be cut and restored ([`NetnsLan::set_link`]).
pub struct NetnsLan {
    pub switch_ns: String,
    pub client_ns: String,
    pub client_if: String,
    pub servers: Vec<LanServer>,
}

/// One server's end of a [`NetnsLan`].
pub struct LanServer {
    pub ns: String,
    pub ifname: String,
    /// Its peer, a port of the switch's bridge.
    pub port: String,
    pub v4: Ipv4Addr,
    pub v6: Ipv6Addr,
}

pub const LAN_CLIENT_V4: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 9);
pub const LAN_CLIENT_V6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 1, 0, 0, 0, 0, 9);

impl ServerSite for LanServer {
    fn server_ns(&self) -> &str {
        &self.ns
    }
    fn server_if(&self) -> &str {
        &self.ifname
    }
}

impl ClientSite for NetnsLan {
    fn client_ns(&self) -> &str {
        &self.client_ns
    }
    fn client_if(&self) -> &str {
        &self.client_if
    }
}

impl NetnsLan {
    /// The switch, the client and `servers` server namespaces, wired,
    /// addressed and up. Names are unique per process and call.
    pub fn create(servers: usize) -> NetnsLan {
        assert!(servers <= 7, "at most 7 servers: addresses .1 to .7");
        crate::require_program("ip");
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let pid = std::process::id();
        // Interface names are limited to 15 characters.
        let mut lan = NetnsLan {
            switch_ns: format!("aae-{pid}-{n}-sw"),
            client_ns: format!("aae-{pid}-{n}-cli"),
            client_if: format!("a{pid}b{n}c"),
            servers: Vec::new(),
        };
        // From here on, Drop cleans up whatever part was made.
        ip(&["netns", "add", &lan.switch_ns]);
        ip(&["netns", "add", &lan.client_ns]);
        for i in 0..servers {
            let server = LanServer {
                ns: format!("aae-{pid}-{n}-s{i}"),
                ifname: format!("a{pid}b{n}s{i}"),
                port: format!("a{pid}b{n}p{i}"),
                v4: Ipv4Addr::new(192, 0, 2, 1 + i as u8),
                v6: Ipv6Addr::new(0x2001, 0xdb8, 1, 0, 0, 0, 0, 1 + i as u16),
            };
            ip(&["netns", "add", &server.ns]);
            lan.servers.push(server);
        }
        let sw = lan.switch_ns.clone();
        exec_ok(&sw, &["ip", "link", "set", "lo", "up"]);
        // No STP, no forwarding delay, and multicast flooded to every port
        // (no MLD snooping), so DHCPv6's ff02::1:2 reaches every server at
        // once.
        exec_ok(
            &sw,
            &[
                "ip",
                "link",
                "add",
                "br0",
                "type",
                "bridge",
                "stp_state",
                "0",
                "forward_delay",
                "0",
                "mcast_snooping",
                "0",
            ],
        );
        exec_ok(&sw, &["ip", "link", "set", "br0", "up"]);
        let client_port = format!("a{pid}b{n}pc");
        let mut ends: Vec<(String, String, String, Ipv4Addr, Ipv6Addr)> = vec![(
            lan.client_ns.clone(),
            lan.client_if.clone(),
            client_port,
            LAN_CLIENT_V4,
            LAN_CLIENT_V6,
        )];
        ends.extend(
            lan.servers
                .iter()
                .map(|s| (s.ns.clone(), s.ifname.clone(), s.port.clone(), s.v4, s.v6)),
        );
        for (ns, ifname, port, v4, v6) in &ends {
            ip(&[
                "link", "add", ifname, "netns", ns, "type", "veth", "peer", "name", port, "netns",
                &sw,
            ]);
            exec_ok(&sw, &["ip", "link", "set", port, "master", "br0"]);
            exec_ok(&sw, &["ip", "link", "set", port, "up"]);
            configure(ns, ifname, *v4, *v6);
        }
        for (ns, ifname, ..) in &ends {
            wait_link_local(ns, ifname);
        }
        lan
    }

    /// A command that runs `program` inside namespace `ns`.
    pub fn command(&self, ns: &str, program: &str) -> Command {
        netns_command(ns, program)
    }

    /// Cuts (`up == false`) or restores server `i`'s link at the switch: a
    /// partition, as a pulled cable makes one; the server's own interface
    /// stays up.
    pub fn set_link(&self, i: usize, up: bool) {
        let state = if up { "up" } else { "down" };
        exec_ok(
            &self.switch_ns,
            &["ip", "link", "set", &self.servers[i].port, state],
        );
    }
}

impl Drop for NetnsLan {
    fn drop(&mut self) {
        for s in &self.servers {
            remove_namespace(&s.ns);
        }
        remove_namespace(&self.client_ns);
        remove_namespace(&self.switch_ns);
    }
}

/// Makes `127.0.0.1:port` inside a namespace lead to `127.0.0.1:port` on the
/// host, so a Kea in the server namespace reaches a Redis or an ARPwatch
/// stand-in that a fixture started on the host's loopback, with the same URL.
///
/// The listener is made by a thread that entered the namespace (`setns`
/// affects only the calling thread); connections to the host are made by a
/// thread that stayed outside. Stopped on drop: the listener closes and every
/// forwarded connection is shut down.
pub struct PortForward {
    stop: Arc<AtomicBool>,
    accept: Option<JoinHandle<()>>,
    conns: Arc<Mutex<Vec<TcpStream>>>,
}

impl NetnsPair {
    /// Forwards `127.0.0.1:port` in the server namespace to the host's.
    pub fn forward_to_host(&self, port: u16) -> PortForward {
        PortForward::start(&self.server_ns, port)
    }
}

impl PortForward {
    /// Forwards `127.0.0.1:port` in namespace `ns` to the host's.
    pub fn start(ns: &str, port: u16) -> PortForward {
        let stop = Arc::new(AtomicBool::new(false));
        let conns: Arc<Mutex<Vec<TcpStream>>> = Arc::default();
        // Connector: stays in the host namespace.
        let (connect_tx, connect_rx) = mpsc::channel::<mpsc::Sender<std::io::Result<TcpStream>>>();
        std::thread::Builder::new()
            .name(format!("fwd-out-{port}"))
            .spawn(move || {
                for reply in connect_rx {
                    let _ = reply.send(TcpStream::connect(("127.0.0.1", port)));
                }
            })
            .expect("spawn connector");
        let netns_path = format!("/var/run/netns/{ns}");
        let (ready_tx, ready_rx) = mpsc::channel();
        let (stop2, conns2) = (stop.clone(), conns.clone());
        let accept = std::thread::Builder::new()
            .name(format!("fwd-in-{port}"))
            .spawn(move || {
                let listener = (|| {
                    let f = std::fs::File::open(&netns_path)?;
                    // SAFETY: a valid fd of a network namespace; setns moves
                    // only this thread.
                    if unsafe { libc::setns(f.as_raw_fd(), libc::CLONE_NEWNET) } != 0 {
                        return Err(std::io::Error::last_os_error());
                    }
                    let l = TcpListener::bind(("127.0.0.1", port))?;
                    l.set_nonblocking(true)?;
                    Ok(l)
                })();
                let listener = match listener {
                    Ok(l) => {
                        let _ = ready_tx.send(Ok(()));
                        l
                    }
                    Err(e) => {
                        let _ = ready_tx.send(Err(e));
                        return;
                    }
                };
                while !stop2.load(Ordering::Relaxed) {
                    let inbound = match listener.accept() {
                        Ok((s, _)) => s,
                        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                            std::thread::sleep(std::time::Duration::from_millis(10));
                            continue;
                        }
                        Err(_) => continue,
                    };
                    let (reply_tx, reply_rx) = mpsc::channel();
                    if connect_tx.send(reply_tx).is_err() {
                        return;
                    }
                    // Host side down: close the inbound side, as a refused
                    // connection would look to the client.
                    let Ok(Ok(outbound)) = reply_rx.recv() else {
                        continue;
                    };
                    let _ = inbound.set_nonblocking(false);
                    let _ = inbound.set_nodelay(true);
                    let _ = outbound.set_nodelay(true);
                    let _ = pipe(inbound, outbound, &conns2);
                }
            })
            .expect("spawn forwarder");
        match ready_rx.recv() {
            Ok(Ok(())) => {}
            Ok(Err(e)) => panic!("cannot listen on 127.0.0.1:{port} in {ns}: {e}"),
            Err(_) => panic!("forwarder for port {port} in {ns} died"),
        }
        PortForward {
            stop,
            accept: Some(accept),
            conns,
        }
    }
}

/// Copies both ways between the two streams, one thread per direction; a
/// direction that sees end of stream shuts both down.
fn pipe(
    inbound: TcpStream,
    outbound: TcpStream,
    conns: &Mutex<Vec<TcpStream>>,
) -> std::io::Result<()> {
    {
        let mut c = conns.lock().unwrap_or_else(|e| e.into_inner());
        c.push(inbound.try_clone()?);
        c.push(outbound.try_clone()?);
    }
    let directions = [
        (inbound.try_clone()?, outbound.try_clone()?),
        (outbound, inbound),
    ];
    for (mut from, mut to) in directions {
        std::thread::Builder::new()
            .name("fwd-copy".into())
            .spawn(move || {
                let _ = std::io::copy(&mut from, &mut to);
                let _ = to.shutdown(Shutdown::Both);
                let _ = from.shutdown(Shutdown::Both);
            })?;
    }
    Ok(())
}

impl Drop for PortForward {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.accept.take() {
            let _ = t.join();
        }
        for c in self
            .conns
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .drain(..)
        {
            let _ = c.shutdown(Shutdown::Both);
        }
    }
}
