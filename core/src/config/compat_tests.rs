//! What packaged configurations carry: HTTP-only keywords in TCP mode,
//! the global TLS defaults, `tune.*`.

use std::net::IpAddr;

use super::{Parsed, Source, parse};

fn parsed(text: &str) -> Result<Parsed, Vec<String>> {
    parse(&[Source::new("t.cfg", text)], &mut |_| {
        Some(IpAddr::from([127, 0, 0, 1]))
    })
    .map_err(|e| e.iter().map(ToString::to_string).collect())
}

fn warnings(text: &str) -> Vec<String> {
    let parsed = parsed(text).unwrap_or_else(|e| panic!("{e:?}"));
    parsed.warnings.iter().map(ToString::to_string).collect()
}

fn errors(text: &str) -> Vec<String> {
    match parsed(text) {
        Ok(_) => panic!("expected errors"),
        Err(e) => e,
    }
}

const TIMEOUTS: &str = " timeout connect 5s\n timeout client 5s\n timeout server 5s\n";

fn with_defaults(defaults: &str, proxies: &str) -> String {
    format!("defaults\n mode tcp\n{TIMEOUTS}{defaults}{proxies}")
}

const LISTEN: &str = "listen l\n bind 127.0.0.1:8123\n server s 127.0.0.1:8124\n";

#[test]
fn http_connection_modes_and_error_files_are_accepted_silently() {
    let text = with_defaults(
        " option httpclose\n option http-server-close\n option http-keep-alive\n \
         errorfile 503 /etc/haproxy/errors/503.http\n errorloc302 400 http://x/\n \
         http-reuse safe\n",
        LISTEN,
    );
    assert_eq!(warnings(&text), Vec::<String>::new());
}

#[test]
fn http_only_options_warn_per_proxy_in_haproxys_order() {
    let text = with_defaults(
        " option http-pretend-keepalive\n option http-buffer-request\n",
        "frontend f\n bind 127.0.0.1:8125\n default_backend b\n\
         backend b\n server s 127.0.0.1:8124\n",
    );
    assert_eq!(
        warnings(&text),
        [
            "t.cfg:8: 'option http-buffer-request' ignored for frontend 'f' as it requires HTTP mode.",
            "t.cfg:11: 'option http-buffer-request' ignored for backend 'b' as it requires HTTP mode.",
            "t.cfg:11: 'option http-pretend-keepalive' ignored for backend 'b' as it requires HTTP mode.",
        ]
    );
}

#[test]
fn a_backend_option_in_a_frontend_is_ignored_for_lack_of_capability() {
    let text = with_defaults(
        "",
        "frontend f\n bind 127.0.0.1:8125\n option http-pretend-keepalive\n http-reuse safe\n \
         default_backend b\nbackend b\n server s 127.0.0.1:8124\n",
    );
    assert_eq!(
        warnings(&text),
        [
            "t.cfg:8: 'http-pretend-keepalive' ignored because frontend 'f' has no backend capability.",
            "t.cfg:9: 'http-reuse' ignored because frontend 'f' has no backend capability.",
        ]
    );
}

#[test]
fn no_option_cancels_an_inherited_http_option() {
    let text = with_defaults(
        " option http-buffer-request\n",
        "listen l\n bind 127.0.0.1:8123\n no option http-buffer-request\n server s 127.0.0.1:8124\n",
    );
    assert_eq!(warnings(&text), Vec::<String>::new());
}

#[test]
fn http_keywords_are_checked_as_haproxy_does() {
    let text = with_defaults(
        " errorfile 999 /x\n errorfile 400\n option httpclose x\n http-reuse sometimes\n \
         http-reuse safe z\n option http-tunnel\n option forceclose\n",
        LISTEN,
    );
    assert_eq!(
        errors(&text),
        [
            "t.cfg:6: errorfile : status code '999' not handled.",
            "t.cfg:7: errorfile : expects <status_code> and <file> as arguments.",
            "t.cfg:8: 'option httpclose' cannot handle unexpected argument 'x'.",
            "t.cfg:9: 'http-reuse' only supports 'never', 'safe', 'aggressive', 'always'.",
            "t.cfg:10: 'http-reuse safe' cannot handle unexpected argument 'z'.",
            "t.cfg:11: option 'http-tunnel' is not supported any more since HAProxy 2.1, please \
             just remove it, it shouldn't be needed.",
            "t.cfg:12: option 'forceclose' is not supported any more since HAProxy 2.0, please \
             just remove it, or use 'option httpclose' if absolutely needed.",
        ]
    );
}

#[test]
fn mode_http_in_a_proxy_carrying_traffic_stays_an_error() {
    let text = format!("defaults\n mode http\n{TIMEOUTS} option httplog\n{LISTEN}");
    let errors = errors(&text);
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(errors[0].contains("'mode http'"), "{errors:?}");
}

fn tls_server(global: &str, params: &str) -> crate::config::CheckTls {
    let text = format!(
        "global\n{global}{}",
        with_defaults(
            "",
            &format!(
                "listen l\n bind 127.0.0.1:8123\n server s 127.0.0.1:8124 check check-ssl {params}\n"
            )
        )
    );
    let parsed = parsed(&text).unwrap_or_else(|e| panic!("{e:?}"));
    let server = &parsed.config.backends[0].servers[0];
    server.check_tls.clone().expect("check-ssl")
}

