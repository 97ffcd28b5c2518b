//! weir's test kit: weir in-process on a config string, backend stand-ins
//! that can be killed and restarted, and helpers to wait on conditions.
//!
//! Everything listens on 127.0.0.1 with kernel-chosen ports. Every wait is
//! bounded by a deadline; nothing asserts on timing.

use std::cell::Cell;
use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicU16, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

pub mod gateway;

/// The TLS library the kit speaks, for tests that build their own peers.
pub use rustls;
mod served;

use served::{Handler, Served};

use weir_core::config::{self, Source};
use weir_driver::{Options, ShutdownHandle};

/// The driver end-to-end tests run weir on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Driver {
    /// `weir-mio`, the `weir` binary's.
    Mio,
    /// `weir-smol`.
    Smol,
}

thread_local! {
    static DRIVER: Cell<Driver> = const { Cell::new(Driver::Mio) };
}

/// Runs `test` with every [`Lb`] it starts on `driver`.
pub fn on(driver: Driver, test: fn()) {
    DRIVER.set(driver);
    test();
}

/// Declares each listed function as a test on each driver: `mio::NAME`
/// and `smol::NAME` run the same body.
#[macro_export]
macro_rules! on_both_drivers {
    ($($name:ident),* $(,)?) => {
        mod mio {
            $(#[test]
            fn $name() {
                $crate::on($crate::Driver::Mio, super::$name)
            })*
        }
        mod smol {
            $(#[test]
            fn $name() {
                $crate::on($crate::Driver::Smol, super::$name)
            })*
        }
    };
}

/// How long any test waits for a condition before failing.
pub const PATIENCE: Duration = Duration::from_secs(30);

/// Polls `cond` every few milliseconds until it holds or `PATIENCE` passes.
pub fn wait_until(mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + PATIENCE;
    while Instant::now() < deadline {
        if cond() {
            return true;
        }
        thread::sleep(Duration::from_millis(5));
    }
    cond()
}

/// FNV-1a, to compare large transfers without keeping them.
#[derive(Clone, Copy)]
pub struct Fnv(u64);

impl Default for Fnv {
    fn default() -> Self {
        Fnv(0xcbf2_9ce4_8422_2325)
    }
}

impl Fnv {
    /// Adds bytes to the hash.
    pub fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 ^ u64::from(b)).wrapping_mul(0x100_0000_01b3);
        }
    }

    /// The hash so far.
    pub fn finish(self) -> u64 {
        self.0
    }
}

/// A deterministic, non-repeating-looking byte stream of `len` bytes.
pub fn pattern(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

/// An echo server on a thread for the rest of the process: echoes, then
/// FIN after the client's FIN. Returns its port.
pub fn echo_server() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("echo server binds");
    let port = listener.local_addr().expect("echo server port").port();
    thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            thread::spawn(move || {
                let mut reader = stream.try_clone()?;
                let mut writer = stream;
                io::copy(&mut reader, &mut writer)?;
                writer.shutdown(Shutdown::Write)
            });
        }
    });
    port
}

/// weir running in-process on a thread, stopped when dropped.
pub struct Lb {
    /// Where the first frontend listens.
    pub addr: SocketAddr,
    logs: Arc<Mutex<Vec<(Instant, String)>>>,
    stop: ShutdownHandle,
    thread: Option<JoinHandle<io::Result<()>>>,
}

impl Lb {
    /// Parses `text` (its binds are moved to 127.0.0.1 with a free port)
    /// and starts weir on it, on the driver the running test was declared
    /// for (see [`on`]; mio outside a test).
    pub fn start(text: &str) -> Lb {
        Lb::start_on(DRIVER.get(), text)
    }

