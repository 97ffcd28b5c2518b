//! What an operator sees, over real sockets: the Prometheus exporter
//! scraped and parsed as a Prometheus server would, the stats page parsed
//! as HTML and driven through its admin form, the page's answers to bad,
//! huge and slow requests, and a flood of stats-socket connections; the
//! TCP frontend keeps proxying all along.

use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::net::{Shutdown, TcpStream};
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use prometheus_parse::{Scrape, Value};
use scraper::{ElementRef, Html, Selector};

use super::WEIR;
use super::kit::{PATIENCE, Running, Scratch, free_port, wait_until};

/// The families haproxy 2.6.12 serves for this file's configuration
/// (made by `testdata/haproxy_metric_families.sh`).
const HAPROXY_FAMILIES: &str = include_str!("testdata/haproxy_metric_families.txt");

/// `Authorization` for the page's account `u:p` (base64 of `u:p`).
const AUTH: &str = "Basic dTpw";

/// Bytes each test session sends (and gets back).
const PAYLOAD: usize = 100;

/// An echo server that counts the connections that carried data
/// (sessions).
struct Counted {
    port: u16,
    served: Arc<AtomicUsize>,
}

impl Counted {
    fn start() -> Counted {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let served = Arc::new(AtomicUsize::new(0));
        let s = served.clone();
        thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let s = s.clone();
                thread::spawn(move || {
                    let mut stream = stream;
                    let _ = stream.set_read_timeout(Some(PATIENCE));
                    let mut buf = [0; 4096];
                    let mut counted = false;
                    while let Ok(n @ 1..) = stream.read(&mut buf) {
                        if !counted {
                            counted = true;
                            s.fetch_add(1, Ordering::SeqCst);
                        }
                        if stream.write_all(&buf[..n]).is_err() {
                            return;
                        }
                    }
                    let _ = stream.shutdown(Shutdown::Write);
                });
            }
        });
        Counted { port, served }
    }

    fn served(&self) -> usize {
        self.served.load(Ordering::SeqCst)
    }
}

/// weir with a TCP frontend `fe` to backend `app` (servers `s1`, `s2`,
/// checked), a `mode http` frontend `pages` (the exporter and the stats
/// page, `timeout client 2s`) and a TCP stats socket.
struct Setup {
    fe: u16,
    pages: u16,
    admin: u16,
    s1: Counted,
    s2: Counted,
    weir: Running,
    _scratch: Scratch,
}

impl Setup {
    fn start(global: &str) -> Setup {
        Setup::start_limited(global, None)
    }

    /// As [`Setup::start`], weir limited to `descriptors` if given.
    fn start_limited(global: &str, descriptors: Option<libc::rlim_t>) -> Setup {
        let (s1, s2) = (Counted::start(), Counted::start());
        let (fe, pages, admin) = (free_port(), free_port(), free_port());
        let scratch = Scratch::new();
        let config = scratch.file(
            "w.cfg",
            &format!(
                "global\n stats timeout 2s\n{global}\
                 stats socket ipv4@127.0.0.1:{admin} level admin\n\
                 defaults\n mode tcp\n timeout connect 2s\n timeout client 10s\n timeout server 10s\n\
                 frontend fe\n bind 127.0.0.1:{fe}\n default_backend app\n\
                 backend app\n server s1 127.0.0.1:{} check inter 200ms\n \
                 server s2 127.0.0.1:{} check inter 200ms\n\
                 frontend pages\n mode http\n bind 127.0.0.1:{pages}\n timeout client 2s\n \
                 http-request use-service prometheus-exporter if {{ path /metrics }}\n \
                 stats enable\n stats uri /stats\n stats refresh 5s\n stats auth u:p\n \
                 stats admin if TRUE\n",
                s1.port, s2.port
            ),
        );
        let mut command = Command::new(WEIR);
        command
            .args(["-db", "-f", config.to_str().unwrap()])
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        if let Some(n) = descriptors {
            let limit = libc::rlimit {
                rlim_cur: n,
                rlim_max: n,
            };
            // SAFETY: setrlimit is async-signal-safe; it limits the child
            // only, between fork and exec.
            unsafe {
                command.pre_exec(move || {
                    if libc::setrlimit(libc::RLIMIT_NOFILE, &limit) == 0 {
                        Ok(())
                    } else {
                        Err(std::io::Error::last_os_error())
                    }
                });
            }
        }
        // Waiting on the stats socket leaves the frontends' counters alone.
        let weir = Running::spawn(command, admin);
        let setup = Setup {
            fe,
            pages,
            admin,
            s1,
            s2,
            weir,
            _scratch: scratch,
        };
        assert!(
            wait_until(|| ["s1", "s2"]
                .iter()
                .all(|s| setup.stat("app", s, "check_status") == "L4OK")),
            "both servers checked"
        );
        setup
    }

