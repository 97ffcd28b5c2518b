//! Comparing two observations of one scenario, and the Markdown report.

use std::collections::BTreeSet;
use std::fmt::Write;

use regex::Regex;

use crate::runner::{Kind, Observation};
use crate::scenario::{CompareSpec, escape};
use crate::syslog::LogLine;

/// The compared parts plus the start, each equal or with its diff.
pub struct Verdict {
    /// Scenario name.
    pub name: String,
    /// One line on the scenario.
    pub description: String,
    /// (part name, diff lines; empty when equal, `None` when not compared).
    pub parts: Vec<(&'static str, Option<Vec<String>>)>,
}

impl Verdict {
    /// Every compared part is equal.
    pub fn equal(&self) -> bool {
        self.parts
            .iter()
            .all(|(_, d)| d.as_ref().is_none_or(|d| d.is_empty()))
    }
}

/// Compares HAProxy's observation (`a`) with weir's (`b`); the queries to
/// the played name server when `dns` (the scenario has one and compares
/// them).
pub fn compare(
    name: &str,
    description: &str,
    spec: &CompareSpec,
    dns: bool,
    a: &Observation,
    b: &Observation,
) -> Verdict {
    let start = match (&a.failed_start, &b.failed_start) {
        (None, None) | (Some(_), Some(_)) => Vec::new(),
        (x, y) => vec![
            format!("- haproxy: {}", x.as_deref().unwrap_or("started").trim()),
            format!("+ weir: {}", y.as_deref().unwrap_or("started").trim()),
        ],
    };
    if !start.is_empty() {
        // One side did not run: its other parts say nothing.
        return Verdict {
            name: name.to_owned(),
            description: description.to_owned(),
            parts: vec![
                ("start", Some(start)),
                ("warnings", None),
                ("logs", None),
                ("wire", None),
                ("states", None),
                ("clients", None),
                ("dns", None),
            ],
        };
    }
    let ignore: Vec<Regex> = spec
        .ignore_logs
        .iter()
        .filter_map(|p| Regex::new(p).ok())
        .collect();
    let kept = |o: &Observation| -> Vec<LogLine> {
        o.logs
            .iter()
            .filter(|l| !ignore.iter().any(|r| r.is_match(&l.text)))
            .cloned()
            .collect()
    };
    let tol = spec.tolerance_ms;
    let logs = match spec.logs.as_str() {
        "off" => None,
        "set" => Some(set_diff(
            &distinct(kept(a), tol),
            &distinct(kept(b), tol),
            tol,
        )),
        _ => Some(sequence_diff(&kept(a), &kept(b), tol)),
    };
    let warnings = spec.warnings.then(|| {
        let (x, y) = (warnings(&a.stderr), warnings(&b.stderr));
        // A warning HAProxy prints without a line matches weir's with one.
        let same = |p: &(Option<u32>, String), q: &(Option<u32>, String)| {
            p.1 == q.1 && (p.0 == q.0 || p.0.is_none() || q.0.is_none())
        };
        let show = |w: &(Option<u32>, String)| match w.0 {
            Some(n) => format!("{n}: {}", w.1),
            None => w.1.clone(),
        };
        let mut out: Vec<String> = x
            .iter()
            .filter(|w| !y.iter().any(|o| same(w, o)))
            .map(|w| format!("- {}", show(w)))
            .collect();
        out.extend(
            y.iter()
                .filter(|w| !x.iter().any(|o| same(o, w)))
                .map(|w| format!("+ {}", show(w))),
        );
        out
    });
    Verdict {
        name: name.to_owned(),
        description: description.to_owned(),
        parts: vec![
            ("start", Some(start)),
            ("warnings", warnings),
            ("logs", logs),
            ("wire", Some(wire_diff(a, b, spec.close_kind))),
            ("states", Some(step_diff(a, b, Kind::State))),
            ("clients", Some(step_diff(a, b, Kind::Client))),
            ("dns", dns.then(|| dns_diff(&a.dns, &b.dns))),
        ],
    }
}

/// The warnings of a balancer's standard error as (line, text): HAProxy's
/// `[WARNING]  (PID) : config : [parsing ][FILE:LINE] : text` and weir's
/// `[WARNING] FILE:LINE: text`; the line is `None` when none is named.
pub fn warnings(stderr: &str) -> Vec<(Option<u32>, String)> {
    let haproxy = Regex::new(
        r"^\[WARNING\]\s+\(\d+\) : (?:config : )?(?:(?:parsing )?\[[^\]]*:(\d+)\] : )?(.*)$",
    )
    .expect("a fixed pattern");
    let weir = Regex::new(r"^\[WARNING\] (?:[^: ]*:(\d+): )?(.*)$").expect("a fixed pattern");
    let mut out = Vec::new();
    for line in stderr.lines() {
        let Some(c) = haproxy.captures(line).or_else(|| weir.captures(line)) else {
            continue;
        };
        let w = (
            c.get(1).and_then(|n| n.as_str().parse().ok()),
            c[2].trim().to_owned(),
        );
        if !out.contains(&w) {
            out.push(w);
        }
    }
    out
}

fn distinct(lines: Vec<LogLine>, tol: i64) -> Vec<LogLine> {
    let mut out: Vec<LogLine> = Vec::new();
    for l in lines {
        if !out.iter().any(|o| o.matches(&l, tol)) {
            out.push(l);
        }
    }
    out
}

fn set_diff(a: &[LogLine], b: &[LogLine], tol: i64) -> Vec<String> {
    let only = |x: &[LogLine], y: &[LogLine], sign: char| -> Vec<String> {
        x.iter()
            .filter(|l| !y.iter().any(|o| o.matches(l, tol)))
            .map(|l| format!("{sign} {}", l.show()))
            .collect()
    };
    let mut out = only(a, b, '-');
    out.extend(only(b, a, '+'));
    out
}

/// A line diff by longest common subsequence; empty when equal.
fn sequence_diff(a: &[LogLine], b: &[LogLine], tol: i64) -> Vec<String> {
    let (n, m) = (a.len(), b.len());
    let mut lcs = vec![vec![0usize; m + 1]; n + 1];
    for i in (0..n).rev() {
        for j in (0..m).rev() {
            lcs[i][j] = if a[i].matches(&b[j], tol) {
                lcs[i + 1][j + 1] + 1
            } else {
                lcs[i + 1][j].max(lcs[i][j + 1])
            };
        }
    }
    if lcs[0][0] == n && n == m {
        return Vec::new();
    }
    let (mut i, mut j, mut out) = (0, 0, Vec::new());
    while i < n || j < m {
        if i < n && j < m && a[i].matches(&b[j], tol) {
            out.push(format!("  {}", a[i].show()));
            i += 1;
            j += 1;
        } else if j < m && (i == n || lcs[i][j + 1] >= lcs[i + 1][j]) {
            out.push(format!("+ {}", b[j].show()));
            j += 1;
        } else {
            out.push(format!("- {}", a[i].show()));
            i += 1;
        }
    }
    out
}

/// Distinct (bytes, end) pairs per server, compared as sets.
fn wire_diff(a: &Observation, b: &Observation, close_kind: bool) -> Vec<String> {
    let entries = |o: &Observation| -> BTreeSet<String> {
        o.wire
            .iter()
            .flat_map(|(server, conns)| {
                // A connection open when the balancer was stopped ends
                // with the run, not by the balancer's doing.
                conns
                    .iter()
                    .filter(|c| c.end != "still open at the end")
                    .map(move |c| {
                        let tls = c
                            .tls
                            .as_deref()
                            .map(|t| format!(" [{t}]"))
                            .unwrap_or_default();
                        let end = match after_server_close(&c.end) {
                            e if !close_kind && c.tls.is_none() && plain_close(&e) => {
                                "closed".to_owned()
                            }
                            e => e,
                        };
                        let from = c.peer_text();
                        format!("{server}{from}: \"{}\" -> {end}{tls}", escape(&c.received))
                    })
            })
            .collect()
    };
    let (x, y) = (entries(a), entries(b));
    let mut out: Vec<String> = x.difference(&y).map(|e| format!("- {e}")).collect();
    out.extend(y.difference(&x).map(|e| format!("+ {e}")));
    out
}

/// After the played server closed, whether the balancer's close that
/// follows is a FIN or an RST varies in HAProxy itself (it depends on
/// whether the server's FIN was read before the check ended): both are
/// shown as `closed`. How a connection ends when the server did not close
/// first is kept.
pub fn after_server_close(end: &str) -> String {
    let Some(peer) = end.strip_prefix("server closed; then peer: ") else {
        return end.to_owned();
    };
    let peer = match peer {
        "fin" | "reset" => "closed",
        "close_notify, fin" | "close_notify, reset" | "close_notify" => "close_notify, closed",
        other => other,
    };
    format!("server closed; then peer: {peer}")
}

/// A plain connection's end by FIN or RST, before or after the server's.
fn plain_close(end: &str) -> bool {
    matches!(end, "fin" | "reset" | "server closed; then peer: closed")
}

/// Each name's distinct queries in the order they first came (`gw.test
/// AAAA rd edns=512`, then `gw.test A ...`): how often a balancer asks
/// depends on timing, what it asks and in which order does not. A line
/// not starting with a name (malformed) counts as its own name.
pub fn distinct_queries(queries: &[String]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut names: Vec<&str> = Vec::new();
    for q in queries {
        let name = q.split(' ').next().unwrap_or("");
        if !names.contains(&name) {
            names.push(name);
        }
        if !out.contains(q) {
            out.push(q.clone());
        }
    }
    // Grouped by name, in the order names first came: the interleaving of
    // two names' resolutions is timing.
    let mut grouped = Vec::with_capacity(out.len());
    for name in names {
        grouped.extend(
            out.iter()
                .filter(|q| q.split(' ').next().unwrap_or("") == name)
                .cloned(),
        );
    }
    grouped
}

fn dns_diff(a: &[String], b: &[String]) -> Vec<String> {
    let (x, y) = (distinct_queries(a), distinct_queries(b));
    if x == y {
        return Vec::new();
    }
    let mut out: Vec<String> = x.iter().map(|q| format!("- {q}")).collect();
    out.extend(y.iter().map(|q| format!("+ {q}")));
    out
}

fn step_diff(a: &Observation, b: &Observation, kind: Kind) -> Vec<String> {
    let pick = |o: &Observation| -> Vec<(usize, String)> {
        o.steps
            .iter()
            .filter(|(_, k, _)| *k == kind)
            .map(|(i, _, t)| (*i, t.clone()))
            .collect()
    };
    let (x, y) = (pick(a), pick(b));
    if x == y {
        return Vec::new();
    }
    let steps: BTreeSet<usize> = x.iter().chain(&y).map(|(i, _)| *i).collect();
    let mut out = Vec::new();
    for step in steps {
        let of = |v: &[(usize, String)]| -> Vec<String> {
            v.iter()
                .filter(|(i, _)| *i == step)
                .map(|(_, t)| t.clone())
                .collect()
        };
        let (p, q) = (of(&x), of(&y));
        if p == q {
            out.extend(p.iter().map(|t| format!("  step {step}: {t}")));
        } else {
            out.extend(p.iter().map(|t| format!("- step {step}: {t}")));
            out.extend(q.iter().map(|t| format!("+ step {step}: {t}")));
        }
    }
    out
}

/// The Markdown report: a summary table then each scenario's differences.
pub fn report(verdicts: &[Verdict]) -> String {
    let mut out = String::new();
    let equal = verdicts.iter().filter(|v| v.equal()).count();
    let _ = writeln!(
        out,
        "{equal} of {} scenarios equal (`-` haproxy, `+` weir).\n",
        verdicts.len()
    );
    out.push_str("| scenario | start | warnings | logs | wire | states | clients | dns |\n");
    out.push_str("|---|---|---|---|---|---|---|---|\n");
    for v in verdicts {
        let cells: Vec<&str> = v
            .parts
            .iter()
            .map(|(_, d)| match d {
                None if v.parts[0].1.as_ref().is_some_and(|d| !d.is_empty()) => "-",
                None => "off",
                Some(d) if d.is_empty() => "equal",
                Some(_) => "**different**",
            })
            .collect();
        let _ = writeln!(out, "| {} | {} |", v.name, cells.join(" | "));
    }
    for v in verdicts.iter().filter(|v| !v.equal()) {
        let _ = writeln!(out, "\n## {}\n\n{}\n", v.name, v.description.trim());
        for (part, diff) in &v.parts {
            if let Some(d) = diff.as_ref().filter(|d| !d.is_empty()) {
                let _ = writeln!(out, "{part}:\n```diff\n{}\n```", d.join("\n"));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_close_after_the_servers_is_one_kind_but_others_stay() {
        let end = after_server_close;
        assert_eq!(
            end("server closed; then peer: reset"),
            "server closed; then peer: closed"
        );
        assert_eq!(
            end("server closed; then peer: close_notify, fin"),
            "server closed; then peer: close_notify, closed"
        );
        assert_eq!(
            end("server closed; then peer: fin without close_notify"),
            "server closed; then peer: fin without close_notify"
        );
        assert_eq!(end("reset"), "reset");
    }

    #[test]
    fn queries_are_distinct_per_name_in_first_order() {
        let q = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let got = distinct_queries(&q(&[
            "gw.test AAAA rd edns=512",
            "db.test A rd edns=512",
            "gw.test A rd edns=512",
            "gw.test AAAA rd edns=512",
            "db.test A rd edns=512",
        ]));
        assert_eq!(
            got,
            q(&[
                "gw.test AAAA rd edns=512",
                "gw.test A rd edns=512",
                "db.test A rd edns=512"
            ])
        );
        let other = q(&["gw.test A rd edns=512", "gw.test AAAA rd edns=512"]);
        assert_eq!(dns_diff(&got[..2], &other).len(), 4);
        assert!(dns_diff(&got, &got).is_empty());
    }

    #[test]
    fn warnings_of_both_balancers_read_as_line_and_text() {
        let haproxy = "[NOTICE]   (7) : haproxy version is 2.6.12\n\
            [WARNING]  (7) : config : parsing [/x/balancer.cfg:23] : 'option httplog' not usable.\n\
            [WARNING]  (7) : config : 'option forwardfor' ignored for proxy 'fe' as it requires HTTP mode.\n\
            [WARNING]  (7) : config : [/x/balancer.cfg:30] : 'server fe/s1' : could not resolve address 'a.test', disabling server.\n";
        let weir = "[WARNING] /y/balancer.cfg:23: 'option httplog' not usable.\n\
            [WARNING] /y/balancer.cfg:24: 'option forwardfor' ignored for proxy 'fe' as it requires HTTP mode.\n\
            [2026-12-06T04:11:37Z INFO ] weir started\n";
        let (h, w) = (warnings(haproxy), warnings(weir));
        assert_eq!(h[0], (Some(23), "'option httplog' not usable.".to_owned()));
        assert_eq!(h[1].0, None);
        assert_eq!(h[2].0, Some(30));
        assert!(
            h[2].1.starts_with("'server fe/s1' : could not"),
            "{}",
            h[2].1
        );
        assert_eq!(w.len(), 2);
        assert_eq!((w[0].clone(), &w[1].1), (h[0].clone(), &h[1].1));
    }
}
