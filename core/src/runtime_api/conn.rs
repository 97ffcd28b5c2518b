//! One stats-socket connection: HAProxy 2.6's CLI protocol (`cli_io_handler`
//! in `src/cli.c`) as a bytes-in, bytes-out state machine.
//!
//! # Lifecycle
//!
//! ```text
//! Reading --line--> (internal command: answered at once) --> Reading
//!    |  \--line--> Awaiting (a Command handed out by poll_command)
//!    |                 --reply--> Reading, or Closing when not interactive
//!    |                            and nothing more was sent
//!    \--quit, line too long, end of input, partial line at FIN--> Closing
//! Closing --output flushed--> closed;   any state --deadline--> closed
//! ```
//!
//! The driver (through the balancer) feeds bytes with
//! [`CliConn::received`], runs what [`CliConn::poll_command`] hands out
//! (with [`execute`](super::execute)) and gives the answer to
//! [`CliConn::reply`], writes [`CliConn::pending`] and reports it with
//! [`CliConn::sent`], and closes when [`CliConn::wants_close`] says so or
//! at [`CliConn::deadline`] (after [`CliConn::handle_timeout`]).

use std::time::Duration;

use super::command::{self, KEYWORDS, Request, SessionCommand};
use super::{Level, usage, words};
use crate::time::Instant;

/// HAProxy's `tune.bufsize`: a request and its payload fit in one such
/// chunk, one byte kept for a NUL.
const BUFSIZE: usize = 16384;

/// The most request bytes held, line endings included: HAProxy's request
/// buffer takes `tune.bufsize` less `tune.maxrewrite` (1024). A longer
/// line gets no answer: HAProxy stops reading it and closes at `stats
/// timeout`; weir closes at once.
pub const MAX_REQUEST: usize = BUFSIZE - 1024;

/// Requests are not read past this much unsent output (HAProxy waits for
/// room in its response buffer before reading the next request).
const OUTPUT_HIGH: usize = BUFSIZE;

/// One CLI connection. Memory is bounded whatever the peer sends: at most
/// [`MAX_REQUEST`] bytes of requests, and the answers not yet sent (a
/// buffer's worth, plus the answer being written).
#[derive(Debug)]
pub struct CliConn {
    level: Level,
    /// The socket's own level (`operator` and `user` do not lower it).
    socket_level: Level,
    interactive: bool,
    /// `operator -`/`user -`: no empty line after this answer.
    no_lf: bool,
    /// A request ended with `<<`: lines are gathered until an empty one.
    payload: Option<Payload>,
    state: State,
    input: Vec<u8>,
    peer_closed: bool,
    output: Vec<u8>,
    /// Bytes of `output` already sent.
    sent: usize,
    timeout: Duration,
    last_activity: Instant,
    /// When the bytes now waiting in `input` started arriving.
    input_since: Instant,
    /// No complete request is in `input`: the peer owes the rest of one.
    waiting_for_line: bool,
    /// The socket has `expose-fd listeners`.
    expose_fd: bool,
    /// `_getsocks` asked for the listening sockets.
    wants_listeners: bool,
}

/// A request gathering its payload (`<cmd> <<`, lines, empty line).
#[derive(Debug)]
struct Payload {
    /// The request line (the payload itself is not used by any command).
    request: Vec<u8>,
    /// Bytes of HAProxy's request chunk in use.
    used: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Reading,
    Awaiting,
    Closing,
    Closed,
}

/// What the input holds next.
enum Next {
    /// Not a whole line yet.
    More,
    /// A line too long, or a partial one at the end of input: HAProxy
    /// closes without answering.
    Close,
    /// A line of a payload: answered by a prompt only.
    PayloadLine,
    /// A request to run.
    Request(Vec<u8>),
}

impl CliConn {
    /// A connection accepted at `now` on a socket of `level`, closed after
    /// `timeout` (`stats timeout`) without progress.
    pub fn new(level: Level, timeout: Duration, now: Instant) -> Self {
        CliConn {
            level,
            socket_level: level,
            interactive: false,
            no_lf: false,
            payload: None,
            state: State::Reading,
            input: Vec::new(),
            peer_closed: false,
            output: Vec::new(),
            sent: 0,
            timeout,
            last_activity: now,
            input_since: now,
            waiting_for_line: false,
            expose_fd: false,
            wants_listeners: false,
        }
    }

