//! Messages and acceptance compared with `haproxy -c` (2.6.12) on the
//! same files: "did you mean" for sections, unsupported sections, timers
//! with trailing characters, same-name proxies, `check port 0`, `option
//! originalto`, arguments HAProxy refuses.

use std::net::IpAddr;
use std::time::Duration;

use super::{Parsed, Source, parse};

fn parsed(text: &str) -> Result<Parsed, Vec<String>> {
    parse(&[Source::new("t.cfg", text)], &mut |_| {
        Some(IpAddr::from([127, 0, 0, 1]))
    })
    .map_err(|e| e.iter().map(ToString::to_string).collect())
}

fn errors(text: &str) -> Vec<String> {
    match parsed(text) {
        Ok(_) => panic!("expected errors"),
        Err(e) => e,
    }
}

fn warnings(text: &str) -> Vec<String> {
    let parsed = parsed(text).unwrap_or_else(|e| panic!("{e:?}"));
    parsed.warnings.iter().map(ToString::to_string).collect()
}

const DEFAULTS: &str =
    "defaults\n mode tcp\n timeout connect 1s\n timeout client 1s\n timeout server 1s\n";

const TIMER: &str = "only (us=microseconds,ms=milliseconds,s=seconds,m=minutes,h=hours,\
                     d=days) are supported. This will be reported as an error in next versions.";

#[test]
fn a_mistyped_section_gets_a_suggestion_and_an_unsupported_one_one_error() {
    let text = format!(
        "global\n maxconn 100\nbackedn be\npeers mypeers\n peer a 127.0.0.1:1024\n \
         peer b 127.0.0.1:1025\n{DEFAULTS} optoin tcplog\nlisten fe\n bind 127.0.0.1:9999\n \
         server s1 127.0.0.1:80\n"
    );
    assert_eq!(
        errors(&text),
        [
            "t.cfg:3: unknown keyword 'backedn' in 'global' section (did you mean 'backend'?)",
            "t.cfg:4: 'peers' is not supported yet",
            "t.cfg:12: unknown keyword 'optoin' in 'defaults' section (did you mean 'option'?)",
        ]
    );
}

#[test]
fn timers_with_characters_after_the_unit_are_accepted_with_haproxys_warning() {
    let text = "global\n hard-stop-after 2sec\ndefaults\n mode tcp\n timeout connect 1sec\n \
                timeout client 1s\n timeout server 1s\nlisten fe\n bind 127.0.0.1:9999\n \
                timeout check 2sx\n default-server inter 3sec\n server s1 127.0.0.1:80 check \
                fastinter 1msx downinter 3hours slowstart 1mn\n server s2 127.0.0.1:81 check\n";
    let c = parsed(text).unwrap().config;
    let s1 = &c.backends[0].servers[0];
    assert_eq!(s1.inter, Duration::from_secs(3));
    assert_eq!(s1.fastinter, Some(Duration::from_millis(1)));
    assert_eq!(s1.downinter, Some(Duration::from_secs(3 * 3600)));
    assert_eq!(s1.slowstart, Some(Duration::from_secs(60)));
    assert_eq!(c.global.hard_stop_after, Some(Duration::from_secs(2)));
    let w = |line: u32, c: char, value: &str| {
        format!("t.cfg:{line}: unexpected character '{c}' after the timer value '{value}', {TIMER}")
    };
    assert_eq!(
        warnings(text),
        [
            w(2, 'e', "2sec"),
            w(5, 'e', "1sec"),
            w(10, 'x', "2sx"),
            // Once for `default-server`, not again for each server.
            w(11, 'e', "3sec"),
            w(12, 'x', "1msx"),
            w(12, 'o', "3hours"),
            w(12, 'n', "1mn"),
        ]
    );
    // A character that is no unit stays an error.
    let e = errors(&format!(
        "{DEFAULTS}listen fe\n bind 127.0.0.1:9999\n server s1 127.0.0.1:80 inter 5x\n"
    ));
    assert_eq!(
        e,
        ["t.cfg:8: unexpected character 'x' in 'inter' (units are us, ms, s, m, h, d)"]
    );
}

