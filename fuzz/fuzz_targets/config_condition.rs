//! Expressions of `.if` lines, alone and in a file with environment
//! variables; see `weir_core::fuzzing::config_condition`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| weir_core::fuzzing::config_condition(data));
