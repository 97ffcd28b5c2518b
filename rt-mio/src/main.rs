//! `weir`: the TCP load balancer, driven by mio.

use std::process::ExitCode;

mod cli;

fn main() -> ExitCode {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info"))
        .format_target(false)
        .init();
    let args: Vec<String> = std::env::args().skip(1).collect();
    let command = match cli::parse_args(&args) {
        Ok(command) => command,
        Err(message) => {
            eprintln!("weir: {message}\n{}", cli::USAGE);
            return ExitCode::FAILURE;
        }
    };
    let files = match command {
        cli::Command::Help => {
            println!("{}", cli::USAGE);
            return ExitCode::SUCCESS;
        }
        cli::Command::Version => {
            println!("weir version {}", env!("CARGO_PKG_VERSION"));
            return ExitCode::SUCCESS;
        }
        cli::Command::Check(files) => {
            return match cli::load(&files) {
                Ok(_) => {
                    println!("Configuration file is valid");
                    ExitCode::SUCCESS
                }
                Err(()) => ExitCode::FAILURE,
            };
        }
        cli::Command::Run(files) => files,
    };
    let Ok(config) = cli::load(&files) else {
        return ExitCode::FAILURE;
    };
    let options = weir_mio::Options {
        handle_signals: true,
        ..Default::default()
    };
    match weir_mio::run(config, options) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("[ALERT] {e}");
            ExitCode::FAILURE
        }
    }
}
