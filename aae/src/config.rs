//! Hook parameters, validated once at load (being written).
