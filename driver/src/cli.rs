//! Command line: HAProxy's options that make sense for weir.

use std::fs::{self, File, FileType};
use std::io::{self, Read};
use std::net::{IpAddr, ToSocketAddrs};
use std::os::unix::fs::FileTypeExt;
use std::process::ExitCode;

use weir_core::config::{self, Config, MAX_CONFIG_BYTES, MAX_PEM_BYTES, Source, printable};

use crate::handover::Inherited;
use crate::limits::{self, FdLimit};
use crate::{Binary, Options};

/// A binary's `main`: parses the command line, loads the configuration
/// and runs it with `run` (the driver, named `driver` in `-vv`), with
/// signals handled and `maxconn` sized to the descriptor limit.
pub fn main(program: &str, driver: &str, run: fn(Config, Options) -> io::Result<()>) -> ExitCode {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info"))
        .format_target(false)
        .init();
    // A log file past the file-size limit fails the write (EFBIG), which
    // the log writer reports, instead of killing weir.
    // SAFETY: ignoring a signal changes no memory; no handler runs.
    unsafe { libc::signal(libc::SIGXFSZ, libc::SIG_IGN) };
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
    let (files, take_over) = match command {
        Command::Help => {
            println!("{}", USAGE.replacen("weir", program, 1));
            return ExitCode::SUCCESS;
        }
        Command::Version { verbose } => {
            println!("{program} version {}", env!("CARGO_PKG_VERSION"));
            if verbose {
                print!("{}", build_options(driver));
            }
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
        Command::Run(files, take_over) => (files, take_over),
    };
    let Ok(config) = load(&files) else {
        return ExitCode::FAILURE;
    };
    let inherited = match take_over.socket.as_deref() {
        None | Some("/dev/null") => Inherited::default(),
        Some(path) => match Inherited::fetch(path) {
            Ok(inherited) => inherited,
            Err(e) => {
                let message =
                    format!("Failed to get the sockets from the old process ({path}): {e}");
                eprintln!("[ALERT] {}", printable(&message));
                return ExitCode::FAILURE;
            }
        },
    };
    let options = Options {
        handle_signals: true,
        binary: Some(Binary {
            program: program.to_owned(),
            files,
            old_pids: take_over.pids,
            old_pids_signal: take_over.signal,
        }),
        inherited,
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
Usage: weir -f FILE [-f FILE...] [-c] [-d|-db] [-x SOCKET] [-sf|-st PID...]
  -f FILE        configuration file (repeat to concatenate, in order)
  -c             check the configuration and exit (0 when valid)
  -x SOCKET      take the listening sockets of the running process whose
                 stats socket (with 'expose-fd listeners') is SOCKET
  -sf PID...     once listening, ask these processes to finish (SIGUSR1)
  -st PID...     once listening, stop these processes (SIGTERM)
  -d, -db        stay in the foreground and log to stderr (always the case)
  -v, --version  print the version
  -vv            print the version and how weir was built
  -h, --help     print this help
Stops on SIGTERM or SIGINT, closing every connection. On SIGUSR1 (soft stop)
stops accepting and exits once every connection has ended, or when
'hard-stop-after' runs out. On SIGHUP or SIGUSR2 reads the files again and
applies them in place (an invalid configuration is logged and the running
one kept). SIGQUIT, SIGTTOU, SIGTTIN and SIGALRM are logged and ignored.";

/// What the command line asks for.
#[derive(Debug, PartialEq, Eq)]
enum Command {
    Run(Vec<String>, TakeOver),
    Check(Vec<String>),
    Version { verbose: bool },
    Help,
}

/// How this process takes over from running ones.
#[derive(Debug, Default, PartialEq, Eq)]
struct TakeOver {
    /// `-x`: the old process's stats socket, to take its listeners from.
    socket: Option<String>,
    /// `-sf`/`-st`: the processes to signal once listening.
    pids: Vec<i32>,
    /// SIGUSR1 (`-sf`: finish, then exit) or SIGTERM (`-st`).
    signal: i32,
}

/// Parses the arguments after the program name.
fn parse_args(args: &[String]) -> Result<Command, String> {
    let mut files = Vec::new();
    let mut check = false;
    let mut take_over = TakeOver::default();
    let mut args = args.iter().peekable();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "-f" => match args.next() {
                Some(file) => files.push(file.clone()),
                None => return Err("option '-f' needs a file name".into()),
            },
            "-x" => match args.next() {
                Some(socket) => take_over.socket = Some(socket.clone()),
                None => return Err("Unix socket path expected with the -x flag".into()),
            },
            flag @ ("-sf" | "-st") => {
                take_over.signal = if flag == "-sf" {
                    libc::SIGUSR1
                } else {
                    libc::SIGTERM
                };
                // As HAProxy: the PIDs run up to the next option.
                while let Some(pid) = args.next_if(|a| !a.starts_with('-')) {
                    match pid.trim_end().parse::<i32>() {
                        Ok(pid) if pid > 0 => take_over.pids.push(pid),
                        _ => return Err(format!("{flag} option: '{pid}' is not a process id")),
                    }
                }
            }
            "-c" => check = true,
            "-d" | "-db" => {}
            "-v" | "--version" => return Ok(Command::Version { verbose: false }),
            "-vv" => return Ok(Command::Version { verbose: true }),
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
        Command::Run(files, take_over)
    })
}

/// Reads and parses the files, printing warnings and errors HAProxy-style.
fn load(files: &[String]) -> Result<Config, ()> {
    let (loaded, warnings) = read_config(files);
    for warning in &warnings {
        eprintln!("[WARNING] {warning}");
    }
    match loaded {
        Ok(config) => Ok(config),
        Err(errors) => {
            for error in &errors {
                eprintln!("[ALERT] {error}");
            }
            Err(())
        }
    }
}

/// Reads, parses and validates the files (and the PEM files they name):
/// the configuration, or every error found (ending with HAProxy's `Fatal
/// errors found in configuration.` when parsing failed); and the
/// warnings. What `weir -c` prints, without the `[ALERT]`/`[WARNING]`
/// prefixes; a reload reads the files the same way.
pub(crate) fn read_config(files: &[String]) -> (Result<Config, Vec<String>>, Vec<String>) {
    let mut texts = Vec::new();
    for file in files {
        match read_bounded(file, MAX_CONFIG_BYTES, "a configuration file") {
            Ok(text) => texts.push(text),
            Err(e) => {
                let message = format!("Could not open configuration file {file} : {e}");
                return (Err(vec![printable(&message).into_owned()]), Vec::new());
            }
        }
    }
    let sources: Vec<Source<'_>> = files
        .iter()
        .zip(&texts)
        .map(|(name, text)| Source::new(name, text))
        .collect();
    let mut warnings = Vec::new();
    let loaded = config::parse(&sources, &mut resolve).and_then(|parsed| {
        warnings.extend(parsed.warnings.iter().map(ToString::to_string));
        let mut config = parsed.config;
        config.load_files(&mut |path| read_bounded(path, MAX_PEM_BYTES, "a PEM file"))?;
        Ok(config)
    });
    let loaded = loaded.map_err(|errors| {
        let mut lines: Vec<String> = errors.iter().map(ToString::to_string).collect();
        lines.push("Fatal errors found in configuration.".into());
        lines
    });
    (loaded, warnings)
}

/// Reads the file at `path` whole, as `what`: only a regular file or a
/// pipe (`-f <(command)`), and at most `cap` bytes, so that `/dev/zero` or
/// a runaway generator cannot fill the memory.
fn read_bounded(path: &str, cap: u64, what: &str) -> Result<Vec<u8>, String> {
    // Checked before opening (opening a device may act), and again on the
    // open file in case it was replaced in between.
    readable_kind(fs::metadata(path).map_err(|e| e.to_string())?.file_type())?;
    let file = File::open(path).map_err(|e| e.to_string())?;
    readable_kind(file.metadata().map_err(|e| e.to_string())?.file_type())?;
    let mut data = Vec::new();
    file.take(cap + 1)
        .read_to_end(&mut data)
        .map_err(|e| e.to_string())?;
    if data.len() as u64 > cap {
        let limit = if cap % (1 << 20) == 0 {
            format!("{} MiB", cap >> 20)
        } else {
            format!("{cap} bytes")
        };
        return Err(format!("larger than {limit}, weir's limit for {what}"));
    }
    Ok(data)
}

/// Refuses what is neither a regular file nor a pipe, naming what it is.
fn readable_kind(kind: FileType) -> Result<(), String> {
    let other = match kind {
        k if k.is_file() || k.is_fifo() => return Ok(()),
        k if k.is_dir() => "a directory",
        k if k.is_char_device() => "a character device",
        k if k.is_block_device() => "a block device",
        k if k.is_socket() => "a socket",
        _ => "not a file",
    };
    Err(format!("not a regular file ({other})"))
}

/// What `-vv` adds to the version: how weir was built and what it runs
/// on, as HAProxy's `-vv`. Versions of the libraries are those of the
/// lock file weir was built with.
fn build_options(driver: &str) -> String {
    let profile = if cfg!(debug_assertions) {
        "debug"
    } else {
        "release"
    };
    let fds = match FdLimit::current() {
        Some(FdLimit { soft, hard }) => format!("{} (hard limit {})", count(soft), count(hard)),
        None => "unknown".to_owned(),
    };
    format!(
        "Running on: {}\n\
         Build options :\n  \
         DRIVER  = {driver} {}\n  \
         PROFILE = {profile}\n  \
         TARGET  = {}-{}\n\
         Built with rustls {} (TLS 1.2, TLS 1.3), crypto provider ring {}, for \
         'check-ssl' and 'ssl' servers.\n\
         Built with regex {} for 'rstring' and 'rbinary' expectations.\n\
         Descriptor limit : {fds}.\n\
         Without 'maxconn', the soft limit is raised to the hard \
         limit (at most {}) and maxconn is set to what it leaves for sessions: 2 \
         descriptors each (3 with connect-hedge), after those open at start, {} more \
         and one per listener and per checked server.\n",
        system(),
        locked_version(driver),
        std::env::consts::ARCH,
        std::env::consts::OS,
        locked_version("rustls"),
        locked_version("ring"),
        locked_version("regex"),
        limits::MAX_FDS,
        limits::MARGIN,
    )
}

/// A limit, "unlimited" for `u64::MAX`.
fn count(n: u64) -> String {
    if n == u64::MAX {
        "unlimited".to_owned()
    } else {
        n.to_string()
    }
}

/// The kernel weir runs on (`uname`): "Linux 6.1.0 x86_64".
fn system() -> String {
    // SAFETY: uname(2) fills the zeroed struct we own.
    let mut name: libc::utsname = unsafe { std::mem::zeroed() };
    if unsafe { libc::uname(&mut name) } != 0 {
        return "unknown".to_owned();
    }
    let field = |f: &[libc::c_char]| {
        let bytes: Vec<u8> = f
            .iter()
            .take_while(|&&c| c != 0)
            .map(|&c| c as u8)
            .collect();
        String::from_utf8_lossy(&bytes).into_owned()
    };
    format!(
        "{} {} {}",
        field(&name.sysname),
        field(&name.release),
        field(&name.machine)
    )
}

/// The version of package `name` in the lock file weir was built with.
fn locked_version(name: &str) -> &'static str {
    let lock = include_str!("../../Cargo.lock");
    let entry = format!("name = \"{name}\"\nversion = \"");
    lock.split_once(&entry)
        .and_then(|(_, rest)| rest.split_once('"'))
        .map_or("(version unknown)", |(version, _)| version)
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
        let files = args(&["a.cfg", "b.cfg"]);
        assert_eq!(got, Ok(Command::Run(files, TakeOver::default())));
    }

    #[test]
    fn take_over_options_as_haproxy() {
        let got = parse_args(&args(&[
            "-f",
            "a.cfg",
            "-x",
            "/run/a.sock",
            "-sf",
            "12",
            "34",
            "-f",
            "b.cfg",
        ]));
        let take_over = TakeOver {
            socket: Some("/run/a.sock".into()),
            pids: vec![12, 34],
            signal: libc::SIGUSR1,
        };
        assert_eq!(got, Ok(Command::Run(args(&["a.cfg", "b.cfg"]), take_over)));
        let got = parse_args(&args(&["-f", "a.cfg", "-st", "7"]));
        let Ok(Command::Run(_, take_over)) = got else {
            panic!("{got:?}");
        };
        assert_eq!((take_over.pids, take_over.signal), (vec![7], libc::SIGTERM));
        assert_eq!(
            parse_args(&args(&["-f", "a", "-sf", "0"])),
            Err("-sf option: '0' is not a process id".into())
        );
        assert_eq!(
            parse_args(&args(&["-f", "a", "-x"])),
            Err("Unix socket path expected with the -x flag".into())
        );
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
            parse_args(&args(&["-y", "-f", "a"])),
            Err("unknown option '-y'".into())
        );
    }

    /// A scratch directory for one test, removed when dropped.
    struct Scratch(std::path::PathBuf);

    impl Scratch {
        fn new(test: &str) -> Scratch {
            let dir = std::env::temp_dir().join(format!("weir-cli-{}-{test}", std::process::id()));
            fs::create_dir_all(&dir).unwrap();
            Scratch(dir)
        }

        fn path(&self, name: &str) -> String {
            self.0.join(name).to_str().unwrap().to_owned()
        }
    }

    impl Drop for Scratch {
        fn drop(&mut self) {
            let _ = fs::remove_dir_all(&self.0);
        }
    }

    #[test]
    fn only_regular_files_and_pipes_are_read() {
        let err = read_bounded("/dev/zero", 1 << 20, "a test").unwrap_err();
        assert_eq!(err, "not a regular file (a character device)");
        let scratch = Scratch::new("kinds");
        let err = read_bounded(&scratch.path(""), 1 << 20, "a test").unwrap_err();
        assert_eq!(err, "not a regular file (a directory)");
        let file = scratch.path("ok.cfg");
        fs::write(&file, b"global\n").unwrap();
        assert_eq!(read_bounded(&file, 1 << 20, "a test").unwrap(), b"global\n");
        let missing = read_bounded(&scratch.path("missing"), 10, "a test").unwrap_err();
        assert!(missing.starts_with("No such file"), "{missing}");
    }

    #[test]
    fn reading_stops_past_the_limit() {
        let scratch = Scratch::new("limit");
        let file = scratch.path("big.cfg");
        fs::write(&file, [b'#'; 11]).unwrap();
        assert_eq!(read_bounded(&file, 11, "a test").unwrap().len(), 11);
        assert_eq!(
            read_bounded(&file, 10, "a test").unwrap_err(),
            "larger than 10 bytes, weir's limit for a test"
        );
    }

    #[test]
    fn an_endless_pipe_is_cut_at_the_limit() {
        let scratch = Scratch::new("fifo");
        let fifo = scratch.path("endless");
        let c_path = std::ffi::CString::new(fifo.clone()).unwrap();
        // SAFETY: a valid NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(c_path.as_ptr(), 0o600) }, 0);
        let writer = {
            let fifo = fifo.clone();
            std::thread::spawn(move || {
                let mut pipe = fs::OpenOptions::new().write(true).open(fifo).unwrap();
                // Bounded: 64 MiB at most; ends when the reader closes.
                for _ in 0..16 * 1024 {
                    if io::Write::write_all(&mut pipe, &[b'#'; 4096]).is_err() {
                        return true;
                    }
                }
                false
            })
        };
        let err = read_bounded(&fifo, 1 << 20, "a configuration file").unwrap_err();
        assert_eq!(
            err,
            "larger than 1 MiB, weir's limit for a configuration file"
        );
        assert!(writer.join().unwrap(), "the writer saw the reader go");
    }

    #[test]
    fn version_and_help_win() {
        let version = |verbose| Ok(Command::Version { verbose });
        assert_eq!(parse_args(&args(&["--version"])), version(false));
        assert_eq!(parse_args(&args(&["-vv"])), version(true));
        assert_eq!(parse_args(&args(&["-h", "-f", "a"])), Ok(Command::Help));
    }

    #[test]
    fn versions_come_from_the_lock_file() {
        assert!(locked_version("rustls").starts_with("0."));
        assert_eq!(locked_version("no-such-package"), "(version unknown)");
    }
}
