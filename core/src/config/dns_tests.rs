//! `resolvers` sections, the DNS keywords of servers and
//! `server-template`, with HAProxy 2.6's defaults and messages.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use super::dns::{Family, Hold, Net};
use super::{Config, Source, parse};

fn parsed(text: &str) -> Result<Config, Vec<String>> {
    // libc knows gw.test only.
    parse(&[Source::new("t.cfg", text)], &mut |host| {
        (host == "gw.test").then(|| IpAddr::from([10, 0, 0, 1]))
    })
    .map(|p| p.config)
    .map_err(|e| e.iter().map(ToString::to_string).collect())
}

fn with(resolvers: &str, servers: &str) -> String {
    format!("{resolvers}frontend fe\n bind :80\n default_backend be\nbackend be\n{servers}")
}

const DNS: &str = "resolvers dns\n nameserver ns1 127.0.0.1:5353\n";

fn errors(resolvers: &str, servers: &str) -> Vec<String> {
    parsed(&with(resolvers, servers)).expect_err("expected errors")
}

#[test]
fn a_section_takes_haproxys_defaults_and_its_settings() {
    let c = parsed(&with(DNS, " server s gw.test:80\n")).unwrap();
    let r = &c.global.resolvers[0];
    assert_eq!(r.name, "dns");
    assert_eq!(
        r.nameservers[0].addr,
        SocketAddr::from(([127, 0, 0, 1], 5353))
    );
    assert_eq!((r.payload_size, r.retries), (512, 3));
    assert_eq!(
        (r.timeout_resolve, r.timeout_retry),
        (Duration::from_secs(1), Duration::from_secs(1))
    );
    assert_eq!(r.hold, Hold::default());
    assert_eq!(r.hold.valid, Duration::from_secs(10));
    assert_eq!(r.hold.nx, Duration::from_secs(30));
    assert_eq!(r.hold.obsolete, Duration::ZERO);
    let text = "resolvers dns\n nameserver ns1 udp@127.0.0.1:53\n nameserver ns2 [::1]:53\n\
                accepted_payload_size 1232\n resolve_retries 5\n timeout resolve 2s\n\
                timeout retry 300ms\n hold nx 1s\n hold other 2s\n hold refused 3s\n\
                hold timeout 4s\n hold valid 5s\n hold obsolete 6s\n";
    let c = parsed(&with(text, " server s gw.test:80\n")).unwrap();
    let r = &c.global.resolvers[0];
    assert_eq!(r.nameservers[1].addr, "[::1]:53".parse().unwrap());
    assert_eq!((r.payload_size, r.retries), (1232, 5));
    assert_eq!(r.timeout_retry, Duration::from_millis(300));
    let h = r.hold;
    let secs = |n| Duration::from_secs(n);
    assert_eq!(
        (h.nx, h.other, h.refused, h.timeout, h.valid, h.obsolete),
        (secs(1), secs(2), secs(3), secs(4), secs(5), secs(6))
    );
}

#[test]
fn bad_section_lines_get_haproxys_messages_and_tcp_is_refused() {
    let text = "resolvers dns\n nameserver ns1 tcp@127.0.0.1:53\n nameserver ns2 127.0.0.1\n\
                accepted_payload_size 10\n timeout foo 1s\n hold bar 1s\n bogus 1\n\
                parse-resolv-conf\nresolvers dns\n";
    let e = errors(text, " server s 127.0.0.1:80\n");
    assert_eq!(e.len(), 8, "{e:?}");
    assert!(e[0].starts_with(
        "t.cfg:2: 'nameserver ns1' : 'tcp@127.0.0.1:53': DNS over TCP is not supported"
    ));
    assert_eq!(
        e[1],
        "t.cfg:3: 'nameserver ns2' : missing port specification in '127.0.0.1'"
    );
    assert_eq!(
        e[2],
        "t.cfg:4: 'accepted_payload_size' must be between 12 and 65535 inclusive (was 10)."
    );
    assert_eq!(
        e[3],
        "t.cfg:5: 'timeout' expects 'retry' or 'resolve' and <time> as arguments got 'foo'."
    );
    assert_eq!(
        e[4],
        "t.cfg:6: 'hold' unknown <event>: 'bar', expects either 'nx', 'timeout', 'valid', 'obsolete' or 'other'."
    );
    assert_eq!(
        e[5],
        "t.cfg:7: unknown keyword 'bogus' in 'resolvers' section"
    );
    assert!(e[6].starts_with("t.cfg:8: 'parse-resolv-conf' is not supported yet"));
    assert_eq!(
        e[7],
        "t.cfg:9: resolvers 'dns' has same name as another resolvers (declared at t.cfg:1)."
    );
}

