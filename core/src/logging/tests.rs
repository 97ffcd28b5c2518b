use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::*;
use crate::config::{LogDest, LogFormat, LogTarget, Severity};

/// HAProxy 2.6.12's datagrams, TZ=Asia/Kolkata (see testdata/capture.py).
const GOLDEN_LOCAL: &str = include_str!("testdata/haproxy-local.txt");
/// The same with `log-send-hostname` and `log-tag gtag`, TZ=America/St_Johns.
const GOLDEN_HOSTNAME: &str = include_str!("testdata/haproxy-hostname.txt");
/// The `log-format` of frontend `fe2` in testdata/haproxy.cfg.
const FE2_FORMAT: &str = "%ci %cp %fi %fp [%t] [%T] [%Tl] %Ts %ms %ft %f %b %s %si %sp %Tw \
    %Tc %Tt %Th %Tu %B %U %ts %tsc %ac %fc %bc %sc %rc %sq %bq %ID %pid %H %ST %{+Q}ci \
    %{+Q}s %{+X}ci %{+X}cp %{+X}Ts %{+X}ms %{+X}pid %% %{+Q}b %{+Q}ID %{+Q}ft %{+E,+Q}f %hr \
    %sslc %o X%-Y  end %{+Q}o %f %{-Q}o %f ";
const DOWN: &str = "Server be/s2 is DOWN, reason: Layer4 connection problem, info: \
    \"Connection refused\", check duration: 0ms. 1 active and 0 backup servers left. 0 \
    sessions active, 0 requeued, 0 remaining in queue.";

fn at_micros(micros: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_micros(micros)
}

fn target(dest: LogDest, format: LogFormat) -> LogTarget {
    LogTarget {
        dest,
        format,
        len: 1024,
        facility: 16,
        max_level: Severity::Debug,
        min_level: Severity::Emerg,
        tag: "weir".into(),
    }
}

fn host(pid: u32, hostname: &str, send: bool, utc_offset: i32) -> Host {
    Host::new(
        pid,
        hostname.into(),
        send.then(|| hostname.into()),
        utc_offset,
    )
}

fn udp() -> LogDest {
    LogDest::Udp("127.0.0.1:514".parse().unwrap())
}

/// The golden target of each capture label, as testdata/haproxy.cfg says.
fn golden_target(label: &str) -> LogTarget {
    let port = LogDest::Udp(
        format!("127.0.0.1:{label}")
            .parse()
            .unwrap_or(([0; 4], 0).into()),
    );
    let format = match label {
        "5515" => LogFormat::Rfc3164,
        "5516" => LogFormat::Rfc5424,
        "5517" => LogFormat::Short,
        "5518" => LogFormat::Raw,
        "5519" => LogFormat::Priority,
        "5520" => LogFormat::Timed,
        "5521" => LogFormat::Iso,
        "5522" => LogFormat::Local,
        _ => LogFormat::Default,
    };
    let mut t = target(port, format);
    match label {
        "5523" => {
            t.len = 100;
            t.facility = 18;
            t.max_level = Severity::Info;
            t.min_level = Severity::Notice;
        }
        "unix" => {
            t.dest = LogDest::Unix(Arc::from(Path::new("/tmp/weir-golden/log.sock")));
            t.facility = 17;
            t.max_level = Severity::Notice;
        }
        _ => {}
    }
    t
}

struct Golden {
    lines: Vec<(String, String)>,
    pid: u32,
}

impl Golden {
    fn load(text: &str) -> Golden {
        let lines: Vec<(String, String)> = text
            .lines()
            .map(|l| {
                let (label, datagram) = l.split_once(' ').unwrap();
                (label.to_owned(), datagram.to_owned())
            })
            .collect();
        // The rfc5424 header: `<PRI>1 DATE HOST TAG PID - - MSG`.
        let pid = lines
            .iter()
            .find(|(l, _)| l == "5516")
            .map(|(_, d)| d.split(' ').nth(4).unwrap().parse().unwrap())
            .unwrap();
        Golden { lines, pid }
    }

    fn of(&self, label: &str) -> Vec<&str> {
        let lines = self.lines.iter().filter(|(l, _)| l == label);
        lines.map(|(_, d)| d.as_str()).collect()
    }
}

/// Microseconds since 1970 of an ISO date such as
/// `2026-12-04T23:16:27.830678+05:30`.
fn parse_iso(iso: &str) -> u64 {
    let n = |r: std::ops::Range<usize>| iso[r].parse::<i64>().unwrap();
    let days = days_from_civil(n(0..4), n(5..7), n(8..10));
    let local = days * 86_400 + n(11..13) * 3600 + n(14..16) * 60 + n(17..19);
    let sign = if &iso[26..27] == "-" { -1 } else { 1 };
    let offset = sign * (n(27..29) * 3600 + n(30..32) * 60);
    ((local - offset) * 1_000_000 + n(20..26)) as u64
}

