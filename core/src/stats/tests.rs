//! Golden comparisons with HAProxy 2.6.12's real outputs (testdata/, taken
//! from haproxy run with testdata/haproxy.cfg on loopback: app1, app3,
//! app4, app5 listening, app2 refused; app3 set to drain, app4 to maint;
//! four client connections through `localnodes`). The fixture below holds
//! the values the balancer would have in the same situation.

use super::*;
use crate::http::MetricsQuery;
use crate::time::Instant;

/// A start time for tests (core never reads a clock itself).
#[allow(clippy::disallowed_methods)]
pub(super) fn epoch() -> Instant {
    Instant::now()
}

const STAT: &str = include_str!("testdata/show_stat.csv");
const INFO: &str = include_str!("testdata/show_info.txt");
const STATE: &str = include_str!("testdata/show_servers_state.txt");
const METRICS: &str = include_str!("testdata/metrics.txt");
const STAT_SID2: &str = include_str!("testdata/stat_iid3_sid2.csv");
const STAT_OTHER_BE: &str = include_str!("testdata/stat_other_be.csv");

/// What HAProxy's dumper wrote: the capture less the empty line the CLI
/// adds after every answer.
fn dumped(capture: &str) -> &str {
    capture.strip_suffix('\n').unwrap_or(capture)
}

fn level(enabled: bool, health: u32) -> CheckLevel {
    CheckLevel {
        enabled,
        rise: 2,
        fall: 3,
        health,
    }
}

fn check(status: CheckStatus, code: Option<u32>, ms: u64, desc: &str, health: u32) -> CheckInfo {
    CheckInfo {
        configured: true,
        level: level(true, health),
        paused: false,
        in_progress: false,
        status,
        code,
        duration_ms: ms,
        desc: desc.into(),
    }
}

fn no_check(health: u32) -> CheckInfo {
    CheckInfo {
        configured: false,
        level: level(false, health),
        paused: false,
        in_progress: false,
        status: CheckStatus::Init,
        code: None,
        duration_ms: 0,
        desc: String::new(),
    }
}

/// Four sessions through app1: connect times 2, 0, 0, 0 ms.
fn busy_counters(now: Instant) -> BackendCounters {
    let mut c = BackendCounters::default();
    for connect in [2, 0, 0, 0] {
        c.selected();
        c.session_assigned(now);
        c.session_started();
        c.connect += 1;
        c.bytes_in += 19;
        c.bytes_out += 95;
        c.session_ended();
        c.record_times(SessionTimes {
            queue_ms: 0,
            connect_ms: connect,
            data_ms: 0,
            total_ms: connect,
        });
    }
    c.sps_max = 4;
    c
}

fn server(name: &str, sid: u32, port: u16, check: CheckInfo) -> ServerRow {
    let input = StatusInput {
        admin: Admin::default(),
        op: OpState::Running,
        check: Some(check.level),
        agent: None,
        tracked: None,
    };
    ServerRow {
        name: name.into(),
        sid,
        forced_id: false,
        counters: BackendCounters::default(),
        sess_rate: 0,
        status: ServerStatus::of(&input),
        admin: Admin::default(),
        configured_maint: false,
        fqdn: None,
        op: OpState::Running,
        weight: 1,
        uweight: 1,
        iweight: 1,
        backup: false,
        check,
        observe: false,
        lastchg_secs: 7,
        downtime_secs: 0,
        last_sess_secs: -1,
        maxconn: None,
        maxqueue: None,
        throttle: None,
        tracked: None,
        addr: format!("127.0.0.1:{port}").parse().unwrap(),
        use_ssl: false,
        check_port: 0,
        agent: None,
    }
}

fn restatus(sv: &mut ServerRow, tracked: Option<Tracked<'_>>) {
    sv.status = ServerStatus::of(&StatusInput {
        admin: sv.admin,
        op: sv.op,
        check: Some(sv.check.level),
        agent: sv.agent.as_ref().and_then(AgentInfo::level),
        tracked,
    });
}

