//! Hard limits on what the parser accepts (being written).

/// Parser limits.
#[derive(Clone, Copy, Debug)]
pub struct Limits {}
