//! The parser, statement by statement: what is accepted, what is refused
//! and with which words.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use super::{
    Balance, Config, Diagnostic, HashType, HealthCheck, HttpExpect, LogDest, LogFormat, OnError,
    Parsed, Severity, Source, parse,
};

const SEED_BASIC: &str = include_str!("../../../examples/seed-basic.cfg");
const SEED_HTTPCHK: &str = include_str!("../../../examples/seed-httpchk.cfg");
const BASIC: &str = include_str!("../../../examples/basic.cfg");

fn parse_files(files: &[(&str, &str)]) -> Result<Parsed, Vec<Diagnostic>> {
    let sources: Vec<Source<'_>> = files
        .iter()
        .map(|&(name, text)| Source::new(name, text))
        .collect();
    parse(&sources, &mut |name| {
        (name == "gw1.example").then(|| IpAddr::from([10, 0, 0, 7]))
    })
}

fn ok(text: &str) -> Parsed {
    parse_files(&[("t.cfg", text)]).unwrap_or_else(|e| panic!("{e:?}"))
}

fn config(text: &str) -> Config {
    ok(text).config
}

/// Every error message, as shown, for a file of raw bytes.
fn byte_errors(text: &[u8]) -> Vec<String> {
    match parse(&[Source::new("t.cfg", text)], &mut |_| None) {
        Ok(_) => panic!("expected errors"),
        Err(errors) => errors.iter().map(ToString::to_string).collect(),
    }
}

/// Every error message, as `haproxy -c` would list them.
fn errors(text: &str) -> Vec<String> {
    match parse_files(&[("t.cfg", text)]) {
        Ok(_) => panic!("expected errors"),
        Err(errors) => errors.iter().map(ToString::to_string).collect(),
    }
}

const MINIMAL: &str =
    "frontend fe\n bind :80\n default_backend be\nbackend be\n server s1 127.0.0.1:8080\n";

#[test]
fn the_seed_configuration_parses_with_haproxys_warnings() {
    let parsed = ok(SEED_BASIC);
    let fe = &parsed.config.frontends[0];
    assert_eq!(fe.name, "localnodes");
    let ports: Vec<u16> = fe.binds.iter().map(|b| b.addr.port()).collect();
    assert_eq!(ports, [9091, 443]);
    assert!(fe.tcplog && fe.logs.is_empty());
    let be = &parsed.config.backends[0];
    assert_eq!(be.servers.len(), 2);
    assert!(be.servers.iter().all(|s| s.check));
    assert_eq!(be.timeout_connect, Some(Duration::from_secs(5)));
    let warnings: Vec<String> = parsed.warnings.iter().map(ToString::to_string).collect();
    assert!(warnings[0].starts_with("t.cfg:6: missing timeouts for frontend 'localnodes'."));
    assert_eq!(
        warnings[1],
        "t.cfg:6: log format ignored for frontend 'localnodes' since it has no log address."
    );
    assert!(warnings[2].starts_with("t.cfg:12: missing timeouts for backend 'app'."));
    assert!(warnings[2].contains("weir applies 'timeout connect 5s'"));
}

#[test]
fn the_seed_https_check_variant_parses_with_ssl_for_traffic_and_checks() {
    let parsed = ok(SEED_HTTPCHK);
    let server = &parsed.config.backends[0].servers[0];
    assert!(server.tls.is_some() && server.check_tls.is_some());
    assert_eq!(
        server.tls.as_ref().unwrap().ca_file.as_deref(),
        Some("/etc/weir/ca.pem")
    );
    assert!(matches!(
        parsed.config.backends[0].health_check,
        HealthCheck::Http { .. }
    ));
    let notes: Vec<String> = parsed.warnings.iter().map(ToString::to_string).collect();
    assert!(
        notes
            .iter()
            .any(|n| n.starts_with("t.cfg:17: note: server 'app/app1' uses 'ssl'")),
        "{notes:?}"
    );
}

#[test]
fn the_basic_example_is_complete() {
    let parsed = ok(BASIC);
    assert!(parsed.warnings.is_empty(), "{:?}", parsed.warnings);
    let c = parsed.config;
    assert_eq!(c.global.logs[0].dest, LogDest::Stdout);
    assert_eq!(c.global.logs[0].format, LogFormat::Raw);
    assert_eq!(c.frontends[0].logs.len(), 1, "log global expanded");
    let s = &c.backends[0].servers[0];
    assert_eq!((s.inter, s.rise, s.fall), (Duration::from_secs(1), 2, 3));
}

#[test]
fn unknown_words_get_a_did_you_mean() {
    let text = MINIMAL.replace("127.0.0.1:8080", "127.0.0.1:8080 chek");
    assert_eq!(
        errors(&text),
        ["t.cfg:5: unknown keyword 'chek' in server line (did you mean 'check'?)"]
    );
    let text = format!("{MINIMAL} tiemout server 1s\n");
    assert_eq!(
        errors(&text),
        ["t.cfg:6: unknown keyword 'tiemout' in 'backend' section (did you mean 'timeout'?)"]
    );
    assert_eq!(
        errors(&format!("{MINIMAL} frobnicate\n")),
        ["t.cfg:6: unknown keyword 'frobnicate' in 'backend' section"]
    );
}

#[test]
fn known_haproxy_keywords_are_not_supported_yet() {
    let text = format!(
        "{MINIMAL} external-check\n option socket-stats\n balance uri\n timeout tarpit 1s\n"
    );
    assert_eq!(
        errors(&text),
        [
            "t.cfg:6: 'external-check' is not supported yet",
            "t.cfg:7: 'option socket-stats' is not supported yet",
            "t.cfg:8: 'balance uri' is not supported yet",
            "t.cfg:9: 'timeout tarpit' is not supported yet",
        ]
    );
    assert_eq!(
        errors(&format!("peers mine\n peer a 127.0.0.1:1\n{MINIMAL}")),
        ["t.cfg:1: 'peers' is not supported yet"]
    );
}

#[test]
fn use_backend_rules_that_always_apply_pick_the_backend() {
    let two = "backend b1\n server s1 127.0.0.1:1\nbackend b2\n server s2 127.0.0.1:2\n";
    let backend = |rules: &str| {
        let c = config(&format!("frontend fe\n bind :80\n{rules}{two}"));
        c.frontends[0]
            .default_backend
            .map(|i| c.backends[i].name.clone())
    };
    assert_eq!(
        backend(" use_backend b1\n default_backend b2\n").as_deref(),
        Some("b1")
    );
    assert_eq!(
        backend(" default_backend b2\n use_backend b1\n").as_deref(),
        Some("b1")
    );
    assert_eq!(
        backend(" use_backend b1 if FALSE\n use_backend b2 unless FALSE\n").as_deref(),
        Some("b2")
    );
    assert_eq!(
        backend(" use_backend b2 unless TRUE\n default_backend b1\n").as_deref(),
        Some("b1")
    );
    // HAProxy 2.6's messages.
    let text = format!(
        "defaults\n use_backend b1\nfrontend fe\n bind :80\n use_backend nope if FALSE\n \
         use_backend b1 foo\n use_backend b1 if {{ src 10.0.0.0/8 }}\n use_backend b%[src]\n{two}"
    );
    assert_eq!(
        errors(&text),
        [
            "t.cfg:2: 'use_backend' not allowed in 'defaults' section.",
            "t.cfg:6: unexpected keyword 'foo' after switching rule, only 'if' and 'unless' are \
             allowed.",
            "t.cfg:7: 'use_backend ... if { src 10.0.0.0/8 }': weir has no ACLs; a switching \
             rule takes no condition, or 'if TRUE' / 'if FALSE' (use one frontend per backend \
             instead)",
            "t.cfg:8: 'use_backend b%[src]': dynamic backend names are not supported (weir has \
             no sample fetches); name the backend",
            "t.cfg:5: Proxy 'fe': unable to find required use_backend: 'nope'.",
        ]
    );
}

#[test]
fn mode_http_from_defaults_makes_tcp_proxies_an_error() {
    assert_eq!(
        errors(&format!("defaults\n mode http\n{MINIMAL}")),
        [
            "t.cfg:3: frontend 'fe' is in 'mode http' (from the defaults at t.cfg:2) with a \
             'default_backend': weir is a layer-4 balancer: mode http is accepted only for a \
             stats/metrics frontend; set 'mode tcp' to proxy TCP",
            "t.cfg:6: backend 'be' is in 'mode http' (from the defaults at t.cfg:2) with servers \
             to proxy to: weir is a layer-4 balancer: mode http is accepted only for a \
             stats/metrics frontend; set 'mode tcp' to proxy TCP"
        ]
    );
    assert_eq!(
        errors(&format!("{MINIMAL} mode health\n")),
        [
            "t.cfg:6: 'mode health': weir is a layer-4 balancer: only 'mode tcp' is supported, \
             and 'mode http' for a frontend serving only metrics or the stats page"
        ]
    );
}

#[test]
fn global_keywords() {
    let c = config(&format!(
        "global\n maxconn 100\n spread-checks 5\n nbthread 1\n log stderr len 200 format short local3 notice err\n{MINIMAL}"
    ));
    assert_eq!((c.global.maxconn, c.global.spread_checks), (Some(100), 5));
    assert_eq!(c.global.nbthread, Some(1));
    assert_eq!(
        config(&format!("global\n nbthread 4\n{MINIMAL}"))
            .global
            .nbthread,
        Some(4)
    );
    let e = errors(&format!(
        "global\n cpu-map 1 0\n thread-groups 2\n{MINIMAL}"
    ));
    assert!(e[0].starts_with("t.cfg:2: 'cpu-map' is not supported: weir does not pin"));
    assert!(e[1].starts_with("t.cfg:3: 'thread-groups' is not supported"));
    let log = &c.global.logs[0];
    assert_eq!(
        (log.dest.clone(), log.format, log.len),
        (LogDest::Stderr, LogFormat::Short, 200)
    );
    assert_eq!(
        (log.facility, log.max_level, log.min_level),
        (19, Severity::Notice, Severity::Err)
    );
    let e = errors(&format!(
        "global\n daemon now\n nbthread 65\n log ring@buf local0\n{MINIMAL}"
    ));
    assert_eq!(e[0], "t.cfg:2: 'daemon' expects no argument");
    assert_eq!(
        e[1],
        "t.cfg:3: 'nbthread' expects a number of event loops from 1 to 64"
    );
    assert_eq!(
        e[2],
        "t.cfg:4: log: log target 'ring@buf': ring buffers ('ring@') are not supported yet; \
         log to a UNIX socket such as /dev/log or to udp@host:port"
    );
}