    /// The same, on a socket with `expose-fd listeners`.
    pub fn exposing_listeners(self) -> Self {
        CliConn {
            expose_fd: true,
            ..self
        }
    }

    /// Whether `_getsocks` asked for the listening sockets; true once.
    /// The connection is closing: the driver sends them, then closes it.
    pub fn take_listener_request(&mut self) -> bool {
        std::mem::take(&mut self.wants_listeners)
    }

    /// The connection's level now (`operator` and `user` lower it).
    pub fn level(&self) -> Level {
        self.level
    }

    /// Takes bytes the peer sent, as many as fit in the request buffer
    /// (see [`CliConn::wants_read`]); returns how many were taken.
    pub fn received(&mut self, now: Instant, data: &[u8]) -> usize {
        if !matches!(self.state, State::Reading | State::Awaiting) {
            return data.len();
        }
        let taken = data.len().min(MAX_REQUEST - self.input.len());
        if taken > 0 {
            if self.input.is_empty() {
                self.input_since = now;
            }
            self.input.extend_from_slice(&data[..taken]);
            self.last_activity = now;
            self.waiting_for_line = false;
        }
        taken
    }

    /// The peer will send nothing more: requests already received are
    /// still answered, a partial one is dropped, then the connection closes.
    pub fn read_closed(&mut self) {
        self.peer_closed = true;
        self.waiting_for_line = false;
    }

    /// Whether the connection takes more bytes now.
    pub fn wants_read(&self) -> bool {
        matches!(self.state, State::Reading | State::Awaiting)
            && !self.peer_closed
            && self.input.len() < MAX_REQUEST
    }

    /// Answers what it can by itself and hands out the next command for
    /// the balancer, if a whole request is there; its answer goes to
    /// [`CliConn::reply`] before the next call.
    pub fn poll_command(&mut self) -> Option<command::Command> {
        while self.state == State::Reading && self.unsent().len() < OUTPUT_HIGH {
            let request = match self.next() {
                Next::More => {
                    self.waiting_for_line = !self.input.is_empty();
                    return None;
                }
                Next::Close => {
                    self.state = State::Closing;
                    return None;
                }
                Next::PayloadLine => {
                    self.end_answer();
                    continue;
                }
                Next::Request(request) => request,
            };
            let words = words::split(&request);
            match command::parse_words(&words) {
                Request::Command(command) => {
                    self.state = State::Awaiting;
                    return Some(command);
                }
                Request::Unknown => {
                    let answer = usage::message(KEYWORDS, &words, false);
                    self.output.extend_from_slice(&answer);
                }
                Request::Session(session) => self.session(session),
            }
            if self.state == State::Reading {
                self.end_answer();
            }
        }
        None
    }

    /// The answer to the command [`CliConn::poll_command`] handed out.
    pub fn reply(&mut self, answer: &[u8]) {
        if self.state != State::Awaiting {
            return;
        }
        self.output.extend_from_slice(answer);
        self.state = State::Reading;
        self.end_answer();
    }

    /// Runs every request received so far, the balancer's through
    /// [`execute`](super::execute) on `control`.
    /// A `reload` waits (the connection stays awaiting) until its answer
    /// is given to [`CliConn::reply`].
    pub fn handle(&mut self, control: &mut impl super::Control) {
        while let Some(command) = self.poll_command() {
            let answer = match command {
                command::Command::Reload if self.level >= command.level() => {
                    match control.reload() {
                        Some(answer) => answer,
                        None => return,
                    }
                }
                _ => super::execute::execute_on(&command, self.level, self.socket_level, control),
            };
            self.reply(&answer);
        }
    }

    /// Bytes to send to the peer.
    pub fn pending(&self) -> &[u8] {
        if self.state == State::Closed {
            return &[];
        }
        self.unsent()
    }

    /// `n` bytes of [`CliConn::pending`] were sent at `now`.
    pub fn sent(&mut self, now: Instant, n: usize) {
        let n = n.min(self.unsent().len());
        if n == 0 {
            return;
        }
        self.sent += n;
        self.last_activity = now;
        if self.sent == self.output.len() {
            self.output.clear();
            self.sent = 0;
        }
    }

    /// Whether the connection is over: closed by the protocol once its
    /// answers are sent, or past its deadline.
    pub fn wants_close(&self) -> bool {
        match self.state {
            State::Closed => true,
            State::Closing => self.unsent().is_empty(),
            State::Reading | State::Awaiting => false,
        }
    }

