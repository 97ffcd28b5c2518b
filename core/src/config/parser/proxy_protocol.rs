//! The PROXY protocol keywords of `server`/`default-server` lines
//! (`send-proxy`, `send-proxy-v2`, `proxy-v2-options`, `check-send-proxy`
//! and their `no-` forms) and of `bind` lines (`accept-proxy`).

use crate::config::Server;
use crate::proxy_protocol::{V2Options, Version};

/// The server keywords handled here.
pub(super) const SERVER: &[&str] = &[
    "send-proxy",
    "send-proxy-v2",
    "send-proxy-v2-ssl",
    "no-send-proxy",
    "no-send-proxy-v2",
    "no-send-proxy-v2-ssl",
    "proxy-v2-options",
    "check-send-proxy",
    "no-check-send-proxy",
];

/// What a server line said, before [`SendProxy::apply`] settles it.
#[derive(Debug, Default)]
pub(super) struct SendProxy {
    v1: bool,
    v2: bool,
    options: V2Options,
    /// `proxy-v2-options` was given.
    options_set: bool,
    /// `check-send-proxy` (`Some(true)`) or `no-check-send-proxy`.
    check: Option<bool>,
}

impl SendProxy {
    /// Takes `param` if it is one of [`SERVER`]; `value` gives its
    /// argument. `None`: not a PROXY protocol keyword.
    pub(super) fn param<'w>(
        &mut self,
        param: &str,
        value: impl FnOnce() -> &'w str,
    ) -> Option<Result<(), String>> {
        match param {
            "send-proxy" => self.v1 = true,
            "send-proxy-v2" => self.v2 = true,
            "send-proxy-v2-ssl" => {
                self.v2 = true;
                self.options.ssl = true;
                self.options_set = true;
            }
            "no-send-proxy" => self.v1 = false,
            "no-send-proxy-v2" => self.v2 = false,
            "no-send-proxy-v2-ssl" => {
                self.v2 = false;
                self.options.ssl = false;
            }
            "check-send-proxy" => self.check = Some(true),
            "no-check-send-proxy" => self.check = Some(false),
            "proxy-v2-options" => return Some(self.options(value())),
            "send-proxy-v2-ssl-cn" => return Some(Err(client_tls("send-proxy-v2-ssl-cn"))),
            _ => return None,
        }
        Some(Ok(()))
    }

    fn options(&mut self, list: &str) -> Result<(), String> {
        if list.is_empty() {
            return Err("'proxy-v2-options' expects a list such as 'ssl,crc32c'".into());
        }
        for option in list.split(',') {
            match option {
                "ssl" => self.options.ssl = true,
                "unique-id" => self.options.unique_id = true,
                "authority" => self.options.authority = true,
                "crc32c" => self.options.crc32c = true,
                "cert-cn" | "cert-key" | "cert-sig" | "ssl-cipher" => {
                    return Err(client_tls(&format!("proxy-v2-options {option}")));
                }
                other => {
                    return Err(format!(
                        "'{other}' : proxy v2 option not implemented (weir knows ssl, \
                         unique-id, authority and crc32c)"
                    ));
                }
            }
        }
        self.options_set = true;
        Ok(())
    }

    /// Sets the server's headers: version 2 wins over version 1, as in
    /// HAProxy; checks send one with `check-send-proxy`, or when traffic
    /// does and checks go to the traffic port (HAProxy's `init_srv_check`),
    /// of the traffic's version (version 1 without one).
    pub(super) fn apply(self, server: &mut Server) -> Result<(), String> {
        if self.options_set && !self.v2 {
            return Err(format!(
                "server '{}': 'proxy-v2-options' needs 'send-proxy-v2' (HAProxy would send a \
                 version 1 header instead)",
                server.name
            ));
        }
        server.send_proxy = if self.v2 {
            Some(Version::V2(self.options))
        } else {
            self.v1.then_some(Version::V1)
        };
        let follows_traffic = server.send_proxy.is_some() && server.check_port.is_none();
        server.check_send_proxy = match self.check {
            Some(false) => None,
            Some(true) => Some(server.send_proxy.unwrap_or(Version::V1)),
            None => server.send_proxy.filter(|_| follows_traffic),
        };
        Ok(())
    }
}

/// Why an option about the client's TLS is refused.
fn client_tls(option: &str) -> String {
    format!(
        "'{option}' is not supported: weir passes the client's TLS through without terminating \
         it, so it has no client certificate or cipher to report; 'proxy-v2-options ssl' sends \
         the SSL TLV (saying the client connection was not TLS to weir)"
    )
}
