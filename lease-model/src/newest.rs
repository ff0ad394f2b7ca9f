//! Several writers, one Redis: the newest lease wins. The rule is specified
//! in `docs/redis-schema.md` ("Several writers"); Redis applies it with
//! [`NEWEST_WINS_SCRIPT`], and this is the same rule in Rust, the reference
//! the script is tested against.

use crate::{INFINITE_LIFETIME, LeaseRecord};

/// The Lua script that makes every lease write in Redis (Redis 7 and 8,
/// Valkey 8: `EVALSHA` with cjson) follow the rule, atomically. One key,
/// `KEYS[1]`; its arguments are [`ScriptCall::args`]. Replies:
/// [`SCRIPT_APPLIED`], [`SCRIPT_REFUSED`], or for a deletion that returns
/// what it deleted, the value (nil when nothing was stored).
pub const NEWEST_WINS_SCRIPT: &str = include_str!("newest_wins.lua");

/// The script's reply when the write or deletion was carried out.
pub const SCRIPT_APPLIED: i64 = 1;
/// The script's reply when the stored lease is newer and stays.
pub const SCRIPT_REFUSED: i64 = 0;

/// A `cltt` is compared only while its magnitude is below 2^52, where the
/// script's numbers (doubles) still hold it, and its expiry, exactly. No
/// clock gets there (it is 142 million years); a value beyond is taken as
/// unreadable.
const CLTT_LIMIT: i64 = 1 << 52;

/// What the rule reads of a lease: when its holder last spoke to the
/// server, when it ends, and which node saw it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Standing {
    pub cltt: i64,
    pub valid_lifetime: u32,
    pub node: String,
}

impl Standing {
    /// A record's standing; `None` when its cltt is out of the compared range.
    pub fn of(record: &LeaseRecord) -> Option<Standing> {
        let cltt = record.lease.cltt;
        (cltt.abs() < CLTT_LIMIT).then(|| Standing {
            cltt,
            valid_lifetime: record.lease.valid_lifetime,
            node: record.node.clone(),
        })
    }

    /// The standing of a stored value, as the script reads it: a JSON
    /// object with `"v":1`, integers `cltt` (in range) and `valid_lifetime`
    /// (0 to 2^32-1), and a string `node`. Integers may be written as JSON
    /// numbers of any form with an integral value (`1.0`, `1e3`), as Lua
    /// sees them. The other fields are not looked at. `None` otherwise: a
    /// value the rule cannot read is replaced by any write, so junk never
    /// blocks a lease.
    pub fn read(value: &[u8]) -> Option<Standing> {
        let v: serde_json::Value = serde_json::from_slice(value).ok()?;
        let o = v.as_object()?;
        let int = |name: &str, lo: f64, hi: f64| {
            let x = o.get(name)?.as_f64()?;
            (x.fract() == 0.0 && x >= lo && x <= hi).then_some(x)
        };
        int("v", 1.0, 1.0)?;
        let limit = CLTT_LIMIT as f64;
        let cltt = int("cltt", 1.0 - limit, limit - 1.0)? as i64;
        let valid_lifetime = int("valid_lifetime", 0.0, f64::from(INFINITE_LIFETIME))? as u32;
        let node = o.get("node")?.as_str()?.to_owned();
        Some(Standing {
            cltt,
            valid_lifetime,
            node,
        })
    }

    /// Unix second of the end; `None` for an infinite lease, which ends last.
    fn expiry(&self) -> Option<i64> {
        (self.valid_lifetime != INFINITE_LIFETIME)
            .then(|| self.cltt + i64::from(self.valid_lifetime))
    }

