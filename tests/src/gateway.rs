//! TLS gateway stand-ins and agents, for the seed's scenario: a CA made
//! per test run, HTTPS gateways with `GET /healthcheck` and `POST /upload`,
//! and agents that upload payloads over TLS, verifying the gateway.

use std::collections::HashSet;
use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU16, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName};
use rustls::{ClientConfig, ClientConnection, RootCertStore, ServerConfig, StreamOwned};

use crate::PATIENCE;
use crate::served::{Handler, Served};

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// A certificate authority made for one test, with its PEM on disk for as
/// long as it lives.
pub struct Pki {
    ca_params: CertificateParams,
    ca_key: KeyPair,
    ca_der: CertificateDer<'static>,
    /// The CA certificate file, for `ca-file`.
    pub ca_file: PathBuf,
}

impl Pki {
    /// A new CA; its certificate is written to a temporary file.
    pub fn new() -> Pki {
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(DnType::CommonName, format!("weir test CA {:x}", rand_tag()));
        let ca_key = KeyPair::generate().unwrap();
        let ca = ca_params.self_signed(&ca_key).unwrap();
        let dir = std::env::temp_dir().join(format!("weir-pki-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let ca_file = dir.join(format!("ca-{:x}.pem", rand_tag()));
        std::fs::write(&ca_file, ca.pem()).unwrap();
        Pki {
            ca_der: ca.der().clone(),
            ca_params,
            ca_key,
            ca_file,
        }
    }

    /// A server configuration for a gateway certificate naming `names`.
    pub fn server_config(&self, names: &[&str]) -> Arc<ServerConfig> {
        self.server_config_until(names, 4096)
    }

    /// Like [`Pki::server_config`], with a certificate that expired at the
    /// start of `year` when `year` is past.
    pub fn server_config_until(&self, names: &[&str], year: i32) -> Arc<ServerConfig> {
        let key = KeyPair::generate().unwrap();
        let mut params =
            CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>())
                .unwrap();
        params.not_before = rcgen::date_time_ymd(2000, 1, 1);
        params.not_after = rcgen::date_time_ymd(year, 1, 1);
        let issuer = Issuer::from_params(&self.ca_params, &self.ca_key);
        let cert = params.signed_by(&key, &issuer).unwrap();
        let config = ServerConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(
                vec![cert.der().clone()],
                PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())),
            )
            .unwrap();
        Arc::new(config)
    }

    /// A client configuration that trusts this CA only.
    pub fn client_config(&self) -> Arc<ClientConfig> {
        let mut roots = RootCertStore::empty();
        roots.add(self.ca_der.clone()).unwrap();
        let config = ClientConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();
        Arc::new(config)
    }
}

impl Default for Pki {
    fn default() -> Self {
        Pki::new()
    }
}

impl Drop for Pki {
    /// Removes the CA file, and the directory once no other test's CA is
    /// left in it.
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.ca_file);
        if let Some(dir) = self.ca_file.parent() {
            let _ = std::fs::remove_dir(dir);
        }
    }
}

fn rand_tag() -> u64 {
    use std::hash::{BuildHasher, RandomState};
    RandomState::new().hash_one(std::time::SystemTime::now())
}

struct GatewayState {
    health: AtomicU16,
    /// Milliseconds to wait before answering.
    delay_ms: AtomicU64,
    /// Accept connections but never answer (a stopped process).
    hang: AtomicBool,
    uploads: Mutex<Vec<String>>,
    /// `GET /healthcheck` requests answered.
    health_checks: AtomicUsize,
    /// Connections start with a PROXY protocol header.
    proxy: AtomicBool,
    /// The agents' addresses their PROXY headers gave, in order.
    agents: Mutex<Vec<SocketAddr>>,
}

/// An HTTPS gateway: `GET /healthcheck` answers the status set with
/// [`Gateway::set_health`]; `POST /upload` records the body as a payload id
/// and answers `200` with the gateway's name.
pub struct Gateway {
    /// Its name.
    pub name: String,
    /// Its address.
    pub addr: SocketAddr,
    state: Arc<GatewayState>,
    served: Served,
}

