//! `typed` and `json` output against HAProxy 2.6.12's (testdata/, captured
//! with testdata/haproxy.cfg in the same situation as the CSV goldens: see
//! testdata/capture.sh). Names, positions, tags, types and the bytes
//! around them must be HAProxy's; values must be too, except metrics
//! (counters, ages, rates: they moved between the captures) and the pid.

use super::tests::{epoch, fixture};
use super::*;

const STAT_TYPED: &str = include_str!("testdata/stat_typed.txt");
const STAT_SID2_TYPED: &str = include_str!("testdata/stat_iid3_sid2_typed.txt");
const STAT_APP_NO_MAINT_TYPED: &str = include_str!("testdata/stat_app_nomaint_typed.txt");
const STAT_DESC: &str = include_str!("testdata/stat_typed_desc_by_field.txt");
const STAT_OTHER_BE_JSON: &str = include_str!("testdata/stat_other_be.json");
const INFO_TYPED: &str = include_str!("testdata/info_typed.txt");
const INFO_TYPED_DESC: &str = include_str!("testdata/info_typed_desc.txt");
const INFO_JSON: &str = include_str!("testdata/info.json");

/// What HAProxy's dumper wrote: the capture less the CLI's empty line.
fn dumped(capture: &str) -> &str {
    capture.strip_suffix('\n').unwrap_or(capture)
}

/// A `typed` line's key (`F.2.0.4.scur.1:MGP:u32`), value and the rest
/// (`"desc"` when asked).
fn cut(line: &str) -> (String, &str) {
    let mut parts = line.splitn(4, ':');
    let key = format!(
        "{}:{}:{}",
        parts.next().unwrap_or(""),
        parts.next().unwrap_or(""),
        parts.next().unwrap_or("")
    );
    (key, parts.next().unwrap_or(""))
}

/// Whether a `typed` key names a value that may differ between captures.
fn moving(key: &str) -> bool {
    let tags = key.split(':').nth(1).unwrap_or("");
    tags.starts_with('M') || key.contains(".Pid.")
}

fn compare_typed(golden: &str, ours: &str) {
    let golden = dumped(golden);
    assert!(ours.ends_with('\n') && !ours.ends_with("\n\n"));
    let g: Vec<_> = golden.lines().map(cut).collect();
    let o: Vec<_> = ours.lines().map(cut).collect();
    let keys = |v: &[(String, &str)]| v.iter().map(|(k, _)| k.clone()).collect::<Vec<_>>();
    assert_eq!(keys(&g), keys(&o), "fields, tags and types");
    for ((key, gv), (_, ov)) in g.iter().zip(&o) {
        if !moving(key) {
            assert_eq!(gv, ov, "{key}");
        }
    }
}

#[test]
fn show_stat_typed_matches_haproxy() {
    let (_, proxies) = fixture(epoch());
    let ours = typed::show_stat(&proxies, &StatFilter::default(), false);
    compare_typed(STAT_TYPED, &ours);
    // The values are the CSV's.
    let csv = show_stat(&proxies, &StatFilter::default());
    let app1 = csv.lines().find(|l| l.starts_with("app,app1,")).unwrap();
    let bin = app1.split(',').nth(fields::col::BIN).unwrap();
    assert!(ours.contains(&format!("S.3.1.8.bin.1:MCP:u64:{bin}\n")));
}

#[test]
fn show_stat_typed_filters_match_haproxy() {
    let (_, proxies) = fixture(epoch());
    let f = StatFilter::parse(&["3", "-1", "2"], &proxies, true).unwrap();
    compare_typed(STAT_SID2_TYPED, &typed::show_stat(&proxies, &f, false));
    let f = StatFilter::parse(&["app", "-1", "-1", "no-maint"], &proxies, true).unwrap();
    compare_typed(
        STAT_APP_NO_MAINT_TYPED,
        &typed::show_stat(&proxies, &f, false),
    );
}

