//! One run: a scenario through one balancer binary, from ports to
//! observations. Every wait is bounded; the balancer is stopped by its PID.

use std::collections::{BTreeMap, HashMap};
use std::io::{self, ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use crate::nameserver::NameServer;
use crate::scenario::{ClientSpec, Scenario, Step, escape};
use crate::servers::{ConnRecord, Pki, Servers};
use crate::syslog::{LogLine, Normaliser, Syslog};

/// How long a balancer gets to answer on its stats socket after starting.
const START_LIMIT: Duration = Duration::from_secs(10);

/// What kind of observation a step made.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// Server states (`show stat`) and waits on them.
    State,
    /// What a client saw, and runtime-API answers.
    Client,
}

/// Everything one run observed.
#[derive(Debug)]
pub struct Observation {
    /// Why the balancer did not start (its stderr), if it did not.
    pub failed_start: Option<String>,
    /// Normalised log lines, in arrival order.
    pub logs: Vec<LogLine>,
    /// Per played server, each connection's record.
    pub wire: BTreeMap<String, Vec<ConnRecord>>,
    /// One line per step that observes something: (step number, kind, text).
    pub steps: Vec<(usize, Kind, String)>,
    /// The queries the played name server got, in arrival order.
    pub dns: Vec<String>,
    /// The balancer's standard error (warnings), for the verbose report.
    pub stderr: String,
}

/// Runs `scenario` through `argv` (`argv -db -f CFG` is started).
pub fn run(scenario: &Scenario, argv: &[String], dir: &Path) -> Result<Observation, String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let pki = Pki::generate(dir)?;
    let servers = Servers::start(&scenario.servers, &pki).map_err(|e| e.to_string())?;
    let syslog = Syslog::start().map_err(|e| e.to_string())?;
    let nameserver = match &scenario.dns {
        Some(spec) => Some(NameServer::start(spec).map_err(|e| e.to_string())?),
        None => None,
    };
    let stats = dir.join("stats.sock");
    let _ = std::fs::remove_file(&stats);
    let mut ports: HashMap<u16, String> = HashMap::new();
    let mut frontends = HashMap::new();
    for name in &scenario.frontends {
        let port = free_port().map_err(|e| e.to_string())?;
        frontends.insert(name.clone(), port);
    }
    let localhost = |p: u16| SocketAddr::from(([127, 0, 0, 1], p));
    let mut values: HashMap<String, String> = HashMap::new();
    for (name, addr) in servers
        .addrs()
        .chain(frontends.iter().map(|(n, p)| (n.as_str(), localhost(*p))))
        .chain(nameserver.iter().map(|ns| ("dns", localhost(ns.port))))
    {
        // Servers with an `ip` share a port: it is named after the first.
        ports.entry(addr.port()).or_insert_with(|| name.to_owned());
        values.insert(name.to_owned(), addr.to_string());
        values.insert(format!("{name}.port"), addr.port().to_string());
    }
    values.insert("syslog".into(), format!("127.0.0.1:{}", syslog.port));
    values.insert("stats".into(), stats.display().to_string());
    values.insert("dir".into(), dir.display().to_string());
    values.insert("ca".into(), pki.ca_file.display().to_string());
    values.insert("crt".into(), pki.crt_file.display().to_string());
    let config = substitute(&scenario.config, &values)?;
    let cfg = dir.join("balancer.cfg");
    std::fs::write(&cfg, config).map_err(|e| e.to_string())?;

    let mut env = Vec::new();
    for (name, value) in &scenario.env {
        env.push((name.clone(), substitute(value, &values)?));
    }
    let stderr_path = dir.join("stderr.txt");
    let mut child = spawn(argv, &cfg, &env, &stderr_path)?;
    let mut run = Run {
        servers: &servers,
        syslog: &syslog,
        stats: &stats,
        frontends: &frontends,
        nameserver: nameserver.as_ref(),
        ports: &ports,
        steps: Vec::new(),
        background: Vec::new(),
    };
    let failed_start = match wait_ready(&mut child, &stats) {
        Ok(()) => {
            for (i, step) in scenario.steps.iter().enumerate() {
                run.step(i + 1, step);
            }
            None
        }
        Err(e) => Some(e),
    };
    let background = std::mem::take(&mut run.background);
    let mut steps = run.steps;
    for (i, handle) in background {
        let text = handle
            .join()
            .unwrap_or_else(|_| "client thread panicked".into());
        steps.push((i, Kind::Client, text));
    }
    steps.sort_by_key(|(i, _, _)| *i);
    // Stop the balancer first so that no check arrives after the servers stop.
    let _ = child.kill();
    let _ = child.wait();
    let stderr = std::fs::read_to_string(&stderr_path).unwrap_or_default();
    let dns = nameserver.map(NameServer::finish).unwrap_or_default();
    let mut wire = servers.finish();
    for records in wire.values_mut() {
        for r in records {
            r.received = name_ports(&r.received, &ports);
        }
    }
    let normaliser = Normaliser::new(ports, scenario.compare.conn_counts);
    let logs = syslog.finish().iter().map(|l| normaliser.line(l)).collect();
    Ok(Observation {
        // The run's directory changes every run: name it the same way.
        failed_start: failed_start
            .map(|e| format!("{e}\n{stderr}").replace(&dir.display().to_string(), "<dir>")),
        logs,
        wire,
        steps,
        dns,
        stderr,
    })
}

