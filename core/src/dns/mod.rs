//! DNS resolution of server host names, as HAProxy 2.6's `resolvers`:
//! the wire codec ([`message`]).

pub mod message;
