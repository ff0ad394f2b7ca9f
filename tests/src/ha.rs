//! A Kea high-availability pair, each node as a real operator would run it:
//! its own `kea-dhcp4` (or `kea-dhcp6`) with ISC's `libdhcp_lease_cmds.so`
//! and `libdhcp_ha.so` and aae, its own Redis and ARPwatch stand-in on the
//! host loopback (forwarded into its namespace), optionally its own aai. The
//! two server namespaces and the client's share one bridge
//! ([`NetnsLan`]), so both servers hear every client and reach each other
//! at `192.0.2.1` / `192.0.2.2`.
//!
//! The HA hook runs the way Kea 2.2 recommends for multi-threaded servers:
//! Kea's packet threads on, and HA's own HTTP listener and client threads
//! (`http-dedicated-listener`), so partner updates (`lease4-update`,
//! `lease4-del`, `lease6-bulk-apply`) and heartbeats (`ha-heartbeat`) arrive
//! on the HA listener's threads and go through Kea's command manager there,
//! `command_processed` included. Heartbeats and timeouts are short (1 s /
//! 3 s by default) and `max-unacked-clients` is 0, so a node whose partner
//! died goes `partner-down` about 3 s later without waiting for clients.
//!
//! Everything stops when the pair is dropped, Kea first.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};

use crate::aai::Aai;
use crate::arpwatch::{ArpwatchStandin, Notice};
use crate::kea::{
    Family, Kea, KeaConfig, LeaseRow, PerfRun, aae_library, hooks_library, perfdhcp, seen_by_kea,
    shared_dir,
};
use crate::netns::{NetnsLan, PortForward, ServerSite};
use crate::poll_until;
use crate::redis::RedisServer;

/// aae's default key prefix (`docs/redis-schema.md`).
pub const KEY_PREFIX: &str = "aae:lease:";
/// The TCP port of each node's HA listener (one per namespace).
pub const HA_PORT: u16 = 8001;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HaMode {
    /// Node 0 `primary` serves, node 1 `standby` takes lease updates.
    HotStandby,
    /// Node 0 `primary` and node 1 `secondary` each serve half the
    /// clients (by hash), from a pool of their own, and update each other.
    LoadBalancing,
}

impl HaMode {
    fn label(self) -> &'static str {
        match self {
            HaMode::HotStandby => "hot-standby",
            HaMode::LoadBalancing => "load-balancing",
        }
    }

    /// The HA state both nodes reach once they are in touch and synced.
    pub fn steady_state(self) -> &'static str {
        self.label()
    }

    fn role(self, node: usize) -> &'static str {
        match (self, node) {
            (_, 0) => "primary",
            (HaMode::HotStandby, _) => "standby",
            (HaMode::LoadBalancing, _) => "secondary",
        }
    }
}

/// How to build the pair.
#[derive(Clone, Debug)]
pub struct HaConfig {
    pub family: Family,
    pub mode: HaMode,
    /// Load aae before the ISC hooks instead of after them (the order must
    /// not matter to what aae sees).
    pub aae_first: bool,
    /// More aae parameters, on top of the fixture's (`redis-url`,
    /// `arpwatch-url`, `arpwatch-spool`, `node-name`, `grace-period`), e.g.
    /// `"arpwatch-partner-updates": true`.
    pub aae_params: serde_json::Map<String, Value>,
    pub heartbeat_delay: Duration,
    pub max_response_delay: Duration,
    /// Kea's packet threads per node.
    pub threads: u32,
    pub valid_lifetime: u32,
    /// aae's `grace-period`, seconds.
    pub grace: u32,
    /// Start an aai per node, reading that node's Redis.
    pub aai: bool,
    /// DHCPv6 `mac-sources` (see [`KeaConfig::mac_sources`]).
    pub mac_sources: Option<Vec<&'static str>>,
    /// Kea's logger severity ("INFO"; "DEBUG" shows every command and on
    /// which thread it ran).
    pub severity: &'static str,
    /// One Redis for both nodes instead of one each: aae's `redis-url`
    /// and the loopback ports it needs (a Sentinel set's, say). Each node's
    /// own `redis` is then left unused.
    pub shared_redis: Option<(String, Vec<u16>)>,
}

