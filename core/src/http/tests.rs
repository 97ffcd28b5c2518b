//! Requests through the reader and the router of a configuration, against
//! what HAProxy 2.6.12 answered to the same requests with the same
//! configuration (`golden/*.http`, captured with a raw socket client).

use std::net::IpAddr;

use super::*;
use crate::config::{self, HttpService, Source};

/// The frontends HAProxy ran for the golden samples (ports aside).
const CONFIG: &str = "\
defaults
  mode http
  timeout client 5s
  timeout connect 5s
  timeout server 5s
frontend prom
  bind 127.0.0.1:18404
  http-request use-service prometheus-exporter if { path /metrics }
  stats enable
  stats uri /stats
  stats refresh 10s
  stats auth admin:secret
  stats auth ro:pw
  stats admin if TRUE
frontend prom2
  bind 127.0.0.1:18405
  stats enable
  stats uri /
  stats realm My\\ Realm
  stats auth a:b
  stats admin if LOCALHOST
frontend prom3
  bind 127.0.0.1:18406
  stats enable
  stats hide-version
  http-request use-service prometheus-exporter if { path_beg /metrics }
backend app
  mode tcp
  server s1 127.0.0.1:9 check
  server s2 127.0.0.1:10
";

/// `admin:secret`.
const AUTH: &str = "Authorization: Basic YWRtaW46c2VjcmV0\r\n";

fn services() -> Vec<HttpService> {
    let parsed = config::parse(&[Source::new("h.cfg", CONFIG)], &mut |_| None)
        .unwrap_or_else(|e| panic!("{e:?}"));
    parsed
        .config
        .frontends
        .into_iter()
        .map(|f| f.service.expect("a mode http frontend"))
        .collect()
}

const LOCAL: IpAddr = IpAddr::V4(std::net::Ipv4Addr::LOCALHOST);

/// Reads one request from `bytes` and answers it as the lead will: the
/// metrics and page bodies are `METRICS` and `PAGE`; admin forms act on
/// `app` where `s2` changes and other servers are unknown.
fn answer(service: &HttpService, bytes: &str, peer: IpAddr) -> Reply {
    let req = match RequestReader::new().read(bytes.as_bytes()) {
        Ok(Read::Request(req)) => req,
        Ok(Read::Continue) => {
            return Reply {
                bytes: CONTINUE.to_vec(),
                close: false,
            };
        }
        Ok(Read::NeedMore) => panic!("incomplete: {bytes:?}"),
        Err(_) => {
            return Reply {
                bytes: BAD_REQUEST.to_vec(),
                close: true,
            };
        }
    };
    match service.route(&req, peer) {
        Route::Metrics(_) => Reply::metrics(&req, b"METRICS\n"),
        Route::Stats(view) => view.reply(&req, b"PAGE\n"),
        Route::Admin(view, post) => {
            let code = post.run(
                |b| b == "app",
                |_, s, _| {
                    if s == "s2" {
                        Outcome::Altered
                    } else {
                        Outcome::Unknown
                    }
                },
            );
            view.redirect(&req, code)
        }
        Route::Reply(reply) => reply,
    }
}

/// The head of an answer (up to the empty line).
fn head(bytes: &[u8]) -> &[u8] {
    let end = bytes.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
    &bytes[..end]
}

