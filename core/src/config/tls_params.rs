//! The TLS settings of weir's client side that the global
//! `ssl-default-server-*` keywords set: protocol versions and cipher
//! suites, as far as rustls has them.

use rustls::CipherSuite;

/// Versions and suites weir's TLS client offers to servers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsParams {
    /// TLS 1.2 is offered.
    pub tls12: bool,
    /// TLS 1.3 is offered.
    pub tls13: bool,
    /// The TLS 1.2 suites, in preference order; `None`: rustls's.
    pub tls12_suites: Option<Vec<CipherSuite>>,
    /// The TLS 1.3 suites, in preference order; `None`: rustls's.
    pub tls13_suites: Option<Vec<CipherSuite>>,
}

impl Default for TlsParams {
    fn default() -> Self {
        TlsParams {
            tls12: true,
            tls13: true,
            tls12_suites: None,
            tls13_suites: None,
        }
    }
}

/// HAProxy's (OpenSSL's) protocol names, oldest first (`methodVersions`).
pub(crate) const VERSIONS: &[&str] = &["SSLv3", "TLSv1.0", "TLSv1.1", "TLSv1.2", "TLSv1.3"];
/// The `no-*`/`force-*` suffixes of [`VERSIONS`].
const VERSION_OPTIONS: &[&str] = &["sslv3", "tlsv10", "tlsv11", "tlsv12", "tlsv13"];

/// OpenSSL's TLS 1.2 cipher names that rustls has.
const TLS12_NAMES: &[(&str, CipherSuite)] = &[
    (
        "ECDHE-ECDSA-AES128-GCM-SHA256",
        CipherSuite::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
    ),
    (
        "ECDHE-RSA-AES128-GCM-SHA256",
        CipherSuite::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
    ),
    (
        "ECDHE-ECDSA-AES256-GCM-SHA384",
        CipherSuite::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
    ),
    (
        "ECDHE-RSA-AES256-GCM-SHA384",
        CipherSuite::TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
    ),
    (
        "ECDHE-ECDSA-CHACHA20-POLY1305",
        CipherSuite::TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
    ),
    (
        "ECDHE-RSA-CHACHA20-POLY1305",
        CipherSuite::TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
    ),
];

/// TLS 1.3 suite names (the same in OpenSSL and the RFC) rustls has.
const TLS13_NAMES: &[(&str, CipherSuite)] = &[
    (
        "TLS_AES_128_GCM_SHA256",
        CipherSuite::TLS13_AES_128_GCM_SHA256,
    ),
    (
        "TLS_AES_256_GCM_SHA384",
        CipherSuite::TLS13_AES_256_GCM_SHA384,
    ),
    (
        "TLS_CHACHA20_POLY1305_SHA256",
        CipherSuite::TLS13_CHACHA20_POLY1305_SHA256,
    ),
];

/// A cipher list mapped to rustls: the suites it names, and the words
/// weir cannot apply (other suites, OpenSSL keywords such as `HIGH` or
/// `!aNULL`).
pub(crate) struct Ciphers {
    pub(crate) suites: Vec<CipherSuite>,
    pub(crate) unknown: Vec<String>,
}

/// Maps a `:`-separated OpenSSL list; `tls13` picks the TLS 1.3 names.
pub(crate) fn ciphers(list: &str, tls13: bool) -> Ciphers {
    let table = if tls13 { TLS13_NAMES } else { TLS12_NAMES };
    let mut out = Ciphers {
        suites: Vec::new(),
        unknown: Vec::new(),
    };
    for name in list.split(':').filter(|n| !n.is_empty()) {
        match table.iter().find(|(n, _)| *n == name) {
            Some((_, suite)) if !out.suites.contains(suite) => out.suites.push(*suite),
            Some(_) => {}
            None => out.unknown.push(name.to_owned()),
        }
    }
    out
}

