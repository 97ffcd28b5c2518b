//! A run's whole setup, drawn from its seed: weir's configuration (as
//! HAProxy text), the servers, the clients and the faults.

use std::fmt::Write;
use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

use crate::faults::{self, Fault};
use crate::payload::Mode;
use crate::rng::{self, Rng};
use crate::runtime::{self, Command, Op};

/// Where weir listens.
pub const LISTEN: SocketAddr =
    SocketAddr::new(std::net::IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)), 443);
/// The path `ca-file` names; the run's loader answers it.
pub const CA_FILE: &str = "/sim/ca.pem";
/// Servers' traffic port.
pub(crate) const TRAFFIC_PORT: u16 = 443;
/// Servers' health-check port, when checks use their own.
const CHECK_PORT: u16 = 8443;

/// How weir checks the servers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Check {
    /// No `check`.
    None,
    /// A TCP connect.
    Tcp,
    /// A TLS handshake (`check-ssl` without `option httpchk`).
    Tls,
    /// `option httpchk GET /healthcheck` in clear.
    Http,
    /// `option httpchk GET /healthcheck` over TLS (`check-ssl`), as in the
    /// seed configuration.
    Https,
}

impl Check {
    /// Whether checks read an answer (so a hung or 503 server fails them).
    pub fn reads_answer(self) -> bool {
        matches!(self, Check::Tls | Check::Http | Check::Https)
    }

    /// Whether the answer is an HTTP status (so a 503 fails them).
    pub fn is_http(self) -> bool {
        matches!(self, Check::Http | Check::Https)
    }
}

/// One simulated server.
#[derive(Debug, Clone)]
pub struct ServerSpec {
    /// Its name in the configuration.
    pub name: String,
    /// Its host name, resolved by the run's resolver.
    pub host: String,
    /// Its traffic address.
    pub addr: SocketAddr,
    /// Where its checks connect.
    pub check_addr: SocketAddr,
    /// One-way latency between weir and it.
    pub latency: Duration,
    /// Socket window of its connections.
    pub window: usize,
    /// How long it thinks before a gateway reply.
    pub think: Duration,
    /// A `backup` server.
    pub backup: bool,
}

/// One simulated client connection.
#[derive(Debug, Clone)]
pub struct ClientSpec {
    /// When it connects.
    pub start: Duration,
    /// How the server answers it.
    pub mode: Mode,
    /// Body length.
    pub len: u32,
    /// Largest write.
    pub chunk: usize,
    /// Pause between writes.
    pub pause: Duration,
    /// A slow reader: at most this many bytes per this pause.
    pub slow_read: Option<(usize, Duration)>,
    /// Resets its connection this long after connecting (if not done).
    pub vanish_after: Option<Duration>,
    /// One-way latency between it and weir.
    pub latency: Duration,
    /// Socket window of its connection.
    pub window: usize,
    /// Its address (unique: tcplog lines name it).
    pub addr: SocketAddr,
}

/// Everything a run is made of.
#[derive(Debug, Clone)]
pub struct Scenario {
    /// The run's seed.
    pub seed: u64,
    /// weir's configuration.
    pub config: String,
    /// How servers are checked.
    pub check: Check,
    /// Checks use their own port, so the network tells them from traffic.
    pub check_port: bool,
    /// `option replay-until-response` is on.
    pub replay: bool,
    /// The servers, in configuration order.
    pub servers: Vec<ServerSpec>,
    /// The clients, by id.
    pub clients: Vec<ClientSpec>,
    /// Servers have `ssl`: weir speaks TLS to them and carries the
    /// clients' bytes inside (checks stay as `check` says).
    pub ssl: bool,
    /// When weir gets a soft stop (SIGUSR1, as a reload does to the old
    /// process): it closes its listener and lets its sessions end.
    pub soft_stop: Option<Duration>,
    /// `hard-stop-after`: sessions left that long after the soft stop are
    /// killed.
    pub hard_stop_after: Option<Duration>,
    /// Server faults, by start time.
    pub faults: Vec<Fault>,
    /// Runtime commands, by time.
    pub commands: Vec<Command>,
    /// Reloads in place, by time (only with [`Scenario::with_reloads`]).
    pub reloads: Vec<crate::reloads::Reload>,
    /// A steady run ([`Scenario::weighted`]): from then on, `roundrobin`
    /// must share the sessions in proportion to the servers' weights.
    pub steady_from: Option<Duration>,
    /// Seed given to weir's own PRNG.
    pub core_seed: u64,
    /// Seed of the network's randomness (jitter, read and write sizes).
    pub net_seed: u64,
}

