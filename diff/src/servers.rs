//! The servers the tool plays: each accepts on its own port (or, with an
//! `ip`, on its own loopback address at a port shared with the others that
//! have one), runs its script on every connection and records what the
//! peer sent and how the connection ended.

use std::collections::BTreeMap;
use std::io::{self, ErrorKind, Read, Write};
use std::net::{IpAddr, Ipv4Addr, Shutdown, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, IsCa, Issuer, KeyPair,
};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use rustls::{ServerConfig, ServerConnection};

use crate::scenario::{Action, ServerSpec, parse_script};

/// The longest any connection handler lives.
const HANDLER_LIMIT: Duration = Duration::from_secs(20);

/// What one connection to a played server carried.
#[derive(Clone, Debug)]
pub struct ConnRecord {
    /// The bytes the peer sent (decrypted on TLS).
    pub received: Vec<u8>,
    /// How the connection ended, from the server's side.
    pub end: String,
    /// TLS details (`sni=... alpn=...`) when the server spoke TLS.
    pub tls: Option<String>,
    /// The peer's address when it is not 127.0.0.1 (`source`).
    pub from: Option<IpAddr>,
}

impl ConnRecord {
    /// ` from IP` when the peer's address is not 127.0.0.1, else nothing.
    pub fn peer_text(&self) -> String {
        self.from
            .map(|ip| format!(" from {ip}"))
            .unwrap_or_default()
    }
}

/// A CA and one server certificate, written as PEM files.
pub struct Pki {
    /// The CA certificate (`{{ca}}`).
    pub ca_file: PathBuf,
    /// The server certificate followed by its key (`{{crt}}`).
    pub crt_file: PathBuf,
    config: Arc<ServerConfig>,
}

impl Pki {
    /// Generates the CA and a certificate for `localhost`/`127.0.0.1` in `dir`.
    pub fn generate(dir: &Path) -> Result<Pki, String> {
        let e = |e: rcgen::Error| e.to_string();
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).map_err(e)?;
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        // Distinct names: OpenSSL takes a certificate whose issuer is its
        // own subject for a self-signed one and refuses it.
        ca_params.distinguished_name = DistinguishedName::new();
        ca_params
            .distinguished_name
            .push(DnType::CommonName, "weir-diff CA");
        let ca_key = KeyPair::generate().map_err(e)?;
        let ca = ca_params.self_signed(&ca_key).map_err(e)?;
        let key = KeyPair::generate().map_err(e)?;
        let mut params =
            CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()])
                .map_err(e)?;
        params.distinguished_name = DistinguishedName::new();
        params
            .distinguished_name
            .push(DnType::CommonName, "localhost");
        let cert = params
            .signed_by(&key, &Issuer::from_params(&ca_params, &ca_key))
            .map_err(e)?;
        let ca_file = dir.join("ca.pem");
        let crt_file = dir.join("server.pem");
        let io = |e: io::Error| e.to_string();
        std::fs::write(&ca_file, ca.pem()).map_err(io)?;
        std::fs::write(&crt_file, format!("{}{}", cert.pem(), key.serialize_pem())).map_err(io)?;
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| e.to_string())?
            .with_no_client_auth()
            .with_single_cert(
                vec![cert.der().clone(), CertificateDer::from(ca.der().to_vec())],
                PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())),
            )
            .map_err(|e| e.to_string())?;
        Ok(Pki {
            ca_file,
            crt_file,
            config: Arc::new(config),
        })
    }
}

struct Played {
    addr: SocketAddr,
    spec: Mutex<ServerSpec>,
    accepted: AtomicUsize,
    records: Mutex<Vec<(usize, ConnRecord)>>,
}

/// All played servers of one run.
pub struct Servers {
    played: BTreeMap<String, Arc<Played>>,
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
    /// The connections that keep blackhole backlogs full.
    _fillers: Vec<TcpStream>,
}

