//! `source` on proxies and servers: parsing, HAProxy 2.6.12's messages
//! (checked with `haproxy -c`), and which `source` a server ends with.

use std::net::{IpAddr, SocketAddr};

use super::source::ConnSource;
use super::{Parsed, Source, parse};

fn resolve(name: &str) -> Option<IpAddr> {
    (name == "localhost").then(|| IpAddr::from([127, 0, 0, 1]))
}

fn parsed(text: &str) -> Parsed {
    parse(&[Source::new("t.cfg", text)], &mut resolve).unwrap_or_else(|e| panic!("{e:?}"))
}

fn errors(text: &str) -> Vec<String> {
    match parse(&[Source::new("t.cfg", text)], &mut resolve) {
        Ok(_) => panic!("expected errors"),
        Err(e) => e.iter().map(ToString::to_string).collect(),
    }
}

fn warnings(text: &str) -> Vec<String> {
    let parsed = parsed(text);
    parsed.warnings.iter().map(ToString::to_string).collect()
}

/// `defaults` lines, then a backend `b` with `backend` lines and servers
/// `s1` (with `s1` params) and `s2`.
fn config(defaults: &str, backend: &str, s1: &str) -> String {
    format!(
        "defaults\n mode tcp\n timeout connect 5s\n timeout client 5s\n timeout server 5s\n\
         {defaults}frontend f\n bind 127.0.0.1:8125\n default_backend b\n\
         backend b\n{backend} server s1 127.0.0.1:8124 {s1}\n server s2 127.0.0.1:8123\n"
    )
}

fn source(addr: &str, ports: Option<(u16, u16)>, interface: Option<&str>) -> Option<ConnSource> {
    Some(ConnSource {
        addr: addr.parse::<SocketAddr>().unwrap(),
        ports,
        interface: interface.map(Into::into),
    })
}

/// The `source` of b/s1 and b/s2.
fn sources(text: &str) -> (Option<ConnSource>, Option<ConnSource>) {
    let parsed = parsed(text);
    let servers = &parsed.config.backends[0].servers;
    (servers[0].source.clone(), servers[1].source.clone())
}

#[test]
fn no_source_leaves_the_choice_to_the_kernel() {
    assert_eq!(sources(&config("", "", "")), (None, None));
}

#[test]
fn a_backend_source_applies_to_its_servers_wherever_it_is_written() {
    let want = source("127.0.0.2:0", None, None);
    assert_eq!(
        sources(&config("", " source 127.0.0.2\n", "")),
        (want.clone(), want.clone())
    );
    // After the server lines too: it is the proxy's, read at connect.
    let text = format!("{} source 127.0.0.2\n", config("", "", ""));
    assert_eq!(sources(&text), (want.clone(), want));
}

#[test]
fn the_order_is_server_then_default_server_then_backend_then_defaults() {
    let defaults = " source 127.0.0.5:1000\n";
    assert_eq!(
        sources(&config(defaults, "", "")).1,
        source("127.0.0.5:1000", None, None)
    );
    // The backend's replaces the defaults'.
    let backend = " source 127.0.0.4\n";
    assert_eq!(
        sources(&config(defaults, backend, "")).1,
        source("127.0.0.4:0", None, None)
    );
    // A `default-server` source beats the proxy's; a server's own beats both.
    let backend = " source 127.0.0.4\n default-server source 127.0.0.3\n";
    assert_eq!(
        sources(&config(defaults, backend, "source 127.0.0.2:2000")),
        (
            source("127.0.0.2:2000", None, None),
            source("127.0.0.3:0", None, None)
        )
    );
    // `default-server` in `defaults` too.
    let defaults = " default-server source 127.0.0.6\n";
    assert_eq!(
        sources(&config(defaults, " source 127.0.0.4\n", "")).1,
        source("127.0.0.6:0", None, None)
    );
}

#[test]
fn options_of_source_interface_and_an_ignored_header() {
    let (s1, _) = sources(&config("", "", "source 127.0.0.2 interface lo check"));
    assert_eq!(s1, source("127.0.0.2:0", None, Some("lo")));
    let parsed = parsed(&config("", "", "source 127.0.0.2 interface lo check"));
    assert!(parsed.config.backends[0].servers[0].check);
    // A proxy's `source` starts over: no interface of an earlier one.
    let text = config(
        " source 127.0.0.2 interface lo\n",
        " source 127.0.0.3\n",
        "",
    );
    assert_eq!(sources(&text).1, source("127.0.0.3:0", None, None));
    // A server's keeps the `default-server`'s interface (HAProxy copies it).
    let text = config(
        "",
        " default-server source 127.0.0.2 interface lo\n",
        "source 127.0.0.3",
    );
    assert_eq!(sources(&text).0, source("127.0.0.3:0", None, Some("lo")));
    // A `default-server`'s `source` options end with its line.
    let text = config(
        "",
        " default-server source 127.0.0.2 interface lo\n",
        "usesrc clientip",
    );
    assert_eq!(
        errors(&text),
        ["t.cfg:11: 'usesrc' only allowed after a 'source' statement."]
    );
    // `usesrc hdr_ip()` means nothing in TCP mode: HAProxy's warnings.
    let text = config(
        "",
        " source 127.0.0.2 usesrc hdr_ip(x)\n",
        "source 127.0.0.3 usesrc hdr_ip(y,1)",
    );
    assert_eq!(
        warnings(&text),
        [
            "t.cfg:10: backend 'b' : ignoring use of header x as source IP in non-HTTP mode.",
            "t.cfg:11: backend 'b' : server s1 cannot use header y as source IP in non-HTTP \
             mode."
        ]
    );
}