#[test]
fn process_keywords_are_kept_for_the_driver() {
    use super::{Account, Origin, Process};
    let c = config(&format!(
        "global\n daemon\n quiet\n pidfile /run/weir.pid\n user weir\n gid 42\n \
         chroot /var/empty\n ulimit-n 65536\n node gw-1.dc_2\n description the  edge   box\n\
         {MINIMAL}"
    ));
    let at = |line| Origin {
        file: "t.cfg".into(),
        line,
    };
    assert_eq!(
        c.global.process,
        Process {
            daemon: true,
            quiet: true,
            pidfile: Some("/run/weir.pid".into()),
            user: Some((Account::Name("weir".into()), at(5))),
            group: Some((Account::Id(42), at(6))),
            chroot: Some(("/var/empty".into(), at(7))),
            ulimit_n: Some((65536, at(8))),
            node: Some("gw-1.dc_2".into()),
            description: Some("the edge box".into()),
        }
    );
    let c = config(&format!("global\n uid 0\n group nogroup\n{MINIMAL}"));
    assert_eq!(c.global.process.user.unwrap().0, Account::Id(0));
    assert_eq!(
        c.global.process.group.unwrap().0,
        Account::Name("nogroup".into())
    );
}

#[test]
fn bad_process_keywords_name_their_line() {
    let e = errors(&format!(
        "global\n uid abc\n gid\n user\n chroot\n pidfile\n ulimit-n many\n \
         node a/b\n description\n pidfile a b\n{MINIMAL}"
    ));
    assert_eq!(
        e,
        [
            "t.cfg:2: uid: string 'abc' is not a number (use the 'user' keyword for a system \
             user name)",
            "t.cfg:3: 'gid' expects an integer argument.",
            "t.cfg:4: 'user' expects a user name",
            "t.cfg:5: 'chroot' expects a directory as an argument.",
            "t.cfg:6: 'pidfile' expects a file name as an argument.",
            "t.cfg:7: 'ulimit-n' expects a number of file descriptors, such as 65536",
            "t.cfg:8: 'node' requires valid node name - non-empty string with digits(0-9), \
             letters(A-Z, a-z), dot(.), hyphen(-) or underscode(_).",
            "t.cfg:9: 'description' expects a string argument.",
            "t.cfg:10: 'pidfile' expects one argument",
        ]
    );
    let w = warnings(&format!(
        "global\n user a\n uid 3\n chroot /a\n chroot /b\n{MINIMAL}"
    ));
    assert_eq!(
        w[..2],
        [
            "t.cfg:3: user/uid already specified. Continuing.",
            "t.cfg:5: 'chroot' already specified. Continuing.",
        ]
    );
    let e = errors(&format!("global\n pidfle /a\n{MINIMAL}"));
    assert_eq!(
        e,
        ["t.cfg:2: unknown keyword 'pidfle' in 'global' section (did you mean 'pidfile'?)"]
    );
}

#[test]
fn bind_addresses_follow_haproxy() {
    let c = config(
        "frontend fe\n bind *:80,127.0.0.1:81\n bind [::1]:82\n bind :::83\n bind :84-86\n \
         bind ipv6@:87\n default_backend be\nbackend be\n server s 127.0.0.1:1\n",
    );
    let addrs: Vec<String> = c.frontends[0]
        .binds
        .iter()
        .map(|b| b.addr.to_string())
        .collect();
    assert_eq!(
        addrs,
        [
            "0.0.0.0:80",
            "127.0.0.1:81",
            "[::1]:82",
            "[::]:83",
            "0.0.0.0:84",
            "0.0.0.0:85",
            "0.0.0.0:86",
            "[::]:87"
        ]
    );
    let e = errors(&MINIMAL.replace("bind :80", "bind :0\n bind :70000\n bind :80 ssl"));
    assert_eq!(
        e,
        [
            "t.cfg:2: 'bind :0': invalid port '0'",
            "t.cfg:3: 'bind :70000': invalid port '70000'",
            "t.cfg:4: bind option 'ssl' is not supported: weir terminates no TLS, it passes the \
             clients' TLS to the servers untouched (remove 'ssl' and the certificate options; \
             weir checks servers with 'check-ssl')",
        ]
    );
}

#[test]
fn server_parameters_and_their_limits() {
    let c = config(&MINIMAL.replace(
        "127.0.0.1:8080",
        "gw1.example:4459 check inter 500ms rise 3 fall 4 weight 7 port 9000 disabled \
         fastinter 100ms downinter 5s",
    ));
    let s = &c.backends[0].servers[0];
    assert_eq!(s.addr, SocketAddr::from(([10, 0, 0, 7], 4459)));
    assert!(s.check && s.disabled);
    assert_eq!(
        (s.inter, s.rise, s.fall, s.weight),
        (Duration::from_millis(500), 3, 4, 7)
    );
    assert_eq!(s.check_addr().port(), 9000);
    assert_eq!(s.fastinter, Some(Duration::from_millis(100)));
    assert_eq!(s.downinter, Some(Duration::from_secs(5)));
    let c = config(&MINIMAL.replace("127.0.0.1:8080", "[::1]:80"));
    assert_eq!(c.backends[0].servers[0].addr.to_string(), "[::1]:80");
    let e = errors(&MINIMAL.replace(
        "127.0.0.1:8080",
        "127.0.0.1:1 inter 0 rise 0 weight 300\n server s2 nowhere.invalid:80\n server s3 127.0.0.1",
    ));
    assert_eq!(
        e,
        [
            // HAProxy stops reading a server line at its first error.
            "t.cfg:5: invalid value 0 for argument 'inter'",
            "t.cfg:6: 'server be/s2' : could not resolve address 'nowhere.invalid'.",
            "t.cfg:7: server 's3' needs a port: port-less servers are not supported yet",
        ]
    );
}

#[test]
fn references_and_names_are_validated() {
    let e = errors(&format!(
        "{MINIMAL} server s1 127.0.0.1:2\nfrontend fe\n bind :1\n default_backend nope\n"
    ));
    assert_eq!(
        e,
        [
            "t.cfg:6: backend 'be', another server named 's1' was already defined at line 5, \
             please use distinct names.",
            "t.cfg:7: frontend 'fe' has the same name as frontend 'fe' declared at t.cfg:1.",
            "t.cfg:9: Proxy 'fe': unable to find required default_backend: 'nope'.",
        ]
    );
    assert_eq!(
        errors("backend be\n server s 127.0.0.1:1\n"),
        [
            "no listener: no 'frontend' or 'listen' section with a 'bind' line, and no 'stats \
             socket', in t.cfg"
        ]
    );
    // HAProxy starts with only a stats socket to listen on: its checks run.
    ok("global\n stats socket 127.0.0.1:9999\nbackend be\n server s 127.0.0.1:1 check\n");
}

#[test]
fn a_configuration_without_statements_names_its_files() {
    for text in ["", "# only\n\n   # comments\n"] {
        assert_eq!(
            errors(text),
            [
                "no listener: t.cfg holds no statement (empty, or only comments); weir needs a \
              'frontend' or 'listen' section with a 'bind' line, or a 'stats socket'"
            ]
        );
    }
    let e = parse_files(&[("a.cfg", ""), ("b.cfg", "# nothing\n")]).unwrap_err();
    assert_eq!(
        e[0].to_string(),
        "no listener: a.cfg, b.cfg hold no statement (empty, or only comments); weir needs a \
         'frontend' or 'listen' section with a 'bind' line, or a 'stats socket'"
    );
    let e = parse_files(&[("a.cfg", "global\n"), ("b.cfg", "frontend fe\n")]).unwrap_err();
    assert_eq!(
        e[0].to_string(),
        "no listener: no 'frontend' or 'listen' section with a 'bind' line, and no 'stats \
         socket', in a.cfg, b.cfg"
    );
}

#[test]
fn two_binds_of_one_address_and_port_are_refused_with_both_lines() {
    let e = parse_files(&[
        ("a.cfg", MINIMAL),
        ("b.cfg", "frontend fe2\n bind :80\n default_backend be\n"),
    ])
    .unwrap_err();
    let e: Vec<String> = e.iter().map(ToString::to_string).collect();
    assert_eq!(
        e,
        [
            "b.cfg:2: frontend 'fe2': cannot listen on 0.0.0.0:80: frontend 'fe' already listens \
          on 0.0.0.0:80 (a.cfg:2); one address and port takes one 'bind' line"
        ]
    );
    // The IPv4 wildcard covers every IPv4 address, in either order, and an
    // IPv4-mapped IPv6 address is its IPv4 address; a port range counts.
    let e = errors(&MINIMAL.replace(
        "bind :80",
        "bind 127.0.0.1:80\n bind [::ffff:127.0.0.2]:81\n bind *:79-81\n bind ::1:82,::1:82",
    ));
    assert_eq!(
        e,
        [
            "t.cfg:4: frontend 'fe': cannot listen on 0.0.0.0:80: frontend 'fe' already \
             listens on 127.0.0.1:80 (t.cfg:2); one address and port takes one 'bind' line",
            "t.cfg:4: frontend 'fe': cannot listen on 0.0.0.0:81: frontend 'fe' already \
             listens on [::ffff:127.0.0.2]:81 (t.cfg:3); one address and port takes one \
             'bind' line",
            "t.cfg:5: frontend 'fe': cannot listen on [::1]:82: frontend 'fe' already \
             listens on [::1]:82 (t.cfg:5); one address and port takes one 'bind' line",
        ]
    );
    // Distinct addresses, or distinct ports, are fine.
    config(&MINIMAL.replace(
        "bind :80",
        "bind 127.0.0.1:80\n bind 127.0.0.2:80\n bind [::1]:80\n bind *:81",
    ));
}

#[test]
fn the_ipv6_wildcard_next_to_ipv4_on_one_port_is_a_warning() {
    let parsed = ok(&MINIMAL.replace("bind :80", "bind :80\n bind :::80"));
    let warnings: Vec<String> = parsed.warnings.iter().map(ToString::to_string).collect();
    assert!(
        warnings.contains(
            &"t.cfg:3: frontend 'fe': listening on [::]:80 while frontend 'fe' already listens \
              on 0.0.0.0:80 (t.cfg:2): [::] takes IPv4 connections too unless \
              net.ipv6.bindv6only=1, and then starting fails with 'Address already in use'"
                .to_owned()
        ),
        "{warnings:?}"
    );
    assert!(errors(&MINIMAL.replace("bind :80", "bind :::80\n bind [::1]:80"))[0]
        .starts_with("t.cfg:3: frontend 'fe': cannot listen on [::1]:80: frontend 'fe' already listens on [::]:80"));
}

#[test]
fn each_defaults_section_resets_and_applies_to_what_follows() {
    let c = config(
        "defaults\n timeout client 1s\n option tcplog\n\
         frontend a\n bind :1\n default_backend be\n\
         defaults\n mode tcp\n\
         frontend b\n bind :2\n default_backend be\n\
         backend be\n server s 127.0.0.1:1\n",
    );
    assert_eq!(c.frontends[0].timeout_client, Some(Duration::from_secs(1)));
    assert!(c.frontends[0].tcplog);
    assert_eq!(c.frontends[1].timeout_client, None);
    assert!(!c.frontends[1].tcplog);
}

#[test]
fn named_defaults_are_chosen_with_from() {
    let c = config(
        "defaults base\n timeout client 7s\n\
         defaults\n timeout client 1s\n\
         listen l from base\n bind :1\n server s 127.0.0.1:1\n",
    );
    assert_eq!(c.frontends[0].timeout_client, Some(Duration::from_secs(7)));
    assert_eq!(
        c.frontends[0].default_backend,
        Some(0),
        "a listen routes to itself"
    );
    assert_eq!(c.backends[0].name, "l");
}