impl Scenario {
    /// The scenario of `seed`.
    pub fn generate(seed: u64) -> Scenario {
        Scenario::draw(seed, &mut Rng::new(seed))
    }

    /// The scenario a tape of draws makes (a fuzzer's input): its bytes
    /// are the generator's choices, 8 per choice, and seeded draws go on
    /// where it ends. Its seed is the tape's fingerprint.
    pub fn from_tape(tape: &[u8]) -> Scenario {
        Scenario::draw(rng::fingerprint(tape), &mut Rng::from_tape(tape))
    }

    /// The tape of `seed`'s scenario: [`Scenario::from_tape`] makes the
    /// same servers, clients, faults and configuration from it.
    pub fn tape(seed: u64) -> Vec<u8> {
        let mut rng = Rng::recording(seed);
        Scenario::draw(seed, &mut rng);
        rng.tape().to_vec()
    }

    fn draw(seed: u64, rng: &mut Rng) -> Scenario {
        let core_seed = rng.next_u64();
        let net_seed = rng.next_u64();
        let active = rng.millis(1_000, 12_000);
        let check = *rng.pick(&[
            Check::None,
            Check::Tcp,
            Check::Tcp,
            Check::Tcp,
            Check::Tls,
            Check::Http,
            Check::Http,
            Check::Https,
            Check::Https,
            Check::Https,
        ]);
        let check_port = check != Check::None && rng.chance(70);
        let n_servers = *rng.pick(&[1, 2, 2, 2, 3, 3, 3, 3, 4, 4]);
        let servers: Vec<ServerSpec> = (0..n_servers).map(|i| server(rng, i, check_port)).collect();
        let n_clients = *rng.pick(&[1, 3, 5, 8, 12, 16, 24, 32, 40, 64]);
        let clients = (0..n_clients).map(|c| client(rng, c, active)).collect();
        let faults = faults::schedule(rng, n_servers, active);
        let mut text = String::new();
        let replay = write_config(&mut text, rng, check, &servers);
        // Drawn last, so that the other draws of every seed stay the same.
        let soft_stop = rng
            .chance(10)
            .then(|| rng.millis(0, active.as_millis() as u64));
        let hard_stop_after = match soft_stop {
            Some(_) if rng.chance(40) => Some(rng.millis(500, 10_000)),
            _ => None,
        };
        let ssl = rng.chance(15);
        if ssl {
            text = with_ssl(&text, check);
        }
        if let Some(after) = hard_stop_after {
            let line = format!("    hard-stop-after {}ms\n", after.as_millis());
            text.insert_str("global\n".len(), &line);
        }
        let commands = match rng.chance(50) {
            true => runtime::schedule(rng, n_servers, active),
            false => Vec::new(),
        };
        Scenario {
            seed,
            config: text,
            check,
            check_port,
            replay,
            ssl,
            soft_stop,
            hard_stop_after,
            servers,
            clients,
            faults,
            commands,
            reloads: Vec::new(),
            steady_from: None,
            core_seed,
            net_seed,
        }
    }