    /// One stats-socket request, its whole answer.
    fn cli(&self, line: &str) -> String {
        let mut stream = TcpStream::connect(("127.0.0.1", self.admin)).expect("stats socket");
        stream.set_read_timeout(Some(PATIENCE)).unwrap();
        stream.write_all(format!("{line}\n").as_bytes()).unwrap();
        let mut answer = String::new();
        stream
            .read_to_string(&mut answer)
            .expect("an answer, then a close");
        answer
    }

    /// The `column` of row `px,sv` in `show stat`.
    fn stat(&self, px: &str, sv: &str, column: &str) -> String {
        csv_cell(&self.cli("show stat"), px, sv, column)
    }

    /// One session through `fe`: `PAYLOAD` bytes echoed, or false.
    fn exchange(&self) -> bool {
        let Ok(mut stream) = TcpStream::connect(("127.0.0.1", self.fe)) else {
            return false;
        };
        let _ = stream.set_read_timeout(Some(PATIENCE));
        let msg = [b'x'; PAYLOAD];
        if stream.write_all(&msg).is_err() || stream.shutdown(Shutdown::Write).is_err() {
            return false;
        }
        let mut back = Vec::new();
        stream.read_to_end(&mut back).is_ok() && back == msg
    }

    /// `n` sessions through `fe`, each of which must succeed.
    fn sessions(&self, n: usize) {
        for i in 0..n {
            assert!(self.exchange(), "session {i} through fe");
        }
    }
}

/// The `column` of row `px,sv` of `show stat`'s CSV `text`.
fn csv_cell(text: &str, px: &str, sv: &str, column: &str) -> String {
    let header: Vec<&str> = text
        .lines()
        .next()
        .unwrap_or_default()
        .trim_start_matches("# ")
        .split(',')
        .collect();
    let index = header.iter().position(|c| *c == column).unwrap();
    let row = text
        .lines()
        .find(|l| l.starts_with(&format!("{px},{sv},")))
        .unwrap_or_else(|| panic!("no {px}/{sv} in {text}"));
    row.split(',').nth(index).unwrap().to_owned()
}

