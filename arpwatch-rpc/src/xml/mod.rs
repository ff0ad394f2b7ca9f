//! XML codec (being written).
