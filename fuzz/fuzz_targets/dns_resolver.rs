//! A name server's answers and silences against servers following DNS;
//! see `weir_core::fuzzing::dns_resolver`.
#![no_main]

use std::time::Instant;

libfuzzer_sys::fuzz_target!(|data: &[u8]| weir_core::fuzzing::dns_resolver(data, Instant::now()));