#[test]
fn named_defaults_keep_their_last_line_across_sections_and_files() {
    let parsed = parse_files(&[
        (
            "a.cfg",
            "defaults base\n timeout client 7s\n timeout client 8s\n",
        ),
        (
            "b.cfg",
            "listen l from base\n bind :1\n server s 127.0.0.1:1\n\
             defaults base\n timeout client 9s\npeers dns\n\
             listen m from base\n bind :2\n server s 127.0.0.1:1\n",
        ),
    ]);
    let e = parsed.unwrap_err();
    assert_eq!(e.len(), 1, "{e:?}");
    assert!(e[0].to_string().contains("'peers' is not supported yet"));
    let c = parse_files(&[
        (
            "a.cfg",
            "defaults base\n timeout client 7s\n timeout client 8s\n",
        ),
        (
            "b.cfg",
            "listen l from base\n bind :1\n server s 127.0.0.1:1\n\
             defaults base\n timeout client 9s\n\
             listen m from base\n bind :2\n server s 127.0.0.1:1\n",
        ),
    ])
    .unwrap()
    .config;
    let timeouts: Vec<_> = c.frontends.iter().map(|f| f.timeout_client).collect();
    assert_eq!(
        timeouts,
        [Some(Duration::from_secs(8)), Some(Duration::from_secs(9))]
    );
}

#[test]
fn proxies_override_and_cancel_defaults() {
    let c = config(&format!(
        "global\n log stdout local0\ndefaults\n log global\n option tcplog\n timeout client 1s\n{}",
        MINIMAL.replace(
            "default_backend be",
            "default_backend be\n no option tcplog\n no log\n timeout client 2s"
        )
    ));
    let fe = &c.frontends[0];
    assert!(!fe.tcplog && fe.logs.is_empty());
    assert_eq!(fe.timeout_client, Some(Duration::from_secs(2)));
}

#[test]
fn keywords_outside_their_capability_warn_and_are_ignored() {
    let text = MINIMAL.replace(
        "default_backend be",
        "default_backend be\n timeout connect 1s",
    );
    let parsed = ok(&format!("{text} maxconn 5\n"));
    let warnings: Vec<String> = parsed.warnings.iter().map(ToString::to_string).collect();
    assert!(
        warnings.contains(
            &"t.cfg:4: 'timeout connect' ignored because frontend 'fe' has no backend capability."
                .to_owned()
        )
    );
    assert!(warnings.iter().any(|w| w.starts_with(
        "t.cfg:7: 'maxconn' ignored because backend 'be' has no frontend capability."
    )));
    assert_eq!(
        errors(&format!("{MINIMAL} bind :9\n")),
        ["t.cfg:6: 'bind' is not allowed in a 'backend' section"]
    );
}

#[test]
fn several_files_concatenate_but_sections_do_not_continue() {
    let parsed = parse_files(&[
        ("a.cfg", "frontend fe\n bind :80\n default_backend be\n"),
        ("b.cfg", "backend be\n server s 127.0.0.1:1\n"),
    ])
    .unwrap();
    assert_eq!(parsed.config.backends[0].name, "be");
    let e = parse_files(&[("a.cfg", MINIMAL), ("b.cfg", " server s9 127.0.0.1:1\n")]).unwrap_err();
    assert!(
        e[0].to_string()
            .starts_with("b.cfg:1: unknown keyword 'server' out of section")
    );
}

#[test]
fn lexer_errors_name_the_line() {
    let e = errors(&format!("{MINIMAL} log \"stdout\n"));
    assert_eq!(
        e,
        ["t.cfg:6: unmatched quote at position 6: close it on the same line"]
    );
}

#[test]
fn zero_timeouts_mean_unset() {
    let c = config(&format!("defaults\n timeout client 0\n{MINIMAL}"));
    assert_eq!(c.frontends[0].timeout_client, None);
}

#[test]
fn tunnel_and_half_close_timeouts_go_to_their_side() {
    let c = config(&format!(
        "defaults\n timeout tunnel 1h\n timeout client-fin 5s\n timeout server-fin 6s\n{MINIMAL}"
    ));
    assert_eq!(
        c.frontends[0].timeout_client_fin,
        Some(Duration::from_secs(5))
    );
    let be = &c.backends[0];
    assert_eq!(be.timeout_tunnel, Some(Duration::from_secs(3600)));
    assert_eq!(be.timeout_server_fin, Some(Duration::from_secs(6)));
    let text = MINIMAL.replace(
        "default_backend be",
        "default_backend be\n timeout tunnel 1m\n timeout server-fin 1s",
    );
    let parsed = ok(&format!("{text} timeout client-fin 1s\n"));
    let warnings: Vec<String> = parsed.warnings.iter().map(ToString::to_string).collect();
    for expected in [
        "t.cfg:4: 'timeout tunnel' ignored because frontend 'fe' has no backend capability.",
        "t.cfg:5: 'timeout server-fin' ignored because frontend 'fe' has no backend capability.",
        "t.cfg:8: 'timeout client-fin' ignored because backend 'be' has no frontend capability.",
    ] {
        assert!(warnings.contains(&expected.to_owned()), "{warnings:?}");
    }
}

#[test]
fn tunnel_and_half_close_timeout_errors() {
    let text = format!(
        "{MINIMAL} timeout tunnel\n timeout server-fin 5x\n timeout serverfin 1s\n timeout tunnel 30d\n"
    );
    assert_eq!(
        errors(&text),
        [
            "t.cfg:6: 'timeout tunnel' expects one time value, such as 30s or 5m",
            "t.cfg:7: unexpected character 'x' in 'timeout server-fin' (units are us, ms, s, m, h, d)",
            "t.cfg:8: unknown timeout 'serverfin' (did you mean 'server-fin'?)",
            "t.cfg:9: timer overflow in argument '30d' to 'timeout tunnel' (maximum value is \
             2147483647 ms or ~24.8 days)",
        ]
    );
    let text = MINIMAL.replace(
        "default_backend be",
        "default_backend be\n timeout client-fin",
    );
    assert_eq!(
        errors(&text),
        ["t.cfg:4: 'timeout client-fin' expects one time value, such as 30s or 5m"]
    );
}

#[test]
fn timeout_tunnel_stands_in_for_timeout_server_in_the_missing_timeouts_warning() {
    let parsed = ok(&format!(
        "defaults\n timeout client 1s\n timeout connect 1s\n timeout tunnel 1h\n{MINIMAL}"
    ));
    assert!(parsed.warnings.is_empty(), "{:?}", parsed.warnings);
}

#[test]
fn hard_stop_after() {
    let c = config(&format!("global\n hard-stop-after 30s\n{MINIMAL}"));
    assert_eq!(c.global.hard_stop_after, Some(Duration::from_secs(30)));
    let c = config(&format!("global\n hard-stop-after 0\n{MINIMAL}"));
    assert_eq!(
        c.global.hard_stop_after, None,
        "0 means unset, as in HAProxy"
    );
    assert_eq!(
        errors(&format!(
            "global\n hard-stop-after\n hard-stop-after 1s 2s\n hard-stop-after 5k\n \
             hard-stop-afer 1s\n{MINIMAL}"
        )),
        [
            "t.cfg:2: 'hard-stop-after' expects one time value, such as 30s or 5m",
            "t.cfg:3: 'hard-stop-after' expects one time value, such as 30s or 5m",
            "t.cfg:4: unexpected character 'k' in 'hard-stop-after' (units are us, ms, s, m, h, d)",
            "t.cfg:5: unknown keyword 'hard-stop-afer' in 'global' section (did you mean \
             'hard-stop-after'?)",
        ]
    );
    let e = errors(&format!("{MINIMAL} hard-stop-after 1s\n"));
    assert!(
        e[0].starts_with("t.cfg:6: unknown keyword 'hard-stop-after' in 'backend' section"),
        "{e:?}"
    );
}

#[test]
fn keepalive_and_nolinger_options_per_side() {
    let c = config(&format!(
        "defaults\n option tcpka\n option nolinger\n{MINIMAL}"
    ));
    let (fe, be) = (&c.frontends[0], &c.backends[0]);
    assert!(fe.tcpka && be.tcpka && fe.nolinger && be.nolinger);
    let text = MINIMAL
        .replace(
            "default_backend be",
            "default_backend be\n no option clitcpka\n no option nolinger",
        )
        .replace("backend be", "backend be\n no option srvtcpka");
    let c = config(&format!(
        "defaults\n option tcpka\n option nolinger\n{text}"
    ));
    let (fe, be) = (&c.frontends[0], &c.backends[0]);
    assert!(!fe.tcpka && !be.tcpka && !fe.nolinger && be.nolinger);
    let c = config(&format!("listen l\n bind :81\n option clitcpka\n{MINIMAL}"));
    assert!(c.frontends[0].tcpka && !c.backends[0].tcpka);
    let c = config(&format!("listen l\n bind :81\n option srvtcpka\n{MINIMAL}"));
    assert!(!c.frontends[0].tcpka && c.backends[0].tcpka);
}

#[test]
fn keepalive_options_outside_their_side_warn_and_typos_get_a_hint() {
    let text = MINIMAL.replace("default_backend be", "default_backend be\n option srvtcpka");
    let parsed = ok(&format!("{text} option clitcpka\n"));
    let warnings: Vec<String> = parsed.warnings.iter().map(ToString::to_string).collect();
    for expected in [
        "t.cfg:4: 'option srvtcpka' ignored because frontend 'fe' has no backend capability.",
        "t.cfg:7: 'option clitcpka' ignored because backend 'be' has no frontend capability.",
    ] {
        assert!(warnings.contains(&expected.to_owned()), "{warnings:?}");
    }
    assert!(!parsed.config.frontends[0].tcpka && !parsed.config.backends[0].tcpka);
    assert_eq!(
        errors(&format!("{MINIMAL} option nolinguer\n option srvtcpk\n")),
        [
            "t.cfg:6: unknown option 'nolinguer' (did you mean 'nolinger'?)",
            "t.cfg:7: unknown option 'srvtcpk' (did you mean 'srvtcpka'?)",
        ]
    );
}

fn http_check(text: &str) -> HealthCheck {
    config(text).backends[0].health_check.clone()
}

