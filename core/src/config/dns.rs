//! `resolvers` sections and the DNS settings of servers given by host
//! name (HAProxy 2.6's `src/resolvers.c` and the `resolve*`/`init-addr`
//! server keywords of `src/server.c`).

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use super::Origin;

/// One `resolvers <name>` section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolvers {
    /// The section's name, which servers give to `resolvers`.
    pub name: String,
    /// `nameserver <id> <ip:port>` lines, in order (UDP).
    pub nameservers: Vec<Nameserver>,
    /// `accepted_payload_size` (512; 12 to 65535).
    pub payload_size: u16,
    /// `resolve_retries`: queries sent before a resolution times out (3).
    pub retries: u32,
    /// `timeout resolve`: time between two resolutions of a name (1 s).
    pub timeout_resolve: Duration,
    /// `timeout retry`: time before a query without answer is sent again
    /// (1 s).
    pub timeout_retry: Duration,
    /// `hold` periods.
    pub hold: Hold,
    /// The section line.
    pub origin: Origin,
}

impl Resolvers {
    /// A section named `name` with HAProxy 2.6's defaults (`resolvers_new`).
    pub fn new(name: &str, origin: Origin) -> Resolvers {
        Resolvers {
            name: name.to_owned(),
            nameservers: Vec::new(),
            payload_size: 512,
            retries: 3,
            timeout_resolve: Duration::from_secs(1),
            timeout_retry: Duration::from_secs(1),
            hold: Hold::default(),
            origin,
        }
    }
}

/// One `nameserver` line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Nameserver {
    /// Its id, shown in logs (`resolvers/id`).
    pub name: String,
    /// Where queries go (UDP).
    pub addr: SocketAddr,
}

/// `hold <status> <time>`: how long a name's last valid answer is kept
/// after a failure before its servers go to maintenance, and how long an
/// address missing from answers stays in use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Hold {
    /// `hold nx` (30 s).
    pub nx: Duration,
    /// `hold other` (30 s).
    pub other: Duration,
    /// `hold refused` (30 s).
    pub refused: Duration,
    /// `hold timeout` (30 s).
    pub timeout: Duration,
    /// `hold valid` (10 s): how long an answer serves other requesters
    /// from the cache; server resolutions run every `timeout resolve`
    /// anyway, as in HAProxy 2.6.
    pub valid: Duration,
    /// `hold obsolete` (0): how long an address missing from the answers
    /// stays usable.
    pub obsolete: Duration,
}

impl Default for Hold {
    fn default() -> Self {
        let thirty = Duration::from_secs(30);
        Hold {
            nx: thirty,
            other: thirty,
            refused: thirty,
            timeout: thirty,
            valid: Duration::from_secs(10),
            obsolete: Duration::ZERO,
        }
    }
}

/// An address family (`resolve-prefer`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Family {
    /// `ipv4`: A records first.
    V4,
    /// `ipv6` (the default): AAAA records first.
    #[default]
    V6,
}

impl Family {
    /// Whether `ip` is of this family.
    pub fn holds(self, ip: IpAddr) -> bool {
        matches!(
            (self, ip),
            (Family::V4, IpAddr::V4(_)) | (Family::V6, IpAddr::V6(_))
        )
    }
}

/// A network of `resolve-net`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Net {
    /// The network's address.
    pub addr: IpAddr,
    /// Its prefix length.
    pub prefix: u8,
}

impl Net {
    /// Whether `ip` is in this network (of the same family).
    pub fn contains(&self, ip: IpAddr) -> bool {
        let (net, ip, bits) = match (self.addr, ip) {
            (IpAddr::V4(n), IpAddr::V4(i)) => {
                (u128::from(u32::from(n)), u128::from(u32::from(i)), 32)
            }
            (IpAddr::V6(n), IpAddr::V6(i)) => (u128::from(n), u128::from(i), 128),
            _ => return false,
        };
        let prefix = u32::from(self.prefix).min(bits);
        if prefix == 0 {
            return true;
        }
        let shift = bits - prefix;
        (net >> shift) == (ip >> shift)
    }
}

/// The DNS settings of a server given by host name with `resolvers`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerDns {
    /// The host name, as written.
    pub hostname: String,
    /// The name of its `resolvers` section (in [`super::Global::resolvers`]).
    pub resolvers: String,
    /// `resolve-prefer` (ipv6 by default, as HAProxy).
    pub prefer: Family,
    /// `resolve-net`: preferred networks, in order.
    pub nets: Vec<Net>,
    /// `resolve-opts allow-dup-ip`: another server of the backend may use
    /// the same address.
    pub allow_dup_ip: bool,
}

/// A method of `init-addr`, in the order given.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InitAddr {
    /// `last`: the address in the server-state file.
    Last,
    /// `libc`: the system resolver, at start.
    Libc,
    /// `none`: start in maintenance (`resolution`) without an address.
    None,
    /// An IP address.
    Ip(IpAddr),
}
