//! The HTML stats page in HAProxy's layout (src/stats.c's html dump): a
//! process summary, then one table per proxy with its frontend row, server
//! rows and backend row, rows coloured with HAProxy's CSS classes
//! (`active_up`, `backup_down`, `maintain`, …). With `admin`, each proxy
//! with servers is a form: a checkbox per server (`name="s"`, the server's
//! name), an `action` select (`ready`, `drain`, `maint`, `dhlth`, `ehlth`,
//! `hrunn`, `hnolb`, `hdown`, `dagent`, `eagent`, `arunn`, `adown`,
//! `shutdown`) and a hidden `b` field (`#<proxy id>`), posted to the page's
//! own URL as HAProxy's.

use super::fields::{self, Field, Row, col};
use super::snapshot::{ProcessInfo, ProxyStats, ServerRow};
use super::status::ServerStatus;
use std::fmt::Write;

/// How the page is drawn.
#[derive(Debug, Clone, Default)]
pub struct PageOptions {
    /// `stats refresh`: seconds between reloads.
    pub refresh_secs: Option<u32>,
    /// `stats admin`: draw the server forms.
    pub admin: bool,
}

/// HAProxy's `human_time`: at most two units among d, h, m, s (`0s` for 0).
pub fn human_time(t: u64) -> String {
    const MINUTE: u64 = 60;
    const HOUR: u64 = 3600;
    const DAY: u64 = 86400;
    let mut out = String::new();
    let mut cnt = 2;
    if t >= DAY {
        let _ = write!(out, "{}d", t / DAY);
        cnt -= 1;
    }
    if cnt > 0 && t % DAY / HOUR > 0 {
        let _ = write!(out, "{}h", t % DAY / HOUR);
        cnt -= 1;
    }
    if cnt > 0 && t % HOUR / MINUTE > 0 {
        let _ = write!(out, "{}m", t % HOUR / MINUTE);
        cnt -= 1;
    }
    if (cnt > 0 && t % MINUTE > 0) || t == 0 {
        let _ = write!(out, "{}s", t % MINUTE);
    }
    out
}

/// Escapes text for HTML content and attribute values.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

