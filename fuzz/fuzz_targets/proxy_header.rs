//! The PROXY protocol header decoder behind `accept-proxy`; see
//! `weir_core::fuzzing::proxy_header`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| weir_core::fuzzing::proxy_header(data));
