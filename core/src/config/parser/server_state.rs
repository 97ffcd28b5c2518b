//! Where servers' state is loaded from at start-up (HAProxy's
//! `server-state-base`, `server-state-file`, `load-server-state-from-file`,
//! `server-state-file-name`; `src/cfgparse-global.c`,
//! `src/cfgparse-listen.c` and `check_config_validity` of 2.6).

use super::{Diags, Proxy, ProxyParts, Stmt};
use crate::config::{Global, ServerStateLoad};

/// Global keywords handled here.
pub(super) const GLOBAL: &[&str] = &["server-state-base", "server-state-file"];

/// Proxy keywords handled here.
pub(super) const PROXY: &[&str] = &["load-server-state-from-file", "server-state-file-name"];

/// `load-server-state-from-file` as written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Mode {
    Global,
    Local,
    None,
}

/// One of [`GLOBAL`]: the first value is kept, as HAProxy keeps it.
pub(super) fn global(diags: &mut Diags, global: &mut Global, st: &Stmt<'_>) {
    let keyword = st.word(0);
    let (slot, what) = match keyword {
        "server-state-base" => (&mut global.server_state_base, "a directory path"),
        _ => (&mut global.server_state_file, "a file path"),
    };
    if st.words.len() != 2 || st.word(1).is_empty() {
        return diags.error(
            &st.origin,
            format!("'{keyword}' expects one argument: {what}."),
        );
    }
    if slot.is_some() {
        return diags.warn(
            &st.origin,
            format!("'{keyword}' already specified, the first one is kept."),
        );
    }
    *slot = Some(st.word(1).to_owned());
}

/// One of [`PROXY`].
pub(super) fn proxy(diags: &mut Diags, p: &mut ProxyParts<'_>, st: &Stmt<'_>) {
    let keyword = st.word(0);
    if !p.kind.has_backend() {
        return p.ignored(diags, st, keyword, false);
    }
    if keyword == "load-server-state-from-file" {
        let mode = match (st.word(1), st.words.len()) {
            ("global", 2) => Mode::Global,
            ("local", 2) => Mode::Local,
            ("none", 2) => Mode::None,
            _ => {
                return diags.error(
                    &st.origin,
                    format!(
                        "'{keyword}' expects 'global', 'local' or 'none'. Got '{}'",
                        st.words[1..].join(" ")
                    ),
                );
            }
        };
        p.settings.load_server_state = Some(mode);
        return;
    }
    let name = match &st.words[1..] {
        [] => None,
        [name] if name == "use-backend-name" => None,
        [name] => Some(name.clone()),
        _ => {
            return diags.error(
                &st.origin,
                format!(
                    "'{keyword}' expects at most one argument: a file name or 'use-backend-name'"
                ),
            );
        }
    };
    p.settings.server_state_file_name = Some(name);
}

/// What a backend loads, with HAProxy's warning for `global` without a
/// global `server-state-file`. A name given in `defaults` as
/// `use-backend-name` is each backend's own name.
pub(super) fn resolve(diags: &mut Diags, global: &Global, proxy: &Proxy) -> ServerStateLoad {
    let s = &proxy.settings;
    match s.load_server_state {
        None | Some(Mode::None) => ServerStateLoad::None,
        Some(Mode::Global) => {
            if global.server_state_file.is_none() {
                diags.warn(
                    &proxy.origin,
                    format!(
                        "backend '{}' configured to load server state file from global \
                         section 'server-state-file' directive. Unfortunately, \
                         'server-state-file' is not set!",
                        proxy.name
                    ),
                );
            }
            ServerStateLoad::Global
        }
        Some(Mode::Local) => {
            let name = s.server_state_file_name.clone().flatten();
            ServerStateLoad::Local(name.unwrap_or_else(|| proxy.name.clone()))
        }
    }
}
