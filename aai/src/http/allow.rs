//! The allow-list of client networks, checked on a connection's peer address
//! before hyper reads a single request byte from it.

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

/// One network in CIDR notation (`192.0.2.0/24`, `2001:db8::/32`); a bare
/// address means that host alone.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cidr {
    net: IpAddr,
    len: u8,
}

impl Cidr {
    /// True when `ip` lies in this network. An IPv4-mapped IPv6 peer
    /// (`::ffff:192.0.2.1`, what a dual-stack `[::]` socket reports) is
    /// matched as the IPv4 address it is.
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.net, ip.to_canonical()) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                mask_eq(&net.octets(), &ip.octets(), u32::from(self.len))
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                mask_eq(&net.octets(), &ip.octets(), u32::from(self.len))
            }
            _ => false,
        }
    }
}

fn mask_eq(a: &[u8], b: &[u8], bits: u32) -> bool {
    let full = (bits / 8) as usize;
    if a[..full] != b[..full] {
        return false;
    }
    let rest = bits % 8;
    rest == 0 || {
        let m = 0xffu8 << (8 - rest);
        a[full] & m == b[full] & m
    }
}

/// Why a network did not parse; the message shows the accepted form.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error(
    "{input:?} is not a network: expected ADDRESS/PREFIX-LENGTH such as 192.0.2.0/24 or 2001:db8::/32 ({reason})"
)]
pub struct CidrError {
    input: String,
    reason: &'static str,
}

impl FromStr for Cidr {
    type Err = CidrError;

    fn from_str(input: &str) -> Result<Self, CidrError> {
        let fail = |reason| CidrError {
            input: input.to_owned(),
            reason,
        };
        let (addr, len) = match input.trim().split_once('/') {
            Some((a, l)) => (a, Some(l)),
            None => (input.trim(), None),
        };
        let net: IpAddr = addr.parse().map_err(|_| fail("bad address"))?;
        let net = net.to_canonical();
        let max = if net.is_ipv4() { 32 } else { 128 };
        let len = match len {
            None => max,
            Some(l) => l
                .parse::<u8>()
                .ok()
                .filter(|&l| l <= max)
                .ok_or_else(|| fail("prefix length out of range"))?,
        };
        // Host bits set (192.0.2.1/24) almost always means a typo in the
        // prefix length, so it is refused rather than silently widened.
        if mask(net, len) != net {
            return Err(fail("host bits are set after the prefix length"));
        }
        Ok(Cidr { net, len })
    }
}

fn mask(ip: IpAddr, len: u8) -> IpAddr {
    match ip {
        IpAddr::V4(v4) => {
            let bits = u32::from(v4);
            let m = if len == 0 { 0 } else { u32::MAX << (32 - len) };
            IpAddr::V4((bits & m).into())
        }
        IpAddr::V6(v6) => {
            let bits = u128::from(v6);
            let m = if len == 0 {
                0
            } else {
                u128::MAX << (128 - len)
            };
            IpAddr::V6((bits & m).into())
        }
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.net, self.len)
    }
}

/// The networks whose clients may talk to aai at all.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AllowList(Vec<Cidr>);

impl AllowList {
    pub fn new(nets: Vec<Cidr>) -> Self {
        AllowList(nets)
    }

    /// Loopback only: `127.0.0.0/8` and `::1/128`.
    pub fn loopback() -> Self {
        AllowList(vec![
            "127.0.0.0/8".parse().expect("literal"),
            "::1/128".parse().expect("literal"),
        ])
    }

    pub fn permits(&self, ip: IpAddr) -> bool {
        self.0.iter().any(|c| c.contains(ip))
    }

    pub fn networks(&self) -> &[Cidr] {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn membership() {
        let c: Cidr = "10.1.0.0/16".parse().unwrap();
        assert!(c.contains(ip("10.1.255.3")));
        assert!(!c.contains(ip("10.2.0.1")));
        assert!(c.contains(ip("::ffff:10.1.0.9")));
        let c: Cidr = "2001:db8::/33".parse().unwrap();
        assert!(c.contains(ip("2001:db8:7fff::1")));
        assert!(!c.contains(ip("2001:db8:8000::1")));
        assert!(!c.contains(ip("10.1.0.1")));
        let all: Cidr = "0.0.0.0/0".parse().unwrap();
        assert!(all.contains(ip("203.0.113.9")));
        let host: Cidr = "127.0.0.1".parse().unwrap();
        assert_eq!(host.to_string(), "127.0.0.1/32");
        assert!(!host.contains(ip("127.0.0.2")));
    }

    #[test]
    fn bad_networks_say_why() {
        for (bad, why) in [
            ("10.0.0.0/33", "prefix length out of range"),
            ("10.0.0.1/24", "host bits"),
            ("nonsense/8", "bad address"),
            ("::1/-1", "prefix length"),
        ] {
            let e = bad.parse::<Cidr>().unwrap_err().to_string();
            assert!(e.contains(why) && e.contains(bad), "{bad}: {e}");
        }
    }

    #[test]
    fn default_is_loopback_only() {
        let a = AllowList::loopback();
        assert!(a.permits(ip("127.0.0.2")));
        assert!(a.permits(ip("::1")));
        assert!(!a.permits(ip("192.0.2.1")));
        assert!(!a.permits(ip("::2")));
    }
}
