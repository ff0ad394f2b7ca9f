//! The lease struct: what `arpwatch.lease_seen`/`lease_gone` carry and what
//! `arpwatch.get_lease` returns. The member table is in `docs/protocol.md`.

use lease_model::{Hostname, HwAddr, INFINITE_LIFETIME, Lease, LeaseEvent, LeaseRecord, parse_ip};
use thiserror::Error;

use crate::{DateTime, Fault, Struct, Value, fault_code};

/// `expires` of a lease that never expires (valid lifetime `0xffffffff`): the
/// last second XML-RPC peers can represent (Python's `datetime.max` rounded
/// down to the second), so "sort by expiry" and "expires > now" both still do
/// the right thing on the ARPwatch side without a special case.
pub const INFINITE_EXPIRES: DateTime = MAX_DATETIME;

/// The latest instant written on the wire; later ones are clamped to it.
pub const MAX_DATETIME: DateTime = DateTime {
    year: 9999,
    month: 12,
    day: 31,
    hour: 23,
    minute: 59,
    second: 59,
};

/// The earliest instant written on the wire (Python's `datetime.min`); earlier
/// ones are clamped to it.
pub const MIN_DATETIME: DateTime = DateTime {
    year: 1,
    month: 1,
    day: 1,
    hour: 0,
    minute: 0,
    second: 0,
};

/// Member names, in one place so encoder, decoder and errors agree.
const IP: &str = "ip";
const MAC: &str = "mac";
const CLTT: &str = "cltt";
const EXPIRES: &str = "expires";
const VALID_LIFETIME: &str = "valid_lifetime";
const HOSTNAME: &str = "hostname";
const SUBNET_ID: &str = "subnet_id";
const EVENT: &str = "event";
const NODE: &str = "node";

/// What is wrong with a value that should have been a lease struct. Every
/// variant names the member, so the fault built from it is actionable.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
pub enum LeaseValueError {
    #[error("expected a lease struct, got {got}")]
    NotAStruct { got: &'static str },
    #[error("lease struct has no member `{member}`; every member is required")]
    Missing { member: &'static str },
    #[error("lease struct member `{member}` must be {expected}, got {got}")]
    WrongType {
        member: &'static str,
        expected: &'static str,
        got: &'static str,
    },
    #[error("lease struct member `{member}`: {reason}")]
    Invalid {
        member: &'static str,
        reason: String,
    },
}

impl LeaseValueError {
    /// The `-32602` fault a server answers with; `context` says where the
    /// struct was, e.g. `parameter 1 (lease) of arpwatch.lease_seen`.
    pub fn fault(&self, context: &str) -> Fault {
        Fault::new(fault_code::INVALID_PARAMS, format!("{context}: {self}"))
    }
}

/// Clamps a Unix time into what every peer can represent as a
/// `dateTime.iso8601`; see [`MIN_DATETIME`] and [`MAX_DATETIME`].
fn wire_time(unix: i64) -> DateTime {
    DateTime::from_unix(unix.clamp(MIN_DATETIME.to_unix(), MAX_DATETIME.to_unix()))
}

/// An unsigned Kea number as XML-RPC: `int` when it fits the signed 32 bits
/// `int` has, `i8` otherwise (never for sane Kea configurations, but lossless).
fn wire_u32(n: u32) -> Value {
    i32::try_from(n).map_or(Value::I8(i64::from(n)), Value::Int)
}

/// The lease struct for `record`. Every member is always present; see
/// `docs/protocol.md` for the table. An infinite lease has
/// `valid_lifetime = -1` and `expires = `[`INFINITE_EXPIRES`].
pub fn lease_to_value(record: &LeaseRecord) -> Value {
    let l = &record.lease;
    let (valid_lifetime, expires) = match l.expires_at() {
        None => (Value::Int(-1), INFINITE_EXPIRES),
        Some(at) => (wire_u32(l.valid_lifetime), wire_time(at)),
    };
    let members: [(&str, Value); 9] = [
        (IP, l.ip.to_string().into()),
        (MAC, l.hwaddr.to_string().into()),
        (CLTT, wire_time(l.cltt).into()),
        (EXPIRES, expires.into()),
        (VALID_LIFETIME, valid_lifetime),
        (HOSTNAME, l.hostname.to_text().into()),
        (SUBNET_ID, wire_u32(l.subnet_id)),
        (EVENT, l.event.as_str().into()),
        (NODE, record.node.clone().into()),
    ];
    Value::Struct(
        members
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v))
            .collect::<Struct>(),
    )
}

