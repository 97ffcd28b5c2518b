//! End-to-end: the guide's scenario with TLS gateways, in both its forms:
//!
//! * the guide's literal backend (`check ssl ca-file`): weir originates TLS
//!   to the gateways, so agents speak plain HTTP to weir;
//! * the pass-through variant (`check check-ssl ca-file`): agents speak TLS
//!   end to end, only the health checks are weir's TLS.
//!
//! Every scenario checks that each payload reaches exactly one gateway.

use weir_tests::gateway::{
    Attempt, Gateway, Pki, audit, download_plain, pattern, upload, upload_plain,
};
use weir_tests::{Lb, wait_until};

#[derive(Clone, Copy)]
enum Variant {
    Literal,
    PassThrough,
}

fn config(variant: Variant, pki: &Pki, gateways: &[&Gateway]) -> String {
    let tls = match variant {
        Variant::Literal => "ssl",
        Variant::PassThrough => "check-ssl",
    };
    let mut text = String::from(
        "global\n  log stdout format raw local0\n\
         defaults\n  mode tcp\n  log global\n  option tcplog\n\
         timeout connect 2s\n  timeout client 30s\n  timeout server 30s\n\
         frontend localnodes\n  bind 127.0.0.1:9091\n  default_backend app\n\
         backend app\n  option httpchk GET /healthcheck\n",
    );
    for g in gateways {
        text.push_str(&format!(
            "  server {} 127.0.0.1:{} check {tls} ca-file {} inter 200ms rise 2 fall 2\n",
            g.name,
            g.port(),
            pki.ca_file.display()
        ));
    }
    text
}

/// Gateways, weir in front of them, and agents speaking what the variant
/// needs.
struct Scenario {
    variant: Variant,
    pki: Pki,
    gateways: Vec<Gateway>,
    lb: Lb,
}

impl Scenario {
    fn start(variant: Variant, gateways: usize) -> Scenario {
        let pki = Pki::new();
        let gateways: Vec<Gateway> = (1..=gateways)
            .map(|i| Gateway::start(&format!("app{i}"), &pki))
            .collect();
        Scenario::start_on(variant, pki, gateways, "")
    }

    /// weir in front of `gateways`, with `extra` at the end of the
    /// backend.
    fn start_on(variant: Variant, pki: Pki, gateways: Vec<Gateway>, extra: &str) -> Scenario {
        let text = config(variant, &pki, &gateways.iter().collect::<Vec<_>>()) + extra;
        let lb = Lb::start(&text);
        Scenario {
            variant,
            pki,
            gateways,
            lb,
        }
    }

    /// Uploads `ids` from four concurrent agents, each retrying a failed
    /// attempt up to three times like a real agent; returns the failed
    /// attempts.
    fn send_all(&self, ids: &[String]) -> Vec<String> {
        let client = self.pki.client_config();
        let failures = std::sync::Mutex::new(Vec::new());
        std::thread::scope(|scope| {
            for agent in ids.chunks(ids.len().div_ceil(4).max(1)) {
                let (client, failures) = (&client, &failures);
                scope.spawn(move || {
                    for id in agent {
                        for _ in 0..4 {
                            let attempt = match self.variant {
                                Variant::Literal => upload_plain(self.lb.addr, id),
                                Variant::PassThrough => upload(self.lb.addr, client, id),
                            };
                            match attempt {
                                Attempt::Delivered(_) => break,
                                Attempt::Failed(why) => {
                                    failures.lock().unwrap().push(format!("{id}: {why}"))
                                }
                            }
                        }
                    }
                });
            }
        });
        failures.into_inner().unwrap()
    }

    /// Every id delivered exactly once.
    fn assert_exactly_once(&self, ids: &[String]) {
        let (lost, duplicated) = audit(ids, &self.gateways.iter().collect::<Vec<_>>());
        assert!(
            lost.is_empty() && duplicated.is_empty(),
            "{lost:?} {duplicated:?}"
        );
    }
}

