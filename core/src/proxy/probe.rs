//! One health-check connection, from connect to verdict.
//!
//! # Lifecycle
//!
//! ```text
//! Connecting --connected--> Talking --verdict--> (closed by the balancer)
//!     |                       |  TLS: handshake, then the request inside TLS
//!     |                       |  HTTP: request out, response in, judged
//!     +--deadline: L4TOUT     +--deadline: L6TOUT (handshake) / L7TOUT
//! ```
//!
//! With `check-send-proxy`, a PROXY protocol header goes first (before
//! TLS), and a plain TCP check passes once it is written, as HAProxy's.
//!
//! `tcp-check` and `http-check` rules run in order (HAProxy's
//! `tcpcheck_main`): a send empties the received bytes, expects judge
//! what came since, one after another on the same bytes; a `connect`
//! rule after the first asks the balancer for a new connection
//! ([`Probe::pending_connect`]), which [`Probe::reopen`] starts.
//! A plain TCP check passes on connect (L4OK), a TLS one when the handshake
//! completes (L6OK), an HTTP one on its response (L7OK/L7STS/L7RSP). The
//! response is read into one pool buffer and never consumed, so it stays
//! contiguous for the parser, and a response that does not fit fails.

use std::sync::Arc;

use rustls::ClientConfig;
use rustls::pki_types::ServerName;

use crate::buffer::{Buffer, Pool};
use crate::config::{HealthCheck, TcpRule, TcpStep};
use crate::health::CheckStatus;
use crate::health::http::{self, Parse};
use crate::health::protocol::{self, Custom};
use crate::health::rules::{self, Judged};
use crate::health::ruleset::{self, Rule};
use crate::id::ConnId;
use crate::session::HeaderOut;
use crate::time::Instant;
use crate::tls_client::{Plain, TlsClient};

/// HAProxy's text of a connection reset or closed during a check's TLS
/// handshake (`CO_ER_SSL_HANDSHAKE`).
pub(super) const SSL_HANDSHAKE_FAILURE: &str = "SSL handshake failure";

/// A check connection in flight.
pub(super) struct Probe {
    pub conn: ConnId,
    pub started: Instant,
    pub deadline: Instant,
    connected: bool,
    /// Bytes of the current request or `tcp-check send` written so far.
    sent: usize,
    /// The current `tcp-check` rule.
    step: usize,
    /// Response bytes (decrypted, with TLS) waiting for a verdict.
    response: Option<Buffer>,
    /// The server closed its side.
    eof: bool,
    tls: Option<TlsClient>,
    /// The PROXY protocol header to write first (`check-send-proxy`).
    header: Option<HeaderOut>,
    /// The check's start, seconds since the Unix epoch (for a send with
    /// a `date_at`).
    date: u32,
    /// The bytes of the current send when they carry the date.
    dated: Option<Vec<u8>>,
    /// The text a custom expect gave the check (its first report).
    custom_text: Option<String>,
    /// The connect rule this connection was opened for (`None`: the
    /// implicit first connect).
    opened_at: Option<usize>,
    /// A later connect rule the rules reached: the balancer opens a new
    /// connection for it.
    pending_connect: Option<usize>,
    /// The request of the current HTTP send rule when it is not the
    /// configured bytes (`send-state` inserts a header).
    request: Option<Vec<u8>>,
    /// What the probe knows of its server: the `X-Haproxy-Server-State`
    /// value (`send-state`) and whether it is UP (`disable-on-404`).
    server: ruleset::ServerView,
    /// The status code of the last HTTP response judged.
    code: Option<u16>,
    /// The current connection ends with a FIN (`connect linger`).
    pub linger: bool,
    /// The current connection offers ALPN in TLS.
    pub alpn: bool,
}

impl Probe {
    pub(super) fn new(conn: ConnId, started: Instant, deadline: Instant) -> Self {
        Probe {
            conn,
            started,
            deadline,
            connected: false,
            sent: 0,
            step: 0,
            response: None,
            eof: false,
            tls: None,
            header: None,
            date: 0,
            dated: None,
            custom_text: None,
            opened_at: None,
            pending_connect: None,
            request: None,
            server: ruleset::ServerView::default(),
            code: None,
            linger: false,
            alpn: false,
        }
    }