/// Bytes with each five-digit number that is a port the tool chose
/// (`port=41863` in a send-state header, a PROXY header's destination)
/// written `{{NAME.port}}`: ports change every run.
fn name_ports(bytes: &[u8], ports: &HashMap<u16, String>) -> Vec<u8> {
    let re = regex::bytes::Regex::new(r"(?-u)\b[0-9]{5}\b").expect("a fixed pattern");
    re.replace_all(bytes, |c: &regex::bytes::Captures| {
        let digits = std::str::from_utf8(&c[0]).unwrap_or("");
        match digits.parse::<u16>().ok().and_then(|p| ports.get(&p)) {
            Some(name) => format!("{{{{{name}.port}}}}").into_bytes(),
            None => c[0].to_vec(),
        }
    })
    .into_owned()
}

/// Replaces `{{NAME}}` with its value; an unknown name is an error.
fn substitute(template: &str, values: &HashMap<String, String>) -> Result<String, String> {
    let mut out = String::with_capacity(template.len());
    let mut rest = template;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let end = after.find("}}").ok_or("config: '{{' without '}}'")?;
        let name = &after[..end];
        let value = values
            .get(name)
            .ok_or_else(|| format!("config: unknown placeholder '{{{{{name}}}}}'"))?;
        out.push_str(value);
        rest = &after[end + 2..];
    }
    out.push_str(rest);
    Ok(out)
}

fn free_port() -> io::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

fn spawn(
    argv: &[String],
    cfg: &Path,
    env: &[(String, String)],
    stderr: &Path,
) -> Result<Child, String> {
    let (program, args) = argv.split_first().ok_or("empty command")?;
    let err = std::fs::File::create(stderr).map_err(|e| e.to_string())?;
    let out = err.try_clone().map_err(|e| e.to_string())?;
    Command::new(program)
        .args(args)
        .arg("-db")
        .arg("-f")
        .arg(cfg)
        .envs(env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .spawn()
        .map_err(|e| format!("{program}: {e}"))
}

fn wait_ready(child: &mut Child, stats: &Path) -> Result<(), String> {
    let deadline = Instant::now() + START_LIMIT;
    while Instant::now() < deadline {
        if let Ok(Some(status)) = child.try_wait() {
            return Err(format!("exited at start ({status})"));
        }
        if cli(stats, "show info").is_ok() {
            return Ok(());
        }
        thread::sleep(Duration::from_millis(20));
    }
    Err("no answer on the stats socket within 10 s".into())
}

/// Sends one runtime-API command and returns the answer.
pub fn cli(stats: &Path, command: &str) -> io::Result<String> {
    let mut s = UnixStream::connect(stats)?;
    s.set_read_timeout(Some(Duration::from_secs(3)))?;
    s.write_all(format!("{command}\n").as_bytes())?;
    let mut out = String::new();
    s.read_to_string(&mut out)?;
    Ok(out)
}

struct Run<'a> {
    servers: &'a Servers,
    syslog: &'a Syslog,
    stats: &'a PathBuf,
    frontends: &'a HashMap<String, u16>,
    nameserver: Option<&'a NameServer>,
    ports: &'a HashMap<u16, String>,
    steps: Vec<(usize, Kind, String)>,
    background: Vec<(usize, JoinHandle<String>)>,
}