fn ids(prefix: &str, n: usize) -> Vec<String> {
    (0..n).map(|i| format!("{prefix}-{i}")).collect()
}

fn baseline(variant: Variant) {
    // On a loaded machine, gateways slow to accept must not drop the
    // checks' SYNs (a connect would wait 1 s for the retransmission, past
    // `inter`), and a debug build's TLS handshake alone may take longer
    // than `inter`: after its connect a check has 10 s.
    let pki = Pki::new();
    let gateways = (1..=3)
        .map(|i| Gateway::start_roomy(&format!("app{i}"), &pki))
        .collect();
    let s = Scenario::start_on(variant, pki, gateways, "  timeout check 10s\n");
    let payloads = ids("baseline", 30);
    let f = s.send_all(&payloads);
    assert!(f.is_empty(), "{f:?} {:?}", s.lb.logs());
    s.assert_exactly_once(&payloads);
    // Round robin gives 10 each; on a loaded machine a refused connect
    // may be redispatched to the next gateway (exact shares are core's
    // unit tests).
    let shares: Vec<usize> = s.gateways.iter().map(|g| g.uploads().len()).collect();
    assert!(
        shares.iter().all(|&n| n >= 5),
        "round robin: {shares:?} {:?}",
        s.lb.logs()
    );
    // Each gateway answered two checks (weir then had their verdicts, or
    // a timeout's line is below).
    assert!(
        wait_until(|| s.gateways.iter().all(|g| g.health_checks() >= 2)),
        "HTTPS checks run"
    );
    let logs = s.lb.logs();
    assert!(
        !logs.iter().any(|l| l.contains("is DOWN")),
        "HTTPS checks pass: {logs:?}"
    );
}

fn failing_health_check(variant: Variant) {
    let s = Scenario::start(variant, 3);
    s.gateways[1].set_health(503);
    assert!(s.lb.wait_log(
        "Server app/app2 is DOWN, reason: Layer7 wrong status, code: 503, info: \"Health\""
    ));
    let before = s.gateways[1].uploads().len();
    let payloads = ids("degraded", 10);
    assert!(s.send_all(&payloads).is_empty());
    assert_eq!(
        s.gateways[1].uploads().len(),
        before,
        "no traffic to a DOWN gateway"
    );
    s.gateways[1].set_health(200);
    assert!(s.lb.wait_log("Server app/app2 is UP, reason: Layer7 check passed, code: 200"));
    s.assert_exactly_once(&payloads);
}

fn crash_and_restart(variant: Variant) {
    let mut s = Scenario::start(variant, 3);
    let first = ids("before", 9);
    assert!(s.send_all(&first).is_empty());

    s.gateways[1].kill();
    assert!(s.lb.wait_log("Server app/app2 is DOWN, reason: Layer4 connection problem"));
    let second = ids("after", 20);
    assert!(s.send_all(&second).is_empty(), "DOWN gateway gets nothing");

    s.gateways[1].restart();
    assert!(s.lb.wait_log("Server app/app2 is UP"), "{:?}", s.lb.logs());
    let third = ids("healed", 9);
    assert!(s.send_all(&third).is_empty());
    let app2 = &s.gateways[1];
    assert!(wait_until(|| app2
        .uploads()
        .iter()
        .any(|id| id.starts_with("healed"))));
    s.assert_exactly_once(&[first, second, third].concat());
}

fn hang(variant: Variant) {
    let s = Scenario::start(variant, 3);
    s.gateways[1].set_hang(true);
    let logs = || s.lb.logs();
    assert!(
        s.lb.wait_log("Server app/app2 is DOWN, reason: Layer6 timeout"),
        "{:?}",
        logs()
    );
    let payloads = ids("hung", 10);
    assert!(
        s.send_all(&payloads).is_empty(),
        "DOWN gateway gets nothing"
    );
    s.gateways[1].set_hang(false);
    assert!(s.lb.wait_log("Server app/app2 is UP"));
    s.assert_exactly_once(&payloads);
}

