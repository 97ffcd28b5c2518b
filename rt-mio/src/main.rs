//! `weir`: the TCP load balancer, driven by mio.

use std::process::ExitCode;

fn main() -> ExitCode {
    weir_driver::cli::main("weir", "mio", weir_mio::run)
}
