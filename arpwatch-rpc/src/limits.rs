//! Hard limits on what the XML-RPC parser accepts.
//!
//! The limits protect a process that parses documents from the network (the
//! ARPwatch server, and a Kea node reading responses) against memory and stack
//! exhaustion. They can be tightened but never switched off: every setter
//! clamps to a hard ceiling.

/// Limits the parser enforces on every document.
///
/// ```
/// use arpwatch_rpc::Limits;
///
/// let tight = Limits::default().with_max_document_bytes(4096).with_max_depth(4);
/// assert_eq!(tight.max_document_bytes(), 4096);
/// // Asking for more than the hard ceiling gets the ceiling.
/// let loose = Limits::new(usize::MAX, usize::MAX);
/// assert_eq!(loose.max_document_bytes(), Limits::HARD_MAX_DOCUMENT_BYTES);
/// assert_eq!(loose.max_depth(), Limits::HARD_MAX_DEPTH);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    max_document_bytes: usize,
    max_depth: usize,
}

impl Limits {
    /// Largest document size any [`Limits`] allows: 16 MiB.
    pub const HARD_MAX_DOCUMENT_BYTES: usize = 16 * 1024 * 1024;
    /// Deepest value nesting any [`Limits`] allows. The writer refuses values
    /// nested deeper than this too, so it never recurses further.
    pub const HARD_MAX_DEPTH: usize = 64;
    /// Default document size limit: 1 MiB, far above any message of the
    /// ARPwatch contract (a `system.multicall` of a few hundred leases).
    pub const DEFAULT_MAX_DOCUMENT_BYTES: usize = 1024 * 1024;
    /// Default nesting limit, counted in `<value>`s: a scalar parameter has
    /// depth 1, a string in a struct in an array depth 3.
    pub const DEFAULT_MAX_DEPTH: usize = 32;

    /// Limits with the given maxima, each clamped to its hard ceiling.
    pub const fn new(max_document_bytes: usize, max_depth: usize) -> Self {
        Limits {
            max_document_bytes: min(max_document_bytes, Self::HARD_MAX_DOCUMENT_BYTES),
            max_depth: min(max_depth, Self::HARD_MAX_DEPTH),
        }
    }

    /// The same limits with another document size maximum (clamped).
    pub const fn with_max_document_bytes(self, bytes: usize) -> Self {
        Self::new(bytes, self.max_depth)
    }

    /// The same limits with another nesting maximum (clamped).
    pub const fn with_max_depth(self, depth: usize) -> Self {
        Self::new(self.max_document_bytes, depth)
    }

    /// Largest document, in bytes, the parser reads; larger ones are refused
    /// before any parsing.
    pub const fn max_document_bytes(&self) -> usize {
        self.max_document_bytes
    }

    /// Deepest nesting of `<value>`s the parser follows.
    pub const fn max_depth(&self) -> usize {
        self.max_depth
    }
}

impl Default for Limits {
    fn default() -> Self {
        Limits::new(Self::DEFAULT_MAX_DOCUMENT_BYTES, Self::DEFAULT_MAX_DEPTH)
    }
}

// `Ord::min` is not const.
const fn min(a: usize, b: usize) -> usize {
    if a < b { a } else { b }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_below_the_ceilings() {
        let l = Limits::default();
        assert_eq!(l.max_document_bytes(), 1024 * 1024);
        assert_eq!(l.max_depth(), 32);
    }

    #[test]
    fn setters_clamp_to_the_ceilings() {
        let l = Limits::default()
            .with_max_document_bytes(usize::MAX)
            .with_max_depth(1000);
        assert_eq!(l.max_document_bytes(), Limits::HARD_MAX_DOCUMENT_BYTES);
        assert_eq!(l.max_depth(), Limits::HARD_MAX_DEPTH);
        let t = Limits::new(10, 2);
        assert_eq!((t.max_document_bytes(), t.max_depth()), (10, 2));
    }
}