fn foreign_ca(variant: Variant) {
    let pki = Pki::new();
    let stranger = Pki::new();
    let good = Gateway::start("app1", &pki);
    let bad = Gateway::start("app2", &stranger);
    let lb = Lb::start(&config(variant, &pki, &[&good, &bad]));
    assert!(
        lb.wait_log(
            "Server app/app2 is DOWN, reason: Layer6 invalid response, info: \"unable to get \
             local issuer certificate (unknown issuer)\""
        ),
        "{:?}",
        lb.logs()
    );
}

fn literal_baseline_plain_agents_through_weirs_tls() {
    baseline(Variant::Literal);
}

fn passthrough_baseline_agents_tls_untouched() {
    baseline(Variant::PassThrough);
}

fn literal_gateway_failing_its_health_check_goes_down_and_back_up() {
    failing_health_check(Variant::Literal);
}

fn passthrough_gateway_failing_its_health_check_goes_down_and_back_up() {
    failing_health_check(Variant::PassThrough);
}

fn literal_crashed_gateway_loses_no_payload_and_comes_back() {
    crash_and_restart(Variant::Literal);
}

fn passthrough_crashed_gateway_loses_no_payload_and_comes_back() {
    crash_and_restart(Variant::PassThrough);
}

fn literal_hung_gateway_is_marked_down_by_its_check_timeout() {
    hang(Variant::Literal);
}

fn passthrough_hung_gateway_is_marked_down_by_its_check_timeout() {
    hang(Variant::PassThrough);
}

fn literal_gateway_signed_by_another_ca_is_down_with_the_reason() {
    foreign_ca(Variant::Literal);
}

fn passthrough_gateway_signed_by_another_ca_is_down_with_the_reason() {
    foreign_ca(Variant::PassThrough);
}

/// A reply of many TLS records, then close_notify and FIN, reaches the
/// client whole through weir's TLS to the gateway (weir-sim seed 88 found
/// the end of such replies cut off).
fn literal_large_replies_arrive_whole_before_the_fin() {
    let s = Scenario::start(Variant::Literal, 1);
    for n in [20_000, 1 << 20] {
        let body = download_plain(s.lb.addr, n).expect("a reply");
        assert_eq!(body.len(), n, "{:?}", s.lb.logs());
        assert!(body == pattern(n), "the bytes, in order");
    }
}

fn literal_config_warns_when_agents_speak_tls() {
    let s = Scenario::start(Variant::Literal, 1);
    let attempt = upload(s.lb.addr, &s.pki.client_config(), "wrapped");
    assert!(
        matches!(attempt, Attempt::Failed(_)),
        "TLS in TLS cannot work"
    );
    assert!(s.lb.wait_log(
        "backend app: clients are sending TLS but servers use 'ssl', so TLS is being wrapped in \
         TLS; for pass-through use 'check-ssl' instead of 'ssl'"
    ));
}

fn black_holed_gateway_is_marked_down_and_loses_nothing() {
    let s = Scenario::start(Variant::PassThrough, 2);
    s.gateways[1].set_black_hole(true);
    assert!(
        s.lb.wait_log("Server app/app2 is DOWN, reason: Layer"),
        "{:?}",
        s.lb.logs()
    );
    let payloads = ids("hole", 10);
    assert!(
        s.send_all(&payloads).is_empty(),
        "DOWN gateway gets nothing"
    );
    s.gateways[1].set_black_hole(false);
    assert!(s.lb.wait_log("Server app/app2 is UP"));
    s.assert_exactly_once(&payloads);
}

fn slow_gateway_fails_its_check_by_timeout_check() {
    let pki = Pki::new();
    let gws = [Gateway::start("app1", &pki), Gateway::start("app2", &pki)];
    let text = config(Variant::PassThrough, &pki, &gws.iter().collect::<Vec<_>>())
        .replace("option httpchk", "timeout check 600ms\n  option httpchk");
    let lb = Lb::start(&text);
    // Wide margins: on a busy machine a debug build's TLS handshake alone
    // can take 200 ms, and a timeout there is Layer6, not Layer7.
    gws[1].set_delay(std::time::Duration::from_millis(2000));
    assert!(
        lb.wait_log("Server app/app2 is DOWN, reason: Layer7 timeout"),
        "{:?}",
        lb.logs()
    );
    gws[1].set_delay(std::time::Duration::ZERO);
    assert!(lb.wait_log("Server app/app2 is UP"));
}

