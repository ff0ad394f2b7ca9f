use std::fmt;
use std::str::FromStr;

use crate::Error;

/// A link-layer address: 1 to 20 octets (Kea's `HWAddr::MAX_HWADDR_LEN`, enough
/// for InfiniBand), shown lowercase and colon-separated (`aa:bb:cc:dd:ee:ff`).
///
/// `Copy` and allocation-free because one travels with every lease event.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct HwAddr {
    len: u8,
    octets: [u8; HwAddr::MAX_LEN],
}

impl HwAddr {
    /// The longest hardware address Kea carries.
    pub const MAX_LEN: usize = 20;

    /// Takes the octets Kea reports. Empty and over-long addresses are refused:
    /// an empty one is what Kea gives for a DHCPv6 client whose MAC it could not
    /// learn, and such a lease cannot be mapped.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, Error> {
        let reason = match bytes.len() {
            0 => "it is empty",
            n if n > Self::MAX_LEN => "it is longer than 20 octets",
            _ => {
                let mut octets = [0; Self::MAX_LEN];
                octets[..bytes.len()].copy_from_slice(bytes);
                return Ok(HwAddr {
                    len: bytes.len() as u8,
                    octets,
                });
            }
        };
        Err(Error::InvalidHwAddr {
            input: hex_colon(bytes),
            reason,
        })
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.octets[..usize::from(self.len)]
    }
}

fn hex_colon(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() * 3);
    for (i, b) in bytes.iter().enumerate() {
        if i > 0 {
            out.push(':');
        }
        out.push(char::from_digit(u32::from(b >> 4), 16).unwrap());
        out.push(char::from_digit(u32::from(b & 0xf), 16).unwrap());
    }
    out
}

impl fmt::Display for HwAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex_colon(self.as_bytes()))
    }
}

impl fmt::Debug for HwAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "HwAddr({self})")
    }
}

/// Accepts the spellings operators paste: `aa:bb:cc:dd:ee:ff`, `AA-BB-CC-DD-EE-FF`,
/// `aabb.ccdd.eeff` (Cisco) and bare `aabbccddeeff`, in any case. Separated forms
/// allow one or two digits per octet (`0:1b:...` as `ip neigh` may print it).
impl FromStr for HwAddr {
    type Err = Error;

    fn from_str(input: &str) -> Result<Self, Error> {
        let fail = |reason| Error::InvalidHwAddr {
            input: input.to_owned(),
            reason,
        };
        let s = input.trim();
        let mut bytes = Vec::with_capacity(Self::MAX_LEN);
        let sep = s.chars().find(|c| matches!(c, ':' | '-'));
        match sep {
            Some(sep) => {
                for part in s.split(sep) {
                    if part.is_empty() || part.len() > 2 {
                        return Err(fail("each octet must be one or two hex digits"));
                    }
                    bytes.push(u8::from_str_radix(part, 16).map_err(|_| fail("not a hex digit"))?);
                }
            }
            None => {
                let digits: String = if s.contains('.') {
                    let groups: Vec<&str> = s.split('.').collect();
                    if groups.iter().any(|g| g.len() != 4) {
                        return Err(fail("dotted form needs groups of four hex digits"));
                    }
                    groups.concat()
                } else {
                    s.to_owned()
                };
                if digits.len() % 2 != 0 {
                    return Err(fail("odd number of hex digits"));
                }
                for pair in digits.as_bytes().chunks(2) {
                    let pair = std::str::from_utf8(pair).map_err(|_| fail("not a hex digit"))?;
                    bytes.push(u8::from_str_radix(pair, 16).map_err(|_| fail("not a hex digit"))?);
                }
            }
        }
        match bytes.len() {
            0 => Err(fail("it is empty")),
            n if n > Self::MAX_LEN => Err(fail("it is longer than 20 octets")),
            _ => HwAddr::from_bytes(&bytes),
        }
    }
}

impl serde::Serialize for HwAddr {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for HwAddr {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn spellings_agree() {
        let want = "00:1b:2c:aa:bb:0f";
        for s in [
            "00:1b:2c:aa:bb:0f",
            "00-1B-2C-AA-BB-0F",
            "001b.2caa.bb0f",
            "001B2CAABB0F",
            "0:1b:2c:aa:bb:f",
        ] {
            assert_eq!(s.parse::<HwAddr>().unwrap().to_string(), want, "{s}");
        }
    }

    #[test]
    fn bad_spellings_say_why() {
        let cases = [
            ("", "it is empty"),
            ("aa:bb:cc:dd:ee:gg", "not a hex digit"),
            ("aa::bb", "each octet must be one or two hex digits"),
            ("aab:cc", "each octet must be one or two hex digits"),
            ("abc", "odd number of hex digits"),
            (
                "aabb.cc.ddee",
                "dotted form needs groups of four hex digits",
            ),
            (&"ab".repeat(21), "it is longer than 20 octets"),
        ];
        for (input, reason) in cases {
            assert_eq!(
                input.parse::<HwAddr>().unwrap_err(),
                Error::InvalidHwAddr {
                    input: input.to_owned(),
                    reason
                }
            );
        }
        assert!(HwAddr::from_bytes(&[]).is_err());
        assert!(HwAddr::from_bytes(&[0; 21]).is_err());
    }

    proptest! {
        #[test]
        fn display_parses_back(bytes in proptest::collection::vec(any::<u8>(), 1..=20)) {
            let hw = HwAddr::from_bytes(&bytes).unwrap();
            let shown = hw.to_string();
            prop_assert_eq!(shown.len(), bytes.len() * 3 - 1);
            prop_assert!(!shown.chars().any(|c| c.is_ascii_uppercase()));
            prop_assert_eq!(shown.parse::<HwAddr>().unwrap(), hw);
            prop_assert_eq!(shown.to_uppercase().replace(':', "-").parse::<HwAddr>().unwrap(), hw);
            prop_assert_eq!(hw.as_bytes(), &bytes[..]);
        }
    }
}
