//! Results: samples per column and figure, their medians, and the
//! Markdown report.

use std::fmt::Write as _;

/// A figure of the report.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Metric {
    Bulk1,
    Bulk1Cpu,
    Bulk4,
    Bulk4Cpu,
    Conn,
    ConnCpu,
    ConnLoad,
    KeepAlive,
    P50,
    P99,
    P999,
    KeepAliveCpu,
    KeepAliveLoad,
    IdleRss,
    PerConn,
    Marginal,
    CheckCpu,
    CheckRate,
    CheckCost,
    TlsCheckCpu,
    TlsCheckCost,
    TlsCheckRate,
    TlsResumed,
}

/// The rows of the main table, in order.
pub const MAIN: &[Metric] = &[
    Metric::Bulk1,
    Metric::Bulk1Cpu,
    Metric::Bulk4,
    Metric::Bulk4Cpu,
    Metric::Conn,
    Metric::ConnCpu,
    Metric::KeepAlive,
    Metric::P50,
    Metric::P99,
    Metric::P999,
    Metric::KeepAliveCpu,
    Metric::IdleRss,
    Metric::PerConn,
    Metric::Marginal,
    Metric::CheckCpu,
    Metric::CheckRate,
    Metric::CheckCost,
    Metric::TlsCheckCpu,
    Metric::TlsCheckCost,
    Metric::TlsCheckRate,
    Metric::TlsResumed,
];

/// The columns of the nbthread table.
pub const SCALING: &[Metric] = &[
    Metric::Bulk4,
    Metric::Bulk4Cpu,
    Metric::Conn,
    Metric::ConnLoad,
    Metric::KeepAlive,
    Metric::KeepAliveLoad,
];

/// What the labels need to know about the run.
pub struct Shape {
    pub connections: usize,
    pub idle: usize,
    pub check_servers: usize,
    pub check_http: bool,
}

impl Metric {
    /// The row label (↓: lower is better).
    pub fn label(self, s: &Shape) -> String {
        match self {
            Metric::Bulk1 => "bulk, 1 stream, Gbit/s".into(),
            Metric::Bulk1Cpu => "balancer CPU during bulk 1 stream, % of a core ↓".into(),
            Metric::Bulk4 => "bulk, 4 streams, Gbit/s".into(),
            Metric::Bulk4Cpu => "balancer CPU during bulk 4 streams, % of a core ↓".into(),
            Metric::Conn => "new connection per request, req/s".into(),
            Metric::ConnCpu => "CPU per new-connection request, µs ↓".into(),
            Metric::ConnLoad => "balancer CPU during new connections, % of a core".into(),
            Metric::KeepAlive => {
                format!("keep-alive requests ({} connections), req/s", s.connections)
            }
            Metric::P50 => "keep-alive latency p50, µs ↓".into(),
            Metric::P99 => "keep-alive latency p99, µs ↓".into(),
            Metric::P999 => "keep-alive latency p99.9, µs ↓".into(),
            Metric::KeepAliveCpu => "CPU per keep-alive request, µs ↓".into(),
            Metric::KeepAliveLoad => "balancer CPU during keep-alive, % of a core".into(),
            Metric::IdleRss => "idle RSS, MiB ↓".into(),
            Metric::PerConn => format!(
                "RSS per idle proxied connection ({} connections), bytes ↓",
                thousands(s.idle as f64)
            ),
            Metric::Marginal => format!(
                "RSS per idle proxied connection, from {} to {} connections, bytes ↓",
                thousands((s.idle / 2) as f64),
                thousands(s.idle as f64)
            ),
            Metric::CheckCpu => format!(
                "{} servers checked every 1 s ({}), CPU % of a core ↓",
                thousands(s.check_servers as f64),
                if s.check_http { "HTTP" } else { "TCP connect" }
            ),
            Metric::CheckRate => "checks the servers saw, per s".into(),
            Metric::TlsCheckCpu => format!(
                "{} servers checked every 1 s (HTTP in TLS), CPU % of a core ↓",
                thousands(s.check_servers as f64)
            ),
            Metric::TlsCheckRate => "TLS checks the servers saw, per s".into(),
            Metric::CheckCost => "CPU per check, µs ↓".into(),
            Metric::TlsCheckCost => "CPU per TLS check, µs ↓".into(),
            Metric::TlsResumed => "TLS checks that resumed a session, %".into(),
        }
    }