impl Servers {
    /// Starts one accept loop per server on a kernel-chosen port.
    pub fn start(specs: &BTreeMap<String, ServerSpec>, pki: &Pki) -> io::Result<Servers> {
        let stop = Arc::new(AtomicBool::new(false));
        let mut played = BTreeMap::new();
        let mut threads = Vec::new();
        let mut fillers = Vec::new();
        let mut listeners = shared_port(specs, &mut fillers)?;
        for (name, spec) in specs {
            let listener = match listeners.remove(name) {
                Some(l) => l,
                None if spec.blackhole => blackhole(Ipv4Addr::LOCALHOST, 0, &mut fillers)?,
                None => TcpListener::bind("127.0.0.1:0")?,
            };
            let server = Arc::new(Played {
                addr: listener.local_addr()?,
                spec: Mutex::new(spec.clone()),
                accepted: AtomicUsize::new(0),
                records: Mutex::new(Vec::new()),
            });
            played.insert(name.clone(), server.clone());
            let (stop, tls, name) = (stop.clone(), pki.config.clone(), name.clone());
            threads.push(thread::spawn(move || {
                accept_loop(name, server, listener, stop, tls)
            }));
        }
        Ok(Servers {
            played,
            stop,
            threads,
            _fillers: fillers,
        })
    }

    /// Each server's name and address.
    pub fn addrs(&self) -> impl Iterator<Item = (&str, SocketAddr)> {
        self.played.iter().map(|(n, p)| (n.as_str(), p.addr))
    }

    /// How many connections `name` accepted so far.
    pub fn accepted(&self, name: &str) -> usize {
        self.played
            .get(name)
            .map_or(0, |p| p.accepted.load(Ordering::SeqCst))
    }

    /// Gives `name` a new behaviour for its next connections.
    pub fn set(&self, name: &str, spec: ServerSpec) {
        if let Some(p) = self.played.get(name) {
            let mut current = lock(&p.spec);
            let mask = std::mem::take(&mut current.mask);
            let (ignore_bytes, ip) = (current.ignore_bytes, current.ip);
            *current = ServerSpec {
                mask,
                ignore_bytes,
                ip,
                ..spec
            };
        }
    }

    /// Stops every loop and handler and returns each server's records in
    /// accept order, masked as the scenario asks.
    pub fn finish(mut self) -> BTreeMap<String, Vec<ConnRecord>> {
        self.stop.store(true, Ordering::SeqCst);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
        self.played
            .iter()
            .map(|(name, p)| {
                let (mask, ignore) = {
                    let spec = lock(&p.spec);
                    (spec.mask.clone(), spec.ignore_bytes)
                };
                let mut records = std::mem::take(&mut *lock(&p.records));
                records.sort_by_key(|(seq, _)| *seq);
                let records = records
                    .into_iter()
                    .map(|(_, mut r)| {
                        if ignore {
                            r.received.clear();
                        }
                        for [from, to] in &mask {
                            for b in r.received.iter_mut().take(*to).skip(*from) {
                                *b = b'.';
                            }
                        }
                        r
                    })
                    .collect();
                (name.clone(), records)
            })
            .collect()
    }
}

/// How many ports are tried for the servers with an `ip`.
const SHARED_PORT_TRIES: usize = 20;

/// Listeners of the servers with an `ip`, all on one port: the first binds
/// a kernel-chosen port, the others the same port on their address (tried
/// again with another port when one is taken).
fn shared_port(
    specs: &BTreeMap<String, ServerSpec>,
    fillers: &mut Vec<TcpStream>,
) -> io::Result<BTreeMap<String, TcpListener>> {
    let with_ip: Vec<(&String, &ServerSpec, Ipv4Addr)> = specs
        .iter()
        .filter_map(|(n, s)| s.ip.map(|ip| (n, s, ip)))
        .collect();
    let mut last_error = None;
    for _ in 0..SHARED_PORT_TRIES {
        let mut out = BTreeMap::new();
        let mut port = 0;
        let mut failed = false;
        for &(name, spec, ip) in &with_ip {
            let bound = if spec.blackhole {
                blackhole(ip, port, fillers)
            } else {
                TcpListener::bind((ip, port))
            };
            match bound.and_then(|l| Ok((l.local_addr()?.port(), l))) {
                Ok((p, l)) => {
                    port = p;
                    out.insert(name.clone(), l);
                }
                Err(e) => {
                    last_error = Some(e);
                    failed = true;
                    break;
                }
            }
        }
        if !failed {
            return Ok(out);
        }
    }
    Err(last_error.unwrap_or_else(|| io::Error::other("no shared port")))
}

