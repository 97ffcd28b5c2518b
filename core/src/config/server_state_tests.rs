//! `server-state-base`, `server-state-file`, `load-server-state-from-file`
//! and `server-state-file-name`, as HAProxy 2.6 reads them.

use std::net::IpAddr;

use super::{Parsed, ServerStateLoad, Source, parse};

fn parsed(text: &str) -> Result<Parsed, Vec<String>> {
    parse(&[Source::new("t.cfg", text)], &mut |_| {
        Some(IpAddr::from([127, 0, 0, 1]))
    })
    .map_err(|e| e.iter().map(ToString::to_string).collect())
}

fn with(global: &str, defaults: &str, backends: &str) -> String {
    format!(
        "global\n{global}defaults\n timeout connect 1s\n timeout client 1s\n timeout server 1s\n\
         {defaults}frontend fe\n bind :80\n default_backend a\n{backends}"
    )
}

fn loads(parsed: &Parsed) -> Vec<(&str, &ServerStateLoad)> {
    let backends = &parsed.config.backends;
    backends
        .iter()
        .map(|b| (b.name.as_str(), &b.load_server_state))
        .collect()
}

#[test]
fn backends_take_the_mode_from_defaults_and_name_local_files() {
    let text = with(
        " server-state-base /var/lib/weir\n server-state-file global.state\n",
        " load-server-state-from-file global\n",
        "backend a\n server s 127.0.0.1:1\n\
         backend b\n load-server-state-from-file local\n server s 127.0.0.1:1\n\
         backend c\n load-server-state-from-file local\n server-state-file-name /tmp/c.state\n \
         server s 127.0.0.1:1\n\
         backend d\n load-server-state-from-file none\n server s 127.0.0.1:1\n\
         backend e\n load-server-state-from-file local\n server-state-file-name use-backend-name\n \
         server s 127.0.0.1:1\n",
    );
    let parsed = parsed(&text).unwrap();
    assert_eq!(
        loads(&parsed),
        [
            ("a", &ServerStateLoad::Global),
            ("b", &ServerStateLoad::Local("b".into())),
            ("c", &ServerStateLoad::Local("/tmp/c.state".into())),
            ("d", &ServerStateLoad::None),
            ("e", &ServerStateLoad::Local("e".into())),
        ]
    );
    let global = &parsed.config.global;
    assert_eq!(
        global.server_state_path("global.state"),
        "/var/lib/weir/global.state"
    );
    assert_eq!(global.server_state_path("/tmp/c.state"), "/tmp/c.state");
    assert!(parsed.warnings.is_empty(), "{:?}", parsed.warnings);
}

#[test]
fn nothing_is_loaded_by_default_and_names_are_used_as_given_without_a_base() {
    let text = with(
        " server-state-file s.state\n",
        "",
        "backend a\n load-server-state-from-file global\n server s 127.0.0.1:1\n\
         backend b\n server s 127.0.0.1:1\n",
    );
    let parsed = parsed(&text).unwrap();
    assert_eq!(loads(&parsed)[1], ("b", &ServerStateLoad::None));
    assert_eq!(parsed.config.global.server_state_path("s.state"), "s.state");
    let base = with(
        " server-state-base /b/\n",
        "",
        "backend a\n server s 127.0.0.1:1\n",
    );
    let parsed = self::parsed(&base).unwrap();
    assert_eq!(parsed.config.global.server_state_path("x"), "/b/x");
}

#[test]
fn global_without_a_server_state_file_warns_as_haproxy() {
    let text = with(
        "",
        "",
        "backend a\n load-server-state-from-file global\n server s 127.0.0.1:1\n",
    );
    let warnings: Vec<String> = (parsed(&text).unwrap().warnings.iter())
        .map(ToString::to_string)
        .collect();
    assert_eq!(
        warnings,
        [
            "t.cfg:9: backend 'a' configured to load server state file from global section \
          'server-state-file' directive. Unfortunately, 'server-state-file' is not set!"
        ]
    );
}

#[test]
fn bad_values_are_errors_naming_their_line() {
    let text = with(
        " server-state-file\n",
        " load-server-state-from-file always\n",
        "backend a\n server-state-file-name x y\n server s 127.0.0.1:1\n",
    );
    assert_eq!(
        parsed(&text).unwrap_err(),
        [
            "t.cfg:2: 'server-state-file' expects one argument: a file path.",
            "t.cfg:7: 'load-server-state-from-file' expects 'global', 'local' or 'none'. \
             Got 'always'",
            "t.cfg:12: 'server-state-file-name' expects at most one argument: a file name or \
             'use-backend-name'",
        ]
    );
}

#[test]
fn a_second_global_value_and_a_frontend_keyword_warn() {
    let text = with(
        " server-state-file a\n server-state-file b\n",
        "",
        "backend a\n server s 127.0.0.1:1\nfrontend f2\n bind :81\n default_backend a\n \
         load-server-state-from-file global\n",
    );
    let parsed = parsed(&text).unwrap();
    assert_eq!(parsed.config.global.server_state_file.as_deref(), Some("a"));
    let warnings: Vec<String> = parsed.warnings.iter().map(ToString::to_string).collect();
    assert!(
        warnings[0].starts_with("t.cfg:3: 'server-state-file' already specified"),
        "{warnings:?}"
    );
    assert!(
        warnings.iter().any(|w| w.contains(
            "'load-server-state-from-file' ignored because frontend 'f2' has no backend capability."
        )),
        "{warnings:?}"
    );
}