fn expired_or_misnamed_gateway_certificates_are_named_in_the_reason() {
    let pki = Pki::new();
    let expired = Gateway::start_with("app1", pki.server_config_until(&["gw.example"], 2020));
    let misnamed = Gateway::start_with("app2", pki.server_config(&["other.example"]));
    let text = config(Variant::PassThrough, &pki, &[&expired, &misnamed])
        .replace(" inter 200ms", " check-sni gw.example inter 200ms");
    let lb = Lb::start(&text);
    assert!(lb.wait_log(
        "Server app/app1 is DOWN, reason: Layer6 invalid response, info: \"certificate has expired\""
    ));
    assert!(lb.wait_log(
        "Server app/app2 is DOWN, reason: Layer6 invalid response, info: \"Server presented an \
         SSL certificate different from the expected one\""
    ));
}

fn a_crash_costs_agents_not_a_single_failed_first_attempt() {
    let mut s = Scenario::start(Variant::PassThrough, 3);
    s.gateways[1].kill();
    // Straight after the crash, before any check noticed: every payload
    // must go through on its first attempt.
    let client = s.pki.client_config();
    let payloads = ids("first-try", 12);
    for id in &payloads {
        let attempt = upload(s.lb.addr, &client, id);
        assert!(
            matches!(attempt, Attempt::Delivered(_)),
            "{id}: {attempt:?}"
        );
    }
    s.assert_exactly_once(&payloads);
}

fn an_outage_of_every_gateway_delays_agents_instead_of_failing_them() {
    let pki = Pki::new();
    let mut gws = [Gateway::start("app1", &pki), Gateway::start("app2", &pki)];
    // The seed's configuration as it is: `timeout connect 2s`, no
    // `timeout queue`.
    let text = config(Variant::PassThrough, &pki, &gws.iter().collect::<Vec<_>>());
    let lb = Lb::start(&text);
    for g in &mut gws {
        g.kill();
    }
    assert!(lb.wait_log("backend app has no server available!"));
    // An agent sends while every gateway is down, for longer than
    // `timeout connect`: it waits, and goes through once one is back.
    let (addr, client) = (lb.addr, pki.client_config());
    let agent = std::thread::spawn(move || upload(addr, &client, "during-outage"));
    std::thread::sleep(std::time::Duration::from_millis(2500));
    gws[0].restart();
    let attempt = agent.join().unwrap();
    assert!(matches!(attempt, Attempt::Delivered(_)), "{attempt:?}");
    assert_eq!(gws[0].uploads(), ["during-outage"]);
}

/// Pass-through to `gateways` with no health checks (so every fault must
/// be handled on the traffic path), plus `extra` backend lines.
fn unchecked(gateways: &[&Gateway], extra: &str) -> String {
    let mut text = String::from(
        "global\n  log stdout format raw local0\n\
         defaults\n  mode tcp\n  log global\n  option tcplog\n\
         timeout connect 5s\n  timeout client 30s\n  timeout server 30s\n\
         frontend localnodes\n  bind 127.0.0.1:9091\n  default_backend app\n\
         backend app\n",
    );
    text.push_str(extra);
    for g in gateways {
        text.push_str(&format!("  server {} 127.0.0.1:{}\n", g.name, g.port()));
    }
    text
}

/// Uploads `ids` one by one; every one must succeed on its first attempt.
fn first_attempts(lb: &Lb, pki: &Pki, ids: &[String]) {
    let client = pki.client_config();
    for id in ids {
        let attempt = upload(lb.addr, &client, id);
        assert!(
            matches!(attempt, Attempt::Delivered(_)),
            "{id}: {attempt:?}"
        );
    }
}

