//! DNS responses read by the resolvers; see
//! `weir_core::fuzzing::dns_message`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| weir_core::fuzzing::dns_message(data));