/// An HTTP answer.
struct Response {
    status: u16,
    /// Names in lower case.
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Response {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// Parses a whole answer: status line, headers, then a body by
    /// `content-length`, chunked, or up to the close.
    fn parse(raw: &[u8]) -> Response {
        let end = raw
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .unwrap_or_else(|| panic!("a whole head in {:?}", String::from_utf8_lossy(raw)));
        let head = std::str::from_utf8(&raw[..end]).unwrap();
        let mut lines = head.split("\r\n");
        let status_line = lines.next().unwrap();
        assert!(status_line.starts_with("HTTP/1.1 "), "{status_line}");
        let status = status_line[9..12].parse().unwrap();
        let headers: Vec<(String, String)> = lines
            .map(|l| {
                let (n, v) = l.split_once(':').unwrap();
                (n.to_ascii_lowercase(), v.trim().to_owned())
            })
            .collect();
        let mut response = Response {
            status,
            headers,
            body: Vec::new(),
        };
        let rest = &raw[end + 4..];
        response.body = if response.header("transfer-encoding") == Some("chunked") {
            dechunk(rest)
        } else if let Some(len) = response.header("content-length") {
            let len: usize = len.parse().unwrap();
            assert!(rest.len() >= len, "a body of {len} bytes");
            rest[..len].to_vec()
        } else {
            rest.to_vec()
        };
        response
    }
}

/// The body of a chunked transfer, which must end with its last chunk.
fn dechunk(mut rest: &[u8]) -> Vec<u8> {
    let mut body = Vec::new();
    loop {
        let line_end = rest
            .windows(2)
            .position(|w| w == b"\r\n")
            .expect("a chunk size");
        let size = std::str::from_utf8(&rest[..line_end]).unwrap();
        let size = usize::from_str_radix(size.split(';').next().unwrap().trim(), 16).unwrap();
        rest = &rest[line_end + 2..];
        if size == 0 {
            return body;
        }
        body.extend_from_slice(&rest[..size]);
        assert_eq!(&rest[size..size + 2], b"\r\n", "a chunk ends with CRLF");
        rest = &rest[size + 2..];
    }
}

/// Sends `request` to `port` and reads the answer up to the close.
fn http(port: u16, request: &[u8]) -> Response {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).expect("the pages frontend");
    stream.set_read_timeout(Some(PATIENCE)).unwrap();
    stream.write_all(request).unwrap();
    let mut raw = Vec::new();
    stream
        .read_to_end(&mut raw)
        .expect("an answer, then a close");
    Response::parse(&raw)
}

/// `GET path`, closing after, with `Authorization: auth` if any.
fn get(port: u16, path: &str, auth: Option<&str>) -> Response {
    let auth = auth.map_or(String::new(), |a| format!("Authorization: {a}\r\n"));
    let request = format!("GET {path} HTTP/1.1\r\nHost: weir\r\n{auth}Connection: close\r\n\r\n");
    http(port, request.as_bytes())
}

/// The value of the sample `metric` with exactly `labels`.
fn sample(scrape: &Scrape, metric: &str, labels: &[(&str, &str)]) -> f64 {
    let found: Vec<&prometheus_parse::Sample> = scrape
        .samples
        .iter()
        .filter(|s| {
            s.metric == metric
                && s.labels.len() == labels.len()
                && labels.iter().all(|(k, v)| s.labels.get(k) == Some(*v))
        })
        .collect();
    assert_eq!(found.len(), 1, "one {metric}{labels:?}");
    match found[0].value {
        Value::Counter(v) | Value::Gauge(v) => v,
        ref other => panic!("{metric} is {other:?}"),
    }
}

/// Scrapes `/metrics` and parses it as a Prometheus server would; also
/// returns the families the text declares (`# TYPE` lines).
fn scrape(port: u16) -> (Scrape, BTreeSet<String>) {
    let response = get(port, "/metrics", None);
    assert_eq!(response.status, 200);
    assert_eq!(
        response.header("content-type"),
        Some("text/plain; version=0.0.4")
    );
    let text = response.text();
    let lines = text.lines().map(|l| Ok(l.to_owned()));
    let parsed = Scrape::parse(lines).expect("Prometheus text format");
    let sample_lines = text
        .lines()
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .count();
    assert_eq!(parsed.samples.len(), sample_lines, "every sample parses");
    let families = text
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .map(|l| l.split(' ').next().unwrap().to_owned())
        .collect();
    (parsed, families)
}