#[test]
fn server_keywords_set_the_dns_of_a_server_given_by_name() {
    let c = parsed(&with(
        DNS,
        " default-server resolvers dns init-addr none\n\
         server s1 gw.test:80 resolve-prefer ipv4 resolve-net 10.0.0.0/8,fd00::/8 resolve-opts allow-dup-ip,ignore-weight\n\
         server s2 other.test:80\n server s3 127.0.0.2:80\n",
    ))
    .unwrap();
    let servers = &c.backends[0].servers;
    let host = servers[0].host.as_ref().unwrap();
    let dns = host.dns.as_ref().unwrap();
    assert_eq!(
        (dns.resolvers.as_str(), dns.prefer, dns.allow_dup_ip),
        ("dns", Family::V4, true)
    );
    assert_eq!(
        dns.nets[0],
        Net {
            addr: IpAddr::from([10, 0, 0, 0]),
            prefix: 8
        }
    );
    assert!(dns.nets[1].contains("fd00::1".parse().unwrap()));
    assert!(!dns.nets[0].contains(IpAddr::from([11, 0, 0, 1])));
    // init-addr none: no address, maintenance until resolved.
    assert!(host.unresolved);
    assert!(servers[0].addr.ip().is_unspecified());
    let s2 = servers[1].host.as_ref().unwrap();
    assert_eq!(
        s2.dns.as_ref().unwrap().prefer,
        Family::V6,
        "ipv6 by default"
    );
    assert!(servers[2].host.is_none(), "an IP address needs no DNS");
}

#[test]
fn init_addr_methods_go_in_order() {
    let server = |params: &str| {
        let c = parsed(&with(DNS, &format!(" server s {params}\n"))).unwrap();
        c.backends[0].servers[0].clone()
    };
    // libc first (default last,libc,none with resolvers).
    let s = server("gw.test:80 resolvers dns");
    assert_eq!(s.addr.ip(), IpAddr::from([10, 0, 0, 1]));
    assert!(s.host.as_ref().unwrap().last_first);
    // Unknown to libc: none, in maintenance.
    let s = server("other.test:80 resolvers dns");
    assert!(s.host.as_ref().unwrap().unresolved);
    let s = server("other.test:80 resolvers dns init-addr libc,192.0.2.7");
    assert_eq!(s.addr.ip(), IpAddr::from([192, 0, 2, 7]));
    assert!(!s.host.as_ref().unwrap().last_first);
    // Without resolvers: last,libc, and an error when libc fails.
    assert_eq!(
        errors(DNS, " server s other.test:80\n"),
        ["t.cfg:7: 'server be/s' : could not resolve address 'other.test'."]
    );
}

