//! The logging keywords: `log`, `no log`, `log-tag`, `log-format`,
//! `log-send-hostname`, and what `finish` does with them (`log global`
//! expanded, tags set, formats chosen).

use super::{Diags, Kind, LogEntry, ProxyParts, Resolve, Settings, Stmt};
use crate::config::{Global, LogTarget};
use crate::logging::{DEFAULT_TAG, LineFormat, target};

/// Global keywords handled here.
pub(super) const GLOBAL: &[&str] = &["log", "log-tag", "log-send-hostname"];
/// Proxy keywords handled here (`no log` too).
pub(super) const PROXY: &[&str] = &["log", "log-tag", "log-format"];

/// A logging keyword of the `global` section; `tag` is the global `log-tag`.
pub(super) fn global(
    diags: &mut Diags,
    global: &mut Global,
    tag: &mut Option<String>,
    st: &Stmt<'_>,
    resolve: Resolve<'_>,
) {
    match st.word(0) {
        "log" if st.word(1) == "global" && st.words.len() == 2 => diags.error(
            &st.origin,
            "'log global' is not supported in the 'global' section: give an address",
        ),
        "log" => match target::parse(&st.words[1..], resolve) {
            Ok(target) => global.logs.push(target),
            Err(e) => diags.error(&st.origin, format!("log: {e}")),
        },
        "log-tag" => match one_word(st) {
            Some(word) => *tag = Some(word.to_owned()),
            None => diags.error(&st.origin, "'log-tag' expects a tag for use in syslog."),
        },
        _ => match st.words.len() {
            1 => global.log_send_hostname = Some(None),
            2 => global.log_send_hostname = Some(Some(st.word(1).to_owned())),
            _ => diags.error(
                &st.origin,
                "'log-send-hostname' expects at most one host name",
            ),
        },
    }
}

/// A logging keyword of a proxy or `defaults` section (`no log` included).
pub(super) fn proxy(
    diags: &mut Diags,
    p: &mut ProxyParts<'_>,
    st: &Stmt<'_>,
    resolve: Resolve<'_>,
) {
    match st.word(0) {
        "no" if st.words.len() == 2 => p.settings.logs.clear(),
        "no" => diags.error(&st.origin, "'no log' does not expect arguments"),
        "log" if st.word(1) == "global" && st.words.len() == 2 => {
            p.settings.logs.push(LogEntry::Global)
        }
        "log" => match target::parse(&st.words[1..], resolve) {
            Ok(target) => p.settings.logs.push(LogEntry::Target(target)),
            Err(e) => diags.error(&st.origin, format!("log: {e}")),
        },
        "log-tag" => match one_word(st) {
            Some(word) => p.settings.log_tag = Some(word.to_owned()),
            None => diags.error(&st.origin, "'log-tag' expects a tag for use in syslog."),
        },
        _ => log_format(diags, p, st),
    }
}

fn one_word<'a>(st: &'a Stmt<'_>) -> Option<&'a str> {
    (st.words.len() == 2 && !st.word(1).is_empty()).then(|| st.word(1))
}

/// `log-format <string>`: compiled here, so errors name this line.
fn log_format(diags: &mut Diags, p: &mut ProxyParts<'_>, st: &Stmt<'_>) {
    match st.words.len() {
        1 => return diags.error(&st.origin, "'log-format' expects an argument."),
        2 => {}
        _ => {
            return diags.error(
                &st.origin,
                "'log-format' expects only one argument, don't forget to escape spaces! \
                 (or put the format in double quotes)",
            );
        }
    }
    let format = match LineFormat::compile(st.word(1)) {
        Ok(format) => format,
        Err(e) => return diags.error(&st.origin, format!("failed to parse log-format : {e}.")),
    };
    tcplog_overrides(diags, p, st, "log-format");
    if !p.kind.has_frontend() {
        return diags.warn(
            &st.origin,
            format!(
                "backend '{}' : 'log-format' directive is ignored in backends.",
                p.name
            ),
        );
    }
    p.settings.tcplog = true;
    p.settings.log_format = Some(format);
}

/// `keyword` (`option tcplog` or `log-format`) in a `defaults` section
/// that already has a log format: HAProxy's warning.
pub(super) fn tcplog_overrides(
    diags: &mut Diags,
    p: &ProxyParts<'_>,
    st: &Stmt<'_>,
    keyword: &str,
) {
    if p.kind == Kind::Defaults && p.settings.tcplog {
        let previous = if p.settings.log_format.is_some() {
            "log-format"
        } else {
            "option tcplog"
        };
        diags.warn(
            &st.origin,
            format!("'{keyword}' overrides previous '{previous}' in 'defaults' section."),
        );
    }
}

/// Expands `log global` and sets the tag of every target of a proxy.
pub(super) fn targets(
    settings: &Settings,
    global: &[LogTarget],
    global_tag: &str,
) -> Vec<LogTarget> {
    let tag = settings.log_tag.as_deref().unwrap_or(global_tag);
    settings
        .logs
        .iter()
        .flat_map(|entry| match entry {
            LogEntry::Global => global.to_vec(),
            LogEntry::Target(t) => vec![t.clone()],
        })
        .map(|mut t| {
            t.tag = tag.to_owned();
            t
        })
        .collect()
}

/// The global targets with the global tag (`weir` when none is set).
pub(super) fn global_targets(global: &mut Global, tag: Option<&str>) -> String {
    let tag = tag.unwrap_or(DEFAULT_TAG).to_owned();
    for target in &mut global.logs {
        target.tag = tag.clone();
    }
    tag
}

/// A frontend's `log-format`: its own, else `option tcplog`'s.
pub(super) fn line_format(settings: &Settings) -> LineFormat {
    settings
        .log_format
        .clone()
        .unwrap_or_else(LineFormat::tcplog)
}
