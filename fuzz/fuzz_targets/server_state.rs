//! `show servers state` files parsed and applied; see
//! `weir_core::fuzzing::server_state`.
#![no_main]

use std::time::Instant;

libfuzzer_sys::fuzz_target!(|data: &[u8]| weir_core::fuzzing::server_state(data, Instant::now()));