/// HAProxy's version filter: `ssl-min-ver`, `ssl-max-ver`, `no-*`,
/// `force-*`, as indexes in [`VERSIONS`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct VersionFilter {
    min: Option<usize>,
    max: Option<usize>,
    /// Bit `i`: `no-<VERSIONS[i]>`.
    no: u8,
}

impl VersionFilter {
    /// Applies `ssl-min-ver <v>` or `ssl-max-ver <v>` (HAProxy's
    /// `parse_tls_method_minmax`).
    pub(crate) fn minmax(&mut self, keyword: &str, version: &str) -> Result<(), String> {
        if version.is_empty() {
            return Err(format!("'{keyword}' : missing the ssl/tls version"));
        }
        let Some(v) = VERSIONS.iter().position(|n| *n == version) else {
            return Err(format!("'{version}' : unknown ssl/tls version"));
        };
        if keyword == "ssl-min-ver" {
            self.min = Some(v);
        } else {
            self.max = Some(v);
        }
        Ok(())
    }

    /// Applies `no-<version>` or `force-<version>` (HAProxy's
    /// `parse_tls_method_options`).
    pub(crate) fn option(&mut self, arg: &str) -> Result<(), String> {
        let fail = || format!("'{arg}' : option not implemented");
        let (kind, name) = arg.split_once('-').ok_or_else(fail)?;
        let v = VERSION_OPTIONS
            .iter()
            .position(|n| *n == name)
            .ok_or_else(fail)?;
        match kind {
            "no" => self.no |= 1 << v,
            "force" => (self.min, self.max) = (Some(v), Some(v)),
            _ => return Err(fail()),
        }
        Ok(())
    }

    /// A server's filter over the global one, as HAProxy's
    /// `ssl_sock_init_srv`: the `no-*` flags add up, the server's
    /// minimum and maximum win over the global ones.
    pub(crate) fn over(self, global: VersionFilter) -> VersionFilter {
        VersionFilter {
            min: self.min.or(global.min),
            max: self.max.or(global.max),
            no: self.no | global.no,
        }
    }

    /// The filter HAProxy applies (`ssl_sock_prepare_srv_ssl_ctx`): the
    /// `no-*` flags are ignored when a minimum or maximum is set; `true`
    /// when they were (HAProxy warns).
    pub(crate) fn effective(self) -> (VersionFilter, bool) {
        let ignored = self.no != 0 && (self.min.is_some() || self.max.is_some());
        let no = if ignored { 0 } else { self.no };
        (VersionFilter { no, ..self }, ignored)
    }

    /// Whether any version at all is left (OpenSSL's, not only rustls's).
    pub(crate) fn any(&self) -> bool {
        (0..VERSIONS.len()).any(|v| self.allows(v))
    }

    /// Whether the filter leaves version `v` (index in [`VERSIONS`]).
    fn allows(&self, v: usize) -> bool {
        self.min.is_none_or(|m| v >= m)
            && self.max.is_none_or(|m| v <= m)
            && self.no & (1 << v) == 0
    }

    /// Restricts `params` to the versions the filter leaves; `Err` when
    /// neither TLS 1.2 nor TLS 1.3 (all rustls speaks) is left.
    pub(crate) fn apply(&self, params: &mut TlsParams) -> Result<(), String> {
        params.tls12 = self.allows(3);
        params.tls13 = self.allows(4);
        if params.tls12 || params.tls13 {
            Ok(())
        } else {
            Err("no TLS version weir speaks (TLSv1.2, TLSv1.3) is left".to_owned())
        }
    }
}

/// The TLS settings a `server` or `default-server` line gives itself
/// (`ciphers`, `ciphersuites`, version options, `tls-tickets`), settled
/// against the global `ssl-default-server-*` ones once the configuration
/// is read.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OwnTls {
    pub(crate) tls12_suites: Option<Vec<CipherSuite>>,
    pub(crate) tls13_suites: Option<Vec<CipherSuite>>,
    pub(crate) versions: VersionFilter,
    /// `tls-tickets` (`Some(true)`) or `no-tls-tickets`.
    pub(crate) tickets: Option<bool>,
}