#[test]
fn option_httpchk_old_syntax_builds_the_request() {
    let check = |line: &str| http_check(&format!("{MINIMAL} {line}\n"));
    let request = |c: HealthCheck| match c {
        HealthCheck::Http(http) => String::from_utf8(http.request().to_vec()).unwrap(),
        other => panic!("{other:?}"),
    };
    assert_eq!(
        request(check("option httpchk")),
        "OPTIONS / HTTP/1.0\r\n\r\n"
    );
    assert_eq!(
        request(check("option httpchk /ping")),
        "OPTIONS /ping HTTP/1.0\r\n\r\n"
    );
    assert_eq!(
        request(check("option httpchk GET /healthcheck")),
        "GET /healthcheck HTTP/1.0\r\n\r\n"
    );
    assert_eq!(
        request(check(r"option httpchk GET / HTTP/1.1\r\nHost:\ gw")),
        "GET / HTTP/1.1\r\nhost: gw\r\nconnection: close\r\n\r\n"
    );
    assert_eq!(http_check(MINIMAL), HealthCheck::Tcp);
    let parsed = ok(&format!(
        "{MINIMAL} option httpchk GET / HTTP/1.1\\r\\nHost:\\ gw\n"
    ));
    assert!(
        parsed.warnings[0]
            .message
            .contains("hiding headers or body at the end of the version string is deprecated")
    );
}

#[test]
fn http_check_send_and_expect() {
    let c = http_check(&format!(
        "{MINIMAL} option httpchk\n http-check send meth GET uri /health ver HTTP/1.1 hdr Host gw.example\n \
         http-check expect status 200-299,302\n"
    ));
    let mut expected = super::HttpCheck::of(
        b"GET /health HTTP/1.1\r\nhost: gw.example\r\nconnection: close\r\n\r\n".to_vec(),
        HttpExpect::Status {
            codes: vec![(200, 299), (302, 302)],
            negate: false,
        },
    );
    // `send-state` writes its header after the configured ones.
    if let super::HttpStep::Send(request) = &mut expected.rules[1].step {
        request.state_at = b"GET /health HTTP/1.1\r\nhost: gw.example\r\n".len();
    }
    assert_eq!(c, HealthCheck::Http(expected));
    let c = http_check(&format!(
        "{MINIMAL} option httpchk\n http-check expect ! string down\n"
    ));
    let HealthCheck::Http(http) = c else {
        panic!("http")
    };
    let expect = http.expects().last().cloned().unwrap();
    assert_eq!(
        expect,
        HttpExpect::String {
            text: b"down".to_vec(),
            negate: true
        }
    );
}

#[test]
fn http_check_rules_fail_as_haproxys() {
    let e = errors(&format!(
        "{MINIMAL} option httpchk\n http-check expect rstatus (\n http-check disable-on-404\n \
         http-check expect status 200\n http-check expect status 204\n http-check send body x\n \
         http-check comment c\n http-check connect\n http-check expect status 200\n \
         http-check send-state x\n"
    ));
    // Lines 8 to 10 are fine; after a refused rule HAProxy starts the
    // ruleset over (the step numbers are haproxy 2.6.12's).
    assert_eq!(
        e,
        [
            "t.cfg:7: 'http-check expect' : invalid regex '(': unclosed group.",
            "t.cfg:11: 'http-check send' : unable to add http-check send rule at step 3 \
             (missing connect rule)..",
            "t.cfg:14: 'http-check expect' : unable to add http-check expect rule at step 3 \
             (missing send rule)..",
            "t.cfg:15: 'http-check' cannot handle unexpected argument 'x'.",
        ]
    );
}

#[test]
fn http_check_rules_without_option_httpchk_are_ignored_with_a_warning() {
    let parsed = ok(&format!("{MINIMAL} http-check expect status 200\n"));
    assert_eq!(parsed.config.backends[0].health_check, HealthCheck::Tcp);
    assert_eq!(
        parsed.warnings.last().unwrap().to_string(),
        "t.cfg:6: backend 'be' uses http-check rules without 'option httpchk', so the rules are ignored."
    );
}

#[test]
fn option_log_health_checks_is_a_backend_option() {
    let c = config(&format!("defaults\n option log-health-checks\n{MINIMAL}"));
    assert!(c.backends[0].log_health_checks);
}

#[test]
fn httpchk_from_defaults_applies_and_can_be_cancelled() {
    let text = format!("defaults\n option httpchk GET /h\n{MINIMAL}");
    assert!(matches!(http_check(&text), HealthCheck::Http { .. }));
    // Another check option replaces it; `no option httpchk` is HAProxy's
    // error.
    let text = format!("defaults\n option httpchk GET /h\n{MINIMAL} option tcp-check\n");
    assert_eq!(http_check(&text), HealthCheck::Tcp);
    let text = format!("defaults\n option httpchk GET /h\n{MINIMAL} no option httpchk\n");
    assert_eq!(
        errors(&text),
        ["t.cfg:8: negation/default is not supported for option 'httpchk'."]
    );
}

#[test]
fn tls_check_parameters() {
    let c = config(&MINIMAL.replace(
        "127.0.0.1:8080",
        "127.0.0.1:8080 check check-ssl verify required ca-file /etc/ca.pem check-sni gw.example",
    ));
    let tls = c.backends[0].servers[0].check_tls.clone().unwrap();
    assert_eq!(tls.verify, Some(true));
    assert_eq!(tls.ca_file.as_deref(), Some("/etc/ca.pem"));
    assert_eq!(tls.sni.as_deref(), Some("gw.example"));
    let c = config(&MINIMAL.replace(
        "127.0.0.1:8080",
        "127.0.0.1:8080 check check-ssl verify none no-check-ssl",
    ));
    assert_eq!(c.backends[0].servers[0].check_tls, None);
}

#[test]
fn ssl_brings_tls_to_checks_unless_no_check_ssl_or_another_port() {
    let server = |params: &str| {
        let text = MINIMAL.replace("127.0.0.1:8080", &format!("127.0.0.1:8080 {params}"));
        config(&text).backends[0].servers[0].clone()
    };
    let both = server("check ssl verify none");
    assert!(both.tls.is_some() && both.check_tls.is_some());
    // Found by weir-sim (seed 2093): HAProxy's init_srv_check leaves
    // checks in clear after `no-check-ssl`; weir used to give them TLS.
    let clear = server("check ssl verify none no-check-ssl");
    assert!(clear.tls.is_some() && clear.check_tls.is_none());
    let other_port = server("check ssl verify none port 9000");
    assert!(other_port.tls.is_some() && other_port.check_tls.is_none());
}

#[test]
fn tls_checks_without_a_ca_are_refused_like_haproxy() {
    let e = errors(&MINIMAL.replace("127.0.0.1:8080", "127.0.0.1:8080 check check-ssl"));
    assert!(e[0].starts_with(
        "t.cfg:5: 'server be/s1' : verify is enabled by default but no CA file specified."
    ));
    let ok = config(&format!(
        "global\n ssl-server-verify none\n{}",
        MINIMAL.replace("127.0.0.1:8080", "127.0.0.1:8080 check check-ssl")
    ));
    assert!(ok.global.ssl_server_verify_none);
}

#[test]
fn ca_files_are_loaded_through_the_driver() {
    let mut c = config(&MINIMAL.replace(
        "127.0.0.1:8080",
        "127.0.0.1:8080 check check-ssl ca-file good.pem\n server s2 127.0.0.1:2 check check-ssl ca-file bad.pem\n server s3 127.0.0.1:3 check check-ssl ca-file missing.pem",
    ));
    let pem = "-----BEGIN CERTIFICATE-----\nMIIBAA==\n-----END CERTIFICATE-----\n";
    let errors = c
        .load_files(&mut |path| match path {
            "good.pem" => Ok(pem.as_bytes().to_vec()),
            "bad.pem" => Ok(b"not a certificate".to_vec()),
            _ => Err("No such file or directory".into()),
        })
        .unwrap_err();
    let errors: Vec<String> = errors.iter().map(ToString::to_string).collect();
    assert_eq!(
        errors,
        [
            "t.cfg:6: unable to load CA file 'bad.pem': no PEM certificate found in it",
            "t.cfg:7: unable to load CA file 'missing.pem': No such file or directory",
        ]
    );
    assert!(
        !c.backends[0].servers[0]
            .check_tls
            .as_ref()
            .unwrap()
            .ca_pem
            .is_empty()
    );
}

#[test]
fn observe_parameters() {
    let c = config(&MINIMAL.replace(
        "127.0.0.1:8080",
        "127.0.0.1:8080 check observe layer4 error-limit 5 on-error sudden-death on-marked-down shutdown-sessions",
    ));
    let s = &c.backends[0].servers[0];
    assert!(s.observe && s.shutdown_on_down);
    assert_eq!((s.error_limit, s.on_error), (5, OnError::SuddenDeath));
    let e = errors(&MINIMAL.replace(
        "127.0.0.1:8080",
        "127.0.0.1:8080 observe layer4\n server s2 127.0.0.1:2 check observe layer7",
    ));
    assert!(e[0].starts_with("t.cfg:5: server 's1': 'observe' needs 'check' too"));
    assert_eq!(e[1], "t.cfg:6: 'layer7' can only be used in http proxies");
}

#[test]
fn sni_and_crt_on_servers() {
    let c = config(&MINIMAL.replace(
        "127.0.0.1:8080",
        "127.0.0.1:8080 check ssl verify none sni str(gw.example) check-sni chk.example crt client.pem",
    ));
    let s = &c.backends[0].servers[0];
    assert_eq!(s.tls.as_ref().unwrap().sni.as_deref(), Some("gw.example"));
    assert_eq!(
        s.check_tls.as_ref().unwrap().sni.as_deref(),
        Some("chk.example")
    );
    assert_eq!(
        s.tls.as_ref().unwrap().crt_file.as_deref(),
        Some("client.pem")
    );
    let e = errors(&MINIMAL.replace(
        "127.0.0.1:8080",
        "127.0.0.1:8080 ssl verify none sni req.ssl_sni",
    ));
    assert_eq!(
        e,
        ["t.cfg:5: 'sni req.ssl_sni': only literal names, as str(<name>), are supported yet"]
    );
}

#[test]
fn crt_files_need_a_certificate_and_a_key() {
    let mut c = config(&MINIMAL.replace(
        "127.0.0.1:8080",
        "127.0.0.1:8080 ssl verify none crt client.pem",
    ));
    let pem = "-----BEGIN CERTIFICATE-----\nMIIBAA==\n-----END CERTIFICATE-----\n";
    let errors = c
        .load_files(&mut |_| Ok(pem.as_bytes().to_vec()))
        .unwrap_err();
    assert_eq!(
        errors[0].to_string(),
        "t.cfg:5: unable to load certificate file 'client.pem': no PEM private key found in it"
    );
}

#[test]
fn a_tcp_check_line_without_an_action_is_an_error() {
    assert_eq!(
        errors(&format!("{MINIMAL} option tcp-check\n tcp-check\n")),
        [
            "t.cfg:7: 'tcp-check' only supports 'comment', 'connect', 'send', 'send-binary', \
          'expect'. but got ''"
        ]
    );
}

