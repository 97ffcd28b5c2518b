//! Observability: the counters the balancer keeps, the plain-data
//! snapshots it builds from them, and the formatters that turn snapshots
//! into HAProxy 2.6's outputs: `show stat` (CSV, `typed`, `json`), `show
//! info` (plain, `typed`, `json`), `show schema json`, `show servers
//! state`, `show backend`, the Prometheus exposition and the HTML stats
//! page. Everything here is pure: time comes in as `now`, text goes out.
//!
//! Interface for the balancer:
//! * embed [`ProcessCounters`], [`FrontendCounters`], [`BackendCounters`]
//!   and [`StateHistory`] beside what they count and call their update
//!   methods where events happen;
//! * keep each server's [`Admin`] and [`OpState`] and derive its status
//!   text with [`ServerStatus::of`];
//! * build [`ProxyStats`] / [`ProcessInfo`] on demand and call
//!   [`show_stat`], [`show_info`], [`typed`]'s or [`json`]'s, [`show_servers_state`],
//!   [`prometheus::render`] or [`html::render`].
//!
//! The texts end as HAProxy's dumpers end them; the CLI adds its empty
//! line after each answer.

mod counters;
mod csv;
mod fields;
pub mod html;
mod info;
pub mod json;
mod kinds;
mod peers;
pub mod prometheus;
mod servers_state;
mod snapshot;
mod status;
pub mod typed;

pub use counters::{
    BackendCounters, FreqCtr, FrontendCounters, HttpCounters, ProcessCounters, SessionTimes,
    StateHistory, SwRate, TIME_STATS_SAMPLES,
};
pub use csv::{StatFilter, show_stat};
pub use fields::{Field, NAMES as STAT_COLUMNS};
pub use info::show_info;
pub use servers_state::show_servers_state;
pub use snapshot::{
    AgentInfo, BackendRow, CheckInfo, CheckStatus, FrontendRow, Mode, ProcessInfo, ProxyStats,
    ServerRow,
};
pub use status::{
    Admin, AdminState, CheckLevel, ForcedHealth, MetricState, OpState, ServerStatus, StatusInput,
    Tracked,
};

#[cfg(test)]
mod agent_tests;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod typed_tests;
