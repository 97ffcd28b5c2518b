//! A proxy's `disabled`, `enabled`, `id` and `description`, and the ids
//! HAProxy 2.6 gives proxies and servers (`iid` and `sid` in `show stat`).

use super::super::Origin;
use super::{Diags, Kind, ProxyParts, Stmt};

/// The keywords of this module.
pub(super) const KEYWORDS: &[&str] = &["disabled", "enabled", "id", "description"];

/// Proxy ids start at 2, as in HAProxy 2.6 (its own internal proxy is 1).
pub(super) const FIRST_IID: u32 = 2;

/// What these keywords set on a proxy.
#[derive(Debug, Clone, Default)]
pub(super) struct Meta {
    /// `disabled` (inherited from `defaults`, undone by `enabled`).
    pub disabled: bool,
    /// `id <n>`, with its line.
    pub id: Option<(u32, Origin)>,
    /// `description <text>`.
    pub description: Option<String>,
}

/// C's `atol` truncated to an `int`, as HAProxy reads ids: leading
/// blanks, a sign, then digits; nothing else is looked at.
pub(super) fn atol(text: &str) -> i64 {
    let t = text.trim_start_matches([' ', '\t', '\n', '\r', '\x0b', '\x0c']);
    let (neg, t) = match t.as_bytes().first() {
        Some(b'-') => (true, &t[1..]),
        Some(b'+') => (false, &t[1..]),
        _ => (false, t),
    };
    let mut value: i64 = 0;
    for b in t.bytes().take_while(u8::is_ascii_digit) {
        value = value.saturating_mul(10).saturating_add(i64::from(b - b'0'));
    }
    let value = if neg { -value } else { value };
    // Stored in an `int`.
    i64::from(value as i32)
}

/// Parses one of [`KEYWORDS`] in a proxy section.
pub(super) fn keyword(diags: &mut Diags, p: &mut ProxyParts<'_>, st: &Stmt<'_>) -> bool {
    let keyword = st.word(0);
    let meta = &mut p.settings.meta;
    let too_many = |max: usize| {
        let extra = st.word(max + 1);
        (!extra.is_empty())
            .then(|| format!("'{keyword}' cannot handle unexpected argument '{extra}'."))
    };
    if matches!(keyword, "id" | "description") && p.kind == Kind::Defaults {
        diags.error(
            &st.origin,
            format!("'{keyword}' not allowed in 'defaults' section."),
        );
        return false;
    }
    match keyword {
        "disabled" | "enabled" => match too_many(0) {
            Some(e) => diags.error(&st.origin, e),
            None => meta.disabled = keyword == "disabled",
        },
        "id" => {
            if let Some(e) = too_many(1) {
                diags.error(&st.origin, e);
            } else if st.word(1).is_empty() {
                diags.error(&st.origin, "'id' expects an integer argument.");
            } else {
                match u32::try_from(atol(st.word(1))) {
                    Ok(id) if id > 0 => meta.id = Some((id, st.origin.clone())),
                    _ => diags.error(&st.origin, "custom id has to be > 0."),
                }
            }
        }
        _ => {
            let words: Vec<&str> = st.words[1..]
                .iter()
                .map(String::as_str)
                .take_while(|w| !w.is_empty())
                .collect();
            if words.is_empty() {
                // HAProxy stops reading the configuration there.
                diags.error(&st.origin, "'description' expects a string argument.");
                return true;
            }
            meta.description = Some(words.join(" "));
        }
    }
    false
}

/// One proxy as the id assignment sees it.
pub(super) struct IdProxy<'a> {
    pub kind: Kind,
    pub name: &'a str,
    pub origin: &'a Origin,
    pub id: Option<&'a (u32, Origin)>,
}

/// HAProxy's word for a proxy in id messages (`proxy_type_str`).
fn type_str(kind: Kind) -> &'static str {
    match kind {
        Kind::Frontend => "frontend",
        Kind::Backend => "backend",
        Kind::Defaults => "defaults",
        Kind::Listen => "proxy",
    }
}

/// HAProxy's error for a proxy `id` already taken by `first`.
pub(super) fn reused(p: &IdProxy<'_>, first: &IdProxy<'_>) -> String {
    format!(
        "{} {} reuses same custom id as {} {} (declared at {}).",
        type_str(p.kind),
        p.name,
        type_str(first.kind),
        first.name,
        first.origin
    )
}

/// Every proxy's id, in order, as HAProxy 2.6 gives them: explicit ids
/// as they are, the others the first free id from a counter that starts
/// at [`FIRST_IID`] and moves on by one after every proxy, disabled ones
/// included.
pub(super) fn proxy_ids(proxies: &[IdProxy<'_>]) -> Vec<u32> {
    let explicit: Vec<Option<u32>> = proxies.iter().map(|p| p.id.map(|(id, _)| *id)).collect();
    super::super::ids::assign(&explicit, FIRST_IID)
}