    /// A steady run to check weights: three healthy servers under
    /// `roundrobin` with drawn weights, no fault, 600 short sessions one
    /// after another; at 6 s one weight changes, at 8 s a server is
    /// drained, at 10 s made ready again. From 12 s on, each server must
    /// get its weight's share of the sessions.
    pub fn weighted(seed: u64) -> Scenario {
        let mut rng = Rng::new(seed);
        let servers: Vec<ServerSpec> = (0..3)
            .map(|i| ServerSpec {
                backup: false,
                ..server(&mut rng, i, true)
            })
            .collect();
        let weights: Vec<u64> = (0..3).map(|_| rng.range(1, 8)).collect();
        let mut text = String::from(
            "global\ndefaults\n    mode tcp\n    log stdout format raw local0\n    \
             timeout connect 2s\n    timeout client 30s\n    timeout server 30s\n\
             frontend fe\n    bind 10.0.0.1:443\n    option tcplog\n    default_backend app\n\
             backend app\n    balance roundrobin\n",
        );
        for (spec, w) in servers.iter().zip(&weights) {
            let _ = writeln!(
                text,
                "    server {} {}:{} weight {w} check inter 500ms port {CHECK_PORT} rise 2 fall 3",
                spec.name,
                spec.host,
                spec.addr.port()
            );
        }
        let clients = (0..600)
            .map(|c| ClientSpec {
                start: Duration::from_millis(50 * c as u64),
                len: rng.range(0, 512) as u32,
                chunk: 1460,
                pause: Duration::ZERO,
                slow_read: None,
                vanish_after: None,
                ..client(&mut rng, c, Duration::ZERO)
            })
            .collect();
        let at = |ms| Duration::from_millis(ms);
        let command = |server, op, t| Command {
            server,
            op,
            at: at(t),
            until: at(t),
        };
        let commands = vec![
            command(0, Op::Weight(rng.range(1, 8) as u32), 6000),
            command(2, Op::Drain, 8000),
            command(2, Op::Ready, 10_000),
        ];
        Scenario {
            seed,
            config: text,
            check: Check::Tcp,
            check_port: true,
            replay: false,
            servers,
            clients,
            ssl: false,
            soft_stop: None,
            hard_stop_after: None,
            faults: Vec::new(),
            commands,
            reloads: Vec::new(),
            steady_from: Some(at(12_000)),
            core_seed: rng.next_u64(),
            net_seed: rng.next_u64(),
        }
    }

    /// The same run on `loops` event loops (`nbthread` in its
    /// configuration, so in every reload's too): weir's instances share the
    /// run's clients and servers (see `loops.rs`). One loop leaves the
    /// run as it was.
    pub fn with_loops(mut self, loops: u32) -> Scenario {
        let lines = self.config.lines();
        let kept: Vec<&str> = lines.filter(|l| !l.starts_with("    nbthread ")).collect();
        self.config = kept.join("\n") + "\n";
        if loops > 1 {
            let line = format!("    nbthread {loops}\n");
            self.config.insert_str("global\n".len(), &line);
        }
        self
    }

    /// The same run without its runtime commands: the run seeds drew
    /// before commands joined the schedule (they are drawn last).
    pub fn without_commands(mut self) -> Scenario {
        self.commands.clear();
        self
    }

    /// A digest of the run's description ([`Scenario::summary`]): it
    /// changes when a change to the generator makes a seed draw another run.
    pub fn digest(&self) -> u64 {
        rng::fingerprint(self.summary().as_bytes())
    }

    /// A short description of the run, for traces and reports.
    pub fn summary(&self) -> String {
        let mut s = format!(
            "seed {}: {} servers, {} clients, checks {:?}{}, {} faults\n",
            self.seed,
            self.servers.len(),
            self.clients.len(),
            self.check,
            if self.check_port {
                " on their own port"
            } else {
                ""
            },
            self.faults.len()
        );
        if self.ssl {
            s.push_str("  servers have ssl: weir speaks TLS to them\n");
        }
        if let Some(at) = self.soft_stop {
            let _ = writeln!(s, "  soft stop at {:.3}s", at.as_secs_f64());
        }
        for f in &self.faults {
            let _ = writeln!(
                s,
                "  fault: {} {:?} from {:.3}s to {:.3}s",
                self.servers[f.server].name,
                f.kind,
                f.from.as_secs_f64(),
                f.until.as_secs_f64()
            );
        }
        for c in &self.commands {
            let name = &self.servers[c.server].name;
            let _ = writeln!(s, "  at {:.3}s: {}", c.at.as_secs_f64(), c.line(name));
        }
        for r in &self.reloads {
            let what = r.what.join(", ");
            let _ = writeln!(s, "  at {:.3}s: reload: {what}", r.at.as_secs_f64());
        }
        for (i, c) in self.clients.iter().enumerate() {
            let _ = writeln!(
                s,
                "  client {i}: {:?} {} bytes at {:.3}s from {}{}{}",
                c.mode,
                c.len,
                c.start.as_secs_f64(),
                c.addr,
                c.slow_read
                    .map(|(n, p)| format!(", reads {n} bytes every {}ms", p.as_millis()))
                    .unwrap_or_default(),
                c.vanish_after
                    .map(|d| format!(", vanishes after {}ms", d.as_millis()))
                    .unwrap_or_default(),
            );
        }
        s.push_str(&self.config);
        s
    }
}

