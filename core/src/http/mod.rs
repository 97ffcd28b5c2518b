//! The small HTTP/1.1 side of weir: what a `mode http` frontend serves
//! (the Prometheus metrics and the stats page), answered as HAProxy 2.6
//! answers. weir proxies no HTTP.
//!
//! A connection to such a frontend goes, for each request:
//!
//! ```text
//! match reader.read(unread_bytes) {
//!     Err(_)              => write BAD_REQUEST, close
//!     Ok(Read::NeedMore)  => read more (timeout http-request: REQUEST_TIMEOUT, close)
//!     Ok(Read::Continue)  => write CONTINUE, read more
//!     Ok(Read::Request(req)) => {
//!         let reply = match service.route(&req, peer) {
//!             Route::Metrics(query)    => Reply::metrics(&req, &prometheus_text(query)),
//!             Route::Stats(view)       => view.reply(&req, &stats_page(&view)),
//!             Route::Admin(view, post) => view.redirect(&req, post.run(exists, apply)),
//!             Route::Reply(reply)      => reply,
//!         };
//!         write reply.bytes; drop req.len unread bytes; close after if reply.close
//!     }
//! }
//! ```
//!
//! Everything here is pure: bytes in, bytes out.

mod admin;
mod request;
mod response;
mod service;

pub use admin::{AdminAction, AdminPost, Outcome, StatCode};
pub use request::{
    MAX_HEAD, MAX_HEADERS, MAX_REQUEST, Method, Read, Request, RequestError, RequestReader,
};
pub use response::{BAD_REQUEST, CONTINUE, REQUEST_TIMEOUT, Reply};
pub use service::{MetricsQuery, Route, StatsFormat, StatsView};

#[cfg(test)]
mod tests;
