//! `tcp-check` rules on a health probe; see
//! `weir_core::fuzzing::tcp_check_expect`.
#![no_main]

use std::time::Instant;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    weir_core::fuzzing::tcp_check_expect(data, Instant::now())
});