impl Default for HaConfig {
    fn default() -> Self {
        HaConfig {
            family: Family::V4,
            mode: HaMode::HotStandby,
            aae_first: false,
            aae_params: serde_json::Map::new(),
            heartbeat_delay: Duration::from_millis(1000),
            max_response_delay: Duration::from_millis(3000),
            threads: 2,
            valid_lifetime: 3600,
            grace: 120,
            aai: false,
            mac_sources: None,
            severity: "INFO",
            shared_redis: None,
        }
    }
}

/// One node of the pair. Field order is drop order: Kea stops before the
/// forwards and sinks it uses go.
pub struct HaNode {
    /// The HA peer name, also aae's `node-name`: `server1`, `server2`.
    pub name: String,
    /// `primary`, `standby` or `secondary`.
    pub role: &'static str,
    pub kea: Kea,
    pub config: KeaConfig,
    pub aai: Option<Aai>,
    _fwd: Vec<PortForward>,
    pub redis: RedisServer,
    pub arpwatch: ArpwatchStandin,
}

/// The pair, its network and the directory of the nodes' ARPwatch spools.
pub struct HaPair {
    pub nodes: Vec<HaNode>,
    pub net: NetnsLan,
    pub mode: HaMode,
    pub family: Family,
    spool_dir: tempfile::TempDir,
}

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs() as i64
}

impl HaPair {
    /// Starts both nodes and waits until both are in the mode's steady
    /// state (`hot-standby` / `load-balancing`): in touch, synced, serving.
    pub fn start(cfg: &HaConfig) -> HaPair {
        let pair = HaPair::start_unsynced(cfg);
        for i in 0..2 {
            pair.wait_state(i, cfg.mode.steady_state(), Duration::from_secs(60));
        }
        pair
    }

    /// Starts both nodes and returns as soon as both Keas answer on their
    /// control sockets, whatever their HA state.
    pub fn start_unsynced(cfg: &HaConfig) -> HaPair {
        let net = NetnsLan::create(2);
        let spool_dir = shared_dir("aae-ha-spool-");
        let names: Vec<String> = (1..=2).map(|i| format!("server{i}")).collect();
        let peers: Vec<Value> = (0..2)
            .map(|i| {
                json!({
                    "name": names[i],
                    "url": format!("http://{}:{HA_PORT}/", net.servers[i].v4),
                    "role": cfg.mode.role(i),
                    "auto-failover": true
                })
            })
            .collect();
        let mut nodes = Vec::new();
        for (i, name) in names.iter().enumerate() {
            let redis = RedisServer::start();
            let arpwatch = ArpwatchStandin::start();
            let site = &net.servers[i];
            let mut fwd = vec![
                site.forward_to_host(redis.port()),
                site.forward_to_host(arpwatch.port()),
            ];
            let redis_url = match &cfg.shared_redis {
                Some((url, ports)) => {
                    fwd.extend(ports.iter().map(|p| site.forward_to_host(*p)));
                    url.clone()
                }
                None => redis.url(),
            };
            let mut aae = json!({
                "redis-url": redis_url,
                "arpwatch-url": arpwatch.url(),
                "arpwatch-spool": seen_by_kea(&spool_dir.path().join(format!("{name}.spool"))),
                "node-name": name,
                "grace-period": cfg.grace
            });
            for (k, v) in &cfg.aae_params {
                aae[k] = v.clone();
            }
            let ha = json!({"high-availability": [{
                "this-server-name": name,
                "mode": cfg.mode.label(),
                "heartbeat-delay": cfg.heartbeat_delay.as_millis() as u64,
                "max-response-delay": cfg.max_response_delay.as_millis() as u64,
                "max-ack-delay": 1000,
                // partner-down as soon as the partner stops answering, without
                // waiting for unanswered clients.
                "max-unacked-clients": 0,
                "sync-timeout": 20000,
                "multi-threading": {
                    "enable-multi-threading": true,
                    "http-dedicated-listener": true,
                    "http-listener-threads": 2,
                    "http-client-threads": 2
                },
                "peers": peers
            }]});
            let isc = [
                (hooks_library("libdhcp_lease_cmds.so"), json!({})),
                (hooks_library("libdhcp_ha.so"), ha),
            ];
            let mut hooks = Vec::new();
            if cfg.aae_first {
                hooks.push((aae_library(), aae.clone()));
            }
            hooks.extend(isc);
            if !cfg.aae_first {
                hooks.push((aae_library(), aae));
            }
            let config = KeaConfig {
                family: cfg.family,
                hooks,
                threads: Some(cfg.threads),
                valid_lifetime: cfg.valid_lifetime,
                mac_sources: cfg.mac_sources.clone(),
                severity: cfg.severity,
                pools: match cfg.mode {
                    HaMode::HotStandby => None,
                    HaMode::LoadBalancing => Some(split_pools(cfg.family)),
                },
                ..KeaConfig::default()
            };
            let kea = Kea::start(site, &config);
            let aai = cfg.aai.then(|| Aai::start(&redis.url()));
            nodes.push(HaNode {
                name: name.clone(),
                role: cfg.mode.role(i),
                kea,
                config,
                aai,
                _fwd: fwd,
                redis,
                arpwatch,
            });
        }
        HaPair {
            nodes,
            net,
            mode: cfg.mode,
            family: cfg.family,
            spool_dir,
        }
    }

