//! The resolutions of one `resolvers` section, as HAProxy 2.6 runs them
//! (`process_resolvers`, `resolv_run_resolution`, `resolv_send_query` and
//! `resolv_process_responses` in src/resolvers.c).
//!
//! # Lifecycle of a resolution
//!
//! ```text
//! idle --timeout resolve since the last one (at once the first time)--> running:
//!   query (new id) to every nameserver, `resolve_retries` tries
//! running --valid answer--> idle, Valid: answer items merged, requesters told
//! running --error answer from every nameserver--> query the other family at
//!   once (AAAA <-> A); once already done, wait for the retry
//! running --timeout retry--> again (other family if answers came), or,
//!   tries used up, idle with the error (TIMEOUT if nothing came)
//! ```
//!
//! Pure: queries go out as [`Action::SendDatagram`], answers come in
//! through [`Resolver::on_datagram`], time is the caller's `now`, query
//! ids come from the caller's seeded PRNG.

use std::collections::VecDeque;
use std::net::{IpAddr, SocketAddr};

use super::message::{self, Name, QueryType, ResponseError};
use super::xxh32::xxh32;
use crate::action::Action;
use crate::config::dns::{Family, Resolvers};
use crate::rng::Rng;
use crate::time::Instant;

/// Who asked for a name (a server, by backend and server id).
pub(crate) type Requester = (crate::id::BackendId, crate::id::ServerId);

/// The state of a resolution's last outcome (`RSLV_STATUS_*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Status {
    /// Nothing yet.
    None,
    /// A valid answer.
    Valid,
    /// NXDOMAIN.
    Nx,
    /// No answer in time.
    Timeout,
    /// REFUSED.
    Refused,
    /// Another failure (no answer record, CNAME error, truncated...).
    Other,
    /// A malformed answer.
    Invalid,
}

/// An address of the answers, and the servers that took it.
#[derive(Debug, Clone)]
pub(crate) struct Item {
    /// The address.
    pub addr: IpAddr,
    /// HAProxy's key of the record: XXH32 of the address bytes seeded
    /// with the record type.
    key: u32,
    /// The last answer that had it.
    last_seen: Instant,
    /// Servers using it.
    pub attached: Vec<Requester>,
}

/// One name (and preferred family) being resolved for its requesters.
#[derive(Debug, Clone)]
pub(crate) struct Resolution {
    name: Name,
    prefer: QueryType,
    query_type: QueryType,
    running: bool,
    query_id: u16,
    tries: u32,
    nb_queries: u32,
    nb_responses: u32,
    last_query: Instant,
    last_resolution: Option<Instant>,
    /// When the last valid answer came (creation at first).
    pub last_valid: Instant,
    /// The last outcome.
    pub status: Status,
    /// The addresses answered, in HAProxy's order: by key (see
    /// [`record_key`]), a later one after an earlier one of the same key.
    pub items: Vec<Item>,
    /// Who uses the name, in order: the first is told which nameserver
    /// answered, the others have it "from the cache".
    pub requesters: Vec<Requester>,
}

/// What a resolution came to, for its requesters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// A valid answer from `nameserver` (index in the section).
    Valid {
        /// The resolution.
        resolution: usize,
        /// The nameserver that answered.
        nameserver: usize,
    },
    /// The resolution failed; its status says how.
    Failed {
        /// The resolution.
        resolution: usize,
    },
}

/// One `resolvers` section at run time.
#[derive(Debug, Clone)]
pub(crate) struct Resolver {
    /// The section.
    pub config: Resolvers,
    /// Its resolutions.
    pub resolutions: Vec<Resolution>,
    /// The earliest timer entry queued for it.
    pub queued: Option<Instant>,
}

impl Resolver {
    /// A section with no resolution yet.
    pub(crate) fn new(config: Resolvers) -> Resolver {
        Resolver {
            config,
            resolutions: Vec::new(),
            queued: None,
        }
    }

