//! One measurement of each figure: a fresh backend and a fresh balancer
//! (or none: the direct baseline), a bounded load, the numbers recorded.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::Ordering;
use std::thread;
use std::time::{Duration, Instant};

use crate::args::Args;
use crate::backend::{Backend, Role};
use crate::balancer::{Check, Kind, Product, Running, Setup};
use crate::iperf;
use crate::load::{self, Counts, Window};
use crate::report::{Metric, Results};
use crate::tls;

/// A column of the report: a balancer at a thread count, or nothing in
/// the way (the direct baseline).
pub struct Target<'a> {
    pub column: String,
    pub product: Option<&'a Product>,
    pub nbthread: Option<usize>,
}

/// The run's options and what it measured so far.
pub struct Bench<'a> {
    pub args: &'a Args,
    pub results: Results,
    /// `maxconn` given to every balancer.
    pub maxconn: usize,
    /// The descriptor limit the balancers inherit.
    pub nofile: u64,
    /// Idle connections opened for the memory figure.
    pub idle: usize,
}

/// `n` traffic servers on 127.0.0.1, any free ports.
fn traffic_servers(n: usize) -> Vec<SocketAddr> {
    vec![SocketAddr::from(([127, 0, 0, 1], 0)); n]
}

/// `n` check servers, one per address 127.0.x.y from 127.0.1.1 on.
fn check_servers(n: usize) -> Vec<SocketAddr> {
    (0..n)
        .map(|i| SocketAddr::from(([127, 0, (1 + i / 250) as u8, (1 + i % 250) as u8], 0)))
        .collect()
}

fn sleep_until(t: Instant) {
    let now = Instant::now();
    if t > now {
        thread::sleep(t - now);
    }
}

/// CPU seconds the balancer used during the window.
fn cpu_during(running: Option<&Running>, window: Window) -> Option<f64> {
    sleep_until(window.start);
    let before = running.map(Running::cpu_seconds);
    sleep_until(window.end);
    let after = running.map(Running::cpu_seconds);
    Some(after? - before?)
}

/// `wrk` on the PATH.
pub fn which(name: &str) -> Option<PathBuf> {
    std::env::var_os("PATH")?
        .to_str()?
        .split(':')
        .map(|d| PathBuf::from(d).join(name))
        .find(|p| p.is_file())
}

