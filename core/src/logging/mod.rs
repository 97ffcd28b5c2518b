//! Log lines as HAProxy 2.6 writes them: `log` targets ([`target`]),
//! `log-format` ([`LineFormat`]), syslog headers ([`frame`]) and dates.
//!
//! Core never reads a clock: wall-clock time is the driver's reading at
//! start-up plus the monotonic time elapsed since, and local time is that
//! plus the UTC offset the driver passes in (core has no time-zone data).

mod date;
mod format;
pub(crate) mod target;

use std::time::SystemTime;

pub use format::LineFormat;
pub(crate) use format::Record;

use crate::action::{LogLine, LogSink};
use crate::config::{Global, LogDest, LogFormat, LogTarget, Severity};
use crate::time::Instant;
use date::Civil;

/// The tag of syslog headers when no `log-tag` is set (HAProxy uses its
/// program name).
pub(crate) const DEFAULT_TAG: &str = "weir";

/// The wall clock of log lines: the monotonic clock plus the wall-clock
/// time the driver read at start-up, and the [`Host`] details.
#[derive(Debug, Clone)]
pub(crate) struct LogClock {
    base: Instant,
    wall: SystemTime,
    host: Host,
}

impl LogClock {
    /// `wall` is the wall-clock time at `base`; host details come from
    /// `global` (`log-send-hostname`, and what the driver set).
    pub(crate) fn new(base: Instant, wall: SystemTime, pid: u32, global: &Global) -> Self {
        let send_hostname = global
            .log_send_hostname
            .as_ref()
            .map(|name| name.clone().unwrap_or_else(|| global.hostname.clone()));
        let host = Host::new(
            pid,
            global.hostname.clone(),
            send_hostname,
            global.utc_offset,
        );
        LogClock { base, wall, host }
    }

    /// Takes `global`'s log header settings (a reload), keeping the time.
    pub(crate) fn reconfigure(&mut self, global: &Global) {
        let pid = self.host.pid;
        *self = LogClock::new(self.base, self.wall, pid, global);
    }

    /// Wall-clock time at `now`.
    pub(crate) fn at(&self, now: Instant) -> SystemTime {
        self.wall + now.saturating_duration_since(self.base)
    }

    /// `at` in local time to the microsecond, as `show sess` dates a
    /// session: `05/Dec/2026:03:00:47.581283`.
    pub(crate) fn local_date_micros(&self, at: Instant) -> String {
        let mut out = String::new();
        Civil::new(self.at(at), self.host.utc_offset).write_micros_date(&mut out);
        out
    }

    /// `at` in local time as log lines date an accept (`%t`), written to
    /// `out`: `05/Dec/2026:03:00:47.581`.
    pub(crate) fn write_accept_date(&self, at: Instant, out: &mut String) {
        Civil::new(self.at(at), self.host.utc_offset).write_accept_date(out);
    }

    /// What log lines say about the machine and the process.
    pub(crate) fn host(&self) -> &Host {
        &self.host
    }

    /// Local time is now `secs` east of UTC (the driver checks for DST).
    pub(crate) fn set_utc_offset(&mut self, secs: i32) {
        self.host.utc_offset = secs.clamp(-86_399, 86_399);
    }
}

/// What log lines say about the machine and the process.
#[derive(Debug, Clone, Default)]
pub(crate) struct Host {
    /// Seconds east of UTC of local time.
    utc_offset: i32,
    pid: u32,
    /// The machine's name (`%H`).
    hostname: String,
    /// The name syslog headers carry (`log-send-hostname`), if any.
    send_hostname: Option<String>,
}

impl Host {
    /// Local time `utc_offset` seconds east of UTC (within a day).
    pub(crate) fn new(
        pid: u32,
        hostname: String,
        send_hostname: Option<String>,
        utc_offset: i32,
    ) -> Host {
        Host {
            utc_offset: utc_offset.clamp(-86_399, 86_399),
            pid,
            hostname,
            send_hostname,
        }
    }
}

