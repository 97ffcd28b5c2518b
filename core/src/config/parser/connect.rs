//! The options of `tcp-check connect` and `http-check connect`
//! (`parse_tcpcheck_connect`), with HAProxy's messages.

use std::net::{IpAddr, SocketAddr};

use super::super::Connect;

/// Parses the words after `connect`: the rule and its `comment`.
pub(super) fn parse(words: &[String], http: bool) -> Result<(Connect, Option<String>), String> {
    let mut connect = Connect::default();
    let mut comment = None;
    let mut words = words.iter().map(String::as_str);
    while let Some(word) = words.next() {
        let mut value = || words.next().filter(|v| !v.is_empty());
        match word {
            "default" => connect.default = true,
            "send-proxy" => connect.send_proxy = true,
            "linger" => connect.linger = true,
            "ssl" => connect.ssl = true,
            "via-socks4" => {
                return Err("'via-socks4' is not supported by weir (it has no SOCKS4 \
                            servers: the 'socks4' server parameter is refused too)"
                    .into());
            }
            "addr" => {
                let v = value().ok_or("'addr' expects <ipv4|ipv6> as argument.")?;
                connect.addr = Some(address(v)?);
            }
            "port" => {
                let v = value()
                    .ok_or("'port' expects a port number or a sample expression as argument.")?;
                if !v.bytes().all(|b| b.is_ascii_digit()) {
                    return Err(format!(
                        "'port {v}' : weir has no sample fetches, only a port number is \
                         supported"
                    ));
                }
                match v.parse::<u16>() {
                    Ok(port) if port > 0 => connect.port = Some(port),
                    _ => {
                        return Err(format!(
                            "expects a valid TCP port (from range 1 to 65535) or a sample \
                             expression, got {v}."
                        ));
                    }
                }
            }
            "proto" => {
                let v = value().ok_or("'proto' expects a MUX protocol as argument.")?;
                match (v, http) {
                    ("h1", true) | ("none", false) => {}
                    ("none", true) => {
                        return Err("'proto' : invalid MUX protocol 'none' for http-check".into());
                    }
                    ("h2" | "fcgi", true) => {
                        return Err(format!(
                            "'proto' : weir's HTTP checks speak HTTP/1.x only, not '{v}'"
                        ));
                    }
                    ("h1" | "h2" | "fcgi", false) => {
                        return Err(format!(
                            "'proto' : invalid MUX protocol '{v}' for tcp-check"
                        ));
                    }
                    _ => return Err(format!("'proto' : unknown MUX protocol '{v}'.")),
                }
            }
            "comment" => {
                let v = value().ok_or("'comment' expects a string as argument.")?;
                comment = Some(v.to_owned());
            }
            "sni" => {
                let v = value().ok_or("'sni' expects a string as argument.")?;
                connect.sni = Some(v.to_owned());
            }
            "alpn" => {
                let v = value().unwrap_or("");
                connect.alpn = Some(alpn(v).map_err(|e| format!("'alpn' : {e}"))?);
            }
            other => {
                return Err(format!(
                    "expects 'comment', 'port', 'addr', 'send-proxy', 'ssl', 'sni', 'alpn' or \
                     'via-socks4', 'linger', 'default' but got '{other}' as argument."
                ));
            }
        }
    }
    Ok((connect, comment))
}

/// `addr <ip>[:<port>]`: an address, not a name (weir resolves no names
/// in check rules).
fn address(text: &str) -> Result<(IpAddr, Option<u16>), String> {
    if let Ok(ip) = text.parse::<IpAddr>() {
        return Ok((ip, None));
    }
    if let Ok(sa) = text.parse::<SocketAddr>() {
        return Ok((sa.ip(), Some(sa.port()).filter(|&p| p != 0)));
    }
    Err(format!(
        "'addr' : '{text}' is not an IPv4 or IPv6 address (weir takes addresses, not host \
         names, in check rules)."
    ))
}

/// `ssl_sock_parse_alpn`: a comma-separated list of protocol names.
pub(in crate::config) fn alpn(list: &str) -> Result<Vec<Vec<u8>>, String> {
    if list.is_empty() {
        return Err("missing the comma-delimited ALPN protocol suite".into());
    }
    list.split(',')
        .map(|name| match name.len() {
            0 => Err(format!("empty ALPN protocol name in '{list}'")),
            1..=255 => Ok(name.as_bytes().to_vec()),
            _ => Err(format!("ALPN protocol name too long : '{name}'")),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(text: &str) -> Vec<String> {
        text.split_whitespace().map(str::to_owned).collect()
    }

    #[test]
    fn every_option_is_read() {
        let (c, comment) = parse(
            &words(
                "port 8443 addr 127.0.0.2 ssl sni a.example alpn h2,http/1.1 send-proxy \
                 linger default comment hi",
            ),
            false,
        )
        .unwrap();
        assert_eq!(c.port, Some(8443));
        assert_eq!(c.addr, Some(("127.0.0.2".parse().unwrap(), None)));
        assert!(c.ssl && c.send_proxy && c.linger && c.default && !c.implicit);
        assert_eq!(c.sni.as_deref(), Some("a.example"));
        assert_eq!(c.alpn, Some(vec![b"h2".to_vec(), b"http/1.1".to_vec()]));
        assert_eq!(comment.as_deref(), Some("hi"));
        let (c, _) = parse(&words("addr 127.0.0.1:81"), true).unwrap();
        assert_eq!(c.addr, Some(("127.0.0.1".parse().unwrap(), Some(81))));
    }

    #[test]
    fn mistakes_get_haproxys_words() {
        let err = |text: &str, http| parse(&words(text), http).unwrap_err();
        assert_eq!(
            err("port 0", false),
            "expects a valid TCP port (from range 1 to 65535) or a sample expression, got 0."
        );
        assert_eq!(
            err("prot 1", false),
            "expects 'comment', 'port', 'addr', 'send-proxy', 'ssl', 'sni', 'alpn' or \
             'via-socks4', 'linger', 'default' but got 'prot' as argument."
        );
        assert_eq!(
            err("proto h1", false),
            "'proto' : invalid MUX protocol 'h1' for tcp-check"
        );
        assert!(parse(&words("proto h1"), true).is_ok());
        assert!(err("proto h2", true).contains("HTTP/1.x only"));
        assert!(err("via-socks4", false).contains("not supported"));
        assert!(err("addr gw.example", false).contains("not an IPv4 or IPv6"));
        assert_eq!(err("sni", false), "'sni' expects a string as argument.");
    }
}