    /// Adds `who` to the resolution of `host` with preference `prefer`,
    /// shared with other requesters of the same name and preference.
    /// `None` when `host` is not a valid name.
    pub(crate) fn attach(
        &mut self,
        now: Instant,
        host: &str,
        prefer: Family,
        who: Requester,
    ) -> Option<usize> {
        let name = Name::parse(host).ok()?;
        let prefer = match prefer {
            Family::V4 => QueryType::A,
            Family::V6 => QueryType::Aaaa,
        };
        let i = match (self.resolutions.iter()).position(|r| r.name == name && r.prefer == prefer) {
            Some(i) => i,
            None => {
                self.resolutions.push(Resolution {
                    name,
                    prefer,
                    query_type: prefer,
                    running: false,
                    query_id: 0,
                    tries: 0,
                    nb_queries: 0,
                    nb_responses: 0,
                    last_query: now,
                    last_resolution: None,
                    last_valid: now,
                    status: Status::None,
                    items: Vec::new(),
                    requesters: Vec::new(),
                });
                self.resolutions.len() - 1
            }
        };
        let r = &mut self.resolutions[i];
        if !r.requesters.contains(&who) {
            r.requesters.push(who);
        }
        Some(i)
    }

    /// When [`Resolver::poll`] has something to do next.
    pub(crate) fn next_deadline(&self) -> Option<Instant> {
        let c = &self.config;
        (self.resolutions.iter())
            .filter(|r| !r.requesters.is_empty())
            .map(|r| {
                if r.running {
                    r.last_query + c.timeout_retry
                } else {
                    r.last_resolution
                        .map_or(r.last_query, |at| at + c.timeout_resolve)
                }
            })
            .min()
    }

    /// Retries or ends the queries without answer, starts the resolutions
    /// that are due; queries go to `out`, outcomes are returned.
    pub(crate) fn poll(
        &mut self,
        now: Instant,
        rng: &mut Rng,
        out: &mut VecDeque<Action>,
    ) -> Vec<Outcome> {
        let mut outcomes = Vec::new();
        for i in 0..self.resolutions.len() {
            let r = &self.resolutions[i];
            if r.requesters.is_empty() || !r.running {
                continue;
            }
            if r.last_query + self.config.timeout_retry > now {
                continue;
            }
            let r = &mut self.resolutions[i];
            if r.tries == 0 {
                if r.nb_responses == 0 {
                    r.status = Status::Timeout;
                }
                r.reset(now);
                outcomes.push(Outcome::Failed { resolution: i });
            } else {
                if r.nb_responses == 0 || r.prefer != r.query_type {
                    r.query_type = r.prefer;
                    r.tries -= 1;
                } else {
                    r.query_type = other(r.prefer);
                }
                self.send(i, now, out);
            }
        }
        for i in 0..self.resolutions.len() {
            let r = &self.resolutions[i];
            if r.requesters.is_empty() || r.running {
                continue;
            }
            if r.last_resolution
                .is_some_and(|at| at + self.config.timeout_resolve > now)
            {
                continue;
            }
            match self.free_id(rng) {
                Some(id) => {
                    let retries = self.config.retries;
                    let r = &mut self.resolutions[i];
                    r.query_id = id;
                    r.running = true;
                    r.query_type = r.prefer;
                    r.tries = retries.saturating_sub(1);
                    self.send(i, now, out);
                }
                None => self.resolutions[i].last_resolution = Some(now),
            }
        }
        outcomes
    }

    /// A query id no running resolution uses (HAProxy tries 100 times).
    fn free_id(&self, rng: &mut Rng) -> Option<u16> {
        (0..100)
            .map(|_| rng.next_u64() as u16)
            .find(|id| !(self.resolutions.iter()).any(|r| r.running && r.query_id == *id))
    }

    /// Sends resolution `i`'s query to every nameserver.
    fn send(&mut self, i: usize, now: Instant, out: &mut VecDeque<Action>) {
        let r = &mut self.resolutions[i];
        r.nb_queries = 0;
        r.nb_responses = 0;
        r.last_query = now;
        let query =
            message::build_query(r.query_id, r.query_type, &r.name, self.config.payload_size);
        for ns in &self.config.nameservers {
            out.push_back(Action::SendDatagram {
                to: ns.addr,
                data: query.clone(),
            });
            r.nb_queries += 1;
        }
    }

