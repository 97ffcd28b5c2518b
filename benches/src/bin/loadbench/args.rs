//! Command-line options.

use std::path::PathBuf;
use std::time::Duration;

pub const USAGE: &str = "\
loadbench: weir, weir-smol, HAProxy and nginx side by side on the loopback

cargo build --release -p weir-mio -p weir-smol
cargo run --release -p weir-bench --bin loadbench -- [options]

  --duration D      measured time of each figure (5s; also 500ms, 2)
  --warmup D        load before each measurement starts (1s)
  --runs N          runs of every figure; medians are reported (3)
  --out FILE        also write the Markdown report to FILE
  --only LIST       balancers to run: haproxy,nginx,weir,weir-smol (all found)
  --tests LIST      bulk,conn,keepalive,idle,checks,tlschecks,nbthread (all)
  --servers N       backend servers for traffic (2)
  --connections N   keep-alive connections (100)
  --in-flight N     connections in flight, new connection per request (64)
  --client-threads N  load generator threads (2)
  --idle N          idle connections for the memory figure (10000)
  --check-servers N servers checked every 1 s (1000)
  --check-kind K    http (option httpchk GET /healthcheck) or tcp (connect
                    only; HAProxy's resets are not seen, so no check rate);
                    tlschecks: the HTTP check in TLS (`check-ssl verify
                    none`), servers with a self-signed certificate that
                    resume sessions (tickets)
  --nbthread LIST   weir's thread counts for the scaling table (1,2,4...)
  --scaling LIST    binaries for the scaling table (weir; also weir-smol,
                    haproxy)
  --weir PATH, --weir-smol PATH, --haproxy PATH, --nginx PATH
  --wrk             keep-alive figure from wrk (if installed) instead of the
                    built-in generator (no p99.9 then)
  --iperf3          bulk figures from iperf3 -R (if installed), one iperf3
                    server behind the balancer
";

/// The figures the tool can measure.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Test {
    Bulk,
    Conn,
    KeepAlive,
    Idle,
    Checks,
    TlsChecks,
    Nbthread,
}

const TESTS: &[(&str, Test)] = &[
    ("bulk", Test::Bulk),
    ("conn", Test::Conn),
    ("keepalive", Test::KeepAlive),
    ("idle", Test::Idle),
    ("checks", Test::Checks),
    ("tlschecks", Test::TlsChecks),
    ("nbthread", Test::Nbthread),
];

/// Parsed options.
pub struct Args {
    pub duration: Duration,
    pub warmup: Duration,
    pub runs: usize,
    pub out: Option<PathBuf>,
    pub only: Option<Vec<String>>,
    pub tests: Vec<Test>,
    pub servers: usize,
    pub connections: usize,
    pub in_flight: usize,
    pub client_threads: usize,
    pub idle: usize,
    pub check_servers: usize,
    pub check_http: bool,
    pub nbthread: Vec<usize>,
    pub scaling: Vec<String>,
    pub weir: Option<PathBuf>,
    pub weir_smol: Option<PathBuf>,
    pub haproxy: PathBuf,
    pub nginx: PathBuf,
    pub wrk: bool,
    pub iperf3: bool,
}

impl Args {
    /// Whether a figure was asked for.
    pub fn wants(&self, t: Test) -> bool {
        self.tests.contains(&t)
    }
}

/// `5s`, `500ms`, `2m` or a number of seconds.
pub fn duration(s: &str) -> Result<Duration, String> {
    let (num, scale) = if let Some(n) = s.strip_suffix("ms") {
        (n, 0.001)
    } else if let Some(n) = s.strip_suffix('s') {
        (n, 1.0)
    } else if let Some(n) = s.strip_suffix('m') {
        (n, 60.0)
    } else {
        (s, 1.0)
    };
    let v: f64 = num
        .parse()
        .map_err(|_| format!("'{s}' is not a duration (5s, 500ms)"))?;
    if !(v > 0.0 && v * scale <= 3600.0) {
        return Err(format!("'{s}': a duration above 0 and at most 1 hour"));
    }
    Ok(Duration::from_secs_f64(v * scale))
}

fn list(s: &str) -> Vec<String> {
    s.split(',')
        .map(|w| w.trim().to_ascii_lowercase())
        .filter(|w| !w.is_empty())
        .collect()
}

/// A list of balancer names.
fn balancers(flag: &str, s: &str) -> Result<Vec<String>, String> {
    let names = list(s);
    match names
        .iter()
        .find(|n| !["haproxy", "nginx", "weir", "weir-smol"].contains(&n.as_str()))
    {
        Some(n) => Err(format!(
            "{flag}: unknown balancer '{n}' (haproxy, nginx, weir, weir-smol)"
        )),
        None => Ok(names),
    }
}

fn number(flag: &str, s: &str) -> Result<usize, String> {
    match s.parse::<usize>() {
        Ok(n) if n > 0 => Ok(n),
        _ => Err(format!("{flag}: '{s}' is not a positive number")),
    }
}

