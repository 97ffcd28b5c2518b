//! The `global` keywords that say how weir runs as a process: `daemon`,
//! `quiet`, `pidfile`, `user`/`uid`, `group`/`gid`, `chroot`, `ulimit-n`,
//! `node`, `description`. Names of users and groups are looked up by the
//! driver, which owns the system's databases.

use super::{Diags, Stmt};
use crate::config::units::number;
use crate::config::{Account, Origin, Process};

/// Global keywords handled here.
pub(super) const KEYWORDS: &[&str] = &[
    "daemon",
    "quiet",
    "pidfile",
    "user",
    "uid",
    "group",
    "gid",
    "chroot",
    "ulimit-n",
    "node",
    "description",
];

/// One of [`KEYWORDS`] in the `global` section.
pub(super) fn keyword(diags: &mut Diags, process: &mut Process, st: &Stmt<'_>) {
    let keyword = st.word(0);
    let args = &st.words[1..];
    if keyword != "description" && args.len() > usize::from(!matches!(keyword, "daemon" | "quiet"))
    {
        let expected = if matches!(keyword, "daemon" | "quiet") {
            "no argument"
        } else {
            "one argument"
        };
        return diags.error(&st.origin, format!("'{keyword}' expects {expected}"));
    }
    let origin = st.origin.clone();
    match keyword {
        "daemon" => process.daemon = true,
        "quiet" => process.quiet = true,
        "pidfile" => match (st.word(1), &process.pidfile) {
            ("", _) => diags.error(&origin, "'pidfile' expects a file name as an argument."),
            (_, Some(_)) => already(diags, &origin, "'pidfile'"),
            (path, None) => process.pidfile = Some(path.to_owned()),
        },
        "user" | "uid" => account(diags, &mut process.user, st, "user/uid", "user"),
        "group" | "gid" => account(diags, &mut process.group, st, "group/gid", "group"),
        "chroot" => match (st.word(1), &process.chroot) {
            ("", _) => diags.error(&origin, "'chroot' expects a directory as an argument."),
            (_, Some(_)) => already(diags, &origin, "'chroot'"),
            (dir, None) => process.chroot = Some((dir.to_owned(), origin)),
        },
        "ulimit-n" => match (
            number(st.word(1), "ulimit-n", 1..=u64::from(u32::MAX)),
            &process.ulimit_n,
        ) {
            (_, Some(_)) => already(diags, &origin, "'ulimit-n'"),
            (Ok(n), None) => process.ulimit_n = Some((n, origin)),
            (Err(_), None) => diags.error(
                &origin,
                "'ulimit-n' expects a number of file descriptors, such as 65536",
            ),
        },
        "node" => match st.word(1) {
            name if valid_node(name) => process.node = Some(name.to_owned()),
            _ => diags.error(
                &origin,
                "'node' requires valid node name - non-empty string with digits(0-9), \
                 letters(A-Z, a-z), dot(.), hyphen(-) or underscode(_).",
            ),
        },
        _ => match args {
            [] => diags.error(&origin, "'description' expects a string argument."),
            words => process.description = Some(words.join(" ")),
        },
    }
}

/// HAProxy's warning for a keyword given twice: the first one is kept.
fn already(diags: &mut Diags, origin: &Origin, what: &str) {
    diags.warn(origin, format!("{what} already specified. Continuing."));
}

/// `user NAME` / `uid N` (or `group` / `gid`) into `slot`.
fn account(
    diags: &mut Diags,
    slot: &mut Option<(Account, Origin)>,
    st: &Stmt<'_>,
    pair: &str,
    by_name: &str,
) {
    let (keyword, value) = (st.word(0), st.word(1));
    if slot.is_some() {
        return already(diags, &st.origin, pair);
    }
    let account = match value {
        "" if keyword == by_name => {
            return diags.error(&st.origin, format!("'{keyword}' expects a {by_name} name"));
        }
        "" => {
            return diags.error(
                &st.origin,
                format!("'{keyword}' expects an integer argument."),
            );
        }
        name if keyword == by_name => Account::Name(name.to_owned()),
        id => match id.parse::<u32>() {
            Ok(id) => Account::Id(id),
            Err(_) => {
                return diags.error(
                    &st.origin,
                    format!(
                        "{keyword}: string '{id}' is not a number (use the '{by_name}' keyword \
                         for a system {by_name} name)"
                    ),
                );
            }
        },
    };
    *slot = Some((account, st.origin.clone()));
}

/// HAProxy's rule for `node`: letters, digits, `.`, `-` and `_`.
fn valid_node(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'-' | b'.'))
}
