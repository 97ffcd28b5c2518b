//! Command line: HAProxy's options that make sense for weir.

use std::fs::{self, File, FileType};
use std::io::{self, Read};
use std::net::{IpAddr, ToSocketAddrs};
use std::os::unix::fs::FileTypeExt;
use std::process::ExitCode;

use weir_core::config::{self, Config, MAX_CONFIG_BYTES, MAX_PEM_BYTES, Source, printable};

use crate::handover;
use crate::limits::{self, FdLimit};
use crate::{Binary, Options};

/// A binary's `main`: parses the command line, loads the configuration
/// and runs it with `run` (the driver, named `driver` in `-vv`), with
/// signals handled and `maxconn` sized to the descriptor limit; as a
/// daemon, with a pidfile, under systemd, as the command line and the
/// `global` section say.
pub fn main(program: &str, driver: &str, run: fn(Config, Options) -> io::Result<()>) -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let command = parse_args(&args);
    let quiet = matches!(&command, Ok(Command::Run(a) | Command::Check(a)) if a.quiet);
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info"))
        .format_target(false)
        .init();
    if quiet {
        log::set_max_level(log::LevelFilter::Error);
    }
    // A log file past the file-size limit fails the write (EFBIG), which
    // the log writer reports, instead of killing weir.
    // SAFETY: ignoring a signal changes no memory; no handler runs.
    unsafe { libc::signal(libc::SIGXFSZ, libc::SIG_IGN) };
    let command = match command {
        Ok(command) => command,
        Err(message) => {
            eprintln!(
                "{program}: {message}\n{}",
                USAGE.replacen("weir", program, 1)
            );
            return ExitCode::FAILURE;
        }
    };
    let args = match command {
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
        Command::Check(args) => {
            return match load(&args) {
                Ok(_) => {
                    if !args.quiet {
                        println!("Configuration file is valid");
                    }
                    ExitCode::SUCCESS
                }
                Err(()) => ExitCode::FAILURE,
            };
        }
        Command::Run(args) => args,
    };
    let Ok(config) = load(&args) else {
        return ExitCode::FAILURE;
    };
    if config.global.process.quiet {
        log::set_max_level(log::LevelFilter::Error);
    }
    // Both before any thread starts: the environment changes, and a
    // daemon forks.
    let mut inherited = crate::activation::take();
    match args.take_over.socket.as_deref() {
        None | Some("/dev/null") => {}
        Some(path) => match handover::fetch(path) {
            Ok(sockets) => inherited.extend(sockets),
            Err(e) => {
                let message =
                    format!("Failed to get the sockets from the old process ({path}): {e}");
                eprintln!("[ALERT] {}", printable(&message));
                return ExitCode::FAILURE;
            }
        },
    }
    let worker = std::env::var_os(crate::master::WORKER).is_some();
    // SAFETY: weir has started no thread yet.
    unsafe { std::env::remove_var(crate::master::WORKER) };
    // `daemon` and `-D` are ignored under `-W` and `-Ws`, as HAProxy's.
    let detach = (args.daemon || (config.global.process.daemon && !args.foreground))
        && !worker
        && !args.master;
    let old_server_states = old_server_states(&args, &config);
    let detached = if detach {
        match crate::daemon::detach() {
            Ok(detached) => Some(detached),
            Err(e) => {
                eprintln!("[ALERT] [{program}.main()] Cannot fork: {e}");
                return ExitCode::FAILURE;
            }
        }
    } else {
        None
    };
    let pidfile = (args.pidfile.clone())
        .or_else(|| config.global.process.pidfile.clone())
        .filter(|_| !worker);
    if args.master {
        return run_master(&config, &args, pidfile);
    }
    let options = Options {
        handle_signals: true,
        binary: Some(Binary {
            program: program.to_owned(),
            files: args.files,
            pidfile,
            inherited,
            detached,
            old_pids: args.take_over.pids,
            old_pids_signal: args.take_over.signal,
            old_server_states,
        }),
        ..Default::default()
    };
    match run(config, options) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            crate::notify::stopping(&format!("failed: {e}"));
            eprintln!("[ALERT] {e}");
            ExitCode::FAILURE
        }
    }
}

/// `-W`: the master, with its pidfile, running workers on the same files.
fn run_master(config: &Config, args: &Args, pidfile: Option<String>) -> ExitCode {
    if args.take_over.socket.is_some() {
        eprintln!("[ALERT] -x cannot be used with -W: the master takes no sockets over");
        return ExitCode::FAILURE;
    }
    let _pidfile =
        match pidfile.map(|path| crate::pidfile::PidFile::write(&path, std::process::id())) {
            Some(Err(e)) => {
                eprintln!("[ALERT] {e}");
                return ExitCode::FAILURE;
            }
            written => written.and_then(Result::ok),
        };
    let mut worker_args = vec!["-db".to_owned()];
    for file in &args.files {
        worker_args.extend(["-f".to_owned(), file.clone()]);
    }
    if args.quiet {
        worker_args.push("-q".to_owned());
    }
    let old = (args.take_over.signal, args.take_over.pids.clone());
    crate::master::run(config, &args.files, &worker_args, old)
}

