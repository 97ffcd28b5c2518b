//! `log-format` strings compiled and rendered for arbitrary sessions; see
//! `weir_core::fuzzing::log_format`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| weir_core::fuzzing::log_format(data));