    /// The short column title of the nbthread table.
    fn short(self) -> &'static str {
        match self {
            Metric::Bulk4 => "bulk 4 streams, Gbit/s",
            Metric::Bulk4Cpu => "CPU %",
            Metric::Conn => "new conn., req/s",
            Metric::ConnLoad => "CPU %",
            Metric::KeepAlive => "keep-alive, req/s",
            Metric::KeepAliveLoad => "CPU %",
            _ => "",
        }
    }

    /// The value as the report prints it.
    pub fn format(self, v: f64) -> String {
        match self {
            Metric::Bulk1 | Metric::Bulk4 | Metric::IdleRss => format!("{v:.1}"),
            Metric::Bulk1Cpu | Metric::Bulk4Cpu | Metric::ConnLoad | Metric::KeepAliveLoad => {
                format!("{v:.0} %")
            }
            Metric::CheckCpu | Metric::TlsCheckCpu => format!("{v:.1} %"),
            Metric::TlsResumed => format!("{v:.0} %"),
            Metric::CheckCost | Metric::TlsCheckCost => format!("{v:.0}"),
            Metric::ConnCpu | Metric::KeepAliveCpu => format!("{v:.2}"),
            Metric::P50 | Metric::P99 | Metric::P999 => format!("{v:.0}"),
            Metric::Conn
            | Metric::KeepAlive
            | Metric::PerConn
            | Metric::Marginal
            | Metric::CheckRate
            | Metric::TlsCheckRate => thousands(v),
        }
    }

    /// Whether the ratio to HAProxy means anything for this row.
    fn ratio(self) -> bool {
        !matches!(
            self,
            Metric::CheckRate | Metric::TlsCheckRate | Metric::TlsResumed
        )
    }
}

/// `12345.6` as `12,346`.
pub fn thousands(v: f64) -> String {
    let digits = format!("{:.0}", v.abs());
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    if v < -0.5 { format!("-{out}") } else { out }
}

/// Every sample, and what the run noticed.
#[derive(Default)]
pub struct Results {
    samples: Vec<(String, Metric, f64)>,
    pub notes: Vec<String>,
}

impl Results {
    /// Records one run's value.
    pub fn add(&mut self, column: &str, m: Metric, v: f64) {
        if v.is_finite() {
            self.samples.push((column.to_owned(), m, v));
        }
    }

    /// Records a note once.
    pub fn note(&mut self, text: String) {
        if !self.notes.contains(&text) {
            eprintln!("  note: {text}");
            self.notes.push(text);
        }
    }

    /// The median of a column's runs of a figure.
    pub fn median(&self, column: &str, m: Metric) -> Option<f64> {
        let mut v: Vec<f64> = self
            .samples
            .iter()
            .filter(|(c, mm, _)| c == column && *mm == m)
            .map(|s| s.2)
            .collect();
        if v.is_empty() {
            return None;
        }
        v.sort_by(f64::total_cmp);
        let mid = v.len() / 2;
        Some(if v.len() % 2 == 1 {
            v[mid]
        } else {
            (v[mid - 1] + v[mid]) / 2.0
        })
    }

