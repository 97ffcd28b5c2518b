//! DNS resolution of server host names, as HAProxy 2.6's `resolvers`:
//! the wire codec ([`message`](crate::dns::message)) and the resolutions of a section
//! (`resolver`).

pub mod message;
pub(crate) mod resolver;
mod xxh32;
