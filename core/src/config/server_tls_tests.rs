//! A server line's own TLS settings (`ciphers`, versions, tickets, reuse,
//! `alpn`, `crl-file`) and how they meet the global `ssl-default-server-*`.

use std::net::IpAddr;

use rustls::CipherSuite;

use super::{CheckTls, Parsed, Source, parse};

fn parsed(text: &str) -> Result<Parsed, Vec<String>> {
    parse(&[Source::new("t.cfg", text)], &mut |_| {
        Some(IpAddr::from([127, 0, 0, 1]))
    })
    .map_err(|e| e.iter().map(ToString::to_string).collect())
}

fn config(global: &str, default_server: &str, params: &str) -> String {
    format!(
        "global\n{global}defaults\n mode tcp\n timeout connect 5s\n timeout client 5s\n \
         timeout server 5s\n{default_server}listen l\n bind 127.0.0.1:8123\n \
         server s 127.0.0.1:8124 check ssl verify none {params}\n"
    )
}

/// The traffic and check settings of the one server.
fn server(global: &str, params: &str) -> (CheckTls, CheckTls) {
    let parsed = parsed(&config(global, "", params)).unwrap_or_else(|e| panic!("{e:?}"));
    let server = &parsed.config.backends[0].servers[0];
    (
        server.tls.clone().unwrap(),
        server.check_tls.clone().unwrap(),
    )
}

fn errors(global: &str, params: &str) -> Vec<String> {
    match parsed(&config(global, "", params)) {
        Ok(_) => panic!("expected errors for '{params}'"),
        Err(errors) => errors,
    }
}

#[test]
fn a_servers_ciphers_win_over_the_global_ones() {
    let global = " ssl-default-server-ciphers ECDHE-RSA-AES128-GCM-SHA256\n \
                  ssl-default-server-ciphersuites TLS_AES_128_GCM_SHA256\n";
    let (tls, check) = server(global, "ciphers ECDHE-RSA-CHACHA20-POLY1305");
    assert_eq!(
        tls.params.tls12_suites,
        Some(vec![
            CipherSuite::TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256
        ])
    );
    assert_eq!(
        tls.params.tls13_suites,
        Some(vec![CipherSuite::TLS13_AES_128_GCM_SHA256]),
        "no ciphersuites on the line: the global ones"
    );
    assert_eq!(check.params, tls.params, "checks use the server's settings");
    let (tls, _) = server(
        "",
        "ciphersuites TLS_CHACHA20_POLY1305_SHA256:TLS_AES_256_GCM_SHA384",
    );
    assert_eq!(
        tls.params.tls13_suites,
        Some(vec![
            CipherSuite::TLS13_CHACHA20_POLY1305_SHA256,
            CipherSuite::TLS13_AES_256_GCM_SHA384
        ])
    );
    assert_eq!(tls.params.tls12_suites, None);
}

#[test]
fn ciphers_rustls_lacks_are_named_in_a_warning() {
    let parsed = parsed(&config("", "", "ciphers HIGH:ECDHE-RSA-AES128-GCM-SHA256")).unwrap();
    let warnings: Vec<String> = parsed.warnings.iter().map(ToString::to_string).collect();
    assert!(
        warnings.iter().any(|w| w.starts_with("t.cfg:9: ")
            && w.contains("'ciphers': weir's TLS (rustls) cannot apply 'HIGH': ignored.")),
        "{warnings:?}"
    );
}

#[test]
fn version_options_add_up_with_the_global_ones_and_min_max_win() {
    let (tls, _) = server("", "force-tlsv12");
    assert!(tls.params.tls12 && !tls.params.tls13);
    let (tls, _) = server("", "no-tlsv12");
    assert!(!tls.params.tls12 && tls.params.tls13);
    // The global maximum, the server's minimum.
    let (tls, _) = server(
        " ssl-default-server-options ssl-max-ver TLSv1.2\n",
        "ssl-min-ver TLSv1.0",
    );
    assert!(tls.params.tls12 && !tls.params.tls13);
    // The server's maximum wins over the global one.
    let (tls, _) = server(
        " ssl-default-server-options ssl-max-ver TLSv1.2\n",
        "ssl-max-ver TLSv1.3",
    );
    assert!(tls.params.tls12 && tls.params.tls13);
    // `no-*` flags add up: nothing weir speaks is left.
    assert_eq!(
        errors(" ssl-default-server-options no-tlsv13\n", "no-tlsv12"),
        ["t.cfg:10: 'server l/s' : no TLS version weir speaks (TLSv1.2, TLSv1.3) is left."]
    );
    assert_eq!(
        errors("", "no-sslv3 no-tlsv10 no-tlsv11 no-tlsv12 no-tlsv13"),
        ["t.cfg:9: 'server l/s' : proxy 'l': all SSL/TLS versions are disabled for server 's'."]
    );
}