impl Bench<'_> {
    fn setup_for<'s>(&self, t: &Target<'_>, servers: &'s [SocketAddr], check: Check) -> Setup<'s> {
        Setup {
            servers,
            check,
            nbthread: t.nbthread,
            maxconn: self.maxconn,
            nofile: self.nofile,
        }
    }

    /// A backend, and the balancer in front of it (none for the baseline).
    /// [`Self::start`] with the traffic servers and no checks, and where
    /// clients connect: the balancer, or the servers for the direct column.
    fn start_traffic(
        &self,
        t: &Target<'_>,
        role: Role,
    ) -> Result<(Backend, Option<Running>, Vec<SocketAddr>), String> {
        let servers = traffic_servers(self.args.servers);
        let (backend, running) = self.start(t, role, &servers, Check::None)?;
        let addrs = running
            .as_ref()
            .map_or_else(|| backend.addrs.clone(), |r| vec![r.addr()]);
        Ok((backend, running, addrs))
    }

    fn start(
        &self,
        t: &Target<'_>,
        role: Role,
        binds: &[SocketAddr],
        check: Check,
    ) -> Result<(Backend, Option<Running>), String> {
        let threads = if check == Check::None { binds.len() } else { 1 };
        let backend = Backend::start(role, binds, threads).map_err(|e| format!("backend: {e}"))?;
        let running = match t.product {
            Some(p) => Some(p.start(&self.setup_for(t, &backend.addrs, check))?),
            None => None,
        };
        Ok((backend, running))
    }

    fn window(&self) -> Window {
        Window::new(self.args.warmup, self.args.duration)
    }

    fn join(clients: thread::JoinHandle<Counts>) -> Result<Counts, String> {
        clients
            .join()
            .map_err(|_| "a load generator panicked".to_owned())
    }

    fn errors(&mut self, t: &Target<'_>, what: &str, counts: &Counts) {
        if counts.errors > 0 {
            self.results.note(format!(
                "{}, {what}: {} connections failed or ended early in a run",
                t.column, counts.errors
            ));
        }
    }

    /// Bulk download through `streams` connections: Gbit/s and CPU.
    pub fn bulk(&mut self, t: &Target<'_>, streams: usize) -> Result<(), String> {
        if self.args.iperf3 {
            if let Some(iperf3) = which("iperf3") {
                return self.iperf3(t, &iperf3, streams);
            }
            self.results.note(
                "--iperf3: iperf3 is not installed (apt-get install -y iperf3); the built-in \
                 generator ran"
                    .to_owned(),
            );
        }
        let (_backend, running, addrs) = self.start_traffic(t, Role::Source)?;
        let window = self.window();
        let clients = load::spawn(self.args.client_threads, streams, load::bulk, addrs, window);
        let cpu = cpu_during(running.as_ref(), window);
        let counts = Self::join(clients)?;
        let gbps = counts.done as f64 * 8.0 / window.seconds() / 1e9;
        let pct = cpu.map(|c| c / window.seconds() * 100.0);
        self.record_bulk(t, streams, gbps, pct);
        self.errors(t, "bulk", &counts);
        Ok(())
    }

    fn record_bulk(&mut self, t: &Target<'_>, streams: usize, gbps: f64, pct: Option<f64>) {
        let (rate, load) = if streams == 1 {
            (Metric::Bulk1, Metric::Bulk1Cpu)
        } else {
            (Metric::Bulk4, Metric::Bulk4Cpu)
        };
        self.results.add(&t.column, rate, gbps);
        if let Some(p) = pct {
            self.results.add(&t.column, load, p);
        }
        eprintln!(
            "  {:<24} bulk {streams} stream(s): {gbps:.2} Gbit/s{}",
            t.column,
            pct.map_or(String::new(), |p| format!(", CPU {p:.0} %"))
        );
    }

    /// The bulk figure from iperf3: one iperf3 server behind the balancer.
    fn iperf3(&mut self, t: &Target<'_>, iperf3: &Path, streams: usize) -> Result<(), String> {
        let server = iperf::Server::start(iperf3)?;
        let servers = [server.addr];
        let running = match t.product {
            Some(p) => Some(p.start(&self.setup_for(t, &servers, Check::None))?),
            None => None,
        };
        let addr = running.as_ref().map_or(server.addr, Running::addr);
        // The iperf3 server runs one test at a time: let it drop the
        // readiness probes (which send no cookie) first.
        thread::sleep(Duration::from_millis(500));
        let secs = self.args.duration.as_secs_f64().ceil().max(1.0) as u64;
        let omit = self.args.warmup.as_secs_f64().ceil() as u64;
        let started = Instant::now();
        let client = iperf::Client::start(iperf3, addr, streams, secs, omit)?;
        // iperf3 connects within a few ms; its omitted seconds are the
        // warm-up, then the measured ones.
        let window = Window {
            start: started + Duration::from_secs(omit),
            end: started + Duration::from_secs(omit + secs),
        };
        let cpu = cpu_during(running.as_ref(), window);
        let bps = client.finish()?;
        let pct = cpu.map(|c| c / window.seconds() * 100.0);
        self.record_bulk(t, streams, bps / 1e9, pct);
        Ok(())
    }

    /// New connection per request: req/s and CPU per request.
    pub fn conn(&mut self, t: &Target<'_>) -> Result<(), String> {
        let (_backend, running, addrs) = self.start_traffic(t, Role::Responder)?;
        let window = self.window();
        let clients = load::spawn(
            self.args.client_threads,
            self.args.in_flight,
            load::per_connection,
            addrs,
            window,
        );
        let cpu = cpu_during(running.as_ref(), window);
        let counts = Self::join(clients)?;
        let rate = counts.done as f64 / window.seconds();
        self.results.add(&t.column, Metric::Conn, rate);
        if let Some(c) = cpu {
            self.results
                .add(&t.column, Metric::ConnLoad, c / window.seconds() * 100.0);
            if counts.done > 0 {
                self.results
                    .add(&t.column, Metric::ConnCpu, c * 1e6 / counts.done as f64);
            }
        }
        eprintln!(
            "  {:<24} new connection per request: {rate:.0} req/s{}",
            t.column,
            cpu.map_or(String::new(), |c| format!(
                ", CPU {:.0} %",
                c / window.seconds() * 100.0
            ))
        );
        self.errors(t, "new connections", &counts);
        Ok(())
    }

    /// Keep-alive request/reply: req/s, latency percentiles, CPU.
    pub fn keep_alive(&mut self, t: &Target<'_>) -> Result<(), String> {
        let (_backend, running, addrs) = self.start_traffic(t, Role::Responder)?;
        if self.args.wrk {
            if let Some(wrk) = which("wrk") {
                return self.wrk(t, &wrk, addrs[0], running.as_ref());
            }
            self.results.note(
                "--wrk: wrk is not installed (apt-get install -y wrk); the built-in generator ran"
                    .to_owned(),
            );
        }
        let window = self.window();
        let clients = load::spawn(
            self.args.client_threads,
            self.args.connections,
            load::keep_alive,
            addrs,
            window,
        );
        let cpu = cpu_during(running.as_ref(), window);
        let counts = Self::join(clients)?;
        let rate = counts.done as f64 / window.seconds();
        let p = |q| counts.latency.quantile(q).map(|ns| ns / 1000.0);
        self.record_keep_alive(
            t,
            rate,
            [p(0.5), p(0.99), p(0.999)],
            cpu,
            counts.done,
            window.seconds(),
        );
        self.errors(t, "keep-alive", &counts);
        Ok(())
    }

    fn record_keep_alive(
        &mut self,
        t: &Target<'_>,
        rate: f64,
        pcts: [Option<f64>; 3],
        cpu: Option<f64>,
        done: u64,
        seconds: f64,
    ) {
        let col = &t.column;
        self.results.add(col, Metric::KeepAlive, rate);
        for (m, v) in [Metric::P50, Metric::P99, Metric::P999]
            .into_iter()
            .zip(pcts)
        {
            if let Some(v) = v {
                self.results.add(col, m, v);
            }
        }
        if let Some(c) = cpu {
            self.results
                .add(col, Metric::KeepAliveLoad, c / seconds * 100.0);
            if done > 0 {
                self.results
                    .add(col, Metric::KeepAliveCpu, c * 1e6 / done as f64);
            }
        }
        let us = |v: Option<f64>| v.map_or("–".to_owned(), |v| format!("{v:.0}"));
        eprintln!(
            "  {col:<24} keep-alive: {rate:.0} req/s, p50/p99/p99.9 {}/{}/{} µs{}",
            us(pcts[0]),
            us(pcts[1]),
            us(pcts[2]),
            cpu.map_or(String::new(), |c| format!(
                ", CPU {:.0} %",
                c / seconds * 100.0
            ))
        );
    }

    /// The keep-alive figure from `wrk` (no warm-up of its own: the CPU
    /// covers its whole run).
    fn wrk(
        &mut self,
        t: &Target<'_>,
        wrk: &PathBuf,
        addr: SocketAddr,
        running: Option<&Running>,
    ) -> Result<(), String> {
        let secs = self.args.duration.as_secs_f64().ceil().max(1.0);
        let before = running.map(Running::cpu_seconds);
        let mut child = Command::new(wrk)
            .args(["-t", &self.args.client_threads.to_string()])
            .args(["-c", &self.args.connections.to_string()])
            .args(["-d", &format!("{secs}s"), "--latency"])
            .arg(format!("http://{addr}/"))
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("wrk: {e}"))?;
        let deadline = Instant::now() + Duration::from_secs_f64(secs + 15.0);
        while child.try_wait().ok().flatten().is_none() {
            if Instant::now() > deadline {
                let _ = child.kill();
                break;
            }
            thread::sleep(Duration::from_millis(50));
        }
        let after = running.map(Running::cpu_seconds);
        let out = child.wait_with_output().map_err(|e| format!("wrk: {e}"))?;
        let text = String::from_utf8_lossy(&out.stdout);
        let rate = text
            .lines()
            .find_map(|l| l.trim().strip_prefix("Requests/sec:"))
            .and_then(|v| v.trim().parse::<f64>().ok())
            .ok_or_else(|| "wrk printed no Requests/sec".to_owned())?;
        let pct = |p: &str| {
            text.lines()
                .find_map(|l| l.trim().strip_prefix(p))
                .and_then(|v| wrk_micros(v.trim()))
        };
        let cpu = before.zip(after).map(|(b, a)| a - b);
        let done = (rate * secs) as u64;
        self.record_keep_alive(t, rate, [pct("50%"), pct("99%"), None], cpu, done, secs);
        Ok(())
    }

    /// Idle RSS, then RSS per idle proxied connection.
    pub fn idle(&mut self, t: &Target<'_>) -> Result<(), String> {
        let (_backend, running, _) = self.start_traffic(t, Role::Responder)?;
        let Some(running) = running else {
            return Ok(());
        };
        thread::sleep(Duration::from_millis(500));
        let before = running.rss_kib();
        // Half, then all: the growth over the second half is the cost of
        // one more idle connection, without what the first connections
        // cost once (pools, arenas, tables).
        let deadline = Instant::now() + Duration::from_secs(120);
        let half = load::open_idle(running.addr(), self.idle / 2, deadline);
        thread::sleep(Duration::from_secs(1));
        let middle = running.rss_kib();
        let rest = load::open_idle(running.addr(), self.idle - self.idle / 2, deadline);
        thread::sleep(Duration::from_secs(1));
        let after = running.rss_kib();
        let (n1, n) = (half.streams.len(), half.streams.len() + rest.streams.len());
        self.results
            .add(&t.column, Metric::IdleRss, before as f64 / 1024.0);
        if n > 0 {
            let per = after.saturating_sub(before) as f64 * 1024.0 / n as f64;
            self.results.add(&t.column, Metric::PerConn, per);
            let marginal =
                (n > n1).then(|| after.saturating_sub(middle) as f64 * 1024.0 / (n - n1) as f64);
            if let Some(m) = marginal {
                self.results.add(&t.column, Metric::Marginal, m);
            }
            eprintln!(
                "  {:<24} idle RSS {:.1} MiB, {per:.0} bytes per idle connection ({n}), \
                 {:.0} from {n1} to {n}",
                t.column,
                before as f64 / 1024.0,
                marginal.unwrap_or(f64::NAN)
            );
        }
        if n < self.idle {
            self.results.note(format!(
                "{}: only {n} of {} idle connections were established ({} failed)",
                t.column,
                self.idle,
                half.errors + rest.errors
            ));
        }
        drop((half, rest));
        Ok(())
    }

    /// CPU of checking many servers every second (HTTP or TCP connect
    /// checks).
    pub fn checks(&mut self, t: &Target<'_>) -> Result<(), String> {
        let check = if self.args.check_http {
            Check::Http
        } else {
            Check::Tcp
        };
        let Some(seen) = self.measure_checks(t, check)? else {
            return Ok(());
        };
        if self.args.check_http {
            self.results.add(&t.column, Metric::CheckRate, seen.rate);
            self.check_rate_note(t, seen.rate);
        }
        if let Some(pct) = seen.cpu {
            self.results.add(&t.column, Metric::CheckCpu, pct);
            if self.args.check_http && seen.rate > 0.0 {
                self.results
                    .add(&t.column, Metric::CheckCost, pct * 1e4 / seen.rate);
            }
        }
        eprintln!(
            "  {:<24} checks: {:.0} /s, CPU {:.1} %",
            t.column,
            seen.rate,
            seen.cpu.unwrap_or(f64::NAN)
        );
        Ok(())
    }

    /// [`Self::checks`] with HTTP checks in TLS: CPU, and how many of the
    /// handshakes resumed a session.
    pub fn tls_checks(&mut self, t: &Target<'_>) -> Result<(), String> {
        let Some(seen) = self.measure_checks(t, Check::Tls)? else {
            return Ok(());
        };
        self.results.add(&t.column, Metric::TlsCheckRate, seen.rate);
        self.check_rate_note(t, seen.rate);
        if let Some(pct) = seen.cpu {
            self.results.add(&t.column, Metric::TlsCheckCpu, pct);
            if seen.rate > 0.0 {
                self.results
                    .add(&t.column, Metric::TlsCheckCost, pct * 1e4 / seen.rate);
            }
        }
        let handshakes = seen.full + seen.resumed;
        let resumed = (handshakes > 0).then(|| seen.resumed as f64 * 100.0 / handshakes as f64);
        if let Some(r) = resumed {
            self.results.add(&t.column, Metric::TlsResumed, r);
        }
        eprintln!(
            "  {:<24} TLS checks: {:.0} /s, CPU {:.1} %, {} full and {} resumed handshakes",
            t.column,
            seen.rate,
            seen.cpu.unwrap_or(f64::NAN),
            seen.full,
            seen.resumed
        );
        Ok(())
    }

    fn check_rate_note(&mut self, t: &Target<'_>, rate: f64) {
        let expected = self.args.check_servers as f64;
        if rate < 0.8 * expected || rate > 1.2 * expected {
            self.results.note(format!(
                "{}: the servers saw {rate:.0} checks/s, not the {expected:.0} configured",
                t.column
            ));
        }
    }

    /// Runs `check` on the check servers for one window (none for the
    /// baseline and nginx).
    fn measure_checks(&self, t: &Target<'_>, check: Check) -> Result<Option<Seen>, String> {
        let Some(product) = t.product else {
            return Ok(None);
        };
        if product.kind == Kind::Nginx {
            return Ok(None);
        }
        let servers = check_servers(self.args.check_servers);
        let backend = match check {
            Check::Tls => Backend::start_tls(Role::Health, &servers, 1, tls::server_config()?),
            Check::Http => Backend::start(Role::Health, &servers, 1),
            _ => Backend::start(Role::AcceptClose, &servers, 1),
        }
        .map_err(|e| format!("backend: {e}"))?;
        let running = product.start(&self.setup_for(t, &backend.addrs, check))?;
        // The first checks are spread over one interval: warm up past it.
        let window = Window::new(
            self.args.warmup.max(Duration::from_secs(2)),
            self.args.duration.max(Duration::from_secs(3)),
        );
        let tally = &backend.tally;
        let count =
            || [&tally.hits, &tally.full, &tally.resumed].map(|c| c.load(Ordering::Relaxed));
        sleep_until(window.start);
        let c0 = running.cpu_seconds();
        let a0 = count();
        sleep_until(window.end);
        let c1 = running.cpu_seconds();
        let a1 = count();
        let secs = window.seconds();
        let cpu = c1 - c0;
        Ok(Some(Seen {
            rate: (a1[0] - a0[0]) as f64 / secs,
            cpu: (cpu >= 0.0).then_some(cpu / secs * 100.0),
            full: a1[1] - a0[1],
            resumed: a1[2] - a0[2],
        }))
    }
}

