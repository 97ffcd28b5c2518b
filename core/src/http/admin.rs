//! The stats page's admin form: HAProxy's `stats_process_http_post`.
//!
//! The form posts `application/x-www-form-urlencoded` fields: `s` (a
//! server, once per ticked box), `action` and `b` (the backend). HAProxy
//! reads them from the last to the first, keeps the last `b` and `action`,
//! and applies the action to every `s` once both are known. What applying
//! means (and whether a server changed) is the balancer's business:
//! [`AdminPost::run`] takes it as a closure and answers the status code the
//! redirect carries.

/// HAProxy's `LINESIZE`: a `key=value` field of this many bytes or more
/// makes the whole form invalid.
const MAX_FIELD: usize = 2048;

/// The action of an admin form (`action=`), HAProxy's `ST_ADM_ACTION_*`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AdminAction {
    /// `ready`: leave drain and maintenance (`set server state ready`).
    Ready,
    /// `drain`: no new sessions (`set server state drain`).
    Drain,
    /// `maint`: maintenance (`set server state maint`).
    Maint,
    /// `shutdown`: end the server's sessions (`shutdown sessions server`).
    Shutdown,
    /// `dhlth`: disable health checks (`disable health`).
    DisableHealth,
    /// `ehlth`: enable health checks (`enable health`).
    EnableHealth,
    /// `hrunn`: force health UP (`set server health up`).
    HealthUp,
    /// `hnolb`: force health NOLB (`set server health stopping`).
    HealthStopping,
    /// `hdown`: force health DOWN (`set server health down`).
    HealthDown,
    /// `dagent`: disable agent checks.
    DisableAgent,
    /// `eagent`: enable agent checks.
    EnableAgent,
    /// `arunn`: force agent UP.
    AgentUp,
    /// `adown`: force agent DOWN.
    AgentDown,
    /// `disable` (old form): set forced maintenance, when not set.
    Disable,
    /// `enable` (old form): clear forced maintenance, when set.
    Enable,
    /// `stop` (old form): set forced drain, when not set.
    Stop,
    /// `start` (old form): clear forced drain, when set.
    Start,
}

impl AdminAction {
    /// The action a form value names.
    pub fn from_form(value: &[u8]) -> Option<AdminAction> {
        use AdminAction::*;
        Some(match value {
            b"ready" => Ready,
            b"drain" => Drain,
            b"maint" => Maint,
            b"shutdown" => Shutdown,
            b"dhlth" => DisableHealth,
            b"ehlth" => EnableHealth,
            b"hrunn" => HealthUp,
            b"hnolb" => HealthStopping,
            b"hdown" => HealthDown,
            b"dagent" => DisableAgent,
            b"eagent" => EnableAgent,
            b"arunn" => AgentUp,
            b"adown" => AgentDown,
            b"disable" => Disable,
            b"enable" => Enable,
            b"stop" => Stop,
            b"start" => Start,
            _ => return None,
        })
    }
}

/// The outcome of an admin request, carried as `;st=` in the redirect and
/// shown by the stats page (HAProxy's `stat_status_codes`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatCode {
    /// `DENY`: a POST without admin rights.
    Deny,
    /// `DONE`: every server named changed.
    Done,
    /// `ERRP`: invalid parameters (unknown action or backend, nothing changed).
    Errp,
    /// `EXCD`: the form was larger than the buffer.
    Excd,
    /// `NONE`: nothing to do.
    None,
    /// `PART`: some servers changed, others are unknown or did not change.
    Part,
    /// `UNKN`: an `;st=` code weir does not know.
    Unkn,
    /// `IVAL`: an unsupported method.
    Ival,
}

impl StatCode {
    /// The four letters of the code.
    pub fn as_str(self) -> &'static str {
        match self {
            StatCode::Deny => "DENY",
            StatCode::Done => "DONE",
            StatCode::Errp => "ERRP",
            StatCode::Excd => "EXCD",
            StatCode::None => "NONE",
            StatCode::Part => "PART",
            StatCode::Unkn => "UNKN",
            StatCode::Ival => "IVAL",
        }
    }

    /// The code whose four letters start `text` (`UNKN` for others).
    pub(super) fn parse(text: &str) -> StatCode {
        [
            StatCode::Deny,
            StatCode::Done,
            StatCode::Errp,
            StatCode::Excd,
            StatCode::None,
            StatCode::Part,
            StatCode::Unkn,
            StatCode::Ival,
        ]
        .into_iter()
        .find(|c| text.starts_with(c.as_str()))
        .unwrap_or(StatCode::Unkn)
    }
}