#[test]
fn the_prometheus_exporter_serves_haproxys_families_and_counts_the_sessions() {
    let setup = Setup::start("");
    const SESSIONS: usize = 12;
    setup.sessions(SESSIONS);
    let bytes = (SESSIONS * PAYLOAD) as f64;
    // Counters move when sessions end: wait for the last one's.
    let mut last = None;
    assert!(
        wait_until(|| {
            let (parsed, families) = scrape(setup.pages);
            let done = sample(
                &parsed,
                "haproxy_frontend_bytes_out_total",
                &[("proxy", "fe")],
            ) == bytes
                && sample(
                    &parsed,
                    "haproxy_frontend_current_sessions",
                    &[("proxy", "fe")],
                ) == 0.0;
            last = Some((parsed, families));
            done
        }),
        "the sessions are counted"
    );
    let (parsed, families) = last.unwrap();

    // Every family has its HELP and TYPE; the names are HAProxy 2.6's.
    for s in &parsed.samples {
        assert!(parsed.docs.contains_key(&s.metric), "HELP for {}", s.metric);
        assert!(
            matches!(s.value, Value::Counter(_) | Value::Gauge(_)),
            "TYPE for {}",
            s.metric
        );
        assert!(families.contains(&s.metric), "{} declared", s.metric);
    }
    let haproxy: BTreeSet<String> = HAPROXY_FAMILIES.lines().map(str::to_owned).collect();
    let invented: Vec<_> = families.difference(&haproxy).collect();
    assert!(invented.is_empty(), "not HAProxy's: {invented:?}");
    for family in [
        "haproxy_process_uptime_seconds",
        "haproxy_process_current_connections",
        "haproxy_process_max_connections",
        "haproxy_frontend_current_sessions",
        "haproxy_frontend_sessions_total",
        "haproxy_frontend_bytes_in_total",
        "haproxy_frontend_bytes_out_total",
        "haproxy_frontend_status",
        "haproxy_backend_status",
        "haproxy_backend_sessions_total",
        "haproxy_backend_bytes_in_total",
        "haproxy_backend_active_servers",
        "haproxy_server_status",
        "haproxy_server_check_status",
        "haproxy_server_sessions_total",
        "haproxy_server_bytes_out_total",
    ] {
        assert!(families.contains(family), "{family} served");
    }

    // Labels: proxy, server, state.
    for server in ["s1", "s2"] {
        let labels = [("proxy", "app"), ("server", server)];
        let up = [labels[0], labels[1], ("state", "UP")];
        assert_eq!(sample(&parsed, "haproxy_server_status", &up), 1.0);
        let l4ok = [labels[0], labels[1], ("state", "L4OK")];
        assert_eq!(sample(&parsed, "haproxy_server_check_status", &l4ok), 1.0);
    }
    let fe = [("proxy", "fe")];
    let app = [("proxy", "app")];
    assert_eq!(sample(&parsed, "haproxy_backend_active_servers", &app), 2.0);

    // The counters are the sessions this test made, as the servers saw them.
    let n = SESSIONS as f64;
    assert_eq!(sample(&parsed, "haproxy_frontend_sessions_total", &fe), n);
    assert_eq!(
        sample(&parsed, "haproxy_frontend_bytes_in_total", &fe),
        bytes
    );
    assert_eq!(
        sample(&parsed, "haproxy_frontend_bytes_out_total", &fe),
        bytes
    );
    assert_eq!(sample(&parsed, "haproxy_backend_sessions_total", &app), n);
    assert_eq!(
        sample(&parsed, "haproxy_backend_bytes_in_total", &app),
        bytes
    );
    assert_eq!(
        sample(&parsed, "haproxy_backend_bytes_out_total", &app),
        bytes
    );
    for (name, server) in [("s1", &setup.s1), ("s2", &setup.s2)] {
        let labels = [("proxy", "app"), ("server", name)];
        let total = sample(&parsed, "haproxy_server_sessions_total", &labels);
        assert_eq!(total, server.served() as f64, "{name} saw its sessions");
        let out = sample(&parsed, "haproxy_server_bytes_out_total", &labels);
        assert_eq!(out, total * PAYLOAD as f64);
    }
    assert!(setup.s1.served() > 0 && setup.s2.served() > 0, "roundrobin");
}