/// Milliseconds since 1970 of a `%t` date such as `04/Dec/2026:14:24:08.418`.
fn parse_accept_date(t: &str, utc_offset: i64) -> u64 {
    let month = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ]
    .iter()
    .position(|m| *m == &t[3..6])
    .unwrap() as i64
        + 1;
    let n = |r: std::ops::Range<usize>| t[r].parse::<i64>().unwrap();
    let days = days_from_civil(n(7..11), month, n(0..2));
    let local = days * 86_400 + n(12..14) * 3600 + n(15..17) * 60 + n(18..20);
    ((local - utc_offset) * 1000 + n(21..24)) as u64
}

fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Every datagram HAProxy sent, framed again by weir from the same
/// message, time, pid, tag and host name, byte for byte.
fn check_headers(golden: &Golden, hostname: Option<&str>, global_tag: &str, utc_offset: i32) {
    let host = host(
        golden.pid,
        hostname.unwrap_or("vm"),
        hostname.is_some(),
        utc_offset,
    );
    let raw = golden.of("5518");
    let times: Vec<u64> = golden.of("5521").iter().map(|d| parse_iso(d)).collect();
    assert_eq!(raw.len(), 4, "a DOWN line and three sessions");
    assert_eq!(raw[0], DOWN);
    let labels = [
        "5514", "5515", "5516", "5517", "5518", "5519", "5520", "5521", "5522",
    ];
    for label in labels.into_iter().chain(["5523", "unix"]) {
        let mut target = golden_target(label);
        let mut lines = golden.of(label).into_iter();
        for (message, time) in raw.iter().zip(&times) {
            let severity = if *message == DOWN {
                Severity::Alert
            } else {
                Severity::Info
            };
            target.tag = if message.contains(" fe2 ") {
                "mytag".into()
            } else {
                global_tag.into()
            };
            let Some(line) = frame(&target, severity, &host, at_micros(*time), message) else {
                continue;
            };
            let expected = lines
                .next()
                .unwrap_or_else(|| panic!("{label}: {}", line.text));
            // ISO headers carry the microsecond HAProxy sent each datagram at.
            let time = match expected.find("T").filter(|_| expected.contains("-12-")) {
                Some(_) if matches!(label, "5516" | "5520") => {
                    let at = expected.find('>').unwrap() + 1;
                    let at = if label == "5516" { at + 2 } else { at };
                    parse_iso(&expected[at..at + 32])
                }
                _ => *time,
            };
            let line = frame(&target, severity, &host, at_micros(time), message).unwrap();
            assert_eq!(line.text, expected, "target {label}");
        }
        assert!(lines.next().is_none(), "{label}: weir sent fewer lines");
    }
}

#[test]
fn headers_match_haproxy_in_local_time() {
    check_headers(&Golden::load(GOLDEN_LOCAL), None, "haproxy", 19_800);
}

#[test]
fn headers_match_haproxy_with_log_send_hostname() {
    check_headers(&Golden::load(GOLDEN_HOSTNAME), Some("vm"), "gtag", -12_600);
}

/// The session lines HAProxy logged, rendered again by weir's compiled
/// formats from the values they show.
fn check_session_lines(golden: &Golden, utc_offset: i32) {
    let host = host(golden.pid, "vm", false, utc_offset);
    let raw = golden.of("5518");
    // fe, option tcplog: `127.0.0.1:45648 [04/Dec/2026:14:24:08.418] fe be/s1 1/1/1 9 ...`
    let f: Vec<&str> = raw[1].split(' ').collect();
    let times: Vec<u64> = f[4].split('/').map(|t| t.parse().unwrap()).collect();
    let record = Record {
        client: f[0].parse().unwrap(),
        frontend_addr: None,
        accepted: UNIX_EPOCH
            + Duration::from_millis(parse_accept_date(&f[1][1..25], utc_offset.into())),
        frontend: "fe",
        backend: "be",
        server: Some("s1"),
        server_addr: None,
        queue_ms: Some(times[0]),
        connect_ms: Some(times[1]),
        total_ms: times[2],
        bytes_out: 9,
        bytes_in: 3,
        termination: ['-', '-'],
        counts: [1, 1, 0, 0, 0],
        redispatched: false,
        queue_pos: [0, 0],
        asap: false,
    };
    let mut line = String::new();
    LineFormat::tcplog().render(&record, &host, &mut line, 1024);
    assert_eq!(line, raw[1]);
    // fe2, the long log-format.
    let f: Vec<&str> = raw[2].split(' ').collect();
    let n = |i: usize| f[i].parse::<u64>().unwrap();
    let record = Record {
        client: SocketAddr::new([127, 0, 0, 1].into(), n(1) as u16),
        frontend_addr: Some("127.0.0.1:7001".parse().unwrap()),
        accepted: UNIX_EPOCH + Duration::from_millis(n(9) * 1000 + n(10)),
        frontend: "fe2",
        server_addr: Some("127.0.0.1:7100".parse().unwrap()),
        queue_ms: Some(n(17)),
        connect_ms: Some(n(18)),
        total_ms: n(19),
        bytes_out: 10,
        bytes_in: 4,
        ..record
    };
    let mut line = String::new();
    LineFormat::compile(FE2_FORMAT)
        .unwrap()
        .render(&record, &host, &mut line, 1024);
    assert_eq!(line, raw[2]);
}

