//! The stats snapshots against what the balancer did: `show stat` rows
//! read back column by column.

use super::*;
use crate::id::{BackendId, ServerId};
use crate::proxy::report::csv;
use crate::stats::STAT_COLUMNS;

/// The value of `column` in the row `pxname,svname`.
fn cell(csv: &str, px: &str, sv: &str, column: &str) -> String {
    let index = STAT_COLUMNS.iter().position(|c| *c == column).unwrap();
    let row = csv
        .lines()
        .find(|l| l.starts_with(&format!("{px},{sv},")))
        .unwrap_or_else(|| panic!("no row {px}/{sv} in {csv}"));
    row.split(',').nth(index).unwrap().to_owned()
}

#[test]
fn show_stat_counts_what_the_sessions_did() {
    let mut h = Harness::new(config(vec![server("s1", 8001), server("s2", 8002)]));
    let (client, conn) = h.session();
    h.peer_sends(client, b"hello");
    assert_eq!(h.drain(conn), b"hello");
    h.peer_sends(conn, b"answer!");
    assert_eq!(h.drain(client), b"answer!");
    h.event(Event::ReadClosed { conn: client });
    h.event(Event::ReadClosed { conn });
    let (_, refused, _) = h.accept();
    h.event(Event::Connected {
        conn: refused,
        result: Err(ConnError::Refused),
    });
    let stat = csv(&h.lb.proxy_stats(h.now));
    assert!(stat.starts_with("# pxname,svname,qcur,"), "{stat}");
    assert_eq!(cell(&stat, "fe", "FRONTEND", "stot"), "2");
    assert_eq!(cell(&stat, "fe", "FRONTEND", "bin"), "5");
    assert_eq!(cell(&stat, "fe", "FRONTEND", "bout"), "7");
    assert_eq!(cell(&stat, "fe", "FRONTEND", "scur"), "1");
    assert_eq!(cell(&stat, "app", "BACKEND", "stot"), "2");
    assert_eq!(cell(&stat, "app", "BACKEND", "econ"), "1");
    assert_eq!(cell(&stat, "app", "BACKEND", "wredis"), "1");
    assert_eq!(cell(&stat, "app", "BACKEND", "status"), "UP");
    let total: u64 = ["s1", "s2"]
        .iter()
        .map(|s| cell(&stat, "app", s, "econ").parse::<u64>().unwrap())
        .sum();
    assert_eq!(total, 1, "the refused connect is its server's");
    assert_eq!(cell(&stat, "app", "s1", "status"), "no check");
}

#[test]
fn show_stat_shows_drain_maintenance_and_a_checked_server_going_down() {
    let mut h = Harness::new(config(vec![
        checked("s1", 8001),
        server("s2", 8002),
        server("s3", 8003),
    ]));
    let (probe, _) = h.connects()[0];
    h.event(Event::Connected {
        conn: probe,
        result: Err(ConnError::Refused),
    });
    let ids: Vec<(BackendId, ServerId)> =
        h.lb.backends
            .iter()
            .flat_map(|(b, x)| x.servers.ids().map(move |s| (b, s)))
            .collect();
    let now = h.now;
    h.lb.set_admin_state(now, ids[1].0, ids[1].1, crate::stats::AdminState::Drain);
    h.lb.set_admin_state(now, ids[2].0, ids[2].1, crate::stats::AdminState::Maint);
    h.collect();
    let stat = csv(&h.lb.proxy_stats(h.now));
    assert_eq!(cell(&stat, "app", "s1", "status"), "DOWN");
    assert_eq!(cell(&stat, "app", "s1", "check_status"), "L4CON");
    assert_eq!(cell(&stat, "app", "s1", "chkfail"), "1");
    assert_eq!(cell(&stat, "app", "s1", "chkdown"), "1");
    assert_eq!(cell(&stat, "app", "s2", "status"), "DRAIN");
    assert_eq!(cell(&stat, "app", "s3", "status"), "MAINT");
    assert_eq!(cell(&stat, "app", "BACKEND", "status"), "DOWN");
}

#[test]
fn a_log_format_renders_the_session_and_dontlognull_skips_empty_ones() {
    let mut cfg = config(vec![server("s1", 8001)]);
    let frontend = &mut cfg.frontends[0];
    frontend.log_format = crate::LineFormat::compile("%ci>%fi:%fp %s@%si:%sp %U/%B %ts").unwrap();
    frontend.dontlognull = true;
    let mut h = Harness::new(cfg);
    let (client, conn) = h.session();
    h.peer_sends(client, b"abc");
    h.drain(conn);
    h.event(Event::ReadClosed { conn: client });
    h.event(Event::ReadClosed { conn });
    let (client, conn) = h.session();
    h.event(Event::ReadClosed { conn: client });
    h.event(Event::ReadClosed { conn });
    assert_eq!(
        h.logs(LogSink::Stdout),
        ["10.0.0.1>127.0.0.1:9091 s1@127.0.0.1:8001 3/0 --"],
        "the second session sent nothing: not logged"
    );
}

/// A session that ends normally, then one whose only server refuses (`SC`).
fn normal_then_refused(h: &mut Harness) {
    let (client, conn) = h.session();
    h.peer_sends(client, b"abc");
    h.drain(conn);
    h.event(Event::ReadClosed { conn: client });
    h.event(Event::ReadClosed { conn });
    let (_, refused, _) = h.accept();
    h.event(Event::Connected {
        conn: refused,
        result: Err(ConnError::Refused),
    });
}

#[test]
fn dontlog_normal_logs_only_the_sessions_that_failed() {
    let mut cfg = no_retries(vec![server("s1", 8001)]);
    let frontend = &mut cfg.frontends[0];
    frontend.log_format = crate::LineFormat::compile("%s %ts").unwrap();
    frontend.dontlog_normal = true;
    let mut h = Harness::new(cfg);
    normal_then_refused(&mut h);
    assert_eq!(h.logs(LogSink::Stdout), ["s1 SC"]);
}

#[test]
fn log_separate_errors_logs_failed_sessions_at_err() {
    let mut cfg = no_retries(vec![server("s1", 8001)]);
    let frontend = &mut cfg.frontends[0];
    frontend.log_format = crate::LineFormat::compile("%s %ts").unwrap();
    // Only `warning` and worse reach the target: `info` lines stay out.
    frontend.logs[0].max_level = crate::config::Severity::Warning;
    let mut h = Harness::new(cfg.clone());
    normal_then_refused(&mut h);
    assert_eq!(h.logs(LogSink::Stdout), Vec::<String>::new());
    cfg.frontends[0].log_separate_errors = true;
    let mut h = Harness::new(cfg);
    normal_then_refused(&mut h);
    assert_eq!(h.logs(LogSink::Stdout), ["s1 SC"]);
}
