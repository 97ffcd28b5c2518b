//! HAProxy's numbering of proxies and servers (`get_next_id`), shared by
//! the parser (proxy ids) and the stats (server ids).

/// HAProxy's numbering (`get_next_id`): explicit ids kept, the others the
/// first id from `next` that no one uses, `next` moving on by one after
/// each entry.
pub(crate) fn assign(explicit: &[Option<u32>], first: u32) -> Vec<u32> {
    let mut used: std::collections::HashSet<u32> = explicit.iter().flatten().copied().collect();
    let mut next = first;
    explicit
        .iter()
        .map(|id| {
            let id = match id {
                Some(id) => *id,
                None => {
                    while used.contains(&next) {
                        next = next.saturating_add(1);
                    }
                    used.insert(next);
                    next
                }
            };
            next = next.saturating_add(1);
            id
        })
        .collect()
}
