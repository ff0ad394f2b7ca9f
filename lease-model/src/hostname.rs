use std::fmt;

/// The hostname a client sent: bytes from the network, so never assumed to be
/// UTF-8 or printable.
///
/// [`Hostname::to_text`] gives the one text form used in Redis and on the
/// XML-RPC wire: valid, printable UTF-8 passes unchanged; a backslash becomes
/// `\\`; every other byte (invalid UTF-8, control characters, which XML 1.0
/// cannot carry) becomes `\xNN`. [`Hostname::from_text`] reverses it exactly.
///
/// Up to [`Hostname::INLINE`] bytes are kept in the value itself, so that a
/// lease with an ordinary hostname is built, queued and copied without a
/// heap allocation (aae builds one on Kea's packet thread for every lease);
/// a longer one (DHCP allows 255) goes to the heap.
#[derive(Clone)]
pub struct Hostname(Repr);

#[derive(Clone)]
enum Repr {
    Inline {
        len: u8,
        bytes: [u8; Hostname::INLINE],
    },
    Heap(Box<[u8]>),
}

impl Hostname {
    /// The longest hostname held without a heap allocation: what makes
    /// `Hostname` 64 bytes.
    pub const INLINE: usize = 62;

    pub fn from_bytes(bytes: impl AsRef<[u8]>) -> Self {
        let bytes = bytes.as_ref();
        if bytes.len() <= Self::INLINE {
            let mut inline = [0; Self::INLINE];
            inline[..bytes.len()].copy_from_slice(bytes);
            Hostname(Repr::Inline {
                len: bytes.len() as u8,
                bytes: inline,
            })
        } else {
            Hostname(Repr::Heap(bytes.into()))
        }
    }

    pub fn as_bytes(&self) -> &[u8] {
        match &self.0 {
            Repr::Inline { len, bytes } => &bytes[..usize::from(*len)],
            Repr::Heap(b) => b,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.as_bytes().is_empty()
    }

    pub fn to_text(&self) -> String {
        let bytes = self.as_bytes();
        let mut out = String::with_capacity(bytes.len());
        for chunk in bytes.utf8_chunks() {
            for c in chunk.valid().chars() {
                match c {
                    '\\' => out.push_str("\\\\"),
                    c if c.is_control() => {
                        escape_bytes(&mut out, c.encode_utf8(&mut [0; 4]).as_bytes())
                    }
                    c => out.push(c),
                }
            }
            escape_bytes(&mut out, chunk.invalid());
        }
        out
    }

    /// The inverse of [`Hostname::to_text`]. A lone backslash or a malformed
    /// escape is taken literally, so any text yields some hostname.
    pub fn from_text(text: &str) -> Self {
        let bytes = text.as_bytes();
        let mut out = Vec::with_capacity(bytes.len());
        let mut i = 0;
        while i < bytes.len() {
            if bytes[i] == b'\\' {
                if bytes.get(i + 1) == Some(&b'\\') {
                    out.push(b'\\');
                    i += 2;
                    continue;
                }
                if bytes.get(i + 1) == Some(&b'x')
                    && let Some(hex) = text.get(i + 2..i + 4)
                    && let Ok(b) = u8::from_str_radix(hex, 16)
                {
                    out.push(b);
                    i += 4;
                    continue;
                }
            }
            out.push(bytes[i]);
            i += 1;
        }
        Hostname::from_bytes(out)
    }
}

impl Default for Hostname {
    fn default() -> Self {
        Hostname::from_bytes([])
    }
}

impl PartialEq for Hostname {
    fn eq(&self, other: &Self) -> bool {
        self.as_bytes() == other.as_bytes()
    }
}

impl Eq for Hostname {}

impl std::hash::Hash for Hostname {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.as_bytes().hash(state)
    }
}

fn escape_bytes(out: &mut String, bytes: &[u8]) {
    use std::fmt::Write;
    for b in bytes {
        let _ = write!(out, "\\x{b:02x}");
    }
}

impl fmt::Debug for Hostname {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Hostname({:?})", self.to_text())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn printable_utf8_is_unchanged() {
        assert_eq!(
            Hostname::from_bytes("printer-3.lab").to_text(),
            "printer-3.lab"
        );
        assert_eq!(Hostname::from_bytes("Küche").to_text(), "Küche");
    }

    #[test]
    fn the_rest_is_escaped() {
        assert_eq!(Hostname::from_bytes(&b"a\xffb"[..]).to_text(), "a\\xffb");
        assert_eq!(Hostname::from_bytes("a\0b\n").to_text(), "a\\x00b\\x0a");
        assert_eq!(Hostname::from_bytes("c:\\x41").to_text(), "c:\\\\x41");
    }

    #[test]
    fn short_ones_are_inline_and_long_ones_whole() {
        assert_eq!(std::mem::size_of::<Hostname>(), 64);
        for len in [0, 1, Hostname::INLINE, Hostname::INLINE + 1, 255] {
            let bytes: Vec<u8> = (0..len).map(|i| i as u8).collect();
            let h = Hostname::from_bytes(&bytes);
            assert_eq!(h.as_bytes(), &bytes[..]);
            assert_eq!(matches!(h.0, Repr::Inline { .. }), len <= Hostname::INLINE);
            assert_eq!(h.clone(), h);
        }
        assert_eq!(Hostname::default(), Hostname::from_bytes(""));
    }

    proptest! {
        #[test]
        fn text_round_trips(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
            let h = Hostname::from_bytes(bytes);
            let text = h.to_text();
            prop_assert!(!text.chars().any(char::is_control));
            prop_assert_eq!(Hostname::from_text(&text), h);
        }
    }
}