#[test]
fn port_ranges_are_for_servers_only() {
    let text = config("", "", "source 127.0.0.2:10000-10010");
    assert_eq!(
        sources(&text).0,
        source("127.0.0.2:10000", Some((10000, 10010)), None)
    );
    // A default-server's range is each server's own.
    let text = config("", " default-server source 127.0.0.2:10000-10001\n", "");
    let (s1, s2) = sources(&text);
    assert_eq!(s1, s2);
    assert_eq!(s1.unwrap().ports, Some((10000, 10001)));
    assert_eq!(
        errors(&config("", " source 127.0.0.2:10000-10010\n", "")),
        [
            "t.cfg:10: 'source 127.0.0.2:10000-10010' : port range not permitted here in \
          '127.0.0.2:10000-10010'"
        ]
    );
}

/// HAProxy 2.6.12's messages (`haproxy -c`), on the line.
#[test]
fn mistakes_are_named_with_haproxys_messages() {
    let proxy = |line: &str| errors(&config("", &format!(" {line}\n"), ""));
    let server = |params: &str| errors(&config("", "", params));
    assert_eq!(
        proxy("source"),
        [
            "t.cfg:10: 'source' expects <addr>[:<port>], and optionally 'usesrc' <addr>, and \
          'interface' <name>."
        ]
    );
    assert_eq!(
        proxy("source 127.0.0.2 foo"),
        ["t.cfg:10: 'source' only supports optional keywords 'interface' and 'usesrc'."]
    );
    assert_eq!(
        proxy("source 127.0.0.2 interface"),
        ["t.cfg:10: 'source' : missing interface name."]
    );
    assert_eq!(
        proxy("usesrc clientip"),
        ["t.cfg:10: 'usesrc' only allowed after a 'source' statement."]
    );
    assert_eq!(
        proxy("source ::1"),
        ["t.cfg:10: 'source ::1' : invalid address: ':' in '::1'"]
    );
    assert_eq!(
        server("source 127.0.0.2:x"),
        [
            "t.cfg:10: 'source 127.0.0.2:x' : invalid character 'x' in port number 'x' in \
          '127.0.0.2:x'"
        ]
    );
    assert_eq!(
        server("source 127.0.0.2:1010-1000"),
        ["t.cfg:10: 'source 127.0.0.2:1010-1000' : invalid port range '1010-1000'"]
    );
    assert_eq!(
        server("usesrc client"),
        ["t.cfg:10: 'usesrc' only allowed after a 'source' statement."]
    );
    assert_eq!(
        server("source 127.0.0.2 foo"),
        ["t.cfg:10: unknown keyword 'foo' in server line"]
    );
    // Transparent proxying is refused, with the reason.
    for line in [
        "source 127.0.0.2 usesrc clientip",
        "source 0.0.0.0 usesrc client",
    ] {
        let e = &proxy(line)[0];
        assert!(e.starts_with("t.cfg:10: 'usesrc "), "{e}");
        assert!(e.contains("IP_TRANSPARENT"), "{e}");
        let e = &server(line)[0];
        assert!(e.contains("IP_TRANSPARENT"), "{e}");
    }
    assert!(proxy("source unix@/tmp/s")[0].contains("UNIX socket"));
}

#[test]
fn in_a_frontend_source_is_ignored_with_haproxys_warning() {
    let text = format!(
        "{}frontend g\n bind 127.0.0.1:8126\n source 127.0.0.2\n default_backend b\n",
        config("", "", "")
    );
    assert_eq!(
        warnings(&text),
        ["t.cfg:14: 'source' ignored because frontend 'g' has no backend capability."]
    );
}

#[test]
fn ipv6_and_host_names() {
    assert_eq!(
        sources(&config("", " source ipv6@::1:2000\n", "")).1,
        source("[::1]:2000", None, None)
    );
    assert_eq!(
        sources(&config("", " source [::1]\n", "")).1,
        source("[::1]:0", None, None)
    );
    assert_eq!(
        sources(&config("", " source localhost:7\n", "")).1,
        source("127.0.0.1:7", None, None)
    );
}