/// Frames `message` for `target` as HAProxy's `__do_send_log`: the header
/// of the target's format, the whole cut to the target's `len` (one byte
/// less on stdout and stderr, where the newline counts). `None` when the
/// severity is above the target's max level; a severity more important
/// than its min level is sent at the min level.
pub(crate) fn frame(
    target: &LogTarget,
    severity: Severity,
    env: &Host,
    wall: SystemTime,
    message: &str,
) -> Option<LogLine> {
    if severity > target.max_level {
        return None;
    }
    let level = severity.max(target.min_level) as u32;
    let pri = u32::from(target.facility) * 8 + level;
    let format = match (target.format, &env.send_hostname) {
        (LogFormat::Default, Some(_)) => LogFormat::Rfc3164,
        (LogFormat::Default, None) => LogFormat::Local,
        (format, _) => format,
    };
    let mut text = String::with_capacity(64 + message.len().min(target.len));
    let tag = target.tag.as_str();
    let pid = env.pid;
    use std::fmt::Write as _;
    let _ = match format {
        LogFormat::Local | LogFormat::Rfc3164 | LogFormat::Default => {
            let _ = write!(text, "<{pri}>");
            Civil::new(wall, env.utc_offset).write_legacy(&mut text);
            text.push(' ');
            if format == LogFormat::Rfc3164 {
                let host = env.send_hostname.as_deref().unwrap_or("localhost");
                let _ = write!(text, "{host} ");
            }
            if tag.is_empty() {
                Ok(())
            } else {
                write!(text, "{tag}[{pid}]: ")
            }
        }
        LogFormat::Rfc5424 => {
            let _ = write!(text, "<{pri}>1 ");
            Civil::new(wall, env.utc_offset).write_iso(&mut text);
            let host = env.send_hostname.as_deref().unwrap_or("-");
            let tag = if tag.is_empty() { "-" } else { tag };
            write!(text, " {host} {tag} {pid} - - ")
        }
        LogFormat::Priority => write!(text, "<{pri}>"),
        LogFormat::Short => write!(text, "<{level}>"),
        LogFormat::Timed => {
            let _ = write!(text, "<{level}>");
            Civil::new(wall, env.utc_offset).write_iso(&mut text);
            write!(text, " ")
        }
        LogFormat::Iso => {
            Civil::new(wall, env.utc_offset).write_iso(&mut text);
            write!(text, " ")
        }
        LogFormat::Raw => Ok(()),
    };
    // HAProxy drops trailing newlines of messages.
    text.push_str(message.trim_end_matches(['\n', '\0']));
    let (sink, len) = match &target.dest {
        LogDest::Stdout => (LogSink::Stdout, target.len.saturating_sub(1)),
        LogDest::Stderr => (LogSink::Stderr, target.len.saturating_sub(1)),
        LogDest::Udp(addr) => (LogSink::Udp(*addr), target.len),
        LogDest::Unix(path) => (LogSink::Unix(path.clone()), target.len),
    };
    truncate(&mut text, len);
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

/// The `option tcplog` fields of a session, for the tests' records.
#[cfg(test)]
pub(crate) struct TcpLog<'a> {
    pub client: std::net::SocketAddr,
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

#[cfg(test)]
impl TcpLog<'_> {
    /// The record of these fields (no addresses but the client's, no bytes in).
    pub(crate) fn record(&self) -> Record<'_> {
        Record {
            client: self.client,
            frontend_addr: None,
            accepted: self.accepted,
            frontend: self.frontend,
            backend: self.backend,
            server: self.server,
            server_addr: None,
            queue_ms: Some(self.queue_ms),
            connect_ms: self.connect_ms,
            total_ms: self.total_ms,
            bytes_out: self.bytes_out,
            bytes_in: 0,
            termination: self.termination,
            counts: self.counts,
            redispatched: self.redispatched,
            queue_pos: self.queue_pos,
            asap: false,
        }
    }

    /// The `option tcplog` line, in UTC: `%ci:%cp [%t] %ft %b/%s
    /// %Tw/%Tc/%Tt %B %ts %ac/%fc/%bc/%sc/%rc %sq/%bq`.
    pub(crate) fn format(&self) -> String {
        let mut line = String::with_capacity(128);
        LineFormat::tcplog().render(&self.record(), &Host::default(), &mut line, 65_535);
        line
    }
}

#[cfg(test)]
mod tests;