#[test]
fn answers_are_haproxys_byte_for_byte() {
    let fe = services();
    let ro = "Authorization: Basic cm86cHc=\r\n";
    // (sample, frontend, request, whole answer or head only, closes)
    let cases: &[(&[u8], usize, String, bool, bool)] = &[
        (
            include_bytes!("golden/400-bad-request.http"),
            0,
            "GARBAGE\r\n\r\n".into(),
            true,
            true,
        ),
        (
            include_bytes!("golden/503-no-service.http"),
            0,
            "GET /other HTTP/1.1\r\nHost: x\r\n\r\n".into(),
            true,
            false,
        ),
        (
            include_bytes!("golden/503-no-service-http10.http"),
            0,
            "GET /other HTTP/1.0\r\n\r\n".into(),
            true,
            true,
        ),
        (
            include_bytes!("golden/401-stats-auth.http"),
            0,
            "GET /stats HTTP/1.1\r\nHost: x\r\n\r\n".into(),
            true,
            true,
        ),
        (
            include_bytes!("golden/401-stats-auth-http10.http"),
            0,
            "GET /stats HTTP/1.0\r\n\r\n".into(),
            true,
            true,
        ),
        (
            include_bytes!("golden/401-stats-realm.http"),
            1,
            "GET / HTTP/1.1\r\nHost: x\r\nAuthorization: Basic eDp5\r\n\r\n".into(),
            true,
            true,
        ),
        (
            include_bytes!("golden/400-metrics-bad-scope.http"),
            0,
            "GET /metrics?scope=bogus HTTP/1.1\r\nHost: x\r\n\r\n".into(),
            true,
            true,
        ),
        (
            include_bytes!("golden/200-metrics-head.http"),
            0,
            "HEAD /metrics HTTP/1.1\r\nHost: x\r\n\r\n".into(),
            true,
            false,
        ),
        (
            include_bytes!("golden/200-metrics-get.http"),
            0,
            "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n".into(),
            false,
            false,
        ),
        (
            include_bytes!("golden/200-metrics-get-close.http"),
            0,
            "GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".into(),
            false,
            true,
        ),
        (
            include_bytes!("golden/200-stats-html.http"),
            0,
            format!("GET /stats HTTP/1.1\r\nHost: x\r\n{AUTH}\r\n"),
            false,
            false,
        ),
        (
            include_bytes!("golden/200-stats-csv.http"),
            0,
            format!("GET /stats;csv HTTP/1.1\r\nHost: x\r\n{ro}\r\n"),
            false,
            false,
        ),
        (
            include_bytes!("golden/200-stats-norefresh.http"),
            0,
            format!("GET /stats;norefresh HTTP/1.1\r\nHost: x\r\n{AUTH}\r\n"),
            false,
            false,
        ),
        (
            include_bytes!("golden/200-stats-head.http"),
            0,
            format!("HEAD /stats HTTP/1.1\r\nHost: x\r\n{AUTH}\r\n"),
            true,
            false,
        ),
        (
            include_bytes!("golden/303-admin-done.http"),
            0,
            format!(
                "POST /stats HTTP/1.1\r\nHost: x\r\n{AUTH}Content-Length: 23\r\n\r\ns=s2&action=ready&b=app"
            ),
            true,
            false,
        ),
        (
            include_bytes!("golden/303-admin-part-up.http"),
            0,
            format!(
                "POST /stats;up;norefresh HTTP/1.1\r\nHost: x\r\n{AUTH}Content-Length: 28\r\n\r\ns=s2&s=zz&action=ready&b=app"
            ),
            true,
            false,
        ),
        (
            include_bytes!("golden/303-admin-deny.http"),
            2,
            "POST /haproxy?stats HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nb=x".into(),
            true,
            false,
        ),
        (
            include_bytes!("golden/100-continue.http"),
            0,
            format!(
                "POST /stats HTTP/1.1\r\nHost: x\r\n{AUTH}Expect: 100-continue\r\nContent-Length: 23\r\n\r\n"
            ),
            true,
            false,
        ),
    ];
    for (golden, frontend, request, whole, closes) in cases {
        let reply = answer(&fe[*frontend], request, LOCAL);
        let ours = if *whole {
            &reply.bytes[..]
        } else {
            head(&reply.bytes)
        };
        assert_eq!(
            String::from_utf8_lossy(ours),
            String::from_utf8_lossy(golden),
            "for {request:?}"
        );
        assert_eq!(reply.close, *closes, "close after {request:?}");
    }
}

#[test]
fn raw_messages_are_haproxys() {
    assert_eq!(BAD_REQUEST, include_bytes!("golden/400-bad-request.http"));
    assert_eq!(
        REQUEST_TIMEOUT,
        include_bytes!("golden/408-request-timeout.http")
    );
    assert_eq!(CONTINUE, include_bytes!("golden/100-continue.http"));
}

#[test]
fn bodies_are_one_chunk_to_http11_and_sized_to_http10() {
    let fe = services();
    let reply = answer(&fe[0], "GET /metrics HTTP/1.1\r\n\r\n", LOCAL);
    assert!(
        reply
            .bytes
            .ends_with(b"\r\n\r\n8\r\nMETRICS\n\r\n0\r\n\r\n")
    );
    let reply = answer(&fe[0], "GET /metrics HTTP/1.0\r\n\r\n", LOCAL);
    assert_eq!(
        String::from_utf8_lossy(&reply.bytes),
        "HTTP/1.1 200 OK\r\ncache-control: no-cache\r\ncontent-type: text/plain; version=0.0.4\r\n\
         content-length: 8\r\nconnection: close\r\n\r\nMETRICS\n"
    );
    assert!(reply.close);
    let reply = answer(
        &fe[0],
        "GET /metrics HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
        LOCAL,
    );
    assert!(!reply.close);
    assert!(String::from_utf8_lossy(&reply.bytes).contains("\r\nconnection: keep-alive\r\n"));
}