#[test]
fn bad_server_keywords_and_references_are_errors() {
    let e = errors(
        DNS,
        " server s1 gw.test:80 resolvers nodns\n server s2 gw.test:80 resolve-prefer ipv5\n\
         server s3 gw.test:80 resolve-net 10.0.0.0/33\n server s4 gw.test:80 resolve-opts foo\n\
         server s5 gw.test:80 init-addr foo\n server s6 gw.test:80 init-addr 1.2.3.4,5.6.7.8\n\
         server s7 _http._tcp.gw.test:80 resolvers dns\n",
    );
    assert_eq!(
        e,
        [
            "t.cfg:8: 'resolve-prefer' expects either ipv4 or ipv6 as argument.",
            "t.cfg:9: 'resolve-net' invalid network '10.0.0.0/33'.",
            "t.cfg:10: 'resolve-opts' : unknown resolve-opts option 'foo', supported methods are 'allow-dup-ip', 'ignore-weight', and 'prevent-dup-ip'.",
            "t.cfg:11: 'init-addr' : unknown init-addr method 'foo', supported methods are 'libc', 'last', 'none'.",
            "t.cfg:12: 'init-addr' : initial address already specified, cannot add '5.6.7.8'.",
            "t.cfg:13: 'server be/s7' : '_http._tcp.gw.test': SRV records are not supported yet: give the host name of the servers (A/AAAA records)",
            "t.cfg:7: backend 'be', server 's1': unable to find required resolvers 'nodns'",
        ]
    );
}

#[test]
fn server_template_makes_numbered_servers() {
    let c = parsed(&with(
        DNS,
        " server-template web 3 gw.test:80 resolvers dns check\n server-template api 5-6 gw.test:81\n",
    ))
    .unwrap();
    let names: Vec<&str> = c.backends[0]
        .servers
        .iter()
        .map(|s| s.name.as_str())
        .collect();
    assert_eq!(names, ["web1", "web2", "web3", "api5", "api6"]);
    assert!(
        c.backends[0]
            .servers
            .iter()
            .take(3)
            .all(|s| s.check && s.host.as_ref().unwrap().dns.is_some())
    );
    let e = errors(
        DNS,
        " server-template a 0 gw.test:80\n server-template b x gw.test:80\n server-template c 3\n\
         server-template d 3 gw.test:80 bogus\n server d2 127.0.0.1:1\n server-template d 2 gw.test:80\n",
    );
    assert_eq!(
        e,
        [
            "t.cfg:7: Wrong server-template number or range arg '0'.",
            "t.cfg:8: Wrong server-template number or range arg 'x'.",
            "t.cfg:9: 'server-template' expects <prefix> <nb | range> <addr>[:<port>] as arguments.",
            "t.cfg:10: unknown keyword 'bogus' in server line",
            "t.cfg:12: backend 'be', another server named 'd2' was already defined at line 11, please use distinct names.",
        ]
    );
}

#[test]
fn a_section_without_nameserver_warns_and_other_sections_give_one_error() {
    let text = with("resolvers empty\n", " server s 127.0.0.1:80\n");
    let parsed = parse(&[Source::new("t.cfg", &text)], &mut |_| None).unwrap();
    assert_eq!(
        parsed.warnings[0].to_string(),
        "t.cfg:1: resolvers 'empty' has no nameservers configured!"
    );
    let e = errors(
        "peers p\n peer a 127.0.0.1:1\n peer b 127.0.0.1:2\n",
        " server s 127.0.0.1:80\n",
    );
    assert_eq!(e, ["t.cfg:1: 'peers' is not supported yet"]);
}

#[test]
fn a_name_libc_cannot_resolve_warns_as_haproxy() {
    let text = with(
        DNS,
        " server s1 other.test:80 resolvers dns\n server s2 other.test:80 init-addr libc,10.0.0.5\n",
    );
    let parsed = parse(&[Source::new("t.cfg", &text)], &mut |_| None).unwrap();
    let warnings: Vec<String> = parsed.warnings.iter().map(ToString::to_string).collect();
    assert_eq!(
        warnings[..2],
        [
            "t.cfg:7: 'server be/s1' : could not resolve address 'other.test', disabling server.",
            "t.cfg:8: 'server be/s2' : could not resolve address 'other.test', falling back to \
             configured address."
        ]
    );
}
