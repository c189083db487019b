//! Benchmark harnesses live in src/bin.
