//! The `weir-smol` binary as a process. The tests are shared with `weir`
//! (`tests/binary/`): both binaries must pass the same ones.

const WEIR: &str = env!("CARGO_BIN_EXE_weir-smol");
const NAME: &str = "weir-smol";

#[path = "../../tests/binary/agent.rs"]
mod agent;
#[path = "../../tests/binary/checks.rs"]
mod checks;
#[path = "../../tests/binary/cli.rs"]
mod cli;
#[path = "../../tests/binary/config.rs"]
mod config;
#[path = "../../tests/binary/control.rs"]
mod control;
#[path = "../../tests/binary/dns.rs"]
mod dns;
#[path = "../../tests/binary/environment.rs"]
mod environment;
#[path = "../../tests/binary/keepalived.rs"]
mod keepalived;
#[path = "../../tests/binary/kit.rs"]
mod kit;
#[path = "../../tests/binary/lifecycle.rs"]
mod lifecycle;
#[path = "../../tests/binary/master.rs"]
mod master;
#[path = "../../tests/binary/observability.rs"]
mod observability;
#[path = "../../tests/binary/packaged.rs"]
mod packaged;
#[path = "../../tests/binary/proxy_protocol.rs"]
mod proxy_protocol;
#[path = "../../tests/binary/reload.rs"]
mod reload;
#[path = "../../tests/binary/server_state.rs"]
mod server_state;
#[path = "../../tests/binary/service.rs"]
mod service;
#[path = "../../tests/binary/signals.rs"]
mod signals;
#[path = "../../tests/binary/source.rs"]
mod source;
#[path = "../../tests/binary/splicing.rs"]
mod splicing;
#[path = "../../tests/binary/stop.rs"]
mod stop;
#[path = "../../tests/binary/threads.rs"]
mod threads;
#[path = "../../tests/binary/tls_checks.rs"]
mod tls_checks;
#[path = "../../tests/binary/traffic.rs"]
mod traffic;
#[path = "../../tests/binary/traffic_ends.rs"]
mod traffic_ends;
#[path = "../../tests/binary/unix_socket.rs"]
mod unix_socket;
#[path = "../../tests/binary/upgrade.rs"]
mod upgrade;
