//! Command line: HAProxy's options that make sense for weir.

use std::io;
use std::net::{IpAddr, ToSocketAddrs};
use std::process::ExitCode;

use weir_core::config::{self, Config, Source};

use crate::Options;

/// A binary's `main`: parses the command line, loads the configuration
/// and runs it with `run` (the driver), with signals handled.
pub fn main(program: &str, run: fn(Config, Options) -> io::Result<()>) -> ExitCode {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info"))
        .format_target(false)
        .init();
    let args: Vec<String> = std::env::args().skip(1).collect();
    let command = match parse_args(&args) {
        Ok(command) => command,
        Err(message) => {
            eprintln!(
                "{program}: {message}\n{}",
                USAGE.replacen("weir", program, 1)
            );
            return ExitCode::FAILURE;
        }
    };
    let files = match command {
        Command::Help => {
            println!("{}", USAGE.replacen("weir", program, 1));
            return ExitCode::SUCCESS;
        }
        Command::Version => {
            println!("{program} version {}", env!("CARGO_PKG_VERSION"));
            return ExitCode::SUCCESS;
        }
        Command::Check(files) => {
            return match load(&files) {
                Ok(_) => {
                    println!("Configuration file is valid");
                    ExitCode::SUCCESS
                }
                Err(()) => ExitCode::FAILURE,
            };
        }
        Command::Run(files) => files,
    };
    let Ok(config) = load(&files) else {
        return ExitCode::FAILURE;
    };
    let options = Options {
        handle_signals: true,
        ..Default::default()
    };
    match run(config, options) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("[ALERT] {e}");
            ExitCode::FAILURE
        }
    }
}

const USAGE: &str = "\
Usage: weir -f FILE [-f FILE...] [-c] [-d|-db]
  -f FILE        configuration file (repeat to concatenate, in order)
  -c             check the configuration and exit (0 when valid)
  -d, -db        stay in the foreground and log to stderr (always the case)
  -v, --version  print the version
  -h, --help     print this help
Stops on SIGTERM or SIGINT, closing every connection. On SIGUSR1 (soft stop)
stops accepting and exits once every connection has ended, or when
'hard-stop-after' runs out.";

/// What the command line asks for.
#[derive(Debug, PartialEq, Eq)]
enum Command {
    Run(Vec<String>),
    Check(Vec<String>),
    Version,
    Help,
}

/// Parses the arguments after the program name.
fn parse_args(args: &[String]) -> Result<Command, String> {
    let mut files = Vec::new();
    let mut check = false;
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "-f" => match args.next() {
                Some(file) => files.push(file.clone()),
                None => return Err("option '-f' needs a file name".into()),
            },
            "-c" => check = true,
            "-d" | "-db" => {}
            "-v" | "-vv" | "--version" => return Ok(Command::Version),
            "-h" | "--help" => return Ok(Command::Help),
            other => return Err(format!("unknown option '{other}'")),
        }
    }
    if files.is_empty() {
        return Err("no configuration file: use -f FILE".into());
    }
    Ok(if check {
        Command::Check(files)
    } else {
        Command::Run(files)
    })
}

/// Reads and parses the files, printing warnings and errors HAProxy-style.
fn load(files: &[String]) -> Result<Config, ()> {
    let mut texts = Vec::new();
    for file in files {
        match std::fs::read_to_string(file) {
            Ok(text) => texts.push(text),
            Err(e) => {
                eprintln!("[ALERT] Could not open configuration file {file} : {e}");
                return Err(());
            }
        }
    }
    let sources: Vec<Source<'_>> = files
        .iter()
        .zip(&texts)
        .map(|(name, text)| Source { name, text })
        .collect();
    let loaded = config::parse(&sources, &mut resolve).and_then(|parsed| {
        for warning in &parsed.warnings {
            eprintln!("[WARNING] {warning}");
        }
        let mut config = parsed.config;
        config.load_files(&mut |path| std::fs::read(path).map_err(|e| e.to_string()))?;
        Ok(config)
    });
    loaded.map_err(|errors| {
        for error in &errors {
            eprintln!("[ALERT] {error}");
        }
        eprintln!("[ALERT] Fatal errors found in configuration.");
    })
}

/// Resolves a host name with the system resolver, first address wins.
fn resolve(name: &str) -> Option<IpAddr> {
    (name, 0)
        .to_socket_addrs()
        .ok()?
        .next()
        .map(|addr| addr.ip())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn files_are_kept_in_order() {
        let got = parse_args(&args(&["-f", "a.cfg", "-db", "-f", "b.cfg"]));
        assert_eq!(got, Ok(Command::Run(args(&["a.cfg", "b.cfg"]))));
    }

    #[test]
    fn dash_c_checks() {
        let got = parse_args(&args(&["-c", "-f", "a.cfg"]));
        assert_eq!(got, Ok(Command::Check(args(&["a.cfg"]))));
    }

    #[test]
    fn bad_command_lines_are_errors() {
        assert!(parse_args(&args(&["-f"])).is_err());
        assert!(parse_args(&args(&[])).is_err());
        assert_eq!(
            parse_args(&args(&["-x", "-f", "a"])),
            Err("unknown option '-x'".into())
        );
    }

    #[test]
    fn version_and_help_win() {
        assert_eq!(parse_args(&args(&["--version"])), Ok(Command::Version));
        assert_eq!(parse_args(&args(&["-h", "-f", "a"])), Ok(Command::Help));
    }
}
