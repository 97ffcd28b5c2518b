//! What weir does when it owns the process (the binaries): size
//! `maxconn` to the descriptor limit, and say that it started.

use weir_core::config::{self, Config, StatsAddr, printable};

use crate::Binary;
use crate::limits::{self, FdPlan};

/// Sizes `config`'s `maxconn` to the descriptor limit (warning when a
/// configured one cannot fit); returns the start-up line to log once the
/// listeners are bound. Called when the driver's own descriptors (poller,
/// signal pipes) are open, so that they are counted.
pub(crate) fn prepare(binary: &Binary, config: &mut Config) -> String {
    let fds = limits::apply(config);
    if let Some(warning) = fds.as_ref().and_then(FdPlan::warning) {
        log::warn!("{warning}");
    }
    banner(binary, config, fds.as_ref())
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
        (Some(plan), _) if plan.derived => format!(
            "maxconn {} (from the descriptor limit {})",
            plan.maxconn, plan.limit.soft
        ),
        (_, Some(maxconn)) => format!("maxconn {maxconn}"),
        (_, None) => "no maxconn".to_owned(),
    };
    format!(
        "{} {} started: config {}; listening on {}; checking {servers} server{} in \
         {backends} backend{}; {maxconn}",
        binary.program,
        env!("CARGO_PKG_VERSION"),
        binary.files.join(", "),
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
        assert!(
            line.contains(
                "; listening on 127.0.0.1:8080 (fe), /run/weir/admin.sock (stats socket), \
                 127.0.0.1:9999 (stats socket); "
            ),
            "{line}"
        );
    }
}