#[test]
fn tcp_check_rules() {
    let c = config(&format!(
        "{MINIMAL} option tcp-check\n tcp-check connect\n tcp-check send PING\\r\\n\n \
         tcp-check expect string +PONG\n tcp-check send-binary 51554954\n \
         tcp-check expect ! binary 2d45\n tcp-check comment done\n"
    ));
    use super::TcpStep::{Connect, Expect, Send};
    assert_eq!(
        c.backends[0].health_check,
        HealthCheck::TcpRules(
            [
                Connect(super::Connect::default()),
                Send(b"PING\r\n".to_vec()),
                Expect {
                    pattern: b"+PONG".to_vec(),
                    binary: false,
                    negate: false
                },
                Send(b"QUIT".to_vec()),
                Expect {
                    pattern: b"-E".to_vec(),
                    binary: true,
                    negate: true
                },
            ]
            .into_iter()
            .zip(1..)
            .map(|(step, id)| crate::config::TcpRule::new(step, id))
            .collect()
        )
    );
    let e = errors(&format!(
        "{MINIMAL} option tcp-check\n tcp-check expect rbinary [\n tcp-check send-binary zz\n \
         tcp-check send-lf x\n tcp-check connect port 0\n tcp-check send x\n \
         tcp-check connect\n"
    ));
    assert_eq!(
        e,
        [
            "t.cfg:7: 'tcp-check expect' : invalid regex '[': unclosed character class.",
            "t.cfg:8: 'tcp-check send-binary' : 'zz' invalid binary string.",
            "t.cfg:9: 'tcp-check send-lf' is not supported yet",
            "t.cfg:10: 'tcp-check connect' : expects a valid TCP port (from range 1 to 65535) \
             or a sample expression, got 0..",
            "t.cfg:12: 'tcp-check connect' : first step MUST also be a 'connect', optionally \
             preceded by a 'set-var', an 'unset-var' or a 'comment', when there is a 'connect' \
             step in the tcp-check ruleset.",
        ]
    );
    let parsed = ok(&format!("{MINIMAL} tcp-check send x\n"));
    assert!(
        parsed
            .warnings
            .last()
            .unwrap()
            .message
            .contains("without 'option tcp-check'")
    );
    let c = config(&format!("{MINIMAL} option tcp-check\n"));
    assert_eq!(
        c.backends[0].health_check,
        HealthCheck::Tcp,
        "no rules: connect only"
    );
}

#[test]
fn regex_expectations() {
    let c = http_check(&format!(
        "{MINIMAL} option httpchk\n http-check expect ! rstatus ^5\n"
    ));
    let HealthCheck::Http(http) = c else {
        panic!("http")
    };
    let expect = http.expects().last().cloned().unwrap();
    assert_eq!(
        expect,
        HttpExpect::RStatus {
            regex: super::Pattern::new("^5").unwrap(),
            negate: true
        }
    );
    let c = config(&format!(
        "{MINIMAL} option tcp-check\n tcp-check expect rstring ^OK\n"
    ));
    assert!(matches!(
        &c.backends[0].health_check,
        HealthCheck::TcpRules(steps) if matches!(&steps[0].step, super::TcpStep::ExpectRegex { regex, hex: false, negate: false } if regex.0.as_str() == "^OK")
    ));
    let c = config(&format!(
        "{MINIMAL} option tcp-check\n tcp-check expect rbinary ^2B\n"
    ));
    assert!(matches!(
        &c.backends[0].health_check,
        HealthCheck::TcpRules(steps) if matches!(&steps[0].step, super::TcpStep::ExpectRegex { hex: true, .. })
    ));
}

#[test]
fn verifyhost_and_its_cancel() {
    let c = config(&MINIMAL.replace(
        "127.0.0.1:8080",
        "127.0.0.1:8080 check check-ssl verify none verifyhost gw.example",
    ));
    let tls = c.backends[0].servers[0].check_tls.clone().unwrap();
    assert_eq!(tls.verify_host.as_deref(), Some("gw.example"));
    let c = config(&MINIMAL.replace(
        "127.0.0.1:8080",
        "127.0.0.1:8080 check check-ssl verify none verifyhost gw.example no-verifyhost",
    ));
    assert_eq!(
        c.backends[0].servers[0]
            .check_tls
            .clone()
            .unwrap()
            .verify_host,
        None
    );
}

#[test]
fn backup_servers_and_allbackups() {
    let c = config(&format!(
        "{} option allbackups\n",
        MINIMAL.replace(
            "127.0.0.1:8080",
            "127.0.0.1:8080 check on-marked-up shutdown-backup-sessions\n server b 127.0.0.1:2 backup",
        )
    ));
    let be = &c.backends[0];
    assert!(be.allbackups && be.servers[1].backup && be.servers[0].shutdown_backups_on_up);
}

#[test]
fn retries_and_redispatch() {
    let c = config(MINIMAL);
    assert_eq!(
        (c.backends[0].retries, c.backends[0].redispatch),
        (3, true),
        "weir's defaults"
    );
    let c = config(&format!("{MINIMAL} retries 1\n option redispatch 0\n"));
    assert_eq!(
        (c.backends[0].retries, c.backends[0].redispatch),
        (1, false)
    );
    let c = config(&format!(
        "defaults\n option redispatch\n{MINIMAL} no option redispatch\n"
    ));
    assert!(!c.backends[0].redispatch);
}

#[test]
fn server_limits_and_fullconn() {
    let text = "global\n maxconn 1000\nfrontend fe\n bind :80\n default_backend be\n\
                backend be\n server a 127.0.0.1:1 maxconn 50 minconn 5 maxqueue 7\n \
                server b 127.0.0.1:2 minconn 20\n server c 127.0.0.1:3 maxconn 30\n";
    let be = &config(text).backends[0];
    let limits: Vec<_> = be
        .servers
        .iter()
        .map(|s| (s.maxconn, s.minconn, s.maxqueue))
        .collect();
    // As HAProxy: minconn alone is the limit; maxconn alone is fixed.
    assert_eq!(limits, [(50, 5, 7), (20, 20, 0), (30, 30, 0)]);
    assert_eq!(be.fullconn, 100, "10% of the global maxconn of frontend fe");
    let c = config(&format!("{MINIMAL} fullconn 40\n"));
    assert_eq!(c.backends[0].fullconn, 40);
    let c = config(&format!("{MINIMAL} server s2 127.0.0.1:2 maxconn 8\n"));
    assert_eq!(
        c.backends[0].fullconn, 8,
        "no frontend limit: the servers' sum"
    );
    assert_eq!(
        errors(&format!(
            "{MINIMAL} server s2 127.0.0.1:2 maxconn -1\n fullconn 0\n"
        )),
        [
            "t.cfg:6: 'maxconn' expects an integer between 0 and 4294967295, got '-1'",
            "t.cfg:7: 'fullconn' expects an integer between 1 and 4294967295, got '0'",
        ]
    );
}

/// The backend of `MINIMAL` with `lines` added to it.
fn be(lines: &str) -> super::Backend {
    config(&format!("{MINIMAL}{lines}")).backends.remove(0)
}

#[test]
fn balance_algorithms_parse() {
    let cases = [
        ("", Balance::RoundRobin),
        (" balance roundrobin\n", Balance::RoundRobin),
        (" balance static-rr\n", Balance::StaticRr),
        (" balance leastconn\n", Balance::LeastConn),
        (" balance first\n", Balance::First),
        (" balance source\n", Balance::Source),
        (" balance random\n", Balance::Random { draws: 2 }),
        (" balance random()\n", Balance::Random { draws: 2 }),
        (" balance random(5)\n", Balance::Random { draws: 5 }),
    ];
    for (lines, balance) in cases {
        assert_eq!(be(lines).balance, balance, "{lines}");
    }
    let b = be("");
    assert_eq!(
        (b.hash_type, b.hash_balance_factor),
        (HashType::MapBased, None)
    );
}

#[test]
fn hash_settings_parse() {
    let b = be(" balance source\n hash-type consistent\n hash-balance-factor 150\n");
    assert_eq!(b.hash_type, HashType::Consistent);
    assert_eq!(b.hash_balance_factor, Some(150));
    assert_eq!(be(" hash-balance-factor 0\n").hash_balance_factor, None);
    // Hash functions only matter to uri/hdr hashing, which weir lacks.
    for line in [
        "hash-type map-based",
        "hash-type consistent sdbm",
        "hash-type consistent djb2 avalanche",
        "hash-type map-based wt6",
        "hash-type map-based crc32 avalanche",
    ] {
        be(&format!(" {line}\n"));
    }
}

#[test]
fn balance_settings_come_from_defaults_and_can_be_overridden() {
    let text = format!(
        "defaults\n balance leastconn\n hash-type consistent\n hash-balance-factor 200\n\
         {MINIMAL}backend other\n balance random(3)\n hash-type map-based\n\
         hash-balance-factor 0\n server s 127.0.0.1:1\n"
    );
    let c = config(&text);
    let (inherited, own) = (&c.backends[0], &c.backends[1]);
    assert_eq!(inherited.balance, Balance::LeastConn);
    assert_eq!(inherited.hash_type, HashType::Consistent);
    assert_eq!(inherited.hash_balance_factor, Some(200));
    assert_eq!(own.balance, Balance::Random { draws: 3 });
    assert_eq!(own.hash_type, HashType::MapBased);
    assert_eq!(own.hash_balance_factor, None);
}

#[test]
fn bad_balance_lines_are_refused_with_a_hint() {
    let text = format!(
        "{MINIMAL} balance leastcon\n balance random(0)\n balance random(2\n balance random(2x)\n\
         balance random(3)x\n balance source extra\n balance hdr(host)\n balance\n balance rdp-cookie\n"
    );
    assert_eq!(
        errors(&text),
        [
            "t.cfg:6: unknown balance algorithm 'leastcon' (did you mean 'leastconn'?)",
            "t.cfg:7: 'balance random(0)': the number of draws must be between 1 and 4294967295, \
             got '0'",
            "t.cfg:8: 'balance random(2': missing closing parenthesis",
            "t.cfg:9: 'balance random(2x)': unexpected character 'x' in the number of draws",
            "t.cfg:10: 'balance random(3)x': unexpected character 'x' after ')'",
            "t.cfg:11: 'balance source' takes no argument, got 'extra'",
            "t.cfg:12: 'balance hdr' is not supported yet",
            "t.cfg:13: 'balance' expects an algorithm: roundrobin, static-rr, leastconn, first, \
             source, random",
            "t.cfg:14: 'balance rdp-cookie' is not supported yet",
        ]
    );
}

#[test]
fn weir_extensions_connect_hedge_and_replay_until_response() {
    let c = config(&format!(
        "defaults\n option connect-hedge 300ms\n{MINIMAL} option replay-until-response 2s\n"
    ));
    let be = &c.backends[0];
    assert_eq!(be.connect_hedge, Some(Duration::from_millis(300)));
    assert_eq!(be.replay_until_response, Some(Duration::from_secs(2)));
    let c = config(&format!(
        "defaults\n option connect-hedge 300ms\n{MINIMAL} no option connect-hedge\n"
    ));
    assert_eq!(c.backends[0].connect_hedge, None);
    assert_eq!(
        errors(&format!(
            "{MINIMAL} option connect-hedge\n option replay-until-response 0\n"
        )),
        [
            "t.cfg:6: 'option connect-hedge' (a weir extension) expects a delay greater than 0 \
             such as 300ms, got ''",
            "t.cfg:7: 'option replay-until-response' (a weir extension) expects a delay greater \
             than 0 such as 300ms, got '0'",
        ]
    );
}

