//! Bytes from a client through the HTTP request reader, the router of a
//! `mode http` frontend and the admin form parser; see
//! `weir_core::fuzzing::http_request`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| weir_core::fuzzing::http_request(data));