pub(super) fn fixture(now: Instant) -> (ProcessInfo, Vec<ProxyStats>) {
    let mut fe = FrontendCounters::default();
    for _ in 0..4 {
        fe.connection_received(now);
        fe.session_started(now);
        fe.session_ended();
    }
    fe.bytes_in = 76;
    fe.bytes_out = 380;
    let localnodes = ProxyStats {
        name: "localnodes".into(),
        description: None,
        iid: 2,
        mode: Mode::Tcp,
        frontend: Some(FrontendRow {
            counters: fe,
            sess_rate: 3,
            conn_rate: 3,
            req_rate: 0,
            maxconn: 100,
            rate_limit: 0,
            stopped: false,
        }),
        servers: vec![],
        backend: None,
    };

    let mut app1 = server(
        "app1",
        1,
        29101,
        check(CheckStatus::L7Ok, Some(200), 1, "", 4),
    );
    app1.counters = busy_counters(now);
    app1.counters.cur_sess_max = 1;
    app1.weight = 50;
    app1.uweight = 50;
    app1.iweight = 50;
    app1.last_sess_secs = 1;
    app1.sess_rate = 3;
    let mut app2 = server(
        "app2",
        2,
        29102,
        check(CheckStatus::L4Con, None, 0, "Connection refused", 0),
    );
    app2.op = OpState::Stopped;
    app2.counters.failed_checks = 1;
    app2.counters.down_trans = 1;
    app2.lastchg_secs = 6;
    app2.downtime_secs = 6;
    restatus(&mut app2, None);
    let mut app3 = server(
        "app3",
        3,
        29103,
        check(CheckStatus::L7Ok, Some(200), 1, "", 4),
    );
    app3.admin.own = AdminState::Drain;
    app3.maxconn = Some(20);
    app3.lastchg_secs = 1;
    restatus(&mut app3, None);
    let mut app4 = server("app4", 4, 29104, no_check(0));
    app4.admin.own = AdminState::Maint;
    app4.op = OpState::Stopped;
    app4.lastchg_secs = 1;
    restatus(&mut app4, None);
    let mut app5 = server(
        "app5",
        5,
        29105,
        check(CheckStatus::L7Ok, Some(200), 0, "", 4),
    );
    app5.backup = true;
    let mut app_be = BackendRow {
        counters: busy_counters(now),
        sess_rate: 3,
        weight: 50,
        uweight: 50,
        active: 1,
        backup: 1,
        down_trans: 0,
        lastchg_secs: 7,
        downtime_secs: 0,
        last_sess_secs: 1,
        fullconn: 10,
        algo: "roundrobin".into(),
    };
    app_be.counters.cur_sess_max = 1;
    let app = ProxyStats {
        name: "app".into(),
        description: None,
        iid: 3,
        mode: Mode::Tcp,
        frontend: None,
        servers: vec![app1, app2, app3, app4, app5],
        backend: Some(app_be),
    };

    let mut o1 = server("o1", 1, 29101, no_check(2));
    o1.tracked = Some("app/app1".into());
    let tracked = Tracked {
        backend: "app",
        server: "app1",
        check: Some(level(true, 4)),
        agent: None,
        op: OpState::Running,
    };
    restatus(&mut o1, Some(tracked));
    let o2 = server("o2", 2, 29106, no_check(2));
    let other = ProxyStats {
        name: "other".into(),
        description: None,
        iid: 4,
        mode: Mode::Tcp,
        frontend: None,
        servers: vec![o1, o2],
        backend: Some(BackendRow {
            weight: 2,
            uweight: 2,
            active: 2,
            lastchg_secs: 7,
            last_sess_secs: -1,
            fullconn: 1,
            algo: "leastconn".into(),
            ..BackendRow::default()
        }),
    };
    let stats = ProxyStats {
        name: "stats".into(),
        description: None,
        iid: 5,
        mode: Mode::Http,
        frontend: Some(FrontendRow {
            counters: FrontendCounters::http(),
            maxconn: 100,
            ..FrontendRow::default()
        }),
        servers: vec![],
        backend: None,
    };
    let process = ProcessInfo {
        name: "HAProxy".into(),
        version: "2.6.12-1+deb12u3".into(),
        release_date: "2025/10/03".into(),
        nbthread: 2,
        pid: 13142,
        uptime_secs: 15,
        start_time_secs: 1_796_406_163,
        ulimit_n: 234,
        maxsock: 234,
        maxconn: 100,
        hard_maxconn: 100,
        cur_conns: 0,
        cum_conns: 72,
        cum_req: 8,
        max_conn_rate: 4,
        max_sess_rate: 4,
        tasks: 19,
        idle_pct: 100,
        node: "vm".into(),
        jobs: 5,
        listeners: 4,
        bytes_out: 5726,
        bytes_out_rate: 96,
        ..ProcessInfo::default()
    };
    (process, vec![localnodes, app, other, stats])
}

/// Columns whose values differ by nature: HAProxy's estimate of needed
/// server connections, and its H1 mux counters (its HTTP health checks
/// run through the H1 mux and count there).
const NORMALISED: &[&str] = &[
    "need_conn_est",
    "h1_total_connections",
    "h1_total_streams",
    "h1_bytes_in",
    "h1_bytes_out",
];