    /// [`Lb::start`] on `driver`.
    pub fn start_on(driver: Driver, text: &str) -> Lb {
        let parsed = config::parse(
            &[Source {
                name: "test.cfg",
                text: text.as_bytes(),
            }],
            &mut |_| None,
        )
        .unwrap_or_else(|errors| panic!("config errors: {errors:?}"));
        let mut config = parsed.config;
        config
            .load_files(&mut |path| std::fs::read(path).map_err(|e| e.to_string()))
            .unwrap_or_else(|errors| panic!("config files: {errors:?}"));
        for frontend in &mut config.frontends {
            for bind in &mut frontend.binds {
                bind.addr = SocketAddr::from(([127, 0, 0, 1], 0));
            }
        }
        let logs = Arc::new(Mutex::new(Vec::new()));
        let sink = logs.clone();
        let options = Options {
            seed: Some(1),
            handle_signals: false,
            log_hook: Some(Box::new(move |line| {
                sink.lock()
                    .unwrap()
                    .push((Instant::now(), line.text.clone()));
            })),
            ..Options::default()
        };
        // weir is built on its own thread: nothing it holds must be Send.
        let (started, bound) = std::sync::mpsc::channel();
        let thread = Some(thread::spawn(move || match driver {
            Driver::Mio => {
                let weir = weir_mio::Weir::bind(config, options)?;
                let _ = started.send((weir.local_addrs()[0], weir.shutdown_handle()));
                weir.run()
            }
            Driver::Smol => {
                let weir = weir_smol::Weir::bind(config, options)?;
                let _ = started.send((weir.local_addrs()[0], weir.shutdown_handle()));
                smol::block_on(weir.run())
            }
        }));
        let (addr, stop) = bound.recv().expect("weir binds");
        Lb {
            addr,
            logs,
            stop,
            thread,
        }
    }

    /// Every log line so far.
    pub fn logs(&self) -> Vec<String> {
        self.logs
            .lock()
            .unwrap()
            .iter()
            .map(|(_, l)| l.clone())
            .collect()
    }

    /// When a line starting with `prefix` was first logged.
    pub fn first_seen(&self, prefix: &str) -> Option<Instant> {
        let logs = self.logs.lock().unwrap();
        logs.iter()
            .find(|(_, l)| l.starts_with(prefix))
            .map(|(at, _)| *at)
    }

    /// Waits for a log line containing `needle`.
    pub fn wait_log(&self, needle: &str) -> bool {
        wait_until(|| self.logs().iter().any(|l| l.contains(needle)))
    }

    /// Connects a client.
    pub fn connect(&self) -> TcpStream {
        let stream = TcpStream::connect(self.addr).expect("connect to weir");
        stream.set_read_timeout(Some(PATIENCE)).unwrap();
        stream
    }
}

impl Drop for Lb {
    fn drop(&mut self) {
        self.stop.shutdown();
        if let Some(thread) = self.thread.take() {
            let result = thread.join();
            if !thread::panicking() {
                result.expect("weir thread").expect("weir run");
            }
        }
    }
}

/// What a backend stand-in does with each connection.
#[derive(Clone, Copy, Debug)]
pub enum Behavior {
    /// Sends back every byte, then FIN after the client's FIN.
    Echo,
    /// Writes its name and a newline, then echoes.
    Name,
    /// Reads until FIN, then answers `<bytes> <fnv1a hex>\n` and closes.
    Digest,
    /// Writes its name and a newline and closes at once.
    Greet,
    /// Reads a first line: `GET /healthcheck ...` is answered with the
    /// status set by [`Backend::set_health`] (200 at first); any other line
    /// with the backend's name and a newline. Then closes.
    Http,
}

/// A TCP server on 127.0.0.1 that can be killed and restarted on its port.
pub struct Backend {
    /// Its name, as written by [`Behavior::Name`] and [`Behavior::Greet`].
    pub name: String,
    /// Its address.
    pub addr: SocketAddr,
    health: Arc<AtomicU16>,
    gauge: Arc<Gauge>,
    served: Served,
}

/// Connections being handled now, and the most ever at once.
#[derive(Default)]
struct Gauge {
    live: AtomicUsize,
    peak: AtomicUsize,
}

impl Gauge {
    fn enter(&self) {
        let now = self.live.fetch_add(1, Ordering::SeqCst) + 1;
        self.peak.fetch_max(now, Ordering::SeqCst);
    }

