//! Log lines: HAProxy's `option tcplog` format, syslog headers, dates.
//!
//! Core never reads a clock: wall-clock time is the driver's reading at
//! start-up plus the monotonic time elapsed since, and dates are UTC.

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::action::{LogLine, LogSink};
use crate::config::{LogDest, LogFormat, LogTarget, Severity};
use crate::time::Instant;

/// Turns the monotonic clock into wall-clock time.
#[derive(Debug, Clone, Copy)]
pub(crate) struct WallClock {
    base: Instant,
    wall: SystemTime,
}

impl WallClock {
    pub(crate) fn new(base: Instant, wall: SystemTime) -> Self {
        WallClock { base, wall }
    }

    pub(crate) fn at(&self, now: Instant) -> SystemTime {
        self.wall + now.saturating_duration_since(self.base)
    }
}

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// Broken-down UTC time.
struct Civil {
    year: i64,
    month: usize,
    day: u32,
    hour: u64,
    minute: u64,
    second: u64,
    millis: u32,
}

fn civil(t: SystemTime) -> Civil {
    let since = t.duration_since(UNIX_EPOCH).unwrap_or(Duration::ZERO);
    let secs = since.as_secs();
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    // Howard Hinnant's days-to-civil algorithm.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as usize;
    let year = yoe + era * 400 + i64::from(month <= 2);
    Civil {
        year,
        month,
        day,
        hour: rem / 3600,
        minute: rem % 3600 / 60,
        second: rem % 60,
        millis: since.subsec_millis(),
    }
}

/// HAProxy's `%t` accept date: `25/Nov/2026:02:25:00.123`.
pub(crate) fn accept_date(t: SystemTime) -> String {
    let c = civil(t);
    format!(
        "{:02}/{}/{}:{:02}:{:02}:{:02}.{:03}",
        c.day,
        MONTHS[c.month - 1],
        c.year,
        c.hour,
        c.minute,
        c.second,
        c.millis
    )
}

/// The RFC 3164 timestamp: `Nov 25 02:25:00` (day padded with a space).
fn syslog_date(t: SystemTime) -> String {
    let c = civil(t);
    format!(
        "{} {:>2} {:02}:{:02}:{:02}",
        MONTHS[c.month - 1],
        c.day,
        c.hour,
        c.minute,
        c.second
    )
}

/// Formats `message` for `target`, or `None` when its level is filtered out.
pub(crate) fn format_for(
    target: &LogTarget,
    severity: Severity,
    wall: SystemTime,
    pid: u32,
    message: &str,
) -> Option<LogLine> {
    if severity > target.max_level || severity < target.min_level {
        return None;
    }
    let pri = u32::from(target.facility) * 8 + severity as u32;
    let mut text = match target.format {
        LogFormat::Rfc3164 => format!("<{pri}>{} weir[{pid}]: ", syslog_date(wall)),
        LogFormat::Short => format!("<{pri}>"),
        LogFormat::Raw => String::new(),
    };
    text.push_str(message);
    truncate(&mut text, target.len);
    let sink = match target.dest {
        LogDest::Stdout => LogSink::Stdout,
        LogDest::Stderr => LogSink::Stderr,
    };
    Some(LogLine { sink, text })
}

fn truncate(text: &mut String, len: usize) {
    if text.len() > len {
        let mut cut = len;
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        text.truncate(cut);
    }
}

/// Everything one `option tcplog` line says about a finished session.
pub(crate) struct TcpLog<'a> {
    pub client: SocketAddr,
    pub accepted: SystemTime,
    pub frontend: &'a str,
    pub backend: &'a str,
    /// `None` logs `<NOSRV>`.
    pub server: Option<&'a str>,
    /// Milliseconds spent waiting in the queue for a server.
    pub queue_ms: u64,
    /// Milliseconds to connect to the server, `None` if it never connected.
    pub connect_ms: Option<u64>,
    pub total_ms: u64,
    /// Bytes sent from server to client.
    pub bytes_out: u64,
    pub termination: [char; 2],
    /// Process, frontend, backend and server connection counts, retries.
    pub counts: [u32; 5],
    /// A retry went to another server: `%rc` gets a `+`.
    pub redispatched: bool,
    /// Positions in the server and backend queues on arrival (`%sq/%bq`).
    pub queue_pos: [u32; 2],
}