fn compare_csv(golden: &str, ours: &str, times: &[&str]) {
    let golden = dumped(golden);
    let g: Vec<&str> = golden.lines().collect();
    let o: Vec<&str> = ours.lines().collect();
    assert_eq!(g[0], o[0], "header");
    assert_eq!(g.len(), o.len(), "rows:\n{ours}");
    assert!(
        ours.ends_with(",\n") && golden.ends_with(",\n"),
        "ends as HAProxy's"
    );
    let names: Vec<&str> = g[0][2..].split(',').collect();
    for (gl, ol) in g[1..].iter().zip(&o[1..]) {
        let gf: Vec<&str> = gl.split(',').collect();
        let of: Vec<&str> = ol.split(',').collect();
        assert_eq!(gf.len(), of.len(), "{ol}");
        for (i, (a, b)) in gf.iter().zip(&of).enumerate() {
            if NORMALISED.contains(&names[i]) || times.contains(&names[i]) {
                assert_eq!(a.is_empty(), b.is_empty(), "{} of {}", names[i], &gl[..20]);
                continue;
            }
            assert_eq!(a, b, "column {} of row {},{}", names[i], gf[0], gf[1]);
        }
    }
}

#[test]
fn show_stat_matches_haproxy() {
    let now = epoch();
    let (_, proxies) = fixture(now);
    compare_csv(STAT, &show_stat(&proxies, &StatFilter::default()), &[]);
}

/// Ages that grew between the golden captures.
const LATER: &[&str] = &["lastchg", "downtime", "lastsess", "rate"];

#[test]
fn show_stat_filters_match_haproxy() {
    let now = epoch();
    let (_, proxies) = fixture(now);
    let f = StatFilter::parse(&["3", "-1", "2"], &proxies, true).unwrap();
    compare_csv(STAT_SID2, &show_stat(&proxies, &f), LATER);
    let f = StatFilter::parse(&["other", "2", "-1"], &proxies, true).unwrap();
    compare_csv(STAT_OTHER_BE, &show_stat(&proxies, &f), LATER);
    assert_eq!(
        StatFilter::parse(&["nope", "-1", "-1"], &proxies, true),
        Err("No such proxy.\n".to_string())
    );
    // Frontends only (type bit 1).
    let f = StatFilter::parse(&["-1", "1", "-1"], &proxies, true).unwrap();
    let out = show_stat(&proxies, &f);
    assert_eq!(out.lines().filter(|l| l.contains(",FRONTEND,")).count(), 2);
    assert_eq!(out.lines().count(), 3);
    // A user-level socket sees no addresses or algorithms.
    let f = StatFilter::parse(&[], &proxies, false).unwrap();
    let out = show_stat(&proxies, &f);
    assert!(!out.contains("127.0.0.1") && !out.contains("roundrobin"));
    // `no-maint` hides app4 and appends the UP count to the backend.
    let f = StatFilter::parse(&["app", "-1", "-1", "no-maint"], &proxies, true).unwrap();
    let out = show_stat(&proxies, &f);
    assert!(
        !out.contains(",app4,") && out.contains(",UP (3/5),"),
        "{out}"
    );
}

#[test]
fn show_info_matches_haproxy() {
    let now = epoch();
    let (process, _) = fixture(now);
    let ours = show_info(&process, false);
    let normalise = |s: &str| -> Vec<String> {
        s.lines()
            .map(|l| match l.split_once(": ") {
                // Memory pools are HAProxy's own allocator.
                Some(("PoolAlloc_bytes" | "PoolUsed_bytes", _)) => l[..l.find(':').unwrap()].into(),
                _ => l.to_owned(),
            })
            .collect()
    };
    assert_eq!(normalise(dumped(INFO)), normalise(&ours));
    assert!(ours.ends_with(": 0\n"));
    let described = show_info(&process, true);
    assert!(
        described.starts_with("Name: HAProxy:\"Product name\"\n"),
        "{described}"
    );
}

#[test]
fn show_servers_state_matches_haproxy() {
    let now = epoch();
    let (_, mut proxies) = fixture(now);
    // Seconds since the last change as haproxy printed them.
    let since = [16, 15, 10, 10, 16];
    for (sv, s) in proxies[1].servers.iter_mut().zip(since) {
        sv.lastchg_secs = s;
    }
    for sv in &mut proxies[2].servers {
        sv.lastchg_secs = 16;
    }
    // The capture ends with the empty line the CLI adds after an answer.
    let state = show_servers_state(&proxies, None).unwrap();
    assert_eq!(state + "\n", STATE);
    let one = show_servers_state(&proxies, Some("other")).unwrap();
    assert_eq!(one.lines().count(), 4);
    assert_eq!(
        show_servers_state(&proxies, Some("localnodes")),
        Err("Can't find backend.\n".into())
    );
}

