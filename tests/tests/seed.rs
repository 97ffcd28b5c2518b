//! End-to-end: the guide's scenario with TLS gateways. Agents upload
//! payloads over TLS through weir (pass-through: `check-ssl` for HTTPS
//! health checks, the agents' TLS untouched) and every payload must reach
//! exactly one gateway.

use weir_tests::gateway::{Attempt, Gateway, Pki, audit, upload};
use weir_tests::{Lb, wait_until};

fn passthrough_config(pki: &Pki, gateways: &[&Gateway]) -> String {
    let mut text = String::from(
        "global\n  log stdout format raw local0\n\
         defaults\n  mode tcp\n  log global\n  option tcplog\n\
         timeout connect 2s\n  timeout client 30s\n  timeout server 30s\n\
         frontend localnodes\n  bind 127.0.0.1:9091\n  default_backend app\n\
         backend app\n  option httpchk GET /healthcheck\n",
    );
    for g in gateways {
        text.push_str(&format!(
            "  server {} 127.0.0.1:{} check check-ssl ca-file {} inter 200ms rise 2 fall 2\n",
            g.name,
            g.port(),
            pki.ca_file.display()
        ));
    }
    text
}

/// Uploads `ids` one after the other, retrying a failed attempt up to
/// three times like an agent; returns the failed attempts.
fn send_all(lb: &Lb, pki: &Pki, ids: &[String]) -> Vec<String> {
    let client = pki.client_config();
    let mut failures = Vec::new();
    for id in ids {
        for _ in 0..4 {
            match upload(lb.addr, &client, id) {
                Attempt::Delivered(_) => break,
                Attempt::Failed(why) => failures.push(format!("{id}: {why}")),
            }
        }
    }
    failures
}

fn ids(prefix: &str, n: usize) -> Vec<String> {
    (0..n).map(|i| format!("{prefix}-{i}")).collect()
}

#[test]
fn agents_tls_passes_through_to_https_checked_gateways() {
    let pki = Pki::new();
    let gws = [
        Gateway::start("app1", &pki),
        Gateway::start("app2", &pki),
        Gateway::start("app3", &pki),
    ];
    let refs: Vec<&Gateway> = gws.iter().collect();
    let lb = Lb::start(&passthrough_config(&pki, &refs));
    let payloads = ids("baseline", 30);
    assert!(send_all(&lb, &pki, &payloads).is_empty());
    let (lost, duplicated) = audit(&payloads, &refs);
    assert!(
        lost.is_empty() && duplicated.is_empty(),
        "{lost:?} {duplicated:?}"
    );
    assert!(gws.iter().all(|g| g.uploads().len() == 10), "round robin");
    assert!(
        !lb.logs().iter().any(|l| l.contains("is DOWN")),
        "HTTPS checks pass: {:?}",
        lb.logs()
    );
}

#[test]
fn gateway_failing_its_health_check_is_marked_down_and_back_up() {
    let pki = Pki::new();
    let gws = [Gateway::start("app1", &pki), Gateway::start("app2", &pki)];
    let refs: Vec<&Gateway> = gws.iter().collect();
    let lb = Lb::start(&passthrough_config(&pki, &refs));
    gws[1].set_health(503);
    assert!(lb.wait_log(
        "Server app/app2 is DOWN, reason: Layer7 wrong status, code: 503, info: \"Health\""
    ));
    let before = gws[1].uploads().len();
    let payloads = ids("degraded", 10);
    assert!(send_all(&lb, &pki, &payloads).is_empty());
    assert_eq!(
        gws[1].uploads().len(),
        before,
        "no traffic to a DOWN gateway"
    );
    gws[1].set_health(200);
    assert!(lb.wait_log("Server app/app2 is UP, reason: Layer7 check passed, code: 200"));
}

