//! Queue, workers and sinks (being written).
