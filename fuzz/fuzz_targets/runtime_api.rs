//! Stats-socket connections and commands; see `weir_core::fuzzing::runtime_api`.
#![no_main]

use std::time::Instant;

libfuzzer_sys::fuzz_target!(|data: &[u8]| weir_core::fuzzing::runtime_api(data, Instant::now()));