#[test]
fn typed_desc_gives_haproxys_description_of_every_field() {
    let (_, proxies) = fixture(epoch());
    let ours = typed::show_stat(&proxies, &StatFilter::default(), true);
    let ours: std::collections::HashMap<String, &str> = ours.lines().map(cut).collect();
    for line in STAT_DESC.lines() {
        let (key, rest) = cut(line);
        let desc = &rest[rest.rfind(":\"").unwrap()..];
        let mine = ours.get(&key).unwrap_or_else(|| panic!("{key}"));
        assert!(mine.ends_with(desc), "{key}: {mine}");
    }
    let (process, _) = fixture(epoch());
    let info = typed::show_info(&process, true);
    let info: std::collections::HashMap<String, &str> = info.lines().map(cut).collect();
    for line in dumped(INFO_TYPED_DESC).lines() {
        let (key, rest) = cut(line);
        let desc = &rest[rest.rfind(":\"").unwrap()..];
        assert!(info[&key].ends_with(desc), "{key}");
    }
}

#[test]
fn show_info_typed_matches_haproxy() {
    let (process, _) = fixture(epoch());
    compare_typed(INFO_TYPED, &typed::show_info(&process, false));
}

/// The JSON text with moving values (metrics, the pid) replaced by `_`.
fn steady_json(text: &str) -> String {
    let metric = regex::Regex::new(
        r#"("origin":"Metric",[^}]*\},"value":\{"type":"[a-z0-9]+","value":)("[^"]*"|-?[0-9]+)"#,
    )
    .unwrap();
    let pid =
        regex::Regex::new(r#"("name":"Pid"\},[^}]*\},"value":\{"type":"u32","value":)[0-9]+"#)
            .unwrap();
    let text = metric.replace_all(text, "${1}_");
    pid.replace_all(&text, "${1}_").into_owned()
}

#[test]
fn show_stat_json_matches_haproxy_and_parses() {
    let (_, proxies) = fixture(epoch());
    let f = StatFilter::parse(&["other", "2", "-1"], &proxies, true).unwrap();
    let ours = json::show_stat(&proxies, &f);
    assert_eq!(steady_json(dumped(STAT_OTHER_BE_JSON)), steady_json(&ours));
    let all = json::show_stat(&proxies, &StatFilter::default());
    let rows: serde_json::Value = serde_json::from_str(&all).expect("valid JSON");
    let rows = rows.as_array().unwrap();
    assert_eq!(rows.len(), 11);
    let drained = rows
        .iter()
        .flat_map(|r| r.as_array().unwrap())
        .find(|f| f["id"] == 3 && f["proxyId"] == 3 && f["field"]["name"] == "status")
        .unwrap();
    assert_eq!(drained["value"]["value"], "DRAIN");
    assert_eq!(drained["objType"], "Server");
    // No rows: an empty array.
    let none = StatFilter::parse(&["99", "-1", "-1"], &proxies, true).unwrap();
    assert_eq!(json::show_stat(&proxies, &none), "[]\n");
}

#[test]
fn show_info_json_matches_haproxy_and_parses() {
    let (process, _) = fixture(epoch());
    let ours = json::show_info(&process);
    assert_eq!(steady_json(dumped(INFO_JSON)), steady_json(&ours));
    let fields: serde_json::Value = serde_json::from_str(&ours).expect("valid JSON");
    assert_eq!(fields[0]["value"]["value"], "HAProxy");
}

#[test]
fn json_strings_are_escaped() {
    let (_, mut proxies) = fixture(epoch());
    proxies[1].servers[1].check.desc = "say \"hi\" \\ \u{1}".into();
    let text = json::show_stat(&proxies, &StatFilter::default());
    let rows: serde_json::Value = serde_json::from_str(&text).expect("valid JSON");
    let last_chk = (rows.as_array().unwrap().iter())
        .flat_map(|r| r.as_array().unwrap())
        .find(|f| f["proxyId"] == 3 && f["id"] == 2 && f["field"]["name"] == "last_chk")
        .unwrap();
    assert_eq!(last_chk["value"]["value"], "say \"hi\" \\ \u{1}");
}

#[test]
fn the_schema_is_haproxys_and_parses() {
    let schema: serde_json::Value = serde_json::from_str(json::SCHEMA).expect("valid JSON");
    assert_eq!(schema["$schema"], "http://json-schema.org/draft-04/schema#");
    assert!(json::SCHEMA.ends_with("}\n"));
}
