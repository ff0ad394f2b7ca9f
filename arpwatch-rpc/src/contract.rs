//! The method contract (being written).
