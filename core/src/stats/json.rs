//! `show stat json`, `show info json` and `show schema json`: HAProxy
//! 2.6's JSON (`stats_dump_fields_json`, `stats_dump_json_info_fields`,
//! `stats_dump_json_schema`), one object per filled field. Strings are
//! escaped as JSON requires (HAProxy writes them raw, which only differs
//! for names or texts holding `"`, `\` or control characters).

use super::csv::{self, StatFilter};
use super::fields::{Field, TYPE_BE, TYPE_FE, TYPE_SV};
use super::kinds::{Kind, Width, json_tags};
use super::snapshot::{ProcessInfo, ProxyStats};
use super::typed::{PROCESS_NUM, info_items, stat_items};
use std::fmt::Write as _;

/// HAProxy 2.6.12's answer to `show schema json` (also the stats page's
/// `;json-schema`).
pub const SCHEMA: &str = include_str!("schema.json");

/// The name `json` output gives a row type.
fn obj_type(row_type: u64) -> &'static str {
    match row_type {
        TYPE_FE => "Frontend",
        TYPE_BE => "Backend",
        TYPE_SV => "Server",
        _ => "Unknown",
    }
}

/// `"tags":{…},"value":{…}}`: the end of one field's object.
fn push_tags_and_value(out: &mut String, kind: &Kind, value: &Field) {
    let [origin, nature, scope] = json_tags(kind.tags);
    let _ = write!(
        out,
        "\"tags\":{{\"origin\":\"{origin}\",\"nature\":\"{nature}\",\"scope\":\"{scope}\"}},\
         \"value\":{{\"type\":\"{}\",\"value\":",
        kind.width.as_str()
    );
    match value {
        Field::Str(s) => push_string(out, s),
        _ if kind.width == Width::Str => push_string(out, &value.to_string()),
        _ => {
            let _ = write!(out, "{value}");
        }
    }
    out.push_str("}}");
}

/// A JSON string.
fn push_string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if u32::from(c) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// The answer to `show stat json`: an array of rows, each an array of
/// its filled fields.
pub fn show_stat(proxies: &[ProxyStats], filter: &StatFilter) -> String {
    let mut out = String::from("[");
    for (r, row) in csv::rows(proxies, filter).iter().enumerate() {
        if r > 0 {
            out.push(',');
        }
        out.push('[');
        for (i, item) in stat_items(row).enumerate() {
            if i > 0 {
                out.push(',');
            }
            let _ = write!(
                out,
                "{{\"objType\":\"{}\",\"proxyId\":{},\"id\":{},\
                 \"field\":{{\"pos\":{},\"name\":\"{}\"}},\"processNum\":{},",
                obj_type(item.row_type),
                item.iid,
                item.sid,
                item.pos,
                item.kind.name,
                item.pid
            );
            push_tags_and_value(&mut out, &item.kind, item.value);
        }
        out.push(']');
    }
    out.push_str("]\n");
    out
}

/// The answer to `show info json`: an array of the filled fields.
pub fn show_info(p: &ProcessInfo) -> String {
    let mut out = String::from("[");
    for (i, (pos, kind, value)) in info_items(p).iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        let _ = write!(
            out,
            "{{\"field\":{{\"pos\":{pos},\"name\":\"{}\"}},\"processNum\":{PROCESS_NUM},",
            kind.name
        );
        push_tags_and_value(&mut out, kind, value);
    }
    out.push_str("]\n");
    out
}
