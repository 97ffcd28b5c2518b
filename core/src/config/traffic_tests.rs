//! Traffic options: `option abortonclose`, `option logasap`, `option
//! independent-streams`, rate limits.

use std::net::IpAddr;

use super::{Parsed, Source, parse};

fn parsed(text: &str) -> Parsed {
    parse(&[Source::new("t.cfg", text)], &mut |_| {
        Some(IpAddr::from([127, 0, 0, 1]))
    })
    .unwrap_or_else(|e| panic!("{e:?}"))
}

fn warnings(text: &str) -> Vec<String> {
    parsed(text)
        .warnings
        .iter()
        .map(ToString::to_string)
        .collect()
}

const TIMEOUTS: &str = " timeout connect 5s\n timeout client 5s\n timeout server 5s\n";

fn with_defaults(defaults: &str, proxies: &str) -> String {
    format!("defaults\n mode tcp\n{TIMEOUTS}{defaults}{proxies}")
}

const FE_BE: &str = "frontend f\n bind 127.0.0.1:8125\n default_backend b\n\
                     backend b\n server s 127.0.0.1:8124\n";

#[test]
fn abortonclose_is_inherited_from_defaults_and_undone_by_no() {
    let on = parsed(&with_defaults(" option abortonclose\n", FE_BE));
    assert!(on.config.backends[0].traffic.abortonclose);
    let off = parsed(&with_defaults(
        " option abortonclose\n",
        &format!("{FE_BE} no option abortonclose\n"),
    ));
    assert!(!off.config.backends[0].traffic.abortonclose);
    let none = parsed(&with_defaults("", FE_BE));
    assert!(!none.config.backends[0].traffic.abortonclose);
}

/// HAProxy 2.6.12's warning, word for word.
#[test]
fn abortonclose_in_a_frontend_is_ignored_with_haproxys_warning() {
    let text = with_defaults(
        "",
        "frontend f\n bind 127.0.0.1:8125\n option abortonclose\n default_backend b\n\
         backend b\n server s 127.0.0.1:8124\n",
    );
    assert_eq!(
        warnings(&text),
        ["t.cfg:8: 'abortonclose' ignored because frontend 'f' has no backend capability."]
    );
}

#[test]
fn logasap_is_a_frontend_option_inherited_from_defaults() {
    let on = parsed(&with_defaults(" option logasap\n", FE_BE));
    assert!(on.config.frontends[0].traffic.logasap);
    let off = parsed(&with_defaults(
        " option logasap\n",
        "frontend f\n bind 127.0.0.1:8125\n no option logasap\n default_backend b\n\
         backend b\n server s 127.0.0.1:8124\n",
    ));
    assert!(!off.config.frontends[0].traffic.logasap);
    let text = with_defaults("", &format!("{FE_BE} option logasap\n"));
    assert_eq!(
        warnings(&text),
        ["t.cfg:11: 'logasap' ignored because backend 'b' has no frontend capability."]
    );
}

#[test]
fn independent_streams_applies_to_frontends_and_backends() {
    let on = parsed(&with_defaults(" option independent-streams\n", FE_BE));
    assert!(on.config.frontends[0].traffic.independent_streams);
    assert!(on.config.backends[0].traffic.independent_streams);
    let be_only = parsed(&with_defaults(
        "",
        &format!("{FE_BE} option independent-streams\n"),
    ));
    assert!(!be_only.config.frontends[0].traffic.independent_streams);
    assert!(be_only.config.backends[0].traffic.independent_streams);
    assert!(warnings(&with_defaults(" option independent-streams\n", FE_BE)).is_empty());
}

fn errors(text: &str) -> Vec<String> {
    match parse(&[Source::new("t.cfg", text)], &mut |_| {
        Some(IpAddr::from([127, 0, 0, 1]))
    }) {
        Ok(_) => panic!("expected errors"),
        Err(e) => e.iter().map(ToString::to_string).collect(),
    }
}

#[test]
fn rate_limits_parse_with_haproxys_messages() {
    let fe = |line: &str| {
        with_defaults(
            "",
            &format!(
                "frontend f\n bind 127.0.0.1:8125\n {line}\n default_backend b\n\
                 backend b\n server s 127.0.0.1:8124\n"
            ),
        )
    };
    let limited = parsed(&fe("rate-limit sessions 20"));
    assert_eq!(
        limited.config.frontends[0].traffic.rate_limit_sessions,
        Some(20)
    );
    let off = parsed(&fe("rate-limit sessions 0"));
    assert_eq!(off.config.frontends[0].traffic.rate_limit_sessions, None);
    assert_eq!(
        errors(&fe("rate-limit foo 3")),
        ["t.cfg:8: 'rate-limit' only supports 'sessions' (got 'foo')"]
    );
    assert_eq!(
        errors(&fe("rate-limit sessions")),
        ["t.cfg:8: 'rate-limit sessions' expects expects an integer value (in sessions/second)"]
    );
    assert_eq!(
        errors(&fe("rate-limit sessions x")),
        ["t.cfg:8: 'rate-limit sessions' : unexpected character 'x' in integer value 'x'"]
    );
    assert_eq!(
        warnings(&with_defaults(
            "",
            &format!("{FE_BE} rate-limit sessions 5\n")
        )),
        [
            "t.cfg:11: rate-limit sessions will be ignored because backend 'b' has no frontend capability"
        ]
    );
    let global = |line: &str| format!("global\n {line}\n{}", with_defaults("", FE_BE));
    let rates = parsed(&global("maxconnrate 100")).config.global.rates;
    assert_eq!((rates.conn, rates.sess), (Some(100), None));
    let rates = parsed(&global("maxsessrate 7")).config.global.rates;
    assert_eq!((rates.conn, rates.sess), (None, Some(7)));
    // HAProxy's atol: no digits is 0, no limit.
    assert_eq!(
        parsed(&global("maxconnrate x")).config.global.rates.conn,
        None
    );
    assert_eq!(
        errors(&global("maxconnrate")),
        ["t.cfg:2: 'maxconnrate' expects an integer argument."]
    );
    assert_eq!(
        errors(&global("maxconnrate 5 6")),
        ["t.cfg:2: 'maxconnrate' cannot handle unexpected argument '6'."]
    );
}