    /// A datagram from `from`: an answer to a running query of this
    /// section, or ignored. A query the other family goes to `out`.
    pub(crate) fn on_datagram(
        &mut self,
        now: Instant,
        from: SocketAddr,
        data: &[u8],
        out: &mut VecDeque<Action>,
    ) -> Option<Outcome> {
        let nameserver = (self.config.nameservers.iter()).position(|ns| ns.addr == from)?;
        let payload = self.config.payload_size;
        if data.len() > usize::from(payload) {
            return None;
        }
        let id = message::response_id(data)?;
        let i = (self.resolutions.iter()).position(|r| r.running && r.query_id == id)?;
        let r = &mut self.resolutions[i];
        r.nb_responses += 1;
        let response = match message::parse_response(data, &r.name, payload) {
            Ok(response) => response,
            Err(e) => {
                r.status = match e {
                    ResponseError::Invalid
                    | ResponseError::QueryCountError
                    | ResponseError::WrongName => Status::Invalid,
                    ResponseError::NxDomain => Status::Nx,
                    ResponseError::Refused => Status::Refused,
                    ResponseError::AncountZero
                    | ResponseError::CnameError
                    | ResponseError::Truncated
                    | ResponseError::Error => Status::Other,
                };
                // Every nameserver's answer is awaited before an error.
                if r.nb_responses < r.nb_queries {
                    return None;
                }
                if r.prefer != r.query_type {
                    if r.tries == 0 {
                        r.reset(now);
                        return Some(Outcome::Failed { resolution: i });
                    }
                } else {
                    r.query_type = other(r.prefer);
                    self.send(i, now, out);
                }
                return None;
            }
        };
        r.status = Status::Valid;
        r.last_valid = now;
        for addr in response.addrs() {
            match r.items.iter_mut().find(|item| item.addr == addr) {
                Some(item) => item.last_seen = now,
                None => {
                    let key = record_key(addr);
                    let at = (r.items.iter())
                        .position(|item| item.key > key)
                        .unwrap_or(r.items.len());
                    let item = Item {
                        addr,
                        key,
                        last_seen: now,
                        attached: Vec::new(),
                    };
                    r.items.insert(at, item);
                }
            }
        }
        let obsolete = self.config.hold.obsolete;
        r.items.retain(|item| item.last_seen + obsolete >= now);
        r.reset(now);
        Some(Outcome::Valid {
            resolution: i,
            nameserver,
        })
    }
}

impl Resolution {
    /// Back to idle (`resolv_reset_resolution`).
    fn reset(&mut self, now: Instant) {
        self.running = false;
        self.tries = 0;
        self.last_resolution = Some(now);
        self.nb_queries = 0;
        self.nb_responses = 0;
        self.query_type = self.prefer;
        self.query_id = 0;
    }

    /// Takes `who` off every address.
    pub(crate) fn detach(&mut self, who: Requester) {
        for item in &mut self.items {
            item.attached.retain(|w| *w != who);
        }
    }
}

/// The key HAProxy 2.6 files an address record under in its answer tree
/// (`XXH32(rdata, len, type)`): servers look at the addresses in the
/// order of these keys, whatever the answer's order.
fn record_key(addr: IpAddr) -> u32 {
    match addr {
        IpAddr::V4(a) => xxh32(&a.octets(), 1),
        IpAddr::V6(a) => xxh32(&a.octets(), 28),
    }
}

/// The other query type (HAProxy's fallback between A and AAAA).
fn other(t: QueryType) -> QueryType {
    match t {
        QueryType::A => QueryType::Aaaa,
        QueryType::Aaaa => QueryType::A,
    }
}

#[cfg(test)]
#[path = "resolver_tests.rs"]
pub(crate) mod tests;