impl Gateway {
    /// Starts a gateway on a free port with a certificate for `gw.example`.
    pub fn start(name: &str, pki: &Pki) -> Gateway {
        Self::start_with(name, pki.server_config(&["gw.example"]))
    }

    /// [`Gateway::start`] with a long accept queue: a gateway slow to
    /// accept (on a loaded machine) never drops a SYN, which would hold a
    /// connect for the kernel's 1 s retransmission; pausing it
    /// ([`Gateway::set_black_hole`]) drops SYNs only once 128 wait.
    pub fn start_roomy(name: &str, pki: &Pki) -> Gateway {
        Self::listen(name, pki.server_config(&["gw.example"]), 128)
    }

    /// Starts a gateway presenting the certificate of `config`.
    pub fn start_with(name: &str, config: Arc<ServerConfig>) -> Gateway {
        // A one-slot accept queue, so a paused gateway soon drops SYNs.
        Self::listen(name, config, 1)
    }

    /// A gateway with `config`, `backlog` connections long accept queue.
    fn listen(name: &str, config: Arc<ServerConfig>, backlog: i32) -> Gateway {
        let socket =
            socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
        socket.set_reuse_address(true).unwrap();
        socket
            .bind(&SocketAddr::from(([127, 0, 0, 1], 0)).into())
            .unwrap();
        socket.listen(backlog).unwrap();
        let listener: TcpListener = socket.into();
        let state = Arc::new(GatewayState {
            health: AtomicU16::new(200),
            delay_ms: AtomicU64::new(0),
            hang: AtomicBool::new(false),
            uploads: Mutex::new(Vec::new()),
            health_checks: AtomicUsize::new(0),
            proxy: AtomicBool::new(false),
            agents: Mutex::new(Vec::new()),
        });
        let (shared, label) = (state.clone(), name.to_owned());
        let handler: Handler = Arc::new(move |stream| {
            let _ = serve_one(stream, config.clone(), &label, &shared);
        });
        let served = Served::start(listener, handler);
        Gateway {
            name: name.to_owned(),
            addr: served.addr,
            state,
            served,
        }
    }

    /// The port, for config text.
    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// The status `GET /healthcheck` answers with.
    pub fn set_health(&self, status: u16) {
        self.state.health.store(status, Ordering::SeqCst);
    }

    /// Hangs (`true`): new connections are accepted and never answered,
    /// like a stopped process whose kernel still completes handshakes.
    pub fn set_hang(&self, hang: bool) {
        self.state.hang.store(hang, Ordering::SeqCst);
    }

    /// Answers every request `delay` late (a slow gateway).
    pub fn set_delay(&self, delay: Duration) {
        self.state
            .delay_ms
            .store(delay.as_millis() as u64, Ordering::SeqCst);
    }

    /// Black hole (`true`): stops accepting; once the kernel's small
    /// accept queue is full, new connection attempts get no answer at all.
    pub fn set_black_hole(&self, on: bool) {
        self.served.set_paused(on);
    }

    /// Reads a PROXY protocol header (`true`) first on every connection, as
    /// a gateway behind `send-proxy` does to log its agents' addresses.
    pub fn expect_proxy(&self, on: bool) {
        self.state.proxy.store(on, Ordering::SeqCst);
    }

    /// The agents' addresses the PROXY headers gave so far (health checks,
    /// whose headers carry none, are not in it).
    pub fn agents(&self) -> Vec<SocketAddr> {
        self.state.agents.lock().unwrap().clone()
    }

    /// How many `GET /healthcheck` requests it answered so far.
    pub fn health_checks(&self) -> usize {
        self.state.health_checks.load(Ordering::SeqCst)
    }

    /// Payload ids received so far.
    pub fn uploads(&self) -> Vec<String> {
        self.state.uploads.lock().unwrap().clone()
    }

    /// Closes the listener and every connection, like a crashed process.
    pub fn kill(&mut self) {
        self.served.kill();
    }

    /// Listens again on the same port, with the same certificate.
    pub fn restart(&mut self) {
        self.served.restart();
    }
}

