//! HTTP check responses and `http-check expect`; see
//! `weir_core::fuzzing::check_response`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| weir_core::fuzzing::check_response(data));
