use std::net::IpAddr;

use crate::Error;

/// The one form of an address used for keys and on the wire.
///
/// An IPv4-mapped IPv6 address (`::ffff:192.0.2.1`) is the IPv4 address: Kea
/// hands us the former in some DHCPv4-over-DHCPv6 paths, and ARPwatch asks with
/// the latter. IPv6 is rendered per RFC 5952 (lowercase, longest zero run
/// compressed), which is what `Display` for `Ipv6Addr` produces.
pub fn canonical_ip(ip: IpAddr) -> IpAddr {
    ip.to_canonical()
}

/// Parses an address as a client or operator may spell it and returns its
/// canonical form. Surrounding whitespace is ignored; nothing else is forgiven
/// (no zone ids, no leading-zero octets, which are ambiguous between octal and
/// decimal readings).
pub fn parse_ip(input: &str) -> Result<IpAddr, Error> {
    input
        .trim()
        .parse::<IpAddr>()
        .map(canonical_ip)
        .map_err(|_| Error::InvalidIp {
            input: input.to_owned(),
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::net::{Ipv4Addr, Ipv6Addr};

    #[test]
    fn spellings_of_one_address_agree() {
        let a = parse_ip("2001:DB8:0:0:0:0:0:1").unwrap();
        let b = parse_ip("2001:db8::1").unwrap();
        assert_eq!(a, b);
        assert_eq!(a.to_string(), "2001:db8::1");
        assert_eq!(
            parse_ip("::ffff:192.0.2.7").unwrap(),
            parse_ip("192.0.2.7").unwrap()
        );
        assert_eq!(parse_ip(" 10.0.0.1\n").unwrap().to_string(), "10.0.0.1");
    }

    #[test]
    fn ambiguous_or_garbage_is_refused() {
        for bad in [
            "010.0.0.1",
            "10.0.0",
            "fe80::1%eth0",
            "",
            "aa:bb:cc:dd:ee:ff",
        ] {
            let err = parse_ip(bad).unwrap_err();
            assert_eq!(
                err,
                Error::InvalidIp {
                    input: bad.to_owned()
                }
            );
        }
    }

    proptest! {
        #[test]
        fn canonical_is_a_fixed_point_v6(bits: u128, upper: bool) {
            let ip = IpAddr::V6(Ipv6Addr::from(bits));
            let mut s = ip.to_string();
            if upper { s = s.to_uppercase(); }
            let once = parse_ip(&s).unwrap();
            prop_assert_eq!(parse_ip(&once.to_string()).unwrap(), once);
            prop_assert_eq!(once, canonical_ip(ip));
        }

        #[test]
        fn v4_and_mapped_v4_share_a_form(bits: u32) {
            let v4 = Ipv4Addr::from(bits);
            let mapped = IpAddr::V6(v4.to_ipv6_mapped());
            prop_assert_eq!(parse_ip(&mapped.to_string()).unwrap(), IpAddr::V4(v4));
            prop_assert_eq!(parse_ip(&v4.to_string()).unwrap().to_string(), v4.to_string());
        }
    }
}