#[test]
fn routing_follows_haproxy() {
    let fe = services();
    let route = |i: usize, request: &str, peer: IpAddr| {
        let bytes = request.to_owned();
        let mut reader = RequestReader::new();
        let Ok(Read::Request(req)) = reader.read(bytes.as_bytes()) else {
            panic!("{request}");
        };
        match fe[i].route(&req, peer) {
            Route::Metrics(q) => format!("metrics {}", q == MetricsQuery::ALL),
            Route::Stats(v) => format!(
                "stats {:?} up={} maint={} norefresh={} st={:?} scope={:?} admin={}",
                v.format,
                v.hide_down,
                v.no_maint,
                v.no_refresh,
                v.status.map(StatCode::as_str),
                v.scope,
                v.admin
            ),
            Route::Admin(_, post) => format!("admin {:?}", post.servers),
            Route::Reply(r) => String::from_utf8_lossy(&r.bytes[9..12]).into_owned(),
        }
    };
    let other: IpAddr = "10.0.0.1".parse().unwrap();
    // The exporter serves any method; `path` ignores the query and the
    // authority, and is exact; `path_beg` is a prefix.
    assert_eq!(
        route(0, "OPTIONS /metrics?x=1 HTTP/1.1\r\n\r\n", other),
        "metrics true"
    );
    assert_eq!(
        route(0, "GET http://h/metrics HTTP/1.1\r\n\r\n", other),
        "metrics true"
    );
    assert_eq!(route(0, "GET /metrics/ HTTP/1.1\r\n\r\n", other), "503");
    assert_eq!(
        route(2, "GET /metricsXYZ HTTP/1.1\r\n\r\n", other),
        "metrics true"
    );
    assert_eq!(
        route(2, "GET /metrics?scope=server HTTP/1.1\r\n\r\n", other),
        "metrics false"
    );
    // The stats URI is a prefix of path and query, for GET, HEAD, POST.
    assert_eq!(
        route(2, "GET /haproxy?statsfoo HTTP/1.1\r\n\r\n", other).get(..10),
        Some("stats Html")
    );
    assert_eq!(route(2, "GET /haproxy HTTP/1.1\r\n\r\n", other), "503");
    assert_eq!(
        route(0, &format!("PUT /stats HTTP/1.1\r\n{AUTH}\r\n"), other),
        "503"
    );
    // Wrong password, unknown user, other schemes: 401.
    for auth in [
        "Basic YWRtaW46c2VjcmV1",
        "Basic eDp5",
        "Bearer x",
        "Basic !!!!",
        "Basic",
    ] {
        let request = format!("GET /stats HTTP/1.1\r\nAuthorization: {auth}\r\n\r\n");
        assert_eq!(route(0, &request, other), "401", "{auth}");
    }
    assert_eq!(
        route(
            0,
            "GET /stats HTTP/1.1\r\nAuthorization: basic   cm86cHc=\r\n\r\n",
            other
        )
        .get(..5),
        Some("stats")
    );
    // Options after the URI, anywhere.
    assert_eq!(
        route(
            0,
            &format!(
                "GET /stats;up;csv;no-maint;norefresh;st=DONE?scope=app HTTP/1.1\r\n{AUTH}\r\n"
            ),
            other
        ),
        "stats Csv up=true maint=true norefresh=true st=Some(\"DONE\") scope=Some(\"app\") admin=true"
    );
    assert_eq!(
        route(
            0,
            &format!("GET /stats;json;st=XX?scope=a/b HTTP/1.1\r\n{AUTH}\r\n"),
            other
        ),
        "stats Json up=false maint=false norefresh=false st=Some(\"UNKN\") scope=None admin=true"
    );
    // `;norefresh` means something only with `stats refresh`; LOCALHOST.
    let b = "Authorization: Basic YTpi\r\n";
    assert_eq!(
        route(
            1,
            &format!("GET /;norefresh;typed HTTP/1.1\r\n{b}\r\n"),
            other
        ),
        "stats Typed up=false maint=false norefresh=false st=None scope=None admin=false"
    );
    assert!(route(1, &format!("GET / HTTP/1.1\r\n{b}\r\n"), LOCAL).ends_with("admin=true"));
    assert_eq!(
        route(
            1,
            &format!("POST / HTTP/1.1\r\n{b}Content-Length: 3\r\n\r\nb=x"),
            other
        ),
        "303"
    );
    assert_eq!(
        route(
            0,
            &format!("POST /stats HTTP/1.1\r\n{AUTH}Content-Length: 13\r\n\r\ns=a&s=b&b=app"),
            other
        ),
        "admin []"
    );
}

#[test]
fn a_form_too_large_is_excd_and_closes() {
    let fe = services();
    let request =
        format!("POST /stats;up HTTP/1.1\r\nHost: x\r\n{AUTH}Content-Length: 20000\r\n\r\n");
    let reply = answer(&fe[0], &request, LOCAL);
    assert!(reply.close);
    assert_eq!(
        String::from_utf8_lossy(&reply.bytes),
        "HTTP/1.1 303 See Other\r\ncache-control: no-cache\r\ncontent-type: text/plain\r\n\
         content-length: 0\r\nlocation: /stats;st=EXCD;up\r\nconnection: close\r\n\r\n"
    );
}
