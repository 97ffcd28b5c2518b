//! `bind` socket options and the proxy's `backlog`, with HAProxy 2.6's
//! messages (checked with `haproxy -c`).

use std::net::IpAddr;
use std::time::Duration;

use super::{BindOptions, Parsed, Source, parse};

fn parsed(text: &str) -> Result<Parsed, Vec<String>> {
    parse(&[Source::new("t.cfg", text)], &mut |_| {
        Some(IpAddr::from([127, 0, 0, 1]))
    })
    .map_err(|e| e.iter().map(ToString::to_string).collect())
}

fn config(defaults: &str, options: &str) -> String {
    format!(
        "defaults\n mode tcp\n timeout connect 5s\n timeout client 5s\n timeout server 5s\n\
         {defaults}listen l\n bind 127.0.0.1:8123 {options}\n server s 127.0.0.1:8124\n"
    )
}

fn options(defaults: &str, options: &str) -> BindOptions {
    let parsed = parsed(&config(defaults, options)).unwrap_or_else(|e| panic!("{e:?}"));
    parsed.config.frontends[0].binds[0].options.clone()
}

#[test]
fn socket_options_are_read_from_the_bind_line() {
    let o = options(
        "",
        "v6only defer-accept tfo transparent mss 1400 backlog 50 tcp-ut 5s interface lo",
    );
    assert_eq!(
        o,
        BindOptions {
            backlog: Some(50),
            v6only: Some(true),
            mss: Some(1400),
            defer_accept: true,
            fast_open: true,
            user_timeout: Some(Duration::from_secs(5)),
            interface: Some("lo".into()),
            transparent: true,
        }
    );
    assert_eq!(
        options("", "v6only v4v6").v6only,
        Some(false),
        "the last wins"
    );
    assert_eq!(options("", "").v6only, None);
}

#[test]
fn the_proxys_backlog_is_the_default_of_its_binds() {
    assert_eq!(options(" backlog 77\n", "").backlog, Some(77));
    assert_eq!(options(" backlog 77\n", "backlog 5").backlog, Some(5));
    assert_eq!(options("", "backlog 0").backlog, None, "0: the default");
    let parsed = parsed(&format!("{}backend b\n backlog 3\n", config("", ""))).unwrap();
    let warnings: Vec<String> = parsed.warnings.iter().map(ToString::to_string).collect();
    assert_eq!(
        warnings,
        ["t.cfg:10: 'backlog' ignored because backend 'b' has no frontend capability."]
    );
}

#[test]
fn bad_values_get_haproxys_messages() {
    let prefix = "t.cfg:7: 'bind 127.0.0.1:8123' : ";
    let cases = [
        ("mss", "'mss' : missing MSS value"),
        (
            "mss 0",
            "'mss' : expects an MSS with and absolute value between 1 and 65535",
        ),
        (
            "mss 70000",
            "'mss' : expects an MSS with and absolute value between 1 and 65535",
        ),
        ("backlog", "'backlog' : missing value"),
        ("backlog -3", "'backlog' : invalid value -3, must be > 0"),
        ("tcp-ut", "'tcp-ut' : missing TCP User Timeout value"),
        (
            "tcp-ut 5x",
            "'tcp-ut' : expects a positive delay in milliseconds",
        ),
        (
            "tcp-ut 30d",
            "timer overflow in argument '30d' to 'tcp-ut' (maximum value is 2147483647 ms or \
             ~24.8 days)",
        ),
        ("interface", "'interface' : missing interface name"),
    ];
    for (options, message) in cases {
        let errors = parsed(&config("", options)).err().unwrap_or_default();
        assert_eq!(errors, [format!("{prefix}{message}")], "{options}");
    }
}
