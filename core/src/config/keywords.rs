//! HAProxy 2.6 keywords weir knows of but does not implement yet, and the
//! "did you mean" hint for unknown words.

/// Sections weir does not implement.
pub(super) const OTHER_SECTIONS: &[&str] = &[
    "peers",
    "userlist",
    "mailers",
    "program",
    "http-errors",
    "ring",
    "log-forward",
    "cache",
    "fcgi-app",
];

/// `global` keywords weir does not implement yet.
pub(super) const GLOBAL_LATER: &[&str] = &[
    "cpu-map",
    "expose-experimental-directives",
    "external-check",
    "insecure-fork-wanted",
    "insecure-setuid-wanted",
    "issuers-chain-path",
    "localpeer",
    "lua-load",
    "lua-prepend-path",
    "master-worker",
    "max-spread-checks",
    "maxcomprate",
    "maxsslconn",
    "maxsslrate",
    "maxzlibmem",
    "mworker-max-reloads",
    "nbproc",
    "noepoll",
    "nogetaddrinfo",
    "noreuseport",
    "ssl-dh-param-file",
    "ssl-engine",
    "ssl-mode-async",
    "strict-limits",
    "tune.maxaccept",
    "tune.rcvbuf.client",
    "tune.rcvbuf.server",
    "tune.sndbuf.client",
    "tune.sndbuf.server",
    "tune.ssl.cachesize",
    "unix-bind",
    "busy-polling",
    "zero-warning",
    "h1-case-adjust",
    "set-dumpable",
    "numa-cpu-mapping",
    "thread-groups",
];

/// Proxy keywords weir does not implement yet.
pub(super) const PROXY_LATER: &[&str] = &[
    "acl",
    "bind-process",
    "capture",
    "compression",
    "cookie",
    "declare",
    "dispatch",
    "email-alert",
    "errorfiles",
    "external-check",
    "filter",
    "force-persist",
    "http-after-response",
    "http-error",
    "http-response",
    "http-send-name-header",
    "ignore-persist",
    "log-format-sd",
    "max-keep-alive-queue",
    "monitor",
    "monitor-uri",
    "persist",
    "redirect",
    "retry-on",
    "stick",
    "stick-table",
    "tcp-request",
    "tcp-response",
    "unique-id-format",
    "unique-id-header",
    "use-server",
];

/// `option` names weir does not implement yet.
pub(super) const OPTIONS_LATER: &[&str] = &[
    "external-check",
    "http-restrict-req-hdr-names",
    "external-check",
    "persist",
    "socket-stats",
    "spop-check",
    "tcp-smart-accept",
    "tcp-smart-connect",
    "transparent",
];

/// `balance` algorithms weir does not implement yet.
pub(super) const BALANCE_LATER: &[&str] = &["uri", "url_param", "hdr", "rdp-cookie", "hash"];

/// `timeout` kinds weir does not implement yet.
pub(super) const TIMEOUTS_LATER: &[&str] = &["tarpit", "client-hs"];

/// `server` parameters weir does not implement yet.
pub(super) const SERVER_LATER: &[&str] = &[
    "allow-0rtt",
    "check-via-socks4",
    "cookie",
    "log-proto",
    "max-reuse",
    "namespace",
    "no-tfo",
    "npn",
    "pool-low-conn",
    "pool-max-conn",
    "pool-purge-delay",
    "proto",
    "redir",
    "shard",
    "stick",
    "socks4",
    "tcp-ut",
    "tfo",
    "track",
    "ws",
];

/// The [`SERVER_LATER`] parameters that take no argument.
pub(super) const SERVER_LATER_FLAGS: &[&str] = &["allow-0rtt", "check-via-socks4", "no-tfo", "tfo"];

/// `bind` options weir does not implement yet.
pub(super) const BIND_LATER: &[&str] = &[
    "accept-netscaler-cip",
    "allow-0rtt",
    "alpn",
    "ca-file",
    "ca-ignore-err",
    "ca-sign-file",
    "ca-sign-pass",
    "ca-verify-file",
    "ciphers",
    "ciphersuites",
    "crl-file",
    "crt",
    "crt-ignore-err",
    "crt-list",
    "curves",
    "ecdhe",
    "expose-fd",
    "force-sslv3",
    "force-tlsv10",
    "force-tlsv11",
    "force-tlsv12",
    "force-tlsv13",
    "generate-certificates",
    "gid",
    "group",
    "id",
    "level",
    "maxconn",
    "mode",
    "name",
    "namespace",
    "nice",
    "no-ca-names",
    "no-sslv3",
    "no-tls-tickets",
    "no-tlsv10",
    "no-tlsv11",
    "no-tlsv12",
    "no-tlsv13",
    "npn",
    "prefer-client-ciphers",
    "process",
    "proto",
    "quic-cc-algo",
    "quic-force-retry",
    "severity-output",
    "ssl",
    "ssl-max-ver",
    "ssl-min-ver",
    "strict-sni",
    "thread",
    "tls-ticket-keys",
    "uid",
    "user",
    "verify",
];

/// The [`BIND_LATER`] options that terminate TLS, which weir never does.
pub(super) const BIND_TLS: &[&str] = &[
    "allow-0rtt",
    "alpn",
    "ca-file",
    "ca-ignore-err",
    "ca-sign-file",
    "ca-sign-pass",
    "ca-verify-file",
    "ciphers",
    "ciphersuites",
    "crl-file",
    "crt",
    "crt-ignore-err",
    "crt-list",
    "curves",
    "ecdhe",
    "force-sslv3",
    "force-tlsv10",
    "force-tlsv11",
    "force-tlsv12",
    "force-tlsv13",
    "generate-certificates",
    "no-ca-names",
    "no-sslv3",
    "no-tls-tickets",
    "no-tlsv10",
    "no-tlsv11",
    "no-tlsv12",
    "no-tlsv13",
    "npn",
    "prefer-client-ciphers",
    "ssl",
    "ssl-max-ver",
    "ssl-min-ver",
    "strict-sni",
    "tls-ticket-keys",
    "verify",
];

/// The closest word to `word` among `candidates`, if one is close enough
/// to be a likely typo.
pub(crate) fn suggest<'a>(
    word: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    // No keyword is this long: spare the distances to a pasted blob.
    if word.len() > 64 {
        return None;
    }
    let limit = if word.chars().count() <= 4 { 1 } else { 2 };
    candidates
        .into_iter()
        .map(|c| (distance(word, c), c))
        .filter(|&(d, _)| d <= limit)
        .min_by_key(|&(d, _)| d)
        .map(|(_, c)| c)
}

/// Optimal string alignment distance (Levenshtein plus transpositions).
fn distance(a: &str, b: &str) -> usize {
    let (a, b): (Vec<char>, Vec<char>) = (a.chars().collect(), b.chars().collect());
    if a.len().abs_diff(b.len()) > 2 {
        return usize::MAX;
    }
    let mut rows = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for (i, row) in rows.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in rows[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut d = (rows[i - 1][j] + 1)
                .min(rows[i][j - 1] + 1)
                .min(rows[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                d = d.min(rows[i - 2][j - 2] + 1);
            }
            rows[i][j] = d;
        }
    }
    rows[a.len()][b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typos_get_a_suggestion_and_strangers_none() {
        let words = ["check", "inter", "rise", "fall", "weight"];
        assert_eq!(suggest("chek", words), Some("check"));
        assert_eq!(suggest("wieght", words), Some("weight"));
        assert_eq!(suggest("banana", words), None);
        assert_eq!(suggest("timeuot", ["timeout", "mode"]), Some("timeout"));
    }
}