    /// The probe knows this of its server.
    pub(super) fn with_server(self, server: ruleset::ServerView) -> Self {
        Probe { server, ..self }
    }

    /// The first connection is for the connect rule at `step` (an
    /// explicit first connect), or the implicit one (`None`).
    pub(super) fn opened_for(self, step: Option<usize>) -> Self {
        Probe {
            opened_at: step,
            ..self
        }
    }

    /// The connect rule the current connection was opened for (`None`:
    /// the implicit first connect).
    pub(super) fn opened_at(&self) -> Option<usize> {
        self.opened_at
    }

    /// The connect rule the rules reached, if the probe waits for a new
    /// connection.
    pub(super) fn pending_connect(&self) -> Option<usize> {
        self.pending_connect
    }

    /// Starts over on connection `conn` for the connect rule at `step`,
    /// with `header` first; the old connection's buffers go back.
    pub(super) fn reopen(
        &mut self,
        conn: ConnId,
        deadline: Instant,
        header: Option<HeaderOut>,
        pool: &mut Pool,
    ) {
        if let Some(link) = self.tls.take() {
            link.release(pool);
        }
        if let Some(buf) = self.response.take() {
            pool.put(buf);
        }
        self.conn = conn;
        self.deadline = deadline;
        self.connected = false;
        self.sent = 0;
        self.eof = false;
        self.header = header;
        self.step = self.pending_connect.take().unwrap_or(self.step);
        self.opened_at = Some(self.step);
        self.request = None;
        self.dated = None;
    }

    /// The rule a connection error or timeout is reported at: the
    /// connect rule while connecting or in the TLS handshake (`None`
    /// for the implicit one), else the current rule.
    pub(super) fn context_step(&self) -> Option<usize> {
        match &self.tls {
            _ if !self.connected => self.opened_at,
            Some(link) if link.is_handshaking() => self.opened_at,
            _ => Some(self.step),
        }
    }

    /// The check started at `secs` since the Unix epoch (what a send
    /// with a `date_at` writes, as `%[date()]` of `ssl-hello-chk`).
    pub(super) fn with_date(self, secs: u32) -> Self {
        Probe { date: secs, ..self }
    }

    /// The probe writes `header` first.
    pub(super) fn with_header(self, header: Option<HeaderOut>) -> Self {
        Probe { header, ..self }
    }

    /// PROXY header bytes still to write.
    fn pending_header(&self) -> Option<&[u8]> {
        self.header.as_ref().and_then(HeaderOut::pending)
    }

    /// The server closed its side.
    pub(super) fn server_closed(&self) -> bool {
        self.eof
    }

    pub(super) fn is_connected(&self) -> bool {
        self.connected
    }

    /// The TLS handshake has started and not completed.
    pub(super) fn in_tls_handshake(&self) -> bool {
        self.connected && self.tls.as_ref().is_some_and(TlsClient::is_handshaking)
    }

    /// After the verdict, ends TLS as HAProxy does: a completed handshake
    /// gets its last records and `close_notify` written before the
    /// close. Returns whether records wait to be written.
    pub(super) fn close_tls(&mut self, pool: &mut Pool) -> bool {
        let Some(link) = self.tls.as_mut().filter(|l| !l.is_handshaking()) else {
            return false;
        };
        link.close_notify();
        self.flush_tls(pool);
        self.tls.as_ref().is_some_and(TlsClient::has_outgoing)
    }

    /// While TLS closes: what the server sends (tickets, its own
    /// `close_notify`) is read and dropped.
    pub(super) fn drop_received(&mut self, n: usize, eof: bool, pool: &mut Pool) {
        self.eof |= eof;
        if let Some(link) = &mut self.tls {
            link.received(n);
            link.discard_incoming();
            link.tidy(pool);
        }
    }

