//! `agent-check` replies; see
//! `weir_core::fuzzing::agent_reply`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| weir_core::fuzzing::agent_reply(data));
