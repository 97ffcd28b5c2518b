//! The syslog socket both balancers log to, and the normalisation that makes
//! their lines comparable: header, dates, pids and ports removed, durations
//! kept apart to be compared within a tolerance.

use std::collections::HashMap;
use std::io;
use std::net::UdpSocket;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::Duration;

use regex::Regex;

/// A UDP syslog listener on 127.0.0.1 collecting every datagram as text.
pub struct Syslog {
    /// The port it listens on.
    pub port: u16,
    lines: Arc<Mutex<Vec<String>>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Syslog {
    /// Binds a kernel-chosen port and starts collecting.
    pub fn start() -> io::Result<Syslog> {
        let socket = UdpSocket::bind("127.0.0.1:0")?;
        socket.set_read_timeout(Some(Duration::from_millis(50)))?;
        let port = socket.local_addr()?.port();
        let lines = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (l, s) = (lines.clone(), stop.clone());
        let thread = thread::spawn(move || {
            let mut buf = vec![0u8; 65536];
            while !s.load(Ordering::SeqCst) {
                if let Ok(n) = socket.recv(&mut buf) {
                    let text = String::from_utf8_lossy(&buf[..n]).trim_end().to_owned();
                    l.lock().unwrap_or_else(|e| e.into_inner()).push(text);
                }
            }
        });
        Ok(Syslog {
            port,
            lines,
            stop,
            thread: Some(thread),
        })
    }

    /// The raw lines received so far.
    pub fn lines(&self) -> Vec<String> {
        self.lines.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Stops collecting and returns every line.
    pub fn finish(mut self) -> Vec<String> {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        self.lines()
    }
}

/// A log line made comparable: `text` with each duration replaced by `<t>`
/// and the durations apart in `times` (milliseconds).
#[derive(Clone, Debug, PartialEq)]
pub struct LogLine {
    /// `<PRI>` and the message, normalised.
    pub text: String,
    /// The durations taken out of the message, in order.
    pub times: Vec<i64>,
}

impl LogLine {
    /// Equal text, and each duration within `tolerance` ms.
    pub fn matches(&self, other: &LogLine, tolerance: i64) -> bool {
        self.text == other.text
            && self.times.len() == other.times.len()
            && self.times.iter().zip(&other.times).all(|(a, b)| {
                // -1 (never happened) must match exactly.
                if *a < 0 || *b < 0 {
                    a == b
                } else {
                    (a - b).abs() <= tolerance
                }
            })
    }

    /// The line with its durations put back, for display.
    pub fn show(&self) -> String {
        let mut out = String::new();
        let mut times = self.times.iter();
        for (i, part) in self.text.split("<t>").enumerate() {
            if i > 0 {
                match times.next() {
                    Some(t) => out.push_str(&t.to_string()),
                    None => out.push_str("<t>"),
                }
            }
            out.push_str(part);
        }
        out
    }
}

/// Turns raw syslog datagrams into comparable lines.
pub struct Normaliser {
    header: Regex,
    date: Regex,
    addr: Regex,
    port: Regex,
    timers: Regex,
    duration: Regex,
    counts: Option<Regex>,
    ports: HashMap<u16, String>,
}

impl Normaliser {
    /// `ports` names the ports the tool chose (servers, frontends); without
    /// `conn_counts`, a tcplog line's actconn/feconn/beconn/srv_conn are
    /// masked (they depend on when the previous connection's close was seen).
    pub fn new(ports: HashMap<u16, String>, conn_counts: bool) -> Normaliser {
        let re = |p: &str| Regex::new(p).expect("a fixed pattern");
        Normaliser {
            // <PRI>, then an RFC 3164 or 5424 header up to "tag[pid]: ".
            header: re(r"^(<\d+>)(?:.*?\[\d+\]: |.*?: )?(.*)$"),
            date: re(r"\[\d{2}/\w{3}/\d{4}:\d{2}:\d{2}:\d{2}\.\d{3}\]"),
            addr: re(r"127\.0\.0\.1:(\d+)"),
            // A port alone (`connect port 41863`): five digits.
            port: re(r"\b[0-9]{5}\b"),
            // Tw/Tc/Tt of a tcplog line (Tt may carry a '+').
            timers: re(r"(^| )(-?\d+)/(-?\d+)/(\+?-?\d+)( |$)"),
            duration: re(r"(duration: |in )(-?\d+)ms"),
            counts: (!conn_counts).then(|| re(r"(^| )\d+/\d+/\d+/\d+/(\+?\d+)( |$)")),
            ports,
        }
    }

    /// Normalises one datagram.
    pub fn line(&self, raw: &str) -> LogLine {
        let (pri, body) = match self.header.captures(raw) {
            Some(c) => (c[1].to_owned(), c[2].to_owned()),
            None => (String::new(), raw.to_owned()),
        };
        let body = self.date.replace_all(&body, "[DATE]");
        let body = match &self.counts {
            Some(re) => re.replace_all(&body, "$1*/*/*/*/$2$3"),
            None => body,
        };
        let body = self.addr.replace_all(&body, |c: &regex::Captures| {
            let port: u16 = c[1].parse().unwrap_or(0);
            match self.ports.get(&port) {
                Some(name) => format!("127.0.0.1:{{{{{name}}}}}"),
                None => "127.0.0.1:PORT".to_owned(),
            }
        });
        let body = self.port.replace_all(&body, |c: &regex::Captures| {
            match c[0].parse::<u16>().ok().and_then(|p| self.ports.get(&p)) {
                Some(name) => format!("{{{{{name}.port}}}}"),
                None => c[0].to_owned(),
            }
        });
        let mut times = Vec::new();
        let body = self.timers.replace_all(&body, |c: &regex::Captures| {
            for i in 2..=4 {
                times.push(c[i].trim_start_matches('+').parse().unwrap_or(0));
            }
            let plus = if c[4].starts_with('+') { "+" } else { "" };
            format!("{}<t>/<t>/{plus}<t>{}", &c[1], &c[5])
        });
        let body = self.duration.replace_all(&body, |c: &regex::Captures| {
            times.push(c[2].parse().unwrap_or(0));
            format!("{}<t>ms", &c[1])
        });
        LogLine {
            text: format!("{pri}{body}"),
            times,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn normaliser() -> Normaliser {
        Normaliser::new(HashMap::from([(4000, "s1".to_owned())]), true)
    }

    #[test]
    fn a_tcplog_line_loses_its_header_date_and_client_port() {
        let raw = "<134>Jan  2 03:04:05 haproxy[123]: 127.0.0.1:51234 \
                   [02/Jan/2025:03:04:05.678] fe be/s1 0/1/+25 12 -- 1/1/0/0/0 0/0";
        let line = normaliser().line(raw);
        assert_eq!(
            line.text,
            "<134>127.0.0.1:PORT [DATE] fe be/s1 <t>/<t>/+<t> 12 -- 1/1/0/0/0 0/0"
        );
        assert_eq!(line.times, vec![0, 1, 25]);
    }

    #[test]
    fn durations_match_within_the_tolerance_but_never_across_minus_one() {
        let n = normaliser();
        let a = n.line("<133>x[1]: Health check for server be/s1 failed, check duration: 10ms");
        let b = n.line("<133>y[2]: Health check for server be/s1 failed, check duration: 250ms");
        assert!(a.matches(&b, 300));
        assert!(!a.matches(&b, 100));
        let c = n.line("<134>x[1]: 127.0.0.1:4000 fe be/s1 -1/-1/0 0 CC 0/0/0/0/0 0/0");
        let d = n.line("<134>x[1]: 127.0.0.1:4000 fe be/s1 0/-1/0 0 CC 0/0/0/0/0 0/0");
        assert!(!c.matches(&d, 300));
        assert!(c.text.starts_with("<134>127.0.0.1:{{s1}} fe"), "{}", c.text);
    }

    #[test]
    fn connection_counts_are_masked_unless_asked_for_but_retries_stay() {
        let n = Normaliser::new(HashMap::new(), false);
        let line = n.line(
            "<134>x[1]: 127.0.0.1:9 [02/Jan/2025:03:04:05.678] fe be/s1 0/0/5 2 -- 2/2/1/1/+1 0/1",
        );
        assert!(line.text.ends_with(" -- */*/*/*/+1 0/1"), "{}", line.text);
    }
}
