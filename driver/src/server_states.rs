//! Servers' state at start-up: the files `load-server-state-from-file`
//! names (HAProxy's `apply_server_state`), or, when none is configured
//! and weir takes over from a running process (`-x`), that process's own
//! `show servers state` (a weir extension). Problems are warnings:
//! servers then start as they would without a state.

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};

use weir_core::config::{Config, ServerStateLoad, printable};
use weir_core::server_state::{FileError, MAX_FILE_BYTES, StateFile, parse};
use weir_core::{BackendStates, Balancer};

/// How long the old process may take to answer `show servers state`.
const OLD_PROCESS_TIMEOUT: Duration = Duration::from_secs(5);

/// The state files read, which backend uses which, and what went wrong.
#[derive(Default)]
pub(crate) struct Loaded {
    files: Vec<StateFile>,
    /// Backend name, index in `files`, matched as a local file.
    uses: Vec<(String, usize, bool)>,
    warnings: Vec<String>,
}

/// Whether no backend loads a state file: then the old process's state
/// is asked for (`-x`).
pub(crate) fn none_configured(config: &Config) -> bool {
    (config.backends.iter()).all(|b| b.load_server_state == ServerStateLoad::None)
}

/// Reads the state files `config` names, or uses `old` (the old
/// process's `show servers state`) for every backend when given.
pub(crate) fn load(config: &Config, old: Option<&[u8]>) -> Loaded {
    let mut loaded = Loaded::default();
    if let Some(old) = old {
        match parse(old) {
            Ok(file) => {
                loaded.files.push(file);
                for backend in &config.backends {
                    loaded.uses.push((backend.name.clone(), 0, false));
                }
            }
            Err(e) => loaded.warnings.push(format!(
                "Can't use the server states of the old process: {e}."
            )),
        }
        return loaded;
    }
    let global = &config.global;
    let mut global_file = None;
    for backend in config.backends.iter().filter(|b| !b.servers.is_empty()) {
        let index = match &backend.load_server_state {
            ServerStateLoad::None => continue,
            ServerStateLoad::Global => {
                let Some(name) = &global.server_state_file else {
                    continue;
                };
                *global_file.get_or_insert_with(|| {
                    let path = global.server_state_path(name);
                    let file = read(&path).map_err(|e| global_warning(&path, e));
                    loaded.add(file)
                })
            }
            ServerStateLoad::Local(name) => {
                let path = global.server_state_path(name);
                let file = read(&path).map_err(|e| local_warning(&backend.name, &path, e));
                loaded.add(file)
            }
        };
        if let Some(index) = index {
            let local = matches!(backend.load_server_state, ServerStateLoad::Local(_));
            loaded.uses.push((backend.name.clone(), index, local));
        }
    }
    loaded
}

impl Loaded {
    /// Keeps a file read, or its warning.
    fn add(&mut self, file: Result<StateFile, String>) -> Option<usize> {
        match file {
            Ok(file) => {
                self.files.push(file);
                Some(self.files.len() - 1)
            }
            Err(warning) => {
                self.warnings.push(printable(&warning).into_owned());
                None
            }
        }
    }

    /// Applies the states to `lb`: every warning, those of reading first.
    pub(crate) fn apply(self, lb: &mut Balancer, now: Instant) -> Vec<String> {
        let sources: Vec<BackendStates<'_>> = (self.uses.iter())
            .map(|(backend, index, local)| BackendStates {
                backend,
                file: &self.files[*index],
                local: *local,
            })
            .collect();
        let mut warnings = self.warnings.clone();
        if !sources.is_empty() {
            let applied = lb.load_server_states(now, &sources);
            warnings.extend(applied.iter().map(|w| printable(w).into_owned()));
        }
        warnings
    }
}

/// Why a state file could not be used.
enum ReadError {
    Open(String),
    File(FileError),
}

fn read(path: &str) -> Result<StateFile, ReadError> {
    let text = crate::cli::read_bounded(path, MAX_FILE_BYTES, "a server state file")
        .map_err(ReadError::Open)?;
    parse(&text).map_err(ReadError::File)
}

/// HAProxy's warnings about the global file.
fn global_warning(path: &str, e: ReadError) -> String {
    match e {
        ReadError::Open(e) => format!("config: Can't open global server state file '{path}': {e}"),
        ReadError::File(FileError::Version) => {
            format!("config: Can't get version of the global server state file '{path}'.")
        }
        ReadError::File(FileError::Corrupted(line)) => {
            format!("config: corrupted global server state file '{path}' at line {line}.")
        }
    }
}

/// HAProxy's warnings about a backend's own file.
fn local_warning(backend: &str, path: &str, e: ReadError) -> String {
    match e {
        ReadError::Open(e) => {
            format!("Proxy '{backend}': Can't open server state file '{path}': {e}.")
        }
        ReadError::File(FileError::Version) => {
            format!("Proxy '{backend}': Can't get version of the server state file '{path}'.")
        }
        ReadError::File(FileError::Corrupted(line)) => {
            format!("Proxy '{backend}': corrupted server state file '{path}' at line {line}.")
        }
    }
}

/// Asks the process whose stats socket is at `path` for `show servers
/// state` (a second connection after `_getsocks`), within
/// [`OLD_PROCESS_TIMEOUT`] and [`MAX_FILE_BYTES`].
pub(crate) fn fetch(path: &str) -> Result<Vec<u8>, String> {
    let deadline = Instant::now() + OLD_PROCESS_TIMEOUT;
    let mut stream = UnixStream::connect(path).map_err(|e| e.to_string())?;
    stream
        .set_write_timeout(Some(OLD_PROCESS_TIMEOUT))
        .and_then(|()| stream.write_all(b"show servers state\n"))
        .map_err(|e| e.to_string())?;
    let mut answer = Vec::new();
    let mut chunk = [0u8; 16 * 1024];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err("no complete answer in time".into());
        }
        stream
            .set_read_timeout(Some(left))
            .map_err(|e| e.to_string())?;
        match stream.read(&mut chunk) {
            Ok(0) => return Ok(answer),
            Ok(n) if (answer.len() + n) as u64 > MAX_FILE_BYTES => {
                return Err("the answer is larger than weir's limit".into());
            }
            Ok(n) => answer.extend_from_slice(&chunk[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e.to_string()),
        }
    }
}