    fn leave(&self) {
        self.live.fetch_sub(1, Ordering::SeqCst);
    }
}

impl Backend {
    /// Starts a backend on a free port.
    pub fn start(name: &str, behavior: Behavior) -> Backend {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind backend");
        Self::serve(name, behavior, listener)
    }

    /// A port that refuses connections for as long as the returned socket
    /// lives: bound, never listening, so no other test can take it.
    pub fn refusing_port() -> (socket2::Socket, u16) {
        use socket2::{Domain, Socket, Type};
        let socket = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
        socket
            .bind(&SocketAddr::from(([127, 0, 0, 1], 0)).into())
            .unwrap();
        let port = socket.local_addr().unwrap().as_socket().unwrap().port();
        (socket, port)
    }

    /// Serves `listener` (for fixed ports, as in the demo).
    pub fn serve(name: &str, behavior: Behavior, listener: TcpListener) -> Backend {
        let health = Arc::new(AtomicU16::new(200));
        let gauge = Arc::new(Gauge::default());
        let (label, status, live) = (name.to_owned(), health.clone(), gauge.clone());
        let handler: Handler = Arc::new(move |stream| {
            live.enter();
            let _ = handle(stream, &label, behavior, status.load(Ordering::SeqCst));
            live.leave();
        });
        let served = Served::start(listener, handler);
        Backend {
            name: name.to_owned(),
            addr: served.addr,
            health,
            gauge,
            served,
        }
    }

    /// The status [`Behavior::Http`] answers health checks with.
    pub fn set_health(&self, status: u16) {
        self.health.store(status, Ordering::SeqCst);
    }

    /// The most connections this backend handled at once.
    pub fn peak(&self) -> usize {
        self.gauge.peak.load(Ordering::SeqCst)
    }

    /// The port, for config text.
    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// Closes the listener and every connection, like a crashed process.
    pub fn kill(&mut self) {
        self.served.kill();
    }

    /// Listens again on the same port.
    pub fn restart(&mut self) {
        self.served.restart();
    }
}

fn handle(mut stream: TcpStream, name: &str, behavior: Behavior, health: u16) -> io::Result<()> {
    let mut buf = vec![0; 64 * 1024];
    match behavior {
        Behavior::Http => {
            let line = read_line(&mut stream)?;
            let reply = if line.starts_with("GET /healthcheck ") {
                format!("HTTP/1.0 {health} Status\r\nContent-Length: 0\r\n\r\n")
            } else {
                format!("{name}\n")
            };
            stream.write_all(reply.as_bytes())?;
            return stream.shutdown(Shutdown::Both);
        }
        Behavior::Greet => {
            stream.write_all(format!("{name}\n").as_bytes())?;
            // Shut down explicitly: `kill`'s clone keeps the socket open.
            return stream.shutdown(Shutdown::Both);
        }
        Behavior::Name => stream.write_all(format!("{name}\n").as_bytes())?,
        Behavior::Echo => {}
        Behavior::Digest => {
            let (mut len, mut hash) = (0u64, Fnv::default());
            loop {
                let n = stream.read(&mut buf)?;
                if n == 0 {
                    break;
                }
                len += n as u64;
                hash.write(&buf[..n]);
            }
            stream.write_all(format!("{len} {:016x}\n", hash.finish()).as_bytes())?;
            return stream.shutdown(Shutdown::Write);
        }
    }
    loop {
        let n = stream.read(&mut buf)?;
        if n == 0 {
            return stream.shutdown(Shutdown::Write);
        }
        stream.write_all(&buf[..n])?;
    }
}

/// Reads one line (up to `\n`, without it) from a stream.
pub fn read_line(stream: &mut TcpStream) -> io::Result<String> {
    let mut line = Vec::new();
    let mut byte = [0u8];
    loop {
        match stream.read(&mut byte)? {
            0 => break,
            _ if byte[0] == b'\n' => break,
            _ => line.push(byte[0]),
        }
    }
    String::from_utf8(line).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
}
