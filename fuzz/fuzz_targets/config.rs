//! Any text through the configuration parser; see `weir_core::fuzzing::config`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| weir_core::fuzzing::config(data));