fn serve_one(
    stream: TcpStream,
    config: Arc<ServerConfig>,
    name: &str,
    state: &GatewayState,
) -> io::Result<()> {
    if state.hang.load(Ordering::SeqCst) {
        // Hold the connection, silent, until the gateway heals (bounded).
        let deadline = std::time::Instant::now() + PATIENCE;
        while state.hang.load(Ordering::SeqCst) && std::time::Instant::now() < deadline {
            thread::sleep(Duration::from_millis(10));
        }
        return Ok(());
    }
    let mut stream = stream;
    if state.proxy.load(Ordering::SeqCst) {
        if let Some((agent, _)) = read_proxy_header(&mut stream)? {
            state.agents.lock().unwrap().push(agent);
        }
    }
    let conn = rustls::ServerConnection::new(config).map_err(io::Error::other)?;
    let mut tls = StreamOwned::new(conn, stream);
    let (head, body) = read_request(&mut tls)?;
    thread::sleep(Duration::from_millis(state.delay_ms.load(Ordering::SeqCst)));
    if let Some(n) = download_size(&head) {
        // `GET /bytes/N`: N bytes of `pattern`, then close_notify and FIN.
        let head = format!("HTTP/1.0 200 OK\r\nContent-Length: {n}\r\n\r\n");
        tls.write_all(head.as_bytes())?;
        tls.write_all(&pattern(n))?;
        tls.conn.send_close_notify();
        tls.flush()?;
        return tls.sock.shutdown(Shutdown::Both);
    }
    let reply = if head.starts_with("GET /healthcheck ") {
        let status = state.health.load(Ordering::SeqCst);
        format!("HTTP/1.0 {status} Health\r\nContent-Length: 0\r\n\r\n")
    } else if head.starts_with("POST /upload ") {
        state
            .uploads
            .lock()
            .unwrap()
            .push(String::from_utf8_lossy(&body).into_owned());
        format!(
            "HTTP/1.0 200 OK\r\nContent-Length: {}\r\n\r\n{name}",
            name.len()
        )
    } else {
        "HTTP/1.0 400 Bad Request\r\nContent-Length: 0\r\n\r\n".to_owned()
    };
    tls.write_all(reply.as_bytes())?;
    tls.conn.send_close_notify();
    tls.flush()?;
    if head.starts_with("GET /healthcheck ") {
        state.health_checks.fetch_add(1, Ordering::SeqCst);
    }
    tls.sock.shutdown(Shutdown::Both)
}

/// Reads a PROXY protocol header (version 1 or 2) byte by byte, so that
/// nothing after it is taken: its addresses, `None` for `LOCAL` and
/// `UNKNOWN`.
fn read_proxy_header(stream: &mut TcpStream) -> io::Result<Option<(SocketAddr, SocketAddr)>> {
    use weir_core::proxy_protocol::{MAX_V2_LEN, decode};
    let mut header = Vec::new();
    let mut byte = [0u8];
    while header.len() < MAX_V2_LEN {
        stream.read_exact(&mut byte)?;
        header.push(byte[0]);
        match decode(&header, MAX_V2_LEN) {
            Ok(None) => {}
            Ok(Some(decoded)) => return Ok(decoded.addrs),
            Err(e) => return Err(io::Error::other(e.to_string())),
        }
    }
    Err(io::Error::other("PROXY header too long"))
}

/// N of a `GET /bytes/N` request.
fn download_size(head: &str) -> Option<usize> {
    head.strip_prefix("GET /bytes/")?
        .split_once(' ')?
        .0
        .parse()
        .ok()
}

/// The `n` bytes a `GET /bytes/n` answers.
pub fn pattern(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i % 251) as u8).collect()
}

/// Downloads `n` bytes in plain HTTP (for `ssl` servers, where weir does
/// the TLS); returns the body received.
pub fn download_plain(addr: SocketAddr, n: usize) -> io::Result<Vec<u8>> {
    let mut stream = TcpStream::connect(addr)?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    stream.write_all(format!("GET /bytes/{n} HTTP/1.0\r\n\r\n").as_bytes())?;
    let mut reply = Vec::new();
    stream.read_to_end(&mut reply)?;
    let end = reply
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| io::Error::other("no reply head"))?;
    Ok(reply.split_off(end + 4))
}