#[test]
fn crashed_gateway_loses_no_payload_and_comes_back() {
    let pki = Pki::new();
    let mut gws = [
        Gateway::start("app1", &pki),
        Gateway::start("app2", &pki),
        Gateway::start("app3", &pki),
    ];
    let lb = Lb::start(&passthrough_config(&pki, &gws.iter().collect::<Vec<_>>()));
    let first = ids("before", 9);
    assert!(send_all(&lb, &pki, &first).is_empty());

    gws[1].kill();
    assert!(lb.wait_log("Server app/app2 is DOWN, reason: Layer4 connection problem"));
    let second = ids("after", 20);
    assert!(
        send_all(&lb, &pki, &second).is_empty(),
        "DOWN gateway gets nothing"
    );

    gws[1].restart();
    assert!(lb.wait_log("Server app/app2 is UP"), "{:?}", lb.logs());
    let third = ids("healed", 9);
    assert!(send_all(&lb, &pki, &third).is_empty());
    assert!(wait_until(|| gws[1]
        .uploads()
        .iter()
        .any(|id| id.starts_with("healed"))));

    let all: Vec<String> = [first, second, third].concat();
    let (lost, duplicated) = audit(&all, &gws.iter().collect::<Vec<_>>());
    assert!(
        lost.is_empty() && duplicated.is_empty(),
        "{lost:?} {duplicated:?}"
    );
}

#[test]
fn gateway_with_a_certificate_from_another_ca_is_marked_down_with_the_reason() {
    let pki = Pki::new();
    let stranger = Pki::new();
    let good = Gateway::start("app1", &pki);
    let bad = Gateway::start("app2", &stranger);
    let lb = Lb::start(&passthrough_config(&pki, &[&good, &bad]));
    assert!(
        lb.wait_log(
            "Server app/app2 is DOWN, reason: Layer6 invalid response, info: \"unable to get local \
         issuer certificate (unknown issuer)\""
        ),
        "{:?}",
        lb.logs()
    );
}

/// The guide's literal backend: `check ssl ca-file`.
fn literal_config(pki: &Pki, gateways: &[&Gateway]) -> String {
    passthrough_config(pki, gateways).replace("check check-ssl ca-file", "check ssl ca-file")
}

#[test]
fn literal_seed_config_originates_tls_for_plain_agents() {
    let pki = Pki::new();
    let gws = [Gateway::start("app1", &pki), Gateway::start("app2", &pki)];
    let refs: Vec<&Gateway> = gws.iter().collect();
    let lb = Lb::start(&literal_config(&pki, &refs));
    let payloads = ids("plain", 10);
    for id in &payloads {
        assert!(
            matches!(
                weir_tests::gateway::upload_plain(lb.addr, id),
                Attempt::Delivered(_)
            ),
            "{id}"
        );
    }
    let (lost, duplicated) = audit(&payloads, &refs);
    assert!(
        lost.is_empty() && duplicated.is_empty(),
        "{lost:?} {duplicated:?}"
    );
    assert!(
        !lb.logs().iter().any(|l| l.contains("is DOWN")),
        "HTTPS checks pass"
    );
}

#[test]
fn literal_seed_config_warns_when_agents_speak_tls() {
    let pki = Pki::new();
    let gws = [Gateway::start("app1", &pki)];
    let lb = Lb::start(&literal_config(&pki, &gws.iter().collect::<Vec<_>>()));
    let attempt = upload(lb.addr, &pki.client_config(), "wrapped");
    assert!(
        matches!(attempt, Attempt::Failed(_)),
        "TLS in TLS cannot work"
    );
    assert!(lb.wait_log(
        "backend app: clients are sending TLS but servers use 'ssl', so TLS is being wrapped in \
         TLS; for pass-through use 'check-ssl' instead of 'ssl'"
    ));
}

#[test]
fn hung_gateway_is_marked_down_by_its_check_timeout_and_loses_nothing() {
    let pki = Pki::new();
    let gws = [Gateway::start("app1", &pki), Gateway::start("app2", &pki)];
    let refs: Vec<&Gateway> = gws.iter().collect();
    let lb = Lb::start(&passthrough_config(&pki, &refs));
    gws[1].set_hang(true);
    assert!(
        lb.wait_log("Server app/app2 is DOWN, reason: Layer6 timeout"),
        "{:?}",
        lb.logs()
    );
    let payloads = ids("hung", 10);
    assert!(
        send_all(&lb, &pki, &payloads).is_empty(),
        "DOWN gateway gets nothing"
    );
    gws[1].set_hang(false);
    assert!(lb.wait_log("Server app/app2 is UP"));
    let (lost, duplicated) = audit(&payloads, &refs);
    assert!(
        lost.is_empty() && duplicated.is_empty(),
        "{lost:?} {duplicated:?}"
    );
}
