//! What Kea's `command_processed` hook point tells aae: the lease commands
//! of ISC's lease_cmds hook (an operator's, or an HA partner's lease
//! updates) and HA's heartbeat. Pure: JSON in, [`Effects`] out; the callout
//! in `callouts` acts on them.
//!
//! The JSON is Kea's, so this file is part of the border. What differs
//! between Kea versions is told apart by the arguments themselves:
//!
//! - **An HA partner's update** carries the whole lease as Kea's
//!   `Lease::toElement` writes it, with `expire` instead of `cltt`. From
//!   Kea 2.6 it also says `"origin": "ha-partner"`; Kea 2.2 does not, and
//!   there a lease command is taken for the partner's when it carries
//!   `expire`, `valid-lft`, `subnet-id` and `fqdn-fwd`
//!   together, which an operator's command seldom spells out. Its lease is
//!   taken from the arguments: the receiving thread (HA's listener) never
//!   touches Kea's lease manager, whose lock packet threads hold across the
//!   lease file's writes.
//! - **An operator's** `lease*-add` / `lease*-update` may leave out what
//!   lease_cmds fills in (the subnet's valid lifetime, the current time),
//!   so its lease is read back from Kea's lease database by address.
//! - A command that does not say which addresses it changed (a wipe, a
//!   delete by client identifier) asks for a reconciliation instead.

use std::net::IpAddr;

use lease_model::{Hostname, HwAddr, INFINITE_LIFETIME, Lease, LeaseEvent};
use serde_json::Value;

/// Kea's `CONTROL_RESULT_SUCCESS` and `CONTROL_RESULT_EMPTY`.
const SUCCESS: i64 = 0;
const EMPTY: i64 = 3;

use super::lease_state::{DECLINED, DEFAULT, EXPIRED_RECLAIMED, RELEASED};

/// Whether aae looks at this command at all; everything else (most of all
/// `lease*-get-page`, whose answers are a database's worth of JSON) is not
/// even turned into text.
pub(super) fn wanted(name: &str) -> bool {
    matches!(
        name,
        "lease4-add"
            | "lease4-update"
            | "lease4-del"
            | "lease4-wipe"
            | "lease6-add"
            | "lease6-update"
            | "lease6-del"
            | "lease6-wipe"
            | "lease6-bulk-apply"
            | "ha-heartbeat"
            | "ha-sync"
    )
}

/// Who changed a lease, which decides whether ARPwatch hears of it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Source {
    /// An operator's command on this server: ARPwatch hears of it.
    Operator,
    /// The HA partner's update: its own ARPwatch heard of it already.
    Partner,
}

/// What one processed command asks of aae.
#[derive(Debug, Default, PartialEq)]
pub(super) struct Effects {
    /// Leases to export as they are.
    pub leases: Vec<(Lease, Source)>,
    /// Addresses to read back from Kea's lease database (an operator's add
    /// or update): exported if found.
    pub lookups: Vec<IpAddr>,
    /// Leases an operator deleted by address alone, gone from Kea by now:
    /// their MAC is what Redis held (see `Exporter::forget`).
    pub forgets: Vec<IpAddr>,
    /// A reconciliation is needed, and why.
    pub reconcile: Option<&'static str>,
    /// The HA state this server answered its partner's heartbeat with.
    pub ha_state: Option<String>,
    /// What could not be followed, and why (counted, logged rate-limited).
    pub skipped: Vec<String>,
    /// Leases aae does not map, as on the packet path: delegated prefixes,
    /// DHCPv6 leases without a hardware address (counted, not logged).
    pub unmapped: u64,
}

