//! `setenv`, `presetenv`, `unsetenv` and `resetenv` in `global`: HAProxy
//! 2.6 changes its environment while it reads, so that later lines and
//! `defined()` see the change. weir keeps the changes beside the
//! environment the driver passed, which core never modifies.

use std::collections::{HashMap, HashSet};

use super::{Diags, Stmt};

/// The keywords of this module.
pub(super) const KEYWORDS: &[&str] = &["setenv", "presetenv", "unsetenv", "resetenv"];

/// The changes made so far.
#[derive(Debug, Default)]
pub(super) struct Overlay {
    /// Variables set (`Some`) or unset (`None`) by the configuration.
    changed: HashMap<String, Option<String>>,
    /// The names each `resetenv` kept: a variable of the driver's
    /// environment is gone unless every one kept it.
    resets: Vec<HashSet<String>>,
}

impl Overlay {
    /// The value of `name`, given the driver's environment `env`.
    pub(super) fn get(&self, name: &str, env: &dyn Fn(&str) -> Option<String>) -> Option<String> {
        if let Some(value) = self.changed.get(name) {
            return value.clone();
        }
        if self.resets.iter().any(|kept| !kept.contains(name)) {
            return None;
        }
        env(name)
    }

    /// Applies one of [`KEYWORDS`].
    pub(super) fn keyword(
        &mut self,
        diags: &mut Diags,
        st: &Stmt<'_>,
        env: &dyn Fn(&str) -> Option<String>,
    ) {
        let keyword = st.word(0);
        let args: Vec<&str> = st.words[1..]
            .iter()
            .map(String::as_str)
            .take_while(|w| !w.is_empty())
            .collect();
        // The C library refuses these names (EINVAL).
        let invalid = |name: &str| name.is_empty() || name.contains('=');
        match keyword {
            "setenv" | "presetenv" => {
                if !st.word(4).is_empty() {
                    return diags.error(
                        &st.origin,
                        format!(
                            "'{keyword}' cannot handle unexpected argument '{}'.",
                            st.word(4)
                        ),
                    );
                }
                let (name, value) = (st.word(1), st.word(2));
                if value.is_empty() {
                    return diags.error(
                        &st.origin,
                        format!("'{keyword}' expects a name and a value."),
                    );
                }
                if invalid(name) {
                    return diags.error(
                        &st.origin,
                        format!("'{keyword}' failed on variable '{name}' : Invalid argument."),
                    );
                }
                if keyword == "setenv" || self.get(name, env).is_none() {
                    self.changed.insert(name.to_owned(), Some(value.to_owned()));
                }
            }
            "unsetenv" => {
                if args.is_empty() {
                    return diags.error(
                        &st.origin,
                        format!("'{keyword}' expects at least one variable name."),
                    );
                }
                for name in args {
                    if invalid(name) {
                        return diags.error(
                            &st.origin,
                            format!("'{keyword}' failed on variable '{name}' : Invalid argument."),
                        );
                    }
                    self.changed.insert(name.to_owned(), None);
                }
            }
            _ => {
                let kept: HashSet<String> = args.iter().map(|&a| a.to_owned()).collect();
                self.changed
                    .retain(|name, value| value.is_none() || kept.contains(name));
                self.resets.push(kept);
            }
        }
    }
}