#[test]
fn same_names_are_checked_as_haproxy_checks_them() {
    // A listen after a backend of its name: accepted, and the listen
    // keeps its own servers.
    let text = format!(
        "{DEFAULTS}backend x\n server b1 127.0.0.1:1\nlisten x\n bind 127.0.0.1:19001\n \
         server l1 127.0.0.1:2\nfrontend y\n bind 127.0.0.1:19002\n default_backend x\n\
         backend y\n server y1 127.0.0.1:3\n"
    );
    let c = parsed(&text).unwrap().config;
    let listen = &c.backends[c.frontends[0].default_backend.unwrap()];
    assert_eq!(listen.servers[0].name, "l1");
    let y = &c.backends[c.frontends[1].default_backend.unwrap()];
    assert_eq!(y.servers[0].name, "b1", "the first backend named x");
    // A backend after a listen of its name, a listen after a frontend.
    let text = format!(
        "{DEFAULTS}listen fe\n bind 127.0.0.1:9999\n server s1 127.0.0.1:80\nbackend fe\n \
         server s1 127.0.0.1:80\nfrontend f2\n bind 127.0.0.1:9998\nlisten f2\n \
         bind 127.0.0.1:9997\n"
    );
    assert_eq!(
        errors(&text),
        [
            "t.cfg:9: backend 'fe' has the same name as proxy 'fe' declared at t.cfg:6.",
            "t.cfg:13: proxy 'f2' has the same name as frontend 'f2' declared at t.cfg:11.",
        ]
    );
}

#[test]
fn check_port_0_is_the_servers_port() {
    let c = parsed(&format!(
        "{DEFAULTS}listen fe\n bind 127.0.0.1:9999\n server s1 127.0.0.1:80 check port 0\n"
    ))
    .unwrap()
    .config;
    assert_eq!(c.backends[0].servers[0].check_addr().port(), 80);
}

#[test]
fn unexpected_arguments_are_refused_as_haproxy_refuses_them() {
    let text = format!(
        "{DEFAULTS}listen fe\n bind 127.0.0.1:9999\n mode tcp x\n option tcplog y\n \
         no option dontlognull z\n option redis-check x\n server s1 127.0.0.1:80 chek bogus\n"
    );
    assert_eq!(
        errors(&text),
        [
            "t.cfg:8: 'mode' cannot handle unexpected argument 'x'.",
            "t.cfg:9: 'option tcplog' cannot handle unexpected argument 'y'.",
            "t.cfg:10: 'option dontlognull' cannot handle unexpected argument 'z'.",
            "t.cfg:11: 'option redis-check' cannot handle unexpected argument 'x'.",
            // One error per server line, as HAProxy.
            "t.cfg:12: unknown keyword 'chek' in server line (did you mean 'check'?)",
        ]
    );
}

#[test]
fn option_originalto_is_checked_then_ignored_in_tcp_mode() {
    let text = format!(
        "{DEFAULTS} option originalto\nlisten fe\n bind 127.0.0.1:9999\n \
         option originalto except 127.0.0.1 header X-Orig\n server s1 127.0.0.1:80\n\
         listen fe2\n bind 127.0.0.1:9998\n option httplog\n server s1 127.0.0.1:80\n"
    );
    assert_eq!(
        warnings(&text),
        [
            "t.cfg:7: 'option originalto' ignored for proxy 'fe' as it requires HTTP mode.",
            "t.cfg:13: 'option httplog' not usable with proxy 'fe2' (needs 'mode http'). \
             Falling back to 'option tcplog'.",
            "t.cfg:11: 'option originalto' ignored for proxy 'fe2' as it requires HTTP mode.",
            "t.cfg:11: log format ignored for proxy 'fe2' since it has no log address.",
        ]
    );
    let text = format!(
        "{DEFAULTS}listen fe\n bind 127.0.0.1:9999\n option originalto bogus\n \
         no option originalto\n option originalto except nowhere\n option originalto header\n \
         server s1 127.0.0.1:80\n"
    );
    assert_eq!(
        errors(&text),
        [
            "t.cfg:8: 'option originalto' only supports optional values: 'except' and 'header'.",
            "t.cfg:9: negation/default is not supported for option 'originalto'.",
            "t.cfg:10: 'option originalto except' expects <address>[/mask] as argument.",
            "t.cfg:11: 'option originalto header' expects <header_name> as argument.",
        ]
    );
}

#[test]
fn long_conditions_are_cut_in_messages() {
    let words: Vec<String> = (0..60).map(|i| format!("word{i}")).collect();
    let e = errors(&format!(".if {}\n.endif\n", words.join(" ")));
    assert_eq!(e.len(), 1);
    assert!(e[0].len() < 300, "{}", e[0]);
    assert!(
        e[0].starts_with(
            "t.cfg:1: unparsable conditional expression 'word0 word1 word2 word3 word4 word5 \
             word6 word7 word8 word9 word10 word11 wor...' in '.if' at position 1: '.if word0"
        ),
        "{}",
        e[0]
    );
}