#[test]
fn bad_hash_lines_are_refused_with_a_hint() {
    let text = format!(
        "{MINIMAL} hash-type consistant\n hash-type consistent sdmb\n\
         hash-type consistent avalanche\n hash-type map-based djb2 avalance\n\
         hash-type avalanche\n hash-type map-based sdbm avalanche more\n\
         hash-balance-factor 100\n hash-balance-factor 1\n hash-balance-factor lots\n"
    );
    assert_eq!(
        errors(&text),
        [
            "t.cfg:6: 'hash-type' only supports 'map-based' and 'consistent', got 'consistant' \
             (did you mean 'consistent'?)",
            "t.cfg:7: 'hash-type': unknown hash function 'sdmb' (did you mean 'sdbm'?): the \
             functions are sdbm, djb2, wt6 and crc32",
            "t.cfg:8: 'hash-type': 'avalanche' comes after a hash function, as in 'hash-type \
             consistent sdbm avalanche'",
            "t.cfg:9: 'hash-type': unknown hash modifier 'avalance' (did you mean 'avalanche'?): \
             the only one is 'avalanche'",
            "t.cfg:10: 'hash-type avalanche' is not supported anymore (HAProxy 1.5): use \
             'hash-type map-based sdbm avalanche' instead",
            "t.cfg:11: 'hash-type' takes at most a method, a function and a modifier, got \
             'more' too",
            "t.cfg:12: 'hash-balance-factor' must be 0 or greater than 100 (got 100).",
            "t.cfg:13: 'hash-balance-factor' must be 0 or greater than 100 (got 1).",
            "t.cfg:14: 'hash-balance-factor' expects an integer between 0 and 4294967295, got \
             'lots'",
        ]
    );
}

#[test]
fn tunnel_and_fin_timeouts() {
    let c = config(&format!(
        "defaults\n timeout tunnel 1h\n timeout client-fin 5s\n timeout server-fin 7s\n{MINIMAL}"
    ));
    assert_eq!(
        c.backends[0].timeout_tunnel,
        Some(Duration::from_secs(3600))
    );
    assert_eq!(
        c.backends[0].timeout_server_fin,
        Some(Duration::from_secs(7))
    );
    assert_eq!(
        c.frontends[0].timeout_client_fin,
        Some(Duration::from_secs(5))
    );
    assert_eq!(
        errors(&format!("{MINIMAL} timeout tunel 1s\n")),
        ["t.cfg:6: unknown timeout 'tunel' (did you mean 'tunnel'?)"]
    );
}

#[test]
fn balance_settings_in_a_frontend_are_ignored_with_a_warning() {
    let text = format!(
        "{MINIMAL}frontend f2\n bind :81\n default_backend be\n balance first\n\
         hash-type consistent\n"
    );
    let warnings: Vec<String> = ok(&text).warnings.iter().map(ToString::to_string).collect();
    assert!(warnings.contains(
        &"t.cfg:9: 'balance' ignored because frontend 'f2' has no backend capability.".to_owned()
    ));
    assert!(
        warnings.contains(
            &"t.cfg:10: 'hash-type' ignored because frontend 'f2' has no backend capability."
                .to_owned()
        )
    );
}

#[test]
fn a_bare_http_check_line_names_its_actions() {
    assert_eq!(
        errors(&format!("{MINIMAL} option httpchk\n http-check\n")),
        [
            "t.cfg:7: 'http-check' only supports 'disable-on-404', 'send-state', 'comment', \
          'connect', 'send', 'expect'. but got ''"
        ]
    );
}

#[test]
fn server_slowstart() {
    let b = be(" server s2 127.0.0.1:2 slowstart 30s\n server s3 127.0.0.1:3 slowstart 0\n");
    let ramps: Vec<_> = b.servers.iter().map(|s| s.slowstart).collect();
    assert_eq!(ramps, [None, Some(Duration::from_secs(30)), None]);
    assert_eq!(
        errors(&format!("{MINIMAL} server s2 127.0.0.1:2 slowstart soon\n")),
        ["t.cfg:6: 'slowstart' expects a time such as 500ms, 2s or 1m, got 'soon'"]
    );
}

#[test]
fn server_weight_accepts_0_to_256() {
    let b = be(" server s2 127.0.0.1:2 weight 0\n server s3 127.0.0.1:3 weight 256\n");
    let weights: Vec<u32> = b.servers.iter().map(|s| s.weight).collect();
    assert_eq!(weights, [1, 0, 256]);
    assert_eq!(
        errors(&format!("{MINIMAL} server s2 127.0.0.1:2 weight 257\n")),
        ["t.cfg:6: weight of server s2 is not within 0 and 256 (257)"]
    );
}

#[test]
fn a_non_breaking_space_is_refused_with_its_column() {
    let text = MINIMAL.replace(" default_backend", "\u{a0}\u{a0}default_backend");
    assert_eq!(
        errors(&text),
        [
            "t.cfg:3: column 1 contains a non-breaking space (U+00A0), which is not a blank: \
             replace it with a plain space (inside quotes it would be part of the word)"
        ]
    );
    let text = MINIMAL.replace("default_backend be", "default_backend\u{a0}be");
    assert!(errors(&text)[0].starts_with("t.cfg:3: column 17 contains a non-breaking space"));
    let text = format!("\u{feff}{MINIMAL}");
    assert!(errors(&text)[0].starts_with(
        "t.cfg:1: column 1 contains a byte order mark (U+FEFF), which is not a blank: remove it"
    ));
    let text = MINIMAL.replace(" bind", "\u{2003}bind");
    assert!(errors(&text)[0].contains("contains a Unicode space (U+2003)"));
    // Inside quotes it is part of the word, as in HAProxy; shown escaped.
    assert_eq!(
        errors(&format!("{MINIMAL} mode \"tcp\u{a0}\"\n")),
        [
            "t.cfg:6: 'mode tcp\\xa0': weir is a layer-4 balancer: only 'mode tcp' is \
             supported, and 'mode http' for a frontend serving only metrics or the stats \
             page"
        ]
    );
}

#[test]
fn comments_may_hold_any_byte_but_nul() {
    let (head, tail) = MINIMAL.split_at(MINIMAL.find(":80").unwrap() + 3);
    let text = [
        b"# caf\xe9 \xff\xfe\n",
        head.as_bytes(),
        b" # na\xefve",
        tail.as_bytes(),
        b" server s2 127.0.0.1:2#\xe9\n",
    ]
    .concat();
    let parsed = parse(&[Source::new("t.cfg", &text)], &mut |_| None).unwrap();
    assert_eq!(parsed.config.backends[0].servers.len(), 2);
    assert_eq!(
        byte_errors(&[b"# a\0b\n", MINIMAL.as_bytes()].concat()),
        ["t.cfg:1: stray NUL character at column 4"]
    );
}

#[test]
fn invalid_utf8_outside_comments_names_line_and_column() {
    let text = [MINIMAL.as_bytes(), b" server caf\xe9 127.0.0.1:2\n"].concat();
    assert_eq!(
        byte_errors(&text),
        [
            "t.cfg:6: invalid UTF-8 (byte \\xe9) at column 12: weir reads a configuration file \
             as UTF-8 outside comments; convert the file (from Latin-1: iconv -f latin1 -t \
             utf-8)"
        ]
    );
    // A bad byte inside quotes too; a lone continuation byte; a cut sequence.
    for (line, column) in [
        (&b" mode \"tc\xe9\"\n"[..], 10),
        (b" \x80mode tcp\n", 2),
        (b" mode tcp\xe2\x82", 10),
    ] {
        let e = byte_errors(&[MINIMAL.as_bytes(), line].concat());
        assert!(e[0].contains(&format!(") at column {column}:")), "{e:?}");
    }
}

#[test]
fn a_nul_byte_is_refused_where_it_is() {
    assert_eq!(
        byte_errors(&[MINIMAL.as_bytes(), b" mo\0de tcp\n"].concat()),
        ["t.cfg:6: stray NUL character at column 4"]
    );
    // UTF-16 text: NUL after the first character.
    assert_eq!(
        byte_errors(b"g\0l\0o\0b\0a\0l\0"),
        ["t.cfg:1: stray NUL character at column 2 (a UTF-16 file? weir reads UTF-8)"]
    );
}

#[test]
fn messages_escape_control_characters_and_cut_long_words() {
    assert_eq!(
        errors(&format!("{MINIMAL} mo\x1b[31mde tcp\n")),
        ["t.cfg:6: unknown keyword 'mo\\x1b[31mde' in 'backend' section"]
    );
    // A word made by escapes (`\n`, `\x01`) is shown escaped too.
    assert_eq!(
        errors(&format!("{MINIMAL} mode \"a\\nb\\x01\"\n")),
        [
            "t.cfg:6: 'mode a\\x0ab\\x01': weir is a layer-4 balancer: only 'mode tcp' is \
             supported, and 'mode http' for a frontend serving only metrics or the stats \
             page"
        ]
    );
    let blob = "x".repeat(1 << 20);
    let e = errors(&format!("{MINIMAL} {blob} tcp\n"));
    assert_eq!(
        e,
        [format!(
            "t.cfg:6: unknown keyword '{}... in 'backend' section",
            "x".repeat(63)
        )]
    );
}

#[test]
fn printable_keeps_plain_text_and_escapes_the_rest() {
    use super::printable;
    assert!(matches!(
        printable("plain 'text' é ü 中"),
        std::borrow::Cow::Borrowed(_)
    ));
    assert_eq!(printable("a\0b\tc\u{7f}\u{85}"), "a\\x00b\\x09c\\x7f\\x85");
    assert_eq!(
        printable("\u{a0}\u{200b}\u{feff}\u{3000}"),
        "\\xa0\\u{200b}\\u{feff}\\u{3000}"
    );
    assert_eq!(printable("  two  spaces "), "  two  spaces ");
    let run = "y".repeat(128);
    assert_eq!(printable(&run), run);
    assert_eq!(
        printable(&format!("a {run}z b")),
        format!("a {}... b", "y".repeat(64))
    );
}

// `mode http`: weir's metrics and stats frontends, and nothing else.

/// Every warning, as shown.
fn warnings(text: &str) -> Vec<String> {
    ok(text).warnings.iter().map(ToString::to_string).collect()
}

