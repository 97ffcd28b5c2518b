//! Traffic options of proxies beyond timeouts: what a client's close does
//! to a session still waiting for its server (`option abortonclose`), when
//! a session is logged (`option logasap`), what refreshes a side's
//! inactivity timeout (`option independent-streams`), how fast sessions
//! are accepted (`rate-limit sessions`, `maxconnrate`, `maxsessrate`).

/// Traffic settings of a backend.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct BackendTraffic {
    /// `option abortonclose`: a client that closes (FIN) while its session
    /// waits in a queue, for a connect or before a retry is aborted, even
    /// with bytes not yet sent (HAProxy's `PR_O_ABRT_CLOSE`).
    pub abortonclose: bool,
    /// `option independent-streams`: writing to a server does not
    /// refresh its read timeout (HAProxy's `SC_FL_INDEP_STR` on the
    /// server side).
    pub independent_streams: bool,
    /// `option splice-*`: when the kernel may move this backend's bytes.
    pub splice: Splice,
}

/// Traffic settings of a frontend.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct FrontendTraffic {
    /// `option logasap`: a session is logged once its server connection
    /// is established, `%Tt`, `%Tu`, `%Ta` and `%B` prefixed with `+`
    /// (HAProxy's `PR_O_LOGASAP`).
    pub logasap: bool,
    /// `option independent-streams`: writing to a client does not refresh
    /// its read timeout (HAProxy's `SC_FL_INDEP_STR` on the client side).
    pub independent_streams: bool,
    /// `rate-limit sessions N`: at most N new sessions per second, over
    /// HAProxy's sliding one-second window; the others wait in the
    /// kernel's backlog while accepting pauses. `None`: no limit.
    pub rate_limit_sessions: Option<u32>,
    /// `option splice-*`: when the kernel may move this frontend's bytes.
    pub splice: Splice,
}

/// `option splice-auto`, `option splice-request`, `option splice-response`
/// of one proxy. A session's direction is spliced (moved by the kernel,
/// `splice(2)`, once core has no further use for its bytes) when its
/// frontend or its backend asks for it, as HAProxy does; `splice-auto` is
/// weir's default, so it is on unless `no option splice-auto` turns it
/// off and neither side turns it on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Splice {
    /// `option splice-auto`: `Some(true)`/`Some(false)` when set (or
    /// negated) in this proxy or its defaults, `None` when never said.
    pub auto: Option<bool>,
    /// `option splice-request`: client to server, from the first byte.
    pub request: bool,
    /// `option splice-response`: server to client, from the first byte.
    pub response: bool,
}

/// The process-wide splice settings (`global`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SpliceGlobal {
    /// `nosplice`: never splice.
    pub disabled: bool,
    /// `maxpipes`: most kernel pipes in use at once; `None`: HAProxy's
    /// default, a quarter of `maxconn`.
    pub maxpipes: Option<u32>,
    /// `tune.pipesize`: each pipe's size in bytes; `None`: the system's.
    pub pipesize: Option<u32>,
}

/// The process-wide accept rates (`global`): at most so many new
/// connections (`maxconnrate`) and sessions (`maxsessrate`) per second
/// over all traffic frontends; `None`: no limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Rates {
    /// `maxconnrate`.
    pub conn: Option<u32>,
    /// `maxsessrate`.
    pub sess: Option<u32>,
}