/// `name{labels}` of every sample, and HELP/TYPE lines, as sets in order.
fn metric_lines(text: &str) -> Vec<String> {
    text.lines()
        .map(|l| {
            if l.starts_with('#') {
                l.to_owned()
            } else {
                l.rsplit_once(' ').unwrap().0.to_owned()
            }
        })
        .collect()
}

#[test]
fn prometheus_matches_haproxy_names_help_types_labels_and_order() {
    let now = epoch();
    let (process, proxies) = fixture(now);
    let ours = prometheus::render(&process, &proxies, &MetricsQuery::ALL);
    assert_eq!(metric_lines(METRICS), metric_lines(&ours));
    // Values where weir has the same ones.
    let golden: std::collections::HashMap<&str, &str> = METRICS
        .lines()
        .filter(|l| !l.starts_with('#'))
        .map(|l| l.rsplit_once(' ').unwrap())
        .collect();
    // Process values that move between captures (the scrape itself is a
    // connection and a request; time passes) are compared by name only.
    let moving = [
        "uptime_seconds",
        "pool_",
        "current_tasks",
        "current_connection",
        "current_session_rate",
        "requests_total",
        "connections_total",
        "max_connection_rate",
        "max_session_rate",
        "jobs",
        "bytes_out",
        "need_connections",
    ];
    let skip = |key: &str| {
        key.starts_with("haproxy_process_") && moving.iter().any(|s| key.contains(s))
        || key.contains("need_connections")
        // Ages and check durations: the metrics were captured seconds after
        // `show stat`, checks ran in between.
        || ["last_change_seconds", "downtime_seconds", "last_session_seconds", "check_duration"]
            .iter()
            .any(|s| key.contains(s))
        // The scrape was served by the `stats` frontend.
        || key.contains("proxy=\"stats\"")
    };
    for line in ours.lines().filter(|l| !l.starts_with('#')) {
        let (key, value) = line.rsplit_once(' ').unwrap();
        if skip(key) {
            continue;
        }
        assert_eq!(golden[key], value, "{key}");
    }
}

#[test]
fn prometheus_output_parses() {
    let now = epoch();
    let (process, proxies) = fixture(now);
    let text = prometheus::render(&process, &proxies, &MetricsQuery::ALL);
    let lines = text.lines().map(|l| Ok(l.to_owned()));
    let scrape = prometheus_parse::Scrape::parse(lines).expect("parses");
    let status = scrape
        .samples
        .iter()
        .find(|s| {
            s.metric == "haproxy_server_status"
                && s.labels.get("server") == Some("app3")
                && s.labels.get("state") == Some("DRAIN")
        })
        .expect("app3 DRAIN sample");
    assert!(matches!(status.value, prometheus_parse::Value::Gauge(v) if v == 1.0));
    assert!(scrape.docs.contains_key("haproxy_backend_agg_check_status"));
}