impl Run<'_> {
    fn step(&mut self, i: usize, step: &Step) {
        let mut observe = |kind, text: String| self.steps.push((i, kind, text));
        match step {
            Step::Sleep(d) => thread::sleep(*d),
            Step::WaitLog { pattern, timeout } => {
                let found = wait(*timeout, || {
                    self.syslog.lines().iter().any(|l| pattern.is_match(l))
                });
                if !found {
                    observe(
                        Kind::State,
                        format!("timed out waiting for log /{pattern}/"),
                    );
                }
            }
            Step::WaitState {
                server,
                status,
                timeout,
            } => {
                let mut last = String::new();
                let found = wait(*timeout, || {
                    last = states(self.stats).get(server).cloned().unwrap_or_default();
                    last.starts_with(status.as_str())
                });
                let text = if found {
                    format!("{server} reached {status}")
                } else {
                    format!("{server} did not reach {status} (last: {last})")
                };
                observe(Kind::State, text);
            }
            Step::WaitConns {
                server,
                count,
                timeout,
            } => {
                if !wait(*timeout, || self.servers.accepted(server) >= *count) {
                    let got = self.servers.accepted(server);
                    observe(
                        Kind::State,
                        format!("{server}: {got} of {count} connections"),
                    );
                }
            }
            Step::Sample => {
                for (server, state) in states(self.stats) {
                    observe(Kind::State, format!("{server}: {state}"));
                }
            }
            Step::Client(spec) => {
                let addr = SocketAddr::from(([127, 0, 0, 1], self.frontends[&spec.frontend]));
                let spec = spec.clone();
                if spec.background {
                    self.background
                        .push((i, thread::spawn(move || client(addr, &spec))));
                } else {
                    observe(Kind::Client, client(addr, &spec));
                }
            }
            Step::SetServer { server, spec } => self.servers.set(server, spec.clone()),
            Step::Cli { command, columns } => {
                let answer = cli(self.stats, command).unwrap_or_else(|e| format!("error: {e}"));
                let answer = if columns.is_empty() {
                    answer
                } else {
                    csv_columns(&answer, columns)
                };
                // Ports the tool chose (`show servers state`'s srv_port).
                let answer = String::from_utf8_lossy(&name_ports(answer.as_bytes(), self.ports))
                    .into_owned();
                observe(Kind::Client, format!("{command} -> {}", answer.trim_end()));
            }
            // The scenario was refused at load if these have no name server.
            Step::DnsSet { name, addrs } => {
                if let Some(ns) = self.nameserver {
                    ns.set(name, addrs);
                }
            }
            Step::DnsRemove(name) => {
                if let Some(ns) = self.nameserver {
                    ns.remove(name);
                }
            }
            Step::DnsSilent(silent) => {
                if let Some(ns) = self.nameserver {
                    ns.silent(*silent);
                }
            }
            Step::WaitDns { name, timeout } => {
                let answered = |ns: &NameServer| wait(*timeout, || ns.answered_since_change(name));
                if let Some(ns) = self.nameserver.filter(|ns| !answered(ns)) {
                    let asked = ns.queries_for(name);
                    observe(
                        Kind::State,
                        format!(
                            "no answered query for {name} since the last change ({asked} in all)"
                        ),
                    );
                }
            }
        }
    }
}

/// Polls `cond` every 10 ms until it holds or `limit` passes.
fn wait(limit: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if cond() {
            return true;
        }
        thread::sleep(Duration::from_millis(10));
    }
    cond()
}

/// `backend/server` -> "status weight=W check=STATUS/CODE" from `show stat`.
fn states(stats: &Path) -> BTreeMap<String, String> {
    let Ok(csv) = cli(stats, "show stat") else {
        return BTreeMap::new();
    };
    let mut lines = csv.lines();
    let header: Vec<&str> = lines
        .next()
        .unwrap_or("")
        .trim_start_matches("# ")
        .split(',')
        .collect();
    let col = |name: &str| header.iter().position(|h| *h == name);
    let (Some(px), Some(sv), Some(st)) = (col("pxname"), col("svname"), col("status")) else {
        return BTreeMap::new();
    };
    let extra = [
        "weight",
        "slim",
        "check_status",
        "check_code",
        "agent_status",
    ]
    .map(|n| (n, col(n)));
    let mut out = BTreeMap::new();
    for line in lines {
        let f: Vec<&str> = line.split(',').collect();
        let get = |i: usize| f.get(i).copied().unwrap_or("");
        if get(sv) == "FRONTEND" || get(sv).is_empty() {
            continue;
        }
        let mut text = get(st).to_owned();
        // A BACKEND row's other columns are proxy settings, not states.
        let extra = if get(sv) == "BACKEND" {
            &extra[..1]
        } else {
            &extra[..]
        };
        for &(name, i) in extra {
            // "* " marks a check in progress: timing, not state.
            let v = i.map(get).unwrap_or("").trim_start_matches("* ");
            text.push_str(&format!(" {name}={v}"));
        }
        out.insert(format!("{}/{}", get(px), get(sv)), text);
    }
    out
}