/// The colours of HAProxy's classes (its light theme).
const CSS: &str = "body{font-family:arial,helvetica,sans-serif;font-size:12px;color:black;background:white}
th,td{font-size:10px}
h1{font-size:x-large;margin-bottom:0.5em}
h2{font-size:x-large;font-weight:bold;font-style:italic;color:#6020a0;margin:0}
h3{font-size:16px;font-weight:bold;color:#b00040;background:#e8e8d0;margin:0}
.titre{background:#20D0D0;color:#000000;font-weight:bold;text-align:center}
.frontend{background:#e8e8d0}
.backend{background:#e8e8d0}
.active_down{background:#ff9090}
.active_going_up{background:#ffd020}
.active_going_down{background:#ffffa0}
.active_up{background:#c0ffc0}
.active_nolb{background:#20a0ff}
.active_draining{background:#20a0FF}
.active_no_check{background:#e0e0e0}
.backup_down{background:#ff9090}
.backup_going_up{background:#ff80ff}
.backup_going_down{background:#c060ff}
.backup_up{background:#b0d0ff}
.backup_nolb{background:#90b0e0}
.backup_draining{background:#cc9900}
.backup_no_check{background:#e0e0e0}
.maintain{background:#c07820}
a.px:link,a.px:visited{color:#ffff40;text-decoration:none}
a.lfsb:link,a.lfsb:visited{color:#000000;text-decoration:none}
table.tbl{border-collapse:collapse;border-style:none}
table.tbl td{text-align:right;border:1px solid gray;padding:2px 3px;white-space:nowrap}
table.tbl td.ac{text-align:center}
table.tbl th{border:1px solid gray}
table.tbl th.pxname{background:#b00040;color:#ffff40;font-weight:bold;padding:2px 3px;white-space:nowrap}
table.tbl th.empty{border-style:none;background:white}
table.tbl th.desc{background:white;border-style:solid solid none solid;text-align:left;padding:2px 3px}
table.lgd{border-collapse:collapse}
table.lgd td{border:1px solid gray;padding:2px}
table.lgd td.noborder{border-style:none;white-space:nowrap}
";

/// The whole page.
pub fn render(process: &ProcessInfo, proxies: &[ProxyStats], opts: &PageOptions) -> String {
    let mut out = String::from("<!DOCTYPE html>\n<html>\n<head>\n");
    let _ = writeln!(
        out,
        "<title>Statistics Report for {}</title>",
        escape(&process.name)
    );
    if let Some(secs) = opts.refresh_secs {
        let _ = writeln!(out, "<meta http-equiv=\"refresh\" content=\"{secs}\">");
    }
    out.push_str("<meta http-equiv=\"content-type\" content=\"text/html; charset=utf-8\">\n");
    let _ = write!(
        out,
        "<style type=\"text/css\">\n{CSS}</style>\n</head>\n<body>\n"
    );
    let _ = writeln!(
        out,
        "<h1>{} version {}, released {}</h1>",
        escape(&process.name),
        escape(&process.version),
        escape(&process.release_date)
    );
    let _ = writeln!(out, "<h2>Statistics Report for pid {}</h2>", process.pid);
    summary(&mut out, process);
    for px in proxies {
        proxy_table(&mut out, px, opts.admin);
    }
    out.push_str("</body>\n</html>\n");
    out
}

fn summary(out: &mut String, p: &ProcessInfo) {
    let _ = write!(
        out,
        "<hr width=\"100%\" class=\"hr\">\n<h3>&gt; General process information</h3>\n\
         <table border=0><tr><td align=\"left\" nowrap width=\"1%\"><p>\n\
         <b>pid = </b> {} (process #1, nbproc = 1, nbthread = {})<br>\n\
         <b>uptime = </b> {}<br>\n\
         <b>system limits:</b> memmax = unlimited; ulimit-n = {}<br>\n\
         <b>maxsock = </b> {}; <b>maxconn = </b> {}; <b>maxpipes = </b> 0<br>\n\
         current conns = {}; current pipes = 0/0; conn rate = {}/sec; bit rate = {:.3} kbps<br>\n\
         Running tasks: {}/{}; idle = {} %<br>\n</td>\n",
        p.pid,
        p.nbthread,
        escape(&info_uptime(p.uptime_secs)),
        p.ulimit_n,
        p.maxsock,
        p.maxconn,
        p.cur_conns,
        p.conn_rate,
        p.bytes_out_rate as f64 * 8.0 / 1000.0,
        p.run_queue,
        p.tasks,
        p.idle_pct,
    );
    out.push_str("<td align=\"center\" nowrap>\n<table class=\"lgd\"><tr>\n");
    let legend = [
        ("active_up", "active UP"),
        ("backup_up", "backup UP"),
        ("active_going_down", "active UP, going down"),
        ("backup_going_down", "backup UP, going down"),
        ("active_going_up", "active DOWN, going up"),
        ("backup_going_up", "backup DOWN, going up"),
        ("active_down", "active or backup DOWN"),
        ("active_no_check", "not checked"),
        ("maintain", "active or backup DOWN for maintenance (MAINT)"),
        (
            "active_draining",
            "active or backup SOFT STOPPED for maintenance",
        ),
    ];
    for (i, (class, text)) in legend.iter().enumerate() {
        let _ = write!(
            out,
            "<td class=\"{class}\">&nbsp;</td><td class=\"noborder\">{text} </td>"
        );
        if i % 2 == 1 {
            out.push_str("</tr>\n<tr>");
        }
    }
    out.push_str("</tr></table>\nNote: \"NOLB\"/\"DRAIN\" = UP with load-balancing disabled.</td></tr></table>\n");
}

fn info_uptime(up: u64) -> String {
    format!(
        "{}d {}h{:02}m{:02}s",
        up / 86400,
        (up % 86400) / 3600,
        (up % 3600) / 60,
        up % 60
    )
}

fn proxy_table(out: &mut String, px: &ProxyStats, admin: bool) {
    let name = escape(&px.name);
    let form = admin && px.backend.is_some() && !px.servers.is_empty();
    if form {
        out.push_str("<form method=\"post\">");
    }
    // HAProxy shows the description unescaped; weir escapes it.
    let (desc_class, desc) = match &px.description {
        Some(d) => ("desc", escape(d)),
        None => ("empty", escape("")),
    };
    let _ = write!(
        out,
        "<table class=\"tbl\" width=\"100%\">\n<tr class=\"titre\"><th class=\"pxname\" width=\"10%\">\
         <a name=\"{name}\"></a><a class=px href=\"#{name}\">{name}</a></th>\
         <th class=\"{desc_class}\" width=\"90%\">{desc}</th></tr>\n</table>\n\
         <table class=\"tbl\" width=\"100%\">\n<tr class=\"titre\">"
    );
    if admin {
        if form {
            let _ = write!(
                out,
                "<th rowspan=2 width=1><input type=\"checkbox\" onclick=\"for(c in document.getElementsByClassName('{name}-checkbox')) document.getElementsByClassName('{name}-checkbox').item(c).checked = this.checked\"></th>"
            );
        } else {
            out.push_str("<th rowspan=2></th>");
        }
    }
    out.push_str(
        "<th rowspan=2></th><th colspan=3>Queue</th><th colspan=3>Session rate</th>\
         <th colspan=6>Sessions</th><th colspan=2>Bytes</th><th colspan=2>Denied</th>\
         <th colspan=3>Errors</th><th colspan=2>Warnings</th><th colspan=9>Server</th></tr>\n\
         <tr class=\"titre\"><th>Cur</th><th>Max</th><th>Limit</th><th>Cur</th><th>Max</th>\
         <th>Limit</th><th>Cur</th><th>Max</th><th>Limit</th><th>Total</th><th>LbTot</th>\
         <th>Last</th><th>In</th><th>Out</th><th>Req</th><th>Resp</th><th>Req</th><th>Conn</th>\
         <th>Resp</th><th>Retr</th><th>Redis</th><th>Status</th><th>LastChk</th><th>Wght</th>\
         <th>Act</th><th>Bck</th><th>Chk</th><th>Dwn</th><th>Dwntme</th><th>Thrtle</th></tr>\n",
    );
    if let Some(fe) = &px.frontend {
        frontend_row(out, &fields::frontend(px, fe), &name, admin);
    }
    if px.backend.is_some() {
        for sv in &px.servers {
            server_row(out, &fields::server(px, sv), sv, &name, admin);
        }
    }
    if let Some(be) = &px.backend {
        backend_row(out, &fields::backend(px, be), &name, admin);
    }
    out.push_str("</table>");
    if form {
        let _ = write!(
            out,
            "Choose the action to perform on the checked servers : <select name=action>\
             <option value=\"\"></option>\
             <option value=\"ready\">Set state to READY</option>\
             <option value=\"drain\">Set state to DRAIN</option>\
             <option value=\"maint\">Set state to MAINT</option>\
             <option value=\"dhlth\">Health: disable checks</option>\
             <option value=\"ehlth\">Health: enable checks</option>\
             <option value=\"hrunn\">Health: force UP</option>\
             <option value=\"hnolb\">Health: force NOLB</option>\
             <option value=\"hdown\">Health: force DOWN</option>\
             <option value=\"shutdown\">Kill Sessions</option>\
             </select><input type=\"hidden\" name=\"b\" value=\"#{}\">\
             &nbsp;<input type=\"submit\" value=\"Apply\"></form>",
            px.iid
        );
    }
    out.push_str("<p>\n");
}

fn num(row: &Row, c: usize) -> String {
    row[c].to_string()
}

fn limit(row: &Row, c: usize) -> String {
    match &row[c] {
        Field::U64(v) if *v > 0 => v.to_string(),
        _ => "-".into(),
    }
}

fn td(out: &mut String, v: &str) {
    let _ = write!(out, "<td>{}</td>", escape(v));
}

fn name_cell(out: &mut String, px: &str, anchor: &str, label: &str) {
    let _ = write!(
        out,
        "<td class=ac><a name=\"{px}/{anchor}\"></a><a class=lfsb href=\"#{px}/{anchor}\">{label}</a></td>"
    );
}

fn frontend_row(out: &mut String, r: &Row, px: &str, admin: bool) {
    out.push_str("<tr class=\"frontend\">");
    if admin {
        out.push_str("<td></td>");
    }
    name_cell(out, px, "Frontend", "Frontend");
    out.push_str("<td colspan=3></td>");
    td(out, &num(r, col::RATE));
    td(out, &num(r, col::RATE_MAX));
    td(out, &limit(r, col::RATE_LIM));
    for c in [col::SCUR, col::SMAX, col::SLIM, col::STOT] {
        td(out, &num(r, c));
    }
    out.push_str("<td></td><td></td>");
    for c in [col::BIN, col::BOUT, col::DREQ, col::DRESP, col::EREQ] {
        td(out, &num(r, c));
    }
    out.push_str("<td></td><td></td><td></td><td></td>");
    let _ = writeln!(
        out,
        "<td class=ac>{}</td><td class=ac colspan=8></td></tr>",
        escape(&num(r, col::STATUS))
    );
}

/// HAProxy's row class for a server: `maintain`, or `active_`/`backup_`
/// followed by `up`, `down`, `going_up`, `going_down`, `nolb`,
/// `draining` or `no_check`.
pub fn server_class(sv: &ServerRow) -> String {
    let style = match &sv.status {
        ServerStatus::Maint | ServerStatus::MaintVia(..) | ServerStatus::MaintResolution => {
            return "maintain".into();
        }
        ServerStatus::Down | ServerStatus::DownAgent => "down",
        ServerStatus::GoingUp(..) => "going_up",
        ServerStatus::Drain => "draining",
        ServerStatus::NolbGoingDown(..) => "going_down",
        ServerStatus::Nolb => "nolb",
        ServerStatus::NoCheck => "no_check",
        ServerStatus::Up
        | ServerStatus::DrainGoingDown(..)
        | ServerStatus::UpGoingDown(..)
        | ServerStatus::DrainAgent => {
            let lvl = sv.check.level;
            let full = !lvl.enabled || lvl.health == (lvl.rise + lvl.fall).saturating_sub(1);
            match (full, sv.weight > 0) {
                (true, true) => "up",
                (true, false) => "draining",
                (false, _) => "going_down",
            }
        }
    };
    let kind = if sv.backup { "backup" } else { "active" };
    format!("{kind}_{style}")
}

fn server_row(out: &mut String, r: &Row, sv: &ServerRow, px: &str, admin: bool) {
    let name = escape(&sv.name);
    let _ = write!(out, "<tr class=\"{}\">", server_class(sv));
    if admin {
        let _ = write!(
            out,
            "<td><input class='{px}-checkbox' type=\"checkbox\" name=\"s\" value=\"{name}\"></td>"
        );
    }
    name_cell(out, px, &name, &name);
    td(out, &num(r, col::QCUR));
    td(out, &num(r, col::QMAX));
    td(out, &limit(r, col::QLIMIT));
    td(out, &num(r, col::RATE));
    td(out, &num(r, col::RATE_MAX));
    out.push_str("<td></td>");
    td(out, &num(r, col::SCUR));
    td(out, &num(r, col::SMAX));
    td(out, &limit(r, col::SLIM));
    td(out, &num(r, col::STOT));
    td(out, &num(r, col::LBTOT));
    td(out, &last_session(r));
    for c in [col::BIN, col::BOUT] {
        td(out, &num(r, c));
    }
    out.push_str("<td></td>");
    td(out, &num(r, col::DRESP));
    out.push_str("<td></td>");
    for c in [col::ECON, col::ERESP, col::WRETR, col::WREDIS] {
        td(out, &num(r, c));
    }
    let status = sv.status.to_string();
    let lastchg = human_time(sv.lastchg_secs);
    let status_text = match &sv.status {
        ServerStatus::Maint | ServerStatus::MaintVia(..) => format!("{lastchg} MAINT"),
        ServerStatus::NoCheck => "<i>no check</i>".into(),
        _ => format!("{lastchg} {}", escape(&status)),
    };
    let _ = write!(out, "<td class=ac>{status_text}</td>");
    // A server DOWN whose agent says DOWN shows the agent's result.
    let agent_down = sv
        .agent
        .as_ref()
        .is_some_and(|a| a.enabled && a.health == 0);
    if status.starts_with("DOWN") && agent_down {
        let mut text = num(r, col::AGENT_STATUS);
        if let Field::U64(code) = r[col::AGENT_CODE] {
            let _ = write!(text, "/{code}");
        }
        if let Field::U64(ms) = r[col::AGENT_DURATION] {
            let _ = write!(text, " in {ms}ms");
        }
        let _ = write!(out, "<td class=ac>{}</td>", escape(&text));
    } else if sv.check.shown() {
        let ck = &sv.check;
        let mut text = ck.status.info().to_owned();
        if let Field::U64(code) = r[col::CHECK_CODE] {
            let _ = write!(text, "/{code}");
        }
        if let Field::U64(ms) = r[col::CHECK_DURATION] {
            let _ = write!(text, " in {ms}ms");
        }
        let _ = write!(out, "<td class=ac>{}</td>", escape(&text));
    } else {
        out.push_str("<td></td>");
    }
    let _ = write!(
        out,
        "<td class=ac>{}/{}</td><td class=ac>{}</td><td class=ac>{}</td>",
        sv.weight,
        sv.uweight,
        if sv.backup { "-" } else { "Y" },
        if sv.backup { "Y" } else { "-" }
    );
    if sv.check.level.enabled {
        let _ = write!(
            out,
            "<td>{}</td><td>{}</td><td>{}</td>",
            num(r, col::CHKFAIL),
            num(r, col::CHKDOWN),
            human_time(sv.downtime_secs)
        );
    } else if let (Some(t), false) = (
        &sv.tracked,
        sv.admin.own == super::status::AdminState::Maint,
    ) {
        let t = escape(t);
        let _ = write!(
            out,
            "<td class=ac colspan=3><a class=lfsb href=\"#{t}\">via {t}</a></td>"
        );
    } else {
        out.push_str("<td colspan=3></td>");
    }
    match sv.throttle {
        Some(t) => {
            let _ = write!(out, "<td class=ac>{t} %</td>");
        }
        None => out.push_str("<td class=ac>-</td>"),
    }
    out.push_str("</tr>\n");
}

fn last_session(r: &Row) -> String {
    match r[col::LASTSESS] {
        Field::S64(s) if s >= 0 => human_time(s as u64),
        _ => "never".into(),
    }
}

fn backend_row(out: &mut String, r: &Row, px: &str, admin: bool) {
    out.push_str("<tr class=\"backend\">");
    if admin {
        out.push_str("<td></td>");
    }
    name_cell(out, px, "Backend", "Backend");
    td(out, &num(r, col::QCUR));
    td(out, &num(r, col::QMAX));
    out.push_str("<td></td>");
    td(out, &num(r, col::RATE));
    td(out, &num(r, col::RATE_MAX));
    out.push_str("<td></td>");
    for c in [col::SCUR, col::SMAX, col::SLIM, col::STOT, col::LBTOT] {
        td(out, &num(r, c));
    }
    td(out, &last_session(r));
    for c in [col::BIN, col::BOUT, col::DREQ, col::DRESP] {
        td(out, &num(r, c));
    }
    out.push_str("<td></td>");
    for c in [col::ECON, col::ERESP, col::WRETR, col::WREDIS] {
        td(out, &num(r, c));
    }
    let lastchg = match r[col::LASTCHG] {
        Field::U64(s) => human_time(s),
        _ => String::new(),
    };
    let downtime = match r[col::DOWNTIME] {
        Field::U64(s) => human_time(s),
        _ => String::new(),
    };
    let _ = writeln!(
        out,
        "<td class=ac>{lastchg} {}</td><td class=ac>&nbsp;</td><td class=ac>{}/{}</td>\
         <td class=ac>{}</td><td class=ac>{}</td><td class=ac>&nbsp;</td><td>{}</td><td>{}</td><td></td></tr>",
        escape(&num(r, col::STATUS)),
        num(r, col::WEIGHT),
        num(r, col::UWEIGHT),
        num(r, col::ACT),
        num(r, col::BCK),
        num(r, col::CHKDOWN),
        downtime,
    );
}
