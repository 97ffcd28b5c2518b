//! The agent columns of `show stat` and the agent fields of `show servers
//! state`, against HAProxy 2.6.12 captures (testdata/agent_*: one backend
//! whose agents answer `up 50%`, `down # disk full`, `drain`, nothing
//! (refused), `80%`, hang (two of them, one disabled by `disable agent`).

use std::net::IpAddr;

use super::*;

const STAT: &str = include_str!("testdata/agent_stat.csv");
const STATE: &str = include_str!("testdata/agent_servers_state.txt");

/// The columns compared: the state, the weights, both checks.
const COLUMNS: &[&str] = &[
    "svname",
    "status",
    "weight",
    "check_status",
    "check_code",
    "check_desc",
    "last_chk",
    "check_rise",
    "check_fall",
    "check_health",
    "agent_status",
    "agent_code",
    "agent_desc",
    "last_agt",
    "agent_rise",
    "agent_fall",
    "agent_health",
    "uweight",
];

struct Sv {
    name: &'static str,
    weight: u32,
    drain: bool,
    down: bool,
    check: Option<(CheckStatus, u32)>,
    agent: AgentInfo,
}

fn agent(status: CheckStatus, desc: &str, health: u32, port: u16) -> AgentInfo {
    AgentInfo {
        enabled: true,
        in_progress: false,
        status,
        duration_ms: 0,
        desc: desc.into(),
        health,
        addr: None,
        port,
    }
}

fn servers() -> Vec<Sv> {
    let sv = |name, agent| Sv {
        name,
        weight: 10,
        drain: false,
        down: false,
        check: None,
        agent,
    };
    let in_progress = |mut a: AgentInfo| {
        a.in_progress = true;
        a
    };
    let mut list = vec![
        sv("up", agent(CheckStatus::L7Ok, "via agent : up", 1, 19021)),
        sv(
            "down",
            agent(CheckStatus::L7Sts, "via agent : down (disk full)", 0, 19022),
        ),
        sv("drain", agent(CheckStatus::Checked, "", 1, 19023)),
        sv(
            "refused",
            agent(CheckStatus::L4Con, "Connection refused", 1, 19029),
        ),
        sv("checked", agent(CheckStatus::Checked, "", 1, 19025)),
        sv("ini", in_progress(agent(CheckStatus::L7Tout, "", 1, 19026))),
        sv("off", agent(CheckStatus::L7Ok, "via agent : up", 1, 19027)),
        sv(
            "hang",
            in_progress(agent(CheckStatus::L7Tout, "", 1, 19028)),
        ),
    ];
    list[0].weight = 5;
    list[1].down = true;
    list[1].check = Some((CheckStatus::L4Ok, 4));
    list[2].drain = true;
    list[2].agent.addr = Some(IpAddr::from([127, 0, 0, 1]));
    list[4].weight = 8;
    list[6].agent.enabled = false;
    list
}

fn row(sid: u32, sv: Sv) -> ServerRow {
    let admin = Admin {
        own: if sv.drain {
            AdminState::Drain
        } else {
            AdminState::Ready
        },
        inherited: AdminState::Ready,
        resolution: false,
    };
    let op = if sv.down {
        OpState::Stopped
    } else {
        OpState::Running
    };
    let (status, health) = sv.check.unwrap_or((CheckStatus::Init, 2));
    let check = CheckInfo {
        configured: sv.check.is_some(),
        level: CheckLevel {
            enabled: sv.check.is_some(),
            rise: 2,
            fall: 3,
            health,
        },
        paused: false,
        in_progress: false,
        status,
        code: None,
        duration_ms: 0,
        desc: String::new(),
    };
    let server_status = ServerStatus::of(&StatusInput {
        admin,
        op,
        check: Some(check.level),
        agent: sv.agent.level(),
        tracked: None,
    });
    let port = 19020 + sid as u16;
    ServerRow {
        name: sv.name.into(),
        sid,
        forced_id: false,
        counters: BackendCounters::default(),
        sess_rate: 0,
        status: server_status,
        admin,
        configured_maint: false,
        op,
        weight: sv.weight,
        uweight: sv.weight,
        iweight: 10,
        backup: false,
        check,
        observe: false,
        lastchg_secs: 4,
        downtime_secs: 3,
        last_sess_secs: -1,
        maxconn: None,
        maxqueue: None,
        throttle: None,
        tracked: None,
        addr: format!("127.0.0.1:{port}").parse().unwrap(),
        use_ssl: false,
        check_port: if sv.check.is_some() { 19021 } else { 0 },
        agent: Some(sv.agent),
        fqdn: None,
    }
}