    /// The main table: one row per figure, one column per balancer, with
    /// ratios to HAProxy; empty when nothing was measured.
    pub fn main_table(&self, columns: &[String], shape: &Shape) -> String {
        let columns: Vec<&String> = columns
            .iter()
            .filter(|c| MAIN.iter().any(|&m| self.median(c, m).is_some()))
            .collect();
        if columns.is_empty() {
            return String::new();
        }
        let mut t = String::from("| |");
        for c in &columns {
            let _ = write!(t, " {c} |");
        }
        t.push_str("\n|---|");
        for _ in &columns {
            t.push_str("---|");
        }
        t.push('\n');
        for &m in MAIN {
            if columns.iter().all(|c| self.median(c, m).is_none()) {
                continue;
            }
            let base = self.median("HAProxy", m);
            let _ = write!(t, "| {} |", m.label(shape));
            for c in &columns {
                match self.median(c, m) {
                    Some(v) => {
                        let _ = write!(t, " {}", m.format(v));
                        if let Some(b) = base.filter(|&b| b > 0.0 && m.ratio()) {
                            if *c != "HAProxy" && !c.starts_with("direct") {
                                let _ = write!(t, " ({:.2}×)", v / b);
                            }
                        }
                        t.push_str(" |");
                    }
                    None => t.push_str(" – |"),
                }
            }
            t.push('\n');
        }
        t
    }

    /// The nbthread table of one binary: a row per thread count.
    pub fn scaling_table(&self, binary: &str, threads: &[usize]) -> Option<String> {
        let rows: Vec<usize> = threads
            .iter()
            .copied()
            .filter(|n| {
                SCALING
                    .iter()
                    .any(|&m| self.median(&scaling_column(binary, *n), m).is_some())
            })
            .collect();
        if rows.is_empty() {
            return None;
        }
        let mut t = format!("| {binary} `nbthread` |");
        for m in SCALING {
            let _ = write!(t, " {} |", m.short());
        }
        t.push_str("\n|---|");
        for _ in SCALING {
            t.push_str("---|");
        }
        t.push('\n');
        let one = scaling_column(binary, rows[0]);
        for n in rows {
            let col = scaling_column(binary, n);
            let _ = write!(t, "| {n} |");
            for &m in SCALING {
                match self.median(&col, m) {
                    Some(v) => {
                        let _ = write!(t, " {}", m.format(v));
                        let base = self.median(&one, m).filter(|&b| b > 0.0);
                        if let Some(b) = base.filter(|_| col != one) {
                            let _ = write!(t, " ({:.2}×)", v / b);
                        }
                        t.push_str(" |");
                    }
                    None => t.push_str(" – |"),
                }
            }
            t.push('\n');
        }
        Some(t)
    }
}

/// The column name of a binary at a thread count.
pub fn scaling_column(binary: &str, n: usize) -> String {
    format!("{binary} nbthread {n}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn medians_and_ratios() {
        let mut r = Results::default();
        for v in [3.0, 1.0, 2.0] {
            r.add("HAProxy", Metric::Bulk1, v);
        }
        r.add("weir", Metric::Bulk1, 3.0);
        r.add("weir", Metric::Bulk1, 1.0);
        assert_eq!(r.median("HAProxy", Metric::Bulk1), Some(2.0));
        assert_eq!(r.median("weir", Metric::Bulk1), Some(2.0));
        assert_eq!(r.median("nginx", Metric::Bulk1), None);
        let shape = Shape {
            connections: 100,
            idle: 10_000,
            check_servers: 1000,
            check_http: true,
        };
        let cols = ["HAProxy".to_owned(), "nginx".to_owned(), "weir".to_owned()];
        let t = r.main_table(&cols, &shape);
        assert!(
            t.contains("| bulk, 1 stream, Gbit/s | 2.0 | 2.0 (1.00×) |"),
            "columns without data are left out: {t}"
        );
        assert!(
            !t.contains("keep-alive"),
            "rows without data are left out: {t}"
        );
        assert_eq!(Results::default().main_table(&cols, &shape), "");
    }

    #[test]
    fn number_formats() {
        assert_eq!(thousands(1234567.4), "1,234,567");
        assert_eq!(thousands(999.0), "999");
        assert_eq!(thousands(0.2), "0");
        assert_eq!(Metric::CheckCpu.format(3.21), "3.2 %");
    }
}