#[test]
fn haproxys_metrics_and_stats_frontends_are_accepted() {
    use super::{AdminAcl, AdminRule, PathCondition, ServiceRule};
    let c = config(&format!(
        "{MINIMAL}\
         frontend prometheus\n mode http\n bind *:8405\n \
         http-request use-service prometheus-exporter if {{ path /metrics }}\n no log\n\
         listen stats\n bind :8404\n mode http\n stats enable\n stats uri /\n \
         stats refresh 10s\n stats admin if LOCALHOST\n stats auth admin:s3cret\n \
         stats hide-version\n stats show-legends\n stats realm HAProxy\\ Stats\n \
         timeout client 5s\n timeout http-request 3s\n timeout http-keep-alive 1s\n"
    ));
    // The listen serves pages: no backend is made of it.
    assert_eq!(c.backends.len(), 1);
    assert_eq!(c.frontends.len(), 3);
    assert_eq!(c.frontends[0].service, None);
    let prom = c.frontends[1].service.as_ref().unwrap();
    assert_eq!(c.frontends[1].default_backend, None);
    assert_eq!(
        prom.prometheus,
        [ServiceRule {
            when: Some(PathCondition {
                negate: false,
                prefix: false,
                ignore_case: false,
                patterns: vec!["/metrics".into()],
            })
        }]
    );
    assert_eq!(prom.stats, None);
    let stats = c.frontends[2].service.as_ref().unwrap();
    assert!(stats.prometheus.is_empty());
    assert_eq!(stats.timeout_request, Some(Duration::from_secs(3)));
    assert_eq!(stats.timeout_keep_alive, Some(Duration::from_secs(1)));
    let page = stats.stats.as_ref().unwrap();
    assert_eq!((page.uri.as_str(), page.refresh), ("/", Some(10)));
    assert_eq!(page.realm, "HAProxy Stats");
    assert_eq!(page.users, [("admin".to_owned(), "s3cret".to_owned())]);
    assert_eq!(
        page.admin,
        [AdminRule {
            negate: false,
            acl: AdminAcl::Localhost
        }]
    );
    assert!(page.hide_version && page.show_legends);
}

#[test]
fn mode_http_in_defaults_serves_pages_and_tcp_proxies_say_mode_tcp() {
    let text = "defaults\n mode http\n option httplog\n option forwardfor\n \
                option http-server-close\n timeout client 5s\n timeout connect 5s\n \
                timeout server 5s\n timeout http-request 10s\n stats enable\n \
                stats uri /haproxy-stats\n stats auth a:b\n log stdout format raw local0\n\
                frontend fe\n mode tcp\n bind :80\n default_backend be\n\
                backend be\n mode tcp\n server s1 127.0.0.1:8080\n\
                frontend stats\n bind :8404\n";
    let parsed = ok(text);
    let c = &parsed.config;
    // HAProxy's fallback: `option httplog` in TCP mode is `option tcplog`.
    assert!(c.frontends[0].tcplog && c.frontends[0].service.is_none());
    // The stats frontend inherits the page and `timeout http-request`.
    let service = c.frontends[1].service.as_ref().unwrap();
    let page = service.stats.as_ref().unwrap();
    assert_eq!(page.uri, "/haproxy-stats");
    assert_eq!(page.users.len(), 1);
    assert_eq!(service.timeout_request, Some(Duration::from_secs(10)));
    let shown: Vec<String> = parsed.warnings.iter().map(ToString::to_string).collect();
    // HAProxy 2.6.12 prints these for the same configuration.
    for warning in [
        "t.cfg:3: 'option httplog' not usable with frontend 'fe' (needs 'mode http'). Falling \
         back to 'option tcplog'.",
        "t.cfg:14: 'stats' statement ignored for frontend 'fe' as it requires HTTP mode.",
        "t.cfg:14: 'option forwardfor' ignored for frontend 'fe' as it requires HTTP mode.",
        "t.cfg:18: 'stats' statement ignored for backend 'be' as it requires HTTP mode.",
        "t.cfg:18: 'option forwardfor' ignored for backend 'be' as it requires HTTP mode.",
        "t.cfg:3: 'option httplog' ignored for frontend 'stats': weir writes no log line for \
         the requests its metrics and stats pages answer",
    ] {
        assert!(
            shown.iter().any(|w| w == warning),
            "{warning}\nin {shown:#?}"
        );
    }
}

#[test]
fn a_sections_own_stats_lines_replace_those_of_defaults() {
    // As HAProxy: the first `stats` line of a proxy starts a new page.
    let c = config(&format!(
        "defaults\n stats auth a:b\n stats uri /d\n{MINIMAL}\
         frontend s\n mode http\n bind :81\n stats refresh 5\n\
         frontend t\n mode http\n bind :82\n"
    ));
    let own = c.frontends[1]
        .service
        .as_ref()
        .unwrap()
        .stats
        .clone()
        .unwrap();
    assert_eq!((own.uri.as_str(), own.users.len()), ("/haproxy?stats", 0));
    assert_eq!(own.refresh, Some(5));
    let inherited = c.frontends[2]
        .service
        .as_ref()
        .unwrap()
        .stats
        .clone()
        .unwrap();
    assert_eq!((inherited.uri.as_str(), inherited.users.len()), ("/d", 1));
    assert!(warnings(&format!("{MINIMAL} stats enable\n")).contains(
        &"t.cfg:4: 'stats' statement ignored for backend 'be' as it requires HTTP mode.".to_owned()
    ));
}

#[test]
fn http_mode_beyond_pages_is_refused() {
    let pages = "frontend p\n mode http\n bind :81\n";
    for (text, error) in [
        (
            format!("{MINIMAL}{pages} stats enable\n default_backend be\n"),
            "t.cfg:7: frontend 'p' is in 'mode http' with a 'default_backend': weir is a \
             layer-4 balancer: mode http is accepted only for a stats/metrics frontend; set \
             'mode tcp' to proxy TCP",
        ),
        (
            format!(
                "{MINIMAL}listen l\n mode http\n bind :81\n stats enable\n server s 1.2.3.4:80\n"
            ),
            "t.cfg:7: proxy 'l' is in 'mode http' with servers: weir is a layer-4 balancer: \
             mode http is accepted only for a stats/metrics frontend; set 'mode tcp' to proxy \
             TCP",
        ),
        (
            format!("{MINIMAL}{pages}"),
            "t.cfg:7: frontend 'p' is in 'mode http' with nothing to serve (weir serves 'stats \
             enable' and 'http-request use-service prometheus-exporter'): weir is a layer-4 \
             balancer: mode http is accepted only for a stats/metrics frontend; set 'mode tcp' \
             to proxy TCP",
        ),
        (
            format!("{MINIMAL}{pages} stats enable\n http-request deny\n"),
            "t.cfg:10: 'http-request deny': weir is a layer-4 balancer: the only 'http-request' \
             it accepts, in a 'mode http' frontend, is 'http-request use-service \
             prometheus-exporter [if|unless { path|path_beg [-i] <path>... }]'",
        ),
        (
            format!(
                "{MINIMAL}{pages} stats enable\n http-request use-service prometheus-exporter if {{ src 10.0.0.0/8 }}\n"
            ),
            "t.cfg:10: 'http-request use-service prometheus-exporter if { src 10.0.0.0/8 }': \
             weir accepts one anonymous ACL on the path only, as '{ path /metrics }', '{ \
             path_beg /metrics }' or '{ path -i /a /b }'",
        ),
        (
            format!("{MINIMAL} http-request use-service prometheus-exporter\n"),
            "t.cfg:6: 'http-request' is not allowed in a 'backend' section: weir accepts it \
             only in a 'mode http' frontend or listen, as 'http-request use-service \
             prometheus-exporter'",
        ),
        (
            format!("defaults\n stats admin if TRUE\n{MINIMAL}"),
            "t.cfg:2: 'stats admin' not allowed in 'defaults' section.",
        ),
        (
            format!("{MINIMAL}{pages} stats enable\n stats admin if {{ src 10.0.0.0/8 }}\n"),
            "t.cfg:10: 'stats admin if { src 10.0.0.0/8 }': weir accepts the conditions TRUE, \
             FALSE and LOCALHOST only",
        ),
        (
            format!("{MINIMAL}{pages} stats enable\n stats scope be\n"),
            "t.cfg:10: 'stats scope' is not supported yet",
        ),
        (
            format!("{MINIMAL}{pages} stats enable\n option httpclose\n"),
            "t.cfg:10: 'option httpclose' is not supported yet",
        ),
    ] {
        assert_eq!(errors(&text), [error], "{text}");
    }
}

#[test]
fn log_tags_come_from_the_proxy_the_defaults_or_global() {
    let c = config(&format!(
        "global\n log 10.0.0.1 local0\n log-tag gtag\ndefaults\n log global\n log-tag dtag\n\
         {MINIMAL}frontend other\n bind :81\n log-tag ftag\n log /dev/log local1\n \
         default_backend be\n"
    ));
    assert_eq!(c.global.logs[0].tag, "gtag");
    assert_eq!(
        c.global.logs[0].dest,
        LogDest::Udp("10.0.0.1:514".parse().unwrap())
    );
    assert_eq!(c.frontends[0].logs[0].tag, "dtag");
    let tags: Vec<&str> = c.frontends[1].logs.iter().map(|t| t.tag.as_str()).collect();
    assert_eq!(tags, ["ftag", "ftag"], "log global and its own");
    let c = config(&format!(
        "global\n log stdout local0\ndefaults\n log global\n{MINIMAL}"
    ));
    assert_eq!(c.backends[0].logs[0].tag, "weir");
}

#[test]
fn log_format_and_tcplog_replace_each_other() {
    let fe = |lines: &str| {
        let text = format!("defaults\n log stdout local0\n{MINIMAL}");
        config(&text.replace(
            "default_backend be",
            &format!("default_backend be\n{lines}"),
        ))
        .frontends
        .remove(0)
    };
    let custom = crate::LineFormat::compile("%ci %b").unwrap();
    let f = fe(" log-format \"%ci %b\"");
    assert!(f.tcplog && f.log_format == custom && !f.dontlognull);
    let f = fe(" log-format \"%ci %b\"\n option tcplog\n option dontlognull");
    assert!(f.tcplog && f.log_format == crate::LineFormat::tcplog() && f.dontlognull);
    let f = fe(" option tcplog\n log-format \"%ci %b\"\n no option dontlognull");
    assert!(f.tcplog && f.log_format == custom && !f.dontlognull);
    let f = fe(" log-format \"%ci %b\"\n no option tcplog");
    assert!(!f.tcplog);
}

#[test]
fn log_keywords_say_what_is_wrong_where() {
    let e = errors(&MINIMAL.replace(
        "default_backend be",
        "default_backend be\n log-format \"%ci %r\"\n log-format a b\n log-tag\n log \
         127.0.0.1:514 local9\n no log x\n log-format-sd x",
    ));
    assert_eq!(
        e,
        [
            "t.cfg:4: failed to parse log-format : format variable 'r' is reserved for HTTP \
             mode (weir is a TCP load balancer).",
            "t.cfg:5: 'log-format' expects only one argument, don't forget to escape spaces! \
             (or put the format in double quotes)",
            "t.cfg:6: 'log-tag' expects a tag for use in syslog.",
            "t.cfg:7: log: unknown log facility 'local9' (did you mean 'local0'?)",
            "t.cfg:8: 'no log' does not expect arguments",
            "t.cfg:9: 'log-format-sd' is not supported yet",
        ]
    );
    let e = errors(&format!(
        "global\n log global\n log-send-hostname a b\n{MINIMAL}"
    ));
    assert_eq!(
        e,
        [
            "t.cfg:2: 'log global' is not supported in the 'global' section: give an address",
            "t.cfg:3: 'log-send-hostname' expects at most one host name",
        ]
    );
}