/// The rows of the stats page's tables: (kind, name, cell texts).
fn page_rows(html: &Html) -> Vec<(String, String, Vec<String>)> {
    let rows = Selector::parse("tr").unwrap();
    let name = Selector::parse("a.lfsb").unwrap();
    let checkbox = Selector::parse("input[name=s]").unwrap();
    let cells = Selector::parse("td").unwrap();
    let text = |e: ElementRef<'_>| e.text().collect::<String>().trim().to_owned();
    html.select(&rows)
        .filter_map(|row| {
            let class = row.value().attr("class")?;
            let kind = match class {
                "frontend" | "backend" => class,
                _ if row.select(&checkbox).next().is_some() => "server",
                _ => return None,
            };
            let name = row.select(&name).next().map(text)?;
            let cells = row.select(&cells).map(text).collect();
            Some((kind.to_owned(), name, cells))
        })
        .collect()
}

/// The status cell of the page's row `name` of `kind` (the server or
/// `Frontend`/`Backend` row of its proxy, in page order).
fn row_status<'r>(rows: &'r [(String, String, Vec<String>)], kind: &str, name: &str) -> &'r str {
    let (_, _, cells) = rows
        .iter()
        .find(|(k, n, _)| k == kind && n == name)
        .unwrap_or_else(|| panic!("a {kind} row {name} in {rows:?}"));
    cells
        .iter()
        .find(|c| c.ends_with("UP") || c.ends_with("OPEN") || c.ends_with("DRAIN"))
        .unwrap_or_else(|| panic!("a status in {cells:?}"))
}

