//! The TLS client both `ssl` sessions and TLS health checks speak: a
//! rustls connection over the bytes the driver carries, with its records
//! in and out held in pool buffers only while there are some.
//!
//! ```text
//! driver --recv_buf/received--> incoming --feed--> rustls --read_plain--> caller
//! caller --write_plain--> rustls --flush--> outgoing --send_buf/sent--> driver
//! ```

use std::io::{Read, Write};
use std::sync::Arc;

use rustls::pki_types::ServerName;
use rustls::{ClientConfig, ClientConnection};

use crate::buffer::{Buffer, Pool};
use crate::tls;

/// A TLS client connection and its encrypted bytes in and out.
pub(crate) struct TlsClient {
    conn: Box<ClientConnection>,
    /// Records from the server, not yet fed to rustls.
    incoming: Option<Buffer>,
    /// Records for the server, not yet written.
    outgoing: Option<Buffer>,
    /// The server closed its side: once `incoming` is fed, rustls is told.
    peer_closed: bool,
    /// rustls was told the server closed.
    eof_fed: bool,
}

/// What [`TlsClient::read_plain`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Plain {
    /// This many bytes of plaintext.
    Bytes(usize),
    /// None for now.
    Blocked,
    /// The server's TLS stream ended.
    End,
}

impl TlsClient {
    /// A connection to `name`; `limit` bounds the plaintext rustls buffers
    /// (before and during the handshake) and the records it holds.
    pub(crate) fn new(
        config: Arc<ClientConfig>,
        name: ServerName<'static>,
        limit: Option<usize>,
    ) -> Result<Self, String> {
        let mut conn = ClientConnection::new(config, name).map_err(|e| tls::describe(&e))?;
        if let Some(limit) = limit {
            conn.set_buffer_limit(Some(limit));
        }
        Ok(TlsClient {
            conn: Box::new(conn),
            incoming: None,
            outgoing: None,
            peer_closed: false,
            eof_fed: false,
        })
    }

    pub(crate) fn is_handshaking(&self) -> bool {
        self.conn.is_handshaking()
    }

    /// Space for records from the server, `None` when it is full.
    pub(crate) fn recv_buf(&mut self, pool: &mut Pool) -> Option<&mut [u8]> {
        let buf = self.incoming.get_or_insert_with(|| pool.take());
        Some(buf.spare()).filter(|b| !b.is_empty())
    }

    pub(crate) fn received(&mut self, n: usize) {
        if let Some(buf) = &mut self.incoming {
            buf.commit(n);
        }
    }

    /// Drops the records from the server not fed to rustls yet.
    pub(crate) fn discard_incoming(&mut self) {
        if let Some(buf) = &mut self.incoming {
            buf.clear();
        }
    }

    /// Records wait that rustls has not taken yet.
    pub(crate) fn incoming_full(&self) -> bool {
        self.incoming.as_ref().is_some_and(Buffer::is_full)
    }

    /// The server closed its side; rustls learns it after the records that
    /// came before (see [`TlsClient::feed`]).
    pub(crate) fn read_closed(&mut self) {
        self.peer_closed = true;
    }

    /// Records to write, if any.
    pub(crate) fn send_buf(&self) -> Option<&[u8]> {
        self.outgoing
            .as_ref()
            .map(Buffer::filled)
            .filter(|b| !b.is_empty())
    }

    pub(crate) fn sent(&mut self, n: usize) {
        if let Some(buf) = &mut self.outgoing {
            buf.consume(n);
        }
    }

    /// Records wait to be written.
    pub(crate) fn has_outgoing(&self) -> bool {
        self.outgoing.as_ref().is_some_and(|b| !b.is_empty())
    }

    /// Gives rustls plaintext to send; returns how much it took (during
    /// the handshake it holds it until the handshake is over).
    pub(crate) fn write_plain(&mut self, data: &[u8]) -> usize {
        self.conn.writer().write(data).unwrap_or(0)
    }

    /// Queues `close_notify`.
    pub(crate) fn close_notify(&mut self) {
        self.conn.send_close_notify();
    }

    /// Moves the records rustls has to send into `outgoing`; false when
    /// it is full.
    pub(crate) fn flush(&mut self, pool: &mut Pool) -> bool {
        while self.conn.wants_write() {
            let out = self.outgoing.get_or_insert_with(|| pool.take());
            let mut spare = out.spare();
            if spare.is_empty() {
                return false;
            }
            match self.conn.write_tls(&mut spare) {
                Ok(n) if n > 0 => out.commit(n),
                _ => return false,
            }
        }
        true
    }

    /// Gives rustls what came from the server, records first, then the end
    /// of the stream once every record is in, and processes it. Returns
    /// whether it took anything, or why TLS failed.
    pub(crate) fn feed(&mut self) -> Result<bool, String> {
        let fed = match self.incoming.as_mut().filter(|b| !b.is_empty()) {
            Some(buf) => {
                // An empty read would tell rustls the server closed.
                let mut filled = buf.filled();
                let fed = self.conn.read_tls(&mut filled).unwrap_or(0);
                buf.consume(fed);
                fed > 0
            }
            None if self.peer_closed && !self.eof_fed => {
                let _ = self.conn.read_tls(&mut std::io::empty());
                self.eof_fed = true;
                true
            }
            None => false,
        };
        self.conn
            .process_new_packets()
            .map_err(|e| tls::describe(&e))?;
        Ok(fed)
    }

    /// Decrypted bytes into `into`.
    pub(crate) fn read_plain(&mut self, into: &mut [u8]) -> Plain {
        match self.conn.reader().read(into) {
            Ok(0) => Plain::End,
            Ok(n) => Plain::Bytes(n),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => Plain::Blocked,
            Err(_) => Plain::End,
        }
    }

    /// Gives back the buffers that hold nothing.
    pub(crate) fn tidy(&mut self, pool: &mut Pool) {
        for slot in [&mut self.incoming, &mut self.outgoing] {
            if let Some(buf) = slot.take_if(|b| b.is_empty()) {
                pool.put(buf);
            }
        }
    }

    /// Gives back every buffer.
    pub(crate) fn release(self, pool: &mut Pool) {
        for buf in [self.incoming, self.outgoing].into_iter().flatten() {
            pool.put(buf);
        }
    }
}