#[test]
fn log_send_hostname_with_and_without_a_name() {
    let c = config(&format!("global\n log-send-hostname\n{MINIMAL}"));
    assert_eq!(c.global.log_send_hostname, Some(None));
    let c = config(&format!("global\n log-send-hostname gw-lb1\n{MINIMAL}"));
    assert_eq!(c.global.log_send_hostname, Some(Some("gw-lb1".into())));
}

#[test]
fn log_format_warnings_as_haproxy() {
    let parsed = ok(&format!(
        "defaults\n log stdout local0\n option tcplog\n log-format %ci\n option tcplog\n{}",
        MINIMAL.replace(
            "server s1",
            "log-format %b\n option dontlognull\n server s1"
        )
    ));
    let warnings: Vec<String> = parsed.warnings.iter().map(ToString::to_string).collect();
    assert!(
        warnings.contains(
            &"t.cfg:4: 'log-format' overrides previous 'option tcplog' in 'defaults' section."
                .to_string()
        )
    );
    assert!(
        warnings.contains(
            &"t.cfg:5: 'option tcplog' overrides previous 'log-format' in 'defaults' section."
                .to_string()
        )
    );
    assert!(warnings.contains(
        &"t.cfg:10: backend 'be' : 'log-format' directive is ignored in backends.".to_string()
    ));
    assert!(
        warnings.contains(
            &"t.cfg:11: 'dontlognull' ignored because backend 'be' has no frontend \
          capability."
                .to_string()
        )
    );
}

#[test]
fn stats_sockets_on_tcp_with_haproxys_defaults() {
    use super::StatsAddr;
    use crate::runtime_api::Level;
    let c = config(&format!(
        "global\n stats socket ipv4@127.0.0.1:9999\n stats socket 127.0.0.1:9998 level admin\n\
         {MINIMAL}"
    ));
    let api = &c.global.runtime_api;
    assert_eq!(api.timeout, Duration::from_secs(10));
    assert_eq!(api.maxconn, 10);
    let tcp = &api.sockets[0];
    assert_eq!(tcp.addr, StatsAddr::Tcp("127.0.0.1:9999".parse().unwrap()));
    assert_eq!(
        (tcp.level, tcp.mode, tcp.origin.line),
        (Level::Operator, None, 2)
    );
    assert_eq!(api.sockets[1].level, Level::Admin);
}

#[test]
fn stats_sockets_on_unix_paths_with_mode_and_owner() {
    use super::{Account, StatsAddr};
    use crate::runtime_api::Level;
    let c = config(&format!(
        "global\n stats socket /run/weir/admin.sock mode 660 level admin user haproxy gid 99\n \
         stats socket unix@rel.sock level user uid 0 group adm\n \
         stats socket /run/weir/plain.sock\n{MINIMAL}"
    ));
    let sockets = &c.global.runtime_api.sockets;
    assert_eq!(sockets.len(), 3);
    let admin = &sockets[0];
    assert_eq!(admin.addr, StatsAddr::Unix("/run/weir/admin.sock".into()));
    assert_eq!(
        (admin.mode, admin.level, admin.origin.line),
        (Some(0o660), Level::Admin, 2)
    );
    assert_eq!(admin.uid, Some(Account::Name("haproxy".into())));
    assert_eq!(admin.gid, Some(Account::Id(99)));
    let user = &sockets[1];
    assert_eq!(user.addr, StatsAddr::Unix("rel.sock".into()));
    assert_eq!((user.level, user.mode), (Level::User, None));
    assert_eq!(user.uid, Some(Account::Id(0)));
    assert_eq!(user.gid, Some(Account::Name("adm".into())));
    let plain = &sockets[2];
    assert_eq!(
        (plain.level, plain.mode, &plain.uid, &plain.gid),
        (Level::Operator, None, &None, &None)
    );
}

#[test]
fn stats_socket_modes_are_octal_up_to_7777() {
    let modes = [
        ("600", Some(0o600)),
        ("0660", Some(0o660)),
        ("7777", Some(0o7777)),
    ];
    // `mode 0` leaves the umask in effect, as HAProxy's.
    for (mode, bits) in modes.into_iter().chain([("0", None)]) {
        let c = config(&format!(
            "global\n stats socket /a.sock mode {mode}\n{MINIMAL}"
        ));
        assert_eq!(c.global.runtime_api.sockets[0].mode, bits, "{mode}");
    }
    for mode in ["10000", "8", "+600", "-1", "rw"] {
        let errors = errors(&format!(
            "global\n stats socket /a.sock mode {mode}\n{MINIMAL}"
        ));
        assert_eq!(
            errors,
            [format!(
                "t.cfg:2: 'stats socket': invalid mode '{mode}' (octal integer expected, such \
                 as 600 or 0660)"
            )]
        );
    }
}

#[test]
fn stats_socket_owner_errors() {
    assert_eq!(
        errors(&format!(
            "global\n stats socket /a.sock uid root\n stats socket /a.sock gid -1\n \
             stats socket /a.sock user\n stats socket unix@\n{MINIMAL}"
        )),
        [
            "t.cfg:2: 'stats socket': 'uid' expects a number, got 'root'",
            "t.cfg:3: 'stats socket': 'gid' expects a number, got '-1'",
            "t.cfg:4: 'stats socket': 'user' expects a value",
            "t.cfg:5: 'stats socket unix@' expects a path",
        ]
    );
}

#[test]
fn stats_socket_paths_leave_room_for_the_temporary_name_as_haproxy() {
    // HAProxy 2.6.12: "socket path '...' too long (max 97)": the socket is
    // bound as `<path>.<pid>.tmp` first.
    let fits = format!("/{}", "a".repeat(96));
    let c = config(&format!("global\n stats socket {fits}\n{MINIMAL}"));
    assert_eq!(c.global.runtime_api.sockets.len(), 1);
    let long = format!("/{}", "a".repeat(97));
    assert_eq!(
        errors(&format!("global\n stats socket unix@{long}\n{MINIMAL}")),
        [format!(
            "t.cfg:2: 'stats socket': socket path '{long}' too long (max 97)"
        )]
    );
}

#[test]
fn expose_fd_listeners_needs_a_unix_socket() {
    let c = config(&format!(
        "global\n stats socket /run/a.sock level admin expose-fd listeners\n{MINIMAL}"
    ));
    assert!(c.global.runtime_api.sockets[0].expose_fd);
    assert_eq!(
        errors(&format!(
            "global\n stats socket ipv4@127.0.0.1:9999 expose-fd listeners\n{MINIMAL}"
        )),
        [
            "t.cfg:2: 'stats socket ipv4@127.0.0.1:9999': 'expose-fd listeners' needs a UNIX \
             socket (descriptors pass only over UNIX sockets)"
        ]
    );
}

#[test]
fn stats_timeout_and_maxconn() {
    let c = config(&format!(
        "global\n stats timeout 2m\n stats maxconn 3\n{MINIMAL}"
    ));
    assert_eq!(c.global.runtime_api.timeout, Duration::from_secs(120));
    assert_eq!(c.global.runtime_api.maxconn, 3);
}

#[test]
fn stats_lines_weir_does_not_implement_are_refused_with_a_hint() {
    assert_eq!(
        errors(&format!(
            "global\n stats socket /a.sock expose-fd all\n stats socket /a.sock process 1\n \
             stats socket /a.sock levle admin\n stats socket /a.sock level root\n \
             stats socket /a.sock mode\n stats socket /a.sock mode 999\n stats socket\n \
             stats socket abns@x\n stats socket ipv4@127.0.0.1:99 mode 600\n stats timeout 0\n \
             stats maxconn 0\n stats bind-process all\n stats sokcet /a\n{MINIMAL}"
        )),
        [
            "t.cfg:2: 'stats socket': 'expose-fd' only supports 'listeners' (got 'all')",
            "t.cfg:3: 'stats socket': option 'process' is not supported (weir implements level, \
             mode, uid, gid, user, group and expose-fd)",
            "t.cfg:4: 'stats socket': unknown option 'levle' (did you mean 'level'?)",
            "t.cfg:5: 'stats socket': 'level' only supports 'user', 'operator', and 'admin' \
             (got 'root')",
            "t.cfg:6: 'stats socket': 'mode' expects a value",
            "t.cfg:7: 'stats socket': invalid mode '999' (octal integer expected, such as 600 \
             or 0660)",
            "t.cfg:8: 'stats socket' expects an address or a path to a UNIX socket, such as \
             /run/weir/admin.sock or ipv4@127.0.0.1:9999",
            "t.cfg:9: 'stats socket abns@x': address prefix 'abns@' is not supported (use a \
             path, unix@<path>, ipv4@<address>:<port> or ipv6@<address>:<port>)",
            "t.cfg:10: 'stats socket ipv4@127.0.0.1:99': 'mode', 'uid', 'gid', 'user' and \
             'group' apply to UNIX sockets only",
            "t.cfg:11: 'stats timeout' expects a positive value",
            "t.cfg:12: 'stats maxconn' expects an integer between 1 and 4294967295, got '0'",
            "t.cfg:13: 'stats bind-process' is not supported: weir runs one process",
            "t.cfg:14: 'stats' in 'global' supports 'socket', 'timeout' and 'maxconn' (got \
             'sokcet') (did you mean 'socket'?)",
        ]
    );
}

#[test]
fn default_fullconn_follows_the_settled_global_maxconn_as_haproxy() {
    // HAProxy 2.6.12 with a derived maxconn of 9983: the BACKEND row of a
    // backend the frontend routes to has slim 999, one nobody routes to 1.
    let text = "frontend fe\n bind :80\n default_backend be\nbackend be\n \
                server s1 127.0.0.1:1 maxconn 20\nbackend lonely\n \
                server s2 127.0.0.1:2 maxconn 20\nbackend fixed\n fullconn 7\n \
                server s3 127.0.0.1:3\n";
    let mut c = config(text);
    assert_eq!(c.backends[0].fullconn, 20, "no global maxconn yet");
    assert_eq!(c.backends[1].fullconn, 1, "nobody routes to it");
    c.global.maxconn = Some(9983);
    c.derive_fullconn();
    let got: Vec<u32> = c.backends.iter().map(|b| b.fullconn).collect();
    assert_eq!(got, [999, 1, 7]);
}

#[test]
fn dollar_matches_before_a_final_newline_as_pcre() {
    let m = |re: &str, subject: &[u8]| super::Pattern::new(re).unwrap().0.is_match(subject);
    assert!(m("^[a-d]$", b"a\n"));
    assert!(m("^[a-d]$", b"a"));
    assert!(!m("^[a-d]$", b"a\n\n"));
    assert!(!m("^[a-d]$", b"a\nb"));
    // Literal, escaped and in a class: not an anchor.
    assert!(m(r"^\$5", b"$5"));
    assert!(m("^[$]$", b"$\n"));
    assert!(m("^[]$]+$", b"]$"));
    // With `(?m)` the pattern keeps the regex crate's meaning.
    assert!(m("(?m)^a$", b"a\nb"));
    assert!(m("(?:a|b)$", b"b\n"));
}
