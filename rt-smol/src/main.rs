//! `weir-smol`: the TCP load balancer, driven by smol.

use std::process::ExitCode;

fn main() -> ExitCode {
    weir_driver::cli::main("weir-smol", "smol", weir_smol::run)
}