    pub fn node(&self, i: usize) -> &HaNode {
        &self.nodes[i]
    }

    /// The node that is not `i`.
    pub fn partner(&self, i: usize) -> &HaNode {
        &self.nodes[1 - i]
    }

    /// Node `i`'s ARPwatch spool file.
    pub fn spool(&self, i: usize) -> PathBuf {
        self.spool_dir
            .path()
            .join(format!("{}.spool", self.nodes[i].name))
    }

    /// Kills node `i`'s Kea with SIGKILL: a crash, as a dead machine looks
    /// to its partner. Its Redis, ARPwatch and aai keep running.
    pub fn kill(&mut self, i: usize) {
        self.nodes[i].kea.kill();
    }

    /// Starts node `i`'s Kea again with its config and lease file. Returns
    /// once it answers on its control socket; its HA service then begins in
    /// `waiting` and syncs from its partner.
    pub fn restart(&mut self, i: usize) {
        let site = &self.net.servers[i];
        self.nodes[i].kea.restart(site);
    }

    /// Waits until node `i`'s HA state is `state`; panics after `timeout`
    /// with both nodes' states and the HA lines of its log.
    pub fn wait_state(&self, i: usize, state: &str, timeout: Duration) {
        if poll_until(timeout, || {
            (self.nodes[i].ha_state().as_deref() == Some(state)).then_some(())
        })
        .is_none()
        {
            panic!(
                "{} is not in HA state {state} after {timeout:?}\n{}",
                self.nodes[i].name,
                self.diagnostics()
            );
        }
    }

    /// perfdhcp in the client namespace against the pair, waiting half a
    /// second for late answers: `args` as [`perfdhcp`] takes them.
    pub fn perfdhcp(&self, args: &[&str]) -> PerfRun {
        let mut all = args.to_vec();
        all.extend(["-W", "500000"]);
        perfdhcp(&self.net, self.family, &all)
    }

    /// What a failed wait should show: each node's HA state, aae counters,
    /// and its HA and aae log lines (the last 40).
    pub fn diagnostics(&self) -> String {
        self.nodes
            .iter()
            .map(HaNode::diagnostics)
            .collect::<Vec<_>>()
            .join("\n")
    }
}

/// Two pools of the one subnet, one per load-balancing scope.
fn split_pools(family: Family) -> Vec<Value> {
    match family {
        Family::V4 => vec![
            json!({"pool": "192.0.2.10 - 192.0.2.129", "client-class": "HA_server1"}),
            json!({"pool": "192.0.2.130 - 192.0.2.250", "client-class": "HA_server2"}),
        ],
        Family::V6 => vec![
            json!({"pool": "2001:db8:1::1000 - 2001:db8:1::17ff", "client-class": "HA_server1"}),
            json!({"pool": "2001:db8:1::1800 - 2001:db8:1::1fff", "client-class": "HA_server2"}),
        ],
    }
}

