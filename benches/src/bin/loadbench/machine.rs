//! The machine a run happened on.

use std::fs;

/// CPU, cores, kernel, memory and load, as one Markdown line each.
pub fn describe() -> Vec<String> {
    let cpuinfo = fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name"))
        .and_then(|l| l.split_once(':'))
        .map_or("unknown CPU", |(_, m)| m.trim())
        .to_owned();
    let logical = cpuinfo
        .lines()
        .filter(|l| l.starts_with("processor"))
        .count();
    let usable = std::thread::available_parallelism().map_or(0, usize::from);
    let kernel = fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    let mem_kib: u64 = fs::read_to_string("/proc/meminfo")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0);
    vec![
        format!("CPU: {model}, {logical} logical CPUs ({usable} usable by this process)"),
        format!(
            "kernel: Linux {}, memory {:.1} GiB",
            kernel.trim(),
            mem_kib as f64 / 1024.0 / 1024.0
        ),
        format!("load average before the run: {}", load_average()),
    ]
}

/// The 1, 5 and 15 minute load averages.
pub fn load_average() -> String {
    fs::read_to_string("/proc/loadavg")
        .unwrap_or_default()
        .split_whitespace()
        .take(3)
        .collect::<Vec<_>>()
        .join(" ")
}

/// `net.ipv4.tcp_tw_reuse`: without it, connection-per-request runs out
/// of ports within a minute.
pub fn tw_reuse() -> Option<u32> {
    fs::read_to_string("/proc/sys/net/ipv4/tcp_tw_reuse")
        .ok()?
        .trim()
        .parse()
        .ok()
}