#[test]
fn the_stats_page_authenticates_lists_every_proxy_and_drains_from_its_form() {
    let setup = Setup::start("");
    setup.sessions(4);

    // Without the account: HAProxy's 401, with its realm.
    let denied = get(setup.pages, "/stats", None);
    assert_eq!(denied.status, 401);
    assert_eq!(
        denied.header("www-authenticate"),
        Some("Basic realm=\"HAProxy Statistics\"")
    );
    assert!(
        denied.text().contains("401 Unauthorized"),
        "{}",
        denied.text()
    );
    assert_eq!(get(setup.pages, "/stats", Some("Basic dTpx")).status, 401);

    // With it: one row per frontend, server and backend, and a refresh.
    let page = get(setup.pages, "/stats", Some(AUTH));
    assert_eq!(page.status, 200);
    assert_eq!(page.header("content-type"), Some("text/html"));
    assert_eq!(page.header("refresh"), Some("5"));
    let html = Html::parse_document(&page.text());
    let meta = Selector::parse("meta[http-equiv=refresh]").unwrap();
    for m in html.select(&meta) {
        assert_eq!(m.value().attr("content"), Some("5"));
    }
    let rows = page_rows(&html);
    let kinds: Vec<(&str, &str)> = rows
        .iter()
        .map(|(k, n, _)| (k.as_str(), n.as_str()))
        .collect();
    assert_eq!(
        kinds,
        [
            ("frontend", "Frontend"),
            ("server", "s1"),
            ("server", "s2"),
            ("backend", "Backend"),
            ("frontend", "Frontend"),
        ],
        "fe, app (s1, s2), pages"
    );
    assert_eq!(row_status(&rows, "frontend", "Frontend"), "OPEN");
    assert!(row_status(&rows, "server", "s1").ends_with(" UP"));
    assert!(row_status(&rows, "backend", "Backend").ends_with(" UP"));

    // The admin form, filled as a browser would: tick s1, choose drain.
    let form = Selector::parse("form[method=post]").unwrap();
    let hidden_b = Selector::parse("input[name=b]").unwrap();
    let form = html
        .select(&form)
        .find(|f| {
            f.select(&Selector::parse("input[value=s1]").unwrap())
                .next()
                .is_some()
        })
        .expect("app's admin form");
    let b = form.select(&hidden_b).next().unwrap().value().attr("value");
    let b = b.expect("the form names its backend");
    let body = format!("s=s1&action=drain&b={}", b.replace('#', "%23"));
    let post = format!(
        "POST /stats HTTP/1.1\r\nHost: weir\r\nAuthorization: {AUTH}\r\n\
         Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\
         Connection: close\r\n\r\n{body}",
        body.len()
    );
    let done = http(setup.pages, post.as_bytes());
    assert_eq!(done.status, 303);
    assert_eq!(done.header("location"), Some("/stats;st=DONE"));

    // s1 drains: the socket and the page say so; new sessions avoid it,
    // its checks go on.
    assert_eq!(setup.stat("app", "s1", "status"), "DRAIN");
    let page = get(setup.pages, "/stats;st=DONE", Some(AUTH));
    let html = Html::parse_document(&page.text());
    assert!(row_status(&page_rows(&html), "server", "s1").ends_with(" DRAIN"));
    let served = setup.s1.served();
    let s2 = setup.s2.served();
    setup.sessions(6);
    assert_eq!(
        setup.s1.served(),
        served,
        "a drained server takes no session"
    );
    assert_eq!(setup.s2.served(), s2 + 6);
    // (A connect-only check is reset before the handshake's last ACK:
    // the server never accepts it, so the stats say how it went.)
    assert_eq!(setup.stat("app", "s1", "check_status"), "L4OK");
    assert_eq!(setup.stat("app", "s1", "check_status"), "L4OK");

    // The CSV and JSON exports.
    let csv = get(setup.pages, "/stats;csv", Some(AUTH));
    assert_eq!(csv.status, 200);
    assert_eq!(csv.header("content-type"), Some("text/plain"));
    assert!(csv.text().starts_with("# pxname,svname,qcur,"));
    assert_eq!(csv_cell(&csv.text(), "app", "s1", "status"), "DRAIN");
    let json = get(setup.pages, "/stats;json", Some(AUTH));
    assert_eq!(json.status, 200);
    assert_eq!(json.header("content-type"), Some("application/json"));
    let text = json.text();
    assert!(text.starts_with("[[{\"objType\":\"Frontend\""), "{text}");
    assert!(text.contains("\"value\":{\"type\":\"str\",\"value\":\"DRAIN\"}"));
}

/// Reads what weir answers on `stream` until it closes, at most for
/// `limit`; the bytes and whether it closed.
fn read_until_close(stream: &mut TcpStream, limit: Duration) -> (Vec<u8>, bool) {
    let deadline = Instant::now() + limit;
    let mut got = Vec::new();
    let mut buf = [0; 4096];
    while Instant::now() < deadline {
        stream
            .set_read_timeout(Some(
                deadline
                    .saturating_duration_since(Instant::now())
                    .max(Duration::from_millis(1)),
            ))
            .unwrap();
        match stream.read(&mut buf) {
            Ok(0) => return (got, true),
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(_) => return (got, true),
        }
    }
    (got, false)
}

