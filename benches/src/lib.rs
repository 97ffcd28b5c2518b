//! weir benchmarks
