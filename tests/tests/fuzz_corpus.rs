//! Replays every committed fuzz corpus (`fuzz/corpus/<target>/`) through
//! the same oracle the fuzz target runs, on stable: a crash once found and
//! added to a corpus stays a regression test.

use std::fs;
use std::panic;
use std::path::{Path, PathBuf};
use std::time::Instant;

use weir_core::fuzzing;

/// Runs `oracle` on every file of `fuzz/corpus/<target>/` and names the
/// files it panics on.
fn replay(target: &str, oracle: impl Fn(&[u8]) + panic::RefUnwindSafe) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../fuzz/corpus")
        .join(target);
    let mut files: Vec<PathBuf> = fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.expect("directory entry").path())
        .collect();
    files.sort();
    assert!(!files.is_empty(), "{}: empty corpus", dir.display());
    let failed: Vec<String> = files
        .iter()
        .filter(|file| {
            let data = fs::read(file).expect("corpus file is readable");
            panic::catch_unwind(|| oracle(&data)).is_err()
        })
        .map(|file| file.display().to_string())
        .collect();
    assert!(
        failed.is_empty(),
        "oracle failed on:\n{}",
        failed.join("\n")
    );
}

#[test]
fn config_condition_corpus_holds() {
    replay("config_condition", fuzzing::config_condition);
}

#[test]
fn config_corpus_holds() {
    replay("config", fuzzing::config);
}

#[test]
fn check_response_corpus_holds() {
    replay("check_response", fuzzing::check_response);
}

#[test]
fn agent_reply_corpus_holds() {
    replay("agent_reply", fuzzing::agent_reply);
}

#[test]
fn tcp_check_expect_corpus_holds() {
    replay("tcp_check_expect", |data| {
        fuzzing::tcp_check_expect(data, Instant::now())
    });
}

#[test]
fn dns_resolver_corpus_holds() {
    replay("dns_resolver", |data| {
        fuzzing::dns_resolver(data, Instant::now())
    });
}

#[test]
fn protocol_check_corpus_holds() {
    replay("protocol_check", |data| {
        fuzzing::protocol_check(data, Instant::now())
    });
}

#[test]
fn client_hello_corpus_holds() {
    replay("client_hello", fuzzing::client_hello);
}

#[test]
fn simulation_corpus_holds() {
    replay("simulation", weir_sim::fuzz_tape);
}

#[test]
fn http_request_corpus_holds() {
    replay("http_request", fuzzing::http_request);
}

#[test]
fn log_format_corpus_holds() {
    replay("log_format", fuzzing::log_format);
}

#[test]
fn server_state_corpus_holds() {
    replay("server_state", |data| {
        fuzzing::server_state(data, Instant::now())
    });
}

#[test]
fn runtime_api_corpus_holds() {
    replay("runtime_api", |data| {
        fuzzing::runtime_api(data, Instant::now())
    });
}

#[test]
fn proxy_header_corpus_holds() {
    replay("proxy_header", fuzzing::proxy_header);
}

#[test]
fn dns_message_corpus_holds() {
    replay("dns_message", fuzzing::dns_message);
}
