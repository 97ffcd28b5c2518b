//! The ClientHello reader behind `option replay-until-response`; see
//! `weir_core::fuzzing::client_hello`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| weir_core::fuzzing::client_hello(data));
