//! The oracles of the cargo-fuzz targets in `fuzz/`, for fuzz targets and
//! their corpus replay tests only: not part of weir-core's API.
//!
//! Each function takes the fuzzer's bytes, drives one part of core with
//! them and panics when a property core promises does not hold (core itself
//! never panics, so any panic is a finding). The fuzz targets and the corpus
//! replay test on stable (`tests/tests/fuzz_corpus.rs`) call these same
//! functions, so they always check the same properties.

use std::net::{IpAddr, Ipv4Addr};

use crate::buffer::BUF_SIZE;
use crate::config::{self, Config, HealthCheck, HttpExpect, Origin, Pattern, Source, TcpStep};
use crate::health::CheckStatus;
use crate::health::http::{self, Parse};
use crate::hello::{self, EARLY_DATA};
use crate::proxy::run_plain_rules;
use crate::time::Instant;

/// Most `tcp-check` lines [`tcp_check_expect`] builds.
const MAX_RULES: usize = 32;

/// `config`: any bytes through [`config::parse`], as one file, then cut
/// into up to three files at NUL bytes. Host names resolve to 127.0.0.1
/// when their length is even and fail otherwise.
///
/// Properties: parsing is deterministic; a failed parse reports at least
/// one error; every diagnostic and every origin in a parsed configuration
/// names one of the files and a line of it that holds a statement; every
/// diagnostic shows without control characters and without long runs.
pub fn config(data: &[u8]) {
    check_config(&[Source::new("a.cfg", data)]);
    let sources: Vec<Source<'_>> = ["a.cfg", "b.cfg", "c.cfg"]
        .into_iter()
        .zip(data.splitn(3, |&b| b == 0))
        .map(|(name, text)| Source { name, text })
        .collect();
    check_config(&sources);
}