#[test]
fn html_page_has_haproxy_rows_classes_and_admin_form() {
    let now = epoch();
    let (process, mut proxies) = fixture(now);
    proxies[1].servers[0].name = "a<b>&\"".into();
    let opts = html::PageOptions {
        refresh_secs: Some(10),
        admin: true,
    };
    let page = html::render(&process, &proxies, &opts);
    let doc = scraper::Html::parse_document(&page);
    let sel = |s: &str| scraper::Selector::parse(s).unwrap();
    let refresh = doc.select(&sel("meta[http-equiv=refresh]")).next().unwrap();
    assert_eq!(refresh.value().attr("content"), Some("10"));
    // One frontend row per frontend, one backend row per backend.
    assert_eq!(doc.select(&sel("tr.frontend")).count(), 2);
    assert_eq!(doc.select(&sel("tr.backend")).count(), 2);
    // Server rows with HAProxy's classes, each 31 cells + the checkbox.
    let classes: Vec<String> = doc
        .select(&sel("tr"))
        .filter_map(|tr| tr.value().attr("class"))
        .filter(|c| c.starts_with("active_") || c.starts_with("backup_") || *c == "maintain")
        .map(str::to_owned)
        .collect();
    assert_eq!(
        classes,
        [
            "active_up",
            "active_down",
            "active_draining",
            "maintain",
            "backup_up",
            "active_up",
            "active_no_check"
        ]
    );
    for tr in doc.select(&sel("tr.active_up, tr.frontend, tr.backend")) {
        let span: usize = tr
            .select(&sel("td"))
            .map(|td| td.value().attr("colspan").map_or(1, |c| c.parse().unwrap()))
            .sum();
        assert_eq!(span, 32, "{}", tr.html());
    }
    // The escaped name round-trips as the checkbox value.
    let boxes: Vec<_> = doc
        .select(&sel("form input[type=checkbox][name=s]"))
        .collect();
    assert_eq!(boxes.len(), 7);
    assert_eq!(boxes[0].value().attr("value"), Some("a<b>&\""));
    assert!(!page.contains("a<b>"));
    // The action select and the backend id, as HAProxy's POST expects.
    let actions: Vec<_> = doc
        .select(&sel("select[name=action] option"))
        .filter_map(|o| o.value().attr("value"))
        .collect();
    for a in [
        "ready", "drain", "maint", "hrunn", "hnolb", "hdown", "shutdown",
    ] {
        assert!(actions.contains(&a), "{a}");
    }
    let b: Vec<_> = doc
        .select(&sel("input[type=hidden][name=b]"))
        .filter_map(|i| i.value().attr("value"))
        .collect();
    assert_eq!(b, ["#3", "#4"]);
    // Status text and check result of the drained server.
    let drain = doc.select(&sel("tr.active_draining")).next().unwrap();
    let text: String = drain.text().collect();
    assert!(
        text.contains("1s DRAIN") && text.contains("L7OK/200 in 1ms"),
        "{text}"
    );
    // Without admin: no form, no checkboxes, no refresh.
    let plain = html::render(&process, &proxies, &html::PageOptions::default());
    assert!(!plain.contains("<form") && !plain.contains("refresh"));
}

#[test]
fn human_time_as_haproxy() {
    assert_eq!(html::human_time(0), "0s");
    assert_eq!(html::human_time(59), "59s");
    assert_eq!(html::human_time(61), "1m1s");
    assert_eq!(html::human_time(3600), "1h");
    assert_eq!(html::human_time(90061), "1d1h");
}

#[test]
fn prometheus_scrape_keeps_the_scopes_asked_and_leaves_out_maint_servers() {
    let now = epoch();
    let (process, proxies) = fixture(now);
    let families = |query: &str| {
        let query = MetricsQuery::parse(Some(query)).expect("valid query");
        let text = prometheus::render(&process, &proxies, &query);
        let mut prefixes: Vec<&str> = (text.lines())
            .filter(|l| !l.starts_with('#'))
            .filter_map(|l| l.split('_').nth(1))
            .collect();
        prefixes.dedup();
        (prefixes.join(" "), text)
    };
    assert_eq!(families("scope=server").0, "server");
    assert_eq!(families("scope=backend&scope=global").0, "process backend");
    assert_eq!(families("scope=").0, "");
    assert_eq!(families("scope=*").0, "process frontend backend server");
    let (_, all) = families("scope=server");
    let (_, no_maint) = families("scope=server&no-maint");
    assert!(all.contains("server=\"app4\""));
    assert!(!no_maint.contains("server=\"app4\""));
    assert!(no_maint.contains("server=\"app1\""));
}

#[test]
fn a_check_in_progress_shows_code_0_as_haproxy() {
    // HAProxy 2.6's tcpcheck_main sets check->code = 0 before each rule:
    // `show stat` says `* L7OK` with check_code 0 until the check ends.
    let (_, mut proxies) = fixture(epoch());
    let app = proxies.iter_mut().find(|p| p.name == "app").unwrap();
    app.servers[0].check.in_progress = true;
    let csv = show_stat(&proxies, &StatFilter::default());
    let header: Vec<&str> = csv.lines().next().unwrap()[2..].split(',').collect();
    let col = |n: &str| header.iter().position(|h| *h == n).unwrap();
    let row = |name: &str| -> Vec<String> {
        let line = csv
            .lines()
            .find(|l| l.starts_with(&format!("app,{name},")))
            .unwrap();
        line.split(',').map(str::to_owned).collect()
    };
    let (app1, app5) = (row("app1"), row("app5"));
    assert_eq!(app1[col("check_status")], "* L7OK");
    assert_eq!(app1[col("check_code")], "0");
    assert_eq!(app5[col("check_status")], "L7OK");
    assert_eq!(app5[col("check_code")], "200");
}