/// Powers of two from 1 up to the CPUs (at least 4).
fn default_threads() -> Vec<usize> {
    let cpus = std::thread::available_parallelism().map_or(1, usize::from);
    let mut v = vec![1];
    while *v.last().unwrap_or(&1) < cpus.max(4) {
        let next = v.last().unwrap_or(&1) * 2;
        v.push(next);
    }
    v
}

/// Parses the options (without the program name).
pub fn parse(mut it: impl Iterator<Item = String>) -> Result<Args, String> {
    let mut a = Args {
        duration: Duration::from_secs(5),
        warmup: Duration::from_secs(1),
        runs: 3,
        out: None,
        only: None,
        tests: TESTS.iter().map(|&(_, t)| t).collect(),
        servers: 2,
        connections: 100,
        in_flight: 64,
        client_threads: 2,
        idle: 10_000,
        check_servers: 1000,
        check_http: true,
        nbthread: default_threads(),
        scaling: vec!["weir".to_owned()],
        weir: None,
        weir_smol: None,
        haproxy: PathBuf::from("/usr/sbin/haproxy"),
        nginx: PathBuf::from("/usr/sbin/nginx"),
        wrk: false,
        iperf3: false,
    };
    while let Some(flag) = it.next() {
        if flag == "--wrk" || flag == "--iperf3" {
            a.wrk |= flag == "--wrk";
            a.iperf3 |= flag == "--iperf3";
            continue;
        }
        if flag == "-h" || flag == "--help" {
            return Err(USAGE.to_owned());
        }
        let value = it
            .next()
            .ok_or_else(|| format!("{flag} needs a value\n\n{USAGE}"))?;
        match flag.as_str() {
            "--duration" => a.duration = duration(&value)?,
            "--warmup" => a.warmup = duration(&value)?,
            "--runs" => a.runs = number(&flag, &value)?,
            "--out" => a.out = Some(PathBuf::from(value)),
            "--only" => a.only = Some(balancers(&flag, &value)?),
            "--tests" => {
                a.tests = Vec::new();
                for w in list(&value) {
                    let t = TESTS.iter().find(|(n, _)| *n == w).ok_or_else(|| {
                        format!(
                            "--tests: unknown '{w}' \
                             (bulk,conn,keepalive,idle,checks,tlschecks,nbthread)"
                        )
                    })?;
                    a.tests.push(t.1);
                }
            }
            "--servers" => a.servers = number(&flag, &value)?,
            "--connections" => a.connections = number(&flag, &value)?,
            "--in-flight" => a.in_flight = number(&flag, &value)?,
            "--client-threads" => a.client_threads = number(&flag, &value)?,
            "--idle" => a.idle = number(&flag, &value)?,
            "--check-servers" => a.check_servers = number(&flag, &value)?.min(60_000),
            "--check-kind" => {
                a.check_http = match value.as_str() {
                    "http" => true,
                    "tcp" => false,
                    _ => return Err(format!("--check-kind: 'http' or 'tcp', not '{value}'")),
                }
            }
            "--nbthread" => {
                a.nbthread = list(&value)
                    .iter()
                    .map(|w| number(&flag, w))
                    .collect::<Result<_, _>>()?;
            }
            "--scaling" => a.scaling = balancers(&flag, &value)?,
            "--weir" => a.weir = Some(PathBuf::from(value)),
            "--weir-smol" => a.weir_smol = Some(PathBuf::from(value)),
            "--haproxy" => a.haproxy = PathBuf::from(value),
            "--nginx" => a.nginx = PathBuf::from(value),
            _ => return Err(format!("unknown option {flag}\n\n{USAGE}")),
        }
    }
    Ok(a)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(s: &str) -> Result<Args, String> {
        parse(s.split_whitespace().map(str::to_owned))
    }

    #[test]
    fn durations() {
        assert_eq!(duration("5s"), Ok(Duration::from_secs(5)));
        assert_eq!(duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(duration("2"), Ok(Duration::from_secs(2)));
        assert!(duration("0s").is_err());
        assert!(duration("fast").is_err());
    }

    #[test]
    fn options() {
        let a = args("--runs 5 --tests bulk,idle --nbthread 1,3 --out x.md").expect("parses");
        assert_eq!(a.runs, 5);
        assert_eq!(a.tests, vec![Test::Bulk, Test::Idle]);
        assert_eq!(a.nbthread, vec![1, 3]);
        assert!(args("--runs 0").is_err());
        assert!(args("--tests nope").is_err());
        assert!(args("--bogus 1").is_err());
        assert!(args("--only weir,ha").is_err());
        assert_eq!(
            args("--only HAProxy,weir-smol").expect("parses").only,
            Some(vec!["haproxy".to_owned(), "weir-smol".to_owned()])
        );
        assert!(args("--runs").is_err());
        assert_eq!(args("").expect("defaults").nbthread[..3], [1, 2, 4]);
    }
}
