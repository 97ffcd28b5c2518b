//! `use_backend`: HAProxy's switching rules, as far as weir runs them.
//!
//! weir has no ACLs, so a rule either always applies (no condition, `if
//! TRUE`, `unless FALSE`) or never does (`if FALSE`, `unless TRUE`). The
//! first rule that applies picks the frontend's backend before
//! `default_backend`, as in HAProxy; every rule's backend must exist.

use super::{Diags, Kind, ProxyParts, Stmt};
use crate::config::Origin;

/// A proxy's `use_backend` rules.
#[derive(Debug, Clone, Default)]
pub(super) struct Switching {
    /// The backend of the first rule that applies.
    pub(super) chosen: Option<(String, Origin)>,
    /// The other rules' backends: they must exist all the same.
    pub(super) unused: Vec<(String, Origin)>,
}

/// Parses one `use_backend <name> [if|unless TRUE|FALSE]` line.
pub(super) fn use_backend(diags: &mut Diags, p: &mut ProxyParts<'_>, st: &Stmt<'_>) {
    if p.kind == Kind::Defaults {
        diags.error(
            &st.origin,
            "'use_backend' not allowed in 'defaults' section.",
        );
        return;
    }
    if !p.kind.has_frontend() {
        p.ignored(diags, st, "use_backend", true);
        return;
    }
    let Some(name) = st.words.get(1) else {
        diags.error(&st.origin, "'use_backend' expects a backend name.");
        return;
    };
    if name.contains("%[") {
        diags.error(
            &st.origin,
            format!(
                "'use_backend {name}': dynamic backend names are not supported (weir has no \
                 sample fetches); name the backend"
            ),
        );
        return;
    }
    let applies = match applies(&st.words[2..]) {
        Ok(applies) => applies,
        Err(message) => {
            diags.error(&st.origin, message);
            return;
        }
    };
    let rule = (name.clone(), st.origin.clone());
    if applies && p.settings.switching.chosen.is_none() {
        p.settings.switching.chosen = Some(rule);
    } else {
        p.settings.switching.unused.push(rule);
    }
}

/// Whether a rule with these condition words always applies.
fn applies(words: &[String]) -> Result<bool, String> {
    let negate = match words.first().map(String::as_str) {
        None => return Ok(true),
        Some("if") => false,
        Some("unless") => true,
        Some(other) => {
            return Err(format!(
                "unexpected keyword '{other}' after switching rule, only 'if' and 'unless' are \
                 allowed."
            ));
        }
    };
    match &words[1..] {
        [acl] if acl == "TRUE" => Ok(!negate),
        [acl] if acl == "FALSE" => Ok(negate),
        [] => Err(format!(
            "'use_backend' needs a condition after '{}'",
            words[0]
        )),
        _ => Err(format!(
            "'use_backend ... {}': weir has no ACLs; a switching rule takes no condition, or \
             'if TRUE' / 'if FALSE' (use one frontend per backend instead)",
            words.join(" ")
        )),
    }
}