    /// When the connection times out: `stats timeout` after the last byte
    /// received or sent, and no later than `stats timeout` after the first
    /// byte of a request that is still incomplete.
    pub fn deadline(&self) -> Instant {
        let since = if self.waiting_for_line {
            self.input_since.min(self.last_activity)
        } else {
            self.last_activity
        };
        since
            .checked_add(self.timeout)
            .unwrap_or(self.last_activity)
    }

    /// Closes the connection if `now` is past its deadline.
    pub fn handle_timeout(&mut self, now: Instant) {
        if now >= self.deadline() {
            self.state = State::Closed;
            self.input = Vec::new();
            self.output = Vec::new();
            self.sent = 0;
        }
    }

    fn unsent(&self) -> &[u8] {
        &self.output[self.sent..]
    }

    /// The next line of input, as HAProxy's `co_getdelim`/`co_getline`.
    fn next(&mut self) -> Next {
        let used = self.payload.as_ref().map_or(0, |p| p.used);
        let room = (BUFSIZE - 1 - used).min(MAX_REQUEST);
        let window = &self.input[..self.input.len().min(room)];
        let end = match self.payload {
            Some(_) => window.iter().position(|&b| b == b'\n'),
            None => request_end(window),
        };
        let Some(end) = end else {
            return if window.len() == room || self.peer_closed {
                Next::Close
            } else {
                Next::More
            };
        };
        let mut line: Vec<u8> = self.input.drain(..=end).collect();
        line.pop();
        if line.last() == Some(&b'\r') {
            line.pop();
        }
        if !self.input.is_empty() {
            self.input_since = self.last_activity;
        }
        match &mut self.payload {
            Some(payload) if line.is_empty() => {
                let request = std::mem::take(&mut payload.request);
                self.payload = None;
                Next::Request(request)
            }
            Some(payload) => {
                payload.used += line.len() + 1;
                Next::PayloadLine
            }
            None if line.ends_with(b"<<") => {
                self.payload = Some(Payload {
                    used: line.len() + 1,
                    request: line,
                });
                Next::PayloadLine
            }
            None => Next::Request(line),
        }
    }

    /// Runs a command about the connection itself.
    fn session(&mut self, command: SessionCommand) {
        match command {
            SessionCommand::Help(words) => {
                let answer = usage::message(KEYWORDS, &words, true);
                self.output.extend_from_slice(&answer);
            }
            SessionCommand::Prompt => self.interactive = !self.interactive,
            SessionCommand::Quit => self.state = State::Closing,
            // HAProxy's `_getsocks` sends nothing on a socket without
            // `expose-fd listeners`, and ends the connection either way.
            // Descriptors go alone: never after an answer not yet sent.
            SessionCommand::GetSocks => {
                self.wants_listeners = self.expose_fd && self.unsent().is_empty();
                self.state = State::Closing;
            }
            SessionCommand::LowerLevel { level, no_lf } => {
                self.no_lf = no_lf;
                if self.level < level {
                    self.output.extend_from_slice(b"Permission denied\n");
                } else {
                    self.level = level;
                }
            }
            SessionCommand::ShowLevel => {
                let name: &[u8] = match self.level {
                    Level::Admin => b"admin\n",
                    Level::Operator => b"operator\n",
                    Level::User => b"user\n",
                };
                self.output.extend_from_slice(name);
            }
        }
    }

    /// After an answer: the empty line or prompt, then close when not
    /// interactive and nothing more was received.
    fn end_answer(&mut self) {
        let prompt: &[u8] = if self.interactive {
            if self.payload.is_some() {
                b"+ "
            } else {
                b"\n> "
            }
        } else if self.payload.is_some() || self.no_lf {
            b""
        } else {
            b"\n"
        };
        self.output.extend_from_slice(prompt);
        if !self.interactive && self.input.is_empty() && self.payload.is_none() {
            self.state = State::Closing;
        } else {
            self.no_lf = false;
        }
    }
}

/// Where a request ends in `window`: the first `\n` or `;` not escaped by
/// a backslash (HAProxy's `co_getdelim(.., "\n;", '\\')`).
fn request_end(window: &[u8]) -> Option<usize> {
    let mut escaped = false;
    for (i, &b) in window.iter().enumerate() {
        if escaped || b == b'\\' {
            escaped = !escaped;
        } else if b == b'\n' || b == b';' {
            return Some(i);
        }
    }
    None
}
