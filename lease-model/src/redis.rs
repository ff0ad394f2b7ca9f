//! Keys, values and expiry in Redis. The format is specified in
//! `docs/redis-schema.md`; change both together.

use std::net::IpAddr;
use std::num::NonZeroU64;

use serde::{Deserialize, Serialize};

use crate::newest::ScriptCall;
use crate::{Error, Hostname, HwAddr, Lease, LeaseEvent, LeaseRecord};

pub const DEFAULT_KEY_PREFIX: &str = "aae:lease:";
/// ARPwatch may act on a lookup a few minutes after the lease it saw ran out.
pub const DEFAULT_GRACE_SECS: u32 = 300;

/// Where aae's flush markers live, whatever the key prefix: outside the
/// default one, so `SCAN aae:lease:*` finds leases only. See
/// [`RedisSchema::marker_key`].
const MARKER_KEY_HEAD: &str = "aae:marker:";

/// How a deployment lays leases out in Redis: the key prefix and the grace
/// period added to every expiry. Writer and reader must use the same one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RedisSchema {
    prefix: String,
    grace_secs: u32,
}

/// The single Redis command that brings the store in line with one record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RedisWrite {
    /// `SET key value [EX ttl]`; no TTL for an infinite lease.
    Set {
        key: String,
        value: String,
        ttl_secs: Option<NonZeroU64>,
    },
    /// `DEL key`: the lease ended. `cltt` is the ended lease's: a stored
    /// lease newer than that stays (see [`crate::newest`]).
    Delete { key: String, cltt: i64 },
    /// Nothing to write.
    Skip { reason: SkipReason },
}