pub(crate) fn server(rng: &mut Rng, i: usize, check_port: bool) -> ServerSpec {
    let ip = Ipv4Addr::new(10, 0, 1, i as u8 + 1);
    let addr = SocketAddr::from((ip, TRAFFIC_PORT));
    ServerSpec {
        name: format!("gw{}", i + 1),
        host: format!("gw{}.sim", i + 1),
        addr,
        check_addr: SocketAddr::from((ip, if check_port { CHECK_PORT } else { TRAFFIC_PORT })),
        latency: rng.millis(0, 15).max(Duration::from_micros(20)),
        window: window(rng),
        think: rng.millis(0, 50),
        backup: i > 0 && rng.chance(8),
    }
}

fn window(rng: &mut Rng) -> usize {
    *rng.pick(&[2048, 8192, 65536, 262_144])
}

fn client(rng: &mut Rng, c: usize, active: Duration) -> ClientSpec {
    let len = match rng.range(0, 9) {
        0..=5 => rng.range(0, 2048),
        6..=8 => rng.range(2048, 32 * 1024),
        _ => rng.range(32 * 1024, 200 * 1024),
    } as u32;
    let ip = Ipv4Addr::new(10, 1, (c / 250) as u8, (c % 250) as u8 + 1);
    let pause = if rng.chance(60) {
        Duration::ZERO
    } else {
        rng.millis(1, 200)
    };
    // Tiny writes only for small bodies, and a client writes for at most
    // about ten seconds.
    let mut chunk = *rng.pick(&[1, 100, 1460, 16384, 65536]);
    if len > 2048 {
        chunk = chunk.max(100);
    }
    let writes = u64::from(len) / chunk as u64 + 1;
    if pause * writes as u32 > Duration::from_secs(10) {
        chunk = (u128::from(len) * pause.as_micros() / 10_000_000) as usize + 1;
    }
    ClientSpec {
        start: rng.millis(0, active.as_millis() as u64),
        mode: if rng.chance(50) {
            Mode::Echo
        } else {
            Mode::Gateway
        },
        len,
        chunk,
        pause,
        slow_read: rng
            .chance(15)
            .then(|| (rng.range(64, 4096) as usize, rng.millis(10, 300))),
        vanish_after: rng.chance(8).then(|| rng.millis(0, 3000)),
        latency: rng.millis(0, 20).max(Duration::from_micros(20)),
        window: window(rng),
        addr: SocketAddr::from((ip, 30000 + c as u16)),
    }
}

/// Writes weir's configuration; returns whether replay is on.
/// `text` with `ssl` on every server (verified against the run's CA).
/// Checks keep the kind drawn: `ssl` alone would make checks on the
/// traffic port speak TLS too, so those in clear get `no-check-ssl`.
fn with_ssl(text: &str, check: Check) -> String {
    let clear_checks = matches!(check, Check::Tcp | Check::Http);
    let mut out = String::new();
    for line in text.lines() {
        out.push_str(line);
        if line.trim_start().starts_with("server ") {
            out.push_str(" ssl");
            if !line.contains(" ca-file ") {
                let _ = write!(out, " ca-file {CA_FILE}");
            }
            if clear_checks && !line.contains(" port ") {
                out.push_str(" no-check-ssl");
            }
        }
        out.push('\n');
    }
    out
}

