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

#[test]
fn splice_options_apply_to_frontends_and_backends_and_are_undone_by_no() {
    use crate::config::traffic::Splice;
    let none = parsed(&with_defaults("", FE_BE));
    assert_eq!(none.config.frontends[0].traffic.splice, Splice::default());
    let text = with_defaults(
        " option splice-auto\n option splice-request\n",
        &format!(
            "{FE_BE} no option splice-auto\n no option splice-request\n option splice-response\n"
        ),
    );
    let p = parsed(&text);
    let fe = Splice {
        auto: Some(true),
        request: true,
        response: false,
    };
    let be = Splice {
        auto: Some(false),
        request: false,
        response: true,
    };
    assert_eq!(p.config.frontends[0].traffic.splice, fe);
    assert_eq!(p.config.backends[0].traffic.splice, be);
    assert!(p.warnings.is_empty());
}

/// HAProxy 2.6.12's messages, word for word.
#[test]
fn nosplice_maxpipes_and_pipesize_parse_with_haproxys_messages() {
    let text = format!(
        "global\n nosplice\n maxpipes 10\n maxpipes 20\n tune.pipesize 262144\n{}",
        with_defaults("", FE_BE)
    );
    let p = parsed(&text);
    let splice = p.config.global.splice;
    assert!(splice.disabled);
    assert_eq!(
        (splice.maxpipes, splice.pipesize),
        (Some(10), Some(262_144))
    );
    let warnings: Vec<String> = p.warnings.iter().map(ToString::to_string).collect();
    assert_eq!(
        warnings,
        ["t.cfg:4: 'maxpipes' already specified. Continuing."]
    );
    // HAProxy's atol: no digits is 0, the default.
    let p = parsed(&format!(
        "global\n maxpipes abc\n{}",
        with_defaults("", FE_BE)
    ));
    assert_eq!(p.config.global.splice.maxpipes, None);
    for (line, message) in [
        (
            "nosplice x",
            "'nosplice' cannot handle unexpected argument 'x'.",
        ),
        ("maxpipes", "'maxpipes' expects an integer argument."),
        (
            "tune.pipesize",
            "'tune.pipesize' expects an integer argument.",
        ),
        (
            "tune.pipesize 1 2",
            "'tune.pipesize' cannot handle unexpected argument '2'.",
        ),
    ] {
        let text = format!("global\n {line}\n{}", with_defaults("", FE_BE));
        assert_eq!(errors(&text), [format!("t.cfg:2: {message}")], "{line}");
    }
    let text = with_defaults(" option splice-auto x\n", FE_BE);
    assert_eq!(
        errors(&text),
        ["t.cfg:6: 'option splice-auto' cannot handle unexpected argument 'x'."]
    );
}