    /// Whether a write of `self` replaces `stored`: a later cltt wins; at
    /// the same cltt the same node may rewrite its own state, and between
    /// two nodes the later expiry (infinite last), then the greater node
    /// name (bytewise) wins, so that both nodes of a pair converge on one
    /// value whichever order their writes arrive in.
    pub fn supersedes(&self, stored: &Standing) -> bool {
        if self.cltt != stored.cltt {
            return self.cltt > stored.cltt;
        }
        if self.node == stored.node {
            return true;
        }
        // None (infinite) ranks above every finite expiry.
        let rank = |s: &Standing| s.expiry().map_or((1, 0), |e| (0, e));
        match rank(self).cmp(&rank(stored)) {
            std::cmp::Ordering::Equal => self.node.as_bytes() > stored.node.as_bytes(),
            other => other.is_gt(),
        }
    }
}

/// Whether writing `new` replaces the stored record `stored` (see
/// [`Standing::supersedes`]). A record out of the compared range is
/// unreadable to the rule, and the write applies.
pub fn supersedes(new: &LeaseRecord, stored: &LeaseRecord) -> bool {
    match (Standing::of(new), Standing::of(stored)) {
        (Some(n), Some(s)) => n.supersedes(&s),
        _ => true,
    }
}

/// Whether the deletion of an ended lease whose cltt was `ended_cltt`
/// removes `stored`: only if the stored lease is not newer.
pub fn ends(ended_cltt: i64, stored: &LeaseRecord) -> bool {
    Standing::of(stored).is_none_or(|s| s.cltt <= ended_cltt)
}

/// What the script decides for a write of `new` (encoded as `new_value`)
/// over `stored` (the key's value; `None` when absent): the rule on raw
/// values, as the script sees them.
pub fn write_applies(new_value: &[u8], stored: Option<&[u8]>) -> bool {
    match (Standing::read(new_value), stored.and_then(Standing::read)) {
        (Some(n), Some(s)) => n.supersedes(&s),
        _ => true,
    }
}

/// What the script decides for a deletion carrying `ended_cltt` over
/// `stored`.
pub fn deletion_applies(ended_cltt: i64, stored: Option<&[u8]>) -> bool {
    stored
        .and_then(Standing::read)
        .is_none_or(|s| s.cltt <= ended_cltt)
}