/// What applying an action to one server did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The server was changed (counted as done).
    Altered,
    /// The action does not apply to the server as it is (`enable` of a
    /// server not in maintenance, `dhlth` without checks): not counted.
    Skipped,
    /// No such server in the backend (counted, not done).
    Unknown,
}

/// A parsed admin form, in the order HAProxy acts on it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdminPost {
    /// The backend (the last `b`), when the form got that far.
    pub backend: Option<String>,
    /// The action (the last `action`), when the form got that far.
    pub action: Option<AdminAction>,
    /// The servers to act on, in HAProxy's order (the last `s` first).
    pub servers: Vec<String>,
    /// The form is invalid from this point: after acting on `servers` (if
    /// backend and action are known), the answer is `ERRP` whatever they
    /// did.
    pub invalid: bool,
}

impl AdminPost {
    /// Parses a form body as HAProxy does (fields from last to first; a
    /// `%` escape that is not two hex digits ends the parsing; a field of
    /// 2048 bytes or more, or an unknown action, makes the form invalid).
    pub fn parse(body: &[u8]) -> AdminPost {
        let mut post = AdminPost {
            backend: None,
            action: None,
            servers: Vec::new(),
            invalid: false,
        };
        // `s` fields before the backend and action are known wait for them.
        let mut waiting: Vec<String> = Vec::new();
        for field in body.rsplit(|&b| b == b'&') {
            if field.len() + 1 > MAX_FIELD {
                post.invalid = true;
                break;
            }
            let (key, value) = match field.iter().position(|&b| b == b'=') {
                Some(i) => (&field[..i], &field[i + 1..]),
                None => (field, &b""[..]),
            };
            let (Some(key), Some(value)) = (url_decode(key), url_decode(value)) else {
                break;
            };
            let known = post.backend.is_some() && post.action.is_some();
            match key.as_slice() {
                b"b" if post.backend.is_none() => {
                    post.backend = Some(String::from_utf8_lossy(&value).into_owned());
                }
                b"action" if post.action.is_none() => match AdminAction::from_form(&value) {
                    Some(action) => post.action = Some(action),
                    None => {
                        post.invalid = true;
                        break;
                    }
                },
                b"s" => {
                    let server = String::from_utf8_lossy(&value).into_owned();
                    if known {
                        post.servers.push(server);
                    } else {
                        waiting.push(server);
                    }
                }
                _ => {}
            }
            if !known && post.backend.is_some() && post.action.is_some() {
                // HAProxy goes back to the first waiting `s` and runs them.
                post.servers.append(&mut waiting);
            }
        }
        post
    }

    /// Runs the form: `backend_exists` says whether the backend is known
    /// (HAProxy answers `ERRP` otherwise, changing nothing); `apply` acts
    /// on one server of it. Returns the code for the redirect.
    pub fn run(
        &self,
        backend_exists: impl FnOnce(&str) -> bool,
        mut apply: impl FnMut(&str, &str, AdminAction) -> Outcome,
    ) -> StatCode {
        if let Some(backend) = &self.backend {
            if !backend_exists(backend) {
                return StatCode::Errp;
            }
        }
        let (mut total, mut altered) = (0usize, 0usize);
        if let (Some(backend), Some(action)) = (&self.backend, self.action) {
            for server in &self.servers {
                match apply(backend, server, action) {
                    Outcome::Altered => {
                        total += 1;
                        altered += 1;
                    }
                    Outcome::Unknown => total += 1,
                    Outcome::Skipped => {}
                }
            }
        }
        if self.invalid {
            StatCode::Errp
        } else if total == 0 {
            StatCode::None
        } else if altered == 0 {
            StatCode::Errp
        } else if altered == total {
            StatCode::Done
        } else {
            StatCode::Part
        }
    }
}

