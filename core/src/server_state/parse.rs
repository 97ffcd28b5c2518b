//! The `show servers state` format 1 reader (HAProxy's
//! `srv_state_get_version`, `srv_state_parse_line` and the checks of
//! `srv_state_srv_update`).
//!
//! A file is a version line (`1`), then one line per server of 20 to 25
//! fields separated by spaces or tabs; blank lines and `#` comments are
//! skipped. As in HAProxy, a bad version, a line too long, a last line
//! without its newline or a wrong number of fields make the whole file
//! unusable ([`FileError`]); a field with a bad value makes that line
//! unusable, reported when a server matches it ([`StateLine::values`]).
//! Stricter than HAProxy's `strtol`: numbers are plain decimal digits.

use crate::stats::OpState;

/// The longest line, its newline included (HAProxy reads lines with
/// `fgets` into `SRV_STATE_LINE_MAXLEN` = 2000 bytes).
pub const MAX_LINE: usize = 1999;

/// Fields of a format 1 line: 20 required, 5 optional.
const MIN_FIELDS: usize = 20;
const MAX_FIELDS: usize = 25;

/// HAProxy's `SRV_UWGHT_MAX`.
const MAX_WEIGHT: u32 = 256;

/// `HCHK_STATUS_SIZE`: check statuses are below it.
const CHECK_STATUSES: u32 = 21;

/// The admin flags a server may hold for itself once inherited ones
/// (`IMAINT` 0x02, `IDRAIN` 0x10, `RMAINT` 0x20, `HMAINT` 0x40) are
/// dropped: none, `FMAINT`, `CMAINT`, both, `CMAINT|FDRAIN`, `FDRAIN`.
const OWN_ADMIN: [u32; 6] = [0, 0x01, 0x04, 0x05, 0x0c, 0x08];

/// The check state bits HAProxy accepts (`CHK_ST_INPROGRESS`,
/// `CONFIGURED`, `ENABLED`, `PAUSED`, `AGENT`).
const CHECK_STATE_BITS: u32 = 0x1f;

/// A state file that cannot be used at all.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FileError {
    /// The first line is not `1` and a newline.
    #[error("Can't get version of the server state file")]
    Version,
    /// A line is too long, not terminated, not UTF-8, or has a wrong
    /// number of fields.
    #[error("corrupted server state file at line {0}")]
    Corrupted(u32),
}

/// A parsed state file: its server lines in file order.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct StateFile {
    /// One per server line.
    pub lines: Vec<StateLine>,
}

/// One server's line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StateLine {
    /// Its line number in the file (the version line is line 1).
    pub line: u32,
    /// `be_id`; `None` when not a number.
    pub be_id: Option<u32>,
    /// `be_name`.
    pub be_name: String,
    /// `srv_name`.
    pub srv_name: String,
    /// The state, or HAProxy's list of what is wrong with it
    /// (`, invalid srv_op_state value '7'`).
    pub values: Result<StateValues, String>,
}

/// What a valid line says of its server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StateValues {
    /// `srv_addr`, `None` for `-`.
    pub addr: Option<String>,
    /// `srv_op_state`.
    pub op: OpState,
    /// `srv_admin_state` without the inherited flags: `FMAINT` 0x01,
    /// `CMAINT` 0x04, `FDRAIN` 0x08.
    pub admin: u32,
    /// `srv_uweight`: the weight people set.
    pub uweight: u32,
    /// `srv_iweight`: the configured weight then.
    pub iweight: u32,
    /// `srv_time_since_last_change`, in seconds.
    pub last_change_secs: u64,
    /// `srv_check_health`.
    pub check_health: i64,
    /// `srv_check_state`: `CHK_ST_*` bits.
    pub check_state: u32,
    /// `srv_port`.
    pub port: u16,
    /// `srv_agent_state`: `CHK_ST_*` bits.
    pub agent_state: u32,
    /// `srv_agent_addr`, `None` for `-` or when absent.
    pub agent_addr: Option<String>,
    /// `srv_agent_port`, `None` for `0` or when absent.
    pub agent_port: Option<String>,
}

