//! `show stat [{proxy|-1} {type|-1} {sid|-1}] [no-maint] [up]`: HAProxy
//! 2.6's CSV (`stats_dump_csv_header`, `stats_dump_fields_csv`,
//! `stats_dump_proxy_to_buffer`).

use super::fields::{self, Field, NAMES, Row};
use super::snapshot::ProxyStats;

/// Which rows `show stat` prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StatFilter {
    /// Only this proxy id (`-1`: all).
    pub iid: i64,
    /// Bit set of row types: 1 frontends, 2 backends, 4 servers (`-1`: all).
    pub types: i64,
    /// Only this server id (`-1`: all).
    pub sid: i64,
    /// `no-maint`: hide servers in maintenance.
    pub hide_maint: bool,
    /// `up`: hide servers that are DOWN and not changing state.
    pub hide_down: bool,
    /// Show addresses and algorithms (`addr`, `algo`): the socket's level
    /// is `operator` or `admin`.
    pub legends: bool,
}

impl Default for StatFilter {
    fn default() -> Self {
        Self {
            iid: -1,
            types: -1,
            sid: -1,
            hide_maint: false,
            hide_down: false,
            legends: true,
        }
    }
}

impl StatFilter {
    /// Parses the arguments after `show stat`, as HAProxy: three positional
    /// filters (a proxy name or id, a type mask, a server id), then flags.
    /// An unknown proxy is HAProxy's `No such proxy.` error.
    pub fn parse(args: &[&str], proxies: &[ProxyStats], legends: bool) -> Result<Self, String> {
        let mut filter = StatFilter {
            legends,
            ..Self::default()
        };
        let mut rest = args;
        if let [px, ty, sid, tail @ ..] = args {
            filter.iid = match proxies.iter().find(|p| p.name == *px) {
                Some(p) => i64::from(p.iid),
                None => atoi(px),
            };
            if filter.iid == 0 {
                return Err("No such proxy.\n".into());
            }
            filter.types = atoi(ty);
            filter.sid = atoi(sid);
            rest = tail;
        }
        for arg in rest {
            match *arg {
                "no-maint" => filter.hide_maint = true,
                "up" => filter.hide_down = true,
                _ => {}
            }
        }
        Ok(filter)
    }

    fn wants(&self, bit: u64) -> bool {
        self.types & (1 << bit) != 0
    }
}

/// C's `atoi`: leading blanks, a sign, digits; 0 when none.
fn atoi(s: &str) -> i64 {
    let s = s.trim_start();
    let (neg, digits) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    let mut v: i64 = 0;
    for b in digits.bytes().take_while(u8::is_ascii_digit) {
        v = v.saturating_mul(10).saturating_add(i64::from(b - b'0'));
    }
    if neg { -v } else { v }
}

/// The header line (`# pxname,svname,…,`).
pub fn header() -> String {
    let mut out = String::from("# ");
    for name in NAMES {
        out.push_str(name);
        out.push(',');
    }
    out.push('\n');
    out
}

/// The rows of `proxies` that `filter` selects, in `show stat` order.
pub fn rows(proxies: &[ProxyStats], filter: &StatFilter) -> Vec<Row> {
    let mut out = Vec::new();
    for px in proxies {
        if filter.iid != -1 && i64::from(px.iid) != filter.iid {
            continue;
        }
        if let Some(fe) = &px.frontend {
            if filter.wants(fields::TYPE_FE) {
                out.push(fields::frontend(px, fe));
            }
        }
        if px.backend.is_some() && filter.wants(fields::TYPE_SV) {
            for sv in &px.servers {
                if filter.sid != -1 && i64::from(sv.sid) != filter.sid {
                    continue;
                }
                if (filter.hide_maint || filter.hide_down) && sv.admin.is_maint() {
                    continue;
                }
                if filter.hide_down && hidden_as_down(sv) {
                    continue;
                }
                out.push(fields::server(px, sv));
            }
        }
        if let Some(be) = &px.backend {
            if filter.wants(fields::TYPE_BE) {
                let mut row = fields::backend(px, be);
                if filter.hide_maint || filter.hide_down {
                    let up = px.servers.iter().filter(|s| s.op.is_up()).count();
                    if let Field::Str(s) = &mut row[fields::col::STATUS] {
                        s.push_str(&format!(" ({up}/{})", px.servers.len()));
                    }
                }
                out.push(row);
            }
        }
    }
    if !filter.legends {
        for row in &mut out {
            row[fields::col::ADDR] = Field::Empty;
            row[fields::col::ALGO] = Field::Empty;
        }
    }
    out
}

/// DOWN and not on its way up (HAProxy's `STAT_HIDE_DOWN` test, for a
/// server without agent check).
fn hidden_as_down(sv: &super::snapshot::ServerRow) -> bool {
    use super::status::ServerStatus;
    !sv.op.is_up() && !matches!(sv.status, ServerStatus::GoingUp(..))
}

/// One row as a CSV line.
pub fn line(row: &Row) -> String {
    let mut out = String::new();
    for field in row {
        push_csv(&mut out, field);
        out.push(',');
    }
    out.push('\n');
    out
}

/// HAProxy's `csv_enc`: a value holding a comma, quote or line break is
/// quoted, quotes doubled.
fn push_csv(out: &mut String, field: &Field) {
    let text = field.to_string();
    if text.contains([',', '"', '\r', '\n']) {
        out.push('"');
        out.push_str(&text.replace('"', "\"\""));
        out.push('"');
    } else {
        out.push_str(&text);
    }
}

/// The whole answer to `show stat`: header and rows.
pub fn show_stat(proxies: &[ProxyStats], filter: &StatFilter) -> String {
    let mut out = header();
    for row in rows(proxies, filter) {
        out.push_str(&line(&row));
    }
    out
}
