//! A proxy's `disabled`, `enabled`, `id` and `description`, and server
//! `id`: the messages of `haproxy -c` (2.6.12) and its `show stat` ids on
//! the same files.

use std::net::IpAddr;
use std::time::SystemTime;

use super::{Config, Parsed, Source, parse};
use crate::Balancer;
use crate::runtime_api::Level;

fn parsed(text: &str) -> Result<Parsed, Vec<String>> {
    parse(&[Source::new("t.cfg", text)], &mut |_| {
        Some(IpAddr::from([127, 0, 0, 1]))
    })
    .map_err(|e| e.iter().map(ToString::to_string).collect())
}

fn config(text: &str) -> Config {
    parsed(text).unwrap_or_else(|e| panic!("{e:?}")).config
}

fn errors(text: &str) -> Vec<String> {
    match parsed(text) {
        Ok(_) => panic!("expected errors"),
        Err(e) => e,
    }
}

const DEFAULTS: &str =
    "defaults\n mode tcp\n timeout connect 1s\n timeout client 1s\n timeout server 1s\n";

/// `pxname,svname,iid,sid` of every `show stat` row.
fn stat_ids(config: Config) -> Vec<String> {
    let now = crate::proxy::tests::epoch();
    let mut lb = Balancer::new(config, 7, now, SystemTime::UNIX_EPOCH, 42);
    let stat = lb.handle_command(now, "show stat", Level::Admin);
    stat.lines()
        .skip(1)
        .filter(|l| !l.is_empty())
        .map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            [f[0], f[1], f[27], f[28]].join(",")
        })
        .collect()
}

#[test]
fn ids_are_haproxys_in_show_stat() {
    // What HAProxy 2.6.12 shows for this file: explicit ids kept, the
    // others numbered from 2 with the counter moving on after every
    // proxy (the disabled one included); servers likewise from 1.
    let text = format!(
        "{DEFAULTS}frontend a\n bind 127.0.0.1:19001\n default_backend c\n\
         frontend b\n disabled\n bind 127.0.0.1:19002\nbackend c\n server s1 127.0.0.1:1\n \
         server s2 127.0.0.1:1 id 7\n server s3 127.0.0.1:1\nlisten d\n bind 127.0.0.1:19003\n \
         id 3\n server s1 127.0.0.1:1\nlisten e\n bind 127.0.0.1:19004\n server s1 127.0.0.1:1\n"
    );
    assert_eq!(
        stat_ids(config(&text)),
        [
            "a,FRONTEND,2,0",
            "c,s1,5,1",
            "c,s2,5,7",
            "c,s3,5,3",
            "c,BACKEND,5,0",
            "d,FRONTEND,3,0",
            "d,s1,3,1",
            "d,BACKEND,3,0",
            "e,FRONTEND,7,0",
            "e,s1,7,1",
            "e,BACKEND,7,0",
        ]
    );
}

#[test]
fn a_disabled_proxy_is_not_started() {
    let text = format!(
        "{DEFAULTS}frontend fe\n bind 127.0.0.1:19001\n id 7\n description front  end\n \
         default_backend be2\nfrontend fe2\n disabled\n bind 127.0.0.1:19002\n \
         bind 127.0.0.1:19001\n default_backend nothere\nbackend be\n id 12\n \
         server s1 127.0.0.1:1 id 5\nbackend be2\n disabled\n server s1 127.0.0.1:1 check\n\
         listen li\n bind 127.0.0.1:19003\n disabled\n enabled\n server s1 127.0.0.1:1\n"
    );
    let c = config(&text);
    // fe2 is not bound and its missing backend is no error; be2 stays a
    // target, with no server.
    let names: Vec<&str> = c.frontends.iter().map(|f| f.name.as_str()).collect();
    assert_eq!(names, ["fe", "li"]);
    assert_eq!(c.frontends[0].description.as_deref(), Some("front end"));
    let be2 = &c.backends[c.frontends[0].default_backend.unwrap()];
    assert!(be2.disabled && be2.name == "be2" && be2.servers.is_empty());
    assert_eq!(
        stat_ids(c),
        [
            "fe,FRONTEND,7,0",
            "be,s1,12,5",
            "be,BACKEND,12,0",
            "li,FRONTEND,6,0",
            "li,s1,6,1",
            "li,BACKEND,6,0",
        ]
    );
}

#[test]
fn disabled_in_defaults_is_inherited_and_enabled_undoes_it() {
    let text = format!(
        "{DEFAULTS} disabled\nfrontend fe\n bind 127.0.0.1:19001\n default_backend be\n\
         listen li\n enabled\n bind 127.0.0.1:19002\n server s1 127.0.0.1:1\n\
         backend be\n server s1 127.0.0.1:1\n"
    );
    let c = config(&text);
    let names: Vec<&str> = c.frontends.iter().map(|f| f.name.as_str()).collect();
    assert_eq!(names, ["li"]);
}

#[test]
fn id_and_description_errors_are_haproxys() {
    let text = format!(
        "{DEFAULTS} id 3\n description x\nfrontend fe\n bind 127.0.0.1:19001\n disabled x\n \
         default_backend be\nbackend be\n enabled\n server s1 127.0.0.1:1\nlisten li\n id 3\n \
         bind 127.0.0.1:19002\n server s1 127.0.0.1:1\nfrontend fe2\n id 3\n \
         bind 127.0.0.1:19003\n default_backend be\n"
    );
    assert_eq!(
        errors(&text),
        [
            "t.cfg:6: 'id' not allowed in 'defaults' section.",
            "t.cfg:7: 'description' not allowed in 'defaults' section.",
            "t.cfg:10: 'disabled' cannot handle unexpected argument 'x'.",
            "t.cfg:20: frontend fe2 reuses same custom id as proxy li (declared at t.cfg:15).",
        ]
    );
    let text = format!(
        "{DEFAULTS}frontend fe\n bind 127.0.0.1:19001\n id 12abc\n default_backend be\n\
         backend be\n id 12\n server s1 127.0.0.1:1 id 0\n server s2 127.0.0.1:1 id 3\n \
         server s3 127.0.0.1:1 id 3\n server s4 127.0.0.1:1 id\nlisten li\n id 0\n id 1 2\n \
         id\n description\n bind 127.0.0.1:19003\n unknown-after-the-abort\n"
    );
    assert_eq!(
        errors(&text),
        [
            "t.cfg:11: backend be reuses same custom id as frontend fe (declared at t.cfg:6).",
            "t.cfg:12: 'server be/s1' : 'id' : custom id has to be > 0.",
            "t.cfg:14: 'server be/s3' : 'id' : custom id 3 already used at t.cfg:13 ('server \
             s2').",
            "t.cfg:15: 'server be/s4' : 'id' : expects an integer argument.",
            "t.cfg:17: custom id has to be > 0.",
            "t.cfg:18: 'id' cannot handle unexpected argument '2'.",
            "t.cfg:19: 'id' expects an integer argument.",
            // HAProxy stops reading there.
            "t.cfg:20: 'description' expects a string argument.",
        ]
    );
    assert_eq!(
        errors(&format!(
            "{DEFAULTS}listen li\n bind 127.0.0.1:19002\n default-server id 4\n \
             server s1 127.0.0.1:1\n"
        )),
        ["t.cfg:8: 'id' option is not accepted in default-server sections"]
    );
}