/// With `-x` and no state file configured, the old process's `show
/// servers state`; failing only warns, the sockets being already taken.
fn old_server_states(args: &Args, config: &Config) -> Option<Vec<u8>> {
    let path = args
        .take_over
        .socket
        .as_deref()
        .filter(|p| *p != "/dev/null")?;
    if !crate::server_states::none_configured(config) {
        return None;
    }
    match crate::server_states::fetch(path) {
        Ok(text) => Some(text),
        Err(e) => {
            if !args.quiet && !config.global.process.quiet {
                let message =
                    format!("Failed to get the server states from the old process ({path}): {e}");
                eprintln!("[WARNING] {}", printable(&message));
            }
            None
        }
    }
}

const USAGE: &str = "\
Usage: weir -f FILE|DIR [-f ...] [-c] [-d|-db|-D|-W|-Ws] [-p FILE] [-q]
            [-x SOCKET] [-sf|-st PID...] [-- FILE...]
  -f FILE|DIR    configuration file, or a directory whose *.cfg files are read
                 in name order (repeat to concatenate, in order)
  -c             check the configuration and exit (0 when valid)
  -d, -db        stay in the foreground (the default; overrides 'daemon')
  -D             go daemon: detach once listening, as 'daemon' in 'global'
  -Ws            run in the foreground under systemd (Type=notify); 'daemon'
                 is ignored. weir notifies systemd whenever NOTIFY_SOCKET is set
  -W             master-worker: a master holds the listeners and runs a worker;
                 SIGUSR2 starts a new worker from the binary on disk with the
                 configuration read again, then the old one finishes
  -p FILE        write the process id to FILE (as 'pidfile'); removed at exit
  -q             quiet mode: no start-up line, no warnings
  -x SOCKET      take the listening sockets of the running process whose
                 stats socket (with 'expose-fd listeners') is SOCKET
  -sf PID...     once listening, ask these processes to finish (SIGUSR1)
  -st PID...     once listening, stop these processes (SIGTERM)
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
    Run(Args),
    Check(Args),
    Version { verbose: bool },
    Help,
}

/// How to run: the options that go with `Run` and `Check`.
#[derive(Debug, Default, PartialEq, Eq)]
struct Args {
    /// Configuration files and directories, in order.
    files: Vec<String>,
    /// `-p`.
    pidfile: Option<String>,
    /// `-D`.
    daemon: bool,
    /// `-d`, `-db`, `-Ws`: `daemon` in the configuration is ignored.
    foreground: bool,
    /// `-q`.
    quiet: bool,
    /// `-x`, `-sf`, `-st`.
    take_over: TakeOver,
    /// `-W`: a master process runs the workers.
    master: bool,
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
    let mut run = Args::default();
    let mut check = false;
    let mut args = args.iter().peekable();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "-f" => match args.next() {
                Some(file) => run.files.push(file.clone()),
                None => return Err("option '-f' needs a file or directory name".into()),
            },
            "-x" => match args.next() {
                Some(socket) => run.take_over.socket = Some(socket.clone()),
                None => return Err("Unix socket path expected with the -x flag".into()),
            },
            flag @ ("-sf" | "-st") => {
                run.take_over.signal = if flag == "-sf" {
                    libc::SIGUSR1
                } else {
                    libc::SIGTERM
                };
                // As HAProxy: the PIDs run up to the next option.
                while let Some(pid) = args.next_if(|a| !a.starts_with('-')) {
                    match pid.trim_end().parse::<i32>() {
                        Ok(pid) if pid > 0 => run.take_over.pids.push(pid),
                        _ => return Err(format!("{flag} option: '{pid}' is not a process id")),
                    }
                }
            }
            "-p" => match args.next() {
                Some(file) => run.pidfile = Some(file.clone()),
                None => return Err("option '-p' needs a file name".into()),
            },
            "--" => run.files.extend(args.by_ref().cloned()),
            "-c" => check = true,
            "-d" | "-db" | "-Ws" => run.foreground = true,
            "-D" => run.daemon = true,
            "-q" => run.quiet = true,
            "-W" => run.master = true,
            "-v" | "--version" => return Ok(Command::Version { verbose: false }),
            "-vv" => return Ok(Command::Version { verbose: true }),
            "-h" | "--help" => return Ok(Command::Help),
            other => return Err(format!("unknown option '{other}'")),
        }
    }
    if run.files.is_empty() {
        return Err("no configuration file: use -f FILE".into());
    }
    Ok(if check {
        Command::Check(run)
    } else {
        Command::Run(run)
    })
}