#[test]
fn session_lines_match_haproxy() {
    check_session_lines(&Golden::load(GOLDEN_LOCAL), 19_800);
    check_session_lines(&Golden::load(GOLDEN_HOSTNAME), -12_600);
}

#[test]
fn dontlognull_session_was_not_logged_by_haproxy() {
    // fe3 had one session without a byte from the client and one with two:
    // only the second is in the capture.
    for golden in [GOLDEN_LOCAL, GOLDEN_HOSTNAME] {
        let golden = Golden::load(golden);
        let raw = golden.of("5518");
        assert_eq!(raw.iter().filter(|l| l.contains(" fe3 ")).count(), 1);
    }
}

#[test]
fn min_level_raises_and_max_level_filters() {
    let h = host(7, "", false, 0);
    let mut t = target(udp(), LogFormat::Priority);
    t.max_level = Severity::Notice;
    assert!(frame(&t, Severity::Info, &h, UNIX_EPOCH, "x").is_none());
    assert_eq!(
        frame(&t, Severity::Alert, &h, UNIX_EPOCH, "x")
            .unwrap()
            .text,
        "<129>x"
    );
    t.min_level = Severity::Err;
    let line = frame(&t, Severity::Alert, &h, UNIX_EPOCH, "x").unwrap();
    assert_eq!(line.text, "<131>x", "sent at the min level");
}

#[test]
fn lines_are_cut_at_len_with_room_for_the_newline_on_stdout() {
    let h = host(7, "", false, 0);
    let mut t = target(LogDest::Stdout, LogFormat::Raw);
    t.len = 80;
    let long = "é".repeat(100);
    let line = frame(&t, Severity::Info, &h, UNIX_EPOCH, &long).unwrap();
    assert_eq!(line.text.len(), 78, "79 bytes cut back to a char boundary");
    assert_eq!(line.sink, LogSink::Stdout);
    t.dest = udp();
    let line = frame(&t, Severity::Info, &h, UNIX_EPOCH, &long).unwrap();
    assert_eq!(line.text.len(), 80);
    let line = frame(&t, Severity::Info, &h, UNIX_EPOCH, "ends\n").unwrap();
    assert_eq!(line.text, "ends");
}

#[test]
fn sinks_follow_destinations() {
    let h = host(7, "", false, 0);
    let path: Arc<Path> = Arc::from(Path::new("/dev/log"));
    let cases = [
        (LogDest::Stderr, LogSink::Stderr),
        (udp(), LogSink::Udp("127.0.0.1:514".parse().unwrap())),
        (LogDest::Unix(path.clone()), LogSink::Unix(path)),
    ];
    for (dest, sink) in cases {
        let line = frame(
            &target(dest, LogFormat::Raw),
            Severity::Info,
            &h,
            UNIX_EPOCH,
            "x",
        );
        assert_eq!(line.unwrap().sink, sink);
    }
}

#[test]
fn an_empty_tag_leaves_the_tag_out() {
    let h = host(7, "", false, 0);
    let mut t = target(udp(), LogFormat::Local);
    t.tag.clear();
    let line = frame(&t, Severity::Info, &h, UNIX_EPOCH, "x").unwrap();
    assert_eq!(line.text, "<134>Jan  1 00:00:00 x");
    t.format = LogFormat::Rfc5424;
    let line = frame(&t, Severity::Info, &h, UNIX_EPOCH, "x").unwrap();
    assert_eq!(
        line.text,
        "<134>1 1970-01-01T00:00:00.000000+00:00 - - 7 - - x"
    );
}

fn session() -> TcpLog<'static> {
    TcpLog {
        client: "10.0.1.2:33313".parse().unwrap(),
        accepted: at_micros(1_233_922_371_443_000),
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
    }
}

#[test]
fn tcplog_line_matches_haproxy_fields() {
    assert_eq!(
        session().format(),
        "10.0.1.2:33313 [06/Feb/2009:12:12:51.443] fnt bck/srv1 0/0/5007 212 -- 0/0/0/0/3 0/0"
    );
}