fn write_config(s: &mut String, rng: &mut Rng, check: Check, servers: &[ServerSpec]) -> bool {
    let ms = |d: Duration| format!("{}ms", d.as_millis());
    let _ = writeln!(s, "global");
    if rng.chance(15) {
        let _ = writeln!(s, "    maxconn {}", rng.range(2, 20));
    }
    if rng.chance(30) {
        let _ = writeln!(s, "    spread-checks {}", rng.range(0, 50));
    }
    let _ = writeln!(s, "defaults");
    let _ = writeln!(s, "    mode tcp");
    let _ = writeln!(s, "    log stdout format raw local0");
    let _ = writeln!(s, "    timeout connect {}", ms(rng.millis(200, 3000)));
    let _ = writeln!(s, "    timeout client {}", ms(rng.millis(3000, 60_000)));
    let _ = writeln!(s, "    timeout server {}", ms(rng.millis(3000, 60_000)));
    if rng.chance(15) {
        let _ = writeln!(s, "    timeout tunnel {}", ms(rng.millis(5000, 60_000)));
    }
    if rng.chance(15) {
        let _ = writeln!(s, "    timeout client-fin {}", ms(rng.millis(2000, 10_000)));
    }
    if rng.chance(15) {
        let _ = writeln!(s, "    timeout server-fin {}", ms(rng.millis(2000, 10_000)));
    }
    if rng.chance(40) {
        let _ = writeln!(s, "    timeout queue {}", ms(rng.millis(1000, 10_000)));
    }
    if check != Check::None && rng.chance(40) {
        let _ = writeln!(s, "    timeout check {}", ms(rng.millis(200, 1000)));
    }
    if rng.chance(25) {
        let _ = writeln!(s, "    retries {}", rng.range(0, 4));
    }
    let _ = writeln!(s, "frontend fe");
    let _ = writeln!(s, "    bind {LISTEN}");
    let _ = writeln!(s, "    option tcplog");
    if rng.chance(10) {
        let _ = writeln!(s, "    maxconn {}", rng.range(2, 20));
    }
    if rng.chance(10) {
        let _ = writeln!(s, "    option nolinger");
    }
    let _ = writeln!(s, "    default_backend app");
    let _ = writeln!(s, "backend app");
    let balance = *rng.pick(&[
        "roundrobin",
        "roundrobin",
        "static-rr",
        "leastconn",
        "first",
        "source",
        "random",
    ]);
    let _ = writeln!(s, "    balance {balance}");
    let consistent = balance == "source" && rng.chance(50);
    if consistent {
        let _ = writeln!(s, "    hash-type consistent");
    }
    if (consistent || balance == "random") && rng.chance(30) {
        let _ = writeln!(s, "    hash-balance-factor {}", rng.range(101, 300));
    }
    if check.is_http() {
        let _ = writeln!(s, "    option httpchk GET /healthcheck");
        if rng.chance(30) {
            let _ = writeln!(s, "    http-check expect status 200");
        }
    }
    if check != Check::None && rng.chance(30) {
        let _ = writeln!(s, "    option log-health-checks");
    }
    if rng.chance(20) {
        let _ = writeln!(s, "    option redispatch 0");
    }
    if rng.chance(15) {
        let _ = writeln!(s, "    option connect-hedge {}", ms(rng.millis(50, 500)));
    }
    let replay = rng.chance(15);
    if replay {
        let _ = writeln!(
            s,
            "    option replay-until-response {}",
            ms(rng.millis(100, 2000))
        );
    }
    if rng.chance(10) {
        let _ = writeln!(s, "    option nolinger");
    }
    for spec in servers {
        let _ = write!(
            s,
            "    server {} {}:{}",
            spec.name,
            spec.host,
            spec.addr.port()
        );
        if spec.backup {
            let _ = write!(s, " backup");
        }
        if rng.chance(20) {
            let _ = write!(s, " weight {}", rng.range(1, 10));
        }
        if rng.chance(15) {
            let maxconn = rng.range(1, 8);
            let _ = write!(s, " maxconn {maxconn}");
            if rng.chance(30) {
                let _ = write!(s, " minconn {}", rng.range(1, maxconn));
            }
            if rng.chance(30) {
                let _ = write!(s, " maxqueue {}", rng.range(1, 4));
            }
        }
        if check == Check::None {
            let _ = writeln!(s);
            continue;
        }
        let _ = write!(s, " check inter {}", ms(rng.millis(200, 2000)));
        if spec.check_addr.port() != spec.addr.port() {
            let _ = write!(s, " port {}", spec.check_addr.port());
        }
        let _ = write!(s, " rise {} fall {}", rng.range(1, 3), rng.range(1, 4));
        if rng.chance(30) {
            let _ = write!(s, " fastinter {}", ms(rng.millis(100, 1000)));
        }
        if rng.chance(20) {
            let _ = write!(s, " downinter {}", ms(rng.millis(200, 3000)));
        }
        if matches!(check, Check::Tls | Check::Https) {
            let _ = write!(s, " check-ssl ca-file {CA_FILE}");
        }
        if rng.chance(15) {
            let _ = write!(s, " slowstart {}", ms(rng.millis(1000, 5000)));
        }
        if rng.chance(15) {
            let on_error = rng.pick(&["fastinter", "fail-check", "sudden-death", "mark-down"]);
            let limit = rng.range(1, 5);
            let _ = write!(s, " observe layer4 error-limit {limit} on-error {on_error}");
        }
        if rng.chance(10) {
            let _ = write!(s, " on-marked-down shutdown-sessions");
        }
        let _ = writeln!(s);
    }
    replay
}
