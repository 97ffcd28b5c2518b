//! What weir does when it owns the process (the binaries): size
//! `maxconn` to the descriptor limit, and say that it started; and what
//! it tells `show info` of the process.

use std::time::SystemTime;

use weir_core::config::{self, Config, StatsAddr, printable};
use weir_core::stats::ProcessInfo;

use crate::Binary;
use crate::limits::{self, FdPlan};

/// The date of this version of weir (`Release_date` in `show info`);
/// changed with the version in `Cargo.toml`.
pub const RELEASE_DATE: &str = "2026/12/05";

/// Sizes `config`'s `maxconn` to the descriptor limit (warning when a
/// configured one cannot fit); returns the start-up line to log once the
/// listeners are bound, and the plan. Called when the driver's own
/// descriptors (poller, signal pipes) are open, so that they are counted.
pub(crate) fn prepare(binary: &Binary, config: &mut Config) -> (String, Option<FdPlan>) {
    let fds = limits::apply(config);
    let warnings = fds.iter().flat_map(|f| [f.raise_warning(), f.warning()]);
    for warning in warnings.flatten() {
        log::warn!("{warning}");
    }
    (banner(binary, config, fds.as_ref()), fds)
}

/// What the driver knows of the process for `show info`, the stats page
/// and the metrics, as HAProxy fills them: the descriptor limit weir
/// asked for (`ulimit-n`, else `Maxsock`), `Maxsock`, `Hard_maxconn`,
/// the start time, `node` (default: the host name) and `description`.
/// `fds` is the binaries' plan; an embedder shows the limits in force.
pub(crate) fn process_info(
    config: &Config,
    fds: Option<&FdPlan>,
    started: SystemTime,
    pid: u32,
) -> ProcessInfo {
    let process = &config.global.process;
    let (ulimit_n, maxsock) = match fds {
        Some(plan) => (plan.want, plan.needed),
        None => {
            let soft = limits::FdLimit::current().map_or(0, |l| l.soft);
            (soft, soft)
        }
    };
    let clamp = |n: u64| n.min(u64::from(u32::MAX)) as u32;
    let maxconn = config.global.maxconn.unwrap_or(0);
    ProcessInfo {
        name: "weir".into(),
        version: env!("CARGO_PKG_VERSION").into(),
        release_date: RELEASE_DATE.into(),
        nbthread: 1,
        pid,
        start_time_secs: started
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs()),
        ulimit_n: clamp(ulimit_n),
        maxsock: clamp(maxsock),
        maxconn,
        hard_maxconn: maxconn,
        node: process
            .node
            .clone()
            .unwrap_or_else(|| config.global.hostname.clone()),
        description: process.description.clone(),
        maxpipes: crate::splice::max_pipes(&config.global),
        ..ProcessInfo::default()
    }
}

/// The start-up line: version, configuration files, listeners (the
/// stats sockets too), checked servers and the process `maxconn`, with
/// where it came from.
fn banner(binary: &Binary, config: &Config, fds: Option<&FdPlan>) -> String {
    let traffic = config.frontends.iter().flat_map(|f| {
        f.binds
            .iter()
            .map(move |b| format!("{} ({})", b.addr, f.name))
    });
    let stats = config
        .global
        .runtime_api
        .sockets
        .iter()
        .map(|s| match &s.addr {
            StatsAddr::Tcp(addr) => format!("{addr} (stats socket)"),
            StatsAddr::Unix(path) => format!("{} (stats socket)", printable(path)),
        });
    let listeners: Vec<String> = traffic.chain(stats).collect();
    let checked = |b: &config::Backend| {
        let servers = b.servers.iter();
        servers.filter(|s| s.check && !s.disabled).count()
    };
    let servers: usize = config.backends.iter().map(checked).sum();
    let backends = config.backends.iter().filter(|b| checked(b) > 0).count();
    let maxconn = match (fds, config.global.maxconn) {
        (Some(plan), _) if plan.derived => match &config.global.process.ulimit_n {
            Some((n, _)) => format!("maxconn {} (from ulimit-n {n})", plan.maxconn),
            None => format!(
                "maxconn {} (from the descriptor limit {})",
                plan.maxconn, plan.limit.soft
            ),
        },
        (_, Some(maxconn)) => format!("maxconn {maxconn}"),
        (_, None) => "no maxconn".to_owned(),
    };
    format!(
        "{} {} started: config {}; listening on {}; checking {servers} server{} in \
         {backends} backend{}; {maxconn}",
        binary.program,
        env!("CARGO_PKG_VERSION"),
        crate::cli::expand(&binary.files)
            .unwrap_or_else(|_| binary.files.clone())
            .join(", "),
        listeners.join(", "),
        plural(servers),
        plural(backends),
    )
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn show_info_gets_the_limits_node_and_description() {
        let text = "global\n maxconn 100\n ulimit-n 300\n description edge  one\n\
                    defaults\n mode tcp\n timeout connect 1s\n timeout client 1s\n \
                    timeout server 1s\n\
                    frontend fe\n bind 127.0.0.1:8080\n default_backend be\n\
                    backend be\n server s1 127.0.0.1:1\n";
        let source = config::Source::new("w.cfg", text);
        let mut config = config::parse(&[source], &mut |_| None).unwrap().config;
        config.global.hostname = "host-a".into();
        let plan = limits::plan(
            &config,
            limits::FdLimit {
                soft: 1024,
                hard: 4096,
            },
            3,
        );
        let started = SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_700_000_000);
        let info = process_info(&config, Some(&plan), started, 42);
        assert_eq!((info.ulimit_n, info.maxsock), (300, 3 + 10 + 1 + 200));
        assert_eq!((info.maxconn, info.hard_maxconn), (100, 100));
        assert_eq!((info.pid, info.start_time_secs), (42, 1_700_000_000));
        assert_eq!(info.node, "host-a");
        assert_eq!(info.description.as_deref(), Some("edge one"));
        assert_eq!(info.release_date, RELEASE_DATE);
    }

    #[test]
    fn the_start_up_line_lists_the_stats_sockets_after_the_binds() {
        let text = "global\n stats socket /run/weir/admin.sock level admin\n \
                    stats socket ipv4@127.0.0.1:9999\n\
                    defaults\n mode tcp\n timeout connect 1s\n timeout client 1s\n \
                    timeout server 1s\n\
                    frontend fe\n bind 127.0.0.1:8080\n default_backend be\n\
                    backend be\n server s1 127.0.0.1:1\n";
        let source = config::Source::new("w.cfg", text);
        let config = config::parse(&[source], &mut |_| None).unwrap().config;
        let binary = Binary {
            program: "weir".into(),
            files: vec!["w.cfg".into()],
            ..Binary::default()
        };
        let line = banner(&binary, &config, None);
        assert!(line.starts_with("weir "), "{line}");
        assert!(
            line.contains(
                "; listening on 127.0.0.1:8080 (fe), /run/weir/admin.sock (stats socket), \
                 127.0.0.1:9999 (stats socket); "
            ),
            "{line}"
        );
    }
}
