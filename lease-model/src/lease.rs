use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

use crate::{Error, Hostname, HwAddr};

/// A valid lifetime of `0xffffffff` seconds means the lease never expires
/// (RFC 2131 section 3.3; Kea's `Lease::INFINITY_LFT`).
pub const INFINITE_LIFETIME: u32 = u32::MAX;

/// Now, in the unit of every `cltt` and `now` here: Unix seconds (0 if the
/// clock is before 1970).
pub fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// What Kea did to a lease. The first three keep it alive, the rest end it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum LeaseEvent {
    /// Granted on a REQUEST (DHCPv4) or REQUEST/SOLICIT with rapid commit (DHCPv6).
    Select,
    /// Extended on a renewal by the same client.
    Renew,
    /// Extended on a DHCPv6 REBIND.
    Rebind,
    /// Given back by the client.
    Release,
    /// Refused by the client (address conflict detected).
    Decline,
    /// Reclaimed by Kea after it ran out.
    Expire,
}

impl LeaseEvent {
    pub const ALL: [LeaseEvent; 6] = [
        LeaseEvent::Select,
        LeaseEvent::Renew,
        LeaseEvent::Rebind,
        LeaseEvent::Release,
        LeaseEvent::Decline,
        LeaseEvent::Expire,
    ];

    /// True when, after this event, nobody holds the address.
    pub fn ends_lease(self) -> bool {
        matches!(
            self,
            LeaseEvent::Release | LeaseEvent::Decline | LeaseEvent::Expire
        )
    }

    pub fn as_str(self) -> &'static str {
        match self {
            LeaseEvent::Select => "select",
            LeaseEvent::Renew => "renew",
            LeaseEvent::Rebind => "rebind",
            LeaseEvent::Release => "release",
            LeaseEvent::Decline => "decline",
            LeaseEvent::Expire => "expire",
        }
    }
}

impl fmt::Display for LeaseEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for LeaseEvent {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Error> {
        LeaseEvent::ALL
            .into_iter()
            .find(|e| e.as_str() == s)
            .ok_or_else(|| Error::UnknownEvent {
                input: s.to_owned(),
            })
    }
}

/// One lease as Kea reported it, in the form both sides of the integration use.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Lease {
    /// Always canonical (see [`crate::canonical_ip`]); [`Lease::new`] ensures it.
    pub ip: IpAddr,
    pub hwaddr: HwAddr,
    /// Seconds; [`INFINITE_LIFETIME`] means forever.
    pub valid_lifetime: u32,
    /// Client last transaction time, Unix seconds, as Kea's clock saw it.
    pub cltt: i64,
    pub hostname: Hostname,
    pub subnet_id: u32,
    pub event: LeaseEvent,
}

impl Lease {
    pub fn new(
        ip: IpAddr,
        hwaddr: HwAddr,
        valid_lifetime: u32,
        cltt: i64,
        hostname: Hostname,
        subnet_id: u32,
        event: LeaseEvent,
    ) -> Self {
        Lease {
            ip: crate::canonical_ip(ip),
            hwaddr,
            valid_lifetime,
            cltt,
            hostname,
            subnet_id,
            event,
        }
    }

    /// Unix second at which the lease runs out; `None` for an infinite lease.
    pub fn expires_at(&self) -> Option<i64> {
        (self.valid_lifetime != INFINITE_LIFETIME)
            .then(|| self.cltt.saturating_add(i64::from(self.valid_lifetime)))
    }

    /// Seconds of validity left at `now`, never more than the valid lifetime:
    /// a cltt in the future means Kea's clock and ours disagree, and the lease
    /// cannot outlive what the server granted. `None` for an infinite lease;
    /// negative once expired.
    pub fn remaining_at(&self, now: i64) -> Option<i64> {
        self.expires_at()
            .map(|exp| exp.saturating_sub(now).min(i64::from(self.valid_lifetime)))
    }
}

/// A lease together with the DHCP node that saw it: the unit that is stored in
/// Redis and reported to ARPwatch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LeaseRecord {
    pub lease: Lease,
    pub node: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_names_round_trip() {
        for e in LeaseEvent::ALL {
            assert_eq!(e.as_str().parse::<LeaseEvent>().unwrap(), e);
        }
        assert_eq!(
            "Select".parse::<LeaseEvent>().unwrap_err(),
            Error::UnknownEvent {
                input: "Select".into()
            }
        );
    }

    #[test]
    fn only_release_decline_expire_end_a_lease() {
        let ending: Vec<_> = LeaseEvent::ALL
            .into_iter()
            .filter(|e| e.ends_lease())
            .collect();
        assert_eq!(
            ending,
            [LeaseEvent::Release, LeaseEvent::Decline, LeaseEvent::Expire]
        );
    }
}
