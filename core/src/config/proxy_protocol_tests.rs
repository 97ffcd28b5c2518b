//! The PROXY protocol keywords: `send-proxy*`, `proxy-v2-options`,
//! `check-send-proxy`, `default-server`, `accept-proxy`, `tcp-request`.

use std::net::IpAddr;

use super::{Config, Source, parse};
use crate::proxy_protocol::{V2Options, Version};

fn parsed(text: &str) -> Result<Config, Vec<String>> {
    parse(&[Source::new("t.cfg", text)], &mut |_| {
        Some(IpAddr::from([127, 0, 0, 1]))
    })
    .map(|p| p.config)
    .map_err(|e| e.iter().map(ToString::to_string).collect())
}

fn backend(lines: &str) -> String {
    format!("frontend fe\n bind :80\n default_backend be\nbackend be\n{lines}")
}

/// The (traffic, check) headers of the servers of `lines`.
fn headers(lines: &str) -> Vec<(Option<Version>, Option<Version>)> {
    let config = parsed(&backend(lines)).unwrap_or_else(|e| panic!("{e:?}"));
    let servers = &config.backends[0].servers;
    servers
        .iter()
        .map(|s| (s.send_proxy, s.check_send_proxy))
        .collect()
}

fn errors(lines: &str) -> Vec<String> {
    parsed(&backend(lines)).expect_err("expected errors")
}

const V2: Version = Version::V2(V2Options {
    ssl: false,
    unique_id: false,
    authority: false,
    crc32c: false,
});

#[test]
fn send_proxy_versions_and_their_checks_follow_haproxy() {
    let got = headers(
        " server a 127.0.0.1:1 send-proxy\n\
         \x20server b 127.0.0.1:2 send-proxy-v2 send-proxy\n\
         \x20server c 127.0.0.1:3 send-proxy port 9\n\
         \x20server d 127.0.0.1:4 check-send-proxy\n\
         \x20server e 127.0.0.1:5 send-proxy-v2 no-check-send-proxy\n\
         \x20server f 127.0.0.1:6 send-proxy no-send-proxy\n\
         \x20server g 127.0.0.1:7 send-proxy-v2 port 9 check-send-proxy\n",
    );
    assert_eq!(
        got,
        [
            (Some(Version::V1), Some(Version::V1)),
            (Some(V2), Some(V2)),
            // Checks to another port send nothing unless told to.
            (Some(Version::V1), None),
            (None, Some(Version::V1)),
            (Some(V2), None),
            (None, None),
            (Some(V2), Some(V2)),
        ]
    );
}

#[test]
fn proxy_v2_options_are_read_and_the_client_tls_ones_refused() {
    let got = headers(
        " server a 127.0.0.1:1 send-proxy-v2 proxy-v2-options ssl,unique-id,authority,crc32c\n\
         \x20server b 127.0.0.1:2 send-proxy-v2-ssl\n",
    );
    let all = V2Options {
        ssl: true,
        unique_id: true,
        authority: true,
        crc32c: true,
    };
    let ssl = V2Options {
        ssl: true,
        ..V2Options::default()
    };
    assert_eq!(got[0].0, Some(Version::V2(all)));
    assert_eq!(got[1].0, Some(Version::V2(ssl)));
    let refused = errors(" server a 127.0.0.1:1 send-proxy-v2 proxy-v2-options ssl,cert-cn\n");
    assert!(refused[0].starts_with("t.cfg:5: 'proxy-v2-options cert-cn' is not supported"));
    assert!(refused[0].contains("without terminating it"));
    let unknown = errors(" server a 127.0.0.1:1 send-proxy-v2 proxy-v2-options frob\n");
    assert!(unknown[0].contains("'frob' : proxy v2 option not implemented"));
    let alone = errors(" server a 127.0.0.1:1 proxy-v2-options ssl\n");
    assert!(alone[0].contains("'proxy-v2-options' needs 'send-proxy-v2'"));
}

#[test]
fn default_server_gives_parameters_that_a_server_overrides() {
    let text = "defaults\n mode tcp\n default-server send-proxy-v2 inter 3s\n\
        frontend fe\n bind :80\n default_backend be\n\
        backend be\n server a 127.0.0.1:1\n default-server send-proxy\n\
        \x20server b 127.0.0.1:2 no-send-proxy-v2\n server c 127.0.0.1:3 no-send-proxy\n";
    let config = parsed(text).unwrap_or_else(|e| panic!("{e:?}"));
    let servers = &config.backends[0].servers;
    let got: Vec<_> = servers
        .iter()
        .map(|s| (s.send_proxy, s.inter.as_secs()))
        .collect();
    assert_eq!(got, [(Some(V2), 3), (Some(Version::V1), 3), (Some(V2), 3)]);
    let bad = parsed(&backend(" default-server frob\n server a 127.0.0.1:1\n"));
    assert_eq!(
        bad.expect_err("an error"),
        ["t.cfg:5: unknown keyword 'frob' in server line"]
    );
}

#[test]
fn accept_proxy_is_a_bind_option() {
    let config = parsed(&backend(" server a 127.0.0.1:1\n").replace(":80\n", ":80 accept-proxy\n"))
        .unwrap_or_else(|e| panic!("{e:?}"));
    assert!(config.frontends[0].binds[0].accept_proxy);
    let config = parsed(&backend(" server a 127.0.0.1:1\n")).unwrap();
    assert!(!config.frontends[0].binds[0].accept_proxy);
}

#[test]
fn tcp_request_expect_proxy_points_to_accept_proxy() {
    let text = backend(" server a 127.0.0.1:1\n").replace(
        " bind :80\n",
        " bind :80\n tcp-request connection expect-proxy layer4\n",
    );
    let errors = parsed(&text).expect_err("refused");
    assert!(errors[0].starts_with("t.cfg:3: 'tcp-request connection expect-proxy'"));
    assert!(errors[0].contains("'accept-proxy' on the 'bind' line"));
}