/// Reads a lease struct back. Liberal where it costs nothing: `int` or `i8`
/// for numbers, any MAC spelling [`HwAddr`] parses, any IP spelling (made
/// canonical), unknown extra members ignored. Strict where a mismatch means a
/// bug in the sender: every member present, and `expires` must agree with
/// `cltt + valid_lifetime`.
pub fn lease_from_value(v: &Value) -> Result<LeaseRecord, LeaseValueError> {
    let s = v
        .as_struct()
        .ok_or(LeaseValueError::NotAStruct { got: v.type_name() })?;
    let invalid = |member, reason: String| LeaseValueError::Invalid { member, reason };

    let ip = parse_ip(string(s, IP)?).map_err(|e| invalid(IP, e.to_string()))?;
    let hwaddr: HwAddr = string(s, MAC)?
        .parse()
        .map_err(|e: lease_model::Error| invalid(MAC, e.to_string()))?;
    let cltt = datetime(s, CLTT)?.to_unix();
    let expires = datetime(s, EXPIRES)?;
    let valid_lifetime = match integer(s, VALID_LIFETIME)? {
        // 0xffffffff as Kea has it, sent as i8 by a peer that can: also infinite.
        -1 | 0xffff_ffff => INFINITE_LIFETIME,
        n => u32::try_from(n).map_err(|_| {
            invalid(
                VALID_LIFETIME,
                format!(
                    "{n} is not a lifetime: expected 0 to 4294967294 seconds, or -1 for infinite"
                ),
            )
        })?,
    };
    let hostname = Hostname::from_text(string(s, HOSTNAME)?);
    let subnet_id = integer(s, SUBNET_ID)?;
    let subnet_id = u32::try_from(subnet_id).map_err(|_| {
        invalid(
            SUBNET_ID,
            format!("{subnet_id} is not a Kea subnet id: expected 0 to 4294967295"),
        )
    })?;
    let event: LeaseEvent = string(s, EVENT)?
        .parse()
        .map_err(|e: lease_model::Error| invalid(EVENT, e.to_string()))?;
    let node = string(s, NODE)?.to_owned();

    let lease = Lease::new(ip, hwaddr, valid_lifetime, cltt, hostname, subnet_id, event);
    let want = lease.expires_at().map_or(INFINITE_EXPIRES, wire_time);
    if expires != want {
        return Err(invalid(
            EXPIRES,
            format!(
                "{expires} does not agree with cltt {} plus valid_lifetime: expected {want}",
                wire_time(cltt)
            ),
        ));
    }
    Ok(LeaseRecord { lease, node })
}

fn member<'a>(s: &'a Struct, member: &'static str) -> Result<&'a Value, LeaseValueError> {
    s.get(member).ok_or(LeaseValueError::Missing { member })
}

fn wrong(member: &'static str, expected: &'static str, got: &Value) -> LeaseValueError {
    LeaseValueError::WrongType {
        member,
        expected,
        got: got.type_name(),
    }
}

fn string<'a>(s: &'a Struct, name: &'static str) -> Result<&'a str, LeaseValueError> {
    let v = member(s, name)?;
    v.as_str().ok_or_else(|| wrong(name, "a string", v))
}

fn integer(s: &Struct, name: &'static str) -> Result<i64, LeaseValueError> {
    let v = member(s, name)?;
    v.as_i64().ok_or_else(|| wrong(name, "an int or i8", v))
}

fn datetime(s: &Struct, name: &'static str) -> Result<DateTime, LeaseValueError> {
    match member(s, name)? {
        Value::DateTime(d) => Ok(*d),
        v => Err(wrong(name, "a dateTime.iso8601 (UTC)", v)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(valid: u32, subnet: u32) -> LeaseRecord {
        LeaseRecord {
            lease: Lease::new(
                "192.0.2.10".parse().unwrap(),
                "aa:bb:cc:dd:ee:ff".parse().unwrap(),
                valid,
                1_700_000_000,
                Hostname::from_bytes(&b"pc\xff"[..]),
                subnet,
                LeaseEvent::Renew,
            ),
            node: "dhcp-a".into(),
        }
    }

    #[test]
    fn members_have_the_documented_types() {
        let v = lease_to_value(&record(3600, 7));
        let s = v.as_struct().unwrap();
        let names: Vec<&str> = s.keys().map(String::as_str).collect();
        assert_eq!(
            names,
            [
                "cltt",
                "event",
                "expires",
                "hostname",
                "ip",
                "mac",
                "node",
                "subnet_id",
                "valid_lifetime"
            ]
        );
        assert_eq!(
            s["cltt"],
            Value::DateTime(DateTime::from_unix(1_700_000_000))
        );
        assert_eq!(
            s["expires"],
            Value::DateTime(DateTime::from_unix(1_700_003_600))
        );
        assert_eq!(s["valid_lifetime"], Value::Int(3600));
        assert_eq!(s["hostname"], Value::from("pc\\xff"));
        assert_eq!(s["subnet_id"], Value::Int(7));
        assert_eq!(s["event"], Value::from("renew"));
    }

    #[test]
    fn infinite_and_huge_numbers() {
        let v = lease_to_value(&record(INFINITE_LIFETIME, u32::MAX));
        let s = v.as_struct().unwrap();
        assert_eq!(s["valid_lifetime"], Value::Int(-1));
        assert_eq!(s["expires"], Value::DateTime(INFINITE_EXPIRES));
        assert_eq!(s["subnet_id"], Value::I8(4_294_967_295));
        assert_eq!(
            lease_from_value(&v).unwrap(),
            record(INFINITE_LIFETIME, u32::MAX)
        );

        let v = lease_to_value(&record(u32::MAX - 1, 1));
        assert_eq!(
            v.as_struct().unwrap()["valid_lifetime"],
            Value::I8(4_294_967_294)
        );
        assert_eq!(lease_from_value(&v).unwrap(), record(u32::MAX - 1, 1));
    }
}