/// One call of [`NEWEST_WINS_SCRIPT`]: `EVALSHA <sha> 1 <key> <args...>`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScriptCall {
    pub key: String,
    /// `set VALUE TTL` (TTL `0`: none), `del CLTT`, or `forget CLTT`.
    pub args: Vec<String>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Hostname, Lease, LeaseEvent, RedisSchema};
    use proptest::prelude::*;

    fn rec(cltt: i64, valid: u32, node: &str) -> LeaseRecord {
        LeaseRecord {
            lease: Lease::new(
                "192.0.2.10".parse().unwrap(),
                "aa:bb:cc:dd:ee:ff".parse().unwrap(),
                valid,
                cltt,
                Hostname::from_text(""),
                1,
                LeaseEvent::Renew,
            ),
            node: node.into(),
        }
    }

    #[test]
    fn a_later_cltt_wins_whoever_wrote_it() {
        assert!(supersedes(&rec(101, 60, "a"), &rec(100, 3600, "b")));
        assert!(!supersedes(&rec(100, 3600, "b"), &rec(101, 60, "a")));
        assert!(
            !supersedes(&rec(99, 60, "a"), &rec(100, 60, "a")),
            "own older state"
        );
    }

    #[test]
    fn at_the_same_cltt_a_node_rewrites_its_own_state() {
        assert!(supersedes(&rec(100, 60, "a"), &rec(100, 3600, "a")));
        assert!(supersedes(&rec(100, 3600, "a"), &rec(100, 60, "a")));
    }

    #[test]
    fn at_the_same_cltt_between_nodes_the_later_expiry_then_the_greater_name_wins() {
        assert!(supersedes(&rec(100, 3600, "a"), &rec(100, 60, "b")));
        assert!(!supersedes(&rec(100, 60, "b"), &rec(100, 3600, "a")));
        let inf = INFINITE_LIFETIME;
        assert!(supersedes(&rec(100, inf, "a"), &rec(100, inf - 1, "b")));
        assert!(!supersedes(&rec(100, inf - 1, "b"), &rec(100, inf, "a")));
        assert!(supersedes(&rec(100, inf, "b"), &rec(100, inf, "a")));
        assert!(!supersedes(&rec(100, inf, "a"), &rec(100, inf, "b")));
        assert!(supersedes(&rec(100, 60, "dhcp-b"), &rec(100, 60, "dhcp-a")));
        assert!(!supersedes(
            &rec(100, 60, "dhcp-a"),
            &rec(100, 60, "dhcp-b")
        ));
        // Bytewise, not by locale: "B" (0x42) < "a" (0x61), "a" < "ab".
        assert!(supersedes(&rec(100, 60, "a"), &rec(100, 60, "B")));
        assert!(supersedes(&rec(100, 60, "ab"), &rec(100, 60, "a")));
    }

    #[test]
    fn a_deletion_removes_only_a_lease_not_newer_than_the_ended_one() {
        assert!(ends(100, &rec(100, 60, "b")));
        assert!(ends(100, &rec(99, 60, "b")));
        assert!(!ends(100, &rec(101, 60, "b")));
    }

    #[test]
    fn a_value_the_rule_cannot_read_is_replaced_and_deleted() {
        let new = RedisSchema::default().encode(&rec(100, 60, "a"));
        for junk in [
            &b"aa:bb:cc:dd:ee:ff"[..],
            br#"{"v":2,"cltt":200,"valid_lifetime":60,"node":"b"}"#,
            br#"{"v":1,"cltt":"200","valid_lifetime":60,"node":"b"}"#,
            br#"{"v":1,"cltt":200.5,"valid_lifetime":60,"node":"b"}"#,
            br#"{"v":1,"cltt":200,"valid_lifetime":-1,"node":"b"}"#,
            br#"{"v":1,"cltt":200,"valid_lifetime":4294967296,"node":"b"}"#,
            br#"{"v":1,"cltt":4503599627370496,"valid_lifetime":60,"node":"b"}"#,
            br#"{"v":1,"cltt":200,"valid_lifetime":60,"node":7}"#,
            br#"{"v":1,"cltt":200,"valid_lifetime":60}"#,
            br#"[1,200,60,"b"]"#,
        ] {
            assert!(write_applies(new.as_bytes(), Some(junk)), "{junk:?}");
            assert!(deletion_applies(0, Some(junk)), "{junk:?}");
        }
        assert!(write_applies(new.as_bytes(), None));
        assert!(deletion_applies(0, None));
        // The other fields are not looked at.
        let newer = br#"{"v":1,"cltt":200,"valid_lifetime":60,"node":"b","mac":"x"}"#;
        assert!(!write_applies(new.as_bytes(), Some(newer)));
        assert!(!deletion_applies(100, Some(newer)));
        let as_float = br#"{"v":1.0,"cltt":2e2,"valid_lifetime":60,"node":"b"}"#;
        assert!(!write_applies(new.as_bytes(), Some(as_float)));
    }

    proptest! {
        #[test]
        fn the_rule_on_values_is_the_rule_on_records(
            c1 in -5i64..5, c2 in -5i64..5,
            v1 in prop_oneof![0u32..5, Just(INFINITE_LIFETIME)],
            v2 in prop_oneof![0u32..5, Just(INFINITE_LIFETIME)],
            n1 in "[ab]{0,2}", n2 in "[ab]{0,2}",
        ) {
            let s = RedisSchema::default();
            let (a, b) = (rec(c1, v1, &n1), rec(c2, v2, &n2));
            let (ea, eb) = (s.encode(&a), s.encode(&b));
            prop_assert_eq!(Standing::read(ea.as_bytes()), Standing::of(&a));
            prop_assert_eq!(write_applies(ea.as_bytes(), Some(eb.as_bytes())), supersedes(&a, &b));
            prop_assert_eq!(deletion_applies(c1, Some(eb.as_bytes())), ends(c1, &b));
            // Two different values: exactly one replaces the other, so the
            // order of two writes does not decide what is left.
            if (c1, &n1) != (c2, &n2) {
                prop_assert_ne!(supersedes(&a, &b), supersedes(&b, &a));
            }
        }
    }
}