#[test]
fn tcplog_without_server_says_nosrv_and_minus_one() {
    let line = TcpLog {
        client: "[::1]:4000".parse().unwrap(),
        accepted: UNIX_EPOCH,
        frontend: "fe",
        backend: "app",
        server: None,
        connect_ms: None,
        total_ms: 0,
        bytes_out: 0,
        termination: ['S', 'C'],
        counts: [1, 1, 0, 0, 0],
        redispatched: true,
        ..session()
    };
    assert_eq!(
        line.format(),
        "::1:4000 [01/Jan/1970:00:00:00.000] fe app/<NOSRV> 0/-1/0 0 SC 1/1/0/0/+0 0/0"
    );
}

fn render(format: &str, record: &Record<'_>) -> String {
    let mut out = String::new();
    let format = LineFormat::compile(format).unwrap_or_else(|e| panic!("{format}: {e}"));
    format.render(record, &host(42, "", false, 3600), &mut out, 1024);
    out
}

#[test]
fn log_format_text_spaces_and_percent_as_haproxy() {
    let s = session();
    let r = s.record();
    assert_eq!(render("%%", &r), "%");
    assert_eq!(render("100%% sure", &r), "100% sure");
    assert_eq!(
        render("  a   b  ", &r),
        "a b ",
        "spaces collapse, leading ones go"
    );
    assert_eq!(render("%-x", &r), "-x", "a % before a symbol is dropped");
    assert_eq!(render("a\tb", &r), "a\tb");
    assert_eq!(render("%ci%cp", &r), "10.0.1.233313");
    assert_eq!(render("[%ID] [%{+Q}ID] [%{-M}ID]", &r), "[-] [\"\"] []");
    assert_eq!(render("%H %{+Q}H", &r), "- \"\"");
    assert_eq!(render("%pid %{+X}pid %{+X}cp", &r), "42 002A 8221");
    assert_eq!(render("%Td %Tu %Th %ST", &r), "5007 5007 0 0");
    assert_eq!(render("%fi:%fp %si:%sp", &r), "-:- -:-");
    assert_eq!(
        render("%t %Tl", &r),
        "06/Feb/2009:13:12:51.443 06/Feb/2009:13:12:51 +0100"
    );
    assert_eq!(render("%{+Q}o %b %{-Q}o %b", &r), "\"bck\" bck");
    assert_eq!(
        render("%{+Q}ft %{+Q}cp %{+X}ci", &r),
        "\"fnt\" 33313 0A000102"
    );
    assert_eq!(render("%hr %hrl %hs %hsl x", &r), "x");
    assert_eq!(render("%sslc/%sslv %tsc", &r), "-/- ----");
}

#[test]
fn log_format_escapes_with_e() {
    let s = TcpLog {
        frontend: "a\"b]c\\d",
        ..session()
    };
    let r = s.record();
    assert_eq!(render("%{+E}f", &r), "a\\\"b\\]c\\\\d");
    assert_eq!(render("%{+E,+Q}f", &r), "\"a\\\"b\\]c\\\\d\"");
    assert_eq!(render("%f", &r), "a\"b]c\\d");
}

#[test]
fn log_format_errors_as_haproxy() {
    let err = |f: &str| LineFormat::compile(f).unwrap_err();
    assert_eq!(
        err("%x"),
        "no such format variable 'x'. If you wanted to emit the '%' character verbatim, you \
         need to use '%%'"
    );
    assert!(err("%cii").contains("(did you mean '%ci'?)"));
    assert!(err("%r").starts_with("format variable 'r' is reserved for HTTP mode"));
    assert!(err("%{+Q}Tq").contains("reserved for HTTP mode"));
    assert!(err("%bi").contains("not supported yet"));
    assert!(err("%[src]").contains("sample expressions ('%[src]') are not supported"));
    assert_eq!(err("%{+Q"), "truncated line after '+Q'");
    assert_eq!(err("a%"), "truncated line after '%'");
    assert_eq!(
        err("%{+Q}"),
        "parse argument modifier without variable name near '%{+Q}'"
    );
    assert_eq!(
        err("%1"),
        "unexpected variable name near '1' at position 1 line : '%1'. Maybe you want to \
         write a single '%', use the syntax '%%'"
    );
    assert!(
        LineFormat::compile("%{+Z}ci").is_ok(),
        "unknown flags are ignored"
    );
}

#[test]
fn rendering_stops_at_the_limit() {
    let s = session();
    let mut out = String::from("head ");
    LineFormat::tcplog().render(&s.record(), &Host::default(), &mut out, 10);
    assert_eq!(out, "head 10.0.1.2:3");
}