fn proxies(servers: Vec<Sv>) -> Vec<ProxyStats> {
    let servers = (1..).zip(servers).map(|(sid, sv)| row(sid, sv)).collect();
    vec![ProxyStats {
        name: "be".into(),
        iid: 3,
        description: None,
        mode: Mode::Tcp,
        frontend: None,
        servers,
        backend: Some(BackendRow::default()),
    }]
}

#[test]
fn agent_columns_match_haproxy() {
    let filter = StatFilter::parse(&["-1", "4", "-1"], &[], true).unwrap();
    let ours = show_stat(&proxies(servers()), &filter);
    let golden: Vec<&str> = STAT.lines().filter(|l| !l.is_empty()).collect();
    let ours: Vec<&str> = ours.lines().collect();
    assert_eq!(golden[0], ours[0], "header");
    assert_eq!(golden.len(), ours.len(), "{ours:?}");
    let names: Vec<&str> = golden[0][2..].split(',').collect();
    for (g, o) in golden[1..].iter().zip(&ours[1..]) {
        let (g, o): (Vec<&str>, Vec<&str>) = (g.split(',').collect(), o.split(',').collect());
        for (i, name) in names.iter().enumerate() {
            if COLUMNS.contains(name) {
                assert_eq!(g[i], o[i], "{name} of {}", g[1]);
            }
        }
        // The duration is shown whenever the agent is.
        let at = names.iter().position(|&n| n == "agent_duration").unwrap();
        assert_eq!(
            g[at].is_empty(),
            o[at].is_empty(),
            "agent_duration of {}",
            g[1]
        );
    }
}

#[test]
fn agent_fields_of_show_servers_state_match_haproxy() {
    let mut servers = servers();
    // The capture caught `up` and `down` checking.
    servers[0].agent.in_progress = true;
    servers[1].agent.in_progress = true;
    servers[5].agent.in_progress = false;
    servers[7].agent.in_progress = false;
    let mut proxies = proxies(servers);
    // `down`'s health check: L4OK, its port 19021.
    let down = &mut proxies[0].servers[1];
    down.check.level.health = 4;
    let state = show_servers_state(&proxies, None).unwrap();
    assert_eq!(state + "\n", STATE);
}

#[test]
fn a_server_without_agent_shows_none() {
    let mut proxies = proxies(servers());
    for sv in &mut proxies[0].servers {
        sv.agent = None;
    }
    let state = show_servers_state(&proxies, None).unwrap();
    let line = state.lines().nth(2).unwrap();
    assert!(line.ends_with(" 0 - - 0"), "{line}");
    let csv = show_stat(&proxies, &StatFilter::default());
    assert!(!csv.contains("L7OK") && !csv.contains("via agent"), "{csv}");
}

#[test]
fn the_stats_page_classes_agent_states_as_haproxy() {
    let proxies = proxies(servers());
    let class = |i: usize| html::server_class(&proxies[0].servers[i]);
    assert_eq!(class(1), "active_down", "DOWN (agent)");
    assert_eq!(
        class(2),
        "active_up",
        "DRAIN (agent) falls to the weight test"
    );
    assert_eq!(class(0), "active_no_check");
}