/// Interprets one processed command. `now` stands in for a lease's cltt
/// when the arguments give neither `expire` nor `cltt`.
pub(super) fn interpret(name: &str, arguments: &[u8], response: &[u8], now: i64) -> Effects {
    let mut fx = Effects::default();
    let response: Value = match serde_json::from_slice(response) {
        Ok(v) => v,
        Err(e) => {
            fx.skipped.push(format!("{name}: unreadable response: {e}"));
            return fx;
        }
    };
    // The control agent wraps answers in a list; the server itself does not.
    let response = match &response {
        Value::Array(a) => a.first().unwrap_or(&Value::Null),
        v => v,
    };
    let result = response.get("result").and_then(Value::as_i64);
    let arguments: Value = if arguments.is_empty() {
        Value::Null
    } else {
        match serde_json::from_slice(arguments) {
            Ok(v) => v,
            Err(e) => {
                fx.skipped
                    .push(format!("{name}: unreadable arguments: {e}"));
                return fx;
            }
        }
    };
    let family = if name.starts_with("lease6") { 6 } else { 4 };
    let failed = |fx: &mut Effects| {
        let text = response.get("text").and_then(Value::as_str).unwrap_or("");
        fx.skipped
            .push(format!("{name} failed (result {result:?}): {text}"));
    };
    match name {
        "ha-heartbeat" if result == Some(SUCCESS) => {
            fx.ha_state = response
                .get("arguments")
                .and_then(|a| a.get("state"))
                .and_then(Value::as_str)
                .map(str::to_owned);
        }
        "ha-sync" if result == Some(SUCCESS) => {
            fx.reconcile = Some("after an ha-sync command");
        }
        "lease4-wipe" | "lease6-wipe" if result == Some(SUCCESS) => {
            fx.reconcile = Some("after a lease wipe");
        }
        "lease4-add" | "lease4-update" | "lease6-add" | "lease6-update" => {
            if result != Some(SUCCESS) {
                failed(&mut fx);
            } else {
                changed(&mut fx, name, &arguments, family, now);
            }
        }
        "lease4-del" | "lease6-del" => {
            if !matches!(result, Some(SUCCESS | EMPTY)) {
                failed(&mut fx);
            } else {
                deleted(&mut fx, name, &arguments, family, now);
            }
        }
        "lease6-bulk-apply" => {
            if !matches!(result, Some(SUCCESS | EMPTY)) {
                failed(&mut fx);
                return fx;
            }
            let answer = response.get("arguments");
            let not_failed = |list: &str| -> Vec<IpAddr> {
                answer
                    .and_then(|a| a.get(list))
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .filter_map(|l| ip_of(l).ok())
                    .collect()
            };
            let (failed_leases, failed_deleted) = (
                not_failed("failed-leases"),
                not_failed("failed-deleted-leases"),
            );
            for (list, failures, deletes) in [
                ("leases", &failed_leases, false),
                ("deleted-leases", &failed_deleted, true),
            ] {
                let items = arguments.get(list).and_then(Value::as_array);
                for item in items.into_iter().flatten() {
                    if ip_of(item).is_ok_and(|ip| failures.contains(&ip)) {
                        fx.skipped
                            .push(format!("{name}: Kea did not apply {}", item_ip(item)));
                        continue;
                    }
                    if deletes {
                        deleted(&mut fx, name, item, 6, now);
                    } else {
                        changed(&mut fx, name, item, 6, now);
                    }
                }
            }
        }
        _ => {}
    }
    fx
}

/// A lease added or updated.
fn changed(fx: &mut Effects, name: &str, args: &Value, family: u8, now: i64) {
    let Some(ip) = address(fx, name, args, family) else {
        return;
    };
    if !from_partner(args) {
        fx.lookups.push(ip);
        return;
    }
    match lease_of(args, ip, family, now) {
        Ok(Some(lease)) => fx.leases.push((lease, Source::Partner)),
        Ok(None) => fx.unmapped += 1,
        Err(why) => fx.skipped.push(format!("{name} {ip}: {why}")),
    }
}

/// A lease deleted.
fn deleted(fx: &mut Effects, name: &str, args: &Value, family: u8, now: i64) {
    if args.get("ip-address").is_none() {
        fx.reconcile = Some("after a lease delete by identifier");
        return;
    }
    let Some(ip) = address(fx, name, args, family) else {
        return;
    };
    let source = if from_partner(args) {
        Source::Partner
    } else {
        Source::Operator
    };
    match args.get("hw-address").and_then(Value::as_str) {
        Some(hw) => match hw.parse::<HwAddr>() {
            Ok(hwaddr) => fx
                .leases
                .push((ended(args, ip, hwaddr, now, LeaseEvent::Release), source)),
            Err(e) => fx.skipped.push(format!("{name} {ip}: 'hw-address': {e}")),
        },
        None => fx.forgets.push(ip),
    }
}

fn ended(args: &Value, ip: IpAddr, hwaddr: HwAddr, now: i64, event: LeaseEvent) -> Lease {
    let valid = u32_field(args, "valid-lft").ok().flatten().unwrap_or(0);
    Lease::new(
        ip,
        hwaddr,
        valid,
        cltt_of(args, valid, now),
        hostname_of(args),
        u32_field(args, "subnet-id").ok().flatten().unwrap_or(0),
        event,
    )
}

