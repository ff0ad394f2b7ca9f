use std::fmt;

/// The hostname a client sent: bytes from the network, so never assumed to be
/// UTF-8 or printable.
///
/// [`Hostname::to_text`] gives the one text form used in Redis and on the
/// XML-RPC wire: valid, printable UTF-8 passes unchanged; a backslash becomes
/// `\\`; every other byte (invalid UTF-8, control characters, which XML 1.0
/// cannot carry) becomes `\xNN`. [`Hostname::from_text`] reverses it exactly.
#[derive(Clone, Default, PartialEq, Eq, Hash)]
pub struct Hostname(Vec<u8>);

impl Hostname {
    pub fn from_bytes(bytes: impl Into<Vec<u8>>) -> Self {
        Hostname(bytes.into())
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn to_text(&self) -> String {
        let mut out = String::with_capacity(self.0.len());
        for chunk in self.0.utf8_chunks() {
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
        Hostname(out)
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

    proptest! {
        #[test]
        fn text_round_trips(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
            let h = Hostname::from_bytes(bytes);
            let text = h.to_text();
            prop_assert!(!text.chars().any(char::is_control));
            prop_assert_eq!(Hostname::from_text(&text), h);
        }
    }
}