#[test]
fn relative_ca_and_crt_paths_start_from_ca_base_and_crt_base() {
    let global = " ca-base /etc/ssl/certs\n crt-base /etc/ssl/private\n";
    let tls = tls_server(global, "ca-file ca.pem crt client.pem");
    assert_eq!(tls.ca_file.as_deref(), Some("/etc/ssl/certs/ca.pem"));
    assert_eq!(tls.crt_file.as_deref(), Some("/etc/ssl/private/client.pem"));
    let tls = tls_server(global, "ca-file /abs/ca.pem");
    assert_eq!(tls.ca_file.as_deref(), Some("/abs/ca.pem"));
}

#[test]
fn server_defaults_bound_versions_and_pick_suites() {
    use rustls::CipherSuite;
    let tls = tls_server(
        " ssl-default-server-options ssl-min-ver TLSv1.3 no-tls-tickets\n \
         ssl-default-server-ciphersuites TLS_CHACHA20_POLY1305_SHA256:TLS_AES_128_GCM_SHA256\n",
        "ca-file /ca.pem",
    );
    assert!(!tls.params.tls12 && tls.params.tls13);
    assert_eq!(
        tls.params.tls13_suites,
        Some(vec![
            CipherSuite::TLS13_CHACHA20_POLY1305_SHA256,
            CipherSuite::TLS13_AES_128_GCM_SHA256
        ])
    );
    let tls = tls_server(" ssl-default-server-options no-tlsv13\n", "verify none");
    assert!(tls.params.tls12 && !tls.params.tls13);
}

#[test]
fn unknown_ciphers_are_named_in_a_warning() {
    let text = format!(
        "global\n ssl-default-server-ciphers ECDHE-RSA-AES128-GCM-SHA256:DHE-RSA-AES128-GCM-SHA256\n \
         ssl-default-server-ciphers HIGH:!aNULL\n{}",
        with_defaults("", LISTEN)
    );
    assert_eq!(
        warnings(&text),
        [
            "t.cfg:2: 'ssl-default-server-ciphers': weir's TLS (rustls) cannot apply \
             'DHE-RSA-AES128-GCM-SHA256': ignored.",
            "t.cfg:3: 'ssl-default-server-ciphers': weir's TLS (rustls) cannot apply 'HIGH', \
             '!aNULL': none of the list is left: weir keeps its default suites.",
        ]
    );
}

#[test]
fn global_tls_and_tune_keywords_take_haproxys_messages() {
    let text = format!(
        "global\n ca-base /a\n ca-base /b\n crt-base\n ssl-default-server-options ssl-min-ver TLSv9\n \
         ssl-default-server-options no-tlsv12 no-tlsv13\n ssl-default-bind-options bogus\n \
         tune.ssl.default-dh-param 512\n tune.bufsize\n ssl-default-server-ciphers\n{}",
        with_defaults("", LISTEN)
    );
    assert_eq!(
        errors(&text),
        [
            "t.cfg:3: 'ca-base' already specified.",
            "t.cfg:4: global statement 'crt-base' expects a directory path as an argument.",
            "t.cfg:5: 'TLSv9' : unknown ssl/tls version on global statement \
             'ssl-default-server-options'.",
            "t.cfg:6: 'ssl-default-server-options': no TLS version weir speaks (TLSv1.2, \
             TLSv1.3) is left.",
            "t.cfg:7: unknown option 'bogus' on global statement 'ssl-default-bind-options'.",
            "t.cfg:8: 'tune.ssl.default-dh-param' expects a value >= 1024.",
            "t.cfg:9: 'tune.bufsize' expects an integer argument.",
            "t.cfg:10: global statement 'ssl-default-server-ciphers' expects a cipher suite as \
             an argument.",
        ]
    );
}

#[test]
fn bind_side_tls_and_buffer_sizes_are_accepted_with_a_warning() {
    let text = format!(
        "global\n ssl-default-bind-ciphers ECDHE-RSA-AES128-GCM-SHA256\n \
         tune.ssl.default-dh-param 2048\n tune.bufsize 32768\n tune.maxrewrite 1024\n{}",
        with_defaults("", LISTEN)
    );
    assert_eq!(
        warnings(&text),
        [
            "t.cfg:2: 'ssl-default-bind-ciphers' ignored: weir terminates no TLS (it has no \
             'bind ... ssl').",
            "t.cfg:3: 'tune.ssl.default-dh-param' ignored: weir terminates no TLS (it has no \
             'bind ... ssl').",
            "t.cfg:4: 'tune.bufsize' ignored: weir's buffers stay 16384 bytes.",
            "t.cfg:5: 'tune.maxrewrite' ignored: weir rewrites no HTTP.",
        ]
    );
}

#[test]
fn contstats_is_what_weir_does_anyway_and_backends_ignore_it() {
    let text = with_defaults(
        "",
        "frontend f\n bind 127.0.0.1:8123\n option contstats\n default_backend b\n\
         backend b\n option contstats\n server s 127.0.0.1:8124\n",
    );
    assert_eq!(
        warnings(&text),
        ["t.cfg:11: 'contstats' ignored because backend 'b' has no frontend capability."]
    );
}
