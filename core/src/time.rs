//! The one place core names a clock type. Core never reads a clock: every
//! `Instant` it sees was passed in by a driver.

pub use std::time::Instant;