/// `%Tc` of every session in weir's traffic log.
fn connect_times(lb: &Lb) -> Vec<u64> {
    lb.logs()
        .iter()
        .filter_map(|l| {
            let timers = l.split(' ').nth(4)?;
            timers.split('/').nth(1)?.parse().ok()
        })
        .collect()
}

fn a_black_holed_gateway_is_raced_by_connect_hedge_without_a_failed_send() {
    let pki = Pki::new();
    let gws = [Gateway::start("app1", &pki), Gateway::start("app2", &pki)];
    gws[1].set_black_hole(true);
    // Fill its accept queue: from then on its SYNs go unanswered.
    let mut held = Vec::new();
    for _ in 0..8 {
        let timeout = std::time::Duration::from_millis(300);
        match std::net::TcpStream::connect_timeout(&gws[1].addr, timeout) {
            Ok(stream) => held.push(stream),
            Err(_) => break,
        }
    }
    let lb = Lb::start(&unchecked(
        &gws.iter().collect::<Vec<_>>(),
        "  option connect-hedge 500ms\n",
    ));
    let payloads = ids("hedged", 10);
    first_attempts(&lb, &pki, &payloads);
    assert!(gws[1].uploads().is_empty());
    assert!(wait_until(|| connect_times(&lb).len() == payloads.len()));
    // Without the hedge, a connect into the hole takes `timeout connect`
    // (5 s); with it, the race is won right after the 500 ms delay.
    let times = connect_times(&lb);
    assert!(times.iter().any(|&t| t >= 500), "a hedge ran: {times:?}");
    assert!(times.iter().all(|&t| t < 1000), "{times:?}");
}

fn a_hung_gateway_is_given_up_by_replay_until_response_without_a_failed_send() {
    let pki = Pki::new();
    let gws = [Gateway::start("app1", &pki), Gateway::start("app2", &pki)];
    gws[1].set_hang(true);
    let lb = Lb::start(&unchecked(
        &gws.iter().collect::<Vec<_>>(),
        "  option replay-until-response 500ms\n",
    ));
    let payloads = ids("replayed", 10);
    first_attempts(&lb, &pki, &payloads);
    assert_eq!(gws[0].uploads(), payloads, "each exactly once, in order");
    assert!(gws[1].uploads().is_empty());
    assert!(
        lb.logs().iter().any(|l| l.contains("/+1 ")),
        "a replay is logged as a redispatched retry: {:?}",
        lb.logs()
    );
}

weir_tests::on_both_drivers!(
    black_holed_gateway_is_marked_down_and_loses_nothing,
    a_crash_costs_agents_not_a_single_failed_first_attempt,
    literal_baseline_plain_agents_through_weirs_tls,
    passthrough_baseline_agents_tls_untouched,
    literal_gateway_failing_its_health_check_goes_down_and_back_up,
    passthrough_gateway_failing_its_health_check_goes_down_and_back_up,
    literal_crashed_gateway_loses_no_payload_and_comes_back,
    passthrough_crashed_gateway_loses_no_payload_and_comes_back,
    literal_hung_gateway_is_marked_down_by_its_check_timeout,
    passthrough_hung_gateway_is_marked_down_by_its_check_timeout,
    literal_gateway_signed_by_another_ca_is_down_with_the_reason,
    passthrough_gateway_signed_by_another_ca_is_down_with_the_reason,
    literal_config_warns_when_agents_speak_tls,
    literal_large_replies_arrive_whole_before_the_fin,
    slow_gateway_fails_its_check_by_timeout_check,
    expired_or_misnamed_gateway_certificates_are_named_in_the_reason,
    an_outage_of_every_gateway_delays_agents_instead_of_failing_them,
    a_black_holed_gateway_is_raced_by_connect_hedge_without_a_failed_send,
    a_hung_gateway_is_given_up_by_replay_until_response_without_a_failed_send,
);