/// The properties of [`config`] for one list of files.
fn check_config(sources: &[Source<'_>]) {
    let first = config::parse(sources, &mut resolve);
    let again = config::parse(sources, &mut resolve);
    let diagnostics = match &first {
        Ok(parsed) => &parsed.warnings,
        Err(errors) => errors,
    };
    for d in diagnostics {
        let shown = d.to_string();
        assert!(
            !shown.chars().any(char::is_control),
            "{shown:?}: a control character in a message"
        );
        assert!(
            shown.split(' ').all(|run| run.chars().count() <= 128),
            "{shown:?}: a long run in a message"
        );
    }
    let origins: Vec<&Origin> = match (&first, &again) {
        (Ok(a), Ok(b)) => {
            assert!(
                a.config == b.config && a.warnings == b.warnings,
                "parsing the same text twice gave two configurations"
            );
            let warnings = a.warnings.iter().filter_map(|d| d.origin.as_ref());
            config_origins(&a.config).chain(warnings).collect()
        }
        (Err(a), Err(b)) => {
            assert_eq!(a, b, "parsing the same text twice gave two error lists");
            assert!(!a.is_empty(), "a failed parse reports no error");
            a.iter().filter_map(|d| d.origin.as_ref()).collect()
        }
        _ => panic!("parsing the same text twice succeeded once"),
    };
    let lines: Vec<Vec<&[u8]>> = sources
        .iter()
        .map(|s| s.text.split(|&b| b == b'\n').collect())
        .collect();
    for origin in origins {
        let file = sources
            .iter()
            .position(|s| *s.name == *origin.file)
            .unwrap_or_else(|| panic!("{origin}: no such file"));
        let line = usize::try_from(origin.line)
            .ok()
            .and_then(|n| n.checked_sub(1))
            .and_then(|i| lines[file].get(i));
        assert!(
            line.is_some_and(|l| l.iter().any(|c| !matches!(c, b' ' | b'\t' | b'\r'))),
            "{origin}: no statement on that line"
        );
    }
}

/// The test resolver of [`config`].
fn resolve(name: &str) -> Option<IpAddr> {
    (name.len() % 2 == 0).then_some(IpAddr::V4(Ipv4Addr::LOCALHOST))
}

/// Every origin a parsed configuration keeps.
fn config_origins(config: &Config) -> impl Iterator<Item = &Origin> {
    let frontends = config
        .frontends
        .iter()
        .flat_map(|f| std::iter::once(&f.origin).chain(f.binds.iter().map(|b| &b.origin)));
    let backends = config
        .backends
        .iter()
        .flat_map(|b| std::iter::once(&b.origin).chain(b.servers.iter().map(|s| &s.origin)));
    let stats = config.global.runtime_api.sockets.iter().map(|s| &s.origin);
    frontends.chain(backends).chain(stats)
}

/// `check_response`: the HTTP check response parser and the
/// `http-check expect` rules. Four bytes of header: flags (bit 0: the server
/// closed, bit 1: the check buffer is full, bit 2: the body is needed,
/// bits 3-5: the expect kind), a cut point (two bytes) and the length of
/// the expect's pattern; then the pattern, then the response.
///
/// Properties: once the server closed or the buffer is full the parser
/// never asks for more bytes; what it answered on a prefix (before a close,
/// with room left) stays the answer once more bytes came, closed or not;
/// `!` inverts every expect; the default expect passes 2xx and 3xx only.
pub fn check_response(data: &[u8]) {
    let Some((&[flags, cut_hi, cut_lo, pattern_len], rest)) = data.split_first_chunk::<4>() else {
        return;
    };
    let (eof, full, need_body) = (flags & 1 != 0, flags & 2 != 0, flags & 4 != 0);
    let (pattern, buf) = rest.split_at(usize::from(pattern_len).min(rest.len()));
    let whole = http::parse(buf, eof, full, need_body);
    if eof || full {
        assert_ne!(whole, Parse::Incomplete, "no more bytes can come");
    }
    let cut = usize::from(u16::from_be_bytes([cut_hi, cut_lo])) % (buf.len() + 1);
    for end in [cut, buf.len()] {
        let early = http::parse(&buf[..end], false, false, need_body);
        match (&early, &whole) {
            (Parse::Incomplete, _) => {}
            (Parse::Invalid(a), Parse::Invalid(b)) if a == b => {}
            (Parse::Complete(a), Parse::Complete(b))
                if (a.status, a.reason) == (b.status, b.reason)
                    && (!need_body || a.body == b.body) => {}
            _ => panic!(
                "{early:?} on the first {end} bytes became {whole:?} on all {}",
                buf.len()
            ),
        }
    }
    let Parse::Complete(response) = whole else {
        return;
    };
    let Some(expect) = http_expect((flags >> 3) & 7, pattern) else {
        return;
    };
    let passes = expect.passes(&response);
    if let Some(negated) = negated(&expect) {
        assert_ne!(
            negated.passes(&response),
            passes,
            "'!' does not invert {expect:?}"
        );
    }
    if expect == HttpExpect::Default {
        assert_eq!(passes, (200..400).contains(&response.status));
    }
}

/// An `http-check expect` rule of kind `kind % 5` built from `pattern`;
/// `None` when the pattern is not a valid regex.
fn http_expect(kind: u8, pattern: &[u8]) -> Option<HttpExpect> {
    let regex = || Pattern::new(&String::from_utf8_lossy(pattern)).ok();
    Some(match kind % 5 {
        0 => HttpExpect::Default,
        1 => HttpExpect::Status {
            codes: pattern
                .chunks_exact(4)
                .map(|c| {
                    let lo = u16::from_be_bytes([c[0], c[1]]) % 1000;
                    let hi = u16::from_be_bytes([c[2], c[3]]) % 1000;
                    (lo.min(hi), lo.max(hi))
                })
                .collect(),
            negate: false,
        },
        2 => HttpExpect::String {
            text: pattern.to_vec(),
            negate: false,
        },
        3 => HttpExpect::RStatus {
            regex: regex()?,
            negate: false,
        },
        _ => HttpExpect::RString {
            regex: regex()?,
            negate: false,
        },
    })
}

/// `expect` with its `!` flipped; `None` for the default rule, which has none.
fn negated(expect: &HttpExpect) -> Option<HttpExpect> {
    Some(match expect.clone() {
        HttpExpect::Default => return None,
        HttpExpect::Status { codes, negate } => HttpExpect::Status {
            codes,
            negate: !negate,
        },
        HttpExpect::String { text, negate } => HttpExpect::String {
            text,
            negate: !negate,
        },
        HttpExpect::RStatus { regex, negate } => HttpExpect::RStatus {
            regex,
            negate: !negate,
        },
        HttpExpect::RString { regex, negate } => HttpExpect::RString {
            regex,
            negate: !negate,
        },
    })
}

/// `tcp_check_expect`: `tcp-check` rules run on a real health probe. The
/// bytes before the first NUL are rule lines, each put in a backend with
/// `option tcp-check` as `tcp-check <line>`; then one flag byte (bit 0: the
/// server closes after the last chunk) and the response in chunks, each a
/// length byte and that many bytes. `now` may be any instant: the probe's
/// deadline is never looked at.
///
/// Properties: plain rules end only in "passed" (every rule) or "failed"
/// (at a rule); the server's close always decides the check; the first
/// expect passes, fails or waits just as matching it against the bytes
/// received up to each chunk boundary says (a `!` rule fails on the first
/// match, a plain one passes on it, and the close settles the rest; a
/// close with nothing received fails it).
pub fn tcp_check_expect(data: &[u8], now: Instant) {
    let Some(nul) = data.iter().position(|&b| b == 0) else {
        return;
    };
    let Some((&flags, mut rest)) = data[nul + 1..].split_first() else {
        return;
    };
    let mut text =
        String::from("frontend f\n  bind :1\n  default_backend b\nbackend b\n  option tcp-check\n");
    for line in String::from_utf8_lossy(&data[..nul])
        .lines()
        .take(MAX_RULES)
    {
        text.push_str("  tcp-check ");
        text.push_str(line);
        text.push('\n');
    }
    text.push_str("  server s 127.0.0.1:1 check\n");
    let source = Source::new("tcp-check", &text);
    let Ok(parsed) = config::parse(&[source], &mut |_| None) else {
        return;
    };
    let Some(HealthCheck::TcpRules(steps)) =
        parsed.config.backends.first().map(|b| &b.health_check)
    else {
        return;
    };
    let mut chunks = Vec::new();
    // Each round takes at least the length byte.
    while let Some((&len, tail)) = rest.split_first() {
        let (chunk, tail) = tail.split_at(usize::from(len).min(tail.len()));
        chunks.push(chunk);
        rest = tail;
    }
    let eof = flags & 1 != 0;
    let run = run_plain_rules(steps, &chunks, eof, now);
    match &run.verdict {
        None => assert!(!eof, "the server closed, yet the check waits"),
        Some(CheckStatus::TcpRulesPassed(_)) => assert_eq!(run.step, steps.len()),
        Some(CheckStatus::TcpRulesFailed(_)) => assert!(run.step < steps.len()),
        Some(other) => panic!("plain tcp-check rules ended in {other:?}"),
    }
    let Some((first, expect)) = steps
        .iter()
        .enumerate()
        .find(|(_, rule)| !matches!(rule.step, TcpStep::Send(_)))
    else {
        return;
    };
    // With `min-recv` a mismatch is conclusive before the end.
    let (TcpStep::Expect { negate, .. } | TcpStep::ExpectRegex { negate, .. }) = expect.step else {
        return;
    };
    if expect.min_recv.is_some() {
        return;
    }
    let received = chunks.concat();
    if received.len() >= BUF_SIZE {
        // A full buffer decides an expect before the end of a chunk.
        return;
    }
    // The probe judges the first expect on what came before each chunk
    // boundary, from the empty start to all the bytes.
    let mut ends = std::iter::once(0).chain(chunks.iter().scan(0, |end, chunk| {
        *end += chunk.len();
        Some(*end)
    }));
    let found = ends.any(|end| expect.step.finds(&received[..end]));
    let failed = matches!(run.verdict, Some(CheckStatus::TcpRulesFailed(_)));
    if eof && received.is_empty() {
        // HAProxy: "TCPCHK got an empty response", whatever the rule.
        assert!(
            failed && run.step == first,
            "an empty reply fails rule {}",
            first + 1
        );
        return;
    }
    match (found, negate, eof) {
        (true, false, _) | (false, true, true) => {
            assert!(run.step > first, "rule {} should pass", first + 1);
        }
        (true, true, _) | (false, false, true) => {
            assert!(
                failed && run.step == first,
                "rule {} should fail",
                first + 1
            );
        }
        (false, _, false) => {
            assert!(
                run.verdict.is_none() && run.step == first,
                "rule {} should wait for more bytes",
                first + 1
            );
        }
    }
}

/// `client_hello`: the ClientHello reader (`replay_is_safe`) on any bytes,
/// then on ClientHellos built from them: two bytes of record size, one byte
/// of position, then extensions (two bytes of type, a length byte, the
/// data).
///
/// Properties: no bytes make it panic; a complete ClientHello without
/// `early_data` may be replayed, alone or followed by any bytes; none of its
/// strict prefixes may; the same hello with `early_data` added never may.
pub fn client_hello(data: &[u8]) {
    // Any answer is fine for arbitrary bytes; the call must not panic.
    let _ = hello::replay_is_safe(data);
    let Some((&[size_hi, size_lo, at], mut rest)) = data.split_first_chunk::<3>() else {
        return;
    };
    let record = usize::from(u16::from_be_bytes([size_hi, size_lo])).max(1);
    let mut extensions: Vec<(u16, &[u8])> = Vec::new();
    // Each round takes at least three bytes.
    while let Some((&[type_hi, type_lo, len], tail)) = rest.split_first_chunk::<3>() {
        let (body, tail) = tail.split_at(usize::from(len).min(tail.len()));
        let kind = u16::from_be_bytes([type_hi, type_lo]);
        if kind != EARLY_DATA {
            extensions.push((kind, body));
        }
        rest = tail;
    }
    // The extension list, early_data included, must fit its 16-bit length.
    let list: usize = extensions.iter().map(|(_, body)| 4 + body.len()).sum();
    if list + 4 > usize::from(u16::MAX) {
        return;
    }
    let plain = hello::hello(&extensions, record);
    assert!(
        hello::replay_is_safe(&plain),
        "a plain ClientHello is refused"
    );
    assert!(
        hello::replay_is_safe(&[plain.as_slice(), data].concat()),
        "a plain ClientHello followed by more bytes is refused"
    );
    let cut = 1 + usize::from(at) % (plain.len() - 1);
    assert!(
        !hello::replay_is_safe(&plain[..cut]),
        "the first {cut} bytes of a ClientHello are accepted"
    );
    let mut early = extensions;
    early.insert(usize::from(at) % (early.len() + 1), (EARLY_DATA, &[]));
    let early = hello::hello(&early, record);
    assert!(!hello::replay_is_safe(&early), "early data is accepted");
    assert!(
        !hello::replay_is_safe(&[early.as_slice(), data].concat()),
        "early data followed by more bytes is accepted"
    );
}

/// `proxy_header`: the PROXY protocol decoder on any bytes, whole and in
/// every prefix, with the first byte choosing the version 2 cap.
///
/// Properties: no bytes make it panic; a header takes at least one byte
/// and at most what was given (and version 1 at most 107); a prefix that
/// asks for more never comes after one that was refused, and a decoded
/// header is decoded the same from any longer input; addresses it gives
/// back come back unchanged through weir's own encoder, in both versions.
pub fn proxy_header(data: &[u8]) {
    use crate::proxy_protocol::{self as pp, Version};
    let Some((&cap, bytes)) = data.split_first() else {
        return;
    };
    let cap = 16 + usize::from(cap) * 64;
    let whole = pp::decode(bytes, cap);
    if let Ok(Some(header)) = &whole {
        assert!(
            header.len > 0 && header.len <= bytes.len(),
            "header length out of the input"
        );
        if bytes.first() == Some(&b'P') {
            assert!(
                header.len <= pp::MAX_V1_LEN,
                "version 1 header over 107 bytes"
            );
        }
        let again = pp::decode(&bytes[..header.len], cap);
        assert_eq!(
            again.as_ref(),
            Ok(&Some(header.clone())),
            "the header alone reads differently"
        );
        if let Some(addrs) = header.addrs {
            for version in [Version::V1, Version::V2(pp::V2Options::default())] {
                let encoded = pp::encode(version, Some(addrs), None);
                let back = pp::decode(encoded.as_bytes(), pp::MAX_V2_LEN);
                let back = back.ok().flatten().map(|h| h.addrs);
                assert_eq!(
                    back,
                    Some(Some(addrs)),
                    "addresses lost through {version:?}"
                );
            }
        }
    }
    let mut refused = false;
    for n in 0..bytes.len().min(256) {
        match pp::decode(&bytes[..n], cap) {
            Ok(None) => assert!(!refused, "more bytes asked for after a refusal"),
            Err(_) => refused = true,
            Ok(Some(_)) => break,
        }
    }
}

/// The configuration of [`http_request`]'s frontends: the exporter on
/// `/metrics`, the stats page with an account and admin rights on `/stats`.
const HTTP_CONFIG: &str = "frontend p\n mode http\n bind :1\n \
    http-request use-service prometheus-exporter if { path_beg -i /metrics }\n stats enable\n \
    stats uri /stats\n stats refresh 5\n stats auth admin:secret\n stats admin if LOCALHOST\n";

/// `http_request`: the HTTP request reader, the router of a `mode http`
/// frontend and the admin form parser. The first byte sets how many bytes
/// arrive at a time (1 to 64); the rest is what a client sends.
///
/// Properties: reading the bytes as they trickle in finds the same
/// requests, and ends the same way (an error, or waiting), as reading
/// them at once; each request takes at least one byte and at most what was
/// received; one that keeps the connection has its body; every answer is
/// an HTTP/1.1 status line and a head, with no body for HEAD; an admin
/// form acts on servers only once it names a backend and an action.
pub fn http_request(data: &[u8]) {
    use crate::http::{Read, Reply, RequestReader, Route};
    let Some((&step, stream)) = data.split_first() else {
        return;
    };
    let step = usize::from(step % 64) + 1;
    let service = config::parse(&[Source::new("h.cfg", HTTP_CONFIG)], &mut |_| None)
        .ok()
        .and_then(|p| p.config.frontends.into_iter().next())
        .and_then(|f| f.service)
        .expect("the fuzz configuration parses");
    // Reads every request of `stream`, given `arrived` bytes at a time.
    let read_all = |arrived: usize| {
        let mut reader = RequestReader::new();
        let (mut start, mut end) = (0, 0);
        let mut seen = Vec::new();
        loop {
            let buf = &stream[start..end];
            match reader.read(buf) {
                Ok(Read::Request(req)) => {
                    assert!(req.len > 0 && req.len <= buf.len(), "{req:?} from {buf:?}");
                    assert!(!req.keep_alive || req.body.is_some());
                    let peer = IpAddr::V4(Ipv4Addr::LOCALHOST);
                    let reply = match service.route(&req, peer) {
                        Route::Metrics(_) => Reply::metrics(&req, b"m"),
                        Route::Stats(view) => view.reply(&req, b"page"),
                        Route::Admin(view, post) => {
                            let code = post.run(|_| true, |_, _, _| crate::http::Outcome::Altered);
                            view.redirect(&req, code)
                        }
                        Route::Reply(reply) => reply,
                    };
                    check_reply(&reply, req.method == crate::http::Method::Head);
                    seen.push(format!("{req:?}"));
                    start += req.len;
                    end = end.max(start);
                }
                Ok(Read::Continue) => {}
                Ok(Read::NeedMore) if end < stream.len() => end = (end + arrived).min(stream.len()),
                Ok(Read::NeedMore) => return (seen, None),
                Err(e) => return (seen, Some(e)),
            }
        }
    };
    let at_once = read_all(stream.len().max(1));
    let trickled = read_all(step);
    assert_eq!(
        at_once, trickled,
        "reading {step} bytes at a time changed the requests"
    );
    check_admin_post(stream);
}

/// An answer is a status line, headers and an empty line (then, for HEAD,
/// nothing).
fn check_reply(reply: &crate::http::Reply, head: bool) {
    let bytes = &reply.bytes;
    assert!(bytes.starts_with(b"HTTP/1.1 "), "{bytes:?}");
    let end = bytes
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("an answer has a head");
    if head {
        assert_eq!(end + 4, bytes.len(), "an answer to HEAD has a body");
    }
}

/// [`http_request`]'s properties of the admin form parser.
fn check_admin_post(body: &[u8]) {
    use crate::http::{AdminPost, Outcome, StatCode};
    let post = AdminPost::parse(body);
    assert_eq!(post, AdminPost::parse(body), "parsing is deterministic");
    let mut calls = 0;
    let code = post.run(
        |_| true,
        |_, _, _| {
            calls += 1;
            Outcome::Altered
        },
    );
    let ready = post.backend.is_some() && post.action.is_some();
    assert_eq!(calls, if ready { post.servers.len() } else { 0 });
    let expected = match (post.invalid, calls) {
        (true, _) => StatCode::Errp,
        (false, 0) => StatCode::None,
        (false, _) => StatCode::Done,
    };
    assert_eq!(code, expected);
    assert_eq!(
        post.run(|_| false, |_, _, _| Outcome::Altered) == StatCode::Errp,
        post.backend.is_some() || post.invalid
    );
}

/// `log_format`: the first [`LOG_RECORD_BYTES`] bytes fill a session
/// record, the rest (as UTF-8, lossy) is a `log-format` string.
///
/// Properties: compiling never panics and is deterministic; a compiled
/// format renders within its limit, the same way twice; any text with
/// every `%` doubled renders as itself with runs of spaces made one and
/// leading spaces dropped, as HAProxy; a rendered line framed for a log
/// target never exceeds the target's `len`.
pub fn log_format(data: &[u8]) {
    use crate::config::{LogDest, LogFormat, LogTarget, Severity};
    use crate::logging::{Host, LineFormat, Record, frame};
    use std::net::SocketAddr;
    use std::time::{Duration, UNIX_EPOCH};

    let (head, tail) = data.split_at(data.len().min(LOG_RECORD_BYTES));
    let mut bytes = head.iter().copied().chain(std::iter::repeat(0));
    let mut u64_ = || (0..8).fold(0u64, |n, _| n << 8 | u64::from(bytes.next().unwrap_or(0)));
    let names = ["fe", "b\"e]\\", "é s", ""];
    let (a, b, c, d) = (u64_(), u64_(), u64_(), u64_());
    let (e, f) = (u64_(), u64_());
    let ip = |n: u64| -> IpAddr {
        if n & 1 == 0 {
            IpAddr::V4(Ipv4Addr::from((n >> 8) as u32))
        } else {
            IpAddr::V6(std::net::Ipv6Addr::from(
                u128::from(n) << 64 | u128::from(n),
            ))
        }
    };
    let record = Record {
        client: SocketAddr::new(ip(a), a as u16),
        frontend_addr: (b & 1 == 1).then(|| SocketAddr::new(ip(b), (b >> 16) as u16)),
        accepted: UNIX_EPOCH + Duration::from_millis(c % (1 << 45)),
        frontend: names[(d & 3) as usize],
        backend: names[(d >> 2 & 3) as usize],
        server: (d & 16 == 0).then_some(names[(d >> 5 & 3) as usize]),
        server_addr: (d & 128 == 0).then(|| SocketAddr::new(ip(e), e as u16)),
        queue_ms: (e & 2 == 0).then_some(e >> 8),
        connect_ms: (e & 4 == 0).then_some(f),
        total_ms: f.rotate_left(7),
        bytes_out: b.rotate_left(3),
        bytes_in: c.rotate_left(5),
        termination: [char::from(b'A' + (d >> 8) as u8 % 26), '-'],
        counts: [
            a as u32,
            (a >> 32) as u32,
            b as u32,
            (b >> 32) as u32,
            c as u32,
        ],
        redispatched: d & 1 << 20 != 0,
        queue_pos: [e as u32, (e >> 32) as u32],
        asap: e % 3 == 0,
    };
    let host = Host::new(
        f as u32,
        names[(f >> 32 & 3) as usize].into(),
        None,
        (f >> 40) as i32,
    );
    let text = String::from_utf8_lossy(tail);
    let limit = 1 + (d >> 24) as usize % 4096;
    let render = |format: &LineFormat| {
        let mut out = String::new();
        format.render(&record, &host, &mut out, limit);
        out
    };
    let compiled = LineFormat::compile(&text);
    assert_eq!(
        compiled,
        LineFormat::compile(&text),
        "compiling is deterministic"
    );
    if let Ok(format) = &compiled {
        let line = render(format);
        assert!(
            line.len() <= limit,
            "{} bytes past a limit of {limit}",
            line.len()
        );
        assert_eq!(line, render(format), "rendering is deterministic");
        let target = LogTarget {
            dest: LogDest::Stdout,
            format: LogFormat::Rfc5424,
            len: 80 + limit % 200,
            facility: 16,
            max_level: Severity::Debug,
            min_level: Severity::Emerg,
            tag: "weir".into(),
        };
        let framed = frame(&target, Severity::Info, &host, record.accepted, &line);
        assert!(
            framed.is_some_and(|l| l.text.len() < target.len),
            "framed past len"
        );
    }
    let literal = LineFormat::compile(&text.replace('%', "%%"));
    let literal = literal.unwrap_or_else(|e| panic!("doubled '%' refused: {e}"));
    let mut expected = String::new();
    for c in text.chars() {
        if c != ' ' || !(expected.is_empty() || expected.ends_with(' ')) {
            expected.push(c);
        }
    }
    let mut cut = limit.min(expected.len());
    while !expected.is_char_boundary(cut) {
        cut -= 1;
    }
    expected.truncate(cut);
    assert_eq!(render(&literal), expected, "literal text changed");
}

/// Bytes of a [`log_format`] input that fill the session record.
pub const LOG_RECORD_BYTES: usize = 48;

/// `runtime_api`: a stats-socket connection fed what a peer sends. Byte 0
/// is the socket's level (`% 3`: user, operator, admin); then operations:
/// a byte below 0xf0 is a chunk of that many following bytes, `0xf0` the
/// end of input, `0xf1` one second passing (deadline checked), `0xf2`
/// toggles whether the peer reads answers, `0xf3` a 16 KiB run of `a`.
/// Each chunk's lines also go through the command parser and `execute`.
///
/// Properties: unsent output stays within a buffer plus one answer; a
/// connection that got `MAX_REQUEST` bytes without a `\n` or `;` closes;
/// after the end of input (and answers read) every connection closes; at
/// its deadline it closes with nothing left to send; the same input gives
/// the same output.
/// `now` is when the connection opens.
pub fn runtime_api(data: &[u8], now: Instant) {
    let first = cli_run(data, now);
    assert_eq!(first, cli_run(data, now), "the same input gave two outputs");
}

/// What a connection sent back: a hash of the bytes and their count.
#[derive(Debug, Default, PartialEq, Eq)]
struct SentBack {
    hash: u64,
    len: usize,
}

impl SentBack {
    fn extend_from_slice(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.hash = (self.hash ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
        }
        self.len += bytes.len();
    }
}

/// Runs [`runtime_api`]'s input once.
fn cli_run(data: &[u8], mut now: Instant) -> SentBack {
    use crate::runtime_api::{CliConn, Level, MAX_REQUEST, execute, parse};
    use std::time::Duration;

    let Some((&level, mut ops)) = data.split_first() else {
        return SentBack::default();
    };
    let level = [Level::User, Level::Operator, Level::Admin][usize::from(level % 3)];
    let mut conn = CliConn::new(level, Duration::from_secs(10), now);
    let mut control = FakeBalancer::default();
    let mut sent_back = SentBack::default();
    let mut reads = true;
    let mut undelimited = 0usize;
    let run = vec![b'a'; 16384];
    while let Some((&op, rest)) = ops.split_first() {
        ops = rest;
        let chunk: &[u8] = match op {
            0xf0 => {
                conn.read_closed();
                &[]
            }
            0xf1 => {
                now += Duration::from_secs(1);
                conn.handle_timeout(now);
                if conn.wants_close() && conn.pending().is_empty() && now >= conn.deadline() {
                    return sent_back;
                }
                &[]
            }
            0xf2 => {
                reads = !reads;
                &[]
            }
            0xf3 => &run,
            n => {
                let (chunk, rest) = ops.split_at(usize::from(n).min(ops.len()));
                ops = rest;
                chunk
            }
        };
        for line in chunk.split(|&b| b == b'\n') {
            if let crate::runtime_api::Request::Command(command) = parse(line) {
                let _ = execute(&command, level, &mut control);
            }
        }
        let taken = conn.received(now, chunk);
        if chunk[..taken].iter().any(|&b| b == b'\n' || b == b';') {
            undelimited = 0;
        } else {
            undelimited += taken;
        }
        conn.handle(&mut control);
        assert!(
            conn.pending().len() <= 2 * 16384,
            "{} bytes of output held",
            conn.pending().len()
        );
        if reads {
            sent_back.extend_from_slice(conn.pending());
            conn.sent(now, conn.pending().len());
            conn.handle(&mut control);
        }
        if undelimited >= MAX_REQUEST {
            assert!(
                conn.wants_close() || !reads,
                "{undelimited} bytes without a line end kept open"
            );
        }
        if conn.wants_close() {
            return sent_back;
        }
    }
    conn.read_closed();
    // At most MAX_REQUEST two-byte requests, each answered by less than a
    // buffer: rounds enough to send every answer.
    for _ in 0..MAX_REQUEST {
        conn.handle(&mut control);
        sent_back.extend_from_slice(conn.pending());
        conn.sent(now, conn.pending().len());
        if conn.wants_close() {
            break;
        }
    }
    assert!(conn.wants_close(), "the connection outlived its input");
    let deadline = conn.deadline();
    conn.handle_timeout(deadline);
    assert!(conn.wants_close() && conn.pending().is_empty());
    sent_back
}

/// A balancer for the runtime API fuzzer: backends `app` (id 2: `a` and
/// `b`) and `st` (id 3, static weights: `s`), frontend `fe` (id 1).
#[derive(Default)]
struct FakeBalancer {
    weights: [u32; 3],
    addrs: [Option<std::net::SocketAddr>; 3],
    maxconn: u32,
}

impl crate::runtime_api::Control for FakeBalancer {
    type Backend = usize;
    type Server = usize;
    type Frontend = ();

    fn find_backend(&self, key: crate::runtime_api::Key<'_>) -> Option<usize> {
        use crate::runtime_api::Key;
        match key {
            Key::Name("app") | Key::Id(2) => Some(0),
            Key::Name("st") | Key::Id(3) => Some(1),
            _ => None,
        }
    }

    fn find_server(&self, backend: usize, key: crate::runtime_api::Key<'_>) -> Option<usize> {
        use crate::runtime_api::Key;
        match (backend, key) {
            (0, Key::Name("a") | Key::Id(1)) => Some(0),
            (0, Key::Name("b") | Key::Id(2)) => Some(1),
            (1, Key::Name("s") | Key::Id(1)) => Some(2),
            _ => None,
        }
    }

    fn find_frontend(&self, key: crate::runtime_api::Key<'_>) -> Option<()> {
        use crate::runtime_api::Key;
        matches!(key, Key::Name("fe") | Key::Id(1)).then_some(())
    }

    fn proxy_id(&self, key: crate::runtime_api::Key<'_>) -> Option<i32> {
        use crate::runtime_api::Key;
        match key {
            Key::Name("fe") => Some(1),
            Key::Name(name) => self.find_backend(Key::Name(name)).map(|b| b as i32 + 2),
            Key::Id(id @ 1..=3) => Some(id),
            Key::Id(_) => None,
        }
    }

    fn set_admin_state(&mut self, _: usize, _: crate::runtime_api::AdminState) {}

    fn set_health(&mut self, _: usize, _: crate::runtime_api::ForcedHealth) {}

    fn weights(&self, server: usize) -> crate::runtime_api::Weights {
        crate::runtime_api::Weights {
            current: self.weights[server],
            initial: 1 + server as u32,
            dynamic: server < 2,
        }
    }

    fn set_weight(&mut self, server: usize, weight: u32) {
        assert!(weight <= 256, "weight {weight} out of range");
        self.weights[server] = weight;
    }

    fn addr(&self, server: usize) -> std::net::SocketAddr {
        self.addrs[server].unwrap_or(std::net::SocketAddr::from(([127, 0, 0, 1], 8080)))
    }

    fn set_addr(&mut self, server: usize, addr: std::net::SocketAddr) {
        assert!(addr.port() != 0, "port 0 set");
        self.addrs[server] = Some(addr);
    }

    fn has_check(&self, server: usize) -> bool {
        server == 2
    }

    fn set_check_enabled(&mut self, server: usize, _: bool) {
        assert_eq!(server, 2, "checks enabled on a server without");
    }

    fn shutdown_sessions(&mut self, _: usize) {}

    fn shutdown_session(&mut self, id: u64) -> bool {
        id == 0x1234
    }

    fn set_server_maxconn(&mut self, _: usize, _: u32) {}

    fn set_frontend_maxconn(&mut self, (): (), _: u32) {}

    fn hard_maxconn(&self) -> u32 {
        1000
    }

    fn set_global_maxconn(&mut self, maxconn: u32) {
        assert!((1..=1000).contains(&maxconn), "global maxconn {maxconn}");
        self.maxconn = maxconn;
    }

    fn clear_counters(&mut self, _: bool) {}

    fn show_info(&self, options: crate::runtime_api::InfoOptions) -> String {
        format!("info {options:?}\n")
    }

    fn show_stat(&self, filter: &crate::runtime_api::StatFilter) -> String {
        format!("stat {filter:?}\n")
    }

    fn show_servers_state(&self, backend: Option<usize>) -> String {
        format!("state {backend:?}\n")
    }

    fn backend_names(&self) -> Vec<&str> {
        vec!["app", "st"]
    }

    fn show_sess(&self, target: crate::runtime_api::SessTarget) -> String {
        format!("sess {target:?}\n")
    }
}

/// The configuration [`server_state`] loads states into: server names the
/// corpus uses, one disabled, one with `slowstart`, one without checks.
const STATE_CONFIG: &str = "defaults\n timeout connect 1s\n timeout client 1s\n \
    timeout server 1s\nfrontend fe\n bind 127.0.0.1:1\n default_backend app\n\
    backend app\n server gw1 127.0.0.1:8443 check\n \
    server gw2 127.0.0.1:8444 check rise 1 fall 1 slowstart 10s\n \
    server gw3 127.0.0.1:8445 check disabled weight 0\n server gw4 127.0.0.1:8446\n\
    backend other\n server gw1 127.0.0.1:9000 check rise 3 fall 4\n";

/// `server_state`: any bytes through [`crate::server_state::parse`], and
/// a parsed file applied to a running balancer, as a global file and as a
/// local one of each backend.
///
/// Properties: parsing is deterministic; every line it returns is within
/// the input's line count, with names without spaces; a valid line's
/// weights are within HAProxy's range; applying never panics and leaves
/// the balancer consistent (its debug-build invariants hold).
pub fn server_state(data: &[u8], now: Instant) {
    use crate::server_state::{MAX_LINE, parse};
    use crate::{BackendStates, Balancer};
    use std::time::SystemTime;

    let parsed = parse(data);
    assert_eq!(parsed, parse(data), "the same input gave two results");
    let Ok(file) = parsed else {
        return;
    };
    let count = data.split(|&b| b == b'\n').count();
    for line in &file.lines {
        assert!((2..=count).contains(&(line.line as usize)), "{line:?}");
        for name in [&line.be_name, &line.srv_name] {
            assert!(!name.is_empty() && name.len() < MAX_LINE);
            assert!(!name.contains([' ', '\t', '\n']), "{name:?}");
        }
        if let Ok(values) = &line.values {
            assert!(values.uweight <= 256 && values.iweight <= 256, "{values:?}");
        }
    }
    let source = Source::new("state.cfg", STATE_CONFIG.as_bytes());
    let config = config::parse(&[source], &mut |_| None).expect("the fixed configuration parses");
    for local in [false, true] {
        let mut lb = Balancer::new(config.config.clone(), 1, now, SystemTime::UNIX_EPOCH, 1);
        let sources: Vec<BackendStates<'_>> = ["app", "other", "missing"]
            .into_iter()
            .map(|backend| BackendStates {
                backend,
                file: &file,
                local,
            })
            .collect();
        lb.load_server_states(now, &sources);
        while lb.poll_action().is_some() {}
        let _ = lb.poll_timeout();
    }
}

/// `agent_reply`: any bytes as an `agent-check` agent's reply, read with
/// the first byte as the server's configured weight and the second's low
/// bit as a dynamic algorithm.
///
/// Properties: only the first line counts (bytes after its end change
/// nothing); a line is found exactly when a CR or LF comes before any
/// NUL; every word kept is a part of that line; a weight is at most 256;
/// a line announcing a health gets HAProxy's `via agent : ` text.
pub fn agent_reply(data: &[u8]) {
    use crate::health::agent::{self, AgentParse};
    let (iweight, dynamic) = match data {
        [w, d, ..] => (u32::from(*w), d & 1 == 1),
        _ => (1, true),
    };
    let parsed = agent::parse(data);
    let end = data.iter().position(|&b| matches!(b, b'\r' | b'\n' | 0));
    let AgentParse::Line(reply) = parsed else {
        assert!(end.is_none_or(|at| data[at] == 0), "a line end was missed");
        return;
    };
    let end = end.expect("a line has an end");
    assert_ne!(data[end], 0);
    let mut longer = data[..=end].to_vec();
    longer.extend_from_slice(b"down 0% maint # more\n");
    assert_eq!(agent::parse(&longer), AgentParse::Line(reply.clone()));
    let line = &data[..end];
    let within =
        |word: &str| word.is_empty() || line.windows(word.len()).any(|w| w == word.as_bytes());
    for word in [
        reply.weight,
        reply.maxconn,
        reply.unknown,
        reply.health.map(|h| h.1),
    ]
    .into_iter()
    .flatten()
    .chain([reply.description])
    {
        assert!(within(word), "{word:?} is not in the line");
    }
    let outcome = reply.outcome(iweight, dynamic);
    assert!(outcome.weight.is_none_or(|w| w <= 256), "{outcome:?}");
    if reply.health.is_some() {
        assert!(outcome.desc.starts_with("via agent : "), "{outcome:?}");
    }
}

/// `dns_message`: any bytes as a DNS response to a question for
/// `gw1.example.com` and for the name the datagram's own question holds.
///
/// Properties: reading never panics; a name read anywhere is at most 255
/// bytes and ends before the datagram does; an accepted response carries
/// the datagram's id, at most as many records as it announced, no address
/// twice.
pub fn dns_message(data: &[u8]) {
    use crate::dns::message::{self, Name};
    for at in 0..data.len().min(64) {
        if let Ok((name, next)) = message::read_name(data, at) {
            assert!(name.wire().len() <= message::MAX_NAME);
            assert!(next <= data.len() && next > at);
        }
    }
    let own = message::read_name(data, message::HEADER)
        .ok()
        .map(|(n, _)| n);
    let fixed = Name::parse("gw1.example.com").expect("valid name");
    for name in own.iter().chain([&fixed]) {
        let Ok(response) = message::parse_response(data, name, 4096) else {
            continue;
        };
        assert_eq!(Some(response.id), message::response_id(data));
        let announced = usize::from(u16::from_be_bytes([data[6], data[7]]));
        assert!(response.records.len() <= announced);
        let addrs: Vec<_> = response.addrs().collect();
        for (i, a) in addrs.iter().enumerate() {
            assert!(!addrs[i + 1..].contains(a), "address {a} twice");
        }
    }
}

/// `config_condition`: any bytes as the expression of a `.if` line, to
/// the condition evaluator and, as a `.if` block between lines that use
/// environment variables, to [`config::parse_with_env`].
///
/// Properties: evaluation never panics and is deterministic; an error's
/// position is within the expression (or just past its end); trailing
/// blanks change the value of no expression but the empty one; a file with the block parses the same twice,
/// and every diagnostic shows without control characters.
pub fn config_condition(data: &[u8]) {
    use crate::config::condition;
    let text = String::from_utf8_lossy(data);
    let env = |name: &str| (name.len() % 2 == 0).then(|| format!("v{name}"));
    let mut defined = |name: &str| env(name).is_some();
    let first = condition::evaluate(&text, &mut defined);
    assert_eq!(first, condition::evaluate(&text, &mut defined));
    match &first {
        Ok(value) if !text.is_empty() => {
            let spaced = format!("{text} ");
            assert_eq!(condition::evaluate(&spaced, &mut defined), Ok(*value));
        }
        Ok(_) => {}
        Err(e) => {
            if let Some(p) = e.position {
                assert!(p >= 1 && p <= text.len() + 1, "position {p} in {text:?}");
            }
        }
    }
    let file = format!(
        ".if {text}\n.notice \"${{AB}}${{A-x}}\"\n.elif defined(AB)\n.warning \"$AB\"\n.else\n\
         .endif\nlisten fe\n bind \"127.0.0.1:${{PORT-80}}\"\n server s1 127.0.0.1:1\n"
    );
    let sources = [Source::new("a.cfg", &file)];
    let once = config::parse_with_env(&sources, &mut resolve, &env);
    let again = config::parse_with_env(&sources, &mut resolve, &env);
    let shown = |r: &Result<config::Parsed, Vec<config::Diagnostic>>| -> Vec<String> {
        match r {
            Ok(p) => (p.warnings.iter().chain(&p.notices))
                .map(ToString::to_string)
                .collect(),
            Err(e) => e.iter().map(ToString::to_string).collect(),
        }
    };
    let (a, b) = (shown(&once), shown(&again));
    assert_eq!(a, b);
    for line in a {
        assert!(!line.chars().any(char::is_control), "{line:?}");
    }
}

/// The configuration [`dns_resolver`] runs: three template servers and
/// one server preferring IPv6, following `gw.test` through one name
/// server, with short holds.
const DNS_CONFIG: &str = "resolvers dns\n nameserver ns1 127.0.0.1:53\n\
    timeout resolve 100ms\n timeout retry 50ms\n hold nx 200ms\n hold other 200ms\n\
    hold refused 200ms\n hold timeout 200ms\n hold obsolete 100ms\n\
    listen app\n bind 127.0.0.1:80\n log stdout format raw local0\n\
    server-template web 3 gw.test:80 resolvers dns resolve-prefer ipv4 init-addr none\n\
    server six gw.test:81 resolvers dns resolve-net fd00::/8 init-addr none\n";

/// `dns_resolver`: any bytes as a name server's life: each chunk starts
/// with an op byte; `0`: time passes (the next byte, in milliseconds x5);
/// otherwise the rest of the chunk (up to the next `0xff` byte) is an
/// answer to the last query sent of the type its question asks (A or
/// AAAA), its first two bytes replaced by that query's id (so that
/// answers get past the id check), or, for an odd op, as it is.
///
/// Properties: the balancer never panics and never asks for a deadline
/// not after `now`; every server has an address from an answer or none,
/// and one without an address is in maintenance (`resolution`); every
/// query is one core could have built (a header, one question, EDNS).
pub fn dns_resolver(data: &[u8], start: Instant) {
    use crate::Balancer;
    use crate::action::Action;
    use crate::runtime_api::Level;
    use std::net::SocketAddr;
    use std::time::{Duration, SystemTime};

    let source = Source::new("dns.cfg", DNS_CONFIG.as_bytes());
    let config = config::parse(&[source], &mut |_| None).expect("the fixed configuration parses");
    let ns = SocketAddr::from(([127, 0, 0, 1], 53));
    let mut lb = Balancer::new(config.config, 1, start, SystemTime::UNIX_EPOCH, 1);
    let mut now = start;
    // The last query of each type (A, AAAA), by its question's type.
    let mut last_query: [Option<Vec<u8>>; 2] = [None, None];
    let qtype = |d: &[u8]| {
        let (_, end) = crate::dns::message::read_name(d, crate::dns::message::HEADER).ok()?;
        Some(usize::from(*d.get(end + 1)? == 28))
    };
    let mut answered: Vec<IpAddr> = Vec::new();
    let mut rest = data;
    for _ in 0..256 {
        while let Some(action) = lb.poll_action() {
            if let Action::SendDatagram { to, data } = action {
                assert_eq!(to, ns);
                assert!(data.len() >= crate::dns::message::HEADER + 1 + 4 + 11);
                assert_eq!(&data[4..12], &[0, 1, 0, 0, 0, 0, 0, 1]);
                if let Some(t) = qtype(&data) {
                    last_query[t] = Some(data);
                }
            }
        }
        if let Some(next) = lb.poll_timeout() {
            assert!(next > now, "a deadline not after now");
        }
        let Some((&op, tail)) = rest.split_first() else {
            break;
        };
        if op == 0 {
            let (&step, tail) = tail.split_first().unwrap_or((&0, &[]));
            now += Duration::from_millis(u64::from(step) * 5 + 1);
            lb.handle_timeout(now);
            rest = tail;
            continue;
        }
        let end = tail.iter().position(|&b| b == 0xff).unwrap_or(tail.len());
        let mut answer = tail[..end].to_vec();
        rest = tail.get(end + 1..).unwrap_or(&[]);
        if op % 2 == 0 {
            let query = qtype(&answer).and_then(|t| last_query[t].as_ref());
            if let Some(q) = query {
                answer[..2].copy_from_slice(&q[..2]);
            }
        }
        if let Ok(r) = crate::dns::message::parse_response(
            &answer,
            &crate::dns::message::Name::parse("gw.test").expect("valid"),
            512,
        ) {
            answered.extend(r.addrs());
        }
        lb.handle_datagram(now, ns, &answer);
    }
    let state = lb.handle_command(now, "show servers state", Level::Admin);
    for line in state.lines().skip(2).filter(|l| !l.is_empty()) {
        let fields: Vec<&str> = line.split(' ').collect();
        let (addr, admin) = (fields[4], fields[6]);
        if addr == "-" {
            assert_eq!(admin, "32", "{line}");
        } else {
            let ip: IpAddr = addr.parse().expect("an address");
            assert!(answered.contains(&ip), "{ip} never answered: {line}");
        }
    }
}

/// `protocol_check`: a server's reply to one of HAProxy's protocol checks
/// (`option mysql-check`, `pgsql-check`, `smtpchk`, `ldap-check`,
/// `ssl-hello-chk`, `redis-check`), run on a real health probe. The first
/// byte picks the check, the second's bit 0 says the server closes after
/// the last chunk; then the reply in chunks, each a length byte and that
/// many bytes. The whole reply also goes straight to the custom parsers
/// and the reply-text helpers.
///
/// Properties: a check ends only in a pass (after every rule) or a failure
/// (at a rule), with the statuses its ruleset can give; the server's close
/// always decides it; a custom parser never waits once no more bytes can
/// come, and when it decides before that, the close changes nothing; texts
/// are at most 127 characters, without NUL, and without CR or LF when cut
/// at a line end; a reply code is at most 999.
pub fn protocol_check(data: &[u8], now: Instant) {
    use crate::config::{CustomExpect, ProtocolCheck, ReplyText};
    use crate::health::protocol::{self, Custom};
    let [pick, flags, rest @ ..] = data else {
        return;
    };
    let check = match pick % 8 {
        0 => ProtocolCheck::Mysql(None),
        1 => ProtocolCheck::Mysql(Some(("haproxy".into(), false))),
        2 => ProtocolCheck::Mysql(Some(("haproxy".into(), true))),
        3 => ProtocolCheck::Pgsql("postgres".into()),
        4 => ProtocolCheck::Smtp("HELO localhost".into()),
        5 => ProtocolCheck::Ldap,
        6 => ProtocolCheck::SslHello,
        _ => ProtocolCheck::Redis,
    };
    let steps = check.rules();
    let mut chunks = Vec::new();
    let mut tail = rest;
    // Each round takes at least the length byte.
    while let Some((&len, more)) = tail.split_first() {
        let (chunk, more) = more.split_at(usize::from(len).min(more.len()));
        chunks.push(chunk);
        tail = more;
    }
    let eof = flags & 1 != 0;
    let run = run_plain_rules(&steps, &chunks, eof, now);
    let short = |text: &str| {
        assert!(text.chars().count() <= 127, "{text:?} is too long");
        assert!(!text.contains('\0'), "{text:?} has a NUL");
    };
    match &run.verdict {
        None => assert!(!eof, "the server closed, yet the check waits"),
        Some(CheckStatus::TcpRulesPassed(text) | CheckStatus::ProtocolPassed(_, text)) => {
            assert_eq!(run.step, steps.len());
            short(text);
        }
        Some(CheckStatus::L6Ok) => {
            assert_eq!(run.step, steps.len());
            assert!(steps[run.step - 1].layer6);
        }
        Some(
            CheckStatus::TcpRulesFailed(text)
            | CheckStatus::L7Status(_, text)
            | CheckStatus::L6Invalid(text),
        ) => {
            assert!(run.step < steps.len(), "a failure after every rule");
            short(text);
        }
        Some(other) => panic!("{check:?} ended in {other:?}"),
    }
    let reply = chunks.concat();
    for kind in [
        CustomExpect::MysqlHandshake,
        CustomExpect::MysqlOk,
        CustomExpect::LdapBindResponse,
    ] {
        for last in [false, true] {
            let closed = protocol::judge(kind, &reply, true, last);
            assert_ne!(closed, Custom::Wait, "{kind:?} waits after the close");
            let open = protocol::judge(kind, &reply, false, last);
            if open != Custom::Wait {
                assert_eq!(open, closed, "{kind:?}: the close changed a decision");
            }
            match closed {
                Custom::Pass(Some(text)) | Custom::Invalid(text) | Custom::WrongStatus(_, text) => {
                    short(&text)
                }
                Custom::Pass(None) | Custom::Wait => {}
            }
        }
    }
    for (from, cut) in [
        (ReplyText::FIRST_LINE, true),
        (ReplyText::SMTP_TEXT, true),
        (ReplyText::from(6), false),
    ] {
        let text = protocol::reply_text(from, &reply);
        short(&text);
        assert!(!cut || !text.contains(['\r', '\n']), "{text:?} is not cut");
    }
    assert!(protocol::reply_code(&reply) <= 999);
}