/// Reads a state file.
pub fn parse(text: &[u8]) -> Result<StateFile, FileError> {
    let mut lines = text.split_inclusive(|&b| b == b'\n');
    let version = lines.next().ok_or(FileError::Version)?;
    if version != b"1\n" {
        return Err(FileError::Version);
    }
    let mut file = StateFile::default();
    for (raw, number) in lines.zip(2u32..) {
        if raw.len() > MAX_LINE || raw.last() != Some(&b'\n') {
            return Err(FileError::Corrupted(number));
        }
        let body =
            std::str::from_utf8(&raw[..raw.len() - 1]).map_err(|_| FileError::Corrupted(number))?;
        let trimmed = body.trim_start_matches([' ', '\t']);
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        let fields: Vec<&str> = trimmed
            .split([' ', '\t'])
            .filter(|f| !f.is_empty())
            .collect();
        if !(MIN_FIELDS..=MAX_FIELDS).contains(&fields.len()) {
            return Err(FileError::Corrupted(number));
        }
        file.lines.push(StateLine {
            line: number,
            be_id: decimal(fields[0]),
            be_name: fields[1].to_owned(),
            srv_name: fields[3].to_owned(),
            values: values(&fields[4..]),
        });
    }
    Ok(file)
}

/// A plain decimal number (no sign, no spaces), within `u64`.
fn decimal<T: TryFrom<u64>>(field: &str) -> Option<T> {
    if field.is_empty() || !field.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    field.parse::<u64>().ok().and_then(|n| T::try_from(n).ok())
}

/// The fields after `srv_name`, checked as `srv_state_srv_update` checks
/// them; the names of HAProxy's messages.
fn values(f: &[&str]) -> Result<StateValues, String> {
    let mut bad = String::new();
    let mut check = |name: &str, field: &str, ok: bool| {
        if !ok {
            bad.push_str(&format!(", invalid {name} value '{field}'"));
        }
    };
    let op = decimal::<u32>(f[1]).and_then(|n| match n {
        0 => Some(OpState::Stopped),
        1 => Some(OpState::Starting),
        2 => Some(OpState::Running),
        3 => Some(OpState::Stopping),
        _ => None,
    });
    check("srv_op_state", f[1], op.is_some());
    let admin = decimal::<u32>(f[2]).map(|n| n & !(0x02 | 0x10 | 0x20 | 0x40));
    check(
        "srv_admin_state",
        f[2],
        admin.is_some_and(|a| OWN_ADMIN.contains(&a)),
    );
    let weight = |field| decimal::<u32>(field).filter(|&w| w <= MAX_WEIGHT);
    let (uweight, iweight) = (weight(f[3]), weight(f[4]));
    check("srv_uweight", f[3], uweight.is_some());
    check("srv_iweight", f[4], iweight.is_some());
    let last_change = decimal::<u64>(f[5]);
    check("srv_last_time_change", f[5], last_change.is_some());
    let status = decimal::<u32>(f[6]).filter(|&s| s < CHECK_STATUSES);
    check("srv_check_status", f[6], status.is_some());
    let result = decimal::<u32>(f[7]).filter(|&r| r <= 4);
    check("srv_check_result", f[7], result.is_some());
    let health = signed(f[8]);
    check("srv_check_health", f[8], health.is_some());
    let state_bits = |field| decimal::<u32>(field).filter(|&s| s & !CHECK_STATE_BITS == 0);
    let check_state = state_bits(f[9]);
    check("srv_check_state", f[9], check_state.is_some());
    let agent_state = state_bits(f[10]);
    check("srv_agent_state", f[10], agent_state.is_some());
    let flag = |field| decimal::<u32>(field).is_some_and(|n| n <= 1);
    check("bk_f_forced_id", f[11], flag(f[11]));
    check("srv_f_forced_id", f[12], flag(f[12]));
    let port = decimal::<u16>(f[14]);
    check("srv_port", f[14], port.is_some());
    match (
        op,
        admin,
        uweight,
        iweight,
        last_change,
        health,
        (check_state, agent_state),
        port,
    ) {
        (
            Some(op),
            Some(admin),
            Some(uweight),
            Some(iweight),
            Some(last_change_secs),
            Some(check_health),
            (Some(check_state), Some(agent_state)),
            Some(port),
        ) if bad.is_empty() => Ok(StateValues {
            addr: (f[0] != "-").then(|| f[0].to_owned()),
            op,
            admin,
            uweight,
            iweight,
            last_change_secs,
            check_health,
            check_state,
            port,
            agent_state,
            agent_addr: f.get(19).filter(|a| **a != "-").map(|a| a.to_string()),
            agent_port: f.get(20).filter(|p| **p != "0").map(|p| p.to_string()),
        }),
        _ => Err(bad),
    }
}

/// A decimal number with an optional `-`, within `i64`.
fn signed(field: &str) -> Option<i64> {
    match field.strip_prefix('-') {
        Some(rest) => decimal::<u64>(rest)
            .and_then(|n| i64::try_from(n).ok())
            .map(|n| -n),
        None => decimal::<u64>(field).and_then(|n| i64::try_from(n).ok()),
    }
}