#[test]
fn bad_huge_and_slow_requests_are_refused_while_traffic_flows() {
    let setup = Setup::start("");

    // Not HTTP: HAProxy's 400, then the close.
    let bad = http(setup.pages, b"GARBAGE\r\n\r\n");
    assert_eq!(bad.status, 400);
    assert!(bad.text().contains("Your browser sent an invalid request."));

    // A 100 KB header line: 400 as soon as the head cannot fit.
    let mut huge = TcpStream::connect(("127.0.0.1", setup.pages)).unwrap();
    let mut request = b"GET /stats HTTP/1.1\r\nX-Big: ".to_vec();
    request.extend(std::iter::repeat_n(b'a', 100 * 1024));
    request.extend_from_slice(b"\r\n\r\n");
    // weir may close before taking it all: the write may fail.
    let _ = huge.write_all(&request);
    let (answer, closed) = read_until_close(&mut huge, PATIENCE);
    assert!(closed, "a huge request is closed");
    assert!(
        answer.is_empty() || answer.starts_with(b"HTTP/1.1 400 Bad request\r\n"),
        "{}",
        String::from_utf8_lossy(&answer)
    );

    // One byte a second: 408 and a close within `timeout client` (2 s),
    // long before the request could be whole; traffic flows meanwhile.
    let pages = setup.pages;
    let slow = thread::spawn(move || {
        // Before the connect: weir's clock for the accept is no earlier
        // (but may be a turn's start, a little before the accept).
        let started = Instant::now();
        let mut stream = TcpStream::connect(("127.0.0.1", pages)).unwrap();
        let request = b"GET /stats HTTP/1.1\r\nHost: weir\r\n\r\n";
        for &byte in request {
            if stream.write_all(&[byte]).is_err() {
                break;
            }
            let (answer, closed) = read_until_close(&mut stream, Duration::from_secs(1));
            if closed || !answer.is_empty() {
                let (rest, closed) = read_until_close(&mut stream, PATIENCE);
                return ([answer, rest].concat(), closed, started.elapsed());
            }
        }
        (Vec::new(), false, started.elapsed())
    });
    let mut sessions = 0;
    while !slow.is_finished() && sessions < 1_000 {
        assert!(setup.exchange(), "traffic flows beside the slow client");
        sessions += 1;
        thread::sleep(Duration::from_millis(20));
    }
    let (answer, closed, after) = slow.join().unwrap();
    assert!(closed, "the slow client is closed");
    assert!(
        answer.starts_with(b"HTTP/1.1 408 Request Time-out\r\n"),
        "{}",
        String::from_utf8_lossy(&answer)
    );
    // The close came from `timeout client`, not sooner: a loop's clock is
    // read once a turn, so a loaded machine may see it a little early.
    assert!(
        after >= Duration::from_millis(1500),
        "not before timeout client: {after:?}"
    );
    assert!(sessions > 0);
    setup.sessions(3);
}

/// Raises this process's soft descriptor limit to the hard one (weir,
/// spawned after, inherits it); the soft limit then in force.
fn raise_descriptor_limit() -> libc::rlim_t {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit on a valid struct of this process.
    unsafe {
        assert_eq!(libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit), 0);
        if limit.rlim_cur < limit.rlim_max {
            let raised = libc::rlimit {
                rlim_cur: limit.rlim_max,
                rlim_max: limit.rlim_max,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &raised) == 0 {
                limit = raised;
            }
        }
    }
    limit.rlim_cur
}

#[test]
fn a_flood_of_stats_socket_connections_leaves_weir_answering_and_proxying() {
    // Each side holds one descriptor per flood connection; keep room for
    // the rest (weir's listeners, checks, sessions; the test's threads).
    let limit = raise_descriptor_limit();
    let count = 2_000.min(limit.saturating_sub(200) as usize);
    if count < 100 {
        eprintln!("skipped: a descriptor limit of {limit} leaves no room for a flood");
        return;
    }
    let mut setup = Setup::start(&format!(" stats maxconn {}\n", count + 50));
    let mut flood = Vec::with_capacity(count);
    let garbage: Vec<u8> = (0..=255).collect();
    let long_line = [vec![b'z'; 20 * 1024], b"\n".to_vec()].concat();
    for i in 0..count {
        let stream = TcpStream::connect_timeout(
            &([127, 0, 0, 1], setup.admin).into(),
            Duration::from_secs(10),
        )
        .unwrap_or_else(|e| panic!("flood connection {i}: {e}"));
        let mut s = &stream;
        // weir may close a bad one before all is sent.
        let _ = match i % 10 {
            1 => s.write_all(&garbage),
            2 => s.write_all(&long_line),
            _ => Ok(()),
        };
        flood.push(stream);
    }

    // During the flood: sessions through fe, a fresh `show info`.
    setup.sessions(20);
    let info = setup.cli("show info");
    assert!(info.contains("\nUptime_sec: "), "{info}");

    // Each flood connection ends within `stats timeout` (2 s).
    for (i, stream) in flood.iter_mut().enumerate() {
        let (_, closed) = read_until_close(stream, PATIENCE);
        assert!(closed, "flood connection {i} closed by weir");
    }
    drop(flood);
    assert!(setup.weir.running(), "weir survives the flood");
    let again = TcpStream::connect(("127.0.0.1", setup.admin)).and_then(|mut s| {
        s.set_read_timeout(Some(PATIENCE))?;
        s.write_all(b"show info\n")?;
        let mut text = String::new();
        s.read_to_string(&mut text).map(|_| text)
    });
    assert!(again.unwrap().contains("\nUptime_sec: "));
    for _ in 0..5 {
        let mut stream = TcpStream::connect(("127.0.0.1", setup.fe)).unwrap();
        stream.set_read_timeout(Some(PATIENCE)).unwrap();
        stream.write_all(b"after").unwrap();
        let mut back = [0; 5];
        stream.read_exact(&mut back).unwrap();
        assert_eq!(&back, b"after");
    }
}