    /// The TCP connection is up: starts TLS and/or the request. Returns a
    /// verdict when the check is already decided.
    pub(super) fn connected(
        &mut self,
        check: &HealthCheck,
        tls: Option<(Arc<ClientConfig>, ServerName<'static>)>,
        pool: &mut Pool,
    ) -> Option<CheckStatus> {
        self.connected = true;
        let Some((config, name)) = tls else {
            return match check {
                // Connected once the PROXY header is out, as HAProxy says.
                HealthCheck::Tcp if self.pending_header().is_some() => None,
                HealthCheck::Tcp => Some(CheckStatus::L4Ok),
                _ => self.progress(check),
            };
        };
        let link = match TlsClient::new(config, name, None) {
            Ok(link) => link,
            Err(e) => return Some(CheckStatus::L6Invalid(e)),
        };
        self.tls = Some(link);
        // Sends before the first expect go out with the handshake
        // (buffered by rustls until it completes).
        let verdict = match check {
            HealthCheck::Tcp => None,
            _ => self.run_rules(check),
        };
        self.flush_tls(pool);
        verdict
    }

    /// Whether the probe wants to read and to write.
    pub(super) fn wants(&self, check: &HealthCheck) -> (bool, bool) {
        let read = self.connected && !self.eof;
        let write = match &self.tls {
            _ if self.connected && self.pending_header().is_some() => true,
            Some(link) => link.has_outgoing(),
            None => self.connected && self.unsent(check).is_some(),
        };
        (read, write)
    }

    fn unsent<'c>(&'c self, check: &'c HealthCheck) -> Option<&'c [u8]> {
        if self.pending_connect.is_some() {
            return None;
        }
        let data = match ruleset::rule(check, self.step) {
            Rule::TcpSend(_) if self.dated.is_some() => self.dated.as_deref()?,
            Rule::TcpSend(data) => data,
            Rule::HttpSend(request) => self.request.as_deref().unwrap_or(&request.bytes),
            _ => return None,
        };
        data.get(self.sent..).filter(|rest| !rest.is_empty())
    }

    pub(super) fn recv_buf(&mut self, pool: &mut Pool) -> Option<&mut [u8]> {
        if !self.connected || self.eof {
            return None;
        }
        match &mut self.tls {
            Some(link) => link.recv_buf(pool),
            None => {
                let buf = self.response.get_or_insert_with(|| pool.take());
                Some(buf.spare()).filter(|b| !b.is_empty())
            }
        }
    }

    pub(super) fn send_buf<'a>(&'a self, check: &'a HealthCheck) -> Option<&'a [u8]> {
        if !self.connected {
            return None;
        }
        match &self.tls {
            _ if self.pending_header().is_some() => self.pending_header(),
            Some(link) => link.send_buf(),
            None => self.unsent(check),
        }
    }

    /// `n` bytes went out; a verdict when that decides the check (the
    /// last `tcp-check send`).
    pub(super) fn sent(
        &mut self,
        n: usize,
        check: &HealthCheck,
        pool: &mut Pool,
    ) -> Option<CheckStatus> {
        if let Some(header) = self.header.as_mut().filter(|h| h.pending().is_some()) {
            header.sent(n);
            let done = header.pending().is_none();
            return match check {
                HealthCheck::Tcp if done && self.tls.is_none() => Some(CheckStatus::L4Ok),
                _ => None,
            };
        }
        match &mut self.tls {
            Some(link) => {
                link.sent(n);
                self.flush_tls(pool);
                None
            }
            None => {
                self.sent += n;
                match check {
                    HealthCheck::Tcp => None,
                    _ => self.run_rules(check),
                }
            }
        }
    }

    /// Runs the rules as far as the bytes allow: sends are queued
    /// (inside TLS) or waited for (plain) and empty the received bytes;
    /// expects are judged on the bytes received since the last send, one
    /// after another on the same bytes (HAProxy's `tcpcheck_main`); a
    /// later connect stops the run until [`Probe::reopen`]. A verdict
    /// when the check is decided.
    pub(super) fn run_rules(&mut self, check: &HealthCheck) -> Option<CheckStatus> {
        if self.pending_connect.is_some() {
            return None;
        }
        loop {
            match ruleset::rule(check, self.step) {
                // A connect is done once its TLS handshake is.
                Rule::End if self.tls.as_ref().is_some_and(TlsClient::is_handshaking) => {
                    return None;
                }
                Rule::End => {
                    // A custom expect that ends the rules gave the text.
                    if let Some(text) = self.custom_text.take() {
                        return Some(CheckStatus::TcpRulesPassed(text));
                    }
                    let data = self.response.as_ref().map_or(&[][..], Buffer::filled);
                    let tls = self.tls.is_some();
                    return Some(ruleset::success(check, data, self.code, tls, &self.server));
                }
                Rule::Connect(_) if self.opened_at == Some(self.step) => {}
                Rule::Connect(_) => {
                    self.pending_connect = Some(self.step);
                    return None;
                }
                Rule::TcpSend(_) | Rule::HttpSend(_) => {
                    // A send evaluated anew empties what came before it;
                    // one still being written keeps what arrives meanwhile.
                    if self.sent == 0 {
                        match (ruleset::rule(check, self.step), check) {
                            (Rule::HttpSend(request), HealthCheck::Http(http))
                                if self.request.is_none() =>
                            {
                                self.request = ruleset::with_state(http, request, &self.server);
                            }
                            (Rule::TcpSend(data), HealthCheck::TcpRules(steps)) => {
                                let at = steps.get(self.step).and_then(|r| r.date_at);
                                self.dated = at.map(|at| dated(data, at, self.date));
                            }
                            _ => {}
                        }
                        if let Some(buf) = &mut self.response {
                            buf.clear();
                        }
                        self.code = None;
                    }
                    let data = match ruleset::rule(check, self.step) {
                        Rule::TcpSend(data) => self.dated.as_deref().unwrap_or(data),
                        Rule::HttpSend(r) => self.request.as_deref().unwrap_or(&r.bytes),
                        _ => &[],
                    };
                    match &mut self.tls {
                        Some(link) => {
                            if let Some(status) = write_request(link, data) {
                                return Some(status);
                            }
                        }
                        None if self.sent < data.len() => return None,
                        None => {}
                    }
                    self.request = None;
                    self.dated = None;
                }
                Rule::TcpExpect(rule) => {
                    let data = self.response.as_ref().map_or(&[][..], Buffer::filled);
                    let last_read = self.eof || self.response.as_ref().is_some_and(Buffer::is_full);
                    if let TcpStep::Custom(kind) = &rule.step {
                        if let Some(text) = rules::empty_response(rule, data, last_read) {
                            return Some(ruleset::tcp_failure(rule, data, text));
                        }
                        let last = matches!(ruleset::rule(check, self.step + 1), Rule::End);
                        match protocol::judge(*kind, data, last_read, last) {
                            Custom::Wait => return None,
                            Custom::Pass(text) => self.custom_text = text,
                            Custom::Invalid(text) => {
                                return Some(CheckStatus::TcpRulesFailed(text));
                            }
                            Custom::WrongStatus(code, text) => {
                                return Some(CheckStatus::L7Status(code, text));
                            }
                        }
                    } else {
                        match rules::judge(rule, data, last_read) {
                            Judged::Wait => return None,
                            Judged::Pass => {}
                            Judged::Fail(text) => {
                                return Some(ruleset::tcp_failure(rule, data, text));
                            }
                        }
                    }
                }
                Rule::HttpExpect(rule) => {
                    let Some(buf) = &self.response else {
                        return self.eof.then(|| ruleset::http_invalid(rule));
                    };
                    // HAProxy judges a whole message: a body without a
                    // length runs to the server's close, which then ends
                    // the check with a FIN.
                    let parsed = http::parse(buf.filled(), self.eof, buf.is_full(), true);
                    let response = match parsed {
                        Parse::Incomplete => return None,
                        Parse::Invalid(_) => return Some(ruleset::http_invalid(rule)),
                        Parse::Complete(response) => response,
                    };
                    self.code = Some(response.status);
                    let disabled = match check {
                        HealthCheck::Http(http) => http.disable_on_404,
                        _ => false,
                    };
                    if !(disabled && response.status == 404 && self.server.up) {
                        if let Some(failure) = ruleset::http_judge(rule, &response) {
                            return Some(failure);
                        }
                    }
                }
            }
            self.step += 1;
            self.sent = 0;
        }
    }

    /// `n` bytes arrived, or the server closed (`eof`): a verdict when the
    /// check is decided.
    pub(super) fn received(
        &mut self,
        n: usize,
        eof: bool,
        check: &HealthCheck,
        pool: &mut Pool,
    ) -> Option<CheckStatus> {
        self.eof |= eof;
        if self.tls.is_none() {
            if let Some(buf) = &mut self.response {
                buf.commit(n);
            }
            return self.progress(check);
        }
        let verdict = self.received_tls(n, check, pool);
        self.flush_tls(pool);
        verdict
    }

    fn received_tls(
        &mut self,
        n: usize,
        check: &HealthCheck,
        pool: &mut Pool,
    ) -> Option<CheckStatus> {
        let link = self.tls.as_mut()?;
        link.received(n);
        if self.eof {
            link.read_closed();
        }
        loop {
            let fed = match link.feed() {
                Ok(fed) => fed,
                Err(e) => return Some(CheckStatus::L6Invalid(e)),
            };
            if !link.is_handshaking() && !matches!(check, HealthCheck::Tcp) {
                let plain = self.response.get_or_insert_with(|| pool.take());
                loop {
                    let spare = plain.spare();
                    if spare.is_empty() {
                        break;
                    }
                    match link.read_plain(spare) {
                        Plain::Bytes(n) => plain.commit(n),
                        Plain::Blocked => break,
                        Plain::End => {
                            self.eof = true;
                            break;
                        }
                    }
                }
            }
            if !fed {
                break;
            }
        }
        link.tidy(pool);
        if link.is_handshaking() {
            return self
                .eof
                .then(|| CheckStatus::L6Invalid(SSL_HANDSHAKE_FAILURE.into()));
        }
        match check {
            HealthCheck::Tcp => Some(CheckStatus::L6Ok),
            _ => self.progress(check),
        }
    }

    /// The verdict so far of an HTTP or `tcp-check` rules check.
    pub(super) fn progress(&mut self, check: &HealthCheck) -> Option<CheckStatus> {
        match check {
            HealthCheck::Tcp => None,
            _ => self.run_rules(check),
        }
    }

    /// Moves whatever rustls has to send into the outgoing buffer.
    fn flush_tls(&mut self, pool: &mut Pool) {
        if let Some(link) = &mut self.tls {
            link.flush(pool);
            link.tidy(pool);
        }
    }

    /// The verdict when the deadline passes, by how far the check got.
    /// An expect rule's `tout-status` replaces `L7TOUT`; an expect of
    /// `ssl-hello-chk` times out at layer 6.
    pub(super) fn timed_out(&self, check: &HealthCheck) -> CheckStatus {
        let layer6 = match check {
            HealthCheck::TcpRules(steps) => steps.get(self.step).is_some_and(|r| r.layer6),
            _ => false,
        };
        match &self.tls {
            _ if !self.connected => CheckStatus::L4Timeout,
            Some(link) if link.is_handshaking() => CheckStatus::L6Timeout,
            _ => match ruleset::timeout_status(check, self.step) {
                Some(status) => CheckStatus::Ruled {
                    status,
                    code: 0,
                    info: String::new(),
                },
                None if layer6 => CheckStatus::L6Timeout,
                None => CheckStatus::L7Timeout,
            },
        }
    }

    /// Gives the probe's buffers back.
    pub(super) fn release(self, pool: &mut Pool) {
        if let Some(link) = self.tls {
            link.release(pool);
        }
        if let Some(buf) = self.response {
            pool.put(buf);
        }
    }
}

/// How far [`run_plain_rules`] got.
pub(crate) struct RulesRun {
    /// The verdict, when the check was decided.
    pub verdict: Option<CheckStatus>,
    /// The rule the probe stopped at: `steps.len()` once every rule passed.
    pub step: usize,
}

/// Runs plain (non-TLS) `tcp-check` rules on a real [`Probe`] the way a
/// driver would: each send written in full as soon as the probe offers it,
/// `chunks` received one after another, then the server's close when `eof`.
/// For the fuzz oracles in `crate::fuzzing`.
pub(crate) fn run_plain_rules(
    steps: &[TcpRule],
    chunks: &[&[u8]],
    eof: bool,
    now: Instant,
) -> RulesRun {
    let check = HealthCheck::TcpRules(steps.to_vec());
    let mut pool = Pool::new(1);
    let first = matches!(steps.first(), Some(r) if matches!(r.step, TcpStep::Connect(_)));
    let mut probe = Probe::new(ConnId::new(0, 0), now, now).opened_for(first.then_some(0));
    let mut verdict = probe
        .connected(&check, None, &mut pool)
        .or_else(|| write_all(&mut probe, &check, &mut pool));
    for chunk in chunks {
        let mut rest = *chunk;
        // Each round takes at least one byte of the chunk.
        while verdict.is_none() && !rest.is_empty() {
            let Some(buf) = probe.recv_buf(&mut pool) else {
                break;
            };
            let n = buf.len().min(rest.len());
            buf[..n].copy_from_slice(&rest[..n]);
            rest = &rest[n..];
            verdict = probe
                .received(n, false, &check, &mut pool)
                .or_else(|| write_all(&mut probe, &check, &mut pool));
        }
    }
    if eof && verdict.is_none() {
        verdict = probe
            .received(0, true, &check, &mut pool)
            .or_else(|| write_all(&mut probe, &check, &mut pool));
    }
    let step = probe.step;
    probe.release(&mut pool);
    RulesRun { verdict, step }
}

/// Writes whatever the probe has to send, as a driver with an always
/// writable socket would; a verdict when that decides the check.
fn write_all(probe: &mut Probe, check: &HealthCheck, pool: &mut Pool) -> Option<CheckStatus> {
    let HealthCheck::TcpRules(steps) = check else {
        return None;
    };
    // Each round finishes one `send` rule.
    for _ in 0..=steps.len() {
        let n = probe.send_buf(check)?.len();
        if let Some(verdict) = probe.sent(n, check, pool) {
            return Some(verdict);
        }
    }
    None
}

/// `data` with `date` written big endian at `at` (where it fits).
fn dated(data: &[u8], at: usize, date: u32) -> Vec<u8> {
    let mut out = data.to_vec();
    if let Some(field) = out.get_mut(at..at + 4) {
        field.copy_from_slice(&date.to_be_bytes());
    }
    out
}

/// Gives a request to TLS whole (rustls holds it until the handshake is
/// over); a verdict if it would not take it all.
fn write_request(link: &mut TlsClient, data: &[u8]) -> Option<CheckStatus> {
    (link.write_plain(data) < data.len())
        .then(|| CheckStatus::L6Invalid("the check request does not fit in TLS buffers".into()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::ProtocolCheck;
    use crate::proxy::tests::epoch;

    /// Drives a plain probe: `script` items are replies (`Ok`) or the
    /// server's close (`Err`); the probe's sends are written whole at
    /// once. The verdict and what was sent.
    fn converse(check: ProtocolCheck, script: &[Option<&[u8]>]) -> (Option<CheckStatus>, Vec<u8>) {
        let check = HealthCheck::TcpRules(check.rules());
        let mut pool = Pool::new(4);
        let now = epoch();
        let mut probe = Probe::new(ConnId::new(0, 0), now, now).with_date(0x01020304);
        let mut wire = Vec::new();
        let mut verdict = probe.connected(&check, None, &mut pool);
        let flush = |probe: &mut Probe, pool: &mut Pool, wire: &mut Vec<u8>| {
            for _ in 0..8 {
                let out = probe.send_buf(&check)?;
                let n = out.len();
                wire.extend_from_slice(out);
                if let Some(v) = probe.sent(n, &check, pool) {
                    return Some(v);
                }
            }
            None
        };
        verdict = verdict.or_else(|| flush(&mut probe, &mut pool, &mut wire));
        for item in script {
            if verdict.is_some() {
                break;
            }
            verdict = match item {
                Some(bytes) => {
                    let buf = probe.recv_buf(&mut pool).unwrap();
                    buf[..bytes.len()].copy_from_slice(bytes);
                    probe.received(bytes.len(), false, &check, &mut pool)
                }
                None => probe.received(0, true, &check, &mut pool),
            }
            .or_else(|| flush(&mut probe, &mut pool, &mut wire));
        }
        probe.release(&mut pool);
        (verdict, wire)
    }

    #[test]
    fn smtp_check_passes_on_a_multiline_ehlo_and_a_quit_reply() {
        let (verdict, wire) = converse(
            ProtocolCheck::Smtp("EHLO example.com".into()),
            &[
                Some(b"220 mx ESMTP\r\n"),
                Some(b"250-mx hello\r\n250-PIPELINING\r\n250 8BITMIME\r\n"),
                Some(b"221 2.0.0 bye\r\n"),
                None,
            ],
        );
        assert_eq!(wire, b"EHLO example.com\r\nQUIT\r\n");
        assert_eq!(
            verdict,
            Some(CheckStatus::ProtocolPassed(221, "2.0.0 bye".into()))
        );
    }

    #[test]
    fn smtp_failures_carry_the_reply_code_and_text() {
        let smtp = || ProtocolCheck::Smtp("HELO localhost".into());
        assert_eq!(
            converse(smtp(), &[Some(b"554 no service\r\n")]).0,
            Some(CheckStatus::L7Status(554, "no service".into()))
        );
        assert_eq!(
            converse(smtp(), &[Some(b"hello\r\n")]).0,
            Some(CheckStatus::TcpRulesFailed("hello".into()))
        );
        assert_eq!(
            converse(smtp(), &[Some(b"220 ok\r\n"), None]).0,
            Some(CheckStatus::L7Status(
                0,
                "TCPCHK got an empty response at step 5".into()
            ))
        );
        assert_eq!(
            converse(smtp(), &[None]).0,
            Some(CheckStatus::TcpRulesFailed(
                "TCPCHK got an empty response at step 2".into()
            ))
        );
    }

    #[test]
    fn ssl_hello_carries_the_date_and_passes_on_a_tls_record() {
        let (verdict, wire) = converse(
            ProtocolCheck::SslHello,
            &[Some(b"\x15\x03\x03\x00\x02\x02\x46")],
        );
        assert_eq!(verdict, Some(CheckStatus::L6Ok));
        assert_eq!(wire[11..15], [1, 2, 3, 4]);
        assert_eq!(wire.len(), 126);
        let (verdict, _) = converse(ProtocolCheck::SslHello, &[Some(b"HTTP/1.1 400")]);
        assert_eq!(verdict, Some(CheckStatus::L6Invalid(String::new())));
        let (verdict, _) = converse(ProtocolCheck::SslHello, &[None]);
        assert_eq!(
            verdict,
            Some(CheckStatus::L6Invalid(
                "TCPCHK got an empty response at step 2".into()
            ))
        );
    }

    #[test]
    fn mysql_pgsql_and_ldap_verdicts() {
        let handshake = b"\x0b\x00\x00\x00\x0a5.7.1\x00abcd";
        let (verdict, wire) = converse(ProtocolCheck::Mysql(None), &[Some(handshake)]);
        assert_eq!(verdict, Some(CheckStatus::TcpRulesPassed("5.7.1".into())));
        assert!(wire.is_empty());
        // The handshake may come before the authentication packet is out.
        let mut both = handshake.to_vec();
        both.extend_from_slice(b"\x07\x00\x00\x02\x00\x00\x00\x02\x00\x00\x00");
        let user = ProtocolCheck::Mysql(Some(("u".into(), false)));
        assert_eq!(
            converse(user, &[Some(&both[..14]), Some(&both[14..])]).0,
            Some(CheckStatus::TcpRulesPassed("5.7.1".into()))
        );
        let pgsql = || ProtocolCheck::Pgsql("postgres".into());
        assert_eq!(
            converse(pgsql(), &[Some(b"R\x00\x00\x00\x08\x00\x00\x00\x00")]).0,
            Some(CheckStatus::TcpRulesPassed(
                "PostgreSQL server is ok".into()
            ))
        );
        assert_eq!(
            converse(pgsql(), &[Some(b"E\x00\x00\x00\x0bSFATAL\x00")]).0,
            Some(CheckStatus::TcpRulesFailed("FATAL".into()))
        );
        assert_eq!(
            converse(pgsql(), &[Some(b"Not a PostgreSQL response")]).0,
            Some(CheckStatus::L7Status(0, "PostgreSQL unknown error".into()))
        );
        assert_eq!(
            converse(
                ProtocolCheck::Ldap,
                &[Some(
                    b"\x30\x0c\x02\x01\x01\x61\x07\x0a\x01\x00\x04\x00\x04\x00"
                )]
            )
            .0,
            Some(CheckStatus::TcpRulesPassed("Success".into()))
        );
        assert_eq!(
            converse(
                ProtocolCheck::Ldap,
                &[Some(
                    b"\x31\x0c\x02\x01\x01\x61\x07\x0a\x01\x00\x04\x00\x04\x00"
                )]
            )
            .0,
            Some(CheckStatus::TcpRulesFailed("Not LDAPv3 protocol".into()))
        );
    }
}