/// The configuration files `-f` names, in order: a directory stands for
/// its `*.cfg` regular files in name (byte) order, hidden ones left out,
/// as HAProxy's `cfgfiles_expand_directories`.
pub(crate) fn expand(files: &[String]) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    for file in files {
        let meta = fs::metadata(file)
            .map_err(|e| format!("Cannot open configuration file/directory {file} : {e}"))?;
        if !meta.is_dir() {
            out.push(file.clone());
            continue;
        }
        let entries = fs::read_dir(file)
            .map_err(|e| format!("Cannot open configuration directory {file} : {e}"))?;
        let mut names = Vec::new();
        for entry in entries {
            let entry =
                entry.map_err(|e| format!("Cannot open configuration directory {file} : {e}"))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.starts_with('.') || !name.ends_with(".cfg") {
                continue;
            }
            let path = format!("{}/{name}", file.trim_end_matches('/'));
            if fs::metadata(&path).is_ok_and(|m| m.is_file()) {
                names.push((name, path));
            }
        }
        names.sort();
        out.extend(names.into_iter().map(|(_, path)| path));
    }
    Ok(out)
}

/// Reads and parses the files (directories expanded), printing warnings
/// (unless quiet) and errors HAProxy-style, and looks up the `user` and
/// `group` names.
fn load(args: &Args) -> Result<Config, ()> {
    let (loaded, warnings, notices) = read_config_env(&args.files, false);
    let config = loaded.map_err(|errors| {
        for error in &errors {
            eprintln!("[ALERT] {error}");
        }
    })?;
    if !args.quiet && !config.global.process.quiet {
        for notice in &notices {
            eprintln!("[NOTICE] {notice}");
        }
        for warning in &warnings {
            eprintln!("[WARNING] {warning}");
        }
    }
    if let Err(e) = crate::identity::Identity::resolve(&config.global.process) {
        eprintln!("[ALERT] {e}");
        eprintln!("[ALERT] Fatal errors found in configuration.");
        return Err(());
    }
    Ok(config)
}

/// Reads, parses and validates the files `-f` named (directories
/// expanded) and the PEM files they name: the configuration, or every
/// error found (ending with HAProxy's `Fatal errors found in
/// configuration.` when parsing failed); and the warnings. What `weir -c`
/// prints, without the `[ALERT]`/`[WARNING]` prefixes; a reload reads the
/// files the same way, so a file added to a directory is read.
pub(crate) fn read_config(files: &[String]) -> (Result<Config, Vec<String>>, Vec<String>) {
    let (loaded, warnings, _) = read_config_env(files, true);
    (loaded, warnings)
}

/// The environment variables the files see, as HAProxy 2.6's: the
/// process's, `HAPROXY_LOCALPEER` set to the host name, and on a reload
/// `HAPROXY_CFGFILES` (the files read, `;`-separated: HAProxy sets it
/// after its first load, so a re-executed master sees it).
fn environment(files: &[String], reload: bool) -> impl Fn(&str) -> Option<String> + '_ {
    move |name: &str| match name {
        "HAPROXY_LOCALPEER" => Some(crate::syslog::hostname()),
        "HAPROXY_CFGFILES" if reload => Some(files.join(";")),
        _ => std::env::var_os(name).map(|v| v.to_string_lossy().into_owned()),
    }
}

/// [`read_config`] for a first load (`reload` false) or a reload, with
/// the `.notice` lines of the files.
pub(crate) fn read_config_env(
    files: &[String],
    reload: bool,
) -> (Result<Config, Vec<String>>, Vec<String>, Vec<String>) {
    let files = match expand(files) {
        Ok(files) => files,
        Err(e) => {
            return (
                Err(vec![printable(&e).into_owned()]),
                Vec::new(),
                Vec::new(),
            );
        }
    };
    let mut texts = Vec::new();
    for file in &files {
        match read_bounded(file, MAX_CONFIG_BYTES, "a configuration file") {
            Ok(text) => texts.push(text),
            Err(e) => {
                let message = format!("Could not open configuration file {file} : {e}");
                return (
                    Err(vec![printable(&message).into_owned()]),
                    Vec::new(),
                    Vec::new(),
                );
            }
        }
    }
    let sources: Vec<Source<'_>> = files
        .iter()
        .zip(&texts)
        .map(|(name, text)| Source::new(name, text))
        .collect();
    let mut warnings = Vec::new();
    let mut notices = Vec::new();
    let env = environment(&files, reload);
    let loaded = config::parse_with_env(&sources, &mut resolve, &env).and_then(|parsed| {
        warnings.extend(parsed.warnings.iter().map(ToString::to_string));
        notices.extend(parsed.notices.iter().map(ToString::to_string));
        let mut config = parsed.config;
        config.load_files(&mut |path| read_bounded(path, MAX_PEM_BYTES, "a PEM file"))?;
        Ok(config)
    });
    let loaded = loaded.map_err(|errors| {
        let mut lines: Vec<String> = errors.iter().map(ToString::to_string).collect();
        lines.push("Fatal errors found in configuration.".into());
        lines
    });
    (loaded, warnings, notices)
}