#[test]
fn stats_socket_connections_beyond_stats_maxconn_wait_their_turn() {
    // HAProxy's default `stats maxconn` is 10: more connections wait in
    // the backlog, and get served as earlier ones end. With a `stats
    // timeout` longer than the test's patience, only their end frees room.
    let setup = Setup::start(" stats timeout 1m\n");
    let idle: Vec<TcpStream> = (0..30)
        .map(|_| TcpStream::connect(("127.0.0.1", setup.admin)).unwrap())
        .collect();
    let mut waiting = TcpStream::connect(("127.0.0.1", setup.admin)).unwrap();
    waiting.write_all(b"show info\n").unwrap();
    // Those ahead close: the waiting one is served.
    drop(idle);
    let (answer, done) = read_until_close(&mut waiting, PATIENCE);
    assert!(done, "served before `stats timeout` could free room");
    assert!(String::from_utf8_lossy(&answer).contains("\nUptime_sec: "));
    setup.sessions(3);
}

#[test]
fn a_stats_socket_out_of_descriptors_recovers_once_the_flood_ends() {
    // weir gets 256 descriptors and room for more stats connections: the
    // flood runs it out, then fills the listen backlog (1024) until
    // connecting times out. A full backlog brings weir no readiness.
    if raise_descriptor_limit() < 2_000 {
        eprintln!("skipped: the descriptor limit leaves no room for a flood");
        return;
    }
    let mut setup = Setup::start_limited(" stats maxconn 3000\n", Some(256));
    let admin = ([127, 0, 0, 1], setup.admin).into();
    let flood: Vec<TcpStream> = (0..1_600)
        .map_while(|_| TcpStream::connect_timeout(&admin, Duration::from_secs(2)).ok())
        .collect();
    assert!(flood.len() > 1_024, "the flood outgrows weir's descriptors");
    // The frontend still proxies, as descriptors come free.
    assert!(
        wait_until(|| setup.exchange()),
        "fe proxies during the flood"
    );
    drop(flood);
    // weir accepts again: what queued is read as closed, then a fresh
    // connection is answered. (Left out of the accept pause, the stats
    // socket was never accepted on again.)
    let mut info = String::new();
    assert!(
        wait_until(|| {
            let Ok(mut stream) = TcpStream::connect_timeout(&admin, Duration::from_secs(1)) else {
                return false;
            };
            let _ = stream.set_read_timeout(Some(PATIENCE));
            info.clear();
            stream.write_all(b"show info\n").is_ok() && stream.read_to_string(&mut info).is_ok()
        }),
        "the stats socket answers again"
    );
    assert!(info.contains("\nUptime_sec: "), "{info}");
    assert!(setup.weir.running());
    setup.sessions(3);
}