impl HaNode {
    /// This node's HA status (`status-get`'s `high-availability[0]`),
    /// `None` while its Kea does not answer. (`ha-heartbeat` would answer
    /// the state too, but aae sees every command Kea processes, and should
    /// take only the partner's heartbeats for heartbeats.)
    pub fn ha_status(&self) -> Option<Value> {
        let answer = self.kea.command("status-get", None).ok()?;
        Some(answer["arguments"]["high-availability"][0].clone())
    }

    /// This node's HA state (`hot-standby`, `partner-down`, `waiting`,
    /// `syncing`, `ready`, ...).
    pub fn ha_state(&self) -> Option<String> {
        let status = self.ha_status()?;
        status["ha-servers"]["local"]["state"]
            .as_str()
            .map(str::to_owned)
    }

    /// The leases in this node's lease database (its memfile, as Kea wrote
    /// it), live ones only: in the default state and not yet expired.
    pub fn leases(&self) -> Vec<LeaseRow> {
        let now = now();
        self.kea
            .leases()
            .into_iter()
            .filter(|l| l.state == 0 && l.expire > now)
            .collect()
    }

    /// [`HaNode::leases`] as address → MAC.
    pub fn lease_macs(&self) -> BTreeMap<String, String> {
        self.leases()
            .into_iter()
            .map(|l| (l.address, l.hwaddr))
            .collect()
    }

    /// Every lease key in this node's Redis as address → the stored MAC.
    pub fn redis_macs(&self) -> BTreeMap<String, String> {
        self.redis
            .keys(&format!("{KEY_PREFIX}*"))
            .into_iter()
            .filter_map(|k| {
                let ip = k[KEY_PREFIX.len()..].to_owned();
                // A key may expire or be deleted between SCAN and GET.
                let value = self.stored(&ip)?;
                let mac = value["mac"].as_str().unwrap_or_default().to_owned();
                Some((ip, mac))
            })
            .collect()
    }

    /// The JSON value stored for `ip` in this node's Redis.
    pub fn stored(&self, ip: &str) -> Option<Value> {
        let raw = self.redis.get(&format!("{KEY_PREFIX}{ip}"))?;
        Some(serde_json::from_slice(&raw).expect("a JSON lease value"))
    }

    /// Every notice this node's ARPwatch stand-in received.
    pub fn notices(&self) -> Vec<Notice> {
        self.arpwatch.notices()
    }

    /// One of Kea's statistics (`pkt4-ack-sent`, `aae.backlog`), -1 when
    /// Kea does not answer or has none.
    pub fn stat(&self, name: &str) -> i64 {
        self.kea
            .command("statistic-get-all", None)
            .ok()
            .and_then(|a| a["arguments"][name][0][0].as_i64())
            .unwrap_or(-1)
    }

    /// aai's answer for `ip` from this node's Redis.
    pub fn aai_mac(&self, ip: &str) -> Option<String> {
        self.aai
            .as_ref()
            .expect("the pair was started with aai: true")
            .get_mac(ip)
    }

    pub fn diagnostics(&self) -> String {
        let state = self.ha_status().unwrap_or(Value::Null);
        let aae: Vec<(String, i64)> = self
            .kea
            .command("statistic-get-all", None)
            .ok()
            .and_then(|a| a["arguments"].as_object().cloned())
            .map(|m| {
                m.into_iter()
                    .filter(|(k, _)| k.starts_with("aae."))
                    .filter_map(|(k, v)| Some((k, v[0][0].as_i64()?)))
                    .collect()
            })
            .unwrap_or_default();
        let log = self.kea.log();
        let lines: Vec<&str> = log
            .lines()
            .filter(|l| l.contains(" HA_") || l.contains("AAE_") || l.contains("ERROR"))
            .collect();
        let tail = &lines[lines.len().saturating_sub(40)..];
        format!(
            "== {} ({}): HA {state}\n   aae counters: {aae:?}\n   {} leases in Kea, {} keys in Redis, {} ARPwatch notices\n   log:\n{}",
            self.name,
            self.role,
            self.leases().len(),
            self.redis.keys(&format!("{KEY_PREFIX}*")).len(),
            self.arpwatch.notices().len(),
            tail.join("\n")
        )
    }
}