/// Reads an HTTP request: its head and its body (by Content-Length).
fn read_request(stream: &mut impl Read) -> io::Result<(String, Vec<u8>)> {
    let mut data = Vec::new();
    let mut byte = [0u8; 1];
    while !data.ends_with(b"\r\n\r\n") {
        if stream.read(&mut byte)? == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        data.push(byte[0]);
    }
    let head = String::from_utf8_lossy(&data).into_owned();
    let len = head
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case("content-length")
                .then(|| v.trim().parse::<usize>().ok())?
        })
        .unwrap_or(0);
    let mut body = vec![0; len];
    stream.read_exact(&mut body)?;
    Ok((head, body))
}

/// What happened to one upload attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Attempt {
    /// The gateway with this name acknowledged it.
    Delivered(String),
    /// The attempt failed, and how.
    Failed(String),
}

/// Uploads `id` over a new TLS connection to `addr`, verifying a
/// `gw.example` certificate against the test CA.
pub fn upload(addr: SocketAddr, client: &Arc<ClientConfig>, id: &str) -> Attempt {
    upload_from(addr, client, id).0
}

/// As [`upload`], with the agent's own address (its source, as a PROXY
/// header would report it).
pub fn upload_from(
    addr: SocketAddr,
    client: &Arc<ClientConfig>,
    id: &str,
) -> (Attempt, Option<SocketAddr>) {
    let mut source = None;
    let mut attempt = || -> io::Result<String> {
        let stream = TcpStream::connect(addr)?;
        source = stream.local_addr().ok();
        stream.set_read_timeout(Some(Duration::from_secs(10)))?;
        let name = ServerName::try_from("gw.example").unwrap();
        let conn = ClientConnection::new(client.clone(), name).map_err(io::Error::other)?;
        let mut tls = StreamOwned::new(conn, stream);
        let request = format!(
            "POST /upload HTTP/1.0\r\nHost: gw.example\r\nContent-Length: {}\r\n\r\n{id}",
            id.len()
        );
        tls.write_all(request.as_bytes())?;
        let mut reply = Vec::new();
        match tls.read_to_end(&mut reply) {
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof && !reply.is_empty() => {}
            Err(e) => return Err(e),
        }
        let text = String::from_utf8_lossy(&reply).into_owned();
        match text.split_once("\r\n\r\n") {
            Some((head, name)) if head.starts_with("HTTP/1.0 200") => Ok(name.to_owned()),
            _ => Err(io::Error::other(format!("unexpected reply {text:?}"))),
        }
    };
    let attempt = match attempt() {
        Ok(name) => Attempt::Delivered(name),
        Err(e) => Attempt::Failed(e.to_string()),
    };
    (attempt, source)
}

/// Uploads `id` in plain HTTP (for `ssl` servers, where weir does the TLS).
pub fn upload_plain(addr: SocketAddr, id: &str) -> Attempt {
    let attempt = || -> io::Result<String> {
        let mut stream = TcpStream::connect(addr)?;
        stream.set_read_timeout(Some(Duration::from_secs(10)))?;
        let request = format!(
            "POST /upload HTTP/1.0\r\nContent-Length: {}\r\n\r\n{id}",
            id.len()
        );
        stream.write_all(request.as_bytes())?;
        let mut reply = String::new();
        stream.read_to_string(&mut reply)?;
        match reply.split_once("\r\n\r\n") {
            Some((head, name)) if head.starts_with("HTTP/1.0 200") => Ok(name.to_owned()),
            _ => Err(io::Error::other(format!("unexpected reply {reply:?}"))),
        }
    };
    match attempt() {
        Ok(name) => Attempt::Delivered(name),
        Err(e) => Attempt::Failed(e.to_string()),
    }
}

/// Every id delivered exactly once across `gateways`: the ids that were
/// lost and those delivered more than once.
pub fn audit(ids: &[String], gateways: &[&Gateway]) -> (Vec<String>, Vec<String>) {
    let mut seen = HashSet::new();
    let mut duplicated = Vec::new();
    for id in gateways.iter().flat_map(|g| g.uploads()) {
        if !seen.insert(id.clone()) {
            duplicated.push(id);
        }
    }
    let lost = ids
        .iter()
        .filter(|id| !seen.contains(*id))
        .cloned()
        .collect();
    (lost, duplicated)
}
