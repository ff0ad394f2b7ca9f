//! The async XML-RPC client (being written).
