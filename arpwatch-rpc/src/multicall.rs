//! `system.multicall` (being written).