impl RedisWrite {
    /// This write as a call of [`crate::NEWEST_WINS_SCRIPT`], which makes it
    /// apply only if it is not older than what the key holds; `None` for
    /// [`RedisWrite::Skip`]. `return_deleted`: a deletion that hands back the
    /// value it deleted (`forget`) rather than `1`.
    pub fn into_script_call(self, return_deleted: bool) -> Option<ScriptCall> {
        match self {
            RedisWrite::Set {
                key,
                value,
                ttl_secs,
            } => {
                let ttl = ttl_secs.map_or(0, NonZeroU64::get);
                Some(ScriptCall {
                    key,
                    args: vec!["set".into(), value, ttl.to_string()],
                })
            }
            RedisWrite::Delete { key, cltt } => {
                let mode = if return_deleted { "forget" } else { "del" };
                Some(ScriptCall {
                    key,
                    args: vec![mode.into(), cltt.to_string()],
                })
            }
            RedisWrite::Skip { .. } => None,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SkipReason {
    /// Already past expiry plus grace: writing it would resurrect a dead lease.
    Expired,
}

impl Default for RedisSchema {
    fn default() -> Self {
        RedisSchema {
            prefix: DEFAULT_KEY_PREFIX.to_owned(),
            grace_secs: DEFAULT_GRACE_SECS,
        }
    }
}

impl RedisSchema {
    /// A prefix may be empty (a Redis database of its own), but may not hold
    /// whitespace or control characters: they make keys unusable from
    /// `redis-cli` and are always a configuration mistake.
    pub fn new(prefix: impl Into<String>, grace_secs: u32) -> Result<Self, Error> {
        let prefix = prefix.into();
        if prefix.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(Error::InvalidPrefix {
                prefix,
                reason: "it contains whitespace or control characters",
            });
        }
        if prefix.len() > 256 {
            return Err(Error::InvalidPrefix {
                prefix,
                reason: "it is longer than 256 bytes",
            });
        }
        Ok(RedisSchema { prefix, grace_secs })
    }

    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    pub fn grace_secs(&self) -> u32 {
        self.grace_secs
    }

    /// The key for an address: prefix plus canonical text, so every spelling of
    /// one address names one key.
    pub fn key(&self, ip: IpAddr) -> String {
        format!("{}{}", self.prefix, crate::canonical_ip(ip))
    }

    /// The flush marker of one running aae instance: `aae:marker:<node>:<instance
    /// as 16 hex digits>`. Its absence tells that instance that Redis lost its
    /// keys without restarting (`FLUSHALL`, `FLUSHDB`). It is never a lease
    /// key, whatever the prefix: its last 17 characters are `:` and 16 hex
    /// digits, while a lease key ends in a canonical address, whose last
    /// IPv6 group has at most 4 digits and whose IPv4 form has dots.
    pub fn marker_key(node: &str, instance: u64) -> String {
        format!("{MARKER_KEY_HEAD}{node}:{instance:016x}")
    }

    /// The TTL a live lease gets at `now`: time left plus grace. `None` inside
    /// `Some` for an infinite lease; outer `None` when it is past expiry + grace.
    pub fn ttl_at(&self, lease: &Lease, now: i64) -> Option<Option<NonZeroU64>> {
        match lease.remaining_at(now) {
            None => Some(None),
            Some(left) => {
                let ttl = left.saturating_add(i64::from(self.grace_secs));
                u64::try_from(ttl).ok().and_then(NonZeroU64::new).map(Some)
            }
        }
    }

    /// The write that records `record` at Unix time `now`.
    pub fn write_for(&self, record: &LeaseRecord, now: i64) -> RedisWrite {
        let key = self.key(record.lease.ip);
        if record.lease.event.ends_lease() {
            return RedisWrite::Delete {
                key,
                cltt: record.lease.cltt,
            };
        }
        match self.ttl_at(&record.lease, now) {
            None => RedisWrite::Skip {
                reason: SkipReason::Expired,
            },
            Some(ttl_secs) => RedisWrite::Set {
                key,
                value: encode_value(record),
                ttl_secs,
            },
        }
    }

    /// The stored value for `record`, as [`RedisSchema::write_for`] sets it:
    /// for anything else that keeps leases in this form (aae's spool).
    pub fn encode(&self, record: &LeaseRecord) -> String {
        encode_value(record)
    }

    /// Reads back a stored value. The key is not needed: the value carries the
    /// address, and a mismatch means someone wrote it by hand.
    pub fn decode(&self, value: &[u8]) -> Result<LeaseRecord, Error> {
        decode_value(value)
    }
}

/// Version 1 of the stored value. Field names are short but readable, so an
/// operator can `redis-cli GET` a key and understand it.
#[derive(Serialize, Deserialize)]
struct StoredV1<'a> {
    v: u32,
    mac: HwAddr,
    #[serde(borrow)]
    ip: std::borrow::Cow<'a, str>,
    cltt: i64,
    valid_lifetime: u32,
    subnet_id: u32,
    #[serde(borrow)]
    event: std::borrow::Cow<'a, str>,
    #[serde(borrow)]
    node: std::borrow::Cow<'a, str>,
    #[serde(borrow)]
    hostname: std::borrow::Cow<'a, str>,
}

fn encode_value(record: &LeaseRecord) -> String {
    let l = &record.lease;
    let stored = StoredV1 {
        v: 1,
        mac: l.hwaddr,
        ip: l.ip.to_string().into(),
        cltt: l.cltt,
        valid_lifetime: l.valid_lifetime,
        subnet_id: l.subnet_id,
        event: l.event.as_str().into(),
        node: record.node.as_str().into(),
        hostname: l.hostname.to_text().into(),
    };
    serde_json::to_string(&stored).expect("a struct of strings and integers always serializes")
}

fn decode_value(value: &[u8]) -> Result<LeaseRecord, Error> {
    let bad = |reason: String| Error::InvalidRecord { reason };
    let stored: StoredV1<'_> = serde_json::from_slice(value).map_err(|e| bad(e.to_string()))?;
    if stored.v != 1 {
        return Err(bad(format!("unknown format version {}", stored.v)));
    }
    let ip = crate::parse_ip(&stored.ip).map_err(|e| bad(e.to_string()))?;
    let event: LeaseEvent = stored
        .event
        .parse()
        .map_err(|e: Error| bad(e.to_string()))?;
    Ok(LeaseRecord {
        lease: Lease::new(
            ip,
            stored.mac,
            stored.valid_lifetime,
            stored.cltt,
            Hostname::from_text(&stored.hostname),
            stored.subnet_id,
            event,
        ),
        node: stored.node.into_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::INFINITE_LIFETIME;
    use proptest::prelude::*;

    fn record(valid: u32, cltt: i64, event: LeaseEvent) -> LeaseRecord {
        LeaseRecord {
            lease: Lease::new(
                "192.0.2.10".parse().unwrap(),
                "aa:bb:cc:dd:ee:ff".parse().unwrap(),
                valid,
                cltt,
                Hostname::from_bytes(&b"host\xff"[..]),
                7,
                event,
            ),
            node: "dhcp-a".into(),
        }
    }

    #[test]
    fn a_live_lease_is_set_with_time_left_plus_grace() {
        let s = RedisSchema::default();
        let w = s.write_for(&record(3600, 1_000, LeaseEvent::Select), 1_600);
        let RedisWrite::Set {
            key,
            value,
            ttl_secs,
        } = w
        else {
            panic!("{w:?}")
        };
        assert_eq!(key, "aae:lease:192.0.2.10");
        assert_eq!(ttl_secs.unwrap().get(), 3000 + 300);
        assert!(value.contains(r#""mac":"aa:bb:cc:dd:ee:ff""#), "{value}");
        assert_eq!(
            s.decode(value.as_bytes()).unwrap(),
            record(3600, 1_000, LeaseEvent::Select)
        );
    }

    #[test]
    fn ending_events_delete() {
        let s = RedisSchema::default();
        for e in [LeaseEvent::Release, LeaseEvent::Decline, LeaseEvent::Expire] {
            assert_eq!(
                s.write_for(&record(3600, 0, e), 10),
                RedisWrite::Delete {
                    key: "aae:lease:192.0.2.10".into(),
                    cltt: 0,
                }
            );
        }
    }

    #[test]
    fn infinite_lease_has_no_ttl() {
        let s = RedisSchema::default();
        let w = s.write_for(&record(INFINITE_LIFETIME, 0, LeaseEvent::Renew), i64::MAX);
        assert!(matches!(w, RedisWrite::Set { ttl_secs: None, .. }), "{w:?}");
    }

    #[test]
    fn dead_lease_is_not_resurrected() {
        let s = RedisSchema::new("p:", 300).unwrap();
        // expires at 100, grace ends at 400.
        let r = record(100, 0, LeaseEvent::Renew);
        assert!(
            matches!(s.write_for(&r, 399), RedisWrite::Set { ttl_secs: Some(t), .. } if t.get() == 1)
        );
        assert_eq!(
            s.write_for(&r, 400),
            RedisWrite::Skip {
                reason: SkipReason::Expired
            }
        );
    }

    #[test]
    fn bad_prefix_and_value_say_why() {
        assert!(matches!(
            RedisSchema::new("a b", 1),
            Err(Error::InvalidPrefix { .. })
        ));
        let s = RedisSchema::default();
        let err = s.decode(b"aa:bb:cc:dd:ee:ff").unwrap_err();
        assert!(err.to_string().contains("not a valid record"), "{err}");
        let err = s.decode(br#"{"v":2}"#).unwrap_err();
        assert!(matches!(err, Error::InvalidRecord { .. }));
    }

    #[test]
    fn a_marker_key_names_node_and_instance() {
        assert_eq!(
            RedisSchema::marker_key("dhcp-a", 0x3f),
            "aae:marker:dhcp-a:000000000000003f"
        );
    }

    proptest! {
        #[test]
        fn a_marker_is_never_a_lease_key(node in "[!-~]{1,20}", instance: u64) {
            // A lease key is any prefix plus a canonical address, so no tail
            // of the marker may be one.
            let marker = RedisSchema::marker_key(&node, instance);
            for (cut, _) in marker.char_indices() {
                let tail = &marker[cut..];
                let is_address = tail
                    .parse::<IpAddr>()
                    .is_ok_and(|ip| crate::canonical_ip(ip).to_string() == tail);
                prop_assert!(!is_address, "{marker} ends in the address {tail}");
            }
        }

        #[test]
        fn ttl_is_bounded_by_lifetime_plus_grace(
            valid in 0u32..u32::MAX,
            cltt in -1_000_000_000i64..4_000_000_000,
            now in -1_000_000_000i64..4_000_000_000,
            grace in 0u32..100_000,
        ) {
            let s = RedisSchema::new("", grace).unwrap();
            let lease = record(valid, cltt, LeaseEvent::Renew).lease;
            let exp = cltt + i64::from(valid);
            match s.ttl_at(&lease, now) {
                None => prop_assert!(exp + i64::from(grace) <= now),
                Some(None) => prop_assert!(false, "finite lease got no ttl"),
                Some(Some(ttl)) => {
                    let ttl = ttl.get() as i64;
                    prop_assert!(ttl <= i64::from(valid) + i64::from(grace));
                    // In the ordinary case (cltt not in the future) the key dies
                    // exactly at expiry + grace.
                    if cltt <= now { prop_assert_eq!(now + ttl, exp + i64::from(grace)); }
                    // A future cltt (clock skew) never extends past the lifetime.
                    else { prop_assert_eq!(ttl, (exp - now).min(i64::from(valid)) + i64::from(grace)); }
                }
            }
        }

        #[test]
        fn value_round_trips(
            valid: u32, cltt: i64, subnet: u32,
            host in proptest::collection::vec(any::<u8>(), 0..40),
            node in "[a-z0-9.-]{0,20}",
            v6: bool, bits: u128,
            mac in proptest::collection::vec(any::<u8>(), 1..=20),
        ) {
            let ip: IpAddr = if v6 { std::net::Ipv6Addr::from(bits).into() } else { std::net::Ipv4Addr::from(bits as u32).into() };
            let rec = LeaseRecord {
                lease: Lease::new(ip, HwAddr::from_bytes(&mac).unwrap(), valid, cltt, Hostname::from_bytes(host), subnet, LeaseEvent::Rebind),
                node,
            };
            let s = RedisSchema::default();
            prop_assert_eq!(s.decode(encode_value(&rec).as_bytes()).unwrap(), rec);
        }
    }
}