/// The given columns of a table whose header is the first line starting
/// with `# `: comma-separated (`show stat`) or, when the header has no
/// comma, space-separated (`show servers state`); one line per row after
/// the header (a missing column is left empty).
fn csv_columns(csv: &str, columns: &[String]) -> String {
    let mut lines = csv.lines().skip_while(|l| !l.starts_with("# "));
    let header = lines.next().unwrap_or("").trim_start_matches("# ");
    let split = |line: &str| -> Vec<String> {
        if header.contains(',') {
            line.split(',').map(str::to_owned).collect()
        } else {
            line.split_whitespace().map(str::to_owned).collect()
        }
    };
    let header = split(header);
    let picks: Vec<Option<usize>> = columns
        .iter()
        .map(|c| header.iter().position(|h| h == c))
        .collect();
    let mut out = format!("\n{}", columns.join(","));
    for line in lines.filter(|l| !l.is_empty()) {
        let f = split(line);
        let row: Vec<&str> = picks
            .iter()
            .map(|i| i.and_then(|i| f.get(i)).map_or("", String::as_str))
            .collect();
        out.push('\n');
        out.push_str(&row.join(","));
    }
    out
}

/// Plays one client and describes what it saw.
fn client(addr: SocketAddr, spec: &ClientSpec) -> String {
    let mut s = match TcpStream::connect_timeout(&addr, Duration::from_secs(2)) {
        Ok(s) => s,
        Err(e) => return format!("connect: {}", e.kind()),
    };
    if !spec.send.is_empty() && s.write_all(&spec.send).is_err() {
        return "send failed".into();
    }
    if spec.close_now {
        return "closed at once".into();
    }
    if let Some(after) = spec.close_after {
        std::thread::sleep(after);
        return format!("closed after {after:?}");
    }
    if spec.shutdown {
        let _ = s.shutdown(Shutdown::Write);
    }
    let _ = s.set_read_timeout(Some(Duration::from_millis(50)));
    let deadline = Instant::now() + spec.timeout;
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    let end = loop {
        if Instant::now() >= deadline {
            break "still open (client gave up)".to_owned();
        }
        match s.read(&mut buf) {
            Ok(0) => break "fin".to_owned(),
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(e) if e.kind() == ErrorKind::ConnectionReset => break "reset".to_owned(),
            Err(e) => break format!("error: {e}"),
        }
    };
    format!("received \"{}\" then {end}", escape(&got))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_ports_in_bytes_are_named_and_other_numbers_kept() {
        let ports = HashMap::from([(41863, "s1".to_owned())]);
        let got = name_ports(b"port=41863; x=418630; content-length: 12345", &ports);
        assert_eq!(
            got,
            b"port={{s1.port}}; x=418630; content-length: 12345".to_vec()
        );
    }

    #[test]
    fn csv_columns_keep_the_asked_ones_in_their_order() {
        let csv = "# pxname,svname,iid,slim\nbe,s1,7,20\nbe,BACKEND,7,999\n\n";
        let cols = ["slim".to_owned(), "svname".to_owned(), "nope".to_owned()];
        assert_eq!(
            csv_columns(csv, &cols),
            "\nslim,svname,nope\n20,s1,\n999,BACKEND,"
        );
    }

    #[test]
    fn a_space_separated_table_after_a_version_line_is_read_too() {
        let state = "1\n# be_id be_name srv_id srv_name srv_addr\n3 gw 1 gw1 127.0.0.11\n\n";
        let cols = ["srv_name".to_owned(), "srv_addr".to_owned()];
        assert_eq!(
            csv_columns(state, &cols),
            "\nsrv_name,srv_addr\ngw1,127.0.0.11"
        );
    }
}
