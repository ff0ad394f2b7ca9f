//! Two network namespaces joined by a veth pair: the DHCP server lives in one,
//! the client (perfdhcp) in the other, so test traffic never touches the
//! host's interfaces. Removed on drop, also when the test panics.

use std::net::Ipv4Addr;
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};

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
/// The subnet served by the Kea fixture.
pub const SUBNET_V4: &str = "192.0.2.0/24";
pub const SUBNET_V6: &str = "2001:db8:1::/64";

static COUNTER: AtomicU32 = AtomicU32::new(0);

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
        for (ns, ifname, v4, v6) in [
            (
                &pair.server_ns,
                &pair.server_if,
                SERVER_V4,
                "2001:db8:1::1/64",
            ),
            (
                &pair.client_ns,
                &pair.client_if,
                CLIENT_V4,
                "2001:db8:1::2/64",
            ),
        ] {
            for conf in ["all", "default", ifname.as_str()] {
                pair.exec_ok(
                    ns,
                    &[
                        "sysctl",
                        "-qw",
                        &format!("net.ipv6.conf.{conf}.accept_dad=0"),
                    ],
                );
            }
            pair.exec_ok(ns, &["ip", "link", "set", "lo", "up"]);
            pair.exec_ok(
                ns,
                &["ip", "addr", "add", &format!("{v4}/24"), "dev", ifname],
            );
            pair.exec_ok(ns, &["ip", "-6", "addr", "add", v6, "dev", ifname, "nodad"]);
            pair.exec_ok(ns, &["ip", "link", "set", ifname, "up"]);
        }
        // The link-local address appears when the link comes up; Kea's
        // DHCPv6 socket and perfdhcp -6 both need it.
        for (ns, ifname) in [
            (&pair.server_ns, &pair.server_if),
            (&pair.client_ns, &pair.client_if),
        ] {
            crate::wait_for(
                &format!("{ifname} up with a link-local address in {ns}"),
                std::time::Duration::from_secs(10),
                || {
                    let out = pair.output(ns, &["ip", "-6", "addr", "show", "dev", ifname]);
                    let state = pair.output(ns, &["ip", "link", "show", "dev", ifname]);
                    (out.contains("fe80::") && state.contains("LOWER_UP")).then_some(())
                },
            );
        }
        pair
    }

    /// A command that runs `program args` inside namespace `ns`.
    pub fn command(&self, ns: &str, program: &str) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", ns, program]);
        c
    }

    fn exec_ok(&self, ns: &str, args: &[&str]) {
        let out = self
            .command(ns, args[0])
            .args(&args[1..])
            .output()
            .expect("run ip netns exec");
        assert!(
            out.status.success(),
            "in {ns}: {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    fn output(&self, ns: &str, args: &[&str]) -> String {
        let out = self
            .command(ns, args[0])
            .args(&args[1..])
            .output()
            .expect("run ip netns exec");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
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
            // Processes a failed test left in the namespace (a Kea fixture
            // normally stops its own first) would keep the veth alive.
            if let Ok(out) = Command::new("ip").args(["netns", "pids", ns]).output() {
                for pid in String::from_utf8_lossy(&out.stdout).split_whitespace() {
                    let _ = Command::new("kill").args(["-KILL", pid]).status();
                }
            }
            // Deleting the namespace deletes the veth end in it, and its peer.
            let _ = Command::new("ip")
                .args(["netns", "del", ns])
                .stderr(std::process::Stdio::null())
                .status();
        }
    }
}