/// What one window of checks showed.
struct Seen {
    /// Checks (or connections) the servers saw per second.
    rate: f64,
    /// The balancer's CPU, % of a core.
    cpu: Option<f64>,
    /// TLS handshakes in full and resumed.
    full: u64,
    resumed: u64,
}

/// `104.00us`, `1.23ms`, `2.00s` in microseconds.
fn wrk_micros(v: &str) -> Option<f64> {
    let (num, scale) = if let Some(n) = v.strip_suffix("us") {
        (n, 1.0)
    } else if let Some(n) = v.strip_suffix("ms") {
        (n, 1e3)
    } else if let Some(n) = v.strip_suffix('s') {
        (n, 1e6)
    } else {
        return None;
    };
    num.parse::<f64>().ok().map(|x| x * scale)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrk_units() {
        assert_eq!(wrk_micros("104.00us"), Some(104.0));
        assert_eq!(wrk_micros("1.50ms"), Some(1500.0));
        assert_eq!(wrk_micros("2.00s"), Some(2e6));
        assert_eq!(wrk_micros("2"), None);
    }

    #[test]
    fn check_addresses_are_distinct() {
        let a = check_servers(1000);
        let mut ips: Vec<_> = a.iter().map(SocketAddr::ip).collect();
        ips.sort();
        ips.dedup();
        assert_eq!(ips.len(), 1000);
        assert_eq!(a[0].ip().to_string(), "127.0.1.1");
        assert_eq!(a[999].ip().to_string(), "127.0.4.250");
    }
}