/// Whether the HA partner sent this lease (see the module's note).
fn from_partner(args: &Value) -> bool {
    if let Some(origin) = args.get("origin") {
        return origin.as_str() == Some("ha-partner");
    }
    ["expire", "valid-lft", "subnet-id", "fqdn-fwd"]
        .iter()
        .all(|k| args.get(*k).is_some())
}

/// The lease a whole lease element describes; `None` for one aae does not
/// map, as on the packet path (a delegated prefix, a DHCPv6 lease without a
/// hardware address).
fn lease_of(args: &Value, ip: IpAddr, family: u8, now: i64) -> Result<Option<Lease>, String> {
    if family == 6 {
        match args.get("type").map(|t| t.as_str()) {
            None | Some(Some("IA_NA" | "IA_TA")) => {}
            Some(Some("IA_PD")) => return Ok(None),
            Some(_) => return Err(format!("unknown lease type {}", args["type"])),
        }
    }
    let hwaddr = match args.get("hw-address").and_then(Value::as_str) {
        Some(hw) => hw
            .parse::<HwAddr>()
            .map_err(|e| format!("'hw-address': {e}"))?,
        None if family == 6 => return Ok(None),
        None => return Err("no 'hw-address'".into()),
    };
    let valid = u32_field(args, "valid-lft")?.ok_or("no 'valid-lft'")?;
    let state = args.get("state").map_or(Some(DEFAULT), |s| {
        s.as_u64().and_then(|s| u32::try_from(s).ok())
    });
    let event = match state {
        _ if valid == 0 => LeaseEvent::Release,
        Some(DEFAULT) => LeaseEvent::Select,
        Some(DECLINED) => LeaseEvent::Decline,
        Some(EXPIRED_RECLAIMED) => LeaseEvent::Expire,
        Some(RELEASED) => LeaseEvent::Release,
        _ => return Err(format!("unknown lease state {}", args["state"])),
    };
    Ok(Some(Lease::new(
        ip,
        hwaddr,
        valid,
        cltt_of(args, valid, now),
        hostname_of(args),
        u32_field(args, "subnet-id")?.unwrap_or(0),
        event,
    )))
}

/// The command's `ip-address`, if it is one of `family`; otherwise records
/// why not.
fn address(fx: &mut Effects, name: &str, args: &Value, family: u8) -> Option<IpAddr> {
    match ip_of(args) {
        Ok(ip) if ip_family(ip) == family => Some(ip),
        Ok(ip) => {
            fx.skipped
                .push(format!("{name}: {ip} is not an IPv{family} address"));
            None
        }
        Err(why) => {
            fx.skipped.push(format!("{name}: {why}"));
            None
        }
    }
}

fn ip_of(args: &Value) -> Result<IpAddr, String> {
    let text = args
        .get("ip-address")
        .and_then(Value::as_str)
        .ok_or("no 'ip-address'")?;
    lease_model::parse_ip(text).map_err(|e| format!("'ip-address': {e}"))
}

fn item_ip(item: &Value) -> String {
    item.get("ip-address")
        .and_then(Value::as_str)
        .unwrap_or("?")
        .to_owned()
}

fn ip_family(ip: IpAddr) -> u8 {
    if ip.is_ipv4() { 4 } else { 6 }
}

fn u32_field(args: &Value, key: &str) -> Result<Option<u32>, String> {
    match args.get(key) {
        None => Ok(None),
        Some(v) => v
            .as_u64()
            .and_then(|n| u32::try_from(n).ok())
            .map(Some)
            .ok_or_else(|| format!("'{key}' is not a 32-bit unsigned integer: {v}")),
    }
}

/// Kea sends `expire` (cltt + valid lifetime) between partners, and accepts
/// either from operators.
fn cltt_of(args: &Value, valid: u32, now: i64) -> i64 {
    if let Some(cltt) = args.get("cltt").and_then(Value::as_i64) {
        return cltt;
    }
    match args.get("expire").and_then(Value::as_i64) {
        Some(expire) if valid != INFINITE_LIFETIME => expire.saturating_sub(i64::from(valid)),
        _ => now,
    }
}