/// Reads the file at `path` whole, as `what`: only a regular file or a
/// pipe (`-f <(command)`), and at most `cap` bytes, so that `/dev/zero` or
/// a runaway generator cannot fill the memory.
pub(crate) fn read_bounded(path: &str, cap: u64, what: &str) -> Result<Vec<u8>, String> {
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
         TARGET  = {}-{}\n\n\
         Feature list : {}\n\n\
         Built with rustls {} (TLS 1.2, TLS 1.3), crypto provider ring {}, for \
         'check-ssl' and 'ssl' servers.\n\
         Built with regex {} for 'rstring' and 'rbinary' expectations.\n\
         Built with multi-threading support (MAX_THREADS={}, default={}).\n\
         Built without CPU pinning (-CPU_AFFINITY: no 'cpu-map'); the default counts \
         the CPUs of the process's affinity mask.\n\
         Descriptor limit : {fds}.\n\
         Without 'maxconn', the soft limit is raised to the hard \
         limit (at most {}) and maxconn is set to what it leaves for sessions: 2 \
         descriptors each (3 with connect-hedge), after those open at start, {} more \
         and one per listener and per checked server.\n",
        system(),
        locked_version(driver),
        std::env::consts::ARCH,
        std::env::consts::OS,
        config::condition::FEATURES,
        locked_version("rustls"),
        locked_version("ring"),
        locked_version("regex"),
        crate::engine::loops::MAX_LOOPS,
        crate::engine::loops::default_count(),
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

    fn run(files: &[&str]) -> Args {
        Args {
            files: args(files),
            ..Args::default()
        }
    }

    #[test]
    fn files_are_kept_in_order() {
        let got = parse_args(&args(&[
            "-f", "a.cfg", "-db", "-f", "b.cfg", "--", "c", "-d",
        ]));
        let want = Args {
            foreground: true,
            ..run(&["a.cfg", "b.cfg", "c", "-d"])
        };
        assert_eq!(got, Ok(Command::Run(want)));
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
        let want = Args {
            take_over,
            ..run(&["a.cfg", "b.cfg"])
        };
        assert_eq!(got, Ok(Command::Run(want)));
        let got = parse_args(&args(&["-f", "a.cfg", "-st", "7"]));
        let Ok(Command::Run(Args { take_over, .. })) = got else {
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
        assert_eq!(got, Ok(Command::Check(run(&["a.cfg"]))));
    }

    #[test]
    fn service_options_are_read() {
        let got = parse_args(&args(&["-D", "-q", "-p", "/run/w.pid", "-f", "a"]));
        let want = Args {
            daemon: true,
            quiet: true,
            pidfile: Some("/run/w.pid".into()),
            ..run(&["a"])
        };
        assert_eq!(got, Ok(Command::Run(want)));
        let systemd = parse_args(&args(&["-Ws", "-f", "a"]));
        let want = Args {
            foreground: true,
            ..run(&["a"])
        };
        assert_eq!(systemd, Ok(Command::Run(want)));
        let Ok(Command::Run(master)) = parse_args(&args(&["-W", "-f", "a"])) else {
            panic!("-W runs");
        };
        assert!(master.master);
        assert!(parse_args(&args(&["-f", "a", "-p"])).is_err());
    }

    #[test]
    fn a_directory_stands_for_its_cfg_files_in_name_order() {
        let scratch = Scratch::new("dir");
        for name in [
            "b.cfg",
            "a.cfg",
            "10.cfg",
            ".hidden.cfg",
            "notes.txt",
            "c.cfg.bak",
        ] {
            fs::write(scratch.path(name), "").unwrap();
        }
        fs::create_dir_all(scratch.path("d.cfg")).unwrap();
        let dir = scratch.path("");
        let got = expand(&[dir.clone(), scratch.path("a.cfg")]).unwrap();
        let base = dir.trim_end_matches('/');
        let want: Vec<String> = ["10.cfg", "a.cfg", "b.cfg"]
            .iter()
            .map(|n| format!("{base}/{n}"))
            .chain([scratch.path("a.cfg")])
            .collect();
        assert_eq!(got, want);
        let e = expand(&[scratch.path("missing")]).unwrap_err();
        assert!(
            e.starts_with("Cannot open configuration file/directory "),
            "{e}"
        );
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