/// A listener with a backlog of 0 filled by connections of our own, so that
/// the kernel drops further SYNs and connects time out.
fn blackhole(ip: Ipv4Addr, port: u16, fillers: &mut Vec<TcpStream>) -> io::Result<TcpListener> {
    let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None)?;
    socket.bind(&SocketAddr::from((ip, port)).into())?;
    socket.listen(0)?;
    let listener: TcpListener = socket.into();
    let addr = listener.local_addr()?;
    for _ in 0..2 {
        if let Ok(s) = TcpStream::connect_timeout(&addr, Duration::from_millis(200)) {
            fillers.push(s);
        }
    }
    Ok(listener)
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn accept_loop(
    name: String,
    server: Arc<Played>,
    listener: TcpListener,
    stop: Arc<AtomicBool>,
    tls: Arc<ServerConfig>,
) {
    let addr = server.addr;
    let mut listener = Some(listener);
    let mut handlers = Vec::new();
    while !stop.load(Ordering::SeqCst) {
        let spec = lock(&server.spec).clone();
        if spec.blackhole {
            thread::sleep(Duration::from_millis(5));
            continue;
        }
        if spec.refuse {
            listener = None;
        } else if listener.is_none() {
            listener = TcpListener::bind(addr).ok();
        }
        let Some(l) = &listener else {
            thread::sleep(Duration::from_millis(5));
            continue;
        };
        let _ = l.set_nonblocking(true);
        match l.accept() {
            Ok((stream, peer)) => {
                let seq = server.accepted.fetch_add(1, Ordering::SeqCst);
                let (server, stop, tls, name) =
                    (server.clone(), stop.clone(), tls.clone(), name.clone());
                let from = Some(peer.ip()).filter(|ip| *ip != IpAddr::V4(Ipv4Addr::LOCALHOST));
                handlers.push(thread::spawn(move || {
                    let record = handle(stream, &name, &spec, tls, &stop);
                    let record = ConnRecord { from, ..record };
                    lock(&server.records).push((seq, record));
                }));
            }
            Err(_) => thread::sleep(Duration::from_millis(5)),
        }
    }
    for h in handlers {
        let _ = h.join();
    }
}

/// The bytes of one connection, plain or TLS.
enum Link {
    Plain(TcpStream),
    Tls(Box<rustls::StreamOwned<ServerConnection, TcpStream>>),
}

impl Link {
    fn tcp(&self) -> &TcpStream {
        match self {
            Link::Plain(s) => s,
            Link::Tls(s) => &s.sock,
        }
    }

    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Link::Plain(s) => s.read(buf),
            Link::Tls(s) => s.read(buf),
        }
    }

    fn write_all(&mut self, bytes: &[u8]) -> io::Result<()> {
        match self {
            Link::Plain(s) => s.write_all(bytes),
            Link::Tls(s) => s.write_all(bytes).and_then(|_| s.flush()),
        }
    }

    fn tls_details(&self) -> Option<String> {
        let Link::Tls(s) = self else { return None };
        let alpn = s
            .conn
            .alpn_protocol()
            .map(|a| String::from_utf8_lossy(a).into_owned());
        Some(format!(
            "sni={} alpn={}",
            s.conn.server_name().unwrap_or("-"),
            alpn.as_deref().unwrap_or("-")
        ))
    }

    /// Names an IO error the way the report shows it.
    fn describe(&self, e: &io::Error) -> String {
        let handshaking = matches!(self, Link::Tls(s) if s.conn.is_handshaking());
        let what = match e.kind() {
            ErrorKind::UnexpectedEof if matches!(self, Link::Tls(_)) => {
                "fin without close_notify".to_owned()
            }
            ErrorKind::ConnectionReset => "reset".to_owned(),
            ErrorKind::WouldBlock | ErrorKind::TimedOut => "still open".to_owned(),
            _ => format!("error: {e}"),
        };
        if handshaking {
            format!("{what} during the TLS handshake")
        } else {
            what
        }
    }
}

fn handle(
    stream: TcpStream,
    name: &str,
    spec: &ServerSpec,
    tls: Arc<ServerConfig>,
    stop: &AtomicBool,
) -> ConnRecord {
    let _ = stream.set_nonblocking(false);
    let _ = stream.set_read_timeout(Some(Duration::from_millis(50)));
    let mut link = if spec.tls {
        match ServerConnection::new(tls) {
            Ok(conn) => Link::Tls(Box::new(rustls::StreamOwned::new(conn, stream))),
            Err(e) => {
                return ConnRecord {
                    received: Vec::new(),
                    end: format!("tls setup: {e}"),
                    tls: None,
                    from: None,
                };
            }
        }
    } else {
        Link::Plain(stream)
    };
    let mut received = Vec::new();
    let script = parse_script(&spec.script).unwrap_or_default();
    let deadline = Instant::now() + HANDLER_LIMIT;
    let mut end = None;
    for action in &script {
        let outcome = run_action(&mut link, action, name, &mut received, deadline, stop);
        if let Some(e) = outcome {
            end = Some(e);
            break;
        }
    }
    // No explicit end: wait for the peer's, then close.
    let end = end.unwrap_or_else(|| drain(&mut link, &mut received, deadline, stop));
    ConnRecord {
        received,
        tls: link.tls_details(),
        end,
        from: None,
    }
}