fn hostname_of(args: &Value) -> Hostname {
    Hostname::from_bytes(
        args.get("hostname")
            .and_then(Value::as_str)
            .unwrap_or("")
            .as_bytes(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const NOW: i64 = 1_700_000_000;
    const OK: &str = r#"{"result": 0, "text": "done"}"#;

    /// What Kea 2.2's HA sends for a lease (`Lease4::toElement` + expire).
    fn partner4(ip: &str, mac: &str, state: i64) -> Value {
        json!({"ip-address": ip, "hw-address": mac, "subnet-id": 1, "valid-lft": 600,
               "expire": NOW + 600, "fqdn-fwd": false, "fqdn-rev": false,
               "hostname": "h\u{e9}", "state": state, "force-create": true})
    }

    fn run(name: &str, args: &Value, response: &str) -> Effects {
        interpret(name, args.to_string().as_bytes(), response.as_bytes(), NOW)
    }

    #[test]
    fn a_partners_update_is_taken_from_its_arguments() {
        for args in [
            partner4("192.0.2.7", "02:00:00:00:00:07", 0),
            // Kea 2.6 and later say so.
            json!({"ip-address": "192.0.2.7", "hw-address": "02:00:00:00:00:07",
                   "valid-lft": 600, "expire": NOW + 600, "hostname": "h\u{e9}",
                   "subnet-id": 1, "origin": "ha-partner"}),
        ] {
            let fx = run("lease4-update", &args, OK);
            assert!(fx.lookups.is_empty());
            let [(lease, Source::Partner)] = &fx.leases[..] else {
                panic!("{fx:?}")
            };
            assert_eq!(lease.ip.to_string(), "192.0.2.7");
            assert_eq!(lease.hwaddr.to_string(), "02:00:00:00:00:07");
            assert_eq!((lease.cltt, lease.valid_lifetime), (NOW, 600));
            assert_eq!(lease.event, LeaseEvent::Select);
            assert_eq!(lease.hostname.as_bytes(), "h\u{e9}".as_bytes());
            assert_eq!(lease.subnet_id, 1);
        }
    }

    #[test]
    fn a_partners_lease_that_ended_is_a_deletion() {
        let cases = [
            (
                partner4("192.0.2.7", "02:00:00:00:00:07", 1),
                LeaseEvent::Decline,
            ),
            (
                partner4("192.0.2.7", "02:00:00:00:00:07", 2),
                LeaseEvent::Expire,
            ),
            (
                partner4("192.0.2.7", "02:00:00:00:00:07", 3),
                LeaseEvent::Release,
            ),
        ];
        for (args, event) in cases {
            let fx = run("lease4-update", &args, OK);
            assert_eq!(fx.leases[0].0.event, event, "{args}");
        }
        // Kea 2.6 keeps a released lease with lifetime 0.
        let mut released = partner4("192.0.2.7", "02:00:00:00:00:07", 0);
        released["valid-lft"] = json!(0);
        assert_eq!(
            run("lease4-update", &released, OK).leases[0].0.event,
            LeaseEvent::Release
        );
        let fx = run(
            "lease4-del",
            &partner4("192.0.2.7", "02:00:00:00:00:07", 0),
            OK,
        );
        assert_eq!(fx.leases[0].0.event, LeaseEvent::Release);
        assert_eq!(fx.leases[0].1, Source::Partner);
    }

    #[test]
    fn an_operators_command_is_read_back_or_forgotten() {
        let fx = run(
            "lease4-add",
            &json!({"ip-address": "192.0.2.9", "hw-address": "02:00:00:00:00:09"}),
            OK,
        );
        assert_eq!(fx.lookups, vec!["192.0.2.9".parse::<IpAddr>().unwrap()]);
        assert!(fx.leases.is_empty());
        let fx = run(
            "lease4-del",
            &json!({"ip-address": "192.0.2.9", "hw-address": "02:00:00:00:00:09"}),
            OK,
        );
        assert_eq!(fx.leases[0].1, Source::Operator);
        assert_eq!(fx.leases[0].0.hwaddr.to_string(), "02:00:00:00:00:09");
        let fx = run("lease4-del", &json!({"ip-address": "192.0.2.9"}), OK);
        assert_eq!(fx.forgets, vec!["192.0.2.9".parse::<IpAddr>().unwrap()]);
        assert!(fx.leases.is_empty());
        let fx = run(
            "lease4-del",
            &json!({"identifier-type": "hw-address", "identifier": "02:00:00:00:00:09",
                    "subnet-id": 1}),
            OK,
        );
        assert!(fx.reconcile.is_some() && fx.leases.is_empty());
        assert!(
            run("lease4-wipe", &json!({"subnet-id": 1}), OK)
                .reconcile
                .is_some()
        );
        assert!(
            run("lease4-wipe", &json!({}), r#"{"result": 3}"#)
                .reconcile
                .is_none()
        );
    }

    #[test]
    fn failures_and_garbage_are_skipped_never_exported() {
        let failed = r#"{"result": 1, "text": "IPv4 lease already exists."}"#;
        let fx = run("lease4-add", &json!({"ip-address": "192.0.2.9"}), failed);
        assert!(fx.leases.is_empty() && fx.lookups.is_empty());
        assert!(fx.skipped[0].contains("already exists"), "{fx:?}");
        for (name, args, response) in [
            ("lease4-update", "{", OK),
            ("lease4-update", "{}", "not json"),
            ("lease4-update", r#"{"ip-address": "banana"}"#, OK),
            ("lease4-update", r#"{"ip-address": "2001:db8::1"}"#, OK),
            ("lease4-del", r#"{"ip-address": 7}"#, OK),
        ] {
            let fx = interpret(name, args.as_bytes(), response.as_bytes(), NOW);
            assert!(fx.leases.is_empty() && fx.lookups.is_empty(), "{args}");
            assert_eq!(fx.skipped.len(), 1, "{args}: {fx:?}");
        }
        let mut no_mac = partner4("192.0.2.7", "02:00:00:00:00:07", 0);
        no_mac["hw-address"] = json!("zz");
        assert_eq!(run("lease4-update", &no_mac, OK).skipped.len(), 1);
        let mut state = partner4("192.0.2.7", "02:00:00:00:00:07", 0);
        state["state"] = json!(9);
        assert!(run("lease4-update", &state, OK).skipped[0].contains("state"));
    }

    #[test]
    fn a_partners_v6_bulk_apply_skips_what_kea_did_not_apply() {
        let lease6 = |ip: &str, ty: &str, mac: Option<&str>| {
            let mut l = json!({"ip-address": ip, "type": ty, "duid": "01:02", "iaid": 1,
                               "subnet-id": 1, "valid-lft": 600, "preferred-lft": 300,
                               "expire": NOW + 600, "fqdn-fwd": false, "fqdn-rev": false,
                               "hostname": "", "state": 0});
            if let Some(mac) = mac {
                l["hw-address"] = json!(mac);
            }
            l
        };
        let args = json!({
            "leases": [lease6("2001:db8:1::1", "IA_NA", Some("02:00:00:00:00:01")),
                       lease6("2001:db8:1::2", "IA_NA", Some("02:00:00:00:00:02")),
                       lease6("2001:db8:2::", "IA_PD", Some("02:00:00:00:00:03")),
                       lease6("2001:db8:1::4", "IA_NA", None)],
            "deleted-leases": [lease6("2001:db8:1::5", "IA_NA", Some("02:00:00:00:00:05"))],
        });
        let response = json!({"result": 0, "text": "Bulk apply of 4 IPv6 leases completed.",
            "arguments": {"failed-leases": [{"ip-address": "2001:db8:1::2", "type": "IA_NA",
                                             "result": 1, "error-message": "no"}]}});
        let fx = run("lease6-bulk-apply", &args, &response.to_string());
        let got: Vec<_> = fx
            .leases
            .iter()
            .map(|(l, s)| (l.ip.to_string(), l.event, *s))
            .collect();
        assert_eq!(
            got,
            vec![
                ("2001:db8:1::1".into(), LeaseEvent::Select, Source::Partner),
                ("2001:db8:1::5".into(), LeaseEvent::Release, Source::Partner),
            ]
        );
        // The failed one; the prefix and the one without a MAC are not
        // mapped, as on the packet path.
        assert_eq!((fx.skipped.len(), fx.unmapped), (1, 2), "{fx:?}");
    }

    #[test]
    fn a_heartbeat_tells_this_servers_ha_state() {
        let answer = r#"{"result": 0, "text": "HA peer status returned.",
                         "arguments": {"state": "hot-standby", "scopes": []}}"#;
        assert_eq!(
            interpret("ha-heartbeat", b"", answer.as_bytes(), NOW).ha_state,
            Some("hot-standby".into())
        );
        assert!(!wanted("lease4-get-page") && !wanted("status-get"));
        assert!(wanted("lease4-update") && wanted("ha-heartbeat"));
    }
}