/// Waits until `node`'s Redis holds exactly its lease database: the same
/// set of addresses, each with the same MAC. Returns the leases. Panics
/// after `timeout` with the differences.
pub fn wait_redis_equals_leases(
    pair: &HaPair,
    i: usize,
    timeout: Duration,
) -> BTreeMap<String, String> {
    let node = pair.node(i);
    poll_until(timeout, || {
        let leases = node.lease_macs();
        (node.redis_macs() == leases).then_some(leases)
    })
    .unwrap_or_else(|| {
        let leases = node.lease_macs();
        let redis = node.redis_macs();
        panic!(
            "{}'s Redis does not equal its lease database after {timeout:?}:\n{}\n{}",
            node.name,
            map_diff(&leases, &redis),
            pair.diagnostics()
        )
    })
}

/// What differs between a lease database (`want`) and a Redis (`got`), as
/// a few lines for a failure message.
pub fn map_diff(want: &BTreeMap<String, String>, got: &BTreeMap<String, String>) -> String {
    let missing: Vec<_> = want.keys().filter(|k| !got.contains_key(*k)).collect();
    let extra: Vec<_> = got.keys().filter(|k| !want.contains_key(*k)).collect();
    let wrong: Vec<_> = want
        .iter()
        .filter_map(|(k, v)| {
            let g = got.get(k)?;
            (g != v).then(|| format!("{k}: lease {v}, Redis {g}"))
        })
        .collect();
    format!(
        "{} leases, {} keys; missing from Redis ({}): {missing:?}\n\
         in Redis, not leased ({}): {extra:?}\nwrong MAC ({}): {wrong:?}",
        want.len(),
        got.len(),
        missing.len(),
        extra.len(),
        wrong.len()
    )
}

/// Checks that `cond` holds on every poll for all of `window` (a statement
/// that nothing happens: the window is how long the bound gives it to
/// happen). Panics with `what` and the first value that broke it.
pub fn assert_stays<T: std::fmt::Debug>(
    what: &str,
    window: Duration,
    mut cond: impl FnMut() -> Result<(), T>,
) {
    let broke = poll_until(window, || cond().err());
    if let Some(e) = broke {
        panic!("{what}: {e:?}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The Kea side alone, whatever aae does: the standby's lease database
    /// gets the primary's leases, the standby takes over when the primary
    /// dies, and the primary syncs what it missed when it comes back.
    #[test]
    fn hot_standby_pair_replicates_fails_over_and_syncs() {
        let mut pair = HaPair::start(&HaConfig::default());
        assert_eq!(pair.node(0).ha_state().as_deref(), Some("hot-standby"));
        pair.perfdhcp(&["-R", "30", "-n", "30", "-r", "50"])
            .assert_served("REQUEST-ACK");
        let first = pair.node(0).lease_macs();
        assert!(first.len() >= 20, "{first:?}");
        assert_eq!(
            pair.node(1).lease_macs(),
            first,
            "the standby's lease database"
        );
        assert_eq!(pair.node(1).stat("pkt4-ack-sent"), 0, "the standby served");

        pair.kill(0);
        pair.wait_state(1, "partner-down", Duration::from_secs(20));
        pair.perfdhcp(&[
            "-R",
            "20",
            "-n",
            "20",
            "-r",
            "50",
            "-b",
            "mac=02:00:00:cc:00:00",
        ])
        .assert_served("REQUEST-ACK");
        let all = pair.node(1).lease_macs();
        assert!(all.len() > first.len(), "the standby served no new client");

        pair.restart(0);
        pair.wait_state(0, "hot-standby", Duration::from_secs(30));
        pair.wait_state(1, "hot-standby", Duration::from_secs(30));
        assert!(pair.node(0).kea.log().contains("HA_SYNC_SUCCESSFUL"));
        assert_eq!(
            pair.node(0).lease_macs(),
            all,
            "the primary's lease database after its sync"
        );
    }
}
