//! Server replies to the protocol checks (`option mysql-check`,
//! `pgsql-check`, `smtpchk`, `ldap-check`, `ssl-hello-chk`,
//! `redis-check`); see `weir_core::fuzzing::protocol_check`.
#![no_main]

use std::time::Instant;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    weir_core::fuzzing::protocol_check(data, Instant::now())
});
