//! `show servers state [backend]` (format version 1, HAProxy 2.6's
//! `dump_servers_state`).

use super::snapshot::{AgentInfo, ProxyStats};

/// The column names of format 1.
pub const FIELD_NAMES: &str = "be_id be_name srv_id srv_name srv_addr srv_op_state srv_admin_state srv_uweight srv_iweight srv_time_since_last_change srv_check_status srv_check_result srv_check_health srv_check_state srv_agent_state bk_f_forced_id srv_f_forced_id srv_fqdn srv_port srvrecord srv_use_ssl srv_check_port srv_check_addr srv_agent_addr srv_agent_port";

/// The answer to `show servers state`, for every backend or only the one
/// named `backend`. An unknown backend is HAProxy's `Can't find backend.`
/// error.
pub fn show_servers_state(proxies: &[ProxyStats], backend: Option<&str>) -> Result<String, String> {
    let selected: Vec<&ProxyStats> = match backend {
        None => proxies.iter().filter(|p| p.backend.is_some()).collect(),
        Some(name) => {
            let found = proxies
                .iter()
                .find(|p| p.backend.is_some() && p.name == name);
            match found {
                Some(p) => vec![p],
                None => return Err("Can't find backend.\n".into()),
            }
        }
    };
    let mut out = format!("1\n# {FIELD_NAMES}\n");
    for px in selected {
        for sv in &px.servers {
            let ck = &sv.check;
            // `-` unless `agent-addr` was given (HAProxy's unset address).
            let agent_addr = match sv.agent.as_ref().and_then(|a| a.addr) {
                Some(ip) => ip.to_string(),
                None => "-".to_owned(),
            };
            out.push_str(&format!(
                "{} {} {} {} {} {} {} {} {} {} {} {} {} {} {} {} {} {} {} {} {} {} {} {} {}\n",
                px.iid,
                px.name,
                sv.sid,
                sv.name,
                // No address yet (`init-addr none`, or lost to DNS).
                if sv.admin.resolution && sv.addr.ip().is_unspecified() {
                    "-".to_owned()
                } else {
                    sv.addr.ip().to_string()
                },
                sv.op.haproxy_number(),
                sv.admin.haproxy_flags() | if sv.configured_maint { 0x04 } else { 0 },
                sv.uweight,
                sv.iweight,
                sv.lastchg_secs,
                ck.status.number(),
                ck.status.result(),
                ck.level.health,
                ck.haproxy_state(),
                sv.agent.as_ref().map_or(0, AgentInfo::haproxy_state),
                0, // backend id forced: weir numbers backends itself
                u8::from(sv.forced_id),
                sv.fqdn.as_deref().unwrap_or("-"),
                sv.addr.port(),
                "-",
                u8::from(sv.use_ssl),
                sv.check_port,
                "-",
                agent_addr,
                sv.agent.as_ref().map_or(0, |a| a.port),
            ));
        }
    }
    Ok(out)
}