/// HAProxy's `url_decode` in form mode: `+` is a space, `%xx` a byte; a
/// `%` without two hex digits fails. The text ends at a decoded NUL, as
/// the C string it is in HAProxy.
pub(super) fn url_decode(text: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(text.len());
    let mut i = 0;
    while i < text.len() {
        match text[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = |j: usize| text.get(j).and_then(|&c| (c as char).to_digit(16));
                let (Some(hi), Some(lo)) = (hex(i + 1), hex(i + 2)) else {
                    return None;
                };
                out.push((hi * 16 + lo) as u8);
                i += 2;
            }
            c => out.push(c),
        }
        i += 1;
    }
    if let Some(nul) = out.iter().position(|&b| b == 0) {
        out.truncate(nul);
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs a form on backend `app` with servers `s1` (changes) and `s2`
    /// (already in the state asked); returns the code and the calls.
    fn run(body: &str) -> (StatCode, Vec<String>) {
        let mut calls = Vec::new();
        let code = AdminPost::parse(body.as_bytes()).run(
            |b| b == "app",
            |b, s, a| {
                calls.push(format!("{b}/{s}:{a:?}"));
                match s {
                    "s1" => Outcome::Altered,
                    "s2" => Outcome::Skipped,
                    _ => Outcome::Unknown,
                }
            },
        );
        (code, calls)
    }

    #[test]
    fn codes_are_haproxys() {
        // Each was posted to HAProxy 2.6.12 with the same outcome.
        assert_eq!(
            run("s=s1&action=drain&b=app"),
            (StatCode::Done, vec!["app/s1:Drain".into()])
        );
        assert_eq!(run("s=s1&s=zz&action=maint&b=app").0, StatCode::Part);
        assert_eq!(run("s=zz&action=maint&b=app").0, StatCode::Errp);
        assert_eq!(run("action=maint&b=app").0, StatCode::None);
        assert_eq!(run("s=s1&action=bogus&b=app"), (StatCode::Errp, vec![]));
        assert_eq!(run("s=s1&action=ready&b=nope"), (StatCode::Errp, vec![]));
        assert_eq!(run("").0, StatCode::None);
        // Skipped servers count for nothing.
        assert_eq!(run("s=s2&action=enable&b=app").0, StatCode::None);
        assert_eq!(run("s=s2&s=s1&action=enable&b=app").0, StatCode::Done);
    }

    #[test]
    fn fields_are_read_from_the_last() {
        // The last `b` and `action` win; every `s` runs once, last first.
        let (code, calls) = run("s=s1&b=other&s=s2&action=hdown&b=app&action=ready&s=s1");
        assert_eq!(code, StatCode::Done);
        assert_eq!(calls, ["app/s1:Ready", "app/s2:Ready", "app/s1:Ready"]);
        // `b` and `action` first: the servers after them still count.
        let (_, calls) = run("b=app&action=shutdown&s=s1&s=zz");
        assert_eq!(calls, ["app/zz:Shutdown", "app/s1:Shutdown"]);
    }

    #[test]
    fn encoding_and_bad_fields() {
        let post = AdminPost::parse(b"s=a+b%2Fc&action=maint&b=my%20app");
        assert_eq!(post.backend.as_deref(), Some("my app"));
        assert_eq!(post.servers, ["a b/c"]);
        // A bad escape stops the parsing where it is.
        let post = AdminPost::parse(b"s=x&s=%zz&action=maint&b=app");
        assert_eq!((post.servers.len(), post.invalid), (0, false));
        assert_eq!(
            run("s=%zz&s=s1&action=maint&b=app"),
            (StatCode::Done, vec!["app/s1:Maint".into()])
        );
        // A decoded NUL ends the value, as HAProxy's C strings.
        assert_eq!(
            AdminPost::parse(b"b=app%00x").backend.as_deref(),
            Some("app")
        );
        // A field too long makes the form invalid after what came before.
        let long = "x".repeat(MAX_FIELD);
        let (code, calls) = run(&format!("s={long}&s=s1&action=maint&b=app"));
        assert_eq!((code, calls.len()), (StatCode::Errp, 1));
        let field = |n: usize| format!("{}&s=s1&action=maint&b=app", &long[..n]);
        assert_eq!(run(&field(MAX_FIELD)).0, StatCode::Errp);
        assert_eq!(run(&field(MAX_FIELD - 1)).0, StatCode::Done);
    }

    #[test]
    fn status_codes_parse_back() {
        for code in [
            "DENY", "DONE", "ERRP", "EXCD", "NONE", "PART", "UNKN", "IVAL",
        ] {
            assert_eq!(StatCode::parse(code).as_str(), code);
        }
        assert_eq!(StatCode::parse("DONEXYZ"), StatCode::Done);
        assert_eq!(StatCode::parse("XXXX"), StatCode::Unkn);
    }
}