/// Runs one action; `Some(end)` when the connection is over.
fn run_action(
    link: &mut Link,
    action: &Action,
    name: &str,
    received: &mut Vec<u8>,
    deadline: Instant,
    stop: &AtomicBool,
) -> Option<String> {
    match action {
        Action::Recv => {
            let start = received.len();
            let quiet = Duration::from_millis(100);
            read_until(link, received, deadline, stop, |r, q| {
                r.len() > start && q >= quiet
            })
        }
        Action::RecvBytes(n) => read_until(link, received, deadline, stop, |r, _| r.len() >= *n),
        Action::RecvUntil(pat) => read_until(link, received, deadline, stop, |r, _| {
            !pat.is_empty() && r.windows(pat.len()).any(|w| w == pat.as_slice())
        }),
        Action::Send(bytes) => link
            .write_all(&replace(bytes, b"{{name}}", name.as_bytes()))
            .err()
            .map(|e| link.describe(&e)),
        Action::Sleep(d) => {
            thread::sleep(*d);
            None
        }
        Action::Close => {
            if let Link::Tls(s) = link {
                s.conn.send_close_notify();
                let _ = s.flush();
            }
            let _ = link.tcp().shutdown(Shutdown::Write);
            Some(format!(
                "server closed; then peer: {}",
                drain(link, received, deadline, stop)
            ))
        }
        Action::Reset => {
            let _ = socket2::SockRef::from(link.tcp()).set_linger(Some(Duration::ZERO));
            Some("server reset".to_owned())
        }
        Action::Hang => Some(drain(link, received, deadline, stop)),
    }
}

/// Reads until `done(received, quiet time)` holds; `Some(end)` if the
/// connection ended first.
fn read_until(
    link: &mut Link,
    received: &mut Vec<u8>,
    deadline: Instant,
    stop: &AtomicBool,
    done: impl Fn(&[u8], Duration) -> bool,
) -> Option<String> {
    let mut buf = [0u8; 4096];
    let mut last = Instant::now();
    let mut got_any = false;
    while Instant::now() < deadline && !stop.load(Ordering::SeqCst) {
        if done(
            received,
            if got_any {
                last.elapsed()
            } else {
                Duration::ZERO
            },
        ) {
            return None;
        }
        match link.read(&mut buf) {
            Ok(0) => return Some(peer_end(link)),
            Ok(n) => {
                received.extend_from_slice(&buf[..n]);
                last = Instant::now();
                got_any = true;
            }
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(e) => return Some(link.describe(&e)),
        }
    }
    Some("still open at the end".to_owned())
}

/// How the peer ended after a read of 0 bytes.
fn peer_end(link: &Link) -> String {
    match link {
        Link::Plain(_) => "fin".to_owned(),
        Link::Tls(_) => "close_notify".to_owned(),
    }
}

/// Reads until the peer ends the connection (or the bounds pass).
fn drain(link: &mut Link, received: &mut Vec<u8>, deadline: Instant, stop: &AtomicBool) -> String {
    let mut buf = [0u8; 4096];
    while Instant::now() < deadline && !stop.load(Ordering::SeqCst) {
        match link.read(&mut buf) {
            Ok(0) => {
                let end = peer_end(link);
                // After close_notify, see whether a FIN or a reset follows.
                if let Link::Tls(s) = link {
                    let mut tail = [0u8; 64];
                    return match s.sock.read(&mut tail) {
                        Ok(0) => format!("{end}, fin"),
                        Err(e) if e.kind() == ErrorKind::ConnectionReset => format!("{end}, reset"),
                        _ => end,
                    };
                }
                return end;
            }
            Ok(n) => received.extend_from_slice(&buf[..n]),
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(e) => return link.describe(&e),
        }
    }
    "still open at the end".to_owned()
}

/// `bytes` with every `from` replaced by `to`.
fn replace(bytes: &[u8], from: &[u8], to: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i..].starts_with(from) {
            out.extend_from_slice(to);
            i += from.len();
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    out
}