#[test]
fn no_flags_are_ignored_beside_a_minimum_or_maximum_as_haproxy_warns() {
    let text = config("", "", "no-tlsv12 ssl-min-ver TLSv1.2");
    let parsed = parsed(&text).unwrap_or_else(|e| panic!("{e:?}"));
    let tls = parsed.config.backends[0].servers[0].tls.clone().unwrap();
    assert!(tls.params.tls12 && tls.params.tls13, "no-tlsv12 ignored");
    let warnings: Vec<String> = parsed.warnings.iter().map(ToString::to_string).collect();
    assert!(
        warnings.contains(
            &"t.cfg:9: 'server l/s' : no-sslv3/no-tlsv1x are ignored for this server. Use only \
              'ssl-min-ver' and 'ssl-max-ver' to fix."
                .to_owned()
        ),
        "{warnings:?}"
    );
}

#[test]
fn bad_values_get_haproxys_messages() {
    let cases = [
        ("ciphers", "t.cfg:9: 'ciphers' : missing cipher suite"),
        (
            "ssl-min-ver",
            "t.cfg:9: 'ssl-min-ver' : missing the ssl/tls version",
        ),
        (
            "ssl-max-ver TLSv9",
            "t.cfg:9: 'TLSv9' : unknown ssl/tls version",
        ),
        ("crl-file", "t.cfg:9: 'crl-file' : missing CRLfile path"),
        (
            "alpn",
            "t.cfg:9: 'alpn' : missing the comma-delimited ALPN protocol suite",
        ),
        (
            "alpn h2,,x",
            "t.cfg:9: 'alpn' : empty protocol name in 'h2,,x'",
        ),
    ];
    for (params, message) in cases {
        assert_eq!(errors("", params), [message], "{params}");
    }
    let long = "x".repeat(256);
    let errors = errors("", &format!("alpn h2,{long}"));
    assert!(
        errors[0].contains("'alpn' : ALPN protocol name too long"),
        "{errors:?}"
    );
}

#[test]
fn tickets_and_reuse_follow_the_line_then_the_global_options() {
    let (tls, _) = server("", "");
    assert!(!tls.no_tickets && !tls.no_reuse);
    let global = " ssl-default-server-options no-tls-tickets\n";
    let (tls, _) = server(global, "");
    assert!(tls.no_tickets);
    let (tls, _) = server(global, "tls-tickets");
    assert!(!tls.no_tickets);
    let (tls, check) = server("", "no-ssl-reuse");
    assert!(tls.no_reuse && check.no_reuse);
    let (tls, _) = server("", "no-ssl-reuse ssl-reuse");
    assert!(!tls.no_reuse);
}

#[test]
fn alpn_goes_to_traffic_only() {
    let (tls, check) = server("", "alpn h2,http/1.1");
    assert_eq!(tls.alpn, [b"h2".to_vec(), b"http/1.1".to_vec()]);
    assert!(check.alpn.is_empty());
}

#[test]
fn default_server_carries_the_settings_and_crl_file_starts_from_ca_base() {
    let text = config(
        " ca-base /etc/ssl/certs\n",
        " default-server force-tlsv13 crl-file revoked.pem no-ssl-reuse\n",
        "",
    );
    let parsed = parsed(&text).unwrap_or_else(|e| panic!("{e:?}"));
    let tls = parsed.config.backends[0].servers[0].tls.clone().unwrap();
    assert!(!tls.params.tls12 && tls.params.tls13);
    assert!(tls.no_reuse);
    assert_eq!(tls.crl_file.as_deref(), Some("/etc/ssl/certs/revoked.pem"));
}

#[test]
fn a_crl_file_without_a_crl_is_refused_when_loaded() {
    let text = config("", "", "crl-file /x/crl.pem");
    let mut config = parsed(&text).unwrap().config;
    let errors = config
        .load_files(&mut |path| match path {
            "/x/crl.pem" => Ok(b"not a crl".to_vec()),
            other => Err(format!("no {other}")),
        })
        .expect_err("no CRL");
    assert_eq!(
        errors[0].to_string(),
        "t.cfg:9: 'crl-file' : unable to load /x/crl.pem: no PEM X509 CRL found in it"
    );
}