impl TcpLog<'_> {
    /// `%ci:%cp [%t] %ft %b/%s %Tw/%Tc/%Tt %B %ts %ac/%fc/%bc/%sc/%rc %sq/%bq`
    pub(crate) fn format(&self) -> String {
        let mut s = String::with_capacity(128);
        let tc = self.connect_ms.map_or(-1, |ms| ms as i64);
        let [ac, fc, bc, sc, rc] = self.counts;
        let _ = write!(
            s,
            "{}:{} [{}] {} {}/{} {}/{}/{} {} {}{} {ac}/{fc}/{bc}/{sc}/{}{rc} {}/{}",
            self.client.ip(),
            self.client.port(),
            accept_date(self.accepted),
            self.frontend,
            self.backend,
            self.server.unwrap_or("<NOSRV>"),
            self.queue_ms,
            tc,
            self.total_ms,
            self.bytes_out,
            self.termination[0],
            self.termination[1],
            if self.redispatched { "+" } else { "" },
            self.queue_pos[0],
            self.queue_pos[1],
        );
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: u64, millis: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_millis(secs * 1000 + millis)
    }

    fn target(format: LogFormat) -> LogTarget {
        LogTarget {
            dest: LogDest::Stdout,
            format,
            len: 1024,
            facility: 16,
            max_level: Severity::Debug,
            min_level: Severity::Emerg,
        }
    }

    #[test]
    fn accept_date_is_haproxy_style() {
        // 2009-02-06 12:12:51.443 UTC
        assert_eq!(
            accept_date(at(1_233_922_371, 443)),
            "06/Feb/2009:12:12:51.443"
        );
        assert_eq!(accept_date(at(0, 7)), "01/Jan/1970:00:00:00.007");
        // 2024-02-29, a leap day
        assert_eq!(
            accept_date(at(1_709_210_096, 0)),
            "29/Feb/2024:12:34:56.000"
        );
    }

    #[test]
    fn formats_wrap_the_message() {
        let t = at(1_233_922_371, 0);
        let raw = format_for(&target(LogFormat::Raw), Severity::Info, t, 7, "hi").unwrap();
        assert_eq!(raw.text, "hi");
        assert_eq!(raw.sink, LogSink::Stdout);
        let short = format_for(&target(LogFormat::Short), Severity::Info, t, 7, "hi").unwrap();
        assert_eq!(short.text, "<134>hi");
        let full = format_for(&target(LogFormat::Rfc3164), Severity::Alert, t, 7, "hi").unwrap();
        assert_eq!(full.text, "<129>Feb  6 12:12:51 weir[7]: hi");
    }

    #[test]
    fn levels_outside_the_target_range_are_dropped() {
        let mut t = target(LogFormat::Raw);
        t.max_level = Severity::Notice;
        assert!(format_for(&t, Severity::Info, UNIX_EPOCH, 1, "x").is_none());
        assert!(format_for(&t, Severity::Alert, UNIX_EPOCH, 1, "x").is_some());
        t.min_level = Severity::Err;
        assert!(format_for(&t, Severity::Alert, UNIX_EPOCH, 1, "x").is_none());
    }

    #[test]
    fn long_lines_are_cut_at_len() {
        let mut t = target(LogFormat::Raw);
        t.len = 5;
        let line = format_for(&t, Severity::Info, UNIX_EPOCH, 1, "héllo world").unwrap();
        assert_eq!(line.text, "héll");
    }

    #[test]
    fn tcplog_line_matches_haproxy_fields() {
        let line = TcpLog {
            client: "10.0.1.2:33313".parse().unwrap(),
            accepted: at(1_233_922_371, 443),
            frontend: "fnt",
            backend: "bck",
            server: Some("srv1"),
            queue_ms: 0,
            queue_pos: [0, 0],
            connect_ms: Some(0),
            total_ms: 5007,
            bytes_out: 212,
            termination: ['-', '-'],
            counts: [0, 0, 0, 0, 3],
            redispatched: false,
        };
        assert_eq!(
            line.format(),
            "10.0.1.2:33313 [06/Feb/2009:12:12:51.443] fnt bck/srv1 0/0/5007 212 -- 0/0/0/0/3 0/0"
        );
    }

    #[test]
    fn tcplog_without_server_says_nosrv_and_minus_one() {
        let line = TcpLog {
            client: "[::1]:4000".parse().unwrap(),
            accepted: at(0, 0),
            frontend: "fe",
            backend: "app",
            server: None,
            queue_ms: 0,
            queue_pos: [0, 0],
            connect_ms: None,
            total_ms: 0,
            bytes_out: 0,
            termination: ['S', 'C'],
            counts: [1, 1, 0, 0, 0],
            redispatched: false,
        };
        assert_eq!(
            line.format(),
            "::1:4000 [01/Jan/1970:00:00:00.000] fe app/<NOSRV> 0/-1/0 0 SC 1/1/0/0/0 0/0"
        );
    }
}
