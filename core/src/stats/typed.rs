//! `show stat typed` and `show info typed`: one line per filled field,
//! `F.2.0.4.scur.1:MGP:u32:0`, as HAProxy 2.6's `stats_dump_fields_typed`
//! and `stats_dump_typed_info_fields`; with `desc`, the field's
//! description after the value.

use super::csv::{self, StatFilter};
use super::fields::{Field, Row, TYPE_BE, TYPE_FE, TYPE_SV, col};
use super::info;
use super::kinds::{self, Kind};
use super::snapshot::{ProcessInfo, ProxyStats};
use std::fmt::Write as _;

/// One filled field of a `show stat` row, with what `typed` and `json`
/// output say around it.
pub(super) struct StatItem<'a> {
    /// Row type (`type` column): 0 frontend, 1 backend, 2 server.
    pub row_type: u64,
    /// Proxy id.
    pub iid: u64,
    /// Server id (0 on frontend and backend rows).
    pub sid: u64,
    /// Process number.
    pub pid: u64,
    /// Position of the field.
    pub pos: usize,
    /// Its kind.
    pub kind: Kind,
    /// Its value.
    pub value: &'a Field,
}

/// A number of `row` (0 when the column is empty).
fn number(row: &Row, column: usize) -> u64 {
    match row.get(column) {
        Some(Field::U64(v)) => *v,
        Some(Field::S64(v)) => u64::try_from(*v).unwrap_or(0),
        _ => 0,
    }
}

/// The filled fields of `row`, in order.
pub(super) fn stat_items(row: &Row) -> impl Iterator<Item = StatItem<'_>> {
    let row_type = number(row, col::TYPE);
    let (iid, sid, pid) = (
        number(row, col::IID),
        number(row, col::SID),
        number(row, col::PID),
    );
    row.iter().enumerate().filter_map(move |(column, value)| {
        if *value == Field::Empty {
            return None;
        }
        let kind = kinds::stat_kind(column, row_type)?;
        Some(StatItem {
            row_type,
            iid,
            sid,
            pid,
            pos: kinds::position(column)?,
            kind,
            value,
        })
    })
}

/// The letter `typed` output gives a row type.
fn type_letter(row_type: u64) -> char {
    match row_type {
        TYPE_FE => 'F',
        TYPE_BE => 'B',
        TYPE_SV => 'S',
        _ => '?',
    }
}

/// `:tags:type:value`, then `:"desc"` when asked, then the line's end.
fn push_value(out: &mut String, kind: &Kind, value: &Field, desc: bool) {
    let _ = write!(out, ":{}:{}:{value}", kind.tags, kind.width.as_str());
    if desc {
        let _ = write!(out, ":\"{}\"", kind.desc);
    }
    out.push('\n');
}

/// The answer to `show stat typed`: the rows `filter` selects, one line
/// per filled field.
pub fn show_stat(proxies: &[ProxyStats], filter: &StatFilter, desc: bool) -> String {
    let mut out = String::new();
    for row in csv::rows(proxies, filter) {
        for item in stat_items(&row) {
            let _ = write!(
                out,
                "{}.{}.{}.{}.{}.{}",
                type_letter(item.row_type),
                item.iid,
                item.sid,
                item.pos,
                item.kind.name,
                item.pid
            );
            push_value(&mut out, &item.kind, item.value, desc);
        }
    }
    out
}

/// The filled fields of `show info`, with their position and kind.
pub(super) fn info_items(p: &ProcessInfo) -> Vec<(usize, Kind, Field)> {
    info::values(p)
        .into_iter()
        .enumerate()
        .filter(|(_, v)| *v != Field::Empty)
        .filter_map(|(i, v)| Some((i, kinds::info_kind(i)?, v)))
        .collect()
}

/// The process number `show info` gives (`Process_num`, always 1).
pub(super) const PROCESS_NUM: u32 = 1;

/// The answer to `show info typed`.
pub fn show_info(p: &ProcessInfo, desc: bool) -> String {
    let mut out = String::new();
    for (pos, kind, value) in info_items(p) {
        let _ = write!(out, "{pos}.{}.{PROCESS_NUM}", kind.name);
        push_value(&mut out, &kind, &value, desc);
    }
    out
}
