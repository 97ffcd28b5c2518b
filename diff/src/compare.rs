//! Comparing two observations of one scenario, and the Markdown report.

use std::collections::BTreeSet;
use std::fmt::Write;

use regex::Regex;

use crate::runner::{Kind, Observation};
use crate::scenario::{CompareSpec, escape};
use crate::syslog::LogLine;

/// The four compared parts plus the start, each equal or with its diff.
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

/// Compares HAProxy's observation (`a`) with weir's (`b`).
pub fn compare(
    name: &str,
    description: &str,
    spec: &CompareSpec,
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
                ("logs", None),
                ("wire", None),
                ("states", None),
                ("clients", None),
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
    Verdict {
        name: name.to_owned(),
        description: description.to_owned(),
        parts: vec![
            ("start", Some(start)),
            ("logs", logs),
            ("wire", Some(wire_diff(a, b))),
            ("states", Some(step_diff(a, b, Kind::State))),
            ("clients", Some(step_diff(a, b, Kind::Client))),
        ],
    }
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
fn wire_diff(a: &Observation, b: &Observation) -> Vec<String> {
    let entries = |o: &Observation| -> BTreeSet<String> {
        o.wire
            .iter()
            .flat_map(|(server, conns)| {
                conns.iter().map(move |c| {
                    let tls = c
                        .tls
                        .as_deref()
                        .map(|t| format!(" [{t}]"))
                        .unwrap_or_default();
                    let from = c.peer_text();
                    format!(
                        "{server}{from}: \"{}\" -> {}{tls}",
                        escape(&c.received),
                        c.end
                    )
                })
            })
            .collect()
    };
    let (x, y) = (entries(a), entries(b));
    let mut out: Vec<String> = x.difference(&y).map(|e| format!("- {e}")).collect();
    out.extend(y.difference(&x).map(|e| format!("+ {e}")));
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
    out.push_str("| scenario | start | logs | wire | states | clients |\n");
    out.push_str("|---|---|---|---|---|---|\n");
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
